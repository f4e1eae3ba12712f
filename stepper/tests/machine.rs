//! Behaviour of the stepping machine: step granularity, halting, gas, limits,
//! bounded bulk sub-steps and determinism.

use stepper::{Config, Extern, GasTable, Machine, Module, Status, Trap, Value};

fn machine(wat: &str, config: Config) -> (Machine, u32) {
    let module = Module::new(wat.as_bytes()).expect("test module compiles");
    Machine::load(&module, config).expect("test module instantiates")
}

fn call(machine: &mut Machine, instance: u32, name: &str, args: &[Value]) {
    let Some(Extern::Func(f)) = machine.export(instance, name) else { panic!("no export {name}") };
    machine.invoke(f, args).unwrap();
}

fn run(wat: &str, name: &str, args: &[Value], config: Config) -> Machine {
    let (mut m, i) = machine(wat, config);
    call(&mut m, i, name, args);
    m.run(u64::MAX);
    m
}

/// The observable state, for comparing machines.
type State = (Vec<u64>, Vec<stepper::Frame>, u32, u64, u64, Status, Vec<Vec<u8>>, Vec<u64>);

fn state(m: &Machine) -> State {
    (
        m.stack().to_vec(),
        m.frames().to_vec(),
        m.pc(),
        m.steps(),
        m.gas_used(),
        m.status(),
        m.store().memories.iter().map(|mem| mem.data().to_vec()).collect(),
        m.store().globals.iter().map(|g| g.value).collect(),
    )
}

const LOOP_SUM: &str = r#"(module
  (memory (export "mem") 1)
  (global $g (mut i32) (i32.const 0))
  (func (export "sum") (param $n i32) (result i32) (local $acc i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $acc (i32.add (local.get $acc) (local.get $n)))
        (i32.store (i32.mul (local.get $n) (i32.const 4)) (local.get $acc))
        (global.set $g (local.get $n))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $acc)))"#;

#[test]
fn every_instruction_is_one_step() {
    let wat = r#"(module (func (export "f") (result i32)
        (block (result i32) (i32.const 1) (i32.const 2) (i32.add))))"#;
    let (mut m, i) = machine(wat, Config::default());
    call(&mut m, i, "f", &[]);
    // block, i32.const, i32.const, i32.add, end (block), end (function)
    for expected in 1..=5 {
        assert_eq!(m.step(), Status::Running);
        assert_eq!(m.steps(), expected);
    }
    assert_eq!(m.step(), Status::Returned);
    assert_eq!(m.steps(), 6);
    assert_eq!(m.results(), vec![Value::I32(3)]);
}

#[test]
fn stepping_equals_running() {
    let (mut fast, i) = machine(LOOP_SUM, Config::default());
    call(&mut fast, i, "sum", &[Value::I32(50)]);
    let mut slow = fast.clone();
    fast.run(u64::MAX);
    while slow.step() == Status::Running {}
    assert_eq!(state(&fast), state(&slow));
    assert_eq!(fast.results(), vec![Value::I32(1275)]);
}

#[test]
fn run_in_pieces_equals_one_run() {
    let (mut whole, i) = machine(LOOP_SUM, Config::default());
    call(&mut whole, i, "sum", &[Value::I32(100)]);
    let mut pieces = whole.clone();
    whole.run(u64::MAX);
    while pieces.run(7) == Status::Running {}
    assert_eq!(state(&whole), state(&pieces));
}

#[test]
fn halted_machines_are_fixed_points() {
    for (wat, name) in [(LOOP_SUM, "sum"), (r#"(module (func (export "t") unreachable))"#, "t")] {
        let mut m = run(wat, name, if name == "sum" { &[Value::I32(3)] } else { &[] }, Config::default());
        assert!(m.status().is_halted());
        let before = state(&m);
        for _ in 0..3 {
            m.step();
            m.run(100);
        }
        assert_eq!(before, state(&m));
    }
    let config = Config { gas_limit: 10, ..Config::default() };
    let mut m = run(LOOP_SUM, "sum", &[Value::I32(100)], config);
    assert_eq!(m.status(), Status::OutOfGas);
    let before = state(&m);
    m.step();
    assert_eq!(before, state(&m));
}

#[test]
fn a_trap_changes_only_status_steps_and_gas() {
    let wat = r#"(module (memory 1)
      (func (export "f") (result i32)
        (i32.store (i32.const 0) (i32.const 7))
        (i32.div_u (i32.const 1) (i32.const 0))))"#;
    let (mut m, i) = machine(wat, Config::default());
    call(&mut m, i, "f", &[]);
    m.run(5); // through the two constants of div_u
    let before = state(&m);
    assert_eq!(m.step(), Status::Trapped(Trap::IntegerDivideByZero));
    let after = state(&m);
    assert_eq!((before.0, before.1, before.2, before.6), (after.0, after.1, after.2, after.6));
    assert_eq!(after.3, before.3 + 1);
    assert_eq!(after.4, before.4 + 1);
}

