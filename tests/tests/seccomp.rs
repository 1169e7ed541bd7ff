//! The seccomp filter, end to end: a probe (tests/probes/scprobe.c,
//! compiled static here) tries a table of syscalls with harmless
//! arguments in the container and prints the errno of each, under the
//! default filter, unconfined, and with capabilities added; through
//! podman with runc and with nslaunch (podman's own profile, applied by
//! each runtime), compared row by row with nslaunch's default; nsinit is
//! never filtered; a profile file behaves as written; bad profiles are
//! refused naming the line; real programs run under the default.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use nslaunch_tests::*;

/// The probe, compiled static once (it runs in the busybox rootfs), in the
/// scratch directory every test user can read. `None` (after a skip) when
/// there is no C compiler with a static libc.
fn probe(f: &Fixture) -> Option<PathBuf> {
    static PROBE: OnceLock<Option<PathBuf>> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            let out = f.scratch.join("bin/scprobe");
            let src = repo_root().join("tests/probes/scprobe.c");
            let built = Command::new("cc")
                .args(["-static", "-O2", "-o"])
                .arg(&out)
                .arg(&src)
                .output();
            match built {
                Ok(o) if o.status.success() => {
                    fs::set_permissions(&out, fs::Permissions::from_mode(0o755)).unwrap();
                    Some(out)
                }
                Ok(o) => {
                    skip(&format!(
                        "cannot build the seccomp probe (cc -static): {}",
                        String::from_utf8_lossy(&o.stderr).trim()
                    ));
                    None
                }
                Err(e) => {
                    skip(&format!("no C compiler for the seccomp probe: {e}"));
                    None
                }
            }
        })
        .clone()
}

