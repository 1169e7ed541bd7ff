//! nslaunch as an OCI runtime, driven directly on runc's
//! command line as podman (through conmon), containerd's shim and CRI-O
//! drive it: create, start, state, kill, delete, run, exec, ps, list,
//! features, --version, the JSON log, the console socket, preserved
//! descriptors and hooks. Every scenario runs as root (a podman-like
//! config without a user namespace) and as the unprivileged user (the same
//! config with a user namespace mapping the user to root, as `nslaunch
//! spec --rootless` writes).
//!
//! Each scenario has a state directory of its own (`--root`), bundles under
//! the fixture's scratch directory with a `rootfs` symlink to the busybox
//! rootfs and a `/shared` bind mount from the bundle, through which the
//! container reports. The test process is a subreaper, as conmon and the
//! shim are: a container's process must end up its child once `create`
//! has returned, and the test reaps it (and learns its exit status) as they
//! do.

use std::fs;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nslaunch_tests::*;
use serde_json::{json, Value};

// ---------------------------------------------------------------------
// The harness of this file: a state directory, bundles, configs.

/// Make this test process a child subreaper (PR_SET_CHILD_SUBREAPER), as
/// conmon and containerd's shim are.
fn become_subreaper() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: prctl with integer arguments only.
        let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        assert_eq!(
            r,
            0,
            "PR_SET_CHILD_SUBREAPER: {}",
            std::io::Error::last_os_error()
        );
    });
}

fn my_pid() -> i32 {
    std::process::id() as i32
}

/// Reap our child `pid` (a container's process re-parented to us) within
/// TIMEOUT; its wait status.
fn reap(pid: i32) -> i32 {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let mut status = 0;
        // SAFETY: waitpid on one pid with a pointer to a local.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return status;
        }
        assert!(
            r == 0,
            "waitpid({pid}): {} (not our child?)",
            std::io::Error::last_os_error()
        );
        assert!(Instant::now() < deadline, "{pid} did not exit in time");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The exit code of a wait status (panics if it was killed).
fn exit_code(status: i32) -> i32 {
    assert!(
        libc::WIFEXITED(status),
        "not an exit: wait status {status:#x}"
    );
    libc::WEXITSTATUS(status)
}

/// One scenario's state directory (`--root`) for one identity. Its Drop
/// force-deletes every ID it was asked to make, so that a failing test
/// leaves no container running.
struct Oci<'a> {
    f: &'a Fixture,
    who: &'a Who,
    name: String,
    root: PathBuf,
    ids: std::cell::RefCell<Vec<String>>,
}

impl<'a> Oci<'a> {
    fn new(f: &'a Fixture, who: &'a Who, name: &str) -> Oci<'a> {
        become_subreaper();
        Oci {
            f,
            who,
            name: name.to_string(),
            root: f.dir(who, &format!("oci-root-{name}")),
            ids: Default::default(),
        }
    }

    /// `nslaunch --root ROOT ARGS...` as the scenario's user.
    fn cmd(&self, args: &[&str]) -> Command {
        let root = self.root.display().to_string();
        let mut all = vec!["--root", root.as_str()];
        all.extend_from_slice(args);
        self.f.nslaunch_raw(self.who, &all)
    }

    fn run(&self, args: &[&str]) -> Run {
        if let Some(pos) = args.iter().position(|a| *a == "create" || *a == "run") {
            if let Some(id) = args[pos..].last() {
                self.ids.borrow_mut().push(id.to_string());
            }
        }
        run_to_files(self.f, self.cmd(args))
    }

    /// A fresh bundle `NAME-TAG`: a `rootfs` symlink to the fixture's
    /// rootfs, an empty `shared/` (bound at /shared) and a config.json
    /// running `sh -c SCRIPT MARKER`.
    fn bundle(&self, tag: &str, script: &str) -> Bundle {
        let dir = self.f.dir(self.who, &format!("oci-{}-{tag}", self.name));
        std::os::unix::fs::symlink(self.f.rootfs(self.who), dir.join("rootfs")).unwrap();
        let shared = dir.join("shared");
        fs::create_dir(&shared).unwrap();
        chown(self.who, &shared);
        let marker = format!("ocitest-{}-{tag}-{}", self.name, self.who.uid());
        let b = Bundle {
            config: config(self.who, &dir, &["sh", "-c", script, &marker]),
            dir,
            shared,
            marker,
        };
        b.write();
        b
    }

    /// `state ID`, which must succeed with one JSON object on stdout and
    /// nothing on stderr (containerd parses both together).
    fn state(&self, id: &str) -> Value {
        let r = self.run(&["state", id]);
        assert_eq!(r.code(), 0, "state {id}: {r:?}");
        assert!(r.stderr.is_empty(), "state {id} wrote to stderr: {r:?}");
        serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("state {id}: not one JSON object ({e}): {r:?}"))
    }

    fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap_or("").to_string()
    }

    /// Wait until `state ID` says `want`.
    fn wait_status(&self, id: &str, want: &str) {
        let mut last = String::new();
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            last = self.status(id);
            if last == want {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("{id} never became {want}: still {last}");
    }

    /// Run a verb that must succeed quietly (no output at all).
    fn ok(&self, args: &[&str]) {
        let r = self.run(args);
        assert_eq!(r.code(), 0, "{args:?}: {r:?}");
        assert!(r.stdout.is_empty(), "{args:?} wrote to stdout: {r:?}");
        assert!(r.stderr.is_empty(), "{args:?} wrote to stderr: {r:?}");
    }

    /// `create --bundle B --pid-file B/pid ID` (which must succeed
    /// quietly) and the pid it wrote.
    fn create(&self, b: &Bundle, id: &str, extra: &[&str]) -> i32 {
        let bundle = b.dir.display().to_string();
        let pid_file = b.dir.join("pid").display().to_string();
        let mut args = vec!["create", "--bundle", &bundle, "--pid-file", &pid_file];
        args.extend_from_slice(extra);
        args.push(id);
        self.ok(&args);
        read_pid_file(&b.dir.join("pid"))
    }

    /// The names under the state directory.
    fn leftovers(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(&self.root)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for Oci<'_> {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = run_to_files(self.f, self.cmd(&["delete", "--force", id]));
        }
    }
}

/// Run `cmd` to completion (TIMEOUT at most) with stdin /dev/null and
/// stdout and stderr in files, read once it has exited: a container made
/// by `create` (or `exec --detach`) keeps the runtime's stdio, as under
/// conmon, so pipes would never see their end.
fn run_to_files(f: &Fixture, mut cmd: Command) -> Run {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = f.scratch.join("oci-stdio");
    fs::create_dir_all(&dir).unwrap();
    let (out, err) = (dir.join(format!("{n}.out")), dir.join(format!("{n}.err")));
    cmd.stdin(std::process::Stdio::null())
        .stdout(fs::File::create(&out).unwrap())
        .stderr(fs::File::create(&err).unwrap());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let status = wait_timeout(&mut child, TIMEOUT)
        .unwrap_or_else(|| panic!("timed out after {TIMEOUT:?}: {cmd:?}"));
    let read = |p: &Path| {
        let text = String::from_utf8_lossy(&fs::read(p).unwrap()).into_owned();
        let _ = fs::remove_file(p);
        text
    };
    Run {
        status,
        stdout: read(&out),
        stderr: read(&err),
    }
}

/// A bundle directory and its config (written by `write`).
struct Bundle {
    dir: PathBuf,
    /// Bound at /shared in the container, writable by its root.
    shared: PathBuf,
    /// The last argument of the container's command: names its processes.
    marker: String,
    config: Value,
}

impl Bundle {
    fn write(&self) {
        let text = serde_json::to_string_pretty(&self.config).unwrap();
        fs::write(self.dir.join("config.json"), text).unwrap();
    }

    fn path(&self) -> String {
        self.dir.display().to_string()
    }

    /// The content of shared/NAME, or "" while it does not exist.
    fn shared_file(&self, name: &str) -> String {
        fs::read_to_string(self.shared.join(name)).unwrap_or_default()
    }

