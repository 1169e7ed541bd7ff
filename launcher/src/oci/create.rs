//! `create`, `start` and `run`: an OCI bundle through the same container
//! lifecycle as the plain run (`container::create`, then `start`, then
//! `wait` or `detach`). nsinit sets the container up from the bundle's
//! layout (`--oci`) and, once started, execs the bundle's process in its
//! own place: that process is the container's first, as the runtime spec
//! says; an engine that wants an init asks for one (podman `--init`).
//!
//! `create` returns once everything is set up and the process waits on
//! the container's start FIFO; the pid file and the state hold its host
//! pid, and no process of ours stays behind: its parent becomes the
//! caller's subreaper (conmon, containerd's shim), which waits for it.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use shared::log::Log;
use shared::spec::InitArgs;
use shared::sys::CStringArray;

use super::cli::Create;
use super::config::{self, Config};
use super::log::OciLog;
use super::state::{self, Entry, Saved, Status, Store};
use super::{cgroup, hooks, verbs};
use crate::container::{self, BeforeRelease, Launch};
use crate::error::Error;
use crate::{tty, userns};

/// What `create` and `run` make of a bundle, before the clone.
struct Prepared {
    launch: Launch,
    ids: Option<userns::Plan>,
    cfg: Config,
    cgroup: Option<PathBuf>,
}

/// `create`: returns once the container waits for `start`.
pub fn create(store: &Store, c: &Create, log: &mut OciLog) -> Result<i32, Error> {
    let entry = store.create(&c.id)?;
    let result = create_in(&entry, c, log, false);
    if result.is_err() {
        let _ = entry.remove();
    }
    result
}

/// `run`: create, start and wait, in the foreground; the exit status is
/// the container's.
pub fn run(store: &Store, c: &Create, log: &mut OciLog) -> Result<i32, Error> {
    let entry = store.create(&c.id)?;
    let result = create_in(&entry, c, log, true);
    let _ = entry.remove();
    result
}

/// `create` (`run`: and start and wait) in the state entry `entry`.
fn create_in(entry: &Entry, c: &Create, log: &mut OciLog, run: bool) -> Result<i32, Error> {
    let bundle = absolute(c.bundle.as_deref().unwrap_or("."), "--bundle")?;
    let cfg = config::load(&bundle)?;
    for note in &cfg.notes {
        log.debug(note);
    }
    let fifo = if run {
        None
    } else {
        Some(state::make_fifo(entry)?)
    };
    let Prepared {
        launch,
        ids,
        cfg,
        cgroup,
    } = prepare(entry, c, cfg, fifo, log)?;
    let quiet = Log::new("nslaunch", false);
    let mut saved = saved_state(
        &entry.id,
        &bundle,
        &cfg,
        cgroup.as_deref(),
        nix::unistd::geteuid().as_raw(),
        state::now_rfc3339(),
    );
    let hooks = cfg.hooks.clone();
    let mut on_hooks = |pid: i32| create_hooks(&hooks, &saved, pid);
    let created = container::create(launch, ids.as_ref(), &quiet, &mut on_hooks)?;
    if let Err(e) = record(entry, c, &mut saved, created.pid) {
        created.kill();
        return Err(e);
    }
    if run {
        created.start()?;
        run_poststart(&saved, log);
        return created.wait(&quiet);
    }
    created.detach()?;
    Ok(0)
}

/// The state of the container `id` about to be created (no pid yet),
/// made by `owner` at `created`.
fn saved_state(
    id: &str,
    bundle: &Path,
    cfg: &Config,
    cgroup: Option<&Path>,
    owner: u32,
    created: String,
) -> Saved {
    Saved {
        oci_version: state::OCI_VERSION.into(),
        id: id.to_string(),
        pid: 0,
        bundle: bundle.to_string_lossy().into_owned(),
        rootfs: cfg.rootfs.to_string_lossy().into_owned(),
        created,
        annotations: cfg.annotations.clone(),
        owner,
        start_time: 0,
        own_pid_ns: cfg.new_namespaces & libc::CLONE_NEWPID != 0,
        hooks: Some(cfg.hooks.clone()),
        cgroup: cgroup.map(|p| p.to_string_lossy().into_owned()),
    }
}

