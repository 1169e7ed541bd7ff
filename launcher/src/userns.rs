//! The one place that writes a child's `/proc/<pid>/uid_map`, `gid_map` and
//! `setgroups`.

use std::io::Write;

use nix::errno::Errno;
use nix::unistd::{getegid, geteuid};
use shared::idmap::{self, IdRange};

use crate::error::Error;

/// The maps a container gets: for an unprivileged user, the user and its
/// primary group are root inside (`0 <uid> 1`); for real root, the whole
/// id space maps onto itself for now (container root is host root).
pub fn default_maps() -> (Vec<IdRange>, Vec<IdRange>, bool) {
    let (uid, gid) = (geteuid().as_raw(), getegid().as_raw());
    if uid == 0 {
        (vec![idmap::IDENTITY], vec![idmap::IDENTITY], true)
    } else {
        // An unprivileged process may map only its own ids, and only after
        // giving up setgroups(2) in the namespace.
        (vec![idmap::root_is(uid)], vec![idmap::root_is(gid)], false)
    }
}

/// Write the maps of the child `pid`. `allow_setgroups` false writes
/// "deny" to setgroups first, which the kernel requires before an
/// unprivileged gid_map.
pub fn write_maps(
    pid: i32,
    uid_map: &[IdRange],
    gid_map: &[IdRange],
    allow_setgroups: bool,
) -> Result<(), Error> {
    if !allow_setgroups {
        write_proc(pid, "setgroups", "deny")?;
    }
    write_proc(pid, "uid_map", &lines(uid_map))?;
    write_proc(pid, "gid_map", &lines(gid_map))?;
    Ok(())
}

fn lines(map: &[IdRange]) -> String {
    map.iter().map(IdRange::line).collect()
}

fn write_proc(pid: i32, file: &str, text: &str) -> Result<(), Error> {
    let path = format!("/proc/{pid}/{file}");
    // One write(2): the kernel takes a map only whole, in a single write.
    let result = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    result.map_err(|e| {
        let errno = Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
        Error::Sys {
            op: format!("write {:?} to {path}", text.trim_end()),
            errno,
            hint: None,
        }
    })
}