    /// Wait until shared/NAME holds a line `want`.
    fn wait_shared_line(&self, name: &str, want: &str) {
        wait_until(&format!("{name} to say {want:?}"), || {
            self.shared_file(name).lines().any(|l| l == want)
        });
    }
}

fn chown(who: &Who, path: &Path) {
    nix::unistd::chown(
        path,
        Some(nix::unistd::Uid::from_raw(who.uid())),
        Some(nix::unistd::Gid::from_raw(who.gid())),
    )
    .unwrap();
}

const CAPS: [&str; 11] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
];

/// The process object of a config (and of `exec --process`), as podman
/// writes it.
fn process(args: &[&str]) -> Value {
    json!({
        "terminal": false,
        "user": {"uid": 0, "gid": 0},
        "args": args,
        "env": [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "TERM=xterm",
            "container=podman"
        ],
        "cwd": "/",
        "capabilities": {"bounding": CAPS, "effective": CAPS, "permitted": CAPS}
    })
}

/// A config.json shaped like podman's (its mounts, namespaces, masked
/// paths), running `args`, with `/shared` bound from the bundle; for an
/// ordinary user, with a user namespace mapping the user to root.
fn config(who: &Who, bundle: &Path, args: &[&str]) -> Value {
    let mut pts = vec![
        "nosuid",
        "noexec",
        "newinstance",
        "ptmxmode=0666",
        "mode=0620",
    ];
    if who.is_root() {
        pts.push("gid=5");
    }
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "network"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    let mut linux = json!({
        "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
                        "/proc/scsi", "/sys/firmware"],
        "readonlyPaths": ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq",
                          "/proc/sys", "/proc/sysrq-trigger"],
    });
    if !who.is_root() {
        namespaces.push(json!({"type": "user"}));
        linux["uidMappings"] = json!([{"containerID": 0, "hostID": who.uid(), "size": 1}]);
        linux["gidMappings"] = json!([{"containerID": 0, "hostID": who.gid(), "size": 1}]);
    }
    linux["namespaces"] = json!(namespaces);
    json!({
        "ociVersion": "1.0.2-dev",
        "process": process(args),
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "ocitest",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": pts},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/shared", "type": "bind",
             "source": bundle.join("shared").display().to_string(),
             "options": ["rbind", "rw", "rprivate"]}
        ],
        "annotations": {"org.test.oci": "yes", "org.opencontainers.image.stopSignal": "15"},
        "linux": linux
    })
}

/// A pid file as containerd parses it: decimal digits only, no newline.
fn read_pid_file(path: &Path) -> i32 {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        !bytes.is_empty() && bytes.iter().all(u8::is_ascii_digit),
        "{}: not bare decimal digits: {bytes:?}",
        path.display()
    );
    String::from_utf8(bytes).unwrap().parse().unwrap()
}

