//! The commitment to contract storage: a compact sparse Merkle tree over the key hashes.
//!
//! A key's path is the bits of its hash, most significant first; a subtree with no key
//! hashes to [`EMPTY`], a subtree with exactly one key is that key's leaf (wherever it
//! sits), and any other subtree is a node over its two halves. So a path is as long as
//! the prefix its key shares with its nearest neighbour (about log2 of the number of
//! keys), one tree per set of entries whatever the order of writes, and a proof opens one
//! path: the siblings from the root down to where the key's path ends, at an empty
//! subtree or at a leaf (its own, or another key's that shares the prefix).

use stepper::storage::Storage;
pub use stepper::storage::StorageTree;

use crate::hash::{tagged, Hash, Tag, EMPTY};

/// The hash naming a storage key.
pub fn key_hash(key: &[u8]) -> Hash {
    tagged(Tag::StorageKey, &[key])
}

/// The hash of a stored value.
pub fn value_hash(value: &[u8]) -> Hash {
    tagged(Tag::StorageValue, &[value])
}

pub fn leaf_hash(key: &Hash, value: &Hash) -> Hash {
    tagged(Tag::StorageLeaf, &[key, value])
}

pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    tagged(Tag::StorageNode, &[left, right])
}

/// Bit `depth` of a key hash, the most significant bit of byte 0 first.
fn bit(key: &Hash, depth: usize) -> bool {
    key[depth / 8] >> (7 - depth % 8) & 1 == 1
}

/// `key` with every bit from `depth` on set to `ones`: the ends of the subtree at depth
/// `depth` on `key`'s path.
fn bound(key: &Hash, depth: usize, ones: bool) -> Hash {
    let mut b = *key;
    if depth >= 256 {
        return b;
    }
    let (byte, fill) = (depth / 8, if ones { 0xff } else { 0x00 });
    // The bits of `depth`'s byte from `depth` on, then every later byte.
    let low = 0xffu8 >> (depth % 8);
    b[byte] = if ones { b[byte] | low } else { b[byte] & !low };
    b[byte + 1..].fill(fill);
    b
}

/// The node at `depth` whose other child is `below`, on the side of `key`.
fn join(key: &Hash, depth: usize, below: &Hash, sibling: &Hash) -> Hash {
    if bit(key, depth) {
        node_hash(sibling, below)
    } else {
        node_hash(below, sibling)
    }
}

/// The number of leading bits two key hashes share.
fn common_prefix(a: &Hash, b: &Hash) -> usize {
    a.iter().zip(b).position(|(x, y)| x != y).map_or(256, |i| i * 8 + (a[i] ^ b[i]).leading_zeros() as usize)
}

/// Where a key's path ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Terminal {
    Empty,
    Leaf { key: Hash, value: Hash },
}

/// The last sibling above a key's leaf, opened one level: what a deletion needs to know
/// whether the remaining subtree collapses into a single leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Leaf { key: Hash, value: Hash },
    Node { left: Hash, right: Hash },
}

impl Shape {
    fn hash(&self) -> Hash {
        match self {
            Shape::Leaf { key, value } => leaf_hash(key, value),
            Shape::Node { left, right } => node_hash(left, right),
        }
    }
}

/// The opening of one key's path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageProof {
    /// The siblings from the root down; the path ends at depth `siblings.len()`.
    pub siblings: Vec<Hash>,
    pub terminal: Terminal,
    /// The last sibling's shape, when the terminal is the key's own leaf below the root.
    pub last_sibling: Option<Shape>,
}

/// Why a storage proof does not open a tree.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StorageProofError {
    #[error("a storage path longer than 256 levels")]
    TooLong,
    #[error("the storage proof's leaf is not on the key's path")]
    OffPath,
    #[error("the storage proof's last sibling is opened wrongly or is missing")]
    LastSibling,
}

/// The storage tree's operations over stepper's [`StorageTree`] (key hash to value hash,
/// with the hashes of subtrees of two or more keys cached between changes by depth and
/// lowest key).
pub trait StorageTreeExt {
    /// Sets `key` to `value`, or removes it.
    fn set(&mut self, key: Hash, value: Option<Hash>);
    fn root(&mut self) -> Hash;
    /// The opening of `key`'s path.
    fn prove(&mut self, key: &Hash) -> StorageProof;
}

