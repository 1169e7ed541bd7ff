/*
 * burst: run a command N times, J at a time, and report the wall time and
 * the failures. Part of `make bench` (bench/bench.sh).
 *
 *   burst -n N -j J [-q] [-e ERRFILE] -- CMD [ARGS...]
 *
 * -j 1 runs the N one after another; -j N starts all N at once: every child
 * is forked first and waits on a pipe, then one close releases them
 * together, and the clock starts at that release. Any "{}" in an argument
 * is replaced by the run's index (unique container names for crun).
 * -q sends the children's stdout to /dev/null; -e appends their stderr to
 * ERRFILE (else it goes to /dev/null). A failure is a non-zero exit status
 * or a death by signal.
 *
 * Prints one line: "elapsed_s=S runs=N failures=F".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "burst: %s: %s\n", what, strerror(errno));
    exit(2);
}

/* argv with every "{}" replaced by idx (a fresh copy, in the child). */
static char **subst(char **argv, int idx)
{
    int n = 0;
    while (argv[n])
        n++;
    char **out = calloc(n + 1, sizeof *out);
    if (!out)
        die("calloc");
    for (int i = 0; i < n; i++) {
        const char *p = strstr(argv[i], "{}");
        if (!p) {
            out[i] = argv[i];
            continue;
        }
        size_t len = strlen(argv[i]) + 16;
        out[i] = malloc(len);
        if (!out[i])
            die("malloc");
        snprintf(out[i], len, "%.*s%d%s", (int)(p - argv[i]), argv[i], idx, p + 2);
    }
    return out;
}

static pid_t start(char **argv, int idx, const int *gate, int quiet, int errfd)
{
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        if (gate) {
            /* Wait for the release: end of file when the parent closes
             * the write end (every child closes its own copy first). */
            char c;
            close(gate[1]);
            while (read(gate[0], &c, 1) < 0 && errno == EINTR)
                ;
            close(gate[0]);
        }
        int null = open("/dev/null", O_RDWR);
        if (quiet)
            dup2(null, 1);
        dup2(errfd >= 0 ? errfd : null, 2);
        char **args = subst(argv, idx);
        execvp(args[0], args);
        _exit(127);
    }
    return pid;
}

static int failed(int status)
{
    return !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(int argc, char **argv)
{
    int n = 1, j = 1, quiet = 0, errfd = -1, opt;
    while ((opt = getopt(argc, argv, "+n:j:qe:")) != -1) {
        switch (opt) {
        case 'n': n = atoi(optarg); break;
        case 'j': j = atoi(optarg); break;
        case 'q': quiet = 1; break;
        case 'e':
            errfd = open(optarg, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            if (errfd < 0)
                die(optarg);
            break;
        default:
            fprintf(stderr, "usage: burst -n N -j J [-q] [-e ERRFILE] -- CMD...\n");
            return 2;
        }
    }
    if (optind >= argc || n < 1 || j < 1) {
        fprintf(stderr, "usage: burst -n N -j J [-q] [-e ERRFILE] -- CMD...\n");
        return 2;
    }
    char **cmd = argv + optind;
    int failures = 0, status;
    double t0, t1;

    if (j >= n && n > 1) {
        /* All at once: fork them all, then release them together. */
        int gate[2];
        if (pipe(gate) < 0)
            die("pipe");
        for (int i = 0; i < n; i++)
            start(cmd, i, gate, quiet, errfd);
        t0 = now();
        close(gate[1]);
        close(gate[0]);
        for (int i = 0; i < n; i++) {
            while (wait(&status) < 0)
                if (errno != EINTR)
                    die("wait");
            failures += failed(status);
        }
        t1 = now();
        printf("elapsed_s=%.6f runs=%d failures=%d\n", t1 - t0, n, failures);
        return 0;
    }

    t0 = now();
    int running = 0, next = 0;
    while (next < n || running > 0) {
        while (running < j && next < n) {
            start(cmd, next++, NULL, quiet, errfd);
            running++;
        }
        if (wait(&status) > 0) {
            running--;
            failures += failed(status);
        } else if (errno != EINTR) {
            die("wait");
        }
    }
    t1 = now();
    printf("elapsed_s=%.6f runs=%d failures=%d\n", t1 - t0, n, failures);
    return 0;
}
