//! nslaunch: run a command in a rootless container made from a directory.
//!
//! The launcher validates what it can on the host, clones into new user,
//! mount and PID namespaces, writes the id maps, and execs nsinit there;
//! nsinit builds the container root and runs the command (see docs/DESIGN-NOTES.md).

mod activation;
mod cache;
mod check;
mod cli;
mod container;
mod dryrun;
mod error;
mod help;
mod idmapped;
mod isolation;
mod network;
mod oci;
mod overlay;
mod sdnotify;
mod seccomp;
mod tty;
mod unpack;
mod userns;
mod volumes;

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::exit;

use cli::LaunchArgs;
use error::{io_why, Error};
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use shared::env;
use shared::spec::{InitArgs, TreeFd};
use shared::sys::CStringArray;

// Unit tests check that code meant for a forked child does not allocate.
#[cfg(test)]
#[global_allocator]
static ALLOC: shared::sys::GuardedAlloc = shared::sys::GuardedAlloc;

fn main() {
    ensure_standard_fds();
    // The OCI runtime verbs (`nslaunch [--root DIR ...] create ...`).
    let argv: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if let Some(code) = oci::main(&argv) {
        exit(code);
    }
    // Subcommands, only as the very first argument (so that
    // `nslaunch --rootfs R check` still runs a command named check, and
    // `nslaunch --rootfs R cache` one named cache).
    if std::env::args_os().nth(1).is_some_and(|a| a == "cache") {
        let rest: Vec<String> = std::env::args_os()
            .skip(2)
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        exit(cache::command(&rest));
    }
    if let Some(code) = subcommand() {
        exit(code);
    }
    let args = match parse_args() {
        Ok(a) => a,
        Err(code) => exit(code),
    };
    if args.version {
        print!("{}", oci::verbs::version());
        exit(0);
    }
    let log = shared::log::Log::new("nslaunch", args.verbose || log_from_env());
    match launch(args, &log) {
        Ok(status) => exit(status),
        Err(e) => {
            eprintln!("nslaunch: {e}");
            exit(e.status());
        }
    }
}

/// `nslaunch check` (alias `doctor`): `Some(exit status)` when argv[1]
/// names a subcommand.
fn subcommand() -> Option<i32> {
    // args_os: a non-UTF-8 argument is parse_args's to refuse, not a panic.
    let argv: Vec<String> = std::env::args_os()
        .skip(1)
        .take(3)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let first = argv.first()?;
    if first != "check" && first != "doctor" {
        return None;
    }
    match argv.get(1).map(String::as_str) {
        None => {}
        Some("-h" | "--help") => {
            println!(
                "Usage: nslaunch check\n\n\
                 Inspect this machine: user namespaces and the sysctls that allow them, the\n\
                 namespace kinds, /etc/subuid and /etc/subgid ranges, newuidmap/newgidmap,\n\
                 overlayfs in a user namespace, cgroup v2 delegation, the network helpers\n\
                 (pasta, slirp4netns) and /dev/net/tun, nsinit; then run a real default\n\
                 container. Each line is OK, WARN or FAIL, with the fix.\n\n\
                 Exit status: 0 when a default container can run here, 1 when it cannot."
            );
            return Some(0);
        }
        Some(other) => {
            eprintln!("nslaunch: check: unexpected argument {other:?} (see nslaunch check --help)");
            return Some(shared::exit::FAILED);
        }
    }
    let me = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("nslaunch"));
    let nsinit = find_init(None).map_err(|e| e.to_string());
    Some(check::run(&me, nsinit))
}

/// If the caller closed stdin, stdout or stderr, put /dev/null there, so a
/// pipe we create cannot take fd 0-2 and reach the command as its stdin.
fn ensure_standard_fds() {
    for fd in 0..3 {
        if !shared::sys::raw_fd_is_open(fd) {
            // open returns the lowest free number: this very fd.
            if let Ok(null) = nix::fcntl::open("/dev/null", OFlag::O_RDWR, Mode::empty()) {
                std::mem::forget(null);
            }
        }
    }
}

