//! The processes of a container, as the host sees them, and signalling
//! them without mistaking a reused pid for one of them.
//!
//! Without cgroups (none are delegated to an ordinary user, and this
//! runtime does not require them), a container's processes are found by
//! namespace: every process whose PID namespace is the container's, when
//! it has one of its own; else the container's process and its
//! descendants.

use std::collections::BTreeSet;

use nix::errno::Errno;
use shared::sys;

use super::state::{proc_start, Saved};

/// `/proc/PID/ns/pid` as its link text (`pid:[4026532...]`).
fn pid_ns(pid: i32) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/ns/pid"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// Every pid in /proc.
fn all_pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
                .collect()
        })
        .unwrap_or_default()
}

/// The parent of `pid` (field 4 of /proc/PID/stat).
fn ppid(pid: i32) -> Option<i32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

/// The host pids of the container's processes, sorted; empty when it has
/// stopped.
pub fn pids(saved: &Saved) -> Vec<i32> {
    if !saved.alive() {
        return Vec::new();
    }
    if saved.own_pid_ns {
        let Some(ns) = pid_ns(saved.pid) else {
            return Vec::new();
        };
        let mut out: Vec<i32> = all_pids()
            .into_iter()
            .filter(|p| pid_ns(*p).as_deref() == Some(ns.as_str()))
            .collect();
        out.sort_unstable();
        return out;
    }
    descendants(saved.pid)
}

/// `root` and every process below it.
fn descendants(root: i32) -> Vec<i32> {
    let parents: Vec<(i32, i32)> = all_pids()
        .into_iter()
        .filter_map(|p| ppid(p).map(|pp| (p, pp)))
        .collect();
    let mut found = BTreeSet::from([root]);
    loop {
        let before = found.len();
        for (p, pp) in &parents {
            if found.contains(pp) {
                found.insert(*p);
            }
        }
        if found.len() == before {
            break;
        }
    }
    found.into_iter().collect()
}

/// Signal the container's process, through a pidfd opened and then
/// checked to be the saved process (its start time): a pid reused since
/// is never signalled. `Ok(false)` when it is gone.
pub fn signal_init(saved: &Saved, sig: i32) -> Result<bool, Errno> {
    let fd = match sys::pidfd_open(saved.pid) {
        Ok(fd) => fd,
        Err(Errno::ESRCH) => return Ok(false),
        Err(Errno::ENOSYS) => {
            // Before Linux 5.3: check, then signal (a narrow race).
            if !saved.alive() {
                return Ok(false);
            }
            return match sys::raw_kill(saved.pid, sig) {
                Ok(()) => Ok(true),
                Err(Errno::ESRCH) => Ok(false),
                Err(e) => Err(e),
            };
        }
        Err(e) => return Err(e),
    };
    if !saved.alive() {
        return Ok(false);
    }
    match sys::pidfd_send_signal(&fd, sig) {
        Ok(()) => Ok(true),
        Err(Errno::ESRCH) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Signal every process of the container (`kill --all`): each through a
/// pidfd checked to be still in the container.
pub fn signal_all(saved: &Saved, sig: i32) -> Result<(), Errno> {
    let ns = saved.own_pid_ns.then(|| pid_ns(saved.pid)).flatten();
    for pid in pids(saved) {
        if pid == saved.pid {
            signal_init(saved, sig)?;
            continue;
        }
        let Ok(fd) = sys::pidfd_open(pid) else {
            continue;
        };
        let same = match &ns {
            Some(ns) => pid_ns(pid).as_deref() == Some(ns.as_str()),
            None => proc_start(pid).is_some(),
        };
        if same {
            match sys::pidfd_send_signal(&fd, sig) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn we_are_our_own_descendant_and_our_parent_is_not() {
        let me = std::process::id() as i32;
        let d = descendants(me);
        assert!(d.contains(&me));
        assert!(!d.contains(&ppid(me).unwrap()));
    }
}