/// Seconds since the epoch of an RFC 3339 date-time
/// (`2026-12-06T14:34:06.466701452Z`, `...+02:00`); None if it is not one.
fn rfc3339_secs(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let digits = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let seps = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if b.len() < 20 || seps.iter().any(|(i, c)| b[*i] != *c) || !matches!(b[10], b'T' | b't') {
        return None;
    }
    let (y, mo, d) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
    let (h, mi, sec) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = &frac[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

#[test]
fn rfc3339_secs_reads_what_go_and_runc_write() {
    assert_eq!(rfc3339_secs("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(
        rfc3339_secs("2026-12-06T14:34:06.466701452Z"),
        Some(1_796_567_646)
    );
    assert_eq!(rfc3339_secs("2000-02-29T03:00:00+02:00"), Some(951_786_000));
    for bad in [
        "",
        "2026-12-06 14:34:06Z",
        "2026-12-06T14:34:06",
        "2026-13-06T14:34:06Z",
        "2026-12-06T14:34:06.Z",
        "2026-12-06T14:34:06+0200",
    ] {
        assert_eq!(rfc3339_secs(bad), None, "{bad:?}");
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A refusal as the OCI verbs give it: exit 1 (runc's status for a
/// failed verb, nslaunch's --help says the same), one line
/// `nslaunch: ...` on stderr that says `want`, nothing on stdout.
fn assert_verb_failed(r: &Run, case: &str, want: &str) {
    assert_eq!(r.code(), 1, "{case}: {r:?}");
    assert_eq!(lines(&r.stderr).len(), 1, "{case}: not one line: {r:?}");
    assert!(r.stderr.starts_with("nslaunch: "), "{case}: {r:?}");
    assert!(
        r.stderr.to_lowercase().contains(&want.to_lowercase()),
        "{case} should say {want:?}: {r:?}"
    );
    assert!(r.stdout.is_empty(), "{case}: {r:?}");
}

/// A script for a container's process that reports `started` in
/// /shared/out, then waits; on SIGTERM (PID 1 only gets the signals it
/// handles) it says so in /shared/term and exits 7.
const WAITS: &str = "trap 'echo term > /shared/term; exit 7' TERM; \
                     echo started > /shared/out; sleep 1000 & wait";

// ---------------------------------------------------------------------
// 1. The lifecycle.

#[test]
fn create_start_kill_delete_for_each_form_of_the_signal() {
    each(|f, who| {
        let o = Oci::new(f, who, "life");
        for sig in ["15", "TERM", "SIGTERM"] {
            let id = format!("life-{}", sig.to_lowercase());
            let b = o.bundle(&id, WAITS);
            let case = format!("{id} as {}", who.label());

            // create: returns at once, the process waits to be started.
            let t0 = Instant::now();
            let pid = o.create(&b, &id, &[]);
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "{case}: create took {:?}",
                t0.elapsed()
            );
            let st = o.state(&id);
            assert_eq!(st["status"], "created", "{case}: {st}");
            assert_eq!(
                st["pid"], pid,
                "{case}: the pid file and state differ: {st}"
            );
            assert_eq!(st["id"], id.as_str(), "{case}: {st}");
            assert!(
                st["ociVersion"]
                    .as_str()
                    .is_some_and(|v| v.starts_with("1.")),
                "{case}: {st}"
            );
            assert_eq!(st["bundle"], b.path(), "{case}: {st}");
            let rootfs = fs::canonicalize(f.rootfs(who)).unwrap();
            assert_eq!(
                st["rootfs"]
                    .as_str()
                    .map(fs::canonicalize)
                    .and_then(Result::ok),
                Some(rootfs),
                "{case}: {st}"
            );
            let created = st["created"].as_str().unwrap_or_default();
            let secs = rfc3339_secs(created)
                .unwrap_or_else(|| panic!("{case}: created {created:?} is not RFC 3339"));
            assert!(
                (secs - now_secs()).abs() < 300,
                "{case}: created {created} is not now"
            );
            assert_eq!(st["annotations"]["org.test.oci"], "yes", "{case}: {st}");
            let ps = proc_stat(pid).unwrap_or_else(|| panic!("{case}: {pid} is not running"));
            assert!(matches!(ps.state, 'S' | 'R'), "{case}: {ps:?}");
            assert_eq!(
                ps.ppid,
                my_pid(),
                "{case}: the container's process is not the subreaper's child: {ps:?}"
            );
            assert!(
                b.shared_file("out").is_empty(),
                "{case}: the process ran before start"
            );

            // start: the process runs.
            o.ok(&["start", &id]);
            b.wait_shared_line("out", "started");
            let st = o.state(&id);
            assert_eq!(st["status"], "running", "{case}: {st}");
            assert_eq!(st["pid"], pid, "{case}: {st}");

            // kill: the signal reaches it, it stops.
            o.ok(&["kill", &id, sig]);
            o.wait_status(&id, "stopped");
            let st = o.state(&id);
            assert_eq!(st["pid"], 0, "{case}: a stopped container's pid: {st}");
            assert_eq!(b.shared_file("term"), "term\n", "{case}");
            assert_eq!(exit_code(reap(pid)), 7, "{case}: its exit status");
            let r = o.run(&["kill", &id, "9"]);
            assert_verb_failed(&r, &format!("{case}: kill when stopped"), "not running");

            // delete: gone, nothing left.
            o.ok(&["delete", &id]);
            let r = o.run(&["state", &id]);
            assert_verb_failed(&r, &format!("{case}: state after delete"), "does not exist");
            assert!(
                !o.leftovers().contains(&id),
                "{case}: left in --root: {:?}",
                o.leftovers()
            );
        }
        assert!(o.leftovers().is_empty(), "{:?}", o.leftovers());
        o.ok(&["delete", "--force", "never-was"]);
        let r = o.run(&["delete", "never-was"]);
        assert_verb_failed(&r, "delete of an unknown ID", "does not exist");
    });
}

#[test]
fn start_twice_fails_and_delete_of_a_created_container_kills_it() {
    each(|f, who| {
        let o = Oci::new(f, who, "twice");
        let b = o.bundle("a", WAITS);
        let pid = o.create(&b, "a", &[]);
        o.ok(&["start", "a"]);
        b.wait_shared_line("out", "started");
        let r = o.run(&["start", "a"]);
        assert_verb_failed(&r, "start of a running container", "running");
        let r = o.run(&["delete", "a"]);
        assert_verb_failed(&r, "delete of a running container", "not stopped");
        assert_eq!(o.status("a"), "running");
        o.ok(&["delete", "--force", "a"]);
        assert!(libc::WIFSIGNALED(reap(pid)), "delete --force kills it");

        // A created container is killed by delete, --force or not (runc).
        let b = o.bundle("b", WAITS);
        let pid = o.create(&b, "b", &[]);
        o.ok(&["delete", "b"]);
        let st = reap(pid);
        assert!(
            libc::WIFSIGNALED(st) && libc::WTERMSIG(st) == libc::SIGKILL,
            "{st:#x}"
        );
        assert!(b.shared_file("out").is_empty(), "it was never started");
        assert!(o.leftovers().is_empty(), "{:?}", o.leftovers());
        assert!(processes_mentioning(&b.marker).is_empty());

        // A created container whose process died: stopped, start refused,
        // delete without --force removes it.
        let b = o.bundle("c", WAITS);
        let pid = o.create(&b, "c", &[]);
        assert!(send_signal(pid, libc::SIGKILL));
        reap(pid);
        assert_eq!(o.status("c"), "stopped");
        let r = o.run(&["start", "c"]);
        assert_verb_failed(&r, "start of a dead container", "c");
        o.ok(&["delete", "c"]);

        // No --bundle: the bundle is the working directory (runc's rule;
        // containerd's shim runs us there).
        let b = o.bundle("d", WAITS);
        let mut cmd = o.cmd(&["create", "d"]);
        cmd.current_dir(&b.dir);
        o.ids.borrow_mut().push("d".into());
        let r = run_to_files(f, cmd);
        assert_eq!(r.code(), 0, "{r:?}");
        let st = o.state("d");
        assert_eq!(st["bundle"], b.path(), "{st}");
        let pid = st["pid"].as_i64().unwrap() as i32;
        o.ok(&["delete", "d"]);
        reap(pid);
        assert!(o.leftovers().is_empty(), "{:?}", o.leftovers());
    });
}

// ---------------------------------------------------------------------
// 2. run: the exit status passes through.

#[test]
fn run_passes_the_exit_status_and_maps_exec_failures_to_127_and_126() {
    each(|f, who| {
        let o = Oci::new(f, who, "run");
        let mut b = o.bundle("b", "true");
        let bundle = b.path();
        let cases: [(&[&str], i32, &str); 5] = [
            (&["true"], 0, ""),
            (&["sh", "-c", "echo out; echo err >&2; exit 3"], 3, ""),
            (&["/nonexistent"], 127, "no such file or directory"),
            (&["no-such-command"], 127, "executable file not found"),
            (&["/notexec"], 126, "permission denied"),
        ];
        for (i, (args, want, says)) in cases.iter().enumerate() {
            let id = format!("run-{i}");
            b.config["process"]["args"] = json!(args);
            b.write();
            let r = o.run(&["run", "--bundle", &bundle, &id]);
            assert_eq!(r.code(), *want, "{args:?}: {r:?}");
            if *want == 3 {
                assert_eq!(r.stdout, "out\n", "{r:?}");
                assert_eq!(r.stderr, "err\n", "{r:?}");
            }
            if !says.is_empty() {
                assert_eq!(lines(&r.stderr).len(), 1, "{args:?}: {r:?}");
                assert!(r.stderr.starts_with("nslaunch: "), "{args:?}: {r:?}");
                assert!(
                    r.stderr.to_lowercase().contains(says),
                    "{args:?} should say {says:?} (podman maps it): {r:?}"
                );
            }
            assert!(o.leftovers().is_empty(), "{args:?}: {:?}", o.leftovers());
        }

        // run --detach: created and started, left to the caller.
        let b = o.bundle("d", WAITS);
        let pid_file = b.dir.join("pid").display().to_string();
        o.ok(&[
            "run",
            "--detach",
            "--bundle",
            &b.path(),
            "--pid-file",
            &pid_file,
            "d",
        ]);
        let pid = read_pid_file(&b.dir.join("pid"));
        b.wait_shared_line("out", "started");
        assert_eq!(o.status("d"), "running");
        assert_eq!(proc_stat(pid).map(|s| s.ppid), Some(my_pid()));
        o.ok(&["kill", "d"]);
        o.wait_status("d", "stopped");
        assert_eq!(exit_code(reap(pid)), 7, "the default signal is TERM");
        o.ok(&["delete", "d"]);
    });
}

// ---------------------------------------------------------------------
// 3. Refusals leave nothing behind.

/// A create that must fail saying `want`, leaving no state for `id`, no
/// process of the bundle and no mount.
fn assert_create_refused(o: &Oci, b: &Bundle, id: &str, extra: &[&str], want: &str) {
    let mounts = host_mounts();
    let bundle = b.path();
    let mut args = vec!["create", "--bundle", &bundle];
    args.extend_from_slice(extra);
    args.push(id);
    let r = o.run(&args);
    let case = format!("create {id} ({want}) as {}", o.who.label());
    assert_verb_failed(&r, &case, want);
    assert!(
        !o.leftovers().iter().any(|l| l == id),
        "{case}: state left: {:?}",
        o.leftovers()
    );
    let left = processes_mentioning(&b.marker);
    assert!(left.is_empty(), "{case}: processes left: {left:?}");
    assert_eq!(host_mounts(), mounts, "{case}: a mount was left");
    assert!(
        !b.dir.join("pid").exists(),
        "{case}: a pid file was written"
    );
}

#[test]
fn refused_creates_say_why_in_one_line_and_leave_nothing() {
    each(|f, who| {
        let o = Oci::new(f, who, "refuse");

        // The same ID twice: the first container is untouched.
        let b = o.bundle("dup", WAITS);
        let pid = o.create(&b, "dup", &[]);
        fs::remove_file(b.dir.join("pid")).unwrap();
        let r = o.run(&["create", "--bundle", &b.path(), "dup"]);
        assert_verb_failed(&r, "a duplicate ID", "already exists");
        assert_eq!(o.state("dup")["pid"], pid);
        assert_eq!(o.status("dup"), "created");
        assert_eq!(processes_mentioning(&b.marker), vec![pid]);
        o.ok(&["delete", "--force", "dup"]);
        reap(pid);

        // A bad ID: nothing is made under --root at all.
        let b = o.bundle("badid", WAITS);
        assert_create_refused(&o, &b, "a/b", &[], "a/b");
        assert!(o.leftovers().is_empty(), "{:?}", o.leftovers());

        let b = o.bundle("noconfig", WAITS);
        fs::remove_file(b.dir.join("config.json")).unwrap();
        assert_create_refused(&o, &b, "noconfig", &[], "config.json");

        let mut b = o.bundle("personality", WAITS);
        b.config["linux"]["personality"] = json!({"domain": "LINUX"});
        b.write();
        assert_create_refused(&o, &b, "personality", &[], "linux.personality");

        let mut b = o.bundle("fstype", WAITS);
        b.config["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/mnt", "type": "ext4", "source": "/dev/sda1", "options": ["ro"]
        }));
        b.write();
        assert_create_refused(&o, &b, "fstype", &[], "ext4");

        let mut b = o.bundle("tty", WAITS);
        b.config["process"]["terminal"] = json!(true);
        b.write();
        assert_create_refused(&o, &b, "tty", &[], "--console-socket");

        let mut b = o.bundle("nosock", WAITS);
        b.config["process"]["terminal"] = json!(true);
        b.write();
        let sock = b.dir.join("no-such.sock").display().to_string();
        assert_create_refused(
            &o,
            &b,
            "nosock",
            &["--console-socket", &sock],
            "no-such.sock",
        );

        let b = o.bundle("norootfs", WAITS);
        fs::remove_file(b.dir.join("rootfs")).unwrap();
        assert_create_refused(&o, &b, "norootfs", &[], "root.path");

        // Failing after the container exists: its process must go too.
        let b = o.bundle("pidfile", WAITS);
        let pid_file = b.dir.join("no/such/dir/pid").display().to_string();
        assert_create_refused(&o, &b, "pidfile", &["--pid-file", &pid_file], "--pid-file");

        assert!(o.leftovers().is_empty(), "{:?}", o.leftovers());
    });
}

// ---------------------------------------------------------------------
// 4. exec.

#[test]
fn exec_runs_in_the_container_detached_or_not() {
    each(|f, who| {
        let o = Oci::new(f, who, "exec");
        let b = o.bundle("c", WAITS);
        let pid = o.create(&b, "c", &[]);
        o.ok(&["start", "c"]);
        b.wait_shared_line("out", "started");

        // exec --detach --process: as podman and containerd call it.
        let proc_file = b.dir.join("process.json");
        let script = "cat /proc/1/cmdline > /shared/exec-saw; echo $$ > /shared/exec-pid; \
                      echo ran > /shared/exec-out; exec sleep 1000";
        fs::write(&proc_file, process(&["sh", "-c", script]).to_string()).unwrap();
        let exec_pid_file = b.dir.join("exec.pid");
        o.ok(&[
            "exec",
            "--detach",
            "--pid-file",
            &exec_pid_file.display().to_string(),
            "--process",
            &proc_file.display().to_string(),
            "c",
        ]);
        let epid = read_pid_file(&exec_pid_file);
        b.wait_shared_line("exec-out", "ran");
        let saw = fs::read(b.shared.join("exec-saw")).unwrap();
        assert!(
            String::from_utf8_lossy(&saw).contains(&b.marker),
            "the exec'd process's /proc/1 is not the container's: {saw:?}"
        );
        // Its pid inside is the one the host's NSpid line ends with.
        let status = fs::read_to_string(format!("/proc/{epid}/status")).unwrap();
        let nspid = status
            .lines()
            .find_map(|l| l.strip_prefix("NSpid:"))
            .and_then(|l| l.split_whitespace().last())
            .unwrap_or_default()
            .to_string();
        assert_eq!(b.shared_file("exec-pid").trim(), nspid, "{status}");
        assert_ne!(nspid, epid.to_string(), "not in a PID namespace of its own");
        let es = proc_stat(epid).expect("the exec'd process is not running");
        assert_eq!(
            es.ppid,
            my_pid(),
            "not re-parented to the subreaper: {es:?}"
        );
        assert_eq!(
            pid_ns_of(epid),
            pid_ns_of(pid),
            "not in the container's PID namespace"
        );
        let r = o.run(&["ps", "--format", "json", "c"]);
        assert_eq!(r.code(), 0, "{r:?}");
        let pids: Vec<i32> = serde_json::from_str(&r.stdout).unwrap();
        assert!(
            pids.contains(&pid) && pids.contains(&epid),
            "{pids:?} {pid} {epid}"
        );
        assert!(send_signal(epid, libc::SIGKILL));
        reap(epid);

        // exec without --detach: stdio relayed, the status passed on.
        let r = o.run(&["exec", "c", "sh", "-c", "echo hi from exec; exit 5"]);
        assert_eq!(r.code(), 5, "{r:?}");
        assert_eq!(r.stdout, "hi from exec\n", "{r:?}");

        // ... and signals to it relayed (CRI-O's kubectl exec).
        let mut c = Running::start(o.cmd(&[
            "exec",
            "c",
            "sh",
            "-c",
            "trap 'exit 9' TERM; sleep 1000 & echo ready; wait",
        ]));
        c.wait_line("ready");
        c.signal(libc::SIGTERM);
        let (st, _) = c.finish();
        assert_eq!(
            st.code(),
            Some(9),
            "SIGTERM not relayed to the exec'd process"
        );

        // A missing command: runc's status for any exec failure, 255.
        let r = o.run(&["exec", "c", "/nonexistent"]);
        assert_eq!(r.code(), 255, "{r:?}");
        assert_eq!(lines(&r.stderr).len(), 1, "{r:?}");
        assert!(r.stderr.contains("no such file or directory"), "{r:?}");

        // In a stopped container.
        o.ok(&["kill", "c", "KILL"]);
        o.wait_status("c", "stopped");
        let r = o.run(&["exec", "c", "true"]);
        assert_eq!(r.code(), 255, "{r:?}");
        assert_eq!(lines(&r.stderr).len(), 1, "{r:?}");
        assert!(r.stderr.contains("stopped"), "{r:?}");
        reap(pid);
        o.ok(&["delete", "c"]);
        assert!(o.leftovers().is_empty(), "{:?}", o.leftovers());
    });
}

// ---------------------------------------------------------------------
// 5. ps, list, features, --version.

/// The status `list` (table) shows for `id`.
fn listed_status(o: &Oci, id: &str) -> Option<String> {
    let r = o.run(&["list"]);
    assert_eq!(r.code(), 0, "{r:?}");
    r.stdout.lines().find_map(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        (cols.first() == Some(&id)).then(|| cols.get(2).unwrap_or(&"").to_string())
    })
}

#[test]
fn ps_and_list_follow_the_container() {
    each(|f, who| {
        let o = Oci::new(f, who, "ps");
        let b = o.bundle("p", WAITS);
        let pid = o.create(&b, "p", &[]);
        assert_eq!(listed_status(&o, "p").as_deref(), Some("created"));
        let ps = |o: &Oci| -> Value {
            let r = o.run(&["ps", "--format", "json", "p"]);
            assert_eq!(r.code(), 0, "{r:?}");
            serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r:?}"))
        };
        assert_eq!(ps(&o), json!([pid]));
        o.ok(&["start", "p"]);
        b.wait_shared_line("out", "started");
        assert_eq!(listed_status(&o, "p").as_deref(), Some("running"));
        let r = o.run(&["list", "--format", "json"]);
        let list: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r:?}"));
        assert!(
            list.as_array()
                .unwrap()
                .iter()
                .any(|c| c["id"] == "p" && c["status"] == "running" && c["pid"] == pid),
            "{list}"
        );
        let r = o.run(&["list", "--quiet"]);
        assert_eq!(lines(&r.stdout), vec!["p"], "{r:?}");
        wait_until("sleep to start in the container", || {
            ps(&o).as_array().is_some_and(|a| a.len() == 2)
        });
        assert!(ps(&o).as_array().unwrap().contains(&json!(pid)));
        o.ok(&["kill", "p", "9"]);
        o.wait_status("p", "stopped");
        assert_eq!(ps(&o), Value::Null, "ps of a stopped container is null");
        assert_eq!(listed_status(&o, "p").as_deref(), Some("stopped"));
        reap(pid);
        o.ok(&["delete", "p"]);
        assert_eq!(listed_status(&o, "p"), None);
    });
}

