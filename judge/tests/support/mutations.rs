//! Mutated proofs, shared by `judge/tests/fuzz_mutations.rs` (seeded, bounded) and the
//! cargo-fuzz target `fuzz/fuzz_targets/judge.rs` (driven by the fuzzer's bytes).
//!
//! A corpus of honest proofs of a few runs is built once. A mutation changes a proof's
//! binary encoding (bit flips, byte writes, inserts, deletes, interesting u32s, ranges
//! copied within the proof or from another proof of the same run) or its decoded fields
//! (every part of every opening, and whole openings swapped for another step's). The
//! judge must then never panic past its own guard, decoding must never panic, and any
//! proof the judge accepts must carry the honest `(pre_hash, post_hash)` of a step of the
//! run: the mutated step's own, or (when a donor's state was swapped in with its
//! openings) the donor's.

#![allow(dead_code)]

use std::cell::Cell;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use judge::proof::{Leaves, Proof};
use judge::{prove, Judge};
use merkle_memory::state::EnvironmentCommitment;
use merkle_memory::Hash;
use stepper::op::GasClass;
use stepper::{Config, Extern, Machine, Module, Status, Value};

/// Every kind of state a step can touch, in a run of a few hundred steps.
pub const PROGRAM: &str = r#"(module
  (import "verigame" "emit" (func $emit (param i64)))
  (import "verigame" "abort" (func $abort (param i32)))
  (type $i2i (func (param i32) (result i32)))
  (memory 1 4)
  (table $t 4 32 funcref)
  (table $x 2 externref)
  (global $g (mut i64) (i64.const 9))
  (global $c (mut i32) (i32.const 0))
  (data $d "bytes for memory.init, long enough to cross a chunk boundary when placed at 500")
  (elem $fs funcref (ref.func $f) (ref.func $h))
  (elem (table $t) (i32.const 0) func $f $h)
  (func $f (type $i2i) (local i64)
    (local.set 1 (i64.extend_i32_u (local.get 0)))
    (call $emit (local.get 1))
    (global.set $g (i64.add (global.get $g) (local.get 1)))
    (i32.add (local.get 0) (i32.const 1)))
  (func $h (type $i2i)
    (global.set $c (i32.add (global.get $c) (i32.const 1)))
    (call_indirect (type $i2i) (local.get 0) (i32.const 0)))
  (func $pair (param i32) (result i32 i64)
    (block (result i32 i64)
      (local.get 0) (i64.const 7)
      (br_if 0 (i32.eqz (local.get 0)))
      (drop) (drop) (i32.const 1) (i64.const 2)))
  (func (export "go") (param $n i32) (result i32) (local $i i32) (local $acc i32)
    (memory.init $d (i32.const 500) (i32.const 0) (i32.const 60))
    (data.drop $d)
    (i64.store (i32.const 1020) (global.get $g))
    (local.set $acc (i32.load offset=3 (i32.const 1018)))
    (drop (memory.grow (i32.const 1)))
    (i64.store (i32.const 65532) (i64.const 0x0102030405060708))
    (memory.fill (i32.const 1000) (i32.const 0xab) (i32.const 40))
    (memory.copy (i32.const 65530) (i32.const 500) (i32.const 30))
    (memory.copy (i32.const 510) (i32.const 505) (i32.const 20))
    (drop (table.grow $t (ref.func $f) (i32.const 2)))
    (table.set $t (i32.const 3) (table.get $t (i32.const 4)))
    (table.init $t $fs (i32.const 2) (i32.const 0) (i32.const 2))
    (elem.drop $fs)
    (table.copy $t $t (i32.const 1) (i32.const 3) (i32.const 2))
    (table.fill $x (i32.const 0) (ref.null extern) (i32.const 2))
    (local.set $acc (i32.add (local.get $acc) (table.size $t)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (i32.add (local.get $acc)
          (call_indirect (type $i2i) (local.get $i) (i32.and (local.get $i) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_table $next $done $next (i32.rem_u (local.get $i) (i32.const 3)))))
    (call $pair (local.get $n)) (drop) (drop)
    (i32.add (local.get $acc) (i32.const 1)))
  (func (export "trap") (param i32) (result i32)
    (i32.div_s (call $f (local.get 0)) (i32.sub (local.get 0) (local.get 0)))))"#;

const MEMOPS: &[u8] = include_bytes!("../../../tests/programs/memops.wasm");
const FIB: &[u8] = include_bytes!("../../../tests/programs/fib.wasm");

/// An honest proof of one step.
pub struct Case {
    /// Which run (and judge) it belongs to.
    pub run: usize,
    pub proof: Proof,
    pub bytes: Vec<u8>,
    /// The honest (pre_hash, post_hash): the only pair an accepted proof may carry.
    pub honest: (Hash, Hash),
    pub instruction: String,
    /// The machine in the pre-state, for runs whose memory is small enough to keep a copy
    /// per step: what mutations of the pre-state are mirrored on.
    pub machine: Option<Machine>,
}

pub struct Corpus {
    pub judges: Vec<Judge>,
    pub labels: Vec<String>,
    pub cases: Vec<Case>,
    /// The honest post-state of every pre-state in the corpus.
    pub posts: HashMap<Hash, Hash>,
}

fn start(module: &Arc<Module>, export: &str, args: &[Value]) -> Machine {
    let (mut m, instance) = Machine::load(module, Config::default()).expect("loads");
    let Some(Extern::Func(f)) = m.export(instance, export) else { panic!("no export {export}") };
    m.invoke(f, args).expect("call starts");
    m
}

impl Corpus {
    /// Honest proofs of every step of the program's runs (and a few steps past their
    /// end), of every memory, table and bulk step and every 50th step of memops(1), and of
    /// every step of fib_rec(4).
    pub fn build() -> Self {
        let mut corpus = Corpus { judges: Vec::new(), labels: Vec::new(), cases: Vec::new(), posts: HashMap::new() };
        let program = Module::new(PROGRAM.as_bytes()).expect("the program");
        corpus.run("go(3)", &program, "go", &[Value::I32(3)], &|_, _| true, true);
        corpus.run("trap(5)", &program, "trap", &[Value::I32(5)], &|_, _| true, true);
        let memops = Module::new(MEMOPS).expect("memops.wasm");
        let memory_steps = |step: u64, class: Option<GasClass>| {
            step.is_multiple_of(50) || matches!(class, Some(GasClass::Bulk | GasClass::MemoryTable))
        };
        corpus.run("memops(1)", &memops, "memops", &[Value::I32(1)], &memory_steps, false);
        let fib = Module::new(FIB).expect("fib.wasm");
        corpus.run("fib_rec(4)", &fib, "fib_rec", &[Value::I32(4)], &|_, _| true, true);
        corpus
    }

    fn run(
        &mut self,
        label: &str,
        module: &Arc<Module>,
        export: &str,
        args: &[Value],
        keep: &dyn Fn(u64, Option<GasClass>) -> bool,
        keep_machines: bool,
    ) {
        let run = self.judges.len();
        let judge = Judge::new(module.clone(), Config::default()).expect("judge");
        let mut m = start(module, export, args);
        let mut halted = 0;
        while halted < 2 {
            let op = m.current().map(|(_, instance)| instance.module.code[m.pc() as usize]);
            if keep(m.steps(), op.map(|op| op.gas_class())) || m.status().is_halted() {
                let proof = prove(&m);
                let post = judge.check(&proof).expect("the honest proof passes").post_hash;
                let bytes = judge::to_full_bytes(&proof);
                let instruction = op.map_or("(halted)".into(), |op| op.to_string());
                self.posts.insert(proof.pre_hash, post);
                let machine = keep_machines.then(|| m.clone());
                self.cases.push(Case { run, honest: (proof.pre_hash, post), proof, bytes, instruction, machine });
            }
            halted += u32::from(m.step() != Status::Running);
        }
        self.judges.push(judge);
        self.labels.push(label.to_string());
    }

    /// The cases of the same run as `case`, as donors of parts.
    pub fn run_of(&self, case: usize) -> std::ops::Range<usize> {
        let run = self.cases[case].run;
        let first = self.cases.iter().position(|c| c.run == run).expect("the case's run");
        let last = self.cases.iter().rposition(|c| c.run == run).expect("the case's run");
        first..last + 1
    }
}

/// Where the choices of a mutation come from: a seeded generator or the fuzzer's bytes.
pub trait Source {
    fn next_u32(&mut self) -> u32;
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            self.next_u32() as usize % n
        }
    }
    fn byte(&mut self) -> u8 {
        self.next_u32() as u8
    }
    fn chance(&mut self, one_in: u32) -> bool {
        self.next_u32().is_multiple_of(one_in)
    }
}

