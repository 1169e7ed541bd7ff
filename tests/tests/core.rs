//! The core: a rootless container from a directory, under nsinit as PID 1.
//! Every scenario runs as root and as an unprivileged user (see the
//! harness in src/lib.rs).

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nslaunch_tests::*;

fn sh(f: &Fixture, who: &Who, script: &str) -> Run {
    run(f.nslaunch(who, &["sh", "-c", script]), None)
}

#[test]
fn ps_shows_nsinit_as_pid_1_and_only_the_containers_processes() {
    each(|f, who| {
        let r = sh(f, who, "ps -o pid,args");
        assert_eq!(r.code(), 0, "{r:?}");
        let procs: Vec<(u32, String)> = lines(&r.stdout)
            .iter()
            .skip(1)
            .map(|l| {
                let (pid, args) = l.split_once(' ').unwrap_or((l, ""));
                (pid.parse().unwrap(), args.trim().to_string())
            })
            .collect();
        assert_eq!(procs[0].0, 1, "{r:?}");
        assert!(
            procs[0].1.starts_with("nsinit "),
            "PID 1 is not nsinit: {r:?}"
        );
        // nsinit, and ps (sh -c execs its last command) or sh + ps.
        assert!(procs.len() <= 3, "host processes visible: {r:?}");
        assert!(procs.iter().all(|(pid, _)| *pid < 10), "{r:?}");
    });
}

#[test]
fn the_articles_proc_root_escape_is_closed() {
    each(|f, who| {
        let secret_dir = f.scratch.join(format!("secret-{}", who.uid()));
        fs::create_dir_all(&secret_dir).unwrap();
        fs::set_permissions(&secret_dir, fs::Permissions::from_mode(0o755)).unwrap();
        let marker = secret_dir.join("marker-file");
        fs::write(&marker, "TOPSECRET-HOST-DATA\n").unwrap();
        fs::set_permissions(&marker, fs::Permissions::from_mode(0o644)).unwrap();
        let rootfs = f.rootfs(who).display().to_string();
        let m = marker.display().to_string();

        // The article's own command: from inside, /proc/1/root/<host path
        // of the rootfs>/.. must not reach the host.
        let r = sh(f, who, &format!("ls /proc/1/root{rootfs}/.."));
        assert_ne!(r.code(), 0, "the article's escape works: {r:?}");

        let script = format!(
            r#"for p in "{m}" "/proc/1/root{m}" "/proc/self/root{m}" "/proc/1/cwd{m}" \
                        "/proc/1/root{rootfs}/../secret-{uid}/marker-file" "/../../..{m}"; do
                   cat "$p" 2>/dev/null && echo "LEAK via $p"
               done
               find / -path /proc -prune -o -name marker-file -print
               echo done"#,
            uid = who.uid()
        );
        let r = sh(f, who, &script);
        assert_eq!(r.code(), 0, "{r:?}");
        assert!(
            !r.stdout.contains("TOPSECRET"),
            "host file read from inside: {r:?}"
        );
        assert!(!r.stdout.contains("LEAK"), "{r:?}");
        assert!(
            !r.stdout.contains("marker-file"),
            "host file visible: {r:?}"
        );
        assert!(r.stdout.contains("done"), "{r:?}");
        fs::remove_dir_all(&secret_dir).unwrap();
    });
}

#[test]
fn id_is_root_and_the_maps_hold_the_single_mapping() {
    each(|f, who| {
        let r = sh(
            f,
            who,
            "id -u; id -g; cat /proc/self/uid_map; cat /proc/self/gid_map",
        );
        assert_eq!(r.code(), 0, "{r:?}");
        let l: Vec<String> = lines(&r.stdout)
            .iter()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        assert_eq!(l[0], "0");
        assert_eq!(l[1], "0");
        // Real root's default is --userns auto: 0..65535 are an
        // unprivileged host block (docs/USER-GUIDE.md, "ID mapping").
        let (uid_map, gid_map) = if who.is_root() {
            let start = |file| subid_start(who, file).unwrap();
            (
                format!("0 {} 65536", start("/etc/subuid")),
                format!("0 {} 65536", start("/etc/subgid")),
            )
        } else {
            (format!("0 {} 1", who.uid()), format!("0 {} 1", who.gid()))
        };
        assert_eq!(l[2], uid_map, "{r:?}");
        assert_eq!(l[3], gid_map, "{r:?}");
        assert_eq!(l.len(), 4, "more than one mapping line: {r:?}");
    });
}

