//! The fast path's instruction format: one 16-byte record per instruction, operands as
//! frame-relative slots (a frame's locals, then its operand stack, each at a height
//! fixed by validation), so values move between slots without a stack pointer.

use crate::op::{Binary, Unary};

/// A frame-relative slot index.
pub type Slot = u16;

/// One fast-path instruction. `steps` is how many wasm steps it completes: the
/// instructions the compiler folded into it (pushes of locals and constants, blocks,
/// `local.set` of its result) and its own. Fields by code:
///
/// - `a`: the destination slot of every code that has a result.
/// - `b`, `c`: source slots; `imm`: a constant, an offset, a branch target or an index
///   (pairs of 32-bit values are packed low half first, see [`Inst::lo`], [`Inst::hi`]).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct Inst {
    pub code: Code,
    pub steps: u8,
    pub a: Slot,
    pub b: Slot,
    pub c: Slot,
    pub imm: u64,
}

const _: () = assert!(std::mem::size_of::<Inst>() == 16);

impl Inst {
    pub fn new(code: Code) -> Self {
        Self { code, steps: 0, a: 0, b: 0, c: 0, imm: 0 }
    }

    pub fn a(self, a: Slot) -> Self {
        Self { a, ..self }
    }

    pub fn b(self, b: Slot) -> Self {
        Self { b, ..self }
    }

    pub fn c(self, c: Slot) -> Self {
        Self { c, ..self }
    }

    pub fn imm(self, imm: u64) -> Self {
        Self { imm, ..self }
    }

    /// `imm` as two 32-bit halves.
    pub fn pair(self, lo: u32, hi: u32) -> Self {
        self.imm(lo as u64 | (hi as u64) << 32)
    }

    #[inline(always)]
    pub fn lo(self) -> u32 {
        self.imm as u32
    }

    #[inline(always)]
    pub fn hi(self) -> u32 {
        (self.imm >> 32) as u32
    }
}

/// Defines [`Code`] from its groups, with the maps from the step instructions' operations
/// to the codes that perform them.
macro_rules! codes {
    (
        other: [$($other:ident),* $(,)?],
        binary: [$($bin:ident),* $(,)?],
        binary_imm: [$($imm:ident = $imm_op:ident),* $(,)?],
        branch: [$($br:ident, $br_imm:ident = $br_op:ident),* $(,)?],
        unary: [$($un:ident),* $(,)?],
    ) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u8)]
        pub enum Code {
            $($other,)*
            /// `a = b op c`, named like the operation.
            $($bin,)*
            /// `a = b op imm`.
            $($imm,)*
            /// Branch to `imm.lo` if `b op c` (or `b op imm.hi` for the immediate form).
            $($br, $br_imm,)*
            /// `a = op b`.
            $($un,)*
        }

        impl Code {
            pub fn binary(op: Binary) -> Code {
                match op {
                    $(Binary::$bin => Code::$bin,)*
                }
            }

            /// The code computing `x op imm` for an immediate that fits in `imm`.
            pub fn binary_imm(op: Binary) -> Option<Code> {
                match op {
                    $(Binary::$imm_op => Some(Code::$imm),)*
                    _ => None,
                }
            }

            /// The codes branching on comparison `op` of two slots, and of a slot and an
            /// immediate.
            pub fn branch(op: Binary) -> Option<(Code, Code)> {
                match op {
                    $(Binary::$br_op => Some((Code::$br, Code::$br_imm)),)*
                    _ => None,
                }
            }

            /// Whether the code is a comparison and branch.
            pub fn is_compare_branch(self) -> bool {
                match self {
                    $(Code::$br | Code::$br_imm => true,)*
                    _ => false,
                }
            }

            /// The code specialised for unary operation `op`; the others run as
            /// [`Code::Unary`] with the operation in `imm`.
            pub fn unary(op: Unary) -> Option<Code> {
                match op {
                    $(Unary::$un => Some(Code::$un),)*
                    _ => None,
                }
            }
        }
    };
}

