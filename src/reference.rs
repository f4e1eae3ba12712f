//! The reference engine and the differential comparison against the stepper.
//!
//! [`Reference`] wraps [wasmi](https://docs.rs/wasmi) configured like the stepper:
//! WebAssembly 2.0 without SIMD, the same `verigame` host module, the same memory and
//! table limits, and no fuel metering. [`compare_engines`] runs a module on both
//! engines, calls each exported function with zero arguments, and reports the first
//! observable difference; the differential test and the fuzz target share it, and
//! [`smith_module`] is the module generator they share.
//!
//! Two defects of wasmi 2.0.0 shape this setup:
//! - Its default tail-call dispatch grows the native stack by a frame per executed
//!   instruction wherever LLVM does not turn a handler's call into a jump (unoptimized
//!   builds, the dev profile even at opt-level 3, and a loop of failing `memory.grow`
//!   in release), so the root package selects the `portable-dispatch` feature.
//! - A `select` on a fused comparison can pick the wrong operand (see
//!   [`smith_module`]), so the generator avoids wasm-smith's `disallow_traps` guards.

use std::collections::BTreeMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use anyhow::anyhow;
use stepper::{Config, Extern, Machine, Module, Status, Trap, ValType, Value};
use wasmi::errors::{ErrorKind, InstantiationError};
use wasmi::{
    Caller, CompilationMode, Engine, ExternRef, Func, Instance, Linker, Nullable, Ref, Store, StoreLimits,
    StoreLimitsBuilder, TrapCode, Val, F32, F64,
};

/// How a call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The function returned these results.
    Returned(Vec<Value>),
    /// The function trapped, with the reference engine's description.
    Trapped(String),
}

/// Why a module could not be loaded on the reference engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// Not valid WebAssembly 2.0 without SIMD (or not parseable text).
    Invalid(String),
    /// Instantiation failed without trapping: an unknown import, or a memory or table
    /// larger than the configured limits.
    Failed(String),
    /// Initializing segments or running the start function trapped. `kind` is the
    /// stepper's name for the trap where the reference engine's trap has one.
    Trapped { kind: Option<Trap>, message: String },
    /// wasmi panicked compiling the module: a defect of the reference engine, which
    /// says nothing about the module (wasmi 2.0.0 has at least one, see
    /// [`compare_engines`]).
    Crashed(String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(m) => write!(f, "invalid module: {m}"),
            Self::Failed(m) => write!(f, "instantiation failed: {m}"),
            Self::Trapped { message, .. } => write!(f, "instantiation trapped: {message}"),
            Self::Crashed(m) => write!(f, "the reference engine crashed compiling the module: {m}"),
        }
    }
}

impl std::error::Error for LoadError {}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Returned(values) => {
                let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
                write!(f, "returned [{}]", values.join(", "))
            }
            Self::Trapped(message) => write!(f, "trapped: {message}"),
        }
    }
}

/// What host functions see: the `verigame.emit` log and the resource limits.
struct HostState {
    emitted: Vec<i64>,
    limits: StoreLimits,
}

/// One instance of a module on the reference engine (wasmi).
pub struct Reference {
    store: Store<HostState>,
    instance: Instance,
    last_trap: Option<Trap>,
    /// Whether fuel metering is on (only for [`compare_engines`]) and the last call
    /// ran out of it.
    metered: bool,
    out_of_fuel: bool,
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reference").field("emitted", &self.emitted()).finish_non_exhaustive()
    }
}

/// The wasmi configuration matching the stepper's: the WebAssembly 2.0 features
/// without SIMD, every function compiled (and validated) up front, no fuel (unless
/// `metered`), and the stepper's call depth.
fn engine_config(config: &Config, metered: bool) -> wasmi::Config {
    let mut c = wasmi::Config::default();
    c.compilation_mode(CompilationMode::Eager)
        .consume_fuel(metered)
        .wasm_mutable_global(true)
        .wasm_sign_extension(true)
        .wasm_saturating_float_to_int(true)
        .wasm_multi_value(true)
        .wasm_bulk_memory(true)
        .wasm_reference_types(true)
        .floats(true)
        // Everything wasmi enables beyond 2.0. SIMD and memory64 are compiled out
        // (their cargo features are off), so they need no switch here.
        .wasm_multi_memory(false)
        .wasm_tail_call(false)
        .wasm_extended_const(false)
        .wasm_custom_page_sizes(false)
        .wasm_wide_arithmetic(false)
        .set_max_recursion_depth(config.max_call_depth as usize);
    c
}

impl Reference {
    /// Instantiates a module (binary or text) with the stepper's default limits.
    pub fn new(wasm_or_wat: &[u8]) -> anyhow::Result<Self> {
        Self::with_config(wasm_or_wat, &Config::default())
    }

    /// Instantiates a module (binary or text) under the memory, table and call-depth
    /// limits of a stepper `config`. The error is a [`LoadError`] (`downcast_ref` it to
    /// tell invalid modules from failed instantiations).
    pub fn with_config(wasm_or_wat: &[u8], config: &Config) -> anyhow::Result<Self> {
        Ok(Self::load(wasm_or_wat, config, None)?)
    }