#[test]
fn host_mounts_and_the_rootfs_are_unchanged_after_a_run() {
    each(|f, who| {
        let rootfs = make_rootfs(&f.scratch, who, &format!("rootfs-snap-{}", who.uid())).unwrap();
        let tree_before = snapshot(&rootfs);
        let mounts_before = host_mounts();
        let mut c = std::process::Command::new(&f.nslaunch);
        c.arg("--rootfs").arg(&rootfs).args([
            "sh",
            "-c",
            "ls -la / /dev /proc >/dev/null && cat /proc/self/mountinfo",
        ]);
        let r = run(as_who(who, &mut c), None);
        assert_eq!(r.code(), 0, "{r:?}");
        // The container did have its own mounts ...
        assert!(r.stdout.contains(" /proc "), "{r:?}");
        assert!(r.stdout.contains(" /dev/pts "), "{r:?}");
        // ... and none of them, nor the old root, shows on the host.
        assert_eq!(
            host_mounts(),
            mounts_before,
            "the host's mount table changed"
        );
        assert_eq!(snapshot(&rootfs), tree_before, "the rootfs changed");
        assert!(!r.stdout.contains("old_root"), "{r:?}");
        fs::remove_dir_all(&rootfs).unwrap();
    });
}

#[test]
fn exit_statuses_follow_docker() {
    each(|f, who| {
        assert_eq!(run(f.nslaunch(who, &["true"]), None).code(), 0);
        assert_eq!(sh(f, who, "exit 3").code(), 3);
        assert_eq!(sh(f, who, "exit 255").code(), 255);
        // Killed by SIGKILL: 128 + 9.
        assert_eq!(sh(f, who, "kill -KILL $$").code(), 137);

        let r = run(f.nslaunch(who, &["no-such-command"]), None);
        assert_eq!(r.code(), 127, "{r:?}");
        assert_eq!(lines(&r.stderr).len(), 1, "{r:?}");
        assert!(r.stderr.starts_with("nslaunch: no-such-command"), "{r:?}");

        let r = run(f.nslaunch(who, &["/notexec"]), None);
        assert_eq!(r.code(), 126, "{r:?}");
        assert!(r.stderr.contains("/notexec"), "{r:?}");
        assert_eq!(lines(&r.stderr).len(), 1, "{r:?}");
    });
}

#[test]
fn sigterm_to_nslaunch_kills_a_command_without_a_trap_143() {
    each(|f, who| {
        let mut c = Running::start(f.nslaunch(
            who,
            &["sh", "-c", "echo ready; sleep 100; echo not-reached"],
        ));
        c.wait_line("ready");
        c.signal(libc::SIGTERM);
        let (st, out) = c.finish();
        assert_eq!(st.code(), Some(143), "{out:?}");
        assert!(!out.iter().any(|l| l == "not-reached"));
    });
}

#[test]
fn sigterm_reaches_a_trap_in_the_command_which_picks_the_status() {
    each(|f, who| {
        let script =
            r#"trap 'echo trapped; exit 42' TERM; echo ready; while :; do sleep 0.05; done"#;
        let mut c = Running::start(f.nslaunch(who, &["sh", "-c", script]));
        c.wait_line("ready");
        c.signal(libc::SIGTERM);
        let (st, out) = c.finish();
        assert_eq!(st.code(), Some(42), "{out:?}");
        assert!(out.iter().any(|l| l == "trapped"), "{out:?}");
    });
}

