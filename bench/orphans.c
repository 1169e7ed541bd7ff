/*
 * orphans: hand N orphans to the init at once and time how long it takes
 * the init to reap them. Part of `make bench` (bench/bench.sh).
 *
 *   INIT [--] orphans [N [K]]        (N = 10000 orphans, K = 20 parents)
 *
 * Runs as the init's child, in the init's PID namespace with a matching
 * /proc (unshare --pid --fork --mount-proc). K "parent" processes each
 * fork N/K children that exit at once; each parent waits until all of its
 * children are zombies (waitid WNOWAIT: seen, not reaped), then every
 * parent waits on one pipe. The clock starts when that pipe is closed:
 * the parents exit together and the kernel hands all N zombies to the
 * init (PID 1) at once. We reap our K parents, then scan /proc until no
 * process but PID 1 and us is left, or until the timeout (10 s).
 *
 * Prints one line:
 *   orphans=N reap_ms=T left=Z pid1_cpu_ms=C pid1_hwm_kb=H
 * reap_ms is from the release to the last orphan gone (or to the timeout),
 * left is how many were still there then (zombies the init did not reap),
 * pid1_cpu_ms is the CPU time PID 1 used meanwhile (/proc/1/schedstat),
 * pid1_hwm_kb is the init's VmHWM afterwards. The creation of the zombies
 * is not timed (it costs the same under every init).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *what)
{
    fprintf(stderr, "orphans: %s: %s\n", what, strerror(errno));
    exit(2);
}

/* Processes in our PID namespace other than PID 1 and us. */
static long others(DIR *proc, pid_t self)
{
    long n = 0;
    struct dirent *e;
    rewinddir(proc);
    while ((e = readdir(proc)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        long pid = atol(e->d_name);
        if (pid != 1 && pid != self)
            n++;
    }
    return n;
}

static long hwm_of_pid1(void)
{
    FILE *f = fopen("/proc/1/status", "r");
    char line[256];
    long kb = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* CPU time PID 1 has used, in ms (first field of /proc/1/schedstat, ns). */
static double cpu_of_pid1(void)
{
    FILE *f = fopen("/proc/1/schedstat", "r");
    unsigned long long ns = 0;
    if (!f)
        return -1;
    if (fscanf(f, "%llu", &ns) != 1)
        ns = 0;
    fclose(f);
    return ns / 1e6;
}

static void parent(int per, int ready_w, int release_r)
{
    pid_t *kids = malloc(per * sizeof *kids);
    if (!kids)
        _exit(3);
    for (int i = 0; i < per; i++) {
        pid_t p = fork();
        if (p < 0)
            _exit(3);
        if (p == 0)
            _exit(0);
        kids[i] = p;
    }
    /* Every child a zombie, still ours: seen but not reaped. */
    for (int i = 0; i < per; i++) {
        siginfo_t si;
        while (waitid(P_PID, kids[i], &si, WEXITED | WNOWAIT) < 0)
            if (errno != EINTR)
                _exit(3);
    }
    char c = 'r';
    if (write(ready_w, &c, 1) != 1)
        _exit(3);
    while (read(release_r, &c, 1) < 0 && errno == EINTR)
        ;
    _exit(0);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 10000;
    int k = argc > 2 ? atoi(argv[2]) : 20;
    double timeout_ms = 10000;
    if (n < 1 || k < 1 || k > n) {
        fprintf(stderr, "usage: orphans [N [K]]\n");
        return 2;
    }
    if (getpid() == 1) {
        fprintf(stderr, "orphans: run me under an init, not as PID 1\n");
        return 2;
    }
    pid_t self = getpid();
    DIR *proc = opendir("/proc");
    if (!proc)
        die("/proc");
    if (others(proc, self) != 0)
        fprintf(stderr, "orphans: warning: other processes in this PID namespace\n");

    int ready[2], release[2];
    if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(release, O_CLOEXEC) < 0)
        die("pipe");
    pid_t *parents = malloc(k * sizeof *parents);
    if (!parents)
        die("malloc");
    for (int i = 0; i < k; i++) {
        int per = n / k + (i < n % k);
        pid_t p = fork();
        if (p < 0)
            die("fork");
        if (p == 0) {
            close(ready[0]);
            close(release[1]);
            parent(per, ready[1], release[0]);
        }
        parents[i] = p;
    }
    close(ready[1]);
    close(release[0]);
    for (int i = 0; i < k; i++) {
        char c;
        ssize_t r = read(ready[0], &c, 1);
        if (r != 1) {
            fprintf(stderr, "orphans: a parent failed to make its children\n");
            return 2;
        }
    }

    double c0 = cpu_of_pid1();
    double t0 = now_ms();
    close(release[1]); /* the parents exit; their zombies go to PID 1 */
    for (int i = 0; i < k; i++)
        while (waitpid(parents[i], NULL, 0) < 0)
            if (errno != EINTR)
                die("waitpid");
    long left;
    double t1;
    struct timespec pause = {0, 200000}; /* 0.2 ms between scans */
    for (;;) {
        left = others(proc, self);
        t1 = now_ms();
        if (left == 0 || t1 - t0 > timeout_ms)
            break;
        nanosleep(&pause, NULL);
    }
    double c1 = cpu_of_pid1();
    printf("orphans=%d reap_ms=%.3f left=%ld pid1_cpu_ms=%.3f pid1_hwm_kb=%ld\n", n, t1 - t0, left,
           c1 - c0, hwm_of_pid1());
    fflush(stdout);
    return 0;
}
