//! Container engines drive a runc-compatible runtime: podman (as root and,
//! rootless, as the test user) and containerd (as root, `ctr run
//! --runc-binary`) run one matrix of containers once per runtime, with the
//! busybox image `scripts/engine-setup.sh` imports.
//!
//! - The runtimes: `NSLAUNCH_ENGINE_RUNTIMES`, a comma-separated list of
//!   `runc`, `nslaunch` (the built one), `crun`, or `NAME=PATH`; by default
//!   `runc,nslaunch`. runc is the baseline: its rows run first.
//! - Where this machine refuses a row to runc for a reason a row names (its
//!   `limits`), the row is the baseline's limit, not a pass, and every other
//!   runtime must pass it or fail it the same way (`limit` in the table, with
//!   a note on stderr). Any other runc failure fails the test.
//! - `NSLAUNCH_ENGINE_ROWS` (comma-separated row names or prefixes, such as
//!   `exec,ctr-`) runs some rows only; `NSLAUNCH_ENGINE_JOBS` (default 3) is
//!   how many rows run at once.
//! - podman reads the tests' own containers.conf (tests/engines/containers.conf,
//!   through CONTAINERS_CONF); containerd is a private instance (its own
//!   socket, root and state under the scratch directory) started and stopped
//!   here. Every container is named `nsle<pid>-<runtime>-<uid>-<row>...` and
//!   removed whatever happens; at the end nothing may be left: no container,
//!   no conmon or shim, no mount.
//! - The table (row, runtime, who, result) is printed on stderr at the end.

use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use nslaunch_tests::pty::Pty;
use nslaunch_tests::*;

/// The image scripts/engine-setup.sh builds from scripts/mkrootfs.sh.
const IMAGE: &str = "localhost/nslaunch-test-busybox:latest";
/// The containers.conf podman reads here (and only it).
const CONTAINERS_CONF: &str = include_str!("../engines/containers.conf");
const SETUP: &str = "run scripts/engine-setup.sh as root";

/// A runc-compatible runtime binary.
#[derive(Debug, Clone)]
struct Runtime {
    /// Short name, for container names and the table.
    name: String,
    path: PathBuf,
}

/// The first of `candidates` that is a file, else `name` on PATH.
fn find_program(name: &str, candidates: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    candidates
        .iter()
        .map(PathBuf::from)
        .chain(std::env::split_paths(&path).map(|d| d.join(name)))
        .find(|p| p.is_file())
}

/// One entry of NSLAUNCH_ENGINE_RUNTIMES.
fn parse_runtime(entry: &str, nslaunch: &Path) -> Result<Runtime, String> {
    let (name, path) = match entry.split_once('=') {
        Some((n, p)) => (n.to_string(), PathBuf::from(p)),
        None => {
            let path = match entry {
                "nslaunch" => Some(nslaunch.to_path_buf()),
                "runc" => find_program("runc", &["/usr/sbin/runc", "/usr/bin/runc"]),
                "crun" => find_program("crun", &["/usr/bin/crun"]),
                _ if entry.starts_with('/') => Some(PathBuf::from(entry)),
                _ => {
                    return Err(format!(
                        "{entry:?}: not runc, nslaunch, crun, NAME=PATH or a path"
                    ))
                }
            };
            let name = Path::new(entry)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (
                name,
                path.ok_or(format!("{entry}: not installed ({SETUP})"))?,
            )
        }
    };
    let clean = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if name.is_empty() || !clean {
        return Err(format!(
            "{entry:?}: a runtime's name is letters, digits, - and _"
        ));
    }
    if !path.is_file() {
        return Err(format!("{entry:?}: {} does not exist", path.display()));
    }
    Ok(Runtime { name, path })
}

/// The runtimes to try, runc (the baseline) first.
fn runtimes(nslaunch: &Path) -> Vec<Runtime> {
    let spec = std::env::var("NSLAUNCH_ENGINE_RUNTIMES").unwrap_or_else(|_| "runc,nslaunch".into());
    let mut out: Vec<Runtime> = spec
        .split([',', ' '])
        .filter(|e| !e.is_empty())
        .map(|e| {
            parse_runtime(e, nslaunch).unwrap_or_else(|e| panic!("NSLAUNCH_ENGINE_RUNTIMES: {e}"))
        })
        .collect();
    out.sort_by_key(|r| r.name != "runc");
    assert!(!out.is_empty(), "NSLAUNCH_ENGINE_RUNTIMES names no runtime");
    for (i, r) in out.iter().enumerate() {
        let again = out[i + 1..].iter().any(|o| o.name == r.name);
        assert!(!again, "NSLAUNCH_ENGINE_RUNTIMES names {} twice", r.name);
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    Podman,
    Containerd,
}

/// One row of the matrix.
struct Row {
    name: &'static str,
    engine: Engine,
    /// What this machine may refuse to every runtime: (text of the failure,
    /// why). A baseline failure containing the text is the machine's limit.
    limits: &'static [(&'static str, &'static str)],
    test: fn(&Ctx),
}

/// How one row went for one runtime and one identity.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Pass,
    /// Refused for a reason of this machine's (see `Row::limits`).
    Limit(String),
    Fail(String),
}

/// Everything the rows share.
struct Env {
    f: &'static Fixture,
    /// scratch/engines: the config, volumes, cid files, containerd.
    dir: PathBuf,
    conf: PathBuf,
    /// Prefix of every container name here.
    tag: String,
    ctd: Option<Containerd>,
}

/// One row being run: for this runtime, as this identity.
struct Ctx<'a> {
    env: &'a Env,
    rt: &'a Runtime,
    who: &'a Who,
    row: &'static Row,
    /// Names handed out (podman containers or ctr ids), removed afterwards.
    names: Mutex<Vec<String>>,
}

