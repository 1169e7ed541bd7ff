//! nsinit's command line, which is also the container spec: the launcher
//! renders a [`InitArgs`] into argv, nsinit parses it back, so
//! `/proc/1/cmdline` inside a container shows exactly what its init was told,
//! and `nsinit -- cmd` (no setup flags) is the standalone init for any image.
//! The command's environment travels as nsinit's exec environment, never in
//! argv.

use std::fmt;
use std::str::FromStr;

use argh::FromArgs;

use crate::caps::CapSet;
use crate::volume::Volume;

/// nsinit: a PID 1 for containers. Runs CMD as its child, reaps every zombie
/// (orphans included), forwards every signal it receives to CMD, and exits
/// with CMD's status (128+N when CMD was killed by signal N).
///
/// Use it as the init of a container image (ENTRYPOINT ["/sbin/nsinit", "--"])
/// or let nslaunch run it, which adds --rootfs and --report-fd.
#[derive(FromArgs, Debug, Clone, PartialEq, Eq, Default)]
#[argh(help_triggers("-h", "--help"))]
pub struct InitArgs {
    /// set up the container's root first (nslaunch passes it): make every
    /// mount private, bind DIR, mount /proc and a minimal /dev inside it,
    /// pivot_root into it and detach the old root
    #[argh(option, arg_name = "DIR")]
    pub rootfs: Option<String>,

    /// on a setup or exec failure, write a one-line report to this file
    /// descriptor instead of stderr (nslaunch passes it)
    #[argh(option, arg_name = "FD")]
    pub report_fd: Option<i32>,

    /// bind SRC (an absolute host path) on DST inside the rootfs before
    /// pivot_root, read-only for everyone with :ro; DST is created if
    /// missing, resolved inside the rootfs (repeatable; needs --rootfs)
    #[argh(option, arg_name = "SRC:DST[:ro|:rw]")]
    pub volume: Vec<Volume>,

    /// attach the detached mount tree open on FD at DST instead of binding
    /// a path: "/" for the rootfs, else a --volume's DST (nslaunch passes
    /// idmapped trees this way; repeatable)
    #[argh(option, arg_name = "DST=FD")]
    pub tree: Vec<TreeFd>,

    /// run CMD as USER[:GROUP], by name (from the container's own
    /// /etc/passwd and /etc/group) or number
    #[argh(option, arg_name = "USER[:GROUP]")]
    pub user: Option<String>,

    /// run CMD in DIR (an absolute path, created if missing)
    #[argh(option, arg_name = "DIR")]
    pub workdir: Option<String>,

    /// set the hostname (meant for a new UTS namespace, which nslaunch
    /// makes for it)
    #[argh(option, arg_name = "NAME")]
    pub hostname: Option<String>,

    /// run CMD with only these capabilities (comma-separated names such as
    /// CHOWN,KILL, or none): its bounding set is cut to them, container
    /// root keeps them, any other user gets none
    #[argh(option, arg_name = "CAPS")]
    pub caps: Option<CapSet>,

    /// print the version and exit
    #[argh(switch)]
    pub version: bool,

    /// the command to run and its arguments
    #[argh(positional, greedy, arg_name = "CMD")]
    pub command: Vec<String>,
}

impl InitArgs {
    /// argv for nsinit, without argv\[0\]. The command always follows `--`, so
    /// a command whose name starts with `-` is never taken for a flag.
    pub fn render(&self) -> Vec<String> {
        let mut argv = Vec::new();
        if let Some(root) = &self.rootfs {
            argv.push("--rootfs".to_string());
            argv.push(root.clone());
        }
        if let Some(fd) = self.report_fd {
            argv.push("--report-fd".to_string());
            argv.push(fd.to_string());
        }
        for v in &self.volume {
            argv.push("--volume".to_string());
            argv.push(v.to_string());
        }
        for t in &self.tree {
            argv.push("--tree".to_string());
            argv.push(t.to_string());
        }
        for (flag, value) in [
            ("--user", &self.user),
            ("--workdir", &self.workdir),
            ("--hostname", &self.hostname),
        ] {
            if let Some(v) = value {
                argv.push(flag.to_string());
                argv.push(v.clone());
            }
        }
        if let Some(caps) = self.caps {
            argv.push("--caps".to_string());
            argv.push(caps.to_string());
        }
        if self.version {
            argv.push("--version".to_string());
        }
        argv.push("--".to_string());
        argv.extend(self.command.iter().cloned());
        argv
    }

