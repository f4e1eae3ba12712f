//! `verigame prove` and `verigame judge`: one-step proofs from the command line.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use judge::{Judge, Proof};
use merkle_memory::{hex, Hash};
use serde_json::{json, Value as Json};
use stepper::{Config, Module};

/// What `verigame judge` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub valid: bool,
    pub step: u64,
    pub pre_hash: String,
    /// The post-state hash the step gives, when the proof opens enough to run it.
    pub post_hash: Option<String>,
    pub instruction: Option<String>,
    pub proof_bytes: usize,
    /// Whether the proof starts from the pre-state hash the judge was given
    /// (`--pre-hash`), if one was.
    pub pre_hash_matches: Option<bool>,
    pub reason: Option<String>,
}

impl Report {
    pub fn to_json(&self) -> Json {
        json!({
            "valid": self.valid,
            "step": self.step,
            "pre_hash": self.pre_hash,
            "post_hash": self.post_hash,
            "instruction": self.instruction,
            "proof_bytes": self.proof_bytes,
            "pre_hash_matches": self.pre_hash_matches,
            "reason": self.reason,
        })
    }

    pub fn print(&self) {
        println!("step:        {}", self.step);
        println!("pre-hash:    {}", self.pre_hash);
        println!("post-hash:   {}", self.post_hash.as_deref().unwrap_or("(not computed)"));
        println!("instruction: {}", self.instruction.as_deref().unwrap_or("(none: the machine is halted)"));
        println!("proof:       {} bytes in binary form", self.proof_bytes);
        match &self.reason {
            None => println!("verdict:     valid"),
            Some(reason) => println!("verdict:     invalid: {reason}"),
        }
    }
}

/// The largest proof file read: the longest JSON text the judge reads as a proof, with
/// room for the configuration beside it.
pub const MAX_PROOF_FILE: u64 = judge::json::MAX_TEXT as u64 + 4096;

/// A proof file: the proof's JSON form with the configuration it commits to under
/// `config`, so that `verigame judge` checks it with the module alone.
pub fn proof_file(proof: &Proof, config: &Config) -> String {
    let mut value = judge::json::to_json(proof);
    value["config"] = traces::call::config_to_json(config);
    serde_json::to_string_pretty(&value).expect("JSON serializes") + "\n"
}

/// Reads a proof file in its JSON form, and the configuration it names, if any.
pub fn read_proof(path: &Path) -> Result<(Proof, Option<Config>)> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot read proof {}", path.display()))?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(file, MAX_PROOF_FILE + 1), &mut text)
        .with_context(|| format!("cannot read proof {}", path.display()))?;
    if text.len() as u64 > MAX_PROOF_FILE {
        bail!("{} is over {MAX_PROOF_FILE} bytes, more than any one-step proof", path.display());
    }
    let value: Json = serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let config = match value.get("config") {
        Some(c) => Some(traces::call::config_from_json(c).with_context(|| format!("{}", path.display()))?),
        None => None,
    };
    Ok((judge::json::from_json(&value)?, config))
}

/// Judges `proof` for `module` under `config`; with `agreed`, the pre-state both parties
/// agreed on, a proof starting from another state is invalid.
pub fn judge_proof(module: Arc<Module>, config: Config, proof: &Proof, agreed: Option<Hash>) -> Result<Report> {
    let judge = Judge::new(module, config)?;
    let instruction =
        judge.instruction(proof.state.frame.func, proof.state.frame.pc).filter(|_| proof.state.status == 0);
    let executed = judge.execute(proof);
    let post_hash = executed.as_ref().ok().map(|v| hex(&v.post_hash));
    let pre_hash_matches = agreed.map(|h| h == proof.pre_hash);
    let reason = match (&executed, agreed) {
        (_, Some(agreed)) if agreed != proof.pre_hash => Some(format!(
            "the proof starts from state {}, not the agreed pre-state {}",
            hex(&proof.pre_hash),
            hex(&agreed)
        )),
        (Err(invalid), _) => Some(invalid.to_string()),
        (Ok(v), _) if v.post_hash != proof.post_hash => {
            Some(format!("the proof claims post-state {}, the step gives {}", hex(&proof.post_hash), hex(&v.post_hash)))
        }
        (Ok(_), _) => None,
    };
    Ok(Report {
        valid: reason.is_none(),
        step: proof.step,
        pre_hash: hex(&proof.pre_hash),
        post_hash,
        instruction,
        proof_bytes: judge::to_bytes(proof).len(),
        pre_hash_matches,
        reason,
    })
}
