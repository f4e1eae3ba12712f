//! `verigame prove` and `verigame judge`: one-step proofs from the command line.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use judge::{Judge, Proof};
use merkle_memory::hex;
use serde_json::{json, Value as Json};
use stepper::{Config, Machine, Module};

/// The machine at step `step` of a call (or at its final state, if it halts earlier)
/// and the proof of its next step.
pub fn prove_step(machine: &mut Machine, step: u64) -> Proof {
    machine.run(step);
    judge::prove(machine)
}

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

/// Reads a proof file in its JSON form.
pub fn read_proof(path: &Path) -> Result<Proof> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read proof {}", path.display()))?;
    let value: Json = serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    Ok(judge::json::from_json(&value)?)
}

/// Judges `proof` for `module` under `config`.
pub fn judge_proof(module: Arc<Module>, config: Config, proof: &Proof) -> Result<Report> {
    let judge = Judge::new(module, config)?;
    let instruction =
        judge.instruction(proof.state.frame.func, proof.state.frame.pc).filter(|_| proof.state.status == 0);
    let executed = judge.execute(proof);
    let post_hash = executed.as_ref().ok().map(|v| hex(&v.post_hash));
    let reason = match &executed {
        Err(invalid) => Some(invalid.to_string()),
        Ok(v) if v.post_hash != proof.post_hash => {
            Some(format!("the proof claims post-state {}, the step gives {}", hex(&proof.post_hash), hex(&v.post_hash)))
        }
        Ok(_) => None,
    };
    Ok(Report {
        valid: reason.is_none(),
        step: proof.step,
        pre_hash: hex(&proof.pre_hash),
        post_hash,
        instruction,
        proof_bytes: judge::to_bytes(proof).len(),
        reason,
    })
}