/// SplitMix64.
pub struct Rng(pub u64);

impl Source for Rng {
    fn next_u32(&mut self) -> u32 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 16) as u32
    }
}

/// The fuzzer's bytes, then zeros.
pub struct Bytes<'a>(pub &'a [u8]);

impl Source for Bytes<'_> {
    fn next_u32(&mut self) -> u32 {
        let n = self.0.len().min(2);
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head.iter().rev().fold(0, |acc, &b| (acc << 8) | b as u32)
    }
}

const INTERESTING: [u32; 9] = [0, 1, 2, 0x7f, 0xff, 0xffff, 0x7fff_ffff, 0x8000_0000, u32::MAX];

/// One to four changes to an encoding; `donor` is another proof of the same run.
pub fn mutate_bytes(src: &mut impl Source, bytes: &[u8], donor: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for _ in 0..1 + src.below(4) {
        let at = src.below(b.len() + 1);
        match src.below(8) {
            0 if at < b.len() => b[at] ^= 1 << src.below(8),
            1 if at < b.len() => b[at] = src.byte(),
            2 => {
                let n = 1 + src.below(8);
                let insert: Vec<u8> = (0..n).map(|_| src.byte()).collect();
                b.splice(at..at, insert);
            }
            3 => {
                let n = [1, 4, 8, 32, 64][src.below(5)];
                b.drain(at..(at + n).min(b.len()));
            }
            4 if at + 4 <= b.len() => {
                let v = INTERESTING[src.below(INTERESTING.len())];
                let v = match src.below(3) {
                    0 => v,
                    1 => u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes")).wrapping_add(1),
                    _ => u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes")).wrapping_sub(1),
                };
                b[at..at + 4].copy_from_slice(&v.to_le_bytes());
            }
            5 if !b.is_empty() => {
                // A range copied within the proof (a hash over another, say).
                let n = [4, 8, 32][src.below(3)];
                let from = src.below(b.len());
                let piece: Vec<u8> = b[from..(from + n).min(b.len())].to_vec();
                let end = (at + piece.len()).min(b.len());
                b[at..end].copy_from_slice(&piece[..end - at]);
            }
            6 if !donor.is_empty() => {
                // The same range of another proof of the run.
                let n = [8, 32, 64, 512][src.below(4)];
                let end = (at + n).min(b.len()).min(donor.len());
                if at < end {
                    b[at..end].copy_from_slice(&donor[at..end]);
                }
            }
            7 if !donor.is_empty() => {
                // The tail of another proof of the run from the same offset.
                let at = at.min(donor.len());
                b.truncate(at);
                b.extend_from_slice(&donor[at..]);
            }
            _ => {}
        }
    }
    b
}

