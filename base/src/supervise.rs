//! nsinit's PID-1 loop: one `poll` on a signalfd, nothing else.
//!
//! Every signal is blocked before anything else happens (main), so none is
//! lost or handled by default; the loop reaps on SIGCHLD and forwards the
//! rest to the command. While the command runs the poll has no timeout: an
//! idle nsinit never wakes. Only a stop in progress sets a deadline: the
//! drain delay after the first SIGTERM (--stop-delay), then, once the stop
//! begins (SIGTERM forwarded, or the command gone while other processes
//! remain), the grace period: every remaining process gets SIGTERM, then,
//! when it ends, SIGKILL; nsinit exits when no child is left, with the
//! command's status.
//!
//! Job control: a stop signal nsinit forwards (SIGTSTP, SIGTTIN, SIGTTOU,
//! or SIGSTOP through a rewrite) stops nsinit too once the command has
//! stopped, so that the shell that started nsinit sees its job stopped;
//! SIGCONT resumes both.

use alloc::collections::BTreeSet;
use alloc::ffi::CString;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::exit;
use crate::log::{say, Log};
use crate::settings::is_stop_signal;
use crate::signals::{
    self, SIGCHLD, SIGCONT, SIGINT, SIGKILL, SIGSTOP, SIGTERM, SIGTSTP, SIGTTIN, SIGTTOU,
};
use crate::supervision::Supervision;
use crate::sys::{self, Fd};
use crate::time::Instant;

/// Where the command lives.
pub struct Command {
    /// Also its process group's id: the command always leads a group of
    /// its own.
    pub pid: i32,
    /// The terminal whose foreground we handed to it: our stdin, or the
    /// `--console-socket` terminal.
    pub tty: Option<i32>,
    /// Where to ask for the job to be stopped (nslaunch's --job-control-fd)
    /// instead of stopping ourselves.
    pub job_fd: Option<i32>,
}

struct Stop {
    deadline: Instant,
    killed: bool,
    /// Processes already sent SIGTERM; one that shows up later (forked or
    /// re-parented to us meanwhile) gets its own when we next look.
    told: BTreeSet<i32>,
}

/// The first SIGTERM, held back for --stop-delay while the command goes on
/// serving.
struct Delay {
    deadline: Instant,
    /// What the command gets when the delay ends: SIGTERM or its rewrite.
    to: i32,
}

/// Job control: the command stopped, and nsinit with it.
#[derive(Default)]
struct Job {
    /// The command is stopped (waitpid's WUNTRACED, until WCONTINUED).
    stopped: bool,
    /// We forwarded a stop signal: stop too once the command has.
    pending: bool,
    /// We stopped with the command (as PID 1: would have): SIGCONT to us
    /// resumes it, by SIGCONT to this pid or -group.
    suspended: Option<i32>,
}

pub struct Supervisor<'a> {
    sfd: Fd,
    cfg: &'a Supervision,
    log: &'a Log,
    cmd: Command,
    /// PID 1 of a PID namespace: orphans come to us, and `kill(-1)` means
    /// "everything in the container".
    pid1: bool,
    status: Option<i32>,
    delay: Option<Delay>,
    stop: Option<Stop>,
    job: Job,
}

impl<'a> Supervisor<'a> {
    pub fn new(sfd: Fd, cmd: Command, cfg: &'a Supervision, log: &'a Log) -> Self {
        Supervisor {
            sfd,
            cfg,
            log,
            cmd,
            pid1: sys::getpid() == 1,
            status: None,
            delay: None,
            stop: None,
            job: Job::default(),
        }
    }

