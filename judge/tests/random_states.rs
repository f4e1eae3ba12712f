//! Soundness per instruction from random states: for every instruction the stepper
//! executes, many pre-states are built directly (random operands with NaNs and edge
//! values, random locals, globals, tables, segment flags, memory sizes and contents,
//! call depths, counters, gas and statuses), the next step is proven and judged, and the
//! judge's post-state hash must be the stepper's.
//!
//! Coverage is counted by the op at the pc before each step, and the test fails when an
//! `Op` variant, a numeric instruction, a load or store width, a trap or an expected
//! outcome (a load across two chunks, a failed memory.grow, a call_indirect through a
//! null element, ...) never ran. The lists are exhaustive matches: a new variant of
//! `Op`, `Unary`, `Binary`, `Load`, `Store` or `Trap` does not compile until it is named
//! here.
//!
//! `VERIGAME_RANDOM_SEED=n` changes the seed, `VERIGAME_RANDOM_STATES=n` the number of
//! states per case (default 24).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use judge::{prove, Judge, Proof};
use merkle_memory::state_hash;
use stepper::op::{Binary, Load, Op, Store, Unary};
use stepper::store::{Memory, Table, PAGE_SIZE};
use stepper::{Config, Frame, GasTable, Machine, Module, Status, Trap, ValType};

/// Names the kinds of a type in one list, which becomes both a constant (`$all`) and an
/// exhaustive match (`$f`); `never` lists what is not counted.
macro_rules! kinds {
    ($f:ident($t:ty), $all:ident: $($pat:pat => $name:literal),* ; never: $($never:pat),*) => {
        const $all: &[&str] = &[$($name),*];
        fn $f(x: &$t) -> Option<&'static str> {
            match x {
                $($pat => Some($name),)*
                $($never => None,)*
            }
        }
    };
}

// Fused ops exist only in the fast path's code, which `Machine::step` never runs; br_table's
// targets are its data, never executed.
kinds!(op_kind(Op), OP_KINDS:
    Op::Unreachable => "unreachable", Op::Nop => "nop", Op::Block => "block", Op::Loop => "loop",
    Op::If { .. } => "if", Op::Else { .. } => "else", Op::End => "end", Op::Br(_) => "br", Op::BrIf(_) => "br_if",
    Op::BrTable { .. } => "br_table", Op::Return => "return", Op::Call(_) => "call",
    Op::CallIndirect { .. } => "call_indirect", Op::Drop => "drop", Op::Select => "select",
    Op::LocalGet(_) => "local.get", Op::LocalSet(_) => "local.set", Op::LocalTee(_) => "local.tee",
    Op::GlobalGet(_) => "global.get", Op::GlobalSet(_) => "global.set", Op::TableGet(_) => "table.get",
    Op::TableSet(_) => "table.set", Op::TableSize(_) => "table.size", Op::TableGrow(_) => "table.grow",
    Op::TableFill(_) => "table.fill", Op::TableCopy { .. } => "table.copy", Op::TableInit { .. } => "table.init",
    Op::ElemDrop(_) => "elem.drop", Op::Load { .. } => "load", Op::Store { .. } => "store",
    Op::MemorySize => "memory.size", Op::MemoryGrow => "memory.grow", Op::MemoryFill => "memory.fill",
    Op::MemoryCopy => "memory.copy", Op::MemoryInit(_) => "memory.init", Op::DataDrop(_) => "data.drop",
    Op::Const { .. } => "const", Op::Unary(_) => "unary", Op::Binary(_) => "binary", Op::RefNull => "ref.null",
    Op::RefIsNull => "ref.is_null", Op::RefFunc(_) => "ref.func";
    never: Op::BrTableTarget(_));

kinds!(trap_kind(Trap), TRAP_KINDS:
    Trap::Unreachable => "trap unreachable", Trap::IntegerOverflow => "trap integer overflow",
    Trap::IntegerDivideByZero => "trap divide by zero", Trap::InvalidConversionToInteger => "trap invalid conversion",
    Trap::MemoryOutOfBounds => "trap memory out of bounds", Trap::TableOutOfBounds => "trap table out of bounds",
    Trap::UndefinedElement => "trap undefined element", Trap::IndirectCallTypeMismatch => "trap signature mismatch",
    Trap::UninitializedElement => "trap null element", Trap::CallStackExhausted => "trap call stack exhausted",
    Trap::ValueStackExhausted => "trap value stack exhausted", Trap::Aborted(_) => "trap aborted";
    // Storage traps need a module importing the storage functions: tests/storage.rs.
    never: Trap::StorageLimit, Trap::IndirectHostCall);

/// Every variant of a fieldless enum; the match fails to compile when one is missing.
macro_rules! every {
    ($t:ident: $($v:ident),* $(,)?) => {{
        #[allow(dead_code)]
        fn exhaustive(x: $t) {
            match x { $($t::$v => {})* }
        }
        [$($t::$v),*]
    }};
}

fn unary_ops() -> Vec<Unary> {
    every!(Unary:
        I32Eqz, I32Clz, I32Ctz, I32Popcnt, I64Eqz, I64Clz, I64Ctz, I64Popcnt,
        F32Abs, F32Neg, F32Ceil, F32Floor, F32Trunc, F32Nearest, F32Sqrt,
        F64Abs, F64Neg, F64Ceil, F64Floor, F64Trunc, F64Nearest, F64Sqrt,
        I32WrapI64, I32TruncF32S, I32TruncF32U, I32TruncF64S, I32TruncF64U, I64ExtendI32S, I64ExtendI32U,
        I64TruncF32S, I64TruncF32U, I64TruncF64S, I64TruncF64U,
        F32ConvertI32S, F32ConvertI32U, F32ConvertI64S, F32ConvertI64U, F32DemoteF64,
        F64ConvertI32S, F64ConvertI32U, F64ConvertI64S, F64ConvertI64U, F64PromoteF32,
        I32Extend8S, I32Extend16S, I64Extend8S, I64Extend16S, I64Extend32S,
        I32TruncSatF32S, I32TruncSatF32U, I32TruncSatF64S, I32TruncSatF64U,
        I64TruncSatF32S, I64TruncSatF32U, I64TruncSatF64S, I64TruncSatF64U,
        I32ReinterpretF32, I64ReinterpretF64, F32ReinterpretI32, F64ReinterpretI64)
    .to_vec()
}

fn binary_ops() -> Vec<Binary> {
    every!(Binary:
        I32Eq, I32Ne, I32LtS, I32LtU, I32GtS, I32GtU, I32LeS, I32LeU, I32GeS, I32GeU,
        I64Eq, I64Ne, I64LtS, I64LtU, I64GtS, I64GtU, I64LeS, I64LeU, I64GeS, I64GeU,
        F32Eq, F32Ne, F32Lt, F32Gt, F32Le, F32Ge, F64Eq, F64Ne, F64Lt, F64Gt, F64Le, F64Ge,
        I32Add, I32Sub, I32Mul, I32DivS, I32DivU, I32RemS, I32RemU,
        I32And, I32Or, I32Xor, I32Shl, I32ShrS, I32ShrU, I32Rotl, I32Rotr,
        I64Add, I64Sub, I64Mul, I64DivS, I64DivU, I64RemS, I64RemU,
        I64And, I64Or, I64Xor, I64Shl, I64ShrS, I64ShrU, I64Rotl, I64Rotr,
        F32Add, F32Sub, F32Mul, F32Div, F32Min, F32Max, F32Copysign,
        F64Add, F64Sub, F64Mul, F64Div, F64Min, F64Max, F64Copysign)
    .to_vec()
}

