//! Volumes (`-v SRC:DST[:OPTIONS]`): who owns what is written through them,
//! how host ids outside the mapping look inside, that `:ro` holds against
//! container root, that under real root's default container root is not
//! host root on a volume (and what `:idmap` gives up), that no symlink or
//! `..` in the rootfs sends a volume onto the host, and that nothing is
//! left behind, even on a shared host mount. Every scenario runs as root
//! and as an unprivileged user, in each `--userns` mode they can use.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nslaunch_tests::*;

/// The `--userns` modes `who` can use ("" is the default).
fn modes(who: &Who) -> Vec<&'static str> {
    if who.is_root() {
        vec!["", "auto", "root", "subids", "keep-id", "host"]
    } else if subid_start(who, "/etc/subuid").is_some() && subid_start(who, "/etc/subgid").is_some()
    {
        vec!["", "root", "subids", "keep-id"]
    } else {
        skip(&format!(
            "{} has no subordinate ids: no --userns subids",
            who.name()
        ));
        vec!["", "root", "keep-id"]
    }
}

/// Under real root's `auto` (its default, "" here) a plain volume is
/// written by container root as the block's first ids.
fn is_auto(who: &Who, mode: &str) -> bool {
    who.is_root() && (mode.is_empty() || mode == "auto")
}

/// The block real root's `auto` maps container 0 to: (uid, gid).
fn block(who: &Who) -> (u32, u32) {
    let start = |file| subid_start(who, file).expect("root always has a block");
    (start("/etc/subuid"), start("/etc/subgid"))
}

#[test]
fn a_file_written_into_a_volume_belongs_to_the_caller_or_under_auto_to_the_block() {
    // What the command writes as its default user (container root, or the
    // caller itself under keep-id) lands on the host as the caller; under
    // real root's auto, as the block's first ids (userns-remap's promise),
    // or as the caller through an :idmap volume.
    each(|f, who| {
        for mode in modes(who) {
            let dir = f.dir(who, &format!("own{mode}"));
            if is_auto(who, mode) {
                // Container root is not root's on the host: give it the
                // directory's write permission, as docker's userns-remap
                // needs too.
                fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
            }
            let v = format!("{}:/vol", dir.display());
            let args = with_userns(mode, &["-v", &v, "sh", "-c", "echo x > /vol/f"]);
            let r = run(f.nslaunch(who, &args), None);
            assert_eq!(r.code(), 0, "--userns {mode:?}: {r:?}");
            let want = if is_auto(who, mode) {
                block(who)
            } else {
                (who.uid(), who.gid())
            };
            assert_eq!(owner(&dir.join("f")), want, "--userns {mode:?}");
            if who.is_root() && mode != "host" {
                let v = format!("{}:/vol:idmap", dir.display());
                let args = with_userns(mode, &["-v", &v, "sh", "-c", "echo x > /vol/g"]);
                let r = run(f.nslaunch(who, &args), None);
                assert_eq!(r.code(), 0, "--userns {mode:?} :idmap: {r:?}");
                assert_eq!(owner(&dir.join("g")), (0, 0), "--userns {mode:?} :idmap");
            }
        }
    });
    // The same for a user without subordinate ids, in the modes it has.
    let Some(f) = fixture() else { return };
    if let Some(who) = f.nosub() {
        for mode in ["root", "keep-id"] {
            let dir = f.dir(who, &format!("own-nosub-{mode}"));
            let v = format!("{}:/vol", dir.display());
            let r = run(
                f.nslaunch(
                    who,
                    &["--userns", mode, "-v", &v, "sh", "-c", "echo x > /vol/f"],
                ),
                None,
            );
            assert_eq!(r.code(), 0, "--userns {mode}: {r:?}");
            assert_eq!(owner(&dir.join("f")), (who.uid(), who.gid()));
        }
    }
}

