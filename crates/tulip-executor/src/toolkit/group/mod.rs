//! `TaskGroup`: structured concurrency as in Python 3.11's `asyncio.TaskGroup`.
//!
//! Every child is a task of its own, wrapped in a future (see `child.rs`) that looks at the
//! group's cancellation flag before each poll of the user's future. The group keeps one slot
//! per live child, holding a waker of the child's task so that `cancel` can wake it; `join`
//! waits until no slot is left.
//!
//! The spawner fills the slot, not the child: a child's first poll used to store its waker in
//! the group, a third lock of the group per child (beside register and unregister), taken on
//! a worker against the spawning thread's registrations, plus two waker clones and drops. With
//! 10 000 children that made a group cost 1.8 times plain spawns (issue #22).
//!
//! Invariants:
//!
//! 1. A child's slot is released only after the child's future has been dropped, so `join`
//!    returns after every child's destructors (drop guards) have run.
//! 2. `cancel` sets the `cancelled` flag *before* it takes the slot lock to collect the
//!    children to wake; a spawner stores the child's waker in its slot under that lock and reads
//!    the flag *after* it, so either `cancel` finds the task or the spawner sees the flag (and
//!    wakes the child itself). A child reads the flag before every poll of its future, so a
//!    woken child stops. No cancellation is lost.
//! 3. Once cancelled, a group stays cancelled: children spawned later end at their first poll
//!    without polling their future.

mod child;
mod error;

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

use slab::Slab;

use crate::task::Builder;
pub use child::GroupTask;
pub use error::{Failure, GroupError};

/// A scope for tasks that end together (asyncio's `TaskGroup`).
///
/// Spawn children with [`spawn`](TaskGroup::spawn); each returns `Result<T, E>`. Await
/// [`join`](TaskGroup::join): it ends when every child has ended. The first child to fail —
/// return `Err` or panic — cancels all its siblings (they are dropped at their current await
/// point, so their drop guards run), and `join` returns a [`GroupError`] listing every failure.
/// A child that ends in `Ok(value)` hands `value` to its [`GroupTask`] handle.
///
/// # Dropping the group cancels its children
///
/// This is the structured contract: **a `TaskGroup` dropped without being joined cancels every
/// child**, and so does dropping the [`join`](TaskGroup::join) future before it completes (for
/// example when the task awaiting it is itself cancelled, or a [`wait_for`](crate::wait_for)
/// around it times out). The drop does not wait: each child stops at its next scheduling on its
/// worker, where its future is dropped. Children therefore never outlive the scope that owns
/// the group by more than that, and no child runs unobserved.
///
/// Children run on the current runtime ([`spawn`](crate::spawn));
/// [`spawn_local`](TaskGroup::spawn_local) puts `!Send` children on the thread's local
/// executor.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tulip_executor::{Runtime, TaskGroup};
///
/// Runtime::new().unwrap().block_on(async {
///     let group = TaskGroup::new();
///     let a = group.spawn(async { Ok::<_, String>(1) });
///     // A child's handle gives its value (`None` if the group cancelled it first).
///     assert_eq!(a.await, Some(1));
///     group.spawn(async {
///         tulip_reactor::sleep(Duration::from_secs(60)).await; // cancelled by the failure below
///         Ok(2)
///     }).detach();
///     group.spawn(async { Err::<(), _>("no disk".to_string()) }).detach();
///
///     let err = group.join().await.unwrap_err();
///     assert_eq!(err.errors().collect::<Vec<_>>(), ["no disk"]);
/// });
/// ```
pub struct TaskGroup<E> {
    shared: Arc<Shared<E>>,
}

impl<E> TaskGroup<E> {
    /// An empty group.
    pub fn new() -> Self {
        TaskGroup {
            shared: Arc::new(Shared {
                cancelled: AtomicBool::new(false),
                state: Mutex::new(State {
                    children: Slab::new(),
                    next_token: 0,
                    failures: Vec::new(),
                    join_waker: None,
                }),
            }),
        }
    }

