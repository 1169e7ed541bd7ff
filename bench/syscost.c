/*
 * syscost: the cost of one system call, in a tight loop, for the seccomp
 * benchmark: the same static binary runs outside any container and
 * inside nslaunch with and without its default filter.
 *
 *   syscost BATCHES N
 *
 * After one unrecorded warm-up batch of each, runs BATCHES batches of N
 * raw getppid calls, each followed by a batch of N raw
 * personality(0xffffffff) calls (a query of the current persona), and
 * prints one line per batch: "getppid NS" or "personality NS", NS the
 * CPU time the thread spent on the batch divided by N, in nanoseconds.
 * CPU time (CLOCK_THREAD_CPUTIME_ID, user and kernel), not wall time: on
 * a busy machine the time the loop spends preempted by other work is not
 * counted (the two clock reads per batch are syscalls of their own, a
 * negligible share of N calls).
 *
 * getppid is a syscall the default filter allows whatever its arguments
 * (the kernel's seccomp cache then skips the filter); personality is one
 * it decides by its first argument, 0xffffffff being the last of the
 * personas it compares. Both are made with the syscall instruction, not
 * through libc, and must succeed: a failure (the filter denying one)
 * exits 1 with a line on stderr, as a changed filter would measure
 * another path.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
static inline long raw1(long nr, long a0)
{
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a0)
                     : "rcx", "r11", "memory");
    return ret;
}
#else
#include <errno.h>
static inline long raw1(long nr, long a0)
{
    long ret = syscall(nr, a0);
    return ret < 0 ? -errno : ret;
}
#endif

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

/* N calls of syscall NR with argument A0: ns per call; exits 1 on a failure. */
static double batch(const char *name, long nr, long a0, long n)
{
    double t0 = now_ns();
    long bad = 0;
    for (long i = 0; i < n; i++) {
        long r = raw1(nr, a0);
        if (r < 0 && r > -4096)
            bad = r;
    }
    double t1 = now_ns();
    if (bad) {
        fprintf(stderr, "syscost: %s failed: %s\n", name, strerror((int)-bad));
        exit(1);
    }
    return (t1 - t0) / n;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: syscost BATCHES N\n");
        return 2;
    }
    long batches = atol(argv[1]), n = atol(argv[2]);
    if (batches < 1 || n < 1) {
        fprintf(stderr, "syscost: BATCHES and N must be positive\n");
        return 2;
    }
    batch("getppid", SYS_getppid, 0, n);
    batch("personality(0xffffffff)", SYS_personality, 0xffffffffL, n);
    for (long b = 0; b < batches; b++) {
        printf("getppid %.2f\n", batch("getppid", SYS_getppid, 0, n));
        printf("personality %.2f\n", batch("personality(0xffffffff)", SYS_personality, 0xffffffffL, n));
    }
    return 0;
}
