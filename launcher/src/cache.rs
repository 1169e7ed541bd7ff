//! The per-user cache of unpacked root filesystems (`--rootfs FILE.tar`)
//! and `nslaunch cache ls|prune|rm`.
//!
//! Layout, under `$XDG_CACHE_HOME/nslaunch` (else `~/.cache/nslaunch`),
//! mode 0700:
//!
//! ```text
//! rootfs/<sha256 of the archive>/root    the unpacked tree (never changed)
//! rootfs/<sha256 of the archive>/info    source=, size=, files=, unpacked=
//! rootfs/.tmp-<sha256>-<pid>/            an unpack in progress
//! rootfs/.trash-<sha256>-<pid>/          an entry being removed
//! index/<dev>-<inode>                    an archive's sha256, by its stat
//! ```
//!
//! An entry is keyed by its archive's content, so a renamed or copied
//! archive finds it, and a changed one gets a new one. It is unpacked into
//! a `.tmp-` directory and renamed into place (`RENAME_NOREPLACE`) only
//! when complete, so a failure or a kill never leaves a half-made entry;
//! leftovers are removed by the next unpack or by `cache prune`.
//!
//! Trust: every directory from "/" down to the cache must belong to root
//! or the caller and be writable by no one else (a sticky directory such
//! as /tmp aside), and the cache itself is the caller's, mode 0700 (see
//! [`Cache::open`]); after that check everything is done relative to the
//! descriptors it opened, never by path, and nothing is ever followed. As
//! real root, the container gets the entry it locked as a detached mount
//! made from that lock's descriptor, not its path (see `main.rs`).
//!
//! The index (`index/`) spares a launch reading and hashing the archive
//! again: it maps an archive's (device, inode, size, mtime, ctime) to its
//! SHA-256. Any write to the file moves its mtime and ctime, and no user
//! can set a ctime; a stamp is recorded only when the ctime is at least
//! [`RACY`] older than the hashing, so a change made within the same
//! timestamp tick cannot hide behind it (git's "racily clean" rule). The
//! index lives in the same checked cache: only the caller (or root) can
//! write it.
//!
//! Locks (`flock`): a run holds a shared lock on its entry for as long as
//! the container lives; an unpack holds an exclusive one on its `.tmp-`
//! directory; `prune` and `rm` take an exclusive one without waiting, and
//! leave alone what they cannot lock.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{BufReader, IsTerminal, Read, Seek, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag};
use nix::sys::stat::{FileStat, Mode};
use sha2::{Digest, Sha256};
use shared::log::Log;

use crate::error::{io_why, Error};
use crate::unpack;

/// A cached rootfs in use: its path, a descriptor of exactly the
/// directory that was locked (`O_PATH`), and the shared lock that keeps
/// `cache prune` away from it while the container runs.
pub struct Entry {
    pub root: String,
    pub root_fd: OwnedFd,
    _lock: Flock<File>,
}

/// `$XDG_CACHE_HOME/nslaunch` (an absolute one), else
/// `$HOME/.cache/nslaunch`.
pub fn base_dir() -> Result<PathBuf, String> {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| Path::new(x).is_absolute()) {
        return Ok(PathBuf::from(x).join("nslaunch"));
    }
    match std::env::var_os("HOME").filter(|h| Path::new(h).is_absolute()) {
        Some(home) => Ok(PathBuf::from(home).join(".cache/nslaunch")),
        None => Err("no cache directory: set XDG_CACHE_HOME or HOME".into()),
    }
}

/// The cache, opened and checked.
pub struct Cache {
    /// Its real path (symlinks resolved), for messages and nsinit.
    path: PathBuf,
    /// `rootfs/` and `index/`, each open `O_RDONLY`.
    rootfs: OwnedFd,
    index: OwnedFd,
}

impl Cache {
    /// Open the cache, made first (mode 0700) with `create`; `None`
    /// when it does not exist and `!create`. Refused when any directory
    /// above it belongs to someone other than root and the caller, or
    /// someone else may write to one (its group or anyone, unless it is
    /// sticky, as /tmp is), or when the cache is not the caller's: such
    /// a directory could be swapped under us. Its mode is made 0700.
    pub fn open(create: bool) -> Result<Option<Cache>, String> {
        let base = base_dir()?;
        let parent = base.parent().unwrap_or(Path::new("/"));
        if create {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(|e| format!("create the cache {}: {}", parent.display(), io_why(&e)))?;
        }
        let real = match std::fs::canonicalize(parent) {
            Ok(p) => p,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {}", parent.display(), io_why(&e))),
        };
        let path = real.join("nslaunch");
        let unsafe_cache =
            |why: String| format!("the cache {} is not safe to use: {why}", path.display());
        let parent_fd = checked_path(&real).map_err(unsafe_cache)?;
        let Some(base_fd) = own_dir(&parent_fd, &real, "nslaunch", create).map_err(unsafe_cache)?
        else {
            return Ok(None);
        };
        let sub = |name| {
            own_dir(&base_fd, &path, name, true)
                .map_err(unsafe_cache)?
                .ok_or_else(|| format!("{}/{name}: missing", path.display()))
        };
        Ok(Some(Cache {
            rootfs: sub("rootfs")?,
            index: sub("index")?,
            path,
        }))
    }
}

/// What a refused cache's message ends with.
const SAFE_CACHE: &str = "nslaunch uses a cache only where every directory above it belongs \
    to root or you and no one else may write to it (set XDG_CACHE_HOME to such a place)";

