//! Unpacking a root filesystem archive into a fresh directory, safely
//! against hostile archives (see docs/DESIGN-NOTES.md, "Unpacking").
//!
//! The `tar` crate reads the format: 512-byte blocks, checksums, numeric
//! fields, GNU sparse maps. Everything that touches the filesystem is
//! here, relative to directory descriptors:
//!
//! - an entry's name is split into components; `..` is refused, `.` and
//!   empty ones (a leading `/`) are dropped, so absolute names land inside
//!   the rootfs, as GNU tar does by default;
//! - its parent directory is opened with `openat2(RESOLVE_IN_ROOT)`
//!   relative to the rootfs: a symlink unpacked earlier, absolute or full
//!   of `..`, is followed as the container would follow it, inside the
//!   rootfs, never to the host; a missing piece is made with `mkdirat` and
//!   opened with `O_NOFOLLOW`, so a symlink to nowhere is refused;
//! - the last component is never followed: whatever is there is removed
//!   first (`unlinkat`), and the file is created with `O_CREAT | O_EXCL |
//!   O_NOFOLLOW`, so no earlier symlink or hard link is written through;
//! - a hard link's target is resolved the same way, inside the rootfs;
//! - device nodes are skipped (a rootless user cannot make them, and a
//!   node in a cache is a door to the host's disks); FIFOs are made;
//! - extension headers (GNU long names, pax records) are read here, with
//!   size caps, so a hostile header cannot make us allocate gigabytes;
//! - before each entry is made, the free space and free inodes are
//!   checked: an entry that would fill the disk or use its last inodes
//!   stops the unpack (empty files and directories too);
//! - an archive may hold at most [`MAX_ENTRIES`] entries and
//!   [`MAX_METADATA`] bytes of names, link targets, extension headers and
//!   data that is skipped, and the directories kept for the final pass
//!   at most [`MAX_DIRS_KEPT`] bytes of paths: a small (compressed)
//!   archive cannot make us spend unbounded time, memory or inodes on
//!   entries that write no data;
//! - the data of each file must be complete, and the archive must end with
//!   tar's end-of-archive blocks: a truncated archive is an error.
//!
//! Directories are made owner-writable while unpacking; their own modes,
//! owners and times are set at the end, deepest first.

use std::collections::HashMap;
use std::ffi::CString;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{
    fchmod, fchmodat, fstatat, futimens, mkdirat, mknodat, utimensat, FchmodatFlags, Mode, SFlag,
    UtimensatFlags,
};
use nix::sys::statvfs::fstatvfs;
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, Gid, Uid};
use shared::sys;
use tar::EntryType;

/// The most an extension header may hold: a GNU long name or link (the
/// kernel's PATH_MAX is 4096), a pax record set.
const MAX_LONG_NAME: u64 = 64 * 1024;
const MAX_PAX: u64 = 1024 * 1024;
/// Entry names longer than this cannot be made on Linux anyway.
const MAX_PATH: usize = 4095;
/// The most entries an archive may hold: a Debian rootfs has about
/// 20,000, a large image a few hundred thousand.
pub const MAX_ENTRIES: u64 = 1_000_000;
/// The most bytes of headers, names, link targets, GNU long names, pax
/// records and skipped data an archive may hold, all entries together (a
/// Debian rootfs: about 15 MB, mostly its 512-byte headers).
pub const MAX_METADATA: u64 = 1 << 30;
/// The most bytes of directory paths kept for the final pass (which sets
/// their modes, owners and times): a Debian rootfs keeps about 200 kB.
pub const MAX_DIRS_KEPT: usize = 256 << 20;

/// What the unpack did.
#[derive(Debug, Default)]
pub struct Unpacked {
    /// Entries made (files, directories, links, FIFOs).
    pub entries: u64,
    /// Bytes of file data written.
    pub bytes: u64,
    /// Device nodes skipped.
    pub devices: Skipped,
    /// Entries of other kinds skipped (volume labels and the like).
    pub others: Skipped,
}

/// Entries skipped: how many, and the first few names (to show).
#[derive(Debug, Default)]
pub struct Skipped {
    pub count: u64,
    pub first: Vec<String>,
}

impl Skipped {
    fn add(&mut self, name: String) {
        self.count += 1;
        if self.first.len() < 3 {
            self.first.push(name);
        }
    }
}

/// The directories seen, with the metadata they get at the end, and the
/// bytes their paths take.
#[derive(Default)]
struct Dirs {
    map: HashMap<Vec<u8>, Attrs>,
    bytes: usize,
}

impl Dirs {
    /// Keep `attrs` for the directory `path` (replacing what was kept),
    /// or only when there is none yet with `!replace`.
    fn keep(&mut self, path: Vec<u8>, attrs: Attrs, replace: bool) -> Result<(), String> {
        if let Some(old) = self.map.get_mut(&path) {
            if replace {
                *old = attrs;
            }
            return Ok(());
        }
        self.bytes += path.len() + std::mem::size_of::<Attrs>();
        if self.bytes > MAX_DIRS_KEPT {
            return Err(format!(
                "more than {} of directory paths, the most an unpack keeps",
                human(MAX_DIRS_KEPT as u64)
            ));
        }
        self.map.insert(path, attrs);
        Ok(())
    }
}

