//! What `nslaunch` (the launcher) and `nsinit` (the container's PID 1) share:
//! the init's command line (the container spec), the setup plan the init
//! applies, exit statuses, signal names, the error report that crosses from
//! the init to the launcher, and the few raw syscalls both need.
//!
//! Everything here but [`sys`] is plain logic with unit tests; [`sys`] is
//! the one file that holds `unsafe` syscall wrappers. Its `unsafe fn`s
//! (fork-like calls, and those that act on a descriptor number as its
//! owner) state their contract under `# Safety`; each call says, in a
//! `// SAFETY:` comment, why it holds.

// nsinit's core (no C library) defines these; nslaunch uses them as they are.
pub use base::{activation, log, settings, signals};
pub mod caps;
pub mod cli;
pub mod env;
pub mod exit;
pub mod hookspec;
pub mod idmap;
pub mod mountspec;
pub mod netconf;
pub mod passwd;
pub mod plan;
pub mod report;
pub mod spec;
pub mod sys;
pub mod tmpfs;
pub mod volume;
