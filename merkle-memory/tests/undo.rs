//! Undo logs (`Machine::begin_undo`): after any mix of stores, fills, copies, grows,
//! segment and table writes, traps and hashes, `undo` gives back exactly the state hash
//! and bytes the machine had, and `keep` the state a machine without a log reaches; on
//! the fast path (uniform gas prices) and on precise steps alike.

mod common;

use common::*;
use merkle_memory::state_hash;
use proptest::prelude::*;
use stepper::{Config, Machine, Value};

#[derive(Clone, Debug)]
enum Op {
    Store(usize, bool, u32, u64),
    Fill(u32, u32, u32),
    Copy(u32, u32, u32),
    Grow(u32),
    Init(u32, u32, u32),
    TableSet(u32, u32),
    /// A call that traps after its write: out of bounds.
    Trap,
    Hash,
}

fn op() -> impl Strategy<Value = Op> {
    let at = 0u32..(5 * 65536);
    prop_oneof![
        6 => (0..STORES.len(), any::<bool>(), at.clone(), any::<u64>()).prop_map(|(i, u, a, v)| Op::Store(i, u, a, v)),
        2 => (at.clone(), any::<u32>(), 0u32..3000).prop_map(|(a, v, n)| Op::Fill(a, v, n)),
        2 => (at.clone(), at.clone(), 0u32..3000).prop_map(|(d, s, n)| Op::Copy(d, s, n)),
        1 => (0u32..3).prop_map(Op::Grow),
        1 => (at, 0u32..300, 0u32..300).prop_map(|(d, s, n)| Op::Init(d, s, n)),
        1 => (0u32..6, 0u32..4).prop_map(|(i, s)| Op::TableSet(i, s)),
        1 => Just(Op::Trap),
        1 => Just(Op::Hash),
    ]
}

fn apply(rig: &Rig, m: &mut Machine, op: &Op) {
    match *op {
        Op::Store(i, unfused, at, v) => drop(rig.store(m, i, unfused, at, v)),
        Op::Fill(a, v, n) => drop(rig.call(m, "fill", &i32s(&[a, v, n]))),
        Op::Copy(d, s, n) => drop(rig.call(m, "copy", &i32s(&[d, s, n]))),
        Op::Grow(p) => drop(rig.call(m, "grow", &i32s(&[p]))),
        Op::Init(d, s, n) => drop(rig.call(m, "init", &i32s(&[d, s, n]))),
        Op::TableSet(i, s) => drop(rig.call(m, "tset", &i32s(&[i, s]))),
        Op::Trap => drop(rig.call(m, "fill", &[Value::I32(-8), Value::I32(1), Value::I32(16)])),
        Op::Hash => drop(state_hash(m)),
    }
}

fn machine(uniform: bool) -> (Rig, Machine) {
    let mut config = Config { memory_chunk_size: 512, max_memory_pages: 300, ..Config::default() };
    if !uniform {
        // One price apart sends `run` through precise steps instead of the fast path.
        config.gas.costs[0] = 2;
    }
    Rig::new(2, Some(20), 6, Some(40), config)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(48)))]

    #[test]
    fn undo_gives_back_the_state_and_keep_keeps_it(
        before in prop::collection::vec(op(), 0..8),
        during in prop::collection::vec(op(), 0..16),
        uniform in any::<bool>(),
        hashed_first in any::<bool>(),
    ) {
        let (rig, mut m) = machine(uniform);
        before.iter().for_each(|o| apply(&rig, &mut m, o));
        // A log may begin with chunks written since the last hash, or with none.
        if hashed_first {
            state_hash(&mut m);
        }
        let mut reference = m.clone();
        let bytes = m.memories_mut()[0].data().to_vec();
        let hash = state_hash(&mut m.clone());

        let undo = m.begin_undo();
        during.iter().for_each(|o| apply(&rig, &mut m, o));
        m.undo(undo);
        prop_assert_eq!(m.memories_mut()[0].data(), &bytes[..]);
        prop_assert_eq!(state_hash(&mut m), hash);
        check_commitments(&mut m, "after undo");

        let undo = m.begin_undo();
        during.iter().for_each(|o| apply(&rig, &mut m, o));
        m.keep(undo);
        during.iter().for_each(|o| apply(&rig, &mut reference, o));
        prop_assert_eq!(state_hash(&mut m), state_hash(&mut reference));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(32)))]

    /// A chain of sealed logs (`Machine::seal`), some merged, leads back through every
    /// state it was sealed at, with that state's bytes and hash, whatever was written,
    /// grown or hashed in between; and a way back survives its encoding.
    #[test]
    fn a_chain_of_ways_back_revisits_every_sealed_state(
        before in prop::collection::vec(op(), 0..6),
        segments in prop::collection::vec(prop::collection::vec(op(), 0..10), 1..5),
        merges in prop::collection::vec(any::<bool>(), 4),
        uniform in any::<bool>(),
    ) {
        let (rig, mut m) = machine(uniform);
        before.iter().for_each(|o| apply(&rig, &mut m, o));
        let mut states = Vec::new();
        let mut chain: Vec<stepper::Rewind> = Vec::new();
        for segment in &segments {
            // A trace hashes at each checkpoint before it begins the next log.
            states.push((m.memories_mut()[0].data().to_vec(), state_hash(&mut m)));
            let undo = m.begin_undo();
            segment.iter().for_each(|o| apply(&rig, &mut m, o));
            chain.push(m.seal(undo));
        }
        // Merge some neighbours: the merged one leads back to the older's state.
        let mut kept_states = vec![states.remove(0)];
        let mut merged = vec![chain.remove(0)];
        for ((rewind, state), &merge) in chain.into_iter().zip(states).zip(merges.iter().cycle()) {
            if merge {
                let older = merged.pop().unwrap();
                merged.push(stepper::Rewind::merge(older, rewind));
            } else {
                merged.push(rewind);
                kept_states.push(state);
            }
        }
        let modules = vec![m.store().instances[0].module.clone()];
        for (rewind, (bytes, hash)) in merged.into_iter().rev().zip(kept_states.into_iter().rev()) {
            let rewind = stepper::Rewind::decode(&rewind.encode(), &modules).expect("decodes");
            m.rewind(rewind).expect("leads back from this machine");
            prop_assert_eq!(m.memories_mut()[0].data(), &bytes[..]);
            prop_assert_eq!(state_hash(&mut m), hash);
            check_commitments(&mut m, "after a rewind");
        }
    }
}