    /// Parse argv (without argv\[0\]); `Err` carries argh's text and whether it
    /// is help output (`Ok(())`) or a usage error.
    pub fn parse(program: &str, args: &[String]) -> Result<InitArgs, argh::EarlyExit> {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        InitArgs::from_args(&[program], &args)
    }
}

/// `--tree DST=FD`: a detached mount tree (`open_tree`), open on FD, to
/// attach at DST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeFd {
    pub dst: String,
    pub fd: i32,
}

impl FromStr for TreeFd {
    type Err = String;

    fn from_str(s: &str) -> Result<TreeFd, String> {
        let bad = || format!("{s}: expected DST=FD");
        let (dst, fd) = s.rsplit_once('=').ok_or_else(bad)?;
        let fd = fd
            .parse::<i32>()
            .ok()
            .filter(|fd| *fd >= 0)
            .ok_or_else(bad)?;
        if !dst.starts_with('/') {
            return Err(bad());
        }
        Ok(TreeFd {
            dst: dst.to_string(),
            fd,
        })
    }
}

impl fmt::Display for TreeFd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.dst, self.fd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn render_then_parse_is_identity() {
        let cases = [
            InitArgs {
                rootfs: Some("/home/u/alpine root".into()),
                report_fd: Some(3),
                version: false,
                command: strings(&["sh", "-c", "echo hi", "--rootfs", "-v"]),
                ..Default::default()
            },
            InitArgs {
                rootfs: Some("/r".into()),
                volume: vec![
                    "/home/u/a:b:/data:ro".parse().unwrap(),
                    "/x:/y".parse().unwrap(),
                ],
                tree: vec!["/=5".parse().unwrap(), "/data=6".parse().unwrap()],
                user: Some("web:staff".into()),
                workdir: Some("/srv/web".into()),
                hostname: Some("box".into()),
                caps: Some(CapSet::docker_default()),
                command: strings(&["id"]),
                ..Default::default()
            },
            InitArgs {
                caps: Some(CapSet::EMPTY),
                user: Some("1000".into()),
                command: strings(&["--caps"]),
                ..Default::default()
            },
            InitArgs {
                command: strings(&["-weird-name", "--"]),
                ..Default::default()
            },
            InitArgs {
                command: strings(&["help"]),
                ..Default::default()
            },
        ];
        for case in cases {
            let parsed = InitArgs::parse("nsinit", &case.render()).unwrap();
            assert_eq!(parsed, case);
        }
    }

    #[test]
    fn command_flags_pass_through_without_dashdash() {
        let a = InitArgs::parse("nsinit", &strings(&["sh", "-c", "exit 3", "-v"])).unwrap();
        assert_eq!(a.command, strings(&["sh", "-c", "exit 3", "-v"]));
        assert_eq!(a.rootfs, None);
    }

    #[test]
    fn a_command_named_help_is_a_command() {
        let a = InitArgs::parse("nsinit", &strings(&["help"])).unwrap();
        assert_eq!(a.command, strings(&["help"]));
    }

    #[test]
    fn bad_values_are_usage_errors_naming_them() {
        for (args, want) in [
            (&["--volume", "rel:/x", "sh"][..], "rel:/x"),
            (&["--tree", "/x=fd", "sh"][..], "/x=fd"),
            (&["--tree", "x=3", "sh"][..], "x=3"),
            (&["--caps", "CHOWN,FLY", "sh"][..], "FLY"),
        ] {
            let e = InitArgs::parse("nsinit", &strings(args)).unwrap_err();
            assert!(e.status.is_err());
            assert!(e.output.contains(want), "{args:?}: {}", e.output);
        }
    }

    #[test]
    fn unknown_flags_are_usage_errors() {
        let e = InitArgs::parse("nsinit", &strings(&["--bogus", "sh"])).unwrap_err();
        assert!(e.status.is_err());
        assert!(e.output.contains("--bogus"));
    }
}