/// What the whole archive has spent: entries, and bytes of metadata (see
/// [`MAX_ENTRIES`], [`MAX_METADATA`]).
#[derive(Default)]
struct Budget {
    entries: u64,
    metadata: u64,
}

impl Budget {
    fn entry(&mut self) -> Result<(), String> {
        self.entries += 1;
        if self.entries > MAX_ENTRIES {
            return Err(format!(
                "more than {MAX_ENTRIES} entries, the most nslaunch unpacks \
                 (a Debian rootfs has about 20000)"
            ));
        }
        Ok(())
    }

    fn metadata(&mut self, bytes: u64) -> Result<(), String> {
        self.metadata = self.metadata.saturating_add(bytes);
        if self.metadata > MAX_METADATA {
            return Err(format!(
                "more than {} of headers, names, link targets and extension records, \
                 the most nslaunch reads",
                human(MAX_METADATA)
            ));
        }
        Ok(())
    }
}

/// The compression of an archive, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Xz,
    Zstd,
}

/// Which decompressor the archive needs, from its magic bytes; plain tar
/// otherwise (the tar reader then says whether it is one).
pub fn detect(head: &[u8]) -> Result<Compression, String> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Compression::Gzip)
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Ok(Compression::Xz)
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Ok(Compression::Zstd)
    } else if head.starts_with(b"BZh") {
        Err("bzip2 is not supported: use a .tar, .tar.gz, .tar.xz or .tar.zst".into())
    } else {
        Ok(Compression::None)
    }
}

/// Whether the first bytes (up to 512) of a file look like an archive we
/// can read: a compressed one by its magic, a tar by its header's magic
/// (`ustar`) or checksum (old tar).
pub fn looks_like_archive(head: &[u8]) -> bool {
    match detect(head) {
        Ok(Compression::None) => {}
        Ok(_) | Err(_) => return true,
    }
    if head.len() < 512 {
        return false;
    }
    if &head[257..262] == b"ustar" {
        return true;
    }
    let digits = std::str::from_utf8(&head[148..156])
        .unwrap_or("")
        .trim_matches(|c| c == ' ' || c == '\0');
    let Ok(stored) = u32::from_str_radix(digits, 8) else {
        return false;
    };
    let sum: u32 = head[..148]
        .iter()
        .chain(&head[156..512])
        .map(|b| u32::from(*b))
        .sum::<u32>()
        + 8 * u32::from(b' ');
    !digits.is_empty() && stored == sum
}

/// The decompressed stream of `raw`.
pub fn decompress<'a, R: io::BufRead + 'a>(
    raw: R,
    kind: Compression,
) -> Result<Box<dyn Read + 'a>, String> {
    Ok(match kind {
        Compression::None => Box::new(raw),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(raw)),
        Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(raw)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(raw).map_err(|e| format!("zstd: {e}"))?,
        ),
    })
}

/// An entry name as path components inside the rootfs: empty and `.`
/// components dropped (so `/etc/x` and `./etc/x` are `etc/x`), `..`
/// refused. An empty result is the rootfs itself.
pub fn components(name: &[u8]) -> Result<Vec<&[u8]>, String> {
    if name.len() > MAX_PATH {
        return Err(format!("a name longer than {MAX_PATH} bytes"));
    }
    if name.contains(&0) {
        return Err("a name with a NUL byte".into());
    }
    let mut out = Vec::new();
    for c in name.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err("\"..\" in a name (it could point outside the rootfs)".into()),
            c => out.push(c),
        }
    }
    Ok(out)
}

fn join(parts: &[&[u8]]) -> Vec<u8> {
    parts.join(&b'/')
}

fn cstr(bytes: &[u8]) -> Result<CString, String> {
    CString::new(bytes).map_err(|_| "a name with a NUL byte".to_string())
}

/// A reader that remembers whether its source ran dry, to tell an archive
/// that ends with tar's end-of-archive blocks from one cut short.
struct Watch<R> {
    inner: R,
    hit_end: bool,
}

impl<R: Read> Read for Watch<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.hit_end = true;
        }
        Ok(n)
    }
}

/// Metadata kept for a directory until the end.
#[derive(Debug, Clone, Copy)]
struct Attrs {
    mode: u32,
    owner: Option<(u32, u32)>,
    mtime: i64,
}

/// Extension headers seen before the entry they describe.
#[derive(Default)]
struct Pending {
    name: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    uid: Option<u64>,
    gid: Option<u64>,
    mtime: Option<i64>,
}

