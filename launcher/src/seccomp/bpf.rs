//! From a [`Table`](super::rules::Table)'s leaves to a classic BPF
//! program.
//!
//! Layout:
//!
//! ```text
//!   ld  [arch]
//!   jeq AUDIT_ARCH_X86_64, +1, 0
//!   ret ERRNO(ENOSYS)                 32-bit x86 (int 0x80): no table here
//!   ld  [nr]
//!   binary search over the number ranges, one `jge` per level;
//!   numbers from __X32_SYSCALL_BIT up (x32, -1) form the last range: ENOSYS
//!   leaf: `ret ACTION`, or a block testing the arguments
//! ```
//!
//! The syscall numbers are cut into ranges of consecutive numbers with
//! the same decision (the gaps take the default), and a balanced tree of
//! `jge` splits them: about 8 levels for the default profile's ~150
//! ranges. A syscall whose decision never depends on its arguments ends
//! in a single `ret`, which the kernel (5.11+) recognises when it
//! emulates the filter for every number at load time: those syscalls
//! then skip the filter altogether (its per-architecture "always
//! allowed" bitmap), so getppid costs nothing extra.
//!
//! An argument block tests the rules in order (most restrictive first),
//! each comparison on both 32-bit halves of the 64-bit argument
//! (`seccomp_data.args[i]`, little endian: the low half first in
//! memory). Conditional jumps only reach 255 instructions ahead: a jump
//! whose target is further goes through a `ja` placed right after it.

use std::collections::BTreeMap;
use std::mem::offset_of;

use super::rules::{Action, ArgCmp, Leaf, Op};
use super::syscalls::{AUDIT_ARCH_X86_64, X32_SYSCALL_BIT};
use super::Insn;

const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const AND_K: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;
const JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JGT_K: u16 = (libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K) as u16;
const JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

const NR: u32 = offset_of!(libc::seccomp_data, nr) as u32;
const ARCH: u32 = offset_of!(libc::seccomp_data, arch) as u32;
const ARGS: u32 = offset_of!(libc::seccomp_data, args) as u32;

/// What a syscall of another ABI gets (i386, x32): ENOSYS, whatever the
/// profile, because the profile's names are resolved for x86_64 only;
/// letting them through would let a 32-bit syscall past every rule.
pub const OTHER_ABI: Action = Action::Errno(libc::ENOSYS as u16);

/// A compiled program and the shape of its search tree.
#[derive(Debug)]
pub struct Compiled {
    pub program: Vec<Insn>,
    /// Number ranges the tree searches.
    pub ranges: usize,
    /// `jge` levels on the longest path.
    pub depth: usize,
}

/// The program for these decisions: `leaves` by syscall number
/// (numbers below [`X32_SYSCALL_BIT`]), `default` for every other number.
pub fn compile(default: Action, leaves: &BTreeMap<u32, Leaf>) -> Result<Compiled, String> {
    let default_leaf = Leaf::constant(default);
    let other_abi = Leaf::constant(OTHER_ABI);
    let ranges = ranges(leaves, &default_leaf, &other_abi);
    let mut asm = Asm::default();
    asm.stmt(LD_W_ABS, ARCH);
    let native = asm.label();
    let foreign = asm.label();
    asm.jump(JEQ_K, AUDIT_ARCH_X86_64, native, foreign);
    asm.bind(foreign);
    asm.stmt(RET_K, OTHER_ABI.ret());
    asm.bind(native);
    asm.stmt(LD_W_ABS, NR);
    let depth = tree(&mut asm, &ranges);
    let program = asm.assemble()?;
    let max = libc::BPF_MAXINSNS as usize;
    if program.len() > max {
        return Err(format!(
            "the filter needs {} BPF instructions, more than the kernel takes ({max})",
            program.len()
        ));
    }
    Ok(Compiled {
        program,
        ranges: ranges.len(),
        depth,
    })
}

