//! systemd's readiness protocol (`sd_notify(3)`) for the plain run: a
//! `Type=notify` unit waits for `READY=1` on the datagram socket named
//! by `NOTIFY_SOCKET`, which the container can neither see (a host path,
//! or an abstract socket of the host's network namespace) nor should
//! write to unchecked. `--sdnotify` (podman's spelling) says what to do:
//!
//! - `container` (the default): nslaunch binds a socket of its own and
//!   gives it to the container as [`CONTAINER_SOCKET`] (`NOTIFY_SOCKET`
//!   names it there); each datagram from inside is checked ([`filter`]:
//!   size, no descriptors, text, only the keys a service needs, values
//!   of the right form, a rate) and what passes is sent to systemd's
//!   socket with `MAINPID=` nslaunch's own pid (the unit's main process:
//!   systemd's SIGTERM reaches nslaunch, which relays it to nsinit's
//!   graceful stop). `WATCHDOG_USEC` passes to the command, so its
//!   `WATCHDOG=1` pings come through.
//! - `launcher`: nothing for the container; nslaunch sends `READY=1`
//!   itself once the command has started (the report pipe's end of file),
//!   for services that do not speak the protocol.
//! - `ignore`: nothing at all.
//!
//! Without `NOTIFY_SOCKET` nothing is made, whatever the mode.
//!
//! The container's socket is a path bound in a private directory
//! (`$TMPDIR/nslaunch-notify-XXXXXX`, mode 0700) and bind-mounted, as a
//! read-only file, into the container like a volume: a path reaches it
//! from any network namespace (an abstract socket would not, with
//! `--unshare-net`), and the directory keeps other host users from it.
//! Once nsinit has mounted it, the host's name and directory are removed
//! ([`Notifier::mounted`]): the mount keeps the socket reachable inside,
//! and nothing is left on the host even if nslaunch is killed.

use std::ffi::OsString;
use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Instant;

use nix::errno::Errno;
use nix::sys::socket::{self, AddressFamily, MsgFlags, SockFlag, SockType, UnixAddr};
use shared::log::Log;

use crate::error::Error;

/// Where the container finds the socket (podman's path).
pub const CONTAINER_SOCKET: &str = "/run/notify/notify.sock";

/// The longest message relayed: systemd's own limit (`NOTIFY_BUFFER_MAX`,
/// `PIPE_BUF`); longer ones are dropped whole.
pub const MAX_MESSAGE: usize = 4096;

/// Datagrams read per wake-up of the relay loop, so that a flood never
/// keeps it from signals and the terminal.
const MAX_PER_WAKEUP: usize = 64;

/// The rate: a burst of [`BURST`] messages, then [`PER_SECOND`] a second;
/// the rest are dropped.
const BURST: f64 = 100.0;
const PER_SECOND: f64 = 50.0;

/// `--sdnotify MODE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Container,
    Launcher,
    Ignore,
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "container" => Ok(Mode::Container),
            "launcher" => Ok(Mode::Launcher),
            "ignore" => Ok(Mode::Ignore),
            _ => Err(format!(
                "--sdnotify {s}: expected container, launcher or ignore"
            )),
        }
    }
}

/// systemd's socket, from `NOTIFY_SOCKET`: a path, or `@NAME` for an
/// abstract socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Path(Vec<u8>),
    Abstract(Vec<u8>),
}

impl Address {
    pub fn parse(text: &[u8]) -> Result<Address, String> {
        let shown = String::from_utf8_lossy(text);
        let bad =
            |why: &str| format!("NOTIFY_SOCKET={shown}: {why} (or run with --sdnotify ignore)");
        // sockaddr_un's sun_path: 108 bytes, the path's NUL included.
        let fits = |n: usize| n > 0 && n < 108;
        match text.first() {
            Some(b'/') if fits(text.len()) => Ok(Address::Path(text.to_vec())),
            Some(b'@') if fits(text.len()) && text.len() > 1 => {
                Ok(Address::Abstract(text[1..].to_vec()))
            }
            Some(b'/' | b'@') => Err(bad("too long for a unix socket address")),
            _ => Err(bad(
                "expected an absolute path or @NAME (an abstract socket); other kinds are not supported",
            )),
        }
    }

    fn unix_addr(&self) -> nix::Result<UnixAddr> {
        match self {
            Address::Path(p) => UnixAddr::new(std::ffi::OsStr::from_bytes(p)),
            Address::Abstract(name) => UnixAddr::new_abstract(name),
        }
    }
}