/// The prestart, createRuntime and createContainer hooks, once the
/// container's process `pid` exists (the last in its namespaces).
fn create_hooks(hooks: &oci_spec::runtime::Hooks, saved: &Saved, pid: i32) -> Result<(), Error> {
    let mut s = saved.clone();
    s.pid = pid;
    let state = creating_state(&s);
    hooks::run(
        "prestart",
        hooks.prestart().as_deref().unwrap_or(&[]),
        &state,
        None,
    )?;
    hooks::run(
        "createRuntime",
        hooks.create_runtime().as_deref().unwrap_or(&[]),
        &state,
        None,
    )?;
    hooks::run(
        "createContainer",
        hooks.create_container().as_deref().unwrap_or(&[]),
        &state,
        Some(pid),
    )
}

/// Record the created container's process `pid` and its start time in
/// `saved` and the state entry, and in `--pid-file`; an error when it
/// died already or either cannot be written (the caller then kills it).
fn record(entry: &Entry, c: &Create, saved: &mut Saved, pid: i32) -> Result<(), Error> {
    saved.pid = pid;
    saved.start_time = match state::proc_start(pid) {
        Some((t, false)) => t,
        _ => {
            return Err(Error::Usage(
                "the container's process died during create".into(),
            ))
        }
    };
    entry.write(saved)?;
    c.pid_file
        .as_deref()
        .map_or(Ok(()), |f| write_pid_file(f, pid))
}

/// The hooks' state while the container is being created.
fn creating_state(s: &Saved) -> String {
    let mut v = s.oci_json(Status::Created);
    v["status"] = "creating".into();
    v.to_string()
}

/// Turn the bundle into a [`Launch`] and nsinit's command line.
fn prepare(
    entry: &Entry,
    c: &Create,
    cfg: Config,
    fifo: Option<OwnedFd>,
    log: &mut OciLog,
) -> Result<Prepared, Error> {
    let p = &cfg.process;
    check_terminal(p.terminal, c.console_socket.is_some(), fifo.is_some())?;
    // A bundle's init is always exec'd (nslaunch leaves after `create`).
    let init = crate::launch::open_init(None)?;
    let (report_r, report_w) = container::pipe()?;
    let release = container::pipe()?;
    let seccomp = seccomp_pipe(cfg.seccomp.as_ref(), log)?;
    let console = match &c.console_socket {
        Some(path) => Some(connect(path)?),
        None => None,
    };
    // `run` with a terminal and no console socket: the terminal comes to
    // us, and we relay it to ours, as the plain run does (and runc).
    let relayed = if p.terminal && console.is_none() {
        Some(tty::ConsoleSocket::new()?)
    } else {
        None
    };
    let ids = if cfg.new_namespaces & libc::CLONE_NEWUSER != 0 {
        Some(userns::from_maps(cfg.uid_map.clone(), cfg.gid_map.clone())?)
    } else {
        None
    };
    let cgroup = cgroup::prepare(&cfg, log)?;
    let joins = open_joins(&cfg.join)?;
    let fds = Fds {
        preserve: c.preserve_fds,
        report: report_w.as_raw_fd(),
        sync: release.0.as_raw_fd(),
        fifo: fifo.as_ref().map(|f| f.as_raw_fd()),
        console: console
            .as_ref()
            .map(|f| f.as_raw_fd())
            .or(relayed.as_ref().map(|r| r.theirs_raw())),
        seccomp: seccomp.as_ref().map(|f| f.as_raw_fd()),
    };
    let (argv, envp) = command_line(&init_args(&cfg, &entry.id, fds), p)?;
    let deferred = libc::CLONE_NEWTIME | libc::CLONE_NEWCGROUP;
    let launch = Launch {
        init: Some(init),
        pid1_init: None,
        argv,
        envp,
        report_w,
        report_r,
        pass_fds: fifo.into_iter().chain(console).chain(seccomp).collect(),
        namespaces: cfg.new_namespaces & !deferred,
        unshare_after_release: cfg.new_namespaces & deferred,
        joins,
        release,
        before_release: BeforeRelease {
            rlimits: p.rlimits.clone(),
            oom_score_adj: p.oom_score_adj,
            cgroup: cgroup.clone(),
            network: None,
        },
        preserve_fds: c.preserve_fds,
        child_ids: ids.as_ref().map(|p| p.child_ids()).unwrap_or_default(),
        job: None,
        tty: tty::Mode {
            pty: relayed.is_some(),
            stdin: true,
            group_signals: false,
        },
        console: relayed,
    };
    Ok(Prepared {
        launch,
        ids,
        cfg,
        cgroup,
    })
}

