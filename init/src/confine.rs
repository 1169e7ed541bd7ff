//! What keeps the command from undoing its container, beyond the mounts
//! of `setup.rs` and the capabilities of `identity.rs`:
//!
//! - **nsinit itself** (under nslaunch, with `--rootfs`): it is not
//!   dumpable, so /proc/1/fd, /proc/1/cwd, /proc/1/root, /proc/1/exe and
//!   /proc/1/mem are closed to every process without CAP_SYS_PTRACE over
//!   it; and once the command is forked, it keeps only CAP_KILL (to stop
//!   every process in the container), so even a command given SYS_PTRACE
//!   gains nothing by attaching to it.
//! - **descriptors** (`--preserve-fds N`): nothing above 2 reaches the
//!   command but 3..3+N-1, and nsinit keeps none of those.
//! - **a command with CAP_SYS_ADMIN** (`--cap-add SYS_ADMIN`) runs in a
//!   user and mount namespace nested in the container's, whose maps are
//!   the identity of the container's ids. The kernel copies every mount
//!   into it locked (MNT_LOCKED, MNT_LOCK_READONLY and the other flags):
//!   container root may mount there, but cannot unmount a mask to reveal
//!   what it hides, nor make a read-only mount writable.
//!
//! The gate between nsinit and the command's child: the child (after
//! unsharing, when nested) says it is ready on one pipe and waits on
//! another; nsinit writes the nested maps, drops its own capabilities,
//! then lets it go. So the command never runs while nsinit holds more.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use shared::caps::{self, CapSet};
use shared::idmap;
use shared::spec::InitArgs;
use shared::sys::{self, CapState};

use crate::error::Error;

/// `--preserve-fds N`: descriptors 3 to 3+N-1 must be the caller's, open
/// before nsinit opens any of its own; nsinit closes its copies once the
/// command is forked, so a number that was free would close one of ours
/// (the signalfd, a pipe to the command). Call first.
pub fn check_preserved_fds(args: &InitArgs) -> Result<(), Error> {
    let Some(n) = args.preserve_fds else {
        return Ok(());
    };
    let first_own = 3 + i64::from(n);
    let named = args
        .report_fd
        .iter()
        .chain(args.job_control_fd.iter())
        .chain(args.tree.iter().map(|t| &t.fd))
        .chain(args.overlay_dir_fd.iter())
        .chain(args.console_socket.iter())
        .chain(args.sync_fd.iter())
        .chain(args.start_fifo_fd.iter())
        .chain(args.seccomp_fd.iter())
        .chain(args.init_fd.iter());
    for fd in named {
        if i64::from(*fd) < first_own {
            return Err(Error::Usage(format!(
                "--preserve-fds {n}: descriptor {fd} is one of nsinit's own (--report-fd, \
                 --job-control-fd, --tree, --overlay-dir-fd, --console-socket, --sync-fd, \
                 --start-fifo-fd, --seccomp-fd or --init-fd)"
            )));
        }
    }
    shared::cli::check_preserved_fds(n, sys::raw_fd_is_open).map_err(Error::Usage)
}

/// Under nslaunch (`--rootfs`, only as PID 1): make nsinit undumpable;
/// and close every inherited descriptor above 2 to the command but the
/// `--preserve-fds` ones. Runs before any setup, after
/// [`check_preserved_fds`].
pub fn seal_self(args: &InitArgs) -> Result<(), Error> {
    if let Some(rootfs) = &args.rootfs {
        // Outside a container of its own, pivot_root would move every
        // process of this mount namespace (the host's) into DIR.
        if sys::raw_getpid() != 1 && !(args.oci && own_mount_namespace()) {
            return Err(Error::Usage(format!(
                "--rootfs {rootfs}: nsinit builds a container root only as PID 1 of new PID \
                 and mount namespaces (as nslaunch runs it); here it would change this \
                 mount namespace"
            )));
        }
        nix::sys::prctl::set_dumpable(false).map_err(|e| Error::sys("PR_SET_DUMPABLE", e))?;
    }
    let Some(n) = args.preserve_fds else {
        return Ok(());
    };
    // Checked by check_preserved_fds: 3..3+N-1 are the caller's, open.
    if let Ok(first) = u32::try_from(3 + i64::from(n)) {
        sys::raw_cloexec_from(first)
            .map_err(|e| Error::sys("mark descriptors close-on-exec", e))?;
    }
    Ok(())
}

