//! systemd's socket activation for the plain run (the protocol is
//! `shared::activation`): when nslaunch's own `LISTEN_PID` is its pid
//! (systemd, or `systemd-socket-activate`, started it), the `LISTEN_FDS`
//! sockets, descriptors 3..3+N-1, reach the command at the same numbers
//! (as `--preserve-fds N` would pass them; with both, 3..3+max-1 pass),
//! with `LISTEN_FDNAMES` as it came; nsinit gets `--listen-fds N` and
//! gives the command `LISTEN_FDS=N` and `LISTEN_PID` = its own pid. A
//! `LISTEN_PID` that is not ours is a stale environment: nothing passes
//! (the command's environment is clean anyway).

use shared::activation::{self, LISTEN_FDNAMES, LISTEN_FDS, LISTEN_PID};

use crate::error::Error;

/// The sockets handed to nslaunch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activation {
    pub fds: u32,
    pub names: Option<String>,
}

/// From our own environment. Call before nslaunch opens anything: the
/// descriptors must be the caller's, and open.
pub fn from_env() -> Result<Option<Activation>, Error> {
    let var = |k: &str| std::env::var(k).ok();
    let me = i32::try_from(std::process::id()).unwrap_or(0);
    let fds = activation::listen_fds(var(LISTEN_PID).as_deref(), var(LISTEN_FDS).as_deref(), me)
        .map_err(Error::Usage)?;
    let Some(fds) = fds else {
        return Ok(None);
    };
    activation::check_open(
        fds,
        &format!("{LISTEN_FDS}={fds}"),
        shared::sys::raw_fd_is_open,
    )
    .map_err(Error::Usage)?;
    Ok(Some(Activation {
        fds,
        names: var(LISTEN_FDNAMES),
    }))
}
