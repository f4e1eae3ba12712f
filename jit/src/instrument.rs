//! The module rewritten to count the stepper's steps and gas, at basic-block granularity,
//! so that an ordinary engine running a call of it ends with exactly the stepper's steps,
//! gas, results and memory, or traps wherever the stepper would trap, run out of gas or
//! hit a limit (the engine then re-runs the call on the stepper).
//!
//! # How it counts
//!
//! A function's code is cut into *segments*: one starts at the function's entry and right
//! after each `if`, `else`, `end`, `loop`, `br`, `br_if`, `br_table`, `return`,
//! `unreachable`, `call_indirect` and call of an imported function (after every call
//! when the module imports functions, so that the counters are exact whenever a host
//! function runs). Code inserted at a segment's start adds the steps and gas of the ops
//! the segment executes when it runs to its end (a segment runs to its end unless
//! something traps), and traps when the gas would pass the limit. The stepper's step
//! semantics for control flow decide what a segment counts: a branch out of a block skips
//! its `end`; the then-path of an `if` with an `else` executes the `else` and skips the
//! `end`; a branch to a loop lands after the `loop` op; a branch to the function's label
//! lands on the final `end`, the return, which is one step (`return` is one step and
//! executes no `end`).
//!
//! Each body is wrapped in a `block` of the function's results, so that a branch to the
//! function's label lands after it, where the return's step is counted. Gas classes come
//! from the stepper's own translation of the module ([`Op::gas_class`]), op by op.
//!
//! Bulk memory instructions (`memory.fill`, `memory.copy`, `memory.init`) are counted as
//! one step of the `bulk` class in their segment; a generated helper called just before
//! each adds the further sub-steps from its operands. `memory.grow` calls a helper that
//! refuses growth beyond `config.max_memory_pages` (as the stepper does) and traps if the
//! engine fails a growth the stepper would make.
//!
//! Call depth and the value stack: `__vg_depth` counts frames; a function's entry traps
//! when the depth passes `max_call_depth`, or when depth times the module's largest frame
//! (params, locals and maximum operand height, as the stepper reserves them) passes
//! `max_value_stack`: conservative, it never misses a stepper trap.
//!
//! The engine sets the counters before a call (steps, gas, depth and bail 0, or the
//! gas a budget starts at, always at most the limit) and trusts them only for a call that
//! completed; a trap of any kind means: re-run on the stepper. `__vg_bail` tells why the
//! instrumentation trapped: [`BAIL_GAS`], [`BAIL_LIMIT`], [`BAIL_GROW`].

use std::collections::HashMap;

use stepper::host::HostFunc;
use stepper::module::{ImportKind, Module};
use stepper::op::{GasClass, Op};
use stepper::Config;
use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, DataCountSection, DataSection, ElementSection, ExportKind, ExportSection,
    Function, FunctionSection, GlobalSection, GlobalType, ImportSection, Instruction, MemorySection, TableSection,
    TypeSection, ValType,
};
use wasmparser::{ElementItems, Operator, Parser, Payload};

/// Export name of the step counter (mutable i64 global).
pub const STEPS: &str = "__vg_steps";
/// Export name of the gas counter (mutable i64 global).
pub const GAS: &str = "__vg_gas";
/// Export name of the gas limit (mutable i64 global).
pub const GAS_LIMIT: &str = "__vg_gas_limit";
/// Export name of the call depth (mutable i32 global).
pub const DEPTH: &str = "__vg_depth";
/// Export name of the bail reason (mutable i32 global; 0 unless the instrumentation trapped).
pub const BAIL: &str = "__vg_bail";

/// Export name of the module's memory, where it has one.
pub const MEMORY: &str = "__vg_memory";

/// Bail reason: the call would run out of gas.
pub const BAIL_GAS: i32 = 1;
/// Bail reason: the call stack or value stack limit (conservatively).
pub const BAIL_LIMIT: i32 = 2;
/// Bail reason: the engine failed a `memory.grow` the stepper would make.
pub const BAIL_GROW: i32 = 3;

/// Export name of the original mutable global `index`.
pub fn global_export(index: u32) -> String {
    format!("__vg_global_{index}")
}

