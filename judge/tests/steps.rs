//! The judge against the stepper: for every step of real runs, the proof the prover
//! builds passes the judge, and the judge's post-state hash is the stepper's.

use std::sync::Arc;

use judge::{prove, Judge};
use merkle_memory::state_hash;
use stepper::{Config, Extern, GasTable, Machine, Module, Status, Value};

/// Touches every kind of state: memory across chunk boundaries, bulk memory and table
/// instructions, growth of both, globals, nested and indirect calls, the output log,
/// segment drops, and traps.
const EVERYTHING: &str = r#"(module
  (import "verigame" "emit" (func $emit (param i64)))
  (import "verigame" "abort" (func $abort (param i32)))
  (type $i2i (func (param i32) (result i32)))
  (memory 1 4)
  (table $t 4 16 funcref)
  (table $ext 2 externref)
  (global $counter (mut i32) (i32.const 5))
  (global $wide (mut i64) (i64.const -1))
  (data $hello "hello, verigame: a data segment longer than one chunk of memory? no, but it will do")
  (data (i32.const 500) "straddles the first chunk boundary")
  (elem $fs funcref (ref.func $leaf) (ref.func $mid) (ref.func $leaf))
  (elem (i32.const 1) $leaf $mid)
  (func $leaf (type $i2i) (local $t i64)
    (local.set $t (i64.extend_i32_u (local.get 0)))
    (call $emit (i64.mul (local.get $t) (global.get $wide)))
    (i32.store offset=510 (i32.const 0) (local.get 0))
    (i32.add (local.get 0) (i32.const 1)))
  (func $mid (type $i2i)
    (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
    (call_indirect (type $i2i) (local.get 0) (i32.const 1)))
  (func $multi (param i32) (result i32 i64)
    (block (result i32 i64)
      (local.get 0) (i64.const 7)
      (br_if 0 (i32.eqz (local.get 0)))
      (drop) (drop)
      (i32.const 1) (i64.const 2)))
  (func (export "run") (param $n i32) (result i32) (local $i i32) (local $acc i32) (local $f64 f64)
    (memory.init $hello (i32.const 1000) (i32.const 0) (i32.const 80))
    (data.drop $hello)
    (drop (memory.grow (i32.const 1)))
    (i64.store (i32.const 65533) (i64.const 0x0102030405060708))
    (local.set $acc (i32.load8_u (i32.const 65535)))
    (memory.fill (i32.const 700) (i32.const 0xAB) (i32.const 600))
    (memory.copy (i32.const 1100) (i32.const 1000) (i32.const 700))
    (memory.copy (i32.const 900) (i32.const 1000) (i32.const 300))
    (drop (table.grow $t (ref.func $leaf) (i32.const 3)))
    (table.init $t $fs (i32.const 4) (i32.const 0) (i32.const 3))
    (elem.drop $fs)
    (table.copy $t $t (i32.const 3) (i32.const 4) (i32.const 3))
    (table.copy $t $t (i32.const 5) (i32.const 3) (i32.const 2))
    (table.fill $ext (i32.const 0) (ref.null extern) (i32.const 2))
    (drop (table.size $t))
    (local.set $f64 (f64.sqrt (f64.convert_i32_s (local.get $n))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (i32.add (local.get $acc) (call $mid (local.get $i))))
        (local.set $acc (i32.add (local.get $acc)
          (call_indirect (type $i2i) (local.get $i) (i32.add (i32.const 1) (i32.rem_u (local.get $i) (i32.const 2))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_table $next $next $done (i32.and (local.get $i) (i32.const 1)))))
    (call $multi (local.get $n)) (drop) (drop)
    (call $multi (i32.const 0)) (drop) (drop)
    (i32.add (local.get $acc) (i32.trunc_f64_s (local.get $f64))))
  (func (export "fail") (param $code i32) (call $abort (local.get $code)))
  (func (export "oob") (result i32) (i32.load (i32.const 0x7fffffff)))
  (func (export "div") (param i32) (result i32) (i32.div_s (i32.const 7) (local.get 0)))
  (func (export "deep") (param i32) (result i32)
    (if (result i32) (local.get 0)
      (then (i32.add (i32.const 1) (call 9 (i32.sub (local.get 0) (i32.const 1)))))
      (else (i32.const 0))))
  (func (export "spin") (loop $l (br $l))))"#;

fn start(module: &Arc<Module>, config: &Config, export: &str, args: &[Value]) -> Machine {
    let (mut m, instance) = Machine::load(module, config.clone()).unwrap();
    let Some(Extern::Func(f)) = m.export(instance, export) else { panic!("no export {export}") };
    m.invoke(f, args).unwrap();
    m
}

/// Proves and judges every step of a call (and a few steps past its end), comparing
/// the judge's post-state hash with the stepper's.
fn every_step(module: &Arc<Module>, config: &Config, export: &str, args: &[Value], limit: u64) -> (u64, Status) {
    let judge = Judge::new(module.clone(), config.clone()).unwrap();
    let mut m = start(module, config, export, args);
    let mut halted_steps = 0;
    while halted_steps < 2 && m.steps < limit {
        let proof = prove(&m);
        assert_eq!(judge::from_bytes(&judge::to_bytes(&proof)).as_ref(), Ok(&proof), "binary round trip");
        assert_eq!(judge::json::from_json(&judge::json::to_json(&proof)).as_ref(), Ok(&proof), "JSON round trip");
        let verdict = judge.check(&proof).unwrap_or_else(|e| panic!("{export} step {}: {e}", m.steps));
        let pre = state_hash(&mut m);
        assert_eq!(proof.pre_hash, pre);
        m.step();
        assert_eq!(verdict.post_hash, state_hash(&mut m), "{export} step {}: post-state", m.steps);
        halted_steps += u64::from(m.status.is_halted());
    }
    (m.steps, m.status)
}

fn everything() -> Arc<Module> {
    Module::new(EVERYTHING.as_bytes()).unwrap()
}

#[test]
fn every_step_of_a_run_touching_every_kind_of_state_is_provable() {
    let (steps, status) = every_step(&everything(), &Config::default(), "run", &[Value::I32(7)], u64::MAX);
    assert_eq!(status, Status::Returned);
    assert!(steps > 300, "{steps}");
}

#[test]
fn traps_out_of_gas_and_deep_calls_are_provable() {
    let module = everything();
    let config = Config::default();
    let cases = [
        ("fail", vec![Value::I32(-3)], Status::Trapped(stepper::Trap::Aborted(-3))),
        ("oob", vec![], Status::Trapped(stepper::Trap::MemoryOutOfBounds)),
        ("div", vec![Value::I32(0)], Status::Trapped(stepper::Trap::IntegerDivideByZero)),
        ("deep", vec![Value::I32(20)], Status::Returned),
    ];
    for (export, args, want) in cases {
        assert_eq!(every_step(&module, &config, export, &args, u64::MAX).1, want, "{export}");
    }
    let priced = Config { gas_limit: 60, gas: GasTable { costs: [1, 5, 1, 2, 2, 1, 3, 4, 6] }, ..Config::default() };
    assert_eq!(every_step(&module, &priced, "spin", &[], u64::MAX).1, Status::OutOfGas);
    assert_eq!(every_step(&module, &priced, "run", &[Value::I32(3)], u64::MAX).1, Status::OutOfGas);
    let shallow = Config { max_call_depth: 5, ..Config::default() };
    assert_eq!(
        every_step(&module, &shallow, "deep", &[Value::I32(10)], u64::MAX).1,
        Status::Trapped(stepper::Trap::CallStackExhausted)
    );
}

#[test]
fn the_first_steps_of_the_c_programs_are_provable() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/programs");
    for (file, export, arg) in
        [("fib.wasm", "fib_rec", 6), ("sort.wasm", "sort_checksum", 20), ("memops.wasm", "memops", 2), ("sha256.wasm", "sha256_rounds", 1)]
    {
        let module = Module::new(&std::fs::read(format!("{dir}/{file}")).unwrap()).unwrap();
        every_step(&module, &Config::default(), export, &[Value::I32(arg)], 3000);
    }
}
