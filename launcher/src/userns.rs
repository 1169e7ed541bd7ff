//! The container's id maps: which ones (`--userns`, `--uid-map`,
//! `--gid-map`, checked before anything runs), and the one place that
//! installs them: it writes a child's `/proc/<pid>/uid_map`, `gid_map` and
//! `setgroups`, or has the setuid helpers newuidmap/newgidmap write maps
//! an unprivileged user may not write itself (its subordinate ranges).
//! The arithmetic is `shared::idmap`.

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Command;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode as FileMode;
use nix::unistd::{getegid, geteuid, pipe2};
use shared::idmap::{self, IdRange, Mode, SubRange};
use shared::sys;

use crate::error::{io_why, Error};

const SUBUID: &str = "/etc/subuid";
const SUBGID: &str = "/etc/subgid";

/// Who runs nslaunch.
struct Caller {
    uid: u32,
    gid: u32,
    /// From the host's /etc/passwd, read by hand: nslaunch is linked
    /// statically, and a static glibc binary must not use NSS. A user known
    /// only to NSS (LDAP ...) has no name here; /etc/subuid lines that give
    /// its uid still count.
    name: Option<String>,
}

impl Caller {
    fn current() -> Caller {
        let uid = geteuid().as_raw();
        Caller {
            uid,
            gid: getegid().as_raw(),
            name: shared::passwd::host_name_of(uid),
        }
    }

    fn is_root(&self) -> bool {
        self.uid == 0
    }

    fn label(&self) -> String {
        match &self.name {
            Some(n) => format!("{n} (uid {})", self.uid),
            None => format!("uid {}", self.uid),
        }
    }
}

/// How the container's user namespace is set up.
pub struct Plan {
    pub uid_map: Vec<IdRange>,
    pub gid_map: Vec<IdRange>,
    /// `--userns auto`: the rootfs and volumes become idmapped mounts
    /// through these maps (see `idmapped.rs`).
    pub idmapped: bool,
    /// The command's user when `--user` is not given (`keep-id`: the
    /// caller's own uid:gid).
    pub default_user: Option<String>,
    caller: Caller,
    /// newuidmap / newgidmap write the map (an unprivileged caller's map
    /// with more than its own id).
    uid_helper: bool,
    gid_helper: bool,
}

/// The cloned child's own ids in the new namespace, before it execs nsinit.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChildIds {
    /// Drop the caller's supplementary groups (when the child switches
    /// away from the caller's ids and setgroups is allowed).
    pub clear_groups: bool,
    pub gid: Option<u32>,
    pub uid: Option<u32>,
    /// nsinit will run as a uid other than 0 inside and needs its
    /// capabilities anyway (to mount): pass them as ambient ones.
    pub ambient: bool,
}

impl Plan {
    /// See `shared::idmap::init_id`: nsinit keeps the caller's own ids
    /// when they are mapped, so that it can reach the caller's rootfs and
    /// volumes; else it becomes root inside (real root under `auto`).
    pub fn child_ids(&self) -> ChildIds {
        let (uid, switch_uid) = idmap::init_id(&self.uid_map, self.caller.uid);
        let (gid, switch_gid) = idmap::init_id(&self.gid_map, self.caller.gid);
        ChildIds {
            clear_groups: switch_uid && (self.caller.is_root() || self.gid_helper),
            gid: switch_gid.then_some(gid),
            uid: switch_uid.then_some(uid),
            ambient: uid != 0,
        }
    }
}

