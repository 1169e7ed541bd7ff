//! Interactive terminals. On a terminal, nslaunch gives the container a
//! pseudo-terminal of its own from the container's devpts (pty mode),
//! keeps the caller's terminal raw while it relays, and gives it back its
//! settings exactly however the run ends. Without a terminal, pipes carry
//! bytes unchanged. Nothing in the container can push input into the
//! caller's terminal (TIOCSTI), with a pty or without one (-T).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nslaunch_tests::pty::{self, same_settings};
use nslaunch_tests::*;

/// `nslaunch --rootfs <who's rootfs>`, for typing into a shell.
fn launch(f: &Fixture, who: &Who) -> String {
    format!(
        "{} --rootfs {}",
        f.nslaunch.display(),
        f.rootfs(who).display()
    )
}

fn is_raw(t: &libc::termios) -> bool {
    t.c_lflag & (libc::ICANON | libc::ECHO | libc::ISIG) == 0
}

/// The one child of `pid` (waiting for it to appear).
fn only_child(pid: i32) -> i32 {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let [child] = children_of(pid)[..] {
            return child;
        }
        assert!(Instant::now() < deadline, "{pid} has no single child");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_shell_in_the_container_has_a_terminal_of_its_own() {
    each(|f, who| {
        let (mut p, mut at) = pty::bash(who);
        p.send(b"stty -g > /tmp/nsl-stty-$$; echo saved\n");
        at = p.expect_from(at, "saved", TIMEOUT);
        // Settings are compared at a prompt: readline has set them up by
        // the time it prints one, from what the last job left.
        at = p.expect_from(at, "prompt$ ", TIMEOUT);
        let before = p.termios();

        // No -t: stdin and stdout are a terminal, so a pty is the default.
        p.send(format!("{} -e PS1='in''side$ ' sh\n", launch(f, who)).as_bytes());
        at = p.expect_from(at, "inside$ ", TIMEOUT);
        assert!(is_raw(&p.termios()), "the caller's terminal is not raw");
        // The container's own devpts; /dev/console is the same terminal;
        // the caller's size.
        p.send(b"tty; stty size; stty size </dev/console\n");
        at = p.expect_from(at, "/dev/pts/0", TIMEOUT);
        at = p.expect_from(at, "24 80", TIMEOUT);
        at = p.expect_from(at, "24 80", TIMEOUT);
        // A resize of the caller's window reaches it (nslaunch relays it
        // when it reads the SIGWINCH: ask until it has).
        p.resize(30, 100);
        let deadline = Instant::now() + TIMEOUT;
        loop {
            p.send(b"stty size\n");
            if p.saw_within(at, "30 100", Duration::from_millis(200)) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the resize never arrived:\n{}",
                p.screen
            );
        }
        at = p.expect_from(at, "30 100", TIMEOUT);

        // Ctrl-C stops the foreground job, not the shell.
        let bash = p.child.id() as i32;
        p.send(b"sleep 100\n");
        wait_foreground_job(bash, "sleep");
        p.send(b"\x03");
        p.send(b"echo alive-$((6*7))\n");
        at = p.expect_from(at, "alive-42", TIMEOUT);
        // Ctrl-Z suspends it, fg resumes it.
        p.send(b"sleep 100\n");
        wait_foreground_job(bash, "sleep");
        p.send(b"\x1a");
        at = p.expect_from(at, "Stopped", TIMEOUT);
        p.send(b"fg\n");
        wait_foreground_job(bash, "sleep");
        p.send(b"\x03");
        p.send(b"echo back-$((6*7))\n");
        at = p.expect_from(at, "back-42", TIMEOUT);

        p.send(b"exit 7\n");
        at = p.expect_from(at, "prompt$ ", TIMEOUT);
        p.send(b"echo rc=$?\n");
        at = p.expect_from(at, "rc=7", TIMEOUT);
        at = p.expect_from(at, "prompt$ ", TIMEOUT);
        assert!(same_settings(&before, &p.termios()));
        p.send(b"stty -g | cmp - /tmp/nsl-stty-$$ && echo same-stty; rm -f /tmp/nsl-stty-$$\n");
        at = p.expect_from(at, "same-stty", TIMEOUT);
        p.send(b"exit\n");
        let _ = at;
        wait_timeout(&mut p.child, TIMEOUT).expect("bash did not exit");
    });
}

