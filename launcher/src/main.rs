//! nslaunch: run a command in a rootless container made from a directory.
//!
//! The launcher validates what it can on the host, clones into new user,
//! mount and PID namespaces, writes the id maps, and runs nsinit there
//! (its code, linked in, in the cloned child; or the nsinit executable,
//! exec'd, for `--init PATH` and the OCI verbs); nsinit builds the
//! container root and runs the command (see docs/DESIGN-NOTES.md).

mod activation;
mod cache;
mod check;
mod cli;
mod container;
mod dryrun;
mod error;
mod help;
mod idmapped;
mod isolation;
mod launch;
mod network;
mod oci;
mod overlay;
mod sdnotify;
mod seccomp;
mod tty;
mod unpack;
mod userns;
mod volumes;

use std::path::{Path, PathBuf};
use std::process::exit;

use cli::LaunchArgs;
use error::{io_why, Error};
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

// Unit tests check that code meant for a forked child does not allocate.
#[cfg(test)]
#[global_allocator]
static ALLOC: shared::sys::GuardedAlloc = shared::sys::GuardedAlloc;

fn main() {
    if invoked_as_nsinit() {
        // Exec'd by descriptor, the kernel named us after the file.
        let _ = nix::sys::prctl::set_name(c"nsinit");
        nsinit::main_with(std::env::args_os().skip(1).collect());
    }
    ensure_standard_fds();
    // The OCI runtime verbs (`nslaunch [--root DIR ...] create ...`).
    let argv: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if let Some(code) = oci::main(&argv) {
        exit(code);
    }
    // Subcommands, only as the very first argument (so that
    // `nslaunch --rootfs R check` still runs a command named check, and
    // `nslaunch --rootfs R cache` one named cache).
    if std::env::args_os().nth(1).is_some_and(|a| a == "cache") {
        let rest: Vec<String> = std::env::args_os()
            .skip(2)
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        exit(cache::command(&rest));
    }
    if let Some(code) = subcommand() {
        exit(code);
    }
    let args = match parse_args() {
        Ok(a) => a,
        Err(code) => exit(code),
    };
    if args.version {
        print!("{}", oci::verbs::version());
        exit(0);
    }
    let log = shared::log::Log::new("nslaunch", args.verbose || log_from_env());
    match launch::launch(args, &log) {
        Ok(status) => exit(status),
        Err(e) => {
            eprintln!("nslaunch: {e}");
            exit(e.status());
        }
    }
}

/// `nslaunch check` (alias `doctor`): `Some(exit status)` when argv[1]
/// names a subcommand.
fn subcommand() -> Option<i32> {
    // args_os: a non-UTF-8 argument is parse_args's to refuse, not a panic.
    let argv: Vec<String> = std::env::args_os()
        .skip(1)
        .take(3)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let first = argv.first()?;
    if first != "check" && first != "doctor" {
        return None;
    }
    match argv.get(1).map(String::as_str) {
        None => {}
        Some("-h" | "--help") => {
            println!(
                "Usage: nslaunch check\n\n\
                 Inspect this machine: user namespaces and the sysctls that allow them, the\n\
                 namespace kinds, /etc/subuid and /etc/subgid ranges, newuidmap/newgidmap,\n\
                 overlayfs in a user namespace, cgroup v2 delegation, the network helpers\n\
                 (pasta, slirp4netns) and /dev/net/tun, nsinit; then run a real default\n\
                 container. Each line is OK, WARN or FAIL, with the fix.\n\n\
                 Exit status: 0 when a default container can run here, 1 when it cannot."
            );
            return Some(0);
        }
        Some(other) => {
            eprintln!("nslaunch: check: unexpected argument {other:?} (see nslaunch check --help)");
            return Some(shared::exit::FAILED);
        }
    }
    let me = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("nslaunch"));
    let nsinit = find_nsinit_file().map_err(|e| e.to_string());
    Some(check::run(&me, nsinit))
}

/// If the caller closed stdin, stdout or stderr, put /dev/null there, so a
/// pipe we create cannot take fd 0-2 and reach the command as its stdin.
fn ensure_standard_fds() {
    for fd in 0..3 {
        if !shared::sys::raw_fd_is_open(fd) {
            // open returns the lowest free number: this very fd.
            if let Ok(null) = nix::fcntl::open("/dev/null", OFlag::O_RDWR, Mode::empty()) {
                std::mem::forget(null);
            }
        }
    }
}

fn parse_args() -> Result<LaunchArgs, i32> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    LaunchArgs::parse(&args).map_err(|early| shared::cli::early_exit("nslaunch", help::TEXT, early))
}

/// `NSLAUNCH_LOG` set to anything but empty or 0 means --verbose.
fn log_from_env() -> bool {
    std::env::var("NSLAUNCH_LOG").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// The executable to exec as nsinit where an exec is needed: `--init
/// PATH`, else nslaunch's own (run under the name `nsinit`, it is nsinit:
/// see [`invoked_as_nsinit`]), for the OCI verbs and `--userns host`.
pub(crate) fn find_init(explicit: Option<&str>) -> Result<PathBuf, Error> {
    if let Some(p) = explicit {
        let meta = std::fs::metadata(p)
            .map_err(|e| Error::Usage(format!("--init {p}: {}", io_why(&e))))?;
        if !meta.is_file() {
            return Err(Error::Usage(format!("--init {p}: not a regular file")));
        }
        return Ok(PathBuf::from(p));
    }
    std::env::current_exe()
        .map_err(|e| Error::Usage(format!("cannot find nslaunch's own path: {e}")))
}

/// Whether this process was started as `nsinit` (argv[0]'s last
/// component): nslaunch execs itself so where nsinit must be exec'd, and
/// then is nsinit, whose code it carries.
fn invoked_as_nsinit() -> bool {
    std::env::args_os()
        .next()
        .is_some_and(|a| Path::new(&a).file_name().is_some_and(|n| n == "nsinit"))
}

/// The nsinit executable beside this one (the build tree and `make
/// install` both put it there), else `../libexec/nslaunch/nsinit`: not
/// needed by nslaunch itself, but the init that images and `podman
/// --init` use, which `nslaunch check` reports on.
pub(crate) fn find_nsinit_file() -> Result<PathBuf, Error> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::Usage(format!("cannot find nslaunch's own path: {e}")))?;
    let dir = exe.parent().unwrap_or(Path::new("/"));
    let candidates = [dir.join("nsinit"), dir.join("../libexec/nslaunch/nsinit")];
    candidates
        .iter()
        .find(|c| c.is_file())
        .cloned()
        .ok_or_else(|| {
            Error::Usage(format!(
                "cannot find nsinit beside {} (build it with `make`)",
                exe.display()
            ))
        })
}
