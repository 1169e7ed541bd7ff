//! Test helper: make a signal land at an exact point, deterministically.
//!
//!     forkstop NAME SIG PROGRAM [ARGS...]
//!
//! Runs PROGRAM (and everything it starts) under ptrace. The first time a
//! process whose argv\[0\] is NAME (or ends in /NAME) forks, the new child
//! gets signal number SIG while it is still stopped at its very first
//! instruction, before it has run any code of its own; then every process
//! is let go, untraced, and forkstop waits for PROGRAM. It exits with
//! PROGRAM's status (128+N if a signal N killed it).
//!
//! `forkstop nsinit 20 nsinit -- CMD` is a Ctrl-Z (SIGTSTP) that reaches
//! the command's child at the start of its setup, with nothing left to
//! timing: whatever the child does next happens with the signal pending.

use std::collections::HashSet;
use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStringExt;

const STOPS: [i32; 4] = [libc::SIGSTOP, libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU];

/// The ptrace stops that announce a new process or thread (its pid in
/// PTRACE_GETEVENTMSG).
const FORK_EVENTS: [i32; 3] = [
    libc::PTRACE_EVENT_FORK,
    libc::PTRACE_EVENT_VFORK,
    libc::PTRACE_EVENT_CLONE,
];

fn die(what: &str) -> ! {
    eprintln!("forkstop: {what}: {}", std::io::Error::last_os_error());
    std::process::exit(125);
}

fn ptrace(req: libc::c_uint, pid: i32, data: usize) -> i64 {
    // SAFETY: every request used here takes a pid and an integer (or, for
    // GETEVENTMSG, a pointer to a valid local passed by the caller).
    unsafe { libc::ptrace(req, pid, 0usize, data) }
}

/// Wait for any tracee (or child): (pid, raw status), or None when none is
/// left.
fn wait_any(pid: i32) -> Option<(i32, i32)> {
    let mut status = 0;
    loop {
        // SAFETY: waitpid writes into a valid local.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        if r >= 0 {
            return Some((r, status));
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return None;
        }
    }
}

/// argv\[0\] of `pid` is `name` or ends in `/name`.
fn is_named(pid: i32, name: &str) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let argv0 = cmdline.split(|&b| b == 0).next().unwrap_or_default();
    argv0 == name.as_bytes() || argv0.ends_with(format!("/{name}").as_bytes())
}

fn event_msg(pid: i32) -> i32 {
    let mut msg: libc::c_ulong = 0;
    // SAFETY: GETEVENTMSG writes one c_ulong into a valid local.
    unsafe {
        libc::ptrace(
            libc::PTRACE_GETEVENTMSG,
            pid,
            0usize,
            &mut msg as *mut libc::c_ulong,
        )
    };
    msg as i32
}

/// What a stopped tracee's wait status says: the signal to give back when
/// it resumes (0 for none).
fn signal_to_deliver(status: i32) -> i32 {
    let event = status >> 16;
    let sig = libc::WSTOPSIG(status);
    if event == 0 {
        sig // a signal-delivery-stop: the signal was meant for it
    } else {
        0
    }
}

/// Let every tracee go: detach the stopped ones (`held`: new children at
/// their first stop), interrupt the running ones and detach each as it
/// stops (with children they fork meanwhile, and the `expected` ones,
/// which stop on their own).
/// Returns the program's wait status if it ended meanwhile.
fn detach_all(
    program: i32,
    mut tracees: HashSet<i32>,
    held: HashSet<i32>,
    expected: HashSet<i32>,
) -> Option<i32> {
    let mut detached = HashSet::new();
    let mut program_status = None;
    for t in held {
        ptrace(libc::PTRACE_DETACH, t, 0);
        tracees.remove(&t);
        detached.insert(t);
    }
    for &t in &tracees {
        if !expected.contains(&t) {
            ptrace(libc::PTRACE_INTERRUPT, t, 0);
        }
    }
    while !tracees.is_empty() {
        let Some((t, status)) = wait_any(-1) else {
            break;
        };
        if !libc::WIFSTOPPED(status) {
            if t == program {
                program_status = Some(status);
            }
            tracees.remove(&t);
            continue;
        }
        let event = status >> 16;
        if FORK_EVENTS.contains(&event) {
            let new = event_msg(t);
            if !detached.contains(&new) {
                tracees.insert(new);
            }
        }
        ptrace(libc::PTRACE_DETACH, t, signal_to_deliver(status) as usize);
        tracees.remove(&t);
        detached.insert(t);
    }
    program_status
}

