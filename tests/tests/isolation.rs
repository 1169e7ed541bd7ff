//! Isolation beyond the core: the other namespaces (`--unshare-*`),
//! capabilities (`--cap-add`, `--cap-drop`), `--no-new-privileges`, the
//! kernel's paths masked and read-only, `--read-only` and `--tmpfs`, and
//! read-only mounts that container root cannot undo. Every scenario runs
//! as root and as an unprivileged user, in the `--userns` modes each can
//! use.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use nslaunch_tests::*;

/// `KEY=VALUE` lines of `out`, as a map.
fn values(out: &str) -> BTreeMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const KINDS: [&str; 8] = ["net", "ipc", "uts", "cgroup", "time", "user", "mnt", "pid"];

fn host_ns(kind: &str) -> String {
    fs::read_link(format!("/proc/self/ns/{kind}"))
        .unwrap()
        .display()
        .to_string()
}

fn host_interfaces() -> Vec<String> {
    let text = fs::read_to_string("/proc/net/dev").unwrap();
    interfaces(&text)
}

fn interfaces(dev: &str) -> Vec<String> {
    let mut v: Vec<String> = dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split_once(':').map(|(name, _)| name.trim().to_string()))
        .collect();
    v.sort();
    v
}

/// A System V shared memory segment on the host, removed when dropped.
struct HostShm(i32);

const SHM_KEY: i32 = 0x6e73_6c35;

impl HostShm {
    fn new() -> HostShm {
        // SAFETY: shmget takes integers; the segment is removed in Drop.
        let id = unsafe { libc::shmget(SHM_KEY, 4096, libc::IPC_CREAT | 0o644) };
        assert!(id >= 0, "shmget: {}", std::io::Error::last_os_error());
        HostShm(id)
    }
}

impl Drop for HostShm {
    fn drop(&mut self) {
        // SAFETY: IPC_RMID takes no buffer.
        unsafe { libc::shmctl(self.0, libc::IPC_RMID, std::ptr::null_mut()) };
    }
}

