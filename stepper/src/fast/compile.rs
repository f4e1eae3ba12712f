//! Compiles a module's step code ([`Op`]s, one per wasm instruction) into fast-path
//! instructions ([`Inst`]s) over frame-relative slots.
//!
//! The compiler keeps a virtual operand stack: `local.get` and constants push where
//! the value already is instead of copying it, an operation reads its operands from
//! wherever they are and writes its result to the slot of the height it leaves it at,
//! and a `local.set` of that result makes the operation write the local directly. So
//! `local.get a; i32.const 1; i32.add; local.set a` is one instruction of four steps.
//!
//! Every instruction records its exit: the wasm pc where its steps begin, the operand
//! stack height there, and the values that the precise machine would have on its stack
//! there but the fast path has not written (pushed locals and constants). An instruction
//! that cannot complete (a trap, an exhausted budget, something only the precise
//! executor does) changes nothing and leaves through its exit, so the machine is exactly
//! where single steps would have brought it. Values move to their slots before branches,
//! labels and calls, so every label and return address is an entry: a pc where the
//! stack holds what the fast code expects and the fast path can start.

use std::collections::{HashMap, HashSet};

use super::inst::{float_branch, negate, swapped, Code, Inst, Slot};
use super::{Exit, FastCode, FastFunc, Fixup, NO_ENTRY};
use crate::module::Module;
use crate::op::{self, Branch, Op};

/// The operand height of each op of `m.code` where it starts a reachable instruction,
/// [`UNREACHABLE`] elsewhere (dead code, br_table's targets, table.grow's fill).
pub(crate) const UNREACHABLE: u32 = u32::MAX;

/// The most steps one instruction completes (its `steps` is a byte).
const MAX_STEPS: u32 = u8::MAX as u32;

pub(crate) fn compile(m: &Module, heights: &[u32]) -> FastCode {
    let mut labels = vec![false; m.code.len() + 1];
    for target in m.code.iter().filter_map(target) {
        labels[target as usize] = true;
    }
    let mut fast = FastCode { entry: vec![NO_ENTRY; m.code.len()], ..FastCode::default() };
    for (i, body) in m.bodies.iter().enumerate() {
        let end = m.bodies.get(i + 1).map_or(m.code.len(), |b| b.start as usize) as u32;
        let ty = &m.types[body.type_index as usize];
        let params = ty.params.len() as u32;
        let locals = params + body.locals.len() as u32;
        let frame = locals as u64 + body.max_height as u64;
        let mut func = FastFunc { start: NO_ENTRY, params, locals: body.locals.len() as u32, frame: frame as u32 };
        // Slots are 16-bit; larger frames run on the precise executor.
        if frame < Slot::MAX as u64 {
            func.start = fast.insts.len() as u32;
            FuncCompiler::new(m, heights, &labels, &mut fast, locals, ty.results.len()).compile(body.start, end);
        }
        fast.funcs.push(func);
    }
    for (i, exit) in fast.exits.iter().enumerate() {
        let entry = &mut fast.entry[exit.pc as usize];
        if exit.fixups.is_empty() && *entry == NO_ENTRY {
            *entry = i as u32;
        }
    }
    fast
}

/// The pc an op may jump to.
fn target(op: &Op) -> Option<u32> {
    match *op {
        Op::If { else_target } => Some(else_target),
        Op::Else { end_target } => Some(end_target),
        Op::Br(b) | Op::BrIf(b) | Op::BrTableTarget(b) => Some(b.target),
        _ => None,
    }
}

/// Where a value on the virtual operand stack is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Val {
    /// In the slot of its own height.
    Stack,
    /// Still in this local: nothing has written the local since the value was pushed.
    Local(Slot),
    Const(u64),
}

struct FuncCompiler<'a> {
    m: &'a Module,
    heights: &'a [u32],
    labels: &'a [bool],
    fast: &'a mut FastCode,
    /// Instructions before this one must not absorb more steps: the function's first
    /// instruction, or the one after the latest label.
    floor: usize,
    /// Parameters and declared locals: the slot of operand height `h` is `locals + h`.
    locals: u32,
    /// How many values the function returns.
    results: usize,
    stack: Vec<Val>,
    /// `stack[..settled]` are all [`Val::Stack`].
    settled: usize,
    /// Where the steps of the next instruction begin, and its exit.
    range_start: u32,
    exit: Exit,
    /// The last instruction, while its result is the top of the stack and a following
    /// `local.set`, `local.tee` or branch may fold into it.
    last: Option<usize>,
    /// After an unconditional transfer, until a label that a branch reaches.
    dead: bool,
    label_at: HashMap<u32, u32>,
    /// Labels that emitted branches jump to.
    reached: HashSet<u32>,
    /// Branch instructions whose target (`imm.lo`) is a label's pc, to become its index.
    patches: Vec<usize>,
}

