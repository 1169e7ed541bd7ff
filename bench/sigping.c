/*
 * sigping: the latency of a signal forwarded by an init, from the kill()
 * outside to its receipt by the command under the init. Part of
 * `make bench` (bench/bench.sh).
 *
 *   sigping send COUNT FIFO OUT -- unshare --pid --fork [...] INIT [--] sigping recv FIFO
 *
 * The sender starts the command line (whose first process must fork the
 * init as its only child, as `unshare --fork` does), waits until the
 * receiver is ready, then COUNT times: reads CLOCK_MONOTONIC, sends
 * SIGUSR1 to the init (by its host PID), and reads back over FIFO the
 * receiver's CLOCK_MONOTONIC at sigwaitinfo's return. One signal is in
 * flight at a time, with 1 ms between them. Then it sends SIGTERM to the
 * init and waits for the command line to end.
 *
 * Appends every latency, in microseconds, to OUT (one a line), and prints
 * one line:
 *   sent=N received=R median_us=M p90_us=P min_us=A max_us=B
 * A signal not received within 2 s counts as lost.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "sigping: %s: %s\n", what, strerror(errno));
    exit(2);
}

static int recv_main(const char *fifo)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        die("sigprocmask");
    int fd = open(fifo, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        die(fifo);
    int64_t ready = 0;
    if (write(fd, &ready, sizeof ready) != sizeof ready)
        die("write");
    for (;;) {
        siginfo_t si;
        if (sigwaitinfo(&set, &si) < 0) {
            if (errno == EINTR)
                continue;
            die("sigwaitinfo");
        }
        int64_t t = now_ns();
        if (write(fd, &t, sizeof t) != sizeof t)
            return 0; /* the sender is gone */
    }
}

/* The only child of `pid` (the init that unshare --fork started). */
static pid_t child_of(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", pid, pid);
    for (int tries = 0; tries < 2000; tries++) {
        FILE *f = fopen(path, "r");
        long c = 0;
        if (f) {
            if (fscanf(f, "%ld", &c) != 1)
                c = 0;
            fclose(f);
        }
        if (c > 0)
            return (pid_t)c;
        usleep(1000);
    }
    return -1;
}

static int cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int read_full(int fd, void *buf, size_t len, int timeout_ms)
{
    size_t got = 0;
    while (got < len) {
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, timeout_ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n <= 0)
            return -1;
        got += n;
    }
    return 0;
}

static int send_main(int count, const char *fifo, const char *out, char **cmd)
{
    FILE *raw = fopen(out, "a");
    if (!raw)
        die(out);
    unlink(fifo);
    if (mkfifo(fifo, 0666) < 0)
        die(fifo);
    chmod(fifo, 0666);
    pid_t top = fork();
    if (top < 0)
        die("fork");
    if (top == 0) {
        execvp(cmd[0], cmd);
        _exit(127);
    }
    /* O_RDWR never blocks on a FIFO and keeps it open for us. */
    int fd = open(fifo, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        die(fifo);
    int64_t t;
    if (read_full(fd, &t, sizeof t, 10000) < 0) {
        fprintf(stderr, "sigping: the receiver did not start\n");
        kill(top, SIGKILL);
        return 2;
    }
    pid_t init = child_of(top);
    if (init < 0) {
        fprintf(stderr, "sigping: cannot find the init under %d\n", top);
        kill(top, SIGKILL);
        return 2;
    }
    int64_t *lat = calloc(count, sizeof *lat);
    if (!lat)
        die("calloc");
    int got = 0;
    struct timespec gap = {0, 1000000};
    for (int i = 0; i < count; i++) {
        nanosleep(&gap, NULL);
        int64_t t0 = now_ns();
        if (kill(init, SIGUSR1) < 0)
            die("kill");
        int64_t t1;
        if (read_full(fd, &t1, sizeof t1, 2000) < 0)
            continue; /* lost */
        lat[got++] = t1 - t0;
        fprintf(raw, "%.3f\n", (t1 - t0) / 1e3);
    }
    kill(init, SIGTERM);
    int status;
    waitpid(top, &status, 0);
    close(fd);
    fclose(raw);
    unlink(fifo);
    if (got == 0) {
        printf("sent=%d received=0\n", count);
        return 1;
    }
    qsort(lat, got, sizeof *lat, cmp);
    int p90 = (got * 9 + 9) / 10 - 1; /* nearest rank */
    printf("sent=%d received=%d median_us=%.1f p90_us=%.1f min_us=%.1f max_us=%.1f\n", count, got,
           (got % 2 ? lat[got / 2] : (lat[got / 2 - 1] + lat[got / 2]) / 2) / 1e3,
           lat[p90] / 1e3, lat[0] / 1e3, lat[got - 1] / 1e3);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "recv") == 0)
        return recv_main(argv[2]);
    if (argc >= 7 && strcmp(argv[1], "send") == 0 && strcmp(argv[5], "--") == 0)
        return send_main(atoi(argv[2]), argv[3], argv[4], argv + 6);
    fprintf(stderr, "usage: sigping send COUNT FIFO OUT -- CMD... | sigping recv FIFO\n");
    return 2;
}