/// Open `real` (absolute, symlink-free) one component at a time from
/// "/", never following a link, checking each directory's owner and
/// mode; the last one's `O_PATH` descriptor.
fn checked_path(real: &Path) -> Result<OwnedFd, String> {
    let me = nix::unistd::geteuid().as_raw();
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut at = PathBuf::from("/");
    let mut fd =
        nix::fcntl::open("/", flags, Mode::empty()).map_err(|e| format!("/: {}", e.desc()))?;
    check_dir(&fd, &at, me)?;
    for c in real.components().skip(1) {
        at.push(c);
        fd = nix::fcntl::openat(&fd, c.as_os_str(), flags, Mode::empty()).map_err(|e| {
            format!(
                "{}: {} (it changed while being checked?)",
                at.display(),
                e.desc()
            )
        })?;
        check_dir(&fd, &at, me)?;
    }
    Ok(fd)
}

/// Why the directory open on `fd` (at `at`) may not hold a cache of
/// `me`'s, if it may not.
fn check_dir(fd: &OwnedFd, at: &Path, me: u32) -> Result<(), String> {
    let st = nix::sys::stat::fstat(fd).map_err(|e| format!("{}: {}", at.display(), e.desc()))?;
    dir_verdict(&st, me).map_err(|why| format!("{} {why}; {SAFE_CACHE}", at.display()))
}

/// The rule of [`check_dir`], on a `stat`.
fn dir_verdict(st: &FileStat, me: u32) -> Result<(), String> {
    if st.st_uid != 0 && st.st_uid != me {
        return Err(format!("belongs to uid {}", st.st_uid));
    }
    let sticky = st.st_mode & libc::S_ISVTX != 0;
    if st.st_mode & 0o022 != 0 && !sticky {
        let who = if st.st_mode & 0o002 != 0 {
            "anyone".to_string()
        } else {
            format!("group {}", st.st_gid)
        };
        return Err(format!(
            "may be written by {who} (mode {:o})",
            st.st_mode & 0o7777
        ));
    }
    Ok(())
}

/// The directory `name` in `parent` (at `parent_path`), made (0700) with
/// `create`: it must be a directory of the caller's, and is made mode
/// 0700 if it is not. `None` when missing and `!create`.
fn own_dir(
    parent: &OwnedFd,
    parent_path: &Path,
    name: &str,
    create: bool,
) -> Result<Option<OwnedFd>, String> {
    let at = parent_path.join(name);
    if create {
        match nix::sys::stat::mkdirat(parent, name, Mode::from_bits_truncate(0o700)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(format!("create {}: {}", at.display(), e.desc())),
        }
    }
    let fd = match nix::fcntl::openat(
        parent,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) if !create => return Ok(None),
        Err(e) => return Err(format!("{}: {}", at.display(), e.desc())),
    };
    let st = nix::sys::stat::fstat(&fd).map_err(|e| format!("{}: {}", at.display(), e.desc()))?;
    let me = nix::unistd::geteuid().as_raw();
    if st.st_uid != me {
        return Err(format!(
            "{} belongs to uid {}, not to you (uid {me})",
            at.display(),
            st.st_uid
        ));
    }
    if st.st_mode & 0o7777 != 0o700 {
        nix::sys::stat::fchmod(&fd, Mode::from_bits_truncate(0o700))
            .map_err(|e| format!("chmod 700 {}: {}", at.display(), e.desc()))?;
    }
    Ok(Some(fd))
}

/// Whether `path` is a file that looks like a (compressed) tar archive,
/// from its first block; other paths are left to the directory checks.
pub fn is_archive(path: &str) -> bool {
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return false;
    }
    let mut head = Vec::with_capacity(512);
    let read = File::open(path).and_then(|f| f.take(512).read_to_end(&mut head));
    read.is_ok() && unpack::looks_like_archive(&head)
}

/// The cached rootfs for the archive `given`, unpacked now if it is not
/// there yet. `keep_owners`: real root keeps the archive's owners.
pub fn rootfs_for(given: &str, keep_owners: bool, log: &Log) -> Result<Entry, Error> {
    // Names from the archive may hold anything: no control characters
    // reach the terminal.
    let bad = |why: String| Error::Usage(printable(&format!("--rootfs {given}: {why}")));
    let mut file = File::open(given).map_err(|e| bad(io_why(&e)))?;
    let st = nix::sys::stat::fstat(&file).map_err(|e| bad(e.desc().to_string()))?;
    let size = st.st_size as u64;
    let cache = Cache::open(true)
        .map_err(bad)?
        .ok_or_else(|| bad("the cache disappeared while being made".into()))?;
    let stamp = Stamp::of(&st);
    if let Some(hash) = stamp.look_up(&cache.index) {
        if let Some(entry) = lock_entry(&cache, &hash).map_err(bad)? {
            log.info(format_args!(
                "the tarball's device, inode, size and times are in the cache's index: \
                 sha256 {}, not read again",
                &hash[..12]
            ));
            return Ok(entry);
        }
    }
    let started = SystemTime::now();
    let hash = log
        .step("read and hash the tarball (sha256)", || {
            hash_file(&mut file)
        })
        .map_err(|e| bad(format!("read: {}", io_why(&e))))?;
    stamp.record(&cache.index, &hash, started);
    // Another run may unpack the same archive at the same time, or a
    // prune remove the entry between our look and our lock: try again.
    for _ in 0..3 {
        if let Some(entry) = lock_entry(&cache, &hash).map_err(bad)? {
            return Ok(entry);
        }
        remove_stale(&cache.rootfs);
        let source = std::fs::canonicalize(given)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| given.to_string());
        file.rewind().map_err(|e| bad(io_why(&e)))?;
        unpack_into_cache(&cache, &hash, &mut file, size, &source, keep_owners).map_err(bad)?;
    }
    Err(bad(format!(
        "the cache entry {} keeps disappearing (a prune running in a loop?)",
        &hash[..12]
    )))
}

