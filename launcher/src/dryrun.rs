//! `--dry-run`: what nslaunch would do, printed as a shell script made of
//! the article's own commands (`unshare`, `mount --bind`, `pivot_root`,
//! `mount -t proc` ...), the id maps, and the exact nsinit command line.
//! Nothing is run, created or unpacked. The script is meant to be read;
//! run by root with util-linux's `unshare`, it builds the same container
//! as far as shell tools can (what they cannot do is said in comments).

use shared::idmap::{self, IdRange};
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

use shared::plan::{self, quote, quote_bytes, Overlay, RootOptions, SetupOp};
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
    /// nslaunch's own argv, as given (any bytes).
    pub invocation: Vec<OsString>,
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
    /// The seccomp filter's one-line summary; `None`: unconfined.
    pub seccomp: Option<String>,
    /// What nslaunch does for the network beyond the plan (the helper's
    /// command line), as comment lines.
    pub network: Vec<String>,
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
        files: shared::netconf::files(
            &input.spec.dns,
            &input.spec.dns_search,
            &input.spec.add_host,
            &input
                .volumes
                .iter()
                .map(|v| v.dst.as_str())
                .collect::<Vec<_>>(),
        ),
        dns_best_effort: input.spec.dns_best_effort,
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

/// One word of user input for a `#` comment line: as [`quote`] gives it
/// when that is printable and one line, else in `$'...'` form (bash's,
/// ksh's, zsh's and POSIX 2024's, for a reader to paste), every control
/// byte, line or paragraph separator, bidi control and byte that is not
/// UTF-8 written as `\n`, `\t` or `\xHH`: the comment stays one line
/// whatever the word holds, and nothing in it reaches a terminal raw.
pub fn comment_word(word: &[u8]) -> String {
    let quoted = quote_bytes(word);
    match std::str::from_utf8(&quoted) {
        Ok(s) if !s.chars().any(needs_escape) => return s.to_string(),
        _ => {}
    }
    let mut out = String::from("$'");
    for chunk in word.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                '\\' => out.push_str("\\\\"),
                '\'' => out.push_str("\\'"),
                c if needs_escape(c) => {
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        out.push_str(&format!("\\x{b:02x}"));
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('\'');
    out
}

/// Characters a comment must not hold raw: controls (C0, DEL, C1), the
/// Unicode line and paragraph separators, and bidi overrides (which can
/// make a line read otherwise than it is).
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The words, each for a comment ([`comment_word`]), space-separated.
fn comment_words<'w>(words: impl IntoIterator<Item = &'w [u8]>) -> String {
    words
        .into_iter()
        .map(comment_word)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A here-document delimiter that no line of `body` is: `NSLAUNCH`, or
/// `NSLAUNCH_2`, ... (a quoted word holding a newline and then the
/// delimiter would otherwise end the here-document early, and the rest
/// would run in the outer shell).
fn delimiter(body: &[u8]) -> String {
    let taken = |d: &str| body.split(|b| *b == b'\n').any(|l| l == d.as_bytes());
    let mut d = "NSLAUNCH".to_string();
    let mut n = 1;
    while taken(&d) {
        n += 1;
        d = format!("NSLAUNCH_{n}");
    }
    d
}

/// The script, as bytes: the command and file names in it may be any
/// bytes, each quoted ([`quote_bytes`]) so that `sh` reads them back as
/// they are, and never raw in a comment ([`comment_word`]).
pub fn script(input: &Input) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::new();
    header(&mut out, input);
    let rootfs_word = rootfs_section(&mut out, &input.rootfs);
    namespaces_section(&mut out, input, &rootfs_word);
    nsinit_section(&mut out, input);
    out
}

/// One line of the script.
fn text(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
    out.push(b'\n');
}

/// The shebang, what the script is (the invocation, without
/// `--dry-run`), and the network's notes.
fn header(out: &mut Vec<u8>, input: &Input) {
    text(out, "#!/bin/sh");
    let shown = comment_words(
        input
            .invocation
            .iter()
            .filter(|a| a.as_os_str() != "--dry-run")
            .map(|a| a.as_bytes()),
    );
    text(
        out,
        &format!("# nslaunch --dry-run: what `{shown}` would do."),
    );
    text(
        out,
        "# Nothing was run. Each step is the shell command that does the same",
    );
    text(
        out,
        "# (as in the article); run by root, `sh` on this script builds the same",
    );
    text(
        out,
        "# container as far as shell tools can (the comments say where not).",
    );
    for l in &input.network {
        // Words nslaunch made from parsed values, and the helper's path:
        // no control character may end the comment.
        let safe: String = l
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect();
        text(out, &format!("# {safe}"));
    }
    text(out, "set -e");
}

