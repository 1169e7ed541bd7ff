//! The default verb, `nslaunch [OPTIONS] --rootfs DIR [--] CMD`, in its
//! phases: [`plan`] checks every option and path and decides what the
//! container gets (nothing is made yet; only nsinit is opened);
//! `--dry-run` prints that plan as a script ([`dry_run`]); otherwise
//! [`resolve_rootfs`] finds or unpacks the root filesystem,
//! [`mount_trees`] and [`Pipes::new`] make the descriptors nsinit gets,
//! [`nsinit_command`] builds its argv and environment, and
//! `container::run` runs it.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use shared::env;
use shared::log::Log;
use shared::spec::{InitArgs, TreeFd};
use shared::sys::CStringArray;
use shared::volume::Volume;

use crate::cli::LaunchArgs;
use crate::error::{io_why, Error};
use crate::{
    activation, cache, container, dryrun, find_init, idmapped, isolation, log_from_env, network,
    overlay, sdnotify, seccomp, tty, userns, volumes,
};

/// What the options decided, checked, before anything is made.
struct Plan {
    /// Sockets systemd handed us (socket activation).
    listen: Option<activation::Activation>,
    preserve_fds: u32,
    /// `--rootfs` names a tarball, unpacked into the cache once the rest
    /// is checked.
    archive: Option<String>,
    /// `--rootfs` as a directory: absolute and symlink-free (empty for an
    /// archive).
    rootfs: String,
    ids: Option<userns::Plan>,
    volumes: Vec<Volume>,
    iso: isolation::Isolation,
    net: network::Network,
    seccomp: Option<seccomp::Filter>,
    notify: sdnotify::Plan,
    mode: tty::Mode,
    /// The command's environment.
    env: Vec<(String, String)>,
}

/// The rootfs to run and the locks that keep it: `entry` and
/// `overlay_dir` hold them until the container is over.
struct Rootfs {
    /// A tarball's rootfs in the cache.
    entry: Option<cache::Entry>,
    /// The directory nsinit gets as `--rootfs`.
    path: String,
    overlay_dir: Option<overlay::OverlayDir>,
}

/// The detached mount trees nsinit gets: the rootfs ("/") and volumes by
/// their destination, and `--overlay-dir`'s apart.
struct Trees {
    trees: Vec<(String, OwnedFd)>,
    overlay_dir: Option<OwnedFd>,
}

/// The pipes and sockets between nslaunch and nsinit.
struct Pipes {
    /// nsinit's report (read, write).
    report: (OwnedFd, OwnedFd),
    /// The release pipe (read, write): nsinit keeps its read end as
    /// `--sync-fd`.
    release: (OwnedFd, OwnedFd),
    /// The compiled seccomp filter, to read.
    seccomp: Option<OwnedFd>,
    /// Job control (read, write), in pty mode.
    job: Option<(OwnedFd, OwnedFd)>,
    console: Option<tty::ConsoleSocket>,
}

pub fn launch(args: LaunchArgs, log: &Log) -> Result<i32, Error> {
    let (mut plan, inits) = plan(&args, log)?;
    if args.dry_run {
        return dry_run(&args, &plan);
    }
    // NOTIFY_SOCKET: the container's socket is one more volume (not in
    // --dry-run's script: nothing is made there).
    let notifier = sdnotify::Notifier::new(&plan.notify)?;
    plan.volumes
        .extend(notifier.as_ref().and_then(|n| n.volume()));
    for (k, v) in sdnotify::command_env(&plan.notify) {
        env::set(&mut plan.env, &k, &v);
    }
    log.info(format_args!("options and paths checked"));
    let root = resolve_rootfs(&args, &plan, log)?;
    let trees = mount_trees(&plan, &root, log)?;
    let pipes = Pipes::new(plan.seccomp.as_ref(), plan.mode)?;
    let init_fd = inits.pid1_init.as_ref().map(|i| i.fd.as_raw_fd());
    let command = nsinit_command(&args, &plan, &root, &pipes, &trees, init_fd)?;
    let launch = container_launch(&args, &mut plan, inits, command, pipes, trees);
    container::run(launch, plan.ids.as_ref(), log, notifier)
}