#[test]
fn a_host_file_owned_by_an_id_outside_the_mapping_shows_as_nobody() {
    each(|f, who| {
        let dir = f.dir(who, "unmapped");
        let file = dir.join("theirs");
        fs::write(&file, "not yours\n").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        // 70000: no test user, above 0..65535 (auto's idmap), below every
        // subordinate range here. As an ordinary user we cannot chown; a
        // file of our own then stays ours, so the check needs root.
        if nix::unistd::getuid().is_root() {
            nix::unistd::chown(
                &file,
                Some(nix::unistd::Uid::from_raw(70000)),
                Some(nix::unistd::Gid::from_raw(70000)),
            )
            .unwrap();
        } else {
            skip("not root: cannot give a file to an unmapped id");
            return;
        }
        let v = format!("{}:/vol", dir.display());
        for mode in modes(who).into_iter().filter(|m| *m != "host") {
            let args = with_userns(mode, &["-v", &v, "stat", "-c", "%u:%g", "/vol/theirs"]);
            let r = run(f.nslaunch(who, &args), None);
            assert_eq!(r.code(), 0, "--userns {mode:?}: {r:?}");
            assert_eq!(r.stdout.trim(), "65534:65534", "--userns {mode:?}: {r:?}");
        }
    });
}

#[test]
fn ro_volumes_hold_against_container_root_including_remount() {
    let script = r#"
        id -u
        touch /ro/new 2>/dev/null && echo WROTE
        echo x >> /ro/existing 2>/dev/null && echo APPENDED
        echo x > /rofile 2>/dev/null && echo WROTE-FILE
        mount -o remount,rw /ro 2>/dev/null && echo REMOUNTED
        mount -o remount,bind,rw /ro 2>/dev/null && echo REMOUNTED-BIND
        mount -t tmpfs none /ro 2>/dev/null && echo MOUNTED-OVER
        umount /ro 2>/dev/null && echo UNMOUNTED
        umount -l /ro 2>/dev/null && echo UNMOUNTED-LAZY
        unshare -Urm sh -c 'mount -o remount,rw /ro && touch /ro/nested' 2>/dev/null && echo NESTED
        touch /ro/after 2>/dev/null && echo WROTE-AFTER
        awk '$5 == "/ro" || $5 == "/rofile" { print $5, substr($6, 1, 2) }' /proc/self/mountinfo
        cat /ro/existing
    "#;
    each(|f, who| {
        let dir = f.dir(who, "ro");
        write_as(who, &dir.join("existing"), "before\n");
        let file = f.scratch.join(format!("rofile-{}", who.uid()));
        write_as(who, &file, "file before\n");
        let before = snapshot(&dir);
        let v = format!("{}:/ro:ro", dir.display());
        let vf = format!("{}:/rofile:ro", file.display());
        for mode in modes(who) {
            let args = with_userns(mode, &["-v", &v, "-v", &vf, "sh", "-c", script]);
            let r = run(f.nslaunch(who, &args), None);
            assert_eq!(r.code(), 0, "--userns {mode:?}: {r:?}");
            // Container root, but for an ordinary user's keep-id.
            let id = if mode == "keep-id" { who.uid() } else { 0 }.to_string();
            assert_eq!(
                lines(&r.stdout),
                [id.as_str(), "/ro ro", "/rofile ro", "before"],
                "--userns {mode:?}: {r:?}"
            );
            assert_eq!(
                snapshot(&dir),
                before,
                "--userns {mode:?}: the volume changed"
            );
            assert_eq!(fs::read_to_string(&file).unwrap(), "file before\n");
        }
    });
}

/// The rootfs paths that point at `decoy` on the host: an absolute
/// symlink, a relative one climbing with `..`, one to a path below it.
fn plant_symlinks(rootfs: &Path, decoy: &Path) {
    let d = decoy.display().to_string();
    std::os::unix::fs::symlink(&d, rootfs.join("abs")).unwrap();
    std::os::unix::fs::symlink(format!("../../../../../../../..{d}"), rootfs.join("rel")).unwrap();
    std::os::unix::fs::symlink(format!("{d}/sub"), rootfs.join("deep")).unwrap();
    std::os::unix::fs::symlink(format!("../..{d}"), rootfs.join("usr/up")).unwrap();
}

