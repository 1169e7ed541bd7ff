//! `--verbose` messages on stderr, for nslaunch and nsinit alike: each
//! line names the program and the time since it started, and a step says
//! how long it took, so a slow or failing step is obvious.
//!
//! ```text
//! nslaunch[+0.001s]: clone into new user, mount, PID namespaces: 0.142 ms
//! nsinit[+0.000s]: mount proc on /proc: 0.031 ms
//! ```

use std::fmt;
use std::time::Instant;

pub struct Log {
    program: &'static str,
    verbose: bool,
    start: Instant,
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

    /// A `--verbose` line: `program[+1.234s]: what happened`.
    pub fn info(&self, what: fmt::Arguments) {
        if self.verbose {
            eprintln!(
                "{}[+{:.3}s]: {what}",
                self.program,
                self.start.elapsed().as_secs_f64()
            );
        }
    }

    /// Run one step and, with `--verbose`, say how long it took and
    /// whether it failed.
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
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        match &result {
            Ok(_) => self.info(format_args!("{what}: {ms:.3} ms")),
            Err(_) => self.info(format_args!("{what}: FAILED after {ms:.3} ms")),
        }
        result
    }

    /// Always printed.
    pub fn warn(&self, what: fmt::Arguments) {
        eprintln!("{}: warning: {what}", self.program);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_passes_results_through_either_way() {
        let quiet = Log::new("t", false);
        assert_eq!(quiet.step("x", || Ok::<_, ()>(3)), Ok(3));
        let loud = Log::new("t", true);
        assert_eq!(loud.step("x", || Err::<(), _>("no")), Err("no"));
        assert!(loud.enabled() && !quiet.enabled());
    }
}
