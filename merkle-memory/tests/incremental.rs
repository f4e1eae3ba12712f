//! The incremental commitments against commitments rebuilt from scratch, on real machines:
//! random sequences of every kind of memory and table write (addresses biased toward chunk
//! boundaries, the end of memory, fresh pages and out-of-bounds accesses), grows, clones
//! and snapshot restores, with roots asked for at random points (also in the middle of
//! bulk instructions).

mod common;

use common::*;
use merkle_memory::{memory, state_hash};
use proptest::prelude::*;
use stepper::{Config, Machine, Status, Trap, Value};

/// An address, resolved against the memory's size when the operation runs.
#[derive(Clone, Debug)]
enum Addr {
    /// Near the start of chunk `k` (mod the chunk count + 1).
    Chunk(u32, i8),
    /// Near the end of memory.
    End(i8),
    /// Near the start of page `p`, for grown pages.
    Page(u8, i8),
    /// Anywhere in memory (or a little past it).
    Any(u32),
    /// Near 2^32: traps, and must not wrap around into memory.
    Huge(u8),
}

impl Addr {
    fn resolve(&self, len: u64, chunk: u64) -> u32 {
        let at: i64 = match *self {
            Addr::Chunk(k, d) => ((k as u64 % (len / chunk + 1)) * chunk) as i64 + d as i64,
            Addr::End(d) => len as i64 + d as i64,
            Addr::Page(p, d) => p as i64 * 65536 + d as i64,
            Addr::Any(f) => (f as u64 % (len + 8)) as i64,
            Addr::Huge(k) => u32::MAX as i64 - k as i64,
        };
        at as u32
    }
}

fn addr() -> impl Strategy<Value = Addr> {
    prop_oneof![
        4 => (any::<u32>(), -9i8..9).prop_map(|(k, d)| Addr::Chunk(k, d)),
        3 => (-17i8..3).prop_map(Addr::End),
        2 => (0u8..5, -9i8..9).prop_map(|(p, d)| Addr::Page(p, d)),
        2 => any::<u32>().prop_map(Addr::Any),
        1 => (0u8..8).prop_map(Addr::Huge),
    ]
}

/// A byte count for bulk operations, resolved when the operation runs.
#[derive(Clone, Debug)]
enum Len {
    Small(u8),
    /// About `k` chunks.
    Chunks(u8, i8),
    /// To the end of memory from the start address, give or take.
    ToEnd(i8),
    Any(u32),
}

impl Len {
    fn resolve(&self, len: u64, chunk: u64, start: u32) -> u32 {
        let n: i64 = match *self {
            Len::Small(n) => n as i64 % 40,
            Len::Chunks(k, d) => (k % 4) as i64 * chunk.min(8192) as i64 + d as i64,
            Len::ToEnd(d) => len as i64 - start as i64 + d as i64,
            Len::Any(f) => (f as u64 % (len + 1)) as i64,
        };
        n.max(0) as u32
    }
}

fn length() -> impl Strategy<Value = Len> {
    prop_oneof![
        3 => any::<u8>().prop_map(Len::Small),
        3 => (any::<u8>(), -3i8..4).prop_map(|(k, d)| Len::Chunks(k, d)),
        2 => (-2i8..2).prop_map(Len::ToEnd),
        1 => any::<u32>().prop_map(Len::Any),
    ]
}

/// A table index or count, resolved against table `$t`'s length when the operation runs.
#[derive(Clone, Debug)]
enum TIdx {
    /// Anywhere in the table or just past it.
    In(u8),
    /// Near the end.
    End(i8),
    Huge,
}

impl TIdx {
    fn resolve(&self, len: u32) -> u32 {
        match *self {
            TIdx::In(k) => k as u32 % (len + 2),
            TIdx::End(d) => (len as i64 + d as i64).max(0) as u32,
            TIdx::Huge => u32::MAX,
        }
    }
}

