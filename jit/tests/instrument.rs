//! The instrumented module, run by wasmi, counts exactly the stepper's steps and gas, ends
//! with the stepper's results, memory and globals, and traps wherever the stepper does not
//! return.

use std::sync::Arc;

use jit::instrument::{self, instrument, Instrumented};
use stepper::module::ExportKind;
use stepper::{Config, Extern, GasTable, Machine, Module, Status, ValType, Value};

/// What the instrumented module did on wasmi.
#[derive(Debug)]
enum Outcome {
    Returned { steps: u64, gas: u64, results: Vec<(ValType, u64)>, memory: Vec<u8>, globals: Vec<u64> },
    Trapped { bail: i32, why: String },
}

fn engine() -> wasmi::Engine {
    let mut config = wasmi::Config::default();
    config.set_max_recursion_depth(100_000);
    wasmi::Engine::new(&config)
}

/// A value as a type and bits; references compare by nullness only.
fn bits_of_stepper(v: &Value) -> (ValType, u64) {
    match *v {
        Value::I32(x) => (ValType::I32, x as u32 as u64),
        Value::I64(x) => (ValType::I64, x as u64),
        Value::F32(x) => (ValType::F32, x as u64),
        Value::F64(x) => (ValType::F64, x),
        Value::FuncRef(r) => (ValType::FuncRef, r.is_some() as u64),
        Value::ExternRef(r) => (ValType::ExternRef, r.is_some() as u64),
    }
}

fn bits_of_wasmi(v: &wasmi::Val) -> (ValType, u64) {
    match v {
        wasmi::Val::I32(x) => (ValType::I32, *x as u32 as u64),
        wasmi::Val::I64(x) => (ValType::I64, *x as u64),
        wasmi::Val::F32(x) => (ValType::F32, x.to_bits() as u64),
        wasmi::Val::F64(x) => (ValType::F64, x.to_bits()),
        wasmi::Val::FuncRef(r) => (ValType::FuncRef, (!r.is_null()) as u64),
        wasmi::Val::ExternRef(r) => (ValType::ExternRef, (!r.is_null()) as u64),
        wasmi::Val::V128(_) => panic!("no SIMD"),
    }
}

fn to_wasmi(v: &Value) -> wasmi::Val {
    match *v {
        Value::I32(x) => wasmi::Val::I32(x),
        Value::I64(x) => wasmi::Val::I64(x),
        Value::F32(x) => wasmi::Val::F32(wasmi::F32::from_bits(x)),
        Value::F64(x) => wasmi::Val::F64(wasmi::F64::from_bits(x)),
        Value::FuncRef(None) => wasmi::Val::default_for_ty(wasmi::ValType::FuncRef),
        Value::ExternRef(None) => wasmi::Val::default_for_ty(wasmi::ValType::ExternRef),
        _ => panic!("only null references as arguments"),
    }
}

/// A stepper instance and the instrumented module, kept in step as an engine would: before
/// each call, wasmi gets the stepper's memory and mutable globals.
struct Pair {
    module: Arc<Module>,
    machine: Machine,
    instance: u32,
    inst: Instrumented,
    config: Config,
}

impl Pair {
    fn new(bytes: &[u8], config: Config) -> Option<Self> {
        let module = Module::new(bytes).ok()?;
        let (machine, instance) = Machine::load(&module, config.clone()).ok()?;
        let inst = match instrument(bytes, &config) {
            Ok(i) => i,
            Err(e) => {
                println!("refused: {e}");
                return None;
            }
        };
        Some(Self { module, machine, instance, inst, config })
    }

    fn stepper_memory(&self) -> Vec<u8> {
        let inst = &self.machine.store().instances[self.instance as usize];
        inst.memory.map_or_else(Vec::new, |m| self.machine.store().memories[m as usize].data().to_vec())
    }

    fn stepper_globals(&self) -> Vec<u64> {
        let inst = &self.machine.store().instances[self.instance as usize];
        self.inst
            .mutable_globals
            .iter()
            .map(|&i| bits_of_stepper(&self.machine.global(inst.globals[i as usize])).1)
            .collect()
    }

    /// Runs `name(args)` on the stepper.
    fn run_stepper(&mut self, name: &str, args: &[Value]) -> Status {
        let Some(Extern::Func(f)) = self.machine.export(self.instance, name) else { panic!("no export {name}") };
        self.machine.invoke(f, args).unwrap();
        self.machine.run(u64::MAX)
    }

