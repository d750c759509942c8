//! Requests from other threads to the thread that owns some state (a `LocalExecutor`'s task
//! registry), served by that thread between tasks. Kept apart from the registry so that the
//! loom models (`tests/loom.rs`) run this very code.
//!
//! The protocol: `post` pushes the request and raises `pending` with the list locked; `take`
//! looks at `pending` without the lock and, when it is up, empties the list and lowers
//! `pending` with the list locked. `pending` is therefore up exactly while the list holds
//! requests (as seen under the lock), so:
//!
//! - a `take` that happens after a `post` (through any chain of synchronisation: a channel
//!   message, the owner's unpark) sees `pending` up, or a later `take` already served the
//!   request: nothing that the poster did before posting is missed by what the owner does
//!   after its `take`;
//! - the owner's fast path, with nothing posted, is one load.
//!
//! The poster wakes the owner after `post` (the caller's job), and the owner calls `take`
//! before it parks, so a request is never left waiting for a thread that sleeps.

use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::{Mutex, lock};

pub(crate) struct Mailbox<T> {
    pending: AtomicBool,
    list: Mutex<Vec<T>>,
}

impl<T> Mailbox<T> {
    pub(crate) fn new() -> Mailbox<T> {
        Mailbox {
            pending: AtomicBool::new(false),
            list: Mutex::new(Vec::new()),
        }
    }

    /// Leaves a request for the owner (who must then be woken).
    pub(crate) fn post(&self, request: T) {
        let mut list = lock(&self.list);
        list.push(request);
        self.pending.store(true, Ordering::Release);
    }

    /// Whether requests wait (a hint for the owner's loop: `take` decides).
    #[inline]
    pub(crate) fn is_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// The requests posted since the last `take`, or `None` (with one load) when there are none.
    #[inline]
    pub(crate) fn take(&self) -> Option<Vec<T>> {
        if !self.is_pending() {
            return None;
        }
        self.take_slow()
    }

    #[cold]
    fn take_slow(&self) -> Option<Vec<T>> {
        let mut list = lock(&self.list);
        self.pending.store(false, Ordering::Relaxed);
        let out = std::mem::take(&mut *list);
        (!out.is_empty()).then_some(out)
    }
}