codes! {
    other: [
        // Owns steps that emit nothing (blocks, dropped pushes) where no other code can.
        Nop,
        // Leaves the fast path: the precise executor runs this instruction.
        Exit,
        Copy, Const, GlobalGet, GlobalSet, Select, MemorySize, RefFunc,
        // Two copies in order: `a = b`, then `c = imm`.
        Copy2,
        // `a = b * c + imm` (slot `imm`), as the two wasm instructions compute it.
        F32MulAdd, F64MulAdd,
        // `a = unary(imm)(b)`, for the unary operations without a code of their own.
        Unary,
        // Loads of `a` from address `b + imm.hi` (wrapping) plus offset `imm.lo`.
        Load8U, Load8S32, Load8S64, Load16U, Load16S32, Load16S64, Load32U, Load32S64, Load64,
        // The same from address `b + c` plus offset `imm`.
        Load8UX, Load8S32X, Load8S64X, Load16UX, Load16S32X, Load16S64X, Load32UX, Load32S64X, Load64X,
        // Stores of `c` to address `b + imm.hi` plus offset `imm.lo`.
        Store8, Store16, Store32, Store64,
        // The same to address `b + a` plus offset `imm`.
        Store8X, Store16X, Store32X, Store64X,
        // Stores of `imm.hi`, zero-extended, to address `b` plus offset `imm.lo`.
        Store8Imm, Store16Imm, Store32Imm, Store64Imm,
        MemoryFill, MemoryCopy,
        Br, BrMove, BrIfNez, BrIfEqz, BrIfNez64, BrIfEqz64, BrIfNezMove, BrTable, BrTableEntry,
        Return, Call, CallIndirect,
        // Branch to `imm.lo` if `b op c` (or `b op imm.hi`) differs from `a != 0`: float
        // comparisons are not negated by swapping the operation (NaN compares false).
        BrF32Eq, BrF32Ne, BrF32Lt, BrF32Gt, BrF32Le, BrF32Ge,
        BrF64Eq, BrF64Ne, BrF64Lt, BrF64Gt, BrF64Le, BrF64Ge,
        BrF32LtImm, BrF32GtImm, BrF32LeImm, BrF32GeImm,
    ],
    binary: [
        I32Eq, I32Ne, I32LtS, I32LtU, I32GtS, I32GtU, I32LeS, I32LeU, I32GeS, I32GeU,
        I64Eq, I64Ne, I64LtS, I64LtU, I64GtS, I64GtU, I64LeS, I64LeU, I64GeS, I64GeU,
        F32Eq, F32Ne, F32Lt, F32Gt, F32Le, F32Ge,
        F64Eq, F64Ne, F64Lt, F64Gt, F64Le, F64Ge,
        I32Add, I32Sub, I32Mul, I32DivS, I32DivU, I32RemS, I32RemU,
        I32And, I32Or, I32Xor, I32Shl, I32ShrS, I32ShrU, I32Rotl, I32Rotr,
        I64Add, I64Sub, I64Mul, I64DivS, I64DivU, I64RemS, I64RemU,
        I64And, I64Or, I64Xor, I64Shl, I64ShrS, I64ShrU, I64Rotl, I64Rotr,
        F32Add, F32Sub, F32Mul, F32Div, F32Min, F32Max, F32Copysign,
        F64Add, F64Sub, F64Mul, F64Div, F64Min, F64Max, F64Copysign,
    ],
    binary_imm: [
        I32EqImm = I32Eq, I32NeImm = I32Ne, I32LtSImm = I32LtS, I32LtUImm = I32LtU,
        I32GtSImm = I32GtS, I32GtUImm = I32GtU, I32LeSImm = I32LeS, I32LeUImm = I32LeU,
        I32GeSImm = I32GeS, I32GeUImm = I32GeU,
        I32AddImm = I32Add, I32SubImm = I32Sub, I32MulImm = I32Mul, I32AndImm = I32And,
        I32OrImm = I32Or, I32XorImm = I32Xor, I32ShlImm = I32Shl, I32ShrSImm = I32ShrS,
        I32ShrUImm = I32ShrU, I32RotlImm = I32Rotl, I32RotrImm = I32Rotr,
        I64EqImm = I64Eq, I64NeImm = I64Ne, I64LtSImm = I64LtS, I64LtUImm = I64LtU,
        I64GtSImm = I64GtS, I64GtUImm = I64GtU, I64LeSImm = I64LeS, I64LeUImm = I64LeU,
        I64GeSImm = I64GeS, I64GeUImm = I64GeU,
        I64AddImm = I64Add, I64SubImm = I64Sub, I64MulImm = I64Mul, I64AndImm = I64And,
        I64OrImm = I64Or, I64XorImm = I64Xor, I64ShlImm = I64Shl, I64ShrSImm = I64ShrS,
        I64ShrUImm = I64ShrU, I64RotlImm = I64Rotl, I64RotrImm = I64Rotr,
        F32AddImm = F32Add, F32SubImm = F32Sub, F32MulImm = F32Mul, F32DivImm = F32Div,
        F32LtImm = F32Lt, F32GtImm = F32Gt, F32LeImm = F32Le, F32GeImm = F32Ge,
        F64AddImm = F64Add, F64SubImm = F64Sub, F64MulImm = F64Mul, F64DivImm = F64Div,
        F64LtImm = F64Lt, F64GtImm = F64Gt, F64LeImm = F64Le, F64GeImm = F64Ge,
    ],
    branch: [
        BrI32Eq, BrI32EqImm = I32Eq, BrI32Ne, BrI32NeImm = I32Ne,
        BrI32LtS, BrI32LtSImm = I32LtS, BrI32LtU, BrI32LtUImm = I32LtU,
        BrI32GtS, BrI32GtSImm = I32GtS, BrI32GtU, BrI32GtUImm = I32GtU,
        BrI32LeS, BrI32LeSImm = I32LeS, BrI32LeU, BrI32LeUImm = I32LeU,
        BrI32GeS, BrI32GeSImm = I32GeS, BrI32GeU, BrI32GeUImm = I32GeU,
        BrI64Eq, BrI64EqImm = I64Eq, BrI64Ne, BrI64NeImm = I64Ne,
        BrI64LtS, BrI64LtSImm = I64LtS, BrI64LtU, BrI64LtUImm = I64LtU,
        BrI64GtS, BrI64GtSImm = I64GtS, BrI64GtU, BrI64GtUImm = I64GtU,
        BrI64LeS, BrI64LeSImm = I64LeS, BrI64LeU, BrI64LeUImm = I64LeU,
        BrI64GeS, BrI64GeSImm = I64GeS, BrI64GeU, BrI64GeUImm = I64GeU,
    ],
    unary: [I32Eqz, I64Eqz, I32WrapI64, I64ExtendI32S, I64ExtendI32U, I32Extend8S, I32Extend16S],
}

