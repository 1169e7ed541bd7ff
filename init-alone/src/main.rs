//! nsinit, the standalone init: `nsinit [OPTIONS] [--] CMD [ARGS...]` as
//! the PID 1 of a container image (like tini, dumb-init or catatonit), of
//! `podman run --init`, of `nslaunch --init`, of `unshare --pid --fork`,
//! or as a subreaper.
//!
//! A `#![no_std]` program with its own start-up code (`rt.rs`) and no C
//! library: every system call is `base::sys`'s. That keeps it small and
//! quick to start (docs/BENCHMARKS.md); the PID-1 loop, the settings and
//! the command lookup are `base`'s, the same code nslaunch's built-in
//! nsinit runs. The container setup options (`--rootfs` ...) are only the
//! built-in nsinit's: this one refuses them by name.

#![no_std]
#![no_main]

extern crate alloc;

mod mem;
mod program;
mod rt;
