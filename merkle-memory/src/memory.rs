//! The commitment to a linear memory: a Merkle tree over its chunks, bound to its size
//! and maximum.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use rs_merkle::MerkleProof;
use stepper::store::Memory;

use crate::hash::{leaf, tagged, Hash, Tag, TreeHasher};
use crate::tree;

/// Pages a memory can have at most (4 GiB).
pub const MAX_PAGES: u32 = 65536;

/// Hashes of all-zero subtrees of chunks of `chunk_size` bytes, by height up to a 4 GiB
/// memory's, computed once per size.
pub fn zero_hashes(chunk_size: usize) -> &'static [Hash] {
    static CACHE: OnceLock<Mutex<HashMap<usize, &'static [Hash]>>> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    cache.entry(chunk_size).or_insert_with(|| {
        // Enough heights for the largest memory at the smallest chunk size.
        let levels = (MAX_PAGES as usize * stepper::store::PAGE_SIZE / chunk_size).trailing_zeros() as usize + 1;
        Box::leak(tree::zero_hashes(leaf(&vec![0; chunk_size]), levels).into_boxed_slice())
    })
}

/// The bytes of chunk `i` (the last chunk of an odd-sized memory may be short).
pub fn chunk(memory: &Memory, i: usize) -> &[u8] {
    chunk_of(memory.data(), memory.chunk_size(), i)
}

/// Chunk `i` of `data` in chunks of `size` bytes.
fn chunk_of(data: &[u8], size: usize, i: usize) -> &[u8] {
    &data[(i * size).min(data.len())..((i + 1) * size).min(data.len())]
}

pub fn chunk_count(memory: &Memory) -> usize {
    memory.data().len().div_ceil(memory.chunk_size())
}

/// The root of the chunk tree, rehashing only chunks written since the last call. Chunks
/// never written are zero: they are not read, and a tree of them costs O(log) hashing.
pub fn chunks_root(memory: &mut Memory) -> Hash {
    let size = memory.chunk_size();
    let zero = zero_hashes(size);
    let count = chunk_count(memory);
    let (data, cache) = memory.data_and_cache();
    let written = cache.high();
    tree::update(
        cache,
        count,
        |i| {
            let bytes = chunk_of(data, size, i);
            if bytes.len() == size && (i >= written || bytes.iter().all(|&b| b == 0)) {
                zero[0]
            } else {
                leaf(bytes)
            }
        },
        Some((zero, written)),
    )
}

/// `keccak(0x16 || pages u32 || max pages u32 || chunks root)`; no declared maximum
/// counts as 65536 pages.
pub fn commitment_of(pages: u32, max: Option<u32>, chunks_root: &Hash) -> Hash {
    let max = max.unwrap_or(MAX_PAGES);
    tagged(Tag::Memory, &[&pages.to_le_bytes(), &max.to_le_bytes(), chunks_root])
}

pub fn commitment(memory: &mut Memory) -> Hash {
    let root = chunks_root(memory);
    commitment_of(memory.pages(), memory.max(), &root)
}

/// A multi-proof of chunks `indices` (sorted, distinct) against [`chunks_root`].
pub fn chunk_proof(memory: &mut Memory, indices: &[usize]) -> MerkleProof<TreeHasher> {
    chunks_root(memory);
    tree::proof_of(&memory.cache().layers, chunk_count(memory), Some(zero_hashes(memory.chunk_size())), indices)
}
