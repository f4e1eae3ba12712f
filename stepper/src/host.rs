//! Host functions: the spec tests' `spectest` module, the deterministic `verigame`
//! interface for programs and deterministic WASI ([`crate::wasi`]). Nothing here reads
//! the host's clock, randomness or environment: only the machine's state.

use crate::backend::Backend;
use crate::module::FuncType;
use crate::storage::{reserved_key, CALLER, MAX_KEY_LEN, MAX_VALUE_LEN};
use crate::value::ValType::{self, F32, F64, I32, I64};
use crate::wasi::{Progress, Wasi};
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
    /// `verigame.storage_read(key_ptr, key_len, value_ptr, value_cap: i32) -> i32`: copies
    /// the value stored under the key (at most `value_cap` bytes of it) to `value_ptr` and
    /// returns its full length, or -1 when the key is absent.
    StorageRead,
    /// `verigame.storage_write(key_ptr, key_len, value_ptr, value_len: i32)`.
    StorageWrite,
    /// `verigame.storage_delete(key_ptr, key_len: i32) -> i32`: 1 if the key was present.
    StorageDelete,
    /// `verigame.caller(ptr: i32) -> i32`: copies the running call's caller (the value
    /// under the reserved key [`crate::storage::CALLER`], a client's 32-byte public key
    /// on a node) to `ptr` and returns its length, or -1 when the call has none.
    Caller,
    /// A function of `wasi_snapshot_preview1`.
    Wasi(Wasi),
}

/// How a call of a host function ended ([`HostFunc::run`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostEnd {
    /// It returned, with this result if it has one.
    Returned(Option<u64>),
    /// The program ended the call with this exit code.
    Exited(u32),
}

/// What a host function did in one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// It returned, with this result if it has one.
    Returned(Option<u64>),
    /// It goes on in the next step: the same call instruction runs again.
    Again,
    /// The call ends with this exit code (`proc_exit`).
    Exited(u32),
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