fn parse_args() -> Result<LaunchArgs, i32> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    LaunchArgs::parse(&args).map_err(|early| shared::cli::early_exit("nslaunch", help::TEXT, early))
}

fn launch(args: LaunchArgs, log: &shared::log::Log) -> Result<i32, Error> {
    // First, before any descriptor of ours takes a number. Sockets that
    // systemd handed us pass like --preserve-fds (both: the wider range).
    let listen = activation::from_env()?;
    let preserve_fds = isolation::preserved_fds(args.preserve_fds)?;
    let preserve_fds = preserve_fds.max(listen.as_ref().map_or(0, |l| l.fds));
    let rootfs = args
        .rootfs
        .as_deref()
        .ok_or_else(|| Error::Usage("--rootfs DIR is required (see nslaunch --help)".into()))?;
    // A tarball is unpacked into the cache below, once the rest is checked.
    let archive = cache::is_archive(rootfs).then(|| rootfs.to_string());
    let rootfs = match &archive {
        Some(_) => String::new(),
        None => validate_rootfs(rootfs)?,
    };
    if args.command.is_empty() {
        return Err(Error::Usage(
            "no command given (usage: nslaunch [OPTIONS] --rootfs DIR [--] CMD [ARGS...])".into(),
        ));
    }
    let ids = userns::plan(args.userns.as_deref(), &args.uid_map, &args.gid_map)?;
    let real_root = nix::unistd::geteuid().is_root();
    let mut volumes = volumes::validate(&args.volume, real_root, ids.is_some())?;
    let mut iso = isolation::plan(&args, ids.is_none(), &volumes)?;
    let mut net = network::plan(&args, ids.is_none(), args.verbose || log_from_env())?;
    iso.namespaces = (iso.namespaces & !libc::CLONE_NEWNET) | net.clone_flag;
    iso.net = net.loopback;
    let seccomp = log.step("build the seccomp filter", || {
        isolation::seccomp_filter(args.seccomp.as_deref(), iso.caps)
    })?;
    match &seccomp {
        Some(f) => log.info(format_args!("seccomp: {} ({})", f.summary, f.shape())),
        None => log.info(format_args!("seccomp: none (--seccomp unconfined)")),
    }
    let notify = notify_plan(&args, &volumes, &iso)?;
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
        }
    }
    let mode = tty::Mode::for_this_process(args.tty, args.no_tty, args.interactive)?;
    let mut env = environment(&args, &hostname)?;
    if let Some(names) = listen.as_ref().and_then(|l| l.names.as_deref()) {
        env::set(&mut env, shared::activation::LISTEN_FDNAMES, names);
    }
    if mode.pty && !env.iter().any(|(k, _)| k == "TERM") {
        // A terminal needs a type; docker's -t gives xterm.
        env::set(&mut env, "TERM", "xterm");
    }
    let init_path = find_init(args.init.as_deref())?;
    let init = nix::fcntl::open(&init_path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| Error::sys(format!("open the init {}", init_path.display()), e))?;
    let init_cpath = std::fs::canonicalize(&init_path)
        .ok()
        .and_then(|p| std::ffi::CString::new(p.into_os_string().into_encoded_bytes()).ok())
        .ok_or_else(|| {
            Error::Usage(format!(
                "--init {}: cannot resolve its path",
                init_path.display()
            ))
        })?;
    let init_path = init_path.display().to_string();

    if args.dry_run {
        let rootfs = match &archive {
            Some(file) => dryrun::Rootfs::Archive {
                file: std::fs::canonicalize(file)
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|_| file.clone()),
                cache: cache::base_dir()
                    .map_err(|why| Error::Usage(format!("--rootfs {file}: {why}")))?
                    .display()
                    .to_string(),
            },
            None => dryrun::Rootfs::Dir(rootfs),
        };
        let overlay_dir = args.overlay_dir.as_ref().map(|d| {
            std::path::absolute(d)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| d.clone())
        });
        return dry_run(
            &args,
            rootfs,
            &env,
            seccomp.as_ref(),
            Setup {
                volumes,
                ids: ids.as_ref(),
                iso: &iso,
                preserve_fds,
                listen_fds: listen.as_ref().map(|l| l.fds),
                overlay: args.overlay || overlay_dir.is_some() || archive.is_some(),
                overlay_dir,
                mode,
                net: &net,
            },
        );
    }
    // NOTIFY_SOCKET: the container's socket is one more volume (not in
    // --dry-run's script: nothing is made there).
    let notifier = sdnotify::Notifier::new(&notify)?;
    volumes.extend(notifier.as_ref().and_then(|n| n.volume()));
    for (k, v) in sdnotify::command_env(&notify) {
        env::set(&mut env, &k, &v);
    }
    // Root filesystems from tarballs, and copy-on-write runs: a cached
    // rootfs is shared by every run of its archive and never changed, so
    // it always runs on an overlay. Real root keeps the archive's owners
    // (its default --userns auto maps them through an idmapped mount).
    // `entry` and `overlay_dir` hold locks until the container is over.
    log.info(format_args!("options and paths checked"));
    let entry = match &archive {
        Some(file) => Some(log.step("find or unpack the tarball in the cache", || {
            cache::rootfs_for(file, nix::unistd::geteuid().is_root(), log)
        })?),
        None => None,
    };
    let rootfs = entry.as_ref().map_or(rootfs, |e| e.root.clone());
    let overlay_dir = match &args.overlay_dir {
        Some(dir) => Some(overlay::prepare_dir(dir, &rootfs)?),
        None => None,
    };
    // Real root runs the cache entry it locked and checked, not whatever
    // its path names by the time nsinit looks: the rootfs is a detached
    // mount made from the entry's descriptor (by /proc/self/fd/N, which
    // names exactly that directory), passed to nsinit as the "/" tree.
    let entry_src = entry
        .as_ref()
        .filter(|_| nix::unistd::geteuid().is_root())
        .map(|e| format!("/proc/self/fd/{}", e.root_fd.as_raw_fd()));
    let mut trees = match &ids {
        Some(plan) if plan.idmapped || volumes.iter().any(|v| v.idmap) => log.step(
            "make the mount trees (idmapped, or cloned for nsinit)",
            || {
                idmapped::trees(
                    plan,
                    entry_src.as_deref().unwrap_or(&rootfs),
                    &volumes,
                    overlay_dir.as_ref().map(|d| d.path.as_str()),
                )
            },
        )?,
        _ => Vec::new(),
    };
    if let (Some(e), Some(_)) = (&entry, &entry_src) {
        if !trees.iter().any(|(dst, _)| dst == "/") {
            let tree =
                shared::sys::raw_open_tree_fd(e.root_fd.as_raw_fd(), true).map_err(|errno| {
                    Error::sys(format!("--rootfs {rootfs}: clone the mount"), errno)
                })?;
            trees.insert(0, ("/".to_string(), tree));
        }
    }
    let overlay_dir_tree = trees
        .iter()
        .position(|(key, _)| key == idmapped::OVERLAY_DIR)
        .map(|i| trees.remove(i).1);
    let (report_r, report_w) = container::pipe()?;
    let release = container::pipe()?;
    let seccomp_fd = match &seccomp {
        Some(f) => Some(container::program_pipe(&f.to_message())?),
        None => None,
    };
    let (job, console) = if mode.pty {
        (Some(container::pipe()?), Some(tty::ConsoleSocket::new()?))
    } else {
        (None, None)
    };
    let fds = InitFds {
        report: report_w.as_raw_fd(),
        sync: release.0.as_raw_fd(),
        seccomp: seccomp_fd.as_ref().map(|f| f.as_raw_fd()),
        job: job.as_ref().map(|(_, w)| w.as_raw_fd()),
        console: console.as_ref().map(|c| c.theirs_raw()),
        trees: trees
            .iter()
            .map(|(dst, fd)| TreeFd {
                dst: dst.clone(),
                fd: fd.as_raw_fd(),
            })
            .collect(),
        overlay_dir: overlay_dir_tree.as_ref().map(|fd| fd.as_raw_fd()),
    };
    let spec = init_args(
        &args,
        rootfs,
        &fds,
        Setup {
            volumes,
            ids: ids.as_ref(),
            iso: &iso,
            preserve_fds,
            listen_fds: listen.as_ref().map(|l| l.fds),
            overlay: args.overlay || overlay_dir.is_some() || entry.is_some(),
            overlay_dir: overlay_dir.as_ref().map(|d| d.path.clone()),
            mode,
            net: &net,
        },
    );
    let argv = CStringArray::new(
        std::iter::once("nsinit".into())
            .chain(spec.render())
            .map(std::os::unix::ffi::OsStringExt::into_vec),
    )
    .map_err(|a| Error::Usage(format!("argument contains a NUL byte: {a}")))?;
    let envp = CStringArray::new(env.iter().map(|(k, v)| format!("{k}={v}")))
        .map_err(|e| Error::Usage(format!("environment contains a NUL byte: {e}")))?;

    container::run(
        container::Launch {
            init,
            init_path,
            init_cpath,
            argv,
            envp,
            report_w,
            report_r,
            job,
            console,
            tty: mode,
            pass_fds: trees
                .into_iter()
                .map(|(_, fd)| fd)
                .chain(overlay_dir_tree)
                .chain(seccomp_fd)
                .collect(),
            namespaces: container::clone_flags(ids.is_some(), args.hostname.is_some())
                | iso.namespaces,
            unshare_after_release: if iso.time { libc::CLONE_NEWTIME } else { 0 },
            joins: net
                .join
                .take()
                .map(|fd| (libc::CLONE_NEWNET, fd))
                .into_iter()
                .collect(),
            release,
            before_release: container::BeforeRelease {
                network: net.helper.take(),
                ..Default::default()
            },
            preserve_fds,
            child_ids: ids.as_ref().map(|p| p.child_ids()).unwrap_or_default(),
        },
        ids.as_ref(),
        log,
        notifier,
    )
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