/// How long before hashing an archive's ctime must be for its stamp to
/// be recorded (see the module's notes): longer than any timestamp
/// granularity (a jiffy; NFS and FAT are coarser).
const RACY: Duration = Duration::from_secs(2);

/// What identifies an archive's content without reading it: the index key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: i64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(st: &FileStat) -> Stamp {
        Stamp {
            dev: st.st_dev,
            ino: st.st_ino,
            size: st.st_size,
            mtime: (st.st_mtime, st.st_mtime_nsec),
            ctime: (st.st_ctime, st.st_ctime_nsec),
        }
    }

    /// The index file's name.
    fn key(&self) -> String {
        format!("{:x}-{:x}", self.dev, self.ino)
    }

    /// The index file's text: the stamp and the hash.
    fn text(&self, hash: &str) -> String {
        format!(
            "size={}\nmtime={}.{:09}\nctime={}.{:09}\nsha256={hash}\n",
            self.size, self.mtime.0, self.mtime.1, self.ctime.0, self.ctime.1
        )
    }

    /// The hash recorded for exactly this stamp, if any.
    fn look_up(&self, index: &OwnedFd) -> Option<String> {
        let fd = nix::fcntl::openat(
            index,
            self.key().as_str(),
            OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        let mut text = String::new();
        File::from(fd).take(4096).read_to_string(&mut text).ok()?;
        let hash = text.lines().find_map(|l| l.strip_prefix("sha256="))?;
        let valid = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
        (valid && text == self.text(hash)).then(|| hash.to_string())
    }

    /// Record `hash` for this stamp, unless the ctime is too close to
    /// `started` (when the hashing began) to tell a later change in the
    /// same tick. Best effort: an index that cannot be written only
    /// costs the next launch a read.
    fn record(&self, index: &OwnedFd, hash: &str, started: SystemTime) {
        let ctime = UNIX_EPOCH + Duration::new(self.ctime.0.max(0) as u64, self.ctime.1 as u32);
        if started.duration_since(ctime).map_or(true, |age| age < RACY) {
            return;
        }
        let tmp = format!(".tmp-{}-{}", self.key(), std::process::id());
        let written = nix::fcntl::openat(
            index,
            tmp.as_str(),
            OFlag::O_WRONLY
                | OFlag::O_CREAT
                | OFlag::O_TRUNC
                | OFlag::O_NOFOLLOW
                | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        )
        .map(File::from)
        .is_ok_and(|mut f| f.write_all(self.text(hash).as_bytes()).is_ok());
        if !written
            || nix::fcntl::renameat(index, tmp.as_str(), index, self.key().as_str()).is_err()
        {
            let _ =
                nix::unistd::unlinkat(index, tmp.as_str(), nix::unistd::UnlinkatFlags::NoRemoveDir);
        }
    }
}

/// `s` with control characters (escape sequences, newlines) as `?`.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The SHA-256 of the whole file, as hex.
fn hash_file(file: &mut File) -> std::io::Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn open_dir_at(dir: &impl AsFd, name: &str) -> Result<File, Errno> {
    nix::fcntl::openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map(File::from)
}

