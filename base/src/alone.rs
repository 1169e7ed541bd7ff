//! The standalone nsinit's command line (`init-alone/`): the options of an
//! init alone, parsed without argh (which needs std). nslaunch's built-in
//! nsinit parses the same words with argh (`shared::spec::InitArgs`), and
//! also takes the container's setup options, which this parser refuses by
//! name: they are nslaunch's plumbing, and the code behind them (mounts,
//! pivot_root, users, terminals) is in nslaunch only, to keep the
//! standalone nsinit small.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::supervision::Flags;

/// What the standalone nsinit was asked to do.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct AloneArgs<'a> {
    pub flags: Flags,
    pub no_new_privileges: bool,
    pub preserve_fds: Option<u32>,
    pub listen_fds: Option<u32>,
    pub version: bool,
    /// CMD and its arguments, bytes as given.
    pub command: Vec<&'a [u8]>,
}

/// The parse ends early: print the help, or one line and exit 125.
#[derive(Debug, PartialEq, Eq)]
pub enum Early {
    Help,
    /// A line to print after `nsinit: `, as argh words it, and then
    /// ` (see nsinit --help)`.
    Usage(String),
}

/// The options only nslaunch's built-in nsinit takes (the "Set by
/// nslaunch" part of `--help`); their values are not looked at.
pub const SETUP_OPTIONS: &[&str] = &[
    "--rootfs",
    "--report-fd",
    "--job-control-fd",
    "--volume",
    "--tree",
    "--overlay",
    "--overlay-dir",
    "--overlay-dir-fd",
    "--read-only",
    "--tmpfs",
    "--user",
    "--workdir",
    "--hostname",
    "--caps",
    "--loopback",
    "--console-socket",
    "--console-size",
    "--null-stdin",
    "--dns",
    "--dns-search",
    "--dns-best-effort",
    "--add-host",
    "--sync-fd",
    "--oci",
    "--start-fifo-fd",
    "--hooks",
    "--mount",
    "--device",
    "--mask",
    "--readonly-path",
    "--sysctl",
    "--domainname",
    "--umask",
    "--groups",
    "--cap-sets",
    "--apparmor",
    "--start-hook",
    "--hook-state",
    "--seccomp-fd",
    "--init-fd",
    "--init-name",
];

/// Options come first, each its own word; the first word that is not one
/// (or the one after `--`) starts CMD, which takes the rest as it is.
pub fn parse<'a>(words: &[&'a [u8]]) -> Result<AloneArgs<'a>, Early> {
    let mut a = AloneArgs::default();
    let mut i = 0;
    while i < words.len() {
        let word = words[i];
        i += 1;
        if word == b"--" {
            break;
        }
        if !word.starts_with(b"-") {
            i -= 1;
            break;
        }
        let Ok(flag) = core::str::from_utf8(word) else {
            return Err(Early::Usage(format!(
                "argument {:?} is not valid UTF-8{ANY_BYTES}",
                String::from_utf8_lossy(word)
            )));
        };
        let mut value = || -> Result<String, Early> {
            let v = words
                .get(i)
                .ok_or_else(|| Early::Usage(format!("No value provided for option '{flag}'.")))?;
            i += 1;
            String::from_utf8(v.to_vec()).map_err(|_| {
                Early::Usage(format!(
                    "{flag} {:?}: the value is not valid UTF-8{ANY_BYTES}",
                    String::from_utf8_lossy(v)
                ))
            })
        };
        let f = &mut a.flags;
        match flag {
            // As argh: help, unless an option follows.
            "-h" | "--help" => {
                return match words.get(i) {
                    Some(next) if next.starts_with(b"-") && *next != b"--" => Err(Early::Usage(
                        "Trailing arguments are not allowed after `help`.".into(),
                    )),
                    _ => Err(Early::Help),
                }
            }
            "--version" => a.version = true,
            "-s" | "--subreaper" => f.subreaper = true,
            "-g" | "--process-group" => f.process_group = true,
            "-v" | "--verbose" => f.verbose = true,
            "-w" | "--warn-orphans" => f.warn_orphans = true,
            "--no-new-privileges" => a.no_new_privileges = true,
            "--rewrite" => f.rewrite.push(value()?),
            "-e" | "--success-status" => f.success_status.push(value()?),
            "-p" | "--pdeathsig" => once(&mut f.pdeathsig, "--pdeathsig", value()?)?,
            "--grace" => once(&mut f.grace, "--grace", value()?)?,
            "--stop-delay" => once(&mut f.stop_delay, "--stop-delay", value()?)?,
            "--preserve-fds" => {
                let n = count("--preserve-fds", &value()?)?;
                once(&mut a.preserve_fds, "--preserve-fds", n)?;
            }
            "--listen-fds" => {
                let n = count("--listen-fds", &value()?)?;
                once(&mut a.listen_fds, "--listen-fds", n)?;
            }
            _ if SETUP_OPTIONS.contains(&flag) => {
                return Err(Early::Usage(format!(
                    "{flag}: a container setup option, taken only by nslaunch's built-in \
                     nsinit; this nsinit is the init alone"
                )))
            }
            _ => return Err(Early::Usage(format!("Unrecognized argument: {flag}"))),
        }
    }
    a.command = words[i..].to_vec();
    Ok(a)
}

/// What argh adds to a refused non-UTF-8 word.
const ANY_BYTES: &str = " (only the command and its arguments may be any bytes)";

