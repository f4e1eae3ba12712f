//! The node under load: token transfers (two storage reads and two writes each, signed
//! envelopes whose signatures the node checks) per second through FinalizeBlock and
//! through the batch validator, and CheckTx latency with 50,000 transactions pending while
//! blocks execute. Every transaction is signed before the clock starts. Run with `cargo
//! bench --bench node`; it prints its figures.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cluster::envelope::{Session, SigningKey};
use cluster::history::{Chain, NodeSetup, TxStatus};
use cluster::node::Node;
use stepper::Value;
use tendermint_abci::Application;
use tendermint_proto::v0_38::abci::RequestCheckTx;

const BLOCKS: u64 = 20;
const TXS_PER_BLOCK: u64 = 2_000;
const PENDING: usize = 50_000;
const ACCOUNTS: u64 = 1000;
const CHAIN: &str = "bench-chain";
/// Each transaction's gas limit: a transfer uses under a thousand, and a block of
/// `TXS_PER_BLOCK` reserves a fifth of the default block gas limit.
const GAS: u64 = 10_000;

/// The key of account `i` (the admin's is `u64::MAX`).
fn key(i: u64) -> SigningKey {
    let mut seed = [7u8; 32];
    seed[..8].copy_from_slice(&i.to_le_bytes());
    SigningKey::from_bytes(&seed)
}

/// The token contract's id of a key: its public key's first 8 bytes.
fn id(session: &Session) -> i64 {
    i64::from_le_bytes(session.public_key()[..8].try_into().unwrap())
}

fn sign(session: &mut Session, export: &str, args: Vec<Value>) -> Vec<u8> {
    session.sign(export, args, GAS).unwrap().encode().unwrap()
}

fn setup() -> NodeSetup {
    let bytes = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/contracts/token.wat")).unwrap();
    let module = stepper::Module::new(&bytes).unwrap();
    let mut gas = stepper::GasTable::default();
    gas.costs[stepper::op::GasClass::Storage as usize] = cluster::node::STORAGE_PRICE;
    let config = stepper::Config { gas_limit: cluster::node::DEFAULT_GAS_LIMIT, gas, ..stepper::Config::default() };
    let admin = key(u64::MAX).verifying_key().to_bytes();
    let chain = Chain { admin: Some(admin), ..Chain::named(CHAIN) };
    NodeSetup { module_bytes: Arc::new(bytes), module, config, snapshot_interval: 5, chain }
}

/// The 1,000 accounts' sessions, each signing its transactions in counter order.
struct Accounts {
    sessions: Vec<Session>,
    ids: Vec<i64>,
}

impl Accounts {
    fn new() -> Self {
        let sessions: Vec<Session> = (0..ACCOUNTS).map(|i| Session::new(key(i), CHAIN, 0, 0)).collect();
        let ids = sessions.iter().map(id).collect();
        Self { sessions, ids }
    }

    /// Transfer `i`: one token from account `i % 1000` to another, signed by its owner.
    fn tx(&mut self, i: u64) -> Vec<u8> {
        let to = self.ids[((i * 7 + 1) % ACCOUNTS) as usize];
        sign(&mut self.sessions[(i % ACCOUNTS) as usize], "transfer", vec![Value::I64(to), Value::I64(1)])
    }

    /// The transfers of a block, from transfer `first` on.
    fn block(&mut self, first: u64) -> Vec<Vec<u8>> {
        (first..first + TXS_PER_BLOCK).map(|i| self.tx(i)).collect()
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

fn main() {
    let dir = std::env::temp_dir().join(format!("verigame-node-bench-{}", std::process::id()));
    let node = Node::create(&dir, setup(), None).unwrap();
    let mut accounts = Accounts::new();
    let mut admin = Session::new(key(u64::MAX), CHAIN, 0, 0);
    let mints: Vec<Vec<u8>> = accounts
        .ids
        .clone()
        .into_iter()
        .map(|a| sign(&mut admin, "mint", vec![Value::I64(a), Value::I64(1_000_000)]))
        .collect();
    let minted = node.finalize(1, &mints.iter().map(Vec::as_slice).collect::<Vec<_>>()).unwrap();
    assert!(minted.txs.iter().all(|t| t.outcome.status == TxStatus::Returned), "{:?}", minted.txs[0].outcome);
    node.commit_pending().unwrap();

    let blocks: Vec<Vec<Vec<u8>>> = (2..=BLOCKS + 1).map(|h| accounts.block(h * TXS_PER_BLOCK)).collect();
    let start = Instant::now();
    for (h, txs) in (2..).zip(&blocks) {
        let refs: Vec<&[u8]> = txs.iter().map(Vec::as_slice).collect();
        let block = node.finalize(h, &refs).unwrap();
        node.commit_pending().unwrap();
        assert_eq!(block.txs[0].outcome.status, TxStatus::Returned, "{:?}", block.txs[0].outcome);
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
    // Each pending transaction is the next of a session the node has seen committed (a
    // Commit forgets the counters of pending transactions, which CometBFT rechecks): 50
    // keys of 1,000 sessions each, each session's first transaction committed first.
    let mut sessions: Vec<Session> =
        (0..PENDING as u64).map(|i| Session::new(key(ACCOUNTS + i / 1000), CHAIN, i % 1000, 0)).collect();
    let mut h = BLOCKS + 1;
    for chunk in sessions.chunks_mut(TXS_PER_BLOCK as usize) {
        let txs: Vec<Vec<u8>> = chunk.iter_mut().map(|s| sign(s, "balance", vec![Value::I64(0)])).collect();
        h += 1;
        node.finalize(h, &txs.iter().map(Vec::as_slice).collect::<Vec<_>>()).unwrap();
        node.commit_pending().unwrap();
    }
    let pending: Vec<Vec<u8>> = sessions.iter_mut().map(|s| sign(s, "balance", vec![Value::I64(0)])).collect();
    let later: Vec<Vec<Vec<u8>>> =
        (0..PENDING as u64 / TXS_PER_BLOCK).map(|b| accounts.block(b * TXS_PER_BLOCK)).collect();
    let busy = node.clone();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_flag = stop.clone();
    let worker = std::thread::spawn(move || {
        // Transfers signed in advance; past them, blocks of refused replays.
        for txs in later.iter().cycle() {
            if stop_flag.load(std::sync::atomic::Ordering::Relaxed) {
                break;
            }
            h += 1;
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
            assert_eq!(answer.code, 0, "{}", answer.log);
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
