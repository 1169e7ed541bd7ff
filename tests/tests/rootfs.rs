//! Root filesystems from tarballs and copy-on-write runs: a tarball built
//! here from the busybox rootfs runs, twice, unpacked once; hostile
//! archives never write outside the cache and leave no entry behind;
//! `--overlay` leaves the rootfs unchanged; `--overlay-dir` persists; 20
//! concurrent overlays on one cached rootfs do not see each other; `cache
//! ls|prune|rm`. As root and as the unprivileged user.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nslaunch_tests::pty::Pty;
use nslaunch_tests::*;

/// Writes a tar archive from a JSON spec (argv[1]) to argv[2]: `from_dir`
/// (added as ".", every entry owned by 0:0, like Alpine's minirootfs),
/// then `entries`, raw as given (names are not cleaned: that is the
/// point), then the end-of-archive blocks unless `end` is false; `keep`
/// cuts the tar to that many bytes (negative: drops that many);
/// `compress` is none, gz, xz or zst; `cut_compressed` drops bytes off
/// the compressed end.
const TAR_WRITER: &str = r#"
import io, json, lzma, gzip, os, subprocess, sys, tarfile
spec = json.loads(sys.argv[1])
buf = io.BytesIO()
tf = tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT)
def root_owned(ti):
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    return ti
if spec.get("from_dir"):
    tf.add(spec["from_dir"], arcname=".", filter=root_owned)
types = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
         "hardlink": tarfile.LNKTYPE, "chr": tarfile.CHRTYPE, "fifo": tarfile.FIFOTYPE}
for e in spec.get("entries", []):
    ti = tarfile.TarInfo(e["name"])
    ti.mode = e.get("mode", 0o644)
    ti.uid = e.get("uid", 0)
    ti.gid = e.get("gid", 0)
    ti.mtime = 1700000000
    if e["type"] == "huge":
        ti.type = tarfile.REGTYPE
        ti.size = e["size"]
        buf.write(ti.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape"))
        buf.write(b"x" * 4096)
        continue
    ti.type = types[e["type"]]
    ti.linkname = e.get("link", "")
    if e["type"] == "chr":
        ti.devmajor, ti.devminor = 1, 3
    data = e.get("data", "").encode()
    ti.size = len(data) if e["type"] == "file" else 0
    tf.addfile(ti, io.BytesIO(data) if e["type"] == "file" else None)
if spec.get("end", True):
    tf.close()
raw = buf.getvalue()
if "keep" in spec:
    raw = raw[:spec["keep"]]
c = spec.get("compress", "none")
if c == "gz":
    raw = gzip.compress(raw)
elif c == "xz":
    raw = lzma.compress(raw, format=lzma.FORMAT_XZ)
elif c == "zst":
    raw = subprocess.run(["zstd", "-q", "-c"], input=raw, stdout=subprocess.PIPE, check=True).stdout
if spec.get("cut_compressed"):
    raw = raw[:-spec["cut_compressed"]]
with open(sys.argv[2], "wb") as f:
    f.write(raw)
"#;

fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// Write the archive `spec` describes to `out`, readable by everyone.
fn make_tar(spec: &str, out: &Path) {
    let r = Command::new(python())
        .arg("-c")
        .arg(TAR_WRITER)
        .arg(spec)
        .arg(out)
        .output()
        .expect("run python3 (scripts/test-deps.sh installs it)");
    assert!(
        r.status.success(),
        "tar writer: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    fs::set_permissions(out, fs::Permissions::from_mode(0o644)).unwrap();
}

fn json_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A busybox rootfs as an Alpine-like tarball: everything root's, with
/// the kinds of files Alpine's has (a setuid binary, a file of group
/// shadow, a read-only directory, a hard link) and one device node.
fn busybox_tarball(f: &Fixture, who: &Who, name: &str, compress: &str) -> PathBuf {
    let out = f
        .scratch
        .join(format!("{name}-{}.tar.{compress}", who.uid()));
    let spec = format!(
        r#"{{"from_dir": {}, "compress": "{compress}", "entries": [
            {{"name": "./etc/shadow", "type": "file", "data": "root:*::0:::::\n", "mode": 416, "gid": 42}},
            {{"name": "./bin/bbsuid", "type": "file", "data": "suid", "mode": 2541}},
            {{"name": "./ro", "type": "dir", "mode": 365}},
            {{"name": "./ro/f", "type": "file", "data": "in a read-only dir\n", "mode": 292}},
            {{"name": "./bin/hard", "type": "hardlink", "link": "./bin/busybox"}},
            {{"name": "./dev/null", "type": "chr", "mode": 438}}
        ]}}"#,
        json_str(&f.rootfs(who).display().to_string())
    );
    make_tar(&spec, &out);
    out
}

