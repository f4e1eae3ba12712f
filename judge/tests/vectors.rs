//! Golden proof vectors in `traces/vectors/proofs.json`: one proof per instruction class
//! and per hard case (calls, returns, growth, bulk sub-steps, traps, out of gas, a halted
//! machine), with the module's binary, so that a judge in another language can be tested
//! against them. Each proof is in its JSON form and in its compact binary form, which
//! the vector's `step`, `pre_hash`, `post_hash` and `context` complete. This test checks
//! that the file is what the prover gives today and that the judge accepts every proof in
//! it, from the file's own JSON and binary forms.
//!
//! `VERIGAME_BLESS=1` rewrites the file after an intended change of the format.

use std::collections::BTreeMap;
use std::sync::Arc;

use judge::{json, prove, Judge};
use merkle_memory::hash::{bytes_to_hex, hex_to_bytes};
use serde_json::{json, Value as Json};
use stepper::host::HostFunc;
use stepper::{CallInput, Config, Extern, GasTable, Machine, Module, Status, Value};

const EVERYTHING: &str = include_str!("common/everything.wat");

/// What a step is an example of: its instruction class, or a named hard case.
fn case_of(m: &Machine) -> Vec<String> {
    let Some((_, instance)) = m.current() else { return vec!["halted".into()] };
    if m.status().is_halted() {
        return vec!["halted".into()];
    }
    let op = instance.module.code[m.pc() as usize];
    let mut name = op.to_string().split(' ').next().unwrap_or_default().to_string();
    let mut cases = vec![format!("class {}", op.gas_class().name())];
    if let stepper::op::Op::Call(index) = op {
        match m.store().funcs[instance.funcs[index as usize] as usize] {
            stepper::store::Func::Host { func: HostFunc::Wasi(f), .. } => {
                // A WASI call's first step, and the steps that continue it.
                let phase = if m.io().regs().cursor == 0 { "" } else { " (continued)" };
                return vec![format!("{}{phase}", f.name())];
            }
            stepper::store::Func::Host { func, .. } => {
                name = HostFunc::VERIGAME.iter().find(|(_, f)| *f == func).map_or(name, |(n, _)| n.to_string());
            }
            _ => {}
        }
    }
    if [
        "call",
        "call_indirect",
        "return",
        "memory.grow",
        "table.grow",
        "memory.copy",
        "memory.fill",
        "memory.init",
        "table.copy",
        "table.init",
        "table.fill",
        "br_table",
        "global.set",
        "local.set",
        "i64.store",
        "storage_write",
        "storage_read",
        "storage_delete",
        "caller",
    ]
    .contains(&name.as_str())
    {
        cases.push(name);
    }
    cases
}

/// A call the vectors come from: its configuration's name, export, arguments,
/// configuration and WASI input.
type Run = (&'static str, &'static str, Vec<Value>, Config, CallInput);

fn vectors(module: &Arc<Module>, wasm: &[u8], runs: Vec<Run>, configs: Json) -> Json {
    let mut proofs: BTreeMap<String, Json> = BTreeMap::new();
    let mut record = |case: String, m: &Machine, config: &str| {
        proofs.entry(case.clone()).or_insert_with(|| {
            let proof = prove(m);
            json!({
                "case": case,
                "config": config,
                "step": proof.step,
                "pre_hash": merkle_memory::hex(&proof.pre_hash),
                "post_hash": merkle_memory::hex(&proof.post_hash),
                "context": merkle_memory::hex(&proof.state.context),
                "proof": json::to_json(&proof),
                "binary": bytes_to_hex(&judge::to_bytes(&proof)),
            })
        });
    };
    for (config_name, export, args, config, input) in runs {
        let (mut m, instance) = Machine::load(module, config).unwrap();
        let Some(Extern::Func(f)) = m.export(instance, export) else { panic!() };
        m.start_call(f, &args, u64::MAX, input).unwrap();
        loop {
            for case in case_of(&m) {
                record(case, &m, config_name);
            }
            if m.status().is_halted() {
                break;
            }
            // The step that traps or runs out of gas: proven from the state before it.
            let before = m.clone();
            match m.step() {
                Status::Trapped(_) => record("trap".into(), &before, config_name),
                Status::OutOfGas => record("out of gas".into(), &before, config_name),
                _ => {}
            }
        }
    }
    json!({
        "version": judge::proof::VERSION,
        "module": bytes_to_hex(wasm),
        "configs": configs,
        "proofs": proofs.into_values().collect::<Vec<_>>(),
    })
}

