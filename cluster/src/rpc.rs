//! What a validator reads from CometBFT's RPC: each block's transactions, the results the
//! node returned for them (their outcomes and the state after each, in the transaction
//! result's `data`), and the app hash the next header commits. Nothing from a node's disk.

use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use merkle_memory::{parse_hex, Hash};
use serde_json::Value as Json;

use crate::history::{BlockRecord, TxRecord};
use crate::node::ResultData;
use crate::proofs::{QueryProof, PROOF_TYPE};

/// A CometBFT RPC endpoint (`http://HOST:PORT`).
pub struct Rpc {
    base: String,
    agent: ureq::Agent,
}

/// The longest answer read: a block of the largest size CometBFT allows, in JSON.
const MAX_ANSWER: u64 = 256 << 20;

impl Rpc {
    pub fn new(url: &str) -> Self {
        let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).build();
        Self { base: url.trim_end_matches('/').to_string(), agent }
    }

    /// The `result` of `GET path`, or the RPC's error.
    fn get(&self, path: &str) -> Result<Json> {
        let url = format!("{}/{path}", self.base);
        let response = self.agent.get(&url).call().with_context(|| format!("GET {url}"))?;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::Read::take(response.into_reader(), MAX_ANSWER), &mut text)
            .with_context(|| format!("reading {url}"))?;
        let mut answer: Json = serde_json::from_str(&text).with_context(|| format!("{url} answered no JSON"))?;
        if let Some(error) = answer.get("error").filter(|e| !e.is_null()) {
            bail!("{url}: {error}");
        }
        Ok(answer["result"].take())
    }

    /// The `app_state` of the chain's genesis: what it says the chain runs.
    pub fn genesis_app_state(&self) -> Result<Json> {
        Ok(self.get("genesis")?["genesis"]["app_state"].take())
    }

    /// The latest committed height.
    pub fn latest_height(&self) -> Result<u64> {
        let status = self.get("status")?;
        number(&status["sync_info"]["latest_block_height"]).context("status: no latest_block_height")
    }

    /// Block `height`'s transactions and the app hash its header carries (the state after
    /// block `height - 1`).
    fn block(&self, height: u64) -> Result<(Vec<Vec<u8>>, Hash)> {
        let block = self.get(&format!("block?height={height}"))?;
        let app_hash = block["block"]["header"]["app_hash"].as_str().and_then(hash_of);
        let app_hash = app_hash.with_context(|| format!("block {height}: no app_hash in its header"))?;
        let txs = match &block["block"]["data"]["txs"] {
            Json::Null => Some(Vec::new()),
            Json::Array(txs) => txs.iter().map(base64_bytes).collect::<Option<Vec<_>>>(),
            _ => None,
        }
        .with_context(|| format!("block {height}: its txs are not base64 strings"))?;
        Ok((txs, app_hash))
    }

    /// The results CometBFT recorded for block `height`'s transactions: the outcome and
    /// post-state each carries in `data`.
    fn results(&self, height: u64, count: usize) -> Result<Vec<ResultData>> {
        let results = self.get(&format!("block_results?height={height}"))?;
        let results = match &results["txs_results"] {
            Json::Null => Vec::new(),
            Json::Array(r) => r.clone(),
            _ => bail!("block {height}: its results are not a list"),
        };
        if results.len() != count {
            bail!("block {height} has {count} transactions but {} results", results.len());
        }
        results
            .iter()
            .enumerate()
            .map(|(i, result)| {
                let data = base64_bytes(&result["data"]).unwrap_or_default();
                serde_json::from_slice(&data).with_context(|| {
                    format!("block {height} transaction {i}: its result's data is not a verigame outcome")
                })
            })
            .collect()
    }

    /// Block `height`, whose transactions are `txs`, as the chain committed it; with the
    /// next block's transactions (its header commits this block's app hash).
    fn committed_block(&self, height: u64, txs: Vec<Vec<u8>>, before: Hash) -> Result<(BlockRecord, Vec<Vec<u8>>)> {
        let results = self.results(height, txs.len())?;
        let (next, app_hash) = self.block(height + 1)?;
        let txs: Vec<TxRecord> = txs
            .into_iter()
            .zip(results)
            .map(|(tx, r)| TxRecord { tx, outcome: r.outcome, post_hash: r.post_hash })
            .collect();
        let state_hash = txs.last().map_or(before, |t| t.post_hash);
        Ok((BlockRecord { height, txs, state_hash, app_hash }, next))
    }

    /// Blocks `from..=to` as the chain committed them, read ahead on a thread of their
    /// own while the caller checks earlier ones; `state_hash` is the state before `from`
    /// (an empty block's state is its predecessor's). The stream ends at the first error.
    pub fn committed_blocks(self, from: u64, to: u64, mut state_hash: Hash) -> mpsc::Receiver<Result<BlockRecord>> {
        let (send, receive) = mpsc::sync_channel(READ_AHEAD);
        std::thread::spawn(move || {
            let mut txs = match self.block(from) {
                Ok((txs, _)) => txs,
                Err(e) => return drop(send.send(Err(e))),
            };
            for height in from..=to {
                match self.committed_block(height, std::mem::take(&mut txs), state_hash) {
                    Ok((block, next)) => {
                        (state_hash, txs) = (block.state_hash, next);
                        if send.send(Ok(block)).is_err() {
                            return;
                        }
                    }
                    Err(e) => return drop(send.send(Err(e))),
                }
            }
        });
        receive
    }
}

