//! The set of live tasks of one scheduler: what `all_tasks()` lists, what group cancellation
//! and a handle's `cancel` wake, and what shutdown cancels.
//!
//! Each entry holds a `Waker` (a reference that keeps the task allocation, and so its metadata,
//! alive) and a pointer to the task's metadata. A task leaves the registry when its future is
//! dropped, completed or cancelled. Shutdown takes every entry out and wakes it; the scheduler,
//! being shut down, then drops the `Runnable`, which drops the future and runs its destructors.
//!
//! Two layouts, one per kind of scheduler:
//!
//! - [`sharded`]: a multi-thread runtime's, where any worker spawns and ends tasks. Entries sit
//!   behind locks, sharded by task id.
//! - [`owned`]: a `LocalExecutor`'s, whose tasks are spawned and dropped only on its thread.
//!   That thread touches its entries without a lock; other threads (a handle's `cancel`, a
//!   group cancelled from a worker) post requests that it serves between tasks.

mod owned;
mod sharded;

use std::task::Waker;

use tulip_reactor::SeatWaker;

use crate::task::TaskInfo;
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

pub(crate) struct Registry(Kind);

enum Kind {
    Sharded(sharded::Sharded),
    Owned(owned::Owned),
}

impl Registry {
    /// A multi-thread runtime's registry.
    pub(crate) fn new() -> Registry {
        Registry(Kind::Sharded(sharded::Sharded::new()))
    }

    /// The registry of a `LocalExecutor` owned by the calling thread; `waker` wakes that
    /// thread when another one posts a request.
    pub(crate) fn owned(waker: SeatWaker) -> Registry {
        Registry(Kind::Owned(owned::Owned::new(waker)))
    }

    /// Registers a freshly spawned task, before its `Runnable` is first scheduled.
    #[inline]
    pub(crate) fn insert(&self, meta: &TaskMeta, waker: Waker) {
        match &self.0 {
            Kind::Sharded(r) => r.insert(meta, waker),
            Kind::Owned(r) => r.insert(meta, waker),
        }
    }

    /// Unregisters a task whose future is being dropped. Tolerates a missing entry (shutdown
    /// already took it), and checks ownership because a key may have been reused since.
    #[inline]
    pub(crate) fn remove(&self, meta: &TaskMeta) {
        match &self.0 {
            Kind::Sharded(r) => r.remove(meta),
            Kind::Owned(r) => r.remove(meta),
        }
    }

    /// Wakes a registered task (so that a cancellation request is seen at its next poll).
    /// Does nothing when the task has left the registry: it has ended, or shutdown took it.
    /// From another thread than a `LocalExecutor`'s own, the wake is posted to that thread.
    pub(crate) fn wake(&self, meta: &TaskMeta) {
        match &self.0 {
            Kind::Sharded(r) => r.wake(meta),
            Kind::Owned(r) => r.wake(meta),
        }
    }

    /// A waker of a registered task, `None` when the task has left the registry (it has
    /// ended, or shutdown took it). On a `LocalExecutor`'s registry, only its thread asks
    /// (the spawner of one of its tasks).
    pub(crate) fn waker(&self, meta: &TaskMeta) -> Option<Waker> {
        match &self.0 {
            Kind::Sharded(r) => r.waker(meta),
            Kind::Owned(r) => r.waker(meta),
        }
    }

    /// Cancels every registered task marked as a child of the group `mark` (see
    /// `TaskMeta::set_group`): asks each to stop at its next poll, and wakes it so that the
    /// poll comes. A task that has ended already ignores the request. From another thread
    /// than a `LocalExecutor`'s own, the request is posted to that thread, which serves it
    /// before it polls another task.
    pub(crate) fn cancel_group(&self, mark: u64) {
        match &self.0 {
            Kind::Sharded(r) => r.cancel_group(mark),
            Kind::Owned(r) => r.cancel_group(mark),
        }
    }

    /// Serves the requests other threads posted to a `LocalExecutor`'s registry (called by
    /// its thread before each task and before it sleeps); whether there were any.
    #[inline]
    pub(crate) fn serve(&self) -> bool {
        match &self.0 {
            Kind::Sharded(_) => false,
            Kind::Owned(r) => r.serve(),
        }
    }

    /// Lists the live tasks.
    pub(crate) fn list(&self) -> Vec<TaskInfo> {
        let mut out = match &self.0 {
            Kind::Sharded(r) => r.list(),
            Kind::Owned(r) => r.list(),
        };
        out.sort_by_key(|t| t.id);
        out
    }

    /// Takes every entry out and returns their wakers (woken by the caller, outside any lock).
    pub(crate) fn drain(&self) -> Vec<Waker> {
        match &self.0 {
            Kind::Sharded(r) => r.drain(),
            Kind::Owned(r) => r.drain(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match &self.0 {
            Kind::Sharded(r) => r.len(),
            Kind::Owned(r) => r.len(),
        }
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("live", &self.len())
            .finish()
    }
}
