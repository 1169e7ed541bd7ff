//! The verbs that read or end a container: `state`, `kill`, `delete`,
//! `ps`, `list`, `features`, `--version`, `spec`, and the ones refused
//! (`pause`, `resume`: no cgroup freezer here).

use std::os::fd::AsFd;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use serde_json::json;

use super::cli::Verb;
use super::log::OciLog;
use super::state::{self, does_not_exist, Saved, Status, Store};
use super::{hooks, procs};
use crate::error::Error;

/// `nslaunch --version`: three lines, as runc prints them.
pub fn version() -> String {
    format!(
        "nslaunch version {}\ncommit: {}\nspec: {}\n",
        env!("CARGO_PKG_VERSION"),
        option_env!("NSLAUNCH_COMMIT").unwrap_or("unknown"),
        state::OCI_VERSION
    )
}

pub fn state_verb(store: &Store, id: &str) -> Result<i32, Error> {
    let entry = store.lock(id)?;
    let saved = entry.read()?;
    let status = saved.status(&entry.fifo_path());
    let text = serde_json::to_string_pretty(&saved.oci_json(status))
        .map_err(|e| Error::Usage(format!("encode the state: {e}")))?;
    println!("{text}");
    Ok(0)
}

pub fn kill(store: &Store, id: &str, signal: &str, all: bool) -> Result<i32, Error> {
    let sig = shared::signals::parse(signal, false)
        .map_err(|why| Error::Usage(format!("kill: {why}")))?;
    let entry = store.lock(id)?;
    let saved = entry.read()?;
    if saved.status(&entry.fifo_path()) == Status::Stopped {
        if all {
            return Ok(0);
        }
        return Err(Error::Usage(format!("container {id} not running")));
    }
    let sent = if all {
        procs::signal_all(&saved, sig).map(|()| true)
    } else {
        procs::signal_init(&saved, sig)
    }
    .map_err(|e| Error::sys(format!("kill container {id}"), e))?;
    if !sent {
        return Err(Error::Usage(format!("container {id} not running")));
    }
    Ok(0)
}

/// Wait until the container's process has exited (its pidfd turns
/// readable), at most `limit`.
fn wait_gone(saved: &Saved, limit: Duration) -> bool {
    let Ok(fd) = shared::sys::pidfd_open(saved.pid) else {
        return true;
    };
    if !saved.alive() {
        return true;
    }
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    let ms = u16::try_from(limit.as_millis()).unwrap_or(u16::MAX);
    matches!(poll(&mut fds, PollTimeout::from(ms)), Ok(n) if n > 0)
}

pub fn delete(store: &Store, id: &str, force: bool, log: &mut OciLog) -> Result<i32, Error> {
    let entry = match store.lock(id) {
        Ok(e) => e,
        // containerd's cleanup deletes twice: a forced delete of what is
        // gone already is done.
        Err(_) if force => return Ok(0),
        Err(e) => return Err(e),
    };
    let saved = match entry.read() {
        Ok(s) => s,
        // A directory without a state: a create that failed half-way.
        Err(_) => {
            entry.remove()?;
            return Ok(0);
        }
    };
    match saved.status(&entry.fifo_path()) {
        Status::Running if !force => {
            return Err(Error::Usage(format!(
                "cannot delete container {id} that is not stopped: running (use --force)"
            )))
        }
        Status::Created | Status::Running => {
            let kill = if saved.own_pid_ns {
                procs::signal_init(&saved, libc::SIGKILL).map(|_| ())
            } else {
                procs::signal_all(&saved, libc::SIGKILL)
            };
            kill.map_err(|e| Error::sys(format!("kill container {id}"), e))?;
            if !wait_gone(&saved, Duration::from_secs(10)) {
                return Err(Error::Usage(format!(
                    "container {id}: its process {} did not die after SIGKILL",
                    saved.pid
                )));
            }
        }
        Status::Stopped => {}
    }
    if let Some(dir) = &saved.cgroup {
        if let Err(e) = std::fs::remove_dir(dir) {
            log.debug(&format!(
                "remove the cgroup {dir}: {}",
                crate::error::io_why(&e)
            ));
        }
    }
    let poststop = saved
        .hooks
        .as_ref()
        .and_then(|h| h.poststop().clone())
        .unwrap_or_default();
    entry.remove()?;
    if !poststop.is_empty() {
        let state = hook_state(&saved, Status::Stopped);
        hooks::run_logged("poststop", &poststop, &state, log);
    }
    Ok(0)
}