#[test]
fn the_callers_terminal_is_restored_however_the_run_ends() {
    each(|f, who| {
        let (mut p, mut at) = pty::bash(who);
        let before = p.termios();
        let bash = p.child.id() as i32;
        // nslaunch gets SIGTERM, SIGHUP or SIGINT (relayed: the command
        // dies of it), or the container's init is killed outright.
        for (sig, at_init, code) in [
            (libc::SIGTERM, false, 143),
            (libc::SIGHUP, false, 129),
            (libc::SIGINT, false, 130),
            (libc::SIGKILL, true, 137),
        ] {
            p.send(
                format!(
                    "{} sh -c 'echo ready-$((6*7)); exec sleep 100'\n",
                    launch(f, who)
                )
                .as_bytes(),
            );
            at = p.expect_from(at, "ready-42", TIMEOUT);
            assert!(is_raw(&p.termios()), "signal {sig}: not raw");
            let nslaunch = only_child(bash);
            let target = if at_init {
                only_child(nslaunch)
            } else {
                nslaunch
            };
            assert!(send_signal(target, sig));
            at = p.expect_from(at, "prompt$ ", TIMEOUT);
            p.send(b"echo rc=$?\n");
            at = p.expect_from(at, &format!("rc={code}"), TIMEOUT);
            at = p.expect_from(at, "prompt$ ", TIMEOUT);
            assert!(
                same_settings(&before, &p.termios()),
                "signal {sig}: the terminal's settings changed:\n{}",
                p.screen
            );
        }
        p.send(b"exit\n");
        wait_timeout(&mut p.child, TIMEOUT).expect("bash did not exit");
    });
}

/// The TIOCSTI helper, copied where the unprivileged user can run it.
fn tiocsti(f: &Fixture) -> String {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dst = f.scratch.join("bin/tiocsti");
        std::fs::copy(env!("CARGO_BIN_EXE_tiocsti"), &dst).unwrap();
        dst
    })
    .display()
    .to_string()
}

#[test]
fn nothing_in_the_container_can_type_into_the_callers_terminal() {
    each(|f, who| {
        let helper = tiocsti(f);
        let (mut p, mut at) = pty::bash(who);
        // The control: run by the caller's shell on its own terminal, the
        // helper does push a command into it, which the shell then runs.
        // Where the kernel refuses TIOCSTI to all but CAP_SYS_ADMIN
        // (dev.tty.legacy_tiocsti=0), only root's control works; the
        // container is refused anyway, with EIO before the check that
        // matters here.
        p.send(format!("{helper} 'echo INJ\"\"ECTED-0\\n'\n").as_bytes());
        at = p.expect_from(at, "tiocsti-done", TIMEOUT);
        // What the helper pushed is in the terminal's input before what
        // we type next: the shell runs it first.
        p.send(b"echo sync-$((6*7))\n");
        let synced = p.expect_from(at, "sync-42", TIMEOUT);
        let legacy = p.screen[at..synced].contains("INJECTED-0");
        assert!(
            legacy || !who.is_root(),
            "root could not inject:\n{}",
            p.screen
        );
        if !legacy {
            eprintln!("note: TIOCSTI is refused to unprivileged users on this kernel");
        }
        at = p.expect_from(synced, "prompt$ ", TIMEOUT);
        // Under --rootfs / the helper (a host binary) runs as is. With -T
        // the command's stdin, stdout and stderr are the caller's
        // terminal itself; in pty mode they are the container's own.
        let mut runs = vec![("-T", true), ("", false)];
        if who.is_root() {
            // Container root is host root here, still without SYS_ADMIN.
            runs.push(("-T --userns host", true));
        }
        for (n, (flags, shares)) in runs.into_iter().enumerate() {
            let n = n + 1;
            p.send(
                format!(
                    "{} {flags} --rootfs / {helper} 'echo INJ\"\"ECTED-{n}\\n'; echo fin\"\"ished-{n}\n",
                    f.nslaunch.display()
                )
                .as_bytes(),
            );
            let start = at;
            at = p.expect_from(at, "tiocsti-done", TIMEOUT);
            at = p.expect_from(at, &format!("finished-{n}"), TIMEOUT);
            // Anything pushed into the caller's terminal is read before
            // the marker typed now, and would have run by its output.
            p.send(b"echo marker-$((6*7))\n");
            at = p.expect_from(at, "marker-42", TIMEOUT);
            at = p.expect_from(at, "prompt$ ", TIMEOUT);
            assert!(
                !p.screen[start..].contains(&format!("INJECTED-{n}")),
                "{flags:?}: input pushed into the caller's terminal ran:\n{}",
                p.screen
            );
            if shares {
                // The caller's terminal, but not the container's
                // controlling terminal (it has none): refused.
                let seen = &p.screen[start..];
                let refused = if legacy { "fd0: EPERM" } else { "fd0: EIO" };
                assert!(seen.contains(refused), "{flags:?}:\n{seen}");
                assert!(seen.contains("/dev/tty: ENXIO"), "{flags:?}:\n{seen}");
            }
        }
        p.send(b"exit\n");
        wait_timeout(&mut p.child, TIMEOUT).expect("bash did not exit");
    });
}