impl Ctx<'_> {
    /// A new container name, unique to this row, runtime and identity (and
    /// numbered after the row's first one).
    fn name(&self) -> String {
        let mut names = self.names.lock().unwrap();
        let mut n = format!(
            "{}-{}-{}-{}",
            self.env.tag,
            self.rt.name,
            self.who.uid(),
            self.row.name
        );
        if !names.is_empty() {
            n = format!("{n}-{}", names.len() + 1);
        }
        names.push(n.clone());
        n
    }

    /// `podman --runtime RT ARGS...` as `who`, with the tests' config.
    fn podman(&self, args: &[&str]) -> Command {
        podman_as(self.env, self.who, Some(self.rt), args)
    }

    fn pm(&self, args: &[&str]) -> Run {
        run(self.podman(args), None)
    }

    /// `run --name NAME --cidfile F [--network none] FLAGS IMAGE CMD...`:
    /// `--network none` unless FLAGS choose a network.
    fn run_args(&self, name: &str, flags: &[&str], cmd: &[&str]) -> Vec<String> {
        let cid = self.env.dir.join("cid").join(name);
        let mut v: Vec<String> = vec!["run".into(), "--name".into(), name.into()];
        v.extend(["--cidfile".into(), cid.display().to_string()]);
        if !flags.iter().any(|f| f.starts_with("--network")) {
            v.extend(["--network".into(), "none".into()]);
        }
        v.extend(flags.iter().map(|s| s.to_string()));
        v.push(IMAGE.into());
        v.extend(cmd.iter().map(|s| s.to_string()));
        v
    }

    /// `podman run --rm FLAGS IMAGE CMD...` to completion.
    fn podman_run(&self, flags: &[&str], cmd: &[&str], stdin: Option<&[u8]>) -> Run {
        let name = self.name();
        let mut all = vec!["--rm"];
        all.extend_from_slice(flags);
        let args = self.run_args(&name, &all, cmd);
        run(self.podman(&strs(&args)), stdin)
    }

    /// The same as a command (for a terminal or a background run).
    fn podman_run_cmd(&self, name: &str, flags: &[&str], cmd: &[&str]) -> Command {
        self.podman(&strs(&self.run_args(name, flags, cmd)))
    }

    /// `podman run -d`: a running container's name.
    fn detached(&self, flags: &[&str], cmd: &[&str]) -> String {
        let name = self.name();
        let mut all = vec!["-d"];
        all.extend_from_slice(flags);
        let r = run(self.podman_run_cmd(&name, &all, cmd), None);
        assert_eq!(r.code(), 0, "podman run -d: {r:?}");
        name
    }

    /// The host pid of the container's process (podman inspect).
    fn pid(&self, name: &str) -> i32 {
        let r = self.pm(&["inspect", "--format", "{{.State.Pid}}", name]);
        let pid = r.stdout.trim().parse().unwrap_or(0);
        assert!(pid > 0, "no pid for {name}: {r:?}");
        pid
    }

    /// The exit status of a container that has stopped (podman wait).
    fn exit_code(&self, name: &str) -> i32 {
        let r = self.pm(&["wait", name]);
        assert_eq!(r.code(), 0, "podman wait: {r:?}");
        r.stdout
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("podman wait printed no status: {r:?}"))
    }

    /// Wait until `podman logs NAME` shows `text`.
    fn wait_log(&self, name: &str, text: &str) {
        wait_until(&format!("{text:?} in podman logs {name}"), || {
            self.pm(&["logs", name]).stdout.contains(text)
        });
    }

    /// `ctr --address SOCK --namespace NS ARGS...` (as root).
    fn ctr(&self, args: &[&str]) -> Command {
        self.env
            .ctd
            .as_ref()
            .expect("containerd is running")
            .ctr(args)
    }

    /// `ctr run --runc-binary RT ... FLAGS IMAGE ID CMD...`, with this
    /// runtime's own state directory and the fifos under the scratch dir.
    fn ctr_run(&self, id: &str, flags: &[&str], cmd: &[&str]) -> Command {
        let ctd = self.env.ctd.as_ref().expect("containerd is running");
        let root = ctd.dir.join(format!("runtime-root-{}", self.rt.name));
        let mut args: Vec<String> = vec!["run".into(), "--runc-binary".into()];
        args.push(self.rt.path.display().to_string());
        args.extend(["--runc-root".into(), root.display().to_string()]);
        args.extend([
            "--fifo-dir".into(),
            ctd.dir.join("fifo").display().to_string(),
        ]);
        args.extend(flags.iter().map(|s| s.to_string()));
        args.extend([IMAGE.to_string(), id.to_string()]);
        args.extend(cmd.iter().map(|s| s.to_string()));
        self.ctr(&strs(&args))
    }

    /// Remove every container this row named, running or not.
    fn clean_up(&self) {
        let names = std::mem::take(&mut *self.names.lock().unwrap());
        if names.is_empty() {
            return;
        }
        match self.row.engine {
            Engine::Containerd => {
                for id in &names {
                    let _ = run(self.ctr(&["task", "rm", "-f", id]), None);
                    let _ = run(self.ctr(&["container", "rm", id]), None);
                }
            }
            Engine::Podman => {
                let mut args = vec!["rm", "-f", "-i", "-t", "0"];
                args.extend(names.iter().map(String::as_str));
                let _ = run(self.podman(&args), None);
            }
        }
    }
}

