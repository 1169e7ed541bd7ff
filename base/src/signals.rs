//! Signal names and numbers (Linux's, on x86_64 and aarch64 alike), and
//! which signals go where.

use alloc::format;
use alloc::string::{String, ToString};

pub const SIGHUP: i32 = 1;
pub const SIGINT: i32 = 2;
pub const SIGQUIT: i32 = 3;
pub const SIGKILL: i32 = 9;
pub const SIGUSR1: i32 = 10;
pub const SIGUSR2: i32 = 12;
pub const SIGTERM: i32 = 15;
pub const SIGCHLD: i32 = 17;
pub const SIGCONT: i32 = 18;
pub const SIGSTOP: i32 = 19;
pub const SIGTSTP: i32 = 20;
pub const SIGTTIN: i32 = 21;
pub const SIGTTOU: i32 = 22;
pub const SIGWINCH: i32 = 28;
/// The first real-time signal a program may use: 34, as glibc (and so
/// `kill -l`) numbers them; 32 and 33 are the C library's own.
pub const SIGRTMIN: i32 = 34;
pub const SIGRTMAX: i32 = 64;

/// `si_code` of a signal the kernel sent (a terminal's SIGINT, SIGTSTP ...).
const SI_KERNEL: i32 = 0x80;

/// The names of signals 1 to 31.
const NAMES: [&str; 31] = [
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGBUS",
    "SIGFPE",
    "SIGKILL",
    "SIGUSR1",
    "SIGSEGV",
    "SIGUSR2",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGSTKFLT",
    "SIGCHLD",
    "SIGCONT",
    "SIGSTOP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGIO",
    "SIGPWR",
    "SIGSYS",
];

/// The signals nslaunch relays to the container's init (and the init on to
/// the command; SIGWINCH only without a pty, which gets the new size
/// instead). nslaunch also relays SIGTSTP and SIGCONT, stopping and
/// continuing with the container. The container never shares the caller's
/// process group (it runs in a session of its own), so nothing the
/// terminal sends reaches it twice.
pub const FORWARDED_BY_LAUNCHER: [i32; 7] =
    [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH];

/// Whether a signal with this `si_code` was sent by the kernel to a whole
/// process group (a terminal's SIGINT, SIGQUIT, SIGTSTP, SIGWINCH ...), so
/// that every member of the group got its own copy already.
pub fn already_delivered_to_group(si_code: i32) -> bool {
    si_code == SI_KERNEL
}

/// `SIGTERM`, `SIGRTMIN+3`, or the number for one without a name.
pub fn name(signal: i32) -> String {
    if (1..=31).contains(&signal) {
        return NAMES[signal as usize - 1].to_string();
    }
    if signal == SIGRTMIN {
        return "SIGRTMIN".into();
    }
    if (SIGRTMIN..=SIGRTMAX).contains(&signal) {
        return format!("SIGRTMIN+{}", signal - SIGRTMIN);
    }
    signal.to_string()
}

