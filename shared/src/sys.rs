//! The raw syscalls nix does not wrap, or that must run between `clone`/
//! `fork` and `execve` where nothing may allocate or take a lock. This is
//! the one file of the shared library with `unsafe` in it; every block says
//! why it is sound.
//!
//! Functions named `raw_*` are async-signal-safe: they make one syscall,
//! allocate nothing and never panic, so they may run in a forked child.
//!
//! Two kinds of function are `unsafe fn`, because their soundness rests on
//! the caller, which says why at each call (`// SAFETY:`): the fork-like
//! ones ([`clone_like_fork`], [`probe_in_child`]: single-threaded caller,
//! a child that only makes raw syscalls on data prepared before the fork),
//! and the ones that act on a descriptor number as if they owned it
//! ([`take_inherited_fd`] adopts it as an `OwnedFd`, [`raw_close`] closes
//! it: nothing else may own it).

use std::ffi::CStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;

use libc::{c_char, c_int, c_uint};
use nix::errno::Errno;

pub use base::cstrings::CStringArray;

/// `clone(flags | SIGCHLD)` with no new stack: like `fork`, but the child
/// starts in the new namespaces given by `flags` (`CLONE_NEWUSER`, ...).
/// Returns `Some(child pid)` in the parent and `None` in the child.
///
/// # Safety
///
/// As for `fork` in a Rust program, and stricter, since no `pthread_atfork`
/// handler runs:
///
/// - the calling process must be single-threaded (no lock of the
///   allocator, of stdio or of anything else can then be held by a thread
///   that does not exist in the child);
/// - in the child (`Ok(None)`), until it leaves by `execve` or
///   [`raw_exit`], only async-signal-safe operations: the `raw_*`
///   functions and other single syscalls on data prepared before the
///   call; no allocation or deallocation (so no `format!`, no `String`,
///   no drop of an owned value that frees memory), no lock, no stdio, no
///   panic, and no return from the stack frames that were live at the
///   call (their destructors belong to the parent). The one exception:
///   since the process had a single thread, no lock was held at the
///   call, so a child that never returns into those frames may go on to
///   allocate and use std as any single-threaded process (nslaunch's
///   child does, once released, to run nsinit's code in place of an
///   exec), provided a panic cannot unwind into them.
pub unsafe fn clone_like_fork(flags: c_int) -> Result<Option<i32>, Errno> {
    // SAFETY: without CLONE_VM the child gets a copy-on-write copy of the
    // address space and continues on its own copy of the current stack,
    // exactly as fork() does; with a NULL stack, parent_tid, child_tid and
    // tls are ignored. The caller promises a single thread and a child
    // that stays within async-signal-safe code (see # Safety).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    match ret {
        -1 => Err(Errno::last()),
        0 => Ok(None),
        pid => Ok(Some(pid as i32)),
    }
}

/// `write` every part in order, retrying on EINTR and short writes; errors
/// are ignored (there is no one left to tell).
pub fn raw_write_all(fd: RawFd, parts: &[&[u8]]) {
    for part in parts {
        let mut rest = *part;
        while !rest.is_empty() {
            // SAFETY: `rest` is a valid slice for its whole length.
            let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
            if n < 0 {
                if Errno::last() == Errno::EINTR {
                    continue;
                }
                return;
            }
            rest = &rest[n as usize..];
        }
    }
}

/// Read one byte; `Ok(true)` if one came, `Ok(false)` at end of file.
pub fn raw_read_byte(fd: RawFd) -> Result<bool, Errno> {
    let mut b = 0u8;
    loop {
        // SAFETY: reads at most one byte into a valid local.
        let n = unsafe { libc::read(fd, (&mut b as *mut u8).cast(), 1) };
        match n {
            1 => return Ok(true),
            0 => return Ok(false),
            _ if Errno::last() == Errno::EINTR => continue,
            _ => return Err(Errno::last()),
        }
    }
}

/// `close(fd)`, errors ignored. Async-signal-safe. To close a descriptor
/// that is owned, drop its `OwnedFd`; this is for numbers nothing owns.
///
/// # Safety
///
/// No `OwnedFd`, `File` or other owner of `fd` may be used or dropped
/// after this call (it would then act on whatever file later gets the
/// same number): either nothing in this process owns `fd` (a number
/// inherited across `execve`, never adopted), or its owner is never used
/// again (a forked child that leaves by `execve` or [`raw_exit`] without
/// running the parent's destructors).
pub unsafe fn raw_close(fd: RawFd) {
    // SAFETY: closing a descriptor number touches no memory; the caller
    // promises no owner of `fd` is used after it.
    unsafe { libc::close(fd) };
}

/// Whether `fd` is an open descriptor.
pub fn raw_fd_is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only queries the descriptor number.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// Two addresses of this process's memory layout from /proc/self/stat:
/// fields `first` and `first + 1` (48: `arg_start`/`arg_end`, the argv
/// strings; 50: `env_start`/`env_end`, the environment strings), when
/// both are there and make a non-empty area.
pub fn own_stat_area(first: usize) -> Option<(usize, usize)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // After the command name in parentheses, which may hold anything.
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3.
    let start: usize = fields.get(first.checked_sub(3)?)?.parse().ok()?;
    let end: usize = fields.get(first + 1 - 3)?.parse().ok()?;
    (start > 0 && end > start).then_some((start, end))
}

