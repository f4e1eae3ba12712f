//! Multi-proofs of memory chunks: they are the proofs rs_merkle gives, rs_merkle verifies
//! them against the incremental root, the same proof computes the root after the proven
//! chunks change (checked against a real machine that writes them), and tampered proofs
//! neither verify nor panic.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use common::*;
use merkle_memory::hash::{keccak, leaf};
use merkle_memory::{memory, tree, Hash, TreeHasher};
use proptest::prelude::*;
use rs_merkle::{MerkleProof, MerkleTree};
use stepper::{Machine, Status};

/// Which chunks to prove, resolved against the chunk count.
#[derive(Clone, Debug)]
enum Set {
    First,
    Last,
    Ends,
    All,
    /// A run of adjacent chunks: they share siblings.
    Run(u32, u8),
    /// A left and right sibling pair.
    Pair(u32),
    Random(Vec<u32>),
}

impl Set {
    fn resolve(&self, n: usize) -> Vec<usize> {
        let mut v: Vec<usize> = match self {
            Set::First => vec![0],
            Set::Last => vec![n - 1],
            Set::Ends => vec![0, n - 1],
            Set::All => (0..n).collect(),
            Set::Run(s, k) => {
                let s = *s as usize % n;
                (s..(s + 1 + *k as usize).min(n)).collect()
            }
            Set::Pair(s) => {
                let s = (*s as usize % n) & !1;
                vec![s, (s + 1).min(n - 1)]
            }
            Set::Random(r) => r.iter().map(|&i| i as usize % n).collect(),
        };
        v.sort_unstable();
        v.dedup();
        v
    }
}

fn set() -> impl Strategy<Value = Set> {
    prop_oneof![
        1 => Just(Set::First),
        1 => Just(Set::Last),
        1 => Just(Set::Ends),
        1 => Just(Set::All),
        3 => (any::<u32>(), 0u8..12).prop_map(|(s, k)| Set::Run(s, k)),
        2 => any::<u32>().prop_map(Set::Pair),
        4 => prop::collection::vec(any::<u32>(), 1..24).prop_map(Set::Random),
    ]
}

/// A machine whose memory (`pages` pages, chunks of `chunk` bytes) holds random bytes,
/// with about `zeros`/8 of its chunks left all zero.
fn machine(pages: u32, chunk: u32, seed: u64, zeros: u8) -> (Rig, Machine) {
    let (rig, mut m) = Rig::simple(pages, None, chunk);
    let mem = &mut m.memories_mut()[0];
    let bytes = random_bytes(seed, mem.data().len());
    for (i, c) in bytes.chunks(chunk as usize).enumerate() {
        if random_bytes(seed ^ i as u64, 1)[0] % 8 >= zeros {
            mem.write(i * chunk as usize, c).unwrap();
        }
    }
    (rig, m)
}

/// Whether every claimed leaf is really in the tree at its index: what a proof may
/// convince a verifier of.
fn true_claims(leaves: &[Hash], indices: &[usize], hashes: &[Hash]) -> bool {
    indices.len() == hashes.len() && indices.iter().zip(hashes).all(|(&i, h)| leaves.get(i) == Some(h))
}

/// rs_merkle's verdict, with a panic reported as a test failure naming the case.
fn verifies(proof: &[Hash], root: Hash, indices: &[usize], hashes: &[Hash], count: usize, what: &str) -> bool {
    let proof = MerkleProof::<TreeHasher>::new(proof.to_vec());
    match catch_unwind(AssertUnwindSafe(|| proof.verify(root, indices, hashes, count))) {
        Ok(v) => v,
        Err(_) => panic!("verifying a tampered proof ({what}) panicked"),
    }
}

/// The verdict of [`tree::proven_root`]: rs_merkle's after the checks rs_merkle leaves to
/// its caller (indices sorted, distinct and below the leaf count, exactly as many proof
/// hashes as they need). rs_merkle alone ignores extra hashes at the end and reads an
/// index past the end as the index it equals modulo 2^depth.
fn strictly_verifies(proof: &[Hash], root: Hash, indices: &[usize], hashes: &[Hash], count: usize, what: &str) -> bool {
    match catch_unwind(|| tree::proven_root(proof, indices, hashes, count)) {
        Ok(r) => r == Ok(root),
        Err(_) => panic!("tree::proven_root on a tampered proof ({what}) panicked"),
    }
}

