//! nsinit on its own: as PID 1 of a fresh PID namespace (`unshare --pid
//! --fork --mount-proc`, with `--user --map-root-user` for the unprivileged
//! user) and as a subreaper (`nsinit -s`, no namespace at all). Every
//! scenario runs as root and as the unprivileged user.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nslaunch_tests::pty::{self, Pty};
use nslaunch_tests::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// PID 1 of a new PID namespace.
    Pid1,
    /// An ordinary process with `-s`.
    Subreaper,
}

const MODES: [Mode; 2] = [Mode::Pid1, Mode::Subreaper];

fn each(test: impl Fn(&Fixture, &Who)) {
    let Some(f) = fixture() else { return };
    for who in &f.who {
        eprintln!("--- as {}", who.label());
        test(f, who);
    }
}

/// `nsinit ARGS...` as `who` in `mode`.
fn nsinit(f: &Fixture, who: &Who, mode: Mode, args: &[&str]) -> Command {
    let mut c = match mode {
        Mode::Pid1 => {
            let mut c = Command::new("unshare");
            if !who.is_root() {
                c.args(["--user", "--map-root-user"]);
            }
            // --kill-child: if the test dies, unshare takes nsinit along.
            c.args(["--pid", "--fork", "--mount-proc", "--kill-child"])
                .arg(&f.nsinit);
            c
        }
        Mode::Subreaper => {
            let mut c = Command::new(&f.nsinit);
            c.arg("-s");
            c
        }
    };
    c.args(args);
    as_who(who, &mut c)
}

/// The nsinit process of a running `nsinit(...)` command.
fn init_pid(mode: Mode, running: &Running) -> i32 {
    match mode {
        Mode::Subreaper => running.pid(),
        Mode::Pid1 => {
            let deadline = Instant::now() + TIMEOUT;
            loop {
                if let Some(&pid) = children_of(running.pid()).first() {
                    return pid;
                }
                assert!(Instant::now() < deadline, "unshare never started nsinit");
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

/// The signal-catching helper, copied where the unprivileged user can run it.
fn catcher(f: &Fixture) -> String {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dst = f.scratch.join("bin/sigcatcher");
        fs::copy(env!("CARGO_BIN_EXE_sigcatcher"), &dst).unwrap();
        dst
    })
    .display()
    .to_string()
}

fn code(r: &Run) -> i32 {
    r.code()
}

#[test]
fn every_exit_status_passes_through_as_pid_1() {
    each(|f, who| {
        for status in 0..=255 {
            let r = run(
                nsinit(f, who, Mode::Pid1, &["sh", "-c", &format!("exit {status}")]),
                None,
            );
            assert_eq!(code(&r), status, "{r:?}");
        }
    });
}

#[test]
fn death_by_signal_is_128_plus_n() {
    each(|f, who| {
        for mode in MODES {
            for sig in [
                "HUP", "INT", "QUIT", "ABRT", "KILL", "USR1", "SEGV", "USR2", "PIPE", "ALRM",
                "TERM",
            ] {
                let r = run(
                    nsinit(f, who, mode, &["sh", "-c", &format!("kill -{sig} $$")]),
                    None,
                );
                let n = shared_signal(sig);
                assert_eq!(code(&r), 128 + n, "{mode:?} {sig}: {r:?}");
            }
        }
    });
}

fn shared_signal(name: &str) -> i32 {
    match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ABRT" => libc::SIGABRT,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        _ => panic!("{name}"),
    }
}

#[test]
fn every_catchable_signal_and_realtime_ones_reach_the_command() {
    each(|f, who| {
        for mode in MODES {
            let mut c = Running::start(nsinit(f, who, mode, &["--", &catcher(f)]));
            c.wait_line("ready");
            let init = init_pid(mode, &c);
            let mut sigs: Vec<i32> = (1..=31)
                .filter(|s| {
                    ![libc::SIGKILL, libc::SIGSTOP, libc::SIGCHLD, libc::SIGTERM].contains(s)
                })
                .collect();
            sigs.extend([libc::SIGRTMIN(), libc::SIGRTMIN() + 3, libc::SIGRTMAX()]);
            for sig in sigs {
                assert!(send_signal(init, sig));
                c.wait_line(&format!("got {sig}"));
            }
            assert!(send_signal(init, libc::SIGTERM));
            c.wait_line("got 15");
            let (st, _) = c.finish();
            assert_eq!(st.code(), Some(0), "{mode:?}");
        }
    });
}

#[test]
fn rewrites_change_or_drop_signals_by_flag_or_environment() {
    each(|f, who| {
        for mode in MODES {
            for by_env in [false, true] {
                let catcher = catcher(f);
                let mut cmd = if by_env {
                    let mut c = nsinit(f, who, mode, &["--", &catcher]);
                    c.env("NSINIT_REWRITE", "USR1:USR2,HUP:0");
                    c
                } else {
                    nsinit(
                        f,
                        who,
                        mode,
                        &[
                            "--rewrite",
                            "USR1:USR2",
                            "--rewrite",
                            "SIGHUP:0",
                            "--",
                            &catcher,
                        ],
                    )
                };
                cmd.env_remove("NSINIT_VERBOSE");
                let mut c = Running::start(cmd);
                c.wait_line("ready");
                let init = init_pid(mode, &c);
                send_signal(init, libc::SIGUSR1);
                c.wait_line(&format!("got {}", libc::SIGUSR2));
                send_signal(init, libc::SIGHUP);
                send_signal(init, libc::SIGINT);
                c.wait_line(&format!("got {}", libc::SIGINT));
                send_signal(init, libc::SIGTERM);
                let (st, seen) = c.finish();
                assert_eq!(st.code(), Some(0));
                assert!(
                    !seen.contains(&format!("got {}", libc::SIGHUP)),
                    "HUP not dropped: {seen:?}"
                );
                assert!(
                    !seen.contains(&format!("got {}", libc::SIGUSR1)),
                    "USR1 not rewritten: {seen:?}"
                );
            }
        }
    });
}

/// State letter of a host pid, or None once it is gone or a zombie.
fn running_state(pid: i32) -> Option<char> {
    process_state(pid).filter(|s| *s != 'Z' && *s != 'X')
}

fn wait_for(what: &str, cond: impl FnMut() -> bool) {
    wait_until(what, cond)
}

/// The signals pending for `pid`, its own and its thread group's
/// (SigPnd | ShdPnd of /proc/PID/status), as a bit set.
fn pending_signals(pid: i32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .filter_map(|l| {
            l.strip_prefix("SigPnd:")
                .or_else(|| l.strip_prefix("ShdPnd:"))
        })
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .fold(0, |a, b| a | b)
}

/// The parent pid of `pid`, from /proc/PID/stat.
fn parent_of(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// `pid` and all its descendants.
fn tree_of(pid: i32) -> Vec<i32> {
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        all.extend(children_of(all[i]));
        i += 1;
    }
    all
}

/// SIGKILLs the processes it holds when dropped (a failed test must not
/// leave a deadlocked nsinit behind).
struct KillOnDrop(Vec<i32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for &pid in &self.0 {
            send_signal(pid, libc::SIGKILL);
        }
    }
}