/// `podman [--runtime RT] ARGS...` as `who`, with the tests' containers.conf.
fn podman_as(env: &Env, who: &Who, rt: Option<&Runtime>, args: &[&str]) -> Command {
    podman_cmd(&env.conf, who, rt.map(|r| r.path.as_path()), args)
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

// ---------------------------------------------------------------- rows

static ROWS: &[Row] = &[
    // First: the longest row (nsinit's 9 s grace), so that it runs
    // alongside the others rather than after them.
    podman_row("init-stop", row_init_stop),
    podman_row("true", |c| {
        let r = c.podman_run(&[], &["true"], None);
        assert_eq!(r.code(), 0, "{r:?}");
    }),
    podman_row("exit-3", |c| {
        let r = c.podman_run(&[], &["sh", "-c", "exit 3"], None);
        assert_eq!(r.code(), 3, "{r:?}");
    }),
    podman_row("killed-137", row_killed),
    podman_row("missing-127", |c| {
        let r = c.podman_run(&[], &["/nonexistent"], None);
        assert_eq!(r.code(), 127, "{r:?}");
        assert!(r.stderr.contains("/nonexistent"), "the error names the command: {r:?}");
    }),
    podman_row("notexec-126", |c| {
        // podman gives 126 for any runtime failure it cannot place, and for
        // "permission denied": the error must say that, and name the file.
        let r = c.podman_run(&[], &["/etc/passwd"], None);
        assert_eq!(r.code(), 126, "{r:?}");
        let err = r.stderr.to_lowercase();
        assert!(err.contains("/etc/passwd") && err.contains("permission denied"), "{r:?}");
    }),
    podman_row("pipes", row_pipes),
    podman_row("tty", row_tty),
    podman_row("stop-term", row_stop_term),
    podman_row("stop-timeout-kill", row_stop_timeout),
    podman_row("kill-signal", row_kill_signal),
    podman_row("rm-force", row_rm_force),
    podman_row("exec", row_exec),
    podman_row("exec-missing-127", |c| {
        let n = c.detached(&[], &["sleep", "1000"]);
        let r = c.pm(&["exec", &n, "/nonexistent"]);
        assert_eq!(r.code(), 127, "{r:?}");
    }),
    podman_row("exec-tty", row_exec_tty),
    podman_row("top-ps", row_top_ps),
    podman_row("volumes", row_volumes),
    podman_row("user", |c| {
        let r = c.podman_run(&["--user", "65534:65534"], &["sh", "-c", "id -u; id -g"], None);
        assert_eq!((r.code(), r.stdout.as_str()), (0, "65534\n65534\n"), "{r:?}");
    }),
    podman_row("workdir", |c| {
        let r = c.podman_run(&["--workdir", "/tmp"], &["pwd"], None);
        assert_eq!((r.code(), r.stdout.as_str()), (0, "/tmp\n"), "{r:?}");
    }),
    podman_row("env", |c| {
        let flags = ["--env", "FOO=bar", "--env", "BAZ=two words"];
        let r = c.podman_run(&flags, &["sh", "-c", "echo \"$FOO|$BAZ\""], None);
        assert_eq!((r.code(), r.stdout.as_str()), (0, "bar|two words\n"), "{r:?}");
    }),
    podman_row("read-only", |c| {
        let script = "touch /x 2>&1; touch /tmp/y && echo tmp-writable";
        let r = c.podman_run(&["--read-only"], &["sh", "-c", script], None);
        assert_eq!(r.code(), 0, "{r:?}");
        assert!(r.stdout.contains("Read-only file system"), "/ is writable: {r:?}");
        assert!(r.stdout.contains("tmp-writable"), "/tmp is not writable: {r:?}");
    }),
    podman_row("tmpfs", |c| {
        let script = "grep ' /scratch ' /proc/mounts; echo x > /scratch/f && cat /scratch/f";
        let r = c.podman_run(&["--tmpfs", "/scratch:size=1m"], &["sh", "-c", script], None);
        assert_eq!(r.code(), 0, "{r:?}");
        let l = lines(&r.stdout);
        assert!(l.first().is_some_and(|m| m.starts_with("tmpfs /scratch tmpfs ") && m.contains("size=1024k")), "{r:?}");
        assert_eq!(l.get(1), Some(&"x"), "{r:?}");
    }),
    podman_row("caps-default", |c| {
        // podman's default set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL
        // NET_BIND_SERVICE SETFCAP SETGID SETPCAP SETUID SYS_CHROOT.
        assert_eq!(caps(c, &[]), ("00000000800405fb".into(), "00000000800405fb".into()));
    }),
    podman_row("cap-drop-add", |c| {
        let only = caps(c, &["--cap-drop", "all", "--cap-add", "NET_ADMIN"]);
        assert_eq!(only, ("0000000000001000".into(), "0000000000001000".into()));
        let less = caps(c, &["--cap-drop", "CHOWN"]);
        assert_eq!(less, ("00000000800405fa".into(), "00000000800405fa".into()));
    }),
    podman_row("hostname", |c| {
        let r = c.podman_run(&["--hostname", "box1"], &["sh", "-c", "hostname; echo $(cat /etc/hostname)"], None);
        assert_eq!((r.code(), r.stdout.as_str()), (0, "box1\nbox1\n"), "{r:?}");
    }),
    podman_row("network-none", |c| {
        // Only lo; and the config's sysctl (containers.conf's
        // default_sysctls) is set in the container's own network namespace.
        let script = "cat /proc/net/dev; echo ping=$(cat /proc/sys/net/ipv4/ping_group_range)";
        let r = c.podman_run(&["--network", "none"], &["sh", "-c", script], None);
        assert_eq!(r.code(), 0, "{r:?}");
        assert_eq!(interfaces(&r.stdout), ["lo"], "{r:?}");
        assert!(r.stdout.contains("\nping=0 0\n"), "sysctl not set: {r:?}");
    }),
    Row {
        name: "network-default",
        engine: Engine::Podman,
        limits: &[(
            "/dev/net/tun",
            "/dev/net/tun is not open to the user: rootless podman's slirp4netns needs it (.ci/run opens it)",
        )],
        test: |c| {
            let r = c.podman_run(&["--network=default"], &["cat", "/proc/net/dev"], None);
            assert_eq!(r.code(), 0, "{r:?}");
            let ifs = interfaces(&r.stdout);
            assert!(ifs.contains(&"lo".to_string()) && ifs.len() >= 2, "no network: {r:?}");
        },
    },
    podman_row("init-reap", row_init_reap),
    podman_row("init-signals", row_init_signals),
    podman_row("init-status", row_init_status),
    ctr_row("ctr-true", |c| {
        let r = run(c.ctr_run(&c.name(), &["--rm"], &["true"]), None);
        assert_eq!(r.code(), 0, "{r:?}");
    }),
    ctr_row("ctr-exit-3", |c| {
        let r = run(c.ctr_run(&c.name(), &["--rm"], &["sh", "-c", "exit 3"]), None);
        assert_eq!(r.code(), 3, "{r:?}");
    }),
    ctr_row("ctr-missing", |c| {
        let id = c.name();
        let r = run(c.ctr_run(&id, &["--rm"], &["/nonexistent"]), None);
        assert_ne!(r.code(), 0, "{r:?}");
        assert!(r.stderr.contains("/nonexistent"), "the error names the command: {r:?}");
        let ls = run(c.ctr(&["container", "ls", "-q"]), None);
        assert!(!lines(&ls.stdout).contains(&id.as_str()), "{id} left: {ls:?}");
    }),
    ctr_row("ctr-stdio", |c| {
        let script = "echo out; echo err >&2; read l; echo \"in:$l\"; exit 4";
        let r = run(c.ctr_run(&c.name(), &["--rm"], &["sh", "-c", script]), Some(b"line\n"));
        assert_eq!((r.code(), r.stdout.as_str(), r.stderr.as_str()), (4, "out\nin:line\n", "err\n"), "{r:?}");
    }),
    ctr_row("ctr-tty", |c| {
        let cmd = c.ctr_run(&c.name(), &["--rm", "-t"], &["sh", "-c", "tty; exit 6"]);
        let mut p = Pty::spawn(cmd);
        expect_or_exit(&mut p, 0, "/dev/pts/0");
        let st = wait_timeout(&mut p.child, TIMEOUT).expect("ctr run -t did not finish");
        assert_eq!(st.code(), Some(6), "{}", p.screen);
    }),
    ctr_row("ctr-exec-ps-kill", row_ctr_exec_ps_kill),
];

const fn podman_row(name: &'static str, test: fn(&Ctx)) -> Row {
    Row {
        name,
        engine: Engine::Podman,
        limits: &[],
        test,
    }
}

const fn ctr_row(name: &'static str, test: fn(&Ctx)) -> Row {
    Row {
        name,
        engine: Engine::Containerd,
        limits: &[],
        test,
    }
}

/// SIGKILLed from outside (pid 1 of a PID namespace takes no other signal
/// it has no handler for): `podman run` gives 128+9.
fn row_killed(c: &Ctx) {
    let name = c.name();
    let cmd = c.podman_run_cmd(
        &name,
        &["--rm"],
        &["sh", "-c", "echo ready; exec sleep 1000"],
    );
    let mut running = Running::start(cmd);
    running.wait_line("ready");
    let k = c.pm(&["kill", "--signal", "KILL", &name]);
    assert_eq!(k.code(), 0, "podman kill: {k:?}");
    let (st, out) = running.finish();
    assert_eq!(st.code(), Some(137), "podman run: {out:?}");
}

/// stdin, stdout and stderr through pipes, byte for byte, and the status.
fn row_pipes(c: &Ctx) {
    let input: String = (0..8000).map(|i| format!("line {i}\n")).collect();
    let script = "cat; echo to-stderr >&2; exit 5";
    let r = c.podman_run(&["-i"], &["sh", "-c", script], Some(input.as_bytes()));
    assert_eq!(r.code(), 5, "stderr: {:?}", r.stderr);
    assert!(
        r.stdout == input,
        "stdout is not stdin: {} bytes of {}, starting {:?}",
        r.stdout.len(),
        input.len(),
        &r.stdout[..r.stdout.len().min(200)]
    );
    assert_eq!(
        r.stderr, "to-stderr\n",
        "only the container's stderr on stderr"
    );
}

/// `-t` on a terminal: the container has a pty of its own (the console
/// socket), the caller's size, and the status comes back.
fn row_tty(c: &Ctx) {
    let name = c.name();
    // conmon passes the caller's size on a moment after the start (0 0
    // until then, and busybox's stty then prints nothing, with status 0):
    // wait for it, 10 s at most.
    let script = r#"tty
        i=0
        s=$(stty size 2>/dev/null)
        while [ -z "$s" ] || [ "$s" = "0 0" ]; do
            [ $i -ge 200 ] && break
            i=$((i + 1)); sleep 0.05; s=$(stty size 2>/dev/null)
        done
        echo "size=$s"; exit 4"#;
    let cmd = c.podman_run_cmd(&name, &["--rm", "-t"], &["sh", "-c", script]);
    let mut p = Pty::spawn(cmd);
    let at = expect_or_exit(&mut p, 0, "/dev/pts/0");
    expect_or_exit(&mut p, at, "size=24 80");
    let st = wait_timeout(&mut p.child, TIMEOUT).expect("podman run -t did not finish");
    assert_eq!(st.code(), Some(4), "{}", p.screen);
}

/// Wait until the terminal shows `text` (after `from`), failing at once,
/// with the screen, when the command on it exits first.
fn expect_or_exit(p: &mut Pty, from: usize, text: &str) -> usize {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if p.saw_within(from, text, Duration::from_millis(100)) {
            return p.expect_from(from, text, TIMEOUT);
        }
        if let Ok(Some(st)) = p.child.try_wait() {
            p.saw_within(from, text, Duration::from_millis(200));
            panic!(
                "exited ({st}) before {text:?} appeared; the terminal showed:\n{}",
                p.screen
            );
        }
        assert!(
            Instant::now() < deadline,
            "never saw {text:?}:\n{}",
            p.screen
        );
    }
}

