//! The OCI runtime command line (runc's contract): global options, then a
//! verb, its options, then its positional arguments.
//!
//! Parsed by hand rather than with argh: the callers (podman through
//! conmon, containerd's shim through go-runc, CRI-O) write `--opt value`
//! and `--opt=value`, runc's short flags (`-d`, `-t`, `-e`, `-u`, `-a`,
//! `-f`), and booleans as `--rootless false`; and `exec ID CMD...` takes
//! the rest of the line as the command. Pure: unit-tested below.

use std::ffi::OsString;

/// The verbs that make a command line an OCI one (`nslaunch [GLOBAL] VERB`).
pub const VERBS: [&str; 13] = [
    "create", "start", "state", "kill", "delete", "exec", "ps", "list", "features", "run", "pause",
    "resume", "spec",
];

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The options before the verb.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Global {
    pub root: Option<String>,
    pub log: Option<String>,
    pub log_format: LogFormat,
    pub debug: bool,
    /// `--systemd-cgroup`: cgroupsPath is `slice:prefix:name`.
    pub systemd_cgroup: bool,
    /// `--rootless true|false|auto` (accepted; we decide from the ids).
    pub rootless: Option<String>,
    pub cgroup_manager: Option<String>,
}

/// One verb and its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    Create(Create),
    /// `run`: create, start and wait, in the foreground.
    Run(Create),
    Start {
        id: String,
    },
    State {
        id: String,
    },
    Kill {
        id: String,
        signal: String,
        all: bool,
    },
    Delete {
        id: String,
        force: bool,
    },
    Exec(Box<Exec>),
    Ps {
        id: String,
        json: bool,
    },
    List {
        json: bool,
        quiet: bool,
    },
    Features,
    Pause {
        id: String,
    },
    Resume {
        id: String,
    },
    Spec {
        bundle: Option<String>,
        rootless: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Create {
    pub id: String,
    pub bundle: Option<String>,
    pub pid_file: Option<String>,
    pub console_socket: Option<String>,
    pub preserve_fds: u32,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    /// `run --detach`.
    pub detach: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Exec {
    pub id: String,
    pub process: Option<String>,
    pub detach: bool,
    pub pid_file: Option<String>,
    pub console_socket: Option<String>,
    pub tty: bool,
    pub cwd: Option<String>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub additional_gids: Vec<String>,
    pub caps: Vec<String>,
    pub no_new_privs: bool,
    pub preserve_fds: u32,
    pub args: Vec<OsString>,
}

/// What a command line is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Not an OCI command line: nslaunch's own (`--rootfs ... CMD`).
    NotOci,
    /// `--version` before any verb.
    Version,
    /// `--help` before any verb, or `VERB --help`.
    Help(Option<&'static str>),
    Oci(Global, Verb),
}

/// A usage error: one line, naming the flag or argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

/// One option a verb (or the global level) takes.
struct Opt {
    names: &'static [&'static str],
    value: bool,
}

const fn flag(names: &'static [&'static str]) -> Opt {
    Opt {
        names,
        value: false,
    }
}

const fn valued(names: &'static [&'static str]) -> Opt {
    Opt { names, value: true }
}

const GLOBAL: &[Opt] = &[
    valued(&["--root"]),
    valued(&["--log"]),
    valued(&["--log-format"]),
    flag(&["--debug"]),
    flag(&["--systemd-cgroup"]),
    valued(&["--rootless"]),
    valued(&["--cgroup-manager"]),
    valued(&["--criu"]),
];

/// Global options that take a value: to find the verb before parsing.
fn global_takes_value(name: &str) -> Option<bool> {
    GLOBAL
        .iter()
        .find(|o| o.names.contains(&name))
        .map(|o| o.value)
}

/// Split `--name=value` (only for names starting with `--`).
fn split_eq(arg: &str) -> (&str, Option<&str>) {
    match arg.strip_prefix("--").and_then(|_| arg.split_once('=')) {
        Some((n, v)) => (n, Some(v)),
        None => (arg, None),
    }
}

