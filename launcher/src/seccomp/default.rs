//! The default profile: docker's default seccomp profile (moby's
//! `profiles/seccomp/default.json`) in our own words and layout, for
//! x86_64. Every syscall is named by its `nr::` constant, so the table
//! cannot name a syscall that does not exist.
//!
//! - A syscall this profile does not name fails with ENOSYS (as in
//!   podman's profile; docker says EPERM): that is what a program sees
//!   on a kernel too old for the call, and it falls back (clone3 →
//!   clone, statx → fstatat, io_uring → epoll...).
//! - A syscall it denies fails with EPERM: [`DENIED`] for everyone,
//!   [`BY_CAPABILITY`] unless the command holds one of the capabilities
//!   listed (its bounding set, as docker looks at it: `--cap-add
//!   SYS_ADMIN` opens what it opens under docker).
//! - A few depend on their arguments: `clone`, `personality`, `socket`.
//!
//! Deliberately left to ENOSYS (unknown): `io_uring_setup`,
//! `io_uring_enter`, `io_uring_register` (docker removed them from its
//! allow-list in 2023 after a run of io_uring exploits; ENOSYS rather
//! than docker's EPERM because it is what a kernel built without
//! io_uring answers, and programs treat it as "no io_uring here" and
//! fall back to epoll or threads; podman's Debian profile answers ENOSYS
//! too); `clone3` without SYS_ADMIN (so glibc falls back to `clone`,
//! whose flags the filter can see: clone3's are behind a pointer); the
//! syscalls the kernel no longer has (`create_module`,
//! `get_kernel_syms`, `query_module`, `_sysctl`, `getpmsg`, `putpmsg`,
//! `afs_syscall`, `tuxcall`, `security`, `vserver`); and the ones newer
//! than docker's profile (`listns`, `file_getattr`, `file_setattr`,
//! `uprobe`).
//!
//! Where this differs from podman's Debian profile
//! (`/usr/share/containers/seccomp.json`), and why: [`DIFFERENCES`].

use shared::caps::{self, CapSet};

use super::rules::{Action, Op, Rule, Table};
use super::syscalls::nr;

const EPERM: Action = Action::Errno(libc::EPERM as u16);
const ENOSYS: Action = Action::Errno(libc::ENOSYS as u16);