/// A signal by name (`TERM`, `SIGTERM`, any case, `RTMIN+3`, `RTMAX-1`)
/// or number; 0 only when `allow_zero` (meaning "none").
pub fn parse(text: &str, allow_zero: bool) -> Result<i32, String> {
    let t = text.trim();
    if let Ok(n) = t.parse::<i32>() {
        return if (n == 0 && allow_zero) || (1..=SIGRTMAX).contains(&n) {
            Ok(n)
        } else {
            Err(format!("{text:?} is not a signal number (1..{SIGRTMAX})"))
        };
    }
    let upper = t.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    let rt = |base: i32, rest: &str, sign: i32| -> Option<i32> {
        let off: i32 = if rest.is_empty() {
            0
        } else {
            rest.parse().ok()?
        };
        let n = base + sign * off;
        (SIGRTMIN..=SIGRTMAX).contains(&n).then_some(n)
    };
    let found = if let Some(rest) = bare.strip_prefix("RTMIN") {
        rest.strip_prefix('+')
            .or(rest.is_empty().then_some(""))
            .and_then(|r| rt(SIGRTMIN, r, 1))
    } else if let Some(rest) = bare.strip_prefix("RTMAX") {
        rest.strip_prefix('-')
            .or(rest.is_empty().then_some(""))
            .and_then(|r| rt(SIGRTMAX, r, -1))
    } else {
        NAMES
            .iter()
            .position(|n| n[3..] == *bare)
            .map(|i| i as i32 + 1)
    };
    found.ok_or_else(|| format!("{text:?} is not a signal name or number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_are_the_c_librarys() {
        for (ours, theirs) in [
            (SIGHUP, libc::SIGHUP),
            (SIGINT, libc::SIGINT),
            (SIGQUIT, libc::SIGQUIT),
            (SIGKILL, libc::SIGKILL),
            (SIGUSR1, libc::SIGUSR1),
            (SIGUSR2, libc::SIGUSR2),
            (SIGTERM, libc::SIGTERM),
            (SIGCHLD, libc::SIGCHLD),
            (SIGCONT, libc::SIGCONT),
            (SIGSTOP, libc::SIGSTOP),
            (SIGTSTP, libc::SIGTSTP),
            (SIGTTIN, libc::SIGTTIN),
            (SIGTTOU, libc::SIGTTOU),
            (SIGWINCH, libc::SIGWINCH),
            (SIGRTMIN, libc::SIGRTMIN()),
            (SIGRTMAX, libc::SIGRTMAX()),
            (SI_KERNEL, libc::SI_KERNEL),
        ] {
            assert_eq!(ours, theirs);
        }
        assert_eq!(name(libc::SIGABRT), "SIGABRT");
        assert_eq!(name(libc::SIGSYS), "SIGSYS");
        assert_eq!(name(libc::SIGPWR), "SIGPWR");
        assert_eq!(name(libc::SIGSTKFLT), "SIGSTKFLT");
        assert_eq!(name(libc::SIGIO), "SIGIO");
    }

    #[test]
    fn names() {
        assert_eq!(name(SIGTERM), "SIGTERM");
        assert_eq!(name(SIGKILL), "SIGKILL");
        assert_eq!(name(SIGRTMIN), "SIGRTMIN");
        assert_eq!(name(SIGRTMIN + 2), "SIGRTMIN+2");
        assert_eq!(name(99), "99");
    }

    #[test]
    fn parses_names_numbers_and_realtime() {
        assert_eq!(parse("TERM", false), Ok(SIGTERM));
        assert_eq!(parse("sigterm", false), Ok(SIGTERM));
        assert_eq!(parse("SIGUSR1", false), Ok(SIGUSR1));
        assert_eq!(parse("hup", false), Ok(SIGHUP));
        assert_eq!(parse("SYS", false), Ok(31));
        assert_eq!(parse("9", false), Ok(9));
        assert_eq!(parse("RTMIN", false), Ok(SIGRTMIN));
        assert_eq!(parse("SIGRTMIN+3", false), Ok(SIGRTMIN + 3));
        assert_eq!(parse("RTMAX-1", false), Ok(SIGRTMAX - 1));
        assert_eq!(parse("0", true), Ok(0));
    }

    #[test]
    fn rejects_bad_signals() {
        assert!(parse("0", false).is_err());
        assert!(parse("65", false).is_err());
        assert!(parse("-1", false).is_err());
        assert!(parse("NOPE", false).is_err());
        assert!(parse("", false).is_err());
        assert!(parse("SIG", false).is_err());
        assert!(parse("RTMIN+99", false).is_err());
        assert!(parse("RTMIN-1", false).is_err());
    }

    #[test]
    fn tty_signals_are_recognised() {
        assert!(already_delivered_to_group(libc::SI_KERNEL));
        assert!(!already_delivered_to_group(libc::SI_USER));
    }
}
