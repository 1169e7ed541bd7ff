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
//! The one exception, [`bind_console`], runs after pivot_root, when the
//! command's terminal exists.
//!
//! Volumes are bound the way the rootfs is: a recursive clone of the
//! source (`open_tree`), or a tree nslaunch made and passed by fd
//! (`--tree`, idmapped), attached with `move_mount` onto the target's fd.

use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{fchmodat, fstat, FchmodatFlags, Mode, SFlag};
use nix::sys::statvfs::{fstatvfs, FsFlags};
use nix::unistd::{chdir, fchdir, pivot_root};
use shared::idmap;
use shared::plan::{self, Flags, RootOptions, SetupOp, Source};
use shared::spec::TreeFd;
use shared::sys;
use shared::volume::Volume;

use crate::error::Error;

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
        let fd = sys::take_inherited_fd(t.fd).map_err(|_| bad("not an open file descriptor"))?;
        taken.insert(t.fd, fd);
    }
    Ok(taken)
}

/// Build the container root from `rootfs` (a host path) with `volumes`,
/// and move into it. `trees` are the descriptors of `--tree`, by number.
pub fn build_root(
    rootfs: &str,
    volumes: &[Volume],
    trees: &[TreeFd],
    mut fds: HashMap<i32, OwnedFd>,
) -> Result<(), Error> {
    let gid_map = std::fs::read_to_string("/proc/self/gid_map").unwrap_or_default();
    let tty_gid = idmap::maps_inside(&idmap::parse_map(&gid_map), 5).then_some(5);
    let tree_for = |dst: &str| trees.iter().find(|t| t.dst == dst).map(|t| t.fd);
    let opts = RootOptions {
        tty_gid,
        rootfs_tree: tree_for("/"),
        volumes: volumes
            .iter()
            .map(|v| (v.clone(), tree_for(&v.dst)))
            .collect(),
    };
    let mut root: Option<OwnedFd> = None;
    for op in plan::container_root(&opts) {
        apply(&op, rootfs, &mut root, &mut fds).map_err(|e| match e {
            Step::Errno(errno) => Error::Sys {
                hint: hint_for(&op, errno),
                op: op.to_string(),
                errno,
            },
            Step::Refused(why) => Error::Usage(format!("{op}: {why}")),
        })?;
    }
    Ok(())
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
    mount(
        Some(fd_path(slave).as_str()),
        fd_path(&target).as_str(),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| Error::sys(WHAT, e))
}

/// Why a step failed: a syscall's errno, or a refusal of ours.
enum Step {
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
        (SetupOp::Volume { .. }, Errno::EACCES | Errno::EPERM) => {
            Some("can the invoking user reach the volume's source?")
        }
        _ => None,
    }
}

fn mount_flags(f: Flags) -> MsFlags {
    let mut m = MsFlags::empty();
    m.set(MsFlags::MS_NOSUID, f.nosuid);
    m.set(MsFlags::MS_NODEV, f.nodev);
    m.set(MsFlags::MS_NOEXEC, f.noexec);
    m
}

/// `/proc/self/fd/N`: a path the kernel resolves to exactly the file open
/// on `fd`, wherever it is.
fn fd_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

