//! The executor of the container-root plan (`shared::plan`): the one place
//! nsinit mounts anything. Runs in the new user, mount and PID namespaces,
//! as root of the user namespace, before the command exists.
//!
//! Every target is resolved inside the rootfs with `openat2` and
//! `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`, and mounted through the
//! resulting fd (`/proc/self/fd/N`), so no symlink or `..` in the rootfs can
//! place a mount outside it. All of it happens before `pivot_root`, while
//! the host's /proc is still there to name the fds and to satisfy the
//! kernel's "a proc is already fully visible" rule for mounting a new one.
//!
//! The executor holds no policy: [`build_root`] runs the plan's ops in
//! order, each with a function of its own (`Exec::apply` is only the
//! dispatch); a `SetupOp::Fallback` runs its alternative where the kernel
//! refuses the first step with one of the errnos the plan names.
//!
//! The one exception, [`bind_console`], runs after pivot_root, when the
//! command's terminal exists.
//!
//! Volumes are bound the way the rootfs is: a recursive clone of the
//! source (`open_tree`), or a tree nslaunch made and passed by fd
//! (`--tree`, idmapped), attached with `move_mount` onto the target's fd.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{fchmodat, fstat, FchmodatFlags, Mode, SFlag};
use nix::sys::statvfs::{fstatvfs, FsFlags};
use nix::unistd::{chdir, fchdir, pivot_root};
use shared::idmap;
use shared::plan::{self, Flags, Overlay, PointKind, RootOptions, SetupOp, Source, Upper};
use shared::spec::{InitArgs, TreeFd};
use shared::sys;
use shared::volume::Volume;

use crate::error::Error;
use shared::log::Log;

const RESOLVE: u64 = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;

/// Take the descriptors named by `--tree`, each once: "/" for the rootfs,
/// else the DST of one of `volumes`.
pub fn take_trees(trees: &[TreeFd], volumes: &[Volume]) -> Result<HashMap<i32, OwnedFd>, Error> {
    let mut taken = HashMap::new();
    for (i, t) in trees.iter().enumerate() {
        let bad = |why: &str| Error::Usage(format!("--tree {t}: {why}"));
        if trees[..i].iter().any(|u| u.dst == t.dst || u.fd == t.fd) {
            return Err(bad("given twice"));
        }
        if t.dst != "/" && !volumes.iter().any(|v| v.dst == t.dst) {
            return Err(bad("no --volume has this DST"));
        }
        // SAFETY: each --tree number is taken once (just checked), and no
        // other option names it (fds::check_distinct ran first).
        let fd = unsafe { sys::take_inherited_fd(t.fd) }
            .map_err(|_| bad("not an open file descriptor"))?;
        taken.insert(t.fd, fd);
    }
    // An idmapped mount needs CAP_SYS_ADMIN on the host, which nsinit
    // lacks: only a tree made by nslaunch can be one.
    if let Some(v) = volumes
        .iter()
        .find(|v| v.idmap && !trees.iter().any(|t| t.dst == v.dst))
    {
        return Err(Error::Usage(format!(
            "--volume {v}: idmap needs a --tree for {} (nslaunch makes idmapped mounts; \
             nsinit cannot)",
            v.dst
        )));
    }
    Ok(taken)
}

/// The overlay `--overlay` / `--overlay-dir` ask for, if any; the fd of
/// `--overlay-dir-fd` joins the taken trees. Inside a user namespace
/// (anything but `--userns host`) overlayfs needs `userxattr`.
pub fn overlay(args: &InitArgs, fds: &mut HashMap<i32, OwnedFd>) -> Result<Option<Overlay>, Error> {
    if !args.overlay && args.overlay_dir.is_none() && args.overlay_dir_fd.is_none() {
        return Ok(None);
    }
    let upper = match (&args.overlay_dir, args.overlay_dir_fd) {
        (None, None) => Upper::Tmpfs,
        (None, Some(fd)) => {
            return Err(Error::Usage(format!(
                "--overlay-dir-fd {fd}: needs --overlay-dir"
            )))
        }
        (Some(dir), fd) => {
            if !dir.starts_with('/') {
                return Err(Error::Usage(format!(
                    "--overlay-dir {dir}: must be an absolute path"
                )));
            }
            if let Some(fd) = fd {
                if fds.contains_key(&fd) {
                    return Err(Error::Usage(format!(
                        "--overlay-dir-fd {fd}: also given with --tree"
                    )));
                }
                // SAFETY: not taken as a --tree (just checked), and no other
                // option names it (fds::check_distinct ran first).
                let taken = unsafe { sys::take_inherited_fd(fd) }.map_err(|_| {
                    Error::Usage(format!(
                        "--overlay-dir-fd {fd}: not an open file descriptor"
                    ))
                })?;
                fds.insert(fd, taken);
            }
            Upper::Dir {
                path: dir.clone(),
                tree: fd,
            }
        }
    };
    let uid_map = std::fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
    let initial = idmap::parse_map(&uid_map)
        == [idmap::IdRange {
            inside: 0,
            outside: 0,
            count: u32::MAX,
        }];
    Ok(Some(Overlay {
        upper,
        userxattr: !initial,
    }))
}