#[test]
fn out_of_gas_stops_at_the_exact_instruction() {
    let full = run(LOOP_SUM, "sum", &[Value::I32(10)], Config::default());
    let total = full.gas_used();
    assert_eq!(total, full.steps(), "default gas is one per step");
    let enough = run(LOOP_SUM, "sum", &[Value::I32(10)], Config { gas_limit: total, ..Config::default() });
    assert_eq!(enough.status(), Status::Returned);
    let short = run(LOOP_SUM, "sum", &[Value::I32(10)], Config { gas_limit: total - 1, ..Config::default() });
    assert_eq!(short.status(), Status::OutOfGas);
    assert_eq!(short.gas_used(), total - 1);
    assert_eq!(short.steps(), total, "the step that runs out of gas counts as a step");
}

#[test]
fn gas_table_prices_instruction_classes() {
    let mut gas = GasTable::uniform(1);
    gas.costs[stepper::op::GasClass::Store as usize] = 10;
    let cheap = run(LOOP_SUM, "sum", &[Value::I32(10)], Config::default());
    let priced = run(LOOP_SUM, "sum", &[Value::I32(10)], Config { gas, ..Config::default() });
    assert_eq!(cheap.steps(), priced.steps());
    assert_eq!(priced.gas_used(), cheap.gas_used() + 10 * 9, "ten stores at 10 instead of 1");
}

#[test]
fn resource_limits_are_deterministic_traps() {
    let recurse = r#"(module (func $f (export "f") (param i32) (result i32)
        (i32.add (call $f (local.get 0)) (i32.const 1))))"#;
    let config = Config { max_call_depth: 100, ..Config::default() };
    let m = run(recurse, "f", &[Value::I32(0)], config.clone());
    assert_eq!(m.status(), Status::Trapped(Trap::CallStackExhausted));
    assert_eq!(m.frames().len(), 100);
    let again = run(recurse, "f", &[Value::I32(0)], config);
    assert_eq!(state(&m), state(&again));

    let config = Config { max_value_stack: 50, ..Config::default() };
    let m = run(recurse, "f", &[Value::I32(0)], config);
    assert_eq!(m.status(), Status::Trapped(Trap::ValueStackExhausted));

    let grow = r#"(module (memory 1) (func (export "g") (param i32) (result i32) (memory.grow (local.get 0))))"#;
    let config = Config { max_memory_pages: 3, ..Config::default() };
    assert_eq!(run(grow, "g", &[Value::I32(2)], config.clone()).results(), vec![Value::I32(1)]);
    assert_eq!(run(grow, "g", &[Value::I32(3)], config).results(), vec![Value::I32(-1)]);
}

fn memory(m: &Machine) -> &[u8] {
    m.store().memories[0].data()
}

const BULK: &str = r#"(module
  (memory (export "mem") 1)
  (data $d "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!@#$%^&*()_+-=[]{};:,./<>?")
  (func (export "copy") (param i32 i32 i32) (memory.copy (local.get 0) (local.get 1) (local.get 2)))
  (func (export "fill") (param i32 i32 i32) (memory.fill (local.get 0) (local.get 1) (local.get 2)))
  (func (export "init") (param i32 i32 i32) (memory.init $d (local.get 0) (local.get 1) (local.get 2))))"#;

/// Runs a bulk call step by step, checking every sub-step writes within one
/// destination chunk, and returns the memory and the number of bulk steps.
fn bulk_steps(m: &mut Machine, chunk: usize) -> usize {
    let mut bulk = 0;
    m.run(3); // the three local.gets
    let bulk_pc = m.pc();
    while m.status() == Status::Running {
        let before = memory(m).to_vec();
        let at_bulk = m.pc() == bulk_pc;
        m.step();
        let changed: Vec<usize> = (0..before.len()).filter(|&i| before[i] != memory(m)[i]).collect();
        if let (Some(first), Some(last)) = (changed.first(), changed.last()) {
            assert_eq!(first / chunk, last / chunk, "a sub-step wrote across chunks {first}..{last}");
        }
        bulk += usize::from(at_bulk);
    }
    bulk
}