/// The root of a machine's storage, bringing the cached tree up to date with the keys
/// written since the last time.
pub fn storage_root(storage: &mut Storage) -> Hash {
    for key in std::mem::take(&mut storage.changed) {
        let value = storage.get(&key).map(value_hash);
        storage.tree.set(key_hash(&key), value);
    }
    storage.tree.root()
}

impl StorageTreeExt for StorageTree {
    fn set(&mut self, key: Hash, value: Option<Hash>) {
        // The cached nodes on the key's path, as deep as the path goes before and after.
        forget_path(self, &key);
        match value {
            Some(v) => self.leaves.insert(key, v),
            None => self.leaves.remove(&key),
        };
        forget_path(self, &key);
    }

    fn root(&mut self) -> Hash {
        subtree(self, 0, &[0; 32])
    }

    fn prove(&mut self, key: &Hash) -> StorageProof {
        let mut siblings = Vec::new();
        let mut depth = 0;
        let terminal = loop {
            match lone_key(self, depth, key) {
                Ok(None) => break Terminal::Empty,
                Ok(Some((k, v))) => break Terminal::Leaf { key: k, value: v },
                Err(()) => {
                    siblings.push(subtree(self, depth + 1, &flip(key, depth)));
                    depth += 1;
                }
            }
        };
        let own_leaf = matches!(terminal, Terminal::Leaf { key: k, .. } if k == *key);
        let last_sibling = (own_leaf && depth > 0).then(|| {
            let other = flip(key, depth - 1);
            match lone_key(self, depth, &other) {
                Ok(Some((k, v))) => Shape::Leaf { key: k, value: v },
                _ => {
                    let lo = bound(&other, depth, false);
                    Shape::Node {
                        left: subtree(self, depth + 1, &lo),
                        right: subtree(self, depth + 1, &flip(&lo, depth)),
                    }
                }
            }
        });
        StorageProof { siblings, terminal, last_sibling }
    }
}

/// `key` with bit `depth` flipped: a key on the other side at that depth.
fn flip(key: &Hash, depth: usize) -> Hash {
    let mut k = *key;
    k[depth / 8] ^= 1 << (7 - depth % 8);
    k
}

/// The subtree at `depth` on `key`'s path: `Ok(None)` if empty, `Ok(Some(leaf))` if it
/// holds one key, `Err(())` if more.
fn lone_key(tree: &StorageTree, depth: usize, key: &Hash) -> Result<Option<(Hash, Hash)>, ()> {
    let mut keys = tree.leaves.range(bound(key, depth, false)..=bound(key, depth, true));
    match (keys.next(), keys.next()) {
        (None, _) => Ok(None),
        (Some((k, v)), None) => Ok(Some((*k, *v))),
        _ => Err(()),
    }
}

/// Drops the cached nodes on `key`'s path, as deep as the path goes.
fn forget_path(tree: &mut StorageTree, key: &Hash) {
    let below = tree.leaves.range(..*key).next_back().map(|(k, _)| common_prefix(k, key));
    let above = tree
        .leaves
        .range((std::ops::Bound::Excluded(*key), std::ops::Bound::Unbounded))
        .next()
        .map(|(k, _)| common_prefix(k, key));
    let depth = below.into_iter().chain(above).max().map_or(0, |d| d.min(255));
    for d in 0..=depth {
        tree.nodes.remove(&(d as u16, bound(key, d, false)));
    }
}

/// The hash of the subtree at `depth` on the path of `key`.
fn subtree(tree: &mut StorageTree, depth: usize, key: &Hash) -> Hash {
    // Only subtrees of two or more keys are cached, and a change drops those on its path.
    let lo = bound(key, depth, false);
    if let Some(h) = tree.nodes.get(&(depth as u16, lo)) {
        return *h;
    }
    match lone_key(tree, depth, key) {
        Ok(None) => EMPTY,
        Ok(Some((k, v))) => leaf_hash(&k, &v),
        Err(()) => {
            let left = subtree(tree, depth + 1, &lo);
            let right = subtree(tree, depth + 1, &flip(&lo, depth));
            let h = node_hash(&left, &right);
            tree.nodes.insert((depth as u16, lo), h);
            h
        }
    }
}

