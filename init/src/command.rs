//! Finding the command inside the container and starting it as nsinit's
//! child. Everything is prepared before `fork`; between `fork` and `execve`
//! the child only makes raw syscalls.

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::RawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use base::command::Unrunnable;
use nix::errno::Errno;
use nix::unistd::{fork, ForkResult, Pid};
use shared::exit;
use shared::report::Report;
use shared::sys::{self, CStringArray};

use crate::confine::Gate;
use crate::error::Error;
use crate::identity::Credentials;

/// Where failures go: nslaunch's report pipe, or our own stderr when
/// nsinit runs alone.
#[derive(Debug, Clone, Copy)]
pub enum Sink {
    Pipe(RawFd),
    Stderr,
}

impl Sink {
    /// Send one failure (allocates; not for a forked child).
    pub fn send(&self, report: &Report) {
        match self {
            Sink::Pipe(fd) => sys::raw_write_all(*fd, &[&report.encode()]),
            Sink::Stderr => eprintln!("nsinit: {}", report.message),
        }
    }

    /// Send one failure from a forked child: no allocation.
    fn send_raw(&self, status: i32, parts: &[&[u8]]) {
        let (fd, head): (RawFd, &[u8]) = match self {
            Sink::Pipe(fd) => (
                *fd,
                match status {
                    exit::NOT_FOUND => b"127\t",
                    exit::CANNOT_EXECUTE => b"126\t",
                    _ => b"125\t",
                },
            ),
            Sink::Stderr => (2, b"nsinit: "),
        };
        sys::raw_write_all(fd, &[head]);
        sys::raw_write_all(fd, parts);
        sys::raw_write_all(fd, &[b"\n"]);
    }
}

/// The command, ready to exec: its resolved path, argv and environment.
pub struct Prepared {
    path: CString,
    argv: CStringArray,
    envp: CStringArray,
    /// Exec the file open on this descriptor (`--init-fd`), not `path`
    /// (then only its name, for messages).
    fd: Option<RawFd>,
}

impl Prepared {
    /// Whether this is the `--init-fd` init, not the command.
    pub fn is_init(&self) -> bool {
        self.fd.is_some()
    }

    /// The init open on `fd` (nslaunch's `--init PATH`), to exec in
    /// nsinit's place as `name -- CMD...` with the command's environment.
    pub fn init_at(
        &self,
        fd: RawFd,
        name: &OsStr,
        command: &[OsString],
    ) -> Result<Prepared, Error> {
        let words = [name.as_bytes().to_vec(), b"--".to_vec()]
            .into_iter()
            .chain(command.iter().map(|a| a.as_bytes().to_vec()));
        let argv = CStringArray::new(words)
            .map_err(|a| Error::Usage(format!("argument contains a NUL byte: {a}")))?;
        let envp = match self.envp.to_vecs() {
            env if self.envp.has_number() => {
                // Socket activation: the sockets are PID 1's, the init's.
                let env = env.into_iter().filter(|kv| !kv.starts_with(b"LISTEN_PID="));
                CStringArray::with_number(env, shared::activation::LISTEN_PID)
            }
            env => CStringArray::new(env),
        }
        .map_err(|e| Error::Usage(format!("environment contains a NUL byte: {e}")))?;
        envp.set_number(sys::raw_getpid());
        Ok(Prepared {
            path: CString::new(name.as_bytes())
                .map_err(|_| Error::Usage("--init contains a NUL byte".into()))?,
            argv,
            envp,
            fd: Some(fd),
        })
    }
}

/// Resolve `command[0]` against PATH from `env` (the command's own
/// environment, as docker does) and build argv/envp. Every word is bytes,
/// passed to `execve` as it is. `listen_pid`: envp also gets `LISTEN_PID`,
/// set to the command's own pid by [`spawn`]'s child (socket activation).
pub fn prepare(
    command: &[OsString],
    env: &[(OsString, OsString)],
    in_container: bool,
    listen_pid: bool,
) -> Result<Prepared, Error> {
    let name = command
        .first()
        .ok_or_else(|| Error::Usage("no command given".into()))?;
    let path_var = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map_or(OsStr::new(shared::env::DEFAULT_PATH), |(_, v)| {
            v.as_os_str()
        });
    let path = resolve(name, path_var).map_err(|e| match e {
        Error::NotFound(m) if in_container => {
            Error::NotFound(m.replace("command not found", "command not found in the container"))
        }
        e => e,
    })?;
    let path = CString::new(path.into_vec())
        .map_err(|_| Error::Usage("command contains a NUL byte".into()))?;
    let argv = CStringArray::new(command.iter().map(|a| a.as_bytes().to_vec()))
        .map_err(|a| Error::Usage(format!("argument contains a NUL byte: {a}")))?;
    let pairs = env.iter().map(|(k, v)| {
        let mut kv = k.clone().into_vec();
        kv.push(b'=');
        kv.extend_from_slice(v.as_bytes());
        kv
    });
    let envp = match listen_pid {
        true => CStringArray::with_number(pairs, shared::activation::LISTEN_PID),
        false => CStringArray::new(pairs),
    }
    .map_err(|e| Error::Usage(format!("environment contains a NUL byte: {e}")))?;
    Ok(Prepared {
        path,
        argv,
        envp,
        fd: None,
    })
}

