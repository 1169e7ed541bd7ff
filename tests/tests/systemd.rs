//! Services under systemd: socket activation (`LISTEN_FDS`)
//! and readiness (`NOTIFY_SOCKET`), for nslaunch and for nsinit alone,
//! and the example units of docs/SERVICES.md. No systemd runs here, but
//! its tools do: `systemd-socket-activate` starts nslaunch exactly as a
//! socket unit would (the sockets as fds 3.., `LISTEN_PID` its own pid),
//! a datagram socket of the test's own stands in for systemd's
//! `NOTIFY_SOCKET`, and `systemd-analyze verify` reads the units. Inside
//! the busybox rootfs, a small static C program does the service's side
//! (`tests/helpers/sdhelper.c`: `sd_listen_fds`'s checks, `sd_notify`'s
//! sends, hostile ones too). Every scenario runs as root and as the
//! unprivileged user.

use std::ffi::OsString;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use nslaunch_tests::*;

/// tests/helpers/sdhelper.c, built static once (`None` after counting a
/// skip when there is no C compiler).
fn sdhelper(f: &Fixture) -> Option<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let out = f.scratch.join("bin/sdhelper");
        let src = repo_root().join("tests/helpers/sdhelper.c");
        let r = Command::new("cc")
            .args(["-O2", "-Wall", "-Wextra", "-Werror", "-static", "-o"])
            .arg(&out)
            .arg(&src)
            .output()
            .map_err(|e| {
                format!(
                    "cannot run cc to build {} ({e}): run scripts/test-deps.sh all",
                    src.display()
                )
            })?;
        if !r.status.success() {
            return Err(format!(
                "cc -static {}: {} (static glibc: Debian's libc6-dev)",
                src.display(),
                String::from_utf8_lossy(&r.stderr).trim()
            ));
        }
        fs::set_permissions(&out, fs::Permissions::from_mode(0o755)).unwrap();
        Ok(out)
    });
    match built {
        Ok(p) => Some(p.clone()),
        Err(why) => {
            skip(why);
            None
        }
    }
}

/// systemd's tools (Debian's `systemd` package), or a skip.
fn have_systemd_tools() -> bool {
    let ok = ["systemd-socket-activate", "systemd-analyze"]
        .iter()
        .all(|t| {
            Command::new(t)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
    if !ok {
        skip("systemd-socket-activate or systemd-analyze missing (Debian: apt-get install systemd; scripts/test-deps.sh all)");
    }
    ok
}

/// A fresh busybox rootfs of `who`'s with /bin/sdhelper.
fn helper_rootfs(f: &Fixture, who: &Who, name: &str) -> Option<PathBuf> {
    let helper = sdhelper(f)?;
    let r = f.own_rootfs(who, name);
    let dst = r.join("bin/sdhelper");
    fs::copy(&helper, &dst).unwrap();
    nix::unistd::chown(
        &dst,
        Some(nix::unistd::Uid::from_raw(who.uid())),
        Some(nix::unistd::Gid::from_raw(who.gid())),
    )
    .unwrap();
    Some(r)
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Connect to 127.0.0.1:`port`, send `request`, read to the end.
fn fetch(port: u16, request: &str) -> String {
    let deadline = Instant::now() + TIMEOUT;
    let mut s = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(e) => {
                assert!(Instant::now() < deadline, "connect to {port}: {e}");
                thread::sleep(Duration::from_millis(20));
            }
        }
    };
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// A datagram socket standing in for systemd's notify socket.
struct Listener {
    sock: UnixDatagram,
    /// NOTIFY_SOCKET's value for it.
    addr: String,
}

impl Listener {
    /// A path socket in a directory of `who`'s, which anyone may write
    /// (as systemd's own).
    fn path(f: &Fixture, who: &Who, name: &str) -> Listener {
        let dir = f.dir(who, &format!("listen-{name}"));
        let path = dir.join("notify");
        let sock = UnixDatagram::bind(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o777)).unwrap();
        Listener::ready(sock, path.display().to_string())
    }

    /// An abstract socket (`@name`), of the host's network namespace.
    fn abstract_name(who: &Who, name: &str) -> Listener {
        let name = format!("nslaunch-test-{}-{}-{name}", std::process::id(), who.uid());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let sock = UnixDatagram::bind_addr(&addr).unwrap();
        Listener::ready(sock, format!("@{name}"))
    }

    fn ready(sock: UnixDatagram, addr: String) -> Listener {
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        Listener { sock, addr }
    }

    fn next(&self) -> Option<String> {
        let mut buf = vec![0u8; 70000];
        match self.sock.recv(&mut buf) {
            Ok(n) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(_) => None,
        }
    }

    /// Every message until one equal to `want` (TIMEOUT at most), that
    /// one included.
    fn until(&self, want: &str) -> Vec<String> {
        let deadline = Instant::now() + TIMEOUT;
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            if let Some(m) = self.next() {
                let hit = m == want;
                seen.push(m);
                if hit {
                    return seen;
                }
            }
        }
        panic!("never heard {want:?}; heard {seen:?}");
    }

    /// What is queued now (for a sender that is gone).
    fn rest(&self) -> Vec<String> {
        self.sock.set_nonblocking(true).unwrap();
        let rest = std::iter::from_fn(|| self.next()).collect();
        self.sock.set_nonblocking(false).unwrap();
        rest
    }
}

