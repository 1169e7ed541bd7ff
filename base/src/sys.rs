//! Raw Linux system calls: the `syscall` instruction and the kernel's own
//! numbers, structures and constants, no C library. Every function here
//! is async-signal-safe and allocation-free, so it may also run in a
//! forked child before `execve`.
//!
//! x86_64 and aarch64 (the generic syscall table): only calls both have
//! (`openat`, `ppoll`, `dup3`, `clone`, ...).

use core::arch::asm;
use core::ffi::CStr;

/// A failed system call's error number (the kernel's positive errno).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    pub const EPERM: Errno = Errno(1);
    pub const ENOENT: Errno = Errno(2);
    pub const ESRCH: Errno = Errno(3);
    pub const EINTR: Errno = Errno(4);
    pub const EIO: Errno = Errno(5);
    pub const EBADF: Errno = Errno(9);
    pub const ECHILD: Errno = Errno(10);
    pub const EAGAIN: Errno = Errno(11);
    pub const ENOMEM: Errno = Errno(12);
    pub const EACCES: Errno = Errno(13);
    pub const ENOTDIR: Errno = Errno(20);
    pub const EISDIR: Errno = Errno(21);
    pub const EINVAL: Errno = Errno(22);
    pub const ENOTTY: Errno = Errno(25);
    pub const ENOSYS: Errno = Errno(38);

    /// The C library's text for the errors an init meets (`strerror`).
    pub fn desc(self) -> &'static str {
        match self.0 {
            1 => "Operation not permitted",
            2 => "No such file or directory",
            3 => "No such process",
            4 => "Interrupted system call",
            5 => "Input/output error",
            6 => "No such device or address",
            7 => "Argument list too long",
            8 => "Exec format error",
            9 => "Bad file descriptor",
            10 => "No child processes",
            11 => "Resource temporarily unavailable",
            12 => "Cannot allocate memory",
            13 => "Permission denied",
            14 => "Bad address",
            16 => "Device or resource busy",
            17 => "File exists",
            19 => "No such device",
            20 => "Not a directory",
            21 => "Is a directory",
            22 => "Invalid argument",
            23 => "Too many open files in system",
            24 => "Too many open files",
            25 => "Inappropriate ioctl for device",
            26 => "Text file busy",
            28 => "No space left on device",
            30 => "Read-only file system",
            32 => "Broken pipe",
            36 => "File name too long",
            38 => "Function not implemented",
            40 => "Too many levels of symbolic links",
            79 => "Can not access a needed shared library",
            80 => "Accessing a corrupted shared library",
            95 => "Operation not supported",
            _ => "Unknown error",
        }
    }
}

pub type Result<T> = core::result::Result<T, Errno>;

#[cfg(target_arch = "x86_64")]
mod nr {
    pub const READ: usize = 0;
    pub const WRITE: usize = 1;
    pub const CLOSE: usize = 3;
    pub const MMAP: usize = 9;
    pub const MUNMAP: usize = 11;
    pub const RT_SIGACTION: usize = 13;
    pub const RT_SIGPROCMASK: usize = 14;
    pub const IOCTL: usize = 16;
    pub const GETPID: usize = 39;
    pub const CLONE: usize = 56;
    pub const EXECVE: usize = 59;
    pub const WAIT4: usize = 61;
    pub const KILL: usize = 62;
    pub const FCNTL: usize = 72;
    pub const CHDIR: usize = 80;
    pub const SETPGID: usize = 109;
    pub const GETPPID: usize = 110;
    pub const GETPGID: usize = 121;
    pub const PRCTL: usize = 157;
    pub const GETDENTS64: usize = 217;
    pub const CLOCK_GETTIME: usize = 228;
    pub const EXIT_GROUP: usize = 231;
    pub const WAITID: usize = 247;
    pub const OPENAT: usize = 257;
    pub const NEWFSTATAT: usize = 262;
    pub const READLINKAT: usize = 267;
    pub const FACCESSAT: usize = 269;
    pub const PPOLL: usize = 271;
    pub const SIGNALFD4: usize = 289;
    pub const DUP3: usize = 292;
    pub const CLOSE_RANGE: usize = 436;
}

