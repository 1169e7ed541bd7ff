//! Terminals. Which mode a run gets ([`Mode::choose`]), and in pty mode
//! the relay between the caller and the container's own terminal
//! ([`Relay`]): nsinit opens a pseudo-terminal in the container's devpts
//! and sends us its master end over a socket pair (`--console-socket`);
//! we copy the caller's stdin to the master and the master to our stdout,
//! keep the caller's terminal raw while we do (and restore it exactly,
//! whatever ends the run), pass window-size changes on, and turn the
//! command's job-control stops into stops of our own, so that the caller's
//! shell sees one job.
//!
//! Without a pty the container gets our stdin, stdout and stderr as they
//! are, byte for byte; it runs in a session of its own either way, so that
//! it can never reach the caller's terminal as a controlling terminal
//! (TIOCSTI needs that, or CAP_SYS_ADMIN on the host).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::PollFlags;
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};
use nix::unistd::{getpgrp, isatty, read, write};
use shared::spec::ConsoleSize;
use shared::sys::{self, WinSize};

use crate::error::Error;

/// How the container meets the caller's terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    /// The command gets a pseudo-terminal of its own.
    pub pty: bool,
    /// With a pty: our stdin is copied to it. Without one, stdin always
    /// reaches the command as it is.
    pub stdin: bool,
    /// No pty, but we run on a terminal: the keys that signal (`Ctrl-C`,
    /// `Ctrl-Z`, `Ctrl-\`) reach us, and nsinit relays what we relay to the
    /// command's whole process group, as the terminal itself would
    /// (nsinit's --process-group).
    pub group_signals: bool,
}

impl Mode {
    /// `-t`, `-T` and `-i` against what our stdin, stdout and stderr
    /// are (`ttys`): a pty by default when stdin and stdout are terminals
    /// (as if `-t -i`), never with `-T`, always with `-t`. With `-t`, our
    /// stdin is relayed when it is a terminal (nobody who types `-t` on a
    /// terminal wants a shell reading /dev/null) or with `-i`; docker's
    /// meaning of `-t` alone, a terminal without stdin, holds only where
    /// stdin is not a terminal (a script, a pipe).
    pub fn choose(
        tty: bool,
        no_tty: bool,
        interactive: bool,
        ttys: [bool; 3],
    ) -> Result<Mode, Error> {
        let (pty, stdin) = match (tty, no_tty) {
            (true, true) => {
                return Err(Error::Usage(
                    "-t (--tty) and -T (--no-tty) contradict each other".into(),
                ))
            }
            (true, false) => (true, interactive || ttys[0]),
            (false, true) => (false, true),
            (false, false) => (ttys[0] && ttys[1], true),
        };
        Ok(Mode {
            pty,
            stdin,
            group_signals: !pty && ttys.contains(&true),
        })
    }

    /// For our own stdin, stdout and stderr.
    pub fn for_this_process(tty: bool, no_tty: bool, interactive: bool) -> Result<Mode, Error> {
        let ttys = [
            isatty(std::io::stdin()).unwrap_or(false),
            isatty(std::io::stdout()).unwrap_or(false),
            isatty(std::io::stderr()).unwrap_or(false),
        ];
        Mode::choose(tty, no_tty, interactive, ttys)
    }
}

/// The caller's terminal whose window size the container's follows: the
/// first of stdin, stdout and stderr that is a terminal.
fn size_source() -> Option<RawFd> {
    let tty = [
        isatty(std::io::stdin()),
        isatty(std::io::stdout()),
        isatty(std::io::stderr()),
    ];
    (0..3).find(|&fd| tty[fd as usize] == Ok(true))
}

/// The caller's window size now, for nsinit's `--console-size` (none
/// when we have no terminal, or it has no size).
pub fn initial_size() -> Option<ConsoleSize> {
    let ws = sys::window_size(size_source()?).ok()?;
    (ws.rows > 0 || ws.cols > 0).then_some(ConsoleSize {
        rows: ws.rows,
        cols: ws.cols,
    })
}

/// Stop ourselves as Ctrl-Z would (SIGTSTP, so that the caller's shell
/// reports "Stopped"), and return once continued. We keep SIGTSTP blocked
/// for the signalfd, so it is raised, then unblocked just long enough to
/// be delivered. The kernel discards it when our process group is orphaned
/// (no job-control shell above us), and we go on at once.
pub fn stop_self() {
    let mut tstp = SigSet::empty();
    tstp.add(Signal::SIGTSTP);
    let _ = sys::raw_kill(sys::raw_getpid(), libc::SIGTSTP);
    let _ = sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&tstp), None);
    let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&tstp), None);
}

