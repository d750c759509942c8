//! `TaskGroup`: structured concurrency as in Python 3.11's `asyncio.TaskGroup`.
//!
//! Every child is a task of its own, wrapped in a future (see `child.rs`) that records its
//! failure in the group and counts itself out when dropped. The group counts its live children
//! (`join` waits for the count to reach zero) and marks each child's task metadata with the
//! group's mark; `cancel` finds the children by that mark in the registries of the schedulers
//! they were spawned on, and cancels each as `Task::cancel` does: the task drops its future at
//! its next poll instead of polling it.
//!
//! The common path shares no lock and no cache line with the children's polls: a spawn is one
//! increment, one store of the mark, one waker kept (invariant 6) and one fence, a child's end
//! one decrement, and a child's poll reads only its own task's flags. The group used to keep a
//! slab of children's wakers behind a mutex, taken three times per child (register, store the
//! waker, unregister) by the spawning thread and the workers at once, and every poll of every
//! child read the group's flag on the line those writes kept moving; with 10 000 children that
//! made a group cost 1.4 times plain spawns and 1.2 times tokio's `JoinSet` (issue #22). The
//! lock of `kept` is taken by spawners and `join` only. Cancellation, rare, pays instead: it
//! scans the registries, which list every live task anyway.
//!
//! Invariants:
//!
//! 1. `live` is decremented only after the child's future has been dropped, so `join`
//!    returns after every child's destructors (drop guards) have run.
//! 2. No cancellation is lost. `cancel` raises the flag, then (after a `SeqCst` fence) reads
//!    `live` and scans for marked tasks; a spawner increments `live`, marks the task and notes
//!    its scheduler, then (after a `SeqCst` fence) reads the flag. Each side stores, fences,
//!    then loads what the other stored, so at least one sees the other: either the scan finds
//!    the child, or the spawner sees the flag and cancels the child itself.
//! 3. Once cancelled, a group stays cancelled: a child spawned after the cancellation (the
//!    spawner sees the flag before spawning) ends at its first poll without polling its
//!    future.
//! 4. No `join` wake-up is lost: `join` stores its waker under the lock and then reads `live`;
//!    a child that takes `live` to zero then takes the lock to wake it. Either the child's
//!    lock comes after `join`'s and finds the waker, or it came before, and then `join`'s read
//!    (after its own lock) sees zero.
//! 5. Marks are unique (a 64-bit counter), so a cancellation never reaches another group's
//!    task. A marked task may stay in its registry briefly after its future completed; a
//!    cancellation request to a task whose future completed changes nothing.
//! 6. The group keeps a waker of each child (`kept`, taken from the registry entry at spawn),
//!    so the last reference to a detached child's allocation is usually the group's, dropped on
//!    the thread that spawns (a prune) or joins, not on the worker that ran the child. A waker
//!    keeps only the allocation: the future is dropped when the child ends and a detached
//!    child's output when it is stored, as without the group. This is what a `JoinSet` does by
//!    holding its handles, and it matters with glibc's allocator: a block freed on another
//!    thread goes back to its own arena under that arena's lock, which the spawning thread
//!    takes for every allocation, so 10 000 children freed by the workers spent about a
//!    quarter of the run waiting on that lock (perf: `__lll_lock_wait_private`). `spawn`
//!    prunes every [`PRUNE_EVERY`] children, dropping the oldest once more than twice as many
//!    are kept as are live, so the list stays under twice the live children plus `2 *
//!    PRUNE_EVERY`, and each prune is paid for by the spawns before it. A pruned child that
//!    is still running is only released: it is freed where it ends.

mod child;
mod error;

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Poll, Waker};

