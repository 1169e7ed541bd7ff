//! Starting the container: clone into new namespaces, map ids, release the
//! child to exec nsinit, then relay signals and wait.
//!
//! Sync points, each a close-on-exec pipe:
//! - `release`: the child blocks reading it until the parent has written
//!   the id maps (one byte), or exits if the parent died (end of file).
//!   The parent keeps its end open while the container runs: a child that
//!   changed its ids (which clears the parent-death signal) sets the
//!   signal again and then checks, by a hang-up on this pipe, that the
//!   parent did not die in between.
//! - `report`: carries a failure from the container side back to us; its
//!   end of file means the command has exec'd (see `shared::report`).

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::{getpgid, getpgrp, isatty, pipe2, read, tcgetpgrp, tcsetpgrp, write, Pid};
use shared::report::Report;
use shared::sys::{self, CStringArray};
use shared::{exit, signals};

use crate::error::Error;
use crate::userns::{self, ChildIds, Plan};

/// Everything the child needs, prepared before `clone`.
pub struct Launch {
    /// nsinit, open with O_PATH; exec'd through the fd, never by path.
    pub init: OwnedFd,
    pub init_path: String,
    pub argv: CStringArray,
    pub envp: CStringArray,
    /// The report pipe's write end; its number is already in `argv`.
    pub report_w: OwnedFd,
    pub report_r: OwnedFd,
    /// More descriptors nsinit gets on purpose (idmapped trees, named in
    /// `argv`).
    pub pass_fds: Vec<OwnedFd>,
    /// The namespaces to clone into (`clone_flags`).
    pub namespaces: libc::c_int,
    /// What the child does to its own ids before it execs nsinit.
    pub child_ids: ChildIds,
}

/// The namespaces a container gets: mount and PID always, user unless
/// `--userns host`, UTS with `--hostname`.
pub fn clone_flags(user: bool, uts: bool) -> libc::c_int {
    let mut flags = libc::CLONE_NEWNS | libc::CLONE_NEWPID;
    if user {
        flags |= libc::CLONE_NEWUSER;
    }
    if uts {
        flags |= libc::CLONE_NEWUTS;
    }
    flags
}

/// The report pipe, made before argv so its number can be put in argv.
pub fn report_pipe() -> Result<(OwnedFd, OwnedFd), Error> {
    pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::sys("create a pipe", e))
}

/// Run the container to the end, with the id maps of `ids` (none for
/// `--userns host`); returns the exit status.
pub fn run(launch: Launch, ids: Option<&Plan>) -> Result<i32, Error> {
    let (release_r, release_w) =
        pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::sys("create a pipe", e))?;

    // Block the signals we relay (and SIGCHLD) before the child exists, so
    // none arriving during setup is lost: the child inherits the mask and
    // they stay pending across its exec until nsinit reads them.
    let mut mask = SigSet::empty();
    for sig in signals::FORWARDED_BY_LAUNCHER {
        mask.add(Signal::try_from(sig).map_err(|e| Error::sys("signal set", e))?);
    }
    mask.add(Signal::SIGCHLD);
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)
        .map_err(|e| Error::sys("block signals", e))?;
    let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| Error::sys("create a signalfd", e))?;

    let terminal = Terminal::capture();

    let pid = match sys::clone_like_fork(launch.namespaces) {
        Ok(Some(pid)) => pid,
        Ok(None) => child(&launch, release_r.as_raw_fd(), release_w.as_raw_fd()),
        Err(errno) => {
            return Err(Error::Sys {
                op: "create the container's namespaces (clone)".into(),
                errno,
                hint: clone_hint(errno),
            })
        }
    };
    drop(release_r);
    let Launch {
        report_w,
        report_r,
        pass_fds,
        ..
    } = launch;
    drop(report_w);
    drop(pass_fds);

    if let Some(plan) = ids {
        if let Err(e) = userns::install(pid, plan) {
            let _ = sys::raw_kill(pid, libc::SIGKILL);
            let _ = sys::raw_waitpid(pid, 0);
            return Err(e);
        }
    }
    // Release the child. If this fails, it sees end of file and exits.
    // The pipe stays open until we return (see the module's notes).
    if write(&release_w, b"x") != Ok(1) {
        let _ = sys::raw_kill(pid, libc::SIGKILL);
        let _ = sys::raw_waitpid(pid, 0);
        return Err(Error::Usage(
            "could not release the container's init".into(),
        ));
    }

    let result = relay_and_wait(pid, &sfd, report_r);
    drop(release_w);
    terminal.restore();
    result
}

