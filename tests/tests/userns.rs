//! ID-mapping modes (`--userns`, `--uid-map`, `--gid-map`): the maps each
//! mode installs, who owns what the container writes, real root's default,
//! and every bad map refused before anything runs. As root and as an
//! unprivileged user; some scenarios also as a user without subordinate
//! ids.

use std::fs;

use nslaunch_tests::*;

fn start(who: &Who, file: &str) -> u32 {
    subid_start(who, file).unwrap_or_else(|| panic!("{} has no range in {file}", who.name()))
}

/// Whether `who` has subordinate ids; says so (SKIP) when not.
fn has_subids(who: &Who) -> bool {
    let has =
        subid_start(who, "/etc/subuid").is_some() && subid_start(who, "/etc/subgid").is_some();
    if !has {
        skip(&format!("{} has no subordinate ids", who.name()));
    }
    has
}

#[test]
fn subids_maps_both_lines_and_a_chown_lands_on_the_subordinate_id() {
    each(|f, who| {
        if !has_subids(who) {
            return;
        }
        let (su, sg) = (start(who, "/etc/subuid"), start(who, "/etc/subgid"));
        let rootfs = f.own_rootfs(who, "subids");
        let dir = f.dir(who, "subids");
        let v = format!("{}:/vol", dir.display());
        // What useradd does (busybox has none), then the new user at work.
        let script = "cat /proc/self/uid_map /proc/self/gid_map; \
                      touch /vol/f && chown 1000:1000 /vol/f && \
                      echo nsl-added:x:1001:1001::/home/nsl-added:/bin/sh >> /etc/passwd && \
                      echo nsl-added:x:1001: >> /etc/group && mkdir /home/nsl-added && \
                      chown nsl-added:nsl-added /home/nsl-added && \
                      su nsl-added -c 'touch ~/mine; id'";
        let r = run(
            f.nslaunch_on(
                who,
                &rootfs,
                &["--userns", "subids", "-v", &v, "sh", "-c", script],
            ),
            None,
        );
        assert_eq!(r.code(), 0, "{r:?}");
        let l = map_lines(&r.stdout);
        assert_eq!(
            l[..4],
            [
                format!("0 {} 1", who.uid()),
                format!("1 {su} 65536"),
                format!("0 {} 1", who.gid()),
                format!("1 {sg} 65536"),
            ],
            "{r:?}"
        );
        assert!(
            l[4].starts_with("uid=1001(nsl-added) gid=1001(nsl-added)"),
            "{r:?}"
        );
        // Container id N is the N-th subordinate id: su + N - 1.
        assert_eq!(owner(&dir.join("f")), (su + 999, sg + 999));
        let home = rootfs.join("home/nsl-added");
        assert_eq!(owner(&home), (su + 1000, sg + 1000));
        assert_eq!(owner(&home.join("mine")), (su + 1000, sg + 1000));
        // An ordinary user cannot remove what its subordinate ids own;
        // the scratch directory goes at exit as far as it can.
        let _ = fs::remove_dir_all(&rootfs);
    });
}

#[test]
fn keep_id_keeps_the_callers_uid_and_gid_inside() {
    let check = |f: &Fixture, who: &Who| {
        let dir = f.dir(who, "keep");
        let v = format!("{}:/vol", dir.display());
        let r = run(
            f.nslaunch(
                who,
                &[
                    "--userns",
                    "keep-id",
                    "-v",
                    &v,
                    "sh",
                    "-c",
                    "id -u; id -g; echo x > /vol/k; cat /proc/self/uid_map",
                ],
            ),
            None,
        );
        assert_eq!(r.code(), 0, "{r:?}");
        let l = map_lines(&r.stdout);
        assert_eq!(l[0], who.uid().to_string(), "{r:?}");
        assert_eq!(l[1], who.gid().to_string(), "{r:?}");
        assert!(l.contains(&format!("{0} {0} 1", who.uid())), "{r:?}");
        assert_eq!(owner(&dir.join("k")), (who.uid(), who.gid()));
        match subid_start(who, "/etc/subuid") {
            // Root (0) is the first subordinate id, as podman does.
            Some(su) if !who.is_root() => {
                assert_eq!(l[2], format!("0 {su} {}", who.uid()), "{r:?}");
                let r = run(
                    f.nslaunch(who, &["--userns", "keep-id", "-u", "0", "id", "-u"]),
                    None,
                );
                assert_eq!((r.code(), r.stdout.as_str()), (0, "0\n"), "{r:?}");
            }
            Some(_) => {}
            // Only the caller's own id: nsinit ran as it, with ambient
            // capabilities, and still built the container.
            None => assert_eq!(l.len(), 3, "{r:?}"),
        }
    };
    each(check);
    let Some(f) = fixture() else { return };
    if let Some(nosub) = f.nosub() {
        eprintln!("--- as {}", nosub.label());
        check(f, nosub);
    }
}