use crate::task::Builder;
use crate::task::meta::Scheduler;
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
                live: AtomicUsize::new(0),
                cancelled: AtomicBool::new(false),
                mark: next_mark(),
                home: OnceLock::new(),
                state: Mutex::new(State {
                    failures: Vec::new(),
                    join_waker: None,
                    other_homes: Vec::new(),
                }),
                kept: Mutex::new(VecDeque::new()),
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
        spawn_into(&self.shared, fut)
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
        spawn_with_into(&self.shared, builder, fut)
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
        spawn_local_into(&self.shared, fut)
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
        self.shared.live.load(Ordering::Acquire)
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
            if self.shared.live.load(Ordering::Acquire) == 0 {
                return Poll::Ready(());
            }
            {
                let mut state = self.shared.lock();
                match &state.join_waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => state.join_waker = Some(cx.waker().clone()),
                }
            }
            // Invariant 4: read after the waker is stored.
            if self.shared.live.load(Ordering::Acquire) == 0 {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        // Every child has ended: what is left of their allocations is freed here, on the
        // joining thread (invariant 6).
        let kept = std::mem::take(&mut *self.shared.kept());
        drop(kept);
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
            .field("children", &self.len())
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
        spawn_into(&self.shared, fut)
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
        spawn_with_into(&self.shared, builder, fut)
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
        spawn_local_into(&self.shared, fut)
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

/// `TaskGroup::spawn` and `GroupSpawner::spawn`.
fn spawn_into<E, F, T>(shared: &Arc<Shared<E>>, fut: F) -> GroupTask<T>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    shared
        .spawn_child(|shared, cancelled| crate::spawn(child::child_future(shared, fut, cancelled)))
}

/// `TaskGroup::spawn_with` and `GroupSpawner::spawn_with`.
fn spawn_with_into<E, F, T>(shared: &Arc<Shared<E>>, builder: Builder, fut: F) -> GroupTask<T>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    shared
        .spawn_child(|shared, cancelled| builder.spawn(child::child_future(shared, fut, cancelled)))
}

/// `TaskGroup::spawn_local` and `GroupSpawner::spawn_local`.
fn spawn_local_into<E, F, T>(shared: &Arc<Shared<E>>, fut: F) -> GroupTask<T>
where
    F: Future<Output = Result<T, E>> + 'static,
    T: 'static,
    E: 'static,
{
    shared.spawn_child(|shared, cancelled| {
        crate::spawn_local(child::child_future(shared, fut, cancelled))
    })
}

/// The state a group shares with its children.
///
struct Shared<E> {
    /// Children spawned whose futures have not been dropped yet (invariant 1).
    live: AtomicUsize,
    /// Set once, never cleared (invariant 3).
    cancelled: AtomicBool,
    /// This group's mark in its children's task metadata (never 0, never reused).
    mark: u64,
    /// The scheduler the first child was spawned on: where `cancel` looks first. Children
    /// spawned elsewhere (`spawn_local`, another runtime) add theirs to `State::other_homes`.
    home: OnceLock<Scheduler>,
    state: Mutex<State<E>>,
    /// A waker of each child, oldest first: the reference that has the allocations of
    /// detached children freed on the spawning or joining thread (invariant 6).
    kept: Mutex<VecDeque<Waker>>,
}

/// The rarely touched part: failures, `join`'s waker, extra schedulers.
struct State<E> {
    failures: Vec<Failure<E>>,
    join_waker: Option<Waker>,
    other_homes: Vec<Scheduler>,
}

/// How often, in children kept, [`Shared::keep`] considers a prune (invariant 6).
const PRUNE_EVERY: usize = 64;

