//! `Handle`: a cloneable reference to a runtime, and the thread's current runtime.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use crate::runtime::shared::Shared;
use crate::runtime::{Metrics, WorkerMetrics};
use crate::task::Task;

thread_local! {
    /// The runtime `spawn` uses on this thread (workers, `block_on`, `Handle::enter`).
    static CURRENT: RefCell<Option<Arc<Shared>>> = const { RefCell::new(None) };
}

/// A cloneable handle to a [`Runtime`](crate::Runtime): spawn onto it from anywhere.
#[derive(Clone)]
pub struct Handle {
    pub(crate) shared: Arc<Shared>,
}

/// Restores the previous current runtime when dropped (see [`Handle::enter`]).
#[must_use = "the runtime stays current only while the guard lives"]
pub struct EnterHandleGuard {
    prev: Option<Arc<Shared>>,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl fmt::Debug for EnterHandleGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EnterHandleGuard")
    }
}

impl Drop for EnterHandleGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        CURRENT.with(|c| *c.borrow_mut() = prev);
    }
}

pub(crate) fn enter_handle(shared: Arc<Shared>) -> EnterHandleGuard {
    let prev = CURRENT.with(|c| c.borrow_mut().replace(shared));
    EnterHandleGuard {
        prev,
        _not_send: std::marker::PhantomData,
    }
}

/// The current runtime, if this thread has one.
pub(crate) fn try_current_shared() -> Option<Arc<Shared>> {
    crate::runtime::worker::current_shared()
        .or_else(|| CURRENT.try_with(|c| c.borrow().clone()).ok().flatten())
}

impl Handle {
    /// The handle of the runtime this thread runs in (a worker, inside `block_on`, or after
    /// [`Handle::enter`]).
    ///
    /// # Panics
    ///
    /// Panics outside a tulip runtime; [`Handle::try_current`] does not.
    pub fn current() -> Handle {
        Handle::try_current().expect(
            "there is no tulip runtime on this thread: call this from inside Runtime::block_on, \
             a spawned task, or after Handle::enter",
        )
    }

    /// The handle of the runtime this thread runs in, or `None`.
    pub fn try_current() -> Option<Handle> {
        try_current_shared().map(|shared| Handle { shared })
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Spawns a task onto this runtime. Dropping the returned handle detaches the task, unless
    /// it was being awaited (see [`Task`]).
    pub fn spawn<F>(&self, fut: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.shared.spawn(fut, None)
    }

    /// Runs `f` on this runtime's blocking pool.
    pub fn spawn_blocking<F, T>(&self, f: F) -> Task<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.shared.blocking.spawn(f)
    }

    /// Makes this runtime the current one on this thread until the guard drops, so that
    /// [`spawn`](crate::spawn) works from plain threads.
    pub fn enter(&self) -> EnterHandleGuard {
        enter_handle(self.shared.clone())
    }

    /// A snapshot of the scheduler's counters.
    pub fn metrics(&self) -> Metrics {
        let s = &*self.shared;
        Metrics {
            workers: s
                .remotes
                .iter()
                .map(|r| {
                    use std::sync::atomic::Ordering::Relaxed;
                    WorkerMetrics {
                        polls: r.counters.polls.load(Relaxed),
                        steals: r.counters.steals.load(Relaxed),
                        parks: r.counters.parks.load(Relaxed),
                        injector_pops: r.counters.injector_pops.load(Relaxed),
                        local_queue_len: r.stealer.len(),
                    }
                })
                .collect(),
            injector_len: s.injector.len(),
            live_tasks: s.registry.len(),
            searching_workers: s.idle.num_searching(),
            parked_workers: s.idle.num_parked(),
            blocking_threads: s.blocking.num_threads(),
        }
    }

    /// The tasks alive on this runtime, by id (asyncio's `all_tasks()`).
    pub fn all_tasks(&self) -> Vec<crate::task::TaskInfo> {
        self.shared.registry.list()
    }

    /// The number of worker threads.
    pub fn num_workers(&self) -> usize {
        self.shared.num_workers()
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("workers", &self.shared.num_workers())
            .finish()
    }
}