/// Run with `input` on stdin; (status, stdout bytes, stderr).
fn run_bytes(mut cmd: Command, input: Vec<u8>) -> (i32, Vec<u8>, String) {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn nslaunch");
    let mut w = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(&input);
    });
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        out.read_to_end(&mut buf).unwrap();
        buf
    });
    let mut err = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = wait_timeout(&mut child, TIMEOUT).expect("nslaunch timed out");
    writer.join().unwrap();
    (
        status.code().expect("nslaunch died by a signal"),
        reader.join().unwrap(),
        err_reader.join().unwrap(),
    )
}

/// Four megabytes of noise, every byte value included.
fn noise() -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut data: Vec<u8> = (0..=255u8).collect();
    data.extend((0..4 << 20).map(|_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 24) as u8
    }));
    data
}

fn host_sha256(data: &[u8]) -> String {
    let (code, out, err) = run_bytes(Command::new("sha256sum"), data.to_vec());
    assert_eq!(code, 0, "sha256sum: {err}");
    String::from_utf8(out).unwrap()[..64].to_string()
}

#[test]
fn pipes_carry_megabytes_of_binary_data_both_ways_unchanged() {
    let data = noise();
    let sum = host_sha256(&data);
    each(|f, who| {
        // In and out again, byte for byte; stdin's end of file ends cat.
        let (code, out, err) = run_bytes(f.nslaunch(who, &["cat"]), data.clone());
        assert_eq!(code, 0, "{err}");
        assert_eq!(out.len(), data.len(), "{err}");
        assert!(out == data, "the data changed on the way");
        // The checksum inside is the host's.
        let (code, out, err) = run_bytes(f.nslaunch(who, &["sha256sum"]), data.clone());
        assert_eq!(code, 0, "{err}");
        assert_eq!(String::from_utf8_lossy(&out)[..64], sum);
        // Made inside, read outside: the same bytes as the host's cat of
        // the same file under --rootfs /.
        let (code, out, err) = run_bytes(
            f.nslaunch(
                who,
                &["sh", "-c", "head -c 3000000 /dev/zero | tr '\\000' '\\377'"],
            ),
            Vec::new(),
        );
        assert_eq!(code, 0, "{err}");
        assert!(out.len() == 3_000_000 && out.iter().all(|&b| b == 0xff));
        // No terminal anywhere: none inside; end of file arrives; the
        // command's status comes back.
        let (code, out, err) = run_bytes(
            f.nslaunch(
                who,
                &[
                    "sh",
                    "-c",
                    "test -t 0 || test -t 1 || echo no-tty; cat >/dev/null; echo eof; exit 5",
                ],
            ),
            data.clone(),
        );
        assert_eq!(code, 5, "{err}");
        assert_eq!(String::from_utf8_lossy(&out), "no-tty\neof\n");
    });
}

