//! asyncio's task toolkit: `gather`, `wait`, `as_completed`, `wait_for`, `shield`,
//! `yield_now` and `TaskGroup`.
//!
//! The combinators (`gather`, `try_gather`, `as_completed`, `wait`) poll their futures inside
//! the awaiting task through one shared set (`set.rs`) that gives every member its own waker,
//! so a wake-up polls only the member that asked for it. They work with any executor and with
//! `tulip_reactor::block_on`; hand them [`Task`](crate::Task) handles to run the work on the
//! runtime's workers instead. `TaskGroup` and `shield` need the runtime's tasks.
//!
//! Cancellation in Rust is dropping a future. Every function here documents what a drop
//! cancels; the rule of thumb is that combinators cancel the futures they own, while a `Task`
//! handle dropped by a combinator only detaches its task — except in a `TaskGroup`, whose
//! drop cancels its children.
#![forbid(unsafe_code)]

mod as_completed;
mod gather;
mod group;
mod set;
mod shield;
#[cfg(test)]
mod testing;
mod time;
mod wait;

pub use as_completed::{AsCompleted, AsCompletedTimeout, as_completed};
pub use gather::{
    Gather, TryGather, gather, gather2, gather3, try_gather, try_gather2, try_gather3,
};
pub use group::{Failure, GroupError, GroupSpawner, GroupTask, TaskGroup};
pub use shield::{Shield, shield};
pub use time::{YieldNow, wait_for, yield_now};
pub use wait::{CountsAsFailure, ReturnWhen, Wait, wait};