/// Every way of tampering with a correct proof of `indices` in a tree over `leaves`.
fn check_tampering(proof: &[Hash], root: Hash, leaves: &[Hash], indices: &[usize], seed: u64) {
    let n = leaves.len();
    let hashes: Vec<Hash> = indices.iter().map(|&i| leaves[i]).collect();
    assert!(strictly_verifies(proof, root, indices, &hashes, n, "the untampered proof"));
    let r = random_bytes(seed, 64);
    let pick = |k: usize, len: usize| (r[k] as usize * 256 + r[k + 1] as usize) % len.max(1);
    let extra = keccak(&r);
    // A correct proof with a wrong claim, or a claim with a wrong proof, must not verify,
    // with rs_merkle alone or (`strict_only`) with the caller's checks.
    let refuse = |p: &[Hash], idx: &[usize], hs: &[Hash], count: usize, strict_only: bool, what: &str| {
        assert!(!strictly_verifies(p, root, idx, hs, count, what), "{what} verified ({n} leaves, {indices:?})");
        if !strict_only {
            assert!(!verifies(p, root, idx, hs, count, what), "{what} verified ({n} leaves, {indices:?})");
        }
    };
    if !proof.is_empty() {
        for k in [0, pick(0, proof.len()), proof.len() - 1] {
            let mut p = proof.to_vec();
            p[k][pick(2, 32)] ^= 1 << (r[4] % 8);
            refuse(&p, indices, &hashes, n, false, &format!("a bit flipped in hash {k}"));
            let mut p = proof.to_vec();
            p.remove(k);
            refuse(&p, indices, &hashes, n, false, &format!("hash {k} missing"));
            let mut p = proof.to_vec();
            p.insert(k, extra);
            refuse(&p, indices, &hashes, n, false, &format!("an extra hash before hash {k}"));
        }
        refuse(&[], indices, &hashes, n, false, "no hashes");
        let mut p = proof.to_vec();
        p.reverse();
        if p != proof {
            refuse(&p, indices, &hashes, n, false, "hashes reversed");
        }
    }
    // rs_merkle ignores hashes after the ones it needs.
    let mut p = proof.to_vec();
    p.push(extra);
    assert!(verifies(&p, root, indices, &hashes, n, "an extra hash at the end"));
    refuse(&p, indices, &hashes, n, true, "an extra hash at the end");

    // Wrong claims with the right proof.
    let k = pick(6, indices.len());
    let mut hs = hashes.clone();
    hs[k][0] ^= 0x80;
    refuse(proof, indices, &hs, n, false, "a changed leaf");
    if indices.len() > 1 && hashes[0] != hashes[indices.len() - 1] {
        let mut hs = hashes.clone();
        hs.swap(0, indices.len() - 1);
        refuse(proof, indices, &hs, n, false, "two leaves swapped");
    }
    refuse(proof, indices, &hashes[1..], n, false, "fewer leaves than indices");
    refuse(proof, &indices[1..], &hashes, n, false, "fewer indices than leaves");
    let depth = n.next_power_of_two().trailing_zeros() as usize;
    for out in [n, n + 1 + pick(8, 1000), indices[k] + (1 << depth), indices[k] + (5 << depth), usize::MAX] {
        let mut idx = indices.to_vec();
        idx[k] = out;
        refuse(proof, &idx, &hashes, n, true, &format!("index {out} past the end"));
    }

    // Claims whose indices moved: they may verify only when they are true (two chunks
    // with equal contents, such as zero chunks).
    let sound = |idx: &[usize], hs: &[Hash], what: &str| {
        if verifies(proof, root, idx, hs, n, what) {
            assert!(true_claims(leaves, idx, hs), "{what} verified a false claim ({n} leaves, {indices:?} -> {idx:?})");
        }
    };
    for delta in [1usize, n - 1, 2, pick(10, n)] {
        let moved = (indices[k] + delta) % n;
        let mut idx = indices.to_vec();
        idx[k] = moved;
        sound(&idx, &hashes, &format!("index {} moved to {moved}", indices[k]));
    }
    let mut idx = indices.to_vec();
    idx.insert(k, indices[k]);
    let mut hs = hashes.clone();
    hs.insert(k, hashes[k]);
    sound(&idx, &hs, "an index repeated");
    refuse(proof, &idx, &hs, n, true, "an index repeated");
    hs[k] = extra;
    sound(&idx, &hs, "an index repeated with another leaf");
    refuse(proof, &idx, &hs, n, true, "an index repeated with another leaf");

    // Another leaf count: must not panic. It can verify when the count gives the proven
    // leaves the same path shape (see `chunk_trees_do_not_bind_the_leaf_count`); the
    // memory commitment binds the page count for that.
    for count in [0, 1, n - 1, n + 1, 2 * n, n / 2, usize::MAX] {
        verifies(proof, root, indices, &hashes, count, &format!("a leaf count of {count}"));
        strictly_verifies(proof, root, indices, &hashes, count, &format!("a leaf count of {count}"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(160), ..ProptestConfig::default() })]

    #[test]
    fn chunk_multiproofs_verify_and_give_the_new_root(
        (chunk, pages) in prop_oneof![
            Just((64u32, 1u32)),
            (prop::sample::select(vec![256u32, 1024, 4096, 16384, 65536]), 1u32..5),
        ],
        seed in any::<u64>(),
        zeros in 0u8..9,
        set in set(),
    ) {
        let (rig, mut m) = machine(pages, chunk, seed, zeros);
        let mem = &mut m.memories_mut()[0];
        let n = memory::chunk_count(mem);
        let idx = set.resolve(n);
        let root = memory::chunks_root(mem);
        let leaves = chunk_leaves(mem);
        let tree = MerkleTree::<TreeHasher>::from_leaves(&leaves);
        prop_assert_eq!(Some(root), tree.root());

        let proof = memory::chunk_proof(mem, &idx);
        let hashes: Vec<Hash> = idx.iter().map(|&i| leaves[i]).collect();
        prop_assert!(proof.verify(root, &idx, &hashes, n));
        let theirs = tree.proof(&idx);
        prop_assert_eq!(proof.proof_hashes(), theirs.proof_hashes());
        let commitment = memory::commitment(mem);
        prop_assert_eq!(memory::commitment_of(pages, None, &proof.root(&idx, &hashes, n).unwrap()), commitment);
        // The page count is bound by the commitment, whatever the tree accepts.
        prop_assert_ne!(memory::commitment_of(pages + 1, None, &root), commitment);

        check_tampering(proof.proof_hashes(), root, &leaves, &idx, seed);

        // Change every proven chunk with a real store (8 bytes somewhere in the chunk,
        // fused or not), then compute the new root from the old proof.
        let r = random_bytes(seed.rotate_left(17), idx.len() * 9);
        for (k, &i) in idx.iter().enumerate() {
            let at = i as u32 * chunk + (r[9 * k] as u32 * 8) % (chunk - 7);
            let value = u64::from_le_bytes(r[9 * k + 1..9 * k + 9].try_into().unwrap()) | 1;
            prop_assert_eq!(rig.store(&mut m, 6, r[9 * k].is_multiple_of(2), at, value), Status::Returned);
        }
        let mem = &mut m.memories_mut()[0];
        let changed: Vec<Hash> = idx.iter().map(|&i| leaf(memory::chunk(mem, i))).collect();
        let new_root = proof.root(&idx, &changed, n).unwrap();
        prop_assert_eq!(tree::proven_root(proof.proof_hashes(), &idx, &changed, n), Ok(new_root));
        prop_assert_eq!(new_root, memory::chunks_root(mem));
        prop_assert_eq!(new_root, rs_root(&chunk_leaves(mem)));
        // And the new proof verifies the new contents.
        prop_assert!(memory::chunk_proof(mem, &idx).verify(new_root, &idx, &changed, n));
    }
}