/// Allowed for everyone, whatever the arguments (docker's allow-list).
#[rustfmt::skip]
pub const ALLOWED: &[u32] = &[
    // Files: open, read, write, seek, sync, copy.
    nr::access, nr::faccessat, nr::faccessat2, nr::open, nr::openat, nr::openat2, nr::creat,
    nr::close, nr::close_range, nr::read, nr::write, nr::readv, nr::writev, nr::pread64,
    nr::pwrite64, nr::preadv, nr::pwritev, nr::preadv2, nr::pwritev2, nr::lseek, nr::dup,
    nr::dup2, nr::dup3, nr::fcntl, nr::flock, nr::fsync, nr::fdatasync, nr::sync, nr::syncfs,
    nr::sync_file_range, nr::truncate, nr::ftruncate, nr::fallocate, nr::fadvise64,
    nr::readahead, nr::sendfile, nr::splice, nr::tee, nr::vmsplice, nr::copy_file_range,
    nr::ioctl, nr::cachestat,
    // File status, directories, names, links, modes, owners, times.
    nr::stat, nr::fstat, nr::lstat, nr::newfstatat, nr::statx, nr::statfs, nr::fstatfs,
    nr::getdents, nr::getdents64, nr::getcwd, nr::chdir, nr::fchdir, nr::mkdir, nr::mkdirat,
    nr::rmdir, nr::rename, nr::renameat, nr::renameat2, nr::link, nr::linkat, nr::unlink,
    nr::unlinkat, nr::symlink, nr::symlinkat, nr::readlink, nr::readlinkat, nr::mknod,
    nr::mknodat, nr::chmod, nr::fchmod, nr::fchmodat, nr::fchmodat2, nr::chown, nr::fchown,
    nr::lchown, nr::fchownat, nr::umask, nr::utime, nr::utimes, nr::utimensat, nr::futimesat,
    nr::name_to_handle_at,
    // Extended attributes.
    nr::getxattr, nr::lgetxattr, nr::fgetxattr, nr::getxattrat, nr::setxattr, nr::lsetxattr,
    nr::fsetxattr, nr::setxattrat, nr::listxattr, nr::llistxattr, nr::flistxattr,
    nr::listxattrat, nr::removexattr, nr::lremovexattr, nr::fremovexattr, nr::removexattrat,
    // Reading the mount table (the new API's read side).
    nr::statmount, nr::listmount,
    // File notifications (fanotify_init needs SYS_ADMIN, see below).
    nr::inotify_init, nr::inotify_init1, nr::inotify_add_watch, nr::inotify_rm_watch,
    nr::fanotify_mark,
    // Asynchronous I/O (the old kind; io_uring is left out).
    nr::io_setup, nr::io_destroy, nr::io_submit, nr::io_cancel, nr::io_getevents,
    nr::io_pgetevents,
    // Waiting on descriptors, and descriptors to wait on.
    nr::poll, nr::ppoll, nr::select, nr::pselect6, nr::epoll_create, nr::epoll_create1,
    nr::epoll_ctl, nr::epoll_ctl_old, nr::epoll_wait, nr::epoll_wait_old, nr::epoll_pwait,
    nr::epoll_pwait2, nr::eventfd, nr::eventfd2, nr::signalfd, nr::signalfd4,
    nr::timerfd_create, nr::timerfd_settime, nr::timerfd_gettime, nr::pipe, nr::pipe2,
    // Memory.
    nr::brk, nr::mmap, nr::munmap, nr::mremap, nr::mprotect, nr::madvise, nr::mincore,
    nr::msync, nr::mlock, nr::mlock2, nr::mlockall, nr::munlock, nr::munlockall,
    nr::remap_file_pages, nr::membarrier, nr::memfd_create, nr::memfd_secret, nr::pkey_alloc,
    nr::pkey_free, nr::pkey_mprotect, nr::mseal, nr::map_shadow_stack,
    // Processes and threads (clone: see below).
    nr::fork, nr::vfork, nr::execve, nr::execveat, nr::exit, nr::exit_group, nr::wait4,
    nr::waitid, nr::kill, nr::tkill, nr::tgkill, nr::getpid, nr::getppid, nr::gettid,
    nr::getpgid, nr::setpgid, nr::getpgrp, nr::getsid, nr::setsid, nr::set_tid_address,
    nr::set_robust_list, nr::get_robust_list, nr::futex, nr::futex_waitv, nr::futex_wake,
    nr::futex_wait, nr::futex_requeue, nr::rseq, nr::restart_syscall, nr::prctl,
    nr::arch_prctl, nr::set_thread_area, nr::get_thread_area, nr::modify_ldt, nr::seccomp,
    nr::pidfd_open, nr::pidfd_send_signal, nr::process_mrelease, nr::landlock_create_ruleset,
    nr::landlock_add_rule, nr::landlock_restrict_self, nr::uretprobe,
    // Limits, priorities, scheduling, system information.
    nr::capget, nr::capset, nr::prlimit64, nr::getrlimit, nr::setrlimit, nr::getrusage,
    nr::times, nr::getpriority, nr::setpriority, nr::ioprio_get, nr::ioprio_set,
    nr::sched_setparam, nr::sched_getparam, nr::sched_setscheduler, nr::sched_getscheduler,
    nr::sched_get_priority_max, nr::sched_get_priority_min, nr::sched_rr_get_interval,
    nr::sched_yield, nr::sched_setaffinity, nr::sched_getaffinity, nr::sched_setattr,
    nr::sched_getattr, nr::uname, nr::sysinfo, nr::getcpu, nr::getrandom,
    // Users and groups.
    nr::getuid, nr::geteuid, nr::getgid, nr::getegid, nr::getresuid, nr::getresgid,
    nr::getgroups, nr::setuid, nr::setgid, nr::setreuid, nr::setregid, nr::setresuid,
    nr::setresgid, nr::setfsuid, nr::setfsgid, nr::setgroups,
    // Signals.
    nr::rt_sigaction, nr::rt_sigprocmask, nr::rt_sigreturn, nr::rt_sigpending,
    nr::rt_sigtimedwait, nr::rt_sigqueueinfo, nr::rt_tgsigqueueinfo, nr::rt_sigsuspend,
    nr::sigaltstack, nr::pause,
    // Time (setting the clocks needs SYS_TIME, see below; adjtimex and
    // clock_adjtime only read unless the kernel sees CAP_SYS_TIME).
    nr::time, nr::gettimeofday, nr::clock_gettime, nr::clock_getres, nr::clock_nanosleep,
    nr::nanosleep, nr::alarm, nr::getitimer, nr::setitimer, nr::timer_create,
    nr::timer_settime, nr::timer_gettime, nr::timer_getoverrun, nr::timer_delete,
    nr::adjtimex, nr::clock_adjtime,
    // Sockets (socket itself: see below).
    nr::socketpair, nr::bind, nr::connect, nr::listen, nr::accept, nr::accept4,
    nr::getsockname, nr::getpeername, nr::getsockopt, nr::setsockopt, nr::sendto,
    nr::sendmsg, nr::sendmmsg, nr::recvfrom, nr::recvmsg, nr::recvmmsg, nr::shutdown,
    // System V and POSIX IPC (the container has its own IPC namespace or not, as asked).
    nr::shmget, nr::shmat, nr::shmdt, nr::shmctl, nr::semget, nr::semop, nr::semtimedop,
    nr::semctl, nr::msgget, nr::msgsnd, nr::msgrcv, nr::msgctl, nr::mq_open, nr::mq_unlink,
    nr::mq_timedsend, nr::mq_timedreceive, nr::mq_notify, nr::mq_getsetattr,
];

