//! nslaunch's command line.

use std::ffi::{OsStr, OsString};

use argh::FromArgs;

/// Run a command in a rootless container made from a directory. (What
/// users see is the grouped text of `help.rs`; argh's own help from these
/// comments is what the help tests compare it with.)
#[derive(FromArgs, Debug, Default)]
#[argh(help_triggers("-h", "--help"))]
pub struct LaunchArgs {
    /// the container's root filesystem (required): a directory, or a tar
    /// archive (.tar, .tar.gz, .tar.xz, .tar.zst), unpacked once into
    /// your cache and run on an overlay, never changed
    #[argh(option, arg_name = "DIR|FILE.tar")]
    pub rootfs: Option<String>,

    /// make the init at PATH (nsinit, tini-static, catatonit) PID 1, exec'd
    /// once the container is built as `NAME -- CMD` (default: nslaunch's
    /// built-in nsinit is PID 1)
    #[argh(option, arg_name = "PATH")]
    pub init: Option<String>,

    /// on the first SIGTERM, let the container go on serving for DURATION
    /// before nsinit forwards it and starts the stop (a drain delay: 5s,
    /// 500ms); a second SIGTERM or a SIGINT forwards it at once
    #[argh(option, arg_name = "DURATION")]
    pub stop_delay: Option<String>,

    /// when the command has ended or been stopped, how long what is left
    /// gets between SIGTERM and SIGKILL (nsinit's --grace; default 9s)
    #[argh(option, arg_name = "DURATION")]
    pub grace: Option<String>,

    /// bind a host path into the container: SRC (relative to the current
    /// directory allowed) must exist; DST, an absolute path inside, is
    /// created if missing; OPTIONS, comma-separated: ro (read-only for
    /// everyone inside, container root included) or rw, and idmap (real
    /// root: an idmapped mount keeping on-disk owners) (repeatable)
    #[argh(option, short = 'v', arg_name = "SRC:DST[:OPTIONS]")]
    pub volume: Vec<String>,

    /// how ids map between the host and the container: root (an ordinary
    /// user's default: you are root inside, alone), keep-id (you keep your
    /// uid and gid inside), subids (you are root, 1..65536 come from
    /// /etc/subuid and /etc/subgid), auto (real root's default: 0..65535
    /// are an unprivileged host block, the rootfs is idmapped, volumes
    /// are not), host (no user namespace; real root only)
    #[argh(option, arg_name = "MODE")]
    pub userns: Option<String>,

    /// map container uids INSIDE.. to host uids OUTSIDE.., COUNT of them,
    /// instead of --userns (repeatable, with --gid-map); an ordinary user
    /// may map its own uid and its /etc/subuid ranges
    #[argh(option, arg_name = "INSIDE:OUTSIDE:COUNT")]
    pub uid_map: Vec<String>,

    /// map container gids like --uid-map (repeatable, with --uid-map); an
    /// ordinary user may map its own gid and its /etc/subgid ranges
    #[argh(option, arg_name = "INSIDE:OUTSIDE:COUNT")]
    pub gid_map: Vec<String>,

    /// run the command as USER[:GROUP], by name or number; names come from
    /// the container's own /etc/passwd and /etc/group
    #[argh(option, short = 'u', arg_name = "USER[:GROUP]")]
    pub user: Option<String>,

    /// set a variable in the command's environment: KEY=VALUE, or KEY to
    /// copy yours when you have it (repeatable; wins over --env-file)
    #[argh(option, short = 'e', arg_name = "KEY[=VALUE]")]
    pub env: Vec<String>,

    /// read variables from FILE: KEY=VALUE lines (the value as is), KEY
    /// alone to copy yours, # comments and blank lines skipped (repeatable)
    #[argh(option, arg_name = "FILE")]
    pub env_file: Vec<String>,

    /// run the command in DIR, an absolute path in the container, created
    /// if missing (default: /)
    #[argh(option, short = 'w', arg_name = "DIR")]
    pub workdir: Option<String>,

    /// give the container its own UTS namespace with this hostname (and
    /// HOSTNAME=NAME in its environment)
    #[argh(option, arg_name = "NAME")]
    pub hostname: Option<String>,