/// What a run does about readiness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// No `NOTIFY_SOCKET`, or `--sdnotify ignore`.
    Nothing,
    /// `container`: relay what the container says to `to`; pass
    /// `watchdog_usec` to the command.
    Relay {
        to: Address,
        watchdog_usec: Option<String>,
    },
    /// `launcher`: say `READY=1` to `to` once the command runs.
    Ready { to: Address },
}

/// The plan for `--sdnotify` (`mode`), from our own `NOTIFY_SOCKET`,
/// `WATCHDOG_USEC` and `WATCHDOG_PID`; `me` is our pid. The watchdog is
/// passed on only when it is ours (no `WATCHDOG_PID`, or ours) and a
/// number, and only with the relay (the command cannot ping otherwise).
pub fn plan(
    mode: Mode,
    notify_socket: Option<&[u8]>,
    watchdog_usec: Option<&str>,
    watchdog_pid: Option<&str>,
    me: u32,
) -> Result<Plan, String> {
    let Some(text) = notify_socket.filter(|t| !t.is_empty()) else {
        return Ok(Plan::Nothing);
    };
    if mode == Mode::Ignore {
        return Ok(Plan::Nothing);
    }
    let to = Address::parse(text)?;
    Ok(match mode {
        Mode::Launcher => Plan::Ready { to },
        _ => {
            let ours = watchdog_pid.map_or(true, |p| p.parse::<u32>().is_ok_and(|p| p == me));
            let usec = watchdog_usec
                .filter(|v| ours && is_number(v))
                .map(str::to_string);
            Plan::Relay {
                to,
                watchdog_usec: usec,
            }
        }
    })
}

/// Why a message from the container was not relayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    TooLong,
    Descriptors,
    NotText,
    NothingKnown,
    RateLimited,
}

impl Dropped {
    fn why(self) -> &'static str {
        match self {
            Dropped::TooLong => "longer than 4096 bytes",
            Dropped::Descriptors => "it carried file descriptors (or other ancillary data)",
            Dropped::NotText => "not text (a NUL byte, or not UTF-8)",
            Dropped::NothingKnown => {
                "no line nslaunch relays (READY=1, RELOADING=1, STOPPING=1, WATCHDOG=1, \
                 STATUS=, ERRNO=, BUSERROR=, EXTEND_TIMEOUT_USEC=, WATCHDOG_USEC=, MONOTONIC_USEC=)"
            }
            Dropped::RateLimited => "more than 50 a second",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The message for systemd made of one datagram from the container: its
/// lines that [`allowed`] takes, in order, then `MAINPID=mainpid`. Lines
/// of other keys (`MAINPID=` of a pid inside, `FDSTORE=1` without the
/// descriptors it needs, ...) are left out; a message with none left is
/// not sent.
pub fn filter(msg: &[u8], mainpid: u32) -> Result<Vec<u8>, Dropped> {
    if msg.len() > MAX_MESSAGE {
        return Err(Dropped::TooLong);
    }
    if msg.contains(&0) {
        return Err(Dropped::NotText);
    }
    let text = std::str::from_utf8(msg).map_err(|_| Dropped::NotText)?;
    let kept: Vec<&str> = text
        .split('\n')
        .filter(|line| {
            line.split_once('=')
                .is_some_and(|(key, value)| allowed(key, value))
        })
        .collect();
    if kept.is_empty() {
        return Err(Dropped::NothingKnown);
    }
    let mut out = kept.join("\n");
    out.push_str(&format!("\nMAINPID={mainpid}"));
    Ok(out.into_bytes())
}

/// The keys a service says to systemd, each with a value of its form.
pub fn allowed(key: &str, value: &str) -> bool {
    match key {
        "READY" | "RELOADING" | "STOPPING" => value == "1",
        "WATCHDOG" => value == "1" || value == "trigger",
        "STATUS" => !value.chars().any(char::is_control),
        "ERRNO" => is_number(value) && value.parse::<i32>().is_ok(),
        "BUSERROR" => {
            !value.is_empty()
                && value.len() <= 255
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        }
        "EXTEND_TIMEOUT_USEC" | "WATCHDOG_USEC" | "MONOTONIC_USEC" => is_number(value),
        _ => false,
    }
}

/// Digits only, within u64.
fn is_number(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) && v.parse::<u64>().is_ok()
}

/// A token bucket: [`BURST`] at once, [`PER_SECOND`] after that.
#[derive(Debug)]
pub struct Budget {
    tokens: f64,
    last: Instant,
}

impl Budget {
    pub fn new(now: Instant) -> Budget {
        Budget {
            tokens: BURST,
            last: now,
        }
    }

