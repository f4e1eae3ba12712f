//! The storage tree against a from-scratch reference of its definition, and its proofs:
//! they open the root, give the root after any write or removal, and fail when tampered.

use std::collections::BTreeMap;

use merkle_memory::hash::EMPTY;
use merkle_memory::storage::{key_hash, leaf_hash, node_hash, value_hash, StorageTree, StorageTreeExt};
use merkle_memory::Hash;
use proptest::prelude::*;

/// The definition, computed directly: empty, one leaf, or a node over the two halves.
fn reference_root(entries: &BTreeMap<Hash, Hash>) -> Hash {
    fn subtree(keys: &[(Hash, Hash)], depth: usize) -> Hash {
        match keys {
            [] => EMPTY,
            [(k, v)] => leaf_hash(k, v),
            _ => {
                let split = keys.partition_point(|(k, _)| k[depth / 8] >> (7 - depth % 8) & 1 == 0);
                node_hash(&subtree(&keys[..split], depth + 1), &subtree(&keys[split..], depth + 1))
            }
        }
    }
    subtree(&entries.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>(), 0)
}

/// Small key spaces make shared prefixes and repeated keys likely.
fn op() -> impl Strategy<Value = (u16, Option<u8>)> {
    (0u16..64, proptest::option::weighted(0.7, any::<u8>()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn incremental_roots_and_proofs_match_the_definition(ops in proptest::collection::vec(op(), 1..60)) {
        let mut tree = StorageTree::default();
        let mut model = BTreeMap::new();
        for (key, value) in ops {
            let k = key_hash(&key.to_le_bytes());
            let v = value.map(|b| value_hash(&[b]));
            let before = tree.root();
            prop_assert_eq!(before, reference_root(&model));
            let proof = tree.prove(&k);
            prop_assert_eq!(proof.root(&k).unwrap(), before);
            prop_assert_eq!(proof.lookup(&k), model.get(&k).copied());
            let predicted = proof.root_after(&k, v).unwrap();
            tree.set(k, v);
            match v {
                Some(v) => model.insert(k, v),
                None => model.remove(&k),
            };
            prop_assert_eq!(tree.root(), reference_root(&model));
            prop_assert_eq!(predicted, tree.root());
            prop_assert_eq!(tree.leaves.len(), model.len());
        }
    }

    #[test]
    fn a_tampered_proof_opens_another_root(keys in proptest::collection::btree_set(0u16..500, 2..40), pick in any::<prop::sample::Index>(), flip in 0usize..256) {
        let mut tree = StorageTree::default();
        for k in &keys {
            tree.set(key_hash(&k.to_le_bytes()), Some(value_hash(&k.to_be_bytes())));
        }
        let root = tree.root();
        let key = key_hash(&pick.get(&keys.iter().collect::<Vec<_>>()).to_le_bytes());
        let proof = tree.prove(&key);
        if !proof.siblings.is_empty() {
            let mut bad = proof.clone();
            let i = flip % bad.siblings.len();
            bad.siblings[i][flip % 32] ^= 1;
            prop_assert_ne!(bad.root(&key), Ok(root));
        }
        // Another key's proof does not open this key.
        let mut other = key;
        other[31] ^= 1;
        prop_assert!(proof.root(&other) != Ok(root) || proof.lookup(&other).is_none());
    }
}

#[test]
fn the_root_does_not_depend_on_the_order_of_writes() {
    let keys: Vec<Hash> = (0u32..200).map(|i| key_hash(&i.to_le_bytes())).collect();
    let mut forward = StorageTree::default();
    let mut backward = StorageTree::default();
    for k in &keys {
        forward.set(*k, Some(value_hash(k)));
    }
    for k in keys.iter().rev() {
        backward.set(*k, Some(value_hash(k)));
        backward.set(key_hash(b"transient"), Some(value_hash(b"x")));
        backward.set(key_hash(b"transient"), None);
    }
    assert_eq!(forward.root(), backward.root());
    for k in &keys {
        forward.set(*k, None);
    }
    assert_eq!(forward.root(), EMPTY);
}

#[test]
fn a_wrongly_opened_last_sibling_is_refused() {
    let mut tree = StorageTree::default();
    for i in 0u8..8 {
        tree.set(key_hash(&[i]), Some(value_hash(&[i])));
    }
    let key = key_hash(&[3]);
    let mut proof = tree.prove(&key);
    assert!(proof.last_sibling.is_some());
    proof.last_sibling = None;
    assert!(proof.root_after(&key, None).is_err());
}
