//! nslaunch as an OCI runtime: the verbs podman (through conmon),
//! containerd's runc shim and CRI-O call, on runc's command line, over the
//! same container lifecycle as the plain run (`container.rs`).
//!
//! `nslaunch [GLOBAL OPTIONS] VERB [OPTIONS] ARGS`: a command line whose
//! first word after the global options is a verb is an OCI one; anything
//! else is nslaunch's own (`--rootfs ... CMD`).

pub mod cgroup;
pub mod cli;
pub mod config;
pub mod create;
pub mod exec;
pub mod hooks;
pub mod log;
pub mod procs;
pub mod state;
pub mod verbs;

use std::ffi::OsString;

use cli::{Parsed, Verb};
use log::OciLog;

/// Run an OCI command line, if argv is one: `Some(exit status)`.
pub fn main(argv: &[OsString]) -> Option<i32> {
    match cli::parse(argv) {
        Ok(Parsed::NotOci) => None,
        Ok(Parsed::Version) => {
            print!("{}", verbs::version());
            Some(0)
        }
        Ok(Parsed::Help(verb)) => {
            print!("{}", crate::help::oci(verb));
            Some(0)
        }
        Ok(Parsed::Oci(global, verb)) => {
            let mut log = OciLog::new(&global);
            let failed = if matches!(verb, Verb::Exec(_)) {
                255
            } else {
                1
            };
            match run_verb(&global, &verb, &mut log) {
                Ok(status) => Some(status),
                Err(e) => {
                    log.error(&e.to_string());
                    Some(match e {
                        // A failure of the container's command (127, 126)
                        // keeps its status under `run`.
                        crate::error::Error::Report(r) if matches!(verb, Verb::Run(_)) => r.status,
                        _ => failed,
                    })
                }
            }
        }
        Err(cli::UsageError(msg)) => {
            eprintln!("nslaunch: {msg}");
            Some(1)
        }
    }
}

/// Whether we run in the initial user namespace (a rootless engine runs
/// us as uid 0 of a namespace of its own).
fn initial_userns() -> bool {
    let map = std::fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
    shared::idmap::parse_map(&map)
        == [shared::idmap::IdRange {
            inside: 0,
            outside: 0,
            count: u32::MAX,
        }]
}

fn run_verb(
    global: &cli::Global,
    verb: &Verb,
    log: &mut OciLog,
) -> Result<i32, crate::error::Error> {
    // Before anything of ours takes a descriptor number.
    match verb {
        Verb::Create(c) | Verb::Run(c) => {
            crate::isolation::preserved_fds(Some(c.preserve_fds))?;
        }
        Verb::Exec(e) => {
            crate::isolation::preserved_fds(Some(e.preserve_fds))?;
        }
        Verb::Features => {
            println!(
                "{}",
                serde_json::to_string_pretty(&verbs::features()).unwrap_or_default()
            );
            return Ok(0);
        }
        Verb::Spec { bundle, rootless } => return verbs::spec(bundle.as_deref(), *rootless),
        _ => {}
    }
    if let Some(id) = verb_id(verb) {
        cli::check_id(id).map_err(|e| crate::error::Error::Usage(e.0))?;
    }
    let root = match &global.root {
        Some(r) => std::path::PathBuf::from(r),
        None => state::default_root(
            nix::unistd::geteuid().as_raw(),
            initial_userns(),
            std::env::var("XDG_RUNTIME_DIR").ok().as_deref(),
        ),
    };
    let store = state::Store::open(&root)?;
    if let Some(result) = verbs::simple(&store, verb, log) {
        return result;
    }
    match verb {
        Verb::Create(c) => create::create(&store, c, log),
        // `run --detach`: create and start, then leave the process to the
        // caller, as runc does.
        Verb::Run(c) if c.detach => {
            create::create(&store, c, log)?;
            create::start(&store, &c.id, log)
        }
        Verb::Run(c) => create::run(&store, c, log),
        Verb::Start { id } => create::start(&store, id, log),
        Verb::Exec(e) => exec::exec(&store, e, log),
        _ => unreachable!("every verb is dispatched"),
    }
}

fn verb_id(verb: &Verb) -> Option<&str> {
    Some(match verb {
        Verb::Create(c) | Verb::Run(c) => &c.id,
        Verb::Start { id }
        | Verb::State { id }
        | Verb::Kill { id, .. }
        | Verb::Delete { id, .. }
        | Verb::Ps { id, .. }
        | Verb::Pause { id }
        | Verb::Resume { id } => id,
        Verb::Exec(e) => &e.id,
        Verb::List { .. } | Verb::Features | Verb::Spec { .. } => return None,
    })
}