/// Whether `fd` is open and marked close-on-exec.
pub fn raw_is_cloexec(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only queries the descriptor number.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    flags >= 0 && flags & libc::FD_CLOEXEC != 0
}

/// Set or clear close-on-exec on `fd`.
pub fn raw_set_cloexec(fd: RawFd, on: bool) -> Result<(), Errno> {
    let flag = if on { libc::FD_CLOEXEC } else { 0 };
    // SAFETY: F_SETFD takes an int argument and touches no memory.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, flag) } < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Mark every descriptor from `first` up as close-on-exec (`close_range`
/// with `CLOSE_RANGE_CLOEXEC`, Linux 5.11), falling back to walking the
/// descriptor numbers one by one on older kernels.
pub fn raw_cloexec_from(first: c_uint) -> Result<(), Errno> {
    // SAFETY: close_range takes plain integers.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the valid local `lim`.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(Errno::last());
    }
    let max = lim.rlim_cur.min(1 << 20) as c_int;
    for fd in first as c_int..max {
        let _ = raw_set_cloexec(fd, true);
    }
    Ok(())
}

/// `prctl(PR_SET_PDEATHSIG, sig)`: receive `sig` when the parent thread dies.
/// (Not nix's `set_pdeathsig`: its `Signal` has no real-time signals,
/// which `nsinit --pdeathsig` takes.)
pub fn raw_set_parent_death_signal(sig: c_int) -> Result<(), Errno> {
    // SAFETY: PR_SET_PDEATHSIG takes an integer argument.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) } != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// `execveat(fd, "", argv, envp, AT_EMPTY_PATH)`: run the file open on `fd`.
/// Returns only on failure.
pub fn raw_execveat_fd(fd: RawFd, argv: &CStringArray, envp: &CStringArray) -> Errno {
    // SAFETY: both arrays are NULL-terminated arrays of NUL-terminated
    // strings that outlive the call; the empty path is a valid C string.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd,
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Errno::last()
}

/// `execve(path, argv, envp)`. Returns only on failure.
pub fn raw_execve(path: &CStr, argv: &CStringArray, envp: &CStringArray) -> Errno {
    // SAFETY: as for raw_execveat_fd.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    Errno::last()
}

/// `setpgid(pid, pgid)`.
pub fn raw_setpgid(pid: i32, pgid: i32) -> Result<(), Errno> {
    // SAFETY: plain integers.
    if unsafe { libc::setpgid(pid, pgid) } != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// `tcsetpgrp(fd, pgid)` (ioctl TIOCSPGRP): make `pgid` the terminal's
/// foreground process group.
pub fn raw_tcsetpgrp(fd: RawFd, pgid: i32) -> Result<(), Errno> {
    // SAFETY: TIOCSPGRP reads a pid_t from a valid local.
    if unsafe { libc::ioctl(fd, libc::TIOCSPGRP, &pgid as *const i32) } != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// `tcgetpgrp(fd)` (ioctl TIOCGPGRP): the terminal's foreground process
/// group.
pub fn raw_tcgetpgrp(fd: RawFd) -> Result<i32, Errno> {
    let mut pgid: i32 = 0;
    // SAFETY: TIOCGPGRP writes a pid_t into a valid local.
    if unsafe { libc::ioctl(fd, libc::TIOCGPGRP, &mut pgid as *mut i32) } != 0 {
        return Err(Errno::last());
    }
    Ok(pgid)
}

/// `getpid()`.
pub fn raw_getpid() -> i32 {
    // SAFETY: no arguments.
    unsafe { libc::getpid() }
}

/// `WNOWAIT`), so its /proc entry can still be read.
pub fn peek_exited_child() -> Option<i32> {
    // SAFETY: waitid fills a zeroed siginfo_t; si_pid is read through
    // libc's accessor for the union field.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let r = libc::waitid(
            libc::P_ALL,
            0,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        let pid = info.si_pid();
        (r == 0 && pid > 0).then_some(pid)
    }
}

/// `_exit(code)`: leave a forked child without running Rust or libc
/// cleanup (atexit handlers, stdio buffers belong to the parent).
pub fn raw_exit(code: c_int) -> ! {
    // SAFETY: _exit never returns and touches no memory.
    unsafe { libc::_exit(code) }
}

/// `kill(pid, sig)` for any signal number, real-time ones included (nix's
/// `Signal` enum has no real-time signals). `sig` 0 only checks.
pub fn raw_kill(pid: i32, sig: c_int) -> Result<(), Errno> {
    // SAFETY: kill takes plain integers.
    if unsafe { libc::kill(pid, sig) } != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// `waitpid(pid, &status, flags)` with the raw status (nix's `WaitStatus`
/// cannot represent a death by a real-time signal). `Ok(None)` when
/// `WNOHANG` found nothing; `Err(ECHILD)` when there are no children.
pub fn raw_waitpid(pid: i32, flags: c_int) -> Result<Option<(i32, c_int)>, Errno> {
    let mut status: c_int = 0;
    loop {
        // SAFETY: waitpid writes the status into a valid local.
        let r = unsafe { libc::waitpid(pid, &mut status, flags) };
        match r {
            0 => return Ok(None),
            -1 if Errno::last() == Errno::EINTR => continue,
            -1 => return Err(Errno::last()),
            pid => return Ok(Some((pid, status))),
        }
    }
}

/// `open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | AT_RECURSIVE)`: a detached
/// copy of the mount tree at `path` (a recursive bind mount not yet
/// attached anywhere), as a close-on-exec fd. Linux 5.2.
pub fn open_tree_clone(path: &CStr) -> Result<OwnedFd, Errno> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    let flags =
        OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | libc::AT_RECURSIVE as libc::c_uint;
    // SAFETY: `path` is a valid C string; the kernel returns a new fd.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just gave us this descriptor; we own it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `move_mount(tree, "", AT_FDCWD, to, MOVE_MOUNT_F_EMPTY_PATH)`: attach
/// the detached tree from [`open_tree_clone`] on top of `to`. The fd keeps
/// naming the attached mount, even where a path could not (a mount stacked
/// on the process's own root is never reached by looking up "/").
pub fn move_mount_to(tree: RawFd, to: &CStr) -> Result<(), Errno> {
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
    // SAFETY: both paths are valid C strings; plain integers otherwise.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree,
            c"".as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if r != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// `open_tree(fd, "", OPEN_TREE_CLONE | AT_EMPTY_PATH [| AT_RECURSIVE])`:
/// a detached bind mount of exactly the file or directory open on `fd`
/// (an `O_PATH` fd), close-on-exec. Async-signal-safe.
pub fn raw_open_tree_fd(fd: RawFd, recursive: bool) -> Result<OwnedFd, Errno> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    let mut flags =
        OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: the empty path is a valid C string; the kernel returns a new
    // fd or an error, and touches no memory of ours otherwise.
    let r = unsafe { libc::syscall(libc::SYS_open_tree, fd, c"".as_ptr(), flags) };
    if r < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just gave us this descriptor; we own it.
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

/// `unshare(flags)`: with `CLONE_NEWTIME`, the children and the next
/// `execve` of this process enter a new time namespace.
pub fn raw_unshare(flags: c_int) -> Result<(), Errno> {
    // SAFETY: unshare takes an integer.
    if unsafe { libc::unshare(flags) } != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Bring the loopback interface of this network namespace up
/// (`ioctl(SIOCSIFFLAGS)`, as `ip link set lo up` does), leaving its other
/// flags as they are.
pub fn loopback_up() -> Result<(), Errno> {
    // SAFETY: socket takes integers; the kernel returns a new fd we own.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(Errno::last());
    }
    // SAFETY: as above.
    let sock = unsafe { OwnedFd::from_raw_fd(sock) };
    use std::os::fd::AsRawFd;
    // SAFETY: ifreq is plain data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the name from and writes the flags into
    // the valid ifreq we pass.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } != 0 {
        return Err(Errno::last());
    }
    // SAFETY: ifru_flags is the union member SIOCGIFFLAGS filled in.
    unsafe { req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short };
    // SAFETY: SIOCSIFFLAGS reads the valid ifreq we pass.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// `openat2(dirfd, path, {flags | O_CLOEXEC, mode, resolve})` (nix's),
/// tried again while the kernel answers EAGAIN (a rename raced with
/// RESOLVE_IN_ROOT) or EINTR.
pub fn openat2(
    dirfd: RawFd,
    path: &CStr,
    flags: c_int,
    mode: u32,
    resolve: u64,
) -> Result<OwnedFd, Errno> {
    use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
    let how = OpenHow::new()
        .flags(OFlag::from_bits_retain(flags | libc::O_CLOEXEC))
        .mode(nix::sys::stat::Mode::from_bits_retain(mode))
        .resolve(ResolveFlag::from_bits_retain(resolve));
    // SAFETY: the caller's `dirfd` is open for the length of this call.
    let dir = unsafe { std::os::fd::BorrowedFd::borrow_raw(dirfd) };
    loop {
        match nix::fcntl::openat2(dir, path, how) {
            Err(Errno::EAGAIN | Errno::EINTR) => continue,
            other => return other,
        }
    }
}

/// `setgroups(groups)`: the supplementary groups.
pub fn raw_setgroups(groups: &[u32]) -> Result<(), Errno> {
    // SAFETY: the kernel reads `groups.len()` gids from a valid slice.
    let r = unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) };
    if r != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// `setresgid(gid, gid, gid)`, the raw syscall: glibc's wrapper would try
/// to signal other threads (there are none in a forked child).
pub fn raw_setresgid(gid: u32) -> Result<(), Errno> {
    // SAFETY: plain integers.
    if unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) } != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// `setresuid(uid, uid, uid)`, the raw syscall (see [`raw_setresgid`]).
pub fn raw_setresuid(uid: u32) -> Result<(), Errno> {
    // SAFETY: plain integers.
    if unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) } != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// A thread's three capability sets, one bit per capability number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CapState {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// _LINUX_CAPABILITY_VERSION_3: two 32-bit words per set.
const CAP_VERSION_3: u32 = 0x2008_0522;

/// `capget` for this thread.
pub fn raw_capget() -> Result<CapState, Errno> {
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: version 3 makes the kernel write two CapData into `data`.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    if r != 0 {
        return Err(Errno::last());
    }
    let join = |lo: u32, hi: u32| u64::from(lo) | (u64::from(hi) << 32);
    Ok(CapState {
        effective: join(data[0].effective, data[1].effective),
        permitted: join(data[0].permitted, data[1].permitted),
        inheritable: join(data[0].inheritable, data[1].inheritable),
    })
}

/// `capset` for this thread.
pub fn raw_capset(caps: &CapState) -> Result<(), Errno> {
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let word = |set: u64, i: u32| (set >> (32 * i)) as u32;
    let data = [0, 1].map(|i| CapData {
        effective: word(caps.effective, i),
        permitted: word(caps.permitted, i),
        inheritable: word(caps.inheritable, i),
    });
    // SAFETY: version 3 makes the kernel read two CapData from `data`.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    if r != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

fn raw_prctl(option: c_int, arg2: libc::c_ulong, arg3: libc::c_ulong) -> Result<(), Errno> {
    // SAFETY: the prctl options used here take integer arguments only.
    if unsafe { libc::prctl(option, arg2, arg3, 0 as libc::c_ulong, 0 as libc::c_ulong) } != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// `prctl(PR_CAPBSET_DROP, cap)`: remove `cap` from the bounding set, so
/// nothing this thread execs can ever gain it. EINVAL: the kernel has no
/// such capability.
pub fn raw_capbset_drop(cap: u32) -> Result<(), Errno> {
    raw_prctl(libc::PR_CAPBSET_DROP, cap.into(), 0)
}

/// `prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)`.
pub fn raw_ambient_clear() -> Result<(), Errno> {
    raw_prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
        0,
    )
}

/// `prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap)`: keep `cap` across
/// `execve` of an ordinary file by a non-root user. The capability must
/// be permitted and inheritable already.
pub fn raw_ambient_raise(cap: u32) -> Result<(), Errno> {
    raw_prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
        cap.into(),
    )
}

/// `chdir(path)`.
pub fn raw_chdir(path: &CStr) -> Result<(), Errno> {
    // SAFETY: `path` is a valid C string.
    if unsafe { libc::chdir(path.as_ptr()) } != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Whether every write end of the pipe whose read end is `fd` is closed
/// (poll reports POLLHUP), without reading or waiting.
pub fn raw_hung_up(fd: RawFd) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no timeout.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n == 1 && p.revents & libc::POLLHUP != 0
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], attr)` on the
/// mount open on `fd` (Linux 5.12): set and clear `MOUNT_ATTR_*` flags;
/// with `userns`, make it an idmapped mount through that user namespace's
/// maps (the mount must still be detached). Async-signal-safe.
pub fn mount_setattr(
    fd: RawFd,
    recursive: bool,
    set: u64,
    clear: u64,
    userns: Option<RawFd>,
) -> Result<(), Errno> {
    let mut attr = libc::mount_attr {
        attr_set: set,
        attr_clr: clear,
        propagation: 0,
        userns_fd: 0,
    };
    if let Some(ns) = userns {
        attr.attr_set |= libc::MOUNT_ATTR_IDMAP;
        attr.userns_fd = ns as u64;
    }
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: a valid C string and a valid struct whose size we pass.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            c"".as_ptr(),
            flags,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if r != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// `mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, propagation =