/// The entry `hash`, locked shared, if it is there.
fn lock_entry(cache: &Cache, hash: &str) -> Result<Option<Entry>, String> {
    let dir_fd = &cache.rootfs;
    let f = match open_dir_at(dir_fd, hash) {
        Ok(f) => f,
        Err(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(format!("open the cache entry {hash}: {}", e.desc())),
    };
    let lock = Flock::lock(f, FlockArg::LockShared)
        .map_err(|(_, e)| format!("lock the cache entry {hash}: {}", e.desc()))?;
    // A prune may have renamed it away while we waited for the lock.
    let still = nix::sys::stat::fstatat(dir_fd, hash, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW);
    let ours = nix::sys::stat::fstat(lock.as_fd()).map_err(|e| e.desc().to_string())?;
    if !still.is_ok_and(|s| (s.st_dev, s.st_ino) == (ours.st_dev, ours.st_ino)) {
        return Ok(None);
    }
    // The tree itself, from the locked directory, not by path.
    let root_fd = nix::fcntl::openat(
        &*lock,
        "root",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("open the cache entry {hash}/root: {}", e.desc()))?;
    // Last use, for `cache ls`.
    let now = nix::sys::time::TimeSpec::UTIME_NOW;
    let _ = nix::sys::stat::utimensat(
        &*lock,
        "info",
        &now,
        &now,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    );
    Ok(Some(Entry {
        root: cache
            .path
            .join("rootfs")
            .join(hash)
            .join("root")
            .display()
            .to_string(),
        root_fd,
        _lock: lock,
    }))
}

/// Unpack `file` into `.tmp-<hash>-<pid>`, then rename it to `<hash>`.
/// When another run got there first, ours is thrown away; so is ours on
/// any failure.
fn unpack_into_cache(
    cache: &Cache,
    hash: &str,
    file: &mut File,
    size: u64,
    source: &str,
    keep_owners: bool,
) -> Result<(), String> {
    let dir_fd = &cache.rootfs;
    let tmp_name = format!(".tmp-{hash}-{}", std::process::id());
    let tmp = cache.path.join("rootfs").join(&tmp_name);
    let _ = remove_tree(dir_fd, OsStr::new(&tmp_name));
    nix::sys::stat::mkdirat(dir_fd, tmp_name.as_str(), Mode::from_bits_truncate(0o700))
        .map_err(|e| format!("create {}: {}", tmp.display(), e.desc()))?;
    let result = (|| {
        let tmp_fd = open_dir_at(dir_fd, &tmp_name).map_err(|e| e.desc().to_string())?;
        let busy = Flock::lock(tmp_fd, FlockArg::LockExclusiveNonblock)
            .map_err(|(_, e)| format!("lock {}: {}", tmp.display(), e.desc()))?;
        let done = fill_entry(&busy, &tmp, hash, file, size, source, keep_owners)?;
        for note in skipped_notes(source, &done, keep_owners) {
            eprintln!("{note}");
        }
        rename_into_place(dir_fd, &tmp_name, hash, &tmp)
    })();
    if result != Ok(true) {
        let _ = remove_tree(dir_fd, OsStr::new(&tmp_name));
    }
    result.map(|_| ())
}

/// Fill the locked `.tmp-` directory `busy` (at `tmp`): the tree in
/// `root`, then the `info` file.
fn fill_entry(
    busy: &Flock<File>,
    tmp: &Path,
    hash: &str,
    file: &mut File,
    size: u64,
    source: &str,
    keep_owners: bool,
) -> Result<unpack::Unpacked, String> {
    nix::sys::stat::mkdirat(&**busy, "root", Mode::from_bits_truncate(0o700))
        .map_err(|e| format!("create {}/root: {}", tmp.display(), e.desc()))?;
    let root = open_dir_at(&**busy, "root")
        .map(OwnedFd::from)
        .map_err(|e| e.desc().to_string())?;
    let started = SystemTime::now();
    let done = unpack_file(file, size, &root, hash, source, keep_owners)?;
    let unpacked = started
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let info = info_text(source, size, &done, unpacked);
    nix::fcntl::openat(
        &**busy,
        "info",
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )
    .map(File::from)
    .map_err(std::io::Error::from)
    .and_then(|mut f| f.write_all(info.as_bytes()))
    .map_err(|e| format!("write info: {}", io_why(&e)))?;
    Ok(done)
}

/// An entry's `info` file: where it came from, how big, how many files,
/// and when it was unpacked (`unpacked`, Unix seconds).
fn info_text(source: &str, size: u64, done: &unpack::Unpacked, unpacked: u64) -> String {
    format!(
        "source={source}\nsize={size}\nfiles={}\nbytes={}\nunpacked={unpacked}\n",
        done.entries, done.bytes
    )
}

/// The lines that say which entries of the archive were not unpacked
/// (device nodes, entries of other kinds), if any.
fn skipped_notes(source: &str, done: &unpack::Unpacked, keep_owners: bool) -> Vec<String> {
    let mut notes = Vec::new();
    if done.devices.count > 0 {
        notes.push(format!(
            "nslaunch: --rootfs {source}: skipped {} device node{} ({}): the container gets \
             its own /dev{}",
            done.devices.count,
            if done.devices.count == 1 { "" } else { "s" },
            printable(&shown_list(&done.devices)),
            if keep_owners {
                ""
            } else {
                ", and a rootless unpack cannot make them"
            }
        ));
    }
    if done.others.count > 0 {
        notes.push(format!(
            "nslaunch: --rootfs {source}: skipped {} entr{} of a kind a rootfs has no use \
             for ({})",
            done.others.count,
            if done.others.count == 1 { "y" } else { "ies" },
            printable(&shown_list(&done.others))
        ));
    }
    notes
}

/// Rename the finished `tmp_name` (at `tmp`) to `hash`, never over an
/// entry: false when another run finished the same archive first (then
/// theirs is used).
fn rename_into_place(
    dir_fd: &OwnedFd,
    tmp_name: &str,
    hash: &str,
    tmp: &Path,
) -> Result<bool, String> {
    match nix::fcntl::renameat2(
        dir_fd,
        tmp_name,
        dir_fd,
        hash,
        nix::fcntl::RenameFlags::RENAME_NOREPLACE,
    ) {
        Ok(()) => Ok(true),
        Err(Errno::EEXIST | Errno::ENOTEMPTY) => Ok(false),
        Err(e) => Err(format!("rename {} into place: {}", tmp.display(), e.desc())),
    }
}

fn shown_list(skipped: &unpack::Skipped) -> String {
    let mut s = skipped.first.join(", ");
    if skipped.count > skipped.first.len() as u64 {
        s.push_str(", ...");
    }
    s
}

/// Decompress and unpack `file`, checking that what was unpacked is the
/// archive that was hashed (it could change on disk in between).
fn unpack_file(
    file: &mut File,
    size: u64,
    root: &OwnedFd,
    hash: &str,
    source: &str,
    keep_owners: bool,
) -> Result<unpack::Unpacked, String> {
    let state = std::rc::Rc::new(std::cell::RefCell::new((Sha256::new(), 0u64)));
    let reader = Tee {
        file: file.try_clone().map_err(|e| io_why(&e))?,
        state: state.clone(),
    };
    let mut raw = BufReader::with_capacity(256 * 1024, reader);
    let head = std::io::BufRead::fill_buf(&mut raw)
        .map_err(|e| format!("read: {}", io_why(&e)))?
        .to_vec();
    let kind = unpack::detect(&head)?;
    let stream = unpack::decompress(raw, kind)?;
    let mut progress = Progress::new(source, size);
    let mut tick = || progress.show(state.borrow().1);
    let done = unpack::unpack(stream, root, keep_owners, &mut tick).map_err(|why| match kind {
        unpack::Compression::None => why,
        _ => why.replace(
            "not a valid tar archive: ",
            "not a valid compressed tar archive: ",
        ),
    });
    progress.clear();
    let done = done?;
    // The rest of the file (padding after the end-of-archive blocks),
    // read through the same offset (the clone shares it), then the check.
    let mut rest = Tee {
        file: file.try_clone().map_err(|e| io_why(&e))?,
        state: state.clone(),
    };
    std::io::copy(&mut rest, &mut std::io::sink()).map_err(|e| io_why(&e))?;
    let got = hex(&state.borrow().0.clone().finalize());
    if got != hash {
        return Err("the archive changed while it was being unpacked; try again".into());
    }
    Ok(done)
}

/// A reader that hashes and counts what passes through.
struct Tee {
    file: File,
    state: std::rc::Rc<std::cell::RefCell<(Sha256, u64)>>,
}

impl Read for Tee {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        let mut s = self.state.borrow_mut();
        s.0.update(&buf[..n]);
        s.1 += n as u64;
        Ok(n)
    }
}