/// Build the container root from `rootfs` (a host path) as `args` say
/// (volumes, tmpfs, --read-only) with `overlay` if any, and move into it.
/// `fds` are the descriptors of `--tree`, by number.
pub fn build_root(
    rootfs: &str,
    args: &InitArgs,
    overlay: Option<Overlay>,
    fds: HashMap<i32, OwnedFd>,
    log: &Log,
    before_pivot: &mut dyn FnMut() -> Result<(), Error>,
) -> Result<(), Error> {
    let ops = plan_for(args, overlay)?;
    let mut exec = Exec {
        rootfs,
        root: None,
        root_at: None,
        trees: fds,
        upper: None,
        overlay: None,
    };
    for op in &ops {
        if *op == SetupOp::PivotRoot {
            before_pivot()?;
        }
        exec.run(op, log)?;
    }
    Ok(())
}

/// The plan `args` ask for: an OCI bundle's, or ours.
fn plan_for(args: &InitArgs, overlay: Option<Overlay>) -> Result<Vec<SetupOp>, Error> {
    let gid_map = std::fs::read_to_string("/proc/self/gid_map").unwrap_or_default();
    let tty_gid = idmap::maps_inside(&idmap::parse_map(&gid_map), 5).then_some(5);
    let tree_for = |dst: &str| args.tree.iter().find(|t| t.dst == dst).map(|t| t.fd);
    let opts = RootOptions {
        tty_gid,
        rootfs_tree: tree_for("/"),
        volumes: args
            .volume
            .iter()
            .map(|v| (v.clone(), tree_for(&v.dst)))
            .collect(),
        overlay,
        tmpfs: args.tmpfs.clone(),
        read_only: args.read_only,
        workdir: args.workdir.clone(),
        files: net_files(args)?,
        dns_best_effort: args.dns_best_effort,
    };
    if !args.oci {
        return Ok(plan::container_root(&opts));
    }
    Ok(plan::oci_root(&plan::OciRoot {
        mounts: args.mount.clone(),
        devices: args.device.clone(),
        masked: args.mask.clone(),
        readonly_paths: args.readonly_path.clone(),
        read_only: args.read_only,
    }))
}

/// The generated /etc/resolv.conf and /etc/hosts (`--dns`, `--add-host`),
/// checked; none where a volume of the user's is the file.
fn net_files(args: &InitArgs) -> Result<Vec<(String, String)>, Error> {
    use shared::netconf;
    for ip in &args.dns {
        netconf::parse_dns(ip).map_err(|why| Error::Usage(format!("--dns {ip}: {why}")))?;
    }
    for entry in &args.add_host {
        netconf::parse_host_entry(entry)
            .map_err(|why| Error::Usage(format!("--add-host {entry}: {why}")))?;
    }
    let taken: Vec<&str> = args.volume.iter().map(|v| v.dst.as_str()).collect();
    Ok(netconf::files(
        &args.dns,
        &args.dns_search,
        &args.add_host,
        &taken,
    ))
}

/// Bind the command's terminal (`--console-socket`) on /dev/console, as
/// docker does for `-t`. The one mount made after pivot_root: the terminal
/// exists only now (it comes from the container's own devpts). The target
/// is resolved inside the new root like every other, and the bind goes
/// through `/proc/self/fd`, the container's own /proc by now.
pub fn bind_console(slave: &OwnedFd) -> Result<(), Error> {
    const WHAT: &str = "bind the terminal on /dev/console";
    let step = |e: Step| match e {
        Step::Errno(errno) => Error::sys(WHAT, errno),
        Step::Refused(why) => Error::Usage(format!("{WHAT}: {why}")),
    };
    let root = nix::fcntl::open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::sys(WHAT, e))?;
    let target = ensure_file(&root, "/dev/console").map_err(step)?;
    bind_onto(&fd_path(slave), &target).map_err(|e| Error::sys(WHAT, e))
}

/// Why a step failed: a syscall's errno, or a refusal of ours.
pub(crate) enum Step {
    Errno(Errno),
    Refused(String),
}

impl From<Errno> for Step {
    fn from(e: Errno) -> Self {
        Step::Errno(e)
    }
}

