//! An OCI bundle's `config.json`, read with the `oci-spec` crate, checked,
//! and turned into what the container lifecycle takes. Every field we do
//! not support fails `create` with a line naming it; nothing is dropped
//! silently (what is accepted but not applied on this machine, such as
//! cgroup limits without a delegated cgroup v2, is logged).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Capability, Linux, LinuxCapabilities, LinuxDeviceType, LinuxNamespaceType, PosixRlimit,
    Process, Spec,
};
use shared::caps::{self, CapSet, CapSets};
use shared::idmap::IdRange;
use shared::mountspec::{DeviceSpec as Device, MountSpec, Propagation};

use crate::error::Error;

/// `process` (of config.json, or of `exec --process FILE`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Proc {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub umask: Option<u32>,
    pub additional_gids: Vec<u32>,
    pub caps: Option<CapSets>,
    pub no_new_privs: bool,
    /// (resource, soft, hard).
    pub rlimits: Vec<(u32, u64, u64)>,
    pub oom_score_adj: Option<i32>,
    pub terminal: bool,
    /// (rows, columns).
    pub console_size: Option<(u16, u16)>,
    pub apparmor: Option<String>,
}

/// A namespace to join, by the path of its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Join {
    /// The `CLONE_NEW*` flag of its kind.
    pub flag: libc::c_int,
    pub path: PathBuf,
}

/// The whole configuration, checked.
#[derive(Debug, Clone)]
pub struct Config {
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub read_only: bool,
    pub process: Proc,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub mounts: Vec<MountSpec>,
    /// `CLONE_NEW*` flags of the namespaces to create (time and cgroup
    /// included).
    pub new_namespaces: libc::c_int,
    pub join: Vec<Join>,
    pub uid_map: Vec<IdRange>,
    pub gid_map: Vec<IdRange>,
    pub masked: Vec<String>,
    pub readonly_paths: Vec<String>,
    pub devices: Vec<Device>,
    pub sysctl: Vec<(String, String)>,
    pub propagation: Option<(Propagation, bool)>,
    pub hooks: oci_spec::runtime::Hooks,
    pub cgroups_path: Option<String>,
    pub resources: Option<oci_spec::runtime::LinuxResources>,
    pub annotations: BTreeMap<String, String>,
    /// `linux.seccomp`, compiled for the process by `crate::seccomp`.
    pub seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
    /// What is accepted but not applied, for the log.
    pub notes: Vec<String>,
}

fn bad(field: &str, why: impl std::fmt::Display) -> Error {
    Error::Usage(format!("config.json: {field}: {why}"))
}

/// Read `BUNDLE/config.json`.
pub fn load(bundle: &Path) -> Result<Config, Error> {
    let path = bundle.join("config.json");
    let text = std::fs::read(&path)
        .map_err(|e| Error::Usage(format!("{}: {}", path.display(), crate::error::io_why(&e))))?;
    let spec: Spec = serde_json::from_slice(&text)
        .map_err(|e| Error::Usage(format!("{}: {e}", path.display())))?;
    from_spec(&spec, bundle)
}

/// Check `spec` and turn it into a [`Config`]; `bundle` is absolute.
/// The checks run in the order of the fields below; the first refusal
/// is the one reported.
pub fn from_spec(spec: &Spec, bundle: &Path) -> Result<Config, Error> {
    let (rootfs, read_only) = read_root(spec, bundle)?;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| bad("process", "missing"))?;
    let process = read_process(process, "process")?;
    if process.args.is_empty() {
        return Err(bad("process.args", "empty: no command to run"));
    }
    let mounts = read_mounts(spec, bundle)?;
    let mut cfg = Config {
        bundle: bundle.to_path_buf(),
        rootfs,
        read_only,
        process,
        hostname: spec.hostname().clone().filter(|h| !h.is_empty()),
        domainname: spec.domainname().clone().filter(|h| !h.is_empty()),
        mounts,
        new_namespaces: 0,
        join: Vec::new(),
        uid_map: Vec::new(),
        gid_map: Vec::new(),
        masked: Vec::new(),
        readonly_paths: Vec::new(),
        devices: Vec::new(),
        sysctl: Vec::new(),
        propagation: None,
        hooks: spec.hooks().clone().unwrap_or_default(),
        cgroups_path: None,
        resources: None,
        annotations: spec
            .annotations()
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        seccomp: None,
        notes: Vec::new(),
    };
    let Some(linux) = spec.linux() else {
        return Err(bad("linux", "missing (the namespaces are required)"));
    };
    read_namespaces(&mut cfg, linux.namespaces().as_deref().unwrap_or(&[]))?;
    read_maps(&mut cfg, linux)?;
    read_linux_lists(&mut cfg, linux)?;
    cfg.propagation = read_propagation(linux)?;
    cfg.cgroups_path = linux
        .cgroups_path()
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| !p.is_empty());
    cfg.resources = linux.resources().clone();
    cfg.seccomp = linux.seccomp().clone();
    cfg.notes.extend(mount_label_note(linux, selinux_enabled)?);
    refuse_unsupported(spec, linux)?;
    Ok(cfg)
}

