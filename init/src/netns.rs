//! The container's own network namespace (`--loopback`, which nslaunch
//! passes with `--unshare-net`): a new one has only a loopback interface,
//! and it is down. nsinit brings it up with one ioctl (SIOCSIFFLAGS), as
//! `ip link set lo up` would, with no `ip` binary needed in the rootfs.

use crate::error::Error;

pub fn loopback_up() -> Result<(), Error> {
    shared::sys::loopback_up().map_err(|e| Error::sys("--loopback: bring the interface lo up", e))
}
