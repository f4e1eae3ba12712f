//! Shared by the integration tests: a module that exposes every kind of memory and table
//! write as an exported function, a harness that calls them on real machines, and
//! commitments recomputed from scratch with rs_merkle.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use merkle_memory::hash::{leaf, EMPTY};
use merkle_memory::{memory, state, Hash, TreeHasher};
use rs_merkle::{MerkleTree, PartialTree};
use stepper::store::{Memory, Table};
use stepper::{Config, Extern, Machine, Module, Status, Value};

/// The chunk sizes the tests run with.
pub const CHUNKS: [u32; 5] = [32, 64, 256, 1024, 65536];

/// Stores of every width: (instruction, value type). Export `sN` runs store N as
/// `local.get local.get store` (fused into one op on the fast path); `uN` runs it
/// unfused with `offset=3`.
pub const STORES: [(&str, &str); 7] = [
    ("i32.store8", "i32"),
    ("i32.store16", "i32"),
    ("i32.store", "i32"),
    ("i64.store8", "i64"),
    ("i64.store16", "i64"),
    ("i64.store32", "i64"),
    ("i64.store", "i64"),
];

pub const STORE_WIDTHS: [u32; 7] = [1, 2, 4, 1, 2, 4, 8];

/// The bytes of the passive data segment `memory.init` copies from.
pub fn segment_bytes() -> Vec<u8> {
    (0..300u32).map(|i| (i.wrapping_mul(37) + 11) as u8 | 1).collect()
}

/// The module: memory `min`..`max` pages, funcref table `$t` of `tmin` (..`tmax`)
/// elements, a source table `$src` = [null, f0, f1, f2] the table writes take their
/// values from, a passive element segment and a passive data segment.
pub fn wat(min: u32, max: Option<u32>, tmin: u32, tmax: Option<u32>) -> String {
    let opt = |m: Option<u32>| m.map_or(String::new(), |m| m.to_string());
    let data: String = segment_bytes().iter().map(|b| format!("\\{b:02x}")).collect();
    let mut w = format!(
        r#"(module
  (memory {min} {max})
  (table $t {tmin} {tmax} funcref)
  (table $src 4 funcref)
  (func $f0) (func $f1) (func $f2)
  (elem (table $src) (i32.const 1) func $f0 $f1 $f2)
  (elem $pe func $f0 $f1 $f2 $f1 $f0 $f2)
  (data $d "{data}")
"#,
        max = opt(max),
        tmax = opt(tmax)
    );
    if tmin >= 2 {
        w.push_str("  (elem (table $t) (i32.const 0) func $f2 $f1)\n");
    }
    if min > 0 {
        w.push_str("  (data (i32.const 60) \"\\01\\02\\03\\04\\05\\06\\07\\08\")\n");
    }
    for (i, (op, ty)) in STORES.iter().enumerate() {
        w.push_str(&format!(
            "  (func (export \"s{i}\") (param i32 {ty}) local.get 0 local.get 1 {op})\n  \
             (func (export \"u{i}\") (param i32 {ty}) local.get 0 local.get 1 nop {op} offset=3)\n"
        ));
    }
    w.push_str(
        r#"  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "fill") (param i32 i32 i32) (memory.fill (local.get 0) (local.get 1) (local.get 2)))
  (func (export "copy") (param i32 i32 i32) (memory.copy (local.get 0) (local.get 1) (local.get 2)))
  (func (export "init") (param i32 i32 i32) (memory.init $d (local.get 0) (local.get 1) (local.get 2)))
  (func (export "ddrop") (data.drop $d))
  (func (export "tset") (param i32 i32) (table.set $t (local.get 0) (table.get $src (local.get 1))))
  (func (export "tgrow") (param i32 i32) (result i32) (table.grow $t (table.get $src (local.get 0)) (local.get 1)))
  (func (export "tfill") (param i32 i32 i32) (table.fill $t (local.get 0) (table.get $src (local.get 1)) (local.get 2)))
  (func (export "tcopy") (param i32 i32 i32) (table.copy $t $t (local.get 0) (local.get 1) (local.get 2)))
  (func (export "tcopysrc") (param i32 i32 i32) (table.copy $t $src (local.get 0) (local.get 1) (local.get 2)))
  (func (export "tinit") (param i32 i32 i32) (table.init $t $pe (local.get 0) (local.get 1) (local.get 2)))
  (func (export "edrop") (elem.drop $pe))
)"#,
    );
    w
}

/// A loaded module and its exported functions' store addresses, which clones and
/// restored snapshots share.
pub struct Rig {
    pub module: Arc<Module>,
    pub funcs: HashMap<String, u32>,
}

impl Rig {
    pub fn new(min: u32, max: Option<u32>, tmin: u32, tmax: Option<u32>, config: Config) -> (Rig, Machine) {
        let module = Module::new(wat(min, max, tmin, tmax).as_bytes()).expect("test module is valid");
        let (machine, instance) = Machine::load(&module, config).expect("test module instantiates");
        let funcs = machine.store().instances[instance as usize]
            .exports
            .iter()
            .filter_map(|(name, e)| match e {
                Extern::Func(f) => Some((name.clone(), *f)),
                _ => None,
            })
            .collect();
        (Rig { module, funcs }, machine)
    }

    /// A machine with memory `pages`..`max`, a table of 3 (..40) and chunk size `chunk`.
    pub fn simple(pages: u32, max: Option<u32>, chunk: u32) -> (Rig, Machine) {
        let config = Config { memory_chunk_size: chunk, max_memory_pages: 300, ..Config::default() };
        Rig::new(pages, max, 3, Some(40), config)
    }

