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
