//! The compiled programs, run by the interpreter in `interp` (and once
//! by the kernel itself), against the decisions they must make.

use std::collections::BTreeMap;

use proptest::prelude::*;
use shared::caps::{self, CapSet};

use super::default::{ALLOWED, BY_CAPABILITY, DENIED, PERSONAS, PTRACE_FAMILY};
use super::interp::{run, Outcome};
use super::rules::{Action, ArgCmp, Leaf, Op, Rule, Table};
use super::syscalls::{
    nr, Lookup, Names, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, TABLE, X32_SYSCALL_BIT,
};
use super::*;

const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
const ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
const EINVAL: u32 = libc::SECCOMP_RET_ERRNO | libc::EINVAL as u32;
const KERNEL: Option<(u32, u32)> = Some((6, 1));

fn docker() -> CapSet {
    CapSet::docker_default()
}

fn cap(name: &str) -> u32 {
    caps::number(name).unwrap()
}

fn at(f: &Filter, nr: u32, args: [u64; 6]) -> Outcome {
    run(&f.program, AUDIT_ARCH_X86_64, nr, &args)
}

fn decide(f: &Filter, nr: u32, args: [u64; 6]) -> u32 {
    at(f, nr, args).ret
}

fn a0(v: u64) -> [u64; 6] {
    [v, 0, 0, 0, 0, 0]
}

fn default_for(caps: CapSet) -> Filter {
    built_in(caps, KERNEL).unwrap()
}

#[test]
fn the_default_profile_decides_as_documented() {
    let plain = default_for(docker());
    let admin = default_for(docker().with(cap("SYS_ADMIN")));
    let newuser = libc::CLONE_NEWUSER as u64 | libc::SIGCHLD as u64;
    let thread = (libc::CLONE_VM
        | libc::CLONE_FS
        | libc::CLONE_FILES
        | libc::CLONE_SIGHAND
        | libc::CLONE_THREAD
        | libc::CLONE_SYSVSEM
        | libc::CLONE_SETTLS
        | libc::CLONE_PARENT_SETTID
        | libc::CLONE_CHILD_CLEARTID) as u64;
    let cases: &[(&str, &Filter, u32, [u64; 6], u32)] = &[
        ("getpid", &plain, nr::getpid, a0(0), ALLOW),
        ("read", &plain, nr::read, a0(0), ALLOW),
        ("keyctl", &plain, nr::keyctl, a0(0), EPERM),
        ("add_key", &plain, nr::add_key, a0(0), EPERM),
        ("keyctl with SYS_ADMIN", &admin, nr::keyctl, a0(0), EPERM),
        ("unknown 1000", &plain, 1000, a0(0), ENOSYS),
        ("unknown 471", &plain, 471, a0(0), ENOSYS),
        ("io_uring_setup", &plain, nr::io_uring_setup, a0(0), ENOSYS),
        ("clone NEWUSER", &plain, nr::clone, a0(newuser), EPERM),
        (
            "clone NEWUSER, SYS_ADMIN",
            &admin,
            nr::clone,
            a0(newuser),
            ALLOW,
        ),
        ("clone a thread", &plain, nr::clone, a0(thread), ALLOW),
        (
            "clone fork",
            &plain,
            nr::clone,
            a0(libc::SIGCHLD as u64),
            ALLOW,
        ),
        ("clone, high word", &plain, nr::clone, a0(1 << 40), ALLOW),
        ("clone3", &plain, nr::clone3, a0(0), ENOSYS),
        ("clone3, SYS_ADMIN", &admin, nr::clone3, a0(0), ALLOW),
        ("personality(0)", &plain, nr::personality, a0(0), ALLOW),
        (
            "personality(query)",
            &plain,
            nr::personality,
            a0(0xffff_ffff),
            ALLOW,
        ),
        (
            "personality(0x12345)",
            &plain,
            nr::personality,
            a0(0x12345),
            ENOSYS,
        ),
        (
            "personality, high word",
            &plain,
            nr::personality,
            a0(1 << 32),
            ENOSYS,
        ),
        ("bpf", &plain, nr::bpf, a0(0), EPERM),
        ("bpf, SYS_ADMIN", &admin, nr::bpf, a0(0), ALLOW),
        ("perf_event_open", &plain, nr::perf_event_open, a0(0), EPERM),
        ("mount", &plain, nr::mount, a0(0), EPERM),
        ("mount, SYS_ADMIN", &admin, nr::mount, a0(0), ALLOW),
        ("fsopen", &plain, nr::fsopen, a0(0), EPERM),
        ("unshare", &plain, nr::unshare, a0(0), EPERM),
        ("setns", &plain, nr::setns, a0(0), EPERM),
        ("pivot_root", &plain, nr::pivot_root, a0(0), EPERM),
        (
            "pivot_root, SYS_ADMIN",
            &admin,
            nr::pivot_root,
            a0(0),
            ALLOW,
        ),
        ("userfaultfd", &plain, nr::userfaultfd, a0(0), EPERM),
        ("kexec_load", &admin, nr::kexec_load, a0(0), EPERM),
        (
            "open_by_handle_at",
            &plain,
            nr::open_by_handle_at,
            a0(0),
            EPERM,
        ),
        ("swapon", &plain, nr::swapon, a0(0), EPERM),
        ("reboot", &plain, nr::reboot, a0(0), EPERM),
        (
            "chroot (docker keeps SYS_CHROOT)",
            &plain,
            nr::chroot,
            a0(0),
            ALLOW,
        ),
        ("ptrace on 6.1", &plain, nr::ptrace, a0(0), ALLOW),
        ("kcmp", &plain, nr::kcmp, a0(0), EPERM),
        (
            "socket(AF_INET)",
            &plain,
            nr::socket,
            a0(libc::AF_INET as u64),
            ALLOW,
        ),
        (
            "socket(AF_ALG)",
            &plain,
            nr::socket,
            a0(libc::AF_ALG as u64),
            EPERM,
        ),
        (
            "socket(AF_VSOCK)",
            &plain,
            nr::socket,
            a0(libc::AF_VSOCK as u64),
            EPERM,
        ),
        ("socket(39)", &plain, nr::socket, a0(39), ALLOW),
        (
            "socket, high word",
            &plain,
            nr::socket,
            a0(1 << 32 | 40),
            ALLOW,
        ),
        (
            "x32 getpid",
            &plain,
            X32_SYSCALL_BIT | nr::getpid,
            a0(0),
            ENOSYS,
        ),
        ("nr -1", &plain, u32::MAX, a0(0), ENOSYS),
    ];
    for (what, f, nr, args, want) in cases {
        assert_eq!(decide(f, *nr, *args), *want, "{what}");
    }
    // i386 (int 0x80): getpid is 20 there.
    for f in [&plain, &admin] {
        assert_eq!(run(&f.program, AUDIT_ARCH_I386, 20, &[0; 6]).ret, ENOSYS);
    }
}

