//! Signal names and numbers, and which signals go where.

use libc::c_int;

/// The signals nslaunch relays to the container's init (and the init on to
/// the command; SIGWINCH only without a pty, which gets the new size
/// instead). nslaunch also relays SIGTSTP and SIGCONT, stopping and
/// continuing with the container. The container never shares the caller's
/// process group (it runs in a session of its own), so nothing the
/// terminal sends reaches it twice.
pub const FORWARDED_BY_LAUNCHER: [c_int; 7] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
];

/// `si_code` of a signal the kernel generated for a whole process group
/// (Ctrl-C, Ctrl-\, a window resize). Such a signal already reached every
/// process of the group, the command included when it shares the group, so
/// relaying it again would deliver it twice (nsinit run alone on a
/// terminal, its command in its group).
pub fn already_delivered_to_group(si_code: i32) -> bool {
    si_code == libc::SI_KERNEL
}

/// `SIGTERM`, `SIGRTMIN+3`, or the bare number when it has no name.
pub fn name(signal: c_int) -> String {
    if let Some(n) = signal_hook::low_level::signal_name(signal) {
        return n.to_string();
    }
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    if (min..=max).contains(&signal) {
        if signal == min {
            return "SIGRTMIN".into();
        }
        return format!("SIGRTMIN+{}", signal - min);
    }
    signal.to_string()
}

/// Parse `TERM`, `SIGTERM`, `sigterm`, `15`, `RTMIN+2`, `SIGRTMAX-1`.
/// Accepts 0 only when `allow_zero` (used as "drop this signal").
pub fn parse(text: &str, allow_zero: bool) -> Result<c_int, String> {
    let t = text.trim();
    if let Ok(n) = t.parse::<c_int>() {
        let max = libc::SIGRTMAX();
        return if (n == 0 && allow_zero) || (1..=max).contains(&n) {
            Ok(n)
        } else {
            Err(format!("{text:?} is not a signal number (1..{max})"))
        };
    }
    let upper = t.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    let rt = |base: c_int, rest: &str, sign: c_int| -> Option<c_int> {
        let off: c_int = if rest.is_empty() {
            0
        } else {
            rest.parse().ok()?
        };
        let n = base + sign * off;
        (min..=max).contains(&n).then_some(n)
    };
    let found = if let Some(rest) = bare.strip_prefix("RTMIN") {
        rest.strip_prefix('+')
            .or(rest.is_empty().then_some(""))
            .and_then(|r| rt(min, r, 1))
    } else if let Some(rest) = bare.strip_prefix("RTMAX") {
        rest.strip_prefix('-')
            .or(rest.is_empty().then_some(""))
            .and_then(|r| rt(max, r, -1))
    } else {
        (1..min).find(|&s| signal_hook::low_level::signal_name(s) == Some(&format!("SIG{bare}")))
    };
    found.ok_or_else(|| format!("{text:?} is not a signal name or number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(name(libc::SIGTERM), "SIGTERM");
        assert_eq!(name(libc::SIGKILL), "SIGKILL");
        assert_eq!(name(libc::SIGRTMIN()), "SIGRTMIN");
        assert_eq!(name(libc::SIGRTMIN() + 2), "SIGRTMIN+2");
    }

    #[test]
    fn parses_names_numbers_and_realtime() {
        assert_eq!(parse("TERM", false), Ok(libc::SIGTERM));
        assert_eq!(parse("sigterm", false), Ok(libc::SIGTERM));
        assert_eq!(parse("SIGUSR1", false), Ok(libc::SIGUSR1));
        assert_eq!(parse("9", false), Ok(9));
        assert_eq!(parse("RTMIN", false), Ok(libc::SIGRTMIN()));
        assert_eq!(parse("SIGRTMIN+3", false), Ok(libc::SIGRTMIN() + 3));
        assert_eq!(parse("RTMAX-1", false), Ok(libc::SIGRTMAX() - 1));
        assert_eq!(parse("0", true), Ok(0));
    }

    #[test]
    fn rejects_bad_signals() {
        assert!(parse("0", false).is_err());
        assert!(parse("65", false).is_err());
        assert!(parse("-1", false).is_err());
        assert!(parse("NOPE", false).is_err());
        assert!(parse("RTMIN+99", false).is_err());
        assert!(parse("RTMIN-1", false).is_err());
    }

    #[test]
    fn tty_signals_are_recognised() {
        assert!(already_delivered_to_group(libc::SI_KERNEL));
        assert!(!already_delivered_to_group(libc::SI_USER));
    }
}