fn load_kinds() -> Vec<Load> {
    every!(Load: I32, I64, F32, F64, I32S8, I32U8, I32S16, I32U16, I64S8, I64U8, I64S16, I64U16, I64S32, I64U32)
        .to_vec()
}

fn store_kinds() -> Vec<Store> {
    every!(Store: I32, I64, F32, F64, I32N8, I32N16, I64N8, I64N16, I64N32).to_vec()
}

/// What coverage counts an op under: numeric ops, loads and stores by instruction (without
/// the offset), everything else by its kind.
fn target_kind(op: &Op) -> Option<String> {
    match op {
        Op::Unary(u) => Some(u.to_string()),
        Op::Binary(b) => Some(b.to_string()),
        Op::Load { kind, .. } => Some(kind.to_string()),
        Op::Store { kind, .. } => Some(kind.to_string()),
        other => op_kind(other).map(str::to_string),
    }
}

// ---- the module ---------------------------------------------------------------------

/// Tables by store address (the module imports none).
const T: u32 = 0;
const X: u32 = 1;
const U: u32 = 2;
const T_MAX: u32 = 1000;
const X_MAX: u32 = 64;
const MEMORY_MAX: u32 = 48;
const DATA_LENS: [usize; 3] = [0, 600, 3000];
/// The passive element segments' items: funcref, externref (all null), funcref.
const ELEM_LENS: [usize; 3] = [6, 3, 1];
/// Types of the globals, by address; the last one is immutable.
const GLOBALS: [ValType; 7] =
    [ValType::I32, ValType::I64, ValType::F32, ValType::F64, ValType::FuncRef, ValType::ExternRef, ValType::I32];
/// Function indices in the module: the two imported host functions, then the helpers.
const EMIT: u32 = 0;
const ABORT: u32 = 1;
const I2I_A: u32 = 2;
const I2I_B: u32 = 3;
const V2V: u32 = 4;
const L2V: u32 = 5;
const CALLER: u32 = 6;
/// The generic callers, smallest first: `$caller`, then the `$pad` functions after `$wide`,
/// with their local counts (each also has an i32 and an i64 parameter).
const PADS: [(u32, usize); 4] = [(CALLER, 2), (8, 14), (9, 61), (10, 250)];
/// 40 parameters of every numeric type, for a call passing many arguments.
const WIDE: usize = 40;
const TYPES: [ValType; 4] = [ValType::I32, ValType::I64, ValType::F32, ValType::F64];

fn prelude() -> String {
    let bytes = |n: usize, salt: usize| (0..n).map(|i| format!("\\{:02x}", (i * 31 + salt) as u8)).collect::<String>();
    let wide: String = (0..WIDE).map(|i| format!("{} ", TYPES[i % 4])).collect();
    // A generic caller calls any function of its type through table $t, with 0 to
    // MAX_BELOW operands under the arguments.
    let pad = |locals: usize| {
        let sites: String = (0..=MAX_BELOW as usize)
            .map(|below| {
                let under = "(i64.const 0) ".repeat(below);
                let drops = "(drop) ".repeat(below);
                format!("{under}(call_indirect $t (type $pad) (local.get 0) (local.get 1) (i32.const 0)) {drops}")
            })
            .collect();
        format!("(func (type $pad) (local {}) {sites})", "i64 ".repeat(locals))
    };
    let caller = pad(PADS[0].1).replacen("(func", "(func $caller", 1);
    let pads: String = PADS[1..].iter().map(|&(_, locals)| pad(locals) + "\n").collect();
    format!(
        r#"
  (import "verigame" "emit" (func $emit (param i64)))
  (import "verigame" "abort" (func $abort (param i32)))
  (type $i2i (func (param i32) (result i32)))
  (type $v2v (func))
  (type $l2v (func (param i64)))
  (type $pad (func (param i32 i64)))
  (memory 1 {MEMORY_MAX})
  (table $t 0 {T_MAX} funcref)
  (table $x 0 {X_MAX} externref)
  (table $u 0 funcref)
  (global $gi (mut i32) (i32.const 0))
  (global $gl (mut i64) (i64.const 0))
  (global $gf (mut f32) (f32.const 0))
  (global $gd (mut f64) (f64.const 0))
  (global $gr (mut funcref) (ref.null func))
  (global $ge (mut externref) (ref.null extern))
  (global $k i32 (i32.const 42))
  (data $d0 "")
  (data $d1 "{}")
  (data $d2 "{}")
  (elem $e0 funcref (ref.func $i2i_a) (ref.func $i2i_b) (ref.null func) (ref.func $v2v) (ref.func $emit) (ref.func $l2v))
  (elem $e1 externref (ref.null extern) (ref.null extern) (ref.null extern))
  (elem $e2 funcref (ref.func $v2v))
  (func $i2i_a (type $i2i) (local i64 f64) (i32.add (local.get 0) (i32.const 1)))
  (func $i2i_b (type $i2i) (i32.mul (local.get 0) (local.get 0)))
  (func $v2v (type $v2v))
  (func $l2v (type $l2v) (local i32))
  {caller}
  (func $wide (param {wide}) (local i32))
  {pads}
"#,
        bytes(DATA_LENS[1], 7),
        bytes(DATA_LENS[2], 3)
    )
}

/// How one operand of a case's target instruction is chosen.
#[derive(Clone, Copy, Debug)]
enum Gen {
    Val(ValType),
    /// A condition: zero, one or anything.
    Cond,
    /// The address of a load or store of `width` bytes at `offset`: in bounds, across a
    /// chunk boundary, at the end of memory or past it.
    Addr {
        width: u32,
        offset: u32,
    },
    /// memory.grow's page count.
    Pages,
    /// table.grow's element count, for a table.
    Grow(u32),
    /// An element index of a table.
    Elem(u32),
    /// A br_table selector for `len` labels.
    Label(u32),
    /// The (destination, source or value, count) of a bulk instruction: three slots.
    Bulk(BulkOp),
}

#[derive(Clone, Copy, Debug)]
enum BulkOp {
    MemoryFill,
    MemoryCopy,
    MemoryInit(usize),
    TableFill(u32, ValType),
    TableCopy(u32, u32),
    TableInit(usize, u32),
}

/// One function of the module whose first op of kind `kind` is the instruction proven,
/// with its operands (bottom first; the state may hold more below them).
struct Case {
    kind: String,
    wat: String,
    operands: Vec<Gen>,
}

fn case(kind: &str, wat: impl Into<String>, operands: &[Gen]) -> Case {
    Case { kind: kind.to_string(), wat: wat.into(), operands: operands.to_vec() }
}

fn ref_type_of(table: u32) -> ValType {
    if table == X {
        ValType::ExternRef
    } else {
        ValType::FuncRef
    }
}

fn table_name(table: u32) -> &'static str {
    ["$t", "$x", "$u"][table as usize]
}

