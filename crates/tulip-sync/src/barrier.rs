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
/// # Examples
///
/// ```
/// use tulip_sync::Barrier;
/// # futures_lite::future::block_on(async {
/// let barrier = Barrier::new(2);
/// let (a, b) = futures_lite::future::zip(barrier.wait(), barrier.wait()).await;
/// assert!(a.is_leader() != b.is_leader());
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
    waiters: WaitList<()>,
}

/// What [`Barrier::wait`] returns.
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

impl Barrier {
    /// Creates a barrier for `parties` tasks (a barrier for 0 or 1 never blocks).
    pub fn new(parties: usize) -> Self {
        Barrier {
            parties,
            state: Mutex::new(State {
                arrived: 0,
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

    /// Waits until `parties` tasks are waiting.
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
    type Output = BarrierWaitResult;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<BarrierWaitResult> {
        let mut st = lock(&self.barrier.state);
        if let Some(key) = self.key {
            if st.waiters.is_notified(key) {
                st.waiters.remove(key);
                drop(st);
                self.key = None;
                return Poll::Ready(BarrierWaitResult { leader: false });
            }
            st.waiters.set_waker(key, cx.waker());
            return Poll::Pending;
        }
        st.arrived += 1;
        if st.arrived >= self.barrier.parties {
            st.arrived = 0;
            let mut wakers = WakeList::new();
            st.waiters.notify_all(&mut wakers);
            drop(st);
            wake_all(wakers);
            return Poll::Ready(BarrierWaitResult { leader: true });
        }
        let key = st.waiters.push_back(cx.waker(), ());
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
        let r2 = block_on(b.wait());
        assert!(r2.is_leader());
        assert_eq!(
            block_on(poll_once(&mut w1)),
            Some(BarrierWaitResult { leader: false })
        );
    }
}