#[test]
fn features_and_version_answer_as_runc_does() {
    each(|f, who| {
        let r = run(f.nslaunch_raw(who, &["features"]), None);
        assert_eq!(r.code(), 0, "{r:?}");
        let v: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r:?}"));
        assert!(
            v["ociVersionMax"]
                .as_str()
                .is_some_and(|s| s.starts_with("1.")),
            "{v}"
        );
        let hooks = v["hooks"].as_array().expect("hooks");
        assert!(hooks.contains(&json!("prestart")), "{v}");
        assert!(v["linux"]["namespaces"].as_array().is_some(), "{v}");

        let r = run(f.nslaunch_raw(who, &["--version"]), None);
        assert_eq!(r.code(), 0, "{r:?}");
        let l: Vec<&str> = r.stdout.lines().collect();
        assert_eq!(l.len(), 3, "{r:?}");
        assert!(l[0].starts_with("nslaunch version "), "{r:?}");
        assert!(l[1].starts_with("commit: "), "{r:?}");
        assert!(l[2].starts_with("spec: 1."), "{r:?}");
    });
}

// ---------------------------------------------------------------------
// 6. --log FILE --log-format json.

/// The JSON lines of a log file.
fn log_lines(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: not JSON: {l:?}")))
        .collect()
}

#[test]
fn the_json_log_gets_failures_and_a_good_create_writes_nothing() {
    each(|f, who| {
        let o = Oci::new(f, who, "log");
        let logdir = f.dir(who, "oci-log-files");
        let log = logdir.join("state.log");
        let logs = log.display().to_string();
        let r = o.run(&["--log", &logs, "--log-format", "json", "state", "nosuch"]);
        assert_verb_failed(&r, "state of an unknown ID", "does not exist");
        let entries = log_lines(&log);
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert_eq!(entries[0]["level"], "error", "{entries:?}");
        assert!(
            entries[0]["msg"]
                .as_str()
                .is_some_and(|m| m.contains("does not exist")),
            "{entries:?}"
        );
        assert!(
            entries[0]["time"].as_str().and_then(rfc3339_secs).is_some(),
            "{entries:?}"
        );
        // podman reads the whole file as one JSON object.
        let whole: Result<Value, _> = serde_json::from_str(&fs::read_to_string(&log).unwrap());
        assert!(whole.is_ok(), "{whole:?}");

        // podman's form: --log-format=json before --log.
        let b = o.bundle("nocfg", WAITS);
        fs::remove_file(b.dir.join("config.json")).unwrap();
        let log2 = logdir.join("create.log");
        let logs2 = log2.display().to_string();
        let r = o.run(&[
            "--log-format=json",
            "--log",
            &logs2,
            "create",
            "--bundle",
            &b.path(),
            "nocfg",
        ]);
        assert_verb_failed(&r, "create without config.json", "config.json");
        let entries = log_lines(&log2);
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert_eq!(entries[0]["level"], "error");
        assert!(
            entries[0]["msg"]
                .as_str()
                .is_some_and(|m| m.contains("config.json")),
            "{entries:?}"
        );

        // A good create: not a byte on stdout, stderr (the container's,
        // under conmon) or in the log.
        let b = o.bundle("good", WAITS);
        let log3 = logdir.join("good.log");
        let logs3 = log3.display().to_string();
        let bundle = b.path();
        let pid_file = b.dir.join("pid").display().to_string();
        o.ok(&[
            "--log",
            &logs3,
            "--log-format",
            "json",
            "create",
            "--bundle",
            &bundle,
            "--pid-file",
            &pid_file,
            "good",
        ]);
        assert_eq!(fs::read_to_string(&log3).unwrap_or_default(), "");
        let pid = read_pid_file(&b.dir.join("pid"));
        o.ok(&["delete", "--force", "good"]);
        reap(pid);
    });
}