fn apply(
    op: &SetupOp,
    rootfs: &str,
    root: &mut Option<OwnedFd>,
    trees: &mut HashMap<i32, OwnedFd>,
) -> Result<(), Step> {
    match op {
        SetupOp::MakeRootPrivate => {
            mount(
                None::<&str>,
                "/",
                None::<&str>,
                MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                None::<&str>,
            )?;
        }
        SetupOp::BindRootfs { tree: Some(fd) } => {
            // A tree nslaunch made (idmapped): attached on top of "/",
            // which nsinit can always reach, unlike the rootfs's host path
            // (under --userns auto nsinit runs as an unprivileged host id).
            let tree = take(trees, *fd)?;
            sys::move_mount_to(tree.as_raw_fd(), c"/")?;
            *root = Some(tree);
        }
        SetupOp::BindRootfs { tree: None } => {
            let path = CString::new(rootfs)
                .map_err(|_| Step::Refused("the rootfs path contains a NUL byte".into()))?;
            // A recursive bind of the rootfs, attached on top of itself,
            // known by fd from the start: a path lookup would miss a mount
            // stacked on "/" (--rootfs /). Kernels before 5.2 lack
            // open_tree; there the classic bind-then-open does the same
            // for every rootfs but "/".
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
            *root = Some(fd);
        }
        SetupOp::Mount {
            fstype,
            target,
            flags,
            data,
        } => {
            let dir = ensure_dir(root_fd(root)?, target)?;
            let data = (!data.is_empty()).then_some(data.as_str());
            mount(
                Some(*fstype),
                fd_path(&dir).as_str(),
                Some(*fstype),
                mount_flags(*flags),
                data,
            )?;
        }
        SetupOp::BindDevice { host, target } => {
            let file = ensure_file(root_fd(root)?, target)?;
            mount(
                Some(host.as_str()),
                fd_path(&file).as_str(),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )?;
        }
        SetupOp::Mkdir { target, mode } => {
            let (parent, name) = parent_of(root_fd(root)?, target)?;
            match nix::sys::stat::mkdirat(&parent, name.as_c_str(), Mode::from_bits_truncate(*mode))
            {
                Ok(()) => {}
                Err(Errno::EEXIST) => return Err(Step::Refused("already exists".into())),
                Err(e) => return Err(e.into()),
            }
            // mkdir applies the umask; the plan's mode is exact.
            fchmodat(
                &parent,
                name.as_c_str(),
                Mode::from_bits_truncate(*mode),
                FchmodatFlags::NoFollowSymlink,
            )
            .or_else(|e| match e {
                // Older kernels refuse AT_SYMLINK_NOFOLLOW; the name is a
                // directory we just made, so following is the same.
                Errno::EOPNOTSUPP => fchmodat(
                    &parent,
                    name.as_c_str(),
                    Mode::from_bits_truncate(*mode),
                    FchmodatFlags::FollowSymlink,
                ),
                e => Err(e),
            })?;
        }
        SetupOp::Symlink { points_to, target } => {
            let (parent, name) = parent_of(root_fd(root)?, target)?;
            nix::unistd::symlinkat(points_to.as_str(), &parent, name.as_c_str())?;
        }
        SetupOp::Volume {
            source,
            target,
            read_only,
        } => {
            let tree = match source {
                Source::Path(p) => {
                    let p = CString::new(p.as_str())
                        .map_err(|_| Step::Refused("the source contains a NUL byte".into()))?;
                    sys::open_tree_clone(&p)?
                }
                Source::Tree { fd, .. } => take(trees, *fd)?,
            };
            let is_dir = file_type(fstat(&tree)?.st_mode) == SFlag::S_IFDIR;
            let root = root_fd(root)?;
            let at = if is_dir {
                ensure_dir(root, target)?
            } else {
                ensure_file(root, target)?
            };
            sys::move_mount_onto_fd(tree.as_raw_fd(), at.as_raw_fd())?;
            if *read_only {
                make_read_only(&tree)?;
            }
        }
        SetupOp::PivotRoot => {
            fchdir(root_fd(root)?)?;
            // pivot_root(".", "."): the old root ends up mounted on top of
            // the new one, where a lazy unmount detaches it. No directory
            // for the old root is ever made in the rootfs.
            pivot_root(".", ".")?;
            umount2(".", MntFlags::MNT_DETACH)?;
            chdir("/")?;
            *root = None;
        }
    }
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

fn open_in_root(root: &OwnedFd, target: &str, flags: libc::c_int) -> Result<OwnedFd, Errno> {
    let rel = relative(target).map_err(|_| Errno::EINVAL)?;
    sys::openat2(root.as_raw_fd(), &rel, flags, 0, RESOLVE)
}

/// The parent directory of `target` (resolved inside the root, created if
/// missing) and the last component's name.
fn parent_of(root: &OwnedFd, target: &str) -> Result<(OwnedFd, CString), Step> {
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
fn ensure_dir(root: &OwnedFd, target: &str) -> Result<OwnedFd, Step> {
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
fn file_type(mode: libc::mode_t) -> SFlag {
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
fn ensure_file(root: &OwnedFd, target: &str) -> Result<OwnedFd, Step> {
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

/// A name that resolved to nothing and yet exists: a symlink whose target
/// (resolved inside the rootfs) does not exist. It is never followed out.
const DANGLING: &str =
    "is a symlink to something missing in the rootfs (resolved inside the rootfs, never on the host)";
