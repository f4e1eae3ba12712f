//! What CheckTx admits to CometBFT's mempool, decided without the contract's machine (a
//! block may hold it for a second): envelopes signed for the chain, calls of its exports,
//! gas limits within its limits, and each session's transactions in counter order, once.

use std::collections::{HashMap, HashSet};

use anyhow::{anyhow, Result};

use crate::envelope::Envelope;
use crate::history::{BlockRecord, Chain, TxStatus};
use crate::ledger::{admissible, Exports, Ledger};

/// What CheckTx knows of sessions: every used session's committed next counter (read from
/// the state when the node opens, kept up to date at each Commit; a session not here has
/// 0), and the next counter after the transactions it accepted since the last Commit. A
/// Commit forgets those: CometBFT rechecks the transactions still pending, in their order,
/// which counts them again.
#[derive(Debug)]
pub struct Mempool {
    chain: Chain,
    per_call_gas: u64,
    pending: HashMap<[u8; 40], u64>,
    committed: HashMap<[u8; 40], u64>,
    verified: Verified,
}

/// Transactions whose signatures CheckTx found good, by SHA-256: neither FinalizeBlock nor
/// CometBFT's recheck of the mempool after each Commit checks them again (a check's answer
/// never changes). Two generations of at most [`Verified::GENERATION`] each: the older is
/// dropped when the newer fills.
#[derive(Debug, Default)]
struct Verified {
    current: HashSet<[u8; 32]>,
    previous: HashSet<[u8; 32]>,
}

impl Verified {
    const GENERATION: usize = 100_000;

    fn contains(&self, hash: &[u8; 32]) -> bool {
        self.current.contains(hash) || self.previous.contains(hash)
    }

    fn insert(&mut self, hash: [u8; 32]) {
        if self.current.len() >= Self::GENERATION {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(hash);
    }
}

impl Mempool {
    /// CheckTx's view of the committed state in `ledger`.
    pub fn of(ledger: &Ledger) -> Self {
        Self {
            chain: (*ledger.chain).clone(),
            per_call_gas: ledger.executor.machine.config().gas_limit,
            pending: HashMap::new(),
            committed: ledger.sessions().collect(),
            verified: Verified::default(),
        }
    }

    /// Whether `tx` may enter the mempool, and the gas it reserves. Its envelope must be
    /// signed for this chain, name one of `exports` with arguments of its signature,
    /// reserve at most the per-call and the block gas limits, and use its session's next
    /// counter after the transactions accepted before it: a session's transactions enter
    /// in counter order, each once (a replay's counter is used up).
    pub fn check(&mut self, tx: &[u8], exports: &Exports) -> Result<u64> {
        let hash = crate::envelope::tx_hash(tx);
        let envelope = match self.verified.contains(&hash) {
            true => Envelope::decode(tx)?,
            false => Envelope::open(tx, &self.chain.id)?,
        };
        self.verified.insert(hash);
        let body = &envelope.body;
        let session = body.session_key();
        let max_gas = self.per_call_gas.min(self.chain.block_gas_limit);
        let next = *self.pending.get(&session).or(self.committed.get(&session)).unwrap_or(&0);
        admissible(body, exports, max_gas, next).map_err(|refusal| anyhow!(refusal.0))?;
        self.pending.insert(session, next + 1);
        Ok(body.gas_limit)
    }

    /// Whether CheckTx found `tx`'s signature good already.
    pub fn verified(&self, tx: &[u8]) -> bool {
        self.verified.contains(&crate::envelope::tx_hash(tx))
    }

    /// After the Commit of `block`: the counters its admitted transactions used are
    /// committed; the pending ones are forgotten (CometBFT rechecks them).
    pub fn committed(&mut self, block: &BlockRecord) {
        for t in block.txs.iter().filter(|t| t.outcome.status != TxStatus::Rejected) {
            if let Ok(envelope) = Envelope::decode(&t.tx) {
                self.committed.insert(envelope.body.session_key(), envelope.body.counter + 1);
            }
        }
        self.pending.clear();
    }
}