/// Largest gas price the instrumentation counts (so that no sum it makes overflows).
pub const MAX_PRICE: u64 = 1 << 30;

/// An instrumented module.
#[derive(Clone, Debug)]
pub struct Instrumented {
    pub bytes: Vec<u8>,
    /// Indices of the original module's mutable globals, each exported as
    /// [`global_export`]`(index)`.
    pub mutable_globals: Vec<u32>,
}

/// Why a module cannot be instrumented; its calls run on the stepper.
#[derive(Debug, thiserror::Error)]
#[error("cannot instrument the module: {0}")]
pub struct Unsupported(pub String);

fn unsupported(what: impl Into<String>) -> Unsupported {
    Unsupported(what.into())
}

type R<T> = Result<T, Unsupported>;

fn re<E: std::fmt::Display>(e: E) -> Unsupported {
    Unsupported(format!("re-encoding: {e}"))
}

/// A piece of a rewritten body: an instruction, or a segment's counting code.
enum Item<'a> {
    Ins(Instruction<'a>),
    Count(usize),
}

/// Indices of what the instrumentation adds.
struct Added {
    steps: u32,
    gas: u32,
    gas_limit: u32,
    depth: u32,
    bail: u32,
    /// Helpers: sub-steps of fill/init (destination chunks), of copy; bounded grow.
    count_dest: u32,
    count_copy: u32,
    grow: u32,
}

