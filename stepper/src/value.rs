//! Values as the machine stores them (untyped 64-bit slots) and as callers see them (typed).

use std::fmt;

/// A value type of WebAssembly 2.0 without SIMD.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValType {
    I32,
    I64,
    F32,
    F64,
    FuncRef,
    ExternRef,
}

impl ValType {
    pub(crate) fn from_wasm(ty: wasmparser::ValType) -> Option<Self> {
        use wasmparser::ValType as W;
        Some(match ty {
            W::I32 => Self::I32,
            W::I64 => Self::I64,
            W::F32 => Self::F32,
            W::F64 => Self::F64,
            W::Ref(r) if r.is_func_ref() => Self::FuncRef,
            W::Ref(r) if r.is_extern_ref() => Self::ExternRef,
            _ => return None,
        })
    }

    pub fn is_ref(self) -> bool {
        matches!(self, Self::FuncRef | Self::ExternRef)
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            Self::I32 => 0x7f,
            Self::I64 => 0x7e,
            Self::F32 => 0x7d,
            Self::F64 => 0x7c,
            Self::FuncRef => 0x70,
            Self::ExternRef => 0x6f,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0x7f => Self::I32,
            0x7e => Self::I64,
            0x7d => Self::F32,
            0x7c => Self::F64,
            0x70 => Self::FuncRef,
            0x6f => Self::ExternRef,
            _ => return None,
        })
    }
}

impl fmt::Display for ValType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::I32 => "i32",
            Self::I64 => "i64",
            Self::F32 => "f32",
            Self::F64 => "f64",
            Self::FuncRef => "funcref",
            Self::ExternRef => "externref",
        })
    }
}

/// A typed value. Floats are kept as raw bits so NaN payloads survive unchanged.
/// References name store addresses (functions) or host values (extern).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    I32(i32),
    I64(i64),
    F32(u32),
    F64(u64),
    FuncRef(Option<u32>),
    ExternRef(Option<u32>),
}

impl Value {
    pub fn ty(&self) -> ValType {
        match self {
            Self::I32(_) => ValType::I32,
            Self::I64(_) => ValType::I64,
            Self::F32(_) => ValType::F32,
            Self::F64(_) => ValType::F64,
            Self::FuncRef(_) => ValType::FuncRef,
            Self::ExternRef(_) => ValType::ExternRef,
        }
    }

    /// The slot encoding: integers and floats by their bits, references as `0` for null
    /// and `address + 1` otherwise.
    pub fn to_slot(self) -> u64 {
        match self {
            Self::I32(v) => v as u32 as u64,
            Self::I64(v) => v as u64,
            Self::F32(v) => v as u64,
            Self::F64(v) => v,
            Self::FuncRef(r) | Self::ExternRef(r) => ref_to_slot(r),
        }
    }

    pub fn from_slot(ty: ValType, slot: u64) -> Self {
        match ty {
            ValType::I32 => Self::I32(slot as u32 as i32),
            ValType::I64 => Self::I64(slot as i64),
            ValType::F32 => Self::F32(slot as u32),
            ValType::F64 => Self::F64(slot),
            ValType::FuncRef => Self::FuncRef(slot_to_ref(slot)),
            ValType::ExternRef => Self::ExternRef(slot_to_ref(slot)),
        }
    }

    /// The zero value of a type, which locals and new table slots start with.
    pub fn default_of(ty: ValType) -> Self {
        Self::from_slot(ty, 0)
    }
}

pub(crate) fn ref_to_slot(r: Option<u32>) -> u64 {
    r.map_or(0, |a| a as u64 + 1)
}

pub(crate) fn slot_to_ref(slot: u64) -> Option<u32> {
    slot.checked_sub(1).map(|a| a as u32)
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::I32(v) => write!(f, "{v}"),
            Self::I64(v) => write!(f, "{v}"),
            Self::F32(bits) => fmt_float(f, f32::from_bits(bits) as f64, bits as u64, 8),
            Self::F64(bits) => fmt_float(f, f64::from_bits(bits), bits, 16),
            Self::FuncRef(None) | Self::ExternRef(None) => f.write_str("null"),
            Self::FuncRef(Some(a)) => write!(f, "func:{a}"),
            Self::ExternRef(Some(a)) => write!(f, "extern:{a}"),
        }
    }
}

/// Floats print as decimals; NaNs print with their bit pattern, which is what matters.
fn fmt_float(f: &mut fmt::Formatter<'_>, value: f64, bits: u64, hex_digits: usize) -> fmt::Result {
    if value.is_nan() {
        write!(f, "nan(0x{bits:0hex_digits$x})")
    } else {
        write!(f, "{value}")
    }
}