    /// Starts `name(args)` without running it.
    pub fn start(&self, m: &mut Machine, name: &str, args: &[Value]) {
        let f = self.funcs[name];
        m.invoke(f, args).expect("arguments match");
    }

    /// Runs `name(args)` to the end.
    pub fn call(&self, m: &mut Machine, name: &str, args: &[Value]) -> Status {
        self.start(m, name, args);
        m.run(u64::MAX)
    }

    /// Store `i` (an index into [`STORES`]) of `value` at effective address `at`.
    pub fn store(&self, m: &mut Machine, i: usize, unfused: bool, at: u32, value: u64) -> Status {
        let (name, arg) = if unfused {
            // offset=3: the operand is 3 below the effective address (when it can be).
            (format!("u{i}"), if at >= 3 { at - 3 } else { at })
        } else {
            (format!("s{i}"), at)
        };
        let v = if STORES[i].1 == "i64" { Value::I64(value as i64) } else { Value::I32(value as i32) };
        self.call(m, &name, &[Value::I32(arg as i32), v])
    }

    pub fn restore(&self, m: &Machine) -> Machine {
        Machine::restore(&m.snapshot(), std::slice::from_ref(&self.module)).expect("snapshot restores")
    }
}

pub fn i32s(args: &[u32]) -> Vec<Value> {
    args.iter().map(|&a| Value::I32(a as i32)).collect()
}

/// rs_merkle's root over `leaves` (EMPTY for none).
pub fn rs_root(leaves: &[Hash]) -> Hash {
    MerkleTree::<TreeHasher>::from_leaves(leaves).root().unwrap_or(EMPTY)
}

/// Every chunk's leaf hash, computed from the bytes.
pub fn chunk_leaves(mem: &Memory) -> Vec<Hash> {
    mem.data().chunks(mem.chunk_size()).map(leaf).collect()
}

pub fn element_leaves(t: &Table) -> Vec<Hash> {
    t.elems().iter().map(|e| leaf(&e.to_le_bytes())).collect()
}

/// Asserts that `layers` (a cache brought up to date) are the whole tree rs_merkle builds
/// over `leaves`, node for node.
pub fn assert_layers(layers: &[Vec<Hash>], leaves: &[Hash], what: &str) {
    assert_layer_prefixes(layers, leaves, what);
    for (h, (ours, next)) in layers.iter().zip(layers.iter().skip(1)).enumerate() {
        assert_eq!(ours.len().div_ceil(2), next.len(), "{what}: layer {h} is not whole");
    }
    assert_eq!(layers.first().map_or(0, Vec::len), leaves.len(), "{what}: leaves left out");
}

/// Asserts that each of `layers` (a cache brought up to date, which may leave out nodes
/// over zero leaves at the end) begins the layer rs_merkle builds over `leaves`, and that
/// the layers are as tall as the tree.
pub fn assert_layer_prefixes(layers: &[Vec<Hash>], leaves: &[Hash], what: &str) {
    if leaves.is_empty() {
        assert!(layers.is_empty(), "{what}: layers of an empty tree");
        return;
    }
    let full = PartialTree::<TreeHasher>::from_leaves(leaves).expect("tree builds").layer_nodes();
    // rs_merkle's partial trees may repeat the root in extra layers.
    assert!(layers.len() <= full.len(), "{what}: {} layers, rs_merkle has {}", layers.len(), full.len());
    for (h, (ours, theirs)) in layers.iter().zip(&full).enumerate() {
        if ours[..] != theirs[..ours.len().min(theirs.len())] || ours.len() > theirs.len() {
            let first = ours.iter().zip(theirs).position(|(a, b)| a != b);
            panic!("{what}: layer {h} differs ({} nodes vs {}), first at {first:?}", ours.len(), theirs.len());
        }
    }
    let root = full[layers.len() - 1][0];
    assert!(full[layers.len()..].iter().all(|l| l == &vec![root]), "{what}: tree is too short");
}

/// Brings every memory's and table's cache up to date incrementally and checks the roots
/// and every cached node against trees rs_merkle builds from scratch.
pub fn check_commitments(m: &mut Machine, what: &str) {
    for (i, mem) in m.memories_mut().iter_mut().enumerate() {
        let root = memory::chunks_root(mem);
        let leaves = chunk_leaves(mem);
        assert_eq!(root, rs_root(&leaves), "{what}: memory {i} root");
        assert!(mem.cache().dirty().is_empty(), "{what}: memory {i} still has stale leaves");
        assert_layer_prefixes(&mem.cache().layers, &leaves, &format!("{what}: memory {i}"));
    }
    for (i, t) in m.tables_mut().iter_mut().enumerate() {
        let root = state::elements_root(t);
        let leaves = element_leaves(t);
        assert_eq!(root, rs_root(&leaves), "{what}: table {i} root");
        assert!(t.cache().dirty().is_empty(), "{what}: table {i} still has stale leaves");
        assert_layers(&t.cache().layers, &leaves, &format!("{what}: table {i}"));
    }
}

/// The stale leaves of a memory, without forgetting them.
pub fn stale(mem: &Memory) -> Vec<u32> {
    let mut leaves = mem.cache().dirty().leaves().to_vec();
    leaves.sort_unstable();
    leaves
}

/// A deterministic byte stream (xorshift64*), for memory contents.
pub fn random_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(n);
    out
}

/// `default` proptest cases, or `PROPTEST_CASES` from the environment for a deeper run.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}