/// MS_PRIVATE)`: make every mount of the tree open on `tree` private. A
/// clone of a shared mount (`open_tree`) is a peer of the original: a
/// mount made on the clone would otherwise propagate back to where it came
/// from (the host's), and `pivot_root` refuses a shared new root.
pub fn make_tree_private(tree: std::os::fd::BorrowedFd<'_>) -> Result<(), Errno> {
    let attr = libc::mount_attr {
        attr_set: 0,
        attr_clr: 0,
        propagation: libc::MS_PRIVATE,
        userns_fd: 0,
    };
    let flags = libc::AT_EMPTY_PATH as c_uint | libc::AT_RECURSIVE as c_uint;
    // SAFETY: `tree` is a live descriptor for the duration of the call, the
    // path a valid C string, and `attr` a valid struct whose size we pass.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            std::os::fd::AsRawFd::as_raw_fd(&tree),
            c"".as_ptr(),
            flags,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if r != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// `move_mount(tree, "", target, "", F_EMPTY_PATH | T_EMPTY_PATH)`:
/// attach the mount open on `tree` on top of the file or directory open
/// on `target` (an `O_PATH` fd, resolved beforehand), with no path lookup
/// at all.
pub fn move_mount_onto_fd(tree: RawFd, target: RawFd) -> Result<(), Errno> {
    // SAFETY: valid C strings; plain integers otherwise.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree,
            c"".as_ptr(),
            target,
            c"".as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH | libc::MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    if r != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// A new filesystem as a detached mount (Linux 5.2): `fsopen(fstype)`,
/// one `fsconfig` per parameter (a string, or a flag when the value is
/// `None`), `FSCONFIG_CMD_CREATE`, then `fsmount`. The mount is attached
/// nowhere; its close-on-exec fd can be attached with
/// [`move_mount_onto_fd`]. On failure: the errno and the kernel's own
/// messages about it (the lines it queued on the fs context, such as
/// "overlayfs: failed to resolve ..."), joined by "; ".
pub fn new_fs_mount(
    fstype: &CStr,
    params: &[(&CStr, Option<&CStr>)],
) -> Result<OwnedFd, (Errno, String)> {
    const FSOPEN_CLOEXEC: c_uint = 1;
    const FSCONFIG_SET_FLAG: c_uint = 0;
    const FSCONFIG_SET_STRING: c_uint = 1;
    const FSCONFIG_CMD_CREATE: c_uint = 6;
    const FSMOUNT_CLOEXEC: c_uint = 1;
    // SAFETY: a valid C string and integer flags; a new fd comes back.
    let fs = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) };
    if fs < 0 {
        return Err((Errno::last(), String::new()));
    }
    // SAFETY: the kernel just gave us this descriptor; we own it.
    let fs = unsafe { OwnedFd::from_raw_fd(fs as RawFd) };
    let fsfd = std::os::fd::AsRawFd::as_raw_fd(&fs);
    let failed = |errno: Errno| (errno, fs_context_messages(fsfd));
    for (key, value) in params {
        let (cmd, v) = match value {
            Some(v) => (FSCONFIG_SET_STRING, v.as_ptr()),
            None => (FSCONFIG_SET_FLAG, ptr::null()),
        };
        // SAFETY: valid C strings (or NULL for a flag), integer arguments.
        let r = unsafe { libc::syscall(libc::SYS_fsconfig, fsfd, cmd, key.as_ptr(), v, 0) };
        if r != 0 {
            return Err(failed(Errno::last()));
        }
    }
    // SAFETY: NULL key and value are what FSCONFIG_CMD_CREATE takes.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fsfd,
            FSCONFIG_CMD_CREATE,
            ptr::null::<c_char>(),
            ptr::null::<c_char>(),
            0,
        )
    };
    if r != 0 {
        return Err(failed(Errno::last()));
    }
    // SAFETY: integer arguments; a new fd comes back.
    let m = unsafe { libc::syscall(libc::SYS_fsmount, fsfd, FSMOUNT_CLOEXEC, 0) };
    if m < 0 {
        return Err(failed(Errno::last()));
    }
    // SAFETY: the kernel just gave us this descriptor; we own it.
    Ok(unsafe { OwnedFd::from_raw_fd(m as RawFd) })
}

