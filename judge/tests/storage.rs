//! Contract storage under the judge: every step of calls that write, overwrite, read and
//! delete keys (the storage tree's leaves splitting and collapsing) is proven and judged
//! to the stepper's post-state hash; storage traps are proven; a tampered storage
//! opening is refused; and storage calls are priced by their own gas class.

use std::sync::Arc;

use judge::{prove, Judge};
use merkle_memory::state_hash;
use stepper::op::GasClass;
use stepper::{Config, Extern, GasTable, Machine, Module, Status, Trap, Value};

const STORAGE: &str = include_str!("common/storage.wat");

fn load(config: &Config) -> (Machine, u32, Arc<Module>) {
    let module = Module::new(STORAGE.as_bytes()).unwrap();
    let (m, instance) = Machine::load(&module, config.clone()).unwrap();
    (m, instance, module)
}

/// Calls `export` on `m`, proving and judging every step; returns the final status and
/// how many steps opened storage.
fn call_judged(m: &mut Machine, instance: u32, judge: &Judge, export: &str, args: &[Value]) -> (Status, usize) {
    let Some(Extern::Func(f)) = m.export(instance, export) else { panic!("no export {export}") };
    m.invoke(f, args).unwrap();
    let mut storage_steps = 0;
    while !m.status().is_halted() {
        let proof = prove(m);
        storage_steps += usize::from(proof.storage.is_some());
        let known = judge::Known::of(&proof);
        assert_eq!(judge::from_bytes_with(&judge::to_bytes(&proof), &known).as_ref(), Ok(&proof), "compact round trip");
        assert_eq!(judge::json::from_json(&judge::json::to_json(&proof)).as_ref(), Ok(&proof), "JSON round trip");
        let verdict = judge.check(&proof).unwrap_or_else(|e| panic!("{export} step {}: {e}", m.steps()));
        m.step();
        assert_eq!(verdict.post_hash, state_hash(m), "{export} step {}", m.steps());
    }
    (m.status(), storage_steps)
}

#[test]
fn storage_calls_are_proven_and_judged_at_every_step() {
    let config = Config::default();
    let (mut m, instance, module) = load(&config);
    let judge = Judge::new(module, config).unwrap();
    let (status, writes) = call_judged(&mut m, instance, &judge, "fill", &[Value::I32(60)]);
    assert_eq!((status, writes), (Status::Returned, 90));
    assert_eq!(m.store().storage.len(), 60);
    for (i, cap, len) in [(3, 64, 4), (4, 64, 7), (4, 3, 7), (61, 8, -1)] {
        let (status, reads) = call_judged(&mut m, instance, &judge, "get", &[Value::I32(i), Value::I32(cap)]);
        assert_eq!((status, reads), (Status::Returned, 1));
        assert_eq!(m.results(), vec![Value::I32(len)], "key {i}");
    }
    // Deleting every third key, then the rest: leaves collapse into their neighbours'
    // places until the tree is empty.
    let (_, deletes) = call_judged(&mut m, instance, &judge, "remove", &[Value::I32(0), Value::I32(3), Value::I32(60)]);
    assert_eq!((deletes, m.results()), (20, vec![Value::I32(20)]));
    let (_, deletes) = call_judged(&mut m, instance, &judge, "remove", &[Value::I32(0), Value::I32(1), Value::I32(61)]);
    assert_eq!((deletes, m.results()), (61, vec![Value::I32(40)]));
    assert!(m.store().storage.is_empty());
    // An emptied storage commits like one never written.
    assert_eq!(merkle_memory::storage::storage_root(m.storage_mut()), merkle_memory::hash::EMPTY);
}

