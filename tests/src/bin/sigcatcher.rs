//! Test helper: catches every signal it can and prints `got N` for each,
//! in order, one per line. Prints `ready` once its handlers are in place.
//! Exits 0 after SIGTERM (so a graceful stop ends it promptly), unless
//! started with `--ignore-term`, in which case it reports SIGTERM and goes
//! on (only SIGKILL ends it).

use std::io::Write;
use std::sync::atomic::{AtomicI32, Ordering};

static PIPE_W: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    let b = sig as u8;
    // SAFETY: write(2) is async-signal-safe; one byte from a local.
    unsafe { libc::write(PIPE_W.load(Ordering::Relaxed), (&b as *const u8).cast(), 1) };
}

fn main() {
    let ignore_term = std::env::args().any(|a| a == "--ignore-term");
    let mut fds = [0; 2];
    // SAFETY: pipe fills two ints.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    PIPE_W.store(fds[1], Ordering::Relaxed);
    for sig in 1..=libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: a zeroed sigaction with a plain extern "C" handler;
        // glibc refuses its two reserved signals, which is fine here.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
    let mut out = std::io::stdout();
    writeln!(out, "ready").unwrap();
    out.flush().unwrap();
    loop {
        let mut b = 0u8;
        // SAFETY: reads one byte into a local.
        let n = unsafe { libc::read(fds[0], (&mut b as *mut u8).cast(), 1) };
        if n != 1 {
            continue;
        }
        // stdout may be gone (a closed pipe); the signal was still caught.
        let _ = writeln!(out, "got {b}");
        let _ = out.flush();
        if b as i32 == libc::SIGTERM && !ignore_term {
            std::process::exit(0);
        }
    }
}