/// `systemd-socket-activate -l 127.0.0.1:PORT EXTRA... CMD...` as `who`,
/// listening. It gives CMD an environment of its own: `LISTEN_*`, a few
/// of its own variables (PATH, TERM ...) and what `-E` names.
struct Activator {
    child: Child,
    port: u16,
    stderr: Receiver<String>,
}

impl Activator {
    /// On 127.0.0.1:`port`, once it listens; `None` when it could not
    /// (the port was taken).
    fn on(who: &Who, port: u16, extra: &[&str], cmd: &[OsString]) -> Option<Activator> {
        let mut c = Command::new("systemd-socket-activate");
        c.arg("-l")
            .arg(format!("127.0.0.1:{port}"))
            .args(extra)
            .args(cmd);
        let mut c = as_who(who, &mut c);
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn systemd-socket-activate");
        let err = child.stderr.take().unwrap();
        let (tx, rx) = channel();
        thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("systemd-socket-activate: {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(l) if l.starts_with("Listening on") => {
                    return Some(Activator {
                        child,
                        port,
                        stderr: rx,
                    })
                }
                Ok(_) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = child.wait();
                    return None;
                }
                Err(_) => assert!(
                    Instant::now() < deadline,
                    "systemd-socket-activate never listened"
                ),
            }
        }
    }

    /// On a free port (another, if that one was taken meanwhile).
    fn start(who: &Who, extra: &[&str], cmd: &[OsString]) -> Activator {
        (0..5)
            .find_map(|_| Activator::on(who, free_port(), extra, cmd))
            .expect("systemd-socket-activate could not listen on a free port")
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Its exit status (TIMEOUT at most), and what it said.
    fn finish(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let st = wait_timeout(&mut self.child, TIMEOUT).expect("did not exit in time");
        let said = std::iter::from_fn(|| self.stderr.recv_timeout(Duration::from_millis(200)).ok())
            .collect();
        (st, said)
    }
}