/// `mkdir -p path` under `base`, every new directory owned by `who`.
fn mkdir_as(who: &Who, base: &Path, path: &Path) {
    let mut at = base.to_path_buf();
    for part in path.strip_prefix(base).unwrap().components() {
        at.push(part);
        if !at.exists() {
            fs::create_dir(&at).unwrap();
            nix::unistd::chown(
                &at,
                Some(nix::unistd::Uid::from_raw(who.uid())),
                Some(nix::unistd::Gid::from_raw(who.gid())),
            )
            .unwrap();
        }
    }
}

#[test]
fn a_symlink_or_dotdot_in_the_rootfs_cannot_send_a_volume_onto_the_host() {
    each(|f, who| {
        let rootfs = f.own_rootfs(who, "escape");
        let decoy = f.dir(who, "decoy");
        fs::create_dir_all(decoy.join("sub")).unwrap();
        fs::write(decoy.join("marker"), "decoy\n").unwrap();
        plant_symlinks(&rootfs, &decoy);
        let src = f.dir(who, "escape-src");
        write_as(who, &src.join("from-volume"), "volume\n");
        let decoy_before = snapshot(&decoy);
        let mounts_before = host_mounts();
        let v = |dst: &str| format!("{}:{dst}", src.display());
        let script = |dst: &str| format!("touch {dst}/ESCAPED; ls {dst}");

        // Where the symlinks point does not exist inside the rootfs: each
        // target is refused (125, one line naming it), never followed out.
        for dst in [
            "/abs",
            "/abs/x",
            "/rel",
            "/rel/x",
            "/deep",
            "/deep/y",
            "/usr/up/z",
        ] {
            let r = run(
                f.nslaunch_on(who, &rootfs, &["-v", &v(dst), "sh", "-c", &script(dst)]),
                None,
            );
            assert_eq!(r.code(), 125, "{dst}: {r:?}");
            assert_eq!(lines(&r.stderr).len(), 1, "{dst}: {r:?}");
            assert!(r.stderr.contains(dst), "{dst}: {r:?}");
            assert!(r.stdout.is_empty(), "{dst}: the command ran: {r:?}");
        }
        // A `..` in DST itself is refused before anything runs.
        let dotdot = format!("/../../../..{}", decoy.display());
        let r = run(
            f.nslaunch_on(who, &rootfs, &["-v", &v(&dotdot), "true"]),
            None,
        );
        assert_eq!(r.code(), 125, "{r:?}");
        assert!(r.stderr.contains("\"..\""), "{r:?}");

        // Once the path exists inside the rootfs too, the same symlinks
        // lead there: the volume is mounted inside the rootfs.
        let inside = rootfs.join(decoy.strip_prefix("/").unwrap());
        mkdir_as(who, &rootfs, &inside.join("sub"));
        for dst in ["/abs", "/rel/x", "/deep/y", "/usr/up/z"] {
            let r = run(
                f.nslaunch_on(
                    who,
                    &rootfs,
                    &["-v", &v(dst), "cat", &format!("{dst}/from-volume")],
                ),
                None,
            );
            assert_eq!(
                (r.code(), r.stdout.as_str()),
                (0, "volume\n"),
                "{dst}: {r:?}"
            );
        }
        assert!(
            inside.join("x").is_dir() && inside.join("sub/y").is_dir() && inside.join("z").is_dir()
        );
        assert_eq!(snapshot(&decoy), decoy_before, "the host's decoy changed");
        assert!(!src.join("ESCAPED").exists());
        assert_eq!(host_mounts(), mounts_before);
        fs::remove_dir_all(&rootfs).unwrap();
    });
}

/// `after` is `before` plus exactly `created` (empty directories or
/// files); the directories they were made in may have a new mtime.
fn assert_only_created(
    before: &BTreeMap<PathBuf, String>,
    after: &BTreeMap<PathBuf, String>,
    created: &[&str],
) {
    let mut created: Vec<PathBuf> = created.iter().map(PathBuf::from).collect();
    created.sort();
    let parents: Vec<PathBuf> = created
        .iter()
        .filter_map(|c| c.parent().map(Path::to_path_buf))
        .collect();
    let new: Vec<&PathBuf> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    assert_eq!(
        new,
        created.iter().collect::<Vec<_>>(),
        "new entries in the rootfs"
    );
    let without_mtime = |s: &str| s.rsplit_once(' ').map_or("", |(rest, _)| rest).to_string();
    for (path, was) in before {
        let now = after
            .get(path)
            .unwrap_or_else(|| panic!("{} is gone", path.display()));
        if parents.contains(path) {
            assert_eq!(without_mtime(now), without_mtime(was), "{}", path.display());
        } else {
            assert_eq!(now, was, "{} changed", path.display());
        }
    }
}

