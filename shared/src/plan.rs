//! The container root as a plan: an ordered list of plain-data setup
//! operations that nsinit applies in one pass (see `init/src/setup.rs`).
//! Building the plan is pure and unit-tested here; only the executor touches
//! the kernel.
//!
//! Policy lives here, not in the executor: where the kernel may refuse a
//! step on some hosts and there is another way, the plan says so with a
//! [`SetupOp::Fallback`] (a fresh sysfs, else the host's /sys; with
//! `--dns-best-effort`, the default /etc/resolv.conf, else nothing); a
//! sequence the kernel needs in a given order is spelled out step by step
//! (the overlay's, in [`overlay`]). nsinit applies each op with one
//! function of its own.
//!
//! [`SetupOp::shell`] and the `Display` of [`SetupOp`] are each one flat
//! match with an arm per kind of step, and read best whole; the longer
//! commands have a function of their own.
//!
//! Every `target` is a path *inside the container* (absolute, as the
//! container will see it). The executor resolves it inside the rootfs with
//! `openat2(RESOLVE_IN_ROOT)`, so a symlink or `..` in an untrusted rootfs
//! can never send a mount outside it, and mounts through the opened fd.

use std::fmt;

use nix::errno::Errno;

use crate::mountspec::{DeviceSpec, MountSpec, Propagation};
use crate::tmpfs::Tmpfs;
use crate::volume::Volume;

/// Mount flags, as data (the executor turns them into `MsFlags`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags {
    pub nosuid: bool,
    pub nodev: bool,
    pub noexec: bool,
    pub read_only: bool,
}

impl Flags {
    pub const NONE: Flags = Flags {
        nosuid: false,
        nodev: false,
        noexec: false,
        read_only: false,
    };
    /// nosuid, nodev, noexec.
    pub const ALL: Flags = Flags {
        nosuid: true,
        nodev: true,
        noexec: true,
        read_only: false,
    };
    const NOSUID_NOEXEC: Flags = Flags {
        nosuid: true,
        nodev: false,
        noexec: true,
        read_only: false,
    };
    const NOSUID: Flags = Flags {
        nosuid: true,
        nodev: false,
        noexec: false,
        read_only: false,
    };
    /// Read-only, nosuid, nodev, noexec.
    pub const READ_ONLY_ALL: Flags = Flags {
        read_only: true,
        ..Flags::ALL
    };

    fn names(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.read_only {
            v.push("ro");
        }
        if self.nosuid {
            v.push("nosuid");
        }
        if self.nodev {
            v.push("nodev");
        }
        if self.noexec {
            v.push("noexec");
        }
        v
    }
}

/// One step of building the container's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupOp {
    /// `mount --make-rprivate /`: nothing mounted from here on propagates
    /// to the host.
    MakeRootPrivate,
    /// `mount --rbind ROOTFS ROOTFS`: the rootfs becomes a mount point
    /// (pivot_root needs one). With `tree`, the detached mount tree open on
    /// that fd (made by nslaunch, e.g. idmapped) is attached instead, on
    /// top of `/`, where nsinit can always reach it.
    BindRootfs { tree: Option<i32> },
    /// The first step of an overlay of the rootfs (see [`overlay`]): its
    /// upper layer's filesystem, a new tmpfs or the `--overlay-dir`, with
    /// the `upper` and `work` directories. A tmpfs, or a tree nslaunch
    /// made, is attached on top of the rootfs mount, so that it belongs to
    /// our mount namespace (before Linux 6.15 overlayfs takes no layer
    /// from a detached mount).
    OverlayUpper(Upper),
    /// Make the overlay filesystem (detached): the bound rootfs below, the
    /// upper layer above. It holds private clones of both.
    OverlayMount(Overlay),
    /// Detach the upper layer's filesystem from on top of the rootfs: the
    /// overlay holds its own clone.
    DetachUpper,
    /// Detach the bound rootfs: the overlay holds its own clone.
    DetachLower,
    /// Attach the overlay where the rootfs was and make it the container's
    /// root from here on. Nothing is left stacked under it, so the old
    /// root's detach after `pivot_root` takes everything.
    AttachOverlay,
    /// Create the directory `target` if missing, then mount a new
    /// filesystem on it.
    Mount {
        fstype: &'static str,
        target: String,
        flags: Flags,
        data: String,
    },
    /// Create `target` (an empty regular file, if missing), then bind the
    /// host's device node `host` onto it. Rootless containers cannot mknod.
    BindDevice { host: String, target: String },
    /// Create the directory `target` with `mode` (exact, umask ignored).
    Mkdir { target: String, mode: u32 },
    /// Create the symlink `target` pointing to `points_to`.
    Symlink { points_to: String, target: String },
    /// A volume: create `target` if missing (a directory for a directory,
    /// an empty file otherwise), bind `source` and everything mounted
    /// under it there, and make the whole of it read-only if asked.
    Volume {
        source: Source,
        target: String,
        read_only: bool,
    },
    /// `--read-only`, before the rootfs is made read-only: create `target`
    /// if missing, as the mount point that comes later needs (a directory,
    /// or whatever kind `Source` is), since nothing can be created in it
    /// afterwards.
    MountPoint { target: String, kind: PointKind },
    /// `--read-only`: make the rootfs, and every mount it brought from the
    /// host, read-only, before anything of ours is mounted on it.
    ReadOnlyRoot,
    /// A recursive bind of the host's `source`, with `flags` on every
    /// mount of it, on the directory `target` (the host's /sys where a
    /// new sysfs is refused).
    BindHost {
        source: String,
        target: String,
        flags: Flags,
    },
    /// Hide `target` (an empty read-only tmpfs on top) when it is the
    /// root of a filesystem other than the one at `fs_of`: debugfs,
    /// tracefs ... mounted in the host's /sys.
    HideOtherFs { target: String, fs_of: String },
    /// Do `first`; where the kernel refuses it with one of `on`, do
    /// `instead` in its place (nothing, when it is empty).
    Fallback(Box<Fallback>),
    /// An OCI mount's propagation (shared, slave ...), on the mount just
    /// made at `target`; `recursive` for the whole tree.
    Propagate {
        target: String,
        propagation: Propagation,
        recursive: bool,
    },
    /// Hide `target` when it exists: an empty read-only tmpfs over a
    /// directory, /dev/null over anything else (runc's masked paths).
    Mask { target: String },
    /// Make `target` and everything under it read-only when it exists: a
    /// bind of it on itself, read-only (runc's read-only paths).
    ReadOnlyPath { target: String },
    /// `pivot_root` into the rootfs and detach the old root: no `old_root`
    /// directory is left in the rootfs.
    PivotRoot,
    /// An OCI bundle's mount: a bind of a host path, a new filesystem of
    /// any type (sysfs and cgroup fall back to read-only binds of the
    /// host's where a user namespace may not mount them).
    OciMount(MountSpec),
    /// An OCI device node: the host's node bound in when the host has one
    /// of the same type and number, else made with mknod (real root
    /// without a user namespace only).
    Device(DeviceSpec),
    /// OCI `root.readonly`: make the rootfs's own mount read-only, once
    /// everything is mounted on it.
    RemountRootReadOnly,
    /// A generated file (`--dns`, `--add-host`): write `content` to a new
    /// file on the container's /dev tmpfs, create `target` if missing (an
    /// empty file), bind the new file there and unlink it from /dev. The
    /// rootfs's own file is hidden, never written.
    File { target: String, content: String },
}