/// `NSLAUNCH_LOG` set to anything but empty or 0 means --verbose.
fn log_from_env() -> bool {
    std::env::var("NSLAUNCH_LOG").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// `--dry-run`: print the script (see `dryrun.rs`) instead of running.
fn dry_run(
    args: &LaunchArgs,
    rootfs: dryrun::Rootfs,
    env: &[(String, String)],
    seccomp: Option<&seccomp::Filter>,
    setup: Setup,
) -> Result<i32, Error> {
    let auto = setup.ids.is_some_and(|p| p.idmapped);
    // Placeholders for descriptor numbers that do not exist yet.
    let fds = InitFds {
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

/// `--init PATH`, else `nsinit` beside this executable (the build tree and
/// `make install` both put it there), else `../libexec/nslaunch/nsinit`.
pub(crate) fn find_init(explicit: Option<&str>) -> Result<PathBuf, Error> {
    if let Some(p) = explicit {
        let meta = std::fs::metadata(p)
            .map_err(|e| Error::Usage(format!("--init {p}: {}", io_why(&e))))?;
        if !meta.is_file() {
            return Err(Error::Usage(format!("--init {p}: not a regular file")));
        }
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()
        .map_err(|e| Error::Usage(format!("cannot find nslaunch's own path: {e}")))?;
    let dir = exe.parent().unwrap_or(Path::new("/"));
    let candidates = [dir.join("nsinit"), dir.join("../libexec/nslaunch/nsinit")];
    candidates
        .iter()
        .find(|c| c.is_file())
        .cloned()
        .ok_or_else(|| {
            Error::Usage(format!(
                "cannot find nsinit beside {} (build it with `make`, or pass --init PATH)",
                exe.display()
            ))
        })
}