    /// Loads and instantiates; with `fuel`, wasmi meters fuel and the start function
    /// gets that much.
    fn load(wasm_or_wat: &[u8], config: &Config, fuel: Option<u64>) -> Result<Self, LoadError> {
        let wasm = stepper::module::to_binary(wasm_or_wat).map_err(|e| LoadError::Invalid(e.to_string()))?;
        let engine = Engine::new(&engine_config(config, fuel.is_some()));
        // Compilation is eager: wasmi's translator runs here, and it is the part that
        // has been seen to panic on valid input. The engine is dropped after a panic.
        let compiled = catch_unwind(AssertUnwindSafe(|| wasmi::Module::new(&engine, wasm)));
        let module = compiled
            .map_err(|panic| LoadError::Crashed(panic_message(&*panic)))?
            .map_err(|e| LoadError::Invalid(e.to_string()))?;

        let limits = StoreLimitsBuilder::new()
            .memory_size(config.max_memory_pages as usize * stepper::store::PAGE_SIZE)
            .table_elements(config.max_table_elements as usize)
            .build();
        let mut store = Store::new(&engine, HostState { emitted: Vec::new(), limits });
        store.limiter(|state| &mut state.limits);
        if let Some(fuel) = fuel {
            store.set_fuel(fuel).map_err(|e| LoadError::Failed(e.to_string()))?;
        }

        // The `verigame` host module, as in stepper/src/host.rs.
        let mut linker = Linker::<HostState>::new(&engine);
        let define = |linker: &mut Linker<HostState>| -> Result<(), wasmi::errors::LinkerError> {
            linker.func_wrap("verigame", "abort", |_: Caller<'_, HostState>, code: i32| {
                Err::<(), _>(wasmi::Error::i32_exit(code))
            })?;
            linker.func_wrap("verigame", "emit", |mut caller: Caller<'_, HostState>, value: i64| {
                caller.data_mut().emitted.push(value);
            })?;
            Ok(())
        };
        define(&mut linker).map_err(|e| LoadError::Failed(e.to_string()))?;
        let instance = linker.instantiate_and_start(&mut store, &module).map_err(|e| {
            match trap_kind(&e) {
                Some(kind) => LoadError::Trapped { kind: Some(kind), message: e.to_string() },
                // Unknown or mistyped imports, memories or tables over the limits.
                None if matches!(e.kind(), ErrorKind::Instantiation(_) | ErrorKind::Linker(_)) => {
                    LoadError::Failed(e.to_string())
                }
                // Host errors and anything else raised while running code.
                None => LoadError::Trapped { kind: None, message: e.to_string() },
            }
        })?;
        Ok(Self { store, instance, last_trap: None, metered: fuel.is_some(), out_of_fuel: false })
    }

    /// Calls an exported function. `Err` means the call could not be made (no such
    /// export, wrong arguments); a trap is an [`Outcome`].
    pub fn call(&mut self, export: &str, args: &[Value]) -> anyhow::Result<Outcome> {
        self.last_trap = None;
        self.out_of_fuel = false;
        let func = self.func(export)?;
        let ty = func.ty(&self.store);
        let inputs = args.iter().map(|&a| to_wasmi(&mut self.store, a)).collect::<anyhow::Result<Vec<_>>>()?;
        let mut outputs: Vec<Val> = ty.results().iter().map(|&t| Val::default_for_ty(t)).collect();
        match func.call(&mut self.store, &inputs, &mut outputs) {
            Ok(()) => Ok(Outcome::Returned(
                outputs.iter().map(|v| from_wasmi(&self.store, v)).collect::<anyhow::Result<_>>()?,
            )),
            // Argument mismatches are reported before anything runs.
            Err(e) if matches!(e.kind(), ErrorKind::Func(_)) => Err(anyhow!("cannot call {export:?}: {e}")),
            Err(e) => {
                self.last_trap = trap_kind(&e);
                self.out_of_fuel = e.as_trap_code() == Some(TrapCode::OutOfFuel);
                Ok(Outcome::Trapped(match self.last_trap {
                    // wasmi would say "Exited with i32 exit status N".
                    Some(t @ Trap::Aborted(_)) => t.to_string(),
                    _ => e.to_string(),
                }))
            }
        }
    }

    /// The stepper's name for the trap that ended the last [`Reference::call`], where
    /// the reference engine's trap has one (e.g. `verigame.abort` is [`Trap::Aborted`]).
    pub fn last_trap(&self) -> Option<Trap> {
        self.last_trap
    }

    /// Sets the fuel of the next call, where fuel is metered.
    fn set_fuel(&mut self, fuel: u64) {
        if self.metered {
            // Cannot fail: it only fails where metering is off.
            let _ = self.store.set_fuel(fuel);
        }
    }

    fn func(&self, export: &str) -> anyhow::Result<Func> {
        self.instance.get_func(&self.store, export).ok_or_else(|| anyhow!("the module exports no function {export:?}"))
    }

    /// Parameter and result types of an exported function.
    pub fn func_type(&self, export: &str) -> Option<(Vec<ValType>, Vec<ValType>)> {
        let ty = self.instance.get_func(&self.store, export)?.ty(&self.store);
        let conv = |ts: &[wasmi::ValType]| ts.iter().map(|&t| val_type(t)).collect::<Option<Vec<_>>>();
        Some((conv(ty.params())?, conv(ty.results())?))
    }

    /// Names of the exported functions, sorted.
    pub fn exported_funcs(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .instance
            .exports(&self.store)
            .filter(|e| e.clone().into_func().is_some())
            .map(|e| e.name().to_string())
            .collect();
        names.sort();
        names
    }

    /// Values of the exported globals, sorted by name. Non-null function references
    /// come out as `FuncRef(Some(0))`: only their presence is meaningful.
    pub fn exported_globals(&self) -> Vec<(String, Value)> {
        let mut globals: Vec<(String, Value)> = self
            .instance
            .exports(&self.store)
            .filter_map(|e| {
                let name = e.name().to_string();
                let value = e.into_global()?.get(&self.store);
                Some((name, from_wasmi(&self.store, &value).ok()?))
            })
            .collect();
        globals.sort_by(|a, b| a.0.cmp(&b.0));
        globals
    }

    /// Elements of the exported tables, sorted by name, as in
    /// [`Reference::exported_globals`].
    pub fn exported_tables(&self) -> Vec<(String, Vec<Value>)> {
        let mut tables: Vec<(String, Vec<Value>)> = self
            .instance
            .exports(&self.store)
            .filter_map(|e| {
                let name = e.name().to_string();
                let table = e.into_table()?;
                let elems = (0..table.size(&self.store))
                    .map(|i| match table.get(&self.store, i) {
                        Some(Ref::Func(f)) => Value::FuncRef(f.val().map(|_| 0)),
                        Some(Ref::Extern(x)) => Value::ExternRef(extern_id(&self.store, &x)),
                        None => Value::FuncRef(None),
                    })
                    .collect();
                Some((name, elems))
            })
            .collect();
        tables.sort_by(|a, b| a.0.cmp(&b.0));
        tables
    }

    /// The bytes of the module's memory (the first exported one; wasmi offers no
    /// access to a memory the module does not export).
    pub fn memory(&self) -> Option<&[u8]> {
        let memory = self.instance.exports(&self.store).find_map(|e| e.into_memory())?;
        Some(memory.data(&self.store))
    }

    /// Values the program passed to `verigame.emit`, across all calls.
    pub fn emitted(&self) -> &[i64] {
        &self.store.data().emitted
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

/// The stepper's name for a wasmi trap, where there is one.
fn trap_kind(e: &wasmi::Error) -> Option<Trap> {
    if let Some(code) = e.i32_exit_status() {
        return Some(Trap::Aborted(code));
    }
    if let ErrorKind::Instantiation(InstantiationError::ElementSegmentDoesNotFit { .. }) = e.kind() {
        return Some(Trap::TableOutOfBounds);
    }
    Some(match e.as_trap_code()? {
        TrapCode::UnreachableCodeReached => Trap::Unreachable,
        TrapCode::MemoryOutOfBounds => Trap::MemoryOutOfBounds,
        // wasmi does not tell a `call_indirect` past the table's end apart.
        TrapCode::TableOutOfBounds => Trap::TableOutOfBounds,
        TrapCode::IndirectCallToNull => Trap::UninitializedElement,
        TrapCode::IntegerDivisionByZero => Trap::IntegerDivideByZero,
        TrapCode::IntegerOverflow => Trap::IntegerOverflow,
        TrapCode::BadConversionToInteger => Trap::InvalidConversionToInteger,
        TrapCode::StackOverflow => Trap::CallStackExhausted,
        TrapCode::BadSignature => Trap::IndirectCallTypeMismatch,
        _ => return None,
    })
}

fn val_type(t: wasmi::ValType) -> Option<ValType> {
    Some(match t {
        wasmi::ValType::I32 => ValType::I32,
        wasmi::ValType::I64 => ValType::I64,
        wasmi::ValType::F32 => ValType::F32,
        wasmi::ValType::F64 => ValType::F64,
        wasmi::ValType::FuncRef => ValType::FuncRef,
        wasmi::ValType::ExternRef => ValType::ExternRef,
        _ => return None,
    })
}

/// Extern references the reference engine makes for `ExternRef(Some(n))` carry `n`.
fn extern_id(store: &Store<HostState>, x: &Nullable<ExternRef>) -> Option<u32> {
    x.val().map(|x| x.data(store).downcast_ref::<u32>().copied().unwrap_or(u32::MAX))
}

fn to_wasmi(store: &mut Store<HostState>, v: Value) -> anyhow::Result<Val> {
    Ok(match v {
        Value::I32(x) => Val::I32(x),
        Value::I64(x) => Val::I64(x),
        Value::F32(bits) => Val::F32(F32::from_bits(bits)),
        Value::F64(bits) => Val::F64(F64::from_bits(bits)),
        Value::FuncRef(None) => Val::FuncRef(Nullable::Null),
        Value::FuncRef(Some(_)) => anyhow::bail!("cannot pass a non-null funcref to the reference engine"),
        Value::ExternRef(None) => Val::ExternRef(Nullable::Null),
        Value::ExternRef(Some(n)) => Val::ExternRef(Nullable::Val(ExternRef::new(store, n))),
    })
}

fn from_wasmi(store: &Store<HostState>, v: &Val) -> anyhow::Result<Value> {
    Ok(match v {
        Val::I32(x) => Value::I32(*x),
        Val::I64(x) => Value::I64(*x),
        Val::F32(x) => Value::F32(x.to_bits()),
        Val::F64(x) => Value::F64(x.to_bits()),
        Val::FuncRef(f) => Value::FuncRef(f.val().map(|_| 0)),
        Val::ExternRef(x) => Value::ExternRef(extern_id(store, x)),
        other => anyhow::bail!("unsupported value {other:?}"),
    })
}

// ---------------------------------------------------------------------------------
// Differential comparison
// ---------------------------------------------------------------------------------

/// Limits of a comparison.
#[derive(Clone, Debug)]
pub struct CompareOptions {
    /// The stepper's configuration; the reference engine gets the same memory, table
    /// and call-depth limits.
    pub config: Config,
    /// Steps the stepper may take per call (the start function included). A call that
    /// runs longer ends the comparison of the module early, as stack exhaustion does.
    pub max_steps: u64,
}

impl Default for CompareOptions {
    fn default() -> Self {
        Self {
            config: Config {
                max_memory_pages: 256,
                max_table_elements: 100_000,
                max_call_depth: 1 << 16,
                ..Config::default()
            },
            max_steps: 20_000_000,
        }
    }
}

/// What a successful comparison covered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Both engines rejected the module as invalid.
    pub invalid: bool,
    /// Both engines failed to instantiate the module (trap or limits).
    pub instantiation_failed: bool,
    /// Calls compared, and how many of them trapped.
    pub calls: usize,
    pub traps: usize,
    /// Why the comparison stopped early, if it did: a call exhausted a stack on
    /// either engine or ran past the step budget. Limits legitimately differ.
    pub stopped_early: Option<String>,
    /// wasmi panicked compiling the module, so nothing was compared.
    pub reference_crashed: Option<String>,
}

