//! Who the command runs as and what it may do: the user of `--user`,
//! resolved in the container's own /etc/passwd and /etc/group (never NSS),
//! its groups, the capabilities it keeps (`--caps`) and its working
//! directory (`--workdir`).
//!
//! Everything is worked out before `fork` ([`Credentials::prepare`]); the
//! command's child only applies it with raw syscalls ([`Credentials::apply`])
//! in this order:
//!
//! 1. cut the bounding set to `--caps` and clear the ambient set, while we
//!    still hold CAP_SETPCAP;
//! 2. setgroups (only where the user namespace allows it), setgid, setuid,
//!    while we still hold CAP_SETGID and CAP_SETUID;
//! 3. set the permitted and effective sets: `--caps` for container root,
//!    nothing for any other user, and the inheritable set empty (the kernel already
//!    cleared them on a switch away from root; not when nsinit itself ran
//!    as that user with ambient capabilities, as under `--userns keep-id`);
//! 4. chdir to the working directory, as the user;
//! 5. with `--no-new-privileges`, set no_new_privs.
//!
//! The seccomp filter (`--seccomp-fd`) is loaded either first, while the
//! child still holds CAP_SYS_ADMIN in its user namespace (the kernel's
//! condition for a filter without no_new_privs), or, with
//! `--no-new-privileges`, last, right after no_new_privs is set. Either way
//! only the command and what it starts are filtered, never nsinit, and
//! the syscalls between the load and `execve` (prctl, capset, setgroups,
//! setresgid, setresuid, chdir, execve) are ones every sane profile allows,
//! as under runc.

use std::ffi::CString;

use nix::errno::Errno;
use shared::caps::{CapSet, CapSets};
use shared::idmap::{self, IdRange};
use shared::passwd::{self, Identity};
use shared::report::io_why;
use shared::spec::InitArgs;
use shared::sys::{self, CapState};

use crate::error::Error;

/// Who runs the command: `--user`, else nsinit's own uid looked up like a
/// numeric `--user` (its groups from /etc/group, its HOME), or `None` when
/// nsinit runs alone without `--user` and leaves its identity as it is.
/// Called after pivot_root: the files are the container's own.
pub fn resolve(args: &InitArgs) -> Result<Option<Identity>, Error> {
    let (spec, default_gid) = match (&args.user, &args.rootfs) {
        (Some(spec), _) => (spec.clone(), 0),
        (None, Some(_)) => (
            nix::unistd::getuid().as_raw().to_string(),
            nix::unistd::getgid().as_raw(),
        ),
        (None, None) => return Ok(None),
    };
    let passwd = std::fs::read_to_string("/etc/passwd").ok();
    let group = std::fs::read_to_string("/etc/group").ok();
    let who = passwd::resolve(&spec, passwd.as_deref(), group.as_deref(), default_gid)
        .map_err(|why| Error::Usage(format!("--user {spec}: {why}")))?;
    for (kind, id, file) in [("uid", who.uid, "uid_map"), ("gid", who.gid, "gid_map")] {
        let text = std::fs::read_to_string(format!("/proc/self/{file}")).unwrap_or_default();
        let map = idmap::parse_map(&text);
        if !idmap::maps_inside(&map, id) {
            return Err(Error::Usage(format!(
                "--user {spec}: {kind} {id} is not mapped in the container's user namespace \
                 ({file}: {}); map it with --userns subids or --{kind}-map",
                summary(&map),
            )));
        }
    }
    Ok(Some(who))
}

/// OCI's five sets, as given (the kernel refuses an effective set that
/// is not within the permitted one, as it should).
fn oci_caps(sets: CapSets) -> Caps {
    Caps {
        keep: sets.bounding,
        last: CapState {
            effective: sets.effective.bits(),
            permitted: sets.permitted.bits(),
            inheritable: sets.inheritable.bits(),
        },
        ambient: sets.ambient,
        keep_across_setuid: true,
    }
}

/// `--groups 10,20`: gids.
fn parse_groups(list: &str) -> Result<Vec<u32>, Error> {
    if list.is_empty() {
        return Ok(Vec::new());
    }
    list.split(',')
        .map(|g| {
            g.parse()
                .map_err(|_| Error::Usage(format!("--groups {list}: {g:?} is not a gid")))
        })
        .collect()
}

