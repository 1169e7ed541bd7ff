//! nslaunch's one error type, printed once at the top as
//! `nslaunch: <what>: <why>` with an exit status from `shared::exit`.

use std::fmt;

use nix::errno::Errno;
use shared::exit;
use shared::report::Report;

#[derive(Debug)]
pub enum Error {
    /// A bad flag, path or value the user gave (125).
    Usage(String),
    /// A syscall failed on the host side (125).
    Sys {
        op: String,
        errno: Errno,
        hint: Option<&'static str>,
    },
    /// The container side (nsinit, or the command's exec) reported failure.
    Report(Report),
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
            Error::Report(r) => r.status,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) => f.write_str(m),
            Error::Sys { op, errno, hint } => {
                write!(f, "{op}: {}", errno.desc())?;
                if let Some(h) = hint {
                    write!(f, " ({h})")?;
                }
                Ok(())
            }
            Error::Report(r) => f.write_str(&r.message),
        }
    }
}

pub use shared::report::io_why;

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Usage(e.to_string())
    }
}