/// Check the options and paths, in the order their errors are reported,
/// and decide what the container gets; open nsinit when it is to be
/// exec'd (`--userns host`; else the child runs nsinit's code in place)
/// and the `--init PATH` init.
fn plan(args: &LaunchArgs, log: &Log) -> Result<(Plan, Inits), Error> {
    // First, before any descriptor of ours takes a number. Sockets that
    // systemd handed us pass like --preserve-fds (both: the wider range).
    let listen = activation::from_env()?;
    let preserve_fds = isolation::preserved_fds(args.preserve_fds)?;
    let preserve_fds = preserve_fds.max(listen.as_ref().map_or(0, |l| l.fds));
    let (archive, rootfs) = rootfs_arg(args)?;
    if args.command.is_empty() {
        return Err(Error::Usage(
            "no command given (usage: nslaunch [OPTIONS] --rootfs DIR [--] CMD [ARGS...])".into(),
        ));
    }
    let ids = userns::plan(args.userns.as_deref(), &args.uid_map, &args.gid_map)?;
    let real_root = nix::unistd::geteuid().is_root();
    let volumes = volumes::validate(&args.volume, real_root, ids.is_some())?;
    let mut iso = isolation::plan(args, ids.is_none(), &volumes)?;
    let net = network::plan(args, ids.is_none(), args.verbose || log_from_env())?;
    iso.namespaces = (iso.namespaces & !libc::CLONE_NEWNET) | net.clone_flag;
    iso.net = net.loopback;
    let seccomp = log.step("build the seccomp filter", || {
        isolation::seccomp_filter(args.seccomp.as_deref(), iso.caps)
    })?;
    match &seccomp {
        Some(f) => log.info(format_args!("seccomp: {} ({})", f.summary, f.shape())),
        None => log.info(format_args!("seccomp: none (--seccomp unconfined)")),
    }
    let notify = notify_plan(args, &volumes, &iso)?;
    let hostname = check_process_options(args)?;
    let mode = tty::Mode::for_this_process(args.tty, args.no_tty, args.interactive)?;
    let env = command_env(args, &hostname, listen.as_ref(), mode)?;
    // nsinit runs in the cloned child without an exec, except with
    // --userns host: there no user namespace stands between the
    // command and PID 1, and a command given CAP_SYS_PTRACE could read
    // PID 1's memory, which would be nslaunch's (the caller's environment
    // and paths) instead of nsinit's own; there nslaunch execs itself as
    // nsinit (`find_init`).
    let exec_nsinit = ids.is_none().then(|| open_init(None)).transpose()?;
    // --init PATH: the init that replaces nsinit as PID 1 once the
    // container is built (`docker run --init`'s docker-init).
    let pid1_init = args.init.as_deref().map(open_pid1_init).transpose()?;
    let plan = Plan {
        listen,
        preserve_fds,
        archive,
        rootfs,
        ids,
        volumes,
        iso,
        net,
        seccomp,
        notify,
        mode,
        env,
    };
    Ok((
        plan,
        Inits {
            exec_nsinit,
            pid1_init,
        },
    ))
}

/// The executables `plan` opened: nsinit to exec (`--userns host`), and
/// the `--init PATH` init.
pub(crate) struct Inits {
    pub exec_nsinit: Option<container::InitFile>,
    pub pid1_init: Option<container::InitFile>,
}

/// `--rootfs`: `(Some(tarball), "")`, unpacked later, or `(None, its
/// absolute, symlink-free directory)`.
fn rootfs_arg(args: &LaunchArgs) -> Result<(Option<String>, String), Error> {
    let rootfs = args
        .rootfs
        .as_deref()
        .ok_or_else(|| Error::Usage("--rootfs DIR is required (see nslaunch --help)".into()))?;
    if cache::is_archive(rootfs) {
        Ok((Some(rootfs.to_string()), String::new()))
    } else {
        Ok((None, validate_rootfs(rootfs)?))
    }
}

