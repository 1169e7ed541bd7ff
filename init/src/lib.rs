//! nsinit: PID 1 for containers.
//!
//! Alone, `nsinit [OPTIONS] [--] CMD [ARGS...]` is the init of any container
//! image (like tini, dumb-init or catatonit). Under nslaunch, `--rootfs DIR`
//! first builds the container's root (see `setup.rs`) and `--report-fd FD`
//! sends failures back to the launcher. Then nsinit starts CMD as its child,
//! reaps every zombie, forwards every signal, stops gracefully, and exits
//! with CMD's status.

mod activation;
mod command;
mod confine;
mod console;
mod error;
mod fds;
mod help;
mod hooks;
mod identity;
mod lifecycle;
mod netns;
mod oci_mounts;
mod setup;

use std::ffi::OsString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::process::exit;

use base::supervise;
use base::supervision::Supervision;
use command::{Placement, Sink};
use error::Error;
use shared::log::Log;
use shared::spec::InitArgs;
use shared::sys;

/// nsinit's whole run on `args` (argv without argv[0]); never returns.
/// The `nsinit` executable calls it with its own argv; nslaunch calls it
/// in its cloned child (PID 1 of the new namespaces) instead of exec'ing
/// the executable, once it has made the child look like a freshly exec'd
/// process (see the launcher's `container.rs`).
pub fn main_with(args: Vec<OsString>) -> ! {
    // Before anything else: every signal queues for the signalfd from now
    // on, so none is lost while we set up, and none takes a default action.
    if let Err(e) = base::sys::block_all_signals() {
        eprintln!("nsinit: block signals: {}", e.desc());
        exit(shared::exit::FAILED);
    }
    let mut args = match parse_args(&args) {
        Ok(a) => a,
        Err(code) => exit(code),
    };
    if args.version {
        println!("nsinit {}", env!("CARGO_PKG_VERSION"));
        exit(0);
    }
    if args.launched() {
        // What the container's `ps` shows as PID 1: `nsinit -- CMD...`,
        // not nslaunch's plumbing (nor the rootfs's host path).
        confine::show_only_the_command(&args.command);
    }
    let sink = match args.report_fd {
        Some(fd) => {
            // The command must not inherit the report pipe: its end of
            // file tells nslaunch that the command has started.
            if sys::raw_set_cloexec(fd, true).is_err() {
                eprintln!("nsinit: --report-fd {fd}: not an open file descriptor");
                exit(shared::exit::FAILED);
            }
            Sink::Pipe(fd)
        }
        None => Sink::Stderr,
    };
    for (flag, fd) in [
        ("--job-control-fd", args.job_control_fd),
        ("--sync-fd", args.sync_fd),
        ("--start-fifo-fd", args.start_fifo_fd),
        ("--init-fd", args.init_fd),
    ] {
        if let Some(fd) = fd {
            if sys::raw_set_cloexec(fd, true).is_err() {
                eprintln!("nsinit: {flag} {fd}: not an open file descriptor");
                exit(shared::exit::FAILED);
            }
        }
    }
    // First, before nsinit opens anything of its own: a descriptor of ours
    // could take a closed number below 3+N and be closed as the caller's.
    // Socket activation's descriptors count among them.
    let result = activation::resolve(&mut args, env_var)
        .and_then(|listen| confine::check_preserved_fds(&args).map(|()| listen))
        .and_then(|listen| {
            let cfg =
                Supervision::resolve(&args.supervision_flags(), env_var).map_err(Error::Usage)?;
            let log = Log::new("nsinit", cfg.verbose);
            run(&args, &cfg, &log, sink, listen)
        });
    match result {
        Ok(status) => exit(status),
        Err(e) => {
            sink.send(&e.report());
            exit(e.status());
        }
    }
}