#[test]
fn bulk_memory_proceeds_in_chunk_bounded_sub_steps() {
    let chunk = 64;
    let config = Config { memory_chunk_size: chunk as u32, ..Config::default() };
    let (mut m, i) = machine(BULK, config.clone());
    call(&mut m, i, "init", &[Value::I32(100), Value::I32(0), Value::I32(80)]);
    bulk_steps(&mut m, chunk);
    assert_eq!(m.status(), Status::Returned);
    let mut expected = vec![0u8; 65536];
    let data = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!@#$%^&*()_+-=[]{};:,./<>?";
    expected[100..180].copy_from_slice(&data[..80]);
    assert_eq!(memory(&m), &expected[..]);

    // Overlapping copies in both directions match memmove.
    for (dst, src, n) in [(110u32, 100u32, 70u32), (90, 100, 70), (100, 100, 5), (0, 100, 200), (1000, 0, 0)] {
        let mut machine2 = m.clone();
        call(&mut machine2, i, "copy", &[Value::I32(dst as i32), Value::I32(src as i32), Value::I32(n as i32)]);
        let steps = bulk_steps(&mut machine2, chunk);
        let mut want = expected.clone();
        want.copy_within(src as usize..(src + n) as usize, dst as usize);
        assert_eq!(memory(&machine2), &want[..], "copy {dst} {src} {n}");
        // A sub-step ends wherever the source or the destination crosses into a new chunk.
        let cuts: std::collections::BTreeSet<usize> = (1..n as usize)
            .filter(|k| (dst as usize + k).is_multiple_of(chunk) || (src as usize + k).is_multiple_of(chunk))
            .collect();
        assert_eq!(steps, cuts.len() + 1, "copy {dst} {src} {n}: one sub-step per piece within one chunk each");
    }

    call(&mut m, i, "fill", &[Value::I32(60), Value::I32(0xAB), Value::I32(300)]);
    bulk_steps(&mut m, chunk);
    assert!(memory(&m)[60..360].iter().all(|&b| b == 0xAB));
    assert_eq!(memory(&m)[59], 0);
    assert_eq!(memory(&m)[360], 0);
}

#[test]
fn out_of_bounds_bulk_traps_before_writing() {
    let (mut m, i) = machine(BULK, Config::default());
    call(&mut m, i, "fill", &[Value::I32(65500), Value::I32(1), Value::I32(100)]);
    m.run(u64::MAX);
    assert_eq!(m.status(), Status::Trapped(Trap::MemoryOutOfBounds));
    assert!(memory(&m).iter().all(|&b| b == 0));
}

#[test]
fn table_grow_with_a_value_fills_in_sub_steps() {
    let wat = r#"(module (table $t 1 externref)
      (func (export "grow") (param externref i32) (result i32) (table.grow $t (local.get 0) (local.get 1)))
      (func (export "get") (param i32) (result externref) (table.get $t (local.get 0))))"#;
    let (mut m, i) = machine(wat, Config::default());
    call(&mut m, i, "grow", &[Value::ExternRef(Some(7)), Value::I32(5)]);
    m.run(u64::MAX);
    assert_eq!(m.results(), vec![Value::I32(1)]);
    // local.get ×2, table.grow, 5 fill sub-steps, end
    assert_eq!(m.steps(), 9);
    for index in 1..6 {
        call(&mut m, i, "get", &[Value::I32(index)]);
        m.run(u64::MAX);
        assert_eq!(m.results(), vec![Value::ExternRef(Some(7))]);
    }
    call(&mut m, i, "grow", &[Value::ExternRef(None), Value::I32(3)]);
    m.run(u64::MAX);
    assert_eq!(m.results(), vec![Value::I32(6)]);
    assert_eq!(m.steps(), 4, "a null initial value needs no fill");
}

#[test]
fn arithmetic_nans_are_canonical() {
    let wat = r#"(module
      (func (export "add") (param f32 f32) (result f32) (f32.add (local.get 0) (local.get 1)))
      (func (export "neg") (param f64) (result f64) (f64.neg (local.get 0)))
      (func (export "sqrt") (param f64) (result f64) (f64.sqrt (local.get 0))))"#;
    let m = run(wat, "add", &[Value::F32(0xffc0_1234), Value::F32(1.0f32.to_bits())], Config::default());
    assert_eq!(m.results(), vec![Value::F32(0x7fc0_0000)]);
    let m = run(wat, "sqrt", &[Value::F64((-1.0f64).to_bits())], Config::default());
    assert_eq!(m.results(), vec![Value::F64(0x7ff8_0000_0000_0000)]);
    // Sign operations keep payloads.
    let m = run(wat, "neg", &[Value::F64(0x7ff0_0000_0000_0001)], Config::default());
    assert_eq!(m.results(), vec![Value::F64(0xfff0_0000_0000_0001)]);
}

