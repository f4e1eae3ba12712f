//! The contract a node hosts: one wasm instance whose memory, globals and tables persist
//! across calls. A transaction is a signed envelope; a call that does not return (or
//! exits with a nonzero code) leaves the state as it was before it. The node and the
//! batch validator both run transactions through this, and a dispute rebuilds a call's
//! WASI input with [`call_input`] as they do (docs/abi.md).

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{bail, Result};
use merkle_memory::{hash::keccak, state_hash, Hash};
use serde_json::Value as Json;
use stepper::storage::{reserved_key, CALLER};
use stepper::store::Func;
use stepper::{CallInput, Extern, Machine, Status, ValType, Value};
use traces::fault::{Executor, Progress};
use traces::Fault;

use crate::envelope::{Body, Envelope, EnvelopeError};
use crate::history::{Chain, NodeSetup, TxOutcome, TxRecord, TxStatus};
use crate::values::parse_value;

/// The contract's exported functions: what checking a transaction needs, shared without
/// the state's lock.
#[derive(Clone, Debug, Default)]
pub struct Exports {
    funcs: HashMap<String, (u32, Vec<ValType>)>,
}

/// A transaction read: the function's address, its arguments and its input bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Tx {
    pub export: String,
    pub func: u32,
    pub args: Vec<Value>,
    /// The call's standard input.
    pub input: Vec<u8>,
}

/// Nanoseconds of the WASI clock per block height: a call in block `h` reads the
/// real-time clock as `h` seconds after the Unix epoch at its first step.
pub const CLOCK_PER_BLOCK: u64 = 1_000_000_000;

/// The WASI input of a call of `export` with `stdin` in block `height`, whose seed
/// comes from `tx` (a transaction's envelope bytes, a query's data): `argv` is the
/// export's name alone, the environment is empty, standard input is the transaction's
/// input bytes, the seed is `keccak(tx)` and the clock is `height` seconds
/// ([`CLOCK_PER_BLOCK`]). Everything that runs a transaction builds its input here, so a
/// node, a validator's replay and a dispute run the same call (docs/abi.md).
pub fn call_input(export: &str, stdin: &[u8], tx: &[u8], height: u64) -> CallInput {
    CallInput {
        args: vec![export.as_bytes().to_vec()],
        env: Vec::new(),
        stdin: stdin.to_vec(),
        seed: keccak(tx),
        clock: height.saturating_mul(CLOCK_PER_BLOCK),
    }
}

impl Exports {
    fn of(machine: &Machine, instance: u32) -> Self {
        let module = &machine.store().instances[instance as usize].module;
        let funcs = module
            .exports
            .iter()
            .filter_map(|(name, _, _)| match machine.export(instance, name) {
                // A host function re-exported is not a call a transaction may make: it
                // would run as the entry, outside the gas its caller budgets.
                Some(Extern::Func(f)) if !matches!(machine.store().funcs[f as usize], Func::Host { .. }) => {
                    Some((name.clone(), (f, machine.store().func_type(f).params.clone())))
                }
                _ => None,
            })
            .collect();
        Self { funcs }
    }

    /// The call of `export` with `args`, which must match its signature.
    pub fn resolve(&self, export: &str, args: &[Value]) -> Result<Tx> {
        let (func, params) = self.lookup(export)?;
        if args.len() != params.len() || args.iter().zip(params).any(|(a, &t)| a.ty() != t) {
            let want: Vec<String> = params.iter().map(|t| t.to_string()).collect();
            let given: Vec<String> = args.iter().map(|a| a.ty().to_string()).collect();
            bail!("`{export}` takes ({}), the transaction gives ({})", want.join(", "), given.join(", "));
        }
        Ok(Tx { export: export.to_string(), func, args: args.to_vec(), input: Vec::new() })
    }

    /// The function `export` names, with its parameter types.
    fn lookup(&self, export: &str) -> Result<(u32, &[ValType])> {
        let Some((func, params)) = self.funcs.get(export) else {
            let mut names: Vec<&str> = self.funcs.keys().map(String::as_str).collect();
            names.sort_unstable();
            bail!("no exported function `{export}`; exported functions: {}", names.join(", "));
        };
        Ok((*func, params))
    }