#[test]
fn capabilities_open_what_docker_opens() {
    let none = default_for(CapSet::EMPTY);
    assert_eq!(decide(&none, nr::chroot, a0(0)), EPERM);
    for (names, calls) in BY_CAPABILITY {
        for &n in *calls {
            assert_eq!(decide(&none, n, a0(0)), EPERM, "{n} without {names:?}");
            for c in *names {
                let f = default_for(CapSet::EMPTY.with(cap(c)));
                assert_eq!(decide(&f, n, a0(0)), ALLOW, "{n} with {c}");
            }
        }
    }
    let bpf = default_for(CapSet::EMPTY.with(cap("BPF")));
    assert_eq!(decide(&bpf, nr::bpf, a0(0)), ALLOW);
    assert_eq!(decide(&bpf, nr::perf_event_open, a0(0)), EPERM);
}

#[test]
fn ptrace_follows_the_kernel_version() {
    for (kernel, caps, want) in [
        (Some((4, 8)), CapSet::EMPTY, ALLOW),
        (Some((4, 7)), CapSet::EMPTY, EPERM),
        (None, CapSet::EMPTY, EPERM),
        (Some((3, 10)), CapSet::EMPTY.with(cap("SYS_PTRACE")), ALLOW),
    ] {
        let f = built_in(caps, kernel).unwrap();
        for &n in PTRACE_FAMILY {
            assert_eq!(decide(&f, n, a0(0)), want, "{n} on {kernel:?}");
        }
    }
}

#[test]
fn every_list_of_the_default_holds() {
    let all = default_for(CapSet::all_known());
    let none = default_for(CapSet::EMPTY);
    for &n in ALLOWED {
        let o = at(&none, n, a0(0));
        assert_eq!(o.ret, ALLOW, "{n}");
        // The kernel's "always allowed" cache takes these: no argument read.
        assert!(!o.read_args, "{n} reads its arguments");
    }
    for &n in DENIED {
        assert_eq!(decide(&all, n, a0(0)), EPERM, "{n}");
    }
    for &p in PERSONAS {
        assert_eq!(decide(&none, nr::personality, a0(p)), ALLOW, "{p:#x}");
    }
}

#[test]
fn no_syscall_is_in_two_lists_of_the_default() {
    let special = [nr::clone, nr::clone3, nr::personality, nr::socket];
    let mut seen = std::collections::BTreeSet::new();
    let lists = ALLOWED
        .iter()
        .chain(DENIED)
        .chain(BY_CAPABILITY.iter().flat_map(|(_, c)| c.iter()))
        .chain(PTRACE_FAMILY)
        .chain(&special);
    for &n in lists {
        assert!(
            seen.insert(n),
            "{:?} is listed twice",
            super::syscalls::name(n)
        );
    }
    eprintln!(
        "default: {} allowed, {} denied, {} by capability, {} ptrace family, {} on arguments",
        ALLOWED.len(),
        DENIED.len(),
        BY_CAPABILITY.iter().map(|(_, c)| c.len()).sum::<usize>(),
        PTRACE_FAMILY.len(),
        special.len()
    );
}

#[test]
fn the_default_summary_counts_its_decisions() {
    let f = default_for(docker());
    // Allowed: the allow-list, the ptrace family and chroot (docker's
    // capabilities include SYS_CHROOT); clone3 is ENOSYS, the default, so
    // it is not counted; clone, personality and socket are on arguments.
    let by_cap_allowed = 1; // chroot
    let allowed = ALLOWED.len() + PTRACE_FAMILY.len() + by_cap_allowed;
    let denied =
        DENIED.len() + BY_CAPABILITY.iter().map(|(_, c)| c.len()).sum::<usize>() - by_cap_allowed;
    let want = format!(
        "default ({allowed} syscalls allowed, 3 on argument checks, {denied} denied with EPERM, \
         unknown ENOSYS)"
    );
    assert_eq!(f.summary, want);
    assert!(f.warnings.is_empty());
    assert_eq!(f.flags, 0);
    eprintln!("{}", f.summary);
}