impl<'a> FuncCompiler<'a> {
    fn new(
        m: &'a Module,
        heights: &'a [u32],
        labels: &'a [bool],
        fast: &'a mut FastCode,
        locals: u32,
        results: usize,
    ) -> Self {
        let floor = fast.insts.len();
        Self {
            m,
            heights,
            labels,
            fast,
            floor,
            locals,
            results,
            stack: Vec::new(),
            settled: 0,
            range_start: 0,
            exit: Exit::default(),
            last: None,
            dead: false,
            label_at: HashMap::new(),
            reached: HashSet::new(),
            patches: Vec::new(),
        }
    }

    fn compile(mut self, start: u32, end: u32) {
        self.range_start = start;
        self.exit = self.capture();
        let mut pc = start;
        while pc < end {
            if self.labels[pc as usize] {
                self.label(pc);
            }
            if self.dead {
                pc += 1;
                continue;
            }
            debug_assert!(
                [self.stack.len() as u32, UNREACHABLE].contains(&self.heights[pc as usize]),
                "operand height at op {pc}"
            );
            if pc + 1 - self.range_start > MAX_STEPS {
                self.emit(Inst::new(Code::Nop), pc);
            }
            pc = self.op(pc);
        }
        for i in std::mem::take(&mut self.patches) {
            let inst = &mut self.fast.insts[i];
            match self.label_at.get(&inst.lo()) {
                Some(&at) => inst.imm = inst.imm & !0xffff_ffff | at as u64,
                // Unreachable by construction (a branch's target is reached); the precise
                // executor takes the branch if it ever is.
                None => {
                    let mut branch = i;
                    while self.fast.insts[branch].code == Code::BrTableEntry {
                        branch -= 1;
                    }
                    self.fast.insts[branch].code = Code::Exit;
                }
            }
        }
    }

    fn slot(&self, height: usize) -> Slot {
        (self.locals as usize + height) as Slot
    }

    fn top(&self) -> usize {
        self.stack.len() - 1
    }

    /// The exit of an instruction whose steps begin now.
    fn capture(&mut self) -> Exit {
        let start = self.fast.fixups.len() as u32;
        for h in self.settled..self.stack.len() {
            let at = self.slot(h);
            match self.stack[h] {
                Val::Stack => {}
                Val::Local(from) => self.fast.fixups.push(Fixup::Local { at, from }),
                Val::Const(value) => self.fast.fixups.push(Fixup::Const { at, value }),
            }
        }
        let fixups = start..self.fast.fixups.len() as u32;
        Exit { pc: self.range_start, top: self.slot(self.stack.len()) as u32, fixups }
    }

    /// Appends `inst`, which completes the steps up to (not including) pc `end`. The
    /// virtual stack must already be as `inst` leaves it.
    fn emit(&mut self, mut inst: Inst, end: u32) -> usize {
        debug_assert!(end - self.range_start <= MAX_STEPS);
        if let Some(i) = self.mergeable_copy(inst, end) {
            let prev = &mut self.fast.insts[i];
            *prev = Inst { code: Code::Copy2, c: inst.a, imm: inst.b as u64, ..*prev };
            self.extend_last(i, end);
            self.last = None;
            return i;
        }
        inst.steps = (end - self.range_start) as u8;
        self.fast.insts.push(inst);
        self.fast.exits.push(self.exit.clone());
        self.range_start = end;
        self.exit = self.capture();
        self.last = None;
        self.fast.insts.len() - 1
    }

    /// Appends an instruction that computes the top of the stack into its slot, which a
    /// following instruction may redirect or fuse with.
    fn emit_result(&mut self, inst: Inst, end: u32) {
        self.last = Some(self.emit(inst, end));
    }

    fn emit_branch(&mut self, inst: Inst, end: u32, target: u32) {
        self.reached.insert(target);
        let i = self.emit(inst.imm(inst.imm & !0xffff_ffff | target as u64), end);
        self.patches.push(i);
    }

    /// Whether the last instruction computed the top of the stack and can absorb `more`
    /// steps.
    fn foldable(&self, more: u32) -> Option<usize> {
        self.produced(self.stack.len().checked_sub(1)?, more)
    }

    /// Whether the last instruction computed the value of height `h` (everything above
    /// it pushed since, so not in slots) and can absorb `more` steps.
    fn produced(&self, h: usize, more: u32) -> Option<usize> {
        let i = self.last?;
        let ok = i + 1 == self.fast.insts.len()
            && self.stack[h] == Val::Stack
            && self.stack[h + 1..].iter().all(|&v| v != Val::Stack)
            && self.fast.insts[i].a == self.slot(h)
            && self.fast.insts[i].steps as u32 + more <= MAX_STEPS;
        ok.then_some(i)
    }

