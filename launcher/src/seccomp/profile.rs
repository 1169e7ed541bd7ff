//! Profiles in JSON: docker's and podman's format (`defaultAction`,
//! `syscalls[]` with `names` or `name`, `includes`/`excludes` on
//! capabilities, architectures and kernel versions), and the OCI form
//! (`linux.seccomp` of config.json, already resolved by the engine).
//!
//! As the engines do: `includes` keeps a rule only when every capability
//! it lists is in the command's bounding set, the architecture is among
//! its `arches` ("amd64" here) and the kernel is at least `minKernel`;
//! `excludes` drops a rule when any capability it lists is held, the
//! architecture is among its `arches`, or the kernel is at least its
//! `minKernel`. `architectures`/`archMap` change nothing: the filter
//! always covers x86_64, and refuses the other ABIs (see `bpf`).
//! Unknown syscall names are skipped with a warning (names of other
//! architectures' syscalls silently). Every rule is checked (action,
//! errno, operator), even one that does not apply here, so that a typo
//! shows on any machine.

use serde::Deserialize;
use shared::caps::{self, CapSet};

use super::rules::{Action, ArgCmp, Op, Rule, Table, MAX_ERRNO};
use super::syscalls::{self, Lookup, Names};

/// What the engines call this architecture in `includes.arches`.
const ARCH: &str = "amd64";

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub default_action: String,
    pub default_errno_ret: Option<u32>,
    pub default_errno: Option<String>,
    pub syscalls: Option<Vec<Syscall>>,
    pub flags: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Syscall {
    pub name: Option<String>,
    pub names: Option<Vec<String>>,
    pub action: String,
    pub errno_ret: Option<u32>,
    pub errno: Option<String>,
    pub args: Option<Vec<Arg>>,
    pub includes: Option<Condition>,
    pub excludes: Option<Condition>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    #[serde(default)]
    pub index: u32,
    #[serde(default)]
    pub value: u64,
    #[serde(default)]
    pub value_two: Option<u64>,
    pub op: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    pub caps: Option<Vec<String>>,
    pub arches: Option<Vec<String>>,
    pub min_kernel: Option<String>,
}

/// What the profile is checked against.
pub struct Context<'a> {
    /// The command's bounding set.
    pub caps: CapSet,
    /// The running kernel (major, minor), if known.
    pub kernel: Option<(u32, u32)>,
    /// The profile's text, to name the line of an error; `None` for OCI.
    pub text: Option<&'a str>,
    /// How to name the profile in messages (its path, `linux.seccomp`).
    pub label: &'a str,
}

/// A profile resolved for this command and machine.
pub struct Resolved {
    pub table: Table,
    /// `SECCOMP_FILTER_FLAG_*` to load it with.
    pub flags: u32,
    pub warnings: Vec<String>,
}

/// Parse a docker/podman profile; errors carry serde_json's line and column.
pub fn parse(text: &str, label: &str) -> Result<Profile, String> {
    serde_json::from_str(text).map_err(|e| {
        let what = e.to_string();
        let what = what
            .rsplit_once(" at line ")
            .map_or(what.as_str(), |(w, _)| w)
            .to_string();
        format!(
            "{label}: invalid JSON at line {} column {}: {what}",
            e.line(),
            e.column()
        )
    })
}

