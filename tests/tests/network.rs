//! Networking: `--network host|none|pasta|slirp4netns|ns:PATH`,
//! `-p/--publish`, `--dns`, `--add-host`, the helper's lifetime. Every
//! address is on this machine: the host's loopback, or the container's own
//! namespace. As root and as the unprivileged user.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nslaunch_tests::*;

/// The helpers, as `--network` names them.
const HELPERS: [&str; 2] = ["pasta", "slirp4netns"];

/// A port free on the host's loopback right now (TCP and UDP).
fn free_port() -> u16 {
    loop {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// `GET /` on 127.0.0.1:PORT: the response, or why not.
fn fetch(port: u16) -> Result<String, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut body = String::new();
    s.read_to_string(&mut body).map_err(|e| e.to_string())?;
    Ok(body)
}

/// A container serving `text` with busybox httpd on its port 80,
/// published at 127.0.0.1:PORT through `helper`; returns once httpd
/// listens (it prints `ready` after binding).
fn web_server(f: &Fixture, who: &Who, helper: &str, port: u16, text: &str) -> Running {
    let publish = format!("127.0.0.1:{port}:80");
    let script = format!(
        "echo {text} > /srv/index.html && httpd -p 80 -h /srv && echo ready && exec sleep 600"
    );
    let mut c = Running::start(f.nslaunch(
        who,
        &[
            "--network",
            helper,
            "-p",
            &publish,
            "--tmpfs",
            "/srv",
            "--",
            "sh",
            "-c",
            &script,
        ],
    ));
    c.wait_line("ready");
    c
}

/// The helper nslaunch (`pid`) started: its child that is not nsinit.
fn helper_of(pid: i32) -> i32 {
    let mut found = None;
    wait_until("the helper process", || {
        found = children_of(pid).into_iter().find(|c| {
            proc_stat(*c).is_some_and(|s| {
                s.comm.starts_with("pasta")
                    || s.comm.starts_with("passt")
                    || s.comm == "slirp4netns"
            })
        });
        found.is_some()
    });
    found.unwrap()
}

/// Whether `pid` still runs (a zombie does not).
fn alive(pid: i32) -> bool {
    process_state(pid).is_some_and(|s| s != 'Z' && s != 'X')
}

#[test]
fn a_published_web_server_is_reachable_from_the_host() {
    each(|f, who| {
        for helper in HELPERS {
            let port = free_port();
            let text = format!("hello-from-{helper}");
            let c = web_server(f, who, helper, port, &text);
            let helper_pid = helper_of(c.pid());
            let page = fetch(port).unwrap_or_else(|e| panic!("{helper}: fetch: {e}"));
            assert!(page.contains(&text), "{helper}: {page}");
            c.signal(libc::SIGTERM);
            let (st, _) = c.finish();
            assert_eq!(st.code(), Some(143), "{helper}");
            // The helper ended with the container, and its port is free.
            assert!(
                !alive(helper_pid),
                "{helper}: helper {helper_pid} still runs"
            );
            assert!(
                TcpListener::bind(("127.0.0.1", port)).is_ok(),
                "{helper}: port {port} still taken"
            );
        }
    });
}

/// The UDP echo helper, copied where the unprivileged user can run it.
fn udpecho(f: &Fixture) -> String {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dst = f.scratch.join("bin/udpecho");
        fs::create_dir_all(dst.parent().unwrap()).unwrap();
        fs::copy(env!("CARGO_BIN_EXE_udpecho"), &dst).unwrap();
        dst
    })
    .display()
    .to_string()
}

#[test]
fn udp_is_published_too() {
    each(|f, who| {
        let echo = udpecho(f);
        // pasta only, and under the port's own number: what Debian 12's
        // helpers would lose the replies of is refused (tested below).
        for helper in ["pasta"] {
            let port = free_port();
            let publish = format!("127.0.0.1:{port}:{port}/udp");
            // The helper is a host binary: under --rootfs / it runs as is.
            let mut c = Running::start(f.nslaunch_raw(
                who,
                &[
                    "--rootfs",
                    "/",
                    "--network",
                    helper,
                    "-p",
                    &publish,
                    "--",
                    &echo,
                    &port.to_string(),
                ],
            ));
            c.wait_line("ready");
            let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
            sock.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let deadline = Instant::now() + TIMEOUT;
            let mut buf = [0u8; 256];
            let answer = loop {
                // Datagrams may be lost: ask again until one comes back.
                sock.send_to(b"ping", ("127.0.0.1", port)).unwrap();
                if let Ok((n, _)) = sock.recv_from(&mut buf) {
                    break String::from_utf8_lossy(&buf[..n]).into_owned();
                }
                assert!(Instant::now() < deadline, "{helper}: no UDP answer");
            };
            assert_eq!(answer, "echo:ping", "{helper}");
            c.signal(libc::SIGTERM);
            let (st, _) = c.finish();
            assert!(st.code().is_some(), "{helper}: {st:?}");
        }
    });
}