fn const_of(ty: ValType) -> &'static str {
    match ty {
        ValType::I32 => "(i32.const 0)",
        ValType::I64 => "(i64.const 0)",
        ValType::F32 => "(f32.const 0)",
        ValType::F64 => "(f64.const 0)",
        ValType::FuncRef => "(ref.null func)",
        ValType::ExternRef => "(ref.null extern)",
    }
}

/// A conversion's operand type is named after an underscore (`i32.trunc_f64_s`); every
/// other unary operation takes its result's type.
fn unary_operand(name: &str) -> ValType {
    let suffixed = [("_i32", ValType::I32), ("_i64", ValType::I64), ("_f32", ValType::F32), ("_f64", ValType::F64)];
    suffixed.iter().find(|(s, _)| name.contains(s)).map_or_else(|| prefix_type(name), |&(_, t)| t)
}

fn prefix_type(name: &str) -> ValType {
    match &name[..3] {
        "i32" => ValType::I32,
        "i64" => ValType::I64,
        "f32" => ValType::F32,
        _ => ValType::F64,
    }
}

fn cases() -> Vec<Case> {
    use Gen::*;
    use ValType::*;
    let mut c = vec![
        case("unreachable", "(func unreachable)", &[]),
        case("nop", "(func nop)", &[]),
        case("block", "(func (param i32) (local.get 0) (block (param i32) (result i32) nop) (drop))", &[Val(I32)]),
        case("loop", "(func (loop nop))", &[]),
        case("if", "(func (param i32) (result i32) (if (result i32) (local.get 0) (then (i32.const 1)) (else (i32.const 2))))", &[Cond]),
        case("if", "(func (param i32) (if (local.get 0) (then nop)))", &[Cond]),
        case("else", "(func (param i32) (result i64) (if (result i64) (local.get 0) (then (i64.const 1)) (else (i64.const 2))))", &[Val(I64)]),
        case("end", "(func (block nop))", &[]),
        case("end", "(func (result f64) (block (result f64) (f64.const 1)))", &[Val(F64)]),
        case("br", "(func (result i32) (block (result i32) (i32.const 1) (i32.const 2) (i32.const 3) (br 0)))", &[Val(I32), Val(I32), Val(I32)]),
        case("br", "(func (loop $l (br $l)))", &[]),
        case("br", "(func (block $o (block (block (br $o)))))", &[]),
        case("br", "(func (param i32) (local.get 0) (loop $l (param i32) (br $l)) (unreachable))", &[Val(I32)]),
        case("br_if", "(func (param i32) (result i32) (block (result i32) (i32.const 1) (i32.const 2) (local.get 0) (br_if 0) (drop)))", &[Val(I32), Val(I32), Cond]),
        case("br_if", "(func (param i32) (loop $l (br_if $l (local.get 0))))", &[Cond]),
        case("return", "(func (result i32 i64) (f32.const 0) (i32.const 1) (i64.const 2) (return))", &[Val(F32), Val(I32), Val(I64)]),
        case("return", "(func (result i64) (i64.const 3))", &[Val(I64)]),
        case("return", "(func)", &[]),
        case("call", "(func (param i32) (result i32) (call $i2i_a (local.get 0)))", &[Val(I32)]),
        case("call", "(func (call $v2v))", &[]),
        case("call", "(func (param i64) (call $emit (local.get 0)))", &[Val(I64)]),
        case("call", "(func (param i32) (call $abort (local.get 0)))", &[Val(I32)]),
        case("call_indirect", "(func (param i32 i32) (result i32) (call_indirect $t (type $i2i) (local.get 0) (local.get 1)))", &[Val(I32), Elem(T)]),
        case("call_indirect", "(func (param i32) (call_indirect $u (type $v2v) (local.get 0)))", &[Elem(U)]),
        case("call_indirect", "(func (param i64 i32) (call_indirect $t (type $l2v) (local.get 0) (local.get 1)))", &[Val(I64), Elem(T)]),
        case("drop", "(func (param f64) (drop (local.get 0)))", &[Val(F64)]),
        case("select", "(func (param i32 i32 i32) (result i32) (select (local.get 0) (local.get 1) (local.get 2)))", &[Val(I32), Val(I32), Cond]),
        case("select", "(func (param f64 f64 i32) (result f64) (select (result f64) (local.get 0) (local.get 1) (local.get 2)))", &[Val(F64), Val(F64), Cond]),
        case("select", "(func (param funcref funcref i32) (result funcref) (select (result funcref) (local.get 0) (local.get 1) (local.get 2)))", &[Val(FuncRef), Val(FuncRef), Cond]),
        case("memory.size", "(func (drop (memory.size)))", &[]),
        case("memory.grow", "(func (param i32) (drop (memory.grow (local.get 0))))", &[Pages]),
        case("memory.fill", "(func (param i32 i32 i32) (memory.fill (local.get 0) (local.get 1) (local.get 2)))", &[Bulk(BulkOp::MemoryFill)]),
        case("memory.copy", "(func (param i32 i32 i32) (memory.copy (local.get 0) (local.get 1) (local.get 2)))", &[Bulk(BulkOp::MemoryCopy)]),
        case("memory.copy", "(func (memory.copy (i32.const 0) (i32.const 0) (i32.const 0)))", &[Bulk(BulkOp::MemoryCopy)]),
        case("data.drop", "(func (data.drop $d1))", &[]),
        case("data.drop", "(func (data.drop $d0))", &[]),
        case("elem.drop", "(func (elem.drop $e0))", &[]),
        case("elem.drop", "(func (elem.drop $e1))", &[]),
        case("const", "(func (drop (i32.const -7)))", &[]),
        case("const", "(func (drop (i64.const 0x7fffffffffff)))", &[]),
        case("const", "(func (drop (f32.const nan:0x200000)))", &[]),
        case("const", "(func (drop (f64.const -0x1.8p-1022)))", &[]),
        case("ref.null", "(func (drop (ref.null func)))", &[]),
        case("ref.null", "(func (drop (ref.null extern)))", &[]),
        case("ref.is_null", "(func (param funcref) (drop (ref.is_null (local.get 0))))", &[Val(FuncRef)]),
        case("ref.is_null", "(func (param externref) (drop (ref.is_null (local.get 0))))", &[Val(ExternRef)]),
        case("ref.func", "(func (drop (ref.func $i2i_b)))", &[]),
    ];
    // A branch dropping 40 operands and keeping two.
    let pushes: String = (0..40).map(|i| format!("(i32.const {i}) ")).collect();
    let mut gens = vec![Val(I32); 40];
    gens.extend([Val(I64), Val(F64)]);
    c.push(case(
        "br",
        format!("(func (result i64 f64) (block (result i64 f64) {pushes} (i64.const 1) (f64.const 2) (br 0)))"),
        &gens,
    ));
    // br_table with 1000 labels keeping a value, and with 3000 labels to a loop and blocks.
    let labels: String = (0..1000).map(|i| ["$a ", "$b ", "$c "][i * 7 % 3]).collect();
    c.push(case(
        "br_table",
        format!(
            "(func (result i64) (block $a (result i64) (block $b (result i64) (block $c (result i64)
            (i32.const 7) (i64.const 1) (i64.const 2) (i32.const 0) (br_table {labels} $b)))))"
        ),
        &[Val(I32), Val(I64), Val(I64), Label(1000)],
    ));
    let labels: String = (0..3000).map(|i| ["$a ", "$b ", "$l ", "$o "][i * 5 % 4]).collect();
    c.push(case(
        "br_table",
        format!("(func (block $o (loop $l (block $a (block $b (br_table {labels} $a (i32.const 0)))))))"),
        &[Label(3000)],
    ));
    // A call passing 40 arguments.
    let args: String = (0..WIDE).map(|i| const_of(TYPES[i % 4])).collect::<Vec<_>>().join(" ");
    let gens: Vec<Gen> = (0..WIDE).map(|i| Val(TYPES[i % 4])).collect();
    c.push(case("call", format!("(func (call $wide {args}))"), &gens));
    // Locals: parameters (i32 f64), then 300 i64 and an f32.
    let locals = |body: &str| format!("(func (param i32 f64) (local {}f32) {body})", "i64 ".repeat(300));
    for (i, ty) in [(0, I32), (1, F64), (150, I64), (302, F32)] {
        c.push(case("local.get", locals(&format!("(drop (local.get {i}))")), &[]));
        c.push(case("local.set", locals(&format!("(local.set {i} {})", const_of(ty))), &[Val(ty)]));
        c.push(case("local.tee", locals(&format!("(drop (local.tee {i} {}))", const_of(ty))), &[Val(ty)]));
    }
    for (g, &ty) in GLOBALS.iter().enumerate() {
        c.push(case("global.get", format!("(func (drop (global.get {g})))"), &[]));
        if g < GLOBALS.len() - 1 {
            c.push(case("global.set", format!("(func (global.set {g} {}))", const_of(ty)), &[Val(ty)]));
        }
    }
    for t in [T, X, U] {
        let (name, ty) = (table_name(t), ref_type_of(t));
        let null = const_of(ty);
        c.push(case("table.get", format!("(func (param i32) (drop (table.get {name} (local.get 0))))"), &[Elem(t)]));
        c.push(case("table.set", format!("(func (table.set {name} (i32.const 0) {null}))"), &[Elem(t), Val(ty)]));
        c.push(case("table.size", format!("(func (drop (table.size {name})))"), &[]));
        // A non-null value makes table.grow's second op, a table.fill, write the new elements.
        let grow = format!("(func (param i32) (drop (table.grow {name} {null} (local.get 0))))");
        c.push(case("table.grow", grow.clone(), &[Val(ty), Grow(t)]));
        // The grow's result (the old length) lies below the fill's operands.
        c.push(case("table.fill", grow, &[Val(ValType::I32), Bulk(BulkOp::TableFill(t, ty))]));
        c.push(case(
            "table.fill",
            format!("(func (table.fill {name} (i32.const 0) {null} (i32.const 0)))"),
            &[Bulk(BulkOp::TableFill(t, ty))],
        ));
    }
    for (dst, src) in [(T, T), (T, U), (U, T), (X, X)] {
        let wat = format!(
            "(func (table.copy {} {} (i32.const 0) (i32.const 0) (i32.const 0)))",
            table_name(dst),
            table_name(src)
        );
        c.push(case("table.copy", wat, &[Bulk(BulkOp::TableCopy(dst, src))]));
    }
    for (elem, table) in [(0, T), (2, U), (1, X), (0, U)] {
        let wat =
            format!("(func (table.init {} $e{elem} (i32.const 0) (i32.const 0) (i32.const 0)))", table_name(table));
        c.push(case("table.init", wat, &[Bulk(BulkOp::TableInit(elem, table))]));
    }
    for d in 0..DATA_LENS.len() {
        let wat = format!("(func (memory.init $d{d} (i32.const 0) (i32.const 0) (i32.const 0)))");
        c.push(case("memory.init", wat, &[Bulk(BulkOp::MemoryInit(d))]));
    }
    for offset in [0, 3, 66000] {
        for kind in load_kinds() {
            let wat = format!("(func (param i32) (drop ({kind} offset={offset} (local.get 0))))");
            c.push(case(&kind.to_string(), wat, &[Addr { width: kind.width(), offset }]));
        }
        for kind in store_kinds() {
            let name = kind.to_string();
            let ty = prefix_type(&name);
            let wat = format!("(func (param i32) ({name} offset={offset} (local.get 0) {}))", const_of(ty));
            c.push(case(&name, wat, &[Addr { width: kind.width(), offset }, Val(ty)]));
        }
    }
    for u in unary_ops() {
        let name = u.to_string();
        let ty = unary_operand(&name);
        c.push(case(&name, format!("(func (param {ty}) (drop ({name} (local.get 0))))"), &[Val(ty)]));
    }
    for b in binary_ops() {
        let name = b.to_string();
        let ty = prefix_type(&name);
        let wat = format!("(func (param {ty} {ty}) (drop ({name} (local.get 0) (local.get 1))))");
        c.push(case(&name, wat, &[Val(ty), Val(ty)]));
    }
    c
}