fn summary(map: &[IdRange]) -> String {
    let lines: Vec<String> = map
        .iter()
        .map(|r| format!("{} {} {}", r.inside, r.outside, r.count))
        .collect();
    lines.join(", ")
}

/// Create `--workdir` if missing (as docker does, owned by nsinit's user,
/// container root) and check that it is a directory.
pub fn make_workdir(dir: &str) -> Result<(), Error> {
    let bad = |why: String| Error::Usage(format!("--workdir {dir}: {why}"));
    if !dir.starts_with('/') {
        return Err(bad("must be an absolute path in the container".into()));
    }
    std::fs::create_dir_all(dir).map_err(|e| bad(io_why(&e)))?;
    if !std::fs::metadata(dir)
        .map_err(|e| bad(io_why(&e)))?
        .is_dir()
    {
        return Err(bad("not a directory".into()));
    }
    Ok(())
}

/// The user to switch to in the command's child.
struct Ids {
    uid: u32,
    gid: u32,
    /// `None` where the user namespace denies setgroups(2) (an unprivileged
    /// single-id map): the groups stay what they were.
    groups: Option<Vec<u32>>,
}

/// The capabilities to leave the command with.
struct Caps {
    /// The bounding set.
    keep: CapSet,
    /// The permitted, effective and inheritable sets after the switch.
    last: CapState,
    /// The ambient set (OCI `process.capabilities.ambient`).
    ambient: CapSet,
    /// Keep the permitted set across the switch to another uid (OCI: a
    /// non-root process may be given capabilities).
    keep_across_setuid: bool,
}

/// What the command's child applies between fork and exec, built before
/// the fork (no allocation in the child).
pub struct Credentials {
    ids: Option<Ids>,
    caps: Option<Caps>,
    workdir: Option<CString>,
    /// `--no-new-privileges`.
    no_new_privs: bool,
    /// The compiled seccomp filter (`--seccomp-fd`), to load in the child.
    seccomp: Option<Seccomp>,
    /// `--user X (uid N, gid M)`, for messages.
    label: Vec<u8>,
}

impl Credentials {
    /// Work out, before the fork, what the command's child applies: the
    /// user `who` (with `--groups`), the capabilities (`--cap-sets` or
    /// `--caps`), `--workdir`, `--no-new-privileges` and `seccomp`.
    pub fn prepare(
        who: Option<&Identity>,
        args: &InitArgs,
        seccomp: Option<Seccomp>,
    ) -> Result<Credentials, Error> {
        let ids = who.map(|w| {
            let allowed = std::fs::read_to_string("/proc/self/setgroups")
                .map(|s| s.trim() == "allow")
                .unwrap_or(true);
            let gid_map = std::fs::read_to_string("/proc/self/gid_map").unwrap_or_default();
            ids_of(w, allowed, &idmap::parse_map(&gid_map))
        });
        let caps = match (args.cap_sets, args.caps) {
            (Some(sets), _) => Some(oci_caps(sets)),
            (None, Some(keep)) => {
                let now = sys::raw_capget().map_err(|e| Error::sys("capget", e))?;
                let uid = ids
                    .as_ref()
                    .map_or(nix::unistd::getuid().as_raw(), |i| i.uid);
                Some(named_caps(keep, CapSet::from_bits(now.permitted), uid))
            }
            (None, None) => None,
        };
        let groups = match &args.groups {
            Some(list) => Some(parse_groups(list)?),
            None => None,
        };
        let workdir = match &args.workdir {
            Some(d) => Some(
                CString::new(d.as_str())
                    .map_err(|_| Error::Usage("--workdir contains a NUL byte".into()))?,
            ),
            None => None,
        };
        Ok(Credentials {
            ids: ids.map(|i| with_groups(i, groups)),
            caps,
            workdir,
            no_new_privs: args.no_new_privileges,
            seccomp,
            label: label(who, args.user.as_deref()).into_bytes(),
        })
    }