/// The longest lookup, in instructions run, over every syscall number
/// the table knows and a few beyond.
fn longest_lookup(f: &Filter) -> (usize, usize) {
    let mut constant = 0;
    let mut any = 0;
    let numbers = (0..1100).chain([X32_SYSCALL_BIT, X32_SYSCALL_BIT + 100, u32::MAX]);
    for n in numbers {
        let o = at(f, n, a0(0));
        any = any.max(o.steps);
        if !o.read_args {
            constant = constant.max(o.steps);
        }
    }
    (constant, any)
}

#[test]
fn the_default_program_is_short_and_a_lookup_is_logarithmic() {
    let f = default_for(docker());
    let (constant, any) = longest_lookup(&f);
    eprintln!(
        "default: {} instructions, {} ranges, depth {}, longest lookup {} instructions \
         ({} with argument checks)",
        f.program.len(),
        f.ranges,
        f.depth,
        constant,
        any
    );
    assert!(f.program.len() < 1024, "{}", f.program.len());
    // A balanced tree: ceil(log2(ranges)) levels.
    let balanced = usize::BITS - (f.ranges - 1).leading_zeros();
    assert_eq!(f.depth, balanced as usize);
    // ld arch, jeq, ld nr, the tree (maybe a trampoline per level), ret.
    assert!(constant <= 3 + 2 * f.depth + 1, "{constant}");
    assert!(any < 3 + 2 * f.depth + 30, "{any}");
}

#[test]
fn building_the_default_is_cheap() {
    let start = std::time::Instant::now();
    for _ in 0..100 {
        default_for(docker());
    }
    let each = start.elapsed() / 100;
    eprintln!("building the default filter: {each:?}");
    assert!(each < std::time::Duration::from_millis(5), "{each:?}");
}

#[test]
fn to_bytes_is_the_kernels_sock_filter_array() {
    assert_eq!(
        std::mem::size_of::<Insn>(),
        std::mem::size_of::<libc::sock_filter>()
    );
    assert_eq!(std::mem::size_of::<Insn>(), 8);
    let f = default_for(docker());
    let bytes = f.to_bytes();
    assert_eq!(bytes.len(), f.program.len() * 8);
    for (i, chunk) in f.program.iter().zip(bytes.chunks_exact(8)) {
        let s = sock_filter(chunk);
        assert_eq!((s.code, s.jt, s.jf, s.k), (i.code, i.jt, i.jf, i.k));
    }
}

fn sock_filter(c: &[u8]) -> libc::sock_filter {
    libc::sock_filter {
        code: u16::from_ne_bytes([c[0], c[1]]),
        jt: c[2],
        jf: c[3],
        k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
    }
}

// ---- Comparisons and precedence, against the reference semantics ----

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Eq),
        Just(Op::Ne),
        Just(Op::Lt),
        Just(Op::Le),
        Just(Op::Gt),
        Just(Op::Ge),
        any::<u64>().prop_map(Op::MaskedEq),
        // Masks with an empty or full half, which the compiler shortens.
        (any::<u32>(), 0..3u8).prop_map(|(m, k)| Op::MaskedEq(match k {
            0 => u64::from(m),
            1 => u64::from(m) << 32,
            _ => u64::from(m) | 0xffff_ffff_0000_0000,
        })),
    ]
}

/// An argument near `v`: equal, one off, the other half changed...
fn near(v: u64, how: u8, other: u64) -> u64 {
    match how {
        0 => v,
        1 => v.wrapping_add(1),
        2 => v.wrapping_sub(1),
        3 => v ^ (1 << 32),
        4 => v ^ 1,
        5 => v & 0xffff_ffff,
        6 => v | 0xffff_ffff_0000_0000,
        7 => (v & 0xffff_ffff_0000_0000) | (other & 0xffff_ffff),
        8 => (other & 0xffff_ffff_0000_0000) | (v & 0xffff_ffff),
        _ => other,
    }
}

fn compile_leaf(leaf: &Leaf, nr: u32) -> Vec<Insn> {
    let mut leaves = BTreeMap::new();
    leaves.insert(nr, leaf.clone());
    bpf::compile(Action::Errno(38), &leaves).unwrap().program
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_comparison_follows_64_bit_semantics(
        index in 0..6u8,
        op in op_strategy(),
        value in any::<u64>(),
        how in 0..10u8,
        other in any::<u64>(),
    ) {
        let cmp = ArgCmp { index, op, value };
        let leaf = Leaf {
            rules: vec![Rule { action: Action::Allow, args: vec![cmp] }],
            otherwise: Action::Errno(1),
        };
        let prog = compile_leaf(&leaf, 39);
        let mut args = [0x5555_5555_5555_5555u64; 6];
        let probe = match op {
            Op::MaskedEq(mask) => near(value, how, other) & mask | near(other, how, value) & !mask,
            _ => near(value, how, other),
        };
        args[usize::from(index)] = probe;
        let want = if cmp.matches(&args) { ALLOW } else { EPERM };
        prop_assert_eq!(run(&prog, AUDIT_ARCH_X86_64, 39, &args).ret, want);
    }

    #[test]
    fn overlapping_rules_give_the_most_restrictive_match(
        rules in prop::collection::vec(
            (0..5u8, prop::collection::vec((0..3u8, op_strategy(), 0..4u64), 0..3)),
            1..5,
        ),
        args in prop::collection::vec(0..4u64, 3),
    ) {
        let actions = [Action::Allow, Action::Errno(1), Action::Errno(22), Action::Trap, Action::Log];
        let small = |v: u64| if v == 3 { 1 << 32 } else { v };
        let mut t = Table::new(Action::Errno(38));
        for (a, cmps) in &rules {
            let args = cmps.iter().map(|(index, op, v)| ArgCmp { index: *index, op: *op, value: small(*v) }).collect();
            t.add(39, Rule { action: actions[usize::from(*a)], args });
        }
        let leaves = t.leaves();
        let prog = bpf::compile(t.default, &leaves).unwrap().program;
        let args6 = [small(args[0]), small(args[1]), small(args[2]), 0, 0, 0];
        // The reference: among the matching rules, the most restrictive
        // (first in the profile among equals), else the default.
        let matching = rules.iter().filter_map(|(a, cmps)| {
            let ok = cmps.iter().all(|(i, op, v)| ArgCmp { index: *i, op: *op, value: small(*v) }.matches(&args6));
            ok.then_some(actions[usize::from(*a)])
        });
        let want = matching.min_by_key(|a| a.severity()).unwrap_or(Action::Errno(38));
        prop_assert_eq!(run(&prog, AUDIT_ARCH_X86_64, 39, &args6).ret, want.ret());
        prop_assert_eq!(leaves[&39].decide(&args6), want);
    }
}