// ---------------------------------------------------------------------
// 7. The console socket.

/// Accept one connection on `l` and receive one message from it: its
/// bytes and every descriptor that came with it by SCM_RIGHTS.
fn receive_fds(l: &UnixListener) -> (UnixStream, Vec<u8>, Vec<OwnedFd>) {
    l.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let stream = loop {
        match l.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(
                    Instant::now() < deadline,
                    "nobody connected to the console socket"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("accept: {e}"),
        }
    };
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut buf = [0u8; 4096];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // Room for several descriptors, to see if more than one came.
    // SAFETY: CMSG_SPACE is arithmetic.
    let space = unsafe { libc::CMSG_SPACE((8 * std::mem::size_of::<RawFd>()) as u32) } as usize;
    let mut control = vec![0u64; space.div_ceil(8)];
    // SAFETY: an all-zero msghdr is valid; its pointers are set below to
    // buffers that outlive the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: recvmsg into the buffers described by msg.
    let n = unsafe { libc::recvmsg(stream.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    assert!(n >= 0, "recvmsg: {}", std::io::Error::last_os_error());
    assert_eq!(
        msg.msg_flags & libc::MSG_CTRUNC,
        0,
        "control data truncated"
    );
    let mut fds = Vec::new();
    // SAFETY: walking the control messages the kernel wrote into
    // `control`, with the libc macros, within msg_controllen.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let h = &*c;
            if h.cmsg_level == libc::SOL_SOCKET && h.cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c) as *const RawFd;
                let count = (h.cmsg_len as usize - libc::CMSG_LEN(0) as usize)
                    / std::mem::size_of::<RawFd>();
                for i in 0..count {
                    fds.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    (stream, buf[..n as usize].to_vec(), fds)
}

/// Whether `fd` is a pseudo-terminal master (TIOCGPTN answers).
fn is_pty_master(fd: &OwnedFd) -> bool {
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int.
    unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGPTN, &mut n) == 0 }
}

/// Read `fd` (made non-blocking) until what came holds `want`.
fn read_until(fd: &OwnedFd, want: &str) -> String {
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let fl = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
    let mut seen = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let mut buf = [0u8; 1024];
        match nix::unistd::read(fd, &mut buf) {
            Ok(0) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(nix::errno::Errno::EAGAIN) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!(
                "read the terminal: {e} (saw {:?})",
                String::from_utf8_lossy(&seen)
            ),
        }
        let text = String::from_utf8_lossy(&seen).into_owned();
        if text.contains(want) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "never saw {want:?} on the terminal: {text:?}"
        );
    }
    panic!(
        "the terminal closed before {want:?}: {:?}",
        String::from_utf8_lossy(&seen)
    );
}

#[test]
fn the_terminal_comes_over_the_console_socket() {
    each(|f, who| {
        let o = Oci::new(f, who, "console");
        let mut b = o.bundle("t", "true");
        b.config["process"]["terminal"] = json!(true);
        b.config["process"]["args"] =
            json!(["sh", "-c", "echo tty=$(tty); sleep 1000 & wait", b.marker]);
        b.write();
        let sock_dir = f.dir(who, "oci-console");
        let sock = sock_dir.join("console.sock");
        let l = UnixListener::bind(&sock).unwrap();
        fs::set_permissions(&sock, fs::Permissions::from_mode(0o777)).unwrap();
        let pid = o.create(&b, "t", &["--console-socket", &sock.display().to_string()]);
        let (mut stream, payload, fds) = receive_fds(&l);
        assert_eq!(
            fds.len(),
            1,
            "not exactly one descriptor (payload {payload:?})"
        );
        assert!(payload.len() < 4096, "{payload:?}");
        let master = fds.into_iter().next().unwrap();
        assert!(
            is_pty_master(&master),
            "not a pty master: {:?}",
            fs::read_link(format!("/proc/self/fd/{}", master.as_raw_fd()))
        );
        o.ok(&["start", "t"]);
        let text = read_until(&master, "\n");
        assert!(text.contains("tty=/dev/pts/"), "{text:?}");
        // One message, then the runtime's end is closed: not held by
        // anything left running (the container's process included).
        let mut rest = Vec::new();
        let r = stream.read_to_end(&mut rest);
        assert!(
            r.is_ok() && rest.is_empty(),
            "the console socket stays open or sent more: {r:?} {rest:?}"
        );

        // podman exec -t: exec --detach --tty --console-socket, with a
        // process file whose terminal is true.
        let sock2 = sock_dir.join("exec.sock");
        let l2 = UnixListener::bind(&sock2).unwrap();
        fs::set_permissions(&sock2, fs::Permissions::from_mode(0o777)).unwrap();
        let mut p = process(&["sh", "-c", "echo exec-tty=$(tty); exec sleep 1000"]);
        p["terminal"] = json!(true);
        let proc_file = b.dir.join("process.json");
        fs::write(&proc_file, p.to_string()).unwrap();
        let exec_pid_file = b.dir.join("exec.pid");
        o.ok(&[
            "exec",
            "--pid-file",
            &exec_pid_file.display().to_string(),
            "--process",
            &proc_file.display().to_string(),
            "--detach",
            "--tty",
            "--console-socket",
            &sock2.display().to_string(),
            "t",
        ]);
        let epid = read_pid_file(&exec_pid_file);
        let (_stream2, payload, fds) = receive_fds(&l2);
        assert_eq!(
            fds.len(),
            1,
            "exec: not exactly one descriptor ({payload:?})"
        );
        let master2 = fds.into_iter().next().unwrap();
        assert!(is_pty_master(&master2));
        let text = read_until(&master2, "\n");
        assert!(text.contains("exec-tty=/dev/pts/"), "{text:?}");
        assert!(send_signal(epid, libc::SIGKILL));
        reap(epid);

        o.ok(&["delete", "--force", "t"]);
        reap(pid);
        assert!(o.leftovers().is_empty(), "{:?}", o.leftovers());
    });
}