/// Rewrites `bytes` (a binary or text module the stepper accepts) to count the stepper's
/// steps and gas under `config`.
pub fn instrument(bytes: &[u8], config: &Config) -> Result<Instrumented, Unsupported> {
    config.validate().map_err(|e| unsupported(format!("config: {e}")))?;
    if let Some(&p) = config.gas.costs.iter().find(|&&p| p > MAX_PRICE) {
        return Err(unsupported(format!("gas price {p} above {MAX_PRICE}")));
    }
    let wasm = stepper::module::to_binary(bytes).map_err(|e| unsupported(format!("the module: {e}")))?;
    let module = Module::new(&wasm).map_err(|e| unsupported(format!("the stepper refuses the module: {e}")))?;
    let wasm: &[u8] = &wasm;

    if module.memories.len() > 1 {
        return Err(unsupported("multiple memories"));
    }
    // Which imported functions are priced as storage.
    let mut import_storage = Vec::new();
    for import in &module.imports {
        match import.kind {
            ImportKind::Func(_) => {
                let Some(host) = HostFunc::resolve(&import.module, &import.name) else {
                    return Err(unsupported(format!(
                        "import {}.{} is not a verigame or WASI host function",
                        import.module, import.name
                    )));
                };
                import_storage.push(host.is_storage());
            }
            ImportKind::Table(_) => return Err(unsupported("imported tables")),
            _ => {}
        }
    }
    for (name, _, _) in &module.exports {
        if name.starts_with("__vg_") {
            return Err(unsupported(format!("export {name} uses the instrumentation's prefix")));
        }
    }
    let num_imported = module.num_imported_funcs;
    let num_types = module.types.len() as u32;
    let num_funcs = module.func_types.len() as u32;
    let num_globals = module.globals.len() as u32;
    let has_memory = module.memories.len() == 1;

    // The largest frame the stepper reserves, and the depth at which the conservative
    // value stack bound or the call depth limit is passed.
    let mut frame = 1u64;
    for body in &module.bodies {
        let params = module.types[body.type_index as usize].params.len() as u64;
        frame = frame.max(params + body.locals.len() as u64 + body.max_height as u64 + 1);
    }
    let depth_limit = (config.max_call_depth as u64).min(config.max_value_stack as u64 / frame);

    let g = Added {
        steps: num_globals,
        gas: num_globals + 1,
        gas_limit: num_globals + 2,
        depth: num_globals + 3,
        bail: num_globals + 4,
        count_dest: num_funcs,
        count_copy: num_funcs + 1,
        grow: num_funcs + 2,
    };
    let prices = config.gas.costs;
    let price = |c: GasClass| prices[c as usize];

    let mut rt = RoundtripReencoder;
    let mut types = TypeSection::new();
    let mut imports: Option<ImportSection> = None;
    let mut functions = FunctionSection::new();
    let mut tables: Option<TableSection> = None;
    let mut memories: Option<MemorySection> = None;
    let mut globals = GlobalSection::new();
    let mut exports = ExportSection::new();
    let mut elements: Option<ElementSection> = None;
    let mut data_count: Option<DataCountSection> = None;
    let mut code = CodeSection::new();
    let mut data: Option<DataSection> = None;
    // Types added for wrapper blocks of several results and the helpers.
    let mut extra_types: Vec<(Vec<ValType>, Vec<ValType>)> = Vec::new();
    let mut extra_type_index: HashMap<(Vec<ValType>, Vec<ValType>), u32> = HashMap::new();
    let mut type_of = |params: Vec<ValType>, results: Vec<ValType>| -> u32 {
        *extra_type_index.entry((params.clone(), results.clone())).or_insert_with(|| {
            extra_types.push((params, results));
            num_types + extra_types.len() as u32 - 1
        })
    };
    let mut defined = 0usize;

    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(re)?;
        match payload {
            Payload::TypeSection(r) => rt.parse_type_section(&mut types, r).map_err(re)?,
            Payload::ImportSection(r) => {
                let mut s = ImportSection::new();
                rt.parse_import_section(&mut s, r).map_err(re)?;
                imports = Some(s);
            }
            Payload::FunctionSection(r) => rt.parse_function_section(&mut functions, r).map_err(re)?,
            Payload::TableSection(r) => {
                let mut s = TableSection::new();
                rt.parse_table_section(&mut s, r).map_err(re)?;
                tables = Some(s);
            }
            Payload::MemorySection(r) => {
                let mut s = MemorySection::new();
                rt.parse_memory_section(&mut s, r).map_err(re)?;
                memories = Some(s);
            }
            Payload::GlobalSection(r) => rt.parse_global_section(&mut globals, r).map_err(re)?,
            Payload::ExportSection(r) => rt.parse_export_section(&mut exports, r).map_err(re)?,
            Payload::StartSection { .. } => {} // the stepper ran it at instantiation
            Payload::ElementSection(r) => {
                for elem in r.clone() {
                    let elem = elem.map_err(re)?;
                    let imported = match elem.items {
                        ElementItems::Functions(fs) => {
                            fs.into_iter().any(|f| f.map_or(true, |f| f < num_imported))
                        }
                        ElementItems::Expressions(_, es) => es.into_iter().any(|e| {
                            e.map_or(true, |e| {
                                e.get_operators_reader().into_iter().any(|op| {
                                    matches!(op, Ok(Operator::RefFunc { function_index }) if function_index < num_imported)
                                        || op.is_err()
                                })
                            })
                        }),
                    };
                    if imported {
                        return Err(unsupported("an element segment holds an imported function"));
                    }
                }
                let mut s = ElementSection::new();
                rt.parse_element_section(&mut s, r).map_err(re)?;
                elements = Some(s);
            }
            Payload::DataCountSection { count, .. } => data_count = Some(DataCountSection { count }),
            Payload::DataSection(r) => {
                let mut s = DataSection::new();
                rt.parse_data_section(&mut s, r).map_err(re)?;
                data = Some(s);
            }
            Payload::CodeSectionEntry(body) => {
                let func_index = num_imported + defined as u32;
                let fb = &module.bodies[defined];
                let start = fb.start as usize;
                let end = module.bodies.get(defined + 1).map_or(module.code.len(), |b| b.start as usize);
                defined += 1;
                let results: Vec<ValType> = module.types[fb.type_index as usize]
                    .results
                    .iter()
                    .map(|&t| rt.val_type(to_parser_type(t)).map_err(re))
                    .collect::<R<_>>()?;
                let wrapper = match results.len() {
                    0 => BlockType::Empty,
                    1 => BlockType::Result(results[0]),
                    _ => BlockType::FunctionType(type_of(Vec::new(), results)),
                };
                let mut f = rt.new_function_with_parsed_locals(&body).map_err(re)?;
                let mut items: Vec<Item> = Vec::new();
                // (steps, gas) of each segment.
                let mut segments: Vec<(u64, u64)> = vec![(0, 0)];
                let new_segment = |items: &mut Vec<Item>, segments: &mut Vec<(u64, u64)>| {
                    segments.push((0, 0));
                    items.push(Item::Count(segments.len() - 1));
                };
                items.push(Item::Count(0));
                let mut pc = start;
                let mut depth = 1usize;
                let reader = body.get_operators_reader().map_err(re)?;
                for op in reader {
                    let op = op.map_err(re)?;
                    if pc >= end {
                        return Err(unsupported(format!(
                            "internal: function {func_index} has more instructions than ops"
                        )));
                    }
                    let sop = module.code[pc];
                    let class = match sop {
                        Op::Call(i) if i < num_imported && import_storage[i as usize] => GasClass::Storage,
                        _ => sop.gas_class(),
                    };
                    let cost = (1u64, price(class));
                    let count = |segments: &mut Vec<(u64, u64)>| {
                        let s = segments.last_mut().expect("a segment");
                        s.0 += cost.0;
                        s.1 += cost.1;
                    };
                    pc += match sop {
                        Op::BrTable { len } => len as usize + 2,
                        _ => 1,
                    };
                    match op {
                        Operator::TableSet { .. }
                        | Operator::TableGrow { .. }
                        | Operator::TableFill { .. }
                        | Operator::TableCopy { .. }
                        | Operator::TableInit { .. }
                        | Operator::ElemDrop { .. }
                        | Operator::DataDrop { .. } => {
                            return Err(unsupported(format!("instruction {op:?} (table mutation or segment drop)")));
                        }
                        Operator::Block { .. } => depth += 1,
                        Operator::Loop { .. } | Operator::If { .. } => depth += 1,
                        Operator::End => depth -= 1,
                        _ => {}
                    }
                    match op {
                        Operator::End if depth == 0 => {
                            // The wrapper's end, then the return: one step.
                            if !matches!(sop, Op::Return) {
                                return Err(unsupported("internal: the final end is not a return"));
                            }
                            items.push(Item::Ins(Instruction::End));
                            segments.push(cost);
                            items.push(Item::Count(segments.len() - 1));
                            items.extend(depth_down(&g).into_iter().map(Item::Ins));
                            items.push(Item::Ins(Instruction::End));
                        }
                        Operator::Unreachable
                        | Operator::Loop { .. }
                        | Operator::If { .. }
                        | Operator::Else
                        | Operator::End
                        | Operator::Br { .. }
                        | Operator::BrIf { .. }
                        | Operator::BrTable { .. }
                        | Operator::CallIndirect { .. } => {
                            count(&mut segments);
                            items.push(Item::Ins(rt.instruction(op).map_err(re)?));
                            new_segment(&mut items, &mut segments);
                        }
                        Operator::Call { function_index } => {
                            count(&mut segments);
                            items.push(Item::Ins(Instruction::Call(function_index)));
                            if num_imported > 0 {
                                new_segment(&mut items, &mut segments);
                            }
                        }
                        Operator::Return => {
                            count(&mut segments);
                            items.extend(depth_down(&g).into_iter().map(Item::Ins));
                            items.push(Item::Ins(Instruction::Return));
                            new_segment(&mut items, &mut segments);
                        }
                        Operator::MemoryFill { .. } | Operator::MemoryInit { .. } => {
                            count(&mut segments);
                            items.push(Item::Ins(Instruction::Call(g.count_dest)));
                            items.push(Item::Ins(rt.instruction(op).map_err(re)?));
                        }
                        Operator::MemoryCopy { .. } => {
                            count(&mut segments);
                            items.push(Item::Ins(Instruction::Call(g.count_copy)));
                            items.push(Item::Ins(rt.instruction(op).map_err(re)?));
                        }
                        Operator::MemoryGrow { .. } => {
                            count(&mut segments);
                            items.push(Item::Ins(Instruction::Call(g.grow)));
                        }
                        _ => {
                            count(&mut segments);
                            items.push(Item::Ins(rt.instruction(op).map_err(re)?));
                        }
                    }
                }
                if pc != end || depth != 0 {
                    return Err(unsupported(format!("internal: function {func_index}'s ops do not align")));
                }
                // Entry: the depth check, then the wrapper block.
                for ins in depth_up(&g, depth_limit) {
                    f.instruction(&ins);
                }
                f.instruction(&Instruction::Block(wrapper));
                for item in &items {
                    match item {
                        Item::Ins(ins) => {
                            f.instruction(ins);
                        }
                        Item::Count(s) => {
                            let (k, gas) = segments[*s];
                            for ins in count_code(&g, k, gas) {
                                f.instruction(&ins);
                            }
                        }
                    }
                }
                code.function(&f);
            }
            Payload::CustomSection(_) => {}
            Payload::CodeSectionStart { .. } | Payload::Version { .. } | Payload::End(_) => {}
            other => {
                if let Some((id, _)) = other.as_section() {
                    return Err(unsupported(format!("section {id}")));
                }
            }
        }
    }

    // The helpers.
    let i32s = vec![ValType::I32; 3];
    let bulk_type = type_of(i32s.clone(), i32s);
    let grow_type = type_of(vec![ValType::I32], vec![ValType::I32]);
    if has_memory {
        let shift = config.memory_chunk_size.trailing_zeros() as i64;
        let bulk = price(GasClass::Bulk);
        functions.function(bulk_type);
        code.function(&count_dest_helper(&g, shift, bulk));
        functions.function(bulk_type);
        code.function(&count_copy_helper(&g, shift, config.memory_chunk_size as i32, bulk));
        let declared = module.memories[0].max.unwrap_or(65536).min(65536);
        let cap = declared.min(config.max_memory_pages);
        functions.function(grow_type);
        code.function(&grow_helper(&g, cap));
    }
    for (params, results) in &extra_types {
        types.ty().function(params.iter().copied(), results.iter().copied());
    }

    // The counters and the exports.
    let counter = |ty: ValType, init: ConstExpr| (GlobalType { val_type: ty, mutable: true, shared: false }, init);
    for (ty, init) in [
        counter(ValType::I64, ConstExpr::i64_const(0)),
        counter(ValType::I64, ConstExpr::i64_const(0)),
        counter(ValType::I64, ConstExpr::i64_const(0)),
        counter(ValType::I32, ConstExpr::i32_const(0)),
        counter(ValType::I32, ConstExpr::i32_const(0)),
    ] {
        globals.global(ty, &init);
    }
    for (name, index) in [(STEPS, g.steps), (GAS, g.gas), (GAS_LIMIT, g.gas_limit), (DEPTH, g.depth), (BAIL, g.bail)] {
        exports.export(name, ExportKind::Global, index);
    }
    if has_memory {
        exports.export(MEMORY, ExportKind::Memory, 0);
    }
    let mutable_globals: Vec<u32> =
        module.globals.iter().enumerate().filter(|(_, g)| g.mutable).map(|(i, _)| i as u32).collect();
    for &i in &mutable_globals {
        exports.export(&global_export(i), ExportKind::Global, i);
    }

    let mut out = wasm_encoder::Module::new();
    out.section(&types);
    if let Some(s) = &imports {
        out.section(s);
    }
    out.section(&functions);
    if let Some(s) = &tables {
        out.section(s);
    }
    if let Some(s) = &memories {
        out.section(s);
    }
    out.section(&globals);
    out.section(&exports);
    if let Some(s) = &elements {
        out.section(s);
    }
    if let Some(s) = &data_count {
        out.section(s);
    }
    out.section(&code);
    if let Some(s) = &data {
        out.section(s);
    }
    Ok(Instrumented { bytes: out.finish(), mutable_globals })
}

