//! nsinit: PID 1 for containers.
//!
//! Alone, `nsinit [--] CMD [ARGS...]` is the init of any container image
//! (like tini or dumb-init). Under nslaunch, `--rootfs DIR` first builds the
//! container's root (see `setup.rs`) and `--report-fd FD` sends failures
//! back to the launcher. Then nsinit starts CMD as its child, reaps every
//! zombie, forwards every signal, and exits with CMD's status.

mod command;
mod error;
mod identity;
mod setup;
mod supervise;

use std::ffi::OsString;
use std::process::exit;

use command::Sink;
use error::Error;
use shared::spec::InitArgs;
use shared::sys;

fn main() {
    // Before anything else: every signal queues for the signalfd from now
    // on, so none is lost while we set up, and none takes a default action.
    if let Err(e) = supervise::block_all_signals() {
        eprintln!("nsinit: block signals: {}", e.desc());
        exit(shared::exit::FAILED);
    }
    let args = match parse_args() {
        Ok(a) => a,
        Err(code) => exit(code),
    };
    if args.version {
        println!("nsinit {}", env!("CARGO_PKG_VERSION"));
        exit(0);
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
    match run(&args, sink) {
        Ok(status) => exit(status),
        Err(e) => {
            sink.send(&e.report());
            exit(e.status());
        }
    }
}

/// Parse argv; on `--help` print it and exit 0, on a usage error print one
/// line and exit 125.
fn parse_args() -> Result<InitArgs, i32> {
    let mut argv = std::env::args_os();
    let _ = argv.next();
    let mut args = Vec::new();
    for a in argv {
        match a.into_string() {
            Ok(s) => args.push(s),
            Err(bad) => {
                eprintln!(
                    "nsinit: argument {:?} is not valid UTF-8",
                    bad.to_string_lossy()
                );
                return Err(shared::exit::FAILED);
            }
        }
    }
    InitArgs::parse("nsinit", &args).map_err(|early| match early.status {
        Ok(()) => {
            print!("{}", early.output);
            0
        }
        Err(()) => {
            eprintln!("nsinit: {}", early.output.trim_end().replace('\n', "; "));
            shared::exit::FAILED
        }
    })
}

fn run(args: &InitArgs, sink: Sink) -> Result<i32, Error> {
    if args.command.is_empty() {
        return Err(Error::Usage(
            "no command given (usage: nsinit [OPTIONS] [--] CMD [ARGS...])".into(),
        ));
    }
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    let trees = setup::take_trees(&args.tree, &args.volume)?;
    match &args.rootfs {
        Some(rootfs) => setup::build_root(rootfs, &args.volume, &args.tree, trees)?,
        None if !args.volume.is_empty() || !args.tree.is_empty() => {
            return Err(Error::Usage("--volume and --tree need --rootfs".into()))
        }
        None => {}
    }
    if let Some(name) = &args.hostname {
        nix::unistd::sethostname(name)
            .map_err(|e| Error::sys(format!("--hostname {name}: sethostname"), e))?;
    }
    let who = identity::resolve(args)?;
    if let Some(dir) = &args.workdir {
        identity::make_workdir(dir)?;
    }
    if let (Some(_), Some(who)) = (&args.rootfs, &who) {
        if !env.iter().any(|(k, _)| k == "HOME") {
            env.push(("HOME".into(), who.home.clone().into()));
        }
    }
    let creds = identity::Credentials::prepare(who.as_ref(), args)?;
    let sfd = supervise::signal_fd().map_err(|e| Error::sys("create a signalfd", e))?;
    let cmd = command::prepare(&args.command, &env)?;
    let child = command::spawn(&cmd, sink, &creds)?;
    if let Sink::Pipe(fd) = sink {
        // Our copy of the report pipe; the child's closes at its exec.
        sys::raw_close(fd);
    }
    Ok(supervise::Supervisor::new(sfd, child).run())
}