/// A query's answer as a node gave it through the RPC.
pub struct QueryAnswer {
    pub value: Vec<u8>,
    pub height: u64,
    pub proof: Option<QueryProof>,
}

impl Rpc {
    /// Asks the node's application `path` with `data` as of `height` (0: the latest),
    /// with its proof if `prove`.
    pub fn abci_query(&self, path: &str, data: &[u8], height: u64, prove: bool) -> Result<QueryAnswer> {
        let data = merkle_memory::hash::bytes_to_hex(data);
        let answer = self.get(&format!("abci_query?path=%22{path}%22&data={data}&height={height}&prove={prove}"))?;
        let response = &answer["response"];
        if number(&response["code"]).unwrap_or(0) != 0 {
            bail!("the node refused the query: {}", response["log"].as_str().unwrap_or("(no reason)"));
        }
        let value = base64_bytes(&response["value"]).context("the answer's value is not base64")?;
        let height = number(&response["height"]).context("the answer has no height")?;
        let proof = match &response["proofOps"]["ops"] {
            Json::Array(ops) => {
                let [op] = &ops[..] else { bail!("the answer carries {} proof ops, not one", ops.len()) };
                if op["type"].as_str() != Some(PROOF_TYPE) {
                    bail!("the answer's proof is of type {}, not {PROOF_TYPE}", op["type"]);
                }
                let data = base64_bytes(&op["data"]).context("the proof's data is not base64")?;
                Some(serde_json::from_slice(&data).context("the proof is not a verigame/v1 proof")?)
            }
            _ if prove => bail!("the node answered without the proof asked for"),
            _ => None,
        };
        Ok(QueryAnswer { value, height, proof })
    }

    /// The app hash after block `height`, as block `height + 1`'s header commits it;
    /// waits up to `wait` for that block.
    pub fn app_hash_after(&self, height: u64, wait: Duration) -> Result<Hash> {
        let deadline = std::time::Instant::now() + wait;
        while self.latest_height()? <= height {
            if std::time::Instant::now() >= deadline {
                bail!("block {} (whose header commits the app hash after {height}) is not there yet", height + 1);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(self.block(height + 1)?.1)
    }
}

/// Blocks read ahead of the one being checked.
const READ_AHEAD: usize = 64;

fn number(v: &Json) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str()?.parse().ok())
}

fn base64_bytes(v: &Json) -> Option<Vec<u8>> {
    match v {
        Json::Null => Some(Vec::new()),
        _ => base64::engine::general_purpose::STANDARD.decode(v.as_str()?).ok(),
    }
}

/// A header's app hash: 64 hex digits, either case.
fn hash_of(text: &str) -> Option<Hash> {
    parse_hex(&format!("0x{}", text.to_lowercase()))
}

/// One ABCI response as the RPC reports it (CheckTx's, or a transaction's result).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AbciResult {
    pub code: u32,
    pub log: String,
    pub data: Vec<u8>,
    pub gas_used: u64,
}

impl AbciResult {
    fn from_json(v: &Json) -> Result<Self> {
        let code = match &v["code"] {
            Json::Null => 0,
            c => number(c).and_then(|c| u32::try_from(c).ok()).context("its code is not a number")?,
        };
        Ok(Self {
            code,
            log: v["log"].as_str().unwrap_or_default().to_string(),
            data: base64_bytes(&v["data"]).context("its data is not base64")?,
            gas_used: number(&v["gas_used"]).unwrap_or(0),
        })
    }
}

/// What `broadcast_tx_commit` answers: CheckTx's response and, for a transaction that
/// passed it and was committed in time, its result, block and hash.
#[derive(Clone, Debug, PartialEq)]
pub struct Committed {
    pub check_tx: AbciResult,
    /// `None` when CheckTx refused the transaction (it is in no block).
    pub tx_result: Option<AbciResult>,
    /// The transaction's hash (SHA-256), in uppercase hex as CometBFT prints it.
    pub hash: String,
    pub height: u64,
}

impl Committed {
    /// Reads a `broadcast_tx_commit` result (`tx_result` since CometBFT v0.38,
    /// `deliver_tx` before).
    pub fn from_json(result: &Json) -> Result<Self> {
        let check_tx = AbciResult::from_json(&result["check_tx"]).context("broadcast_tx_commit: check_tx")?;
        let height = number(&result["height"]).unwrap_or(0);
        let executed = match &result["tx_result"] {
            Json::Null => &result["deliver_tx"],
            r => r,
        };
        let tx_result = if check_tx.code != 0 || height == 0 || executed.is_null() {
            None
        } else {
            Some(AbciResult::from_json(executed).context("broadcast_tx_commit: tx_result")?)
        };
        let hash = result["hash"].as_str().unwrap_or_default().to_string();
        Ok(Self { check_tx, tx_result, hash, height })
    }
}

