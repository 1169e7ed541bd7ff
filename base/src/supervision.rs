//! How nsinit supervises its command, resolved from its flags and the
//! `NSINIT_*` environment variables (an image's ENTRYPOINT fixes argv, so
//! every option has a variable too; a flag given on the command line wins).
//! Under a launcher ([`Flags::launched`]) the variables are the command's,
//! never nsinit's: only the flags count. The parsers of the values are
//! [`crate::settings`] (nslaunch checks the ones it passes).
//! Pure code: the resolution, the signal rewrite table, the exit-status
//! mapping.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;

use crate::settings::{parse_bool, parse_duration, parse_rewrite, DEFAULT_GRACE};
use crate::signals;

/// The supervision options as given on nsinit's command line, whichever
/// parser read it (nslaunch's built-in nsinit: argh's `InitArgs`; the
/// standalone nsinit: its own).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    /// Run by a launcher (`--rootfs` or `--report-fd` given): the
    /// environment is the command's, and no `NSINIT_*` variable is read.
    pub launched: bool,
    pub subreaper: bool,
    pub process_group: bool,
    pub rewrite: Vec<String>,
    pub success_status: Vec<String>,
    pub pdeathsig: Option<String>,
    pub grace: Option<String>,
    pub stop_delay: Option<String>,
    pub verbose: bool,
    pub warn_orphans: bool,
}

/// nsinit's resolved supervision settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Supervision {
    pub subreaper: bool,
    pub process_group: bool,
    /// `(from, to)` pairs; `to` 0 drops `from`.
    pub rewrites: Vec<(i32, i32)>,
    /// Command statuses reported as 0.
    pub success: Vec<i32>,
    pub pdeathsig: Option<i32>,
    pub grace: Duration,
    /// Between the first SIGTERM and its forwarding (a drain delay).
    pub stop_delay: Duration,
    pub verbose: bool,
    pub warn_orphans: bool,
}

impl Default for Supervision {
    fn default() -> Self {
        Supervision {
            subreaper: false,
            process_group: false,
            rewrites: Vec::new(),
            success: Vec::new(),
            pdeathsig: None,
            grace: DEFAULT_GRACE,
            stop_delay: Duration::ZERO,
            verbose: false,
            warn_orphans: false,
        }
    }
}

