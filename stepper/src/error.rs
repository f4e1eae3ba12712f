//! Errors of decoding and instantiation, and the traps of execution.

use std::fmt;

/// Why a module could not be loaded or instantiated.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot parse WebAssembly text: {0}")]
    Text(String),
    #[error("invalid module: {0}")]
    Invalid(String),
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("cannot link import {module}.{name}: {reason}")]
    Link { module: String, name: String, reason: String },
    /// Imports the host does not have, all of them.
    #[error(
        "cannot link {} import{}: {} (the host has module `verigame`: abort, emit, storage_read, \
         storage_write, storage_delete, caller; and every function of module `wasi_snapshot_preview1`)",
        .0.len(), if .0.len() == 1 { "" } else { "s" }, .0.join(", ")
    )]
    UnknownImports(Vec<String>),
    #[error("instantiation trapped: {0}")]
    InstantiationTrap(Trap),
    #[error("{0}")]
    Call(String),
    #[error("bad snapshot: {0}")]
    Snapshot(String),
    /// A machine's parts that the executor cannot run ([`crate::Machine::from_parts`]).
    #[error("invalid machine state: {0}")]
    State(String),
    /// A value change [`crate::Tamper`] refused.
    #[error("cannot change the machine: {0}")]
    Tamper(String),
    /// Registers and a backend that do not agree with the code ([`crate::step`]).
    #[error("cannot step: {0}")]
    Step(String),
}

impl From<wasmparser::BinaryReaderError> for Error {
    fn from(e: wasmparser::BinaryReaderError) -> Self {
        Error::Invalid(e.to_string())
    }
}

/// A deterministic trap: the reason an execution stopped abnormally.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Trap {
    Unreachable,
    IntegerOverflow,
    IntegerDivideByZero,
    InvalidConversionToInteger,
    MemoryOutOfBounds,
    TableOutOfBounds,
    /// call_indirect with an index past the table's end.
    UndefinedElement,
    IndirectCallTypeMismatch,
    /// call_indirect through a null entry.
    UninitializedElement,
    CallStackExhausted,
    ValueStackExhausted,
    /// The program called `verigame.abort` with this code.
    Aborted(i32),
    /// A storage key or value longer than the limits of [`crate::storage`].
    StorageLimit,
    /// A storage or WASI host function reached through `call_indirect`: they are called
    /// directly, so that their gas price is known from the instruction and a WASI call
    /// that takes several steps can run its instruction again.
    IndirectHostCall,
}

impl Trap {
    /// A stable numeric code for encodings (snapshots, hashes).
    pub fn code(self) -> u32 {
        match self {
            Self::Unreachable => 1,
            Self::IntegerOverflow => 2,
            Self::IntegerDivideByZero => 3,
            Self::InvalidConversionToInteger => 4,
            Self::MemoryOutOfBounds => 5,
            Self::TableOutOfBounds => 6,
            Self::UndefinedElement => 7,
            Self::IndirectCallTypeMismatch => 8,
            Self::UninitializedElement => 9,
            Self::CallStackExhausted => 10,
            Self::ValueStackExhausted => 11,
            Self::Aborted(_) => 12,
            Self::StorageLimit => 13,
            Self::IndirectHostCall => 14,
        }
    }

    /// The inverse of [`Trap::code`]; `arg` is the abort code.
    pub fn from_code(code: u32, arg: i32) -> Option<Self> {
        Some(match code {
            1 => Self::Unreachable,
            2 => Self::IntegerOverflow,
            3 => Self::IntegerDivideByZero,
            4 => Self::InvalidConversionToInteger,
            5 => Self::MemoryOutOfBounds,
            6 => Self::TableOutOfBounds,
            7 => Self::UndefinedElement,
            8 => Self::IndirectCallTypeMismatch,
            9 => Self::UninitializedElement,
            10 => Self::CallStackExhausted,
            11 => Self::ValueStackExhausted,
            12 => Self::Aborted(arg),
            13 => Self::StorageLimit,
            14 => Self::IndirectHostCall,
            _ => return None,
        })
    }
}

impl fmt::Display for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable => f.write_str("unreachable executed"),
            Self::IntegerOverflow => f.write_str("integer overflow"),
            Self::IntegerDivideByZero => f.write_str("integer divide by zero"),
            Self::InvalidConversionToInteger => f.write_str("invalid conversion to integer"),
            Self::MemoryOutOfBounds => f.write_str("out of bounds memory access"),
            Self::TableOutOfBounds => f.write_str("out of bounds table access"),
            Self::UndefinedElement => f.write_str("undefined element"),
            Self::IndirectCallTypeMismatch => f.write_str("indirect call type mismatch"),
            Self::UninitializedElement => f.write_str("uninitialized element"),
            Self::CallStackExhausted => f.write_str("call stack exhausted"),
            Self::ValueStackExhausted => f.write_str("call stack exhausted: value stack limit reached"),
            Self::Aborted(code) => write!(f, "aborted by the program with code {code}"),
            Self::StorageLimit => write!(
                f,
                "storage key over {} bytes or value over {} bytes",
                crate::storage::MAX_KEY_LEN,
                crate::storage::MAX_VALUE_LEN
            ),
            Self::IndirectHostCall => f.write_str("storage or WASI function called through call_indirect"),
        }
    }
}
