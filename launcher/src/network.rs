//! The container's network (`--network`, `-p/--publish`, `--dns`,
//! `--add-host`): which network namespace it gets, the user-mode helper
//! (pasta or slirp4netns) that connects a namespace of its own to the
//! host's network, the ports the helper publishes on the host, and the
//! generated /etc/resolv.conf and /etc/hosts (written by nsinit, see
//! `shared::netconf`).
//!
//! The helper is started by nslaunch once the container's namespaces
//! exist and its id maps are written, and before nsinit is released; the
//! command starts only once the helper said it is ready (pasta's `--pid`
//! file, here a pipe; slirp4netns's `--ready-fd`) and every port is
//! published. The helper is nslaunch's child, in a session of its own
//! (the terminal's Ctrl-C is for the container), with the parent-death
//! signal SIGKILL: it ends when the container is over (nslaunch kills
//! it, [`Running`]'s drop) and when nslaunch is killed (the kernel kills
//! it). slirp4netns also gets `--exit-fd`, a pipe whose write end only
//! nslaunch holds. No file of the helper's survives it: pasta gets none,
//! slirp4netns's API socket is removed as soon as the ports are added.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use shared::netconf;
use shared::sys;

use crate::check::{Finding, Level};
use crate::cli::LaunchArgs;
use crate::error::Error;

/// `--network MODE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// The host's network namespace (the default).
    Host,
    /// A namespace of its own with only loopback (`--unshare-net`).
    None,
    Pasta,
    Slirp4netns,
    /// Join the network namespace at this path (`ns:PATH`).
    Ns(String),
}

impl Mode {
    pub fn parse(s: &str) -> Result<Mode, String> {
        Ok(match s {
            "host" => Mode::Host,
            "none" => Mode::None,
            "pasta" => Mode::Pasta,
            "slirp4netns" => Mode::Slirp4netns,
            _ => match s.strip_prefix("ns:") {
                Some(p) if p.starts_with('/') => Mode::Ns(p.to_string()),
                Some(_) => return Err("ns:PATH needs an absolute PATH".into()),
                None => {
                    return Err("use host, none, pasta, slirp4netns or ns:PATH".into());
                }
            },
        })
    }

    fn helper(&self) -> Option<Kind> {
        match self {
            Mode::Pasta => Some(Kind::Pasta),
            Mode::Slirp4netns => Some(Kind::Slirp4netns),
            _ => None,
        }
    }
}

/// The two helpers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pasta,
    Slirp4netns,
}

impl Kind {
    pub fn program(self) -> &'static str {
        match self {
            Kind::Pasta => "pasta",
            Kind::Slirp4netns => "slirp4netns",
        }
    }

    /// The Debian package that has it.
    pub fn package(self) -> &'static str {
        match self {
            Kind::Pasta => "passt",
            Kind::Slirp4netns => "slirp4netns",
        }
    }

    /// The name server the container uses by default: pasta forwards
    /// this address to the host's first resolver (`--dns-forward`), which
    /// may be on the host's loopback; slirp4netns has its own forwarder.
    pub fn dns(self) -> &'static str {
        match self {
            Kind::Pasta => PASTA_DNS,
            Kind::Slirp4netns => "10.0.2.3",
        }
    }
}

