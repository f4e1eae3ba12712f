//! The fast path: what `Machine::run` executes when steps need no bookkeeping beyond
//! their count. Each module's step code is compiled once into register-style
//! instructions (`compile`), which `run` executes while counting the wasm steps each
//! completes. Wherever the fast code cannot go on (a trap, the end of the step budget,
//! a host call, an instruction it leaves to the precise executor), it stops with the
//! machine in exactly the state that single steps would have reached, and the precise
//! executor takes over until the next entry.

mod compile;
mod inst;
mod run;

use std::ops::Range;

pub(crate) use compile::{compile, UNREACHABLE};
use inst::{Inst, Slot};

use crate::op::Unary;

/// "No instruction": in [`FastCode::entry`] and for functions without fast code.
pub(crate) const NO_ENTRY: u32 = u32::MAX;

/// A module's fast code.
#[derive(Debug, Default)]
pub(crate) struct FastCode {
    insts: Vec<Inst>,
    /// Per instruction: how to leave the fast path before it.
    exits: Vec<Exit>,
    fixups: Vec<Fixup>,
    /// Per op of the module's step code: the instruction to start at when the machine
    /// is at that op, or [`NO_ENTRY`].
    entry: Vec<u32>,
    /// Per defined function.
    funcs: Vec<FastFunc>,
    /// The unary operations [`inst::Code::Unary`] refers to by index.
    unary_ops: Vec<Unary>,
}

/// The state of the precise machine where an instruction's steps begin.
#[derive(Clone, Debug, Default)]
struct Exit {
    /// The op (in the module's step code) the precise machine is at.
    pc: u32,
    /// The frame-relative slot above the operand stack's top.
    top: u32,
    /// Values on the precise machine's stack that the fast code has not written yet.
    fixups: Range<u32>,
}

/// A stack slot that leaving the fast path must write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fixup {
    /// Slot `at` gets the value of local `from`.
    Local {
        at: Slot,
        from: Slot,
    },
    Const {
        at: Slot,
        value: u64,
    },
}

/// A defined function's frame, for calls from fast code.
#[derive(Clone, Copy, Debug)]
struct FastFunc {
    /// Its first instruction, or [`NO_ENTRY`] if it has no fast code.
    start: u32,
    params: u32,
    /// Declared locals after the parameters.
    locals: u32,
    /// Parameters, locals and the largest operand height.
    frame: u32,
}

impl FastCode {
    /// The instruction to start at when the machine is at op `pc`.
    pub(crate) fn entry(&self, pc: u32) -> Option<u32> {
        self.entry.get(pc as usize).copied().filter(|&e| e != NO_ENTRY)
    }
}
