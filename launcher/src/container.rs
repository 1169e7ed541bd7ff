//! Starting the container: clone into new namespaces, map ids, release the
//! child to become nsinit (in place, or by exec'ing the executable), then
//! relay signals and wait.
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
//! - `job` (pty mode only): nsinit writes one byte when the command was
//!   stopped from its terminal (Ctrl-Z); we then give the caller's
//!   terminal its settings back and stop too, as the job the caller's
//!   shell knows, and SIGCONT nsinit when continued (`tty::Relay`).
//! - `console` (pty mode only, a socket pair): nsinit sends the master end
//!   of the container's terminal over it (`tty.rs`).
//!
//! The child starts a session of its own (`setsid`) before it execs
//! nsinit: the container never shares the caller's session, so nothing in
//! it can use the caller's terminal as a controlling terminal (TIOCSTI).

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::{pipe2, read, write};
use shared::report::Report;
use shared::sys::{self, CStringArray};
use shared::{exit, signals};

use crate::error::Error;
use crate::sdnotify::Notifier;
use crate::tty::{self, ConsoleSocket, Relay, Want};
use crate::userns::{self, ChildIds, Plan};
use shared::log::Log;

/// Everything the child needs, prepared before `clone`.
pub struct Launch {
    /// The nsinit executable to exec in the child (nslaunch's own binary,
    /// for OCI bundles and `--userns host`); `None`:
    /// the child runs nsinit's code itself, without an exec (see
    /// [`run_init_in_place`]).
    pub init: Option<InitFile>,
    /// `--init PATH`: the init nsinit execs as PID 1 once the container is
    /// built (its fd number is nsinit's `--init-fd`).
    pub pid1_init: Option<InitFile>,
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
    /// Namespaces the child unshares once released, just before it execs
    /// nsinit: time (its bit cannot go through `clone`) and, for OCI
    /// bundles, cgroup (after we placed the child in its cgroup, so that
    /// the container's cgroup is its root).
    pub unshare_after_release: libc::c_int,
    /// Namespaces to join (their `CLONE_NEW*` flag and an open file), user
    /// first: we join them before the clone, so that the new namespaces
    /// belong to a joined user namespace and the child is in a joined PID
    /// namespace (OCI `linux.namespaces` with a `path`).
    pub joins: Vec<(libc::c_int, OwnedFd)>,
    /// The release pipe (read, write): made before argv, since nsinit
    /// keeps its read end as `--sync-fd`.
    pub release: (OwnedFd, OwnedFd),
    /// Set on the child before it is released (OCI `process.rlimits`,
    /// `oomScoreAdj`, the cgroup to join).
    pub before_release: BeforeRelease,
    /// The caller's descriptors 3 to 3+N-1 pass to nsinit (and on to the
    /// command); every other one above 2 is closed at exec.
    pub preserve_fds: u32,
    /// What the child does to its own ids before it execs nsinit.
    pub child_ids: ChildIds,
    /// The job-control pipe (read, write), in pty mode.
    pub job: Option<(OwnedFd, OwnedFd)>,
    /// The console socket, in pty mode.
    pub console: Option<ConsoleSocket>,
    pub tty: tty::Mode,
}

/// What the launcher does to the cloned child before releasing it.
#[derive(Debug, Default)]
pub struct BeforeRelease {
    /// (resource, soft, hard), set with prlimit(2).
    pub rlimits: Vec<(u32, u64, u64)>,
    pub oom_score_adj: Option<i32>,
    /// A cgroup directory whose `cgroup.procs` takes the child.
    pub cgroup: Option<std::path::PathBuf>,
    /// The network helper to start for the child's network namespace;
    /// nsinit is released once it is ready (`network.rs`).
    pub network: Option<crate::network::Helper>,
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

/// A pipe holding `bytes` (a compiled seccomp filter, a few KiB: well
/// within a pipe's buffer), its write end closed: the read end, for
/// nsinit to read to its end.
pub fn program_pipe(bytes: &[u8]) -> Result<OwnedFd, Error> {
    let (r, w) = pipe()?;
    let mut file = std::fs::File::from(w);
    std::io::Write::write_all(&mut file, bytes).map_err(|e| {
        Error::Usage(format!(
            "pass the seccomp filter: {}",
            crate::error::io_why(&e)
        ))
    })?;
    Ok(r)
}

/// A close-on-exec pipe (read, write); made before argv for the pipes
/// whose numbers go into nsinit's argv.
pub fn pipe() -> Result<(OwnedFd, OwnedFd), Error> {
    pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::sys("create a pipe", e))
}

/// Run the container to the end, with the id maps of `ids` (none for
/// `--userns host`); returns the exit status. The plain run is the
/// lifecycle in one process: create, start, wait.
pub fn run(
    launch: Launch,
    ids: Option<&Plan>,
    log: &Log,
    mut notify: Option<Notifier>,
) -> Result<i32, Error> {
    let created = create(launch, ids, log, &mut |_| Ok(()))?;
    if let Some(n) = notify.as_mut() {
        // nsinit has mounted the container's notify socket.
        n.mounted();
    }
    created.start()?;
    created.wait_notify(notify.as_mut(), log)
}