    /// run on a copy-on-write overlay of the rootfs: the container may
    /// write anywhere, the rootfs stays unchanged, and the changes are
    /// discarded at exit
    #[argh(switch)]
    pub overlay: bool,

    /// like --overlay, but keep the changes in DIR (DIR/upper, with
    /// overlayfs's work directory DIR/work), so they persist across runs;
    /// DIR is created if missing and must not be inside the rootfs
    #[argh(option, arg_name = "DIR")]
    pub overlay_dir: Option<String>,

    // Networking.
    /// the container's network: host (the default: the host's own), none
    /// (only loopback), pasta or slirp4netns (a network of its own,
    /// reaching out through that user-mode helper), ns:PATH (join the
    /// network namespace at PATH, e.g. /run/netns/NAME)
    #[argh(option, arg_name = "MODE")]
    pub network: Option<String>,

    /// publish a container port on the host, docker's way:
    /// [IP:]HOST_PORT:CONTAINER_PORT[/tcp|/udp] (IP defaults to every
    /// address; needs --network pasta or slirp4netns; repeatable)
    #[argh(option, short = 'p', arg_name = "[IP:]HOST:CONTAINER[/PROTO]")]
    pub publish: Vec<String>,

    /// the container's name server: a generated /etc/resolv.conf is bound
    /// over the rootfs's own, which is never written (repeatable)
    #[argh(option, arg_name = "IP")]
    pub dns: Vec<String>,

    /// add a line NAME at IP to a generated /etc/hosts, bound over the
    /// rootfs's own (repeatable)
    #[argh(option, arg_name = "NAME:IP")]
    pub add_host: Vec<String>,

    // Isolation: namespaces, privileges, read-only mounts, fds.
    /// give the container a network namespace of its own, with only a
    /// loopback interface, up (no network beyond it)
    #[argh(switch)]
    pub unshare_net: bool,

    /// give the container an IPC namespace of its own (System V IPC and
    /// POSIX message queues)
    #[argh(switch)]
    pub unshare_ipc: bool,

    /// give the container a UTS namespace of its own, with the host's
    /// hostname to begin with (implied by --hostname)
    #[argh(switch)]
    pub unshare_uts: bool,

    /// give the container a cgroup namespace of its own: its cgroup is "/"
    /// inside
    #[argh(switch)]
    pub unshare_cgroup: bool,

    /// give the container a time namespace of its own (its own offsets for
    /// CLOCK_MONOTONIC and CLOCK_BOOTTIME)
    #[argh(switch)]
    pub unshare_time: bool,

    /// all of --unshare-net, --unshare-ipc, --unshare-uts, --unshare-cgroup
    /// and --unshare-time
    #[argh(switch)]
    pub unshare_all: bool,

    /// give container root a capability beyond docker's default set, by
    /// name with or without CAP_, or ALL (repeatable; with SYS_ADMIN the
    /// command runs in a nested user namespace, where every mount is
    /// locked)
    #[argh(option, arg_name = "CAP")]
    pub cap_add: Vec<String>,

    /// take a capability from container root, by name with or without
    /// CAP_, or ALL (repeatable; --cap-add names win)
    #[argh(option, arg_name = "CAP")]
    pub cap_drop: Vec<String>,

    /// set no_new_privs for the command: setuid files and file
    /// capabilities give it nothing
    #[argh(switch)]
    pub no_new_privileges: bool,

    /// the command's seccomp filter: default (nslaunch's, with docker's
    /// semantics: unknown syscalls fail with ENOSYS, dangerous ones with
    /// EPERM, capability-gated ones follow the command's capabilities),
    /// unconfined (none), or FILE, a docker/podman/OCI profile in JSON
    #[argh(option, arg_name = "default|unconfined|FILE")]
    pub seccomp: Option<String>,

    /// mount the rootfs read-only (missing mount points are made first);
    /// /dev, /proc, volumes and tmpfs keep their own modes
    #[argh(switch)]
    pub read_only: bool,