/// The plan for `--userns MODE` or the explicit maps; `None` for `host`
/// (no user namespace). Every check happens here, before anything runs.
pub fn plan(
    mode: Option<&str>,
    uid_maps: &[String],
    gid_maps: &[String],
) -> Result<Option<Plan>, Error> {
    let caller = Caller::current();
    if !uid_maps.is_empty() || !gid_maps.is_empty() {
        if let Some(m) = mode {
            return Err(Error::Usage(format!(
                "--userns {m}: give either --userns or --uid-map/--gid-map, not both"
            )));
        }
        return explicit(caller, uid_maps, gid_maps).map(Some);
    }
    let mode = match mode {
        Some(m) => m
            .parse::<Mode>()
            .map_err(|why| Error::Usage(format!("--userns {m}: {why}")))?,
        None if caller.is_root() => Mode::Auto,
        None => Mode::Root,
    };
    let refuse = |why: String| Error::Usage(format!("--userns {mode}: {why}"));
    if !caller.is_root() {
        match mode {
            Mode::Host => {
                return Err(refuse(format!(
                    "only real root may run without a user namespace (you are {}); \
                     the default, --userns root, already makes you root inside",
                    caller.label()
                )))
            }
            Mode::Auto => {
                return Err(refuse(format!(
                    "only real root can make idmapped mounts (you are {}); \
                     --userns subids maps a range of ids for you",
                    caller.label()
                )))
            }
            _ => {}
        }
    }
    if mode == Mode::Host {
        return Ok(None);
    }
    let needs_subids = matches!(mode, Mode::Subids | Mode::Auto | Mode::KeepId);
    let (subuids, subgids) = if needs_subids {
        (
            subids(&caller, SUBUID, "uid")?,
            subids(&caller, SUBGID, "gid")?,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    if matches!(mode, Mode::Subids | Mode::Auto) {
        for (subs, file) in [(&subuids, SUBUID), (&subgids, SUBGID)] {
            if subs.is_empty() {
                return Err(refuse(no_range(&caller, file)));
            }
        }
    }
    let map = |own, subs: &[SubRange]| idmap::map_for(mode, own, subs).unwrap_or_default();
    let uid_map = map(caller.uid, &subuids);
    let gid_map = map(caller.gid, &subgids);
    // What the kernel would refuse, said here (ranges that overlap one's
    // own id on the host ...).
    for (m, file) in [(&uid_map, SUBUID), (&gid_map, SUBGID)] {
        idmap::check_map(m).map_err(|why| refuse(format!("with the ranges in {file}: {why}")))?;
    }
    let default_user = (mode == Mode::KeepId).then(|| format!("{}:{}", caller.uid, caller.gid));
    Ok(Some(finish(
        caller,
        uid_map,
        gid_map,
        mode == Mode::Auto,
        default_user,
    )))
}

fn finish(
    caller: Caller,
    uid_map: Vec<IdRange>,
    gid_map: Vec<IdRange>,
    idmapped: bool,
    default_user: Option<String>,
) -> Plan {
    let helper = |map: &[IdRange], own| !caller.is_root() && !idmap::is_own_only(map, own);
    Plan {
        uid_helper: helper(&uid_map, caller.uid),
        gid_helper: helper(&gid_map, caller.gid),
        uid_map,
        gid_map,
        idmapped,
        default_user,
        caller,
    }
}

/// `--uid-map` and `--gid-map`: both needed, each well-formed, acceptable
/// to the kernel, and (for an ordinary user) within what it may map.
fn explicit(caller: Caller, uid_maps: &[String], gid_maps: &[String]) -> Result<Plan, Error> {
    if uid_maps.is_empty() || gid_maps.is_empty() {
        let (given, missing) = if uid_maps.is_empty() {
            ("--gid-map", "--uid-map")
        } else {
            ("--uid-map", "--gid-map")
        };
        return Err(Error::Usage(format!(
            "{given} needs {missing} as well (give both, or neither and --userns)"
        )));
    }
    let uid_map = explicit_map(&caller, "--uid-map", uid_maps, caller.uid, SUBUID, "uid")?;
    let gid_map = explicit_map(&caller, "--gid-map", gid_maps, caller.gid, SUBGID, "gid")?;
    Ok(finish(caller, uid_map, gid_map, false, None))
}

/// One explicit map (`flag`'s values), checked; `own` is the caller's id
/// of that `kind`, `file` where its subordinate ranges are.
fn explicit_map(
    caller: &Caller,
    flag: &str,
    given: &[String],
    own: u32,
    file: &str,
    kind: &str,
) -> Result<Vec<IdRange>, Error> {
    let mut map = Vec::new();
    for g in given {
        let r: IdRange = g
            .parse()
            .map_err(|why| Error::Usage(format!("{flag} {g}: {why}")))?;
        map.push(r);
    }
    idmap::check_map(&map).map_err(|why| Error::Usage(format!("{flag}: {why}")))?;
    check_allowed(caller, flag, &map, own, file, kind)?;
    Ok(map)
}

/// The maps of an OCI bundle (`linux.uidMappings`, `linux.gidMappings`),
/// already checked for form: what the caller may map, installed as for
/// `--uid-map`/`--gid-map`.
pub fn from_maps(uid_map: Vec<IdRange>, gid_map: Vec<IdRange>) -> Result<Plan, Error> {
    let caller = Caller::current();
    let (uid, gid) = (caller.uid, caller.gid);
    check_allowed(&caller, "linux.uidMappings", &uid_map, uid, SUBUID, "uid")?;
    check_allowed(&caller, "linux.gidMappings", &gid_map, gid, SUBGID, "gid")?;
    Ok(finish(caller, uid_map, gid_map, false, None))
}

/// Refuse a map an ordinary caller may not write, even through
/// newuidmap: host ids beyond its own and its subordinate ranges.
fn check_allowed(
    caller: &Caller,
    flag: &str,
    map: &[IdRange],
    own: u32,
    file: &str,
    kind: &str,
) -> Result<(), Error> {
    if caller.is_root() {
        return Ok(());
    }
    let subs = subids(caller, file, kind)?;
    if let Some(r) = idmap::first_not_allowed(map, own, &subs) {
        let yours = if subs.is_empty() {
            no_range(caller, file)
        } else {
            let ranges: Vec<String> = subs.iter().map(|s| span(s.start, s.count)).collect();
            format!("your ranges in {file} are {}", ranges.join(", "))
        };
        return Err(Error::Usage(format!(
            "{flag} {r}: host {kind}s {} are not yours to map: you may map your own {kind} \
             {own} (one id) and your ranges; {yours}",
            span(r.outside, r.count)
        )));
    }
    Ok(())
}

/// `FIRST-LAST` for `count` ids from `start`.
fn span(start: u32, count: u32) -> String {
    format!("{start}-{}", u64::from(start) + u64::from(count) - 1)
}

/// The caller's subordinate ranges in `file` (for root: root's lines,
/// else nslaunch's default block; see `idmap::root_subids`).
fn subids(caller: &Caller, file: &str, kind: &str) -> Result<Vec<SubRange>, Error> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::Usage(format!("{file}: {}", io_why(&e)))),
    };
    subids_in(caller, file, &text, kind)
}