/// The first observable difference between the engines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// Where: "load", "instantiate", or "call NAME" (with its index among the calls).
    pub at: String,
    pub stepper: String,
    pub reference: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "engines disagree at {}:\n  stepper:   {}\n  reference: {}", self.at, self.stepper, self.reference)
    }
}

impl std::error::Error for Mismatch {}

fn mismatch(at: impl Into<String>, stepper: impl Into<String>, reference: impl Into<String>) -> Mismatch {
    Mismatch { at: at.into(), stepper: stepper.into(), reference: reference.into() }
}

fn dbg(v: impl fmt::Debug) -> String {
    format!("{v:?}")
}

/// Only a reference's presence can be compared across engines for function
/// references: their addresses are engine-specific.
fn comparable(v: Value) -> Value {
    match v {
        Value::FuncRef(r) => Value::FuncRef(r.map(|_| 0)),
        other => other,
    }
}

/// Traps the engines may name differently for the same cause.
fn same_trap(a: Trap, b: Trap) -> bool {
    let class = |t| match t {
        // wasmi reports a call_indirect past the table's end as a table access.
        Trap::UndefinedElement => Trap::TableOutOfBounds,
        Trap::ValueStackExhausted => Trap::CallStackExhausted,
        t => t,
    };
    class(a) == class(b)
}

