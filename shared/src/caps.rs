//! Capabilities as data: the set the command keeps, by name, and the
//! arithmetic on it. The syscalls that apply a set live in `sys`; nsinit
//! applies it in the command's child (`init/src/identity.rs`).
//!
//! The default is docker's: container root keeps CHOWN, DAC_OVERRIDE,
//! FSETID, FOWNER, MKNOD, NET_RAW, SETGID, SETUID, SETFCAP, SETPCAP,
//! NET_BIND_SERVICE, SYS_CHROOT, KILL and AUDIT_WRITE, and loses the rest,
//! SYS_ADMIN above all: without it nothing inside can mount, unmount or
//! remount, so a read-only volume stays read-only for container root.
//! `--cap-add` / `--cap-drop` are [`tweak`]: docker's rules on top of
//! [`CapSet::docker_default`].

use std::fmt;
use std::str::FromStr;

/// Capability names without the `CAP_` prefix, indexed by number
/// (linux/capability.h, up to CAP_CHECKPOINT_RESTORE = 40).
pub const NAMES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// CAP_MKNOD, which `--userns host` takes away (no device cgroup here).
pub const MKNOD: u32 = 27;

/// CAP_KILL: what nsinit keeps for itself once the command runs (to stop
/// every process in the container).
pub const KILL: u32 = 5;

/// CAP_SYS_ADMIN: mount, unmount, remount. nsinit runs a command that has
/// it in a nested user namespace, where the kernel locks every mount.
pub const SYS_ADMIN: u32 = 21;

/// What `docker run` grants container root by default.
const DOCKER_DEFAULT: [&str; 14] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// A set of capabilities, one bit per number (the kernel's layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CapSet(u64);

impl CapSet {
    pub const EMPTY: CapSet = CapSet(0);

    pub fn from_bits(bits: u64) -> CapSet {
        CapSet(bits)
    }

    pub fn bits(self) -> u64 {
        self.0
    }

    /// Every capability this code knows by name.
    pub fn all_known() -> CapSet {
        CapSet((1u64 << NAMES.len()) - 1)
    }

    pub fn docker_default() -> CapSet {
        DOCKER_DEFAULT.iter().fold(CapSet::EMPTY, |s, n| {
            s.with(number(n).expect("a known name"))
        })
    }

    pub fn contains(self, cap: u32) -> bool {
        cap < 64 && self.0 & (1 << cap) != 0
    }

    pub fn with(self, cap: u32) -> CapSet {
        CapSet(self.0 | (1 << cap))
    }

    pub fn without(self, cap: u32) -> CapSet {
        CapSet(self.0 & !(1 << cap))
    }

    pub fn intersect(self, other: CapSet) -> CapSet {
        CapSet(self.0 & other.0)
    }

    /// The capability numbers in the set, ascending.
    pub fn numbers(self) -> impl Iterator<Item = u32> {
        (0..64).filter(move |c| self.contains(*c))
    }
}

/// The number of a capability, by name: `CHOWN`, `chown` or `CAP_CHOWN`.
pub fn number(name: &str) -> Result<u32, String> {
    let upper = name.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    NAMES
        .iter()
        .position(|n| *n == bare)
        .map(|i| i as u32)
        .ok_or_else(|| format!("unknown capability {name:?}"))
}

/// `--cap-add` and `--cap-drop` on top of `base`, by docker's rules:
/// `--cap-add ALL` starts from every capability, `--cap-drop ALL` from
/// none, then each named drop is removed and each named add is added (so
/// `--cap-drop ALL --cap-add CHOWN` leaves CHOWN alone). Names are taken
/// with or without `CAP_`, in any case. `Err` names the bad one.
pub fn tweak(base: CapSet, adds: &[String], drops: &[String]) -> Result<CapSet, String> {
    let is_all = |n: &String| n.trim().eq_ignore_ascii_case("ALL");
    let parse = |flag: &str, names: &[String]| -> Result<Vec<u32>, String> {
        names
            .iter()
            .filter(|n| !is_all(n))
            .map(|n| {
                number(n).map_err(|e| format!("{flag} {n}: {e} (see capabilities(7); or ALL)"))
            })
            .collect()
    };
    let (add, drop) = (parse("--cap-add", adds)?, parse("--cap-drop", drops)?);
    let mut set = if adds.iter().any(is_all) {
        CapSet::all_known()
    } else {
        base
    };
    if drops.iter().any(is_all) {
        set = CapSet::EMPTY;
    }
    set = drop.iter().fold(set, |s, c| s.without(*c));
    Ok(add.iter().fold(set, |s, c| s.with(*c)))
}

/// The name of capability `cap` (`CAP_<n>` for one newer than this code).
pub fn name(cap: u32) -> String {
    NAMES
        .get(cap as usize)
        .map(|n| n.to_string())
        .unwrap_or_else(|| format!("CAP_{cap}"))
}

/// `CHOWN,KILL,...` (ascending by number); `none` for the empty set.
impl fmt::Display for CapSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("none");
        }
        let names: Vec<String> = self.numbers().map(name).collect();
        f.write_str(&names.join(","))
    }
}

/// A comma-separated list of names, or `none`.
impl FromStr for CapSet {
    type Err = String;