#[test]
fn two_containers_publish_different_ports_at_once() {
    each(|f, who| {
        let (p1, p2) = (free_port(), free_port());
        let a = web_server(f, who, "pasta", p1, "first");
        let b = web_server(f, who, "slirp4netns", p2, "second");
        assert!(fetch(p1).unwrap().contains("first"));
        assert!(fetch(p2).unwrap().contains("second"));
        for c in [a, b] {
            c.signal(libc::SIGTERM);
            assert_eq!(c.finish().0.code(), Some(143));
        }
    });
}

#[test]
fn a_port_in_use_or_no_network_to_publish_from_is_refused() {
    each(|f, who| {
        // A rootfs of its own: no other test's container mentions it.
        let rootfs = &f.own_rootfs(who, "refused");
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        for helper in HELPERS {
            let publish = format!("127.0.0.1:{port}:80");
            let r = run(
                f.nslaunch_on(
                    who,
                    rootfs,
                    &["--network", helper, "-p", &publish, "echo", "ran"],
                ),
                None,
            );
            assert_refused(&r, helper, &format!("127.0.0.1:{port}/tcp"), rootfs);
            assert!(r.stderr.contains("in use"), "{r:?}");
            // Nothing of the helper's was started.
            assert!(processes_mentioning(&format!("{port}:80")).is_empty());
        }
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let uport = udp.local_addr().unwrap().port();
        let publish = format!("127.0.0.1:{uport}:{uport}/udp");
        let r = run(
            f.nslaunch_on(
                who,
                rootfs,
                &["--network", "pasta", "-p", &publish, "echo", "ran"],
            ),
            None,
        );
        assert_refused(&r, "udp", &format!("{uport}/udp"), rootfs);
        for net in [
            &[][..],
            &["--network", "none"][..],
            &["--network", "host"][..],
        ] {
            let mut args = net.to_vec();
            args.extend(["-p", "8080:80", "echo", "ran"]);
            let r = run(f.nslaunch_on(who, rootfs, &args), None);
            assert_refused(&r, "no network of its own", "add --network pasta", rootfs);
        }
        for (args, want) in [
            (&["--network", "bridge"][..], "--network bridge: use host"),
            (&["--network", "pasta", "-p", "80"][..], "--publish 80:"),
            (&["--unshare-net", "--network", "pasta"][..], "conflicts"),
            (&["--dns", "example"][..], "--dns example:"),
            (&["--add-host", "db"][..], "--add-host db:"),
            // What Debian 12's helpers would lose the replies of.
            (
                &["--network", "slirp4netns", "-p", "5353:5353/udp"][..],
                "use --network pasta",
            ),
            (
                &["--network", "pasta", "-p", "5353:53/udp"][..],
                "under its own",
            ),
        ] {
            let mut all = args.to_vec();
            all.extend(["echo", "ran"]);
            let r = run(f.nslaunch_on(who, rootfs, &all), None);
            assert_refused(&r, &format!("{args:?}"), want, rootfs);
        }
    });
}

#[test]
fn a_missing_helper_names_its_package() {
    each(|f, who| {
        // A PATH without the helpers (with setpriv, which runs nslaunch
        // as the user).
        let empty = f.dir(who, "empty-path");
        std::os::unix::fs::symlink("/usr/bin/setpriv", empty.join("setpriv")).unwrap();
        let rootfs = &f.own_rootfs(who, "no-helper");
        for (helper, package) in [("pasta", "passt"), ("slirp4netns", "slirp4netns")] {
            let mut c = f.nslaunch_on(who, rootfs, &["--network", helper, "echo", "ran"]);
            c.env("PATH", &empty);
            let r = run(c, None);
            assert_refused(
                &r,
                helper,
                &format!("install the Debian package {package}"),
                rootfs,
            );
        }
    });
}

#[test]
fn network_none_has_only_loopback_up() {
    each(|f, who| {
        for flags in [&["--network", "none"][..], &["--unshare-net"][..]] {
            let mut args = flags.to_vec();
            args.extend(["ip", "-o", "link"]);
            let r = run(f.nslaunch(who, &args), None);
            assert_eq!(r.code(), 0, "{flags:?}: {r:?}");
            let links = lines(&r.stdout);
            assert_eq!(links.len(), 1, "{flags:?}: {links:?}");
            assert!(
                links[0].contains(": lo:") && links[0].contains(",UP"),
                "{links:?}"
            );
        }
    });
}