fn is_exhaustion(t: Trap) -> bool {
    matches!(t, Trap::CallStackExhausted | Trap::ValueStackExhausted)
}

/// The stepper's view of one instance, read the same way as [`Reference`]'s.
struct StepperSide {
    machine: Machine,
    instance: u32,
}

impl StepperSide {
    fn exports(&self) -> Vec<(String, Extern)> {
        let exports = &self.machine.store().instances[self.instance as usize].exports;
        let sorted: BTreeMap<&String, &Extern> = exports.iter().collect();
        sorted.into_iter().map(|(n, e)| (n.clone(), *e)).collect()
    }

    fn exported_funcs(&self) -> Vec<(String, u32)> {
        self.exports()
            .into_iter()
            .filter_map(|(n, e)| if let Extern::Func(f) = e { Some((n, f)) } else { None })
            .collect()
    }

    fn exported_globals(&self) -> Vec<(String, Value)> {
        self.exports()
            .into_iter()
            .filter_map(
                |(n, e)| if let Extern::Global(g) = e { Some((n, comparable(self.machine.global(g)))) } else { None },
            )
            .collect()
    }

    fn exported_tables(&self) -> Vec<(String, Vec<Value>)> {
        self.exports()
            .into_iter()
            .filter_map(|(n, e)| {
                let Extern::Table(t) = e else { return None };
                let table = &self.machine.store().tables[t as usize];
                Some((n, table.elems().iter().map(|&s| comparable(Value::from_slot(table.ty(), s))).collect()))
            })
            .collect()
    }

    fn memory(&self) -> Option<&[u8]> {
        self.exports().into_iter().find_map(|(_, e)| match e {
            Extern::Memory(m) => Some(self.machine.store().memories[m as usize].data()),
            _ => None,
        })
    }
}

/// Describes a memory difference briefly: sizes, or the first differing byte.
fn memory_difference(a: Option<&[u8]>, b: Option<&[u8]>) -> Option<(String, String)> {
    match (a, b) {
        (Some(a), Some(b)) if a.len() != b.len() => Some((format!("{} bytes", a.len()), format!("{} bytes", b.len()))),
        // Slices compare with memcmp; search for the position only when they differ.
        (Some(a), Some(b)) if a == b => None,
        (Some(a), Some(b)) => {
            let i = a.iter().zip(b).position(|(x, y)| x != y)?;
            Some((format!("byte {i:#x} = {:#04x}", a[i]), format!("byte {i:#x} = {:#04x}", b[i])))
        }
        (None, None) => None,
        (a, b) => Some((format!("memory present: {}", a.is_some()), format!("memory present: {}", b.is_some()))),
    }
}

/// Compares everything outside a call the two engines expose after it.
fn compare_state(at: &str, s: &StepperSide, r: &Reference) -> Result<(), Mismatch> {
    let (sg, rg) = (s.exported_globals(), r.exported_globals());
    if sg != rg {
        return Err(mismatch(format!("{at}: exported globals"), dbg(sg), dbg(rg)));
    }
    let (st, rt) = (s.exported_tables(), r.exported_tables());
    if st != rt {
        let diff = st.iter().zip(&rt).find(|(a, b)| a != b);
        let describe = |t: &(String, Vec<Value>)| format!("table {:?} has {} elements", t.0, t.1.len());
        return Err(match diff {
            Some((a, b)) if a.1.len() != b.1.len() => {
                mismatch(format!("{at}: exported tables"), describe(a), describe(b))
            }
            Some((a, b)) => {
                let i = a.1.iter().zip(&b.1).position(|(x, y)| x != y).unwrap_or(0);
                mismatch(format!("{at}: table {:?} element {i}", a.0), dbg(a.1[i]), dbg(b.1[i]))
            }
            None => mismatch(format!("{at}: exported tables"), dbg(&st), dbg(&rt)),
        });
    }
    if let Some((sm, rm)) = memory_difference(s.memory(), r.memory()) {
        return Err(mismatch(format!("{at}: memory"), sm, rm));
    }
    if s.machine.output() != r.emitted() {
        return Err(mismatch(format!("{at}: emitted values"), dbg(s.machine.output()), dbg(r.emitted())));
    }
    Ok(())
}