/// An alternative decided when the plan is built: what to do when the
/// kernel refuses a step for a reason known to happen on some hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    pub first: SetupOp,
    pub on: &'static [Errno],
    pub instead: Vec<SetupOp>,
    /// Why `instead` is good enough, for `-v` and scripts.
    pub why: &'static str,
}

/// What kind of mount point [`SetupOp::MountPoint`] makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PointKind {
    Dir,
    /// An empty regular file (for [`SetupOp::File`]).
    File,
    /// A directory if the volume's source is one, else an empty file.
    LikeSource(Source),
}

/// Where a volume comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A host path, bound by nsinit itself.
    Path(String),
    /// A detached mount tree nslaunch made (idmapped, or a plain clone of
    /// a path nsinit may not reach) and passed open on this fd; `path` is
    /// its host path, for messages.
    Tree { fd: i32, path: String },
}

impl Source {
    pub fn path(&self) -> &str {
        match self {
            Source::Path(p) | Source::Tree { path: p, .. } => p,
        }
    }
}

/// A copy-on-write root: the rootfs below, an upper layer that takes
/// every change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlay {
    pub upper: Upper,
    /// Mount with `userxattr` (overlayfs in a user namespace keeps its
    /// whiteouts and opaque marks in `user.overlay.*` xattrs; Linux 5.11).
    pub userxattr: bool,
}

/// Where an overlay's upper layer and its work directory live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upper {
    /// `upper` and `work` on a tmpfs made in the container's own mount
    /// namespace: the changes vanish with the container, even on SIGKILL.
    Tmpfs,
    /// `DIR/upper` and `DIR/work` on the host (`--overlay-dir DIR`): the
    /// changes persist. With `tree`, the detached mount of DIR nslaunch
    /// made (idmapped) and passed open on that fd.
    Dir { path: String, tree: Option<i32> },
}

/// The host device nodes bound into the container's /dev.
pub const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// Hidden from the container (docker's and podman's default masked
/// paths): kernel memory, keys, timers and hardware details of the host.
pub const MASKED: [&str; 12] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
];

/// Read-only in the container (docker's default read-only paths): the
/// kernel's settings and triggers. Read-only for container root too, and
/// for real root under `--userns host`, which could otherwise write
/// /proc/sys/kernel/core_pattern and run anything on the host.
pub const READ_ONLY: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Where /sys is a bind of the host's, the host's filesystems mounted at
/// these paths are hidden too (an empty read-only tmpfs on top): a sysfs
/// of the container's own has nothing there.
pub const HOST_SYS_HIDDEN: [&str; 6] = [
    "/sys/fs/bpf",
    "/sys/fs/pstore",
    "/sys/kernel/config",
    "/sys/kernel/debug",
    "/sys/kernel/security",
    "/sys/kernel/tracing",
];

/// The mounts nslaunch itself makes at the top of the container.
const OWN_MOUNTS: [&str; 3] = ["/proc", "/dev", "/sys"];

/// What the plan needs to know about the container.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RootOptions {
    /// The container's gid of the `tty` group (5) when it is mapped: new
    /// ptys are then owned by it, as on a normal system. With a single-id
    /// mapping it is not mapped, and devpts must not be told about it.
    pub tty_gid: Option<u32>,
    /// A detached tree to attach as the rootfs (see [`SetupOp::BindRootfs`]).
    pub rootfs_tree: Option<i32>,
    /// The volumes, each with the fd of its detached tree when nslaunch
    /// made one.
    pub volumes: Vec<(Volume, Option<i32>)>,
    /// Run on an overlay of the rootfs (`--overlay`, `--overlay-dir`).
    pub overlay: Option<Overlay>,
    /// `--tmpfs`: new tmpfs mounts, among the volumes by depth.
    pub tmpfs: Vec<Tmpfs>,
    /// `--read-only`: the rootfs is mounted read-only.
    pub read_only: bool,
    /// `--workdir`, created before the rootfs is made read-only when it
    /// would be in the rootfs itself.
    pub workdir: Option<String>,
    /// Generated files, (target, content) (`netconf::files`), among the
    /// volumes by depth, after them at equal depth.
    pub files: Vec<(String, String)>,
    /// `--dns-best-effort`: see [`dns_best_effort`].
    pub dns_best_effort: bool,
}

