/*
 * ocicycle: the OCI lifecycle of one bundle, timed as one unit, N times.
 * Part of `make bench` (bench/bench.sh).
 *
 *   ocicycle -n N [-w W] -o OUT -e ERRFILE -b BUNDLE -p PIDFILE -i ID \
 *            -- RUNTIME [GLOBAL OPTIONS...]
 *
 * One sample is, as an engine does it:
 *   RUNTIME GLOBALS create --bundle BUNDLE --pid-file PIDFILE ID
 *   RUNTIME GLOBALS start ID
 *   wait until the process named in PIDFILE has exited
 *   RUNTIME GLOBALS delete ID
 * Like conmon and the containerd shim, ocicycle is a child subreaper: once
 * `create` has exited, the container's process is its child; the wait is a
 * poll() on a pidfd of that process (no polling loop, no sleep), then
 * waitpid() reaps it and checks that it exited 0. A container process
 * that is not ocicycle's child (the runtime kept a parent of its own) is
 * still waited for, and counted as not_child.
 *
 * W warm-up samples (default 0) are run first and not recorded. Each
 * recorded sample appends a line to OUT, in milliseconds:
 *   "total create start wait delete"
 * A failed step (non-zero exit, death by a signal, no pid file, the
 * container's process exiting non-zero or not within 10 s) records no
 * time: its step, status and the runtime's stderr go to ERRFILE, and
 * `delete --force ID` cleans up. Other orphans handed to ocicycle are
 * reaped and counted (strays). After the last sample, any child still
 * alive 1 s later (left behind by the runtime) is named in ERRFILE,
 * counted (left) and killed.
 *
 * Prints one line: "samples=N failures=F not_child=K strays=S left=L".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char *out_path, *err_path, *bundle, *pid_path, *id;
static char **rt;  /* RUNTIME and its global options */
static int rt_n;
static char errtmp[4096];
static long strays;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *what)
{
    fprintf(stderr, "ocicycle: %s: %s\n", what, strerror(errno));
    exit(2);
}

/* Reap every exited child; count them as strays when `count`. */
static void reap_strays(int count)
{
    while (waitpid(-1, NULL, WNOHANG) > 0)
        if (count)
            strays++;
}

/* Append a failure note and the runtime's stderr (errtmp) to ERRFILE. */
static void note(const char *step, const char *what)
{
    FILE *f = fopen(err_path, "a");
    if (!f)
        return;
    fprintf(f, "%s %s: %s\n", rt[0], step, what);
    FILE *e = fopen(errtmp, "r");
    if (e) {
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, e)) > 0)
            fwrite(buf, 1, n, f);
        fclose(e);
    }
    fclose(f);
}

/* Run RUNTIME GLOBALS VERB ARGS..., stdout to /dev/null, stderr to errtmp;
 * return its wait status. */
static int runtime(const char *verb, const char *a1, const char *a2, const char *a3, const char *a4,
                   const char *a5)
{
    const char *argv[64];
    int k = 0;
    for (int i = 0; i < rt_n && k < 56; i++)
        argv[k++] = rt[i];
    argv[k++] = verb;
    const char *extra[] = {a1, a2, a3, a4, a5};
    for (int i = 0; i < 5 && extra[i]; i++)
        argv[k++] = extra[i];
    argv[k] = NULL;

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, errtmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char **)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        errno = rc;
        die(argv[0]);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            die("waitpid");
    return st;
}

