//! The judge: checks that a proof opens its pre-state hash, executes the step with the
//! stepper's own executor over what the proof opens, and computes the post-state hash.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use merkle_memory::hash::{leaf, slot_leaf, EMPTY};
use merkle_memory::state::{
    caller_link, context, output_chain_over, segments_hash_of, table_commitment_of, zero_slot_hashes, Commitment,
    Environment, EnvironmentCommitment, FrameCommitment,
};
use merkle_memory::storage::{key_hash, value_hash};
use merkle_memory::tree::{append_root, proven_root, Peaks, ProvenNodes};
use merkle_memory::{memory, Hash};
use stepper::op::Op;
use stepper::storage::{is_storable_key, MAX_VALUE_LEN};
use stepper::store::{Func, Instance, PAGE_SIZE};
use stepper::{Config, Frame, Machine, Module, Registers, Status, Trap, ValType};

use crate::partial::{Partial, PartialIo, PartialMemory, PartialStack, PartialStorage, PartialTable};
use crate::proof::{
    max_chunks, Caller, Leaves, MemoryOpening, Proof, StorageOpening, TablesOpening, MAX_GLOBALS, MAX_INPUT_CHUNKS,
    MAX_STACK_SLOTS, MAX_STORAGE_SIBLINGS, MAX_TABLES, MAX_TABLE_ELEMENTS, VERSION,
};
use merkle_memory::io::IoCommitment;
use stepper::io::MAX_INPUT_LEN;

/// Why a proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid<T>(why: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid(why.into()))
}

/// The root a leaves opening proves, with the values it holds.
fn leaves_root(what: &str, l: &Leaves, values: &[u64]) -> Result<Hash, Invalid> {
    l.root_with(values).map_err(|e| Invalid(format!("{what}: {e}")))
}

/// Checks that an opening proves `root`; its indices and values as a map.
fn open_leaves(what: &str, l: &Leaves, count: usize, root: &Hash) -> Result<BTreeMap<usize, u64>, Invalid> {
    if l.count as usize != count {
        return invalid(format!("{what}: the proof says {} leaves, the state has {count}", l.count));
    }
    if l.indices.len() != l.values.len() {
        return invalid(format!("{what}: {} indices but {} values", l.indices.len(), l.values.len()));
    }
    if leaves_root(what, l, &l.values)? != *root {
        return invalid(format!("{what}: the opened values do not prove the committed root"));
    }
    Ok(l.indices.iter().map(|&i| i as usize).zip(l.values.iter().copied()).collect())
}

/// The root of an opening after the step, with the values now at its indices.
fn reopen(what: &str, l: &Leaves, now: &BTreeMap<usize, u64>) -> Result<Hash, Invalid> {
    let values: Vec<u64> = l.indices.iter().map(|&i| now.get(&(i as usize)).copied().unwrap_or(0)).collect();
    leaves_root(what, l, &values)
}

/// A judge for one module and configuration: everything it holds besides the proof.
pub struct Judge {
    module: Arc<Module>,
    layout: Machine,
    context: Hash,
}

/// What the judge found: the step's post-state hash and the instruction it executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub post_hash: Hash,
    pub instruction: Option<String>,
}

impl Judge {
    pub fn new(module: Arc<Module>, config: Config) -> Result<Self, stepper::Error> {
        let layout = Machine::layout(&module, config)?;
        let context = context(layout.config(), layout.store());
        Ok(Self { module, layout, context })
    }

    /// The instruction at `pc` of function `func`, if `func` is one of the module's.
    pub fn instruction(&self, func: u32, pc: u32) -> Option<String> {
        self.wasm_function(func)?;
        self.module.code.get(pc as usize).map(|op| op.to_string())
    }

    fn wasm_function(&self, func: u32) -> Option<()> {
        matches!(self.layout.store().funcs.get(func as usize), Some(Func::Wasm { .. })).then_some(())
    }

    /// Checks `proof` and returns the post-state hash the step gives. The proof's own
    /// `post_hash` must agree.
    pub fn check(&self, proof: &Proof) -> Result<Verdict, Invalid> {
        let verdict = self.execute(proof)?;
        if verdict.post_hash != proof.post_hash {
            return invalid(format!(
                "the proof claims post-state {}, the step gives {}",
                merkle_memory::hex(&proof.post_hash),
                merkle_memory::hex(&verdict.post_hash)
            ));
        }
        Ok(verdict)
    }

