//! Binary Merkle trees of rs_merkle's shape, kept up to date incrementally.
//!
//! Layer 0 holds the leaf hashes; each node of the next layer hashes two neighbours, and
//! the last node of a layer with an odd count moves up unchanged. That is the tree
//! `rs_merkle::MerkleTree::from_leaves` builds with [`TreeHasher`], so its proofs are
//! rs_merkle proofs.

use std::sync::OnceLock;

use rs_merkle::MerkleProof;
use stepper::store::MerkleCache;

use crate::hash::{node, Hash, TreeHasher, EMPTY};

/// Brings `cache` up to date for `count` leaves, hashing stale leaf `i` as `leaf(i)`, and
/// returns the root. Only the stale leaves and their paths to the root are rehashed, on
/// all cores when there are many.
///
/// With `zero = Some((z, high))`, where `z` holds the hashes of all-zero subtrees by
/// height ([`zero_hashes`], as tall as the tree), the leaves from `high` on that are not
/// stale are zero leaves (`z[0]`). The layers then keep only the nodes over the leaves
/// below the highest `high` or stale leaf seen so far ("stored"): a node past a layer's
/// end covers only zero leaves, so its hash is `z[h]`, or for the last node of a layer,
/// which may cover fewer leaves, [`zero_root`] of them. A grown memory of any size thus
/// costs O(log) hashing and memory. [`proof_of`] reads such layers.
pub fn update(
    cache: &mut MerkleCache,
    count: usize,
    leaf: impl Fn(usize) -> Hash + Sync,
    zero: Option<(&[Hash], usize)>,
) -> Hash {
    let stale = cache.drain_dirty();
    let old_count = std::mem::replace(&mut cache.leaves, count);
    let layers = &mut cache.layers;
    if count == 0 {
        layers.clear();
        return EMPTY;
    }
    // Nothing to build on (a fresh cache): build. Fewer leaves than before (a memory
    // rewound past a grow) cut the layers and rehash their new right edge.
    let rebuild = layers.is_empty();
    if rebuild {
        layers.clear();
        layers.push(Vec::new());
    }
    let (z, high) = match zero {
        Some((z, high)) => (Some(z), high.min(count)),
        None => (None, count),
    };
    let mut touched: Vec<usize> = stale.into_iter().map(|i| i as usize).filter(|&i| i < count).collect();
    let old_stored = layers[0].len();
    let stored = old_stored.max(high).max(touched.last().map_or(0, |&i| i + 1)).min(count);
    if rebuild {
        touched = (0..stored).collect();
    } else if count != old_count || stored != old_stored {
        // The right edge moved: rehash the paths of the old and the new last stored leaf,
        // whose nodes now cover other leaves. Other newly stored nodes are zero subtrees.
        touched.extend([old_count.min(stored), stored].into_iter().filter(|&n| n > 0).map(|n| n - 1));
        touched.sort_unstable();
        touched.dedup();
    }
    let fill = |height: usize| z.map_or(EMPTY, |z| z[height]);
    layers[0].resize(stored, fill(0));
    let hashes = par_map(&touched, &leaf);
    touched.iter().zip(hashes).for_each(|(&i, h)| layers[0][i] = h);

    let (mut height, mut width) = (0, count);
    while width > 1 {
        let parent_width = width.div_ceil(2);
        if layers.len() == height + 1 {
            layers.push(Vec::new());
        }
        let (below, above) = layers.split_at_mut(height + 1);
        let (children, parents) = (&below[height], &mut above[0]);
        parents.resize(children.len().div_ceil(2), fill(height + 1));
        touched.dedup_by_key(|i| *i / 2);
        touched.iter_mut().for_each(|i| *i /= 2);
        let child = |i: usize| match children.get(i) {
            Some(h) => *h,
            None => implicit(count, z.expect("only a tree with zero hashes leaves nodes out"), height, i),
        };
        let hashes = par_map(&touched, &|p| {
            let left = child(2 * p);
            if 2 * p + 1 >= width {
                return left;
            }
            let right = child(2 * p + 1);
            match z {
                Some(z) if height + 1 < z.len() && left == z[height] && right == z[height] => z[height + 1],
                _ => node(&left, &right),
            }
        });
        touched.iter().zip(hashes).for_each(|(&p, h)| parents[p] = h);
        height += 1;
        width = parent_width;
    }
    layers.truncate(height + 1);
    match layers[height].first() {
        Some(root) => *root,
        None => zero_root(count, z.expect("only a tree with zero hashes leaves nodes out")),
    }
}

