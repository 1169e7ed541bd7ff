//! nsinit's command line, which is also the container spec: the launcher
//! renders a [`InitArgs`] into argv, nsinit parses it back (a round trip
//! the tests below keep exact), and `nsinit -- cmd` (no setup flags) is the
//! standalone init for any image. Once parsed, nsinit under a launcher
//! rewrites what /proc/1/cmdline shows to `nsinit -- CMD...`: the spec is
//! the host's business, not the container's (`nslaunch --dry-run` and
//! `--verbose` show it).
//! The command's environment travels as nsinit's exec environment, never in
//! argv.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::str::FromStr;

use argh::FromArgs;

use crate::caps::{CapSet, CapSets};
use crate::hookspec::HookSpec;
use crate::mountspec::{DeviceSpec, MountSpec};
use crate::tmpfs::Tmpfs;
use crate::volume::Volume;

/// nsinit: a PID 1 for containers. Runs CMD as its child, reaps every zombie
/// (orphans included), forwards every signal it receives to CMD, stops
/// gracefully (SIGTERM to everything, a grace period, then SIGKILL), and
/// exits with CMD's status (128+N when CMD was killed by signal N).
///
/// Use it as the init of a container image (ENTRYPOINT ["/sbin/nsinit", "--"])
/// or let nslaunch run it, which adds --rootfs and --report-fd. Every
/// option can also be set in the environment: NSINIT_SUBREAPER=1,
/// NSINIT_PROCESS_GROUP=1, NSINIT_REWRITE=TERM:INT,HUP:0,
/// NSINIT_SUCCESS_STATUS=143,1, NSINIT_PDEATHSIG=TERM, NSINIT_GRACE=9s,
/// NSINIT_STOP_DELAY=5s, NSINIT_VERBOSE=1, NSINIT_WARN_ORPHANS=1 (a flag wins over its variable;
/// with --rootfs or --report-fd the variables are the command's, not read).
#[derive(FromArgs, Debug, Clone, PartialEq, Eq, Default)]
#[argh(
    help_triggers("-h", "--help"),
    example = "ENTRYPOINT [\"/sbin/nsinit\", \"--\"]\nnsinit -g --rewrite TERM:QUIT -- nginx -g 'daemon off;'\nnsinit -s --grace 30s -- ./run-my-service\nunshare --user --map-root-user --pid --fork --mount-proc nsinit -- sh"
)]
pub struct InitArgs {
    /// become a child subreaper (PR_SET_CHILD_SUBREAPER) so that orphaned
    /// descendants are re-parented to nsinit and reaped, when it is not PID 1
    #[argh(switch, short = 's')]
    pub subreaper: bool,

    /// send forwarded signals to the command's whole process group instead
    /// of the command alone (the command gets its own process group)
    #[argh(switch, short = 'g')]
    pub process_group: bool,

    /// rewrite signal FROM to TO before forwarding it (names or numbers;
    /// TO 0 drops the signal); repeatable, e.g. --rewrite TERM:QUIT
    #[argh(option, arg_name = "FROM:TO")]
    pub rewrite: Vec<String>,

    /// exit with 0 when the command exits with status N (repeatable; N may
    /// be 128+signal, e.g. 143 for SIGTERM)
    #[argh(option, short = 'e', arg_name = "N")]
    pub success_status: Vec<String>,

    /// signal nsinit receives when its parent dies (name or number), which
    /// it then handles like a signal sent to it (TERM starts a graceful stop)
    #[argh(option, short = 'p', arg_name = "SIG")]
    pub pdeathsig: Option<String>,

    /// how long the remaining processes get between SIGTERM and SIGKILL
    /// when stopping: 9s (default), 500ms, 1m, 0 (no grace)
    #[argh(option, arg_name = "DURATION")]
    pub grace: Option<String>,

    /// on the first SIGTERM, keep serving for DURATION before forwarding
    /// it and starting the stop (a drain delay); a second SIGTERM or a
    /// SIGINT forwards at once: 0 (default), 5s, 500ms
    #[argh(option, arg_name = "DURATION")]
    pub stop_delay: Option<String>,

    /// log what nsinit does (start, signals, reaping, the stop sequence)
    /// with timestamps on stderr
    #[argh(switch, short = 'v')]
    pub verbose: bool,