/// Parse argv (without argv\[0\]).
pub fn parse(argv: &[OsString]) -> Result<Parsed, UsageError> {
    // Options are UTF-8; a non-UTF-8 word can only be part of exec's
    // command, which is taken as bytes below.
    let text: Vec<Option<&str>> = argv.iter().map(|a| a.to_str()).collect();
    let mut i = 0;
    let mut global = Global::default();
    while i < argv.len() {
        let Some(arg) = text[i] else {
            return Ok(Parsed::NotOci);
        };
        if arg == "--version" {
            return Ok(Parsed::Version);
        }
        if VERBS.contains(&arg) {
            let verb = parse_verb(arg, &argv[i + 1..])?;
            return Ok(match verb {
                Some(v) => Parsed::Oci(global, v),
                None => Parsed::Help(VERBS.iter().copied().find(|v| *v == arg)),
            });
        }
        let (name, inline) = split_eq(arg);
        match global_takes_value(name) {
            None => return Ok(Parsed::NotOci),
            Some(takes) => {
                let value = if takes {
                    match inline {
                        Some(v) => Some(v.to_string()),
                        None => {
                            i += 1;
                            Some(
                                text.get(i)
                                    .copied()
                                    .flatten()
                                    .ok_or_else(|| missing(name))?
                                    .to_string(),
                            )
                        }
                    }
                } else {
                    inline.map(str::to_string)
                };
                set_global(&mut global, name, value)?;
            }
        }
        i += 1;
    }
    // Only global options (or none): not a command line of ours either
    // way; `nslaunch --root X` alone is a usage error of the OCI kind.
    if argv.is_empty() {
        Ok(Parsed::NotOci)
    } else {
        Err(UsageError(
            "no verb given after the global options (create, start, state, kill, delete, exec, ps, list, features)".into(),
        ))
    }
}

fn missing(name: &str) -> UsageError {
    UsageError(format!("{name}: needs a value"))
}

fn set_global(g: &mut Global, name: &str, value: Option<String>) -> Result<(), UsageError> {
    match name {
        "--root" => g.root = value,
        "--log" => g.log = value,
        "--log-format" => {
            g.log_format = match value.as_deref() {
                Some("text") => LogFormat::Text,
                Some("json") => LogFormat::Json,
                other => {
                    return Err(UsageError(format!(
                        "--log-format {}: expected text or json",
                        other.unwrap_or("")
                    )))
                }
            }
        }
        "--debug" => g.debug = bool_value(name, value.as_deref())?,
        "--systemd-cgroup" => g.systemd_cgroup = bool_value(name, value.as_deref())?,
        "--rootless" => {
            let v = value.unwrap_or_default();
            if !matches!(v.as_str(), "true" | "false" | "auto") {
                return Err(UsageError(format!(
                    "--rootless {v}: expected true, false or auto"
                )));
            }
            g.rootless = Some(v);
        }
        "--cgroup-manager" => g.cgroup_manager = value,
        // runc's checkpoint tool: accepted, unused (no checkpoint verbs).
        "--criu" => {}
        _ => unreachable!("GLOBAL lists {name}"),
    }
    Ok(())
}

/// A switch, or `--switch=true|false`.
fn bool_value(name: &str, value: Option<&str>) -> Result<bool, UsageError> {
    match value {
        None | Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(v) => Err(UsageError(format!("{name}={v}: expected true or false"))),
    }
}

/// The options of one verb, as (name, value) pairs in order, and the
/// positional words after them. `None`: `--help` was asked.
struct Words {
    opts: Vec<(&'static str, Option<String>)>,
    rest: Vec<OsString>,
}

fn split_words(verb: &str, table: &[Opt], args: &[OsString]) -> Result<Option<Words>, UsageError> {
    let mut opts = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let Some(arg) = args[i].to_str() else { break };
        if arg == "--" {
            i += 1;
            break;
        }
        if arg == "-h" || arg == "--help" {
            return Ok(None);
        }
        if !arg.starts_with('-') || arg == "-" {
            break;
        }
        let (name, inline) = split_eq(arg);
        let opt = table
            .iter()
            .find(|o| o.names.contains(&name))
            .ok_or_else(|| UsageError(format!("{verb}: unknown option {name}")))?;
        let canonical = opt.names[0];
        let value = if opt.value {
            match inline {
                Some(v) => Some(v.to_string()),
                None => {
                    i += 1;
                    let v = args
                        .get(i)
                        .ok_or_else(|| missing(canonical))?
                        .to_str()
                        .ok_or_else(|| {
                            UsageError(format!("{verb} {canonical}: the value is not valid UTF-8"))
                        })?;
                    Some(v.to_string())
                }
            }
        } else {
            Some(bool_value(canonical, inline)?.to_string())
        };
        opts.push((canonical, value));
        i += 1;
    }
    Ok(Some(Words {
        opts,
        rest: args[i..].to_vec(),
    }))
}