/// Whether /proc/PID/status says `pid` catches signal `sig`.
fn catches(pid: i32, sig: i32) -> bool {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (sig - 1)) != 0)
}

/// A container whose shell handles `sig` with `trap`, ready (the handler
/// installed, as /proc shows): its name and the shell's host pid.
fn trapping(c: &Ctx, sig: i32, trap: &str) -> (String, i32) {
    let script = format!("{trap}; sleep 1000 & wait");
    let name = c.detached(&[], &["sh", "-c", &script]);
    let pid = c.pid(&name);
    wait_until(&format!("{name} to catch signal {sig}"), || {
        catches(pid, sig)
    });
    (name, pid)
}

/// `podman stop`: SIGTERM, which the container honours with its status.
fn row_stop_term(c: &Ctx) {
    let (name, _) = trapping(c, libc::SIGTERM, "trap 'exit 7' TERM");
    let r = c.pm(&["stop", "--time", "20", &name]);
    assert_eq!(r.code(), 0, "podman stop: {r:?}");
    assert_eq!(c.exit_code(&name), 7);
}

/// `podman stop --time 1` of what ignores SIGTERM: SIGKILL after a second.
fn row_stop_timeout(c: &Ctx) {
    let name = c.detached(&[], &["sleep", "1000"]);
    let t = Instant::now();
    let r = c.pm(&["stop", "--time", "1", &name]);
    assert_eq!(r.code(), 0, "podman stop: {r:?}");
    assert!(
        t.elapsed() >= Duration::from_secs(1),
        "killed before --time"
    );
    assert_eq!(c.exit_code(&name), 137);
}

/// `podman kill --signal USR1`: delivered by name, handled.
fn row_kill_signal(c: &Ctx) {
    let (name, _) = trapping(c, libc::SIGUSR1, "trap 'exit 12' USR1");
    let r = c.pm(&["kill", "--signal", "USR1", &name]);
    assert_eq!(r.code(), 0, "podman kill: {r:?}");
    assert_eq!(c.exit_code(&name), 12);
}

/// `podman rm -f` of a running container: gone, and its process too.
fn row_rm_force(c: &Ctx) {
    let (name, pid) = trapping(c, libc::SIGTERM, "trap 'exit 0' TERM");
    let r = c.pm(&["rm", "-f", &name]);
    assert_eq!(r.code(), 0, "podman rm -f: {r:?}");
    let e = c.pm(&["container", "exists", &name]);
    assert_eq!(e.code(), 1, "{name} still exists: {e:?}");
    wait_until(&format!("{name}'s process {pid} to go"), || {
        process_state(pid).map_or(true, |s| s == 'Z' || s == 'X')
    });
}

/// `podman exec`: status, stdout and stderr, stdin, env, workdir, user.
fn row_exec(c: &Ctx) {
    let name = c.detached(&[], &["sleep", "1000"]);
    let r = c.pm(&[
        "exec",
        &name,
        "sh",
        "-c",
        "echo in-exec; echo err >&2; exit 5",
    ]);
    assert_eq!(
        (r.code(), r.stdout.as_str(), r.stderr.as_str()),
        (5, "in-exec\n", "err\n"),
        "{r:?}"
    );
    let script = "echo $FOO $(pwd) $(id -u)";
    let r = c.pm(&[
        "exec", "-e", "FOO=bar", "-w", "/tmp", "-u", "65534", &name, "sh", "-c", script,
    ]);
    assert_eq!(
        (r.code(), r.stdout.as_str()),
        (0, "bar /tmp 65534\n"),
        "{r:?}"
    );
    let r = run(c.podman(&["exec", "-i", &name, "cat"]), Some(b"piped\n"));
    assert_eq!((r.code(), r.stdout.as_str()), (0, "piped\n"), "{r:?}");
}

/// `podman exec -t`: a terminal for the exec'd process too.
fn row_exec_tty(c: &Ctx) {
    let name = c.detached(&[], &["sleep", "1000"]);
    let mut p = Pty::spawn(c.podman(&["exec", "-t", &name, "sh", "-c", "tty; exit 3"]));
    expect_or_exit(&mut p, 0, "/dev/pts/");
    let st = wait_timeout(&mut p.child, TIMEOUT).expect("podman exec -t did not finish");
    assert_eq!(st.code(), Some(3), "{}", p.screen);
}

/// `podman top` (which reads the container's processes through its pid)
/// and `podman ps`.
fn row_top_ps(c: &Ctx) {
    let name = c.detached(&[], &["sleep", "1000"]);
    let r = c.pm(&["top", &name]);
    assert_eq!(r.code(), 0, "podman top: {r:?}");
    assert!(
        r.stdout
            .lines()
            .any(|l| l.trim_end().ends_with("sleep 1000")),
        "{r:?}"
    );
    let filter = format!("name=^{name}$");
    let r = c.pm(&["ps", "--filter", &filter, "--format", "{{.Status}}"]);
    assert!(r.stdout.starts_with("Up"), "podman ps: {r:?}");
}

/// `-v` read-only and read-write: reads, a refused write, a write the host
/// sees as its own user's.
fn row_volumes(c: &Ctx) {
    let f = c.env.f;
    let ro = f.dir(c.who, &format!("engines-ro-{}-{}", c.rt.name, c.row.name));
    let rw = f.dir(c.who, &format!("engines-rw-{}-{}", c.rt.name, c.row.name));
    write_as(c.who, &ro.join("f"), "data\n");
    let vro = format!("{}:/ro:ro", ro.display());
    let vrw = format!("{}:/rw", rw.display());
    let script = "cat /ro/f; touch /ro/x 2>/dev/null && echo ro-writable; echo written > /rw/w";
    let r = c.podman_run(&["-v", &vro, "-v", &vrw], &["sh", "-c", script], None);
    assert_eq!((r.code(), r.stdout.as_str()), (0, "data\n"), "{r:?}");
    assert!(!ro.join("x").exists(), "wrote to a read-only volume");
    assert_eq!(
        fs::read_to_string(rw.join("w")).ok().as_deref(),
        Some("written\n")
    );
    assert_eq!(
        owner(&rw.join("w")).0,
        c.who.uid(),
        "the host owner of what root wrote"
    );
}

/// CapEff and CapBnd of a container run with FLAGS.
fn caps(c: &Ctx, flags: &[&str]) -> (String, String) {
    let r = c.podman_run(flags, &["cat", "/proc/self/status"], None);
    assert_eq!(r.code(), 0, "{r:?}");
    let field = |k: &str| {
        r.stdout
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {k} in {r:?}"))
    };
    (field("CapEff:"), field("CapBnd:"))
}

/// The interface names of /proc/net/dev.
fn interfaces(dev: &str) -> Vec<String> {
    dev.lines()
        .skip(2)
        .take_while(|l| !l.starts_with("ping="))
        .filter_map(|l| l.split_once(':'))
        .map(|(name, _)| name.trim().to_string())
        .collect()
}

