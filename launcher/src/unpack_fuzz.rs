//! Random and mutated tar archives fed to the unpacker (an archive is untrusted input):
//! whatever the archive holds, the unpack does not panic, writes nothing
//! outside its target directory, and a refusal is one clear line.
//!
//! Archives are written here byte by byte (the `tar` crate's builder
//! refuses the hostile names that are the point): entries of every kind
//! with names and link targets drawn from pieces that climb (`..`), are
//! absolute, point at a sibling directory outside the target, or pass
//! through symlinks made earlier; GNU long names, pax records, sizes
//! that lie; then some bytes flipped, the end cut, and maybe gzip around
//! it. Bounded to a few seconds.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::{decompress, unpack, Compression};

/// Where a test case runs: `root` is the target, `outside` a sibling
/// that must never change (symlinks in the archives point at it).
struct Sandbox {
    dir: PathBuf,
}

impl Sandbox {
    fn new(n: u64) -> Sandbox {
        let dir =
            std::env::temp_dir().join(format!("nslaunch-unpack-fuzz-{}-{n}", std::process::id()));
        let _ = remove(&dir);
        fs::create_dir_all(dir.join("outside/sub")).unwrap();
        fs::write(dir.join("outside/secret"), "secret\n").unwrap();
        fs::write(dir.join("outside/sub/deeper"), "deeper\n").unwrap();
        fs::create_dir(dir.join("root")).unwrap();
        Sandbox { dir }
    }

    fn outside(&self) -> PathBuf {
        self.dir.join("outside")
    }

    fn root_fd(&self) -> OwnedFd {
        nix::fcntl::open(
            &self.dir.join("root"),
            nix::fcntl::OFlag::O_RDONLY
                | nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .unwrap()
    }

    /// Everything in the sandbox but the target: names, kinds, modes,
    /// sizes, contents, link counts, times.
    fn outside_state(&self) -> BTreeMap<PathBuf, String> {
        let mut out = BTreeMap::new();
        walk(&self.dir, &self.dir, &mut out);
        out
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = remove(&self.dir);
    }
}

/// Remove a tree whatever its modes (an archive's 0000 directories).
fn remove(dir: &Path) -> Result<(), nix::errno::Errno> {
    let parent = dir.parent().unwrap();
    let name = dir.file_name().unwrap().to_str().unwrap();
    let fd = nix::fcntl::open(
        parent,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY,
        nix::sys::stat::Mode::empty(),
    )?;
    crate::cache::remove_tree(&fd, std::ffi::OsStr::new(name))
}

fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p == base.join("root") {
            continue;
        }
        let m = fs::symlink_metadata(&p).unwrap();
        let content = if m.is_file() {
            fs::read(&p).unwrap_or_default()
        } else {
            Vec::new()
        };
        out.insert(
            p.clone(),
            format!(
                "{:o} {} {} {} {:?} {}",
                m.mode(),
                m.len(),
                m.nlink(),
                m.mtime(),
                content,
                m.uid()
            ),
        );
        if m.is_dir() {
            walk(base, &p, out);
        }
    }
}

/// One entry to write.
#[derive(Debug, Clone)]
struct Spec {
    /// tar's type flag: b'0' file, b'5' dir, b'2' symlink, b'1' hard
    /// link, b'6' FIFO, b'3' char device, b'L' GNU long name, b'x' pax,
    /// b'g' global pax, or anything.
    kind: u8,
    name: Vec<u8>,
    link: Vec<u8>,
    data: Vec<u8>,
    mode: u32,
    /// A size field that lies about the data that follows.
    size_lie: Option<u64>,
}

/// Name pieces: plain, climbing, absolute, at the sibling outside.
/// `dotdot`: with `..` pieces (which refuse the whole archive at once).
fn piece(outside: &str, dotdot: bool) -> impl Strategy<Value = Vec<u8>> {
    let outside = outside.to_string();
    let climb = u32::from(dotdot);
    // Mostly plain pieces, so that archives get deep enough for the
    // hostile ones to meet symlinks made earlier.
    prop_oneof![
        8 => Just(b"a".to_vec()),
        8 => Just(b"b".to_vec()),
        4 => Just(b"etc".to_vec()),
        climb => Just(b"..".to_vec()),
        1 => Just(b".".to_vec()),
        1 => Just(b"".to_vec()),
        climb => Just(b"../outside".to_vec()),
        3 => Just(outside.into_bytes()),
        1 => Just(b"/".to_vec()),
        2 => proptest::collection::vec(any::<u8>(), 1..8),
    ]
}

