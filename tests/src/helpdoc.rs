//! Reading option lists out of help texts and man pages, so that tests can
//! keep the hand-written `--help` of each binary, its man page
//! (`docs/nslaunch.1`, `docs/nsinit.1`) and what argh really accepts in
//! step. Pure text functions; nothing here runs at launch.
//!
//! An option is *defined* where a text describes it:
//! - in argh's generated help and in our `--help`, a line that starts with
//!   two spaces and a dash: `  -v, --volume SRC:DST   bind ...`;
//! - in a man page, the tag line after `.TP`: `\fB\-v\fR, \fB\-\-volume\fR ...`.
//!
//! Its *group* is the heading above it: an unindented line ending in `:`
//! (`Root filesystem:`) in a help text, the last `.SS` in a man page.
//! An option is *mentioned* wherever `--name` appears.

use std::collections::BTreeSet;

/// One option as a text defines it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Opt {
    /// `--volume` (with the dashes).
    pub long: String,
    /// `-v`, if it has a short form.
    pub short: Option<String>,
    /// The heading it is listed under (`Volumes`), if any.
    pub group: Option<String>,
}

/// The options a help text defines (argh's or ours), in order.
pub fn help_options(help: &str) -> Vec<Opt> {
    let mut group = None;
    let mut out = Vec::new();
    for line in help.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            group = Some(line.trim_end_matches(':').to_string());
        } else if let Some(rest) = line.strip_prefix("  -") {
            if let Some(opt) = option_tag(&format!("-{rest}"), &group) {
                out.push(opt);
            }
        }
    }
    out
}

/// The options a man page defines under `.TP` tags, in order, with the
/// `.SS` heading each is under.
pub fn man_options(roff: &str) -> Vec<Opt> {
    let mut group = None;
    let mut out = Vec::new();
    let mut tag_next = false;
    for line in roff.lines() {
        if let Some(h) = line.strip_prefix(".SS ") {
            group = Some(roff_text(h.trim().trim_matches('"')));
        } else if line.starts_with(".SH") {
            group = None;
        } else if line.starts_with(".TP") {
            tag_next = true;
            continue;
        } else if tag_next {
            let text = roff_text(line);
            if text.starts_with('-') {
                if let Some(opt) = option_tag(&text, &group) {
                    out.push(opt);
                }
            }
        }
        tag_next = false;
    }
    out
}

/// `-v, --volume SRC:DST` or `--rootfs DIR`: the option it names.
fn option_tag(tag: &str, group: &Option<String>) -> Option<Opt> {
    let mut short = None;
    let mut rest = tag;
    if !rest.starts_with("--") {
        let (s, after) = rest.split_once(", ")?;
        short = Some(s.to_string());
        rest = after;
    }
    let long = first_long(rest)?;
    rest.starts_with(&long).then(|| Opt {
        long,
        short,
        group: group.clone(),
    })
}

fn first_long(text: &str) -> Option<String> {
    long_options_in(text).into_iter().next().map(|(_, l)| l)
}

/// Every `--name` a text mentions (not `--` alone).
pub fn mentioned(text: &str) -> BTreeSet<String> {
    long_options_in(text).into_iter().map(|(_, l)| l).collect()
}