/// "unpacking x.tar.gz: 42% (1.4 MB of 3.4 MB)" on stderr, rewritten in
/// place, when stderr is a terminal and the unpack takes more than a
/// moment.
struct Progress {
    name: String,
    total: u64,
    started: Instant,
    last: Option<Instant>,
    tty: bool,
    delay: Duration,
}

impl Progress {
    fn new(source: &str, total: u64) -> Progress {
        let name = Path::new(source)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| source.to_string());
        // NSLAUNCH_PROGRESS_DELAY_MS: how long before it shows (tests).
        let delay = std::env::var("NSLAUNCH_PROGRESS_DELAY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(700);
        Progress {
            name,
            total,
            started: Instant::now(),
            last: None,
            tty: std::io::stderr().is_terminal(),
            delay: Duration::from_millis(delay),
        }
    }

    fn show(&mut self, read: u64) {
        if !self.tty || self.started.elapsed() < self.delay {
            return;
        }
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < Duration::from_millis(100))
        {
            return;
        }
        self.last = Some(now);
        let pct = (read.min(self.total) * 100)
            .checked_div(self.total)
            .unwrap_or(100);
        let _ = write!(
            std::io::stderr(),
            "\r\x1b[Knslaunch: unpacking {}: {pct}% ({} of {})",
            self.name,
            unpack::human(read.min(self.total)),
            unpack::human(self.total)
        );
    }

    fn clear(&mut self) {
        if self.last.is_some() {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
        }
    }
}

/// Remove the stale leftovers of unpacks and removals that died (their
/// lock is free).
fn remove_stale(dir_fd: &OwnedFd) -> (u32, u64) {
    let mut count = (0, 0);
    for name in list(dir_fd) {
        if name.starts_with(".tmp-") || name.starts_with(".trash-") {
            if let Ok(f) = open_dir_at(dir_fd, &name) {
                if let Ok(lock) = Flock::lock(f, FlockArg::LockExclusiveNonblock) {
                    let size = tree_size(&*lock);
                    if remove_tree(dir_fd, OsStr::new(&name)).is_ok() {
                        count.0 += 1;
                        count.1 += size;
                    }
                }
            }
        }
    }
    count
}

/// The names in a directory, "." and ".." aside, as UTF-8 (the cache's
/// own names; others are not ours).
fn list(dir_fd: &impl AsFd) -> Vec<String> {
    list_raw(dir_fd)
        .into_iter()
        .filter_map(|n| n.into_string().ok())
        .collect()
}

/// The names in a directory, "." and ".." aside, whatever bytes they are
/// (an archive's names need not be UTF-8).
fn list_raw(dir_fd: &impl AsFd) -> Vec<std::ffi::OsString> {
    let Ok(fd) = nix::fcntl::openat(
        dir_fd,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) else {
        return Vec::new();
    };
    let Ok(mut d) = nix::dir::Dir::from_fd(fd) else {
        return Vec::new();
    };
    let mut out: Vec<std::ffi::OsString> = d
        .iter()
        .flatten()
        .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_os_string())
        .filter(|n| n != "." && n != "..")
        .collect();
    out.sort();
    out
}

/// Remove `name` in `dir` and everything under it, relative to
/// descriptors and never following a link: each name is opened with
/// `O_PATH | O_NOFOLLOW` (a symlink opens as itself) and only what that
/// descriptor shows to be a directory is walked into; a directory we may
/// not read or write (an archive's mode 0555 or 0000) is opened up
/// through that descriptor ([`open_to_empty`]), never by its name.
pub fn remove_tree(dir: &impl AsFd, name: &OsStr) -> Result<(), Errno> {
    use nix::unistd::{unlinkat, UnlinkatFlags};
    let fd = nix::fcntl::openat(
        dir,
        name,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let st = nix::sys::stat::fstat(&fd)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        // Whatever is there now is unlinked, not followed; a directory
        // swapped in meanwhile makes this fail (EISDIR).
        return unlinkat(dir, name, UnlinkatFlags::NoRemoveDir);
    }
    let sub = open_to_empty(&fd, &st)?;
    for child in list_raw(&sub) {
        remove_tree(&sub, &child)?;
    }
    unlinkat(dir, name, UnlinkatFlags::RemoveDir)
}