pub fn flip_hash(src: &mut impl Source, h: &mut Hash) {
    h[src.below(32)] ^= 1 << src.below(8);
}

pub fn tweak_u32(src: &mut impl Source, v: &mut u32) {
    *v = match src.below(4) {
        0 => v.wrapping_add(1),
        1 => v.wrapping_sub(1),
        2 => INTERESTING[src.below(INTERESTING.len())],
        _ => *v ^ (1 << src.below(32)),
    };
}

pub fn tweak_u64(src: &mut impl Source, v: &mut u64) {
    *v = match src.below(4) {
        0 => v.wrapping_add(1),
        1 => v.wrapping_sub(1),
        2 => 0,
        _ => *v ^ (1 << src.below(64)),
    };
}

fn tweak_hashes(src: &mut impl Source, hs: &mut Vec<Hash>, donor: &[Hash]) {
    match src.below(6) {
        0 if !hs.is_empty() => {
            let i = src.below(hs.len());
            flip_hash(src, &mut hs[i]);
        }
        1 => {
            hs.pop();
        }
        2 => {
            let h = donor.first().copied().unwrap_or([7; 32]);
            hs.insert(src.below(hs.len() + 1), h);
        }
        3 if hs.len() >= 2 => {
            let (i, j) = (src.below(hs.len()), src.below(hs.len()));
            hs.swap(i, j);
        }
        4 => *hs = donor.to_vec(),
        _ if !hs.is_empty() && !donor.is_empty() => {
            let i = src.below(hs.len());
            hs[i] = donor[src.below(donor.len())];
        }
        _ => {}
    }
}