/// `root`: the rootfs (relative to the bundle), which must be a
/// directory, as its real path; and `root.readonly`.
fn read_root(spec: &Spec, bundle: &Path) -> Result<(PathBuf, bool), Error> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| bad("root", "missing (the root filesystem is required)"))?;
    let rootfs = bundle.join(root.path());
    let meta = std::fs::metadata(&rootfs).map_err(|e| {
        bad(
            "root.path",
            format!("{}: {}", rootfs.display(), crate::error::io_why(&e)),
        )
    })?;
    if !meta.is_dir() {
        return Err(bad(
            "root.path",
            format!("{}: not a directory", rootfs.display()),
        ));
    }
    let rootfs =
        std::fs::canonicalize(&rootfs).map_err(|e| bad("root.path", crate::error::io_why(&e)))?;
    Ok((rootfs, root.readonly().unwrap_or(false)))
}

/// `mounts`, in order: no idmapped mounts, a filesystem type we mount,
/// and a relative bind source taken from the bundle.
fn read_mounts(spec: &Spec, bundle: &Path) -> Result<Vec<MountSpec>, Error> {
    let mut mounts = Vec::new();
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let options = m.options().clone().unwrap_or_default();
        // runc resolves a relative source against the bundle (its cwd).
        let source = m.source().as_ref().map(|s| {
            let is_bind = m.typ().as_deref() == Some("bind")
                || options.iter().any(|o| o == "bind" || o == "rbind");
            if is_bind && !s.is_absolute() && !s.as_os_str().is_empty() {
                bundle.join(s).to_string_lossy().into_owned()
            } else {
                s.to_string_lossy().into_owned()
            }
        });
        if m.uid_mappings().is_some() || m.gid_mappings().is_some() {
            return Err(bad(
                &format!("mounts[{i}].uidMappings"),
                "idmapped mounts are not supported",
            ));
        }
        let mount = MountSpec::from_oci(
            &m.destination().to_string_lossy(),
            m.typ().as_deref(),
            source.as_deref(),
            &options,
        )
        .map_err(|why| Error::Usage(format!("config.json: {why}")))?;
        check_fstype(&mount.fstype).map_err(|why| bad(&format!("mounts[{i}].type"), why))?;
        mounts.push(mount);
    }
    Ok(mounts)
}

/// `linux.uidMappings` and `gidMappings`: both, and valid, with a new
/// user namespace (read into `cfg` before); neither without one.
fn read_maps(cfg: &mut Config, linux: &Linux) -> Result<(), Error> {
    let map = |m: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| -> Vec<IdRange> {
        m.iter()
            .flatten()
            .map(|r| IdRange {
                inside: r.container_id(),
                outside: r.host_id(),
                count: r.size(),
            })
            .collect()
    };
    cfg.uid_map = map(linux.uid_mappings());
    cfg.gid_map = map(linux.gid_mappings());
    let new_user = cfg.new_namespaces & libc::CLONE_NEWUSER != 0;
    if new_user && (cfg.uid_map.is_empty() || cfg.gid_map.is_empty()) {
        return Err(bad(
            "linux.uidMappings",
            "a new user namespace needs uidMappings and gidMappings",
        ));
    }
    if !new_user && (!cfg.uid_map.is_empty() || !cfg.gid_map.is_empty()) {
        return Err(bad(
            "linux.uidMappings",
            "given without a new user namespace in linux.namespaces",
        ));
    }
    if new_user {
        for (field, map) in [
            ("linux.uidMappings", &cfg.uid_map),
            ("linux.gidMappings", &cfg.gid_map),
        ] {
            shared::idmap::check_map(map).map_err(|why| bad(field, why))?;
        }
    }
    Ok(())
}

