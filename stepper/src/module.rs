//! Decoding, validation and translation of a module into executable [`Op`]s.

use std::collections::HashMap;
use std::sync::Arc;

use sha3::{Digest, Keccak256};
use wasmparser::{
    BlockType, CompositeInnerType, DataKind, ElementItems, ElementKind, ExternalKind, FrameKind, FuncValidator,
    FunctionBody, KnownCustom, Name, Operator, OperatorsReader, Parser, Payload, TypeRef, ValidPayload, Validator,
    ValidatorResources, WasmFeatures,
};

use crate::op::{Binary, Branch, Load, Op, Store, Unary};
use crate::value::ValType;
use crate::Error;

/// The features of WebAssembly 2.0 without SIMD.
pub fn features() -> WasmFeatures {
    WasmFeatures::WASM2.difference(WasmFeatures::SIMD)
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FuncType {
    pub params: Vec<ValType>,
    pub results: Vec<ValType>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableType {
    pub elem: ValType,
    pub min: u32,
    pub max: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryType {
    pub min: u32,
    pub max: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GlobalType {
    pub ty: ValType,
    pub mutable: bool,
}

#[derive(Clone, Debug)]
pub enum ImportKind {
    Func(u32),
    Table(TableType),
    Memory(MemoryType),
    Global(GlobalType),
}

#[derive(Clone, Debug)]
pub struct Import {
    pub module: String,
    pub name: String,
    pub kind: ImportKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportKind {
    Func,
    Table,
    Memory,
    Global,
}

/// A constant expression, evaluated at instantiation.
#[derive(Clone, Debug)]
pub(crate) enum ConstOp {
    Value(u64),
    RefFunc(u32),
    GlobalGet(u32),
    Binary(Binary),
}

#[derive(Clone, Debug)]
pub(crate) enum SegmentMode {
    Passive,
    Declared,
    Active { index: u32, offset: Vec<ConstOp> },
}

#[derive(Clone, Debug)]
pub(crate) struct ElemSegment {
    pub ty: ValType,
    pub items: Vec<Vec<ConstOp>>,
    pub mode: SegmentMode,
}

#[derive(Clone, Debug)]
pub(crate) struct DataSegment {
    pub bytes: Vec<u8>,
    pub mode: SegmentMode,
}

/// A function defined by the module: where its code starts and how its frame looks.
#[derive(Clone, Debug)]
pub struct FuncBody {
    pub type_index: u32,
    /// Index of its first op in [`Module::code`].
    pub start: u32,
    /// Types of the declared locals, after the parameters.
    pub locals: Vec<ValType>,
    /// The largest operand stack height the body reaches, above its locals.
    pub max_height: u32,
}

/// A validated and translated module. Immutable; instances share it.
#[derive(Debug)]
pub struct Module {
    /// Keccak-256 of the binary module.
    pub code_hash: [u8; 32],
    pub types: Vec<FuncType>,
    pub imports: Vec<Import>,
    /// Type index of every function, imported ones first.
    pub func_types: Vec<u32>,
    pub num_imported_funcs: u32,
    pub bodies: Vec<FuncBody>,
    pub code: Vec<Op>,
    /// `code` compiled for the fast path.
    pub(crate) fast: crate::fast::FastCode,
    /// Byte offset in the binary of the instruction each op comes from.
    pub code_offsets: Vec<u32>,
    pub tables: Vec<TableType>,
    pub memories: Vec<MemoryType>,
    pub globals: Vec<GlobalType>,
    pub(crate) global_inits: Vec<Vec<ConstOp>>,
    pub exports: Vec<(String, ExportKind, u32)>,
    pub start: Option<u32>,
    pub(crate) elems: Vec<ElemSegment>,
    pub(crate) datas: Vec<DataSegment>,
    /// Function names from the name section, where present.
    pub func_names: HashMap<u32, String>,
    /// Per op of `code`: the operand height where it starts a reachable instruction, or
    /// `fast::UNREACHABLE` (dead code, br_table's targets, table.grow's fill).
    heights: Vec<u32>,
}

impl Module {
    /// Decodes, validates and translates a module given as binary or text.
    pub fn new(bytes: &[u8]) -> Result<Arc<Module>, Error> {
        Translator::default().translate(&to_binary(bytes)?).map(Arc::new)
    }

    pub fn func_type(&self, func: u32) -> &FuncType {
        &self.types[self.func_types[func as usize] as usize]
    }

    pub fn export(&self, name: &str) -> Option<(ExportKind, u32)> {
        self.exports.iter().find(|(n, _, _)| n == name).map(|&(_, k, i)| (k, i))
    }

    /// The body of a defined function, by function index.
    pub fn body(&self, func: u32) -> Option<&FuncBody> {
        func.checked_sub(self.num_imported_funcs).and_then(|i| self.bodies.get(i as usize))
    }

    /// The function whose code contains op index `pc`.
    pub fn func_at(&self, pc: u32) -> Option<u32> {
        let i = self.bodies.partition_point(|b| b.start <= pc);
        (i > 0).then(|| self.num_imported_funcs + i as u32 - 1)
    }

    /// The code range `[start, end)` of a defined function, by function index.
    pub fn code_range(&self, func: u32) -> Option<std::ops::Range<u32>> {
        let i = func.checked_sub(self.num_imported_funcs)? as usize;
        let start = self.bodies.get(i)?.start;
        let end = self.bodies.get(i + 1).map_or(self.code.len() as u32, |b| b.start);
        Some(start..end)
    }

    /// The operand height (above the frame's locals) at which a machine can stand at `pc`
    /// of function `func`, ready to execute the op there: `None` where no run can stand
    /// (outside the function, dead code, a br_table's target entries). Bulk instructions
    /// stand at their own pc between sub-steps, with the height they started at; the
    /// table.fill after a table.grow with the grow's three extra operands.
    pub fn operand_height(&self, func: u32, pc: u32) -> Option<u32> {
        let range = self.code_range(func)?;
        if !range.contains(&pc) {
            return None;
        }
        let height = self.heights[pc as usize];
        if height != crate::fast::UNREACHABLE {
            return Some(height);
        }
        let previous = pc.checked_sub(1).filter(|p| range.contains(p));
        match self.code[pc as usize] {
            // The final `end` is reached by a branch to the function's label even after
            // dead code, with the results on the stack.
            Op::Return if pc + 1 == range.end => Some(self.func_type(func).results.len() as u32),
            Op::TableFill(_) => previous
                .filter(|&p| matches!(self.code[p as usize], Op::TableGrow(_)))
                .map(|p| self.heights[p as usize])
                .filter(|&h| h != crate::fast::UNREACHABLE)
                .map(|h| h + 2),
            _ => None,
        }
    }

    /// A printable name: the name section's, else the export's, else `func[i]`.
    pub fn func_name(&self, func: u32) -> String {
        if let Some(name) = self.func_names.get(&func) {
            return name.clone();
        }
        self.exports
            .iter()
            .find(|(_, k, i)| *k == ExportKind::Func && *i == func)
            .map_or_else(|| format!("func[{func}]"), |(n, _, _)| n.clone())
    }
}

/// The binary form of a module given as binary or text (anything not starting with the
/// binary magic is read as text).
pub fn to_binary(bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, Error> {
    if bytes.starts_with(b"\0asm") {
        Ok(bytes.into())
    } else {
        wat::parse_bytes(bytes).map_err(|e| Error::Text(e.to_string()))
    }
}

fn val_type(ty: wasmparser::ValType) -> Result<ValType, Error> {
    ValType::from_wasm(ty).ok_or_else(|| Error::Unsupported(format!("value type {ty}")))
}

fn ref_type(ty: wasmparser::RefType) -> Result<ValType, Error> {
    val_type(wasmparser::ValType::Ref(ty))
}

fn table_type(t: &wasmparser::TableType) -> Result<TableType, Error> {
    if t.table64 || t.shared {
        return Err(Error::Unsupported("64-bit or shared tables".into()));
    }
    Ok(TableType { elem: ref_type(t.element_type)?, min: t.initial as u32, max: t.maximum.map(|m| m as u32) })
}

fn memory_type(m: &wasmparser::MemoryType) -> Result<MemoryType, Error> {
    if m.memory64 || m.shared || m.page_size_log2.is_some() {
        return Err(Error::Unsupported("64-bit, shared or custom-page-size memories".into()));
    }
    Ok(MemoryType { min: m.initial as u32, max: m.maximum.map(|m| m as u32) })
}

fn global_type(g: &wasmparser::GlobalType) -> Result<GlobalType, Error> {
    Ok(GlobalType { ty: val_type(g.content_type)?, mutable: g.mutable })
}

fn const_expr(expr: &wasmparser::ConstExpr<'_>) -> Result<Vec<ConstOp>, Error> {
    let mut ops = Vec::new();
    let mut reader = expr.get_operators_reader();
    loop {
        ops.push(match reader.read()? {
            Operator::End => break,
            Operator::I32Const { value } => ConstOp::Value(value as u32 as u64),
            Operator::I64Const { value } => ConstOp::Value(value as u64),
            Operator::F32Const { value } => ConstOp::Value(value.bits() as u64),
            Operator::F64Const { value } => ConstOp::Value(value.bits()),
            Operator::RefNull { .. } => ConstOp::Value(0),
            Operator::RefFunc { function_index } => ConstOp::RefFunc(function_index),
            Operator::GlobalGet { global_index } => ConstOp::GlobalGet(global_index),
            Operator::I32Add => ConstOp::Binary(Binary::I32Add),
            Operator::I32Sub => ConstOp::Binary(Binary::I32Sub),
            Operator::I32Mul => ConstOp::Binary(Binary::I32Mul),
            Operator::I64Add => ConstOp::Binary(Binary::I64Add),
            Operator::I64Sub => ConstOp::Binary(Binary::I64Sub),
            Operator::I64Mul => ConstOp::Binary(Binary::I64Mul),
            op => return Err(Error::Unsupported(format!("constant expression operator {op:?}"))),
        });
    }
    Ok(ops)
}

/// Extra operand slots table.grow needs beyond what validation counts.
const TABLE_GROW_EXTRA_SLOTS: u32 = 2;

/// A control frame during translation: where branches to it go.
struct Control {
    kind: FrameKind,
    /// Ops whose branch target is this frame's end, to patch when it is reached.
    pending: Vec<usize>,
    /// The `if` op waiting for its else target.
    if_op: Option<usize>,
    /// For loops, the op right after `loop`.
    loop_target: u32,
}

#[derive(Default)]
struct Translator {
    allocs: wasmparser::FuncValidatorAllocations,
    /// Per op of the code: the operand height where it starts a reachable instruction
    /// (for the fast path's compiler).
    heights: Vec<u32>,
}

impl Translator {
    fn translate(mut self, wasm: &[u8]) -> Result<Module, Error> {
        let mut m = Module {
            code_hash: Keccak256::digest(wasm).into(),
            types: Vec::new(),
            imports: Vec::new(),
            func_types: Vec::new(),
            num_imported_funcs: 0,
            bodies: Vec::new(),
            code: Vec::new(),
            fast: Default::default(),
            code_offsets: Vec::new(),
            tables: Vec::new(),
            memories: Vec::new(),
            globals: Vec::new(),
            global_inits: Vec::new(),
            exports: Vec::new(),
            start: None,
            elems: Vec::new(),
            datas: Vec::new(),
            func_names: HashMap::new(),
            heights: Vec::new(),
        };
        let mut validator = Validator::new_with_features(features());
        for payload in Parser::new(0).parse_all(wasm) {
            let payload = payload?;
            if let ValidPayload::Func(func, body) = validator.payload(&payload)? {
                let fv = func.into_validator(std::mem::take(&mut self.allocs));
                self.allocs = translate_body(&mut m, fv, &body, &mut self.heights)?;
                continue;
            }
            if let Payload::MemorySection(reader) = &payload {
                check_memory_limits_encoding(wasm, reader.clone())?;
            }
            read_section(&mut m, payload)?;
        }
        m.fast = crate::fast::compile(&m, &self.heights);
        m.heights = self.heights;
        Ok(m)
    }
}

fn read_section(m: &mut Module, payload: Payload<'_>) -> Result<(), Error> {
    match payload {
        Payload::TypeSection(reader) => {
            for group in reader {
                for sub in group?.into_types() {
                    let CompositeInnerType::Func(ft) = &sub.composite_type.inner else {
                        return Err(Error::Unsupported("non-function types".into()));
                    };
                    m.types.push(FuncType {
                        params: ft.params().iter().map(|&t| val_type(t)).collect::<Result<_, _>>()?,
                        results: ft.results().iter().map(|&t| val_type(t)).collect::<Result<_, _>>()?,
                    });
                }
            }
        }
        Payload::ImportSection(reader) => {
            for import in reader.into_imports() {
                let import = import?;
                let kind = match import.ty {
                    TypeRef::Func(t) | TypeRef::FuncExact(t) => {
                        m.func_types.push(t);
                        m.num_imported_funcs += 1;
                        ImportKind::Func(t)
                    }
                    TypeRef::Table(t) => {
                        let t = table_type(&t)?;
                        m.tables.push(t);
                        ImportKind::Table(t)
                    }
                    TypeRef::Memory(mt) => {
                        let mt = memory_type(&mt)?;
                        m.memories.push(mt);
                        ImportKind::Memory(mt)
                    }
                    TypeRef::Global(g) => {
                        let g = global_type(&g)?;
                        m.globals.push(g);
                        ImportKind::Global(g)
                    }
                    TypeRef::Tag(_) => return Err(Error::Unsupported("exception tags".into())),
                };
                m.imports.push(Import { module: import.module.into(), name: import.name.into(), kind });
            }
        }
        Payload::FunctionSection(reader) => {
            for t in reader {
                m.func_types.push(t?);
            }
        }
        Payload::TableSection(reader) => {
            for table in reader {
                let table = table?;
                if !matches!(table.init, wasmparser::TableInit::RefNull) {
                    return Err(Error::Unsupported("table initializer expressions".into()));
                }
                m.tables.push(table_type(&table.ty)?);
            }
        }
        Payload::MemorySection(reader) => {
            for mem in reader {
                m.memories.push(memory_type(&mem?)?);
            }
        }
        Payload::GlobalSection(reader) => {
            for global in reader {
                let global = global?;
                m.globals.push(global_type(&global.ty)?);
                m.global_inits.push(const_expr(&global.init_expr)?);
            }
        }
        Payload::ExportSection(reader) => {
            for export in reader {
                let export = export?;
                let kind = match export.kind {
                    ExternalKind::Func | ExternalKind::FuncExact => ExportKind::Func,
                    ExternalKind::Table => ExportKind::Table,
                    ExternalKind::Memory => ExportKind::Memory,
                    ExternalKind::Global => ExportKind::Global,
                    ExternalKind::Tag => return Err(Error::Unsupported("exception tags".into())),
                };
                m.exports.push((export.name.into(), kind, export.index));
            }
        }
        Payload::StartSection { func, .. } => m.start = Some(func),
        Payload::ElementSection(reader) => {
            for elem in reader {
                let elem = elem?;
                let (ty, items) = match elem.items {
                    ElementItems::Functions(funcs) => (
                        ValType::FuncRef,
                        funcs.into_iter().map(|f| Ok(vec![ConstOp::RefFunc(f?)])).collect::<Result<_, Error>>()?,
                    ),
                    ElementItems::Expressions(ty, exprs) => {
                        (ref_type(ty)?, exprs.into_iter().map(|e| const_expr(&e?)).collect::<Result<_, Error>>()?)
                    }
                };
                let mode = match elem.kind {
                    ElementKind::Passive => SegmentMode::Passive,
                    ElementKind::Declared => SegmentMode::Declared,
                    ElementKind::Active { table_index, offset_expr } => {
                        SegmentMode::Active { index: table_index.unwrap_or(0), offset: const_expr(&offset_expr)? }
                    }
                };
                m.elems.push(ElemSegment { ty, items, mode });
            }
        }
        Payload::DataSection(reader) => {
            for data in reader {
                let data = data?;
                let mode = match data.kind {
                    DataKind::Passive => SegmentMode::Passive,
                    DataKind::Active { memory_index, offset_expr } => {
                        SegmentMode::Active { index: memory_index, offset: const_expr(&offset_expr)? }
                    }
                };
                m.datas.push(DataSegment { bytes: data.data.to_vec(), mode });
            }
        }
        Payload::CustomSection(section) => {
            // A malformed name section must not make a valid module invalid: ignore errors.
            if let KnownCustom::Name(names) = section.as_known() {
                for name in names.into_iter().flatten() {
                    if let Name::Function(map) = name {
                        for naming in map.into_iter().flatten() {
                            m.func_names.insert(naming.index, naming.name.to_string());
                        }
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Length of the LEB128 u32 at `pos`, rejecting encodings longer than 5 bytes.
fn u32_leb_len(wasm: &[u8], pos: usize) -> Result<usize, Error> {
    let len = wasm[pos..].iter().position(|b| b & 0x80 == 0).map_or(usize::MAX, |i| i + 1);
    if len > 5 {
        return Err(Error::Invalid(format!("integer representation too long at offset {pos}")));
    }
    Ok(len)
}

/// wasmparser decodes memory limits as u64 (for memory64); without memory64 they are u32
/// and a longer encoding is malformed.
fn check_memory_limits_encoding(wasm: &[u8], reader: wasmparser::MemorySectionReader<'_>) -> Result<(), Error> {
    for entry in reader.into_iter_with_offsets() {
        let (offset, ty) = entry?;
        let mut pos = offset as usize + 1;
        pos += u32_leb_len(wasm, pos)?;
        if ty.maximum.is_some() {
            u32_leb_len(wasm, pos)?;
        }
    }
    Ok(())
}

fn block_arity(m: &Module, ty: BlockType, params: bool) -> u32 {
    match ty {
        BlockType::Empty => 0,
        BlockType::Type(_) => u32::from(!params),
        BlockType::FuncType(i) => {
            let t = &m.types[i as usize];
            (if params { t.params.len() } else { t.results.len() }) as u32
        }
    }
}

fn translate_body(
    m: &mut Module,
    mut fv: FuncValidator<ValidatorResources>,
    body: &FunctionBody<'_>,
    heights: &mut Vec<u32>,
) -> Result<wasmparser::FuncValidatorAllocations, Error> {
    let func_index = m.num_imported_funcs + m.bodies.len() as u32;
    let type_index = m.func_types[func_index as usize];
    let mut reader = body.get_binary_reader();
    fv.read_locals(&mut reader)?;
    let num_params = m.types[type_index as usize].params.len() as u32;
    let locals = (num_params..fv.len_locals())
        .map(|i| val_type(fv.get_local_type(i).expect("validated local")))
        .collect::<Result<Vec<_>, _>>()?;
    let start = m.code.len() as u32;
    let mut ops = OperatorsReader::new(reader);
    let mut ctrl = vec![Control { kind: FrameKind::Block, pending: Vec::new(), if_op: None, loop_target: 0 }];
    let mut max_height = 0u32;
    while !ops.eof() {
        let (op, offset) = ops.read_with_offset()?;
        let reachable = fv.get_control_frame(0).is_some_and(|f| !f.unreachable);
        let height = if reachable { fv.operand_stack_height() } else { crate::fast::UNREACHABLE };
        // Translation reads label heights before the validator sees the operator; if the
        // operator is invalid, the validator's error is the one worth reporting.
        let emitted = match translate_op(m, &fv, &mut ctrl, &op) {
            Ok(n) => n,
            Err(e) => {
                fv.op(offset, &op)?;
                return Err(e);
            }
        };
        fv.op(offset, &op)?;
        // wasmparser reads memory.size/grow's reserved byte as a LEB128 memory index;
        // WebAssembly 2.0 requires exactly one zero byte.
        if matches!(op, Operator::MemorySize { .. } | Operator::MemoryGrow { .. })
            && ops.original_position() != offset + 2
        {
            return Err(Error::Invalid(format!("zero byte expected at offset {}", offset + 1)));
        }
        for k in 0..emitted {
            m.code_offsets.push(offset as u32);
            heights.push(if k == 0 { height } else { crate::fast::UNREACHABLE });
        }
        max_height = max_height.max(fv.operand_stack_height());
        // The stack is polymorphic in unreachable code; heights there are meaningless.
    }
    ops.finish()?;
    // table.grow with a non-null value turns its 2 operands into table.fill's 4.
    m.bodies.push(FuncBody { type_index, start, locals, max_height: max_height + TABLE_GROW_EXTRA_SLOTS });
    Ok(fv.into_allocations())
}

/// Emits the ops for one operator, reading label heights from the validator before it
/// sees the operator. Returns how many ops were emitted.
fn translate_op(
    m: &mut Module,
    fv: &FuncValidator<ValidatorResources>,
    ctrl: &mut Vec<Control>,
    op: &Operator<'_>,
) -> Result<usize, Error> {
    let here = m.code.len();
    let invalid = |what: &str| Error::Invalid(format!("{what} at instruction {here}"));
    let branch = |m: &Module, ctrl: &mut Vec<Control>, depth: u32, at: usize| -> Result<Branch, Error> {
        let frame = fv.get_control_frame(depth as usize).ok_or_else(|| invalid("unknown label"))?;
        if depth as usize >= ctrl.len() {
            return Err(invalid("unknown label"));
        }
        let is_loop = frame.kind == FrameKind::Loop;
        let keep = block_arity(m, frame.block_type, is_loop);
        let height = fv.operand_stack_height() as usize;
        let drop = height.saturating_sub(frame.height + keep as usize) as u32;
        let at_depth = ctrl.len() - 1 - depth as usize;
        let target = &mut ctrl[at_depth];
        Ok(if is_loop {
            Branch { target: target.loop_target, drop, keep }
        } else {
            target.pending.push(at);
            Branch { target: 0, drop, keep }
        })
    };
    use Operator as O;
    let new_op = match *op {
        O::Unreachable => Op::Unreachable,
        O::Nop => Op::Nop,
        O::Block { .. } => {
            ctrl.push(Control { kind: FrameKind::Block, pending: Vec::new(), if_op: None, loop_target: 0 });
            Op::Block
        }
        O::Loop { .. } => {
            ctrl.push(Control {
                kind: FrameKind::Loop,
                pending: Vec::new(),
                if_op: None,
                loop_target: here as u32 + 1,
            });
            Op::Loop
        }
        O::If { .. } => {
            ctrl.push(Control { kind: FrameKind::If, pending: Vec::new(), if_op: Some(here), loop_target: 0 });
            Op::If { else_target: 0 }
        }
        O::Else => {
            let frame =
                ctrl.last_mut().filter(|f| f.kind == FrameKind::If).ok_or_else(|| invalid("else without if"))?;
            frame.kind = FrameKind::Else;
            frame.pending.push(here);
            if let Some(i) = frame.if_op.take() {
                m.code[i] = Op::If { else_target: here as u32 + 1 };
            }
            Op::Else { end_target: 0 }
        }
        O::End => {
            let frame = ctrl.pop().ok_or_else(|| invalid("end without block"))?;
            // Branches out of a block skip its `end`; the function's `end` is its return.
            let target = if ctrl.is_empty() { here } else { here + 1 } as u32;
            if let Some(i) = frame.if_op {
                m.code[i] = Op::If { else_target: target };
            }
            for site in frame.pending {
                patch_target(&mut m.code[site], target);
            }
            if ctrl.is_empty() {
                Op::Return
            } else {
                Op::End
            }
        }
        O::Br { relative_depth } => Op::Br(branch(m, ctrl, relative_depth, here)?),
        O::BrIf { relative_depth } => {
            // br_if pops its condition before branching.
            let mut b = branch(m, ctrl, relative_depth, here)?;
            b.drop = b.drop.saturating_sub(1);
            Op::BrIf(b)
        }
        O::BrTable { ref targets } => {
            let len = targets.len();
            m.code.push(Op::BrTable { len });
            let depths: Vec<u32> =
                targets.targets().chain(std::iter::once(Ok(targets.default()))).collect::<Result<_, _>>()?;
            for depth in depths {
                let at = m.code.len();
                let mut b = branch(m, ctrl, depth, at)?;
                b.drop = b.drop.saturating_sub(1);
                m.code.push(Op::BrTableTarget(b));
            }
            return Ok(len as usize + 2);
        }
        O::Return => Op::Return,
        O::Call { function_index } => Op::Call(function_index),
        O::CallIndirect { type_index, table_index } => Op::CallIndirect { type_index, table: table_index },
        O::Drop => Op::Drop,
        O::Select | O::TypedSelect { .. } => Op::Select,
        O::LocalGet { local_index } => Op::LocalGet(local_index),
        O::LocalSet { local_index } => Op::LocalSet(local_index),
        O::LocalTee { local_index } => Op::LocalTee(local_index),
        O::GlobalGet { global_index } => Op::GlobalGet(global_index),
        O::GlobalSet { global_index } => Op::GlobalSet(global_index),
        O::TableGet { table } => Op::TableGet(table),
        O::TableSet { table } => Op::TableSet(table),
        O::TableSize { table } => Op::TableSize(table),
        O::TableGrow { table } => {
            m.code.push(Op::TableGrow(table));
            m.code.push(Op::TableFill(table));
            return Ok(2);
        }
        O::TableFill { table } => Op::TableFill(table),
        O::TableCopy { dst_table, src_table } => Op::TableCopy { dst: dst_table, src: src_table },
        O::TableInit { elem_index, table } => Op::TableInit { elem: elem_index, table },
        O::ElemDrop { elem_index } => Op::ElemDrop(elem_index),
        O::I32Load { memarg } => load(Load::I32, memarg),
        O::I64Load { memarg } => load(Load::I64, memarg),
        O::F32Load { memarg } => load(Load::F32, memarg),
        O::F64Load { memarg } => load(Load::F64, memarg),
        O::I32Load8S { memarg } => load(Load::I32S8, memarg),
        O::I32Load8U { memarg } => load(Load::I32U8, memarg),
        O::I32Load16S { memarg } => load(Load::I32S16, memarg),
        O::I32Load16U { memarg } => load(Load::I32U16, memarg),
        O::I64Load8S { memarg } => load(Load::I64S8, memarg),
        O::I64Load8U { memarg } => load(Load::I64U8, memarg),
        O::I64Load16S { memarg } => load(Load::I64S16, memarg),
        O::I64Load16U { memarg } => load(Load::I64U16, memarg),
        O::I64Load32S { memarg } => load(Load::I64S32, memarg),
        O::I64Load32U { memarg } => load(Load::I64U32, memarg),
        O::I32Store { memarg } => store(Store::I32, memarg),
        O::I64Store { memarg } => store(Store::I64, memarg),
        O::F32Store { memarg } => store(Store::F32, memarg),
        O::F64Store { memarg } => store(Store::F64, memarg),
        O::I32Store8 { memarg } => store(Store::I32N8, memarg),
        O::I32Store16 { memarg } => store(Store::I32N16, memarg),
        O::I64Store8 { memarg } => store(Store::I64N8, memarg),
        O::I64Store16 { memarg } => store(Store::I64N16, memarg),
        O::I64Store32 { memarg } => store(Store::I64N32, memarg),
        O::MemorySize { .. } => Op::MemorySize,
        O::MemoryGrow { .. } => Op::MemoryGrow,
        O::MemoryFill { .. } => Op::MemoryFill,
        O::MemoryCopy { .. } => Op::MemoryCopy,
        O::MemoryInit { data_index, .. } => Op::MemoryInit(data_index),
        O::DataDrop { data_index } => Op::DataDrop(data_index),
        O::I32Const { value } => Op::Const { value: value as u32 as u64, ty: ValType::I32 },
        O::I64Const { value } => Op::Const { value: value as u64, ty: ValType::I64 },
        O::F32Const { value } => Op::Const { value: value.bits() as u64, ty: ValType::F32 },
        O::F64Const { value } => Op::Const { value: value.bits(), ty: ValType::F64 },
        O::RefNull { .. } => Op::RefNull,
        O::RefIsNull => Op::RefIsNull,
        O::RefFunc { function_index } => Op::RefFunc(function_index),
        ref other => {
            if let Some(u) = unary(other) {
                Op::Unary(u)
            } else if let Some(b) = binary(other) {
                Op::Binary(b)
            } else {
                // The validator rejects everything outside the supported features first.
                return Err(Error::Unsupported(format!("instruction {other:?}")));
            }
        }
    };
    m.code.push(new_op);
    Ok(1)
}

fn patch_target(op: &mut Op, target: u32) {
    match op {
        Op::Br(b) | Op::BrIf(b) | Op::BrTableTarget(b) => b.target = target,
        Op::Else { end_target } => *end_target = target,
        _ => unreachable!("only branches are patched"),
    }
}

fn load(kind: Load, memarg: wasmparser::MemArg) -> Op {
    Op::Load { kind, offset: memarg.offset as u32 }
}

fn store(kind: Store, memarg: wasmparser::MemArg) -> Op {
    Op::Store { kind, offset: memarg.offset as u32 }
}

fn unary(op: &Operator<'_>) -> Option<Unary> {
    use Operator as O;
    use Unary as U;
    Some(match op {
        O::I32Eqz => U::I32Eqz,
        O::I32Clz => U::I32Clz,
        O::I32Ctz => U::I32Ctz,
        O::I32Popcnt => U::I32Popcnt,
        O::I64Eqz => U::I64Eqz,
        O::I64Clz => U::I64Clz,
        O::I64Ctz => U::I64Ctz,
        O::I64Popcnt => U::I64Popcnt,
        O::F32Abs => U::F32Abs,
        O::F32Neg => U::F32Neg,
        O::F32Ceil => U::F32Ceil,
        O::F32Floor => U::F32Floor,
        O::F32Trunc => U::F32Trunc,
        O::F32Nearest => U::F32Nearest,
        O::F32Sqrt => U::F32Sqrt,
        O::F64Abs => U::F64Abs,
        O::F64Neg => U::F64Neg,
        O::F64Ceil => U::F64Ceil,
        O::F64Floor => U::F64Floor,
        O::F64Trunc => U::F64Trunc,
        O::F64Nearest => U::F64Nearest,
        O::F64Sqrt => U::F64Sqrt,
        O::I32WrapI64 => U::I32WrapI64,
        O::I32TruncF32S => U::I32TruncF32S,
        O::I32TruncF32U => U::I32TruncF32U,
        O::I32TruncF64S => U::I32TruncF64S,
        O::I32TruncF64U => U::I32TruncF64U,
        O::I64ExtendI32S => U::I64ExtendI32S,
        O::I64ExtendI32U => U::I64ExtendI32U,
        O::I64TruncF32S => U::I64TruncF32S,
        O::I64TruncF32U => U::I64TruncF32U,
        O::I64TruncF64S => U::I64TruncF64S,
        O::I64TruncF64U => U::I64TruncF64U,
        O::F32ConvertI32S => U::F32ConvertI32S,
        O::F32ConvertI32U => U::F32ConvertI32U,
        O::F32ConvertI64S => U::F32ConvertI64S,
        O::F32ConvertI64U => U::F32ConvertI64U,
        O::F32DemoteF64 => U::F32DemoteF64,
        O::F64ConvertI32S => U::F64ConvertI32S,
        O::F64ConvertI32U => U::F64ConvertI32U,
        O::F64ConvertI64S => U::F64ConvertI64S,
        O::F64ConvertI64U => U::F64ConvertI64U,
        O::F64PromoteF32 => U::F64PromoteF32,
        O::I32Extend8S => U::I32Extend8S,
        O::I32Extend16S => U::I32Extend16S,
        O::I64Extend8S => U::I64Extend8S,
        O::I64Extend16S => U::I64Extend16S,
        O::I64Extend32S => U::I64Extend32S,
        O::I32TruncSatF32S => U::I32TruncSatF32S,
        O::I32TruncSatF32U => U::I32TruncSatF32U,
        O::I32TruncSatF64S => U::I32TruncSatF64S,
        O::I32TruncSatF64U => U::I32TruncSatF64U,
        O::I64TruncSatF32S => U::I64TruncSatF32S,
        O::I64TruncSatF32U => U::I64TruncSatF32U,
        O::I64TruncSatF64S => U::I64TruncSatF64S,
        O::I64TruncSatF64U => U::I64TruncSatF64U,
        O::I32ReinterpretF32 => U::I32ReinterpretF32,
        O::I64ReinterpretF64 => U::I64ReinterpretF64,
        O::F32ReinterpretI32 => U::F32ReinterpretI32,
        O::F64ReinterpretI64 => U::F64ReinterpretI64,
        _ => return None,
    })
}

fn binary(op: &Operator<'_>) -> Option<Binary> {
    use Binary as B;
    use Operator as O;
    Some(match op {
        O::I32Eq => B::I32Eq,
        O::I32Ne => B::I32Ne,
        O::I32LtS => B::I32LtS,
        O::I32LtU => B::I32LtU,
        O::I32GtS => B::I32GtS,
        O::I32GtU => B::I32GtU,
        O::I32LeS => B::I32LeS,
        O::I32LeU => B::I32LeU,
        O::I32GeS => B::I32GeS,
        O::I32GeU => B::I32GeU,
        O::I64Eq => B::I64Eq,
        O::I64Ne => B::I64Ne,
        O::I64LtS => B::I64LtS,
        O::I64LtU => B::I64LtU,
        O::I64GtS => B::I64GtS,
        O::I64GtU => B::I64GtU,
        O::I64LeS => B::I64LeS,
        O::I64LeU => B::I64LeU,
        O::I64GeS => B::I64GeS,
        O::I64GeU => B::I64GeU,
        O::F32Eq => B::F32Eq,
        O::F32Ne => B::F32Ne,
        O::F32Lt => B::F32Lt,
        O::F32Gt => B::F32Gt,
        O::F32Le => B::F32Le,
        O::F32Ge => B::F32Ge,
        O::F64Eq => B::F64Eq,
        O::F64Ne => B::F64Ne,
        O::F64Lt => B::F64Lt,
        O::F64Gt => B::F64Gt,
        O::F64Le => B::F64Le,
        O::F64Ge => B::F64Ge,
        O::I32Add => B::I32Add,
        O::I32Sub => B::I32Sub,
        O::I32Mul => B::I32Mul,
        O::I32DivS => B::I32DivS,
        O::I32DivU => B::I32DivU,
        O::I32RemS => B::I32RemS,
        O::I32RemU => B::I32RemU,
        O::I32And => B::I32And,
        O::I32Or => B::I32Or,
        O::I32Xor => B::I32Xor,
        O::I32Shl => B::I32Shl,
        O::I32ShrS => B::I32ShrS,
        O::I32ShrU => B::I32ShrU,
        O::I32Rotl => B::I32Rotl,
        O::I32Rotr => B::I32Rotr,
        O::I64Add => B::I64Add,
        O::I64Sub => B::I64Sub,
        O::I64Mul => B::I64Mul,
        O::I64DivS => B::I64DivS,
        O::I64DivU => B::I64DivU,
        O::I64RemS => B::I64RemS,
        O::I64RemU => B::I64RemU,
        O::I64And => B::I64And,
        O::I64Or => B::I64Or,
        O::I64Xor => B::I64Xor,
        O::I64Shl => B::I64Shl,
        O::I64ShrS => B::I64ShrS,
        O::I64ShrU => B::I64ShrU,
        O::I64Rotl => B::I64Rotl,
        O::I64Rotr => B::I64Rotr,
        O::F32Add => B::F32Add,
        O::F32Sub => B::F32Sub,
        O::F32Mul => B::F32Mul,
        O::F32Div => B::F32Div,
        O::F32Min => B::F32Min,
        O::F32Max => B::F32Max,
        O::F32Copysign => B::F32Copysign,
        O::F64Add => B::F64Add,
        O::F64Sub => B::F64Sub,
        O::F64Mul => B::F64Mul,
        O::F64Div => B::F64Div,
        O::F64Min => B::F64Min,
        O::F64Max => B::F64Max,
        O::F64Copysign => B::F64Copysign,
        _ => return None,
    })
}
