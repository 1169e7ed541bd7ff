//! `--dry-run` prints the article's shell commands for each option group
//! and runs nothing; the printed script, run with `sh`, builds the same
//! container where shell tools can; `--verbose` / `NSLAUNCH_LOG` show each
//! step with its duration, from nslaunch and from nsinit.

use std::fs;
use std::process::Command;

use nslaunch_tests::*;

fn dry(f: &Fixture, who: &Who, rootfs: &std::path::Path, args: &[&str]) -> Run {
    let mut full = vec!["--dry-run"];
    full.extend_from_slice(args);
    let r = run(f.nslaunch_on(who, rootfs, &full), None);
    assert_eq!(r.code(), 0, "{args:?}: {r:?}");
    assert!(r.stdout.starts_with("#!/bin/sh\n"), "{r:?}");
    r
}

#[test]
fn dry_run_shows_each_option_group_and_runs_nothing() {
    each(|f, who| {
        let rootfs = f.own_rootfs(who, "dry");
        let vol = f.dir(who, "dry-vol");
        let v = format!("{}:/data:ro", vol.display());
        let before = snapshot(&rootfs);
        let vol_before = snapshot(&vol);
        let mounts = host_mounts();
        let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
            (
                vec!["true"],
                vec![
                    "unshare ",
                    "--mount --pid",
                    "--fork --kill-child",
                    "mount --make-rprivate /",
                    "mount -t proc -o nosuid,nodev,noexec proc ",
                    "mount --bind /dev/null ",
                    "pivot_root . . && umount -l .",
                    "# 3. The command",
                    "exec env -i PATH=",
                    "#   nsinit --rootfs ",
                ],
            ),
            (
                vec!["-v", &v, "true"],
                vec!["mount --rbind ", "/data && mount -o remount,bind,ro "],
            ),
            (
                vec!["-u", "nobody", "-w", "/srv", "-e", "A=1", "true"],
                vec!["runs it as nobody", "cd /srv", "A=1", "--user nobody"],
            ),
            (
                vec!["--unshare-all", "--hostname", "box", "true"],
                vec![
                    "--uts",
                    "--ipc",
                    "--net",
                    "--cgroup",
                    "--time",
                    "ip link set lo up",
                    "hostname box",
                ],
            ),
            (
                vec![
                    "--read-only",
                    "--tmpfs",
                    "/scratch:size=1m",
                    "--cap-drop",
                    "ALL",
                    "true",
                ],
                vec![
                    "mount -o remount,bind,ro ",
                    "mount -t tmpfs ",
                    "/scratch",
                    "capabilities: none",
                ],
            ),
            (
                vec!["--overlay", "true"],
                vec!["mount -t overlay ", "lowerdir="],
            ),
            (
                vec!["-t", "true"],
                vec!["a terminal of its own", "--console-socket"],
            ),
        ];
        for (args, wants) in cases {
            let r = dry(f, who, &rootfs, &args);
            for want in wants {
                assert!(
                    r.stdout.contains(want),
                    "{args:?} should show {want:?}:\n{}",
                    r.stdout
                );
            }
        }
        // The id maps of each mode the identity may use.
        let r = dry(f, who, &rootfs, &["true"]);
        if who.is_root() {
            assert!(
                r.stdout.contains("uid_map: 0 1878982656 65536"),
                "{}",
                r.stdout
            );
        } else {
            assert!(
                r.stdout.contains(&format!("uid_map: 0 {} 1", who.uid())),
                "{}",
                r.stdout
            );
            assert!(r.stdout.contains("unshare --map-root-user"), "{}", r.stdout);
        }
        // Nothing ran, nothing changed, nothing was mounted.
        assert_eq!(snapshot(&rootfs), before);
        assert_eq!(snapshot(&vol), vol_before);
        assert_eq!(host_mounts(), mounts);
        assert!(processes_mentioning(&rootfs.display().to_string()).is_empty());
        fs::remove_dir_all(&rootfs).unwrap();
    });
}

#[test]
fn a_dry_run_of_a_tarball_unpacks_nothing() {
    each(|f, who| {
        let home = f.dir(who, "dry-home");
        let tar = home.join("root.tar");
        let out = Command::new("tar")
            .args(["-cf"])
            .arg(&tar)
            .arg("-C")
            .arg(f.rootfs(who))
            .arg(".")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        nix::unistd::chown(&tar, Some(nix::unistd::Uid::from_raw(who.uid())), None).unwrap();
        let mut c = Command::new(&f.nslaunch);
        c.args(["--dry-run", "--rootfs"]).arg(&tar).arg("true");
        c.env("XDG_CACHE_HOME", home.join("cache"));
        let r = run(as_who(who, &mut c), None);
        assert_eq!(r.code(), 0, "{r:?}");
        assert!(r.stdout.contains("sha256sum < "), "{}", r.stdout);
        assert!(r.stdout.contains("tar -xf "), "{}", r.stdout);
        assert!(
            r.stdout.contains("mount -t overlay"),
            "a tarball runs on an overlay:\n{}",
            r.stdout
        );
        assert!(!home.join("cache").exists(), "a dry run made the cache");
    });
}