/// A cache directory of `who`'s own for one scenario.
fn cache(f: &Fixture, who: &Who, name: &str) -> PathBuf {
    f.dir(who, &format!("cache-{name}"))
}

fn with_cache(mut c: Command, cache: &Path) -> Command {
    c.env("XDG_CACHE_HOME", cache);
    c
}

/// The entries and leftovers in a cache's rootfs directory.
fn cache_names(cache: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(cache.join("nslaunch/rootfs"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The one unpacked rootfs in `cache`.
fn entry_root(cache: &Path) -> PathBuf {
    let names = cache_names(cache);
    assert_eq!(names.len(), 1, "one cache entry expected: {names:?}");
    cache.join("nslaunch/rootfs").join(&names[0]).join("root")
}

#[test]
fn a_tarball_runs_twice_and_is_unpacked_once() {
    each(|f, who| {
        for compress in ["gz", "xz", "zst", "none"] {
            let c = cache(f, who, &format!("twice-{compress}"));
            let tar = busybox_tarball(f, who, "twice", compress);
            let script = "id -u; stat -c '%u:%g %a' /etc/shadow /bin/bbsuid /ro; cat /ro/f";
            let first = run(
                with_cache(f.nslaunch_on(who, &tar, &["sh", "-c", script]), &c),
                None,
            );
            assert_eq!(first.code(), 0, "{compress}: {first:?}");
            // Real root keeps the archive's owners (group 42, shadow);
            // anyone else owns every file, and is root inside.
            let want = if who.is_root() {
                "0\n0:42 640\n0:0 4755\n0:0 555\nin a read-only dir\n"
            } else {
                "0\n0:0 640\n0:0 4755\n0:0 555\nin a read-only dir\n"
            };
            assert_eq!(first.stdout, want, "{compress}");
            // The one device node is skipped, and said so, at unpack time.
            assert!(
                first.stderr.contains("skipped 1 device node (./dev/null)"),
                "{compress}: {}",
                first.stderr
            );
            let root = entry_root(&c);
            let st = fs::metadata(root.join("bin/busybox")).unwrap();
            let second = run(
                with_cache(f.nslaunch_on(who, &tar, &["sh", "-c", script]), &c),
                None,
            );
            assert_eq!(second.code(), 0, "{second:?}");
            assert_eq!(second.stdout, want);
            // Not unpacked again: no note, the same entry, the same files.
            assert_eq!(second.stderr, "", "{compress}");
            assert_eq!(entry_root(&c), root);
            let again = fs::metadata(root.join("bin/busybox")).unwrap();
            assert_eq!((st.ino(), st.ctime()), (again.ino(), again.ctime()));

            // On the host: real root keeps the archive's owners, anyone
            // else owns everything (and is root inside); modes are kept.
            let (u, g) = (who.uid(), who.gid());
            let shadow = fs::metadata(root.join("etc/shadow")).unwrap();
            if who.is_root() {
                assert_eq!((shadow.uid(), shadow.gid()), (0, 42));
            } else {
                assert_eq!((shadow.uid(), shadow.gid()), (u, g));
            }
            let mode = |p: &str| fs::symlink_metadata(root.join(p)).unwrap().mode() & 0o7777;
            assert_eq!(mode("bin/bbsuid"), 0o4755);
            assert_eq!(mode("ro"), 0o555);
            assert_eq!(mode("etc/shadow"), 0o640);
            assert!(fs::symlink_metadata(root.join("bin/sh"))
                .unwrap()
                .file_type()
                .is_symlink());
            assert_eq!(
                fs::metadata(root.join("bin/hard")).unwrap().ino(),
                fs::metadata(root.join("bin/busybox")).unwrap().ino()
            );
            assert!(!root.join("dev/null").exists());
            // The cache is private.
            let base = fs::metadata(c.join("nslaunch")).unwrap();
            assert_eq!(base.mode() & 0o777, 0o700);
            assert_eq!(base.uid(), u);
        }
    });
}

#[test]
fn a_cached_rootfs_is_never_changed_by_its_containers() {
    each(|f, who| {
        let c = cache(f, who, "unchanged");
        let tar = busybox_tarball(f, who, "unchanged", "gz");
        let vol = f.dir(who, "unchanged-vol");
        // Writable by container root under real root's default too, where
        // it is the unprivileged block on a volume, not root.
        fs::set_permissions(&vol, fs::Permissions::from_mode(0o777)).unwrap();
        let v = format!("{}:/vol", vol.display());
        let warm = run(with_cache(f.nslaunch_on(who, &tar, &["true"]), &c), None);
        assert_eq!(warm.code(), 0, "{warm:?}");
        let root = entry_root(&c);
        let before = snapshot(&root);
        let r = run(
            with_cache(
                f.nslaunch_on(
                    who,
                    &tar,
                    &[
                        "-v",
                        &v,
                        "sh",
                        "-c",
                        "echo new > /etc/new && rm /bin/ls && echo evil > /etc/passwd \
                         && chmod 777 /ro && rm -r /ro && mkdir -p /srv/x && echo v > /vol/f \
                         && cat /etc/passwd",
                    ],
                ),
                &c,
            ),
            None,
        );
        assert_eq!(r.code(), 0, "{r:?}");
        assert_eq!(r.stdout, "evil\n", "the container sees its own writes");
        assert_eq!(snapshot(&root), before, "the cache entry changed");
        // The caller's; under real root's default, its block's.
        let ids = |file| subid_start(who, file).filter(|_| who.is_root());
        let want = ids("/etc/subuid")
            .zip(ids("/etc/subgid"))
            .unwrap_or((who.uid(), who.gid()));
        assert_eq!(owner(&vol.join("f")), want);
        let next = run(
            with_cache(
                f.nslaunch_on(
                    who,
                    &tar,
                    &[
                        "sh",
                        "-c",
                        "test -e /etc/new || test -e /srv; echo $?; ls /bin/ls; head -c4 /etc/passwd",
                    ],
                ),
                &c,
            ),
            None,
        );
        assert_eq!(next.stdout, "1\n/bin/ls\nroot", "{next:?}");
    });
}

/// Run nslaunch on the archive `spec` describes, as `who`, with a fresh
/// cache; returns the run and the cache.
fn try_archive(f: &Fixture, who: &Who, name: &str, spec: &str) -> (Run, PathBuf) {
    let c = cache(f, who, name);
    let tar = f.scratch.join(format!("hostile-{name}-{}.tar", who.uid()));
    make_tar(spec, &tar);
    let r = run(
        with_cache(f.nslaunch_on(who, &tar, &["sh", "-c", "echo ran"]), &c),
        None,
    );
    (r, c)
}

/// A directory listing with contents, for "nothing changed out here".
fn listing(dir: &Path) -> Vec<(String, String, u64)> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let m = fs::symlink_metadata(e.path()).unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read_to_string(e.path()).unwrap_or_default(),
                m.nlink(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn hostile_archives_never_write_outside_the_cache() {
    each(|f, who| {
        let outside = f.dir(who, "outside");
        fs::write(outside.join("secret"), "secret\n").unwrap();
        let before = listing(&outside);
        let o = outside.display().to_string();
        let rel_o = o.trim_start_matches('/');
        let big = "y".repeat(100_000);
        // (name, spec, expected: Ok(()) runs, Err(text) fails with it)
        let cases: Vec<(&str, String, Result<(), &str>)> = vec![
            (
                "dotdot",
                format!(r#"{{"entries": [{{"name": "../../../../../../{rel_o}/pwned", "type": "file", "data": "x"}}]}}"#),
                Err("\"..\""),
            ),
            (
                "symlink-then-write-through",
                format!(r#"{{"entries": [
                    {{"name": "evil", "type": "symlink", "link": "{o}"}},
                    {{"name": "evil/pwned", "type": "file", "data": "x"}}]}}"#),
                Err("symlink to nothing"),
            ),
            (
                "hardlink-absolute",
                format!(r#"{{"entries": [{{"name": "h", "type": "hardlink", "link": "{o}/secret"}}]}}"#),
                Err("not in the rootfs"),
            ),
            (
                "hardlink-dotdot",
                format!(r#"{{"entries": [{{"name": "h", "type": "hardlink", "link": "../../../../../../{rel_o}/secret"}}]}}"#),
                Err("\"..\""),
            ),
            (
                "truncated-data",
                format!(r#"{{"entries": [{{"name": "big", "type": "file", "data": "{big}"}}], "keep": 30000}}"#),
                Err("truncated"),
            ),
            (
                "no-end-marker",
                r#"{"entries": [{"name": "a", "type": "file", "data": "x"}], "end": false}"#.to_string(),
                Err("end-of-archive"),
            ),
            (
                "huge",
                r#"{"entries": [{"name": "a", "type": "file", "data": "x"}, {"name": "huge", "type": "huge", "size": 1125899906842624}], "end": false}"#.to_string(),
                Err("needs 1.1 PB"),
            ),
            (
                "gzip-cut",
                format!(r#"{{"entries": [{{"name": "big", "type": "file", "data": "{big}"}}], "compress": "gz", "cut_compressed": 40}}"#),
                Err("--rootfs"),
            ),
            (
                "not-a-tar",
                r#"{"entries": [], "end": false, "keep": 0}"#.to_string(),
                Err("not a directory, nor a tar archive"),
            ),
            (
                "hardlink-to-nothing",
                r#"{"entries": [{"name": "bin/sh", "type": "hardlink", "link": "nothing"}]}"#.to_string(),
                Err("not in the rootfs"),
            ),
        ];
        for (name, spec, want) in cases {
            let (r, c) = try_archive(f, who, name, &spec);
            match want {
                Ok(()) => assert_eq!(r.code(), 0, "{name}: {r:?}"),
                Err(text) => {
                    assert_eq!(r.code(), 125, "{name}: {r:?}");
                    assert!(r.stderr.contains(text), "{name}: {}", r.stderr);
                    assert_eq!(lines(&r.stderr).len(), 1, "{name}: one line: {}", r.stderr);
                    // No entry, and no half-made one.
                    assert!(cache_names(&c).is_empty(), "{name}: {:?}", cache_names(&c));
                }
            }
            assert_eq!(listing(&outside), before, "{name} wrote outside");
        }

        // These unpack, and everything they hold stays inside.
        let busybox = f.rootfs(who).display().to_string();
        let ok_cases = [
            (
                "absolute-names",
                format!(
                    r#"{{"from_dir": {}, "entries": [{{"name": "{o}/abs", "type": "file", "data": "x"}}]}}"#,
                    json_str(&busybox)
                ),
                format!("{o}/abs"),
            ),
            (
                "symlink-climbing-then-write",
                format!(
                    r#"{{"from_dir": {}, "entries": [
                    {{"name": "up", "type": "symlink", "link": "../../../../../../.."}},
                    {{"name": "up/{rel_o}/climbed", "type": "file", "data": "x"}}]}}"#,
                    json_str(&busybox)
                ),
                format!("{o}/climbed"),
            ),
            (
                "file-over-a-symlink",
                format!(
                    r#"{{"from_dir": {}, "entries": [
                    {{"name": "s", "type": "symlink", "link": "{o}/secret"}},
                    {{"name": "s", "type": "file", "data": "overwritten"}}]}}"#,
                    json_str(&busybox)
                ),
                "/s".to_string(),
            ),
            (
                "dir-over-a-symlink",
                format!(
                    r#"{{"from_dir": {}, "entries": [
                    {{"name": "d", "type": "symlink", "link": "{o}"}},
                    {{"name": "d", "type": "dir", "mode": 493}},
                    {{"name": "d/in", "type": "file", "data": "x"}},
                    {{"name": "fifo", "type": "fifo"}}]}}"#,
                    json_str(&busybox)
                ),
                "/d/in".to_string(),
            ),
        ];
        for (name, spec, inside) in ok_cases {
            let (r, c) = try_archive(f, who, name, &spec);
            assert_eq!(r.code(), 0, "{name}: {r:?}");
            assert_eq!(r.stdout, "ran\n");
            assert_eq!(listing(&outside), before, "{name} wrote outside");
            let root = entry_root(&c);
            let m = fs::symlink_metadata(root.join(inside.trim_start_matches('/')))
                .unwrap_or_else(|e| panic!("{name}: {inside} not inside the rootfs: {e}"));
            assert!(m.is_file(), "{name}: {inside}");
            if name == "dir-over-a-symlink" {
                assert!(fs::symlink_metadata(root.join("d")).unwrap().is_dir());
                assert!(fs::symlink_metadata(root.join("fifo"))
                    .unwrap()
                    .file_type()
                    .is_fifo());
            }
        }
    });
}