    /// The copy just before `inst`, a copy that can join it.
    fn mergeable_copy(&self, inst: Inst, end: u32) -> Option<usize> {
        let i = self.fast.insts.len().checked_sub(1)?;
        let prev = self.fast.insts[i];
        let ok = inst.code == Code::Copy
            && prev.code == Code::Copy
            && i >= self.floor
            && prev.steps as u32 + (end - self.range_start) <= MAX_STEPS;
        ok.then_some(i)
    }

    /// Makes the last instruction complete the steps up to `end` as well.
    fn extend_last(&mut self, i: usize, end: u32) {
        self.fast.insts[i].steps += (end - self.range_start) as u8;
        self.range_start = end;
        self.exit = self.capture();
    }

    /// The instruction writing `value` to the slot of height `h`.
    fn settle_inst(&self, h: usize, value: Val) -> Inst {
        match value {
            Val::Local(from) => Inst::new(Code::Copy).a(self.slot(h)).b(from),
            Val::Const(c) => Inst::new(Code::Const).a(self.slot(h)).imm(c),
            Val::Stack => unreachable!("only pushed locals and constants are settled"),
        }
    }

    /// Writes the value of height `h` to its slot, by an instruction completing the
    /// steps up to `end`.
    fn settle(&mut self, h: usize, end: u32) {
        let value = self.stack[h];
        if value != Val::Stack {
            self.stack[h] = Val::Stack;
            self.emit(self.settle_inst(h, value), end);
        }
    }

    /// Settles the heights `which` selects.
    fn settle_where(&mut self, end: u32, which: impl Fn(Val) -> bool) {
        for h in self.settled..self.stack.len() {
            if which(self.stack[h]) {
                self.settle(h, end);
            }
        }
    }

    /// Settles the whole stack: before labels, branches and calls.
    fn settle_all(&mut self, end: u32) {
        self.settle_below(self.stack.len(), end);
    }

    /// Settles the heights below `height`.
    fn settle_below(&mut self, height: usize, end: u32) {
        for h in self.settled..height {
            self.settle(h, end);
        }
        self.settled = self.settled.max(height);
    }

    /// Settles the heights `which` selects below the top by instructions placed before
    /// the last one (`i`), so that it stays last. Refuses (changing nothing) if leaving
    /// through the last one's exit after they ran would not give the state there: when
    /// one would overwrite a slot that holds a different value at that exit.
    fn settle_before(&mut self, i: usize, which: impl Fn(Val) -> bool) -> bool {
        let exit = self.fast.exits[i].clone();
        let fixups = &self.fast.fixups[exit.fixups.start as usize..exit.fixups.end as usize];
        let heights: Vec<usize> = (self.settled..self.top()).filter(|&h| which(self.stack[h])).collect();
        let safe = heights.iter().all(|&h| {
            let at = self.slot(h);
            let same = match self.stack[h] {
                Val::Local(from) => Fixup::Local { at, from },
                Val::Const(value) => Fixup::Const { at, value },
                Val::Stack => return true,
            };
            at as u32 >= exit.top || fixups.contains(&same)
        });
        if !safe {
            return false;
        }
        for h in heights {
            let value = std::mem::replace(&mut self.stack[h], Val::Stack);
            let inst = self.settle_inst(h, value);
            let at = self.fast.insts.len() - 1;
            self.fast.insts.insert(at, inst);
            self.fast.exits.insert(at, exit.clone());
        }
        let last = self.fast.insts.len() - 1;
        self.last = Some(last);
        self.exit = self.capture();
        true
    }

    /// The slot holding the value of height `h`, settling a constant first.
    fn operand(&mut self, h: usize, pc: u32) -> Slot {
        match self.stack[h] {
            Val::Stack => self.slot(h),
            Val::Local(l) => l,
            Val::Const(_) => {
                self.settle(h, pc);
                self.slot(h)
            }
        }
    }

    fn pop(&mut self, n: usize) {
        let len = self.stack.len() - n;
        self.stack.truncate(len);
        self.settled = self.settled.min(len);
    }

    /// Pops `pops` values and pushes one computed value; returns its slot.
    fn result(&mut self, pops: usize) -> Slot {
        self.pop(pops);
        self.stack.push(Val::Stack);
        self.slot(self.top())
    }

