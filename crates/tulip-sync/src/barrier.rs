//! `Barrier`: wait until `n` tasks have arrived.

use crate::sync::{Mutex, lock};
use crate::wait_list::{WaitList, WakeList, wake_all};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A reusable barrier for `n` tasks, like `asyncio.Barrier`: each `wait` blocks until `n`
/// waits are in progress, then all return and the barrier resets for the next round. The
/// last task to arrive is the round's leader.
///
/// [`Barrier::abort`] breaks the barrier: current and future waits fail with
/// [`BrokenBarrierError`] until [`Barrier::reset`], which also fails the waits in progress
/// and starts an empty round (asyncio's `abort`, `reset` and `broken`).
///
/// # Examples
///
/// ```
/// use tulip_sync::Barrier;
/// # futures_lite::future::block_on(async {
/// let barrier = Barrier::new(2);
/// let (a, b) = futures_lite::future::zip(barrier.wait(), barrier.wait()).await;
/// assert!(a.unwrap().is_leader() != b.unwrap().is_leader());
///
/// barrier.abort();
/// assert!(barrier.wait().await.is_err());
/// barrier.reset();
/// assert!(!barrier.broken());
/// # });
/// ```
#[derive(Debug)]
pub struct Barrier {
    parties: usize,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    arrived: usize,
    broken: bool,
    waiters: WaitList<Release>,
}

/// What a waiter learns when it is notified (set by the notifier before it notifies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Release {
    Waiting,
    Passed,
    Broken,
}

impl State {
    /// Releases every waiter of the current round with `outcome`.
    fn release(&mut self, outcome: Release) -> WakeList {
        let mut wakers = WakeList::new();
        while let Some(data) = self.waiters.front_mut() {
            *data = outcome;
            if let Some(w) = self.waiters.notify_front() {
                wakers.push(w);
            }
        }
        self.arrived = 0;
        wakers
    }
}

/// What [`Barrier::wait`] returns when the round completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult {
    leader: bool,
}

impl BarrierWaitResult {
    /// Whether this task was the last to arrive; exactly one per round is.
    pub fn is_leader(&self) -> bool {
        self.leader
    }
}

/// The error of a [`Barrier::wait`] on a barrier that was aborted or reset (asyncio's
/// `BrokenBarrierError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokenBarrierError;

impl std::fmt::Display for BrokenBarrierError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the barrier is broken (aborted or reset)")
    }
}

impl std::error::Error for BrokenBarrierError {}

impl Barrier {
    /// Creates a barrier for `parties` tasks (a barrier for 0 or 1 never blocks).
    pub fn new(parties: usize) -> Self {
        Barrier {
            parties,
            state: Mutex::new(State {
                arrived: 0,
                broken: false,
                waiters: WaitList::new(),
            }),
        }
    }

    /// How many tasks each round needs.
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// How many tasks wait in the current round.
    pub fn n_waiting(&self) -> usize {
        lock(&self.state).arrived
    }

    /// Whether the barrier is broken (aborted and not reset since).
    pub fn broken(&self) -> bool {
        lock(&self.state).broken
    }

    /// Breaks the barrier: the waits in progress and every later one fail with
    /// [`BrokenBarrierError`] until [`Barrier::reset`]. For a party that cannot arrive, so
    /// that the others do not wait forever.
    pub fn abort(&self) {
        let mut st = lock(&self.state);
        st.broken = true;
        let wakers = st.release(Release::Broken);
        drop(st);
        wake_all(wakers);
    }

    /// Returns the barrier to its empty, unbroken state; the waits in progress fail with
    /// [`BrokenBarrierError`].
    pub fn reset(&self) {
        let mut st = lock(&self.state);
        st.broken = false;
        let wakers = st.release(Release::Broken);
        drop(st);
        wake_all(wakers);
    }

    /// Waits until `parties` tasks are waiting; fails at once or later if the barrier is
    /// [aborted](Barrier::abort) or [reset](Barrier::reset).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a wait dropped before the round completes no longer counts as arrived.
    pub fn wait(&self) -> BarrierWait<'_> {
        BarrierWait {
            barrier: self,
            key: None,
        }
    }
}

/// Future of [`Barrier::wait`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct BarrierWait<'a> {
    barrier: &'a Barrier,
    key: Option<usize>,
}

impl Future for BarrierWait<'_> {
    type Output = Result<BarrierWaitResult, BrokenBarrierError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut st = lock(&self.barrier.state);
        if let Some(key) = self.key {
            if st.waiters.is_notified(key) {
                let outcome = st.waiters.remove(key).data;
                drop(st);
                self.key = None;
                return Poll::Ready(match outcome {
                    Release::Broken => Err(BrokenBarrierError),
                    _ => Ok(BarrierWaitResult { leader: false }),
                });
            }
            st.waiters.set_waker(key, cx.waker());
            return Poll::Pending;
        }
        if st.broken {
            return Poll::Ready(Err(BrokenBarrierError));
        }
        st.arrived += 1;
        if st.arrived >= self.barrier.parties {
            let wakers = st.release(Release::Passed);
            drop(st);
            wake_all(wakers);
            return Poll::Ready(Ok(BarrierWaitResult { leader: true }));
        }
        let key = st.waiters.push_back(cx.waker(), Release::Waiting);
        drop(st);
        self.key = Some(key);
        Poll::Pending
    }
}

impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut st = lock(&self.barrier.state);
            if !st.waiters.remove(key).notified {
                st.arrived -= 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::{block_on, poll_once};

    #[test]
    fn dropped_waiter_does_not_count() {
        let b = Barrier::new(2);
        let mut w = Box::pin(b.wait());
        assert!(block_on(poll_once(&mut w)).is_none());
        assert_eq!(b.n_waiting(), 1);
        drop(w);
        assert_eq!(b.n_waiting(), 0);
        let mut w1 = Box::pin(b.wait());
        assert!(block_on(poll_once(&mut w1)).is_none());
        let r2 = block_on(b.wait()).unwrap();
        assert!(r2.is_leader());
        assert_eq!(
            block_on(poll_once(&mut w1)),
            Some(Ok(BarrierWaitResult { leader: false }))
        );
    }

    #[test]
    fn abort_fails_waiters_until_reset() {
        let b = Barrier::new(3);
        let mut w1 = Box::pin(b.wait());
        let mut w2 = Box::pin(b.wait());
        assert!(block_on(poll_once(&mut w1)).is_none());
        assert!(block_on(poll_once(&mut w2)).is_none());
        b.abort();
        assert!(b.broken());
        assert_eq!(block_on(poll_once(&mut w1)), Some(Err(BrokenBarrierError)));
        assert_eq!(block_on(w2), Err(BrokenBarrierError));
        assert_eq!(block_on(b.wait()), Err(BrokenBarrierError));
        assert_eq!(b.n_waiting(), 0);

        b.reset();
        assert!(!b.broken());
        let mut w3 = Box::pin(b.wait());
        assert!(block_on(poll_once(&mut w3)).is_none());
        // A reset fails the round in progress but leaves the barrier usable.
        b.reset();
        assert_eq!(block_on(w3), Err(BrokenBarrierError));
        let mut a = Box::pin(b.wait());
        let mut c = Box::pin(b.wait());
        assert!(block_on(poll_once(&mut a)).is_none());
        assert!(block_on(poll_once(&mut c)).is_none());
        assert!(block_on(b.wait()).unwrap().is_leader());
        assert_eq!(block_on(a), Ok(BarrierWaitResult { leader: false }));
        assert_eq!(block_on(c), Ok(BarrierWaitResult { leader: false }));
    }
}