#[test]
fn run_with_a_terminal_gives_the_process_one_or_refuses() {
    each(|f, who| {
        let o = Oci::new(f, who, "runtty");
        let mut b = o.bundle("r", "tty; echo done-$((6*7))");
        b.config["process"]["terminal"] = json!(true);
        b.write();
        o.ids.borrow_mut().push("r".into());
        // runc run with terminal: true and no --console-socket gives the
        // process a terminal of its own, relayed to the caller's.
        let mut p = pty::Pty::spawn(o.cmd(&["run", "--bundle", &b.path(), "r"]));
        let st = wait_timeout(&mut p.child, TIMEOUT).expect("run did not exit");
        p.saw_within(0, "done-42", Duration::from_secs(2));
        let screen = p.screen.clone();
        if st.success() {
            assert!(
                screen.contains("/dev/pts/") && screen.contains("done-42"),
                "process.terminal is true but the process got no terminal \
                 (neither given one nor refused): {screen:?}"
            );
        } else {
            assert!(
                screen.contains("nslaunch: ") && screen.contains("terminal"),
                "{st:?}: {screen:?}"
            );
        }
        assert!(o.leftovers().is_empty(), "{:?}", o.leftovers());
    });
}

#[test]
fn exec_tty_in_the_foreground_relays_a_terminal() {
    // runc exec -t without --console-socket: a terminal in the container,
    // relayed to the caller's.
    each(|f, who| {
        let o = Oci::new(f, who, "exectty");
        let b = o.bundle("e", WAITS);
        let pid = o.create(&b, "e", &[]);
        o.ok(&["start", "e"]);
        b.wait_shared_line("out", "started");
        let mut p =
            pty::Pty::spawn(o.cmd(&["exec", "--tty", "e", "sh", "-c", "echo tty=$(tty); exit 6"]));
        let st = wait_timeout(&mut p.child, TIMEOUT).expect("exec did not exit");
        p.saw_within(0, "tty=", Duration::from_secs(2));
        let screen = p.screen.clone();
        assert_eq!(st.code(), Some(6), "{screen:?}");
        assert!(screen.contains("tty=/dev/pts/"), "{screen:?}");
        o.ok(&["delete", "--force", "e"]);
        reap(pid);
    });
}

// ---------------------------------------------------------------------
// 8. --preserve-fds, and what else the caller holds.

