//! The filter as data, before it becomes BPF: per syscall number, rules
//! on its arguments and what happens when none matches. Both the
//! built-in profile and JSON profiles end here; [`Table::leaves`] puts
//! each syscall's rules into the order the program tests them.

use std::collections::BTreeMap;

/// What the kernel does with a syscall (`SECCOMP_RET_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    KillProcess,
    KillThread,
    /// SIGSYS to the thread.
    Trap,
    /// Fail with this errno (0..=4095; 0 returns 0 without running it).
    Errno(u16),
    /// Tell a ptrace tracer, with this message; ENOSYS without one.
    Trace(u16),
    /// Allowed, and logged.
    Log,
    Allow,
}

/// The largest errno the kernel turns into a failed syscall (MAX_ERRNO).
pub const MAX_ERRNO: u32 = 4095;

impl Action {
    /// The filter's return value.
    pub fn ret(self) -> u32 {
        match self {
            Action::KillProcess => libc::SECCOMP_RET_KILL_PROCESS,
            Action::KillThread => libc::SECCOMP_RET_KILL_THREAD,
            Action::Trap => libc::SECCOMP_RET_TRAP,
            Action::Errno(e) => libc::SECCOMP_RET_ERRNO | u32::from(e),
            Action::Trace(m) => libc::SECCOMP_RET_TRACE | u32::from(m),
            Action::Log => libc::SECCOMP_RET_LOG,
            Action::Allow => libc::SECCOMP_RET_ALLOW,
        }
    }

    /// 0 for the most restrictive: when several rules of one syscall
    /// match, the lowest wins (libseccomp's and the kernel's order:
    /// KILL_PROCESS > KILL_THREAD > TRAP > ERRNO > TRACE > LOG > ALLOW).
    pub fn severity(self) -> u8 {
        match self {
            Action::KillProcess => 0,
            Action::KillThread => 1,
            Action::Trap => 2,
            Action::Errno(_) => 3,
            Action::Trace(_) => 4,
            Action::Log => 5,
            Action::Allow => 6,
        }
    }

    /// For the summary: "allowed", "denied with EPERM", ...
    pub fn describe(self) -> String {
        match self {
            Action::KillProcess => "kill the process".into(),
            Action::KillThread => "kill the thread".into(),
            Action::Trap => "raise SIGSYS".into(),
            Action::Errno(e) => format!("denied with {}", super::syscalls::errno_name(e)),
            Action::Trace(m) => format!("traced ({m})"),
            Action::Log => "logged".into(),
            Action::Allow => "allowed".into(),
        }
    }
}

/// A comparison of one 64-bit syscall argument (unsigned).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `(arg & mask) == value`.
    MaskedEq(u64),
}

/// `args[index] OP value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ArgCmp {
    /// 0..=5.
    pub index: u8,
    pub op: Op,
    pub value: u64,
}

impl ArgCmp {
    /// The reference semantics, which the compiled program must follow.
    #[cfg(test)]
    pub fn matches(&self, args: &[u64; 6]) -> bool {
        let a = args[usize::from(self.index)];
        let v = self.value;
        match self.op {
            Op::Eq => a == v,
            Op::Ne => a != v,
            Op::Lt => a < v,
            Op::Le => a <= v,
            Op::Gt => a > v,
            Op::Ge => a >= v,
            Op::MaskedEq(mask) => a & mask == v,
        }
    }
}

/// If every comparison holds (none: always), `action`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    pub action: Action,
    pub args: Vec<ArgCmp>,
}

impl Rule {
    /// `action` whatever the arguments.
    pub fn always(action: Action) -> Rule {
        Rule {
            action,
            args: Vec::new(),
        }
    }

    /// `action` when `args[index] OP value`.
    pub fn when(index: u8, op: Op, value: u64, action: Action) -> Rule {
        Rule {
            action,
            args: vec![ArgCmp { index, op, value }],
        }
    }

