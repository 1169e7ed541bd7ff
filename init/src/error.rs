//! nsinit's one error type: what failed (the operation, naming the path as
//! the container sees it), why (the errno), and an optional hint. Printed
//! once, at the top, or sent to nslaunch as a report.

use std::fmt;

use nix::errno::Errno;
use shared::exit;
use shared::report::Report;

#[derive(Debug)]
pub enum Error {
    /// A bad command line or environment variable.
    Usage(String),
    /// A syscall failed while setting up the container.
    Sys {
        op: String,
        errno: Errno,
        hint: Option<&'static str>,
    },
    /// The command does not exist in the container (127).
    NotFound(String),
    /// The command exists but cannot be run (126).
    CannotExecute(String),
}

impl Error {
    pub fn sys(op: impl Into<String>, errno: Errno) -> Self {
        Error::Sys {
            op: op.into(),
            errno,
            hint: None,
        }
    }

    pub fn status(&self) -> i32 {
        match self {
            Error::Usage(_) | Error::Sys { .. } => exit::FAILED,
            Error::NotFound(_) => exit::NOT_FOUND,
            Error::CannotExecute(_) => exit::CANNOT_EXECUTE,
        }
    }

    pub fn report(&self) -> Report {
        Report::new(self.status(), self.to_string())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) | Error::NotFound(m) | Error::CannotExecute(m) => f.write_str(m),
            Error::Sys { op, errno, hint } => {
                write!(f, "{op}: {}", errno.desc())?;
                if let Some(h) = hint {
                    write!(f, " ({h})")?;
                }
                Ok(())
            }
        }
    }
}
