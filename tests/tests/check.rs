//! `nslaunch check`: reports this machine as it is (OK where things work,
//! and a real default container runs), and FAIL with the fix when a check
//! is forced to fail: a user without subordinate ranges, sysctls that
//! forbid user namespaces (presented through NSLAUNCH_CHECK_SYSROOT).

use std::fs;
use std::process::Command;

use nslaunch_tests::*;

fn check(f: &Fixture, who: &Who, sysroot: Option<&std::path::Path>) -> Run {
    let mut c = Command::new(&f.nslaunch);
    c.arg("check");
    if let Some(root) = sysroot {
        c.env("NSLAUNCH_CHECK_SYSROOT", root);
    }
    run(as_who(who, &mut c), None)
}

fn line<'a>(r: &'a Run, needle: &str) -> &'a str {
    r.stdout
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{}", r.stdout))
}

#[test]
fn this_machine_can_run_containers_and_check_says_so() {
    each(|f, who| {
        let r = check(f, who, None);
        assert_eq!(r.code(), 0, "{r:?}");
        assert!(line(&r, "can create a user namespace")
            .trim_start()
            .starts_with("OK"));
        assert!(line(&r, "a default container runs")
            .trim_start()
            .starts_with("OK"));
        assert!(line(&r, "nsinit:").contains("(static)"), "{r:?}");
        assert!(
            line(&r, "overlayfs").trim_start().starts_with("OK"),
            "{r:?}"
        );
        assert!(
            line(&r, "newuidmap").trim_start().starts_with("OK"),
            "{r:?}"
        );
        assert!(line(&r, "namespaces:").contains("user mnt pid"), "{r:?}");
        assert!(r.stdout.contains("Result: "), "{r:?}");
        if !who.is_root() {
            assert!(
                line(&r, "/etc/subuid").trim_start().starts_with("OK"),
                "{r:?}"
            );
        }
    });
}

#[test]
fn a_user_without_subordinate_ranges_gets_fail_with_the_usermod_fix() {
    let Some(f) = fixture() else { return };
    let Some(nosub) = f.nosub() else {
        return;
    };
    let r = check(f, nosub, None);
    // A default container needs no subordinate ids: still 0.
    assert_eq!(r.code(), 0, "{r:?}");
    let subuid = line(&r, "/etc/subuid");
    assert!(subuid.trim_start().starts_with("FAIL"), "{r:?}");
    let fix_at = r.stdout.find(subuid).unwrap() + subuid.len();
    let fix = r.stdout[fix_at..].lines().nth(1).unwrap_or("");
    assert!(fix.contains("fix: sudo usermod --add-subuids"), "{r:?}");
    assert!(fix.ends_with(nosub.name()), "{r:?}");
}

#[test]
fn forbidding_sysctls_fail_with_their_names_and_exit_1() {
    each(|f, who| {
        let sysroot = f.dir(who, "check-sysroot");
        let put = |path: &str, value: &str| {
            let p = sysroot.join(path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, value).unwrap();
        };
        put("proc/sys/user/max_user_namespaces", "0\n");
        put("proc/sys/kernel/unprivileged_userns_clone", "0\n");
        put(
            "proc/sys/kernel/apparmor_restrict_unprivileged_userns",
            "1\n",
        );
        let r = check(f, who, Some(&sysroot));
        assert_eq!(r.code(), 1, "{r:?}");
        let l = line(&r, "user.max_user_namespaces = 0");
        assert!(l.trim_start().starts_with("FAIL"), "{r:?}");
        assert!(
            r.stdout
                .contains("fix: sudo sysctl -w user.max_user_namespaces="),
            "{r:?}"
        );
        if !who.is_root() {
            assert!(
                line(&r, "kernel.unprivileged_userns_clone = 0")
                    .trim_start()
                    .starts_with("FAIL"),
                "{r:?}"
            );
            assert!(
                line(&r, "apparmor_restrict_unprivileged_userns = 1")
                    .trim_start()
                    .starts_with("FAIL"),
                "{r:?}"
            );
            assert!(r
                .stdout
                .contains("sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"));
        }
        assert!(
            r.stdout.contains("Result: no container can run here"),
            "{r:?}"
        );
        // No subordinate-id files in the fake root: their checks fail too,
        // for an ordinary user, with the fix.
        if !who.is_root() {
            assert!(line(&r, "/etc/subuid does not exist")
                .trim_start()
                .starts_with("FAIL"));
        }
        fs::remove_dir_all(&sysroot).unwrap();
    });
}

#[test]
fn check_takes_no_arguments_and_is_a_command_name_after_flags() {
    each(|f, who| {
        let r = run(f.nslaunch_raw(who, &["check", "--bogus"]), None);
        assert_eq!(r.code(), 125, "{r:?}");
        assert_eq!(lines(&r.stderr).len(), 1, "{r:?}");
        let r = run(f.nslaunch_raw(who, &["check", "--help"]), None);
        assert_eq!(r.code(), 0, "{r:?}");
        assert!(r.stdout.contains("Exit status"), "{r:?}");
        // After --rootfs, "check" is the command to run in the container.
        let r = run(f.nslaunch(who, &["check"]), None);
        assert_eq!(r.code(), 127, "{r:?}");
        assert!(r.stderr.contains("check: command not found"), "{r:?}");
    });
}