/// The `--userns` modes to try overlays in.
fn modes(who: &Who) -> Vec<&'static str> {
    if who.is_root() {
        vec!["", "host", "root"]
    } else {
        vec!["", "keep-id"]
    }
}

#[test]
fn overlay_leaves_a_directory_rootfs_unchanged() {
    each(|f, who| {
        let rootfs = f.own_rootfs(who, "overlay");
        let before = snapshot(&rootfs);
        let passwd = fs::read(rootfs.join("etc/passwd")).unwrap();
        for mode in modes(who) {
            let r = run(
                f.nslaunch_on(
                    who,
                    &rootfs,
                    &with_userns(
                        mode,
                        &[
                            "--overlay",
                            "sh",
                            "-c",
                            "rm /bin/ls && echo evil > /etc/passwd && rm -r /home \
                             && mv /etc/group /etc/moved && mkdir -p /new/dir && touch /new/dir/f \
                             && ls /etc && cat /etc/passwd",
                        ],
                    ),
                ),
                None,
            );
            assert_eq!(r.code(), 0, "--userns {mode:?}: {r:?}");
            assert_eq!(r.stdout, "moved\npasswd\nevil\n", "--userns {mode:?}");
            assert_eq!(
                snapshot(&rootfs),
                before,
                "--userns {mode:?} changed the rootfs"
            );
            assert_eq!(fs::read(rootfs.join("etc/passwd")).unwrap(), passwd);
        }
        // Without --overlay the same rootfs is written (the control).
        let r = run(
            f.nslaunch_on(who, &rootfs, &["sh", "-c", "echo x > /etc/changed"]),
            None,
        );
        assert_eq!(r.code(), 0, "{r:?}");
        assert!(rootfs.join("etc/changed").exists());
    });
}