/// A fresh group mark (invariant 5: at a billion groups a second, 584 years to wrap).
fn next_mark() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
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

    fn kept(&self) -> MutexGuard<'_, VecDeque<Waker>> {
        // Nothing panics while the lock is held (wakers are dropped after it is released).
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `waker`, a reference to a new child's allocation, and every [`PRUNE_EVERY`]
    /// children lets go of the oldest ones once more than twice as many are kept as are
    /// live (invariant 6). Amortised O(1): a prune drops at least half of what is kept.
    fn keep(&self, waker: Waker) {
        let mut kept = self.kept();
        kept.push_back(waker);
        if kept.len() % PRUNE_EVERY != 0 {
            return;
        }
        let live = self.live.load(Ordering::Relaxed);
        if kept.len() < 2 * live + PRUNE_EVERY {
            return;
        }
        let oldest = kept.len() - live;
        let newest = kept.split_off(oldest);
        let old = std::mem::replace(&mut *kept, newest);
        drop(kept);
        // Outside the lock: dropping a last reference may schedule the task one more time
        // (async-task's way to drop a future nobody will poll).
        drop(old);
    }

    /// Spawns a child with `spawn`, which gets the child's share of the group and whether the
    /// group is cancelled already (invariant 3: the child then never polls its future).
    fn spawn_child<T>(
        self: &Arc<Self>,
        spawn: impl FnOnce(Arc<Self>, bool) -> crate::Task<Option<T>>,
    ) -> GroupTask<T> {
        let cancelled = self.is_cancelled();
        self.live.fetch_add(1, Ordering::Relaxed);
        let task = spawn(self.clone(), cancelled);
        self.spawned(&task);
        GroupTask { task }
    }

    /// Marks the freshly spawned child `task` (counted in `live` already) as this group's,
    /// notes its scheduler, and cancels it if the group was cancelled meanwhile (invariant 2).
    fn spawned<T>(&self, task: &crate::Task<T>) {
        let meta = task.meta();
        meta.set_group(self.mark);
        match self.home.get() {
            Some(home) if home.same(&meta.scheduler) => {}
            _ => self.add_home(&meta.scheduler),
        }
        if let Some(w) = meta.registry().and_then(|r| r.waker(meta)) {
            // `None`: the child has ended already (an eager child, or a fast worker) and
            // left its registry, so its last reference is wherever it goes without us.
            self.keep(w);
        }
        fence(Ordering::SeqCst);
        if self.cancelled.load(Ordering::Relaxed) {
            // `cancel` may have scanned before the mark was stored.
            task.cancel_quietly();
        }
    }

    /// Records a scheduler that children run on, the first one in `home`.
    #[cold]
    fn add_home(&self, scheduler: &Scheduler) {
        if self.home.set(scheduler.clone()).is_ok() {
            return;
        }
        let home = self.home.get().expect("set above or before");
        if home.same(scheduler) {
            return;
        }
        let mut state = self.lock();
        if !state.other_homes.iter().any(|s| s.same(scheduler)) {
            state.other_homes.push(scheduler.clone());
        }
    }

    /// Invariant 1: called by a child's guard after the child's future was dropped.
    fn unregister(&self) {
        if self.live.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        // Invariant 4: the last child out wakes `join`.
        let join = self.lock().join_waker.take();
        if let Some(w) = join {
            w.wake();
        }
    }

    fn fail(&self, failure: Failure<E>) {
        self.lock().failures.push(failure);
        self.cancel();
    }

    fn cancel(&self) {
        // Invariant 2: the flag goes up before `live` is read and the registries are scanned.
        if self.cancelled.swap(true, Ordering::SeqCst) {
            return;
        }
        fence(Ordering::SeqCst);
        if self.live.load(Ordering::Relaxed) == 0 {
            // Every spawner still to mark a child will see the flag.
            return;
        }
        let others = self.lock().other_homes.clone();
        for home in self.home.get().into_iter().chain(&others) {
            if let Some(registry) = home.registry() {
                registry.cancel_group(self.mark);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakers_of_ended_children_are_pruned_by_the_spawner() {
        crate::Runtime::new().unwrap().block_on(async {
            let group = TaskGroup::<()>::new();
            let mut most = 0;
            for _ in 0..10 * PRUNE_EVERY {
                // Each child has ended before the next spawn, so only the newest child is
                // live when a prune is considered: the first prune comes at `2 *
                // PRUNE_EVERY` wakers (64 < 2 * 1 + 64) and keeps that child's alone.
                let child = group.spawn(async {
                    crate::yield_now().await;
                    Ok(())
                });
                assert_eq!(child.await, Some(()));
                most = most.max(group.shared.kept().len());
            }
            assert!(most > 0, "no child's waker was kept");
            assert!(
                most < 2 * PRUNE_EVERY,
                "{most} wakers of ended children kept"
            );
            group.join().await.unwrap();
        });
    }
}
