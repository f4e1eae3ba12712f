//! Mutations of an honest proof's *pre-state*, shared by `judge/tests/prestate.rs`
//! (seeded) and the cargo-fuzz target `fuzz/fuzz_targets/prestate.rs`.
//!
//! A mutation changes one value the proof gives about the state (a counter, the status,
//! the depth or height, the entry, the running frame's function, pc or base, an opened
//! stack slot, global, chunk byte or table element, a dropped flag, the caller's record,
//! or an opening's shape), in range or far out of it, and then recomputes every
//! commitment the openings determine and `pre_hash`: the result is a consistent proof of
//! *some* state. Where the same change can be made to a machine, it is, so the state is
//! known. The judge must refuse the proof with a reason, or accept it only for a state
//! it can run: then, when the state is the mirrored machine's, with exactly the post-state
//! the stepper gives. It must never panic, even inside its own guard.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use judge::proof::Proof;
use merkle_memory::state::{caller_link, segments_hash_of, state_hash, table_commitment_of, EnvironmentCommitment};
use merkle_memory::{memory, tree, Hash};
use stepper::store::Table;
use stepper::{Machine, Status, Trap};

use crate::mutations::{flip_hash, tweak_u32, tweak_u64, Case, Corpus, Source};

/// A mutated proof and, where the change could be made to a machine, that machine.
pub struct Mutated {
    pub proof: Proof,
    pub machine: Option<Mirror>,
    pub what: &'static str,
}

/// A machine in the mutated state.
pub enum Mirror {
    /// One the stepper can run ([`Machine::from_parts`] took it).
    Runnable(Machine),
    /// One the stepper's checks refuse (a step counter past 2^63, an entry that is not the
    /// outermost frame's function, ...): it is only hashed.
    Unrunnable(Machine),
}

impl Mirror {
    fn machine(&mut self) -> &mut Machine {
        match self {
            Mirror::Runnable(m) | Mirror::Unrunnable(m) => m,
        }
    }
}

/// What the judge made of a mutated pre-state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Refused,
    /// Accepted for the mirrored machine's state, with the stepper's post-state.
    Stepped,
    /// Accepted for a state no machine was built for.
    Accepted,
}