fn once<T: core::fmt::Display>(slot: &mut Option<T>, flag: &str, v: T) -> Result<(), Early> {
    if slot.is_some() {
        return Err(Early::Usage(format!(
            "Error parsing option '{flag}' with value '{v}': duplicate values provided"
        )));
    }
    *slot = Some(v);
    Ok(())
}

fn count(flag: &str, v: &str) -> Result<u32, Early> {
    v.parse().map_err(|e: core::num::ParseIntError| {
        Early::Usage(format!(
            "Error parsing option '{flag}' with value '{v}': {e}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn p(words: &[&str]) -> Result<AloneArgs<'static>, Early> {
        let words: Vec<&'static [u8]> = words
            .iter()
            .map(|w| &*std::boxed::Box::leak(w.as_bytes().to_vec().into_boxed_slice()))
            .collect();
        parse(&words)
    }

    fn usage(words: &[&str]) -> String {
        match p(words) {
            Err(Early::Usage(m)) => m,
            other => panic!("{words:?}: {other:?}"),
        }
    }

    #[test]
    fn options_then_the_command() {
        let a = p(&[
            "-s",
            "-g",
            "--rewrite",
            "TERM:QUIT",
            "-e",
            "143",
            "--",
            "sh",
            "-c",
            "x",
        ])
        .unwrap();
        assert!(a.flags.subreaper && a.flags.process_group && !a.flags.verbose);
        assert_eq!(a.flags.rewrite, ["TERM:QUIT"]);
        assert_eq!(a.flags.success_status, ["143"]);
        assert_eq!(a.command, [&b"sh"[..], b"-c", b"x"]);
        // The first word that is not an option starts CMD; -h after it is CMD's.
        let a = p(&["--grace", "1s", "ls", "-h", "--", "--help"]).unwrap();
        assert_eq!(a.flags.grace.as_deref(), Some("1s"));
        assert_eq!(a.command, [&b"ls"[..], b"-h", b"--", b"--help"]);
        let a = p(&[
            "--preserve-fds",
            "2",
            "--listen-fds",
            "1",
            "--no-new-privileges",
            "x",
        ])
        .unwrap();
        assert_eq!((a.preserve_fds, a.listen_fds), (Some(2), Some(1)));
        assert!(a.no_new_privileges);
        assert_eq!(usage(&["-", "x"]), "Unrecognized argument: -");
        assert!(p(&["--"]).unwrap().command.is_empty());
        assert!(p(&["--version"]).unwrap().version);
        assert_eq!(p(&["-v", "--help", "x"]), Err(Early::Help));
        assert_eq!(p(&["-h"]), Err(Early::Help));
        assert_eq!(p(&["--help", "--", "x"]), Err(Early::Help));
        assert_eq!(
            usage(&["--help", "-v"]),
            "Trailing arguments are not allowed after `help`."
        );
    }

    #[test]
    fn bad_words_are_named_as_argh_names_them() {
        assert_eq!(usage(&["--bogus"]), "Unrecognized argument: --bogus");
        assert_eq!(usage(&["--grace=1s"]), "Unrecognized argument: --grace=1s");
        assert_eq!(usage(&["-sg"]), "Unrecognized argument: -sg");
        assert_eq!(
            usage(&["--grace"]),
            "No value provided for option '--grace'."
        );
        assert_eq!(
            usage(&["--preserve-fds", "x"]),
            "Error parsing option '--preserve-fds' with value 'x': invalid digit found in string"
        );
        assert_eq!(
            usage(&["--grace", "1", "--grace", "2"]),
            "Error parsing option '--grace' with value '2': duplicate values provided"
        );
        let m = usage(&["--rootfs", "/r", "sh"]);
        assert!(m.starts_with("--rootfs: a container setup option"), "{m}");
        let bad = parse(&[b"--grace", b"\xff"]).unwrap_err();
        assert_eq!(
            bad,
            Early::Usage(
                "--grace \"\u{fffd}\": the value is not valid UTF-8 (only the command and its \
                 arguments may be any bytes)"
                    .into()
            )
        );
        let bad = parse(&[b"--\xff", b"x"]).unwrap_err();
        assert!(
            matches!(&bad, Early::Usage(m) if m.starts_with("argument \"--\u{fffd}\" is not valid UTF-8")),
            "{bad:?}"
        );
    }

    /// Every option in `--help` is one this parser takes or one it refuses
    /// as nslaunch's; none is unknown to it.
    #[test]
    fn the_help_lists_what_is_taken_and_what_is_refused() {
        let mut seen = vec![];
        for line in crate::help::TEXT.lines() {
            let t = line.trim_start();
            if line.len() - t.len() != 2 || !t.starts_with('-') {
                continue;
            }
            // The option column ends at two spaces (or the line).
            let column = t.split("  ").next().unwrap();
            for word in column.split(", ").filter_map(|w| w.split(' ').next()) {
                seen.push(word.to_string());
                match p(&[word, "1", "cmd"]) {
                    Ok(_) | Err(Early::Help) => assert!(!SETUP_OPTIONS.contains(&word)),
                    Err(Early::Usage(m)) => {
                        assert!(!m.starts_with("Unrecognized"), "{word}: {m}");
                        assert!(SETUP_OPTIONS.contains(&word), "{word}: {m}");
                    }
                }
            }
        }
        for o in SETUP_OPTIONS {
            assert!(seen.iter().any(|s| s == o), "{o} is not in --help");
        }
    }
}
