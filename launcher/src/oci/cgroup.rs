//! `linux.cgroupsPath` and `linux.resources`, where a cgroup v2 hierarchy
//! is delegated to the caller: the container's cgroup is made there, its
//! limits written, and the container's process moved into it before it
//! is released. Elsewhere (a cgroup v1 or hybrid host like this one, or an
//! ordinary user without a delegated subtree, as rootless podman without
//! systemd) the container runs without, as crun does, and `--debug` says
//! so. Device rules (an eBPF program on cgroup v2) are not applied: the
//! container's device nodes are only the ones its bundle lists, bound
//! from the host or made by real root.

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use super::config::Config;
use super::log::OciLog;
use crate::error::Error;

const ROOT: &str = "/sys/fs/cgroup";

/// The cgroup v2 files and values `resources` asks for (pure).
pub fn settings(r: &LinuxResources) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(m) = r.memory() {
        if let Some(limit) = m.limit() {
            out.push(("memory.max".into(), max_or(limit)));
            if let Some(swap) = m.swap() {
                // v1's swap is memory+swap; v2's is swap alone.
                let v = if swap < 0 || limit < 0 {
                    "max".to_string()
                } else {
                    swap.saturating_sub(limit).max(0).to_string()
                };
                out.push(("memory.swap.max".into(), v));
            }
        }
        if let Some(low) = m.reservation() {
            out.push(("memory.low".into(), max_or(low)));
        }
    }
    if let Some(p) = r.pids() {
        out.push(("pids.max".into(), max_or(p.limit())));
    }
    if let Some(c) = r.cpu() {
        if let Some(quota) = c.quota() {
            let period = c.period().unwrap_or(100_000);
            out.push(("cpu.max".into(), format!("{} {period}", max_or(quota))));
        }
        if let Some(shares) = c.shares() {
            // runc's conversion of v1 shares (2..262144) to a v2 weight.
            let shares = shares.clamp(2, 262_144);
            out.push((
                "cpu.weight".into(),
                (1 + ((shares - 2) * 9999) / 262_142).to_string(),
            ));
        }
        if let Some(cpus) = c.cpus().as_ref().filter(|s| !s.is_empty()) {
            out.push(("cpuset.cpus".into(), cpus.clone()));
        }
        if let Some(mems) = c.mems().as_ref().filter(|s| !s.is_empty()) {
            out.push(("cpuset.mems".into(), mems.clone()));
        }
    }
    if let Some(u) = r.unified() {
        let mut keys: Vec<_> = u.iter().collect();
        keys.sort();
        for (k, v) in keys {
            out.push((k.clone(), v.clone()));
        }
    }
    out
}

fn max_or(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

/// Whether the host's cgroup hierarchy is the unified (v2) one alone.
fn unified() -> bool {
    nix::sys::statfs::statfs(ROOT)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

/// Our own cgroup, from /proc/self/cgroup (`0::/path`).
fn own_cgroup() -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(str::to_string)
}

/// The container's cgroup directory, made and set up, or `None` where
/// cgroups are not ours to use here.
pub fn prepare(cfg: &Config, log: &mut OciLog) -> Result<Option<PathBuf>, Error> {
    let Some(path) = cfg.cgroups_path.as_deref() else {
        log.debug("no linux.cgroupsPath: the container shares its caller's cgroup");
        return Ok(None);
    };
    if !unified() {
        log.debug(&format!(
            "linux.cgroupsPath {path}: not applied, {ROOT} is not a cgroup v2 hierarchy (v1 or hybrid); the container runs without limits of its own"
        ));
        return Ok(None);
    }
    if path.contains(':') {
        log.debug(&format!(
            "linux.cgroupsPath {path}: a systemd slice; nslaunch talks to no systemd: not applied"
        ));
        return Ok(None);
    }
    let dir = if path.starts_with('/') {
        Path::new(ROOT).join(path.trim_start_matches('/'))
    } else {
        let own = own_cgroup().unwrap_or_else(|| "/".into());
        Path::new(ROOT).join(own.trim_start_matches('/')).join(path)
    };
    if dir
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(Error::Usage(format!(
            "config.json: linux.cgroupsPath {path}: \"..\" is not allowed"
        )));
    }
    if let Err(e) = std::fs::create_dir_all(&dir) {
        log.debug(&format!(
            "linux.cgroupsPath {path}: cannot make {} ({}): no cgroup is delegated to this user; not applied",
            dir.display(),
            crate::error::io_why(&e)
        ));
        return Ok(None);
    }
    if let Some(r) = &cfg.resources {
        for (file, value) in settings(r) {
            std::fs::write(dir.join(&file), &value).map_err(|e| {
                Error::Usage(format!(
                    "linux.resources: write {value:?} to {}: {}",
                    dir.join(&file).display(),
                    crate::error::io_why(&e)
                ))
            })?;
        }
    }
    Ok(Some(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_style_resources_become_v2_files() {
        let r: LinuxResources = serde_json::from_value(serde_json::json!({
            "memory": {"limit": 104857600, "swap": 209715200},
            "pids": {"limit": 2048},
            "cpu": {"quota": 50000, "period": 100000, "shares": 1024}
        }))
        .unwrap();
        let s = settings(&r);
        let get = |k: &str| s.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone());
        assert_eq!(get("memory.max").as_deref(), Some("104857600"));
        assert_eq!(get("memory.swap.max").as_deref(), Some("104857600"));
        assert_eq!(get("pids.max").as_deref(), Some("2048"));
        assert_eq!(get("cpu.max").as_deref(), Some("50000 100000"));
        assert_eq!(get("cpu.weight").as_deref(), Some("39"));
        let unlimited: LinuxResources =
            serde_json::from_value(serde_json::json!({"pids": {"limit": -1}})).unwrap();
        assert_eq!(
            settings(&unlimited),
            [("pids.max".to_string(), "max".to_string())]
        );
    }
}
