//! Exit statuses, the same as `docker run` and `podman run`.
//!
//! | status | meaning |
//! | --- | --- |
//! | 125 | nslaunch or nsinit itself failed |
//! | 126 | the command was found but could not be executed |
//! | 127 | the command was not found inside the container |
//! | 128+N | the command was killed by signal N |
//! | else | the command's own exit status |

use nix::errno::Errno;

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
pub fn from_raw_wait(status: libc::c_int) -> Option<i32> {
    if libc::WIFEXITED(status) {
        Some(libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        Some(SIGNAL_BASE + libc::WTERMSIG(status))
    } else {
        None
    }
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
        assert_eq!(from_raw_wait((libc::SIGTSTP << 8) | 0x7f), None); // stopped
        assert_eq!(from_raw_wait(0xffff), None); // continued
    }

    #[test]
    fn exec_errors_map_to_126_and_127() {
        assert_eq!(for_exec_errno(Errno::ENOENT), 127);
        assert_eq!(for_exec_errno(Errno::ENOTDIR), 127);
        assert_eq!(for_exec_errno(Errno::EACCES), 126);
        assert_eq!(for_exec_errno(Errno::ENOEXEC), 126);
        assert_eq!(for_exec_errno(Errno::EISDIR), 126);
    }
}