#[test]
fn overlay_dir_keeps_the_changes() {
    each(|f, who| {
        let rootfs = f.own_rootfs(who, "keep");
        let before = snapshot(&rootfs);
        let parent = f.dir(who, "keep");
        let keep = parent.join("changes");
        let k = keep.display().to_string();
        let first = run(
            f.nslaunch_on(
                who,
                &rootfs,
                &[
                    "--overlay-dir",
                    &k,
                    "sh",
                    "-c",
                    "echo kept > /etc/kept && rm /bin/ls",
                ],
            ),
            None,
        );
        assert_eq!(first.code(), 0, "{first:?}");
        let second = run(
            f.nslaunch_on(
                who,
                &rootfs,
                &[
                    "--overlay-dir",
                    &k,
                    "sh",
                    "-c",
                    "cat /etc/kept; test -e /bin/ls || echo gone",
                ],
            ),
            None,
        );
        assert_eq!(second.stdout, "kept\ngone\n", "{second:?}");
        assert_eq!(snapshot(&rootfs), before);
        assert_eq!(
            fs::read_to_string(keep.join("upper/etc/kept")).unwrap(),
            "kept\n"
        );
        assert_eq!(owner(&keep.join("upper/etc/kept")), (who.uid(), who.gid()));
        assert!(keep.join("work").is_dir());

        // One container at a time.
        let mut busy = Running::start(f.nslaunch_on(
            who,
            &rootfs,
            &["--overlay-dir", &k, "sh", "-c", "echo up; sleep 30"],
        ));
        busy.wait_line("up");
        let r = run(
            f.nslaunch_on(who, &rootfs, &["--overlay-dir", &k, "true"]),
            None,
        );
        assert_eq!(r.code(), 125, "{r:?}");
        assert!(r.stderr.contains("in use by another container"), "{r:?}");
        busy.signal(libc::SIGKILL);
        let _ = busy.finish();

        // Not inside the rootfs; nothing is made when refused.
        let inside = rootfs.join("var/changes");
        let r = run(
            f.nslaunch_on(
                who,
                &rootfs,
                &["--overlay-dir", &inside.display().to_string(), "true"],
            ),
            None,
        );
        assert_eq!(r.code(), 125, "{r:?}");
        assert!(r.stderr.contains("inside the rootfs"), "{r:?}");
        assert!(!inside.exists());
    });
}

