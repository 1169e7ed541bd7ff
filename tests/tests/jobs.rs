//! Job control for nslaunch run from an interactive shell on a terminal.
//! By default the container has a terminal of its own (pty mode): Ctrl-C
//! reaches its foreground job alone; Ctrl-Z on a plain command stops it
//! and nslaunch with it, as one job of the caller's shell; `fg` resumes
//! both; `bg` never takes the terminal from the shell. With `-T` (no pty)
//! the keys reach nslaunch, which relays them to the container: the same
//! job, the same statuses.

use std::time::Duration;

use nslaunch_tests::pty;
use nslaunch_tests::*;

#[test]
fn ctrl_c_ctrl_z_fg_and_bg_work_on_a_command_in_the_container() {
    each(|f, who| {
        for flags in ["", "-T "] {
            eprintln!("--- nslaunch {flags}");
            let (mut p, mut at) = pty::bash(who);
            let launch = format!(
                "{} {flags}--rootfs {}",
                f.nslaunch.display(),
                f.rootfs(who).display()
            );
            // Every command is typed at a prompt: what is typed while
            // nslaunch runs goes to the container.
            p.send(b"stty -g > /tmp/nsl-stty-$$; echo saved\n");
            at = p.expect_from(at, "saved", TIMEOUT);
            at = p.expect_from(at, "prompt$ ", TIMEOUT);

            p.send(format!("{launch} sh -c 'echo started-$((6*7)); exec sleep 100'\n").as_bytes());
            at = p.expect_from(at, "started-42", TIMEOUT);
            p.send(b"\x03");
            at = p.expect_from(at, "prompt$ ", TIMEOUT);
            p.send(b"echo rc=$?\n");
            at = p.expect_from(at, "rc=130", TIMEOUT);
            at = p.expect_from(at, "prompt$ ", TIMEOUT);

            // Ctrl-Z: the whole container stops while the caller's shell
            // holds the job (sh -c and its sleep alike).
            p.send(
                format!("{launch} sh -c 'echo started-$((6*7)); sleep 2; echo woke-up'\n")
                    .as_bytes(),
            );
            at = p.expect_from(at, "started-42", TIMEOUT);
            let bash = p.child.id() as i32;
            wait_descendant(bash, "the container's sleep", |s| {
                s.comm == "sleep" && s.state == 'S'
            });
            p.send(b"\x1a");
            at = p.expect_from(at, "Stopped", TIMEOUT);
            at = p.expect_from(at, "prompt$ ", TIMEOUT);
            let nslaunch = *children_of(bash).first().expect("the stopped nslaunch");
            let init = *children_of(nslaunch).first().expect("nsinit");
            let mut stopped = vec![nslaunch];
            stopped.extend(descendants(init));
            // nslaunch, sh -c and its sleep.
            assert_eq!(stopped.len(), 3, "{stopped:?}");
            // A stop takes effect when each process next runs: soon.
            let deadline = std::time::Instant::now() + TIMEOUT;
            while stopped.iter().any(|&pid| process_state(pid) != Some('T')) {
                let states: Vec<_> = stopped.iter().map(|&p| process_state(p)).collect();
                assert!(
                    std::time::Instant::now() < deadline,
                    "not all stopped: {stopped:?} {states:?}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(!p.saw_within(at, "woke-up", Duration::from_millis(2500)));
            p.send(b"fg\n");
            at = p.expect_from(at, "woke-up", TIMEOUT);
            at = p.expect_from(at, "prompt$ ", TIMEOUT);
            p.send(b"echo rc=$?\n");
            at = p.expect_from(at, "rc=0", TIMEOUT);
            at = p.expect_from(at, "prompt$ ", TIMEOUT);

            // bg: the job finishes in the background; the shell keeps its
            // terminal and goes on reading commands.
            p.send(
                format!("{launch} sh -c 'echo started-$((6*7)); sleep 1; echo bg-done'\n")
                    .as_bytes(),
            );
            at = p.expect_from(at, "started-42", TIMEOUT);
            p.send(b"\x1a");
            at = p.expect_from(at, "Stopped", TIMEOUT);
            at = p.expect_from(at, "prompt$ ", TIMEOUT);
            p.send(b"bg\n");
            at = p.expect_from(at, "bg-done", TIMEOUT);
            p.send(b"wait; echo still-$((6*7))\n");
            at = p.expect_from(at, "still-42", TIMEOUT);
            at = p.expect_from(at, "prompt$ ", TIMEOUT);

            p.send(b"stty -g | cmp - /tmp/nsl-stty-$$ && echo same-stty; rm -f /tmp/nsl-stty-$$\n");
            at = p.expect_from(at, "same-stty", TIMEOUT);
            p.send(b"exit\n");
            let _ = at;
            wait_timeout(&mut p.child, TIMEOUT).expect("the shell did not exit");
        }
    });
}

#[test]
fn an_interactive_shell_in_the_container_has_job_control_and_its_exit_status() {
    each(|f, who| {
        let (mut p, mut at) = pty::bash(who);
        let launch = format!(
            "{} --rootfs {}",
            f.nslaunch.display(),
            f.rootfs(who).display()
        );
        p.send(format!("{launch} sh\n").as_bytes());
        at = p.expect_from(at, "# ", TIMEOUT);
        let bash = p.child.id() as i32;
        p.send(b"sleep 100\n");
        wait_foreground_job(bash, "sleep");
        p.send(b"\x1a");
        at = p.expect_from(at, "Stopped", TIMEOUT);
        p.send(b"fg\n");
        wait_foreground_job(bash, "sleep");
        p.send(b"\x03");
        p.send(b"echo alive-$((6*7))\n");
        at = p.expect_from(at, "alive-42", TIMEOUT);
        // A background job of the inner shell that reads its terminal is
        // stopped by it (SIGTTIN), the inner shell's business alone.
        p.send(b"cat &\n");
        wait_descendant(bash, "cat stopped by SIGTTIN", |s| {
            s.comm == "cat" && s.state == 'T'
        });
        p.send(b"jobs\n");
        at = p.expect_from(at, "Stopped", TIMEOUT);
        // fg gives it the terminal: it reads, and ends at Ctrl-D.
        p.send(b"fg\n");
        wait_foreground_job(bash, "cat");
        p.send(b"meow\n");
        at = p.expect_from(at, "meow", TIMEOUT); // the echo
        at = p.expect_from(at, "meow", TIMEOUT); // cat
        p.send(b"\x04");
        p.send(b"echo done-$((6*7))\n");
        at = p.expect_from(at, "done-42", TIMEOUT);
        p.send(b"exit 7\n");
        at = p.expect_from(at, "prompt$ ", TIMEOUT);
        p.send(b"echo rc=$?\n");
        at = p.expect_from(at, "rc=7", TIMEOUT);
        p.send(b"exit\n");
        let _ = at;
        wait_timeout(&mut p.child, TIMEOUT).expect("the shell did not exit");
    });
}

#[test]
fn a_ctrl_z_as_the_command_starts_suspends_it_instead_of_hanging() {
    // Ctrl-Z in the container's terminal sends SIGTSTP to its foreground
    // group, which is the command's as soon as its child takes the
    // foreground, before nsinit is back in its loop. forkstop
    // (src/bin/forkstop.rs) makes it land there every time: SIGTSTP reaches
    // nsinit's child at its first instruction after fork. The stop must
    // go the way of any Ctrl-Z (nsinit asks nslaunch to stop the job;
    // nslaunch, whose group has no job-control shell above it here, goes
    // on at once and SIGCONTs nsinit), and the command run to its end;
    // before, the child stopped while nsinit waited for it: both stuck.
    each(|f, who| {
        let inner = f.nslaunch(who, &["sh", "-c", "echo ran-$((6*7))"]);
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_forkstop"));
        c.args(["nsinit", &libc::SIGTSTP.to_string()])
            .arg(inner.get_program())
            .args(inner.get_args())
            .envs(inner.get_envs().filter_map(|(k, v)| Some((k, v?))))
            .current_dir("/tmp");
        let mut p = pty::Pty::spawn(c);
        let _ = p.expect_from(0, "ran-42", TIMEOUT);
        let st = wait_timeout(&mut p.child, TIMEOUT).expect("nslaunch did not exit");
        assert_eq!(st.code(), Some(0), "{}", p.screen);
    });
}