#[test]
fn every_relayed_signal_reaches_the_command() {
    each(|f, who| {
        let names = ["INT", "HUP", "QUIT", "USR1", "USR2", "WINCH"];
        let mut script = String::new();
        for n in names {
            script.push_str(&format!("trap 'echo got-{n}' {n}; "));
        }
        script.push_str(
            "trap 'echo got-TERM; exit 0' TERM; echo ready; while :; do sleep 0.05; done",
        );
        let mut c = Running::start(f.nslaunch(who, &["sh", "-c", &script]));
        c.wait_line("ready");
        for (n, sig) in names.iter().zip([
            libc::SIGINT,
            libc::SIGHUP,
            libc::SIGQUIT,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGWINCH,
        ]) {
            c.signal(sig);
            c.wait_line(&format!("got-{n}"));
        }
        c.signal(libc::SIGTERM);
        c.wait_line("got-TERM");
        let (st, out) = c.finish();
        assert_eq!(st.code(), Some(0), "{out:?}");
    });
}

#[test]
fn a_hundred_orphaned_zombies_are_reaped_while_the_command_runs() {
    each(|f, who| {
        // Each (sleep &) subshell exits at once, so its sleep is orphaned
        // to PID 1. The command counts PID 1's children but itself (all
        // 100 once re-parented), kills them, so that they are zombies
        // until nsinit reaps them, and waits (20 s at most) until none is
        // left, while it still runs.
        let script = r#"
            me=$$
            orphans() { cat /proc/[0-9]*/stat 2>/dev/null | awk -v me=$me '$4 == 1 && $1 != me { print $1 }'; }
            for i in $(seq 100); do (sleep 1000 &); done
            pids=$(orphans)
            echo orphans=$(echo $pids | wc -w)
            kill $pids
            i=0
            while [ -n "$(orphans)" ] && [ $i -lt 400 ]; do i=$((i + 1)); sleep 0.05; done
            echo left=$(orphans | wc -l)
            echo zombies=$(cat /proc/[0-9]*/stat 2>/dev/null | awk '$3 == "Z"' | wc -l)
        "#;
        let r = sh(f, who, script);
        assert_eq!(r.code(), 0, "{r:?}");
        assert_eq!(
            r.number("orphans="),
            100,
            "orphans were not re-parented to PID 1: {r:?}"
        );
        assert_eq!(r.number("left="), 0, "orphans not reaped: {r:?}");
        assert_eq!(r.number("zombies="), 0, "zombies left: {r:?}");
    });
}

#[test]
fn sigkill_to_nslaunch_leaves_no_container_process_behind() {
    each(|f, who| {
        let mut c = Running::start(f.nslaunch(
            who,
            &[
                "sh",
                "-c",
                "sleep 1000 & sleep 1000 & (sleep 1000 &); echo ready; wait",
            ],
        ));
        c.wait_line("ready");
        // nsinit, sh and the three sleeps.
        sigkill_leaves_nothing(c, 5, "nslaunch");
    });
}

#[test]
fn the_commands_own_flags_pass_through() {
    each(|f, who| {
        let r = sh(f, who, "echo hi");
        assert_eq!((r.code(), r.stdout.as_str()), (0, "hi\n"), "{r:?}");

        let r = run(f.nslaunch(who, &["ls", "-la", "/"]), None);
        assert_eq!(r.code(), 0, "{r:?}");
        assert!(r.stdout.contains(" bin"), "{r:?}");

        // -v belongs to sh: it echoes its input to stderr.
        let r = run(f.nslaunch(who, &["sh", "-v"]), Some(b"echo from-stdin\n"));
        assert_eq!(r.code(), 0, "{r:?}");
        assert_eq!(r.stdout, "from-stdin\n");
        assert!(r.stderr.contains("echo from-stdin"), "{r:?}");

        // After --, a command may even look like one of our flags.
        let r = run(
            f.nslaunch(who, &["--", "sh", "-c", "echo $0 $1", "--help", "--rootfs"]),
            None,
        );
        assert_eq!(r.stdout, "--help --rootfs\n", "{r:?}");
    });
}

