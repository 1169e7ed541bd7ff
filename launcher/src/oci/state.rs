//! The OCI verbs' state: one directory per container under `--root`,
//! holding `state.json` (written atomically: a temporary file renamed over
//! it) and, while the container is created but not started, `exec.fifo`
//! (see `lifecycle.rs`). Every verb on an ID holds an exclusive `flock`
//! on its directory, so concurrent calls on one ID are serialised.
//!
//! The pid is saved with the process's start time (field 22 of
//! `/proc/PID/stat`), so that a pid the kernel gave to another process
//! since is never taken for the container.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{mkdirat, Mode};
use serde::{Deserialize, Serialize};

use crate::error::{io_why, Error};

/// The OCI runtime spec version we implement.
pub const OCI_VERSION: &str = "1.0.2";

/// The default state directory: `/run/nslaunch` for real root;
/// `$XDG_RUNTIME_DIR/nslaunch` for anyone else, root of a user namespace
/// included (rootless podman runs us as uid 0 of its own namespace, with
/// its user's XDG_RUNTIME_DIR); `/tmp/nslaunch-UID` without one.
pub fn default_root(euid: u32, initial_userns: bool, xdg: Option<&str>) -> PathBuf {
    if euid == 0 && initial_userns {
        return PathBuf::from("/run/nslaunch");
    }
    match xdg {
        Some(dir) if !dir.is_empty() => Path::new(dir).join("nslaunch"),
        _ if euid == 0 => PathBuf::from("/run/nslaunch"),
        _ => PathBuf::from(format!("/tmp/nslaunch-{euid}")),
    }
}

/// What `state.json` holds: the OCI state, and what the other verbs need
/// (our own fields, under names the OCI state does not use).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Saved {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub bundle: String,
    pub rootfs: String,
    /// RFC 3339, UTC.
    pub created: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The uid that created the container.
    #[serde(default)]
    pub owner: u32,
    /// `starttime` of `/proc/PID/stat`, in clock ticks after boot.
    pub start_time: u64,
    /// The container has a PID namespace of its own (killing its PID 1
    /// kills everything in it).
    pub own_pid_ns: bool,
    /// The `poststart` and `poststop` hooks of config.json, for `start`
    /// and `delete`.
    #[serde(default)]
    pub hooks: Option<oci_spec::runtime::Hooks>,
    /// The cgroup directory we made, removed by `delete`.
    #[serde(default)]
    pub cgroup: Option<String>,
}

/// A container's status, as the OCI state reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
        }
    }
}

/// The state directory, made (0700) if missing.
pub struct Store {
    root: PathBuf,
    fd: OwnedFd,
}

impl Store {
    pub fn open(root: &Path) -> Result<Store, Error> {
        let bad = |why: String| Error::Usage(format!("--root {}: {why}", root.display()));
        if !root.is_absolute() {
            return Err(bad("must be an absolute path".into()));
        }
        match std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
        {
            Ok(()) => {}
            Err(e) => return Err(bad(io_why(&e))),
        }
        let fd = nix::fcntl::open(
            root,
            OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| bad(e.desc().into()))?;
        Ok(Store {
            root: root.to_path_buf(),
            fd,
        })
    }

    /// A new container's directory, locked; refused if the ID exists.
    pub fn create(&self, id: &str) -> Result<Entry, Error> {
        match mkdirat(&self.fd, id, Mode::from_bits_truncate(0o700)) {
            Ok(()) => {}
            Err(Errno::EEXIST) => {
                return Err(Error::Usage(format!("container {id} already exists")))
            }
            Err(e) => {
                return Err(Error::sys(
                    format!("create {}", self.root.join(id).display()),
                    e,
                ))
            }
        }
        self.lock(id)
    }

    /// An existing container's directory, locked (waits for another
    /// verb on the same ID to finish).
    pub fn lock(&self, id: &str) -> Result<Entry, Error> {
        let fd = match openat(
            &self.fd,
            id,
            OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Err(does_not_exist(id)),
            Err(e) => {
                return Err(Error::sys(
                    format!("open {}", self.root.join(id).display()),
                    e,
                ))
            }
        };
        let fd = flock_fd(fd, id)?;
        // A `delete` that held the lock before us removed the directory.
        if nix::sys::stat::fstat(&fd)
            .map(|s| s.st_nlink == 0)
            .unwrap_or(true)
        {
            return Err(does_not_exist(id));
        }
        Ok(Entry {
            id: id.to_string(),
            path: self.root.join(id),
            fd,
        })
    }