fn tindex() -> impl Strategy<Value = TIdx> {
    prop_oneof![6 => any::<u8>().prop_map(TIdx::In), 3 => (-4i8..2).prop_map(TIdx::End), 1 => Just(TIdx::Huge)]
}

#[derive(Clone, Debug)]
enum Op {
    Store {
        which: usize,
        unfused: bool,
        at: Addr,
        value: u64,
    },
    Grow(u32),
    Fill {
        d: Addr,
        value: u8,
        n: Len,
    },
    Copy {
        d: Addr,
        s: Addr,
        n: Len,
    },
    Init {
        d: Addr,
        s: u16,
        n: Len,
    },
    DataDrop,
    TableSet {
        i: TIdx,
        k: u32,
    },
    TableGrow {
        k: u32,
        n: u32,
    },
    TableFill {
        i: TIdx,
        k: u32,
        n: TIdx,
    },
    TableCopy {
        d: TIdx,
        s: TIdx,
        n: TIdx,
        from_src: bool,
    },
    TableInit {
        d: TIdx,
        s: u32,
        n: u32,
    },
    ElemDrop,
    /// Ask for the roots (and compare with roots from scratch).
    Check,
    /// The state hash against a restored snapshot's (a full rebuild).
    StateHash,
    /// Continue on a clone too.
    Clone,
    /// Replace the machine by its restored snapshot.
    Restore,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0usize..7, any::<bool>(), addr(), any::<u64>())
            .prop_map(|(which, unfused, at, value)| Op::Store { which, unfused, at, value }),
        2 => prop_oneof![4 => 0u32..3, 1 => Just(70000u32), 1 => Just(u32::MAX)].prop_map(Op::Grow),
        2 => (addr(), any::<u8>(), length()).prop_map(|(d, value, n)| Op::Fill { d, value, n }),
        3 => (addr(), addr(), length()).prop_map(|(d, s, n)| Op::Copy { d, s, n }),
        2 => (addr(), 0u16..310, length()).prop_map(|(d, s, n)| Op::Init { d, s, n }),
        1 => Just(Op::DataDrop),
        2 => (tindex(), 0u32..5).prop_map(|(i, k)| Op::TableSet { i, k }),
        1 => (0u32..4, prop_oneof![0u32..6, Just(1000)]).prop_map(|(k, n)| Op::TableGrow { k, n }),
        2 => (tindex(), 0u32..4, tindex()).prop_map(|(i, k, n)| Op::TableFill { i, k, n }),
        2 => (tindex(), tindex(), tindex(), any::<bool>())
            .prop_map(|(d, s, n, from_src)| Op::TableCopy { d, s, n, from_src }),
        1 => (tindex(), 0u32..7, 0u32..7).prop_map(|(d, s, n)| Op::TableInit { d, s, n }),
        1 => Just(Op::ElemDrop),
        4 => Just(Op::Check),
        1 => Just(Op::StateHash),
        1 => Just(Op::Clone),
        1 => Just(Op::Restore),
    ]
}

/// One operation on machine `target` (mod the number of machines); `slice` > 0 runs it
/// that many steps at a time, checking the commitments in between (a few times).
#[derive(Clone, Debug)]
struct Action {
    op: Op,
    target: u8,
    slice: u16,
}

fn action() -> impl Strategy<Value = Action> {
    (op(), any::<u8>(), prop_oneof![3 => Just(0u16), 1 => 1u16..40]).prop_map(|(op, target, slice)| Action {
        op,
        target,
        slice,
    })
}

#[derive(Clone, Debug)]
struct Setup {
    chunk: u32,
    min: u32,
    max: Option<u32>,
    tmin: u32,
    tmax: Option<u32>,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        prop::sample::select(CHUNKS.to_vec()),
        0u32..3,
        prop::option::of(0u32..2),
        prop::sample::select(vec![0u32, 1, 3, 6]),
        prop::option::of(0u32..30),
    )
        .prop_map(|(chunk, min, extra, tmin, textra)| Setup {
            chunk,
            min,
            max: extra.map(|e| min + e),
            tmin,
            tmax: textra.map(|e| tmin + e),
        })
}