/// `--init --init-path nsinit`: nsinit is PID 1 as podman calls it
/// (`/run/podman-init -- CMD`), and orphans are reaped.
fn row_init_reap(c: &Ctx) {
    let init = c.env.f.nsinit.display().to_string();
    let script = r#"
        echo "pid1=$(tr '\0' ' ' < /proc/1/cmdline)"
        p=$PPID me=$$
        orphans() { cat /proc/[0-9]*/stat 2>/dev/null | awk -v p=$p -v me=$me '$4 == p && $1 != me { print $1 }'; }
        for i in 1 2 3 4 5; do (sleep 1000 &); done
        pids=$(orphans)
        echo orphans=$(echo $pids | wc -w)
        kill $pids
        i=0
        while [ -n "$(orphans)" ] && [ $i -lt 400 ]; do i=$((i + 1)); sleep 0.05; done
        echo left=$(orphans | wc -l)
        echo zombies=$(cat /proc/[0-9]*/stat 2>/dev/null | awk -v p=$p '$3 == "Z" && $4 == p' | wc -l)
    "#;
    let r = c.podman_run(
        &["--init", "--init-path", &init],
        &["sh", "-c", script],
        None,
    );
    assert_eq!(r.code(), 0, "{r:?}");
    assert!(
        r.stdout.starts_with("pid1=/run/podman-init -- sh -c "),
        "PID 1: {r:?}"
    );
    assert_eq!(
        r.number("orphans="),
        5,
        "the orphans did not reach PID 1: {r:?}"
    );
    assert_eq!(r.number("left="), 0, "orphans not reaped: {r:?}");
    assert_eq!(r.number("zombies="), 0, "zombies left: {r:?}");
}

/// `--init --init-path nsinit`: `podman kill -s USR1` and `podman stop`
/// reach the command through nsinit, which exits with its status.
fn row_init_signals(c: &Ctx) {
    let init = c.env.f.nsinit.display().to_string();
    let script =
        "trap 'echo got-usr1' USR1; trap 'exit 9' TERM; while :; do sleep 1000 & wait; done";
    let name = c.detached(&["--init", "--init-path", &init], &["sh", "-c", script]);
    let pid1 = c.pid(&name);
    wait_until("the command under nsinit to catch USR1 and TERM", || {
        children_of(pid1)
            .iter()
            .any(|p| catches(*p, libc::SIGUSR1) && catches(*p, libc::SIGTERM))
    });
    let r = c.pm(&["kill", "--signal", "USR1", &name]);
    assert_eq!(r.code(), 0, "podman kill: {r:?}");
    c.wait_log(&name, "got-usr1");
    let r = c.pm(&["stop", "--time", "20", &name]);
    assert_eq!(r.code(), 0, "podman stop: {r:?}");
    assert_eq!(c.exit_code(&name), 9);
}

/// `--init --init-path nsinit`: `podman run`'s status is what it is
/// without --init: the command's, 127 for a missing command, 126 for one
/// that cannot be executed (nsinit's one line names it).
fn row_init_status(c: &Ctx) {
    let init = c.env.f.nsinit.display().to_string();
    let flags = ["--init", "--init-path", init.as_str()];
    for (cmd, want) in [
        (&["sh", "-c", "exit 3"][..], 3),
        (&["/nonexistent"][..], 127),
        (&["/etc/passwd"][..], 126),
    ] {
        let r = c.podman_run(&flags, cmd, None);
        assert_eq!(r.code(), want, "{cmd:?}: {r:?}");
        if want > 125 {
            assert!(
                r.stderr.contains(cmd[0]),
                "the error names {}: {r:?}",
                cmd[0]
            );
        }
    }
}

/// Whether /proc/PID/status says `pid` ignores signal `sig`.
fn ignores(pid: i32, sig: i32) -> bool {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (sig - 1)) != 0)
}

/// `podman stop` with podman's own timeout (10 s) of a command that traps
/// SIGTERM and exits 7, leaving behind a process that ignores SIGTERM.
/// Without --init the command is PID 1: its exit ends the rest at once,
/// and the status is 7. With nsinit as the init (no options), the rest
/// gets nsinit's grace period (9 s by default), then nsinit's SIGKILL,
/// before podman's: the status is still 7, and podman never has to
/// SIGKILL.
fn row_init_stop(c: &Ctx) {
    let init = c.env.f.nsinit.display().to_string();
    let script = "trap 'exit 7' TERM; (trap '' TERM; exec sleep 1000) & sleep 1000 & wait";
    for with_init in [false, true] {
        let flags: &[&str] = if with_init {
            &["--init", "--init-path", &init]
        } else {
            &[]
        };
        let name = c.detached(flags, &["sh", "-c", script]);
        let pid1 = c.pid(&name);
        wait_until("the command to catch TERM, its child to ignore it", || {
            let tree: Vec<i32> = std::iter::once(pid1).chain(descendants(pid1)).collect();
            tree.iter().any(|&p| catches(p, libc::SIGTERM))
                && tree.iter().any(|&p| {
                    ignores(p, libc::SIGTERM)
                        && fs::read_to_string(format!("/proc/{p}/comm"))
                            .is_ok_and(|c| c.trim() == "sleep")
                })
        });
        let t = Instant::now();
        let r = c.pm(&["stop", &name]);
        let took = t.elapsed();
        assert_eq!(r.code(), 0, "podman stop: {r:?}");
        assert!(
            !r.stderr.contains("resorting to SIGKILL"),
            "init={with_init}: podman had to SIGKILL the container: {r:?}"
        );
        assert_eq!(c.exit_code(&name), 7, "init={with_init}");
        if with_init {
            let grace = shared::settings::DEFAULT_GRACE;
            assert!(
                took >= grace,
                "the rest was killed before nsinit's grace: {took:?}"
            );
        }
    }
}

/// `ctr run -d`, then `ctr task exec`, `ctr task ps`, `ctr task kill`
/// (the runtime's exec, ps and kill verbs) and the task's removal.
fn row_ctr_exec_ps_kill(c: &Ctx) {
    let id = c.name();
    let r = run(c.ctr_run(&id, &["-d"], &["sleep", "1000"]), None);
    assert_eq!(r.code(), 0, "ctr run -d: {r:?}");
    let script = "echo in-exec; exit 5";
    let r = run(
        c.ctr(&["task", "exec", "--exec-id", "e1", &id, "sh", "-c", script]),
        None,
    );
    assert_eq!(
        (r.code(), r.stdout.as_str()),
        (5, "in-exec\n"),
        "ctr task exec: {r:?}"
    );
    let pid = task_pid(c, &id);
    let r = run(c.ctr(&["task", "ps", &id]), None);
    assert_eq!(r.code(), 0, "ctr task ps: {r:?}");
    assert!(
        r.stdout.split_whitespace().any(|w| w == pid.to_string()),
        "ctr task ps: {r:?}"
    );
    let r = run(c.ctr(&["task", "kill", "--signal", "SIGKILL", &id]), None);
    assert_eq!(r.code(), 0, "ctr task kill: {r:?}");
    wait_until(&format!("task {id} to stop"), || {
        task_status(c, &id) == "STOPPED"
    });
    let r = run(c.ctr(&["task", "rm", &id]), None);
    assert_eq!(r.code(), 0, "ctr task rm: {r:?}");
}

/// (pid, status) of `ctr task ls` for `id`.
fn task_line(c: &Ctx, id: &str) -> Option<(i32, String)> {
    let r = run(c.ctr(&["task", "ls"]), None);
    r.stdout.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() == 3 && f[0] == id).then(|| (f[1].parse().unwrap_or(0), f[2].to_string()))
    })
}

