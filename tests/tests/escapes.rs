//! The known ways out of a container, attacked for real: descriptors and
//! a working directory leaked from the caller (runc CVE-2024-21626), the
//! host's binaries overwritten through /proc/1/exe (runc CVE-2019-5736),
//! mount targets swapped for symlinks while containers start (runc
//! CVE-2021-30465), the article's /proc/1/root path, and a launcher killed
//! with SIGKILL, each with many option combinations. Every scenario runs
//! as root and as an unprivileged user.

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use nslaunch_tests::*;

/// A host directory with a file `marker` holding `HOST-SECRET`.
fn secret_dir(f: &Fixture, who: &Who, name: &str) -> std::path::PathBuf {
    let d = f.dir(who, name);
    write_as(who, &d.join("marker"), "HOST-SECRET\n");
    d
}

/// `cmd` with the directory `dir` open on descriptors 3 to 10, without
/// close-on-exec, and `dir` as its working directory: what a careless
/// caller hands nslaunch.
fn with_leaked_fds(mut cmd: Command, dir: &Path) -> Command {
    let file = fs::File::open(dir).unwrap();
    cmd.current_dir(dir);
    // SAFETY: between fork and exec only fcntl and dup2, which are
    // async-signal-safe; `file` outlives the spawn (moved into the closure).
    unsafe {
        cmd.pre_exec(move || {
            let high = libc::fcntl(file.as_raw_fd(), libc::F_DUPFD, 100);
            if high < 0 {
                return Err(std::io::Error::last_os_error());
            }
            for fd in 3..=10 {
                if libc::dup2(high, fd) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            libc::close(high);
            Ok(())
        });
    }
    cmd
}

/// What a container process tries with descriptors and directories it
/// may have been given; each line it prints is a way out that worked.
const USE_LEAKS: &str = r#"
    for n in 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do
        cat /proc/self/fd/$n/marker 2>/dev/null && echo "LEAK via /proc/self/fd/$n"
        cat /proc/1/fd/$n/marker 2>/dev/null && echo "LEAK via /proc/1/fd/$n"
        cat /proc/1/fd/$n/../marker 2>/dev/null && echo "LEAK via /proc/1/fd/$n/.."
    done
    for p in /proc/self/cwd /proc/1/cwd /proc/self/root /proc/1/root /proc/2/cwd; do
        cat $p/marker 2>/dev/null && echo "LEAK via $p"
        cat $p/../marker 2>/dev/null && echo "LEAK via $p/.."
    done
    cat /proc/1/fd/*/marker /proc/1/fd/*/../marker 2>/dev/null && echo "LEAK via a glob"
    for n in $(ls /proc/$$/fd); do [ -d /proc/$$/fd/$n ] && echo "DIR on fd $n"; done
    echo "pwd=$(pwd)"
"#;

#[test]
fn the_callers_descriptors_and_directory_never_reach_the_container() {
    each(|f, who| {
        let host = secret_dir(f, who, "leak");
        for mode in userns_modes(who) {
            for extra in [&[][..], &["--unshare-all", "--cap-add", "SYS_ADMIN"][..]] {
                let mut args = with_userns(mode, extra);
                args.extend(["sh", "-c", USE_LEAKS]);
                let r = run(with_leaked_fds(f.nslaunch(who, &args), &host), None);
                let ctx = format!("--userns {mode:?} {extra:?}: {r:?}");
                assert_eq!(r.code(), 0, "{ctx}");
                assert!(!r.stdout.contains("HOST-SECRET"), "{ctx}");
                assert!(!r.stdout.contains("LEAK"), "{ctx}");
                assert_eq!(lines(&r.stdout), ["pwd=/"], "{ctx}");
            }
        }
        // A working directory named through a descriptor gets nowhere:
        // nsinit holds none of the caller's.
        for dir in [
            "/proc/self/fd/3",
            "/proc/self/fd/7",
            "/proc/1/fd/7",
            "/proc/1/cwd",
        ] {
            let r = run(
                with_leaked_fds(
                    f.nslaunch(who, &["-w", dir, "sh", "-c", "cat marker; pwd"]),
                    &host,
                ),
                None,
            );
            assert!(!r.stdout.contains("HOST-SECRET"), "-w {dir}: {r:?}");
            if r.code() == 0 {
                assert_eq!(r.stdout, "/\n", "-w {dir}: {r:?}");
            } else {
                assert_eq!(r.code(), 125, "-w {dir}: {r:?}");
                assert_eq!(lines(&r.stderr).len(), 1, "-w {dir}: {r:?}");
            }
        }
    });
}

#[test]
fn nsinit_holds_no_host_directory_and_keeps_only_kill() {
    each(|f, who| {
        let host = secret_dir(f, who, "leak-init");
        for extra in [&[][..], &["--unshare-all", "-v", "/etc:/hostetc:ro"][..]] {
            let mut args = extra.to_vec();
            args.extend(["sh", "-c", "echo ready; exec sleep 100"]);
            let mut c = Running::start(with_leaked_fds(f.nslaunch(who, &args), &host));
            c.wait_line("ready");
            let init = *children_of(c.pid()).first().expect("nslaunch has no child");
            // The command (sleep, which opens nothing) has 0, 1 and 2.
            let cmd = *children_of(init).first().expect("nsinit has no child");
            let sleep = children_of(cmd).first().copied().unwrap_or(cmd);
            assert_eq!(
                fd_numbers(sleep),
                [0, 1, 2],
                "{extra:?}: the command's descriptors"
            );
            let mut dirs = Vec::new();
            for e in fs::read_dir(format!("/proc/{init}/fd")).unwrap().flatten() {
                if fs::metadata(e.path()).is_ok_and(|m| m.is_dir()) {
                    dirs.push(fs::read_link(e.path()).unwrap());
                }
            }
            assert!(
                dirs.is_empty(),
                "{extra:?}: nsinit holds directories {dirs:?}"
            );
            let cwd = fs::read_link(format!("/proc/{init}/cwd")).unwrap();
            assert_ne!(cwd, host, "{extra:?}: nsinit's cwd is the caller's");
            let status = fs::read_to_string(format!("/proc/{init}/status")).unwrap();
            let cap = |key: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(key))
                    .unwrap()
                    .trim()
                    .to_string()
            };
            // CAP_KILL alone, to stop every process in the container.
            assert_eq!(cap("CapEff:"), "0000000000000020", "{extra:?}");
            assert_eq!(cap("CapPrm:"), "0000000000000020", "{extra:?}");
            c.signal(libc::SIGTERM);
            let (st, _) = c.finish();
            assert_eq!(st.code(), Some(143));
        }
    });
}