#[cfg(target_arch = "aarch64")]
mod nr {
    pub const READ: usize = 63;
    pub const WRITE: usize = 64;
    pub const CLOSE: usize = 57;
    pub const MMAP: usize = 222;
    pub const MUNMAP: usize = 215;
    pub const RT_SIGACTION: usize = 134;
    pub const RT_SIGPROCMASK: usize = 135;
    pub const IOCTL: usize = 29;
    pub const GETPID: usize = 172;
    pub const CLONE: usize = 220;
    pub const EXECVE: usize = 221;
    pub const WAIT4: usize = 260;
    pub const KILL: usize = 129;
    pub const FCNTL: usize = 25;
    pub const CHDIR: usize = 49;
    pub const SETPGID: usize = 154;
    pub const GETPPID: usize = 173;
    pub const GETPGID: usize = 155;
    pub const PRCTL: usize = 167;
    pub const GETDENTS64: usize = 61;
    pub const CLOCK_GETTIME: usize = 113;
    pub const EXIT_GROUP: usize = 94;
    pub const WAITID: usize = 95;
    pub const OPENAT: usize = 56;
    pub const NEWFSTATAT: usize = 79;
    pub const READLINKAT: usize = 78;
    pub const FACCESSAT: usize = 48;
    pub const PPOLL: usize = 73;
    pub const SIGNALFD4: usize = 74;
    pub const DUP3: usize = 24;
    pub const CLOSE_RANGE: usize = 436;
}