    /// Apply everything, in the forked child: raw syscalls only. On failure,
    /// what failed (to be followed by the errno's text).
    pub fn apply(&self) -> Result<(), (&'static str, &[u8], Errno)> {
        if !self.no_new_privs {
            self.load_seccomp()?;
        }
        if let Some(c) = &self.caps {
            for cap in 0..64 {
                if !c.keep.contains(cap) {
                    match sys::raw_capbset_drop(cap) {
                        Ok(()) => {}
                        // EINVAL: this kernel has no capability that high
                        // (they are numbered without gaps): none above.
                        Err(Errno::EINVAL) => break,
                        Err(e) => {
                            return Err((
                                "drop capabilities from the bounding set of ",
                                &self.label,
                                e,
                            ))
                        }
                    }
                }
            }
            match sys::raw_ambient_clear() {
                Ok(()) | Err(Errno::EINVAL) => {}
                Err(e) => return Err(("clear the ambient capabilities of ", &self.label, e)),
            }
        }
        if self.caps.as_ref().is_some_and(|c| c.keep_across_setuid) {
            nix::sys::prctl::set_keepcaps(true)
                .map_err(|e| ("keep the capabilities of ", &self.label[..], e))?;
        }
        if let Some(ids) = &self.ids {
            if let Some(groups) = &ids.groups {
                sys::raw_setgroups(groups).map_err(|e| ("setgroups for ", &self.label[..], e))?;
            }
            sys::raw_setresgid(ids.gid).map_err(|e| ("setgid for ", &self.label[..], e))?;
            sys::raw_setresuid(ids.uid).map_err(|e| ("setuid for ", &self.label[..], e))?;
        }
        if let Some(c) = &self.caps {
            sys::raw_capset(&c.last)
                .map_err(|e| ("set the capabilities of ", &self.label[..], e))?;
            for cap in c.ambient.numbers() {
                sys::raw_ambient_raise(cap)
                    .map_err(|e| ("raise the ambient capabilities of ", &self.label[..], e))?;
            }
        }
        if let Some(dir) = &self.workdir {
            sys::raw_chdir(dir).map_err(|e| ("chdir to --workdir ", dir.as_bytes(), e))?;
        }
        if self.no_new_privs {
            nix::sys::prctl::set_no_new_privs()
                .map_err(|e| ("--no-new-privileges for ", &self.label[..], e))?;
            self.load_seccomp()?;
        }
        Ok(())
    }

    fn load_seccomp(&self) -> Result<(), (&'static str, &[u8], Errno)> {
        match &self.seccomp {
            Some(s) => sys::raw_seccomp_load(s.flags, &s.program)
                .map_err(|e| ("load the seccomp filter of ", &self.label[..], e)),
            None => Ok(()),
        }
    }
}

/// The ids to switch to for `who`: its groups where setgroups is
/// `allowed`, less those `gid_map` does not map (a gid the namespace does
/// not map cannot be a member here).
fn ids_of(who: &Identity, allowed: bool, gid_map: &[IdRange]) -> Ids {
    Ids {
        uid: who.uid,
        gid: who.gid,
        groups: allowed.then(|| {
            who.groups
                .iter()
                .copied()
                .filter(|g| idmap::maps_inside(gid_map, *g))
                .collect()
        }),
    }
}

/// `--groups` (OCI `additionalGids`): exactly these, where setgroups is
/// allowed; else the groups stay as worked out.
fn with_groups(mut ids: Ids, groups: Option<Vec<u32>>) -> Ids {
    if let (Some(g), Some(_)) = (groups, &ids.groups) {
        ids.groups = Some(g);
    }
    ids
}

/// `--caps`: the bounding set `keep`; a command run as `uid` 0 keeps
/// those of them we hold (`permitted`) as its permitted and effective
/// sets, any other user none.
fn named_caps(keep: CapSet, permitted: CapSet, uid: u32) -> Caps {
    let set = if uid == 0 {
        keep.intersect(permitted).bits()
    } else {
        0
    };
    // Inheritable stays empty (CVE-2022-24769: a file's inheritable
    // capabilities must not lift a program above the set).
    Caps {
        keep,
        last: CapState {
            effective: set,
            permitted: set,
            inheritable: 0,
        },
        ambient: CapSet::EMPTY,
        keep_across_setuid: false,
    }
}

/// Who the command runs as, for messages: `--user X (uid N, gid M)`.
fn label(who: Option<&Identity>, user: Option<&str>) -> String {
    match (who, user) {
        (Some(w), Some(spec)) => format!("--user {spec} (uid {}, gid {})", w.uid, w.gid),
        (Some(w), None) => format!("uid {}, gid {}", w.uid, w.gid),
        (None, _) => "the command".to_string(),
    }
}

