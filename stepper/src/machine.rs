//! The machine: a store plus the explicit execution state of one call.

use std::collections::HashMap;
use std::sync::Arc;

use crate::exec::{enter_frame, Entered};
use crate::host::HostFunc;
use crate::io::{CallInput, Io};
use crate::module::{ConstOp, ExportKind, ImportKind, Module, SegmentMode};
use crate::numeric;
use crate::store::{Extern, Func, Global, Instance, Memory, Store, Table, PAGE_SIZE};
use crate::value::{ValType, Value};
use crate::{Config, Error, Trap};

/// Where a run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// A call is in progress.
    Running,
    /// The call returned; its results are on the value stack.
    Returned,
    Trapped(Trap),
    /// The next step would have used more gas than the limit.
    OutOfGas,
    /// The program ended the call with this exit code (WASI's `proc_exit`).
    Exited(u32),
}

impl Status {
    pub fn is_halted(self) -> bool {
        self != Status::Running
    }
}

/// One activation of a wasm function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Store address of the function.
    pub func: u32,
    /// Value stack index of its first local; its operands follow the locals.
    pub base: u32,
    /// Where the caller continues when this frame returns.
    pub ret_pc: u32,
}

/// A deterministic WebAssembly machine. All of its state is plain data: [`Machine::step`]
/// executes exactly one instruction (or one bounded sub-step of a bulk instruction), and
/// [`Machine::run`] is a loop of it without per-step bookkeeping beyond the counters.
///
/// The state is private: the executor's unchecked stack operations and the fast path rely
/// on invariants (each frame's stack height is the one its function has at its pc, room
/// is reserved for every frame, pcs lie in their functions' code) that only running,
/// [`Machine::restore`] and [`Machine::from_parts`] establish. Other crates read the state
/// through accessors and change values, never the shape, through [`Machine::tamper`].
#[derive(Debug)]
pub struct Machine {
    pub(crate) config: Config,
    pub(crate) store: Store,
    /// Locals and operands of all frames, as untyped slots.
    pub(crate) stack: Vec<u64>,
    pub(crate) frames: Vec<Frame>,
    /// Index of the next op in the current function's module code.
    pub(crate) pc: u32,
    pub(crate) steps: u64,
    pub(crate) gas_used: u64,
    pub(crate) status: Status,
    /// The function the current call started with.
    pub(crate) entry: Option<u32>,
    /// Values the program passed to `verigame.emit`.
    pub(crate) output: Vec<i64>,
    /// The call's input and output (WASI).
    pub(crate) io: Io,
}

/// A machine's whole state as plain data, to change freely and turn back into a machine
/// with [`Machine::from_parts`], which checks it as [`Machine::restore`] checks a snapshot.
#[derive(Clone, Debug)]
pub struct MachineParts {
    pub config: Config,
    pub store: Store,
    pub stack: Vec<u64>,
    pub frames: Vec<Frame>,
    pub pc: u32,
    pub steps: u64,
    pub gas_used: u64,
    pub status: Status,
    pub entry: Option<u32>,
    pub output: Vec<i64>,
    pub io: Io,
}

impl Clone for Machine {
    /// Keeps the value stack's reserved capacity: the executor's unchecked stack
    /// operations rely on room reserved for every active frame when it was entered.
    fn clone(&self) -> Self {
        let mut stack = Vec::with_capacity(self.stack.capacity());
        stack.extend_from_slice(&self.stack);
        Self {
            config: self.config.clone(),
            store: self.store.clone(),
            stack,
            frames: self.frames.clone(),
            pc: self.pc,
            steps: self.steps,
            gas_used: self.gas_used,
            status: self.status,
            entry: self.entry,
            output: self.output.clone(),
            io: self.io.clone(),
        }
    }
}

impl Machine {
    pub fn new(config: Config) -> Result<Self, Error> {
        config.validate()?;
        Ok(Self {
            config,
            store: Store::default(),
            stack: Vec::new(),
            frames: Vec::new(),
            pc: 0,
            steps: 0,
            gas_used: 0,
            status: Status::Returned,
            entry: None,
            output: Vec::new(),
            io: Io::default(),
        })
    }