#[test]
fn the_command_and_its_arguments_are_bytes() {
    each(|f, who| {
        // An argument that is not UTF-8 reaches the command unchanged.
        let mut c = f.nslaunch(who, &["echo"]);
        c.arg(OsStr::from_bytes(b"caf\xe9"));
        let (code, out, err) = run_bytes(c);
        assert_eq!(
            (code, out.as_slice()),
            (Some(0), &b"caf\xe9\n"[..]),
            "{err}"
        );

        // A command whose name is not UTF-8, found in PATH, makes a file
        // whose name is not UTF-8 either.
        let rootfs = f.own_rootfs(who, "bytes");
        let script = rootfs.join("bin").join(OsStr::from_bytes(b"mk\xe9"));
        write_as(who, &script, "#!/bin/sh\ntouch \"$1\"\n");
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        let mut c = f.nslaunch_on(who, &rootfs, &[]);
        c.arg(OsStr::from_bytes(b"mk\xe9"))
            .arg(OsStr::from_bytes(b"/tmp/caf\xe9"));
        let (code, out, err) = run_bytes(c);
        assert_eq!(code, Some(0), "{err} {out:?}");
        let made = rootfs.join("tmp").join(OsStr::from_bytes(b"caf\xe9"));
        assert!(made.is_file(), "no {made:?}: {err}");
        fs::remove_dir_all(&rootfs).unwrap();
    });
}

#[test]
fn dev_proc_workdir_and_environment_are_a_containers() {
    each(|f, who| {
        let script = r#"
            for d in null zero full random urandom tty; do test -c /dev/$d || echo "missing /dev/$d"; done
            test -L /dev/ptmx && test -c /dev/pts/ptmx || echo "no ptmx"
            for l in fd stdin stdout stderr; do test -L /dev/$l || echo "no /dev/$l"; done
            echo data > /dev/shm/x && cat /dev/shm/x
            echo sink > /dev/null && echo null-ok
            echo zero=$(head -c 5 /dev/zero | wc -c)
            awk '$5 == "/dev/pts" { print "pts=" $(NF-2) } $5 == "/dev/shm" { print "shm=" $(NF-2) } $5 == "/proc" { print "proc=" $(NF-2) }' /proc/self/mountinfo
            echo pwd=$(pwd)
            ls -a / | grep -q old_root && echo "old_root left"
            echo --env--
            env
        "#;
        let mut c = f.nslaunch(who, &["sh", "-c", script]);
        c.env("TERM", "xterm-e2e")
            .env("NSLAUNCH_TEST_LEAK", "leaked");
        let r = run(c, None);
        assert_eq!(r.code(), 0, "{r:?}");
        let out = &r.stdout;
        for bad in [
            "missing",
            "no ptmx",
            "no /dev",
            "old_root",
            "leaked",
            "NSLAUNCH_TEST_LEAK",
        ] {
            assert!(!out.contains(bad), "{bad}: {r:?}");
        }
        for want in [
            "data",
            "null-ok",
            "zero=5",
            "pts=devpts",
            "shm=tmpfs",
            "proc=proc",
            "pwd=/",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME=/root",
            "TERM=xterm-e2e",
        ] {
            assert!(out.lines().any(|l| l == want), "no {want:?} in {r:?}");
        }
        let host = nix::unistd::gethostname().unwrap().into_string().unwrap();
        assert!(
            out.lines().any(|l| l == format!("HOSTNAME={host}")),
            "{r:?}"
        );
        // The caller's environment does not leak (USER, LOGNAME ...).
        let env_part = out.split("--env--\n").nth(1).expect("env printed");
        for l in env_part.lines().filter(|l| l.contains('=')) {
            let key = l.split('=').next().unwrap();
            assert!(
                ["PATH", "HOME", "HOSTNAME", "TERM", "PWD", "SHLVL", "OLDPWD"].contains(&key),
                "unexpected variable {l:?}"
            );
        }
    });
}

