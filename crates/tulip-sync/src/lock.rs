//! `Lock`: a fair async mutex.
//!
//! Safety rules for the `unsafe` in this module and in `rwlock`:
//!
//! 1. A `LockGuard` exists only while its holder owns the semaphore's single permit, so at
//!    most one guard of a `Lock` exists at a time and it has exclusive access to the value.
//! 2. The permit is returned only in the guard's `Drop`, after the last use of the value
//!    through that guard; the release is a `Release` store and the next acquire an `Acquire`
//!    load, so the next holder sees every write.

use crate::raw_semaphore::{Acquire, RawSemaphore};
use crate::sync::UnsafeCell;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll};

/// A fair async mutual-exclusion lock protecting a `T`, like `asyncio.Lock` with data.
///
/// Waiters get the lock in the order they started waiting (FIFO hand-off): an unlock gives
/// the lock directly to the longest waiter, and `try_lock` fails while anybody waits. An
/// uncontended `lock` or unlock is a single compare-and-swap.
///
/// # Examples
///
/// ```
/// use tulip_sync::Lock;
/// # futures_lite::future::block_on(async {
/// let lock = Lock::new(0);
/// *lock.lock().await += 1;
/// assert_eq!(*lock.try_lock().unwrap(), 1);
/// # });
/// ```
pub struct Lock<T> {
    sem: RawSemaphore,
    value: UnsafeCell<T>,
}

// SAFETY: rule 1: the value is reached only through the one guard, so `Lock<T>` hands a `T`
// from thread to thread but never shares it; `T: Send` is all it needs.
#[allow(unsafe_code)]
unsafe impl<T: Send> Send for Lock<T> {}
// SAFETY: rule 1: `&Lock<T>` gives `&mut T` to one thread at a time, which needs `T: Send`.
#[allow(unsafe_code)]
unsafe impl<T: Send> Sync for Lock<T> {}

impl<T: Default> Default for Lock<T> {
    fn default() -> Self {
        Lock::new(T::default())
    }
}

impl<T> std::fmt::Debug for Lock<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lock")
            .field("locked", &self.locked())
            .finish_non_exhaustive()
    }
}

impl<T> Lock<T> {
    /// Creates an unlocked lock holding `value`.
    pub fn new(value: T) -> Self {
        Lock {
            sem: RawSemaphore::new(1),
            value: UnsafeCell::new(value),
        }
    }

    /// Waits for the lock and returns a guard that unlocks on drop.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe. Dropping the future gives up its place in the queue; if the lock had
    /// already been handed to it, the lock passes on to the next waiter.
    pub fn lock(&self) -> LockFuture<'_, T> {
        LockFuture {
            lock: self,
            acquire: self.sem.acquire(1),
        }
    }

    /// Takes the lock if it is free and nobody is waiting for it.
    pub fn try_lock(&self) -> Option<LockGuard<'_, T>> {
        self.sem.try_acquire(1).then(|| LockGuard { lock: self })
    }

    /// Whether the lock is held (or about to be handed to a waiter).
    pub fn locked(&self) -> bool {
        self.sem.available() == 0
    }

    /// A mutable reference to the value; `&mut self` proves nobody holds the lock.
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    /// Consumes the lock and returns the value.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

/// Future of [`Lock::lock`].
#[must_use = "futures do nothing unless awaited"]
pub struct LockFuture<'a, T> {
    lock: &'a Lock<T>,
    acquire: Acquire<'a>,
}

impl<T> std::fmt::Debug for LockFuture<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockFuture")
            .field("acquire", &self.acquire)
            .finish()
    }
}

impl<'a, T> Future for LockFuture<'a, T> {
    type Output = LockGuard<'a, T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LockGuard<'a, T>> {
        let lock = self.lock;
        Pin::new(&mut self.acquire)
            .poll(cx)
            .map(|()| LockGuard { lock })
    }
}

/// Exclusive access to a [`Lock`]'s value; unlocking on drop hands the lock to the next waiter.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a, T> {
    lock: &'a Lock<T>,
}

impl<'a, T> LockGuard<'a, T> {
    /// The lock this guard holds.
    pub(crate) fn source(&self) -> &'a Lock<T> {
        self.lock
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for LockGuard<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl<T> Deref for LockGuard<'_, T> {
    type Target = T;

    #[allow(unsafe_code)]
    fn deref(&self) -> &T {
        // SAFETY: rule 1: this guard is the only access path to the value while it lives.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for LockGuard<'_, T> {
    #[allow(unsafe_code)]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: rule 1: this guard is the only access path, and `&mut self` makes it unique.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for LockGuard<'_, T> {
    fn drop(&mut self) {
        // Rule 2: the last use of the value through this guard is behind us.
        self.lock.sem.release(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::{block_on, poll_once};

    #[test]
    fn try_lock_fails_while_held_or_waited_for() {
        let lock = Lock::new(1);
        let g = lock.try_lock().unwrap();
        assert!(lock.locked());
        assert!(lock.try_lock().is_none());
        let mut waiter = Box::pin(lock.lock());
        assert!(block_on(poll_once(&mut waiter)).is_none());
        drop(g);
        // The lock was handed to the waiter, so a newcomer cannot barge in.
        assert!(lock.try_lock().is_none());
        let mut g = block_on(waiter);
        *g += 1;
        drop(g);
        assert_eq!(*lock.try_lock().unwrap(), 2);
    }

    #[test]
    fn dropped_waiter_passes_the_lock_on() {
        let lock = Lock::new(());
        let g = lock.try_lock().unwrap();
        let mut a = Box::pin(lock.lock());
        let mut b = Box::pin(lock.lock());
        assert!(block_on(poll_once(&mut a)).is_none());
        let (r, b_wakes) = crate::test_waker::poll_counted(&mut b);
        assert!(r.is_pending());
        drop(g); // handed to `a`
        assert_eq!(b_wakes.get(), 0);
        drop(a); // `a` never saw it: it goes to `b`
        assert_eq!(b_wakes.get(), 1);
        assert!(block_on(poll_once(&mut b)).is_some());
        assert!(!lock.locked());
    }
}
