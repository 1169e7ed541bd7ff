//! `nslaunch --help`: written by hand, since argh cannot group options.
//! argh still parses the command line; when it reports help, main prints
//! [`TEXT`] instead of argh's own text. The tests below keep this text,
//! `docs/nslaunch.1` and the options argh accepts in step.

/// What `nslaunch -h` and `nslaunch --help` print.
pub const TEXT: &str = r#"Usage: nslaunch [OPTIONS] --rootfs DIR|FILE.tar [--] CMD [ARGS...]
       nslaunch check
       nslaunch cache ls | prune | rm HASH...
       nslaunch [GLOBAL OPTIONS] create|start|state|kill|delete|exec|ps|... ID
                (an OCI runtime for podman, containerd and CRI-O: see
                nslaunch create --help, docs/ENGINES.md)

Run CMD in a rootless container: new user, mount and PID namespaces, the root
filesystem pivot_rooted into, and nsinit as PID 1 to reap zombies and forward
signals. No root, daemon or setuid helper of ours is needed.

Options come before CMD, each as its own word (-v SRC:DST, not -vSRC:DST or
--volume=SRC:DST); everything from CMD on is CMD's, -h and --help included.
Put -- before a CMD that starts with "-". Repeatable options are marked (+).

Root filesystem:
  --rootfs DIR|FILE.tar[.gz|.xz|.zst]
                        the container's / (required): a directory, used as
                        it is; or a tar archive, unpacked once into your
                        cache and run on an overlay, never changed
  --overlay             run on a copy-on-write overlay of the rootfs: write
                        anywhere, the rootfs stays unchanged, the changes
                        are gone at exit
  --overlay-dir DIR     like --overlay, but keep the changes in DIR/upper
                        (overlayfs's work directory: DIR/work) for the next
                        run; DIR is created if missing, not inside the rootfs

Volumes:
  -v, --volume SRC:DST[:OPTIONS]
                        bind the host path SRC (it must exist; relative to
                        the current directory allowed) on DST, an absolute
                        path inside, created if missing. OPTIONS, as in
                        podman, comma-separated: ro (read-only for everyone
                        inside, container root included) or rw; idmap (real
                        root only: an idmapped mount, so files keep their
                        owners inside and container root acts as host root
                        on them) (+)
  --tmpfs DST[:OPTIONS] mount a new tmpfs on DST inside, created if missing;
                        OPTIONS, comma-separated: size=N[k|m|g|%],
                        mode=OCTAL, nr_inodes=N, uid=N, gid=N, ro, exec
                        (default: rw, noexec; always nosuid, nodev) (+)

Identity and environment:
  --userns MODE         how ids map between the host and the container:
                          root     you are root inside, alone: uid_map
                                   "0 <uid> 1" (an ordinary user's default)
                          keep-id  you keep your uid and gid inside
                          subids   you are root, 1..65536 are your ranges in
                                   /etc/subuid and /etc/subgid (newuidmap)
                          auto     0..65535 are an unprivileged host block;
                                   the rootfs is an idmapped mount; on
                                   volumes container root is that block
                                   (real root's default)
                          host     no user namespace (real root only)
  --uid-map INSIDE:OUTSIDE:COUNT
                        map container uids INSIDE.. to host uids OUTSIDE..,
                        COUNT of them, instead of --userns (with --gid-map);
                        an ordinary user may map its own uid and its
                        /etc/subuid ranges (+)
  --gid-map INSIDE:OUTSIDE:COUNT
                        the same for gids (with --uid-map; /etc/subgid) (+)
  -u, --user USER[:GROUP]
                        run CMD as USER, by name or number; names come from
                        the container's own /etc/passwd and /etc/group
  -e, --env KEY[=VALUE] set a variable in CMD's environment; KEY alone copies
                        yours, if you have it (+; wins over --env-file)
  --env-file FILE       read variables from FILE: KEY=VALUE lines (the value
                        as is), KEY alone to copy yours, # comments and
                        blank lines skipped (+)
  -w, --workdir DIR     run CMD in DIR, an absolute path inside, created if
                        missing (default: /)
  --hostname NAME       a UTS namespace of its own with this hostname (and
                        HOSTNAME=NAME in CMD's environment)

Namespaces:
  New user, mount and PID namespaces always (no user namespace: --userns host).
  --unshare-net         a network namespace of its own, with only a loopback
                        interface, up (no network beyond it): --network none
  --unshare-ipc         an IPC namespace of its own (System V IPC and POSIX
                        message queues)
  --unshare-uts         a UTS namespace of its own, with the host's hostname
                        to begin with (implied by --hostname)
  --unshare-cgroup      a cgroup namespace of its own: its cgroup is "/"
  --unshare-time        a time namespace of its own (its own offsets for
                        CLOCK_MONOTONIC and CLOCK_BOOTTIME)
  --unshare-all         all five above

Network:
  The container shares the host's network unless told otherwise.
  --network MODE        host     the host's own network (the default)
                          none     only a loopback interface, up
                          pasta    a network of its own, connected through
                                   pasta (Debian: passt); the host's address,
                                   name server 169.254.1.1 (forwarded to the
                                   host's)
                          slirp4netns
                                   a network of its own through slirp4netns:
                                   10.0.2.100/24, name server 10.0.2.3
                          ns:PATH  join the network namespace at PATH (e.g.
                                   /run/netns/NAME from ip netns add); an
                                   ordinary user only one it owns
                        the helper starts and ends with the container
  -p, --publish [IP:]HOST_PORT:CONTAINER_PORT[/tcp|/udp]
                        make the container's port reachable on the host at
                        IP (default: every address) and HOST_PORT, as
                        docker does; needs --network pasta or slirp4netns;
                        a host port in use is refused; UDP through pasta,
                        under its own number (5353:5353/udp) (+)
  --dns IP              the container's name server: a generated
                        /etc/resolv.conf is bound over the rootfs's own,
                        which is never written (+; default: the helper's
                        forwarder with pasta and slirp4netns, else the
                        rootfs's own file)
  --add-host NAME:IP    a line for NAME in a generated /etc/hosts (with the
                        localhost lines), bound over the rootfs's own (+)

Security:
  Container root has docker's default capabilities (no SYS_ADMIN unless
  asked); /proc/sys and /sys are read-only; no descriptor above 2 passes.
  --cap-add CAP         give container root a capability beyond docker's
                        default set, by name with or without CAP_, or ALL
                        (+; with SYS_ADMIN, CMD runs in a nested user
                        namespace, where every mount is locked)
  --cap-drop CAP        take a capability from container root, or ALL (+;
                        --cap-add names win)
  --no-new-privileges   set no_new_privs for CMD: setuid files and file
                        capabilities give it nothing
  --seccomp default|unconfined|FILE
                        CMD's syscall filter: default (docker's semantics:
                        unknown syscalls fail with ENOSYS, dangerous ones
                        with EPERM, capability-gated ones follow CMD's
                        capabilities), unconfined (none), or a docker,
                        podman or OCI profile in JSON; never nsinit's
  --read-only           mount the rootfs read-only (missing mount points are
                        made first); /dev, /proc, volumes and tmpfs keep
                        their own modes
  --preserve-fds N      pass your descriptors 3 to 3+N-1 to CMD (no other
                        above 2 ever reaches it)

Terminal:
  When stdin and stdout are both terminals, CMD gets a pseudo-terminal of its
  own, as with docker run -it; else it gets your stdin, stdout and stderr.
  -t, --tty             a pseudo-terminal of its own even without a terminal;
                        your stdin is copied to it when it is a terminal
                        (an interactive shell needs no -i), else its stdin
                        is /dev/null unless -i (docker's -t)
  -i, --interactive     with -t, copy your stdin to CMD's terminal (implied
                        when the terminal is the default, or stdin is one)
  -T, --no-tty          no pseudo-terminal even on a terminal: CMD gets your
                        stdin, stdout and stderr as they are, in a session
                        of its own
  Short options do not combine: -t -i, not -it.

Services (systemd):
  Under systemd no option is needed. With NOTIFY_SOCKET set, CMD gets a
  socket of its own (NOTIFY_SOCKET=/run/notify/notify.sock) and what it says
  (READY=1, STATUS=, WATCHDOG=1 ...) is checked and relayed with MAINPID set
  to nslaunch's pid. Sockets handed over by socket activation (LISTEN_FDS,
  with LISTEN_PID nslaunch's pid) reach CMD as descriptors 3.., with
  LISTEN_PID set to CMD's own pid. See docs/SERVICES.md for example units.
  --sdnotify MODE       what to do with NOTIFY_SOCKET: container (the
                        default: relay what CMD says), launcher (say
                        READY=1 once CMD has started, for a CMD that says
                        nothing), ignore (nothing; no socket for CMD)

Init:
  --init PATH           make this init PID 1 (nsinit, tini-static,
                        catatonit), as `docker run --init`: exec'd once the
                        container is built, as `NAME -- CMD`, with CMD's
                        user and capabilities (default: nslaunch's built-in
                        nsinit is PID 1)
  --stop-delay DURATION on the first SIGTERM, let CMD go on serving for
                        DURATION (5s, 500ms) before nsinit forwards it and
                        starts the stop: a drain delay for load balancers;
                        a second SIGTERM or a SIGINT forwards it at once
  --grace DURATION      how long what is left of the container gets between
                        nsinit's SIGTERM and its SIGKILL when the command
                        has ended or is stopped (default 9s; 0: none)

Explain:
  --dry-run             print, without running anything, what nslaunch would
                        do, as the shell commands of the article (unshare,
                        mount, pivot_root ...) and the exact nsinit command
                        line
  --verbose             log each setup step with its duration on stderr,
                        from nslaunch and nsinit (also NSLAUNCH_LOG=1); no
                        short form: -v is --volume, as in docker

Other:
  --version             print the version and exit
  -h, --help            print this help and exit (before CMD only)

Subcommands:
  Only as the first word: nslaunch --rootfs R check runs a CMD named check.
  nslaunch check        inspect this machine (alias: doctor): user namespaces
                        and their sysctls, /etc/subuid and /etc/subgid,
                        newuidmap, overlayfs, cgroup v2, the network
                        helpers and /dev/net/tun; each OK, WARN or
                        FAIL with the fix; exit 0 when a default container
                        can run
  nslaunch cache ls     list the root filesystems unpacked from tarballs
  nslaunch cache prune  remove every entry no container is using
  nslaunch cache rm HASH...
                        remove these entries (a unique prefix will do)

Environment:
  NSLAUNCH_LOG=1        as --verbose
  XDG_CACHE_HOME        the cache is $XDG_CACHE_HOME/nslaunch, else
                        $HOME/.cache/nslaunch (every directory above it
                        must be root's or yours, writable by no one else)
  NSLAUNCH_PROGRESS_DELAY_MS
                        how long an unpack runs before its progress shows on
                        a terminal (default: 700)
  TERM                  passed on to CMD (xterm on a pseudo-terminal of its
                        own when unset)
  NOTIFY_SOCKET         systemd's readiness socket, a path or @NAME: see
                        --sdnotify; WATCHDOG_USEC passes to CMD with it
  LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES
                        socket activation: when LISTEN_PID is nslaunch's
                        pid, descriptors 3 to 3+LISTEN_FDS-1 reach CMD
                        (with --preserve-fds N too: 3 to 3+max-1)
  TMPDIR                where the socket for CMD is made (default /tmp), in
                        a private directory removed once it is mounted
  CMD's environment is clean: PATH (docker's default), HOSTNAME, TERM, HOME
  (from the container's /etc/passwd), then --env-file, then -e.

Examples:
  nslaunch --rootfs ./alpine_root sh
      the article's container: a shell, root inside, you outside
  nslaunch --rootfs alpine-minirootfs-3.22.2-x86_64.tar.gz sh
      from a tarball, unpacked once; apk add works and is gone at exit
  nslaunch --rootfs ./rootfs -v ./data:/data -v ./conf:/etc/app:ro -w /data sh
      two volumes, one read-only for everyone inside; start in /data
  nslaunch --rootfs ./rootfs --userns subids -u 1000:1000 id
      container ids 1..65536 from /etc/subuid and /etc/subgid; run as 1000
  nslaunch --rootfs ./rootfs --unshare-all --read-only --cap-drop ALL \
      --tmpfs /tmp:size=64m sh
      every namespace, a read-only root, no capabilities, a small /tmp
  nslaunch --rootfs ./rootfs --overlay-dir ./changes sh
      write anywhere; the changes stay in ./changes/upper for the next run
  nslaunch --rootfs ./rootfs --hostname box -e DEBUG=1 -- ls -la /
      its own hostname and a variable; -- before the command
  nslaunch --dry-run --rootfs ./alpine_root -v ./data:/data sh
      print the unshare, mount and pivot_root script instead of running it
  nslaunch --sdnotify launcher --rootfs ./rootfs httpd -f -p 8080
      a systemd Type=notify service for a server that does not say READY=1
  nslaunch --rootfs ./rootfs --network pasta -p 127.0.0.1:8080:80 \
      httpd -f -p 80 -h /srv
      a web server in a network of its own, at http://127.0.0.1:8080/

Exit status:
  125    nslaunch or the container setup failed (bad option, rootfs missing,
         namespaces refused, a mount failed)
  126    CMD was found but could not be executed
  127    CMD was not found in the container
  128+N  CMD was killed by signal N
  other  CMD's own exit status

More: man nslaunch; the README and docs/ in nslaunch's source.
"#;

/// What `nslaunch VERB --help` prints for the OCI runtime verbs.
pub const OCI_TEXT: &str = r#"Usage: nslaunch [GLOBAL OPTIONS] VERB [OPTIONS] ID [ARGS...]

nslaunch as an OCI runtime, with runc's command line, for podman, containerd
and CRI-O (see docs/ENGINES.md).

Global options (before the verb):
  --root DIR              where containers' state lives (default: /run/nslaunch
                          for root, $XDG_RUNTIME_DIR/nslaunch otherwise)
  --log FILE              also write failures (and --debug lines) to FILE
  --log-format text|json  the format of --log (json: {"level","msg","time"})
  --debug                 log what is accepted but not applied, and each step
  --systemd-cgroup, --rootless BOOL, --cgroup-manager NAME
                          accepted for compatibility; nslaunch decides from
                          the ids it runs with and what cgroups it may use

Verbs:
  create [--bundle DIR] [--pid-file FILE] [--console-socket SOCK]
         [--preserve-fds N] [--no-pivot] [--no-new-keyring] ID
                          set the container up from DIR/config.json; its
                          process waits for start
  start ID                start the created container's process
  state ID                print its state as JSON
  kill [--all] ID [SIGNAL]
                          send SIGNAL (default TERM; a number, TERM or SIGTERM)
  delete [--force] ID     remove a stopped container (--force: kill it first)
  exec [--process FILE | ARGS...] [--detach] [--pid-file FILE] [--tty]
       [--console-socket SOCK] [--cwd DIR] [--env K=V] [--user UID[:GID]]
       [--additional-gids GID] [--cap CAP] [--no-new-privs]
       [--preserve-fds N] ID
                          run another process in a running container
  ps [--format table|json] ID
                          its processes (host pids)
  list [--format table|json] [--quiet]
                          every container under --root
  run [create's options] ID
                          create, start and wait, in the foreground
  features                what this runtime supports, as JSON
  spec [--bundle DIR] [--rootless]
                          write a starting config.json
  --version               version, commit and OCI spec version

Exit status: 0 on success, 1 when a verb fails (255 for exec), the
container's own for run and for exec without --detach.
"#;

/// The OCI help (the same text for every verb).
pub fn oci(_verb: Option<&str>) -> &'static str {
    OCI_TEXT
}

#[cfg(test)]
mod tests {
    use nslaunch_tests::helpdoc;

    use super::TEXT;
    use crate::cli::LaunchArgs;

    /// The man page, as `make install` installs it.
    const MAN: &str = include_str!("../../docs/nslaunch.1");

    #[test]
    fn help_man_page_and_argh_agree() {
        let argh = LaunchArgs::parse(&["--help".to_string()]).unwrap_err();
        assert!(argh.status.is_ok());
        let title = format!("nslaunch {}", env!("CARGO_PKG_VERSION"));
        // The OCI verbs' options are their own (oci/cli.rs), described in
        // the man page's OCI RUNTIME section.
        let oci = crate::oci::cli::option_names();
        let problems = helpdoc::problems(TEXT, MAN, &title, &argh.output, &oci);
        assert!(problems.is_empty(), "{problems:#?}");
    }

    /// Every option the OCI command line takes is in `nslaunch create
    /// --help` and in the man page's OCI RUNTIME section, except those
    /// accepted only for compatibility and named there as a group.
    #[test]
    fn the_oci_options_are_documented() {
        let man = helpdoc::roff_text(MAN);
        let section = man
            .split("OCI RUNTIME")
            .nth(1)
            .and_then(|s| s.split("ENVIRONMENT").next())
            .unwrap_or("");
        let quiet = [
            "--criu",
            "--keep",
            "--no-subreaper",
            "--process-label",
            "--apparmor",
            "--cgroup",
            "--ignore-paused",
        ];
        for name in crate::oci::cli::option_names() {
            if quiet.contains(&name) {
                continue;
            }
            assert!(super::OCI_TEXT.contains(name), "{name} not in the OCI help");
            assert!(section.contains(name), "{name} not in the man page");
        }
    }

    /// Every example parses as a container run with a command (the
    /// subcommands aside), so none goes stale.
    #[test]
    fn examples_parse() {
        let examples = TEXT.split("\nExamples:\n").nth(1).unwrap();
        let examples = examples.split("\n\n").next().unwrap();
        let mut n = 0;
        let examples = examples.replace(" \\\n     ", "");
        for line in examples.lines().filter(|l| l.starts_with("  nslaunch ")) {
            let words: Vec<String> = helpdoc::shell_words(line).into_iter().skip(1).collect();
            let args = LaunchArgs::parse(&words).unwrap_or_else(|e| panic!("{line}: {e:?}"));
            assert!(args.rootfs.is_some() && !args.command.is_empty(), "{line}");
            n += 1;
        }
        assert!(n >= 6, "{n} examples");
        assert!(examples.contains("  nslaunch --rootfs ./alpine_root sh\n"));
    }
}
