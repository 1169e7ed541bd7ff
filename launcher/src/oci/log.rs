//! Where the OCI verbs report: `--log FILE` (text, or JSON lines with
//! `--log-format json`: `{"level","msg","time"}`, as runc writes them and
//! podman, conmon and containerd's shim read them back), and stderr.
//!
//! Only a failure reaches stderr: during a successful `create` our stderr
//! is the container's own (conmon's and the shim's pipes), and containerd
//! parses `state`'s stdout and stderr together. Notes (what is accepted
//! but not applied) and `--debug` lines go to the log file alone, and
//! notes only with `--debug`: podman reads the whole file as one JSON
//! object when a call fails.

use std::fs::File;
use std::io::Write;

use super::cli::{Global, LogFormat};
use super::state::now_rfc3339;

pub struct OciLog {
    file: Option<File>,
    json: bool,
    debug: bool,
}

impl OciLog {
    pub fn new(global: &Global) -> OciLog {
        let file = global.log.as_ref().and_then(|path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .ok()
        });
        OciLog {
            file,
            json: global.log_format == LogFormat::Json,
            debug: global.debug,
        }
    }

    fn line(&mut self, level: &str, msg: &str) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        let text = if self.json {
            let mut v = serde_json::json!({ "level": level, "msg": msg, "time": now_rfc3339() })
                .to_string();
            v.push('\n');
            v
        } else {
            format!("time=\"{}\" level={level} msg={msg:?}\n", now_rfc3339())
        };
        let _ = file.write_all(text.as_bytes());
    }

    /// A failure: one line on stderr and one in the log.
    pub fn error(&mut self, msg: &str) {
        eprintln!("nslaunch: {msg}");
        self.line("error", msg);
    }

    /// Something accepted but not applied, or a step: the log only, and
    /// only with `--debug`.
    pub fn debug(&mut self, msg: &str) {
        if self.debug {
            self.line("debug", msg);
        }
    }
}
