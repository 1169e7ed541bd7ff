//! What the C library's start-up and allocator would give a program:
//! `_start`, argv and the environment, a heap, and a panic that exits 125.
//!
//! nsinit is single-threaded and its forked child never allocates (it
//! only makes raw system calls before `execve`), so the allocator needs no
//! lock.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ffi::CStr;
use core::ptr;

use base::sys;

#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".globl _start",
    ".type _start,@function",
    "_start:",
    "xor ebp, ebp",
    // The kernel leaves argc, argv[], NULL, envp[], NULL, auxv at rsp.
    "mov rdi, rsp",
    "and rsp, -16",
    "call {entry}",
    "ud2",
    entry = sym entry,
);

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    ".globl _start",
    ".type _start,%function",
    "_start:",
    "mov x29, #0",
    "mov x30, #0",
    "mov x0, sp",
    "and x1, x0, #-16",
    "mov sp, x1",
    "bl {entry}",
    "brk #0",
    entry = sym entry,
);

/// The process's arguments and environment, as the kernel laid them out.
pub struct Start {
    pub args: &'static [*const u8],
    pub env: &'static [*const u8],
}

impl Start {
    /// argv[1..] as byte strings.
    pub fn args(&self) -> impl Iterator<Item = &'static [u8]> + '_ {
        self.args.iter().skip(1).map(|&p| bytes_at(p))
    }

    /// Every `NAME=value` entry, as it came.
    pub fn env(&self) -> impl Iterator<Item = &'static [u8]> + '_ {
        self.env.iter().map(|&p| bytes_at(p))
    }

    /// The value of the environment variable `name`.
    pub fn var(&self, name: &str) -> Option<&'static [u8]> {
        self.env().find_map(|kv| {
            kv.strip_prefix(name.as_bytes())
                .and_then(|rest| rest.strip_prefix(b"="))
        })
    }
}

fn bytes_at(p: *const u8) -> &'static [u8] {
    // SAFETY: the kernel's argv and envp strings are NUL-terminated and
    // live as long as the process.
    unsafe { CStr::from_ptr(p.cast()) }.to_bytes()
}

/// Called by `_start` with the initial stack pointer.
unsafe extern "C" fn entry(sp: *const usize) -> ! {
    // SAFETY: the System V start-up layout: argc, then argc pointers and a
    // NULL, then the environment's pointers and a NULL.
    let start = unsafe {
        let argc = *sp;
        let argv = sp.add(1) as *const *const u8;
        let envp = argv.add(argc + 1);
        let mut envc = 0;
        while !(*envp.add(envc)).is_null() {
            envc += 1;
        }
        Start {
            args: core::slice::from_raw_parts(argv, argc),
            env: core::slice::from_raw_parts(envp, envc),
        }
    };
    sys::exit(crate::program::main(start))
}

/// A panic (a bug, or memory that ran out) prints one line and exits 125.
/// Without allocating: the panic may be the allocator's failure.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let mut line = Line {
        buf: [0; 512],
        len: 0,
    };
    let _ = core::fmt::Write::write_fmt(&mut line, format_args!("nsinit: internal error: {info}"));
    for b in &mut line.buf[..line.len] {
        if *b == b'\n' {
            *b = b' ';
        }
    }
    sys::write_all(2, &[&line.buf[..line.len], b"\n"]);
    sys::exit(base::exit::FAILED)
}

/// A fixed buffer that keeps what fits.
struct Line {
    buf: [u8; 512],
    len: usize,
}

impl core::fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Blocks of 16 bytes to 4 KiB in power-of-two classes, each class with
/// a free list of the blocks given back; new blocks are cut from an arena
/// reserved 1 MiB at a time, whose pages the kernel provides only when
/// first touched, so the memory nsinit holds is what it has used.
/// Anything larger is a mapping of its own. nsinit allocates little (its
/// command line, the command's argv and environment, a pid list during a
/// stop), and reuses what it frees.
struct Heap {
    state: UnsafeCell<State>,
}

struct State {
    free: [*mut u8; CLASSES],
    /// The arena: where the next new block starts, and its end.
    next: usize,
    end: usize,
}

const CLASSES: usize = 9; // 16 << 8 = 4096
const ARENA: usize = 1 << 20;
const PAGE: usize = 4096;

// SAFETY: nsinit has one thread (see the module's notes).
unsafe impl Sync for Heap {}

#[global_allocator]
static HEAP: Heap = Heap {
    state: UnsafeCell::new(State {
        free: [ptr::null_mut(); CLASSES],
        next: 0,
        end: 0,
    }),
};

fn class_of(layout: Layout) -> Option<usize> {
    let size = layout.size().max(layout.align()).max(16);
    if size > 16 << (CLASSES - 1) {
        return None;
    }
    Some(size.next_power_of_two().trailing_zeros() as usize - 4)
}

impl State {
    /// A new block of `size` bytes (a power of two up to a page), aligned
    /// to its size.
    fn cut(&mut self, size: usize) -> *mut u8 {
        let mut at = self.next.next_multiple_of(size);
        if self.end == 0 || at + size > self.end {
            let Ok(arena) = sys::map_anonymous(ARENA) else {
                return ptr::null_mut();
            };
            // The rest of the old arena is left unused (never touched, so
            // it costs no memory).
            at = arena as usize;
            self.end = at + ARENA;
        }
        self.next = at + size;
        at as *mut u8
    }
}

unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = class_of(layout) else {
            if layout.align() > PAGE {
                return ptr::null_mut();
            }
            return sys::map_anonymous(layout.size().next_multiple_of(PAGE))
                .unwrap_or(ptr::null_mut());
        };
        // SAFETY: one thread; the free lists hold only blocks of ours,
        // each starting with the next one's address.
        unsafe {
            let state = &mut *self.state.get();
            let block = state.free[class];
            if block.is_null() {
                return state.cut(16 << class);
            }
            state.free[class] = *(block as *mut *mut u8);
            block
        }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        match class_of(layout) {
            // SAFETY: one thread; `block` is a block of this class.
            Some(class) => unsafe {
                let state = &mut *self.state.get();
                *(block as *mut *mut u8) = state.free[class];
                state.free[class] = block;
            },
            // SAFETY: a mapping of its own, no longer used.
            None => unsafe { sys::unmap(block, layout.size().next_multiple_of(PAGE)) },
        }
    }
}