#[test]
fn twenty_concurrent_overlays_on_one_cached_rootfs_do_not_see_each_other() {
    each(|f, who| {
        let c = cache(f, who, "twenty");
        let tar = busybox_tarball(f, who, "twenty", "gz");
        let sync = f.dir(who, "twenty-sync");
        let v = format!("{}:/sync", sync.display());
        let warm = run(with_cache(f.nslaunch_on(who, &tar, &["true"]), &c), None);
        assert_eq!(warm.code(), 0, "{warm:?}");
        let root = entry_root(&c);
        let before = snapshot(&root);
        let mut running = Vec::new();
        for n in 0..20 {
            let script = format!(
                "echo {n} > /id && touch /only-{n} && rm /etc/passwd && echo ready; \
                 while [ ! -e /sync/go ]; do sleep 0.05; done; \
                 echo id=$(cat /id) mine=$(ls / | grep -c only-) passwd=$(ls /etc | grep -c passwd)"
            );
            running.push(Running::start(with_cache(
                f.nslaunch_on(who, &tar, &["-v", &v, "sh", "-c", &script]),
                &c,
            )));
        }
        for r in &mut running {
            r.wait_line("ready");
        }
        fs::write(sync.join("go"), "").unwrap();
        for (n, r) in running.into_iter().enumerate() {
            let (st, out) = r.finish();
            assert!(st.success(), "container {n}: {st:?} {out:?}");
            assert_eq!(
                out.last().map(String::as_str),
                Some(format!("id={n} mine=1 passwd=0").as_str()),
                "container {n}"
            );
        }
        assert_eq!(snapshot(&root), before);
        assert_eq!(cache_names(&c).len(), 1, "{:?}", cache_names(&c));
    });
}