/// The integer comparison that is true exactly when `op` is false.
pub fn negate(op: Binary) -> Option<Binary> {
    use Binary::*;
    Some(match op {
        I32Eq => I32Ne,
        I32Ne => I32Eq,
        I32LtS => I32GeS,
        I32LtU => I32GeU,
        I32GtS => I32LeS,
        I32GtU => I32LeU,
        I32LeS => I32GtS,
        I32LeU => I32GtU,
        I32GeS => I32LtS,
        I32GeU => I32LtU,
        I64Eq => I64Ne,
        I64Ne => I64Eq,
        I64LtS => I64GeS,
        I64LtU => I64GeU,
        I64GtS => I64LeS,
        I64GtU => I64LeU,
        I64LeS => I64GtS,
        I64LeU => I64GtU,
        I64GeS => I64LtS,
        I64GeU => I64LtU,
        _ => return None,
    })
}

/// The comparison with its operands swapped (`x op y` is `y swapped x`), or the operation
/// itself when it commutes.
pub fn swapped(op: Binary) -> Option<Binary> {
    use Binary::*;
    Some(match op {
        I32Eq | I32Ne | I32Add | I32Mul | I32And | I32Or | I32Xor => op,
        I64Eq | I64Ne | I64Add | I64Mul | I64And | I64Or | I64Xor => op,
        F32Add | F32Mul | F64Add | F64Mul => op,
        I32LtS => I32GtS,
        I32LtU => I32GtU,
        I32GtS => I32LtS,
        I32GtU => I32LtU,
        I32LeS => I32GeS,
        I32LeU => I32GeU,
        I32GeS => I32LeS,
        I32GeU => I32LeU,
        I64LtS => I64GtS,
        I64LtU => I64GtU,
        I64GtS => I64LtS,
        I64GtU => I64LtU,
        I64LeS => I64GeS,
        I64LeU => I64GeU,
        I64GeS => I64LeS,
        I64GeU => I64LeU,
        F32Lt => F32Gt,
        F32Gt => F32Lt,
        F32Le => F32Ge,
        F32Ge => F32Le,
        F64Lt => F64Gt,
        F64Gt => F64Lt,
        F64Le => F64Ge,
        F64Ge => F64Le,
        _ => return None,
    })
}

/// The codes branching on float comparison `op` of two slots, and of a slot and an f32
/// immediate.
pub fn float_branch(op: Binary) -> Option<(Code, Option<Code>)> {
    use Binary::*;
    Some(match op {
        F32Eq => (Code::BrF32Eq, None),
        F32Ne => (Code::BrF32Ne, None),
        F32Lt => (Code::BrF32Lt, Some(Code::BrF32LtImm)),
        F32Gt => (Code::BrF32Gt, Some(Code::BrF32GtImm)),
        F32Le => (Code::BrF32Le, Some(Code::BrF32LeImm)),
        F32Ge => (Code::BrF32Ge, Some(Code::BrF32GeImm)),
        F64Eq => (Code::BrF64Eq, None),
        F64Ne => (Code::BrF64Ne, None),
        F64Lt => (Code::BrF64Lt, None),
        F64Gt => (Code::BrF64Gt, None),
        F64Le => (Code::BrF64Le, None),
        F64Ge => (Code::BrF64Ge, None),
        _ => return None,
    })
}