/// Unpack the tar stream `stream` into the empty directory open on
/// `root`. With `keep_owners` (real root), files get the archive's owners;
/// otherwise they belong to the caller. `tick` is called often, for a
/// progress display. An `Err` names the entry and why; the caller removes
/// the half-made directory.
pub fn unpack<R: Read>(
    stream: R,
    root: &OwnedFd,
    keep_owners: bool,
    tick: &mut dyn FnMut(),
) -> Result<Unpacked, String> {
    let mut archive = tar::Archive::new(Watch {
        inner: stream,
        hit_end: false,
    });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut state = Unpacker {
        root,
        keep_owners,
        now,
        pending: Pending::default(),
        dirs: Dirs::default(),
        budget: Budget::default(),
        done: Unpacked::default(),
        tick,
    };
    {
        let entries = archive
            .entries()
            .map_err(|e| format!("not a tar archive: {e}"))?
            .raw(true);
        for entry in entries {
            let entry = entry.map_err(|e| format!("not a valid tar archive: {e}"))?;
            (state.tick)();
            state.one_entry(entry)?;
        }
    }
    if archive.into_inner().hit_end {
        return Err("the archive ends without tar's end-of-archive blocks: truncated?".into());
    }
    set_dir_attrs(root, &state.dirs.map)?;
    Ok(state.done)
}

/// Read a whole extension header, at most `cap` bytes.
fn read_capped<R: Read>(
    entry: &mut tar::Entry<R>,
    cap: u64,
    what: &str,
) -> Result<Vec<u8>, String> {
    let size = entry.size();
    if size > cap {
        return Err(format!(
            "a {what} of {size} bytes (at most {cap} are accepted)"
        ));
    }
    let mut v = Vec::with_capacity(size as usize);
    entry
        .read_to_end(&mut v)
        .map_err(|e| format!("reading a {what}: {e}"))?;
    if v.len() as u64 != size {
        return Err(format!("a {what} cut short: truncated archive?"));
    }
    Ok(v)
}

fn trim_nuls(mut v: Vec<u8>) -> Vec<u8> {
    while v.last() == Some(&0) {
        v.pop();
    }
    v
}

/// What an entry makes, by its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    /// A regular file (or a contiguous one, the same thing here).
    File,
    Symlink,
    HardLink,
    Fifo,
    /// A character or block device: skipped.
    Device,
    /// A GNU sparse file: refused.
    Sparse,
    /// Anything else (volume labels, multi-volume pieces...): skipped.
    Other,
}

impl Kind {
    fn of(t: EntryType) -> Kind {
        match t {
            EntryType::Directory => Kind::Dir,
            EntryType::Regular | EntryType::Continuous => Kind::File,
            EntryType::Symlink => Kind::Symlink,
            EntryType::Link => Kind::HardLink,
            EntryType::Fifo => Kind::Fifo,
            EntryType::Char | EntryType::Block => Kind::Device,
            EntryType::GNUSparse => Kind::Sparse,
            _ => Kind::Other,
        }
    }
}

/// The owner an archive gives (`uid`, `gid`) as ids we can set: each must
/// fit in 32 bits and not be -1 (which chown takes as "leave as is").
fn valid_owner(uid: u64, gid: u64) -> Result<(u32, u32), String> {
    let id = |v: u64| u32::try_from(v).ok().filter(|v| *v != u32::MAX);
    match (id(uid), id(gid)) {
        (Some(u), Some(g)) => Ok((u, g)),
        _ => Err(format!("owner {uid}:{gid} is not a valid id")),
    }
}

/// An entry's mode, owner (with `keep_owners`) and time, from its header
/// and the pax records before it (`p`), which win.
fn attrs_of(header: &tar::Header, p: &Pending, keep_owners: bool) -> Result<Attrs, String> {
    let mode = header.mode().map_err(|e| e.to_string())? & 0o7777;
    let owner = if keep_owners {
        let uid = p.uid.map(Ok).unwrap_or_else(|| header.uid());
        let gid = p.gid.map(Ok).unwrap_or_else(|| header.gid());
        let (uid, gid) = (
            uid.map_err(|e| e.to_string())?,
            gid.map_err(|e| e.to_string())?,
        );
        Some(valid_owner(uid, gid)?)
    } else {
        None
    };
    let mtime = p
        .mtime
        .or_else(|| header.mtime().ok().map(|t| t as i64))
        .unwrap_or(0);
    Ok(Attrs { mode, owner, mtime })
}

/// Where an entry is made: its parent directory, open, and its last name.
struct Place {
    parent: OwnedFd,
    name: CString,
}

/// The state of one unpack: where, how, and what was seen and spent so far.
struct Unpacker<'a> {
    root: &'a OwnedFd,
    keep_owners: bool,
    /// The time new parent directories get.
    now: i64,
    pending: Pending,
    dirs: Dirs,
    budget: Budget,
    done: Unpacked,
    /// Called often, for a progress display.
    tick: &'a mut dyn FnMut(),
}