#[test]
fn each_unshare_flag_gives_a_namespace_of_its_own_and_leaves_the_hosts() {
    if fixture().is_none() {
        return;
    }
    let host_before: Vec<String> = KINDS.iter().map(|k| host_ns(k)).collect();
    let host_name = nix::unistd::gethostname().unwrap();
    let host_ifaces = host_interfaces();
    assert!(
        host_ifaces.iter().any(|i| i != "lo"),
        "the host has only lo: the --unshare-net check would prove nothing"
    );
    let shm = HostShm::new();
    let script = r#"
        for k in net ipc uts cgroup time user mnt pid; do echo "$k=$(readlink /proc/self/ns/$k)"; done
        echo "ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort | tr '\n' ' ')"
        echo "lo=$(cat /sys/class/net/lo/flags 2>/dev/null)"
        echo "shm=$(awk 'NR > 1 { print $1 }' /proc/sysvipc/shm | tr '\n' ' ')"
        echo "cgroup_lines=$(wc -l < /proc/self/cgroup) cgroup_root=$(grep -c ':/$' /proc/self/cgroup)"
        echo "offsets=$(wc -l < /proc/self/timens_offsets)"
        echo "hostname=$(hostname)"
    "#;
    let variants: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (vec![], vec![]),
        (vec!["--unshare-net"], vec!["net"]),
        (vec!["--unshare-ipc"], vec!["ipc"]),
        (vec!["--unshare-uts"], vec!["uts"]),
        (vec!["--hostname", "box"], vec!["uts"]),
        (vec!["--unshare-cgroup"], vec!["cgroup"]),
        (vec!["--unshare-time"], vec!["time"]),
        (
            vec!["--unshare-all"],
            vec!["net", "ipc", "uts", "cgroup", "time"],
        ),
    ];
    each(|f, who| {
        let modes: &[&str] = if who.is_root() { &["", "host"] } else { &[""] };
        for mode in modes {
            for (flags, own) in &variants {
                let mut args = with_userns(mode, flags);
                args.extend(["sh", "-c", script]);
                let r = run(f.nslaunch(who, &args), None);
                assert_eq!(r.code(), 0, "{mode:?} {flags:?}: {r:?}");
                let v = values(&r.stdout);
                let ctx = format!("--userns {mode:?} {flags:?}: {r:?}");
                for (kind, host) in KINDS.iter().zip(&host_before) {
                    let always =
                        ["mnt", "pid"].contains(kind) || (*kind == "user" && *mode != "host");
                    let inside = &v[*kind];
                    if always || own.contains(kind) {
                        assert_ne!(inside, host, "{kind} is the host's: {ctx}");
                    } else {
                        assert_eq!(inside, host, "{kind} is not the host's: {ctx}");
                    }
                }
                if own.contains(&"net") {
                    assert_eq!(v["ifaces"].trim(), "lo", "{ctx}");
                    // IFF_UP | IFF_LOOPBACK: lo is up.
                    assert_eq!(v["lo"], "0x9", "{ctx}");
                } else {
                    let inside: Vec<&str> = v["ifaces"].split_whitespace().collect();
                    assert_eq!(inside, host_ifaces, "{ctx}");
                }
                let key = SHM_KEY.to_string();
                let sees_host_shm = v["shm"].split_whitespace().any(|k| k == key);
                assert_eq!(sees_host_shm, !own.contains(&"ipc"), "{ctx}");
                if own.contains(&"cgroup") {
                    let (lines, root) = v["cgroup_lines"].split_once(" cgroup_root=").unwrap();
                    assert_eq!(lines, root, "a cgroup is not / inside: {ctx}");
                }
                assert_eq!(v["offsets"], "2", "{ctx}");
                let want_name = if flags.contains(&"box") {
                    "box".to_string()
                } else {
                    host_name.to_string_lossy().into_owned()
                };
                assert_eq!(v["hostname"], want_name, "{ctx}");
            }
        }
    });
    drop(shm);
    let host_after: Vec<String> = KINDS.iter().map(|k| host_ns(k)).collect();
    assert_eq!(host_after, host_before, "the test's own namespaces changed");
    assert_eq!(nix::unistd::gethostname().unwrap(), host_name);
    assert_eq!(host_interfaces(), host_ifaces);
}

/// The command's capability sets, as hex words: CapPrm, CapEff, CapBnd,
/// and the first line of its uid_map.
fn caps_of(f: &Fixture, who: &Who, flags: &[&str]) -> (String, String, String, String) {
    let script = "grep -E '^Cap(Prm|Eff|Bnd)' /proc/self/status | awk '{ print $2 }'; \
                  head -1 /proc/self/uid_map | tr -s ' ' ' '";
    let mut args = flags.to_vec();
    args.extend(["sh", "-c", script]);
    let r = run(f.nslaunch(who, &args), None);
    assert_eq!(r.code(), 0, "{flags:?}: {r:?}");
    let l = lines(&r.stdout);
    (
        l[0].to_string(),
        l[1].to_string(),
        l[2].to_string(),
        l[3].trim().to_string(),
    )
}

