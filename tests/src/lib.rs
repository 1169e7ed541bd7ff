//! The end-to-end test harness: real containers on a busybox rootfs that the
//! tests build, run both as root and as an unprivileged user.
//!
//! - The binaries come from `NSLAUNCH_BIN` / `NSINIT_BIN` (what `make test`
//!   sets), else `target/release/`, else `target/debug/`. They are copied
//!   into a world-readable scratch directory under /tmp so that the
//!   unprivileged user can run them whatever the checkout's permissions.
//! - As root, every scenario runs twice: as root, and as the unprivileged
//!   user `NSLAUNCH_TEST_USER` (default `nslaunch-test`, which
//!   `scripts/test-deps.sh all` creates) through `setpriv`. As an ordinary
//!   user, scenarios run as that user and the root half is skipped.
//! - Scenarios about subordinate ids also use `NSLAUNCH_TEST_NOSUB_USER`
//!   (default `nslaunch-nosub`, also made by `test-deps.sh`), a user with
//!   no line in /etc/subuid or /etc/subgid ([`Fixture::nosub`]).
//! - A scenario (or half of one) that cannot run says why on stderr
//!   (`SKIP: ...`) and, when `NSLAUNCH_TEST_SKIPS` names a file (`make
//!   test` sets it), appends one line to it, which `make test` sums up at
//!   the end; with `NSLAUNCH_TEST_STRICT=1` (CI) a skip is a failure
//!   instead.

pub mod helpdoc;
pub mod pty;

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// How long any single container run may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Who runs nslaunch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    Root,
    User { name: String, uid: u32, gid: u32 },
}

impl Who {
    pub fn label(&self) -> String {
        match self {
            Who::Root => "root".into(),
            Who::User { name, uid, .. } => format!("{name}({uid})"),
        }
    }
    pub fn uid(&self) -> u32 {
        match self {
            Who::Root => 0,
            Who::User { uid, .. } => *uid,
        }
    }
    pub fn gid(&self) -> u32 {
        match self {
            Who::Root => 0,
            Who::User { gid, .. } => *gid,
        }
    }
    pub fn is_root(&self) -> bool {
        matches!(self, Who::Root)
    }
    pub fn name(&self) -> &str {
        match self {
            Who::Root => "root",
            Who::User { name, .. } => name,
        }
    }
}

/// Run `test` once for each identity of the fixture, naming it on stderr
/// (an identity the fixture lacks counts as a skipped case).
pub fn each(test: impl Fn(&Fixture, &Who)) {
    let Some(f) = fixture() else { return };
    for why in &f.missing {
        skip(why);
    }
    for who in &f.who {
        eprintln!("--- as {}", who.label());
        test(f, who);
    }
}

/// The non-empty lines of `s`, trimmed.
pub fn lines(s: &str) -> Vec<&str> {
    s.lines().map(str::trim).filter(|l| !l.is_empty()).collect()
}