/// The number line cut into ranges `[start, next start)` with one leaf
/// each, neighbours with equal leaves merged; the last range runs to
/// u32::MAX.
fn ranges<'a>(
    leaves: &'a BTreeMap<u32, Leaf>,
    default: &'a Leaf,
    other_abi: &'a Leaf,
) -> Vec<(u32, &'a Leaf)> {
    let mut out: Vec<(u32, &Leaf)> = Vec::new();
    let mut push = |start: u32, leaf: &'a Leaf| {
        if !matches!(out.last(), Some((_, l)) if *l == leaf) {
            out.push((start, leaf));
        }
    };
    let mut next = 0u32;
    for (&nr, leaf) in leaves.range(..X32_SYSCALL_BIT) {
        if nr > next {
            push(next, default);
        }
        push(nr, leaf);
        next = nr + 1;
    }
    if next < X32_SYSCALL_BIT {
        push(next, default);
    }
    push(X32_SYSCALL_BIT, other_abi);
    out
}

/// A balanced search over `ranges` (A holds the syscall number); returns
/// its depth in `jge` levels.
fn tree(asm: &mut Asm, ranges: &[(u32, &Leaf)]) -> usize {
    if let [(_, leaf)] = ranges {
        emit_leaf(asm, leaf);
        return 0;
    }
    let mid = ranges.len() / 2;
    let high = asm.label();
    let low = asm.label();
    asm.jump(JGE_K, ranges[mid].0, high, low);
    asm.bind(low);
    let left = tree(asm, &ranges[..mid]);
    asm.bind(high);
    let right = tree(asm, &ranges[mid..]);
    1 + left.max(right)
}

fn emit_leaf(asm: &mut Asm, leaf: &Leaf) {
    for rule in &leaf.rules {
        let next_rule = asm.label();
        for cmp in &rule.args {
            emit_cmp(asm, cmp, next_rule);
        }
        asm.stmt(RET_K, rule.action.ret());
        asm.bind(next_rule);
    }
    asm.stmt(RET_K, leaf.otherwise.ret());
}

/// Falls through when `cmp` holds, jumps to `fail` when not.
fn emit_cmp(asm: &mut Asm, cmp: &ArgCmp, fail: Label) {
    let lo_off = ARGS + 8 * u32::from(cmp.index);
    let hi_off = lo_off + 4;
    let (v_hi, v_lo) = halves(cmp.value);
    let pass = asm.label();
    let lo = asm.label();
    match cmp.op {
        Op::MaskedEq(mask) => {
            let (m_hi, m_lo) = halves(mask);
            for (off, m, v, ok) in [(hi_off, m_hi, v_hi, lo), (lo_off, m_lo, v_lo, pass)] {
                if m == 0 {
                    // (x & 0) == v: known now.
                    if v != 0 {
                        asm.ja(fail);
                    }
                } else {
                    asm.stmt(LD_W_ABS, off);
                    if m != u32::MAX {
                        asm.stmt(AND_K, m);
                    }
                    asm.jump(JEQ_K, v, ok, fail);
                }
                if ok == lo {
                    asm.bind(lo);
                }
            }
        }
        Op::Eq | Op::Ne => {
            let (t, f) = if cmp.op == Op::Eq {
                (pass, fail)
            } else {
                (fail, pass)
            };
            asm.stmt(LD_W_ABS, hi_off);
            asm.jump(JEQ_K, v_hi, lo, f);
            asm.bind(lo);
            asm.stmt(LD_W_ABS, lo_off);
            asm.jump(JEQ_K, v_lo, t, f);
        }
        Op::Gt | Op::Ge | Op::Lt | Op::Le => {
            // x > v  <=>  hi > v_hi, or hi == v_hi and lo > v_lo (unsigned);
            // LT and LE are the negations of GE and GT.
            let (above, below) = match cmp.op {
                Op::Gt | Op::Ge => (pass, fail),
                _ => (fail, pass),
            };
            let low_code = match cmp.op {
                Op::Gt | Op::Le => JGT_K,
                _ => JGE_K,
            };
            let equal = asm.label();
            asm.stmt(LD_W_ABS, hi_off);
            asm.jump(JGT_K, v_hi, above, equal);
            asm.bind(equal);
            asm.jump(JEQ_K, v_hi, lo, below);
            asm.bind(lo);
            asm.stmt(LD_W_ABS, lo_off);
            asm.jump(low_code, v_lo, above, below);
        }
    }
    asm.bind(pass);
}