#[test]
fn bad_input_is_one_line_and_125() {
    each(|f, who| {
        let not_dir = f.scratch.join("bin/nsinit").display().to_string();
        let cases: Vec<(Vec<&str>, &str)> = vec![
            (
                vec!["--rootfs", "/no/such/dir", "sh"],
                "--rootfs /no/such/dir",
            ),
            (vec!["--rootfs", &not_dir, "sh"], "not a directory"),
            (vec!["--bogus-flag", "sh"], "--bogus-flag"),
            (vec!["sh"], "--rootfs"),
            (vec!["--rootfs", "/"], "no command"),
            (
                vec!["--init", "/no/such/init", "--rootfs", "/", "true"],
                "--init /no/such/init",
            ),
        ];
        for (args, want) in cases {
            let r = run(f.nslaunch_raw(who, &args), None);
            assert_eq!(r.code(), 125, "{args:?}: {r:?}");
            assert_eq!(lines(&r.stderr).len(), 1, "{args:?}: {r:?}");
            assert!(r.stderr.starts_with("nslaunch: "), "{args:?}: {r:?}");
            assert!(
                r.stderr.contains(want),
                "{args:?} should name {want:?}: {r:?}"
            );
        }
    });
}

#[test]
fn a_setup_failure_inside_is_reported_with_125_and_leaves_no_mount() {
    each(|f, who| {
        // A rootfs whose /dev is a file: nsinit cannot mount /dev there.
        let rootfs = make_rootfs(&f.scratch, who, &format!("rootfs-baddev-{}", who.uid())).unwrap();
        fs::remove_dir(rootfs.join("dev")).unwrap();
        fs::write(rootfs.join("dev"), "not a directory").unwrap();
        let mounts_before = host_mounts();
        let mut c = std::process::Command::new(&f.nslaunch);
        c.arg("--rootfs").arg(&rootfs).arg("true");
        let r = run(as_who(who, &mut c), None);
        assert_eq!(r.code(), 125, "{r:?}");
        assert_eq!(lines(&r.stderr).len(), 1, "{r:?}");
        assert!(r.stderr.contains("/dev"), "{r:?}");
        assert_eq!(host_mounts(), mounts_before);
        fs::remove_dir_all(&rootfs).unwrap();
    });
}