#[test]
fn real_roots_default_runs_the_container_as_an_unprivileged_block() {
    let Some(f) = fixture() else { return };
    let Some(who) = f.who.iter().find(|w| w.is_root()) else {
        skip("not root: real root's default cannot be tried");
        return;
    };
    let (su, sg) = (start(who, "/etc/subuid"), start(who, "/etc/subgid"));
    let dir = f.dir(who, "auto");
    let v = format!("{}:/vol:idmap", dir.display());
    // Container root is host id `su`, yet through the idmapped rootfs and
    // an :idmap volume, files keep their owners: root's rootfs is root's
    // inside, and what root inside writes there is root's on the host (a
    // plain volume is the block's: see volumes.rs).
    let script = "cat /proc/self/uid_map /proc/self/gid_map; stat -c %u:%g /bin /etc/passwd; \
                  echo x > /vol/root-wrote; touch /vol/c && chown 1000:1000 /vol/c; \
                  echo 3 > /proc/sys/vm/drop_caches 2>/dev/null && echo WROTE-PROC-SYS; echo done";
    let r = run(f.nslaunch(who, &["-v", &v, "sh", "-c", script]), None);
    assert_eq!(r.code(), 0, "{r:?}");
    assert_eq!(
        map_lines(&r.stdout),
        [
            format!("0 {su} 65536"),
            format!("0 {sg} 65536"),
            "0:0".into(),
            "0:0".into(),
            "done".into()
        ],
        "{r:?}"
    );
    assert_eq!(owner(&dir.join("root-wrote")), (0, 0));
    assert_eq!(owner(&dir.join("c")), (1000, 1000));
    // -u 1000:1000 works, and writes as 1000 on disk.
    fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o1777)).unwrap();
    let r = run(
        f.nslaunch(
            who,
            &[
                "-v",
                &v,
                "-u",
                "1000:1000",
                "sh",
                "-c",
                "id -u; touch /vol/u",
            ],
        ),
        None,
    );
    assert_eq!((r.code(), r.stdout.as_str()), (0, "1000\n"), "{r:?}");
    assert_eq!(owner(&dir.join("u")), (1000, 1000));
    // On the host, nsinit and the command run as the block's first id.
    let mut c = Running::start(f.nslaunch(who, &["sh", "-c", "echo ready; exec sleep 100"]));
    c.wait_line("ready");
    let init = *children_of(c.pid()).first().expect("nslaunch has no child");
    let cmd = *children_of(init).first().expect("nsinit has no child");
    for pid in [init, cmd] {
        let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        let uids: Vec<&str> = uid_line.split_whitespace().skip(1).collect();
        assert_eq!(uids, vec![su.to_string(); 4], "pid {pid}: {uid_line}");
    }
    // Its ids changed (which clears the parent-death signal); it was set
    // again: killing nslaunch still ends the container.
    let ns = pid_ns_of(init).expect("the container's pid namespace");
    c.signal(libc::SIGKILL);
    let _ = c.finish();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while !processes_in_ns(&ns).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the container outlived nslaunch"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn host_mode_is_real_roots_alone_and_has_no_user_namespace() {
    each(|f, who| {
        let r = run(
            f.nslaunch(who, &["--userns", "host", "sh", "-c", "cat /proc/self/uid_map; readlink /proc/self/ns/user; grep CapEff /proc/self/status"]),
            None,
        );
        if who.is_root() {
            assert_eq!(r.code(), 0, "{r:?}");
            let host_ns = fs::read_link("/proc/self/ns/user").unwrap();
            let l = map_lines(&r.stdout);
            assert_eq!(l[0], "0 0 4294967295", "{r:?}");
            assert_eq!(l[1], host_ns.display().to_string(), "{r:?}");
            // Docker's set without MKNOD (no device cgroup here).
            assert_eq!(l[2], "CapEff: 00000000a00425fb", "{r:?}");
        } else {
            assert_eq!(r.code(), 125, "{r:?}");
            assert_eq!(lines(&r.stderr).len(), 1, "{r:?}");
            assert!(
                r.stderr
                    .starts_with("nslaunch: --userns host: only real root"),
                "{r:?}"
            );
            assert!(r.stdout.is_empty(), "{r:?}");
        }
    });
}

#[test]
fn explicit_maps_are_installed_as_given() {
    each(|f, who| {
        if !has_subids(who) {
            return;
        }
        let (u, g) = (who.uid(), who.gid());
        let (su, sg) = (start(who, "/etc/subuid"), start(who, "/etc/subgid"));
        let (um, gm) = if who.is_root() {
            (vec![format!("0:{su}:1000")], vec![format!("0:{sg}:1000")])
        } else {
            (
                vec![format!("0:{u}:1"), format!("1:{su}:100")],
                vec![format!("0:{g}:1"), format!("1:{sg}:100")],
            )
        };
        let mut args = Vec::new();
        for m in &um {
            args.extend(["--uid-map", m.as_str()]);
        }
        for m in &gm {
            args.extend(["--gid-map", m.as_str()]);
        }
        args.extend([
            "sh",
            "-c",
            "cat /proc/self/uid_map /proc/self/gid_map; id -u",
        ]);
        let r = run(f.nslaunch(who, &args), None);
        assert_eq!(r.code(), 0, "{r:?}");
        let want: Vec<String> = um
            .iter()
            .chain(&gm)
            .map(|m| m.replace(':', " "))
            .chain(["0".to_string()])
            .collect();
        assert_eq!(map_lines(&r.stdout), want, "{r:?}");
    });
}

