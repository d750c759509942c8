//! `RwLock`: a fair, writer-preferring async reader-writer lock.
//!
//! It is a [`RawSemaphore`] with `MAX_READERS` permits: a reader takes one, a writer takes
//! them all. The `unsafe` here follows the rules of the `lock` module, read with "a write guard
//! holds every permit, a read guard one of them": write guards are exclusive, read guards only
//! coexist with read guards.

use crate::raw_semaphore::{Acquire, RawSemaphore};
use crate::sync::UnsafeCell;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll};

const MAX_READERS: usize = 1 << 28;

/// A fair async reader-writer lock.
///
/// Writer-preferring: once a writer waits, new readers queue behind it instead of joining the
/// readers inside, so a stream of readers cannot starve a writer. All waiters are served in
/// FIFO order: the readers that queued behind a writer all get in together after it.
///
/// # Examples
///
/// ```
/// use tulip_sync::RwLock;
/// # futures_lite::future::block_on(async {
/// let lock = RwLock::new(1);
/// {
///     let a = lock.read().await;
///     let b = lock.read().await;
///     assert_eq!(*a + *b, 2);
///     assert!(lock.try_write().is_none());
/// }
/// *lock.write().await += 1;
/// assert_eq!(*lock.read().await, 2);
/// # });
/// ```
pub struct RwLock<T> {
    sem: RawSemaphore,
    value: UnsafeCell<T>,
}

// SAFETY: rule 1 of `lock` (adapted): a write guard is exclusive, so `T: Send` lets the value
// move between threads.
#[allow(unsafe_code)]
unsafe impl<T: Send> Send for RwLock<T> {}
// SAFETY: read guards share `&T` across threads (`T: Sync`), a write guard hands `&mut T` to one
// thread at a time (`T: Send`).
#[allow(unsafe_code)]
unsafe impl<T: Send + Sync> Sync for RwLock<T> {}

impl<T> std::fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RwLock")
            .field("sem", &self.sem)
            .finish_non_exhaustive()
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<T> RwLock<T> {
    /// Creates an unlocked lock holding `value`.
    pub fn new(value: T) -> Self {
        RwLock {
            sem: RawSemaphore::new(MAX_READERS),
            value: UnsafeCell::new(value),
        }
    }

    /// Waits for shared access.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future gives up its place in the queue (and hands on access
    /// already granted to it).
    pub fn read(&self) -> ReadFuture<'_, T> {
        ReadFuture {
            lock: self,
            acquire: self.sem.acquire(1),
        }
    }

    /// Waits for exclusive access.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future gives up its place in the queue, returning any reader
    /// slots it had collected so that readers behind it may proceed.
    pub fn write(&self) -> WriteFuture<'_, T> {
        WriteFuture {
            lock: self,
            acquire: self.sem.acquire(MAX_READERS),
        }
    }

    /// Shared access if no writer holds or waits for the lock.
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        self.sem
            .try_acquire(1)
            .then(|| RwLockReadGuard { lock: self })
    }

    /// Exclusive access if the lock is free and nobody waits.
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        self.sem
            .try_acquire(MAX_READERS)
            .then(|| RwLockWriteGuard { lock: self })
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

/// Future of [`RwLock::read`].
#[must_use = "futures do nothing unless awaited"]
pub struct ReadFuture<'a, T> {
    lock: &'a RwLock<T>,
    acquire: Acquire<'a>,
}

/// Future of [`RwLock::write`].
#[must_use = "futures do nothing unless awaited"]
pub struct WriteFuture<'a, T> {
    lock: &'a RwLock<T>,
    acquire: Acquire<'a>,
}

impl<T> std::fmt::Debug for ReadFuture<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadFuture")
            .field("acquire", &self.acquire)
            .finish()
    }
}

impl<T> std::fmt::Debug for WriteFuture<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteFuture")
            .field("acquire", &self.acquire)
            .finish()
    }
}

impl<'a, T> Future for ReadFuture<'a, T> {
    type Output = RwLockReadGuard<'a, T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let lock = self.lock;
        Pin::new(&mut self.acquire)
            .poll(cx)
            .map(|()| RwLockReadGuard { lock })
    }
}

impl<'a, T> Future for WriteFuture<'a, T> {
    type Output = RwLockWriteGuard<'a, T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let lock = self.lock;
        Pin::new(&mut self.acquire)
            .poll(cx)
            .map(|()| RwLockWriteGuard { lock })
    }
}

/// Shared access to an [`RwLock`]'s value.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockReadGuard<'a, T> {
    lock: &'a RwLock<T>,
}

/// Exclusive access to an [`RwLock`]'s value.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockWriteGuard<'a, T> {
    lock: &'a RwLock<T>,
}

impl<T: std::fmt::Debug> std::fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl<T> Deref for RwLockReadGuard<'_, T> {
    type Target = T;

    #[allow(unsafe_code)]
    fn deref(&self) -> &T {
        // SAFETY: a read guard holds a permit, so no write guard exists (module doc).
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;

    #[allow(unsafe_code)]
    fn deref(&self) -> &T {
        // SAFETY: a write guard holds every permit, so it is the only guard (module doc).
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for RwLockWriteGuard<'_, T> {
    #[allow(unsafe_code)]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: a write guard holds every permit, so it is the only guard (module doc).
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.sem.release(1);
    }
}

impl<T> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.sem.release(MAX_READERS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::{block_on, poll_once};

    #[test]
    fn waiting_writer_blocks_new_readers() {
        let lock = RwLock::new(0);
        let r1 = lock.try_read().unwrap();
        let mut w = Box::pin(lock.write());
        assert!(block_on(poll_once(&mut w)).is_none());
        assert!(
            lock.try_read().is_none(),
            "a waiting writer must block new readers"
        );
        let mut r2 = Box::pin(lock.read());
        assert!(block_on(poll_once(&mut r2)).is_none());
        drop(r1);
        let mut g = block_on(poll_once(&mut w)).unwrap();
        *g = 7;
        drop(g);
        assert_eq!(*block_on(poll_once(&mut r2)).unwrap(), 7);
    }
}