impl Unpacker<'_> {
    /// One header of the archive: an extension header is folded into
    /// `pending`; any other entry is checked and made (or skipped).
    fn one_entry<R: Read>(&mut self, mut entry: tar::Entry<R>) -> Result<(), String> {
        let kind = entry.header().entry_type();
        self.count_metadata(kind, entry.size())?;
        if self.extension(kind, &mut entry)? {
            return Ok(());
        }
        self.budget.entry()?;
        let mut p = std::mem::take(&mut self.pending);
        let raw_name = match p.name.take() {
            Some(n) => n,
            None => entry.path_bytes().into_owned(),
        };
        let shown = String::from_utf8_lossy(&raw_name).into_owned();
        let fail = |why: String| format!("{shown}: {why}");
        let parts = components(&raw_name).map_err(fail)?;
        let attrs = attrs_of(entry.header(), &p, self.keep_owners).map_err(fail)?;
        let link_name = match p.link.take() {
            Some(l) => Some(l),
            None => entry.link_name_bytes().map(|c| c.into_owned()),
        };
        let what = Kind::of(kind);
        if what == Kind::Device {
            self.done.devices.add(shown);
            return Ok(());
        }
        let Some((last, parents)) = parts.split_last() else {
            return self.root_entry(what, attrs).map_err(fail);
        };
        match what {
            Kind::Other => {
                self.done.others.add(shown);
                return Ok(());
            }
            Kind::Sparse => return Err(fail("GNU sparse files are not supported".into())),
            _ => {}
        }
        // Every entry takes an inode (a hard link aside) and may take
        // blocks, empty ones too.
        if what != Kind::HardLink {
            let size = if what == Kind::File { entry.size() } else { 0 };
            check_room(self.root, size).map_err(fail)?;
        }
        let at = Place {
            parent: dir_in_root(self.root, parents, true, self.now, &mut self.dirs)
                .map_err(fail)?,
            name: cstr(last).map_err(fail)?,
        };
        let made = self
            .make(what, &at, &parts, attrs, link_name, &mut entry)
            .map_err(fail)?;
        if made {
            self.done.entries += 1;
        }
        Ok(())
    }

    /// Count a header against [`MAX_METADATA`], and with it every byte
    /// read that is not a file's data (an extension header's records,
    /// data skipped); an extension header's size is checked against its
    /// own cap later.
    fn count_metadata(&mut self, kind: EntryType, size: u64) -> Result<(), String> {
        let skipped_data = match kind {
            EntryType::Regular | EntryType::Continuous => 0,
            _ => size,
        };
        self.budget.metadata(512)?;
        self.budget.metadata(skipped_data)
    }

    /// Fold an extension header (a GNU long name or link, pax records)
    /// into `pending`, for the entry after it; false for any other entry.
    fn extension<R: Read>(
        &mut self,
        kind: EntryType,
        entry: &mut tar::Entry<R>,
    ) -> Result<bool, String> {
        match kind {
            EntryType::GNULongName => {
                let v = read_capped(entry, MAX_LONG_NAME, "GNU long name")?;
                self.pending.name = Some(trim_nuls(v));
            }
            EntryType::GNULongLink => {
                let v = read_capped(entry, MAX_LONG_NAME, "GNU long link name")?;
                self.pending.link = Some(trim_nuls(v));
            }
            EntryType::XHeader => {
                let v = read_capped(entry, MAX_PAX, "pax header")?;
                apply_pax(&v, &mut self.pending)?;
            }
            // Global pax records (a comment, a creation time): nothing for us.
            EntryType::XGlobalHeader => {}
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The archive's "./": the rootfs itself, which must be a directory;
    /// it gets its attributes at the end.
    fn root_entry(&mut self, what: Kind, attrs: Attrs) -> Result<(), String> {
        if what != Kind::Dir {
            return Err("the archive's root is not a directory".into());
        }
        self.dirs.keep(Vec::new(), attrs, true)
    }

    /// Make the entry of kind `what` at `at` (`parts`: its whole path);
    /// false when there was nothing to make (a hard link already there).
    fn make<R: Read>(
        &mut self,
        what: Kind,
        at: &Place,
        parts: &[&[u8]],
        attrs: Attrs,
        link_name: Option<Vec<u8>>,
        entry: &mut tar::Entry<R>,
    ) -> Result<bool, String> {
        match what {
            Kind::Dir => {
                make_dir(at)?;
                self.dirs.keep(join(parts), attrs, true)?;
            }
            Kind::File => self.done.bytes += make_file(at, entry, attrs, self.tick)?,
            Kind::Symlink => make_symlink(at, link_name, attrs)?,
            Kind::HardLink => return self.make_hard_link(at, link_name),
            Kind::Fifo => make_fifo(at, attrs)?,
            Kind::Device | Kind::Sparse | Kind::Other => unreachable!("filtered before"),
        }
        Ok(true)
    }

    /// A hard link to `target`, an entry made before, found inside the
    /// rootfs as any other path; false when `at` is that file already.
    fn make_hard_link(&mut self, at: &Place, target: Option<Vec<u8>>) -> Result<bool, String> {
        let target = target.ok_or("a hard link without a target")?;
        let shown_target = String::from_utf8_lossy(&target).into_owned();
        let tparts = components(&target).map_err(|why| format!("links to {why}"))?;
        let Some((tlast, tparents)) = tparts.split_last() else {
            return Err("a hard link to the rootfs itself".into());
        };
        let missing = || {
            format!(
                "a hard link to {shown_target}, which is not in the rootfs (the archive \
                 must hold it before the link)"
            )
        };
        let tdir = dir_in_root(self.root, tparents, false, self.now, &mut self.dirs)
            .map_err(|_| missing())?;
        let tname = cstr(tlast)?;
        let target_st = fstatat(&tdir, tname.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
            .map_err(|_| missing())?;
        if file_type(target_st.st_mode) == SFlag::S_IFDIR {
            return Err(format!("a hard link to the directory {shown_target}"));
        }
        if let Ok(st) = fstatat(&at.parent, at.name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
            if (st.st_dev, st.st_ino) == (target_st.st_dev, target_st.st_ino) {
                return Ok(false);
            }
        }
        replace(&at.parent, &at.name, false)?;
        nix::unistd::linkat(
            &tdir,
            tname.as_c_str(),
            &at.parent,
            at.name.as_c_str(),
            AtFlags::empty(),
        )
        .map_err(|e| errno("link", e))?;
        Ok(true)
    }
}

/// "what: its errno's text", for an entry's error.
fn errno(what: &str, e: Errno) -> String {
    format!("{what}: {}", e.desc())
}

/// A directory, made owner-only (its own mode comes at the end), or the
/// one already there kept.
fn make_dir(at: &Place) -> Result<(), String> {
    if !replace(&at.parent, &at.name, true)? {
        mkdirat(
            &at.parent,
            at.name.as_c_str(),
            Mode::from_bits_truncate(0o700),
        )
        .map_err(|e| errno("mkdir", e))?;
    }
    Ok(())
}

/// A regular file with the entry's data, owner, mode and time; returns
/// the bytes written (all of them, or an error).
fn make_file<R: Read>(
    at: &Place,
    entry: &mut tar::Entry<R>,
    attrs: Attrs,
    tick: &mut dyn FnMut(),
) -> Result<u64, String> {
    let size = entry.size();
    replace(&at.parent, &at.name, false)?;
    let fd = nix::fcntl::openat(
        &at.parent,
        at.name.as_c_str(),
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )
    .map_err(|e| errno("create", e))?;
    let mut file = std::fs::File::from(fd);
    let written = copy(entry, &mut file, tick)?;
    if written != size {
        return Err(format!(
            "only {written} of its {size} bytes are in the archive: truncated?"
        ));
    }
    if let Some((u, g)) = attrs.owner {
        fchown(&file, Some(Uid::from_raw(u)), Some(Gid::from_raw(g)))
            .map_err(|e| errno("chown", e))?;
    }
    // After chown, which clears the setuid and setgid bits.
    fchmod(&file, Mode::from_bits_truncate(attrs.mode)).map_err(|e| errno("chmod", e))?;
    let t = TimeSpec::new(attrs.mtime, 0);
    futimens(file.as_fd(), &t, &t).map_err(|e| errno("set its time", e))?;
    Ok(written)
}

/// A symlink to `target` (kept as it is: it is resolved inside the
/// rootfs whenever it is followed), with the entry's owner and time.
fn make_symlink(at: &Place, target: Option<Vec<u8>>, attrs: Attrs) -> Result<(), String> {
    let target = target.ok_or("a symlink without a target")?;
    let target = cstr(&target)?;
    replace(&at.parent, &at.name, false)?;
    nix::unistd::symlinkat(target.as_c_str(), &at.parent, at.name.as_c_str())
        .map_err(|e| errno("symlink", e))?;
    chown_at(&at.parent, &at.name, attrs.owner).map_err(|e| errno("chown", e))?;
    let t = TimeSpec::new(attrs.mtime, 0);
    utimensat(
        &at.parent,
        at.name.as_c_str(),
        &t,
        &t,
        UtimensatFlags::NoFollowSymlink,
    )
    .map_err(|e| errno("set its time", e))
}

/// A FIFO, with the entry's owner and mode.
fn make_fifo(at: &Place, attrs: Attrs) -> Result<(), String> {
    replace(&at.parent, &at.name, false)?;
    mknodat(
        &at.parent,
        at.name.as_c_str(),
        SFlag::S_IFIFO,
        Mode::from_bits_truncate(0o600),
        0,
    )
    .map_err(|e| errno("mkfifo", e))?;
    chown_at(&at.parent, &at.name, attrs.owner).map_err(|e| errno("chown", e))?;
    // A FIFO we just made in our own private directory: following
    // is the same as not (and AT_SYMLINK_NOFOLLOW needs Linux 6.6).
    fchmodat(
        &at.parent,
        at.name.as_c_str(),
        Mode::from_bits_truncate(attrs.mode),
        FchmodatFlags::FollowSymlink,
    )
    .map_err(|e| errno("chmod", e))
}

/// Fold one pax header's records into `pending` (the entry after it).
fn apply_pax(data: &[u8], pending: &mut Pending) -> Result<(), String> {
    let number = |v: &[u8], key: &str| -> Result<u64, String> {
        std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("pax header: a bad {key}"))
    };
    for ext in tar::PaxExtensions::new(data) {
        let ext = ext.map_err(|e| format!("pax header: {e}"))?;
        match ext.key_bytes() {
            b"path" => pending.name = Some(ext.value_bytes().to_vec()),
            b"linkpath" => pending.link = Some(ext.value_bytes().to_vec()),
            b"uid" => pending.uid = Some(number(ext.value_bytes(), "uid")?),
            b"gid" => pending.gid = Some(number(ext.value_bytes(), "gid")?),
            b"mtime" => {
                // Seconds, maybe with a fraction (which we drop).
                let v = ext.value_bytes();
                let whole = v.split(|b| *b == b'.').next().unwrap_or(v);
                let neg = whole.first() == Some(&b'-');
                let n = number(if neg { &whole[1..] } else { whole }, "mtime")? as i64;
                pending.mtime = Some(if neg { -n } else { n });
            }
            // A pax size would change how much data follows the next
            // header, which the tar reader does not know in raw mode.
            b"size" => {
                return Err("a pax size record (a file over 8 GiB?) is not supported".to_string())
            }
            k if k.starts_with(b"GNU.sparse") => {
                return Err("pax sparse files are not supported".to_string())
            }
            _ => {}
        }
    }
    Ok(())
}

fn file_type(mode: libc::mode_t) -> SFlag {
    SFlag::from_bits_truncate(mode & SFlag::S_IFMT.bits())
}

/// Make room for a new entry at `name` in `parent`, never following it:
/// a file, symlink or FIFO there is removed; an empty directory too, or,
/// with `keep_dir`, any directory is kept (returns true then).
fn replace(parent: &OwnedFd, name: &CString, keep_dir: bool) -> Result<bool, String> {
    match fstatat(parent, name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
        Err(Errno::ENOENT) => Ok(false),
        Err(e) => Err(format!("stat: {}", e.desc())),
        Ok(st) if file_type(st.st_mode) == SFlag::S_IFDIR => {
            if keep_dir {
                return Ok(true);
            }
            nix::unistd::unlinkat(
                parent,
                name.as_c_str(),
                nix::unistd::UnlinkatFlags::RemoveDir,
            )
            .map_err(|e| match e {
                Errno::ENOTEMPTY | Errno::EEXIST => {
                    "replaces a directory that is not empty".to_string()
                }
                e => format!("remove the directory there: {}", e.desc()),
            })?;
            Ok(false)
        }
        Ok(_) => {
            nix::unistd::unlinkat(
                parent,
                name.as_c_str(),
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            )
            .map_err(|e| format!("remove what is there: {}", e.desc()))?;
            Ok(false)
        }
    }
}

const RESOLVE: u64 = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;

/// Open the directory `parts` inside the rootfs, resolving every symlink
/// inside it (`RESOLVE_IN_ROOT`). With `create`, missing directories are
/// made (owner-only until the end, then 0755) and opened without
/// following anything.
fn dir_in_root(
    root: &OwnedFd,
    parts: &[&[u8]],
    create: bool,
    now: i64,
    dirs: &mut Dirs,
) -> Result<OwnedFd, String> {
    let open = |k: usize| -> Result<OwnedFd, Errno> {
        let path = if k == 0 {
            CString::from(c".")
        } else {
            CString::new(join(&parts[..k])).map_err(|_| Errno::EINVAL)?
        };
        sys::openat2(
            root.as_raw_fd(),
            &path,
            libc::O_PATH | libc::O_DIRECTORY,
            0,
            RESOLVE,
        )
    };
    let shown = |k: usize| String::from_utf8_lossy(&join(&parts[..k])).into_owned();
    // The longest prefix that exists.
    let mut k = parts.len();
    let mut dir = loop {
        match open(k) {
            Ok(fd) => break fd,
            Err(Errno::ENOENT) if create && k > 0 => k -= 1,
            Err(Errno::ENOTDIR) => {
                return Err(format!("{} is not a directory", shown(k)));
            }
            Err(e) => return Err(format!("open {}: {}", shown(k), e.desc())),
        }
    };
    for i in k..parts.len() {
        let name = cstr(parts[i])?;
        match mkdirat(&dir, name.as_c_str(), Mode::from_bits_truncate(0o700)) {
            Ok(()) => {
                let attrs = Attrs {
                    mode: 0o755,
                    owner: None,
                    mtime: now,
                };
                dirs.keep(join(&parts[..=i]), attrs, false)?;
            }
            Err(Errno::EEXIST) => {}
            Err(e) => return Err(format!("mkdir {}: {}", shown(i + 1), e.desc())),
        }
        dir = nix::fcntl::openat(
            &dir,
            name.as_c_str(),
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            Errno::ELOOP | Errno::ENOTDIR => format!(
                "{} is a symlink to nothing in the rootfs (resolved inside it, never on the host)",
                shown(i + 1)
            ),
            e => format!("open {}: {}", shown(i + 1), e.desc()),
        })?;
    }
    Ok(dir)
}

