//! The command's terminal (`--console-socket FD`), as runc's console
//! socket: nsinit opens a new pseudo-terminal on /dev/ptmx (under
//! `--rootfs`, after pivot_root, so it comes from the container's own
//! devpts and is `/dev/pts/0` inside), sends the master end to whoever
//! holds the other end of the unix socket FD (nslaunch, which relays it
//! to the caller's terminal), and keeps the slave:
//!
//! - as its own controlling terminal: nsinit leads the session (nslaunch
//!   started it with `setsid`), and the command runs in a process group
//!   of its own, in the foreground. A group whose parent is in another
//!   session is *orphaned*, and the kernel discards SIGTSTP, SIGTTIN and
//!   SIGTTOU sent to it: had the command a session of its own, Ctrl-Z
//!   would do nothing to a plain command (as under `docker run -it`).
//!   With nsinit as the session leader, the command's group has its
//!   parent in the session, Ctrl-Z stops it, and nsinit sees the stop
//!   (job control, `supervise.rs`);
//! - as nsinit's own stderr (stdin and stdout go to /dev/null), so that
//!   nothing in the container keeps the caller's terminal open: from here
//!   on, its messages (`-v`, `-w`) show on the container's terminal, and
//!   failures still travel in the report pipe;
//! - as the command's stdin, stdout and stderr (stdin /dev/null with
//!   `--null-stdin`).

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use shared::passwd::Identity;
use shared::spec::ConsoleSize;
use shared::sys::{self, WinSize};

use crate::error::Error;
use crate::setup;

/// The command's terminal, once the master is on its way.
pub struct Console {
    /// The slave end: nsinit's controlling terminal and stderr.
    pub slave: OwnedFd,
}

impl Console {
    /// Open the terminal, make it ours, bind it on /dev/console (in a
    /// container), hand the master over `socket`, and move our own stdio
    /// off the caller's files. `who` is the command's user, who gets to
    /// own the terminal as on a login.
    pub fn attach(
        socket: OwnedFd,
        size: Option<ConsoleSize>,
        in_container: bool,
        who: Option<&Identity>,
    ) -> Result<Console, Error> {
        let (master, slave) = open(size)?;
        if in_container {
            setup::bind_console(&slave)?;
        }
        if let Some(who) = who {
            if who.uid != nix::unistd::geteuid().as_raw() {
                // Best effort: the command already has it open; this is
                // for programs that open their terminal again by name.
                let _ =
                    nix::unistd::fchown(&slave, Some(nix::unistd::Uid::from_raw(who.uid)), None);
            }
        }
        lead_session_of(slave.as_raw_fd())?;
        sys::send_fd(socket.as_raw_fd(), master.as_raw_fd())
            .map_err(|e| Error::sys("--console-socket: send the terminal", e))?;
        drop(master);
        drop(socket);
        let null = nix::fcntl::open("/dev/null", OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|e| Error::sys("open /dev/null", e))?;
        for (from, to) in [
            (null.as_raw_fd(), 0),
            (null.as_raw_fd(), 1),
            (slave.as_raw_fd(), 2),
        ] {
            sys::raw_dup2(from, to)
                .map_err(|e| Error::sys("--console-socket: move nsinit's stdio", e))?;
        }
        Ok(Console { slave })
    }

    pub fn fd(&self) -> RawFd {
        self.slave.as_raw_fd()
    }
}

/// A new pseudo-terminal (master, slave) from /dev/ptmx, unlocked, with
/// its window size set before anyone uses it.
fn open(size: Option<ConsoleSize>) -> Result<(OwnedFd, OwnedFd), Error> {
    let what = "--console-socket: open a terminal on /dev/ptmx";
    let master = nix::fcntl::open(
        "/dev/ptmx",
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::sys(what, e))?;
    sys::unlock_pty(master.as_raw_fd()).map_err(|e| Error::sys(what, e))?;
    let slave = open_slave(&master).map_err(|e| Error::sys(what, e))?;
    if let Some(s) = size {
        let ws = WinSize {
            rows: s.rows,
            cols: s.cols,
        };
        sys::set_window_size(master.as_raw_fd(), ws)
            .map_err(|e| Error::sys("--console-size: set the window size", e))?;
    }
    Ok((master, slave))
}

/// The slave, by the master itself (TIOCGPTPEER); before Linux 4.13, by
/// its number in the devpts that /dev/ptmx belongs to (/dev/pts, which
/// is that devpts in a container).
fn open_slave(master: &OwnedFd) -> Result<OwnedFd, Errno> {
    match sys::open_pty_peer(master.as_raw_fd()) {
        Err(Errno::EINVAL | Errno::ENOTTY) => {
            let n = sys::pty_number(master.as_raw_fd())?;
            nix::fcntl::open(
                format!("/dev/pts/{n}").as_str(),
                OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
        }
        other => other,
    }
}

/// Make the terminal our controlling terminal, leading a new session if
/// we do not lead one already (nslaunch's `setsid` made us a leader).
fn lead_session_of(tty: RawFd) -> Result<(), Error> {
    if nix::unistd::getsid(None).map(|p| p.as_raw()) != Ok(sys::raw_getpid()) {
        nix::unistd::setsid().map_err(|e| Error::Sys {
            op: "--console-socket: start a session (setsid)".into(),
            errno: e,
            hint: Some("nsinit must not be a process group leader, or must lead its session"),
        })?;
    }
    sys::raw_set_controlling_terminal(tty).map_err(|e| Error::Sys {
        op: "--console-socket: make the terminal nsinit's controlling terminal".into(),
        errno: e,
        hint: (e == Errno::EPERM).then_some("nsinit's session already has a controlling terminal"),
    })
}