/// The lines of a /proc/PID/uid_map, its columns joined by one space.
pub fn map_lines(s: &str) -> Vec<String> {
    lines(s)
        .iter()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// nslaunch's subordinate block for real root when /etc/subuid has no
/// line for root (docs/USER-GUIDE.md, "ID mapping").
pub const ROOT_BLOCK: u32 = 0x6fff_0000;

/// Where `who`'s subordinate ids start in `file` (/etc/subuid or
/// /etc/subgid): its first line; for root its own line, else nslaunch's
/// block. `None` for a user without a line.
pub fn subid_start(who: &Who, file: &str) -> Option<u32> {
    let text = fs::read_to_string(file).unwrap_or_default();
    let uid = who.uid().to_string();
    let own = text.lines().find_map(|l| {
        let f: Vec<&str> = l.trim().split(':').collect();
        match f.as_slice() {
            [owner, start, _] if *owner == who.name() || *owner == uid => start.parse().ok(),
            _ => None,
        }
    });
    match (own, who.is_root()) {
        (Some(start), _) => Some(start),
        (None, true) => Some(ROOT_BLOCK),
        (None, false) => None,
    }
}

/// Say why something cannot run: a failure under NSLAUNCH_TEST_STRICT=1,
/// else a `SKIP:` line on stderr and, when NSLAUNCH_TEST_SKIPS names a
/// file, one line `<test>\t<why>` appended to it (for `make test`'s
/// summary).
pub fn skip(why: &str) {
    if std::env::var("NSLAUNCH_TEST_STRICT").is_ok_and(|v| v == "1") {
        panic!("NSLAUNCH_TEST_STRICT=1 and a test cannot run: {why}");
    }
    eprintln!("SKIP: {why}");
    if let Some(file) = std::env::var_os("NSLAUNCH_TEST_SKIPS").filter(|f| !f.is_empty()) {
        let line = skip_line(&test_name(), why);
        let written = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file)
            // One write(2) per line: lines of parallel tests never mix.
            .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
        if let Err(e) = written {
            panic!("NSLAUNCH_TEST_SKIPS={}: {e}", Path::new(&file).display());
        }
    }
}

/// One line of the skip file: the case, a tab, why (on one line).
fn skip_line(case: &str, why: &str) -> String {
    format!("{case}\t{}\n", why.replace(['\n', '\t'], " "))
}

/// `<test binary>::<test>`: the binary's name without cargo's hash, and
/// the name libtest gives the test's thread.
fn test_name() -> String {
    let bin = std::env::args()
        .next()
        .and_then(|a| {
            let stem = Path::new(&a).file_stem()?.to_string_lossy().into_owned();
            Some(match stem.rsplit_once('-') {
                Some((name, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => name.into(),
                _ => stem,
            })
        })
        .unwrap_or_else(|| "?".into());
    let test = thread::current().name().unwrap_or("?").to_string();
    format!("{bin}::{test}")
}

fn my_uid() -> u32 {
    nix::unistd::getuid().as_raw()
}

/// The repository root (this crate lives in `tests/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn find_bin(var: &str, name: &str) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(var) {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "{var}={} does not exist", p.display());
        return Some(p);
    }
    ["release", "debug"]
        .iter()
        .map(|prof| repo_root().join("target").join(prof).join(name))
        .find(|p| p.is_file())
}

/// The user account for the unprivileged half, looked up in /etc/passwd.
fn test_user() -> Option<Who> {
    named_user("NSLAUNCH_TEST_USER", "nslaunch-test")
}

/// The account named by `var` (else `default`), from /etc/passwd.
fn named_user(var: &str, default: &str) -> Option<Who> {
    let name = std::env::var(var).unwrap_or_else(|_| default.into());
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 4 || f[0] != name {
            return None;
        }
        Some(Who::User {
            name: name.clone(),
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
        })
    })
}

/// Shared state, built once per test binary.
pub struct Fixture {
    pub scratch: PathBuf,
    pub nslaunch: PathBuf,
    /// The standalone nsinit (`init-alone/`).
    pub nsinit: PathBuf,
    /// nslaunch's built-in nsinit, the one that takes the container setup
    /// options: nslaunch run under the name nsinit (a symlink to it).
    pub builtin_nsinit: PathBuf,
    pub who: Vec<Who>,
    /// A user without subordinate ids (as root only); [`Fixture::nosub`]
    /// counts a skip when there is none.
    pub nosub: Option<Who>,
    /// Why there is no `nosub`.
    nosub_missing: Option<String>,
    /// The identities scenarios cannot run as here, and why: each
    /// [`each`] counts one skipped case per entry.
    missing: Vec<String>,
    rootfs: BTreeMap<u32, PathBuf>,
}

static FIXTURE: OnceLock<Result<Fixture, String>> = OnceLock::new();

/// The fixture, or `None` (after counting the calling test as skipped,
/// with why) when the binaries or busybox are missing.
pub fn fixture() -> Option<&'static Fixture> {
    match FIXTURE.get_or_init(build_fixture) {
        Ok(f) => Some(f),
        Err(why) => {
            skip(why);
            None
        }
    }
}