/// A system call with up to six arguments; the kernel's raw return value
/// (a negative errno on failure).
///
/// # Safety
/// The arguments must be what the call `n` expects: pointers valid for
/// what the kernel reads or writes through them.
#[cfg(target_arch = "x86_64")]
#[inline]
pub unsafe fn syscall6(n: usize, a: [usize; 6]) -> isize {
    let ret: isize;
    // SAFETY: the caller vouches for the arguments; `syscall` clobbers rcx
    // and r11 only.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") n as isize => ret,
            in("rdi") a[0], in("rsi") a[1], in("rdx") a[2],
            in("r10") a[3], in("r8") a[4], in("r9") a[5],
            lateout("rcx") _, lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// See the x86_64 version.
///
/// # Safety
/// As there.
#[cfg(target_arch = "aarch64")]
#[inline]
pub unsafe fn syscall6(n: usize, a: [usize; 6]) -> isize {
    let ret: isize;
    // SAFETY: as above; `svc 0` with the number in x8.
    unsafe {
        asm!(
            "svc 0",
            in("x8") n,
            inlateout("x0") a[0] as isize => ret,
            in("x1") a[1], in("x2") a[2], in("x3") a[3], in("x4") a[4], in("x5") a[5],
            options(nostack),
        );
    }
    ret
}

/// `syscall6` with fewer arguments, and the result as `Result`.
///
/// # Safety
/// As for [`syscall6`].
#[inline]
pub unsafe fn call(n: usize, args: &[usize]) -> Result<usize> {
    let mut a = [0usize; 6];
    a[..args.len()].copy_from_slice(args);
    // SAFETY: passed on from our caller.
    let r = unsafe { syscall6(n, a) };
    if (-4095..0).contains(&r) {
        Err(Errno(-r as i32))
    } else {
        Ok(r as usize)
    }
}

/// Retry a call while it fails with EINTR.
fn retry(mut f: impl FnMut() -> Result<usize>) -> Result<usize> {
    loop {
        match f() {
            Err(Errno::EINTR) => continue,
            r => return r,
        }
    }
}

pub const AT_FDCWD: i32 = -100;
pub const O_RDONLY: i32 = 0;
pub const O_DIRECTORY: i32 = 0o200000;
pub const O_CLOEXEC: i32 = 0o2000000;
pub const F_GETFD: i32 = 1;
pub const F_SETFD: i32 = 2;
pub const FD_CLOEXEC: i32 = 1;
pub const X_OK: i32 = 1;
pub const AT_EACCESS: i32 = 0x200;
pub const S_IFMT: u32 = 0o170000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFDIR: u32 = 0o040000;

pub const WNOHANG: i32 = 1;
pub const WUNTRACED: i32 = 2;
pub const WEXITED: i32 = 4;
pub const WCONTINUED: i32 = 8;
pub const WNOWAIT: i32 = 0x0100_0000;
const P_ALL: usize = 0;

pub const PR_SET_PDEATHSIG: i32 = 1;
pub const PR_SET_NAME: i32 = 15;
pub const PR_SET_CHILD_SUBREAPER: i32 = 36;
pub const PR_SET_NO_NEW_PRIVS: i32 = 38;

const TCGETS: usize = 0x5401;
const TIOCGPGRP: usize = 0x540F;
const TIOCSPGRP: usize = 0x5410;

pub fn read(fd: i32, buf: &mut [u8]) -> Result<usize> {
    // SAFETY: the kernel writes at most buf.len() bytes into buf.
    retry(|| unsafe {
        call(
            nr::READ,
            &[fd as usize, buf.as_mut_ptr() as usize, buf.len()],
        )
    })
}

pub fn write(fd: i32, buf: &[u8]) -> Result<usize> {
    // SAFETY: the kernel reads buf.len() bytes of buf.
    retry(|| unsafe { call(nr::WRITE, &[fd as usize, buf.as_ptr() as usize, buf.len()]) })
}

/// Write every part, in order, as far as the descriptor takes them; errors
/// are ignored (a report nobody reads is no reason to fail).
pub fn write_all(fd: i32, parts: &[&[u8]]) {
    for part in parts {
        let mut rest = *part;
        while !rest.is_empty() {
            match write(fd, rest) {
                Ok(0) | Err(_) => return,
                Ok(n) => rest = &rest[n..],
            }
        }
    }
}

/// Close a descriptor by number.
///
/// # Safety
/// Nothing else may own `fd` (an owner would later close another file
/// that took its number).
pub unsafe fn close(fd: i32) {
    // SAFETY: plain integer; EINTR still closes on Linux, so no retry.
    let _ = unsafe { call(nr::CLOSE, &[fd as usize]) };
}

/// `openat(AT_FDCWD, path, flags | O_CLOEXEC)`: a new descriptor, which
/// the caller owns (and closes).
pub fn open(path: &CStr, flags: i32) -> Result<i32> {
    // SAFETY: path is NUL-terminated.
    retry(|| unsafe {
        call(
            nr::OPENAT,
            &[
                AT_FDCWD as usize,
                path.as_ptr() as usize,
                (flags | O_CLOEXEC) as usize,
                0,
            ],
        )
    })
    .map(|fd| fd as i32)
}

/// A descriptor that closes when dropped.
pub struct Fd(pub i32);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: we own it.
        unsafe { close(self.0) }
    }
}

/// Read a whole (small, /proc) file: at most `buf.len()` bytes.
pub fn read_file<'a>(path: &CStr, buf: &'a mut [u8]) -> Result<&'a [u8]> {
    let fd = Fd(open(path, O_RDONLY)?);
    let mut len = 0;
    while len < buf.len() {
        match read(fd.0, &mut buf[len..])? {
            0 => break,
            n => len += n,
        }
    }
    Ok(&buf[..len])
}

