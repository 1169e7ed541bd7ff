//! Seccomp: the syscall filter the command runs under, compiled here
//! from a profile to a classic BPF program that nsinit only loads.
//!
//! We compile profiles ourselves, in Rust, with neither libseccomp nor
//! seccompiler: both binaries stay static and free of runtime
//! dependencies, nsinit receives only the compiled program (an array of
//! `struct sock_filter`, [`Filter::to_bytes`]) and stays small, and we
//! control the layout. The layout matters for speed: a binary search
//! over syscall numbers, where every syscall whose decision does not
//! depend on its arguments ends in a lone `ret`. When a filter is
//! loaded, the kernel (5.11+) emulates it for every syscall number to
//! fill its per-architecture "always allowed" cache; those syscalls
//! (getppid, read, write...) then never run the filter at all, and the
//! emulation itself stays cheap because each lookup is about ten
//! instructions. See `bpf` for the program's shape.
//!
//! Where the profile comes from ([`Choice`]): the built-in default
//! (`default`, docker's default profile in our own table), a JSON file
//! in docker's or podman's format, or OCI `linux.seccomp` (`profile`).
//! Semantics shared by all three (`rules`): a syscall's rules are ORed,
//! the arguments of one rule ANDed, and when several rules match the
//! most restrictive action wins (KILL_PROCESS > KILL_THREAD > TRAP >
//! ERRNO > TRACE > LOG > ALLOW), as with libseccomp. Arguments compare
//! as unsigned 64-bit values.
//!
//! Architectures: the filter is for x86_64. A syscall of another ABI on
//! the same machine (32-bit x86 through `int 0x80`, x32 with
//! `__X32_SYSCALL_BIT` in its number) fails with ENOSYS, whatever the
//! profile: the names are resolved for x86_64 only, and an unfiltered
//! 32-bit entry would be a way around every rule. ENOSYS is the honest
//! answer: this filter has no 32-bit table. On another target
//! architecture [`build`] and [`from_oci`] return an error.

// Until the profiles and the API that use the compiler are in.
#![allow(dead_code)]

mod bpf;
#[cfg(test)]
mod interp;
mod rules;
mod syscalls;

/// One classic BPF instruction, laid out as the kernel's struct sock_filter.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}