fn build_fixture() -> Result<Fixture, String> {
    let (Some(nslaunch), Some(nsinit)) = (
        find_bin("NSLAUNCH_BIN", "nslaunch"),
        find_bin("NSINIT_BIN", "nsinit"),
    ) else {
        return Err(
            "nslaunch/nsinit are not built: run `make` (or set NSLAUNCH_BIN and NSINIT_BIN)".into(),
        );
    };
    let mut who = Vec::new();
    let mut nosub = None;
    let mut nosub_missing = None;
    let mut missing = Vec::new();
    if my_uid() == 0 {
        who.push(Who::Root);
        match test_user() {
            Some(u) => who.push(u),
            None => missing.push(
                "no unprivileged test user (run `scripts/test-deps.sh all` as root, or set NSLAUNCH_TEST_USER)".into(),
            ),
        }
        match named_user("NSLAUNCH_TEST_NOSUB_USER", "nslaunch-nosub") {
            Some(u) if subid_start(&u, "/etc/subuid").is_none()
                && subid_start(&u, "/etc/subgid").is_none() =>
            {
                nosub = Some(u)
            }
            Some(u) => {
                nosub_missing = Some(format!(
                    "{} has subordinate ids, but must have none (run `scripts/test-deps.sh all`)",
                    u.name()
                ))
            }
            None => nosub_missing = Some(
                "no test user without subordinate ids (run `scripts/test-deps.sh all` as root, or set NSLAUNCH_TEST_NOSUB_USER)".into(),
            ),
        }
    } else {
        missing.push("not root: the as-root half is skipped".into());
        nosub_missing = Some("not root: no user without subordinate ids to run as".into());
        let name = std::env::var("USER").unwrap_or_else(|_| "me".into());
        who.push(Who::User {
            name,
            uid: my_uid(),
            gid: nix::unistd::getgid().as_raw(),
        });
    }

    clean_stale_scratch();
    let scratch = std::env::temp_dir().join(format!("nslaunch-e2e-{}", std::process::id()));
    fs::create_dir_all(scratch.join("bin")).unwrap();
    if SCRATCH.set(scratch.clone()).is_ok() {
        // SAFETY: registers a plain extern "C" function with no arguments,
        // run by exit() after the tests (libtest leaves through exit).
        unsafe { libc::atexit(remove_scratch) };
    }
    fs::set_permissions(&scratch, fs::Permissions::from_mode(0o755)).unwrap();
    let bin_nslaunch = scratch.join("bin/nslaunch");
    let bin_nsinit = scratch.join("bin/nsinit");
    fs::copy(&nslaunch, &bin_nslaunch).unwrap();
    fs::copy(&nsinit, &bin_nsinit).unwrap();
    fs::create_dir_all(scratch.join("builtin")).unwrap();
    let builtin_nsinit = scratch.join("builtin/nsinit");
    std::os::unix::fs::symlink("../bin/nslaunch", &builtin_nsinit).unwrap();

    let mut rootfs = BTreeMap::new();
    for w in who.iter().chain(&nosub) {
        match make_rootfs(&scratch, w, &format!("rootfs-{}", w.uid())) {
            Ok(r) => {
                rootfs.insert(w.uid(), r);
            }
            Err(why) => return Err(format!("cannot build the busybox rootfs: {why}")),
        }
    }
    Ok(Fixture {
        scratch,
        nslaunch: bin_nslaunch,
        nsinit: bin_nsinit,
        builtin_nsinit,
        who,
        nosub,
        nosub_missing,
        missing,
        rootfs,
    })
}

/// Remove scratch directories left by earlier test runs that died.
fn clean_stale_scratch() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if let Some(pid) = name.strip_prefix("nslaunch-e2e-") {
            if pid.parse::<u32>().is_ok() && !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
}