impl StorageProof {
    /// Checks the proof's shape for `key`: the path fits, a leaf at its end shares the
    /// key's prefix that deep, and the last sibling is opened when a deletion needs it.
    fn check(&self, key: &Hash) -> Result<(), StorageProofError> {
        let depth = self.siblings.len();
        if depth > 256 {
            return Err(StorageProofError::TooLong);
        }
        if let Terminal::Leaf { key: k, .. } = self.terminal {
            if common_prefix(&k, key) < depth {
                return Err(StorageProofError::OffPath);
            }
        }
        let needs_last = matches!(self.terminal, Terminal::Leaf { key: k, .. } if k == *key) && depth > 0;
        match (&self.last_sibling, needs_last) {
            (None, false) => Ok(()),
            (Some(shape), true) if shape.hash() == self.siblings[depth - 1] => Ok(()),
            _ => Err(StorageProofError::LastSibling),
        }
    }

    /// The value hash stored under `key`, if any.
    pub fn lookup(&self, key: &Hash) -> Option<Hash> {
        match self.terminal {
            Terminal::Leaf { key: k, value } if k == *key => Some(value),
            _ => None,
        }
    }

    /// Hashes `below`, the subtree at the path's end, up to the root.
    fn up(&self, key: &Hash, below: Hash) -> Hash {
        self.siblings.iter().enumerate().rev().fold(below, |h, (d, s)| join(key, d, &h, s))
    }

    /// The root this proof opens for `key`.
    pub fn root(&self, key: &Hash) -> Result<Hash, StorageProofError> {
        self.check(key)?;
        Ok(self.up(
            key,
            match self.terminal {
                Terminal::Empty => EMPTY,
                Terminal::Leaf { key, value } => leaf_hash(&key, &value),
            },
        ))
    }

    /// The root after `key` is set to the value hashed `value`, or removed (`None`).
    pub fn root_after(&self, key: &Hash, value: Option<Hash>) -> Result<Hash, StorageProofError> {
        self.check(key)?;
        let depth = self.siblings.len();
        let Some(value) = value else { return Ok(self.root_after_removal(key)) };
        let new_leaf = leaf_hash(key, &value);
        Ok(match self.terminal {
            Terminal::Empty => self.up(key, new_leaf),
            Terminal::Leaf { key: k, .. } if k == *key => self.up(key, new_leaf),
            Terminal::Leaf { key: other, value: other_value } => {
                // Both keys go down their shared prefix, then part.
                let split = common_prefix(key, &other);
                let other_leaf = leaf_hash(&other, &other_value);
                let mut h = join(key, split, &new_leaf, &other_leaf);
                for d in (depth..split).rev() {
                    h = join(key, d, &h, &EMPTY);
                }
                self.up(key, h)
            }
        })
    }

    fn root_after_removal(&self, key: &Hash) -> Hash {
        let depth = self.siblings.len();
        if self.lookup(key).is_none() {
            return self.up(
                key,
                match self.terminal {
                    Terminal::Empty => EMPTY,
                    Terminal::Leaf { key, value } => leaf_hash(&key, &value),
                },
            );
        }
        match self.last_sibling {
            // The only key.
            None => EMPTY,
            Some(Shape::Node { .. }) => {
                let upper = StorageProof {
                    siblings: self.siblings[..depth - 1].to_vec(),
                    terminal: Terminal::Empty,
                    last_sibling: None,
                };
                upper.up(key, join(key, depth - 1, &EMPTY, &self.siblings[depth - 1]))
            }
            // A lone leaf left beside the removed one rises past empty siblings.
            Some(Shape::Leaf { .. }) => {
                let leaf = self.siblings[depth - 1];
                let rest = self.siblings[..depth - 1].iter().rposition(|s| *s != EMPTY);
                match rest {
                    None => leaf,
                    Some(d) => {
                        let upper = StorageProof {
                            siblings: self.siblings[..d].to_vec(),
                            terminal: Terminal::Empty,
                            last_sibling: None,
                        };
                        upper.up(key, join(key, d, &leaf, &self.siblings[d]))
                    }
                }
            }
        }
    }
}
