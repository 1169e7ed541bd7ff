//! `nsinit --help` is nsinit's core's ([`base::help::TEXT`]); the tests
//! below keep it, `docs/nsinit.1` and the options argh accepts in step.

pub use base::help::TEXT;

#[cfg(test)]
mod tests {
    use nslaunch_tests::helpdoc;
    use shared::spec::InitArgs;

    use super::TEXT;

    /// The man page, as `make install` installs it.
    const MAN: &str = include_str!("../../docs/nsinit.1");

    /// Options of other programs that the text quotes (unshare's, and
    /// nslaunch's --init).
    const FOREIGN: &[&str] = &[
        "--map-root-user",
        "--pid",
        "--fork",
        "--mount-proc",
        "--init",
    ];

    #[test]
    fn help_man_page_and_argh_agree() {
        let argh = InitArgs::parse("nsinit", &["--help".to_string()]).unwrap_err();
        assert!(argh.status.is_ok());
        let title = format!("nsinit {}", env!("CARGO_PKG_VERSION"));
        let problems = helpdoc::problems(TEXT, MAN, &title, &argh.output, FOREIGN);
        assert!(problems.is_empty(), "{problems:#?}");
    }

    /// Every NSINIT_* variable nsinit reads is in the help and the man page.
    #[test]
    fn variables_are_documented() {
        let man = helpdoc::roff_text(MAN);
        for var in [
            "NSINIT_SUBREAPER",
            "NSINIT_PROCESS_GROUP",
            "NSINIT_REWRITE",
            "NSINIT_SUCCESS_STATUS",
            "NSINIT_PDEATHSIG",
            "NSINIT_GRACE",
            "NSINIT_STOP_DELAY",
            "NSINIT_VERBOSE",
            "NSINIT_WARN_ORPHANS",
        ] {
            assert!(TEXT.contains(&format!("[{var}=")), "{var} not in --help");
            assert!(man.contains(var), "{var} not in docs/nsinit.1");
        }
    }

    /// The nsinit examples parse, with a command.
    #[test]
    fn examples_parse() {
        let examples = TEXT.split("\nExamples:\n").nth(1).unwrap();
        let examples = examples.split("\n\n").next().unwrap();
        let mut n = 0;
        // Example lines are indented by 2, their explanations by 6.
        for line in examples.lines().filter(|l| !l.starts_with("   ")) {
            let Some(rest) = line.split("nsinit ").nth(1) else {
                continue;
            };
            // Its options, then a command of ours.
            let words: Vec<String> = rest
                .split("-- ")
                .next()
                .unwrap()
                .split_whitespace()
                .chain(["--", "cmd"])
                .map(String::from)
                .collect();
            let args = InitArgs::parse("nsinit", &words)
                .unwrap_or_else(|e| panic!("{line}: {}", e.output));
            assert_eq!(args.command, ["cmd"], "{line}");
            n += 1;
        }
        assert!(n >= 3, "{n} examples");
    }
}