/// The rootfs: a directory as it is, a tarball unpacked into the cache
/// by the script. The shell word that names it.
fn rootfs_section(out: &mut Vec<u8>, rootfs: &Rootfs) -> String {
    match rootfs {
        Rootfs::Dir(dir) => quote(dir),
        Rootfs::Archive { file, cache } => {
            text(out, "");
            text(
                out,
                "# The rootfs is a tarball: nslaunch unpacks it once (safely, see",
            );
            text(
                out,
                "# docs/ROOTFS.md) into its cache, keyed by the archive's SHA-256, and runs it",
            );
            text(out, "# on an overlay. As a script:");
            text(
                out,
                &format!(
                    "export ROOTFS={}/rootfs/$(sha256sum < {} | cut -d' ' -f1)/root",
                    quote(cache),
                    quote(file)
                ),
            );
            text(
                out,
                &format!(
                    "[ -d \"$ROOTFS\" ] || {{ mkdir -p \"$ROOTFS\" && tar -xf {} -C \"$ROOTFS\"; }}",
                    quote(file)
                ),
            );
            "\"$ROOTFS\"".to_string()
        }
    }
}

/// Step 1, the new namespaces and their id maps, as `unshare` running
/// the here-document of what happens inside ([`inside`]).
fn namespaces_section(out: &mut Vec<u8>, input: &Input, rootfs_word: &str) {
    let (opts, notes) = unshare_options(input);
    text(out, "");
    text(
        out,
        "# 1. New namespaces: user, mount and PID (the article's unshare).",
    );
    match input.ids {
        Some(p) => {
            text(
                out,
                &format!(
                    "#    uid_map: {}   gid_map: {}",
                    map_text(&p.uid_map),
                    map_text(&p.gid_map)
                ),
            );
            if p.idmapped {
                text(
                    out,
                    "#    (--userns auto: the rootfs is an idmapped mount through these maps;",
                );
                text(
                    out,
                    "#    volumes are plain binds, where container root is the block's first id)",
                );
            }
        }
        None => text(
            out,
            "#    no user namespace (--userns host): container root is host root",
        ),
    }
    for n in &notes {
        text(out, &format!("#    {n}"));
    }
    let body = inside(
        input,
        rootfs_word,
        !notes.is_empty() || opts.iter().any(|o| o == "--map-root-user"),
    );
    let end = delimiter(&body);
    text(out, &format!("unshare {} sh -e <<'{end}'", opts.join(" ")));
    out.extend_from_slice(&body);
    text(out, &end);
}

/// The exact nsinit command line nslaunch would run, as a comment.
fn nsinit_section(out: &mut Vec<u8>, input: &Input) {
    text(out, "");
    text(
        out,
        "# nslaunch runs nsinit in the new namespaces (its own child runs nsinit's",
    );
    text(
        out,
        "# code; with --init or --userns host, nsinit is exec'd from a read-only mount)",
    );
    text(out, "# on these arguments (the numbers of its pipes vary):");
    let argv = std::iter::once(b"nsinit".to_vec())
        .chain(input.spec.render().iter().map(|a| a.as_bytes().to_vec()))
        .collect::<Vec<_>>();
    text(
        out,
        &format!("#   {}", comment_words(argv.iter().map(Vec::as_slice))),
    );
}

/// The here-document: what nsinit does inside, then the command.
/// `root_alone`: the script maps root alone (see [`unshare_options`]).
fn inside(input: &Input, rootfs_word: &str, root_alone: bool) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::new();
    let mut text = |s: &str| {
        out.extend_from_slice(s.as_bytes());
        out.push(b'\n');
    };
    text("# 2. Inside, what nsinit does as PID 1 before the command:");
    if input.iso.net {
        text("ip link set lo up  # nsinit: SIOCSIFFLAGS on lo");
    }
    if let Some(name) = input.hostname {
        text(&format!("hostname {}", quote(name)));
    }
    for op in container_plan(input, root_alone) {
        text(&op.shell(rootfs_word));
    }
    text("# 3. The command, as nsinit's child, with nslaunch's clean environment:");
    if let Some(dir) = input.workdir {
        text(&format!("mkdir -p {} && cd {}", quote(dir), quote(dir)));
    }
    text(&match input.user {
        Some(u) => format!(
            "# nsinit runs it as {} (from the container's /etc/passwd and /etc/group: \
             setgroups, setgid, setuid)",
            comment_word(u.as_bytes())
        ),
        None => "# nsinit runs it as container root".to_string(),
    });
    text(&format!(
        "# with only these capabilities: {}{}",
        input.iso.caps,
        if input.spec.no_new_privileges {
            ", and no_new_privs"
        } else {
            ""
        }
    ));
    match &input.seccomp {
        Some(summary) => text(&format!(
            "# under the seccomp filter nslaunch compiles and nsinit loads for it alone: {}",
            comment_word(summary.as_bytes())
        )),
        None => text("# with no seccomp filter (--seccomp unconfined)"),
    }
    if input.tty.pty {
        text(
            "# on a terminal of its own (/dev/pts/0 of the container's devpts; nslaunch relays it)",
        );
    }
    text("# (nsinit adds HOME from the container's /etc/passwd when it is not set)");
    out.extend_from_slice(&exec_line(input));
    out.push(b'\n');
    out
}