    /// print a warning naming each orphan nsinit reaps (a process that was
    /// not its own child)
    #[argh(switch, short = 'w')]
    pub warn_orphans: bool,

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
    /// when the command is stopped from the terminal, write one byte to
    /// this file descriptor instead of stopping nsinit itself, so that the
    /// process that owns the job (nslaunch) stops for the caller's shell;
    /// SIGCONT to nsinit resumes the command (nslaunch passes it)
    #[argh(option, arg_name = "FD")]
    pub job_control_fd: Option<i32>,

    /// run on an overlay: --rootfs becomes its lower layer, never changed,
    /// and every change goes to an upper layer on a tmpfs of the
    /// container's own, gone at exit (needs --rootfs)
    #[argh(switch)]
    pub overlay: bool,

    /// keep the overlay's upper layer in DIR/upper (its work directory in
    /// DIR/work), an absolute host path, so that changes persist; implies
    /// --overlay
    #[argh(option, arg_name = "DIR")]
    pub overlay_dir: Option<String>,

    /// the detached mount tree of --overlay-dir, open on FD, to use
    /// instead of its path (nslaunch passes an idmapped one this way)
    #[argh(option, arg_name = "FD")]
    pub overlay_dir_fd: Option<i32>,

    // Isolation: namespaces, capabilities, read-only mounts, descriptors.
    /// mount the rootfs read-only (its missing mount points are made
    /// first); /dev, /proc, volumes and tmpfs keep their own modes (needs
    /// --rootfs)
    #[argh(switch)]
    pub read_only: bool,

    /// mount a new tmpfs on DST inside the rootfs, resolved there like a
    /// volume; OPTIONS: size=, mode=, nr_inodes=, uid=, gid=, ro, exec
    /// (repeatable; needs --rootfs)
    #[argh(option, arg_name = "DST[:OPTIONS]")]
    pub tmpfs: Vec<Tmpfs>,

    /// bring the loopback interface up (for a network namespace of the
    /// container's own; nslaunch passes it with --unshare-net)
    #[argh(switch)]
    pub loopback: bool,

    /// set no_new_privs for the command: setuid files and file
    /// capabilities give it nothing
    #[argh(switch)]
    pub no_new_privileges: bool,

    /// pass descriptors 3 to 3+N-1 to the command and no other above 2
    /// (nsinit closes its own copies once the command runs); without it,
    /// every inherited descriptor passes, as with tini
    #[argh(option, arg_name = "N")]
    pub preserve_fds: Option<u32>,

    /// socket activation: descriptors 3 to 3+N-1 are the command's
    /// listening sockets; it gets them (as with --preserve-fds N),
    /// LISTEN_FDS=N and LISTEN_PID set to its own pid (nslaunch passes it;
    /// alone, nsinit does the same when its own LISTEN_PID is its pid)
    #[argh(option, arg_name = "N")]
    pub listen_fds: Option<u32>,

    /// give the command a pseudo-terminal: open /dev/ptmx (under --rootfs,
    /// the container's own devpts, after pivot_root), make the terminal
    /// nsinit's controlling terminal and the command's stdin, stdout and
    /// stderr, in the foreground; bind it on /dev/console (with --rootfs);
    /// and send its master end over the unix socket FD (SCM_RIGHTS), as
    /// runc's --console-socket (nslaunch passes it)
    #[argh(option, arg_name = "FD")]
    pub console_socket: Option<i32>,

    /// the initial window size of the --console-socket terminal
    #[argh(option, arg_name = "ROWSxCOLS")]
    pub console_size: Option<ConsoleSize>,

    /// give the command /dev/null as its stdin (with --console-socket,
    /// stdout and stderr stay on the terminal: docker's -t without -i)
    #[argh(switch)]
    pub null_stdin: bool,

    // Networking.
    /// generate /etc/resolv.conf with this name server and bind it over
    /// the rootfs's own, which is never written (repeatable; needs
    /// --rootfs; nslaunch passes --dns and each network mode's default)
    #[argh(option, arg_name = "IP")]
    pub dns: Vec<String>,

    /// a search domain for the generated /etc/resolv.conf (repeatable)
    #[argh(option, arg_name = "DOMAIN")]
    pub dns_search: Vec<String>,

    /// leave the generated /etc/resolv.conf out, rather than fail, where
    /// the rootfs has none and none may be created (nslaunch passes it for
    /// a network mode's default, not for --dns)
    #[argh(switch)]
    pub dns_best_effort: bool,