/// The messages the kernel queued on an fs context (each `read` returns
/// one, "e overlayfs: ..." for an error), without their one-letter level.
fn fs_context_messages(fd: RawFd) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    for _ in 0..8 {
        // SAFETY: reads at most buf.len() bytes into a valid local buffer.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        let line = String::from_utf8_lossy(&buf[..n as usize]).into_owned();
        let line = line.trim_end();
        let text = line
            .get(2..)
            .filter(|_| line.as_bytes().get(1) == Some(&b' '));
        out.push(text.unwrap_or(line).to_string());
    }
    out.join("; ")
}

/// Take ownership of descriptor `fd`, inherited across `execve` on
/// purpose (named in our argv), and mark it close-on-exec so that it goes
/// no further. `Err(EBADF)` if it is not open or is 0, 1 or 2.
///
/// # Safety
///
/// Nothing else in this process may own `fd`: it must not have been
/// taken before (each number is taken once, even when argv names it
/// twice: check for repeats first), nor be open as a `File`, `OwnedFd`
/// or any other owner of ours; and nothing may go on using the number
/// itself once the returned `OwnedFd` is dropped.
pub unsafe fn take_inherited_fd(fd: RawFd) -> Result<OwnedFd, Errno> {
    if fd < 3 {
        return Err(Errno::EBADF);
    }
    raw_set_cloexec(fd, true)?;
    // SAFETY: the descriptor is open (F_SETFD succeeded), and the caller
    // promises that nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `dup2(from, to)` (`to` loses close-on-exec, as with dup2).
pub fn raw_dup2(from: RawFd, to: RawFd) -> Result<(), Errno> {
    loop {
        // SAFETY: plain integers.
        if unsafe { libc::dup2(from, to) } >= 0 {
            return Ok(());
        }
        if Errno::last() != Errno::EBUSY && Errno::last() != Errno::EINTR {
            return Err(Errno::last());
        }
    }
}

/// `ioctl(fd, TIOCSCTTY, 0)`: make the terminal open on `fd` the caller's
/// controlling terminal (the caller must lead a session that has none).
pub fn raw_set_controlling_terminal(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: TIOCSCTTY takes an integer argument (0: do not steal).
    if unsafe { libc::ioctl(fd, libc::TIOCSCTTY, 0) } != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// A terminal's window size (`struct winsize`, pixels left out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WinSize {
    pub rows: u16,
    pub cols: u16,
}

/// `ioctl(fd, TIOCGWINSZ)`: the window size of the terminal open on `fd`.
pub fn window_size(fd: RawFd) -> Result<WinSize, Errno> {
    // SAFETY: winsize is plain data; the kernel fills it.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize into a valid local.
    if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws as *mut libc::winsize) } != 0 {
        return Err(Errno::last());
    }
    Ok(WinSize {
        rows: ws.ws_row,
        cols: ws.ws_col,
    })
}