    /// A machine with `module` instantiated against the host: the `verigame` interface
    /// and deterministic WASI ([`Machine::add_host`]).
    pub fn load(module: &Arc<Module>, config: Config) -> Result<(Self, u32), Error> {
        let mut machine = Self::new(config)?;
        let host = machine.add_host(module)?;
        let instance = machine.instantiate(module, &|m, n| host.get(&(m, n)).copied())?;
        Ok((machine, instance))
    }

    /// The layout [`Machine::load`] gives `module`: the same function, table, memory,
    /// global and segment addresses, but with empty tables and memories, and no segment
    /// or start function run. What a judge needs to address the state a proof opens.
    pub fn layout(module: &Arc<Module>, config: Config) -> Result<Self, Error> {
        let mut machine = Self::new(config)?;
        let host = machine.add_host(module)?;
        let inst = machine.allocate_instance(module, &|m, n| host.get(&(m, n)).copied(), 0, false)?;
        machine.store.instances.push(inst);
        Ok(machine)
    }

    /// Adds the host functions a machine for `module` has: the `verigame` interface
    /// (addresses 0 to 5), then each WASI function the module imports, in the order of
    /// its first import, so that a module without WASI imports keeps its program hash.
    /// Refuses a module that imports anything else, naming every such import.
    fn add_host<'m>(&mut self, module: &'m Module) -> Result<HashMap<(&'m str, &'m str), Extern>, Error> {
        let mut host = HashMap::new();
        for &(name, f) in &HostFunc::VERIGAME {
            host.insert(("verigame", name), Extern::Func(self.store.add_host_func(f)));
        }
        let mut unknown = Vec::new();
        for import in &module.imports {
            let key = (import.module.as_str(), import.name.as_str());
            match HostFunc::resolve(key.0, key.1) {
                Some(f @ HostFunc::Wasi(_)) if !host.contains_key(&key) => {
                    host.insert(key, Extern::Func(self.store.add_host_func(f)));
                }
                Some(_) => {}
                None => unknown.push(format!("{}.{}", import.module, import.name)),
            }
        }
        match unknown.is_empty() {
            true => Ok(host),
            false => Err(Error::UnknownImports(unknown)),
        }
    }

    /// Adds the spec test suite's `spectest` host module and returns its exports.
    pub fn add_spectest(&mut self) -> HashMap<String, Extern> {
        let mut exports: HashMap<String, Extern> = HostFunc::SPECTEST
            .iter()
            .map(|&(name, f)| (name.to_string(), Extern::Func(self.store.add_host_func(f))))
            .collect();
        let globals = [
            ("global_i32", ValType::I32, 666u64),
            ("global_i64", ValType::I64, 666),
            ("global_f32", ValType::F32, 666.6f32.to_bits() as u64),
            ("global_f64", ValType::F64, 666.6f64.to_bits()),
        ];
        for (name, ty, value) in globals {
            self.store.globals.push(Global { ty, mutable: false, value });
            exports.insert(name.into(), Extern::Global(self.store.globals.len() as u32 - 1));
        }
        self.store.tables.push(Table::new(ValType::FuncRef, vec![0; 10], Some(20)));
        exports.insert("table".into(), Extern::Table(self.store.tables.len() as u32 - 1));
        let memory = Memory::new(vec![0; PAGE_SIZE], Some(2), self.config.memory_chunk_size);
        self.store.memories.push(memory);
        exports.insert("memory".into(), Extern::Memory(self.store.memories.len() as u32 - 1));
        exports
    }

    pub fn results(&self) -> Vec<Value> {
        match (self.status, self.entry) {
            (Status::Returned, Some(func)) => {
                let types = &self.store.func_type(func).results;
                let first = self.stack.len() - types.len();
                types.iter().zip(&self.stack[first..]).map(|(&t, &s)| Value::from_slot(t, s)).collect()
            }
            _ => Vec::new(),
        }
    }

    pub fn export(&self, instance: u32, name: &str) -> Option<Extern> {
        self.store.instances.get(instance as usize)?.exports.get(name).copied()
    }

    pub fn global(&self, addr: u32) -> Value {
        let g = &self.store.globals[addr as usize];
        Value::from_slot(g.ty, g.value)
    }

    /// The current frame's function and its module, if a call is running.
    pub fn current(&self) -> Option<(u32, &Instance)> {
        let frame = self.frames.last()?;
        match self.store.funcs[frame.func as usize] {
            Func::Wasm { instance, index, .. } => Some((index, &self.store.instances[instance as usize])),
            Func::Host { .. } => None,
        }
    }

    /// Instantiates `module`, resolving imports with `resolve(module, name)`, runs its
    /// active segments and start function, and returns the new instance's index.
    pub fn instantiate(
        &mut self,
        module: &Arc<Module>,
        resolve: &dyn Fn(&str, &str) -> Option<Extern>,
    ) -> Result<u32, Error> {
        if self.status == Status::Running {
            return Err(Error::Call("cannot instantiate while a call is running".into()));
        }
        let index = self.store.instances.len() as u32;
        let lengths = self.store.lengths();
        let inst = match self.allocate_instance(module, resolve, index, true) {
            Ok(inst) => inst,
            Err(e) => {
                // Leave no functions pointing at an instance that never came to be.
                self.store.truncate(lengths);
                return Err(e);
            }
        };
        self.store.instances.push(inst);
        // From here on the instance exists: a trapping segment keeps the effects of
        // the segments before it, as WebAssembly 2.0 specifies.
        self.init_segments(index).map_err(Error::InstantiationTrap)?;
        if let Some(start) = module.start {
            let func = self.store.instances[index as usize].funcs[start as usize];
            self.invoke(func, &[])?;
            self.run(u64::MAX);
            if let Status::Trapped(trap) = self.status {
                return Err(Error::InstantiationTrap(trap));
            }
            if self.status == Status::OutOfGas {
                return Err(Error::Call("start function ran out of gas".into()));
            }
        }
        Ok(index)
    }

    /// Links imports and allocates a new instance's functions, tables, memory,
    /// globals and segments in the store; tables and memory get their initial size only
    /// `with_contents`.
    fn allocate_instance(
        &mut self,
        module: &Arc<Module>,
        resolve: &dyn Fn(&str, &str) -> Option<Extern>,
        index: u32,
        with_contents: bool,
    ) -> Result<Instance, Error> {
        let mut inst = Instance {
            module: module.clone(),
            funcs: Vec::new(),
            tables: Vec::new(),
            memory: None,
            globals: Vec::new(),
            type_ids: module.types.iter().map(|t| self.store.intern_type(t)).collect(),
            elem_base: self.store.elems.len() as u32,
            data_base: self.store.data_dropped.len() as u32,
            exports: HashMap::new(),
        };
        self.link_imports(module, resolve, &mut inst)?;
        let m = module.as_ref();
        for func in m.num_imported_funcs..m.func_types.len() as u32 {
            let type_id = inst.type_ids[m.func_types[func as usize] as usize];
            self.store.funcs.push(Func::Wasm { instance: index, index: func, type_id });
            inst.funcs.push(self.store.funcs.len() as u32 - 1);
        }
        let imported_tables = inst.tables.len();
        for t in &m.tables[imported_tables..] {
            if t.min > self.config.max_table_elements {
                return Err(Error::Call(format!("table of {} elements exceeds the configured limit", t.min)));
            }
            let len = if with_contents { t.min as usize } else { 0 };
            self.store.tables.push(Table::new(t.elem, vec![0; len], t.max));
            inst.tables.push(self.store.tables.len() as u32 - 1);
        }
        if inst.memory.is_none() {
            if let Some(mt) = m.memories.first() {
                if mt.min > self.config.max_memory_pages {
                    return Err(Error::Call(format!("memory of {} pages exceeds the configured limit", mt.min)));
                }
                let pages = if with_contents { mt.min } else { 0 };
                self.store.memories.push(Memory::zeroed(pages, mt.max, self.config.memory_chunk_size));
                inst.memory = Some(self.store.memories.len() as u32 - 1);
            }
        }
        let imported_globals = inst.globals.len();
        for (g, init) in m.globals[imported_globals..].iter().zip(&m.global_inits) {
            let value = self.eval_const(&inst, init);
            self.store.globals.push(Global { ty: g.ty, mutable: g.mutable, value });
            inst.globals.push(self.store.globals.len() as u32 - 1);
        }
        for seg in &m.elems {
            let items = seg.items.iter().map(|e| self.eval_const(&inst, e)).collect();
            self.store.elems.push(items);
        }
        self.store.data_dropped.extend(m.datas.iter().map(|_| false));
        for (name, kind, i) in &m.exports {
            let i = *i as usize;
            let ext = match kind {
                ExportKind::Func => Extern::Func(inst.funcs[i]),
                ExportKind::Table => Extern::Table(inst.tables[i]),
                ExportKind::Memory => Extern::Memory(inst.memory.expect("validated memory export")),
                ExportKind::Global => Extern::Global(inst.globals[i]),
            };
            inst.exports.insert(name.clone(), ext);
        }
        Ok(inst)
    }

    fn link_imports(
        &self,
        module: &Module,
        resolve: &dyn Fn(&str, &str) -> Option<Extern>,
        inst: &mut Instance,
    ) -> Result<(), Error> {
        for import in &module.imports {
            let fail = |reason: &str| Error::Link {
                module: import.module.clone(),
                name: import.name.clone(),
                reason: reason.to_string(),
            };
            let ext = resolve(&import.module, &import.name).ok_or_else(|| fail("unknown import"))?;
            let limits_fit = |len: u64, max: Option<u32>, min: u32, want_max: Option<u32>| {
                len >= min as u64 && want_max.is_none_or(|w| max.is_some_and(|m| m <= w))
            };
            match (&import.kind, ext) {
                (ImportKind::Func(t), Extern::Func(addr)) => {
                    if self.store.func_type(addr) != &module.types[*t as usize] {
                        return Err(fail("incompatible import type: function signature differs"));
                    }
                    inst.funcs.push(addr);
                }
                (ImportKind::Table(t), Extern::Table(addr)) => {
                    let table = &self.store.tables[addr as usize];
                    if table.ty != t.elem || !limits_fit(table.elems.len() as u64, table.max, t.min, t.max) {
                        return Err(fail("incompatible import type: table type or limits differ"));
                    }
                    inst.tables.push(addr);
                }
                (ImportKind::Memory(t), Extern::Memory(addr)) => {
                    let mem = &self.store.memories[addr as usize];
                    if !limits_fit(mem.pages() as u64, mem.max, t.min, t.max) {
                        return Err(fail("incompatible import type: memory limits differ"));
                    }
                    inst.memory = Some(addr);
                }
                (ImportKind::Global(t), Extern::Global(addr)) => {
                    let g = &self.store.globals[addr as usize];
                    if g.ty != t.ty || g.mutable != t.mutable {
                        return Err(fail("incompatible import type: global type differs"));
                    }
                    inst.globals.push(addr);
                }
                _ => return Err(fail("incompatible import type: wrong kind of import")),
            }
        }
        Ok(())
    }

    fn eval_const(&self, inst: &Instance, expr: &[ConstOp]) -> u64 {
        let mut stack = Vec::with_capacity(2);
        for op in expr {
            let v = match *op {
                ConstOp::Value(v) => v,
                ConstOp::RefFunc(f) => inst.funcs[f as usize] as u64 + 1,
                ConstOp::GlobalGet(g) => self.store.globals[inst.globals[g as usize] as usize].value,
                ConstOp::Binary(b) => {
                    let y = stack.pop().expect("validated constant expression");
                    let x = stack.pop().expect("validated constant expression");
                    numeric::binary(b, x, y).expect("add, sub and mul do not trap")
                }
            };
            stack.push(v);
        }
        stack.pop().expect("validated constant expression")
    }

    /// Copies active element and data segments in order, then drops them (and
    /// declared element segments), as instantiation in WebAssembly 2.0 does.
    fn init_segments(&mut self, index: u32) -> Result<(), Trap> {
        let inst = self.store.instances[index as usize].clone();
        let m = inst.module.as_ref();
        for (i, seg) in m.elems.iter().enumerate() {
            let slot = (inst.elem_base as usize) + i;
            match &seg.mode {
                SegmentMode::Passive => continue,
                SegmentMode::Declared => {}
                SegmentMode::Active { index: t, offset } => {
                    let offset = self.eval_const(&inst, offset) as u32 as usize;
                    let items = std::mem::take(&mut self.store.elems[slot]);
                    let table = &mut self.store.tables[inst.tables[*t as usize] as usize];
                    let end = offset.checked_add(items.len()).filter(|&e| e <= table.elems.len());
                    end.ok_or(Trap::TableOutOfBounds)?;
                    table.write(offset, &items);
                }
            }
            self.store.elems[slot].clear();
        }
        for (i, seg) in m.datas.iter().enumerate() {
            let SegmentMode::Active { offset, .. } = &seg.mode else { continue };
            let offset = self.eval_const(&inst, offset) as u32 as usize;
            let mem = &mut self.store.memories[inst.memory.expect("validated data segment") as usize];
            mem.write(offset, &seg.bytes)?;
            self.store.data_dropped[inst.data_base as usize + i] = true;
        }
        Ok(())
    }

    /// Starts a call of the function at store address `func`. Step counter and gas
    /// restart at zero for each call; the store persists across calls.
    pub fn invoke(&mut self, func: u32, args: &[Value]) -> Result<(), Error> {
        self.invoke_with_budget(func, args, u64::MAX)
    }

    /// [`Machine::invoke`] for a call that may use at most `budget` gas of the configured
    /// limit (a client's own limit for its transaction): the gas counter starts `limit -
    /// budget` in, so the call runs out of gas where the budget ends, and the counter,
    /// part of the state, is all a judge needs to see it. The call used `gas_used()`
    /// minus that start.
    pub fn invoke_with_budget(&mut self, func: u32, args: &[Value], budget: u64) -> Result<(), Error> {
        self.start_call(func, args, budget, CallInput::default())
    }

    /// Starts a call of `func` with at most `budget` gas ([`Machine::invoke_with_budget`])
    /// and `input` for WASI to read: the call's input and output start anew, with the
    /// output of the call before it gone.
    pub fn start_call(&mut self, func: u32, args: &[Value], budget: u64, input: CallInput) -> Result<(), Error> {
        input.check()?;
        if self.status == Status::Running {
            return Err(Error::Call("a call is already running".into()));
        }
        let f = *self.store.funcs.get(func as usize).ok_or_else(|| Error::Call(format!("no function {func}")))?;
        if let Func::Host { func: HostFunc::Wasi(w), .. } = f {
            return Err(Error::Call(format!("WASI's {} is called by a program, not as a call's entry", w.name())));
        }
        let ty = self.store.func_type(func);
        if args.len() != ty.params.len() || args.iter().zip(&ty.params).any(|(a, &t)| a.ty() != t) {
            let want: Vec<String> = ty.params.iter().map(|t| t.to_string()).collect();
            return Err(Error::Call(format!("arguments do not match the signature ({})", want.join(", "))));
        }
        self.stack.clear();
        self.stack.extend(args.iter().map(|a| a.to_slot()));
        self.frames.clear();
        self.steps = 0;
        self.gas_used = self.config.gas_limit.saturating_sub(budget);
        self.entry = Some(func);
        self.status = Status::Running;
        self.io = Io::new(input);
        // The entry frame returns to no caller: its ret_pc is never used.
        if let Err(trap) = self.enter(f, func, 0) {
            self.status = Status::Trapped(trap);
        }
        Ok(())
    }

    /// Pushes the entry frame, or runs a host entry function: one step of it, which
    /// a host function that takes several cannot complete, so such functions cannot be
    /// the entry.
    fn enter(&mut self, f: Func, func: u32, ret_pc: u32) -> Result<(), Trap> {
        let (cx, _, mut direct) = self.split();
        match enter_frame(&cx, &mut direct, f, func, ret_pc, 0)? {
            Entered::Frame(pc) => self.pc = pc,
            Entered::Host => self.status = Status::Returned,
            Entered::Again => unreachable!("start_call refuses WASI functions as the entry"),
            Entered::Exited(code) => self.status = Status::Exited(code),
        }
        Ok(())
    }
}
