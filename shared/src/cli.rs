//! What nslaunch's and nsinit's command lines share: argv as UTF-8 (argh
//! takes `&str`), and argh's early exits turned into our conventions.

use crate::exit;

/// The arguments after argv\[0\], each valid UTF-8; else one line naming
/// the bad one and `Err(125)`.
pub fn utf8_args(program: &str) -> Result<Vec<String>, i32> {
    std::env::args_os()
        .skip(1)
        .map(|a| {
            a.into_string().map_err(|bad| {
                eprintln!(
                    "{program}: argument {:?} is not valid UTF-8",
                    bad.to_string_lossy()
                );
                exit::FAILED
            })
        })
        .collect()
}

/// argh stopped early: for `-h`/`--help` print our grouped `help` (argh's
/// own text cannot group options) and return 0; for a usage error print
/// one line and return 125.
pub fn early_exit(program: &str, help: &str, early: argh::EarlyExit) -> i32 {
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
