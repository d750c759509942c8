//! Tasks: the `Task<T>` handle, `JoinError`, task ids and names, and the task `Builder`.
//!
//! A task is one async-task allocation holding a header, a `TaskMeta` (id, scheduler, registry
//! slot, state flags) and the future wrapped in a `TaskFuture`, which catches panics and
//! releases the task's registry slot when the future is dropped. What few tasks use (a name,
//! a panic or cancellation message, done callbacks) lives in a second allocation that the
//! first use makes, so that a plain spawn writes and copies no more than it needs.
//!
//! # Dropping a handle detaches, unless it was being awaited
//!
//! Dropping a [`Task`] handle *detaches* the task: it keeps running to completion, and its output
//! is dropped. This is the opposite of async-task's and smol's default, where dropping the
//! handle cancels, because asyncio users expect `create_task` work to run whether or not they
//! keep the handle. A handle dropped *while being awaited* (polled, not finished) cancels
//! instead: in asyncio, cancelling a coroutine that awaits a task cancels the task, which is
//! what makes `wait_for(task)` cancel on time-out. Otherwise cancellation is explicit
//! ([`Task::cancel`], [`Task::cancel_with`]) or structured (a task group).
//!
//! # Panics
//!
//! A panic in a task's future is caught inside the task (the worker survives). Awaiting the
//! handle gives [`JoinError`] with [`JoinError::is_panic`], and [`JoinError::into_panic`] hands
//! out the payload for `std::panic::resume_unwind`. A panic nobody observes (the handle was
//! dropped or detached) is reported to the runtime's exception handler (by default logged
//! through `log`), like asyncio's "Task exception was never retrieved"; so is the `Err` of a
//! `Builder::spawn_fallible` task nobody retrieved.
//!
//! # Safety invariants
//!
//! 1. A task's metadata lives in the same allocation as its future and is dropped after it
//!    (async-task drops the future on completion or cancellation, the metadata on deallocation),
//!    so a pointer to the metadata taken when the future is built is valid whenever the future
//!    is alive. `TaskMeta` is `Sync`.
//! 2. A registry entry holds a `Waker` of its task, which keeps the allocation alive; the
//!    metadata pointer stored beside it is valid while the entry exists (in a worker's table,
//!    `crate::slots`, while a read of the entry is held, since no read begins once the entry
//!    is removed and the waker leaves only when the last read ends).
//! 3. A `Task` handle holds an async-task handle, which keeps the allocation alive; the metadata
//!    pointer stored beside it is valid while the handle exists.
//! 4. While a worker runs a `Runnable` the allocation is alive (the runnable holds a reference
//!    until `run` returns), so a metadata pointer published for `current_task()` during `run` is
//!    valid until it is cleared after `run`. An eager spawn (`run_eagerly`) publishes the new
//!    task the same way around its first `run` and then restores the caller's pointer, which
//!    is still valid because the caller's `run` (or the main future's poll) has not returned.
//!    The main future of a `block_on` publishes its own boxed metadata around each of its
//!    polls (invariant 2 of `local`).

mod builder;
mod fallible;
pub(crate) mod meta;

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::{Context, Poll};

pub use builder::{Builder, spawn_eager};
pub use meta::TaskOutcome;
use meta::{Panic, Stop, TaskMeta};

/// A task's unique id within the process, never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(pub(crate) u64);

impl TaskId {
    /// The id as a number.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Task-{}", self.0)
    }
}

/// A snapshot of a live task, as listed by [`all_tasks`](crate::all_tasks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskInfo {
    /// The task's id.
    pub id: TaskId,
    /// The task's name, if it was given one.
    pub name: Option<String>,
}

/// Why awaiting a [`Task`] gave no output: the task was cancelled, or it panicked.
pub struct JoinError {
    repr: Repr,
    id: TaskId,
}

enum Repr {
    /// The message given to [`Task::cancel_with`], if any.
    Cancelled(Option<Arc<str>>),
    Panic(Panic),
}