    fn label(&mut self, pc: u32) {
        if self.dead {
            let height = match self.heights[pc as usize] {
                // The function's final `end`, after dead code: branches to the function's
                // label leave its results there.
                UNREACHABLE if self.m.code[pc as usize] == Op::Return => self.results as u32,
                height => height,
            };
            if !self.reached.contains(&pc) || height == UNREACHABLE {
                return;
            }
            self.dead = false;
            self.stack = vec![Val::Stack; height as usize];
            self.settled = self.stack.len();
            self.range_start = pc;
        } else {
            self.settle_all(pc);
            if self.range_start < pc {
                // Steps that emitted nothing (blocks, dropped pushes): the instruction
                // before them completes them too if it always continues to the next.
                match self.fast.insts.len().checked_sub(1) {
                    Some(i)
                        if i >= self.floor
                            && falls_through(self.fast.insts[i].code)
                            && self.fast.insts[i].steps as u32 + (pc - self.range_start) <= MAX_STEPS =>
                    {
                        self.extend_last(i, pc)
                    }
                    _ => {
                        self.emit(Inst::new(Code::Nop), pc);
                    }
                }
            }
        }
        self.exit = self.capture();
        self.last = None;
        self.floor = self.fast.insts.len();
        self.label_at.insert(pc, self.floor as u32);
    }

    /// Leaves the fast path at instruction `pc` (the precise executor runs it), with the
    /// stack settled so that the fast path can come back at op `next`, where the stack
    /// is `after` values high.
    fn exit_at(&mut self, pc: u32, next: u32, after: u32) {
        self.settle_all(pc);
        self.emit(Inst::new(Code::Exit), next);
        self.stack = vec![Val::Stack; after as usize];
        self.settled = self.stack.len();
        self.exit = self.capture();
    }