/// `exec env -i VAR=VALUE... CMD ARGS...`, every word quoted. A command
/// whose name holds `=` would be taken by env(1) as one more variable, so
/// it is run through `sh -c 'exec "$@"'` (nsinit execs it by name).
fn exec_line(input: &Input) -> Vec<u8> {
    let mut words: Vec<Vec<u8>> = vec![b"exec".to_vec(), b"env".to_vec(), b"-i".to_vec()];
    for (k, v) in input.env {
        words.push(quote_bytes(format!("{k}={v}").as_bytes()));
    }
    let command = &input.spec.command;
    if command
        .first()
        .is_some_and(|c| c.as_bytes().contains(&b'='))
    {
        words.extend([&b"/bin/sh"[..], b"-c", b"'exec \"$@\"'", b"sh"].map(<[u8]>::to_vec));
    }
    words.extend(command.iter().map(|a| quote_bytes(a.as_bytes())));
    words.join(&b' ')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::process::Command;

    /// What `sh` makes of `words` (each already a shell word): the bytes
    /// of each argument, as printf gives them back.
    fn through_sh(words: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut script = b"for a in ".to_vec();
        script.extend_from_slice(&words.join(&b' '));
        script.extend_from_slice(b"; do printf '%s' \"$a\"; printf '\\000'; done");
        let out = Command::new("sh")
            .arg("-c")
            .arg(std::ffi::OsStr::from_bytes(&script))
            .output()
            .expect("run sh");
        assert!(out.status.success(), "{out:?}");
        let mut v: Vec<Vec<u8>> = out.stdout.split(|b| *b == 0).map(<[u8]>::to_vec).collect();
        v.pop();
        v
    }

    #[test]
    fn quoted_words_come_back_from_sh_byte_for_byte() {
        let words: Vec<&[u8]> = vec![
            b"plain/path-1.2",
            b"",
            b"two words",
            b"it's",
            b"'",
            b"A=1\n touch /tmp/x #",
            b"$(id) `id` $HOME \\ \" ; & | < > * ? [ ] ~ # !",
            b"caf\xe9 \xff\xfe",
            b"\x01\x1b[2J\r\t\x7f",
            b"x\nNSLAUNCH\ny",
        ];
        let quoted: Vec<Vec<u8>> = words.iter().map(|w| quote_bytes(w)).collect();
        let back = through_sh(&quoted);
        assert_eq!(back, words);
        assert_eq!(quote("/usr/bin"), "/usr/bin");
        assert_eq!(quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn comment_words_stay_on_one_line() {
        assert_eq!(comment_word(b"true"), "true");
        assert_eq!(comment_word(b"two words"), "'two words'");
        assert_eq!(comment_word("café".as_bytes()), "'café'");
        assert_eq!(
            comment_word(b"A=1\n touch /tmp/x #"),
            r"$'A=1\n touch /tmp/x #'"
        );
        assert_eq!(comment_word(b"it's\t\\"), r"$'it\'s\t\\'");
        assert_eq!(comment_word(b"caf\xe9\x1b"), r"$'caf\xe9\x1b'");
        assert_eq!(comment_word("a\u{2028}b".as_bytes()), r"$'a\xe2\x80\xa8b'");
        assert_eq!(comment_word("\u{202e}x".as_bytes()), r"$'\xe2\x80\xaex'");
    }

    #[test]
    fn the_here_document_ends_where_it_should() {
        assert_eq!(delimiter(b"echo hi\n"), "NSLAUNCH");
        assert_eq!(delimiter(b"x 'a\nNSLAUNCH\nb'\n"), "NSLAUNCH_2");
        assert_eq!(delimiter(b"NSLAUNCH\nNSLAUNCH_2\n"), "NSLAUNCH_3");
        // Not a whole line: no clash.
        assert_eq!(delimiter(b"'NSLAUNCH '\n"), "NSLAUNCH");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any bytes but NUL (which no argument holds), a few words at a
        /// time through one sh: back as they were.
        #[test]
        fn any_bytes_round_trip_through_sh(
            words in proptest::collection::vec(
                proptest::collection::vec(1u8..=255, 0..40), 1..6)
        ) {
            let quoted: Vec<Vec<u8>> = words.iter().map(|w| quote_bytes(w)).collect();
            prop_assert_eq!(through_sh(&quoted), words);
        }

        /// A comment word is one line of printable text, whatever it holds.
        #[test]
        fn any_bytes_make_a_one_line_comment(word in proptest::collection::vec(any::<u8>(), 0..64)) {
            let c = comment_word(&word);
            prop_assert!(!c.chars().any(needs_escape), "{:?}", c);
        }
    }
}
