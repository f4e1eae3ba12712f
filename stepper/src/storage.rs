//! Contract storage: key-value pairs a program reads and writes through the `verigame`
//! host functions, persisting across calls like memory does. Part of the state; the
//! commitment to it (merkle-memory's storage tree) keeps its cache here, as memories keep
//! their Merkle layers, so that hashing after a write rehashes one path.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The longest key a program may use, in bytes: keeps every storage step's proof small.
pub const MAX_KEY_LEN: usize = 64;
/// The longest value a program may store, in bytes.
pub const MAX_VALUE_LEN: usize = 256;

/// The length of a reserved key: one more than a program may use, so that no program
/// reads or writes one through the storage functions. The host that runs the contract
/// (the node) keeps its own entries under reserved keys, committed with the rest of the
/// storage: the caller of the running call, and each client session's next counter.
pub const RESERVED_KEY_LEN: usize = MAX_KEY_LEN + 1;

/// The reserved key named `name` (at most [`RESERVED_KEY_LEN`] bytes): `name` followed by
/// zero bytes up to [`RESERVED_KEY_LEN`].
pub fn reserved_key(name: &[u8]) -> Vec<u8> {
    assert!(name.len() <= RESERVED_KEY_LEN, "a reserved key's name fits its length");
    let mut key = name.to_vec();
    key.resize(RESERVED_KEY_LEN, 0);
    key
}

/// The name of the reserved key that holds the running call's caller, whose value
/// `verigame.caller` copies to memory.
pub const CALLER: &[u8] = b"verigame/caller";

/// Whether a stored key is one a program may use or a reserved one.
pub fn is_storable_key(key: &[u8]) -> bool {
    key.len() <= MAX_KEY_LEN || key.len() == RESERVED_KEY_LEN
}

/// What the storage commitment caches: key hash to value hash, and the hashes of
/// subtrees of two or more keys, by depth and lowest key. merkle-memory owns its meaning.
#[derive(Clone, Debug, Default)]
pub struct StorageTree {
    pub leaves: BTreeMap<[u8; 32], [u8; 32]>,
    pub nodes: HashMap<(u16, [u8; 32]), [u8; 32]>,
}

/// A write's key and the value it replaced.
type Undo = (Vec<u8>, Option<Vec<u8>>);

#[derive(Clone, Debug, Default)]
pub struct Storage {
    entries: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Keys written or removed since the commitment last caught up.
    pub changed: BTreeSet<Vec<u8>>,
    pub tree: StorageTree,
    /// While recording ([`Storage::begin`]): each write's key and the value it replaced,
    /// so that a failed call can be undone without copying the storage before it.
    undo: Option<Vec<Undo>>,
}

impl Storage {
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.entries.get(key).map(Vec::as_slice)
    }

    /// Stores `value` under `key`, or removes the key.
    pub fn set(&mut self, key: &[u8], value: Option<&[u8]>) {
        let old = match value {
            Some(v) => self.entries.insert(key.to_vec(), v.to_vec()),
            None => self.entries.remove(key),
        };
        if let Some(undo) = &mut self.undo {
            undo.push((key.to_vec(), old));
        }
        self.changed.insert(key.to_vec());
    }

    /// Starts recording writes, to undo them with [`Storage::rollback`].
    pub fn begin(&mut self) {
        self.undo = Some(Vec::new());
    }

    /// Keeps the writes since [`Storage::begin`] and stops recording.
    pub fn commit(&mut self) {
        self.undo = None;
    }

    /// Undoes the writes since [`Storage::begin`] and stops recording.
    pub fn rollback(&mut self) {
        for (key, old) in self.undo.take().unwrap_or_default().into_iter().rev() {
            match old {
                Some(v) => self.entries.insert(key.clone(), v),
                None => self.entries.remove(&key),
            };
            self.changed.insert(key);
        }
    }

    pub fn entries(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.entries.iter().map(|(k, v)| (k.as_slice(), v.as_slice()))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