/// `f` of each of `items`, on all cores when there are enough to pay for the threads.
fn par_map(items: &[usize], f: &(impl Fn(usize) -> Hash + Sync)) -> Vec<Hash> {
    // About a millisecond of hashing per thread at the least.
    const PER_THREAD: usize = 1024;
    static CORES: OnceLock<usize> = OnceLock::new();
    if items.len() < 2 * PER_THREAD {
        return items.iter().map(|&i| f(i)).collect();
    }
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let threads = cores.min(items.len() / PER_THREAD).max(1);
    std::thread::scope(|s| {
        let parts: Vec<_> = items
            .chunks(items.len().div_ceil(threads))
            .map(|part| s.spawn(move || part.iter().map(|&i| f(i)).collect::<Vec<_>>()))
            .collect();
        parts.into_iter().flat_map(|part| part.join().expect("a hashing thread panicked")).collect()
    })
}

/// The hash of node `i` of layer `height` in a tree of `count` leaves, a node that covers
/// only zero leaves.
fn implicit(count: usize, zero: &[Hash], height: usize, i: usize) -> Hash {
    let covered = (count - (i << height)).min(1 << height);
    if covered == 1 << height {
        zero[height]
    } else {
        zero_root(covered, zero)
    }
}

/// Hashes of all-zero complete subtrees: `[leaf, node(leaf, leaf), ...]`, `levels` long.
pub fn zero_hashes(zero_leaf: Hash, levels: usize) -> Vec<Hash> {
    let mut z = vec![zero_leaf];
    while z.len() < levels {
        let last = z[z.len() - 1];
        z.push(node(&last, &last));
    }
    z
}

/// The root of a tree over `leaves`, built from scratch (for small trees: locals, globals).
pub fn root(leaves: &[Hash]) -> Hash {
    let mut layer = leaves.to_vec();
    if layer.is_empty() {
        return EMPTY;
    }
    while layer.len() > 1 {
        layer = layer.chunks(2).map(|pair| if pair.len() == 2 { node(&pair[0], &pair[1]) } else { pair[0] }).collect();
    }
    layer[0]
}

/// An rs_merkle multi-proof of the leaves at `indices` (sorted, distinct) in up-to-date
/// `layers` that keep every node: the sibling hashes the verifier cannot compute, layer by
/// layer, left to right.
pub fn proof(layers: &[Vec<Hash>], indices: &[usize]) -> MerkleProof<TreeHasher> {
    proof_of(layers, layers.first().map_or(0, Vec::len), None, indices)
}

/// [`proof`] in the layers [`update`] keeps for `count` leaves with zero hashes `zero`
/// (`None` if it was given none), which may leave out nodes over zero leaves.
pub fn proof_of(
    layers: &[Vec<Hash>],
    count: usize,
    zero: Option<&[Hash]>,
    indices: &[usize],
) -> MerkleProof<TreeHasher> {
    debug_assert!(indices.windows(2).all(|w| w[0] < w[1]), "indices must be sorted and distinct");
    let mut hashes = Vec::new();
    let mut current = indices.to_vec();
    let (mut height, mut width) = (0, count);
    while width > 1 {
        for &i in &current {
            let sibling = i ^ 1;
            if sibling < width && !current.contains(&sibling) {
                hashes.push(match layers.get(height).and_then(|layer| layer.get(sibling)) {
                    Some(h) => *h,
                    None => implicit(count, zero.expect("a node left out needs zero hashes"), height, sibling),
                });
            }
        }
        current.dedup_by_key(|i| *i / 2);
        current.iter_mut().for_each(|i| *i /= 2);
        height += 1;
        width = width.div_ceil(2);
    }
    MerkleProof::new(hashes)
}