/// `(byte offset, --name)` for each long option in `text`: two dashes not
/// preceded by a letter, digit or dash, then a lowercase name.
fn long_options_in(text: &str) -> Vec<(usize, String)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 2 < b.len() {
        let starts = b[i] == b'-'
            && b[i + 1] == b'-'
            && b[i + 2].is_ascii_lowercase()
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'-'));
        if starts {
            let mut j = i + 2;
            while j < b.len()
                && (b[j].is_ascii_lowercase() || b[j].is_ascii_digit() || b[j] == b'-')
            {
                j += 1;
            }
            let name = text[i..j].trim_end_matches('-');
            out.push((i, name.to_string()));
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// The text of roff source as a reader sees it, near enough for matching:
/// comment lines dropped, `\-` as `-`, font changes and `\&` removed.
pub fn roff_text(roff: &str) -> String {
    let mut out = String::new();
    for line in roff.lines() {
        if line.starts_with(".\\\"") || line.starts_with("'\\\"") {
            continue;
        }
        let mut s = line.replace("\\-", "-").replace("\\&", "");
        for font in ["\\fB", "\\fI", "\\fR", "\\fP", "\\f(CW"] {
            s = s.replace(font, "");
        }
        out.push_str(&s);
        out.push('\n');
    }
    out.truncate(out.trim_end_matches('\n').len());
    out
}

/// Lines of roff source (comments aside) with a dash that starts a word
/// but is not written `\-`: groff prints those as a hyphen (U+2010), which
/// a shell does not take for an option when pasted.
pub fn unescaped_dashes(roff: &str) -> Vec<String> {
    roff.lines()
        .filter(|l| !l.starts_with(".\\\"") && !l.starts_with("'\\\""))
        .filter(|l| {
            let b = l.as_bytes();
            (0..b.len()).any(|i| {
                // Right after a font change (\fB-v) is a word's start too.
                let font = i >= 3 && b[i - 3] == b'\\' && b[i - 2] == b'f';
                b[i] == b'-'
                    && (i == 0 || font || matches!(b[i - 1], b' ' | b'(' | b'[' | b'|' | b'"'))
            })
        })
        .map(str::to_string)
        .collect()
}

/// Everything that keeps a binary's hand-written `--help` (`text`), its man
/// page (`roff`, whose `.TH` line must name `title`, e.g. `"nslaunch
/// 0.1.0"`) and argh's own generated help (`argh_help`) in step. `foreign`:
/// options of other programs the texts may mention (unshare's). Returns one
/// line per problem; empty when all agree.
pub fn problems(
    text: &str,
    roff: &str,
    title: &str,
    argh_help: &str,
    foreign: &[&str],
) -> Vec<String> {
    let mut out = Vec::new();
    let argh = help_options(argh_help);
    if argh.len() < 5 {
        out.push(format!("argh's help changed shape: {argh_help}"));
    }
    let ungrouped = |opts: &[Opt]| -> BTreeSet<(String, Option<String>)> {
        opts.iter()
            .map(|o| (o.long.clone(), o.short.clone()))
            .collect()
    };
    let ours = help_options(text);
    let (ours_set, argh_set) = (ungrouped(&ours), ungrouped(&argh));
    for o in ours_set.difference(&argh_set) {
        out.push(format!(
            "--help defines {o:?}, which argh does not accept (option, short form)"
        ));
    }
    for o in argh_set.difference(&ours_set) {
        out.push(format!("argh accepts {o:?}, which --help does not define"));
    }
    if ours.len() != ours_set.len() {
        out.push("--help lists an option twice".into());
    }
    out.extend(
        ours.iter()
            .filter(|o| o.group.is_none())
            .map(|o| format!("{} has no group", o.long)),
    );
    let mut accepted: BTreeSet<String> = argh.iter().map(|o| o.long.clone()).collect();
    accepted.extend(foreign.iter().map(|s| s.to_string()));
    for (what, said) in [
        ("--help", text.to_string()),
        ("the man page", roff_text(roff)),
    ] {
        for unknown in mentioned(&said).difference(&accepted) {
            out.push(format!(
                "{what} mentions {unknown}, which argh does not accept"
            ));
        }
    }
    let key = |o: &Opt| (o.long.clone(), o.short.clone(), o.group.clone());
    let help: BTreeSet<_> = ours.iter().map(key).collect();
    let man: BTreeSet<_> = man_options(roff).iter().map(key).collect();
    out.extend(
        help.difference(&man)
            .map(|o| format!("not in the man page: {o:?}")),
    );
    out.extend(
        man.difference(&help)
            .map(|o| format!("only in the man page: {o:?}")),
    );
    out.extend(
        unescaped_dashes(roff)
            .into_iter()
            .map(|l| format!("write - as \\- in: {l}")),
    );
    if !roff.contains(&format!("\"{title}\"")) {
        out.push(format!("the man page's .TH wants \"{title}\""));
    }
    out.extend(
        text.lines()
            .filter(|l| l.chars().count() > 80)
            .map(|l| format!("--help wider than 80 columns: {l}")),
    );
    out
}

/// Words split on spaces, `'...'` quoted: enough for the examples of a
/// help text.
pub fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any {
                    words.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            c => {
                word.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELP: &str = "Usage: x [OPTIONS]\n\nVolumes:\n  -v, --volume SRC:DST  bind it;\n                        see --tmpfs\n  --tmpfs DST           a tmpfs\n\nOther:\n  -h, --help            help\n  nslaunch cache ls     a subcommand, --not-an-option-line\n";

    #[test]
    fn help_lines_define_options_in_groups() {
        let opts = help_options(HELP);
        let got: Vec<(&str, Option<&str>, Option<&str>)> = opts
            .iter()
            .map(|o| (o.long.as_str(), o.short.as_deref(), o.group.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("--volume", Some("-v"), Some("Volumes")),
                ("--tmpfs", None, Some("Volumes")),
                ("--help", Some("-h"), Some("Other")),
            ]
        );
        let m = mentioned(HELP);
        assert!(m.contains("--not-an-option-line") && m.contains("--tmpfs"));
        assert!(!m.contains("--"));
    }

    #[test]
    fn man_tags_define_options_under_their_subsection() {
        let roff = ".\\\" --comment\n.SH OPTIONS\n.SS Volumes\n.TP\n\\fB\\-v\\fR, \\fB\\-\\-volume\\fR \\fISRC\\fR\nbind \\-\\-tmpfs\n.TP\n\\fB\\-\\-read\\-only\\fR\nro\n.SH EXAMPLES\n.TP\n\\fB\\-\\-x\\fR\n";
        let opts = man_options(roff);
        assert_eq!(opts.len(), 3);
        assert_eq!(opts[0].long, "--volume");
        assert_eq!(opts[0].short.as_deref(), Some("-v"));
        assert_eq!(opts[1].long, "--read-only");
        assert_eq!(opts[1].group.as_deref(), Some("Volumes"));
        assert_eq!(opts[2].group, None);
        let text = roff_text(roff);
        assert!(!text.contains("comment"));
        assert_eq!(
            mentioned(&text),
            ["--read-only", "--tmpfs", "--volume", "--x"]
                .map(String::from)
                .into()
        );
    }

    #[test]
    fn dashes_not_escaped_are_found() {
        assert!(unescaped_dashes("\\fB\\-\\-rootfs\\fR read-only\n.\\\" -x\n").is_empty());
        assert_eq!(unescaped_dashes("use --rootfs\n").len(), 1);
        assert_eq!(unescaped_dashes("-v\n").len(), 1);
        assert_eq!(unescaped_dashes("\\fB-v\\fR\n").len(), 1);
    }

    #[test]
    fn problems_finds_each_kind_of_drift() {
        let argh = "Options:\n  --a               x\n  --b               y\n";
        let help = "Group:\n  --a           x\n  --c           z\n";
        let man = ".TH X 1 \"x 1\"\n.SS Group\n.TP\n\\fB\\-\\-a\\fR\nx --d\n";
        let p = problems(help, man, "x 1", argh, &[]);
        let has = |needle: &str| p.iter().any(|l| l.contains(needle));
        assert!(has("argh accepts (\"--b\""), "{p:#?}");
        assert!(has("--help defines (\"--c\""), "{p:#?}");
        assert!(has("not in the man page"), "{p:#?}");
        assert!(has("write - as"), "{p:#?}");
        assert!(problems(help, man, "y 2", argh, &[])
            .iter()
            .any(|l| l.contains(".TH wants")));
    }
}
