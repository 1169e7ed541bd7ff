//! `nslaunch check`: can containers run on this machine, and if not, what
//! to change. Each check prints OK, WARN or FAIL with the fix; the exit
//! status is 0 only when a default container can run (the last check
//! actually runs one).
//!
//! Gathering (syscalls, files, a real container) is kept apart from judging
//! (`evaluate`, pure and unit-tested), so tests can feed it any machine.
//! `NSLAUNCH_CHECK_SYSROOT=DIR` makes the file reads (sysctls under
//! /proc/sys, /etc/subuid, /etc/subgid) come from DIR instead, so a test
//! can present a machine with a disabled sysctl; the probes still run here.

use std::ffi::CString;
use std::fmt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use nix::errno::Errno;
use shared::idmap;
use shared::sys;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Ok => "OK",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        })
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    pub what: String,
    pub fix: Option<String>,
    /// A failure here means no default container can run.
    pub essential: bool,
}

fn finding(level: Level, essential: bool, what: impl Into<String>, fix: Option<String>) -> Finding {
    Finding {
        level,
        what: what.into(),
        fix,
        essential,
    }
}

/// What the checks look at.
#[derive(Debug, Clone)]
pub struct Facts {
    pub uid: u32,
    pub user: Option<String>,
    /// `(name, value)` of each sysctl read; `None` when the file does not
    /// exist on this kernel.
    pub sysctls: Vec<(&'static str, Option<String>)>,
    /// Creating a user namespace, tried for real.
    pub userns: Result<(), Errno>,
    /// Each namespace kind and whether /proc/self/ns has it.
    pub ns_kinds: Vec<(&'static str, bool)>,
    /// /etc/subuid and /etc/subgid text (None: the file is missing).
    pub subuid: Option<String>,
    pub subgid: Option<String>,
    /// newuidmap and newgidmap: where, and whether they can do their job
    /// (setuid root, or file capabilities).
    pub helpers: Vec<(&'static str, Option<(PathBuf, bool)>)>,
    /// Overlayfs in a user namespace, tried for real.
    pub overlay: Result<(), String>,
    pub cgroup: Cgroup,
    /// nsinit: found where nslaunch looks, and statically linked.
    pub nsinit: Result<(PathBuf, bool), String>,
    /// The default seccomp filter compiled and loaded in a throwaway
    /// child: Ok(its summary) or what went wrong.
    pub seccomp: Result<String, String>,
    /// A default container, run for real: Ok(milliseconds) or what it said.
    pub container: Result<u128, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cgroup {
    /// "unified" (cgroup2 on /sys/fs/cgroup), "hybrid", "legacy", or "none".
    pub layout: String,
    /// Our cgroup, from /proc/self/cgroup's `0::` line.
    pub own: Option<String>,
    /// Controllers available in our cgroup.
    pub controllers: Vec<String>,
    /// Whether we may create cgroups under our own (delegation).
    pub delegated: bool,
}

const SYSCTLS: [&str; 5] = [
    "kernel.unprivileged_userns_clone",
    "user.max_user_namespaces",
    "kernel.apparmor_restrict_unprivileged_userns",
    "user.max_mnt_namespaces",
    "user.max_pid_namespaces",
];

const NS_KINDS: [(&str, bool); 8] = [
    ("user", true),
    ("mnt", true),
    ("pid", true),
    ("uts", false),
    ("ipc", false),
    ("net", false),
    ("cgroup", false),
    ("time", false),
];

fn sysctl<'a>(facts: &'a Facts, name: &str) -> Option<&'a str> {
    facts
        .sysctls
        .iter()
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| v.as_deref())
        .map(str::trim)
}

/// Judge the facts: one finding per check, in the order they print.
pub fn evaluate(facts: &Facts) -> Vec<Finding> {
    let root = facts.uid == 0;
    let who = facts
        .user
        .clone()
        .unwrap_or_else(|| format!("uid {}", facts.uid));
    let mut out = Vec::new();
    // User namespaces: the sysctls that can forbid them, then the real try.
    out.extend(userns_clone_sysctl(
        sysctl(facts, "kernel.unprivileged_userns_clone"),
        root,
    ));
    out.extend(max_user_namespaces_sysctl(sysctl(
        facts,
        "user.max_user_namespaces",
    )));
    for name in ["user.max_mnt_namespaces", "user.max_pid_namespaces"] {
        out.extend(max_namespaces_sysctl(name, sysctl(facts, name)));
    }
    out.extend(apparmor_sysctl(
        sysctl(facts, "kernel.apparmor_restrict_unprivileged_userns"),
        root,
    ));
    out.push(userns_check(&who, facts.userns));
    out.push(namespace_kinds_check(&facts.ns_kinds));
    // Subordinate ids, for --userns subids and keep-id.
    for (file, text) in [
        ("/etc/subuid", &facts.subuid),
        ("/etc/subgid", &facts.subgid),
    ] {
        out.push(subids_check(facts, file, text.as_deref()));
    }
    // The setuid helpers that install subordinate maps.
    for (name, found) in &facts.helpers {
        out.push(helper_check(name, found.as_ref(), root));
    }
    out.push(overlay_check(&facts.overlay));
    out.push(cgroup_check(&facts.cgroup));
    out.push(nsinit_check(&facts.nsinit));
    out.push(seccomp_check(&facts.seccomp));
    out.push(container_check(&facts.container));
    out
}

/// kernel.unprivileged_userns_clone (Debian's switch), when the kernel has it.
fn userns_clone_sysctl(value: Option<&str>, root: bool) -> Option<Finding> {
    match value? {
        "0" if !root => Some(finding(
            Level::Fail,
            true,
            "kernel.unprivileged_userns_clone = 0: ordinary users may not create user namespaces",
            Some("sudo sysctl -w kernel.unprivileged_userns_clone=1 (and add it to /etc/sysctl.d/ to keep it)".into()),
        )),
        v => Some(finding(
            Level::Ok,
            true,
            format!("kernel.unprivileged_userns_clone = {v}"),
            None,
        )),
    }
}

/// user.max_user_namespaces: 0 forbids them, a small number limits them.
fn max_user_namespaces_sysctl(value: Option<&str>) -> Option<Finding> {
    match value.map(str::parse::<u64>)? {
        Ok(0) => Some(finding(
            Level::Fail,
            true,
            "user.max_user_namespaces = 0: user namespaces are disabled",
            Some("sudo sysctl -w user.max_user_namespaces=15000".into()),
        )),
        Ok(n) if n < 100 => Some(finding(
            Level::Warn,
            false,
            format!("user.max_user_namespaces = {n}: few containers can run at once"),
            Some("sudo sysctl -w user.max_user_namespaces=15000".into()),
        )),
        Ok(n) => Some(finding(
            Level::Ok,
            true,
            format!("user.max_user_namespaces = {n}"),
            None,
        )),
        Err(_) => None,
    }
}

/// user.max_mnt_namespaces and user.max_pid_namespaces: reported only at 0.
fn max_namespaces_sysctl(name: &str, value: Option<&str>) -> Option<Finding> {
    (value == Some("0")).then(|| {
        finding(
            Level::Fail,
            true,
            format!("{name} = 0: containers need one each"),
            Some(format!("sudo sysctl -w {name}=15000")),
        )
    })
}

/// kernel.apparmor_restrict_unprivileged_userns (Ubuntu 23.10+).
fn apparmor_sysctl(value: Option<&str>, root: bool) -> Option<Finding> {
    match value? {
        "1" if !root => Some(finding(
            Level::Fail,
            true,
            "kernel.apparmor_restrict_unprivileged_userns = 1 (Ubuntu 23.10+): AppArmor denies ordinary users the capabilities of their user namespaces",
            Some(
                "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor \
                 profile for nslaunch with the `userns,` rule (see docs/SECURITY.md)"
                    .into(),
            ),
        )),
        v => Some(finding(
            Level::Ok,
            false,
            format!("kernel.apparmor_restrict_unprivileged_userns = {v}"),
            None,
        )),
    }
}

/// Creating a user namespace, as tried for real.
fn userns_check(who: &str, tried: Result<(), Errno>) -> Finding {
    match tried {
        Ok(()) => finding(
            Level::Ok,
            true,
            format!("{who} can create a user namespace"),
            None,
        ),
        Err(e) => finding(
            Level::Fail,
            true,
            format!("{who} cannot create a user namespace: {}", e.desc()),
            Some(match e {
                Errno::ENOSPC => "raise sysctl user.max_user_namespaces".to_string(),
                Errno::EINVAL => "use a kernel built with CONFIG_USER_NS".to_string(),
                _ => "check the sysctls above; inside a container, its seccomp profile may forbid \
                      namespaces"
                    .to_string(),
            }),
        ),
    }
}

/// The namespace kinds this kernel has: a missing essential one (user,
/// mnt, pid) fails, a missing optional one warns.
fn namespace_kinds_check(kinds: &[(&'static str, bool)]) -> Finding {
    let with = |want: bool| -> Vec<&str> {
        kinds
            .iter()
            .filter(|(_, present)| *present == want)
            .map(|(k, _)| *k)
            .collect()
    };
    let (present, missing) = (with(true), with(false));
    let essential_missing = missing
        .iter()
        .any(|k| NS_KINDS.iter().any(|(n, e)| n == k && *e));
    if essential_missing {
        finding(
            Level::Fail,
            true,
            format!(
                "namespaces missing from this kernel: {}",
                missing.join(", ")
            ),
            Some("use a kernel with CONFIG_USER_NS, CONFIG_PID_NS and mount namespaces".into()),
        )
    } else if !missing.is_empty() {
        finding(
            Level::Warn,
            false,
            format!(
                "namespaces: {} (missing: {}; the --unshare options for them will fail)",
                present.join(" "),
                missing.join(", ")
            ),
            None,
        )
    } else {
        finding(
            Level::Ok,
            false,
            format!("namespaces: {}", present.join(" ")),
            None,
        )
    }
}

/// The usermod line that gives the user a free block of subordinate ids.
fn usermod_fix(facts: &Facts) -> String {
    let free = idmap::free_block(&[
        facts.subuid.as_deref().unwrap_or(""),
        facts.subgid.as_deref().unwrap_or(""),
    ]);
    let name = facts.user.clone().unwrap_or_else(|| facts.uid.to_string());
    format!(
        "sudo usermod --add-subuids {free}-{end} --add-subgids {free}-{end} {name}",
        end = u64::from(free) + u64::from(idmap::SUBIDS) - 1
    )
}

/// One of /etc/subuid and /etc/subgid (`text`, None when missing): does
/// the user have the 65536 ids --userns subids needs?
fn subids_check(facts: &Facts, file: &str, text: Option<&str>) -> Finding {
    let total: u64 = text
        .map(|t| idmap::subids_of(t, facts.user.as_deref(), facts.uid))
        .unwrap_or_default()
        .iter()
        .map(|r| u64::from(r.count))
        .sum();
    let name = facts.user.clone().unwrap_or_else(|| facts.uid.to_string());
    if facts.uid == 0 {
        let detail = if total > 0 {
            format!("{file}: root has {total} subordinate ids (--userns auto uses them)")
        } else {
            format!(
                "{file}: no line for root; --userns auto uses {}-{} (see docs/USER-GUIDE.md, ID mapping)",
                idmap::AUTO_BLOCK.start,
                u64::from(idmap::AUTO_BLOCK.start) + u64::from(idmap::AUTO_BLOCK.count) - 1
            )
        };
        finding(Level::Ok, false, detail, None)
    } else if total >= u64::from(idmap::SUBIDS) {
        finding(
            Level::Ok,
            false,
            format!("{file}: {name} has {total} subordinate ids"),
            None,
        )
    } else if text.is_none() {
        finding(
            Level::Fail,
            false,
            format!("{file} does not exist: --userns subids and keep-id (beyond your own id) are unavailable"),
            Some(usermod_fix(facts)),
        )
    } else {
        finding(
            Level::Fail,
            false,
            format!(
                "{file}: {name} has {total} subordinate ids, 65536 are needed: --userns subids is unavailable"
            ),
            Some(usermod_fix(facts)),
        )
    }
}

/// newuidmap or newgidmap: where it is, and whether it can install maps
/// (`found`: its path and whether it is setuid root or has capabilities).
fn helper_check(name: &str, found: Option<&(PathBuf, bool)>, root: bool) -> Finding {
    match found {
        Some((path, true)) => finding(Level::Ok, false, format!("{name}: {}", path.display()), None),
        Some((path, false)) => finding(
            Level::Fail,
            false,
            format!(
                "{name}: {} is neither setuid root nor has file capabilities: it cannot install maps",
                path.display()
            ),
            Some(format!("sudo chmod u+s {} (or reinstall: sudo apt-get install --reinstall uidmap)", path.display())),
        ),
        None if root => finding(
            Level::Ok,
            false,
            format!("{name}: not installed (root writes its maps itself)"),
            None,
        ),
        None => finding(
            Level::Fail,
            false,
            format!("{name}: not installed: --userns subids and keep-id are unavailable"),
            Some("sudo apt-get install uidmap (Fedora: shadow-utils)".into()),
        ),
    }
}

/// Overlayfs in a user namespace, for --overlay.
fn overlay_check(tried: &Result<(), String>) -> Finding {
    match tried {
        Ok(()) => finding(
            Level::Ok,
            false,
            "overlayfs works in a user namespace",
            None,
        ),
        Err(why) => finding(
            Level::Fail,
            false,
            format!("overlayfs in a user namespace: {why}: --overlay is unavailable"),
            Some("use Linux 5.11 or later (overlayfs with userxattr in user namespaces)".into()),
        ),
    }
}

/// cgroups: not used yet, reported for what comes.
fn cgroup_check(c: &Cgroup) -> Finding {
    match c.layout.as_str() {
        "unified" if c.delegated => finding(
            Level::Ok,
            false,
            format!(
                "cgroup v2, delegated to you at {} (controllers: {})",
                c.own.as_deref().unwrap_or("?"),
                if c.controllers.is_empty() { "none".to_string() } else { c.controllers.join(" ") }
            ),
            None,
        ),
        "unified" => finding(
            Level::Warn,
            false,
            format!(
                "cgroup v2, but {} is not delegated to you: resource limits would need root",
                c.own.as_deref().unwrap_or("your cgroup")
            ),
            Some("with systemd: run under `systemd-run --user --scope -p Delegate=yes`, or enable Delegate=yes for user@.service".into()),
        ),
        "hybrid" => finding(
            Level::Warn,
            false,
            "cgroups: hybrid v1/v2 layout; resource limits need the unified (v2) hierarchy",
            Some("boot with systemd.unified_cgroup_hierarchy=1".into()),
        ),
        other => finding(
            Level::Warn,
            false,
            format!("cgroups: {other} (no cgroup v2 on /sys/fs/cgroup)"),
            Some("boot with systemd.unified_cgroup_hierarchy=1".into()),
        ),
    }
}

/// nsinit: found, and statically linked (else it runs only in a rootfs
/// with its libc).
fn nsinit_check(found: &Result<(PathBuf, bool), String>) -> Finding {
    match found {
        Ok((path, true)) => finding(
            Level::Ok,
            true,
            format!("nsinit: {} (static)", path.display()),
            None,
        ),
        Ok((path, false)) => finding(
            Level::Warn,
            false,
            format!(
                "nsinit: {} is dynamically linked: it runs only in a rootfs with its libc",
                path.display()
            ),
            Some("build it with `make` (static) and install both with `make install`".into()),
        ),
        // nslaunch runs nsinit's code in its own child, or execs itself
        // as nsinit; the file is for images and podman --init.
        Err(why) => finding(
            Level::Warn,
            false,
            format!(
                "nsinit: {why}: nslaunch does not need it (it carries nsinit's code), \
                 images and podman --init do"
            ),
            Some("build it with `make` and install it beside nslaunch (`make install`)".into()),
        ),
    }
}

/// The default seccomp filter, compiled and loaded in a throwaway child.
fn seccomp_check(tried: &Result<String, String>) -> Finding {
    match tried {
        Ok(summary) => finding(
            Level::Ok,
            true,
            format!("seccomp filters load here; the default one is {summary}"),
            None,
        ),
        Err(why) => finding(
            Level::Fail,
            true,
            format!("seccomp: {why}"),
            Some(
                "a kernel with CONFIG_SECCOMP_FILTER, or run with --seccomp unconfined (no syscall filter)"
                    .into(),
            ),
        ),
    }
}

/// A default container, run for real.
fn container_check(ran: &Result<u128, String>) -> Finding {
    match ran {
        Ok(ms) => finding(
            Level::Ok,
            true,
            format!("a default container runs ({ms} ms, rootfs holding only a static binary)"),
            None,
        ),
        Err(why) => finding(
            Level::Fail,
            true,
            format!("a default container does not run: {why}"),
            None,
        ),
    }
}

/// Whether the machine can run a default container: no essential FAIL.
pub fn can_run(findings: &[Finding]) -> bool {
    !findings
        .iter()
        .any(|f| f.essential && f.level == Level::Fail)
}

/// Print the report and return the exit status (0: a default container
/// can run here; 1: it cannot).
pub fn run(nslaunch: &Path, nsinit: Result<PathBuf, String>) -> i32 {
    let facts = gather(nslaunch, nsinit);
    let mut findings = evaluate(&facts);
    // The network helpers, before the last two (nsinit, a real container).
    let at = findings.len().saturating_sub(2);
    findings.splice(at..at, crate::network::check_findings());
    println!(
        "nslaunch check, as {} (uid {})",
        facts.user.as_deref().unwrap_or("?"),
        facts.uid
    );
    for f in &findings {
        println!("  {:<5} {}", f.level.to_string(), f.what);
        if let Some(fix) = &f.fix {
            println!("        fix: {fix}");
        }
    }
    let failed = findings.iter().filter(|f| f.level == Level::Fail).count();
    if can_run(&findings) {
        if failed == 0 {
            println!("Result: containers can run here, with every feature checked.");
        } else {
            println!(
                "Result: a default container can run here; {failed} check(s) failed: the features they name are unavailable."
            );
        }
        0
    } else {
        println!("Result: no container can run here until the FAIL lines above are fixed.");
        1
    }
}

fn sysroot() -> PathBuf {
    std::env::var_os("NSLAUNCH_CHECK_SYSROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

fn read_under(root: &Path, path: &str) -> Option<String> {
    std::fs::read_to_string(root.join(path.trim_start_matches('/'))).ok()
}

fn gather(nslaunch: &Path, nsinit: Result<PathBuf, String>) -> Facts {
    let root = sysroot();
    let uid = nix::unistd::getuid().as_raw();
    let user = shared::passwd::host_name_of(uid);
    let sysctls = SYSCTLS
        .iter()
        .map(|name| {
            let path = format!("proc/sys/{}", name.replace('.', "/"));
            (*name, read_under(&root, &path))
        })
        .collect();
    let ns_kinds = NS_KINDS
        .iter()
        .map(|(k, _)| (*k, Path::new("/proc/self/ns").join(k).exists()))
        .collect();
    let helpers = ["newuidmap", "newgidmap"]
        .into_iter()
        .map(|name| (name, find_helper(name)))
        .collect();
    let nsinit = nsinit.map(|p| {
        let is_static = std::fs::read(&p).ok().is_some_and(|b| !elf_has_interp(&b));
        (p, is_static)
    });
    // The payload: a static executable run with --version.
    let payload = match &nsinit {
        Ok((p, true)) => p.as_path(),
        _ => nslaunch,
    };
    let container = try_container(nslaunch, payload);
    Facts {
        uid,
        user,
        sysctls,
        userns: probe_userns(),
        ns_kinds,
        subuid: read_under(&root, "/etc/subuid"),
        subgid: read_under(&root, "/etc/subgid"),
        helpers,
        overlay: probe_overlay(),
        cgroup: gather_cgroup(),
        seccomp: probe_seccomp(),
        nsinit,
        container,
    }
}

/// newuidmap/newgidmap on PATH (or the usual places), and whether it is
/// setuid root or carries file capabilities.
fn find_helper(name: &str) -> Option<(PathBuf, bool)> {
    let path_var = std::env::var("PATH").unwrap_or_default();
    let dirs = path_var
        .split(':')
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .chain(["/usr/bin", "/usr/sbin", "/bin", "/sbin"].map(PathBuf::from));
    for dir in dirs {
        let p = dir.join(name);
        if let Ok(m) = std::fs::metadata(&p) {
            if m.is_file() {
                let setuid_root = m.uid() == 0 && m.permissions().mode() & 0o4000 != 0;
                let has_caps = has_file_caps(&p);
                return Some((p, setuid_root || has_caps));
            }
        }
    }
    None
}

fn has_file_caps(p: &Path) -> bool {
    let Ok(c) = CString::new(p.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    sys::has_xattr(&c, c"security.capability")
}

/// Whether an ELF file names a program interpreter (is dynamically linked).
fn elf_has_interp(bytes: &[u8]) -> bool {
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 {
        return false;
    }
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(bytes[0x20..0x28].try_into().unwrap_or([0; 8])) as usize;
    let (size, num) = (u16_at(0x36), u16_at(0x38));
    (0..num).any(|i| {
        let o = phoff + i * size;
        bytes.get(o..o + 4) == Some(&3u32.to_le_bytes())
    })
}

/// Create a user namespace in a throwaway child.
fn probe_userns() -> Result<(), Errno> {
    // SAFETY: nslaunch never starts a thread; the child returns 0 at once.
    unsafe { sys::probe_in_child(libc::CLONE_NEWUSER, &|| 0) }.map(|_| ())
}

/// What the overlay probe's child writes and mounts, all made before the
/// fork: the child itself only makes syscalls on it
/// ([`OverlayProbe::run`]).
struct OverlayProbe {
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
}

/// The directories the overlay probe makes on its tmpfs.
const OVERLAY_PROBE_DIRS: [&std::ffi::CStr; 4] = [c"/tmp/l", c"/tmp/u", c"/tmp/w", c"/tmp/m"];

impl OverlayProbe {
    /// Our own ids mapped to root.
    fn new(uid: u32, gid: u32) -> OverlayProbe {
        OverlayProbe {
            uid_map: format!("0 {uid} 1").into_bytes(),
            gid_map: format!("0 {gid} 1").into_bytes(),
        }
    }

    /// In the child, in a new user and mount namespace: map the ids, mount
    /// a tmpfs on /tmp and an overlay on it. 0 if it worked, else the step
    /// that failed (2: maps, 3: tmpfs, 4: directories, 5: overlay).
    /// Async-signal-safe: no allocation, and nothing to drop.
    fn run(&self) -> i32 {
        use nix::fcntl::{open, OFlag};
        use nix::mount::{mount, MsFlags};
        use nix::sys::stat::Mode;
        let maps: [(&std::ffi::CStr, &[u8]); 3] = [
            (c"/proc/self/setgroups", b"deny"),
            (c"/proc/self/uid_map", &self.uid_map),
            (c"/proc/self/gid_map", &self.gid_map),
        ];
        for (file, text) in maps {
            let Ok(fd) = open(file, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty()) else {
                return 2;
            };
            if nix::unistd::write(&fd, text) != Ok(text.len()) {
                return 2;
            }
        }
        let none: Option<&std::ffi::CStr> = None;
        if mount(
            none,
            c"/",
            none,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            none,
        )
        .is_err()
            || mount(
                Some(c"tmpfs"),
                c"/tmp",
                Some(c"tmpfs"),
                MsFlags::empty(),
                none,
            )
            .is_err()
        {
            return 3;
        }
        for d in OVERLAY_PROBE_DIRS {
            if nix::unistd::mkdir(d, Mode::from_bits_truncate(0o755)).is_err() {
                return 4;
            }
        }
        let data = c"lowerdir=/tmp/l,upperdir=/tmp/u,workdir=/tmp/w,userxattr";
        match mount(
            Some(c"overlay"),
            c"/tmp/m",
            Some(c"overlay"),
            MsFlags::empty(),
            Some(data),
        ) {
            Ok(()) => 0,
            Err(_) => 5,
        }
    }
}

/// In a throwaway child: a user and mount namespace, our own id mapped to
/// root, a tmpfs, and an overlay on it.
fn probe_overlay() -> Result<(), String> {
    let probe = OverlayProbe::new(
        nix::unistd::getuid().as_raw(),
        nix::unistd::getgid().as_raw(),
    );
    // SAFETY: nslaunch never starts a thread, and `OverlayProbe::run`
    // only makes syscalls on what `probe` holds (made above).
    let code =
        unsafe { sys::probe_in_child(libc::CLONE_NEWUSER | libc::CLONE_NEWNS, &|| probe.run()) };
    match code {
        Ok(0) => Ok(()),
        Ok(2) => Err("could not map ids in a new user namespace".into()),
        Ok(3) => Err("could not mount a tmpfs in a new mount namespace".into()),
        Ok(4) => Err("could not make directories on that tmpfs".into()),
        Ok(_) => Err("the kernel refused the overlay mount".into()),
        Err(e) => Err(format!("cannot create the namespaces ({})", e.desc())),
    }
}

/// Compile the default filter (for docker's capabilities) and load it in
/// a throwaway child, where getpid must still work and keyctl fail with
/// EPERM.
fn probe_seccomp() -> Result<String, String> {
    let filter = crate::seccomp::build(
        &crate::seccomp::Choice::Default,
        shared::caps::CapSet::docker_default(),
    )?
    .ok_or("the default filter is empty")?;
    let program: Vec<libc::sock_filter> = filter
        .program
        .iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect();
    let child = || -> i32 {
        if nix::sys::prctl::set_no_new_privs().is_err() {
            return 2;
        }
        if sys::raw_seccomp_load(0, &program).is_err() {
            return 3;
        }
        // SAFETY: getpid and keyctl with harmless arguments.
        let (pid, key) = unsafe {
            (
                libc::syscall(libc::SYS_getpid),
                libc::syscall(libc::SYS_keyctl, -1, 0, 0, 0, 0),
            )
        };
        if pid <= 0 {
            return 4;
        }
        if key != -1 || nix::errno::Errno::last() != nix::errno::Errno::EPERM {
            return 5;
        }
        0
    };
    // SAFETY: nslaunch never starts a thread, and the child only makes
    // syscalls on `program`, made above.
    match unsafe { sys::probe_in_child(0, &child) } {
        Ok(0) => Ok(filter.summary),
        Ok(2) => Err("could not set no_new_privs".into()),
        Ok(3) => Err("the kernel refused to load a seccomp filter".into()),
        Ok(_) => Err("a loaded filter did not decide as compiled".into()),
        Err(e) => Err(format!("cannot fork a probe ({})", e.desc())),
    }
}

fn gather_cgroup() -> Cgroup {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let fstype_at = |mp: &str| {
        mounts.lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let sep = f.iter().position(|x| *x == "-")?;
            (f.get(4) == Some(&mp)).then(|| f.get(sep + 1).map(|s| s.to_string()))?
        })
    };
    let layout = match fstype_at("/sys/fs/cgroup").as_deref() {
        Some("cgroup2") => "unified",
        Some("tmpfs") if fstype_at("/sys/fs/cgroup/unified").as_deref() == Some("cgroup2") => {
            "hybrid"
        }
        Some("tmpfs") => "legacy",
        _ => "none",
    }
    .to_string();
    let own = std::fs::read_to_string("/proc/self/cgroup")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("0::").map(str::to_string));
    let (mut controllers, mut delegated) = (Vec::new(), false);
    if layout == "unified" {
        if let Some(own) = &own {
            let dir = Path::new("/sys/fs/cgroup").join(own.trim_start_matches('/'));
            controllers = std::fs::read_to_string(dir.join("cgroup.controllers"))
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_string)
                .collect();
            let c = CString::new(dir.as_os_str().as_encoded_bytes()).unwrap_or_default();
            delegated = nix::unistd::access(c.as_c_str(), nix::unistd::AccessFlags::W_OK).is_ok();
        }
    }
    Cgroup {
        layout,
        own,
        controllers,
        delegated,
    }
}

/// Run a real default container: a rootfs holding only a copy of
/// `payload` (the static nsinit, else nslaunch itself, static too), which
/// runs itself with --version.
fn try_container(nslaunch: &Path, payload: &Path) -> Result<u128, String> {
    let dir = std::env::temp_dir().join(format!("nslaunch-check-{}", std::process::id()));
    let cleanup = |d: &Path| {
        let _ = std::fs::remove_dir_all(d);
    };
    cleanup(&dir);
    std::fs::create_dir(&dir).map_err(|e| format!("make {}: {e}", dir.display()))?;
    let result = (|| {
        let name = payload
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("nsinit");
        std::fs::copy(payload, dir.join(name)).map_err(|e| format!("copy {name}: {e}"))?;
        let t0 = Instant::now();
        let out = Command::new(nslaunch)
            .arg("--rootfs")
            .arg(&dir)
            .arg(format!("/{name}"))
            .arg("--version")
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| format!("run {}: {e}", nslaunch.display()))?;
        let ms = t0.elapsed().as_millis();
        if out.status.success() && String::from_utf8_lossy(&out.stdout).starts_with("ns") {
            Ok(ms)
        } else {
            let err = String::from_utf8_lossy(&out.stderr);
            Err(err
                .lines()
                .next()
                .unwrap_or("it failed without a message")
                .to_string())
        }
    })();
    cleanup(&dir);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The overlay probe's child allocates and frees nothing (it runs
    /// between clone and exit, with no allocator lock to trust): run in a
    /// child under the allocation guard, it either works (0) or stops at a
    /// step the machine refuses, never at an allocation.
    #[test]
    fn the_overlay_probe_child_does_not_allocate() {
        let probe = OverlayProbe::new(
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        );
        let child = || {
            sys::forbid_alloc();
            probe.run()
        };
        // SAFETY: the child runs the probe under the guard, which exits
        // at the first allocation instead of allocating; other test
        // threads hold no lock the child needs, since it takes none.
        let code = unsafe { sys::probe_in_child(libc::CLONE_NEWUSER | libc::CLONE_NEWNS, &child) }
            // Without user namespaces here, the child runs as far as
            // the maps (step 2) in our own namespaces.
            .or_else(|_| {
                // SAFETY: as above.
                unsafe { sys::probe_in_child(0, &child) }
            });
        eprintln!("overlay probe: {code:?}");
        let code = code.expect("fork");
        assert!(
            matches!(code, 0 | 2..=5),
            "the child allocated, or died: {code}"
        );
        // The guard itself works: a child that allocates is caught.
        // SAFETY: as above; this child allocates on purpose, and the guard
        // exits before the allocator is entered.
        let caught = unsafe {
            sys::probe_in_child(0, &|| {
                sys::forbid_alloc();
                std::hint::black_box(vec![1u8; 64]).len() as i32
            })
        };
        assert_eq!(caught, Ok(sys::ALLOCATED_IN_CHILD));
    }

    fn good() -> Facts {
        Facts {
            uid: 1000,
            user: Some("alice".into()),
            sysctls: vec![
                ("kernel.unprivileged_userns_clone", None),
                ("user.max_user_namespaces", Some("63000\n".into())),
                ("kernel.apparmor_restrict_unprivileged_userns", None),
            ],
            userns: Ok(()),
            ns_kinds: NS_KINDS.iter().map(|(k, _)| (*k, true)).collect(),
            subuid: Some("alice:100000:65536\n".into()),
            subgid: Some("alice:100000:65536\n".into()),
            helpers: vec![
                ("newuidmap", Some(("/usr/bin/newuidmap".into(), true))),
                ("newgidmap", Some(("/usr/bin/newgidmap".into(), true))),
            ],
            overlay: Ok(()),
            cgroup: Cgroup {
                layout: "unified".into(),
                own: Some("/user.slice".into()),
                controllers: vec!["cpu".into(), "memory".into()],
                delegated: true,
            },
            nsinit: Ok(("/usr/local/bin/nsinit".into(), true)),
            seccomp: Ok("default".into()),
            container: Ok(3),
        }
    }

    fn levels(f: &[Finding]) -> Vec<Level> {
        f.iter().map(|x| x.level).collect()
    }

    #[test]
    fn a_good_machine_is_all_ok() {
        let f = evaluate(&good());
        assert!(levels(&f).iter().all(|l| *l == Level::Ok), "{f:#?}");
        assert!(can_run(&f));
    }

    #[test]
    fn a_disabled_sysctl_fails_with_its_name_and_fix() {
        let mut facts = good();
        facts.sysctls[0].1 = Some("0\n".into());
        facts.userns = Err(Errno::EPERM);
        facts.container = Err("nslaunch: create user ... namespaces".into());
        let f = evaluate(&facts);
        let bad = f
            .iter()
            .find(|x| x.what.contains("unprivileged_userns_clone"))
            .unwrap();
        assert_eq!(bad.level, Level::Fail);
        assert!(bad
            .fix
            .as_deref()
            .unwrap()
            .contains("sysctl -w kernel.unprivileged_userns_clone=1"));
        assert!(!can_run(&f));
    }

    #[test]
    fn ubuntus_apparmor_restriction_is_named() {
        let mut facts = good();
        facts.sysctls[2].1 = Some("1".into());
        let f = evaluate(&facts);
        let bad = f
            .iter()
            .find(|x| x.what.contains("apparmor_restrict"))
            .unwrap();
        assert_eq!(bad.level, Level::Fail);
        assert!(bad
            .fix
            .as_deref()
            .unwrap()
            .contains("apparmor_restrict_unprivileged_userns=0"));
        // Root is not restricted.
        facts.uid = 0;
        let f = evaluate(&facts);
        assert_eq!(
            f.iter()
                .find(|x| x.what.contains("apparmor"))
                .unwrap()
                .level,
            Level::Ok
        );
    }

    #[test]
    fn missing_subordinate_ids_fail_their_feature_but_not_the_machine() {
        let mut facts = good();
        facts.subuid = Some("bob:100000:65536\n".into());
        facts.subgid = None;
        let f = evaluate(&facts);
        let uid = f
            .iter()
            .find(|x| x.what.starts_with("/etc/subuid"))
            .unwrap();
        assert_eq!(uid.level, Level::Fail);
        assert!(
            uid.fix
                .as_deref()
                .unwrap()
                .contains("usermod --add-subuids 165536-231071"),
            "{uid:?}"
        );
        assert!(uid.fix.as_deref().unwrap().ends_with(" alice"));
        let gid = f
            .iter()
            .find(|x| x.what.starts_with("/etc/subgid"))
            .unwrap();
        assert_eq!(gid.level, Level::Fail);
        assert!(can_run(&f), "a default container needs no subordinate ids");
    }

    #[test]
    fn helpers_missing_or_not_setuid() {
        let mut facts = good();
        facts.helpers[0].1 = None;
        facts.helpers[1].1 = Some(("/usr/bin/newgidmap".into(), false));
        let f = evaluate(&facts);
        let u = f.iter().find(|x| x.what.starts_with("newuidmap")).unwrap();
        assert_eq!(u.level, Level::Fail);
        assert!(u.fix.as_deref().unwrap().contains("apt-get install uidmap"));
        let g = f.iter().find(|x| x.what.starts_with("newgidmap")).unwrap();
        assert!(g.fix.as_deref().unwrap().contains("chmod u+s"));
        assert!(can_run(&f));
    }

    #[test]
    fn missing_essential_namespaces_stop_everything_a_missing_nsinit_does_not() {
        let mut facts = good();
        facts.ns_kinds[2].1 = false; // pid
        assert!(!can_run(&evaluate(&facts)));
        let mut facts = good();
        facts.ns_kinds[7].1 = false; // time
        let f = evaluate(&facts);
        assert!(can_run(&f));
        assert!(f
            .iter()
            .any(|x| x.level == Level::Warn && x.what.contains("missing: time")));
        let mut facts = good();
        facts.nsinit = Err("not found beside /x/nslaunch".into());
        let f = evaluate(&facts);
        assert!(can_run(&f));
        assert!(f
            .iter()
            .any(|x| x.level == Level::Warn && x.what.contains("podman --init")));
    }

    #[test]
    fn cgroup_layouts() {
        let mut facts = good();
        facts.cgroup.delegated = false;
        let f = evaluate(&facts);
        assert!(f
            .iter()
            .any(|x| x.level == Level::Warn && x.what.contains("not delegated")));
        facts.cgroup.layout = "hybrid".into();
        let f = evaluate(&facts);
        assert!(f
            .iter()
            .any(|x| x.level == Level::Warn && x.what.contains("hybrid")));
        assert!(can_run(&f));
    }

    #[test]
    fn each_sysctl_line_is_formed_from_its_value() {
        let max = |v| max_user_namespaces_sysctl(Some(v)).map(|f| (f.level, f.essential));
        assert_eq!(max("0"), Some((Level::Fail, true)));
        assert_eq!(max("50"), Some((Level::Warn, false)));
        assert_eq!(max("63000"), Some((Level::Ok, true)));
        assert_eq!(max("junk"), None, "an unreadable value is not reported");
        assert_eq!(max_user_namespaces_sysctl(None), None);
        // Debian's switch and Ubuntu's AppArmor restriction bind only
        // ordinary users.
        assert_eq!(
            userns_clone_sysctl(Some("0"), false).unwrap().level,
            Level::Fail
        );
        assert_eq!(
            userns_clone_sysctl(Some("0"), true).unwrap().level,
            Level::Ok
        );
        assert_eq!(apparmor_sysctl(Some("1"), true).unwrap().level, Level::Ok);
        assert!(apparmor_sysctl(None, false).is_none());
        // The mount and pid limits are reported only when they forbid.
        assert!(max_namespaces_sysctl("user.max_pid_namespaces", Some("7")).is_none());
        let f = max_namespaces_sysctl("user.max_pid_namespaces", Some("0")).unwrap();
        assert_eq!(
            f.fix.as_deref(),
            Some("sudo sysctl -w user.max_pid_namespaces=15000")
        );
    }

    #[test]
    fn a_refused_user_namespace_names_the_fix_for_its_errno() {
        let f = userns_check("alice", Err(Errno::ENOSPC));
        assert_eq!((f.level, f.essential), (Level::Fail, true));
        assert!(
            f.what.starts_with("alice cannot create a user namespace: "),
            "{f:?}"
        );
        assert!(f.fix.unwrap().contains("user.max_user_namespaces"));
        let f = userns_check("alice", Err(Errno::EINVAL));
        assert!(f.fix.unwrap().contains("CONFIG_USER_NS"));
        assert_eq!(userns_check("alice", Ok(())).level, Level::Ok);
    }

    #[test]
    fn root_needs_neither_helpers_nor_subordinate_ids() {
        assert_eq!(helper_check("newuidmap", None, true).level, Level::Ok);
        assert_eq!(helper_check("newuidmap", None, false).level, Level::Fail);
        let mut facts = good();
        facts.uid = 0;
        facts.user = Some("root".into());
        let f = subids_check(&facts, "/etc/subuid", Some("alice:100000:65536\n"));
        assert_eq!(f.level, Level::Ok);
        let end = u64::from(idmap::AUTO_BLOCK.start) + u64::from(idmap::AUTO_BLOCK.count) - 1;
        assert!(
            f.what.contains(&format!(
                "--userns auto uses {}-{end}",
                idmap::AUTO_BLOCK.start
            )),
            "{f:?}"
        );
        let f = subids_check(&facts, "/etc/subuid", Some("root:100000:65536\n"));
        assert!(f.what.contains("root has 65536 subordinate ids"), "{f:?}");
    }

    #[test]
    fn a_short_subordinate_range_says_how_many_and_how_to_get_more() {
        let facts = good();
        let f = subids_check(&facts, "/etc/subuid", Some("alice:100000:1000\n"));
        assert_eq!((f.level, f.essential), (Level::Fail, false));
        assert!(
            f.what
                .contains("alice has 1000 subordinate ids, 65536 are needed"),
            "{f:?}"
        );
        assert_eq!(f.fix, Some(usermod_fix(&facts)));
        let f = subids_check(&facts, "/etc/subgid", None);
        assert!(f.what.starts_with("/etc/subgid does not exist"), "{f:?}");
    }

    #[test]
    fn the_probes_verdicts_carry_what_they_said() {
        let f = overlay_check(&Err("the kernel refused the overlay mount".into()));
        assert_eq!((f.level, f.essential), (Level::Fail, false));
        assert!(f
            .what
            .contains("refused the overlay mount: --overlay is unavailable"));
        let f = seccomp_check(&Err("could not set no_new_privs".into()));
        assert_eq!((f.level, f.essential), (Level::Fail, true));
        let f = container_check(&Err("nslaunch: boom".into()));
        assert_eq!(f.what, "a default container does not run: nslaunch: boom");
        assert_eq!(container_check(&Ok(12)).level, Level::Ok);
        let f = nsinit_check(&Ok(("/x/nsinit".into(), false)));
        assert_eq!((f.level, f.essential), (Level::Warn, false));
        let f = cgroup_check(&Cgroup {
            layout: "legacy".into(),
            ..Cgroup::default()
        });
        assert_eq!(f.what, "cgroups: legacy (no cgroup v2 on /sys/fs/cgroup)");
    }
}