/// A readable descriptor of the directory open (`O_PATH`) on `fd`, made
/// owner-writable first when we are not root and it is not: chmod
/// through `/proc/self/fd/N`, which names exactly that directory (it
/// cannot be a symlink: `fd` was opened `O_NOFOLLOW` and is a
/// directory), then "." relative to it.
fn open_to_empty(fd: &OwnedFd, st: &FileStat) -> Result<OwnedFd, Errno> {
    if !nix::unistd::geteuid().is_root() && st.st_mode & 0o700 != 0o700 {
        let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
        nix::sys::stat::fchmodat(
            nix::fcntl::AT_FDCWD,
            path.as_str(),
            Mode::from_bits_truncate(0o700),
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )?;
    }
    nix::fcntl::openat(
        fd,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// Bytes used by the files under `dir` (by their size; hard links once).
fn tree_size(dir: &impl AsFd) -> u64 {
    fn walk(dir: &OwnedFd, seen: &mut std::collections::HashSet<(u64, u64)>) -> u64 {
        let mut total = 0;
        for name in list_raw(dir) {
            let Ok(st) = nix::sys::stat::fstatat(
                dir,
                name.as_os_str(),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            ) else {
                continue;
            };
            if !seen.insert((st.st_dev, st.st_ino)) {
                continue;
            }
            total += st.st_blocks as u64 * 512;
            if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                if let Ok(sub) = nix::fcntl::openat(
                    dir,
                    name.as_os_str(),
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                ) {
                    total += walk(&sub, seen);
                }
            }
        }
        total
    }
    let Ok(fd) = nix::fcntl::openat(
        dir,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) else {
        return 0;
    };
    walk(&fd, &mut Default::default())
}

/// One cache entry, for `cache ls`.
struct Listed {
    hash: String,
    source: String,
    size: u64,
    unpacked: u64,
    used: u64,
    in_use: bool,
}

fn entries(dir_fd: &OwnedFd) -> Vec<Listed> {
    let mut out = Vec::new();
    for name in list(dir_fd) {
        if name.len() != 64 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let Ok(f) = open_dir_at(dir_fd, &name) else {
            continue;
        };
        let info_fd = nix::fcntl::openat(
            &f,
            "info",
            OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map(File::from);
        let (mut text, mut used) = (String::new(), 0);
        if let Ok(mut info) = info_fd {
            let _ = info.read_to_string(&mut text);
            used = info.metadata().map(|m| m.mtime() as u64).unwrap_or(0);
        }
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
                .unwrap_or("")
                .to_string()
        };
        let in_use = f
            .try_clone()
            .is_ok_and(|dup| Flock::lock(dup, FlockArg::LockExclusiveNonblock).is_err());
        let size = tree_size(&f);
        out.push(Listed {
            hash: name,
            source: field("source"),
            size,
            unpacked: field("unpacked").parse().unwrap_or(0),
            used,
            in_use,
        });
    }
    out
}

/// A Unix time as "2025-01-31 14:05" (UTC).
pub fn date(secs: u64) -> String {
    if secs == 0 {
        return "-".into();
    }
    let days = (secs / 86400) as i64;
    let (hh, mm) = ((secs % 86400) / 3600, (secs % 3600) / 60);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}")
}

const CACHE_USAGE: &str = "usage: nslaunch cache ls | prune | rm HASH...

The cache of root filesystems unpacked from --rootfs FILE.tar[.gz|.xz|.zst],
in $XDG_CACHE_HOME/nslaunch (else ~/.cache/nslaunch), one entry per archive
content (its SHA-256).

  ls          list the entries: hash, size on disk, when unpacked and last
              used, whether a container uses it now, the archive it came from
  prune       remove every entry no container is using (and the leftovers of
              unpacks that were interrupted)
  rm HASH...  remove these entries (a unique prefix of the hash will do)
";

/// `nslaunch cache ...`; returns the exit status.
pub fn command(args: &[String]) -> i32 {
    match run_command(args) {
        Ok(()) => 0,
        Err(why) => {
            eprintln!("nslaunch: cache: {why}");
            shared::exit::FAILED
        }
    }
}

fn run_command(args: &[String]) -> Result<(), String> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    if matches!(words.first(), Some(&"-h" | &"--help" | &"help")) {
        print!("{CACHE_USAGE}");
        return Ok(());
    }
    let cache = Cache::open(false)?;
    let dir_fd = cache.as_ref().map(|c| &c.rootfs);
    let result = subcommand(&words, dir_fd);
    if let Some(c) = &cache {
        prune_index(c);
    }
    result
}

/// One of `ls`, `prune`, `rm HASH...` on the cache's `rootfs/` (`None`:
/// there is no cache).
fn subcommand(words: &[&str], dir_fd: Option<&OwnedFd>) -> Result<(), String> {
    match words {
        ["ls"] => {
            print!("{}", ls_table(&dir_fd.map(entries).unwrap_or_default()));
            Ok(())
        }
        ["prune"] => match dir_fd {
            Some(dir_fd) => {
                println!("{}", prune(dir_fd));
                Ok(())
            }
            None => {
                println!("nothing to prune: {} does not exist", base_dir()?.display());
                Ok(())
            }
        },
        ["rm", hashes @ ..] if !hashes.is_empty() => remove_hashes(dir_fd, hashes),
        _ => Err(format!(
            "expected ls, prune or rm HASH... ({})",
            CACHE_USAGE.lines().next().unwrap_or_default()
        )),
    }
}

/// `cache ls`: a header line, then a line per entry.
fn ls_table(list: &[Listed]) -> String {
    let mut out = format!(
        "{:<12}  {:>9}  {:<16}  {:<16}  {:<6}  SOURCE\n",
        "HASH", "SIZE", "UNPACKED", "LAST USED", "IN USE"
    );
    for e in list {
        out.push_str(&format!(
            "{:<12}  {:>9}  {:<16}  {:<16}  {:<6}  {}\n",
            &e.hash[..12],
            unpack::human(e.size),
            date(e.unpacked),
            date(e.used),
            if e.in_use { "yes" } else { "no" },
            e.source
        ));
    }
    out
}

/// `cache prune`: remove the leftovers of dead unpacks and every entry no
/// container uses; returns what it did, to print.
fn prune(dir_fd: &OwnedFd) -> String {
    let (mut removed, mut freed) = remove_stale(dir_fd);
    let mut kept = 0;
    for name in list(dir_fd) {
        if name.starts_with('.') {
            continue;
        }
        match remove_entry(dir_fd, &name) {
            Ok(size) => {
                removed += 1;
                freed += size;
            }
            Err(Busy) => kept += 1,
        }
    }
    prune_summary(removed, freed, kept)
}

