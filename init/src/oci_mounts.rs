//! The executor's steps for an OCI bundle's root (`shared::plan::oci_root`):
//! its mounts in its order, its device nodes, and the read-only root.
//! Every target is resolved inside the rootfs as in `setup.rs`, and every
//! mount goes through the target's fd.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{fstat, Mode, SFlag};
use shared::mountspec::{DeviceSpec, MountSpec, Propagation};
use shared::sys;

use crate::setup::{ensure_dir, ensure_file, fd_path, file_type, parent_of, Step};

/// The `MOUNT_ATTR_*` flags a bind mount takes from its `MS_*` options
/// (the others are a new superblock's and mean nothing to a bind).
fn bind_attrs(flags: u64) -> u64 {
    [
        (libc::MS_RDONLY, libc::MOUNT_ATTR_RDONLY),
        (libc::MS_NOSUID, libc::MOUNT_ATTR_NOSUID),
        (libc::MS_NODEV, libc::MOUNT_ATTR_NODEV),
        (libc::MS_NOEXEC, libc::MOUNT_ATTR_NOEXEC),
        (libc::MS_NOATIME, libc::MOUNT_ATTR_NOATIME),
        (libc::MS_STRICTATIME, libc::MOUNT_ATTR_STRICTATIME),
        (libc::MS_NODIRATIME, libc::MOUNT_ATTR_NODIRATIME),
        (libc::MS_NOSYMFOLLOW, libc::MOUNT_ATTR_NOSYMFOLLOW),
    ]
    .iter()
    .filter(|(ms, _)| flags & ms != 0)
    .fold(0, |acc, (_, attr)| acc | attr)
}

/// One mount of the bundle.
pub fn mount_one(root: &OwnedFd, m: &MountSpec) -> Result<(), Step> {
    match m.fstype.as_str() {
        "bind" => bind(root, m),
        // Where the kernel refuses, the plan has the host's /sys bound
        // instead (`shared::plan::sysfs`).
        "sysfs" => {
            let dir = ensure_dir(root, &m.target)?;
            let flags = MsFlags::from_bits_truncate(m.flags);
            mount(
                Some("sysfs"),
                fd_path(&dir).as_str(),
                Some("sysfs"),
                flags,
                None::<&str>,
            )?;
            Ok(())
        }
        "cgroup" | "cgroup2" => cgroup(root, m),
        _ => new_filesystem(root, m),
    }
}

/// A bind of a host path: a clone of its mount tree (of its mount alone
/// without `rbind`), attached on the target, then given the flags asked.
fn bind(root: &OwnedFd, m: &MountSpec) -> Result<(), Step> {
    let source = nix::fcntl::open(
        m.source.as_str(),
        OFlag::O_PATH | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Step::Refused(format!("the source {}: {}", m.source, e.desc())))?;
    let tree = sys::raw_open_tree_fd(source.as_raw_fd(), m.recursive)?;
    let at = if file_type(fstat(&tree)?.st_mode) == SFlag::S_IFDIR {
        ensure_dir(root, &m.target)?
    } else {
        ensure_file(root, &m.target)?
    };
    let attrs = bind_attrs(m.flags);
    if attrs != 0 {
        match sys::mount_setattr(tree.as_raw_fd(), m.recursive, attrs, 0, None) {
            Ok(()) => {}
            // Before Linux 5.12: a bind remount of the top mount.
            Err(Errno::ENOSYS) => {
                sys::move_mount_onto_fd(tree.as_raw_fd(), at.as_raw_fd())?;
                return remount_bind(&tree, m.flags);
            }
            Err(e) => return Err(e.into()),
        }
    }
    sys::move_mount_onto_fd(tree.as_raw_fd(), at.as_raw_fd())?;
    Ok(())
}

fn remount_bind(at: &OwnedFd, flags: u64) -> Result<(), Step> {
    let keep = MsFlags::from_bits_truncate(
        flags
            & (libc::MS_RDONLY
                | libc::MS_NOSUID
                | libc::MS_NODEV
                | libc::MS_NOEXEC
                | libc::MS_NOATIME
                | libc::MS_NODIRATIME
                | libc::MS_RELATIME
                | libc::MS_STRICTATIME),
    );
    mount(
        None::<&str>,
        fd_path(at).as_str(),
        None::<&str>,
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | keep,
        None::<&str>,
    )?;
    Ok(())
}

