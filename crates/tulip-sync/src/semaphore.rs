//! `Semaphore` and `BoundedSemaphore`.

use crate::raw_semaphore::{Acquire, MAX_PERMITS, RawSemaphore};
use crate::sync::{AtomicUsize, Ordering};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A fair counting semaphore, like `asyncio.Semaphore`.
///
/// `acquire` returns a [`SemaphorePermit`] that releases on drop; call
/// [`SemaphorePermit::forget`] and [`Semaphore::release`] for asyncio's manual style. Waiters
/// are served in FIFO order, also when they ask for several permits at once: a large request
/// at the head is not overtaken by later small ones.
///
/// # Examples
///
/// ```
/// use tulip_sync::Semaphore;
/// # futures_lite::future::block_on(async {
/// let sem = Semaphore::new(2);
/// let a = sem.acquire().await;
/// let _b = sem.acquire().await;
/// assert!(sem.try_acquire().is_none());
/// drop(a);
/// assert_eq!(sem.available_permits(), 1);
/// # });
/// ```
#[derive(Debug)]
pub struct Semaphore {
    raw: RawSemaphore,
}

impl Semaphore {
    /// Most permits a semaphore can hold.
    pub const MAX_PERMITS: usize = MAX_PERMITS;

    /// Creates a semaphore with `permits` permits.
    ///
    /// # Panics
    ///
    /// If `permits` exceeds [`Semaphore::MAX_PERMITS`].
    pub fn new(permits: usize) -> Self {
        Semaphore {
            raw: RawSemaphore::new(permits),
        }
    }

    /// Waits for one permit.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future gives up its place in the queue, and a permit already
    /// handed to it goes to the next waiter.
    #[inline]
    pub fn acquire(&self) -> SemaphoreAcquire<'_> {
        self.acquire_many(1)
    }

    /// Waits for `n` permits at once.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: permits granted to the future before it was dropped are given back.
    #[inline]
    pub fn acquire_many(&self, n: usize) -> SemaphoreAcquire<'_> {
        SemaphoreAcquire {
            sem: self,
            n,
            acquire: self.raw.acquire(n),
        }
    }

    /// Takes one permit if one is free and nobody waits.
    #[inline]
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits if they are free and nobody waits.
    #[inline]
    pub fn try_acquire_many(&self, n: usize) -> Option<SemaphorePermit<'_>> {
        self.raw
            .try_acquire(n)
            .then(|| SemaphorePermit { sem: self, n })
    }

    /// Adds one permit, waking the longest waiter if it now has enough.
    #[inline]
    pub fn release(&self) {
        self.raw.release(1);
    }

    /// Adds `n` permits.
    ///
    /// # Panics
    ///
    /// If the count would exceed [`Semaphore::MAX_PERMITS`].
    pub fn add_permits(&self, n: usize) {
        self.raw.release(n);
    }

    /// Free permits now.
    pub fn available_permits(&self) -> usize {
        self.raw.available()
    }

    /// Whether an `acquire` would wait (asyncio's `locked()`).
    pub fn locked(&self) -> bool {
        self.raw.available() == 0 || self.raw.has_waiters()
    }
}

/// Future of [`Semaphore::acquire`] and [`Semaphore::acquire_many`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct SemaphoreAcquire<'a> {
    sem: &'a Semaphore,
    n: usize,
    acquire: Acquire<'a>,
}

impl<'a> Future for SemaphoreAcquire<'a> {
    type Output = SemaphorePermit<'a>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<SemaphorePermit<'a>> {
        let (sem, n) = (self.sem, self.n);
        Pin::new(&mut self.acquire)
            .poll(cx)
            .map(|()| SemaphorePermit { sem, n })
    }
}

/// Permits held from a [`Semaphore`], released on drop.
#[must_use = "the permits are released as soon as this is dropped"]
#[derive(Debug)]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
    n: usize,
}

impl SemaphorePermit<'_> {
    /// Keeps the permits taken: they return only through [`Semaphore::release`].
    pub fn forget(mut self) {
        self.n = 0;
    }

    /// How many permits this holds.
    pub fn num_permits(&self) -> usize {
        self.n
    }
}

impl Drop for SemaphorePermit<'_> {
    #[inline]
    fn drop(&mut self) {
        self.sem.raw.release(self.n);
    }
}

/// The error of [`BoundedSemaphore::release`] beyond the initial value (asyncio's
/// `ValueError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleaseError;

impl std::fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BoundedSemaphore released too many times")
    }
}

impl std::error::Error for ReleaseError {}