    fn from_str(s: &str) -> Result<CapSet, String> {
        if s.is_empty() || s.eq_ignore_ascii_case("none") {
            return Ok(CapSet::EMPTY);
        }
        s.split(',')
            .try_fold(CapSet::EMPTY, |set, n| Ok(set.with(number(n)?)))
    }
}

/// The five capability sets of a process (an OCI bundle's
/// `process.capabilities`): rendered for nsinit as
/// `BOUNDING/EFFECTIVE/PERMITTED/INHERITABLE/AMBIENT`, each as [`CapSet`]
/// prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CapSets {
    pub bounding: CapSet,
    pub effective: CapSet,
    pub permitted: CapSet,
    pub inheritable: CapSet,
    pub ambient: CapSet,
}

impl fmt::Display for CapSets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}/{}",
            self.bounding, self.effective, self.permitted, self.inheritable, self.ambient
        )
    }
}

impl FromStr for CapSets {
    type Err = String;

    fn from_str(s: &str) -> Result<CapSets, String> {
        let sets: Vec<&str> = s.split('/').collect();
        let [b, e, p, i, a] = sets.as_slice() else {
            return Err(format!(
                "{s}: expected BOUNDING/EFFECTIVE/PERMITTED/INHERITABLE/AMBIENT"
            ));
        };
        Ok(CapSets {
            bounding: b.parse()?,
            effective: e.parse()?,
            permitted: p.parse()?,
            inheritable: i.parse()?,
            ambient: a.parse()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_default_is_dockers_mask() {
        // `grep CapBnd /proc/self/status` in a default docker container.
        assert_eq!(CapSet::docker_default().bits(), 0x0000_0000_a804_25fb);
        assert!(!CapSet::docker_default().contains(number("SYS_ADMIN").unwrap()));
    }

    #[test]
    fn names_and_numbers() {
        assert_eq!(number("CAP_SYS_ADMIN"), Ok(21));
        assert_eq!(number("sys_admin"), Ok(21));
        assert_eq!(number("CHECKPOINT_RESTORE"), Ok(40));
        assert_eq!(number("MKNOD"), Ok(MKNOD));
        assert_eq!(number("KILL"), Ok(KILL));
        assert_eq!(number("SYS_ADMIN"), Ok(SYS_ADMIN));
        assert!(number("FLY").is_err());
        assert_eq!(name(0), "CHOWN");
        assert_eq!(name(63), "CAP_63");
    }

    #[test]
    fn render_then_parse_is_identity() {
        for set in [
            CapSet::docker_default(),
            CapSet::EMPTY,
            CapSet::all_known(),
            CapSet::EMPTY.with(21),
        ] {
            assert_eq!(set.to_string().parse::<CapSet>(), Ok(set));
        }
        assert_eq!(CapSet::EMPTY.to_string(), "none");
        assert_eq!(
            "KILL,chown".parse::<CapSet>().unwrap().to_string(),
            "CHOWN,KILL"
        );
        assert!("CHOWN,NOPE".parse::<CapSet>().is_err());
    }

    #[test]
    fn add_and_drop_follow_docker() {
        let v = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let base = CapSet::docker_default();
        assert_eq!(tweak(base, &[], &[]), Ok(base));
        let s = tweak(base, &v(&["sys_admin", "CAP_NET_ADMIN"]), &v(&["NET_RAW"])).unwrap();
        assert!(s.contains(SYS_ADMIN) && s.contains(12) && !s.contains(13));
        assert_eq!(
            tweak(base, &v(&["CHOWN"]), &v(&["all"])),
            Ok(CapSet::EMPTY.with(0))
        );
        assert_eq!(tweak(base, &v(&["ALL"]), &[]), Ok(CapSet::all_known()));
        assert_eq!(
            tweak(base, &v(&["ALL"]), &v(&["SYS_ADMIN"])),
            Ok(CapSet::all_known().without(SYS_ADMIN))
        );
        assert_eq!(tweak(base, &v(&["ALL"]), &v(&["ALL"])), Ok(CapSet::EMPTY));
        let e = tweak(base, &v(&["FLY"]), &[]).unwrap_err();
        assert!(e.starts_with("--cap-add FLY: unknown capability"), "{e}");
        let e = tweak(base, &[], &v(&["CAP_"])).unwrap_err();
        assert!(e.starts_with("--cap-drop CAP_:"), "{e}");
        assert!(tweak(base, &v(&[""]), &[]).is_err());
    }

    #[test]
    fn arithmetic() {
        let mknod = number("MKNOD").unwrap();
        let s = CapSet::docker_default().without(mknod);
        assert!(!s.contains(mknod));
        assert_eq!(s.numbers().count(), 13);
        assert_eq!(
            s.intersect(CapSet::EMPTY.with(0).with(21)),
            CapSet::EMPTY.with(0)
        );
        assert_eq!(CapSet::all_known().numbers().count(), 41);
    }

    #[test]
    fn five_sets_round_trip() {
        let sets = CapSets {
            bounding: CapSet::docker_default(),
            effective: CapSet::EMPTY.with(KILL),
            permitted: CapSet::EMPTY.with(KILL).with(SYS_ADMIN),
            inheritable: CapSet::EMPTY,
            ambient: CapSet::EMPTY.with(KILL),
        };
        assert_eq!(sets.to_string().parse::<CapSets>(), Ok(sets));
        assert!("KILL/none".parse::<CapSets>().is_err());
        assert!("FLY/none/none/none/none".parse::<CapSets>().is_err());
    }
}