/// `ioctl(fd, TIOCSWINSZ)`: set the window size of the terminal open on
/// `fd`; when it changes, the kernel sends SIGWINCH to the terminal's
/// foreground process group.
pub fn set_window_size(fd: RawFd, size: WinSize) -> Result<(), Errno> {
    let ws = libc::winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from a valid local.
    if unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws as *const libc::winsize) } != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Unlock the slave of the pseudo-terminal master open on `master`
/// (`unlockpt`: ioctl TIOCSPTLCK with 0).
pub fn unlock_pty(master: RawFd) -> Result<(), Errno> {
    let unlock: c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int from a valid local.
    if unsafe { libc::ioctl(master, libc::TIOCSPTLCK, &unlock as *const c_int) } != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// The number N of the pseudo-terminal (its slave is `pts/N` of the devpts
/// instance the master came from): ioctl TIOCGPTN.
pub fn pty_number(master: RawFd) -> Result<u32, Errno> {
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes an unsigned int into a valid local.
    if unsafe { libc::ioctl(master, libc::TIOCGPTN, &mut n as *mut libc::c_uint) } != 0 {
        return Err(Errno::last());
    }
    Ok(n)
}

/// Open the slave of the pseudo-terminal master open on `master`, by the
/// master itself (ioctl TIOCGPTPEER, Linux 4.13): no path lookup, so no
/// other devpts mount can be swapped in. Close-on-exec, not made a
/// controlling terminal.
pub fn open_pty_peer(master: RawFd) -> Result<OwnedFd, Errno> {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes the open flags as an integer and returns
    // a new descriptor.
    let fd = unsafe { libc::ioctl(master, libc::TIOCGPTPEER, flags) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just gave us this descriptor; we own it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A pair of connected unix stream sockets, close-on-exec (nix's
/// socketpair).
pub fn socket_pair() -> Result<(OwnedFd, OwnedFd), Errno> {
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
}

/// Send the descriptor `fd` over the unix socket `sock` (one byte of data
/// and an SCM_RIGHTS message), as runc's `--console-socket` does (nix's
/// sendmsg). Not for a forked child: nix allocates the control buffer.
pub fn send_fd(sock: RawFd, fd: RawFd) -> Result<(), Errno> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
    let byte = [b'T'];
    let iov = [std::io::IoSlice::new(&byte)];
    let fds = [fd];
    loop {
        match sendmsg::<UnixAddr>(
            sock,
            &iov,
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Err(Errno::EINTR) => continue,
            other => return other.map(|_| ()),
        }
    }
}

/// Receive one descriptor sent with [`send_fd`] on the unix socket
/// `sock`, close-on-exec (nix's recvmsg). `Ok(None)` at end of file (the
/// sender closed its end without sending one); any descriptor beyond the
/// first is closed.
pub fn recv_fd(sock: RawFd) -> Result<Option<OwnedFd>, Errno> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};
    let mut byte = [0u8];
    let mut cmsg = nix::cmsg_space!([RawFd; 4]);
    loop {
        let mut iov = [std::io::IoSliceMut::new(&mut byte)];
        let msg = match recvmsg::<UnixAddr>(
            sock,
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(Errno::EINTR) => continue,
            other => other?,
        };
        let mut found: Option<OwnedFd> = None;
        for c in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(fds) = c {
                for fd in fds {
                    // SAFETY: the kernel just installed this descriptor in
                    // our table; nothing else owns it. The first is kept,
                    // any other closes when dropped.
                    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                    if found.is_none() {
                        found = Some(owned);
                    }
                }
            }
        }
        return match (msg.bytes, found) {
            (_, Some(fd)) => Ok(Some(fd)),
            (0, None) => Ok(None),
            // A byte without a descriptor: not what we were promised.
            (_, None) => Err(Errno::EBADMSG),
        };
    }
}