/// One mutation of `case`'s pre-state (which must keep its machine).
pub fn mutate(src: &mut impl Source, case: &Case) -> Mutated {
    let mut p = case.proof.clone();
    let mut m = case.machine.clone().expect("a case with its machine").into_parts();
    let funcs = m.store.funcs.len() as u32;
    let code_len = m.store.instances.last().map_or(0, |i| i.module.code.len() as u32);
    let mut mirrored = true;
    let what = match src.below(16) {
        0 => {
            tweak_u64(src, &mut p.state.steps);
            p.step = p.state.steps;
            m.steps = p.state.steps;
            "steps"
        }
        1 => {
            p.state.gas_used = match src.below(4) {
                0 => m.config.gas_limit,
                1 => m.config.gas_limit.wrapping_add(1),
                _ => {
                    let mut g = p.state.gas_used;
                    tweak_u64(src, &mut g);
                    g
                }
            };
            m.gas_used = p.state.gas_used;
            "gas used"
        }
        2 => {
            let status = match src.below(5) {
                0 => Status::Returned,
                1 => Status::OutOfGas,
                2 => Status::Trapped(Trap::Aborted(src.next_u32() as i32)),
                3 => Status::Trapped(Trap::from_code(1 + src.below(14) as u32, 0).expect("a trap code")),
                _ => {
                    // Codes no machine has.
                    p.state.status = [4, 0x80, 0xff][src.below(3)];
                    tweak_u32(src, &mut p.state.trap);
                    mirrored = false;
                    Status::Running
                }
            };
            if mirrored {
                (p.state.status, p.state.trap, p.state.trap_arg) = merkle_memory::state::status_code(status);
                m.status = status;
            }
            "status"
        }
        3 => {
            tweak_u32(src, &mut p.state.depth);
            mirrored = false;
            "depth"
        }
        4 => {
            tweak_u32(src, &mut p.state.height);
            mirrored = false;
            "height"
        }
        5 => {
            p.state.entry = pick_func(src, funcs);
            mirrored = p.state.entry < funcs;
            m.entry = Some(p.state.entry);
            "entry"
        }
        6 => {
            p.state.frame.pc = match src.below(3) {
                0 => src.below(code_len as usize + 2) as u32,
                _ => {
                    let mut pc = p.state.frame.pc;
                    tweak_u32(src, &mut pc);
                    pc
                }
            };
            m.pc = p.state.frame.pc;
            // A machine without frames commits to the no-frame record whatever its pc.
            mirrored = !m.frames.is_empty();
            "pc"
        }
        7 => {
            p.state.frame.func = pick_func(src, funcs);
            mirrored = p.state.frame.func < funcs && !m.frames.is_empty();
            if let Some(f) = m.frames.last_mut() {
                f.func = p.state.frame.func;
            }
            "function"
        }
        8 => {
            tweak_u32(src, &mut p.state.frame.base);
            mirrored = !m.frames.is_empty();
            if let Some(f) = m.frames.last_mut() {
                f.base = p.state.frame.base;
            }
            "frame base"
        }
        9 if !p.stack.indices.is_empty() => {
            let k = src.below(p.stack.indices.len());
            tweak_u64(src, &mut p.stack.values[k]);
            m.stack[p.stack.indices[k] as usize] = p.stack.values[k];
            "stack slot"
        }
        10 => {
            mirrored = false;
            let l = &mut p.stack;
            match src.below(4) {
                0 if !l.indices.is_empty() => {
                    let k = src.below(l.indices.len());
                    tweak_u32(src, &mut l.indices[k]);
                }
                1 => tweak_u32(src, &mut l.count),
                2 if !l.proof.is_empty() => {
                    let k = src.below(l.proof.len());
                    flip_hash(src, &mut l.proof[k]);
                }
                _ => {
                    l.indices.pop();
                    l.values.truncate(l.indices.len());
                }
            }
            "stack opening"
        }
        11 if p.globals.as_ref().is_some_and(|g| !g.indices.is_empty()) => {
            let g = p.globals.as_mut().expect("checked");
            tweak_u64(src, &mut g.values[0]);
            m.store.globals[g.indices[0] as usize].value = g.values[0];
            "global"
        }
        12 if p.memory.as_ref().is_some_and(|mem| !mem.chunks.is_empty()) => {
            let mem = p.memory.as_mut().expect("checked");
            let k = src.below(mem.chunks.len());
            let (index, bytes) = &mut mem.chunks[k];
            let at = src.below(bytes.len());
            bytes[at] ^= 1 << src.below(8);
            let chunk = bytes.len();
            let byte = bytes[at];
            let target = &mut m.store.memories[mem.index as usize];
            let address = *index as usize * chunk + at;
            target.write(address, &[byte]).expect("an opened chunk is in the memory");
            "memory byte"
        }
        13 if p.tables.as_ref().is_some_and(|t| t.tables.iter().any(|(_, l)| !l.indices.is_empty())) => {
            let t = p.tables.as_mut().expect("checked");
            let (table, l) = t.tables.iter_mut().find(|(_, l)| !l.indices.is_empty()).expect("checked");
            l.values[0] = match src.below(3) {
                0 => 0,
                1 => src.below(funcs as usize + 2) as u64,
                _ => u64::MAX,
            };
            let old = &m.store.tables[*table as usize];
            let mut elems = old.elems().to_vec();
            elems[l.indices[0] as usize] = l.values[0];
            m.store.tables[*table as usize] = Table::new(old.ty(), elems, old.max());
            "table element"
        }
        14 if p.segments.is_some() => {
            let seg = p.segments.as_mut().expect("checked");
            // Only dropping can be mirrored: a dropped segment's contents are gone.
            match (src.chance(2), seg.elems.iter().position(|d| !d), seg.datas.iter().position(|d| !d)) {
                (true, Some(e), _) => {
                    seg.elems[e] = true;
                    m.store.elems[e].clear();
                }
                (_, _, Some(d)) => {
                    seg.datas[d] = true;
                    m.store.data_dropped[d] = true;
                }
                _ => {
                    seg.elems.iter_mut().for_each(|d| *d = !*d);
                    mirrored = false;
                }
            }
            "dropped segments"
        }
        _ if p.caller.is_some() => {
            let c = p.caller.as_mut().expect("checked");
            let n = m.frames.len();
            match src.below(3) {
                0 => {
                    tweak_u32(src, &mut c.frame.pc);
                    m.frames[n - 1].ret_pc = c.frame.pc;
                }
                1 => {
                    tweak_u32(src, &mut c.frame.base);
                    m.frames[n - 2].base = c.frame.base;
                }
                _ => {
                    c.frame.func = pick_func(src, funcs);
                    mirrored = c.frame.func < funcs;
                    m.frames[n - 2].func = c.frame.func;
                }
            }
            "caller"
        }
        _ => {
            tweak_u32(src, &mut p.state.frame.pc);
            m.pc = p.state.frame.pc;
            mirrored = !m.frames.is_empty();
            "pc"
        }
    };
    reseal(&mut p, case.machine.as_ref().expect("a case with its machine"));
    let machine = mirrored.then(|| match Machine::from_parts(m.clone()) {
        Ok(runnable) => Mirror::Runnable(runnable),
        // SAFETY: a machine the checks refuse is only hashed, never stepped.
        Err(_) => Mirror::Unrunnable(unsafe { Machine::from_parts_unchecked(m) }),
    });
    Mutated { proof: p, machine, what }
}

