//! What nslaunch's and nsinit's command lines share: argh parses `&str`,
//! but the command and its arguments are bytes (a file name on Linux need
//! not be UTF-8) and must reach `execve` unchanged; and argh's early exits
//! turned into our conventions.

use std::ffi::{OsStr, OsString};

use argh::{EarlyExit, FromArgs};

use crate::exit;

/// Parse `args` (without argv\[0\]) with argh. Our options stay UTF-8; the
/// command (the field `command` picks) takes any bytes: each argument that
/// is not UTF-8 goes through argh as a stand-in (a string no argument
/// contains) and is put back, byte for byte, where it landed in the
/// command. One that lands in an option's value is refused, naming the
/// option.
pub fn parse_os<T, S>(
    program: &str,
    args: &[S],
    command: impl FnOnce(&mut T) -> &mut Vec<OsString>,
) -> Result<T, EarlyExit>
where
    T: FromArgs,
    S: AsRef<OsStr>,
{
    let args: Vec<&OsStr> = args.iter().map(AsRef::as_ref).collect();
    let stand_ins = StandIns::new(&args);
    let words: Vec<&str> = stand_ins.words.iter().map(String::as_str).collect();
    match T::from_args(&[program], &words) {
        Err(early) => match stand_ins.named_in(&early.output) {
            Some(i) => Err(not_utf8(&args, i)),
            None => Err(early),
        },
        Ok(mut parsed) => {
            let mut restored = vec![false; args.len()];
            for word in command(&mut parsed).iter_mut() {
                if let Some(i) = stand_ins.index_of(word) {
                    *word = args[i].to_os_string();
                    restored[i] = true;
                }
            }
            match stand_ins.replaced.iter().find(|&&i| !restored[i]) {
                Some(&i) => Err(not_utf8(&args, i)),
                None => Ok(parsed),
            }
        }
    }
}

/// The words argh sees: each argument, or for one that is not UTF-8 a
/// stand-in made of a marker that no UTF-8 argument contains.
struct StandIns {
    words: Vec<String>,
    /// The indexes of the arguments replaced.
    replaced: Vec<usize>,
    marker: String,
}

impl StandIns {
    fn new(args: &[&OsStr]) -> StandIns {
        // A noncharacter, lengthened until no argument contains it.
        let mut marker = String::from("\u{FDD0}");
        while args
            .iter()
            .filter_map(|a| a.to_str())
            .any(|a| a.contains(&marker))
        {
            marker.push('\u{FDD0}');
        }
        let mut words = Vec::with_capacity(args.len());
        let mut replaced = Vec::new();
        for (i, a) in args.iter().enumerate() {
            match a.to_str() {
                Some(s) => words.push(s.to_string()),
                None => {
                    // A word that looks like a flag stays one for argh.
                    let dash = if a.as_encoded_bytes().starts_with(b"-") {
                        "-"
                    } else {
                        ""
                    };
                    words.push(format!("{dash}{}{i}{}", marker, marker));
                    replaced.push(i);
                }
            }
        }
        StandIns {
            words,
            replaced,
            marker,
        }
    }

    /// The argument whose stand-in `word` is.
    fn index_of(&self, word: &OsStr) -> Option<usize> {
        let w = word.to_str()?;
        self.replaced.iter().copied().find(|&i| self.words[i] == w)
    }

    /// The first replaced argument whose stand-in `text` mentions.
    fn named_in(&self, text: &str) -> Option<usize> {
        if !text.contains(&self.marker) {
            return None;
        }
        self.replaced
            .iter()
            .copied()
            .find(|&i| text.contains(&self.words[i]))
    }
}

/// The usage error for the non-UTF-8 argument `args[i]`, naming the option
/// it is the value of.
fn not_utf8(args: &[&OsStr], i: usize) -> EarlyExit {
    let shown = args[i].to_string_lossy();
    let flag = i
        .checked_sub(1)
        .and_then(|p| args[p].to_str())
        .filter(|f| f.starts_with('-') && *f != "--");
    let output = match flag {
        Some(flag) if !args[i].as_encoded_bytes().starts_with(b"-") => format!(
            "{flag} {shown:?}: the value is not valid UTF-8 (only the command and its \
             arguments may be any bytes)"
        ),
        _ => format!(
            "argument {shown:?} is not valid UTF-8 (only the command and its arguments \
             may be any bytes)"
        ),
    };
    EarlyExit {
        output,
        status: Err(()),
    }
}