    /// generate /etc/hosts with a line for NAME at IP and bind it over the
    /// rootfs's own (repeatable, in order; needs --rootfs)
    #[argh(option, arg_name = "NAME:IP")]
    pub add_host: Vec<String>,

    // The lifecycle (create, start) and OCI bundles (nslaunch passes these).
    /// the launcher's end of the create/start handshake: once set up,
    /// nsinit says so on --report-fd and reads one byte from FD before it
    /// starts the command (nslaunch passes it)
    #[argh(option, arg_name = "FD")]
    pub sync_fd: Option<i32>,

    /// run an OCI bundle's process: the container's layout is the --mount,
    /// --device, --mask and --readonly-path list (no default /proc, /dev,
    /// /sys), and the command is exec'd in place once started, as the
    /// container's own first process (nslaunch passes it)
    #[argh(switch)]
    pub oci: bool,

    /// with --oci, wait for a byte on this FIFO (OCI `start`) before the
    /// command is exec'd, once the launcher has left (nslaunch passes it)
    #[argh(option, arg_name = "FD")]
    pub start_fifo_fd: Option<i32>,

    /// with --oci, stop before pivot_root, say so on --report-fd and wait
    /// for a byte on --sync-fd while the launcher runs the OCI hooks
    #[argh(switch)]
    pub hooks: bool,

    /// with --oci, mount this (TARGET:TYPE:SOURCE:FLAGS:EXTRA:DATA, as
    /// nslaunch renders an OCI bundle's mounts; repeatable, in order)
    #[argh(option, arg_name = "SPEC")]
    pub mount: Vec<MountSpec>,

    /// with --oci, give the container this device node
    /// (PATH:KIND:MAJOR:MINOR:MODE:UID:GID; repeatable)
    #[argh(option, arg_name = "SPEC")]
    pub device: Vec<DeviceSpec>,

    /// with --oci, hide this path (repeatable)
    #[argh(option, arg_name = "PATH")]
    pub mask: Vec<String>,

    /// with --oci, make this path read-only (repeatable)
    #[argh(option, arg_name = "PATH")]
    pub readonly_path: Vec<String>,

    /// set a namespaced sysctl, KEY=VALUE (repeatable)
    #[argh(option, arg_name = "KEY=VALUE")]
    pub sysctl: Vec<String>,

    /// set the NIS domain name (meant for a new UTS namespace)
    #[argh(option, arg_name = "NAME")]
    pub domainname: Option<String>,

    /// the command's umask, in octal
    #[argh(option, arg_name = "MODE")]
    pub umask: Option<String>,

    /// the command's supplementary groups, exactly (comma-separated gids;
    /// instead of those of /etc/group)
    #[argh(option, arg_name = "GIDS")]
    pub groups: Option<String>,

    /// the command's five capability sets,
    /// BOUNDING/EFFECTIVE/PERMITTED/INHERITABLE/AMBIENT (instead of --caps)
    #[argh(option, arg_name = "SETS")]
    pub cap_sets: Option<CapSets>,

    /// the AppArmor profile the command is exec'd into
    #[argh(option, arg_name = "PROFILE")]
    pub apparmor: Option<String>,

    /// with --oci, run this OCI startContainer hook once started, in the
    /// container, before the command (PATH:TIMEOUT:ARGS:ENV; repeatable)
    #[argh(option, arg_name = "SPEC")]
    pub start_hook: Vec<HookSpec>,

    /// the state JSON the --start-hook hooks read on their stdin
    #[argh(option, arg_name = "JSON")]
    pub hook_state: Option<String>,

    /// load the seccomp filter read from FD (a compiled classic BPF
    /// program, the kernel's sock_filter array, until end of file) for the
    /// command, never for nsinit itself (nslaunch passes it)
    #[argh(option, arg_name = "FD")]
    pub seccomp_fd: Option<i32>,

    /// once the container is built, exec the init open on FD (nslaunch's
    /// --init PATH) in nsinit's place, as `NAME -- CMD...`, with CMD's
    /// user, capabilities and filter: that init is PID 1
    #[argh(option, arg_name = "FD")]
    pub init_fd: Option<i32>,

    /// the --init-fd init's name, its argv[0] (default: init)
    #[argh(option, arg_name = "NAME")]
    pub init_name: Option<String>,