/// `readlinkat(AT_FDCWD, path)` into `buf`.
pub fn readlink<'a>(path: &CStr, buf: &'a mut [u8]) -> Result<&'a [u8]> {
    // SAFETY: the kernel writes at most buf.len() bytes.
    let n = unsafe {
        call(
            nr::READLINKAT,
            &[
                AT_FDCWD as usize,
                path.as_ptr() as usize,
                buf.as_mut_ptr() as usize,
                buf.len(),
            ],
        )?
    };
    Ok(&buf[..n])
}

/// Call `each` with the name of every entry of the directory open on `fd`
/// (`getdents64`), "." and ".." included.
pub fn each_dir_entry(fd: i32, mut each: impl FnMut(&[u8])) -> Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: the kernel writes at most buf.len() bytes.
        let n = unsafe {
            call(
                nr::GETDENTS64,
                &[fd as usize, buf.as_mut_ptr() as usize, buf.len()],
            )?
        };
        if n == 0 {
            return Ok(());
        }
        let mut at = 0;
        while at + 19 <= n {
            // struct linux_dirent64: ino u64, off i64, reclen u16, type u8,
            // name (NUL-terminated).
            let reclen = u16::from_ne_bytes([buf[at + 16], buf[at + 17]]) as usize;
            if reclen == 0 || at + reclen > n {
                return Err(Errno::EIO);
            }
            let name = &buf[at + 19..at + reclen];
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            each(&name[..end]);
            at += reclen;
        }
    }
}

/// The mode of the file at `path`, following symlinks (`stat`'s st_mode).
pub fn stat_mode(path: &CStr) -> Result<u32> {
    // struct stat is 144 bytes on x86_64 and 128 on aarch64; st_mode is at
    // offset 24 on x86_64 and 16 on aarch64.
    let mut st = [0u64; 18];
    // SAFETY: the buffer is larger than either struct stat.
    unsafe {
        call(
            nr::NEWFSTATAT,
            &[
                AT_FDCWD as usize,
                path.as_ptr() as usize,
                st.as_mut_ptr() as usize,
                0,
            ],
        )?;
    }
    let bytes: &[u8; 144] = {
        // SAFETY: [u64; 18] is 144 bytes of plain data.
        unsafe { &*(st.as_ptr() as *const [u8; 144]) }
    };
    let off = if cfg!(target_arch = "x86_64") { 24 } else { 16 };
    Ok(u32::from_ne_bytes([
        bytes[off],
        bytes[off + 1],
        bytes[off + 2],
        bytes[off + 3],
    ]))
}

/// Whether we may execute `path` (`faccessat(X_OK)` with our effective
/// ids, as `execve` would check).
pub fn can_execute(path: &CStr) -> bool {
    // SAFETY: path is NUL-terminated. The raw syscall has no flags
    // argument: it checks the real ids, as access(2) does.
    unsafe {
        call(
            nr::FACCESSAT,
            &[AT_FDCWD as usize, path.as_ptr() as usize, X_OK as usize],
        )
    }
    .is_ok()
}

pub fn fcntl(fd: i32, cmd: i32, arg: usize) -> Result<usize> {
    // SAFETY: F_GETFD/F_SETFD take integers.
    unsafe { call(nr::FCNTL, &[fd as usize, cmd as usize, arg]) }
}

pub fn fd_is_open(fd: i32) -> bool {
    fcntl(fd, F_GETFD, 0).is_ok()
}

pub fn set_cloexec(fd: i32, on: bool) -> Result<()> {
    fcntl(fd, F_SETFD, if on { FD_CLOEXEC as usize } else { 0 }).map(drop)
}

/// Mark every descriptor from `first` on close-on-exec
/// (`close_range(CLOSE_RANGE_CLOEXEC)`, Linux 5.11; before, one by one up
/// to 65536).
pub fn cloexec_from(first: u32) -> Result<()> {
    const CLOSE_RANGE_CLOEXEC: usize = 1 << 2;
    // SAFETY: plain integers.
    if unsafe {
        call(
            nr::CLOSE_RANGE,
            &[first as usize, u32::MAX as usize, CLOSE_RANGE_CLOEXEC],
        )
    }
    .is_ok()
    {
        return Ok(());
    }
    for fd in first..65536 {
        let _ = set_cloexec(fd as i32, true);
    }
    Ok(())
}

