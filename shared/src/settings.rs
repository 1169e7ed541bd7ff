//! nsinit's settings as text: durations, switches, signal rewrites, and
//! the default grace. nsinit reads them from its flags and NSINIT_*
//! variables (`init/src/supervision.rs`); nslaunch checks the ones it
//! passes on (`--stop-delay`, `--grace`) before it starts anything, and
//! the property tests (shared/tests/props.rs) hold them to their word.
//! Pure code.

use std::time::Duration;

use crate::signals;

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
    [libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU, libc::SIGSTOP].contains(&sig)
}

/// `1/true/yes/on` or `0/false/no/off/` (empty), any case.
pub fn parse_bool(v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err("expected 1 or 0 (true/false, yes/no, on/off)".into()),
    }
}

/// `FROM:TO` with names or numbers; TO may be 0 (drop). FROM must be a
/// signal nsinit can receive and may forward.
pub fn parse_rewrite(v: &str) -> Result<(i32, i32), String> {
    let (from, to) = v
        .split_once(':')
        .ok_or_else(|| format!("{v:?} is not FROM:TO (e.g. TERM:QUIT, HUP:0)"))?;
    let from = signals::parse(from, false)?;
    if [libc::SIGKILL, libc::SIGSTOP].contains(&from) {
        return Err(format!(
            "{} cannot be caught, so it cannot be rewritten",
            signals::name(from)
        ));
    }
    if from == libc::SIGCHLD {
        return Err("SIGCHLD is how nsinit learns of exits; it is never forwarded".into());
    }
    let to = signals::parse(to, true)?;
    Ok((from, to))
}

/// `10`, `10s`, `500ms`, `1.5s`, `2m`, `0`: a bare number is seconds.
pub fn parse_duration(v: &str) -> Result<Duration, String> {
    let t = v.trim();
    let bad = || format!("{v:?} is not a duration (e.g. 10s, 500ms, 2m, 0)");
    let (num, unit) = match t.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(bad()),
    };
    if !secs.is_finite() || !(0.0..=86_400.0 * 365.0).contains(&secs) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}