    /// Compiles the op at `pc`; returns the pc of the next one.
    fn op(&mut self, pc: u32) -> u32 {
        let next = pc + 1;
        let h = self.stack.len();
        match self.m.code[pc as usize] {
            Op::Nop | Op::Block | Op::Loop | Op::End => {}
            Op::Unreachable => {
                self.emit(Inst::new(Code::Exit), next);
                self.dead = true;
            }
            Op::LocalGet(l) => self.stack.push(Val::Local(l as Slot)),
            Op::Const { value, .. } => self.stack.push(Val::Const(value)),
            Op::RefNull => self.stack.push(Val::Const(0)),
            Op::Drop => self.pop(1),
            Op::LocalSet(l) => self.local_set(l as Slot, next, false),
            Op::LocalTee(l) => self.local_set(l as Slot, next, true),
            Op::GlobalGet(g) => {
                let dst = self.result(0);
                self.emit_result(Inst::new(Code::GlobalGet).a(dst).imm(g as u64), next);
            }
            Op::GlobalSet(g) => {
                let src = self.operand(h - 1, pc);
                self.pop(1);
                self.emit(Inst::new(Code::GlobalSet).b(src).imm(g as u64), next);
            }
            Op::Select => {
                let (x, y, cond) = (self.operand(h - 3, pc), self.operand(h - 2, pc), self.operand(h - 1, pc));
                let dst = self.result(3);
                self.emit_result(Inst::new(Code::Select).a(dst).b(x).c(y).imm(cond as u64), next);
            }
            Op::Unary(op::Unary::I32Eqz) if self.negate_last_compare(next) => {}
            Op::Unary(u) => {
                let src = self.operand(h - 1, pc);
                let dst = self.result(1);
                let inst = match Code::unary(u) {
                    Some(code) => Inst::new(code),
                    None => {
                        let i = self.fast.unary_ops.iter().position(|&o| o == u).unwrap_or_else(|| {
                            self.fast.unary_ops.push(u);
                            self.fast.unary_ops.len() - 1
                        });
                        Inst::new(Code::Unary).imm(i as u64)
                    }
                };
                self.emit_result(inst.a(dst).b(src), next);
            }
            Op::RefIsNull => {
                let src = self.operand(h - 1, pc);
                let dst = self.result(1);
                self.emit_result(Inst::new(Code::I64Eqz).a(dst).b(src), next);
            }
            Op::Binary(op) => self.binary(op, pc),
            Op::Load { kind, offset } => {
                let (plain, indexed) = load_codes(kind);
                // An address the last instruction added up becomes the load's.
                if let Some(i) = self.produced(h - 1, next - self.range_start) {
                    if let Some(load) = self.indexed(self.fast.insts[i], plain, indexed, offset) {
                        self.fast.insts[i] = Inst { steps: self.fast.insts[i].steps, ..load };
                        self.extend_last(i, next);
                        return next;
                    }
                }
                let addr = self.operand(h - 1, pc);
                let dst = self.result(1);
                self.emit_result(Inst::new(plain).a(dst).b(addr).imm(offset as u64), next);
            }
            Op::Store { kind, offset } => {
                let (plain, indexed, with_imm) = store_codes(kind);
                if let (Val::Local(value), Some(i)) = (self.stack[h - 1], self.produced(h - 2, next - self.range_start))
                {
                    if let Some(store) = self.indexed(self.fast.insts[i], plain, indexed, offset) {
                        // The store's index slot is `a`, where the load's result goes.
                        let store = Inst { a: store.c, c: value, ..store };
                        self.fast.insts[i] = Inst { steps: self.fast.insts[i].steps, ..store };
                        self.pop(2);
                        self.extend_last(i, next);
                        self.last = None;
                        return next;
                    }
                }
                let inst = match self.stack[h - 1] {
                    Val::Const(v) if v <= u32::MAX as u64 => {
                        Inst::new(with_imm).b(self.operand(h - 2, pc)).pair(offset, v as u32)
                    }
                    _ => {
                        let (addr, value) = (self.operand(h - 2, pc), self.operand(h - 1, pc));
                        Inst::new(plain).b(addr).c(value).imm(offset as u64)
                    }
                };
                self.pop(2);
                self.emit(inst, next);
            }
            Op::MemorySize => {
                let dst = self.result(0);
                self.emit_result(Inst::new(Code::MemorySize).a(dst), next);
            }
            Op::RefFunc(f) => {
                let dst = self.result(0);
                self.emit_result(Inst::new(Code::RefFunc).a(dst).imm(f as u64), next);
            }
            Op::MemoryFill | Op::MemoryCopy => {
                self.settle_all(pc);
                let code = if matches!(self.m.code[pc as usize], Op::MemoryFill) {
                    Code::MemoryFill
                } else {
                    Code::MemoryCopy
                };
                let operands = self.slot(h - 3);
                self.pop(3);
                self.emit(Inst::new(code).b(operands), next);
            }
            Op::Br(br) => {
                self.settle_all(pc);
                self.branch(Code::Br, Code::BrMove, Inst::new(Code::Br), br, next);
                self.dead = true;
            }
            Op::Else { end_target } => {
                self.settle_all(pc);
                self.emit_branch(Inst::new(Code::Br), next, end_target);
                self.dead = true;
            }
            Op::BrIf(br) => self.conditional(br, false, pc),
            Op::If { else_target } => self.conditional(Branch { target: else_target, drop: 0, keep: 0 }, true, pc),
            Op::BrTable { len } => {
                self.settle_all(pc);
                let index = self.slot(h - 1);
                self.pop(1);
                self.emit(Inst::new(Code::BrTable).b(index).imm(len as u64), next);
                let exit = self.fast.exits.last().expect("just emitted").clone();
                for k in 0..=len {
                    let Op::BrTableTarget(br) = self.m.code[(pc + 1 + k) as usize] else {
                        unreachable!("br_table is followed by its targets")
                    };
                    let (from, to) = self.moved(br);
                    let entry = Inst::new(Code::BrTableEntry).a(br.keep as Slot).b(from).c(to).imm(br.target as u64);
                    self.reached.insert(br.target);
                    self.fast.insts.push(entry);
                    self.fast.exits.push(exit.clone());
                    self.patches.push(self.fast.insts.len() - 1);
                }
                self.dead = true;
                return next + len + 1;
            }
            Op::Return => {
                let results = self.results;
                let from = if results == 1 {
                    self.operand(h - 1, pc)
                } else {
                    for r in h - results..h {
                        self.settle(r, pc);
                    }
                    self.slot(h - results)
                };
                self.emit(Inst::new(Code::Return).b(from).c(results as Slot), next);
                self.dead = true;
            }
            Op::Call(f) => {
                let ty = self.m.func_type(f);
                let (params, results) = (ty.params.len(), ty.results.len() as u32);
                if f < self.m.num_imported_funcs {
                    self.exit_at(pc, next, (h - params) as u32 + results);
                } else {
                    self.settle_all(pc);
                    let args = self.slot(h - params);
                    self.pop(params);
                    self.stack.extend((0..results).map(|_| Val::Stack));
                    self.settled = self.stack.len();
                    self.emit(Inst::new(Code::Call).b(args).pair(f, next), next);
                }
            }
            Op::CallIndirect { type_index, table } => {
                let ty = &self.m.types[type_index as usize];
                let (params, results) = (ty.params.len(), ty.results.len() as u32);
                let Ok(table) = Slot::try_from(table) else {
                    self.exit_at(pc, next, (h - 1 - params) as u32 + results);
                    return next;
                };
                self.settle_all(pc);
                let (args, index) = (self.slot(h - 1 - params), self.slot(h - 1));
                self.pop(params + 1);
                self.stack.extend((0..results).map(|_| Val::Stack));
                self.settled = self.stack.len();
                self.emit(Inst::new(Code::CallIndirect).a(table).b(args).c(index).pair(type_index, next), next);
            }
            Op::TableGrow(_) => {
                // With table.fill's slot after it, never an instruction of its own.
                self.exit_at(pc, pc + 2, self.heights[pc as usize + 2]);
                return pc + 2;
            }
            Op::MemoryGrow
            | Op::MemoryInit(_)
            | Op::DataDrop(_)
            | Op::TableGet(_)
            | Op::TableSet(_)
            | Op::TableSize(_)
            | Op::TableFill(_)
            | Op::TableCopy { .. }
            | Op::TableInit { .. }
            | Op::ElemDrop(_) => self.exit_at(pc, next, self.heights[next as usize]),
            Op::BrTableTarget(_) => unreachable!("br_table targets are skipped"),
        }
        next
    }

