//! Job control for nslaunch run from an interactive shell on a terminal
//! (no -t): the container gets the terminal's foreground in a process
//! group of its own; Ctrl-C reaches the command alone; Ctrl-Z stops the
//! command and nslaunch with it, as one job of the caller's shell; `fg`
//! resumes both; `bg` never takes the terminal from the shell.

use std::process::Command;
use std::time::Duration;

use nslaunch_tests::pty::Pty;
use nslaunch_tests::*;

fn each(test: impl Fn(&Fixture, &Who)) {
    let Some(f) = fixture() else { return };
    for who in &f.who {
        eprintln!("--- as {}", who.label());
        test(f, who);
    }
}

/// An interactive bash on a new terminal, as `who`, prompt `prompt$ `.
fn shell(who: &Who) -> (Pty, usize) {
    let mut c = Command::new("bash");
    c.args(["--norc", "--noprofile", "-i"])
        .env("PS1", "prompt$ ");
    let mut p = Pty::spawn(as_who(who, &mut c));
    let at = p.expect_from(0, "prompt$ ", TIMEOUT);
    (p, at)
}

fn pause() {
    std::thread::sleep(Duration::from_millis(400));
}

#[test]
fn ctrl_c_ctrl_z_and_fg_work_on_a_command_in_the_container() {
    each(|f, who| {
        let (mut p, mut at) = shell(who);
        let launch = format!(
            "{} --rootfs {}",
            f.nslaunch.display(),
            f.rootfs(who).display()
        );
        p.send(b"stty -g > /tmp/nsl-stty-$$; echo saved\n");
        at = p.expect_from(at, "saved", TIMEOUT);

        p.send(format!("{launch} sleep 100\n").as_bytes());
        pause();
        p.send(b"\x03");
        at = p.expect_from(at, "prompt$ ", TIMEOUT);
        p.send(b"echo rc=$?\n");
        at = p.expect_from(at, "rc=130", TIMEOUT);

        p.send(format!("{launch} sh -c 'sleep 1; echo woke-up'\n").as_bytes());
        pause();
        p.send(b"\x1a");
        at = p.expect_from(at, "Stopped", TIMEOUT);
        at = p.expect_from(at, "prompt$ ", TIMEOUT);
        p.send(b"fg\n");
        at = p.expect_from(at, "woke-up", TIMEOUT);
        p.send(b"echo rc=$?\n");
        at = p.expect_from(at, "rc=0", TIMEOUT);

        // bg: the job finishes in the background; the shell keeps its
        // terminal and goes on reading commands.
        p.send(format!("{launch} sh -c 'sleep 1; echo bg-done'\n").as_bytes());
        pause();
        p.send(b"\x1a");
        at = p.expect_from(at, "Stopped", TIMEOUT);
        p.send(b"bg\n");
        at = p.expect_from(at, "bg-done", TIMEOUT);
        p.send(b"wait; echo still-here\n");
        at = p.expect_from(at, "still-here", TIMEOUT);

        p.send(b"stty -g | cmp - /tmp/nsl-stty-$$ && echo same-stty; rm -f /tmp/nsl-stty-$$\n");
        at = p.expect_from(at, "same-stty", TIMEOUT);
        p.send(b"exit\n");
        let _ = at;
        wait_timeout(&mut p.child, TIMEOUT).expect("the shell did not exit");
    });
}

#[test]
fn an_interactive_shell_in_the_container_has_job_control_and_its_exit_status() {
    each(|f, who| {
        let (mut p, mut at) = shell(who);
        let launch = format!(
            "{} --rootfs {}",
            f.nslaunch.display(),
            f.rootfs(who).display()
        );
        p.send(format!("{launch} sh\n").as_bytes());
        at = p.expect_from(at, "# ", TIMEOUT);
        p.send(b"sleep 100\n");
        pause();
        p.send(b"\x1a");
        at = p.expect_from(at, "Stopped", TIMEOUT);
        p.send(b"fg\n");
        pause();
        p.send(b"\x03");
        p.send(b"echo alive-$((6*7))\n");
        at = p.expect_from(at, "alive-42", TIMEOUT);
        p.send(b"exit 7\n");
        at = p.expect_from(at, "prompt$ ", TIMEOUT);
        p.send(b"echo rc=$?\n");
        at = p.expect_from(at, "rc=7", TIMEOUT);
        p.send(b"exit\n");
        let _ = at;
        wait_timeout(&mut p.child, TIMEOUT).expect("the shell did not exit");
    });
}
