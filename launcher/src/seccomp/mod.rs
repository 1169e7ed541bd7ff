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

mod bpf;
#[cfg(target_arch = "x86_64")]
mod default;
#[cfg(test)]
mod interp;
#[cfg(target_arch = "x86_64")]
mod precompiled;
mod profile;
mod rules;
mod syscalls;
#[cfg(all(test, target_arch = "x86_64"))]
mod tests;

use std::path::PathBuf;
use std::str::FromStr;

use shared::caps::CapSet;

use rules::{Action, Table};

#[cfg(all(test, target_arch = "x86_64"))]
pub use default::DIFFERENCES;

/// One classic BPF instruction, laid out as the kernel's struct sock_filter.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// A compiled filter, ready for `seccomp(SECCOMP_SET_MODE_FILTER)`.
#[derive(Debug)]
pub struct Filter {
    pub program: Vec<Insn>,
    /// One line for --dry-run/--verbose: "default (N syscalls allowed,
    /// K on argument checks, M denied with EPERM, unknown ENOSYS)" or
    /// "FILE: ..." / "linux.seccomp: ...".
    pub summary: String,
    /// Skipped unknown syscall names etc., one line each.
    pub warnings: Vec<String>,
    /// `SECCOMP_FILTER_FLAG_*` bits the profile asks for (LOG,
    /// SPEC_ALLOW), to pass to seccomp(2); 0 for the default.
    pub flags: u32,
    /// Number ranges the program's search tree tells apart.
    pub ranges: usize,
    /// Levels of that tree on its longest path (a syscall's lookup runs
    /// at most 3 + `depth` instructions, plus its argument checks).
    pub depth: usize,
}

impl Filter {
    /// The program as the kernel reads it: an array of struct
    /// sock_filter (u16 code, u8 jt, u8 jf, u32 k; 8 bytes each, native
    /// endian), `program.len()` of them.
    /// What nsinit reads on `--seccomp-fd`: the flags (a native-endian
    /// u32), then the program ([`Filter::to_bytes`]).
    pub fn to_message(&self) -> Vec<u8> {
        let mut out = self.flags.to_ne_bytes().to_vec();
        out.extend_from_slice(&self.to_bytes());
        out
    }

    /// `--verbose`: its size and shape.
    pub fn shape(&self) -> String {
        format!(
            "{} instructions, {} number ranges, a lookup {} levels deep",
            self.program.len(),
            self.ranges,
            self.depth
        )
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.program.len() * 8);
        for i in &self.program {
            out.extend_from_slice(&i.code.to_ne_bytes());
            out.push(i.jt);
            out.push(i.jf);
            out.extend_from_slice(&i.k.to_ne_bytes());
        }
        out
    }
}

/// `--seccomp default|unconfined|FILE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    Default,
    Unconfined,
    File(PathBuf),
}

impl FromStr for Choice {
    type Err = String;

    /// "default" | "unconfined" | anything else is a FILE path.
    fn from_str(s: &str) -> Result<Choice, String> {
        match s {
            "" => Err("expected default, unconfined or a profile FILE".to_string()),
            "default" => Ok(Choice::Default),
            "unconfined" => Ok(Choice::Unconfined),
            path => Ok(Choice::File(PathBuf::from(path))),
        }
    }
}

/// The filter for the plain run: `caps` is the command's capability set
/// (bounding) that capability-gated rules follow. `None` = unconfined.
/// Errors are one line, naming the file (and the line in it).
pub fn build(choice: &Choice, caps: CapSet) -> Result<Option<Filter>, String> {
    match choice {
        Choice::Unconfined => Ok(None),
        Choice::Default => {
            supported()?;
            built_in(caps, running_kernel()).map(Some)
        }
        Choice::File(path) => {
            supported()?;
            let label = path.display().to_string();
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("{label}: {}", shared::report::io_why(&e)))?;
            from_json(&text, &label, caps, running_kernel()).map(Some)
        }
    }
}

