//! What isolates a container beyond the core's user, mount and PID
//! namespaces, checked before anything runs: the other namespaces
//! (`--unshare-*`), the command's capabilities (`--cap-add`,
//! `--cap-drop`), `--tmpfs`, and which of the caller's descriptors reach
//! the command (`--preserve-fds`). The mounts that make the kernel's own
//! paths read-only or hidden are nsinit's plan (`shared::plan`); they
//! need no option.

use shared::caps::{self, CapSet};
use shared::tmpfs::Tmpfs;
use shared::volume::Volume;

use crate::cli::LaunchArgs;
use crate::error::Error;

/// The isolation options, checked.
#[derive(Debug)]
pub struct Isolation {
    /// `CLONE_NEW*` flags beyond user, mount and PID (net, IPC, UTS,
    /// cgroup).
    pub namespaces: libc::c_int,
    /// A time namespace: `CLONE_NEWTIME` cannot go through `clone`, so
    /// the child unshares it before it execs nsinit, which then enters it.
    pub time: bool,
    /// A network namespace of its own: nsinit brings its loopback up.
    pub net: bool,
    /// The capabilities container root keeps.
    pub caps: CapSet,
    pub tmpfs: Vec<Tmpfs>,
}

/// Check `--preserve-fds N` before nslaunch opens any descriptor of its
/// own: descriptors 3 to 3+N-1 must be open (the caller's).
pub fn preserved_fds(n: Option<u32>) -> Result<u32, Error> {
    let n = n.unwrap_or(0);
    shared::cli::check_preserved_fds(n, shared::sys::raw_fd_is_open).map_err(Error::Usage)?;
    Ok(n)
}

/// The isolation `args` ask for. `host`: no user namespace (`--userns
/// host`). `volumes`: to refuse a tmpfs on a volume's DST.
pub fn plan(args: &LaunchArgs, host: bool, volumes: &[Volume]) -> Result<Isolation, Error> {
    let all = args.unshare_all;
    let net = all || args.unshare_net;
    let mut namespaces = 0;
    for (on, flag) in [
        (net, libc::CLONE_NEWNET),
        (all || args.unshare_ipc, libc::CLONE_NEWIPC),
        (
            all || args.unshare_uts || args.hostname.is_some(),
            libc::CLONE_NEWUTS,
        ),
        (all || args.unshare_cgroup, libc::CLONE_NEWCGROUP),
    ] {
        if on {
            namespaces |= flag;
        }
    }
    Ok(Isolation {
        namespaces,
        time: all || args.unshare_time,
        net,
        caps: capabilities(&args.cap_add, &args.cap_drop, host)?,
        tmpfs: tmpfs(&args.tmpfs, volumes)?,
    })
}

/// Docker's default set, `--cap-add` and `--cap-drop` on top. Without a
/// user namespace MKNOD is not in the default: there is no device cgroup
/// here to stop a node made inside from reaching the host's disks (it can
/// still be added on purpose).
fn capabilities(adds: &[String], drops: &[String], host: bool) -> Result<CapSet, Error> {
    let mut base = CapSet::docker_default();
    if host {
        base = base.without(caps::MKNOD);
    }
    caps::tweak(base, adds, drops).map_err(Error::Usage)
}

fn tmpfs(specs: &[String], volumes: &[Volume]) -> Result<Vec<Tmpfs>, Error> {
    let mut out: Vec<Tmpfs> = Vec::new();
    for spec in specs {
        let bad = |why: String| Error::Usage(format!("--tmpfs {spec}: {why}"));
        let t: Tmpfs = spec.parse().map_err(bad)?;
        if out.iter().any(|u| u.dst == t.dst) || volumes.iter().any(|v| v.dst == t.dst) {
            return Err(bad(format!(
                "{} is already the target of another volume or tmpfs",
                t.dst
            )));
        }
        out.push(t);
    }
    Ok(out)
}