#[test]
fn host_interface_emits_and_aborts() {
    let wat = r#"(module (import "verigame" "emit" (func $emit (param i64)))
      (import "verigame" "abort" (func $abort (param i32)))
      (func (export "go") (param i32)
        (call $emit (i64.const 42))
        (if (local.get 0) (then (call $abort (i32.const 9))))
        (call $emit (i64.const 43))))"#;
    let m = run(wat, "go", &[Value::I32(0)], Config::default());
    assert_eq!(m.output(), vec![42, 43]);
    let m = run(wat, "go", &[Value::I32(1)], Config::default());
    assert_eq!(m.status(), Status::Trapped(Trap::Aborted(9)));
    assert_eq!(m.output(), vec![42]);
}

#[test]
fn malformed_and_invalid_modules_are_errors_not_panics() {
    for bytes in [&b"\0asm\x01\0\0\0\x01"[..], b"\0asm\x02\0\0\0", b"(module (func (result i32)))", b"(modul"] {
        assert!(Module::new(bytes).is_err());
    }
    let simd = r#"(module (func (result v128) (v128.const i64x2 0 0)))"#;
    assert!(Module::new(simd.as_bytes()).is_err(), "SIMD is outside the supported language");
}

#[test]
fn calls_across_functions_and_indirect_calls() {
    let wat = r#"(module
      (type $bin (func (param i32 i32) (result i32)))
      (table 3 funcref)
      (elem (i32.const 0) $add $sub)
      (func $add (type $bin) (i32.add (local.get 0) (local.get 1)))
      (func $sub (type $bin) (i32.sub (local.get 0) (local.get 1)))
      (func (export "apply") (param i32 i32 i32) (result i32)
        (call_indirect (type $bin) (local.get 1) (local.get 2) (local.get 0))))"#;
    let m = run(wat, "apply", &[Value::I32(1), Value::I32(10), Value::I32(3)], Config::default());
    assert_eq!(m.results(), vec![Value::I32(7)]);
    let m = run(wat, "apply", &[Value::I32(2), Value::I32(10), Value::I32(3)], Config::default());
    assert_eq!(m.status(), Status::Trapped(Trap::UninitializedElement));
    let m = run(wat, "apply", &[Value::I32(3), Value::I32(10), Value::I32(3)], Config::default());
    assert_eq!(m.status(), Status::Trapped(Trap::UndefinedElement));
}

/// The fast path (fused ops, batched accounting) must reach exactly the state single
/// steps reach, also when a run stops in the middle of a fused sequence.
#[test]
fn fast_path_matches_single_steps_on_real_programs() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/programs");
    let cases = [
        ("fib.wasm", "fib_rec", 12),
        ("sort.wasm", "sort_checksum", 30),
        ("matmul.wasm", "matmul_trace", 5),
        ("matmul.wasm", "mandel", 4),
        ("memops.wasm", "memops", 2),
        ("sha256.wasm", "sha256_rounds", 2),
        ("dispatch.wasm", "run_vm", 3),
    ];
    for (file, export, arg) in cases {
        let bytes = std::fs::read(dir.join(file)).expect("fixture exists");
        let module = Module::new(&bytes).unwrap();
        let (mut fast, i) = Machine::load(&module, Config::default()).unwrap();
        call(&mut fast, i, export, &[Value::I32(arg)]);
        let mut single = fast.clone();
        let mut chunked = fast.clone();
        fast.run(u64::MAX);
        while single.step() == Status::Running {}
        for chunk in [2, 3, 5].into_iter().cycle() {
            if chunked.run(chunk) != Status::Running {
                break;
            }
        }
        assert_eq!(fast.status(), Status::Returned, "{file} {export}");
        assert_eq!(state(&fast), state(&single), "{file} {export}: fast vs single steps");
        assert_eq!(state(&fast), state(&chunked), "{file} {export}: fast vs chunked runs");
    }
}

/// A wasm-smith module on which wasmi 2.0's translator hits `unreachable!()` (found by
/// the long differential run): the stepper must load it and run every export to an end.
#[test]
fn module_that_crashes_wasmi_runs_on_the_stepper() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/regressions/wasmi-translator-panic.wasm");
    let module = Module::new(&std::fs::read(path).unwrap()).unwrap();
    let (mut m, i) = Machine::load(&module, Config::default()).expect("instantiates");
    let exports: Vec<String> = module.exports.iter().map(|(n, _, _)| n.clone()).collect();
    for name in exports {
        let Some(Extern::Func(f)) = m.export(i, &name) else { continue };
        let args: Vec<Value> = m.store().func_type(f).params.iter().map(|&t| Value::default_of(t)).collect();
        m.invoke(f, &args).unwrap();
        assert!(m.run(10_000_000).is_halted(), "{name} halts within its fuel");
    }
}

