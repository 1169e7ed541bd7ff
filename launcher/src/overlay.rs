//! `--overlay` and `--overlay-dir DIR`, checked and prepared on the host:
//! DIR is made if missing, with `DIR/upper` (the changes) and `DIR/work`
//! (overlayfs's scratch space, on the same filesystem as it requires);
//! DIR may not be inside the rootfs, nor hold it; and one container at a
//! time may use it (a lock held while the container runs: overlayfs
//! gives undefined results to two mounts sharing an upper layer).

use std::fs::File;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use crate::error::{io_why, Error};

/// A checked `--overlay-dir`: its absolute path, locked.
pub struct OverlayDir {
    pub path: String,
    _lock: Flock<File>,
}

/// Make `given` ready as the persistent upper layer of an overlay of
/// `rootfs` (an absolute, symlink-free path).
pub fn prepare_dir(given: &str, rootfs: &str) -> Result<OverlayDir, Error> {
    let bad = |why: String| Error::Usage(format!("--overlay-dir {given}: {why}"));
    // Where it is (or would be), checked before anything is made.
    let abs = match std::fs::canonicalize(given) {
        Ok(abs) => abs,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let p = Path::new(given);
            let parent = match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            let name = p.file_name().ok_or_else(|| bad("has no name".into()))?;
            std::fs::canonicalize(parent)
                .map_err(|e| bad(format!("{}: {}", parent.display(), io_why(&e))))?
                .join(name)
        }
        Err(e) => return Err(bad(io_why(&e))),
    };
    let root = Path::new(rootfs);
    if abs.starts_with(root) {
        return Err(bad(format!(
            "is inside the rootfs {rootfs}: the container would see its own changes"
        )));
    }
    if root.starts_with(&abs) {
        return Err(bad(format!("holds the rootfs {rootfs}")));
    }
    match std::fs::DirBuilder::new().mode(0o700).create(&abs) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(bad(io_why(&e))),
    }
    if !abs.is_dir() {
        return Err(bad("not a directory".into()));
    }
    let path = abs
        .into_os_string()
        .into_string()
        .map_err(|_| bad("the path is not valid UTF-8".into()))?;
    let lock = File::open(&path)
        .map_err(|e| bad(io_why(&e)))
        .and_then(|f| {
            Flock::lock(f, FlockArg::LockExclusiveNonblock)
                .map_err(|_| bad("in use by another container".into()))
        })?;
    // The upper directory is the overlay's root: it gets the rootfs's mode.
    let root_mode = std::fs::metadata(rootfs)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o755);
    for (name, mode) in [("upper", root_mode), ("work", 0o700)] {
        let sub = Path::new(&path).join(name);
        match std::fs::symlink_metadata(&sub) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(bad(format!("{name} is there but is not a directory"))),
            Err(_) => {
                std::fs::DirBuilder::new()
                    .mode(mode)
                    .create(&sub)
                    .map_err(|e| bad(format!("create {name}: {}", io_why(&e))))?;
                std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(mode))
                    .map_err(|e| bad(format!("chmod {name}: {}", io_why(&e))))?;
            }
        }
    }
    Ok(OverlayDir { path, _lock: lock })
}