    /// Whether one more message may go now.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * PER_SECOND).min(BURST);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The container's end: the socket, and its host path until nsinit has
/// mounted it.
struct Inbox {
    sock: OwnedFd,
    dir: PathBuf,
    path: PathBuf,
    on_host: bool,
}

impl Inbox {
    fn create() -> Result<Inbox, Error> {
        let sock = datagram_socket(true)?;
        let template = std::env::temp_dir().join("nslaunch-notify-XXXXXX");
        let dir = nix::unistd::mkdtemp(&template).map_err(|e| {
            Error::sys(
                format!(
                    "NOTIFY_SOCKET: make a directory for the container's socket ({})",
                    template.display()
                ),
                e,
            )
        })?;
        let mut inbox = Inbox {
            sock,
            path: dir.join("notify.sock"),
            dir,
            on_host: true,
        };
        // nsinit binds it by an absolute path (TMPDIR may be relative).
        if let Ok(abs) = std::fs::canonicalize(&inbox.dir) {
            inbox.path = abs.join("notify.sock");
        }
        let shown = inbox.path.display().to_string();
        let fail = |what: &str, e: Errno| Error::sys(format!("NOTIFY_SOCKET: {what} {shown}"), e);
        let addr = UnixAddr::new(&inbox.path).map_err(|e| fail("name", e))?;
        socket::bind(inbox.sock.as_raw_fd(), &addr).map_err(|e| fail("bind", e))?;
        // Anyone inside may send (as to systemd's own socket); the 0700
        // directory keeps everyone else on the host out.
        std::fs::set_permissions(&inbox.path, std::fs::Permissions::from_mode(0o777)).map_err(
            |e| {
                fail(
                    "chmod",
                    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
                )
            },
        )?;
        Ok(inbox)
    }

    /// Remove the host's name and directory: the container's mount holds
    /// the socket now.
    fn forget_host_path(&mut self) {
        if self.on_host {
            let _ = std::fs::remove_file(&self.path);
            let _ = std::fs::remove_dir(&self.dir);
            self.on_host = false;
        }
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        self.forget_host_path();
    }
}

/// A unix datagram socket, close-on-exec (and non-blocking).
fn datagram_socket(nonblocking: bool) -> Result<OwnedFd, Error> {
    let mut flags = SockFlag::SOCK_CLOEXEC;
    if nonblocking {
        flags |= SockFlag::SOCK_NONBLOCK;
    }
    socket::socket(AddressFamily::Unix, SockType::Datagram, flags, None)
        .map_err(|e| Error::sys("NOTIFY_SOCKET: create a unix datagram socket", e))
}

/// What nslaunch does for systemd while the container runs: relay
/// (container mode) or say `READY=1` once (launcher mode).
pub struct Notifier {
    to: UnixAddr,
    shown: String,
    out: OwnedFd,
    inbox: Option<Inbox>,
    /// Launcher mode: READY=1 still to say.
    ready_pending: bool,
    mainpid: u32,
    budget: Budget,
    /// How many messages were dropped, by [`Dropped::index`].
    dropped: [u64; 5],
    relayed: u64,
}

impl Notifier {
    /// The notifier for `plan` (`None` for [`Plan::Nothing`]), with the
    /// container's socket made in relay mode.
    pub fn new(plan: &Plan) -> Result<Option<Notifier>, Error> {
        let (to, inbox, ready_pending) = match plan {
            Plan::Nothing => return Ok(None),
            Plan::Relay { to, .. } => (to, Some(Inbox::create()?), false),
            Plan::Ready { to } => (to, None, true),
        };
        let shown = match to {
            Address::Path(p) => String::from_utf8_lossy(p).into_owned(),
            Address::Abstract(n) => format!("@{}", String::from_utf8_lossy(n)),
        };
        let addr = to
            .unix_addr()
            .map_err(|e| Error::sys(format!("NOTIFY_SOCKET={shown}"), e))?;
        Ok(Some(Notifier {
            to: addr,
            shown,
            out: datagram_socket(false)?,
            inbox,
            ready_pending,
            mainpid: std::process::id(),
            budget: Budget::new(Instant::now()),
            dropped: [0; 5],
            relayed: 0,
        }))
    }