/// The linux section's lists: `maskedPaths` and `readonlyPaths`
/// (absolute), `devices`, and `sysctl` (sorted, each one the container's
/// namespaces keep; read after the namespaces).
fn read_linux_lists(cfg: &mut Config, linux: &Linux) -> Result<(), Error> {
    cfg.masked = paths("linux.maskedPaths", linux.masked_paths())?;
    cfg.readonly_paths = paths("linux.readonlyPaths", linux.readonly_paths())?;
    for (i, d) in linux.devices().iter().flatten().enumerate() {
        cfg.devices
            .push(read_device(d).map_err(|why| bad(&format!("linux.devices[{i}]"), why))?);
    }
    let mut sysctl: Vec<(String, String)> = linux
        .sysctl()
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    sysctl.sort();
    for (k, _) in &sysctl {
        check_sysctl(k, cfg.new_namespaces, &cfg.join)
            .map_err(|why| bad(&format!("linux.sysctl {k}"), why))?;
    }
    cfg.sysctl = sysctl;
    Ok(())
}

/// `linux.rootfsPropagation`: only private (or rprivate) is accepted.
fn read_propagation(linux: &Linux) -> Result<Option<(Propagation, bool)>, Error> {
    let Some(p) = linux
        .rootfs_propagation()
        .as_deref()
        .filter(|p| !p.is_empty())
    else {
        return Ok(None);
    };
    let parsed = Propagation::parse(p).ok_or_else(|| {
        bad(
            "linux.rootfsPropagation",
            format!("{p:?}: expected private, slave, shared or unbindable (r-prefixed too)"),
        )
    })?;
    // Every mount is made private first, so that nothing the
    // container mounts reaches the host; a root that is to receive
    // the host's mounts (slave) or share its own is not supported.
    if parsed.0 != Propagation::Private {
        return Err(bad(
            "linux.rootfsPropagation",
            format!("{p}: not supported (nslaunch makes every mount private: only private and rprivate)"),
        ));
    }
    Ok(Some(parsed))
}

/// `linux.mountLabel`: refused where SELinux is enabled (`selinux`
/// says), else ignored, with a note for the log.
fn mount_label_note(linux: &Linux, selinux: fn() -> bool) -> Result<Option<String>, Error> {
    let Some(label) = linux.mount_label().as_deref().filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
    if selinux() {
        return Err(bad(
            "linux.mountLabel",
            format!("{label}: SELinux labels are not supported"),
        ));
    }
    Ok(Some(format!(
        "linux.mountLabel {label}: ignored, SELinux is not enabled here"
    )))
}

/// The fields we do not support, refused by name: some of the linux
/// section's, and those of other platforms.
fn refuse_unsupported(spec: &Spec, linux: &Linux) -> Result<(), Error> {
    for (field, present) in [
        ("linux.intelRdt", linux.intel_rdt().is_some()),
        ("linux.personality", linux.personality().is_some()),
        ("linux.memoryPolicy", linux.memory_policy().is_some()),
        (
            "linux.netDevices",
            linux.net_devices().as_ref().is_some_and(|d| !d.is_empty()),
        ),
        (
            "linux.timeOffsets",
            linux.time_offsets().as_ref().is_some_and(|d| !d.is_empty()),
        ),
    ] {
        if present {
            return Err(bad(field, "not supported"));
        }
    }
    for (field, present) in [
        ("solaris", spec.solaris().is_some()),
        ("windows", spec.windows().is_some()),
        ("vm", spec.vm().is_some()),
    ] {
        if present {
            return Err(bad(field, "not a Linux container's field"));
        }
    }
    Ok(())
}

/// The filesystem types we mount (binds aside).
fn check_fstype(t: &str) -> Result<(), String> {
    match t {
        "bind" | "proc" | "sysfs" | "tmpfs" | "devpts" | "mqueue" | "cgroup" | "cgroup2"
        | "overlay" | "ramfs" | "securityfs" | "debugfs" | "tracefs" | "binfmt_misc" | "fuse"
        | "hugetlbfs" => Ok(()),
        other => Err(format!("{other:?}: filesystem type not supported")),
    }
}

fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

fn paths(field: &str, list: &Option<Vec<String>>) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    for p in list.iter().flatten() {
        if !p.starts_with('/') {
            return Err(bad(field, format!("{p:?} is not an absolute path")));
        }
        out.push(p.clone());
    }
    Ok(out)
}