    /// The slots a branch moves its kept values from and to (`keep` values from the top
    /// of the stack down by `drop`), the stack being settled.
    fn moved(&self, br: Branch) -> (Slot, Slot) {
        let from = self.slot(self.stack.len() - br.keep as usize);
        (from, from - br.drop as Slot)
    }

    /// Emits an unconditional branch: `plain` if it moves nothing, else `moving`
    /// (`inst` supplies the condition for a conditional one).
    fn branch(&mut self, plain: Code, moving: Code, inst: Inst, br: Branch, end: u32) {
        let inst = if br.drop == 0 {
            Inst { code: plain, ..inst }
        } else {
            let (from, to) = self.moved(br);
            Inst { code: moving, ..inst }.a(br.keep as Slot).b(from).c(to)
        };
        self.emit_branch(inst, end, br.target);
    }

    /// `br_if` (`negated` false) or `if` (true: branches to the else part when the
    /// condition is zero).
    fn conditional(&mut self, br: Branch, negated: bool, pc: u32) {
        let next = pc + 1;
        if br.drop == 0 && self.fuse_negated_float_branch(br, negated, next) {
            return;
        }
        if br.drop == 0 {
            if let Some(i) = self.foldable(next - self.range_start) {
                if let Some(fused) = self.fused_branch(self.fast.insts[i], negated) {
                    if self.settle_before(i, |v| v != Val::Stack) {
                        let i = self.fast.insts.len() - 1;
                        let steps = self.fast.insts[i].steps;
                        self.replace_by_branch(i, fused, steps, br.target, next);
                        return;
                    }
                }
            }
        }
        // The condition stays where it is; the rest moves to its slots (while the
        // condition is still on the stack, as it is at the branch's exit).
        let cond = self.operand(self.top(), pc);
        let top = self.top();
        self.settle_below(top, pc);
        self.pop(1);
        let (plain, moving) = if negated { (Code::BrIfEqz, Code::BrIfEqz) } else { (Code::BrIfNez, Code::BrIfNezMove) };
        let inst = if br.drop == 0 { Inst::new(plain).b(cond) } else { Inst::new(moving).pair(0, cond as u32) };
        self.branch(plain, moving, inst, br, next);
    }

    /// A branch on `i32.eqz` of a float comparison, the two instructions before it and
    /// nothing to settle, becomes one branch on the comparison with the other polarity
    /// (integer comparisons are negated when `i32.eqz` is compiled).
    fn fuse_negated_float_branch(&mut self, br: Branch, negated: bool, end: u32) -> bool {
        let Some(i) = self.foldable(end - self.range_start) else { return false };
        let eqz = self.fast.insts[i];
        let Some(j) = i.checked_sub(1).filter(|&j| j >= self.floor) else { return false };
        let compare = self.fast.insts[j];
        let top = self.top();
        let ok = eqz.code == Code::I32Eqz
            && eqz.b == eqz.a
            && compare.a == eqz.b
            && self.compare_of(compare.code).is_some_and(|op| float_branch(op).is_some())
            && self.stack[self.settled..top].iter().all(|&v| v == Val::Stack)
            && compare.steps as u32 + eqz.steps as u32 + (end - self.range_start) <= MAX_STEPS;
        let Some(fused) = self.fused_branch(compare, !negated).filter(|_| ok) else { return false };
        self.fast.insts.pop();
        self.fast.exits.pop();
        self.replace_by_branch(j, fused, compare.steps + eqz.steps, br.target, end);
        true
    }

    /// Makes the last instruction `i`, which computed the condition on top of the stack,
    /// the branch `fused` to `target` instead, completing `steps` and the steps up to
    /// `end`. Its exit stays: the branch changes nothing before it jumps.
    fn replace_by_branch(&mut self, i: usize, fused: Inst, steps: u8, target: u32, end: u32) {
        self.fast.insts[i] = Inst { steps, ..fused.imm(fused.imm & !0xffff_ffff | target as u64) };
        self.pop(1);
        self.settled = self.stack.len();
        self.extend_last(i, end);
        self.last = None;
        self.reached.insert(target);
        self.patches.push(i);
    }

