//! nslaunch's command line.

use argh::FromArgs;

/// Run a command in a rootless container made from a directory.
///
/// The command runs in new user, mount and PID namespaces, pivot_rooted
/// into DIR, as the child of nsinit (PID 1), which reaps zombies and
/// forwards signals. No root, daemon or setuid helper is needed: the
/// invoking user is root inside (uid_map "0 <uid> 1").
///
/// Exit status: the command's own; 125 if nslaunch or the container setup
/// failed; 126 if the command cannot be executed; 127 if it is not found in
/// the container; 128+N if it was killed by signal N.
#[derive(FromArgs, Debug, Default)]
#[argh(
    help_triggers("-h", "--help"),
    example = "nslaunch --rootfs ./alpine_root sh\nnslaunch --rootfs ./rootfs sh -c 'id; cat /proc/self/uid_map'\nnslaunch --rootfs ./rootfs -- ls -la /"
)]
pub struct LaunchArgs {
    /// the directory to use as the container's root filesystem (required)
    #[argh(option, arg_name = "DIR")]
    pub rootfs: Option<String>,

    /// the nsinit binary to run as PID 1 (default: the nsinit installed
    /// beside nslaunch)
    #[argh(option, arg_name = "PATH")]
    pub init: Option<String>,

    /// print the version and exit
    #[argh(switch)]
    pub version: bool,

    /// the command to run inside the container, with its arguments; use
    /// "--" before it when it starts with "-"
    #[argh(positional, greedy, arg_name = "CMD")]
    pub command: Vec<String>,
}

impl LaunchArgs {
    pub fn parse(args: &[String]) -> Result<LaunchArgs, argh::EarlyExit> {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        LaunchArgs::from_args(&["nslaunch"], &args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &[&str]) -> Result<LaunchArgs, argh::EarlyExit> {
        LaunchArgs::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn command_flags_are_the_commands() {
        let a = parse(&["--rootfs", "R", "sh", "-c", "echo hi"]).unwrap();
        assert_eq!(a.rootfs.as_deref(), Some("R"));
        assert_eq!(a.command, ["sh", "-c", "echo hi"]);
        let a = parse(&["--rootfs", "R", "sh", "-v"]).unwrap();
        assert_eq!(a.command, ["sh", "-v"]);
        assert!(!a.version);
        let a = parse(&["--rootfs", "R", "ls", "-la", "/", "--rootfs", "x", "--help"]).unwrap();
        assert_eq!(a.command, ["ls", "-la", "/", "--rootfs", "x", "--help"]);
    }

    #[test]
    fn dashdash_and_help_named_commands() {
        let a = parse(&["--rootfs", "R", "--", "-weird"]).unwrap();
        assert_eq!(a.command, ["-weird"]);
        let a = parse(&["--rootfs", "R", "help"]).unwrap();
        assert_eq!(a.command, ["help"]);
    }

    #[test]
    fn help_and_errors() {
        let e = parse(&["--help"]).unwrap_err();
        assert!(e.status.is_ok());
        assert!(e.output.contains("--rootfs"));
        let e = parse(&["--bogus", "sh"]).unwrap_err();
        assert!(e.status.is_err());
        let e = parse(&["--rootfs"]).unwrap_err();
        assert!(e.status.is_err());
    }
}