/// Refuse an entry of `size` bytes (0 for anything but a file's data)
/// when writing it would leave less than 1% of the cache's filesystem
/// (at most 1 GiB) free, or making it would leave less than 1% of its
/// inodes (at most 100,000) free. Filesystems that do not count inodes
/// (btrfs, tmpfs without nr_inodes) report none: no inode check there.
fn check_room(root: &OwnedFd, size: u64) -> Result<(), String> {
    let Ok(vfs) = fstatvfs(root) else {
        return Ok(());
    };
    let block = vfs.fragment_size();
    let free = vfs.blocks_available().saturating_mul(block);
    let total = vfs.blocks().saturating_mul(block);
    let reserve = (total / 100).min(1 << 30);
    if size.saturating_add(reserve) > free {
        return Err(format!(
            "needs {}, but only {} are free in the cache (an unpack never fills the disk)",
            human(size),
            human(free)
        ));
    }
    let (files, files_free) = (vfs.files(), vfs.files_available());
    if files > 0 && files_free <= (files / 100).min(100_000) {
        return Err(format!(
            "only {files_free} free inodes are left on the cache's filesystem (an unpack \
             never takes the last 1%)"
        ));
    }
    Ok(())
}

/// A size for people: 512 B, 3.4 MB, 1.2 GB.
pub fn human(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// Copy an entry's data into `out`; returns how much came.
fn copy(
    from: &mut dyn Read,
    out: &mut std::fs::File,
    tick: &mut dyn FnMut(),
) -> Result<u64, String> {
    let mut buf = vec![0u8; 128 * 1024];
    let mut total = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("reading the archive: {e}")),
        };
        out.write_all(&buf[..n])
            .map_err(|e| format!("write: {}", shared::report::io_why(&e)))?;
        total += n as u64;
        tick();
    }
}