    /// Executes the step a proof describes and returns its post-state hash, whatever
    /// the proof claims it to be.
    pub fn execute(&self, proof: &Proof) -> Result<Verdict, Invalid> {
        if proof.version != VERSION {
            return invalid(format!("proof version {} (this judge reads version {VERSION})", proof.version));
        }
        let s = &proof.state;
        if s.context != self.context {
            return invalid("the proof is for another module or configuration");
        }
        self.check_bounds(proof)?;
        if s.hash() != proof.pre_hash {
            return invalid("the state fields do not hash to pre_hash");
        }
        if s.steps != proof.step {
            return invalid(format!("the proof is for step {} but its state is at step {}", proof.step, s.steps));
        }
        if s.status != 0 {
            // A halted machine is a fixed point.
            self.check_halted(s)?;
            return Ok(Verdict { post_hash: proof.pre_hash, instruction: None });
        }
        self.check_running(proof)?;
        match catch_unwind(AssertUnwindSafe(|| self.execute_running(proof))) {
            Ok(result) => result,
            Err(_) => invalid("the proof describes a state the step cannot run on"),
        }
    }

    /// Refuses what no step opens, before any Merkle work: each opening within what one
    /// instruction can touch, and the segments' flags one per segment.
    fn check_bounds(&self, proof: &Proof) -> Result<(), Invalid> {
        let at_most = |what: &str, n: usize, max: usize| match n > max {
            true => invalid(format!("{what}: {n} opened, one step opens at most {max}")),
            false => Ok(()),
        };
        at_most("stack slots", proof.stack.indices.len(), MAX_STACK_SLOTS)?;
        if let Some(g) = &proof.globals {
            at_most("globals", g.indices.len(), MAX_GLOBALS)?;
        }
        if let Some(m) = &proof.memory {
            at_most("memory chunks", m.chunks.len(), max_chunks(self.layout.config().memory_chunk_size as usize))?;
        }
        if let Some(t) = &proof.tables {
            at_most("tables", t.tables.len(), MAX_TABLES)?;
            for (index, l) in &t.tables {
                at_most(&format!("table {index}'s elements"), l.indices.len(), MAX_TABLE_ELEMENTS)?;
            }
        }
        if let Some(s) = &proof.storage {
            at_most("storage path siblings", s.path.siblings.len(), MAX_STORAGE_SIBLINGS)?;
        }
        if let Some(io) = &proof.io {
            at_most("input chunks", io.input_chunks.len(), MAX_INPUT_CHUNKS)?;
        }
        let store = &self.layout.store();
        if let Some(seg) = &proof.segments {
            if seg.elems.len() != store.elems.len() || seg.datas.len() != store.data_dropped.len() {
                return invalid("the dropped segments do not list every segment");
            }
        }
        Ok(())
    }

    /// Refuses a halted state whose status fields no run gives.
    fn check_halted(&self, s: &Commitment) -> Result<(), Invalid> {
        let trap_ok = match s.status {
            1 | 3 => s.trap == 0 && s.trap_arg == 0,
            4 => s.trap == 0,
            2 => Trap::from_code(s.trap, s.trap_arg as i32)
                .is_some_and(|t| matches!(t, Trap::Aborted(_)) || s.trap_arg == 0),
            other => return invalid(format!("status {other} is not one a machine has")),
        };
        match trap_ok {
            true => Ok(()),
            false => {
                invalid(format!("status {} with trap {} ({}) is not one a machine has", s.status, s.trap, s.trap_arg))
            }
        }
    }