    #[cfg(test)]
    pub fn matches(&self, args: &[u64; 6]) -> bool {
        self.args.iter().all(|c| c.matches(args))
    }
}

/// One syscall's decision: the first rule that matches, else `otherwise`.
/// After [`Call::normalize`] the rules are in the order they are tested.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Leaf {
    pub rules: Vec<Rule>,
    pub otherwise: Action,
}

impl Leaf {
    pub fn constant(action: Action) -> Leaf {
        Leaf {
            rules: Vec::new(),
            otherwise: action,
        }
    }

    /// The action for these arguments (the reference for tests).
    #[cfg(test)]
    pub fn decide(&self, args: &[u64; 6]) -> Action {
        self.rules
            .iter()
            .find(|r| r.matches(args))
            .map_or(self.otherwise, |r| r.action)
    }
}

/// A syscall's rules as written, and what happens when none matches
/// (the profile's default action, unless the built-in profile says
/// otherwise).
#[derive(Clone, Debug)]
struct Call {
    rules: Vec<Rule>,
    otherwise: Action,
}

impl Call {
    /// The rules in testing order: the most restrictive first (so the
    /// first that matches is the one that wins), nothing after a rule
    /// without arguments (it always matches: it becomes `otherwise`), no
    /// repeated rule, and no rule at the end that only says what
    /// `otherwise` says.
    fn normalize(&self) -> Leaf {
        let mut rules = self.rules.clone();
        rules.sort_by_key(|r| r.action.severity()); // stable: profile order within a class
        let mut otherwise = self.otherwise;
        if let Some(i) = rules.iter().position(|r| r.args.is_empty()) {
            otherwise = rules[i].action;
            rules.truncate(i);
        }
        let mut seen: Vec<Rule> = Vec::with_capacity(rules.len());
        for r in rules {
            if !seen.contains(&r) {
                seen.push(r);
            }
        }
        while seen.last().is_some_and(|r| r.action == otherwise) {
            seen.pop();
        }
        Leaf {
            rules: seen,
            otherwise,
        }
    }
}

/// The whole filter for the native architecture: what each syscall
/// number gets; numbers not in `calls` get `default`.
#[derive(Clone, Debug)]
pub struct Table {
    pub default: Action,
    calls: BTreeMap<u32, Call>,
}

impl Table {
    pub fn new(default: Action) -> Table {
        Table {
            default,
            calls: BTreeMap::new(),
        }
    }

    fn call(&mut self, nr: u32) -> &mut Call {
        let default = self.default;
        self.calls.entry(nr).or_insert_with(|| Call {
            rules: Vec::new(),
            otherwise: default,
        })
    }

    /// Add a rule for `nr` (rules of one syscall are ORed, the most
    /// restrictive match winning).
    pub fn add(&mut self, nr: u32, rule: Rule) {
        self.call(nr).rules.push(rule);
    }

    /// What `nr` gets when none of its rules matches (default: the
    /// table's default action).
    pub fn otherwise(&mut self, nr: u32, action: Action) {
        self.call(nr).otherwise = action;
    }

    /// Each named syscall's leaf, by number.
    pub fn leaves(&self) -> BTreeMap<u32, Leaf> {
        self.calls
            .iter()
            .map(|(nr, c)| (*nr, c.normalize()))
            .collect()
    }
}

/// Counts for the summary line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Syscalls allowed whatever their arguments.
    pub allowed: usize,
    /// Syscalls decided on their arguments.
    pub by_args: usize,
    /// Other constant actions that differ from the default, by action,
    /// in order of severity.
    pub others: Vec<(Action, usize)>,
}

