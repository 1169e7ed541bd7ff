//! `--dry-run`: what nslaunch would do, printed as a shell script made of
//! the article's own commands (`unshare`, `mount --bind`, `pivot_root`,
//! `mount -t proc` ...), the id maps, and the exact nsinit command line.
//! Nothing is run, created or unpacked. The script is meant to be read;
//! run by root with util-linux's `unshare`, it builds the same container
//! as far as shell tools can (what they cannot do is said in comments).

use shared::idmap::{self, IdRange};
use shared::plan::{self, quote, Overlay, RootOptions, SetupOp};
use shared::spec::InitArgs;
use shared::volume::Volume;

use crate::isolation::Isolation;
use crate::tty::Mode;
use crate::userns::Plan;

/// Where the rootfs comes from.
pub enum Rootfs {
    Dir(String),
    /// A tarball, and the cache directory nslaunch would unpack it under.
    Archive {
        file: String,
        cache: String,
    },
}

/// Everything the script shows, gathered by `main::launch` after every
/// check and before anything is made.
pub struct Input<'a> {
    pub invocation: Vec<String>,
    pub rootfs: Rootfs,
    pub ids: Option<&'a Plan>,
    pub caller_root: bool,
    pub iso: &'a Isolation,
    pub hostname_uts: bool,
    pub volumes: &'a [Volume],
    pub overlay: Option<Overlay>,
    pub read_only: bool,
    pub workdir: Option<&'a str>,
    pub user: Option<&'a str>,
    pub hostname: Option<&'a str>,
    pub tty: Mode,
    pub env: &'a [(String, String)],
    pub spec: &'a InitArgs,
}

/// A fd number stands for a detached idmapped tree in the plan.
const TREE_PLACEHOLDER: i32 = -1;

/// The plan nsinit would follow for this input (same function it uses).
/// `root_alone`: the script maps only root (see [`unshare_options`]), so
/// the tty group (5) is not mapped there, whatever nslaunch would map.
pub fn container_plan(input: &Input, root_alone: bool) -> Vec<SetupOp> {
    let idmapped = input.ids.is_some_and(|p| p.idmapped);
    let tree = idmapped.then_some(TREE_PLACEHOLDER);
    let tty_gid = match input.ids {
        Some(_) if root_alone => None,
        Some(p) => idmap::maps_inside(&p.gid_map, 5).then_some(5),
        None => Some(5),
    };
    plan::container_root(&RootOptions {
        tty_gid,
        rootfs_tree: tree,
        // Only an idmapped volume is worth a comment: a plain clone is
        // `mount --rbind` (nslaunch clones it, as root, for nsinit).
        volumes: input
            .volumes
            .iter()
            .map(|v| {
                let t = crate::idmapped::volume_tree(idmapped, v);
                (
                    v.clone(),
                    (t == crate::idmapped::Tree::Idmapped).then_some(TREE_PLACEHOLDER),
                )
            })
            .collect(),
        overlay: input.overlay.clone(),
        tmpfs: input.iso.tmpfs.clone(),
        read_only: input.read_only,
        workdir: input.workdir.map(str::to_string),
    })
}