/// A semaphore that refuses to grow past its initial value, like `asyncio.BoundedSemaphore`.
///
/// # Examples
///
/// ```
/// use tulip_sync::{BoundedSemaphore, ReleaseError};
/// # futures_lite::future::block_on(async {
/// let sem = BoundedSemaphore::new(1);
/// sem.acquire().await.forget();
/// assert_eq!(sem.release(), Ok(()));
/// assert_eq!(sem.release(), Err(ReleaseError));
/// # });
/// ```
#[derive(Debug)]
pub struct BoundedSemaphore {
    raw: RawSemaphore,
    /// Permits currently out (acquired and not released); a release needs one to be out.
    out: AtomicUsize,
    initial: usize,
}

impl BoundedSemaphore {
    /// Creates a bounded semaphore with `permits` permits, also its upper bound.
    ///
    /// # Panics
    ///
    /// If `permits` exceeds [`Semaphore::MAX_PERMITS`].
    pub fn new(permits: usize) -> Self {
        BoundedSemaphore {
            raw: RawSemaphore::new(permits),
            out: AtomicUsize::new(0),
            initial: permits,
        }
    }

    /// Waits for one permit.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`Semaphore::acquire`].
    pub async fn acquire(&self) -> BoundedPermit<'_> {
        self.raw.acquire(1).await;
        self.out.fetch_add(1, Ordering::Relaxed);
        BoundedPermit {
            sem: self,
            live: true,
        }
    }

    /// Takes a permit if one is free and nobody waits.
    pub fn try_acquire(&self) -> Option<BoundedPermit<'_>> {
        if !self.raw.try_acquire(1) {
            return None;
        }
        self.out.fetch_add(1, Ordering::Relaxed);
        Some(BoundedPermit {
            sem: self,
            live: true,
        })
    }

    /// Returns a permit taken with [`BoundedPermit::forget`]; an error if none is out, which
    /// would raise the count past the initial value.
    pub fn release(&self) -> Result<(), ReleaseError> {
        self.out
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |o| o.checked_sub(1))
            .map_err(|_| ReleaseError)?;
        self.raw.release(1);
        Ok(())
    }

    /// Free permits now.
    pub fn available_permits(&self) -> usize {
        self.raw.available()
    }

    /// The initial (and largest) number of permits.
    pub fn bound(&self) -> usize {
        self.initial
    }

    /// Whether an `acquire` would wait.
    pub fn locked(&self) -> bool {
        self.raw.available() == 0 || self.raw.has_waiters()
    }
}

/// A permit held from a [`BoundedSemaphore`], released on drop.
#[must_use = "the permit is released as soon as this is dropped"]
#[derive(Debug)]
pub struct BoundedPermit<'a> {
    sem: &'a BoundedSemaphore,
    live: bool,
}

impl BoundedPermit<'_> {
    /// Keeps the permit taken; give it back with [`BoundedSemaphore::release`].
    pub fn forget(mut self) {
        self.live = false;
    }
}

impl Drop for BoundedPermit<'_> {
    fn drop(&mut self) {
        if self.live {
            // This permit is out, so the release cannot fail.
            let _ = self.sem.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::{block_on, poll_once};

    #[test]
    fn large_request_at_the_head_is_not_overtaken() {
        let sem = Semaphore::new(1);
        let held = sem.try_acquire().unwrap();
        let mut big = Box::pin(sem.acquire_many(3));
        assert!(block_on(poll_once(&mut big)).is_none());
        let mut small = Box::pin(sem.acquire());
        assert!(block_on(poll_once(&mut small)).is_none());
        sem.add_permits(1); // big now holds 1 of 3 (partial), small still waits
        drop(held); // big: 2 of 3
        assert!(block_on(poll_once(&mut small)).is_none());
        assert!(block_on(poll_once(&mut big)).is_none());
        sem.add_permits(2); // big completes, small gets the spare one
        let p = block_on(poll_once(&mut big)).unwrap();
        assert_eq!(p.num_permits(), 3);
        assert!(block_on(poll_once(&mut small)).is_some());
        drop(p);
        assert_eq!(sem.available_permits(), 4);
    }

    #[test]
    fn dropped_partial_waiter_returns_its_permits() {
        let sem = Semaphore::new(2);
        let mut big = Box::pin(sem.acquire_many(5));
        assert!(block_on(poll_once(&mut big)).is_none());
        assert_eq!(sem.available_permits(), 0);
        assert!(sem.locked());
        drop(big);
        assert_eq!(sem.available_permits(), 2);
        assert!(!sem.locked());
        assert!(sem.try_acquire_many(2).is_some());
    }

    #[test]
    fn bounded_release_is_checked() {
        let sem = BoundedSemaphore::new(2);
        assert_eq!(sem.release(), Err(ReleaseError));
        let p = block_on(sem.acquire());
        p.forget();
        assert_eq!(sem.available_permits(), 1);
        assert_eq!(sem.release(), Ok(()));
        assert_eq!(sem.release(), Err(ReleaseError));
        let p = sem.try_acquire().unwrap();
        drop(p);
        assert_eq!(sem.available_permits(), 2);
    }
}