/// Check `--user`, `--workdir`, `--hostname`, `--stop-delay` and
/// `--grace`; the container's hostname (`--hostname`, else the host's).
fn check_process_options(args: &LaunchArgs) -> Result<String, Error> {
    if let Some(user) = &args.user {
        if user.is_empty() {
            return Err(Error::Usage("--user: empty (give USER[:GROUP])".into()));
        }
    }
    if let Some(dir) = &args.workdir {
        if !dir.starts_with('/') {
            return Err(Error::Usage(format!(
                "--workdir {dir}: must be an absolute path in the container"
            )));
        }
    }
    let hostname = match &args.hostname {
        Some(name) => check_hostname(name)?.to_string(),
        None => nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default(),
    };
    for (flag, value) in [("--stop-delay", &args.stop_delay), ("--grace", &args.grace)] {
        if let Some(d) = value {
            shared::settings::parse_duration(d)
                .map_err(|why| Error::Usage(format!("{flag} {d}: {why}")))?;
            if args.init.is_some() {
                // nsinit's settings: the --init init is PID 1 instead.
                return Err(Error::Usage(format!(
                    "{flag}: not with --init (PID 1 is that init; nsinit as --init reads \
                     NSINIT_{} from the environment: -e)",
                    flag[2..].replace('-', "_").to_uppercase()
                )));
            }
        }
    }
    Ok(hostname)
}

/// The command's environment (see [`environment`]), with the activated
/// sockets' names and, for a terminal, a TERM.
fn command_env(
    args: &LaunchArgs,
    hostname: &str,
    listen: Option<&activation::Activation>,
    mode: tty::Mode,
) -> Result<Vec<(String, String)>, Error> {
    let mut env = environment(args, hostname)?;
    if let Some(names) = listen.and_then(|l| l.names.as_deref()) {
        env::set(&mut env, shared::activation::LISTEN_FDNAMES, names);
    }
    if mode.pty && !env.iter().any(|(k, _)| k == "TERM") {
        // A terminal needs a type; docker's -t gives xterm.
        env::set(&mut env, "TERM", "xterm");
    }
    Ok(env)
}

/// Open nslaunch's own binary, to exec as nsinit (run under that name it
/// is nsinit).
pub(crate) fn open_init(explicit: Option<&str>) -> Result<container::InitFile, Error> {
    let init_path = find_init(explicit)?;
    let fd = nix::fcntl::open(&init_path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| Error::sys(format!("open the init {}", init_path.display()), e))?;
    let cpath = std::fs::canonicalize(&init_path)
        .ok()
        .and_then(|p| CString::new(p.into_os_string().into_encoded_bytes()).ok())
        .ok_or_else(|| {
            Error::Usage(format!(
                "{}{}: cannot resolve its path",
                if explicit.is_some() { "--init " } else { "" },
                init_path.display()
            ))
        })?;
    Ok(container::InitFile {
        fd,
        path: init_path.display().to_string(),
        cpath,
    })
}

/// `--init PATH`: an executable program (ELF; not a script),
/// which the built-in nsinit execs as PID 1 once the container is built
/// (`PATH -- CMD`). Checked here, so that a wrong path is nslaunch's one
/// line and 125, not a failure inside.
fn open_pid1_init(path: &str) -> Result<container::InitFile, Error> {
    let file = open_init(Some(path))?;
    if nix::unistd::access(path, nix::unistd::AccessFlags::X_OK).is_err() {
        return Err(Error::Usage(format!(
            "--init {path}: not executable (Permission denied)"
        )));
    }
    let mut head = [0u8; 4];
    let n = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .map_err(|e| Error::Usage(format!("--init {path}: {}", crate::error::io_why(&e))))?;
    // Not a script: it is exec'd from a descriptor, which leaves its
    // interpreter no path to open it by.
    if !head[..n].starts_with(b"\x7fELF") {
        return Err(Error::Usage(format!(
            "--init {path}: Exec format error (not an ELF executable: give a static one, \
             such as nsinit, tini-static or catatonit)"
        )));
    }
    Ok(file)
}

