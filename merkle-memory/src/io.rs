//! The commitment to a call's input and output (docs/spec.md, "Input and output"): the
//! laid-out input as a Merkle tree of chunks, each output stream as a hash chain of
//! 64-byte blocks plus the bytes after the last full block, and the registers.

use stepper::io::{Input, Io, IoRegs, Stream, BLOCK, SEGMENT};

use crate::hash::{leaf, tagged, Hash, Tag, EMPTY};
use crate::tree;

/// An output stream one level below its hash: what a proof of a step that appends to it
/// opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamOpening {
    pub len: u64,
    /// The hash chain of its full blocks.
    pub chain: Hash,
    /// The bytes after the last full block (`len % 64` of them).
    pub tail: Vec<u8>,
}

impl StreamOpening {
    pub const EMPTY: Self = Self { len: 0, chain: EMPTY, tail: Vec::new() };

    /// `keccak(0x23 || len u64 || chain || tail)`.
    pub fn hash(&self) -> Hash {
        tagged(Tag::Stream, &[&self.len.to_le_bytes(), &self.chain, &self.tail])
    }

    /// Whether the tail is as long as the length says.
    pub fn is_well_formed(&self) -> bool {
        self.tail.len() as u64 == self.len % BLOCK as u64
    }

    /// The stream after `bytes` are appended.
    pub fn append(&mut self, bytes: &[u8]) {
        self.len += bytes.len() as u64;
        self.tail.extend_from_slice(bytes);
        let full = self.tail.len() / BLOCK * BLOCK;
        self.chain = chain_over(self.chain, &self.tail[..full]);
        self.tail.drain(..full);
    }
}

/// `keccak(0x24 || chain || block)` for each 64-byte block of `bytes` in turn.
fn chain_over(chain: Hash, bytes: &[u8]) -> Hash {
    bytes.chunks_exact(BLOCK).fold(chain, |chain, block| tagged(Tag::StreamBlock, &[&chain, block]))
}

/// The stream as the state commits to it, hashing only the blocks appended since the
/// last time.
pub fn stream_opening(stream: &mut Stream) -> StreamOpening {
    let len = stream.len();
    let done = stream.cache.segment_chains.len();
    let fresh: Vec<Hash> = {
        let mut chain = stream.cache.segment_chains.last().copied().unwrap_or(EMPTY);
        stream.segments()[done..]
            .iter()
            .map(|segment| {
                chain = chain_over(chain, segment);
                chain
            })
            .collect()
    };
    let cache = &mut stream.cache;
    if !fresh.is_empty() {
        cache.tail_blocks = 0;
        cache.tail_chain = None;
    }
    cache.segment_chains.extend(fresh);
    let base = cache.segment_chains.last().copied().unwrap_or(EMPTY);
    let (from, chain) = (cache.tail_blocks, cache.tail_chain.unwrap_or(base));
    let tail = stream.tail();
    let full = tail.len() / BLOCK;
    let chain = chain_over(chain, &tail[from * BLOCK..full * BLOCK]);
    let rest = tail[full * BLOCK..].to_vec();
    stream.cache.tail_blocks = full;
    stream.cache.tail_chain = Some(chain);
    const { assert!(SEGMENT.is_multiple_of(BLOCK)) };
    StreamOpening { len, chain, tail: rest }
}

/// The leaves of the laid-out input's tree: one per chunk of `chunk_size` bytes, the last
/// padded with zeros.
pub fn input_leaves(bytes: &[u8], chunk_size: usize) -> Vec<Hash> {
    bytes
        .chunks(chunk_size)
        .map(|c| match c.len() == chunk_size {
            true => leaf(c),
            false => {
                let mut padded = c.to_vec();
                padded.resize(chunk_size, 0);
                leaf(&padded)
            }
        })
        .collect()
}

/// The root of the input's tree, computed once per input.
pub fn input_root(input: &Input, chunk_size: usize) -> Hash {
    *input.root.get_or_init(|| tree::root(&input_leaves(&input.bytes, chunk_size)))
}

/// The chunk `index` of the input, padded with zeros to `chunk_size`.
pub fn input_chunk(bytes: &[u8], chunk_size: usize, index: usize) -> Vec<u8> {
    let start = (index * chunk_size).min(bytes.len());
    let mut chunk = bytes[start..(start + chunk_size).min(bytes.len())].to_vec();
    chunk.resize(chunk_size, 0);
    chunk
}

/// A call's input and output one level below its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IoCommitment {
    pub input_root: Hash,
    pub regs: IoRegs,
    pub stdout: StreamOpening,
    pub stderr: StreamOpening,
}

impl IoCommitment {
    pub fn of(io: &mut Io, chunk_size: usize) -> Self {
        let input_root = input_root(io.input(), chunk_size);
        let regs = *io.regs();
        let [stdout, stderr] = io.streams_mut().map(stream_opening);
        Self { input_root, regs, stdout, stderr }
    }

    /// `keccak(0x22 || input_root || argc u32 || args_size u32 || envc u32 || env_size u32
    /// || stdin_len u64 || clock u64 || seed || stdin_pos u64 || random_pos u64 || closed u8
    /// || cursor u64 || done u64 || stdout || stderr)`.
    pub fn hash(&self) -> Hash {
        let r = &self.regs;
        tagged(
            Tag::Io,
            &[
                &self.input_root,
                &r.argc.to_le_bytes(),
                &r.args_size.to_le_bytes(),
                &r.envc.to_le_bytes(),
                &r.env_size.to_le_bytes(),
                &r.stdin_len.to_le_bytes(),
                &r.clock.to_le_bytes(),
                &r.seed,
                &r.stdin_pos.to_le_bytes(),
                &r.random_pos.to_le_bytes(),
                &[r.closed],
                &r.cursor.to_le_bytes(),
                &r.done.to_le_bytes(),
                &self.stdout.hash(),
                &self.stderr.hash(),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_hashes_by_its_bytes_however_they_were_written() {
        let bytes: Vec<u8> = (0..SEGMENT * 2 + 777).map(|i| (i * 7) as u8).collect();
        let mut whole = Stream::from_bytes(&bytes);
        let expected = stream_opening(&mut whole);
        let mut opening = StreamOpening::EMPTY;
        let mut piecewise = Stream::default();
        for piece in bytes.chunks(1000) {
            piecewise.append(piece);
            opening.append(piece);
            // Hashing between appends keeps the caches in step.
            assert_eq!(stream_opening(&mut piecewise), opening);
        }
        assert_eq!(opening, expected);
        assert!(opening.is_well_formed());
        assert_eq!(opening.tail.len(), 777 % BLOCK);
    }
}