/// One of the descriptors the relay polls, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// The console socket: the master end is coming.
    Socket,
    /// Our stdin has bytes for the container.
    Stdin,
    /// The master has output for us.
    MasterIn,
    /// The master can take more input.
    MasterOut,
    /// Our stdout can take more output.
    Stdout,
}

/// How much we read at a time.
const CHUNK: usize = 16 * 1024;

/// The pty-mode relay. Dropping it restores the caller's terminal.
pub struct Relay {
    /// Our stdin and stdout (close-on-exec copies of fds 0 and 1: the
    /// same open files, whose flags we never change).
    stdin: OwnedFd,
    stdout: OwnedFd,
    /// Our end of the console socket, until the master arrives.
    socket: Option<OwnedFd>,
    /// The container's terminal; `None` before it arrives and once it is
    /// done (every slave closed, or we hung it up).
    master: Option<OwnedFd>,
    /// We still copy stdin to the master (`-i`, not at end of file, and
    /// the run not over).
    stdin_open: bool,
    to_master: Vec<u8>,
    to_stdout: Vec<u8>,
    /// The caller's settings while we keep its terminal raw.
    saved: Option<Termios>,
    /// Our stdin is a terminal (raw mode applies to it).
    stdin_tty: bool,
    /// We are in the foreground of that terminal (always true without
    /// one): only then do we read it or change its settings.
    foreground: bool,
    /// nsinit is gone: read what is left on the master, nothing more.
    finishing: bool,
}