/// Run `f` in a child cloned into the new namespaces `flags` (like
/// `fork`), and return the child's exit code (`f`'s return value, or
/// 128+N if it died by signal N). For probes such as `nslaunch check`.
///
/// `f` is borrowed, not consumed: calling it by reference drops nothing
/// it captured, so the child frees no memory on its way out; it leaves
/// by [`raw_exit`] with `f`'s result.
///
/// # Safety
///
/// The contract of [`clone_like_fork`] for the child: the calling
/// process must be single-threaded, and `f` must only do what is
/// async-signal-safe (no allocation or deallocation, no lock, no stdio,
/// no panic): prepare every path, string and buffer it needs before the
/// call.
pub unsafe fn probe_in_child<F: Fn() -> i32>(flags: c_int, f: &F) -> Result<i32, Errno> {
    // SAFETY: the caller promises a single thread and an `f` that stays
    // within async-signal-safe code; the child runs `f` and then only
    // `raw_exit`, returning into no frame of the parent's.
    match unsafe { clone_like_fork(flags)? } {
        None => raw_exit(f()),
        Some(pid) => loop {
            match raw_waitpid(pid, 0) {
                Ok(Some((_, status))) => {
                    return Ok(crate::exit::from_raw_wait(status).unwrap_or(crate::exit::FAILED))
                }
                Ok(None) => continue,
                Err(e) => return Err(e),
            }
        },
    }
}

