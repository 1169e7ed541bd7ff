//! Exit statuses, the same as `docker run` and `podman run`: the
//! definitions are nsinit's core's (`base::exit`).

pub use base::exit::{
    continued, from_raw_wait, stopped_by, CANNOT_EXECUTE, FAILED, NOT_FOUND, SIGNAL_BASE,
};

/// [`base::exit::for_exec_errno`] for nix's errno.
pub fn for_exec_errno(errno: nix::errno::Errno) -> i32 {
    base::exit::for_exec_errno(base::sys::Errno(errno as i32))
}