/// `process.terminal` and `--console-socket` must go together, but for
/// `run` (no start FIFO), where a terminal with no socket comes to us.
fn check_terminal(terminal: bool, console_socket: bool, created: bool) -> Result<(), Error> {
    if terminal && !console_socket && created {
        return Err(Error::Usage(
            "process.terminal is true: give --console-socket to receive the terminal".into(),
        ));
    }
    if !terminal && console_socket {
        return Err(Error::Usage(
            "--console-socket given but process.terminal is false".into(),
        ));
    }
    Ok(())
}

/// nsinit, open `O_PATH`; its path as found, for messages; its real path,
/// for the child's read-only mount of it.
/// The namespaces of `linux.namespaces` given by path, open, to join.
fn open_joins(join: &[config::Join]) -> Result<Vec<(libc::c_int, OwnedFd)>, Error> {
    let mut joins = Vec::new();
    for j in join {
        let fd = nix::fcntl::open(&j.path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|e| {
                Error::Usage(format!(
                    "config.json: linux.namespaces: {}: {}",
                    j.path.display(),
                    e.desc()
                ))
            })?;
        joins.push((j.flag, fd));
    }
    Ok(joins)
}

/// nsinit's argv (`spec` rendered) and the process's environment, as C
/// strings for the child.
fn command_line(spec: &InitArgs, p: &config::Proc) -> Result<(CStringArray, CStringArray), Error> {
    let argv = CStringArray::new(
        std::iter::once(std::ffi::OsString::from("nsinit"))
            .chain(spec.render())
            .map(std::os::unix::ffi::OsStringExt::into_vec),
    )
    .map_err(|a| {
        Error::Usage(format!(
            "config.json: process.args: an argument contains a NUL byte: {a}"
        ))
    })?;
    let envp = CStringArray::new(p.env.iter().map(String::as_str))
        .map_err(|e| Error::Usage(format!("config.json: process.env: a NUL byte in {e}")))?;
    Ok((argv, envp))
}

/// The descriptors nsinit gets by number, and `--preserve-fds`.
struct Fds {
    preserve: u32,
    report: i32,
    sync: i32,
    fifo: Option<i32>,
    console: Option<i32>,
    seccomp: Option<i32>,
}

/// nsinit's command line for the bundle.
fn init_args(cfg: &Config, id: &str, fds: Fds) -> InitArgs {
    let p = &cfg.process;
    let mut devices = config::default_devices();
    for d in &cfg.devices {
        devices.retain(|x| x.path != d.path);
        devices.push(d.clone());
    }
    InitArgs {
        rootfs: Some(cfg.rootfs.to_string_lossy().into_owned()),
        report_fd: Some(fds.report),
        sync_fd: Some(fds.sync),
        oci: true,
        start_fifo_fd: fds.fifo,
        seccomp_fd: fds.seccomp,
        hooks: has_create_hooks(&cfg.hooks),
        mount: cfg.mounts.clone(),
        device: devices,
        mask: cfg.masked.clone(),
        readonly_path: cfg.readonly_paths.clone(),
        sysctl: cfg.sysctl.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        hostname: cfg.hostname.clone(),
        domainname: cfg.domainname.clone(),
        loopback: cfg.new_namespaces & libc::CLONE_NEWNET != 0,
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
        read_only: cfg.read_only,
        umask: p.umask.map(|m| format!("{m:o}")),
        apparmor: p.apparmor.clone(),
        preserve_fds: Some(fds.preserve),
        console_socket: fds.console,
        console_size: p
            .console_size
            .map(|(rows, cols)| shared::spec::ConsoleSize { rows, cols }),
        start_hook: start_hooks(&cfg.hooks),
        hook_state: Some(start_state(cfg, id)),
        command: p.args.iter().map(std::ffi::OsString::from).collect(),
        ..Default::default()
    }
}

