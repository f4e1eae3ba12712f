//! Host functions: the spec tests' `spectest` module and the deterministic `verigame`
//! interface for programs. Nothing here reads a clock, randomness or the environment.

use crate::module::FuncType;
use crate::value::ValType::{self, F32, F64, I32, I64};
use crate::Trap;

/// A host function. Host functions are named values, not closures, so a machine's
/// state stays plain data that can be snapshotted and hashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HostFunc {
    /// `spectest.print*`: accept their arguments and do nothing.
    SpectestPrint(SpectestPrint),
    /// `verigame.abort(code: i32)`: trap with the program's code.
    Abort,
    /// `verigame.emit(value: i64)`: append a value to the machine's output log.
    Emit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SpectestPrint {
    Print,
    I32,
    I64,
    F32,
    F64,
    I32F32,
    F64F64,
}

/// The most parameters a host function takes.
pub const MAX_PARAMS: usize = 2;

impl HostFunc {
    pub const SPECTEST: [(&'static str, HostFunc); 7] = [
        ("print", HostFunc::SpectestPrint(SpectestPrint::Print)),
        ("print_i32", HostFunc::SpectestPrint(SpectestPrint::I32)),
        ("print_i64", HostFunc::SpectestPrint(SpectestPrint::I64)),
        ("print_f32", HostFunc::SpectestPrint(SpectestPrint::F32)),
        ("print_f64", HostFunc::SpectestPrint(SpectestPrint::F64)),
        ("print_i32_f32", HostFunc::SpectestPrint(SpectestPrint::I32F32)),
        ("print_f64_f64", HostFunc::SpectestPrint(SpectestPrint::F64F64)),
    ];

    pub const VERIGAME: [(&'static str, HostFunc); 2] = [("abort", HostFunc::Abort), ("emit", HostFunc::Emit)];

    pub fn ty(self) -> FuncType {
        let params: &[ValType] = match self {
            HostFunc::SpectestPrint(p) => match p {
                SpectestPrint::Print => &[],
                SpectestPrint::I32 => &[I32],
                SpectestPrint::I64 => &[I64],
                SpectestPrint::F32 => &[F32],
                SpectestPrint::F64 => &[F64],
                SpectestPrint::I32F32 => &[I32, F32],
                SpectestPrint::F64F64 => &[F64, F64],
            },
            HostFunc::Abort => &[I32],
            HostFunc::Emit => &[I64],
        };
        FuncType { params: params.to_vec(), results: Vec::new() }
    }

    /// Stable identifier used in snapshots and hashes.
    pub fn code(self) -> u8 {
        match self {
            HostFunc::SpectestPrint(p) => p as u8,
            HostFunc::Abort => 16,
            HostFunc::Emit => 17,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        Self::SPECTEST.iter().chain(Self::VERIGAME.iter()).map(|&(_, f)| f).find(|f| f.code() == code)
    }

    /// Runs the function on its arguments and returns the value it appends to the
    /// output log, if any.
    pub(crate) fn call(self, args: &[u64]) -> Result<Option<i64>, Trap> {
        match self {
            HostFunc::SpectestPrint(_) => Ok(None),
            HostFunc::Abort => Err(Trap::Aborted(args[0] as i32)),
            HostFunc::Emit => Ok(Some(args[0] as i64)),
        }
    }
}
