//! `exec`: run another process in a running container (podman exec,
//! containerd's exec, kubectl exec through CRI-O).
//!
//! We join the container's user namespace (when it is not ours) and its
//! PID and time namespaces for our children, fork, and the child joins
//! the rest (IPC, UTS, network, cgroup, then mount, which moves it to the
//! container's root) and execs nsinit from its fd: nsinit, with `--oci`
//! and no root to build, applies the process's user, groups,
//! capabilities, working directory and terminal exactly as for a bundle's
//! own process, then execs it in its place. nsinit's report pipe tells a
//! failure (and its end of file, that the process runs).
//!
//! With `--detach` we write the pid file and leave: the process's parent
//! becomes the caller's subreaper (a new conmon per podman exec session,
//! containerd's shim). Without it we relay signals and exit with the
//! process's status, as runc does.

use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signalfd::SignalFd;
use nix::sys::stat::Mode;
use shared::spec::InitArgs;
use shared::sys::{self, CStringArray};

use super::cli::Exec;
use super::config::{self, Proc};
use super::log::OciLog;
use super::state::{Saved, Status, Store};
use crate::error::Error;

/// The namespaces the child joins itself, mount last (it changes the
/// root); user, PID and time are joined before the fork.
const CHILD_JOINS: [(&str, libc::c_int); 5] = [
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("net", libc::CLONE_NEWNET),
    ("cgroup", libc::CLONE_NEWCGROUP),
    ("mnt", libc::CLONE_NEWNS),
];

/// `exec`: run `e`'s process in the running container, detached or in
/// the foreground (then its exit status is ours).
pub fn exec(store: &Store, e: &Exec, log: &mut OciLog) -> Result<i32, Error> {
    let entry = store.lock(&e.id)?;
    let saved = entry.read()?;
    if saved.status(&entry.fifo_path()) == Status::Stopped {
        return Err(Error::Usage(format!(
            "cannot exec in a stopped container {}",
            e.id
        )));
    }
    let process = process_for(e, &saved)?;
    if process.terminal && e.console_socket.is_none() && e.detach {
        return Err(Error::Usage(
            "a terminal for a detached exec needs --console-socket".into(),
        ));
    }
    let ns = Namespaces::open(&saved)?;
    let prepared = Prepared::new(e, &saved, &process, log)?;
    let child = prepared.child(&process, &ns, e.preserve_fds);
    // Signals to relay, blocked before the fork (nsinit blocks all anyway).
    let sfd = if e.detach {
        None
    } else {
        Some(crate::container::block_relayed_signals()?)
    };
    ns.join_for_children()?;
    // SAFETY: nslaunch is single-threaded; the child only makes raw
    // syscalls on what was prepared above, then execs or raw_exits.
    let pid = match unsafe { sys::clone_like_fork(0) } {
        Ok(Some(pid)) => pid,
        Ok(None) => child.run(),
        Err(errno) => return Err(Error::sys("fork the exec'd process", errno)),
    };
    // The rest of what was prepared stays open until we return.
    let Prepared {
        report_r,
        report_w,
        console,
        own_console,
        ..
    } = prepared;
    drop(report_w);
    drop(console);
    drop(entry);
    match sfd {
        None => finish_detached(pid, &report_r, e),
        Some(sfd) => wait_foreground(pid, &sfd, report_r, own_console, e, log),
    }
}

/// Detached: once the process runs (the report pipe's end of file), its
/// pid is the caller's to wait for; a failure is reported instead.
fn finish_detached(pid: i32, report_r: &OwnedFd, e: &Exec) -> Result<i32, Error> {
    if let Some(r) = read_report(report_r) {
        let _ = sys::raw_waitpid(pid, 0);
        return Err(Error::Report(r));
    }
    if let Some(f) = &e.pid_file {
        super::create::write_pid_file(f, pid)?;
    }
    Ok(0)
}