    /// Reads `{"call": EXPORT, "args": [...], "input": TEXT}` (the query `/call`'s data);
    /// arguments are JSON numbers or strings, parsed by the function's signature as
    /// `verigame run` parses them; the optional input is UTF-8 text, or bytes in
    /// `"input_hex": "0x…"`.
    pub fn parse(&self, tx: &[u8]) -> Result<Tx> {
        let json: Json = serde_json::from_slice(tx).map_err(|e| anyhow::anyhow!("the transaction is not JSON: {e}"))?;
        let Some(export) = json["call"].as_str() else { bail!("the transaction has no \"call\" (the export to call)") };
        let (func, params) = self.lookup(export)?;
        let args = match &json["args"] {
            Json::Null => Vec::new(),
            Json::Array(a) => a.clone(),
            _ => bail!("\"args\" is not a list"),
        };
        if args.len() != params.len() {
            bail!("`{export}` takes {} argument(s), {} given", params.len(), args.len());
        }
        let args = params
            .iter()
            .zip(&args)
            .enumerate()
            .map(|(i, (&ty, a))| {
                let text = match a {
                    Json::String(s) => s.clone(),
                    Json::Number(n) => n.to_string(),
                    other => bail!("argument {} is {other}, not a number or a string", i + 1),
                };
                parse_value(ty, &text).map_err(|e| anyhow::anyhow!("argument {}: {e:#}", i + 1))
            })
            .collect::<Result<Vec<_>>>()?;
        let input = match (&json["input"], &json["input_hex"]) {
            (Json::Null, Json::Null) => Vec::new(),
            (Json::String(text), Json::Null) => text.as_bytes().to_vec(),
            (Json::Null, Json::String(hex)) => merkle_memory::hash::hex_to_bytes(hex)
                .ok_or_else(|| anyhow::anyhow!("\"input_hex\" is not 0x and pairs of hex digits"))?,
            (Json::Null, _) => bail!("\"input_hex\" is not a string"),
            (_, Json::Null) => bail!("\"input\" is not a string"),
            _ => bail!("give \"input\" or \"input_hex\", not both"),
        };
        if input.len() > crate::envelope::MAX_INPUT_LEN {
            bail!(
                "the input has {} bytes, more than the {} a call may carry",
                input.len(),
                crate::envelope::MAX_INPUT_LEN
            );
        }
        Ok(Tx { export: export.to_string(), func, args, input })
    }
}

/// The contract's state between calls, and how this node executes calls.
#[derive(Clone, Debug)]
pub struct Ledger {
    pub executor: Executor,
    pub exports: Arc<Exports>,
    /// The chain whose transactions this ledger runs: their signatures bind its id.
    pub chain: Arc<Chain>,
    /// What is left of the block's gas budget: the gas limits of the transactions
    /// admitted in this block so far are taken from it ([`Ledger::begin_block`]).
    block_gas_left: u64,
    /// The block being run: its height sets the calls' clock ([`call_input`]).
    height: u64,
}

/// Why a transaction was not run: it changes nothing, and its outcome says why.
#[derive(Debug)]
pub struct Refusal(pub String);

/// A transaction that may run: its call, and the budget and session it uses.
#[derive(Clone, Debug)]
pub struct Admitted {
    pub envelope: Envelope,
    pub call: Tx,
}

/// The name of the reserved storage keys that hold sessions' counters, before the session.
const SESSION_PREFIX: &[u8] = b"verigame/session/";

/// The reserved storage key holding session `session` of `public_key`'s next counter (8
/// bytes, little-endian; absent: 0).
pub fn session_storage_key(public_key: &[u8; 32], session: u64) -> Vec<u8> {
    let mut name = SESSION_PREFIX.to_vec();
    name.extend_from_slice(&crate::envelope::session_key(public_key, session));
    reserved_key(&name)
}

/// The contract's storage key for a chain's admin key.
pub const ADMIN_KEY: &[u8] = b"admin";

