//! The standalone nsinit's run: options, socket activation, the
//! command, then the PID-1 loop (`base::supervise`).

use alloc::ffi::CString;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::rt;
use base::alone::{self, AloneArgs, Early};
use base::cstrings::CStringArray;
use base::exit::FAILED;
use base::log::{say, Log};
use base::supervise::{self, Command, Supervisor};
use base::supervision::Supervision;
use base::sys::{self, Errno, Fd};
use base::{activation, command};

/// nsinit's whole run; returns its exit status.
pub fn main(start: rt::Start) -> i32 {
    // Before anything else: every signal queues for the signalfd from now
    // on, so none is lost while we start, and none takes a default action.
    if let Err(e) = sys::block_all_signals() {
        say(format_args!("nsinit: block signals: {}", e.desc()));
        return FAILED;
    }
    let words: Vec<&[u8]> = start.args().collect();
    let mut args = match alone::parse(&words) {
        Ok(a) => a,
        Err(Early::Help) => {
            sys::write_all(1, &[base::help::TEXT.as_bytes()]);
            return 0;
        }
        Err(Early::Usage(m)) => {
            say(format_args!("nsinit: {m} (see nsinit --help)"));
            return FAILED;
        }
    };
    if args.version {
        sys::write_all(
            1,
            &[b"nsinit ", env!("CARGO_PKG_VERSION").as_bytes(), b"\n"],
        );
        return 0;
    }
    let var = |k: &str| {
        start
            .var(k)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    match run(&mut args, &start, var) {
        Ok(status) => status,
        Err((status, message)) => {
            say(format_args!("nsinit: {message}"));
            status
        }
    }
}

/// A failure: the exit status and the line to print.
type Failure = (i32, String);

fn usage(m: String) -> Failure {
    (FAILED, m)
}

fn run(
    args: &mut AloneArgs,
    start: &rt::Start,
    var: impl Fn(&str) -> Option<String>,
) -> Result<i32, Failure> {
    // First, before nsinit opens anything of its own: a descriptor of ours
    // could take a closed number below 3+N and be closed as the caller's.
    let listen = sockets(args, &var)?;
    if let Some(n) = args.preserve_fds {
        activation::check_preserved_fds(n, sys::fd_is_open).map_err(usage)?;
    }
    let cfg = Supervision::resolve(&args.flags, &var).map_err(usage)?;
    let log = Log::new("nsinit", cfg.verbose);
    if args.command.is_empty() {
        return Err(usage(
            "no command given (usage: nsinit [OPTIONS] [--] CMD [ARGS...])".into(),
        ));
    }
    if let Some(n) = args.preserve_fds {
        // Only 3 to 3+N-1 pass to the command (else every inherited one
        // does, as with tini).
        sys::cloexec_from(3u32.saturating_add(n))
            .map_err(|e| sys_failure("mark descriptors close-on-exec", e))?;
    }
    if let Some(sig) = cfg.pdeathsig {
        sys::prctl(sys::PR_SET_PDEATHSIG, sig as usize)
            .map_err(|e| sys_failure("--pdeathsig", e))?;
    }
    if cfg.subreaper {
        sys::prctl(sys::PR_SET_CHILD_SUBREAPER, 1)
            .map_err(|e| sys_failure("--subreaper (PR_SET_CHILD_SUBREAPER)", e))?;
    }
    let prepared = prepare(args, start, listen)?;
    let sfd = Fd(sys::signalfd_all().map_err(|e| sys_failure("create a signalfd", e))?);
    // Warn only once everything is checked: a refused run says one line.
    if sys::getpid() != 1 && !cfg.subreaper {
        log.warn(format_args!(
            "not PID 1 and not a subreaper (-s): orphaned processes will not reach nsinit to be reaped"
        ));
    }
    let tty = supervise::foreground_terminal();
    let pid = spawn(&prepared, tty, args.no_new_privileges)?;
    // The parent's copies of the passed descriptors (only the command
    // uses them).
    for fd in 3..3 + args.preserve_fds.unwrap_or(0).min(i32::MAX as u32 - 3) as i32 {
        // SAFETY: nsinit never adopted them; the command has its copies.
        unsafe { sys::close(fd) };
    }
    // The command started where we were started; we need no directory,
    // so we do not keep the caller's busy (an unmountable filesystem).
    let _ = sys::chdir(c"/");
    log.info(format_args!(
        "started {:?} as pid {pid} in its own process group{}",
        String::from_utf8_lossy(args.command[0]),
        if tty.is_some() {
            ", in the terminal's foreground"
        } else {
            ""
        },
    ));
    let command = Command {
        pid,
        tty,
        job_fd: None,
    };
    Ok(Supervisor::new(sfd, command, &cfg, &log).run())
}

fn sys_failure(what: &str, e: Errno) -> Failure {
    (FAILED, format!("{what}: {}", e.desc()))
}

/// Socket activation (see `base::activation`): descriptors 3 to 3+N-1
/// are the command's when `--listen-fds N` says so or when our own
/// LISTEN_PID is our pid.
fn sockets(
    args: &mut AloneArgs,
    var: &impl Fn(&str) -> Option<String>,
) -> Result<Option<u32>, Failure> {
    let (n, what) = match args.listen_fds {
        Some(n) => (n, format!("--listen-fds {n}")),
        None => {
            let n = activation::listen_fds(
                var(activation::LISTEN_PID).as_deref(),
                var(activation::LISTEN_FDS).as_deref(),
                sys::getpid(),
            )
            .map_err(usage)?;
            let n = n.unwrap_or(0);
            (n, format!("{}={n}", activation::LISTEN_FDS))
        }
    };
    if n == 0 {
        return Ok(None);
    }
    activation::check_open(n, &what, sys::fd_is_open).map_err(usage)?;
    args.preserve_fds = activation::preserved(Some(n), args.preserve_fds);
    Ok(Some(n))
}

/// The command, ready to exec.
struct Prepared {
    path: CString,
    argv: CStringArray,
    envp: CStringArray,
}

/// Find the command against its environment's PATH and build its argv and
/// environment: ours, as it is, but for socket activation's variables.
fn prepare(args: &AloneArgs, start: &rt::Start, listen: Option<u32>) -> Result<Prepared, Failure> {
    let name = args.command[0];
    let path_var = start
        .var("PATH")
        .unwrap_or(command::DEFAULT_PATH.as_bytes());
    let path =
        command::resolve(name, path_var).map_err(|e| (e.status(), e.message().to_string()))?;
    let path = CString::new(path).map_err(|_| usage("command contains a NUL byte".into()))?;
    let argv = CStringArray::new(args.command.iter().map(|w| w.to_vec()))
        .map_err(|a| usage(format!("argument contains a NUL byte: {a}")))?;
    // Ours, but for socket activation's variables: with sockets the
    // command gets the count and its own pid (set in the child); with a
    // stale LISTEN_PID, none of the three.
    let stale = start.var(activation::LISTEN_PID).is_some();
    let withheld = activation::withheld(listen.is_some(), stale);
    let is = |kv: &[u8], k: &str| kv.starts_with(k.as_bytes()) && kv.get(k.len()) == Some(&b'=');
    let mut env: Vec<Vec<u8>> = start
        .env()
        .filter(|kv| !withheld.iter().any(|w| is(kv, w)))
        .map(<[u8]>::to_vec)
        .collect();
    let envp = match listen {
        Some(n) => {
            env.push(format!("{}={n}", activation::LISTEN_FDS).into_bytes());
            CStringArray::with_number(env, activation::LISTEN_PID)
        }
        None => CStringArray::new(env),
    }
    .map_err(|e| usage(format!("environment contains a NUL byte: {e}")))?;
    Ok(Prepared { path, argv, envp })
}

/// Fork and exec the command in a process group of its own (see
/// init/src/lib.rs `Ready::place` for why always), with the terminal's
/// foreground when we had it. Signals stay blocked in the child until
/// right before `execve`.
fn spawn(cmd: &Prepared, tty: Option<i32>, no_new_privileges: bool) -> Result<i32, Failure> {
    // SAFETY: nsinit is single-threaded; the child below only makes raw
    // system calls on what was prepared before the fork.
    match unsafe { sys::fork() } {
        Ok(0) => {
            let _ = sys::setpgid(0, 0);
            if let Some(tty) = tty {
                let _ = sys::tcsetpgrp(tty, sys::getpid());
            }
            if no_new_privileges {
                if let Err(e) = sys::prctl(sys::PR_SET_NO_NEW_PRIVS, 1) {
                    sys::write_all(
                        2,
                        &[b"nsinit: --no-new-privileges: ", e.desc().as_bytes(), b"\n"],
                    );
                    sys::exit(FAILED);
                }
            }
            // Socket activation: the sockets are for this very process.
            cmd.envp.set_number(sys::getpid());
            sys::reset_signals();
            // SAFETY: both arrays are NULL-terminated arrays of C strings.
            let errno = unsafe {
                sys::execve(
                    &cmd.path,
                    cmd.argv.as_ptr().cast(),
                    cmd.envp.as_ptr().cast(),
                )
            };
            let hint = command::exec_hint(errno, cmd.path.as_bytes(), false);
            sys::write_all(
                2,
                &[
                    b"nsinit: exec ",
                    cmd.path.as_bytes(),
                    b": ",
                    errno.desc().as_bytes(),
                    hint,
                    b"\n",
                ],
            );
            sys::exit(base::exit::for_exec_errno(errno))
        }
        Ok(child) => {
            // Also done by the child; whichever runs first wins, so the
            // group exists before we signal it.
            let _ = sys::setpgid(child, child);
            Ok(child)
        }
        Err(e) => Err(sys_failure("fork the command", e)),
    }
}