/// Give every directory its own mode, owner and time, deepest first (so a
/// read-only parent does not stop its children), the rootfs last.
fn set_dir_attrs(root: &OwnedFd, dirs: &HashMap<Vec<u8>, Attrs>) -> Result<(), String> {
    let mut list: Vec<(&Vec<u8>, &Attrs)> = dirs.iter().collect();
    list.sort_by_key(|(path, _)| {
        std::cmp::Reverse(
            path.iter().filter(|b| **b == b'/').count() + usize::from(!path.is_empty()),
        )
    });
    let mut scratch = Dirs::default();
    for (path, attrs) in list {
        let shown = String::from_utf8_lossy(path).into_owned();
        let fd = if path.is_empty() {
            nix::fcntl::openat(
                root,
                c".",
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| format!("open the rootfs: {}", e.desc()))?
        } else {
            let parts: Vec<&[u8]> = path.split(|b| *b == b'/').collect();
            let (last, parents) = parts.split_last().expect("not empty");
            // Replaced by a later entry, or moved under a symlink: skip.
            let Ok(parent) = dir_in_root(root, parents, false, 0, &mut scratch) else {
                continue;
            };
            let name = cstr(last)?;
            match nix::fcntl::openat(
                &parent,
                name.as_c_str(),
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => fd,
                Err(_) => continue,
            }
        };
        let errno = |what: &str, e: Errno| format!("{shown}/: {what}: {}", e.desc());
        if let Some((u, g)) = attrs.owner {
            fchown(&fd, Some(Uid::from_raw(u)), Some(Gid::from_raw(g)))
                .map_err(|e| errno("chown", e))?;
        }
        fchmod(&fd, Mode::from_bits_truncate(attrs.mode)).map_err(|e| errno("chmod", e))?;
        let t = TimeSpec::new(attrs.mtime, 0);
        futimens(fd.as_fd(), &t, &t).map_err(|e| errno("set its time", e))?;
    }
    Ok(())
}