    /// Spawns a child onto the current runtime.
    ///
    /// If the group is already cancelled, the child ends at once without polling `fut`.
    ///
    /// # Panics
    ///
    /// Panics outside a tulip runtime, like [`spawn`](crate::spawn).
    pub fn spawn<F, T>(&self, fut: F) -> GroupTask<T>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        self.spawner().spawn(fut)
    }

    /// Spawns a child configured by `builder` (for example with a name).
    ///
    /// # Panics
    ///
    /// Panics outside a tulip runtime.
    pub fn spawn_with<F, T>(&self, builder: Builder, fut: F) -> GroupTask<T>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        self.spawner().spawn_with(builder, fut)
    }

    /// Spawns a `!Send` child onto this thread's local executor.
    ///
    /// # Panics
    ///
    /// Panics when no local executor runs on this thread, like
    /// [`spawn_local`](crate::spawn_local).
    pub fn spawn_local<F, T>(&self, fut: F) -> GroupTask<T>
    where
        F: Future<Output = Result<T, E>> + 'static,
        T: 'static,
        E: 'static,
    {
        self.spawner().spawn_local(fut)
    }

    /// A cloneable handle that spawns into this group, for children that spawn siblings.
    pub fn spawner(&self) -> GroupSpawner<E> {
        GroupSpawner {
            shared: self.shared.clone(),
        }
    }

    /// Cancels every child without recording a failure; `join` then returns `Ok(())` unless a
    /// child had already failed.
    pub fn cancel(&self) {
        self.shared.cancel();
    }

    /// Whether the group has been cancelled (by a failure or [`cancel`](TaskGroup::cancel)).
    pub fn is_cancelled(&self) -> bool {
        self.shared.is_cancelled()
    }

    /// How many children have not ended yet.
    pub fn len(&self) -> usize {
        self.shared.lock().children.len()
    }

    /// Whether every child has ended.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits until every child has ended; `Ok(())` when none failed, otherwise every failure.
    ///
    /// Children spawned while `join` waits (through a [`GroupSpawner`]) are waited for too.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes drops the group, which cancels every child
    /// (see the type's documentation); it does not wait for them to stop.
    pub async fn join(self) -> Result<(), GroupError<E>> {
        futures_lite::future::poll_fn(|cx| {
            let mut state = self.shared.lock();
            if state.children.is_empty() {
                return Poll::Ready(());
            }
            match &state.join_waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => state.join_waker = Some(cx.waker().clone()),
            }
            Poll::Pending
        })
        .await;
        let failures = std::mem::take(&mut self.shared.lock().failures);
        if failures.is_empty() {
            Ok(())
        } else {
            Err(GroupError::new(failures))
        }
    }
}

impl<E> Default for TaskGroup<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> Drop for TaskGroup<E> {
    fn drop(&mut self) {
        // The structured contract: children never outlive their group (invariant 3 makes
        // later spawns through a `GroupSpawner` end at once too).
        self.shared.cancel();
    }
}

impl<E> fmt::Debug for TaskGroup<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("TaskGroup")
            .field("children", &state.children.len())
            .field("failures", &state.failures.len())
            .field("cancelled", &self.shared.is_cancelled())
            .finish()
    }
}

/// Spawns children into a [`TaskGroup`]; get one from [`TaskGroup::spawner`].
///
/// Once the group has been joined or dropped it is cancelled, and children spawned through a
/// spawner end at once without running.
pub struct GroupSpawner<E> {
    shared: Arc<Shared<E>>,
}

impl<E> GroupSpawner<E> {
    /// Like [`TaskGroup::spawn`].
    ///
    /// # Panics
    ///
    /// Panics outside a tulip runtime.
    pub fn spawn<F, T>(&self, fut: F) -> GroupTask<T>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let (key, token) = self.shared.register();
        let task = crate::spawn(child::child_future(self.shared.clone(), key, fut));
        self.shared.spawned(key, token, &task);
        GroupTask { task }
    }

    /// Like [`TaskGroup::spawn_with`].
    ///
    /// # Panics
    ///
    /// Panics outside a tulip runtime.
    pub fn spawn_with<F, T>(&self, builder: Builder, fut: F) -> GroupTask<T>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let (key, token) = self.shared.register();
        let task = builder.spawn(child::child_future(self.shared.clone(), key, fut));
        self.shared.spawned(key, token, &task);
        GroupTask { task }
    }

    /// Like [`TaskGroup::spawn_local`].
    ///
    /// # Panics
    ///
    /// Panics when no local executor runs on this thread.
    pub fn spawn_local<F, T>(&self, fut: F) -> GroupTask<T>
    where
        F: Future<Output = Result<T, E>> + 'static,
        T: 'static,
        E: 'static,
    {
        let (key, token) = self.shared.register();
        let task = crate::spawn_local(child::child_future(self.shared.clone(), key, fut));
        self.shared.spawned(key, token, &task);
        GroupTask { task }
    }

    /// Like [`TaskGroup::cancel`].
    pub fn cancel(&self) {
        self.shared.cancel();
    }

    /// Like [`TaskGroup::is_cancelled`].
    pub fn is_cancelled(&self) -> bool {
        self.shared.is_cancelled()
    }
}