    /// Supervise until the command has exited and no child is left.
    /// Returns nsinit's exit status (the command's, after --success-status).
    pub fn run(mut self) -> i32 {
        loop {
            let children_left = self.reap();
            if self.status.is_some() {
                if self.delay.take().is_some() {
                    self.log
                        .info(format_args!("the command exited during --stop-delay"));
                }
                if !children_left {
                    break;
                }
                if self.stop.is_none() {
                    self.begin_stop("the command exited while other processes remain", 0);
                }
            }
            self.tell_latecomers();
            // Never wake before the deadline (ppoll's timeout is exact).
            let timeout = self.next_deadline().map(|d| {
                let left = d.saturating_duration_since(Instant::now());
                u64::try_from(left.as_nanos()).unwrap_or(u64::MAX).max(1)
            });
            match sys::poll_in(self.sfd.0, timeout) {
                Ok(false) => self.deadline_passed(),
                Ok(true) | Err(sys::Errno::EINTR) => {}
                // A signalfd that cannot be polled: fall back to waiting.
                Err(_) => {
                    let _ = sys::waitpid(-1, 0);
                }
            }
            while let Ok(Some((sig, code))) = sys::read_signal(self.sfd.0) {
                self.on_signal(sig, code);
            }
        }
        self.give_back_terminal();
        let status = self.status.unwrap_or(exit::FAILED);
        let final_status = self.cfg.exit_status(status);
        self.log.info(format_args!(
            "exiting with status {final_status}{}",
            if final_status != status {
                format!(" (the command's {status}, listed in --success-status)")
            } else {
                String::new()
            }
        ));
        final_status
    }

    fn on_signal(&mut self, sig: i32, code: i32) {
        if sig == SIGCHLD {
            return; // reaped at the top of the loop
        }
        if sig == SIGCONT {
            if self.job.suspended.is_some() {
                self.resume_with_command();
                return;
            }
            self.job.pending = false;
        }
        let to = self.cfg.rewrite(sig);
        if to == 0 {
            self.log
                .info(format_args!("dropping {}", signals::name(sig)));
            return;
        }
        if self.status.is_some() {
            // The command is gone; during a stop the others already had
            // their SIGTERM.
            return;
        }
        if sig == SIGTERM {
            self.on_term(to);
            return;
        }
        if sig == SIGINT {
            self.cut_delay_short("SIGINT during --stop-delay");
        }
        // A terminal signal to our whole group reached the command too.
        if !(signals::already_delivered_to_group(code) && self.shares_our_group()) {
            self.send_to_command(to, sig);
        }
        if is_stop_signal(to) {
            self.stop_with_command();
        }
    }

    /// SIGTERM (forwarded as `to`): the stop begins, after --stop-delay
    /// the first time.
    fn on_term(&mut self, to: i32) {
        let delay = self.cfg.stop_delay;
        if self.stop.is_none() && self.delay.is_none() && !delay.is_zero() {
            self.log.info(format_args!(
                "received SIGTERM: forwarding {} in {delay:?} (--stop-delay)",
                signals::name(to)
            ));
            self.delay = Some(Delay {
                deadline: Instant::now() + delay,
                to,
            });
            return;
        }
        if !self.cut_delay_short("a second SIGTERM during --stop-delay") {
            self.begin_stop("received SIGTERM", to);
        }
    }

    /// End a --stop-delay now: the stop begins. Whether one was running.
    fn cut_delay_short(&mut self, why: &str) -> bool {
        let Some(delay) = self.delay.take() else {
            return false;
        };
        self.begin_stop(why, delay.to);
        true
    }

    /// When the poll must wake: the end of --stop-delay or of the grace
    /// period; none while idle.
    fn next_deadline(&self) -> Option<Instant> {
        let delay = self.delay.as_ref().map(|d| d.deadline);
        let grace = self.stop.as_ref().filter(|s| !s.killed).map(|s| s.deadline);
        delay.into_iter().chain(grace).min()
    }

    fn deadline_passed(&mut self) {
        match &self.delay {
            Some(d) if Instant::now() >= d.deadline => {
                let to = d.to;
                self.delay = None;
                self.begin_stop("--stop-delay over", to);
            }
            Some(_) => {}
            None => self.grace_over(),
        }
    }

    /// Where forwarded signals go: the command's group with
    /// --process-group, else the command.
    fn target(&self) -> i32 {
        if self.cfg.process_group {
            -self.cmd.pid
        } else {
            self.cmd.pid
        }
    }