/// A function address: another of the store's, one past the end, or far out.
fn pick_func(src: &mut impl Source, funcs: u32) -> u32 {
    match src.below(4) {
        0 => funcs,
        1 => u32::MAX,
        _ => src.below(funcs as usize) as u32,
    }
}

/// Recomputes every commitment the proof's openings determine, then `pre_hash`, so the
/// proof is a consistent proof of the state it now describes (`original` gives the
/// store's numbers of memories and tables, which the openings do not).
fn reseal(p: &mut Proof, original: &Machine) {
    if let Ok(root) = p.stack.root() {
        p.state.stack = root;
    }
    if let Some(c) = &p.caller {
        p.state.callers = caller_link(&c.frame.hash(), &c.rest);
    }
    if let EnvironmentCommitment::Open(env) = &mut p.state.environment {
        if let Some(root) = p.globals.as_ref().and_then(|g| g.root().ok()) {
            env.globals = root;
        }
        if let Some(m) = &p.memory {
            let chunk_size = m.chunks.first().map_or(1, |(_, bytes)| bytes.len());
            if let Ok(root) = m.chunks_root(chunk_size, m.chunks.iter().map(|(_, b)| b.as_slice())) {
                let commitment = memory::commitment_of(m.pages, Some(m.max), &root);
                let count = original.store().memories.len();
                if let Ok(root) = tree::proven_root(&m.memories_proof, &[m.index as usize], &[commitment], count) {
                    env.memories = root;
                }
            }
        }
        if let Some(t) = &p.tables {
            let leaves: Option<Vec<Hash>> =
                t.tables.iter().map(|(_, l)| l.root().ok().map(|r| table_commitment_of(l.count, &r))).collect();
            let indices: Vec<usize> = t.tables.iter().map(|(i, _)| *i as usize).collect();
            let count = original.store().tables.len();
            if let Some(root) = leaves.and_then(|l| tree::proven_root(&t.tables_proof, &indices, &l, count).ok()) {
                env.tables = root;
            }
        }
        if let Some(s) = &p.segments {
            env.segments = segments_hash_of(&s.elems, &s.datas);
        }
    }
    p.pre_hash = p.state.hash();
}

/// Judges a mutated pre-state and returns the verdict and how long the judge took;
/// panics when the judge panics (inside its guard too), accepts a state the mirrored
/// machine steps to another post-state, or the mirror disagrees with the proof.
pub fn judge_mutated(corpus: &Corpus, case: &Case, mutated: &Mutated) -> (Verdict, Duration) {
    let judge = &corpus.judges[case.run];
    let what = format!(
        "{} step {} ({}), {} mutated",
        corpus.labels[case.run], case.proof.step, case.instruction, mutated.what
    );
    let start = Instant::now();
    let verdict = catch_unwind(AssertUnwindSafe(|| judge.execute(&mutated.proof)))
        .unwrap_or_else(|_| panic!("the judge panicked on {what}"));
    let took = start.elapsed();
    let mut machine = mutated.machine.as_ref().map(|mirror| match mirror {
        Mirror::Runnable(m) => Mirror::Runnable(m.clone()),
        Mirror::Unrunnable(m) => Mirror::Unrunnable(m.clone()),
    });
    if let Some(mirror) = &mut machine {
        assert_eq!(
            state_hash(mirror.machine()),
            mutated.proof.pre_hash,
            "the test's mirror of the mutation is wrong: {what}"
        );
    }
    match verdict {
        Err(e) => {
            assert!(!e.0.contains("cannot run on"), "the judge's guard caught a panic on {what}: {e}");
            (Verdict::Refused, took)
        }
        Ok(v) => match &mut machine {
            Some(Mirror::Runnable(m)) => {
                // The judge ran the step, so the state is one the executor can run.
                m.step();
                assert_eq!(v.post_hash, state_hash(m), "the judge's post-state is not the stepper's: {what}");
                (Verdict::Stepped, took)
            }
            _ => (Verdict::Accepted, took),
        },
    }
}