impl Relay {
    pub fn new(socket: OwnedFd, mode: Mode) -> Result<Relay, Error> {
        let copy = |fd: BorrowedFd<'_>, name: &str| {
            fd.try_clone_to_owned()
                .map_err(|e| Error::Usage(format!("duplicate {name}: {e}")))
        };
        let stdin = copy(std::io::stdin().as_fd(), "stdin")?;
        let stdout = copy(std::io::stdout().as_fd(), "stdout")?;
        let stdin_tty = isatty(&stdin).unwrap_or(false);
        let mut relay = Relay {
            stdin,
            stdout,
            socket: Some(socket),
            master: None,
            stdin_open: mode.stdin,
            to_master: Vec::new(),
            to_stdout: Vec::new(),
            saved: None,
            stdin_tty,
            foreground: true,
            finishing: false,
        };
        relay.foreground = relay.in_foreground();
        Ok(relay)
    }

    /// Whether our process group is the foreground of our stdin's
    /// terminal (true when stdin is no terminal).
    fn in_foreground(&self) -> bool {
        if !self.stdin_tty {
            return true;
        }
        sys::raw_tcgetpgrp(self.stdin.as_raw_fd()) == Ok(getpgrp().as_raw())
    }

    /// What to poll now.
    pub fn interests(&self) -> Vec<(BorrowedFd<'_>, PollFlags, Want)> {
        let mut out = Vec::new();
        if let Some(s) = &self.socket {
            out.push((s.as_fd(), PollFlags::POLLIN, Want::Socket));
        }
        if let Some(m) = &self.master {
            if self.to_stdout.is_empty() {
                out.push((m.as_fd(), PollFlags::POLLIN, Want::MasterIn));
            }
            if !self.to_master.is_empty() {
                out.push((m.as_fd(), PollFlags::POLLOUT, Want::MasterOut));
            }
            if self.stdin_open && self.foreground && !self.finishing && self.to_master.is_empty() {
                out.push((self.stdin.as_fd(), PollFlags::POLLIN, Want::Stdin));
            }
        }
        if !self.to_stdout.is_empty() {
            out.push((self.stdout.as_fd(), PollFlags::POLLOUT, Want::Stdout));
        }
        out
    }

    /// Act on a descriptor that poll found ready.
    pub fn ready(&mut self, want: Want) {
        match want {
            Want::Socket => self.receive_master(),
            Want::Stdin => self.read_stdin(),
            Want::MasterIn => self.read_master(),
            Want::MasterOut => self.write_master(),
            Want::Stdout => self.write_stdout(),
        }
    }

    /// While we would relay a terminal we are in the background of, how
    /// soon to look again whether we hold its foreground: a shell's `fg`
    /// of a job that is running (after `bg`, or started with `&`) sends
    /// no signal, so nothing else would tell us. Only then do we wake up
    /// without cause.
    pub fn recheck_in(&self) -> Option<std::time::Duration> {
        let waiting = self.stdin_open
            && self.stdin_tty
            && !self.foreground
            && !self.finishing
            && self.master.is_some();
        waiting.then_some(std::time::Duration::from_millis(200))
    }

    /// Take the terminal over if it became ours (see `recheck_in`).
    pub fn recheck(&mut self) {
        if self.recheck_in().is_some() && self.in_foreground() {
            self.continued();
        }
    }

    /// Whether everything the container wrote has reached our stdout.
    pub fn done(&self) -> bool {
        self.master.is_none() && self.to_stdout.is_empty()
    }

    fn receive_master(&mut self) {
        let Some(socket) = self.socket.take() else {
            return;
        };
        // End of file or an error: nsinit failed before it had a
        // terminal, and its report says why.
        let Ok(Some(master)) = sys::recv_fd(socket.as_raw_fd()) else {
            return;
        };
        // Ours alone (nsinit closed its copy): non-blocking is safe here,
        // unlike on the caller's stdin or stdout.
        let _ = fcntl(&master, FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
        self.master = Some(master);
        self.enter_raw();
        self.sync_size();
    }

    fn read_stdin(&mut self) {
        let mut buf = [0u8; CHUNK];
        match read(&self.stdin, &mut buf) {
            Ok(n) if n > 0 => self.to_master.extend_from_slice(&buf[..n]),
            Err(Errno::EINTR | Errno::EAGAIN) => {}
            // End of file (or a hung-up terminal): we stop reading and
            // send nothing, as docker does; the command sees no end of
            // file on a terminal (docs/USER-GUIDE.md: Terminals).
            _ => self.stdin_open = false,
        }
    }

    fn read_master(&mut self) {
        let Some(master) = &self.master else { return };
        let mut buf = [0u8; CHUNK];
        match read(master, &mut buf) {
            Ok(n) if n > 0 => self.to_stdout.extend_from_slice(&buf[..n]),
            Err(Errno::EINTR | Errno::EAGAIN) => {}
            // EIO: every slave is closed (the container is gone); the
            // kernel hands out everything written before that first.
            _ => self.master = None,
        }
    }

    fn write_master(&mut self) {
        let Some(master) = &self.master else { return };
        match write(master, &self.to_master) {
            Ok(n) => {
                self.to_master.drain(..n);
            }
            Err(Errno::EINTR | Errno::EAGAIN) => {}
            Err(_) => self.to_master.clear(),
        }
    }

    /// Our stdout is the caller's file (never made non-blocking): after
    /// POLLOUT, a write of a page at most does not block on a pipe, and
    /// a terminal takes what it has room for. Written with write(2), not
    /// through Rust's line-buffered stdout.
    fn write_stdout(&mut self) {
        let end = self.to_stdout.len().min(4096);
        match write(&self.stdout, &self.to_stdout[..end]) {
            Ok(n) => {
                self.to_stdout.drain(..n);
            }
            Err(Errno::EINTR | Errno::EAGAIN) => {}
            Err(_) => {
                // Nobody reads our output any more: hang the container's
                // terminal up, as a closed terminal window would (its
                // processes get SIGHUP), and drop what is left.
                self.to_stdout.clear();
                self.master = None;
            }
        }
    }

    /// nsinit has exited: stop reading stdin (what is typed now is for the
    /// caller's shell) and only drain the master.
    pub fn finish(&mut self) {
        self.finishing = true;
        self.socket = None;
        self.to_master.clear();
    }

    /// Flush what is left for stdout, blocking (after the drain).
    pub fn flush(&mut self) {
        sys::raw_write_all(self.stdout.as_raw_fd(), &[&self.to_stdout]);
        self.to_stdout.clear();
    }

    /// SIGWINCH: give the container's terminal the caller's size; the
    /// kernel tells the container's foreground group if it changed.
    pub fn sync_size(&self) {
        let (Some(master), Some(src)) = (&self.master, size_source()) else {
            return;
        };
        let size: Result<WinSize, Errno> = sys::window_size(src);
        if let Ok(ws) = size {
            let _ = sys::set_window_size(master.as_raw_fd(), ws);
        }
    }

    /// Put the caller's terminal in raw mode, saving its settings first,
    /// when we relay it and hold its foreground: every key (Ctrl-C, Ctrl-Z
    /// included) then goes to the container's terminal, which interprets
    /// it for the container.
    fn enter_raw(&mut self) {
        if self.saved.is_some() || !self.stdin_tty || !self.stdin_open || self.master.is_none() {
            return;
        }
        self.foreground = self.in_foreground();
        if !self.foreground {
            return;
        }
        let Ok(saved) = tcgetattr(&self.stdin) else {
            return;
        };
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        if tcsetattr(&self.stdin, SetArg::TCSADRAIN, &raw).is_ok() {
            self.saved = Some(saved);
        }
    }

    /// Give the caller's terminal its settings back exactly (`stty -g`
    /// reads the same before and after). TCSADRAIN: what we wrote goes
    /// out under the raw settings it was written for; keys typed ahead
    /// stay for the caller's shell. SIGTTOU is blocked meanwhile, so that
    /// this never stops us, even from the background.
    pub fn restore(&mut self) {
        let Some(saved) = self.saved.take() else {
            return;
        };
        let mut ttou = SigSet::empty();
        ttou.add(Signal::SIGTTOU);
        let mut old = SigSet::empty();
        let blocked = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&ttou), Some(&mut old)).is_ok();
        let _ = tcsetattr(&self.stdin, SetArg::TCSADRAIN, &saved);
        if blocked {
            let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
        }
    }

    /// The command was stopped from its terminal (Ctrl-Z, or a read from
    /// the background), and nsinit told us: give the caller back its
    /// terminal settings and stop, so that the caller's shell sees a
    /// stopped job. Once continued: raw again if we are in the foreground
    /// (`fg`; after `bg` we leave the terminal alone and only relay
    /// output), the current window size, and SIGCONT to nsinit, which
    /// resumes the command.
    pub fn suspend_as_job(&mut self, init: i32) {
        // What the container's terminal echoed so far (its "^Z") goes
        // out before the caller's shell reports the stop.
        while self.master.is_some() && self.to_stdout.len() < CHUNK {
            let before = self.to_stdout.len();
            self.read_master();
            if self.to_stdout.len() == before {
                break;
            }
        }
        self.flush();
        self.restore();
        stop_self();
        self.continued();
        let _ = sys::raw_kill(init, libc::SIGCONT);
    }

    /// We were continued (SIGCONT): we may be in the foreground again, or
    /// no longer.
    pub fn continued(&mut self) {
        self.foreground = self.in_foreground();
        if self.foreground {
            self.enter_raw();
        }
        self.sync_size();
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.restore();
    }
}