#[test]
fn volumes_change_nothing_but_missing_mount_points_and_leave_no_mount() {
    each(|f, who| {
        let rootfs = f.own_rootfs(who, "points");
        let dir = f.dir(who, "points-src");
        write_as(who, &dir.join("in-dir"), "dir volume\n");
        let file = f.scratch.join(format!("points-file-{}", who.uid()));
        write_as(who, &file, "file volume\n");
        let before = snapshot(&rootfs);
        let mounts_before = host_mounts();
        // Relative SRC is relative to the current directory (/tmp here).
        let rel = Path::new("..").join(dir.strip_prefix("/").unwrap());
        let args = [
            "-v",
            &format!("{}:/new/deeper/dir", rel.display()),
            "-v",
            &format!("{}:/etc/new-file:ro", file.display()),
            "-v",
            &format!("{}:/tmp", dir.display()),
            "sh",
            "-c",
            "cat /new/deeper/dir/in-dir /etc/new-file /tmp/in-dir; \
             awk '$5 == \"/new/deeper/dir\" || $5 == \"/etc/new-file\" || $5 == \"/tmp\"' /proc/self/mountinfo | wc -l",
        ];
        let r = run(f.nslaunch_on(who, &rootfs, &args), None);
        assert_eq!(r.code(), 0, "{r:?}");
        assert_eq!(
            lines(&r.stdout),
            ["dir volume", "file volume", "dir volume", "3"],
            "{r:?}"
        );
        assert_eq!(host_mounts(), mounts_before, "a mount was left on the host");
        assert_only_created(
            &before,
            &snapshot(&rootfs),
            &["new", "new/deeper", "new/deeper/dir", "etc/new-file"],
        );
        assert_eq!(fs::metadata(rootfs.join("etc/new-file")).unwrap().len(), 0);
        assert_eq!(
            fs::read_dir(rootfs.join("new/deeper/dir")).unwrap().count(),
            0
        );
        // A second run finds the mount points there and changes nothing.
        let again = snapshot(&rootfs);
        let r = run(f.nslaunch_on(who, &rootfs, &args), None);
        assert_eq!(r.code(), 0, "{r:?}");
        assert_eq!(snapshot(&rootfs), again);
        fs::remove_dir_all(&rootfs).unwrap();
    });
}

#[test]
fn bad_volume_specs_are_125_with_one_line_and_leave_nothing_behind() {
    each(|f, who| {
        let rootfs = f.own_rootfs(who, "badvol");
        let src = f.dir(who, "badvol-src");
        let s = src.display().to_string();
        let file = f.scratch.join(format!("badvol-file-{}", who.uid()));
        write_as(who, &file, "a file\n");
        let fl = file.display().to_string();
        let before = snapshot(&rootfs);
        let mounts_before = host_mounts();
        let cases: Vec<(Vec<String>, &str)> = vec![
            (vec!["justone".into()], "-v justone: expected SRC:DST"),
            (vec![format!("{s}:/a:ro:x")], "expected SRC:DST"),
            (vec![":/x".into()], "SRC"),
            (vec![format!("{s}:")], "DST"),
            (vec!["/no/such/dir:/x".into()], "/no/such/dir: No such file"),
            (
                vec![format!("{s}:relative/dst")],
                "relative/dst must be an absolute path",
            ),
            (vec![format!("{s}:/x:rx")], "\"rx\""),
            (vec![format!("{s}:/x/../../etc")], "\"..\""),
            (vec![format!("{s}:/")], "cannot be /"),
            (
                vec![format!("{s}:/x"), format!("{s}:/x/")],
                "/x is the target of more than one",
            ),
            // Found only inside: a file source onto a directory, a
            // directory source onto a file.
            (
                vec![format!("{fl}:/etc")],
                "/etc is a directory in the rootfs",
            ),
            (vec![format!("{s}:/bin/busybox/x")], "is not a directory"),
        ];
        for (vols, want) in cases {
            let mut args: Vec<&str> = Vec::new();
            for v in &vols {
                args.extend(["-v", v.as_str()]);
            }
            args.extend(["sh", "-c", "echo RAN; touch /ran"]);
            let r = run(f.nslaunch_on(who, &rootfs, &args), None);
            assert_refused(&r, &format!("{vols:?}"), want, &rootfs);
            assert_eq!(host_mounts(), mounts_before, "{vols:?}: a mount was left");
            assert_eq!(snapshot(&rootfs), before, "{vols:?}: the rootfs changed");
        }
        assert_eq!(fs::read_dir(&src).unwrap().count(), 0);
        fs::remove_dir_all(&rootfs).unwrap();
    });
}