// ---- randomness ---------------------------------------------------------------------

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (0 for n = 0).
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

const I32_EDGES: [u32; 24] = [
    0,
    1,
    2,
    3,
    7,
    8,
    31,
    32,
    33,
    63,
    64,
    0x7f,
    0x80,
    0xff,
    0x7fff,
    0x8000,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0x8000_0000,
    0x8000_0001,
    0xffff_fffe,
    0xffff_ffff,
    0xdead_beef,
];
const I64_EDGES: [u64; 16] = [
    0,
    1,
    2,
    63,
    64,
    65,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    i64::MAX as u64,
    i64::MIN as u64,
    i64::MIN as u64 + 1,
    u64::MAX,
    u64::MAX - 1,
    0xffff_ffff_8000_0000,
];
const F32_EDGES: [u32; 30] = [
    0,
    0x8000_0000,
    0x3f80_0000,
    0xbf80_0000,
    0x3f00_0000,
    0xbf00_0000,
    0x3fc0_0000,
    0x4020_0000,
    0xc020_0000,
    0x7f80_0000,
    0xff80_0000,
    0x7fc0_0000,
    0xffc0_0000,
    0x7fa0_0000,
    0x7f80_0001,
    0xffff_ffff,
    1,
    0x007f_ffff,
    0x0080_0000,
    0x7f7f_ffff,
    0x4f00_0000,
    0xcf00_0000,
    0x4eff_ffff,
    0xcf00_0001,
    0x4f80_0000,
    0x5f00_0000,
    0xdf00_0000,
    0x5f80_0000,
    0x4b00_0000,
    0x4b7f_ffff,
];

