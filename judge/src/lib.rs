//! The judge: given the module, the configuration, the state hash before a step and a
//! one-step proof, it re-executes that single step with the stepper's own executor over
//! what the proof opens, never holding more of the state, and computes the state hash
//! after it. [`prove`] builds such proofs from a full machine.

pub mod codec;
#[cfg(feature = "json")]
pub mod json;
mod partial;
pub mod proof;
pub mod prove;
mod verify;

pub use codec::{from_bytes, from_bytes_with, to_bytes, to_full_bytes, FormatError, Known};
pub use proof::Proof;
pub use prove::{prove, prove_in_place};
pub use verify::{check_storage, Invalid, Judge, Verdict};
