//! nsinit's settings as text: durations, switches, signal rewrites, and
//! the default grace. nsinit reads them from its flags and NSINIT_*
//! variables (`supervision.rs`); nslaunch checks the ones it
//! passes on (`--stop-delay`, `--grace`) before it starts anything, and
//! the property tests (shared/tests/props.rs) hold them to their word.
//! Pure code.

use alloc::format;
use alloc::string::{String, ToString};
use core::time::Duration;

use crate::signals::{self, SIGCHLD, SIGKILL, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU};

/// Between SIGTERM and SIGKILL when stopping: just under the 10 s after
/// which `docker stop` and `podman stop` SIGKILL the container, so that
/// under an engine nsinit's own SIGKILL of what ignores SIGTERM comes
/// first and the container still exits with the command's status (with
/// 10 s, the two raced: 137 or the command's status).
pub const DEFAULT_GRACE: Duration = Duration::from_secs(9);

/// Whether forwarding `sig` stops the command the way job control does:
/// nsinit then stops too once the command has (SIGSTOP only through a
/// rewrite: nsinit never receives it).
pub fn is_stop_signal(sig: i32) -> bool {
    [SIGTSTP, SIGTTIN, SIGTTOU, SIGSTOP].contains(&sig)
}

/// `1/true/yes/on` or `0/false/no/off/` (empty), any case.
pub fn parse_bool(v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err("expected 1 or 0 (true/false, yes/no, on/off)".to_string()),
    }
}

/// `FROM:TO` with names or numbers; TO may be 0 (drop). FROM must be a
/// signal nsinit can receive and may forward.
pub fn parse_rewrite(v: &str) -> Result<(i32, i32), String> {
    let (from, to) = v
        .split_once(':')
        .ok_or_else(|| format!("{v:?} is not FROM:TO (e.g. TERM:QUIT, HUP:0)"))?;
    let from = signals::parse(from, false)?;
    if [SIGKILL, SIGSTOP].contains(&from) {
        return Err(format!(
            "{} cannot be caught, so it cannot be rewritten",
            signals::name(from)
        ));
    }
    if from == SIGCHLD {
        return Err("SIGCHLD is how nsinit learns of exits; it is never forwarded".into());
    }
    let to = signals::parse(to, true)?;
    Ok((from, to))
}

/// `10`, `10s`, `500ms`, `1.5s`, `2m`, `0`: a bare number is seconds. In
/// whole nanoseconds, without floating point (whose parser would be a
/// tenth of the standalone nsinit); digits past the nanosecond are cut.
pub fn parse_duration(v: &str) -> Result<Duration, String> {
    let t = v.trim();
    let bad = || format!("{v:?} is not a duration (e.g. 10s, 500ms, 2m, 0)");
    let (num, unit) = match t.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let nanos_per_unit: u128 = match unit {
        "ms" => 1_000_000,
        "s" | "" => 1_000_000_000,
        "m" | "min" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return Err(bad()),
    };
    let (whole, frac) = num.split_once('.').unwrap_or((num, ""));
    if (whole.is_empty() && frac.is_empty()) || frac.contains('.') || whole.len() > 20 {
        return Err(bad());
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    // The fraction, in units of 10^-18 (enough for a nanosecond of an hour).
    let mut frac_e18: u128 = 0;
    for (i, d) in frac.bytes().take(18).enumerate() {
        frac_e18 += u128::from(d - b'0') * 10u128.pow(17 - i as u32);
    }
    let nanos = whole * nanos_per_unit + frac_e18 * nanos_per_unit / 1_000_000_000_000_000_000;
    if nanos > 86_400 * 365 * 1_000_000_000 {
        return Err(bad());
    }
    Ok(Duration::from_nanos(nanos as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_unit() {
        let ok = |v: &str, d: Duration| assert_eq!(parse_duration(v), Ok(d), "{v}");
        ok("10", Duration::from_secs(10));
        ok("10s", Duration::from_secs(10));
        ok(" 10s ", Duration::from_secs(10));
        ok("250ms", Duration::from_millis(250));
        ok("1.5s", Duration::from_millis(1500));
        ok(".5", Duration::from_millis(500));
        ok("5.", Duration::from_secs(5));
        ok("0.000000001", Duration::from_nanos(1));
        ok("0.0000000019", Duration::from_nanos(1));
        ok("2m", Duration::from_secs(120));
        ok("1.5min", Duration::from_secs(90));
        ok("0.001h", Duration::from_millis(3600));
        ok("0", Duration::ZERO);
        ok("365d".trim_end_matches('d'), Duration::from_secs(365));
        ok("8760h", Duration::from_secs(86_400 * 365));
        for bad in [
            "",
            "s",
            ".",
            "-1s",
            "10x",
            "1e9",
            "ten",
            "1.2.3",
            "8761h",
            "99999999999999999999999",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
