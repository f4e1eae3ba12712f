//! Superinstructions for the fast path. `fast_code[i]` is either `code[i]` or one op
//! that does the work of `code[i..i + n]`; the ops after `i` keep their own entries,
//! so a branch into the middle of a fused sequence lands on ordinary code.

use crate::op::{self, Op};

/// The most steps one fused op stands for.
pub const MAX_FUSED: u64 = 3;

pub fn fuse(code: &[Op]) -> Vec<Op> {
    (0..code.len()).map(|i| fuse_at(&code[i..]).unwrap_or(code[i])).collect()
}

fn fuse_at(ops: &[Op]) -> Option<Op> {
    use Op::*;
    let i32_const = |v: u64| u32::try_from(v).ok();
    Some(match *ops {
        [LocalGet(a), LocalGet(b), Binary(op), ..] => BinaryLocals { op, a, b },
        [LocalGet(a), Const { value: c, .. }, Binary(op), ..] if op.is_i32() => BinaryLocalConst { op, a, c: i32_const(c)? },
        [LocalGet(a), LocalGet(b), Store { kind, offset }, ..] => StoreLocals { kind, offset, a, b },
        [LocalGet(a), LocalGet(b), ..] => LocalGet2 { a, b },
        [LocalGet(a), Load { kind, offset }, ..] => LoadLocal { kind, offset, a },
        [Const { value: c, .. }, Binary(op), ..] if op.is_i32() && !op.can_trap() => BinaryConst { op, c: i32_const(c)? },
        [Const { value: c, .. }, LocalSet(x), ..] => ConstSet { c, x },
        [Binary(op), BrIf(branch), ..] if !op.can_trap() => BrIfBinary { op, branch },
        [Binary(op), LocalSet(x), ..] if !op.can_trap() => BinarySet { op, x },
        [Unary(op::Unary::I32Eqz), BrIf(branch), ..] => BrIfZero(branch),
        _ => return None,
    })
}