impl Plan {
    /// What nsinit's command line needs of the plan; `overlay_dir`: the
    /// upper layer's directory, if any.
    fn setup(&self, args: &LaunchArgs, overlay_dir: Option<String>) -> Setup<'_> {
        Setup {
            volumes: self.volumes.clone(),
            ids: self.ids.as_ref(),
            iso: &self.iso,
            preserve_fds: self.preserve_fds,
            listen_fds: self.listen.as_ref().map(|l| l.fds),
            // A cached rootfs is shared by every run of its archive and
            // never changed: it always runs on an overlay.
            overlay: args.overlay || overlay_dir.is_some() || self.archive.is_some(),
            overlay_dir,
            mode: self.mode,
            net: &self.net,
        }
    }
}

/// `--dry-run`: the rootfs and overlay directory as the script names
/// them, then the script.
fn dry_run(args: &LaunchArgs, plan: &Plan) -> Result<i32, Error> {
    let rootfs = match &plan.archive {
        Some(file) => dryrun::Rootfs::Archive {
            file: std::fs::canonicalize(file)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| file.clone()),
            cache: cache::base_dir()
                .map_err(|why| Error::Usage(format!("--rootfs {file}: {why}")))?
                .display()
                .to_string(),
        },
        None => dryrun::Rootfs::Dir(plan.rootfs.clone()),
    };
    let overlay_dir = args.overlay_dir.as_ref().map(|d| {
        std::path::absolute(d)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| d.clone())
    });
    print_script(
        args,
        rootfs,
        &plan.env,
        plan.seccomp.as_ref(),
        plan.setup(args, overlay_dir),
    )
}

/// Root filesystems from tarballs, and copy-on-write runs: a cached
/// rootfs is shared by every run of its archive and never changed, so it
/// always runs on an overlay. Real root keeps the archive's owners (its
/// default --userns auto maps them through an idmapped mount).
fn resolve_rootfs(args: &LaunchArgs, plan: &Plan, log: &Log) -> Result<Rootfs, Error> {
    let entry = match &plan.archive {
        Some(file) => Some(log.step("find or unpack the tarball in the cache", || {
            cache::rootfs_for(file, nix::unistd::geteuid().is_root(), log)
        })?),
        None => None,
    };
    let path = entry
        .as_ref()
        .map_or_else(|| plan.rootfs.clone(), |e| e.root.clone());
    let overlay_dir = match &args.overlay_dir {
        Some(dir) => Some(overlay::prepare_dir(dir, &path)?),
        None => None,
    };
    Ok(Rootfs {
        entry,
        path,
        overlay_dir,
    })
}

/// The detached mount trees nsinit gets: idmapped (or cloned) ones for
/// the rootfs, volumes and `--overlay-dir`, and real root's cache entry.
fn mount_trees(plan: &Plan, root: &Rootfs, log: &Log) -> Result<Trees, Error> {
    // Real root runs the cache entry it locked and checked, not whatever
    // its path names by the time nsinit looks: the rootfs is a detached
    // mount made from the entry's descriptor (by /proc/self/fd/N, which
    // names exactly that directory), passed to nsinit as the "/" tree.
    let entry_src = root
        .entry
        .as_ref()
        .filter(|_| nix::unistd::geteuid().is_root())
        .map(|e| format!("/proc/self/fd/{}", e.root_fd.as_raw_fd()));
    let mut trees = match &plan.ids {
        Some(ids) if ids.idmapped || plan.volumes.iter().any(|v| v.idmap) => log.step(
            "make the mount trees (idmapped, or cloned for nsinit)",
            || {
                idmapped::trees(
                    ids,
                    entry_src.as_deref().unwrap_or(&root.path),
                    &plan.volumes,
                    root.overlay_dir.as_ref().map(|d| d.path.as_str()),
                )
            },
        )?,
        _ => Vec::new(),
    };
    if let (Some(e), Some(_)) = (&root.entry, &entry_src) {
        if !trees.iter().any(|(dst, _)| dst == "/") {
            let tree =
                shared::sys::raw_open_tree_fd(e.root_fd.as_raw_fd(), true).map_err(|errno| {
                    Error::sys(format!("--rootfs {}: clone the mount", root.path), errno)
                })?;
            trees.insert(0, ("/".to_string(), tree));
        }
    }
    let overlay_dir = trees
        .iter()
        .position(|(key, _)| key == idmapped::OVERLAY_DIR)
        .map(|i| trees.remove(i).1);
    Ok(Trees { trees, overlay_dir })
}