/// The cloned child: still our code, in the new namespaces. Only raw
/// syscalls from here to exec.
fn child(launch: &Launch, release_r: RawFd, release_w: RawFd) -> ! {
    sys::raw_close(release_w);
    // Die with the launcher: if nslaunch is SIGKILLed, nsinit (PID 1) gets
    // SIGKILL and the kernel kills everything else in the namespace.
    if sys::raw_set_parent_death_signal(libc::SIGKILL).is_err() {
        sys::raw_exit(exit::FAILED);
    }
    // Wait until the maps are written. End of file: the parent died or gave
    // up (it reports why); it also covers a death before the prctl above.
    match sys::raw_read_byte(release_r) {
        Ok(true) => {}
        _ => sys::raw_exit(exit::FAILED),
    }
    let report_w = launch.report_w.as_raw_fd();
    let fail = |what: &[u8], errno: Errno| -> ! {
        sys::raw_write_all(
            report_w,
            &[b"125\t", what, b": ", errno.desc().as_bytes(), b"\n"],
        );
        sys::raw_exit(exit::FAILED)
    };
    if let Err((what, errno)) = become_init(&launch.child_ids) {
        fail(what, errno);
    }
    // A change of ids cleared the parent-death signal: set it again, then
    // make sure the parent did not die before that (it holds the release
    // pipe open while it lives).
    if sys::raw_set_parent_death_signal(libc::SIGKILL).is_err() || sys::raw_hung_up(release_r) {
        sys::raw_exit(exit::FAILED);
    }
    // No descriptor of the caller's but stdin, stdout and stderr reaches
    // the container; the report pipe and the trees go to nsinit on purpose.
    if sys::raw_cloexec_from(3).is_err() || sys::raw_set_cloexec(report_w, false).is_err() {
        sys::raw_write_all(report_w, &[b"125\tmark descriptors close-on-exec failed\n"]);
        sys::raw_exit(exit::FAILED);
    }
    for fd in &launch.pass_fds {
        if let Err(errno) = sys::raw_set_cloexec(fd.as_raw_fd(), false) {
            fail(b"pass a mount tree to the init", errno);
        }
    }
    let errno = sys::raw_execveat_fd(launch.init.as_raw_fd(), &launch.argv, &launch.envp);
    sys::raw_write_all(
        report_w,
        &[
            b"125\texec the init ",
            launch.init_path.as_bytes(),
            b": ",
            errno.desc().as_bytes(),
            b"\n",
        ],
    );
    sys::raw_exit(exit::FAILED)
}

/// The child's ids in the new user namespace (see `Plan::child_ids`):
/// raw syscalls only.
fn become_init(ids: &ChildIds) -> Result<(), (&'static [u8], Errno)> {
    if ids.clear_groups {
        sys::raw_setgroups(&[]).map_err(|e| (&b"drop the supplementary groups"[..], e))?;
    }
    if let Some(gid) = ids.gid {
        sys::raw_setresgid(gid).map_err(|e| (&b"switch to the container's root group"[..], e))?;
    }
    if let Some(uid) = ids.uid {
        sys::raw_setresuid(uid).map_err(|e| (&b"switch to the container's root user"[..], e))?;
    }
    if ids.ambient {
        // nsinit runs as a uid other than 0 inside, where execve would
        // drop every capability: make them all ambient, so that nsinit
        // keeps them (it drops them all again for the command).
        let mut caps = sys::raw_capget().map_err(|e| (&b"capget"[..], e))?;
        caps.inheritable = caps.permitted;
        sys::raw_capset(&caps).map_err(|e| (&b"make the capabilities inheritable"[..], e))?;
        for cap in 0..64 {
            if caps.permitted & (1 << cap) != 0 {
                sys::raw_ambient_raise(cap).map_err(|e| (&b"raise ambient capabilities"[..], e))?;
            }
        }
    }
    Ok(())
}