fn map_text(map: &[IdRange]) -> String {
    map.iter()
        .map(|r| format!("{} {} {}", r.inside, r.outside, r.count))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `unshare`'s options for the namespaces and maps, and what it cannot
/// express (as comment lines); when there is any, the script maps root
/// alone.
fn unshare_options(input: &Input) -> (Vec<String>, Vec<String>) {
    let mut opts = Vec::new();
    let mut notes = Vec::new();
    if let Some(plan) = input.ids {
        let single = |m: &[IdRange]| m.len() == 1;
        let root_only = |m: &[IdRange], own: u32| m == [idmap::root_is(own)];
        let (uid, gid) = (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        );
        if !input.caller_root && root_only(&plan.uid_map, uid) && root_only(&plan.gid_map, gid) {
            // The article's own form.
            opts.push("--map-root-user".to_string());
        } else if !input.caller_root && single(&plan.uid_map) && single(&plan.gid_map) {
            // unshare installs these through newuidmap/newgidmap.
            let (u, g) = (plan.uid_map[0], plan.gid_map[0]);
            opts.push(format!(
                "--map-users={},{},{}",
                u.outside, u.inside, u.count
            ));
            opts.push(format!(
                "--map-groups={},{},{}",
                g.outside, g.inside, g.count
            ));
        } else {
            // Root's maps, or more than one range: unshare(1) goes through
            // newuidmap, which wants /etc/subuid lines root may not have,
            // and takes one range per map. Root writes them itself.
            opts.push("--map-root-user".to_string());
            notes.push(format!(
                "nslaunch installs uid_map \"{}\" and gid_map \"{}\"; this script maps \
                 you to root alone (unshare --map-root-user), the nearest unshare(1) can do",
                map_text(&plan.uid_map),
                map_text(&plan.gid_map)
            ));
        }
    }
    opts.push("--mount".into());
    opts.push("--pid".into());
    let ns = input.iso.namespaces;
    for (flag, opt) in [
        (libc::CLONE_NEWUTS, "--uts"),
        (libc::CLONE_NEWIPC, "--ipc"),
        (libc::CLONE_NEWNET, "--net"),
        (libc::CLONE_NEWCGROUP, "--cgroup"),
    ] {
        if ns & flag != 0 || (flag == libc::CLONE_NEWUTS && input.hostname_uts) {
            opts.push(opt.into());
        }
    }
    if input.iso.time {
        opts.push("--time".into());
    }
    // --fork, as the article found it needs; --kill-child is nslaunch's
    // parent-death signal.
    opts.push("--fork".into());
    opts.push("--kill-child".into());
    (opts, notes)
}

/// The script.
pub fn script(input: &Input) -> String {
    let mut out = String::new();
    let mut line = |s: &str| {
        out.push_str(s);
        out.push('\n');
    };
    line("#!/bin/sh");
    line(&format!(
        "# nslaunch --dry-run: what `{}` would do.",
        input
            .invocation
            .iter()
            .filter(|a| a.as_str() != "--dry-run")
            .map(|a| quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    ));
    line("# Nothing was run. Each step is the shell command that does the same");
    line("# (as in the article); run by root, `sh` on this script builds the same");
    line("# container as far as shell tools can (the comments say where not).");
    line("set -e");
    let rootfs_word = match &input.rootfs {
        Rootfs::Dir(dir) => quote(dir),
        Rootfs::Archive { file, cache } => {
            line("");
            line("# The rootfs is a tarball: nslaunch unpacks it once (safely, see the");
            line("# README) into its cache, keyed by the archive's SHA-256, and runs it");
            line("# on an overlay. As a script:");
            line(&format!(
                "export ROOTFS={}/rootfs/$(sha256sum < {} | cut -d' ' -f1)/root",
                quote(cache),
                quote(file)
            ));
            line(&format!(
                "[ -d \"$ROOTFS\" ] || {{ mkdir -p \"$ROOTFS\" && tar -xf {} -C \"$ROOTFS\"; }}",
                quote(file)
            ));
            "\"$ROOTFS\"".to_string()
        }
    };

    let (opts, notes) = unshare_options(input);
    line("");
    line("# 1. New namespaces: user, mount and PID (the article's unshare).");
    match input.ids {
        Some(p) => {
            line(&format!(
                "#    uid_map: {}   gid_map: {}",
                map_text(&p.uid_map),
                map_text(&p.gid_map)
            ));
            if p.idmapped {
                line("#    (--userns auto: the rootfs is an idmapped mount through these maps;");
                line("#    volumes are plain binds, where container root is the block's first id)");
            }
        }
        None => line("#    no user namespace (--userns host): container root is host root"),
    }
    for n in &notes {
        line(&format!("#    {n}"));
    }
    line(&format!("unshare {} sh -e <<'NSLAUNCH'", opts.join(" ")));
    line("# 2. Inside, what nsinit does as PID 1 before the command:");
    if input.iso.net {
        line("ip link set lo up  # nsinit: SIOCSIFFLAGS on lo");
    }
    if let Some(name) = input.hostname {
        line(&format!("hostname {}", quote(name)));
    }
    let root_alone = !notes.is_empty() || opts.iter().any(|o| o == "--map-root-user");
    for op in container_plan(input, root_alone) {
        line(&op.shell(&rootfs_word));
    }
    line("# 3. The command, as nsinit's child, with nslaunch's clean environment:");
    if let Some(dir) = input.workdir {
        line(&format!("mkdir -p {} && cd {}", quote(dir), quote(dir)));
    }
    let user_note = match input.user {
        Some(u) => format!(
            "# nsinit runs it as {} (from the container's /etc/passwd and /etc/group: \
             setgroups, setgid, setuid)",
            quote(u)
        ),
        None => "# nsinit runs it as container root".to_string(),
    };
    line(&user_note);
    line(&format!(
        "# with only these capabilities: {}{}",
        input.iso.caps,
        if input.spec.no_new_privileges {
            ", and no_new_privs"
        } else {
            ""
        }
    ));
    if input.tty.pty {
        line(
            "# on a terminal of its own (/dev/pts/0 of the container's devpts; nslaunch relays it)",
        );
    }
    let env: Vec<String> = input
        .env
        .iter()
        .map(|(k, v)| quote(&format!("{k}={v}")))
        .collect();
    let cmd: Vec<String> = input.spec.command.iter().map(|a| quote(a)).collect();
    line("# (nsinit adds HOME from the container's /etc/passwd when it is not set)");
    line(&format!("exec env -i {} {}", env.join(" "), cmd.join(" ")));
    line("NSLAUNCH");
    line("");
    line("# nslaunch execs nsinit in the new namespaces (from a read-only mount of");
    line("# the binary, by descriptor; the numbers of its pipes vary) as:");
    let argv: Vec<String> = std::iter::once("nsinit".to_string())
        .chain(input.spec.render())
        .map(|a| quote(&a))
        .collect();
    line(&format!("#   {}", argv.join(" ")));
    out
}