impl Pipes {
    fn new(seccomp: Option<&seccomp::Filter>, mode: tty::Mode) -> Result<Pipes, Error> {
        let report = container::pipe()?;
        let release = container::pipe()?;
        let seccomp = match seccomp {
            Some(f) => Some(container::program_pipe(&f.to_message())?),
            None => None,
        };
        let (job, console) = if mode.pty {
            (Some(container::pipe()?), Some(tty::ConsoleSocket::new()?))
        } else {
            (None, None)
        };
        Ok(Pipes {
            report,
            release,
            seccomp,
            job,
            console,
        })
    }
}

/// nsinit's argv (the spec, naming the descriptors it gets) and the
/// command's environment, as C strings for the exec.
fn nsinit_command(
    args: &LaunchArgs,
    plan: &Plan,
    root: &Rootfs,
    pipes: &Pipes,
    trees: &Trees,
    init: Option<i32>,
) -> Result<(CStringArray, CStringArray), Error> {
    let fds = InitFds {
        init,
        report: pipes.report.1.as_raw_fd(),
        sync: pipes.release.0.as_raw_fd(),
        seccomp: pipes.seccomp.as_ref().map(|f| f.as_raw_fd()),
        job: pipes.job.as_ref().map(|(_, w)| w.as_raw_fd()),
        console: pipes.console.as_ref().map(|c| c.theirs_raw()),
        trees: trees
            .trees
            .iter()
            .map(|(dst, fd)| TreeFd {
                dst: dst.clone(),
                fd: fd.as_raw_fd(),
            })
            .collect(),
        overlay_dir: trees.overlay_dir.as_ref().map(|fd| fd.as_raw_fd()),
    };
    let overlay_dir = root.overlay_dir.as_ref().map(|d| d.path.clone());
    let spec = init_args(args, root.path.clone(), &fds, plan.setup(args, overlay_dir));
    let argv = CStringArray::new(
        std::iter::once("nsinit".into())
            .chain(spec.render())
            .map(std::os::unix::ffi::OsStringExt::into_vec),
    )
    .map_err(|a| Error::Usage(format!("argument contains a NUL byte: {a}")))?;
    let envp = CStringArray::new(plan.env.iter().map(|(k, v)| format!("{k}={v}")))
        .map_err(|e| Error::Usage(format!("environment contains a NUL byte: {e}")))?;
    Ok((argv, envp))
}

/// What `container::run` gets: nsinit and its command line, every
/// descriptor it passes on, the namespaces to make or join.
fn container_launch(
    args: &LaunchArgs,
    plan: &mut Plan,
    inits: Inits,
    (argv, envp): (CStringArray, CStringArray),
    pipes: Pipes,
    trees: Trees,
) -> container::Launch {
    container::Launch {
        init: inits.exec_nsinit,
        pid1_init: inits.pid1_init,
        argv,
        envp,
        report_w: pipes.report.1,
        report_r: pipes.report.0,
        job: pipes.job,
        console: pipes.console,
        tty: plan.mode,
        pass_fds: trees
            .trees
            .into_iter()
            .map(|(_, fd)| fd)
            .chain(trees.overlay_dir)
            .chain(pipes.seccomp)
            .collect(),
        namespaces: container::clone_flags(plan.ids.is_some(), args.hostname.is_some())
            | plan.iso.namespaces,
        unshare_after_release: if plan.iso.time {
            libc::CLONE_NEWTIME
        } else {
            0
        },
        joins: plan
            .net
            .join
            .take()
            .map(|fd| (libc::CLONE_NEWNET, fd))
            .into_iter()
            .collect(),
        release: pipes.release,
        before_release: container::BeforeRelease {
            network: plan.net.helper.take(),
            ..Default::default()
        },
        preserve_fds: plan.preserve_fds,
        child_ids: plan.ids.as_ref().map(|p| p.child_ids()).unwrap_or_default(),
    }
}

