//! Adversarial tests of signed transactions (issue 16): what an attacker on the chain may
//! try with envelopes, sessions, the signature cache, gas, the caller and the token
//! contract: each one refused as it must be (three were bugs when these tests were
//! written: `/tx` after a replay, a host function as an entry, a session's last counter).

use std::fs;
use std::path::Path;
use std::sync::Arc;

mod common;

use common::{block, error, query, scratch, Client};

use cluster::envelope::{Body, Envelope, Session, SigningKey};
use cluster::history::{BlockRecord, Chain, NodeSetup, TxRecord, TxStatus};
use cluster::ledger::Ledger;
use cluster::node::Node;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};
use stepper::{Config, Module, Value};

const CHAIN: &str = "adv-chain";
const ADMIN: u8 = 9;
const PER_CALL: u64 = 100_000;

fn contract(name: &str) -> Vec<u8> {
    fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/contracts").join(name)).unwrap()
}

/// A setup of the module `bytes` (binary or text) on `chain`, priced as a node prices
/// storage calls, with a per-call gas limit `gas_limit`.
fn setup_with(bytes: Vec<u8>, chain: Chain, gas_limit: u64) -> NodeSetup {
    let module = Module::new(&bytes).unwrap();
    let mut gas = stepper::GasTable::default();
    gas.costs[stepper::op::GasClass::Storage as usize] = cluster::node::STORAGE_PRICE;
    let config = Config { gas_limit, gas, ..Config::default() };
    NodeSetup { module_bytes: Arc::new(bytes), module, config, snapshot_interval: 3, chain }
}

fn counter_setup() -> NodeSetup {
    setup_with(contract("counter.wat"), Chain::named(CHAIN), PER_CALL)
}

fn token_setup() -> NodeSetup {
    let admin = SigningKey::from_bytes(&[ADMIN; 32]).verifying_key().to_bytes();
    setup_with(contract("token.wat"), Chain { admin: Some(admin), ..Chain::named(CHAIN) }, PER_CALL)
}

/// An envelope with every field chosen, signed by the key from `seed` for `chain`.
fn raw(seed: u8, chain: &str, session: u64, counter: u64, gas_limit: u64, export: &str, args: Vec<Value>) -> Vec<u8> {
    let key = SigningKey::from_bytes(&[seed; 32]);
    let public_key = key.verifying_key().to_bytes();
    let body = Body { public_key, session, counter, gas_limit, export: export.to_string(), args, input: Vec::new() };
    Envelope::sign(body, chain, &key).unwrap().encode().unwrap()
}

fn statuses(b: &BlockRecord) -> Vec<TxStatus> {
    b.txs.iter().map(|t| t.outcome.status).collect()
}

