//! Calls compiled by wasmtime (cranelift) on the instrumented module, over a machine's
//! state: the machine's memory, mutable globals, storage and the call's input go in; a
//! call that returns comes back as the state the stepper would have left, to the bit; any
//! other call (a trap, a bail-out of the instrumentation, an exit) is run again on the
//! stepper from the untouched machine.

use stepper::host::{HostEnd, HostFunc};
use stepper::io::{Io, IoRegs};
use stepper::module::ImportKind;
use stepper::op::GasClass;
use stepper::storage::Storage;
use stepper::store::{Extern, Func};
use stepper::{Backend, CallInput, Config, Frame, Machine, Status, ValType, Value};
use wasmtime::{Caller, Engine, InstancePre, Linker, Module, Store, StoreLimits, StoreLimitsBuilder, Val};

use crate::instrument::{self, Instrumented};

/// Why a module cannot be compiled at all (a call of it then always runs on the stepper).
#[derive(Debug, thiserror::Error)]
pub enum JitError {
    #[error("the JIT cannot count this module exactly: {0}")]
    Unsupported(#[from] instrument::Unsupported),
    #[error("wasmtime cannot compile the instrumented module: {0}")]
    Compile(String),
}

/// Which engine gave a call's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Served {
    /// The compiled code: the call returned.
    Compiled,
    /// The stepper, for this reason (the compiled run trapped, bailed out, exited, or the
    /// call is of a kind the compiled code does not take).
    Stepper(String),
}

/// A module compiled for normal mode, for one configuration.
pub struct Jit {
    /// The compiled module with its host functions linked, ready to instantiate.
    pre: InstancePre<HostState>,
    /// The Keccak-256 of the module as given: a machine must run this module.
    code_hash: [u8; 32],
    mutable_globals: Vec<u32>,
    config: Config,
}

/// What the compiled code's host functions work on: the parts of the machine a host call
/// reads and writes, taken out of it for the call.
struct HostState {
    storage: Storage,
    io: Io,
    emitted: Vec<i64>,
    chunk: u64,
    storage_price: u64,
    limits: StoreLimits,
}

impl Jit {
    /// Instruments `bytes` for `config` and compiles it.
    pub fn new(original: &[u8], config: &Config) -> Result<Self, JitError> {
        let Instrumented { bytes, mutable_globals } = instrument::instrument(original, config)?;
        let mut c = wasmtime::Config::new();
        c.cranelift_nan_canonicalization(true)
            .wasm_simd(false)
            .wasm_relaxed_simd(false)
            .wasm_multi_memory(false)
            .wasm_tail_call(false)
            .wasm_bulk_memory(true)
            .wasm_multi_value(true);
        let engine = Engine::new(&c).map_err(|e| JitError::Compile(e.to_string()))?;
        let compiled = Module::new(&engine, &bytes).map_err(|e| JitError::Compile(format!("{e:#}")))?;
        let module = stepper::Module::new(original).map_err(|e| JitError::Compile(e.to_string()))?;
        let linker = linker(&engine, &module).map_err(JitError::Compile)?;
        let pre = linker.instantiate_pre(&compiled).map_err(|e| JitError::Compile(format!("{e:#}")))?;
        Ok(Self { pre, code_hash: module.code_hash, mutable_globals, config: config.clone() })
    }

    /// Runs a call of `export` on `machine`, whose last instance is the module's, between
    /// calls: with at most `budget` gas and `input` for WASI, as
    /// [`Machine::start_call`] and [`Machine::run`] would. `machine` ends in the state the
    /// stepper gives (the same status, steps, gas, results, memory, globals, storage,
    /// output and state hash); the answer says which engine gave it.
    pub fn call(
        &self,
        machine: &mut Machine,
        export: &str,
        args: &[Value],
        budget: u64,
        input: CallInput,
    ) -> Result<Served, stepper::Error> {
        let why = match self.try_call(machine, export, args, budget, &input) {
            Ok(()) => return Ok(Served::Compiled),
            Err(why) => why,
        };
        let instance = machine.store().instances.len() as u32 - 1;
        let Some(Extern::Func(func)) = machine.export(instance, export) else {
            return Err(stepper::Error::Call(format!("no exported function `{export}`")));
        };
        machine.start_call(func, args, budget, input)?;
        machine.run(u64::MAX);
        Ok(Served::Stepper(why))
    }