#[test]
fn the_helpers_give_an_interface_and_a_resolver_of_their_own() {
    each(|f, who| {
        for (helper, nameserver, addr) in [
            ("pasta", "nameserver 169.254.1.1", ""),
            ("slirp4netns", "nameserver 10.0.2.3", "10.0.2.100/24"),
        ] {
            let r = run(
                f.nslaunch(
                    who,
                    &[
                        "--network",
                        helper,
                        "sh",
                        "-c",
                        "ip -o addr; cat /etc/resolv.conf",
                    ],
                ),
                None,
            );
            assert_eq!(r.code(), 0, "{helper}: {r:?}");
            // An interface beside lo, with an IPv4 address, already up
            // when the command starts.
            let other = r
                .stdout
                .lines()
                .find(|l| l.contains("inet ") && !l.contains(": lo "))
                .unwrap_or_else(|| panic!("{helper}: no interface: {}", r.stdout));
            assert!(other.contains(addr), "{helper}: {other}");
            assert!(r.stdout.contains(nameserver), "{helper}: {}", r.stdout);
        }
    });
}

#[test]
fn dns_and_hosts_are_generated_and_the_rootfs_is_untouched() {
    each(|f, who| {
        let rootfs = f.own_rootfs(who, "dns");
        let hosts = rootfs.join("etc/hosts");
        write_as(who, &hosts, "10.9.9.9 from-the-rootfs\n");
        // As in many images: a link to systemd-resolved's file, which
        // exists only on a running system.
        let resolv = rootfs.join("etc/resolv.conf");
        let _ = fs::remove_file(&resolv);
        std::os::unix::fs::symlink("../run/resolve/stub-resolv.conf", &resolv).unwrap();
        std::os::unix::fs::lchown(&resolv, Some(who.uid()), Some(who.gid())).unwrap();
        let dev_before = fs::read_dir(rootfs.join("dev")).map(|d| d.count()).ok();
        let r = run(
            f.nslaunch_on(
                who,
                &rootfs,
                &[
                    "--read-only",
                    "--dns",
                    "192.0.2.53",
                    "--add-host",
                    "db:192.0.2.10",
                    "--",
                    "sh",
                    "-c",
                    "cat /etc/resolv.conf /etc/hosts; ls -a /dev",
                ],
            ),
            None,
        );
        assert_eq!(r.code(), 0, "{r:?}");
        assert!(r.stdout.contains("nameserver 192.0.2.53\n"), "{}", r.stdout);
        assert!(r.stdout.contains("192.0.2.10\tdb\n"), "{}", r.stdout);
        assert!(r.stdout.contains("127.0.0.1\tlocalhost\n"), "{}", r.stdout);
        assert!(!r.stdout.contains("from-the-rootfs"), "{}", r.stdout);
        assert!(!r.stdout.contains(".nslaunch-file"), "{}", r.stdout);
        // The rootfs keeps its own file; the missing one (where the link
        // leads, inside the rootfs) is only an empty mount point, as for a
        // volume.
        assert_eq!(
            fs::read_to_string(&hosts).unwrap(),
            "10.9.9.9 from-the-rootfs\n"
        );
        assert_eq!(fs::read_to_string(&resolv).unwrap(), "");
        assert!(fs::symlink_metadata(&resolv).unwrap().is_symlink());
        assert_eq!(
            fs::read_dir(rootfs.join("dev")).map(|d| d.count()).ok(),
            dev_before
        );
    });
}

#[test]
fn a_rootfs_that_cannot_take_a_resolv_conf_keeps_its_own() {
    if !nix::unistd::geteuid().is_root() {
        return skip("a rootfs of root's needs root");
    }
    each(|f, who| {
        // root's rootfs, without /etc/resolv.conf: container root of an
        // ordinary user may not write there, real root's (idmapped) may.
        let rootfs = f.own_rootfs(&Who::Root, &format!("no-resolv-{}", who.uid()));
        let resolv = rootfs.join("etc/resolv.conf");
        let _ = fs::remove_file(&resolv);
        let r = run(
            f.nslaunch_on(who, &rootfs, &["--network", "slirp4netns", "echo", "ran"]),
            None,
        );
        assert_eq!((r.code(), r.stdout.as_str()), (0, "ran\n"), "{r:?}");
        assert_eq!(resolv.exists(), who.is_root(), "{r:?}");
        if !who.is_root() {
            // Asked for, it is an error.
            let r = run(
                f.nslaunch_on(who, &rootfs, &["--dns", "192.0.2.53", "echo", "ran"]),
                None,
            );
            assert_refused(&r, "--dns", "/etc/resolv.conf", &rootfs);
        }
    });
}

/// `ip netns add NAME`, deleted when dropped.
struct NetNs(String);