    fn send_to_command(&self, to: i32, received: i32) {
        let target = self.target();
        let _ = sys::kill(target, to);
        // After the kill, and only when asked: naming signals allocates.
        if !self.log.enabled() {
            return;
        }
        if to == received {
            self.log
                .info(format_args!("forwarded {} to {target}", signals::name(to)));
        } else {
            self.log.info(format_args!(
                "forwarded {} as {} to {target}",
                signals::name(received),
                signals::name(to)
            ));
        }
    }

    fn shares_our_group(&self) -> bool {
        match (sys::getpgid(self.cmd.pid), sys::getpgid(0)) {
            (Ok(theirs), Ok(ours)) => theirs == ours,
            _ => false,
        }
    }

    /// Reap every child that has changed state. Returns false when no
    /// children are left.
    fn reap(&mut self) -> bool {
        loop {
            // With --warn-orphans, the exited child named is the one reaped.
            let next = match self.cfg.warn_orphans {
                true => self.warn_about_next_orphan(),
                false => -1,
            };
            let flags = sys::WNOHANG | sys::WUNTRACED | sys::WCONTINUED;
            match sys::waitpid(next, flags) {
                Ok(Some((pid, raw))) if pid == self.cmd.pid => {
                    if let Some(sig) = exit::stopped_by(raw) {
                        self.on_command_stopped(sig);
                    } else if exit::continued(raw) {
                        self.job.stopped = false;
                    } else if let Some(code) = exit::from_raw_wait(raw) {
                        self.on_command_exit(code);
                    }
                }
                Ok(Some((pid, raw))) => {
                    if let Some(code) = exit::from_raw_wait(raw) {
                        self.log.info(format_args!("reaped {pid} (status {code})"));
                    }
                }
                Ok(None) => return true,
                Err(_) => return false,
            }
        }
    }

    /// With --warn-orphans: name the next exited child that is not the
    /// command, while its /proc entry can still be read.
    /// Returns the pid to reap next: that child, or -1 (any) when none has
    /// exited.
    fn warn_about_next_orphan(&self) -> i32 {
        let Some(pid) = sys::peek_exited_child() else {
            return -1;
        };
        if pid != self.cmd.pid {
            let comm = read_proc(&format!("/proc/{pid}/comm")).unwrap_or_default();
            let comm = String::from_utf8_lossy(&comm);
            say(format_args!(
                "nsinit: warning: reaping orphan {pid} ({})",
                comm.trim()
            ));
        }
        pid
    }

    fn on_command_exit(&mut self, code: i32) {
        self.status = Some(code);
        self.log.info(format_args!(
            "the command ({}) exited with status {code}",
            self.cmd.pid
        ));
    }

    /// Start the graceful stop: `to_command` (0: none, the command is gone)
    /// to the command, SIGTERM to every other remaining process, and a
    /// deadline for SIGKILL.
    fn begin_stop(&mut self, why: &str, to_command: i32) {
        if self.stop.is_some() {
            if to_command != 0 {
                self.send_to_command(to_command, SIGTERM);
            }
            return;
        }
        self.log.info(format_args!(
            "stopping ({why}): SIGTERM to every process, SIGKILL after {:?}",
            self.cfg.grace
        ));
        // List the others before the command hears of the stop: once it
        // exits, its children are moving to us and briefly in no list.
        let others = self.others();
        if self.pid1 && (to_command == 0 || to_command == SIGTERM) {
            // kill(-1) from PID 1 reaches every other process of the
            // namespace at once, the command included.
            let _ = sys::kill(-1, SIGTERM);
        } else {
            if to_command != 0 {
                self.send_to_command(to_command, SIGTERM);
            }
            for &pid in &others {
                let _ = sys::kill(pid, SIGTERM);
            }
        }
        self.stop = Some(Stop {
            deadline: Instant::now() + self.cfg.grace,
            killed: false,
            told: others.into_iter().collect(),
        });
        if self.cfg.grace.is_zero() {
            self.grace_over();
        }
    }

    /// During a stop, SIGTERM whatever appeared since it began.
    fn tell_latecomers(&mut self) {
        if !self.stop.as_ref().is_some_and(|s| !s.killed) {
            return;
        }
        let others = self.others();
        let Some(stop) = &mut self.stop else { return };
        for pid in others {
            if stop.told.insert(pid) {
                self.log
                    .info(format_args!("SIGTERM to {pid}, new since the stop began"));
                let _ = sys::kill(pid, SIGTERM);
            }
        }
    }

