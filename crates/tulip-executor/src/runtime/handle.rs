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
    #[track_caller]
    pub fn spawn<F>(&self, fut: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.shared.spawn(fut, None, std::panic::Location::caller())
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
                        homed: r.counters.homed.load(Relaxed),
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

    /// Sets the handler that receives every report of this runtime (asyncio's
    /// `loop.set_exception_handler`): slow polls, errors and panics nobody retrieved, resources
    /// dropped unclosed, tasks pending at shutdown (see [`crate::debug`]). It runs on the thread
    /// that makes the report (a worker, or wherever a resource is dropped), so it should be
    /// quick; a panic in it is caught and the report logged by the default handler instead.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use tulip_executor::debug::ReportKind;
    ///
    /// let rt = tulip_executor::Runtime::new().unwrap();
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let s = seen.clone();
    /// rt.handle().set_exception_handler(move |ctx| s.lock().unwrap().push(ctx.clone()));
    /// rt.block_on(async {
    ///     let t = tulip_executor::task::Builder::new()
    ///         .spawn_fallible(async { Err::<(), _>("disk full") });
    ///     while !t.is_finished() {
    ///         tulip_executor::yield_now().await;
    ///     }
    ///     drop(t); // never retrieved: reported now
    /// });
    /// drop(rt);
    /// let seen = seen.lock().unwrap();
    /// assert_eq!(seen[0].kind, ReportKind::TaskErrorNotRetrieved);
    /// assert_eq!(seen[0].error.as_deref(), Some("disk full"));
    /// ```
    pub fn set_exception_handler(
        &self,
        f: impl Fn(&crate::debug::ExceptionContext) + Send + Sync + 'static,
    ) {
        self.shared.diag.set_handler(Some(std::sync::Arc::new(f)));
    }

    /// Puts back the default handler ([`default_exception_handler`](crate::debug::default_exception_handler),
    /// asyncio's `set_exception_handler(None)`).
    pub fn reset_exception_handler(&self) {
        self.shared.diag.set_handler(None);
    }

    /// Hands `ctx` to this runtime's exception handler (asyncio's `loop.call_exception_handler`).
    pub fn call_exception_handler(&self, ctx: crate::debug::ExceptionContext) {
        self.shared.diag.report(&ctx);
    }

    /// Whether debug mode is on (asyncio's `loop.get_debug`).
    pub fn debug(&self) -> bool {
        self.shared.diag.debug()
    }

    /// Turns debug mode on or off from now on (asyncio's `loop.set_debug`): tasks and
    /// resources created while it is on remember their creation sites.
    pub fn set_debug(&self, on: bool) {
        self.shared.diag.set_debug(on);
    }

    /// Changes the poll duration that debug mode warns about.
    pub fn set_slow_poll_threshold(&self, d: std::time::Duration) {
        self.shared.diag.set_slow_poll(d);
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("workers", &self.shared.num_workers())
            .finish()
    }
}