impl NetNs {
    fn new(name: &str) -> NetNs {
        let ok = |args: &[&str]| {
            let st = std::process::Command::new("ip")
                .args(args)
                .status()
                .unwrap();
            assert!(st.success(), "ip {args:?}");
        };
        ok(&["netns", "add", name]);
        let ns = NetNs(name.to_string());
        // A mark the container can see (this kernel may lack dummy and
        // veth links): lo's MTU is the namespace's own.
        ok(&["-n", name, "link", "set", "lo", "mtu", "1234"]);
        ns
    }

    fn path(&self) -> String {
        format!("/run/netns/{}", self.0)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.0])
            .status();
    }
}

#[test]
fn ns_path_joins_a_namespace_made_by_ip_netns() {
    if !nix::unistd::geteuid().is_root() {
        return skip("ip netns add needs root");
    }
    let ns = NetNs::new(&format!("nslaunch-t{}", std::process::id()));
    let mode = format!("ns:{}", ns.path());
    each(|f, who| {
        let rootfs = &f.own_rootfs(who, "netns");
        let r = run(
            f.nslaunch_on(who, rootfs, &["--network", &mode, "ip", "-o", "link"]),
            None,
        );
        if who.is_root() {
            assert_eq!(r.code(), 0, "{r:?}");
            let links = lines(&r.stdout);
            assert_eq!(links.len(), 1, "{links:?}");
            assert!(
                links[0].contains(": lo:") && links[0].contains("mtu 1234"),
                "{r:?}"
            );
        } else {
            // The namespace belongs to the host's user namespace, where
            // an ordinary user has no CAP_SYS_ADMIN.
            assert_refused(&r, "user", "CAP_SYS_ADMIN", rootfs);
        }
        let r = run(
            f.nslaunch_on(who, rootfs, &["--network", "ns:/proc/self/ns/user", "true"]),
            None,
        );
        assert_refused(&r, "not a netns", "not a network namespace", rootfs);
    });
    drop(ns);
    assert!(!Path::new(&format!("/run/netns/nslaunch-t{}", std::process::id())).exists());
}

#[test]
fn sigkill_of_nslaunch_leaves_no_helper_nor_socket() {
    each(|f, who| {
        for helper in HELPERS {
            let port = free_port();
            let c = web_server(f, who, helper, port, "x");
            let helper_pid = helper_of(c.pid());
            let cmdline = fs::read(format!("/proc/{helper_pid}/cmdline")).unwrap();
            let words: Vec<String> = cmdline
                .split(|b| *b == 0)
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect();
            // slirp4netns's API socket was removed once the port was added.
            if let Some(i) = words.iter().position(|w| w == "--api-socket") {
                let sock = Path::new(&words[i + 1]);
                assert!(!sock.exists(), "{helper}: {} left", sock.display());
                assert!(
                    !sock.parent().unwrap().exists(),
                    "{helper}: its directory left"
                );
            }
            c.signal(libc::SIGKILL);
            let (st, _) = c.finish();
            assert_eq!(st.code(), None, "{helper}");
            let deadline = Instant::now() + Duration::from_secs(1);
            while alive(helper_pid) || TcpListener::bind(("127.0.0.1", port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "{helper}: helper {helper_pid} or its port {port} still there a second later"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    });
}

#[test]
fn dry_run_shows_the_helper_and_verbose_times_it() {
    each(|f, who| {
        let port = free_port();
        let publish = format!("127.0.0.1:{port}:80");
        let r = run(
            f.nslaunch(
                who,
                &["--dry-run", "--network", "pasta", "-p", &publish, "true"],
            ),
            None,
        );
        assert_eq!(r.code(), 0, "{r:?}");
        assert!(r.stdout.contains("pasta --config-net"), "{}", r.stdout);
        assert!(
            r.stdout.contains(&format!("-t 127.0.0.1/{port}:80")),
            "{}",
            r.stdout
        );
        assert!(r.stdout.contains("--dns 169.254.1.1"), "{}", r.stdout);
        let r = run(
            f.nslaunch(who, &["--verbose", "--network", "slirp4netns", "true"]),
            None,
        );
        assert_eq!(r.code(), 0, "{r:?}");
        assert!(
            r.stderr
                .contains("start slirp4netns and wait until it is ready: "),
            "{}",
            r.stderr
        );
    });
}

#[test]
fn check_reports_the_helpers_and_the_tun_device() {
    each(|f, who| {
        let r = run(f.nslaunch_raw(who, &["check"]), None);
        for want in [
            "OK    network helper pasta: ",
            "OK    network helper slirp4netns: ",
            "OK    /dev/net/tun: usable",
        ] {
            assert!(r.stdout.contains(want), "{want}: {}", r.stdout);
        }
    });
}
