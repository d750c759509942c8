//! One child of a task group: the future that runs it, and the handle its spawner gets back.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_lite::FutureExt;

use super::{Failure, Shared};
use crate::{Task, TaskId};

/// Builds the future a group spawns for `fut`: it runs `fut` to its end, records a failure
/// (error or panic) in the group, and counts the child out only after `fut` has been dropped,
/// so that `join` returns after every child's destructors ran. The group cancels a child by
/// cancelling its task (see the module `group`); `cancelled`: the group was cancelled before
/// the spawn, and `fut` is dropped unpolled.
pub(super) fn child_future<F, T, E>(
    shared: Arc<Shared<E>>,
    fut: F,
    cancelled: bool,
) -> impl Future<Output = Option<T>>
where
    F: Future<Output = Result<T, E>>,
{
    // The guard is built here, not inside the async block, so that a child dropped before its
    // first poll (cancelled, or runtime shutdown) is still counted out.
    let guard = Registration { shared };
    async move {
        // `fut` is named before `guard` so that, if the task is dropped before its first poll,
        // the captured `fut` goes first (captures drop in the order they are first used).
        let fut = fut;
        let guard = guard;
        if cancelled {
            drop(fut);
            return None;
        }
        // `fut` is dropped inside `catch_unwind`'s future, before `guard` counts the child out
        // (and when the task is cancelled at this await point, locals drop in reverse order of
        // declaration: this future first, then `guard`).
        let ended = AssertUnwindSafe(fut).catch_unwind().await;
        let out = match ended {
            Ok(Ok(value)) => Some(value),
            Ok(Err(e)) => {
                guard.shared.fail(Failure::Error(e));
                None
            }
            Err(payload) => {
                guard.shared.fail(Failure::Panic(payload));
                None
            }
        };
        drop(guard);
        out
    }
}

/// Counts a child out of its group when the child's future is dropped.
struct Registration<E> {
    shared: Arc<Shared<E>>,
}

impl<E> Drop for Registration<E> {
    fn drop(&mut self) {
        self.shared.unregister();
    }
}

/// The handle of one child of a [`TaskGroup`](crate::TaskGroup).
///
/// Awaiting it gives `Some(value)` when the child returned `Ok(value)`, and `None` when it
/// failed (its failure goes to the group's [`join`](crate::TaskGroup::join)) or was cancelled.
/// Dropping the handle follows [`Task`]'s rule: a handle never awaited (or
/// [`detach`](GroupTask::detach)ed) leaves the child running in its group; one dropped while
/// awaited (a `wait_for` around it expired) cancels that child, which is not a group failure.
#[must_use = "dropping a GroupTask before awaiting it leaves the child running in its group"]
pub struct GroupTask<T> {
    pub(super) task: Task<Option<T>>,
}

impl<T> GroupTask<T> {
    /// The child task's id.
    pub fn id(&self) -> TaskId {
        self.task.id()
    }

    /// The child task's name, if it was given one.
    pub fn name(&self) -> Option<Arc<str>> {
        self.task.name()
    }

    /// Whether the child has finished.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Lets the child run on without a handle (same as dropping the handle; this names the
    /// intent). The child stays in its group: `join` waits for it and its failure counts.
    pub fn detach(self) {
        self.task.detach();
    }

    /// Cancels this one child and waits until it has stopped; the rest of the group runs on
    /// (a cancelled child is not a failure). Returns the value if the child had already
    /// succeeded.
    ///
    /// # Cancel safety
    ///
    /// Dropping the returned future still cancels the child, without waiting for it to stop.
    pub async fn cancel(self) -> Option<T> {
        self.task.cancel().await.flatten()
    }
}

impl<T> Future for GroupTask<T> {
    type Output = Option<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        // A `JoinError` here means the task was cancelled (panics are caught inside the child).
        Pin::new(&mut self.task).poll(cx).map(|r| r.ok().flatten())
    }
}

impl<T> fmt::Debug for GroupTask<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupTask")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("finished", &self.is_finished())
            .finish()
    }
}
