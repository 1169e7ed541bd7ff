//! Everything a user can get wrong, as one table per program: each flag's
//! malformed values, paths that do not exist or are of the wrong kind, a
//! rootfs without the command, unreadable files, conflicting options,
//! non-UTF-8 option values. Each gives its documented exit status and one
//! line naming what is wrong, runs nothing, and leaves no process, mount
//! or file behind (in the rootfs or the working directory). As root and
//! as an unprivileged user.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use nslaunch_tests::*;

/// Who a row applies to: some things are only wrong for an ordinary user
/// (real root may read anything).
#[derive(Clone, Copy, PartialEq)]
enum For {
    All,
    User,
    /// An unprivileged user, on a file of root's closed to it: only when
    /// the tests run as root (an ordinary user's tests own every file
    /// they make, and container root may read its owner's files).
    UserLockedOut,
}

struct Row {
    /// Our arguments; `--rootfs R` comes first unless they have their own.
    args: Vec<OsString>,
    /// The command; `sh -c 'echo RAN'` when `None`.
    cmd: Option<Vec<OsString>>,
    status: i32,
    /// Part of the one line on stderr.
    want: String,
    who: For,
}

fn os(v: &[&str]) -> Vec<OsString> {
    v.iter().map(OsString::from).collect()
}

fn row(args: &[&str], status: i32, want: &str) -> Row {
    Row {
        args: os(args),
        cmd: None,
        status,
        want: want.into(),
        who: For::All,
    }
}

impl Row {
    fn cmd(mut self, cmd: &[&str]) -> Row {
        self.cmd = Some(os(cmd));
        self
    }
    fn no_cmd(mut self) -> Row {
        self.cmd = Some(vec![]);
        self
    }
    fn user_only(mut self) -> Row {
        self.who = For::User;
        self
    }
    fn locked_out(mut self) -> Row {
        self.who = For::UserLockedOut;
        self
    }
}

/// Host-side fixtures the rows point at, under `base`.
struct Paths {
    src: String,
    file: String,
    empty_rootfs: String,
    locked: String,
    locked_file: String,
    init_text: String,
    init_noexec: String,
    env_nonutf8: String,
    env_badline: String,
}