fn clone_hint(errno: Errno) -> Option<&'static str> {
    match errno {
        Errno::EPERM => Some(
            "unprivileged user namespaces look disabled: check sysctl \
             kernel.unprivileged_userns_clone (Debian) and \
             kernel.apparmor_restrict_unprivileged_userns (Ubuntu); inside a \
             container, its seccomp profile may forbid them",
        ),
        Errno::ENOSPC => Some(
            "the namespace limit is reached: check sysctl user.max_user_namespaces, \
             user.max_mnt_namespaces and user.max_pid_namespaces",
        ),
        Errno::EINVAL => {
            Some("this kernel lacks user or PID namespaces (CONFIG_USER_NS, CONFIG_PID_NS)")
        }
        Errno::EUSERS => Some("user namespaces are nested too deep (32 levels at most)"),
        _ => None,
    }
}

/// Relay signals to nsinit, collect its report, and wait for it to exit.
fn relay_and_wait(pid: i32, sfd: &SignalFd, report_r: OwnedFd) -> Result<i32, Error> {
    let mut report = Vec::new();
    let mut report_r = Some(report_r);
    let mut status = None;
    while status.is_none() {
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if let Some(r) = &report_r {
            fds.push(PollFd::new(r.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(Error::sys("poll", e)),
        }
        let report_ready = fds
            .get(1)
            .and_then(|f| f.revents())
            .is_some_and(|r| !r.is_empty());
        drop(fds);
        while let Ok(Some(info)) = sfd.read_signal() {
            let sig = info.ssi_signo as i32;
            if sig == libc::SIGCHLD {
                if let Ok(Some((_, raw))) = sys::raw_waitpid(pid, libc::WNOHANG) {
                    status = exit::from_raw_wait(raw);
                }
            } else if !(signals::already_delivered_to_group(info.ssi_code) && shares_our_group(pid))
            {
                let _ = sys::raw_kill(pid, sig);
            }
        }
        if report_ready {
            if let Some(r) = &report_r {
                if !read_some(r, &mut report) {
                    report_r = None;
                }
            }
        }
    }
    // nsinit is gone; whatever it wrote is in the pipe already.
    if let Some(r) = &report_r {
        let _ = nix::fcntl::fcntl(r, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
        while read_some(r, &mut report) {}
    }
    match Report::decode(&report) {
        Some(r) => Err(Error::Report(r)),
        None => Ok(status.unwrap_or(exit::FAILED)),
    }
}

/// Append what is available; false at end of file or error.
fn read_some(fd: &OwnedFd, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 4096];
    match read(fd, &mut chunk) {
        Ok(0) => false,
        Ok(n) => {
            // A report is one short line; never let a runaway writer grow
            // this without bound.
            if buf.len() < 64 * 1024 {
                buf.extend_from_slice(&chunk[..n]);
            }
            true
        }
        Err(Errno::EINTR) => true,
        Err(_) => false,
    }
}

fn shares_our_group(pid: i32) -> bool {
    getpgid(Some(Pid::from_raw(pid))).is_ok_and(|g| g == getpgrp())
}

/// The caller's terminal, when nslaunch runs in its foreground. An
/// interactive shell in the container takes the foreground for its own
/// jobs and, seeing no parent group in its namespace, cannot hand it back;
/// nslaunch hands it back to its own group when the container ends.
struct Terminal {
    foreground: bool,
}

impl Terminal {
    fn capture() -> Self {
        let stdin = std::io::stdin();
        let foreground = isatty(stdin.as_fd()).unwrap_or(false)
            && tcgetpgrp(stdin.as_fd()).is_ok_and(|g| g == getpgrp());
        Terminal { foreground }
    }

    fn restore(&self) {
        if !self.foreground {
            return;
        }
        let stdin = std::io::stdin();
        if tcgetpgrp(stdin.as_fd()).is_ok_and(|g| g == getpgrp()) {
            return;
        }
        // From a background group tcsetpgrp raises SIGTTOU; block it.
        let mut ttou = SigSet::empty();
        ttou.add(Signal::SIGTTOU);
        let mut old = SigSet::empty();
        if sigprocmask(SigmaskHow::SIG_BLOCK, Some(&ttou), Some(&mut old)).is_ok() {
            let _ = tcsetpgrp(stdin.as_fd(), getpgrp());
            let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
        }
    }
}