/// Give `name` in `parent` the archive's owner, when we keep owners; never
/// through a symlink.
fn chown_at(
    parent: &OwnedFd,
    name: &std::ffi::CStr,
    owner: Option<(u32, u32)>,
) -> Result<(), Errno> {
    match owner {
        Some((u, g)) => fchownat(
            parent,
            name,
            Some(Uid::from_raw(u)),
            Some(Gid::from_raw(g)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        ),
        None => Ok(()),
    }
}

#[cfg(test)]
#[path = "unpack_fuzz.rs"]
mod fuzz;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_components_inside_the_rootfs() {
        let c = |s: &str| {
            components(s.as_bytes()).map(|v| {
                v.iter()
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(c("./etc/passwd").unwrap(), ["etc", "passwd"]);
        assert_eq!(c("/etc//x/./y/").unwrap(), ["etc", "x", "y"]);
        assert!(c("./").unwrap().is_empty());
        assert!(c("").unwrap().is_empty());
        assert!(c("../x").is_err());
        assert!(c("a/../../x").is_err());
        assert!(c("/..").is_err());
        assert_eq!(c("a/..b/c..").unwrap(), ["a", "..b", "c.."]);
        assert!(components(&vec![b'a'; 5000]).is_err());
    }

    #[test]
    fn compression_by_magic() {
        assert_eq!(detect(&[0x1f, 0x8b, 8]).unwrap(), Compression::Gzip);
        assert_eq!(
            detect(&[0xfd, b'7', b'z', b'X', b'Z', 0, 0]).unwrap(),
            Compression::Xz
        );
        assert_eq!(
            detect(&[0x28, 0xb5, 0x2f, 0xfd, 1]).unwrap(),
            Compression::Zstd
        );
        assert_eq!(detect(b"etc/\0\0\0").unwrap(), Compression::None);
        assert!(detect(b"BZh91AY").unwrap_err().contains("bzip2"));
        assert!(looks_like_archive(&[0x1f, 0x8b, 8]));
        assert!(!looks_like_archive(b""));
        assert!(!looks_like_archive(&[b'\x7f'; 600]));
        let mut h = [0u8; 512];
        h[..5].copy_from_slice(b"hello");
        assert!(!looks_like_archive(&h));
        h[257..263].copy_from_slice(b"ustar\0");
        assert!(looks_like_archive(&h));
        // An old tar header: no magic, a right checksum.
        let mut old = [0u8; 512];
        old[..3].copy_from_slice(b"abc");
        let sum: u32 = old.iter().map(|b| u32::from(*b)).sum::<u32>() + 8 * 32;
        old[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        assert!(looks_like_archive(&old));
    }

    #[test]
    fn sizes_for_people() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(3_400_000), "3.4 MB");
        assert_eq!(human(1 << 40), "1.1 TB");
    }

    /// A pax record: "LEN key=value\n", LEN counting itself.
    fn record(key: &str, value: &str) -> String {
        let body = format!(" {key}={value}\n");
        let mut len = body.len() + 1;
        while format!("{len}{body}").len() != len {
            len += 1;
        }
        format!("{len}{body}")
    }

    #[test]
    fn entry_types_sort_into_kinds() {
        for (t, k) in [
            (EntryType::Directory, Kind::Dir),
            (EntryType::Regular, Kind::File),
            (EntryType::Continuous, Kind::File),
            (EntryType::Symlink, Kind::Symlink),
            (EntryType::Link, Kind::HardLink),
            (EntryType::Fifo, Kind::Fifo),
            (EntryType::Char, Kind::Device),
            (EntryType::Block, Kind::Device),
            (EntryType::GNUSparse, Kind::Sparse),
            (EntryType::new(b'V'), Kind::Other),
            (EntryType::new(b'M'), Kind::Other),
        ] {
            assert_eq!(Kind::of(t), k, "{t:?}");
        }
    }

    #[test]
    fn owners_must_be_ids_chown_can_set() {
        assert_eq!(valid_owner(0, 0), Ok((0, 0)));
        assert_eq!(valid_owner(1000, 100), Ok((1000, 100)));
        assert_eq!(
            valid_owner(u64::from(u32::MAX) - 1, 0),
            Ok((u32::MAX - 1, 0))
        );
        // -1 means "leave as is" to chown; above 32 bits does not fit.
        for (u, g) in [
            (u64::from(u32::MAX), 0),
            (0, u64::from(u32::MAX)),
            (1 << 32, 0),
        ] {
            let e = valid_owner(u, g).unwrap_err();
            assert_eq!(e, format!("owner {u}:{g} is not a valid id"));
        }
    }

    #[test]
    fn attributes_come_from_the_header_and_pax_records_win() {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o104755 | 0o170000);
        h.set_uid(1000);
        h.set_gid(100);
        h.set_mtime(1_600_000_000);
        let a = attrs_of(&h, &Pending::default(), true).unwrap();
        assert_eq!(a.mode, 0o4755, "the file type bits are dropped");
        assert_eq!(a.owner, Some((1000, 100)));
        assert_eq!(a.mtime, 1_600_000_000);
        let rootless = attrs_of(&h, &Pending::default(), false).unwrap();
        assert_eq!(rootless.owner, None, "owners only when kept");
        let p = Pending {
            uid: Some(70000),
            gid: Some(5),
            mtime: Some(-3),
            ..Default::default()
        };
        let a = attrs_of(&h, &p, true).unwrap();
        assert_eq!((a.owner, a.mtime), (Some((70000, 5)), -3));
        let p = Pending {
            uid: Some(u64::from(u32::MAX)),
            ..Default::default()
        };
        assert!(attrs_of(&h, &p, true)
            .unwrap_err()
            .contains("not a valid id"));
        assert!(attrs_of(&h, &p, false).is_ok(), "not checked when not kept");
    }

    #[test]
    fn pax_records_describe_the_next_entry() {
        let mut p = Pending::default();
        let data = record("path", "a/very/long/name/x")
            + &record("uid", "4242")
            + &record("mtime", "1700000000.5");
        apply_pax(data.as_bytes(), &mut p).unwrap();
        assert_eq!(p.name.as_deref(), Some(&b"a/very/long/name/x"[..]));
        assert_eq!(p.uid, Some(4242));
        assert_eq!(p.mtime, Some(1_700_000_000));
        assert!(apply_pax(record("size", "99999999").as_bytes(), &mut p).is_err());
        assert!(apply_pax(record("uid", "x").as_bytes(), &mut p).is_err());
    }
}