fn main() {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: forkstop NAME SIG PROGRAM [ARGS...]");
        std::process::exit(125);
    }
    let name = args[0].to_string_lossy().into_owned();
    let sig: i32 = args[1]
        .to_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            eprintln!("forkstop: SIG must be a signal number");
            std::process::exit(125)
        });
    let argv: Vec<CString> = args[2..]
        .iter()
        .map(|a| CString::new(a.clone().into_vec()).expect("no NUL in argv"))
        .collect();
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());

    let mut go = [0; 2];
    // SAFETY: pipe fills two ints.
    if unsafe { libc::pipe(go.as_mut_ptr()) } != 0 {
        die("pipe");
    }
    // SAFETY: single-threaded; the child only makes async-signal-safe
    // calls (close, read, execvp, _exit) on memory prepared before.
    let program = unsafe { libc::fork() };
    if program < 0 {
        die("fork");
    }
    if program == 0 {
        // SAFETY: as above.
        unsafe {
            libc::close(go[1]);
            let mut b = 0u8;
            // Wait until we are traced.
            libc::read(go[0], (&mut b as *mut u8).cast(), 1);
            libc::close(go[0]);
            libc::execvp(ptrs[0], ptrs.as_ptr());
            libc::_exit(127);
        }
    }
    // SAFETY: closes our copy of the read end.
    unsafe { libc::close(go[0]) };
    let options = libc::PTRACE_O_TRACEFORK
        | libc::PTRACE_O_TRACEVFORK
        | libc::PTRACE_O_TRACECLONE
        | libc::PTRACE_O_TRACEEXEC
        | libc::PTRACE_O_EXITKILL;
    if ptrace(libc::PTRACE_SEIZE, program, options as usize) != 0 {
        die("PTRACE_SEIZE");
    }
    // SAFETY: one byte from a static, then close.
    unsafe {
        libc::write(go[1], b"g".as_ptr().cast(), 1);
        libc::close(go[1]);
    }

    let mut tracees: HashSet<i32> = HashSet::from([program]);
    // A forked child starts traced, with a stop of its own, which may be
    // reported before or after its parent's fork event: held until we know
    // who forked it, or expected once we do.
    let mut held: HashSet<i32> = HashSet::new();
    let mut expected: HashSet<i32> = HashSet::new();
    let mut program_status = None;
    while let Some((t, status)) = wait_any(-1) {
        if !libc::WIFSTOPPED(status) {
            tracees.remove(&t);
            if t == program {
                program_status = Some(status);
                break;
            }
            continue;
        }
        let event = status >> 16;
        let stopsig = libc::WSTOPSIG(status);
        if FORK_EVENTS.contains(&event) {
            let new = event_msg(t);
            tracees.insert(new);
            if event != libc::PTRACE_EVENT_CLONE && is_named(t, &name) {
                // The new child, at its first stop: it has run nothing.
                if !held.remove(&new) {
                    while let Some((_, st)) = wait_any(new) {
                        if libc::WIFSTOPPED(st) {
                            break;
                        }
                    }
                }
                // SAFETY: kill takes plain integers.
                if unsafe { libc::kill(new, sig) } != 0 {
                    die("kill the new child");
                }
                ptrace(libc::PTRACE_DETACH, new, 0);
                ptrace(libc::PTRACE_DETACH, t, 0);
                tracees.remove(&new);
                tracees.remove(&t);
                program_status = detach_all(program, tracees, held, expected);
                break;
            }
            if held.remove(&new) {
                ptrace(libc::PTRACE_CONT, new, 0);
            } else {
                expected.insert(new);
            }
            ptrace(libc::PTRACE_CONT, t, 0);
        } else if event == libc::PTRACE_EVENT_STOP {
            if expected.remove(&t) {
                ptrace(libc::PTRACE_CONT, t, 0);
            } else if !tracees.contains(&t) {
                held.insert(t);
            } else if STOPS.contains(&stopsig) {
                // A group-stop: stay stopped, as without us.
                ptrace(libc::PTRACE_LISTEN, t, 0);
            } else {
                ptrace(libc::PTRACE_CONT, t, 0);
            }
        } else {
            ptrace(libc::PTRACE_CONT, t, signal_to_deliver(status) as usize);
        }
    }
    let status = match program_status {
        Some(st) => st,
        None => loop {
            match wait_any(program) {
                Some((_, st)) if !libc::WIFSTOPPED(st) => break st,
                Some(_) => continue,
                None => die("wait for the program"),
            }
        },
    };
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    std::process::exit(code);
}
