//! The judge against the stepper: for every step of real runs, the proof the prover
//! builds passes the judge, and the judge's post-state hash is the stepper's.

use std::sync::Arc;

use judge::{prove, Judge};
use merkle_memory::state_hash;
use stepper::{Config, Extern, GasTable, Machine, Module, Status, Value};

/// Touches every kind of state (see the file).
const EVERYTHING: &str = include_str!("common/everything.wat");

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
    while halted_steps < 2 && m.steps() < limit {
        let proof = prove(&m);
        let known = judge::Known::of(&proof);
        assert_eq!(judge::from_bytes_with(&judge::to_bytes(&proof), &known).as_ref(), Ok(&proof), "compact round trip");
        assert_eq!(judge::from_bytes(&judge::to_full_bytes(&proof)).as_ref(), Ok(&proof), "full binary round trip");
        assert_eq!(judge::json::from_json(&judge::json::to_json(&proof)).as_ref(), Ok(&proof), "JSON round trip");
        let verdict = judge.check(&proof).unwrap_or_else(|e| panic!("{export} step {}: {e}", m.steps()));
        let pre = state_hash(&mut m);
        assert_eq!(proof.pre_hash, pre);
        m.step();
        assert_eq!(verdict.post_hash, state_hash(&mut m), "{export} step {}: post-state", m.steps());
        halted_steps += u64::from(m.status().is_halted());
    }
    (m.steps(), m.status())
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
    let priced = Config { gas_limit: 60, gas: GasTable { costs: [1, 5, 1, 2, 2, 1, 3, 4, 6, 9] }, ..Config::default() };
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
    for (file, export, arg) in [
        ("fib.wasm", "fib_rec", 6),
        ("sort.wasm", "sort_checksum", 20),
        ("memops.wasm", "memops", 2),
        ("sha256.wasm", "sha256_rounds", 1),
    ] {
        let module = Module::new(&std::fs::read(format!("{dir}/{file}")).unwrap()).unwrap();
        every_step(&module, &Config::default(), export, &[Value::I32(arg)], 3000);
    }
}