#[test]
fn cap_add_and_cap_drop_change_what_container_root_keeps() {
    each(|f, who| {
        let cases: Vec<(Vec<&str>, u64)> = vec![
            (vec![], 0xa804_25fb),
            (vec!["--cap-add", "NET_ADMIN"], 0xa804_35fb),
            (vec!["--cap-add", "cap_net_admin"], 0xa804_35fb),
            (
                vec!["--cap-drop", "NET_RAW", "--cap-drop", "CAP_MKNOD"],
                0xa004_05fb,
            ),
            (vec!["--cap-drop", "ALL"], 0),
            (vec!["--cap-drop", "all", "--cap-add", "CHOWN"], 1),
        ];
        for (flags, want) in cases {
            let (prm, eff, bnd, _) = caps_of(f, who, &flags);
            let want = format!("{want:016x}");
            assert_eq!((&prm, &eff, &bnd), (&want, &want, &want), "{flags:?}");
        }
        // SYS_ADMIN (here by ALL): the command runs in a nested user
        // namespace, whose map is the identity of the container's ids.
        let (prm, _, bnd, map) = caps_of(f, who, &["--cap-add", "ALL"]);
        assert_eq!(
            (prm.as_str(), bnd.as_str()),
            ("000001ffffffffff", "000001ffffffffff")
        );
        assert!(map.starts_with("0 0 "), "not nested: {map}");
        let (_, _, _, map) = caps_of(f, who, &[]);
        assert!(!map.starts_with("0 0 "), "{map}");
        if who.is_root() {
            // No user namespace: MKNOD only when asked for.
            let (prm, ..) = caps_of(f, who, &["--userns", "host"]);
            assert_eq!(prm, "00000000a00425fb");
            let (prm, ..) = caps_of(f, who, &["--userns", "host", "--cap-add", "MKNOD"]);
            assert_eq!(prm, "00000000a80425fb");
            let (_, _, _, map) = caps_of(f, who, &["--userns", "host", "--cap-add", "SYS_ADMIN"]);
            assert_eq!(map, "0 0 4294967295", "not nested under --userns host");
        }
        // A dropped capability is really gone: root cannot read a file of
        // mode 000 without DAC_OVERRIDE and DAC_READ_SEARCH.
        let script = "echo x > /dev/shm/locked && chmod 000 /dev/shm/locked && cat /dev/shm/locked";
        let r = run(f.nslaunch(who, &["sh", "-c", script]), None);
        assert_eq!((r.code(), r.stdout.as_str()), (0, "x\n"), "{r:?}");
        let r = run(
            f.nslaunch(
                who,
                &[
                    "--cap-drop",
                    "DAC_OVERRIDE",
                    "--cap-drop",
                    "DAC_READ_SEARCH",
                    "sh",
                    "-c",
                    script,
                ],
            ),
            None,
        );
        // The file was made and locked; only the read failed, for want of
        // the capabilities.
        assert_eq!(r.code(), 1, "read without DAC_OVERRIDE: {r:?}");
        assert!(r.stdout.is_empty(), "read without DAC_OVERRIDE: {r:?}");
        assert!(
            r.stderr.contains("/dev/shm/locked") && r.stderr.contains("Permission denied"),
            "{r:?}"
        );
    });
    // Without subordinate ids, keep-id runs nsinit as the caller (not
    // root inside): it still nests a command given SYS_ADMIN.
    let Some(f) = fixture() else { return };
    if let Some(who) = f.nosub() {
        let (_, eff, _, map) = caps_of(f, who, &["--userns", "keep-id", "--cap-add", "SYS_ADMIN"]);
        assert_eq!(eff, "0000000000000000");
        assert_eq!(map, format!("{u} {u} 1", u = who.uid()));
        let (_, eff, _, map) = caps_of(f, who, &["--cap-add", "SYS_ADMIN"]);
        assert_eq!((eff.as_str(), map.as_str()), ("00000000a82425fb", "0 0 1"));
    }
}

#[test]
fn no_new_privileges_reaches_the_command_and_its_children_only() {
    each(|f, who| {
        let script =
            "grep NoNewPrivs /proc/self/status; sh -c 'grep NoNewPrivs /proc/self/status'; \
                      grep NoNewPrivs /proc/1/status";
        let r = run(f.nslaunch(who, &["sh", "-c", script]), None);
        assert_eq!(r.code(), 0, "{r:?}");
        let tidy = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(tidy(&r.stdout), "NoNewPrivs: 0 NoNewPrivs: 0 NoNewPrivs: 0");
        let r = run(
            f.nslaunch(who, &["--no-new-privileges", "sh", "-c", script]),
            None,
        );
        assert_eq!(r.code(), 0, "{r:?}");
        assert_eq!(tidy(&r.stdout), "NoNewPrivs: 1 NoNewPrivs: 1 NoNewPrivs: 0");
    });
}