fn f64_edges() -> Vec<u64> {
    let mut v: Vec<u64> = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        -0.5,
        1.5,
        2.5,
        -2.5,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MAX,
        f64::MIN_POSITIVE,
        2147483648.0,
        -2147483648.0,
        2147483647.0,
        -2147483649.0,
        4294967296.0,
        4294967295.0,
        9.223372036854776e18,
        -9.223372036854776e18,
        1.8446744073709552e19,
        4503599627370496.0,
        9007199254740993.0,
        -0.99,
        0.49999999999999994,
    ]
    .iter()
    .map(|f: &f64| f.to_bits())
    .collect();
    // NaNs: canonical, negative, signalling, with payloads; and subnormals.
    v.extend([
        0x7ff8_0000_0000_0000,
        0xfff8_0000_0000_0000,
        0x7ff4_0000_0000_0000,
        0x7ff0_0000_0000_0001,
        0xffff_ffff_ffff_ffff,
    ]);
    v.extend([1, 0x000f_ffff_ffff_ffff, 0x8000_0000_0000_0001]);
    v
}

/// A random value of `ty` as a slot: edge values, random bits or small numbers.
/// `funcs` bounds function references (address + 1).
fn value(rng: &mut Rng, ty: ValType, funcs: u64, f64_edges: &[u64]) -> u64 {
    let r = rng.below(10);
    match ty {
        // Zero often: it is the divisor that traps.
        ValType::I32 => match r {
            0 => 0,
            1..=3 => rng.pick(&I32_EDGES) as u64,
            4..=6 => rng.next() as u32 as u64,
            _ => (rng.range(0, 512) as i64 - 256) as u32 as u64,
        },
        ValType::I64 => match r {
            0 => 0,
            1..=3 => rng.pick(&I64_EDGES),
            4..=6 => rng.next(),
            7 => rng.next() as u32 as u64,
            _ => (rng.range(0, 512) as i64 - 256) as u64,
        },
        ValType::F32 => match r {
            0..=3 => rng.pick(&F32_EDGES) as u64,
            4..=6 => rng.next() as u32 as u64,
            _ => ((rng.range(0, 4000) as f32 - 2000.0) / [1.0, 2.0, 4.0, 3.0][rng.below(4) as usize]).to_bits() as u64,
        },
        ValType::F64 => match r {
            0..=3 => rng.pick(f64_edges),
            4..=6 => rng.next(),
            _ => ((rng.range(0, 4000) as f64 - 2000.0) / [1.0, 2.0, 4.0, 3.0][rng.below(4) as usize]).to_bits(),
        },
        ValType::FuncRef => match r {
            0..=2 => 0,
            _ => rng.range(1, funcs),
        },
        ValType::ExternRef => match r {
            0..=2 => 0,
            _ => rng.next() as u32 as u64 + 1,
        },
    }
}

/// A position in `0..=len`: the ends, near chunk boundaries, or anywhere.
fn position(rng: &mut Rng, len: u64, chunk: u64) -> u64 {
    match rng.below(6) {
        0 => 0,
        1 => len,
        2 => len.saturating_sub(rng.range(1, 3 * chunk)),
        3 if len >= chunk => (rng.range(1, len / chunk) * chunk).saturating_sub(rng.below(4)).min(len),
        4 if len >= chunk => (rng.range(0, len / chunk - 1) * chunk + rng.below(4)).min(len),
        _ => rng.below(len + 1),
    }
}

/// A count of at most `room` (when `room` allows): small, about a chunk, or all of it.
fn count(rng: &mut Rng, room: u64, chunk: u64) -> u64 {
    let n = match rng.below(7) {
        0 => 0,
        1 => 1,
        2 => rng.range(2, 16),
        3 => chunk - 1 + rng.below(3),
        4 => rng.below(3 * chunk),
        5 => room,
        _ => rng.below(room + 1),
    };
    n.min(room)
}

/// Anything, mostly out of bounds of `len`.
fn wild(rng: &mut Rng, len: u64) -> u64 {
    match rng.below(4) {
        0 => len + rng.range(1, 100),
        1 => u32::MAX as u64 - rng.below(4),
        2 => 0x8000_0000,
        _ => rng.next() as u32 as u64,
    }
}

// ---- states -------------------------------------------------------------------------

/// A configuration with its judge and a freshly loaded machine to build states from.
struct World {
    name: &'static str,
    config: Config,
    judge: Judge,
    base: Machine,
}

/// What the generators read of a state being built.
struct Shape {
    memory_len: u64,
    /// The most pages memory.grow may reach.
    max_pages: u64,
    chunk: u64,
    tables: [u64; 3],
    data_lens: [u64; 3],
    elem_lens: [u64; 3],
    funcs: u64,
}

fn operands(rng: &mut Rng, gens: &[Gen], s: &Shape, f64_edges: &[u64]) -> Vec<u64> {
    let mut out = Vec::new();
    for &g in gens {
        match g {
            Gen::Val(ty) => out.push(value(rng, ty, s.funcs, f64_edges)),
            Gen::Cond => out.push(match rng.below(3) {
                0 => 0,
                1 => 1,
                _ => rng.next() as u32 as u64,
            }),
            Gen::Addr { width, offset } => {
                let (len, chunk, w) = (s.memory_len, s.chunk, width as u64);
                let ea = match rng.below(10) {
                    0..=2 if len >= w => rng.below(len - w + 1),
                    // Straddling a chunk boundary.
                    3..=5 if len >= 2 * chunk => rng.range(1, len / chunk - 1) * chunk - rng.range(1, w.max(2) - 1),
                    // The last bytes of memory, and just past them (a trap).
                    6 | 7 => (len + rng.below(w + 1)).saturating_sub(w),
                    8 => wild(rng, len),
                    _ => rng.below(64),
                };
                out.push((ea as u32).wrapping_sub(offset) as u64);
            }
            Gen::Pages => {
                let (pages, cap) = (s.memory_len / PAGE_SIZE as u64, s.max_pages);
                out.push(match rng.below(10) {
                    0 => 0,
                    1 | 2 => 1,
                    3 | 4 => rng.range(1, 4),
                    5 => cap.saturating_sub(pages),
                    6 => cap.saturating_sub(pages) + 1,
                    7 => u32::MAX as u64,
                    8 => 0x1_0000,
                    _ => rng.next() as u32 as u64,
                });
            }
            Gen::Grow(t) => {
                let len = s.tables[t as usize];
                // Growing by a million would make the stepper hash a million leaves.
                let room = [T_MAX as u64, X_MAX as u64, 4096][t as usize].saturating_sub(len);
                out.push(match rng.below(7) {
                    0 => 0,
                    1 => 1,
                    2 => rng.range(2, 40),
                    3 => room,
                    4 if t != U => room + 1,
                    5 => u32::MAX as u64,
                    _ => rng.below(room + 1),
                });
            }
            Gen::Elem(t) => {
                let len = s.tables[t as usize];
                out.push(match rng.below(8) {
                    0..=4 if len > 0 => rng.below(len),
                    5 => len.saturating_sub(1),
                    6 => len,
                    _ => wild(rng, len),
                });
            }
            Gen::Label(n) => {
                let n = n as u64;
                out.push(match rng.below(6) {
                    0 => n,
                    1 => n - 1,
                    2 => wild(rng, n),
                    _ => rng.below(n),
                });
            }
            Gen::Bulk(b) => out.extend(bulk(rng, b, s, f64_edges)),
        }
    }
    out
}

/// A destination in `0..=dst_len` and a source in `0..=src_len`, sometimes overlapping.
fn two(rng: &mut Rng, dst_len: u64, src_len: u64, unit: u64) -> [u64; 2] {
    let d = position(rng, dst_len, unit);
    let s = match rng.below(3) {
        0 => (d + rng.below(2 * unit)).saturating_sub(unit).min(src_len),
        _ => position(rng, src_len, unit),
    };
    [d, s]
}