    /// The container's socket as a volume for nsinit (relay mode): bound
    /// read-only on [`CONTAINER_SOCKET`].
    pub fn volume(&self) -> Option<shared::volume::Volume> {
        let inbox = self.inbox.as_ref()?;
        Some(shared::volume::Volume {
            src: inbox.path.display().to_string(),
            dst: CONTAINER_SOCKET.to_string(),
            read_only: true,
            idmap: false,
        })
    }

    /// nsinit has mounted the container's socket: the host's copy of its
    /// name goes.
    pub fn mounted(&mut self) {
        if let Some(inbox) = self.inbox.as_mut() {
            inbox.forget_host_path();
        }
    }

    /// The descriptor the relay loop polls for the container's messages.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.inbox.as_ref().map(|i| i.sock.as_fd())
    }

    /// The command has started (the report pipe's end of file): in
    /// launcher mode, say READY=1.
    pub fn command_started(&mut self, log: &Log) {
        if std::mem::take(&mut self.ready_pending) {
            let msg = format!("READY=1\nMAINPID={}", self.mainpid);
            self.send(msg.as_bytes(), log);
        }
    }

    /// Read what the container sent (at most [`MAX_PER_WAKEUP`]
    /// datagrams), relay what passes, drop the rest.
    pub fn drain(&mut self, log: &Log) {
        for _ in 0..MAX_PER_WAKEUP {
            let Some(inbox) = &self.inbox else { return };
            let mut buf = [0u8; MAX_MESSAGE + 1];
            let mut iov = [IoSliceMut::new(&mut buf)];
            // No room for ancillary data: the kernel installs no
            // descriptor in our table, drops what was sent, and says so
            // with MSG_CTRUNC.
            let got = socket::recvmsg::<()>(
                inbox.sock.as_raw_fd(),
                &mut iov,
                None,
                MsgFlags::MSG_DONTWAIT,
            )
            .map(|m| (m.bytes, m.flags));
            let (n, flags) = match got {
                Ok(r) => r,
                Err(Errno::EINTR) => continue,
                Err(_) => return,
            };
            let verdict = if flags.contains(MsgFlags::MSG_CTRUNC) {
                Err(Dropped::Descriptors)
            } else if flags.contains(MsgFlags::MSG_TRUNC) || n > MAX_MESSAGE {
                Err(Dropped::TooLong)
            } else if !self.budget.take(Instant::now()) {
                Err(Dropped::RateLimited)
            } else {
                filter(&buf[..n], self.mainpid)
            };
            match verdict {
                Ok(msg) => {
                    self.relayed += 1;
                    self.send(&msg, log);
                }
                Err(why) => self.drop_one(why, log),
            }
        }
    }

    fn drop_one(&mut self, why: Dropped, log: &Log) {
        let count = &mut self.dropped[why.index()];
        *count += 1;
        if *count == 1 {
            log.warn(format_args!(
                "NOTIFY_SOCKET: dropped a message from the container: {} (later ones \
                 like it are dropped quietly)",
                why.why()
            ));
        } else {
            log.info(format_args!(
                "NOTIFY_SOCKET: dropped a message from the container: {}",
                why.why()
            ));
        }
    }

    /// Send to systemd, never blocking: a message systemd has no room for
    /// is lost, as for any sender.
    fn send(&self, msg: &[u8], log: &Log) {
        let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
        match socket::sendto(self.out.as_raw_fd(), msg, &self.to, flags) {
            Ok(_) => log.info(format_args!(
                "NOTIFY_SOCKET: sent {:?} to {}",
                String::from_utf8_lossy(msg),
                self.shown
            )),
            Err(e) => log.info(format_args!(
                "NOTIFY_SOCKET: send to {}: {}",
                self.shown,
                e.desc()
            )),
        }
    }

