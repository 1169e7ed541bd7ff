//! Test helper: try to push TEXT into a terminal's input queue with
//! TIOCSTI (as if typed), through every way a process in a container
//! might reach its caller's terminal: its own stdin, stdout and stderr,
//! /dev/tty, and PID 1's descriptors (/proc/1/fd/0..2). Prints one line
//! per way, `NAME: ok` or `NAME: ERRNO`, then `tiocsti-done`.
//!
//!     tiocsti TEXT

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;

use nix::errno::Errno;

/// Push every byte of `text` into the terminal open on `fd`.
fn inject(fd: i32, text: &[u8]) -> Result<(), Errno> {
    for b in text {
        // SAFETY: TIOCSTI reads one byte from a valid pointer.
        if unsafe { libc::ioctl(fd, libc::TIOCSTI, b as *const u8) } != 0 {
            return Err(Errno::last());
        }
    }
    Ok(())
}

fn main() {
    let text = std::env::args().nth(1).expect("usage: tiocsti TEXT");
    let text = text.replace("\\n", "\n");
    let mut lines = Vec::new();
    for fd in 0..3 {
        let r = inject(fd, text.as_bytes());
        lines.push(format!("fd{fd}: {}", show(r)));
    }
    for path in ["/dev/tty", "/proc/1/fd/0", "/proc/1/fd/1", "/proc/1/fd/2"] {
        let r = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(f) => inject(f.as_raw_fd(), text.as_bytes()),
            Err(e) => Err(Errno::from_raw(e.raw_os_error().unwrap_or(0))),
        };
        lines.push(format!("{path}: {}", show(r)));
    }
    // Printed on stderr after every attempt, so that a test that reads
    // the terminal sees each result.
    eprintln!("{}", lines.join("\n"));
    eprintln!("tiocsti-done");
}

fn show(r: Result<(), Errno>) -> String {
    match r {
        Ok(()) => "ok".into(),
        Err(e) => format!("{e:?}"),
    }
}