/// Checks `file` against what the prover gives (rewriting it when blessing) and that the
/// judge accepts every proof in it from both its forms; returns the cases it holds.
fn check_file(file: &str, module: &Arc<Module>, now: Json, config_of: impl Fn(&str) -> Config) -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../traces/vectors").join(file);
    if std::env::var_os("VERIGAME_BLESS").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&now).unwrap() + "\n").unwrap();
    }
    let stored: Json = serde_json::from_str(&std::fs::read_to_string(&path).expect("vectors exist")).unwrap();
    assert_eq!(stored, now, "the prover no longer gives the stored proofs of {file}");
    for v in stored["proofs"].as_array().unwrap() {
        let judge = Judge::new(module.clone(), config_of(v["config"].as_str().unwrap())).unwrap();
        let from_json = json::from_json(&v["proof"]).unwrap();
        let bytes = hex_to_bytes(v["binary"].as_str().unwrap()).expect("hex bytes");
        let hash = |key: &str| merkle_memory::parse_hex(v[key].as_str().unwrap()).expect("a hash");
        let known = judge::Known {
            step: v["step"].as_u64().unwrap(),
            pre_hash: hash("pre_hash"),
            post_hash: hash("post_hash"),
            context: hash("context"),
        };
        assert_eq!(judge::from_bytes_with(&bytes, &known).unwrap(), from_json, "{}: the two forms differ", v["case"]);
        let verdict = judge.check(&from_json).unwrap_or_else(|e| panic!("{}: {e}", v["case"]));
        assert_eq!(merkle_memory::hex(&verdict.post_hash), v["post_hash"].as_str().unwrap());
    }
    stored["proofs"].as_array().unwrap().iter().map(|p| p["case"].as_str().unwrap().to_string()).collect()
}

#[test]
fn golden_proofs_are_what_the_prover_gives_and_the_judge_accepts() {
    let wasm = wat::parse_str(EVERYTHING).unwrap();
    let module = Module::new(&wasm).unwrap();
    let gas_40 = Config { gas_limit: 40, gas: GasTable::uniform(1), ..Config::default() };
    let runs: Vec<Run> = vec![
        ("default", "run", vec![Value::I32(5)], Config::default(), CallInput::default()),
        ("default", "fail", vec![Value::I32(9)], Config::default(), CallInput::default()),
        ("default", "div", vec![Value::I32(0)], Config::default(), CallInput::default()),
        ("gas_limit 40", "spin", vec![], gas_40.clone(), CallInput::default()),
    ];
    let configs = json!({
        "default": "stepper::Config::default(): 65536 pages, 2^20 table elements, 2^22 stack slots, call depth 2^14, no gas limit, 512-byte chunks, every step costs 1",
        "gas_limit 40": "the default configuration with gas_limit 40",
    });
    let now = vectors(&module, &wasm, runs, configs);
    let cases =
        check_file(
            "proofs.json",
            &module,
            now,
            |name| if name == "default" { Config::default() } else { gas_40.clone() },
        );
    for want in [
        "class control",
        "class numeric",
        "class load",
        "class store",
        "class bulk",
        "call",
        "return",
        "memory.grow",
        "table.grow",
        "trap",
        "out of gas",
        "halted",
    ] {
        assert!(cases.iter().any(|c| c == want), "no vector for {want}: {cases:?}");
    }
}

/// One proof of each WASI call's first step and of a step that continues it, from a
/// command that reads its arguments, environment and standard input and writes both
/// streams, with 64-byte chunks so that its calls take several steps.
#[test]
fn golden_wasi_proofs_are_what_the_prover_gives_and_the_judge_accepts() {
    let wasm = wat::parse_str(include_str!("common/wasi.wat")).unwrap();
    let module = Module::new(&wasm).unwrap();
    let config = Config { memory_chunk_size: 64, ..Config::default() };
    let input = CallInput {
        args: vec![b"prog".to_vec(), b"hello".to_vec(), b"world".to_vec()],
        env: vec![b"A=1".to_vec(), [&b"LONG="[..], &[b'x'; 80]].concat()],
        stdin: (0..150u8).map(|i| b'a' + i % 26).collect(),
        seed: [7; 32],
        clock: 1_700_000_000_000_000_000,
    };
    let input_json = input_json_of(&input);
    let runs: Vec<Run> = vec![("chunks of 64", "_start", vec![], config.clone(), input)];
    let configs = json!({
        "chunks of 64": "the default configuration with 64-byte chunks",
        "input": input_json,
    });
    let now = vectors(&module, &wasm, runs, configs);
    let cases = check_file("wasi_proofs.json", &module, now, |_| config.clone());
    for want in
        ["args_get", "args_get (continued)", "fd_read (continued)", "fd_write (continued)", "random_get", "proc_exit"]
    {
        assert!(cases.iter().any(|c| c == want), "no vector for {want}: {cases:?}");
    }
}

/// The call's input as the vectors file records it, in the form of a call's "input"
/// (docs/game.md): strings and bytes as hex, the clock as a decimal string.
fn input_json_of(input: &CallInput) -> Json {
    let hex_list = |l: &[Vec<u8>]| l.iter().map(|s| bytes_to_hex(s)).collect::<Vec<_>>();
    json!({
        "args": hex_list(&input.args),
        "env": hex_list(&input.env),
        "stdin": bytes_to_hex(&input.stdin),
        "seed": bytes_to_hex(&input.seed),
        "clock": input.clock.to_string(),
    })
}