impl JoinError {
    /// Whether the task was cancelled (explicitly, by an abandoned await, by its group, or by
    /// runtime shutdown).
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled(_))
    }

    /// The message given to [`Task::cancel_with`] (asyncio's `CancelledError(msg)`): `None`
    /// for a panic and for a cancellation that came without one.
    ///
    /// ```
    /// tulip_executor::run(async {
    ///     let t = tulip_executor::spawn(std::future::pending::<()>());
    ///     t.cancel_with("shutting down");
    ///     let err = t.await.unwrap_err();
    ///     assert_eq!(err.cancel_message(), Some("shutting down"));
    ///     assert!(err.to_string().contains("shutting down"));
    /// });
    /// ```
    pub fn cancel_message(&self) -> Option<&str> {
        match &self.repr {
            Repr::Cancelled(msg) => msg.as_deref(),
            Repr::Panic(_) => None,
        }
    }

    /// Whether the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// The id of the task that failed.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The panic payload, to re-raise with `std::panic::resume_unwind`.
    ///
    /// # Panics
    ///
    /// Panics if the error is not a panic ([`is_panic`](Self::is_panic) is false).
    pub fn into_panic(self) -> Box<dyn std::any::Any + Send + 'static> {
        match self.try_into_panic() {
            Ok(p) => p,
            Err(e) => panic!("JoinError::into_panic on a cancelled task ({})", e.id),
        }
    }

    /// The panic payload, or the error back when the task was cancelled.
    pub fn try_into_panic(self) -> Result<Box<dyn std::any::Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panic(p) => Ok(p),
            Repr::Cancelled(_) => Err(self),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled(None) => write!(f, "JoinError::Cancelled({})", self.id),
            Repr::Cancelled(Some(m)) => write!(f, "JoinError::Cancelled({}, {m:?})", self.id),
            Repr::Panic(p) => write!(
                f,
                "JoinError::Panic({}, {:?})",
                self.id,
                meta::panic_message(p)
            ),
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled(None) => write!(f, "task {} was cancelled", self.id),
            Repr::Cancelled(Some(m)) => write!(f, "task {} was cancelled: {m}", self.id),
            Repr::Panic(p) => write!(f, "task {} panicked: {}", self.id, meta::panic_message(p)),
        }
    }
}

impl std::error::Error for JoinError {}

thread_local! {
    /// The address of the one future that `poll_unowned` is polling on this thread.
    static UNOWNED: Cell<*const ()> = const { Cell::new(std::ptr::null()) };
}

/// Runs a freshly spawned, registered task's first poll on this thread (an eager start),
/// as that task: `current_task()` names it during the poll and the caller's task after.
pub(crate) fn run_eagerly(runnable: meta::Runnable) {
    use crate::runtime::worker::CURRENT_TASK;
    struct Restore(*const TaskMeta);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT_TASK.with(|c| c.set(self.0));
        }
    }
    let meta: *const TaskMeta = runnable.metadata();
    let _restore = Restore(CURRENT_TASK.with(|c| c.replace(meta)));
    // The task's wrapper catches panics of the future; this catches a panicking destructor,
    // as a worker does, so that the spawner goes on.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runnable.run()));
}