#[test]
fn the_printed_script_builds_the_same_container() {
    // As root without a user namespace, and as the user with its default
    // (root alone), the script needs only unshare, mount and pivot_root.
    each(|f, who| {
        let rootfs = f.own_rootfs(who, "dry-run-script");
        let probe = "id -u; ls /dev | tr '\\n' ' '; echo; \
                     grep -c . /proc/self/mountinfo; hostname; pwd; echo $PATH; \
                     touch /probe-written && echo wrote";
        let mut args = vec![];
        if who.is_root() {
            args.extend(["--userns", "host"]);
        }
        args.extend(["--hostname", "scripted", "sh", "-c", probe]);
        let real = run(f.nslaunch_on(who, &rootfs, &args), None);
        assert_eq!(real.code(), 0, "{real:?}");
        fs::remove_file(rootfs.join("probe-written")).unwrap();
        let script = dry(f, who, &rootfs, &args).stdout;
        let path = f.dir(who, "dry-script").join("run.sh");
        fs::write(&path, &script).unwrap();
        let mut c = Command::new("sh");
        c.arg(&path);
        let scripted = run(as_who(who, &mut c), None);
        assert_eq!(scripted.code(), 0, "{scripted:?}\n{script}");
        assert_eq!(
            scripted.stdout, real.stdout,
            "script:\n{script}\nstderr: {}",
            scripted.stderr
        );
        fs::remove_dir_all(&rootfs).unwrap();
    });
}

#[test]
fn verbose_shows_each_step_with_its_duration_from_both_programs() {
    each(|f, who| {
        for by_env in [false, true] {
            let mut c = if by_env {
                let mut c = f.nslaunch(who, &["true"]);
                c.env("NSLAUNCH_LOG", "1");
                c
            } else {
                f.nslaunch(who, &["--verbose", "true"])
            };
            c.env_remove("NSINIT_VERBOSE");
            let r = run(c, None);
            assert_eq!(r.code(), 0, "{r:?}");
            for want in [
                "nslaunch[+",
                "clone into new namespaces",
                "nsinit[+",
                "mount proc on /proc: ",
                "pivot_root into the rootfs: ",
                "the container ended: status 0",
            ] {
                assert!(r.stderr.contains(want), "no {want:?} in:\n{}", r.stderr);
            }
            let steps = r.stderr.lines().filter(|l| l.ends_with(" ms")).count();
            assert!(steps >= 10, "too few timed steps:\n{}", r.stderr);
        }
        // Quiet by default.
        let r = run(f.nslaunch(who, &["true"]), None);
        assert!(r.stderr.is_empty(), "{r:?}");
    });
}

#[test]
fn verbose_names_the_step_that_failed() {
    each(|f, who| {
        let rootfs = f.own_rootfs(who, "verbose-fail");
        fs::remove_dir(rootfs.join("dev")).unwrap();
        fs::write(rootfs.join("dev"), "not a directory").unwrap();
        let r = run(f.nslaunch_on(who, &rootfs, &["--verbose", "true"]), None);
        assert_eq!(r.code(), 125, "{r:?}");
        assert!(
            r.stderr.contains("mount tmpfs on /dev: FAILED after"),
            "{}",
            r.stderr
        );
        assert!(
            r.stderr.lines().last().unwrap().starts_with("nslaunch: "),
            "{}",
            r.stderr
        );
        fs::remove_dir_all(&rootfs).unwrap();
    });
}

#[test]
fn dry_run_still_refuses_bad_input() {
    each(|f, who| {
        let r = run(
            f.nslaunch_raw(who, &["--dry-run", "--rootfs", "/no/such", "true"]),
            None,
        );
        assert_eq!(r.code(), 125, "{r:?}");
        assert!(r.stdout.is_empty(), "{r:?}");
        let r = run(
            f.nslaunch(who, &["--dry-run", "-v", "relative:/x", "true"]),
            None,
        );
        assert_eq!(r.code(), 125, "{r:?}");
    });
}

#[test]
fn a_dry_run_script_runs_exactly_the_plan_whatever_the_arguments_hold() {
    // Newlines in -e and in arguments (one ends the here-document if the
    // delimiter is fixed), quotes and $(...): each stays one word, in
    // the comments too, and the script runs the command as a real run
    // does, never a line of its own.
    each(|f, who| {
        let rootfs = f.own_rootfs(who, "dry-inject");
        let marker = f.dir(who, "dry-inject").join("pwned");
        let m = marker.display().to_string();
        let env = format!("A=1\n touch {m} #");
        let arg = format!("x\nNSLAUNCH\ntouch {m}\n");
        let sub = format!("it's $(touch {m}) `touch {m}`");
        let mut args = vec![];
        if who.is_root() {
            args.extend(["--userns", "host"]);
        }
        let probe = "printf '[%s]' \"$A\" \"$@\"";
        args.extend(["-e", &env, "sh", "-c", probe, "sh", &arg, &sub]);
        let real = run(f.nslaunch_on(who, &rootfs, &args), None);
        assert_eq!(real.code(), 0, "{real:?}");
        assert_eq!(
            real.stdout,
            format!("[1\n touch {m} #][{arg}][{sub}]"),
            "{real:?}"
        );
        let script = dry(f, who, &rootfs, &args).stdout;
        let path = f.dir(who, "dry-inject-script").join("run.sh");
        fs::write(&path, &script).unwrap();
        let mut check = Command::new("sh");
        check.arg("-n").arg(&path);
        let syntax = run(check, None);
        assert_eq!(syntax.code(), 0, "{syntax:?}\n{script}");
        let mut c = Command::new("sh");
        c.arg(&path);
        let scripted = run(as_who(who, &mut c), None);
        assert!(
            !marker.exists(),
            "the script ran an injected line:\n{script}"
        );
        assert_eq!(scripted.code(), 0, "{scripted:?}\n{script}");
        assert_eq!(scripted.stdout, real.stdout, "script:\n{script}");
        // The invocation is one comment line, its newlines escaped.
        let second = script.lines().nth(1).unwrap();
        assert!(
            second.starts_with("# nslaunch --dry-run: what `"),
            "{script}"
        );
        assert!(second.contains(r"$'A=1\n touch "), "{script}");
        fs::remove_dir_all(&rootfs).unwrap();
    });
}