/// wasmi's fuel for running what took the stepper `steps` steps: far more than it
/// needs (an instruction costs about one fuel, 64 bytes of a bulk operation one), so
/// running out means the reference engine goes on where the stepper stopped.
fn fuel_for(steps: u64) -> u64 {
    steps.saturating_mul(64).saturating_add(1_000_000)
}

/// Runs `wasm` on the stepper and on the reference engine and compares what they do:
/// whether the module loads and instantiates (and how instantiation traps), then, for
/// every exported function in name order, a call with zero arguments: its results
/// (bit for bit), whether and how it traps, and afterwards the exported globals,
/// tables and memory, and the emitted values.
///
/// The stepper runs first, under `opts.max_steps`; when it does not finish in time,
/// or a call exhausts a stack on either engine, the rest of the module is skipped
/// ([`Comparison::stopped_early`]): those limits legitimately differ between the
/// engines. The reference engine then runs with fuel proportional to the stepper's
/// steps ([`fuel_for`]), so a module that loops forever cannot hang the comparison.
///
/// A module wasmi panics on while compiling is skipped
/// ([`Comparison::reference_crashed`]); wasmi 2.0.0 does on e.g. a store whose address
/// and value are one `local.tee`d value and whose offset needs more than 16 bits:
/// `(i32.store offset=70000 (local.tee 0 (i32.load8_u (local.get 0))) (local.get 0))`.
pub fn compare_engines(wasm: &[u8], opts: &CompareOptions) -> Result<Comparison, Mismatch> {
    let mut cmp = Comparison::default();

    // Load and instantiate: the stepper first, so that a start function that does not
    // finish on it never runs unbounded on the reference engine.
    let module = Module::new(wasm);
    let stepper = match &module {
        Ok(m) => Some(load_stepper(m, opts)),
        Err(_) => None,
    };
    if let Some(Err(StepperLoad::Exhausted(why))) = &stepper {
        cmp.stopped_early = Some(format!("start function: {why}"));
        return Ok(cmp);
    }
    let reference = Reference::load(wasm, &opts.config, Some(fuel_for(opts.max_steps)));
    if let Err(LoadError::Crashed(why)) = &reference {
        cmp.reference_crashed = Some(why.clone());
        return Ok(cmp);
    }
    let stepper = match (module, stepper, reference) {
        (Err(_), _, Err(LoadError::Invalid(_))) => {
            cmp.invalid = true;
            return Ok(cmp);
        }
        (Err(e), _, r) => {
            let r = r.map_or_else(|e| e.to_string(), |_| "loaded".into());
            return Err(mismatch("load", e.to_string(), r));
        }
        (Ok(_), _, Err(e @ LoadError::Invalid(_))) => return Err(mismatch("load", "loaded", e.to_string())),
        (Ok(_), _, Err(LoadError::Trapped { kind: Some(k), .. })) if is_exhaustion(k) => {
            cmp.stopped_early = Some("start function: reference stack exhausted".into());
            return Ok(cmp);
        }
        (Ok(_), Some(Ok(s)), Ok(r)) => (s, r),
        (Ok(_), Some(Ok(_)), Err(e)) => return Err(mismatch("instantiate", "instantiated", e.to_string())),
        (Ok(_), Some(Err(StepperLoad::Failed(e))), Ok(_)) => {
            return Err(mismatch("instantiate", e.to_string(), "instantiated"));
        }
        (Ok(_), Some(Err(StepperLoad::Failed(e))), Err(r)) => {
            // Both failed: a trap must be a trap of the same kind.
            let trap = match &e {
                stepper::Error::InstantiationTrap(t) => Some(*t),
                _ => None,
            };
            match (&r, trap) {
                (LoadError::Trapped { kind: Some(k), .. }, Some(t)) if same_trap(t, *k) => {}
                (LoadError::Trapped { kind: None, .. }, Some(_)) | (LoadError::Failed(_), None) => {}
                _ => return Err(mismatch("instantiate", e.to_string(), r.to_string())),
            }
            cmp.instantiation_failed = true;
            return Ok(cmp);
        }
        (Ok(_), None | Some(Err(StepperLoad::Exhausted(_))), _) => unreachable!("handled above"),
    };
    let (mut stepper, mut reference) = stepper;
    compare_state("instantiate", &stepper, &reference)?;

    // Call every exported function with zero arguments.
    let funcs = stepper.exported_funcs();
    let names: Vec<&String> = funcs.iter().map(|(n, _)| n).collect();
    if names.iter().map(|n| n.as_str()).ne(reference.exported_funcs().iter().map(|n| n.as_str())) {
        return Err(mismatch("exports", dbg(names), dbg(reference.exported_funcs())));
    }
    for (i, (name, func)) in funcs.iter().enumerate() {
        let at = format!("call #{i} {name:?}");
        let params = stepper.machine.store().func_type(*func).params.clone();
        let args: Vec<Value> = params.iter().map(|&t| Value::default_of(t)).collect();

        stepper.machine.invoke(*func, &args).map_err(|e| mismatch(&at, e.to_string(), "callable"))?;
        let status = stepper.machine.run(opts.max_steps);
        // Limits that legitimately differ end the comparison of this module.
        match status {
            Status::Running | Status::OutOfGas => {
                cmp.stopped_early = Some(format!("{at}: stepper step budget exhausted"));
                return Ok(cmp);
            }
            Status::Trapped(t) if is_exhaustion(t) => {
                cmp.stopped_early = Some(format!("{at}: stepper {t}"));
                return Ok(cmp);
            }
            _ => {}
        }

        let steps = stepper.machine.steps();
        reference.set_fuel(fuel_for(steps));
        let r = reference.call(name, &args).map_err(|e| mismatch(&at, "callable", e.to_string()))?;
        let rtrap = reference.last_trap();
        if rtrap.is_some_and(is_exhaustion) {
            cmp.stopped_early = Some(format!("{at}: reference stack exhausted"));
            return Ok(cmp);
        }
        if reference.out_of_fuel {
            let fuel = fuel_for(steps);
            return Err(mismatch(
                &at,
                format!("{status:?} after {steps} steps"),
                format!("still running after {fuel} fuel"),
            ));
        }

        cmp.calls += 1;
        match (status, &r) {
            (Status::Returned, Outcome::Returned(rv)) => {
                let sv: Vec<Value> = stepper.machine.results().into_iter().map(comparable).collect();
                if &sv != rv {
                    return Err(mismatch(&at, format!("returned {sv:?}"), format!("returned {rv:?}")));
                }
            }
            (Status::Trapped(t), Outcome::Trapped(msg)) => {
                cmp.traps += 1;
                if rtrap.is_some_and(|k| !same_trap(t, k)) {
                    return Err(mismatch(&at, format!("trapped: {t}"), format!("trapped: {msg}")));
                }
            }
            (Status::Trapped(t), Outcome::Returned(rv)) => {
                return Err(mismatch(&at, format!("trapped: {t}"), format!("returned {rv:?}")));
            }
            (_, r) => {
                let sv = stepper.machine.results();
                return Err(mismatch(&at, format!("returned {sv:?}"), r.to_string()));
            }
        }
        compare_state(&at, &stepper, &reference)?;
    }
    Ok(cmp)
}