/// Build a busybox rootfs owned by `who` under `scratch/name`, with the
/// fixtures the scenarios use (/notexec: a file without x bits).
pub fn make_rootfs(scratch: &Path, who: &Who, name: &str) -> Result<PathBuf, String> {
    let dir = scratch.join(name);
    let script = repo_root().join("scripts/mkrootfs.sh");
    // Run the script as the owner-to-be, from a copy it can read.
    let script_copy = scratch.join("mkrootfs.sh");
    if !script_copy.exists() {
        fs::copy(&script, &script_copy).map_err(|e| e.to_string())?;
    }
    let owner = (
        Some(nix::unistd::Uid::from_raw(who.uid())),
        Some(nix::unistd::Gid::from_raw(who.gid())),
    );
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    nix::unistd::chown(&dir, owner.0, owner.1).map_err(|e| e.to_string())?;
    let out = as_who(who, Command::new("/bin/sh").arg(&script_copy).arg(&dir))
        .output()
        .map_err(|e| format!("run mkrootfs.sh: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    let notexec = dir.join("notexec");
    fs::write(&notexec, "#!/bin/sh\necho should not run\n").map_err(|e| e.to_string())?;
    fs::set_permissions(&notexec, fs::Permissions::from_mode(0o644)).map_err(|e| e.to_string())?;
    nix::unistd::chown(&notexec, owner.0, owner.1).map_err(|e| e.to_string())?;
    Ok(dir)
}

/// Wrap `cmd` to run as `who`: unchanged when that is us, else through
/// setpriv (which execs, so the child's pid is the command's own).
pub fn as_who(who: &Who, cmd: &mut Command) -> Command {
    let program = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    let envs: Vec<_> = cmd
        .get_envs()
        .map(|(k, v)| (k.to_owned(), v.map(|v| v.to_owned())))
        .collect();
    let mut out = if who.uid() == my_uid() {
        let mut c = Command::new(&program);
        c.args(&args);
        c
    } else {
        let mut c = Command::new("setpriv");
        c.arg(format!("--reuid={}", who.uid()))
            .arg(format!("--regid={}", who.gid()))
            .arg("--clear-groups")
            .arg("--")
            .arg(&program)
            .args(&args);
        if let Who::User { name, .. } = who {
            c.env("HOME", "/tmp").env("USER", name).env("LOGNAME", name);
        }
        c
    };
    for (k, v) in envs {
        match v {
            Some(v) => out.env(k, v),
            None => out.env_remove(k),
        };
    }
    out.current_dir("/tmp");
    out
}

impl Fixture {
    /// The user without subordinate ids, or `None` after counting the
    /// calling test's case for that user as skipped.
    pub fn nosub(&self) -> Option<&Who> {
        if self.nosub.is_none() {
            skip(
                self.nosub_missing
                    .as_deref()
                    .unwrap_or("no user without subordinate ids"),
            );
        }
        self.nosub.as_ref()
    }

    pub fn rootfs(&self, who: &Who) -> &Path {
        &self.rootfs[&who.uid()]
    }

    /// `nslaunch --rootfs <who's rootfs> ARGS...` as `who`.
    pub fn nslaunch(&self, who: &Who, args: &[&str]) -> Command {
        let mut c = Command::new(&self.nslaunch);
        c.arg("--rootfs").arg(self.rootfs(who)).args(args);
        as_who(who, &mut c)
    }

    /// `nslaunch ARGS...` as `who`, with no --rootfs added.
    pub fn nslaunch_raw(&self, who: &Who, args: &[&str]) -> Command {
        let mut c = Command::new(&self.nslaunch);
        c.args(args);
        as_who(who, &mut c)
    }

    /// `nslaunch --rootfs ROOTFS ARGS...` as `who`, on another rootfs.
    pub fn nslaunch_on(&self, who: &Who, rootfs: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(&self.nslaunch);
        c.arg("--rootfs").arg(rootfs).args(args);
        as_who(who, &mut c)
    }

    /// A fresh, empty directory `scratch/NAME-UID` owned by `who` (mode
    /// 755), for volumes and the like.
    pub fn dir(&self, who: &Who, name: &str) -> PathBuf {
        let d = self.scratch.join(format!("{name}-{}", who.uid()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        nix::unistd::chown(
            &d,
            Some(nix::unistd::Uid::from_raw(who.uid())),
            Some(nix::unistd::Gid::from_raw(who.gid())),
        )
        .unwrap();
        d
    }

    /// A private rootfs for `who`, for scenarios that change it.
    pub fn own_rootfs(&self, who: &Who, name: &str) -> PathBuf {
        let name = format!("rootfs-{name}-{}", who.uid());
        let _ = fs::remove_dir_all(self.scratch.join(&name));
        make_rootfs(&self.scratch, who, &name).unwrap()
    }
}

/// The owner (uid, gid) of a host path, not following a symlink.
pub fn owner(path: &Path) -> (u32, u32) {
    let m = fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (m.uid(), m.gid())
}

/// Write `text` to `path` and give it to `who`.
pub fn write_as(who: &Who, path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    nix::unistd::chown(
        path,
        Some(nix::unistd::Uid::from_raw(who.uid())),
        Some(nix::unistd::Gid::from_raw(who.gid())),
    )
    .unwrap();
}

static SCRATCH: OnceLock<PathBuf> = OnceLock::new();

/// Removes the scratch directory when the test binary exits (the fixture
/// lives in a static, which is never dropped).
extern "C" fn remove_scratch() {
    if let Some(dir) = SCRATCH.get() {
        let _ = fs::remove_dir_all(dir);
    }
}

/// What a finished run gave.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The number after `key` on the first stdout line that starts with it
    /// (`zombies=0`); panics, showing the run, when there is none.
    pub fn number(&self, key: &str) -> u32 {
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {self:?}"))
    }

    /// The exit code (panics if the launcher itself died by a signal).
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| panic!("nslaunch died by a signal: {:?}\n{self:?}", self.status))
    }
}

/// Run to completion with `stdin` (or /dev/null), failing after TIMEOUT.
pub fn run(mut cmd: Command, stdin: Option<&[u8]>) -> Run {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    if let Some(data) = stdin {
        let mut w = child.stdin.take().unwrap();
        let data = data.to_vec();
        thread::spawn(move || {
            use std::io::Write;
            let _ = w.write_all(&data);
        });
    }
    let out = collect(child.stdout.take().unwrap());
    let err = collect(child.stderr.take().unwrap());
    let status = wait_timeout(&mut child, TIMEOUT)
        .unwrap_or_else(|| panic!("timed out after {TIMEOUT:?}: {cmd:?}"));
    Run {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn collect<R: Read + Send + 'static>(mut r: R) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Run `cmd` to completion (TIMEOUT at most), stdin /dev/null: its exit
/// code, its stdout as bytes (for output that need not be UTF-8), and its
/// stderr as text.
pub fn run_bytes(mut cmd: Command) -> (Option<i32>, Vec<u8>, String) {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut out = child.stdout.take().unwrap();
    let out = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err = collect(child.stderr.take().unwrap());
    let status = wait_timeout(&mut child, TIMEOUT)
        .unwrap_or_else(|| panic!("timed out after {TIMEOUT:?}: {cmd:?}"));
    (status.code(), out.join().unwrap(), err.join().unwrap())
}

/// Wait for `child` at most `limit`; kills it and returns None on timeout.
pub fn wait_timeout(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// A container started in the background, with its stdout read line by line.
pub struct Running {
    pub child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Running {
    pub fn start(mut cmd: Command) -> Running {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Wait until a line equal to `want` arrives (TIMEOUT at most).
    pub fn wait_line(&mut self, want: &str) {
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            match self.lines.recv_timeout(Duration::from_millis(100)) {
                Ok(l) => {
                    let hit = l == want;
                    self.seen.push(l);
                    if hit {
                        return;
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(_) => break,
            }
        }
        let _ = self.child.kill();
        panic!("never saw {want:?}; saw {:?}", self.seen);
    }

    /// The rest of the first line (seen before or arriving within TIMEOUT)
    /// that starts with `prefix`.
    pub fn wait_prefix(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(rest) = self.seen.iter().find_map(|l| l.strip_prefix(prefix)) {
                return rest.to_string();
            }
            match self.lines.recv_timeout(Duration::from_millis(100)) {
                Ok(l) => self.seen.push(l),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(_) => break,
            }
            if Instant::now() > deadline {
                break;
            }
        }
        let _ = self.child.kill();
        panic!("never saw a line starting {prefix:?}; saw {:?}", self.seen);
    }

    pub fn signal(&self, sig: i32) {
        assert!(
            send_signal(self.pid(), sig),
            "kill({}, {sig}) failed",
            self.pid()
        );
    }

    /// Wait for the exit (TIMEOUT at most), then collect the rest of stdout.
    pub fn finish(mut self) -> (ExitStatus, Vec<String>) {
        let st = wait_timeout(&mut self.child, TIMEOUT).expect("container did not exit in time");
        while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(500)) {
            self.seen.push(l);
        }
        (st, std::mem::take(&mut self.seen))
    }
}

impl Drop for Running {
    /// A test that fails half-way must not leave its container running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `kill(pid, sig)`; false if it failed.
pub fn send_signal(pid: i32, sig: i32) -> bool {
    // SAFETY: kill takes plain integers (nix's Signal cannot name the
    // real-time signals).
    unsafe { libc::kill(pid, sig) == 0 }
}

/// The children of `pid` (from /proc/<pid>/task/<pid>/children).
pub fn children_of(pid: i32) -> Vec<i32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// The PID namespace of `pid`, as the `pid:[inode]` link text.
pub fn pid_ns_of(pid: i32) -> Option<String> {
    fs::read_link(format!("/proc/{pid}/ns/pid"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// Every live process on the host whose PID namespace is `ns`. Zombies
/// do not count: they run nothing, and reaping an orphaned one is the host
/// init's job (some, like this VM's, take a moment).
pub fn processes_in_ns(ns: &str) -> Vec<i32> {
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| pid_ns_of(*pid).as_deref() == Some(ns))
        .filter(|pid| process_state(*pid).is_some_and(|s| s != 'Z' && s != 'X'))
        .collect()
}

/// Live processes (zombies aside) whose command line mentions `needle`,
/// such as a scenario's own rootfs path, which nsinit's argv holds.
pub fn processes_mentioning(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
        })
        .filter(|pid| process_state(*pid).is_some_and(|s| s != 'Z' && s != 'X'))
        .collect()
}

/// Every `--userns` mode `who` may use ("" is the default): all of them
/// for root; an ordinary user cannot have `auto` or `host`.
pub fn userns_modes(who: &Who) -> Vec<&'static str> {
    if who.is_root() {
        vec!["", "auto", "root", "subids", "keep-id", "host"]
    } else {
        vec!["", "root", "subids", "keep-id"]
    }
}

/// `--userns MODE` (nothing for the default, "") followed by `rest`.
pub fn with_userns<'a>(mode: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut v = if mode.is_empty() {
        vec![]
    } else {
        vec!["--userns", mode]
    };
    v.extend_from_slice(rest);
    v
}

/// A run nslaunch refused, as bad input must be: 125, one line on stderr
/// (`nslaunch: ...`) that says `want`, the command never ran (nothing on
/// stdout), and no process left that names `rootfs`. `case` names the
/// input in failures.
pub fn assert_refused(r: &Run, case: &str, want: &str, rootfs: &Path) {
    assert_eq!(r.code(), 125, "{case}: {r:?}");
    assert_eq!(lines(&r.stderr).len(), 1, "{case}: {r:?}");
    assert!(r.stderr.starts_with("nslaunch: "), "{case}: {r:?}");
    assert!(r.stderr.contains(want), "{case} should say {want:?}: {r:?}");
    assert!(r.stdout.is_empty(), "{case}: the command ran: {r:?}");
    let left = processes_mentioning(&rootfs.display().to_string());
    assert!(left.is_empty(), "{case}: processes left: {left:?}");
}

/// SIGKILL the running nslaunch `c` (whose container runs exactly
/// `procs` processes, nsinit included) and check that within a second no
/// process of its container's PID namespace is left. `what` names the
/// case in failures.
pub fn sigkill_leaves_nothing(c: Running, procs: usize, what: &str) {
    let init = *children_of(c.pid()).first().expect("nslaunch has no child");
    let ns = pid_ns_of(init).expect("cannot read the container's pid namespace");
    assert_ne!(
        Some(ns.clone()),
        pid_ns_of(std::process::id() as i32),
        "{what}: no PID namespace of its own"
    );
    let running = processes_in_ns(&ns);
    assert_eq!(
        running.len(),
        procs,
        "{what}: not the container's processes: {running:?}"
    );
    c.signal(libc::SIGKILL);
    let (st, _) = c.finish();
    assert_eq!(
        st.code(),
        None,
        "{what}: nslaunch should have died by SIGKILL"
    );
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let left = processes_in_ns(&ns);
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still running a second later: {left:?}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// The state letter of /proc/<pid>/stat (R, S, Z ...).
pub fn process_state(pid: i32) -> Option<char> {
    proc_stat(pid).map(|s| s.state)
}

/// What /proc/PID/stat says of a process (pids as the host sees them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    /// The command name (`sleep`), without the parentheses.
    pub comm: String,
    /// R, S, T, Z ...
    pub state: char,
    pub ppid: i32,
    /// Its process group.
    pub pgrp: i32,
    /// The foreground process group of its controlling terminal (-1:
    /// none).
    pub tpgid: i32,
}

impl ProcStat {
    /// Whether its group is its terminal's foreground group.
    pub fn in_foreground(&self) -> bool {
        self.tpgid > 0 && self.pgrp == self.tpgid
    }
}

/// /proc/PID/stat, parsed; `None` once the process is gone.
pub fn proc_stat(pid: i32) -> Option<ProcStat> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (head, rest) = stat.rsplit_once(") ")?;
    let comm = head.split_once(" (")?.1.to_string();
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(ProcStat {
        comm,
        state: f.first()?.chars().next()?,
        ppid: f.get(1)?.parse().ok()?,
        pgrp: f.get(2)?.parse().ok()?,
        tpgid: f.get(5)?.parse().ok()?,
    })
}

/// Every descendant of `pid` (children, their children ...).
pub fn descendants(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let mut todo = children_of(pid);
    while let Some(p) = todo.pop() {
        out.push(p);
        todo.extend(children_of(p));
    }
    out
}

/// Wait until `cond` holds, checking every 10 ms; panics naming `what`
/// after TIMEOUT. For state the test can observe (/proc, files), never a
/// fixed delay.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// Wait (TIMEOUT at most) for a descendant of `root` whose /proc/PID/stat
/// satisfies `pred`; its pid. `what` names it in the failure, which lists
/// the descendants seen last.
pub fn wait_descendant(root: i32, what: &str, pred: impl Fn(&ProcStat) -> bool) -> i32 {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let found: Vec<(i32, ProcStat)> = descendants(root)
            .into_iter()
            .filter_map(|p| Some((p, proc_stat(p)?)))
            .collect();
        if let Some((pid, _)) = found.iter().find(|(_, s)| pred(s)) {
            return *pid;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what} under {root}: {found:?}"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// Wait until a descendant of `root` named `comm` runs in the foreground
/// of its terminal and is not stopped (state S: it waits in a syscall,
/// as `sleep` or a `cat` reading): a job a shell has started, or
/// resumed with `fg`, and given the terminal, so that a key typed now
/// (Ctrl-C, Ctrl-Z, a line) reaches it. Its pid.
pub fn wait_foreground_job(root: i32, comm: &str) -> i32 {
    wait_descendant(root, &format!("{comm} in the terminal's foreground"), |s| {
        s.comm == comm && s.state == 'S' && s.in_foreground()
    })
}

/// The host's mount table, as this process sees it (mount ids and all).
pub fn host_mounts() -> String {
    fs::read_to_string("/proc/self/mountinfo").unwrap()
}

/// A listing of a tree: path, type, mode, owner, size and mtime of every
/// entry, for "unchanged" checks. Symlinks are not followed.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let m = fs::symlink_metadata(&p).unwrap();
        let kind = if m.file_type().is_symlink() {
            format!("link:{}", fs::read_link(&p).unwrap().display())
        } else if m.is_dir() {
            "dir".into()
        } else {
            "file".into()
        };
        out.insert(
            p.strip_prefix(root).unwrap().to_path_buf(),
            format!(
                "{kind} {:o} {}:{} {} {}.{}",
                m.mode(),
                m.uid(),
                m.gid(),
                m.size(),
                m.mtime(),
                m.mtime_nsec()
            ),
        );
        if m.is_dir() {
            for e in fs::read_dir(&p).unwrap().flatten() {
                stack.push(e.path());
            }
        }
    }
    out
}

/// Whether the ELF file has a PT_INTERP program header (a dynamic loader).
pub fn elf_has_interp(bytes: &[u8]) -> Result<bool, String> {
    const PT_INTERP: u32 = 3;
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" {
        return Err("not an ELF file".into());
    }
    if bytes[4] != 2 || bytes[5] != 1 {
        return Err("not a 64-bit little-endian ELF file".into());
    }
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let u64_at = |o: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[o..o + 8]);
        u64::from_le_bytes(b) as usize
    };
    let (phoff, phentsize, phnum) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    for i in 0..phnum {
        let off = phoff + i * phentsize;
        if off + 4 > bytes.len() {
            return Err("truncated program headers".into());
        }
        let p_type =
            u32::from_le_bytes([bytes[off], bytes[off + 1], bytes[off + 2], bytes[off + 3]]);
        if p_type == PT_INTERP {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `podman [--runtime RUNTIME] ARGS...` as `who`, reading only the
/// containers.conf `conf` (CONTAINERS_CONF): rootless with the user's
/// home and /run/user/UID (scripts/engine-setup.sh makes both).
pub fn podman_cmd(conf: &Path, who: &Who, runtime: Option<&Path>, args: &[&str]) -> Command {
    let mut c = Command::new("podman");
    if let Some(rt) = runtime {
        c.arg("--runtime").arg(rt);
    }
    c.args(args).env("CONTAINERS_CONF", conf);
    if !who.is_root() {
        if let Some(home) = home_of(who) {
            c.env("HOME", home);
        }
        let run_dir = format!("/run/user/{}", who.uid());
        if who.uid() != nix::unistd::getuid().as_raw()
            || std::env::var_os("XDG_RUNTIME_DIR").is_none()
        {
            c.env("XDG_RUNTIME_DIR", run_dir);
        }
    }
    as_who(who, &mut c)
}

/// The home directory of `who` (from /etc/passwd).
pub fn home_of(who: &Who) -> Option<String> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 5 && f[0] == who.name()).then(|| f[5].to_string())
    })
}

/// The image the engine tests import (scripts/engine-setup.sh).
pub const ENGINE_IMAGE: &str = "localhost/nslaunch-test-busybox:latest";

/// The engine tests' containers.conf, written where every test user can
/// read it.
pub fn engine_conf(f: &Fixture) -> PathBuf {
    let conf = f.scratch.join("containers.conf");
    if !conf.exists() {
        fs::write(&conf, include_str!("../engines/containers.conf")).unwrap();
        fs::set_permissions(&conf, fs::Permissions::from_mode(0o644)).unwrap();
    }
    conf
}