/// The startContainer hooks, for nsinit to run inside the container.
fn start_hooks(h: &oci_spec::runtime::Hooks) -> Vec<shared::hookspec::HookSpec> {
    h.start_container()
        .iter()
        .flatten()
        .map(|hook| shared::hookspec::HookSpec {
            path: hook.path().to_string_lossy().into_owned(),
            args: hook.args().clone().unwrap_or_default(),
            env: hook.env().clone().unwrap_or_default(),
            timeout: hook.timeout().and_then(|t| u32::try_from(t).ok()),
        })
        .collect()
}

/// The state startContainer hooks read: the container as it sees itself
/// (its process is PID 1 of its own PID namespace).
fn start_state(cfg: &Config, id: &str) -> String {
    let own = cfg.new_namespaces & libc::CLONE_NEWPID != 0;
    serde_json::json!({
        "ociVersion": state::OCI_VERSION,
        "id": id,
        "status": "created",
        "pid": if own { 1 } else { 0 },
        "bundle": cfg.bundle.to_string_lossy(),
        "annotations": cfg.annotations,
    })
    .to_string()
}

fn has_create_hooks(h: &oci_spec::runtime::Hooks) -> bool {
    [h.prestart(), h.create_runtime(), h.create_container()]
        .iter()
        .any(|l| l.as_ref().is_some_and(|l| !l.is_empty()))
}

/// `linux.seccomp`, compiled, in a pipe for nsinit (`--seccomp-fd`).
pub(crate) fn seccomp_pipe(
    profile: Option<&oci_spec::runtime::LinuxSeccomp>,
    log: &mut OciLog,
) -> Result<Option<OwnedFd>, Error> {
    let Some(profile) = profile else {
        return Ok(None);
    };
    let filter = crate::seccomp::from_oci(profile)
        .map_err(|why| Error::Usage(format!("config.json: linux.seccomp: {why}")))?;
    for w in &filter.warnings {
        log.debug(&format!("linux.seccomp: {w}"));
    }
    log.debug(&format!("linux.seccomp: {}", filter.summary));
    Ok(Some(container::program_pipe(&filter.to_message())?))
}

/// Connect to the caller's console socket (runc's `--console-socket`):
/// nsinit sends the terminal's master over it.
fn connect(path: &str) -> Result<OwnedFd, Error> {
    let s = std::os::unix::net::UnixStream::connect(path).map_err(|e| {
        Error::Usage(format!(
            "--console-socket {path}: {}",
            crate::error::io_why(&e)
        ))
    })?;
    Ok(OwnedFd::from(s))
}

/// `--pid-file`: the host pid in decimal, no newline (containerd parses it
/// strictly), written to a temporary name then renamed over.
pub(crate) fn write_pid_file(path: &str, pid: i32) -> Result<(), Error> {
    let path = Path::new(path);
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| Error::Usage(format!("--pid-file {}: not a file name", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let bad = |e: std::io::Error| {
        Error::Usage(format!(
            "--pid-file {}: {}",
            path.display(),
            crate::error::io_why(&e)
        ))
    };
    std::fs::write(&tmp, pid.to_string()).map_err(bad)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        bad(e)
    })
}

/// An absolute path for a user's (relative) one.
fn absolute(p: &str, flag: &str) -> Result<PathBuf, Error> {
    std::path::absolute(p)
        .map_err(|e| Error::Usage(format!("{flag} {p}: {}", crate::error::io_why(&e))))
}