    /// Runs `name(args)` on the instrumented module, from the stepper's current state.
    fn run_instrumented(&self, name: &str, args: &[Value]) -> Outcome {
        let engine = engine();
        let module = wasmi::Module::new(&engine, &self.inst.bytes[..]).expect("the instrumented module is valid");
        let mut store = wasmi::Store::new(&engine, ());
        let linker = wasmi::Linker::<()>::new(&engine);
        let instance = linker.instantiate_and_start(&mut store, &module).expect("instantiates");
        // The stepper's state, as the engine would bring it.
        let memory = self.stepper_memory();
        if let Some(mem) = instance.get_memory(&store, instrument::MEMORY) {
            let pages = memory.len() as u64 / 65536;
            let have = mem.size(&store);
            assert!(have <= pages);
            mem.grow(&mut store, pages - have).unwrap();
            mem.data_mut(&mut store)[..memory.len()].copy_from_slice(&memory);
        }
        let inst = &self.machine.store().instances[self.instance as usize];
        for &i in &self.inst.mutable_globals {
            let v = self.machine.global(inst.globals[i as usize]);
            let g = instance.get_global(&store, &instrument::global_export(i)).unwrap();
            let v = match v {
                Value::FuncRef(_) | Value::ExternRef(_) => continue,
                v => to_wasmi(&v),
            };
            g.set(&mut store, v).unwrap();
        }
        let set = |store: &mut wasmi::Store<()>, name: &str, v: wasmi::Val| {
            instance.get_global(&*store, name).unwrap().set(store, v).unwrap();
        };
        set(&mut store, instrument::STEPS, wasmi::Val::I64(0));
        set(&mut store, instrument::GAS, wasmi::Val::I64(0));
        set(&mut store, instrument::GAS_LIMIT, wasmi::Val::I64(self.config.gas_limit as i64));
        set(&mut store, instrument::DEPTH, wasmi::Val::I32(0));
        set(&mut store, instrument::BAIL, wasmi::Val::I32(0));
        let func = instance.get_func(&store, name).unwrap();
        let ty = func.ty(&store);
        let mut results: Vec<wasmi::Val> = ty.results().iter().map(|&t| wasmi::Val::default_for_ty(t)).collect();
        let args: Vec<wasmi::Val> = args.iter().map(to_wasmi).collect();
        let get = |store: &wasmi::Store<()>, name: &str| instance.get_global(store, name).unwrap().get(store);
        match func.call(&mut store, &args, &mut results) {
            Ok(()) => {
                let wasmi::Val::I64(steps) = get(&store, instrument::STEPS) else { panic!() };
                let wasmi::Val::I64(gas) = get(&store, instrument::GAS) else { panic!() };
                let wasmi::Val::I32(bail) = get(&store, instrument::BAIL) else { panic!() };
                let wasmi::Val::I32(depth) = get(&store, instrument::DEPTH) else { panic!() };
                assert_eq!((bail, depth), (0, 0), "a completed call leaves no bail and depth 0");
                let memory =
                    instance.get_memory(&store, instrument::MEMORY).map_or_else(Vec::new, |m| m.data(&store).to_vec());
                let globals = self
                    .inst
                    .mutable_globals
                    .iter()
                    .map(|&i| bits_of_wasmi(&get(&store, &instrument::global_export(i))).1)
                    .collect();
                Outcome::Returned {
                    steps: steps as u64,
                    gas: gas as u64,
                    results: results.iter().map(bits_of_wasmi).collect(),
                    memory,
                    globals,
                }
            }
            Err(e) => {
                let wasmi::Val::I32(bail) = get(&store, instrument::BAIL) else { panic!() };
                Outcome::Trapped { bail, why: e.to_string() }
            }
        }
    }

