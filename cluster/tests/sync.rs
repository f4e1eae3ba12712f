//! State sync without CometBFT: a node's snapshots listed and loaded in chunks, offered
//! to a fresh node and applied; bad offers and chunks refused; the synced node follows
//! the chain and restarts.

use std::fs;
use std::path::Path;
use std::sync::Arc;

mod common;

use common::{block, scratch};

use cluster::envelope::{Session, SigningKey};
use cluster::history::{Chain, NodeSetup, TxStatus};
use cluster::node::Node;
use cluster::sync::{Metadata, FORMAT};
use merkle_memory::hash::keccak;
use stepper::{Config, Module, Value};
use tendermint_abci::Application;
use tendermint_proto::v0_38::abci::response_apply_snapshot_chunk::Result as ApplyResult;
use tendermint_proto::v0_38::abci::response_offer_snapshot::Result as OfferResult;
use tendermint_proto::v0_38::abci::{
    RequestApplySnapshotChunk, RequestLoadSnapshotChunk, RequestOfferSnapshot, ResponseApplySnapshotChunk, Snapshot,
};

/// A counter, and a call that fills 100 KiB of memory with distinct words: a state
/// whose snapshot has several chunks.
const CONTRACT: &str = r#"
(module
  (memory 2)
  (func (export "add") (param $n i32) (result i32)
    (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (local.get $n)))
    (i32.load (i32.const 0)))
  (func (export "fail") (param $n i32)
    (i32.store (i32.const 0) (local.get $n))
    unreachable)
  (func (export "fill") (local $i i32)
    (loop $l
      (i32.store (i32.add (i32.const 4) (local.get $i)) (i32.mul (local.get $i) (i32.const 0x9E3779B1)))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 102400))))))
"#;

fn setup_of(bytes: Vec<u8>) -> NodeSetup {
    let module = Module::new(&bytes).unwrap();
    let config = Config { gas_limit: 10_000_000, ..Config::default() };
    NodeSetup { module_bytes: Arc::new(bytes), module, config, snapshot_interval: 2, chain: Chain::named(CHAIN) }
}

fn setup() -> NodeSetup {
    setup_of(wat::parse_str(CONTRACT).unwrap())
}

const CHAIN: &str = "test-chain";

/// The one client's session, at counter `next`.
fn session(next: u64) -> Session {
    Session::new(SigningKey::from_bytes(&[1; 32]), CHAIN, 0, next)
}

/// Block `height`'s transactions (from 2 on): an add and a failing call, with the
/// counters that follow block 1's fill: the same bytes for every node.
fn adds(height: u64) -> Vec<Vec<u8>> {
    let mut client = session(2 * height - 3);
    let mut sign =
        |export: &str, arg: i32| client.sign(export, vec![Value::I32(arg)], 1_000_000).unwrap().encode().unwrap();
    vec![sign("add", height as i32), sign("fail", 1)]
}

/// A node with blocks 1 to `height`, a snapshot every 2.
fn source(name: &str, height: u64) -> Node {
    let node = Node::create(&scratch(name), setup(), None).unwrap();
    let fill = block(&node, 1, &[session(0).sign("fill", vec![], 1_000_000).unwrap().encode().unwrap()]);
    assert_eq!(fill.txs[0].outcome.status, TxStatus::Returned);
    for h in 2..=height {
        let statuses: Vec<TxStatus> = block(&node, h, &adds(h)).txs.iter().map(|t| t.outcome.status).collect();
        assert_eq!(statuses, [TxStatus::Returned, TxStatus::Trapped]);
    }
    node
}

fn offer(node: &Node, snapshot: &Snapshot, app_hash: &[u8]) -> OfferResult {
    let request = RequestOfferSnapshot { snapshot: Some(snapshot.clone()), app_hash: app_hash.to_vec().into() };
    OfferResult::try_from(node.offer_snapshot(request).result).unwrap()
}

fn apply(node: &Node, index: u32, chunk: Vec<u8>, sender: &str) -> ResponseApplySnapshotChunk {
    node.apply_snapshot_chunk(RequestApplySnapshotChunk { index, chunk: chunk.into(), sender: sender.into() })
}