#[test]
fn cache_ls_prune_and_rm() {
    each(|f, who| {
        let c = cache(f, who, "cmds");
        let tar = busybox_tarball(f, who, "cmds", "gz");
        let cmd = |args: &[&str]| run(with_cache(f.nslaunch_raw(who, args), &c), None);
        let empty = cmd(&["cache", "ls"]);
        assert_eq!(empty.code(), 0, "{empty:?}");
        assert_eq!(lines(&empty.stdout).len(), 1, "a header only: {empty:?}");
        let warm = run(with_cache(f.nslaunch_on(who, &tar, &["true"]), &c), None);
        assert_eq!(warm.code(), 0, "{warm:?}");
        let hash = cache_names(&c).remove(0);
        let ls = cmd(&["cache", "ls"]);
        assert_eq!(ls.code(), 0);
        let row = lines(&ls.stdout)[1].to_string();
        assert!(row.starts_with(&hash[..12]), "{row}");
        assert!(row.contains(&tar.display().to_string()), "{row}");
        assert!(row.contains(" no "), "not in use: {row}");

        // In use: listed so, kept by prune, refused by rm.
        let mut busy = Running::start(with_cache(
            f.nslaunch_on(who, &tar, &["sh", "-c", "echo up; sleep 30"]),
            &c,
        ));
        busy.wait_line("up");
        assert!(cmd(&["cache", "ls"]).stdout.contains(" yes "));
        let p = cmd(&["cache", "prune"]);
        assert_eq!(p.code(), 0, "{p:?}");
        assert!(p.stdout.contains("kept 1 in use"), "{p:?}");
        assert_eq!(cache_names(&c), std::slice::from_ref(&hash));
        let rm = cmd(&["cache", "rm", &hash[..8]]);
        assert_eq!(rm.code(), 125, "{rm:?}");
        assert!(rm.stderr.contains("in use"), "{rm:?}");
        busy.signal(libc::SIGKILL);
        let _ = busy.finish();

        let rm = cmd(&["cache", "rm", &hash[..8]]);
        assert_eq!(rm.code(), 0, "{rm:?}");
        assert!(cache_names(&c).is_empty());
        let warm = run(with_cache(f.nslaunch_on(who, &tar, &["true"]), &c), None);
        assert_eq!(warm.code(), 0, "{warm:?}");
        let p = cmd(&["cache", "prune"]);
        assert!(p.stdout.starts_with("removed 1 entry"), "{p:?}");
        assert!(cache_names(&c).is_empty());
        for bad in [&["cache", "rm", "zzzz"][..], &["cache", "frobnicate"][..]] {
            let r = cmd(bad);
            assert_eq!(r.code(), 125, "{bad:?}: {r:?}");
            assert_eq!(lines(&r.stderr).len(), 1, "{r:?}");
        }
        // Only as the first word: after options, "cache" is a command.
        let r = run(f.nslaunch(who, &["cache"]), None);
        assert_eq!(r.code(), 127, "{r:?}");
    });
}

#[test]
fn unpacking_shows_progress_on_a_terminal() {
    each(|f, who| {
        let c = cache(f, who, "progress");
        let tar = busybox_tarball(f, who, "progress", "xz");
        let mut cmd = with_cache(f.nslaunch_on(who, &tar, &["echo", "done"]), &c);
        cmd.env("NSLAUNCH_PROGRESS_DELAY_MS", "0");
        let mut p = Pty::spawn(cmd);
        let at = p.expect_from(0, "nslaunch: unpacking", Duration::from_secs(30));
        p.expect_from(at, "done", Duration::from_secs(30));
        let _ = wait_timeout(&mut p.child, TIMEOUT);
        // Not on a pipe.
        let c2 = cache(f, who, "progress-pipe");
        let mut cmd = with_cache(f.nslaunch_on(who, &tar, &["echo", "done"]), &c2);
        cmd.env("NSLAUNCH_PROGRESS_DELAY_MS", "0");
        let r = run(cmd, None);
        assert_eq!(r.code(), 0, "{r:?}");
        assert!(!r.stderr.contains("unpacking"), "{r:?}");
    });
}