/// Starts `name(args)` on `m` and runs it, checking the commitments between slices.
fn run(rig: &Rig, m: &mut Machine, name: &str, args: &[Value], slice: u16) {
    rig.start(m, name, args);
    if slice > 0 {
        for _ in 0..4 {
            if m.run(slice as u64) != Status::Running {
                break;
            }
            check_commitments(m, &format!("in the middle of {name}{args:?}"));
        }
    }
    m.run(u64::MAX);
}

fn apply(rig: &Rig, machines: &mut Vec<Machine>, a: &Action) {
    let t = a.target as usize % machines.len();
    let m = &mut machines[t];
    let (len, chunk) = (m.store().memories[0].data().len() as u64, m.config().memory_chunk_size as u64);
    let tlen = m.store().tables[m.store().instances[0].tables[0] as usize].elems().len() as u32;
    match &a.op {
        Op::Store { which, unfused, at, value } => {
            let name = if *unfused { format!("u{which}") } else { format!("s{which}") };
            let at = at.resolve(len, chunk);
            let arg = if *unfused && at >= 3 { at - 3 } else { at };
            let v = if STORES[*which].1 == "i64" { Value::I64(*value as i64) } else { Value::I32(*value as i32) };
            run(rig, m, &name, &[Value::I32(arg as i32), v], 0);
        }
        Op::Grow(n) => run(rig, m, "grow", &i32s(&[*n]), 0),
        Op::Fill { d, value, n } => {
            let d = d.resolve(len, chunk);
            let n = n.resolve(len, chunk, d);
            run(rig, m, "fill", &i32s(&[d, *value as u32, n]), a.slice);
        }
        Op::Copy { d, s, n } => {
            let (d, s) = (d.resolve(len, chunk), s.resolve(len, chunk));
            let n = n.resolve(len, chunk, d.max(s));
            run(rig, m, "copy", &i32s(&[d, s, n]), a.slice);
        }
        Op::Init { d, s, n } => {
            let d = d.resolve(len, chunk);
            let n = n.resolve(len, chunk, d).min(320);
            run(rig, m, "init", &i32s(&[d, *s as u32, n]), a.slice);
        }
        Op::DataDrop => run(rig, m, "ddrop", &[], 0),
        Op::TableSet { i, k } => run(rig, m, "tset", &i32s(&[i.resolve(tlen), *k]), 0),
        Op::TableGrow { k, n } => run(rig, m, "tgrow", &i32s(&[*k, *n]), a.slice),
        Op::TableFill { i, k, n } => run(rig, m, "tfill", &i32s(&[i.resolve(tlen), *k, n.resolve(tlen)]), a.slice),
        Op::TableCopy { d, s, n, from_src } => {
            let (name, slen) = if *from_src { ("tcopysrc", 4) } else { ("tcopy", tlen) };
            run(rig, m, name, &i32s(&[d.resolve(tlen), s.resolve(slen), n.resolve(tlen.min(slen))]), a.slice);
        }
        Op::TableInit { d, s, n } => run(rig, m, "tinit", &i32s(&[d.resolve(tlen), *s, *n]), a.slice),
        Op::ElemDrop => run(rig, m, "edrop", &[], 0),
        Op::Check => check_commitments(m, "between operations"),
        Op::StateHash => {
            let restored = state_hash(&mut rig.restore(m));
            assert_eq!(state_hash(&mut m.clone()), restored, "clone vs restored snapshot");
            assert_eq!(state_hash(m), restored, "incremental vs restored snapshot");
        }
        Op::Clone => {
            let c = m.clone();
            if machines.len() < 3 {
                machines.push(c);
            } else {
                machines[(t + 1) % 3] = c;
            }
        }
        Op::Restore => *m = rig.restore(m),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(128), max_shrink_iters: 2000, ..ProptestConfig::default() })]

    #[test]
    fn incremental_roots_equal_roots_from_scratch(s in setup(), actions in prop::collection::vec(action(), 1..40)) {
        let config = Config {
            memory_chunk_size: s.chunk,
            max_memory_pages: 3,
            max_table_elements: 48,
            ..Config::default()
        };
        let (rig, m) = Rig::new(s.min, s.max, s.tmin, s.tmax, config);
        let mut machines = vec![m];
        for a in &actions {
            apply(&rig, &mut machines, a);
        }
        for (i, m) in machines.iter_mut().enumerate() {
            check_commitments(m, &format!("machine {i} at the end"));
            let restored = state_hash(&mut rig.restore(m));
            prop_assert_eq!(state_hash(m), restored);
        }
    }
}