impl<E> Clone for GroupSpawner<E> {
    fn clone(&self) -> Self {
        GroupSpawner {
            shared: self.shared.clone(),
        }
    }
}

impl<E> fmt::Debug for GroupSpawner<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupSpawner")
            .field("cancelled", &self.shared.is_cancelled())
            .finish()
    }
}

/// The state a group shares with its children.
struct Shared<E> {
    /// Set once, never cleared (invariant 3).
    cancelled: AtomicBool,
    state: Mutex<State<E>>,
}

struct State<E> {
    /// One slot per live child: what to wake when the group is cancelled.
    children: Slab<Child>,
    /// Tells registrations apart, so that a spawner never fills a slot that its child has
    /// released already and another registration has taken since.
    next_token: u64,
    failures: Vec<Failure<E>>,
    join_waker: Option<Waker>,
}

impl<E> Shared<E> {
    fn lock(&self) -> MutexGuard<'_, State<E>> {
        // No code panics while holding the lock (wakers are woken after it is released), so a
        // poisoned lock still holds consistent data.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Takes a slot for a child about to be spawned; returns its key and token.
    fn register(&self) -> (usize, u64) {
        let mut state = self.lock();
        let token = state.next_token;
        state.next_token += 1;
        (state.children.insert(Child::Reserved(token)), token)
    }

    /// Stores a waker of the spawned child `task` in its slot (unless the child has ended
    /// already), and wakes it if the group was cancelled meanwhile (invariant 2: the flag is
    /// read under the lock, after the store).
    fn spawned<T>(&self, key: usize, token: u64, task: &crate::Task<T>) {
        // Taken before the group's lock: the registry's shard was just written by this spawn,
        // so the look-up stays on this thread's cache lines.
        let Some(waker) = task.waker() else {
            // The task has ended (or the runtime is shutting down): its slot is gone already.
            return;
        };
        let mut state = self.lock();
        let Some(slot) = state.children.get_mut(key) else {
            return;
        };
        if !slot.is_reserved_by(token) {
            // The child ended and another registration took the slot since.
            return;
        }
        if self.is_cancelled() {
            *slot = Child::Spawned(waker.clone());
            drop(state);
            waker.wake();
        } else {
            *slot = Child::Spawned(waker);
        }
    }

    /// Invariant 1: called by a child's guard after the child's future was dropped.
    fn unregister(&self, key: usize) {
        let (slot, join) = {
            let mut state = self.lock();
            let slot = state.children.try_remove(key);
            if state.children.is_empty() {
                (slot, state.join_waker.take())
            } else {
                (slot, None)
            }
        };
        drop(slot);
        if let Some(w) = join {
            w.wake();
        }
    }

    fn fail(&self, failure: Failure<E>) {
        self.lock().failures.push(failure);
        self.cancel();
    }

    fn cancel(&self) {
        // Invariant 2: the flag goes up before the wakers are collected.
        if self.cancelled.swap(true, Ordering::AcqRel) {
            return;
        }
        // A slot still `Reserved` belongs to a spawner that will see the flag (invariant 2).
        let wakers: Vec<Waker> = self
            .lock()
            .children
            .iter()
            .filter_map(|(_, c)| match c {
                Child::Spawned(w) => Some(w.clone()),
                Child::Reserved(_) => None,
            })
            .collect();
        for w in wakers {
            w.wake();
        }
    }
}

/// A child's slot.
enum Child {
    /// Taken by `register` (with this token); the spawner has not stored the waker yet.
    Reserved(u64),
    /// A waker of the child's task.
    Spawned(Waker),
}

impl Child {
    fn is_reserved_by(&self, token: u64) -> bool {
        matches!(self, Child::Reserved(t) if *t == token)
    }
}