/// `path`'s owner and mode, set by the test (which runs as root when
/// both halves run).
fn set_owner_mode(path: &Path, owner: &Who, mode: u32) {
    nix::unistd::chown(
        path,
        Some(nix::unistd::Uid::from_raw(owner.uid())),
        Some(nix::unistd::Gid::from_raw(owner.gid())),
    )
    .unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_cache_someone_else_could_swap_is_refused() {
    each(|f, who| {
        let tar = busybox_tarball(f, who, "unsafe", "gz");
        let other = f.who.iter().find(|w| w.uid() != who.uid());
        let base = f.dir(who, "unsafe-cache");
        // (case, the cache's parent, the directory the message names)
        let mut cases: Vec<(&str, PathBuf, PathBuf)> = Vec::new();
        let open = base.join("world-writable");
        fs::create_dir(&open).unwrap();
        set_owner_mode(&open, who, 0o777);
        cases.push(("world-writable", open.clone(), open.clone()));
        let group = base.join("group-writable");
        fs::create_dir(&group).unwrap();
        set_owner_mode(&group, who, 0o775);
        cases.push(("group-writable", group.clone(), group.clone()));
        let under = base.join("under-open");
        fs::create_dir_all(under.join("cache")).unwrap();
        set_owner_mode(&under, who, 0o777);
        set_owner_mode(&under.join("cache"), who, 0o700);
        cases.push((
            "in a world-writable directory",
            under.join("cache"),
            under.clone(),
        ));
        if let Some(other) = other {
            // Someone else's directory, however private: as root, the
            // test user's; as the test user, root's mode 0777 one.
            let theirs = base.join("theirs");
            fs::create_dir(&theirs).unwrap();
            set_owner_mode(&theirs, other, if other.is_root() { 0o777 } else { 0o700 });
            cases.push(("another user's", theirs.clone(), theirs.clone()));
        }
        for (case, parent, named) in &cases {
            let r = run(
                with_cache(f.nslaunch_on(who, &tar, &["true"]), parent),
                None,
            );
            assert_eq!(r.code(), 125, "{case}: {r:?}");
            assert_eq!(lines(&r.stderr).len(), 1, "{case}: {r:?}");
            assert!(r.stderr.contains("is not safe to use"), "{case}: {r:?}");
            assert!(
                r.stderr.contains(&format!("{} ", named.display())),
                "{case}: should name {}: {r:?}",
                named.display()
            );
            assert!(!parent.join("nslaunch").exists(), "{case}: made the cache");
        }
        // HOME is checked the same way.
        if let Some((case, parent, _)) = cases.last() {
            let mut c = f.nslaunch_on(who, &tar, &["true"]);
            c.env_remove("XDG_CACHE_HOME").env("HOME", parent);
            let r = run(c, None);
            assert_eq!(r.code(), 125, "HOME, {case}: {r:?}");
            assert!(r.stderr.contains("is not safe to use"), "{r:?}");
        }
        // A sticky world-writable directory (like /tmp) above one's own
        // private directory is fine.
        let sticky = base.join("sticky");
        fs::create_dir_all(sticky.join("mine")).unwrap();
        set_owner_mode(&sticky, who, 0o1777);
        set_owner_mode(&sticky.join("mine"), who, 0o755);
        let r = run(
            with_cache(f.nslaunch_on(who, &tar, &["true"]), &sticky.join("mine")),
            None,
        );
        assert_eq!(r.code(), 0, "{r:?}");
        let made = fs::metadata(sticky.join("mine/nslaunch")).unwrap();
        assert_eq!((made.uid(), made.mode() & 0o777), (who.uid(), 0o700));
    });
}

/// A cache entry made by hand: `rootfs/<hash>/root` holding a directory
/// `d` and a symlink `s` to `target`, all `who`'s.
fn planted_entry(c: &Path, who: &Who, target: &Path) -> PathBuf {
    let base = c.join("nslaunch");
    let entry = base.join("rootfs").join("ab".repeat(32));
    let root = entry.join("root");
    fs::create_dir_all(root.join("d/deeper")).unwrap();
    std::os::unix::fs::symlink(target, root.join("s")).unwrap();
    fs::write(entry.join("info"), "source=planted\n").unwrap();
    for p in [&base, &base.join("rootfs"), &entry, &root, &root.join("d")] {
        set_owner_mode(p, who, 0o700);
    }
    set_owner_mode(&root.join("d/deeper"), who, 0o555);
    nix::unistd::fchownat(
        nix::fcntl::AT_FDCWD,
        &root.join("s"),
        Some(nix::unistd::Uid::from_raw(who.uid())),
        Some(nix::unistd::Gid::from_raw(who.gid())),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .unwrap();
    root
}

#[test]
fn pruning_never_follows_a_link() {
    each(|f, who| {
        let host = f.dir(who, "prune-victim");
        let victim = host.join("victim");
        fs::write(&victim, "host file\n").unwrap();
        set_owner_mode(&victim, who, 0o640);
        let c = cache(f, who, "prune-links");
        let prune = || {
            run(
                with_cache(f.nslaunch_raw(who, &["cache", "prune"]), &c),
                None,
            )
        };
        // A link in an entry, to a host file and to a host directory.
        planted_entry(&c, who, &victim);
        let r = prune();
        assert_eq!(r.code(), 0, "{r:?}");
        assert!(r.stdout.starts_with("removed 1 entry"), "{r:?}");
        assert_eq!(fs::read_to_string(&victim).unwrap(), "host file\n");
        assert_eq!(fs::metadata(&victim).unwrap().mode() & 0o7777, 0o640);
        planted_entry(&c, who, &host);
        assert_eq!(prune().code(), 0);
        assert_eq!(fs::metadata(&host).unwrap().mode() & 0o7777, 0o755);
        assert!(victim.exists());

        // The same while something swaps the directory `d` and the link
        // `s` back and forth (renameat2 RENAME_EXCHANGE): between looking
        // at `d` and acting on it, the name may have become the link. To
        // make that window wide enough to be met every time rather than
        // once in a hundred, the prune runs under strace, which holds
        // every chmod-by-path for 2 ms before the kernel sees it. A prune
        // that acts only through the descriptor it opened (O_NOFOLLOW)
        // cannot be fooled, however long it waits.
        for round in 0..20 {
            let root = planted_entry(&c, who, &victim);
            let dir = nix::fcntl::open(
                &root,
                nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY,
                nix::sys::stat::Mode::empty(),
            )
            .unwrap();
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let swapper = {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        if nix::fcntl::renameat2(
                            &dir,
                            "d",
                            &dir,
                            "s",
                            nix::fcntl::RenameFlags::RENAME_EXCHANGE,
                        )
                        .is_err()
                        {
                            break;
                        }
                    }
                })
            };
            let mut slow = Command::new("strace");
            slow.args(["-qq", "-f", "-o", "/dev/null", "-e", "trace=chmod,fchmodat"])
                .args(["-e", "inject=chmod,fchmodat:delay_enter=2000", "--"])
                .arg(&f.nslaunch)
                .args(["cache", "prune"]);
            let r = run(with_cache(as_who(who, &mut slow), &c), None);
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            swapper.join().unwrap();
            assert_eq!(
                fs::metadata(&victim).unwrap().mode() & 0o7777,
                0o640,
                "round {round}: the prune changed a host file through a link: {r:?}"
            );
            assert_eq!(fs::read_to_string(&victim).unwrap(), "host file\n");
            // What a swap left behind goes with the next prune.
            let _ = prune();
        }
    });
}