fn read_namespaces(
    cfg: &mut Config,
    list: &[oci_spec::runtime::LinuxNamespace],
) -> Result<(), Error> {
    let mut seen = 0;
    for ns in list {
        let flag = ns.typ() as libc::c_int;
        let name = ns_name(ns.typ());
        if seen & flag != 0 {
            return Err(bad("linux.namespaces", format!("{name} given twice")));
        }
        seen |= flag;
        match ns.path() {
            Some(path) if !path.as_os_str().is_empty() => {
                if !path.is_absolute() {
                    return Err(bad(
                        "linux.namespaces",
                        format!("{name}: path {} is not absolute", path.display()),
                    ));
                }
                if flag == libc::CLONE_NEWNS {
                    return Err(bad(
                        "linux.namespaces",
                        "joining a mount namespace by path is not supported (the container's root needs one of its own)",
                    ));
                }
                cfg.join.push(Join {
                    flag,
                    path: path.clone(),
                });
            }
            _ => cfg.new_namespaces |= flag,
        }
    }
    if cfg.new_namespaces & libc::CLONE_NEWNS == 0 {
        return Err(bad(
            "linux.namespaces",
            "no mount namespace: the container's root needs one of its own",
        ));
    }
    Ok(())
}

fn ns_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mount",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "network",
        LinuxNamespaceType::Time => "time",
    }
}

/// The sysctls a container may set: those the kernel keeps per namespace,
/// where the container has that namespace (runc's rule).
fn check_sysctl(key: &str, new: libc::c_int, join: &[Join]) -> Result<(), String> {
    let has = |flag: libc::c_int| new & flag != 0 || join.iter().any(|j| j.flag == flag);
    if key.contains("..") || key.contains('/') || key.is_empty() {
        return Err("not a sysctl name".into());
    }
    let ipc = matches!(
        key,
        "kernel.msgmax"
            | "kernel.msgmnb"
            | "kernel.msgmni"
            | "kernel.sem"
            | "kernel.shmall"
            | "kernel.shmmax"
            | "kernel.shmmni"
            | "kernel.shm_rmid_forced"
    ) || key.starts_with("fs.mqueue.");
    if ipc {
        return if has(libc::CLONE_NEWIPC) {
            Ok(())
        } else {
            Err("needs an IPC namespace of the container's own".into())
        };
    }
    if key.starts_with("net.") {
        return if has(libc::CLONE_NEWNET) {
            Ok(())
        } else {
            Err("needs a network namespace of the container's own".into())
        };
    }
    if matches!(key, "kernel.hostname" | "kernel.domainname") {
        return if has(libc::CLONE_NEWUTS) {
            Ok(())
        } else {
            Err("needs a UTS namespace of the container's own".into())
        };
    }
    Err("not a namespaced sysctl: it would change the host".into())
}

fn read_device(d: &oci_spec::runtime::LinuxDevice) -> Result<Device, String> {
    let path = d.path().to_string_lossy().into_owned();
    if !path.starts_with("/dev/") {
        return Err(format!("{path}: must be under /dev"));
    }
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => 'c',
        LinuxDeviceType::B => 'b',
        LinuxDeviceType::P => 'p',
        LinuxDeviceType::A => return Err(format!("{path}: type a is for cgroup rules only")),
    };
    let num = |n: i64, what: &str| u64::try_from(n).map_err(|_| format!("{path}: bad {what} {n}"));
    let (major, minor) = (num(d.major(), "major")?, num(d.minor(), "minor")?);
    Ok(Device {
        path,
        kind,
        major,
        minor,
        mode: d.file_mode(),
        uid: d.uid(),
        gid: d.gid(),
    })
}

/// The devices every container gets (the runtime spec's list), beside
/// those of `linux.devices`.
pub fn default_devices() -> Vec<Device> {
    [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]
    .iter()
    .map(|(name, major, minor)| Device {
        path: format!("/dev/{name}"),
        kind: 'c',
        major: *major,
        minor: *minor,
        mode: Some(0o666),
        uid: Some(0),
        gid: Some(0),
    })
    .collect()
}