// Focused cases.

fn root(m: &mut Machine) -> merkle_memory::Hash {
    memory::chunks_root(&mut m.memories_mut()[0])
}

fn leaves_of(at: u32, width: u32, chunk: u32) -> Vec<u32> {
    (at / chunk..=(at + width - 1) / chunk).collect()
}

#[test]
fn stores_straddling_chunk_boundaries_mark_both_chunks() {
    for chunk in CHUNKS {
        let (rig, mut m) = Rig::simple(2, None, chunk);
        check_commitments(&mut m, "fresh");
        for (i, &w) in STORE_WIDTHS.iter().enumerate() {
            for unfused in [false, true] {
                // Every placement that crosses the boundary at `chunk` (and one that ends on it).
                for back in 1..=w {
                    let at = chunk * (1 + (chunk < 32768) as u32) - back;
                    let value = 0x0102_0304_0506_0708u64.wrapping_mul(at as u64 + 1) | 0x8080_8080_8080_8080;
                    assert_eq!(rig.store(&mut m, i, unfused, at, value), Status::Returned);
                    assert_eq!(
                        stale(&m.store().memories[0]),
                        leaves_of(at, w, chunk),
                        "width {w} at {at}, chunk {chunk}"
                    );
                    check_commitments(&mut m, &format!("width {w} at {at}, chunk {chunk}"));
                }
            }
        }
    }
}

#[test]
fn stores_at_the_last_bytes_of_memory() {
    for chunk in CHUNKS {
        for pages in [1, 3] {
            let (rig, mut m) = Rig::simple(pages, None, chunk);
            let len = pages * 65536;
            check_commitments(&mut m, "fresh");
            for (i, &w) in STORE_WIDTHS.iter().enumerate() {
                for unfused in [false, true] {
                    // Fits exactly: ends at the last byte.
                    assert_eq!(rig.store(&mut m, i, unfused, len - w, u64::MAX - i as u64), Status::Returned);
                    assert_eq!(stale(&m.store().memories[0]), vec![(len - 1) / chunk]);
                    check_commitments(&mut m, &format!("width {w} at the end, chunk {chunk}"));
                    // One byte too far, and far past the end: traps, writes and marks nothing.
                    let before = root(&mut m);
                    for at in [len - w + 1, len, u32::MAX - w + 1, u32::MAX] {
                        let status = rig.store(&mut m, i, unfused, at, 0x5555);
                        assert_eq!(status, Status::Trapped(Trap::MemoryOutOfBounds), "width {w} at {at}");
                        assert!(m.store().memories[0].cache().dirty().is_empty());
                        assert_eq!(root(&mut m), before);
                    }
                }
            }
            // The last byte alone, through memory.fill, memory.copy and memory.init too.
            for (name, args) in [
                ("fill", [len - 1, 0x77, 1]),
                ("copy", [len - 1, 0, 1]),
                ("copy", [0, len - 1, 1]),
                ("init", [len - 1, 5, 1]),
            ] {
                assert_eq!(rig.call(&mut m, name, &i32s(&args)), Status::Returned, "{name}{args:?}");
                check_commitments(&mut m, &format!("{name}{args:?}, chunk {chunk}"));
            }
            assert_eq!(m.store().memories[0].data()[len as usize - 1], segment_bytes()[5]);
        }
    }
}

