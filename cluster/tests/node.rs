//! The node without CometBFT: blocks of signed calls on a contract whose state persists,
//! undone calls, refused transactions, the history on disk, restarts from snapshots plus
//! the log, and queries.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use common::{block, error, query, scratch, Client};

use cluster::disputes::RefereeAllow;
use cluster::envelope::{Envelope, Session, SigningKey};
use cluster::history::{BlockRecord, Chain, NodeSetup, TxStatus};
use cluster::ledger::Ledger;
use cluster::node::Node;
use merkle_memory::Hash;
use serde_json::Value as Json;
use stepper::{Config, Module, Value};

const CHAIN: &str = "test-chain";

fn setup(snapshot_interval: u64) -> NodeSetup {
    setup_on(snapshot_interval, Chain::named(CHAIN))
}

fn setup_on(snapshot_interval: u64, chain: Chain) -> NodeSetup {
    let bytes = fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/contracts/counter.wat")).unwrap();
    let module = Module::new(&bytes).unwrap();
    let config = Config { gas_limit: 100_000, ..Config::default() };
    NodeSetup { module_bytes: Arc::new(bytes), module, config, snapshot_interval, chain }
}

/// The state hash a call undone leaves after `before` (transactions run in one block on
/// the fresh contract): the state before it with only its counter used and its caller set.
fn undone_after(setup: &NodeSetup, before: &[&[u8]], undone: &[u8]) -> Hash {
    let mut ledger = Ledger::new(setup, None).unwrap();
    // The transactions before ran in block 1 (their clock reads 1 s).
    ledger.begin_block(1);
    for tx in before {
        ledger.execute(tx);
    }
    ledger.consume(&Envelope::decode(undone).unwrap());
    ledger.state_hash()
}