/// `process`, checked; `field` names it in errors.
pub fn read_process(p: &Process, field: &str) -> Result<Proc, Error> {
    let f = |sub: &str| format!("{field}.{sub}");
    refuse_process_fields(p, field)?;
    let cwd = p.cwd().to_string_lossy().into_owned();
    if !cwd.starts_with('/') {
        return Err(bad(&f("cwd"), format!("{cwd:?} is not an absolute path")));
    }
    let env = p.env().clone().unwrap_or_default();
    for e in &env {
        if !e.contains('=') || e.starts_with('=') {
            return Err(bad(&f("env"), format!("{e:?} is not KEY=VALUE")));
        }
    }
    let user = p.user();
    let caps = match p.capabilities() {
        Some(c) => Some(read_caps(c, &f("capabilities"))?),
        None => None,
    };
    let mut rlimits = Vec::new();
    for r in p.rlimits().iter().flatten() {
        rlimits.push(rlimit(r).map_err(|why| bad(&f("rlimits"), why))?);
    }
    let apparmor = p.apparmor_profile().clone().filter(|a| !a.is_empty());
    if let Some(label) = p.selinux_label().as_deref().filter(|l| !l.is_empty()) {
        if selinux_enabled() {
            return Err(bad(
                &f("selinuxLabel"),
                format!("{label}: SELinux labels are not supported"),
            ));
        }
    }
    Ok(Proc {
        args: p.args().clone().unwrap_or_default(),
        env,
        cwd,
        uid: user.uid(),
        gid: user.gid(),
        umask: user.umask(),
        additional_gids: user.additional_gids().clone().unwrap_or_default(),
        caps,
        no_new_privs: p.no_new_privileges().unwrap_or(false),
        rlimits,
        oom_score_adj: p.oom_score_adj(),
        terminal: p.terminal().unwrap_or(false),
        console_size: p.console_size().as_ref().map(|b| {
            (
                u16::try_from(b.height()).unwrap_or(u16::MAX),
                u16::try_from(b.width()).unwrap_or(u16::MAX),
            )
        }),
        apparmor,
    })
}

/// The process fields we do not support, refused by name (`field`: the
/// process's own).
fn refuse_process_fields(p: &Process, field: &str) -> Result<(), Error> {
    if p.command_line().is_some() {
        return Err(bad(&format!("{field}.commandLine"), "Windows only"));
    }
    for (name, present) in [
        ("ioPriority", p.io_priority().is_some()),
        ("scheduler", p.scheduler().is_some()),
        ("execCPUAffinity", p.exec_cpu_affinity().is_some()),
    ] {
        if present {
            return Err(bad(&format!("{field}.{name}"), "not supported"));
        }
    }
    Ok(())
}

/// `process.capabilities` (named `field` in errors): the five sets, an
/// absent one empty.
fn read_caps(c: &LinuxCapabilities, field: &str) -> Result<CapSets, Error> {
    let set = |s: &Option<oci_spec::runtime::Capabilities>, name: &str| -> Result<CapSet, Error> {
        let mut out = CapSet::EMPTY;
        for cap in s.iter().flatten() {
            out = out.with(cap_number(cap).map_err(|why| bad(&format!("{field}.{name}"), why))?);
        }
        Ok(out)
    };
    Ok(CapSets {
        bounding: set(c.bounding(), "bounding")?,
        effective: set(c.effective(), "effective")?,
        permitted: set(c.permitted(), "permitted")?,
        inheritable: set(c.inheritable(), "inheritable")?,
        ambient: set(c.ambient(), "ambient")?,
    })
}

/// `CAP_NET_ADMIN` and the like, as the kernel's number.
fn cap_number(cap: &Capability) -> Result<u32, String> {
    let name = serde_json::to_value(cap)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    caps::number(&name)
}

/// An rlimit as (resource, soft, hard).
fn rlimit(r: &PosixRlimit) -> Result<(u32, u64, u64), String> {
    let name = serde_json::to_value(r.typ())
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let resource = rlimit_resource(&name).ok_or_else(|| format!("{name}: unknown limit"))?;
    if r.soft() > r.hard() {
        return Err(format!("{name}: soft {} above hard {}", r.soft(), r.hard()));
    }
    Ok((resource, r.soft(), r.hard()))
}