    /// The IDs of every container here, sorted.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(&self.root)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    }
}

fn flock_fd(fd: OwnedFd, id: &str) -> Result<OwnedFd, Error> {
    // nix's Flock type owns the file; we keep the raw lock on our fd.
    // SAFETY: flock(2) on a descriptor we own; no memory is involved.
    let r = unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX) };
    if r != 0 {
        return Err(Error::sys(format!("lock container {id}"), Errno::last()));
    }
    Ok(fd)
}

/// The error callers match on: "does not exist".
pub fn does_not_exist(id: &str) -> Error {
    Error::Usage(format!("container {id} does not exist"))
}

/// One container's directory, locked while this lives.
pub struct Entry {
    pub id: String,
    pub path: PathBuf,
    fd: OwnedFd,
}

impl Entry {
    pub fn fifo_path(&self) -> PathBuf {
        self.path.join(FIFO)
    }

    pub fn read(&self) -> Result<Saved, Error> {
        let text = std::fs::read(self.path.join(STATE)).map_err(|e| match e.kind() {
            // Created but never finished: what `create` left on a failure
            // it could not clean up, or a create still running.
            std::io::ErrorKind::NotFound => does_not_exist(&self.id),
            _ => Error::Usage(format!(
                "{}: {}",
                self.path.join(STATE).display(),
                io_why(&e)
            )),
        })?;
        serde_json::from_slice(&text).map_err(|e| {
            Error::Usage(format!(
                "{}: not a state file of ours: {e}",
                self.path.join(STATE).display()
            ))
        })
    }

    /// Write `state.json` atomically.
    pub fn write(&self, saved: &Saved) -> Result<(), Error> {
        let text = serde_json::to_vec(saved)
            .map_err(|e| Error::Usage(format!("encode the state: {e}")))?;
        let tmp = format!(".{STATE}.tmp");
        let what = |e: Errno| Error::sys(format!("write {}", self.path.join(STATE).display()), e);
        let fd = openat(
            &self.fd,
            tmp.as_str(),
            OFlag::O_WRONLY
                | OFlag::O_CREAT
                | OFlag::O_TRUNC
                | OFlag::O_CLOEXEC
                | OFlag::O_NOFOLLOW,
            Mode::from_bits_truncate(0o600),
        )
        .map_err(what)?;
        let mut file = std::fs::File::from(fd);
        file.write_all(&text)
            .and_then(|()| file.sync_data())
            .map_err(|e| what(Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))))?;
        nix::fcntl::renameat(&self.fd, tmp.as_str(), &self.fd, STATE).map_err(what)
    }

    /// Remove the directory and everything we put in it.
    pub fn remove(self) -> Result<(), Error> {
        for name in [STATE, FIFO, ".state.json.tmp", "exec.pid"] {
            let _ = nix::unistd::unlinkat(&self.fd, name, nix::unistd::UnlinkatFlags::NoRemoveDir);
        }
        std::fs::remove_dir(&self.path)
            .map_err(|e| Error::Usage(format!("remove {}: {}", self.path.display(), io_why(&e))))
    }
}

const STATE: &str = "state.json";
const FIFO: &str = "exec.fifo";

/// The start time of `pid` (field 22 of /proc/PID/stat), and whether it
/// is a zombie; `None` when there is no such process.
pub fn proc_start(pid: i32) -> Option<(u64, bool)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Pure part of [`proc_start`]: the fields after the command name, which
/// may itself hold spaces and parentheses.
pub fn parse_stat(text: &str) -> Option<(u64, bool)> {
    let after = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // fields[0] is field 3 (state); starttime is field 22.
    let state = fields.first()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((start, *state == "Z" || *state == "X"))
}

impl Saved {
    /// The status now: stopped once the process is gone (or its pid is
    /// another process's), created while the start FIFO exists.
    pub fn status(&self, fifo: &Path) -> Status {
        if !self.alive() {
            return Status::Stopped;
        }
        if fifo.exists() {
            Status::Created
        } else {
            Status::Running
        }
    }

    /// The container's process still runs (not a zombie, same start time).
    pub fn alive(&self) -> bool {
        self.pid > 0
            && matches!(proc_start(self.pid), Some((start, false)) if start == self.start_time)
    }