/// EPERM for everyone: no capability opens them.
#[rustfmt::skip]
pub const DENIED: &[u32] = &[
    // Loading another kernel.
    nr::kexec_load, nr::kexec_file_load,
    // Kernel keyrings: not namespaced (a container could read or fill
    // the keys of the same uid elsewhere). Podman's Debian profile
    // allows keyctl; docker denies all three; so do we.
    nr::keyctl, nr::add_key, nr::request_key,
    // userfaultfd: a tool of many kernel exploits (it stalls the kernel
    // at a chosen page fault).
    nr::userfaultfd,
    // Swap is the host's.
    nr::swapon, nr::swapoff,
    // Obsolete calls that only reach old code: uselib (a.out
    // libraries), ustat, sysfs, nfsservctl (gone since 3.1).
    nr::uselib, nr::ustat, nr::sysfs, nr::nfsservctl,
    // Moving other processes' pages between NUMA nodes.
    nr::migrate_pages, nr::move_pages,
];

/// Allowed with any of the capabilities named, EPERM without.
#[rustfmt::skip]
pub const BY_CAPABILITY: &[(&[&str], &[u32])] = &[
    // Mounting and the new mount API, namespaces, host and domain names,
    // quotas, fanotify, BPF, perf, the kernel log, LSM attributes: what
    // CAP_SYS_ADMIN stands for. pivot_root: docker denies it even with
    // SYS_ADMIN; with SYS_ADMIN the command can mount anyway, so it
    // gains nothing by being refused pivot_root.
    (
        &["SYS_ADMIN"],
        &[
            nr::mount, nr::umount2, nr::pivot_root, nr::fsopen, nr::fsconfig, nr::fsmount,
            nr::fspick, nr::move_mount, nr::open_tree, nr::open_tree_attr, nr::mount_setattr,
            nr::unshare, nr::setns, nr::sethostname, nr::setdomainname, nr::quotactl,
            nr::quotactl_fd, nr::fanotify_init, nr::lookup_dcookie, nr::lsm_get_self_attr,
            nr::lsm_set_self_attr, nr::lsm_list_modules,
        ],
    ),
    (&["SYS_ADMIN", "BPF"], &[nr::bpf]),
    (&["SYS_ADMIN", "PERFMON"], &[nr::perf_event_open]),
    (&["SYS_ADMIN", "SYSLOG"], &[nr::syslog]),
    (&["SYS_BOOT"], &[nr::reboot]),
    (&["SYS_CHROOT"], &[nr::chroot]),
    (&["SYS_MODULE"], &[nr::init_module, nr::finit_module, nr::delete_module]),
    (&["SYS_PACCT"], &[nr::acct]),
    // Reaching into other processes (ptrace itself and process_vm_*:
    // see [`PTRACE_FAMILY`]).
    (&["SYS_PTRACE"], &[nr::kcmp, nr::pidfd_getfd, nr::process_madvise]),
    (&["SYS_RAWIO"], &[nr::iopl, nr::ioperm]),
    (&["SYS_TIME"], &[nr::settimeofday, nr::clock_settime]),
    (&["SYS_TTY_CONFIG"], &[nr::vhangup]),
    (&["SYS_NICE"], &[nr::get_mempolicy, nr::set_mempolicy, nr::mbind, nr::set_mempolicy_home_node]),
    // Opening any file of the filesystem by its handle, past the
    // container's root (the "shocker" escape).
    (&["DAC_READ_SEARCH"], &[nr::open_by_handle_at]),
];