#[test]
fn preserve_fds_passes_fd_3_and_nothing_above() {
    each(|f, who| {
        let o = Oci::new(f, who, "fds");
        let b = o.bundle(
            "f",
            "echo via-fd3 >&3; for n in 4 5; do [ -e /proc/$$/fd/$n ] && echo leaked-$n >&3; done; \
             echo end >&3; sleep 1000 & wait",
        );
        let out = b.dir.join("fd3.out");
        let file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&out)
            .unwrap();
        let devnull = fs::File::open("/dev/null").unwrap();
        let (f3, f4) = (file.as_raw_fd(), devnull.as_raw_fd());
        let bundle = b.path();
        let pid_file = b.dir.join("pid").display().to_string();
        let mut cmd = o.cmd(&[
            "create",
            "--bundle",
            &bundle,
            "--pid-file",
            &pid_file,
            "--preserve-fds",
            "1",
            "f",
        ]);
        o.ids.borrow_mut().push("f".into());
        // SAFETY: only fcntl and dup2 between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                // Out of the way first (either may be 3, 4 or 5 now), then
                // fd 3: the file; 4 and 5: /dev/null, which must not pass.
                let (a, b) = (
                    libc::fcntl(f3, libc::F_DUPFD, 100),
                    libc::fcntl(f4, libc::F_DUPFD, 100),
                );
                for (from, to) in [(a, 3), (b, 4), (b, 5)] {
                    if from < 0 || libc::dup2(from, to) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let r = run_to_files(f, cmd);
        assert_eq!(r.code(), 0, "{r:?}");
        assert!(r.stderr.is_empty(), "{r:?}");
        drop(file);
        let pid = read_pid_file(&b.dir.join("pid"));
        o.ok(&["start", "f"]);
        wait_until("the process to write through fd 3", || {
            fs::read_to_string(&out)
                .unwrap_or_default()
                .contains("end\n")
        });
        assert_eq!(fs::read_to_string(&out).unwrap(), "via-fd3\nend\n");

        // exec --preserve-fds 1 (podman exec --preserve-fds).
        let out2 = b.dir.join("exec-fd3.out");
        let file2 = fs::File::create(&out2).unwrap();
        let f3 = file2.as_raw_fd();
        let proc_file = b.dir.join("process.json");
        let script = "echo exec-via-fd3 >&3; [ -e /proc/$$/fd/4 ] && echo leaked-4 >&3; \
                      echo end >&3";
        fs::write(&proc_file, process(&["sh", "-c", script]).to_string()).unwrap();
        let exec_pid_file = b.dir.join("exec.pid").display().to_string();
        let proc_path = proc_file.display().to_string();
        let mut cmd = o.cmd(&[
            "exec",
            "--pid-file",
            &exec_pid_file,
            "--process",
            &proc_path,
            "--detach",
            "--preserve-fds",
            "1",
            "f",
        ]);
        // SAFETY: only fcntl and dup2 between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let a = libc::fcntl(f3, libc::F_DUPFD, 100);
                if a < 0 || libc::dup2(a, 3) < 0 || libc::dup2(a, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let r = run_to_files(f, cmd);
        assert_eq!(r.code(), 0, "{r:?}");
        drop(file2);
        let epid = read_pid_file(&b.dir.join("exec.pid"));
        wait_until("the exec'd process to write through fd 3", || {
            fs::read_to_string(&out2)
                .unwrap_or_default()
                .contains("end\n")
        });
        assert_eq!(fs::read_to_string(&out2).unwrap(), "exec-via-fd3\nend\n");
        reap(epid);
        o.ok(&["delete", "--force", "f"]);
        reap(pid);
    });
}

/// The bits of signals 1..=31 in a /proc/PID/status mask line (the
/// real-time ones aside: a static glibc busybox ignores 32 and 33 itself).
fn sig_bits(status: &str, key: &str) -> u64 {
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in {status}"))
        .trim();
    u64::from_str_radix(hex, 16).unwrap() & 0x7fff_ffff
}

#[test]
fn the_process_gets_default_signals_and_no_stray_descriptor() {
    each(|f, who| {
        let o = Oci::new(f, who, "hygiene");
        let report = "grep -E '^Sig(Blk|Ign)' /proc/$$/status > /shared/$1; \
                      for n in 3 4 5 6 7 8 9; do [ -e /proc/$$/fd/$n ] && echo fd-$n >> /shared/$1; done; \
                      echo end >> /shared/$1";
        let b = o.bundle("h", &format!("set -- sig; {report}; sleep 1000 & wait"));
        let proc_file = b.dir.join("process.json");
        let exec_script = format!("set -- exec-sig; {report}");
        fs::write(&proc_file, process(&["sh", "-c", &exec_script]).to_string()).unwrap();
        // What conmon gives the runtime: SIGPIPE ignored, and a pipe as
        // fd 5 (rootless podman's slirp4netns sync pipe); and more of the
        // kind: SIGUSR1 ignored, SIGUSR2 and SIGTERM blocked, fd 3.
        let (r, w) = nix::unistd::pipe().unwrap();
        let (r, w) = (r.as_raw_fd(), w.as_raw_fd());
        let caller = |mut cmd: Command| -> Command {
            // SAFETY: signal, sigprocmask, fcntl and dup2 only.
            unsafe {
                cmd.pre_exec(move || {
                    libc::signal(libc::SIGPIPE, libc::SIG_IGN);
                    libc::signal(libc::SIGUSR1, libc::SIG_IGN);
                    let mut set: libc::sigset_t = std::mem::zeroed();
                    libc::sigemptyset(&mut set);
                    libc::sigaddset(&mut set, libc::SIGUSR2);
                    libc::sigaddset(&mut set, libc::SIGTERM);
                    libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
                    let (a, b) = (
                        libc::fcntl(r, libc::F_DUPFD, 100),
                        libc::fcntl(w, libc::F_DUPFD, 100),
                    );
                    if a < 0 || b < 0 || libc::dup2(a, 3) < 0 || libc::dup2(b, 5) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            cmd
        };
        let bundle = b.path();
        let pid_file = b.dir.join("pid").display().to_string();
        o.ids.borrow_mut().push("h".into());
        let cmd = o.cmd(&["create", "--bundle", &bundle, "--pid-file", &pid_file, "h"]);
        let res = run_to_files(f, caller(cmd));
        assert_eq!(res.code(), 0, "{res:?}");
        let pid = read_pid_file(&b.dir.join("pid"));
        o.ok(&["start", "h"]);
        let exec_pid_file = b.dir.join("exec.pid").display().to_string();
        let proc_path = proc_file.display().to_string();
        let cmd = o.cmd(&[
            "exec",
            "--pid-file",
            &exec_pid_file,
            "--process",
            &proc_path,
            "--detach",
            "h",
        ]);
        let res = run_to_files(f, caller(cmd));
        assert_eq!(res.code(), 0, "{res:?}");
        let epid = read_pid_file(&b.dir.join("exec.pid"));
        for (name, what) in [
            ("sig", "the container's process"),
            ("exec-sig", "an exec'd process"),
        ] {
            b.wait_shared_line(name, "end");
            let text = b.shared_file(name);
            assert_eq!(
                sig_bits(&text, "SigBlk:"),
                0,
                "{what}: signals blocked: {text}"
            );
            let ign = sig_bits(&text, "SigIgn:");
            for sig in [libc::SIGPIPE, libc::SIGUSR1] {
                assert_eq!(
                    ign & (1 << (sig - 1)),
                    0,
                    "{what}: signal {sig} ignored: {text}"
                );
            }
            assert!(
                !text.contains("fd-"),
                "{what}: descriptors leaked in: {text}"
            );
        }
        reap(epid);
        o.ok(&["delete", "--force", "h"]);
        reap(pid);
    });
}

// ---------------------------------------------------------------------
// 9. Hooks.

const HOOKS: [&str; 5] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "poststart",
    "poststop",
];

/// A hook (host /bin/sh) that appends its stdin and a newline to
/// OUT/KIND.json and its environment to OUT/KIND.env.
fn recording_hook(out: &Path, kind: &str) -> Value {
    let json = out.join(format!("{kind}.json")).display().to_string();
    let env = out.join(format!("{kind}.env")).display().to_string();
    json!({
        "path": "/bin/sh",
        "args": ["sh", "-c", format!("cat >> '{json}'; echo >> '{json}'; env > '{env}'")],
        "env": ["PATH=/usr/bin:/bin", format!("HOOKVAR={kind}")],
        "timeout": 20
    })
}

/// What the hook KIND recorded: the one state it got on stdin (None if it
/// never ran; panics if it ran more than once).
fn hook_state(out: &Path, kind: &str) -> Option<Value> {
    let text = fs::read_to_string(out.join(format!("{kind}.json"))).ok()?;
    let l = lines(&text);
    assert_eq!(
        l.len(),
        1,
        "the {kind} hook ran {} times: {text:?}",
        l.len()
    );
    Some(serde_json::from_str(l[0]).unwrap_or_else(|e| panic!("{kind}: {e}: {text:?}")))
}

#[test]
fn hooks_run_once_each_with_the_state_on_stdin() {
    each(|f, who| {
        let o = Oci::new(f, who, "hooks");
        let out = f.dir(who, "oci-hooks-out");
        let mut b = o.bundle("h", WAITS);
        let mut hooks = json!({});
        for kind in HOOKS {
            hooks[kind] = json!([recording_hook(&out, kind)]);
        }
        b.config["hooks"] = hooks;
        b.write();
        let pid = o.create(&b, "h", &[]);
        for kind in &HOOKS[..3] {
            let st = hook_state(&out, kind).unwrap_or_else(|| panic!("{kind} did not run"));
            assert_eq!(st["id"], "h", "{kind}: {st}");
            assert_eq!(st["status"], "creating", "{kind}: {st}");
            assert_eq!(st["pid"], pid, "{kind}: {st}");
            assert_eq!(st["bundle"], b.path(), "{kind}: {st}");
            let env = fs::read_to_string(out.join(format!("{kind}.env"))).unwrap();
            assert!(
                env.lines().any(|l| l == format!("HOOKVAR={kind}")),
                "{kind}: {env}"
            );
            assert!(
                !env.lines().any(|l| l.starts_with("HOME=")),
                "{kind}: inherited the runtime's environment: {env}"
            );
        }
        assert_eq!(
            hook_state(&out, "poststart"),
            None,
            "poststart ran at create"
        );
        o.ok(&["start", "h"]);
        b.wait_shared_line("out", "started");
        let st = hook_state(&out, "poststart").expect("poststart did not run");
        assert_eq!(st["id"], "h", "{st}");
        assert!(
            st["status"] == "running" || st["status"] == "created",
            "poststart: {st}"
        );
        assert_eq!(st["pid"], pid, "poststart: {st}");
        assert_eq!(
            hook_state(&out, "poststop"),
            None,
            "poststop ran before delete"
        );
        o.ok(&["kill", "h", "KILL"]);
        o.wait_status("h", "stopped");
        reap(pid);
        o.ok(&["delete", "h"]);
        let st = hook_state(&out, "poststop").expect("poststop did not run");
        assert_eq!(st["id"], "h", "{st}");
        assert_eq!(st["status"], "stopped", "poststop: {st}");
        // Each ran exactly once (hook_state checks), none again at delete.
        for kind in HOOKS {
            hook_state(&out, kind);
        }
        assert!(o.leftovers().is_empty(), "{:?}", o.leftovers());
    });
}

#[test]
fn a_failing_prestart_hook_fails_create_and_leaves_nothing() {
    each(|f, who| {
        let o = Oci::new(f, who, "badhook");
        let out = f.dir(who, "oci-badhook-out");
        let mut b = o.bundle("x", WAITS);
        b.config["hooks"] = json!({
            "prestart": [{
                "path": "/bin/sh",
                "args": ["sh", "-c", "echo the-hook-said-no >&2; exit 3"]
            }],
            "createRuntime": [recording_hook(&out, "createRuntime")],
            "poststop": [recording_hook(&out, "poststop")]
        });
        b.write();
        assert_create_refused(&o, &b, "x", &[], "prestart");
        assert!(
            o.run(&["state", "x"]).stderr.contains("does not exist"),
            "a state for x"
        );
        assert_eq!(hook_state(&out, "createRuntime"), None, "a later hook ran");
        assert_eq!(hook_state(&out, "poststop"), None, "poststop ran");

        // createContainer, run in the container's namespaces.
        let mut b = o.bundle("cc", WAITS);
        b.config["hooks"] = json!({
            "createContainer": [{
                "path": "/bin/sh",
                "args": ["sh", "-c", "echo inside-no >&2; exit 5"]
            }]
        });
        b.write();
        assert_create_refused(&o, &b, "cc", &[], "createContainer");

        // A hook past its timeout is killed, and create fails the same.
        let mut b = o.bundle("slow", WAITS);
        let nap = format!("{}", 123_457 + who.uid());
        b.config["hooks"] = json!({
            "createRuntime": [{
                "path": "/bin/sh",
                "args": ["sh", "-c", format!("exec sleep {nap}")],
                "env": ["PATH=/usr/bin:/bin"],
                "timeout": 1
            }]
        });
        b.write();
        assert_create_refused(&o, &b, "slow", &[], "createRuntime");
        let left = processes_mentioning(&format!("sleep\0{nap}"));
        assert!(left.is_empty(), "the timed-out hook still runs: {left:?}");
    });
}

#[test]
fn start_container_hooks_run_in_the_container_before_the_process() {
    each(|f, who| {
        let o = Oci::new(f, who, "starthook");
        let mut b = o.bundle(
            "s",
            "[ -e /shared/startContainer.json ] && echo hook-first > /shared/order; \
             echo started > /shared/out; sleep 1000 & wait",
        );
        // The path is the container's (busybox's sh), as runc resolves it.
        b.config["hooks"] = json!({
            "startContainer": [{
                "path": "/bin/sh",
                "args": ["sh", "-c", "cat >> /shared/startContainer.json"]
            }]
        });
        b.write();
        let pid = o.create(&b, "s", &[]);
        assert_eq!(b.shared_file("startContainer.json"), "", "ran at create");
        o.ok(&["start", "s"]);
        b.wait_shared_line("out", "started");
        assert_eq!(
            b.shared_file("order"),
            "hook-first\n",
            "the hook ran after the process"
        );
        let text = b.shared_file("startContainer.json");
        let st: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("not one JSON state ({e}): {text:?}"));
        assert_eq!(st["id"], "s", "{st}");
        assert_eq!(st["status"], "created", "as runc gives it: {st}");
        assert!(st["pid"].as_i64().is_some_and(|p| p > 0), "{st}");
        o.ok(&["delete", "--force", "s"]);
        reap(pid);

        // A failing one: the process never runs (start itself succeeds,
        // as runc's does), the container stops.
        let mut b = o.bundle("f", WAITS);
        b.config["hooks"] = json!({
            "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 4"]}]
        });
        b.write();
        let pid = o.create(&b, "f", &[]);
        let r = o.run(&["start", "f"]);
        assert_eq!(r.code(), 0, "{r:?}");
        o.wait_status("f", "stopped");
        assert_ne!(exit_code(reap(pid)), 0, "a failed start hook, yet exit 0");
        assert_eq!(
            b.shared_file("out"),
            "",
            "the process ran after a failed hook"
        );
        o.ok(&["delete", "f"]);
        assert!(o.leftovers().is_empty(), "{:?}", o.leftovers());
    });
}