/// [`subids`] from the file's text: a line of the caller's whose range
/// runs past the last id is refused, as `FILE:LINE: ...`.
fn subids_in(caller: &Caller, file: &str, text: &str, kind: &str) -> Result<Vec<SubRange>, Error> {
    let name = if caller.is_root() {
        Some("root")
    } else {
        caller.name.as_deref()
    };
    idmap::check_subids_of(text, name, caller.uid).map_err(|(line, why)| {
        Error::Usage(format!("{file}:{line}: {why}; fix or remove that line"))
    })?;
    if caller.is_root() {
        return idmap::root_subids(text).map_err(|why| {
            Error::Usage(format!(
                "{file}: {why}; give root its own {kind} range there: usermod \
                 --add-subuids {r} --add-subgids {r} root",
                r = span(free_block(), idmap::SUBIDS)
            ))
        });
    }
    Ok(idmap::subids_of(text, caller.name.as_deref(), caller.uid))
}

/// The start of a block of 65536 ids free in both files, for `usermod`
/// hints.
fn free_block() -> u32 {
    let read = |f| std::fs::read_to_string(f).unwrap_or_default();
    idmap::free_block(&[&read(SUBUID), &read(SUBGID)])
}

/// "No range in FILE", with the line that is missing and the command that
/// adds it.
fn no_range(caller: &Caller, file: &str) -> String {
    let name = caller.name.clone().unwrap_or_else(|| "USER".into());
    let (start, count) = (free_block(), idmap::SUBIDS);
    let r = span(start, count);
    format!(
        "{file} has no line for {}, such as {name}:{start}:{count}; as root, add one with: \
         usermod --add-subuids {r} --add-subgids {r} {name}",
        caller.label(),
    )
}

/// Install the maps of the cloned child `pid`, which waits for them.
pub fn install(pid: i32, plan: &Plan) -> Result<(), Error> {
    if plan.uid_helper {
        run_helper("newuidmap", pid, &plan.uid_map)?;
    } else {
        write_proc(pid, "uid_map", &lines(&plan.uid_map))?;
    }
    if plan.gid_helper {
        // newgidmap itself leaves setgroups allowed, as a subordinate
        // range lets it.
        run_helper("newgidmap", pid, &plan.gid_map)?;
    } else {
        // An unprivileged process may write its own gid alone, and only
        // after giving up setgroups(2) in the namespace.
        if !plan.caller.is_root() {
            write_proc(pid, "setgroups", "deny")?;
        }
        write_proc(pid, "gid_map", &lines(&plan.gid_map))?;
    }
    Ok(())
}