/// Three bulk operands, within bounds three times in four.
fn bulk(rng: &mut Rng, b: BulkOp, s: &Shape, f64_edges: &[u64]) -> [u64; 3] {
    let valid = rng.chance(75);
    let chunk = s.chunk;
    let [d, x, n] = match b {
        BulkOp::MemoryFill => {
            let d = position(rng, s.memory_len, chunk);
            [d, rng.next() as u32 as u64, count(rng, s.memory_len - d, chunk)]
        }
        BulkOp::MemoryCopy => {
            let [d, src] = two(rng, s.memory_len, s.memory_len, chunk);
            [d, src, count(rng, (s.memory_len - d).min(s.memory_len - src), chunk)]
        }
        BulkOp::MemoryInit(seg) => {
            let [d, src] = two(rng, s.memory_len, s.data_lens[seg], chunk);
            [d, src, count(rng, (s.memory_len - d).min(s.data_lens[seg] - src), chunk)]
        }
        BulkOp::TableFill(t, ty) => {
            let len = s.tables[t as usize];
            let i = position(rng, len, 8);
            [i, value(rng, ty, s.funcs, f64_edges), count(rng, len - i, 8)]
        }
        BulkOp::TableCopy(dt, st) => {
            let (dl, sl) = (s.tables[dt as usize], s.tables[st as usize]);
            let [d, src] = two(rng, dl, sl, 8);
            [d, src, count(rng, (dl - d).min(sl - src), 8)]
        }
        BulkOp::TableInit(e, t) => {
            let (tl, el) = (s.tables[t as usize], s.elem_lens[e]);
            let [d, src] = two(rng, tl, el, 2);
            [d, src, count(rng, (tl - d).min(el - src), 8)]
        }
    };
    if valid {
        return [d, x, n];
    }
    // One operand out of bounds (or the count too large).
    let limit = s.memory_len.max(s.tables.iter().copied().max().unwrap_or(0));
    match rng.below(3) {
        0 => [wild(rng, limit), x, n],
        1 if !matches!(b, BulkOp::MemoryFill | BulkOp::TableFill(..)) => [d, wild(rng, limit), n],
        _ => [d, x, n + rng.range(1, 3 * chunk)],
    }
}

/// The first op of kind `kind` in function `func`.
fn target_pc(module: &Module, func: u32, kind: &str) -> u32 {
    let start = module.body(func).expect("a defined function").start;
    (start..module.code.len() as u32)
        .take_while(|&pc| module.func_at(pc) == Some(func))
        .find(|&pc| target_kind(&module.code[pc as usize]).as_deref() == Some(kind))
        .unwrap_or_else(|| panic!("function {func} has no {kind}"))
}

fn local_types(module: &Module, func: u32) -> Vec<ValType> {
    let mut types = module.func_type(func).params.clone();
    types.extend(&module.body(func).expect("a defined function").locals);
    types
}

/// Where callers continue: the generic callers (smallest first), and the case's own caller.
struct Callers<'a> {
    pads: &'a [Pad],
    case: CaseCaller,
}

/// The most operands a generic caller holds under its call's arguments.
const MAX_BELOW: u32 = 3;

/// A generic caller: a function of the case callers' type, its slots (parameters and
/// locals), and the return pc of its call_indirect with `below` operands under the
/// arguments, for each `below` up to [`MAX_BELOW`].
struct Pad {
    func: u32,
    slots: u32,
    ret_pcs: Vec<u32>,
}

/// The function that calls a case, where it continues after its call, and how many of
/// its operands lie under the call's arguments (the static height at the call less the
/// case's parameters: the case frame's base is the caller's base + its locals + these).
#[derive(Clone, Copy)]
struct CaseCaller {
    func: u32,
    ret_pc: u32,
    below: u32,
}