impl Ledger {
    /// The contract freshly instantiated for `setup`'s chain (its admin key stored under
    /// `admin`), executing with `fault` (honest if `None`).
    pub fn new(setup: &NodeSetup, fault: Option<Fault>) -> Result<Self> {
        let (mut machine, _) = Machine::load(&setup.module, setup.config.clone())?;
        if let Some(admin) = setup.chain.admin {
            machine.storage_mut().set(ADMIN_KEY, Some(&admin));
        }
        Ok(Self::on(machine, fault, &setup.chain))
    }

    /// The contract in `machine` (a restored snapshot, or a fresh instance) on `chain`.
    pub fn on(machine: Machine, fault: Option<Fault>, chain: &Chain) -> Self {
        let instance = machine.store().instances.len() as u32 - 1;
        let exports = Arc::new(Exports::of(&machine, instance));
        let chain = Arc::new(chain.clone());
        let block_gas_left = chain.block_gas_limit;
        Self { executor: Executor::new(machine, fault), exports, block_gas_left, chain, height: 0 }
    }

    /// Starts block `height`: its transactions may reserve the chain's block gas limit
    /// together, and read `height` seconds on the clock.
    pub fn begin_block(&mut self, height: u64) {
        self.block_gas_left = self.chain.block_gas_limit;
        self.height = height;
    }

    /// The block being run (0 before any).
    pub fn height(&self) -> u64 {
        self.height
    }

    pub fn state_hash(&mut self) -> Hash {
        state_hash(&mut self.executor.machine)
    }

    /// The next counter session `session` of `public_key` must use.
    pub fn next_counter(&self, public_key: &[u8; 32], session: u64) -> u64 {
        let stored = self.executor.machine.store().storage.get(&session_storage_key(public_key, session));
        stored.and_then(|v| v.try_into().ok()).map_or(0, u64::from_le_bytes)
    }

