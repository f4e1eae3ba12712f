//! WASI calls before the judge: every step of a command that uses the call's input and
//! output is provable at several chunk sizes, every WASI step of real C programs too, and
//! proofs that lie about the input or the output streams are refused.

use std::sync::Arc;

use judge::{prove, Judge};
use merkle_memory::state_hash;
use stepper::host::HostFunc;
use stepper::op::Op;
use stepper::store::Func;
use stepper::{CallInput, Config, Extern, Machine, Module, Status};

const WASI: &str = include_str!("common/wasi.wat");

fn input() -> CallInput {
    CallInput {
        args: vec![b"prog".to_vec(), b"hello".to_vec(), b"world".to_vec()],
        env: vec![b"A=1".to_vec(), [&b"LONG="[..], &[b'x'; 80]].concat()],
        stdin: (0..150u8).map(|i| b'a' + i % 26).collect(),
        seed: [7; 32],
        clock: 1_700_000_000_000_000_000,
    }
}

fn start(module: &Arc<Module>, config: &Config, input: CallInput) -> Machine {
    let (mut m, instance) = Machine::load(module, config.clone()).unwrap();
    let Some(Extern::Func(f)) = m.export(instance, "_start") else { panic!("no _start") };
    m.start_call(f, &[], u64::MAX, input).unwrap();
    m
}

/// Whether the machine's next step is (one step of) a WASI call.
fn at_wasi_call(m: &Machine) -> bool {
    let Some(frame) = m.frames().last() else { return false };
    let Func::Wasm { instance, .. } = m.store().funcs[frame.func as usize] else { return false };
    let inst = &m.store().instances[instance as usize];
    match inst.module.code[m.pc() as usize] {
        Op::Call(index) => {
            matches!(m.store().funcs[inst.funcs[index as usize] as usize], Func::Host { func: HostFunc::Wasi(_), .. })
        }
        _ => false,
    }
}

/// Proves and judges the machine's next step, with the proof through its three forms.
fn check_step(judge: &Judge, m: &mut Machine) {
    let proof = prove(m);
    let known = judge::Known::of(&proof);
    assert_eq!(judge::from_bytes_with(&judge::to_bytes(&proof), &known).as_ref(), Ok(&proof), "compact round trip");
    assert_eq!(judge::json::from_json(&judge::json::to_json(&proof)).as_ref(), Ok(&proof), "JSON round trip");
    let verdict = judge.check(&proof).unwrap_or_else(|e| panic!("step {}: {e}", m.steps()));
    m.step();
    assert_eq!(verdict.post_hash, state_hash(m), "step {}: post-state", m.steps());
}

#[test]
fn every_step_of_a_wasi_command_is_provable() {
    let module = Module::new(WASI.as_bytes()).unwrap();
    for chunk in [1, 4, 64, 512] {
        let config = Config { memory_chunk_size: chunk, ..Config::default() };
        let judge = Judge::new(module.clone(), config.clone()).unwrap();
        let mut m = start(&module, &config, input());
        let mut wasi_steps = 0;
        while !m.status().is_halted() {
            wasi_steps += at_wasi_call(&m) as u32;
            check_step(&judge, &mut m);
        }
        assert_eq!(m.status(), Status::Exited(3));
        assert!(wasi_steps > 10, "chunk {chunk}: {wasi_steps} WASI steps");
        // The halted state is a fixed point, proven like any other.
        check_step(&judge, &mut m);
    }
}