/// `--sdnotify` with our `NOTIFY_SOCKET` (see `sdnotify.rs`); its socket
/// inside may not be a volume's or a tmpfs's target.
fn notify_plan(
    args: &LaunchArgs,
    volumes: &[shared::volume::Volume],
    iso: &isolation::Isolation,
) -> Result<sdnotify::Plan, Error> {
    let mode: sdnotify::Mode = match &args.sdnotify {
        Some(m) => m.parse().map_err(Error::Usage)?,
        None => sdnotify::Mode::default(),
    };
    let plan = sdnotify::plan(
        mode,
        sdnotify::notify_socket_var().as_deref(),
        std::env::var("WATCHDOG_USEC").ok().as_deref(),
        std::env::var("WATCHDOG_PID").ok().as_deref(),
        std::process::id(),
    )
    .map_err(Error::Usage)?;
    let taken = volumes
        .iter()
        .map(|v| v.dst.clone())
        .chain(iso.tmpfs.iter().map(|t| t.dst.clone()));
    sdnotify::check_target(&plan, taken).map_err(Error::Usage)?;
    Ok(plan)
}

/// The command's environment: the clean defaults, then each `--env-file`,
/// then each `-e`, later ones winning.
fn environment(args: &LaunchArgs, hostname: &str) -> Result<Vec<(String, String)>, Error> {
    let caller = |key: &str| std::env::var(key).ok();
    let term = std::env::var("TERM").ok();
    let mut vars = env::container_env(term.as_deref(), hostname);
    for file in &args.env_file {
        let bad = |why: String| Error::Usage(format!("--env-file {file}: {why}"));
        let text = std::fs::read(file).map_err(|e| bad(io_why(&e)))?;
        let text = String::from_utf8(text).map_err(|_| bad("not valid UTF-8".into()))?;
        for (k, v) in env::parse_env_file(&text, caller).map_err(bad)? {
            env::set(&mut vars, &k, &v);
        }
    }
    for arg in &args.env {
        let given = env::parse_env_arg(arg, caller)
            .map_err(|why| Error::Usage(format!("-e {arg}: {why}")))?;
        if let Some((k, v)) = given {
            env::set(&mut vars, &k, &v);
        }
    }
    Ok(vars)
}

/// A hostname the kernel takes (1 to 64 bytes) and resolvers expect:
/// letters, digits, '-', '_' and '.'.
fn check_hostname(name: &str) -> Result<&str, Error> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(name)
    } else {
        Err(Error::Usage(format!(
            "--hostname {name:?}: use 1 to 64 letters, digits, '-', '_' or '.'"
        )))
    }
}

/// The descriptors nsinit gets by number (see [`init_args`]).
struct InitFds {
    report: i32,
    /// The release pipe's read end, nsinit's `--sync-fd`.
    sync: i32,
    /// The compiled seccomp filter, `--seccomp-fd`.
    seccomp: Option<i32>,
    job: Option<i32>,
    console: Option<i32>,
    trees: Vec<TreeFd>,
    overlay_dir: Option<i32>,
    /// The `--init PATH` init, `--init-fd`.
    init: Option<i32>,
}

/// What the checks decided, for nsinit's command line.
struct Setup<'a> {
    volumes: Vec<shared::volume::Volume>,
    ids: Option<&'a userns::Plan>,
    iso: &'a isolation::Isolation,
    preserve_fds: u32,
    /// Socket activation: how many of the preserved fds are sockets.
    listen_fds: Option<u32>,
    overlay: bool,
    overlay_dir: Option<String>,
    mode: tty::Mode,
    net: &'a network::Network,
}