fn tweak_leaves(src: &mut impl Source, l: &mut Leaves, donor: Option<&Leaves>) {
    match src.below(8) {
        0 => tweak_u32(src, &mut l.count),
        1 if !l.indices.is_empty() => {
            let i = src.below(l.indices.len());
            tweak_u32(src, &mut l.indices[i]);
        }
        2 if !l.values.is_empty() => {
            let i = src.below(l.values.len());
            tweak_u64(src, &mut l.values[i]);
        }
        3 => tweak_hashes(src, &mut l.proof, donor.map_or(&[], |d| &d.proof)),
        4 => {
            // An extra leaf, or one fewer.
            if src.chance(2) {
                l.indices.push(src.below(l.count as usize + 2) as u32);
                l.values.push(src.next_u32() as u64);
            } else {
                l.indices.pop();
                l.values.pop();
            }
        }
        5 if !l.indices.is_empty() => {
            // A duplicated leaf.
            let i = src.below(l.indices.len());
            l.indices.insert(i, l.indices[i]);
            l.values.insert(i, l.values[i]);
        }
        6 => {
            if let Some(d) = donor {
                *l = d.clone();
            }
        }
        _ => {
            if let Some(d) = donor {
                l.proof = d.proof.clone();
            }
        }
    }
}

/// One to three changes to the decoded fields; `donor` is another proof of the same run.
pub fn mutate_fields(src: &mut impl Source, proof: &Proof, donor: &Proof) -> Proof {
    let mut p = proof.clone();
    for _ in 0..1 + src.below(3) {
        match src.below(24) {
            0 => {
                // A state field (they are hashed into pre_hash).
                let s = &mut p.state;
                match src.below(8) {
                    0 => s.status ^= 1 + src.below(3) as u8,
                    1 => tweak_u64(src, &mut s.steps),
                    2 => tweak_u32(src, &mut s.depth),
                    3 => tweak_u32(src, &mut s.height),
                    4 => tweak_u32(src, &mut s.frame.pc),
                    5 => tweak_u32(src, &mut s.frame.base),
                    6 => match &mut s.environment {
                        EnvironmentCommitment::Open(e) => flip_hash(src, &mut e.memories),
                        EnvironmentCommitment::Sealed(h) => flip_hash(src, h),
                    },
                    _ => p.state = donor.state,
                }
            }
            1 => p.post_hash = donor.post_hash,
            2 => {
                // Another state altogether, with its own hash.
                p.state = donor.state;
                p.pre_hash = donor.pre_hash;
                p.step = donor.step;
            }
            3 => tweak_leaves(src, &mut p.stack, Some(&donor.stack)),
            4 => flip_hash(src, &mut p.state.stack),
            5 => match &mut p.caller {
                Some(c) => tweak_u32(src, &mut c.frame.func),
                None => p.caller = donor.caller,
            },
            6 => match (&mut p.globals, src.chance(4)) {
                (Some(l), false) => tweak_leaves(src, l, donor.globals.as_ref()),
                (l, _) => *l = donor.globals.clone(),
            },
            7 => match (&mut p.caller, src.below(4)) {
                (Some(c), 0) => tweak_u32(src, &mut c.frame.pc),
                (Some(c), 1) => tweak_u32(src, &mut c.frame.base),
                (Some(c), 2) => flip_hash(src, &mut c.rest),
                (c, _) => *c = donor.caller,
            },
            8..=13 => {
                let Some(m) = &mut p.memory else {
                    p.memory = donor.memory.clone();
                    continue;
                };
                let d = donor.memory.as_ref();
                match src.below(12) {
                    0 => tweak_u32(src, &mut m.pages),
                    1 => tweak_u32(src, &mut m.max),
                    2 => tweak_u32(src, &mut m.index),
                    3 if !m.chunks.is_empty() => {
                        let i = src.below(m.chunks.len());
                        tweak_u32(src, &mut m.chunks[i].0);
                    }
                    4 if !m.chunks.is_empty() => {
                        let i = src.below(m.chunks.len());
                        let bytes = &mut m.chunks[i].1;
                        if !bytes.is_empty() {
                            let at = src.below(bytes.len());
                            bytes[at] ^= 1 << src.below(8);
                        }
                    }
                    5 if !m.chunks.is_empty() => {
                        let i = src.below(m.chunks.len());
                        if src.chance(2) {
                            m.chunks[i].1.pop();
                        } else {
                            m.chunks[i].1.push(0);
                        }
                    }
                    6 => match src.below(3) {
                        0 => {
                            m.chunks.pop();
                        }
                        1 if !m.chunks.is_empty() => {
                            let i = src.below(m.chunks.len());
                            let c = m.chunks[i].clone();
                            m.chunks.insert(i, c);
                        }
                        _ => {
                            if let Some(c) = d.and_then(|d| d.chunks.first()) {
                                m.chunks.push(c.clone());
                                m.chunks.sort_by_key(|c| c.0);
                            }
                        }
                    },
                    7 => tweak_hashes(src, &mut m.chunks_proof, d.map_or(&[], |d| &d.chunks_proof)),
                    8 => tweak_hashes(src, &mut m.memories_proof, d.map_or(&[], |d| &d.memories_proof)),
                    9 => {
                        if let Some(d) = d {
                            m.chunks = d.chunks.clone();
                            m.chunks_proof = d.chunks_proof.clone();
                        }
                    }
                    10 => p.memory = None,
                    _ => p.memory = donor.memory.clone(),
                }
            }
            14..=18 => {
                let Some(t) = &mut p.tables else {
                    p.tables = donor.tables.clone();
                    continue;
                };
                let d = donor.tables.as_ref();
                match src.below(7) {
                    0 if !t.tables.is_empty() => {
                        let i = src.below(t.tables.len());
                        tweak_u32(src, &mut t.tables[i].0);
                    }
                    1 if !t.tables.is_empty() => {
                        let i = src.below(t.tables.len());
                        let donor_leaves =
                            d.and_then(|d| d.tables.iter().find(|(k, _)| *k == t.tables[i].0)).map(|(_, l)| l);
                        tweak_leaves(src, &mut t.tables[i].1, donor_leaves);
                    }
                    2 => tweak_hashes(src, &mut t.tables_proof, d.map_or(&[], |d| &d.tables_proof)),
                    3 => match src.below(2) {
                        0 => {
                            t.tables.pop();
                        }
                        _ => {
                            if let Some(e) = d.and_then(|d| d.tables.first()) {
                                t.tables.push(e.clone());
                            }
                        }
                    },
                    4 => p.tables = None,
                    _ => p.tables = donor.tables.clone(),
                }
            }
            19..=20 => {
                let Some(s) = &mut p.segments else {
                    p.segments = donor.segments.clone();
                    continue;
                };
                match src.below(4) {
                    0 if !s.elems.is_empty() => {
                        let i = src.below(s.elems.len());
                        s.elems[i] = !s.elems[i];
                    }
                    1 if !s.datas.is_empty() => {
                        let i = src.below(s.datas.len());
                        s.datas[i] = !s.datas[i];
                    }
                    2 => {
                        if src.chance(2) {
                            s.datas.push(false);
                        } else {
                            s.elems.pop();
                        }
                    }
                    _ => p.segments = None,
                }
            }
            21 => tweak_u64(src, &mut p.step),
            22 => tweak_u32(src, &mut p.version),
            _ => {
                // Every opening of the donor at once: a consistent proof of its own state
                // presented for this one.
                let keep = (p.pre_hash, p.state, p.step);
                p = donor.clone();
                (p.pre_hash, p.state, p.step) = keep;
            }
        }
    }
    p
}