/// `dup2(from, to)` (through `dup3`, which refuses from == to).
pub fn dup2(from: i32, to: i32) -> Result<()> {
    if from == to {
        return set_cloexec(to, false);
    }
    // SAFETY: plain integers.
    retry(|| unsafe { call(nr::DUP3, &[from as usize, to as usize, 0]) }).map(drop)
}

pub fn getpid() -> i32 {
    // SAFETY: no arguments; cannot fail.
    unsafe { syscall6(nr::GETPID, [0; 6]) as i32 }
}

pub fn getppid() -> i32 {
    // SAFETY: no arguments; cannot fail.
    unsafe { syscall6(nr::GETPPID, [0; 6]) as i32 }
}

/// The process group of `pid` (0: ours).
pub fn getpgid(pid: i32) -> Result<i32> {
    // SAFETY: plain integer.
    unsafe { call(nr::GETPGID, &[pid as usize]) }.map(|g| g as i32)
}

pub fn setpgid(pid: i32, pgid: i32) -> Result<()> {
    // SAFETY: plain integers.
    unsafe { call(nr::SETPGID, &[pid as usize, pgid as usize]) }.map(drop)
}

pub fn kill(pid: i32, sig: i32) -> Result<()> {
    // SAFETY: plain integers.
    unsafe { call(nr::KILL, &[pid as isize as usize, sig as usize]) }.map(drop)
}

/// `waitpid(pid, flags)`: `Ok(None)` when WNOHANG found nothing.
pub fn waitpid(pid: i32, flags: i32) -> Result<Option<(i32, i32)>> {
    let mut status: i32 = 0;
    // SAFETY: the kernel writes the status into a valid local.
    let r = retry(|| unsafe {
        call(
            nr::WAIT4,
            &[
                pid as isize as usize,
                &mut status as *mut i32 as usize,
                flags as usize,
                0,
            ],
        )
    })?;
    Ok((r != 0).then_some((r as i32, status)))
}

/// The pid of a child that has exited and not yet been reaped, without
/// reaping it (`waitid(WNOWAIT)`), while its /proc entry can still be read.
pub fn peek_exited_child() -> Option<i32> {
    // siginfo_t is 128 bytes; si_pid is at offset 16 for SIGCHLD.
    let mut info = [0i32; 32];
    // SAFETY: the kernel writes at most 128 bytes into info.
    let r = unsafe {
        call(
            nr::WAITID,
            &[
                P_ALL,
                0,
                info.as_mut_ptr() as usize,
                (WEXITED | WNOHANG | WNOWAIT) as usize,
                0,
            ],
        )
    };
    (r.is_ok() && info[4] > 0).then_some(info[4])
}

/// The kernel's signal set: one bit per signal 1..=64.
const FULL_SET: u64 = !0;
const SIG_SETMASK: usize = 2;

/// Block every signal that can be (the kernel still delivers SIGKILL,
/// SIGSTOP and synchronous faults), the two real-time signals glibc
/// reserves (32 and 33) included: glibc's own `sigprocmask` refuses them,
/// and an init must catch those too.
pub fn block_all_signals() -> Result<()> {
    let set = FULL_SET;
    // SAFETY: `set` is a valid 8-byte kernel sigset.
    unsafe {
        call(
            nr::RT_SIGPROCMASK,
            &[SIG_SETMASK, &set as *const u64 as usize, 0, 8],
        )
    }
    .map(drop)
}