/// nsinit's command line: the container spec (shared by the real run and
/// `--dry-run`). It always has `--rootfs` and `--report-fd`, so nsinit
/// takes nothing from the command's environment (`InitArgs::launched`).
fn init_args(args: &LaunchArgs, rootfs: String, fds: &InitFds, setup: Setup) -> InitArgs {
    InitArgs {
        rootfs: Some(rootfs),
        report_fd: Some(fds.report),
        sync_fd: Some(fds.sync),
        job_control_fd: fds.job,
        volume: setup.volumes,
        tree: fds.trees.clone(),
        user: args
            .user
            .clone()
            .or_else(|| setup.ids.and_then(|p| p.default_user.clone())),
        workdir: args.workdir.clone(),
        hostname: args.hostname.clone(),
        caps: Some(setup.iso.caps),
        read_only: args.read_only,
        tmpfs: setup.iso.tmpfs.clone(),
        loopback: setup.iso.net,
        no_new_privileges: args.no_new_privileges,
        preserve_fds: Some(setup.preserve_fds),
        listen_fds: setup.listen_fds,
        overlay: setup.overlay,
        overlay_dir: setup.overlay_dir,
        overlay_dir_fd: fds.overlay_dir,
        seccomp_fd: fds.seccomp,
        init_fd: fds.init,
        init_name: fds.init.and(args.init.as_deref()).map(|p| {
            std::path::Path::new(p)
                .file_name()
                .map_or("init".into(), |n| n.to_string_lossy().into_owned())
        }),
        console_socket: fds.console,
        console_size: fds.console.and_then(|_| tty::initial_size()),
        null_stdin: setup.mode.pty && !setup.mode.stdin,
        dns: setup.net.dns.clone(),
        dns_best_effort: setup.net.dns_default,
        dns_search: setup.net.dns_search.clone(),
        add_host: setup.net.add_host.clone(),
        process_group: setup.mode.group_signals,
        verbose: args.verbose || log_from_env(),
        stop_delay: args.stop_delay.clone(),
        grace: args.grace.clone(),
        command: args.command.clone(),
        ..Default::default()
    }
}

/// `--dry-run`: print the script (see `dryrun.rs`) instead of running.
fn print_script(
    args: &LaunchArgs,
    rootfs: dryrun::Rootfs,
    env: &[(String, String)],
    seccomp: Option<&seccomp::Filter>,
    setup: Setup,
) -> Result<i32, Error> {
    let auto = setup.ids.is_some_and(|p| p.idmapped);
    // Placeholders for descriptor numbers that do not exist yet.
    let fds = InitFds {
        // (Above the trees', which count up from 8.)
        init: args.init.as_ref().map(|_| 30),
        report: 3,
        sync: 4,
        seccomp: seccomp.map(|_| 5),
        job: setup.mode.pty.then_some(6),
        console: setup.mode.pty.then_some(7),
        trees: std::iter::once(("/".to_string(), idmapped::rootfs_tree(auto)))
            .chain(
                setup
                    .volumes
                    .iter()
                    .map(|v| (v.dst.clone(), idmapped::volume_tree(auto, v))),
            )
            .filter(|(_, tree)| *tree != idmapped::Tree::None)
            .zip(8..)
            .map(|((dst, _), fd)| TreeFd { dst, fd })
            .collect(),
        overlay_dir: None,
    };
    let root_word = match &rootfs {
        dryrun::Rootfs::Dir(d) => d.clone(),
        dryrun::Rootfs::Archive { .. } => "$ROOTFS".to_string(),
    };
    let volumes = setup.volumes.clone();
    let (ids, iso, mode) = (setup.ids, setup.iso, setup.mode);
    let network = network::dry_run_lines(setup.net);
    let overlay = (setup.overlay).then(|| shared::plan::Overlay {
        upper: match &setup.overlay_dir {
            Some(path) => shared::plan::Upper::Dir {
                path: path.clone(),
                tree: None,
            },
            None => shared::plan::Upper::Tmpfs,
        },
        userxattr: ids.is_some(),
    });
    let spec = init_args(args, root_word, &fds, setup);
    let input = dryrun::Input {
        invocation: std::env::args_os().collect(),
        rootfs,
        ids,
        caller_root: nix::unistd::geteuid().is_root(),
        iso,
        hostname_uts: args.hostname.is_some(),
        volumes: &volumes,
        overlay,
        read_only: args.read_only,
        workdir: args.workdir.as_deref(),
        user: spec.user.as_deref(),
        hostname: args.hostname.as_deref(),
        tty: mode,
        env,
        spec: &spec,
        seccomp: seccomp.map(|f| f.summary.clone()),
        network,
    };
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(&dryrun::script(&input))
        .and_then(|()| out.flush())
        .map_err(|e| Error::Usage(format!("--dry-run: write the script: {}", io_why(&e))))?;
    Ok(0)
}