fn task_pid(c: &Ctx, id: &str) -> i32 {
    task_line(c, id)
        .map(|(p, _)| p)
        .filter(|p| *p > 0)
        .expect("the task has a pid")
}

fn task_status(c: &Ctx, id: &str) -> String {
    task_line(c, id).map(|(_, s)| s).unwrap_or_default()
}

// ---------------------------------------------------------- containerd

/// A containerd of the tests' own: socket, root and state under `dir`,
/// the environment cleared, no fd but 0, 1, 2, in a session of its own.
struct Containerd {
    child: Child,
    dir: PathBuf,
    sock: PathBuf,
    /// Its namespace for the rows' containers (and so their cgroup
    /// parent): the matrix's tag.
    ns: String,
}

impl Containerd {
    fn start(dir: &Path, ns: &str) -> Result<Containerd, String> {
        fs::create_dir_all(dir.join("fifo")).map_err(|e| e.to_string())?;
        let sock = dir.join("containerd.sock");
        let config = format!(
            "version = 2\nroot = \"{0}/root\"\nstate = \"{0}/state\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{1}\"\n[ttrpc]\n  address = \"{1}.ttrpc\"\n",
            dir.display(),
            sock.display()
        );
        fs::write(dir.join("config.toml"), config).map_err(|e| e.to_string())?;
        let log = fs::File::create(dir.join("containerd.log")).map_err(|e| e.to_string())?;
        let mut cmd = Command::new("containerd");
        cmd.arg("--config")
            .arg(dir.join("config.toml"))
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("HOME", "/root")
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log);
        // SAFETY: setsid is async-signal-safe and touches no memory.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|e| format!("containerd: {e}"))?;
        let mut ctd = Containerd {
            child,
            dir: dir.to_path_buf(),
            sock,
            ns: ns.to_string(),
        };
        ctd.wait_ready()?;
        Ok(ctd)
    }

    /// Wait until `ctr version` reaches the daemon.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Err(format!("containerd exited ({st}): {}", self.log()));
            }
            if self.sock.exists() && run(self.ctr(&["version"]), None).code() == 0 {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("containerd did not answer: {}", self.log()));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
    }

    fn ctr(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ctr");
        c.arg("--address")
            .arg(&self.sock)
            .arg("--namespace")
            .arg(&self.ns)
            .args(args);
        c
    }

    /// Import root's podman image (`podman save` as a docker archive).
    fn import(&self, env: &Env) -> Result<(), String> {
        let archive = self.dir.join("image.tar");
        let a = archive.display().to_string();
        let save = ["save", "--format", "docker-archive", "-o", &a, IMAGE];
        let r = run(podman_as(env, &Who::Root, None, &save), None);
        if r.code() != 0 {
            return Err(format!("podman save: {r:?}"));
        }
        let r = run(self.ctr(&["image", "import", &a]), None);
        if r.code() != 0 {
            return Err(format!("ctr image import: {r:?}"));
        }
        Ok(())
    }

    /// Stop it and remove its directory; what was left behind, if anything
    /// (removed too, as far as it can be).
    fn stop(mut self) -> Vec<String> {
        let mut left = Vec::new();
        let r = run(self.ctr(&["container", "ls", "-q"]), None);
        if !r.stdout.trim().is_empty() {
            left.push(format!("containerd containers left: {}", r.stdout.trim()));
            lines(&r.stdout).iter().for_each(|id| self.force_remove(id));
        }
        send_signal(self.child.id() as i32, libc::SIGTERM);
        if wait_timeout(&mut self.child, TIMEOUT).is_none() {
            left.push("containerd did not stop on SIGTERM".into());
        }
        let shims = processes_mentioning(&self.sock.display().to_string());
        if !shims.is_empty() {
            left.push(format!("containerd shims left: {shims:?}"));
            for p in &shims {
                send_signal(*p, libc::SIGKILL);
            }
        }
        let dir = self.dir.display().to_string();
        let mounts = mount_points_under(&host_mounts(), &dir);
        if !mounts.is_empty() {
            left.push(format!("mounts left: {mounts:?}"));
            mounts.iter().rev().for_each(|m| detach(m));
        }
        if mount_points_under(&host_mounts(), &dir).is_empty() {
            let _ = fs::remove_dir_all(&self.dir);
        }
        // ctr puts each container in the cgroup /<namespace>/<id>; the
        // runtime's delete removes the container's, the namespace's stays.
        let cgroups = remove_cgroups(&self.ns);
        if !cgroups.is_empty() {
            left.push(format!("cgroups left: {cgroups:?}"));
        }
        left
    }

    /// Remove a container whatever its runtime does: SIGKILL its task's
    /// process, then the task and the container.
    fn force_remove(&self, id: &str) {
        let r = run(self.ctr(&["task", "ls"]), None);
        let pid = r.stdout.lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&id)).then(|| f.get(1)?.parse::<i32>().ok())?
        });
        if let Some(pid) = pid.filter(|p| *p > 0) {
            send_signal(pid, libc::SIGKILL);
            let deadline = Instant::now() + TIMEOUT;
            while process_state(pid).is_some_and(|s| s != 'Z') && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = run(self.ctr(&["task", "rm", "-f", id]), None);
        let _ = run(self.ctr(&["container", "rm", id]), None);
    }
}

/// The mount points in `mountinfo` at or under `dir`.
fn mount_points_under(mountinfo: &str, dir: &str) -> Vec<String> {
    mountinfo
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .filter(|m| *m == dir || m.starts_with(&format!("{dir}/")))
        .map(String::from)
        .collect()
}

/// Lazily unmount `path` (what a failed row left).
fn detach(path: &str) {
    let Ok(c) = std::ffi::CString::new(path) else {
        return;
    };
    // SAFETY: umount2 reads a NUL-terminated path that outlives the call.
    unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
}

/// Where the cgroup hierarchies are mounted (v1 controllers, v2).
fn cgroup_roots() -> Vec<PathBuf> {
    host_mounts()
        .lines()
        .filter_map(|l| {
            let (head, tail) = l.split_once(" - ")?;
            let fstype = tail.split_whitespace().next()?;
            let point = head.split_whitespace().nth(4)?;
            matches!(fstype, "cgroup" | "cgroup2").then(|| PathBuf::from(point))
        })
        .collect()
}

/// Remove the cgroup `/NAME` in every hierarchy; the cgroups found in it
/// (which should have gone with their containers), removed too.
fn remove_cgroups(name: &str) -> Vec<String> {
    let mut found = Vec::new();
    for root in cgroup_roots() {
        let top = root.join(name);
        let mut dirs = vec![];
        let mut todo = vec![top.clone()];
        while let Some(d) = todo.pop() {
            for e in fs::read_dir(&d).into_iter().flatten().flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    todo.push(e.path());
                    dirs.push(e.path());
                }
            }
        }
        for d in dirs.iter().rev() {
            found.push(d.display().to_string());
            let _ = fs::remove_dir(d);
        }
        let _ = fs::remove_dir(&top);
    }
    found
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// -------------------------------------------------------------- runner

/// One case of the matrix.
#[derive(Clone)]
struct Job {
    row: &'static Row,
    rt: Runtime,
    who: Who,
}

/// What came of a job.
struct Done {
    job: Job,
    outcome: Outcome,
    took: Duration,
}

/// The message a panic carried.
fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panicked".into())
}

