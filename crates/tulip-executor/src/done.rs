//! The race between a task's end and `add_done_callback` (asyncio's `Task.add_done_callback`),
//! over the task's flags word and its callback list. Kept apart from `task::meta` so that the
//! loom models (`tests/loom.rs`) run this very code.
//!
//! The protocol: both sides read-modify-write the flags word, so one of the two updates comes
//! first in its modification order.
//!
//! - `add` sets `CALLBACKS` with the list locked, and pushes only if the task had not ended.
//!   If `CALLBACKS` came first, `end` sees it and takes the list after the push (the lock is
//!   held across the update and the push).
//! - `end` sets `ENDED` with the outcome bit in the same update, and looks at the list only
//!   when that update found `CALLBACKS`. If `ENDED` came first, `add` sees it and hands the
//!   callback back to run at once.
//!
//! Either way each callback runs exactly once, and a task nobody registers a callback on ends
//! with one read-modify-write and no fence.

use crate::sync::atomic::{AtomicU16, Ordering};
use crate::sync::{Mutex, lock};

/// Set by the first `end`: the task has ended, with the outcome bit set in the same update.
pub(crate) const ENDED: u16 = 32;
/// Set by `add`, with the callback list locked.
pub(crate) const CALLBACKS: u16 = 256;

/// Registers `f` in `list`, or hands it back with the flags that record the outcome when the
/// task has ended already (the caller runs it, outside the lock).
pub(crate) fn add<T>(flags: &AtomicU16, list: &Mutex<Vec<T>>, f: T) -> Result<(), (T, u16)> {
    let mut l = lock(list);
    let prev = flags.fetch_or(CALLBACKS, Ordering::AcqRel);
    if prev & ENDED != 0 {
        drop(l);
        return Err((f, prev));
    }
    l.push(f);
    Ok(())
}

/// Ends the task with the outcome `bit`, unless it has ended already (the first call wins).
/// Returns the flags when callbacks were registered before the end: the caller then `take`s
/// them (the list exists, since `add` created it before setting `CALLBACKS`).
///
/// Only the future's owner (whoever polls or drops it) ends a task, so a second call (the
/// drop after a completion) sees `ENDED` with a plain load, without a read-modify-write.
#[inline]
pub(crate) fn end(flags: &AtomicU16, bit: u16) -> Option<u16> {
    if flags.load(Ordering::Relaxed) & ENDED != 0 {
        return None;
    }
    let prev = flags.fetch_or(bit | ENDED, Ordering::AcqRel);
    (prev & (ENDED | CALLBACKS) == CALLBACKS).then_some(prev | bit | ENDED)
}

/// The callbacks registered before the end (call after `end` returned `Some`).
pub(crate) fn take<T>(list: &Mutex<Vec<T>>) -> Vec<T> {
    std::mem::take(&mut *lock(list))
}
