//! nslaunch: run a command in a rootless container made from a directory.
//!
//! The launcher validates what it can on the host, clones into new user,
//! mount and PID namespaces, writes the id maps, and execs nsinit there;
//! nsinit builds the container root and runs the command (see DESIGN.md).

mod cli;
mod container;
mod error;
mod userns;

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::exit;

use cli::LaunchArgs;
use error::Error;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use shared::spec::InitArgs;
use shared::sys::CStringArray;

fn main() {
    ensure_standard_fds();
    let args = match parse_args() {
        Ok(a) => a,
        Err(code) => exit(code),
    };
    if args.version {
        println!("nslaunch {}", env!("CARGO_PKG_VERSION"));
        exit(0);
    }
    match launch(args) {
        Ok(status) => exit(status),
        Err(e) => {
            eprintln!("nslaunch: {e}");
            exit(e.status());
        }
    }
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
    let mut args = Vec::new();
    for a in std::env::args_os().skip(1) {
        match a.into_string() {
            Ok(s) => args.push(s),
            Err(bad) => {
                eprintln!(
                    "nslaunch: argument {:?} is not valid UTF-8",
                    bad.to_string_lossy()
                );
                return Err(shared::exit::FAILED);
            }
        }
    }
    LaunchArgs::parse(&args).map_err(|early| match early.status {
        Ok(()) => {
            print!("{}", early.output);
            0
        }
        Err(()) => {
            eprintln!(
                "nslaunch: {} (see nslaunch --help)",
                early.output.trim_end().replace('\n', "; ")
            );
            shared::exit::FAILED
        }
    })
}

fn launch(args: LaunchArgs) -> Result<i32, Error> {
    let rootfs = args
        .rootfs
        .as_deref()
        .ok_or_else(|| Error::Usage("--rootfs DIR is required (see nslaunch --help)".into()))?;
    let rootfs = validate_rootfs(rootfs)?;
    if args.command.is_empty() {
        return Err(Error::Usage(
            "no command given (usage: nslaunch [OPTIONS] --rootfs DIR [--] CMD [ARGS...])".into(),
        ));
    }
    let init_path = find_init(args.init.as_deref())?;
    let init = nix::fcntl::open(&init_path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| Error::sys(format!("open the init {}", init_path.display()), e))?;
    let init_path = init_path.display().to_string();

    let hostname = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    let term = std::env::var("TERM").ok();
    let env = shared::env::container_env(term.as_deref(), &hostname);

    let (report_r, report_w) = container::pipe()?;
    let terminal = container::Terminal::capture();
    let job = if terminal.foreground {
        Some(container::pipe()?)
    } else {
        None
    };
    let spec = InitArgs {
        rootfs: Some(rootfs),
        report_fd: Some(report_w.as_raw_fd()),
        job_control_fd: job.as_ref().map(|(_, w)| w.as_raw_fd()),
        command: args.command,
        ..Default::default()
    };
    let argv = CStringArray::new(std::iter::once("nsinit".to_string()).chain(spec.render()))
        .map_err(|a| Error::Usage(format!("argument contains a NUL byte: {a}")))?;
    let envp = CStringArray::new(env.iter().map(|(k, v)| format!("{k}={v}")))
        .map_err(|e| Error::Usage(format!("environment contains a NUL byte: {e}")))?;

    container::run(container::Launch {
        init,
        init_path,
        argv,
        envp,
        report_w,
        report_r,
        job,
        terminal,
    })
}

/// The rootfs must be an existing directory; nsinit gets its absolute,
/// symlink-free path.
fn validate_rootfs(given: &str) -> Result<String, Error> {
    let bad = |why: String| Error::Usage(format!("--rootfs {given}: {why}"));
    let meta = std::fs::metadata(given).map_err(|e| bad(io_why(&e)))?;
    if !meta.is_dir() {
        return Err(bad("not a directory".into()));
    }
    let abs = std::fs::canonicalize(given).map_err(|e| bad(io_why(&e)))?;
    abs.into_os_string()
        .into_string()
        .map_err(|_| bad("the path is not valid UTF-8".into()))
}

fn io_why(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => Errno::from_raw(n).desc().to_string(),
        None => e.to_string(),
    }
}

/// `--init PATH`, else `nsinit` beside this executable (the build tree and
/// `make install` both put it there), else `../libexec/nslaunch/nsinit`.
fn find_init(explicit: Option<&str>) -> Result<PathBuf, Error> {
    if let Some(p) = explicit {
        let meta = std::fs::metadata(p)
            .map_err(|e| Error::Usage(format!("--init {p}: {}", io_why(&e))))?;
        if !meta.is_file() {
            return Err(Error::Usage(format!("--init {p}: not a regular file")));
        }
        return Ok(PathBuf::from(p));
    }
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
                "cannot find nsinit beside {} (build it with `make`, or pass --init PATH)",
                exe.display()
            ))
        })
}