/// ptrace and process_vm_readv/writev: allowed for everyone on Linux 4.8
/// and later, where a tracer can no longer use ptrace to get a tracee
/// past its seccomp filter; before that, only with SYS_PTRACE. Reading
/// another process's memory this way takes the same permission check as
/// ptrace, so the three go together (as in docker).
pub const PTRACE_FAMILY: &[u32] = &[nr::ptrace, nr::process_vm_readv, nr::process_vm_writev];

/// The kernel version from which [`PTRACE_FAMILY`] is allowed.
const PTRACE_SAFE_SINCE: (u32, u32) = (4, 8);

/// The namespace flags of `clone`: without SYS_ADMIN a `clone` asking for
/// any of them fails with EPERM (docker). CLONE_NEWTIME is not among
/// them: its bit is part of the exit signal in clone's flags, so only
/// unshare and clone3 can ask for it, and both need SYS_ADMIN here.
const CLONE_NAMESPACES: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP) as u64;

/// The personas `personality` may set: PER_LINUX, PER_LINUX32, UNAME26,
/// UNAME26|PER_LINUX32, and 0xffffffff, which only asks for the current
/// one. Others (READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE, ...) weaken the
/// process's own defences: they get the default, ENOSYS.
pub const PERSONAS: &[u64] = &[
    0,
    0x0008,
    libc::UNAME26 as u64,
    libc::UNAME26 as u64 | 0x0008,
    0xffff_ffff,
];

/// Socket families refused (EPERM), as docker does (AF_VSOCK since 2022,
/// AF_ALG since 2026): AF_VSOCK talks to the hypervisor or the host past
/// the container's network isolation, and AF_ALG opens the kernel's
/// crypto API, with its long history of bugs, to anyone.
pub const SOCKET_FAMILIES_DENIED: &[u64] = &[libc::AF_ALG as u64, libc::AF_VSOCK as u64];

/// Where our default differs from podman's Debian profile
/// (`/usr/share/containers/seccomp.json`, containers-common 0.50), and
/// why: (what, why). For the README, which a test keeps in step.
#[cfg(test)]
pub const DIFFERENCES: &[(&str, &str)] = &[
    (
        "keyctl: EPERM (podman: allowed; add_key and request_key: ENOSYS there)",
        "kernel keyrings are not namespaced; docker denies all three",
    ),
    (
        "mount, umount2, pivot_root, unshare, the new mount API (fsopen, fsconfig, fsmount, \
         fspick, move_mount, open_tree, mount_setattr), syslog: EPERM without SYS_ADMIN \
         (podman: allowed)",
        "docker's rule: these are what CAP_SYS_ADMIN stands for; container root without it \
         should not mount, nor make namespaces to mount in",
    ),
    (
        "clone with a namespace flag: EPERM without SYS_ADMIN; clone3: ENOSYS without \
         SYS_ADMIN (podman: both allowed)",
        "docker's rule; clone3's flags are behind a pointer the filter cannot read, and \
         ENOSYS makes glibc fall back to clone",
    ),
    (
        "reboot: EPERM without SYS_BOOT (podman: allowed)",
        "docker's rule (in a PID namespace reboot only signals its init; still, nothing \
         needs it)",
    ),
    (
        "pidfd_getfd: EPERM without SYS_PTRACE (podman: allowed)",
        "docker's rule: it takes a descriptor out of another process, a ptrace-class power",
    ),
    (
        "get_mempolicy, set_mempolicy, mbind: EPERM without SYS_NICE (podman: allowed)",
        "docker's rule",
    ),
    (
        "socket(AF_ALG) and socket(AF_VSOCK): EPERM (podman: allowed)",
        "docker's rule (AF_VSOCK since 2022, AF_ALG since 2026): the hypervisor socket and \
         the kernel crypto API are attack surface a container rarely needs",
    ),
    (
        "socket(AF_NETLINK, *, NETLINK_AUDIT) without AUDIT_WRITE: allowed (podman: EINVAL)",
        "docker has no such rule; without CAP_AUDIT_WRITE the kernel already refuses to \
         write audit records",
    ),
    (
        "vmsplice, io_pgetevents: allowed (podman: EPERM)",
        "docker allows them; vmsplice's known bugs are long fixed",
    ),
    (
        "syscalls newer than podman's list (cachestat, fchmodat2, futex_wait/wake/requeue, \
         futex_waitv, statmount, listmount, mseal, map_shadow_stack, the *xattrat family, \
         uretprobe): allowed; quotactl_fd, set_mempolicy_home_node, lsm_*: by capability \
         (podman: ENOSYS)",
        "docker's current list",
    ),
    (
        "32-bit syscalls (i386 int 0x80, x32): ENOSYS (podman: filtered by the same rules)",
        "our filter resolves names for x86_64 only; a 32-bit syscall must not slip past it, \
         so the whole ABI is refused: 32-bit programs do not run",
    ),
];