/// A container whose nsinit has set everything up and waits to be
/// started (see `shared::report`'s sync messages).
pub struct Created {
    pub pid: i32,
    /// Our end of the release pipe, nsinit's `--sync-fd`: one byte starts
    /// the command (or, for OCI `create`, lets nsinit go on alone).
    release_w: OwnedFd,
    report_r: OwnedFd,
    sfd: SignalFd,
    job_r: Option<OwnedFd>,
    /// Restores the caller's terminal when dropped, on every way out.
    relay: Option<Relay>,
    /// The network helper: killed and reaped when dropped, once the
    /// container is over (or its creation failed).
    helper: Option<crate::network::Running>,
}

/// Kill and reap the cloned child: a create that fails leaves nothing.
fn abandon(pid: i32) {
    let _ = sys::raw_kill(pid, libc::SIGKILL);
    let _ = sys::raw_waitpid(pid, 0);
}

/// Create the container: clone into its namespaces, write the id maps
/// (`ids`; none for `--userns host`), release the child, and wait until
/// nsinit says the container is set up. `on_hooks` runs when nsinit
/// stops before pivot_root for the OCI hooks (with the child's pid).
pub fn create(
    launch: Launch,
    ids: Option<&Plan>,
    log: &Log,
    on_hooks: &mut dyn FnMut(i32) -> Result<(), Error>,
) -> Result<Created, Error> {
    let sfd = block_relayed_signals()?;
    join_namespaces(&launch.joins)?;
    let pid = spawn(&launch, log)?;
    let Launch {
        report_w,
        report_r,
        pass_fds,
        job,
        console,
        tty: mode,
        release: (release_r, release_w),
        before_release,
        joins,
        ..
    } = launch;
    drop((report_w, pass_fds, release_r, joins));
    let job_r = job.map(|(r, _w)| r);
    // From here on, a failure kills and reaps the child first.
    let relay = console_relay(console, mode).inspect_err(|_| abandon(pid))?;
    let helper = prepare_and_release(pid, ids, &before_release, &release_w, log)
        .inspect_err(|_| abandon(pid))?;
    log.info(format_args!("id maps written; nsinit released"));
    let created = Created {
        pid,
        release_w,
        report_r,
        sfd,
        job_r,
        relay,
        helper,
    };
    match created.wait_created(on_hooks) {
        Ok(()) => {
            log.info(format_args!("the container is set up"));
            Ok(created)
        }
        Err(e) => {
            abandon(pid);
            Err(e)
        }
    }
}

/// Clone into the new namespaces; the child runs [`child`] and never
/// returns. The child's pid.
fn spawn(launch: &Launch, log: &Log) -> Result<i32, Error> {
    let clone_t0 = std::time::Instant::now();
    // SAFETY: nslaunch never starts a thread, and the child (`child`)
    // only makes raw syscalls on what `launch` prepared until it is
    // released, then execs, leaves by raw_exit, or becomes nsinit in
    // place, where allocating is sound because there is no other thread
    // (see its notes and `run_init_in_place`'s).
    let pid = match unsafe { sys::clone_like_fork(launch.namespaces) } {
        Ok(Some(pid)) => pid,
        Ok(None) => child(launch),
        Err(errno) => {
            return Err(Error::Sys {
                op: "create the container's namespaces (clone)".into(),
                errno,
                hint: clone_hint(errno),
            })
        }
    };
    log.info(format_args!(
        "clone into new namespaces ({}): {:.3} ms, the child is {pid}",
        namespace_names(launch.namespaces | launch.unshare_after_release),
        clone_t0.elapsed().as_secs_f64() * 1000.0
    ));
    Ok(pid)
}

/// In pty mode, the relay between the caller's terminal and the
/// container's (nsinit's end of the console socket is closed here).
fn console_relay(console: Option<ConsoleSocket>, mode: tty::Mode) -> Result<Option<Relay>, Error> {
    match console {
        Some(c) => {
            drop(c.theirs);
            Relay::new(c.ours, mode).map(Some)
        }
        None => Ok(None),
    }
}

/// Before the child may go on: its id maps, what `before_release` sets
/// on it, the network helper (started and ready); then release it.
fn prepare_and_release(
    pid: i32,
    ids: Option<&Plan>,
    before_release: &BeforeRelease,
    release_w: &OwnedFd,
    log: &Log,
) -> Result<Option<crate::network::Running>, Error> {
    if let Some(plan) = ids {
        log.step("install the id maps", || userns::install(pid, plan))?;
    }
    apply_before_release(pid, before_release)?;
    let helper = match &before_release.network {
        Some(h) => Some(log.step(
            format!("start {} and wait until it is ready", h.kind.program()),
            || h.start(pid, log),
        )?),
        None => None,
    };
    // Release the child. If this fails, it sees end of file and exits.
    // The pipe stays open while the container runs (module notes).
    if write(release_w, b"x") != Ok(1) {
        return Err(Error::Usage(
            "could not release the container's init".into(),
        ));
    }
    Ok(helper)
}

