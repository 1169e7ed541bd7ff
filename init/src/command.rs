//! Finding the command inside the container and starting it as nsinit's
//! child. Everything is prepared before `fork`; between `fork` and `execve`
//! the child only makes raw syscalls.

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::RawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use nix::errno::Errno;
use nix::unistd::{access, fork, AccessFlags, ForkResult, Pid};
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
    Ok(Prepared { path, argv, envp })
}

/// Find `name` as `execvp` would: a name with a slash is used as is; else
/// the first executable regular file named `name` in PATH. An entry that
/// exists but is not executable makes the result 126 rather than 127.
/// Names and PATH are bytes; messages show them lossily.
pub fn resolve(name: &OsStr, path_var: &OsStr) -> Result<OsString, Error> {
    let shown = name.to_string_lossy();
    if name.is_empty() {
        return Err(Error::NotFound("the command is an empty string".into()));
    }
    if name.as_bytes().starts_with(b"/") {
        // An absolute path is checked now, as execvp would find it (a
        // relative one depends on the working directory, set later): a
        // missing or non-executable command fails before the container
        // is reported created (an OCI engine reads 127 and 126 from the
        // words "no such file or directory" and "permission denied").
        return match std::fs::metadata(name) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::NotFound(format!(
                "{shown}: no such file or directory in the container"
            ))),
            Ok(m) if m.is_dir() || access(name, AccessFlags::X_OK).is_err() => {
                Err(Error::CannotExecute(format!(
                    "{shown}: not an executable file (permission denied)"
                )))
            }
            _ => Ok(name.to_os_string()),
        };
    }
    if name.as_bytes().contains(&b'/') {
        return Ok(name.to_os_string());
    }
    let mut not_executable = None;
    for dir in path_var.as_bytes().split(|&b| b == b':') {
        let dir = if dir.is_empty() { &b"."[..] } else { dir };
        let mut candidate = dir.to_vec();
        while candidate.len() > 1 && candidate.ends_with(b"/") {
            candidate.pop();
        }
        if candidate != b"/" {
            candidate.push(b'/');
        }
        candidate.extend_from_slice(name.as_bytes());
        let candidate = OsString::from_vec(candidate);
        match std::fs::metadata(&candidate) {
            Ok(m) if m.is_file() => {
                if access(Path::new(&candidate), AccessFlags::X_OK).is_ok() {
                    return Ok(candidate);
                }
                not_executable.get_or_insert(candidate);
            }
            _ => {}
        }
    }
    match not_executable {
        Some(found) => Err(Error::CannotExecute(format!(
            "{shown}: {} is not executable (Permission denied)",
            found.to_string_lossy()
        ))),
        None => Err(Error::NotFound(format!(
            "{shown}: command not found (executable file not found in PATH={})",
            path_var.to_string_lossy()
        ))),
    }
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
            sys::raw_reset_signals();
            exec(cmd, sink)
        }
        Err(e) => Err(Error::sys("fork the command", e)),
    }
}

/// execve the command; if that fails, report why through `sink` (126 or
/// 127, with a hint for a missing interpreter) and exit with that
/// status. Raw syscalls only: also runs in a forked child.
pub fn exec(cmd: &Prepared, sink: Sink) -> ! {
    let errno = sys::raw_execve(&cmd.path, &cmd.argv, &cmd.envp);
    let status = exit::for_exec_errno(errno);
    let hint: &[u8] = if errno == Errno::ENOENT && cmd.path.as_bytes().contains(&b'/') {
        b" (if the file exists, its interpreter is missing: the #! line's program or the ELF loader of a dynamically linked binary)"
    } else {
        b""
    };
    sink.send_raw(
        status,
        &[
            b"exec ",
            cmd.path.as_bytes(),
            b": ",
            errno.desc().as_bytes(),
            hint,
        ],
    );
    sys::raw_exit(status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn resolves_like_execvp() {
        let dir = std::env::temp_dir().join(format!("nsinit-resolve-{}", std::process::id()));
        let a = dir.join("a");
        let b = dir.join("b");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(a.join("tool"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(a.join("tool"), std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::write(b.join("tool"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(b.join("tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir_all(b.join("adir")).unwrap();
        let path = format!("{}:{}", a.display(), b.display());
        let resolve = |name: &str, path: &str| resolve(OsStr::new(name), OsStr::new(path));

        assert_eq!(
            resolve("tool", &path).unwrap(),
            OsString::from(format!("{}/tool", b.display()))
        );
        assert_eq!(resolve("./x/y", &path).unwrap(), "./x/y");
        assert_eq!(resolve("missing", &path).unwrap_err().status(), 127);
        assert_eq!(resolve("adir", &path).unwrap_err().status(), 127);
        assert_eq!(resolve("", &path).unwrap_err().status(), 127);
        // Only the non-executable one in PATH: 126 naming it, as root too
        // (root's X_OK still needs an x bit on a regular file).
        let only_a = a.display().to_string();
        let err = resolve("tool", &only_a).unwrap_err();
        assert_eq!(err.status(), 126);
        assert!(err.to_string().contains("not executable"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names_and_path_are_bytes() {
        let dir = std::env::temp_dir().join(format!("nsinit-bytes-{}", std::process::id()));
        let bin = dir.join(OsStr::from_bytes(b"b\xefn"));
        std::fs::create_dir_all(&bin).unwrap();
        let tool = bin.join(OsStr::from_bytes(b"caf\xe9"));
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut path = OsString::from("/nonexistent:");
        path.push(bin.as_os_str());
        path.push("/");
        let found = resolve(OsStr::from_bytes(b"caf\xe9"), &path).unwrap();
        assert_eq!(found, tool.as_os_str());
        let err = resolve(OsStr::from_bytes(b"th\xe9"), &path).unwrap_err();
        assert_eq!(err.status(), 127);
        assert!(
            err.to_string().starts_with("th\u{fffd}: command not found"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