    /// Runs the call both ways and checks they agree. Returns the stepper's status.
    fn check(&mut self, name: &str, args: &[Value], what: &str) -> Status {
        let outcome = self.run_instrumented(name, args);
        let status = self.run_stepper(name, args);
        match (status, outcome) {
            (Status::Returned, Outcome::Returned { steps, gas, results, memory, globals }) => {
                assert_eq!(steps, self.machine.steps(), "{what}: steps");
                assert_eq!(gas, self.machine.gas_used(), "{what}: gas");
                let expected: Vec<_> = self.machine.results().iter().map(bits_of_stepper).collect();
                assert_eq!(results, expected, "{what}: results");
                assert!(memory == self.stepper_memory(), "{what}: memory differs");
                assert_eq!(globals, self.stepper_globals(), "{what}: globals");
            }
            (Status::Returned, Outcome::Trapped { bail, why }) => {
                panic!(
                    "{what}: the stepper returned after {} steps, the instrumented run trapped (bail {bail}): {why}",
                    self.machine.steps()
                )
            }
            (status, Outcome::Returned { steps, gas, .. }) => {
                panic!("{what}: the stepper ended {status:?} after {} steps, the instrumented run returned ({steps} steps, {gas} gas)", self.machine.steps())
            }
            (_, Outcome::Trapped { .. }) => {}
        }
        status
    }
}

