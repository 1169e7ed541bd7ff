//! `--help` of the built binaries and the man pages in docs/: the binaries
//! print the grouped, hand-written help (not argh's), every option it
//! lists is in the man page, under the same heading, and the man pages
//! render without a warning. (The unit tests in launcher/src/help.rs and
//! init/src/help.rs hold the texts against what argh accepts.)

use std::collections::BTreeSet;
use std::fs;
use std::process::Command;

use nslaunch_tests::helpdoc::{self, Opt};
use nslaunch_tests::{as_who, each, repo_root, run, Who};

fn man_page(name: &str) -> String {
    let path = repo_root().join("docs").join(format!("{name}.1"));
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn keyed(opts: &[Opt]) -> BTreeSet<(String, Option<String>, Option<String>)> {
    opts.iter()
        .map(|o| (o.long.clone(), o.short.clone(), o.group.clone()))
        .collect()
}

/// `bin args...` as `who`: its help on stdout, exit 0, nothing on stderr.
fn help_of(bin: &std::path::Path, who: &Who, args: &[&str]) -> String {
    let mut cmd = Command::new(bin);
    cmd.args(args);
    let r = run(as_who(who, &mut cmd), None);
    assert_eq!(r.code(), 0, "{args:?}: {r:?}");
    assert!(r.stderr.is_empty(), "{args:?}: {r:?}");
    r.stdout
}

/// What `--help` defines, the man page defines, in the same groups.
fn same_as_man_page(help: &str, name: &str, groups: &[&str]) {
    for g in groups {
        assert!(
            help.contains(&format!("\n{g}:\n")),
            "{name} --help: no {g}:"
        );
    }
    let help = keyed(&helpdoc::help_options(help));
    let man = keyed(&helpdoc::man_options(&man_page(name)));
    assert!(
        help.len() >= 25,
        "{name} --help lists {} options",
        help.len()
    );
    let missing: Vec<_> = help.difference(&man).collect();
    let extra: Vec<_> = man.difference(&help).collect();
    assert!(
        missing.is_empty(),
        "in --help, not in docs/{name}.1: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "in docs/{name}.1, not in --help: {extra:?}"
    );
}

#[test]
fn nslaunch_help_is_grouped_and_matches_its_man_page() {
    each(|f, who| {
        let help = help_of(&f.nslaunch, who, &["--help"]);
        assert_eq!(help_of(&f.nslaunch, who, &["-h"]), help);
        // Help anywhere before the command.
        assert_eq!(
            help_of(
                &f.nslaunch,
                who,
                &["--rootfs", "/nonexistent", "-v", "a:/b", "--help"]
            ),
            help
        );
        same_as_man_page(
            &help,
            "nslaunch",
            &[
                "Root filesystem",
                "Volumes",
                "Identity and environment",
                "Namespaces",
                "Security",
                "Terminal",
                "Init",
                "Explain",
                "Other",
                "Subcommands",
                "Environment",
                "Examples",
                "Exit status",
            ],
        );
    });
}

#[test]
fn nsinit_help_is_grouped_and_matches_its_man_page() {
    each(|f, who| {
        let help = help_of(&f.nsinit, who, &["--help"]);
        assert_eq!(help_of(&f.nsinit, who, &["-h"]), help);
        same_as_man_page(
            &help,
            "nsinit",
            &[
                "As an init",
                "Set by nslaunch",
                "Other",
                "Environment",
                "Examples",
                "Exit status",
            ],
        );
    });
}

/// groff reads both pages without a single warning (-ww: all of them).
#[test]
fn man_pages_render_cleanly() {
    for name in ["nslaunch", "nsinit"] {
        let path = repo_root().join("docs").join(format!("{name}.1"));
        let out = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(&path)
            .output();
        let out = match out {
            Ok(o) => o,
            Err(e) => {
                nslaunch_tests::skip(&format!(
                    "groff: {e} (run `scripts/test-deps.sh all` as root: groff-base)"
                ));
                return;
            }
        };
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "groff {name}.1: {stderr}");
        assert!(
            stderr.is_empty(),
            "groff warns about docs/{name}.1:\n{stderr}"
        );
    }
}