    /// The compiled run; on anything but a return, an error saying why, with `machine`
    /// untouched.
    fn try_call(
        &self,
        machine: &mut Machine,
        export: &str,
        args: &[Value],
        budget: u64,
        input: &CallInput,
    ) -> Result<(), String> {
        if machine.status() == Status::Running {
            return Err("a call is already running".into());
        }
        input.check().map_err(|e| e.to_string())?;
        let index = machine.store().instances.len().checked_sub(1).ok_or("the machine has no instance")?;
        let inst = &machine.store().instances[index];
        if inst.module.code_hash != self.code_hash {
            return Err("the machine runs another module".into());
        }
        let Some(Extern::Func(func)) = inst.exports.get(export).copied() else {
            return Err(format!("no exported function `{export}`"));
        };
        if matches!(machine.store().funcs[func as usize], Func::Host { .. }) {
            return Err("the export is a host function".into());
        }
        let params: Vec<Val> = args
            .iter()
            .map(|a| match *a {
                Value::I32(v) => Ok(Val::I32(v)),
                Value::I64(v) => Ok(Val::I64(v)),
                Value::F32(bits) => Ok(Val::F32(bits)),
                Value::F64(bits) => Ok(Val::F64(bits)),
                _ => Err("reference arguments run on the stepper".to_string()),
            })
            .collect::<Result<_, _>>()?;
        let ty = machine.store().func_type(func).clone();
        if args.len() != ty.params.len() || args.iter().zip(&ty.params).any(|(a, &t)| a.ty() != t) {
            return Err("the arguments do not match the signature".into());
        }

        let config = &self.config;
        let memory_pages = inst.memory.map(|m| machine.store().memories[m as usize].pages());
        let host = HostState {
            storage: machine.store().storage.clone(),
            io: Io::new(input.clone()),
            emitted: Vec::new(),
            chunk: config.memory_chunk_size as u64,
            storage_price: config.gas.cost(GasClass::Storage),
            limits: StoreLimitsBuilder::new()
                .memory_size(config.max_memory_pages as usize * stepper::store::PAGE_SIZE)
                .table_elements(config.max_table_elements as usize)
                .build(),
        };
        let mut store = Store::new(self.pre.module().engine(), host);
        store.limiter(|h| &mut h.limits);
        let instance = self.pre.instantiate(&mut store).map_err(|e| format!("instantiation: {e:#}"))?;

        // The machine's state in: memory, mutable globals, the counters.
        let memory = instance.get_memory(&mut store, instrument::MEMORY);
        if let (Some(memory), Some(m)) = (memory, inst.memory) {
            let data = machine.store().memories[m as usize].data();
            let grow = memory_pages.unwrap_or(0) as u64 - memory.size(&store);
            memory.grow(&mut store, grow).map_err(|e| format!("memory: {e}"))?;
            memory.data_mut(&mut store)[..data.len()].copy_from_slice(data);
        }
        for &g in &self.mutable_globals {
            let addr = inst.globals[g as usize];
            let global = machine.store().globals[addr as usize];
            let value = match global.ty {
                ValType::I32 => Val::I32(global.value as u32 as i32),
                ValType::I64 => Val::I64(global.value as i64),
                ValType::F32 => Val::F32(global.value as u32),
                ValType::F64 => Val::F64(global.value),
                _ => return Err("reference globals run on the stepper".into()),
            };
            set_global(&mut store, &instance, &instrument::global_export(g), value)?;
        }
        let start_gas = config.gas_limit.saturating_sub(budget);
        set_global(&mut store, &instance, instrument::GAS, Val::I64(start_gas as i64))?;
        set_global(&mut store, &instance, instrument::GAS_LIMIT, Val::I64(config.gas_limit as i64))?;

        let f = instance.get_func(&mut store, export).ok_or("the instrumented module lacks the export")?;
        let mut results: Vec<Val> = ty.results.iter().map(|_| Val::I32(0)).collect();
        f.call(&mut store, &params, &mut results)
            .map_err(|e| format!("the compiled run stopped: {}", e.root_cause()))?;
        if get_global(&mut store, &instance, instrument::BAIL)?.unwrap_i32() != 0 {
            return Err("the instrumentation bailed out".into());
        }
        let steps = get_global(&mut store, &instance, instrument::STEPS)?.unwrap_i64() as u64;
        let gas_used = get_global(&mut store, &instance, instrument::GAS)?.unwrap_i64() as u64;

        // The state the stepper would have left, out, in place: what the call wrote is
        // all that changes, so the next state hash rehashes only that.
        let globals: Vec<(u32, u64)> = self
            .mutable_globals
            .iter()
            .map(|&g| {
                let value = get_global(&mut store, &instance, &instrument::global_export(g))?;
                Ok((inst.globals[g as usize], slot_of(&value)))
            })
            .collect::<Result<_, String>>()?;
        let grown = match (memory, inst.memory) {
            (Some(compiled), Some(m)) => {
                let pages = (compiled.data_size(&store) / stepper::store::PAGE_SIZE) as u32;
                if pages > machine.store().memories[m as usize].max().unwrap_or(65536) {
                    return Err("the compiled run grew memory past its maximum".into());
                }
                Some((compiled, m, pages))
            }
            _ => None,
        };
        let results: Vec<Value> =
            results.iter().zip(&ty.results).map(|(r, &t)| Value::from_slot(t, slot_of(r))).collect();
        let state = store.data_mut();
        let (storage, io, emitted) =
            (std::mem::take(&mut state.storage), std::mem::take(&mut state.io), std::mem::take(&mut state.emitted));
        // Checks before it changes anything: from here on nothing fails.
        machine.record_return(func, &results, (steps, gas_used), io, &emitted).map_err(|e| e.to_string())?;
        if let Some((compiled, m, pages)) = grown {
            let mem = &mut machine.memories_mut()[m as usize];
            mem.grow_to(pages).expect("checked against the maximum above");
            write_changes(mem, compiled.data(&store), config.memory_chunk_size as usize);
        }
        for (addr, value) in globals {
            machine.tamper().set_global(addr, value).expect("the instance's own global");
        }
        *machine.storage_mut() = storage;
        Ok(())
    }
}