enum StepperLoad {
    Failed(stepper::Error),
    /// The start function exhausted a stack or the step budget.
    Exhausted(String),
}

/// Instantiates on the stepper with [`Machine::load`]. The start function runs to
/// completion there, so it is bounded by gas instead of steps: at most `max_steps`
/// steps' worth at the highest step price.
fn load_stepper(module: &Arc<Module>, opts: &CompareOptions) -> Result<StepperSide, StepperLoad> {
    let mut config = opts.config.clone();
    let max_price = config.gas.costs.iter().copied().max().unwrap_or(1);
    config.gas_limit = config.gas_limit.min(opts.max_steps.saturating_mul(max_price));
    match Machine::load(module, config) {
        Ok((mut machine, instance)) => {
            machine.set_gas_limit(opts.config.gas_limit);
            Ok(StepperSide { machine, instance })
        }
        Err(stepper::Error::InstantiationTrap(t)) if is_exhaustion(t) => Err(StepperLoad::Exhausted(t.to_string())),
        Err(stepper::Error::Call(m)) if m.contains("out of gas") => Err(StepperLoad::Exhausted(m)),
        Err(e) => Err(StepperLoad::Failed(e)),
    }
}

// ---------------------------------------------------------------------------------
// Module generation for the differential test and the fuzzer
// ---------------------------------------------------------------------------------

/// Fuel wasm-smith's termination pass gives each module: every function entry and
/// loop iteration costs one, bulk operations their length. It is one global shared
/// by all calls, so a module's whole run is bounded.
pub const SMITH_FUEL: u32 = 10_000;

/// wasm-smith's configuration for modules both engines run: the WebAssembly 2.0
/// features the stepper supports (MVP, sign extension, saturating conversions,
/// multi-value, bulk memory, reference types) and nothing else, no imports,
/// everything exported, canonical NaNs (NaN bits are otherwise nondeterministic),
/// and sizes small enough for debug builds.
pub fn smith_config() -> wasm_smith::Config {
    wasm_smith::Config {
        // The features of WebAssembly 2.0 without SIMD.
        sign_extension_ops_enabled: true,
        saturating_float_to_int_enabled: true,
        multi_value_enabled: true,
        bulk_memory_enabled: true,
        reference_types_enabled: true,
        // Everything else is off.
        simd_enabled: false,
        relaxed_simd_enabled: false,
        threads_enabled: false,
        shared_everything_threads_enabled: false,
        tail_call_enabled: false,
        exceptions_enabled: false,
        gc_enabled: false,
        custom_descriptors_enabled: false,
        memory64_enabled: false,
        custom_page_sizes_enabled: false,
        wide_arithmetic_enabled: false,
        extended_const_enabled: false,
        compact_imports_enabled: false,
        acquire_release_atomics_enabled: false,
        multibyte_array_access_enabled: false,
        max_memories: 1,
        // Several tables are 2.0 (reference types).
        max_tables: 4,
        // Shape: self-contained, observable, bounded.
        max_imports: 0,
        export_everything: true,
        allow_start_export: true,
        canonicalize_nans: true,
        max_memory32_bytes: 16 * stepper::store::PAGE_SIZE as u64,
        max_table_elements: 1000,
        min_types: 1,
        min_funcs: 2,
        max_funcs: 30,
        max_instructions: 100,
        ..wasm_smith::Config::default()
    }
}