impl Context<'_> {
    /// `label: line N: what`, the line being the first that holds every
    /// one of `needles` (or no line, when none does or there is no text).
    fn error(&self, needles: &[&str], what: String) -> String {
        match self.line_of(needles) {
            Some(n) => format!("{}: line {n}: {what}", self.label),
            None => format!("{}: {what}", self.label),
        }
    }

    fn line_of(&self, needles: &[&str]) -> Option<usize> {
        let text = self.text?;
        text.lines()
            .position(|l| needles.iter().all(|n| l.contains(n)))
            .map(|i| i + 1)
    }

    fn quoted(s: &str) -> String {
        format!("\"{s}\"")
    }

    fn action(
        &self,
        name: &str,
        errno_ret: Option<u32>,
        errno: Option<&str>,
    ) -> Result<Action, String> {
        let q = Self::quoted(name);
        let data = || self.errno(errno_ret, errno);
        Ok(match name {
            "SCMP_ACT_ALLOW" => Action::Allow,
            "SCMP_ACT_ERRNO" => Action::Errno(data()?),
            "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
            "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
            "SCMP_ACT_TRAP" => Action::Trap,
            "SCMP_ACT_TRACE" => Action::Trace(data()?),
            "SCMP_ACT_LOG" => Action::Log,
            "SCMP_ACT_NOTIFY" => {
                return Err(self.error(
                    &[&q],
                    "SCMP_ACT_NOTIFY is not supported: no seccomp agent".to_string(),
                ))
            }
            _ => return Err(self.error(&[&q], format!("unknown action {q}"))),
        })
    }

    /// The errno of an ERRNO or TRACE action: `errnoRet`, else the name
    /// in `errno`, else EPERM.
    fn errno(&self, errno_ret: Option<u32>, errno: Option<&str>) -> Result<u16, String> {
        if let Some(n) = errno_ret {
            if n > MAX_ERRNO {
                return Err(self.error(
                    &["rrnoRet", &n.to_string()],
                    format!("errno {n} is out of range (0-{MAX_ERRNO})"),
                ));
            }
            return Ok(n as u16);
        }
        match errno {
            None | Some("") => Ok(libc::EPERM as u16),
            Some(name) => syscalls::errno_number(name).ok_or_else(|| {
                let q = Self::quoted(name);
                self.error(&[&q], format!("unknown errno {q}"))
            }),
        }
    }

    fn arg(&self, a: &Arg) -> Result<ArgCmp, String> {
        if a.index > 5 {
            return Err(self.error(
                &["\"index\"", &a.index.to_string()],
                format!("argument index {} is out of range (0-5)", a.index),
            ));
        }
        let two = a.value_two.unwrap_or(0);
        let (op, value) = match a.op.as_str() {
            "SCMP_CMP_EQ" => (Op::Eq, a.value),
            "SCMP_CMP_NE" => (Op::Ne, a.value),
            "SCMP_CMP_LT" => (Op::Lt, a.value),
            "SCMP_CMP_LE" => (Op::Le, a.value),
            "SCMP_CMP_GT" => (Op::Gt, a.value),
            "SCMP_CMP_GE" => (Op::Ge, a.value),
            // value is the mask, valueTwo the value wanted.
            "SCMP_CMP_MASKED_EQ" => (Op::MaskedEq(a.value), two),
            other => {
                let q = Self::quoted(other);
                return Err(self.error(&[&q], format!("unknown operator {q}")));
            }
        };
        Ok(ArgCmp {
            index: a.index as u8,
            op,
            value,
        })
    }

    fn flags(&self, flags: &[String]) -> Result<u32, String> {
        let mut bits = 0;
        for f in flags {
            bits |= match f.as_str() {
                "SECCOMP_FILTER_FLAG_LOG" => libc::SECCOMP_FILTER_FLAG_LOG as u32,
                "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW as u32,
                // nsinit loads the filter in a single-threaded child, and
                // there is no listener: nothing to ask for.
                "SECCOMP_FILTER_FLAG_TSYNC" | "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" => 0,
                other => {
                    let q = Self::quoted(other);
                    return Err(self.error(&[&q], format!("unknown filter flag {q}")));
                }
            };
        }
        Ok(bits)
    }

    /// Whether a rule with these conditions applies here.
    fn applies(
        &self,
        includes: Option<&Condition>,
        excludes: Option<&Condition>,
    ) -> Result<bool, String> {
        let held = |name: &String| caps::number(name).is_ok_and(|c| self.caps.contains(c));
        let ours = |arches: &Option<Vec<String>>| arches.iter().flatten().any(|a| a == ARCH);
        // Both versions first, so that a bad one is an error here too.
        let new_enough = |c: Option<&Condition>| c.map(|c| self.kernel_at_least(c)).transpose();
        let (ex_kernel, inc_kernel) = (
            new_enough(excludes)?.flatten(),
            new_enough(includes)?.flatten(),
        );
        if let Some(ex) = excludes {
            if ex.caps.iter().flatten().any(held) || ours(&ex.arches) || ex_kernel == Some(true) {
                return Ok(false);
            }
        }
        if let Some(inc) = includes {
            if !inc.caps.iter().flatten().all(held)
                || (inc.arches.as_ref().is_some_and(|a| !a.is_empty()) && !ours(&inc.arches))
                || inc_kernel == Some(false)
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Whether the kernel is at least the condition's `minKernel`
    /// (`None`: the condition has none).
    fn kernel_at_least(&self, c: &Condition) -> Result<Option<bool>, String> {
        let Some(v) = c.min_kernel.as_deref().filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let want = parse_version(v).ok_or_else(|| {
            let q = Self::quoted(v);
            self.error(
                &[&q],
                format!("bad minKernel {q} (expected \"MAJOR.MINOR\")"),
            )
        })?;
        // An unknown kernel counts as an old one.
        Ok(Some(self.kernel.is_some_and(|k| k >= want)))
    }
}

/// "5.10" → (5, 10); also the kernel's "6.18.44-foo".
pub fn parse_version(v: &str) -> Option<(u32, u32)> {
    let mut parts = v.trim().splitn(3, '.');
    let major = parts.next()?.parse().ok()?;
    let minor: String = parts
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some((major, minor.parse().ok()?))
}

/// The profile as a table for this command and machine.
pub fn resolve(p: &Profile, cx: &Context) -> Result<Resolved, String> {
    let default = cx.action(
        &p.default_action,
        p.default_errno_ret,
        p.default_errno.as_deref(),
    )?;
    let flags = cx.flags(p.flags.as_deref().unwrap_or(&[]))?;
    let names = Names::new();
    let mut table = Table::new(default);
    let mut warnings: Vec<String> = Vec::new();
    for sc in p.syscalls.iter().flatten() {
        let list: Vec<&str> = match (&sc.name, &sc.names) {
            (Some(n), None) => vec![n.as_str()],
            (None, Some(v)) => v.iter().map(String::as_str).collect(),
            (None, None) => Vec::new(),
            (Some(n), Some(_)) => {
                let q = Context::quoted(n);
                return Err(cx.error(&[&q], "a rule has both \"name\" and \"names\"".to_string()));
            }
        };
        let action = cx.action(&sc.action, sc.errno_ret, sc.errno.as_deref())?;
        let args = sc
            .args
            .iter()
            .flatten()
            .map(|a| cx.arg(a))
            .collect::<Result<Vec<_>, _>>()?;
        if !cx.applies(sc.includes.as_ref(), sc.excludes.as_ref())? {
            continue;
        }
        for name in list {
            match names.lookup(name) {
                Lookup::Number(nr) => table.add(
                    nr,
                    Rule {
                        action,
                        args: args.clone(),
                    },
                ),
                Lookup::OtherArch => {}
                Lookup::Unknown => {
                    let q = Context::quoted(name);
                    let w = cx.error(&[&q], format!("unknown syscall {q} skipped"));
                    if !warnings.contains(&w) {
                        warnings.push(w);
                    }
                }
            }
        }
    }
    Ok(Resolved {
        table,
        flags,
        warnings,
    })
}

/// OCI `linux.seccomp` in the same terms (nothing to resolve: no
/// includes or excludes there).
pub fn from_oci(s: &oci_spec::runtime::LinuxSeccomp) -> Profile {
    use oci_spec::runtime::{LinuxSeccompFilterFlag as F, LinuxSeccompOperator as O};
    let syscalls = s.syscalls().as_ref().map(|v| {
        v.iter()
            .map(|sc| Syscall {
                names: Some(sc.names().clone()),
                action: oci_action(sc.action()).to_string(),
                errno_ret: sc.errno_ret(),
                args: sc.args().as_ref().map(|args| {
                    args.iter()
                        .map(|a| Arg {
                            index: u32::try_from(a.index()).unwrap_or(u32::MAX),
                            value: a.value(),
                            value_two: a.value_two(),
                            op: match a.op() {
                                O::ScmpCmpNe => "SCMP_CMP_NE",
                                O::ScmpCmpLt => "SCMP_CMP_LT",
                                O::ScmpCmpLe => "SCMP_CMP_LE",
                                O::ScmpCmpEq => "SCMP_CMP_EQ",
                                O::ScmpCmpGe => "SCMP_CMP_GE",
                                O::ScmpCmpGt => "SCMP_CMP_GT",
                                O::ScmpCmpMaskedEq => "SCMP_CMP_MASKED_EQ",
                            }
                            .to_string(),
                        })
                        .collect()
                }),
                ..Syscall::default()
            })
            .collect()
    });
    let flags = s.flags().as_ref().map(|v| {
        v.iter()
            .map(|f| {
                match f {
                    F::SeccompFilterFlagLog => "SECCOMP_FILTER_FLAG_LOG",
                    F::SeccompFilterFlagTsync => "SECCOMP_FILTER_FLAG_TSYNC",
                    F::SeccompFilterFlagSpecAllow => "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                    F::SeccompFilterFlagWaitKillableRecv => {
                        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"
                    }
                }
                .to_string()
            })
            .collect()
    });
    Profile {
        default_action: oci_action(s.default_action()).to_string(),
        default_errno_ret: s.default_errno_ret(),
        default_errno: None,
        syscalls,
        flags,
    }
}

fn oci_action(a: oci_spec::runtime::LinuxSeccompAction) -> &'static str {
    use oci_spec::runtime::LinuxSeccompAction as A;
    match a {
        A::ScmpActKill => "SCMP_ACT_KILL",
        A::ScmpActKillThread => "SCMP_ACT_KILL_THREAD",
        A::ScmpActKillProcess => "SCMP_ACT_KILL_PROCESS",
        A::ScmpActTrap => "SCMP_ACT_TRAP",
        A::ScmpActErrno => "SCMP_ACT_ERRNO",
        A::ScmpActNotify => "SCMP_ACT_NOTIFY",
        A::ScmpActTrace => "SCMP_ACT_TRACE",
        A::ScmpActLog => "SCMP_ACT_LOG",
        A::ScmpActAllow => "SCMP_ACT_ALLOW",
    }
}
