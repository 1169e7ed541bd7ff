//! A tiny classic-BPF interpreter for the tests: the instructions the
//! compiler emits (ld abs 32-bit of seccomp_data, and/or k, jeq/jgt/jge/
//! jset k, ja, ret k), run the way the kernel runs them. Anything else,
//! a jump out of the program or running off its end, panics.

use super::Insn;

/// `seccomp_data` as the kernel lays it out, native endian.
fn data(arch: u32, nr: u32, args: &[u64; 6]) -> [u8; 64] {
    let mut d = [0u8; 64];
    d[0..4].copy_from_slice(&nr.to_ne_bytes());
    d[4..8].copy_from_slice(&arch.to_ne_bytes());
    for (i, a) in args.iter().enumerate() {
        d[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
    }
    d
}

/// What a run of the program gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The return value (`SECCOMP_RET_*`).
    pub ret: u32,
    /// Instructions run.
    pub steps: usize,
    /// Whether it loaded an argument (or the instruction pointer): the
    /// kernel's "always allowed" cache only takes paths that do not.
    pub read_args: bool,
}

/// Run the program on this syscall.
pub fn run(prog: &[Insn], arch: u32, nr: u32, args: &[u64; 6]) -> Outcome {
    let d = data(arch, nr, args);
    let mut a: u32 = 0;
    let mut pc = 0usize;
    let mut steps = 0;
    let mut read_args = false;
    loop {
        let i = prog[pc];
        steps += 1;
        pc += 1;
        let k = i.k;
        let jump = |cond: bool| usize::from(if cond { i.jt } else { i.jf });
        match i.code {
            0x20 => {
                let off = k as usize;
                assert!(off % 4 == 0 && off + 4 <= d.len(), "ld out of seccomp_data");
                a = u32::from_ne_bytes(d[off..off + 4].try_into().unwrap());
                read_args |= off >= 8;
            }
            0x54 => a &= k,
            0x44 => a |= k,
            0x05 => pc += k as usize,
            0x15 => pc += jump(a == k),
            0x25 => pc += jump(a > k),
            0x35 => pc += jump(a >= k),
            0x45 => pc += jump(a & k != 0),
            0x06 => {
                return Outcome {
                    ret: k,
                    steps,
                    read_args,
                }
            }
            c => panic!("instruction {c:#x} at {} not interpreted", pc - 1),
        }
        assert!(pc < prog.len(), "jump past the end of the program");
    }
}
