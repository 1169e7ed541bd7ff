//! The error report that crosses from the container side (the launcher's
//! cloned child, then nsinit, then the command's forked child just before
//! `execve`) back to the launcher, over one close-on-exec pipe.
//!
//! The pipe carries nothing on success: the last holder of its write end is
//! the command's child, which loses it at `execve` (close-on-exec), so end of
//! file means "the command is running". On failure the writer sends one line
//!
//! ```text
//! <exit status><TAB><message><LF>
//! ```
//!
//! and exits with that status. The launcher prints `nslaunch: <message>` and
//! exits with the status. Writers in a forked child may send the line in
//! several `write`s (no allocation there); the reader reads to end of file.

/// One failure, as the user will see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The exit status (125, 126 or 127).
    pub status: i32,
    /// One line, `<what>: <why>`, naming the path or flag involved.
    pub message: String,
}

impl Report {
    pub fn new(status: i32, message: impl Into<String>) -> Self {
        Report {
            status,
            message: message.into(),
        }
    }

    /// The bytes written on the pipe.
    pub fn encode(&self) -> Vec<u8> {
        let message = self.message.replace(['\n', '\r'], " ");
        format!("{}\t{}\n", self.status, message).into_bytes()
    }

    /// Parse what was read from the pipe. Empty input means no failure.
    /// Input that does not parse (a writer that died half-way) is still a
    /// failure of the init, reported with status 125.
    pub fn decode(bytes: &[u8]) -> Option<Report> {
        if bytes.is_empty() {
            return None;
        }
        let text = String::from_utf8_lossy(bytes);
        let line = text.lines().next().unwrap_or("");
        if let Some((status, message)) = line.split_once('\t') {
            if let Ok(status) = status.parse::<i32>() {
                if (1..=255).contains(&status) && !message.is_empty() {
                    return Some(Report::new(status, message));
                }
            }
        }
        Some(Report::new(
            crate::exit::FAILED,
            format!("container setup failed: {}", line.trim()),
        ))
    }
}

/// What nsinit tells the launcher on the report pipe besides a failure,
/// one line each, status 0 (which no failure has):
///
/// - `hooks`: the namespaces and mounts are made, before pivot_root; nsinit
///   waits for one byte on its `--sync-fd` while the launcher runs the
///   OCI prestart, createRuntime and createContainer hooks;
/// - `created`: everything is set up and the command found; nsinit waits
///   for one byte on `--sync-fd`: `s` starts the command now, `d` (OCI
///   `create`) means the launcher leaves;
/// - `detached`: (after `d`) nsinit no longer dies with the launcher and
///   closes the pipe; it waits for `start` on its FIFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sync {
    Hooks,
    Created,
    Detached,
}

impl Sync {
    pub fn encode(self) -> &'static [u8] {
        match self {
            Sync::Hooks => b"0\thooks\n",
            Sync::Created => b"0\tcreated\n",
            Sync::Detached => b"0\tdetached\n",
        }
    }

    /// One whole line, if it is a sync message.
    pub fn decode(line: &[u8]) -> Option<Sync> {
        [Sync::Hooks, Sync::Created, Sync::Detached]
            .into_iter()
            .find(|s| s.encode() == line)
    }
}

/// The errno text of an I/O error ("No such file or directory"), without
/// Rust's "(os error 2)", for one-line messages.
pub fn io_why(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_string(),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_read_as_their_errno() {
        let e = std::fs::metadata("/no/such/path").unwrap_err();
        assert_eq!(io_why(&e), "No such file or directory");
    }

    #[test]
    fn round_trip() {
        let r = Report::new(127, "sh: not found in the container");
        assert_eq!(Report::decode(&r.encode()), Some(r));
    }

    #[test]
    fn newlines_in_messages_do_not_split_the_report() {
        let r = Report::new(125, "mount /x\ny: EPERM");
        let back = Report::decode(&r.encode()).unwrap();
        assert_eq!(back.message, "mount /x y: EPERM");
    }

    #[test]
    fn empty_means_success() {
        assert_eq!(Report::decode(b""), None);
    }

    #[test]
    fn garbage_is_a_setup_failure() {
        let r = Report::decode(b"half a mess").unwrap();
        assert_eq!(r.status, 125);
        assert!(r.message.contains("half a mess"));
        let r = Report::decode(b"999\tbad status").unwrap();
        assert_eq!(r.status, 125);
    }

    #[test]
    fn pieces_written_separately_decode_as_one() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(b"126\t");
        bytes.extend_from_slice(b"exec /bin/x");
        bytes.extend_from_slice(b": Permission denied");
        bytes.extend_from_slice(b"\n");
        assert_eq!(
            Report::decode(&bytes),
            Some(Report::new(126, "exec /bin/x: Permission denied"))
        );
    }
}
