//! nsinit's messages on stderr: `--verbose` steps with the time since
//! start, so the order and timing of a stop can be read off.

use std::fmt;
use std::time::Instant;

pub struct Log {
    verbose: bool,
    start: Instant,
}

impl Log {
    pub fn new(verbose: bool) -> Self {
        Log {
            verbose,
            start: Instant::now(),
        }
    }

    /// A `--verbose` line: `nsinit[+1.234s]: what happened`.
    pub fn info(&self, what: fmt::Arguments) {
        if self.verbose {
            eprintln!(
                "nsinit[+{:.3}s]: {what}",
                self.start.elapsed().as_secs_f64()
            );
        }
    }

    /// Always printed.
    pub fn warn(&self, what: fmt::Arguments) {
        eprintln!("nsinit: warning: {what}");
    }
}