impl Drop for Activator {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn words(v: &[&str]) -> Vec<OsString> {
    v.iter().map(OsString::from).collect()
}

/// nslaunch ARGS as a command line for another program to run.
fn nslaunch_words(f: &Fixture, rootfs: &Path, args: &[&str]) -> Vec<OsString> {
    let mut v = vec![
        f.nslaunch.clone().into_os_string(),
        "--rootfs".into(),
        rootfs.into(),
    ];
    v.extend(words(args));
    v
}

/// `cmd` with /dev/null open on descriptors 3 to 3+n-1 (not
/// close-on-exec), as a socket unit hands its sockets over.
fn with_fds(mut cmd: Command, n: i32) -> Command {
    let null = fs::File::open("/dev/null").unwrap();
    // SAFETY: between fork and exec only dup2 and fcntl, which are
    // async-signal-safe; `null` outlives the spawn (moved into the closure).
    unsafe {
        cmd.pre_exec(move || {
            use std::os::fd::AsRawFd;
            let high = libc::fcntl(null.as_raw_fd(), libc::F_DUPFD, 100);
            for fd in 3..3 + n {
                if high < 0 || libc::dup2(high, fd) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            libc::close(high);
            Ok(())
        });
    }
    cmd
}

/// `sh -c 'export LISTEN_PID=$$ VARS; exec "$@"' sh PROGRAM ARGS...` as
/// `who`: PROGRAM runs with `LISTEN_PID` its own pid (`exec` keeps it),
/// as under systemd (`pid` false: `LISTEN_PID=1`, not its pid, a stale
/// environment).
fn as_activated(who: &Who, pid: bool, vars: &str, program: &Path, args: &[&str]) -> Command {
    let listen_pid = if pid { "$$" } else { "1" };
    let mut c = Command::new("/bin/sh");
    c.arg("-c")
        .arg(format!(
            "export LISTEN_PID={listen_pid} {vars}; exec \"$@\""
        ))
        .arg("sh")
        .arg(program)
        .args(args);
    as_who(who, &mut c)
}

/// What the container prints about its activation: the LISTEN_ values,
/// whether LISTEN_PID is its pid, and which of fds 3 to 7 it has.
const SHOW_ACTIVATION: &str = r#"
    [ "$LISTEN_PID" = $$ ] && echo "listen_pid=mine" || echo "listen_pid=${LISTEN_PID-unset}"
    echo "fds=${LISTEN_FDS-unset} names=${LISTEN_FDNAMES-unset}"
    for n in 3 4 5 6 7; do [ -e /proc/self/fd/$n ] && echo "open=$n"; done
    true
"#;

#[test]
fn socket_activation_hands_the_socket_to_the_command() {
    each(|f, who| {
        if !have_systemd_tools() {
            return;
        }
        let Some(r) = helper_rootfs(f, who, "activate") else {
            return;
        };
        // With a network namespace of its own, the container has no
        // network but the socket it was handed.
        for net in [&[][..], &["--unshare-net"][..]] {
            let mut args = net.to_vec();
            args.extend(["sdhelper", "serve"]);
            let a = Activator::start(who, &["--fdname=web"], &nslaunch_words(f, &r, &args));
            let reply = fetch(a.port, "");
            // The command is PID 2 of the container (nsinit is 1), and
            // LISTEN_PID says so: sd_listen_fds() finds the socket.
            assert_eq!(
                reply.trim(),
                "pid=2 listen_pid=2 listen_fds=1 names=web",
                "{net:?}"
            );
            let (st, said) = a.finish();
            assert_eq!(st.code(), Some(0), "{net:?}: {said:?}");
        }
    });
}

#[test]
fn activation_combines_with_preserve_fds_and_ignores_a_stale_environment() {
    each(|f, who| {
        let r = f.rootfs(who);
        let nslaunch = |pid: bool, vars: &str, extra: &[&str], open: i32| {
            let mut args = vec!["--rootfs", r.to_str().unwrap()];
            args.extend(extra);
            args.extend(["sh", "-c", SHOW_ACTIVATION]);
            run(
                with_fds(as_activated(who, pid, vars, &f.nslaunch, &args), open),
                None,
            )
        };
        for (vars, extra, want_fds, want_open) in [
            (
                "LISTEN_FDS=1 LISTEN_FDNAMES=web",
                &[][..],
                "1",
                &["open=3"][..],
            ),
            (
                "LISTEN_FDS=1 LISTEN_FDNAMES=web",
                &["--preserve-fds", "2"][..],
                "1",
                &["open=3", "open=4"][..],
            ),
            (
                "LISTEN_FDS=2 LISTEN_FDNAMES=web:admin",
                &["--preserve-fds", "1"][..],
                "2",
                &["open=3", "open=4"][..],
            ),
        ] {
            let case = format!("{vars} {extra:?}");
            let out = nslaunch(true, vars, extra, 5);
            assert_eq!(out.code(), 0, "{case}: {out:?}");
            let names = vars.rsplit_once('=').unwrap().1;
            let mut want = vec![
                "listen_pid=mine".to_string(),
                format!("fds={want_fds} names={names}"),
            ];
            want.extend(want_open.iter().map(|s| s.to_string()));
            assert_eq!(lines(&out.stdout), want, "{case}: {out:?}");
        }
        // LISTEN_PID names another process: nothing is ours to pass.
        let out = nslaunch(false, "LISTEN_FDS=1 LISTEN_FDNAMES=web", &[], 5);
        assert_eq!(out.code(), 0, "{out:?}");
        assert_eq!(
            lines(&out.stdout),
            ["listen_pid=unset", "fds=unset names=unset"],
            "{out:?}"
        );
        // Ours, and broken: one line, 125, nothing ran.
        for (vars, open, want) in [
            ("LISTEN_FDS=3", 2, "LISTEN_FDS=3: descriptor 5 is not open"),
            ("LISTEN_FDS=three", 2, "LISTEN_FDS=three: not a number"),
        ] {
            let out = nslaunch(true, vars, &[], open);
            assert_refused(&out, vars, want, r);
        }
    });
}

#[test]
fn nsinit_alone_hands_its_sockets_to_the_command() {
    each(|f, who| {
        if !have_systemd_tools() {
            return;
        }
        let Some(helper) = sdhelper(f) else { return };
        // Started by systemd-socket-activate: LISTEN_PID is nsinit's; the
        // command, its child, finds its own pid there.
        let cmd = [
            f.nsinit.clone().into_os_string(),
            "--subreaper".into(),
            "--".into(),
            helper.into_os_string(),
            "serve".into(),
        ];
        let a = Activator::start(who, &["--fdname=web"], &cmd);
        let reply = fetch(a.port, "");
        let fields: Vec<&str> = reply.split_whitespace().collect();
        let pid = fields[0].strip_prefix("pid=").expect("pid=");
        assert_ne!(
            pid,
            a.pid().to_string(),
            "the command is not nsinit: {reply}"
        );
        assert_eq!(
            fields,
            [
                &format!("pid={pid}")[..],
                &format!("listen_pid={pid}"),
                "listen_fds=1",
                "names=web"
            ],
            "{reply}"
        );
        let (st, said) = a.finish();
        assert_eq!(st.code(), Some(0), "{said:?}");
        // --preserve-fds 0 still passes the sockets; a stale environment
        // passes nothing.
        let nsinit = |pid: bool, extra: &[&str]| {
            let mut args = vec!["--subreaper"];
            args.extend(extra);
            args.extend(["--", "sh", "-c", SHOW_ACTIVATION]);
            run(
                with_fds(
                    as_activated(
                        who,
                        pid,
                        "LISTEN_FDS=1 LISTEN_FDNAMES=web",
                        &f.nsinit,
                        &args,
                    ),
                    2,
                ),
                None,
            )
        };
        let out = nsinit(true, &["--preserve-fds", "0"]);
        assert_eq!(out.code(), 0, "{out:?}");
        assert_eq!(
            lines(&out.stdout),
            ["listen_pid=mine", "fds=1 names=web", "open=3"],
            "{out:?}"
        );
        let out = nsinit(false, &[]);
        assert_eq!(out.code(), 0, "{out:?}");
        let l = lines(&out.stdout);
        assert_eq!(
            l[..2],
            ["listen_pid=unset", "fds=unset names=unset"],
            "{out:?}"
        );
    });
}

#[test]
fn readiness_reaches_systemd_from_inside_with_our_mainpid() {
    each(|f, who| {
        let Some(r) = helper_rootfs(f, who, "notify") else {
            return;
        };
        // A path socket and an abstract one; an abstract socket is of the
        // host's network namespace, so --unshare-net is the case where
        // the container could never reach it itself.
        for (kind, net) in [("path", false), ("abstract", true), ("path", true)] {
            let case = format!("{kind} socket, unshare-net {net}");
            let l = match kind {
                "path" => Listener::path(f, who, "ready"),
                _ => Listener::abstract_name(who, "ready"),
            };
            let tmp = f.dir(who, "notify-tmp");
            let mut args: Vec<&str> = if net { vec!["--unshare-net"] } else { vec![] };
            let script = r#"
                echo "sock=$NOTIFY_SOCKET watchdog=$WATCHDOG_USEC"
                trap 'sdhelper notify STOPPING=1; exit 0' TERM
                sdhelper notify READY=1 'STATUS=up and running'
                sdhelper notify WATCHDOG=1
                echo said
                while :; do sleep 1; done
            "#;
            args.extend(["sh", "-c", script]);
            let mut cmd = f.nslaunch_on(who, &r, &args);
            cmd.env("NOTIFY_SOCKET", &l.addr)
                .env("WATCHDOG_USEC", "5000000")
                .env("TMPDIR", &tmp);
            let mut c = Running::start(cmd);
            let pid = c.pid();
            c.wait_line("said");
            assert_eq!(
                c.wait_prefix("sock="),
                "/run/notify/notify.sock watchdog=5000000",
                "{case}"
            );
            assert_eq!(
                l.until(&format!("WATCHDOG=1\nMAINPID={pid}")),
                [
                    format!("READY=1\nSTATUS=up and running\nMAINPID={pid}"),
                    format!("WATCHDOG=1\nMAINPID={pid}")
                ],
                "{case}"
            );
            // Mounted: the host's name for it is gone already.
            let left: Vec<_> = fs::read_dir(&tmp)
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .collect();
            assert!(left.is_empty(), "{case}: left on the host: {left:?}");
            // systemd's stop (KillMode=mixed: nslaunch alone); the command's
            // last word still goes.
            c.signal(libc::SIGTERM);
            let (st, _) = c.finish();
            assert_eq!(st.code(), Some(0), "{case}");
            assert_eq!(
                l.until(&format!("STOPPING=1\nMAINPID={pid}")).len(),
                1,
                "{case}"
            );
            assert!(l.rest().is_empty(), "{case}");
        }
    });
}

#[test]
fn launcher_mode_says_ready_and_ignore_says_nothing() {
    each(|f, who| {
        let script = r#"
            echo "sock=${NOTIFY_SOCKET-unset} watchdog=${WATCHDOG_USEC-unset}"
            [ -e /run/notify/notify.sock ] && echo mounted
            echo started
            exec sleep 1000
        "#;
        for mode in ["launcher", "ignore"] {
            let l = Listener::path(f, who, mode);
            let mut cmd = f.nslaunch(who, &["--sdnotify", mode, "sh", "-c", script]);
            cmd.env("NOTIFY_SOCKET", &l.addr)
                .env("WATCHDOG_USEC", "5000000");
            let mut c = Running::start(cmd);
            let pid = c.pid();
            c.wait_line("started");
            if mode == "launcher" {
                assert_eq!(l.until(&format!("READY=1\nMAINPID={pid}")).len(), 1);
            }
            c.signal(libc::SIGTERM);
            let (st, seen) = c.finish();
            assert_eq!(st.code(), Some(143), "{mode}");
            assert_eq!(
                seen,
                ["sock=unset watchdog=unset", "started"],
                "{mode}: the command gets no socket"
            );
            assert!(l.rest().is_empty(), "{mode}: more was said");
        }
    });
}

#[test]
fn without_notify_socket_nothing_is_made() {
    each(|f, who| {
        let r = f.own_rootfs(who, "nonotify");
        let tmp = f.dir(who, "nonotify-tmp");
        let script = r#"
            echo "sock=${NOTIFY_SOCKET-unset}"
            echo "mounts=$(grep -c /run/notify /proc/self/mountinfo)"
            [ -e /run ] && echo "/run made"
            true
        "#;
        let ignore = Listener::path(f, who, "ignored");
        for (flags, notify) in [
            (&[][..], None),
            (&["--sdnotify", "container"][..], None),
            (&["--sdnotify", "launcher"][..], None),
            (&["--sdnotify", "ignore"][..], None),
            (&["--sdnotify", "ignore"][..], Some(&ignore.addr)),
        ] {
            let mut args = flags.to_vec();
            args.extend(["sh", "-c", script]);
            let mut cmd = f.nslaunch_on(who, &r, &args);
            cmd.env_remove("NOTIFY_SOCKET").env("TMPDIR", &tmp);
            if let Some(addr) = notify {
                cmd.env("NOTIFY_SOCKET", addr);
            }
            let out = run(cmd, None);
            let case = format!("{flags:?} NOTIFY_SOCKET={notify:?}");
            assert_eq!(out.code(), 0, "{case}: {out:?}");
            assert_eq!(
                lines(&out.stdout),
                ["sock=unset", "mounts=0"],
                "{case}: {out:?}"
            );
            assert!(out.stderr.is_empty(), "{case}: {out:?}");
            assert_eq!(fs::read_dir(&tmp).unwrap().count(), 0, "{case}");
            assert!(!r.join("run").exists(), "{case}: a mount point was made");
        }
        assert!(ignore.rest().is_empty());
        // What cannot work is refused before anything runs.
        let l = Listener::path(f, who, "refused");
        for (addr, args, want) in [
            (
                l.addr.as_str(),
                &["--sdnotify", "conmon"][..],
                "--sdnotify conmon: expected container, launcher or ignore",
            ),
            (
                "vsock:2:1234",
                &[][..],
                "NOTIFY_SOCKET=vsock:2:1234: expected an absolute path or @NAME",
            ),
            (
                l.addr.as_str(),
                &["--tmpfs", "/run/notify/notify.sock"][..],
                "--sdnotify container: /run/notify/notify.sock",
            ),
        ] {
            let mut all = args.to_vec();
            all.push("true");
            let mut cmd = f.nslaunch_on(who, &r, &all);
            cmd.env("NOTIFY_SOCKET", addr).env("TMPDIR", &tmp);
            assert_refused(&run(cmd, None), want, want, &r);
            assert_eq!(fs::read_dir(&tmp).unwrap().count(), 0, "{want}");
        }
        assert!(l.rest().is_empty());
    });
}

/// Every key=value line of a relayed message is one a service may say,
/// and it ends with nslaunch's MAINPID.
fn relayed_properly(msg: &str, pid: i32) -> bool {
    let Some(body) = msg.strip_suffix(&format!("\nMAINPID={pid}")) else {
        return false;
    };
    body.split('\n').all(|line| {
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        [
            "READY",
            "STATUS",
            "STOPPING",
            "RELOADING",
            "WATCHDOG",
            "ERRNO",
            "BUSERROR",
            "EXTEND_TIMEOUT_USEC",
            "WATCHDOG_USEC",
            "MONOTONIC_USEC",
        ]
        .contains(&key)
            && !value.chars().any(char::is_control)
    })
}

#[test]
fn hostile_messages_are_dropped_and_a_flood_stalls_nothing() {
    each(|f, who| {
        let Some(r) = helper_rootfs(f, who, "hostile") else {
            return;
        };
        let l = Listener::path(f, who, "hostile");
        let script = r#"
            sdhelper notify --fd READY=1
            sdhelper notify --size 5000
            sdhelper notify MAINPID=1 FDSTORE=1 FDNAME=x BARRIER=1 STATUS=kept
            sdhelper notify "$(printf 'STATUS=esc \033[2J')" READY=yes
            sdhelper flood 20000
            while :; do sdhelper notify STATUS=after-flood; sleep 0.1; done
        "#;
        let mut cmd = f.nslaunch_on(who, &r, &["sh", "-c", script]);
        cmd.env("NOTIFY_SOCKET", &l.addr)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let t0 = Instant::now();
        let mut child = cmd.spawn().unwrap();
        let pid = child.id() as i32;
        let err = child.stderr.take().unwrap();
        let stderr = thread::spawn(move || {
            let mut s = String::new();
            let _ = BufReader::new(err).read_to_string(&mut s);
            s
        });
        // The relay outlives the flood: the container is heard again.
        let heard = l.until(&format!("STATUS=after-flood\nMAINPID={pid}"));
        let elapsed = t0.elapsed().as_secs_f64();
        let bad: Vec<&String> = heard.iter().filter(|m| !relayed_properly(m, pid)).collect();
        assert!(bad.is_empty(), "relayed unchecked: {bad:?}");
        assert!(
            !heard.iter().any(|m| m.contains("READY")),
            "READY=1 with a descriptor, or READY=yes, went through: {heard:?}"
        );
        assert_eq!(heard[0], format!("STATUS=kept\nMAINPID={pid}"), "{heard:?}");
        let flood = heard
            .iter()
            .filter(|m| m.starts_with("STATUS=flood"))
            .count();
        let most = 100.0 + 50.0 * elapsed + 1.0;
        assert!(
            flood > 0 && (flood as f64) <= most,
            "{flood} of the flood relayed in {elapsed:.1}s (at most {most:.0})"
        );
        // A stop while the container floods still gets through at once.
        assert!(send_signal(pid, libc::SIGTERM));
        let st = wait_timeout(&mut child, Duration::from_secs(5)).expect("no stop within 5s");
        assert_eq!(st.code(), Some(143));
        let stderr = stderr.join().unwrap();
        for why in [
            "it carried file descriptors",
            "longer than 4096 bytes",
            "no line nslaunch relays",
            "more than 50 a second",
        ] {
            let n = stderr.matches(why).count();
            assert_eq!(n, 1, "{why:?} said {n} times: {stderr}");
        }
        assert_eq!(lines(&stderr).len(), 4, "{stderr}");
    });
}

#[test]
fn a_flood_during_the_whole_run_does_not_keep_a_stop_out() {
    each(|f, who| {
        let Some(r) = helper_rootfs(f, who, "flood") else {
            return;
        };
        let l = Listener::path(f, who, "flood");
        let mut cmd = f.nslaunch_on(
            who,
            &r,
            &[
                "sh",
                "-c",
                "while :; do sdhelper flood 1000 >/dev/null; done",
            ],
        );
        cmd.env("NOTIFY_SOCKET", &l.addr);
        let c = Running::start(cmd);
        let pid = c.pid();
        // Flooding: the first message arrived.
        let deadline = Instant::now() + TIMEOUT;
        while l.next().is_none() {
            assert!(Instant::now() < deadline, "the flood never arrived");
        }
        assert!(send_signal(pid, libc::SIGTERM));
        let t0 = Instant::now();
        let (st, _) = c.finish();
        assert_eq!(st.code(), Some(143));
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "{:?} to stop",
            t0.elapsed()
        );
    });
}

/// A unit file of docs/SERVICES.md: its name and text.
struct Unit {
    name: String,
    text: String,
}

/// The unit files in docs/SERVICES.md: the ```ini blocks whose first
/// line names /etc/systemd/system/NAME.
fn example_units() -> Vec<Unit> {
    let doc = fs::read_to_string(repo_root().join("docs/SERVICES.md")).unwrap();
    doc.split("```ini\n")
        .skip(1)
        .filter_map(|block| {
            let text = block.split("```").next()?;
            let name = text
                .lines()
                .next()?
                .strip_prefix("# /etc/systemd/system/")?;
            Some(Unit {
                name: name.to_string(),
                text: text.to_string(),
            })
        })
        .collect()
}

/// The units the README and the user guide show are docs/SERVICES.md's,
/// which are tested.
#[test]
fn the_guides_units_are_the_tested_ones() {
    let docs: String = ["README.md", "docs/USER-GUIDE.md"]
        .iter()
        .map(|f| fs::read_to_string(repo_root().join(f)).unwrap())
        .collect();
    let shown: Vec<&str> = docs
        .split("```ini\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .collect();
    assert!(
        shown.len() >= 2,
        "the user guide's services section shows no unit"
    );
    let tested = example_units();
    for unit in shown {
        assert!(
            tested.iter().any(|t| t.text == unit),
            "not in docs/SERVICES.md as it is: {unit}"
        );
    }
}

/// The value of `key=` in a unit's text, continuation lines joined.
fn unit_value(text: &str, key: &str) -> Option<String> {
    let joined = text.replace("\\\n", " ");
    joined
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(|v| v.trim().to_string())
}

/// ExecStart's words as systemd splits them: whitespace, '...' and
/// "..." quoting, and $$ for one $.
fn exec_words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => out.extend(word.take()),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (Some(q), c) if c == q => quote = None,
            (_, '$') if chars.peek() == Some(&'$') => {
                chars.next();
                word.get_or_insert_with(String::new).push('$');
            }
            (_, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    out.extend(word);
    out
}

#[test]
fn exec_words_split_as_systemd_does() {
    assert_eq!(
        exec_words(r#"a  'b c' "d" sh -c '[ "$$X" = $$$$ ] && x'"#),
        ["a", "b c", "d", "sh", "-c", r#"[ "$X" = $$ ] && x"#]
    );
}

#[test]
fn the_example_units_parse_and_run() {
    each(|f, who| {
        if !have_systemd_tools() {
            return;
        }
        let Some(r) = helper_rootfs(f, who, "units") else {
            return;
        };
        let www = f.dir(who, "www");
        write_as(who, &www.join("index.html"), "hello from a unit\n");
        let units = example_units();
        let names: Vec<&str> = units.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "web.service",
                "web-inetd.socket",
                "web-inetd@.service",
                "app.socket",
                "app.service"
            ]
        );
        let ports: Vec<(String, String)> = ["8080", "8081", "8082"]
            .iter()
            .map(|p| {
                (
                    format!("127.0.0.1:{p}"),
                    format!("127.0.0.1:{}", free_port()),
                )
            })
            .collect();
        let ours = |text: &str| {
            let mut t = text
                .replace("/usr/local/bin/nslaunch", f.nslaunch.to_str().unwrap())
                .replace("/srv/web/rootfs", r.to_str().unwrap())
                .replace("/srv/app/rootfs", r.to_str().unwrap())
                .replace("/srv/web/www", www.to_str().unwrap())
                .replace("/usr/bin/app", "/bin/sdhelper serve --notify --loop");
            for (from, to) in &ports {
                t = t.replace(from.as_str(), to);
            }
            t
        };
        // systemd's own reading of them: no warning, nothing missing.
        let dir = f.dir(who, "units");
        let mut verify = Command::new("systemd-analyze");
        verify.arg("verify");
        for u in &units {
            write_as(who, &dir.join(&u.name), &ours(&u.text));
            verify.arg(dir.join(&u.name));
        }
        let out = run(as_who(who, &mut verify), None);
        assert_eq!(out.code(), 0, "{out:?}");
        assert!(
            out.stderr.trim().is_empty(),
            "systemd-analyze: {}",
            out.stderr
        );
        let unit = |name: &str| ours(&units.iter().find(|u| u.name == name).unwrap().text);
        let exec = |name: &str| exec_words(&unit_value(&unit(name), "ExecStart").unwrap());
        let stop_within = |name: &str| {
            let v = unit_value(&unit(name), "TimeoutStopSec").unwrap();
            Duration::from_secs(v.trim_end_matches('s').parse().unwrap())
        };
        let port_of = |name: &str| -> u16 {
            let v = unit_value(&unit(name), "ListenStream").unwrap();
            v.rsplit_once(':').unwrap().1.parse().unwrap()
        };

        // web.service: Type=notify with --sdnotify launcher.
        let words = exec("web.service");
        let l = Listener::path(f, who, "web");
        let mut cmd = Command::new(&words[0]);
        cmd.args(&words[1..]).env("NOTIFY_SOCKET", &l.addr);
        let c = Running::start(as_who(who, &mut cmd));
        let pid = c.pid();
        assert_eq!(l.until(&format!("READY=1\nMAINPID={pid}")).len(), 1);
        let web_port: u16 = words
            .iter()
            .find_map(|w| w.strip_prefix("127.0.0.1:"))
            .unwrap()
            .parse()
            .unwrap();
        let page = fetch(web_port, "GET / HTTP/1.0\r\n\r\n");
        assert!(page.ends_with("hello from a unit\n"), "{page}");
        c.signal(libc::SIGTERM);
        let t0 = Instant::now();
        let (st, _) = c.finish();
        assert!(t0.elapsed() < stop_within("web.service"));
        let ok = unit_value(&unit("web.service"), "SuccessExitStatus").unwrap();
        assert_eq!(st.code().map(|c| c.to_string()), Some(ok));

        // web-inetd: a container per connection.
        let words: Vec<OsString> = exec("web-inetd@.service")
            .into_iter()
            .map(OsString::from)
            .collect();
        let port = port_of("web-inetd.socket");
        let a = Activator::on(who, port, &["--accept"], &words).expect("listen on the unit's port");
        for _ in 0..2 {
            let page = fetch(a.port, "GET / HTTP/1.0\r\n\r\n");
            assert!(page.ends_with("hello from a unit\n"), "{page}");
        }
        drop(a);

        // app: socket-activated, and its READY=1 relayed.
        let words: Vec<OsString> = exec("app.service")
            .into_iter()
            .map(OsString::from)
            .collect();
        let l = Listener::path(f, who, "app");
        // systemd-socket-activate passes on only what -E names.
        let env = format!("NOTIFY_SOCKET={}", l.addr);
        let a = Activator::on(who, port_of("app.socket"), &["-E", &env], &words)
            .expect("listen on the unit's port");
        let reply = fetch(a.port, "");
        assert_eq!(
            reply.trim(),
            "pid=2 listen_pid=2 listen_fds=1 names=",
            "{reply}"
        );
        let pid = a.pid();
        assert_eq!(
            l.until(&format!("READY=1\nSTATUS=serving on fd 3\nMAINPID={pid}"))
                .len(),
            1
        );
        assert!(send_signal(pid, libc::SIGTERM));
        let t0 = Instant::now();
        let (st, said) = a.finish();
        assert!(t0.elapsed() < stop_within("app.service"));
        assert_eq!(st.code(), Some(143), "{said:?}");
    });
}
