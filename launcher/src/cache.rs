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
//! ```
//!
//! An entry is keyed by its archive's content, so a renamed or copied
//! archive finds it, and a changed one gets a new one. It is unpacked into
//! a `.tmp-` directory and renamed into place (`RENAME_NOREPLACE`) only
//! when complete, so a failure or a kill never leaves a half-made entry;
//! leftovers are removed by the next unpack or by `cache prune`.
//!
//! Locks (`flock`): a run holds a shared lock on its entry for as long as
//! the container lives; an unpack holds an exclusive one on its `.tmp-`
//! directory; `prune` and `rm` take an exclusive one without waiting, and
//! leave alone what they cannot lock.

use std::fs::File;
use std::io::{BufReader, IsTerminal, Read, Seek, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag};
use nix::sys::stat::Mode;
use sha2::{Digest, Sha256};

use crate::error::{io_why, Error};
use crate::unpack;

/// A cached rootfs in use: its path, and the shared lock that keeps
/// `cache prune` away from it while the container runs.
pub struct Entry {
    pub root: String,
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

fn rootfs_dir() -> Result<PathBuf, String> {
    Ok(base_dir()?.join("rootfs"))
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
pub fn rootfs_for(given: &str, keep_owners: bool) -> Result<Entry, Error> {
    // Names from the archive may hold anything: no control characters
    // reach the terminal.
    let bad = |why: String| Error::Usage(printable(&format!("--rootfs {given}: {why}")));
    let mut file = File::open(given).map_err(|e| bad(io_why(&e)))?;
    let size = file.metadata().map_err(|e| bad(io_why(&e)))?.len();
    let hash = hash_file(&mut file).map_err(|e| bad(format!("read: {}", io_why(&e))))?;
    let dir = rootfs_dir().map_err(bad)?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| {
            bad(format!(
                "create the cache {}: {}",
                dir.display(),
                io_why(&e)
            ))
        })?;
    let dir_fd = open_dir(&dir).map_err(|e| bad(format!("{}: {}", dir.display(), e.desc())))?;
    // Another run may unpack the same archive at the same time, or a
    // prune remove the entry between our look and our lock: try again.
    for _ in 0..3 {
        if let Some(entry) = lock_entry(&dir, &dir_fd, &hash).map_err(bad)? {
            return Ok(entry);
        }
        remove_stale(&dir_fd);
        let source = std::fs::canonicalize(given)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| given.to_string());
        file.rewind().map_err(|e| bad(io_why(&e)))?;
        unpack_into_cache(&dir, &dir_fd, &hash, &mut file, size, &source, keep_owners)
            .map_err(bad)?;
    }
    Err(bad(format!(
        "the cache entry {} keeps disappearing (a prune running in a loop?)",
        &hash[..12]
    )))
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

fn open_dir(path: &Path) -> Result<OwnedFd, Errno> {
    nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

fn open_dir_at(dir: &OwnedFd, name: &str) -> Result<File, Errno> {
    nix::fcntl::openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map(File::from)
}

/// The entry `hash`, locked shared, if it is there.
fn lock_entry(dir: &Path, dir_fd: &OwnedFd, hash: &str) -> Result<Option<Entry>, String> {
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
        root: dir.join(hash).join("root").display().to_string(),
        _lock: lock,
    }))
}

/// Unpack `file` into `.tmp-<hash>-<pid>`, then rename it to `<hash>`.
/// When another run got there first, ours is thrown away.
fn unpack_into_cache(
    dir: &Path,
    dir_fd: &OwnedFd,
    hash: &str,
    file: &mut File,
    size: u64,
    source: &str,
    keep_owners: bool,
) -> Result<(), String> {
    let tmp_name = format!(".tmp-{hash}-{}", std::process::id());
    let tmp = dir.join(&tmp_name);
    let _ = remove_tree(dir_fd, &tmp_name);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&tmp)
        .map_err(|e| format!("create {}: {}", tmp.display(), io_why(&e)))?;
    let result = (|| {
        let tmp_fd = open_dir_at(dir_fd, &tmp_name).map_err(|e| e.desc().to_string())?;
        let _busy = Flock::lock(tmp_fd, FlockArg::LockExclusiveNonblock)
            .map_err(|(_, e)| format!("lock {}: {}", tmp.display(), e.desc()))?;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(tmp.join("root"))
            .map_err(|e| format!("create {}/root: {}", tmp.display(), io_why(&e)))?;
        let root = open_dir(&tmp.join("root")).map_err(|e| e.desc().to_string())?;
        let started = SystemTime::now();
        let done = unpack_file(file, size, &root, hash, source, keep_owners)?;
        let info = format!(
            "source={source}\nsize={size}\nfiles={}\nbytes={}\nunpacked={}\n",
            done.entries,
            done.bytes,
            started
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        );
        std::fs::write(tmp.join("info"), info)
            .map_err(|e| format!("write info: {}", io_why(&e)))?;
        if done.devices.count > 0 {
            eprintln!(
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
            );
        }
        if done.others.count > 0 {
            eprintln!(
                "nslaunch: --rootfs {source}: skipped {} entr{} of a kind a rootfs has no use \
                 for ({})",
                done.others.count,
                if done.others.count == 1 { "y" } else { "ies" },
                printable(&shown_list(&done.others))
            );
        }
        match nix::fcntl::renameat2(
            dir_fd,
            tmp_name.as_str(),
            dir_fd,
            hash,
            nix::fcntl::RenameFlags::RENAME_NOREPLACE,
        ) {
            Ok(()) => Ok(true),
            // Another run finished the same archive first: use theirs.
            Err(Errno::EEXIST | Errno::ENOTEMPTY) => Ok(false),
            Err(e) => Err(format!("rename {} into place: {}", tmp.display(), e.desc())),
        }
    })();
    match result {
        Ok(true) => Ok(()),
        Ok(false) => {
            let _ = remove_tree(dir_fd, &tmp_name);
            Ok(())
        }
        Err(why) => {
            let _ = remove_tree(dir_fd, &tmp_name);
            Err(why)
        }
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
                    if remove_tree(dir_fd, &name).is_ok() {
                        count.0 += 1;
                        count.1 += size;
                    }
                }
            }
        }
    }
    count
}