fn result(response: &ResponseApplySnapshotChunk) -> ApplyResult {
    ApplyResult::try_from(response.result).unwrap()
}

fn load(node: &Node, snapshot: &Snapshot, chunk: u32) -> Vec<u8> {
    let request = RequestLoadSnapshotChunk { height: snapshot.height, format: snapshot.format, chunk };
    node.load_snapshot_chunk(request).chunk.to_vec()
}

fn latest(node: &Node) -> Snapshot {
    node.list_snapshots().snapshots.pop().expect("a snapshot")
}

fn app_hash_at(node: &Node, height: u64) -> String {
    let answer = node.answer("/state", height.to_string().as_bytes()).unwrap();
    serde_json::from_slice::<serde_json::Value>(&answer).unwrap()["app_hash"].as_str().unwrap().to_string()
}

#[test]
fn a_fresh_node_restores_a_snapshot_follows_the_chain_and_restarts() {
    let a = source("sync-source", 7);
    let listed = a.list_snapshots().snapshots;
    // Snapshots after blocks 2, 4, 6; the fresh contract's (0) is not offered.
    assert_eq!(listed.iter().map(|s| s.height).collect::<Vec<_>>(), vec![2, 4, 6]);
    let snapshot = latest(&a);
    let metadata = Metadata::parse(&snapshot.metadata).unwrap();
    assert_eq!((snapshot.format, snapshot.hash.to_vec()), (FORMAT, keccak(&snapshot.metadata).to_vec()));
    // 100 KiB of memory written: more than one chunk.
    assert!(snapshot.chunks >= 2, "{} chunks", snapshot.chunks);
    assert!(load(&a, &snapshot, snapshot.chunks).is_empty(), "a chunk past the last");

    let dir = scratch("sync-fresh");
    let b = Node::create(&dir, setup(), None).unwrap();
    assert_eq!(b.committed().0, 0);
    let verified = metadata.block.app_hash();
    assert_eq!(merkle_memory::hex(&verified), app_hash_at(&a, 6));
    assert_eq!(offer(&b, &snapshot, &verified), OfferResult::Accept);
    for i in 0..snapshot.chunks {
        let chunk = load(&a, &snapshot, i);
        // A chunk that is not the one the metadata names: fetched again, its sender rejected.
        let mut tampered = chunk.clone();
        tampered[0] ^= 1;
        for bad in [tampered, chunk[1..].to_vec(), Vec::new()] {
            let refused = apply(&b, i, bad, "liar");
            assert_eq!(result(&refused), ApplyResult::Retry);
            assert_eq!((refused.refetch_chunks, refused.reject_senders), (vec![i], vec!["liar".to_string()]));
        }
        assert!(dir.join("restore").exists(), "chunks are staged on disk");
        assert_eq!(result(&apply(&b, i, chunk, "peer")), ApplyResult::Accept);
    }
    assert_eq!(b.committed(), (6, metadata.block.app_hash()));
    assert_eq!(b.first_height(), 6);
    assert!(!dir.join("restore").exists());
    // The base is listed again; nothing of the fresh contract is left.
    assert_eq!(b.list_snapshots().snapshots, vec![snapshot.clone()]);
    // A synced node is offered nothing more.
    assert_eq!(offer(&b, &snapshot, &verified), OfferResult::Abort);

    // The synced node goes on from block 7 as the node it synced from did.
    assert_eq!(merkle_memory::hex(&block(&b, 7, &adds(7)).app_hash), app_hash_at(&a, 7));
    for h in 8..=11 {
        assert_eq!(block(&b, h, &adds(h)).app_hash, block(&a, h, &adds(h)).app_hash);
    }
    // Below the base, the node holds nothing and says so.
    let below = b.answer("/state", b"5").unwrap_err().to_string();
    assert!(below.contains("joined by state sync at block 6"), "{below}");
    let below = b.query_at("/storage", b"k", 3, false).err().expect("below the base").to_string();
    assert!(below.contains("joined by state sync at block 6"), "{below}");
    // Proven answers hold at the base and after it, against the app hashes of the node it
    // synced from.
    for height in [6, 8] {
        let answer = b.query_at("/storage", b"k", height, true).unwrap();
        let app_hash = merkle_memory::parse_hex(&app_hash_at(&a, height)).unwrap();
        answer.proof.unwrap().verify(&app_hash).unwrap();
        let state = b.query_at("/state", b"", height, true).unwrap();
        state.proof.unwrap().verify(&app_hash).unwrap();
    }

    // Pruning keeps the base; a restart is from the disk alone.
    let b = b.retaining(cluster::node::Retention { snapshots: 1, blocks: 0 });
    block(&b, 12, &adds(12));
    block(&a, 12, &adds(12));
    let heights: Vec<u64> = b.list_snapshots().snapshots.iter().map(|s| s.height).collect();
    assert_eq!(heights, vec![6, 12]);
    drop(b);
    let b = Node::open(&dir, None).unwrap();
    assert_eq!(b.committed(), a.committed());
    let b13 = block(&b, 13, &adds(13));
    assert_eq!(b13.app_hash, block(&a, 13, &adds(13)).app_hash);
    let report = cluster::validate::validate(
        &dir,
        &cluster::validate::Options {
            from: None,
            to: None,
            degree: 2,
            limits: traces::Limits::default(),
            challenge: None,
        },
        &|_, _| {},
    )
    .unwrap();
    assert!(report.wrong.is_none());
    assert_eq!((report.from, report.to), (7, 13));
}