/// "removed 2 entries, 3.4 MB freed; kept 1 in use by a running container"
fn prune_summary(removed: u32, freed: u64, kept: u32) -> String {
    format!(
        "removed {removed} entr{}, {} freed{}",
        if removed == 1 { "y" } else { "ies" },
        unpack::human(freed),
        if kept > 0 {
            format!("; kept {kept} in use by a running container")
        } else {
            String::new()
        }
    )
}

/// `cache rm HASH...`: remove each entry named by a unique prefix of its
/// hash; the first that cannot be removed stops the rest.
fn remove_hashes(dir_fd: Option<&OwnedFd>, hashes: &[&str]) -> Result<(), String> {
    let names = dir_fd.map(list).unwrap_or_default();
    for h in hashes {
        let name = entry_named(&names, h)?;
        let Some(dir_fd) = dir_fd else {
            unreachable!("names came from it")
        };
        match remove_entry(dir_fd, name) {
            Ok(size) => println!("removed {} ({})", &name[..12], unpack::human(size)),
            Err(Busy) => return Err(format!("{}: in use by a running container", &name[..12])),
        }
    }
    Ok(())
}

/// The entry among `names` (the cache's `rootfs/`) that `h` names: the
/// only one whose hash starts with it, and at least 4 characters.
fn entry_named<'a>(names: &'a [String], h: &str) -> Result<&'a String, String> {
    let found: Vec<&String> = names
        .iter()
        .filter(|n| !n.starts_with('.') && n.starts_with(h))
        .collect();
    match found.as_slice() {
        [one] if h.len() >= 4 => Ok(*one),
        [_] => Err(format!("{h}: give at least 4 characters of the hash")),
        [] => Err(format!("{h}: no such entry (see nslaunch cache ls)")),
        _ => Err(format!("{h}: more than one entry starts so")),
    }
}

struct Busy;

/// Drop the index records whose entry is gone (and temporary files of
/// records being written by runs that died).
fn prune_index(cache: &Cache) {
    for name in list(&cache.index) {
        let stale = match open_file_at(&cache.index, &name) {
            _ if name.starts_with(".tmp-") => !pid_alive(&name),
            Some(text) => text
                .lines()
                .find_map(|l| l.strip_prefix("sha256="))
                .map_or(true, |h| open_dir_at(&cache.rootfs, h).is_err()),
            None => true,
        };
        if stale {
            let _ = nix::unistd::unlinkat(
                &cache.index,
                name.as_str(),
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            );
        }
    }
}

/// Whether the process whose pid ends a `.tmp-...-PID` name still runs.
fn pid_alive(name: &str) -> bool {
    name.rsplit('-')
        .next()
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|p| Path::new(&format!("/proc/{p}")).exists())
}

/// A small file's text, opened without following a link.
fn open_file_at(dir: &OwnedFd, name: &str) -> Option<String> {
    let fd = nix::fcntl::openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let mut text = String::new();
    File::from(fd).take(4096).read_to_string(&mut text).ok()?;
    Some(text)
}