thread_local! {
    /// Set while the judge runs: a panic then is one the judge catches (and refuses the
    /// proof for), which is recorded rather than reported.
    static IN_JUDGE: Cell<bool> = const { Cell::new(false) };
}

/// Panics the judge caught, by location and message, with counts.
pub static CAUGHT: Mutex<Vec<(String, usize)>> = Mutex::new(Vec::new());

/// Records panics inside the judge (which it turns into refusals) and passes every
/// other panic to `other`.
pub fn install_panic_hook(other: Box<dyn Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync>) {
    std::panic::set_hook(Box::new(move |info| {
        if IN_JUDGE.with(Cell::get) {
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let what = format!("{}: {message}", info.location().map_or("?".into(), |l| l.to_string()));
            let mut caught = CAUGHT.lock().unwrap_or_else(|e| e.into_inner());
            match caught.iter_mut().find(|(w, _)| *w == what) {
                Some((_, n)) => *n += 1,
                None => caught.push((what, 1)),
            }
        } else {
            other(info);
        }
    }));
}

/// What the judge made of a mutated proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The mutation changed nothing.
    Unchanged,
    /// The bytes are not a proof.
    Undecodable,
    Refused,
    /// Accepted, with the honest pair of the step.
    Honest,
    /// Accepted as a proof of another honest step of the run (parts swapped in from
    /// a donor made it one), with that step's honest post-state.
    OtherStep,
}