/// A mount the user asked for, volume or tmpfs.
enum UserMount<'a> {
    Volume(&'a Volume, Option<i32>),
    Tmpfs(&'a Tmpfs),
    File(&'a (String, String)),
}

impl UserMount<'_> {
    fn target(&self) -> &str {
        match self {
            UserMount::Volume(v, _) => &v.dst,
            UserMount::Tmpfs(t) => &t.dst,
            UserMount::File((target, _)) => target,
        }
    }

    fn depth(&self) -> usize {
        match self {
            UserMount::Volume(v, _) => v.depth(),
            UserMount::Tmpfs(t) => t.depth(),
            UserMount::File((target, _)) => target.split('/').filter(|c| !c.is_empty()).count(),
        }
    }

    fn point_kind(&self) -> PointKind {
        match self {
            UserMount::File(_) => PointKind::File,
            m => m.source().map_or(PointKind::Dir, PointKind::LikeSource),
        }
    }

    fn source(&self) -> Option<Source> {
        match self {
            UserMount::Volume(v, Some(fd)) => Some(Source::Tree {
                fd: *fd,
                path: v.src.clone(),
            }),
            UserMount::Volume(v, None) => Some(Source::Path(v.src.clone())),
            UserMount::Tmpfs(_) | UserMount::File(_) => None,
        }
    }

    fn op(&self) -> SetupOp {
        match self {
            UserMount::Volume(v, _) => SetupOp::Volume {
                source: self.source().expect("a volume has a source"),
                target: v.dst.clone(),
                read_only: v.read_only,
            },
            UserMount::Tmpfs(t) => SetupOp::Mount {
                fstype: "tmpfs",
                target: t.dst.clone(),
                flags: Flags {
                    nosuid: true,
                    nodev: true,
                    noexec: !t.exec,
                    read_only: t.read_only,
                },
                data: t.data(),
            },
            UserMount::File((target, content)) => SetupOp::File {
                target: target.clone(),
                content: content.clone(),
            },
        }
    }
}

/// Whether `path` is strictly below `dir`.
fn is_below(path: &str, dir: &str) -> bool {
    path.strip_prefix(dir)
        .is_some_and(|rest| rest.starts_with('/'))
}

/// The plan for a container root: private mounts, the rootfs bound on
/// itself (with `--read-only`: its mount points made, then read-only),
/// /proc, a minimal /dev (host nodes bound in, a private devpts, /dev/shm,
/// the fd links), /sys, the volumes and tmpfs, the masked and read-only
/// kernel paths, then pivot_root.
pub fn container_root(opts: &RootOptions) -> Vec<SetupOp> {
    let mut plan = vec![
        SetupOp::MakeRootPrivate,
        SetupOp::BindRootfs {
            tree: opts.rootfs_tree,
        },
    ];
    if let Some(o) = &opts.overlay {
        plan.extend(overlay(o));
    }
    // With --overlay the mount points go in the upper layer, never in the
    // rootfs, and the overlay is what becomes read-only.
    let read_only_at = plan.len();
    plan.push(SetupOp::Mount {
        fstype: "proc",
        target: "/proc".into(),
        flags: Flags::ALL,
        data: String::new(),
    });
    plan.extend(dev(opts.tty_gid));
    plan.push(sysfs("/sys"));
    // Volumes and tmpfs after /dev, so one on /dev/x lands on the
    // container's /dev; by depth, so /a is mounted before /a/b (a stable
    // sort keeps the given order otherwise).
    let mut mounts: Vec<UserMount> = opts
        .volumes
        .iter()
        .map(|(v, tree)| UserMount::Volume(v, *tree))
        .chain(opts.tmpfs.iter().map(UserMount::Tmpfs))
        .chain(opts.files.iter().map(UserMount::File))
        .collect();
    mounts.sort_by_key(UserMount::depth);
    let best_effort = |op| dns_best_effort(op, opts.dns_best_effort);
    plan.extend(mounts.iter().map(UserMount::op).map(best_effort));
    plan.extend(kernel_paths());
    plan.push(SetupOp::PivotRoot);
    if opts.read_only {
        let mut first = read_only_mount_points(&mounts, opts.workdir.as_deref());
        first.push(SetupOp::ReadOnlyRoot);
        let first = first.into_iter().map(best_effort);
        plan.splice(read_only_at..read_only_at, first);
    }
    plan
}

/// The overlay of the bound rootfs, in the order the kernel needs: the
/// upper layer, the overlay made of both, the layers detached again (the
/// overlay holds clones of them), the overlay attached in their place.
pub fn overlay(o: &Overlay) -> Vec<SetupOp> {
    let mut ops = vec![
        SetupOp::OverlayUpper(o.upper.clone()),
        SetupOp::OverlayMount(o.clone()),
    ];
    // A `--overlay-dir` nsinit opens by path is not a mount of ours.
    let attached = !matches!(o.upper, Upper::Dir { tree: None, .. });
    if attached {
        ops.push(SetupOp::DetachUpper);
    }
    ops.extend([SetupOp::DetachLower, SetupOp::AttachOverlay]);
    ops
}

/// A minimal /dev: a tmpfs, the host's device nodes bound in, a devpts of
/// the container's own (its gid `tty_gid` when mapped), /dev/shm and the
/// links to /proc/self/fd.
fn dev(tty_gid: Option<u32>) -> Vec<SetupOp> {
    let mut ops = vec![SetupOp::Mount {
        fstype: "tmpfs",
        target: "/dev".into(),
        flags: Flags::NOSUID,
        data: "mode=755,size=65536k".into(),
    }];
    ops.extend(DEVICES.iter().map(|dev| SetupOp::BindDevice {
        host: format!("/dev/{dev}"),
        target: format!("/dev/{dev}"),
    }));
    let mut pts = String::from("newinstance,ptmxmode=0666,mode=0620");
    if let Some(gid) = tty_gid {
        pts.push_str(&format!(",gid={gid}"));
    }
    ops.extend([
        SetupOp::Mount {
            fstype: "devpts",
            target: "/dev/pts".into(),
            flags: Flags::NOSUID_NOEXEC,
            data: pts,
        },
        SetupOp::Symlink {
            points_to: "pts/ptmx".into(),
            target: "/dev/ptmx".into(),
        },
        SetupOp::Mkdir {
            target: "/dev/shm".into(),
            mode: 0o1777,
        },
        SetupOp::Mount {
            fstype: "tmpfs",
            target: "/dev/shm".into(),
            flags: Flags::ALL,
            data: "mode=1777,size=65536k".into(),
        },
    ]);
    ops.extend(fd_links());
    ops
}

/// /dev/fd, /dev/stdin, /dev/stdout, /dev/stderr.
fn fd_links() -> impl Iterator<Item = SetupOp> {
    [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ]
    .into_iter()
    .map(|(link, to)| SetupOp::Symlink {
        points_to: to.into(),
        target: format!("/dev/{link}"),
    })
}

/// A read-only /sys on `target`: a new sysfs where the kernel allows one,
/// else the host's, bound read-only, with the other filesystems mounted
/// in it hidden. A user namespace may mount a sysfs only in a network
/// namespace it owns (EPERM), and a sysfs cannot go on top of the same
/// sysfs (EBUSY: the host's, already there with --rootfs /).
pub fn sysfs(target: &str) -> SetupOp {
    let fresh = SetupOp::Mount {
        fstype: "sysfs",
        target: target.into(),
        flags: Flags::READ_ONLY_ALL,
        data: String::new(),
    };
    or_host_sys(fresh, target)
}

/// `first`, a new sysfs on `target`, or the host's /sys where the kernel
/// refuses it (see [`sysfs`]).
fn or_host_sys(first: SetupOp, target: &str) -> SetupOp {
    let mut instead = vec![SetupOp::BindHost {
        source: "/sys".into(),
        target: target.into(),
        flags: Flags::READ_ONLY_ALL,
    }];
    instead.extend(HOST_SYS_HIDDEN.iter().map(|d| SetupOp::HideOtherFs {
        target: format!("{target}{}", d.trim_start_matches("/sys")),
        fs_of: target.into(),
    }));
    SetupOp::Fallback(Box::new(Fallback {
        first,
        on: &[Errno::EPERM, Errno::EBUSY],
        instead,
        why: "no new sysfs here: the host's /sys, read-only, its other filesystems hidden",
    }))
}

/// `--dns-best-effort`: the default /etc/resolv.conf of a network mode,
/// and its mount point, are left out where the rootfs has none and none
/// may be made (a rootfs the container may not write).
fn dns_best_effort(op: SetupOp, best_effort: bool) -> SetupOp {
    let resolv = match &op {
        SetupOp::File { target, .. }
        | SetupOp::MountPoint {
            target,
            kind: PointKind::File,
        } => target == crate::netconf::RESOLV_CONF,
        _ => false,
    };
    if !(best_effort && resolv) {
        return op;
    }
    SetupOp::Fallback(Box::new(Fallback {
        first: op,
        on: &[Errno::EACCES, Errno::EPERM, Errno::EROFS],
        instead: Vec::new(),
        why: "no mount point for the default /etc/resolv.conf: the rootfs's own stays",
    }))
}

/// The masked and read-only kernel paths: after every other mount, so
/// that nothing mounted later can uncover what they hide.
fn kernel_paths() -> impl Iterator<Item = SetupOp> {
    let masked = MASKED.iter().map(|t| SetupOp::Mask {
        target: t.to_string(),
    });
    let read_only = READ_ONLY.iter().map(|t| SetupOp::ReadOnlyPath {
        target: t.to_string(),
    });
    masked.chain(read_only)
}

/// What an OCI bundle asks of its root (see [`oci_root`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OciRoot {
    pub mounts: Vec<MountSpec>,
    pub devices: Vec<DeviceSpec>,
    pub masked: Vec<String>,
    pub readonly_paths: Vec<String>,
    pub read_only: bool,
}