/// Rewrite our command line, as /proc/self/cmdline (and so `ps`) shows
/// it, to `nsinit -- CMD ARGS...`: nslaunch's options (descriptor numbers,
/// the capability list, the rootfs's host path) are none of the
/// container's business. The kernel reads the command line from our own
/// memory, the area between `arg_start` and `arg_end` (fields 48 and 49 of
/// /proc/self/stat). Zeroing what the new text leaves of that area would
/// still show its length, as empty arguments (and when nslaunch runs this
/// code in its own child, with no exec, the area is nslaunch's whole
/// command line, `-e` values included). So the text is written the way
/// setproctitle(3) does it: one string, the words joined by spaces, ended
/// by a NUL, with the area's last byte non-zero, which tells the kernel to
/// show the area only up to that first NUL (`get_mm_proctitle` in
/// fs/proc/base.c). A text longer than the area is cut. Done once argv is
/// parsed (nothing reads it again) and before anything of the container
/// runs. Best effort: where /proc cannot tell the area, the command line
/// stays as it was.
pub fn show_only_the_command(command: &[std::ffi::OsString]) {
    use std::os::unix::ffi::OsStrExt;
    let Some((start, end)) = sys::own_stat_area(48) else {
        return;
    };
    let len = end - start;
    if len < 2 {
        return;
    }
    let mut text = b"nsinit --".to_vec();
    for word in command {
        text.push(b' ');
        text.extend_from_slice(word.as_bytes());
    }
    // Room for the ending NUL and the last byte.
    text.truncate(len - 2);
    text.resize(len, 0);
    text[len - 1] = b' ';
    // SAFETY: [start, end) is the block of our argv strings, which the
    // kernel laid out on our stack, mapped writable and ours alone; no
    // Rust reference points into it (std copies what it reads from argv,
    // and we parsed ours already), and we write exactly `len` bytes.
    unsafe { std::ptr::copy_nonoverlapping(text.as_ptr(), start as *mut u8, len) };
}

/// Whether our mount namespace is not our parent's (an OCI bundle
/// without a PID namespace of its own runs us as some other pid; the
/// launcher, our parent, made a mount namespace for us all the same).
/// Not PID 1's: reading a more privileged process's namespace links needs
/// ptrace rights over it. When even our parent's cannot be read, we are
/// in a user namespace below its (the kernel's ptrace check wants the
/// same user namespace): then a mount namespace we share with it belongs
/// to its user namespace, where we hold no capability, and the kernel
/// itself refuses every mount and pivot_root in it.
fn own_mount_namespace() -> bool {
    let parent = nix::unistd::getppid().as_raw();
    if parent <= 0 {
        return false;
    }
    match (
        std::fs::read_link("/proc/self/ns/mnt"),
        std::fs::read_link(format!("/proc/{parent}/ns/mnt")),
    ) {
        (Ok(ours), Ok(theirs)) => ours != theirs,
        (Ok(_), Err(e)) => e.kind() == std::io::ErrorKind::PermissionDenied,
        _ => false,
    }
}

/// Once the command is forked, before it may run: nsinit's copies of the
/// preserved descriptors go (the command has its own).
fn close_preserved(n: u32) {
    for fd in 3..3 + n.min(i32::MAX as u32 - 3) as i32 {
        // SAFETY: seal_self refused every option of ours that names a
        // descriptor below 3+N, so nothing of ours owns one of these.
        unsafe { sys::raw_close(fd) };
    }
}

/// Whether the command runs in a nested user namespace: it keeps
/// CAP_SYS_ADMIN.
pub fn nests(args: &InitArgs) -> bool {
    args.caps.is_some_and(|c| c.contains(caps::SYS_ADMIN))
}

/// The two pipes between nsinit and the command's child, and what nsinit
/// does while the child waits.
pub struct Gate {
    ready_r: OwnedFd,
    ready_w: OwnedFd,
    go_r: OwnedFd,
    go_w: OwnedFd,
    /// The nested user namespace's uid_map and gid_map, when nested.
    nested_maps: Option<(String, String)>,
    /// What nsinit keeps once the command is forked (under nslaunch).
    keep_own: Option<CapSet>,
    /// `--preserve-fds N`: nsinit's copies of 3..3+N-1, closed before the
    /// command may run (it has its own copies from the fork).
    preserved: u32,
}

impl Gate {
    /// Prepare before `fork` (reads our own maps; allocates).
    pub fn prepare(args: &InitArgs) -> Result<Gate, Error> {
        let pipe = || {
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(|e| Error::sys("create a pipe", e))
        };
        let (ready_r, ready_w) = pipe()?;
        let (go_r, go_w) = pipe()?;
        let nested_maps = if nests(args) {
            Some((identity_map("uid_map")?, identity_map("gid_map")?))
        } else {
            None
        };
        let keep_own = args
            .rootfs
            .is_some()
            .then(|| CapSet::EMPTY.with(caps::KILL));
        Ok(Gate {
            ready_r,
            ready_w,
            go_r,
            go_w,
            nested_maps,
            keep_own,
            preserved: args.preserve_fds.unwrap_or(0),
        })
    }

