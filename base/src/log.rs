//! `--verbose` messages on stderr, for nslaunch and nsinit alike: each
//! line names the program and the time since it started, and a step says
//! how long it took, so a slow or failing step is obvious.
//!
//! ```text
//! nslaunch[+0.001s]: clone into new user, mount, PID namespaces: 0.142 ms
//! nsinit[+0.000s]: mount proc on /proc: 0.031 ms
//! ```
//!
//! Each message is one `write(2)` to descriptor 2 (no C library, no
//! buffering), so lines of processes sharing a stderr do not interleave.

use alloc::fmt::format;
use core::fmt;

use crate::time::Instant;

pub struct Log {
    program: &'static str,
    verbose: bool,
    start: Instant,
}

/// Write `what` and a newline to stderr in one call.
pub fn say(what: fmt::Arguments) {
    let mut line = format(what);
    line.push('\n');
    crate::sys::write_all(2, &[line.as_bytes()]);
}

/// `1.234` for a duration in nanoseconds shown in `unit`s (1e9: seconds,
/// 1e6: milliseconds), without floating point.
struct Fixed3(u128, u128);

impl fmt::Display for Fixed3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let thousandths = self.0 * 1000 / self.1;
        write!(f, "{}.{:03}", thousandths / 1000, thousandths % 1000)
    }
}

impl Log {
    pub fn new(program: &'static str, verbose: bool) -> Self {
        Log {
            program,
            verbose,
            start: Instant::now(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.verbose
    }

    pub fn info(&self, what: fmt::Arguments) {
        if self.verbose {
            let since = self.start.elapsed().as_nanos();
            say(format_args!(
                "{}[+{}s]: {what}",
                self.program,
                Fixed3(since, 1_000_000_000)
            ));
        }
    }

    /// Run one step of the setup; with --verbose, say how long it took.
    pub fn step<T, E>(
        &self,
        what: impl fmt::Display,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        if !self.verbose {
            return f();
        }
        let t0 = Instant::now();
        let result = f();
        let ms = Fixed3(t0.elapsed().as_nanos(), 1_000_000);
        match &result {
            Ok(_) => self.info(format_args!("{what}: {ms} ms")),
            Err(_) => self.info(format_args!("{what}: FAILED after {ms} ms")),
        }
        result
    }

    /// Always shown.
    pub fn warn(&self, what: fmt::Arguments) {
        say(format_args!("{}: warning: {what}", self.program));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn step_passes_results_through_either_way() {
        let quiet = Log::new("t", false);
        assert_eq!(quiet.step("x", || Ok::<_, ()>(3)), Ok(3));
        let loud = Log::new("t", true);
        assert_eq!(loud.step("x", || Err::<(), _>("no")), Err("no"));
        assert!(loud.enabled() && !quiet.enabled());
    }

    #[test]
    fn times_have_three_decimals() {
        assert_eq!(Fixed3(1_234_567_890, 1_000_000_000).to_string(), "1.234");
        assert_eq!(Fixed3(5_000, 1_000_000).to_string(), "0.005");
        assert_eq!(Fixed3(0, 1_000_000_000).to_string(), "0.000");
    }
}