/// The root of `count` zero leaves (`zero[0]` is a zero leaf's hash, `zero[h]` a
/// complete zero subtree's of height `h`, as [`zero_hashes`] gives).
pub fn zero_root(count: usize, zero: &[Hash]) -> Hash {
    match count {
        0 => EMPTY,
        1 => zero[0],
        // A whole subtree of zeros: its hash is known. (Without this, a grown memory's
        // never-written tree cost one hash per level at every state hash.)
        _ if count.is_power_of_two() && (count.ilog2() as usize) < zero.len() => zero[count.ilog2() as usize],
        // The top splits at the largest power of two below the count.
        _ => {
            let k = (count - 1).ilog2() as usize;
            node(&zero[k], &zero_root(count - (1 << k), zero))
        }
    }
}

/// The root after appending zero leaves to a tree of `old` leaves until it has `new`,
/// from the old tree's last leaf and its proof (the left siblings on its path, as
/// [`proof`] gives them for that one leaf). `zero` must reach the new tree's height.
pub fn append_root(old: usize, last: Hash, siblings: &[Hash], new: usize, zero: &[Hash]) -> Result<Hash, ProofError> {
    if old == 0 {
        return Ok(zero_root(new, zero));
    }
    if new < old {
        return Err(ProofError::Shape("a tree cannot shrink"));
    }
    let (mut node_hash, mut i, mut width, mut height) = (last, old - 1, new, 0);
    let mut siblings = siblings.iter();
    while width > 1 {
        node_hash = if i % 2 == 1 {
            let left = siblings.next().ok_or(ProofError::Shape("the proof lacks a sibling of the last leaf's path"))?;
            node(left, &node_hash)
        } else if i + 1 < width {
            // The right sibling covers only appended leaves: a zero subtree, complete
            // unless it reaches the end.
            let first = (i + 1) << height;
            let right = zero_root((new - first).min(1 << height), zero);
            node(&node_hash, &right)
        } else {
            node_hash
        };
        i /= 2;
        width = width.div_ceil(2);
        height += 1;
    }
    if siblings.next().is_some() {
        return Err(ProofError::Shape("the proof has hashes left over"));
    }
    Ok(node_hash)
}

/// The root that a multi-proof of `leaves` at `indices` in a tree of `count` leaves opens,
/// after the checks rs_merkle leaves to its caller: it reads an index past the end as that
/// index modulo a power of two and ignores hashes past the ones it needs, so a verifier
/// must require sorted, distinct indices below `count` and exactly the hashes they need.
/// With new leaf hashes, the same proof gives the root after the leaves change. Linear in
/// the number of indices times the tree's height.
pub fn proven_root(proof: &[Hash], indices: &[usize], leaves: &[Hash], count: usize) -> Result<Hash, ProofError> {
    Ok(ProvenNodes::new(proof, indices, leaves, count)?.root())
}

/// Every node a multi-proof determines: the opened leaves, the proof's hashes and every
/// node computed from them, layer by layer. What a verifier needs to cut or extend the
/// tree at an opened leaf ([`Peaks::of_prefix`]).
#[derive(Clone, Debug)]
pub struct ProvenNodes {
    /// Per layer, leaves first: (node index, hash), ascending by index.
    layers: Vec<Vec<(usize, Hash)>>,
}

