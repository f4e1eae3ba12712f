//! `verigame keygen` and `verigame client`: a client's ed25519 key in a file, and signed
//! transactions (`cluster::envelope`) built, sent to a node through CometBFT's RPC, and
//! their outcome reported, proven against the app hash if asked.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use cluster::envelope::{Body, Envelope, SigningKey};
use cluster::history::TxRecord;
use cluster::node::ResultData;
use cluster::rpc::{Committed, Rpc, Submitted};
use cluster::values::{parse_value, value_json};
use merkle_memory::hash::bytes_to_hex;
use serde_json::{json, Value as Json};
use stepper::{ValType, Value};

/// The parameter types of `export` in the module at `path` (binary or text).
pub fn export_params(path: &Path, export: &str) -> Result<Vec<ValType>> {
    let module = stepper::Module::new(&crate::run::read_module_bytes(path)?)?;
    match module.export(export) {
        Some((stepper::module::ExportKind::Func, func)) => Ok(module.func_type(func).params.clone()),
        _ => bail!(
            "no exported function `{export}` in {}; exported functions: {}",
            path.display(),
            crate::run::exported_funcs(&module).join(", ")
        ),
    }
}

/// Parses a call's arguments: `TYPE:VALUE` (`i32:5`, `i64:-3`, `f32:1.5`, `f64:0x…`), or
/// a bare value read by the export's parameter type when `params` gives it, else as an
/// i32 integer.
pub fn parse_args(params: Option<&[ValType]>, args: &[String]) -> Result<Vec<Value>> {
    if let Some(params) = params {
        if params.len() != args.len() {
            let sig: Vec<String> = params.iter().map(|t| t.to_string()).collect();
            bail!("the function takes {} argument(s) ({}), {} given", params.len(), sig.join(", "), args.len());
        }
    }
    args.iter()
        .enumerate()
        .map(|(i, text)| {
            let param = params.map(|p| p[i]);
            parse_arg(param, text).with_context(|| format!("argument {}", i + 1))
        })
        .collect()
}

fn parse_arg(param: Option<ValType>, text: &str) -> Result<Value> {
    let typed = text.split_once(':').and_then(|(ty, value)| {
        let ty = match ty {
            "i32" => ValType::I32,
            "i64" => ValType::I64,
            "f32" => ValType::F32,
            "f64" => ValType::F64,
            _ => return None,
        };
        Some((ty, value))
    });
    match (typed, param) {
        (Some((ty, _)), Some(param)) if ty != param => bail!("`{text}` is typed {ty}, but the parameter is {param}"),
        (Some((ty, value)), _) => parse_value(ty, value),
        (None, Some(param @ (ValType::FuncRef | ValType::ExternRef))) => {
            bail!("the parameter is a {param}: a transaction carries numbers only")
        }
        (None, Some(param)) => parse_value(param, text),
        (None, None) => parse_value(ValType::I32, text).map_err(|_| {
            anyhow::anyhow!(
                "`{text}` is not an i32; give its type (i64:{text}, f64:{text}, …) or the module (--module)"
            )
        }),
    }
}

/// What to send: the call, the session, and how.
pub struct Request {
    pub session: u64,
    /// The transaction's counter; `None`: ask the node for the session's next.
    pub counter: Option<u64>,
    pub gas_limit: u64,
    pub export: String,
    pub args: Vec<Value>,
    /// The call's input bytes: its standard input (docs/abi.md).
    pub input: Vec<u8>,
    /// Return once the node has the transaction (`broadcast_tx_async`) instead of
    /// waiting for its block.
    pub asynchronous: bool,
    /// Check the committed outcome's proof against the app hash, waiting this long for
    /// the header that commits it.
    pub prove: Option<Duration>,
}

/// A transaction sent, and what the chain said about it.
pub struct Report {
    pub chain_id: String,
    pub envelope: Envelope,
    /// The transaction's SHA-256: CometBFT's name for it.
    pub hash: [u8; 32],
    pub sent: Sent,
}

pub enum Sent {
    Committed { committed: Committed, proven: Option<Box<Proven>> },
    Submitted(Submitted),
}

/// A committed outcome proven against the app hash in block `height + 1`'s header.
pub struct Proven {
    pub app_hash: merkle_memory::Hash,
    pub record: TxRecord,
}