fn path(outside: &str, dotdot: bool) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(piece(outside, dotdot), 1..5).prop_map(|v| v.join(&b'/'))
}

/// An entry; names climb with `..` only when `dotdot`, link targets
/// always may (a symlink may point anywhere; it is resolved inside).
fn spec(outside: &str, dotdot: bool) -> impl Strategy<Value = Spec> {
    (
        prop_oneof![
            4 => Just(b'0'),
            3 => Just(b'5'),
            3 => Just(b'2'),
            2 => Just(b'1'),
            1 => Just(b'6'),
            1 => Just(b'3'),
            1 => Just(b'L'),
            1 => Just(b'x'),
            1 => Just(b'g'),
            1 => any::<u8>(),
        ],
        path(outside, dotdot),
        path(outside, true),
        proptest::collection::vec(any::<u8>(), 0..700),
        prop_oneof![
            Just(0o755u32),
            Just(0o644),
            Just(0),
            Just(0o7777),
            0u32..0o7777
        ],
        proptest::option::weighted(0.1, 0u64..5000),
    )
        .prop_map(|(kind, name, link, data, mode, size_lie)| Spec {
            kind,
            name,
            link,
            data,
            mode,
            size_lie,
        })
}

/// Entries, some followed by one under their own name (`l`, then
/// `l/x`), so that a symlink or file made by an entry is met by a later
/// one, as an attack through a link needs.
fn families(dotdot: bool) -> impl Strategy<Value = Vec<Spec>> {
    proptest::collection::vec(
        (
            spec(OUTSIDE, dotdot),
            proptest::option::weighted(0.4, spec(OUTSIDE, dotdot)),
        ),
        0..16,
    )
    .prop_map(|v| {
        v.into_iter()
            .flat_map(|(parent, child)| {
                let child = child.map(|mut c| {
                    let mut name = parent.name.clone();
                    name.push(b'/');
                    name.extend_from_slice(&c.name);
                    c.name = name;
                    c
                });
                std::iter::once(parent).chain(child)
            })
            .collect()
    })
}

fn octal(field: &mut [u8], v: u64) {
    let w = field.len() - 1;
    let s = format!("{v:0w$o}");
    let s = &s.as_bytes()[s.len().saturating_sub(w)..];
    field[..s.len()].copy_from_slice(s);
    field[w] = 0;
}

fn header(kind: u8, name: &[u8], link: &[u8], size: u64, mode: u32) -> [u8; 512] {
    let mut h = [0u8; 512];
    let n = name.len().min(100);
    h[..n].copy_from_slice(&name[..n]);
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 1_700_000_000);
    h[156] = kind;
    let l = link.len().min(100);
    h[157..157 + l].copy_from_slice(&link[..l]);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    checksum(&mut h);
    h
}

fn checksum(h: &mut [u8; 512]) {
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|b| u64::from(*b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
}

/// A pax record: "LEN key=value\n", LEN counting itself.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body_len = 1 + key.len() + 1 + value.len() + 1;
    let mut len = body_len + 1;
    while len.to_string().len() + body_len != len {
        len += 1;
    }
    let mut v = format!("{len} {key}=").into_bytes();
    v.extend_from_slice(value);
    v.push(b'\n');
    v
}