    /// In the command's child, before its credentials: unshare the nested
    /// namespaces when asked, say so, and wait until nsinit lets us go.
    /// Raw syscalls only; on failure, what failed.
    pub fn child_side(&self) -> Result<(), (&'static [u8], Errno)> {
        // SAFETY: we are the command's forked child, which leaves by
        // execve or raw_exit and never drops this Gate (its owners are
        // nsinit's, in the parent).
        unsafe {
            sys::raw_close(self.ready_r.as_raw_fd());
            sys::raw_close(self.go_w.as_raw_fd());
        }
        if self.nested_maps.is_some() {
            // nsinit writes our maps in /proc/PID, whose files belong to
            // root of our namespace while we are not dumpable (inherited
            // from nsinit): not to nsinit when it runs as another uid
            // (keep-id). Nothing else runs in the container yet, and the
            // command's exec resets it anyway.
            nix::sys::prctl::set_dumpable(true).map_err(|e| (&b"PR_SET_DUMPABLE"[..], e))?;
            sys::raw_unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS).map_err(|e| {
                (
                    &b"create the nested user namespace for --cap-add SYS_ADMIN"[..],
                    e,
                )
            })?;
        }
        sys::raw_write_all(self.ready_w.as_raw_fd(), &[b"r"]);
        match sys::raw_read_byte(self.go_r.as_raw_fd()) {
            Ok(true) => Ok(()),
            Ok(false) => Err((&b"wait for nsinit"[..], Errno::EPIPE)),
            Err(e) => Err((&b"wait for nsinit"[..], e)),
        }
    }

    /// In nsinit, right after `fork`: wait for the child, write its nested
    /// maps, drop our own capabilities, let it go. If the child died
    /// before it was ready, there is nothing to do (it reported why).
    pub fn parent_side(self, child: i32) -> Result<(), Error> {
        let Gate {
            ready_r,
            ready_w,
            go_r,
            go_w,
            nested_maps,
            keep_own,
            preserved,
        } = self;
        drop((ready_w, go_r));
        close_preserved(preserved);
        if !matches!(sys::raw_read_byte(ready_r.as_raw_fd()), Ok(true)) {
            return Ok(());
        }
        if let Some((uid_map, gid_map)) = &nested_maps {
            for (file, map) in [("uid_map", uid_map), ("gid_map", gid_map)] {
                let path = format!("/proc/{child}/{file}");
                std::fs::write(&path, map).map_err(|e| {
                    Error::sys(
                        format!("--cap-add SYS_ADMIN: write the nested {file}"),
                        Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
                    )
                })?;
            }
        }
        if let Some(keep) = keep_own {
            drop_own_capabilities(keep)?;
        }
        sys::raw_write_all(go_w.as_raw_fd(), &[b"g"]);
        Ok(())
    }
}

/// nsinit's own capabilities cut to `keep`: the bounding, permitted,
/// effective, inheritable and ambient sets.
fn drop_own_capabilities(keep: CapSet) -> Result<(), Error> {
    let now = sys::raw_capget().map_err(|e| Error::sys("capget", e))?;
    let set = now.permitted & keep.bits();
    let _ = sys::raw_ambient_clear();
    for cap in 0..64 {
        if !keep.contains(cap) {
            match sys::raw_capbset_drop(cap) {
                Ok(()) | Err(Errno::EPERM) => {}
                // This kernel has no capability that high, nor above.
                Err(Errno::EINVAL) => break,
                Err(e) => return Err(Error::sys("drop nsinit's own capabilities", e)),
            }
        }
    }
    sys::raw_capset(&CapState {
        effective: set,
        permitted: set,
        inheritable: 0,
    })
    .map_err(|e| Error::sys("drop nsinit's own capabilities", e))
}

/// The identity of our own map (`in in count` for each `in out count`):
/// the nested namespace has the same ids as ours.
fn identity_map(file: &str) -> Result<String, Error> {
    let text = std::fs::read_to_string(format!("/proc/self/{file}")).map_err(|e| {
        Error::sys(
            format!("read /proc/self/{file}"),
            Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        )
    })?;
    Ok(idmap::parse_map(&text)
        .iter()
        .map(|r| format!("{} {} {}\n", r.inside, r.inside, r.count))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_follows_sys_admin() {
        let mut a = InitArgs::default();
        assert!(!nests(&a));
        a.caps = Some(CapSet::docker_default());
        assert!(!nests(&a));
        a.caps = Some(CapSet::docker_default().with(caps::SYS_ADMIN));
        assert!(nests(&a));
    }
}