fn get(node: &Node) -> Json {
    query(node, "/call", br#"{"call":"get"}"#)["results"][0]["slot"].clone()
}

/// The counter CheckTx expects next for session `session` of the key from `seed`: asked
/// with a counter no session ever reaches, whose refusal names it.
fn check_next(node: &Node, seed: u8, session: u64, export: &str, args: Vec<Value>) -> u64 {
    let probe = raw(seed, CHAIN, session, u64::MAX, 1, export, args);
    let refused = node.check(&probe).unwrap_err().to_string();
    let next = refused.rsplit("the session's next is ").next().unwrap();
    next.trim().parse().unwrap_or_else(|_| panic!("{refused}"))
}

fn session_next(node: &Node, seed: u8, session: u64) -> u64 {
    let key = SigningKey::from_bytes(&[seed; 32]).verifying_key().to_bytes();
    let data = [&key[..], &session.to_le_bytes()].concat();
    query(node, "/session", &data)["next"].as_u64().unwrap()
}

// ---------------------------------------------------------------------------------------
// Replays and duplicates
// ---------------------------------------------------------------------------------------

#[test]
fn the_same_envelope_twice_in_a_block_runs_once() {
    let node = Node::create(&scratch("adv-dup-block"), counter_setup(), None).unwrap();
    let mut c = Client::new(&counter_setup(), 1);
    let add = c.tx(r#"{"call":"add","args":[5]}"#);
    let b = block(&node, 1, &[add.clone(), add.clone(), add]);
    assert_eq!(statuses(&b), [TxStatus::Returned, TxStatus::Rejected, TxStatus::Rejected]);
    assert!(error(&b.txs[1]).contains("counter 0 of session 0: the session's next is 1"), "{}", error(&b.txs[1]));
    assert_eq!(b.txs[1].post_hash, b.txs[0].post_hash, "a replay changes nothing");
    assert_eq!(get(&node), "5");
    assert_eq!(session_next(&node, 1, 0), 1);
}

#[test]
fn the_same_envelope_in_a_later_block_and_after_a_restart_is_refused() {
    let dir = scratch("adv-dup-restart");
    let node = Node::create(&dir, counter_setup(), None).unwrap();
    let mut c = Client::new(&counter_setup(), 1);
    let add = c.tx(r#"{"call":"add","args":[5]}"#);
    assert_eq!(node.check(&add).unwrap(), PER_CALL);
    block(&node, 1, std::slice::from_ref(&add));
    assert!(node.check(&add).unwrap_err().to_string().contains("the session's next is 1"));
    let b2 = block(&node, 2, std::slice::from_ref(&add));
    assert_eq!(statuses(&b2), [TxStatus::Rejected]);
    drop(node);
    // A restart replays the log with every signature checked, and the counters with it.
    let node = Node::open(&dir, None).unwrap();
    assert_eq!(check_next(&node, 1, 0, "get", vec![]), 1);
    assert!(node.check(&add).is_err());
    let b3 = block(&node, 3, std::slice::from_ref(&add));
    assert_eq!(statuses(&b3), [TxStatus::Rejected]);
    assert_eq!(get(&node), "5");
    // A block finalized, not committed, then finalized again after a restart: once.
    let next = c.tx(r#"{"call":"add","args":[1]}"#);
    node.finalize(4, &[&next]).unwrap();
    drop(node);
    let node = Node::open(&dir, None).unwrap();
    let b4 = block(&node, 4, &[next.clone(), next]);
    assert_eq!(statuses(&b4), [TxStatus::Returned, TxStatus::Rejected]);
    assert_eq!(get(&node), "6");
}

#[test]
fn a_height_finalized_again_with_a_duplicate_runs_the_transaction_once() {
    let node = Node::create(&scratch("adv-refinalize-dup"), counter_setup(), None).unwrap();
    let mut c = Client::new(&counter_setup(), 1);
    let add = c.tx(r#"{"call":"add","args":[5]}"#);
    node.finalize(1, &[&add]).unwrap();
    let again = node.finalize(1, &[&add, &add]).unwrap();
    assert_eq!(statuses(&again), [TxStatus::Returned, TxStatus::Rejected]);
    node.commit_pending().unwrap();
    assert_eq!(get(&node), "5");
    assert_eq!(query(&node, "/call", br#"{"call":"calls"}"#)["results"][0]["slot"], "1");
}

#[test]
fn two_bodies_with_one_counter_run_only_the_first() {
    let node = Node::create(&scratch("adv-same-counter"), counter_setup(), None).unwrap();
    let mut c = Client::new(&counter_setup(), 1);
    let five = c.tx(r#"{"call":"add","args":[5]}"#);
    c.session.next = 0;
    let seven = c.tx(r#"{"call":"add","args":[7]}"#);
    // CheckTx lets one of them in.
    assert!(node.check(&five).is_ok());
    assert!(node.check(&seven).unwrap_err().to_string().contains("the session's next is 1"));
    let b = block(&node, 1, &[seven.clone(), five.clone()]);
    assert_eq!(statuses(&b), [TxStatus::Returned, TxStatus::Rejected]);
    assert_eq!(get(&node), "7");
    // Another session of the same key counts apart, and may use counter 0 again.
    let mut other = Client::new(&counter_setup(), 1);
    other.session.session = 1;
    let b = block(&node, 2, &[other.tx(r#"{"call":"add","args":[1]}"#), five]);
    assert_eq!(statuses(&b), [TxStatus::Returned, TxStatus::Rejected]);
    assert_eq!(get(&node), "8");
}

#[test]
fn extreme_counters_and_sessions_neither_panic_nor_run() {
    let node = Node::create(&scratch("adv-extremes"), counter_setup(), None).unwrap();
    let max_counter = raw(1, CHAIN, 0, u64::MAX, 10, "get", vec![]);
    assert!(node.check(&max_counter).unwrap_err().to_string().contains("counter 18446744073709551615"));
    let max_session = raw(1, CHAIN, u64::MAX, 0, 10, "get", vec![]);
    let max_both = raw(1, CHAIN, u64::MAX, u64::MAX, 10, "get", vec![]);
    assert!(node.check(&max_session).is_ok());
    let b = block(&node, 1, &[max_counter, max_session.clone(), max_both, max_session]);
    assert_eq!(statuses(&b), [TxStatus::Rejected, TxStatus::Returned, TxStatus::Rejected, TxStatus::Rejected]);
    assert_eq!(session_next(&node, 1, u64::MAX), 1);
    assert_eq!(session_next(&node, 1, 0), 0);
    assert_eq!(check_next(&node, 1, u64::MAX, "get", vec![]), 1);
}

/// `Session::sign` uses up the counter with `next += 1`: with `next == u64::MAX` a client
/// signing its (never valid) last counter panics in a debug build.
#[test]
fn a_session_at_its_last_counter_refuses_to_sign_without_panicking() {
    let mut s = Session::new(SigningKey::from_bytes(&[1; 32]), CHAIN, 0, u64::MAX);
    let signed = std::panic::catch_unwind(move || s.sign("get", vec![], 10).map(|e| e.body.counter));
    assert_eq!(
        signed.ok().map(|r| r.map_err(|e| e.to_string())),
        Some(Err("the session's counters are used up: start another session".into()))
    );
}

// ---------------------------------------------------------------------------------------
// /tx after a replay
// ---------------------------------------------------------------------------------------

/// Anyone may put the public bytes of a transaction that ran into a later block (a
/// proposer is not bound by CheckTx): it is rejected there, as it must be. But the node's
/// index of transactions by hash keeps the last block holding the bytes, so `/tx` then
/// answers "rejected" for a transfer that ran, and a client that asks (`verigame client
/// --prove` does) believes it did not.
#[test]
fn tx_query_answers_the_run_not_a_later_rejected_replay() {
    let dir = scratch("adv-tx-index");
    let node = Node::create(&dir, counter_setup(), None).unwrap();
    let mut c = Client::new(&counter_setup(), 1);
    let add = c.tx(r#"{"call":"add","args":[5]}"#);
    let hash = Sha256::digest(&add);
    block(&node, 1, std::slice::from_ref(&add));
    let before = query(&node, "/tx", &hash);
    assert_eq!((&before["height"], &before["outcome"]["status"]), (&Json::from(1), &Json::from("returned")));
    block(&node, 2, std::slice::from_ref(&add));
    let after = query(&node, "/tx", &hash);
    assert_eq!(
        (&after["height"], &after["outcome"]["status"]),
        (&Json::from(1), &Json::from("returned")),
        "a replay was rejected at height 2, but the transaction ran at height 1: {after}"
    );
    // The same within one block, and after a restart (the index is rebuilt from the log).
    let other = c.tx(r#"{"call":"add","args":[1]}"#);
    block(&node, 3, &[other.clone(), other.clone()]);
    assert_eq!(query(&node, "/tx", &Sha256::digest(&other))["outcome"]["status"], "returned");
    drop(node);
    let node = Node::open(&dir, None).unwrap();
    assert_eq!(query(&node, "/tx", &hash)["outcome"]["status"], "returned");
}

// ---------------------------------------------------------------------------------------
// The signature cache
// ---------------------------------------------------------------------------------------

#[test]
fn the_signature_cache_vouches_for_exact_bytes_only() {
    let node = Node::create(&scratch("adv-cache"), counter_setup(), None).unwrap();
    let mut c = Client::new(&counter_setup(), 1);
    let good = c.tx(r#"{"call":"add","args":[5]}"#);
    assert!(node.check(&good).is_ok());
    // Each one-bit change of the checked transaction: none runs, whatever CheckTx saw.
    let mut forged = Vec::new();
    for i in [5, 40, 50, 60, good.len() - 70, good.len() - 40, good.len() - 1] {
        let mut f = good.clone();
        f[i] ^= 1;
        assert!(node.check(&f).is_err(), "byte {i}");
        forged.push(f);
    }
    // A second check of the same bytes (served from the cache) refuses them too.
    for f in &forged {
        assert!(node.check(f).is_err());
    }
    // The good one's signature with another body (same key, session and counter).
    let mut other_body = raw(1, CHAIN, 0, 0, PER_CALL, "add", vec![Value::I32(500)]);
    let n = other_body.len();
    other_body[n - 64..].copy_from_slice(&good[good.len() - 64..]);
    forged.push(other_body);
    // The same call signed for another chain.
    forged.push(raw(1, "other-chain", 0, 0, PER_CALL, "add", vec![Value::I32(500)]));
    let b = block(&node, 1, &forged);
    assert!(b.txs.iter().all(|t| t.outcome.status == TxStatus::Rejected), "{:?}", statuses(&b));
    assert_eq!(session_next(&node, 1, 0), 0);
    let b = block(&node, 2, &[good]);
    assert_eq!(statuses(&b), [TxStatus::Returned]);
    assert_eq!(get(&node), "5");
}

#[test]
fn a_transaction_checked_on_one_chain_does_not_run_on_another() {
    let setup_b = setup_with(contract("counter.wat"), Chain::named("chain-b"), PER_CALL);
    let a = Node::create(&scratch("adv-chain-a"), counter_setup(), None).unwrap();
    let b = Node::create(&scratch("adv-chain-b"), setup_b, None).unwrap();
    let mut c = Client::new(&counter_setup(), 1);
    let tx = c.tx(r#"{"call":"add","args":[5]}"#);
    assert!(a.check(&tx).is_ok());
    assert!(b.check(&tx).unwrap_err().to_string().contains("signature"));
    let on_b = block(&b, 1, std::slice::from_ref(&tx));
    assert_eq!(statuses(&on_b), [TxStatus::Rejected]);
    assert_eq!(statuses(&block(&a, 1, &[tx])), [TxStatus::Returned]);
}

/// More transactions than one thread opens (the signature checks run on all cores):
/// forged ones anywhere among them are refused, and the order of outcomes is the block's.
#[test]
fn a_large_block_with_forgeries_everywhere_runs_only_the_signed_ones_in_order() {
    let node = Node::create(&scratch("adv-large-block"), counter_setup(), None).unwrap();
    let mut c = Client::new(&counter_setup(), 1);
    c.gas = 1000;
    let mut txs = Vec::new();
    let mut expect = Vec::new();
    for i in 0..300 {
        let tx = c.tx(r#"{"call":"add","args":[1]}"#);
        if i % 7 == 3 {
            let mut forged = tx.clone();
            forged[70] ^= 0x80; // the argument's value, under the signature
            txs.push(forged);
            expect.push(TxStatus::Rejected);
            // The session's counter is not used: the next transaction signs it again.
            c.session.next -= 1;
        } else {
            txs.push(tx);
            expect.push(TxStatus::Returned);
        }
    }
    // Some CheckTx saw (cached), some not.
    for tx in txs.iter().step_by(5) {
        let _ = node.check(tx);
    }
    let b = block(&node, 1, &txs);
    assert_eq!(statuses(&b), expect);
    let ran = expect.iter().filter(|s| **s == TxStatus::Returned).count();
    assert_eq!(get(&node), ran.to_string());
    for (t, i) in b.txs.iter().filter(|t| t.outcome.status == TxStatus::Returned).zip(1..) {
        assert_eq!(t.outcome.results, vec![Value::I32(i)]);
    }
}

// ---------------------------------------------------------------------------------------
// CheckTx and FinalizeBlock agree
// ---------------------------------------------------------------------------------------

#[test]
fn check_tx_counters_follow_the_committed_state_through_rejections_traps_and_restarts() {
    let dir = scratch("adv-check-vs-finalize");
    let chain = Chain { block_gas_limit: 150_000, ..Chain::named(CHAIN) };
    let setup = setup_with(contract("counter.wat"), chain, PER_CALL);
    let node = Node::create(&dir, setup.clone(), None).unwrap();
    let [mut c, mut d] = [1, 2].map(|seed| Client::new(&setup, seed));
    // c: two CheckTx'd transactions; the block rejects the second (over the budget).
    let c0 = c.sign("add", vec![Value::I32(1)], 100_000);
    let c1 = c.sign("add", vec![Value::I32(2)], 100_000);
    assert!(node.check(&c0).is_ok() && node.check(&c1).is_ok());
    assert_eq!(check_next(&node, 1, 0, "get", vec![]), 2, "pending counts");
    // d: one that traps and one that runs out of gas use their counters.
    let d0 = d.sign("fail", vec![Value::I32(1)], 10_000);
    let d1 = d.sign("spin", vec![], 10_000);
    let b = block(&node, 1, &[c0, d0, d1, c1.clone()]);
    assert_eq!(statuses(&b), [TxStatus::Returned, TxStatus::Trapped, TxStatus::OutOfGas, TxStatus::Rejected]);
    for (seed, want) in [(1, 1), (2, 2)] {
        assert_eq!(check_next(&node, seed, 0, "get", vec![]), want);
        assert_eq!(session_next(&node, seed, 0), want);
    }
    // The rejected one is accepted again (its counter unused) and runs in the next block.
    assert_eq!(node.check(&c1).unwrap(), 100_000);
    let b = block(&node, 2, &[c1]);
    assert_eq!(statuses(&b), [TxStatus::Returned]);
    drop(node);
    let node = Node::open(&dir, None).unwrap();
    for (seed, want) in [(1, 2), (2, 2), (3, 0)] {
        assert_eq!(check_next(&node, seed, 0, "get", vec![]), want);
        assert_eq!(session_next(&node, seed, 0), want);
    }
}

// ---------------------------------------------------------------------------------------
// Gas
// ---------------------------------------------------------------------------------------

#[test]
fn gas_limits_at_and_past_their_bounds() {
    // The block budget below the per-call limit: the budget bounds a transaction.
    let chain = Chain { block_gas_limit: 60_000, ..Chain::named(CHAIN) };
    let setup = setup_with(contract("counter.wat"), chain, PER_CALL);
    let node = Node::create(&scratch("adv-gas-bounds"), setup.clone(), None).unwrap();
    let mut c = Client::new(&setup, 1);
    for gas in [0, 60_001, PER_CALL, PER_CALL + 1, u64::MAX, i64::MAX as u64 + 1] {
        let tx = c.sign("get", vec![], gas);
        c.session.next -= 1;
        let refused = node.check(&tx).unwrap_err().to_string();
        assert!(refused.contains(&format!("gas limit {gas}: it must be from 1 to 60000")), "{refused}");
    }
    let exact = c.sign("spin", vec![], 60_000);
    assert_eq!(node.check(&exact).unwrap(), 60_000);
    let one = c.sign("get", vec![], 1);
    assert_eq!(node.check(&one).unwrap(), 1);
    let b = block(&node, 1, &[exact, one.clone()]);
    assert_eq!(statuses(&b), [TxStatus::OutOfGas, TxStatus::Rejected]);
    assert!(error(&b.txs[1]).contains("it must be from 1 to 0"), "{}", error(&b.txs[1]));
    assert_eq!(b.txs[0].outcome.gas, 60_000, "a spin uses its whole limit, no more");
    // A gas limit of 1 runs one instruction's worth: out of gas, its counter used.
    let b = block(&node, 2, &[one]);
    assert_eq!(statuses(&b), [TxStatus::OutOfGas]);
    assert!(b.txs[0].outcome.gas <= 1);
    assert_eq!(session_next(&node, 1, 0), 2);

    // A per-call limit of u64::MAX and the largest block budget.
    let chain = Chain { block_gas_limit: i64::MAX as u64, ..Chain::named(CHAIN) };
    let setup = setup_with(contract("counter.wat"), chain, u64::MAX);
    let node = Node::create(&scratch("adv-gas-huge"), setup.clone(), None).unwrap();
    let mut c = Client::new(&setup, 1);
    let all = c.sign("get", vec![], i64::MAX as u64);
    assert_eq!(node.check(&all).unwrap(), i64::MAX as u64);
    let more = c.sign("get", vec![], 1);
    let b = block(&node, 1, &[all, more.clone()]);
    assert_eq!(statuses(&b), [TxStatus::Returned, TxStatus::Rejected]);
    assert!(b.txs[0].outcome.gas < 100, "{:?}", b.txs[0].outcome);
    let over = raw(2, CHAIN, 0, 0, u64::MAX, "get", vec![]);
    assert!(node.check(&over).is_err());
    let b = block(&node, 2, &[over, more]);
    assert_eq!(statuses(&b), [TxStatus::Rejected, TxStatus::Returned]);
}

/// Whatever the limit, a call's gas never passes it, and the calls that run out of gas
/// are undone: with storage calls (100 gas each) near every boundary.
#[test]
fn a_calls_gas_never_passes_its_limit() {
    let setup = token_setup();
    let mut ledger = Ledger::new(&setup, None).unwrap();
    let mut admin = Client::new(&setup, ADMIN);
    let mint = admin.tx(&format!(r#"{{"call":"mint","args":[{}, 1000]}}"#, admin.id()));
    assert_eq!(ledger.execute(&mint).outcome.status, TxStatus::Returned);
    // The first credit of account 7 reads no balance: the second costs what the rest do.
    for _ in 0..2 {
        let full = admin.sign("transfer", vec![Value::I64(7), Value::I64(1)], PER_CALL);
        assert_eq!(ledger.execute(&full).outcome.status, TxStatus::Returned);
    }
    let full = admin.sign("transfer", vec![Value::I64(7), Value::I64(1)], PER_CALL);
    let record = ledger.execute(&full);
    assert_eq!(record.outcome.status, TxStatus::Returned);
    let needed = record.outcome.gas;
    assert!(needed > 500, "{needed}");
    let balance = |ledger: &mut Ledger, id: i64| {
        let q = format!(r#"{{"call":"balance","args":[{id}]}}"#);
        ledger.try_call(q.as_bytes(), 0).outcome.results[0]
    };
    let mut ran = 3;
    for limit in (1..=needed + 2).filter(|g| g % 13 == 0 || g + 3 > needed || g % 100 <= 1 || g % 100 == 99) {
        ledger.begin_block(1);
        let tx = admin.sign("transfer", vec![Value::I64(7), Value::I64(1)], limit);
        let o = ledger.execute(&tx).outcome;
        assert!(o.gas <= limit, "limit {limit}: {o:?}");
        match o.status {
            TxStatus::OutOfGas => assert!(limit < needed, "limit {limit}"),
            TxStatus::Returned => {
                assert!(limit >= needed, "limit {limit}");
                assert_eq!(o.gas, needed);
                ran += 1;
            }
            other => panic!("limit {limit}: {other:?} {o:?}"),
        }
        assert_eq!(balance(&mut ledger, 7), Value::I64(ran), "limit {limit}");
        assert_eq!(balance(&mut ledger, admin.id()), Value::I64(1000 - ran));
    }
}

// ---------------------------------------------------------------------------------------
// The caller and reserved keys
// ---------------------------------------------------------------------------------------

fn wat_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\{b:02x}")).collect()
}

/// A program that tries the reserved keys: the caller's and `victim`'s session 0's (65
/// bytes each, at 0 and 128), and the 64-byte prefix of the session's (at 256).
fn prying_module(victim: &[u8; 32]) -> Vec<u8> {
    let caller = stepper::storage::reserved_key(stepper::storage::CALLER);
    let session = cluster::ledger::session_storage_key(victim, 0);
    assert_eq!((caller.len(), session.len()), (65, 65));
    format!(
        r#"(module
          (import "verigame" "storage_read" (func $read (param i32 i32 i32 i32) (result i32)))
          (import "verigame" "storage_write" (func $write (param i32 i32 i32 i32)))
          (import "verigame" "storage_delete" (func $delete (param i32 i32) (result i32)))
          (import "verigame" "caller" (func $caller (param i32) (result i32)))
          (memory 1)
          (data (i32.const 0) "{}")
          (data (i32.const 128) "{}")
          (data (i32.const 256) "{}")
          (func (export "read") (param $at i32) (param $len i32) (result i32)
            (call $read (local.get $at) (local.get $len) (i32.const 1024) (i32.const 256)))
          (func (export "write") (param $at i32) (param $len i32)
            (i64.store (i32.const 2048) (i64.const 1000))
            (call $write (local.get $at) (local.get $len) (i32.const 2048) (i32.const 8)))
          (func (export "delete") (param $at i32) (param $len i32) (result i32)
            (call $delete (local.get $at) (local.get $len)))
          (func (export "caller_len") (result i32)
            (call $caller (i32.const 4096)))
          (func (export "caller_then_trap") (result i32)
            (drop (call $caller (i32.const 4096)))
            unreachable)
          (func (export "get") (result i32) (i32.const 0)))"#,
        wat_bytes(&caller),
        wat_bytes(&session),
        wat_bytes(&session[..64]),
    )
    .into_bytes()
}

#[test]
fn a_program_cannot_touch_reserved_keys_and_its_lookalikes_are_not_sessions() {
    let dir = scratch("adv-reserved");
    let victim_key = SigningKey::from_bytes(&[1; 32]).verifying_key().to_bytes();
    let setup = setup_with(prying_module(&victim_key), Chain::named(CHAIN), PER_CALL);
    let node = Node::create(&dir, setup.clone(), None).unwrap();
    let [mut victim, mut attacker] = [1, 2].map(|seed| Client::new(&setup, seed));
    let b = block(&node, 1, &[victim.tx(r#"{"call":"get"}"#)]);
    assert_eq!(statuses(&b), [TxStatus::Returned]);
    let txs = [
        r#"{"call":"read","args":[0, 65]}"#,
        r#"{"call":"read","args":[128, 65]}"#,
        r#"{"call":"write","args":[0, 65]}"#,
        r#"{"call":"write","args":[128, 65]}"#,
        r#"{"call":"delete","args":[0, 65]}"#,
        r#"{"call":"delete","args":[128, 65]}"#,
        // Allowed: a program's own 64-byte keys, one a prefix of the session's key.
        r#"{"call":"write","args":[256, 64]}"#,
        r#"{"call":"write","args":[128, 64]}"#,
        r#"{"call":"caller_len"}"#,
    ];
    let b = block(&node, 2, &txs.map(|t| attacker.tx(t)));
    for t in &b.txs[..6] {
        assert_eq!(t.outcome.status, TxStatus::Trapped, "{:?}", t.outcome);
    }
    assert_eq!(statuses(&b)[6..], [TxStatus::Returned, TxStatus::Returned, TxStatus::Returned]);
    assert_eq!(b.txs[8].outcome.results, vec![Value::I32(32)]);
    // The victim's session is untouched, in the state, for CheckTx, and after a restart.
    let session_key = cluster::ledger::session_storage_key(&victim_key, 0);
    let stored = query(&node, "/storage", &session_key);
    assert_eq!(stored["value"], merkle_memory::hash::bytes_to_hex(&1u64.to_le_bytes()));
    assert_eq!(check_next(&node, 1, 0, "get", vec![]), 1);
    drop(node);
    let node = Node::open(&dir, None).unwrap();
    assert_eq!(check_next(&node, 1, 0, "get", vec![]), 1);
    assert_eq!(session_next(&node, 1, 0), 1);
    let b = block(&node, 3, &[victim.tx(r#"{"call":"get"}"#)]);
    assert_eq!(statuses(&b), [TxStatus::Returned]);
    // A /call has no caller, after transactions that had one; a trapped transaction
    // leaves its own caller, never another's.
    assert_eq!(query(&node, "/call", br#"{"call":"caller_len"}"#)["results"][0]["slot"], "4294967295");
    let b = block(&node, 4, &[attacker.tx(r#"{"call":"caller_then_trap"}"#)]);
    assert_eq!(statuses(&b), [TxStatus::Trapped]);
    let caller = query(&node, "/storage", &stepper::storage::reserved_key(stepper::storage::CALLER));
    assert_eq!(caller["value"], merkle_memory::hash::bytes_to_hex(&attacker.public_key()));
    assert_eq!(query(&node, "/call", br#"{"call":"caller_len"}"#)["results"][0]["slot"], "4294967295");
    // And the /call left the caller in the state.
    let caller_after = query(&node, "/storage", &stepper::storage::reserved_key(stepper::storage::CALLER));
    assert_eq!(caller_after, caller);
}

// ---------------------------------------------------------------------------------------
// The token contract
// ---------------------------------------------------------------------------------------

#[test]
fn token_attacks_abort_and_leave_balances_as_they_were() {
    let setup = token_setup();
    let node = Node::create(&scratch("adv-token"), setup.clone(), None).unwrap();
    let [mut admin, mut alice, mut bob] = [ADMIN, 1, 2].map(|seed| Client::new(&setup, seed));
    let (a, b) = (alice.id(), bob.id());
    let balance = |id: i64| -> i64 {
        let q = format!(r#"{{"call":"balance","args":[{id}]}}"#);
        query(&node, "/call", q.as_bytes())["results"][0]["slot"].as_str().unwrap().parse::<u64>().unwrap() as i64
    };
    let code = |t: &TxRecord| {
        assert_eq!(t.outcome.status, TxStatus::Trapped, "{:?}", t.outcome);
        error(t).to_string()
    };
    let blk = block(
        &node,
        1,
        &[
            alice.tx(&format!(r#"{{"call":"mint","args":[{a}, 1000]}}"#)),
            admin.tx(&format!(r#"{{"call":"mint","args":[{a}, 100]}}"#)),
            admin.tx(&format!(r#"{{"call":"mint","args":[{b}, {}]}}"#, i64::MAX)),
            admin.tx(&format!(r#"{{"call":"mint","args":[{b}, 1]}}"#)),
            admin.tx(&format!(r#"{{"call":"mint","args":[{a}, 0]}}"#)),
            admin.tx(&format!(r#"{{"call":"mint","args":[{a}, -5]}}"#)),
        ],
    );
    assert!(code(&blk.txs[0]).contains("code 3"), "a non-admin mints");
    assert_eq!(blk.txs[1].outcome.status, TxStatus::Returned);
    assert_eq!(blk.txs[2].outcome.status, TxStatus::Returned);
    assert!(code(&blk.txs[3]).contains("code 5"), "a mint overflows");
    assert!(code(&blk.txs[4]).contains("code 4") && code(&blk.txs[5]).contains("code 4"));
    assert_eq!((balance(a), balance(b)), (100, i64::MAX));
    let blk = block(
        &node,
        2,
        &[
            alice.tx(&format!(r#"{{"call":"transfer","args":[{b}, {}]}}"#, i64::MIN)),
            alice.tx(&format!(r#"{{"call":"transfer","args":[{b}, 0]}}"#)),
            alice.tx(&format!(r#"{{"call":"transfer","args":[{b}, 101]}}"#)),
            // The recipient's balance would overflow: the debit is undone.
            alice.tx(&format!(r#"{{"call":"transfer","args":[{b}, 1]}}"#)),
            // To oneself, all of it.
            alice.tx(&format!(r#"{{"call":"transfer","args":[{a}, 100]}}"#)),
            // Exactly the balance, to someone else.
            alice.tx(r#"{"call":"transfer","args":[77, 100]}"#),
            alice.tx(r#"{"call":"transfer","args":[78, 1]}"#),
            // Bob moves what he has to alice; alice cannot spend bob's.
            bob.tx(&format!(r#"{{"call":"transfer","args":[{a}, {}]}}"#, i64::MAX)),
        ],
    );
    assert!(code(&blk.txs[0]).contains("code 4") && code(&blk.txs[1]).contains("code 4"));
    assert!(code(&blk.txs[2]).contains("code 1"));
    assert!(code(&blk.txs[3]).contains("code 5"));
    assert_eq!(blk.txs[4].outcome.results, vec![Value::I64(100)]);
    assert_eq!(blk.txs[5].outcome.results, vec![Value::I64(0)]);
    assert!(code(&blk.txs[6]).contains("code 1"));
    assert_eq!(blk.txs[7].outcome.results, vec![Value::I64(0)]);
    assert_eq!((balance(a), balance(b), balance(77), balance(78)), (i64::MAX, 0, 100, 0));
    // A /call of a transfer has no caller: it spends no one's tokens.
    let q = format!(r#"{{"call":"transfer","args":[{b}, 5]}}"#);
    assert_eq!(query(&node, "/call", q.as_bytes())["status"], "trapped");
    assert_eq!(balance(a), i64::MAX);
}

// ---------------------------------------------------------------------------------------
// Malformed envelopes
// ---------------------------------------------------------------------------------------

/// Every prefix, every padding, each malformed field, oversized input and random
/// mutations: refused with a reason by CheckTx and in a block, never a panic, nothing run.
#[test]
fn malformed_envelopes_are_refused_with_a_reason_never_a_panic() {
    let node = Node::create(&scratch("adv-malformed"), counter_setup(), None).unwrap();
    let mut c = Client::new(&counter_setup(), 1);
    let good = c.tx(r#"{"call":"add","args":[5]}"#);
    c.session.next = 0;
    let mut bad: Vec<Vec<u8>> = Vec::new();
    for len in 0..good.len() {
        bad.push(good[..len].to_vec());
    }
    for extra in [1, 2, 64, 1024 - good.len(), 1025 - good.len()] {
        bad.push([&good[..], &vec![0; extra]].concat());
    }
    let body_end = good.len() - 64;
    let with = |at: usize, byte: u8| {
        let mut b = good.clone();
        b[at] = byte;
        b
    };
    // Export length 255 with a short name; 0; argument counts 33 and 255; reference and
    // unknown tags; a name that is not UTF-8.
    bad.extend([with(61, 255), with(61, 0), with(61, 4), with(65, 33), with(65, 255)]);
    bad.extend([0x70, 0x6F, 0x7B, 0x00, 0xFF].map(|tag| with(66, tag)));
    bad.extend([with(62, 0xFF), with(62, 0xC3), with(62, 0x80)]);
    bad.push([&good[..body_end], &[0; 64][..]].concat());
    bad.push(vec![0; 1025]);
    bad.push(vec![0xFF; 1 << 20]);
    bad.push(b"{\"call\":\"add\",\"args\":[5]}".to_vec());
    // 33 arguments, hand-made and signed (the encoder refuses them).
    {
        let mut b = good[..65].to_vec();
        b.push(33);
        for _ in 0..33 {
            b.extend_from_slice(&[0x7F, 1, 0, 0, 0]);
        }
        b.extend_from_slice(&[0; 64]);
        bad.push(b);
    }
    // A valid one whose export or arguments do not fit the contract.
    bad.push(raw(1, CHAIN, 0, 0, 10, "add", vec![Value::I64(5)]));
    bad.push(raw(1, CHAIN, 0, 0, 10, "add", vec![Value::I32(5), Value::I32(5)]));
    bad.push(raw(1, CHAIN, 0, 0, 10, "memory", vec![]));
    bad.push(raw(1, CHAIN, 0, 0, 10, "nope\u{0}", vec![]));
    bad.push(raw(1, CHAIN, 0, 0, 10, &"é".repeat(127), vec![]));
    // Random mutations.
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut rand = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..300 {
        let mut m = good.clone();
        for _ in 0..1 + rand() % 3 {
            let at = (rand() % m.len() as u64) as usize;
            m[at] = rand() as u8;
        }
        if m != good {
            bad.push(m);
        }
    }
    for tx in &bad {
        let refused = node.check(tx).unwrap_err().to_string();
        assert!(!refused.is_empty());
    }
    let b = block(&node, 1, &bad);
    for t in &b.txs {
        assert_eq!(t.outcome.status, TxStatus::Rejected, "{:?}", t.outcome);
        assert!(!error(t).is_empty());
    }
    assert_eq!(get(&node), "0");
    assert_eq!(session_next(&node, 1, 0), 0);
    // /tx reads a stored transaction that is not an envelope as such: `call` null.
    let answer = query(&node, "/tx", &Sha256::digest(&bad[3]));
    assert!(answer["call"].is_null(), "{answer}");
    // The good one still runs.
    assert_eq!(statuses(&block(&node, 2, &[good])), [TxStatus::Returned]);
    assert_eq!(get(&node), "5");
}

// ---------------------------------------------------------------------------------------
// Host functions exported as entry points
// ---------------------------------------------------------------------------------------

/// A contract may export an imported host function as it is: a transaction then calls
/// the host function as its entry. The machine would run a host entry function inside
/// `invoke_with_budget` without charging its price (a storage write, 100 gas, under a gas
/// limit of 1): the node offers no re-exported host function as a call.
#[test]
fn a_host_function_exported_as_an_entry_is_not_a_call() {
    let wat = r#"(module
      (import "verigame" "storage_write" (func $write (param i32 i32 i32 i32)))
      (memory 1)
      (data (i32.const 0) "key-aaaa")
      (export "write" (func $write))
      (func (export "get") (result i32) (i32.const 0)))"#;
    let setup = setup_with(wat.as_bytes().to_vec(), Chain::named(CHAIN), PER_CALL);
    let node = Node::create(&scratch("adv-host-entry"), setup.clone(), None).unwrap();
    let mut c = Client::new(&setup, 1);
    let args = vec![Value::I32(0), Value::I32(8), Value::I32(0), Value::I32(8)];
    let cheap = c.sign("write", args, 1);
    let b = block(&node, 1, &[cheap]);
    let written = query(&node, "/storage", b"key-aaaa")["value"].clone();
    let o = &b.txs[0].outcome;
    assert!(
        o.status == TxStatus::Rejected && written.is_null(),
        "a re-exported storage function ran as a transaction's call: {o:?}, stored {written}"
    );
    assert!(o.error.as_deref().unwrap().contains("no exported function `write`"), "{o:?}");
}
