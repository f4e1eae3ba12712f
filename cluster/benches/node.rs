//! The node under load: token transfers (two storage reads and two writes each) per second
//! through FinalizeBlock and through the batch validator, and CheckTx latency with 50,000
//! transactions pending while blocks execute. Run with `cargo bench --bench node`; it
//! prints its figures.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cluster::history::NodeSetup;
use cluster::node::Node;
use tendermint_abci::Application;
use tendermint_proto::v0_38::abci::RequestCheckTx;

const BLOCKS: u64 = 20;
const TXS_PER_BLOCK: u64 = 2_000;
const PENDING: usize = 50_000;

fn setup() -> NodeSetup {
    let bytes = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/contracts/token.wat")).unwrap();
    let module = stepper::Module::new(&bytes).unwrap();
    let mut gas = stepper::GasTable::default();
    gas.costs[stepper::op::GasClass::Storage as usize] = cluster::node::STORAGE_PRICE;
    let config = stepper::Config { gas_limit: cluster::node::DEFAULT_GAS_LIMIT, gas, ..stepper::Config::default() };
    NodeSetup { module_bytes: Arc::new(bytes), module, config, snapshot_interval: 5 }
}

/// A transfer between two of 1,000 accounts; account 0 is minted enough first.
fn tx(i: u64) -> Vec<u8> {
    format!(r#"{{"call":"transfer","args":[{}, {}, 1]}}"#, i % 1000, (i * 7 + 1) % 1000).into_bytes()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

fn main() {
    let dir = std::env::temp_dir().join(format!("verigame-node-bench-{}", std::process::id()));
    let node = Node::create(&dir, setup(), None).unwrap();
    let mints: Vec<Vec<u8>> =
        (0..1000).map(|a| format!(r#"{{"call":"mint","args":[{a}, 1000000]}}"#).into_bytes()).collect();
    node.finalize(1, &mints.iter().map(Vec::as_slice).collect::<Vec<_>>()).unwrap();
    node.commit_pending().unwrap();

    let start = Instant::now();
    for h in 2..=BLOCKS + 1 {
        let txs: Vec<Vec<u8>> = (0..TXS_PER_BLOCK).map(|i| tx(h * TXS_PER_BLOCK + i)).collect();
        let refs: Vec<&[u8]> = txs.iter().map(Vec::as_slice).collect();
        node.finalize(h, &refs).unwrap();
        node.commit_pending().unwrap();
    }
    let calls = BLOCKS * TXS_PER_BLOCK;
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "finalize+commit: {calls} calls in {BLOCKS} blocks, {seconds:.3} s, {:.0} calls/s",
        calls as f64 / seconds
    );

    let limits = traces::Limits::default();
    let options = cluster::validate::Options { from: None, to: None, degree: 2, limits, challenge: None };
    let report = cluster::validate::validate(&dir, &options, &|_, _| {}).unwrap();
    assert!(report.wrong.is_none());
    assert!(report.calls > calls);
    println!(
        "validate: {} calls in {} blocks, {:.3} s, {:.0} calls/s",
        report.calls, report.blocks, report.seconds, report.calls_per_second
    );

    // CheckTx while blocks execute: the mempool connection does not wait for consensus.
    let pending: Vec<Vec<u8>> = (0..PENDING as u64).map(tx).collect();
    let busy = node.clone();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_flag = stop.clone();
    let worker = std::thread::spawn(move || {
        let mut h = BLOCKS + 1;
        while !stop_flag.load(std::sync::atomic::Ordering::Relaxed) {
            h += 1;
            let txs: Vec<Vec<u8>> = (0..TXS_PER_BLOCK).map(tx).collect();
            let refs: Vec<&[u8]> = txs.iter().map(Vec::as_slice).collect();
            busy.finalize(h, &refs).unwrap();
            busy.commit_pending().unwrap();
        }
    });
    let mut latencies: Vec<Duration> = pending
        .iter()
        .map(|t| {
            let begin = Instant::now();
            let answer = node.check_tx(RequestCheckTx { tx: t.clone().into(), r#type: 0 });
            assert_eq!(answer.code, 0);
            begin.elapsed()
        })
        .collect();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    worker.join().unwrap();
    latencies.sort_unstable();
    println!(
        "check_tx of {PENDING} transactions during block execution: p50 {:?}, p95 {:?}, p99 {:?}, max {:?}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.95),
        percentile(&latencies, 0.99),
        latencies.last().unwrap()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