fn push_entry(out: &mut Vec<u8>, kind: u8, name: &[u8], link: &[u8], data: &[u8], s: &Spec) {
    let size = s.size_lie.unwrap_or(data.len() as u64);
    out.extend_from_slice(&header(kind, name, link, size, s.mode));
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

/// The archive's bytes, well formed but for what the specs lie about.
fn archive(specs: &[Spec], end: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for s in specs {
        match s.kind {
            b'L' => {
                // A long name, then the entry it names (a file).
                push_entry(&mut out, b'L', b"././@LongLink", b"", &s.name, s);
                push_entry(&mut out, b'0', b"short", b"", &s.data, s);
            }
            b'x' => {
                let mut pax = pax_record("path", &s.name);
                pax.extend(pax_record("linkpath", &s.link));
                pax.extend(pax_record("mtime", b"1700000000.25"));
                push_entry(&mut out, b'x', b"pax", b"", &pax, s);
                push_entry(&mut out, b'2', b"x", b"y", b"", s);
            }
            b'0' => push_entry(&mut out, b'0', &s.name, b"", &s.data, s),
            b'g' => push_entry(&mut out, b'g', b"global", b"", &s.data, s),
            kind => push_entry(&mut out, kind, &s.name, &s.link, b"", s),
        }
    }
    if end {
        out.extend_from_slice(&[0u8; 1024]);
    }
    out
}

/// Damage: bytes overwritten at fractions of the length, then maybe the
/// end cut off.
#[derive(Debug, Clone)]
struct Damage {
    flips: Vec<(f64, u8)>,
    /// Recompute the header checksums after the flips, so that the
    /// damage reaches the fields instead of stopping at the checksum.
    fix_sums: bool,
    cut: Option<f64>,
    gzip: bool,
    end: bool,
}

fn damage() -> impl Strategy<Value = Damage> {
    (
        prop_oneof![
            3 => Just(Vec::new()),
            1 => proptest::collection::vec((0.0f64..1.0, any::<u8>()), 1..4),
        ],
        any::<bool>(),
        proptest::option::weighted(0.1, 0.0f64..1.0),
        proptest::bool::weighted(0.2),
        proptest::bool::weighted(0.9),
    )
        .prop_map(|(flips, fix_sums, cut, gzip, end)| Damage {
            flips,
            fix_sums,
            cut,
            gzip,
            end,
        })
}

fn apply(mut bytes: Vec<u8>, d: &Damage) -> Vec<u8> {
    if !bytes.is_empty() {
        for (at, b) in &d.flips {
            let last = bytes.len() - 1;
            let i = ((bytes.len() as f64) * at) as usize;
            bytes[i.min(last)] = *b;
        }
        if d.fix_sums {
            for block in bytes.chunks_exact_mut(512) {
                if &block[257..262] == b"ustar" {
                    checksum(block.try_into().expect("512 bytes"));
                }
            }
        }
    }
    if let Some(cut) = d.cut {
        bytes.truncate(((bytes.len() as f64) * cut) as usize);
    }
    if d.gzip {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&bytes).unwrap();
        bytes = gz.finish().unwrap();
    }
    bytes
}

/// Unpack `bytes` into a fresh sandbox; check what must hold whatever
/// the outcome. Returns the error, if any.
fn check(n: u64, build: impl FnOnce(&str) -> Vec<u8>) -> Result<Option<String>, TestCaseError> {
    let sandbox = Sandbox::new(n);
    let bytes = build(sandbox.outside().to_str().unwrap());
    let before = sandbox.outside_state();
    let root = sandbox.root_fd();
    let kind = super::detect(&bytes).unwrap_or(Compression::None);
    let result = decompress(std::io::BufReader::new(&bytes[..]), kind)
        .and_then(|stream| unpack(stream, &root, false, &mut || {}));
    prop_assert_eq!(
        sandbox.outside_state(),
        before,
        "wrote outside the target: {:?}",
        result
    );
    // (A hard link to a file outside would show in its link count.)
    match result {
        Ok(_) => Ok(None),
        Err(why) => {
            prop_assert!(!why.trim().is_empty(), "an empty error");
            Ok(Some(why))
        }
    }
}