fn hint_for(op: &SetupOp, errno: Errno) -> Option<&'static str> {
    match (op, errno) {
        (SetupOp::Mount { fstype: "proc", .. }, Errno::EPERM) => Some(
            "the kernel refuses a new /proc in a user namespace when the host's /proc has \
             over-mounted paths, as inside some containers",
        ),
        (SetupOp::BindRootfs { .. }, Errno::EACCES | Errno::EPERM) => {
            Some("is the rootfs readable and searchable by the invoking user?")
        }
        (SetupOp::PivotRoot, Errno::EINVAL) => {
            Some("is the rootfs on a filesystem that allows pivot_root (not the initramfs)?")
        }
        (
            SetupOp::OverlayUpper(_)
            | SetupOp::OverlayMount(_)
            | SetupOp::DetachUpper
            | SetupOp::DetachLower
            | SetupOp::AttachOverlay,
            _,
        ) => Some(OVERLAY_HINT),
        (SetupOp::Volume { .. }, Errno::EACCES | Errno::EPERM) => {
            Some("can the invoking user reach the volume's source?")
        }
        (SetupOp::MountPoint { .. }, Errno::EACCES | Errno::EPERM) => {
            Some("--read-only creates missing mount points first; create it in the rootfs yourself")
        }
        _ => None,
    }
}

fn mount_flags(f: Flags) -> MsFlags {
    let mut m = MsFlags::empty();
    m.set(MsFlags::MS_NOSUID, f.nosuid);
    m.set(MsFlags::MS_NODEV, f.nodev);
    m.set(MsFlags::MS_NOEXEC, f.noexec);
    m.set(MsFlags::MS_RDONLY, f.read_only);
    m
}

/// Bind `source` (a path) on the file or directory open on `target`.
fn bind_onto(source: &str, target: &OwnedFd) -> Result<(), Errno> {
    mount(
        Some(source),
        fd_path(target).as_str(),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
}

/// `/proc/self/fd/N`: a path the kernel resolves to exactly the file open
/// on `fd`, wherever it is.
pub(crate) fn fd_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// The executor's state from one step to the next.
struct Exec<'a> {
    /// The rootfs's host path.
    rootfs: &'a str,
    /// The container's root once bound: an fd on its mount.
    root: Option<OwnedFd>,
    /// The host path that mount was attached on.
    root_at: Option<CString>,
    /// The detached trees nslaunch passed, by number, each taken once.
    trees: HashMap<i32, OwnedFd>,
    /// The overlay's upper layer (the root of the filesystem that holds
    /// `upper` and `work`), from [`SetupOp::OverlayUpper`] on.
    upper: Option<OwnedFd>,
    /// The overlay, made and not attached yet.
    overlay: Option<OwnedFd>,
}