impl Words {
    fn value(&self, name: &str) -> Option<String> {
        self.opts
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v.clone())
    }
    fn values(&self, name: &str) -> Vec<String> {
        self.opts
            .iter()
            .filter(|(n, _)| *n == name)
            .filter_map(|(_, v)| v.clone())
            .collect()
    }
    fn on(&self, name: &str) -> bool {
        self.value(name).is_some_and(|v| v == "true")
    }
    fn number(&self, name: &str) -> Result<u32, UsageError> {
        match self.value(name) {
            None => Ok(0),
            Some(v) => v
                .parse()
                .map_err(|_| UsageError(format!("{name} {v}: expected a number"))),
        }
    }
    /// Exactly the positional words `names` (then nothing else).
    fn positional(&self, verb: &str, names: &[&str]) -> Result<Vec<String>, UsageError> {
        let got: Vec<String> = self
            .rest
            .iter()
            .map(|w| {
                w.to_str()
                    .map(str::to_string)
                    .ok_or_else(|| UsageError(format!("{verb}: argument {w:?} is not valid UTF-8")))
            })
            .collect::<Result<_, _>>()?;
        if got.len() < names.len() {
            return Err(UsageError(format!(
                "{verb}: missing {} (usage: nslaunch {verb} [OPTIONS] {})",
                names[got.len()],
                names.join(" ")
            )));
        }
        if got.len() > names.len() {
            return Err(UsageError(format!(
                "{verb}: unexpected argument {:?}",
                got[names.len()]
            )));
        }
        Ok(got)
    }
}

const CREATE: &[Opt] = &[
    valued(&["--bundle", "-b"]),
    valued(&["--pid-file"]),
    valued(&["--console-socket"]),
    valued(&["--preserve-fds"]),
    flag(&["--no-pivot"]),
    flag(&["--no-new-keyring"]),
    flag(&["--detach", "-d"]),
    flag(&["--keep"]),
    flag(&["--no-subreaper"]),
];
const EXEC: &[Opt] = &[
    valued(&["--process", "-p"]),
    flag(&["--detach", "-d"]),
    valued(&["--pid-file"]),
    valued(&["--console-socket"]),
    flag(&["--tty", "-t"]),
    valued(&["--cwd"]),
    valued(&["--env", "-e"]),
    valued(&["--user", "-u"]),
    valued(&["--additional-gids", "-g"]),
    valued(&["--cap", "-c"]),
    flag(&["--no-new-privs"]),
    valued(&["--preserve-fds"]),
    valued(&["--process-label"]),
    valued(&["--apparmor"]),
    valued(&["--cgroup"]),
    flag(&["--ignore-paused"]),
    flag(&["--no-subreaper"]),
];
const KILL: &[Opt] = &[flag(&["--all", "-a"])];
const DELETE: &[Opt] = &[flag(&["--force", "-f"])];
const FORMAT: &[Opt] = &[valued(&["--format", "-f"]), flag(&["--quiet", "-q"])];
const SPEC: &[Opt] = &[valued(&["--bundle", "-b"]), flag(&["--rootless"])];
const NONE: &[Opt] = &[];

/// Every long option of the OCI command line (global and per verb), for
/// the tests that keep the help texts and the man page in step.
#[cfg(test)]
pub fn option_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = [GLOBAL, CREATE, EXEC, KILL, DELETE, FORMAT, SPEC]
        .iter()
        .flat_map(|t| t.iter().flat_map(|o| o.names.iter().copied()))
        .filter(|n| n.starts_with("--"))
        .collect();
    names.push("--version");
    names.sort_unstable();
    names.dedup();
    names
}