/// Wait until `path`'s ctime is more than `age` old (the cache's index
/// records only stamps that old), by the clock, with a deadline.
fn wait_until_older_than(path: &Path, age: Duration) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let m = fs::metadata(path).unwrap();
        let ctime = std::time::UNIX_EPOCH + Duration::new(m.ctime() as u64, m.ctime_nsec() as u32);
        if std::time::SystemTime::now()
            .duration_since(ctime)
            .is_ok_and(|d| d > age)
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the clock stands still"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_known_tarball_is_not_read_again_until_it_changes() {
    each(|f, who| {
        let out = f.scratch.join(format!("indexed-{}.tar", who.uid()));
        let spec = format!(
            r#"{{"from_dir": {}, "entries": [{{"name": "./marker", "type": "file", "data": "AAAA-marker"}}]}}"#,
            json_str(&f.rootfs(who).display().to_string())
        );
        make_tar(&spec, &out);
        let c = cache(f, who, "indexed");
        let launch = || {
            let r = run(
                with_cache(
                    f.nslaunch_on(who, &out, &["--verbose", "cat", "/marker"]),
                    &c,
                ),
                None,
            );
            assert_eq!(r.code(), 0, "{r:?}");
            r
        };
        const HASHED: &str = "read and hash the tarball";
        const KNOWN: &str = "are in the cache's index";
        wait_until_older_than(&out, Duration::from_millis(2500));
        let first = launch();
        assert!(first.stdout.contains("AAAA-marker"), "{first:?}");
        assert!(first.stderr.contains(HASHED), "{}", first.stderr);
        // Known by (device, inode, size, mtime, ctime): not read again.
        let second = launch();
        assert!(second.stdout.contains("AAAA-marker"), "{second:?}");
        assert!(second.stderr.contains(KNOWN), "{}", second.stderr);
        assert!(!second.stderr.contains(HASHED), "{}", second.stderr);
        // Changed in place, same size, mtime put back: the ctime moved,
        // so it is read, and the change is seen.
        let m = fs::metadata(&out).unwrap();
        let mut bytes = fs::read(&out).unwrap();
        let at = bytes.windows(11).position(|w| w == b"AAAA-marker").unwrap();
        bytes[at..at + 4].copy_from_slice(b"BBBB");
        {
            use std::io::{Seek, Write};
            let mut file = fs::OpenOptions::new().write(true).open(&out).unwrap();
            file.seek(std::io::SeekFrom::Start(at as u64)).unwrap();
            file.write_all(b"BBBB").unwrap();
        }
        let t = nix::sys::time::TimeSpec::new(m.mtime(), m.mtime_nsec());
        nix::sys::stat::utimensat(
            nix::fcntl::AT_FDCWD,
            &out,
            &t,
            &t,
            nix::sys::stat::UtimensatFlags::FollowSymlink,
        )
        .unwrap();
        let after = fs::metadata(&out).unwrap();
        assert_eq!(
            (after.len(), after.mtime(), after.mtime_nsec()),
            (m.len(), m.mtime(), m.mtime_nsec())
        );
        let third = launch();
        assert!(third.stdout.contains("BBBB-marker"), "{third:?}");
        assert!(third.stderr.contains(HASHED), "{}", third.stderr);
        assert_eq!(cache_names(&c).len(), 2, "{:?}", cache_names(&c));
    });
}
