//! Normal mode against the stepper: every call gives the stepper's status, results,
//! steps, gas, output streams, storage and state hash, whether the compiled code served
//! it or the stepper did after the compiled run stopped (traps, running out of gas,
//! exits), and calls in a row keep the machine's state as the stepper does.

use std::path::{Path, PathBuf};

use jit::{Jit, Served};
use merkle_memory::{state_hash, Hash};
use stepper::{CallInput, Config, Extern, Machine, Module, Status, Value};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn load(bytes: &[u8], config: &Config) -> Machine {
    let module = Module::new(bytes).unwrap();
    Machine::load(&module, config.clone()).unwrap().0
}

/// What must agree between the engines after a call.
type Observed = (Status, Vec<Value>, u64, u64, Vec<u8>, Vec<u8>, Vec<i64>, Hash);

fn observed(m: &mut Machine) -> Observed {
    (
        m.status(),
        m.results(),
        m.steps(),
        m.gas_used(),
        m.io().stdout().to_vec(),
        m.io().stderr().to_vec(),
        m.output().to_vec(),
        state_hash(m),
    )
}

/// Two machines in the same state, one for each engine.
struct Pair {
    jit: Jit,
    stepper: Machine,
    normal: Machine,
}

impl Pair {
    fn new(bytes: &[u8], config: &Config) -> Self {
        Self { jit: Jit::new(bytes, config).unwrap(), stepper: load(bytes, config), normal: load(bytes, config) }
    }

    /// Runs the call on both engines; returns who served the normal-mode call.
    fn call(&mut self, export: &str, args: &[Value], budget: u64, input: CallInput) -> Served {
        let instance = self.stepper.store().instances.len() as u32 - 1;
        let Some(Extern::Func(f)) = self.stepper.export(instance, export) else { panic!("no export {export}") };
        self.stepper.start_call(f, args, budget, input.clone()).unwrap();
        self.stepper.run(u64::MAX);
        let served = self.jit.call(&mut self.normal, export, args, budget, input).unwrap();
        assert_eq!(observed(&mut self.normal), observed(&mut self.stepper), "{export}({args:?}) served by {served:?}");
        served
    }
}

#[test]
fn the_c_programs_give_the_steppers_outcomes() {
    let cases: &[(&str, &str, i32)] = &[
        ("fib.wasm", "fib_rec", 20),
        ("fib.wasm", "fib_iter", 1000),
        ("sort.wasm", "sort_checksum", 300),
        ("matmul.wasm", "matmul_trace", 12),
        ("matmul.wasm", "mandel", 16),
        ("memops.wasm", "memops", 6),
        ("sha256.wasm", "sha256_rounds", 3),
        ("sha256.wasm", "sha256_selftest", 2),
        ("dispatch.wasm", "run_vm", 5),
    ];
    for chunk in [64, 512] {
        let config = Config { memory_chunk_size: chunk, ..Config::default() };
        for &(file, export, arg) in cases {
            let bytes = std::fs::read(root().join("tests/programs").join(file)).unwrap();
            let mut pair = Pair::new(&bytes, &config);
            // Calls in a row, on the state the earlier ones left.
            for arg in [arg, arg / 2 + 1, arg] {
                let served = pair.call(export, &[Value::I32(arg)], u64::MAX, CallInput::default());
                assert_eq!(served, Served::Compiled, "{file} {export}({arg})");
            }
        }
    }
}

#[test]
fn wasi_commands_give_the_steppers_output_and_state() {
    let dir = root().join("tests/programs/wasi");
    let runs: &[(&str, &[&str], &[u8])] = &[
        ("hello.wasm", &[], b""),
        ("args.wasm", &["12", "-5", "x"], b""),
        ("stdin.wasm", &[], b"one two\nthree\n\nfour five six\n"),
        ("alloc.wasm", &["300"], b""),
        ("rust_hello.wasm", &["a", "b"], b"some input\n"),
        // Exits with a code: the compiled run stops there and the stepper serves it.
        ("exit.wasm", &["3"], b""),
    ];
    let config = Config::default();
    for &(name, args, stdin) in runs {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let mut pair = Pair::new(&bytes, &config);
        let argv = std::iter::once(name).chain(args.iter().copied()).map(|a| a.as_bytes().to_vec()).collect();
        let input =
            CallInput { args: argv, env: vec![b"A=1".to_vec()], stdin: stdin.to_vec(), seed: [3; 32], clock: 77 };
        let served = pair.call("_start", &[], u64::MAX, input);
        assert_eq!(served == Served::Compiled, name != "exit.wasm", "{name}: {served:?}");
    }
}

