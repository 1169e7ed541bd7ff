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

use std::ffi::CString;
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
    let prepared = prepare(entry, c, cfg, fifo, log)?;
    let Prepared {
        launch,
        ids,
        cfg,
        cgroup,
    } = prepared;
    let quiet = Log::new("nslaunch", false);
    let own_pid_ns = cfg.new_namespaces & libc::CLONE_NEWPID != 0;
    let hooks = cfg.hooks.clone();
    let mut saved = Saved {
        oci_version: state::OCI_VERSION.into(),
        id: entry.id.clone(),
        pid: 0,
        bundle: bundle.to_string_lossy().into_owned(),
        rootfs: cfg.rootfs.to_string_lossy().into_owned(),
        created: state::now_rfc3339(),
        annotations: cfg.annotations.clone(),
        owner: nix::unistd::geteuid().as_raw(),
        start_time: 0,
        own_pid_ns,
        hooks: Some(hooks.clone()),
        cgroup: cgroup.as_ref().map(|p| p.to_string_lossy().into_owned()),
    };
    let mut on_hooks = |pid: i32| -> Result<(), Error> {
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
    };
    let created = container::create(launch, ids.as_ref(), &quiet, &mut on_hooks)?;
    let pid = created.pid;
    saved.pid = pid;
    saved.start_time = match state::proc_start(pid) {
        Some((t, false)) => t,
        _ => {
            created.kill();
            return Err(Error::Usage(
                "the container's process died during create".into(),
            ));
        }
    };
    let recorded = entry.write(&saved).and_then(|()| {
        c.pid_file
            .as_deref()
            .map_or(Ok(()), |f| write_pid_file(f, pid))
    });
    if let Err(e) = recorded {
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
    if p.terminal && c.console_socket.is_none() && fifo.is_some() {
        return Err(Error::Usage(
            "process.terminal is true: give --console-socket to receive the terminal".into(),
        ));
    }
    if !p.terminal && c.console_socket.is_some() {
        return Err(Error::Usage(
            "--console-socket given but process.terminal is false".into(),
        ));
    }
    let init_path = crate::find_init(None)?;
    let init = nix::fcntl::open(&init_path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| Error::sys(format!("open the init {}", init_path.display()), e))?;
    let init_cpath = std::fs::canonicalize(&init_path)
        .ok()
        .and_then(|p| CString::new(p.into_os_string().into_encoded_bytes()).ok())
        .ok_or_else(|| Error::Usage(format!("{}: cannot resolve its path", init_path.display())))?;
    let (report_r, report_w) = container::pipe()?;
    let release = container::pipe()?;
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
    let mut joins = Vec::new();
    for j in &cfg.join {
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
    let spec = init_args(
        &cfg,
        &entry.id,
        c.preserve_fds,
        report_w.as_raw_fd(),
        release.0.as_raw_fd(),
        fifo.as_ref().map(|f| f.as_raw_fd()),
        console
            .as_ref()
            .map(|f| f.as_raw_fd())
            .or(relayed.as_ref().map(|r| r.theirs_raw())),
    );
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
    let deferred = libc::CLONE_NEWTIME | libc::CLONE_NEWCGROUP;
    let launch = Launch {
        init,
        init_path: init_path.display().to_string(),
        init_cpath,
        argv,
        envp,
        report_w,
        report_r,
        pass_fds: fifo.into_iter().chain(console).collect(),
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

/// nsinit's command line for the bundle.
fn init_args(
    cfg: &Config,
    id: &str,
    preserve_fds: u32,
    report: i32,
    sync: i32,
    fifo: Option<i32>,
    console: Option<i32>,
) -> InitArgs {
    let p = &cfg.process;
    let mut devices = config::default_devices();
    for d in &cfg.devices {
        devices.retain(|x| x.path != d.path);
        devices.push(d.clone());
    }
    InitArgs {
        rootfs: Some(cfg.rootfs.to_string_lossy().into_owned()),
        report_fd: Some(report),
        sync_fd: Some(sync),
        oci: true,
        start_fifo_fd: fifo,
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
        preserve_fds: Some(preserve_fds),
        console_socket: console,
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
