//! Execution traces and the verification game.
//!
//! A [`Trace`] records one party's run of a [`Call`] with checkpoints and answers the
//! state hash at any step; [`game`] plays the bisection between two parties down to one
//! step, which the judge rules on, and [`wire`] plays it across processes over TCP.
//! [`fault`] is the executor a party runs, honest or lying in one of several named
//! ways, for tests and demos.

pub mod call;
pub mod disk;
pub mod fault;
pub mod game;
pub mod trace;
pub mod wire;

pub use call::Call;
pub use fault::{Executor, Fault};
pub use game::{Claim, LocalParty, Outcome, Party, Referee, Role, Transcript};
pub use trace::{Limits, Trace};

/// Why a trace could not be made, stored or read.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error(transparent)]
    Machine(#[from] stepper::Error),
    #[error("{0}")]
    Call(String),
    #[error("the run did not finish within {0} steps; give it a gas limit")]
    Unfinished(u64),
    #[error("{0}")]
    Format(String),
    #[error(
        "replaying to step {step} gave state {}, not the recorded {}: the trace does not match its call",
        merkle_memory::hex(found),
        merkle_memory::hex(expected)
    )]
    Diverged { step: u64, expected: merkle_memory::Hash, found: merkle_memory::Hash },
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
}
