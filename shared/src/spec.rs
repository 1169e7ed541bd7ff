//! nsinit's command line, which is also the container spec: the launcher
//! renders a [`InitArgs`] into argv, nsinit parses it back, so
//! `/proc/1/cmdline` inside a container shows exactly what its init was told,
//! and `nsinit -- cmd` (no setup flags) is the standalone init for any image.
//! The command's environment travels as nsinit's exec environment, never in
//! argv.

use argh::FromArgs;

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
    fn unknown_flags_are_usage_errors() {
        let e = InitArgs::parse("nsinit", &strings(&["--bogus", "sh"])).unwrap_err();
        assert!(e.status.is_err());
        assert!(e.output.contains("--bogus"));
    }
}