    /// Makes the comparison the last instruction computed answer the opposite, for an
    /// `i32.eqz` of it; false (changing nothing) if there is none or it is a float one.
    fn negate_last_compare(&mut self, end: u32) -> bool {
        let Some(i) = self.foldable(end - self.range_start) else { return false };
        let inst = self.fast.insts[i];
        let Some((op, negated)) = self.compare_of(inst.code).and_then(|op| Some((op, negate(op)?))) else {
            return false;
        };
        self.fast.insts[i].code = if Code::binary_imm(op) == Some(inst.code) {
            Code::binary_imm(negated)
        } else {
            Some(Code::binary(negated))
        }
        .expect("integer comparisons have both forms");
        self.extend_last(i, end);
        true
    }

    /// The branch on the condition `inst` computes, if there is one.
    fn fused_branch(&self, inst: Inst, negated: bool) -> Option<Inst> {
        let eqz = |taken_if_zero: Code, taken_if_not: Code| {
            Some(Inst::new(if negated { taken_if_not } else { taken_if_zero }).b(inst.b))
        };
        match inst.code {
            Code::I32Eqz => return eqz(Code::BrIfEqz, Code::BrIfNez),
            Code::I64Eqz => return eqz(Code::BrIfEqz64, Code::BrIfNez64),
            _ => {}
        }
        let computed = self.compare_of(inst.code)?;
        let is_imm = Code::binary_imm(computed) == Some(inst.code);
        if let Some((slots, with_imm)) = float_branch(computed) {
            let polarity = negated as Slot;
            return Some(if is_imm {
                Inst::new(with_imm?).a(polarity).b(inst.b).pair(0, inst.imm as u32)
            } else {
                Inst::new(slots).a(polarity).b(inst.b).c(inst.c)
            });
        }
        let op = if negated { negate(computed)? } else { computed };
        let (slots, with_imm) = Code::branch(op)?;
        if !is_imm {
            return Some(Inst::new(slots).b(inst.b).c(inst.c));
        }
        // The immediate form: the branch holds 32 bits of it.
        let imm = inst.imm;
        let fits = if op.is_i32() { imm <= u32::MAX as u64 } else { imm as i64 == imm as i32 as i64 };
        fits.then(|| Inst::new(with_imm).b(inst.b).pair(0, imm as u32))
    }

    /// The access (`plain`, or `indexed` for two slots) whose address is what `add`
    /// computes, if `add` is an i32 addition; its `a` is `add`'s, its `c` the index.
    fn indexed(&self, add: Inst, plain: Code, indexed: Code, offset: u32) -> Option<Inst> {
        match add.code {
            Code::I32Add => Some(Inst { code: indexed, imm: offset as u64, ..add }),
            Code::I32AddImm => Some(Inst::new(plain).a(add.a).b(add.b).pair(offset, add.imm as u32)),
            _ => None,
        }
    }

    fn compare_of(&self, code: Code) -> Option<op::Binary> {
        COMPARES.iter().copied().find(|&op| Code::binary(op) == code || Code::binary_imm(op) == Some(code))
    }

    /// An addition of a product the last instruction computed becomes one instruction.
    fn fuse_multiply_add(&mut self, op: op::Binary, end: u32) -> bool {
        let (mul, fused) = match op {
            op::Binary::F32Add => (Code::F32Mul, Code::F32MulAdd),
            op::Binary::F64Add => (Code::F64Mul, Code::F64MulAdd),
            _ => return false,
        };
        let h = self.stack.len();
        for (product, other) in [(h - 1, h - 2), (h - 2, h - 1)] {
            let Some(i) = self.produced(product, end - self.range_start) else { continue };
            let addend = match self.stack[other] {
                Val::Local(l) => l,
                Val::Stack if other < product => self.slot(other),
                _ => continue,
            };
            let inst = self.fast.insts[i];
            if inst.code != mul {
                continue;
            }
            self.fast.insts[i] = Inst { code: fused, a: self.slot(h - 2), imm: addend as u64, ..inst };
            self.result(2);
            self.extend_last(i, end);
            return true;
        }
        false
    }

    fn binary(&mut self, op: op::Binary, pc: u32) {
        if self.fuse_multiply_add(op, pc + 1) {
            return;
        }
        let h = self.stack.len();
        let (x, y) = (self.stack[h - 2], self.stack[h - 1]);
        let inst = match (x, y, Code::binary_imm(op), swapped(op).and_then(Code::binary_imm)) {
            (_, Val::Const(c), Some(code), _) => Inst::new(code).b(self.operand(h - 2, pc)).imm(c),
            (Val::Const(c), _, _, Some(code)) => Inst::new(code).b(self.operand(h - 1, pc)).imm(c),
            _ => {
                let (a, b) = (self.operand(h - 2, pc), self.operand(h - 1, pc));
                Inst::new(Code::binary(op)).b(a).c(b)
            }
        };
        let dst = self.result(2);
        self.emit_result(inst.a(dst), pc + 1);
    }