/// `--seccomp default|unconfined|FILE` (default when absent): the
/// command's filter, compiled for its capabilities `caps`; `None` for
/// unconfined. A profile's unknown syscall names are skipped with a
/// warning on stderr, as the engines do.
pub fn seccomp_filter(
    choice: Option<&str>,
    caps: CapSet,
) -> Result<Option<crate::seccomp::Filter>, Error> {
    let given = choice.unwrap_or("default");
    let choice: crate::seccomp::Choice = given
        .parse()
        .map_err(|why| Error::Usage(format!("--seccomp {given}: {why}")))?;
    let filter = crate::seccomp::build(&choice, caps)
        .map_err(|why| Error::Usage(format!("--seccomp {given}: {why}")))?;
    for w in filter.iter().flat_map(|f| &f.warnings) {
        eprintln!("nslaunch: warning: --seccomp {given}: {w}");
    }
    Ok(filter)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> LaunchArgs {
        let mut all: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        all.extend(["--rootfs".into(), "R".into(), "true".into()]);
        LaunchArgs::parse(&all).unwrap()
    }

    #[test]
    fn namespaces_by_flag() {
        let p = plan(&args(&[]), false, &[]).unwrap();
        assert_eq!((p.namespaces, p.time, p.net), (0, false, false));
        let p = plan(&args(&["--hostname", "box"]), false, &[]).unwrap();
        assert_eq!(p.namespaces, libc::CLONE_NEWUTS);
        let p = plan(&args(&["--unshare-net", "--unshare-ipc"]), false, &[]).unwrap();
        assert_eq!(p.namespaces, libc::CLONE_NEWNET | libc::CLONE_NEWIPC);
        assert!(p.net && !p.time);
        let p = plan(&args(&["--unshare-cgroup", "--unshare-time"]), false, &[]).unwrap();
        assert_eq!(p.namespaces, libc::CLONE_NEWCGROUP);
        assert!(p.time);
        let p = plan(&args(&["--unshare-all"]), false, &[]).unwrap();
        assert_eq!(
            p.namespaces,
            libc::CLONE_NEWNET | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS | libc::CLONE_NEWCGROUP
        );
        assert!(p.time && p.net);
    }

    #[test]
    fn capabilities_default_add_drop_and_host() {
        let p = plan(&args(&[]), false, &[]).unwrap();
        assert_eq!(p.caps, CapSet::docker_default());
        let p = plan(&args(&[]), true, &[]).unwrap();
        assert!(!p.caps.contains(caps::MKNOD));
        let p = plan(&args(&["--cap-add", "MKNOD"]), true, &[]).unwrap();
        assert!(p.caps.contains(caps::MKNOD));
        let p = plan(
            &args(&["--cap-drop", "ALL", "--cap-add", "kill"]),
            false,
            &[],
        )
        .unwrap();
        assert_eq!(p.caps.to_string(), "KILL");
        let e = plan(&args(&["--cap-add", "CAP_FLY"]), false, &[]).unwrap_err();
        assert!(e.to_string().starts_with("--cap-add CAP_FLY: "), "{e}");
    }

    #[test]
    fn tmpfs_targets_are_unique_among_volumes_too() {
        let v: Volume = "/h:/data".parse().unwrap();
        let p = plan(
            &args(&["--tmpfs", "/run:size=1m"]),
            false,
            std::slice::from_ref(&v),
        )
        .unwrap();
        assert_eq!(p.tmpfs[0].dst, "/run");
        for (given, want) in [
            (&["--tmpfs", "/data/"][..], "/data is already"),
            (&["--tmpfs", "/x", "--tmpfs", "/x:ro"][..], "/x is already"),
            (
                &["--tmpfs", "x"][..],
                "--tmpfs x: DST x must be an absolute path",
            ),
            (&["--tmpfs", "/x:bogus"][..], "unknown option"),
        ] {
            let e = plan(&args(given), false, std::slice::from_ref(&v)).unwrap_err();
            assert!(e.to_string().contains(want), "{given:?}: {e}");
        }
    }

    #[test]
    fn preserved_fds_must_be_open() {
        assert_eq!(preserved_fds(None).unwrap(), 0);
        assert_eq!(preserved_fds(Some(0)).unwrap(), 0);
        let e = preserved_fds(Some(u32::MAX)).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("--preserve-fds 4294967295: descriptor "));
    }
}