impl Exec<'_> {
    /// Apply `op`, timed under `-v`; its failure becomes nsinit's error,
    /// naming the step.
    fn run(&mut self, op: &SetupOp, log: &Log) -> Result<(), Error> {
        let SetupOp::Fallback(f) = op else {
            return log
                .step(op, || self.apply(op))
                .map_err(|e| step_error(op, e));
        };
        match log.step(&f.first, || self.apply(&f.first)) {
            Err(Step::Errno(errno)) if f.on.contains(&errno) => {
                log.info(format_args!("{}: {}: {}", f.first, errno.desc(), f.why));
                f.instead.iter().try_for_each(|op| self.run(op, log))
            }
            done => done.map_err(|e| step_error(&f.first, e)),
        }
    }

    /// One step: the executor itself is this dispatch, each kind of step
    /// has a function of its own.
    fn apply(&mut self, op: &SetupOp) -> Result<(), Step> {
        match op {
            SetupOp::MakeRootPrivate => make_root_private(),
            SetupOp::BindRootfs { tree: Some(fd) } => self.attach_rootfs_tree(*fd),
            SetupOp::BindRootfs { tree: None } => self.bind_rootfs(),
            SetupOp::OverlayUpper(upper) => self.overlay_upper(upper),
            SetupOp::OverlayMount(o) => self.overlay_mount(o),
            SetupOp::DetachUpper => self.detach_upper(),
            SetupOp::DetachLower => self.detach_lower(),
            SetupOp::AttachOverlay => self.attach_overlay(),
            SetupOp::Mount {
                fstype,
                target,
                flags,
                data,
            } => new_mount(self.root()?, fstype, target, *flags, data),
            SetupOp::BindDevice { host, target } => bind_device(self.root()?, host, target),
            SetupOp::Mkdir { target, mode } => mkdir_exact(self.root()?, target, *mode),
            SetupOp::Symlink { points_to, target } => {
                let (parent, name) = parent_of(self.root()?, target)?;
                nix::unistd::symlinkat(points_to.as_str(), &parent, name.as_c_str())?;
                Ok(())
            }
            SetupOp::Volume {
                source,
                target,
                read_only,
            } => self.volume(source, target, *read_only),
            SetupOp::MountPoint { target, kind } => self.mount_point(target, kind),
            SetupOp::ReadOnlyRoot => make_read_only(self.root()?),
            SetupOp::File { target, content } => generated_file(self.root()?, target, content),
            SetupOp::BindHost {
                source,
                target,
                flags,
            } => bind_host(self.root()?, source, target, *flags),
            SetupOp::HideOtherFs { target, fs_of } => hide_other_fs(self.root()?, target, fs_of),
            SetupOp::Fallback(f) => match self.apply(&f.first) {
                Err(Step::Errno(errno)) if f.on.contains(&errno) => {
                    f.instead.iter().try_for_each(|op| self.apply(op))
                }
                done => done,
            },
            SetupOp::OciMount(m) => crate::oci_mounts::mount_one(self.root()?, m),
            SetupOp::Propagate {
                target,
                propagation,
                recursive,
            } => crate::oci_mounts::propagate(self.root()?, target, *propagation, *recursive),
            SetupOp::Device(d) => crate::oci_mounts::device(self.root()?, d),
            SetupOp::RemountRootReadOnly => crate::oci_mounts::remount_root_read_only(self.root()?),
            SetupOp::Mask { target } => mask(self.root()?, target),
            SetupOp::ReadOnlyPath { target } => read_only_path(self.root()?, target),
            SetupOp::PivotRoot => self.pivot_root(),
        }
    }

    fn root(&self) -> Result<&OwnedFd, Step> {
        root_fd(&self.root)
    }

    /// A tree nslaunch made (idmapped): attached on top of "/", which
    /// nsinit can always reach, unlike the rootfs's host path (under
    /// --userns auto nsinit runs as an unprivileged host id).
    fn attach_rootfs_tree(&mut self, fd: i32) -> Result<(), Step> {
        let tree = take(&mut self.trees, fd)?;
        sys::move_mount_to(tree.as_raw_fd(), c"/")?;
        self.root = Some(tree);
        self.root_at = Some(c"/".into());
        Ok(())
    }

    /// A recursive bind of the rootfs, attached on top of itself, known by
    /// fd from the start: a path lookup would miss a mount stacked on "/"
    /// (--rootfs /). Kernels before 5.2 lack open_tree; there the classic
    /// bind-then-open does the same for every rootfs but "/".
    fn bind_rootfs(&mut self) -> Result<(), Step> {
        let rootfs = self.rootfs;
        let path = CString::new(rootfs)
            .map_err(|_| Step::Refused("the rootfs path contains a NUL byte".into()))?;
        let fd = match sys::open_tree_clone(&path) {
            Ok(tree) => {
                sys::move_mount_to(tree.as_raw_fd(), &path)?;
                tree
            }
            Err(Errno::ENOSYS) => {
                mount(
                    Some(rootfs),
                    rootfs,
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                )?;
                nix::fcntl::open(
                    rootfs,
                    OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )?
            }
            Err(e) => return Err(e.into()),
        };
        self.root = Some(fd);
        self.root_at = Some(path);
        Ok(())
    }

    /// A volume: a clone of the source's mount tree (or the tree nslaunch
    /// made), attached on a mount point of its kind, read-only if asked.
    fn volume(&mut self, source: &Source, target: &str, read_only: bool) -> Result<(), Step> {
        let tree = match source {
            Source::Path(p) => {
                let p = CString::new(p.as_str())
                    .map_err(|_| Step::Refused("the source contains a NUL byte".into()))?;
                sys::open_tree_clone(&p)?
            }
            Source::Tree { fd, .. } => take(&mut self.trees, *fd)?,
        };
        let is_dir = file_type(fstat(&tree)?.st_mode) == SFlag::S_IFDIR;
        let root = self.root()?;
        let at = if is_dir {
            ensure_dir(root, target)
        } else {
            ensure_file(root, target)
        }
        .map_err(|e| match e {
            // Not the source's fault: the mount point could not be made.
            Step::Errno(errno @ (Errno::EACCES | Errno::EPERM | Errno::EROFS)) => {
                Step::Refused(format!(
                    "cannot create the mount point {target} in the rootfs ({}): create it \
                     there first, or use a rootfs the invoking user may write",
                    errno.desc()
                ))
            }
            e => e,
        })?;
        sys::move_mount_onto_fd(tree.as_raw_fd(), at.as_raw_fd())?;
        if read_only {
            make_read_only(&tree)?;
        }
        Ok(())
    }

    /// `--read-only`: a mount point made before the rootfs is read-only.
    fn mount_point(&self, target: &str, kind: &PointKind) -> Result<(), Step> {
        let dir = match kind {
            PointKind::Dir => true,
            PointKind::File => false,
            PointKind::LikeSource(Source::Path(p)) => std::fs::metadata(p)
                .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?
                .is_dir(),
            PointKind::LikeSource(Source::Tree { fd, .. }) => {
                let tree = self
                    .trees
                    .get(fd)
                    .ok_or_else(|| Step::Refused(format!("no --tree gives fd {fd}")))?;
                file_type(fstat(tree)?.st_mode) == SFlag::S_IFDIR
            }
        };
        let root = self.root()?;
        if dir {
            ensure_dir(root, target)?;
        } else if *kind == PointKind::File {
            file_target(root, target)?;
        } else {
            ensure_file(root, target)?;
        }
        Ok(())
    }

    /// pivot_root(".", "."): the old root ends up mounted on top of the
    /// new one, where a lazy unmount detaches it. No directory for the old
    /// root is ever made in the rootfs.
    fn pivot_root(&mut self) -> Result<(), Step> {
        fchdir(self.root()?)?;
        pivot_root(".", ".")?;
        umount2(".", MntFlags::MNT_DETACH)?;
        chdir("/")?;
        self.root = None;
        Ok(())
    }

    /// The overlay's upper layer. A new tmpfs, or the tree nslaunch made
    /// of `--overlay-dir`, is attached on top of the rootfs mount, so that
    /// it belongs to our mount namespace (before Linux 6.15 overlayfs
    /// takes no layer from a detached mount); a `--overlay-dir` nsinit may
    /// reach itself is opened by path.
    fn overlay_upper(&mut self, upper: &Upper) -> Result<(), Step> {
        let lower = root_fd(&self.root)?;
        let layers = match upper {
            Upper::Tmpfs => tmpfs_upper(lower)?,
            Upper::Dir { tree: Some(fd), .. } => {
                let tree = take(&mut self.trees, *fd)?;
                sys::move_mount_onto_fd(tree.as_raw_fd(), lower.as_raw_fd())?;
                tree
            }
            Upper::Dir { path, tree: None } => nix::fcntl::open(
                path.as_str(),
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?,
        };
        self.upper = Some(layers);
        Ok(())
    }

    /// The overlay of the bound rootfs and the upper layer, detached. The
    /// layers are named through `/proc/self/fd/N`, which reaches exactly
    /// the mount open on N, whatever its path holds.
    fn overlay_mount(&mut self, overlay: &Overlay) -> Result<(), Step> {
        let layers = self.upper.as_ref().ok_or_else(out_of_order)?;
        let cstring = |s: String| {
            CString::new(s).map_err(|_| Step::Refused("a path contains a NUL byte".into()))
        };
        let lowerdir = cstring(fd_path(self.root()?))?;
        let upperdir = cstring(format!("{}/upper", fd_path(layers)))?;
        let workdir = cstring(format!("{}/work", fd_path(layers)))?;
        let mut params: Vec<(&CStr, Option<&CStr>)> = vec![
            (c"lowerdir", Some(&lowerdir)),
            (c"upperdir", Some(&upperdir)),
            (c"workdir", Some(&workdir)),
        ];
        if overlay.userxattr {
            params.push((c"userxattr", None));
        }
        self.overlay = Some(new_fs(c"overlay", &params)?);
        Ok(())
    }

    fn detach_upper(&mut self) -> Result<(), Step> {
        let layers = self.upper.take().ok_or_else(out_of_order)?;
        umount2(fd_path(&layers).as_str(), MntFlags::MNT_DETACH)?;
        Ok(())
    }

    fn detach_lower(&mut self) -> Result<(), Step> {
        let lower = self.root.take().ok_or_else(out_of_order)?;
        umount2(fd_path(&lower).as_str(), MntFlags::MNT_DETACH)?;
        Ok(())
    }

    /// The overlay, attached where the rootfs was, is the root from now on.
    fn attach_overlay(&mut self) -> Result<(), Step> {
        let merged = self.overlay.take().ok_or_else(out_of_order)?;
        let at = self.root_at.as_deref().unwrap_or(c"/");
        sys::move_mount_to(merged.as_raw_fd(), at)?;
        self.root = Some(merged);
        self.upper = None;
        Ok(())
    }
}

