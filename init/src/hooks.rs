//! OCI `startContainer` hooks (`--start-hook`): run by nsinit inside the
//! container once it is started, before the process is exec'd, each with
//! its own argv and environment and the container's state JSON
//! (`--hook-state`) on its stdin. The first failure stops the start: the
//! process never runs (runc's behaviour).

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use shared::hookspec::HookSpec;
use shared::sys::{self, CStringArray};

use crate::error::Error;

pub fn run_all(hooks: &[HookSpec], state: &str) -> Result<(), Error> {
    for (i, hook) in hooks.iter().enumerate() {
        run_one(hook, state).map_err(|why| {
            Error::Usage(format!("startContainer hook #{i} {}: {why}", hook.path))
        })?;
    }
    Ok(())
}

fn run_one(hook: &HookSpec, state: &str) -> Result<(), String> {
    let path =
        CString::new(hook.path.as_str()).map_err(|_| "a NUL byte in the path".to_string())?;
    let argv = if hook.args.is_empty() {
        CStringArray::new([hook.path.as_str()])
    } else {
        CStringArray::new(hook.args.iter().map(String::as_str))
    }
    .map_err(|a| format!("a NUL byte in {a}"))?;
    let envp = CStringArray::new(hook.env.iter().map(String::as_str))
        .map_err(|e| format!("a NUL byte in {e}"))?;
    let (r, w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| e.desc().to_string())?;
    // SAFETY: nsinit is single-threaded; the child only makes raw
    // syscalls on what is prepared above, then execs or raw_exits.
    let pid = match unsafe { sys::clone_like_fork(0) } {
        Ok(Some(pid)) => pid,
        Ok(None) => {
            if sys::raw_dup2(r.as_raw_fd(), 0).is_err() {
                sys::raw_exit(126);
            }
            base::sys::reset_signals();
            let errno = sys::raw_execve(&path, &argv, &envp);
            sys::raw_write_all(2, &[b"exec the hook: ", errno.desc().as_bytes(), b"\n"]);
            sys::raw_exit(127)
        }
        Err(e) => return Err(format!("fork: {}", e.desc())),
    };
    drop(r);
    // A hook that does not read its stdin must not fail us (EPIPE).
    let _ = nix::unistd::write(&w, state.as_bytes());
    drop(w);
    let limit = hook
        .timeout
        .map(|t| Instant::now() + Duration::from_secs(u64::from(t)));
    let status = wait_until(pid, limit)?;
    match shared::exit::from_raw_wait(status) {
        Some(0) => Ok(()),
        Some(code) => Err(format!("exited with status {code}")),
        None => Err("did not exit".into()),
    }
}

/// Wait for `pid`, killing it at `limit`.
fn wait_until(pid: i32, limit: Option<Instant>) -> Result<i32, String> {
    let pidfd = sys::pidfd_open(pid).ok();
    loop {
        match sys::raw_waitpid(pid, libc::WNOHANG) {
            Ok(Some((_, status))) => return Ok(status),
            Ok(None) => {}
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(format!("wait: {}", e.desc())),
        }
        let left = limit.map(|l| l.saturating_duration_since(Instant::now()));
        if left == Some(Duration::ZERO) {
            let _ = sys::raw_kill(pid, libc::SIGKILL);
            let _ = sys::raw_waitpid(pid, 0);
            return Err("timed out".into());
        }
        // Sleep until it exits (its pidfd turns readable) or the limit.
        let ms = left.map_or(PollTimeout::NONE, |l| {
            PollTimeout::try_from(l.as_millis().clamp(1, 60_000) as u64).unwrap_or(PollTimeout::MAX)
        });
        match &pidfd {
            Some(fd) => {
                let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
                let _ = poll(&mut fds, ms);
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}