#[test]
fn every_subset_of_small_trees() {
    // Odd counts promote lone right nodes; 65536-byte chunks make a chunk a page.
    for pages in 1..=7u32 {
        let (rig, mut m) = machine(pages, 65536, pages as u64, 2);
        let n = pages as usize;
        for mask in 1u32..(1 << n) {
            let idx: Vec<usize> = (0..n).filter(|i| mask & (1 << i) != 0).collect();
            let mem = &mut m.memories_mut()[0];
            let root = memory::chunks_root(mem);
            let leaves = chunk_leaves(mem);
            let proof = memory::chunk_proof(mem, &idx);
            let hashes: Vec<Hash> = idx.iter().map(|&i| leaves[i]).collect();
            assert!(proof.verify(root, &idx, &hashes, n), "{n} pages, {idx:?}");
            let theirs = MerkleTree::<TreeHasher>::from_leaves(&leaves).proof(&idx);
            assert_eq!(proof.proof_hashes(), theirs.proof_hashes(), "{n} pages, {idx:?}");
            check_tampering(proof.proof_hashes(), root, &leaves, &idx, mask as u64);
            for &i in &idx {
                rig.store(&mut m, 2, false, i as u32 * 65536 + 65532, mask as u64);
            }
            let mem = &mut m.memories_mut()[0];
            let changed: Vec<Hash> = idx.iter().map(|&i| leaf(memory::chunk(mem, i))).collect();
            assert_eq!(proof.root(&idx, &changed, n).unwrap(), memory::chunks_root(mem), "{n} pages, {idx:?}");
            check_commitments(&mut m, "after the proven chunks changed");
        }
    }
}