/// The open descriptor numbers of `pid`, ascending.
fn fd_numbers(pid: i32) -> Vec<i32> {
    let mut v: Vec<i32> = fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    v.sort();
    v
}

#[test]
fn preserve_fds_passes_exactly_the_first_n() {
    each(|f, who| {
        let host = secret_dir(f, who, "preserve");
        let r = run(
            with_leaked_fds(
                f.nslaunch(who, &["--preserve-fds", "2", "sh", "-c", USE_LEAKS]),
                &host,
            ),
            None,
        );
        assert_eq!(r.code(), 0, "{r:?}");
        // fds 3 and 4 are the caller's directory, passed on purpose (that
        // is what --preserve-fds gives up); 5 to 10 never arrive, and
        // nsinit keeps no copy of any.
        let l = lines(&r.stdout);
        let leaks: Vec<&str> = l
            .iter()
            .copied()
            .filter(|x| x.starts_with("LEAK"))
            .collect();
        assert_eq!(
            leaks,
            ["LEAK via /proc/self/fd/3", "LEAK via /proc/self/fd/4"],
            "{r:?}"
        );
        let dirs: Vec<&str> = l.iter().copied().filter(|x| x.starts_with("DIR")).collect();
        assert_eq!(dirs, ["DIR on fd 3", "DIR on fd 4"], "{r:?}");
        assert!(l.contains(&"pwd=/"), "{r:?}");
        // Seen from the host: the command has 0 to 4, nsinit none of 3, 4.
        let mut c = Running::start(with_leaked_fds(
            f.nslaunch(
                who,
                &[
                    "--preserve-fds",
                    "2",
                    "sh",
                    "-c",
                    "echo ready; exec sleep 100",
                ],
            ),
            &host,
        ));
        c.wait_line("ready");
        let init = *children_of(c.pid()).first().expect("nslaunch has no child");
        let cmd = *children_of(init).first().expect("nsinit has no child");
        assert_eq!(fd_numbers(cmd), [0, 1, 2, 3, 4]);
        let own = fd_numbers(init);
        assert!(
            !own.contains(&3) && !own.contains(&4),
            "nsinit keeps {own:?}"
        );
        c.signal(libc::SIGTERM);
        assert_eq!(c.finish().0.code(), Some(143));
    });
}