/// Find `name` as `execvp` would (nsinit's core's [`base::command::resolve`]).
pub fn resolve(name: &OsStr, path_var: &OsStr) -> Result<OsString, Error> {
    base::command::resolve(name.as_bytes(), path_var.as_bytes())
        .map(OsString::from_vec)
        .map_err(|e| match e {
            Unrunnable::NotFound(m) => Error::NotFound(m),
            Unrunnable::CannotExecute(m) => Error::CannotExecute(m),
        })
}

/// Where the command goes among process groups and the terminal. The
/// command always gets a process group of its own (see `run` in main.rs).
#[derive(Debug, Clone, Copy, Default)]
pub struct Placement {
    /// Make the command's group the foreground of the terminal open on
    /// this fd.
    pub foreground: Option<RawFd>,
    /// Make this fd (the `--console-socket` terminal) the command's
    /// stdin, stdout and stderr.
    pub stdio: Option<RawFd>,
    /// Then make this fd (/dev/null, `--null-stdin`) its stdin.
    pub stdin: Option<RawFd>,
}

impl Placement {
    /// In the forked child: the terminal on 0, 1 and 2, then /dev/null on
    /// 0 (raw syscalls only; the sources stay close-on-exec).
    pub fn redirect(&self) -> Result<(), Errno> {
        if let Some(tty) = self.stdio {
            for to in 0..3 {
                sys::raw_dup2(tty, to)?;
            }
        }
        if let Some(null) = self.stdin {
            sys::raw_dup2(null, 0)?;
        }
        Ok(())
    }
}

/// Fork and exec the command. The child takes its process group, the
/// terminal's foreground and its stdio (`place`), passes the gate with
/// nsinit, takes its user, groups, capabilities and working directory
/// (`creds`; a failure there is reported through `sink` with 125), and
/// only then, right before `execve`, gets default signal dispositions and
/// an empty signal mask; if `execve` fails it reports through `sink` and
/// exits 126 or 127.
///
/// Signals stay blocked (as nsinit's, inherited) until nsinit is back in
/// its loop: nsinit waits for the child at the gate outside it, so a stop
/// signal acted on there (a Ctrl-Z, once the child has the foreground)
/// would stop the child before it says it is ready, with nsinit blocked
/// on it for good. Held pending instead, it stops the child just before
/// `execve`, where nsinit sees the stop and handles it as any other.
pub fn spawn(
    cmd: &Prepared,
    sink: Sink,
    creds: &Credentials,
    place: Placement,
    gate: Gate,
) -> Result<Pid, Error> {
    // SAFETY: nsinit is single-threaded; the child below only calls the
    // async-signal-safe raw_* functions before execve or _exit.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { child }) => {
            // Also done by the child; whichever runs first wins, so the
            // group exists before we signal it.
            let _ = sys::raw_setpgid(child.as_raw(), child.as_raw());
            if let Err(e) = gate.parent_side(child.as_raw()) {
                let _ = sys::raw_kill(child.as_raw(), libc::SIGKILL);
                return Err(e);
            }
            Ok(child)
        }
        Ok(ForkResult::Child) => {
            let _ = sys::raw_setpgid(0, 0);
            if let Some(tty) = place.foreground {
                // Signals are still blocked here, so SIGTTOU cannot stop
                // us while we take the foreground.
                let _ = sys::raw_tcsetpgrp(tty, sys::raw_getpid());
            }
            if let Err(errno) = place.redirect() {
                sink.send_raw(
                    exit::FAILED,
                    &[b"give the command its stdio: ", errno.desc().as_bytes()],
                );
                sys::raw_exit(exit::FAILED);
            }
            if let Err((what, errno)) = gate.child_side() {
                sink.send_raw(exit::FAILED, &[what, b": ", errno.desc().as_bytes()]);
                sys::raw_exit(exit::FAILED);
            }
            if let Err((what, detail, errno)) = creds.apply() {
                sink.send_raw(
                    exit::FAILED,
                    &[what.as_bytes(), detail, b": ", errno.desc().as_bytes()],
                );
                sys::raw_exit(exit::FAILED);
            }
            // Socket activation: the sockets are for this very process.
            cmd.envp.set_number(sys::raw_getpid());
            // Last: a signal that came meanwhile acts now, with nsinit in
            // its loop (see above).
            base::sys::reset_signals();
            exec(cmd, sink)
        }
        Err(e) => Err(Error::sys("fork the command", e)),
    }
}

/// execve the command; if that fails, report why through `sink` (126 or
/// 127, with a hint for a missing interpreter) and exit with that
/// status. Raw syscalls only: also runs in a forked child.
pub fn exec(cmd: &Prepared, sink: Sink) -> ! {
    let errno = match cmd.fd {
        Some(fd) => sys::raw_execveat_fd(fd, &cmd.argv, &cmd.envp),
        None => sys::raw_execve(&cmd.path, &cmd.argv, &cmd.envp),
    };
    // An init that cannot be exec'd (--init PATH) is a failure of the
    // launch, not the command's 126 or 127.
    let status = match cmd.fd {
        Some(_) => exit::FAILED,
        None => exit::for_exec_errno(errno),
    };
    let hint = base::command::exec_hint(
        base::sys::Errno(errno as i32),
        cmd.path.as_bytes(),
        cmd.fd.is_some(),
    );
    sink.send_raw(
        status,
        &[
            if cmd.fd.is_some() {
                b"exec the init (--init) "
            } else {
                b"exec "
            },
            cmd.path.as_bytes(),
            b": ",
            errno.desc().as_bytes(),
            hint,
        ],
    );
    sys::raw_exit(status)
}
