//! `shield`: await a task without tying the task's life to the wait.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::{JoinError, Task, TaskId};

/// Awaits `task` such that cancelling the wait does not cancel the task (asyncio's
/// `shield(aw)`).
///
/// Dropping the returned [`Shield`] before it completes — because the awaiting task was
/// cancelled, a [`TaskGroup`](crate::TaskGroup) around it failed, or a
/// [`wait_for`](crate::wait_for) timed out — detaches `task`: it runs on to completion. To
/// shield a plain future, spawn it first: `shield(spawn(fut))`.
///
/// A bare `Task` handle that is dropped while being awaited *cancels* its task (asyncio's rule;
/// see [Dropping a handle](crate::Task#dropping-a-handle)), so `wait_for(task, dur)` cancels
/// the task on time-out and `wait_for(shield(task), dur)` does not, as in asyncio. A `Shield`
/// always detaches, whether or not it was polled, and offers no `cancel` to call by mistake.
///
/// # Cancel safety
///
/// Cancel-safe by construction: dropping the `Shield` leaves the task running; only its output
/// is lost (use [`Shield::into_inner`] first to keep it).
///
/// # Examples
///
/// ```
/// use std::sync::mpsc;
/// use std::time::Duration;
/// use tulip_executor::{shield, spawn, wait_for, Runtime};
/// use tulip_reactor::sleep;
///
/// Runtime::new().unwrap().block_on(async {
///     let (go, gate) = mpsc::channel::<()>();
///     let (done, saved) = mpsc::channel();
///     let task = spawn(async move {
///         // Work that can only finish after the wait below has been given up.
///         while gate.try_recv().is_err() {
///             sleep(Duration::from_millis(1)).await;
///         }
///         done.send("saved").unwrap();
///     });
///     assert!(wait_for(shield(task), Duration::from_millis(5)).await.is_err());
///     go.send(()).unwrap();
///     // The time-out cancelled the wait, not the task.
///     while saved.try_recv().is_err() {
///         sleep(Duration::from_millis(1)).await;
///     }
/// });
/// ```
pub fn shield<T>(task: Task<T>) -> Shield<T> {
    Shield { task: Some(task) }
}

/// The future returned by [`shield`]: gives the task's output; dropping it detaches the task.
#[must_use = "futures do nothing unless awaited; dropping a Shield detaches the task"]
pub struct Shield<T> {
    /// Always `Some` until `into_inner` takes it.
    task: Option<Task<T>>,
}

impl<T> Shield<T> {
    /// The shielded task's id.
    pub fn id(&self) -> Option<TaskId> {
        self.task.as_ref().map(Task::id)
    }

    /// Whether the shielded task has finished.
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(Task::is_finished)
    }

    /// Takes the task handle back out. Polls through the shield do not count as awaiting the
    /// handle: dropping it right away detaches the task, as dropping the shield would.
    pub fn into_inner(mut self) -> Task<T> {
        let mut task = self
            .task
            .take()
            .expect("a Shield holds its task until into_inner");
        task.forget_await();
        task
    }
}

impl<T> Future for Shield<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let task = self
            .task
            .as_mut()
            .expect("a Shield holds its task until into_inner");
        Pin::new(task).poll(cx)
    }
}

impl<T> Drop for Shield<T> {
    fn drop(&mut self) {
        // Explicit, so the shield holds whatever a plain handle's drop does.
        if let Some(task) = self.task.take() {
            task.detach();
        }
    }
}

impl<T> fmt::Debug for Shield<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shield").field("task", &self.task).finish()
    }
}