/// A random pre-state at the case's target instruction.
fn random_state(
    rng: &mut Rng,
    w: &World,
    module: &Module,
    func: u32,
    c: &Case,
    callers: &Callers,
    f64_edges: &[u64],
) -> Machine {
    let config = &w.config;
    let chunk = config.memory_chunk_size as u64;
    let mut m = w.base.clone().into_parts();
    let funcs = m.store.funcs.len() as u64;
    // Store addresses of the module's functions (the machine's host functions come first).
    let address: Vec<u32> = m.store.instances[0].funcs.clone();
    let cap_pages = MEMORY_MAX.min(config.max_memory_pages) as u64;
    let pages = match rng.below(20) {
        0 => 0,
        1..=8 => 1,
        9..=16 => rng.range(2, 4),
        _ => rng.range(5, cap_pages),
    }
    .min(cap_pages);
    let table_cap = |max: u32| max.min(config.max_table_elements) as u64;
    let tables = [
        match rng.below(8) {
            0 => 0,
            1 | 2 => rng.range(33, table_cap(T_MAX)),
            _ => rng.range(1, 32),
        },
        rng.range(0, table_cap(X_MAX)),
        match rng.below(8) {
            0 => 0,
            1 => rng.range(33, table_cap(3000)),
            _ => rng.range(1, 32),
        },
    ];
    let data_dropped: Vec<bool> = (0..DATA_LENS.len()).map(|_| rng.chance(30)).collect();
    let elem_dropped: Vec<bool> = (0..ELEM_LENS.len()).map(|_| rng.chance(30)).collect();
    let shape = Shape {
        memory_len: pages * PAGE_SIZE as u64,
        max_pages: cap_pages,
        chunk,
        tables,
        data_lens: std::array::from_fn(|d| if data_dropped[d] { 0 } else { DATA_LENS[d] as u64 }),
        elem_lens: std::array::from_fn(|e| if elem_dropped[e] { 0 } else { ELEM_LENS[e] as u64 }),
        funcs,
    };

    // Tables: null elements, functions of the right type for call_indirect, host
    // functions, anything.
    for (t, &len) in tables.iter().enumerate() {
        let ty = ref_type_of(t as u32);
        let elems: Vec<u64> = (0..len)
            .map(|_| match (ty, rng.below(10)) {
                (ValType::ExternRef, _) => value(rng, ty, funcs, f64_edges),
                (_, 0 | 1) => 0,
                // Each of call_indirect's types, and the host functions.
                (_, 2..=8) => address[rng.pick(&[I2I_A, I2I_B, V2V, L2V, EMIT, ABORT]) as usize] as u64 + 1,
                _ => rng.range(1, funcs),
            })
            .collect();
        let max = m.store.tables[t].max();
        m.store.tables[t] = Table::new(ty, elems, max);
    }
    for (g, &ty) in GLOBALS.iter().enumerate() {
        m.store.globals[g].value = value(rng, ty, funcs, f64_edges);
    }
    for (e, &dropped) in elem_dropped.iter().enumerate() {
        if dropped {
            m.store.elems[e].clear();
        }
    }
    m.store.data_dropped.copy_from_slice(&data_dropped);
    m.output = (0..rng.below(3)).map(|_| rng.next() as i64).collect();

    // Frames: generic callers (the `$pad` functions, each holding its locals and the
    // operands under its call's arguments, and calling the frame above through
    // call_indirect), then the case's own caller at the pc after its call, then the case's
    // function, with exactly the operands validation gives its target instruction: the
    // shape running gives, which `Machine::from_parts` checks.
    let max_depth = config.max_call_depth as u64;
    let locals = local_types(module, func);
    let case_caller = callers.case;
    let case_caller_types = local_types(module, case_caller.func);
    // Sometimes up to a few slots below the value stack's limit (where a call traps): the
    // generic callers' frames fill the stack up to there. Every frame's locals and most
    // operands stay within the limit, as entering it checked.
    let max_height = |f: u32| module.body(f).expect("a wasm function").max_height as usize;
    let room = (case_caller_types.len() + max_height(case_caller.func))
        .max(case_caller_types.len() + case_caller.below as usize + locals.len() + max_height(func))
        .max(callers.pads.iter().map(|p| max_height(p.func)).max().expect("generic callers"));
    let near_limit = config.max_value_stack <= 1000 && max_depth >= 3 && rng.chance(30);
    let (generic, depth): (Vec<(&Pad, u32)>, u64) = if near_limit {
        let mut left = (config.max_value_stack as u64).saturating_sub(room as u64 + rng.below(4)) as u32;
        let mut generic = Vec::new();
        while let Some(pad) = callers.pads.iter().rev().find(|p| p.slots <= left) {
            let site = (left - pad.slots).min(MAX_BELOW);
            left -= pad.slots + site;
            generic.push((pad, site));
        }
        generic.truncate(max_depth.saturating_sub(2) as usize);
        let depth = generic.len() as u64 + 2;
        (generic, depth)
    } else {
        let depth = match rng.below(20) {
            0..=7 => 1,
            8..=12 => rng.range(2, 4),
            13..=15 => rng.range(5, 12.min(max_depth)),
            // At the limit a call traps; one below it, it enters the last frame there is room for.
            _ if max_depth <= 64 => max_depth - u64::from(rng.chance(25)),
            _ => rng.range(2, 12),
        }
        .min(max_depth)
        .max(1);
        let small = &callers.pads[..2];
        let generic =
            (2..depth).map(|_| (&small[rng.below(2) as usize], rng.below(u64::from(MAX_BELOW) + 1) as u32)).collect();
        (generic, depth)
    };
    let mut stack: Vec<u64> = Vec::new();
    let mut frames = Vec::new();
    let mut ret_pc = 0;
    for &(pad, below) in &generic {
        frames.push(Frame { func: address[pad.func as usize], base: stack.len() as u32, ret_pc });
        stack.extend(local_types(module, pad.func).iter().map(|&ty| value(rng, ty, funcs, f64_edges)));
        stack.extend((0..below).map(|_| rng.next()));
        ret_pc = pad.ret_pcs[below as usize];
    }
    if depth >= 2 {
        frames.push(Frame { func: address[case_caller.func as usize], base: stack.len() as u32, ret_pc });
        stack.extend(case_caller_types.iter().map(|&ty| value(rng, ty, funcs, f64_edges)));
        stack.extend((0..case_caller.below).map(|_| rng.next() as u32 as u64));
        ret_pc = case_caller.ret_pc;
    }
    frames.push(Frame { func: address[func as usize], base: stack.len() as u32, ret_pc });
    stack.extend(locals.iter().map(|&ty| value(rng, ty, funcs, f64_edges)));
    let ops = operands(rng, &c.operands, &shape, f64_edges);
    let pc = target_pc(module, func, &c.kind);
    // The judge refuses any other height; a case whose operand list is wrong fails here.
    assert_eq!(
        Some(ops.len() as u32),
        module.operand_height(func, pc),
        "the operands of {} are not the static operand height at its {}",
        c.wat,
        c.kind
    );
    stack.extend(&ops);
    m.stack = stack;
    m.frames = frames;
    m.entry = Some(m.frames[0].func);
    m.pc = pc;

    // Memory: random bytes in random places and around every address operand.
    let len = shape.memory_len as usize;
    let mut data = vec![0u8; len];
    let mut scribble = |rng: &mut Rng, at: usize, n: usize| {
        for b in data.iter_mut().skip(at).take(n) {
            *b = rng.next() as u8;
        }
    };
    if len > 0 {
        for _ in 0..rng.range(1, 8) {
            let at = rng.below(len as u64) as usize;
            let n = rng.below(2 * chunk) as usize;
            scribble(rng, at, n);
        }
        for &v in &ops {
            let at = (v as u32 as usize).saturating_sub(chunk as usize);
            scribble(rng, at, 2 * chunk as usize + 8);
        }
    }
    let max = m.store.memories[0].max();
    m.store.memories[0] = Memory::new(data, max, config.memory_chunk_size);

    m.steps = match rng.below(3) {
        0 => rng.below(100),
        1 => rng.next() >> 24,
        _ => rng.next() >> 44,
    };
    m.gas_used = match config.gas_limit {
        u64::MAX => m.steps,
        // Near the limit, the step may run out of gas.
        limit if rng.chance(12) => limit - rng.below(8),
        limit => rng.below(limit / 2),
    };
    m.status = match rng.below(40) {
        0 => Status::Returned,
        1 => Status::OutOfGas,
        2 => {
            let code = rng.next() as i32;
            Status::Trapped(rng.pick(&[Trap::Unreachable, Trap::MemoryOutOfBounds, Trap::Aborted(code)]))
        }
        _ => Status::Running,
    };
    if m.status == Status::Returned {
        // A returned call has left its frames, its results on the stack.
        m.frames.clear();
    }
    Machine::from_parts(m).expect("a random state the executor can run")
}

/// The outcomes a step had that coverage asks for, besides the op and any trap.
fn outcomes(before: &Machine, after: &Machine, op: Op, proof: &Proof) -> Vec<&'static str> {
    let mut out = Vec::new();
    let running = after.status() == Status::Running;
    match after.status() {
        Status::Returned if before.status() == Status::Running => out.push("return from the entry frame"),
        _ => {}
    }
    if running && after.frames().len() > before.frames().len() {
        out.push("call enters a frame");
    }
    if running && after.frames().len() < before.frames().len() {
        out.push("return to a caller");
    }
    if after.output().len() > before.output().len() {
        out.push("host call emits");
    }
    let two_chunks = proof.memory.as_ref().is_some_and(|m| m.chunks.len() == 2);
    let pages = |m: &Machine| m.store().memories[0].pages();
    let top = |m: &Machine| m.stack().last().copied();
    match op {
        Op::Load { .. } if running && two_chunks => out.push("load across two chunks"),
        Op::Store { .. } if running && two_chunks => out.push("store across two chunks"),
        Op::MemoryCopy if running && two_chunks => out.push("memory.copy between two chunks"),
        Op::MemoryGrow if pages(after) > pages(before) => out.push("memory.grow grows"),
        Op::MemoryGrow if running && top(after) == Some(u32::MAX as u64) => out.push("memory.grow fails"),
        Op::TableGrow(_) if running && after.pc() == before.pc() + 1 => out.push("table.grow goes on to fill"),
        Op::TableGrow(_) if running && top(after) == Some(u32::MAX as u64) => out.push("table.grow fails"),
        Op::CallIndirect { .. } if running => out.push("call_indirect calls"),
        Op::BrTable { len } if top(before).is_some_and(|i| i as u32 >= len) => out.push("br_table takes the default"),
        _ => {}
    }
    if op.gas_class() == stepper::op::GasClass::Bulk && running {
        out.push(if after.pc() == before.pc() { "bulk sub-step, more to do" } else { "bulk instruction done" });
    }
    out
}