/// In the foreground: relay signals (and the terminal, when it came to
/// us as `own_console`) until the process exits; its status.
fn wait_foreground(
    pid: i32,
    sfd: &SignalFd,
    report_r: OwnedFd,
    own_console: Option<OwnedFd>,
    e: &Exec,
    log: &mut OciLog,
) -> Result<i32, Error> {
    if let Some(f) = &e.pid_file {
        super::create::write_pid_file(f, pid)?;
    }
    log.debug(&format!(
        "exec'd process {pid}: relaying signals until it exits"
    ));
    let mode = crate::tty::Mode {
        pty: own_console.is_some(),
        stdin: true,
        group_signals: false,
    };
    let mut relay = match own_console {
        Some(ours) => Some(crate::tty::Relay::new(ours, mode)?),
        None => None,
    };
    crate::container::relay_and_wait(pid, sfd, report_r, None, relay.as_mut())
}

/// What the exec needs before the fork: nsinit, its command line and
/// environment, and the descriptors it gets.
struct Prepared {
    init: OwnedFd,
    argv: CStringArray,
    envp: CStringArray,
    report_r: OwnedFd,
    report_w: OwnedFd,
    /// The terminal's socket, passed to nsinit.
    console: Option<OwnedFd>,
    /// Our end of it, when the terminal comes to us.
    own_console: Option<OwnedFd>,
    seccomp: Option<OwnedFd>,
    /// The container's `cgroup.procs`, to join.
    cgroup: Option<CString>,
}

impl Prepared {
    fn new(e: &Exec, saved: &Saved, process: &Proc, log: &mut OciLog) -> Result<Prepared, Error> {
        let init_path = crate::find_init(None)?;
        let init = nix::fcntl::open(&init_path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|err| Error::sys(format!("open the init {}", init_path.display()), err))?;
        let (report_r, report_w) = crate::container::pipe()?;
        let (console, own_console) = console_for(e, process)?;
        // The container's filter holds for what is exec'd into it too.
        let profile = config::load(std::path::Path::new(&saved.bundle))
            .ok()
            .and_then(|c| c.seccomp);
        let seccomp = super::create::seccomp_pipe(profile.as_ref(), log)?;
        let mut spec = init_args(
            process,
            e.preserve_fds,
            report_w.as_raw_fd(),
            console.as_ref(),
        );
        spec.seccomp_fd = seccomp.as_ref().map(|f| f.as_raw_fd());
        let argv = CStringArray::new(
            std::iter::once(std::ffi::OsString::from("nsinit"))
                .chain(spec.render())
                .map(std::os::unix::ffi::OsStringExt::into_vec),
        )
        .map_err(|a| Error::Usage(format!("process.args: a NUL byte in {a}")))?;
        let envp = CStringArray::new(process.env.iter().map(String::as_str))
            .map_err(|v| Error::Usage(format!("process.env: a NUL byte in {v}")))?;
        let cgroup = saved
            .cgroup
            .as_ref()
            .and_then(|d| CString::new(format!("{d}/cgroup.procs")).ok());
        Ok(Prepared {
            init,
            argv,
            envp,
            report_r,
            report_w,
            console,
            own_console,
            seccomp,
            cgroup,
        })
    }

    /// What the forked child works from, borrowed from `self`.
    fn child<'a>(&'a self, process: &'a Proc, ns: &'a Namespaces, preserve_fds: u32) -> Child<'a> {
        Child {
            init: &self.init,
            argv: &self.argv,
            envp: &self.envp,
            report_w: &self.report_w,
            console: self.console.as_ref(),
            seccomp: self.seccomp.as_ref(),
            preserve_fds,
            rlimits: &process.rlimits,
            ns,
            cgroup: self.cgroup.as_deref(),
        }
    }
}

/// The terminal's socket for nsinit, and our end when we are to relay
/// it: a terminal goes to the caller's console socket; without one (a
/// foreground exec, as CRI-O's), to us, and we relay it to our stdio as
/// runc does.
fn console_for(e: &Exec, process: &Proc) -> Result<(Option<OwnedFd>, Option<OwnedFd>), Error> {
    Ok(match &e.console_socket {
        Some(path) if process.terminal => (
            Some(
                std::os::unix::net::UnixStream::connect(path)
                    .map(OwnedFd::from)
                    .map_err(|err| {
                        Error::Usage(format!(
                            "--console-socket {path}: {}",
                            crate::error::io_why(&err)
                        ))
                    })?,
            ),
            None,
        ),
        None if process.terminal => {
            let pair = crate::tty::ConsoleSocket::new()?;
            (Some(pair.theirs), Some(pair.ours))
        }
        _ => (None, None),
    })
}