/// The default profile's table for a command with bounding set `caps`,
/// on kernel `kernel` (major, minor; `None` when unknown: treated as
/// older than 4.8).
/// All that [`table`] reads of `caps` and `kernel`, as bits: one per
/// entry of [`BY_CAPABILITY`] (held or not), then whether the ptrace
/// family is allowed, then SYS_ADMIN (clone's namespace flags). Equal
/// signatures give equal tables, so a filter compiled ahead of time for
/// one signature (`precompiled`) serves every caller with it.
pub fn signature(caps: CapSet, kernel: Option<(u32, u32)>) -> u64 {
    let has = |name: &str| caps::number(name).is_ok_and(|c| caps.contains(c));
    let n = BY_CAPABILITY.len();
    let mut bits = 0u64;
    for (i, (names, _)) in BY_CAPABILITY.iter().enumerate() {
        if names.iter().any(|c| has(c)) {
            bits |= 1 << i;
        }
    }
    if kernel.is_some_and(|k| k >= PTRACE_SAFE_SINCE) || has("SYS_PTRACE") {
        bits |= 1 << n;
    }
    if has("SYS_ADMIN") {
        bits |= 1 << (n + 1);
    }
    bits
}

pub fn table(caps: CapSet, kernel: Option<(u32, u32)>) -> Table {
    let has = |name: &str| caps::number(name).is_ok_and(|c| caps.contains(c));
    let mut t = Table::new(ENOSYS);
    for &n in ALLOWED {
        t.add(n, Rule::always(Action::Allow));
    }
    for &n in DENIED {
        t.add(n, Rule::always(EPERM));
    }
    for (names, calls) in BY_CAPABILITY {
        let held = names.iter().any(|c| has(c));
        for &n in *calls {
            t.add(n, Rule::always(if held { Action::Allow } else { EPERM }));
        }
    }
    let ptrace_ok = kernel.is_some_and(|k| k >= PTRACE_SAFE_SINCE) || has("SYS_PTRACE");
    for &n in PTRACE_FAMILY {
        t.add(
            n,
            Rule::always(if ptrace_ok { Action::Allow } else { EPERM }),
        );
    }
    args_rules(&mut t, has("SYS_ADMIN"));
    t
}

/// clone, clone3, personality, socket.
fn args_rules(t: &mut Table, sys_admin: bool) {
    if sys_admin {
        t.add(nr::clone, Rule::always(Action::Allow));
        t.add(nr::clone3, Rule::always(Action::Allow));
    } else {
        let no_namespace = Op::MaskedEq(CLONE_NAMESPACES);
        t.add(nr::clone, Rule::when(0, no_namespace, 0, Action::Allow));
        t.otherwise(nr::clone, EPERM);
        t.add(nr::clone3, Rule::always(ENOSYS));
    }
    for &p in PERSONAS {
        t.add(nr::personality, Rule::when(0, Op::Eq, p, Action::Allow));
    }
    for &family in SOCKET_FAMILIES_DENIED {
        t.add(nr::socket, Rule::when(0, Op::Eq, family, EPERM));
    }
    t.otherwise(nr::socket, Action::Allow);
}
