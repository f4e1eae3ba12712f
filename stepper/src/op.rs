//! The internal instruction set: wasm instructions with branch targets and stack
//! heights resolved at translation time, one `Op` per wasm instruction (table.grow
//! with a non-null initial value and br_table's targets are the only multi-op forms).

use std::fmt;

use crate::value::ValType;

/// A resolved branch: jump to `target`, keeping the top `keep` values and dropping
/// the `drop` values below them (the operands of the blocks being left).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Branch {
    pub target: u32,
    pub drop: u32,
    pub keep: u32,
}

/// Width and extension of a memory access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Load {
    I32,
    I64,
    F32,
    F64,
    I32S8,
    I32U8,
    I32S16,
    I32U16,
    I64S8,
    I64U8,
    I64S16,
    I64U16,
    I64S32,
    I64U32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    I32,
    I64,
    F32,
    F64,
    I32N8,
    I32N16,
    I64N8,
    I64N16,
    I64N32,
}

impl Load {
    pub fn width(self) -> u32 {
        match self {
            Self::I32S8 | Self::I32U8 | Self::I64S8 | Self::I64U8 => 1,
            Self::I32S16 | Self::I32U16 | Self::I64S16 | Self::I64U16 => 2,
            Self::I32 | Self::F32 | Self::I64S32 | Self::I64U32 => 4,
            Self::I64 | Self::F64 => 8,
        }
    }

    /// Extends the little-endian `raw` bytes (already zero-extended) to a slot value.
    #[inline(always)]
    pub fn extend(self, raw: u64) -> u64 {
        match self {
            Self::I32 | Self::F32 | Self::I64 | Self::F64 => raw,
            Self::I32U8 | Self::I32U16 | Self::I64U8 | Self::I64U16 | Self::I64U32 => raw,
            Self::I32S8 => raw as u8 as i8 as i32 as u32 as u64,
            Self::I32S16 => raw as u16 as i16 as i32 as u32 as u64,
            Self::I64S8 => raw as u8 as i8 as i64 as u64,
            Self::I64S16 => raw as u16 as i16 as i64 as u64,
            Self::I64S32 => raw as u32 as i32 as i64 as u64,
        }
    }
}

impl Store {
    pub fn width(self) -> u32 {
        match self {
            Self::I32N8 | Self::I64N8 => 1,
            Self::I32N16 | Self::I64N16 => 2,
            Self::I32 | Self::F32 | Self::I64N32 => 4,
            Self::I64 | Self::F64 => 8,
        }
    }
}

/// Numeric instructions without immediates, grouped by operand shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unary {
    I32Eqz,
    I32Clz,
    I32Ctz,
    I32Popcnt,
    I64Eqz,
    I64Clz,
    I64Ctz,
    I64Popcnt,
    F32Abs,
    F32Neg,
    F32Ceil,
    F32Floor,
    F32Trunc,
    F32Nearest,
    F32Sqrt,
    F64Abs,
    F64Neg,
    F64Ceil,
    F64Floor,
    F64Trunc,
    F64Nearest,
    F64Sqrt,
    I32WrapI64,
    I32TruncF32S,
    I32TruncF32U,
    I32TruncF64S,
    I32TruncF64U,
    I64ExtendI32S,
    I64ExtendI32U,
    I64TruncF32S,
    I64TruncF32U,
    I64TruncF64S,
    I64TruncF64U,
    F32ConvertI32S,
    F32ConvertI32U,
    F32ConvertI64S,
    F32ConvertI64U,
    F32DemoteF64,
    F64ConvertI32S,
    F64ConvertI32U,
    F64ConvertI64S,
    F64ConvertI64U,
    F64PromoteF32,
    I32Extend8S,
    I32Extend16S,
    I64Extend8S,
    I64Extend16S,
    I64Extend32S,
    I32TruncSatF32S,
    I32TruncSatF32U,
    I32TruncSatF64S,
    I32TruncSatF64U,
    I64TruncSatF32S,
    I64TruncSatF32U,
    I64TruncSatF64S,
    I64TruncSatF64U,
    /// Reinterpretations leave the slot's bits as they are.
    I32ReinterpretF32,
    I64ReinterpretF64,
    F32ReinterpretI32,
    F64ReinterpretI64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binary {
    I32Eq,
    I32Ne,
    I32LtS,
    I32LtU,
    I32GtS,
    I32GtU,
    I32LeS,
    I32LeU,
    I32GeS,
    I32GeU,
    I64Eq,
    I64Ne,
    I64LtS,
    I64LtU,
    I64GtS,
    I64GtU,
    I64LeS,
    I64LeU,
    I64GeS,
    I64GeU,
    F32Eq,
    F32Ne,
    F32Lt,
    F32Gt,
    F32Le,
    F32Ge,
    F64Eq,
    F64Ne,
    F64Lt,
    F64Gt,
    F64Le,
    F64Ge,
    I32Add,
    I32Sub,
    I32Mul,
    I32DivS,
    I32DivU,
    I32RemS,
    I32RemU,
    I32And,
    I32Or,
    I32Xor,
    I32Shl,
    I32ShrS,
    I32ShrU,
    I32Rotl,
    I32Rotr,
    I64Add,
    I64Sub,
    I64Mul,
    I64DivS,
    I64DivU,
    I64RemS,
    I64RemU,
    I64And,
    I64Or,
    I64Xor,
    I64Shl,
    I64ShrS,
    I64ShrU,
    I64Rotl,
    I64Rotr,
    F32Add,
    F32Sub,
    F32Mul,
    F32Div,
    F32Min,
    F32Max,
    F32Copysign,
    F64Add,
    F64Sub,
    F64Mul,
    F64Div,
    F64Min,
    F64Max,
    F64Copysign,
}