/// The process to run: `--process FILE`, or the container's own process
/// with the command line's changes (runc's rules: `--env` adds, `--cap`
/// adds to every set).
fn process_for(e: &Exec, saved: &Saved) -> Result<Proc, Error> {
    if let Some(file) = &e.process {
        let text = std::fs::read(file).map_err(|err| {
            Error::Usage(format!("--process {file}: {}", crate::error::io_why(&err)))
        })?;
        let p: oci_spec::runtime::Process = serde_json::from_slice(&text)
            .map_err(|err| Error::Usage(format!("--process {file}: {err}")))?;
        let proc = config::read_process(&p, "process")?;
        if proc.args.is_empty() {
            return Err(Error::Usage(format!("--process {file}: args is empty")));
        }
        return Ok(proc);
    }
    let base = config::load(std::path::Path::new(&saved.bundle))
        .map(|c| c.process)
        .unwrap_or_default();
    let mut p = Proc {
        args: e
            .args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        terminal: e.tty,
        rlimits: Vec::new(),
        oom_score_adj: None,
        ..base
    };
    p.env.extend(e.env.iter().cloned());
    if let Some(cwd) = &e.cwd {
        p.cwd = cwd.clone();
    }
    if let Some(user) = &e.user {
        let (u, g) = user.split_once(':').unwrap_or((user, "0"));
        let num = |v: &str| {
            v.parse::<u32>()
                .map_err(|_| Error::Usage(format!("--user {user}: expected UID[:GID], numbers")))
        };
        p.uid = num(u)?;
        p.gid = num(g)?;
    }
    for g in &e.additional_gids {
        p.additional_gids.push(
            g.parse()
                .map_err(|_| Error::Usage(format!("--additional-gids {g}: not a gid")))?,
        );
    }
    if !e.caps.is_empty() {
        let mut sets = p.caps.unwrap_or_default();
        for c in &e.caps {
            let n =
                shared::caps::number(c).map_err(|why| Error::Usage(format!("--cap {c}: {why}")))?;
            sets.bounding = sets.bounding.with(n);
            sets.effective = sets.effective.with(n);
            sets.permitted = sets.permitted.with(n);
            sets.inheritable = sets.inheritable.with(n);
            sets.ambient = sets.ambient.with(n);
        }
        p.caps = Some(sets);
    }
    p.no_new_privs |= e.no_new_privs;
    Ok(p)
}

fn init_args(p: &Proc, preserve_fds: u32, report: i32, console: Option<&OwnedFd>) -> InitArgs {
    InitArgs {
        report_fd: Some(report),
        oci: true,
        user: Some(format!("{}:{}", p.uid, p.gid)),
        groups: Some(
            p.additional_gids
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(","),
        ),
        cap_sets: Some(p.caps.unwrap_or_default()),
        no_new_privileges: p.no_new_privs,
        workdir: Some(p.cwd.clone()),
        umask: p.umask.map(|m| format!("{m:o}")),
        apparmor: p.apparmor.clone(),
        preserve_fds: Some(preserve_fds),
        console_socket: console.map(|c| c.as_raw_fd()),
        console_size: p
            .console_size
            .map(|(rows, cols)| shared::spec::ConsoleSize { rows, cols }),
        command: p.args.iter().map(OsString::from).collect(),
        ..Default::default()
    }
}

/// The container's namespaces that are not already ours, open.
struct Namespaces {
    user: Option<OwnedFd>,
    pid: Option<OwnedFd>,
    time: Option<OwnedFd>,
    rest: Vec<(libc::c_int, OwnedFd)>,
}

impl Namespaces {
    fn open(saved: &Saved) -> Result<Namespaces, Error> {
        // Hold the process by pidfd while its namespace files are opened,
        // then check it is still the container's: a reused pid is never
        // joined.
        let pidfd = sys::pidfd_open(saved.pid).ok();
        let one = |name: &str| -> Result<Option<OwnedFd>, Error> {
            let theirs = format!("/proc/{}/ns/{name}", saved.pid);
            let same = std::fs::read_link(&theirs).ok()
                == std::fs::read_link(format!("/proc/self/ns/{name}")).ok();
            if same {
                return Ok(None);
            }
            match nix::fcntl::open(
                theirs.as_str(),
                OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => Ok(Some(fd)),
                Err(Errno::ENOENT) if name == "time" || name == "cgroup" => Ok(None),
                Err(e) => Err(Error::sys(format!("open {theirs}"), e)),
            }
        };
        let ns = Namespaces {
            user: one("user")?,
            pid: one("pid")?,
            time: one("time")?,
            rest: CHILD_JOINS
                .iter()
                .filter_map(|(name, flag)| one(name).transpose().map(|r| r.map(|fd| (*flag, fd))))
                .collect::<Result<_, _>>()?,
        };
        drop(pidfd);
        if !saved.alive() {
            return Err(Error::Usage(format!(
                "cannot exec in a stopped container {}",
                saved.id
            )));
        }
        Ok(ns)
    }