/// An environment variable nsinit reads (NSINIT_*, LISTEN_*): one that is
/// not UTF-8 is shown lossily and refused by its parser, as by the
/// standalone nsinit's.
fn env_var(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

/// Parse argv; on `--help` print it and exit 0, on a usage error print one
/// line and exit 125.
fn parse_args(args: &[OsString]) -> Result<InitArgs, i32> {
    InitArgs::parse("nsinit", args)
        .map_err(|early| shared::cli::early_exit("nsinit", help::TEXT, early))
}

/// nsinit's phases: settle itself, build the container (with `--rootfs`),
/// prepare the command, then hand over to an OCI bundle's process or
/// start the command and supervise it.
fn run(
    args: &InitArgs,
    cfg: &Supervision,
    log: &Log,
    sink: Sink,
    listen: Option<u32>,
) -> Result<i32, Error> {
    settle_self(args, cfg)?;
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    let seccomp = identity::read_seccomp(args.seccomp_fd)?;
    activation::command_env(&mut env, listen, !args.launched() && !args.oci);
    // Taken (close-on-exec) before anything else can run.
    let console_socket = args.console_socket.map(take_console_socket).transpose()?;
    build_container(args, sink, log)?;
    let ready = prepare(args, env, seccomp, console_socket, listen)?;
    hand_over(args, sink, &ready)?;
    supervise(args, cfg, log, sink, ready)
}

/// Checks and settings of nsinit's own, before it opens anything.
fn settle_self(args: &InitArgs, cfg: &Supervision) -> Result<(), Error> {
    if args.command.is_empty() {
        return Err(Error::Usage(
            "no command given (usage: nsinit [OPTIONS] [--] CMD [ARGS...])".into(),
        ));
    }
    if args.oci && args.init_fd.is_some() {
        return Err(Error::Usage(
            "--init-fd: not with --oci (the bundle's process is the container's first)".into(),
        ));
    }
    // Before any descriptor is taken (see fds.rs).
    fds::check_distinct(args)?;
    confine::seal_self(args)?;
    if let Some(sig) = cfg.pdeathsig {
        sys::raw_set_parent_death_signal(sig).map_err(|e| Error::sys("--pdeathsig", e))?;
    }
    if cfg.subreaper {
        nix::sys::prctl::set_child_subreaper(true)
            .map_err(|e| Error::sys("--subreaper (PR_SET_CHILD_SUBREAPER)", e))?;
    }
    Ok(())
}

fn take_console_socket(fd: RawFd) -> Result<OwnedFd, Error> {
    // SAFETY: nothing of ours holds it yet, and fds::check_distinct made
    // sure no other option names the same number.
    unsafe { sys::take_inherited_fd(fd) }.map_err(|_| {
        Error::Usage(format!(
            "--console-socket {fd}: not an open file descriptor"
        ))
    })
}

/// The container around the command: its sysctls, its root (`--rootfs`),
/// its names and its loopback.
fn build_container(args: &InitArgs, sink: Sink, log: &Log) -> Result<(), Error> {
    // Through the host's /proc, before anything is mounted or masked: the
    // values are those of the namespaces we are in.
    lifecycle::sysctls(&args.sysctl)?;
    let mut trees = setup::take_trees(&args.tree, &args.volume)?;
    let overlay = setup::overlay(args, &mut trees)?;
    let mut before_pivot = || match (args.hooks, args.sync_fd) {
        (true, Some(fd)) => lifecycle::stop_for_hooks(sink, fd),
        (true, None) => Err(Error::Usage("--hooks needs --sync-fd".into())),
        _ => Ok(()),
    };
    match &args.rootfs {
        Some(rootfs) => setup::build_root(rootfs, args, overlay, trees, log, &mut before_pivot)?,
        None if !args.volume.is_empty()
            || !args.tree.is_empty()
            || !args.tmpfs.is_empty()
            || args.read_only
            || overlay.is_some()
            || !args.dns.is_empty()
            || !args.add_host.is_empty() =>
        {
            return Err(Error::Usage(
                "--volume, --tree, --tmpfs, --read-only, --overlay, --dns and --add-host need \
                 --rootfs"
                    .into(),
            ))
        }
        None => {}
    }
    if let Some(name) = &args.hostname {
        nix::unistd::sethostname(name)
            .map_err(|e| Error::sys(format!("--hostname {name}: sethostname"), e))?;
    }
    if let Some(name) = &args.domainname {
        sys::setdomainname(name)
            .map_err(|e| Error::sys(format!("--domainname {name}: setdomainname"), e))?;
    }
    if args.loopback {
        netns::loopback_up()?;
    }
    if args.rootfs.is_some() {
        log.info(format_args!("container root ready"));
    }
    Ok(())
}

/// Everything the command needs, made before it is started.
struct Ready {
    cmd: command::Prepared,
    creds: identity::Credentials,
    sfd: base::sys::Fd,
    console: Option<console::Console>,
    /// /dev/null, for `--null-stdin`.
    null: Option<OwnedFd>,
    /// The terminal whose foreground the command gets.
    tty: Option<RawFd>,
}

impl Ready {
    // The command always gets a process group of its own, as tini gives
    // it: nsinit's own group is often orphaned (its parent is outside its
    // session or PID namespace, as in a container or a CI job, or nsinit
    // leads its session), and the kernel discards SIGTSTP, SIGTTIN and
    // SIGTTOU sent to a process of an orphaned group whose action is to
    // stop. The command's group has its parent, nsinit, in another group of
    // the same session: not orphaned.
    fn place(&self) -> Placement {
        Placement {
            foreground: self.tty,
            stdio: self.console.as_ref().map(|c| c.fd()),
            stdin: self.null.as_ref().map(|n| n.as_raw_fd()),
        }
    }
}

/// The command's identity, environment, terminal and stdin.
fn prepare(
    args: &InitArgs,
    mut env: Vec<(OsString, OsString)>,
    seccomp: Option<identity::Seccomp>,
    console_socket: Option<OwnedFd>,
    listen: Option<u32>,
) -> Result<Ready, Error> {
    let who = identity::resolve(args)?;
    if let Some(dir) = &args.workdir {
        identity::make_workdir(dir)?;
    }
    if let (Some(_), Some(who)) = (&args.rootfs, &who) {
        if !env.iter().any(|(k, _)| k == "HOME") {
            env.push(("HOME".into(), who.home.clone().into()));
        }
    }
    let creds = identity::Credentials::prepare(who.as_ref(), args, seccomp)?;
    let sfd = base::sys::signalfd_all()
        .map(base::sys::Fd)
        .map_err(|e| Error::sys("create a signalfd", nix::errno::Errno::from_raw(e.0)))?;
    let cmd = command::prepare(&args.command, &env, args.rootfs.is_some(), listen.is_some())?;
    let console = match console_socket {
        Some(socket) => Some(console::Console::attach(
            socket,
            args.console_size,
            args.rootfs.is_some(),
            who.as_ref(),
        )?),
        None => None,
    };
    let null = if args.null_stdin {
        let null = nix::fcntl::open(
            "/dev/null",
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| Error::sys("--null-stdin: open /dev/null", e))?;
        Some(null)
    } else {
        None
    };
    let tty = match &console {
        Some(c) => Some(c.fd()),
        None => supervise::foreground_terminal(),
    };
    Ok(Ready {
        cmd,
        creds,
        sfd,
        console,
        null,
        tty,
    })
}

/// An OCI container: wait for `start` (or detach from the runtime), then
/// become the bundle's process; never returns `Ok` for one.
fn hand_over(args: &InitArgs, sink: Sink, ready: &Ready) -> Result<(), Error> {
    let (cmd, creds, place) = (&ready.cmd, &ready.creds, ready.place());
    if let Some(sync) = args.sync_fd {
        if lifecycle::created(sink, sync)? == lifecycle::Go::Detach {
            // From here on a failure is the container's own to tell (on
            // its stderr): the launcher is gone, and with it the report
            // pipe.
            let e = match lifecycle::detach(sink, sync, args.start_fifo_fd) {
                Ok(()) => replace_nsinit(args, cmd, creds, place, Sink::Stderr),
                Err(e) => e,
            };
            eprintln!("nsinit: {e}");
            exit(e.status());
        }
    }
    if args.oci {
        return Err(replace_nsinit(args, cmd, creds, place, sink));
    }
    if let Some(fd) = args.init_fd {
        // nslaunch's --init PATH: that init, not nsinit, is PID 1, and
        // the command its child, as under `docker run --init`.
        let name = args.init_name.as_deref().unwrap_or("init");
        let init = cmd.init_at(fd, std::ffi::OsStr::new(name), &args.command)?;
        return Err(replace_nsinit(args, &init, creds, place, sink));
    }
    Ok(())
}

/// Start the command in its own process group and be its init until it
/// ends: its status is ours.
fn supervise(
    args: &InitArgs,
    cfg: &Supervision,
    log: &Log,
    sink: Sink,
    ready: Ready,
) -> Result<i32, Error> {
    // Warn only once everything is checked: a refused run says one line.
    let pid1 = sys::raw_getpid() == 1;
    if !pid1 && !cfg.subreaper {
        log.warn(format_args!(
            "not PID 1 and not a subreaper (-s): orphaned processes will not reach nsinit to be reaped"
        ));
    }
    let gate = confine::Gate::prepare(args)?;
    let child = command::spawn(&ready.cmd, sink, &ready.creds, ready.place(), gate)?;
    // The command started where we were started; we need no directory,
    // so we do not keep the caller's busy (an unmountable filesystem).
    let _ = nix::unistd::chdir("/");
    log.info(format_args!(
        "started {:?} as pid {child} in its own process group{}",
        args.command[0],
        if ready.tty.is_some() {
            ", in the terminal's foreground"
        } else {
            ""
        },
    ));
    if let Sink::Pipe(fd) = sink {
        // Our copy of the report pipe; the child's closes at its exec.
        // SAFETY: the report fd is only ever used by number (Sink::Pipe),
        // never adopted, and no other option names it (fds.rs); nothing
        // writes to it after this.
        unsafe { sys::raw_close(fd) };
    }
    let Ready {
        sfd,
        console,
        null,
        tty,
        ..
    } = ready;
    drop(null);
    let command = supervise::Command {
        pid: child.as_raw(),
        tty,
        job_fd: args.job_control_fd,
    };
    let status = supervise::Supervisor::new(sfd, command, cfg, log).run();
    drop(console);
    Ok(status)
}

/// An OCI bundle's process, or the `--init` init, replaces nsinit; what
/// comes back is why not.
fn replace_nsinit(
    args: &InitArgs,
    cmd: &command::Prepared,
    creds: &identity::Credentials,
    place: Placement,
    sink: Sink,
) -> Error {
    let umask = match args.umask.as_deref().map(|m| u32::from_str_radix(m, 8)) {
        None => None,
        Some(Ok(m)) if m <= 0o777 => Some(m),
        Some(_) => {
            return Error::Usage(format!(
                "--umask {}: expected an octal mode",
                args.umask.as_deref().unwrap_or("")
            ))
        }
    };
    if let Err(e) = hooks::run_all(&args.start_hook, args.hook_state.as_deref().unwrap_or("{}")) {
        return e;
    }
    // The --init init lives and dies with nslaunch, as nsinit would (an
    // OCI bundle's process outlives the runtime that created it).
    let launcher = match cmd.is_init() {
        true => args.sync_fd,
        false => None,
    };
    let profile = args.apparmor.as_deref();
    lifecycle::exec_in_place(cmd, creds, place, umask, profile, launcher, sink)
}
