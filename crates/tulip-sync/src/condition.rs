//! `Condition`: a condition variable bound to its own [`Lock`].

use crate::lock::{Lock, LockFuture, LockGuard};
use crate::sync::{Mutex, lock};
use crate::wait_list::{WaitList, WakeList, wake_all};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// An async condition variable, like `asyncio.Condition`: a [`Lock`] plus a queue of tasks
/// waiting to be notified while they do not hold it.
///
/// The condition owns its lock, so a wait always releases and re-takes the right one.
/// Notified waiters wake in FIFO order. Unlike asyncio, `notify` does not require the lock to
/// be held; notify while holding it when the waiters' predicate depends on the value.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use tulip_sync::Condition;
/// # futures_lite::future::block_on(async {
/// let cond = Arc::new(Condition::new(Vec::new()));
/// let c2 = cond.clone();
/// let consumer = async move {
///     let items = c2.lock().await;
///     let mut items = c2.wait_for(items, |v| !v.is_empty()).await;
///     items.pop()
/// };
/// let producer = async {
///     cond.lock().await.push(42);
///     cond.notify(1);
/// };
/// let (got, ()) = futures_lite::future::zip(consumer, producer).await;
/// assert_eq!(got, Some(42));
/// # });
/// ```
pub struct Condition<T> {
    lock: Lock<T>,
    waiters: Mutex<WaitList<()>>,
}

impl<T> std::fmt::Debug for Condition<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Condition")
            .field("lock", &self.lock)
            .field("waiters", &lock(&self.waiters).len())
            .finish()
    }
}

impl<T: Default> Default for Condition<T> {
    fn default() -> Self {
        Condition::new(T::default())
    }
}

impl<T> Condition<T> {
    /// Creates a condition whose lock holds `value`.
    pub fn new(value: T) -> Self {
        Condition {
            lock: Lock::new(value),
            waiters: Mutex::new(WaitList::new()),
        }
    }

    /// Waits for the underlying lock.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`Lock::lock`].
    pub fn lock(&self) -> LockFuture<'_, T> {
        self.lock.lock()
    }

    /// Takes the underlying lock if it is free and nobody waits.
    pub fn try_lock(&self) -> Option<LockGuard<'_, T>> {
        self.lock.try_lock()
    }

    /// Releases the lock, waits to be notified, then re-takes the lock.
    ///
    /// The waiter joins the queue before the lock is released, so a `notify` made by the next
    /// holder of the lock always reaches it.
    ///
    /// # Panics
    ///
    /// If `guard` belongs to another lock (as `std::sync::Condvar` does).
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe in the sense that the guard passed in is lost: a dropped wait leaves the
    /// lock released. A notification it had received but not acted on is passed to the next
    /// waiter, so cancelling never swallows a `notify`.
    pub async fn wait<'a>(&'a self, guard: LockGuard<'a, T>) -> LockGuard<'a, T> {
        assert!(
            std::ptr::eq(guard.source(), &self.lock),
            "Condition::wait with another lock's guard"
        );
        // Queued with a no-op waker before the first poll: a notification in between is kept by
        // the slot's state, and the real waker replaces it on the first poll.
        let key = lock(&self.waiters).push_back(std::task::Waker::noop(), ());
        let mut notified = Notified {
            cond: self,
            key: Some(key),
            consumed: false,
        };
        drop(guard);
        (&mut notified).await;
        // From here until the lock is ours, a drop hands the notification on (`consumed`).
        let guard = self.lock.lock().await;
        notified.consumed = false;
        guard
    }

    /// Waits until `predicate` holds for the value, re-checking after every notification.
    /// Returns at once (without waiting) if it holds already.
    ///
    /// # Cancel safety
    ///
    /// As [`Condition::wait`].
    pub async fn wait_for<'a>(
        &'a self,
        mut guard: LockGuard<'a, T>,
        mut predicate: impl FnMut(&mut T) -> bool,
    ) -> LockGuard<'a, T> {
        while !predicate(&mut guard) {
            guard = self.wait(guard).await;
        }
        guard
    }

    /// Wakes up to `n` waiters in FIFO order; returns how many were woken.
    pub fn notify(&self, n: usize) -> usize {
        let mut wakers = WakeList::new();
        let woken = lock(&self.waiters).notify_n(n, &mut wakers);
        wake_all(wakers);
        woken
    }

    /// Wakes every waiter; returns how many were woken.
    pub fn notify_all(&self) -> usize {
        self.notify(usize::MAX)
    }

    /// Consumes the condition and returns the value.
    pub fn into_inner(self) -> T {
        self.lock.into_inner()
    }
}

/// The waiting half of [`Condition::wait`]; passes on an unused notification when dropped.
struct Notified<'a, T> {
    cond: &'a Condition<T>,
    key: Option<usize>,
    /// Set once the notification was taken: a drop before the lock is re-taken passes it on.
    consumed: bool,
}

impl<T> Future for Notified<'_, T> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(key) = self.key else {
            return Poll::Ready(());
        };
        let mut list = lock(&self.cond.waiters);
        if list.is_notified(key) {
            list.remove(key);
            drop(list);
            self.key = None;
            self.consumed = true;
            Poll::Ready(())
        } else {
            list.set_waker(key, cx.waker());
            Poll::Pending
        }
    }
}

impl<T> Drop for Notified<'_, T> {
    fn drop(&mut self) {
        let pass_on = match self.key.take() {
            Some(key) => lock(&self.cond.waiters).remove(key).notified,
            None => self.consumed,
        };
        if pass_on {
            self.cond.notify(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::{block_on, poll_once};

    #[test]
    fn dropped_notified_waiter_passes_the_notification_on() {
        let cond = Condition::new(0);
        let mut a = Box::pin(async {
            let g = cond.lock().await;
            drop(cond.wait(g).await);
        });
        assert!(block_on(poll_once(&mut a)).is_none());
        let mut b = Box::pin(async {
            let g = cond.lock().await;
            drop(cond.wait(g).await);
        });
        assert!(block_on(poll_once(&mut b)).is_none());
        assert_eq!(cond.notify(1), 1); // chooses `a`
        drop(a);
        assert!(
            block_on(poll_once(&mut b)).is_some(),
            "b must inherit a's notification"
        );
        assert_eq!(cond.notify_all(), 0);
    }

    #[test]
    fn notified_while_reacquiring_then_dropped_passes_on() {
        let cond = Condition::new(0);
        let mut a = Box::pin(async {
            let g = cond.lock().await;
            drop(cond.wait(g).await);
        });
        let mut b = Box::pin(async {
            let g = cond.lock().await;
            drop(cond.wait(g).await);
        });
        assert!(block_on(poll_once(&mut a)).is_none());
        assert!(block_on(poll_once(&mut b)).is_none());
        let held = cond.try_lock().unwrap();
        cond.notify(1);
        assert!(block_on(poll_once(&mut a)).is_none()); // notified, now waiting for the lock
        drop(a);
        drop(held);
        assert!(block_on(poll_once(&mut b)).is_some());
    }
}