    /// User (so that we hold its capabilities), then PID and time, which
    /// apply to the children we make from now on.
    fn join_for_children(&self) -> Result<(), Error> {
        for (fd, flag, name) in [
            (&self.user, libc::CLONE_NEWUSER, "user"),
            (&self.pid, libc::CLONE_NEWPID, "PID"),
            (&self.time, libc::CLONE_NEWTIME, "time"),
        ] {
            if let Some(fd) = fd {
                sys::setns(fd, flag)
                    .map_err(|e| Error::sys(format!("join the container's {name} namespace"), e))?;
            }
        }
        Ok(())
    }
}

/// What the forked child needs, prepared before the fork.
struct Child<'a> {
    init: &'a OwnedFd,
    argv: &'a CStringArray,
    envp: &'a CStringArray,
    report_w: &'a OwnedFd,
    console: Option<&'a OwnedFd>,
    seccomp: Option<&'a OwnedFd>,
    preserve_fds: u32,
    rlimits: &'a [(u32, u64, u64)],
    ns: &'a Namespaces,
    cgroup: Option<&'a std::ffi::CStr>,
}

impl Child<'_> {
    /// In the forked child: join, pass the descriptors, exec nsinit. Raw
    /// syscalls only.
    fn run(&self) -> ! {
        let report = self.report_w.as_raw_fd();
        let fail = |what: &[u8], errno: Errno| -> ! {
            sys::raw_write_all(
                report,
                &[b"125\t", what, b": ", errno.desc().as_bytes(), b"\n"],
            );
            sys::raw_exit(shared::exit::FAILED)
        };
        // Not dumpable while nslaunch's code runs in the container's
        // namespaces: nothing there may open our /proc files.
        if let Err(e) = nix::sys::prctl::set_dumpable(false) {
            fail(b"PR_SET_DUMPABLE", e);
        }
        if let Some(path) = self.cgroup {
            let fd = sys::raw_open_write(path);
            if let Ok(fd) = fd {
                sys::raw_write_decimal(fd, sys::raw_getpid());
                // SAFETY: a descriptor this child just opened and owns.
                unsafe { sys::raw_close(fd) };
            }
        }
        for &(resource, soft, hard) in self.rlimits {
            if let Err(e) = sys::prlimit(0, resource, soft, hard) {
                fail(b"set an rlimit of the process", e);
            }
        }
        for (flag, fd) in &self.ns.rest {
            if let Err(e) = sys::setns(fd, *flag) {
                fail(b"join the container's namespaces", e);
            }
        }
        let keep = |fd: i32| sys::raw_set_cloexec(fd, false);
        if sys::raw_cloexec_from(3).is_err()
            || keep(report).is_err()
            || self.console.is_some_and(|c| keep(c.as_raw_fd()).is_err())
            || self.seccomp.is_some_and(|c| keep(c.as_raw_fd()).is_err())
            || (3..3 + self.preserve_fds as i32).any(|fd| keep(fd).is_err())
        {
            fail(b"pass the descriptors to the process", Errno::EBADF);
        }
        let errno = sys::raw_execveat_fd(self.init.as_raw_fd(), self.argv, self.envp);
        fail(b"exec the init", errno)
    }
}

/// nsinit's report: `None` at end of file (the process runs).
fn read_report(fd: &OwnedFd) -> Option<shared::report::Report> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match nix::unistd::read(fd, &mut chunk) {
            Ok(0) => break,
            Ok(n) if buf.len() < 64 * 1024 => buf.extend_from_slice(&chunk[..n]),
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    shared::report::Report::decode(&buf)
}