#[test]
fn a_stop_signal_as_the_command_starts_stops_it_and_sigcont_resumes_it() {
    // A Ctrl-Z can reach the command's child in the terminal's foreground
    // while it starts, before nsinit is back in its loop. forkstop makes
    // that happen every time: SIGTSTP reaches nsinit's child at its first
    // instruction after fork. The child must stop only once nsinit can
    // see it (before, it stopped while nsinit waited for it at the gate:
    // both stuck for good), and SIGCONT to nsinit must resume it.
    each(|f, who| {
        for mode in MODES {
            let inner = nsinit(f, who, mode, &["--", "sh", "-c", "echo ran-$((6*7))"]);
            // forkstop (src/bin/forkstop.rs) runs as the test does, nsinit as who.
            let mut c = Command::new(env!("CARGO_BIN_EXE_forkstop"));
            c.args(["nsinit", &libc::SIGTSTP.to_string()])
                .arg(inner.get_program())
                .args(inner.get_args())
                .envs(inner.get_envs().filter_map(|(k, v)| Some((k, v?))));
            let mut c = Running::start(c);
            let mut stopped = None;
            wait_for(&format!("{mode:?}: the command's child to stop"), || {
                stopped = tree_of(c.pid())
                    .into_iter()
                    .find(|&p| running_state(p) == Some('T'));
                stopped.is_some()
            });
            let init = parent_of(stopped.unwrap()).expect("nsinit");
            let _guard = KillOnDrop(vec![init]);
            send_signal(init, libc::SIGCONT);
            c.wait_line("ran-42");
            let (st, _) = c.finish();
            assert_eq!(st.code(), Some(0), "{mode:?}");
        }
    });
}

#[test]
fn process_group_mode_reaches_a_grandchild_the_default_does_not() {
    // Host pids are needed to watch the grandchild: subreaper mode.
    each(|f, who| {
        for group in [true, false] {
            let script = "trap 'echo got-usr1' USR1; sleep 1000 & echo child=$!; \
                          while :; do sleep 0.05; done";
            let mut args = vec![];
            if group {
                args.push("-g");
            }
            args.extend(["--", "sh", "-c", script]);
            let mut c = Running::start(nsinit(f, who, Mode::Subreaper, &args));
            let child: i32 = c.wait_prefix("child=").parse().unwrap();
            assert!(running_state(child).is_some());
            // Until the grandchild has exec'd sleep, it is a copy of sh
            // that may still run sh's USR1 trap instead of dying of it.
            wait_for("the grandchild to exec sleep", || {
                fs::read_to_string(format!("/proc/{child}/comm")).is_ok_and(|c| c.trim() == "sleep")
            });
            send_signal(c.pid(), libc::SIGUSR1);
            c.wait_line("got-usr1");
            if group {
                wait_for("the grandchild to die of SIGUSR1", || {
                    running_state(child).is_none()
                });
            } else {
                // nsinit forwarded USR1 before sh's trap ran: had it gone
                // to the group, the grandchild would already be dying or
                // have it pending (a fatal signal shows as SIGKILL).
                assert!(
                    running_state(child).is_some() && pending_signals(child) == 0,
                    "default mode reached the grandchild"
                );
            }
            send_signal(c.pid(), libc::SIGTERM);
            let (st, _) = c.finish();
            assert_eq!(st.code(), Some(143));
            assert!(running_state(child).is_none(), "grandchild left behind");
        }
    });
}

/// A script that orphans `n` processes to nsinit (its parent, PID 1 or
/// a subreaper), prints `orphans=` (nsinit's children but the script:
/// exactly `n` when all were re-parented), kills them, waits (20 s at
/// most) until nsinit has reaped every one, and prints how many are left
/// (`left=`) and how many of those are zombies (`zombies=`).
fn orphans_script(n: u32) -> String {
    format!(
        r#"
        p=$PPID me=$$
        orphans() {{ cat /proc/[0-9]*/stat 2>/dev/null | awk -v p=$p -v me=$me '$4 == p && $1 != me {{ print $1 }}'; }}
        for i in $(seq {n}); do (sleep 1000 &); done
        pids=$(orphans)
        echo orphans=$(echo $pids | wc -w)
        kill $pids
        i=0
        while [ -n "$(orphans)" ] && [ $i -lt 400 ]; do i=$((i + 1)); sleep 0.05; done
        echo left=$(orphans | wc -l)
        echo zombies=$(cat /proc/[0-9]*/stat 2>/dev/null | awk -v p=$p '$3 == "Z" && $4 == p' | wc -l)
        "#
    )
}

#[test]
fn a_thousand_orphans_are_reaped_and_none_is_left() {
    each(|f, who| {
        for mode in MODES {
            let r = run(
                nsinit(f, who, mode, &["sh", "-c", &orphans_script(1000)]),
                None,
            );
            assert_eq!(code(&r), 0, "{mode:?}: {r:?}");
            assert_eq!(
                r.number("orphans="),
                1000,
                "{mode:?}: orphans did not reach nsinit: {r:?}"
            );
            assert_eq!(r.number("left="), 0, "{mode:?}: orphans not reaped: {r:?}");
            assert_eq!(r.number("zombies="), 0, "{mode:?}: zombies left: {r:?}");
        }
    });
}

#[test]
fn graceful_stop_waits_the_grace_period_only_for_what_ignores_sigterm() {
    each(|f, who| {
        for mode in MODES {
            // Ignores SIGTERM (the ignore is inherited by its sleeps): it
            // is SIGKILLed when the grace period ends, not before.
            let grace = Duration::from_secs(2);
            let mut c = Running::start(nsinit(
                f,
                who,
                mode,
                &[
                    "-v",
                    "--grace",
                    "2s",
                    "sh",
                    "-c",
                    "trap '' TERM; echo ready; while :; do sleep 0.05; done",
                ],
            ));
            c.wait_line("ready");
            let init = init_pid(mode, &c);
            let t0 = Instant::now();
            send_signal(init, libc::SIGTERM);
            let (st, _) = c.finish();
            let took = t0.elapsed();
            assert_eq!(st.code(), Some(137), "{mode:?}");
            assert!(
                took >= grace,
                "{mode:?}: killed before the grace period: {took:?}"
            );
            assert!(took < grace + Duration::from_secs(4), "{mode:?}: {took:?}");

            // Exits on SIGTERM: nsinit follows at once, long before 10 s.
            let mut c = Running::start(nsinit(
                f,
                who,
                mode,
                &["sh", "-c", "echo ready; sleep 1000"],
            ));
            c.wait_line("ready");
            let init = init_pid(mode, &c);
            let t0 = Instant::now();
            send_signal(init, libc::SIGTERM);
            let (st, _) = c.finish();
            assert_eq!(st.code(), Some(143), "{mode:?}");
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "{mode:?}: {:?}",
                t0.elapsed()
            );
        }
    });
}