fn halves(v: u64) -> (u32, u32) {
    ((v >> 32) as u32, v as u32)
}

/// A jump target, bound to a place in the program by [`Asm::bind`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Label(usize);

enum Item {
    Stmt(Insn),
    Jump {
        code: u16,
        k: u32,
        jt: Label,
        jf: Label,
    },
    Ja(Label),
    Bind(Label),
}

/// A program with symbolic forward jumps; [`Asm::assemble`] works out
/// the offsets.
#[derive(Default)]
struct Asm {
    items: Vec<Item>,
    labels: usize,
}

impl Asm {
    fn label(&mut self) -> Label {
        self.labels += 1;
        Label(self.labels - 1)
    }

    fn bind(&mut self, l: Label) {
        self.items.push(Item::Bind(l));
    }

    fn stmt(&mut self, code: u16, k: u32) {
        self.items.push(Item::Stmt(Insn {
            code,
            jt: 0,
            jf: 0,
            k,
        }));
    }

    fn jump(&mut self, code: u16, k: u32, jt: Label, jf: Label) {
        self.items.push(Item::Jump { code, k, jt, jf });
    }

    fn ja(&mut self, to: Label) {
        self.items.push(Item::Ja(to));
    }

    /// Addresses of items and labels, given how many `ja` trampolines
    /// follow each conditional jump.
    fn layout(&self, tramps: &[usize]) -> (Vec<usize>, Vec<usize>) {
        let mut addr = Vec::with_capacity(self.items.len());
        let mut labels = vec![usize::MAX; self.labels];
        let mut pc = 0;
        for (i, item) in self.items.iter().enumerate() {
            addr.push(pc);
            match item {
                Item::Stmt(_) | Item::Ja(_) => pc += 1,
                Item::Jump { .. } => pc += 1 + tramps[i],
                Item::Bind(l) => labels[l.0] = pc,
            }
        }
        (addr, labels)
    }

    /// The distinct targets of jump `i` (at `at`) too far for an 8-bit
    /// offset, in the order jt, jf.
    fn far(at: usize, targets: [usize; 2]) -> Vec<usize> {
        let mut far = Vec::new();
        for t in targets {
            if t > at + 1 + 255 && !far.contains(&t) {
                far.push(t);
            }
        }
        far
    }

    fn assemble(self) -> Result<Vec<Insn>, String> {
        // Trampolines only lengthen jumps, so a jump that is far stays
        // far: the loop ends.
        let mut tramps = vec![0usize; self.items.len()];
        let (addr, labels) = loop {
            let (addr, labels) = self.layout(&tramps);
            let mut changed = false;
            for (i, item) in self.items.iter().enumerate() {
                if let Item::Jump { jt, jf, .. } = item {
                    let n = Self::far(addr[i], [labels[jt.0], labels[jf.0]]).len();
                    if n > tramps[i] {
                        tramps[i] = n;
                        changed = true;
                    }
                }
            }
            if !changed {
                break (addr, labels);
            }
        };
        let mut out = Vec::new();
        for (i, item) in self.items.iter().enumerate() {
            let at = addr[i];
            match item {
                Item::Stmt(insn) => out.push(*insn),
                Item::Bind(_) => {}
                Item::Ja(l) => out.push(Insn {
                    code: JA,
                    jt: 0,
                    jf: 0,
                    k: forward(at, labels[l.0])?,
                }),
                Item::Jump { code, k, jt, jf } => {
                    let (t, f) = (labels[jt.0], labels[jf.0]);
                    let far = Self::far(at, [t, f]);
                    let off = |target: usize| -> Result<u8, String> {
                        match far.iter().position(|x| *x == target) {
                            Some(j) => Ok(j as u8),
                            None => Ok(forward(at, target)? as u8),
                        }
                    };
                    out.push(Insn {
                        code: *code,
                        jt: off(t)?,
                        jf: off(f)?,
                        k: *k,
                    });
                    for (j, target) in far.iter().enumerate() {
                        out.push(Insn {
                            code: JA,
                            jt: 0,
                            jf: 0,
                            k: forward(at + 1 + j, *target)?,
                        });
                    }
                }
            }
        }
        Ok(out)
    }
}

