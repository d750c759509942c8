//! The hand-off state machine, exposed to `tests/loom.rs` under `cfg(loom)` only. Not part of
//! the API.

pub use crate::handoff::{Backend, Handoff, Release, Role, SeatState, Signal, Wait, YIELD_PAUSE};
pub use crate::sync::{Parker, Unparker, pair};
