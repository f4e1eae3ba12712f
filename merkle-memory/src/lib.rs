//! Merkleized linear memory (see issue "State commitment").