fn parse_verb(verb: &str, args: &[OsString]) -> Result<Option<Verb>, UsageError> {
    let table = match verb {
        "create" | "run" => CREATE,
        "exec" => EXEC,
        "kill" => KILL,
        "delete" => DELETE,
        "ps" | "list" => FORMAT,
        "spec" => SPEC,
        _ => NONE,
    };
    let Some(w) = split_words(verb, table, args)? else {
        return Ok(None);
    };
    let id = || w.positional(verb, &["ID"]).map(|mut v| v.remove(0));
    Ok(Some(match verb {
        "create" | "run" => create_verb(verb, &w)?,
        "start" => Verb::Start { id: id()? },
        "state" => Verb::State { id: id()? },
        "pause" => Verb::Pause { id: id()? },
        "resume" => Verb::Resume { id: id()? },
        "kill" => kill_verb(&w)?,
        "delete" => Verb::Delete {
            id: id()?,
            force: w.on("--force"),
        },
        // runc passes anything after the ID to ps(1); we print pids
        // ourselves and take no ps arguments.
        "ps" => Verb::Ps {
            id: id()?,
            json: json_format(verb, &w)?,
        },
        "list" => {
            w.positional(verb, &[])?;
            Verb::List {
                json: json_format(verb, &w)?,
                quiet: w.on("--quiet"),
            }
        }
        "features" => {
            w.positional(verb, &[])?;
            Verb::Features
        }
        "spec" => {
            w.positional(verb, &[])?;
            Verb::Spec {
                bundle: w.value("--bundle"),
                rootless: w.on("--rootless"),
            }
        }
        "exec" => Verb::Exec(Box::new(exec(&w)?)),
        _ => unreachable!("VERBS lists {verb}"),
    }))
}

/// `create ID` and `run ID`, with their options.
fn create_verb(verb: &str, w: &Words) -> Result<Verb, UsageError> {
    let c = Create {
        id: w.positional(verb, &["ID"])?.remove(0),
        bundle: w.value("--bundle"),
        pid_file: w.value("--pid-file"),
        console_socket: w.value("--console-socket"),
        preserve_fds: w.number("--preserve-fds")?,
        no_pivot: w.on("--no-pivot"),
        no_new_keyring: w.on("--no-new-keyring"),
        detach: w.on("--detach"),
    };
    Ok(if verb == "create" {
        Verb::Create(c)
    } else {
        Verb::Run(c)
    })
}

/// `kill ID [SIGNAL]`: SIGTERM when no signal is given.
fn kill_verb(w: &Words) -> Result<Verb, UsageError> {
    let mut p = w.rest.clone();
    if p.len() == 1 {
        p.push("TERM".into());
    }
    let w2 = Words {
        opts: w.opts.clone(),
        rest: p,
    };
    let mut v = w2.positional("kill", &["ID", "SIGNAL"])?;
    let signal = v.pop().unwrap_or_default();
    Ok(Verb::Kill {
        id: v.remove(0),
        signal,
        all: w.on("--all"),
    })
}

/// `--format table|json`: whether it is json.
fn json_format(verb: &str, w: &Words) -> Result<bool, UsageError> {
    match w.value("--format").as_deref() {
        None | Some("table") => Ok(false),
        Some("json") => Ok(true),
        Some(other) => Err(UsageError(format!(
            "{verb} --format {other}: expected table or json"
        ))),
    }
}

fn exec(w: &Words) -> Result<Exec, UsageError> {
    let mut rest = w.rest.iter();
    let id = rest
        .next()
        .ok_or_else(|| {
            UsageError("exec: missing ID (usage: nslaunch exec [OPTIONS] ID [CMD...])".into())
        })?
        .to_str()
        .ok_or_else(|| UsageError("exec: the ID is not valid UTF-8".into()))?
        .to_string();
    let args: Vec<OsString> = rest.cloned().collect();
    let process = w.value("--process");
    if process.is_none() && args.is_empty() {
        return Err(UsageError(
            "exec: give --process FILE or a command after the ID".into(),
        ));
    }
    if process.is_some() && !args.is_empty() {
        return Err(UsageError(
            "exec: give either --process FILE or a command, not both".into(),
        ));
    }
    Ok(Exec {
        id,
        process,
        detach: w.on("--detach"),
        pid_file: w.value("--pid-file"),
        console_socket: w.value("--console-socket"),
        tty: w.on("--tty"),
        cwd: w.value("--cwd"),
        env: w.values("--env"),
        user: w.value("--user"),
        additional_gids: w.values("--additional-gids"),
        caps: w.values("--cap"),
        no_new_privs: w.on("--no-new-privs"),
        preserve_fds: w.number("--preserve-fds")?,
        args,
    })
}

