//! The set of live tasks of one scheduler: what `all_tasks()` lists, what group cancellation
//! and a handle's `cancel` wake, and what shutdown cancels.
//!
//! Each entry holds a `Waker` (a reference that keeps the task allocation, and so its metadata,
//! alive) and a pointer to the task's metadata (in a worker's table: its address, as the key). A task leaves the registry when its future is
//! dropped, completed or cancelled. Shutdown takes every entry out and wakes it; the scheduler,
//! being shut down, then drops the `Runnable`, which drops the future and runs its destructors.
//!
//! Two layouts, one per kind of scheduler, each held directly by its scheduler (a runtime's
//! shared state does not grow by the other's fields); code that reaches a task's registry
//! through the task (`TaskMeta::registry`) gets a [`RegistryRef`] to either:
//!
//! - [`sharded`]: a multi-thread runtime's, where any worker spawns and ends tasks. A task
//!   spawned on a worker has its entry in that worker's table (`crate::slots`), which the
//!   worker fills and empties without a lock; other threads read and empty its slots through
//!   each slot's state word. Tasks spawned elsewhere have theirs behind locks, sharded by
//!   task id.
//! - [`owned`]: a `LocalExecutor`'s, whose tasks are spawned and dropped only on its thread.
//!   That thread touches its entries without a lock; other threads (a handle's `cancel`, a
//!   group cancelled from a worker) post requests that it serves between tasks.

mod owned;
mod sharded;

pub(crate) use owned::Owned;
pub(crate) use sharded::Sharded;

use std::sync::atomic::Ordering;
use std::task::Waker;

use slab::Slab;

use crate::task::meta::TaskMeta;

struct Entry {
    waker: Waker,
    meta: *const TaskMeta,
}

// SAFETY: invariant 2 of `crate::task`: `meta` points into the allocation that `waker` keeps
// alive, and `TaskMeta` is `Sync`; the pointer is only read as `&TaskMeta`.
unsafe impl Send for Entry {}

impl Entry {
    fn meta(&self) -> &TaskMeta {
        // SAFETY: invariant 2 of `crate::task`: the entry's waker keeps the allocation alive.
        unsafe { &*self.meta }
    }
}

/// Adds a task's entry to `slab` and records its key in the task.
#[inline]
fn insert_into(slab: &mut Slab<Entry>, meta: &TaskMeta, waker: Waker) {
    let key = slab.insert(Entry { waker, meta });
    // A slab holding 2^32 - 1 live tasks would need hundreds of GiB of task allocations.
    let key = u32::try_from(key)
        .ok()
        .filter(|&k| k != u32::MAX)
        .expect("fewer than 2^32 - 1 live tasks per registry slab");
    meta.reg_key.store(key, Ordering::Relaxed);
}

/// The key of a task's entry, `None` when it never had one.
#[inline]
fn key_of(meta: &TaskMeta) -> Option<usize> {
    let key = meta.reg_key.load(Ordering::Relaxed);
    (key != u32::MAX).then_some(key as usize)
}

/// Takes a task's entry out of `slab`, if it is still there: the key may have been reused by
/// another task since this one's entry left (shutdown took it).
#[inline]
fn take_from(slab: &mut Slab<Entry>, key: usize, meta: &TaskMeta) -> Option<Entry> {
    match slab.get(key) {
        Some(e) if std::ptr::eq(e.meta, meta) => Some(slab.remove(key)),
        _ => None,
    }
}

/// A waker of a task whose entry is still in `slab` (see `take_from`).
#[inline]
fn waker_in(slab: &Slab<Entry>, key: usize, meta: &TaskMeta) -> Option<Waker> {
    match slab.get(key) {
        Some(e) if std::ptr::eq(e.meta, meta) => Some(e.waker.clone()),
        _ => None,
    }
}

/// A task's registry, whichever its scheduler keeps (see `TaskMeta::registry`).
#[derive(Clone, Copy)]
pub(crate) enum RegistryRef<'a> {
    Sharded(&'a Sharded),
    Owned(&'a Owned),
}

impl RegistryRef<'_> {
    /// Unregisters a task whose future is being dropped. Tolerates a missing entry (shutdown
    /// already took it), and checks ownership because a key may have been reused since.
    #[inline]
    pub(crate) fn remove(self, meta: &TaskMeta) {
        match self {
            RegistryRef::Sharded(r) => r.remove(meta),
            RegistryRef::Owned(r) => r.remove(meta),
        }
    }

    /// Wakes a registered task (so that a cancellation request is seen at its next poll).
    /// Does nothing when the task has left the registry: it has ended, or shutdown took it.
    /// From another thread than a `LocalExecutor`'s own, the wake is posted to that thread.
    pub(crate) fn wake(self, meta: &TaskMeta) {
        match self {
            RegistryRef::Sharded(r) => r.wake(meta),
            RegistryRef::Owned(r) => r.wake(meta),
        }
    }

    /// A waker of a registered task, `None` when the task has left the registry (it has
    /// ended, or shutdown took it). On a `LocalExecutor`'s registry, only its thread asks
    /// (the spawner of one of its tasks).
    pub(crate) fn waker(self, meta: &TaskMeta) -> Option<Waker> {
        match self {
            RegistryRef::Sharded(r) => r.waker(meta),
            RegistryRef::Owned(r) => r.waker(meta),
        }
    }

    /// Cancels every registered task marked as a child of the group `mark` (see
    /// `TaskMeta::set_group`): asks each to stop at its next poll, and wakes it so that the
    /// poll comes. A task that has ended already ignores the request. From another thread
    /// than a `LocalExecutor`'s own, the request is posted to that thread, which serves it
    /// before it polls another task.
    pub(crate) fn cancel_group(self, mark: u64) {
        match self {
            RegistryRef::Sharded(r) => r.cancel_group(mark),
            RegistryRef::Owned(r) => r.cancel_group(mark),
        }
    }
}