const OUTCOMES: [&str; 17] = [
    "return from the entry frame",
    "call enters a frame",
    "return to a caller",
    "host call emits",
    "load across two chunks",
    "store across two chunks",
    "memory.copy between two chunks",
    "memory.grow grows",
    "memory.grow fails",
    "table.grow goes on to fill",
    "table.grow fails",
    "call_indirect calls",
    "br_table takes the default",
    "bulk sub-step, more to do",
    "bulk instruction done",
    "out of gas",
    "halted machine",
];

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

#[test]
fn every_instruction_from_random_states_is_judged_to_the_steppers_post_state() {
    let seed = env_u64("VERIGAME_RANDOM_SEED").unwrap_or(0x5_7a7e);
    let per_case = env_u64("VERIGAME_RANDOM_STATES").unwrap_or(24);
    let cases = cases();
    let mut wat = format!("(module {}", prelude());
    for c in &cases {
        wat.push_str(&c.wat);
        wat.push('\n');
    }
    let cases_only = Module::new(format!("{wat})").as_bytes()).unwrap_or_else(|e| panic!("the test module: {e}"));
    let first_case = cases_only.num_imported_funcs + cases_only.bodies.len() as u32 - cases.len() as u32;
    // A caller per case, which really calls it: a proof of a return opens the caller, and
    // the judge checks that its call is of the returning function.
    for i in 0..cases.len() as u32 {
        let ty = cases_only.func_type(first_case + i);
        let args: String = ty.params.iter().map(|&t| format!("{} ", const_of(t))).collect();
        let drops = "(drop) ".repeat(ty.results.len());
        wat.push_str(&format!("(func (param i32 i64) (local f32 f64) {args}(call {}) {drops})\n", first_case + i));
    }
    wat.push(')');
    let module = Module::new(wat.as_bytes()).unwrap_or_else(|e| panic!("the test module: {e}"));
    let case_callers: Vec<CaseCaller> = (0..cases.len() as u32)
        .map(|i| {
            let func = first_case + cases.len() as u32 + i;
            let range = module.code_range(func).expect("a case's caller");
            let call =
                range.clone().find(|&pc| module.code[pc as usize] == Op::Call(first_case + i)).expect("its call");
            let height = module.operand_height(func, call).expect("the caller stands at its call");
            let params = module.func_type(first_case + i).params.len() as u32;
            CaseCaller { func, ret_pc: call + 1, below: height - params }
        })
        .collect();
    let pads: Vec<Pad> = PADS
        .iter()
        .map(|&(func, _)| {
            let range = module.code_range(func).expect("a generic caller");
            let calls = range.filter(|&pc| matches!(module.code[pc as usize], Op::CallIndirect { .. }));
            let ret_pcs: Vec<u32> = calls.map(|pc| pc + 1).collect();
            for (below, &ret) in ret_pcs.iter().enumerate() {
                // The index and the two arguments are on top of the operands under them.
                assert_eq!(module.operand_height(func, ret - 1), Some(below as u32 + 3), "$pad {func}'s calls");
            }
            Pad { func, slots: local_types(&module, func).len() as u32, ret_pcs }
        })
        .collect();
    let tight = Config {
        max_memory_pages: 20,
        max_table_elements: 1500,
        max_value_stack: 1000,
        max_call_depth: 24,
        gas_limit: 100_000,
        gas: GasTable { costs: [1, 5, 1, 2, 2, 1, 3, 4, 6, 9] },
        memory_chunk_size: 64,
    };
    let worlds: Vec<World> = [("default", Config::default()), ("tight", tight)]
        .into_iter()
        .map(|(name, config)| {
            let judge = Judge::new(module.clone(), config.clone()).expect("judge");
            let (base, _) = Machine::load(&module, config.clone()).expect("loads");
            World { name, config, judge, base }
        })
        .collect();
    let f64_edges = f64_edges();

    let mut rng = Rng(seed);
    let mut ran: BTreeMap<String, u64> = BTreeMap::new();
    let mut proven = 0u64;
    for (i, c) in cases.iter().enumerate() {
        let func = first_case + i as u32;
        for n in 0..per_case {
            let w = &worlds[(n % 2) as usize];
            let callers = Callers { pads: &pads, case: case_callers[i] };
            let mut m = random_state(&mut rng, w, &module, func, c, &callers, &f64_edges);
            let at = || format!("{} (case {i}, state {n}, {} configuration, seed {seed:#x})", c.wat, w.name);
            let pre = state_hash(&mut m);
            let proof = prove(&m);
            assert_eq!(proof.pre_hash, pre, "{}", at());
            let known = judge::Known::of(&proof);
            assert_eq!(
                judge::from_bytes_with(&judge::to_bytes(&proof), &known).as_ref(),
                Ok(&proof),
                "binary round trip: {}",
                at()
            );
            let verdict =
                w.judge.check(&proof).unwrap_or_else(|e| panic!("the judge refuses the honest proof: {e}\n{}", at()));
            let before = m.clone();
            let op = module.code[m.pc() as usize];
            m.step();
            assert_eq!(verdict.post_hash, state_hash(&mut m), "the judge's post-state is not the stepper's: {}", at());
            proven += 1;

            if before.status().is_halted() {
                *ran.entry("halted machine".into()).or_default() += 1;
                continue;
            }
            if m.status() == Status::OutOfGas {
                *ran.entry("out of gas".into()).or_default() += 1;
                continue;
            }
            for kind in [op_kind(&op).map(str::to_string), target_kind(&op)].into_iter().flatten() {
                *ran.entry(kind).or_default() += 1;
            }
            if let Status::Trapped(t) = m.status() {
                *ran.entry(trap_kind(&t).expect("every trap is named").into()).or_default() += 1;
            }
            for o in outcomes(&before, &m, op, &proof) {
                *ran.entry(o.into()).or_default() += 1;
            }
        }
    }

    let mut wanted: Vec<String> = OP_KINDS.iter().chain(TRAP_KINDS).chain(&OUTCOMES).map(|s| s.to_string()).collect();
    wanted.extend(unary_ops().iter().map(|u| u.to_string()));
    wanted.extend(binary_ops().iter().map(|b| b.to_string()));
    wanted.extend(load_kinds().iter().map(|k| k.to_string()));
    wanted.extend(store_kinds().iter().map(|k| k.to_string()));
    let mut report = String::new();
    for (kind, n) in &ran {
        let _ = write!(report, "{kind}: {n}; ");
    }
    eprintln!("{proven} random states proven and judged; ran {report}");
    let missing: Vec<&String> = wanted.iter().filter(|k| !ran.contains_key(*k)).collect();
    assert!(missing.is_empty(), "never ran from a random state: {missing:?}");
}