    /// mount a new tmpfs on DST, an absolute path inside, created if
    /// missing; OPTIONS: size=N[k|m|g|%], mode=OCTAL, nr_inodes=N, uid=N,
    /// gid=N, ro, exec (default: rw, noexec, always nosuid, nodev;
    /// repeatable)
    #[argh(option, arg_name = "DST[:OPTIONS]")]
    pub tmpfs: Vec<String>,

    /// pass your descriptors 3 to 3+N-1 to the command (no other above 2
    /// ever reaches it)
    #[argh(option, arg_name = "N")]
    pub preserve_fds: Option<u32>,

    // Services under systemd: socket activation and readiness.
    /// what to do with systemd's NOTIFY_SOCKET: container (the default:
    /// the command gets a socket of its own, its messages are checked and
    /// relayed), launcher (nslaunch says READY=1 once the command has
    /// started), ignore
    #[argh(option, arg_name = "MODE")]
    pub sdnotify: Option<String>,

    /// give the command a pseudo-terminal of its own (the default when
    /// stdin and stdout are both terminals, with -i implied); your
    /// terminal is raw while it runs and restored after; its stdin is
    /// /dev/null unless -i
    #[argh(switch, short = 't')]
    pub tty: bool,

    /// no pseudo-terminal even on a terminal: the command gets your stdin,
    /// stdout and stderr as they are (in a session of its own, so it can
    /// never push input into your terminal)
    #[argh(switch, short = 'T')]
    pub no_tty: bool,

    /// with -t, copy your stdin to the command's terminal (implied when
    /// the terminal is the default); without a pseudo-terminal the command
    /// always reads your stdin
    #[argh(switch, short = 'i')]
    pub interactive: bool,

    // Explain what would be done, and time it.
    /// print, without running anything, what nslaunch would do, as the
    /// shell commands of the article (unshare, mount, pivot_root ...) and
    /// the exact nsinit command line
    #[argh(switch)]
    pub dry_run: bool,

    /// log each setup step with its duration on stderr, from nslaunch and
    /// nsinit (also NSLAUNCH_LOG=1); -v is --volume, as in docker
    #[argh(switch)]
    pub verbose: bool,

    /// print the version and exit
    #[argh(switch)]
    pub version: bool,

    /// the command to run inside the container, with its arguments; use
    /// "--" before it when it starts with "-"
    #[argh(positional, greedy, arg_name = "CMD")]
    pub command: Vec<OsString>,
}

impl LaunchArgs {
    /// Parse argv (without argv\[0\]): options are UTF-8, the command's
    /// words any bytes ([`shared::cli::parse_os`]).
    pub fn parse<S: AsRef<OsStr>>(args: &[S]) -> Result<LaunchArgs, argh::EarlyExit> {
        shared::cli::parse_os("nslaunch", args, |a: &mut LaunchArgs| &mut a.command)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &[&str]) -> Result<LaunchArgs, argh::EarlyExit> {
        LaunchArgs::parse(v)
    }