/// One executable instruction. Indices (`local`, `global`, `func`, `table`, ...) are
/// the module's own index spaces; the instance maps them to store addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Unreachable,
    Nop,
    /// `block` and `loop`: entering them changes nothing but the pc.
    Block,
    Loop,
    /// Pops the condition; jumps to `else_target` when it is zero.
    If {
        else_target: u32,
    },
    /// Reached by falling out of a then-branch: jumps past the `end`.
    Else {
        end_target: u32,
    },
    End,
    Br(Branch),
    BrIf(Branch),
    /// Followed by `len + 1` [`Op::BrTableTarget`] entries, the last one the default.
    BrTable {
        len: u32,
    },
    BrTableTarget(Branch),
    Return,
    Call(u32),
    CallIndirect {
        type_index: u32,
        table: u32,
    },
    Drop,
    Select,
    LocalGet(u32),
    LocalSet(u32),
    LocalTee(u32),
    GlobalGet(u32),
    GlobalSet(u32),
    TableGet(u32),
    TableSet(u32),
    TableSize(u32),
    /// Grows by null entries; when the initial value is not null the following
    /// [`Op::TableFill`] writes it in bounded sub-steps, else it is skipped.
    TableGrow(u32),
    TableFill(u32),
    TableCopy {
        dst: u32,
        src: u32,
    },
    TableInit {
        elem: u32,
        table: u32,
    },
    ElemDrop(u32),
    Load {
        kind: Load,
        offset: u32,
    },
    Store {
        kind: Store,
        offset: u32,
    },
    MemorySize,
    MemoryGrow,
    MemoryFill,
    MemoryCopy,
    MemoryInit(u32),
    DataDrop(u32),
    /// A constant's slot value; its type is for display.
    Const {
        value: u64,
        ty: ValType,
    },
    Unary(Unary),
    Binary(Binary),
    RefNull,
    RefIsNull,
    RefFunc(u32),
}

impl Binary {
    /// Division and remainder trap; nothing else does.
    pub fn can_trap(self) -> bool {
        use Binary::*;
        matches!(self, I32DivS | I32DivU | I32RemS | I32RemU | I64DivS | I64DivU | I64RemS | I64RemU)
    }

    pub fn is_i32(self) -> bool {
        use Binary::*;
        matches!(
            self,
            I32Eq
                | I32Ne
                | I32LtS
                | I32LtU
                | I32GtS
                | I32GtU
                | I32LeS
                | I32LeU
                | I32GeS
                | I32GeU
                | I32Add
                | I32Sub
                | I32Mul
                | I32DivS
                | I32DivU
                | I32RemS
                | I32RemU
                | I32And
                | I32Or
                | I32Xor
                | I32Shl
                | I32ShrS
                | I32ShrU
                | I32Rotl
                | I32Rotr
        )
    }
}

const _: () = assert!(std::mem::size_of::<Op>() == 16, "ops stay 16 bytes");

/// Instruction classes that the gas table prices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GasClass {
    /// Control flow without calls: block, loop, if, else, end, br*, nop, unreachable.
    Control = 0,
    Call = 1,
    /// Locals, globals, constants, drop, select, references.
    Variable = 2,
    Load = 3,
    Store = 4,
    /// Integer and float arithmetic, comparisons and conversions.
    Numeric = 5,
    /// Division and remainder.
    Division = 6,
    /// memory.size / memory.grow and the table element instructions.
    MemoryTable = 7,
    /// One bounded sub-step of a bulk memory or table instruction.
    Bulk = 8,
    /// A direct call of a contract storage host function (in place of `Call`).
    Storage = 9,
}