fn run_poststart(saved: &Saved, log: &mut OciLog) {
    let list = saved
        .hooks
        .as_ref()
        .and_then(|h| h.poststart().clone())
        .unwrap_or_default();
    if !list.is_empty() {
        hooks::run_logged(
            "poststart",
            &list,
            &verbs::hook_state(saved, Status::Running),
            log,
        );
    }
}

/// `start`: release the created container's process.
pub fn start(store: &Store, id: &str, log: &mut OciLog) -> Result<i32, Error> {
    let entry = store.lock(id)?;
    let saved = entry.read()?;
    match saved.status(&entry.fifo_path()) {
        Status::Created => {}
        Status::Running => {
            return Err(Error::Usage(format!(
                "cannot start an already running container {id}"
            )))
        }
        Status::Stopped => {
            return Err(Error::Usage(format!(
                "cannot start a container that has stopped: {id}"
            )))
        }
    }
    if !state::release_fifo(&entry)? {
        return Err(Error::Usage(format!(
            "cannot start container {id}: its process exited before it was started"
        )));
    }
    run_poststart(&saved, log);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::config::tests::load_podman_like;

    #[test]
    fn a_terminal_needs_a_console_socket_but_for_run() {
        let usage = |r: Result<(), Error>| r.unwrap_err().to_string();
        assert!(usage(check_terminal(true, false, true)).contains("give --console-socket"));
        assert!(check_terminal(true, false, false).is_ok(), "run relays it");
        assert!(check_terminal(true, true, true).is_ok());
        for created in [true, false] {
            assert!(usage(check_terminal(false, true, created))
                .contains("--console-socket given but process.terminal is false"));
            assert!(check_terminal(false, false, created).is_ok());
        }
    }

    #[test]
    fn the_state_before_the_process_exists() {
        let cfg = load_podman_like("saved");
        let s = saved_state(
            "c1",
            Path::new("/b"),
            &cfg,
            Some(Path::new("/sys/fs/cgroup/x")),
            1000,
            "2025-01-31T14:05:00Z".into(),
        );
        assert_eq!((s.id.as_str(), s.pid, s.start_time), ("c1", 0, 0));
        assert_eq!(s.bundle, "/b");
        assert_eq!(s.rootfs, cfg.rootfs.to_string_lossy());
        assert_eq!(
            (s.owner, s.created.as_str()),
            (1000, "2025-01-31T14:05:00Z")
        );
        assert!(s.own_pid_ns, "podman_like has a PID namespace");
        assert!(s.hooks.is_some());
        assert_eq!(s.cgroup.as_deref(), Some("/sys/fs/cgroup/x"));
        let mut shared_pid = cfg.clone();
        shared_pid.new_namespaces &= !libc::CLONE_NEWPID;
        let s = saved_state("c2", Path::new("/b"), &shared_pid, None, 0, String::new());
        assert!(!s.own_pid_ns);
        assert_eq!(s.cgroup, None);
        let state: serde_json::Value = serde_json::from_str(&creating_state(&s)).unwrap();
        assert_eq!(state["status"], "creating");
        assert_eq!(state["id"], "c2");
    }

    #[test]
    fn a_nul_byte_in_the_command_line_names_its_field() {
        let cfg = load_podman_like("cmdline");
        let spec = |arg: &str| InitArgs {
            command: vec![arg.into()],
            ..Default::default()
        };
        assert!(command_line(&spec("sh"), &cfg.process).is_ok());
        let e = command_line(&spec("s\0h"), &cfg.process)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("process.args: an argument contains a NUL byte: s\\0h"),
            "{e}"
        );
        let mut p = cfg.process.clone();
        p.env.push("BAD=a\0b".into());
        let e = command_line(&spec("sh"), &p).err().unwrap().to_string();
        assert!(e.contains("process.env: a NUL byte in BAD=a\\0b"), "{e}");
    }
}
