//! The node's cost per call against its contract's memory size (issue 15): no-op calls per
//! second through FinalizeBlock on a one-page contract, on one grown to 1 GiB, and on one
//! grown to 1 GiB with a word written in every 512-byte chunk; and a failing call on the
//! written one (its undo log gives back one chunk); and the snapshot a Commit writes of
//! the written one, against how it was written from a copy; and no-op calls on a contract
//! grown to 4 GiB and written every 512 bytes. The calls are signed envelopes, all signed
//! before the clock starts. Run with `cargo bench -p cluster --bench memory`; it prints
//! its figures.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use cluster::envelope::{Session, SigningKey};
use cluster::history::{BlockSummary, Chain, NodeSetup, TxStatus};
use cluster::node::Node;
use stepper::Value;

const BLOCKS: u64 = 10;
const TXS_PER_BLOCK: usize = 1_000;
const GIB_PAGES: u32 = 16_384;
const CHAIN: &str = "bench-chain";
/// Each call's gas limit: the per-call limit, which the block gas limit lets a thousand
/// calls reserve together.
const GAS: u64 = 1 << 40;

fn setup() -> NodeSetup {
    let bytes = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/contracts/big_memory.wat")).unwrap();
    let module = stepper::Module::new(&bytes).unwrap();
    let config = stepper::Config { gas_limit: 1 << 40, ..stepper::Config::default() };
    let chain = Chain { block_gas_limit: i64::MAX as u64, ..Chain::named(CHAIN) };
    // No snapshot during the measurement: it would write the whole memory.
    NodeSetup { module_bytes: Arc::new(bytes), module, config, snapshot_interval: 1_000_000, chain }
}

/// A call: an export and its arguments.
type Call = (&'static str, Vec<Value>);

/// The client's session, signing calls in counter order.
fn session() -> Session {
    Session::new(SigningKey::from_bytes(&[1; 32]), CHAIN, 0, 0)
}

fn sign(session: &mut Session, (export, args): &Call) -> Vec<u8> {
    session.sign(export, args.clone(), GAS).unwrap().encode().unwrap()
}

/// Commits block `height` of `txs`; the calls' statuses.
fn block(node: &Node, height: u64, txs: &[Vec<u8>]) -> Vec<TxStatus> {
    let refs: Vec<&[u8]> = txs.iter().map(Vec::as_slice).collect();
    let block = node.finalize(height, &refs).unwrap();
    node.commit_pending().unwrap();
    block.txs.iter().map(|t| t.outcome.status).collect()
}

/// No-op calls per second over `BLOCKS` blocks after the setup blocks `prepare`.
fn measure(name: &str, prepare: &[Call], failing: bool) {
    // `cargo bench -p cluster --bench memory -- WORD` measures the cases whose name has WORD.
    if std::env::args().skip(1).filter(|a| !a.starts_with('-')).any(|word| !name.contains(&word)) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("verigame-memory-bench-{}-{name}", std::process::id()));
    let node = Node::create(&dir, setup(), None).unwrap();
    let mut session = session();
    let prepare: Vec<Vec<u8>> = prepare.iter().map(|c| sign(&mut session, c)).collect();
    let statuses = block(&node, 1, &prepare);
    assert!(statuses.iter().all(|&s| s == TxStatus::Returned), "{statuses:?}");
    // A failing call writes one chunk, then traps out of bounds.
    let call: Call =
        if failing { ("touch", vec![Value::I32(1073741312), Value::I32(-1), Value::I32(7)]) } else { ("noop", vec![]) };
    let blocks: Vec<Vec<Vec<u8>>> =
        (0..BLOCKS).map(|_| (0..TXS_PER_BLOCK).map(|_| sign(&mut session, &call)).collect()).collect();
    let start = Instant::now();
    for (h, txs) in (2..).zip(&blocks) {
        let statuses = block(&node, h, txs);
        assert_eq!(statuses[0], if failing { TxStatus::Trapped } else { TxStatus::Returned });
    }
    let calls = BLOCKS * TXS_PER_BLOCK as u64;
    let seconds = start.elapsed().as_secs_f64();
    println!("{name:<40} {calls} calls in {BLOCKS} blocks, {seconds:.3} s, {:.0} calls/s", calls as f64 / seconds);
    drop(node);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A snapshot of the contract after `prepare`, as a Commit writes it: the part under the
/// machine's lock (encoded and written to the file as it goes) and the rest (sync, rename,
/// the chunks' hashes read back); and, for comparison, how a Commit wrote one before the
/// machine ran in place: a copy of the machine taken under the lock, then encoded whole
/// in memory, hashed and written.
fn measure_snapshot(name: &str, prepare: &[Call]) {
    if std::env::args().skip(1).filter(|a| !a.starts_with('-')).any(|word| !name.contains(&word)) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("verigame-memory-bench-{}-{name}", std::process::id()));
    let setup = setup();
    let snapshots = cluster::history::History::create(&dir, setup.clone()).unwrap().snapshots();
    let mut ledger = cluster::ledger::Ledger::new(&setup, None).unwrap();
    let mut session = session();
    for call in prepare {
        assert_eq!(ledger.execute(&sign(&mut session, call)).outcome.status, TxStatus::Returned);
    }
    let block = BlockSummary { height: 1, ..BlockSummary::fresh(ledger.state_hash()) };
    let machine = &ledger.executor.machine;
    let start = Instant::now();
    let streamed = snapshots.stream(1, machine).unwrap();
    let locked = start.elapsed().as_secs_f64();
    let size = streamed.size;
    cluster::sync::finish(&snapshots, &setup, block, streamed).unwrap();
    let total = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let copy = machine.clone();
    let copied = start.elapsed().as_secs_f64();
    let bytes = copy.snapshot();
    let metadata = cluster::sync::Metadata::describe(&setup, block, &bytes).map(|m| serde_json::to_vec(&m).unwrap());
    snapshots.write(2, &bytes, metadata.as_deref()).unwrap();
    let before = start.elapsed().as_secs_f64();
    assert!(std::fs::read(snapshots.path(1)).unwrap() == bytes);
    println!(
        "{name:<40} {} MB: streamed {locked:.3} s under the lock, {total:.3} s in all; \
         copied {copied:.3} s under the lock, {before:.3} s in all, a {} MB image",
        size / 1_000_000,
        bytes.len() / 1_000_000
    );
    drop(copy);
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let grow: Call = ("grow", vec![Value::I32(GIB_PAGES as i32 - 1)]);
    let touch: Call = ("touch", vec![Value::I32(0), Value::I32((GIB_PAGES as u64 * 65536 - 4) as i32), Value::I32(1)]);
    let both = [grow.clone(), touch];
    measure("no-op, 1 page", &[], false);
    measure("no-op, 1 GiB grown", &[grow], false);
    measure("no-op, 1 GiB written every 512 B", &both, false);
    measure("failing write, 1 GiB written every 512 B", &both, true);
    measure_snapshot("snapshot, 1 GiB written every 512 B", &both);
    // The wasm32 maximum: 65,536 pages.
    measure("no-op, 4 GiB written every 512 B", &[("grow_and_touch", vec![Value::I32(4096)])], false);
}