impl GasClass {
    pub const COUNT: usize = 10;
    pub const ALL: [GasClass; Self::COUNT] = [
        Self::Control,
        Self::Call,
        Self::Variable,
        Self::Load,
        Self::Store,
        Self::Numeric,
        Self::Division,
        Self::MemoryTable,
        Self::Bulk,
        Self::Storage,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Control => "control",
            Self::Call => "call",
            Self::Variable => "variable",
            Self::Load => "load",
            Self::Store => "store",
            Self::Numeric => "numeric",
            Self::Division => "division",
            Self::MemoryTable => "memory-table",
            Self::Bulk => "bulk",
            Self::Storage => "storage",
        }
    }
}

impl Op {
    pub fn gas_class(&self) -> GasClass {
        use Binary::*;
        match self {
            Op::Unreachable | Op::Nop | Op::Block | Op::Loop | Op::If { .. } | Op::Else { .. } | Op::End => {
                GasClass::Control
            }
            Op::Br(_) | Op::BrIf(_) | Op::BrTable { .. } | Op::BrTableTarget(_) | Op::Return => GasClass::Control,
            Op::Call(_) | Op::CallIndirect { .. } => GasClass::Call,
            Op::Drop | Op::Select | Op::LocalGet(_) | Op::LocalSet(_) | Op::LocalTee(_) => GasClass::Variable,
            Op::GlobalGet(_) | Op::GlobalSet(_) | Op::Const { .. } => GasClass::Variable,
            Op::RefNull | Op::RefIsNull | Op::RefFunc(_) => GasClass::Variable,
            Op::Load { .. } => GasClass::Load,
            Op::Store { .. } => GasClass::Store,
            Op::Binary(I32DivS | I32DivU | I32RemS | I32RemU | I64DivS | I64DivU | I64RemS | I64RemU) => {
                GasClass::Division
            }
            Op::Unary(_) | Op::Binary(_) => GasClass::Numeric,
            Op::TableGet(_) | Op::TableSet(_) | Op::TableSize(_) | Op::TableGrow(_) | Op::ElemDrop(_) => {
                GasClass::MemoryTable
            }
            Op::MemorySize | Op::MemoryGrow | Op::DataDrop(_) => GasClass::MemoryTable,
            Op::TableFill(_) | Op::TableCopy { .. } | Op::TableInit { .. } => GasClass::Bulk,
            Op::MemoryFill | Op::MemoryCopy | Op::MemoryInit(_) => GasClass::Bulk,
        }
    }
}

/// `CamelCase` after a type prefix as wasm's `prefix.snake_case`: `I32TruncSatF32S` is
/// `i32.trunc_sat_f32_s`.
fn wasm_name(debug: &str) -> String {
    let (prefix, rest) = debug.split_at(3);
    let mut out = prefix.to_ascii_lowercase();
    out.push('.');
    for (i, c) in rest.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

impl fmt::Display for Load {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::I32 => "i32.load",
            Self::I64 => "i64.load",
            Self::F32 => "f32.load",
            Self::F64 => "f64.load",
            Self::I32S8 => "i32.load8_s",
            Self::I32U8 => "i32.load8_u",
            Self::I32S16 => "i32.load16_s",
            Self::I32U16 => "i32.load16_u",
            Self::I64S8 => "i64.load8_s",
            Self::I64U8 => "i64.load8_u",
            Self::I64S16 => "i64.load16_s",
            Self::I64U16 => "i64.load16_u",
            Self::I64S32 => "i64.load32_s",
            Self::I64U32 => "i64.load32_u",
        };
        f.write_str(name)
    }
}

impl fmt::Display for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::I32 => "i32.store",
            Self::I64 => "i64.store",
            Self::F32 => "f32.store",
            Self::F64 => "f64.store",
            Self::I32N8 => "i32.store8",
            Self::I32N16 => "i32.store16",
            Self::I64N8 => "i64.store8",
            Self::I64N16 => "i64.store16",
            Self::I64N32 => "i64.store32",
        };
        f.write_str(name)
    }
}

impl fmt::Display for Unary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&wasm_name(&format!("{self:?}")))
    }
}

impl fmt::Display for Binary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&wasm_name(&format!("{self:?}")))
    }
}

impl fmt::Display for Branch {
    /// `@target`, and what the branch drops and keeps when it drops anything.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{}", self.target)?;
        if self.drop > 0 {
            write!(f, " (drop {}, keep {})", self.drop, self.keep)?;
        }
        Ok(())
    }
}