#[test]
fn a_mount_point_the_user_cannot_create_is_named_not_blamed_on_the_source() {
    // A rootfs owned by someone else (root's, used by the unprivileged
    // user): a missing DST cannot be created, and the message says so.
    let Some(f) = fixture() else { return };
    let (Some(root), Some(user)) = (
        f.who.iter().find(|w| w.is_root()),
        f.who.iter().find(|w| !w.is_root()),
    ) else {
        skip("needs both root and an unprivileged user");
        return;
    };
    let src = f.dir(user, "mp-src");
    let s = format!("{}:/no-such-mount-point", src.display());
    let mut c = std::process::Command::new(&f.nslaunch);
    c.arg("--rootfs")
        .arg(f.rootfs(root))
        .args(["-v", &s, "true"]);
    let r = run(as_who(user, &mut c), None);
    assert_eq!(r.code(), 125, "{r:?}");
    assert_eq!(lines(&r.stderr).len(), 1, "{r:?}");
    assert!(
        r.stderr
            .contains("cannot create the mount point /no-such-mount-point"),
        "{r:?}"
    );
    assert!(!f.rootfs(root).join("no-such-mount-point").exists());
}

/// Real root, or a SKIP.
fn root_only(f: &Fixture) -> Option<&Who> {
    let who = f.who.iter().find(|w| w.is_root());
    if who.is_none() {
        skip("not root: real root's default mapping cannot be tried");
    }
    who
}

/// A volume holding a file and a directory of host uid 4242 (644, 755),
/// in a directory of root's (755).
fn others_volume(f: &Fixture, root: &Who, name: &str) -> PathBuf {
    let dir = f.dir(root, name);
    let file = dir.join("theirs");
    fs::write(&file, "theirs\n").unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    let sub = dir.join("theirdir");
    fs::create_dir(&sub).unwrap();
    fs::set_permissions(&sub, fs::Permissions::from_mode(0o755)).unwrap();
    for p in [&file, &sub] {
        let id = Some(4242);
        nix::unistd::chown(
            p,
            id.map(nix::unistd::Uid::from_raw),
            id.map(nix::unistd::Gid::from_raw),
        )
        .unwrap();
    }
    dir
}

/// What container root tries on a volume of other users' files; a line
/// for each attempt that worked, then "done".
const TRESPASS: &str = "
    echo x >> /data/theirs 2>/dev/null && echo APPENDED
    chmod 666 /data/theirs 2>/dev/null && echo CHMOD
    chown 0:0 /data/theirs 2>/dev/null && echo CHOWN
    touch /data/theirs 2>/dev/null && echo TOUCHED
    touch /data/theirdir/new 2>/dev/null && echo CREATED
    chmod 777 /data/theirdir 2>/dev/null && echo CHMOD-DIR
    cp /bin/busybox /data/bb 2>/dev/null && echo COPIED
    chmod 6755 /data/bb 2>/dev/null && echo SETID
    echo done
";

