//! A pseudo-terminal harness: run a command as the session leader of a new
//! terminal (like a terminal emulator does), type into it, read what it
//! prints.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::pty::{openpty, Winsize};

/// An interactive bash on a new 80x24 terminal, as `who`, with the prompt
/// `prompt$ ` and no rc files: a caller's shell. Returns the terminal and
/// where the screen stands after the first prompt.
pub fn bash(who: &crate::Who) -> (Pty, usize) {
    let mut c = Command::new("bash");
    c.args(["--norc", "--noprofile", "-i"])
        .env("PS1", "prompt$ ");
    let mut p = Pty::spawn(crate::as_who(who, &mut c));
    let at = p.expect_from(0, "prompt$ ", crate::TIMEOUT);
    (p, at)
}

/// Whether two terminal settings are the same, field by field (what
/// `stty -g` prints, and the line discipline).
pub fn same_settings(a: &libc::termios, b: &libc::termios) -> bool {
    a.c_iflag == b.c_iflag
        && a.c_oflag == b.c_oflag
        && a.c_cflag == b.c_cflag
        && a.c_lflag == b.c_lflag
        && a.c_line == b.c_line
        && a.c_cc == b.c_cc
        && a.c_ispeed == b.c_ispeed
        && a.c_ospeed == b.c_ospeed
}

pub struct Pty {
    master: File,
    pub child: Child,
    /// Everything read so far.
    pub screen: String,
}

impl Pty {
    /// Start `cmd` on a new 80x24 terminal as its session leader, with the
    /// terminal as its controlling terminal and stdin/stdout/stderr.
    pub fn spawn(cmd: Command) -> Pty {
        Self::start(cmd, true)
    }

    /// Like `spawn`, but the terminal is not made anyone's controlling
    /// terminal yet: for a command that does it itself (`setsid --ctty`),
    /// as a container runtime does for its init with a terminal.
    pub fn spawn_without_ctty(cmd: Command) -> Pty {
        Self::start(cmd, false)
    }

    fn start(mut cmd: Command, ctty: bool) -> Pty {
        let ws = Winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = openpty(Some(&ws), None).expect("openpty");
        let slave: OwnedFd = pty.slave;
        fcntl(pty.master.as_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).unwrap();
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: between fork and exec only async-signal-safe calls:
        // setsid and ioctl on fd 0 (already the terminal).
        unsafe {
            cmd.pre_exec(move || {
                if libc::setsid() < 0 || (ctty && libc::ioctl(0, libc::TIOCSCTTY, 0) < 0) {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn on a pty");
        Pty {
            master: File::from(pty.master),
            child,
            screen: String::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).expect("write to the pty");
    }

    /// Read until the screen (since `from`) contains `want`; panics with
    /// the screen after `limit`.
    pub fn expect_from(&mut self, from: usize, want: &str, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(i) = self.screen[from.min(self.screen.len())..].find(want) {
                return from + i + want.len();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "never saw {want:?} on the terminal:\n{}",
                self.screen
            );
            let mut fds = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
            let _ = poll(
                &mut fds,
                PollTimeout::try_from(left.as_millis().min(200) as u64).unwrap_or(PollTimeout::MAX),
            );
            let mut buf = [0u8; 4096];
            match self.master.read(&mut buf) {
                Ok(0) => {}
                Ok(n) => self.screen.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }

    pub fn raw_fd(&self) -> i32 {
        self.master.as_raw_fd()
    }

    /// Resize the terminal, as a terminal emulator does when its window
    /// changes: the kernel sends SIGWINCH to the terminal's foreground
    /// process group.
    pub fn resize(&self, rows: u16, cols: u16) {
        let ws = Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize from a valid local.
        let r = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        assert_eq!(r, 0, "TIOCSWINSZ: {}", std::io::Error::last_os_error());
    }

    /// The terminal's settings (those of its slave side, which termios
    /// calls on the master reach).
    pub fn termios(&self) -> libc::termios {
        nix::sys::termios::tcgetattr(self.master.as_fd())
            .expect("tcgetattr on the pty")
            .into()
    }

    /// Whether the screen (since `from`) contains `text`, reading what
    /// arrives for `wait` first.
    pub fn saw_within(&mut self, from: usize, text: &str, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            if self.screen[from.min(self.screen.len())..].contains(text) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let mut fds = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
            let _ = poll(
                &mut fds,
                PollTimeout::try_from(left.as_millis().min(200) as u64).unwrap_or(PollTimeout::MAX),
            );
            let mut buf = [0u8; 4096];
            if let Ok(n) = self.master.read(&mut buf) {
                self.screen.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
