//! The command's identity and environment: `-u USER[:GROUP]` from the
//! rootfs's own /etc/passwd and /etc/group, its capabilities, `-e` and
//! `--env-file`, `-w`, `--hostname`. As root and as an unprivileged user.

use std::fs;

use nslaunch_tests::*;

/// A rootfs of `who`'s with users and groups the host does not have.
fn rootfs_with_users(f: &Fixture, who: &Who, name: &str) -> std::path::PathBuf {
    let rootfs = f.own_rootfs(who, name);
    let add = |file: &str, text: &str| {
        let path = rootfs.join(file);
        let mut all = fs::read_to_string(&path).unwrap();
        all.push_str(text);
        fs::write(&path, all).unwrap();
    };
    add("etc/passwd", "nslweb:x:1000:1000:web:/srv/web:/bin/sh\n");
    add(
        "etc/group",
        "nslweb:x:1000:\nnslextra:x:2000:nslweb\nnslstaff:x:3000:root,nslweb\n",
    );
    rootfs
}

/// The mode in which `who` has ids 1000-3000 mapped and may setgroups;
/// `None` (after a SKIP line) for a user without subordinate ids.
fn wide_mode(who: &Who) -> Option<&'static str> {
    if who.is_root() {
        Some("auto")
    } else if subid_start(who, "/etc/subuid").is_some() && subid_start(who, "/etc/subgid").is_some()
    {
        Some("subids")
    } else {
        skip(&format!(
            "{} has no subordinate ids: ids other than its own cannot be tried",
            who.name()
        ));
        None
    }
}

#[test]
fn users_and_groups_come_from_the_rootfs_by_name_or_number() {
    each(|f, who| {
        let rootfs = rootfs_with_users(f, who, "users");
        let table = [
            ("nslweb", "uid=1000(nslweb) gid=1000(nslweb) groups=1000(nslweb),2000(nslextra),3000(nslstaff)", "/srv/web"),
            ("1000", "uid=1000(nslweb) gid=1000(nslweb) groups=1000(nslweb),2000(nslextra),3000(nslstaff)", "/srv/web"),
            ("nslweb:nslstaff", "uid=1000(nslweb) gid=3000(nslstaff) groups=3000(nslstaff)", "/srv/web"),
            ("1234", "uid=1234 gid=0(root) groups=0(root)", "/"),
            ("1234:77", "uid=1234 gid=77 groups=77", "/"),
            ("root", "uid=0(root) gid=0(root) groups=0(root),3000(nslstaff)", "/root"),
            ("0:nslextra", "uid=0(root) gid=2000(nslextra) groups=2000(nslextra)", "/root"),
        ];
        if let Some(mode) = wide_mode(who) {
            for (user, id, home) in table {
                let args = ["--userns", mode, "-u", user, "sh", "-c", "id; echo $HOME"];
                let r = run(f.nslaunch_on(who, &rootfs, &args), None);
                assert_eq!(r.code(), 0, "-u {user}: {r:?}");
                assert_eq!(lines(&r.stdout), [id, home], "-u {user}: {r:?}");
            }
        }
        // The default mode of an ordinary user maps only root, and denies
        // setgroups: root's groups stay as they were.
        let r = run(
            f.nslaunch_on(who, &rootfs, &["-u", "0:0", "id", "-u"]),
            None,
        );
        assert_eq!((r.code(), r.stdout.as_str()), (0, "0\n"), "{r:?}");
        fs::remove_dir_all(&rootfs).unwrap();
    });
}

#[test]
fn a_user_that_does_not_exist_inside_is_125_naming_it() {
    each(|f, who| {
        let rootfs = rootfs_with_users(f, who, "nouser");
        let before = snapshot(&rootfs);
        let mounts_before = host_mounts();
        let mut cases = vec![
            (
                vec!["-u", "nosuchuser"],
                "--user nosuchuser: no user \"nosuchuser\" in the container's /etc/passwd",
            ),
            (
                vec!["-u", "nslweb:nosuchgroup"],
                "no group \"nosuchgroup\" in the container's /etc/group",
            ),
            // The host's test user is not the container's.
            (vec!["-u", "nslaunch-test"], "no user \"nslaunch-test\""),
            (vec!["-u", ""], "--user: empty"),
            (vec!["-u", ":0"], "no user name or id"),
            (vec!["-u", "4294967295"], "not a valid id"),
        ];
        if !who.is_root() {
            cases.push((
                vec!["-u", "1000"],
                "uid 1000 is not mapped in the container's user namespace",
            ));
            cases.push((vec!["-u", "1000"], "--userns subids"));
        }
        for (flags, want) in cases {
            let mut args = flags.clone();
            args.extend(["sh", "-c", "echo RAN"]);
            let r = run(f.nslaunch_on(who, &rootfs, &args), None);
            assert_refused(&r, &format!("{flags:?}"), want, &rootfs);
        }
        assert_eq!(host_mounts(), mounts_before);
        assert_eq!(snapshot(&rootfs), before);
        fs::remove_dir_all(&rootfs).unwrap();
    });
}