/// Every set-id file under `dir` on the host, with its owner.
fn setid_files(dir: &Path) -> Vec<(PathBuf, u32, u32)> {
    snapshot(dir)
        .keys()
        .map(|p| dir.join(p))
        .filter_map(|p| {
            let m = fs::symlink_metadata(&p).ok()?;
            (m.is_file() && m.permissions().mode() & 0o6000 != 0).then(|| {
                let (u, g) = owner(&p);
                (p, u, g)
            })
        })
        .collect()
}

#[test]
fn under_real_roots_default_container_root_is_not_host_root_on_a_volume() {
    // docker's userns-remap, podman's --userns=auto: on a plain volume
    // container root is the block's first id, so other users' files are
    // not its own, and nothing it leaves there is root's.
    let Some(f) = fixture() else { return };
    let Some(root) = root_only(f) else { return };
    for mode in ["", "auto"] {
        let dir = others_volume(f, root, &format!("remap{mode}"));
        let before = snapshot(&dir);
        let v = format!("{}:/data", dir.display());
        let r = run(
            f.nslaunch(root, &with_userns(mode, &["-v", &v, "sh", "-c", TRESPASS])),
            None,
        );
        assert_eq!(r.code(), 0, "--userns {mode:?}: {r:?}");
        assert_eq!(lines(&r.stdout), ["done"], "--userns {mode:?}: {r:?}");
        assert_eq!(
            snapshot(&dir),
            before,
            "--userns {mode:?}: the volume changed"
        );
        let setid = setid_files(&dir);
        assert!(setid.is_empty(), "--userns {mode:?}: {setid:?}");
    }
}

#[test]
fn under_real_roots_default_what_container_root_creates_belongs_to_the_block() {
    // A world-writable volume, under a directory only root may enter
    // (0700, as /root is): nslaunch, not the unprivileged container, opens
    // it; what container root writes and makes set-id there is the
    // block's on the host, never root's.
    let Some(f) = fixture() else { return };
    let Some(root) = root_only(f) else { return };
    let locked = f.dir(root, "remap-locked");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o700)).unwrap();
    let dir = locked.join("open");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o1777)).unwrap();
    let v = format!("{}:/data", dir.display());
    let script = "echo y > /data/new && cp /bin/busybox /data/bb && chmod 6755 /data/bb && \
                  stat -c '%u:%g %a' /data/new /data/bb";
    let r = run(f.nslaunch(root, &["-v", &v, "sh", "-c", script]), None);
    assert_eq!(r.code(), 0, "{r:?}");
    // Inside, they are container root's.
    assert_eq!(lines(&r.stdout), ["0:0 644", "0:0 6755"], "{r:?}");
    let (bu, bg) = block(root);
    assert_eq!(owner(&dir.join("new")), (bu, bg));
    assert_eq!(setid_files(&dir), [(dir.join("bb"), bu, bg)]);
}

#[test]
fn an_idmap_volume_keeps_the_ownership_preserving_mount_and_what_it_gives_up() {
    // `:idmap` (podman's spelling): on-disk owners are kept inside, so
    // container root writes what root's and 4242's files allow root, and
    // may leave set-id files owned by host ids.
    let Some(f) = fixture() else { return };
    let Some(root) = root_only(f) else { return };
    for opts in ["idmap", "rw,idmap", "idmap,rw"] {
        let dir = others_volume(f, root, "idmapped");
        let v = format!("{}:/data:{opts}", dir.display());
        let script = format!("stat -c %u:%g /data/theirs; {TRESPASS}");
        let r = run(f.nslaunch(root, &["-v", &v, "sh", "-c", &script]), None);
        assert_eq!(r.code(), 0, ":{opts}: {r:?}");
        assert_eq!(
            lines(&r.stdout),
            [
                "4242:4242",
                "APPENDED",
                "CHMOD",
                "CHOWN",
                "TOUCHED",
                "CREATED",
                "CHMOD-DIR",
                "COPIED",
                "SETID",
                "done"
            ],
            ":{opts}: {r:?}"
        );
        assert_eq!(owner(&dir.join("theirdir/new")), (0, 0), ":{opts}");
        assert_eq!(setid_files(&dir), [(dir.join("bb"), 0, 0)], ":{opts}");
        fs::remove_dir_all(&dir).unwrap();
    }
    // Read-only in either order.
    for opts in ["ro,idmap", "idmap,ro"] {
        let dir = others_volume(f, root, "idmapped-ro");
        let v = format!("{}:/data:{opts}", dir.display());
        let script = format!("stat -c %u:%g /data/theirs; {TRESPASS}");
        let r = run(f.nslaunch(root, &["-v", &v, "sh", "-c", &script]), None);
        assert_eq!(r.code(), 0, ":{opts}: {r:?}");
        assert_eq!(lines(&r.stdout), ["4242:4242", "done"], ":{opts}: {r:?}");
    }
}