    #[test]
    fn the_command_is_bytes_and_options_are_utf8() {
        use std::os::unix::ffi::OsStrExt;
        let b = |v: &[u8]| OsStr::from_bytes(v).to_os_string();
        let a = LaunchArgs::parse(&[b(b"--rootfs"), b(b"R"), b(b"echo"), b(b"caf\xe9")]).unwrap();
        assert_eq!(a.command, [b(b"echo"), b(b"caf\xe9")]);
        let e = LaunchArgs::parse(&[b(b"-e"), b(b"A=\xe9"), b(b"--rootfs"), b(b"R"), b(b"sh")])
            .unwrap_err();
        assert!(e
            .output
            .starts_with("-e \"A=\u{fffd}\": the value is not valid UTF-8"));
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
    fn repeatable_and_short_options() {
        let a = parse(&[
            "-v",
            "a:/a",
            "--volume",
            "b:/b:ro",
            "-e",
            "A=1",
            "--env",
            "B",
            "--env-file",
            "f",
            "-u",
            "web:staff",
            "-w",
            "/w",
            "--hostname",
            "box",
            "--userns",
            "keep-id",
            "--uid-map",
            "0:1:1",
            "--gid-map",
            "0:1:1",
            "--rootfs",
            "R",
            "sh",
            "-v",
            "-u",
        ])
        .unwrap();
        assert_eq!(a.volume, ["a:/a", "b:/b:ro"]);
        assert_eq!(a.env, ["A=1", "B"]);
        assert_eq!(a.env_file, ["f"]);
        assert_eq!(a.user.as_deref(), Some("web:staff"));
        assert_eq!(a.workdir.as_deref(), Some("/w"));
        assert_eq!(a.hostname.as_deref(), Some("box"));
        assert_eq!(a.userns.as_deref(), Some("keep-id"));
        assert_eq!((a.uid_map.len(), a.gid_map.len()), (1, 1));
        assert!(!a.overlay && a.overlay_dir.is_none());
        let o = parse(&["--overlay", "--overlay-dir", "d", "--rootfs", "x.tar", "sh"]).unwrap();
        assert!(o.overlay);
        assert_eq!(o.overlay_dir.as_deref(), Some("d"));
        // After the command, -v and -u are the command's.
        assert_eq!(a.command, ["sh", "-v", "-u"]);
    }

    #[test]
    fn isolation_flags() {
        let a = parse(&[
            "--unshare-net",
            "--unshare-all",
            "--cap-add",
            "SYS_ADMIN",
            "--cap-drop",
            "ALL",
            "--cap-add",
            "chown",
            "--no-new-privileges",
            "--read-only",
            "--tmpfs",
            "/run:size=1m",
            "--preserve-fds",
            "2",
            "--rootfs",
            "R",
            "sh",
            "--read-only",
        ])
        .unwrap();
        assert!(a.unshare_net && a.unshare_all && !a.unshare_ipc);
        assert_eq!(a.cap_add, ["SYS_ADMIN", "chown"]);
        assert_eq!(a.cap_drop, ["ALL"]);
        assert!(a.no_new_privileges && a.read_only);
        assert_eq!(a.tmpfs, ["/run:size=1m"]);
        assert_eq!(a.preserve_fds, Some(2));
        assert_eq!(a.command, ["sh", "--read-only"]);
        let a = parse(&["--sdnotify", "launcher", "--rootfs", "R", "sh"]).unwrap();
        assert_eq!(a.sdnotify.as_deref(), Some("launcher"));
        assert!(parse(&["--preserve-fds", "-1", "--rootfs", "R", "sh"]).is_err());
    }

    #[test]
    fn network_flags() {
        let a = parse(&[
            "--network",
            "pasta",
            "-p",
            "127.0.0.1:8080:80",
            "--publish",
            "5353:53/udp",
            "--dns",
            "9.9.9.9",
            "--add-host",
            "db:192.0.2.10",
            "--rootfs",
            "R",
            "sh",
            "-p",
        ])
        .unwrap();
        assert_eq!(a.network.as_deref(), Some("pasta"));
        assert_eq!(a.publish, ["127.0.0.1:8080:80", "5353:53/udp"]);
        assert_eq!((a.dns.len(), a.add_host.len()), (1, 1));
        assert_eq!(a.command, ["sh", "-p"]);
    }

    #[test]
    fn help_and_errors() {
        let e = parse(&["--help"]).unwrap_err();
        assert!(e.status.is_ok());
        assert!(e.output.contains("--rootfs"));
        for flag in [
            "-v, --volume",
            "--userns",
            "--uid-map",
            "--gid-map",
            "-u, --user",
            "-e, --env",
            "--env-file",
            "-w, --workdir",
            "--hostname",
            "--overlay",
            "--overlay-dir",
            "--unshare-net",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup",
            "--unshare-time",
            "--unshare-all",
            "--cap-add",
            "--cap-drop",
            "--no-new-privileges",
            "--read-only",
            "--tmpfs",
            "--preserve-fds",
        ] {
            assert!(e.output.contains(flag), "{flag} not in --help");
        }
        let e = parse(&["--bogus", "sh"]).unwrap_err();
        assert!(e.status.is_err());
        let e = parse(&["--rootfs"]).unwrap_err();
        assert!(e.status.is_err());
    }
}
