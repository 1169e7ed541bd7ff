//! Socket activation for the command (`sd_listen_fds(3)`; the protocol is
//! `shared::activation`). The sockets are nsinit's when nslaunch says so
//! (`--listen-fds N`, in argv) or, when nsinit runs alone, when its own
//! environment's `LISTEN_PID` is nsinit's pid (systemd, or
//! `systemd-socket-activate`, started nsinit; or an engine gave the
//! container's first process, nsinit, `LISTEN_PID=1`). Then:
//!
//! - descriptors 3 to 3+N-1 reach the command at the same numbers: with
//!   `--preserve-fds M`, 3 to 3+max(N,M)-1 pass;
//! - the command gets `LISTEN_FDS=N`, `LISTEN_FDNAMES` as it came, and
//!   `LISTEN_PID` set to its own pid, written in the forked child right
//!   before `execve` (`CStringArray::set_number`), since no one knows it
//!   earlier.
//!
//! Alone, a `LISTEN_PID` that is not nsinit's is a stale environment: the
//! three variables are not passed on, so that a command that happens to
//! get that pid (pids are small in a container) does not take descriptors
//! that are not sockets for it. Under nslaunch nsinit reads none of them
//! (the environment is the command's, as nslaunch built it).

use std::ffi::OsString;

use shared::activation::{self, LISTEN_FDS, LISTEN_PID};
use shared::spec::InitArgs;
use shared::sys;

use crate::error::Error;

/// How many sockets the command is handed, and from where (for
/// messages). Call before nsinit opens anything: the descriptors must be
/// the caller's. Widens `--preserve-fds` to cover them.
pub fn resolve(
    args: &mut InitArgs,
    var: impl Fn(&str) -> Option<String>,
) -> Result<Option<u32>, Error> {
    let (n, what) = match args.listen_fds {
        Some(n) => (Some(n), format!("--listen-fds {n}")),
        None if args.launched() || args.oci => (None, String::new()),
        None => {
            let n = activation::listen_fds(
                var(LISTEN_PID).as_deref(),
                var(LISTEN_FDS).as_deref(),
                sys::raw_getpid(),
            )
            .map_err(Error::Usage)?;
            (n, format!("{LISTEN_FDS}={}", n.unwrap_or(0)))
        }
    };
    let n = n.filter(|n| *n > 0);
    let Some(n) = n else {
        return Ok(None);
    };
    if args.oci {
        return Err(Error::Usage(
            "--listen-fds: not with --oci (the process keeps its pid: LISTEN_PID is the bundle's)"
                .into(),
        ));
    }
    activation::check_open(n, &what, sys::raw_fd_is_open).map_err(Error::Usage)?;
    args.preserve_fds = activation::preserved(Some(n), args.preserve_fds);
    Ok(Some(n))
}

/// The command's environment for `listen` sockets: `LISTEN_FDS=N` (its
/// `LISTEN_PID` comes from the forked child, see the module notes). With
/// none, alone (`standalone`), the stale variables go.
pub fn command_env(env: &mut Vec<(OsString, OsString)>, listen: Option<u32>, standalone: bool) {
    let stale = standalone && env.iter().any(|(k, _)| k == LISTEN_PID);
    let withheld = activation::withheld(listen.is_some(), stale);
    env.retain(|(k, _)| !withheld.iter().any(|w| k == w));
    if let Some(n) = listen {
        env.push((LISTEN_FDS.into(), n.to_string().into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn the_command_gets_the_count_and_not_our_pid() {
        let mut e = env(&[
            ("PATH", "/bin"),
            ("LISTEN_PID", "1"),
            ("LISTEN_FDS", "1"),
            ("LISTEN_FDNAMES", "web:admin"),
        ]);
        command_env(&mut e, Some(2), true);
        assert_eq!(
            e,
            env(&[
                ("PATH", "/bin"),
                ("LISTEN_FDNAMES", "web:admin"),
                ("LISTEN_FDS", "2")
            ])
        );
    }

    #[test]
    fn a_stale_environment_goes_only_when_alone() {
        let stale = env(&[
            ("LISTEN_PID", "7"),
            ("LISTEN_FDS", "1"),
            ("LISTEN_FDNAMES", "x"),
            ("A", "1"),
        ]);
        let mut e = stale.clone();
        command_env(&mut e, None, true);
        assert_eq!(e, env(&[("A", "1")]));
        // Under nslaunch the environment is the command's, as given.
        let mut e = stale.clone();
        command_env(&mut e, None, false);
        assert_eq!(e, stale);
        // No LISTEN_PID: nothing to say it is stale.
        let mut e = env(&[("LISTEN_FDS", "1")]);
        command_env(&mut e, None, true);
        assert_eq!(e, env(&[("LISTEN_FDS", "1")]));
    }

    #[test]
    fn sockets_come_from_the_flag_or_our_own_environment() {
        let me = sys::raw_getpid().to_string();
        let ours = |k: &str| match k {
            "LISTEN_PID" => Some(me.clone()),
            "LISTEN_FDS" => Some("1".to_string()),
            _ => None,
        };
        // fd 0 is open in a test; 3 may not be: ask for none that way.
        let mut alone = InitArgs::default();
        let stale = |k: &str| (k == "LISTEN_PID").then(|| "999999999".to_string());
        assert_eq!(resolve(&mut alone, stale).unwrap(), None);
        // Launched: the environment is never read.
        let mut launched = InitArgs {
            report_fd: Some(9),
            preserve_fds: Some(0),
            ..Default::default()
        };
        assert_eq!(resolve(&mut launched, ours).unwrap(), None);
        assert_eq!(launched.preserve_fds, Some(0));
        let mut broken = InitArgs::default();
        let bad = |k: &str| match k {
            "LISTEN_PID" => Some(sys::raw_getpid().to_string()),
            "LISTEN_FDS" => Some("x".to_string()),
            _ => None,
        };
        assert!(resolve(&mut broken, bad)
            .unwrap_err()
            .to_string()
            .contains("LISTEN_FDS=x"));
        let mut oci = InitArgs {
            oci: true,
            listen_fds: Some(1),
            ..Default::default()
        };
        assert!(resolve(&mut oci, |_| None).is_err());
    }
}
