//! `verigame record`, `verigame query` and `verigame dispute`: traces and whole games
//! from the command line.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use merkle_memory::hex;
use serde_json::{json, Value as Json};
use stepper::Config;
use traces::{Call, Outcome, Role};

/// The call a trace or a game is about: the module at `path`, the export (or the
/// default one, or the module's `_start` as a WASI command with `args` as argv) and its
/// textual arguments, parsed by the export's signature; no further WASI input
/// ([`crate::run::build_call`] takes it).
pub fn trace_call(path: &Path, export: Option<&str>, args: &[String], config: Config) -> Result<Call> {
    crate::run::build_call(path, export, args, &crate::run::WasiArgs::default(), config)
}

/// A spinner per recording that counts steps, drawn only on a terminal and never in
/// `--json` mode.
pub struct Progress {
    bars: Vec<(Role, ProgressBar)>,
}

impl Progress {
    pub fn new(roles: &[(Role, &str)], quiet: bool) -> Self {
        let multi = MultiProgress::new();
        let style = ProgressStyle::with_template("{spinner} {prefix:>24} {human_pos} steps ({per_sec})")
            .expect("a valid template");
        let shown = !quiet && std::io::stderr().is_terminal();
        let bars = roles
            .iter()
            .map(|&(role, label)| {
                let bar = if shown { multi.add(ProgressBar::new_spinner()) } else { ProgressBar::hidden() };
                bar.set_style(style.clone());
                bar.set_prefix(label.to_string());
                (role, bar)
            })
            .collect();
        Self { bars }
    }

    pub fn update(&self, role: Role, steps: u64) {
        if let Some((_, bar)) = self.bars.iter().find(|(r, _)| *r == role) {
            bar.set_position(steps);
        }
    }

    pub fn finish(&self) {
        self.bars.iter().for_each(|(_, bar)| bar.finish_and_clear());
    }
}

/// What `verigame dispute` reports.
pub struct DisputeReport<'a> {
    pub outcome: &'a Outcome,
    pub fault: traces::Fault,
    pub faulty: Role,
}

impl DisputeReport<'_> {
    fn steps(&self, role: Role) -> Option<u64> {
        let i = if role == Role::Defender { 0 } else { 1 };
        self.outcome.transcript.claims[i].map(|c| c.steps)
    }

    /// [`traces::wire::summary`] (what `verigame referee --json` prints too), with which
    /// side was honest, each side's steps by honesty and the fault.
    pub fn to_json(&self) -> Json {
        let mut report = traces::wire::summary(self.outcome);
        let extra = [
            ("honest", json!(self.faulty.other().name())),
            ("steps_honest", json!(self.steps(self.faulty.other()))),
            ("steps_faulty", json!(self.steps(self.faulty))),
            ("fault", json!(self.fault.to_string())),
        ];
        let fields = report.as_object_mut().expect("the summary is an object");
        fields.extend(extra.map(|(k, v)| (k.to_string(), v)));
        report
    }

    pub fn print(&self) {
        let honest = self.faulty.other();
        print_game(self.outcome, &|role| {
            if role == honest {
                "honest".to_string()
            } else {
                format!("faulty, {}", self.fault)
            }
        });
        if !self.outcome.disputed {
            println!("(the fault changed nothing the final state shows: the faulty party's claim is the honest one)");
            return;
        }
        let side = if self.outcome.winner == honest { "the honest party" } else { "the faulty party" };
        println!("winner: {} ({side})", self.outcome.winner);
    }
}

/// Prints a game move by move, down to the verdict: the claims (each side described by
/// `who`), the rounds, the step the game came down to and the judge's ruling on it.
pub fn print_game(outcome: &Outcome, who: &dyn Fn(Role) -> String) {
    let t = &outcome.transcript;
    println!("degree {}, initial state {}", t.degree, hex(&t.initial_hash));
    for role in [Role::Defender, Role::Challenger] {
        let claim = t.claims[if role == Role::Defender { 0 } else { 1 }];
        let who = who(role);
        match claim {
            Some(c) => println!("{role:>10} ({who}): {} steps, final state {}", c.steps, hex(&c.final_hash)),
            None => println!("{role:>10} ({who}): no claim"),
        }
    }
    for r in &t.rounds {
        println!("round {:>3}: [{}, {}] -> [{}, {}]", r.round, r.range.0, r.range.1, r.next.0, r.next.1);
    }
    if let Some(r) = &t.ruling {
        let place = match (&r.function, &r.instruction) {
            (Some(f), Some(i)) => format!("in {f}: {i}"),
            _ => "(the agreed state has halted)".to_string(),
        };
        println!("diverged at step {} {place}", r.step);
        println!("   agreed before:     {}", hex(&r.agreed_hash));
        println!("   defender after:    {}", hex(&r.claimed_after[0]));
        println!("   challenger after:  {}", hex(&r.claimed_after[1]));
        match (&r.judged_after, &r.rejected) {
            (Some(after), _) => println!("   judge after:       {}", hex(after)),
            (None, Some(why)) => println!("   proof rejected:    {why}"),
            (None, None) => {}
        }
        println!("proof: {} bytes in binary form", r.proof_bytes);
    }
    println!("verdict: {}", outcome.reason);
}

/// Writes a game's transcript as JSON.
pub fn write_transcript(outcome: &Outcome, path: &Path) -> Result<()> {
    let text = serde_json::to_string_pretty(&outcome.transcript.to_json())? + "\n";
    std::fs::write(path, text).with_context(|| format!("cannot write the transcript to {}", path.display()))
}