/// What container root tries against read-only mounts; each line it
/// prints is an attack that worked.
const UNDO_READ_ONLY: &str = r#"
    touch /newfile 2>/dev/null && echo WROTE-ROOTFS
    touch /ro/new 2>/dev/null && echo WROTE-VOLUME
    echo x >> /ro/existing 2>/dev/null && echo APPENDED-VOLUME
    for m in / /ro /proc/sys /sys; do
        mount -o remount,rw $m 2>/dev/null && echo "REMOUNTED $m"
        mount -o remount,bind,rw $m 2>/dev/null && echo "REMOUNTED-BIND $m"
    done
    for m in /ro /proc/sys /proc/keys /proc/acpi /sys/firmware /sys /proc; do
        umount $m 2>/dev/null && echo "UNMOUNTED $m"
        umount -l $m 2>/dev/null && echo "UNMOUNTED-LAZY $m"
    done
    # Kernel settings, each written back with its own value: harmless
    # even where it works, and the echo says it did.
    rewrite() { v=$(cat "$1") && echo "$v" > "$1" && echo "WROTE $1"; }
    for k in /proc/sys/kernel/core_pattern /proc/sys/kernel/printk_ratelimit /sys/kernel/uevent_helper; do
        rewrite $k 2>/dev/null
    done
    unshare -Urm sh -c 'mount -o remount,rw /ro || mount -o remount,bind,rw /ro; touch /ro/nested' 2>/dev/null && echo NESTED
    unshare -Urm sh -c 'umount /proc/sys; v=$(cat /proc/sys/kernel/core_pattern); echo "$v" > /proc/sys/kernel/core_pattern' 2>/dev/null && echo NESTED-CORE
    # A fresh proc in a nested user and PID namespace would have a
    # writable /proc/sys: the kernel allows it only where a proc is fully
    # visible, which the masks prevent.
    unshare -Urpfm sh -c 'mount -t proc proc /proc && echo NESTED-PROC && v=$(cat /proc/sys/kernel/core_pattern) && echo "$v" > /proc/sys/kernel/core_pattern && echo NESTED-PROC-CORE' 2>/dev/null
    unshare -pfm sh -c 'mount -t proc proc /proc && echo NEW-PROC' 2>/dev/null
    touch /ro/after 2>/dev/null && echo WROTE-VOLUME-AFTER
    awk '$5 == "/" || $5 == "/ro" || $5 == "/proc/sys" || $5 == "/sys" { print $5, substr($6, 1, 2) }' /proc/self/mountinfo | sort
    mount -t tmpfs none /ro 2>/dev/null && echo MOUNTED-OVER
    echo end
"#;

#[test]
fn read_only_mounts_and_kernel_settings_hold_against_container_root() {
    let core_before = fs::read("/proc/sys/kernel/core_pattern").unwrap();
    each(|f, who| {
        let dir = f.dir(who, "ro-hold");
        write_as(who, &dir.join("existing"), "before\n");
        let before = snapshot(&dir);
        let rootfs = f.own_rootfs(who, "ro-hold");
        fs::create_dir(rootfs.join("ro")).unwrap();
        nix::unistd::chown(
            &rootfs.join("ro"),
            Some(nix::unistd::Uid::from_raw(who.uid())),
            Some(nix::unistd::Gid::from_raw(who.gid())),
        )
        .unwrap();
        let rootfs_before = snapshot(&rootfs);
        let v = format!("{}:/ro:ro", dir.display());
        for mode in userns_modes(who) {
            for extra in [&[][..], &["--cap-add", "SYS_ADMIN"][..]] {
                let mut args = with_userns(mode, &["--read-only", "-v", &v]);
                args.extend_from_slice(extra);
                args.extend(["sh", "-c", UNDO_READ_ONLY]);
                let r = run(f.nslaunch_on(who, &rootfs, &args), None);
                let ctx = format!("--userns {mode:?} {extra:?}: {r:?}");
                assert_eq!(r.code(), 0, "{ctx}");
                let mut want = vec!["/ ro", "/proc/sys ro", "/ro ro", "/sys ro"];
                // With SYS_ADMIN (in a nested namespace) a new mount on
                // top is allowed; it hides, it does not write. (Under an
                // ordinary user's keep-id the command is not root.)
                let is_root = mode != "keep-id" || who.is_root();
                if !extra.is_empty() && is_root {
                    want.push("MOUNTED-OVER");
                }
                want.push("end");
                assert_eq!(lines(&r.stdout), want, "{ctx}");
                assert_eq!(snapshot(&dir), before, "the volume changed: {ctx}");
                assert_eq!(
                    snapshot(&rootfs),
                    rootfs_before,
                    "the rootfs changed: {ctx}"
                );
            }
        }
    });
    assert_eq!(
        fs::read("/proc/sys/kernel/core_pattern").unwrap(),
        core_before
    );
}