#[test]
fn offers_the_node_must_not_take_are_refused() {
    let a = source("sync-offers", 4);
    let snapshot = latest(&a);
    let metadata = Metadata::parse(&snapshot.metadata).unwrap();
    let verified = metadata.block.app_hash();
    let b = Node::create(&scratch("sync-offers-fresh"), setup(), None).unwrap();

    // An app hash other than the verified one: the snapshot is not the chain's.
    assert_eq!(offer(&b, &snapshot, &[7; 32]), OfferResult::Reject);
    assert_eq!(offer(&b, &snapshot, b"short"), OfferResult::Reject);
    assert_eq!(offer(&b, &Snapshot { format: 2, ..snapshot.clone() }, &verified), OfferResult::RejectFormat);
    assert_eq!(offer(&b, &Snapshot { height: 3, ..snapshot.clone() }, &verified), OfferResult::Reject);
    assert_eq!(offer(&b, &Snapshot { chunks: 1000, ..snapshot.clone() }, &verified), OfferResult::Reject);
    assert_eq!(offer(&b, &Snapshot { hash: vec![0; 32].into(), ..snapshot.clone() }, &verified), OfferResult::Reject);

    // Malformed or absurd metadata, each with its right hash.
    let with = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut json: serde_json::Value = serde_json::from_slice(&snapshot.metadata).unwrap();
        change(&mut json);
        let bytes = serde_json::to_vec(&json).unwrap();
        Snapshot { hash: keccak(&bytes).to_vec().into(), metadata: bytes.into(), ..snapshot.clone() }
    };
    let bad: Vec<(&str, Snapshot)> = vec![
        (
            "not JSON",
            Snapshot { metadata: b"{".to_vec().into(), hash: keccak(b"{").to_vec().into(), ..snapshot.clone() },
        ),
        ("chunk size 0", with(&|j| j["chunk_size"] = 0.into())),
        ("chunk size 1 GiB", with(&|j| j["chunk_size"] = (1u64 << 30).into())),
        ("size beyond the chunks", with(&|j| j["size"] = u64::MAX.into())),
        ("no chunks", with(&|j| j["chunks"] = serde_json::json!([]))),
        ("10,000 chunks", with(&|j| j["chunks"] = vec![j["chunks"][0].clone(); 10_000].into())),
        ("a chunk hash not 32 bytes", with(&|j| j["chunks"][0] = "0x12".into())),
        ("another contract", with(&|j| j["module_hash"] = merkle_memory::hex(&[1; 32]).into())),
        ("another gas limit", with(&|j| j["config"]["gas_limit"] = 5.into())),
        ("an unknown field", with(&|j| j["extra"] = 1.into())),
        ("height 0", with(&|j| j["block"]["height"] = 0.into())),
    ];
    for (what, snapshot) in &bad {
        assert_eq!(offer(&b, snapshot, &verified), OfferResult::Reject, "{what}");
    }
    let huge = vec![b' '; cluster::sync::MAX_METADATA + 1];
    let huge = Snapshot { hash: keccak(&huge).to_vec().into(), metadata: huge.into(), ..snapshot.clone() };
    assert_eq!(offer(&b, &huge, &verified), OfferResult::Reject);
    // A contract other than the snapshot's.
    let other = Node::create(
        &scratch("sync-offers-other"),
        setup_of(fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/contracts/token.wat")).unwrap()),
        None,
    )
    .unwrap();
    assert_eq!(offer(&other, &snapshot, &verified), OfferResult::Reject);
    // Chunks with no snapshot offered, or past the offered snapshot's last.
    assert_eq!(result(&apply(&b, 0, load(&a, &snapshot, 0), "peer")), ApplyResult::Abort);
    assert_eq!(offer(&b, &snapshot, &verified), OfferResult::Accept);
    let past = apply(&b, snapshot.chunks, Vec::new(), "peer");
    assert_eq!((result(&past), past.reject_senders), (ApplyResult::Abort, vec![]));
    assert_eq!(result(&apply(&b, 0, load(&a, &snapshot, 0), "peer")), ApplyResult::Abort);
    assert_eq!(b.committed().0, 0);
}