/// The offset of a jump at `from` to `to` (BPF jumps only go forward).
fn forward(from: usize, to: usize) -> Result<u32, String> {
    to.checked_sub(from + 1)
        .and_then(|d| u32::try_from(d).ok())
        .ok_or_else(|| format!("internal error: a backward jump in the filter ({from} to {to})"))
}

#[cfg(test)]
mod tests {
    use super::super::interp::run;
    use super::super::rules::Rule;
    use super::*;

    #[test]
    fn far_jumps_go_through_a_ja() {
        let mut asm = Asm::default();
        let far = asm.label();
        let near = asm.label();
        asm.stmt(LD_W_ABS, NR);
        asm.jump(JEQ_K, 7, far, near);
        asm.bind(near);
        for _ in 0..300 {
            asm.stmt(RET_K, 1);
        }
        asm.bind(far);
        asm.stmt(RET_K, 2);
        let p = asm.assemble().unwrap();
        assert_eq!(p.len(), 304);
        assert_eq!((p[1].jt, p[1].jf), (0, 1));
        assert_eq!(p[2].code, JA);
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 7, &[0; 6]).ret, 2);
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 8, &[0; 6]).ret, 1);
    }

    #[test]
    fn both_targets_far_take_two_trampolines() {
        let mut asm = Asm::default();
        let a = asm.label();
        let b = asm.label();
        asm.stmt(LD_W_ABS, NR);
        asm.jump(JEQ_K, 7, a, b);
        for _ in 0..300 {
            asm.stmt(RET_K, 1);
        }
        asm.bind(a);
        asm.stmt(RET_K, 2);
        for _ in 0..300 {
            asm.stmt(RET_K, 1);
        }
        asm.bind(b);
        asm.stmt(RET_K, 3);
        let p = asm.assemble().unwrap();
        assert_eq!((p[1].jt, p[1].jf), (0, 1));
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 7, &[0; 6]).ret, 2);
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 9, &[0; 6]).ret, 3);
    }

    #[test]
    fn a_long_program_is_refused() {
        // 1500 syscalls, each with its own argument check: over 4096.
        let mut leaves = BTreeMap::new();
        for nr in 0..1500 {
            let leaf = Leaf {
                rules: vec![Rule {
                    action: Action::Allow,
                    args: vec![ArgCmp {
                        index: 0,
                        op: Op::Eq,
                        value: u64::from(nr),
                    }],
                }],
                otherwise: Action::Errno(1),
            };
            leaves.insert(nr, leaf);
        }
        let e = compile(Action::Errno(38), &leaves).unwrap_err();
        assert!(e.contains("more than the kernel takes (4096)"), "{e}");
    }

    #[test]
    fn neighbours_with_the_same_decision_are_one_range() {
        let mut leaves = BTreeMap::new();
        for nr in [0, 1, 2, 5] {
            leaves.insert(nr, Leaf::constant(Action::Allow));
        }
        leaves.insert(3, Leaf::constant(Action::Errno(38)));
        let c = compile(Action::Errno(38), &leaves).unwrap();
        // [0,3) allow, [3,5) ENOSYS, [5,6) allow, [6, x32) ENOSYS and x32 on.
        assert_eq!(c.ranges, 4);
        assert_eq!(c.depth, 2);
    }
}