#[test]
fn verbose_shows_the_stop_sequence_in_order() {
    each(|f, who| {
        let r = run(
            nsinit(
                f,
                who,
                Mode::Pid1,
                &[
                    "-v",
                    "--grace",
                    "1s",
                    "sh",
                    "-c",
                    // The background job ignores TERM (its exec'd sleep
                    // inherits that) before the command exits.
                    "(trap '' TERM; exec sleep 30) & \
                     while [ \"$(cat /proc/$!/comm)\" != sleep ]; do :; done; exit 5",
                ],
            ),
            None,
        );
        assert_eq!(code(&r), 5, "{r:?}");
        let pos = |needle: &str| {
            r.stderr
                .find(needle)
                .unwrap_or_else(|| panic!("no {needle:?} in {}", r.stderr))
        };
        let started = pos("started");
        let exited = pos("exited with status 5");
        let stopping = pos("stopping");
        let kill = pos("grace period over");
        let done = pos("exiting with status 5");
        assert!(
            started < exited && exited < stopping && stopping < kill && kill < done,
            "{}",
            r.stderr
        );
        assert!(
            r.stderr.lines().all(|l| l.starts_with("nsinit[+")),
            "{}",
            r.stderr
        );
    });
}

#[test]
fn the_parent_death_signal_stops_nsinit() {
    each(|f, who| {
        let nsinit_path = f.nsinit.display().to_string();
        let script = format!("{nsinit_path} -s -p TERM -- sh -c 'echo ready; exec sleep 1000' & echo nsinit=$!; wait");
        let mut c = Running::start(as_who(who, Command::new("sh").args(["-c", &script])));
        let init: i32 = c.wait_prefix("nsinit=").parse().unwrap();
        c.wait_prefix("ready");
        let sleeper = *children_of(init).first().expect("the command");
        assert!(running_state(init).is_some());
        c.signal(libc::SIGKILL); // the parent dies
        let _ = c.finish();
        wait_for("nsinit to stop after its parent died", || {
            running_state(init).is_none()
        });
        wait_for("the command to be gone", || {
            running_state(sleeper).is_none()
        });
    });
}

#[test]
fn job_control_works_for_a_shell_under_nsinit_on_a_terminal() {
    each(|f, who| {
        for mode in MODES {
            // nsinit leads the terminal's session, as an image's init does
            // under `docker run -it`: as PID 1 through `setsid --ctty`.
            let mut p = match mode {
                Mode::Pid1 => {
                    let mut c = Command::new("unshare");
                    if !who.is_root() {
                        c.args(["--user", "--map-root-user"]);
                    }
                    c.args([
                        "--pid",
                        "--fork",
                        "--mount-proc",
                        "--kill-child",
                        "setsid",
                        "--ctty",
                    ])
                    .arg(&f.nsinit)
                    .args(["--", "sh", "-i"])
                    .env("PS1", "prompt$ ");
                    Pty::spawn_without_ctty(as_who(who, &mut c))
                }
                Mode::Subreaper => {
                    let mut c = nsinit(f, who, mode, &["--", "sh", "-i"]);
                    c.env("PS1", "prompt$ ");
                    Pty::spawn(c)
                }
            };
            let mut at = p.expect_from(0, "prompt$ ", TIMEOUT);
            let top = p.child.id() as i32;
            p.send(b"sleep 100\n");
            wait_foreground_job(top, "sleep");
            p.send(b"\x1a"); // Ctrl-Z
            at = p.expect_from(at, "Stopped", TIMEOUT);
            p.send(b"fg\n");
            wait_foreground_job(top, "sleep");
            p.send(b"\x03"); // Ctrl-C: the job, not the shell
            p.send(b"echo alive-$((6*7))\n");
            at = p.expect_from(at, "alive-42", TIMEOUT);
            p.send(b"exit 3\n");
            let _ = p.expect_from(at, "exit", TIMEOUT);
            let st = wait_timeout(&mut p.child, TIMEOUT).expect("nsinit did not exit");
            assert_eq!(st.code(), Some(3), "{mode:?}:\n{}", p.screen);
        }
    });
}

#[test]
fn ctrl_z_suspends_nsinit_with_its_command_for_the_callers_shell() {
    // A job of an interactive shell: Ctrl-Z stops the command, nsinit stops
    // with it so the shell gets its prompt back, `fg` resumes both.
    each(|f, who| {
        let nsinit_path = f.nsinit.display().to_string();
        let (mut p, mut at) = pty::bash(who);
        let bash = p.child.id() as i32;
        p.send(format!("{nsinit_path} -s -- sleep 100\n").as_bytes());
        // nsinit gave the command the terminal's foreground.
        wait_foreground_job(bash, "sleep");
        p.send(b"\x1a");
        at = p.expect_from(at, "Stopped", TIMEOUT);
        at = p.expect_from(at, "prompt$ ", TIMEOUT);
        p.send(b"fg\n");
        // The shell resumed nsinit, which gave the foreground back.
        wait_foreground_job(bash, "sleep");
        p.send(b"\x03");
        at = p.expect_from(at, "prompt$ ", TIMEOUT);
        p.send(b"echo rc=$?\n");
        at = p.expect_from(at, "rc=130", TIMEOUT);
        p.send(b"exit\n");
        let _ = at;
        wait_timeout(&mut p.child, TIMEOUT).expect("bash did not exit");
    });
}

#[test]
fn ctrl_z_on_a_job_brought_to_the_foreground_stops_nsinit_and_its_command() {
    // `nsinit -s -- server &`, then `fg`: the command never had the
    // terminal, so Ctrl-Z reaches nsinit's group alone. nsinit forwards it
    // and stops once the command has: the shell sees its job stopped and
    // gives its prompt back (before, the shell waited for good, the command
    // stopped behind it); `bg` and `fg` resume both.
    each(|f, who| {
        let nsinit_path = f.nsinit.display().to_string();
        let (mut p, mut at) = pty::bash(who);
        let bash = p.child.id() as i32;
        p.send(format!("{nsinit_path} -s -- sleep 100 &\n").as_bytes());
        at = p.expect_from(at, "prompt$ ", TIMEOUT);
        let init = wait_descendant(bash, "nsinit", |s| s.comm == "nsinit");
        let sleep = wait_descendant(init, "the command", |s| s.comm == "sleep");
        let _guard = KillOnDrop(vec![init, sleep]);
        p.send(b"fg\n");
        wait_foreground_job(bash, "nsinit");
        p.send(b"\x1a");
        at = p.expect_from(at, "Stopped", TIMEOUT);
        at = p.expect_from(at, "prompt$ ", TIMEOUT);
        wait_for("nsinit and its command to be stopped", || {
            running_state(init) == Some('T') && running_state(sleep) == Some('T')
        });
        p.send(b"bg\n");
        at = p.expect_from(at, "prompt$ ", TIMEOUT);
        wait_for("both to run again", || {
            running_state(init) == Some('S') && running_state(sleep) == Some('S')
        });
        p.send(b"fg\n");
        wait_foreground_job(bash, "nsinit");
        p.send(b"\x03");
        at = p.expect_from(at, "prompt$ ", TIMEOUT);
        p.send(b"echo rc=$?\n");
        at = p.expect_from(at, "rc=130", TIMEOUT);
        p.send(b"exit\n");
        let _ = at;
        wait_timeout(&mut p.child, TIMEOUT).expect("bash did not exit");
    });
}