/// Judges a proof presented for `case`; panics on a forgery or a panic that escapes
/// the judge.
pub fn judge_proof(corpus: &Corpus, case: &Case, proof: &Proof) -> Outcome {
    let judge = &corpus.judges[case.run];
    IN_JUDGE.with(|f| f.set(true));
    let verdict = catch_unwind(AssertUnwindSafe(|| judge.check(proof)));
    IN_JUDGE.with(|f| f.set(false));
    let verdict = verdict.unwrap_or_else(|_| {
        panic!(
            "the judge panicked (outside its own guard) on a mutated proof of {} step {}",
            corpus.labels[case.run], case.proof.step
        )
    });
    match verdict {
        Err(_) => Outcome::Refused,
        Ok(v) => {
            let honest = corpus.posts.get(&proof.pre_hash);
            assert_eq!(
                Some(&v.post_hash),
                honest,
                "FORGERY: the judge accepted a mutated proof of {} step {} ({}) with a post-state the stepper does not give",
                corpus.labels[case.run],
                case.proof.step,
                case.instruction
            );
            if (proof.pre_hash, v.post_hash) == case.honest {
                Outcome::Honest
            } else {
                Outcome::OtherStep
            }
        }
    }
}

/// Decodes mutated bytes of the full binary form (which must not panic, and must give
/// back the same bytes when re-encoded) and judges the proof.
pub fn judge_bytes(corpus: &Corpus, case: &Case, bytes: &[u8]) -> Outcome {
    if bytes == case.bytes {
        return Outcome::Unchanged;
    }
    let decoded = catch_unwind(|| judge::from_bytes(bytes))
        .unwrap_or_else(|_| panic!("from_bytes panicked on {} bytes", bytes.len()));
    match decoded {
        Err(_) => Outcome::Undecodable,
        Ok(proof) => {
            assert_eq!(judge::to_full_bytes(&proof), bytes, "the binary form is not canonical");
            judge_proof(corpus, case, &proof)
        }
    }
}

/// Judges a mutated proof directly and through both of its encodings. The binary forms
/// leave out the commitments the openings determine, so a proof whose fields disagree
/// with its openings decodes with them recomputed (or not at all, when an opening
/// determines nothing): that proof is judged too.
pub fn judge_fields(corpus: &Corpus, case: &Case, proof: &Proof) -> Outcome {
    if *proof == case.proof {
        return Outcome::Unchanged;
    }
    assert_eq!(
        judge::json::from_json(&judge::json::to_json(proof)).as_ref(),
        Ok(proof),
        "JSON round trip of a mutated proof"
    );
    let bytes = judge::to_full_bytes(proof);
    if let Ok(decoded) = judge::from_bytes(&bytes) {
        assert_eq!(judge::to_full_bytes(&decoded), bytes, "the binary form of a mutated proof is not canonical");
        if decoded != *proof {
            judge_proof(corpus, case, &decoded);
        }
    }
    judge_proof(corpus, case, proof)
}

/// One mutation of one case, every choice taken from `src`: the first choice picks the
/// case, the second bytes or fields, then a donor from the same run.
pub fn one(corpus: &Corpus, src: &mut impl Source) -> Outcome {
    let c = src.below(corpus.cases.len());
    let case = &corpus.cases[c];
    let run = corpus.run_of(c);
    let fields = src.chance(2);
    // Nearby steps share most of their state: the most plausible donors.
    let donor = match src.below(3) {
        0 => c.saturating_sub(1).max(run.start),
        1 => (c + 1).min(run.end - 1),
        _ => run.start + src.below(run.len()),
    };
    let donor = &corpus.cases[donor];
    if fields {
        let proof = mutate_fields(src, &case.proof, &donor.proof);
        judge_fields(corpus, case, &proof)
    } else {
        let bytes = mutate_bytes(src, &case.bytes, &donor.bytes);
        judge_bytes(corpus, case, &bytes)
    }
}