fn out_of_order() -> Step {
    Step::Refused("the plan is out of order".into())
}

fn step_error(op: &SetupOp, e: Step) -> Error {
    match e {
        Step::Errno(errno) => Error::Sys {
            hint: hint_for(op, errno),
            op: op.to_string(),
            errno,
        },
        Step::Refused(why) => Error::Usage(format!("{op}: {why}")),
    }
}

/// `mount --make-rprivate /`.
fn make_root_private() -> Result<(), Step> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )?;
    Ok(())
}

/// A new filesystem on the directory `target`, made if missing.
fn new_mount(
    root: &OwnedFd,
    fstype: &str,
    target: &str,
    flags: Flags,
    data: &str,
) -> Result<(), Step> {
    let dir = ensure_dir(root, target)?;
    let data = (!data.is_empty()).then_some(data);
    mount(
        Some(fstype),
        fd_path(&dir).as_str(),
        Some(fstype),
        mount_flags(flags),
        data,
    )?;
    Ok(())
}

/// The host's device node `host` bound on `target`, an empty file made
/// if missing.
fn bind_device(root: &OwnedFd, host: &str, target: &str) -> Result<(), Step> {
    let file = ensure_file(root, target)?;
    bind_onto(host, &file)?;
    Ok(())
}

/// A new directory with exactly `mode`; one already there is refused.
fn mkdir_exact(root: &OwnedFd, target: &str, mode: u32) -> Result<(), Step> {
    let (parent, name) = parent_of(root, target)?;
    let mode = Mode::from_bits_truncate(mode);
    match nix::sys::stat::mkdirat(&parent, name.as_c_str(), mode) {
        Ok(()) => {}
        Err(Errno::EEXIST) => return Err(Step::Refused("already exists".into())),
        Err(e) => return Err(e.into()),
    }
    // mkdir applies the umask; the plan's mode is exact.
    fchmodat(
        &parent,
        name.as_c_str(),
        mode,
        FchmodatFlags::NoFollowSymlink,
    )
    .or_else(|e| match e {
        // Older kernels refuse AT_SYMLINK_NOFOLLOW; the name is a
        // directory we just made, so following is the same.
        Errno::EOPNOTSUPP => fchmodat(&parent, name.as_c_str(), mode, FchmodatFlags::FollowSymlink),
        e => Err(e),
    })?;
    Ok(())
}