#[test]
fn stop_and_continue_signals_suspend_and_resume_the_command() {
    each(|f, who| {
        let mut c = Running::start(nsinit(
            f,
            who,
            Mode::Subreaper,
            &["sh", "-c", "echo ready; exec sleep 1000"],
        ));
        c.wait_line("ready");
        let cmd = *children_of(c.pid()).first().unwrap();
        for (sig, want) in [
            (libc::SIGTSTP, 'T'),
            (libc::SIGCONT, 'S'),
            (libc::SIGTTIN, 'T'),
            (libc::SIGCONT, 'S'),
            (libc::SIGTTOU, 'T'),
            (libc::SIGCONT, 'S'),
        ] {
            send_signal(c.pid(), sig);
            wait_for(&format!("state {want} after signal {sig}"), || {
                process_state(cmd) == Some(want)
            });
        }
        send_signal(c.pid(), libc::SIGTERM);
        assert_eq!(c.finish().0.code(), Some(143));
    });
}

/// Whether `pid` has handled `sig` and waits in poll again: nothing of
/// it pending (nor a SIGCHLD), blocked in poll(2). Whatever nsinit does
/// on `sig` is then done.
fn settled(pid: i32, sig: i32) -> bool {
    let bits = (1u64 << (sig - 1)) | (1u64 << (libc::SIGCHLD - 1));
    pending_signals(pid) & bits == 0 && blocked_in_poll(pid)
}

/// `nsinit [-g] -- sh -c 'sleep 1000 & ...'`: nsinit, the command (sh) and
/// its child (sleep), host pids, once the child has exec'd sleep.
fn job(f: &Fixture, who: &Who, mode: Mode, args: &[&str]) -> (Running, i32, i32, i32) {
    let mut all = args.to_vec();
    all.extend(["--", "sh", "-c", "sleep 1000 & echo child=$!; wait"]);
    let mut c = Running::start(nsinit(f, who, mode, &all));
    let child: i32 = c.wait_prefix("child=").parse().unwrap();
    let init = init_pid(mode, &c);
    let cmd = *children_of(init).first().expect("the command");
    let grandchild = match mode {
        Mode::Subreaper => child,
        // $! is a pid of the new namespace: the host's is sh's child.
        Mode::Pid1 => {
            let mut kids = Vec::new();
            wait_for("the command's child", || {
                kids = children_of(cmd);
                !kids.is_empty()
            });
            kids[0]
        }
    };
    wait_for("the command's child to exec sleep", || {
        fs::read_to_string(format!("/proc/{grandchild}/comm")).is_ok_and(|c| c.trim() == "sleep")
    });
    (c, init, cmd, grandchild)
}

#[test]
fn job_control_signals_stop_the_command_then_nsinit_and_sigcont_resumes_both() {
    // What a shell (Ctrl-Z on `nsinit -s -- server &` brought to the
    // foreground) or a supervisor does: SIGTSTP, SIGTTIN or SIGTTOU to
    // nsinit. With -g the command's whole group stops, else the command
    // alone; then nsinit stops, so that the shell sees its job stopped;
    // SIGCONT to nsinit resumes both. As PID 1 of its namespace nsinit
    // cannot stop itself (the kernel ignores it, whatever it tries): the
    // command stops, nsinit goes on, and only a SIGSTOP from outside (the
    // test, here) stops it.
    each(|f, who| {
        for mode in MODES {
            for group in [false, true] {
                for sig in [libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU] {
                    let case = format!("{mode:?} group={group} signal {sig}");
                    let flags: &[&str] = if group { &["-g"] } else { &[] };
                    let (c, init, cmd, grandchild) = job(f, who, mode, flags);
                    let _guard = KillOnDrop(vec![init, cmd, grandchild]);
                    let state = |pid| running_state(pid).unwrap_or('-');
                    send_signal(init, sig);
                    wait_for(&format!("{case}: the command to stop"), || {
                        state(cmd) == 'T'
                    });
                    match mode {
                        Mode::Subreaper => {
                            wait_for(&format!("{case}: nsinit to stop"), || state(init) == 'T');
                        }
                        Mode::Pid1 => {
                            wait_for(&format!("{case}: nsinit to handle it"), || {
                                settled(init, sig)
                            });
                            assert_ne!(state(init), 'T', "{case}");
                            send_signal(init, libc::SIGSTOP);
                            wait_for(
                                &format!("{case}: a SIGSTOP from outside to stop nsinit"),
                                || state(init) == 'T',
                            );
                        }
                    }
                    if group {
                        wait_for(&format!("{case}: the whole group to stop"), || {
                            state(grandchild) == 'T'
                        });
                    } else {
                        assert_ne!(state(grandchild), 'T', "{case}: not the command's child");
                    }
                    send_signal(init, libc::SIGCONT);
                    wait_for(&format!("{case}: all to resume"), || {
                        [init, cmd, grandchild]
                            .iter()
                            .all(|&p| matches!(state(p), 'S' | 'R'))
                    });
                    send_signal(init, libc::SIGTERM);
                    assert_eq!(c.finish().0.code(), Some(143), "{case}");
                }
            }
        }
    });
}

#[test]
fn nsinit_stops_only_once_the_command_has() {
    // A command that handles SIGTSTP (an editor restoring the terminal)
    // stops itself later: nsinit waits for it, and does not stop at all
    // while the command does not.
    each(|f, who| {
        let dir = f.dir(who, "tstp-later");
        let fifo = dir.join("go");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        nix::unistd::chown(
            &fifo,
            Some(nix::unistd::Uid::from_raw(who.uid())),
            Some(nix::unistd::Gid::from_raw(who.gid())),
        )
        .unwrap();
        let script = format!(
            "trap 'echo got-tstp; read x < {}; kill -STOP $$' TSTP; echo ready; \
             while :; do sleep 0.05; done",
            fifo.display()
        );
        let mut c = Running::start(nsinit(f, who, Mode::Subreaper, &["sh", "-c", &script]));
        c.wait_line("ready");
        let init = c.pid();
        let cmd = *children_of(init).first().unwrap();
        let _guard = KillOnDrop(vec![init, cmd]);
        send_signal(init, libc::SIGTSTP);
        c.wait_line("got-tstp");
        wait_for("nsinit to handle SIGTSTP", || settled(init, libc::SIGTSTP));
        assert_ne!(
            running_state(init),
            Some('T'),
            "nsinit stopped before the command"
        );
        fs::write(&fifo, "go\n").unwrap();
        wait_for("the command to stop itself", || {
            running_state(cmd) == Some('T')
        });
        wait_for("nsinit to stop after it", || {
            running_state(init) == Some('T')
        });
        send_signal(init, libc::SIGCONT);
        wait_for("both to resume", || {
            running_state(init) != Some('T') && running_state(cmd) != Some('T')
        });
        send_signal(init, libc::SIGTERM);
        assert_eq!(c.finish().0.code(), Some(143));
    });
}