fn program(file: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/programs").join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

const PROGRAMS: &[(&str, &str, &[i32])] = &[
    ("fib.wasm", "fib_rec", &[0, 1, 2, 14, 20]),
    ("fib.wasm", "fib_iter", &[0, 1, 300, 100_000]),
    ("sort.wasm", "sort_checksum", &[0, 1, 40, 1000]),
    ("matmul.wasm", "matmul_trace", &[0, 1, 8, 20]),
    ("matmul.wasm", "mandel", &[0, 6, 32]),
    ("memops.wasm", "memops", &[0, 1, 4, 20]),
    ("sha256.wasm", "sha256_rounds", &[0, 1, 3]),
    ("sha256.wasm", "sha256_selftest", &[3]),
    ("dispatch.wasm", "run_vm", &[0, 1, 3]),
];

fn check_programs(config: &Config, label: &str) {
    for &(file, export, args) in PROGRAMS {
        let bytes = program(file);
        let mut pair = Pair::new(&bytes, config.clone()).unwrap_or_else(|| panic!("{file} is instrumented"));
        for &arg in args {
            let what = format!("{label}: {file} {export}({arg})");
            let status = pair.check(export, &[Value::I32(arg)], &what);
            assert_eq!(status, Status::Returned, "{what}");
        }
    }
}

#[test]
fn programs_default_config() {
    check_programs(&Config::default(), "default");
}

#[test]
fn programs_non_uniform_gas() {
    let config = Config { gas: GasTable { costs: [1, 5, 1, 2, 2, 1, 3, 4, 6, 9] }, ..Config::default() };
    check_programs(&config, "non-uniform gas");
}

#[test]
fn programs_chunk_sizes() {
    for chunk in [1, 64, 65536] {
        let config = Config {
            memory_chunk_size: chunk,
            gas: GasTable { costs: [2, 3, 1, 1, 1, 1, 1, 1, 7, 1] },
            ..Config::default()
        };
        check_programs(&config, &format!("chunk {chunk}"));
    }
}

/// Out of gas at every limit around the program's need: trapped exactly when the stepper
/// runs out.
#[test]
fn programs_gas_limits() {
    let bytes = program("memops.wasm");
    let costs = [1, 5, 1, 2, 2, 1, 3, 4, 6, 9];
    let full = {
        let config = Config { gas: GasTable { costs }, memory_chunk_size: 64, ..Config::default() };
        let mut pair = Pair::new(&bytes, config).unwrap();
        pair.check("memops", &[Value::I32(2)], "full");
        pair.machine.gas_used()
    };
    for limit in (full - 40..=full + 2).chain([0, 1, 10, full / 2, full / 3]) {
        let config = Config { gas: GasTable { costs }, memory_chunk_size: 64, gas_limit: limit, ..Config::default() };
        let mut pair = Pair::new(&bytes, config).unwrap();
        let status = pair.check("memops", &[Value::I32(2)], &format!("gas limit {limit}"));
        assert_eq!(status == Status::Returned, limit >= full, "limit {limit}");
    }
}

/// Hand-written control flow: every export is called with a few arguments.
const CONTROL: &str = r#"(module
  (memory 1 3)
  (global $g (mut i32) (i32.const 7))
  (table 2 funcref)
  (elem (i32.const 0) $sq $neg)
  (type $un (func (param i32) (result i32)))
  (func $sq (type $un) (i32.mul (local.get 0) (local.get 0)))
  (func $neg (type $un) (i32.sub (i32.const 0) (local.get 0)))
  (func (export "if_else") (param i32) (result i32)
    (if (result i32) (local.get 0) (then (i32.const 10)) (else (i32.const 20))))
  (func (export "if_no_else") (param i32) (result i32)
    (local i32)
    (if (local.get 0) (then (local.set 1 (i32.const 5))))
    (local.get 1))
  (func (export "br_block") (param i32) (result i32)
    (block $b (result i32)
      (i32.const 1)
      (br_if $b (local.get 0))
      (drop)
      (i32.const 2)
      (br $b)
      (i32.const 3)))
  (func (export "br_loop") (param i32) (result i32)
    (local i32)
    (loop $l
      (local.set 1 (i32.add (local.get 1) (local.get 0)))
      (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
      (br_if $l (i32.gt_s (local.get 0) (i32.const 0))))
    (local.get 1))
  (func (export "br_func") (param i32) (result i32)
    (block (block (block
      (drop (br_if 3 (i32.const 42) (local.get 0)))
      (drop (i32.const 1)))))
    (i32.const 9))
  (func (export "br_func_plain") (param i32) (result i32)
    (i32.const 42)
    (br 0))
  (func (export "return_nested") (param i32) (result i32)
    (block (loop (block
      (if (local.get 0) (then (return (i32.const 11))))
      (br 2))))
    (i32.const 12))
  (func (export "br_table") (param i32) (result i32)
    (block $d (block $c (block $b (block $a
      (br_table $a $b $c $d (local.get 0)))
      (return (i32.const 100)))
      (return (i32.const 101)))
      (return (i32.const 102)))
    (i32.const 103))
  (func (export "br_table_values") (param i32) (result i32)
    (block $out (result i32)
      (block $x (result i32)
        (i32.const 5)
        (local.get 0)
        (br_table $x $out))
      (i32.const 1)
      (i32.add)))
  (func (export "br_if_values") (param i32) (result i32 i32)
    (block $b (result i32 i32)
      (i32.const 1) (i32.const 2)
      (br_if $b (local.get 0))
      (i32.add) (i32.const 3)))
  (func (export "loop_values") (param i32) (result i32)
    (i32.const 0)
    (loop $l (param i32) (result i32)
      (i32.add (i32.const 2))
      (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
      (i32.gt_s (local.get 0) (i32.const 0))
      (if (param i32) (result i32) (then (br $l)) (else))))
  (func $rec (export "rec") (param i32) (result i32)
    (if (result i32) (i32.le_s (local.get 0) (i32.const 0))
      (then (i32.const 0))
      (else (i32.add (local.get 0) (call $rec (i32.sub (local.get 0) (i32.const 1)))))))
  (func (export "indirect") (param i32) (result i32)
    (call_indirect (type $un) (i32.const 6) (local.get 0)))
  (func (export "globals") (param i32) (result i32)
    (global.set $g (i32.add (global.get $g) (local.get 0)))
    (global.get $g))
  (func (export "trap_unreachable") (param i32) (result i32)
    (if (local.get 0) (then unreachable))
    (i32.const 1))
  (func (export "trap_div") (param i32) (result i32)
    (i32.div_s (i32.const 10) (local.get 0)))
  (func (export "grow") (param i32) (result i32)
    (memory.grow (local.get 0)))
  (func (export "fill") (param i32) (result i32)
    (memory.fill (i32.mul (local.get 0) (i32.const 13)) (i32.const 0xab) (i32.mul (local.get 0) (i32.const 97)))
    (i32.load8_u (i32.const 50)))
  (func (export "copy_up") (param i32) (result i32)
    (memory.copy (i32.add (local.get 0) (i32.const 7)) (local.get 0) (i32.const 3000))
    (i32.load (i32.const 100)))
  (func (export "copy_down") (param i32) (result i32)
    (memory.copy (local.get 0) (i32.add (local.get 0) (i32.const 1030)) (i32.const 2100))
    (i32.load (i32.const 100)))
  (func (export "copy_oob") (param i32)
    (memory.copy (i32.const 65000) (i32.const 0) (local.get 0)))
  (data $p "a passive segment of sixty-four bytes or so, for memory.init....")
  (func (export "init") (param i32) (result i32)
    (memory.init $p (i32.mul (local.get 0) (i32.const 37)) (i32.const 1) (i32.mul (local.get 0) (i32.const 12)))
    (i32.load (i32.const 40)))
  (func (export "nop_select") (param i32) (result i32)
    nop
    (select (i32.const 1) (i32.const 2) (local.get 0)))
)"#;

#[test]
fn control_forms() {
    let configs = [
        Config { gas_limit: 1_000_000, ..Config::default() },
        Config { gas: GasTable { costs: [1, 5, 1, 2, 2, 1, 3, 4, 6, 9] }, memory_chunk_size: 64, ..Config::default() },
        Config { gas: GasTable { costs: [3, 0, 1, 2, 0, 1, 3, 4, 1, 9] }, memory_chunk_size: 1, ..Config::default() },
        Config { max_memory_pages: 2, memory_chunk_size: 65536, ..Config::default() },
    ];
    let module = Module::new(CONTROL.as_bytes()).unwrap();
    let exports: Vec<String> =
        module.exports.iter().filter(|(_, k, _)| *k == ExportKind::Func).map(|(n, _, _)| n.clone()).collect();
    let mut returned = 0;
    for config in configs {
        let mut pair = Pair::new(CONTROL.as_bytes(), config.clone()).expect("instrumented");
        for name in &exports {
            for arg in [0, 1, 2, 3, 4, 5, 70, -1] {
                let what = format!("{name}({arg}) under {config:?}");
                if pair.check(name, &[Value::I32(arg)], &what) == Status::Returned {
                    returned += 1;
                }
            }
        }
    }
    assert!(returned > 400, "{returned}");
}

#[test]
fn limits_trap() {
    // Call depth: the stepper traps at max_call_depth frames; so does the instrumented run.
    for depth in [1u32, 2, 5, 10, 50] {
        let config = Config { max_call_depth: depth, ..Config::default() };
        let mut pair = Pair::new(CONTROL.as_bytes(), config).unwrap();
        for n in 0..depth as i32 + 3 {
            pair.check("rec", &[Value::I32(n)], &format!("rec({n}) at max depth {depth}"));
        }
    }
    // The value stack: conservative, so only the stepper's traps are checked to bail.
    for stack in [1u32, 3, 10, 40, 100] {
        let config = Config { max_value_stack: stack, ..Config::default() };
        let mut pair = Pair::new(CONTROL.as_bytes(), config).unwrap();
        for n in 0..8 {
            let outcome = pair.run_instrumented("rec", &[Value::I32(n)]);
            let status = pair.run_stepper("rec", &[Value::I32(n)]);
            if status != Status::Returned {
                assert!(matches!(outcome, Outcome::Trapped { .. }), "rec({n}) with stack {stack}");
            }
        }
    }
}

#[test]
fn refused() {
    let cases = [
        ("(module (table 1 funcref) (func (table.set (i32.const 0) (ref.null func))))", "table"),
        ("(module (table 1 funcref) (func (drop (table.grow (ref.null func) (i32.const 1)))))", "table"),
        ("(module (memory 1) (data \"x\") (func (data.drop 0)))", "drop"),
        ("(module (import \"env\" \"f\" (func)))", "import"),
        ("(module (memory 1) (memory 1))", ""),
        ("(module (func (export \"__vg_steps\")))", "prefix"),
    ];
    for (wat, why) in cases {
        let e = instrument(wat.as_bytes(), &Config::default()).expect_err(wat);
        assert!(e.0.contains(why), "{wat}: {e}");
    }
    let config = Config { gas: GasTable::uniform(1 << 40), ..Config::default() };
    assert!(instrument(b"(module)", &config).is_err());
}

/// Host imports are kept as they are, and counted as one step of their class.
#[test]
fn imports_are_kept() {
    let wat = r#"(module
      (import "verigame" "emit" (func $emit (param i64)))
      (func (export "f") (call $emit (i64.const 1))))"#;
    let inst = instrument(wat.as_bytes(), &Config::default()).unwrap();
    let module = wasmparser::Parser::new(0).parse_all(&inst.bytes).find_map(|p| match p.unwrap() {
        wasmparser::Payload::ImportSection(r) => Some(r.into_imports().next().unwrap().unwrap().name.to_string()),
        _ => None,
    });
    assert_eq!(module.as_deref(), Some("emit"));
}

// ---------------------------------------------------------------------------------------
// wasm-smith modules.

fn smith_config(bulk: bool) -> wasm_smith::Config {
    wasm_smith::Config {
        sign_extension_ops_enabled: true,
        saturating_float_to_int_enabled: true,
        multi_value_enabled: true,
        bulk_memory_enabled: bulk,
        reference_types_enabled: false,
        simd_enabled: false,
        relaxed_simd_enabled: false,
        threads_enabled: false,
        tail_call_enabled: false,
        exceptions_enabled: false,
        gc_enabled: false,
        memory64_enabled: false,
        custom_page_sizes_enabled: false,
        wide_arithmetic_enabled: false,
        extended_const_enabled: false,
        max_memories: 1,
        max_tables: 1,
        max_imports: 0,
        export_everything: true,
        allow_start_export: true,
        canonicalize_nans: true,
        max_memory32_bytes: 4 * 65536,
        max_table_elements: 100,
        min_funcs: 2,
        max_funcs: 20,
        max_instructions: 100,
        ..wasm_smith::Config::default()
    }
}

fn seeded_bytes(seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let len = 2048 + (next() % (16 * 1024)) as usize;
    (0..len.div_ceil(8)).flat_map(|_| next().to_le_bytes()).take(len).collect()
}

fn smith_module(seed: u64) -> Option<Vec<u8>> {
    let data = seeded_bytes(seed);
    let mut u = arbitrary::Unstructured::new(&data);
    let mut module = wasm_smith::Module::new(smith_config(!seed.is_multiple_of(3)), &mut u).ok()?;
    module.ensure_termination(2_000).ok()?;
    Some(module.to_bytes())
}

fn zero_args(module: &Module, func: u32, seed: u64) -> Vec<Value> {
    module
        .func_type(func)
        .params
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let x = (seed >> (i % 8 * 8)) as i32 % 5;
            match t {
                ValType::I32 => Value::I32(x),
                ValType::I64 => Value::I64(x as i64),
                ValType::F32 => Value::F32((x as f32).to_bits()),
                ValType::F64 => Value::F64((x as f64).to_bits()),
                ValType::FuncRef => Value::FuncRef(None),
                ValType::ExternRef => Value::ExternRef(None),
            }
        })
        .collect()
}