    /// Refuses a running state that no run of the module reaches, checking every value
    /// the proof gives about control against the module and the configuration before
    /// the step runs: the counters, the depth, the running frame's function, pc and base
    /// against the stack height and the operand height at that pc, and the opened
    /// caller's call instruction, its return pc and where the callee's frame starts.
    fn check_running(&self, proof: &Proof) -> Result<(), Invalid> {
        let s = &proof.state;
        let config = &self.layout.config();
        if s.trap != 0 || s.trap_arg != 0 {
            return invalid("a running state carries a trap");
        }
        if s.steps == u64::MAX {
            return invalid("the step counter has no step left");
        }
        if s.gas_used > config.gas_limit {
            return invalid(format!("gas used {} is over the limit {}", s.gas_used, config.gas_limit));
        }
        if s.depth == 0 || s.depth > config.max_call_depth {
            return invalid(format!("call depth {} is not from 1 to {}", s.depth, config.max_call_depth));
        }
        if s.height > config.max_value_stack {
            return invalid(format!("stack height {} is over the limit {}", s.height, config.max_value_stack));
        }
        if self.function(s.entry).is_none() {
            return invalid(format!("the entry {} is not one of the module's functions", s.entry));
        }
        let frame = s.frame;
        let (_, locals, operands) = self
            .standing(frame.func, frame.pc)
            .ok_or_else(|| Invalid(format!("function {} cannot stand at pc {}", frame.func, frame.pc)))?;
        if frame.base as u64 + locals + operands != s.height as u64 {
            return invalid(format!(
                "stack height {} is not the frame's base {} + {locals} locals + {operands} operands at pc {}",
                s.height, frame.base, frame.pc
            ));
        }
        let outermost = s.depth == 1;
        if outermost && (frame.func != s.entry || frame.base != 0 || s.callers != EMPTY) {
            return invalid("the outermost frame is not the entry function's at the stack's bottom");
        }
        if !outermost && s.callers == EMPTY {
            return invalid("a frame below the outermost has no callers");
        }
        match &proof.caller {
            Some(c) => self.check_caller(s, c),
            None => Ok(()),
        }
    }

    fn check_caller(&self, s: &Commitment, c: &Caller) -> Result<(), Invalid> {
        if s.depth < 2 {
            return invalid("the outermost frame has no caller");
        }
        let (caller, callee) = (c.frame, s.frame);
        let not_a_call = || Invalid(format!("the caller does not continue after a call at pc {}", caller.pc));
        let call_pc = caller.pc.checked_sub(1).ok_or_else(not_a_call)?;
        let (module, locals, operands) = self.standing(caller.func, call_pc).ok_or_else(not_a_call)?;
        let (instance, _) = self.function(caller.func).ok_or_else(not_a_call)?;
        let (calls_callee, popped) = match module.code[call_pc as usize] {
            Op::Call(index) => (instance.funcs.get(index as usize) == Some(&callee.func), 0),
            Op::CallIndirect { type_index, .. } => {
                let callee_type = self.layout.store().funcs.get(callee.func as usize).map(|f| f.type_id());
                (callee_type == instance.type_ids.get(type_index as usize).copied(), 1)
            }
            _ => return Err(not_a_call()),
        };
        if !calls_callee {
            return invalid(format!("the caller's call at pc {call_pc} cannot call function {}", callee.func));
        }
        let (_, index) = self.function(callee.func).ok_or_else(not_a_call)?;
        let params = self.module.func_type(index).params.len() as u64;
        let base = (caller.base as u64 + locals + operands).checked_sub(popped + params);
        if base != Some(callee.base as u64) {
            return invalid(format!("the running frame's base {} is not where its caller's call puts it", callee.base));
        }
        let outermost = s.depth == 2;
        if outermost && (caller.func != s.entry || caller.base != 0 || c.rest != EMPTY) {
            return invalid("the outermost frame is not the entry function's at the stack's bottom");
        }
        if !outermost && c.rest == EMPTY {
            return invalid("a frame below the outermost has no callers");
        }
        Ok(())
    }

    /// The instance and module function index of store function `func`, if it is wasm.
    fn function(&self, func: u32) -> Option<(&Instance, u32)> {
        match self.layout.store().funcs.get(func as usize)? {
            Func::Wasm { instance, index, .. } => Some((&self.layout.store().instances[*instance as usize], *index)),
            Func::Host { .. } => None,
        }
    }

    /// Where a frame of store function `func` can stand at `pc`: the module, the number
    /// of locals and the operand height there.
    fn standing(&self, func: u32, pc: u32) -> Option<(&Module, u64, u64)> {
        let (instance, index) = self.function(func)?;
        let module = instance.module.as_ref();
        let operands = module.operand_height(index, pc)?;
        let locals = module.func_type(index).params.len() + module.body(index)?.locals.len();
        Some((module, locals as u64, operands as u64))
    }