#[test]
fn grow_then_write_in_the_new_page() {
    for chunk in CHUNKS {
        let (rig, mut m) = Rig::simple(1, Some(4), chunk);
        rig.store(&mut m, 6, false, 100, 42);
        check_commitments(&mut m, "before the grow");
        assert_eq!(rig.call(&mut m, "grow", &i32s(&[2])), Status::Returned);
        assert_eq!(m.results(), vec![Value::I32(1)]);
        // The new chunks are known to be zero without being stale; the old ones are not
        // stale either.
        assert_eq!(stale(&m.store().memories[0]), Vec::<u32>::new());
        // Write in the new pages before any hash is asked for, then after.
        rig.store(&mut m, 6, false, 65536 + 5, 7);
        rig.store(&mut m, 2, true, 3 * 65536 - 4, 9);
        check_commitments(&mut m, "grow then write");
        for at in [65536 - 3, 2 * 65536 - 1, 2 * 65536 + chunk - 2] {
            rig.store(&mut m, 6, false, at, 0x1122_3344_5566_7788);
            check_commitments(&mut m, &format!("write at {at} after the grow"));
        }
        assert_eq!(rig.call(&mut m, "fill", &i32s(&[65536 - 10, 0xee, 3 * 65536 - (65536 - 10)])), Status::Returned);
        check_commitments(&mut m, "fill over the grown pages");
    }
}

#[test]
fn restore_then_write() {
    for chunk in CHUNKS {
        let (rig, mut m) = Rig::simple(2, None, chunk);
        rig.store(&mut m, 6, false, 1000, 1);
        rig.call(&mut m, "tset", &i32s(&[1, 3]));
        check_commitments(&mut m, "before the snapshot");
        let mut r = rig.restore(&m);
        // A restored machine starts with no cached hashes.
        assert!(r.store().memories[0].cache().layers.is_empty());
        rig.store(&mut r, 3, false, chunk - 1, 0xff);
        rig.call(&mut r, "tset", &i32s(&[0, 2]));
        rig.call(&mut r, "grow", &i32s(&[1]));
        rig.store(&mut r, 6, true, 2 * 65536 + 1, 0xabcdef);
        check_commitments(&mut r, "restore then write");
        // Then incrementally, once the cache exists.
        rig.store(&mut r, 0, false, 0, 3);
        check_commitments(&mut r, "restore, hash, write");
        rig.store(&mut m, 3, false, chunk - 1, 0xff);
        assert_ne!(state_hash(&mut m), state_hash(&mut r));
    }
}

#[test]
fn clone_then_write_on_one_side_only() {
    for chunk in CHUNKS {
        let (rig, mut a) = Rig::simple(2, None, chunk);
        rig.store(&mut a, 6, false, 500, 5);
        let before = root(&mut a);
        let mut b = a.clone();
        rig.store(&mut b, 6, false, 500, 6);
        rig.store(&mut b, 6, false, 65536 + chunk / 2, 6);
        rig.call(&mut b, "tfill", &i32s(&[0, 1, 3]));
        check_commitments(&mut b, "the written clone");
        assert_ne!(root(&mut b), before);
        assert!(a.store().memories[0].cache().dirty().is_empty());
        assert_eq!(root(&mut a), before, "the clone's writes leaked into the original");
        check_commitments(&mut a, "the original");
        // And the other way round, with stale leaves pending when cloning.
        rig.store(&mut a, 0, false, 7, 1);
        let mut c = a.clone();
        rig.store(&mut a, 0, false, 3 * chunk.min(1024) + 1, 1);
        check_commitments(&mut c, "clone taken with a stale leaf");
        check_commitments(&mut a, "original written after the clone");
        assert_eq!(state_hash(&mut c), state_hash(&mut rig.restore(&c)));
    }
}