/// The host functions `module` imports, each running the stepper's own implementation
/// over the compiled code's memory and the machine's parts.
fn linker(engine: &Engine, module: &stepper::Module) -> Result<Linker<HostState>, String> {
    let mut linker = Linker::new(engine);
    for import in &module.imports {
        let ImportKind::Func(t) = import.kind else { return Err("only functions are imported".into()) };
        let host = HostFunc::resolve(&import.module, &import.name)
            .ok_or_else(|| format!("{}.{} is not a host function", import.module, import.name))?;
        let ty = &module.types[t as usize];
        let val = |t: &ValType| match t {
            ValType::I32 => wasmtime::ValType::I32,
            ValType::I64 => wasmtime::ValType::I64,
            ValType::F32 => wasmtime::ValType::F32,
            _ => wasmtime::ValType::F64,
        };
        let func_type = wasmtime::FuncType::new(engine, ty.params.iter().map(val), ty.results.iter().map(val));
        linker
            .func_new(&import.module, &import.name, func_type, move |caller, params, results| {
                host_call(caller, host, params, results)
            })
            .map_err(|e| e.to_string())?;
    }
    Ok(linker)
}

/// One host call of the compiled code: the stepper's implementation to its end, its
/// extra steps and their gas added to the counters. A trap, an exit or gas past the limit
/// stops the compiled run (the call is then run on the stepper).
fn host_call(
    mut caller: Caller<'_, HostState>,
    host: HostFunc,
    params: &[Val],
    results: &mut [Val],
) -> wasmtime::Result<()> {
    let args: Vec<u64> = params.iter().map(slot_of).collect();
    let global = |caller: &mut Caller<'_, HostState>, name: &str| match caller.get_export(name) {
        Some(wasmtime::Extern::Global(g)) => Ok(g),
        _ => Err(wasmtime::Error::msg(format!("the instrumented module lacks {name}"))),
    };
    let steps_global = global(&mut caller, instrument::STEPS)?;
    let gas_global = global(&mut caller, instrument::GAS)?;
    let limit = global(&mut caller, instrument::GAS_LIMIT)?.get(&mut caller).unwrap_i64() as u64;
    // The counter includes the call's own step: its segment ends with it.
    let steps = (steps_global.get(&mut caller).unwrap_i64() as u64).saturating_sub(1);
    let memory = match caller.get_export(instrument::MEMORY) {
        Some(wasmtime::Extern::Memory(m)) => Some(m),
        _ => None,
    };
    let (end, taken) = {
        let (data, state) = match memory {
            Some(m) => {
                let (data, state) = m.data_and_store_mut(&mut caller);
                (data, state)
            }
            None => (&mut [][..], caller.data_mut()),
        };
        let chunk = state.chunk;
        let mut backend = HostBackend { memory: data, has_memory: memory.is_some(), state };
        host.run(&mut backend, &args, chunk, steps).map_err(|trap| wasmtime::Error::msg(trap.to_string()))?
    };
    let extra = taken - 1;
    let gas = gas_global.get(&mut caller).unwrap_i64() as u64 + extra * caller.data().storage_price;
    steps_global.set(&mut caller, Val::I64((steps + 1 + extra) as i64))?;
    gas_global.set(&mut caller, Val::I64(gas as i64))?;
    if gas > limit {
        return Err(wasmtime::Error::msg("out of gas in a host call"));
    }
    match end {
        HostEnd::Returned(result) => {
            if let (Some(r), Some(value)) = (results.first_mut(), result) {
                *r = Val::I32(value as u32 as i32);
            }
            Ok(())
        }
        HostEnd::Exited(code) => Err(wasmtime::Error::msg(format!("the program exited with code {code}"))),
    }
}

