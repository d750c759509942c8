//! Tasks: the `Task<T>` handle, `JoinError`, task ids and names, and the task `Builder`.
//!
//! A task is one async-task allocation holding a header, a `TaskMeta` (id,
//! name, scheduler, panic bookkeeping) and the future wrapped in a `TaskFuture`, which catches
//! panics and releases the task's registry slot when the future is dropped.
//!
//! # Dropping a handle detaches
//!
//! Dropping a [`Task`] handle *detaches* the task: it keeps running to completion, and its output
//! is dropped. Cancellation is always explicit ([`Task::cancel`]) or structured (a task group).
//! This is the opposite of async-task's and smol's default, where dropping the handle cancels,
//! because asyncio users expect `create_task` work to run whether or not they keep the handle.
//!
//! # Panics
//!
//! A panic in a task's future is caught inside the task (the worker survives). Awaiting the
//! handle gives [`JoinError`] with [`JoinError::is_panic`], and [`JoinError::into_panic`] hands
//! out the payload for `std::panic::resume_unwind`. A panic nobody observes (the handle was
//! dropped or detached) is reported on stderr, like asyncio's "Task exception was never
//! retrieved".
//!
//! # Safety invariants
//!
//! 1. A task's metadata lives in the same allocation as its future and is dropped after it
//!    (async-task drops the future on completion or cancellation, the metadata on deallocation),
//!    so a pointer to the metadata taken when the future is built is valid whenever the future
//!    is alive. `TaskMeta` is `Sync`.
//! 2. A registry entry holds a `Waker` of its task, which keeps the allocation alive; the
//!    metadata pointer stored beside it is valid while the entry exists.
//! 3. A `Task` handle holds an async-task handle, which keeps the allocation alive; the metadata
//!    pointer stored beside it is valid while the handle exists.
//! 4. While a worker runs a `Runnable` the allocation is alive (the runnable holds a reference
//!    until `run` returns), so a metadata pointer published for `current_task()` during `run` is
//!    valid until it is cleared after `run`.

mod builder;
pub(crate) mod meta;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

pub use builder::Builder;
pub use meta::TaskOutcome;
use meta::{Panic, TaskMeta};

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
    Cancelled,
    Panic(Panic),
}

impl JoinError {
    /// Whether the task was cancelled (explicitly, or by runtime shutdown).
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
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
            Repr::Cancelled => Err(self),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => write!(f, "JoinError::Cancelled({})", self.id),
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
            Repr::Cancelled => write!(f, "task {} was cancelled", self.id),
            Repr::Panic(p) => write!(f, "task {} panicked: {}", self.id, meta::panic_message(p)),
        }
    }
}

impl std::error::Error for JoinError {}

type Inner<T> = async_task::FallibleTask<Result<T, Panic>, TaskMeta>;

/// A handle to a spawned task: await it for the output.
///
/// Awaiting gives `Ok(output)`, or a [`JoinError`] when the task panicked or was cancelled.
///
/// **Dropping the handle detaches the task** (it keeps running; its output is dropped). Cancel
/// explicitly with [`cancel`](Task::cancel).
#[must_use = "dropping a Task detaches it; call .detach() to say so"]
pub struct Task<T> {
    inner: Option<Inner<T>>,
    meta: NonNull<TaskMeta>,
}

// SAFETY: invariant 3: `meta` is valid while `inner` lives and is only read as `&TaskMeta`
// (`TaskMeta: Sync`); the async-task handle is `Send` when `T: Send`.
unsafe impl<T: Send> Send for Task<T> {}
// SAFETY: as for `Send`; `&Task<T>` only reads the metadata and `is_finished`.
unsafe impl<T> Sync for Task<T> {}

impl<T> Unpin for Task<T> {}

impl<T> Task<T> {
    pub(crate) fn new(task: async_task::Task<Result<T, Panic>, TaskMeta>) -> Task<T> {
        let meta = NonNull::from(task.metadata());
        Task {
            inner: Some(task.fallible()),
            meta,
        }
    }

    fn meta(&self) -> &TaskMeta {
        // SAFETY: invariant 3: the handle in `self.inner` keeps the allocation alive.
        unsafe { self.meta.as_ref() }
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.meta().id
    }

    /// The task's name, if it was spawned with one ([`Builder::name`]).
    pub fn name(&self) -> Option<&str> {
        self.meta().name.as_deref()
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
    /// Same as dropping the handle; this names the intent.
    pub fn detach(mut self) {
        self.detach_inner();
    }

    /// Cancels without waiting: the future is dropped by its scheduler (at once if it is not
    /// running). A panic it already raised is reported as unobserved.
    pub(crate) fn cancel_now(mut self) {
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
        let label = self.meta().label();
        match t.cancel().await {
            Some(Ok(v)) => Some(v),
            Some(Err(p)) => {
                crate::debug::report_unobserved_panic(&label, &meta::panic_message(&p));
                None
            }
            None => None,
        }
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.detach_inner();
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
            Poll::Pending => Poll::Pending,
            Poll::Ready(out) => {
                let res = match out {
                    Some(Ok(v)) => Ok(v),
                    Some(Err(p)) => {
                        self.meta().observed();
                        Err(JoinError {
                            repr: Repr::Panic(p),
                            id,
                        })
                    }
                    None => Err(JoinError {
                        repr: Repr::Cancelled,
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