#[test]
fn smith_modules() {
    let cases: u64 = std::env::var("SMITH_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(600);
    let (mut modules, mut refused, mut calls, mut returned, mut stopped) = (0, 0, 0, 0, 0);
    for seed in 0..cases {
        let Some(bytes) = smith_module(seed) else { continue };
        let costs = if seed % 2 == 0 { [1; 10] } else { [1, 5, 1, 2, 2, 1, 3, 4, 6, 9] };
        let config = Config {
            gas_limit: [300, 3_000, 50_000, 1_000_000, 20_000_000][seed as usize % 5],
            gas: GasTable { costs },
            memory_chunk_size: [1, 64, 512, 65536][(seed / 4) as usize % 4],
            max_call_depth: 300,
            max_memory_pages: [1, 3, 65536][(seed / 16) as usize % 3],
            ..Config::default()
        };
        let Ok(module) = Module::new(&bytes) else { continue };
        if Machine::load(&module, config.clone()).is_err() {
            continue;
        }
        let Some(mut pair) = Pair::new(&bytes, config) else {
            refused += 1;
            continue;
        };
        modules += 1;
        let funcs: Vec<(String, u32)> = pair
            .module
            .exports
            .iter()
            .filter(|(_, k, _)| *k == ExportKind::Func)
            .map(|(n, _, i)| (n.clone(), *i))
            .collect();
        for (name, func) in funcs {
            for k in 0..2 {
                let args = zero_args(&pair.module.clone(), func, seed.wrapping_mul(k + 1));
                calls += 1;
                match pair.check(&name, &args, &format!("seed {seed}: {name} {args:?}")) {
                    Status::Returned => returned += 1,
                    _ => stopped += 1,
                }
            }
        }
    }
    eprintln!(
        "{modules} modules ({refused} refused), {calls} calls: {returned} returned, {stopped} trapped or out of gas"
    );
    assert!(modules > cases / 3 && returned > cases / 10, "too few cases ran");
}