impl Supervision {
    /// Resolve flags, falling back to `NSINIT_*` variables looked up with
    /// `env`, unless nsinit runs under a launcher: there the environment
    /// is the command's (`nslaunch -e NSINIT_PDEATHSIG=WINCH` must not
    /// change how its init dies), and the launcher says all in argv.
    /// `Err` is one line naming the flag or variable.
    pub fn resolve(args: &Flags, env: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let src = Sources {
            launched: args.launched,
            env,
        };
        let rewrites = src
            .list(&args.rewrite, "--rewrite", "NSINIT_REWRITE")
            .into_iter()
            .map(|(origin, item)| parse_rewrite(&item).map_err(|e| format!("{origin}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let success = src
            .list(
                &args.success_status,
                "--success-status",
                "NSINIT_SUCCESS_STATUS",
            )
            .into_iter()
            .map(|(origin, item)| exit_status(&origin, &item))
            .collect::<Result<Vec<_>, _>>()?;
        let pdeathsig = match src.single(&args.pdeathsig, "--pdeathsig", "NSINIT_PDEATHSIG") {
            Some((origin, v)) => {
                Some(signals::parse(&v, false).map_err(|e| format!("{origin}: {e}"))?)
            }
            None => None,
        };
        let grace = src.duration(&args.grace, "--grace", "NSINIT_GRACE", DEFAULT_GRACE)?;
        let stop_delay = src.duration(
            &args.stop_delay,
            "--stop-delay",
            "NSINIT_STOP_DELAY",
            Duration::ZERO,
        )?;
        Ok(Supervision {
            subreaper: src.switch(args.subreaper, "NSINIT_SUBREAPER")?,
            process_group: src.switch(args.process_group, "NSINIT_PROCESS_GROUP")?,
            rewrites,
            success,
            pdeathsig,
            grace,
            stop_delay,
            verbose: src.switch(args.verbose, "NSINIT_VERBOSE")?,
            warn_orphans: src.switch(args.warn_orphans, "NSINIT_WARN_ORPHANS")?,
        })
    }

    /// The signal to forward for a received `sig` (0: drop it). The last
    /// rewrite of a signal wins.
    pub fn rewrite(&self, sig: i32) -> i32 {
        self.rewrites
            .iter()
            .rev()
            .find(|(from, _)| *from == sig)
            .map_or(sig, |(_, to)| *to)
    }

    /// The status nsinit exits with for the command's `status`.
    pub fn exit_status(&self, status: i32) -> i32 {
        if self.success.contains(&status) {
            0
        } else {
            status
        }
    }
}

/// `--success-status` (or `NSINIT_SUCCESS_STATUS`, as `origin` says) item
/// `item`: an exit status, 0 to 255.
fn exit_status(origin: &str, item: &str) -> Result<i32, String> {
    item.parse::<i32>()
        .ok()
        .filter(|n| (0..=255).contains(n))
        .ok_or_else(|| format!("{origin}: {item:?} is not an exit status (0..255)"))
}

/// Where a setting comes from: its flag, else its variable, looked up
/// with `env` unless nsinit is `launched`. Each value comes with its
/// origin (`--grace 5s`, `NSINIT_GRACE=5s`), for messages.
struct Sources<E> {
    launched: bool,
    env: E,
}

impl<E: Fn(&str) -> Option<String>> Sources<E> {
    /// The variable `var`, if it counts and is set.
    fn var(&self, var: &str) -> Option<String> {
        if self.launched {
            None
        } else {
            (self.env)(var)
        }
    }

    /// A switch: on with its flag (`on`), else as its variable says.
    fn switch(&self, on: bool, var: &str) -> Result<bool, String> {
        if on {
            return Ok(true);
        }
        self.var(var).map_or(Ok(false), |v| {
            parse_bool(&v).map_err(|e| format!("{var}={v}: {e}"))
        })
    }

    /// A repeatable option: the flags if any were given, else the
    /// variable's comma- or space-separated list.
    fn list(&self, given: &[String], flag: &str, var: &str) -> Vec<(String, String)> {
        if !given.is_empty() {
            return given
                .iter()
                .map(|v| (format!("{flag} {v}"), v.clone()))
                .collect();
        }
        self.var(var)
            .map(|v| {
                v.split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|s| !s.is_empty())
                    .map(|s| (format!("{var}={v}"), s.to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// An option given once: the flag's value, else the variable's.
    fn single(&self, given: &Option<String>, flag: &str, var: &str) -> Option<(String, String)> {
        match given {
            Some(v) => Some((format!("{flag} {v}"), v.clone())),
            None => self.var(var).map(|v| (format!("{var}={v}"), v)),
        }
    }

    /// A duration option, `default` when neither is given.
    fn duration(
        &self,
        given: &Option<String>,
        flag: &str,
        var: &str,
        default: Duration,
    ) -> Result<Duration, String> {
        match self.single(given, flag, var) {
            Some((origin, v)) => parse_duration(&v).map_err(|e| format!("{origin}: {e}")),
            None => Ok(default),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::is_stop_signal;
    use crate::signals::*;
    use alloc::vec;

    fn args(f: impl FnOnce(&mut Flags)) -> Flags {
        let mut a = Flags::default();
        f(&mut a);
        a
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults() {
        let s = Supervision::resolve(&Flags::default(), no_env).unwrap();
        assert_eq!(s, Supervision::default());
        assert_eq!(s.grace, Duration::from_secs(9));
        assert!(
            s.grace < Duration::from_secs(10),
            "the default grace must end before docker's and podman's 10 s stop timeout"
        );
        assert_eq!(s.stop_delay, Duration::ZERO);
        assert_eq!(s.rewrite(SIGTERM), SIGTERM);
        assert_eq!(s.exit_status(143), 143);
    }

    #[test]
    fn flags_win_over_the_environment() {
        let env = |k: &str| match k {
            "NSINIT_GRACE" => Some("3s".to_string()),
            "NSINIT_REWRITE" => Some("TERM:INT, HUP:0".to_string()),
            "NSINIT_SUBREAPER" => Some("yes".to_string()),
            "NSINIT_SUCCESS_STATUS" => Some("143,1".to_string()),
            "NSINIT_PDEATHSIG" => Some("TERM".to_string()),
            "NSINIT_VERBOSE" => Some("0".to_string()),
            "NSINIT_STOP_DELAY" => Some("5s".to_string()),
            _ => None,
        };
        let s = Supervision::resolve(&Flags::default(), env).unwrap();
        assert_eq!(s.grace, Duration::from_secs(3));
        assert_eq!(s.stop_delay, Duration::from_secs(5));
        assert!(s.subreaper && !s.verbose);
        assert_eq!(s.rewrite(SIGTERM), SIGINT);
        assert_eq!(s.rewrite(SIGHUP), 0);
        assert_eq!(s.exit_status(143), 0);
        assert_eq!(s.exit_status(1), 0);
        assert_eq!(s.exit_status(2), 2);
        assert_eq!(s.pdeathsig, Some(SIGTERM));

        let a = args(|a| {
            a.grace = Some("500ms".into());
            a.stop_delay = Some("0".into());
            a.rewrite = vec!["USR1:USR2".into()];
        });
        let s = Supervision::resolve(&a, env).unwrap();
        assert_eq!(s.grace, Duration::from_millis(500));
        assert_eq!(s.stop_delay, Duration::ZERO);
        assert_eq!(s.rewrite(SIGUSR1), SIGUSR2);
        assert_eq!(
            s.rewrite(SIGTERM),
            SIGTERM,
            "flags replace the variable's list"
        );
    }

    #[test]
    fn under_a_launcher_the_environment_is_the_commands() {
        let env = |k: &str| match k {
            "NSINIT_GRACE" => Some("abc".to_string()),
            "NSINIT_PDEATHSIG" => Some("WINCH".to_string()),
            "NSINIT_SUBREAPER" => Some("1".to_string()),
            _ => Some("1".to_string()),
        };
        assert!(Supervision::resolve(&Flags::default(), env).is_err());
        let launched = args(|a| a.launched = true);
        assert_eq!(
            Supervision::resolve(&launched, env),
            Ok(Supervision::default())
        );
        let a = args(|a| {
            a.launched = true;
            a.grace = Some("1s".into());
            a.stop_delay = Some("2s".into());
            a.verbose = true;
        });
        let s = Supervision::resolve(&a, env).unwrap();
        assert_eq!((s.grace, s.verbose), (Duration::from_secs(1), true));
        assert_eq!(s.stop_delay, Duration::from_secs(2));
        assert_eq!(s.pdeathsig, None);
    }

    #[test]
    fn errors_name_the_flag_or_variable() {
        let e = Supervision::resolve(&args(|a| a.grace = Some("soon".into())), no_env).unwrap_err();
        assert!(e.starts_with("--grace soon:"), "{e}");
        let env = |k: &str| (k == "NSINIT_STOP_DELAY").then(|| "-5s".to_string());
        let e = Supervision::resolve(&Flags::default(), env).unwrap_err();
        assert!(e.starts_with("NSINIT_STOP_DELAY=-5s:"), "{e}");
        let env = |k: &str| (k == "NSINIT_REWRITE").then(|| "TERM".to_string());
        let e = Supervision::resolve(&Flags::default(), env).unwrap_err();
        assert!(e.starts_with("NSINIT_REWRITE=TERM:"), "{e}");
        let env = |k: &str| (k == "NSINIT_VERBOSE").then(|| "maybe".to_string());
        assert!(Supervision::resolve(&Flags::default(), env)
            .unwrap_err()
            .starts_with("NSINIT_VERBOSE=maybe"));
        let e = Supervision::resolve(&args(|a| a.success_status = vec!["256".into()]), no_env)
            .unwrap_err();
        assert!(e.contains("--success-status 256"), "{e}");
    }

    #[test]
    fn exit_statuses_are_0_to_255() {
        assert_eq!(exit_status("--success-status 0", "0"), Ok(0));
        assert_eq!(exit_status("--success-status 255", "255"), Ok(255));
        for bad in ["256", "-1", "x", "", "1.0"] {
            let e = exit_status("NSINIT_SUCCESS_STATUS=...", bad).unwrap_err();
            assert_eq!(
                e,
                format!("NSINIT_SUCCESS_STATUS=...: {bad:?} is not an exit status (0..255)")
            );
        }
    }

    #[test]
    fn each_value_carries_its_origin() {
        let env = |k: &str| match k {
            "NSINIT_REWRITE" => Some(" TERM:INT,,HUP:0 ".to_string()),
            "NSINIT_GRACE" => Some("3s".to_string()),
            _ => None,
        };
        let src = Sources {
            launched: false,
            env,
        };
        assert_eq!(
            src.list(&[], "--rewrite", "NSINIT_REWRITE"),
            [
                (
                    "NSINIT_REWRITE= TERM:INT,,HUP:0 ".to_string(),
                    "TERM:INT".to_string()
                ),
                (
                    "NSINIT_REWRITE= TERM:INT,,HUP:0 ".to_string(),
                    "HUP:0".to_string()
                )
            ]
        );
        assert_eq!(
            src.list(&["USR1:0".into()], "--rewrite", "NSINIT_REWRITE"),
            [("--rewrite USR1:0".to_string(), "USR1:0".to_string())]
        );
        assert_eq!(
            src.single(&None, "--grace", "NSINIT_GRACE"),
            Some(("NSINIT_GRACE=3s".to_string(), "3s".to_string()))
        );
        assert_eq!(src.single(&None, "--pdeathsig", "NSINIT_PDEATHSIG"), None);
        assert_eq!(
            src.duration(
                &None,
                "--stop-delay",
                "NSINIT_STOP_DELAY",
                Duration::from_secs(7)
            ),
            Ok(Duration::from_secs(7))
        );
        let launched = Sources {
            launched: true,
            env,
        };
        assert!(launched.list(&[], "--rewrite", "NSINIT_REWRITE").is_empty());
        assert_eq!(launched.single(&None, "--grace", "NSINIT_GRACE"), None);
        assert_eq!(launched.switch(true, "NSINIT_VERBOSE"), Ok(true));
    }

    #[test]
    fn rewrites() {
        assert_eq!(parse_rewrite("TERM:QUIT"), Ok((SIGTERM, SIGQUIT)));
        assert_eq!(parse_rewrite("1:0"), Ok((1, 0)));
        assert_eq!(parse_rewrite("SIGRTMIN+1:USR1").unwrap().1, SIGUSR1);
        assert_eq!(parse_rewrite("TSTP:STOP"), Ok((SIGTSTP, SIGSTOP)));
        assert!(parse_rewrite("TERM").is_err());
        assert!(parse_rewrite("KILL:TERM").is_err());
        assert!(parse_rewrite("CHLD:TERM").is_err());
        assert!(parse_rewrite("0:TERM").is_err());
        assert!(parse_rewrite("TERM:NOPE").is_err());
    }

    #[test]
    fn stop_signals_after_the_rewrite() {
        let s = Supervision::resolve(
            &args(|a| a.rewrite = vec!["TSTP:0".into(), "TTIN:STOP".into(), "USR1:TTOU".into()]),
            no_env,
        )
        .unwrap();
        let stops = |sig| is_stop_signal(s.rewrite(sig));
        assert!(!stops(SIGTSTP), "dropped: no stop");
        assert!(stops(SIGTTIN) && stops(SIGTTOU) && stops(SIGUSR1));
        assert!(!stops(SIGCONT) && !stops(SIGTERM) && !stops(0));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for bad in ["", "s", "-1s", "10x", "1e9", "ten"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn booleans() {
        for t in ["1", "true", "YES", "on"] {
            assert_eq!(parse_bool(t), Ok(true));
        }
        for f in ["0", "false", "No", "off", ""] {
            assert_eq!(parse_bool(f), Ok(false));
        }
        assert!(parse_bool("2").is_err());
    }
}
