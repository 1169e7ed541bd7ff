//! `--userns auto` (real root's default): the rootfs and every volume
//! become idmapped mounts, so that their files keep, inside the container,
//! the owners they have on disk (root's files are container root's), and
//! what the container writes there lands with those same ids on disk,
//! while the container's processes run as an unprivileged host block.
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

/// Idmapped detached trees for the rootfs ("/") and each volume (its DST),
/// and for `--overlay-dir` (as [`OVERLAY_DIR`]), close-on-exec (the cloned
/// child passes them on to nsinit on purpose).
pub fn trees(
    plan: &Plan,
    rootfs: &str,
    volumes: &[Volume],
    overlay_dir: Option<&str>,
) -> Result<Vec<(String, OwnedFd)>, Error> {
    let userns = userns::mapped_userns(plan)?;
    let mut out = Vec::new();
    let sources = std::iter::once(("/", rootfs, "--rootfs"))
        .chain(
            volumes
                .iter()
                .map(|v| (v.dst.as_str(), v.src.as_str(), "-v")),
        )
        .chain(overlay_dir.map(|d| (OVERLAY_DIR, d, "--overlay-dir")));
    for (dst, src, flag) in sources {
        let fail = |what: &str, errno: Errno| Error::Sys {
            op: format!("{flag} {src}: {what} for --userns auto"),
            errno,
            hint: Some(
                "idmapped mounts need Linux 5.12+ and a filesystem that supports them \
                 (ext4, xfs, btrfs, tmpfs 6.3+, overlayfs 5.19+ ...); otherwise use \
                 --userns root, subids or host",
            ),
        };
        let path = CString::new(src)
            .map_err(|_| Error::Usage(format!("{flag} {src}: contains a NUL byte")))?;
        let tree = sys::open_tree_clone(&path).map_err(|e| fail("clone the mount", e))?;
        // A clone of a shared mount is its peer: made private, nothing
        // mounted on it inside propagates back to the host.
        sys::make_tree_private(tree.as_fd()).map_err(|e| fail("make the mount private", e))?;
        // The top mount only: mounts below it may be of filesystems that
        // cannot be idmapped (/proc under --rootfs /); they keep the ids
        // they have (unmapped ones show as nobody).
        sys::mount_setattr(tree.as_raw_fd(), false, 0, 0, Some(userns.as_raw_fd()))
            .map_err(|e| fail("make an idmapped mount", e))?;
        out.push((dst.to_string(), tree));
    }
    Ok(out)
}

/// The key of the `--overlay-dir` tree among [`trees`] (not a path: it
/// goes to nsinit as `--overlay-dir-fd`, not `--tree`).
pub const OVERLAY_DIR: &str = "overlay-dir";