/// The probe's table: row → errno name (`OK` for success).
fn table(r: &Run) -> BTreeMap<String, String> {
    assert!(
        r.stdout.contains("scprobe-done"),
        "the probe did not finish: {r:?}"
    );
    lines(&r.stdout)
        .iter()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Run the probe in a container of `who`'s with `flags`.
fn probe_in(
    f: &Fixture,
    who: &Who,
    probe: &std::path::Path,
    flags: &[&str],
) -> BTreeMap<String, String> {
    let v = format!("{}:/scprobe:ro", probe.display());
    let mut args = flags.to_vec();
    args.extend(["-v", &v, "/scprobe"]);
    let r = run(f.nslaunch(who, &args), None);
    assert_eq!(r.code(), 0, "{flags:?}: {r:?}");
    table(&r)
}

/// What nslaunch's default filter answers, before the kernel looks at the
/// (harmless) arguments: EPERM for what it denies, ENOSYS for what it
/// does not know or keeps for SYS_ADMIN (clone3), the kernel's own answer
/// for what it allows (ptrace on pid 1: ESRCH; read of fd -1: EBADF).
const DEFAULT: [(&str, &str); 19] = [
    ("keyctl", "EPERM"),
    ("add_key", "EPERM"),
    ("bpf", "EPERM"),
    ("perf_event_open", "EPERM"),
    ("userfaultfd", "EPERM"),
    ("kexec_load", "EPERM"),
    ("open_by_handle_at", "EPERM"),
    ("swapon", "EPERM"),
    ("reboot", "EPERM"),
    ("unshare_newuser", "EPERM"),
    ("clone3", "ENOSYS"),
    ("io_uring_setup", "ENOSYS"),
    ("ptrace", "ESRCH"),
    ("personality_odd", "ENOSYS"),
    ("kcmp", "EPERM"),
    ("mount", "EPERM"),
    ("fsopen", "EPERM"),
    ("getpid", "OK"),
    ("read", "EBADF"),
];

fn expected() -> BTreeMap<String, String> {
    DEFAULT
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn the_default_filter_answers_its_table_and_capabilities_open_their_rows() {
    each(|f, who| {
        let Some(probe) = probe(f) else { return };
        for mode in userns_modes(who) {
            let got = probe_in(f, who, &probe, &with_userns(mode, &[]));
            assert_eq!(got, expected(), "--userns {mode:?}");
        }
        // Unconfined: the kernel answers every row itself (no filter's
        // EPERM or ENOSYS where the default put one on purpose).
        let open = probe_in(f, who, &probe, &["--seccomp", "unconfined"]);
        for (row, filtered) in [
            ("keyctl", "EPERM"),
            ("add_key", "EPERM"),
            ("clone3", "ENOSYS"),
            ("io_uring_setup", "ENOSYS"),
            ("personality_odd", "ENOSYS"),
            ("mount", "EPERM"),
        ] {
            assert_ne!(open[row], filtered, "unconfined {row}: {open:?}");
        }
        assert_eq!(open["unshare_newuser"], "OK", "{open:?}");
        // SYS_ADMIN opens what it opens under docker; keyrings stay shut.
        let admin = probe_in(f, who, &probe, &["--cap-add", "SYS_ADMIN"]);
        for row in ["bpf", "mount", "fsopen", "clone3"] {
            assert!(
                admin[row] != "EPERM" && admin[row] != "ENOSYS",
                "SYS_ADMIN {row}: {admin:?}"
            );
        }
        assert_eq!(admin["unshare_newuser"], "OK", "{admin:?}");
        assert_eq!(admin["keyctl"], "EPERM", "{admin:?}");
        // SYS_PTRACE opens kcmp (and nothing of SYS_ADMIN's).
        let ptrace = probe_in(f, who, &probe, &["--cap-add", "SYS_PTRACE"]);
        assert_eq!(ptrace["kcmp"], "OK", "{ptrace:?}");
        assert_eq!(ptrace["mount"], "EPERM", "{ptrace:?}");
    });
}

#[test]
fn the_command_is_filtered_and_nsinit_never() {
    each(|f, who| {
        let r = run(
            f.nslaunch(
                who,
                &[
                    "sh",
                    "-c",
                    "grep '^Seccomp:' /proc/self/status; grep '^Seccomp:' /proc/1/status",
                ],
            ),
            None,
        );
        assert_eq!(r.code(), 0, "{r:?}");
        let l = lines(&r.stdout);
        assert_eq!(l.len(), 2, "{r:?}");
        assert!(l[0].ends_with('2'), "the command: {r:?}");
        assert!(l[1].ends_with('0'), "nsinit: {r:?}");
        // With --no-new-privileges the filter is loaded after it, and
        // still only for the command.
        let r = run(
            f.nslaunch(
                who,
                &[
                    "--no-new-privileges",
                    "sh",
                    "-c",
                    "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status /proc/1/status",
                ],
            ),
            None,
        );
        assert_eq!(r.code(), 0, "{r:?}");
        for want in [
            "/proc/self/status:NoNewPrivs:\t1",
            "/proc/self/status:Seccomp:\t2",
            "/proc/1/status:Seccomp:\t0",
        ] {
            assert!(r.stdout.contains(want), "{want}: {r:?}");
        }
    });
}

/// Rows where nslaunch's default differs from podman's profile
/// (/usr/share/containers/seccomp.json, containers-common 0.50), on
/// purpose (docs/SECURITY.md, "Seccomp", says why): keyrings are
/// closed; mount, unshare and clone3 need SYS_ADMIN, as under docker.
const DIFFERS_FROM_PODMAN: [&str; 5] = ["keyctl", "add_key", "unshare_newuser", "clone3", "mount"];

#[test]
fn podmans_profile_is_applied_alike_by_runc_and_nslaunch_and_ours_differs_only_where_documented() {
    let runc = PathBuf::from("/usr/sbin/runc");
    each(|f, who| {
        let Some(probe) = probe(f) else { return };
        if !runc.exists() {
            skip("no runc: run scripts/engine-setup.sh");
            return;
        }
        let conf = engine_conf(f);
        let v = format!("{}:/scprobe:ro", probe.display());
        let through = |rt: &PathBuf| {
            let r = run(
                podman_cmd(
                    &conf,
                    who,
                    Some(rt),
                    &[
                        "run",
                        "--rm",
                        "--network",
                        "none",
                        "-v",
                        &v,
                        ENGINE_IMAGE,
                        "/scprobe",
                    ],
                ),
                None,
            );
            assert_eq!(r.code(), 0, "podman --runtime {}: {r:?}", rt.display());
            table(&r)
        };
        let by_runc = through(&runc);
        let by_us = through(&f.nslaunch);
        assert_eq!(by_us, by_runc, "the same profile, the same answers");
        let ours = probe_in(f, who, &probe, &[]);
        for (row, theirs) in &by_runc {
            if DIFFERS_FROM_PODMAN.contains(&row.as_str()) {
                assert_ne!(&ours[row], theirs, "{row} should differ (documented)");
            } else {
                assert_eq!(
                    &ours[row], theirs,
                    "{row}: ours {ours:?}, podman's {by_runc:?}"
                );
            }
        }
    });
}

#[test]
fn a_profile_from_a_file_behaves_as_written() {
    each(|f, who| {
        let dir = f.dir(who, "profile");
        let file = dir.join("deny-mkdir.json");
        write_as(
            who,
            &file,
            r#"{
  "defaultAction": "SCMP_ACT_ALLOW",
  "syscalls": [
    { "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 30 }
  ]
}
"#,
        );
        let p = file.display().to_string();
        let r = run(
            f.nslaunch(
                who,
                &[
                    "--seccomp",
                    &p,
                    "sh",
                    "-c",
                    "touch /tmp/file && echo touched; mkdir /tmp/dir; echo mkdir=$?",
                ],
            ),
            None,
        );
        assert_eq!(r.code(), 0, "{r:?}");
        assert!(r.stdout.contains("touched"), "{r:?}");
        assert!(r.stdout.contains("mkdir=1"), "{r:?}");
        assert!(
            r.stderr.contains("Read-only file system"),
            "EROFS (30): {r:?}"
        );
    });
}

#[test]
fn bad_profiles_are_refused_naming_the_line_and_unknown_names_only_warn() {
    each(|f, who| {
        let dir = f.dir(who, "bad-profiles");
        let cases = [
            ("json", "{\n  \"defaultAction\": \n}\n", "line 3"),
            (
                "action",
                "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n  \"syscalls\": [\n    {\"names\": [\"getpid\"], \"action\": \"SCMP_ACT_BOGUS\"}\n  ]\n}\n",
                "line 4",
            ),
            (
                "notify",
                "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n  \"syscalls\": [\n    {\"names\": [\"getpid\"], \"action\": \"SCMP_ACT_NOTIFY\"}\n  ]\n}\n",
                "NOTIFY",
            ),
        ];
        for (name, text, want) in cases {
            let file = dir.join(format!("{name}.json"));
            write_as(who, &file, text);
            let p = file.display().to_string();
            let r = run(f.nslaunch(who, &["--seccomp", &p, "true"]), None);
            assert_eq!(r.code(), 125, "{name}: {r:?}");
            let l = lines(&r.stderr);
            assert_eq!(l.len(), 1, "{name}: one line: {r:?}");
            assert!(l[0].starts_with("nslaunch: --seccomp "), "{name}: {r:?}");
            assert!(l[0].contains(want), "{name}: wants {want:?}: {r:?}");
        }
        let file = dir.join("unknown.json");
        write_as(
            who,
            &file,
            "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"no_such_call\"], \"action\": \"SCMP_ACT_ERRNO\"}]}\n",
        );
        let p = file.display().to_string();
        let r = run(f.nslaunch(who, &["--seccomp", &p, "echo", "ran"]), None);
        assert_eq!(r.code(), 0, "{r:?}");
        assert_eq!(r.stdout.trim(), "ran");
        assert!(
            r.stderr.contains("no_such_call"),
            "a warning names it: {r:?}"
        );
    });
}

#[test]
fn a_debian_tree_and_a_service_work_under_the_default() {
    // The host's own Debian as the rootfs (read-only, so nothing of it
    // changes): dpkg and apt, and a Python web server answering a request.
    each(|f, who| {
        if !std::path::Path::new("/usr/bin/python3").exists()
            || !std::path::Path::new("/usr/bin/dpkg").exists()
        {
            skip("the host is not a Debian with python3");
            return;
        }
        let script = "dpkg -s libc6 | grep -q '^Status: install ok installed' && echo dpkg-ok; \
             apt-get -s -o Debug::NoLocking=1 check >/dev/null && echo apt-ok; \
             python3 -m http.server --bind 127.0.0.1 18765 --directory /etc >/dev/null 2>&1 & \
             for i in $(seq 50); do \
               python3 -c 'import urllib.request as u; print(u.urlopen(\"http://127.0.0.1:18765/hostname\").status)' 2>/dev/null && break; \
               sleep 0.1; done; kill $!";
        let r = run(
            f.nslaunch_on(
                who,
                std::path::Path::new("/"),
                &[
                    "--read-only",
                    "--tmpfs",
                    "/tmp",
                    "--unshare-net",
                    "sh",
                    "-c",
                    script,
                ],
            ),
            None,
        );
        assert_eq!(r.code(), 0, "{r:?}");
        for want in ["dpkg-ok", "apt-ok", "200"] {
            assert!(r.stdout.contains(want), "{want}: {r:?}");
        }
    });
}