#[test]
fn idmap_is_refused_where_it_cannot_be_had() {
    each(|f, who| {
        let rootfs = f.own_rootfs(who, "idmap-refused");
        let src = f.dir(who, "idmap-refused");
        let (case, args, want) = if who.is_root() {
            (
                "--userns host",
                vec!["--userns", "host"],
                "--userns host has no user namespace to map through",
            )
        } else {
            (
                "rootless",
                vec![],
                "only real root can make idmapped mounts",
            )
        };
        for opts in ["idmap", "ro,idmap"] {
            let v = format!("{}:/x:{opts}", src.display());
            let mut args = args.clone();
            args.extend(["-v", &v, "sh", "-c", "echo RAN"]);
            let r = run(f.nslaunch_on(who, &rootfs, &args), None);
            assert_refused(&r, &format!("{case} :{opts}"), want, &rootfs);
            assert!(r.stderr.contains(&format!("-v {v}: ")), "{r:?}");
        }
        for (opts, want) in [
            ("ro,rw", "give ro/rw once"),
            ("idmap,idmap", "give idmap once"),
            ("idmap=uids=0-1-10", "not supported"),
        ] {
            let v = format!("{}:/x:{opts}", src.display());
            let r = run(
                f.nslaunch_on(who, &rootfs, &["-v", &v, "sh", "-c", "echo RAN"]),
                None,
            );
            assert_refused(&r, opts, want, &rootfs);
        }
        fs::remove_dir_all(&rootfs).unwrap();
    });
}

#[test]
fn a_shared_host_mount_gets_nothing_from_the_container() {
    // On most hosts (systemd's) "/" is a shared mount. The trees nslaunch
    // clones for real root's default (the idmapped rootfs, the volumes)
    // must not stay peers of it: nothing mounted inside may appear on the
    // host, and pivot_root refuses a shared root. Tried in a mount
    // namespace of the test's own (private, as unshare makes it), where a
    // bind of a scratch directory is made shared.
    let Some(f) = fixture() else { return };
    let Some(root) = root_only(f) else { return };
    let base = f.dir(root, "shared-host");
    let inner = f.dir(root, "shared-inner");
    let script = r#"
        set -e
        mount --bind "$BASE" "$BASE"
        mount --make-shared "$BASE"
        cp -a "$ROOTFS" "$BASE/r"
        mkdir "$BASE/v" "$BASE/v/inner"
        "$NSLAUNCH" --rootfs "$BASE/r" -v "$BASE/v:/data" -v "$INNER:/data/inner" \
            sh -c 'ls -d /data/inner /proc/self'
        echo "after: $(grep -c " $BASE" /proc/self/mountinfo)"
    "#;
    let mut c = std::process::Command::new("unshare");
    c.args(["-m", "sh", "-c", script])
        .env("BASE", &base)
        .env("INNER", &inner)
        .env("ROOTFS", f.rootfs(root))
        .env("NSLAUNCH", &f.nslaunch);
    let r = run(c, None);
    // The namespace is gone with unshare, and every mount in it.
    fs::remove_dir_all(&base).unwrap();
    assert_eq!(r.code(), 0, "{r:?}");
    // Only the shared bind itself: no /proc, /dev, /sys or volume of the
    // container came back.
    assert_eq!(
        lines(&r.stdout),
        ["/data/inner", "/proc/self", "after: 1"],
        "{r:?}"
    );
}
