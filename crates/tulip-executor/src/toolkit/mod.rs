//! asyncio's task toolkit: gather, wait, as_completed, wait_for, shield, yield_now, TaskGroup.
#![forbid(unsafe_code)]

mod set;
#[cfg(test)]
mod testing;
mod gather;

pub use gather::{Gather, TryGather, gather, gather2, gather3, try_gather, try_gather2, try_gather3};
mod as_completed;
mod time;
mod wait;

pub use as_completed::{AsCompleted, AsCompletedTimeout, as_completed};
pub use time::{YieldNow, wait_for, yield_now};
pub use wait::{Outcome, ReturnWhen, Wait, wait};
