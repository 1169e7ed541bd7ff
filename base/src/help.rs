//! `nsinit --help`, the same for the standalone nsinit and nslaunch's
//! built-in one: written by hand, since argh cannot group options. The
//! tests in init/src/help.rs keep this text, `docs/nsinit.1` and the
//! options each parser accepts in step.

/// What `nsinit -h` and `nsinit --help` print.
pub const TEXT: &str = r#"Usage: nsinit [OPTIONS] [--] CMD [ARGS...]

A PID 1 for containers: runs CMD as its child, reaps every zombie (orphans
included), forwards every signal it gets to CMD, stops gracefully (SIGTERM to
every process, a grace period, then SIGKILL) and exits with CMD's status. One
static binary without a C library, needing no file in the image; nslaunch
runs the same loop, built in, in every container.

Job control: a stop signal nsinit forwards (SIGTSTP, SIGTTIN, SIGTTOU, after
--rewrite) stops nsinit too once CMD has stopped, so that the shell that
started it sees its job stopped; SIGCONT resumes both. As PID 1 of a PID
namespace nsinit cannot stop itself (the kernel ignores it); CMD stays
stopped until SIGCONT.

Options come before CMD, each as its own word; everything from CMD on is
CMD's, -h and --help included. Repeatable options are marked (+).