/// argh stopped early: for `-h`/`--help` print our grouped `help` (argh's
/// own text cannot group options) and return 0; for a usage error print
/// one line and return 125.
pub fn early_exit(program: &str, help: &str, early: EarlyExit) -> i32 {
    match early.status {
        Ok(()) => {
            print!("{help}");
            0
        }
        Err(()) => {
            eprintln!(
                "{program}: {} (see {program} --help)",
                early.output.trim_end().replace('\n', "; ")
            );
            exit::FAILED
        }
    }
}

pub use base::activation::check_preserved_fds;

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    #[derive(FromArgs, Debug, PartialEq)]
    /// test
    struct Args {
        /// a value
        #[argh(option)]
        name: Option<String>,
        /// a number
        #[argh(option)]
        count: Option<u32>,
        /// a switch
        #[argh(switch, short = 's')]
        sw: bool,
        /// the command
        #[argh(positional, greedy)]
        command: Vec<OsString>,
    }

    fn b(bytes: &[u8]) -> OsString {
        OsStr::from_bytes(bytes).to_os_string()
    }

    fn parse(args: &[OsString]) -> Result<Args, EarlyExit> {
        parse_os("prog", args, |a: &mut Args| &mut a.command)
    }

    #[test]
    fn the_command_keeps_its_bytes() {
        let args = [
            b(b"-s"),
            b(b"--name"),
            b(b"x"),
            b(b"echo"),
            b(b"caf\xe9"),
            b(b"\xff"),
            b(b"-\xfe"),
            b(b"--"),
        ];
        let a = parse(&args).unwrap();
        assert!(a.sw);
        assert_eq!(a.name.as_deref(), Some("x"));
        assert_eq!(a.command, args[3..]);
        let a = parse(&[b(b"--"), b(b"-\xe9"), b(b"\xe9")]).unwrap();
        assert_eq!(a.command, [b(b"-\xe9"), b(b"\xe9")]);
    }

    #[test]
    fn a_stand_in_never_equals_an_argument() {
        // An argument that spells a stand-in stays what it is.
        let fake = "\u{FDD0}1\u{FDD0}";
        let args = [b(b"echo"), b(b"\xff"), b(fake.as_bytes())];
        let a = parse(&args).unwrap();
        assert_eq!(a.command, args);
    }

    #[test]
    fn a_non_utf8_option_value_names_the_option() {
        for (args, want) in [
            (
                vec![b(b"--name"), b(b"\xff"), b(b"sh")],
                "--name \"\u{fffd}\"",
            ),
            (
                vec![b(b"--count"), b(b"\xff"), b(b"sh")],
                "--count \"\u{fffd}\"",
            ),
            (vec![b(b"-\xff"), b(b"sh")], "argument \"-\u{fffd}\""),
        ] {
            let e = parse(&args).unwrap_err();
            assert!(e.status.is_err());
            assert!(e.output.starts_with(want), "{args:?}: {}", e.output);
            assert!(e.output.contains("is not valid UTF-8"), "{}", e.output);
            assert!(!e.output.contains('\u{FDD0}'), "{}", e.output);
        }
        // Other usage errors are argh's own.
        let e = parse(&[b(b"--bogus"), b(b"\xff")]).unwrap_err();
        assert!(e.output.contains("--bogus"), "{}", e.output);
    }

    #[test]
    fn preserved_fds_must_be_open() {
        assert_eq!(check_preserved_fds(0, |_| false), Ok(()));
        assert_eq!(check_preserved_fds(2, |fd| fd < 5), Ok(()));
        let e = check_preserved_fds(3, |fd| fd != 4).unwrap_err();
        assert_eq!(
            e,
            "--preserve-fds 3: descriptor 4 is not open (pass open descriptors 3 to 5)"
        );
        let e = check_preserved_fds(u32::MAX, |fd| fd < 1000).unwrap_err();
        assert!(
            e.starts_with("--preserve-fds 4294967295: descriptor 1000 is not open"),
            "{e}"
        );
    }
}
