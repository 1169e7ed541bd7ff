//! systemd's socket activation (`sd_listen_fds(3)`), as both programs
//! read it: a process is handed listening sockets as descriptors 3,
//! 4, ... with `LISTEN_FDS` (how many), `LISTEN_FDNAMES` (their names,
//! colon-separated, optional) and `LISTEN_PID` (the pid they are for).
//! A `LISTEN_PID` that is not the reader's own is a stale environment,
//! meant for some other process: the sockets are not the reader's.
//!
//! nslaunch passes the sockets meant for it to the command at the same
//! numbers; nsinit (alone, or told by nslaunch with `--listen-fds`) makes
//! the command's `LISTEN_PID` the command's own pid, set in the forked
//! child right before `execve`.

/// The variables of the protocol.
use alloc::format;
use alloc::string::String;

pub const LISTEN_PID: &str = "LISTEN_PID";
pub const LISTEN_FDS: &str = "LISTEN_FDS";
pub const LISTEN_FDNAMES: &str = "LISTEN_FDNAMES";

/// How many sockets the process `me` was handed: `Some(N)` when
/// `LISTEN_PID` is `me` and `LISTEN_FDS` is N > 0; `None` when the
/// variables are absent, name another process (or nothing a pid could
/// be), or give no descriptor. `Err` when `LISTEN_PID` is `me` but
/// `LISTEN_FDS` is not a number: meant for us, and broken.
pub fn listen_fds(
    listen_pid: Option<&str>,
    listen_fds: Option<&str>,
    me: i32,
) -> Result<Option<u32>, String> {
    let ours = listen_pid
        .and_then(|p| p.parse::<i32>().ok())
        .is_some_and(|p| p > 0 && p == me);
    if !ours {
        return Ok(None);
    }
    let Some(text) = listen_fds else {
        return Ok(None);
    };
    let n: u32 = text.parse().map_err(|_| {
        format!("{LISTEN_FDS}={text}: not a number of descriptors (socket activation)")
    })?;
    Ok((n > 0).then_some(n))
}

/// The variables the command must not get from nsinit's environment: with
/// sockets handed over, `LISTEN_PID` and `LISTEN_FDS` (it gets its own);
/// without, when `stale` (nsinit alone, and `LISTEN_PID` another
/// process's), all three.
pub fn withheld(listen: bool, stale: bool) -> &'static [&'static str] {
    match (listen, stale) {
        (true, _) => &[LISTEN_PID, LISTEN_FDS],
        (false, true) => &[LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES],
        (false, false) => &[],
    }
}

/// Descriptors 3 to 3+N-1 must be open: the sockets handed over. `what`
/// names where N came from (`LISTEN_FDS=2`, `--listen-fds 2`).
pub fn check_open(n: u32, what: &str, is_open: impl Fn(i32) -> bool) -> Result<(), String> {
    match first_closed(n, is_open) {
        Some(fd) => Err(format!(
            "{what}: descriptor {fd} is not open (socket activation passes descriptors 3 to {})",
            2 + u64::from(n)
        )),
        None => Ok(()),
    }
}

/// The first of descriptors 3 to 3+N-1 that is not open.
fn first_closed(n: u32, is_open: impl Fn(i32) -> bool) -> Option<u64> {
    (3..3u64 + u64::from(n)).find(|&fd| !i32::try_from(fd).is_ok_and(&is_open))
}

/// The descriptors that reach the command when N sockets are handed over
/// and `--preserve-fds M` is asked too: 3 to 3+max(N,M)-1, the sockets
/// first (the same numbers cannot be two things). `None` stays `None`
/// (nsinit alone, without `--preserve-fds`: every inherited descriptor
/// passes anyway).
pub fn preserved(listen: Option<u32>, preserve: Option<u32>) -> Option<u32> {
    match (listen, preserve) {
        (Some(n), Some(m)) => Some(n.max(m)),
        (_, m) => m,
    }
}

/// `--preserve-fds N`: descriptors 3 to 3+N-1 must be open, checked before
/// the program opens any of its own (one it opened could take a closed
/// number, and be passed on or closed as the caller's). `Err` is one line
/// naming the option and the first closed descriptor.
pub fn check_preserved_fds(n: u32, is_open: impl Fn(i32) -> bool) -> Result<(), String> {
    match first_closed(n, is_open) {
        Some(fd) => Err(format!(
            "--preserve-fds {n}: descriptor {fd} is not open (pass open descriptors 3 to {})",
            2 + u64::from(n)
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sockets_meant_for_us_count() {
        assert_eq!(listen_fds(Some("42"), Some("2"), 42), Ok(Some(2)));
        // Stale: meant for another process, or nothing a pid could be.
        assert_eq!(listen_fds(Some("41"), Some("2"), 42), Ok(None));
        assert_eq!(listen_fds(Some("x"), Some("2"), 42), Ok(None));
        assert_eq!(listen_fds(Some("0"), Some("2"), 0), Ok(None));
        assert_eq!(listen_fds(Some("-1"), Some("2"), -1), Ok(None));
        assert_eq!(listen_fds(None, Some("2"), 42), Ok(None));
        // Ours, but nothing handed over.
        assert_eq!(listen_fds(Some("42"), None, 42), Ok(None));
        assert_eq!(listen_fds(Some("42"), Some("0"), 42), Ok(None));
        // Ours and broken.
        let e = listen_fds(Some("42"), Some("two"), 42).unwrap_err();
        assert!(e.starts_with("LISTEN_FDS=two: not a number"), "{e}");
        assert!(listen_fds(Some("42"), Some("-1"), 42).is_err());
        // A stale LISTEN_FDS is never read.
        assert_eq!(listen_fds(Some("41"), Some("two"), 42), Ok(None));
    }

    #[test]
    fn handed_descriptors_must_be_open() {
        assert_eq!(check_open(2, "LISTEN_FDS=2", |fd| fd < 5), Ok(()));
        let e = check_open(3, "LISTEN_FDS=3", |fd| fd != 4).unwrap_err();
        assert_eq!(
            e,
            "LISTEN_FDS=3: descriptor 4 is not open (socket activation passes descriptors 3 to 5)"
        );
        assert!(
            check_open(u32::MAX, "--listen-fds 4294967295", |fd| fd < 100)
                .unwrap_err()
                .contains("descriptor 100 is not open")
        );
    }

    #[test]
    fn the_sockets_and_preserve_fds_overlap() {
        assert_eq!(preserved(Some(2), Some(0)), Some(2));
        assert_eq!(preserved(Some(1), Some(3)), Some(3));
        assert_eq!(preserved(Some(2), None), None);
        assert_eq!(preserved(None, Some(1)), Some(1));
        assert_eq!(preserved(None, None), None);
    }
}