/// Every WASI step of the committed C programs' runs, at two chunk sizes.
#[test]
fn every_wasi_step_of_real_programs_is_provable() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/programs/wasi");
    let runs: [(&str, &[&str], &[u8]); 3] = [
        ("hello.wasm", &[], b""),
        ("stdin.wasm", &[], b"one two\nthree\n\nfour five six\n"),
        ("args.wasm", &["12", "-5", "x"], b""),
    ];
    for (name, args, stdin) in runs {
        let module = Module::new(&std::fs::read(dir.join(name)).unwrap()).unwrap();
        for chunk in [64, 512] {
            let config = Config { memory_chunk_size: chunk, ..Config::default() };
            let judge = Judge::new(module.clone(), config.clone()).unwrap();
            let argv = std::iter::once(name).chain(args.iter().copied()).map(|a| a.as_bytes().to_vec()).collect();
            let call =
                CallInput { args: argv, env: vec![b"LANG=C".to_vec()], stdin: stdin.to_vec(), ..CallInput::default() };
            let mut m = start(&module, &config, call);
            let mut proven = 0;
            while !m.status().is_halted() {
                if at_wasi_call(&m) {
                    check_step(&judge, &mut m);
                    proven += 1;
                } else {
                    m.run(1);
                }
            }
            assert!(proven > 3, "{name}: {proven} WASI steps");
            assert!(!m.io().stdout().is_empty(), "{name} printed");
        }
    }
}

#[test]
fn proofs_that_lie_about_input_or_output_are_refused() {
    let module = Module::new(WASI.as_bytes()).unwrap();
    let config = Config { memory_chunk_size: 64, ..Config::default() };
    let judge = Judge::new(module.clone(), config.clone()).unwrap();
    let mut m = start(&module, &config, input());
    // Find a step that reads standard input and one that writes an output stream.
    let (mut reads, mut writes) = (None, None);
    while !m.status().is_halted() && (reads.is_none() || writes.is_none()) {
        let proof = prove(&m);
        if let Some(io) = &proof.io {
            if !io.input_chunks.is_empty() && io.io.regs.stdin_pos > 0 {
                reads.get_or_insert(proof.clone());
            }
            if io.io.stdout.len > 0 && io.io.stdout.len % 64 != 0 && io.io.regs.cursor != 0 {
                writes.get_or_insert(proof);
            }
        }
        m.step();
    }
    let (reads, writes) = (reads.expect("a read step"), writes.expect("a write step"));
    judge.check(&reads).unwrap();
    judge.check(&writes).unwrap();
    let lies: Vec<(&str, judge::Proof)> = vec![
        ("a flipped input byte", {
            let mut p = reads.clone();
            p.io.as_mut().unwrap().input_chunks[0].1[0] ^= 1;
            p
        }),
        ("a moved standard input position", {
            let mut p = reads.clone();
            p.io.as_mut().unwrap().io.regs.stdin_pos += 1;
            p
        }),
        ("a changed output tail", {
            let mut p = writes.clone();
            p.io.as_mut().unwrap().io.stdout.tail[0] ^= 1;
            p
        }),
        ("a shortened output", {
            let mut p = writes.clone();
            let io = p.io.as_mut().unwrap();
            io.io.stdout.len -= 1;
            io.io.stdout.tail.pop();
            p
        }),
        ("a changed seed", {
            let mut p = writes.clone();
            p.io.as_mut().unwrap().io.regs.seed[0] ^= 1;
            p
        }),
        ("no input chunks", {
            let mut p = reads.clone();
            p.io.as_mut().unwrap().input_chunks.clear();
            p
        }),
        ("no input and output", {
            let mut p = writes.clone();
            p.io = None;
            p
        }),
    ];
    for (what, proof) in lies {
        let refused = judge.check(&proof);
        assert!(refused.is_err(), "{what}: accepted");
    }
}

mod random_calls {
    //! Random calls of every WASI function: random arguments (pointers in and out of
    //! memory, descriptors open, closed and unknown, iovec arrays of random buffers), a
    //! random input and chunk size. Every step of the call is proven and judged to the
    //! stepper's own post-state.

    use super::*;
    use proptest::prelude::*;
    use stepper::wasi::Wasi;
    use stepper::ValType;

    /// Where the random iovec (or subscription) array lies.
    const ARRAY: u32 = 1024;

    fn arg() -> impl Strategy<Value = u64> {
        prop_oneof![
            0u64..4,               // descriptors and small counts
            Just(ARRAY as u64),    // the array
            0u64..70_000,          // pointers, some past the one page
            Just(u32::MAX as u64), // far out of bounds
            0u64..300,             // lengths
        ]
    }

    fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(1u8..=255, 0..max)
    }

    prop_compose! {
        fn input()(args in proptest::collection::vec(bytes(20), 0..4),
                   env in proptest::collection::vec(bytes(12), 0..3),
                   stdin in bytes(300), seed in any::<[u8; 32]>(), clock in any::<u64>()) -> CallInput {
            let env = env.into_iter().map(|mut e| { e.retain(|&b| b != b'='); e.push(b'='); e }).collect();
            CallInput { args, env, stdin, seed, clock }
        }
    }

    /// A module whose `_start` closes `close` (if any) and calls `f` with `args`, over
    /// one page whose array at [`ARRAY`] holds `entries` (buffer, length) pairs.
    fn module(f: Wasi, args: &[u64], close: Option<u32>, entries: &[(u32, u32)]) -> Vec<u8> {
        let params: Vec<&str> = f.params().iter().map(|t| if *t == ValType::I64 { "i64" } else { "i32" }).collect();
        let result = if f.has_result() { "(result i32)" } else { "" };
        let consts: String = f
            .params()
            .iter()
            .zip(args)
            .map(|(t, a)| match t {
                ValType::I64 => format!("(i64.const {a})"),
                _ => format!("(i32.const {})", *a as u32 as i32),
            })
            .collect();
        let call = format!("(call $f {consts})");
        let call = if f.has_result() { format!("(drop {call})") } else { call };
        let close = close.map_or(String::new(), |fd| format!("(drop (call $close (i32.const {fd})))"));
        let data: String = entries
            .iter()
            .flat_map(|(buf, len)| buf.to_le_bytes().into_iter().chain(len.to_le_bytes()))
            .map(|b| format!("\\{b:02x}"))
            .collect();
        let wat = format!(
            r#"(module
                (import "wasi_snapshot_preview1" "{name}" (func $f (param {params}) {result}))
                (import "wasi_snapshot_preview1" "fd_close" (func $close (param i32) (result i32)))
                (memory 1)
                (data (i32.const {ARRAY}) "{data}")
                (data (i32.const 4096) "some bytes to write, across a chunk or two of memory")
                (func (export "_start") {close} {call}))"#,
            name = f.name(),
            params = params.join(" "),
        );
        wat::parse_str(wat).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        #[test]
        fn every_step_of_a_random_wasi_call_is_provable(
            f in proptest::sample::select(Wasi::ALL.to_vec()),
            args in proptest::collection::vec(arg(), 9),
            close in proptest::option::of(0u32..3),
            entries in proptest::collection::vec((prop_oneof![4000u32..4200, 0u32..70_000], 0u32..200), 0..6),
            input in input(),
            chunk in proptest::sample::select(vec![1u32, 2, 8, 64, 512]),
            plausible in any::<bool>(),
        ) {
            // Half the calls get arguments a program would pass, so that the calls that
            // move bytes move many, over several steps.
            let mut args = args;
            let (a, b, n) = (args[0], args[1], args[2] % (entries.len() as u64 + 1));
            if plausible {
                match f {
                    Wasi::FdRead | Wasi::FdWrite => args[..4].copy_from_slice(&[a % 3, ARRAY as u64, n, 2000]),
                    Wasi::PollOneoff => args[..4].copy_from_slice(&[ARRAY as u64, 3000, n, 2000]),
                    Wasi::ArgsGet | Wasi::EnvironGet => args[..2].copy_from_slice(&[a % 60_000, 6000]),
                    Wasi::RandomGet => args[..2].copy_from_slice(&[a % 60_000, b % 2000]),
                    _ => {}
                }
            }
            let wasm = module(f, &args, close, &entries);
            let module = Module::new(&wasm).unwrap();
            let config = Config { memory_chunk_size: chunk, gas_limit: 100_000, ..Config::default() };
            let judge = Judge::new(module.clone(), config.clone()).unwrap();
            let mut m = start(&module, &config, input);
            while !m.status().is_halted() {
                check_step(&judge, &mut m);
            }
        }
    }
}