    /// A summary for `--verbose` at the end.
    pub fn summary(&self) -> String {
        let dropped: u64 = self.dropped.iter().sum();
        format!("{} relayed, {dropped} dropped", self.relayed)
    }
}

/// The variables the command gets for `plan`: `NOTIFY_SOCKET` (its
/// socket inside) and `WATCHDOG_USEC` in relay mode; none otherwise.
pub fn command_env(plan: &Plan) -> Vec<(String, String)> {
    match plan {
        Plan::Relay { watchdog_usec, .. } => {
            let mut env = vec![("NOTIFY_SOCKET".to_string(), CONTAINER_SOCKET.to_string())];
            if let Some(usec) = watchdog_usec {
                env.push(("WATCHDOG_USEC".to_string(), usec.clone()));
            }
            env
        }
        _ => Vec::new(),
    }
}

/// Our own `NOTIFY_SOCKET` (bytes: a path need not be UTF-8).
pub fn notify_socket_var() -> Option<Vec<u8>> {
    std::env::var_os("NOTIFY_SOCKET").map(OsString::into_vec)
}

/// Refuse a volume or tmpfs on the container's socket's path.
pub fn check_target(plan: &Plan, taken: impl IntoIterator<Item = String>) -> Result<(), String> {
    if !matches!(plan, Plan::Relay { .. }) {
        return Ok(());
    }
    match taken.into_iter().find(|dst| dst == CONTAINER_SOCKET) {
        Some(dst) => Err(format!(
            "--sdnotify container: {dst}, where the container's NOTIFY_SOCKET goes, is a \
             volume's or tmpfs's target too: use another target, or --sdnotify launcher or \
             ignore"
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn modes_parse_by_podmans_names() {
        assert_eq!("container".parse(), Ok(Mode::Container));
        assert_eq!("launcher".parse(), Ok(Mode::Launcher));
        assert_eq!("ignore".parse(), Ok(Mode::Ignore));
        let e = "conmon".parse::<Mode>().unwrap_err();
        assert_eq!(
            e,
            "--sdnotify conmon: expected container, launcher or ignore"
        );
        assert_eq!(Mode::default(), Mode::Container);
    }

    #[test]
    fn addresses_are_paths_or_abstract_names() {
        assert_eq!(
            Address::parse(b"/run/systemd/notify"),
            Ok(Address::Path(b"/run/systemd/notify".to_vec()))
        );
        assert_eq!(
            Address::parse(b"@/org/x/notify"),
            Ok(Address::Abstract(b"/org/x/notify".to_vec()))
        );
        for bad in [&b"relative"[..], b"vsock:2:1234", b"@", b""] {
            let e = Address::parse(bad).unwrap_err();
            assert!(e.starts_with("NOTIFY_SOCKET="), "{e}");
            assert!(e.contains("--sdnotify ignore"), "{e}");
        }
        let long = [b"/".as_slice(), &[b'x'; 107]].concat();
        assert!(Address::parse(&long).unwrap_err().contains("too long"));
        assert!(Address::parse(&long[..107]).is_ok());
    }

    #[test]
    fn the_plan_follows_the_mode_and_the_socket() {
        let at = Some(&b"/run/n"[..]);
        let to = Address::Path(b"/run/n".to_vec());
        assert_eq!(
            plan(Mode::Container, None, None, None, 7),
            Ok(Plan::Nothing)
        );
        assert_eq!(
            plan(Mode::Launcher, Some(b""), None, None, 7),
            Ok(Plan::Nothing)
        );
        assert_eq!(plan(Mode::Ignore, at, None, None, 7), Ok(Plan::Nothing));
        // ignore never looks at the socket, even a bad one.
        assert_eq!(
            plan(Mode::Ignore, Some(b"vsock:1"), None, None, 7),
            Ok(Plan::Nothing)
        );
        assert!(plan(Mode::Container, Some(b"vsock:1"), None, None, 7).is_err());
        assert_eq!(
            plan(Mode::Launcher, at, Some("1000"), None, 7),
            Ok(Plan::Ready { to: to.clone() })
        );
        let relay = |usec: Option<&str>| Plan::Relay {
            to: to.clone(),
            watchdog_usec: usec.map(String::from),
        };
        assert_eq!(plan(Mode::Container, at, None, None, 7), Ok(relay(None)));
        // The watchdog passes when it is ours and a number.
        assert_eq!(
            plan(Mode::Container, at, Some("30000000"), None, 7),
            Ok(relay(Some("30000000")))
        );
        assert_eq!(
            plan(Mode::Container, at, Some("30000000"), Some("7"), 7),
            Ok(relay(Some("30000000")))
        );
        assert_eq!(
            plan(Mode::Container, at, Some("30000000"), Some("8"), 7),
            Ok(relay(None))
        );
        assert_eq!(
            plan(Mode::Container, at, Some("soon"), None, 7),
            Ok(relay(None))
        );
    }

    #[test]
    fn only_known_lines_pass_with_our_mainpid() {
        let f = |m: &str| filter(m.as_bytes(), 42).map(|v| String::from_utf8(v).unwrap());
        assert_eq!(f("READY=1"), Ok("READY=1\nMAINPID=42".into()));
        assert_eq!(
            f("READY=1\nSTATUS=Serving 3 clients\n"),
            Ok("READY=1\nSTATUS=Serving 3 clients\nMAINPID=42".into())
        );
        // Theirs is replaced by ours; what needs descriptors, or is
        // unknown, goes.
        assert_eq!(
            f("MAINPID=1\nFDSTORE=1\nFDNAME=x\nBARRIER=1\nX=y\nWATCHDOG=1"),
            Ok("WATCHDOG=1\nMAINPID=42".into())
        );
        assert_eq!(
            f("RELOADING=1\nMONOTONIC_USEC=123\nSTOPPING=1\nEXTEND_TIMEOUT_USEC=5000000"),
            Ok("RELOADING=1\nMONOTONIC_USEC=123\nSTOPPING=1\nEXTEND_TIMEOUT_USEC=5000000\nMAINPID=42".into())
        );
        assert_eq!(
            f("ERRNO=2\nBUSERROR=org.x.Failed"),
            Ok("ERRNO=2\nBUSERROR=org.x.Failed\nMAINPID=42".into())
        );
        assert_eq!(f("MAINPID=1"), Err(Dropped::NothingKnown));
        assert_eq!(f(""), Err(Dropped::NothingKnown));
        // Values of the wrong form.
        for bad in [
            "READY=yes",
            "READY=1 ",
            "WATCHDOG=2",
            "STATUS=a\u{1b}[2Jb",
            "STATUS=a\rb",
            "ERRNO=-1",
            "ERRNO=99999999999",
            "BUSERROR=a b",
            "EXTEND_TIMEOUT_USEC=1e6",
            "WATCHDOG_USEC=",
            "ready=1",
        ] {
            assert_eq!(f(bad), Err(Dropped::NothingKnown), "{bad:?}");
        }
        assert_eq!(
            f("WATCHDOG=trigger"),
            Ok("WATCHDOG=trigger\nMAINPID=42".into())
        );
        assert_eq!(filter(b"READY=1\0", 42), Err(Dropped::NotText));
        assert_eq!(filter(b"STATUS=\xff", 42), Err(Dropped::NotText));
        let long = format!("STATUS={}", "x".repeat(MAX_MESSAGE));
        assert_eq!(filter(long.as_bytes(), 42), Err(Dropped::TooLong));
        let just = format!("STATUS={}", "x".repeat(MAX_MESSAGE - 7));
        assert!(filter(just.as_bytes(), 42).is_ok());
    }

    #[test]
    fn the_budget_allows_a_burst_then_a_rate() {
        let t0 = Instant::now();
        let mut b = Budget::new(t0);
        let burst = (0..1000).filter(|_| b.take(t0)).count();
        assert_eq!(burst, BURST as usize);
        assert!(!b.take(t0));
        // One second later: PER_SECOND more, not a new burst.
        let t1 = t0 + Duration::from_secs(1);
        let more = (0..1000).filter(|_| b.take(t1)).count();
        assert_eq!(more, PER_SECOND as usize);
        // A long pause refills to the burst, no more.
        let t2 = t1 + Duration::from_secs(3600);
        assert_eq!((0..1000).filter(|_| b.take(t2)).count(), BURST as usize);
    }

    #[test]
    fn the_container_gets_a_socket_only_when_relaying() {
        let to = Address::Path(b"/n".to_vec());
        assert!(command_env(&Plan::Nothing).is_empty());
        assert!(command_env(&Plan::Ready { to: to.clone() }).is_empty());
        let env = command_env(&Plan::Relay {
            to: to.clone(),
            watchdog_usec: Some("5".into()),
        });
        assert_eq!(
            env,
            [
                ("NOTIFY_SOCKET".to_string(), CONTAINER_SOCKET.to_string()),
                ("WATCHDOG_USEC".to_string(), "5".to_string())
            ]
        );
        let relay = Plan::Relay {
            to,
            watchdog_usec: None,
        };
        assert!(check_target(&relay, ["/run".to_string()]).is_ok());
        let e = check_target(&relay, [CONTAINER_SOCKET.to_string()]).unwrap_err();
        assert!(e.contains("--sdnotify launcher"), "{e}");
        assert!(check_target(&Plan::Nothing, [CONTAINER_SOCKET.to_string()]).is_ok());
    }
}
