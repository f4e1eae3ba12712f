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
use stepper::{Config, Extern, GasTable, Machine, Module, Status, Value};

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
        if let stepper::store::Func::Host { func, .. } = m.store().funcs[instance.funcs[index as usize] as usize] {
            name =
                stepper::host::HostFunc::VERIGAME.iter().find(|(_, f)| *f == func).map_or(name, |(n, _)| n.to_string());
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

fn vectors(module: &Arc<Module>, wasm: &[u8]) -> Json {
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
    let runs: [(&str, &str, Vec<Value>, Config); 4] = [
        ("default", "run", vec![Value::I32(5)], Config::default()),
        ("default", "fail", vec![Value::I32(9)], Config::default()),
        ("default", "div", vec![Value::I32(0)], Config::default()),
        ("gas_limit 40", "spin", vec![], Config { gas_limit: 40, gas: GasTable::uniform(1), ..Config::default() }),
    ];
    for (config_name, export, args, config) in runs {
        let (mut m, instance) = Machine::load(module, config).unwrap();
        let Some(Extern::Func(f)) = m.export(instance, export) else { panic!() };
        m.invoke(f, &args).unwrap();
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
        "configs": {
            "default": "stepper::Config::default(): 65536 pages, 2^20 table elements, 2^22 stack slots, call depth 2^14, no gas limit, 512-byte chunks, every step costs 1",
            "gas_limit 40": "the default configuration with gas_limit 40",
        },
        "proofs": proofs.into_values().collect::<Vec<_>>(),
    })
}

#[test]
fn golden_proofs_are_what_the_prover_gives_and_the_judge_accepts() {
    let wasm = wat::parse_str(EVERYTHING).unwrap();
    let module = Module::new(&wasm).unwrap();
    let now = vectors(&module, &wasm);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../traces/vectors/proofs.json");
    if std::env::var_os("VERIGAME_BLESS").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&now).unwrap() + "\n").unwrap();
    }
    let stored: Json = serde_json::from_str(&std::fs::read_to_string(&path).expect("vectors exist")).unwrap();
    assert_eq!(stored, now, "the prover no longer gives the stored proofs");
    let cases: Vec<&str> = stored["proofs"].as_array().unwrap().iter().map(|p| p["case"].as_str().unwrap()).collect();
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
        assert!(cases.contains(&want), "no vector for {want}: {cases:?}");
    }
    for v in stored["proofs"].as_array().unwrap() {
        let config = match v["config"].as_str().unwrap() {
            "default" => Config::default(),
            _ => Config { gas_limit: 40, ..Config::default() },
        };
        let judge = Judge::new(module.clone(), config).unwrap();
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
}