#[test]
fn the_kernels_secrets_are_masked_in_every_mode() {
    let masked_files: Vec<&str> = [
        "/proc/kcore",
        "/proc/keys",
        "/proc/interrupts",
        "/proc/timer_list",
        "/proc/sched_debug",
        "/proc/latency_stats",
        "/proc/timer_stats",
    ]
    .into_iter()
    .filter(|p| fs::metadata(p).is_ok_and(|m| m.is_file()))
    .collect();
    // The host's filesystems below /sys (tracefs, debugfs ...) are hidden
    // too where /sys is a bind of the host's.
    let host_mounts = host_mounts();
    let sys_submounts = [
        "/sys/fs/bpf",
        "/sys/fs/pstore",
        "/sys/kernel/config",
        "/sys/kernel/debug",
        "/sys/kernel/security",
        "/sys/kernel/tracing",
    ]
    .into_iter()
    .filter(|p| host_mounts.lines().any(|l| l.split(' ').nth(4) == Some(p)));
    let masked_dirs: Vec<&str> = ["/proc/acpi", "/proc/scsi", "/proc/asound", "/sys/firmware"]
        .into_iter()
        .chain(sys_submounts)
        .filter(|p| fs::metadata(p).is_ok_and(|m| m.is_dir()))
        .collect();
    assert!(
        masked_files.contains(&"/proc/interrupts") && masked_dirs.contains(&"/sys/firmware"),
        "this host lacks /proc/interrupts or /sys/firmware: the check would prove little"
    );
    let mut script = String::new();
    for p in &masked_files {
        script.push_str(&format!("echo \"{p} $(cat {p} | wc -c)\"\n"));
    }
    for p in &masked_dirs {
        script.push_str(&format!("echo \"{p} $(ls -A {p} | wc -l)\"\n"));
    }
    let want: Vec<String> = masked_files
        .iter()
        .chain(&masked_dirs)
        .map(|p| format!("{p} 0"))
        .collect();
    each(|f, who| {
        for mode in userns_modes(who) {
            let mut args = with_userns(mode, &["sh", "-c", &script]);
            let r = run(f.nslaunch(who, &args), None);
            assert_eq!(r.code(), 0, "--userns {mode:?}: {r:?}");
            assert_eq!(lines(&r.stdout), want, "--userns {mode:?}: {r:?}");
            // The same with a network namespace: /sys is then a sysfs of
            // the container's own, masked alike.
            args.insert(0, "--unshare-net");
            let r = run(f.nslaunch(who, &args), None);
            assert_eq!(
                lines(&r.stdout),
                want,
                "--userns {mode:?} --unshare-net: {r:?}"
            );
        }
    });
}