/// The `MOUNT_ATTR_*` flags of `f`.
fn mount_attrs(f: Flags) -> u64 {
    [
        (f.read_only, libc::MOUNT_ATTR_RDONLY),
        (f.nosuid, libc::MOUNT_ATTR_NOSUID),
        (f.nodev, libc::MOUNT_ATTR_NODEV),
        (f.noexec, libc::MOUNT_ATTR_NOEXEC),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .fold(0, |acc, (_, attr)| acc | attr)
}

/// A recursive clone of the host's `source`, `flags` set on every mount
/// of it, attached on the directory `target`.
fn bind_host(root: &OwnedFd, source: &str, target: &str, flags: Flags) -> Result<(), Step> {
    let dir = ensure_dir(root, target)?;
    let source =
        CString::new(source).map_err(|_| Step::Refused("the source contains a NUL byte".into()))?;
    let tree = sys::open_tree_clone(&source)?;
    sys::mount_setattr(tree.as_raw_fd(), true, mount_attrs(flags), 0, None)?;
    sys::move_mount_onto_fd(tree.as_raw_fd(), dir.as_raw_fd())?;
    Ok(())
}

/// Hide `target` when another filesystem than `fs_of`'s is mounted there
/// (debugfs, tracefs, securityfs ... in the host's /sys).
fn hide_other_fs(root: &OwnedFd, target: &str, fs_of: &str) -> Result<(), Step> {
    let Some(at) = existing(root, target)? else {
        return Ok(());
    };
    let of = existing(root, fs_of)?.ok_or_else(|| Step::Refused(format!("no {fs_of}")))?;
    if fstat(&at)?.st_dev != fstat(&of)?.st_dev {
        mask_dir(&at)?;
    }
    Ok(())
}

/// Hide `target` when it exists: an empty read-only tmpfs over a
/// directory, /dev/null over anything else.
fn mask(root: &OwnedFd, target: &str) -> Result<(), Step> {
    let Some(at) = existing(root, target)? else {
        return Ok(());
    };
    if file_type(fstat(&at)?.st_mode) == SFlag::S_IFDIR {
        return mask_dir(&at);
    }
    bind_onto("/dev/null", &at)?;
    Ok(())
}

/// Make `target` and everything under it read-only when it exists.
fn read_only_path(root: &OwnedFd, target: &str) -> Result<(), Step> {
    let Some(at) = existing(root, target)? else {
        return Ok(());
    };
    let tree = sys::raw_open_tree_fd(at.as_raw_fd(), true)?;
    let attrs = mount_attrs(Flags::READ_ONLY_ALL);
    sys::mount_setattr(tree.as_raw_fd(), true, attrs, 0, None)?;
    sys::move_mount_onto_fd(tree.as_raw_fd(), at.as_raw_fd())?;
    Ok(())
}

const OVERLAY_HINT: &str = "overlayfs in a user namespace needs Linux 5.11+, over an idmapped \
     rootfs (--userns auto) 5.19+, and an upper layer on a filesystem with user xattrs \
     (tmpfs: Linux 6.6+)";

/// A new tmpfs attached on top of the rootfs mount `lower`, with `upper`
/// (the rootfs's owner and mode: the overlay's root directory shows the
/// upper one's) and `work`.
fn tmpfs_upper(lower: &OwnedFd) -> Result<OwnedFd, Step> {
    let tmpfs = new_fs(c"tmpfs", &[(c"mode", Some(c"0700"))])?;
    sys::move_mount_onto_fd(tmpfs.as_raw_fd(), lower.as_raw_fd())?;
    let st = fstat(lower)?;
    for (name, mode) in [(c"upper", st.st_mode & 0o7777), (c"work", 0o700)] {
        nix::sys::stat::mkdirat(&tmpfs, name, Mode::from_bits_truncate(mode))?;
        fchmodat(
            &tmpfs,
            name,
            Mode::from_bits_truncate(mode),
            FchmodatFlags::FollowSymlink,
        )?;
    }
    // An owner this namespace cannot name (nobody) stays ours.
    let _ = nix::unistd::fchownat(
        &tmpfs,
        c"upper",
        Some(nix::unistd::Uid::from_raw(st.st_uid)),
        Some(nix::unistd::Gid::from_raw(st.st_gid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    );
    Ok(tmpfs)
}

/// [`sys::new_fs_mount`], its failure told with the kernel's own words.
fn new_fs(fstype: &CStr, params: &[(&CStr, Option<&CStr>)]) -> Result<OwnedFd, Step> {
    sys::new_fs_mount(fstype, params).map_err(|(errno, said)| {
        if said.is_empty() {
            Step::Errno(errno)
        } else {
            Step::Refused(format!("{} ({said}; {OVERLAY_HINT})", errno.desc()))
        }
    })
}

/// An empty read-only tmpfs over the directory open on `at`.
fn mask_dir(at: &OwnedFd) -> Result<(), Step> {
    mount(
        Some("tmpfs"),
        fd_path(at).as_str(),
        Some("tmpfs"),
        MsFlags::MS_RDONLY | mount_flags(Flags::ALL),
        Some("size=0,mode=555"),
    )?;
    Ok(())
}

fn take(trees: &mut HashMap<i32, OwnedFd>, fd: i32) -> Result<OwnedFd, Step> {
    trees
        .remove(&fd)
        .ok_or_else(|| Step::Refused(format!("no --tree gives fd {fd}")))
}

/// Make a bound volume read-only, with every mount under it. Done on the
/// tree's own fd once it is attached in our namespace, before anything
/// else runs in the container. Kernels before 5.12 lack mount_setattr:
/// there a bind remount of the top mount does it, repeating the flags the
/// source mount has (a user namespace may not clear nosuid, nodev, noexec
/// or the atime flags of a mount it did not make: EPERM).
fn make_read_only(tree: &OwnedFd) -> Result<(), Step> {
    match sys::mount_setattr(tree.as_raw_fd(), true, libc::MOUNT_ATTR_RDONLY, 0, None) {
        Err(Errno::ENOSYS) => {}
        other => return other.map_err(Step::from),
    }
    let locked = fstatvfs(tree)?.flags();
    let mut flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY;
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        flags.set(ms, locked.contains(fs));
    }
    mount(
        None::<&str>,
        fd_path(tree).as_str(),
        None::<&str>,
        flags,
        None::<&str>,
    )?;
    Ok(())
}

fn root_fd(root: &Option<OwnedFd>) -> Result<&OwnedFd, Step> {
    root.as_ref()
        .ok_or_else(|| Step::Refused("the rootfs is not mounted yet (plan out of order)".into()))
}

/// The path relative to the root, as a C string; refuses `..` outright
/// (RESOLVE_IN_ROOT would keep it inside anyway, but a plan never has one).
fn relative(target: &str) -> Result<CString, Step> {
    let p = Path::new(target);
    if p.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(Step::Refused(
            "\"..\" is not allowed in a container path".into(),
        ));
    }
    let rel = target.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    CString::new(rel).map_err(|_| Step::Refused("path contains a NUL byte".into()))
}

/// `target` inside the root (O_PATH), or `None` when it does not exist.
pub(crate) fn existing(root: &OwnedFd, target: &str) -> Result<Option<OwnedFd>, Step> {
    relative(target)?;
    match open_in_root(root, target, libc::O_PATH) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn open_in_root(root: &OwnedFd, target: &str, flags: libc::c_int) -> Result<OwnedFd, Errno> {
    let rel = relative(target).map_err(|_| Errno::EINVAL)?;
    sys::openat2(root.as_raw_fd(), &rel, flags, 0, RESOLVE)
}

/// The parent directory of `target` (resolved inside the root, created if
/// missing) and the last component's name.
pub(crate) fn parent_of(root: &OwnedFd, target: &str) -> Result<(OwnedFd, CString), Step> {
    let p = Path::new(target);
    let name = p
        .file_name()
        .ok_or_else(|| Step::Refused("has no file name".into()))?;
    let parent = p.parent().and_then(Path::to_str).unwrap_or("/");
    let dir = ensure_dir(root, parent)?;
    let name = CString::new(name.as_encoded_bytes())
        .map_err(|_| Step::Refused("path contains a NUL byte".into()))?;
    Ok((dir, name))
}

/// Open the directory `target` inside the root, creating it (and its
/// parents, mode 0755) when missing.
pub(crate) fn ensure_dir(root: &OwnedFd, target: &str) -> Result<OwnedFd, Step> {
    relative(target)?;
    let dir_flags = libc::O_PATH | libc::O_DIRECTORY;
    match open_in_root(root, target, dir_flags) {
        Ok(fd) => Ok(fd),
        Err(Errno::ENOENT) => {
            let (parent, name) = parent_of(root, target)?;
            match nix::sys::stat::mkdirat(&parent, name.as_c_str(), Mode::from_bits_truncate(0o755))
            {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(e.into()),
            }
            // Open the name we just made, relative to its parent and
            // without following anything: a dangling symlink in its place
            // is refused rather than followed.
            nix::fcntl::openat(
                &parent,
                name.as_c_str(),
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| match e {
                Errno::ENOTDIR | Errno::ELOOP => not_a_dir(&parent, &name, target),
                e => Step::Errno(e),
            })
        }
        Err(Errno::ENOTDIR) => Err(Step::Refused(format!(
            "{target} (or a directory above it) exists in the rootfs but is not a directory"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// The file type bits of a mode (S_IFDIR, S_IFLNK ...).
pub(crate) fn file_type(mode: libc::mode_t) -> SFlag {
    SFlag::from_bits_truncate(mode & SFlag::S_IFMT.bits())
}

/// Why `name` in `parent` cannot be used as a directory: a dangling
/// symlink (never followed out of the rootfs), or something else.
fn not_a_dir(parent: &OwnedFd, name: &CString, path: &str) -> Step {
    let link = nix::sys::stat::fstatat(
        parent,
        name.as_c_str(),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .is_ok_and(|st| file_type(st.st_mode) == SFlag::S_IFLNK);
    if link {
        Step::Refused(format!("{path} {DANGLING}"))
    } else {
        Step::Refused(format!(
            "{path} exists in the rootfs but is not a directory"
        ))
    }
}

/// Open (creating an empty one if missing) the file `target` inside the
/// root, as a mount point for a bind of a single file.
pub(crate) fn ensure_file(root: &OwnedFd, target: &str) -> Result<OwnedFd, Step> {
    match open_in_root(root, target, libc::O_PATH) {
        Ok(fd) => {
            if file_type(fstat(&fd)?.st_mode) == SFlag::S_IFDIR {
                return Err(Step::Refused(format!(
                    "{target} is a directory in the rootfs, and the source is not"
                )));
            }
            Ok(fd)
        }
        Err(Errno::ENOENT) => {
            let (parent, name) = parent_of(root, target)?;
            let fd = nix::fcntl::openat(
                &parent,
                name.as_c_str(),
                OFlag::O_CREAT | OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o644),
            )
            .map_err(|e| match e {
                Errno::ELOOP => Step::Refused(format!("{target} {DANGLING}")),
                e => Step::Errno(e),
            })?;
            Ok(fd)
        }
        Err(e) => Err(e.into()),
    }
}

/// `SetupOp::File`: write `content` to a new file on the container's own
/// /dev (a tmpfs of the plan's), bind it on `target` (made if missing, an
/// empty file) and unlink it from /dev: the bind keeps it alive, the
/// rootfs's own file is hidden and never written, and nothing is on the
/// host.
fn generated_file(root: &OwnedFd, target: &str, content: &str) -> Result<(), Step> {
    use std::io::Write;
    let at = file_target(root, target)?;
    let dev = open_in_root(root, "/dev", libc::O_PATH | libc::O_DIRECTORY)?;
    let name = c".nslaunch-file";
    let file = nix::fcntl::openat(
        &dev,
        name,
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o644),
    )?;
    let mut file = std::fs::File::from(file);
    let bound = file
        .write_all(content.as_bytes())
        .map_err(|e| Step::Errno(Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))))
        .and_then(|()| {
            let from: &OwnedFd = &file.into();
            bind_onto(&fd_path(from), &at).map_err(Step::Errno)
        });
    let unlinked = nix::unistd::unlinkat(&dev, name, nix::unistd::UnlinkatFlags::NoRemoveDir);
    bound?;
    unlinked?;
    Ok(())
}

/// The mount point of a generated file: `target`, or, where `target` is a
/// dangling symlink (/etc/resolv.conf to systemd-resolved's file, in many
/// images), what it points to, resolved inside the rootfs; created empty
/// if missing, as for a volume.
fn file_target(root: &OwnedFd, target: &str) -> Result<OwnedFd, Step> {
    if existing(root, target)?.is_none() {
        let (parent, name) = parent_of(root, target)?;
        if let Ok(link) = nix::fcntl::readlinkat(&parent, name.as_c_str()) {
            let dir = Path::new(target)
                .parent()
                .and_then(Path::to_str)
                .unwrap_or("/");
            let to = shared::netconf::link_target(dir, &link.to_string_lossy());
            return ensure_file(root, &to);
        }
    }
    ensure_file(root, target)
}

/// A name that resolved to nothing and yet exists: a symlink whose target
/// (resolved inside the rootfs) does not exist. It is never followed out.
const DANGLING: &str =
    "is a symlink to something missing in the rootfs (resolved inside the rootfs, never on the host)";