    fn execute_running(&self, proof: &Proof) -> Result<Verdict, Invalid> {
        let s = &proof.state;
        let store = &self.layout.store();
        let frame = s.frame;
        let instruction = self.instruction(frame.func, frame.pc);
        let stack = &proof.stack;
        if leaves_root("stack", stack, &stack.values)? != s.stack {
            return invalid("stack: the opened slots do not prove the stack root");
        }
        let slots = stack.indices.iter().map(|&i| i as usize).zip(stack.values.iter().copied()).collect();
        let mut frames = Vec::new();
        if let Some(c) = &proof.caller {
            if caller_link(&c.frame.hash(), &c.rest) != s.callers {
                return invalid("the caller frame does not prove the callers hash");
            }
            frames.push(Frame { func: c.frame.func, base: c.frame.base, ret_pc: 0 });
        }
        let ret_pc = proof.caller.map_or(0, |c| c.frame.pc);
        frames.push(Frame { func: frame.func, base: frame.base, ret_pc });

        let globals = match &proof.globals {
            Some(l) => open_leaves("globals", l, store.globals.len(), &open_environment(proof)?.globals)?
                .into_iter()
                .map(|(i, v)| (i as u32, v))
                .collect(),
            None => BTreeMap::new(),
        };
        let memory = self.open_memory(proof)?;
        let tables = self.open_tables(proof)?;
        let segments = match &proof.segments {
            Some(seg) => {
                if segments_hash_of(&seg.elems, &seg.datas) != open_environment(proof)?.segments {
                    return invalid("the dropped segments do not prove the segments hash");
                }
                Some((seg.elems.clone(), seg.datas.clone()))
            }
            None => None,
        };

        let mut partial = Partial {
            layout: store,
            stack: PartialStack::new(s.height as usize, slots),
            depth: s.depth as usize,
            frames,
            globals,
            tables,
            memory,
            segments,
            emitted: Vec::new(),
            storage: self.open_storage(proof)?,
            io: self.open_io(proof)?,
            missing: Default::default(),
        };
        let mut regs = Registers { pc: frame.pc, steps: s.steps, gas_used: s.gas_used, status: Status::Running };
        let cx = stepper::Context {
            config: self.layout.config(),
            types: &store.types,
            funcs: &store.funcs,
            instances: &store.instances,
        };
        // The checks above make the executor's entry check pass; it stays as the last word.
        if let Err(e) = stepper::step(&cx, &mut regs, &mut partial) {
            return invalid(e.to_string());
        }
        if let Some(what) = partial.missing.take() {
            return invalid(format!("the step needs {what}, which the proof does not open"));
        }
        let post = self.post_state(proof, &partial, &regs)?;
        Ok(Verdict { post_hash: post.hash(), instruction })
    }

    fn open_memory(&self, proof: &Proof) -> Result<Option<PartialMemory>, Invalid> {
        let Some(m) = &proof.memory else { return Ok(None) };
        let chunk_size = self.layout.config().memory_chunk_size as usize;
        let count = self.layout.store().memories.len();
        if m.index as usize >= count || m.pages > memory::MAX_PAGES || m.max > memory::MAX_PAGES {
            return invalid("the opened memory does not exist or has an impossible size");
        }
        let root = chunks_root_of(m, chunk_size, m.chunks.iter().map(|(_, b)| b.as_slice()))?;
        let commitment = memory::commitment_of(m.pages, Some(m.max), &root);
        let proven = proven_root(&m.memories_proof, &[m.index as usize], &[commitment], count)
            .map_err(|e| Invalid(format!("memory {}: {e}", m.index)))?;
        if proven != open_environment(proof)?.memories {
            return invalid(format!("memory {} does not prove the memories hash", m.index));
        }
        Ok(Some(PartialMemory {
            index: m.index,
            pages: m.pages,
            max: m.max,
            chunk_size,
            chunks: m.chunks.iter().map(|(i, b)| (*i as usize, b.clone())).collect(),
            grown_from: None,
        }))
    }