/// Builds, signs and sends `request` with `key` through `rpc`.
pub fn send(rpc: &Rpc, key: &SigningKey, request: Request) -> Result<Report> {
    let chain_id = rpc.chain_id().context("asking the node for the chain id")?;
    let public_key = key.verifying_key().to_bytes();
    let counter = match request.counter {
        Some(c) => c,
        None => rpc.next_counter(&public_key, request.session).context(
            "asking the node for the session's next counter (query /session); a node that does not keep \
             sessions cannot answer it: give --counter",
        )?,
    };
    let body = Body {
        public_key,
        session: request.session,
        counter,
        gas_limit: request.gas_limit,
        export: request.export,
        args: request.args,
        input: request.input,
    };
    let envelope = Envelope::sign(body, &chain_id, key)?;
    let tx = envelope.encode()?;
    let hash = cluster::envelope::tx_hash(&tx);
    let sent = if request.asynchronous {
        Sent::Submitted(rpc.broadcast_tx_async(&tx)?)
    } else {
        let committed = rpc.broadcast_tx_commit(&tx)?;
        let proven = match (request.prove, &committed.tx_result) {
            (Some(wait), Some(_)) => Some(Box::new(prove(rpc, &tx, &hash, &committed, wait)?)),
            _ => None,
        };
        Sent::Committed { committed, proven }
    };
    Ok(Report { chain_id, envelope, hash, sent })
}

/// Asks the node for the transaction's record with its proof, checks the proof against
/// the app hash of block `height + 1`'s header, and requires the proven record to be
/// this transaction with the outcome its result reported.
fn prove(rpc: &Rpc, tx: &[u8], hash: &[u8; 32], committed: &Committed, wait: Duration) -> Result<Proven> {
    let answer = rpc.abci_query("/tx", hash, 0, true).context("asking the node for the transaction's proof")?;
    let proof = answer.proof.as_ref().context("the node answered /tx without a proof")?;
    let app_hash = rpc.app_hash_after(answer.height, wait)?;
    let proven = cluster::proofs::check_answer("/tx", &answer.value, proof, &app_hash)
        .map_err(|e| anyhow::anyhow!("the transaction's proof does not hold: {e}"))?;
    let cluster::proofs::Proven::Tx(_, record) = proven else { bail!("the node's /tx proof proves no transaction") };
    if record.tx != tx || answer.height != committed.height {
        bail!("the proven transaction at height {} is not the one sent", answer.height);
    }
    let data = committed.tx_result.as_ref().map(|r| r.data.as_slice()).unwrap_or_default();
    match serde_json::from_slice::<ResultData>(data) {
        Ok(d) if d.outcome == record.outcome && d.post_hash == record.post_hash => Ok(Proven { app_hash, record }),
        _ => bail!("the transaction's result is not the outcome its proof proves"),
    }
}

impl Report {
    fn call_json(&self) -> Json {
        let b = &self.envelope.body;
        json!({
            "public_key": bytes_to_hex(&b.public_key),
            "session": b.session,
            "counter": b.counter,
            "gas_limit": b.gas_limit,
            "export": b.export,
            "args": b.args.iter().map(value_json).collect::<Vec<_>>(),
            "input": bytes_json(&b.input),
        })
    }
}

impl crate::printed::Printed for Report {
    /// Whether the chain accepted the transaction and (when waited for) the call returned.
    fn succeeded(&self) -> bool {
        match &self.sent {
            Sent::Committed { committed, .. } => committed.tx_result.as_ref().is_some_and(|r| r.code == 0),
            Sent::Submitted(s) => s.code == 0,
        }
    }

    fn to_json(&self) -> Json {
        let mut out = json!({"chain_id": self.chain_id, "hash": bytes_to_hex(&self.hash), "call": self.call_json()});
        match &self.sent {
            Sent::Submitted(s) => {
                out["mode"] = json!("async");
                out["check_tx"] = json!({"code": s.code, "log": s.log});
            }
            Sent::Committed { committed: c, proven } => {
                out["mode"] = json!("commit");
                out["check_tx"] = json!({"code": c.check_tx.code, "log": c.check_tx.log});
                out["height"] = json!(c.height);
                out["tx_result"] = match &c.tx_result {
                    Some(r) => {
                        json!({"code": r.code, "log": r.log, "gas_used": r.gas_used, "data": data_json(&r.data)})
                    }
                    None => Json::Null,
                };
                out["proven"] = match proven {
                    Some(p) => json!({"app_hash": merkle_memory::hex(&p.app_hash), "block": c.height + 1}),
                    None => Json::Null,
                };
            }
        }
        out
    }

