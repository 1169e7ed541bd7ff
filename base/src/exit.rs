//! Exit statuses, the same as `docker run` and `podman run`.
//!
//! | status | meaning |
//! | --- | --- |
//! | 125 | nslaunch or nsinit itself failed |
//! | 126 | the command was found but could not be executed |
//! | 127 | the command was not found inside the container |
//! | 128+N | the command was killed by signal N |
//! | else | the command's own exit status |

use crate::sys::Errno;

/// nslaunch or nsinit itself failed: a bad flag, a missing rootfs, a refused
/// mapping, a mount that failed.
pub const FAILED: i32 = 125;
/// The command was found but could not be executed.
pub const CANNOT_EXECUTE: i32 = 126;
/// The command was not found inside the container.
pub const NOT_FOUND: i32 = 127;
/// Added to a signal number for "killed by signal N".
pub const SIGNAL_BASE: i32 = 128;

/// The exit status a shell would report for a raw `waitpid` status, or
/// `None` while the process has not finished (stopped or continued).
pub fn from_raw_wait(status: i32) -> Option<i32> {
    let sig = status & 0x7f;
    if sig == 0 {
        Some((status >> 8) & 0xff)
    } else if sig != 0x7f && status != 0xffff {
        Some(SIGNAL_BASE + sig)
    } else {
        None
    }
}

/// A raw `waitpid` status that says "stopped": by which signal.
pub fn stopped_by(status: i32) -> Option<i32> {
    (status & 0xff == 0x7f).then_some((status >> 8) & 0xff)
}

/// A raw `waitpid` status that says "continued" (WCONTINUED).
pub fn continued(status: i32) -> bool {
    status == 0xffff
}

/// The status for a failed `execve`: 127 when the file (or its ELF
/// interpreter) does not exist, 126 for every other reason (permission, bad
/// format, a directory ...), as tini and docker do.
pub fn for_exec_errno(errno: Errno) -> i32 {
    match errno {
        Errno::ENOENT | Errno::ENOTDIR => NOT_FOUND,
        _ => CANNOT_EXECUTE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_docker() {
        // Raw statuses as the kernel encodes them.
        assert_eq!(from_raw_wait(0), Some(0));
        assert_eq!(from_raw_wait(3 << 8), Some(3));
        assert_eq!(from_raw_wait(255 << 8), Some(255));
        assert_eq!(from_raw_wait(libc::SIGKILL), Some(137));
        assert_eq!(from_raw_wait(libc::SIGTERM | 0x80), Some(143)); // core dumped
        assert_eq!(
            from_raw_wait(libc::SIGRTMIN() + 1),
            Some(128 + libc::SIGRTMIN() + 1)
        );
        let stopped = (libc::SIGTSTP << 8) | 0x7f;
        assert_eq!(from_raw_wait(stopped), None);
        assert_eq!(stopped_by(stopped), Some(libc::SIGTSTP));
        assert!(libc::WIFSTOPPED(stopped) && !libc::WIFCONTINUED(stopped));
        assert_eq!(from_raw_wait(0xffff), None); // continued
        assert!(continued(0xffff) && libc::WIFCONTINUED(0xffff));
        assert_eq!(stopped_by(0xffff), None);
        assert_eq!(stopped_by(3 << 8), None);
    }

    #[test]
    fn exec_errors_map_to_126_and_127() {
        assert_eq!(for_exec_errno(Errno(libc::ENOENT)), 127);
        assert_eq!(for_exec_errno(Errno(libc::ENOTDIR)), 127);
        assert_eq!(for_exec_errno(Errno(libc::EACCES)), 126);
        assert_eq!(for_exec_errno(Errno(libc::ENOEXEC)), 126);
        assert_eq!(for_exec_errno(Errno(libc::EISDIR)), 126);
    }
}
