//! Keccak-256 with one-byte domain tags, and the hasher rs_merkle builds trees with.

use sha3::{Digest, Keccak256};

/// A Keccak-256 digest.
pub type Hash = [u8; 32];

/// The hash of nothing: an empty stack, list or tree. Not a Keccak-256 output, so no
/// preimage opens it as anything else.
pub const EMPTY: Hash = [0; 32];

/// The first byte of every hashed message: no two kinds of message can be read as each
/// other. docs/spec.md lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Tag {
    Leaf = 0x00,
    Node = 0x01,
    State = 0x10,
    Context = 0x11,
    Frame = 0x12,
    Caller = 0x14,
    Environment = 0x15,
    Memory = 0x16,
    Table = 0x17,
    Output = 0x18,
    Segments = 0x19,
    Config = 0x1A,
    Program = 0x1B,
    StorageKey = 0x1C,
    StorageValue = 0x1D,
    StorageLeaf = 0x1E,
    StorageNode = 0x1F,
    /// A node's app hash: a state hash and its block's outcomes (the cluster crate).
    App = 0x20,
    /// One transaction's outcome in a block.
    Outcome = 0x21,
    /// A call's input and output.
    Io = 0x22,
    /// An output stream.
    Stream = 0x23,
    /// One 64-byte block of an output stream's hash chain.
    StreamBlock = 0x24,
}

/// Keccak-256 of `tag` followed by `parts`.
pub fn tagged(tag: Tag, parts: &[&[u8]]) -> Hash {
    let mut k = Keccak256::new();
    k.update([tag as u8]);
    for p in parts {
        k.update(p);
    }
    k.finalize().into()
}

/// Plain Keccak-256, for the raw-throughput benchmark and module hashes.
pub fn keccak(bytes: &[u8]) -> Hash {
    Keccak256::digest(bytes).into()
}

/// `0x` and two lowercase hex digits per byte.
pub fn bytes_to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 + 2 * bytes.len());
    s.push_str("0x");
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Parses what [`bytes_to_hex`] prints (either case of digits).
pub fn hex_to_bytes(s: &str) -> Option<Vec<u8>> {
    let digits = s.strip_prefix("0x")?;
    if digits.len() % 2 != 0 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..digits.len()).step_by(2).map(|i| u8::from_str_radix(&digits[i..i + 2], 16).ok()).collect()
}

/// `0x` and 64 lowercase hex digits: how hashes print everywhere.
pub fn hex(hash: &Hash) -> String {
    bytes_to_hex(hash)
}

/// Parses what [`hex`] prints.
pub fn parse_hex(s: &str) -> Option<Hash> {
    hex_to_bytes(s)?.try_into().ok()
}

/// The tree hasher for rs_merkle: inner nodes are `keccak(0x01 || left || right)`, and a
/// node without a right sibling moves up unchanged, as rs_merkle's trees do. Leaves are
/// hashed by the caller as `keccak(0x00 || bytes)` ([`leaf`]).
#[derive(Clone, Copy, Debug)]
pub struct TreeHasher;

impl rs_merkle::Hasher for TreeHasher {
    type Hash = Hash;

    fn hash(data: &[u8]) -> Hash {
        keccak(data)
    }

    fn concat_and_hash(left: &Hash, right: Option<&Hash>) -> Hash {
        match right {
            Some(right) => node(left, right),
            None => *left,
        }
    }
}

pub fn leaf(bytes: &[u8]) -> Hash {
    tagged(Tag::Leaf, &[bytes])
}

/// The leaf of a 64-bit slot (a local, a global, a table element): `keccak(0x00 || u64)`.
pub fn slot_leaf(slot: u64) -> Hash {
    leaf(&slot.to_le_bytes())
}

pub fn node(left: &Hash, right: &Hash) -> Hash {
    tagged(Tag::Node, &[left, right])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_malformed_text() {
        let h = keccak(b"abc");
        assert_eq!(hex(&h), "0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
        assert_eq!(parse_hex(&hex(&h)), Some(h));
        for bad in ["", "0x", "4e03", &hex(&h)[2..], &hex(&h).to_uppercase().replace("0X", "0x")[..65], "0xzz"] {
            assert_eq!(parse_hex(bad), None, "{bad}");
        }
    }

    #[test]
    fn leaves_and_nodes_are_domain_separated() {
        let (a, b) = (keccak(b"a"), keccak(b"b"));
        let mut both = [0u8; 64];
        both[..32].copy_from_slice(&a);
        both[32..].copy_from_slice(&b);
        assert_ne!(leaf(&both), node(&a, &b));
        assert_eq!(node(&a, &b), keccak(&[&[1u8][..], &a, &b].concat()));
    }
}
