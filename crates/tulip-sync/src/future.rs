//! A one-shot, many-reader `Future` in asyncio's sense.

use crate::sync::{Arc, Mutex, lock};
use crate::wait_list::{WaitList, WakeList, wake_all};
use std::fmt;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

/// Why a [`Future`] has no result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FutureError<E> {
    /// It was settled with [`Future::set_exception`].
    Exception(E),
    /// It was cancelled with [`Future::cancel`].
    Cancelled,
}

impl<E: fmt::Display> fmt::Display for FutureError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FutureError::Exception(e) => write!(f, "future failed: {e}"),
            FutureError::Cancelled => f.write_str("future was cancelled"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for FutureError<E> {}

/// The future was already done; the value that could not be set comes back
/// (asyncio's `InvalidStateError`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct InvalidStateError<V>(pub V);

impl<V> fmt::Debug for InvalidStateError<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InvalidStateError(..)")
    }
}

impl<V> fmt::Display for InvalidStateError<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("future is already done")
    }
}

impl<V> std::error::Error for InvalidStateError<V> {}

/// The settled outcome of a [`Future`].
pub type FutureResult<T, E> = Result<T, FutureError<E>>;

type Callback<T, E> = Box<dyn FnOnce(&FutureResult<T, E>) + Send>;

struct Shared<T, E> {
    /// Written once, under `state`, then read without locking.
    outcome: OnceLock<FutureResult<T, E>>,
    state: Mutex<Pending<T, E>>,
}

struct Pending<T, E> {
    waiters: WaitList<()>,
    callbacks: Vec<Callback<T, E>>,
}

/// A one-shot result that many tasks can await, like `asyncio.Future`.
///
/// Settle it once with [`set_result`](Future::set_result),
/// [`set_exception`](Future::set_exception) or [`cancel`](Future::cancel). Every clone is a
/// handle to the same result; awaiting a handle (or [`wait`](Future::wait)) yields a clone of
/// the outcome.
///
/// # Examples
///
/// ```
/// use tulip_sync::{Future, FutureError};
/// # futures_lite::future::block_on(async {
/// let fut: Future<u32, String> = Future::new();
/// let reader = fut.clone();
/// fut.add_done_callback(|r| assert_eq!(r, &Ok(7)));
/// fut.set_result(7).unwrap();
/// assert_eq!(reader.await, Ok(7));
/// assert!(fut.set_exception("late".into()).is_err());
///
/// let failed: Future<u32, &str> = Future::new();
/// failed.cancel();
/// assert_eq!(failed.wait().await, Err(FutureError::Cancelled));
/// # });
/// ```
pub struct Future<T, E = ()> {
    shared: Arc<Shared<T, E>>,
    /// This handle's slot in the wait list while it is awaited directly.
    key: Option<usize>,
}

impl<T, E> Clone for Future<T, E> {
    fn clone(&self) -> Self {
        Future {
            shared: self.shared.clone(),
            key: None,
        }
    }
}

impl<T, E> Default for Future<T, E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, E> fmt::Debug for Future<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.shared.outcome.get() {
            None => "pending",
            Some(Ok(_)) => "finished",
            Some(Err(FutureError::Exception(_))) => "failed",
            Some(Err(FutureError::Cancelled)) => "cancelled",
        };
        f.debug_struct("Future").field("state", &state).finish()
    }
}

impl<T, E> Future<T, E> {
    /// Creates a pending future.
    pub fn new() -> Self {
        Future {
            shared: Arc::new(Shared {
                outcome: OnceLock::new(),
                state: Mutex::new(Pending {
                    waiters: WaitList::new(),
                    callbacks: Vec::new(),
                }),
            }),
            key: None,
        }
    }

    fn settle(&self, outcome: FutureResult<T, E>) -> Result<(), FutureResult<T, E>> {
        let mut st = lock(&self.shared.state);
        self.shared.outcome.set(outcome)?;
        let mut wakers = WakeList::new();
        st.waiters.notify_all(&mut wakers);
        let callbacks = std::mem::take(&mut st.callbacks);
        drop(st);
        wake_all(wakers);
        if let Some(outcome) = self.shared.outcome.get() {
            for cb in callbacks {
                cb(outcome);
            }
        }
        Ok(())
    }

    /// Settles the future with a value; fails (handing it back) if it is already done.
    /// Done-callbacks run on this thread before it returns.
    pub fn set_result(&self, value: T) -> Result<(), InvalidStateError<T>> {
        self.settle(Ok(value)).map_err(|o| match o {
            Ok(v) => InvalidStateError(v),
            Err(_) => unreachable!("settle hands back what it was given"),
        })
    }

    /// Settles the future with an error; fails (handing it back) if it is already done.
    pub fn set_exception(&self, error: E) -> Result<(), InvalidStateError<E>> {
        self.settle(Err(FutureError::Exception(error)))
            .map_err(|o| match o {
                Err(FutureError::Exception(e)) => InvalidStateError(e),
                _ => unreachable!("settle hands back what it was given"),
            })
    }

    /// Cancels the future; `false` if it was already done.
    pub fn cancel(&self) -> bool {
        self.settle(Err(FutureError::Cancelled)).is_ok()
    }

    /// Whether the future is settled (by a result, an error or cancellation).
    pub fn done(&self) -> bool {
        self.shared.outcome.get().is_some()
    }

    /// Whether the future was cancelled.
    pub fn cancelled(&self) -> bool {
        matches!(self.shared.outcome.get(), Some(Err(FutureError::Cancelled)))
    }

    /// The outcome, if settled, by reference.
    pub fn outcome(&self) -> Option<&FutureResult<T, E>> {
        self.shared.outcome.get()
    }

    /// Runs `callback` with the outcome once the future is settled: at once, on this thread,
    /// if it already is; otherwise on the thread that settles it.
    pub fn add_done_callback(&self, callback: impl FnOnce(&FutureResult<T, E>) + Send + 'static) {
        let mut st = lock(&self.shared.state);
        if let Some(outcome) = self.shared.outcome.get() {
            drop(st);
            callback(outcome);
        } else {
            st.callbacks.push(Box::new(callback));
        }
    }
}

impl<T: Clone, E: Clone> Future<T, E> {
    /// A clone of the outcome, if settled (asyncio's `result()` without the exception).
    pub fn result(&self) -> Option<FutureResult<T, E>> {
        self.shared.outcome.get().cloned()
    }

    /// Waits for the outcome and returns a clone of it. Same as awaiting a clone of the handle.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: waiting never changes the future; a dropped wait only leaves the list of
    /// waiters.
    pub fn wait(&self) -> Future<T, E> {
        self.clone()
    }
}

impl<T: Clone, E: Clone> std::future::Future for Future<T, E> {
    type Output = FutureResult<T, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.key.is_none() {
            if let Some(outcome) = self.shared.outcome.get() {
                return Poll::Ready(outcome.clone());
            }
        }
        let shared = self.shared.clone();
        let mut st = lock(&shared.state);
        if let Some(outcome) = shared.outcome.get() {
            if let Some(key) = self.key.take() {
                st.waiters.remove(key);
            }
            return Poll::Ready(outcome.clone());
        }
        match self.key {
            Some(key) => st.waiters.set_waker(key, cx.waker()),
            None => self.key = Some(st.waiters.push_back(cx.waker(), ())),
        }
        Poll::Pending
    }
}

impl<T, E> Drop for Future<T, E> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            lock(&self.shared.state).waiters.remove(key);
        }
    }
}