#[test]
fn dash_t_alone_on_a_terminal_is_an_interactive_shell() {
    // What a newcomer types: `nslaunch -t --rootfs R sh` in a terminal.
    // The shell must read the keys (docker's -t without -i would give it
    // /dev/null as stdin, and it would exit at once with status 0).
    each(|f, who| {
        let (mut p, mut at) = pty::bash(who);
        p.send(format!("{} -t -e PS1='tee''tee$ ' sh\n", launch(f, who)).as_bytes());
        at = p.expect_from(at, "teetee$ ", TIMEOUT);
        p.send(b"test -t 0 && echo in-is-a-tty; exit 4\n");
        at = p.expect_from(at, "in-is-a-tty", TIMEOUT);
        at = p.expect_from(at, "prompt$ ", TIMEOUT);
        p.send(b"echo status=$?\n");
        p.expect_from(at, "status=4", TIMEOUT);
    });
}

#[test]
fn dash_t_gives_a_terminal_without_one_and_dash_i_feeds_it() {
    each(|f, who| {
        // -t alone: the command's stdout is a terminal (CRLF line ends),
        // its stdin /dev/null: cat ends at once, the piped line is unread.
        let r = run(
            f.nslaunch(
                who,
                &[
                    "-t",
                    "sh",
                    "-c",
                    "test -t 1 && echo out-is-a-tty; test -t 0 || echo in-is-not; cat; echo cat-ended",
                ],
            ),
            Some(b"unread\n"),
        );
        assert_eq!(r.code(), 0, "{r:?}");
        assert_eq!(
            r.stdout, "out-is-a-tty\r\nin-is-not\r\ncat-ended\r\n",
            "{r:?}"
        );
        // -t -i: stdin goes to the terminal (which echoes it).
        let r = run(
            f.nslaunch(
                who,
                &["-t", "-i", "sh", "-c", "read line; echo got-$line; exit 3"],
            ),
            Some(b"hello\n"),
        );
        assert_eq!(r.code(), 3, "{r:?}");
        assert!(r.stdout.contains("got-hello\r\n"), "{r:?}");
        // -t and -T contradict each other.
        let r = run(f.nslaunch(who, &["-t", "-T", "true"]), None);
        assert_eq!(r.code(), 125, "{r:?}");
        assert!(r.stderr.contains("-T"), "{r:?}");
        assert_eq!(r.stderr.lines().count(), 1, "{r:?}");
    });
}

#[test]
fn without_a_pty_the_container_uses_the_callers_terminal_but_not_as_its_own() {
    each(|f, who| {
        let (mut p, mut at) = pty::bash(who);
        let before = p.termios();
        p.send(
            format!(
                "{} -T sh -c 'test -t 0 && test -t 1 && echo on-the-$((6*7)); (: </dev/tty) 2>/dev/null || echo no-ctty-$((6*7))'\n",
                launch(f, who)
            )
            .as_bytes(),
        );
        at = p.expect_from(at, "on-the-42", TIMEOUT);
        at = p.expect_from(at, "no-ctty-42", TIMEOUT);
        at = p.expect_from(at, "prompt$ ", TIMEOUT);
        assert!(same_settings(&before, &p.termios()));
        // With stdout redirected, no pty either (stdin alone is a terminal).
        p.send(
            format!(
                "{} sh -c 'test -t 1 || echo out-not-$((6*7))' | cat\n",
                launch(f, who)
            )
            .as_bytes(),
        );
        at = p.expect_from(at, "out-not-42", TIMEOUT);
        p.send(b"exit\n");
        let _ = at;
        wait_timeout(&mut p.child, TIMEOUT).expect("bash did not exit");
    });
}