/// A global allocator for tests of code meant for a forked child: it is
/// the system allocator, except that after [`forbid_alloc`] every
/// allocation or deallocation ends the process with `_exit(`
/// [`ALLOCATED_IN_CHILD`]`)`. A test binary installs it with
/// `#[global_allocator] static A: sys::GuardedAlloc = sys::GuardedAlloc;`
/// and runs the code under test with [`probe_in_child`] and
/// [`forbid_alloc`]: the flag it sets is the child's own copy, and the
/// test's other threads do not exist there.
pub struct GuardedAlloc;

/// The exit status of a child that allocated or freed after
/// [`forbid_alloc`].
pub const ALLOCATED_IN_CHILD: c_int = 86;

static ALLOC_FORBIDDEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn alloc_allowed() {
    if ALLOC_FORBIDDEN.load(std::sync::atomic::Ordering::Relaxed) {
        raw_exit(ALLOCATED_IN_CHILD);
    }
}

// SAFETY: every request goes to the system allocator unchanged (realloc
// and alloc_zeroed through these two, by their default methods).
unsafe impl std::alloc::GlobalAlloc for GuardedAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        alloc_allowed();
        // SAFETY: the caller's layout, as GlobalAlloc::alloc requires.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        alloc_allowed();
        // SAFETY: `ptr` came from System.alloc with this layout.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

/// From now on, every allocation or deallocation under [`GuardedAlloc`]
/// ends the process (in a forked child only: there is no way back).
pub fn forbid_alloc() {
    ALLOC_FORBIDDEN.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Whether the file at `path` has the extended attribute `name`.
pub fn has_xattr(path: &CStr, name: &CStr) -> bool {
    // SAFETY: both are valid C strings; a NULL buffer of size 0 asks only
    // for the value's size.
    unsafe { libc::getxattr(path.as_ptr(), name.as_ptr(), ptr::null_mut(), 0) >= 0 }
}

/// Read one byte from `fd`: `None` at end of file. Async-signal-safe.
pub fn raw_read_one(fd: RawFd) -> Result<Option<u8>, Errno> {
    let mut b = 0u8;
    loop {
        // SAFETY: reads at most one byte into a valid local.
        let n = unsafe { libc::read(fd, (&mut b as *mut u8).cast(), 1) };
        match n {
            1 => return Ok(Some(b)),
            0 => return Ok(None),
            _ if Errno::last() == Errno::EINTR => continue,
            _ => return Err(Errno::last()),
        }
    }
}

/// `open(path, O_WRONLY | O_CLOEXEC)`, for a forked child. Async-signal-safe.
pub fn raw_open_write(path: &CStr) -> Result<RawFd, Errno> {
    // SAFETY: a valid C string; the kernel returns a new fd or -1.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        Err(Errno::last())
    } else {
        Ok(fd)
    }
}

/// Write `n` in decimal to `fd`, without allocating. Async-signal-safe.
pub fn raw_write_decimal(fd: RawFd, n: i32) {
    let mut buf = [0u8; 12];
    let mut i = buf.len();
    let negative = n < 0;
    let mut v = i64::from(n).unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if negative {
        i -= 1;
        buf[i] = b'-';
    }
    raw_write_all(fd, &[&buf[i..]]);
}

/// `setdomainname(name)`.
pub fn setdomainname(name: &str) -> Result<(), Errno> {
    // SAFETY: a valid buffer and its length.
    let r = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    if r == 0 {
        Ok(())
    } else {
        Err(Errno::last())
    }
}

/// Load a seccomp filter (classic BPF, the kernel's `sock_filter`
/// array) on the calling thread: `seccomp(SECCOMP_SET_MODE_FILTER, 0,
/// prog)` with the `SECCOMP_FILTER_FLAG_*` `flags`. Needs no_new_privs or
/// CAP_SYS_ADMIN in the user namespace.
/// Async-signal-safe.
pub fn raw_seccomp_load(flags: u32, program: &[libc::sock_filter]) -> Result<(), Errno> {
    let prog = libc::sock_fprog {
        len: u16::try_from(program.len()).map_err(|_| Errno::EINVAL)?,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: a valid sock_fprog pointing at `program`, which outlives the
    // call; the kernel copies the program.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &prog as *const libc::sock_fprog,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(Errno::last())
    }
}

/// `setns(fd, nstype)`: join the namespace open on `fd`.
pub fn setns(fd: &OwnedFd, nstype: c_int) -> Result<(), Errno> {
    // SAFETY: a valid descriptor and a namespace type.
    if unsafe { libc::setns(fd.as_raw_fd(), nstype) } == 0 {
        Ok(())
    } else {
        Err(Errno::last())
    }
}