/// A compiled seccomp filter: the `SECCOMP_FILTER_FLAG_*` flags and the
/// classic BPF program.
pub struct Seccomp {
    pub flags: u32,
    pub program: Vec<libc::sock_filter>,
}

/// The compiled seccomp filter nslaunch passed on `--seccomp-fd`, read to
/// its end: the flags (a native-endian u32), then whole `sock_filter`
/// instructions, at most the kernel's BPF_MAXINSNS (4096).
pub fn read_seccomp(fd: Option<i32>) -> Result<Option<Seccomp>, Error> {
    let Some(fd) = fd else { return Ok(None) };
    let bad = |why: String| Error::Usage(format!("--seccomp-fd {fd}: {why}"));
    // SAFETY: nothing of ours holds it yet, and fds::check_distinct made
    // sure no other option names the same number.
    let owned = unsafe { sys::take_inherited_fd(fd) }
        .map_err(|_| bad("not an open file descriptor".into()))?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::fs::File::from(owned), &mut bytes)
        .map_err(|e| bad(shared::report::io_why(&e)))?;
    const SIZE: usize = std::mem::size_of::<libc::sock_filter>();
    let (flags, program) = match bytes.split_first_chunk::<4>() {
        Some((f, p)) if !p.is_empty() && p.len() % SIZE == 0 && p.len() / SIZE <= 4096 => {
            (u32::from_ne_bytes(*f), p)
        }
        _ => {
            return Err(bad(format!(
                "{} bytes is not flags and a filter of 1 to 4096 instructions",
                bytes.len()
            )))
        }
    };
    Ok(Some(Seccomp {
        flags,
        program: program
            .chunks_exact(SIZE)
            .map(|c| libc::sock_filter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(uid: u32, gid: u32, groups: &[u32]) -> Identity {
        Identity {
            uid,
            gid,
            groups: groups.to_vec(),
            home: "/".into(),
        }
    }

    fn range(inside: u32, count: u32) -> IdRange {
        IdRange {
            inside,
            outside: 100_000 + inside,
            count,
        }
    }

    #[test]
    fn only_mapped_groups_and_only_where_setgroups_is_allowed() {
        let w = who(1000, 100, &[100, 10, 70000]);
        let ids = ids_of(&w, true, &[range(0, 65536)]);
        assert_eq!((ids.uid, ids.gid), (1000, 100));
        assert_eq!(ids.groups, Some(vec![100, 10]));
        assert_eq!(ids_of(&w, true, &[range(100, 1)]).groups, Some(vec![100]));
        assert_eq!(ids_of(&w, false, &[range(0, 65536)]).groups, None);
    }

    #[test]
    fn given_groups_replace_the_users_where_setgroups_is_allowed() {
        let w = who(0, 0, &[0, 10]);
        let ids = with_groups(ids_of(&w, true, &[range(0, 65536)]), Some(vec![5, 6]));
        assert_eq!(ids.groups, Some(vec![5, 6]));
        let ids = with_groups(ids_of(&w, true, &[range(0, 65536)]), None);
        assert_eq!(ids.groups, Some(vec![0, 10]));
        let ids = with_groups(ids_of(&w, false, &[]), Some(vec![5]));
        assert_eq!(ids.groups, None, "setgroups denied: the groups stay");
    }

    #[test]
    fn named_caps_go_to_root_only_and_never_inheritable() {
        let keep = CapSet::from_bits(0b1011);
        let held = CapSet::from_bits(0b0011_0011);
        let root = named_caps(keep, held, 0);
        assert_eq!(root.keep, keep);
        assert_eq!(
            root.last,
            CapState {
                effective: 0b0011,
                permitted: 0b0011,
                inheritable: 0
            },
            "what we hold of --caps"
        );
        assert_eq!(root.ambient, CapSet::EMPTY);
        assert!(!root.keep_across_setuid);
        let user = named_caps(keep, held, 1000);
        assert_eq!(user.keep, keep, "the bounding set is cut the same");
        assert_eq!(user.last, CapState::default());
    }

    #[test]
    fn messages_name_the_user() {
        let w = who(1000, 100, &[]);
        assert_eq!(
            label(Some(&w), Some("app")),
            "--user app (uid 1000, gid 100)"
        );
        assert_eq!(label(Some(&w), None), "uid 1000, gid 100");
        assert_eq!(label(None, Some("app")), "the command");
    }
}