/// Polls (with `f`) the future at `addr` as a member that its poller does not own: if it is a
/// `Task` handle, that poll does not make it "awaited", so dropping it later detaches (`wait`
/// and `as_completed`, which never cancel a task). Nested polls inside `f` are unaffected:
/// only the handle at exactly `addr` is.
pub(crate) fn poll_unowned<R>(addr: *const (), f: impl FnOnce() -> R) -> R {
    struct Restore(*const ());
    impl Drop for Restore {
        fn drop(&mut self) {
            UNOWNED.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(UNOWNED.with(|c| c.replace(addr)));
    f()
}

type Inner<T> = async_task::FallibleTask<Result<T, Stop>, TaskMeta>;

/// A handle to a spawned task: await it for the output.
///
/// Awaiting gives `Ok(output)`, or a [`JoinError`] when the task panicked or was cancelled.
///
/// # Dropping a handle
///
/// What a drop does depends on whether the handle was being awaited, which is asyncio's rule
/// (cancelling a coroutine that awaits a task cancels the task):
///
/// - **Never awaited** (dropped, or [`detach`](Task::detach)ed, before its first poll): the
///   task is *detached*; it runs on, its output is dropped. `let _ = spawn(work)` is
///   fire-and-forget, as `create_task` is.
/// - **Awaited but not finished** (polled at least once, then dropped): the await was
///   cancelled, so the task is *cancelled* too. This is what makes
///   `wait_for(dur, task)`, `timeout(dur, task)`, `gather([task, ..])` or a `race` cancel a task
///   they give up on, through the same generic code that drops a plain future.
///
/// To give up waiting but keep the task running, await a [`shield`](crate::shield)ed handle
/// (`wait_for(dur, shield(task))`, as in asyncio), or await `&mut task` and keep the handle to
/// await again, [`cancel_with`](Task::cancel_with) or detach. [`detach`](Task::detach) always
/// detaches, awaited or not.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tulip_executor::{shield, spawn, wait_for};
///
/// tulip_executor::run(async {
///     // wait_for on the handle: on time-out the task is cancelled (asyncio's wait_for).
///     let slow = spawn(tulip_reactor::sleep(Duration::from_secs(60)));
///     assert!(wait_for(slow, Duration::from_millis(1)).await.is_err());
///
///     // On a borrowed handle only the waiting stops: the task can be awaited again.
///     let mut t = spawn(async { tulip_reactor::sleep(Duration::from_millis(20)).await; 7 });
///     assert!(wait_for(&mut t, Duration::ZERO).await.is_err());
///     assert_eq!(t.await.unwrap(), 7);
///
///     // Shielded, the task outlives the wait (the shield detaches it).
///     let kept = spawn(async { 8 });
///     let _ = wait_for(shield(kept), Duration::from_secs(1)).await;
/// });
/// ```
#[must_use = "dropping a Task detaches it; call .detach() to say so"]
pub struct Task<T> {
    inner: Option<Inner<T>>,
    meta: NonNull<TaskMeta>,
    /// Set while the handle is being awaited (polled, `Pending`): a drop then cancels.
    awaited: bool,
}

// SAFETY: invariant 3: `meta` is valid while `inner` lives and is only read as `&TaskMeta`
// (`TaskMeta: Sync`); the async-task handle is `Send` when `T: Send`.
unsafe impl<T: Send> Send for Task<T> {}
// SAFETY: as for `Send`; `&Task<T>` only reads the metadata and `is_finished`.
unsafe impl<T> Sync for Task<T> {}

impl<T> Unpin for Task<T> {}

impl<T> Task<T> {
    pub(crate) fn new(task: async_task::Task<Result<T, Stop>, TaskMeta>) -> Task<T> {
        let meta = NonNull::from(task.metadata());
        Task {
            inner: Some(task.fallible()),
            meta,
            awaited: false,
        }
    }

    pub(crate) fn meta(&self) -> &TaskMeta {
        // SAFETY: invariant 3: the handle in `self.inner` keeps the allocation alive.
        unsafe { self.meta.as_ref() }
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.meta().id
    }

    /// The task's name (asyncio's `Task.get_name()`): the one given at spawn
    /// ([`Builder::name`]) or by [`set_name`](Task::set_name), if any.
    pub fn name(&self) -> Option<Arc<str>> {
        self.meta().name()
    }

    /// Renames the task (asyncio's `Task.set_name`). The new name shows from now on in
    /// [`name`](Task::name), [`current_task`](crate::current_task) and
    /// [`all_tasks`](crate::all_tasks) inside the task, debug-mode warnings and panic reports.
    ///
    /// ```
    /// tulip_executor::run(async {
    ///     let t = tulip_executor::spawn(std::future::pending::<()>());
    ///     t.set_name("renamed");
    ///     assert_eq!(t.name().as_deref(), Some("renamed"));
    ///     let live = tulip_executor::all_tasks();
    ///     assert!(live.iter().any(|i| i.id == t.id() && i.name.as_deref() == Some("renamed")));
    ///     t.cancel().await;
    /// });
    /// ```
    pub fn set_name(&self, name: impl AsRef<str>) {
        self.meta().set_name(Some(Arc::from(name.as_ref())));
    }

    /// Calls `f` with the task's [`TaskOutcome`] when it ends (asyncio's
    /// `Task.add_done_callback`), on the thread that finishes or cancels it; at once, on this
    /// thread, if it has ended already. Callbacks run in the order they were added; a panic in
    /// one is caught and does not keep the others from running.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use tulip_executor::task::TaskOutcome;
    ///
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// tulip_executor::run(async {
    ///     let t = tulip_executor::spawn(async { 1 });
    ///     let s = seen.clone();
    ///     t.add_done_callback(move |o| s.lock().unwrap().push(o));
    ///     t.await.unwrap();
    /// });
    /// assert_eq!(*seen.lock().unwrap(), [TaskOutcome::Completed]);
    /// ```
    pub fn add_done_callback(&self, f: impl FnOnce(TaskOutcome) + Send + 'static) {
        self.meta().add_done_callback(Box::new(f));
    }

    /// Whether the task has finished (completed, panicked or been cancelled).
    pub fn is_finished(&self) -> bool {
        self.inner.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Lets the task run on in the background; its output (or panic report) goes nowhere.
    ///
    /// Unlike a drop, this detaches also a handle that was being awaited (see
    /// [Dropping a handle](Task#dropping-a-handle)).
    pub fn detach(mut self) {
        self.detach_inner();
    }

    /// Asks the task to stop, with a message for whoever awaits it (asyncio's
    /// `Task.cancel(msg)`), and returns at once; the handle stays to be awaited.
    ///
    /// At its next poll the task drops its future (its destructors run, on the thread that
    /// polls it) instead of polling it, and awaiting the handle gives a [`JoinError`] whose
    /// [`is_cancelled`](JoinError::is_cancelled) is true and whose
    /// [`cancel_message`](JoinError::cancel_message) is `msg`. A poll already running on
    /// another thread finishes first; if the task completes in it, the output wins. The first
    /// message given is kept. Returns `false` when the task had already ended (asyncio's
    /// `cancel()` result).
    ///
    /// A closure on the blocking pool cannot be interrupted: one that has started runs to the
    /// end; one still queued is not run.
    ///
    /// # Examples
    ///
    /// ```
    /// tulip_executor::run(async {
    ///     let t = tulip_executor::spawn(std::future::pending::<()>());
    ///     assert!(t.cancel_with("no longer needed"));
    ///     let err = t.await.unwrap_err();
    ///     assert!(err.is_cancelled());
    ///     assert_eq!(err.cancel_message(), Some("no longer needed"));
    /// });
    /// ```
    pub fn cancel_with(&self, msg: impl AsRef<str>) -> bool {
        let meta = self.meta();
        let pending = meta.request_cancel(Some(Arc::from(msg.as_ref())));
        if pending == Some(true) {
            if let Some(reg) = meta.registry() {
                reg.wake(meta);
            }
        }
        pending.is_some()
    }

    /// Asks the task to stop at its next poll, as `cancel_with` does, without a message.
    pub(crate) fn cancel_quietly(&self) {
        let meta = self.meta();
        if meta.request_cancel(None) == Some(true) {
            if let Some(reg) = meta.registry() {
                reg.wake(meta);
            }
        }
    }

    /// Forgets that the handle was awaited, so that dropping it detaches (a `Shield` hands
    /// its task back this way: waits through a shield never own the task).
    pub(crate) fn forget_await(&mut self) {
        self.awaited = false;
    }

    /// Cancels without waiting: the future is dropped by its scheduler (at once if it is not
    /// running). A panic it already raised is reported as unobserved.
    pub(crate) fn cancel_now(mut self) {
        self.cancel_inner();
    }

    fn cancel_inner(&mut self) {
        if let Some(t) = self.inner.take() {
            self.meta().detached();
            // Dropping an async-task handle (as opposed to detaching it) cancels the task.
            drop(t);
        }
    }

    fn detach_inner(&mut self) {
        if let Some(t) = self.inner.take() {
            self.meta().detached();
            t.detach();
        }
    }

    /// Cancels the task and waits until it has stopped running.
    ///
    /// Returns the output if the task completed before it could be cancelled, `None` otherwise
    /// (also when it had panicked; that panic is then reported as unobserved).
    ///
    /// # Cancel safety
    ///
    /// Dropping the returned future before it completes still cancels the task, but does not
    /// wait for a poll in progress on another thread to end.
    pub async fn cancel(mut self) -> Option<T> {
        let t = self.inner.take()?;
        // The handle is consumed by `cancel`, so invariant 3 ends here: copy what a panic
        // report needs first.
        let info = self.meta().info();
        let diag = match &self.meta().scheduler {
            meta::Scheduler::Multi(s) => s.diag.clone(),
            meta::Scheduler::Local(s) => s.diag.clone(),
            meta::Scheduler::Blocking(_) => crate::debug::Diag::global().clone(),
        };
        match t.cancel().await {
            Some(Ok(v)) => {
                // Handed over: an `Err` in it counts as retrieved.
                diag.forget_spawn(info.id);
                Some(v)
            }
            Some(Err(Stop::Panic(p))) => {
                diag.report_not_retrieved(info, true, &meta::panic_message(&p));
                None
            }
            Some(Err(Stop::Cancelled)) | None => None,
        }
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        // Rule of "Dropping a handle": an abandoned await cancels, anything else detaches.
        if self.awaited {
            self.cancel_inner();
        } else {
            self.detach_inner();
        }
    }
}

impl<T> Future for Task<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let id = self.id();
        let inner = self
            .inner
            .as_mut()
            .expect("Task polled after it returned its output");
        match Pin::new(inner).poll(cx) {
            Poll::Pending => {
                let me = std::ptr::from_ref::<Self>(&*self).cast::<()>();
                let unowned = UNOWNED.try_with(Cell::get).unwrap_or(std::ptr::null());
                self.awaited = unowned != me;
                Poll::Pending
            }
            Poll::Ready(out) => {
                self.awaited = false;
                let res = match out {
                    Some(Ok(v)) => {
                        self.meta().output_taken();
                        Ok(v)
                    }
                    Some(Err(Stop::Panic(p))) => {
                        self.meta().observed();
                        Err(JoinError {
                            repr: Repr::Panic(p),
                            id,
                        })
                    }
                    Some(Err(Stop::Cancelled)) | None => Err(JoinError {
                        repr: Repr::Cancelled(self.meta().cancel_message()),
                        id,
                    }),
                };
                // The async-task handle stays in `inner` so that `id()` and `name()` keep
                // working (invariant 3); its drop then finds the panic marked observed.
                Poll::Ready(res)
            }
        }
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("finished", &self.is_finished())
            .finish()
    }
}