    /// Every used session (its 40-byte key: public key and session number) with its next
    /// counter.
    pub fn sessions(&self) -> impl Iterator<Item = ([u8; 40], u64)> + '_ {
        let prefix = SESSION_PREFIX;
        self.executor.machine.store().storage.entries().filter_map(move |(key, value)| {
            // Reserved keys only: a program may store a shorter key that starts alike.
            if key.len() != stepper::storage::RESERVED_KEY_LEN {
                return None;
            }
            let session = key.strip_prefix(prefix)?.get(..40)?.try_into().ok()?;
            Some((session, u64::from_le_bytes(value.try_into().ok()?)))
        })
    }

    /// Opens and checks a transaction against this state: its envelope (signed for this
    /// chain), its call (an export and arguments of its signature), its gas limit (at
    /// most what is left of the block's budget, and the node's per-call limit) and its
    /// counter (the session's next).
    pub fn admit(&self, tx: &[u8]) -> Result<Admitted, Refusal> {
        self.admit_opened(self.open(tx))
    }

    /// `tx` opened as an envelope of this chain, its signature checked: what
    /// [`Ledger::admit`] starts with, which needs nothing of the state (a block's
    /// transactions are opened on all cores first).
    pub fn open(&self, tx: &[u8]) -> Result<Envelope, EnvelopeError> {
        Envelope::open(tx, &self.chain.id)
    }

    /// [`Ledger::admit`] of a transaction already opened ([`Ledger::open`]).
    pub fn admit_opened(&self, opened: Result<Envelope, EnvelopeError>) -> Result<Admitted, Refusal> {
        let envelope = opened.map_err(|e| Refusal(e.to_string()))?;
        let body = &envelope.body;
        let max_gas = self.executor.machine.config().gas_limit.min(self.block_gas_left);
        let next = self.next_counter(&body.public_key, body.session);
        let call = admissible(body, &self.exports, max_gas, next)?;
        Ok(Admitted { envelope, call })
    }

    /// Runs one transaction. One refused (see [`Ledger::admit`]) changes nothing; one
    /// admitted reserves its gas limit from the block's budget, uses its session's
    /// counter and runs its call with its caller and gas limit, undone if it does not
    /// return.
    pub fn execute(&mut self, tx: &[u8]) -> TxRecord {
        let opened = self.open(tx);
        self.execute_opened(tx, opened)
    }

    /// [`Ledger::execute`] of `tx` already opened ([`Ledger::open`]).
    pub fn execute_opened(&mut self, tx: &[u8], opened: Result<Envelope, EnvelopeError>) -> TxRecord {
        let (outcome, post_hash) = match self.admit_opened(opened) {
            Err(refusal) => (refused(refusal), None),
            Ok(admitted) => {
                self.block_gas_left -= admitted.envelope.body.gas_limit;
                self.consume(&admitted.envelope);
                let input = call_input(&admitted.call.export, &admitted.call.input, tx, self.height);
                self.call(&admitted.call, input, admitted.envelope.body.gas_limit, true)
            }
        };
        let post_hash = post_hash.unwrap_or_else(|| self.state_hash());
        TxRecord { tx: tx.to_vec(), outcome, post_hash }
    }

    /// Uses the envelope's counter and makes its key the caller: what an admitted
    /// transaction changes whatever its call does.
    pub fn consume(&mut self, envelope: &Envelope) {
        let body = &envelope.body;
        let storage = self.executor.machine.storage_mut();
        let next = (body.counter + 1).to_le_bytes();
        storage.set(&session_storage_key(&body.public_key, body.session), Some(&next));
        storage.set(&reserved_key(CALLER), Some(&body.public_key));
    }

    /// Runs a call without a caller (`{"call", "args", "input"}`, as [`Exports::parse`]
    /// reads it) with the node's per-call gas limit, and takes it back whatever it did:
    /// what it would give, and the state hash after it, on this state (the one after block
    /// `height`) left as it was (the query `/call`). Its input is a transaction's in the
    /// next block ([`call_input`] of the query's bytes at `height + 1`). The cost follows
    /// what the call writes, not the state's size: the same undo log that takes back a
    /// failed call takes this one back.
    pub fn try_call(&mut self, tx: &[u8], height: u64) -> TxRecord {
        let (outcome, post_hash) = match self.exports.parse(tx) {
            Err(e) => (refused(Refusal(format!("{e:#}"))), None),
            Ok(call) => {
                let caller = self.executor.machine.storage_mut().get(&reserved_key(CALLER)).map(<[u8]>::to_vec);
                self.executor.machine.storage_mut().set(&reserved_key(CALLER), None);
                let input = call_input(&call.export, &call.input, tx, height.saturating_add(1));
                let (outcome, post_hash) = self.call(&call, input, u64::MAX, false);
                // Returned or not, the state after it is one without a caller.
                let post_hash = post_hash.unwrap_or_else(|| self.state_hash());
                self.executor.machine.storage_mut().set(&reserved_key(CALLER), caller.as_deref());
                (outcome, Some(post_hash))
            }
        };
        let post_hash = post_hash.unwrap_or_else(|| self.state_hash());
        TxRecord { tx: tx.to_vec(), outcome, post_hash }
    }

    /// Runs a call with `input` and at most `budget` gas: kept if it returned (or exited
    /// with 0) and `keep` holds, else undone. With the state hash after a returned call
    /// that was not kept (the state no longer has it). The outcome keeps what the call
    /// wrote and emitted, whether or not its state is kept.
    fn call(&mut self, call: &Tx, input: CallInput, budget: u64, keep: bool) -> (TxOutcome, Option<Hash>) {
        // What to go back to if the call fails, at a cost that follows what it writes:
        // memories keep an undo log, the storage records its writes, the rest is copied.
        let storage = std::mem::take(self.executor.machine.storage_mut());
        let undo = self.executor.machine.begin_undo();
        let progress = self.executor.progress;
        *self.executor.machine.storage_mut() = storage;
        self.executor.machine.storage_mut().begin();
        self.executor.progress = Progress::Pending;
        let emitted_before = self.executor.machine.output().len();
        if let Err(e) = self.executor.machine.start_call(call.func, &call.args, budget, input) {
            self.executor.machine.storage_mut().commit();
            self.executor.machine.keep(undo);
            return (refused(Refusal(e.to_string())), None);
        }
        let start_gas = self.executor.machine.gas_used();
        self.executor.advance(u64::MAX);
        let m = &self.executor.machine;
        let (status, error) = match m.status() {
            Status::Running => (TxStatus::Stopped, Some("the executor stopped before the call ended".to_string())),
            Status::Returned => (TxStatus::Returned, None),
            Status::Trapped(trap) => (TxStatus::Trapped, Some(trap.to_string())),
            Status::OutOfGas => (TxStatus::OutOfGas, Some("out of gas".to_string())),
            Status::Exited(0) => (TxStatus::Returned, None),
            Status::Exited(code) => (TxStatus::Trapped, Some(format!("exited with code {code}"))),
        };
        let results = if m.status() == Status::Returned { m.results() } else { Vec::new() };
        let gas = m.gas_used().saturating_sub(start_gas);
        let exit_code = match m.status() {
            Status::Exited(code) => Some(code),
            _ => None,
        };
        let outcome = TxOutcome {
            status,
            results,
            steps: m.steps(),
            gas,
            error,
            exit_code,
            stdout: m.io().stdout().to_vec(),
            stderr: m.io().stderr().to_vec(),
            emitted: m.output().get(emitted_before..).unwrap_or_default().to_vec(),
        };
        let returned = matches!(m.status(), Status::Returned | Status::Exited(0));
        // A returned call taken back all the same: its state hash, before it goes.
        let post_hash = (returned && !keep).then(|| self.state_hash());
        let mut storage = std::mem::take(self.executor.machine.storage_mut());
        if returned && keep {
            storage.commit();
            self.executor.machine.keep(undo);
        } else {
            storage.rollback();
            self.executor.machine.undo(undo);
            self.executor.progress = progress;
        }
        *self.executor.machine.storage_mut() = storage;
        (outcome, post_hash)
    }
}