/// The command's capability sets, as /proc/self/status shows them.
fn caps_of(f: &Fixture, who: &Who, flags: &[&str]) -> Vec<String> {
    let script = "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status | tr -s '\\t ' ' '; \
                  mount -t tmpfs none /tmp 2>/dev/null && echo MOUNTED; true";
    let mut args = flags.to_vec();
    args.extend(["sh", "-c", script]);
    let r = run(f.nslaunch(who, &args), None);
    assert_eq!(r.code(), 0, "{flags:?}: {r:?}");
    lines(&r.stdout).iter().map(|l| l.to_string()).collect()
}

const ROOT_CAPS: [&str; 5] = [
    "CapInh: 0000000000000000",
    "CapPrm: 00000000a80425fb",
    "CapEff: 00000000a80425fb",
    "CapBnd: 00000000a80425fb",
    "CapAmb: 0000000000000000",
];

const NO_CAPS: [&str; 5] = [
    "CapInh: 0000000000000000",
    "CapPrm: 0000000000000000",
    "CapEff: 0000000000000000",
    "CapBnd: 00000000a80425fb",
    "CapAmb: 0000000000000000",
];

#[test]
fn container_root_keeps_dockers_capabilities_and_other_users_none() {
    each(|f, who| {
        assert_eq!(caps_of(f, who, &[]), ROOT_CAPS);
        // keep-id: the command runs as the caller, root only for root.
        let keep = if who.is_root() { ROOT_CAPS } else { NO_CAPS };
        assert_eq!(caps_of(f, who, &["--userns", "keep-id"]), keep);
        // Another user: nothing, within the same bounding set.
        if let Some(mode) = wide_mode(who) {
            assert_eq!(caps_of(f, who, &["--userns", mode, "-u", "1234"]), NO_CAPS);
        }
    });
    // Without subordinate ids, keep-id runs nsinit as the caller with every
    // capability ambient; none of them may reach the command.
    let Some(f) = fixture() else { return };
    if let Some(who) = f.nosub() {
        assert_eq!(caps_of(f, who, &["--userns", "keep-id"]), NO_CAPS);
        assert_eq!(caps_of(f, who, &[]), ROOT_CAPS);
    }
}

#[test]
fn env_and_env_files_layer_like_docker_and_nothing_else_leaks() {
    each(|f, who| {
        let dir = f.dir(who, "env");
        let file = dir.join("vars.env");
        write_as(
            who,
            &file,
            "# a comment\n\nA=from-file\nB= spaced \"quoted\" \n  C=indented\nFROM_CALLER\nUNSET_ONE\n",
        );
        let other = dir.join("more.env");
        write_as(who, &other, "C=second-file\n");
        let (fl, ot) = (file.display().to_string(), other.display().to_string());
        let mut c = f.nslaunch(
            who,
            &[
                "--env-file",
                &fl,
                "--env-file",
                &ot,
                "-e",
                "A=from-cli",
                "-e",
                "COPIED",
                "-e",
                "UNSET_TWO",
                "-e",
                "EMPTY=",
                "-e",
                "PATH=/bin:/usr/bin",
                "env",
            ],
        );
        c.env("FROM_CALLER", "caller's value")
            .env("COPIED", "copied")
            .env("NSLAUNCH_TEST_LEAK", "leaked")
            .env_remove("TERM")
            .env_remove("UNSET_ONE")
            .env_remove("UNSET_TWO");
        let r = run(c, None);
        assert_eq!(r.code(), 0, "{r:?}");
        let mut got: Vec<&str> = r.stdout.lines().collect();
        got.sort();
        let host = nix::unistd::gethostname().unwrap().into_string().unwrap();
        let hostname = format!("HOSTNAME={host}");
        let mut want = vec![
            "A=from-cli",
            "B= spaced \"quoted\" ",
            "C=second-file",
            "COPIED=copied",
            "EMPTY=",
            "FROM_CALLER=caller's value",
            "HOME=/root",
            &hostname,
            "PATH=/bin:/usr/bin",
        ];
        want.sort();
        assert_eq!(got, want, "{r:?}");

        for (flags, want) in [
            (
                vec!["--env-file", "/no/such/file"],
                "--env-file /no/such/file: No such file",
            ),
            (vec!["-e", "=value"], "-e =value: no variable name"),
            (vec!["-e", ""], "-e : no variable name"),
        ] {
            let mut args = flags.clone();
            args.extend(["echo", "RAN"]);
            let r = run(f.nslaunch(who, &args), None);
            assert_eq!(r.code(), 125, "{flags:?}: {r:?}");
            assert_eq!(lines(&r.stderr).len(), 1, "{flags:?}: {r:?}");
            assert!(
                r.stderr.starts_with(&format!("nslaunch: {want}")),
                "{flags:?}: {r:?}"
            );
            assert!(r.stdout.is_empty());
        }
        let bad = dir.join("bad.env");
        write_as(who, &bad, "OK=1\nMY VAR=2\n");
        let b = bad.display().to_string();
        let r = run(f.nslaunch(who, &["--env-file", &b, "echo", "RAN"]), None);
        assert_eq!(r.code(), 125, "{r:?}");
        assert!(
            r.stderr
                .contains(&format!("--env-file {b}: line 2: variable name \"MY VAR\"")),
            "{r:?}"
        );
    });
}