impl ProvenNodes {
    /// Checks a multi-proof's shape as [`proven_root`] does and computes its nodes.
    pub fn new(proof: &[Hash], indices: &[usize], leaves: &[Hash], count: usize) -> Result<Self, ProofError> {
        if indices.is_empty() || indices.len() != leaves.len() {
            return Err(ProofError::Shape("a proof opens at least one leaf, with one hash per index"));
        }
        if !indices.windows(2).all(|w| w[0] < w[1]) {
            return Err(ProofError::Shape("leaf indices must be sorted and distinct"));
        }
        if indices[indices.len() - 1] >= count {
            return Err(ProofError::Shape("a leaf index is past the last leaf"));
        }
        let mut proof = proof.iter();
        let mut used = 0;
        let mut current: Vec<(usize, Hash)> = indices.iter().copied().zip(leaves.iter().copied()).collect();
        let mut layers = Vec::new();
        let mut width = count;
        while width > 1 {
            let mut known = Vec::with_capacity(current.len() * 2);
            let mut parents = Vec::with_capacity(current.len());
            let mut k = 0;
            while k < current.len() {
                let (i, h) = current[k];
                let sibling = i ^ 1;
                let pair = if sibling >= width {
                    // The last node of an odd layer moves up unchanged.
                    known.push((i, h));
                    k += 1;
                    parents.push((i / 2, h));
                    continue;
                } else if current.get(k + 1).is_some_and(|&(j, _)| j == sibling) {
                    let right = current[k + 1];
                    k += 2;
                    ((i, h), right)
                } else {
                    let other = *proof.next().ok_or(ProofError::Length { needed: used + 1, got: used })?;
                    used += 1;
                    k += 1;
                    if i % 2 == 0 {
                        ((i, h), (sibling, other))
                    } else {
                        ((sibling, other), (i, h))
                    }
                };
                let ((l, left), (r, right)) = pair;
                known.push((l, left));
                known.push((r, right));
                parents.push((i / 2, node(&left, &right)));
            }
            layers.push(known);
            current = parents;
            width = width.div_ceil(2);
        }
        let left_over = proof.len();
        if left_over > 0 {
            return Err(ProofError::Length { needed: used, got: used + left_over });
        }
        layers.push(current);
        Ok(Self { layers })
    }

    /// The root the proof opens.
    pub fn root(&self) -> Hash {
        self.layers[self.layers.len() - 1][0].1
    }

    /// The node at `index` of layer `height` (0 for leaves), if the proof determines it.
    pub fn get(&self, height: usize, index: usize) -> Option<Hash> {
        let layer = self.layers.get(height)?;
        layer.binary_search_by_key(&index, |&(i, _)| i).ok().map(|k| layer[k].1)
    }
}

/// The complete subtrees ("peaks") that a tree's first leaves fall into, largest first,
/// as (height, hash): the state of an append-only accumulator whose root is the root of a
/// tree of rs_merkle's shape over the leaves appended so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Peaks {
    count: usize,
    peaks: Vec<(usize, Hash)>,
}

impl Peaks {
    /// The peaks of the first `prefix` leaves of a tree a multi-proof opened: complete
    /// subtrees left of leaf `prefix`, which must be known (the left siblings on the path
    /// of an opened leaf `prefix`, or the path of an opened last leaf `prefix - 1`).
    pub fn of_prefix(nodes: &ProvenNodes, prefix: usize) -> Option<Self> {
        let mut peaks = Vec::new();
        for height in (0..usize::BITS as usize).rev() {
            if prefix >> height & 1 == 1 {
                peaks.push((height, nodes.get(height, (prefix >> height) - 1)?));
            }
        }
        Some(Self { count: prefix, peaks })
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// Appends one leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        self.push_subtree(0, leaf);
    }

    /// Appends `n` leaves whose hash is `zero[0]`, in as many steps as complete zero
    /// subtrees cover them (`zero` as [`zero_hashes`] gives, tall enough for `n`).
    pub fn push_zeros(&mut self, mut n: usize, zero: &[Hash]) {
        while n > 0 {
            // The largest complete subtree that starts at the current count and fits.
            let aligned = if self.count == 0 { usize::BITS } else { self.count.trailing_zeros() };
            let height = aligned.min(n.ilog2()).min(zero.len() as u32 - 1) as usize;
            self.push_subtree(height, zero[height]);
            n -= 1 << height;
        }
    }