/// A user namespace with the plan's maps, for idmapped mounts: a child
/// cloned into a new user namespace that waits on a pipe while we write
/// its maps and open its namespace, then exits.
pub fn mapped_userns(plan: &Plan) -> Result<OwnedFd, Error> {
    let (hold_r, hold_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::sys("create a pipe", e))?;
    // SAFETY: nslaunch never starts a thread, and the child below only
    // closes, reads and leaves by raw_exit.
    let pid = match unsafe { sys::clone_like_fork(libc::CLONE_NEWUSER) } {
        Ok(Some(pid)) => pid,
        Ok(None) => {
            // The child: wait for end of file (the parent closed the pipe
            // or died), then go.
            drop(hold_w);
            let _ = sys::raw_read_byte(hold_r.as_raw_fd());
            sys::raw_exit(0)
        }
        Err(e) => return Err(Error::sys("create a user namespace for idmapped mounts", e)),
    };
    drop(hold_r);
    let result = write_proc(pid, "uid_map", &lines(&plan.uid_map))
        .and_then(|()| write_proc(pid, "gid_map", &lines(&plan.gid_map)))
        .and_then(|()| {
            let path = format!("/proc/{pid}/ns/user");
            nix::fcntl::open(
                path.as_str(),
                OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                FileMode::empty(),
            )
            .map_err(|e| Error::sys(format!("open {path}"), e))
        });
    drop(hold_w);
    let _ = sys::raw_waitpid(pid, 0);
    result
}

fn lines(map: &[IdRange]) -> String {
    map.iter().map(IdRange::line).collect()
}

/// `newuidmap PID INSIDE OUTSIDE COUNT ...` (or newgidmap); its complaint,
/// if any, in one line.
fn run_helper(helper: &str, pid: i32, map: &[IdRange]) -> Result<(), Error> {
    let mut args = vec![pid.to_string()];
    for r in map {
        args.extend([r.inside, r.outside, r.count].map(|n| n.to_string()));
    }
    let shown = format!("{helper} {}", args.join(" "));
    let out = Command::new(helper).args(&args).output().map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::NotFound {
            " (install it: Debian/Ubuntu `apt-get install uidmap`)".to_string()
        } else {
            String::new()
        };
        Error::Usage(format!("{shown}: {}{hint}", io_why(&e)))
    })?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr);
        let said: Vec<&str> = said
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        return Err(Error::Usage(format!(
            "{shown}: failed ({}): {}",
            out.status,
            said.join("; ")
        )));
    }
    Ok(())
}

fn write_proc(pid: i32, file: &str, text: &str) -> Result<(), Error> {
    let path = format!("/proc/{pid}/{file}");
    // One write(2): the kernel takes a map only whole, in a single write.
    let result = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    result.map_err(|e| {
        let errno = Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
        Error::Sys {
            op: format!("write {:?} to {path}", text.trim_end()),
            errno,
            hint: None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, uid: u32) -> Caller {
        Caller {
            uid,
            gid: uid,
            name: Some(name.into()),
        }
    }

    #[test]
    fn a_subordinate_range_past_the_last_id_is_refused_with_its_line() {
        let text = "alice:100000:65536\nbob:200000:65536\nalice:4294967000:65536\n";
        let err = subids_in(&user("alice", 1000), SUBUID, text, "uid")
            .expect_err("refused")
            .to_string();
        assert!(
            err.starts_with("/etc/subuid:3: alice:4294967000:65536 runs past 4294967294"),
            "{err}"
        );
        // Another user's line is not ours to refuse.
        assert_eq!(
            subids_in(&user("bob", 1001), SUBUID, text, "uid").unwrap(),
            [SubRange {
                start: 200000,
                count: 65536
            }]
        );
        // Root's own lines count for root.
        let root = format!("{text}root:4294900000:100000\n");
        let err = subids_in(&user("root", 0), SUBGID, &root, "gid")
            .expect_err("refused")
            .to_string();
        assert!(err.starts_with("/etc/subgid:4: root:"), "{err}");
    }
}