/// The names in a directory, "." and ".." aside.
fn list(dir_fd: &OwnedFd) -> Vec<String> {
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
    let mut out: Vec<String> = d
        .iter()
        .flatten()
        .filter_map(|e| e.file_name().to_str().ok().map(str::to_string))
        .filter(|n| n != "." && n != "..")
        .collect();
    out.sort();
    out
}

/// Remove `name` in `dir` and everything under it, relative to
/// descriptors and never following a symlink; directories we may not
/// read or write (an archive's mode 0555 or 0000) are opened up first.
pub fn remove_tree(dir: &OwnedFd, name: &str) -> Result<(), Errno> {
    use nix::unistd::{unlinkat, UnlinkatFlags};
    let st = nix::sys::stat::fstatat(dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return unlinkat(dir, name, UnlinkatFlags::NoRemoveDir);
    }
    let _ = nix::sys::stat::fchmodat(
        dir,
        name,
        Mode::from_bits_truncate(0o700),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    );
    let sub = nix::fcntl::openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    for child in list(&sub) {
        remove_tree(&sub, &child)?;
    }
    unlinkat(dir, name, UnlinkatFlags::RemoveDir)
}

/// Bytes used by the files under `dir` (by their size; hard links once).
fn tree_size(dir: &impl AsFd) -> u64 {
    fn walk(dir: &OwnedFd, seen: &mut std::collections::HashSet<(u64, u64)>) -> u64 {
        let mut total = 0;
        for name in list(dir) {
            let Ok(st) = nix::sys::stat::fstatat(
                dir,
                name.as_str(),
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
                    name.as_str(),
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
    let dir = rootfs_dir()?;
    let dir_fd = match open_dir(&dir) {
        Ok(fd) => Some(fd),
        Err(Errno::ENOENT) => None,
        Err(e) => return Err(format!("{}: {}", dir.display(), e.desc())),
    };
    match words.as_slice() {
        ["ls"] => {
            let list = dir_fd.as_ref().map(entries).unwrap_or_default();
            println!(
                "{:<12}  {:>9}  {:<16}  {:<16}  {:<6}  SOURCE",
                "HASH", "SIZE", "UNPACKED", "LAST USED", "IN USE"
            );
            for e in list {
                println!(
                    "{:<12}  {:>9}  {:<16}  {:<16}  {:<6}  {}",
                    &e.hash[..12],
                    unpack::human(e.size),
                    date(e.unpacked),
                    date(e.used),
                    if e.in_use { "yes" } else { "no" },
                    e.source
                );
            }
            Ok(())
        }
        ["prune"] => {
            let Some(dir_fd) = dir_fd else {
                println!("nothing to prune: {} does not exist", dir.display());
                return Ok(());
            };
            let (mut removed, mut freed) = remove_stale(&dir_fd);
            let mut kept = 0;
            for name in list(&dir_fd) {
                if name.starts_with('.') {
                    continue;
                }
                match remove_entry(&dir_fd, &name) {
                    Ok(size) => {
                        removed += 1;
                        freed += size;
                    }
                    Err(Busy) => kept += 1,
                }
            }
            println!(
                "removed {removed} entr{}, {} freed{}",
                if removed == 1 { "y" } else { "ies" },
                unpack::human(freed),
                if kept > 0 {
                    format!("; kept {kept} in use by a running container")
                } else {
                    String::new()
                }
            );
            Ok(())
        }
        ["rm", hashes @ ..] if !hashes.is_empty() => {
            let names = dir_fd.as_ref().map(list).unwrap_or_default();
            for h in hashes {
                let found: Vec<&String> = names
                    .iter()
                    .filter(|n| !n.starts_with('.') && n.starts_with(h))
                    .collect();
                let name = match found.as_slice() {
                    [one] if h.len() >= 4 => *one,
                    [_] => return Err(format!("{h}: give at least 4 characters of the hash")),
                    [] => return Err(format!("{h}: no such entry (see nslaunch cache ls)")),
                    _ => return Err(format!("{h}: more than one entry starts so")),
                };
                let dir_fd = dir_fd.as_ref().expect("names came from it");
                match remove_entry(dir_fd, name) {
                    Ok(size) => println!("removed {} ({})", &name[..12], unpack::human(size)),
                    Err(Busy) => {
                        return Err(format!("{}: in use by a running container", &name[..12]))
                    }
                }
            }
            Ok(())
        }
        _ => Err(format!(
            "expected ls, prune or rm HASH... ({})",
            CACHE_USAGE.lines().next().unwrap_or_default()
        )),
    }
}

struct Busy;

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
    let _ = remove_tree(dir_fd, &trash);
    drop(lock);
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_printable() {
        assert_eq!(printable("a\x1b[2Jb\nc"), "a?[2Jb?c");
    }

    #[test]
    fn dates_in_utc() {
        assert_eq!(date(0), "-");
        assert_eq!(date(86_400), "1970-01-02 00:00");
        assert_eq!(date(1_700_000_000), "2023-11-14 22:13");
        assert_eq!(date(951_782_400), "2000-02-29 00:00");
    }
}