    /// `local.set` (or `local.tee`, which keeps the value on the stack) of local `l`.
    fn local_set(&mut self, l: Slot, end: u32, tee: bool) {
        let top = self.top();
        let value = self.stack[top];
        if value == Val::Local(l) {
            if !tee {
                self.pop(1);
            }
            return;
        }
        let refers = move |v: Val| v == Val::Local(l);
        // Redirect the instruction that computed the value to write the local.
        if let Some(i) = self.foldable(end - self.range_start) {
            if self.settle_before(i, refers) {
                let i = self.fast.insts.len() - 1;
                self.fast.insts[i].a = l;
                if tee {
                    self.stack[top] = Val::Local(l);
                    self.settled = self.settled.min(top);
                } else {
                    self.pop(1);
                }
                self.extend_last(i, end);
                self.last = None;
                return;
            }
        }
        self.settle_where(end - 1, refers);
        let inst = match value {
            Val::Local(from) => Inst::new(Code::Copy).a(l).b(from),
            Val::Const(c) => Inst::new(Code::Const).a(l).imm(c),
            Val::Stack => Inst::new(Code::Copy).a(l).b(self.slot(top)),
        };
        if !tee {
            self.pop(1);
        }
        self.emit(inst, end);
    }
}

/// The comparisons a branch can absorb.
const COMPARES: [op::Binary; 32] = {
    use op::Binary::*;
    [
        I32Eq, I32Ne, I32LtS, I32LtU, I32GtS, I32GtU, I32LeS, I32LeU, I32GeS, I32GeU, I64Eq, I64Ne, I64LtS, I64LtU,
        I64GtS, I64GtU, I64LeS, I64LeU, I64GeS, I64GeU, F32Eq, F32Ne, F32Lt, F32Gt, F32Le, F32Ge, F64Eq, F64Ne, F64Lt,
        F64Gt, F64Le, F64Ge,
    ]
};

/// Whether an instruction always continues with the next one when it completes.
fn falls_through(code: Code) -> bool {
    !matches!(
        code,
        Code::Exit
            | Code::Br
            | Code::BrMove
            | Code::BrIfNez
            | Code::BrIfEqz
            | Code::BrIfNez64
            | Code::BrIfEqz64
            | Code::BrIfNezMove
            | Code::BrTable
            | Code::BrTableEntry
            | Code::Return
            | Code::Call
            | Code::CallIndirect
            | Code::BrF32Eq
            | Code::BrF32Ne
            | Code::BrF32Lt
            | Code::BrF32Gt
            | Code::BrF32Le
            | Code::BrF32Ge
            | Code::BrF64Eq
            | Code::BrF64Ne
            | Code::BrF64Lt
            | Code::BrF64Gt
            | Code::BrF64Le
            | Code::BrF64Ge
            | Code::BrF32LtImm
            | Code::BrF32GtImm
            | Code::BrF32LeImm
            | Code::BrF32GeImm
    ) && !code.is_compare_branch()
}

/// The load codes for a kind: of one address slot, and of the sum of two.
fn load_codes(kind: op::Load) -> (Code, Code) {
    use op::Load::*;
    match kind {
        I32U8 | I64U8 => (Code::Load8U, Code::Load8UX),
        I32S8 => (Code::Load8S32, Code::Load8S32X),
        I64S8 => (Code::Load8S64, Code::Load8S64X),
        I32U16 | I64U16 => (Code::Load16U, Code::Load16UX),
        I32S16 => (Code::Load16S32, Code::Load16S32X),
        I64S16 => (Code::Load16S64, Code::Load16S64X),
        I32 | F32 | I64U32 => (Code::Load32U, Code::Load32UX),
        I64S32 => (Code::Load32S64, Code::Load32S64X),
        I64 | F64 => (Code::Load64, Code::Load64X),
    }
}

/// The store codes for a kind: to one address slot, to the sum of two, and of an
/// immediate.
fn store_codes(kind: op::Store) -> (Code, Code, Code) {
    match kind.width() {
        1 => (Code::Store8, Code::Store8X, Code::Store8Imm),
        2 => (Code::Store16, Code::Store16X, Code::Store16Imm),
        4 => (Code::Store32, Code::Store32X, Code::Store32Imm),
        _ => (Code::Store64, Code::Store64X, Code::Store64Imm),
    }
}