/// Judge a failure (`failed`): a limit of this machine's when the row
/// names it and the baseline (`baseline`: how the baseline runtime did,
/// `None` if this is it or it did not run) was refused the same way.
fn judge(
    row: &Row,
    is_baseline: bool,
    baseline: Option<&Outcome>,
    failed: Option<String>,
) -> Outcome {
    let Some(msg) = failed else {
        return Outcome::Pass;
    };
    let known = row.limits.iter().find(|(text, _)| msg.contains(text));
    match (known, is_baseline, baseline) {
        (Some((_, why)), true, _) => Outcome::Limit(format!("runc is refused too: {why}")),
        (Some((_, why)), false, Some(Outcome::Limit(_))) => {
            Outcome::Limit(format!("as the baseline: {why}"))
        }
        (Some((_, why)), false, None) => Outcome::Limit(format!("(baseline not run) {why}")),
        _ => Outcome::Fail(msg),
    }
}

fn run_job(env: &Env, job: &Job, baseline: Option<&Outcome>, is_baseline: bool) -> Done {
    let ctx = Ctx {
        env,
        rt: &job.rt,
        who: &job.who,
        row: job.row,
        names: Mutex::new(Vec::new()),
    };
    let t = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(|| (job.row.test)(&ctx)));
    let cleaned = catch_unwind(AssertUnwindSafe(|| ctx.clean_up()));
    let failed = match (result, cleaned) {
        (Err(p), _) => Some(panic_text(&*p)),
        (Ok(()), Err(p)) => Some(format!("removing its containers: {}", panic_text(&*p))),
        (Ok(()), Ok(())) => None,
    };
    let outcome = judge(job.row, is_baseline, baseline, failed);
    if let Outcome::Limit(why) = &outcome {
        eprintln!(
            "NOTE: {} for {} as {}: this machine's limit, not a pass: {why}",
            job.row.name,
            job.rt.name,
            job.who.label()
        );
    }
    Done {
        job: job.clone(),
        outcome,
        took: t.elapsed(),
    }
}

/// Run `jobs` on `threads` threads; `baseline` gives the baseline's
/// outcome of a job's row and identity.
fn run_jobs(
    env: &Env,
    jobs: Vec<Job>,
    threads: usize,
    baseline: &(dyn Fn(&Job) -> Option<Outcome> + Sync),
    is_baseline: bool,
) -> Vec<Done> {
    let queue = Mutex::new(VecDeque::from(jobs));
    let done = Mutex::new(Vec::new());
    thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let Some(job) = queue.lock().unwrap().pop_front() else {
                    break;
                };
                let base = baseline(&job);
                let d = run_job(env, &job, base.as_ref(), is_baseline);
                done.lock().unwrap().push(d);
            });
        }
    });
    done.into_inner().unwrap()
}

fn wanted(row: &Row) -> bool {
    match std::env::var("NSLAUNCH_ENGINE_ROWS") {
        Ok(v) if !v.trim().is_empty() => v
            .split(',')
            .map(str::trim)
            .any(|p| !p.is_empty() && row.name.starts_with(p)),
        _ => true,
    }
}

/// Whether `who` can use podman here with the image: why not, if not.
fn podman_ready(env: &Env, who: &Who) -> Result<(), String> {
    if find_program("podman", &[]).is_none() {
        return Err(format!("podman is not installed ({SETUP})"));
    }
    let r = run(podman_as(env, who, None, &["image", "exists", IMAGE]), None);
    match r.code() {
        0 => Ok(()),
        _ => Err(format!(
            "no image {IMAGE} in {}'s podman storage ({SETUP}): {}",
            who.label(),
            r.stderr.trim()
        )),
    }
}

/// The pid of `who`'s rootless podman pause process, if it runs.
fn pause_process(who: &Who) -> Option<i32> {
    let file = format!("/run/user/{}/libpod/tmp/pause.pid", who.uid());
    let pid: i32 = fs::read_to_string(file).ok()?.trim().parse().ok()?;
    process_state(pid).filter(|s| *s != 'Z').map(|_| pid)
}

/// Lines of `mountinfo` that name one of `ids`.
fn mounts_naming(mountinfo: &str, ids: &[String]) -> Vec<String> {
    mountinfo
        .lines()
        .filter(|l| ids.iter().any(|id| l.contains(id.as_str())))
        .map(String::from)
        .collect()
}

/// What the matrix left behind: containers, conmon processes, mounts.
fn leftovers(env: &Env, whos: &[Who]) -> Vec<String> {
    let mut left = Vec::new();
    let filter = format!("name=^{}-", env.tag);
    for who in whos {
        let r = run(
            podman_as(
                env,
                who,
                None,
                &["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"],
            ),
            None,
        );
        if !r.stdout.trim().is_empty() {
            left.push(format!(
                "containers of {} left: {}",
                who.label(),
                r.stdout.trim()
            ));
        }
    }
    // conmon names the container on its command line; it goes a moment
    // after the container does.
    let deadline = Instant::now() + TIMEOUT;
    while !processes_mentioning(&env.tag).is_empty() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    let procs = processes_mentioning(&env.tag);
    if !procs.is_empty() {
        left.push(format!("processes left: {procs:?}"));
    }
    let ids: Vec<String> = fs::read_dir(env.dir.join("cid"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| fs::read_to_string(e.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    let ids: Vec<String> = ids
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| s.len() >= 12)
        .collect();
    let mut tables = vec![("the host".to_string(), host_mounts())];
    for who in whos.iter().filter(|w| !w.is_root()) {
        if let Some(pid) = pause_process(who) {
            let t = fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default();
            tables.push((format!("{}'s podman namespace", who.label()), t));
        }
    }
    for (place, table) in tables {
        let m = mounts_naming(&table, &ids);
        if !m.is_empty() {
            left.push(format!("mounts left in {place}: {m:?}"));
        }
    }
    // Rootful podman with cgroupfs: /libpod_parent/libpod-<id>, which the
    // runtime's delete removes.
    let cgroups: Vec<String> = cgroup_roots()
        .iter()
        .flat_map(|root| {
            ids.iter()
                .map(move |id| root.join(format!("libpod_parent/libpod-{id}")))
        })
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if !cgroups.is_empty() {
        left.push(format!("cgroups left: {cgroups:?}"));
    }
    left
}

/// `text` on one line (whitespace runs as one space), at most `max` chars.
fn one_line(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &flat[..i]),
        None => flat,
    }
}

fn print_table(done: &[Done], took: Duration) {
    eprintln!(
        "\nengines: {:<18} {:<10} {:<20} result",
        "row", "runtime", "who"
    );
    for d in done {
        let result = match &d.outcome {
            Outcome::Pass => "pass".to_string(),
            Outcome::Limit(why) => format!("limit: {why}"),
            Outcome::Fail(why) => format!("FAIL: {}", one_line(why, 160)),
        };
        eprintln!(
            "engines: {:<18} {:<10} {:<20} {result} ({:.1} s)",
            d.job.row.name,
            d.job.rt.name,
            d.job.who.label(),
            d.took.as_secs_f64()
        );
    }
    let count = |f: fn(&Outcome) -> bool| done.iter().filter(|d| f(&d.outcome)).count();
    eprintln!(
        "engines: {} cases: {} pass, {} limit (refused to runc too, here), {} fail; {:.1} s",
        done.len(),
        count(|o| *o == Outcome::Pass),
        count(|o| matches!(o, Outcome::Limit(_))),
        count(|o| matches!(o, Outcome::Fail(_))),
        took.as_secs_f64()
    );
}