/// A new filesystem of the mount's type on the target directory; with
/// `tmpcopyup`, what the directory held is copied into it.
fn new_filesystem(root: &OwnedFd, m: &MountSpec) -> Result<(), Step> {
    let dir = ensure_dir(root, &m.target)?;
    // The directory underneath, before it is covered.
    let under = if m.copy_up {
        Some(nix::fcntl::openat(
            &dir,
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?)
    } else {
        None
    };
    let data = (!m.data.is_empty()).then_some(m.data.as_str());
    match mount(
        Some(m.source.as_str()),
        fd_path(&dir).as_str(),
        Some(m.fstype.as_str()),
        MsFlags::from_bits_truncate(m.flags),
        data,
    ) {
        Ok(()) => {}
        // A proc belongs to the PID namespace it shows: in the host's
        // (a bundle without a PID namespace of its own), a user namespace
        // may not mount one. The host's /proc shows the very same
        // processes: bind it (the masks and read-only paths still apply).
        Err(Errno::EPERM) if m.fstype == "proc" && sys::raw_getpid() != 1 => {
            let tree = sys::open_tree_clone(c"/proc")?;
            let attrs = bind_attrs(m.flags) | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV;
            sys::mount_setattr(tree.as_raw_fd(), true, attrs, 0, None)?;
            sys::move_mount_onto_fd(tree.as_raw_fd(), dir.as_raw_fd())?;
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    }
    if let Some(under) = under {
        let top = nix::fcntl::openat(
            &dir,
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        // The mount went on top of `dir`'s path; `dir` itself still names
        // the directory underneath. Open the new top through its path.
        let top = reopen_top(root, &m.target).unwrap_or(top);
        copy_tree(&under, &top, 0)?;
    }
    Ok(())
}

/// The directory at `target` as it is now (the mount just made on it).
fn reopen_top(root: &OwnedFd, target: &str) -> Option<OwnedFd> {
    let dir = ensure_dir(root, target).ok()?;
    nix::fcntl::openat(
        &dir,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ok()
}

/// Copy what the directory `from` holds into `to` (files, directories,
/// symlinks; their modes and, where allowed, owners), for `tmpcopyup`.
fn copy_tree(from: &OwnedFd, to: &OwnedFd, depth: usize) -> Result<(), Step> {
    if depth > 64 {
        return Err(Step::Refused(
            "tmpcopyup: directories nested too deep".into(),
        ));
    }
    // The host's /proc names the open directory (we are before pivot_root).
    let entries = std::fs::read_dir(fd_path(from))
        .map_err(|e| Step::Errno(Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))))?;
    for entry in entries {
        let entry = entry
            .map_err(|e| Step::Errno(Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))))?;
        let name = CString::new(entry.file_name().as_encoded_bytes())
            .map_err(|_| Step::Refused("a name with a NUL byte".into()))?;
        let name = name.as_c_str();
        let st = nix::sys::stat::fstatat(from, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
        let mode = Mode::from_bits_truncate(st.st_mode & 0o7777);
        match file_type(st.st_mode) {
            SFlag::S_IFDIR => {
                nix::sys::stat::mkdirat(to, name, mode)?;
                let open = |at: &OwnedFd| {
                    nix::fcntl::openat(
                        at,
                        name,
                        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                        Mode::empty(),
                    )
                };
                copy_tree(&open(from)?, &open(to)?, depth + 1)?;
            }
            SFlag::S_IFREG => {
                let src = nix::fcntl::openat(
                    from,
                    name,
                    OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )?;
                let dst = nix::fcntl::openat(
                    to,
                    name,
                    OFlag::O_WRONLY
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    mode,
                )?;
                let (mut src, mut dst) = (std::fs::File::from(src), std::fs::File::from(dst));
                std::io::copy(&mut src, &mut dst).map_err(|e| {
                    Step::Errno(Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
                })?;
            }
            SFlag::S_IFLNK => {
                let target = nix::fcntl::readlinkat(from, name)?;
                nix::unistd::symlinkat(target.as_os_str(), to, name)?;
            }
            // Device nodes, FIFOs and sockets are not copied.
            _ => continue,
        }
        let _ = nix::unistd::fchownat(
            to,
            name,
            Some(nix::unistd::Uid::from_raw(st.st_uid)),
            Some(nix::unistd::Gid::from_raw(st.st_gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        );
    }
    Ok(())
}

/// A cgroup filesystem: a new cgroup2 where the host's hierarchy is the
/// unified one and the kernel lets us; else (a v1 or hybrid host, or a
/// user namespace without a cgroup namespace of its own) a recursive
/// bind of the host's /sys/fs/cgroup with the mount's flags.
fn cgroup(root: &OwnedFd, m: &MountSpec) -> Result<(), Step> {
    let dir = ensure_dir(root, &m.target)?;
    let unified = nix::sys::statfs::statfs("/sys/fs/cgroup")
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC);
    if unified {
        match mount(
            Some("cgroup2"),
            fd_path(&dir).as_str(),
            Some("cgroup2"),
            MsFlags::from_bits_truncate(m.flags),
            None::<&str>,
        ) {
            Ok(()) => return Ok(()),
            Err(Errno::EPERM | Errno::EBUSY) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let tree = sys::open_tree_clone(c"/sys/fs/cgroup")?;
    let attrs = bind_attrs(m.flags)
        | libc::MOUNT_ATTR_NOSUID
        | libc::MOUNT_ATTR_NODEV
        | libc::MOUNT_ATTR_NOEXEC;
    sys::mount_setattr(tree.as_raw_fd(), true, attrs, 0, None)?;
    sys::move_mount_onto_fd(tree.as_raw_fd(), dir.as_raw_fd())?;
    Ok(())
}

/// The propagation a mount's options ask for, on the mount just made at
/// `target`.
pub fn propagate(
    root: &OwnedFd,
    target: &str,
    p: Propagation,
    recursive: bool,
) -> Result<(), Step> {
    let at = crate::setup::existing(root, target)?
        .ok_or_else(|| Step::Refused("vanished after it was mounted".into()))?;
    let mut flags = MsFlags::from_bits_truncate(p.ms_flag());
    if recursive {
        flags |= MsFlags::MS_REC;
    }
    mount(
        None::<&str>,
        fd_path(&at).as_str(),
        None::<&str>,
        flags,
        None::<&str>,
    )?;
    Ok(())
}

/// A device node: the host's own bound in when it has one of this type
/// and number at the same path (what a user namespace can do); else made
/// with mknod, which only real root without a user namespace may.
pub fn device(root: &OwnedFd, d: &DeviceSpec) -> Result<(), Step> {
    let kind = match d.kind {
        'b' => SFlag::S_IFBLK,
        'p' => SFlag::S_IFIFO,
        _ => SFlag::S_IFCHR,
    };
    let rdev = nix::sys::stat::makedev(d.major, d.minor);
    let host_matches = nix::sys::stat::stat(d.path.as_str()).is_ok_and(|st| {
        file_type(st.st_mode) == kind && (kind == SFlag::S_IFIFO || st.st_rdev == rdev)
    });
    if host_matches && kind != SFlag::S_IFIFO {
        let file = ensure_file(root, &d.path)?;
        mount(
            Some(d.path.as_str()),
            fd_path(&file).as_str(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )?;
        return Ok(());
    }
    let (parent, name) = parent_of(root, &d.path)?;
    let _ = nix::unistd::unlinkat(
        &parent,
        name.as_c_str(),
        nix::unistd::UnlinkatFlags::NoRemoveDir,
    );
    let mode = Mode::from_bits_truncate(d.mode.unwrap_or(0o666));
    nix::sys::stat::mknodat(&parent, name.as_c_str(), kind, mode, rdev).map_err(|e| match e {
        Errno::EPERM => Step::Refused(format!(
            "the host has no such node at {} to bind, and mknod is refused here (a user namespace)",
            d.path
        )),
        e => Step::Errno(e),
    })?;
    set_owner(&parent, &name, d)?;
    Ok(())
}

fn set_owner(parent: &OwnedFd, name: &CString, d: &DeviceSpec) -> Result<(), Step> {
    if d.uid.is_none() && d.gid.is_none() {
        return Ok(());
    }
    nix::unistd::fchownat(
        parent,
        name.as_c_str(),
        d.uid.map(nix::unistd::Uid::from_raw),
        d.gid.map(nix::unistd::Gid::from_raw),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )?;
    Ok(())
}

/// `root.readonly`: the rootfs's own mount read-only (not the mounts on
/// it, which keep their own flags).
pub fn remount_root_read_only(root: &OwnedFd) -> Result<(), Step> {
    match sys::mount_setattr(root.as_raw_fd(), false, libc::MOUNT_ATTR_RDONLY, 0, None) {
        Err(Errno::ENOSYS) => remount_bind(root, libc::MS_RDONLY),
        other => other.map_err(Step::from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_flags_become_mount_attributes() {
        assert_eq!(
            bind_attrs(libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_SYNCHRONOUS),
            libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID
        );
        assert_eq!(bind_attrs(0), 0);
    }
}