    /// print the version and exit
    #[argh(switch)]
    pub version: bool,

    /// the command to run and its arguments
    #[argh(positional, greedy, arg_name = "CMD")]
    pub command: Vec<OsString>,
}

impl InitArgs {
    /// argv for nsinit, without argv\[0\]. The command always follows `--`, so
    /// a command whose name starts with `-` is never taken for a flag; its
    /// words are bytes, passed as they are.
    pub fn render(&self) -> Vec<OsString> {
        let mut argv = Argv::default();
        self.render_supervision(&mut argv);
        self.render_root(&mut argv);
        self.render_process(&mut argv);
        self.render_oci(&mut argv);
        argv.flag(self.version, "--version");
        argv.0.push("--".to_string());
        argv.0
            .into_iter()
            .map(OsString::from)
            .chain(self.command.iter().cloned())
            .collect()
    }

    /// How nsinit supervises: reaping, signals, stopping.
    fn render_supervision(&self, argv: &mut Argv) {
        argv.flag(self.subreaper, "--subreaper");
        argv.flag(self.process_group, "--process-group");
        argv.flag(self.verbose, "--verbose");
        argv.flag(self.warn_orphans, "--warn-orphans");
        argv.each("--rewrite", &self.rewrite);
        argv.each("--success-status", &self.success_status);
        argv.opt("--pdeathsig", &self.pdeathsig);
        argv.opt("--grace", &self.grace);
        argv.opt("--stop-delay", &self.stop_delay);
    }

    /// The container's root, and the descriptors nslaunch passes.
    fn render_root(&self, argv: &mut Argv) {
        argv.opt("--rootfs", &self.rootfs);
        argv.opt("--report-fd", &self.report_fd);
        argv.opt("--job-control-fd", &self.job_control_fd);
        argv.opt("--console-socket", &self.console_socket);
        argv.each("--volume", &self.volume);
        argv.each("--tree", &self.tree);
        argv.opt("--user", &self.user);
        argv.opt("--workdir", &self.workdir);
        argv.opt("--hostname", &self.hostname);
        argv.flag(self.overlay, "--overlay");
        argv.opt("--overlay-dir", &self.overlay_dir);
        argv.opt("--overlay-dir-fd", &self.overlay_dir_fd);
        argv.opt("--caps", &self.caps);
        argv.flag(self.read_only, "--read-only");
        argv.each("--tmpfs", &self.tmpfs);
    }

    /// The command's process: privileges, descriptors, terminal, network.
    fn render_process(&self, argv: &mut Argv) {
        argv.flag(self.loopback, "--loopback");
        argv.flag(self.no_new_privileges, "--no-new-privileges");
        argv.opt("--preserve-fds", &self.preserve_fds);
        argv.opt("--listen-fds", &self.listen_fds);
        argv.opt("--console-size", &self.console_size);
        argv.flag(self.null_stdin, "--null-stdin");
        argv.flag(self.dns_best_effort, "--dns-best-effort");
        argv.each("--dns", &self.dns);
        argv.each("--dns-search", &self.dns_search);
        argv.each("--add-host", &self.add_host);
    }

    /// An OCI bundle's container: its lifecycle, mounts and process.
    fn render_oci(&self, argv: &mut Argv) {
        argv.opt("--sync-fd", &self.sync_fd);
        argv.flag(self.oci, "--oci");
        argv.opt("--start-fifo-fd", &self.start_fifo_fd);
        argv.opt("--seccomp-fd", &self.seccomp_fd);
        argv.opt("--init-fd", &self.init_fd);
        argv.opt("--init-name", &self.init_name);
        argv.flag(self.hooks, "--hooks");
        argv.each("--mount", &self.mount);
        argv.each("--device", &self.device);
        argv.each("--mask", &self.mask);
        argv.each("--readonly-path", &self.readonly_path);
        argv.each("--sysctl", &self.sysctl);
        argv.each("--start-hook", &self.start_hook);
        argv.opt("--domainname", &self.domainname);
        argv.opt("--umask", &self.umask);
        argv.opt("--groups", &self.groups);
        argv.opt("--cap-sets", &self.cap_sets);
        argv.opt("--apparmor", &self.apparmor);
        argv.opt("--hook-state", &self.hook_state);
    }