#[test]
fn the_rewrite_of_a_stop_signal_decides_whether_nsinit_stops() {
    // The catcher handles SIGTSTP: it never stops, nor does nsinit.
    // Rewritten to SIGSTOP (as dumb-init does by default) it stops, and
    // nsinit with it; rewritten to another signal, or dropped, nothing
    // stops.
    each(|f, who| {
        for mode in MODES {
            for (rewrite, got, stops) in [
                (None, Some(libc::SIGTSTP), false),
                (Some("TSTP:STOP"), None, true),
                (Some("TSTP:USR1"), Some(libc::SIGUSR1), false),
                (Some("TSTP:0"), None, false),
            ] {
                let case = format!("{mode:?} {rewrite:?}");
                let catcher = catcher(f);
                let mut args = vec![];
                if let Some(r) = rewrite {
                    args.extend(["--rewrite", r]);
                }
                args.extend(["--", &catcher]);
                let mut c = Running::start(nsinit(f, who, mode, &args));
                c.wait_line("ready");
                let init = init_pid(mode, &c);
                let cmd = *children_of(init).first().unwrap();
                let _guard = KillOnDrop(vec![init, cmd]);
                send_signal(init, libc::SIGTSTP);
                if let Some(sig) = got {
                    c.wait_line(&format!("got {sig}"));
                }
                if stops {
                    wait_for(&format!("{case}: the command to stop"), || {
                        running_state(cmd) == Some('T')
                    });
                    if mode == Mode::Subreaper {
                        wait_for(&format!("{case}: nsinit to stop"), || {
                            running_state(init) == Some('T')
                        });
                    }
                    send_signal(init, libc::SIGCONT);
                    wait_for(&format!("{case}: both to resume"), || {
                        running_state(init) != Some('T') && running_state(cmd) != Some('T')
                    });
                } else {
                    wait_for(&format!("{case}: nsinit to handle it"), || {
                        settled(init, libc::SIGTSTP)
                    });
                    assert_ne!(running_state(init), Some('T'), "{case}: nsinit stopped");
                    assert_ne!(running_state(cmd), Some('T'), "{case}: the command stopped");
                }
                send_signal(init, libc::SIGTERM);
                let (st, seen) = c.finish();
                assert_eq!(st.code(), Some(0), "{case}: {seen:?}");
            }
        }
    });
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// One request to the counting service on `port`: its count (1 for the
/// first request), or None when it does not answer.
fn request(port: u16) -> Option<u32> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(TIMEOUT)).ok()?;
    s.write_all(b"GET /cgi-bin/count HTTP/1.0\r\n\r\n").ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    answer.lines().last()?.trim().parse().ok()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    Nsinit(Mode),
    /// `nslaunch --stop-delay`, which passes it on to its nsinit.
    Nslaunch,
}

/// The processes a signal goes through, `way`: nsinit, or nslaunch then
/// its nsinit.
fn relays(way: Way, c: &Running) -> Vec<i32> {
    match way {
        Way::Nsinit(mode) => vec![init_pid(mode, c)],
        Way::Nslaunch => {
            let init = *children_of(c.pid()).first().expect("nslaunch's nsinit");
            vec![c.pid(), init]
        }
    }
}

/// Wait until each of `relays`, in order, has taken `sig` and sleeps
/// again: it has then passed it on, or, for nsinit, acted on it. (Two
/// signals sent before it reads them could arrive as one, or in the
/// other order: standard signals are read lowest number first.)
fn wait_handled(relays: &[i32], sig: i32) {
    for &pid in relays {
        wait_for(&format!("{pid} to handle signal {sig}"), || {
            pending_signals(pid) & (1u64 << (sig - 1)) == 0 && process_state(pid) == Some('S')
        });
    }
}

/// A counting web service (busybox httpd and a CGI script) with a stop
/// delay of `delay`, run `way`, answering on its port: the running
/// service, the pids a signal goes through (the first to signal) and the
/// port.
fn counting_service(
    f: &Fixture,
    who: &Who,
    way: Way,
    delay: &str,
    tag: &str,
) -> (Running, Vec<i32>, u16) {
    let port = free_port();
    let name: String = format!("www-{tag}-{way:?}")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let www = f.dir(who, &name);
    fs::create_dir(www.join("cgi-bin")).unwrap();
    nix::unistd::chown(
        &www.join("cgi-bin"),
        Some(nix::unistd::Uid::from_raw(who.uid())),
        Some(nix::unistd::Gid::from_raw(who.gid())),
    )
    .unwrap();
    let (root, count) = match way {
        Way::Nsinit(_) => (
            www.display().to_string(),
            www.join("n").display().to_string(),
        ),
        Way::Nslaunch => ("/www".to_string(), "/tmp/n".to_string()),
    };
    let script = www.join("cgi-bin/count");
    write_as(
        who,
        &script,
        &format!(
            "#!/bin/sh\nn=$(( $(cat {count} 2>/dev/null || echo 0) + 1 ))\necho $n > {count}\n\
             printf 'Content-Type: text/plain\\r\\n\\r\\n%s\\n' $n\n"
        ),
    );
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let listen = format!("127.0.0.1:{port}");
    let httpd = ["httpd", "-f", "-p", &listen, "-h", &root];
    let cmd = match way {
        Way::Nsinit(mode) => {
            let busybox = f.rootfs(who).join("bin/busybox").display().to_string();
            let mut args = vec!["--stop-delay", delay, "--", &busybox];
            args.extend(httpd);
            nsinit(f, who, mode, &args)
        }
        Way::Nslaunch => {
            let volume = format!("{}:/www", www.display());
            let mut args = vec![
                "--stop-delay",
                delay,
                "-v",
                &volume,
                "--tmpfs",
                "/tmp",
                "--",
            ];
            args.extend(httpd);
            f.nslaunch(who, &args)
        }
    };
    let c = Running::start(cmd);
    wait_for(&format!("{way:?}: the service to answer"), || {
        request(port).is_some()
    });
    let relays = relays(way, &c);
    (c, relays, port)
}

const WAYS: [Way; 3] = [
    Way::Nsinit(Mode::Pid1),
    Way::Nsinit(Mode::Subreaper),
    Way::Nslaunch,
];