    /// Appends a complete subtree of `2^height` leaves, which must start at a multiple of
    /// its size, merging it with equal peaks before it.
    fn push_subtree(&mut self, height: usize, hash: Hash) {
        self.count += 1 << height;
        let (mut height, mut hash) = (height, hash);
        while let Some(&(h, left)) = self.peaks.last() {
            if h != height {
                break;
            }
            self.peaks.pop();
            hash = node(&left, &hash);
            height += 1;
        }
        self.peaks.push((height, hash));
    }

    /// The root of a tree of rs_merkle's shape over the leaves appended so far.
    pub fn root(&self) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        let Some(&(_, last)) = peaks.next() else { return EMPTY };
        peaks.fold(last, |right, (_, left)| node(left, &right))
    }
}

/// Why a Merkle proof was refused before its root was compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProofError {
    Shape(&'static str),
    Length { needed: usize, got: usize },
}

impl std::fmt::Display for ProofError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Shape(what) => f.write_str(what),
            Self::Length { needed, got } => write!(f, "the proof has {got} hashes where {needed} are needed"),
        }
    }
}

impl std::error::Error for ProofError {}

/// The layers of a tree over `leaves`, for proofs in trees that are not cached.
pub fn layers(leaves: &[Hash]) -> Vec<Vec<Hash>> {
    let mut cache = MerkleCache::default();
    update(&mut cache, leaves.len(), |i| leaves[i], None);
    cache.layers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{keccak, leaf};
    use rs_merkle::MerkleTree;

    fn leaves(n: usize, salt: u8) -> Vec<Hash> {
        (0..n).map(|i| leaf(&[salt, i as u8, (i >> 8) as u8])).collect()
    }

    #[test]
    fn roots_match_rs_merkle_for_every_small_size() {
        for n in 1..=70 {
            let l = leaves(n, 1);
            let expected = MerkleTree::<TreeHasher>::from_leaves(&l).root().unwrap();
            assert_eq!(root(&l), expected, "{n} leaves");
            assert_eq!(layers(&l).last().unwrap()[0], expected, "{n} leaves");
        }
        assert_eq!(root(&[]), EMPTY);
    }

    #[test]
    fn appending_zero_leaves_from_the_last_leafs_proof_gives_the_grown_root() {
        let z = zero_hashes(leaf(&[0]), 12);
        for old in 0..40 {
            for new in old..70 {
                let mut l = leaves(old, 4);
                let before = layers(&l);
                l.resize(new, z[0]);
                let (last, siblings) = match old {
                    0 => (EMPTY, Vec::new()),
                    _ => (before[0][old - 1], proof(&before, &[old - 1]).proof_hashes().to_vec()),
                };
                assert_eq!(append_root(old, last, &siblings, new, &z), Ok(root(&l)), "{old} -> {new} leaves");
            }
        }
        for n in [5, 8, 12, 16] {
            assert_eq!(zero_root(n, &z), root(&vec![z[0]; n]), "{n} zero leaves");
        }
        let two = layers(&leaves(2, 4));
        assert!(append_root(2, two[0][1], &[], 5, &z).is_err(), "a missing sibling");
        assert!(append_root(2, two[0][1], &[two[0][0], two[0][0]], 5, &z).is_err(), "a hash too many");
    }

    #[test]
    fn proven_root_refuses_what_rs_merkle_would_let_through() {
        let l = leaves(5, 3);
        let lay = layers(&l);
        let p = proof(&lay, &[2]);
        let good = p.proof_hashes();
        assert_eq!(proven_root(good, &[2], &l[2..3], 5), Ok(root(&l)));
        // rs_merkle alone reads index 10 as 2 and ignores a trailing hash.
        assert!(p.verify(root(&l), &[10], &l[2..3], 5));
        assert!(proven_root(good, &[10], &l[2..3], 5).is_err());
        let longer = [good, &[l[0]]].concat();
        assert!(
            p.verify(root(&l), &[2], &l[2..3], 5)
                && MerkleProof::<TreeHasher>::new(longer.clone()).verify(root(&l), &[2], &l[2..3], 5)
        );
        assert_eq!(
            proven_root(&longer, &[2], &l[2..3], 5),
            Err(ProofError::Length { needed: good.len(), got: good.len() + 1 })
        );
        assert!(proven_root(&good[1..], &[2], &l[2..3], 5).is_err());
        assert!(proven_root(good, &[], &[], 5).is_err());
        let two = proof(&lay, &[1, 3]);
        assert!(proven_root(two.proof_hashes(), &[3, 1], &[l[3], l[1]], 5).is_err(), "unsorted");
        assert_eq!(proven_root(two.proof_hashes(), &[1, 3], &[l[1], l[3]], 5), Ok(root(&l)));
    }

    #[test]
    fn peaks_cut_and_extend_a_tree_at_an_opened_leaf() {
        let z = zero_hashes(slot_leaf_of(0), 12);
        for n in 1..=40 {
            let l = leaves(n, 5);
            let lay = layers(&l);
            for cut in 0..=n {
                // The leaf at the cut, or the last leaf when the cut is the end.
                let opened = cut.min(n - 1);
                let p = proof(&lay, &[opened]);
                let nodes = ProvenNodes::new(p.proof_hashes(), &[opened], &[l[opened]], n).unwrap();
                assert_eq!(nodes.root(), root(&l));
                let mut peaks = Peaks::of_prefix(&nodes, cut).unwrap_or_else(|| panic!("{n} leaves, cut at {cut}"));
                assert_eq!(peaks.root(), root(&l[..cut]), "{n} leaves cut at {cut}");
                peaks.push(l[0]);
                peaks.push_zeros(7, &z);
                let mut longer = l[..cut].to_vec();
                longer.push(l[0]);
                longer.extend([z[0]; 7]);
                assert_eq!((peaks.count(), peaks.root()), (longer.len(), root(&longer)), "{n} leaves cut at {cut}");
            }
        }
        // A cut the proof does not reach.
        let l = leaves(8, 5);
        let p = proof(&layers(&l), &[7]);
        let nodes = ProvenNodes::new(p.proof_hashes(), &[7], &[l[7]], 8).unwrap();
        assert!(Peaks::of_prefix(&nodes, 3).is_none());
    }

    fn slot_leaf_of(v: u64) -> Hash {
        leaf(&v.to_le_bytes())
    }

    #[test]
    fn proofs_verify_with_rs_merkle_and_give_the_new_root() {
        for n in 1..=40 {
            let l = leaves(n, 2);
            let lay = layers(&l);
            let r = root(&l);
            let sets: Vec<Vec<usize>> =
                vec![vec![0], vec![n - 1], (0..n).step_by(3).collect(), vec![n / 2, n - 1], (0..n).collect()];
            for mut set in sets {
                set.sort_unstable();
                set.dedup();
                let p = proof(&lay, &set);
                let hs: Vec<Hash> = set.iter().map(|&i| l[i]).collect();
                assert!(p.verify(r, &set, &hs, n), "{n} leaves, proof of {set:?}");
                let theirs = MerkleTree::<TreeHasher>::from_leaves(&l).proof(&set);
                assert_eq!(p.proof_hashes(), theirs.proof_hashes(), "{n} leaves, proof of {set:?}");
                let changed: Vec<Hash> = set.iter().map(|&i| keccak(&[i as u8])).collect();
                let mut new = l.clone();
                set.iter().zip(&changed).for_each(|(&i, h)| new[i] = *h);
                assert_eq!(p.root(&set, &changed, n).unwrap(), root(&new), "{n} leaves, new root for {set:?}");
            }
        }
    }
}
