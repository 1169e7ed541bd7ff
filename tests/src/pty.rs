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
}

impl Drop for Pty {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