#[test]
fn a_stop_delay_keeps_the_service_answering_then_stops_it() {
    each(|f, who| {
        for way in WAYS {
            let delay = Duration::from_millis(1500);
            let (c, relays, port) = counting_service(f, who, way, "1500ms", "drain");
            let mut last = request(port).expect("an answer");
            let t0 = Instant::now();
            send_signal(relays[0], libc::SIGTERM);
            let mut late = 0;
            let stopped = loop {
                match request(port) {
                    Some(n) => {
                        assert_eq!(n, last + 1, "{way:?}: the count");
                        last = n;
                        late += usize::from(t0.elapsed() > delay / 2);
                    }
                    None => break t0.elapsed(),
                }
                assert!(t0.elapsed() < delay + TIMEOUT, "{way:?}: still answering");
                // Pacing, not synchronisation: a request every 50 ms.
                std::thread::sleep(Duration::from_millis(50));
            };
            assert!(stopped >= delay, "{way:?}: stopped after {stopped:?}");
            assert!(
                late > 0,
                "{way:?}: no answer in the second half of the delay"
            );
            // httpd dies of the SIGTERM, as it would without a delay.
            assert_eq!(c.finish().0.code(), Some(143), "{way:?}");
        }
    });
}

#[test]
fn during_a_stop_delay_a_second_signal_or_the_commands_exit_ends_it() {
    each(|f, who| {
        for way in WAYS {
            // A second SIGTERM, or a SIGINT: the stop begins at once.
            for second in [libc::SIGTERM, libc::SIGINT] {
                let case = format!("{way:?} then signal {second}");
                let (c, relays, port) = counting_service(f, who, way, "60s", "cut");
                let t0 = Instant::now();
                send_signal(relays[0], libc::SIGTERM);
                wait_handled(&relays, libc::SIGTERM);
                let n = request(port).expect("an answer during the delay");
                assert!(n >= 2, "{case}: {n}");
                send_signal(relays[0], second);
                assert_eq!(c.finish().0.code(), Some(143), "{case}");
                assert!(t0.elapsed() < Duration::from_secs(30), "{case}");
            }
            // The command exits during the delay: nsinit with its status.
            let script = "trap 'exit 3' USR1; echo ready; while :; do sleep 0.05; done";
            let mut c = Running::start(match way {
                Way::Nsinit(mode) => {
                    nsinit(f, who, mode, &["--stop-delay", "60s", "sh", "-c", script])
                }
                Way::Nslaunch => f.nslaunch(who, &["--stop-delay", "60s", "sh", "-c", script]),
            });
            c.wait_line("ready");
            let relays = relays(way, &c);
            let t0 = Instant::now();
            send_signal(relays[0], libc::SIGTERM);
            wait_handled(&relays, libc::SIGTERM);
            send_signal(relays[0], libc::SIGUSR1);
            assert_eq!(c.finish().0.code(), Some(3), "{way:?}");
            assert!(t0.elapsed() < Duration::from_secs(30), "{way:?}");
        }
    });
}

#[test]
fn exec_failures_are_126_and_127_with_a_message() {
    each(|f, who| {
        for mode in MODES {
            let r = run(nsinit(f, who, mode, &["no-such-command-here"]), None);
            assert_eq!(code(&r), 127, "{r:?}");
            assert!(
                r.stderr
                    .contains("nsinit: no-such-command-here: command not found"),
                "{r:?}"
            );
            let r = run(nsinit(f, who, mode, &["/no/such/file"]), None);
            assert_eq!(code(&r), 127, "{r:?}");
            assert!(r.stderr.contains("/no/such/file"), "{r:?}");
            let r = run(nsinit(f, who, mode, &["/etc/passwd"]), None);
            assert_eq!(code(&r), 126, "{r:?}");
            assert!(r.stderr.contains("/etc/passwd"), "{r:?}");
        }
    });
}

#[test]
fn the_command_and_its_arguments_are_bytes() {
    each(|f, who| {
        // A directory of PATH, a command and its argument, none UTF-8.
        let dir = f.dir(who, "nsinit-bytes");
        let bin = dir.join(OsStr::from_bytes(b"b\xefn"));
        fs::create_dir(&bin).unwrap();
        nix::unistd::chown(
            &bin,
            Some(nix::unistd::Uid::from_raw(who.uid())),
            Some(nix::unistd::Gid::from_raw(who.gid())),
        )
        .unwrap();
        let script = bin.join(OsStr::from_bytes(b"mk\xe9"));
        write_as(who, &script, "#!/bin/sh\ntouch \"$1\"\n");
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        let mut path = std::ffi::OsString::from("/usr/bin:/bin:");
        path.push(&bin);
        for mode in MODES {
            let mut c = nsinit(f, who, mode, &["--", "echo"]);
            c.arg(OsStr::from_bytes(b"caf\xe9"));
            let (code, out, err) = run_bytes(c);
            assert_eq!(
                (code, out.as_slice()),
                (Some(0), &b"caf\xe9\n"[..]),
                "{mode:?}: {err}"
            );

            let made = dir.join(OsStr::from_bytes(b"caf\xe9"));
            let mut c = nsinit(f, who, mode, &["--"]);
            c.arg(OsStr::from_bytes(b"mk\xe9"))
                .arg(&made)
                .env("PATH", &path);
            let (code, _, err) = run_bytes(c);
            assert_eq!(code, Some(0), "{mode:?}: {err}");
            assert!(made.is_file(), "{mode:?}: no {made:?}: {err}");
            fs::remove_file(&made).unwrap();
        }
        fs::remove_dir_all(&dir).unwrap();
    });
}