#[test]
fn chunks_that_match_their_hashes_but_not_the_verified_state_are_refused() {
    let a = source("sync-lies", 4);
    let snapshot = latest(&a);
    let metadata = Metadata::parse(&snapshot.metadata).unwrap();
    let verified = metadata.block.app_hash();
    let b = Node::create(&scratch("sync-lies-fresh"), setup(), None).unwrap();
    // Metadata naming the verified block, with chunks of other bytes: garbage, then the
    // state after block 2.
    let earlier = a.list_snapshots().snapshots[0].clone();
    let earlier_bytes: Vec<u8> = (0..earlier.chunks).flat_map(|i| load(&a, &earlier, i)).collect();
    for (bytes, why) in [(vec![0xAB; 100_000], "do not restore"), (earlier_bytes, "state hash")] {
        let lie = Metadata::describe(&setup(), metadata.block, &bytes).unwrap();
        let lie_bytes = serde_json::to_vec(&lie).unwrap();
        let lying = Snapshot {
            chunks: lie.chunks.len() as u32,
            hash: keccak(&lie_bytes).to_vec().into(),
            metadata: lie_bytes.into(),
            ..snapshot.clone()
        };
        assert_eq!(offer(&b, &lying, &verified), OfferResult::Accept, "{why}");
        let chunks: Vec<&[u8]> = bytes.chunks(lie.chunk_size as usize).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let response = apply(&b, i as u32, chunk.to_vec(), &format!("peer{}", i % 2));
            if i + 1 < chunks.len() {
                assert_eq!(result(&response), ApplyResult::Accept);
            } else {
                assert_eq!(result(&response), ApplyResult::RejectSnapshot, "{why}");
                let senders = if chunks.len() > 1 { vec!["peer0", "peer1"] } else { vec!["peer0"] };
                assert_eq!(response.reject_senders, senders);
            }
        }
        assert_eq!(b.committed().0, 0);
    }
    // The true snapshot is still taken afterwards.
    assert_eq!(offer(&b, &snapshot, &verified), OfferResult::Accept);
    for i in 0..snapshot.chunks {
        assert_eq!(result(&apply(&b, i, load(&a, &snapshot, i), "peer")), ApplyResult::Accept);
    }
    assert_eq!(b.committed(), a.committed());
}