    fn grace_over(&mut self) {
        let Some(stop) = &mut self.stop else { return };
        if stop.killed {
            return;
        }
        stop.killed = true;
        self.log
            .info(format_args!("grace period over: SIGKILL to what is left"));
        if self.pid1 {
            let _ = sys::kill(-1, SIGKILL);
            return;
        }
        if self.status.is_none() {
            let _ = sys::kill(-self.cmd.pid, SIGKILL);
        }
        for pid in self.others() {
            let _ = sys::kill(pid, SIGKILL);
        }
    }

    /// Every other process we are responsible for: in our PID namespace
    /// (PID 1), or our descendants (a subreaper); never the command (or its
    /// group with --process-group). Needs a /proc of our own namespace;
    /// without one, only what kill(-1) reaches (PID 1) or nothing.
    fn others(&self) -> Vec<i32> {
        let me = sys::getpid();
        let mut link = [0u8; 16];
        let own_proc = sys::readlink(c"/proc/self", &mut link)
            .ok()
            .and_then(parse_pid)
            == Some(me);
        if !own_proc {
            return Vec::new();
        }
        let cmd = self.cmd.pid;
        let skip_group = self.cfg.process_group;
        let keep = |pid: i32| pid != me && pid != cmd && !(skip_group && pgid_of(pid) == Some(cmd));
        if self.pid1 {
            all_pids().into_iter().filter(|&p| keep(p)).collect()
        } else if self.cfg.subreaper {
            descendants(me).into_iter().filter(|&p| keep(p)).collect()
        } else {
            Vec::new()
        }
    }

    /// We forwarded a stop signal: stop too, once the command has (at
    /// once if it already has), as the shell that started us expects of
    /// a job.
    fn stop_with_command(&mut self) {
        if self.job.stopped {
            self.suspend_with_command(self.target());
        } else {
            self.job.pending = true;
        }
    }

    /// The command was stopped. If a terminal did it (Ctrl-Z, or a read
    /// from the background) and we are a job of the caller's shell, or we
    /// forwarded the stop, stop with it so the shell gets its terminal
    /// back; SIGCONT resumes both.
    fn on_command_stopped(&mut self, sig: i32) {
        self.job.stopped = true;
        self.log.info(format_args!(
            "the command was stopped by {}",
            signals::name(sig)
        ));
        let by_terminal = self.cmd.tty.is_some() && [SIGTSTP, SIGTTIN, SIGTTOU].contains(&sig);
        if by_terminal {
            // The terminal stopped the command's whole group.
            self.suspend_with_command(-self.cmd.pid);
        } else if self.job.pending {
            self.suspend_with_command(self.target());
        }
    }

    /// Stop with the stopped command; SIGCONT to us sends SIGCONT to
    /// `resume` (the command or its group).
    fn suspend_with_command(&mut self, resume: i32) {
        self.job.pending = false;
        self.job.suspended = Some(resume);
        self.move_terminal(self.cmd.pid, own_group());
        if let Some(fd) = self.cmd.job_fd {
            // nslaunch owns the job: it stops, and SIGCONTs us when resumed.
            self.log
                .info(format_args!("asking nslaunch to stop the job"));
            sys::write_all(fd, &[b"T"]);
        } else if !self.pid1 {
            self.log
                .info(format_args!("stopping with it (job control)"));
            let _ = sys::kill(sys::getpid(), SIGSTOP);
        } else {
            // The kernel ignores a PID namespace's init's own stop
            // signals; only a SIGSTOP from outside the namespace stops us.
            self.log.info(format_args!(
                "as PID 1, nsinit cannot stop itself: the command stays stopped until SIGCONT"
            ));
        }
    }

    fn resume_with_command(&mut self) {
        let Some(target) = self.job.suspended.take() else {
            return;
        };
        self.job.pending = false;
        // `fg` gave us the foreground: pass it on. After `bg` it is not
        // ours, and the command runs in the background.
        self.move_terminal(own_group(), self.cmd.pid);
        self.log.info(format_args!("resumed: SIGCONT to {target}"));
        let _ = sys::kill(target, SIGCONT);
    }