#[test]
fn chunk_trees_do_not_bind_the_leaf_count() {
    // Why the memory commitment hashes the page count next to the chunk root: rs_merkle
    // accepts the proof of leaf 0 of a 5-leaf tree as a proof in a 6-leaf tree, since both
    // hash leaf 0 with the same three siblings in the same order.
    let leaves: Vec<Hash> = (0..5u8).map(|i| leaf(&[i])).collect();
    let tree = MerkleTree::<TreeHasher>::from_leaves(&leaves);
    let proof = tree.proof(&[0]);
    let root = tree.root().unwrap();
    assert!(proof.verify(root, &[0], &leaves[..1], 5));
    assert!(proof.verify(root, &[0], &leaves[..1], 6));
    assert!(!proof.verify(root, &[0], &leaves[..1], 9));
    let fake = merkle_memory::memory::commitment_of(6, None, &root);
    assert_ne!(merkle_memory::memory::commitment_of(5, None, &root), fake);
}

#[test]
fn rs_merkle_leaves_index_range_and_proof_length_to_the_caller() {
    // A verifier of chunk proofs must check that indices are below the chunk count and
    // that the proof has exactly the hashes they need: rs_merkle reads index i + 2^depth
    // as i, and ignores hashes past the ones it uses.
    let leaves: Vec<Hash> = (0..5u8).map(|i| leaf(&[i])).collect();
    let tree = MerkleTree::<TreeHasher>::from_leaves(&leaves);
    let root = tree.root().unwrap();
    let proof = tree.proof(&[2]);
    assert!(proof.verify(root, &[2], &leaves[2..3], 5));
    assert!(proof.verify(root, &[2 + 8], &leaves[2..3], 5));
    assert!(!strictly_verifies(proof.proof_hashes(), root, &[2 + 8], &leaves[2..3], 5, "index past the end"));
    let mut longer = proof.proof_hashes().to_vec();
    longer.push([7; 32]);
    assert!(MerkleProof::<TreeHasher>::new(longer.clone()).verify(root, &[2], &leaves[2..3], 5));
    assert!(!strictly_verifies(&longer, root, &[2], &leaves[2..3], 5, "extra hash"));
}
