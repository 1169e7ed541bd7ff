//! The part of nsinit that needs no C library: `#![no_std]`, with `alloc`.
//!
//! The standalone `nsinit` executable (`init-alone/`) is built on this
//! alone, with its own start-up code and allocator, so that it is small
//! and starts without glibc's start-up (see docs/BENCHMARKS.md); nslaunch's
//! built-in nsinit (`init/`) runs the very same PID-1 loop
//! ([`supervise`]), settings ([`supervision`]) and command lookup
//! ([`command`]). Everything here talks to the kernel through [`sys`]:
//! raw system calls, no libc.

#![no_std]

extern crate alloc;
// The unit tests run on the host, with std (files to set up, threads).
#[cfg(test)]
extern crate std;

pub mod activation;
pub mod alone;
pub mod command;
pub mod cstrings;
pub mod exit;
pub mod help;
pub mod log;
pub mod settings;
pub mod signals;
pub mod supervise;
pub mod supervision;
pub mod sys;
pub mod time;
