//! Contracts on the bytes ABI (docs/abi.md): the C token (tests/contracts/token.c) and the
//! Rust SDK's counter (tests/contracts/counter_rs.wasm) on a node. Input bytes reach the
//! call's standard input; its output, standard error, exit code and emitted values reach
//! its outcome; a nonzero exit or a panic fails the call with its stderr kept; and a
//! validator replaying the chain, and a dispute rebuilding a call, give the same input.

mod common;

use std::fs;
use std::path::Path;
use std::sync::Arc;

use cluster::envelope::{Session, SigningKey};
use cluster::history::{Chain, NodeSetup, TxStatus};
use cluster::node::Node;
use common::{block, query, scratch};
use stepper::{Config, Module, Value};

const CHAIN: &str = "verigame-contracts";
const ADMIN: u8 = 9;

fn setup(contract: &str, snapshot_interval: u64) -> NodeSetup {
    let bytes = fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/contracts").join(contract)).unwrap();
    let module = Module::new(&bytes).unwrap();
    let mut gas = stepper::GasTable::default();
    gas.costs[stepper::op::GasClass::Storage as usize] = cluster::node::STORAGE_PRICE;
    let config = Config { gas_limit: 1_000_000, gas, ..Config::default() };
    let admin = SigningKey::from_bytes(&[ADMIN; 32]).verifying_key().to_bytes();
    let chain = Chain { admin: Some(admin), ..Chain::named(CHAIN) };
    NodeSetup { module_bytes: Arc::new(bytes), module, config, snapshot_interval, chain }
}

struct Client(Session);

impl Client {
    fn new(seed: u8) -> Self {
        Self(Session::new(SigningKey::from_bytes(&[seed; 32]), CHAIN, 0, 0))
    }

    fn id(&self) -> i64 {
        i64::from_le_bytes(self.0.public_key()[..8].try_into().unwrap())
    }

    fn call(&mut self, export: &str, args: Vec<Value>, input: &[u8]) -> Vec<u8> {
        self.0.sign_with_input(export, args, input.to_vec(), 1_000_000).unwrap().encode().unwrap()
    }
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap()
}

