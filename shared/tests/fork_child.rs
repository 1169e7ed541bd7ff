//! What runs in a forked child allocates and frees nothing: the child of a
//! raw `clone` has no `pthread_atfork` handlers, so the allocator's lock
//! may be held by a thread that no longer exists. [`sys::GuardedAlloc`]
//! turns any allocation after [`sys::forbid_alloc`] into exit status
//! [`sys::ALLOCATED_IN_CHILD`].

use shared::sys;

#[global_allocator]
static ALLOC: sys::GuardedAlloc = sys::GuardedAlloc;

/// `probe_in_child` borrows its function: the child neither consumes it
/// nor drops what it captured (a `String` here), which would free memory
/// on the way to `_exit`.
#[test]
fn a_probe_frees_nothing_its_function_captured() {
    let text = String::from("made before the fork");
    // SAFETY: the child only reads `text` (prepared here) and exits; it
    // takes no lock, so the test harness's other threads cannot hold one
    // it needs.
    let code = unsafe {
        sys::probe_in_child(0, &|| {
            sys::forbid_alloc();
            text.len() as i32
        })
    };
    assert_eq!(code, Ok(text.len() as i32));
}

/// The guard itself: a child that allocates is caught.
#[test]
fn the_guard_catches_an_allocation() {
    // SAFETY: as above; the guard exits before the allocator is entered.
    let code = unsafe {
        sys::probe_in_child(0, &|| {
            sys::forbid_alloc();
            std::hint::black_box(vec![0u8; 16]).len() as i32
        })
    };
    assert_eq!(code, Ok(sys::ALLOCATED_IN_CHILD));
}

/// A forked child writes its pid into an environment prepared before
/// the fork (nsinit's LISTEN_PID) without allocating.
#[test]
fn a_number_entry_is_set_without_allocating() {
    let envp = sys::CStringArray::with_number(["A=1"], "LISTEN_PID").unwrap();
    let child = || {
        sys::forbid_alloc();
        envp.set_number(sys::raw_getpid());
        // SAFETY: the array holds "A=1", the number entry and NULL.
        let entry = unsafe { std::ffi::CStr::from_ptr(*envp.as_ptr().add(1)) };
        let mut n: i64 = 0;
        for b in &entry.to_bytes()[b"LISTEN_PID=".len()..] {
            n = n * 10 + i64::from(b - b'0');
        }
        i32::from(n == i64::from(sys::raw_getpid()))
    };
    // SAFETY: the child only writes into `envp` (prepared here) and reads
    // it back; it takes no lock.
    let code = unsafe { sys::probe_in_child(0, &child) };
    assert_eq!(code, Ok(1));
}
