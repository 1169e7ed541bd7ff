//! Finding the command as `execvp` would, against the PATH of its own
//! environment (as docker does). Names and PATH are bytes; messages show
//! them lossily.

use alloc::ffi::CString;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::sys;

/// Why the command cannot be run: 127 or 126.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unrunnable {
    /// 127.
    NotFound(String),
    /// 126.
    CannotExecute(String),
}

impl Unrunnable {
    pub fn status(&self) -> i32 {
        match self {
            Unrunnable::NotFound(_) => crate::exit::NOT_FOUND,
            Unrunnable::CannotExecute(_) => crate::exit::CANNOT_EXECUTE,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Unrunnable::NotFound(m) | Unrunnable::CannotExecute(m) => m,
        }
    }
}

/// What follows `exec PATH: No such file or directory` when the file may
/// well exist (a path, or an init exec'd from its descriptor): the kernel
/// says the same when the interpreter is missing.
pub fn exec_hint(errno: sys::Errno, path: &[u8], by_fd: bool) -> &'static [u8] {
    if errno == sys::Errno::ENOENT && (by_fd || path.contains(&b'/')) {
        b" (if the file exists, its interpreter is missing: the #! line's program or the ELF loader of a dynamically linked binary)"
    } else {
        b""
    }
}

/// The PATH a command gets when its environment has none: docker's.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Find `name` as `execvp` would: a name with a slash is used as is; else
/// the first executable regular file named `name` in PATH. An entry that
/// exists but is not executable makes the result 126 rather than 127.
pub fn resolve(name: &[u8], path_var: &[u8]) -> Result<Vec<u8>, Unrunnable> {
    let shown = String::from_utf8_lossy(name);
    if name.is_empty() {
        return Err(Unrunnable::NotFound(
            "the command is an empty string".into(),
        ));
    }
    let c = |bytes: &[u8]| CString::new(bytes).ok();
    if name.starts_with(b"/") {
        // An absolute path is checked now, as execvp would find it (a
        // relative one depends on the working directory, set later): a
        // missing or non-executable command fails before the container
        // is reported created (an OCI engine reads 127 and 126 from the
        // words "no such file or directory" and "permission denied").
        let Some(path) = c(name) else {
            return Ok(name.to_vec());
        };
        return match sys::stat_mode(&path) {
            Err(sys::Errno::ENOENT) => Err(Unrunnable::NotFound(format!(
                "{shown}: no such file or directory in the container"
            ))),
            Ok(mode) if mode & sys::S_IFMT == sys::S_IFDIR || !sys::can_execute(&path) => {
                Err(Unrunnable::CannotExecute(format!(
                    "{shown}: not an executable file (permission denied)"
                )))
            }
            _ => Ok(name.to_vec()),
        };
    }
    if name.contains(&b'/') {
        return Ok(name.to_vec());
    }
    let mut not_executable = None;
    for dir in path_var.split(|&b| b == b':') {
        let dir = if dir.is_empty() { &b"."[..] } else { dir };
        let mut candidate = dir.to_vec();
        while candidate.len() > 1 && candidate.ends_with(b"/") {
            candidate.pop();
        }
        if candidate != b"/" {
            candidate.push(b'/');
        }
        candidate.extend_from_slice(name);
        let Some(path) = c(&candidate) else { continue };
        match sys::stat_mode(&path) {
            Ok(mode) if mode & sys::S_IFMT == sys::S_IFREG => {
                if sys::can_execute(&path) {
                    return Ok(candidate);
                }
                not_executable.get_or_insert(candidate);
            }
            _ => {}
        }
    }
    match not_executable {
        Some(found) => Err(Unrunnable::CannotExecute(format!(
            "{shown}: {} is not executable (Permission denied)",
            String::from_utf8_lossy(&found)
        ))),
        None => Err(Unrunnable::NotFound(format!(
            "{shown}: command not found (executable file not found in PATH={})",
            String::from_utf8_lossy(path_var)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use std::ffi::{OsStr, OsString};
    use std::format;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn resolves_like_execvp() {
        let dir = std::env::temp_dir().join(format!("nsinit-resolve-{}", std::process::id()));
        let a = dir.join("a");
        let b = dir.join("b");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(a.join("tool"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(a.join("tool"), std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::write(b.join("tool"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(b.join("tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir_all(b.join("adir")).unwrap();
        let path = format!("{}:{}", a.display(), b.display());
        let resolve = |name: &str, path: &str| resolve(name.as_bytes(), path.as_bytes());

        assert_eq!(
            resolve("tool", &path).unwrap(),
            format!("{}/tool", b.display()).into_bytes()
        );
        assert_eq!(resolve("./x/y", &path).unwrap(), b"./x/y");
        assert_eq!(resolve("missing", &path).unwrap_err().status(), 127);
        assert_eq!(resolve("adir", &path).unwrap_err().status(), 127);
        assert_eq!(resolve("", &path).unwrap_err().status(), 127);
        // Only the non-executable one in PATH: 126 naming it, as root too
        // (root's X_OK still needs an x bit on a regular file).
        let only_a = a.display().to_string();
        let err = resolve("tool", &only_a).unwrap_err();
        assert_eq!(err.status(), 126);
        assert!(err.message().contains("not executable"), "{err:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names_and_path_are_bytes() {
        let dir = std::env::temp_dir().join(format!("nsinit-bytes-{}", std::process::id()));
        let bin = dir.join(OsStr::from_bytes(b"b\xefn"));
        std::fs::create_dir_all(&bin).unwrap();
        let tool = bin.join(OsStr::from_bytes(b"caf\xe9"));
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut path = OsString::from("/nonexistent:");
        path.push(bin.as_os_str());
        path.push("/");
        let found = resolve(b"caf\xe9", path.as_bytes()).unwrap();
        assert_eq!(found, tool.as_os_str().as_bytes());
        let err = resolve(b"th\xe9", path.as_bytes()).unwrap_err();
        assert_eq!(err.status(), 127);
        assert!(
            err.message().starts_with("th\u{fffd}: command not found"),
            "{err:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