#[test]
fn workdir_is_created_inside_and_the_command_runs_there() {
    each(|f, who| {
        let rootfs = f.own_rootfs(who, "workdir");
        let in_rootfs = |args: &[&str]| run(f.nslaunch_on(who, &rootfs, args), None);
        let r = in_rootfs(&["-w", "/srv/new/dir", "sh", "-c", "pwd; echo $PWD"]);
        assert_eq!(r.code(), 0, "{r:?}");
        assert_eq!(lines(&r.stdout), ["/srv/new/dir", "/srv/new/dir"], "{r:?}");
        assert!(rootfs.join("srv/new/dir").is_dir());
        for (dir, want) in [
            (
                "relative/dir",
                "--workdir relative/dir: must be an absolute path",
            ),
            ("/bin/busybox", "--workdir /bin/busybox: "),
        ] {
            let r = in_rootfs(&["-w", dir, "echo", "RAN"]);
            assert_eq!(r.code(), 125, "{dir}: {r:?}");
            assert_eq!(lines(&r.stderr).len(), 1, "{dir}: {r:?}");
            assert!(
                r.stderr.starts_with(&format!("nslaunch: {want}")),
                "{dir}: {r:?}"
            );
            assert!(r.stdout.is_empty());
        }
        if let Some(mode) = wide_mode(who) {
            // Another user: it runs there, where it may enter ...
            let r = in_rootfs(&["--userns", mode, "-u", "1234", "-w", "/tmp", "pwd"]);
            assert_eq!((r.code(), r.stdout.as_str()), (0, "/tmp\n"), "{r:?}");
            // ... and not at all where it may not (root's 700 home).
            let r = in_rootfs(&["--userns", mode, "-u", "1234", "-w", "/root", "echo", "RAN"]);
            assert_eq!(r.code(), 125, "{r:?}");
            assert!(
                r.stderr.contains("--workdir /root: Permission denied"),
                "{r:?}"
            );
            assert!(r.stdout.is_empty());
        }
        fs::remove_dir_all(&rootfs).unwrap();
    });
}

#[test]
fn hostname_gives_the_container_a_uts_namespace_of_its_own() {
    each(|f, who| {
        let host = nix::unistd::gethostname().unwrap();
        let host_uts = fs::read_link("/proc/self/ns/uts").unwrap();
        let r = run(
            f.nslaunch(
                who,
                &[
                    "--hostname",
                    "box-1.test",
                    "sh",
                    "-c",
                    "hostname; echo $HOSTNAME; readlink /proc/self/ns/uts",
                ],
            ),
            None,
        );
        assert_eq!(r.code(), 0, "{r:?}");
        let l = lines(&r.stdout);
        assert_eq!(l[..2], ["box-1.test", "box-1.test"], "{r:?}");
        assert_ne!(l[2], host_uts.display().to_string(), "{r:?}");
        assert_eq!(
            nix::unistd::gethostname().unwrap(),
            host,
            "the host's name changed"
        );
        // Without --hostname, the host's UTS namespace and name.
        let r = run(f.nslaunch(who, &["readlink", "/proc/self/ns/uts"]), None);
        assert_eq!(r.stdout.trim(), host_uts.display().to_string(), "{r:?}");
        let long = "x".repeat(65);
        for bad in ["a b", "", &long, "a/b"] {
            let r = run(f.nslaunch(who, &["--hostname", bad, "echo", "RAN"]), None);
            assert_eq!(r.code(), 125, "{bad:?}: {r:?}");
            assert_eq!(lines(&r.stderr).len(), 1, "{bad:?}: {r:?}");
            assert!(
                r.stderr.starts_with("nslaunch: --hostname"),
                "{bad:?}: {r:?}"
            );
            assert!(r.stdout.is_empty());
        }
    });
}