#[test]
fn bad_maps_and_modes_are_125_with_one_line_and_run_nothing() {
    each(|f, who| {
        let u = who.uid().to_string();
        let own = format!("0:{u}:1");
        let own_g = format!("0:{}:1", who.gid());
        let mut cases: Vec<(Vec<String>, &str)> = vec![
            (
                vec!["--userns".into(), "keepid".into()],
                "--userns keepid: unknown mode",
            ),
            (
                vec![
                    "--uid-map".into(),
                    format!("0:{u}"),
                    "--gid-map".into(),
                    own_g.clone(),
                ],
                "INSIDE:OUTSIDE:COUNT",
            ),
            (
                vec![
                    "--uid-map".into(),
                    "a:b:c".into(),
                    "--gid-map".into(),
                    own_g.clone(),
                ],
                "--uid-map a:b:c: INSIDE",
            ),
            (
                vec![
                    "--uid-map".into(),
                    format!("0:{u}:0"),
                    "--gid-map".into(),
                    own_g.clone(),
                ],
                "COUNT must be above 0",
            ),
            (
                vec![
                    "--uid-map".into(),
                    own.clone(),
                    "--uid-map".into(),
                    format!("0:{u}:1"),
                    "--gid-map".into(),
                    own_g.clone(),
                ],
                "overlap",
            ),
            (
                vec![
                    "--uid-map".into(),
                    own.clone(),
                    "--gid-map".into(),
                    own_g.clone(),
                    "--gid-map".into(),
                    format!("1:{}:1", who.gid()),
                ],
                "overlap on the host",
            ),
            (
                vec![
                    "--uid-map".into(),
                    format!("4294967290:{u}:10"),
                    "--gid-map".into(),
                    own_g.clone(),
                ],
                "32-bit",
            ),
            (
                vec!["--uid-map".into(), own.clone()],
                "--uid-map needs --gid-map",
            ),
            (
                vec!["--gid-map".into(), own_g.clone()],
                "--gid-map needs --uid-map",
            ),
            (
                vec![
                    "--userns".into(),
                    "root".into(),
                    "--uid-map".into(),
                    own.clone(),
                    "--gid-map".into(),
                    own_g.clone(),
                ],
                "not both",
            ),
        ];
        if !who.is_root() {
            cases.push((
                vec![
                    "--uid-map".into(),
                    "0:0:1".into(),
                    "--gid-map".into(),
                    own_g.clone(),
                ],
                "host uids 0-0 are not yours to map",
            ));
            cases.push((vec!["--userns".into(), "auto".into()], "only real root"));
        }
        check_refused(f, who, &cases);
    });
    // A user without subordinate ids: every mode or map that needs them
    // names the missing line and the command that adds it.
    let Some(f) = fixture() else { return };
    let Some(who) = f.nosub() else { return };
    eprintln!("--- as {}", who.label());
    let u = who.uid();
    let hint = format!("/etc/subuid has no line for {}", who.name());
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--userns".into(), "subids".into()], &hint),
        (
            vec!["--userns".into(), "subids".into()],
            "usermod --add-subuids",
        ),
        (
            vec![
                "--uid-map".into(),
                format!("0:{u}:1"),
                "--uid-map".into(),
                "1:100000:10".into(),
                "--gid-map".into(),
                format!("0:{}:1", who.gid()),
            ],
            "host uids 100000-100009 are not yours to map",
        ),
        (
            vec![
                "--uid-map".into(),
                format!("0:{u}:1"),
                "--uid-map".into(),
                "1:100000:10".into(),
                "--gid-map".into(),
                format!("0:{}:1", who.gid()),
            ],
            &hint,
        ),
    ];
    check_refused(f, who, &cases);
}

fn check_refused(f: &Fixture, who: &Who, cases: &[(Vec<String>, &str)]) {
    let rootfs = f.own_rootfs(who, "refused");
    let before = snapshot(&rootfs);
    let mounts_before = host_mounts();
    for (flags, want) in cases {
        let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
        args.extend(["sh", "-c", "echo RAN"]);
        let r = run(f.nslaunch_on(who, &rootfs, &args), None);
        assert_refused(&r, &format!("{flags:?}"), want, &rootfs);
    }
    assert_eq!(host_mounts(), mounts_before);
    assert_eq!(snapshot(&rootfs), before);
    fs::remove_dir_all(&rootfs).unwrap();
}