static const char *status_text(int st)
{
    static char buf[64];
    if (WIFEXITED(st))
        snprintf(buf, sizeof buf, "exit status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, sizeof buf, "killed by signal %d", WTERMSIG(st));
    else
        snprintf(buf, sizeof buf, "wait status %#x", st);
    return buf;
}

static pid_t read_pid(void)
{
    char buf[32] = {0};
    int fd = open(pid_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    long v = strtol(buf, NULL, 10);
    return v > 0 ? (pid_t)v : -1;
}

/* Wait (at most 10 s) for pid to exit, on its pidfd pfd (closed); 0 when
 * it exited 0. */
static int wait_container(pid_t pid, int pfd, int *not_child, const char **why)
{
    struct pollfd p = {.fd = pfd, .events = POLLIN};
    int r;
    while ((r = poll(&p, 1, 10000)) < 0 && errno == EINTR)
        ;
    close(pfd);
    if (r == 0) {
        *why = "the container's process did not exit within 10 s of start";
        return -1;
    }
    int st;
    if (waitpid(pid, &st, 0) < 0) {
        if (errno == ECHILD) {
            *not_child = 1; /* someone else reaps it; its status is unknown */
            return 0;
        }
        die("waitpid");
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        static char buf[96];
        snprintf(buf, sizeof buf, "the container's process ended with %s", status_text(st));
        *why = buf;
        return -1;
    }
    return 0;
}

/* One lifecycle; t[] gets total, create, start, wait, delete in ms. */
static int cycle(double t[5], long *not_child)
{
    int st, nc = 0;
    const char *why;
    unlink(pid_path);
    double t0 = now_ms();
    st = runtime("create", "--bundle", bundle, "--pid-file", pid_path, id);
    double t1 = now_ms();
    if (st != 0) {
        note("create", status_text(st));
        goto fail;
    }
    pid_t pid = read_pid();
    if (pid < 0) {
        note("create", "no pid in the pid file");
        goto fail;
    }
    /* Taken while the process is sure to be there: blocked until start. */
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pfd < 0) {
        note("create", "the pid in the pid file names no process (pidfd_open failed)");
        goto fail;
    }
    st = runtime("start", id, NULL, NULL, NULL, NULL);
    double t2 = now_ms();
    if (st != 0) {
        close(pfd);
        note("start", status_text(st));
        goto fail;
    }
    if (wait_container(pid, pfd, &nc, &why) != 0) {
        note("wait", why);
        goto fail;
    }
    double t3 = now_ms();
    st = runtime("delete", id, NULL, NULL, NULL, NULL);
    double t4 = now_ms();
    if (st != 0) {
        note("delete", status_text(st));
        goto fail;
    }
    t[0] = t4 - t0, t[1] = t1 - t0, t[2] = t2 - t1, t[3] = t3 - t2, t[4] = t4 - t3;
    *not_child += nc;
    reap_strays(1);
    return 0;
fail:
    runtime("delete", "--force", id, NULL, NULL, NULL);
    /* The container's process, if it was ours: not a stray. */
    reap_strays(0);
    return -1;
}

/* Our children still alive, as "PID PID ..." in buf; its length. */
static size_t children(char *buf, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, size - 1, f);
    fclose(f);
    buf[n] = 0;
    return n;
}

/* Children still alive 1 s after the last delete: named in ERRFILE,
 * killed, reaped; their count. */
static long leftovers(void)
{
    char buf[4096];
    long left = 0;
    for (int i = 0; i < 100 && children(buf, sizeof buf) > 0; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
        reap_strays(1);
    }
    if (children(buf, sizeof buf) == 0)
        return 0;
    FILE *e = fopen(err_path, "a");
    for (char *s = strtok(buf, " \n"); s; s = strtok(NULL, " \n")) {
        pid_t p = (pid_t)atol(s);
        char cmd[128] = "?", cpath[64];
        snprintf(cpath, sizeof cpath, "/proc/%d/cmdline", (int)p);
        FILE *c = fopen(cpath, "r");
        if (c) {
            size_t m = fread(cmd, 1, sizeof cmd - 1, c);
            cmd[m] = 0;
            for (size_t k = 0; k + 1 < m; k++)
                if (!cmd[k])
                    cmd[k] = ' ';
            fclose(c);
        }
        if (e)
            fprintf(e, "%s: left behind after the last delete: pid %d (%s)\n", rt[0], (int)p, cmd);
        kill(p, SIGKILL);
        waitpid(p, NULL, 0);
        left++;
    }
    if (e)
        fclose(e);
    return left;
}

int main(int argc, char **argv)
{
    int n = 0, warm = 0, c;
    while ((c = getopt(argc, argv, "+n:w:o:e:b:p:i:")) != -1) {
        switch (c) {
        case 'n': n = atoi(optarg); break;
        case 'w': warm = atoi(optarg); break;
        case 'o': out_path = optarg; break;
        case 'e': err_path = optarg; break;
        case 'b': bundle = optarg; break;
        case 'p': pid_path = optarg; break;
        case 'i': id = optarg; break;
        default: goto usage;
        }
    }
    if (n < 1 || !out_path || !err_path || !bundle || !pid_path || !id || optind >= argc)
        goto usage;
    rt = argv + optind;
    rt_n = argc - optind;
    snprintf(errtmp, sizeof errtmp, "%s.last", err_path);
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
        die("PR_SET_CHILD_SUBREAPER");

    FILE *out = fopen(out_path, "a");
    if (!out)
        die(out_path);
    long failures = 0, not_child = 0;
    for (int i = 0; i < warm + n; i++) {
        double t[5];
        if (cycle(t, &not_child) != 0) {
            if (i >= warm)
                failures++;
            continue;
        }
        if (i >= warm)
            fprintf(out, "%.4f %.4f %.4f %.4f %.4f\n", t[0], t[1], t[2], t[3], t[4]);
    }
    fclose(out);
    long left = leftovers();
    unlink(errtmp);
    printf("samples=%d failures=%ld not_child=%ld strays=%ld left=%ld\n", n, failures, not_child, strays,
           left);
    return 0;
usage:
    fprintf(stderr, "usage: ocicycle -n N [-w W] -o OUT -e ERRFILE -b BUNDLE -p PIDFILE -i ID -- RUNTIME "
                    "[GLOBAL OPTIONS...]\n");
    return 2;
}