    /// The OCI state JSON.
    pub fn oci_json(&self, status: Status) -> serde_json::Value {
        serde_json::json!({
            "ociVersion": self.oci_version,
            "id": self.id,
            "status": status.as_str(),
            "pid": if status == Status::Stopped { 0 } else { self.pid },
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": "",
            "annotations": self.annotations,
        })
    }
}

/// Now, in RFC 3339 (UTC, nanoseconds).
pub fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(d.as_secs(), d.subsec_nanos())
}

/// `secs` after the epoch (and `nanos`) as `YYYY-MM-DDTHH:MM:SS.NNNNNNNNNZ`.
pub fn rfc3339(secs: u64, nanos: u32) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Make the start FIFO in the container's directory and open it
/// read-write (a FIFO opened so never blocks): the container's process
/// holds this descriptor and reads one byte from it to start; `start`
/// opens the FIFO write-only without blocking, which fails with ENXIO
/// once no process holds it.
pub fn make_fifo(entry: &Entry) -> Result<OwnedFd, Error> {
    let what = |e: Errno| Error::sys(format!("make {}", entry.fifo_path().display()), e);
    nix::unistd::mkfifoat(&entry.fd, FIFO, Mode::from_bits_truncate(0o600)).map_err(what)?;
    openat(
        &entry.fd,
        FIFO,
        OFlag::O_RDWR | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        Mode::empty(),
    )
    .map_err(what)
}

/// `start`: one byte into the FIFO, then remove it (the status becomes
/// running). `Ok(false)` when nothing holds the FIFO any more (the
/// container's process died).
pub fn release_fifo(entry: &Entry) -> Result<bool, Error> {
    let fd = match openat(
        &entry.fd,
        FIFO,
        OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENXIO) => return Ok(false),
        Err(e) => {
            return Err(Error::sys(
                format!("open {}", entry.fifo_path().display()),
                e,
            ))
        }
    };
    let r = nix::unistd::write(&fd, b"s");
    let _ = nix::unistd::unlinkat(&entry.fd, FIFO, nix::unistd::UnlinkatFlags::NoRemoveDir);
    match r {
        Ok(1) => Ok(true),
        Ok(_) | Err(Errno::EPIPE) => Ok(false),
        Err(e) => Err(Error::sys(
            format!("write {}", entry.fifo_path().display()),
            e,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(rfc3339(1_796_563_395, 0), "2026-12-06T13:23:15.000000000Z");
        assert_eq!(rfc3339(4_107_542_399, 0), "2100-02-28T23:59:59.000000000Z");
    }

    #[test]
    fn stat_fields_survive_odd_command_names() {
        let line =
            "4242 (a b) c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 200";
        assert_eq!(parse_stat(line), Some((987_654, false)));
        let zombie = "7 (sh) Z 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55 0 0";
        assert_eq!(parse_stat(zombie), Some((55, true)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn default_roots() {
        assert_eq!(
            default_root(0, true, Some("/run/user/0")),
            Path::new("/run/nslaunch")
        );
        assert_eq!(
            default_root(0, false, Some("/run/user/1000")),
            Path::new("/run/user/1000/nslaunch")
        );
        assert_eq!(
            default_root(1000, true, Some("/run/user/1000")),
            Path::new("/run/user/1000/nslaunch")
        );
        assert_eq!(
            default_root(1000, true, None),
            Path::new("/tmp/nslaunch-1000")
        );
    }

    #[test]
    fn a_live_process_is_running_and_a_dead_one_stopped() {
        let me = std::process::id() as i32;
        let (start, zombie) = proc_start(me).unwrap();
        assert!(!zombie);
        let mut s = Saved {
            oci_version: OCI_VERSION.into(),
            id: "x".into(),
            pid: me,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: now_rfc3339(),
            annotations: BTreeMap::new(),
            owner: 0,
            start_time: start,
            own_pid_ns: true,
            hooks: None,
            cgroup: None,
        };
        assert_eq!(s.status(Path::new("/nonexistent")), Status::Running);
        assert_eq!(s.status(Path::new("/")), Status::Created);
        s.start_time += 1;
        assert_eq!(s.status(Path::new("/")), Status::Stopped);
        let round: Saved = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(round, s);
    }
}