#[test]
fn traps_and_running_out_of_gas_are_the_steppers() {
    let bytes = std::fs::read(root().join("tests/programs/fib.wasm")).unwrap();
    for gas_limit in [1, 50, 1_000, 100_000] {
        let mut pair = Pair::new(&bytes, &Config { gas_limit, ..Config::default() });
        let served = pair.call("fib_rec", &[Value::I32(20)], u64::MAX, CallInput::default());
        assert!(matches!(served, Served::Stepper(_)), "{gas_limit}: {served:?}");
        assert_eq!(pair.stepper.status(), Status::OutOfGas);
    }
    // A budget below the limit (a node transaction's own gas limit).
    let mut pair = Pair::new(&bytes, &Config { gas_limit: 10_000_000, ..Config::default() });
    assert_eq!(pair.call("fib_rec", &[Value::I32(15)], 1_000_000, CallInput::default()), Served::Compiled);
    pair.call("fib_rec", &[Value::I32(25)], 1_000_000, CallInput::default());
    assert_eq!(pair.stepper.status(), Status::OutOfGas);

    let wat = br#"(module (memory 1) (global $g (mut i32) (i32.const 5))
        (func (export "div") (param i32) (result i32)
          (global.set $g (i32.add (global.get $g) (i32.const 1)))
          (i32.store (i32.const 8) (local.get 0))
          (i32.div_s (i32.const 100) (local.get 0)))
        (func (export "deep") (param i32) (result i32)
          (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
            (else (i32.add (i32.const 1) (call 1 (i32.sub (local.get 0) (i32.const 1))))))))"#;
    let mut pair = Pair::new(wat, &Config { max_call_depth: 100, ..Config::default() });
    for (export, arg, compiled) in
        [("div", 5, true), ("div", 0, false), ("deep", 99, true), ("deep", 100, false), ("div", 7, true)]
    {
        let served = pair.call(export, &[Value::I32(arg)], u64::MAX, CallInput::default());
        assert_eq!(served == Served::Compiled, compiled, "{export}({arg}): {served:?}");
    }
}

#[test]
fn a_storage_contract_keeps_the_steppers_storage() {
    let bytes = std::fs::read(root().join("tests/contracts/token.wasm")).unwrap();
    let mut pair = Pair::new(&bytes, &Config { gas_limit: 10_000_000, ..Config::default() });
    // The token reads its caller and its admin from storage: give both machines the same.
    let admin = [7u8; 32];
    for m in [&mut pair.stepper, &mut pair.normal] {
        let storage = m.storage_mut();
        storage.set(b"admin", Some(&admin));
        storage.set(&stepper::storage::reserved_key(stepper::storage::CALLER), Some(&admin));
    }
    let me = i64::from_le_bytes(admin[..8].try_into().unwrap());
    let calls: &[(&str, Vec<Value>, &[u8])] = &[
        ("mint", vec![Value::I64(me), Value::I64(1000)], b""),
        ("transfer", vec![Value::I64(42), Value::I64(300)], b""),
        ("balance", vec![Value::I64(42)], b""),
        ("transfer", vec![Value::I64(42), Value::I64(5000)], b""),
        ("echo", vec![], b"bytes in"),
        ("echo", vec![], b""),
    ];
    for (export, args, input) in calls {
        let input = CallInput { args: vec![export.as_bytes().to_vec()], stdin: input.to_vec(), ..CallInput::default() };
        pair.call(export, args, u64::MAX, input);
    }
}
