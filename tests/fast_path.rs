//! The fast path against the precise executor: `Machine::run` (compiled fast code, with
//! precise steps wherever it stops) must leave every machine exactly where single
//! precise steps do, whether it runs to the end, in pieces of random sizes (so it stops
//! before every kind of instruction, inside folded ones too), or out of gas.
//!
//! Random modules from wasm-smith (traps, calls, branches with values, bulk memory, all
//! of it) and the bundled C programs. Reproduce a failing module with
//! `VERIGAME_FAST_SEED=<seed> VERIGAME_FAST_CASES=1 cargo test --test fast_path`
//! (`VERIGAME_FAST_TRACE=1` prints each seed before it runs).

use merkle_memory::{hex, state_hash};
use proptest::prelude::Rng as _;
use proptest::test_runner::{RngAlgorithm, TestRng};
use stepper::module::ExportKind;
use stepper::{Config, Machine, Module, Status, ValType, Value};
use verigame::reference::{seeded_bytes, smith_module};

const FIRST_SEED: u64 = 0x_fa57_0000;
const CASES: u64 = 400;
/// Steps per call at most: wasm-smith's fuel bounds loops, this bounds everything.
const MAX_STEPS: u64 = 100_000;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

fn rng(seed: u64) -> TestRng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    TestRng::from_seed(RngAlgorithm::ChaCha, &key)
}

/// Everything a machine's state hash commits to, and what it leaves out but a
/// continuing run depends on, as text to compare and print.
fn state(m: &mut Machine) -> String {
    format!("hash {} {:?}", hex(&state_hash(m)), store(m))
}

/// The same without hashing (which costs as much as the stack is deep): the registers,
/// the store's contents, and which memory chunks and table elements are marked for
/// rehashing. Compared as data, printed only when different.
#[derive(Debug, PartialEq)]
struct Store<'a> {
    registers: (Status, u64, u64, u32, &'a [stepper::Frame], &'a [u64]),
    memories: Vec<(&'a [u8], Vec<u32>)>,
    tables: Vec<(&'a [u64], Vec<u32>)>,
    globals: Vec<u64>,
    output: &'a [i64],
    elems: &'a [Vec<u64>],
    data_dropped: &'a [bool],
}

fn store(m: &Machine) -> Store<'_> {
    let dirty = |leaves: &[u32]| {
        let mut leaves = leaves.to_vec();
        leaves.sort_unstable();
        leaves
    };
    Store {
        registers: registers(m),
        memories: m.store().memories.iter().map(|mem| (mem.data(), dirty(mem.cache().dirty().leaves()))).collect(),
        tables: m.store().tables.iter().map(|t| (t.elems(), dirty(t.cache().dirty().leaves()))).collect(),
        globals: m.store().globals.iter().map(|g| g.value).collect(),
        output: m.output(),
        elems: &m.store().elems,
        data_dropped: &m.store().data_dropped,
    }
}

/// What a step changes besides the store.
fn registers(m: &Machine) -> (Status, u64, u64, u32, &[stepper::Frame], &[u64]) {
    (m.status(), m.steps(), m.gas_used(), m.pc(), m.frames(), m.stack())
}

/// Single precise steps (`Machine::step`: the executor the judge checks) until the
/// machine has run `steps` steps or halts.
fn run_precise(m: &mut Machine, steps: u64) {
    while m.steps() < steps && m.step() == Status::Running {}
}

fn arg(rng: &mut TestRng, ty: ValType) -> Value {
    let small = |rng: &mut TestRng| [0, 1, 2, 3, 7, 100, -1, 65535, i32::MIN][rng.next_u64() as usize % 9];
    match ty {
        ValType::I32 => Value::I32(small(rng)),
        ValType::I64 => Value::I64(small(rng) as i64),
        other => Value::default_of(other),
    }
}