    /// Whether a launcher (nslaunch) runs this nsinit: it always passes
    /// `--rootfs` and `--report-fd`. Then nsinit's environment is the
    /// command's, and no `NSINIT_*` variable configures nsinit.
    pub fn launched(&self) -> bool {
        self.rootfs.is_some() || self.report_fd.is_some()
    }

    /// The supervision options, as nsinit's core resolves them
    /// (`base::supervision`).
    pub fn supervision_flags(&self) -> base::supervision::Flags {
        base::supervision::Flags {
            launched: self.launched(),
            subreaper: self.subreaper,
            process_group: self.process_group,
            rewrite: self.rewrite.clone(),
            success_status: self.success_status.clone(),
            pdeathsig: self.pdeathsig.clone(),
            grace: self.grace.clone(),
            stop_delay: self.stop_delay.clone(),
            verbose: self.verbose,
            warn_orphans: self.warn_orphans,
        }
    }

    /// Parse argv (without argv\[0\]); `Err` carries argh's text and whether it
    /// is help output (`Ok(())`) or a usage error. The command's words may
    /// be any bytes; options must be UTF-8 ([`crate::cli::parse_os`]).
    pub fn parse<S: AsRef<OsStr>>(program: &str, args: &[S]) -> Result<InitArgs, argh::EarlyExit> {
        crate::cli::parse_os(program, args, |a: &mut InitArgs| &mut a.command)
    }
}

/// nsinit's argv as [`InitArgs::render`] builds it, option by option.
#[derive(Default)]
struct Argv(Vec<String>);

impl Argv {
    fn flag(&mut self, on: bool, name: &str) {
        if on {
            self.0.push(name.to_string());
        }
    }

    fn opt(&mut self, name: &str, value: &Option<impl fmt::Display>) {
        if let Some(v) = value {
            self.0.push(name.to_string());
            self.0.push(v.to_string());
        }
    }

    fn each(&mut self, name: &str, values: &[impl fmt::Display]) {
        for v in values {
            self.0.push(name.to_string());
            self.0.push(v.to_string());
        }
    }
}

/// `--console-size ROWSxCOLS`: a terminal's window size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsoleSize {
    pub rows: u16,
    pub cols: u16,
}

impl FromStr for ConsoleSize {
    type Err = String;

    fn from_str(s: &str) -> Result<ConsoleSize, String> {
        let bad = || format!("{s}: expected ROWSxCOLS, such as 24x80");
        let (rows, cols) = s.split_once('x').ok_or_else(bad)?;
        Ok(ConsoleSize {
            rows: rows.parse().map_err(|_| bad())?,
            cols: cols.parse().map_err(|_| bad())?,
        })
    }
}