pub fn count(leaves: &BTreeMap<u32, Leaf>, default: Action) -> Counts {
    let mut c = Counts::default();
    for leaf in leaves.values() {
        if !leaf.rules.is_empty() {
            c.by_args += 1;
        } else if leaf.otherwise == Action::Allow {
            c.allowed += 1;
        } else if leaf.otherwise != default {
            match c.others.iter_mut().find(|(a, _)| *a == leaf.otherwise) {
                Some((_, n)) => *n += 1,
                None => c.others.push((leaf.otherwise, 1)),
            }
        }
    }
    c.others.sort_by_key(|(a, _)| (a.severity(), a.ret()));
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eq(index: u8, value: u64) -> ArgCmp {
        ArgCmp {
            index,
            op: Op::Eq,
            value,
        }
    }

    #[test]
    fn the_most_restrictive_rule_comes_first() {
        let mut t = Table::new(Action::Errno(38));
        t.add(
            1,
            Rule {
                action: Action::Allow,
                args: vec![eq(0, 1)],
            },
        );
        t.add(
            1,
            Rule {
                action: Action::KillProcess,
                args: vec![eq(1, 2)],
            },
        );
        t.add(
            1,
            Rule {
                action: Action::Errno(1),
                args: vec![eq(0, 1), eq(1, 3)],
            },
        );
        let leaf = &t.leaves()[&1];
        let order: Vec<Action> = leaf.rules.iter().map(|r| r.action).collect();
        assert_eq!(
            order,
            vec![Action::KillProcess, Action::Errno(1), Action::Allow]
        );
        assert_eq!(leaf.decide(&[1, 3, 0, 0, 0, 0]), Action::Errno(1));
        assert_eq!(leaf.decide(&[1, 2, 0, 0, 0, 0]), Action::KillProcess);
        assert_eq!(leaf.decide(&[1, 0, 0, 0, 0, 0]), Action::Allow);
        assert_eq!(leaf.decide(&[0, 0, 0, 0, 0, 0]), Action::Errno(38));
    }

    #[test]
    fn a_rule_without_arguments_decides_what_is_left() {
        // podman's setns: allowed by the big list, EPERM without SYS_ADMIN.
        let mut t = Table::new(Action::Errno(38));
        let allow = Rule {
            action: Action::Allow,
            args: vec![],
        };
        t.add(5, allow.clone());
        t.add(
            5,
            Rule {
                action: Action::Errno(1),
                args: vec![],
            },
        );
        assert_eq!(t.leaves()[&5], Leaf::constant(Action::Errno(1)));
        // An ALLOW on arguments under an unconditional ALLOW says nothing.
        t.add(
            6,
            Rule {
                action: Action::Allow,
                args: vec![eq(0, 0)],
            },
        );
        t.add(6, allow.clone());
        t.add(6, allow);
        assert_eq!(t.leaves()[&6], Leaf::constant(Action::Allow));
    }

    #[test]
    fn repeated_and_trailing_redundant_rules_go() {
        let mut t = Table::new(Action::Errno(38));
        let r = Rule {
            action: Action::Errno(1),
            args: vec![eq(2, 9)],
        };
        t.add(7, r.clone());
        t.add(7, r.clone());
        // Tested last, and says what no match says anyway.
        t.add(
            7,
            Rule {
                action: Action::Errno(38),
                args: vec![eq(0, 1)],
            },
        );
        let leaf = &t.leaves()[&7];
        assert_eq!(leaf.rules, vec![r]);
        assert_eq!(leaf.otherwise, Action::Errno(38));
        // Not so when a less restrictive rule follows it.
        t.add(
            7,
            Rule {
                action: Action::Allow,
                args: vec![eq(1, 1)],
            },
        );
        assert_eq!(t.leaves()[&7].rules.len(), 3);
    }

    #[test]
    fn severity_follows_the_kernels_order() {
        let order = [
            Action::KillProcess,
            Action::KillThread,
            Action::Trap,
            Action::Errno(1),
            Action::Trace(1),
            Action::Log,
            Action::Allow,
        ];
        for w in order.windows(2) {
            assert!(w[0].severity() < w[1].severity());
        }
    }
}
