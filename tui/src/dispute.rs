//! A recorded game replayed move by move: the claims, each bisection round, and the
//! ruling on the step it came down to.

use merkle_memory::Hash;
use traces::{Role, Transcript};

/// One move of the replay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Move {
    /// Both parties claim a final state.
    Claims,
    /// Round `i` (from 0): both post hashes at the cut points, the referee keeps a part.
    Round(usize),
    /// The challenger proves the disputed step and the judge rules (or the game ended
    /// without one: no dispute, or a forfeit).
    End,
}

pub struct Replay {
    pub transcript: Transcript,
    /// Index of the move shown, into [`Replay::moves`].
    pub at: usize,
}

impl Replay {
    pub fn new(transcript: Transcript) -> Self {
        Self { transcript, at: 0 }
    }

    pub fn moves(&self) -> Vec<Move> {
        let rounds = (0..self.transcript.rounds.len()).map(Move::Round);
        std::iter::once(Move::Claims).chain(rounds).chain([Move::End]).collect()
    }

    pub fn current(&self) -> Move {
        self.moves()[self.at]
    }

    pub fn next(&mut self) {
        self.at = (self.at + 1).min(self.moves().len() - 1);
    }

    pub fn previous(&mut self) {
        self.at = self.at.saturating_sub(1);
    }

    pub fn last(&mut self) {
        self.at = self.moves().len() - 1;
    }

    pub fn claim(&self, role: Role) -> Option<traces::Claim> {
        self.transcript.claims[role_index(role)]
    }

    /// The steps the game is played over: the first round's range (k^R), else the
    /// longer claimed run.
    pub fn span(&self) -> u64 {
        let t = &self.transcript;
        t.rounds.first().map_or_else(|| t.claims.iter().flatten().map(|c| c.steps).max().unwrap_or(0), |r| r.range.1)
    }

    /// The range still in dispute after the current move: agreed at its start, disputed
    /// at its end.
    pub fn range(&self) -> (u64, u64) {
        let t = &self.transcript;
        match self.current() {
            Move::Claims => (0, self.span()),
            Move::Round(i) => t.rounds[i].next,
            Move::End => match (&t.ruling, t.rounds.last()) {
                (Some(r), _) => (r.step, r.step + 1),
                (None, Some(round)) => round.next,
                (None, None) => (0, self.span()),
            },
        }
    }

    /// Who moved, in a sentence.
    pub fn who_moved(&self) -> String {
        let t = &self.transcript;
        match self.current() {
            Move::Claims => match t.claims {
                [Some(d), Some(c)] if d.final_hash == c.final_hash => "both parties claim the same final state".into(),
                [Some(d), Some(c)] => {
                    format!("the defender claims {} steps, the challenger {} steps", d.steps, c.steps)
                }
                _ => "a party made no claim".into(),
            },
            Move::Round(i) => {
                let r = &t.rounds[i];
                let hashes = crate::ui::count(r.points.len(), "hash", "hashes");
                format!(
                    "round {}: the defender and the challenger each post {hashes}; the referee keeps [{}, {}]",
                    r.round, r.next.0, r.next.1
                )
            }
            Move::End => match &t.ruling {
                Some(r) => format!(
                    "the challenger proves step {}; the judge rules for the {}",
                    r.step,
                    t.winner.map_or("nobody", Role::name)
                ),
                None => format!("the game ends: {}", t.reason),
            },
        }
    }

    /// The first point of round `i` the parties disagree on, if any.
    pub fn first_disagreement(&self, i: usize) -> Option<usize> {
        let r = &self.transcript.rounds[i];
        (0..r.points.len()).find(|&p| r.defender[p] != r.challenger[p])
    }

    pub fn disputed_step(&self) -> Option<u64> {
        self.transcript.ruling.as_ref().map(|r| r.step)
    }
}

fn role_index(role: Role) -> usize {
    match role {
        Role::Defender => 0,
        Role::Challenger => 1,
    }
}

/// The disputed step as the stepper checks it: the state both parties agree on before
/// it, and what each claims after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DisputedStep {
    pub step: u64,
    pub agreed: Hash,
    /// The defender's and the challenger's claimed hashes after the step.
    pub claimed_after: [Hash; 2],
}

impl DisputedStep {
    pub fn of(transcript: &Transcript) -> Option<Self> {
        let r = transcript.ruling.as_ref()?;
        Some(Self { step: r.step, agreed: r.agreed_hash, claimed_after: r.claimed_after })
    }

    /// What the stepper's state at `step` with `hash` says about the claims, if it is the
    /// disputed step or the one after it.
    pub fn verdict_on(&self, step: u64, hash: &Hash) -> Option<String> {
        if step == self.step {
            let agrees = if *hash == self.agreed {
                "this is the state both parties agreed on"
            } else {
                "this is NOT the agreed state"
            };
            return Some(format!("disputed step {}: {agrees}", self.step));
        }
        if step == self.step + 1 {
            let whose = match (*hash == self.claimed_after[0], *hash == self.claimed_after[1]) {
                (true, true) => "both parties' claim",
                (true, false) => "the defender's claim",
                (false, true) => "the challenger's claim",
                (false, false) => "neither party's claim",
            };
            return Some(format!("after disputed step {}: this state is {whose}", self.step));
        }
        None
    }
}