/// The rootfs must be an existing directory; nsinit gets its absolute,
/// symlink-free path.
fn validate_rootfs(given: &str) -> Result<String, Error> {
    let bad = |why: String| Error::Usage(format!("--rootfs {given}: {why}"));
    let meta = std::fs::metadata(given).map_err(|e| bad(io_why(&e)))?;
    if !meta.is_dir() {
        return Err(bad(
            "not a directory, nor a tar archive (.tar, .tar.gz, .tar.xz, .tar.zst)".into(),
        ));
    }
    let abs = std::fs::canonicalize(given).map_err(|e| bad(io_why(&e)))?;
    abs.into_os_string()
        .into_string()
        .map_err(|_| bad("the path is not valid UTF-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(argv: &[&str]) -> LaunchArgs {
        LaunchArgs::parse(argv).expect("parses")
    }

    fn usage(e: Error) -> String {
        match e {
            Error::Usage(why) => why,
            other => panic!("not a usage error: {other}"),
        }
    }

    #[test]
    fn the_process_options_are_checked_before_anything_is_made() {
        let bad = |argv: &[&str]| usage(check_process_options(&args(argv)).unwrap_err());
        assert_eq!(
            bad(&["--user", "", "sh"]),
            "--user: empty (give USER[:GROUP])"
        );
        assert_eq!(
            bad(&["--workdir", "tmp", "sh"]),
            "--workdir tmp: must be an absolute path in the container"
        );
        assert!(bad(&["--hostname", "a b", "sh"]).starts_with("--hostname \"a b\": "));
        assert!(bad(&["--grace", "soon", "sh"]).starts_with("--grace soon: "));
        assert!(bad(&["--stop-delay", "1x", "sh"]).starts_with("--stop-delay 1x: "));
        let ok = args(&["--hostname", "box-1.lan", "--grace", "2s", "sh"]);
        assert_eq!(check_process_options(&ok).unwrap(), "box-1.lan");
    }

    #[test]
    fn hostnames_the_kernel_and_resolvers_take() {
        assert!(check_hostname("a").is_ok());
        assert!(check_hostname(&"x".repeat(64)).is_ok());
        assert!(check_hostname(&"x".repeat(65)).is_err());
        assert!(check_hostname("").is_err());
        assert!(check_hostname("a/b").is_err());
    }

    #[test]
    fn the_rootfs_argument_is_an_existing_directory_or_a_tarball() {
        let why = usage(rootfs_arg(&args(&["sh"])).unwrap_err());
        assert_eq!(why, "--rootfs DIR is required (see nslaunch --help)");
        // A file that is not a tarball is neither.
        let why = usage(rootfs_arg(&args(&["--rootfs", "/proc/self/status", "sh"])).unwrap_err());
        assert!(why.contains("not a directory, nor a tar archive"), "{why}");
        let why = usage(rootfs_arg(&args(&["--rootfs", "/nonexistent/r", "sh"])).unwrap_err());
        assert!(why.starts_with("--rootfs /nonexistent/r: "), "{why}");
        let (archive, dir) = rootfs_arg(&args(&["--rootfs", "/proc/self/..", "sh"])).unwrap();
        assert_eq!((archive, dir.as_str()), (None, "/proc"));
    }

    #[test]
    fn the_environment_gets_a_term_for_a_terminal_and_the_socket_names() {
        let a = args(&["-e", "A=1", "sh"]);
        let pty = tty::Mode {
            pty: true,
            stdin: true,
            group_signals: false,
        };
        let listen = activation::Activation {
            fds: 2,
            names: Some("web:admin".into()),
        };
        let env = command_env(&a, "box", Some(&listen), pty).unwrap();
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("A"), Some("1"));
        assert_eq!(get("HOSTNAME"), Some("box"));
        assert_eq!(get(shared::activation::LISTEN_FDNAMES), Some("web:admin"));
        if std::env::var_os("TERM").is_none() {
            assert_eq!(get("TERM"), Some("xterm"));
        }
        let env = command_env(&args(&["-e", "TERM=vt100", "sh"]), "box", None, pty).unwrap();
        assert!(env.iter().any(|(k, v)| k == "TERM" && v == "vt100"));
    }
}