/// A container ID: what runc accepts (letters, digits, `_`, `+`, `-`,
/// `.`), not `.` or `..`, at most 1024 bytes; it names a directory.
pub fn check_id(id: &str) -> Result<(), UsageError> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(UsageError(format!(
            "invalid container ID {id:?}: use letters, digits, '_', '+', '-' and '.'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    fn oci(words: &[&str]) -> (Global, Verb) {
        match parse(&argv(words)).unwrap() {
            Parsed::Oci(g, v) => (g, v),
            other => panic!("{words:?}: {other:?}"),
        }
    }

    #[test]
    fn plain_command_lines_are_not_oci() {
        for words in [
            &["--rootfs", "r", "create"][..],
            &["-v", "a:/b", "--rootfs", "r", "sh"],
            &["check"],
            &[],
            &["--rootfs", "r", "--", "start"],
        ] {
            assert_eq!(parse(&argv(words)).unwrap(), Parsed::NotOci, "{words:?}");
        }
    }

    #[test]
    fn podman_and_go_runc_command_lines() {
        let (g, v) = oci(&[
            "--root",
            "/run/x",
            "--log=/tmp/l",
            "--log-format=json",
            "--systemd-cgroup",
            "create",
            "--bundle",
            "/b",
            "--pid-file",
            "/b/pid",
            "--console-socket=/s",
            "--preserve-fds",
            "2",
            "c1",
        ]);
        assert_eq!(g.root.as_deref(), Some("/run/x"));
        assert_eq!(g.log.as_deref(), Some("/tmp/l"));
        assert_eq!(g.log_format, LogFormat::Json);
        assert!(g.systemd_cgroup);
        let Verb::Create(c) = v else { panic!() };
        assert_eq!(c.id, "c1");
        assert_eq!(c.bundle.as_deref(), Some("/b"));
        assert_eq!(c.pid_file.as_deref(), Some("/b/pid"));
        assert_eq!(c.console_socket.as_deref(), Some("/s"));
        assert_eq!(c.preserve_fds, 2);

        let (g, v) = oci(&["--rootless", "false", "kill", "--all", "c1", "KILL"]);
        assert_eq!(g.rootless.as_deref(), Some("false"));
        assert_eq!(
            v,
            Verb::Kill {
                id: "c1".into(),
                signal: "KILL".into(),
                all: true
            }
        );
        let (_, v) = oci(&["kill", "c1"]);
        assert_eq!(
            v,
            Verb::Kill {
                id: "c1".into(),
                signal: "TERM".into(),
                all: false
            }
        );
        let (_, v) = oci(&["delete", "-f", "c1"]);
        assert_eq!(
            v,
            Verb::Delete {
                id: "c1".into(),
                force: true
            }
        );
        let (_, v) = oci(&["ps", "--format", "json", "c1"]);
        assert_eq!(
            v,
            Verb::Ps {
                id: "c1".into(),
                json: true
            }
        );
    }

    #[test]
    fn exec_takes_the_rest_as_the_command() {
        let (_, v) = oci(&[
            "exec", "-t", "-e", "A=1", "--env", "B=2", "--cwd", "/w", "c1", "sh", "-c", "exit 3",
        ]);
        let Verb::Exec(e) = v else { panic!() };
        assert!(e.tty);
        assert_eq!(e.env, ["A=1", "B=2"]);
        assert_eq!(e.cwd.as_deref(), Some("/w"));
        assert_eq!(e.args, argv(&["sh", "-c", "exit 3"]));
        let (_, v) = oci(&[
            "exec",
            "--process",
            "/p.json",
            "--detach",
            "--pid-file",
            "/pid",
            "c1",
        ]);
        let Verb::Exec(e) = v else { panic!() };
        assert!(e.detach);
        assert_eq!(e.process.as_deref(), Some("/p.json"));
        assert!(e.args.is_empty());
    }

    #[test]
    fn usage_errors_name_what_is_wrong() {
        for (words, want) in [
            (&["create"][..], "missing ID"),
            (&["start", "a", "b"], "unexpected argument"),
            (&["create", "--bogus", "x"], "--bogus"),
            (&["--log-format", "xml", "state", "x"], "--log-format xml"),
            (&["--root"], "--root: needs a value"),
            (&["exec", "c1"], "--process"),
            (&["create", "--preserve-fds", "x", "c"], "--preserve-fds x"),
            (&["--root", "/x"], "no verb"),
        ] {
            let e = parse(&argv(words)).unwrap_err();
            assert!(e.0.contains(want), "{words:?}: {}", e.0);
        }
    }

    #[test]
    fn version_and_help() {
        assert_eq!(parse(&argv(&["--version"])).unwrap(), Parsed::Version);
        assert_eq!(
            parse(&argv(&["kill", "--help"])).unwrap(),
            Parsed::Help(Some("kill"))
        );
    }

    #[test]
    fn ids() {
        for good in ["a", "ab-12_c.d+e", &"x".repeat(1024)] {
            assert!(check_id(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "ä", &"x".repeat(1025)] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }
}