/// Block the signals we relay (and SIGCHLD) before the child exists, so
/// none arriving during setup is lost: the child inherits the mask and
/// they stay pending across its exec until nsinit reads them. SIGTSTP and
/// SIGCONT too: we stop and continue with the container
/// (`relay_and_wait`). Returns the signalfd that reads them.
pub fn block_relayed_signals() -> Result<SignalFd, Error> {
    let mut mask = SigSet::empty();
    for sig in signals::FORWARDED_BY_LAUNCHER {
        mask.add(Signal::try_from(sig).map_err(|e| Error::sys("signal set", e))?);
    }
    for sig in [Signal::SIGCHLD, Signal::SIGTSTP, Signal::SIGCONT] {
        mask.add(sig);
    }
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)
        .map_err(|e| Error::sys("block signals", e))?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| Error::sys("create a signalfd", e))
}

/// Join the namespaces of an OCI bundle's `path`s, user first (it gives
/// the capabilities to join the others it owns).
fn join_namespaces(joins: &[(libc::c_int, OwnedFd)]) -> Result<(), Error> {
    let mut order: Vec<&(libc::c_int, OwnedFd)> = joins.iter().collect();
    order.sort_by_key(|(flag, _)| *flag != libc::CLONE_NEWUSER);
    for (flag, fd) in order {
        sys::setns(fd, *flag)
            .map_err(|e| Error::sys(format!("join the {} namespace", namespace_names(*flag)), e))?;
    }
    Ok(())
}

/// rlimits, oom_score_adj and the cgroup, set on the child before it is
/// released (it still runs our code and cannot have changed ids).
fn apply_before_release(pid: i32, b: &BeforeRelease) -> Result<(), Error> {
    for &(resource, soft, hard) in &b.rlimits {
        sys::prlimit(pid, resource, soft, hard).map_err(|e| {
            Error::sys(
                format!("set the rlimit {} to {soft}/{hard}", rlimit_name(resource)),
                e,
            )
        })?;
    }
    if let Some(adj) = b.oom_score_adj {
        std::fs::write(format!("/proc/{pid}/oom_score_adj"), adj.to_string()).map_err(|e| {
            Error::Usage(format!(
                "set oom_score_adj {adj}: {}",
                crate::error::io_why(&e)
            ))
        })?;
    }
    if let Some(dir) = &b.cgroup {
        std::fs::write(dir.join("cgroup.procs"), pid.to_string()).map_err(|e| {
            Error::Usage(format!(
                "move the container into the cgroup {}: {}",
                dir.display(),
                crate::error::io_why(&e)
            ))
        })?;
    }
    Ok(())
}

fn rlimit_name(resource: u32) -> String {
    match resource as libc::__rlimit_resource_t {
        libc::RLIMIT_NOFILE => "RLIMIT_NOFILE".into(),
        libc::RLIMIT_NPROC => "RLIMIT_NPROC".into(),
        libc::RLIMIT_CORE => "RLIMIT_CORE".into(),
        other => format!("#{other}"),
    }
}

/// Read one line of nsinit's report pipe.
enum Line {
    /// A sync message (`shared::report::Sync`).
    Sync(shared::report::Sync),
    /// A failure, or end of file (`None`: nothing was said).
    Failed(Option<Report>),
}