fn fixtures(f: &Fixture, who: &Who, base: &Path) -> Paths {
    let p = |name: &str| base.join(name).display().to_string();
    let mk = |name: &str| {
        let d = base.join(name);
        fs::create_dir_all(&d).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        nix::unistd::chown(
            &d,
            Some(nix::unistd::Uid::from_raw(who.uid())),
            Some(nix::unistd::Gid::from_raw(who.gid())),
        )
        .unwrap();
    };
    mk("src");
    write_as(who, &base.join("file"), "a file\n");
    // A rootfs with its mount points but no command at all.
    for d in [
        "empty-rootfs",
        "empty-rootfs/proc",
        "empty-rootfs/dev",
        "empty-rootfs/sys",
    ] {
        mk(d);
    }
    // Root's, closed to everyone else.
    let locked = base.join("locked");
    fs::create_dir_all(locked.join("sub")).unwrap();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o700)).unwrap();
    fs::write(base.join("locked-file"), "A=1\n").unwrap();
    fs::set_permissions(base.join("locked-file"), fs::Permissions::from_mode(0o600)).unwrap();
    write_as(who, &base.join("init-text"), "not a program\n");
    fs::set_permissions(base.join("init-text"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::copy(&f.nsinit, base.join("init-noexec")).unwrap();
    fs::set_permissions(base.join("init-noexec"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(base.join("env-nonutf8"), b"A=\xff\xfe\n").unwrap();
    fs::write(base.join("env-badline"), "A B=1\n").unwrap();
    for f in ["env-nonutf8", "env-badline"] {
        fs::set_permissions(base.join(f), fs::Permissions::from_mode(0o644)).unwrap();
    }
    Paths {
        src: p("src"),
        file: p("file"),
        empty_rootfs: p("empty-rootfs"),
        locked: p("locked"),
        locked_file: p("locked-file"),
        init_text: p("init-text"),
        init_noexec: p("init-noexec"),
        env_nonutf8: p("env-nonutf8"),
        env_badline: p("env-badline"),
    }
}

fn launcher_rows(who: &Who, p: &Paths, rootfs: &str) -> Vec<Row> {
    let src = p.src.as_str();
    let v = |s: &str| s.replace("SRC", src).replace("FILE", &p.file);
    let own_u = format!("0:{}:1", who.uid());
    let own_g = format!("0:{}:1", who.gid());
    let long_name = "x".repeat(65);
    let mut non_utf8_root = OsString::from(rootfs);
    non_utf8_root.push(OsStr::from_bytes(b"\xff"));
    let mut rows = vec![
        // Usage.
        row(&["--rootfs"], 125, "--rootfs").no_cmd(),
        row(&[], 125, "--rootfs DIR is required").cmd(&["sh"]),
        row(
            &["--rootfs", "/no/such/dir"],
            125,
            "--rootfs /no/such/dir: No such file or directory",
        ),
        row(&["--rootfs", &p.file], 125, "not a directory"),
        row(&["--rootfs", rootfs], 125, "no command given").no_cmd(),
        row(&["--rootfs", rootfs, "--bogus"], 125, "--bogus"),
        row(&["--rootfs", rootfs, "--userns=root"], 125, "--userns=root"),
        row(&["--rootfs", rootfs, &v("-vSRC:/x")], 125, "-v"),
        row(
            &["--rootfs", rootfs, "--read-only=yes"],
            125,
            "--read-only=yes",
        ),
        row(&["--rootfs", rootfs, "--userns"], 125, "--userns").no_cmd(),
        // The command.
        row(
            &["--rootfs", &p.empty_rootfs],
            127,
            "sh: command not found in the container",
        )
        .cmd(&["sh"]),
        row(&["--rootfs", rootfs], 126, "/notexec").cmd(&["/notexec"]),
        row(&["--rootfs", rootfs], 127, "the command is an empty string").cmd(&[""]),
        row(&["--rootfs", &p.locked], 125, "Permission denied").locked_out(),
        // --init.
        row(
            &["--rootfs", rootfs, "--init", "/no/such/init"],
            125,
            "--init /no/such/init: No such file",
        ),
        row(
            &["--rootfs", rootfs, "--init", src],
            125,
            "not a regular file",
        ),
        row(
            &["--rootfs", rootfs, "--init", &p.init_noexec],
            125,
            "Permission denied",
        ),
        row(
            &["--rootfs", rootfs, "--init", &p.init_text],
            125,
            "Exec format error",
        ),
        row(
            &["--rootfs", rootfs, "--stop-delay", "soon"],
            125,
            "--stop-delay soon: \"soon\" is not a duration",
        ),
        // -v.
        row(
            &["--rootfs", rootfs, "-v", "justone"],
            125,
            "-v justone: expected SRC:DST",
        ),
        row(&["--rootfs", rootfs, "-v", "a:/b:ro:x"], 125, "fields"),
        row(
            &["--rootfs", rootfs, "-v", ":/x"],
            125,
            "SRC (the host path) is empty",
        ),
        row(
            &["--rootfs", rootfs, "-v", "/no/such:/x"],
            125,
            "SRC /no/such: No such file",
        ),
        row(
            &["--rootfs", rootfs, "-v", &v("SRC:rel")],
            125,
            "must be an absolute path",
        ),
        row(&["--rootfs", rootfs, "-v", &v("SRC:/")], 125, "cannot be /"),
        row(
            &["--rootfs", rootfs, "-v", &v("SRC:/a/../b")],
            125,
            "\"..\"",
        ),
        row(
            &["--rootfs", rootfs, "-v", &v("SRC:/x:rx")],
            125,
            "unknown option \"rx\"",
        ),
        row(
            &["--rootfs", rootfs, "-v", &v("SRC:/x"), "-v", &v("SRC:/x/")],
            125,
            "more than one volume",
        ),
        row(
            &["--rootfs", rootfs, "-v", &v("SRC:/proc/x")],
            125,
            "/proc is the container's own",
        ),
        row(
            &["--rootfs", rootfs, "-v", &v("SRC:/bin/busybox")],
            125,
            "is not a directory",
        ),
        row(
            &["--rootfs", rootfs, "-v", &v("FILE:/bin")],
            125,
            "is a directory in the rootfs",
        ),
        row(
            &["--rootfs", rootfs, "-v", &v("SRC:/dangling")],
            125,
            "symlink to something missing",
        ),
        row(
            &["--rootfs", rootfs, "-v", &format!("{}/sub:/x", p.locked)],
            125,
            "Permission denied",
        )
        .locked_out(),
        // --userns and the maps.
        row(
            &["--rootfs", rootfs, "--userns", "keepid"],
            125,
            "--userns keepid: unknown mode",
        ),
        row(
            &["--rootfs", rootfs, "--userns", "host"],
            125,
            "only real root",
        )
        .user_only(),
        row(
            &["--rootfs", rootfs, "--userns", "auto"],
            125,
            "only real root",
        )
        .user_only(),
        row(
            &[
                "--rootfs",
                rootfs,
                "--userns",
                "root",
                "--uid-map",
                &own_u,
                "--gid-map",
                &own_g,
            ],
            125,
            "give either --userns or --uid-map/--gid-map",
        ),
        row(
            &["--rootfs", rootfs, "--uid-map", &own_u],
            125,
            "--uid-map needs --gid-map",
        ),
        row(
            &["--rootfs", rootfs, "--uid-map", "1:2", "--gid-map", &own_g],
            125,
            "INSIDE:OUTSIDE:COUNT",
        ),
        row(
            &[
                "--rootfs",
                rootfs,
                "--uid-map",
                &format!("0:{}:0", who.uid()),
                "--gid-map",
                &own_g,
            ],
            125,
            "--uid-map",
        ),
        // -u, -e, --env-file, -w, --hostname.
        row(&["--rootfs", rootfs, "-u", ""], 125, "--user: empty"),
        row(
            &["--rootfs", rootfs, "-u", "nosuchuser"],
            125,
            "--user nosuchuser",
        ),
        row(
            &["--rootfs", rootfs, "-u", "1234"],
            125,
            "uid 1234 is not mapped",
        )
        .user_only(),
        row(
            &["--rootfs", rootfs, "-e", "=x"],
            125,
            "-e =x: no variable name",
        ),
        row(
            &["--rootfs", rootfs, "--env-file", "/no/such"],
            125,
            "--env-file /no/such: No such file",
        ),
        row(
            &["--rootfs", rootfs, "--env-file", src],
            125,
            "Is a directory",
        ),
        row(
            &["--rootfs", rootfs, "--env-file", &p.env_nonutf8],
            125,
            "not valid UTF-8",
        ),
        row(
            &["--rootfs", rootfs, "--env-file", &p.env_badline],
            125,
            "line 1: variable name",
        ),
        row(
            &["--rootfs", rootfs, "--env-file", &p.locked_file],
            125,
            "Permission denied",
        )
        .locked_out(),
        row(
            &["--rootfs", rootfs, "-w", "rel"],
            125,
            "--workdir rel: must be an absolute path",
        ),
        row(
            &["--rootfs", rootfs, "-w", "/bin/busybox"],
            125,
            "--workdir /bin/busybox",
        ),
        row(
            &["--rootfs", rootfs, "--hostname", "bad name"],
            125,
            "--hostname \"bad name\"",
        ),
        row(
            &["--rootfs", rootfs, "--hostname", ""],
            125,
            "--hostname \"\"",
        ),
        row(
            &["--rootfs", rootfs, "--hostname", &long_name],
            125,
            "--hostname",
        ),
        // Capabilities.
        row(
            &["--rootfs", rootfs, "--cap-add", "FLY"],
            125,
            "--cap-add FLY: unknown capability",
        ),
        row(
            &["--rootfs", rootfs, "--cap-drop", "CAP_"],
            125,
            "--cap-drop CAP_: unknown capability",
        ),
        row(
            &["--rootfs", rootfs, "--cap-add", ""],
            125,
            "--cap-add : unknown capability",
        ),
        // --tmpfs.
        row(
            &["--rootfs", rootfs, "--tmpfs", "rel"],
            125,
            "--tmpfs rel: DST rel must be an absolute path",
        ),
        row(
            &["--rootfs", rootfs, "--tmpfs", "/"],
            125,
            "--tmpfs /: DST cannot be /",
        ),
        row(
            &["--rootfs", rootfs, "--tmpfs", "/x:size=big"],
            125,
            "size=big: expected",
        ),
        row(
            &["--rootfs", rootfs, "--tmpfs", "/x:mode=9"],
            125,
            "mode=9: expected octal",
        ),
        row(
            &["--rootfs", rootfs, "--tmpfs", "/x:suid"],
            125,
            "unknown option \"suid\"",
        ),
        row(
            &["--rootfs", rootfs, "--tmpfs", "/x:"],
            125,
            "no options after ':'",
        ),
        row(
            &["--rootfs", rootfs, "--tmpfs", "/proc/x"],
            125,
            "/proc is the container's own",
        ),
        row(
            &["--rootfs", rootfs, "--tmpfs", "/x", "-v", &v("SRC:/x")],
            125,
            "already the target",
        ),
        row(
            &["--rootfs", rootfs, "--tmpfs", "/bin/busybox"],
            125,
            "is not a directory",
        ),
        row(
            &["--rootfs", rootfs, "--tmpfs", "/dangling"],
            125,
            "symlink to something missing",
        ),
        // --preserve-fds.
        row(
            &["--rootfs", rootfs, "--preserve-fds", "x"],
            125,
            "--preserve-fds",
        ),
        row(
            &["--rootfs", rootfs, "--preserve-fds", "-1"],
            125,
            "--preserve-fds",
        ),
        row(
            &["--rootfs", rootfs, "--preserve-fds", "5"],
            125,
            "--preserve-fds 5: descriptor 3 is not open",
        ),
    ];
    // Not UTF-8 in a value of ours (the command's words may be any bytes:
    // core.rs). The line names the option.
    rows.push(Row {
        args: vec!["--rootfs".into(), non_utf8_root],
        cmd: None,
        status: 125,
        want: "--rootfs".into(),
        who: For::All,
    });
    rows.push(Row {
        args: vec![
            "--rootfs".into(),
            rootfs.into(),
            "-e".into(),
            OsStr::from_bytes(b"A=\xff\xfe").into(),
        ],
        cmd: None,
        status: 125,
        want: "-e \"A=\u{fffd}\u{fffd}\": the value is not valid UTF-8".into(),
        who: For::All,
    });
    rows
}

/// Run each row as `who` from `cwd`; check its status, its one line, that
/// nothing ran, and that no process is left.
fn check_rows(prog: &Path, name: &str, who: &Who, cwd: &Path, rootfs: &Path, rows: &[Row]) {
    let harness_is_root = nix::unistd::getuid().is_root();
    for r in rows.iter().filter(|r| r.who == For::All || !who.is_root()) {
        if r.who == For::UserLockedOut && !harness_is_root {
            skip("not root: no file of root's closed to the test user");
            continue;
        }
        let mut c = Command::new(prog);
        c.args(&r.args);
        match &r.cmd {
            Some(cmd) => c.args(cmd),
            None => c.args(["sh", "-c", "echo RAN"]),
        };
        let mut c = as_who(who, &mut c);
        c.current_dir(cwd);
        let out = run(c, None);
        let ctx = format!("{:?} {:?}: {out:?}", r.args, r.cmd);
        assert_eq!(out.code(), r.status, "{ctx}");
        assert_eq!(lines(&out.stderr).len(), 1, "not one line: {ctx}");
        assert!(out.stderr.starts_with(&format!("{name}: ")), "{ctx}");
        assert!(
            out.stderr.contains(&r.want),
            "should say {:?}: {ctx}",
            r.want
        );
        assert!(out.stdout.is_empty(), "something ran: {ctx}");
        let left = processes_mentioning(&rootfs.display().to_string());
        assert!(left.is_empty(), "processes left: {left:?}: {ctx}");
    }
}

#[test]
fn every_bad_input_to_nslaunch_is_one_line_its_status_and_leaves_nothing() {
    each(|f, who| {
        let base = f.dir(who, "bad-input");
        let p = fixtures(f, who, &base);
        let rootfs = f.own_rootfs(who, "bad-input");
        std::os::unix::fs::symlink("/no/such/target", rootfs.join("dangling")).unwrap();
        let cwd = f.dir(who, "bad-input-cwd");
        let (rootfs_before, cwd_before, mounts_before) =
            (snapshot(&rootfs), snapshot(&cwd), host_mounts());
        let empty = Path::new(&p.empty_rootfs);
        let empty_before = snapshot(empty);
        let rows = launcher_rows(who, &p, &rootfs.display().to_string());
        check_rows(&f.nslaunch, "nslaunch", who, &cwd, &rootfs, &rows);
        assert_eq!(host_mounts(), mounts_before, "a mount was left on the host");
        assert_eq!(snapshot(&rootfs), rootfs_before, "the rootfs changed");
        assert_eq!(snapshot(empty), empty_before, "the empty rootfs changed");
        assert_eq!(snapshot(&cwd), cwd_before, "the working directory changed");
        fs::remove_dir_all(&rootfs).unwrap();
        let _ = fs::remove_dir_all(&base);
    });
}

#[test]
fn every_bad_input_to_nsinit_alone_is_one_line_and_125() {
    // The standalone nsinit: its own options, and the container setup
    // options, which only nslaunch's built-in nsinit takes, each refused
    // by name before its value is looked at.
    each(|f, who| {
        let cwd = f.dir(who, "bad-nsinit-cwd");
        let cwd_before = snapshot(&cwd);
        let mut rows = vec![
            row(&[], 125, "no command given").no_cmd(),
            row(&["--bogus"], 125, "--bogus"),
            row(&["--grace=1s"], 125, "--grace=1s"),
            row(&["--rewrite", "TERM"], 125, "--rewrite"),
            row(&["--rewrite", "FOO:INT"], 125, "FOO"),
            row(&["--success-status", "x"], 125, "--success-status"),
            row(&["--success-status", "256"], 125, "256"),
            row(&["--pdeathsig", "NOPE"], 125, "NOPE"),
            row(&["--grace", "5x"], 125, "5x"),
            row(&["--stop-delay", "-1"], 125, "--stop-delay -1"),
            row(&["--preserve-fds", "x"], 125, "--preserve-fds"),
            row(&["--grace", "1", "--grace", "2"], 125, "--grace"),
        ];
        for setup in [
            "--rootfs",
            "--report-fd",
            "--volume",
            "--tree",
            "--user",
            "--workdir",
            "--hostname",
            "--caps",
            "--loopback",
            "--console-socket",
            "--oci",
            "--seccomp-fd",
        ] {
            rows.push(row(
                &[setup, "x"],
                125,
                &format!(
                    "{setup}: a container setup option, taken only by nslaunch's built-in nsinit"
                ),
            ));
        }
        rows.push(Row {
            args: vec![
                OsStr::from_bytes(b"--grace").into(),
                OsStr::from_bytes(b"\xff").into(),
            ],
            cmd: None,
            status: 125,
            want: "--grace \"\u{fffd}\": the value is not valid UTF-8".into(),
            who: For::All,
        });
        check_rows(&f.nsinit, "nsinit", who, &cwd, &cwd, &rows);
        assert_eq!(snapshot(&cwd), cwd_before, "the working directory changed");
    });
}

#[test]
fn every_bad_setup_option_to_the_builtin_nsinit_alone_is_one_line_and_125() {
    // nslaunch's built-in nsinit (nslaunch run as nsinit) checks the
    // setup options nslaunch passes it, also when run by hand.
    each(|f, who| {
        let cwd = f.dir(who, "bad-builtin-nsinit-cwd");
        let cwd_before = snapshot(&cwd);
        let mut rows = vec![
            row(&["--bogus"], 125, "--bogus"),
            row(&["--grace", "5x"], 125, "5x"),
            row(
                &["--report-fd", "99"],
                125,
                "--report-fd 99: not an open file descriptor",
            ),
            row(&["--job-control-fd", "99"], 125, "--job-control-fd 99"),
            row(
                &["--volume", "rel:/x"],
                125,
                "SRC must be an absolute host path",
            ),
            // Not PID 1 of a container: building a root here would
            // pivot this (the host's) mount namespace.
            row(
                &["--rootfs", "/tmp"],
                125,
                "--rootfs /tmp: nsinit builds a container root only as PID 1",
            ),
            row(&["--volume", "/tmp:/x"], 125, "need --rootfs"),
            // nsinit cannot make an idmapped mount: only nslaunch's tree.
            row(
                &["--volume", "/tmp:/x:ro,idmap"],
                125,
                "idmap needs a --tree for /x",
            ),
            row(&["--tmpfs", "/x"], 125, "need --rootfs"),
            row(&["--read-only"], 125, "need --rootfs"),
            row(&["--tmpfs", "/x:size=big"], 125, "size=big"),
            row(&["--tree", "x=3"], 125, "x=3"),
            row(&["--caps", "CHOWN,FLY"], 125, "FLY"),
            row(&["--preserve-fds", "x"], 125, "--preserve-fds"),
            row(
                &["--preserve-fds", "1", "--tree", "/=3"],
                125,
                "descriptor 3 is one of nsinit's own",
            ),
            row(&["--user", "nosuchuser"], 125, "--user nosuchuser"),
            row(
                &["--workdir", "rel"],
                125,
                "--workdir rel: must be an absolute path",
            ),
            // Only root may set the hostname or bring lo up here, and
            // would change the host's: these rows are for users alone.
            row(&["--hostname", "box"], 125, "--hostname box: sethostname").user_only(),
            row(
                &["--loopback"],
                125,
                "--loopback: bring the interface lo up",
            )
            .user_only(),
        ];
        rows.push(Row {
            args: vec![
                OsStr::from_bytes(b"--user").into(),
                OsStr::from_bytes(b"\xff").into(),
            ],
            cmd: None,
            status: 125,
            want: "--user \"\u{fffd}\": the value is not valid UTF-8".into(),
            who: For::All,
        });
        check_rows(&f.builtin_nsinit, "nsinit", who, &cwd, &cwd, &rows);
        assert_eq!(snapshot(&cwd), cwd_before, "the working directory changed");
    });
}