/// `RLIMIT_NOFILE` and the like, as the kernel's number.
pub fn rlimit_resource(name: &str) -> Option<u32> {
    Some(match name {
        "RLIMIT_CPU" => libc::RLIMIT_CPU,
        "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE,
        "RLIMIT_DATA" => libc::RLIMIT_DATA,
        "RLIMIT_STACK" => libc::RLIMIT_STACK,
        "RLIMIT_CORE" => libc::RLIMIT_CORE,
        "RLIMIT_RSS" => libc::RLIMIT_RSS,
        "RLIMIT_NPROC" => libc::RLIMIT_NPROC,
        "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE,
        "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK,
        "RLIMIT_AS" => libc::RLIMIT_AS,
        "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS,
        "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING,
        "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => libc::RLIMIT_NICE,
        "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME,
        _ => return None,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The bundle of a test: a rootfs directory and config.json.
    pub(crate) fn bundle(name: &str, config: &serde_json::Value) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("nslaunch-cfg-{}-{name}", std::process::id()));
        std::fs::create_dir_all(dir.join("rootfs")).unwrap();
        std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
        dir
    }

    pub(crate) fn podman_like() -> serde_json::Value {
        serde_json::json!({
            "ociVersion": "1.0.2-dev",
            "process": {
                "user": {"uid": 0, "gid": 0, "umask": 18},
                "args": ["sh", "-c", "exit 3"],
                "env": ["PATH=/usr/bin:/bin", "TERM=xterm"],
                "cwd": "/",
                "capabilities": {
                    "bounding": ["CAP_CHOWN", "CAP_KILL"],
                    "effective": ["CAP_CHOWN", "CAP_KILL"],
                    "permitted": ["CAP_CHOWN", "CAP_KILL"]
                },
                "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 512}],
                "oomScoreAdj": 100
            },
            "root": {"path": "rootfs", "readonly": true},
            "hostname": "box",
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
                {"destination": "/data", "type": "bind", "source": "/tmp", "options": ["rbind", "ro"]}
            ],
            "linux": {
                "sysctl": {"net.ipv4.ping_group_range": "0 0"},
                "namespaces": [{"type": "pid"}, {"type": "network", "path": "/run/netns/x"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
                "maskedPaths": ["/proc/kcore"],
                "readonlyPaths": ["/proc/sys"],
                "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438}],
                "seccomp": {"defaultAction": "SCMP_ACT_ALLOW"}
            }
        })
    }

    #[test]
    fn a_podman_config_reads_whole() {
        let dir = bundle("podman", &podman_like());
        let c = load(&dir).unwrap();
        assert_eq!(c.rootfs, std::fs::canonicalize(dir.join("rootfs")).unwrap());
        assert!(c.read_only);
        assert_eq!(c.process.args, ["sh", "-c", "exit 3"]);
        assert_eq!(c.process.umask, Some(18));
        let caps = c.process.caps.unwrap();
        assert!(caps.bounding.contains(caps::KILL) && !caps.bounding.contains(caps::SYS_ADMIN));
        assert_eq!(caps.ambient, CapSet::EMPTY);
        assert_eq!(c.process.rlimits, [(libc::RLIMIT_NOFILE, 512, 1024)]);
        assert_eq!(c.process.oom_score_adj, Some(100));
        assert_eq!(c.hostname.as_deref(), Some("box"));
        assert_eq!(c.mounts.len(), 2);
        assert!(c.mounts[1].is_bind() && c.mounts[1].recursive);
        assert_eq!(
            c.new_namespaces,
            libc::CLONE_NEWPID | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS | libc::CLONE_NEWNS
        );
        assert_eq!(
            c.join,
            [Join {
                flag: libc::CLONE_NEWNET,
                path: "/run/netns/x".into()
            }]
        );
        assert_eq!(c.devices[0].major, 10);
        assert_eq!(
            c.sysctl,
            [("net.ipv4.ping_group_range".to_string(), "0 0".to_string())]
        );
        assert!(c.seccomp.is_some());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn refusals_name_the_field() {
        type Change = Box<dyn Fn(&mut serde_json::Value)>;
        let cases: Vec<(&str, Change)> = vec![
            (
                "process.args",
                Box::new(|c| c["process"]["args"] = serde_json::json!([])),
            ),
            (
                "process.cwd",
                Box::new(|c| c["process"]["cwd"] = "rel".into()),
            ),
            (
                "root.path",
                Box::new(|c| c["root"]["path"] = "missing".into()),
            ),
            (
                "mount namespace",
                Box::new(|c| c["linux"]["namespaces"] = serde_json::json!([{"type": "pid"}])),
            ),
            (
                "uidMappings",
                Box::new(|c| {
                    c["linux"]["namespaces"] =
                        serde_json::json!([{"type": "mount"}, {"type": "user"}])
                }),
            ),
            (
                "linux.sysctl kernel.panic",
                Box::new(|c| c["linux"]["sysctl"] = serde_json::json!({"kernel.panic": "1"})),
            ),
            (
                "linux.sysctl kernel.shmmax",
                Box::new(|c| c["linux"]["sysctl"] = serde_json::json!({"kernel.shmmax": "1"})),
            ),
            (
                "mounts[0].type",
                Box::new(|c| c["mounts"][0]["type"] = "nfs".into()),
            ),
            (
                "linux.personality",
                Box::new(|c| c["linux"]["personality"] = serde_json::json!({"domain": "LINUX"})),
            ),
            (
                "linux.rootfsPropagation",
                Box::new(|c| c["linux"]["rootfsPropagation"] = "rslave".into()),
            ),
            (
                "process.scheduler",
                Box::new(|c| {
                    c["process"]["scheduler"] = serde_json::json!({"policy": "SCHED_OTHER"})
                }),
            ),
            (
                "rlimits",
                Box::new(|c| {
                    c["process"]["rlimits"] =
                        serde_json::json!([{"type": "RLIMIT_NOFILE", "hard": 1, "soft": 2}])
                }),
            ),
        ];
        for (want, change) in cases {
            let mut c = podman_like();
            if want.contains("kernel.shmmax") {
                c["linux"]["namespaces"] = serde_json::json!([{"type": "mount"}]);
            }
            change(&mut c);
            let dir = bundle(&want.replace(['/', ' ', '[', ']', '.'], "_"), &c);
            let e = load(&dir).unwrap_err().to_string();
            assert!(e.contains(want), "{want}: {e}");
            std::fs::remove_dir_all(dir).unwrap();
        }
    }

    fn linux(v: serde_json::Value) -> Linux {
        serde_json::from_value(v).unwrap()
    }

    fn spec(v: serde_json::Value) -> Spec {
        serde_json::from_value(v).unwrap()
    }

    /// The field an error names ("config.json: FIELD: why").
    fn field_of(e: Error) -> String {
        let e = e.to_string();
        let rest = e.split_once("config.json: ").map_or(e.as_str(), |(_, r)| r);
        rest.split(": ").next().unwrap_or_default().to_string()
    }

    #[test]
    fn only_a_private_root_propagation() {
        let prop = |p: &str| read_propagation(&linux(serde_json::json!({"rootfsPropagation": p})));
        assert_eq!(
            read_propagation(&linux(serde_json::json!({}))).unwrap(),
            None
        );
        assert_eq!(prop("").unwrap(), None);
        assert_eq!(
            prop("private").unwrap(),
            Some((Propagation::Private, false))
        );
        assert_eq!(
            prop("rprivate").unwrap(),
            Some((Propagation::Private, true))
        );
        for refused in ["slave", "rshared", "unbindable", "bogus"] {
            let e = prop(refused).unwrap_err();
            assert_eq!(field_of(e), "linux.rootfsPropagation", "{refused}");
        }
    }

    #[test]
    fn a_mount_label_is_a_note_without_selinux_and_refused_with_it() {
        let l = linux(serde_json::json!({"mountLabel": "system_u:object_r:x:s0"}));
        assert_eq!(
            mount_label_note(&l, || false).unwrap().as_deref(),
            Some("linux.mountLabel system_u:object_r:x:s0: ignored, SELinux is not enabled here")
        );
        let e = mount_label_note(&l, || true).unwrap_err();
        assert_eq!(field_of(e), "linux.mountLabel");
        let none = linux(serde_json::json!({"mountLabel": ""}));
        assert_eq!(mount_label_note(&none, || true).unwrap(), None);
    }

    #[test]
    fn unsupported_fields_are_refused_by_name() {
        let base = podman_like();
        let s = spec(base.clone());
        refuse_unsupported(&s, s.linux().as_ref().unwrap()).unwrap();
        for (field, key, value) in [
            (
                "linux.intelRdt",
                "linux",
                serde_json::json!({"closID": "x"}),
            ),
            (
                "linux.memoryPolicy",
                "linux",
                serde_json::json!({"mode": "MPOL_DEFAULT"}),
            ),
            ("linux.netDevices", "linux", serde_json::json!({"eth0": {}})),
            (
                "linux.timeOffsets",
                "linux",
                serde_json::json!({"monotonic": {"secs": 1}}),
            ),
            ("solaris", "", serde_json::json!({})),
            ("windows", "", serde_json::json!({"layerFolders": []})),
            ("vm", "", serde_json::json!({"kernel": {"path": "/k"}})),
        ] {
            let mut v = base.clone();
            let name = field.rsplit('.').next().unwrap();
            if key.is_empty() {
                v[name] = value;
            } else {
                v[key][name] = value;
            }
            let s = spec(v);
            let e = refuse_unsupported(&s, s.linux().as_ref().unwrap()).unwrap_err();
            assert_eq!(field_of(e), field);
        }
    }

    #[test]
    fn id_maps_go_with_a_new_user_namespace() {
        let mut cfg = load_podman_like("maps");
        let with_maps = linux(serde_json::json!({
            "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
            "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]
        }));
        let e = read_maps(&mut cfg, &with_maps).unwrap_err().to_string();
        assert!(e.contains("without a new user namespace"), "{e}");
        cfg.new_namespaces |= libc::CLONE_NEWUSER;
        read_maps(&mut cfg, &with_maps).unwrap();
        assert_eq!(
            cfg.uid_map,
            [IdRange {
                inside: 0,
                outside: 1000,
                count: 1
            }]
        );
        let only_uids = linux(serde_json::json!({
            "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]
        }));
        let e = read_maps(&mut cfg, &only_uids).unwrap_err().to_string();
        assert!(e.contains("needs uidMappings and gidMappings"), "{e}");
    }

    #[test]
    fn bind_sources_are_relative_to_the_bundle_and_idmaps_refused() {
        let mut v = podman_like();
        v["mounts"] = serde_json::json!([
            {"destination": "/data", "type": "bind", "source": "data", "options": ["bind"]},
            {"destination": "/abs", "type": "bind", "source": "/srv", "options": ["bind"]}
        ]);
        let mounts = read_mounts(&spec(v.clone()), Path::new("/b")).unwrap();
        assert_eq!(mounts[0].source, "/b/data");
        assert_eq!(mounts[1].source, "/srv");
        v["mounts"][1]["uidMappings"] =
            serde_json::json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
        let e = read_mounts(&spec(v), Path::new("/b")).unwrap_err();
        assert_eq!(field_of(e), "mounts[1].uidMappings");
    }

    #[test]
    fn process_fields_of_other_platforms_and_features_are_refused() {
        for (key, value) in [
            ("commandLine", serde_json::json!("cmd.exe")),
            (
                "ioPriority",
                serde_json::json!({"class": "IOPRIO_CLASS_IDLE"}),
            ),
            ("execCPUAffinity", serde_json::json!({"initial": "0"})),
        ] {
            let mut v = podman_like()["process"].clone();
            v[key] = value;
            let p: Process = serde_json::from_value(v).unwrap();
            let e = read_process(&p, "process").unwrap_err();
            assert_eq!(field_of(e), format!("process.{key}"));
        }
    }

    #[test]
    fn capability_sets_absent_are_empty() {
        let c: LinuxCapabilities = serde_json::from_value(serde_json::json!({
            "bounding": ["CAP_KILL", "CAP_MKNOD"],
            "ambient": ["CAP_KILL"]
        }))
        .unwrap();
        let sets = read_caps(&c, "process.capabilities").unwrap();
        assert!(sets.bounding.contains(caps::KILL) && sets.bounding.contains(caps::MKNOD));
        assert!(sets.ambient.contains(caps::KILL) && !sets.ambient.contains(caps::MKNOD));
        assert_eq!(sets.effective, CapSet::EMPTY);
        assert_eq!(sets.permitted, CapSet::EMPTY);
        assert_eq!(sets.inheritable, CapSet::EMPTY);
    }

    /// podman_like's config, read, for the pieces that change one.
    pub(crate) fn load_podman_like(name: &str) -> Config {
        let dir = bundle(name, &podman_like());
        let c = load(&dir).unwrap();
        std::fs::remove_dir_all(dir).unwrap();
        c
    }

    #[test]
    fn rlimit_names() {
        assert_eq!(rlimit_resource("RLIMIT_NOFILE"), Some(libc::RLIMIT_NOFILE));
        assert_eq!(rlimit_resource("RLIMIT_BOGUS"), None);
    }
}