fn read_line(fd: &OwnedFd) -> Line {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match read(fd, &mut byte) {
            Ok(1) => {
                line.push(byte[0]);
                if byte[0] == b'\n' || line.len() > 64 * 1024 {
                    break;
                }
            }
            Ok(_) => break,
            Err(Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    match shared::report::Sync::decode(&line) {
        Some(sync) => Line::Sync(sync),
        None if line.is_empty() => Line::Failed(None),
        None => {
            // The rest of the report (a writer may send it in pieces).
            let _ = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
            while read_some(fd, &mut line) {}
            Line::Failed(Report::decode(&line))
        }
    }
}

impl Created {
    /// Wait for nsinit's `created`, running the hooks when it stops for
    /// them.
    fn wait_created(
        &self,
        on_hooks: &mut dyn FnMut(i32) -> Result<(), Error>,
    ) -> Result<(), Error> {
        loop {
            match read_line(&self.report_r) {
                Line::Sync(shared::report::Sync::Created) => return Ok(()),
                Line::Sync(shared::report::Sync::Hooks) => {
                    on_hooks(self.pid)?;
                    self.send(b"h")?;
                }
                Line::Sync(other) => {
                    return Err(Error::Usage(format!(
                        "the container's init said {other:?} before it was set up"
                    )))
                }
                Line::Failed(report) => {
                    let _ = sys::raw_waitpid(self.pid, 0);
                    return Err(match report {
                        Some(r) => Error::Report(r),
                        None => Error::Usage(
                            "the container's init exited during setup without saying why".into(),
                        ),
                    });
                }
            }
        }
    }

    fn send(&self, byte: &[u8; 1]) -> Result<(), Error> {
        match write(&self.release_w, byte) {
            Ok(1) => Ok(()),
            Ok(_) => Err(Error::Usage("the container's init went away".into())),
            Err(e) => Err(Error::sys("signal the container's init", e)),
        }
    }

    /// Start the command (nsinit forks it, or execs it in place).
    pub fn start(&self) -> Result<(), Error> {
        self.send(b"s")
    }

    /// Relay signals and the terminal until the container is over;
    /// returns its exit status.
    pub fn wait(self, log: &Log) -> Result<i32, Error> {
        self.wait_notify(None, log)
    }

    /// [`Created::wait`], relaying systemd's notifications too
    /// (`sdnotify.rs`).
    pub fn wait_notify(self, notify: Option<&mut Notifier>, log: &Log) -> Result<i32, Error> {
        let Created {
            pid,
            release_w,
            report_r,
            sfd,
            job_r,
            mut relay,
            helper,
        } = self;
        let result = relay_and_notify(pid, &sfd, report_r, job_r, relay.as_mut(), notify, log);
        drop(helper);
        match &result {
            Ok(status) => log.info(format_args!("the container ended: status {status}")),
            Err(e) => log.info(format_args!("the container failed: {e}")),
        }
        drop(release_w);
        drop(relay);
        result
    }

    /// OCI `create`: let nsinit go on without us (it stops watching for
    /// our death, then waits for `start` on its FIFO), and wait until it
    /// says so; then we may exit and the container's process is the
    /// caller's (conmon or a shim reaps it).
    pub fn detach(self) -> Result<i32, Error> {
        self.send(b"d")?;
        match read_line(&self.report_r) {
            Line::Sync(shared::report::Sync::Detached) => Ok(self.pid),
            Line::Sync(other) => Err(Error::Usage(format!(
                "the container's init said {other:?} instead of detaching"
            ))),
            Line::Failed(report) => {
                abandon(self.pid);
                Err(match report {
                    Some(r) => Error::Report(r),
                    None => {
                        Error::Usage("the container's init exited before it was started".into())
                    }
                })
            }
        }
    }

    /// Give up on a created container: kill it.
    pub fn kill(self) {
        abandon(self.pid);
    }
}

/// "user, mount, pid, ..." for `--verbose`.
fn namespace_names(flags: libc::c_int) -> String {
    [
        (libc::CLONE_NEWUSER, "user"),
        (libc::CLONE_NEWNS, "mount"),
        (libc::CLONE_NEWPID, "pid"),
        (libc::CLONE_NEWUTS, "uts"),
        (libc::CLONE_NEWIPC, "ipc"),
        (libc::CLONE_NEWNET, "net"),
        (libc::CLONE_NEWCGROUP, "cgroup"),
    ]
    .iter()
    .filter(|(f, _)| flags & f != 0)
    .map(|(_, n)| *n)
    .collect::<Vec<_>>()
    .join(", ")
}

/// An nsinit executable for the child to exec.
pub struct InitFile {
    /// Open with O_PATH; exec'd through the fd, never by path.
    pub fd: OwnedFd,
    /// As found, for messages.
    pub path: String,
    /// Its absolute path, for the child to make a read-only mount of it
    /// (checked to be the same file as `fd`).
    pub cpath: std::ffi::CString,
}

/// The cloned child: still our code, in the new namespaces. Only raw
/// syscalls from here to exec or to [`run_init_in_place`]: no allocation
/// (everything in `launch` was made before the clone), and no return into
/// the parent's frames. Its copy of the release pipe's write end is its
/// own to close. Every function it calls keeps to the same rules.
fn child(launch: &Launch) -> ! {
    let release_r = await_release(launch);
    let report_w = launch.report_w.as_raw_fd();
    if launch.unshare_after_release != 0 {
        if let Err(errno) = sys::raw_unshare(launch.unshare_after_release) {
            let what: &[u8] = if launch.unshare_after_release & libc::CLONE_NEWTIME != 0 {
                b"create a time namespace (--unshare-time)"
            } else {
                b"create a cgroup namespace"
            };
            child_fail(report_w, what, errno);
        }
    }
    // nsinit is exec'd from a read-only mount of its file, so that nothing
    // reaching it through /proc/1/exe can write the host's binary.
    let init = launch.init.as_ref().map(|file| {
        read_only_init(&file.fd, &file.cpath)
            .unwrap_or_else(|errno| child_fail(report_w, b"mount the init read-only", errno))
    });
    // So is the --init init, later, by nsinit: its read-only mount takes
    // the number nsinit was given (`--init-fd`).
    if let Some(file) = &launch.pid1_init {
        let fd = file.fd.as_raw_fd();
        match read_only_init(&file.fd, &file.cpath) {
            Ok(ro) if ro == fd => {}
            Ok(ro) => {
                if let Err(errno) = sys::raw_dup2(ro, fd) {
                    child_fail(report_w, b"pass the init (--init)", errno);
                }
                // SAFETY: `ro` is the tree just made, ours alone.
                unsafe { sys::raw_close(ro) };
            }
            Err(errno) => child_fail(report_w, b"mount the init (--init) read-only", errno),
        }
    }
    if let Err((what, errno)) = become_init(&launch.child_ids) {
        child_fail(report_w, what, errno);
    }
    // A change of ids cleared the parent-death signal: set it again, then
    // make sure the parent did not die before that (it holds the release
    // pipe open while it lives).
    if sys::raw_set_parent_death_signal(libc::SIGKILL).is_err() || sys::raw_hung_up(release_r) {
        sys::raw_exit(exit::FAILED);
    }
    // A session of our own, without a controlling terminal: the caller's
    // terminal is never the container's (see the module's notes).
    if let Err(errno) = nix::unistd::setsid() {
        child_fail(
            report_w,
            b"start a session for the container (setsid)",
            errno,
        );
    }
    pass_descriptors(launch, report_w, release_r);
    let (Some(init), Some(file)) = (init, &launch.init) else {
        run_init_in_place(launch, report_w)
    };
    let errno = sys::raw_execveat_fd(init, &launch.argv, &launch.envp);
    sys::raw_write_all(
        report_w,
        &[
            b"125\texec the init ",
            file.path.as_bytes(),
            b": ",
            errno.desc().as_bytes(),
            b"\n",
        ],
    );
    sys::raw_exit(exit::FAILED)
}

/// In the child, released, with its ids and descriptors as nsinit gets
/// them: become nsinit without an exec. An exec would cost this child
/// a whole process start (on a VM, glibc's start-up alone is 0.3 to 0.6
/// ms: its CPU-feature probing traps to the hypervisor); instead the
/// child makes itself what the exec would have made, and runs nsinit's
/// code, linked into nslaunch, on the same argv and environment:
/// - every descriptor marked close-on-exec is closed (ours: the
///   launcher's ends of the pipes, the rootfs and volume descriptors);
/// - the environment is nsinit's (`envp`), not the caller's;
/// - its name (/proc/1/comm) is `nsinit`; nsinit itself rewrites the
///   command line (/proc/1/cmdline) to `nsinit -- CMD ARGS...`;
/// - signal dispositions need nothing: nslaunch installs no handler
///   (only std's own for SIGSEGV/SIGBUS and its SIG_IGN of SIGPIPE,
///   which nsinit's std runtime would set up the same), and the blocked
///   mask passes through an exec anyway.
///
/// What differs from an exec, on purpose: the memory image is
/// nslaunch's, created in the caller's user namespace, so once nsinit
/// makes itself undumpable (first thing, as it always does) no process
/// of the container, whatever capabilities it holds in the container's
/// user namespace, can ptrace PID 1 or read its memory, environment or
/// /proc/1/exe. nslaunch never starts a thread, so its heap and locks
/// are consistent here and the child may allocate from now on.
fn run_init_in_place(launch: &Launch, report_w: RawFd) -> ! {
    if let Err(errno) = close_cloexec_descriptors() {
        child_fail(report_w, b"close the launcher's descriptors", errno);
    }
    let words = |array: &sys::CStringArray| -> Vec<std::ffi::OsString> {
        use std::os::unix::ffi::OsStringExt;
        array
            .to_vecs()
            .into_iter()
            .map(std::ffi::OsString::from_vec)
            .collect()
    };
    // nsinit's arguments, argv[0] left out.
    let args: Vec<std::ffi::OsString> = words(&launch.argv).into_iter().skip(1).collect();
    replace_environment(&words(&launch.envp));
    scrub_caller_environment();
    // What `ps` shows as the name of PID 1.
    let _ = nix::sys::prctl::set_name(c"nsinit");
    // nsinit leaves by exit; a panic (which aborts in release builds)
    // must not unwind into the launcher's frames, whose destructors are
    // the parent's.
    let _ = std::panic::catch_unwind(move || -> () { nsinit::main_with(args) });
    sys::raw_exit(exit::FAILED)
}

/// Zero the caller's environment strings, which the kernel laid out on
/// our stack at nslaunch's exec (`env_start` to `env_end`): nothing
/// points into them any more (`replace_environment` cleared `environ`),
/// and PID 1 should hold no more of the caller's than it must. Best
/// effort: where /proc cannot tell the area, it stays.
fn scrub_caller_environment() {
    if let Some((start, end)) = sys::own_stat_area(50) {
        // SAFETY: [start, end) is the block of the environment strings the
        // kernel wrote on this process's stack, mapped writable and ours;
        // after clearenv nothing reads it.
        unsafe { std::ptr::write_bytes(start as *mut u8, 0, end - start) };
    }
}

/// Close every descriptor marked close-on-exec, as an exec would.
fn close_cloexec_descriptors() -> Result<(), Errno> {
    let numbers: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    // The directory's own descriptor is closed by now: not open.
    for fd in numbers.into_iter().filter(|&fd| sys::raw_is_cloexec(fd)) {
        // SAFETY: what an exec does to the whole table; the structures
        // owning these numbers are never dropped in this child (it leaves
        // by exit).
        unsafe { sys::raw_close(fd) };
    }
    Ok(())
}

/// Make `env` (`NAME=VALUE` entries) the whole environment, as execve's
/// envp would.
fn replace_environment(env: &[std::ffi::OsString]) {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: one thread (see run_init_in_place), and no pointer into the
    // environment is held anywhere.
    unsafe { libc::clearenv() };
    for entry in env {
        let bytes = entry.as_bytes();
        // nslaunch makes every entry NAME=VALUE with a NAME of its own
        // checking; one that std could not set would not be in `envp`.
        if let Some(eq) = bytes.iter().position(|&b| b == b'=').filter(|&i| i > 0) {
            std::env::set_var(
                std::ffi::OsStr::from_bytes(&bytes[..eq]),
                std::ffi::OsStr::from_bytes(&bytes[eq + 1..]),
            );
        }
    }
}

/// In the child: close our copy of the release pipe's write end, die
/// with the launcher, and wait until the parent releases us (the maps
/// are written). The release pipe's read end. Raw syscalls only.
fn await_release(launch: &Launch) -> RawFd {
    // Our copy of the release pipe's write end: only the parent writes.
    // SAFETY: the fd table is the child's own copy, and this child never
    // drops `launch` (it leaves by exec or raw_exit), so nothing closes
    // the number again.
    unsafe { sys::raw_close(launch.release.1.as_raw_fd()) };
    let release_r = launch.release.0.as_raw_fd();
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
    release_r
}

/// In the child: report `what` failed with `errno` on the report pipe
/// and exit. Raw syscalls only (the message is written in pieces).
fn child_fail(report_w: RawFd, what: &[u8], errno: Errno) -> ! {
    sys::raw_write_all(
        report_w,
        &[b"125\t", what, b": ", errno.desc().as_bytes(), b"\n"],
    );
    sys::raw_exit(exit::FAILED)
}

/// In the child: no descriptor of the caller's but stdin, stdout, stderr
/// and the preserved ones reaches the container; the report, release,
/// job and console fds and the trees go to nsinit on purpose. Raw
/// syscalls only; exits on a failure.
fn pass_descriptors(launch: &Launch, report_w: RawFd, release_r: RawFd) {
    let all_cloexec = sys::raw_cloexec_from(3).is_ok();
    let keep = |fd: Option<RawFd>| fd.map_or(true, |fd| sys::raw_set_cloexec(fd, false).is_ok());
    let job_ok = keep(launch.job.as_ref().map(|(_, w)| w.as_raw_fd()));
    let console_ok = keep(launch.console.as_ref().map(|c| c.theirs_raw()));
    let preserved_ok =
        (3..3 + launch.preserve_fds as i32).all(|fd| sys::raw_set_cloexec(fd, false).is_ok());
    if !all_cloexec
        || sys::raw_set_cloexec(report_w, false).is_err()
        || sys::raw_set_cloexec(release_r, false).is_err()
        || !job_ok
        || !console_ok
        || !preserved_ok
    {
        sys::raw_write_all(report_w, &[b"125\tmark descriptors close-on-exec failed\n"]);
        sys::raw_exit(exit::FAILED);
    }
    let init_fd = launch.pid1_init.as_ref().map(|f| f.fd.as_raw_fd());
    for fd in launch
        .pass_fds
        .iter()
        .map(|fd| fd.as_raw_fd())
        .chain(init_fd)
    {
        if let Err(errno) = sys::raw_set_cloexec(fd, false) {
            child_fail(report_w, b"pass a mount tree to the init", errno);
        }
    }
}

/// A read-only, nosuid, nodev bind mount of the init file open on `init`
/// (detached: it exists only as nsinit's executable), to exec instead of
/// the file itself (CVE-2019-5736: a container process that reaches
/// /proc/1/exe cannot open the host's binary for writing through it).
/// The mount is cloned from `path` looked up in our new mount namespace
/// (the fd names a mount of the caller's, which cannot be cloned from
/// here), and must be the very file open on `init`. Kernels before 5.12
/// lack `mount_setattr`; there the file itself is exec'd and a running
/// binary's ETXTBSY is what protects it. Raw syscalls only.
fn read_only_init(init: &OwnedFd, path: &std::ffi::CStr) -> Result<RawFd, Errno> {
    let tree = match sys::open_tree_clone(path) {
        Ok(tree) => tree,
        Err(Errno::ENOSYS) => return Ok(init.as_raw_fd()),
        Err(e) => return Err(e),
    };
    let (a, b) = (nix::sys::stat::fstat(init)?, nix::sys::stat::fstat(&tree)?);
    if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino) {
        return Err(Errno::ESTALE);
    }
    let attrs = libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV;
    match sys::mount_setattr(tree.as_raw_fd(), false, attrs, 0, None) {
        Ok(()) => Ok(std::os::fd::IntoRawFd::into_raw_fd(tree)),
        Err(Errno::ENOSYS) => Ok(init.as_raw_fd()),
        Err(e) => Err(e),
    }
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

/// How long we keep reading the container's terminal after nsinit exited.
/// Every process of the container is gone by then, so the master reports
/// EIO as soon as its last output is read; this only bounds a terminal
/// that something outside the container holds open.
const DRAIN: Duration = Duration::from_secs(2);

/// Relay signals to nsinit, collect its report, relay the container's
/// terminal (pty mode), and wait for nsinit to exit.
pub(crate) fn relay_and_wait(
    pid: i32,
    sfd: &SignalFd,
    report_r: OwnedFd,
    job_r: Option<OwnedFd>,
    relay: Option<&mut Relay>,
) -> Result<i32, Error> {
    let quiet = Log::new("nslaunch", false);
    relay_and_notify(pid, sfd, report_r, job_r, relay, None, &quiet)
}

/// [`relay_and_wait`], and systemd's notifications (`notify`): the
/// container's socket is one more descriptor in the poll set, and the
/// report pipe's end of file (the command runs) is launcher mode's
/// READY=1.
fn relay_and_notify(
    pid: i32,
    sfd: &SignalFd,
    report_r: OwnedFd,
    job_r: Option<OwnedFd>,
    relay: Option<&mut Relay>,
    notify: Option<&mut Notifier>,
    log: &Log,
) -> Result<i32, Error> {
    let mut w = Waiting {
        pid,
        sfd,
        report: Vec::new(),
        report_r: Some(report_r),
        job_r,
        relay,
        notify,
        status: None,
        deadline: None,
    };
    while !w.over() {
        let ready = w.wait_ready()?;
        w.handle(ready, log);
    }
    w.finish(log)
}

/// The state of [`relay_and_notify`]'s loop.
struct Waiting<'a> {
    /// nsinit.
    pid: i32,
    sfd: &'a SignalFd,
    /// What nsinit reported so far, and the pipe until its end of file.
    report: Vec<u8>,
    report_r: Option<OwnedFd>,
    job_r: Option<OwnedFd>,
    relay: Option<&'a mut Relay>,
    notify: Option<&'a mut Notifier>,
    /// nsinit's exit status, once it is reaped.
    status: Option<i32>,
    /// Until when the terminal is drained after that ([`DRAIN`]).
    deadline: Option<Instant>,
}

/// Which descriptors of the poll set are ready.
struct Ready {
    report: bool,
    job: bool,
    notify: bool,
    relay: Vec<Want>,
}

/// How long one poll may wait: until the drain deadline (`left`, once
/// nsinit is reaped) or the terminal relay's next recheck, whichever
/// comes first; forever when neither is set. At least 1 ms, so that a
/// deadline a few microseconds off is not a busy loop.
fn poll_timeout(left: Option<Duration>, recheck: Option<Duration>) -> PollTimeout {
    let wait = match (left, recheck) {
        (Some(left), r) => Some(r.map_or(left, |r| r.min(left))),
        (None, r) => r,
    };
    match wait {
        Some(w) => PollTimeout::try_from(w.as_millis().max(1) as u64).unwrap_or(PollTimeout::MAX),
        None => PollTimeout::NONE,
    }
}

impl Waiting<'_> {
    /// nsinit is reaped, and the terminal drained (or the drain timed out).
    fn over(&self) -> bool {
        self.status.is_some() && {
            let drained = self.relay.as_ref().map_or(true, |r| r.done());
            drained || self.deadline.is_some_and(|d| Instant::now() >= d)
        }
    }

    /// Poll the signalfd, the report and job pipes, the notify socket
    /// (until nsinit is reaped) and the terminal relay's descriptors.
    fn wait_ready(&self) -> Result<Ready, Error> {
        let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
        let mut fds = vec![PollFd::new(self.sfd.as_fd(), PollFlags::POLLIN)];
        let mut add = |fd, flags| {
            fds.push(PollFd::new(fd, flags));
            fds.len() - 1
        };
        let report_at = self
            .report_r
            .as_ref()
            .map(|r| add(r.as_fd(), PollFlags::POLLIN));
        let job_at = self
            .job_r
            .as_ref()
            .map(|r| add(r.as_fd(), PollFlags::POLLIN));
        // Until nsinit is reaped (what is queued then goes after the loop).
        let notify_at = match (self.notify.as_deref(), self.status) {
            (Some(n), None) => n.fd().map(|fd| add(fd, PollFlags::POLLIN)),
            _ => None,
        };
        let relay_at = fds.len();
        let wants: Vec<Want> = match self.relay.as_deref() {
            Some(r) => r
                .interests()
                .into_iter()
                .map(|(fd, flags, want)| {
                    fds.push(PollFd::new(fd, flags));
                    want
                })
                .collect(),
            None => Vec::new(),
        };
        let left = self
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()));
        let recheck = self.relay.as_deref().and_then(|r| r.recheck_in());
        match poll(&mut fds, poll_timeout(left, recheck)) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(Error::sys("poll", e)),
        }
        Ok(Ready {
            report: report_at.is_some_and(|i| ready(&fds[i])),
            job: job_at.is_some_and(|i| ready(&fds[i])),
            notify: notify_at.is_some_and(|i| ready(&fds[i])),
            relay: wants
                .iter()
                .enumerate()
                .filter(|(i, _)| ready(&fds[relay_at + i]))
                .map(|(_, w)| *w)
                .collect(),
        })
    }

    /// Act on what is ready: the terminal, a stopped job, signals (and
    /// nsinit's exit), notifications, the report.
    fn handle(&mut self, ready: Ready, log: &Log) {
        if let Some(r) = self.relay.as_deref_mut() {
            r.recheck();
            for want in ready.relay {
                r.ready(want);
            }
        }
        if ready.job {
            self.read_job();
        }
        self.read_signals();
        if ready.notify {
            if let Some(n) = self.notify.as_deref_mut() {
                n.drain(log);
            }
        }
        if ready.report {
            self.read_report(log);
        }
    }

    /// nsinit says the command was stopped from its terminal: stop as
    /// its job (pty mode, while nsinit runs).
    fn read_job(&mut self) {
        if let Some(r) = &self.job_r {
            let mut byte = [0u8; 16];
            match read(r, &mut byte) {
                Ok(n) if n > 0 => {
                    if let (Some(relay), None) = (self.relay.as_deref_mut(), self.status) {
                        relay.suspend_as_job(self.pid);
                    }
                }
                Err(Errno::EINTR) => {}
                _ => self.job_r = None,
            }
        }
    }

    /// Relay each signal read to nsinit ([`on_signal`]); on SIGCHLD, reap
    /// it and start the drain.
    fn read_signals(&mut self) {
        while let Ok(Some(info)) = self.sfd.read_signal() {
            let sig = info.ssi_signo as i32;
            if sig == libc::SIGCHLD {
                if self.status.is_some() {
                    continue;
                }
                if let Ok(Some((_, raw))) = sys::raw_waitpid(self.pid, libc::WNOHANG) {
                    self.status = exit::from_raw_wait(raw);
                    if self.status.is_some() {
                        self.deadline = Some(Instant::now() + DRAIN);
                        if let Some(r) = self.relay.as_deref_mut() {
                            r.finish();
                        }
                    }
                }
            } else if self.status.is_some() {
                // nsinit is reaped: its pid may already be someone else's.
            } else {
                on_signal(self.pid, sig, self.relay.as_deref_mut());
            }
        }
    }

    /// Read what nsinit reports; at its end of file with nothing
    /// reported, the command has exec'd.
    fn read_report(&mut self, log: &Log) {
        if let Some(r) = &self.report_r {
            if !read_some(r, &mut self.report) {
                self.report_r = None;
                // End of file and no report: the command has exec'd.
                if let (true, Some(n)) = (self.report.is_empty(), self.notify.as_deref_mut()) {
                    n.command_started(log);
                }
            }
        }
    }

    /// nsinit is gone: the last notifications, the terminal's last
    /// output, the rest of the report; its status, or its report.
    fn finish(mut self, log: &Log) -> Result<i32, Error> {
        if let Some(n) = self.notify {
            // What the container said on its way out (STOPPING=1) is queued
            // already: it still goes.
            n.drain(log);
            log.info(format_args!("NOTIFY_SOCKET: {}", n.summary()));
        }
        if let Some(r) = self.relay {
            r.flush();
        }
        // nsinit is gone; whatever it wrote is in the pipe already.
        if let Some(r) = &self.report_r {
            let _ = nix::fcntl::fcntl(r, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
            while read_some(r, &mut self.report) {}
        }
        match Report::decode(&self.report) {
            Some(r) => Err(Error::Report(r)),
            None => Ok(self.status.unwrap_or(exit::FAILED)),
        }
    }
}