#[test]
fn the_caller_is_read_from_its_reserved_key_and_proven() {
    let config = Config::default();
    let (mut m, instance, module) = load(&config);
    let judge = Judge::new(module, config).unwrap();
    // No caller: -1, and nothing written.
    let (status, reads) = call_judged(&mut m, instance, &judge, "who", &[Value::I32(100)]);
    assert_eq!((status, reads, m.results()), (Status::Returned, 1, vec![Value::I32(-1)]));
    let caller: Vec<u8> = (1..=32).collect();
    m.storage_mut().set(&stepper::storage::reserved_key(stepper::storage::CALLER), Some(&caller));
    let (status, reads) = call_judged(&mut m, instance, &judge, "who", &[Value::I32(100)]);
    assert_eq!((status, reads, m.results()), (Status::Returned, 1, vec![Value::I32(32)]));
    assert_eq!(&m.memories_mut()[0].data()[100..132], &caller[..]);
    // Past the end of memory: a trap, proven.
    let (status, _) = call_judged(&mut m, instance, &judge, "who", &[Value::I32(65536 - 31)]);
    assert_eq!(status, Status::Trapped(Trap::MemoryOutOfBounds));
    // A program cannot name a reserved key.
    let (status, _) = call_judged(&mut m, instance, &judge, "write_reserved", &[]);
    assert_eq!(status, Status::Trapped(Trap::StorageLimit));
    // A snapshot keeps the reserved key.
    let restored = Machine::restore(&m.snapshot(), &[m.store().instances[instance as usize].module.clone()]).unwrap();
    assert_eq!(
        restored.store().storage.get(&stepper::storage::reserved_key(stepper::storage::CALLER)),
        Some(&caller[..])
    );
}

#[test]
fn storage_traps_are_proven() {
    let config = Config::default();
    let (mut m, instance, module) = load(&config);
    let judge = Judge::new(module, config).unwrap();
    for (export, trap) in [
        ("long_key", Trap::StorageLimit),
        ("long_value", Trap::StorageLimit),
        ("out_of_bounds", Trap::MemoryOutOfBounds),
        ("indirect", Trap::IndirectHostCall),
    ] {
        let (status, _) = call_judged(&mut m, instance, &judge, export, &[]);
        assert_eq!(status, Status::Trapped(trap), "{export}");
    }
}

#[test]
fn a_tampered_storage_opening_is_refused() {
    let config = Config::default();
    let (mut m, instance, module) = load(&config);
    let judge = Judge::new(module, config).unwrap();
    call_judged(&mut m, instance, &judge, "fill", &[Value::I32(10)]);
    let Some(Extern::Func(get)) = m.export(instance, "get") else { panic!() };
    m.invoke(get, &[Value::I32(4), Value::I32(64)]).unwrap();
    let proof = loop {
        let p = prove(&m);
        if p.storage.is_some() {
            break p;
        }
        m.step();
    };
    judge.check(&proof).unwrap();
    let mut other_value = proof.clone();
    other_value.storage.as_mut().unwrap().value.as_mut().unwrap()[0] ^= 1;
    let mut absent = proof.clone();
    absent.storage.as_mut().unwrap().value = None;
    let mut other_key = proof.clone();
    other_key.storage.as_mut().unwrap().key[1] ^= 1;
    let mut sibling = proof.clone();
    sibling.storage.as_mut().unwrap().path.siblings[0][5] ^= 1;
    let mut missing = proof.clone();
    missing.storage = None;
    for (what, p) in
        [("value", other_value), ("absence", absent), ("key", other_key), ("sibling", sibling), ("no opening", missing)]
    {
        let verdict = judge.check(&p);
        assert!(verdict.is_err(), "{what}: {verdict:?}");
    }
}

#[test]
fn a_direct_storage_call_costs_the_storage_price() {
    let mut gas = GasTable::uniform(1);
    gas.costs[GasClass::Storage as usize] = 1000;
    let config = Config { gas, ..Config::default() };
    let (mut m, instance, module) = load(&config);
    let judge = Judge::new(module, config).unwrap();
    let (status, _) = call_judged(&mut m, instance, &judge, "get", &[Value::I32(1), Value::I32(8)]);
    assert_eq!(status, Status::Returned);
    assert_eq!(m.gas_used(), m.steps() - 1 + 1000);
}