    fn print(&self) {
        let b = &self.envelope.body;
        println!("transaction: {}", bytes_to_hex(&self.hash));
        println!("caller:      {}, session {}, counter {}", bytes_to_hex(&b.public_key), b.session, b.counter);
        let args: Vec<String> = b.args.iter().map(|v| format!("{v} ({})", v.ty())).collect();
        println!(
            "call:        {}({}) on chain {}, gas limit {}",
            b.export,
            args.join(", "),
            self.chain_id,
            b.gas_limit
        );
        if !b.input.is_empty() {
            println!("input:       {}", bytes_text(&b.input));
        }
        let check = |code: u32, log: &str| match code {
            0 => "accepted".to_string(),
            _ => format!("refused (code {code}): {log}"),
        };
        match &self.sent {
            Sent::Submitted(s) => {
                println!("check_tx:    {}", check(s.code, &s.log));
                println!(
                    "(sent without waiting for its block: `verigame ask --rpc URL /tx {}`)",
                    hex_plain(&self.hash)
                );
            }
            Sent::Committed { committed: c, proven } => {
                println!("check_tx:    {}", check(c.check_tx.code, &c.check_tx.log));
                let Some(r) = &c.tx_result else { return };
                println!("height:      {}", c.height);
                println!("code:        {}", r.code);
                if !r.log.is_empty() {
                    println!("log:         {}", r.log);
                }
                match serde_json::from_slice::<ResultData>(&r.data) {
                    Ok(d) => {
                        let o = &d.outcome;
                        let results: Vec<String> = o.results.iter().map(|v| format!("{v} ({})", v.ty())).collect();
                        println!(
                            "status:      {}",
                            serde_json::to_value(o.status).unwrap_or_default().as_str().unwrap_or("?")
                        );
                        println!(
                            "results:     {}",
                            if results.is_empty() { "none".into() } else { results.join(", ") }
                        );
                        if let Some(code) = o.exit_code {
                            println!("exit code:   {code}");
                        }
                        if let Some(error) = &o.error {
                            println!("error:       {error}");
                        }
                        if !o.stdout.is_empty() {
                            println!("output:      {}", bytes_text(&o.stdout));
                        }
                        if !o.stderr.is_empty() {
                            println!("stderr:      {}", bytes_text(&o.stderr));
                        }
                        if !o.emitted.is_empty() {
                            let emitted: Vec<String> = o.emitted.iter().map(i64::to_string).collect();
                            println!("emitted:     {}", emitted.join(", "));
                        }
                        println!("steps:       {}", o.steps);
                        println!("gas:         {}", o.gas);
                        println!("post hash:   {}", merkle_memory::hex(&d.post_hash));
                    }
                    Err(_) => println!("data:        {}", String::from_utf8_lossy(&r.data)),
                }
                if let Some(p) = proven {
                    println!(
                        "proven against app hash {} (block {}'s header)",
                        merkle_memory::hex(&p.app_hash),
                        c.height + 1
                    );
                }
            }
        }
    }
}

/// A result's data: its JSON if it is JSON, else its text.
fn data_json(data: &[u8]) -> Json {
    serde_json::from_slice(data).unwrap_or_else(|_| json!(String::from_utf8_lossy(data)))
}

/// Bytes as JSON: a string when they are UTF-8, else `{"hex": "0x…"}` (as the node's
/// outcomes show them).
fn bytes_json(bytes: &[u8]) -> Json {
    match std::str::from_utf8(bytes) {
        Ok(text) => json!(text),
        Err(_) => json!({"hex": bytes_to_hex(bytes)}),
    }
}

/// Bytes for people: the text, quoted and escaped, when they are UTF-8, else hex.
fn bytes_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => format!("{text:?}"),
        Err(_) => format!("{} ({} bytes, not UTF-8)", bytes_to_hex(bytes), bytes.len()),
    }
}

/// Hex without `0x`, as `verigame ask /tx` takes a hash.
fn hex_plain(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_typed_and_bare_arguments() {
        let args = parse_args(None, &strings(&["5", "i64:-3", "f32:1.5", "f64:0x7ff8000000000001", "-7"])).unwrap();
        assert_eq!(
            args,
            [
                Value::I32(5),
                Value::I64(-3),
                Value::F32(1.5f32.to_bits()),
                Value::F64(0x7ff8_0000_0000_0001),
                Value::I32(-7)
            ]
        );
        // By the signature, bare values take the parameter's type.
        let params = [ValType::I64, ValType::F64];
        let args = parse_args(Some(&params), &strings(&["9", "f64:2"])).unwrap();
        assert_eq!(args, [Value::I64(9), Value::F64(2f64.to_bits())]);
    }

    #[test]
    fn argument_errors_say_what_is_wrong() {
        let err = |params: Option<&[ValType]>, args: &[&str]| {
            format!("{:#}", parse_args(params, &strings(args)).unwrap_err())
        };
        assert!(
            err(None, &["1.5"]).contains("argument 1: `1.5` is not an i32; give its type"),
            "{}",
            err(None, &["1.5"])
        );
        assert!(err(None, &["1", "x5000000000"]).contains("argument 2"));
        assert!(err(Some(&[ValType::I32]), &["i64:1"]).contains("typed i64, but the parameter is i32"));
        assert!(err(Some(&[ValType::I32]), &[]).contains("takes 1 argument(s) (i32), 0 given"));
        assert!(err(Some(&[ValType::FuncRef]), &["null"]).contains("numbers only"));
        assert!(err(None, &["i32:x"]).contains("`x` is not a decimal integer"));
    }
}