/// OCI `linux.seccomp` (already resolved by the engine: no
/// includes/excludes). Messages name `linux.seccomp`.
pub fn from_oci(s: &oci_spec::runtime::LinuxSeccomp) -> Result<Filter, String> {
    supported()?;
    let label = "linux.seccomp";
    let cx = profile::Context {
        caps: CapSet::all_known(),
        kernel: running_kernel(),
        text: None,
        label,
    };
    let r = profile::resolve(&profile::from_oci(s), &cx)?;
    finish(&r.table, label, r.flags, r.warnings)
}

#[cfg(target_arch = "x86_64")]
fn supported() -> Result<(), String> {
    Ok(())
}

#[cfg(not(target_arch = "x86_64"))]
fn supported() -> Result<(), String> {
    Err(format!(
        "seccomp: the built-in syscall table covers x86_64 only, not {}",
        std::env::consts::ARCH
    ))
}

/// The default profile for `caps` on `kernel`. Compiling it takes about
/// 0.1 ms, on every launch's critical path; docker's default capabilities
/// on Linux 4.8+ (nearly every launch) get the same program compiled
/// ahead of time (`precompiled.rs`, which a unit test keeps equal to what
/// the compiler makes).
#[cfg(target_arch = "x86_64")]
fn built_in(caps: CapSet, kernel: Option<(u32, u32)>) -> Result<Filter, String> {
    if default::signature(caps, kernel) == precompiled::SIGNATURE {
        return Ok(precompiled::filter());
    }
    compile_default(caps, kernel)
}

#[cfg(target_arch = "x86_64")]
fn compile_default(caps: CapSet, kernel: Option<(u32, u32)>) -> Result<Filter, String> {
    finish(&default::table(caps, kernel), "default", 0, Vec::new())
}

#[cfg(not(target_arch = "x86_64"))]
fn built_in(_: CapSet, _: Option<(u32, u32)>) -> Result<Filter, String> {
    supported().and(Err("no built-in profile".to_string()))
}

/// A docker/podman JSON profile, compiled for `caps` on `kernel`.
fn from_json(
    text: &str,
    label: &str,
    caps: CapSet,
    kernel: Option<(u32, u32)>,
) -> Result<Filter, String> {
    let p = profile::parse(text, label)?;
    let cx = profile::Context {
        caps,
        kernel,
        text: Some(text),
        label,
    };
    let r = profile::resolve(&p, &cx)?;
    finish(&r.table, label, r.flags, r.warnings)
}

fn finish(table: &Table, label: &str, flags: u32, warnings: Vec<String>) -> Result<Filter, String> {
    let leaves = table.leaves();
    let compiled = bpf::compile(table.default, &leaves).map_err(|e| format!("{label}: {e}"))?;
    let what = describe(&rules::count(&leaves, table.default), table.default);
    let summary = if label == "default" {
        format!("default ({what})")
    } else {
        format!("{label}: {what}")
    };
    Ok(Filter {
        program: compiled.program,
        summary,
        warnings,
        flags,
        ranges: compiled.ranges,
        depth: compiled.depth,
    })
}

/// "305 syscalls allowed, 3 on argument checks, 44 denied with EPERM,
/// unknown ENOSYS".
fn describe(c: &rules::Counts, default: Action) -> String {
    let mut parts = vec![format!("{} syscalls allowed", c.allowed)];
    if c.by_args > 0 {
        parts.push(format!("{} on argument checks", c.by_args));
    }
    for (action, n) in &c.others {
        parts.push(format!("{n} {}", action.describe()));
    }
    parts.push(match default {
        Action::Errno(e) => format!("unknown {}", syscalls::errno_name(e)),
        other => format!("unknown {}", other.describe()),
    });
    parts.join(", ")
}

/// The running kernel's (major, minor), from /proc/sys/kernel/osrelease.
fn running_kernel() -> Option<(u32, u32)> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    profile::parse_version(&release)
}