/// A close-on-exec, non-blocking signalfd for every signal.
pub fn signalfd_all() -> Result<i32> {
    const SFD_NONBLOCK: usize = 0o4000;
    let set = FULL_SET;
    // SAFETY: as above; -1 asks for a new descriptor.
    unsafe {
        call(
            nr::SIGNALFD4,
            &[
                usize::MAX,
                &set as *const u64 as usize,
                8,
                O_CLOEXEC as usize | SFD_NONBLOCK,
            ],
        )
    }
    .map(|fd| fd as i32)
}

/// One signal read from a signalfd: its number and `si_code`; `Ok(None)`
/// when none is pending.
pub fn read_signal(sfd: i32) -> Result<Option<(i32, i32)>> {
    // struct signalfd_siginfo: 128 bytes; ssi_signo (u32) at 0, ssi_code
    // (i32) at 8.
    let mut info = [0u32; 32];
    // SAFETY: [u32; 32] is 128 bytes of plain data.
    let bytes = unsafe { core::slice::from_raw_parts_mut(info.as_mut_ptr() as *mut u8, 128) };
    match read(sfd, bytes) {
        Ok(128) => Ok(Some((info[0] as i32, info[2] as i32))),
        Ok(_) => Err(Errno::EIO),
        Err(Errno::EAGAIN) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Default dispositions for every signal and an empty mask: what a
/// freshly started process expects, given right before `execve` (the
/// blocked mask and ignored dispositions survive it; Rust's runtime sets
/// SIGPIPE to SIG_IGN).
pub fn reset_signals() {
    // struct kernel_sigaction: handler, flags, restorer, mask (8 bytes).
    let dfl = [0usize; 4];
    for sig in 1..=64usize {
        if sig != 9 && sig != 19 {
            // SAFETY: a zeroed kernel_sigaction is SIG_DFL.
            let _ = unsafe { call(nr::RT_SIGACTION, &[sig, dfl.as_ptr() as usize, 0, 8]) };
        }
    }
    let empty = 0u64;
    // SAFETY: a valid 8-byte sigset.
    let _ = unsafe {
        call(
            nr::RT_SIGPROCMASK,
            &[SIG_SETMASK, &empty as *const u64 as usize, 0, 8],
        )
    };
}

/// Wait until `fd` is readable or `timeout_ns` (None: forever) passes:
/// whether it is.
pub fn poll_in(fd: i32, timeout_ns: Option<u64>) -> Result<bool> {
    const POLLIN: i16 = 1;
    #[repr(C)]
    struct PollFd {
        fd: i32,
        events: i16,
        revents: i16,
    }
    let mut p = PollFd {
        fd,
        events: POLLIN,
        revents: 0,
    };
    let ts = timeout_ns.map(|ns| [(ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as i64]);
    let ts_ptr = ts.as_ref().map_or(0, |t| t.as_ptr() as usize);
    // SAFETY: one valid pollfd, a valid timespec or NULL, no sigmask.
    let n = unsafe {
        call(
            nr::PPOLL,
            &[&mut p as *mut PollFd as usize, 1, ts_ptr, 0, 8],
        )?
    };
    Ok(n > 0)
}

/// CLOCK_MONOTONIC in nanoseconds.
pub fn monotonic_ns() -> u64 {
    const CLOCK_MONOTONIC: usize = 1;
    let mut ts = [0i64; 2];
    // SAFETY: the kernel writes one timespec.
    let _ = unsafe {
        call(
            nr::CLOCK_GETTIME,
            &[CLOCK_MONOTONIC, ts.as_mut_ptr() as usize],
        )
    };
    ts[0] as u64 * 1_000_000_000 + ts[1] as u64
}

pub fn prctl(option: i32, arg: usize) -> Result<()> {
    // SAFETY: the options used here take an integer.
    unsafe { call(nr::PRCTL, &[option as usize, arg, 0, 0, 0]) }.map(drop)
}

/// Set our name (what `ps` and /proc/self/comm show).
pub fn set_name(name: &CStr) {
    // SAFETY: PR_SET_NAME reads a NUL-terminated string.
    let _ = unsafe {
        call(
            nr::PRCTL,
            &[PR_SET_NAME as usize, name.as_ptr() as usize, 0, 0, 0],
        )
    };
}

pub fn chdir(path: &CStr) -> Result<()> {
    // SAFETY: path is NUL-terminated.
    unsafe { call(nr::CHDIR, &[path.as_ptr() as usize]) }.map(drop)
}

pub fn isatty(fd: i32) -> bool {
    let mut termios = [0u8; 64];
    // SAFETY: TCGETS writes a struct termios (60 bytes) into the buffer.
    unsafe {
        call(
            nr::IOCTL,
            &[fd as usize, TCGETS, termios.as_mut_ptr() as usize],
        )
    }
    .is_ok()
}

pub fn tcgetpgrp(fd: i32) -> Result<i32> {
    let mut pgrp: i32 = 0;
    // SAFETY: TIOCGPGRP writes one pid_t.
    unsafe {
        call(
            nr::IOCTL,
            &[fd as usize, TIOCGPGRP, &mut pgrp as *mut i32 as usize],
        )
    }?;
    Ok(pgrp)
}

pub fn tcsetpgrp(fd: i32, pgrp: i32) -> Result<()> {
    // SAFETY: TIOCSPGRP reads one pid_t.
    unsafe {
        call(
            nr::IOCTL,
            &[fd as usize, TIOCSPGRP, &pgrp as *const i32 as usize],
        )
    }
    .map(drop)
}

/// `fork()`: `clone(SIGCHLD)`. In the child, only raw system calls are
/// safe until `execve` or `exit` (see the caller's notes).
///
/// # Safety
/// The process must be single-threaded, and the child must not touch
/// state another thread could have held (locks, the allocator's, in a
/// program with a C library).
pub unsafe fn fork() -> Result<i32> {
    const SIGCHLD: usize = 17;
    // SAFETY: no new stack, no tid pointers: a fork.
    unsafe { call(nr::CLONE, &[SIGCHLD, 0, 0, 0, 0]) }.map(|pid| pid as i32)
}

/// `execve`; returns only on failure.
///
/// # Safety
/// `argv` and `envp` must be NULL-terminated arrays of pointers to
/// NUL-terminated strings.
pub unsafe fn execve(path: &CStr, argv: *const *const u8, envp: *const *const u8) -> Errno {
    // SAFETY: passed on from our caller.
    match unsafe {
        call(
            nr::EXECVE,
            &[path.as_ptr() as usize, argv as usize, envp as usize],
        )
    } {
        Err(e) => e,
        Ok(_) => Errno::EIO,
    }
}

/// `exit_group`: the whole process ends with `code`.
pub fn exit(code: i32) -> ! {
    loop {
        // SAFETY: never returns.
        unsafe {
            syscall6(nr::EXIT_GROUP, [code as usize, 0, 0, 0, 0, 0]);
        }
    }
}

/// `mmap` of `len` bytes of anonymous, private, read-write memory.
pub fn map_anonymous(len: usize) -> Result<*mut u8> {
    const PROT_READ_WRITE: usize = 3;
    const MAP_PRIVATE_ANONYMOUS: usize = 0x02 | 0x20;
    // SAFETY: a new mapping the kernel places; no memory of ours is touched.
    unsafe {
        call(
            nr::MMAP,
            &[
                0,
                len,
                PROT_READ_WRITE,
                MAP_PRIVATE_ANONYMOUS,
                usize::MAX,
                0,
            ],
        )
    }
    .map(|p| p as *mut u8)
}

/// `munmap`.
///
/// # Safety
/// Nothing may use the memory afterwards.
pub unsafe fn unmap(ptr: *mut u8, len: usize) {
    // SAFETY: passed on from our caller.
    let _ = unsafe { call(nr::MUNMAP, &[ptr as usize, len]) };
}

/// A number as decimal text in `buf` (no allocation: for forked children).
pub fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}