/// Calls `func` on copies of `machine` three ways and compares them with precise
/// steps; returns the precise machine after the call, for the next one, unless the call
/// is still running.
fn check_call(machine: &Machine, func: u32, args: &[Value], rng: &mut TestRng, what: &str) -> Option<Machine> {
    let mut precise = machine.clone();
    precise.invoke(func, args).unwrap();
    let (mut whole, mut pieces, mut starved) = (precise.clone(), precise.clone(), precise.clone());

    // In pieces, compared with precise steps after every piece (the registers and the
    // stack; the whole store after the first 8 pieces and every 64th).
    let mut piece = 0;
    while pieces.status() == Status::Running && pieces.steps() < MAX_STEPS {
        let n = (1 + rng.next_u64() % 40).min(MAX_STEPS - pieces.steps());
        pieces.run(n);
        run_precise(&mut precise, pieces.steps());
        let at = format!("{what}: after a run to step {}", pieces.steps());
        assert_eq!(registers(&pieces), registers(&precise), "{at}");
        if piece < 8 || piece % 64 == 0 {
            assert_eq!(store(&pieces), store(&precise), "{at}");
        }
        piece += 1;
    }
    run_precise(&mut precise, MAX_STEPS);
    assert_eq!(store(&pieces), store(&precise), "{what}: runs of 1 to 40 steps");

    whole.run(MAX_STEPS);
    assert_eq!(state(&mut whole), state(&mut precise), "{what}: one run");

    // Out of gas at a random step: the same as precise steps under the same limit.
    let limit = rng.next_u64() % (precise.steps() + 2);
    starved.set_gas_limit(limit);
    let mut starved_precise = starved.clone();
    starved.run(MAX_STEPS);
    run_precise(&mut starved_precise, MAX_STEPS);
    assert_eq!(store(&starved), store(&starved_precise), "{what}: gas limit {limit}");
    (precise.status() != Status::Running).then_some(precise)
}

fn check_module(wasm: &[u8], calls: &[(String, Vec<Value>)], label: &str, rng: &mut TestRng) -> usize {
    let module = Module::new(wasm).unwrap_or_else(|e| panic!("{label}: {e}"));
    // Six copies of each machine live at once: memories stay small.
    let config = Config { max_memory_pages: 256, ..Config::default() };
    let Ok((mut machine, instance)) = Machine::load(&module, config) else { return 0 };
    let mut checked = 0;
    for (export, args) in calls {
        let Some(stepper::Extern::Func(func)) = machine.export(instance, export) else {
            panic!("{label}: no {export}")
        };
        checked += 1;
        match check_call(&machine, func, args, rng, &format!("{label} {export}{args:?}")) {
            Some(next) => machine = next,
            None => break,
        }
    }
    checked
}

#[test]
fn fast_path_matches_precise_steps_on_random_modules() {
    let first = env_u64("VERIGAME_FAST_SEED").unwrap_or(FIRST_SEED);
    let cases = env_u64("VERIGAME_FAST_CASES").unwrap_or(CASES);
    let mut calls = 0;
    for seed in first..first + cases {
        if std::env::var_os("VERIGAME_FAST_TRACE").is_some() {
            eprintln!("seed {seed}");
        }
        let Ok(wasm) = smith_module(&seeded_bytes(seed)) else { continue };
        let Ok(module) = Module::new(&wasm) else { continue };
        let mut rng = rng(seed);
        let exports: Vec<(String, Vec<Value>)> = module
            .exports
            .iter()
            .filter(|(_, kind, _)| *kind == ExportKind::Func)
            .map(|(name, _, index)| {
                let args = module.func_type(*index).params.iter().map(|&t| arg(&mut rng, t)).collect();
                (name.clone(), args)
            })
            .collect();
        calls += check_module(&wasm, &exports, &format!("seed {seed}"), &mut rng);
    }
    assert!(2 * calls > cases as usize, "only {calls} calls ran");
}

#[test]
fn fast_path_matches_precise_steps_on_c_programs() {
    let programs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs");
    let runs: &[(&str, &[(&str, i32)])] = &[
        ("fib.wasm", &[("fib_rec", 12), ("fib_iter", 200)]),
        ("sort.wasm", &[("sort_checksum", 60)]),
        ("matmul.wasm", &[("matmul_trace", 6), ("mandel", 5)]),
        ("memops.wasm", &[("memops", 3)]),
        ("sha256.wasm", &[("sha256_rounds", 1), ("sha256_selftest", 2)]),
        ("dispatch.wasm", &[("run_vm", 2)]),
    ];
    let mut rng = rng(1);
    for (file, exports) in runs {
        let wasm = std::fs::read(programs.join(file)).unwrap();
        let calls: Vec<(String, Vec<Value>)> =
            exports.iter().map(|(e, a)| (e.to_string(), vec![Value::I32(*a)])).collect();
        check_module(&wasm, &calls, file, &mut rng);
    }
}