/// The scratch directory of the matrix: the config (readable by the test
/// user), cid files and volumes (writable by it).
fn make_env(f: &'static Fixture) -> Env {
    let dir = f.scratch.join("engines");
    fs::create_dir_all(dir.join("cid")).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(dir.join("cid"), fs::Permissions::from_mode(0o1777)).unwrap();
    let conf = dir.join("containers.conf");
    fs::write(&conf, CONTAINERS_CONF).unwrap();
    fs::set_permissions(&conf, fs::Permissions::from_mode(0o644)).unwrap();
    Env {
        f,
        dir,
        conf,
        tag: format!("nsle{}", std::process::id()),
        ctd: None,
    }
}

/// Every job of the matrix that can run here (a skip, with why, for each
/// identity or engine that cannot).
fn plan(env: &mut Env, whos: &[Who], rts: &[Runtime]) -> Vec<Job> {
    let rows: Vec<&'static Row> = ROWS.iter().filter(|r| wanted(r)).collect();
    let mut jobs = Vec::new();
    let mut add = |engine: Engine, who: &Who| {
        for rt in rts {
            for row in rows.iter().filter(|r| r.engine == engine) {
                jobs.push(Job {
                    row,
                    rt: rt.clone(),
                    who: who.clone(),
                });
            }
        }
    };
    for who in whos {
        match podman_ready(env, who) {
            Ok(()) => add(Engine::Podman, who),
            Err(why) => skip(&format!("podman rows as {}: {why}", who.label())),
        }
    }
    if rows.iter().any(|r| r.engine == Engine::Containerd) {
        match start_containerd(env, whos) {
            Ok(()) => add(Engine::Containerd, &Who::Root),
            Err(why) => skip(&format!("containerd rows: {why}")),
        }
    }
    jobs
}

fn start_containerd(env: &mut Env, whos: &[Who]) -> Result<(), String> {
    if !whos.iter().any(Who::is_root) {
        return Err("containerd runs as root only".into());
    }
    for p in ["containerd", "ctr", "containerd-shim-runc-v2"] {
        find_program(p, &[]).ok_or(format!("{p} is not installed ({SETUP})"))?;
    }
    podman_ready(env, &Who::Root)?;
    let ctd = Containerd::start(&env.dir.join("containerd"), &env.tag)?;
    ctd.import(env)?;
    env.ctd = Some(ctd);
    Ok(())
}

#[test]
fn engines_run_the_matrix_with_each_runtime() {
    let whos = Mutex::new(Vec::new());
    each(|_, who| whos.lock().unwrap().push(who.clone()));
    let Some(f) = fixture() else { return };
    let whos = whos.into_inner().unwrap();
    let rts = runtimes(&f.nslaunch);
    let threads = std::env::var("NSLAUNCH_ENGINE_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(3);
    let mut env = make_env(f);
    let pauses: BTreeMap<u32, Option<i32>> =
        whos.iter().map(|w| (w.uid(), pause_process(w))).collect();
    eprintln!(
        "engines: runtimes {}",
        rts.iter()
            .map(|r| format!("{}={}", r.name, r.path.display()))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let t = Instant::now();
    let jobs = plan(&mut env, &whos, &rts);
    let (base, rest): (Vec<Job>, Vec<Job>) = jobs.into_iter().partition(|j| j.rt.name == "runc");
    let mut done = run_jobs(&env, base, threads, &|_: &Job| None, true);
    let outcomes: BTreeMap<(&str, u32), Outcome> = done
        .iter()
        .map(|d| ((d.job.row.name, d.job.who.uid()), d.outcome.clone()))
        .collect();
    let lookup = |j: &Job| outcomes.get(&(j.row.name, j.who.uid())).cloned();
    done.extend(run_jobs(&env, rest, threads, &lookup, false));
    let order = |d: &Done| {
        let row = ROWS.iter().position(|r| r.name == d.job.row.name);
        let rt = rts.iter().position(|r| r.name == d.job.rt.name);
        (row, rt, d.job.who.uid())
    };
    done.sort_by_key(order);

    let mut left = leftovers(&env, &whos);
    if let Some(ctd) = env.ctd.take() {
        left.extend(ctd.stop());
    }
    // Rootless podman's pause process: stop it if the matrix started it.
    for who in whos.iter().filter(|w| !w.is_root()) {
        if let (Some(None), Some(pid)) = (pauses.get(&who.uid()), pause_process(who)) {
            send_signal(pid, libc::SIGTERM);
        }
    }
    print_table(&done, t.elapsed());
    let failed: Vec<String> = done
        .iter()
        .filter_map(|d| match &d.outcome {
            Outcome::Fail(why) => Some(format!(
                "{} / {} / {}: {}",
                d.job.row.name,
                d.job.rt.name,
                d.job.who.label(),
                one_line(why, 400)
            )),
            _ => None,
        })
        .collect();
    assert!(left.is_empty(), "left behind: {left:#?}");
    assert!(
        failed.is_empty(),
        "{} case(s) failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

// ------------------------------------------------- the runner's own logic

const NET_ROW: Row = Row {
    name: "net",
    engine: Engine::Podman,
    limits: &[("/dev/net/tun", "tun closed")],
    test: |_| {},
};

#[test]
fn a_baseline_failure_is_a_limit_only_when_the_row_names_it() {
    let tun = Some("open(\"/dev/net/tun\"): Permission denied".to_string());
    let other = Some("exit status 1".to_string());
    let limit = judge(&NET_ROW, true, None, tun.clone());
    assert!(matches!(limit, Outcome::Limit(_)), "{limit:?}");
    assert!(matches!(
        judge(&NET_ROW, true, None, other.clone()),
        Outcome::Fail(_)
    ));
    assert_eq!(judge(&NET_ROW, true, None, None), Outcome::Pass);
    // Another runtime: a pass is a pass; failing the same way as the
    // baseline's limit is that limit; any other failure fails.
    assert_eq!(judge(&NET_ROW, false, Some(&limit), None), Outcome::Pass);
    let same = judge(&NET_ROW, false, Some(&limit), tun.clone());
    assert!(matches!(same, Outcome::Limit(_)), "{same:?}");
    let worse = judge(&NET_ROW, false, Some(&limit), other.clone());
    assert!(matches!(worse, Outcome::Fail(_)), "{worse:?}");
    // Where runc passed, the same refusal is a failure.
    let fail = judge(&NET_ROW, false, Some(&Outcome::Pass), tun);
    assert!(matches!(fail, Outcome::Fail(_)), "{fail:?}");
}

#[test]
fn runtimes_are_named_by_name_or_path() {
    let me = std::env::current_exe().unwrap();
    let r = parse_runtime(&format!("mine={}", me.display()), Path::new("/x")).unwrap();
    assert_eq!((r.name.as_str(), r.path.as_path()), ("mine", me.as_path()));
    let r = parse_runtime("nslaunch", &me).unwrap();
    assert_eq!(
        (r.name.as_str(), r.path.as_path()),
        ("nslaunch", me.as_path())
    );
    assert!(parse_runtime("youki", &me).is_err());
    assert!(parse_runtime("a b=/bin/sh", &me).is_err());
    assert!(parse_runtime("x=/nonexistent/runtime", &me).is_err());
}

#[test]
fn proc_net_dev_lists_the_interfaces() {
    let dev = "Inter-|   Receive\n face |bytes\n    lo:  0 0\n  tap0: 110 1\nping=0 0\n";
    assert_eq!(interfaces(dev), ["lo", "tap0"]);
    assert_eq!(one_line("a\n  b\tc", 3), "a b...");
    assert_eq!(one_line("a b", 10), "a b");
}