/// `prlimit(pid, resource, {soft, hard}, NULL)`.
pub fn prlimit(pid: i32, resource: u32, soft: u64, hard: u64) -> Result<(), Errno> {
    let limit = libc::rlimit64 {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: a valid rlimit64 to read, NULL for the old value.
    let r = unsafe {
        libc::prlimit64(
            pid,
            resource as libc::__rlimit_resource_t,
            &limit,
            ptr::null_mut(),
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(Errno::last())
    }
}

/// A pidfd for `pid` (Linux 5.3): it names that very process until it
/// is reaped, however the pid is reused afterwards.
pub fn pidfd_open(pid: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd (or -1),
    // which we own from here.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if r < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a fresh descriptor the kernel just gave us.
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

/// Send `sig` to the process of a pidfd (Linux 5.1).
pub fn pidfd_send_signal(pidfd: &OwnedFd, sig: c_int) -> Result<(), Errno> {
    // SAFETY: a valid pidfd, a signal number, no siginfo (NULL), no flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_string_array_is_null_terminated() {
        let a = CStringArray::new(["a", "bc"]).unwrap();
        // SAFETY: the array has three entries, the last NULL.
        unsafe {
            let p = a.as_ptr();
            assert_eq!(CStr::from_ptr(*p).to_str().unwrap(), "a");
            assert_eq!(CStr::from_ptr(*p.add(1)).to_str().unwrap(), "bc");
            assert!((*p.add(2)).is_null());
        }
        assert!(CStringArray::new(["ok", "bad\0"]).is_err());
    }

    #[test]
    fn a_number_entry_is_set_in_place() {
        let a = CStringArray::with_number(["A=1"], "LISTEN_PID").unwrap();
        let entry = |a: &CStringArray| {
            // SAFETY: the array has three entries, the last NULL.
            unsafe {
                let p = a.as_ptr();
                assert!((*p.add(2)).is_null());
                assert_eq!(CStr::from_ptr(*p).to_str().unwrap(), "A=1");
                CStr::from_ptr(*p.add(1)).to_str().unwrap().to_string()
            }
        };
        assert_eq!(entry(&a), "LISTEN_PID=0");
        for n in [4_194_304, 7, i32::MAX, i32::MIN, 0] {
            a.set_number(n);
            assert_eq!(entry(&a), format!("LISTEN_PID={n}"));
        }
        assert!(CStringArray::with_number(["A=1"], "A=B").is_err());
        assert!(CStringArray::with_number(["A=1"], "").is_err());
        assert!(CStringArray::with_number(["A=1"], &"X".repeat(60)).is_err());
        // Without one, set_number does nothing.
        let plain = CStringArray::new(["A=1"]).unwrap();
        plain.set_number(5);
    }

    #[test]
    fn capget_then_capset_the_same_sets() {
        let caps = raw_capget().unwrap();
        assert!(caps.effective & !caps.permitted == 0);
        raw_capset(&caps).unwrap();
        assert_eq!(raw_capget().unwrap(), caps);
    }

    #[test]
    fn a_descriptor_crosses_a_socket_pair() {
        use std::io::{Read, Write};
        use std::os::fd::AsRawFd;
        let (a, b) = socket_pair().unwrap();
        let (r, w) = nix::unistd::pipe().unwrap();
        send_fd(a.as_raw_fd(), w.as_raw_fd()).unwrap();
        drop(w);
        let got = recv_fd(b.as_raw_fd()).unwrap().expect("a descriptor");
        let mut got = std::fs::File::from(got);
        got.write_all(b"through").unwrap();
        drop(got);
        let mut text = String::new();
        std::fs::File::from(r).read_to_string(&mut text).unwrap();
        assert_eq!(text, "through");
        drop(a);
        assert!(recv_fd(b.as_raw_fd()).unwrap().is_none());
    }

    #[test]
    fn a_pty_has_a_peer_and_a_window_size() {
        use std::os::fd::AsRawFd;
        let master = nix::fcntl::open(
            "/dev/ptmx",
            nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .unwrap();
        unlock_pty(master.as_raw_fd()).unwrap();
        let _n = pty_number(master.as_raw_fd()).unwrap();
        let slave = open_pty_peer(master.as_raw_fd()).unwrap();
        let size = WinSize {
            rows: 33,
            cols: 101,
        };
        set_window_size(master.as_raw_fd(), size).unwrap();
        assert_eq!(window_size(slave.as_raw_fd()).unwrap(), size);
    }

    #[test]
    fn hung_up_sees_a_closed_writer() {
        let (r, w) = nix::unistd::pipe().unwrap();
        use std::os::fd::AsRawFd;
        assert!(!raw_hung_up(r.as_raw_fd()));
        drop(w);
        assert!(raw_hung_up(r.as_raw_fd()));
        // SAFETY: fd 1 is refused before anything adopts it.
        assert_eq!(unsafe { take_inherited_fd(1) }.unwrap_err(), Errno::EBADF);
    }

    #[test]
    fn openat2_stays_in_root() {
        use std::os::fd::AsRawFd;
        let dir = std::env::temp_dir().join(format!("nsl-sys-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("inner")).unwrap();
        let _ = std::fs::remove_file(dir.join("inner/up"));
        std::os::unix::fs::symlink("/../../..", dir.join("inner/up")).unwrap();
        let root = std::fs::File::open(&dir).unwrap();
        let fd = openat2(
            root.as_raw_fd(),
            c"inner/up",
            libc::O_PATH | libc::O_DIRECTORY,
            0,
            libc::RESOLVE_IN_ROOT,
        );
        // "/../../.." inside the root is the root itself.
        let fd = fd.expect("openat2 with RESOLVE_IN_ROOT");
        let target = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
        assert_eq!(target, dir.canonicalize().unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