/// The launcher's side of the console socket and the end nsinit gets.
pub struct ConsoleSocket {
    pub ours: OwnedFd,
    pub theirs: OwnedFd,
}

impl ConsoleSocket {
    pub fn new() -> Result<ConsoleSocket, Error> {
        let (ours, theirs) =
            sys::socket_pair().map_err(|e| Error::sys("create the console socket", e))?;
        Ok(ConsoleSocket { ours, theirs })
    }

    pub fn theirs_raw(&self) -> RawFd {
        self.theirs.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pty_by_default_only_on_two_terminals() {
        let m = |t, nt, i, ttys| Mode::choose(t, nt, i, ttys).unwrap();
        let pty = |stdin| Mode {
            pty: true,
            stdin,
            group_signals: false,
        };
        // Neither flag: a pty with stdin when stdin and stdout are
        // terminals, else none; the whole group gets the keyboard's
        // signals when any of the three is a terminal.
        assert_eq!(m(false, false, false, [true, true, false]), pty(true));
        for ttys in [
            [true, false, true],
            [false, true, true],
            [false, false, true],
        ] {
            for i in [false, true] {
                let got = m(false, false, i, ttys);
                assert!(!got.pty && got.stdin && got.group_signals, "{ttys:?}");
            }
        }
        assert!(!m(false, false, false, [false; 3]).group_signals);
        // -T: never a pty.
        let got = m(false, true, true, [true; 3]);
        assert!(!got.pty && got.group_signals);
        // -t: always a pty; stdin with -i, or when stdin is a terminal
        // (an interactive shell works with -t alone); docker's -t without
        // stdin where stdin is not a terminal.
        for ttys in [[true; 3], [true, false, false]] {
            assert_eq!(m(true, false, false, ttys), pty(true));
            assert_eq!(m(true, false, true, ttys), pty(true));
        }
        for ttys in [[false; 3], [false, true, true]] {
            assert_eq!(m(true, false, false, ttys), pty(false));
            assert_eq!(m(true, false, true, ttys), pty(true));
        }
        let e = Mode::choose(true, true, false, [true; 3]).unwrap_err();
        assert!(e.to_string().contains("-T"), "{e}");
    }
}