fn to_parser_type(t: stepper::ValType) -> wasmparser::ValType {
    use stepper::ValType as V;
    match t {
        V::I32 => wasmparser::ValType::I32,
        V::I64 => wasmparser::ValType::I64,
        V::F32 => wasmparser::ValType::F32,
        V::F64 => wasmparser::ValType::F64,
        V::FuncRef => wasmparser::ValType::FUNCREF,
        V::ExternRef => wasmparser::ValType::EXTERNREF,
    }
}

/// Sets the bail reason and traps.
fn bail(g: &Added, reason: i32) -> [Instruction<'static>; 3] {
    [Instruction::I32Const(reason), Instruction::GlobalSet(g.bail), Instruction::Unreachable]
}

/// Adds `k` steps and `gas` gas, trapping first when the gas would pass the limit
/// (the gas counter never exceeds the limit, so `limit - gas` does not wrap).
fn count_code(g: &Added, k: u64, gas: u64) -> Vec<Instruction<'static>> {
    let mut v = Vec::new();
    if gas > 0 {
        v.extend([
            Instruction::GlobalGet(g.gas_limit),
            Instruction::GlobalGet(g.gas),
            Instruction::I64Sub,
            Instruction::I64Const(gas as i64),
            Instruction::I64LtU,
            Instruction::If(BlockType::Empty),
        ]);
        v.extend(bail(g, BAIL_GAS));
        v.extend([
            Instruction::End,
            Instruction::GlobalGet(g.gas),
            Instruction::I64Const(gas as i64),
            Instruction::I64Add,
            Instruction::GlobalSet(g.gas),
        ]);
    }
    if k > 0 {
        v.extend([
            Instruction::GlobalGet(g.steps),
            Instruction::I64Const(k as i64),
            Instruction::I64Add,
            Instruction::GlobalSet(g.steps),
        ]);
    }
    v
}