    fn open_storage(&self, proof: &Proof) -> Result<Option<PartialStorage>, Invalid> {
        let Some(s) = &proof.storage else { return Ok(None) };
        check_storage(s, &open_environment(proof)?.storage)?;
        Ok(Some(PartialStorage { key: s.key.clone(), value: s.value.clone(), written: false }))
    }

    fn open_io(&self, proof: &Proof) -> Result<Option<PartialIo>, Invalid> {
        let Some(o) = &proof.io else { return Ok(None) };
        let chunk_size = self.layout.config().memory_chunk_size as usize;
        let (regs, stdout, stderr) = (o.io.regs, &o.io.stdout, &o.io.stderr);
        if !stdout.is_well_formed() || !stderr.is_well_formed() {
            return invalid("an output stream's tail is not its length's last partial block");
        }
        if regs.stdin_pos > regs.stdin_len || regs.closed > 7 || regs.input_len() > MAX_INPUT_LEN as u64 {
            return invalid("the call's input registers are out of range");
        }
        if o.io.hash() != open_environment(proof)?.io {
            return invalid("the opened input and output do not prove the environment's hash of them");
        }
        if o.input_root(chunk_size).map_err(Invalid)? != o.io.input_root {
            return invalid("the opened input chunks do not prove the input root");
        }
        Ok(Some(PartialIo {
            regs,
            chunk_size,
            input: o.input_chunks.iter().map(|(i, b)| (*i as usize, b.clone())).collect(),
            stdout: stdout.clone(),
            stderr: stderr.clone(),
        }))
    }

    fn open_tables(&self, proof: &Proof) -> Result<BTreeMap<u32, PartialTable>, Invalid> {
        let Some(t) = &proof.tables else { return Ok(BTreeMap::new()) };
        let count = self.layout.store().tables.len();
        let mut leaves = Vec::new();
        let mut tables = BTreeMap::new();
        for (index, l) in &t.tables {
            let Some(table) = self.layout.store().tables.get(*index as usize) else {
                return invalid(format!("table {index} does not exist"));
            };
            let limit = table.max().unwrap_or(u32::MAX).min(self.layout.config().max_table_elements);
            if l.count > limit {
                return invalid(format!("table {index} has {} elements, more than its limit {limit}", l.count));
            }
            // A function reference is null or a function's address plus one.
            let functions = self.layout.store().funcs.len() as u64;
            if table.ty() == ValType::FuncRef && l.values.iter().any(|&v| v > functions) {
                return invalid(format!("table {index} holds a reference to no function"));
            }
            let root = leaves_root(&format!("table {index}"), l, &l.values)?;
            leaves.push(table_commitment_of(l.count, &root));
            let elems = l.indices.iter().map(|&i| i as usize).zip(l.values.iter().copied()).collect();
            tables.insert(*index, PartialTable { len: l.count as usize, elems, grown_from: None });
        }
        let indices: Vec<usize> = t.tables.iter().map(|(i, _)| *i as usize).collect();
        let proven =
            proven_root(&t.tables_proof, &indices, &leaves, count).map_err(|e| Invalid(format!("tables: {e}")))?;
        if proven != open_environment(proof)?.tables {
            return invalid("the opened tables do not prove the tables hash");
        }
        Ok(tables)
    }

    /// The post-state's commitment, from the pre-state's and what the step changed.
    fn post_state(&self, proof: &Proof, p: &Partial, regs: &Registers) -> Result<Commitment, Invalid> {
        let s = &proof.state;
        let pre = s.frame;
        let depth = p.depth as u32;
        let (frame, callers) = if depth == s.depth {
            // The same frame (host calls included).
            (FrameCommitment { pc: regs.pc, ..pre }, s.callers)
        } else if depth == s.depth + 1 {
            let callee = *p.frames.last().expect("a call pushed a frame");
            let caller = FrameCommitment { pc: callee.ret_pc, ..pre };
            let frame = FrameCommitment { func: callee.func, pc: regs.pc, base: callee.base };
            (frame, caller_link(&caller.hash(), &s.callers))
        } else if depth + 1 == s.depth {
            match (&proof.caller, depth) {
                (_, 0) => (FrameCommitment::NONE, EMPTY),
                (Some(c), _) => (FrameCommitment { pc: regs.pc, ..c.frame }, c.rest),
                (None, _) => return invalid("a return needs the caller's frame"),
            }
        } else {
            return invalid("the step changed the call depth by more than one");
        };

        let environment = match s.environment {
            EnvironmentCommitment::Sealed(hash) if p.emitted.is_empty() => EnvironmentCommitment::Sealed(hash),
            EnvironmentCommitment::Sealed(_) => {
                return invalid("the step writes the output log, which the proof's sealed environment does not open")
            }
            EnvironmentCommitment::Open(env) => EnvironmentCommitment::Open(self.environment_after(proof, p, &env)?),
        };
        let (status, trap, trap_arg) = merkle_memory::state::status_code(regs.status);
        Ok(Commitment {
            context: s.context,
            status,
            trap,
            trap_arg,
            steps: regs.steps,
            gas_used: regs.gas_used,
            depth,
            height: p.stack.len() as u32,
            entry: s.entry,
            frame,
            callers,
            stack: stack_after(&proof.stack, &p.stack)?,
            environment,
        })
    }

