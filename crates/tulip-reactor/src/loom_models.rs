//! The hand-off state machine and the readiness word, exposed to `tests/loom.rs` under `cfg(loom)` only. Not part of
//! the API.

pub use crate::handoff::{Backend, Handoff, Release, Role, SeatState, Signal, Wait, YIELD_PAUSE};
pub use crate::readiness::{
    ARM_BOTH, ARM_IN, ARM_OUT, Cleared, Dir, Readiness, Registration, STRIKES,
};
pub use crate::sync::{Parker, Unparker, pair};