/// A host function's view of the compiled run: memory 0 and the machine's parts. Host
/// functions touch nothing else (no stack, frame, table or global).
struct HostBackend<'a> {
    memory: &'a mut [u8],
    has_memory: bool,
    state: &'a mut HostState,
}

impl Backend for HostBackend<'_> {
    fn memory_count(&self) -> usize {
        self.has_memory as usize
    }
    fn memory_len(&self, _: u32) -> usize {
        self.memory.len()
    }
    fn memory_max(&self, _: u32) -> Option<u32> {
        None
    }
    fn load(&self, _: u32, at: usize, width: u32) -> u64 {
        let mut bytes = [0u8; 8];
        bytes[..width as usize].copy_from_slice(&self.memory[at..at + width as usize]);
        u64::from_le_bytes(bytes)
    }
    fn store(&mut self, _: u32, at: usize, width: u32, value: u64) {
        self.memory[at..at + width as usize].copy_from_slice(&value.to_le_bytes()[..width as usize]);
    }
    fn write(&mut self, _: u32, at: usize, bytes: &[u8]) {
        self.memory[at..at + bytes.len()].copy_from_slice(bytes);
    }
    fn fill(&mut self, _: u32, at: usize, len: usize, byte: u8) {
        self.memory[at..at + len].fill(byte);
    }
    fn copy(&mut self, _: u32, dst: usize, src: usize, len: usize) {
        self.memory.copy_within(src..src + len, dst);
    }
    fn emit(&mut self, value: i64) {
        self.state.emitted.push(value);
    }
    fn storage_get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.state.storage.get(key).map(<[u8]>::to_vec)
    }
    fn storage_set(&mut self, key: &[u8], value: Option<&[u8]>) {
        self.state.storage.set(key, value);
    }
    fn io(&self) -> IoRegs {
        *self.state.io.regs()
    }
    fn set_io(&mut self, regs: IoRegs) {
        self.state.io.set_regs(regs);
    }
    fn input(&self, at: u64, buf: &mut [u8]) {
        let at = at as usize;
        buf.copy_from_slice(&self.state.io.input().bytes[at..at + buf.len()]);
    }
    fn stream_len(&self, fd: u32) -> u64 {
        self.state.io.stream(fd).len()
    }
    fn append(&mut self, fd: u32, bytes: &[u8]) {
        self.state.io.append(fd, bytes);
    }

    // Host functions use none of these.
    fn stack_len(&self) -> usize {
        unreachable!("host functions do not touch the value stack")
    }
    fn slot(&self, _: usize) -> u64 {
        unreachable!("host functions do not touch the value stack")
    }
    fn set_slot(&mut self, _: usize, _: u64) {
        unreachable!("host functions do not touch the value stack")
    }
    fn top(&self) -> u64 {
        unreachable!("host functions do not touch the value stack")
    }
    fn set_top(&mut self, _: u64) {
        unreachable!("host functions do not touch the value stack")
    }
    fn push(&mut self, _: u64) {
        unreachable!("host functions do not touch the value stack")
    }
    fn pop(&mut self) -> u64 {
        unreachable!("host functions do not touch the value stack")
    }
    fn truncate(&mut self, _: usize) {
        unreachable!("host functions do not touch the value stack")
    }
    fn move_down(&mut self, _: usize, _: usize, _: usize) {
        unreachable!("host functions do not touch the value stack")
    }
    fn reserve(&mut self, _: usize) {}
    fn push_zeros(&mut self, _: usize) {
        unreachable!("host functions do not touch the value stack")
    }
    fn depth(&self) -> usize {
        unreachable!("host functions do not touch frames")
    }
    fn push_frame(&mut self, _: Frame) {
        unreachable!("host functions do not touch frames")
    }
    fn pop_frame(&mut self) -> Frame {
        unreachable!("host functions do not touch frames")
    }
    fn last_frame(&self) -> Option<Frame> {
        unreachable!("host functions do not touch frames")
    }
    fn global(&self, _: u32) -> u64 {
        unreachable!("host functions do not touch globals")
    }
    fn set_global(&mut self, _: u32, _: u64) {
        unreachable!("host functions do not touch globals")
    }
    fn table_len(&self, _: u32) -> usize {
        unreachable!("host functions do not touch tables")
    }
    fn table_max(&self, _: u32) -> Option<u32> {
        unreachable!("host functions do not touch tables")
    }
    fn table_get(&self, _: u32, _: usize) -> u64 {
        unreachable!("host functions do not touch tables")
    }
    fn table_set(&mut self, _: u32, _: usize, _: u64) {
        unreachable!("host functions do not touch tables")
    }
    fn table_grow(&mut self, _: u32, _: usize) {
        unreachable!("host functions do not touch tables")
    }
    fn grow_memory(&mut self, _: u32, _: u32) {
        unreachable!("host functions do not grow memory")
    }
    fn elem_len(&self, _: u32) -> usize {
        unreachable!("host functions do not touch segments")
    }
    fn elem_item(&self, _: u32, _: usize) -> u64 {
        unreachable!("host functions do not touch segments")
    }
    fn drop_elem(&mut self, _: u32) {
        unreachable!("host functions do not touch segments")
    }
    fn data_dropped(&self, _: u32) -> bool {
        unreachable!("host functions do not touch segments")
    }
    fn drop_data(&mut self, _: u32) {
        unreachable!("host functions do not touch segments")
    }
}