#[test]
fn the_c_token_runs_as_the_wat_one_and_its_echo_reads_input_and_writes_output() {
    let dir = scratch("contracts-c-token");
    let node = Node::create(&dir, setup("token.wasm", 5), None).unwrap();
    let (mut admin, mut alice, mut bob) = (Client::new(ADMIN), Client::new(1), Client::new(2));
    let txs = vec![
        admin.call("mint", vec![Value::I64(alice.id()), Value::I64(100)], b""),
        alice.call("transfer", vec![Value::I64(bob.id()), Value::I64(30)], b""),
        // Overdrawn: aborts with 1 and is undone.
        bob.call("transfer", vec![Value::I64(alice.id()), Value::I64(31)], b""),
        // Not the admin: 3.
        bob.call("mint", vec![Value::I64(bob.id()), Value::I64(1)], b""),
        alice.call("echo", vec![], b"world"),
        bob.call("echo", vec![], b""),
        bob.call("balance", vec![Value::I64(bob.id())], b"ignored input"),
    ];
    let b1 = block(&node, 1, &txs);
    let o: Vec<_> = b1.txs.iter().map(|t| &t.outcome).collect();
    assert_eq!(o[0].results, vec![Value::I64(100)]);
    assert_eq!(o[1].results, vec![Value::I64(70)]);
    assert_eq!(o[2].status, TxStatus::Trapped);
    assert!(o[2].error.as_deref().unwrap().contains("code 1"), "{:?}", o[2]);
    assert!(o[3].error.as_deref().unwrap().contains("code 3"), "{:?}", o[3]);
    // Bytes in, bytes out, a value emitted.
    assert_eq!((o[4].status, text(&o[4].stdout)), (TxStatus::Returned, "HELLO, WORLD"));
    assert_eq!((&o[4].results[..], &o[4].emitted[..], o[4].exit_code), (&[Value::I32(12)][..], &[12][..], None));
    assert!(o[4].stderr.is_empty());
    // A nonzero exit fails the call; what it wrote to stderr reaches the caller.
    assert_eq!((o[5].status, o[5].exit_code, text(&o[5].stderr)), (TxStatus::Trapped, Some(7), "echo: no input\n"));
    assert!(o[5].error.as_deref().unwrap().contains("exited with code 7"), "{:?}", o[5]);
    assert!(o[5].emitted.is_empty() && o[5].stdout.is_empty());
    // Undone: the state after it is the one after the call before, but for its counter.
    assert_eq!(o[6].results, vec![Value::I64(30)]);

    // The same calls on token.wat give the same results.
    let wat = Node::create(&scratch("contracts-wat-token"), setup("token.wat", 5), None).unwrap();
    let w1 = block(&wat, 1, &txs[..4]);
    for (c, w) in b1.txs.iter().zip(&w1.txs) {
        assert_eq!((c.outcome.status, &c.outcome.results), (w.outcome.status, &w.outcome.results));
    }

    // /tx shows the output, stderr and emitted values; the envelope's input too.
    let hash = cluster::envelope::tx_hash(&txs[4]);
    let answer = query(&node, "/tx", &hash);
    assert_eq!(answer["outcome"]["stdout"], "HELLO, WORLD");
    assert_eq!(answer["outcome"]["emitted"], serde_json::json!([12]));
    assert_eq!(answer["call"]["input"], "world");
    let answer = query(&node, "/tx", &cluster::envelope::tx_hash(&txs[5]));
    assert_eq!(
        (answer["outcome"]["stderr"].as_str(), answer["outcome"]["exit_code"].as_u64()),
        (Some("echo: no input\n"), Some(7))
    );
    // /call takes input as text or hex.
    let called = query(&node, "/call", br#"{"call":"echo","input":"abc"}"#);
    assert_eq!(called["stdout"], "HELLO, ABC");
    let called = query(&node, "/call", br#"{"call":"echo","input_hex":"0xff00"}"#);
    assert_eq!(called["stdout"]["hex"], "0x48454c4c4f2c20ff00");
}

#[test]
fn the_rust_counter_keeps_its_count_echoes_bytes_and_reports_its_panic() {
    let dir = scratch("contracts-rust-counter");
    let node = Node::create(&dir, setup("counter_rs.wasm", 5), None).unwrap();
    let mut c = Client::new(1);
    let b1 = block(
        &node,
        1,
        &[
            c.call("increment", vec![Value::I64(5)], b""),
            c.call("increment", vec![Value::I64(2)], b""),
            c.call("echo", vec![], b"abc"),
            c.call("boom", vec![Value::I32(-4)], b""),
            c.call("boom", vec![Value::I32(3)], b""),
            c.call("get", vec![], b""),
        ],
    );
    let o: Vec<_> = b1.txs.iter().map(|t| &t.outcome).collect();
    assert_eq!((&o[0].results[..], &o[0].emitted[..]), (&[Value::I64(5)][..], &[5][..]));
    assert_eq!((&o[1].results[..], &o[1].emitted[..]), (&[Value::I64(7)][..], &[7][..]));
    assert_eq!((text(&o[2].stdout), &o[2].results[..]), ("echo: cba", &[Value::I32(9)][..]));
    // The panic's message reaches the caller.
    assert_eq!(o[3].status, TxStatus::Trapped);
    assert!(text(&o[3].stderr).contains("boom: n is -4"), "{:?}", o[3]);
    assert_eq!(o[4].results, vec![Value::I32(3)]);
    assert_eq!(o[5].results, vec![Value::I64(7)]);
}

#[test]
fn a_validator_and_a_dispute_replay_bytes_transactions_as_the_node_ran_them() {
    let dir = scratch("contracts-validate");
    let setup = setup("token.wasm", 2);
    let node = Node::create(&dir, setup.clone(), None).unwrap();
    let (mut admin, mut alice) = (Client::new(ADMIN), Client::new(1));
    for h in 1..=5u64 {
        let word = format!("block {h} ünïcödé");
        block(
            &node,
            h,
            &[
                admin.call("mint", vec![Value::I64(alice.id()), Value::I64(h as i64)], b""),
                alice.call("echo", vec![], word.as_bytes()),
                alice.call("echo", vec![], &[0xFF, h as u8]),
                alice.call("echo", vec![], b""),
            ],
        );
    }
    let limits = traces::Limits::default();
    for from in [None, Some(4)] {
        let options = cluster::validate::Options { from, to: None, degree: 2, limits: limits.clone(), challenge: None };
        let report = cluster::validate::validate(&dir, &options, &|_, _| {}).unwrap();
        assert!(report.wrong.is_none(), "from {from:?}: {}", report.to_json());
    }
    // A dispute's call of a committed echo starts with the input the node gave it, and
    // ends on the state the node recorded.
    let (_, blocks) = cluster::history::History::read(&dir, false).unwrap();
    let record = &blocks[2].txs[1];
    let call = cluster::disputes::committed_call(&dir, 3, 1, None).unwrap();
    assert_eq!(call.input.stdin, "block 3 ünïcödé".as_bytes());
    assert_eq!(call.input.args, vec![b"echo".to_vec()]);
    assert_eq!(call.input.clock, 3 * cluster::ledger::CLOCK_PER_BLOCK);
    assert_eq!(call.input.seed, merkle_memory::hash::keccak(&record.tx));
    let mut machine = call.start().unwrap();
    machine.run(u64::MAX);
    assert_eq!(machine.io().stdout().to_vec(), "HELLO, BLOCK 3 üNïCöDé".as_bytes());
    assert_eq!(merkle_memory::state_hash(&mut machine), record.post_hash);
}