static CASE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn next_case() -> u64 {
    CASE.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Stand-in for the sandbox path while generating: replaced by the real
/// one when the archive is written.
const OUTSIDE: &str = "/@OUTSIDE@";

fn place(bytes: &[u8], outside: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(OUTSIDE.as_bytes()) {
            out.extend_from_slice(outside.as_bytes());
            i += OUTSIDE.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

fn placed(specs: &[Spec], outside: &str) -> Vec<Spec> {
    specs
        .iter()
        .map(|s| Spec {
            name: place(&s.name, outside),
            link: place(&s.link, outside),
            ..s.clone()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 300,
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    })]

    /// Random archives, damaged or not: no panic, nothing outside, and
    /// a refusal says why.
    #[test]
    fn random_and_mutated_archives_never_escape(
        specs in prop_oneof![
            3 => families(false),
            1 => families(true),
        ],
        d in damage(),
    ) {
        check(next_case(), |outside| {
            apply(archive(&placed(&specs, outside), d.end), &d)
        })?;
    }

    /// Pure noise, and noise after a valid header.
    #[test]
    fn noise_is_refused_clearly(
        noise in proptest::collection::vec(any::<u8>(), 0..3000),
        after_header in any::<bool>(),
    ) {
        let err = check(next_case(), |_| {
            let mut bytes = Vec::new();
            if after_header {
                bytes.extend_from_slice(&header(b'0', b"f", b"", noise.len() as u64 + 10, 0o644));
            }
            bytes.extend_from_slice(&noise);
            bytes
        })?;
        // Noise has no end-of-archive blocks, or not where a reader
        // finds them: refused (an all-zero start reads as an empty
        // archive, which is fine).
        if noise.iter().take(1024).any(|b| *b != 0) || after_header {
            prop_assert!(err.is_some());
        }
    }
}

/// The attacks the generator aims at, each once, for a readable failure.
#[test]
fn known_escapes_stay_inside() {
    type Entry<'a> = (u8, &'a [u8], &'a [u8]);
    let cases: Vec<Vec<Entry>> = vec![
        vec![(b'2', b"l", OUTSIDE.as_bytes()), (b'0', b"l/pwned", b"")],
        vec![(b'2', b"l", b"../outside"), (b'0', b"l/pwned", b"")],
        vec![(b'2', b"l", b"../outside/secret"), (b'0', b"l", b"")],
        vec![(b'1', b"h", b"../outside/secret")],
        vec![(b'0', b"../outside/pwned", b"")],
        vec![(b'2', b"up", b"../../../../.."), (b'5', b"up/x", b"")],
        vec![
            (b'5', b"d", b""),
            (b'2', b"d/l", b".."),
            (b'0', b"d/l/l2", b""),
        ],
    ];
    for entries in cases {
        let specs: Vec<Spec> = entries
            .iter()
            .map(|(kind, name, link)| Spec {
                kind: *kind,
                name: name.to_vec(),
                link: link.to_vec(),
                data: b"x".to_vec(),
                mode: 0o644,
                size_lie: None,
            })
            .collect();
        check(next_case(), |outside| {
            archive(&placed(&specs, outside), true)
        })
        .unwrap_or_else(|e| panic!("{entries:?}: {e}"));
    }
}

/// A tar stream made on the fly: `count` headers from `make`, then the
/// end-of-archive blocks (none when `count` is `None`: endless).
struct Generated<F> {
    make: F,
    count: Option<u64>,
    at: u64,
    block: Vec<u8>,
    pos: usize,
}

impl<F: FnMut(u64) -> Vec<u8>> std::io::Read for Generated<F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.block.len() {
            self.block = match self.count {
                Some(n) if self.at == n => vec![0u8; 1024],
                Some(n) if self.at > n => return Ok(0),
                _ => (self.make)(self.at),
            };
            self.at += 1;
            self.pos = 0;
        }
        let n = buf.len().min(self.block.len() - self.pos);
        buf[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A million and one entries that make nothing (device nodes, skipped):
/// no space check stops them, the entry cap does.
#[test]
fn an_archive_of_too_many_entries_is_refused() {
    let sandbox = Sandbox::new(next_case());
    let stream = Generated {
        make: |i| header(b'3', format!("dev{i}").as_bytes(), b"", 0, 0o600).to_vec(),
        count: Some(super::MAX_ENTRIES + 1),
        at: 0,
        block: Vec::new(),
        pos: 0,
    };
    let err = unpack(stream, &sandbox.root_fd(), false, &mut || {}).unwrap_err();
    assert!(err.contains("more than 1000000 entries"), "{err}");
}

/// One global pax header that claims 2 GiB, followed by zeros forever:
/// refused at once, not read through.
#[test]
fn an_archive_of_endless_metadata_is_refused() {
    let sandbox = Sandbox::new(next_case());
    let stream = Generated {
        make: |i| {
            if i == 0 {
                header(b'g', b"global", b"", 2 << 30, 0o644).to_vec()
            } else {
                vec![0u8; 1 << 20]
            }
        },
        count: None,
        at: 0,
        block: Vec::new(),
        pos: 0,
    };
    let err = unpack(stream, &sandbox.root_fd(), false, &mut || {}).unwrap_err();
    assert!(err.contains("the most nslaunch reads"), "{err}");
}