#[test]
fn many_argument_rules_need_far_jumps_and_still_decide() {
    // 60 syscalls with 5 rules each: the tree's jumps pass 255.
    let mut t = Table::new(Action::Errno(38));
    for n in 0..60u32 {
        for k in 0..5u64 {
            t.add(
                n * 3,
                Rule {
                    action: Action::Errno(k as u16 + 1),
                    args: vec![ArgCmp {
                        index: 1,
                        op: Op::Eq,
                        value: k << 32 | u64::from(n),
                    }],
                },
            );
        }
    }
    let f = finish(&t, "test", 0, Vec::new()).unwrap();
    assert!(f.program.len() > 1000);
    for n in 0..60u32 {
        for k in 0..5u64 {
            let args = [0, k << 32 | u64::from(n), 0, 0, 0, 0];
            let want = libc::SECCOMP_RET_ERRNO | (k as u32 + 1);
            assert_eq!(decide(&f, n * 3, args), want, "{n} {k}");
        }
        assert_eq!(decide(&f, n * 3, [0, 99, 0, 0, 0, 0]), ENOSYS);
        assert_eq!(decide(&f, n * 3 + 1, [0; 6]), ENOSYS);
    }
}

// ---- Profiles in JSON ----

const PODMAN: &str = "/usr/share/containers/seccomp.json";

#[test]
fn podmans_profile_parses_and_compiles() {
    let Ok(text) = std::fs::read_to_string(PODMAN) else {
        eprintln!("skipped: {PODMAN} is absent (podman's containers-common)");
        return;
    };
    let no_audit = docker().without(cap("AUDIT_WRITE"));
    let f = from_json(&text, PODMAN, docker(), KERNEL).unwrap();
    let g = from_json(&text, PODMAN, no_audit, KERNEL).unwrap();
    let admin = from_json(&text, PODMAN, docker().with(cap("SYS_ADMIN")), KERNEL).unwrap();
    assert!(f.warnings.is_empty(), "{:?}", f.warnings);
    assert!(
        f.summary.starts_with(&format!("{PODMAN}: ")),
        "{}",
        f.summary
    );
    assert!(f.summary.ends_with("unknown ENOSYS"), "{}", f.summary);
    eprintln!("{} ({} instructions)", f.summary, f.program.len());
    let netlink_audit = [libc::AF_NETLINK as u64, libc::SOCK_RAW as u64, 9, 0, 0, 0];
    let cases: &[(&str, &Filter, u32, [u64; 6], u32)] = &[
        ("getpid", &f, nr::getpid, a0(0), ALLOW),
        ("keyctl (podman allows it)", &f, nr::keyctl, a0(0), ALLOW),
        (
            "add_key (podman does not name it)",
            &f,
            nr::add_key,
            a0(0),
            ENOSYS,
        ),
        (
            "setns: allowed, and EPERM without SYS_ADMIN",
            &f,
            nr::setns,
            a0(0),
            EPERM,
        ),
        ("setns, SYS_ADMIN", &admin, nr::setns, a0(0), ALLOW),
        ("bpf", &f, nr::bpf, a0(0), EPERM),
        ("unknown", &f, 1000, a0(0), ENOSYS),
        ("kexec_load", &f, nr::kexec_load, a0(0), EPERM),
        ("personality odd", &f, nr::personality, a0(0x12345), ENOSYS),
        ("personality 8", &f, nr::personality, a0(8), ALLOW),
        (
            "netlink audit, AUDIT_WRITE",
            &f,
            nr::socket,
            netlink_audit,
            ALLOW,
        ),
        (
            "netlink audit, no AUDIT_WRITE",
            &g,
            nr::socket,
            netlink_audit,
            EINVAL,
        ),
        (
            "netlink route, no AUDIT_WRITE",
            &g,
            nr::socket,
            a0(libc::AF_NETLINK as u64),
            ALLOW,
        ),
        ("arch_prctl (amd64 only)", &f, nr::arch_prctl, a0(0), ALLOW),
        ("open_by_handle_at", &f, nr::open_by_handle_at, a0(0), EPERM),
    ];
    for (what, f, nr, args, want) in cases {
        assert_eq!(decide(f, *nr, *args), *want, "{what}");
    }
}