/// A function's entry: one more frame, within the limit.
fn depth_up(g: &Added, limit: u64) -> Vec<Instruction<'static>> {
    let mut v = vec![
        Instruction::GlobalGet(g.depth),
        Instruction::I32Const(1),
        Instruction::I32Add,
        Instruction::GlobalSet(g.depth),
        Instruction::GlobalGet(g.depth),
        Instruction::I32Const(limit as u32 as i32),
        Instruction::I32GtU,
        Instruction::If(BlockType::Empty),
    ];
    v.extend(bail(g, BAIL_LIMIT));
    v.push(Instruction::End);
    v
}

fn depth_down(g: &Added) -> Vec<Instruction<'static>> {
    vec![
        Instruction::GlobalGet(g.depth),
        Instruction::I32Const(1),
        Instruction::I32Sub,
        Instruction::GlobalSet(g.depth),
    ]
}

/// Adds the sub-steps beyond the first that the local `extra` (i64) holds, and their
/// gas, trapping when the gas would pass the limit.
fn add_extra(g: &Added, f: &mut Function, extra: u32, bulk: u64) {
    f.instruction(&Instruction::GlobalGet(g.steps))
        .instruction(&Instruction::LocalGet(extra))
        .instruction(&Instruction::I64Add)
        .instruction(&Instruction::GlobalSet(g.steps));
    if bulk > 0 {
        f.instruction(&Instruction::GlobalGet(g.gas_limit))
            .instruction(&Instruction::GlobalGet(g.gas))
            .instruction(&Instruction::I64Sub)
            .instruction(&Instruction::LocalGet(extra))
            .instruction(&Instruction::I64Const(bulk as i64))
            .instruction(&Instruction::I64Mul)
            .instruction(&Instruction::I64LtU)
            .instruction(&Instruction::If(BlockType::Empty));
        for ins in bail(g, BAIL_GAS) {
            f.instruction(&ins);
        }
        f.instruction(&Instruction::End)
            .instruction(&Instruction::GlobalGet(g.gas))
            .instruction(&Instruction::LocalGet(extra))
            .instruction(&Instruction::I64Const(bulk as i64))
            .instruction(&Instruction::I64Mul)
            .instruction(&Instruction::I64Add)
            .instruction(&Instruction::GlobalSet(g.gas));
    }
}