As an init:
  Each of these also has an environment variable, for an image whose
  ENTRYPOINT fixes argv (a flag given wins over its variable); none is read
  with --rootfs or --report-fd (under nslaunch): they are then CMD's.
  -s, --subreaper       become a child subreaper (PR_SET_CHILD_SUBREAPER), so
                        that orphans reach nsinit when it is not PID 1
                        [NSINIT_SUBREAPER=1]
  -g, --process-group   forward signals to CMD's whole process group, not to
                        CMD alone [NSINIT_PROCESS_GROUP=1]
  --rewrite FROM:TO     rewrite signal FROM to TO before forwarding it, names
                        or numbers; TO 0 drops it (+)
                        [NSINIT_REWRITE=TERM:QUIT,HUP:0]
  -e, --success-status N
                        exit 0 when CMD exits with N, which may be 128+signal,
                        e.g. 143 for SIGTERM (+) [NSINIT_SUCCESS_STATUS=143,1]
  -p, --pdeathsig SIG   the signal nsinit gets when its parent dies, handled
                        like one sent to it (TERM: a graceful stop)
                        [NSINIT_PDEATHSIG=TERM]
  --grace DURATION      how long the other processes get between SIGTERM and
                        SIGKILL when stopping: 9s (default, under docker's
                        and podman's 10s), 500ms, 2m, 0 [NSINIT_GRACE=30s]
  --stop-delay DURATION on the first SIGTERM, go on serving for DURATION
                        before forwarding it and starting the stop (a drain
                        delay for load balancers): 0 (default), 5s; a
                        second SIGTERM or a SIGINT forwards it at once
                        [NSINIT_STOP_DELAY=5s]
  -v, --verbose         log each step with the time since start on stderr
                        (nsinit[+1.234s]: ...) [NSINIT_VERBOSE=1]
  -w, --warn-orphans    name each orphan nsinit reaps (a process that was not
                        its own child) [NSINIT_WARN_ORPHANS=1]

Set by nslaunch:
  The container's setup, taken only by nslaunch's built-in nsinit (nslaunch
  run as nsinit); the nsinit executable refuses them all but three, of use
  alone too: --no-new-privileges, --preserve-fds and --listen-fds. The
  option --rootfs works only as PID 1 of new PID and mount namespaces.
  --rootfs DIR          build the container's root first: make every mount
                        private, bind DIR (or an overlay of it), mount /proc,
                        a minimal /dev and a read-only /sys, pivot_root into
                        it and detach the old root
  --report-fd FD        write a setup or exec failure as one line to FD, not
                        to stderr
  --job-control-fd FD   when CMD is stopped from the terminal, write a byte
                        to FD instead of stopping nsinit (SIGCONT resumes)
  --volume SRC:DST[:OPTIONS]
                        bind SRC, an absolute host path, on DST inside the
                        rootfs, resolved there, created if missing; OPTIONS:
                        ro (read-only for everyone) or rw, and idmap (only
                        with a --tree for DST: nslaunch makes it) (+)
  --tree DST=FD         attach the detached mount tree open on FD at DST ("/"
                        for the rootfs, else a --volume's DST) instead of
                        binding a path (+)
  --overlay             run on an overlay: --rootfs is its lower layer, never
                        changed; the changes go to a tmpfs, gone at exit
  --overlay-dir DIR     keep the overlay's changes in DIR/upper (its work
                        directory: DIR/work), an absolute host path
  --overlay-dir-fd FD   the detached mount tree of --overlay-dir, open on FD
  --read-only           mount the rootfs read-only (missing mount points are
                        made first)
  --tmpfs DST[:OPTIONS] mount a new tmpfs on DST inside the rootfs; OPTIONS:
                        size=, mode=, nr_inodes=, uid=, gid=, ro, exec (+)
  --user USER[:GROUP]   run CMD as USER, by name (from the container's own
                        /etc/passwd and /etc/group) or number
  --workdir DIR         run CMD in DIR, an absolute path, created if missing
  --hostname NAME       set the hostname (in a UTS namespace of its own)
  --caps CAPS           CMD's only capabilities, comma-separated (CHOWN,KILL)
                        or none: the bounding set is cut to them, container
                        root keeps them, any other user gets none
  --loopback            bring the loopback interface up (in a network
                        namespace of its own)
  --no-new-privileges   set no_new_privs for CMD: setuid files and file
                        capabilities give it nothing
  --preserve-fds N      pass descriptors 3 to 3+N-1, which must be open, to
                        CMD and no other above 2 (default: every inherited
                        descriptor passes, as with tini)
  --listen-fds N        socket activation: descriptors 3 to 3+N-1 are CMD's
                        listening sockets; it gets them (as with
                        --preserve-fds N), LISTEN_FDS=N and LISTEN_PID set
                        to its own pid. Alone, nsinit does this when its own
                        LISTEN_PID is its pid (see Environment)
  --console-socket FD   give CMD a new pseudo-terminal (with --rootfs, of the
                        container's devpts, also on /dev/console) as its
                        stdin, stdout and stderr, in the foreground, and send
                        its master end over the unix socket FD (SCM_RIGHTS)
  --console-size ROWSxCOLS
                        the initial window size of that terminal
  --null-stdin          give CMD /dev/null as its stdin (with
                        --console-socket: docker's -t without -i)
  --dns IP              generate /etc/resolv.conf with this name server and
                        bind it over the rootfs's own, never written (+)
  --dns-search DOMAIN   a search domain for that resolv.conf (+)
  --dns-best-effort     leave that resolv.conf out, rather than fail, where
                        the rootfs has none and none may be created
  --add-host NAME:IP    generate /etc/hosts with a line for NAME at IP, in
                        order, and bind it over the rootfs's own (+)

Set by nslaunch for the lifecycle and for OCI bundles (nslaunch create):
  --sync-fd FD          once set up, say so on --report-fd and wait for the
                        launcher's byte on FD: s starts CMD, d (OCI create)
                        means the launcher leaves
  --oci                 the layout is the --mount, --device, --mask and
                        --readonly-path list alone, and CMD replaces nsinit
                        once started (the bundle's process is the
                        container's first)
  --start-fifo-fd FD    with --oci: after d, wait for a byte on this FIFO
                        (OCI start)
  --hooks               with --oci: stop before pivot_root for the launcher's
                        OCI hooks (a byte on --sync-fd goes on)
  --mount SPEC          with --oci: mount TARGET:TYPE:SOURCE:FLAGS:EXTRA:DATA
                        (an OCI mount as nslaunch renders it) (+)
  --device SPEC         with --oci: the device node
                        PATH:KIND:MAJOR:MINOR:MODE:UID:GID, bound from the
                        host's node or made with mknod (+)
  --mask PATH           with --oci: hide PATH (+)
  --readonly-path PATH  with --oci: make PATH read-only (+)
  --sysctl KEY=VALUE    set a namespaced sysctl before anything is mounted (+)
  --domainname NAME     set the NIS domain name (in a UTS namespace of its own)
  --umask MODE          CMD's umask, in octal
  --groups GIDS         CMD's supplementary groups, exactly (comma-separated)
  --cap-sets SETS       CMD's five capability sets, BOUNDING/EFFECTIVE/
                        PERMITTED/INHERITABLE/AMBIENT, each as for --caps
  --apparmor PROFILE    exec CMD into this AppArmor profile
  --start-hook SPEC     with --oci: run this OCI startContainer hook,
                        PATH:TIMEOUT:ARGS:ENV, once started, before CMD (+)
  --hook-state JSON     the state the --start-hook hooks read on stdin
  --seccomp-fd FD       load the compiled seccomp filter read from FD for CMD
                        (never for nsinit): first, or after no_new_privs
  --init-fd FD          once the container is built, exec the init open on
                        FD (nslaunch's --init PATH) in nsinit's place, as
                        NAME -- CMD, with CMD's user, capabilities and filter
  --init-name NAME      that init's name, its argv[0] (default: init)

Other:
  --version             print the version and exit
  -h, --help            print this help and exit (before CMD only)

Environment:
  The NSINIT_* variables above, read only when nsinit runs alone (never
  under nslaunch, with --rootfs or --report-fd). CMD gets nsinit's
  environment as it is, NSINIT_* included, plus HOME from the container's
  /etc/passwd when unset under --rootfs.
  LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES (systemd's socket activation),
  read only when nsinit runs alone: when LISTEN_PID is nsinit's pid, CMD
  gets descriptors 3 to 3+LISTEN_FDS-1 with LISTEN_PID set to its own pid;
  when it is another pid (a stale environment), CMD gets none of the three.
  NOTIFY_SOCKET and WATCHDOG_USEC pass as they are: with nsinit as a
  unit's main process, give the unit NotifyAccess=all.

Examples:
  ENTRYPOINT ["/sbin/nsinit", "--"]
      in a Dockerfile: nsinit is the image's init, CMD its child
  unshare --user --map-root-user --pid --fork --mount-proc nsinit -- sh
      PID 1 of a new PID namespace, with no container runtime at all
  nsinit -g --rewrite TERM:QUIT -- nginx -g 'daemon off;'
      docker stop's SIGTERM reaches nginx's whole group as SIGQUIT (a
      graceful stop for nginx)
  nsinit -s --grace 30s -- ./run-my-service
      not PID 1: a subreaper, so orphans still reach it; 30s to stop
  nsinit --stop-delay 5s -- ./server
      on Kubernetes: serves 5s more after SIGTERM, while the endpoints
      forget the pod, instead of a preStop sleep hook
  docker run -e NSINIT_VERBOSE=1 IMAGE
      with such an image: nsinit told by its environment

Exit status:
  CMD's own status, or 0 for a status given with -e
  125    nsinit failed (a bad option, a setup step that failed)
  126    CMD was found but could not be executed
  127    CMD was not found
  128+N  CMD was killed by signal N

More: man nsinit.
"#;