/// The plan for an OCI bundle: private mounts, the rootfs bound on
/// itself, the bundle's mounts in its order, its devices and the /dev
/// links (when /dev is a filesystem of its own, not a bind of the host's),
/// the masked and read-only paths, the read-only root, then pivot_root.
pub fn oci_root(opts: &OciRoot) -> Vec<SetupOp> {
    let mut plan = vec![SetupOp::MakeRootPrivate, SetupOp::BindRootfs { tree: None }];
    for m in &opts.mounts {
        plan.push(oci_mount(m));
        if let Some((propagation, recursive)) = m.propagation {
            plan.push(SetupOp::Propagate {
                target: m.target.clone(),
                propagation,
                recursive,
            });
        }
    }
    let own_dev = opts
        .mounts
        .iter()
        .any(|m| m.target == "/dev" && !m.is_bind());
    let devpts = opts
        .mounts
        .iter()
        .any(|m| m.target == "/dev/pts" && m.fstype == "devpts");
    plan.extend(opts.devices.iter().cloned().map(SetupOp::Device));
    if own_dev {
        let mut links = vec![
            ("/proc/self/fd", "/dev/fd"),
            ("/proc/self/fd/0", "/dev/stdin"),
            ("/proc/self/fd/1", "/dev/stdout"),
            ("/proc/self/fd/2", "/dev/stderr"),
        ];
        if devpts && !opts.devices.iter().any(|d| d.path == "/dev/ptmx") {
            links.push(("pts/ptmx", "/dev/ptmx"));
        }
        plan.extend(links.into_iter().map(|(to, at)| SetupOp::Symlink {
            points_to: to.into(),
            target: at.into(),
        }));
    }
    plan.extend(
        opts.masked
            .iter()
            .map(|t| SetupOp::Mask { target: t.clone() }),
    );
    plan.extend(
        opts.readonly_paths
            .iter()
            .map(|t| SetupOp::ReadOnlyPath { target: t.clone() }),
    );
    if opts.read_only {
        plan.push(SetupOp::RemountRootReadOnly);
    }
    plan.push(SetupOp::PivotRoot);
    plan
}

/// One mount of a bundle; a sysfs falls back on the host's /sys as ours
/// does ([`sysfs`]).
fn oci_mount(m: &MountSpec) -> SetupOp {
    let op = SetupOp::OciMount(m.clone());
    if m.fstype == "sysfs" {
        or_host_sys(op, &m.target)
    } else {
        op
    }
}

/// For `--read-only`: the mount points (and workdir) that will be in the
/// rootfs itself, to create before it is made read-only. Those below
/// /proc, /dev, /sys or another volume or tmpfs are made later, on that
/// mount, as usual.
fn read_only_mount_points(mounts: &[UserMount], workdir: Option<&str>) -> Vec<SetupOp> {
    let on_another_mount = |target: &str| {
        OWN_MOUNTS
            .iter()
            .any(|m| target == *m || is_below(target, m))
            || mounts.iter().any(|m| is_below(target, m.target()))
    };
    let mut ops: Vec<SetupOp> = OWN_MOUNTS
        .iter()
        .map(|t| SetupOp::MountPoint {
            target: t.to_string(),
            kind: PointKind::Dir,
        })
        .collect();
    for m in mounts {
        if !on_another_mount(m.target()) {
            ops.push(SetupOp::MountPoint {
                target: m.target().to_string(),
                kind: m.point_kind(),
            });
        }
    }
    if let Some(w) = workdir.filter(|w| *w != "/" && !on_another_mount(w)) {
        if !mounts.iter().any(|m| m.target() == w) {
            ops.push(SetupOp::MountPoint {
                target: w.to_string(),
                kind: PointKind::Dir,
            });
        }
    }
    ops
}

/// A container path shown on the host, for messages and scripts: the
/// rootfs expression (already shell-quoted) followed by the quoted target.
fn under(rootfs: &str, target: &str) -> String {
    format!("{}{}", rootfs.trim_end_matches('/'), quote(target))
}

/// `s` as one shell word: as is when it holds only characters no shell
/// treats specially, else in single quotes (see [`quote_bytes`]).
pub fn quote(s: &str) -> String {
    // Quotes added around valid UTF-8 keep it valid: never lossy.
    String::from_utf8_lossy(&quote_bytes(s.as_bytes())).into_owned()
}

/// Any bytes (a file name, an argument: not necessarily UTF-8) as one
/// POSIX shell word that `sh` reads back byte for byte: as is when every
/// byte is one no shell treats specially, else in single quotes, inside
/// which every byte but `'` is literal (newlines and control bytes
/// included); a `'` is written `'\''`. No `$'...'`: POSIX sh before
/// Issue 8 (dash) lacks it. A NUL cannot be in an argument, so it never
/// comes here.
pub fn quote_bytes(b: &[u8]) -> Vec<u8> {
    let plain = !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"/._-+=:,@%".contains(c));
    if plain {
        return b.to_vec();
    }
    let mut out = Vec::with_capacity(b.len() + 2);
    out.push(b'\'');
    for &c in b {
        if c == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(c);
        }
    }
    out.push(b'\'');
    out
}

impl SetupOp {
    /// The shell command that does this step (as in the article), for
    /// `--dry-run` scripts. `rootfs` is the host path as a shell word,
    /// already quoted ([`quote`]) or a variable such as `"$ROOTFS"`.
    pub fn shell(&self, rootfs: &str) -> String {
        let at = |target: &str| under(rootfs, target);
        match self {
            SetupOp::MakeRootPrivate => "mount --make-rprivate /".into(),
            SetupOp::BindRootfs { tree: None } => format!("mount --rbind {rootfs} {rootfs}"),
            SetupOp::BindRootfs { tree: Some(_) } => format!(
                "mount --rbind {rootfs} {rootfs} # nslaunch attaches an idmapped copy \
                 (mount_setattr MOUNT_ATTR_IDMAP), which mount(8) here cannot make"
            ),
            SetupOp::OverlayUpper(upper) => overlay_upper_shell(upper),
            SetupOp::OverlayMount(o) => overlay_shell(o, rootfs),
            SetupOp::DetachUpper | SetupOp::DetachLower | SetupOp::AttachOverlay => {
                format!("# nsinit: {self} (mount -t overlay above needs no such step)")
            }
            SetupOp::Mount {
                fstype,
                target,
                flags,
                data,
            } => mount_shell(fstype, &at(target), *flags, data),
            SetupOp::BindDevice { host, target } => {
                format!("touch {t} && mount --bind {host} {t}", t = at(target))
            }
            SetupOp::Mkdir { target, mode } => format!("mkdir -m {mode:o} {}", at(target)),
            SetupOp::Symlink { points_to, target } => {
                format!("ln -s {points_to} {}", at(target))
            }
            SetupOp::Volume {
                source,
                target,
                read_only,
            } => volume_shell(source, &at(target), *read_only),
            SetupOp::MountPoint { target, kind } => mount_point_shell(kind, &at(target)),
            SetupOp::ReadOnlyRoot | SetupOp::RemountRootReadOnly => {
                format!("mount -o remount,bind,ro {rootfs}")
            }
            SetupOp::BindHost {
                source,
                target,
                flags,
            } => bind_host_shell(source, &at(target), *flags),
            SetupOp::HideOtherFs { target, .. } => format!(
                "if mountpoint -q {t}; then mount -t tmpfs -o ro,size=0,mode=555 tmpfs {t}; fi",
                t = at(target)
            ),
            SetupOp::Fallback(f) => fallback_shell(f, rootfs),
            SetupOp::Mask { target } => format!(
                "if [ -d {t} ]; then mount -t tmpfs -o ro tmpfs {t}; \
                 elif [ -e {t} ]; then mount --bind /dev/null {t}; fi",
                t = at(target)
            ),
            SetupOp::ReadOnlyPath { target } => format!(
                "[ -e {t} ] && mount --rbind {t} {t} && mount -o remount,bind,ro {t}",
                t = at(target)
            ),
            SetupOp::PivotRoot => format!("cd {rootfs} && pivot_root . . && umount -l . && cd /"),
            SetupOp::OciMount(m) => oci_mount_shell(m, &at(&m.target)),
            SetupOp::Propagate {
                target,
                propagation,
                recursive,
            } => {
                let r = if *recursive { "r" } else { "" };
                format!("mount --make-{r}{} {}", propagation.name(), at(target))
            }
            SetupOp::Device(d) => {
                format!(
                    "touch {t} && mount --bind {} {t}",
                    quote(&d.path),
                    t = at(&d.path)
                )
            }
            SetupOp::File { target, content } => file_shell(content, &at(target), &at(FILE_TMP)),
        }
    }
}

