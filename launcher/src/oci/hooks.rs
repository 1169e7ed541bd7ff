//! OCI hooks (`hooks` in config.json): each runs with its own `path`,
//! `args` (argv\[0\] included) and `env` (nothing inherited), the state
//! of the container as JSON on its stdin, and an optional timeout after
//! which it is killed.
//!
//! prestart and createRuntime run on the host once the namespaces exist,
//! before pivot_root; createContainer runs in the container's namespaces
//! at that point (`create`); startContainer runs inside the container
//! just before its process (nsinit runs it, see `init/src/hooks.rs`);
//! poststart after `start`; poststop at `delete`.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

use crate::error::Error;

/// Run `hooks` in order; the first failure stops them (`name` is the
/// hook kind, for the message). `setns_into` joins the namespaces of that
/// pid first (createContainer).
pub fn run(name: &str, hooks: &[Hook], state: &str, setns_into: Option<i32>) -> Result<(), Error> {
    for (i, hook) in hooks.iter().enumerate() {
        run_one(hook, state, setns_into).map_err(|why| {
            Error::Usage(format!("{name} hook #{i} {}: {why}", hook.path().display()))
        })?;
    }
    Ok(())
}

/// Run `hooks` and only log a failure (poststart, poststop).
pub fn run_logged(name: &str, hooks: &[Hook], state: &str, log: &mut super::log::OciLog) {
    if let Err(e) = run(name, hooks, state, None) {
        log.debug(&format!("{e} (going on)"));
    }
}

/// Run one hook to its end (or its timeout); `Err` says why it failed:
/// its status and the first line of output it left.
fn run_one(hook: &Hook, state: &str, setns_into: Option<i32>) -> Result<(), String> {
    let ns_files = match setns_into {
        Some(pid) => namespace_files(pid)?,
        None => Vec::new(),
    };
    let mut cmd = command(hook);
    // SAFETY: between fork and exec the closure only calls setns and
    // sigprocmask on descriptors and memory prepared before the fork.
    unsafe {
        cmd.pre_exec(move || {
            for (fd, _) in &ns_files {
                if libc::setns(std::os::fd::AsRawFd::as_raw_fd(fd), 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // The launcher blocks signals it relays; a hook starts clean.
            let empty: libc::sigset_t = std::mem::zeroed();
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| crate::error::io_why(&e))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin must not fail us (EPIPE).
        let _ = stdin.write_all(state.as_bytes());
    }
    let readers = read_output(&mut child);
    let status = wait_until(&mut child, hook.timeout())?;
    let output: Vec<String> = readers
        .into_iter()
        .map(|t| {
            String::from_utf8_lossy(&t.join().unwrap_or_default())
                .trim()
                .to_string()
        })
        .collect();
    outcome(status, output)
}

/// The hook's command: its `path`, `args` (argv\[0\] included) and `env`
/// alone, its stdio piped.
fn command(hook: &Hook) -> Command {
    let mut cmd = Command::new(hook.path());
    let args = hook.args().clone().unwrap_or_default();
    if let Some((first, rest)) = args.split_first() {
        cmd.arg0(first).args(rest);
    }
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Read the child's stderr and stdout as they come, each in a thread, so
/// a chatty hook never blocks on a full pipe; stderr first.
fn read_output(child: &mut Child) -> Vec<std::thread::JoinHandle<Vec<u8>>> {
    [
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn std::io::Read + Send>),
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|mut r| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = std::io::Read::read_to_end(&mut r, &mut buf);
            buf
        })
    })
    .collect()
}

/// Wait for the child; with a `timeout` (seconds, 0: none), kill it
/// when it runs longer.
fn wait_until(child: &mut Child, timeout: Option<i64>) -> Result<ExitStatus, String> {
    let deadline = timeout
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Ok(s),
            Ok(None) => {}
            Err(e) => return Err(crate::error::io_why(&e)),
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("timed out after {} s", timeout.unwrap_or(0)));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A hook succeeded, or why not: its status and the first of its
/// outputs (trimmed stderr, then stdout) that is not empty.
fn outcome(status: ExitStatus, output: Vec<String>) -> Result<(), String> {
    if status.success() {
        return Ok(());
    }
    let text = output
        .into_iter()
        .find(|t| !t.is_empty())
        .unwrap_or_default();
    Err(format!(
        "{status}{}{text}",
        if text.is_empty() { "" } else { ": " }
    ))
}

/// The namespace files of `pid` to join, user first (so that the others
/// may be joined with its capabilities), mount last.
fn namespace_files(pid: i32) -> Result<Vec<(std::fs::File, &'static str)>, String> {
    let own = |name: &str| std::fs::read_link(format!("/proc/self/ns/{name}")).ok();
    let mut out = Vec::new();
    for name in ["user", "ipc", "uts", "net", "pid", "cgroup", "mnt"] {
        let path = format!("/proc/{pid}/ns/{name}");
        // Already ours: setns into one's own user namespace fails.
        if std::fs::read_link(&path).ok() == own(name) {
            continue;
        }
        let f = std::fs::File::open(&path)
            .map_err(|e| format!("open {path}: {}", crate::error::io_why(&e)))?;
        out.push((f, name));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn a_hook_runs_with_its_own_argv0_and_only_its_env() {
        let hook: Hook = serde_json::from_value(serde_json::json!({
            "path": "/usr/bin/env",
            "args": ["env-name", "-0", "x"],
            "env": ["A=1", "B=two=2", "broken"]
        }))
        .unwrap();
        let cmd = command(&hook);
        assert_eq!(cmd.get_program(), "/usr/bin/env");
        let args: Vec<&OsStr> = cmd.get_args().collect();
        assert_eq!(args, ["-0", "x"], "args[0] is argv[0], not an argument");
        let env: Vec<(&OsStr, Option<&OsStr>)> = cmd.get_envs().collect();
        assert_eq!(
            env,
            [
                (OsStr::new("A"), Some(OsStr::new("1"))),
                (OsStr::new("B"), Some(OsStr::new("two=2")))
            ]
        );
        let bare: Hook = serde_json::from_value(serde_json::json!({"path": "/bin/true"})).unwrap();
        assert_eq!(command(&bare).get_args().count(), 0);
    }

    #[test]
    fn a_failure_says_the_status_and_the_first_output() {
        let exited = |code: i32| ExitStatus::from_raw(code << 8);
        assert_eq!(outcome(exited(0), vec!["noise".into()]), Ok(()));
        assert_eq!(
            outcome(exited(3), vec![String::new(), "on stdout".into()]),
            Err("exit status: 3: on stdout".into())
        );
        assert_eq!(
            outcome(exited(1), vec!["on stderr".into(), "on stdout".into()]),
            Err("exit status: 1: on stderr".into())
        );
        assert_eq!(
            outcome(exited(2), vec![String::new(), String::new()]),
            Err("exit status: 2".into())
        );
        assert_eq!(
            outcome(ExitStatus::from_raw(libc::SIGKILL), Vec::new()),
            Err("signal: 9 (SIGKILL)".into())
        );
    }
}