    /// Hand the terminal's foreground back to our own group once the
    /// command is done, so whoever started us can read it again.
    fn give_back_terminal(&self) {
        self.move_terminal(self.cmd.pid, own_group());
    }

    /// Move the terminal's foreground from group `from` to group `to`, only
    /// if `from` has it: never take a terminal that someone else (the
    /// caller's shell, after `bg`) holds. With SIGTTOU blocked, the kernel
    /// would let us.
    fn move_terminal(&self, from: i32, to: i32) {
        let Some(tty) = self.cmd.tty else { return };
        if sys::tcgetpgrp(tty) == Ok(from) {
            let _ = sys::tcsetpgrp(tty, to);
        }
    }
}

/// Our stdin, when it is a terminal whose foreground group is ours: the
/// command then gets a group of its own and the foreground (job control
/// for an interactive shell), as under `docker run -it`. Under nslaunch
/// nsinit leads a session of its own, without a controlling terminal (or
/// with the `--console-socket` one, handled apart): none to give.
pub fn foreground_terminal() -> Option<i32> {
    if !sys::isatty(0) {
        return None;
    }
    let fg = sys::tcgetpgrp(0).ok()?;
    let ours = sys::getpgid(0).ok()?;
    (ours > 0 && fg == ours).then_some(0)
}

/// Every pid in /proc.
fn all_pids() -> Vec<i32> {
    let mut pids = Vec::new();
    if let Ok(fd) = sys::open(c"/proc", sys::O_RDONLY | sys::O_DIRECTORY) {
        let fd = Fd(fd);
        let _ = sys::each_dir_entry(fd.0, |name| pids.extend(parse_pid(name)));
    }
    pids
}

/// `pid`'s descendants, from /proc/<pid>/task/*/children, recursively.
fn descendants(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        let Ok(dir) = CString::new(format!("/proc/{p}/task")) else {
            continue;
        };
        let Ok(fd) = sys::open(&dir, sys::O_RDONLY | sys::O_DIRECTORY) else {
            continue;
        };
        let fd = Fd(fd);
        let mut tasks = Vec::new();
        let _ = sys::each_dir_entry(fd.0, |name| tasks.extend(parse_pid(name)));
        for t in tasks {
            let children = read_proc(&format!("/proc/{p}/task/{t}/children")).unwrap_or_default();
            for c in children.split(|b| *b == b' ').filter_map(parse_pid) {
                out.push(c);
                todo.push(c);
            }
        }
    }
    out
}

fn pgid_of(pid: i32) -> Option<i32> {
    sys::getpgid(pid).ok()
}

fn own_group() -> i32 {
    sys::getpgid(0).unwrap_or(0)
}

/// A pid written in decimal (a /proc entry's name, a word of a list).
fn parse_pid(text: &[u8]) -> Option<i32> {
    let text = text.trim_ascii();
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    core::str::from_utf8(text).ok()?.parse().ok()
}

/// A whole file of /proc (any length).
fn read_proc(path: &str) -> Option<Vec<u8>> {
    let path = CString::new(path).ok()?;
    let fd = Fd(sys::open(&path, sys::O_RDONLY).ok()?);
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match sys::read(fd.0, &mut buf) {
            Ok(0) => return Some(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_are_decimal_words() {
        assert_eq!(parse_pid(b"123"), Some(123));
        assert_eq!(parse_pid(b" 7\n"), Some(7));
        assert_eq!(parse_pid(b"self"), None);
        assert_eq!(parse_pid(b""), None);
        assert_eq!(parse_pid(b"-1"), None);
        assert_eq!(parse_pid(b"99999999999"), None);
    }

    #[test]
    fn proc_is_read_without_a_c_library() {
        let me = sys::getpid();
        assert!(all_pids().contains(&me));
        let status = read_proc("/proc/self/status").unwrap();
        assert!(status.starts_with(b"Name:"));
        assert_eq!(read_proc("/proc/no-such-file"), None);
        assert_eq!(pgid_of(me), sys::getpgid(0).ok());
    }
}