/// Where a generated file is written before it is bound in place (on the
/// container's /dev tmpfs).
pub const FILE_TMP: &str = "/dev/.nslaunch-file";

fn overlay_upper_shell(upper: &Upper) -> String {
    match upper {
        Upper::Tmpfs => "T=$(mktemp -d) && mount -t tmpfs -o mode=700 tmpfs $T && \
                         mkdir -p $T/upper $T/work"
            .into(),
        Upper::Dir { path, .. } => format!("mkdir -p {d}/upper {d}/work", d = quote(path)),
    }
}

fn overlay_shell(o: &Overlay, rootfs: &str) -> String {
    let dir = match &o.upper {
        Upper::Tmpfs => "$T".to_string(),
        Upper::Dir { path, .. } => quote(path),
    };
    let ux = if o.userxattr { ",userxattr" } else { "" };
    format!(
        "mount -t overlay -o lowerdir={rootfs},upperdir={dir}/upper,workdir={dir}/work{ux} \
         overlay {rootfs}"
    )
}

fn bind_host_shell(source: &str, t: &str, flags: Flags) -> String {
    format!(
        "mount --rbind {s} {t} && mount -o remount,bind,{o} {t}",
        s = quote(source),
        o = flags.names().join(",")
    )
}

fn mount_shell(fstype: &str, t: &str, flags: Flags, data: &str) -> String {
    let mut opts = flags.names();
    if !data.is_empty() {
        opts.push(data);
    }
    let o = if opts.is_empty() {
        String::new()
    } else {
        format!(" -o {}", opts.join(","))
    };
    format!("mkdir -p {t} && mount -t {fstype}{o} {fstype} {t}")
}

/// A directory for a directory, an empty file otherwise, then the bind.
fn volume_shell(source: &Source, t: &str, read_only: bool) -> String {
    let from = quote(source.path());
    let ro = if read_only {
        format!(" && mount -o remount,bind,ro {t}")
    } else {
        String::new()
    };
    let idmapped = if matches!(source, Source::Tree { .. }) {
        " # nslaunch attaches an idmapped copy (mount_setattr MOUNT_ATTR_IDMAP)"
    } else {
        ""
    };
    format!(
        "if [ -d {from} ]; then mkdir -p {t}; else mkdir -p \"$(dirname {t})\" && \
         touch {t}; fi && mount --rbind {from} {t}{ro}{idmapped}"
    )
}

fn mount_point_shell(kind: &PointKind, t: &str) -> String {
    match kind {
        PointKind::Dir => format!("mkdir -p {t}"),
        PointKind::File => format!("mkdir -p \"$(dirname {t})\" && touch {t}"),
        // No name in a comment: a newline in it would end the comment and
        // run the rest.
        PointKind::LikeSource(src) => {
            let from = quote(src.path());
            format!(
                "if [ -d {from} ]; then mkdir -p {t}; else mkdir -p \"$(dirname {t})\" \
                 && touch {t}; fi"
            )
        }
    }
}

/// `first || { instead; }`: the shell cannot tell one refusal from
/// another, so any failure of `first` takes the other way.
fn fallback_shell(f: &Fallback, rootfs: &str) -> String {
    let instead: Vec<String> = f.instead.iter().map(|op| op.shell(rootfs)).collect();
    let instead = if instead.is_empty() {
        "true".to_string()
    } else {
        format!("{{ {}; }}", instead.join("; "))
    };
    format!("{} || {instead} # else: {}", f.first.shell(rootfs), f.why)
}

fn oci_mount_shell(m: &MountSpec, t: &str) -> String {
    if m.is_bind() {
        let r = if m.recursive { "--rbind" } else { "--bind" };
        return format!("mkdir -p {t} && mount {r} {} {t}", quote(&m.source));
    }
    let o = if m.data.is_empty() {
        String::new()
    } else {
        format!(" -o {}", quote(&m.data))
    };
    format!(
        "mkdir -p {t} && mount -t {}{o} {} {t}",
        quote(&m.fstype),
        quote(&m.source)
    )
}

fn file_shell(content: &str, t: &str, tmp: &str) -> String {
    format!(
        "printf %s {} > {tmp} && mkdir -p \"$(dirname {t})\" && {{ [ -e {t} ] || touch {t}; }} \
         && mount --bind {tmp} {t} && rm {tmp}",
        quote(content)
    )
}

/// Short description of a step as seen from inside the container, for
/// error messages: `mount proc on /proc`.
impl fmt::Display for SetupOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupOp::MakeRootPrivate => write!(f, "make / private (mount --make-rprivate /)"),
            SetupOp::BindRootfs { .. } => write!(f, "bind-mount the rootfs"),
            SetupOp::OverlayUpper(upper) => {
                write!(f, "make the overlay's upper layer ({})", upper.flag())
            }
            SetupOp::OverlayMount(o) => {
                write!(f, "mount an overlay of the rootfs ({})", o.upper.flag())
            }
            SetupOp::DetachUpper => write!(f, "detach the overlay's upper layer"),
            SetupOp::DetachLower => write!(f, "detach the rootfs below the overlay"),
            SetupOp::AttachOverlay => write!(f, "attach the overlay as the root"),
            SetupOp::Mount { fstype, target, .. } => write!(f, "mount {fstype} on {target}"),
            SetupOp::BindDevice { host, target } => write!(f, "bind {host} on {target}"),
            SetupOp::Mkdir { target, .. } => write!(f, "mkdir {target}"),
            SetupOp::Symlink { points_to, target } => write!(f, "symlink {target} -> {points_to}"),
            SetupOp::Volume { source, target, .. } => {
                write!(f, "volume {}:{target}", source.path())
            }
            SetupOp::MountPoint { target, .. } => {
                write!(f, "create the mount point {target} (--read-only)")
            }
            SetupOp::ReadOnlyRoot => write!(f, "make the rootfs read-only (--read-only)"),
            SetupOp::BindHost { source, target, .. } => {
                write!(f, "bind the host's {source} on {target}, read-only")
            }
            SetupOp::HideOtherFs { target, .. } => write!(f, "hide the host's {target}"),
            SetupOp::Fallback(fallback) => fallback.first.fmt(f),
            SetupOp::Mask { target } => write!(f, "mask {target}"),
            SetupOp::ReadOnlyPath { target } => write!(f, "make {target} read-only"),
            SetupOp::PivotRoot => write!(f, "pivot_root into the rootfs"),
            SetupOp::OciMount(m) if m.is_bind() => {
                write!(f, "bind {} on {}", m.source, m.target)
            }
            SetupOp::OciMount(m) => write!(f, "mount {} on {}", m.fstype, m.target),
            SetupOp::Propagate {
                target,
                propagation,
                ..
            } => write!(f, "make {target} {}", propagation.name()),
            SetupOp::Device(d) => write!(f, "make the device {}", d.path),
            SetupOp::RemountRootReadOnly => write!(f, "make the rootfs read-only (root.readonly)"),
            SetupOp::File { target, .. } => write!(f, "generate {target}"),
        }
    }
}