/// Pushes cuts(x) = floor((x + n - 1) / chunk) - floor(x / chunk) for the i32 local `x`
/// and the i32 local `n` (n > 0), as an i64.
fn cuts(f: &mut Function, x: u32, n: u32, shift: i64) {
    f.instruction(&Instruction::LocalGet(x))
        .instruction(&Instruction::I64ExtendI32U)
        .instruction(&Instruction::LocalGet(n))
        .instruction(&Instruction::I64ExtendI32U)
        .instruction(&Instruction::I64Add)
        .instruction(&Instruction::I64Const(1))
        .instruction(&Instruction::I64Sub)
        .instruction(&Instruction::I64Const(shift))
        .instruction(&Instruction::I64ShrU)
        .instruction(&Instruction::LocalGet(x))
        .instruction(&Instruction::I64ExtendI32U)
        .instruction(&Instruction::I64Const(shift))
        .instruction(&Instruction::I64ShrU)
        .instruction(&Instruction::I64Sub);
}

/// (d, x, n) -> (d, x, n), counting `memory.fill d x n` or `memory.init d x n`: one
/// sub-step per destination chunk, 1 when n == 0; the first is counted by the segment.
fn count_dest_helper(g: &Added, shift: i64, bulk: u64) -> Function {
    let mut f = Function::new([(1, ValType::I64)]);
    let extra = 3;
    f.instruction(&Instruction::LocalGet(2)).instruction(&Instruction::If(BlockType::Empty));
    cuts(&mut f, 0, 2, shift);
    f.instruction(&Instruction::LocalSet(extra));
    add_extra(g, &mut f, extra, bulk);
    f.instruction(&Instruction::End)
        .instruction(&Instruction::LocalGet(0))
        .instruction(&Instruction::LocalGet(1))
        .instruction(&Instruction::LocalGet(2))
        .instruction(&Instruction::End);
    f
}