/// A signal for us while nsinit (`init`) runs. The container is never in
/// our process group, so whatever reaches us is relayed, once:
/// - SIGWINCH in pty mode resizes the container's terminal instead (the
///   kernel then signals its foreground group);
/// - SIGTSTP (Ctrl-Z on the caller's terminal without a pty, or a `kill`)
///   goes to nsinit, which stops the command; without a pty we then stop
///   too, so that the caller's shell sees one stopped job. In pty mode we
///   stop when nsinit says the command stopped (the job pipe): a command
///   that ignores SIGTSTP, like an interactive shell, goes on;
/// - SIGCONT (`fg`, `bg`) goes to nsinit, which continues the command,
///   after the relay has taken the caller's terminal back if it is ours.
fn on_signal(init: i32, sig: i32, relay: Option<&mut Relay>) {
    match (sig, relay) {
        (libc::SIGWINCH, Some(r)) => r.sync_size(),
        (libc::SIGTSTP, relay) => {
            let _ = sys::raw_kill(init, sig);
            if relay.is_none() {
                tty::stop_self();
            }
        }
        (libc::SIGCONT, Some(r)) => {
            r.continued();
            let _ = sys::raw_kill(init, sig);
        }
        _ => {
            let _ = sys::raw_kill(init, sig);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_poll_waits_for_the_drain_deadline_or_the_relays_recheck() {
        let ms = Duration::from_millis;
        assert_eq!(poll_timeout(None, None), PollTimeout::NONE);
        assert_eq!(poll_timeout(None, Some(ms(30))), PollTimeout::from(30u16));
        assert_eq!(poll_timeout(Some(ms(500)), None), PollTimeout::from(500u16));
        // Whichever comes first.
        assert_eq!(
            poll_timeout(Some(ms(500)), Some(ms(30))),
            PollTimeout::from(30u16)
        );
        assert_eq!(
            poll_timeout(Some(ms(20)), Some(ms(30))),
            PollTimeout::from(20u16)
        );
        // A deadline that is (nearly) due is not a zero timeout: no busy loop.
        assert_eq!(
            poll_timeout(Some(Duration::ZERO), None),
            PollTimeout::from(1u16)
        );
        assert_eq!(
            poll_timeout(Some(Duration::from_micros(300)), None),
            PollTimeout::from(1u16)
        );
        // Far off: the longest poll the kernel takes.
        assert_eq!(
            poll_timeout(None, Some(Duration::from_secs(1 << 40))),
            PollTimeout::MAX
        );
    }

    /// The child's failure report is written without allocating (it runs
    /// between clone and exec): under the allocation guard, the child
    /// exits with our failure status and the report pipe holds the line.
    #[test]
    fn the_childs_failure_report_does_not_allocate() {
        let (r, w) = pipe().unwrap();
        let w_raw = w.as_raw_fd();
        let child = || -> i32 {
            sys::forbid_alloc();
            child_fail(w_raw, b"pass a mount tree to the init", Errno::EBADF)
        };
        // SAFETY: the child only writes to the pipe made above and exits;
        // under the guard it takes no allocator lock another test thread
        // could hold.
        let code = unsafe { sys::probe_in_child(0, &child) };
        assert_eq!(code, Ok(exit::FAILED));
        drop(w);
        let mut got = Vec::new();
        while read_some(&r, &mut got) {}
        assert_eq!(
            String::from_utf8_lossy(&got),
            format!(
                "125\tpass a mount tree to the init: {}\n",
                Errno::EBADF.desc()
            )
        );
    }
}
