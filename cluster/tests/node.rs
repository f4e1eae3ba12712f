//! The node without CometBFT: blocks of JSON calls on a contract whose state persists,
//! undone calls, the history on disk, restarts from snapshots plus the log, and queries.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cluster::disputes::RefereeAllow;
use cluster::history::{NodeSetup, TxStatus};
use cluster::node::Node;
use serde_json::Value as Json;
use stepper::{Config, Module};

fn setup(snapshot_interval: u64) -> NodeSetup {
    let bytes = fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/contracts/counter.wat")).unwrap();
    let module = Module::new(&bytes).unwrap();
    let config = Config { gas_limit: 100_000, ..Config::default() };
    NodeSetup { module_bytes: Arc::new(bytes), module, config, snapshot_interval }
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn block(node: &Node, height: u64, txs: &[&str]) -> cluster::history::BlockRecord {
    let txs: Vec<&[u8]> = txs.iter().map(|t| t.as_bytes()).collect();
    let block = node.finalize(height, &txs).unwrap();
    assert_eq!(node.commit_pending().unwrap(), height);
    block
}

fn query(node: &Node, path: &str, data: &[u8]) -> Json {
    serde_json::from_slice(&node.answer(path, data).unwrap()).unwrap()
}

#[test]
fn calls_persist_state_and_a_failed_call_changes_nothing() {
    let dir = scratch("node-persist");
    let node = Node::create(&dir, setup(10), None).unwrap();
    let (_, initial) = node.committed();
    let b1 = block(&node, 1, &[r#"{"call":"add","args":[5]}"#, r#"{"call":"add","args":["2"]}"#]);
    assert_eq!(b1.txs[1].outcome.results, vec![stepper::Value::I32(7)]);
    assert_ne!(b1.app_hash, initial);
    let b2 = block(&node, 2, &[r#"{"call":"fail","args":[99]}"#, r#"{"call":"spin"}"#, r#"{"call":"get"}"#]);
    assert_eq!(b2.txs[0].outcome.status, TxStatus::Trapped);
    assert_eq!(b2.txs[1].outcome.status, TxStatus::OutOfGas);
    // Undone calls leave the state after block 1 as it was.
    assert_eq!(b2.txs[0].post_hash, b1.state_hash);
    assert_eq!(b2.txs[1].post_hash, b1.state_hash);
    assert_eq!(b2.app_hash, cluster::commitment::app_hash(&b2.state_hash, &b2.txs));
    assert_eq!(b2.txs[2].outcome.results, vec![stepper::Value::I32(7)]);
    assert_eq!(node.committed(), (2, b2.app_hash));
}

#[test]
fn malformed_transactions_are_rejected_with_a_reason_and_change_nothing() {
    let dir = scratch("node-reject");
    let node = Node::create(&dir, setup(10), None).unwrap();
    let initial = cluster::ledger::Ledger::new(&setup(10), None).unwrap().state_hash();
    let cases = [
        ("not json", "not JSON"),
        (r#"{"args":[1]}"#, "no \"call\""),
        (r#"{"call":"nope"}"#, "no exported function `nope`"),
        (r#"{"call":"add","args":[1,2]}"#, "takes 1 argument"),
        (r#"{"call":"add","args":["x"]}"#, "argument 1"),
        (r#"{"call":"add","args":[[1]]}"#, "not a number or a string"),
    ];
    let txs: Vec<&str> = cases.iter().map(|(t, _)| *t).collect();
    let b = block(&node, 1, &txs);
    for ((_, why), t) in cases.iter().zip(&b.txs) {
        assert_eq!(t.outcome.status, TxStatus::Rejected);
        let error = t.outcome.error.as_deref().unwrap();
        assert!(error.contains(why), "{error} lacks {why}");
        assert_eq!(t.post_hash, initial);
    }
}

#[test]
fn a_restarted_node_has_every_committed_block() {
    let dir = scratch("node-restart");
    let node = Node::create(&dir, setup(2), None).unwrap();
    let mut last = None;
    for h in 1..=5 {
        last = Some(block(&node, h, &[&format!(r#"{{"call":"add","args":[{h}]}}"#)]));
    }
    // A block finalized but never committed is not part of the history.
    node.finalize(6, &[br#"{"call":"add","args":[100]}"#]).unwrap();
    drop(node);
    let reopened = Node::open(&dir, None).unwrap();
    assert_eq!(reopened.committed(), (5, last.unwrap().app_hash));
    let b6 = block(&reopened, 6, &[r#"{"call":"get"}"#]);
    assert_eq!(b6.txs[0].outcome.results, vec![stepper::Value::I32(15)]);
}

#[test]
fn a_log_line_cut_short_by_a_crash_is_dropped_and_a_damaged_one_reported() {
    let dir = scratch("node-torn");
    let node = Node::create(&dir, setup(100), None).unwrap();
    let b1 = block(&node, 1, &[r#"{"call":"add","args":[1]}"#]);
    block(&node, 2, &[r#"{"call":"add","args":[2]}"#]);
    drop(node);
    let log = dir.join("blocks.log");
    let text = fs::read_to_string(&log).unwrap();
    let first_line_end = text.find('\n').unwrap() + 1;
    // The second block's line, cut halfway: it was never committed.
    fs::write(&log, &text[..first_line_end + (text.len() - first_line_end) / 2]).unwrap();
    let reopened = Node::open(&dir, None).unwrap();
    assert_eq!(reopened.committed(), (1, b1.app_hash));
    assert_eq!(fs::read_to_string(&log).unwrap(), text[..first_line_end]);
    drop(reopened);
    // A damaged line that is not the last is corruption.
    let damaged = text.replacen("\"height\":1", "\"height\":7", 1);
    fs::write(&log, damaged).unwrap();
    let err = Node::open(&dir, None).err().unwrap().to_string();
    assert!(err.contains("line 1 is damaged"), "{err}");
}

#[test]
fn queries_answer_outcomes_by_transaction_hash_and_app_hashes_by_height() {
    use sha2::Digest;
    let dir = scratch("node-query");
    let node = Node::create(&dir, setup(10), None).unwrap();
    let tx = r#"{"call":"add","args":[41]}"#;
    let b1 = block(&node, 1, &[tx]);
    let hash: [u8; 32] = sha2::Sha256::digest(tx.as_bytes()).into();
    let hex_upper: String = hash.iter().map(|b| format!("{b:02X}")).collect();
    for data in [hash.to_vec(), hex_upper.into_bytes()] {
        let out = query(&node, "/tx", &data);
        assert_eq!(out["height"], 1);
        assert_eq!(out["outcome"]["status"], "returned");
        assert_eq!(out["outcome"]["results"][0]["slot"], "41");
    }
    let state = query(&node, "/state", b"1");
    assert_eq!(state["app_hash"], merkle_memory::hex(&b1.app_hash));
    for (path, data, why) in
        [("/state", &b"9"[..], "no block 9"), ("/tx", b"abc", "32-byte"), ("/nope", b"", "unknown query path")]
    {
        let err = node.answer(path, data).unwrap_err().to_string();
        assert!(err.contains(why), "{err}");
    }
}

fn validate(dir: &Path, from: Option<u64>) -> cluster::validate::Report {
    let limits = traces::Limits::default();
    let options = cluster::validate::Options { from, to: None, degree: 2, limits, challenge: None };
    cluster::validate::validate(dir, &options, &|_, _| {}).unwrap()
}

#[test]
fn an_honest_history_validates_from_the_start_or_from_a_snapshot() {
    let dir = scratch("node-validate-honest");
    let node = Node::create(&dir, setup(3), None).unwrap();
    for h in 1..=7 {
        block(&node, h, &[&format!(r#"{{"call":"add","args":[{h}]}}"#), r#"{"call":"fail","args":[1]}"#]);
    }
    let all = validate(&dir, None);
    assert!(all.wrong.is_none());
    assert_eq!((all.snapshot, all.blocks, all.calls), (0, 7, 14));
    let tail = validate(&dir, Some(5));
    assert!(tail.wrong.is_none());
    // Blocks 4 to 7 from the snapshot after block 3.
    assert_eq!((tail.snapshot, tail.blocks, (tail.from, tail.to)), (3, 4, (5, 7)));
}

#[test]
fn a_faulty_node_is_caught_and_loses_the_game_it_plays_over_tcp() {
    let dir = scratch("node-validate-faulty");
    // A snapshot after every block: the node rebuilds the disputed call from one.
    let node = Node::create(&dir, setup(1), Some(traces::Fault::Memory(0))).unwrap();
    // The fault writes a wrong byte at the call's first store: `get` stores nothing.
    block(&node, 1, &[r#"{"call":"get"}"#]);
    block(&node, 2, &[r#"{"call":"get"}"#, r#"{"call":"add","args":[3]}"#]);
    // The history says what the node committed, not how it computed: no game from it alone.
    let report = validate(&dir, None);
    let wrong = report.wrong.as_ref().expect("block 2 is wrong");
    assert_eq!((wrong.height, wrong.index), (2, 1));
    assert_ne!(wrong.recorded.post_hash, wrong.honest.post_hash);
    assert!(wrong.game.is_none() && wrong.no_game.as_ref().unwrap().contains("--challenge"), "{:?}", wrong.no_game);
    assert!(!fs::read_to_string(dir.join("node.json")).unwrap().contains("fault"), "the home records the fault");
    // Against the node itself, the game is played.
    block(&node, 3, &[r#"{"call":"add","args":[4]}"#]);
    let (report, address) = challenged(&dir, traces::Fault::Memory(0));
    let wrong = report.wrong.as_ref().expect("block 2 is wrong");
    assert_eq!((wrong.height, wrong.index), (2, 1));
    let game = wrong.game.as_ref().unwrap_or_else(|| panic!("no game: {:?}", wrong.no_game));
    assert_eq!(game.winner, traces::Role::Challenger, "{}", game.reason);
    let ruling = game.transcript.ruling.as_ref().unwrap();
    assert!(ruling.proof.is_some() && ruling.judged_after == Some(ruling.claimed_after[1]));
    let json: Json = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["wrong"]["game"]["winner"], "challenger");
    assert!(json["wrong"]["game"]["proof"]["pre_hash"].is_string());
    // A request for a transaction the node never committed is refused with the reason.
    let answer = ask(&address, NO_SUCH_BLOCK);
    assert!(answer.contains("no committed block 9"), "{answer}");
}

const NO_SUCH_BLOCK: &[u8] = b"{\"version\":1,\"height\":9,\"index\":0,\"referee\":\"127.0.0.1:1\"}\n";

/// Sends `request` to the node answering disputes at `address`; returns its first answer.
fn ask(address: &str, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.write_all(request).unwrap();
    first_answer(&stream)
}

fn first_answer(stream: &TcpStream) -> String {
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer).unwrap();
    answer
}

/// A history a node computing with `Fault::Memory(0)` wrote: block 2's second call is wrong.
fn faulty_history(name: &str) -> PathBuf {
    let dir = scratch(name);
    let node = Node::create(&dir, setup(1), Some(traces::Fault::Memory(0))).unwrap();
    block(&node, 1, &[r#"{"call":"get"}"#]);
    block(&node, 2, &[r#"{"call":"get"}"#, r#"{"call":"add","args":[3]}"#]);
    dir
}

#[test]
fn disputes_beyond_the_cap_are_answered_busy_and_bad_requests_get_the_reason() {
    let dir = faulty_history("node-disputes-cap");
    let address = serve_disputes(&dir, traces::Fault::Memory(0), 1, Vec::new());
    // A peer that has not sent its request yet holds the only slot.
    let mut holder = TcpStream::connect(&address).unwrap();
    let busy = ask(&address, NO_SUCH_BLOCK);
    assert!(busy.contains("busy: 1 disputes in progress; try again later"), "{busy}");
    holder.write_all(b"hello\n").unwrap();
    let garbage = first_answer(&holder);
    assert!(garbage.contains("not a dispute request"), "{garbage}");
    drop(holder);
    // The slot is given back.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = ask(&address, NO_SUCH_BLOCK);
        if answer.contains("no committed block 9") {
            break;
        }
        assert!(answer.contains("busy") && Instant::now() < deadline, "{answer}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let oversized = ask(&address, &[b'x'; 10_000]);
    assert!(oversized.contains("the request is a line longer than 4096 bytes"), "{oversized}");
    let newer = ask(&address, b"{\"version\":2,\"height\":1,\"index\":0,\"referee\":\"127.0.0.1:1\"}\n");
    assert!(newer.contains("version 2"), "{newer}");
}

#[test]
fn a_node_joins_only_a_referee_on_the_peers_ip_unless_allowed() {
    let dir = faulty_history("node-disputes-referee");
    // 127.0.0.2 is loopback too, but not the IP the validator reaches the node from.
    let strict = serve_disputes(&dir, traces::Fault::Memory(0), 4, Vec::new());
    let report = challenge(&dir, &strict, "127.0.0.2:0");
    let refused = report.wrong.as_ref().and_then(|w| w.no_game.clone()).expect("no game");
    assert!(refused.contains("refused referee 127.0.0.2:") && refused.contains("--referee-allow"), "{refused}");
    let named = |referee: &str| {
        let request = format!(r#"{{"version":1,"height":2,"index":1,"referee":"{referee}"}}"#);
        ask(&strict, format!("{request}\n").as_bytes())
    };
    let elsewhere = named("10.1.2.3:9");
    assert!(elsewhere.contains("refused referee 10.1.2.3:9"), "{elsewhere}");
    let host = named("example.com:80");
    assert!(host.contains("is not IP:PORT"), "{host}");
    // Allowed by IP (any port), it is joined.
    let allow: RefereeAllow = "127.0.0.2".parse().unwrap();
    assert_eq!("127.0.0.2:7".parse(), Ok(RefereeAllow::Addr("127.0.0.2:7".parse().unwrap())));
    assert!("example.com".parse::<RefereeAllow>().unwrap_err().contains("neither an IP address nor IP:PORT"));
    let open = serve_disputes(&dir, traces::Fault::Memory(0), 4, vec![allow]);
    let report = challenge(&dir, &open, "127.0.0.2:0");
    let wrong = report.wrong.as_ref().expect("block 2 is wrong");
    let game = wrong.game.as_ref().unwrap_or_else(|| panic!("no game: {:?}", wrong.no_game));
    assert_eq!(game.winner, traces::Role::Challenger, "{}", game.reason);
}

fn token_setup() -> NodeSetup {
    let bytes = fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/contracts/token.wat")).unwrap();
    let module = Module::new(&bytes).unwrap();
    let mut gas = stepper::GasTable::default();
    gas.costs[stepper::op::GasClass::Storage as usize] = cluster::node::STORAGE_PRICE;
    let config = Config { gas_limit: 100_000, gas, ..Config::default() };
    NodeSetup { module_bytes: Arc::new(bytes), module, config, snapshot_interval: 2 }
}

#[test]
fn contract_storage_commits_with_successful_calls_and_rolls_back_with_failed_ones() {
    let dir = scratch("node-token");
    let node = Node::create(&dir, token_setup(), None).unwrap();
    let (_, initial) = node.committed();
    let b1 = block(&node, 1, &[r#"{"call":"mint","args":[1, 100]}"#, r#"{"call":"transfer","args":[1, 2, 30]}"#]);
    assert_ne!(b1.app_hash, initial, "storage is part of the app hash");
    assert_eq!(b1.txs[1].outcome.results, vec![stepper::Value::I64(70)]);
    // Storage calls are charged their own price.
    assert!(b1.txs[0].outcome.gas > 2 * cluster::node::STORAGE_PRICE, "{:?}", b1.txs[0].outcome);
    // Overdrawn: the debit the call wrote before aborting is undone with it.
    let b2 = block(&node, 2, &[r#"{"call":"transfer","args":[2, 3, 31]}"#, r#"{"call":"balance","args":[2]}"#]);
    assert_eq!(b2.txs[0].outcome.status, TxStatus::Trapped);
    assert_eq!(b2.txs[0].post_hash, b1.state_hash);
    assert_eq!(b2.txs[1].outcome.results, vec![stepper::Value::I64(30)]);
    let key = |account: u32| [&b"bal:"[..], &account.to_le_bytes()].concat();
    let stored = query(&node, "/storage", &key(1));
    assert_eq!(stored["value"], merkle_memory::hash::bytes_to_hex(&70i64.to_le_bytes()));
    assert!(query(&node, "/storage", &key(3))["value"].is_null());
    // Queries as of an earlier height rebuild it from the history; later ones are refused.
    block(&node, 3, &[r#"{"call":"transfer","args":[1, 3, 5]}"#]);
    let at = |height: u64, account: u32| {
        let answer = node.query_at("/storage", &key(account), height, false).unwrap();
        assert_eq!(answer.height, if height == 0 { 3 } else { height });
        serde_json::from_slice::<Json>(&answer.value).unwrap()["value"].clone()
    };
    let balance = |n: i64| Json::from(merkle_memory::hash::bytes_to_hex(&n.to_le_bytes()));
    assert_eq!((at(0, 1), at(3, 1), at(2, 1), at(1, 1)), (balance(65), balance(65), balance(70), balance(70)));
    assert!(at(0, 3) == balance(5) && at(2, 3).is_null());
    let refused = node.query_at("/storage", &key(1), 4, false).err().expect("no block 4").to_string();
    assert!(refused.contains("no block 4 yet"), "{refused}");
    // The storage survives a restart (from the snapshot after block 2).
    drop(node);
    let reopened = Node::open(&dir, None).unwrap();
    assert_eq!(query(&reopened, "/storage", &key(2))["value"], merkle_memory::hash::bytes_to_hex(&30i64.to_le_bytes()));
}

#[test]
fn a_wrong_storage_write_is_caught_by_the_validator() {
    let dir = scratch("node-token-faulty");
    // The fault flips the value on top of the stack after the 40th step of every call.
    let node = Node::create(&dir, token_setup(), Some(traces::Fault::Stack(40))).unwrap();
    block(&node, 1, &[r#"{"call":"mint","args":[7, 1000]}"#, r#"{"call":"transfer","args":[7, 8, 1]}"#]);
    let (report, _) = challenged(&dir, traces::Fault::Stack(40));
    let wrong = report.wrong.as_ref().expect("the faulty node's block is wrong");
    let game = wrong.game.as_ref().unwrap_or_else(|| panic!("no game: {:?}", wrong.no_game));
    assert_eq!(game.winner, traces::Role::Challenger, "{}", game.reason);
}

/// Answers disputes over the history in `dir` on a thread of its own, computing with
/// `fault`, at most `max_disputes` at once; returns the address.
fn serve_disputes(dir: &Path, fault: traces::Fault, max_disputes: usize, referee_allow: Vec<RefereeAllow>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let defense = cluster::disputes::Defense {
        home: dir.to_path_buf(),
        fault: Some(fault),
        limits: traces::Limits::default(),
        max_disputes,
        referee_allow,
        log: Arc::new(|_: &str| {}),
    };
    std::thread::spawn(move || cluster::disputes::serve(listener, defense));
    address
}

/// Validates the history in `dir` against its node, which answers disputes computing
/// with `fault` on a thread of its own; returns the report and the node's address.
fn challenged(dir: &Path, fault: traces::Fault) -> (cluster::validate::Report, String) {
    let address = serve_disputes(dir, fault, 4, Vec::new());
    (challenge(dir, &address, "127.0.0.1:0"), address)
}

/// Validates the history in `dir` against the node answering disputes at `node`, holding
/// the referee on `referee_listen`.
fn challenge(dir: &Path, node: &str, referee_listen: &str) -> cluster::validate::Report {
    let rules = traces::wire::Rules { timeout: Duration::from_secs(20), ..Default::default() };
    let challenge = cluster::validate::Challenge { node: node.into(), referee_listen: referee_listen.into(), rules };
    let limits = traces::Limits::default();
    let options = cluster::validate::Options { from: None, to: None, degree: 4, limits, challenge: Some(challenge) };
    cluster::validate::validate(dir, &options, &|_, _| {}).unwrap()
}

fn counter_node(home: &Path, gas_limit: Option<u64>) -> anyhow::Result<Node> {
    let module = Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/contracts/counter.wat"));
    cluster::node::start(home, cluster::node::NewNode { module, gas_limit, ..Default::default() })
}

#[test]
fn the_same_command_starts_a_node_and_reopens_it() {
    let dir = scratch("node-same-command");
    let node = counter_node(&dir, Some(100_000)).unwrap();
    block(&node, 1, &[r#"{"call": "add", "args": [5]}"#]);
    drop(node);
    // The first start's command again, and one that leaves the settings to the history.
    assert_eq!(counter_node(&dir, Some(100_000)).unwrap().committed().0, 1);
    assert_eq!(cluster::node::start(&dir, Default::default()).unwrap().committed().0, 1);
    // A setting the history fixed otherwise is refused, naming it.
    let refused = counter_node(&dir, Some(5)).err().expect("another gas limit").to_string();
    assert!(refused.contains("gas limit is 100000, not 5"), "{refused}");
    let other = scratch("node-same-command-other.wat");
    fs::write(&other, "(module)").unwrap();
    let new = cluster::node::NewNode { module: Some(other.clone()), ..Default::default() };
    let refused = cluster::node::start(&dir, new).err().expect("another contract").to_string();
    assert!(refused.contains("contract is not"), "{refused}");
}

#[test]
fn a_query_is_answered_while_a_block_runs() {
    let dir = scratch("node-query-during-block");
    // A spin runs to its gas limit: 10^8 steps, about a second here.
    let node = counter_node(&dir, Some(100_000_000)).unwrap();
    block(&node, 1, &[r#"{"call": "add", "args": [7]}"#]);
    let runner = node.clone();
    let long = std::thread::spawn(move || runner.finalize(2, &[br#"{"call": "spin", "args": []}"#]).unwrap());
    std::thread::sleep(Duration::from_millis(50));
    // `/state` answers at once: the block holds the machine's lock, not the chain's.
    assert_eq!(query(&node, "/state", b"1")["height"], 1);
    assert!(!long.is_finished(), "the query waited for the block");
    let block = long.join().unwrap();
    assert_eq!(block.txs[0].outcome.status, TxStatus::OutOfGas);
    assert_eq!(node.commit_pending().unwrap(), 2);
}

#[test]
fn a_wrong_recorded_result_with_the_right_state_is_caught() {
    let dir = scratch("node-validate-result");
    let node = Node::create(&dir, setup(10), None).unwrap();
    block(&node, 1, &[r#"{"call":"add","args":[5]}"#]);
    block(&node, 2, &[r#"{"call":"add","args":[3]}"#, r#"{"call":"get"}"#]);
    drop(node);
    assert!(validate(&dir, None).wrong.is_none());
    // Block 2's second call returned 8; the record now says 999999, its line's checksum
    // recomputed, its state hashes untouched.
    let log = dir.join("blocks.log");
    let text = fs::read_to_string(&log).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let (record, _) = lines[1].split_once('\t').unwrap();
    let mut record: Json = serde_json::from_str(record).unwrap();
    assert_eq!(record["txs"][1]["outcome"]["results"][0]["slot"], "8");
    record["txs"][1]["outcome"]["results"][0]["slot"] = "999999".into();
    let record = record.to_string();
    lines[1] = format!("{record}\t{}", merkle_memory::hex(&merkle_memory::hash::keccak(record.as_bytes())));
    fs::write(&log, lines.join("\n") + "\n").unwrap();
    let report = validate(&dir, None);
    let wrong = report.wrong.as_ref().expect("the wrong result is caught");
    assert_eq!((wrong.height, wrong.index), (2, 1));
    assert_eq!(wrong.recorded.post_hash, wrong.honest.post_hash);
    assert!(wrong.game.is_none() && wrong.no_game.as_ref().unwrap().contains("outcome is not"), "{:?}", wrong.no_game);
    let json: Json = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["wrong"]["recorded"]["outcome"]["results"][0]["slot"], "999999");
    assert_eq!(json["wrong"]["honest"]["outcome"]["results"][0]["slot"], "8");
}

#[test]
fn old_snapshots_are_pruned_and_comet_may_prune_old_blocks() {
    use tendermint_abci::Application;
    let dir = scratch("node-retention");
    let retention = cluster::node::Retention { snapshots: 2, blocks: 3 };
    let node = Node::create(&dir, setup(1), None).unwrap().retaining(retention);
    for height in 1..=5 {
        let txs: [&[u8]; 1] = [br#"{"call":"add","args":[1]}"#];
        node.finalize(height, &txs).unwrap();
        // Commit through ABCI: CometBFT keeps the last 3 blocks.
        assert_eq!(node.commit().retain_height, (height as i64 - 2).max(1), "height {height}");
    }
    let mut kept: Vec<String> =
        fs::read_dir(dir.join("snapshots")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    kept.sort();
    // Each with its state sync metadata.
    let expected: Vec<String> =
        [4, 5].iter().flat_map(|h| [format!("{h:020}.meta"), format!("{h:020}.snap")]).collect();
    assert_eq!(kept, expected);
    // A restart comes back from the newest snapshot; the log still has every block.
    drop(node);
    let node = Node::open(&dir, None).unwrap();
    assert_eq!(node.committed().0, 5);
    assert_eq!(query(&node, "/state", b"1")["height"], 1);
}

#[test]
fn proven_query_answers_verify_against_their_heights_app_hash_and_tampering_fails() {
    use cluster::proofs::Proven;
    use sha2::Digest;
    let dir = scratch("node-proofs");
    let node = Node::create(&dir, token_setup(), None).unwrap();
    let mint = r#"{"call":"mint","args":[1, 100]}"#;
    let b1 = block(&node, 1, &[mint, r#"{"call":"transfer","args":[1, 2, 30]}"#, r#"{"call":"nope"}"#]);
    let b2 = block(&node, 2, &[r#"{"call":"transfer","args":[2, 3, 7]}"#]);
    block(&node, 3, &[]);
    let app_hash = |h: u64| {
        let state: Json = serde_json::from_slice(&node.answer("/state", h.to_string().as_bytes()).unwrap()).unwrap();
        merkle_memory::parse_hex(state["app_hash"].as_str().unwrap()).unwrap()
    };
    assert_eq!((app_hash(1), app_hash(2)), (b1.app_hash, b2.app_hash));

    // A transaction's outcome, proven against its block's app hash only.
    let hash: [u8; 32] = sha2::Sha256::digest(mint.as_bytes()).into();
    let answer = node.query_at("/tx", &hash, 0, true).unwrap();
    assert_eq!(answer.height, 1);
    let proof = answer.proof.expect("a proof was asked for");
    assert_eq!(proof.verify(&b1.app_hash).unwrap(), Proven::Tx(0, b1.txs[0].clone()));
    assert!(proof.verify(&b2.app_hash).unwrap_err().to_string().contains("the header commits to"));
    let mut forged = proof.clone();
    forged.tx.as_mut().unwrap().record.outcome.results = vec![stepper::Value::I64(999_999)];
    assert!(forged.verify(&b1.app_hash).unwrap_err().to_string().contains("not in the block's outcomes"));
    let mut moved = proof.clone();
    moved.tx.as_mut().unwrap().index = 1;
    assert!(moved.verify(&b1.app_hash).is_err());

    // Storage now and as of block 1, present and absent, each against its height.
    let key = |account: u32| [&b"bal:"[..], &account.to_le_bytes()].concat();
    for (height, account, value) in [(0, 2, Some(23i64)), (1, 2, Some(30)), (1, 3, None), (3, 3, Some(7))] {
        let answer = node.query_at("/storage", &key(account), height, true).unwrap();
        let proven = answer.proof.unwrap().verify(&app_hash(answer.height)).unwrap();
        assert_eq!(proven, Proven::Storage(key(account), value.map(|v| v.to_le_bytes().to_vec())));
        let stated: cluster::node::StorageAnswer = serde_json::from_slice(&answer.value).unwrap();
        assert_eq!(stated.value, value.map(|v| v.to_le_bytes().to_vec()));
    }
    let proof = node.query_at("/storage", &key(2), 2, true).unwrap().proof.unwrap();
    let mut forged = proof.clone();
    forged.storage.as_mut().unwrap().opening.value = Some(1_000_000i64.to_le_bytes().to_vec());
    assert!(forged.verify(&b2.app_hash).unwrap_err().to_string().contains("not the one the storage path proves"));
    let mut forged = proof.clone();
    forged.storage.as_mut().unwrap().state.steps += 1;
    assert!(forged.verify(&b2.app_hash).unwrap_err().to_string().contains("state opening"));
    let mut forged = proof;
    let sealed = forged.storage.as_ref().unwrap().state.environment.hash();
    forged.storage.as_mut().unwrap().state.environment = merkle_memory::state::EnvironmentCommitment::Sealed(sealed);
    assert!(forged.verify(&b2.app_hash).unwrap_err().to_string().contains("sealed"));

    // A read-only call answers from the state it ran on, which its proof proves, and
    // changes nothing.
    let (height, committed) = node.committed();
    let answer = node.query_at("/call", br#"{"call":"balance","args":[2]}"#, 0, true).unwrap();
    let result: cluster::node::ResultData = serde_json::from_slice(&answer.value).unwrap();
    assert_eq!(result.outcome.results, vec![stepper::Value::I64(23)]);
    assert!(matches!(answer.proof.unwrap().verify(&committed).unwrap(), Proven::State(_)));
    let earlier = node.query_at("/call", br#"{"call":"balance","args":[2]}"#, 1, false).unwrap();
    let result: cluster::node::ResultData = serde_json::from_slice(&earlier.value).unwrap();
    assert_eq!(result.outcome.results, vec![stepper::Value::I64(30)]);
    assert_eq!(node.committed(), (height, committed));
    let proof = node.query_at("/state", b"", 0, true).unwrap().proof.unwrap();
    assert!(matches!(proof.verify(&committed).unwrap(), Proven::State(_)));
}

#[test]
fn queries_answer_the_committed_state_never_a_finalized_block_before_its_commit() {
    let dir = scratch("node-query-pending");
    let node = Node::create(&dir, token_setup(), None).unwrap();
    let key = |account: u32| [&b"bal:"[..], &account.to_le_bytes()].concat();
    let balance = |n: i64| Json::from(merkle_memory::hash::bytes_to_hex(&n.to_le_bytes()));
    let b1 = block(&node, 1, &[r#"{"call":"mint","args":[1, 100]}"#]);
    // Block 2 finalized: the machine holds its state, which nothing may answer yet.
    node.finalize(2, &[br#"{"call":"transfer","args":[1, 2, 30]}"#]).unwrap();
    // With no Commit coming, the committed state is rebuilt from the history.
    let started = Instant::now();
    let answer = node.query_at("/storage", &key(1), 0, false).unwrap();
    assert!(started.elapsed() >= cluster::node::COMMIT_WAIT, "it waited for the Commit first");
    assert_eq!(answer.height, 1);
    assert_eq!(serde_json::from_slice::<Json>(&answer.value).unwrap()["value"], balance(100));
    let call = node.query_at("/call", br#"{"call":"balance","args":[2]}"#, 1, true).unwrap();
    assert_eq!(call.height, 1);
    assert_eq!(serde_json::from_slice::<Json>(&call.value).unwrap()["results"][0]["slot"], "0");
    call.proof.unwrap().verify(&b1.app_hash).unwrap();
    // A Commit coming while a query waits: the query is then about the new committed height.
    let committer = node.clone();
    let commit = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        committer.commit_pending().unwrap()
    });
    let answer = node.query_at("/storage", &key(2), 0, false).unwrap();
    assert_eq!(answer.height, 2);
    assert_eq!(serde_json::from_slice::<Json>(&answer.value).unwrap()["value"], balance(30));
    assert_eq!(commit.join().unwrap(), 2);
    // An explicit earlier height is rebuilt from the history, the last one read in place.
    let at = |height: u64, account: u32| {
        let answer = node.query_at("/storage", &key(account), height, false).unwrap();
        serde_json::from_slice::<Json>(&answer.value).unwrap()["value"].clone()
    };
    assert_eq!((at(1, 1), at(2, 1), at(0, 1)), (balance(100), balance(70), balance(70)));
    // A /call runs on the committed machine and is taken back, whether it returns or traps.
    let (height, app_hash) = node.committed();
    let tried = query(&node, "/call", br#"{"call":"transfer","args":[1, 3, 5]}"#);
    assert_eq!((tried["status"].as_str(), tried["results"][0]["slot"].as_str()), (Some("returned"), Some("65")));
    let trapped = query(&node, "/call", br#"{"call":"transfer","args":[2, 3, 31]}"#);
    assert_eq!(trapped["status"], "trapped");
    assert_eq!(node.committed(), (height, app_hash));
    assert!(at(0, 3).is_null() && at(0, 1) == balance(70));
    // The next block runs on the state as committed: a failed call in it rolls back too.
    let b3 = block(&node, 3, &[r#"{"call":"transfer","args":[2, 3, 31]}"#, r#"{"call":"transfer","args":[1, 3, 5]}"#]);
    assert_eq!(b3.txs[0].outcome.status, TxStatus::Trapped);
    assert_eq!(b3.txs[1].outcome.results, vec![stepper::Value::I64(65)]);
    assert_eq!(
        b3.txs[1].post_hash.to_vec(),
        merkle_memory::hash::hex_to_bytes(tried["post_hash"].as_str().unwrap()).unwrap()
    );
    // And a replay of the history from scratch agrees with every block.
    drop(node);
    assert!(validate(&dir, None).wrong.is_none());
    let reopened = Node::open(&dir, None).unwrap();
    assert_eq!(reopened.committed().1, b3.app_hash);
}

#[test]
fn a_height_finalized_again_gives_the_same_block_or_runs_the_other_one_on_the_committed_state() {
    let dir = scratch("node-finalize-again");
    let node = Node::create(&dir, setup(10), None).unwrap();
    block(&node, 1, &[r#"{"call":"add","args":[5]}"#]);
    let first = node.finalize(2, &[br#"{"call":"add","args":[10]}"#]).unwrap();
    assert_eq!(node.finalize(2, &[br#"{"call":"add","args":[10]}"#]).unwrap(), first);
    let other = node.finalize(2, &[br#"{"call":"add","args":[1]}"#]).unwrap();
    assert_eq!(other.txs[0].outcome.results, vec![stepper::Value::I32(6)], "run on block 1's state");
    assert_eq!(node.commit_pending().unwrap(), 2);
    assert_eq!(query(&node, "/call", br#"{"call":"get"}"#)["results"][0]["slot"], "6");
    assert!(node.finalize(2, &[]).is_err(), "block 2 is committed");
}
