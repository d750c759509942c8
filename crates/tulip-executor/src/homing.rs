//! Sends a detached task's last reference back to the worker that spawned it, so that the
//! task's memory is freed by the thread that allocated it.
//!
//! Why: a task spawned on worker A and stolen by worker B ends on B. When its handle was
//! detached, the last reference is dropped on B, which frees a block that A allocated. glibc's
//! malloc returns such a block to A's arena under that arena's lock, the lock A takes for its
//! next allocation; with a burst of spawns on A and ends on B, the two threads queue on that
//! lock. On the 2-worker `ping_pong` benchmark this doubled the time per round trip after
//! the first hundred samples (BENCHMARKS.md, session 15). Allocators with per-thread free
//! lists (jemalloc, mimalloc) do not need this, and lose nothing by it.
//!
//! How: each worker owns a bounded [`Homing`] queue. A worker that ends a detached task spawned
//! by a sibling pushes the registry's reference (a `Waker`) onto the sibling's queue instead of
//! dropping it; the sibling drops what its queue holds every `GLOBAL_INTERVAL` ticks and before
//! it parks, and at every `SPAWN_INTERVAL`th spawn (a task that spawns a burst keeps its
//! worker away from both, and the blocks it frees are the ones its next spawns reuse). A full
//! queue, or a runtime shutting down, makes the pusher drop the reference itself, as before:
//! homing only ever changes which thread frees, never whether.
//!
//! The protocol at shutdown, which the loom models check: a pusher that sees no shutdown after
//! its push leaves the item to the owner or to the runtime's final drain; `drop_all` after
//! shutdown (`Shared::finish_shutdown`) and the pusher's own check are separated by `SeqCst`
//! fences on both sides, so either the final drain sees the push or the pusher sees the
//! shutdown and drains the queue itself. No item is left behind, and none is dropped twice
//! (each is popped once).

use concurrent_queue::ConcurrentQueue;

use crate::sync::atomic::{AtomicBool, Ordering::SeqCst, fence};

/// Items a worker keeps for its siblings to drop. Bounded: a worker that does not come back
/// to its queue (parked for a long time) holds at most this many finished tasks' memory.
pub(crate) const CAP: usize = if cfg!(loom) { 2 } else { 1024 };

pub(crate) struct Homing<T> {
    queue: ConcurrentQueue<T>,
}

impl<T> Homing<T> {
    pub(crate) fn new() -> Homing<T> {
        Homing {
            queue: ConcurrentQueue::bounded(CAP),
        }
    }

    /// Queues `item` for the owner to drop; drops it here when the queue is full. `shutdown`
    /// is the runtime's flag: once it is up, whatever is queued is dropped here as well.
    pub(crate) fn send(&self, item: T, shutdown: &AtomicBool) {
        if let Err(e) = self.queue.push(item) {
            drop(e.into_inner());
            return;
        }
        // Pairs with the fence in the final drain (module docs).
        fence(SeqCst);
        if shutdown.load(SeqCst) {
            self.drop_all();
        }
    }

    /// Drops every queued item, on this thread. Returns how many.
    pub(crate) fn drop_all(&self) -> usize {
        let mut n = 0;
        while let Ok(item) = self.queue.pop() {
            drop(item);
            n += 1;
        }
        n
    }

    /// Whether nothing is queued (a racy hint).
    #[cfg_attr(not(loom), allow(dead_code))]
    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

/// The final drain, after `shutdown` went up: drops what every queue still holds.
pub(crate) fn drop_all_after_shutdown<'a, T: 'a>(queues: impl IntoIterator<Item = &'a Homing<T>>) {
    // Pairs with the fence in `send` (module docs).
    fence(SeqCst);
    for q in queues {
        q.drop_all();
    }
}