/// Input bytes for [`smith_module`] from a seed: 4 to 32 KiB from a xorshift
/// generator, so that a test case is reproduced from its seed alone.
pub fn seeded_bytes(seed: u64) -> Vec<u8> {
    // splitmix64 spreads neighbouring seeds apart; xorshift64* fills the buffer.
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    let mut state = (z ^ (z >> 31)) | 1;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let len = 4096 + (next() % (28 * 1024)) as usize;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        bytes.extend_from_slice(&next().to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// A module generated by wasm-smith from `data` with [`smith_config`], its functions
/// made to terminate with [`SMITH_FUEL`].
///
/// wasm-smith's `disallow_traps` (guarding the instructions that could trap, so that
/// modules run deeper) stays off: its guards, `select`s on `i32.eqz`, hit a wasmi
/// 2.0.0 miscompilation. A `select` whose condition is a fused comparison picks the
/// wrong operand when an earlier i32 result sits in wasmi's register, e.g.
/// `(drop (i32.add (local.get 0) (i32.const 1))) (select (i64.const 1) (i64.const 5)
/// (i32.eqz (local.get 1)))` returns 5 for `local 1 = 0` (wasmi 1.1 returns 1).
pub fn smith_module(data: &[u8]) -> arbitrary::Result<Vec<u8>> {
    smith_module_with(data, smith_config())
}

/// [`smith_module`] with another generator configuration.
pub fn smith_module_with(data: &[u8], config: wasm_smith::Config) -> arbitrary::Result<Vec<u8>> {
    let mut u = arbitrary::Unstructured::new(data);
    let mut module = wasm_smith::Module::new(config, &mut u)?;
    module.ensure_termination(SMITH_FUEL).map_err(|_| arbitrary::Error::IncorrectFormat)?;
    Ok(module.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROGRAM: &[u8] = br#"(module
        (import "verigame" "emit" (func $emit (param i64)))
        (import "verigame" "abort" (func $abort (param i32)))
        (memory (export "mem") 1)
        (global $count (export "count") (mut i32) (i32.const 0))
        (global (export "nan") f32 (f32.const nan:0x200001))
        (global (export "fn") funcref (ref.func $swap))
        (table (export "tab") 2 funcref)
        (elem (i32.const 1) func $swap)
        (func $swap (export "swap") (param i32 i64) (result i64 i32) local.get 1 local.get 0)
        (func (export "run") (param i64)
            (global.set $count (i32.add (global.get $count) (i32.const 1)))
            (i64.store (i32.const 8) (local.get 0))
            (call $emit (local.get 0)))
        (func (export "fail") (call $abort (i32.const 7)))
        (func (export "div") (param i32) (result i32) (i32.div_u (i32.const 1) (local.get 0)))
        (func (export "ext") (param externref) (result externref) local.get 0)
        (func $deep (export "zdeep") (call $deep)))"#;

    #[test]
    fn calls_report_results_traps_and_state() {
        let mut r = Reference::new(PROGRAM).unwrap();
        assert_eq!(
            r.call("swap", &[Value::I32(1), Value::I64(2)]).unwrap(),
            Outcome::Returned(vec![Value::I64(2), Value::I32(1)])
        );
        assert_eq!(r.func_type("swap"), Some((vec![ValType::I32, ValType::I64], vec![ValType::I64, ValType::I32])));
        assert_eq!(r.func_type("nope"), None);

        assert_eq!(r.call("run", &[Value::I64(0x0102)]).unwrap(), Outcome::Returned(vec![]));
        assert_eq!(r.emitted(), &[0x0102]);
        assert_eq!(&r.memory().unwrap()[8..10], &[2, 1]);
        let globals = r.exported_globals();
        assert_eq!(globals[0], ("count".into(), Value::I32(1)));
        assert_eq!(globals[1], ("fn".into(), Value::FuncRef(Some(0))));
        assert_eq!(globals[2], ("nan".into(), Value::F32(0x7fa0_0001)), "NaN payloads survive");
        assert_eq!(r.exported_tables(), vec![("tab".into(), vec![Value::FuncRef(None), Value::FuncRef(Some(0))])]);

        let aborted = r.call("fail", &[]).unwrap();
        assert_eq!(aborted.to_string(), "trapped: aborted by the program with code 7");
        assert_eq!(r.last_trap(), Some(Trap::Aborted(7)));
        assert!(matches!(r.call("div", &[Value::I32(0)]).unwrap(), Outcome::Trapped(_)));
        assert_eq!(r.last_trap(), Some(Trap::IntegerDivideByZero));
        let returned = r.call("div", &[Value::I32(1)]).unwrap();
        assert_eq!(returned, Outcome::Returned(vec![Value::I32(1)]));
        assert_eq!(returned.to_string(), "returned [1]");
        assert_eq!(r.last_trap(), None);
        assert!(matches!(r.call("zdeep", &[]).unwrap(), Outcome::Trapped(_)));
        assert_eq!(r.last_trap(), Some(Trap::CallStackExhausted));

        let x = Value::ExternRef(Some(42));
        assert_eq!(r.call("ext", &[x]).unwrap(), Outcome::Returned(vec![x]));
    }

    #[test]
    fn bad_calls_and_modules_are_errors() {
        let mut r = Reference::new(PROGRAM).unwrap();
        assert!(r.call("missing", &[]).is_err());
        assert!(r.call("swap", &[Value::I32(1)]).is_err(), "too few arguments");
        assert!(r.call("swap", &[Value::I64(1), Value::I32(2)]).is_err(), "wrong types");
        assert!(r.call("ext", &[Value::FuncRef(Some(1))]).is_err());

        let err = |wasm: &[u8]| Reference::new(wasm).unwrap_err().downcast::<LoadError>().unwrap();
        assert!(matches!(err(b"(module (func"), LoadError::Invalid(_)));
        assert!(matches!(err(b"\0asm\x01\0\0\0\x01"), LoadError::Invalid(_)));
        assert!(matches!(err(b"(module (func (result i32)))"), LoadError::Invalid(_)));
        assert!(matches!(err(b"(module (func (drop (i8x16.splat (i32.const 0)))))"), LoadError::Invalid(_)), "no SIMD");
        assert!(matches!(err(b"(module (func (return_call 0)))"), LoadError::Invalid(_)), "no tail calls");
        assert!(matches!(err(b"(module (memory 1) (memory 1))"), LoadError::Invalid(_)), "one memory");
        assert!(
            matches!(err(b"(module (global i32 (i32.add (i32.const 1) (i32.const 2))))"), LoadError::Invalid(_)),
            "no extended constant expressions"
        );
        assert!(matches!(err(b"(module (import \"env\" \"f\" (func)))"), LoadError::Failed(_)));
        assert!(matches!(err(b"(module (memory 65537))"), LoadError::Invalid(_)));
        let limited = Config { max_memory_pages: 2, ..Config::default() };
        let e = Reference::with_config(b"(module (memory 3))", &limited).unwrap_err();
        assert!(matches!(e.downcast_ref::<LoadError>(), Some(LoadError::Failed(_))));
        assert!(matches!(
            err(b"(module (func unreachable) (start 0))"),
            LoadError::Trapped { kind: Some(Trap::Unreachable), .. }
        ));
        assert!(matches!(
            err(b"(module (memory 1) (data (i32.const 65535) \"ab\"))"),
            LoadError::Trapped { kind: Some(Trap::MemoryOutOfBounds), .. }
        ));
        assert!(matches!(
            err(b"(module (table 1 funcref) (func) (elem (i32.const 1) func 0))"),
            LoadError::Trapped { kind: Some(Trap::TableOutOfBounds), .. }
        ));
    }

    #[test]
    fn growth_respects_the_configured_limits() {
        let wat = br#"(module (memory (export "m") 1) (table (export "t") 1 funcref)
            (func (export "grow") (result i32 i32 i32 i32)
                (memory.grow (i32.const 1)) (memory.grow (i32.const 1))
                (table.grow (ref.null func) (i32.const 2)) (table.grow (ref.null func) (i32.const 1))))"#;
        let config = Config { max_memory_pages: 2, max_table_elements: 3, ..Config::default() };
        let mut r = Reference::with_config(wat, &config).unwrap();
        let grown = vec![Value::I32(1), Value::I32(-1), Value::I32(1), Value::I32(-1)];
        assert_eq!(r.call("grow", &[]).unwrap(), Outcome::Returned(grown));
        let opts = CompareOptions { config, ..CompareOptions::default() };
        assert_eq!(compare_engines(&wat::parse_bytes(wat).unwrap(), &opts).unwrap().calls, 1);
    }

    #[test]
    fn the_engines_agree_on_a_program() {
        let wasm = wat::parse_bytes(PROGRAM).unwrap();
        let c = compare_engines(&wasm, &CompareOptions::default()).unwrap();
        assert_eq!(c.calls, 5);
        // fail, div by zero; zdeep (called last) exhausts the call stack and stops the comparison.
        assert_eq!(c.traps, 2);
        assert!(c.stopped_early.unwrap().contains("\"zdeep\""));
    }

    #[test]
    fn the_comparison_classifies_modules() {
        // A small step budget keeps the endless loops short in debug builds.
        let opts = CompareOptions { max_steps: 100_000, ..CompareOptions::default() };
        let cmp = |text: &str| compare_engines(&wat::parse_bytes(text.as_bytes()).unwrap(), &opts);
        assert!(compare_engines(b"\0asm\x01\0\0\0\x01", &opts).unwrap().invalid);
        assert!(cmp("(module (func unreachable) (start 0))").unwrap().instantiation_failed);
        assert!(cmp("(module (import \"env\" \"f\" (func)))").unwrap().instantiation_failed);
        let c = cmp(r#"(module (func (export "spin") (loop (br 0))))"#).unwrap();
        assert!(c.stopped_early.unwrap().contains("step budget"));
        let c = cmp(r#"(module (func $spin (loop (br 0))) (start $spin))"#).unwrap();
        assert!(c.stopped_early.unwrap().contains("start function"));
    }

    #[test]
    fn a_crash_of_the_reference_engine_is_not_a_mismatch() {
        // wasmi 2.0.0 panics compiling this; once it does not, this test says so.
        let wat = br#"(module (memory 1) (func (export "f") (param i32)
            (i32.store offset=70000 (local.tee 0 (i32.load8_u (local.get 0))) (local.get 0))))"#;
        let wasm = wat::parse_bytes(wat).unwrap();
        let c = compare_engines(&wasm, &CompareOptions::default()).unwrap();
        assert!(c.reference_crashed.is_some(), "wasmi no longer crashes: update the docs ({c:?})");
        let e = Reference::new(&wasm).unwrap_err();
        assert!(matches!(e.downcast_ref::<LoadError>(), Some(LoadError::Crashed(_))));
    }

    #[test]
    fn generated_modules_are_valid_for_both_engines() {
        for seed in 0u8..20 {
            let data: Vec<u8> = (0..4096u32).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
            let wasm = smith_module(&data).unwrap();
            let c = compare_engines(&wasm, &CompareOptions::default()).unwrap();
            assert!(!c.invalid);
        }
    }
}