#[test]
fn calls_persist_state_and_a_failed_call_changes_nothing() {
    let dir = scratch("node-persist");
    let node = Node::create(&dir, setup(10), None).unwrap();
    let mut c = Client::new(&setup(10), 1);
    let (_, initial) = node.committed();
    let txs1 = c.txs(&[r#"{"call":"add","args":[5]}"#, r#"{"call":"add","args":["2"]}"#]);
    let b1 = block(&node, 1, &txs1);
    assert_eq!(b1.txs[1].outcome.results, vec![Value::I32(7)]);
    assert_ne!(b1.app_hash, initial);
    let txs2 = c.txs(&[r#"{"call":"fail","args":[99]}"#, r#"{"call":"spin"}"#, r#"{"call":"get"}"#]);
    let b2 = block(&node, 2, &txs2);
    assert_eq!(b2.txs[0].outcome.status, TxStatus::Trapped);
    assert_eq!(b2.txs[1].outcome.status, TxStatus::OutOfGas);
    // The spin ran to its own gas limit, no further.
    assert!(b2.txs[1].outcome.gas <= c.gas, "{:?}", b2.txs[1].outcome);
    // Undone calls leave the state after block 1 as it was, but for their counters and
    // caller.
    let before: Vec<&[u8]> = txs1.iter().map(Vec::as_slice).collect();
    assert_eq!(b2.txs[0].post_hash, undone_after(&setup(10), &before, &txs2[0]));
    let before: Vec<&[u8]> = txs1.iter().chain(&txs2[..1]).map(Vec::as_slice).collect();
    assert_eq!(b2.txs[1].post_hash, undone_after(&setup(10), &before, &txs2[1]));
    assert_eq!(b2.app_hash, cluster::commitment::app_hash(&b2.state_hash, &b2.txs));
    assert_eq!(b2.txs[2].outcome.results, vec![Value::I32(7)]);
    assert_eq!(node.committed(), (2, b2.app_hash));
}

#[test]
fn malformed_transactions_are_rejected_with_a_reason_and_change_nothing() {
    let dir = scratch("node-reject");
    let setup = setup(10);
    let node = Node::create(&dir, setup.clone(), None).unwrap();
    let mut c = Client::new(&setup, 1);
    let executed = c.tx(r#"{"call":"add","args":[5]}"#);
    let b1 = block(&node, 1, std::slice::from_ref(&executed));
    assert_eq!(b1.txs[0].outcome.results, vec![Value::I32(5)]);
    // Each signed with the session's right next counter (1) unless said otherwise.
    let key = SigningKey::from_bytes(&[1; 32]);
    let next = |chain: &str, counter: u64, export: &str, args: Vec<Value>, gas: u64| {
        let mut session = Session::new(key.clone(), chain, 0, counter);
        session.sign(export, args, gas).unwrap().encode().unwrap()
    };
    let add = |n: i32| vec![Value::I32(n)];
    let good = next(CHAIN, 1, "add", add(1), 100_000);
    let mut flipped = good.clone();
    *flipped.last_mut().unwrap() ^= 1;
    let mut changed = good.clone();
    // The argument's last byte, just before the input's length and the signature.
    let at = changed.len() - 69;
    changed[at] ^= 1;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"not an envelope".to_vec(), "does not start with \"VGTX\""),
        (good[..good.len() - 10].to_vec(), "the envelope ends inside"),
        ([&good[..], b"x"].concat(), "after its signature"),
        (flipped, "the signature does not verify"),
        (changed, "the signature does not verify"),
        (next("another-chain", 1, "add", add(1), 100_000), "the signature does not verify"),
        (
            next(CHAIN, 1, "nope", vec![], 100_000),
            "no exported function `nope`; exported functions: add, calls, fail, get",
        ),
        (next(CHAIN, 1, "add", vec![Value::I64(1)], 100_000), "`add` takes (i32), the transaction gives (i64)"),
        (next(CHAIN, 1, "add", vec![Value::I32(1), Value::I32(2)], 100_000), "the transaction gives (i32, i32)"),
        (next(CHAIN, 1, "add", vec![], 100_000), "`add` takes (i32), the transaction gives ()"),
        (next(CHAIN, 1, "add", add(1), 0), "gas limit 0: it must be from 1 to 100000"),
        (next(CHAIN, 1, "add", add(1), 100_001), "gas limit 100001: it must be from 1 to 100000"),
        // A replay of the executed transaction, the same bytes: its counter is used.
        (executed.clone(), "counter 0 of session 0: the session's next is 1"),
        (next(CHAIN, 5, "add", add(1), 100_000), "counter 5 of session 0: the session's next is 1"),
    ];
    let mut txs: Vec<Vec<u8>> = cases.iter().map(|(t, _)| t.clone()).collect();
    // Nothing refused used the counter: the good transaction runs after them, once.
    txs.push(good);
    let b2 = block(&node, 2, &txs);
    for ((tx, why), t) in cases.iter().zip(&b2.txs) {
        assert_eq!(t.outcome.status, TxStatus::Rejected, "{why}");
        assert!(error(t).contains(why), "{} lacks {why}", error(t));
        assert_eq!((t.outcome.steps, t.outcome.gas), (0, 0));
        assert_eq!(t.post_hash, b1.state_hash, "{why}");
        assert_eq!(&t.tx, tx);
    }
    let last = b2.txs.last().unwrap();
    assert_eq!((last.outcome.status, &last.outcome.results[..]), (TxStatus::Returned, &[Value::I32(6)][..]));
    // The replay in a block of its own, and the good one again: refused too.
    let again = block(&node, 3, &[executed, txs.pop().unwrap()]);
    assert!(
        error(&again.txs[0]).contains("counter 0 of session 0: the session's next is 2"),
        "{}",
        error(&again.txs[0])
    );
    assert!(
        error(&again.txs[1]).contains("counter 1 of session 0: the session's next is 2"),
        "{}",
        error(&again.txs[1])
    );
    assert_eq!(again.state_hash, b2.state_hash);
    assert_eq!(query(&node, "/call", br#"{"call":"get"}"#)["results"][0]["slot"], "6");
}

#[test]
fn a_restarted_node_has_every_committed_block() {
    let dir = scratch("node-restart");
    let node = Node::create(&dir, setup(2), None).unwrap();
    let mut c = Client::new(&setup(2), 1);
    let mut last = None;
    for h in 1..=5 {
        last = Some(block(&node, h, &[c.tx(&format!(r#"{{"call":"add","args":[{h}]}}"#))]));
    }
    // A block finalized but never committed is not part of the history, nor its counter.
    node.finalize(6, &[&c.tx(r#"{"call":"add","args":[100]}"#)]).unwrap();
    drop(node);
    let reopened = Node::open(&dir, None).unwrap();
    assert_eq!(reopened.committed(), (5, last.unwrap().app_hash));
    c.session.next = 5;
    let b6 = block(&reopened, 6, &[c.tx(r#"{"call":"get"}"#)]);
    assert_eq!(b6.txs[0].outcome.results, vec![Value::I32(15)]);
}

#[test]
fn a_log_line_cut_short_by_a_crash_is_dropped_and_a_damaged_one_reported() {
    let dir = scratch("node-torn");
    let node = Node::create(&dir, setup(100), None).unwrap();
    let mut c = Client::new(&setup(100), 1);
    let b1 = block(&node, 1, &[c.tx(r#"{"call":"add","args":[1]}"#)]);
    block(&node, 2, &[c.tx(r#"{"call":"add","args":[2]}"#)]);
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
    let mut c = Client::new(&setup(10), 1);
    let tx = c.tx(r#"{"call":"add","args":[41]}"#);
    let b1 = block(&node, 1, std::slice::from_ref(&tx));
    let hash: [u8; 32] = sha2::Sha256::digest(&tx).into();
    assert_eq!(hash, cluster::envelope::tx_hash(&tx));
    let hex_upper: String = hash.iter().map(|b| format!("{b:02X}")).collect();
    for data in [hash.to_vec(), hex_upper.into_bytes()] {
        let out = query(&node, "/tx", &data);
        assert_eq!(out["height"], 1);
        assert_eq!(out["outcome"]["status"], "returned");
        assert_eq!(out["outcome"]["results"][0]["slot"], "41");
        // The call the envelope carries, decoded.
        let call = &out["call"];
        assert_eq!(call["public_key"], merkle_memory::hex(&c.public_key()));
        assert_eq!((&call["session"], &call["counter"], &call["gas_limit"]), (&0.into(), &0.into(), &100_000.into()));
        assert_eq!((&call["export"], &call["args"][0]["slot"]), (&"add".into(), &"41".into()));
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
    let mut c = Client::new(&setup(3), 1);
    for h in 1..=7 {
        block(&node, h, &c.txs(&[&format!(r#"{{"call":"add","args":[{h}]}}"#), r#"{"call":"fail","args":[1]}"#]));
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
    let mut c = Client::new(&setup(1), 1);
    // The fault writes a wrong byte at the call's first store: `get` stores nothing.
    block(&node, 1, &c.txs(&[r#"{"call":"get"}"#]));
    block(&node, 2, &c.txs(&[r#"{"call":"get"}"#, r#"{"call":"add","args":[3]}"#]));
    // The history says what the node committed, not how it computed: no game from it alone.
    let report = validate(&dir, None);
    let wrong = report.wrong.as_ref().expect("block 2 is wrong");
    assert_eq!((wrong.height, wrong.index), (2, 1));
    assert_ne!(wrong.recorded.post_hash, wrong.honest.post_hash);
    assert!(wrong.game.is_none() && wrong.no_game.as_ref().unwrap().contains("--challenge"), "{:?}", wrong.no_game);
    assert!(!fs::read_to_string(dir.join("node.json")).unwrap().contains("fault"), "the home records the fault");
    // Against the node itself, the game is played.
    block(&node, 3, &c.txs(&[r#"{"call":"add","args":[4]}"#]));
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
    let mut c = Client::new(&setup(1), 1);
    block(&node, 1, &c.txs(&[r#"{"call":"get"}"#]));
    block(&node, 2, &c.txs(&[r#"{"call":"get"}"#, r#"{"call":"add","args":[3]}"#]));
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

/// The seed of the token chain's admin key.
const ADMIN: u8 = 9;

fn token_setup() -> NodeSetup {
    let admin = SigningKey::from_bytes(&[ADMIN; 32]).verifying_key().to_bytes();
    token_setup_on(Chain { admin: Some(admin), ..Chain::named(CHAIN) })
}

fn token_setup_on(chain: Chain) -> NodeSetup {
    let bytes = fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/contracts/token.wat")).unwrap();
    let module = Module::new(&bytes).unwrap();
    let mut gas = stepper::GasTable::default();
    gas.costs[stepper::op::GasClass::Storage as usize] = cluster::node::STORAGE_PRICE;
    let config = Config { gas_limit: 100_000, gas, ..Config::default() };
    NodeSetup { module_bytes: Arc::new(bytes), module, config, snapshot_interval: 2, chain }
}

/// The token chain's admin and three users.
fn token_clients() -> [Client; 4] {
    [ADMIN, 1, 2, 3].map(|seed| Client::new(&token_setup(), seed))
}

/// The storage key of an account's balance.
fn balance_key(account: i64) -> Vec<u8> {
    [&b"bal:"[..], &account.to_le_bytes()].concat()
}

fn balance_hex(n: i64) -> Json {
    Json::from(merkle_memory::hash::bytes_to_hex(&n.to_le_bytes()))
}

#[test]
fn contract_storage_commits_with_successful_calls_and_rolls_back_with_failed_ones() {
    let dir = scratch("node-token");
    let node = Node::create(&dir, token_setup(), None).unwrap();
    let [mut admin, mut alice, mut bob, carol] = token_clients();
    let (_, initial) = node.committed();
    let txs1 = vec![
        admin.tx(&format!(r#"{{"call":"mint","args":[{}, 100]}}"#, alice.id())),
        alice.tx(&format!(r#"{{"call":"transfer","args":[{}, 30]}}"#, bob.id())),
    ];
    let b1 = block(&node, 1, &txs1);
    assert_ne!(b1.app_hash, initial, "storage is part of the app hash");
    assert_eq!(b1.txs[0].outcome.results, vec![Value::I64(100)]);
    assert_eq!(b1.txs[1].outcome.results, vec![Value::I64(70)]);
    // Storage calls are charged their own price.
    assert!(b1.txs[0].outcome.gas > 2 * cluster::node::STORAGE_PRICE, "{:?}", b1.txs[0].outcome);
    // Overdrawn: the debit the call wrote before aborting is undone with it; only its
    // counter and caller stay.
    let overdraw = bob.tx(&format!(r#"{{"call":"transfer","args":[{}, 31]}}"#, carol.id()));
    let b2 = block(&node, 2, &[overdraw.clone(), bob.tx(&format!(r#"{{"call":"balance","args":[{}]}}"#, bob.id()))]);
    assert_eq!(b2.txs[0].outcome.status, TxStatus::Trapped);
    assert!(error(&b2.txs[0]).contains("code 1"), "{}", error(&b2.txs[0]));
    let before: Vec<&[u8]> = txs1.iter().map(Vec::as_slice).collect();
    assert_eq!(b2.txs[0].post_hash, undone_after(&token_setup(), &before, &overdraw));
    assert_eq!(b2.txs[1].outcome.results, vec![Value::I64(30)]);
    let stored = query(&node, "/storage", &balance_key(alice.id()));
    assert_eq!(stored["value"], balance_hex(70));
    assert!(query(&node, "/storage", &balance_key(carol.id()))["value"].is_null());
    // Queries as of an earlier height rebuild it from the history; later ones are refused.
    block(&node, 3, &[alice.tx(&format!(r#"{{"call":"transfer","args":[{}, 5]}}"#, carol.id()))]);
    let at = |height: u64, account: i64| {
        let answer = node.query_at("/storage", &balance_key(account), height, false).unwrap();
        assert_eq!(answer.height, if height == 0 { 3 } else { height });
        serde_json::from_slice::<Json>(&answer.value).unwrap()["value"].clone()
    };
    let a = alice.id();
    assert_eq!(
        (at(0, a), at(3, a), at(2, a), at(1, a)),
        (balance_hex(65), balance_hex(65), balance_hex(70), balance_hex(70))
    );
    assert!(at(0, carol.id()) == balance_hex(5) && at(2, carol.id()).is_null());
    let refused = node.query_at("/storage", &balance_key(a), 4, false).err().expect("no block 4").to_string();
    assert!(refused.contains("no block 4 yet"), "{refused}");
    // The storage survives a restart (from the snapshot after block 2).
    drop(node);
    let reopened = Node::open(&dir, None).unwrap();
    assert_eq!(query(&reopened, "/storage", &balance_key(bob.id()))["value"], balance_hex(30));
}

#[test]
fn only_the_admin_mints_and_a_transfer_moves_only_the_callers_positive_amount() {
    let dir = scratch("node-token-rules");
    let node = Node::create(&dir, token_setup(), None).unwrap();
    let [mut admin, mut alice, mut bob, mut carol] = token_clients();
    let (a, b, c) = (alice.id(), bob.id(), carol.id());
    let mint = |client: &mut Client, account: i64, amount: i64| {
        client.tx(&format!(r#"{{"call":"mint","args":[{account}, {amount}]}}"#))
    };
    let transfer = |client: &mut Client, to: i64, amount: i64| {
        client.tx(&format!(r#"{{"call":"transfer","args":[{to}, {amount}]}}"#))
    };
    let balance = |node: &Node, account: i64| {
        let json = format!(r#"{{"call":"balance","args":[{account}]}}"#);
        query(node, "/call", json.as_bytes())["results"][0]["slot"].as_str().unwrap().parse::<i64>().unwrap()
    };
    let b1 = block(
        &node,
        1,
        &[
            mint(&mut admin, a, 100),
            // Not the admin, even minting to itself.
            mint(&mut alice, a, 100),
            mint(&mut admin, b, 0),
            carol.tx(r#"{"call":"me"}"#),
        ],
    );
    assert_eq!(b1.txs[0].outcome.results, vec![Value::I64(100)]);
    let status = |block: &BlockRecord, i: usize| (block.txs[i].outcome.status, error(&block.txs[i]).to_string());
    assert_eq!(status(&b1, 1), (TxStatus::Trapped, "aborted by the program with code 3".into()));
    assert_eq!(status(&b1, 2), (TxStatus::Trapped, "aborted by the program with code 4".into()));
    assert_eq!(b1.txs[3].outcome.results, vec![Value::I64(c)]);
    assert_eq!((balance(&node, a), balance(&node, b)), (100, 0));

    let b2 = block(
        &node,
        2,
        &[
            transfer(&mut alice, b, 30),
            // Bob's tokens, not Alice's, whoever Bob sends to.
            transfer(&mut bob, c, 10),
            transfer(&mut carol, a, 11),
            transfer(&mut alice, b, -5),
            transfer(&mut alice, b, 0),
            // Bob's 20 and i64::MAX more overflow.
            mint(&mut admin, b, i64::MAX),
            // And a transfer that would overflow Bob's balance.
            mint(&mut admin, c, i64::MAX - 10),
            transfer(&mut carol, b, i64::MAX - 10),
        ],
    );
    assert_eq!(b2.txs[0].outcome.results, vec![Value::I64(70)]);
    assert_eq!(b2.txs[1].outcome.results, vec![Value::I64(20)]);
    assert_eq!(status(&b2, 2), (TxStatus::Trapped, "aborted by the program with code 1".into()));
    assert_eq!(status(&b2, 3), (TxStatus::Trapped, "aborted by the program with code 4".into()));
    assert_eq!(status(&b2, 4), (TxStatus::Trapped, "aborted by the program with code 4".into()));
    assert_eq!(status(&b2, 5), (TxStatus::Trapped, "aborted by the program with code 5".into()));
    assert_eq!(b2.txs[6].outcome.results, vec![Value::I64(i64::MAX)]);
    assert_eq!(status(&b2, 7), (TxStatus::Trapped, "aborted by the program with code 5".into()));
    assert_eq!((balance(&node, a), balance(&node, b), balance(&node, c)), (70, 20, i64::MAX));
    // A `/call` has no caller: it reads, but moves nothing.
    let tried = query(&node, "/call", format!(r#"{{"call":"transfer","args":[{b}, 1]}}"#).as_bytes());
    assert_eq!((&tried["status"], &tried["error"]), (&"trapped".into(), &"aborted by the program with code 2".into()));

    // On a chain with no admin, no one mints.
    let open = token_setup_on(Chain::named(CHAIN));
    let mut ledger = Ledger::new(&open, None).unwrap();
    let record = ledger.execute(&mint(&mut Client::new(&open, ADMIN), a, 1));
    assert_eq!((record.outcome.status, error(&record)), (TxStatus::Trapped, "aborted by the program with code 3"));
}

#[test]
fn a_wrong_storage_write_is_caught_by_the_validator() {
    let dir = scratch("node-token-faulty");
    // The fault flips the value on top of the stack after the 40th step of every call.
    let node = Node::create(&dir, token_setup(), Some(traces::Fault::Stack(40))).unwrap();
    let [mut admin, mut alice, bob, _] = token_clients();
    let txs = vec![
        admin.tx(&format!(r#"{{"call":"mint","args":[{}, 1000]}}"#, alice.id())),
        alice.tx(&format!(r#"{{"call":"transfer","args":[{}, 1]}}"#, bob.id())),
    ];
    block(&node, 1, &txs);
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
    let chain_id = Some(CHAIN.to_string());
    cluster::node::start(home, cluster::node::NewNode { module, gas_limit, chain_id, ..Default::default() })
}

#[test]
fn the_same_command_starts_a_node_and_reopens_it() {
    let dir = scratch("node-same-command");
    let node = counter_node(&dir, Some(100_000)).unwrap();
    let setup = setup(cluster::node::DEFAULT_SNAPSHOT_INTERVAL);
    block(&node, 1, &[Client::new(&setup, 1).tx(r#"{"call": "add", "args": [5]}"#)]);
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
    for (new, why) in [
        (
            cluster::node::NewNode { chain_id: Some("other".into()), ..Default::default() },
            "chain id is test-chain, not other",
        ),
        (cluster::node::NewNode { admin: Some([1; 32]), ..Default::default() }, "admin is none, not 0x0101"),
        (
            cluster::node::NewNode { block_gas_limit: Some(5), ..Default::default() },
            "block gas limit is 100000000, not 5",
        ),
    ] {
        let refused = cluster::node::start(&dir, new).err().expect(why).to_string();
        assert!(refused.contains(why), "{refused}");
    }
    // A new home needs the chain's id.
    let fresh = scratch("node-same-command-no-chain");
    let module = Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/contracts/counter.wat"));
    let refused = cluster::node::start(&fresh, cluster::node::NewNode { module, ..Default::default() });
    assert!(refused.err().expect("no chain id").to_string().contains("--chain-id"));
}

#[test]
fn a_query_is_answered_while_a_block_runs() {
    let dir = scratch("node-query-during-block");
    // A spin runs to its gas limit: 10^8 steps, about a second here.
    let node = counter_node(&dir, Some(100_000_000)).unwrap();
    let mut c = Client::new(&setup(10), 1);
    block(&node, 1, &[c.tx(r#"{"call": "add", "args": [7]}"#)]);
    let runner = node.clone();
    // The most gas a transaction may have here: the per-call and the block's limits.
    c.gas = 100_000_000;
    let spin = c.tx(r#"{"call": "spin", "args": []}"#);
    let long = std::thread::spawn(move || runner.finalize(2, &[&spin]).unwrap());
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
    let mut c = Client::new(&setup(10), 1);
    block(&node, 1, &c.txs(&[r#"{"call":"add","args":[5]}"#]));
    block(&node, 2, &c.txs(&[r#"{"call":"add","args":[3]}"#, r#"{"call":"get"}"#]));
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
    let mut c = Client::new(&setup(1), 1);
    for height in 1..=5 {
        node.finalize(height, &[&c.tx(r#"{"call":"add","args":[1]}"#)]).unwrap();
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
    let [mut admin, mut alice, mut bob, carol] = token_clients();
    let mint = admin.tx(&format!(r#"{{"call":"mint","args":[{}, 100]}}"#, alice.id()));
    let transfer = alice.tx(&format!(r#"{{"call":"transfer","args":[{}, 30]}}"#, bob.id()));
    let b1 = block(&node, 1, &[mint.clone(), transfer, alice.sign("nope", vec![], 100_000)]);
    assert_eq!(b1.txs[1].outcome.results, vec![Value::I64(70)]);
    assert_eq!(b1.txs[2].outcome.status, TxStatus::Rejected);
    let b2 = block(&node, 2, &[bob.tx(&format!(r#"{{"call":"transfer","args":[{}, 7]}}"#, carol.id()))]);
    block(&node, 3, &[]);
    let app_hash = |h: u64| {
        let state: Json = serde_json::from_slice(&node.answer("/state", h.to_string().as_bytes()).unwrap()).unwrap();
        merkle_memory::parse_hex(state["app_hash"].as_str().unwrap()).unwrap()
    };
    assert_eq!((app_hash(1), app_hash(2)), (b1.app_hash, b2.app_hash));

    // A transaction's outcome, proven against its block's app hash only.
    let hash: [u8; 32] = sha2::Sha256::digest(&mint).into();
    let answer = node.query_at("/tx", &hash, 0, true).unwrap();
    assert_eq!(answer.height, 1);
    let proof = answer.proof.expect("a proof was asked for");
    assert_eq!(proof.verify(&b1.app_hash).unwrap(), Proven::Tx(0, b1.txs[0].clone()));
    assert!(proof.verify(&b2.app_hash).unwrap_err().to_string().contains("the header commits to"));
    let mut forged = proof.clone();
    forged.tx.as_mut().unwrap().record.outcome.results = vec![Value::I64(999_999)];
    assert!(forged.verify(&b1.app_hash).unwrap_err().to_string().contains("not in the block's outcomes"));
    let mut moved = proof.clone();
    moved.tx.as_mut().unwrap().index = 1;
    assert!(moved.verify(&b1.app_hash).is_err());
    // Another transaction's bytes under the proven outcome: not the committed one.
    let mut swapped = proof.clone();
    swapped.tx.as_mut().unwrap().record.tx = b1.txs[1].tx.clone();
    assert!(swapped.verify(&b1.app_hash).is_err());

    // Storage now and as of block 1, present and absent, each against its height.
    let key = balance_key;
    let (b, c) = (bob.id(), carol.id());
    for (height, account, value) in [(0, b, Some(23i64)), (1, b, Some(30)), (1, c, None), (3, c, Some(7))] {
        let answer = node.query_at("/storage", &key(account), height, true).unwrap();
        let proven = answer.proof.unwrap().verify(&app_hash(answer.height)).unwrap();
        assert_eq!(proven, Proven::Storage(key(account), value.map(|v| v.to_le_bytes().to_vec())));
        let stated: cluster::node::StorageAnswer = serde_json::from_slice(&answer.value).unwrap();
        assert_eq!(stated.value, value.map(|v| v.to_le_bytes().to_vec()));
    }
    let proof = node.query_at("/storage", &key(b), 2, true).unwrap().proof.unwrap();
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
    let balance = format!(r#"{{"call":"balance","args":[{b}]}}"#);
    let answer = node.query_at("/call", balance.as_bytes(), 0, true).unwrap();
    let result: cluster::node::ResultData = serde_json::from_slice(&answer.value).unwrap();
    assert_eq!(result.outcome.results, vec![Value::I64(23)]);
    assert!(matches!(answer.proof.unwrap().verify(&committed).unwrap(), Proven::State(_)));
    let earlier = node.query_at("/call", balance.as_bytes(), 1, false).unwrap();
    let result: cluster::node::ResultData = serde_json::from_slice(&earlier.value).unwrap();
    assert_eq!(result.outcome.results, vec![Value::I64(30)]);
    assert_eq!(node.committed(), (height, committed));
    let proof = node.query_at("/state", b"", 0, true).unwrap().proof.unwrap();
    assert!(matches!(proof.verify(&committed).unwrap(), Proven::State(_)));
}

#[test]
fn queries_answer_the_committed_state_never_a_finalized_block_before_its_commit() {
    let dir = scratch("node-query-pending");
    let node = Node::create(&dir, token_setup(), None).unwrap();
    let [mut admin, mut alice, mut bob, carol] = token_clients();
    let (a, b, c) = (alice.id(), bob.id(), carol.id());
    let key = balance_key;
    let balance = balance_hex;
    let b1 = block(&node, 1, &[admin.tx(&format!(r#"{{"call":"mint","args":[{a}, 100]}}"#))]);
    // Block 2 finalized: the machine holds its state, which nothing may answer yet.
    node.finalize(2, &[&alice.tx(&format!(r#"{{"call":"transfer","args":[{b}, 30]}}"#))]).unwrap();
    // With no Commit coming, the committed state is rebuilt from the history.
    let started = Instant::now();
    let answer = node.query_at("/storage", &key(a), 0, false).unwrap();
    assert!(started.elapsed() >= cluster::node::COMMIT_WAIT, "it waited for the Commit first");
    assert_eq!(answer.height, 1);
    assert_eq!(serde_json::from_slice::<Json>(&answer.value).unwrap()["value"], balance(100));
    let of = |account: i64| format!(r#"{{"call":"balance","args":[{account}]}}"#).into_bytes();
    let call = node.query_at("/call", &of(b), 1, true).unwrap();
    assert_eq!(call.height, 1);
    assert_eq!(serde_json::from_slice::<Json>(&call.value).unwrap()["results"][0]["slot"], "0");
    call.proof.unwrap().verify(&b1.app_hash).unwrap();
    // A Commit coming while a query waits: the query is then about the new committed height.
    let committer = node.clone();
    let commit = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        committer.commit_pending().unwrap()
    });
    let answer = node.query_at("/storage", &key(b), 0, false).unwrap();
    assert_eq!(answer.height, 2);
    assert_eq!(serde_json::from_slice::<Json>(&answer.value).unwrap()["value"], balance(30));
    assert_eq!(commit.join().unwrap(), 2);
    // An explicit earlier height is rebuilt from the history, the last one read in place.
    let at = |height: u64, account: i64| {
        let answer = node.query_at("/storage", &key(account), height, false).unwrap();
        serde_json::from_slice::<Json>(&answer.value).unwrap()["value"].clone()
    };
    assert_eq!((at(1, a), at(2, a), at(0, a)), (balance(100), balance(70), balance(70)));
    // A /call runs on the committed machine and is taken back, whether it returns or traps
    // (a transfer has no caller there).
    let (height, app_hash) = node.committed();
    let tried = query(&node, "/call", &of(a));
    assert_eq!((tried["status"].as_str(), tried["results"][0]["slot"].as_str()), (Some("returned"), Some("70")));
    let trapped = query(&node, "/call", format!(r#"{{"call":"transfer","args":[{c}, 5]}}"#).as_bytes());
    assert_eq!(trapped["status"], "trapped");
    assert_eq!(node.committed(), (height, app_hash));
    assert!(at(0, c).is_null() && at(0, a) == balance(70));
    // The next block runs on the state as committed: a failed call in it rolls back too.
    let b3 = block(
        &node,
        3,
        &[
            bob.tx(&format!(r#"{{"call":"transfer","args":[{c}, 31]}}"#)),
            alice.tx(&format!(r#"{{"call":"transfer","args":[{c}, 5]}}"#)),
        ],
    );
    assert_eq!(b3.txs[0].outcome.status, TxStatus::Trapped);
    assert_eq!(b3.txs[1].outcome.results, vec![Value::I64(65)]);
    assert_eq!(query(&node, "/call", &of(c))["results"][0]["slot"], "5");
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
    let mut c = Client::new(&setup(10), 1);
    block(&node, 1, &c.txs(&[r#"{"call":"add","args":[5]}"#]));
    let ten = c.tx(r#"{"call":"add","args":[10]}"#);
    let first = node.finalize(2, &[&ten]).unwrap();
    assert_eq!(node.finalize(2, &[&ten]).unwrap(), first);
    // The other block's transaction uses the same counter: block 2's first version is gone.
    c.session.next = 1;
    let other = node.finalize(2, &[&c.tx(r#"{"call":"add","args":[1]}"#)]).unwrap();
    assert_eq!(other.txs[0].outcome.results, vec![Value::I32(6)], "run on block 1's state");
    assert_eq!(node.commit_pending().unwrap(), 2);
    assert_eq!(query(&node, "/call", br#"{"call":"get"}"#)["results"][0]["slot"], "6");
    assert!(node.finalize(2, &[]).is_err(), "block 2 is committed");
}

#[test]
fn a_blocks_transactions_reserve_its_gas_budget_and_those_past_it_do_not_run() {
    let dir = scratch("node-block-gas");
    // Two transactions of the per-call limit and half of one fit.
    let setup = setup_on(10, Chain { block_gas_limit: 250_000, ..Chain::named(CHAIN) });
    let node = Node::create(&dir, setup.clone(), None).unwrap();
    let [mut c, mut d, mut e] = [1, 2, 3].map(|seed| Client::new(&setup, seed));
    let add = |c: &mut Client, n: i32, gas: u64| c.sign("add", vec![Value::I32(n)], gas);
    let txs = vec![
        add(&mut c, 1, 100_000),
        add(&mut c, 2, 100_000),
        // 50,000 left.
        add(&mut c, 4, 100_000),
        add(&mut d, 8, 50_001),
        add(&mut e, 16, 50_000),
        // None left.
        add(&mut e, 32, 1000),
    ];
    let b1 = block(&node, 1, &txs);
    let statuses: Vec<TxStatus> = b1.txs.iter().map(|t| t.outcome.status).collect();
    use TxStatus::{Rejected, Returned};
    assert_eq!(statuses, [Returned, Returned, Rejected, Rejected, Returned, Rejected]);
    for (i, why) in [
        (2, "gas limit 100000: it must be from 1 to 50000"),
        (3, "gas limit 50001: it must be from 1 to 50000"),
        (5, "gas limit 1000: it must be from 1 to 0"),
    ] {
        assert!(error(&b1.txs[i]).contains(why), "{}", error(&b1.txs[i]));
        assert_eq!(b1.txs[i].post_hash, b1.txs[i - 1].post_hash, "refused, it did not run");
    }
    // The reserved gas is the limits', not the gas used: the calls used far less.
    assert!(b1.txs.iter().map(|t| t.outcome.gas).sum::<u64>() < 1000);
    assert_eq!(b1.txs[4].outcome.results, vec![Value::I32(19)]);
    // The next block has a budget of its own: the refused ones, their counters unused,
    // run there; a replay of one that ran does not.
    let b2 = block(&node, 2, &[txs[0].clone(), txs[2].clone(), txs[3].clone(), txs[5].clone()]);
    assert!(error(&b2.txs[0]).contains("counter 0 of session 0: the session's next is 2"), "{}", error(&b2.txs[0]));
    let results: Vec<&[Value]> = b2.txs.iter().map(|t| &t.outcome.results[..]).collect();
    assert_eq!(results[1..], [&[Value::I32(23)][..], &[Value::I32(31)], &[Value::I32(63)]]);
    // CheckTx tells CometBFT the gas a transaction reserves.
    use tendermint_abci::Application;
    let checked =
        node.check_tx(tendermint_proto::v0_38::abci::RequestCheckTx { tx: add(&mut c, 1, 100_000).into(), r#type: 0 });
    assert_eq!((checked.code, checked.gas_wanted), (0, 100_000));
    // And the history validates: the validator keeps the same budget.
    drop(node);
    assert!(validate(&dir, None).wrong.is_none());
}

#[test]
fn a_sessions_next_counter_is_queried_and_proven_like_storage() {
    use cluster::proofs::Proven;
    let dir = scratch("node-session");
    let node = Node::create(&dir, setup(10), None).unwrap();
    let mut c = Client::new(&setup(10), 1);
    // Session 1 of the same key counts on its own.
    let mut other = Client::new(&setup(10), 1);
    other.session.session = 1;
    let mut txs = c.txs(&[r#"{"call":"add","args":[1]}"#, r#"{"call":"fail","args":[2]}"#]);
    txs.push(other.tx(r#"{"call":"get"}"#));
    let b1 = block(&node, 1, &txs);
    assert!(b1.txs.iter().all(|t| t.outcome.status != TxStatus::Rejected));
    let b2 = block(&node, 2, &c.txs(&[r#"{"call":"get"}"#]));
    let data = |session: u64| [&c.public_key()[..], &session.to_le_bytes()].concat();
    let answer = query(&node, "/session", &data(0));
    assert_eq!(answer, serde_json::json!({"public_key": merkle_memory::hex(&c.public_key()), "session": 0, "next": 3}));
    assert_eq!(query(&node, "/session", &data(1))["next"], 1);
    assert_eq!(query(&node, "/session", &data(7))["next"], 0);
    // Proven at each height against its app hash: the reserved key that holds the counter.
    for (height, session, next, app_hash) in [
        (1, 0, Some(2u64), b1.app_hash),
        (2, 0, Some(3), b2.app_hash),
        (0, 1, Some(1), b2.app_hash),
        (2, 7, None, b2.app_hash),
    ] {
        let answer = node.query_at("/session", &data(session), height, true).unwrap();
        let stated: cluster::node::SessionAnswer = serde_json::from_slice(&answer.value).unwrap();
        assert_eq!((stated.public_key, stated.session, stated.next), (c.public_key(), session, next.unwrap_or(0)));
        let proof = answer.proof.expect("a proof was asked for");
        let stored = cluster::ledger::session_storage_key(&c.public_key(), session);
        let value = next.map(|n| n.to_le_bytes().to_vec());
        assert_eq!(proof.verify(&app_hash).unwrap(), Proven::Storage(stored, value));
        let mut forged = proof.clone();
        forged.storage.as_mut().unwrap().opening.value = Some(9u64.to_le_bytes().to_vec());
        assert!(forged.verify(&app_hash).is_err());
    }
    let refused = node.answer("/session", &data(0)[..39]).unwrap_err().to_string();
    assert!(refused.contains("not 40 bytes"), "{refused}");
}

#[test]
fn check_tx_admits_each_sessions_transactions_once_in_counter_order() {
    use tendermint_abci::Application;
    use tendermint_proto::v0_38::abci::RequestCheckTx;
    let dir = scratch("node-check-tx");
    let node = Node::create(&dir, setup(10), None).unwrap();
    let mut c = Client::new(&setup(10), 1);
    let check = |tx: &[u8]| {
        let answer = node.check_tx(RequestCheckTx { tx: tx.to_vec().into(), r#type: 0 });
        (answer.code, answer.log)
    };
    let txs = c.txs(&[r#"{"call":"add","args":[1]}"#, r#"{"call":"add","args":[2]}"#, r#"{"call":"add","args":[3]}"#]);
    assert_eq!(check(&txs[0]), (0, String::new()));
    let (code, log) = check(&txs[0]);
    assert!(code == 1 && log.contains("counter 0 of session 0: the session's next is 1"), "{log}");
    let (code, log) = check(&txs[2]);
    assert!(code == 1 && log.contains("counter 2 of session 0: the session's next is 1"), "{log}");
    assert_eq!(check(&txs[1]).0, 0);
    let mut flipped = txs[2].clone();
    flipped[60] ^= 1;
    let (code, log) = check(&flipped);
    assert!(code == 1 && log.contains("signature"), "{log}");
    let (code, log) = check(
        &Session::new(SigningKey::from_bytes(&[1; 32]), "other", 0, 2)
            .sign("add", vec![Value::I32(1)], 10)
            .unwrap()
            .encode()
            .unwrap(),
    );
    assert!(code == 1 && log.contains("signature"), "{log}");
    let (code, log) = check(&c.sign("add", vec![Value::I64(1)], 10));
    assert!(code == 1 && log.contains("takes (i32)"), "{log}");
    let (code, log) = check(
        &Session::new(SigningKey::from_bytes(&[1; 32]), CHAIN, 0, 2)
            .sign("add", vec![Value::I32(1)], 100_001)
            .unwrap()
            .encode()
            .unwrap(),
    );
    assert!(code == 1 && log.contains("gas limit 100001: it must be from 1 to 100000"), "{log}");
    // After a Commit of the first two, the pending ones are forgotten (CometBFT rechecks
    // them) and the committed counters count.
    block(&node, 1, &txs[..2]);
    let (code, log) = check(&txs[1]);
    assert!(code == 1 && log.contains("counter 1 of session 0: the session's next is 2"), "{log}");
    assert_eq!(check(&txs[2]).0, 0);
    // Another key's session starts at 0, read from the committed state.
    let mut d = Client::new(&setup(10), 2);
    let (code, log) = check(
        &Session::new(SigningKey::from_bytes(&[2; 32]), CHAIN, 0, 1).sign("get", vec![], 10).unwrap().encode().unwrap(),
    );
    assert!(code == 1 && log.contains("the session's next is 0"), "{log}");
    assert_eq!(check(&d.tx(r#"{"call":"get"}"#)).0, 0);
}