/// Copies into `mem` the chunks of `after` that differ from it, so that the commitment
/// rehashes only what the call wrote.
fn write_changes(mem: &mut stepper::store::Memory, after: &[u8], chunk: usize) {
    let changed: Vec<usize> = mem
        .data()
        .chunks(chunk)
        .zip(after.chunks(chunk))
        .enumerate()
        .filter(|(_, (old, new))| old != new)
        .map(|(i, _)| i)
        .collect();
    for i in changed {
        let at = i * chunk;
        let end = (at + chunk).min(after.len());
        mem.write(at, &after[at..end]).expect("within the memory grown to the run's size");
    }
}

fn slot_of(v: &Val) -> u64 {
    match *v {
        Val::I32(x) => x as u32 as u64,
        Val::I64(x) => x as u64,
        Val::F32(bits) => bits as u64,
        Val::F64(bits) => bits,
        _ => 0,
    }
}

fn get_global(store: &mut Store<HostState>, instance: &wasmtime::Instance, name: &str) -> Result<Val, String> {
    let g = instance.get_global(&mut *store, name).ok_or_else(|| format!("the instrumented module lacks {name}"))?;
    Ok(g.get(&mut *store))
}

fn set_global(store: &mut Store<HostState>, instance: &wasmtime::Instance, name: &str, v: Val) -> Result<(), String> {
    let g = instance.get_global(&mut *store, name).ok_or_else(|| format!("the instrumented module lacks {name}"))?;
    g.set(&mut *store, v).map_err(|e| e.to_string())
}