impl Upper {
    /// The option that asked for this upper layer, for messages.
    fn flag(&self) -> String {
        match self {
            Upper::Tmpfs => "--overlay".into(),
            Upper::Dir { path, .. } => format!("--overlay-dir {path}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(plan: &[SetupOp]) -> Vec<String> {
        plan.iter()
            .filter_map(|op| match op {
                SetupOp::Mount { target, .. }
                | SetupOp::BindDevice { target, .. }
                | SetupOp::Mkdir { target, .. }
                | SetupOp::Symlink { target, .. }
                | SetupOp::Volume { target, .. } => Some(target.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn private_first_pivot_last() {
        let plan = container_root(&RootOptions::default());
        assert_eq!(plan.first(), Some(&SetupOp::MakeRootPrivate));
        assert_eq!(plan[1], SetupOp::BindRootfs { tree: None });
        assert_eq!(plan.last(), Some(&SetupOp::PivotRoot));
    }

    #[test]
    fn dev_is_mounted_before_anything_inside_it() {
        let plan = container_root(&RootOptions::default());
        let t = targets(&plan);
        let dev = t.iter().position(|x| x == "/dev").unwrap();
        for (i, x) in t.iter().enumerate() {
            if x.starts_with("/dev/") {
                assert!(i > dev, "{x} before /dev is mounted");
            }
        }
        let pts = t.iter().position(|x| x == "/dev/pts").unwrap();
        let ptmx = t.iter().position(|x| x == "/dev/ptmx").unwrap();
        assert!(pts < ptmx);
    }

    #[test]
    fn every_target_is_absolute_and_has_no_dotdot() {
        let opts = RootOptions {
            tty_gid: Some(5),
            volumes: vec![(vol("/h", "/data/x", false), None)],
            ..Default::default()
        };
        for t in targets(&container_root(&opts)) {
            assert!(t.starts_with('/'), "{t}");
            assert!(!t.split('/').any(|c| c == ".."), "{t}");
        }
    }

    #[test]
    fn all_required_devices_are_bound() {
        let plan = container_root(&RootOptions::default());
        for dev in ["null", "zero", "full", "random", "urandom", "tty"] {
            assert!(plan.contains(&SetupOp::BindDevice {
                host: format!("/dev/{dev}"),
                target: format!("/dev/{dev}"),
            }));
        }
        for link in [
            "/dev/fd",
            "/dev/stdin",
            "/dev/stdout",
            "/dev/stderr",
            "/dev/ptmx",
        ] {
            assert!(targets(&plan).iter().any(|t| t == link), "{link}");
        }
    }

    #[test]
    fn devpts_gid_only_when_mapped() {
        let data = |opts: RootOptions| {
            container_root(&opts)
                .into_iter()
                .find_map(|op| match op {
                    SetupOp::Mount {
                        fstype: "devpts",
                        data,
                        ..
                    } => Some(data),
                    _ => None,
                })
                .unwrap()
        };
        assert!(!data(RootOptions::default()).contains("gid="));
        let five = RootOptions {
            tty_gid: Some(5),
            ..Default::default()
        };
        assert!(data(five).contains(",gid=5"));
    }

    #[test]
    fn proc_is_nosuid_nodev_noexec_and_shell_form_reads_like_the_article() {
        let plan = container_root(&RootOptions::default());
        let proc_op = plan
            .iter()
            .find(|op| matches!(op, SetupOp::Mount { fstype: "proc", .. }))
            .unwrap();
        assert_eq!(
            proc_op.shell("/r"),
            "mkdir -p /r/proc && mount -t proc -o nosuid,nodev,noexec proc /r/proc"
        );
        assert_eq!(proc_op.to_string(), "mount proc on /proc");
        assert_eq!(
            SetupOp::PivotRoot.shell("/r"),
            "cd /r && pivot_root . . && umount -l . && cd /"
        );
    }

    fn vol(src: &str, dst: &str, read_only: bool) -> Volume {
        Volume {
            src: src.into(),
            dst: dst.into(),
            read_only,
            idmap: false,
        }
    }

    #[test]
    fn volumes_come_after_dev_by_depth_and_before_pivot() {
        let opts = RootOptions {
            volumes: vec![
                (vol("/h/deep", "/a/b/c", false), None),
                (vol("/h/dev", "/dev/x", true), Some(7)),
                (vol("/h/a", "/a", false), None),
                (vol("/h/z", "/z", true), None),
            ],
            ..Default::default()
        };
        let plan = container_root(&opts);
        let vols: Vec<&SetupOp> = plan
            .iter()
            .filter(|op| matches!(op, SetupOp::Volume { .. }))
            .collect();
        let order: Vec<&str> = vols
            .iter()
            .map(|op| match op {
                SetupOp::Volume { target, .. } => target.as_str(),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(order, ["/a", "/z", "/dev/x", "/a/b/c"]);
        let first_vol = plan
            .iter()
            .position(|op| matches!(op, SetupOp::Volume { .. }));
        let last_dev = plan
            .iter()
            .rposition(|op| matches!(op, SetupOp::Symlink { .. } | SetupOp::Mount { .. }));
        assert!(first_vol > last_dev);
        assert_eq!(vols[3].to_string(), "volume /h/deep:/a/b/c");
        assert_eq!(
            vols[2],
            &SetupOp::Volume {
                source: Source::Tree {
                    fd: 7,
                    path: "/h/dev".into()
                },
                target: "/dev/x".into(),
                read_only: true
            }
        );
        assert_eq!(
            vols[1].shell("/r"),
            "if [ -d /h/z ]; then mkdir -p /r/z; else mkdir -p \"$(dirname /r/z)\" && touch /r/z; \
             fi && mount --rbind /h/z /r/z && mount -o remount,bind,ro /r/z"
        );
    }

    #[test]
    fn an_overlay_comes_right_after_the_rootfs_and_before_anything_inside_it() {
        let overlay = Overlay {
            upper: Upper::Tmpfs,
            userxattr: true,
        };
        let opts = RootOptions {
            overlay: Some(overlay.clone()),
            volumes: vec![(vol("/h", "/data", false), None)],
            ..Default::default()
        };
        let plan = container_root(&opts);
        assert_eq!(plan[1], SetupOp::BindRootfs { tree: None });
        assert_eq!(
            plan[2..7],
            [
                SetupOp::OverlayUpper(Upper::Tmpfs),
                SetupOp::OverlayMount(overlay),
                SetupOp::DetachUpper,
                SetupOp::DetachLower,
                SetupOp::AttachOverlay,
            ]
        );
        assert!(matches!(plan[7], SetupOp::Mount { fstype: "proc", .. }));
        let script: Vec<String> = plan[2..4].iter().map(|op| op.shell("/r")).collect();
        assert_eq!(
            script,
            [
                "T=$(mktemp -d) && mount -t tmpfs -o mode=700 tmpfs $T && mkdir -p $T/upper $T/work",
                "mount -t overlay -o lowerdir=/r,upperdir=$T/upper,workdir=$T/work,userxattr \
                 overlay /r"
            ]
        );
        assert!(plan[4..7].iter().all(|op| op.shell("/r").starts_with("# ")));
        assert!(!container_root(&RootOptions::default())
            .iter()
            .any(|op| matches!(op, SetupOp::OverlayUpper(_) | SetupOp::OverlayMount(_))));
    }

    #[test]
    fn only_an_upper_layer_nsinit_attached_is_detached_again() {
        let dir = |tree| Overlay {
            upper: Upper::Dir {
                path: "/keep".into(),
                tree,
            },
            userxattr: false,
        };
        // Opened by path: not a mount of ours, nothing to detach.
        let by_path = overlay(&dir(None));
        assert_eq!(
            by_path,
            [
                SetupOp::OverlayUpper(dir(None).upper),
                SetupOp::OverlayMount(dir(None)),
                SetupOp::DetachLower,
                SetupOp::AttachOverlay,
            ]
        );
        // nslaunch's tree (idmapped) is attached on the rootfs first.
        let by_tree = overlay(&dir(Some(4)));
        assert_eq!(by_tree.len(), 5);
        assert_eq!(by_tree[2], SetupOp::DetachUpper);
        assert_eq!(
            by_path[1].to_string(),
            "mount an overlay of the rootfs (--overlay-dir /keep)"
        );
        assert!(by_path[1]
            .shell("/r")
            .ends_with("workdir=/keep/work overlay /r"));
        // --read-only: the mount points go in the overlay, after it is
        // attached.
        let plan = container_root(&RootOptions {
            overlay: Some(dir(None)),
            read_only: true,
            ..Default::default()
        });
        let attached = plan.iter().position(|op| *op == SetupOp::AttachOverlay);
        let first_point = plan
            .iter()
            .position(|op| matches!(op, SetupOp::MountPoint { .. }));
        assert_eq!(first_point, attached.map(|a| a + 1));
    }

    #[test]
    fn sys_is_a_fresh_sysfs_or_else_the_hosts_with_its_other_filesystems_hidden() {
        let plan = container_root(&RootOptions::default());
        let fallbacks: Vec<&Fallback> = plan
            .iter()
            .filter_map(|op| match op {
                SetupOp::Fallback(f) => Some(&**f),
                _ => None,
            })
            .collect();
        assert_eq!(fallbacks.len(), 1);
        let f = fallbacks[0];
        assert_eq!(
            f.first,
            SetupOp::Mount {
                fstype: "sysfs",
                target: "/sys".into(),
                flags: Flags::READ_ONLY_ALL,
                data: String::new(),
            }
        );
        assert_eq!(f.on, [Errno::EPERM, Errno::EBUSY]);
        assert_eq!(
            f.instead[0],
            SetupOp::BindHost {
                source: "/sys".into(),
                target: "/sys".into(),
                flags: Flags::READ_ONLY_ALL,
            }
        );
        let hidden: Vec<&str> = f.instead[1..]
            .iter()
            .map(|op| match op {
                SetupOp::HideOtherFs { target, fs_of } if fs_of == "/sys" => target.as_str(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(hidden, HOST_SYS_HIDDEN);
        let script = SetupOp::Fallback(Box::new(f.clone())).shell("/r");
        assert!(
            script.starts_with(
                "mkdir -p /r/sys && mount -t sysfs -o ro,nosuid,nodev,noexec sysfs /r/sys \
                 || { mount --rbind /sys /r/sys && mount -o remount,bind,ro,nosuid,nodev,noexec \
                 /r/sys; if mountpoint -q /r/sys/fs/bpf; then"
            ),
            "{script}"
        );
        assert_eq!(
            SetupOp::Fallback(Box::new(f.clone())).to_string(),
            "mount sysfs on /sys"
        );
    }

    #[test]
    fn an_oci_sysfs_falls_back_the_same_way_and_propagation_is_a_step_of_its_own() {
        let sys = MountSpec::from_oci(
            "/sys",
            Some("sysfs"),
            Some("sysfs"),
            &["ro".into(), "rslave".into()],
        )
        .unwrap();
        let plan = oci_root(&OciRoot {
            mounts: vec![sys.clone()],
            ..Default::default()
        });
        let SetupOp::Fallback(f) = &plan[2] else {
            panic!("{:?}", plan[2]);
        };
        assert_eq!(f.first, SetupOp::OciMount(sys));
        assert!(matches!(f.instead[0], SetupOp::BindHost { .. }));
        assert_eq!(
            plan[3],
            SetupOp::Propagate {
                target: "/sys".into(),
                propagation: Propagation::Slave,
                recursive: true,
            }
        );
        assert_eq!(plan[3].shell("/r"), "mount --make-rslave /r/sys");
    }

    #[test]
    fn dns_best_effort_lets_only_the_default_resolv_conf_be_refused() {
        let files = vec![
            (crate::netconf::RESOLV_CONF.to_string(), "x\n".to_string()),
            ("/etc/hosts".to_string(), "y\n".to_string()),
        ];
        let fallbacks = |best_effort| {
            container_root(&RootOptions {
                read_only: true,
                files: files.clone(),
                dns_best_effort: best_effort,
                ..Default::default()
            })
            .into_iter()
            .filter_map(|op| match op {
                SetupOp::Fallback(f) => Some(*f),
                _ => None,
            })
            .filter(|f| f.instead.is_empty())
            .collect::<Vec<_>>()
        };
        assert!(fallbacks(false).is_empty());
        let skip = fallbacks(true);
        let firsts: Vec<String> = skip.iter().map(|f| f.first.to_string()).collect();
        assert_eq!(
            firsts,
            [
                "create the mount point /etc/resolv.conf (--read-only)",
                "generate /etc/resolv.conf"
            ]
        );
        assert!(skip
            .iter()
            .all(|f| f.on == [Errno::EACCES, Errno::EPERM, Errno::EROFS]));
    }

    #[test]
    fn an_idmapped_rootfs_tree_is_attached_by_fd() {
        let opts = RootOptions {
            rootfs_tree: Some(5),
            ..Default::default()
        };
        assert_eq!(
            container_root(&opts)[1],
            SetupOp::BindRootfs { tree: Some(5) }
        );
    }

    fn tmpfs(s: &str) -> Tmpfs {
        s.parse().unwrap()
    }

    #[test]
    fn tmpfs_sorts_among_volumes_and_is_nosuid_nodev() {
        let opts = RootOptions {
            volumes: vec![(vol("/h/a", "/a/b", false), None)],
            tmpfs: vec![tmpfs("/a:size=1m,exec"), tmpfs("/a/b/c:ro")],
            ..Default::default()
        };
        let plan = container_root(&opts);
        let order: Vec<String> = plan
            .iter()
            .filter(|op| {
                matches!(op, SetupOp::Volume { .. })
                    || matches!(op, SetupOp::Mount { fstype: "tmpfs", target, .. } if target.starts_with("/a"))
            })
            .map(|op| op.to_string())
            .collect();
        assert_eq!(
            order,
            [
                "mount tmpfs on /a",
                "volume /h/a:/a/b",
                "mount tmpfs on /a/b/c"
            ]
        );
        let shells: Vec<String> = plan
            .iter()
            .filter(|op| matches!(op, SetupOp::Mount { target, .. } if target.starts_with("/a")))
            .map(|op| op.shell("/r"))
            .collect();
        assert_eq!(
            shells,
            [
                "mkdir -p /r/a && mount -t tmpfs -o nosuid,nodev,size=1m tmpfs /r/a",
                "mkdir -p /r/a/b/c && mount -t tmpfs -o ro,nosuid,nodev,noexec tmpfs /r/a/b/c",
            ]
        );
    }

    #[test]
    fn kernel_paths_are_masked_and_read_only_after_every_other_mount() {
        let opts = RootOptions {
            volumes: vec![(vol("/h/p", "/proc2", false), None)],
            tmpfs: vec![tmpfs("/run")],
            ..Default::default()
        };
        let plan = container_root(&opts);
        let pos = |want: &SetupOp| plan.iter().position(|op| op == want).unwrap();
        let first_mask = plan
            .iter()
            .position(|op| matches!(op, SetupOp::Mask { .. }))
            .unwrap();
        let last_mount = plan
            .iter()
            .rposition(|op| matches!(op, SetupOp::Volume { .. } | SetupOp::Mount { .. }))
            .unwrap();
        assert!(first_mask > last_mount);
        assert!(pos(&sysfs("/sys")) < first_mask);
        for t in [
            "/proc/kcore",
            "/proc/keys",
            "/proc/timer_list",
            "/proc/sched_debug",
            "/sys/firmware",
        ] {
            assert!(pos(&SetupOp::Mask { target: t.into() }) < plan.len() - 1);
        }
        for t in [
            "/proc/sys",
            "/proc/sysrq-trigger",
            "/proc/irq",
            "/proc/bus",
            "/proc/fs",
        ] {
            let at = pos(&SetupOp::ReadOnlyPath { target: t.into() });
            assert!(at > first_mask && at < plan.len() - 1);
        }
        assert_eq!(plan.last(), Some(&SetupOp::PivotRoot));
        assert!(!plan.contains(&SetupOp::ReadOnlyRoot));
        assert_eq!(
            SetupOp::Mask {
                target: "/proc/kcore".into()
            }
            .to_string(),
            "mask /proc/kcore"
        );
    }

    #[test]
    fn generated_files_come_after_the_volumes_and_get_mount_points() {
        let file = |t: &str| (t.to_string(), "x\n".to_string());
        let opts = RootOptions {
            read_only: true,
            volumes: vec![(vol("/h/etc", "/etc", false), None)],
            files: vec![file("/etc/resolv.conf"), file("/etc/hosts")],
            ..Default::default()
        };
        let plan = container_root(&opts);
        let at = |want: &SetupOp| plan.iter().position(|op| op == want).unwrap();
        let resolv = SetupOp::File {
            target: "/etc/resolv.conf".into(),
            content: "x\n".into(),
        };
        let volume = plan
            .iter()
            .position(|op| matches!(op, SetupOp::Volume { .. }))
            .unwrap();
        let first_mask = plan
            .iter()
            .position(|op| matches!(op, SetupOp::Mask { .. }))
            .unwrap();
        assert!(volume < at(&resolv) && at(&resolv) < first_mask);
        // Below a volume: its mount point is made on the volume, later.
        assert!(!plan.contains(&SetupOp::MountPoint {
            target: "/etc/hosts".into(),
            kind: PointKind::File
        }));
        let plan = container_root(&RootOptions {
            read_only: true,
            files: vec![file("/etc/hosts")],
            ..Default::default()
        });
        let point = SetupOp::MountPoint {
            target: "/etc/hosts".into(),
            kind: PointKind::File,
        };
        let ro = plan.iter().position(|op| *op == SetupOp::ReadOnlyRoot);
        assert!(plan.iter().position(|op| *op == point) < ro);
        assert!(resolv
            .shell("/r")
            .contains("mount --bind /r/dev/.nslaunch-file /r/etc/resolv.conf"));
    }

    #[test]
    fn read_only_makes_the_mount_points_first_then_the_rootfs_read_only() {
        let opts = RootOptions {
            read_only: true,
            volumes: vec![
                (vol("/h/data", "/data", false), Some(9)),
                (vol("/h/in", "/data/in", true), None),
                (vol("/h/f", "/etc/hosts", true), None),
                (vol("/h/x", "/dev/x", false), None),
            ],
            tmpfs: vec![tmpfs("/run"), tmpfs("/run/lock"), tmpfs("/sys/x")],
            workdir: Some("/srv/app".into()),
            ..Default::default()
        };
        let plan = container_root(&opts);
        let ro = plan
            .iter()
            .position(|op| *op == SetupOp::ReadOnlyRoot)
            .unwrap();
        assert!(matches!(plan[1], SetupOp::BindRootfs { .. }));
        let points: Vec<&SetupOp> = plan[2..ro].iter().collect();
        let dir = |t: &str| SetupOp::MountPoint {
            target: t.into(),
            kind: PointKind::Dir,
        };
        assert_eq!(
            points,
            [
                &dir("/proc"),
                &dir("/dev"),
                &dir("/sys"),
                &SetupOp::MountPoint {
                    target: "/data".into(),
                    kind: PointKind::LikeSource(Source::Tree {
                        fd: 9,
                        path: "/h/data".into()
                    })
                },
                &dir("/run"),
                &SetupOp::MountPoint {
                    target: "/etc/hosts".into(),
                    kind: PointKind::LikeSource(Source::Path("/h/f".into()))
                },
                &dir("/srv/app"),
            ]
        );
        // Nothing else is created before the rootfs is read-only.
        assert!(plan[..ro].iter().all(|op| matches!(
            op,
            SetupOp::MakeRootPrivate | SetupOp::BindRootfs { .. } | SetupOp::MountPoint { .. }
        )));
        // A workdir on a volume, or none, adds nothing.
        for w in [None, Some("/data/w"), Some("/"), Some("/run")] {
            let o = RootOptions {
                workdir: w.map(String::from),
                ..opts.clone()
            };
            let n = container_root(&o)
                .iter()
                .filter(|op| matches!(op, SetupOp::MountPoint { .. }))
                .count();
            assert_eq!(n, 6, "{w:?}");
        }
        assert!(!container_root(&RootOptions::default())
            .iter()
            .any(|op| matches!(op, SetupOp::MountPoint { .. } | SetupOp::ReadOnlyRoot)));
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(quote("/a/b-c_d.e"), "/a/b-c_d.e");
        assert_eq!(quote("/my dir"), "'/my dir'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("$HOME"), "'$HOME'");
        assert_eq!(quote(""), "''");
        assert_eq!(under("\"$ROOTFS\"", "/my dir"), "\"$ROOTFS\"'/my dir'");
    }

    #[test]
    fn an_oci_root_follows_the_bundle_order_and_adds_the_dev_links() {
        let m = |t: &str, ty: &str| MountSpec::from_oci(t, Some(ty), Some(ty), &[]).unwrap();
        let opts = OciRoot {
            mounts: vec![
                m("/proc", "proc"),
                m("/dev", "tmpfs"),
                m("/dev/pts", "devpts"),
            ],
            devices: vec!["/dev/null:c:1:3:666:0:0".parse().unwrap()],
            masked: vec!["/proc/kcore".into()],
            readonly_paths: vec!["/proc/sys".into()],
            read_only: true,
        };
        let plan = oci_root(&opts);
        assert_eq!(plan[0], SetupOp::MakeRootPrivate);
        assert_eq!(plan[2], SetupOp::OciMount(m("/proc", "proc")));
        assert_eq!(plan[4], SetupOp::OciMount(m("/dev/pts", "devpts")));
        assert!(matches!(&plan[5], SetupOp::Device(d) if d.path == "/dev/null"));
        let t = targets(&plan);
        assert!(t.contains(&"/dev/ptmx".to_string()) && t.contains(&"/dev/fd".to_string()));
        let n = plan.len();
        assert_eq!(plan[n - 2], SetupOp::RemountRootReadOnly);
        assert_eq!(plan[n - 1], SetupOp::PivotRoot);
        let mask = plan
            .iter()
            .position(|o| matches!(o, SetupOp::Mask { .. }))
            .unwrap();
        let last_mount = plan
            .iter()
            .rposition(|o| matches!(o, SetupOp::OciMount(_)))
            .unwrap();
        assert!(mask > last_mount);
        // /dev a bind of the host's: no links of ours in it.
        let bound = OciRoot {
            mounts: vec![MountSpec::from_oci(
                "/dev",
                Some("bind"),
                Some("/dev"),
                &["rbind".into()],
            )
            .unwrap()],
            ..Default::default()
        };
        assert!(!targets(&oci_root(&bound)).contains(&"/dev/fd".to_string()));
    }
}