/// A profile in moby's style: archMap, `names` and `name`, includes and
/// excludes on capabilities, architectures and kernel versions, null
/// args, comments, MASKED_EQ.
const MOBY_STYLE: &str = r#"{
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 1,
    "archMap": [
        {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
        {"architecture": "SCMP_ARCH_RISCV64", "subArchitectures": null}
    ],
    "syscalls": [
        {"names": ["read", "write", "getpid", "_llseek", "riscv_flush_icache"], "action": "SCMP_ACT_ALLOW", "args": null, "comment": ""},
        {"name": "getppid", "action": "SCMP_ACT_ALLOW"},
        {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
        {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
        {"names": ["set_tls"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm", "arm64"]}},
        {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
         "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390", "s390x"]}},
        {"names": ["clone", "clone3"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["uname"], "action": "SCMP_ACT_ERRNO", "errno": "EACCES"},
        {"names": ["kill"], "action": "SCMP_ACT_KILL_PROCESS", "excludes": {"minKernel": "4.0"}},
        {"names": ["tkill"], "action": "SCMP_ACT_LOG"},
        {"names": ["sync"], "action": "SCMP_ACT_TRAP"},
        {"names": ["getuid"], "action": "SCMP_ACT_TRACE", "errnoRet": 7}
    ]
}"#;

#[test]
fn a_moby_style_profile_resolves_against_caps_arch_and_kernel() {
    let plain = from_json(MOBY_STYLE, "moby.json", docker(), KERNEL).unwrap();
    let admin = from_json(
        MOBY_STYLE,
        "moby.json",
        docker().with(cap("SYS_ADMIN")),
        KERNEL,
    )
    .unwrap();
    let old = from_json(MOBY_STYLE, "moby.json", docker(), Some((3, 18))).unwrap();
    assert!(plain.warnings.is_empty(), "{:?}", plain.warnings);
    let newuser = libc::CLONE_NEWUSER as u64;
    let errno = |e: i32| libc::SECCOMP_RET_ERRNO | e as u32;
    let cases: &[(&str, &Filter, u32, [u64; 6], u32)] = &[
        ("read", &plain, nr::read, a0(0), ALLOW),
        ("getppid (name)", &plain, nr::getppid, a0(0), ALLOW),
        ("unknown: EPERM", &plain, 1000, a0(0), EPERM),
        ("ptrace on 6.1", &plain, nr::ptrace, a0(0), ALLOW),
        ("ptrace on 3.18", &old, nr::ptrace, a0(0), EPERM),
        ("arch_prctl", &plain, nr::arch_prctl, a0(0), ALLOW),
        ("mount", &plain, nr::mount, a0(0), EPERM),
        ("mount, SYS_ADMIN", &admin, nr::mount, a0(0), ALLOW),
        ("clone", &plain, nr::clone, a0(0), ALLOW),
        ("clone NEWUSER", &plain, nr::clone, a0(newuser), EPERM),
        (
            "clone NEWUSER, SYS_ADMIN",
            &admin,
            nr::clone,
            a0(newuser),
            ALLOW,
        ),
        ("clone3", &plain, nr::clone3, a0(0), ENOSYS),
        ("clone3, SYS_ADMIN", &admin, nr::clone3, a0(0), ALLOW),
        (
            "uname: errno by name",
            &plain,
            nr::uname,
            a0(0),
            errno(libc::EACCES),
        ),
        ("kill: excluded from 4.0", &plain, nr::kill, a0(0), EPERM),
        (
            "kill on 3.18",
            &old,
            nr::kill,
            a0(0),
            libc::SECCOMP_RET_KILL_PROCESS,
        ),
        (
            "tkill: log",
            &plain,
            nr::tkill,
            a0(0),
            libc::SECCOMP_RET_LOG,
        ),
        (
            "sync: trap",
            &plain,
            nr::sync,
            a0(0),
            libc::SECCOMP_RET_TRAP,
        ),
        (
            "getuid: trace 7",
            &plain,
            nr::getuid,
            a0(0),
            libc::SECCOMP_RET_TRACE | 7,
        ),
    ];
    for (what, f, nr, args, want) in cases {
        assert_eq!(decide(f, *nr, *args), *want, "{what}");
    }
    assert_eq!(
        plain.summary,
        "moby.json: 6 syscalls allowed, 1 on argument checks, 1 raise SIGSYS, \
         1 denied with EACCES, 1 denied with ENOSYS, 1 traced (7), 1 logged, unknown EPERM"
    );
}

/// `{label}: line N: ...` for a profile made of `lines`.
fn error_of(text: &str) -> String {
    from_json(text, "p.json", docker(), KERNEL).expect_err("an error")
}

#[test]
fn errors_name_the_line_at_fault() {
    let profile = |rule: &str| {
        format!(
            "{{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n  \"syscalls\": [\n    \
             {{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ERRNO\"}},\n    {rule}\n  ]\n}}\n"
        )
    };
    let cases = [
        (
            profile(r#"{"names": ["write"], "action": "SCMP_ACT_BOGUS"}"#),
            r#"p.json: line 5: unknown action "SCMP_ACT_BOGUS""#,
        ),
        (
            profile(r#"{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}"#),
            "p.json: line 5: SCMP_ACT_NOTIFY is not supported: no seccomp agent",
        ),
        (
            profile(
                r#"{"names": ["write"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ABOUT"}]}"#,
            ),
            r#"p.json: line 5: unknown operator "SCMP_CMP_ABOUT""#,
        ),
        (
            profile(
                r#"{"names": ["write"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}"#,
            ),
            "p.json: line 5: argument index 6 is out of range (0-5)",
        ),
        (
            profile(r#"{"names": ["write"], "action": "SCMP_ACT_ERRNO", "errno": "EWHATEVER"}"#),
            r#"p.json: line 5: unknown errno "EWHATEVER""#,
        ),
        (
            profile(r#"{"names": ["write"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5000}"#),
            "p.json: line 5: errno 5000 is out of range (0-4095)",
        ),
        (
            profile(r#"{"name": "write", "names": ["read"], "action": "SCMP_ACT_ALLOW"}"#),
            r#"p.json: line 5: a rule has both "name" and "names""#,
        ),
        (
            profile(
                r#"{"names": ["write"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "five"}}"#,
            ),
            r#"p.json: line 5: bad minKernel "five" (expected "MAJOR.MINOR")"#,
        ),
        (
            profile(r#"{"names": ["write"] "action": "SCMP_ACT_ALLOW"}"#),
            "p.json: invalid JSON at line 5 column 25: expected `,` or `}`",
        ),
        (
            "{\n  \"syscalls\": []\n}\n".to_string(),
            "p.json: invalid JSON at line 3 column 1: missing field `defaultAction`",
        ),
        (
            "{\"defaultAction\": \"SCMP_ACT_ALLOW\",\n \"flags\": [\"SECCOMP_FILTER_FLAG_NONE\"]}"
                .to_string(),
            r#"p.json: line 2: unknown filter flag "SECCOMP_FILTER_FLAG_NONE""#,
        ),
    ];
    for (text, want) in cases {
        assert_eq!(error_of(&text), want, "{text}");
    }
}

#[test]
fn unknown_syscall_names_are_skipped_with_a_warning() {
    let text = "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n  \"syscalls\": [\n    \
                {\"names\": [\"keyctl\", \"no_such_call\", \"_llseek\", \"s390_sthyi\"], \
                \"action\": \"SCMP_ACT_ERRNO\"},\n    {\"names\": [\"no_such_call\"], \
                \"action\": \"SCMP_ACT_KILL\"}\n  ]\n}";
    let f = from_json(text, "p.json", docker(), KERNEL).unwrap();
    assert_eq!(
        f.warnings,
        vec![r#"p.json: line 4: unknown syscall "no_such_call" skipped"#.to_string()]
    );
    assert_eq!(decide(&f, nr::keyctl, a0(0)), EPERM);
    assert_eq!(decide(&f, nr::getpid, a0(0)), ALLOW);
    // An allow-all profile still refuses the other ABIs.
    assert_eq!(decide(&f, X32_SYSCALL_BIT | nr::getpid, a0(0)), ENOSYS);
}

#[test]
fn a_profile_file_is_read_and_its_errors_name_it() {
    let dir = std::env::temp_dir().join(format!("nslaunch-seccomp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("one.json");
    std::fs::write(
        &path,
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 122}]}"#,
    )
    .unwrap();
    let f = build(&Choice::File(path.clone()), docker())
        .unwrap()
        .unwrap();
    assert_eq!(decide(&f, nr::mkdir, a0(0)), libc::SECCOMP_RET_ERRNO | 122);
    assert_eq!(decide(&f, nr::getpid, a0(0)), ALLOW);
    assert_eq!(
        f.summary,
        format!(
            "{}: 0 syscalls allowed, 2 denied with EDQUOT, unknown allowed",
            path.display()
        )
    );
    let missing = dir.join("absent.json");
    let e = build(&Choice::File(missing.clone()), docker())
        .err()
        .unwrap();
    assert!(e.starts_with(&format!("{}: ", missing.display())), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(build(&Choice::Unconfined, docker()).unwrap().is_none());
}

#[test]
fn choice_parses_the_flag_value() {
    assert_eq!("default".parse(), Ok(Choice::Default));
    assert_eq!("unconfined".parse(), Ok(Choice::Unconfined));
    assert_eq!("./p.json".parse(), Ok(Choice::File("./p.json".into())));
    assert!("".parse::<Choice>().is_err());
}

#[test]
fn an_oci_profile_compiles_with_the_same_rules() {
    let spec: oci_spec::runtime::LinuxSeccomp = serde_json::from_str(
        r#"{
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 38,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
            "syscalls": [
                {"names": ["getpid", "exit_group", "no_such_call"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_LE"}]},
                {"names": ["keyctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}
            ]
        }"#,
    )
    .unwrap();
    let f = from_oci(&spec).unwrap();
    assert_eq!(decide(&f, nr::getpid, a0(0)), ALLOW);
    assert_eq!(decide(&f, nr::personality, a0(8)), ALLOW);
    assert_eq!(decide(&f, nr::personality, a0(9)), ENOSYS);
    assert_eq!(decide(&f, nr::keyctl, a0(0)), libc::SECCOMP_RET_ERRNO | 13);
    assert_eq!(decide(&f, nr::read, a0(0)), ENOSYS);
    assert_eq!(
        f.flags,
        (libc::SECCOMP_FILTER_FLAG_LOG | libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW) as u32
    );
    assert_eq!(
        f.warnings,
        vec![r#"linux.seccomp: unknown syscall "no_such_call" skipped"#.to_string()]
    );
    let notify: oci_spec::runtime::LinuxSeccomp = serde_json::from_str(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock",
            "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_NOTIFY"}]}"#,
    )
    .unwrap();
    assert_eq!(
        from_oci(&notify).unwrap_err(),
        "linux.seccomp: SCMP_ACT_NOTIFY is not supported: no seccomp agent"
    );
}

// ---- The syscall table ----

#[test]
fn the_syscall_table_matches_the_kernel_headers() {
    let mut names = std::collections::BTreeSet::new();
    let mut numbers = std::collections::BTreeSet::new();
    for (name, n) in TABLE {
        assert!(names.insert(*name), "{name} twice");
        assert!(numbers.insert(*n), "{n} twice");
    }
    let names_lookup = Names::new();
    for (name, n) in TABLE {
        assert_eq!(names_lookup.lookup(name), Lookup::Number(*n));
    }
    const HEADER: &str = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h";
    let Ok(h) = std::fs::read_to_string(HEADER) else {
        eprintln!("skipped the header check: {HEADER} is absent (linux-libc-dev)");
        return;
    };
    let mut checked = 0;
    for line in h.lines() {
        let mut w = line.split_whitespace();
        if let (Some("#define"), Some(def), Some(num)) = (w.next(), w.next(), w.next()) {
            if let (Some(name), Ok(num)) = (def.strip_prefix("__NR_"), num.parse::<u32>()) {
                assert_eq!(names_lookup.lookup(name), Lookup::Number(num), "{name}");
                checked += 1;
            }
        }
    }
    eprintln!("{checked} syscall numbers checked against {HEADER}");
    assert!(checked > 300);
}

#[test]
fn other_architectures_names_are_not_ours() {
    let names = Names::new();
    for n in [
        "_llseek",
        "_newselect",
        "arm_fadvise64_64",
        "s390_runtime_instr",
        "chown32",
    ] {
        assert_eq!(names.lookup(n), Lookup::OtherArch, "{n}");
    }
    assert_eq!(names.lookup("no_such_call"), Lookup::Unknown);
    assert_eq!(names.lookup("listmount"), Lookup::Number(458));
}

// ---- The kernel's word ----

/// Load `f` in a forked child (no_new_privs first, so no capability is
/// needed) and run `probe` there under it; its exit status comes back.
fn under_filter<F: Fn() -> i32>(f: &Filter, probe: &F) -> i32 {
    let mut prog: Vec<libc::sock_filter> = f.to_bytes().chunks_exact(8).map(sock_filter).collect();
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_mut_ptr(),
    };
    let flags = libc::c_ulong::from(f.flags);
    let child = || -> i32 {
        // SAFETY: plain integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return 90;
        }
        // SAFETY: `fprog` points at `prog`, both alive in this copy of the
        // parent's memory; the kernel copies the program.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                flags,
                &fprog as *const libc::sock_fprog,
            )
        };
        if r != 0 {
            return 91;
        }
        probe()
    };
    // SAFETY: the child only makes raw syscalls and leaves by _exit.
    unsafe { shared::sys::probe_in_child(0, &child) }.unwrap()
}

/// `syscall(nr, args...)`: Ok(value) or Err(errno), async-signal-safe.
fn raw(nr: u32, args: [u64; 3]) -> Result<i64, i32> {
    // SAFETY: the probes pass null pointers or plain integers only.
    let r = unsafe { libc::syscall(libc::c_long::from(nr), args[0], args[1], args[2]) };
    if r == -1 {
        Err(nix::errno::Errno::last_raw())
    } else {
        Ok(r)
    }
}

#[test]
fn the_kernel_loads_the_default_filter_and_follows_it() {
    let f = default_for(docker());
    let probe = || -> i32 {
        let checks = [
            raw(nr::getpid, [0; 3]).is_ok_and(|p| p > 0),
            raw(nr::keyctl, [0, 0, 0]) == Err(libc::EPERM),
            raw(1000, [0; 3]) == Err(libc::ENOSYS),
            raw(nr::bpf, [0, 0, 0]) == Err(libc::EPERM),
            raw(nr::clone3, [0, 0, 0]) == Err(libc::ENOSYS),
            raw(nr::personality, [0xffff_ffff, 0, 0]).is_ok(),
            raw(nr::personality, [0x12345, 0, 0]) == Err(libc::ENOSYS),
            raw(nr::unshare, [libc::CLONE_NEWUSER as u64, 0, 0]) == Err(libc::EPERM),
            raw(
                nr::socket,
                [libc::AF_VSOCK as u64, libc::SOCK_STREAM as u64, 0],
            ) == Err(libc::EPERM),
        ];
        // Which check failed, as a bit in the exit status (0: all held).
        checks
            .iter()
            .enumerate()
            .filter(|(_, ok)| !**ok)
            .fold(0, |acc, (i, _)| acc | 1 << i)
    };
    assert_eq!(under_filter(&f, &probe), 0, "bits of the failed checks");
}

#[test]
fn the_kernel_takes_far_jumps_and_every_comparison() {
    // A profile that allows everything but getppid with a large first
    // argument (getppid ignores its arguments), plus rules with every
    // operator on 60 numbers no syscall has yet, each its own range,
    // so that the tree needs far jumps.
    let mut t = Table::new(Action::Allow);
    let ops = [
        Op::Eq,
        Op::Ne,
        Op::Lt,
        Op::Le,
        Op::Gt,
        Op::Ge,
        Op::MaskedEq(0xff00_0000_00ff),
    ];
    for n in 600..660u32 {
        for (i, op) in ops.iter().enumerate() {
            t.add(
                n,
                Rule {
                    action: Action::Errno(i as u16 + 1),
                    args: vec![ArgCmp {
                        index: (i % 6) as u8,
                        op: *op,
                        value: 1 << 40 | u64::from(n),
                    }],
                },
            );
        }
    }
    t.add(
        nr::getppid,
        Rule {
            action: Action::Errno(libc::EACCES as u16),
            args: vec![ArgCmp {
                index: 0,
                op: Op::Gt,
                value: 1 << 33,
            }],
        },
    );
    let f = finish(&t, "test", 0, Vec::new()).unwrap();
    assert!(f.program.len() > 1000, "{}", f.program.len());
    assert!(f.program.iter().any(|i| i.code == 0x05), "no ja");
    let probe = || -> i32 {
        let checks = [
            raw(nr::getppid, [0; 3]).is_ok(),
            raw(nr::getppid, [1 << 34, 0, 0]) == Err(libc::EACCES),
            raw(nr::getppid, [1 << 33, 0, 0]).is_ok(),
            raw(nr::getpid, [0; 3]).is_ok(),
        ];
        checks
            .iter()
            .enumerate()
            .filter(|(_, ok)| !**ok)
            .fold(0, |acc, (i, _)| acc | 1 << i)
    };
    assert_eq!(under_filter(&f, &probe), 0, "bits of the failed checks");
}

#[test]
fn differences_from_podman_are_documented() {
    assert!(DIFFERENCES.len() >= 8);
    for (what, why) in DIFFERENCES {
        assert!(!what.is_empty() && !why.is_empty());
    }
}

/// `precompiled.rs` as the compiler makes it today (docker's default
/// capabilities, a kernel after 4.8).
fn precompiled_source() -> String {
    let caps = docker();
    let f = compile_default(caps, KERNEL).unwrap();
    let mut out = String::from(
        "//! The default filter for docker's default capabilities on Linux 4.8 and\n\
         //! later, compiled ahead of time (see `built_in`). Generated: do not\n\
         //! edit; after a change to the default profile or the compiler, run\n\
         //! `NSLAUNCH_REGEN_SECCOMP=1 cargo test -p nslaunch precompiled` and\n\
         //! `cargo fmt`.\n\n\
         use super::{Filter, Insn};\n\n",
    );
    out += &format!(
        "pub const SIGNATURE: u64 = {:#x};\n",
        default::signature(caps, KERNEL)
    );
    out += &format!("pub const SUMMARY: &str = {:?};\n", f.summary);
    out += &format!("pub const RANGES: usize = {};\n", f.ranges);
    out += &format!("pub const DEPTH: usize = {};\n\n", f.depth);
    out += "const fn i(code: u16, jt: u8, jf: u8, k: u32) -> Insn {\n    Insn { code, jt, jf, k }\n}\n\n";
    out += "pub const PROGRAM: &[Insn] = &[\n";
    for x in &f.program {
        out += &format!("    i({:#06x}, {}, {}, {:#x}),\n", x.code, x.jt, x.jf, x.k);
    }
    out += "];\n\n";
    out += "pub fn filter() -> Filter {\n    Filter {\n        program: PROGRAM.to_vec(),\n        summary: SUMMARY.to_string(),\n        warnings: Vec::new(),\n        flags: 0,\n        ranges: RANGES,\n        depth: DEPTH,\n    }\n}\n";
    out
}

#[test]
fn the_precompiled_default_is_what_the_compiler_makes() {
    if std::env::var_os("NSLAUNCH_REGEN_SECCOMP").is_some() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/seccomp/precompiled.rs");
        std::fs::write(path, precompiled_source()).unwrap();
        eprintln!("wrote {path}: run cargo fmt");
        return;
    }
    let compiled = compile_default(docker(), KERNEL).unwrap();
    let ahead = precompiled::filter();
    let regen = "regenerate: NSLAUNCH_REGEN_SECCOMP=1 cargo test -p nslaunch precompiled";
    assert_eq!(ahead.program, compiled.program, "{regen}");
    assert_eq!(ahead.summary, compiled.summary, "{regen}");
    assert_eq!(
        (ahead.ranges, ahead.depth),
        (compiled.ranges, compiled.depth),
        "{regen}"
    );
    assert_eq!(
        precompiled::SIGNATURE,
        default::signature(docker(), KERNEL),
        "{regen}"
    );
    // What a launch with the default capabilities gets is the precompiled one.
    assert_eq!(default_for(docker()).program, compiled.program);
}

#[test]
fn equal_signatures_compile_to_equal_programs() {
    // Every capability set one step from docker's, none, all; kernels
    // before and after 4.8 and unknown.
    let mut sets = vec![CapSet::EMPTY, docker(), CapSet::all_known()];
    for name in caps::NAMES {
        let c = cap(name);
        sets.push(docker().with(c));
        sets.push(docker().without(c));
        sets.push(CapSet::EMPTY.with(c));
    }
    let mut by_signature: BTreeMap<u64, Vec<Insn>> = BTreeMap::new();
    for caps in sets {
        for kernel in [Some((4, 7)), Some((4, 8)), Some((6, 1)), None] {
            let program = compile_default(caps, kernel).unwrap().program;
            let sig = default::signature(caps, kernel);
            let seen = by_signature.entry(sig).or_insert_with(|| program.clone());
            assert_eq!(*seen, program, "signature {sig:#x}");
            if sig == precompiled::SIGNATURE {
                assert_eq!(program, precompiled::PROGRAM, "{caps:?} {kernel:?}");
            }
        }
    }
    assert!(
        by_signature.len() > 2,
        "the signature tells capability sets apart"
    );
}