/// `cmd` started with exactly descriptors 0 to 2, plus 3 to 3+`open`-1 on
/// /dev/null: every other number is closed.
fn with_fds(mut cmd: Command, open: i32) -> Command {
    // SAFETY: between fork and exec only close_range and open, which are
    // async-signal-safe; the path is a static C string.
    unsafe {
        cmd.pre_exec(move || {
            libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
            for _ in 0..open {
                // The lowest free number: 3, then 4 ...
                if libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    cmd
}

#[test]
fn preserve_fds_refuses_descriptors_that_are_not_open() {
    each(|f, who| {
        for mode in MODES {
            // 3 closed: nsinit's own signalfd or pipes would take it, and be
            // closed as the caller's once the command starts.
            for (n, open, closed) in [(1, 0, 3), (3, 0, 3), (3, 2, 5)] {
                let arg = n.to_string();
                let c = nsinit(
                    f,
                    who,
                    mode,
                    &["--preserve-fds", &arg, "--", "sh", "-c", "echo RAN"],
                );
                let r = run(with_fds(c, open), None);
                let ctx = format!(
                    "{mode:?} --preserve-fds {n} with 3..{} open: {r:?}",
                    2 + open
                );
                assert_eq!(code(&r), 125, "{ctx}");
                assert_eq!(r.stdout, "", "{ctx}");
                let errors: Vec<&str> = lines(&r.stderr)
                    .into_iter()
                    .filter(|l| !l.contains("warning"))
                    .collect();
                assert_eq!(errors.len(), 1, "{ctx}");
                assert!(
                    errors[0].starts_with(&format!(
                        "nsinit: --preserve-fds {n}: descriptor {closed} is not open"
                    )),
                    "{ctx}"
                );
            }
            // Open ones pass, and only they; nsinit still hears SIGTERM.
            let c = nsinit(
                f,
                who,
                mode,
                &[
                    "--preserve-fds",
                    "2",
                    "--",
                    "sh",
                    "-c",
                    "for n in 3 4 5 6; do [ -e /proc/self/fd/$n ] && echo open-$n; done; \
                     echo ready; exec sleep 1000",
                ],
            );
            let mut c = Running::start(with_fds(c, 4));
            c.wait_line("ready");
            assert_eq!(c.seen, ["open-3", "open-4", "ready"], "{mode:?}");
            send_signal(init_pid(mode, &c), libc::SIGTERM);
            assert_eq!(c.finish().0.code(), Some(143), "{mode:?}");
        }
    });
}

#[test]
fn success_statuses_by_flag_or_environment() {
    each(|f, who| {
        let r = run(
            nsinit(
                f,
                who,
                Mode::Subreaper,
                &["-e", "3", "-e", "143", "sh", "-c", "exit 3"],
            ),
            None,
        );
        assert_eq!(code(&r), 0, "{r:?}");
        let r = run(
            nsinit(
                f,
                who,
                Mode::Subreaper,
                &["--success-status", "143", "sh", "-c", "kill $$"],
            ),
            None,
        );
        assert_eq!(code(&r), 0, "{r:?}");
        let mut c = nsinit(f, who, Mode::Subreaper, &["sh", "-c", "exit 4"]);
        c.env("NSINIT_SUCCESS_STATUS", "4");
        assert_eq!(code(&run(c, None)), 0);
        let r = run(
            nsinit(f, who, Mode::Subreaper, &["-e", "3", "sh", "-c", "exit 4"]),
            None,
        );
        assert_eq!(code(&r), 4, "{r:?}");
    });
}

#[test]
fn warns_once_when_neither_pid_1_nor_a_subreaper() {
    each(|f, who| {
        let mut c = Command::new(&f.nsinit);
        c.args(["sh", "-c", "true"]);
        let r = run(as_who(who, &mut c), None);
        assert_eq!(code(&r), 0);
        assert_eq!(
            r.stderr.matches("not PID 1 and not a subreaper").count(),
            1,
            "{r:?}"
        );
        for mode in MODES {
            let r = run(nsinit(f, who, mode, &["true"]), None);
            assert!(!r.stderr.contains("warning"), "{mode:?}: {r:?}");
        }
        let mut c = Command::new(&f.nsinit);
        c.args(["true"]).env("NSINIT_SUBREAPER", "1");
        let r = run(as_who(who, &mut c), None);
        assert!(
            !r.stderr.contains("warning"),
            "NSINIT_SUBREAPER=1 ignored: {r:?}"
        );
    });
}

#[test]
fn nsinit_frees_the_callers_directory_but_the_command_starts_there() {
    each(|f, who| {
        let dir = f.scratch.join(format!("cwd-{}", who.uid()));
        fs::create_dir_all(&dir).unwrap();
        nix::unistd::chown(&dir, Some(nix::unistd::Uid::from_raw(who.uid())), None).unwrap();
        let mut c = nsinit(
            f,
            who,
            Mode::Subreaper,
            &["sh", "-c", "pwd; echo ready; exec sleep 1000"],
        );
        c.current_dir(&dir);
        let mut r = Running::start(c);
        r.wait_line("ready");
        assert_eq!(r.seen[0], dir.display().to_string());
        // nsinit moves to / right after the fork; the command may print
        // before that.
        wait_for("nsinit to leave the caller's directory", || {
            fs::read_link(format!("/proc/{}/cwd", r.pid())).ok() == Some(PathBuf::from("/"))
        });
        send_signal(r.pid(), libc::SIGTERM);
        let _ = r.finish();
        fs::remove_dir_all(&dir).unwrap();
    });
}

/// Whether `pid` sleeps in poll(2) or ppoll(2) (/proc/PID/syscall: the
/// number of the syscall it is blocked in).
fn blocked_in_poll(pid: i32) -> bool {
    let polls = [
        #[cfg(target_arch = "x86_64")]
        libc::SYS_poll,
        libc::SYS_ppoll,
    ];
    process_state(pid) == Some('S')
        && fs::read_to_string(format!("/proc/{pid}/syscall")).is_ok_and(|s| {
            s.split_whitespace()
                .next()
                .and_then(|n| n.parse::<libc::c_long>().ok())
                .is_some_and(|n| polls.contains(&n))
        })
}

#[test]
fn an_idle_nsinit_never_wakes_up() {
    each(|f, who| {
        for mode in MODES {
            // A stop delay sets a timer only once SIGTERM comes.
            let mut c = Running::start(nsinit(
                f,
                who,
                mode,
                &[
                    "--stop-delay",
                    "1s",
                    "sh",
                    "-c",
                    "echo ready; exec sleep 1000",
                ],
            ));
            c.wait_line("ready");
            let init = init_pid(mode, &c);
            // The command runs; nsinit has finished starting it once it
            // waits in poll on its signalfd.
            wait_for("nsinit to wait in poll", || blocked_in_poll(init));
            let switches = || {
                let s = fs::read_to_string(format!("/proc/{init}/status")).unwrap();
                s.lines()
                    .filter(|l| l.contains("ctxt_switches"))
                    .map(|l| l.split_whitespace().last().unwrap().parse::<u64>().unwrap())
                    .sum::<u64>()
            };
            let before = switches();
            std::thread::sleep(Duration::from_millis(2000));
            assert_eq!(switches(), before, "{mode:?}: nsinit woke up while idle");
            send_signal(init, libc::SIGTERM);
            let _ = c.finish();
        }
    });
}

#[test]
fn bad_options_are_one_line_and_125() {
    each(|f, who| {
        type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
        let cases: Vec<Case> = vec![
            (vec!["--grace", "soon", "true"], vec![], "--grace soon"),
            (
                vec!["--rewrite", "KILL:TERM", "true"],
                vec![],
                "--rewrite KILL:TERM",
            ),
            (vec!["--rewrite", "TERM", "true"], vec![], "--rewrite TERM"),
            (vec!["-e", "300", "true"], vec![], "--success-status 300"),
            (
                vec!["--pdeathsig", "NOPE", "true"],
                vec![],
                "--pdeathsig NOPE",
            ),
            (vec!["--bogus", "true"], vec![], "--bogus"),
            (vec![], vec![], "no command"),
            (
                vec!["true"],
                vec![("NSINIT_GRACE", "forever")],
                "NSINIT_GRACE=forever",
            ),
            (
                vec!["true"],
                vec![("NSINIT_VERBOSE", "maybe")],
                "NSINIT_VERBOSE=maybe",
            ),
            (
                vec!["true"],
                vec![("NSINIT_STOP_DELAY", "1y")],
                "NSINIT_STOP_DELAY=1y",
            ),
        ];
        for (args, env, want) in cases {
            let mut c = Command::new(&f.nsinit);
            c.args(&args);
            for (k, v) in &env {
                c.env(k, v);
            }
            let r = run(as_who(who, &mut c), None);
            assert_eq!(code(&r), 125, "{args:?} {env:?}: {r:?}");
            let errors: Vec<&str> = r
                .stderr
                .lines()
                .filter(|l| !l.contains("warning"))
                .collect();
            assert_eq!(errors.len(), 1, "{args:?}: {r:?}");
            assert!(
                errors[0].starts_with("nsinit: ") && errors[0].contains(want),
                "{args:?}: {r:?}"
            );
        }
    });
}

#[test]
fn a_descriptor_named_by_two_options_is_refused_before_either_is_taken() {
    each(|f, who| {
        // Descriptor 3 is open (on /dev/null): only the repeat is wrong.
        // (Options of nslaunch's built-in nsinit only.)
        let script = format!(
            "exec {} --console-socket 3 --tree /=3 -- true 3</dev/null",
            f.builtin_nsinit.display()
        );
        let r = run(as_who(who, Command::new("sh").args(["-c", &script])), None);
        assert_eq!(code(&r), 125, "{r:?}");
        assert_eq!(
            lines(&r.stderr),
            ["nsinit: --tree /=3: descriptor 3 is already --console-socket 3"],
            "{r:?}"
        );
    });
}

#[test]
fn nslaunch_passes_its_grace_to_nsinit() {
    // A leftover that ignores SIGTERM outlives the command: nsinit's
    // grace decides how long the container waits for it before SIGKILL.
    each(|f, who| {
        // The command exits only once the leftover is sleep (its SIGTERM
        // ignored), or the stop could catch it before its trap.
        let cmd = [
            "sh",
            "-c",
            "(trap '' TERM; exec sleep 1000) & \
             until [ \"$(cat /proc/$!/comm)\" = sleep ]; do :; done; exit 7",
        ];
        let started = std::time::Instant::now();
        let mut args = vec!["--grace", "0"];
        args.extend(cmd);
        let r = run(f.nslaunch(who, &args), None);
        assert_eq!(r.code(), 7, "{r:?}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "--grace 0 waited {:?}",
            started.elapsed()
        );
        let started = std::time::Instant::now();
        let mut args = vec!["--grace", "1500ms"];
        args.extend(cmd);
        let r = run(f.nslaunch(who, &args), None);
        assert_eq!(r.code(), 7, "{r:?}");
        assert!(
            started.elapsed() >= std::time::Duration::from_millis(1500),
            "--grace 1500ms ended after {:?}",
            started.elapsed()
        );
        let r = run(f.nslaunch(who, &["--grace", "soon", "true"]), None);
        assert_eq!(r.code(), 125, "{r:?}");
        assert!(r.stderr.contains("--grace soon"), "{r:?}");
    });
}

/// The standalone nsinit and nslaunch's built-in one (nslaunch run as
/// nsinit) are two front ends on one PID-1 loop: alone, they must answer
/// the same, word for word, whatever they are given (but for the setup
/// options, which only the built-in one takes).
#[test]
fn the_standalone_and_the_builtin_nsinit_answer_alike() {
    each(|f, who| {
        // argv after nsinit, and the environment on top of PATH.
        type Case<'a> = (Vec<&'a [u8]>, Vec<(&'a str, &'a [u8])>);
        let cases: Vec<Case> = vec![
            (vec![], vec![]),
            (vec![b"--bogus"], vec![]),
            (vec![b"-sg", b"true"], vec![]),
            (vec![b"-", b"true"], vec![]),
            (vec![b"--grace=1s", b"true"], vec![]),
            (vec![b"--grace"], vec![]),
            (vec![b"--grace", b"5x", b"true"], vec![]),
            (vec![b"--grace", b"1", b"--grace", b"2", b"true"], vec![]),
            (vec![b"--grace", b"\xff", b"true"], vec![]),
            (vec![b"--\xff", b"true"], vec![]),
            (vec![b"--help", b"-v"], vec![]),
            (vec![b"--preserve-fds", b"x", b"true"], vec![]),
            (vec![b"--preserve-fds", b"40", b"true"], vec![]),
            (vec![b"--listen-fds", b"2", b"true"], vec![]),
            (vec![b"--rewrite", b"TERM", b"true"], vec![]),
            (vec![b"--rewrite", b"KILL:TERM", b"true"], vec![]),
            (vec![b"--pdeathsig", b"NOPE", b"true"], vec![]),
            (vec![b"-e", b"256", b"true"], vec![]),
            (vec![b"--stop-delay", b"-1", b"true"], vec![]),
            (vec![b"-s", b"--", b"sh", b"-c", b"exit 3"], vec![]),
            (vec![b"-s", b"-e", b"3", b"sh", b"-c", b"exit 3"], vec![]),
            (vec![b"-s", b"sh", b"-c", b"kill -TERM $$"], vec![]),
            (vec![b"-s", b"no-such-command"], vec![]),
            (vec![b"-s", b"/no/such/file"], vec![]),
            (vec![b"-s", b"/etc/passwd"], vec![]),
            (vec![b"-s", b"/"], vec![]),
            (vec![b"-s", b""], vec![]),
            (vec![b"-s", b"true"], vec![("NSINIT_GRACE", b"x")]),
            (vec![b"-s", b"true"], vec![("NSINIT_SUBREAPER", b"\xff")]),
            (vec![b"-s", b"true"], vec![("NSINIT_REWRITE", b"TERM")]),
            (vec![b"true"], vec![("NSINIT_SUBREAPER", b"yes")]),
            (
                vec![b"true"],
                vec![("LISTEN_PID", b"1"), ("LISTEN_FDS", b"1")],
            ),
            (
                vec![
                    b"-s",
                    b"sh",
                    b"-c",
                    b"echo ${LISTEN_PID:-none} ${LISTEN_FDS:-none}",
                ],
                vec![("LISTEN_PID", b"99999999"), ("LISTEN_FDS", b"1")],
            ),
        ];
        for (args, env) in &cases {
            let answer = |nsinit: &std::path::Path| {
                let mut c = Command::new(nsinit);
                c.args(args.iter().map(|a| OsStr::from_bytes(a)))
                    .env("PATH", "/usr/bin:/bin");
                for (k, v) in env {
                    c.env(k, OsStr::from_bytes(v));
                }
                let r = run(as_who(who, &mut c), None);
                (code(&r), r.stdout, r.stderr)
            };
            let alone = answer(&f.nsinit);
            let builtin = answer(&f.builtin_nsinit);
            let ctx = format!("{args:?} {env:?}");
            assert_eq!(
                alone, builtin,
                "standalone vs built-in nsinit differ: {ctx}"
            );
        }
    });
}