// ---------------------------------------------------------------------
// Namespaces: joined by path (a pod's containers, rootless podman's
// network), or the host's PID namespace.

#[test]
fn a_container_joins_another_ones_namespaces_by_path() {
    each(|f, who| {
        let o = Oci::new(f, who, "join");
        let a = o.bundle("a", WAITS);
        let apid = o.create(&a, "a", &[]);
        let mut b = o.bundle("b", WAITS);
        let mut kinds = vec![("network", "net"), ("ipc", "ipc")];
        if !who.is_root() {
            // Another user namespace may not join these: join it too.
            kinds.push(("user", "user"));
            let linux = b.config["linux"].as_object_mut().unwrap();
            linux.remove("uidMappings");
            linux.remove("gidMappings");
        }
        let mut namespaces = vec![
            json!({"type": "pid"}),
            json!({"type": "uts"}),
            json!({"type": "mount"}),
        ];
        for (kind, file) in &kinds {
            namespaces.push(json!({"type": kind, "path": format!("/proc/{apid}/ns/{file}")}));
        }
        b.config["linux"]["namespaces"] = json!(namespaces);
        b.write();
        let bpid = o.create(&b, "b", &[]);
        let ns = |pid: i32, file: &str| fs::read_link(format!("/proc/{pid}/ns/{file}")).unwrap();
        for (_, file) in &kinds {
            assert_eq!(ns(apid, file), ns(bpid, file), "{file} not joined");
        }
        for file in ["pid", "uts", "mnt"] {
            assert_ne!(ns(apid, file), ns(bpid, file), "{file} shared");
        }
        o.ok(&["start", "b"]);
        b.wait_shared_line("out", "started");
        o.ok(&["delete", "--force", "b"]);
        o.ok(&["delete", "--force", "a"]);
        reap(bpid);
        reap(apid);
    });
}

#[test]
fn a_container_without_a_pid_namespace_runs_and_kill_all_stops_it() {
    // podman --pid=host, Kubernetes hostPID: no "pid" in
    // linux.namespaces. runc runs it; `kill --all` (what podman and
    // containerd send then) signals every process of it.
    each(|f, who| {
        let o = Oci::new(f, who, "hostpid");
        let mut b = o.bundle(
            "h",
            "echo started > /shared/out; echo $$ > /shared/pid; sleep 1000 & wait",
        );
        let namespaces: Vec<Value> = b.config["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["type"] != "pid")
            .cloned()
            .collect();
        b.config["linux"]["namespaces"] = json!(namespaces);
        b.write();
        let bundle = b.path();
        let pid_file = b.dir.join("pid").display().to_string();
        let r = o.run(&["create", "--bundle", &bundle, "--pid-file", &pid_file, "h"]);
        assert_eq!(r.code(), 0, "a config without a PID namespace: {r:?}");
        let pid = read_pid_file(&b.dir.join("pid"));
        assert_eq!(
            pid_ns_of(pid),
            pid_ns_of(my_pid()),
            "not the host's PID namespace"
        );
        o.ok(&["start", "h"]);
        b.wait_shared_line("out", "started");
        assert_eq!(
            b.shared_file("pid").trim(),
            pid.to_string(),
            "its pid is the host's"
        );
        o.ok(&["kill", "--all", "h", "KILL"]);
        o.wait_status("h", "stopped");
        reap(pid);
        o.ok(&["delete", "h"]);
        assert!(processes_mentioning(&b.marker).is_empty());
        assert!(o.leftovers().is_empty(), "{:?}", o.leftovers());
    });
}

// ---------------------------------------------------------------------
// 10. SIGKILL of `run` leaves nothing.

#[test]
fn sigkill_of_run_leaves_no_process_and_delete_cleans_up() {
    each(|f, who| {
        let o = Oci::new(f, who, "kill9");
        let b = o.bundle("k", "sleep 1000 & echo ready; wait");
        o.ids.borrow_mut().push("k".into());
        let mut c = Running::start(o.cmd(&["run", "--bundle", &b.path(), "k"]));
        c.wait_line("ready");
        sigkill_leaves_nothing(c, 2, &format!("run as {}", who.label()));
        assert!(processes_mentioning(&b.marker).is_empty());
        // What the killed run left is a stopped container, which delete
        // removes.
        if o.leftovers().contains(&"k".to_string()) {
            assert_eq!(o.status("k"), "stopped");
            o.ok(&["delete", "k"]);
        }
        assert!(o.leftovers().is_empty(), "{:?}", o.leftovers());
    });
}