/// The most parameters a host function takes (WASI's `path_open`).
pub const MAX_PARAMS: usize = 9;

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

    pub const VERIGAME: [(&'static str, HostFunc); 6] = [
        ("abort", HostFunc::Abort),
        ("emit", HostFunc::Emit),
        ("storage_read", HostFunc::StorageRead),
        ("storage_write", HostFunc::StorageWrite),
        ("storage_delete", HostFunc::StorageDelete),
        ("caller", HostFunc::Caller),
    ];

    pub fn ty(self) -> FuncType {
        if let HostFunc::Wasi(f) = self {
            let results = if f.has_result() { vec![I32] } else { Vec::new() };
            return FuncType { params: f.params().to_vec(), results };
        }
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
            HostFunc::StorageRead | HostFunc::StorageWrite => &[I32, I32, I32, I32],
            HostFunc::StorageDelete => &[I32, I32],
            HostFunc::Caller => &[I32],
            HostFunc::Wasi(_) => unreachable!("typed above"),
        };
        let results: &[ValType] = match self {
            HostFunc::StorageRead | HostFunc::StorageDelete | HostFunc::Caller => &[I32],
            _ => &[],
        };
        FuncType { params: params.to_vec(), results: results.to_vec() }
    }

    /// Stable identifier used in snapshots and hashes.
    pub fn code(self) -> u8 {
        match self {
            HostFunc::SpectestPrint(p) => p as u8,
            HostFunc::Abort => 16,
            HostFunc::Emit => 17,
            HostFunc::StorageRead => 18,
            HostFunc::StorageWrite => 19,
            HostFunc::StorageDelete => 20,
            HostFunc::Caller => 21,
            HostFunc::Wasi(f) => f.code(),
        }
    }

    /// Whether the function reads or writes state beyond its operands and memory:
    /// contract storage (`caller` reads a reserved key) or the call's input and output
    /// (WASI). Such functions are priced by the storage gas class (each step, for a WASI
    /// call that takes several) and callable only directly.
    pub fn is_storage(self) -> bool {
        matches!(
            self,
            HostFunc::StorageRead
                | HostFunc::StorageWrite
                | HostFunc::StorageDelete
                | HostFunc::Caller
                | HostFunc::Wasi(_)
        )
    }

    pub fn from_code(code: u8) -> Option<Self> {
        Self::SPECTEST
            .iter()
            .chain(Self::VERIGAME.iter())
            .map(|&(_, f)| f)
            .chain(Wasi::ALL.iter().map(|&f| HostFunc::Wasi(f)))
            .find(|f| f.code() == code)
    }

    /// The function a module imports as `module.name`, if the host has it.
    pub fn resolve(module: &str, name: &str) -> Option<Self> {
        match module {
            "verigame" => Self::VERIGAME.iter().find(|(n, _)| *n == name).map(|&(_, f)| f),
            crate::wasi::MODULE => Wasi::from_name(name).map(HostFunc::Wasi),
            _ => None,
        }
    }

    /// Runs a call of the function to its end over `b`, as the steps of its call
    /// instruction do from step counter `steps` on (an engine that is not the stepper
    /// calls host functions so): how it ended and how many steps it took, more than one
    /// for a WASI call that moves many bytes. A trap leaves what earlier steps did.
    pub fn run<B: Backend>(self, b: &mut B, args: &[u64], chunk: u64, steps: u64) -> Result<(HostEnd, u64), Trap> {
        let mut taken = 0;
        loop {
            let outcome = self.call(b, args, chunk, steps + taken)?;
            taken += 1;
            match outcome {
                Outcome::Returned(result) => return Ok((HostEnd::Returned(result), taken)),
                Outcome::Exited(code) => return Ok((HostEnd::Exited(code), taken)),
                Outcome::Again => {}
            }
        }
    }

    /// Runs one step of the function on its arguments over `b`. `chunk` is the memory
    /// chunk size and `steps` the step counter (WASI's clock). Leaves the state untouched
    /// when it traps.
    pub(crate) fn call<B: Backend>(self, b: &mut B, args: &[u64], chunk: u64, steps: u64) -> Result<Outcome, Trap> {
        if let HostFunc::Wasi(f) = self {
            return Ok(match f.call(b, args, chunk, steps) {
                Progress::Done(errno) => Outcome::Returned(Some(errno as u64)),
                Progress::Again => Outcome::Again,
                Progress::Exit(code) => Outcome::Exited(code),
            });
        }
        self.call_verigame(b, args).map(Outcome::Returned)
    }

    fn call_verigame<B: Backend>(self, b: &mut B, args: &[u64]) -> Result<Option<u64>, Trap> {
        match self {
            HostFunc::SpectestPrint(_) => Ok(None),
            HostFunc::Abort => Err(Trap::Aborted(args[0] as i32)),
            HostFunc::Emit => {
                b.emit(args[0] as i64);
                Ok(None)
            }
            HostFunc::StorageRead => {
                let key = read_bytes(b, args[0], args[1], MAX_KEY_LEN)?;
                let Some(value) = b.storage_get(&key) else { return Ok(Some(u32::MAX as u64)) };
                let n = value.len().min(args[3] as u32 as usize);
                let at = range(b, args[2], n as u64)?;
                b.write(0, at, &value[..n]);
                Ok(Some(value.len() as u64))
            }
            HostFunc::StorageWrite => {
                let key = read_bytes(b, args[0], args[1], MAX_KEY_LEN)?;
                let value = read_bytes(b, args[2], args[3], MAX_VALUE_LEN)?;
                b.storage_set(&key, Some(&value));
                Ok(None)
            }
            HostFunc::StorageDelete => {
                let key = read_bytes(b, args[0], args[1], MAX_KEY_LEN)?;
                let present = b.storage_get(&key).is_some();
                b.storage_set(&key, None);
                Ok(Some(present as u64))
            }
            HostFunc::Caller => {
                let Some(caller) = b.storage_get(&reserved_key(CALLER)) else { return Ok(Some(u32::MAX as u64)) };
                let at = range(b, args[0], caller.len() as u64)?;
                b.write(0, at, &caller);
                Ok(Some(caller.len() as u64))
            }
            HostFunc::Wasi(_) => unreachable!("called above"),
        }
    }
}

/// Where `[ptr, ptr + len)` starts in memory 0 (the memory storage functions use), if it
/// lies within it.
fn range<B: Backend>(b: &B, ptr: u64, len: u64) -> Result<usize, Trap> {
    let start = ptr as u32 as u64;
    let size = if b.memory_count() > 0 { b.memory_len(0) as u64 } else { 0 };
    if start + len > size {
        return Err(Trap::MemoryOutOfBounds);
    }
    Ok(start as usize)
}

/// The `len` bytes at `ptr` in memory 0, at most `max` of them.
fn read_bytes<B: Backend>(b: &B, ptr: u64, len: u64, max: usize) -> Result<Vec<u8>, Trap> {
    let len = len as u32 as usize;
    if len > max {
        return Err(Trap::StorageLimit);
    }
    let at = range(b, ptr, len as u64)?;
    Ok((at..at + len).map(|i| b.load(0, i, 1) as u8).collect())
}