/// Fused sequences whose last member traps end in the same state as single steps.
#[test]
fn fused_sequences_trap_like_single_steps() {
    let wat = r#"(module (memory 1)
      (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
      (func (export "rem") (param i32) (result i32) (i32.rem_u (local.get 0) (i32.const 0)))
      (func (export "store") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
      (func (export "load") (param i32) (result i32) (i32.load offset=8 (local.get 0))))"#;
    let cases: [(&str, Vec<Value>, Trap); 5] = [
        ("div", vec![Value::I32(1), Value::I32(0)], Trap::IntegerDivideByZero),
        ("div", vec![Value::I32(i32::MIN), Value::I32(-1)], Trap::IntegerOverflow),
        ("rem", vec![Value::I32(5)], Trap::IntegerDivideByZero),
        ("store", vec![Value::I32(65534), Value::I32(1)], Trap::MemoryOutOfBounds),
        ("load", vec![Value::I32(65530)], Trap::MemoryOutOfBounds),
    ];
    for (name, args, trap) in cases {
        let (mut fast, i) = machine(wat, Config::default());
        call(&mut fast, i, name, &args);
        let mut single = fast.clone();
        assert_eq!(fast.run(u64::MAX), Status::Trapped(trap), "{name}");
        while single.step() == Status::Running {}
        assert_eq!(state(&fast), state(&single), "{name} {args:?}");
    }
}

/// Instructions the fast path folds together compute what single steps compute: an
/// address an `i32.add` computed wraps at 2^32 before the offset is added, and a float
/// comparison on NaN takes the same branch in both polarities.
#[test]
fn folded_addresses_wrap_and_float_branches_see_nan() {
    let wat = r#"(module (memory 1)
      (data (i32.const 0) "\2a\00\00\00\07\00\00\00")
      (func (export "load_imm") (param i32) (result i32) (i32.load offset=4 (i32.add (local.get 0) (i32.const 8))))
      (func (export "load_sum") (param i32 i32) (result i32) (i32.load (i32.add (local.get 0) (local.get 1))))
      (func (export "store_sum") (param i32 i32) (result i32)
        (i32.store (i32.add (local.get 0) (local.get 1)) (local.get 1)) (i32.load (i32.const 0)))
      (func (export "gt") (param f32) (result i32)
        (if (result i32) (f32.gt (local.get 0) (f32.const 4)) (then (i32.const 1)) (else (i32.const 2))))
      (func (export "not_gt") (param f64 f64) (result i32)
        (block (br_if 0 (i32.eqz (f64.gt (local.get 0) (local.get 1)))) (return (i32.const 1))) (i32.const 2)))"#;
    let nan32 = Value::F32(f32::NAN.to_bits());
    let nan64 = Value::F64(f64::NAN.to_bits());
    let cases: [(&str, Vec<Value>, Status, Option<i32>); 9] = [
        ("load_imm", vec![Value::I32(-8)], Status::Returned, Some(7)),
        ("load_imm", vec![Value::I32(65524)], Status::Trapped(Trap::MemoryOutOfBounds), None),
        ("load_sum", vec![Value::I32(-4), Value::I32(4)], Status::Returned, Some(42)),
        ("load_sum", vec![Value::I32(65533), Value::I32(0)], Status::Trapped(Trap::MemoryOutOfBounds), None),
        ("store_sum", vec![Value::I32(-5), Value::I32(5)], Status::Returned, Some(5)),
        ("gt", vec![nan32], Status::Returned, Some(2)),
        ("gt", vec![Value::F32(5.0f32.to_bits())], Status::Returned, Some(1)),
        ("not_gt", vec![nan64, Value::F64(0)], Status::Returned, Some(2)),
        ("not_gt", vec![Value::F64(1.0f64.to_bits()), Value::F64(0)], Status::Returned, Some(1)),
    ];
    for (name, args, status, result) in cases {
        let (mut fast, i) = machine(wat, Config::default());
        call(&mut fast, i, name, &args);
        let mut single = fast.clone();
        assert_eq!(fast.run(u64::MAX), status, "{name} {args:?}");
        while single.step() == Status::Running {}
        assert_eq!(state(&fast), state(&single), "{name} {args:?}");
        if let Some(r) = result {
            assert_eq!(fast.results(), vec![Value::I32(r)], "{name} {args:?}");
        }
    }
}