impl fmt::Display for Op {
    /// The wasm text of the instruction, with resolved targets as `@pc`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Op::Unreachable => f.write_str("unreachable"),
            Op::Nop => f.write_str("nop"),
            Op::Block => f.write_str("block"),
            Op::Loop => f.write_str("loop"),
            Op::If { else_target } => write!(f, "if (else @{else_target})"),
            Op::Else { end_target } => write!(f, "else (end @{end_target})"),
            Op::End => f.write_str("end"),
            Op::Br(b) => write!(f, "br {b}"),
            Op::BrIf(b) => write!(f, "br_if {b}"),
            Op::BrTable { len } => write!(f, "br_table ({len} targets and a default)"),
            Op::BrTableTarget(b) => write!(f, "br_table target {b}"),
            Op::Return => f.write_str("return"),
            Op::Call(i) => write!(f, "call {i}"),
            Op::CallIndirect { type_index, table } => write!(f, "call_indirect {table} (type {type_index})"),
            Op::Drop => f.write_str("drop"),
            Op::Select => f.write_str("select"),
            Op::LocalGet(i) => write!(f, "local.get {i}"),
            Op::LocalSet(i) => write!(f, "local.set {i}"),
            Op::LocalTee(i) => write!(f, "local.tee {i}"),
            Op::GlobalGet(i) => write!(f, "global.get {i}"),
            Op::GlobalSet(i) => write!(f, "global.set {i}"),
            Op::TableGet(t) => write!(f, "table.get {t}"),
            Op::TableSet(t) => write!(f, "table.set {t}"),
            Op::TableSize(t) => write!(f, "table.size {t}"),
            Op::TableGrow(t) => write!(f, "table.grow {t}"),
            Op::TableFill(t) => write!(f, "table.fill {t}"),
            Op::TableCopy { dst, src } => write!(f, "table.copy {dst} {src}"),
            Op::TableInit { elem, table } => write!(f, "table.init {table} {elem}"),
            Op::ElemDrop(e) => write!(f, "elem.drop {e}"),
            Op::Load { kind, offset: 0 } => write!(f, "{kind}"),
            Op::Load { kind, offset } => write!(f, "{kind} offset={offset}"),
            Op::Store { kind, offset: 0 } => write!(f, "{kind}"),
            Op::Store { kind, offset } => write!(f, "{kind} offset={offset}"),
            Op::MemorySize => f.write_str("memory.size"),
            Op::MemoryGrow => f.write_str("memory.grow"),
            Op::MemoryFill => f.write_str("memory.fill"),
            Op::MemoryCopy => f.write_str("memory.copy"),
            Op::MemoryInit(s) => write!(f, "memory.init {s}"),
            Op::DataDrop(s) => write!(f, "data.drop {s}"),
            Op::Const { value, ty } => match ty {
                ValType::I32 => write!(f, "i32.const {}", value as u32 as i32),
                ValType::I64 => write!(f, "i64.const {}", value as i64),
                ValType::F32 => write!(f, "f32.const {}", f32::from_bits(value as u32)),
                ValType::F64 => write!(f, "f64.const {}", f64::from_bits(value)),
                ValType::FuncRef | ValType::ExternRef => write!(f, "{ty}.const {value}"),
            },
            Op::Unary(u) => write!(f, "{u}"),
            Op::Binary(b) => write!(f, "{b}"),
            Op::RefNull => f.write_str("ref.null"),
            Op::RefIsNull => f.write_str("ref.is_null"),
            Op::RefFunc(i) => write!(f, "ref.func {i}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_print_as_wasm_text() {
        let cases = [
            (Op::Unary(Unary::I32TruncSatF32S), "i32.trunc_sat_f32_s"),
            (Op::Unary(Unary::I64Extend8S), "i64.extend8_s"),
            (Op::Unary(Unary::F64ConvertI32U), "f64.convert_i32_u"),
            (Op::Binary(Binary::I32LtS), "i32.lt_s"),
            (Op::Binary(Binary::F32Copysign), "f32.copysign"),
            (Op::Load { kind: Load::I64U32, offset: 8 }, "i64.load32_u offset=8"),
            (Op::Store { kind: Store::I32N8, offset: 0 }, "i32.store8"),
            (Op::Const { value: u32::MAX as u64, ty: ValType::I32 }, "i32.const -1"),
            (Op::Const { value: 1.5f64.to_bits(), ty: ValType::F64 }, "f64.const 1.5"),
            (Op::Br(Branch { target: 7, drop: 2, keep: 1 }), "br @7 (drop 2, keep 1)"),
            (Op::BrIf(Branch { target: 3, drop: 0, keep: 0 }), "br_if @3"),
        ];
        for (op, text) in cases {
            assert_eq!(op.to_string(), text);
        }
    }
}