/// (d, s, n) -> (d, s, n), counting `memory.copy d s n`: a sub-step ends wherever the
/// destination or the source crosses a chunk boundary.
fn count_copy_helper(g: &Added, shift: i64, chunk: i32, bulk: u64) -> Function {
    let mut f = Function::new([(1, ValType::I64)]);
    let extra = 3;
    f.instruction(&Instruction::LocalGet(2)).instruction(&Instruction::If(BlockType::Empty));
    // cuts(s), plus cuts(d) unless d ≡ s (mod chunk): then the cuts coincide.
    cuts(&mut f, 1, 2, shift);
    cuts(&mut f, 0, 2, shift);
    f.instruction(&Instruction::I64Const(0))
        .instruction(&Instruction::LocalGet(0))
        .instruction(&Instruction::LocalGet(1))
        .instruction(&Instruction::I32Xor)
        .instruction(&Instruction::I32Const(chunk - 1))
        .instruction(&Instruction::I32And)
        .instruction(&Instruction::Select)
        .instruction(&Instruction::I64Add)
        .instruction(&Instruction::LocalSet(extra));
    add_extra(g, &mut f, extra, bulk);
    f.instruction(&Instruction::End)
        .instruction(&Instruction::LocalGet(0))
        .instruction(&Instruction::LocalGet(1))
        .instruction(&Instruction::LocalGet(2))
        .instruction(&Instruction::End);
    f
}

/// (n) -> old or -1: `memory.grow n` within `cap` pages (the stepper's limit); a growth
/// the engine fails within the cap bails.
fn grow_helper(g: &Added, cap: u32) -> Function {
    let mut f = Function::new([(1, ValType::I32)]);
    let r = 1;
    f.instruction(&Instruction::MemorySize(0))
        .instruction(&Instruction::I64ExtendI32U)
        .instruction(&Instruction::LocalGet(0))
        .instruction(&Instruction::I64ExtendI32U)
        .instruction(&Instruction::I64Add)
        .instruction(&Instruction::I64Const(cap as i64))
        .instruction(&Instruction::I64GtU)
        .instruction(&Instruction::If(BlockType::Empty))
        .instruction(&Instruction::I32Const(-1))
        .instruction(&Instruction::Return)
        .instruction(&Instruction::End)
        .instruction(&Instruction::LocalGet(0))
        .instruction(&Instruction::MemoryGrow(0))
        .instruction(&Instruction::LocalTee(r))
        .instruction(&Instruction::I32Const(-1))
        .instruction(&Instruction::I32Eq)
        .instruction(&Instruction::If(BlockType::Empty));
    for ins in bail(g, BAIL_GROW) {
        f.instruction(&ins);
    }
    f.instruction(&Instruction::End).instruction(&Instruction::LocalGet(r)).instruction(&Instruction::End);
    f
}