/// The state JSON given to hooks on stdin (compact).
pub fn hook_state(saved: &Saved, status: Status) -> String {
    saved.oci_json(status).to_string()
}

pub fn ps(store: &Store, id: &str, json_out: bool) -> Result<i32, Error> {
    let entry = store.lock(id)?;
    let saved = entry.read()?;
    let pids = procs::pids(&saved);
    if json_out {
        // runc prints null for a container with no process left.
        if pids.is_empty() {
            println!("null");
        } else {
            println!("{}", serde_json::to_string(&pids).unwrap_or_default());
        }
        return Ok(0);
    }
    println!("{:>8} {:>8} CMD", "PID", "PPID");
    for pid in pids {
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| {
                String::from_utf8_lossy(&b)
                    .trim_end_matches('\0')
                    .replace('\0', " ")
            })
            .unwrap_or_default();
        let ppid = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|t| {
                let after = t[t.rfind(')')? + 1..].to_string();
                after.split_whitespace().nth(1).map(str::to_string)
            })
            .unwrap_or_default();
        println!("{pid:>8} {ppid:>8} {cmd}");
    }
    Ok(0)
}

pub fn list(store: &Store, json_out: bool, quiet: bool) -> Result<i32, Error> {
    let mut rows = Vec::new();
    for id in store.ids() {
        let Ok(entry) = store.lock(&id) else { continue };
        let Ok(saved) = entry.read() else { continue };
        let status = saved.status(&entry.fifo_path());
        rows.push((saved, status));
    }
    if quiet {
        for (s, _) in &rows {
            println!("{}", s.id);
        }
    } else if json_out {
        let list: Vec<_> = rows.iter().map(|(s, st)| s.oci_json(*st)).collect();
        println!("{}", serde_json::to_string(&list).unwrap_or_default());
    } else {
        println!(
            "{:<24} {:>8} {:<10} {:<40} CREATED",
            "ID", "PID", "STATUS", "BUNDLE"
        );
        for (s, st) in &rows {
            let pid = if *st == Status::Stopped { 0 } else { s.pid };
            println!(
                "{:<24} {:>8} {:<10} {:<40} {}",
                s.id,
                pid,
                st.as_str(),
                s.bundle,
                s.created
            );
        }
    }
    Ok(0)
}

/// The mount options `features` lists (as `mountOptions`, sorted).
const MOUNT_OPTIONS: [&str; 39] = [
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "rbind",
    "relatime",
    "ro",
    "rprivate",
    "rshared",
    "rslave",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "tmpcopyup",
    "unbindable",
];

/// The runtime-spec `features` document: what this runtime supports.
pub fn features() -> serde_json::Value {
    let mut options = MOUNT_OPTIONS.to_vec();
    options.sort_unstable();
    let caps: Vec<String> = (0..shared::caps::NAMES.len() as u32)
        .map(|c| format!("CAP_{}", shared::caps::name(c)))
        .collect();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": state::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": options,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts", "time"],
            "capabilities": caps,
            "cgroup": { "v1": false, "v2": true, "systemd": false, "systemdUser": false },
            "seccomp": {
                "enabled": true,
                "actions": [
                    "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                    "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"
                ],
                "operators": [
                    "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                    "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"
                ],
                "archs": ["SCMP_ARCH_X86_64"],
                "knownFlags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
                "supportedFlags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]
            },
            "apparmor": { "enabled": true },
            "selinux": { "enabled": false }
        },
        "annotations": {
            "org.opencontainers.runc.version": env!("CARGO_PKG_VERSION"),
            "io.github.nslaunch.checkpoint.enabled": "false"
        }
    })
}

/// `spec`: write a starting config.json for a bundle (as `runc spec`),
/// rootless (a user namespace mapping you to root) on request.
pub fn spec(bundle: Option<&str>, rootless: bool) -> Result<i32, Error> {
    let dir = std::path::Path::new(bundle.unwrap_or("."));
    let path = dir.join("config.json");
    if path.exists() {
        return Err(Error::Usage(format!("{}: exists already", path.display())));
    }
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    let config = spec_config(rootless, uid, gid);
    let text = serde_json::to_string_pretty(&config).unwrap_or_default();
    std::fs::write(&path, text + "\n")
        .map_err(|e| Error::Usage(format!("{}: {}", path.display(), crate::error::io_why(&e))))?;
    Ok(0)
}

