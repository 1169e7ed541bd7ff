//! The memory functions the compiler calls (`memcpy`, `memset` ...), which
//! a C library would provide. Byte loops through volatile accesses, so
//! that the compiler cannot turn them back into calls to themselves;
//! nsinit copies little (its argv, a pid list), so speed does not matter.

use core::ptr::{read_volatile, write_volatile};

#[no_mangle]
unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    for i in 0..n {
        // SAFETY: the caller passes n valid, non-overlapping bytes.
        unsafe { write_volatile(dst.add(i), read_volatile(src.add(i))) };
    }
    dst
}

#[no_mangle]
unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dst as usize) <= (src as usize) {
        for i in 0..n {
            // SAFETY: n valid bytes each; copying forwards never reads
            // a byte already overwritten when dst is below src.
            unsafe { write_volatile(dst.add(i), read_volatile(src.add(i))) };
        }
    } else {
        for i in (0..n).rev() {
            // SAFETY: as above, backwards when dst is above src.
            unsafe { write_volatile(dst.add(i), read_volatile(src.add(i))) };
        }
    }
    dst
}

#[no_mangle]
unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    for i in 0..n {
        // SAFETY: the caller passes n valid bytes.
        unsafe { write_volatile(dst.add(i), c as u8) };
    }
    dst
}

#[no_mangle]
unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    for i in 0..n {
        // SAFETY: the caller passes n valid bytes each.
        let (x, y) = unsafe { (read_volatile(a.add(i)), read_volatile(b.add(i))) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
    }
    0
}

#[no_mangle]
unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: passed on.
    unsafe { memcmp(a, b, n) }
}

/// Referenced by the precompiled `alloc` library's unwinding paths, which
/// a panic never takes in nsinit (it aborts: see rt.rs).
#[no_mangle]
extern "C" fn _Unwind_Resume() -> ! {
    base::sys::exit(base::exit::FAILED)
}

/// Named by the same unwinding paths' tables; never called.
#[no_mangle]
extern "C" fn rust_eh_personality() {}

#[no_mangle]
unsafe extern "C" fn strlen(s: *const u8) -> usize {
    let mut n = 0;
    // SAFETY: the caller passes a NUL-terminated string.
    while unsafe { read_volatile(s.add(n)) } != 0 {
        n += 1;
    }
    n
}
