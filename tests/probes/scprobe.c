/* Test helper (compiled static by tests/tests/seccomp.rs): try a table of
 * syscalls with harmless arguments and print one line each, NAME ERRNO
 * (OK when it succeeded). What matters is the errno a seccomp filter
 * gives (EPERM, ENOSYS) before the kernel even looks at the arguments;
 * with no filter the kernel's own answer shows (EINVAL, EFAULT ...).
 * Calls that could change something run in a child that exits at once. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#endif
#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425
#endif

static const char *name(int e) {
    switch (e) {
    case 0: return "OK";
    case EPERM: return "EPERM";
    case ENOSYS: return "ENOSYS";
    case EINVAL: return "EINVAL";
    case EFAULT: return "EFAULT";
    case EBADF: return "EBADF";
    case EACCES: return "EACCES";
    case ESRCH: return "ESRCH";
    case EIO: return "EIO";
    case ENOENT: return "ENOENT";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case ENOKEY: return "ENOKEY";
    case EEXIST: return "EEXIST";
    case ENODEV: return "ENODEV";
    case ENOTBLK: return "ENOTBLK";
    default: return "OTHER";
    }
}

/* Run the call in a child (it may succeed and change the child), and
 * report its errno through the exit status. */
static int in_child(long nr, long a, long b, long c, long d, long e) {
    pid_t pid = fork();
    if (pid == 0) {
        long r = syscall(nr, a, b, c, d, e);
        _exit(r < 0 ? errno : 0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

static int direct(long nr, long a, long b, long c, long d, long e) {
    long r = syscall(nr, a, b, c, d, e);
    return r < 0 ? errno : 0;
}

#define ROW(label, how, nr, a, b, c, d, e) printf("%s %s\n", label, name(how(nr, a, b, c, d, e)))

int main(void) {
    ROW("keyctl", direct, SYS_keyctl, -1, 0, 0, 0, 0);
    ROW("add_key", direct, SYS_add_key, 0, 0, 0, 0, 0);
    ROW("bpf", direct, SYS_bpf, -1, 0, 0, 0, 0);
    ROW("perf_event_open", direct, SYS_perf_event_open, 0, 0, -1, -1, 0);
    ROW("userfaultfd", direct, SYS_userfaultfd, -1, 0, 0, 0, 0);
    ROW("kexec_load", direct, SYS_kexec_load, 0, 0, 0, -1, 0);
    ROW("open_by_handle_at", direct, SYS_open_by_handle_at, -1, 0, 0, 0, 0);
    ROW("swapon", direct, SYS_swapon, 0, 0, 0, 0, 0);
    ROW("reboot", direct, SYS_reboot, 0, 0, 0, 0, 0);
    ROW("unshare_newuser", in_child, SYS_unshare, CLONE_NEWUSER, 0, 0, 0, 0);
    ROW("clone3", direct, SYS_clone3, 0, 0, 0, 0, 0);
    ROW("io_uring_setup", direct, SYS_io_uring_setup, 0, 0, 0, 0, 0);
    ROW("ptrace", direct, SYS_ptrace, 1 /* PTRACE_PEEKTEXT */, 1, 0, 0, 0);
    ROW("personality_odd", in_child, SYS_personality, 0x4000000, 0, 0, 0, 0);
    ROW("kcmp", direct, SYS_kcmp, getpid(), getpid(), 0 /* KCMP_FILE */, 0, 0);
    ROW("mount", direct, SYS_mount, 0, 0, 0, 0, 0);
    ROW("fsopen", direct, SYS_fsopen, 0, 0, 0, 0, 0);
    ROW("getpid", direct, SYS_getpid, 0, 0, 0, 0, 0);
    ROW("read", direct, SYS_read, -1, 0, 0, 0, 0);
    printf("scprobe-done\n");
    return 0;
}