    /// The open environment after the step, from the pre-state's and what the step changed.
    fn environment_after(&self, proof: &Proof, p: &Partial, env: &Environment) -> Result<Environment, Invalid> {
        let globals = match &proof.globals {
            Some(l) => reopen("globals", l, &p.globals.iter().map(|(&a, &v)| (a as usize, v)).collect())?,
            None => env.globals,
        };
        let memories = match (&proof.memory, &p.memory) {
            (Some(m), Some(pm)) => self.memories_after(m, pm)?,
            _ => env.memories,
        };
        let tables = match &proof.tables {
            Some(t) => self.tables_after(t, p)?,
            None => env.tables,
        };
        let segments = match &p.segments {
            Some((elems, datas)) => segments_hash_of(elems, datas),
            None => env.segments,
        };
        let output = output_chain_over(&p.emitted, env.output);
        let storage = match (&proof.storage, &p.storage) {
            (Some(opening), Some(s)) if s.written => {
                let key = key_hash(&s.key);
                opening.path.root_after(&key, s.value.as_deref().map(value_hash)).map_err(|e| Invalid(e.to_string()))?
            }
            _ => env.storage,
        };
        let io = match (&proof.io, &p.io) {
            (Some(o), Some(pio)) => IoCommitment {
                input_root: o.io.input_root,
                regs: pio.regs,
                stdout: pio.stdout.clone(),
                stderr: pio.stderr.clone(),
            }
            .hash(),
            _ => env.io,
        };
        Ok(Environment { globals, memories, tables, segments, output, storage, io })
    }

    fn memories_after(&self, m: &MemoryOpening, pm: &PartialMemory) -> Result<Hash, Invalid> {
        let chunk_size = pm.chunk_size;
        let root = match pm.grown_from {
            Some(old_pages) if old_pages != pm.pages => {
                // memory.grow: the proof opens the last chunk, if any, to append zeros.
                let old = old_pages as usize * PAGE_SIZE / chunk_size;
                let new = pm.pages as usize * PAGE_SIZE / chunk_size;
                let zero = memory::zero_hashes(chunk_size);
                let last = match m.chunks.as_slice() {
                    [] if old == 0 => EMPTY,
                    [(i, bytes)] if *i as usize + 1 == old => leaf(bytes),
                    _ => return invalid("memory.grow needs exactly the memory's last chunk"),
                };
                append_root(old, last, &m.chunks_proof, new, zero).map_err(|e| Invalid(format!("memory.grow: {e}")))?
            }
            _ => chunks_root_of(m, chunk_size, m.chunks.iter().map(|(i, _)| pm.chunks[&(*i as usize)].as_slice()))?,
        };
        let commitment = memory::commitment_of(pm.pages, Some(pm.max), &root);
        let count = self.layout.store().memories.len();
        proven_root(&m.memories_proof, &[m.index as usize], &[commitment], count)
            .map_err(|e| Invalid(format!("memories: {e}")))
    }

