//! nsinit's side of the container lifecycle (create, start): the sync
//! messages on the report pipe (`shared::report::Sync`), the bytes it
//! waits for on `--sync-fd`, the OCI start FIFO, and, for an OCI bundle,
//! the command exec'd in place of nsinit once started.

use std::os::fd::RawFd;

use shared::report::Sync;
use shared::sys;

use crate::command::{Placement, Prepared, Sink};
use crate::error::Error;
use crate::identity::Credentials;

/// What the launcher said once the container was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Go {
    /// Start the command now.
    Start,
    /// (OCI `create`) the launcher leaves; wait for `start` on the FIFO.
    Detach,
}

fn say(sink: Sink, sync: Sync) -> Result<(), Error> {
    match sink {
        Sink::Pipe(fd) => {
            sys::raw_write_all(fd, &[sync.encode()]);
            Ok(())
        }
        Sink::Stderr => Err(Error::Usage("--sync-fd needs --report-fd".into())),
    }
}

fn wait_byte(fd: RawFd, what: &str) -> Result<u8, Error> {
    match sys::raw_read_one(fd) {
        Ok(Some(b)) => Ok(b),
        Ok(None) => Err(Error::Usage(format!(
            "{what}: the launcher went away (end of file)"
        ))),
        Err(e) => Err(Error::sys(what.to_string(), e)),
    }
}

/// Before pivot_root (`--hooks`): say so and wait while the launcher
/// runs the OCI hooks that need the container's namespaces and mounts.
pub fn stop_for_hooks(sink: Sink, sync_fd: RawFd) -> Result<(), Error> {
    say(sink, Sync::Hooks)?;
    wait_byte(sync_fd, "wait for the hooks (--sync-fd)").map(|_| ())
}

/// Everything is set up: say so and wait for the launcher's word.
pub fn created(sink: Sink, sync_fd: RawFd) -> Result<Go, Error> {
    say(sink, Sync::Created)?;
    match wait_byte(sync_fd, "wait to be started (--sync-fd)")? {
        b's' => Ok(Go::Start),
        b'd' => Ok(Go::Detach),
        other => Err(Error::Usage(format!(
            "--sync-fd: unexpected byte {other:#x} from the launcher"
        ))),
    }
}

/// OCI `create` returns: stop dying with the launcher (it is about to
/// exit; the caller's subreaper becomes our parent), say so, close the
/// report pipe, then wait for `start` on the FIFO. From here on a failure
/// is told on stderr, the container's own.
pub fn detach(sink: Sink, sync_fd: RawFd, fifo: Option<RawFd>) -> Result<(), Error> {
    sys::raw_set_parent_death_signal(0).map_err(|e| Error::sys("clear PR_SET_PDEATHSIG", e))?;
    say(sink, Sync::Detached)?;
    if let Sink::Pipe(fd) = sink {
        // SAFETY: the report fd is used by number only (Sink::Pipe) and
        // named by no other option (fds.rs); nothing writes to it after.
        unsafe { sys::raw_close(fd) };
    }
    // SAFETY: the same holds for --sync-fd: used here by number only.
    unsafe { sys::raw_close(sync_fd) };
    let fifo = fifo.ok_or_else(|| Error::Usage("--oci without --start-fifo-fd".into()))?;
    wait_byte(fifo, "wait for start (--start-fifo-fd)")?;
    // SAFETY: as above, the FIFO is ours by number alone.
    unsafe { sys::raw_close(fifo) };
    Ok(())
}

/// Write the namespaced sysctls (`--sysctl KEY=VALUE`) through
/// /proc/sys: the values of the namespaces nsinit is in.
pub fn sysctls(list: &[String]) -> Result<(), Error> {
    for kv in list {
        let (key, value) = kv
            .split_once('=')
            .ok_or_else(|| Error::Usage(format!("--sysctl {kv}: expected KEY=VALUE")))?;
        if key.is_empty() || key.contains("..") || key.contains('/') {
            return Err(Error::Usage(format!("--sysctl {kv}: not a sysctl name")));
        }
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        std::fs::write(&path, value)
            .map_err(|e| Error::Usage(format!("--sysctl {key}: {}", shared::report::io_why(&e))))?;
    }
    Ok(())
}

/// The command replaces nsinit (OCI: the bundle's process is the
/// container's first process; `--init PATH`: that init). Signals and the
/// mask go back to their defaults, the stdio and credentials are applied,
/// then execve; a failure is reported (125, 126 or 127) and nsinit exits.
/// `launcher`: the pipe whose hang-up says the launcher is gone, when the
/// process is to die with it (SIGKILL as its parent-death signal, which a
/// change of ids clears and which is set again after it).
pub fn exec_in_place(
    cmd: &Prepared,
    creds: &Credentials,
    place: Placement,
    umask: Option<u32>,
    apparmor: Option<&str>,
    launcher: Option<RawFd>,
    sink: Sink,
) -> Error {
    if let Err(e) = place.redirect() {
        return Error::sys("give the command its stdio", e);
    }
    if let Some(mask) = umask {
        // SAFETY: umask takes an integer and cannot fail.
        unsafe { libc::umask(mask as libc::mode_t) };
    }
    if let Some(profile) = apparmor {
        if let Err(e) = apparmor_exec(profile) {
            return e;
        }
    }
    base::sys::reset_signals();
    if let Err((what, detail, errno)) = creds.apply() {
        return Error::Usage(format!(
            "{what}{}: {}",
            String::from_utf8_lossy(detail),
            errno.desc()
        ));
    }
    if let Some(fd) = launcher {
        if let Err(e) = sys::raw_set_parent_death_signal(libc::SIGKILL) {
            return Error::sys("set the parent-death signal again", e);
        }
        if sys::raw_hung_up(fd) {
            // The launcher died before that: so do we.
            sys::raw_exit(shared::exit::FAILED);
        }
    }
    crate::command::exec(cmd, sink)
}

/// Ask AppArmor to confine the next exec with `profile`.
fn apparmor_exec(profile: &str) -> Result<(), Error> {
    let enabled = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y");
    if !enabled {
        return Err(Error::Usage(format!(
            "apparmor profile {profile}: AppArmor is not enabled on this host"
        )));
    }
    let text = format!("exec {profile}");
    std::fs::write("/proc/self/attr/apparmor/exec", &text)
        .or_else(|_| std::fs::write("/proc/self/attr/exec", &text))
        .map_err(|e| {
            Error::Usage(format!(
                "apparmor profile {profile}: {}",
                shared::report::io_why(&e)
            ))
        })
}