#[test]
fn grow_by_zero_and_failed_grows_change_nothing() {
    for chunk in CHUNKS {
        let (rig, mut m) = Rig::simple(1, Some(2), chunk);
        let mem_root = root(&mut m);
        for (n, result) in [(0u32, 1i32), (2, -1), (70000, -1), (u32::MAX, -1)] {
            assert_eq!(rig.call(&mut m, "grow", &i32s(&[n])), Status::Returned);
            assert_eq!(m.results(), vec![Value::I32(result)], "grow {n}");
            assert!(m.store().memories[0].cache().dirty().is_empty(), "grow {n} marked chunks");
            assert_eq!(m.store().memories[0].pages(), 1);
            assert_eq!(root(&mut m), mem_root);
            check_commitments(&mut m, &format!("grow {n}"));
        }
        // A failed table.grow marks nothing either.
        assert_eq!(rig.call(&mut m, "tgrow", &i32s(&[1, 1000])), Status::Returned);
        assert_eq!(m.results(), vec![Value::I32(-1)]);
        assert!(m.store().tables.iter().all(|t| t.cache().dirty().is_empty()));
        check_commitments(&mut m, "failed table.grow");
    }
}

#[test]
fn empty_memory_grows_and_is_written() {
    for chunk in CHUNKS {
        let (rig, mut m) = Rig::simple(0, None, chunk);
        assert_eq!(root(&mut m), merkle_memory::hash::EMPTY);
        check_commitments(&mut m, "no pages");
        // A store traps; a zero-length fill at 0 is in bounds.
        assert_eq!(rig.store(&mut m, 0, false, 0, 1), Status::Trapped(Trap::MemoryOutOfBounds));
        assert_eq!(rig.call(&mut m, "fill", &i32s(&[0, 1, 0])), Status::Returned);
        assert_eq!(rig.call(&mut m, "grow", &i32s(&[0])), Status::Returned);
        assert_eq!(root(&mut m), merkle_memory::hash::EMPTY);
        assert_eq!(rig.call(&mut m, "grow", &i32s(&[1])), Status::Returned);
        assert_eq!(m.results(), vec![Value::I32(0)]);
        check_commitments(&mut m, "grown from no pages");
        rig.store(&mut m, 6, false, 65528, 0xdead_beef);
        check_commitments(&mut m, "written after growing from no pages");
        // Grow again without asking for a hash in between, then write in the new page.
        rig.call(&mut m, "grow", &i32s(&[1]));
        rig.store(&mut m, 2, false, 65534, 0x7fff_ffff);
        check_commitments(&mut m, "two grows");
        let mut r = rig.restore(&m);
        assert_eq!(state_hash(&mut r), state_hash(&mut m));
    }
    // A restored empty memory, grown after the restore.
    let (rig, m) = Rig::simple(0, None, 64);
    let mut r = rig.restore(&m);
    rig.call(&mut r, "grow", &i32s(&[2]));
    rig.store(&mut r, 6, false, 65535, 1);
    check_commitments(&mut r, "restored empty memory, grown");
}

#[test]
fn bulk_sub_steps_keep_the_commitment_exact() {
    // memory.copy in both directions, overlapping, checked after every sub-step.
    for chunk in [32, 64, 256] {
        let (rig, mut m) = Rig::simple(1, None, chunk);
        rig.call(&mut m, "fill", &i32s(&[0, 0x11, 3000]));
        rig.call(&mut m, "init", &i32s(&[100, 0, 300]));
        for (d, s, n) in [(37, 100, 700), (1000, 990, 600), (950, 1000, 333), (chunk - 1, chunk + 1, 3 * chunk)] {
            rig.start(&mut m, "copy", &i32s(&[d, s, n]));
            let mut steps = 0;
            while m.step() == Status::Running {
                steps += 1;
                check_commitments(&mut m, &format!("copy({d}, {s}, {n}) after {steps} steps"));
            }
            assert_eq!(m.status(), Status::Returned);
            check_commitments(&mut m, &format!("copy({d}, {s}, {n})"));
        }
    }
}