const PASTA_DNS: &str = "169.254.1.1";
/// slirp4netns's address for the container (its default).
const SLIRP_GUEST: &str = "10.0.2.100";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One `-p/--publish [IP:]HOST_PORT:CONTAINER_PORT[/tcp|/udp]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// The host address to bind; none: every address (docker's default).
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub container_port: u16,
    pub proto: Proto,
    /// As given, for messages.
    pub spec: String,
}

impl Publish {
    pub fn parse(spec: &str) -> Result<Publish, String> {
        let (rest, proto) = match spec.rsplit_once('/') {
            Some((r, "tcp")) => (r, Proto::Tcp),
            Some((r, "udp")) => (r, Proto::Udp),
            Some((_, other)) => return Err(format!("unknown protocol {other:?} (tcp or udp)")),
            None => (spec, Proto::Tcp),
        };
        let (head, container) = rest
            .rsplit_once(':')
            .ok_or("give [IP:]HOST_PORT:CONTAINER_PORT (e.g. 127.0.0.1:8080:80)")?;
        let (ip, host) = match head.rsplit_once(':') {
            Some((ip, host)) => (Some(ip), host),
            None => (None, head),
        };
        let port = |p: &str, what: &str| -> Result<u16, String> {
            match p.parse::<u16>() {
                Ok(n) if n > 0 => Ok(n),
                _ if p.is_empty() => Err(format!(
                    "the {what} port is missing (a port the kernel picks is not supported)"
                )),
                _ => Err(format!("{what} port {p:?}: give a number from 1 to 65535")),
            }
        };
        let host_ip = match ip {
            None | Some("") => None,
            Some(ip) => {
                let bare = ip
                    .strip_prefix('[')
                    .and_then(|s| s.strip_suffix(']'))
                    .unwrap_or(ip);
                Some(
                    bare.parse::<IpAddr>()
                        .map_err(|_| format!("{ip:?} is not an IPv4 or IPv6 address"))?,
                )
            }
        };
        Ok(Publish {
            host_ip,
            host_port: port(host, "host")?,
            container_port: port(container, "container")?,
            proto,
            spec: spec.to_string(),
        })
    }

    /// pasta's `-t`/`-u` value: `[ADDR/]PORT:PORT`.
    fn pasta_spec(&self) -> String {
        let ports = format!("{}:{}", self.host_port, self.container_port);
        match self.host_ip {
            Some(ip) => format!("{ip}/{ports}"),
            None => ports,
        }
    }

    /// slirp4netns's `add_hostfwd` request.
    fn slirp_request(&self) -> String {
        let addr = self.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        format!(
            "{{\"execute\":\"add_hostfwd\",\"arguments\":{{\"proto\":\"{}\",\"host_addr\":\"{addr}\",\
             \"host_port\":{},\"guest_addr\":\"{SLIRP_GUEST}\",\"guest_port\":{}}}}}",
            self.proto.name(),
            self.host_port,
            self.container_port
        )
    }

    fn host_addr(&self) -> SocketAddr {
        SocketAddr::new(
            self.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            self.host_port,
        )
    }
}

/// What the network options decided.
#[derive(Debug)]
pub struct Network {
    pub mode: Mode,
    /// `CLONE_NEWNET` when the container gets a namespace of its own.
    pub clone_flag: libc::c_int,
    /// nsinit brings the loopback interface up (a namespace of its own).
    pub loopback: bool,
    /// `ns:PATH`, open: nslaunch joins it before the clone.
    pub join: Option<OwnedFd>,
    pub helper: Option<Helper>,
    /// For nsinit's `--dns`, `--dns-search`, `--add-host`.
    pub dns: Vec<String>,
    /// `dns` is the mode's default, not `--dns`: nsinit may leave it out
    /// where the rootfs has no resolv.conf and none may be made.
    pub dns_default: bool,
    pub dns_search: Vec<String>,
    pub add_host: Vec<String>,
}

/// The helper to start, and what it publishes.
#[derive(Debug, Clone)]
pub struct Helper {
    pub kind: Kind,
    pub program: PathBuf,
    pub publish: Vec<Publish>,
    /// nslaunch runs as real root (pasta would switch to nobody).
    pub root: bool,
    /// Let the helper's messages through to our stderr.
    pub verbose: bool,
}

/// The network `args` ask for, checked (helpers found, ports free,
/// `ns:PATH` joinable) before anything is created. `host_userns`: no
/// user namespace (`--userns host`).
pub fn plan(args: &LaunchArgs, host_userns: bool, verbose: bool) -> Result<Network, Error> {
    let mode = mode_of(args)?;
    if mode == Mode::Pasta && host_userns {
        // pasta, as root, drops its capabilities before it opens
        // /proc/PID/ns/*, and then may not reach a process of real root's
        // that is in no user namespace of its own.
        return Err(Error::Usage(
            "--network pasta: does not work with --userns host (pasta, as root, cannot \
             enter a namespace of the host's user namespace): use --network slirp4netns, \
             or another --userns mode"
                .into(),
        ));
    }
    let publish = args
        .publish
        .iter()
        .map(|p| Publish::parse(p).map_err(|why| Error::Usage(format!("--publish {p}: {why}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let kind = mode.helper();
    if let (Some(p), None) = (publish.first(), kind) {
        return Err(Error::Usage(format!(
            "--publish {}: the container has no network of its own to publish from \
             (--network {}): add --network pasta (or slirp4netns)",
            p.spec,
            mode_name(&mode)
        )));
    }
    check_publish(&publish, kind)?;
    for ip in &args.dns {
        netconf::parse_dns(ip).map_err(|why| Error::Usage(format!("--dns {ip}: {why}")))?;
    }
    for e in &args.add_host {
        netconf::parse_host_entry(e)
            .map_err(|why| Error::Usage(format!("--add-host {e}: {why}")))?;
    }
    let join = match &mode {
        Mode::Ns(path) => Some(open_netns(path)?),
        _ => None,
    };
    let helper = match kind {
        Some(kind) => Some(Helper {
            kind,
            program: find_program(kind.program()).ok_or_else(|| {
                Error::Usage(format!(
                    "--network {0}: {0} is not installed (not found in PATH): install the \
                     Debian package {1} (apt-get install {1})",
                    kind.program(),
                    kind.package()
                ))
            })?,
            publish,
            root: nix::unistd::geteuid().is_root(),
            verbose,
        }),
        None => None,
    };
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let (dns, dns_search) = resolver(&args.dns, kind, &host_resolv);
    let dns_default = args.dns.is_empty() && !dns.is_empty();
    let add_host = if args.add_host.is_empty() {
        Vec::new()
    } else {
        let mut all = netconf::localhost_entries();
        all.extend(args.add_host.iter().cloned());
        all
    };
    let own = matches!(mode, Mode::None | Mode::Pasta | Mode::Slirp4netns);
    Ok(Network {
        clone_flag: if own { libc::CLONE_NEWNET } else { 0 },
        loopback: own,
        mode,
        join,
        helper,
        dns,
        dns_default,
        dns_search,
        add_host,
    })
}

/// `--network`, or `none` for `--unshare-net` (and `--unshare-all`).
fn mode_of(args: &LaunchArgs) -> Result<Mode, Error> {
    let given = match &args.network {
        Some(m) => {
            Some(Mode::parse(m).map_err(|why| Error::Usage(format!("--network {m}: {why}")))?)
        }
        None => None,
    };
    match (given, args.unshare_net) {
        (Some(m), true) if m != Mode::None => Err(Error::Usage(format!(
            "--unshare-net is --network none: it conflicts with --network {}",
            mode_name(&m)
        ))),
        (Some(m), _) => Ok(m),
        (None, true) => Ok(Mode::None),
        (None, false) if args.unshare_all => Ok(Mode::None),
        (None, false) => Ok(Mode::Host),
    }
}

fn mode_name(m: &Mode) -> String {
    match m {
        Mode::Host => "host".into(),
        Mode::None => "none".into(),
        Mode::Pasta => "pasta".into(),
        Mode::Slirp4netns => "slirp4netns".into(),
        Mode::Ns(p) => format!("ns:{p}"),
    }
}

/// The name servers and search domains of the generated resolv.conf:
/// `--dns` when given, else the helper's own address; none (the rootfs's
/// file stays) for the other modes without `--dns`. Search domains are
/// the host's.
fn resolver(given: &[String], kind: Option<Kind>, host: &str) -> (Vec<String>, Vec<String>) {
    let servers: Vec<String> = match (given.is_empty(), kind) {
        (false, _) => given.to_vec(),
        (true, Some(k)) => vec![k.dns().to_string()],
        (true, None) => Vec::new(),
    };
    let search = if servers.is_empty() {
        Vec::new()
    } else {
        netconf::search_domains(host)
    };
    (servers, search)
}

/// Refuse what the helper cannot publish, the same host port twice, and
/// a host port already in use (so the failure is ours, clear, and
/// nothing has started yet).
fn check_publish(publish: &[Publish], kind: Option<Kind>) -> Result<(), Error> {
    for (i, p) in publish.iter().enumerate() {
        if kind == Some(Kind::Slirp4netns) && p.host_ip.is_some_and(|ip| ip.is_ipv6()) {
            return Err(Error::Usage(format!(
                "--publish {}: slirp4netns publishes on IPv4 addresses only: use --network pasta",
                p.spec
            )));
        }
        udp_limits(p, kind)?;
        let clash = publish[..i].iter().any(|q| {
            q.proto == p.proto
                && q.host_port == p.host_port
                && (q.host_ip.is_none() || p.host_ip.is_none() || q.host_ip == p.host_ip)
        });
        if clash {
            return Err(Error::Usage(format!(
                "--publish {}: host port {}/{} is published twice",
                p.spec,
                p.host_port,
                p.proto.name()
            )));
        }
        port_free(p)?;
    }
    Ok(())
}

/// What the helpers of Debian 12 cannot do with UDP (measured): replies
/// would be lost, so the forward would only seem to work.
fn udp_limits(p: &Publish, kind: Option<Kind>) -> Result<(), Error> {
    if p.proto != Proto::Udp {
        return Ok(());
    }
    let why = match kind {
        // Its replies go to 10.0.2.2, the host's loopback, which
        // --disable-host-loopback closes to the container.
        Some(Kind::Slirp4netns) => {
            "slirp4netns drops the replies of a published UDP port while the host's \
             loopback is closed to the container: use --network pasta"
        }
        Some(Kind::Pasta) if p.host_port != p.container_port => {
            "pasta (0.0~git20230309) drops the replies of a UDP port published under \
             another number: publish it under its own (HOST_PORT = CONTAINER_PORT)"
        }
        _ => return Ok(()),
    };
    Err(Error::Usage(format!("--publish {}: {why}", p.spec)))
}

/// Bind the host address and port as the helper will, and let go.
fn port_free(p: &Publish) -> Result<(), Error> {
    let addr = p.host_addr();
    let result = match p.proto {
        // std sets SO_REUSEADDR, as the helpers do: a port in TIME_WAIT
        // is free, one with a listener is not.
        Proto::Tcp => std::net::TcpListener::bind(addr).map(drop),
        Proto::Udp => std::net::UdpSocket::bind(addr).map(drop),
    };
    result.map_err(|e| {
        let hint = match e.raw_os_error() {
            Some(libc::EACCES) => {
                " (ports below 1024 need root, or a lower sysctl \
                 net.ipv4.ip_unprivileged_port_start)"
            }
            Some(libc::EADDRNOTAVAIL) => " (no interface of the host has that address)",
            _ => "",
        };
        Error::Usage(format!(
            "--publish {}: cannot bind {addr}/{} on the host: {}{hint}",
            p.spec,
            p.proto.name(),
            crate::error::io_why(&e)
        ))
    })
}

/// Open `ns:PATH` and check that it is a network namespace the caller
/// may join: `setns` needs CAP_SYS_ADMIN over the user namespace that
/// owns it, which real root has, and an ordinary user has only over a
/// user namespace of its own making (e.g. `unshare -Urn`).
fn open_netns(path: &str) -> Result<OwnedFd, Error> {
    let bad = |why: String| Error::Usage(format!("--network ns:{path}: {why}"));
    let fd = nix::fcntl::open(
        path,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| bad(e.desc().to_string()))?;
    // SAFETY: an ioctl without argument on a descriptor we own.
    let kind = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE) };
    if kind != libc::CLONE_NEWNET {
        return Err(bad(
            "not a network namespace (give a file of /run/netns, or /proc/PID/ns/net)".into(),
        ));
    }
    if nix::unistd::geteuid().is_root() {
        return Ok(fd);
    }
    // SAFETY: as above; it returns a new descriptor or -1.
    let owner = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_USERNS) };
    if owner < 0 {
        return Err(bad(format!(
            "cannot find the user namespace that owns it: {}",
            Errno::last().desc()
        )));
    }
    // SAFETY: the ioctl just returned this new descriptor; we own it.
    let owner = unsafe { OwnedFd::from_raw_fd(owner) };
    let ours = std::fs::metadata("/proc/self/ns/user").map(|m| {
        use std::os::unix::fs::MetadataExt;
        (m.dev(), m.ino())
    });
    let theirs = nix::sys::stat::fstat(&owner).map(|s| (s.st_dev, s.st_ino));
    let mut uid: libc::uid_t = u32::MAX;
    // SAFETY: NS_GET_OWNER_UID writes one uid_t where we point.
    let got = unsafe { libc::ioctl(owner.as_raw_fd(), NS_GET_OWNER_UID, &mut uid) };
    let own_child = got == 0 && uid == nix::unistd::geteuid().as_raw();
    let same = matches!((ours, theirs), (Ok(a), Ok(b)) if a == b);
    if same || !own_child {
        return Err(bad(
            "joining it needs CAP_SYS_ADMIN over the user namespace that owns it, which \
             only root has for a namespace made by `ip netns add`: run as root, or join one \
             made in a user namespace of yours (e.g. by `unshare -Urn`)"
                .into(),
        ));
    }
    Ok(fd)
}

// <linux/nsfs.h>
const NS_GET_USERNS: libc::c_ulong = 0xb701;
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
const NS_GET_OWNER_UID: libc::c_ulong = 0xb704;

/// `name` in PATH (a usual one when PATH is unset).
pub fn find_program(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path_var = std::env::var("PATH")
        .unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin".into());
    path_var
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The descriptors a helper gets, by number (see [`Helper::argv`]).
#[derive(Debug, Clone, Copy)]
pub struct HelperFds {
    /// Written to once the helper is ready.
    pub ready: i32,
    /// slirp4netns: it exits when this pipe's write end closes.
    pub exit: i32,
}

impl Helper {
    /// The helper's command line for the container whose first process
    /// is `pid` (a word: `--dry-run` shows `$PID`). `api`: slirp4netns's
    /// API socket, when there are ports to publish.
    pub fn argv(&self, pid: &str, fds: HelperFds, api: Option<&str>) -> Vec<String> {
        let mut v: Vec<String> = vec![self.program.display().to_string()];
        let mut add = |words: &[&str]| v.extend(words.iter().map(|w| w.to_string()));
        match self.kind {
            Kind::Pasta => {
                add(&["--config-net", "--foreground", "--quiet", "--no-map-gw"]);
                add(&["--dns-forward", PASTA_DNS]);
                for proto in [Proto::Tcp, Proto::Udp] {
                    let flag = if proto == Proto::Tcp { "-t" } else { "-u" };
                    let mine: Vec<&Publish> =
                        self.publish.iter().filter(|p| p.proto == proto).collect();
                    if mine.is_empty() {
                        add(&[flag, "none"]);
                    }
                    for p in mine {
                        add(&[flag, &p.pasta_spec()]);
                    }
                }
                // Nothing of the host's own ports (its loopback) is
                // reachable from the container.
                add(&["-T", "none", "-U", "none"]);
                if self.root {
                    // As root, pasta would switch to nobody, which may
                    // not enter the container's namespaces.
                    add(&["--runas", "0:0"]);
                }
                add(&["--pid", &format!("/proc/self/fd/{}", fds.ready), pid]);
            }
            Kind::Slirp4netns => {
                add(&["--configure", "--mtu=65520", "--disable-host-loopback"]);
                add(&[
                    &format!("--exit-fd={}", fds.exit),
                    &format!("--ready-fd={}", fds.ready),
                ]);
                if let Some(api) = api {
                    add(&["--api-socket", api]);
                }
                add(&[pid, "tap0"]);
            }
        }
        v
    }

    /// Start the helper for the container whose first process is `pid`
    /// (its namespaces exist, its maps are written, it is not released
    /// yet), and wait until it is ready and every port is published.
    pub fn start(&self, pid: i32, log: &shared::log::Log) -> Result<Running, Error> {
        let name = self.kind.program();
        let fail = |why: String| Error::Usage(format!("--network {name}: {why}"));
        let (ready_r, ready_w) = crate::container::pipe()?;
        let (exit_r, exit_w) = crate::container::pipe()?;
        let api = match (self.kind, self.publish.is_empty()) {
            (Kind::Slirp4netns, false) => Some(ApiDir::new()?),
            _ => None,
        };
        let fds = HelperFds {
            ready: ready_w.as_raw_fd(),
            exit: exit_r.as_raw_fd(),
        };
        let argv = self.argv(
            &pid.to_string(),
            fds,
            api.as_ref().map(|a| a.socket.as_str()),
        );
        log.info(format_args!("run {}", argv.join(" ")));
        let stderr = if self.verbose {
            None
        } else {
            Some(memfd().map_err(|e| Error::sys("create a memfd for the helper's messages", e))?)
        };
        let child = spawn(&argv, [fds.ready, fds.exit], stderr.as_ref())
            .map_err(|e| fail(format!("start {}: {}", argv[0], crate::error::io_why(&e))))?;
        drop((ready_w, exit_r));
        let running = Running {
            pid: child,
            _exit_w: exit_w,
        };
        let said = |why: &str| {
            let msg = stderr.as_ref().map(last_words).unwrap_or_default();
            if msg.is_empty() {
                fail(why.to_string())
            } else {
                fail(format!("{why}: {msg}"))
            }
        };
        match wait_ready(&ready_r, Duration::from_secs(10)) {
            Ready::Yes => {}
            Ready::Exited => return Err(said(&format!("{name} exited before it was ready"))),
            Ready::TimedOut => return Err(said(&format!("{name} was not ready within 10 s"))),
        }
        if let Some(api) = &api {
            for p in &self.publish {
                api.add(p).map_err(|why| {
                    Error::Usage(format!("--publish {}: slirp4netns: {why}", p.spec))
                })?;
            }
        }
        Ok(running)
    }
}

/// The helper, running. Dropping it kills and reaps it.
#[derive(Debug)]
pub struct Running {
    pid: i32,
    /// slirp4netns's `--exit-fd` pipe: it exits when this closes.
    _exit_w: OwnedFd,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = sys::raw_kill(self.pid, libc::SIGKILL);
        let _ = sys::raw_waitpid(self.pid, 0);
    }
}

/// Fork and exec `argv` with `keep` passed on (every other descriptor of
/// ours above 2 is closed at exec), stdin and stdout on /dev/null, stderr
/// on `stderr` (else ours), in a session of its own, with the signal mask
/// cleared and the parent-death signal SIGKILL. Returns its pid.
fn spawn(argv: &[String], keep: [i32; 2], stderr: Option<&OwnedFd>) -> std::io::Result<i32> {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    if let Some(fd) = stderr {
        cmd.stderr(Stdio::from(fd.try_clone()?));
    }
    let parent = nix::unistd::getpid().as_raw();
    // SAFETY: the closure runs in the forked child before exec and makes
    // only raw syscalls on numbers and values prepared before the fork:
    // no allocation, no lock.
    unsafe {
        cmd.pre_exec(move || {
            let fail = |e: Errno| std::io::Error::from_raw_os_error(e as i32);
            nix::unistd::setsid().map_err(fail)?;
            let empty: libc::sigset_t = std::mem::zeroed();
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            sys::raw_set_parent_death_signal(libc::SIGKILL).map_err(fail)?;
            if libc::getppid() != parent {
                sys::raw_exit(shared::exit::FAILED);
            }
            sys::raw_cloexec_from(3).map_err(fail)?;
            for fd in keep {
                sys::raw_set_cloexec(fd, false).map_err(fail)?;
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    Ok(child.id() as i32)
}

enum Ready {
    Yes,
    Exited,
    TimedOut,
}

/// Wait for the helper's first bytes on its ready pipe; end of file
/// means it exited (every write end is its).
fn wait_ready(r: &OwnedFd, limit: Duration) -> Ready {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ready::TimedOut;
        }
        let mut fds = [PollFd::new(r.as_fd(), PollFlags::POLLIN)];
        let ms = PollTimeout::try_from(left.as_millis().max(1) as u64).unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, ms) {
            Ok(0) => return Ready::TimedOut,
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(_) => return Ready::Exited,
        }
        let mut buf = [0u8; 64];
        return match nix::unistd::read(r, &mut buf) {
            Ok(n) if n > 0 => Ready::Yes,
            Err(Errno::EINTR) => continue,
            _ => Ready::Exited,
        };
    }
}

/// The helper's last meaningful lines of stderr (pasta also says it
/// could not reach the system logger: not news).
fn last_words(memfd: &OwnedFd) -> String {
    let mut text = vec![0u8; 64 * 1024];
    // SAFETY: reads at most text.len() bytes into text.
    let n = unsafe { libc::pread(memfd.as_raw_fd(), text.as_mut_ptr().cast(), text.len(), 0) };
    let n = usize::try_from(n).unwrap_or(0);
    meaningful(&String::from_utf8_lossy(&text[..n]))
}

/// An anonymous file for the helper's stderr (read only on failure).
fn memfd() -> Result<OwnedFd, Errno> {
    // SAFETY: a C string literal and flags; returns a new fd or -1.
    let fd = unsafe { libc::memfd_create(c"nslaunch-helper".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the descriptor was just created and is ours alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The lines worth showing, joined: not pasta's syslog complaints, nor
/// slirp4netns's chatter, at most the last two.
fn meaningful(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with("Failed to send")
                && !l.starts_with("Don't run as root")
                && !l.contains("tapfd")
        })
        .collect();
    let from = lines.len().saturating_sub(2);
    lines[from..].join("; ")
}

/// A private directory for slirp4netns's API socket, removed with it.
struct ApiDir {
    dir: PathBuf,
    socket: String,
}

impl ApiDir {
    fn new() -> Result<ApiDir, Error> {
        let base = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|d| d.is_dir())
            .unwrap_or_else(std::env::temp_dir);
        let dir = nix::unistd::mkdtemp(&base.join("nslaunch-net-XXXXXX"))
            .map_err(|e| Error::sys(format!("create a directory in {}", base.display()), e))?;
        let socket = dir.join("api.sock").display().to_string();
        Ok(ApiDir { dir, socket })
    }

    /// One `add_hostfwd` request; its error, if any.
    fn add(&self, p: &Publish) -> Result<(), String> {
        let mut s = std::os::unix::net::UnixStream::connect(&self.socket)
            .map_err(|e| format!("connect to its API socket: {}", crate::error::io_why(&e)))?;
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        s.write_all(p.slirp_request().as_bytes())
            .and_then(|()| s.shutdown(std::net::Shutdown::Write))
            .map_err(|e| format!("send the request: {}", crate::error::io_why(&e)))?;
        let mut answer = String::new();
        let _ = s.take(64 * 1024).read_to_string(&mut answer);
        if answer.contains("\"return\"") {
            return Ok(());
        }
        let why = answer
            .split("\"desc\":\"")
            .nth(1)
            .and_then(|d| d.split('"').next())
            .unwrap_or(answer.trim());
        Err(format!(
            "could not publish {} ({why}; is it in use?)",
            p.host_addr()
        ))
    }
}

impl Drop for ApiDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// For `--dry-run`: what nslaunch runs once the container's namespaces
/// exist, before it releases nsinit, as comment lines.
pub fn dry_run_lines(net: &Network) -> Vec<String> {
    let mut out = Vec::new();
    match (&net.mode, &net.helper) {
        (_, Some(h)) => {
            out.push(format!(
                "Network: {}: nslaunch starts this once the namespaces exist and the id maps \
                 are written, waits until it is ready, then releases nsinit:",
                h.kind.program()
            ));
            let fds = HelperFds { ready: 5, exit: 6 };
            let api = (h.kind == Kind::Slirp4netns && !h.publish.is_empty())
                .then_some("$XDG_RUNTIME_DIR/nslaunch-net-XXXXXX/api.sock");
            let argv = h.argv("$PID", fds, api);
            out.push(format!("  {}", argv.join(" ")));
            if api.is_some() {
                for p in &h.publish {
                    out.push(format!("  then on its API socket: {}", p.slirp_request()));
                }
            }
        }
        (Mode::Ns(path), None) => {
            out.push(format!(
                "Network: nslaunch joins {path} (setns) before the clone"
            ));
        }
        _ => {}
    }
    out
}

/// `nslaunch check`: the helpers found, and /dev/net/tun (both need it).
pub fn check_findings() -> Vec<Finding> {
    let tun = nix::fcntl::open(
        "/dev/net/tun",
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map(drop);
    evaluate(
        &[Kind::Pasta, Kind::Slirp4netns].map(|k| (k, find_program(k.program()))),
        tun,
    )
}

/// Judge what `check_findings` gathered.
fn evaluate(helpers: &[(Kind, Option<PathBuf>)], tun: Result<(), Errno>) -> Vec<Finding> {
    let mut out = Vec::new();
    for (kind, found) in helpers {
        let name = kind.program();
        out.push(match found {
            Some(p) => Finding {
                level: Level::Ok,
                what: format!("network helper {name}: {} (--network {name})", p.display()),
                fix: None,
                essential: false,
            },
            None => Finding {
                level: Level::Warn,
                what: format!("network helper {name}: not found; --network {name} is unavailable"),
                fix: Some(format!("apt-get install {}", kind.package())),
                essential: false,
            },
        });
    }
    out.push(match tun {
        Ok(()) => Finding {
            level: Level::Ok,
            what: "/dev/net/tun: usable (pasta and slirp4netns make their interface with it)"
                .into(),
            fix: None,
            essential: false,
        },
        Err(e) => Finding {
            level: Level::Warn,
            what: format!(
                "/dev/net/tun: {}; --network pasta and slirp4netns cannot work",
                e.desc()
            ),
            fix: Some(if e == Errno::ENOENT {
                "modprobe tun".into()
            } else {
                "chmod 0666 /dev/net/tun (Debian's default; as root)".into()
            }),
            essential: false,
        },
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(Mode::parse("host"), Ok(Mode::Host));
        assert_eq!(Mode::parse("none"), Ok(Mode::None));
        assert_eq!(Mode::parse("pasta"), Ok(Mode::Pasta));
        assert_eq!(Mode::parse("slirp4netns"), Ok(Mode::Slirp4netns));
        assert_eq!(
            Mode::parse("ns:/run/netns/a"),
            Ok(Mode::Ns("/run/netns/a".into()))
        );
        assert!(Mode::parse("ns:rel").is_err());
        assert!(Mode::parse("bridge").unwrap_err().contains("pasta"));
    }

    #[test]
    fn publish_follows_docker() {
        let p = Publish::parse("8080:80").unwrap();
        assert_eq!(
            (p.host_ip, p.host_port, p.container_port, p.proto),
            (None, 8080, 80, Proto::Tcp)
        );
        let p = Publish::parse("127.0.0.1:5353:53/udp").unwrap();
        assert_eq!(p.host_ip, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(p.proto, Proto::Udp);
        let p = Publish::parse("[::1]:8080:80/tcp").unwrap();
        assert_eq!(p.host_ip, Some("::1".parse().unwrap()));
        assert_eq!(p.pasta_spec(), "::1/8080:80");
        assert_eq!(Publish::parse(":8080:80").unwrap().host_ip, None);
        for (bad, why) in [
            ("80", "HOST_PORT:CONTAINER_PORT"),
            ("8080:80/sctp", "protocol"),
            ("0:80", "1 to 65535"),
            ("70000:80", "1 to 65535"),
            ("127.0.0.1::80", "missing"),
            ("localhost:8080:80", "not an IPv4"),
        ] {
            let e = Publish::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    fn helper(kind: Kind, publish: &[&str], root: bool) -> Helper {
        Helper {
            kind,
            program: PathBuf::from(format!("/usr/bin/{}", kind.program())),
            publish: publish.iter().map(|p| Publish::parse(p).unwrap()).collect(),
            root,
            verbose: false,
        }
    }

    #[test]
    fn pasta_command_line() {
        let fds = HelperFds { ready: 7, exit: 8 };
        let argv = helper(Kind::Pasta, &["127.0.0.1:8080:80", "5353:53/udp"], false)
            .argv("42", fds, None)
            .join(" ");
        assert_eq!(
            argv,
            "/usr/bin/pasta --config-net --foreground --quiet --no-map-gw --dns-forward \
             169.254.1.1 -t 127.0.0.1/8080:80 -u 5353:53 -T none -U none --pid /proc/self/fd/7 42"
        );
        // Nothing published: nothing of the container's is forwarded
        // (pasta's default would forward every port it listens on).
        let argv = helper(Kind::Pasta, &[], true).argv("42", fds, None);
        let s = argv.join(" ");
        assert!(
            s.contains("-t none -u none -T none -U none --runas 0:0"),
            "{s}"
        );
    }

    #[test]
    fn slirp4netns_command_line_and_requests() {
        let fds = HelperFds { ready: 7, exit: 8 };
        let h = helper(Kind::Slirp4netns, &["127.0.0.1:8080:80/udp"], false);
        assert_eq!(
            h.argv("42", fds, Some("/run/x/api.sock")).join(" "),
            "/usr/bin/slirp4netns --configure --mtu=65520 --disable-host-loopback \
             --exit-fd=8 --ready-fd=7 --api-socket /run/x/api.sock 42 tap0"
        );
        assert_eq!(
            h.publish[0].slirp_request(),
            "{\"execute\":\"add_hostfwd\",\"arguments\":{\"proto\":\"udp\",\"host_addr\":\
             \"127.0.0.1\",\"host_port\":8080,\"guest_addr\":\"10.0.2.100\",\"guest_port\":80}}"
        );
    }

    #[test]
    fn udp_publishing_that_would_lose_replies_is_refused() {
        let p = |s: &str| Publish::parse(s).unwrap();
        assert!(udp_limits(&p("5353:5353/udp"), Some(Kind::Pasta)).is_ok());
        assert!(udp_limits(&p("5353:53"), Some(Kind::Slirp4netns)).is_ok());
        let e = udp_limits(&p("5353:53/udp"), Some(Kind::Pasta)).unwrap_err();
        assert!(e.to_string().contains("under its own"), "{e}");
        let e = udp_limits(&p("53:53/udp"), Some(Kind::Slirp4netns)).unwrap_err();
        assert!(e.to_string().contains("use --network pasta"), "{e}");
    }

    #[test]
    fn resolver_defaults_per_mode() {
        let host = "nameserver 127.0.0.53\nsearch corp.example\n";
        assert_eq!(
            resolver(&[], Some(Kind::Pasta), host),
            (vec!["169.254.1.1".into()], vec!["corp.example".into()])
        );
        assert_eq!(resolver(&[], Some(Kind::Slirp4netns), host).0, ["10.0.2.3"]);
        assert_eq!(resolver(&[], None, host), (vec![], vec![]));
        assert_eq!(
            resolver(&["9.9.9.9".into()], None, host).0,
            ["9.9.9.9".to_string()]
        );
    }

    #[test]
    fn helper_messages_are_trimmed() {
        let text = "Failed to send 47 bytes to syslog\nDon't run as root. Changing to nobody...\n\
                    Failed to bind any port for '-t 8080:80', exiting\n";
        assert_eq!(
            meaningful(text),
            "Failed to bind any port for '-t 8080:80', exiting"
        );
    }

    #[test]
    fn check_judges_helpers_and_tun() {
        let f = evaluate(
            &[
                (Kind::Pasta, Some("/usr/bin/pasta".into())),
                (Kind::Slirp4netns, None),
            ],
            Err(Errno::EACCES),
        );
        assert_eq!(f[0].level, Level::Ok);
        assert_eq!(f[1].level, Level::Warn);
        assert_eq!(f[1].fix.as_deref(), Some("apt-get install slirp4netns"));
        assert!(f[2]
            .fix
            .as_deref()
            .unwrap()
            .contains("chmod 0666 /dev/net/tun"));
        assert!(f.iter().all(|x| !x.essential));
    }
}