/// What CheckTx and a block both require of an opened envelope's body: a call of one of
/// `exports` with arguments of its signature, a gas limit from 1 to `max_gas`, and the
/// counter `next`; the call.
pub fn admissible(body: &Body, exports: &Exports, max_gas: u64, next: u64) -> Result<Tx, Refusal> {
    let mut call = exports.resolve(&body.export, &body.args).map_err(|e| Refusal(format!("{e:#}")))?;
    call.input = body.input.clone();
    if body.gas_limit == 0 || body.gas_limit > max_gas {
        return Err(Refusal(format!("gas limit {}: it must be from 1 to {max_gas}", body.gas_limit)));
    }
    if body.counter != next {
        return Err(Refusal(format!(
            "counter {} of session {}: the session's next is {next}",
            body.counter, body.session
        )));
    }
    Ok(call)
}

/// The outcome of a transaction that did not run.
fn refused(refusal: Refusal) -> TxOutcome {
    TxOutcome { status: TxStatus::Rejected, error: Some(refusal.0), ..TxOutcome::default() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{Session, SigningKey};
    use crate::history::DEFAULT_BLOCK_GAS_LIMIT;

    fn setup_of(bytes: Vec<u8>, admin: Option<[u8; 32]>) -> NodeSetup {
        let module = stepper::Module::new(&bytes).unwrap();
        let config = stepper::Config { gas_limit: 1 << 30, ..stepper::Config::default() };
        let chain = Chain { admin, ..Chain::named("test-chain") };
        NodeSetup { module_bytes: Arc::new(bytes), module, config, snapshot_interval: 1, chain }
    }

    fn ledger(contract: &str, admin: Option<[u8; 32]>) -> Ledger {
        let bytes = std::fs::read(format!("{}/../tests/contracts/{contract}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        Ledger::new(&setup_of(bytes, admin), None).unwrap()
    }

    /// Session 0 of the key from `seed` on the test chain.
    fn session(seed: u8) -> Session {
        Session::new(SigningKey::from_bytes(&[seed; 32]), "test-chain", 0, 0)
    }

    /// The call `json` reads (`{"call", "args"}`), signed by `session` with a gas limit
    /// of a million: a hundred fit a block.
    fn signed(ledger: &Ledger, session: &mut Session, json: &str) -> Vec<u8> {
        let call = ledger.exports.parse(json.as_bytes()).unwrap();
        let gas = 1_000_000;
        session.sign(&call.export, call.args, gas).unwrap().encode().unwrap()
    }

    /// The account id the token contract gives a key: its first 8 bytes.
    fn id(session: &Session) -> i64 {
        i64::from_le_bytes(session.public_key()[..8].try_into().unwrap())
    }

    /// The state exactly: its snapshot's bytes, and its hash from the caches the call and
    /// its undo left, which must be the hash a freshly restored copy computes.
    fn exactly(ledger: &mut Ledger) -> (Vec<u8>, Hash) {
        let bytes = ledger.executor.machine.snapshot();
        let module = ledger.executor.machine.store().instances[0].module.clone();
        let mut fresh = Machine::restore(&bytes, &[module]).unwrap();
        let hash = ledger.state_hash();
        assert_eq!(hash, state_hash(&mut fresh), "the caches agree with the state");
        (bytes, hash)
    }

    /// Writes `value` under `key` (8 bytes each), then traps if `value` is negative.
    const STORE: &str = r#"
    (module
      (import "verigame" "storage_write" (func $write (param i32 i32 i32 i32)))
      (memory 1)
      (func (export "put") (param $key i64) (param $value i64) (result i64)
        (i64.store (i32.const 0) (local.get $key))
        (i64.store (i32.const 8) (local.get $value))
        (call $write (i32.const 0) (i32.const 8) (i32.const 8) (i32.const 8))
        (if (i64.lt_s (local.get $value) (i64.const 0)) (then unreachable))
        (local.get $value)))
    "#;

    #[test]
    fn a_tried_call_leaves_the_state_exactly_as_it_was() {
        // Storage written, then taken back; written, then trapped.
        let mut store = Ledger::new(&setup_of(wat::parse_str(STORE).unwrap(), None), None).unwrap();
        let mut client = session(1);
        let tx = signed(&store, &mut client, r#"{"call":"put","args":[1, 100]}"#);
        assert_eq!(store.execute(&tx).outcome.status, TxStatus::Returned);
        let before = exactly(&mut store);
        let tried = store.try_call(br#"{"call":"put","args":[1, 70]}"#, 0);
        assert_eq!((tried.outcome.status, &tried.outcome.results[..]), (TxStatus::Returned, &[Value::I64(70)][..]));
        assert_ne!(tried.post_hash, before.1, "the answer has the state after the call");
        assert_eq!(exactly(&mut store), before);
        let trapped = store.try_call(br#"{"call":"put","args":[2, -1]}"#, 0);
        // Its post-state is this state without a caller, as a returned one's is.
        let mut without_caller = store.clone();
        without_caller.executor.machine.storage_mut().set(&reserved_key(CALLER), None);
        assert_eq!((trapped.outcome.status, trapped.post_hash), (TxStatus::Trapped, without_caller.state_hash()));
        assert_eq!(exactly(&mut store), before);

        // A tried call has no caller, even after a transaction that had one: the token's
        // transfer aborts (2) and the caller the state holds is left as it was.
        let mut admin = session(9);
        let mut token = ledger("token.wat", Some(admin.public_key()));
        let mint = format!(r#"{{"call":"mint","args":[{}, 100]}}"#, id(&admin));
        let mint = signed(&token, &mut admin, &mint);
        assert_eq!(token.execute(&mint).outcome.status, TxStatus::Returned);
        let before = exactly(&mut token);
        let tried = token.try_call(br#"{"call":"transfer","args":[1, 30]}"#, 0);
        assert_eq!(tried.outcome.status, TxStatus::Trapped);
        assert!(tried.outcome.error.as_deref().unwrap().contains("code 2"), "{:?}", tried.outcome.error);
        assert_eq!(exactly(&mut token), before);
        let me = token.try_call(br#"{"call":"balance","args":[1]}"#, 0);
        assert_eq!(me.outcome.results, vec![Value::I64(0)]);
        assert_eq!(exactly(&mut token), before);

        // Memory written and grown, then taken back; a trap too.
        let mut big = ledger("big_memory.wat", None);
        let touch = signed(&big, &mut session(1), r#"{"call":"touch","args":[0, 4096, 3]}"#);
        assert_eq!(big.execute(&touch).outcome.status, TxStatus::Returned);
        let before = exactly(&mut big);
        let mut without_caller = big.clone();
        without_caller.executor.machine.storage_mut().set(&reserved_key(CALLER), None);
        let without_caller = without_caller.state_hash();
        for tx in [
            &br#"{"call":"touch","args":[1024, 65532, 9]}"#[..],
            br#"{"call":"grow","args":[2]}"#,
            br#"{"call":"grow_and_touch","args":[1]}"#,
            // Two chunks written, then out of bounds.
            br#"{"call":"touch","args":[64512, 70000, 1]}"#,
            br#"{"call":"nothing"}"#,
        ] {
            let tried = big.try_call(tx, 0);
            assert_eq!(exactly(&mut big), before, "{}", String::from_utf8_lossy(tx));
            let trap = tx.starts_with(br#"{"call":"touch","args":[64512"#);
            assert_eq!(tried.outcome.status == TxStatus::Trapped, trap);
            // A call that ran ends on a state without a caller; one refused (no such
            // export) did not run.
            match tried.outcome.status {
                TxStatus::Returned => assert_ne!(tried.post_hash, without_caller),
                TxStatus::Trapped => assert_eq!(tried.post_hash, without_caller),
                _ => assert_eq!(tried.post_hash, before.1),
            }
        }
    }

    #[test]
    fn an_admitted_transaction_uses_its_counter_and_runs_with_its_caller_and_gas_limit() {
        let mut admin = session(9);
        let mut token = ledger("token.wat", Some(admin.public_key()));
        assert_eq!(token.executor.machine.store().storage.get(ADMIN_KEY), Some(&admin.public_key()[..]));
        let me = signed(&token, &mut admin, r#"{"call":"me"}"#);
        let record = token.execute(&me);
        assert_eq!(record.outcome.results, vec![Value::I64(id(&admin))]);
        assert_eq!(token.next_counter(&admin.public_key(), 0), 1);
        // A trapped call keeps its counter: the state after it is the one before with the
        // counter used and the caller set, nothing else.
        let mut other = session(3);
        let mint = signed(&token, &mut other, r#"{"call":"mint","args":[1, 5]}"#);
        let mut expected = token.clone();
        expected.consume(&Envelope::decode(&mint).unwrap());
        let record = token.execute(&mint);
        assert_eq!(record.outcome.status, TxStatus::Trapped);
        assert!(record.outcome.error.as_deref().unwrap().contains("code 3"), "{:?}", record.outcome.error);
        assert_eq!(record.post_hash, expected.state_hash());
        assert_eq!(token.next_counter(&other.public_key(), 0), 1);
        // The gas limit bounds the call; the outcome counts the call's gas only.
        let mut big = ledger("big_memory.wat", None);
        let call = big.exports.parse(br#"{"call":"touch","args":[0, 65532, 1]}"#).unwrap();
        let limit = DEFAULT_BLOCK_GAS_LIMIT;
        let full =
            big.clone().execute(&session(3).sign(&call.export, call.args.clone(), limit).unwrap().encode().unwrap());
        assert_eq!(full.outcome.status, TxStatus::Returned);
        assert!(full.outcome.gas > 1000, "{:?}", full.outcome);
        let tight = session(3).sign(&call.export, call.args, full.outcome.gas - 1).unwrap().encode().unwrap();
        let record = big.execute(&tight);
        assert_eq!(record.outcome.status, TxStatus::OutOfGas);
        assert!(record.outcome.gas < full.outcome.gas, "{:?}", record.outcome);
    }

    #[test]
    fn sessions_are_read_from_reserved_keys_only() {
        let mut token = ledger("token.wat", None);
        let mut alice = session(3);
        let tx = signed(&token, &mut alice, r#"{"call":"balance","args":[1]}"#);
        assert_eq!(token.execute(&tx).outcome.status, TxStatus::Returned);
        // A program's own key that starts like a session's is not one.
        let mut lookalike = SESSION_PREFIX.to_vec();
        lookalike.extend_from_slice(&[9; 40]);
        token.executor.machine.storage_mut().set(&lookalike, Some(&7u64.to_le_bytes()));
        let mut expected = alice.public_key().to_vec();
        expected.extend_from_slice(&0u64.to_le_bytes());
        let sessions: Vec<([u8; 40], u64)> = token.sessions().collect();
        assert_eq!(sessions, vec![(expected.try_into().unwrap(), 1)]);
    }
}