#[test]
fn one_byte_store_rehashes_one_path() {
    let chunk = 64u32;
    let (rig, mut m) = Rig::simple(256, None, chunk);
    check_commitments(&mut m, "fresh 256 pages");
    // A write in the last chunk makes the cache keep every node (it leaves out only
    // nodes over chunks never written).
    assert_eq!(rig.store(&mut m, 0, false, 256 * 65536 - 1, 1), Status::Returned);
    check_commitments(&mut m, "the last byte written");
    let at = 5 * 65536 + 12345;
    let leaf = (at / chunk) as usize;
    let before = m.store().memories[0].cache().layers.clone();
    assert_eq!(rig.store(&mut m, 0, false, at, 0x5a), Status::Returned);
    assert_eq!(stale(&m.store().memories[0]), vec![leaf as u32]);
    root(&mut m);
    let after = &m.store().memories[0].cache().layers;
    assert_eq!(after.len(), before.len());
    for (h, (old, new)) in before.iter().zip(after).enumerate() {
        let changed: Vec<usize> = (0..old.len()).filter(|&i| old[i] != new[i]).collect();
        assert_eq!(changed, vec![leaf >> h], "layer {h}: only the written chunk's path changes");
    }
    check_commitments(&mut m, "after one store");
    // Growing adds zero chunks, none stale; the old ones stay as they were.
    rig.call(&mut m, "grow", &i32s(&[1]));
    assert!(stale(&m.store().memories[0]).is_empty());
    let layer0 = m.store().memories[0].cache().layers[0].clone();
    root(&mut m);
    assert_eq!(&m.store().memories[0].cache().layers[0][..layer0.len()], &layer0[..]);
    check_commitments(&mut m, "after growing 256 pages by one");
}

#[test]
fn table_bulk_writes_keep_the_commitment_exact() {
    let (rig, mut m) = Rig::new(1, None, 3, Some(40), Config::default());
    let t = m.store().instances[0].tables[0] as usize;
    assert_eq!(rig.call(&mut m, "tgrow", &i32s(&[2, 9])), Status::Returned);
    check_commitments(&mut m, "table.grow with a value");
    // Distinct entries, so that every misplaced or unmarked write shows.
    for i in 0..12 {
        rig.call(&mut m, "tset", &i32s(&[i, i % 4]));
    }
    for (name, args) in [
        ("tcopy", [1, 0, 10]),
        ("tcopy", [0, 2, 10]),
        ("tcopy", [5, 4, 7]),
        ("tcopysrc", [8, 0, 4]),
        ("tcopysrc", [0, 1, 3]),
        ("tinit", [6, 1, 5]),
        ("tfill", [3, 2, 8]),
    ] {
        rig.start(&mut m, name, &i32s(&args));
        while m.step() == Status::Running {
            check_commitments(&mut m, &format!("{name}{args:?} in the middle"));
        }
        assert_eq!(m.status(), Status::Returned, "{name}{args:?}");
        check_commitments(&mut m, &format!("{name}{args:?}"));
    }
    // The last element, then one past it.
    let len = m.store().tables[t].elems().len() as u32;
    assert_eq!(rig.call(&mut m, "tset", &i32s(&[len - 1, 3])), Status::Returned);
    assert_eq!(rig.call(&mut m, "tset", &i32s(&[len, 3])), Status::Trapped(Trap::TableOutOfBounds));
    check_commitments(&mut m, "last element");
    assert_eq!(state_hash(&mut m), state_hash(&mut rig.restore(&m)));
}