    fn tables_after(&self, t: &TablesOpening, p: &Partial) -> Result<Hash, Invalid> {
        let zero = zero_slot_hashes();
        let mut leaves = Vec::new();
        for (index, l) in &t.tables {
            let table = &p.tables[index];
            let root = match table.grown_from {
                Some(old) if old != table.len => {
                    let last = match (l.indices.as_slice(), l.values.as_slice()) {
                        ([], []) if old == 0 => EMPTY,
                        ([i], [v]) if *i as usize + 1 == old => slot_leaf(*v),
                        _ => return invalid("table.grow needs exactly the table's last element"),
                    };
                    append_root(old, last, &l.proof, table.len, zero)
                        .map_err(|e| Invalid(format!("table.grow: {e}")))?
                }
                _ => reopen(&format!("table {index}"), l, &table.elems)?,
            };
            leaves.push(table_commitment_of(table.len as u32, &root));
        }
        let indices: Vec<usize> = t.tables.iter().map(|(i, _)| *i as usize).collect();
        proven_root(&t.tables_proof, &indices, &leaves, self.layout.store().tables.len())
            .map_err(|e| Invalid(format!("tables: {e}")))
    }
}

/// The pre-state's environment hashes, which a proof opening part of the environment must
/// carry open.
fn open_environment(proof: &Proof) -> Result<&Environment, Invalid> {
    proof
        .state
        .environment
        .open()
        .ok_or_else(|| Invalid("the proof opens part of the environment but seals its hashes".into()))
}

/// The root of the value stack tree after the step. The slots below the lowest height the
/// stack reached keep their place (those the step wrote are opened and re-enter the tree
/// through the same multi-proof); the tree is cut there, at an opened slot (or after the
/// opened last slot, when the step only pushes), and the slots pushed since are appended.
fn stack_after(opening: &Leaves, p: &PartialStack) -> Result<Hash, Invalid> {
    let (pre_len, low, len) = (opening.count as usize, p.low(), p.len());
    let unchanged_height = low == pre_len && len == pre_len;
    let mut peaks = if opening.indices.is_empty() {
        match (unchanged_height, low) {
            (true, _) => return leaves_root("stack", opening, &[]),
            // Pushes onto an empty stack.
            (false, 0) => Peaks::default(),
            (false, _) => return invalid("the step changes the stack's height, which the proof does not open"),
        }
    } else {
        let indices: Vec<usize> = opening.indices.iter().map(|&i| i as usize).collect();
        let leaves: Vec<Hash> = indices
            .iter()
            .zip(&opening.values)
            .map(|(&i, &old)| slot_leaf(p.written_below(i, low).unwrap_or(old)))
            .collect();
        let nodes =
            ProvenNodes::new(&opening.proof, &indices, &leaves, pre_len).map_err(|e| Invalid(format!("stack: {e}")))?;
        if unchanged_height {
            return Ok(nodes.root());
        }
        Peaks::of_prefix(&nodes, low)
            .ok_or_else(|| Invalid(format!("the step cuts the stack at slot {low}, which the proof does not open")))?
    };
    let zero = zero_slot_hashes();
    for (i, v) in p.pushed() {
        // Slots pushed but never written are a new frame's zeroed locals.
        peaks.push_zeros(i - peaks.count(), zero);
        peaks.push(slot_leaf(v));
    }
    peaks.push_zeros(len - peaks.count(), zero);
    Ok(peaks.root())
}

/// The chunk root an opening proves, with `chunks` as the opened chunks' bytes.
fn chunks_root_of<'a>(
    m: &MemoryOpening,
    chunk_size: usize,
    chunks: impl Iterator<Item = &'a [u8]>,
) -> Result<Hash, Invalid> {
    m.chunks_root(chunk_size, chunks).map_err(Invalid)
}

/// Checks that `s` opens the storage tree whose root is `root`: its key and value within
/// their limits, its path proving that root and holding that value (or none) under that key.
pub fn check_storage(s: &StorageOpening, root: &Hash) -> Result<(), Invalid> {
    if !is_storable_key(&s.key) || s.value.as_ref().is_some_and(|v| v.len() > MAX_VALUE_LEN) {
        return invalid("the opened storage key or value is over its length limit");
    }
    let key = key_hash(&s.key);
    if s.path.root(&key).map_err(|e| Invalid(e.to_string()))? != *root {
        return invalid("the storage path does not prove the storage root");
    }
    if s.path.lookup(&key) != s.value.as_deref().map(value_hash) {
        return invalid("the opened storage value is not the one the storage path proves");
    }
    Ok(())
}