#[test]
fn read_only_rootfs_with_tmpfs_volumes_and_workdir() {
    each(|f, who| {
        let rootfs = f.own_rootfs(who, "readonly");
        let before = snapshot(&rootfs);
        let vol = f.dir(who, "ro-rootfs-vol");
        // Writable by container root under real root's default too, where
        // it is the unprivileged block on a volume, not root.
        fs::set_permissions(&vol, fs::Permissions::from_mode(0o777)).unwrap();
        let v = format!("{}:/newvol", vol.display());
        let script = r#"
            touch /x 2>/dev/null && echo WROTE-ROOT
            touch /tmp/x 2>/dev/null && echo WROTE-TMP
            echo shm > /dev/shm/x && cat /dev/shm/x
            touch /newtmp/x /newvol/x /run/x && echo writable-mounts
            echo "pwd=$(pwd)"
            stat -c 'mode=%a' /newtmp
            df -k /newtmp | awk 'NR == 2 { print "size=" $2 }'
            cp /bin/busybox /run/true && /run/true 2>/dev/null && echo EXEC-ON-NOEXEC
            cp /bin/busybox /newtmp/true && /newtmp/true && echo exec-ok
            touch /rotmp/x 2>/dev/null && echo WROTE-RO-TMPFS
            awk '$5 == "/" || $5 == "/run" || $5 == "/rotmp" { print $5, substr($6, 1, 2) }' /proc/self/mountinfo | sort
        "#;
        let r = run(
            f.nslaunch_on(
                who,
                &rootfs,
                &[
                    "--read-only",
                    "-v",
                    &v,
                    "--tmpfs",
                    "/newtmp:size=4m,mode=700,exec",
                    "--tmpfs",
                    "/run",
                    "--tmpfs",
                    "/rotmp:ro",
                    "-w",
                    "/newwork",
                    "sh",
                    "-c",
                    script,
                ],
            ),
            None,
        );
        assert_eq!(r.code(), 0, "{r:?}");
        assert_eq!(
            lines(&r.stdout),
            [
                "shm",
                "writable-mounts",
                "pwd=/newwork",
                "mode=700",
                "size=4096",
                "exec-ok",
                "/ ro",
                "/rotmp ro",
                "/run rw"
            ],
            "{r:?}"
        );
        // Only the missing mount points and the workdir were made.
        let after = snapshot(&rootfs);
        let made: Vec<PathBuf> = after
            .keys()
            .filter(|k| !before.contains_key(*k))
            .cloned()
            .collect();
        let mut want: Vec<PathBuf> = ["newvol", "newtmp", "run", "rotmp", "newwork"]
            .iter()
            .map(PathBuf::from)
            .collect();
        want.sort();
        assert_eq!(made, want);
        assert!(before.keys().all(|k| after.contains_key(k)));
        assert!(vol.join("x").exists());
        // The tmpfs left nothing in the rootfs.
        assert_eq!(fs::read_dir(rootfs.join("newtmp")).unwrap().count(), 0);
        fs::remove_dir_all(&rootfs).unwrap();
    });
}

#[test]
fn a_tmpfs_is_the_containers_alone() {
    each(|f, who| {
        let rootfs = f.own_rootfs(who, "tmpfs");
        fs::create_dir_all(rootfs.join("data")).unwrap();
        write_as(who, &rootfs.join("data/under"), "hidden\n");
        fs::set_permissions(rootfs.join("data"), fs::Permissions::from_mode(0o755)).unwrap();
        let mounts = host_mounts();
        let r = run(
            f.nslaunch_on(
                who,
                &rootfs,
                &[
                    "--tmpfs",
                    "/data:mode=1777",
                    "sh",
                    "-c",
                    "ls -A /data; stat -c %a /data; echo new > /data/f",
                ],
            ),
            None,
        );
        assert_eq!(r.code(), 0, "{r:?}");
        assert_eq!(lines(&r.stdout), ["1777"], "{r:?}");
        assert_eq!(host_mounts(), mounts);
        assert_eq!(
            fs::read_dir(rootfs.join("data")).unwrap().count(),
            1,
            "the tmpfs's file reached the rootfs"
        );
        fs::remove_dir_all(&rootfs).unwrap();
    });
}