/// Tries to write the binaries that run the container (given as
/// arguments) through every path to them a container process has; each
/// line printed is a write that worked.
const WRITE_BINARIES: &str = r#"
    echo x >> /proc/1/exe 2>/dev/null && echo WROTE-EXE
    (exec 3<>/proc/1/exe) 2>/dev/null && echo OPENED-EXE-RW
    (exec 3</proc/1/exe && echo x >> /proc/self/fd/3) 2>/dev/null && echo WROTE-EXE-REOPENED
    for m in /proc/1/map_files/*; do echo x >> "$m" && echo "WROTE $m"; done 2>/dev/null
    for p in "$@"; do
        [ -e "$p" ] || continue
        echo x >> "$p" 2>/dev/null && echo "WROTE $p"
        (exec 3<>"$p") 2>/dev/null && echo "OPENED-RW $p"
    done
    echo end
"#;

#[test]
fn the_hosts_binaries_cannot_be_overwritten_from_inside() {
    let Some(f) = fixture() else { return };
    let (nsinit, nslaunch) = (
        f.nsinit.display().to_string(),
        f.nslaunch.display().to_string(),
    );
    let originals = (fs::read(&f.nsinit).unwrap(), fs::read(&f.nslaunch).unwrap());
    each(|f, who| {
        for mode in userns_modes(who) {
            for extra in [
                &[][..],
                &["--cap-add", "SYS_PTRACE"][..],
                &["--cap-add", "ALL"][..],
                // The host itself as the rootfs: the binaries' own paths
                // are inside.
                &["--rootfs", "/"][..],
                // nsinit exec'd as PID 1 instead of run in place.
                &["--init", &nsinit][..],
                &["--init", &nsinit, "--cap-add", "ALL"][..],
                &["--init", &nsinit, "--rootfs", "/"][..],
            ] {
                let mut args = with_userns(mode, extra);
                // The binaries that run the container: nslaunch's image
                // is PID 1's (nsinit's code run in place), and nsinit's
                // file is one only with --init. (With --rootfs / every
                // host file its owner could write is writable inside, as
                // with `bwrap --bind / /`: a file no container process
                // runs is no runtime binary to protect.)
                let exec_init = extra.contains(&"--init");
                args.extend(["sh", "-c", WRITE_BINARIES, "sh", &nslaunch]);
                if exec_init {
                    args.push(&nsinit);
                }
                let cmd = if extra.contains(&"--rootfs") {
                    f.nslaunch_raw(who, &args)
                } else {
                    f.nslaunch(who, &args)
                };
                let r = run(cmd, None);
                let ctx = format!("--userns {mode:?} {extra:?}: {r:?}");
                assert_eq!(r.code(), 0, "{ctx}");
                assert_eq!(lines(&r.stdout), ["end"], "{ctx}");
                assert!(
                    fs::read(&f.nsinit).unwrap() == originals.0,
                    "nsinit changed: {ctx}"
                );
                assert!(
                    fs::read(&f.nslaunch).unwrap() == originals.1,
                    "nslaunch changed: {ctx}"
                );
            }
        }
    });
}

/// Reads PID 1's private parts; each line printed is one that worked.
const READ_PID1: &str = r#"
    # Listing the names is up to the directory's owner (host root's uid:
    # container root under --userns root as real root); the links are not.
    for fd in /proc/1/fd/*; do readlink "$fd"; done 2>/dev/null | grep -q . && echo READ-FD
    cat /proc/1/environ >/dev/null 2>&1 && echo READ-ENVIRON
    readlink /proc/1/exe >/dev/null 2>&1 && echo READ-EXE
    readlink /proc/1/cwd >/dev/null 2>&1 && echo READ-CWD
    dd if=/proc/1/mem bs=1 count=1 skip=4096 >/dev/null 2>&1 && echo READ-MEM
    grep -q . /proc/1/maps 2>/dev/null && echo READ-MAPS
    echo "comm=$(cat /proc/1/comm)"
    echo end
"#;

/// PID 1 runs nslaunch's image (nsinit's code, no exec): its memory holds
/// the caller's paths and environment. Undumpable, and made in the
/// caller's user namespace, it is out of reach of every container
/// process, even one given CAP_SYS_PTRACE (which would be enough against
/// an exec'd nsinit, whose memory is the container namespace's).
#[test]
fn pid1s_memory_and_descriptors_are_out_of_reach_even_with_cap_sys_ptrace() {
    each(|f, who| {
        // --userns host: no user namespace between the two, so there a
        // command with CAP_SYS_PTRACE may (as with any runtime).
        for mode in userns_modes(who).into_iter().filter(|m| *m != "host") {
            for extra in [
                &[][..],
                &["--cap-add", "SYS_PTRACE"][..],
                &["--cap-add", "ALL"][..],
            ] {
                let mut args = with_userns(mode, extra);
                args.extend(["sh", "-c", READ_PID1]);
                let r = run(f.nslaunch(who, &args), None);
                let ctx = format!("--userns {mode:?} {extra:?}: {r:?}");
                assert_eq!(r.code(), 0, "{ctx}");
                assert_eq!(lines(&r.stdout), ["comm=nsinit", "end"], "{ctx}");
            }
        }
    });
}

/// With `--userns host` no user namespace stands between the command and
/// PID 1, so nslaunch execs nsinit there: a command given CAP_SYS_PTRACE
/// may read PID 1 (as under any runtime), but finds nsinit's own memory,
/// not nslaunch's with the caller's environment. Elsewhere PID 1 runs in
/// place and its environment strings are zeroed too.
#[test]
fn pid1_never_holds_the_callers_environment_where_the_command_can_read_it() {
    const MARKER: &str = "caller-secret-5f3a";
    // The pattern is written so that the script (in PID 1's command line)
    // does not hold the marker itself.
    let pattern = format!(
        "{}[{}]",
        &MARKER[..MARKER.len() - 1],
        &MARKER[MARKER.len() - 1..]
    );
    let probe = format!(
        "(tr '\\0' '\\n' < /proc/1/environ) 2>/dev/null | grep -c '{pattern}'; \
         grep -c '{pattern}' /proc/1/cmdline; echo end"
    );
    each(|f, who| {
        for mode in userns_modes(who) {
            let mut args = with_userns(mode, &["--cap-add", "SYS_PTRACE"]);
            args.extend(["sh", "-c", &probe]);
            let mut c = f.nslaunch(who, &args);
            c.env("NSLAUNCH_TEST_CALLER_SECRET", MARKER);
            let r = run(c, None);
            let ctx = format!("--userns {mode:?}: {r:?}");
            assert_eq!(r.code(), 0, "{ctx}");
            assert_eq!(lines(&r.stdout), ["0", "0", "end"], "{ctx}");
        }
    });
}

/// PID 1's command line is `nsinit -- CMD ARGS...` and nothing more: not
/// even its length tells how long nslaunch's own command line was.
#[test]
fn pid_1s_command_line_does_not_tell_the_length_of_nslaunchs() {
    let pad = "x".repeat(4000);
    let pad_env = format!("PAD={pad}");
    let script = "wc -c < /proc/1/cmdline";
    let want = format!("nsinit -- sh -c {script}").len() + 1;
    each(|f, who| {
        for extra in [&["-e", pad_env.as_str()][..], &[][..]] {
            let mut args = extra.to_vec();
            args.extend(["sh", "-c", script]);
            let r = run(f.nslaunch(who, &args), None);
            assert_eq!(r.code(), 0, "{r:?}");
            assert_eq!(lines(&r.stdout), [want.to_string().as_str()], "{r:?}");
        }
    });
}

#[test]
fn a_mount_target_swapped_for_a_symlink_while_containers_start_never_lands_on_the_host() {
    const LAUNCHES: usize = 200;
    each(|f, who| {
        let rootfs = f.own_rootfs(who, "race");
        let decoy = secret_dir(f, who, "race-decoy");
        let decoy_before = snapshot(&decoy);
        let src = f.dir(who, "race-src");
        // Writable by container root under real root's default too, where
        // it is the unprivileged block on a volume, not root.
        fs::set_permissions(&src, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
        let d = decoy.display().to_string();
        // Each swapped pair: a real directory (with "in" below it) and a
        // symlink to the decoy, absolute or climbing with "..".
        let climb = format!("../../../../../../../../..{d}");
        for (name, link) in [("vol", d.as_str()), ("tmpd", climb.as_str())] {
            let dir = rootfs.join(name);
            fs::create_dir_all(dir.join("in")).unwrap();
            for p in [dir.clone(), dir.join("in")] {
                nix::unistd::chown(
                    &p,
                    Some(nix::unistd::Uid::from_raw(who.uid())),
                    Some(nix::unistd::Gid::from_raw(who.gid())),
                )
                .unwrap();
            }
            std::os::unix::fs::symlink(link, rootfs.join(format!("{name}.alt"))).unwrap();
        }
        let mounts_before = host_mounts();
        let stop = Arc::new(AtomicBool::new(false));
        let swapper = {
            let stop = stop.clone();
            let root = fs::File::open(&rootfs).unwrap();
            std::thread::spawn(move || {
                let mut swaps = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for name in ["vol", "tmpd"] {
                        let alt = format!("{name}.alt");
                        nix::fcntl::renameat2(
                            &root,
                            name,
                            &root,
                            alt.as_str(),
                            nix::fcntl::RenameFlags::RENAME_EXCHANGE,
                        )
                        .unwrap();
                        swaps += 1;
                    }
                }
                swaps
            })
        };
        let v = format!("{}:/vol/in", src.display());
        let (mut ok, mut refused) = (0, 0);
        for i in 0..LAUNCHES {
            // The command writes through both mounts. While the host keeps
            // swapping, the path may lead nowhere when it runs (that write
            // fails); it must never lead anywhere but the mounts.
            let script = format!("echo {i} > /vol/in/w{i}; echo {i} > /tmpd/in/t{i}; true");
            let r = run(
                f.nslaunch_on(
                    who,
                    &rootfs,
                    &["-v", &v, "--tmpfs", "/tmpd/in", "sh", "-c", &script],
                ),
                None,
            );
            match r.code() {
                0 => ok += 1,
                // The swap made a target a symlink to nothing inside the
                // rootfs: refused, with one line.
                125 => {
                    assert_eq!(lines(&r.stderr).len(), 1, "{r:?}");
                    refused += 1;
                }
                _ => panic!("launch {i}: {r:?}"),
            }
        }
        stop.store(true, Ordering::Relaxed);
        let swaps = swapper.join().unwrap();
        eprintln!("{LAUNCHES} launches, {swaps} swaps: {ok} ran, {refused} refused");
        assert!(swaps > LAUNCHES as u64, "the swapper barely ran");
        assert!(ok > 0, "no launch succeeded");
        assert_eq!(snapshot(&decoy), decoy_before, "the decoy changed");
        assert_eq!(host_mounts(), mounts_before, "a mount was left on the host");
        // Every write that worked went through the mounts: into the
        // volume's source, or into the tmpfs (gone). None reached the
        // directories under the mount points: no mount went elsewhere.
        let written = fs::read_dir(&src).unwrap().count();
        assert!(written > 0, "nothing was written through the volume");
        for name in ["vol", "vol.alt", "tmpd", "tmpd.alt"] {
            let under = rootfs.join(name).join("in");
            if fs::symlink_metadata(rootfs.join(name)).is_ok_and(|m| m.is_dir()) {
                let left: Vec<_> = fs::read_dir(&under)
                    .unwrap()
                    .flatten()
                    .map(|e| e.path())
                    .collect();
                assert!(left.is_empty(), "written beside a mount: {left:?}");
            }
        }
        fs::remove_dir_all(&rootfs).unwrap();
    });
}

#[test]
fn the_articles_proc_root_escape_stays_closed_with_every_option_combination() {
    each(|f, who| {
        let secret = secret_dir(f, who, "proc-root");
        let marker = secret.join("marker").display().to_string();
        let rootfs = f.rootfs(who).display().to_string();
        let vol = f.dir(who, "proc-root-vol");
        let v = format!("{}:/vol", vol.display());
        let script = format!(
            r#"ls /proc/1/root{rootfs}/.. >/dev/null 2>&1 && echo "ARTICLE ESCAPE"
               for p in "{marker}" "/proc/1/root{marker}" "/proc/self/root{marker}" \
                        "/proc/1/cwd{marker}" "/proc/1/root{rootfs}/../../{marker}" "/../../..{marker}"; do
                   cat "$p" 2>/dev/null && echo "LEAK via $p"
               done
               echo "procs=$(ls /proc | grep -c '^[0-9]')""#
        );
        let sets: Vec<Vec<&str>> = vec![
            vec![],
            vec!["--unshare-all"],
            vec!["--read-only"],
            vec!["-v", &v],
            vec!["--cap-add", "ALL"],
            vec![
                "--unshare-all",
                "--read-only",
                "-v",
                &v,
                "--tmpfs",
                "/run",
                "--cap-add",
                "SYS_ADMIN",
                "--no-new-privileges",
            ],
        ];
        for mode in userns_modes(who) {
            for set in &sets {
                let mut args = with_userns(mode, set);
                args.extend(["sh", "-c", &script]);
                let r = run(f.nslaunch(who, &args), None);
                let ctx = format!("--userns {mode:?} {set:?}: {r:?}");
                assert_eq!(r.code(), 0, "{ctx}");
                assert!(!r.stdout.contains("HOST-SECRET"), "{ctx}");
                assert!(!r.stdout.contains("LEAK"), "{ctx}");
                assert!(!r.stdout.contains("ESCAPE"), "{ctx}");
                let procs: u32 = r
                    .stdout
                    .trim()
                    .strip_prefix("procs=")
                    .unwrap()
                    .parse()
                    .unwrap();
                // nsinit, sh, and ls's pipeline.
                assert!(procs <= 5, "host processes visible: {ctx}");
            }
        }
    });
}

#[test]
fn sigkill_to_nslaunch_ends_every_container_process_with_every_option() {
    each(|f, who| {
        let vol = f.dir(who, "sigkill-vol");
        let v = format!("{}:/vol", vol.display());
        let mut sets: Vec<Vec<&str>> = vec![
            vec![],
            vec!["--unshare-all"],
            vec!["--cap-add", "SYS_ADMIN"],
            vec![
                "--read-only",
                "--tmpfs",
                "/run",
                "-v",
                &v,
                "--no-new-privileges",
            ],
            vec!["--userns", "keep-id"],
        ];
        // Another init as PID 1, running as another user: the change of
        // ids must not cost it its parent-death signal.
        // (A user's default maps only root: subids gives uid 1000 too.)
        let nsinit = f.nsinit.display().to_string();
        let ids: &[&str] = if who.is_root() {
            &[]
        } else {
            &["--userns", "subids"]
        };
        sets.push([ids, &["--init", &nsinit, "--user", "1000:1000"]].concat());
        let tini = "/usr/bin/tini-static";
        if std::path::Path::new(tini).exists() {
            sets.push([ids, &["--init", tini, "--user", "1000"]].concat());
        } else {
            nslaunch_tests::skip("no /usr/bin/tini-static (Debian: tini) for --init with tini");
        }
        if who.is_root() {
            sets.push(vec!["--userns", "host", "--unshare-all"]);
            sets.push(vec!["--userns", "root", "--cap-add", "ALL"]);
        }
        for set in &sets {
            let mut args = set.clone();
            args.extend([
                "sh",
                "-c",
                "sleep 1000 & sleep 1000 & (sleep 1000 &); echo ready; wait",
            ]);
            let mut c = Running::start(f.nslaunch(who, &args));
            c.wait_line("ready");
            // nsinit, sh and the three sleeps.
            sigkill_leaves_nothing(c, 5, &format!("{set:?}"));
        }
    });
}

#[test]
fn the_commands_environment_never_configures_its_init() {
    each(|f, who| {
        // Every NSINIT_* variable, each set so that nsinit would behave
        // differently (or refuse to start) if it read it: the command gets
        // them all, nsinit none.
        let vars = [
            "NSINIT_GRACE=abc",
            "NSINIT_PDEATHSIG=WINCH",
            "NSINIT_PROCESS_GROUP=maybe",
            "NSINIT_REWRITE=EXIT:0",
            "NSINIT_SUBREAPER=1",
            "NSINIT_SUCCESS_STATUS=3",
            "NSINIT_VERBOSE=1",
            "NSINIT_WARN_ORPHANS=1",
        ];
        let mut args: Vec<&str> = vars.iter().flat_map(|v| ["-e", *v]).collect();
        args.extend(["sh", "-c", "env | grep ^NSINIT_ | sort; exit 3"]);
        let r = run(f.nslaunch(who, &args), None);
        assert_eq!(r.code(), 3, "{r:?}");
        assert_eq!(lines(&r.stdout), vars, "{r:?}");
        assert!(r.stderr.is_empty(), "nsinit said something: {r:?}");

        // The parent-death signal stays SIGKILL: nothing outlives nslaunch.
        let mut c = Running::start(f.nslaunch(
            who,
            &[
                "-e",
                "NSINIT_PDEATHSIG=WINCH",
                "sh",
                "-c",
                "sleep 1000 & echo ready; wait",
            ],
        ));
        c.wait_line("ready");
        sigkill_leaves_nothing(c, 3, "-e NSINIT_PDEATHSIG=WINCH");
    });
}

#[test]
fn leaked_directory_fds_are_really_open_in_the_wrapper() {
    // The check that the attack above is real: without nslaunch in
    // between, the same wrapper does reach the host directory.
    each(|f, who| {
        let host = secret_dir(f, who, "leak-self-check");
        let mut c = Command::new("/bin/sh");
        c.args(["-c", "cat /proc/self/fd/7/marker; pwd"]);
        let r = run(with_leaked_fds(as_who(who, &mut c), &host), None);
        assert_eq!(r.code(), 0, "{r:?}");
        assert_eq!(
            lines(&r.stdout),
            ["HOST-SECRET", host.display().to_string().as_str()]
        );
    });
}

#[test]
fn pid_1_shows_only_the_command_and_no_host_path() {
    // nsinit is told the container's setup on its command line (the
    // rootfs's host path among it); what the container's ps shows as PID 1
    // is `nsinit -- CMD...`.
    each(|f, who| {
        let r = run(
            f.nslaunch(
                who,
                &[
                    "-v",
                    "/tmp:/hostsnap",
                    "sh",
                    "-c",
                    "tr '\\0' ' ' < /proc/1/cmdline; echo; ps -o args | sed -n 2p",
                ],
            ),
            None,
        );
        assert_eq!(r.code(), 0, "{r:?}");
        let l = lines(&r.stdout);
        assert_eq!(
            l.first().copied(),
            Some("nsinit -- sh -c tr '\\0' ' ' < /proc/1/cmdline; echo; ps -o args | sed -n 2p"),
            "{r:?}"
        );
        assert!(
            l.get(1).is_some_and(|p| p.starts_with("nsinit -- sh -c")),
            "{r:?}"
        );
        let rootfs = f.rootfs(who).display().to_string();
        for leak in [
            rootfs.as_str(),
            "--report-fd",
            "--caps",
            "--tree",
            "/tmp:/hostsnap",
        ] {
            assert!(!r.stdout.contains(leak), "PID 1 shows {leak:?}: {r:?}");
        }
    });
}