/// What `broadcast_tx_async` answers: the transaction's hash (CheckTx has not run yet, so
/// its code is 0 unless the mempool refused the bytes at once); or `broadcast_tx_sync`,
/// with CheckTx's code and log.
#[derive(Clone, Debug, PartialEq)]
pub struct Submitted {
    pub code: u32,
    pub log: String,
    pub hash: String,
}

impl Submitted {
    pub fn from_json(result: &Json) -> Result<Self> {
        let check = AbciResult::from_json(result).context("broadcast_tx_async")?;
        let hash = result["hash"].as_str().unwrap_or_default().to_string();
        Ok(Self { code: check.code, log: check.log, hash })
    }
}

impl Rpc {
    /// The chain's id, as the node names its network.
    pub fn chain_id(&self) -> Result<String> {
        let status = self.get("status")?;
        let network = status["node_info"]["network"].as_str().context("status: no node_info.network (chain id)")?;
        Ok(network.to_string())
    }

    /// Sends `tx` and waits for CometBFT to commit it (or to give up waiting: its
    /// `timeout_broadcast_tx_commit`, an error here).
    pub fn broadcast_tx_commit(&self, tx: &[u8]) -> Result<Committed> {
        let tx = merkle_memory::hash::bytes_to_hex(tx);
        Committed::from_json(&self.get(&format!("broadcast_tx_commit?tx={tx}"))?)
    }

    /// Sends `tx` and returns at once.
    pub fn broadcast_tx_async(&self, tx: &[u8]) -> Result<Submitted> {
        let tx = merkle_memory::hash::bytes_to_hex(tx);
        Submitted::from_json(&self.get(&format!("broadcast_tx_async?tx={tx}"))?)
    }

    /// How many transactions wait in the node's mempool.
    pub fn pending_txs(&self) -> Result<u64> {
        let answer = self.get("num_unconfirmed_txs")?;
        answer["total"].as_str().and_then(|t| t.parse().ok()).context("num_unconfirmed_txs: no total")
    }

    /// The counter session `session` of `public_key`'s next transaction must use, as the
    /// node's `/session` query answers it.
    pub fn next_counter(&self, public_key: &[u8; 32], session: u64) -> Result<u64> {
        #[derive(serde::Deserialize)]
        struct Next {
            next: u64,
        }
        let answer = self.abci_query("/session", &crate::envelope::session_key(public_key, session), 0, false)?;
        let answer: Next = serde_json::from_slice(&answer.value).with_context(|| {
            format!("the node's /session answer is not {{\"next\": N}}: {}", String::from_utf8_lossy(&answer.value))
        })?;
        Ok(answer.next)
    }

    /// Sends `tx` and returns CheckTx's answer.
    pub fn broadcast_tx_sync(&self, tx: &[u8]) -> Result<Submitted> {
        let tx = merkle_memory::hash::bytes_to_hex(tx);
        Submitted::from_json(&self.get(&format!("broadcast_tx_sync?tx={tx}"))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_broadcast_answers() {
        // As CometBFT v0.38 answers: numbers as strings, bytes as base64.
        let committed = Committed::from_json(&json!({
            "check_tx": {"code": 0, "data": null, "log": "", "gas_wanted": "0", "gas_used": "0"},
            "tx_result": {"code": 1, "data": "e30=", "log": "trapped: unreachable", "gas_used": "12"},
            "hash": "ABCD", "height": "7"
        }))
        .unwrap();
        let tx_result = AbciResult { code: 1, log: "trapped: unreachable".into(), data: b"{}".to_vec(), gas_used: 12 };
        assert_eq!(
            committed,
            Committed { check_tx: AbciResult::default(), tx_result: Some(tx_result), hash: "ABCD".into(), height: 7 }
        );
        // Refused by CheckTx: in no block.
        let refused = Committed::from_json(&json!({
            "check_tx": {"code": 1, "log": "bad signature"},
            "tx_result": {"code": 0, "data": null, "log": ""},
            "hash": "ABCD", "height": "0"
        }))
        .unwrap();
        assert_eq!(
            (refused.check_tx.code, refused.check_tx.log.as_str(), refused.tx_result),
            (1, "bad signature", None)
        );
        // Before v0.38 the result was `deliver_tx`.
        let old = Committed::from_json(&json!({"check_tx": {}, "deliver_tx": {"code": 0}, "hash": "", "height": "3"}));
        assert_eq!(old.unwrap().tx_result, Some(AbciResult::default()));
        let submitted = Submitted::from_json(&json!({"code": 0, "data": "", "log": "", "hash": "EF01"})).unwrap();
        assert_eq!(submitted, Submitted { code: 0, log: String::new(), hash: "EF01".into() });
        assert!(Committed::from_json(&json!({"check_tx": {"code": "x"}})).is_err());
    }
}
