//! The detached mount trees nslaunch, as real root, makes for nsinit:
//!
//! - under `--userns auto` (real root's default), the rootfs and
//!   `--overlay-dir` become idmapped mounts, so that their files keep,
//!   inside the container, the owners they have on disk (an image unpacked
//!   by root is container root's) while the container's processes run as
//!   an unprivileged host block;
//! - a volume given `:idmap` becomes one too, in any mode with a user
//!   namespace;
//! - every other volume under `auto` is a plain clone of SRC: container
//!   root is then the block's first id on it, as under docker's
//!   userns-remap (host files of other users are not its own, and what it
//!   creates belongs to the block). nslaunch clones it because nsinit, an
//!   unprivileged host id, may not even be allowed to reach SRC (a path
//!   under /root).
//!
//! Making an idmapped mount needs CAP_SYS_ADMIN in the initial user
//! namespace, which nsinit (inside the container's) never has; so nslaunch
//! makes them here, as detached trees (`open_tree` + `mount_setattr`
//! with `MOUNT_ATTR_IDMAP`), before the container exists, and nsinit
//! attaches them (`--tree DST=FD`). Every tree is made private first, so
//! that nothing mounted on it inside propagates back to the host. Nothing
//! is attached on the host: a detached tree vanishes with its last
//! descriptor.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::errno::Errno;
use shared::sys;
use shared::volume::Volume;

use crate::error::Error;
use crate::userns::{self, Plan};

/// What nslaunch makes of one source for nsinit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tree {
    /// Nothing: nsinit binds the host path itself.
    None,
    /// A plain (private) clone of the source.
    Plain,
    /// An idmapped clone, through the container's maps.
    Idmapped,
}

/// The tree of the rootfs (and of `--overlay-dir`), for a run with the
/// user namespace plan `auto` says (`Plan::idmapped`).
pub fn rootfs_tree(auto: bool) -> Tree {
    if auto {
        Tree::Idmapped
    } else {
        Tree::None
    }
}

/// The tree of a volume: idmapped when asked (`:idmap`), else a plain
/// clone under `auto`, else none.
pub fn volume_tree(auto: bool, volume: &Volume) -> Tree {
    match (volume.idmap, auto) {
        (true, _) => Tree::Idmapped,
        (false, true) => Tree::Plain,
        (false, false) => Tree::None,
    }
}

/// The detached trees for the rootfs ("/"), each volume (its DST) and
/// `--overlay-dir` (as [`OVERLAY_DIR`]) that need one, close-on-exec (the
/// cloned child passes them on to nsinit on purpose).
pub fn trees(
    plan: &Plan,
    rootfs: &str,
    volumes: &[Volume],
    overlay_dir: Option<&str>,
) -> Result<Vec<(String, OwnedFd)>, Error> {
    let root = rootfs_tree(plan.idmapped);
    let sources: Vec<(&str, &str, &str, Tree)> = std::iter::once(("/", rootfs, "--rootfs", root))
        .chain(volumes.iter().map(|v| {
            (
                v.dst.as_str(),
                v.src.as_str(),
                "-v",
                volume_tree(plan.idmapped, v),
            )
        }))
        .chain(overlay_dir.map(|d| (OVERLAY_DIR, d, "--overlay-dir", root)))
        .filter(|s| s.3 != Tree::None)
        .collect();
    let userns = match sources.iter().any(|s| s.3 == Tree::Idmapped) {
        true => Some(userns::mapped_userns(plan)?),
        false => None,
    };
    let mut out = Vec::new();
    for (dst, src, flag, kind) in sources {
        let fail = |what: &str, errno: Errno, hint: Option<&'static str>| Error::Sys {
            op: format!("{flag} {src}: {what}"),
            errno,
            hint,
        };
        let path = CString::new(src)
            .map_err(|_| Error::Usage(format!("{flag} {src}: contains a NUL byte")))?;
        let tree = sys::open_tree_clone(&path).map_err(|e| fail("clone the mount", e, None))?;
        sys::make_tree_private(tree.as_fd())
            .map_err(|e| fail("make the mount private", e, None))?;
        if let (Tree::Idmapped, Some(ns)) = (kind, &userns) {
            let hint = if flag == "-v" {
                IDMAP_HINT_VOLUME
            } else {
                IDMAP_HINT_ROOTFS
            };
            // The top mount only: mounts below it may be of filesystems
            // that cannot be idmapped (/proc under --rootfs /); they keep
            // the ids they have (unmapped ones show as nobody).
            sys::mount_setattr(tree.as_raw_fd(), false, 0, 0, Some(ns.as_raw_fd()))
                .map_err(|e| fail("make an idmapped mount", e, Some(hint)))?;
        }
        out.push((dst.to_string(), tree));
    }
    Ok(out)
}

/// Why an idmapped mount may fail, and what to do instead: for the rootfs
/// (and `--overlay-dir`) under `auto`, and for a volume's `:idmap`.
const IDMAP_HINT_ROOTFS: &str = "idmapped mounts need Linux 5.12+ and a filesystem that \
     supports them (ext4, xfs, btrfs, tmpfs 6.3+, overlayfs 5.19+ ...); otherwise use \
     --userns root, subids or host";
const IDMAP_HINT_VOLUME: &str = "idmapped mounts need Linux 5.12+ and a filesystem that \
     supports them (ext4, xfs, btrfs, tmpfs 6.3+, overlayfs 5.19+ ...); otherwise drop :idmap";

/// The key of the `--overlay-dir` tree among [`trees`] (not a path: it
/// goes to nsinit as `--overlay-dir-fd`, not `--tree`).
pub const OVERLAY_DIR: &str = "overlay-dir";

#[cfg(test)]
mod tests {
    use super::*;

    fn vol(idmap: bool) -> Volume {
        Volume {
            src: "/s".into(),
            dst: "/d".into(),
            read_only: false,
            idmap,
        }
    }

    #[test]
    fn under_auto_the_rootfs_is_idmapped_and_volumes_only_when_asked() {
        assert_eq!(rootfs_tree(true), Tree::Idmapped);
        assert_eq!(volume_tree(true, &vol(false)), Tree::Plain);
        assert_eq!(volume_tree(true, &vol(true)), Tree::Idmapped);
    }

    #[test]
    fn other_modes_bind_paths_but_idmap_what_asks() {
        assert_eq!(rootfs_tree(false), Tree::None);
        assert_eq!(volume_tree(false, &vol(false)), Tree::None);
        assert_eq!(volume_tree(false, &vol(true)), Tree::Idmapped);
    }
}