#[test]
fn nsinit_runs_in_place_or_is_named_with_init() {
    each(|f, who| {
        // --init PATH: once the container is built, that init replaces
        // nsinit as PID 1, as `init -- CMD`, and CMD is its child (as
        // with `docker run --init`); CMD's status is the container's.
        let other = f.scratch.join(format!("other-init-{}", who.uid()));
        fs::create_dir_all(&other).unwrap();
        fs::set_permissions(&other, fs::Permissions::from_mode(0o755)).unwrap();
        let custom = other.join("my-init");
        fs::copy(&f.nsinit, &custom).unwrap();
        let custom_s = custom.display().to_string();
        let show =
            "cat /proc/1/comm; tr '\\0' ' ' < /proc/1/cmdline; echo; echo ppid=$PPID; exit 3";
        let r = run(
            f.nslaunch(who, &["--init", &custom_s, "sh", "-c", show]),
            None,
        );
        assert_eq!(r.code(), 3, "{r:?}");
        let out = lines(&r.stdout);
        assert_eq!(out[0], "my-init", "{r:?}");
        assert!(
            out[1].starts_with("my-init -- sh -c cat /proc/1/comm"),
            "{r:?}"
        );
        assert_eq!(out[2], "ppid=1", "{r:?}");
        // Another init than nsinit: tini's static build.
        let tini = "/usr/bin/tini-static";
        if Path::new(tini).exists() {
            let r = run(f.nslaunch(who, &["--init", tini, "sh", "-c", show]), None);
            assert_eq!(r.code(), 3, "{r:?}");
            assert_eq!(lines(&r.stdout)[0], "tini-static", "{r:?}");
            assert_eq!(lines(&r.stdout)[2], "ppid=1", "{r:?}");
        } else {
            nslaunch_tests::skip("no /usr/bin/tini-static (Debian: tini) for --init with tini");
        }
        // A script cannot be exec'd from a descriptor: refused up front.
        let script = other.join("script-init");
        fs::write(&script, "#!/bin/sh\nexec \"$@\"\n").unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        let script_s = script.display().to_string();
        let r = run(f.nslaunch(who, &["--init", &script_s, "true"]), None);
        assert_eq!(r.code(), 125, "{r:?}");
        assert!(r.stderr.contains("not an ELF executable"), "{r:?}");
        // nsinit's own settings are not nslaunch's to give then.
        let r = run(
            f.nslaunch(who, &["--init", &custom_s, "--grace", "1s", "true"]),
            None,
        );
        assert_eq!(r.code(), 125, "{r:?}");
        assert!(r.stderr.contains("--grace: not with --init"), "{r:?}");
        // A missing --init is named.
        let missing = other.join("no-such-init").display().to_string();
        let r = run(f.nslaunch(who, &["--init", &missing, "true"]), None);
        assert_eq!(r.code(), 125, "{r:?}");
        assert_eq!(lines(&r.stderr).len(), 1, "{r:?}");
        assert!(r.stderr.contains("--init"), "{r:?}");
        // Without --init, nslaunch needs no nsinit file: its cloned child
        // runs nsinit's code itself (no exec), named nsinit.
        let lonely = other.join("nslaunch");
        fs::copy(&f.nslaunch, &lonely).unwrap();
        let mut c = std::process::Command::new(&lonely);
        c.arg("--rootfs")
            .arg(f.rootfs(who))
            .args(["cat", "/proc/1/comm"]);
        let r = run(as_who(who, &mut c), None);
        assert_eq!(r.code(), 0, "{r:?}");
        assert_eq!(r.stdout.trim(), "nsinit", "{r:?}");
        if who.is_root() {
            // --userns host execs nsinit: nslaunch's own binary, by that
            // name (no nsinit file needed either).
            let mut c = std::process::Command::new(&lonely);
            c.args(["--userns", "host", "--rootfs"])
                .arg(f.rootfs(who))
                .args([
                    "sh",
                    "-c",
                    "cat /proc/1/comm; tr '\\0' ' ' < /proc/1/cmdline",
                ]);
            let r = run(as_who(who, &mut c), None);
            assert_eq!(r.code(), 0, "{r:?}");
            assert_eq!(lines(&r.stdout).first().copied(), Some("nsinit"), "{r:?}");
            assert!(r.stdout.contains("nsinit -- sh -c"), "{r:?}");
        }
        fs::remove_dir_all(&other).unwrap();
    });
}

#[test]
fn nsinit_is_a_static_executable() {
    let Some(f) = fixture() else { return };
    let bytes = fs::read(&f.nsinit).unwrap();
    let has_interp = elf_has_interp(&bytes).unwrap();
    assert!(
        !has_interp,
        "{} has an ELF interpreter (PT_INTERP): build it with `make`, which links it statically",
        f.nsinit.display()
    );
}

#[test]
fn the_hosts_own_root_works_as_a_rootfs_with_its_own_pid_namespace() {
    // `--rootfs /` (bwrap --bind / /): the bind of "/" on itself is only
    // reachable by fd, which the setup uses throughout.
    each(|f, who| {
        let r = run(
            f.nslaunch_raw(
                who,
                &[
                    "--rootfs",
                    "/",
                    "sh",
                    "-c",
                    "echo pid=$$; id -u; ls /proc | grep -c '^[0-9]'",
                ],
            ),
            None,
        );
        assert_eq!(r.code(), 0, "{r:?}");
        let l = lines(&r.stdout);
        assert_eq!(l[0], "pid=2", "{r:?}");
        assert_eq!(l[1], "0", "{r:?}");
        let procs: u32 = l[2].parse().unwrap();
        assert!(procs <= 4, "host processes visible: {r:?}");
    });
}
