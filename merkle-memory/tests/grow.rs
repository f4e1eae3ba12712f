//! Memories grown far past what was ever written: the commitment leaves out nodes over
//! chunks never written, and must still equal a tree rebuilt from every chunk's bytes, with
//! proofs that rs_merkle accepts.

mod common;

use common::*;
use merkle_memory::hash::TreeHasher;
use merkle_memory::memory;
use merkle_memory::tree::Peaks;
use proptest::prelude::*;
use rs_merkle::MerkleTree;
use stepper::store::Memory;
use stepper::{Config, Machine, Status};

#[derive(Clone, Debug)]
enum Op {
    Grow(u32),
    /// A store at a fraction (per 65536) of the memory's size.
    Store(u16, u64),
    Hash,
    Clone,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0u32..40).prop_map(Op::Grow),
        4 => (any::<u16>(), any::<u64>()).prop_map(|(at, v)| Op::Store(at, v)),
        2 => Just(Op::Hash),
        1 => Just(Op::Clone),
    ]
}

/// The root from scratch, the cache's layers against rs_merkle's, and proofs of a few
/// chunks (the first, the last, the last written one and the middle).
fn check(mem: &mut Memory, what: &str) {
    let root = memory::chunks_root(mem);
    let leaves = chunk_leaves(mem);
    assert_eq!(root, rs_root(&leaves), "{what}: root");
    assert_layer_prefixes(&mem.cache().layers, &leaves, what);
    if leaves.is_empty() {
        return;
    }
    let n = leaves.len();
    let mut set = vec![0, n / 2, n - 1, mem.cache().high().clamp(1, n) - 1];
    set.sort_unstable();
    set.dedup();
    let proof = memory::chunk_proof(mem, &set);
    let theirs = MerkleTree::<TreeHasher>::from_leaves(&leaves).proof(&set);
    assert_eq!(proof.proof_hashes(), theirs.proof_hashes(), "{what}: proof of {set:?}");
}

fn run(chunk: u32, pages: u32, ops: &[Op]) {
    let config = Config { memory_chunk_size: chunk, max_memory_pages: 200, ..Config::default() };
    let (rig, m) = Rig::new(pages, None, 3, Some(40), config);
    let mut machines: Vec<Machine> = vec![m];
    for (t, op) in ops.iter().enumerate() {
        let m = machines.last_mut().unwrap();
        match *op {
            Op::Grow(n) => {
                rig.call(m, "grow", &i32s(&[n]));
            }
            Op::Store(at, v) => {
                let len = m.store().memories[0].data().len() as u64;
                if len > 0 {
                    let at = ((len * at as u64) >> 16).min(len - 8) as u32;
                    assert_eq!(rig.store(m, 6, false, at, v), Status::Returned);
                }
            }
            Op::Hash => check(&mut m.memories_mut()[0], &format!("chunk {chunk}, op {t}")),
            Op::Clone => {
                let c = m.clone();
                machines.push(c);
            }
        }
    }
    for (i, m) in machines.iter_mut().enumerate() {
        check(&mut m.memories_mut()[0], &format!("chunk {chunk}, machine {i} at the end"));
        let mut restored = rig.restore(m);
        check(&mut restored.memories_mut()[0], &format!("chunk {chunk}, machine {i} restored"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(48), ..ProptestConfig::default() })]

    #[test]
    fn grown_memories_commit_as_from_scratch(
        chunk in prop::sample::select(vec![32u32, 512, 4096, 65536]),
        pages in 0u32..3,
        ops in prop::collection::vec(op(), 1..14),
    ) {
        run(chunk, pages, &ops);
    }

    #[test]
    fn odd_sized_memories_commit_as_from_scratch(
        chunk in prop::sample::select(vec![32u32, 64, 512]),
        len in 0usize..5000,
        writes in prop::collection::vec((any::<u16>(), any::<u8>()), 0..8),
    ) {
        let mut mem = Memory::new(random_bytes(len as u64, len), None, chunk);
        check(&mut mem, "fresh");
        for (at, byte) in writes {
            if len > 0 {
                mem.write((len * at as usize) >> 16, &[byte]).unwrap();
                check(&mut mem, "after a write");
            }
        }
    }
}

#[test]
fn a_fresh_grow_to_a_gibibyte_commits_as_zero_pages() {
    let config = Config { memory_chunk_size: 512, ..Config::default() };
    let (rig, mut m) = Rig::new(1, None, 3, Some(40), config);
    assert_eq!(rig.call(&mut m, "grow", &i32s(&[16383])), Status::Returned);
    let mem = &mut m.memories_mut()[0];
    // The first page (with the data segment) and 2^21 - 128 zero chunks, as an
    // accumulator appends them.
    let mut peaks = Peaks::default();
    chunk_leaves(&Memory::new(mem.data()[..65536].to_vec(), None, 512)).into_iter().for_each(|l| peaks.push(l));
    peaks.push_zeros((1 << 21) - 128, memory::zero_hashes(512));
    assert_eq!(memory::chunks_root(mem), peaks.root());
    // The cache keeps one page's chunks and their paths, not the whole tree.
    let kept: usize = mem.cache().layers.iter().map(Vec::len).sum();
    assert!(kept < 300, "{kept} nodes kept");
    assert_eq!(rig.store(&mut m, 6, false, (1 << 30) - 8, u64::MAX), Status::Returned);
    let mem = &mut m.memories_mut()[0];
    let root = memory::chunks_root(mem);
    let proof = memory::chunk_proof(mem, &[(1 << 21) - 1]);
    let last = merkle_memory::hash::leaf(&mem.data()[(1 << 30) - 512..]);
    assert!(proof.verify(root, &[(1 << 21) - 1], &[last], 1 << 21));
}