impl fmt::Display for ConsoleSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.rows, self.cols)
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
    use std::os::unix::ffi::OsStrExt;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn words(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn render_then_parse_is_identity() {
        let cases = [
            InitArgs {
                rootfs: Some("/home/u/alpine root".into()),
                report_fd: Some(3),
                job_control_fd: Some(4),
                console_socket: Some(5),
                console_size: Some(ConsoleSize { rows: 24, cols: 80 }),
                null_stdin: true,
                command: words(&["sh", "-c", "echo hi", "--rootfs", "-v"]),
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
                command: words(&["id"]),
                ..Default::default()
            },
            InitArgs {
                rootfs: Some("/cache/ab12/root".into()),
                overlay: true,
                overlay_dir: Some("/home/u/keep, it".into()),
                overlay_dir_fd: Some(7),
                command: words(&["sh"]),
                ..Default::default()
            },
            InitArgs {
                caps: Some(CapSet::EMPTY),
                user: Some("1000".into()),
                command: words(&["--caps"]),
                ..Default::default()
            },
            InitArgs {
                command: words(&["-weird-name", "--"]),
                ..Default::default()
            },
            InitArgs {
                subreaper: true,
                process_group: true,
                rewrite: strings(&["TERM:QUIT", "HUP:0"]),
                success_status: strings(&["143", "1"]),
                pdeathsig: Some("KILL".into()),
                grace: Some("2s".into()),
                stop_delay: Some("1.5s".into()),
                verbose: true,
                warn_orphans: true,
                command: words(&["sleep", "1"]),
                ..Default::default()
            },
            InitArgs {
                command: words(&["help"]),
                ..Default::default()
            },
            InitArgs {
                rootfs: Some("/b/rootfs".into()),
                report_fd: Some(3),
                sync_fd: Some(4),
                oci: true,
                start_fifo_fd: Some(5),
                seccomp_fd: Some(6),
                init_fd: Some(9),
                init_name: Some("tini-static".into()),
                hooks: true,
                mount: vec![
                    "/proc:proc:proc:e::".parse().unwrap(),
                    "/data:bind:/host/a%3ab:1:rRp:".parse().unwrap(),
                ],
                device: vec!["/dev/fuse:c:10:229:666::".parse().unwrap()],
                mask: strings(&["/proc/kcore"]),
                readonly_path: strings(&["/proc/sys"]),
                sysctl: strings(&["net.ipv4.ping_group_range=0 0"]),
                domainname: Some("example.org".into()),
                umask: Some("22".into()),
                groups: Some("10,20".into()),
                cap_sets: Some("KILL/KILL/KILL/none/none".parse().unwrap()),
                apparmor: Some("containers-default".into()),
                start_hook: vec!["/bin/hook:5:hook,a%2cb:PATH=/bin".parse().unwrap()],
                hook_state: Some("{\"id\":\"x\"}".into()),
                command: words(&["sh", "-c", "exit 3"]),
                ..Default::default()
            },
            InitArgs {
                rootfs: Some("/r".into()),
                read_only: true,
                tmpfs: vec![
                    "/run:size=64m,mode=755".parse().unwrap(),
                    "/tmp:exec".parse().unwrap(),
                ],
                loopback: true,
                no_new_privileges: true,
                preserve_fds: Some(2),
                listen_fds: Some(1),
                dns: strings(&["169.254.1.1", "fd00::1"]),
                dns_search: strings(&["example.org"]),
                dns_best_effort: true,
                add_host: strings(&["localhost:127.0.0.1", "localhost:::1"]),
                command: words(&["sh"]),
                ..Default::default()
            },
            // The command is bytes: non-UTF-8 words, one that spells a
            // flag, one that is only a dash and a bad byte.
            InitArgs {
                rootfs: Some("/r".into()),
                user: Some("1000".into()),
                command: vec![
                    OsString::from("echo"),
                    OsStr::from_bytes(b"caf\xe9").into(),
                    OsStr::from_bytes(b"-\xff").into(),
                    "--user".into(),
                ],
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
        assert_eq!(a.command, words(&["sh", "-c", "exit 3", "-v"]));
        assert_eq!(a.rootfs, None);
    }

    #[test]
    fn a_command_named_help_is_a_command() {
        let a = InitArgs::parse("nsinit", &strings(&["help"])).unwrap();
        assert_eq!(a.command, words(&["help"]));
    }

    #[test]
    fn bad_values_are_usage_errors_naming_them() {
        for (args, want) in [
            (&["--volume", "rel:/x", "sh"][..], "rel:/x"),
            (&["--tree", "/x=fd", "sh"][..], "/x=fd"),
            (&["--tree", "x=3", "sh"][..], "x=3"),
            (&["--caps", "CHOWN,FLY", "sh"][..], "FLY"),
            (&["--tmpfs", "/x:size=big", "sh"][..], "size=big"),
            (&["--preserve-fds", "-1", "sh"][..], "--preserve-fds"),
            (&["--console-size", "24", "sh"][..], "24"),
            (&["--console-size", "24x-1", "sh"][..], "24x-1"),
        ] {
            let e = InitArgs::parse("nsinit", &strings(args)).unwrap_err();
            assert!(e.status.is_err());
            assert!(e.output.contains(want), "{args:?}: {}", e.output);
        }
    }

    #[test]
    fn short_flags() {
        let a = InitArgs::parse(
            "nsinit",
            &strings(&["-s", "-g", "-v", "-w", "-e", "3", "-p", "TERM", "true"]),
        )
        .unwrap();
        assert!(a.subreaper && a.process_group && a.verbose && a.warn_orphans);
        assert_eq!(a.success_status, ["3"]);
        assert_eq!(a.pdeathsig.as_deref(), Some("TERM"));
        assert_eq!(a.command, ["true"]);
    }

    #[test]
    fn unknown_flags_are_usage_errors() {
        let e = InitArgs::parse("nsinit", &strings(&["--bogus", "sh"])).unwrap_err();
        assert!(e.status.is_err());
        assert!(e.output.contains("--bogus"));
    }
}
