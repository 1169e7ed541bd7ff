//! nsinit's PID-1 loop: one blocking read of a signalfd, nothing else.
//! Every signal is blocked before anything else happens (main), so none is
//! lost or handled by default; the loop reaps on SIGCHLD and forwards the
//! rest to the command. While idle it sleeps in `read`: no periodic
//! wake-ups.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::{getpgid, Pid};
use shared::{exit, signals, sys};

/// How long the other processes get, after the command exits, between
/// SIGTERM and SIGKILL.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// Block every signal (the kernel still delivers SIGKILL, SIGSTOP and
/// faults), so they queue for the signalfd instead.
pub fn block_all_signals() -> Result<(), Errno> {
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::all()), None)
}

/// A close-on-exec signalfd for every signal.
pub fn signal_fd() -> Result<SignalFd, Errno> {
    SignalFd::with_flags(&SigSet::all(), SfdFlags::SFD_CLOEXEC)
}

pub struct Supervisor {
    sfd: SignalFd,
    child: Pid,
    /// PID 1 of a PID namespace: orphans come to us, and `kill(-1)` means
    /// "everything in the container".
    pid1: bool,
    grace: Duration,
    status: Option<i32>,
}

impl Supervisor {
    pub fn new(sfd: SignalFd, child: Pid) -> Self {
        Supervisor {
            sfd,
            child,
            pid1: std::process::id() == 1,
            grace: DEFAULT_GRACE,
            status: None,
        }
    }

    /// Supervise until the command has exited and, as PID 1, until every
    /// other process is gone too. Returns the command's exit status.
    pub fn run(mut self) -> i32 {
        while self.status.is_none() {
            match self.sfd.read_signal() {
                Ok(Some(info)) => self.on_signal(&info),
                Ok(None) | Err(Errno::EINTR) => {}
                // A signalfd that cannot be read is a bug we cannot recover
                // from by looping; fall back to blocking waits.
                Err(_) => self.wait_blocking(),
            }
        }
        if self.pid1 {
            self.drain_namespace();
        }
        self.status.unwrap_or(exit::FAILED)
    }

    fn on_signal(&mut self, info: &libc::signalfd_siginfo) {
        let sig = info.ssi_signo as i32;
        if sig == libc::SIGCHLD {
            self.reap();
        } else {
            self.forward(sig, info.ssi_code);
        }
    }

    /// Relay `sig` to the command, unless the kernel already delivered it
    /// to the command's process group (a terminal's Ctrl-C reaches every
    /// process of the foreground group, us included).
    fn forward(&self, sig: i32, code: i32) {
        if signals::already_delivered_to_group(code) && self.shares_our_group() {
            return;
        }
        let _ = sys::raw_kill(self.child.as_raw(), sig);
    }

    fn shares_our_group(&self) -> bool {
        match (getpgid(Some(self.child)), getpgid(None)) {
            (Ok(theirs), Ok(ours)) => theirs == ours,
            _ => false,
        }
    }

    /// Reap every child that has exited, the command and orphans alike.
    /// Returns false when no children are left.
    fn reap(&mut self) -> bool {
        loop {
            match sys::raw_waitpid(-1, libc::WNOHANG) {
                Ok(Some((pid, status))) => {
                    if pid == self.child.as_raw() {
                        if let Some(code) = exit::from_raw_wait(status) {
                            self.status = Some(code);
                        }
                    }
                }
                Ok(None) => return true,
                Err(_) => return false,
            }
        }
    }

    fn wait_blocking(&mut self) {
        match sys::raw_waitpid(-1, 0) {
            Ok(Some((pid, status))) if pid == self.child.as_raw() => {
                self.status = exit::from_raw_wait(status).or(self.status);
            }
            Ok(_) => {}
            Err(_) => {
                self.status.get_or_insert(exit::FAILED);
            }
        }
    }

    /// The command is gone: ask everything else in the namespace to stop
    /// (SIGTERM), reap it as it goes, and SIGKILL what is left when the
    /// grace period ends or when asked to hurry (SIGINT/SIGTERM/SIGQUIT).
    fn drain_namespace(&mut self) {
        // From PID 1, kill(-1) reaches every other process of the namespace.
        if sys::raw_kill(-1, libc::SIGTERM) == Err(Errno::ESRCH) && !self.reap() {
            return;
        }
        let deadline = Instant::now() + self.grace;
        loop {
            if !self.reap() {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
            let mut fds = [PollFd::new(self.sfd.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, timeout) {
                Ok(0) => break,
                Ok(_) => {
                    if let Ok(Some(info)) = self.sfd.read_signal() {
                        let sig = info.ssi_signo as i32;
                        if [libc::SIGINT, libc::SIGTERM, libc::SIGQUIT].contains(&sig) {
                            break;
                        }
                    }
                }
                Err(Errno::EINTR) => {}
                Err(_) => break,
            }
        }
        let _ = sys::raw_kill(-1, libc::SIGKILL);
        while sys::raw_waitpid(-1, 0).is_ok() {}
    }
}