/// `spec`'s config.json: a shell in `rootfs`, runc's default mounts;
/// rootless (`uid`, `gid` mapped to root) or not.
fn spec_config(rootless: bool, uid: u32, gid: u32) -> serde_json::Value {
    let caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let pts = if rootless {
        json!([
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620"
        ])
    } else {
        json!([
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5"
        ])
    };
    // Rootless without a network namespace of its own, a new sysfs is
    // refused by the kernel: bind the host's, as `runc spec --rootless`.
    let sys = if rootless {
        json!({"destination": "/sys", "type": "none", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]})
    } else {
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]})
    };
    json!({
        "ociVersion": state::OCI_VERSION,
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "nslaunch",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": pts},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            sys
        ],
        "linux": spec_linux(rootless, uid, gid)
    })
}

/// `spec`'s `linux` section: the namespaces (a user namespace mapping
/// `uid` and `gid` to root when rootless, else a network namespace) and
/// the masked and read-only paths.
fn spec_linux(rootless: bool, uid: u32, gid: u32) -> serde_json::Value {
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    let mut linux = json!({
        "maskedPaths": shared::plan::MASKED,
        "readonlyPaths": shared::plan::READ_ONLY,
    });
    if rootless {
        namespaces.push(json!({"type": "user"}));
        linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
        linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
    } else {
        namespaces.push(json!({"type": "network"}));
    }
    linux["namespaces"] = json!(namespaces);
    linux
}

/// `pause`/`resume` need a cgroup freezer, which nslaunch does not use.
pub fn refuse_freeze(store: &Store, verb: &str, id: &str) -> Result<i32, Error> {
    let _ = store.lock(id).map_err(|_| does_not_exist(id))?;
    Err(Error::Usage(format!(
        "{verb}: not supported (nslaunch uses no cgroup freezer)"
    )))
}

/// The dispatch of every verb but the ones that make processes.
pub fn simple(store: &Store, verb: &Verb, log: &mut OciLog) -> Option<Result<i32, Error>> {
    Some(match verb {
        Verb::State { id } => state_verb(store, id),
        Verb::Kill { id, signal, all } => kill(store, id, signal, *all),
        Verb::Delete { id, force } => delete(store, id, *force, log),
        Verb::Ps { id, json } => ps(store, id, *json),
        Verb::List { json, quiet } => list(store, *json, *quiet),
        Verb::Pause { id } => refuse_freeze(store, "pause", id),
        Verb::Resume { id } => refuse_freeze(store, "resume", id),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_has_three_lines_as_runc() {
        let v = version();
        let lines: Vec<&str> = v.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("nslaunch version "));
        assert!(lines[1].starts_with("commit: "));
        assert_eq!(lines[2], format!("spec: {}", state::OCI_VERSION));
    }

    #[test]
    fn features_name_every_hook_and_namespace() {
        let f = features();
        assert_eq!(f["hooks"].as_array().unwrap().len(), 6);
        assert!(f["linux"]["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "CAP_SYS_ADMIN"));
    }

    #[test]
    fn spec_maps_the_caller_to_root_only_when_rootless() {
        let c = spec_config(true, 1000, 1001);
        let linux = &c["linux"];
        let kinds: Vec<&str> = linux["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["pid", "ipc", "uts", "mount", "user"]);
        assert_eq!(linux["uidMappings"][0]["hostID"], 1000);
        assert_eq!(linux["gidMappings"][0]["hostID"], 1001);
        // No network namespace of its own: the host's /sys is bound.
        let sys = &c["mounts"][5];
        assert_eq!(
            (sys["destination"].as_str(), sys["type"].as_str()),
            (Some("/sys"), Some("none"))
        );
        assert!(!c["mounts"][2]["options"].to_string().contains("gid=5"));

        let c = spec_config(false, 1000, 1001);
        assert!(c["linux"].get("uidMappings").is_none());
        assert_eq!(c["linux"]["namespaces"][4]["type"], "network");
        assert_eq!(c["mounts"][5]["type"], "sysfs");
        assert!(c["mounts"][2]["options"].to_string().contains("gid=5"));
        assert_eq!(c["process"]["args"][0], "sh");
    }
}