/// Remove one entry unless a container uses it: lock it, rename it out
/// of the way (so no new run finds it), then delete it.
fn remove_entry(dir_fd: &OwnedFd, name: &str) -> Result<u64, Busy> {
    let f = open_dir_at(dir_fd, name).map_err(|_| Busy)?;
    let lock = Flock::lock(f, FlockArg::LockExclusiveNonblock).map_err(|_| Busy)?;
    let size = tree_size(&*lock);
    let trash = format!(".trash-{name}-{}", std::process::id());
    if nix::fcntl::renameat(dir_fd, name, dir_fd, trash.as_str()).is_err() {
        return Err(Busy);
    }
    let _ = remove_tree(dir_fd, OsStr::new(&trash));
    drop(lock);
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn stat(uid: u32, mode: u32) -> FileStat {
        // SAFETY: FileStat is a plain C struct of integers; all zeroes is
        // a valid value.
        let mut st: FileStat = unsafe { std::mem::zeroed() };
        st.st_uid = uid;
        st.st_gid = 100;
        st.st_mode = libc::S_IFDIR | mode;
        st
    }

    #[test]
    fn a_cache_sits_only_under_directories_no_one_else_may_change() {
        assert!(dir_verdict(&stat(0, 0o755), 1000).is_ok());
        assert!(dir_verdict(&stat(1000, 0o700), 1000).is_ok());
        // /tmp: sticky, so others cannot rename what is ours in it.
        assert!(dir_verdict(&stat(0, 0o1777), 1000).is_ok());
        assert_eq!(
            dir_verdict(&stat(1001, 0o700), 1000).unwrap_err(),
            "belongs to uid 1001"
        );
        assert_eq!(
            dir_verdict(&stat(1001, 0o755), 0).unwrap_err(),
            "belongs to uid 1001"
        );
        assert_eq!(
            dir_verdict(&stat(0, 0o777), 0).unwrap_err(),
            "may be written by anyone (mode 777)"
        );
        assert_eq!(
            dir_verdict(&stat(1000, 0o775), 1000).unwrap_err(),
            "may be written by group 100 (mode 775)"
        );
    }

    #[test]
    fn the_index_matches_only_the_very_same_stamp() {
        let dir = std::env::temp_dir().join(format!("nslaunch-index-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let index =
            nix::fcntl::open(&dir, OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
        let hash = "ab".repeat(32);
        let stamp = Stamp {
            dev: 0xfe00,
            ino: 42,
            size: 1000,
            mtime: (1_700_000_000, 5),
            ctime: (1_700_000_000, 7),
        };
        let later = UNIX_EPOCH + Duration::from_secs(1_700_000_010);
        // Too fresh a ctime (within RACY of the hashing): not recorded.
        stamp.record(
            &index,
            &hash,
            UNIX_EPOCH + Duration::from_secs(1_700_000_001),
        );
        assert_eq!(stamp.look_up(&index), None);
        stamp.record(&index, &hash, later);
        assert_eq!(stamp.look_up(&index), Some(hash.clone()));
        for other in [
            Stamp {
                size: 1001,
                ..stamp.clone()
            },
            Stamp {
                mtime: (1_700_000_000, 6),
                ..stamp.clone()
            },
            Stamp {
                ctime: (1_700_000_001, 7),
                ..stamp.clone()
            },
        ] {
            assert_eq!(other.look_up(&index), None, "{other:?}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn remove_tree_unlinks_links_and_never_follows_them() {
        let dir = std::env::temp_dir().join(format!("nslaunch-rm-test-{}", std::process::id()));
        let victim =
            std::env::temp_dir().join(format!("nslaunch-rm-victim-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("t/sub")).unwrap();
        std::fs::write(&victim, "x").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::symlink(&victim, dir.join("t/sub/l")).unwrap();
        std::os::unix::fs::symlink(std::env::temp_dir(), dir.join("t/d")).unwrap();
        std::fs::write(dir.join(OsStr::from_bytes(b"t/sub/caf\xe9")), "").unwrap();
        std::fs::set_permissions(dir.join("t/sub"), std::fs::Permissions::from_mode(0o500))
            .unwrap();
        let fd =
            nix::fcntl::open(&dir, OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
        remove_tree(&fd, OsStr::new("t")).unwrap();
        assert!(!dir.join("t").exists());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "x");
        assert_eq!(
            std::fs::metadata(&victim).unwrap().permissions().mode() & 0o7777,
            0o640
        );
        assert!(std::env::temp_dir().exists());
        let _ = std::fs::remove_file(&victim);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn messages_are_printable() {
        assert_eq!(printable("a\x1b[2Jb\nc"), "a?[2Jb?c");
    }

    fn skipped(count: u64, first: &[&str]) -> unpack::Skipped {
        unpack::Skipped {
            count,
            first: first.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn an_entry_records_its_source_and_what_was_unpacked() {
        let done = unpack::Unpacked {
            entries: 12,
            bytes: 3400,
            ..Default::default()
        };
        assert_eq!(
            info_text("/srv/a.tar", 5120, &done, 1_700_000_000),
            "source=/srv/a.tar\nsize=5120\nfiles=12\nbytes=3400\nunpacked=1700000000\n"
        );
    }

    #[test]
    fn skipped_entries_are_named_once_each_kind() {
        let mut done = unpack::Unpacked::default();
        assert!(skipped_notes("a.tar", &done, false).is_empty());
        done.devices = skipped(1, &["dev/sda"]);
        assert_eq!(
            skipped_notes("a.tar", &done, true),
            [
                "nslaunch: --rootfs a.tar: skipped 1 device node (dev/sda): the container gets \
              its own /dev"
            ]
        );
        done.devices = skipped(5, &["dev/null", "dev/\x1b[2J", "dev/zero"]);
        done.others = skipped(2, &["label", "vol"]);
        let notes = skipped_notes("a.tar", &done, false);
        assert_eq!(notes.len(), 2);
        assert_eq!(
            notes[0],
            "nslaunch: --rootfs a.tar: skipped 5 device nodes (dev/null, dev/?[2J, dev/zero, ...): \
             the container gets its own /dev, and a rootless unpack cannot make them"
        );
        assert_eq!(
            notes[1],
            "nslaunch: --rootfs a.tar: skipped 2 entries of a kind a rootfs has no use for \
             (label, vol)"
        );
    }

    #[test]
    fn rm_takes_a_unique_prefix_of_four_characters_or_more() {
        let names: Vec<String> = [".tmp-abcd-1", "abcd01", "abce02", "ffff03"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(entry_named(&names, "abcd").unwrap(), "abcd01");
        assert_eq!(entry_named(&names, "ffff03").unwrap(), "ffff03");
        assert_eq!(
            entry_named(&names, "fff").unwrap_err(),
            "fff: give at least 4 characters of the hash"
        );
        assert_eq!(
            entry_named(&names, "abc").unwrap_err(),
            "abc: more than one entry starts so"
        );
        assert_eq!(
            entry_named(&names, ".tmp").unwrap_err(),
            ".tmp: no such entry (see nslaunch cache ls)",
            "leftovers are not entries"
        );
    }

    #[test]
    fn prune_says_what_it_freed_and_kept() {
        assert_eq!(prune_summary(0, 0, 0), "removed 0 entries, 0 B freed");
        assert_eq!(
            prune_summary(1, 3_400_000, 0),
            "removed 1 entry, 3.4 MB freed"
        );
        assert_eq!(
            prune_summary(2, 1000, 1),
            "removed 2 entries, 1.0 kB freed; kept 1 in use by a running container"
        );
    }

    #[test]
    fn ls_shows_a_line_per_entry() {
        let e = Listed {
            hash: "0123456789ab".repeat(5) + "cdef",
            source: "/srv/alpine.tar.gz".into(),
            size: 7_300_000,
            unpacked: 1_700_000_000,
            used: 0,
            in_use: true,
        };
        let table = ls_table(&[e]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("HASH          ") && lines[0].ends_with("  SOURCE"));
        assert_eq!(
            lines[1],
            "0123456789ab     7.3 MB  2023-11-14 22:13  -                 yes     /srv/alpine.tar.gz"
        );
        assert_eq!(ls_table(&[]).lines().count(), 1);
    }

    #[test]
    fn dates_in_utc() {
        assert_eq!(date(0), "-");
        assert_eq!(date(86_400), "1970-01-02 00:00");
        assert_eq!(date(1_700_000_000), "2023-11-14 22:13");
        assert_eq!(date(951_782_400), "2000-02-29 00:00");
    }
}
