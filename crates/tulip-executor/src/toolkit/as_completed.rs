//! `as_completed`: a stream of outputs in the order the futures finish.

use std::convert::Infallible;
use std::fmt;
use std::future::{Future, Pending};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_lite::Stream;
use tulip_reactor::{Elapsed, Timeout};

use super::set::FutureSet;

/// Runs every future concurrently and yields their outputs in completion order (asyncio's
/// `as_completed(aws)`).
///
/// The stream ends after the last output. Futures are polled inside the task that polls the
/// stream, like [`gather`](crate::gather). Outputs carry no index: to know which input
/// finished, have each future return something that says so, e.g.
/// `as_completed(urls.map(|u| async move { (u, fetch(u).await) }))`. For an overall deadline
/// (asyncio's `timeout=`), see [`AsCompleted::timeout`].
///
/// # Cancel safety
///
/// `next()` on the stream is cancel-safe: an output is taken out of the set only by the poll
/// that returns it. Dropping the stream drops (cancels) the futures still running; `Task`
/// handles among them are detached instead (their tasks run on), as asyncio's
/// `as_completed` never cancels a task.
///
/// # Examples
///
/// ```
/// use futures_lite::StreamExt;
/// use tulip_executor::{as_completed, yield_now};
///
/// // Each future yields `n` times to the scheduler before it finishes.
/// let order = tulip_reactor::block_on(
///     as_completed([3u32, 0, 2].map(|n| async move {
///         for _ in 0..n {
///             yield_now().await;
///         }
///         n
///     }))
///     .collect::<Vec<_>>(),
/// );
/// assert_eq!(order, [0, 2, 3]);
/// ```
pub fn as_completed<I>(futs: I) -> AsCompleted<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    AsCompleted {
        // Like asyncio's, `as_completed` never cancels a task it was given: dropping the
        // stream detaches the `Task` handles it still holds (plain futures are dropped).
        set: FutureSet::new_unowned(futs.into_iter().map(Box::pin), |b| {
            std::ptr::from_ref::<I::Item>(&**b).cast()
        }),
    }
}

/// The stream returned by [`as_completed`].
#[must_use = "streams do nothing unless polled"]
pub struct AsCompleted<F> {
    set: FutureSet<Pin<Box<F>>>,
}

// Every future is boxed; the set itself is never pinned.
impl<F> Unpin for AsCompleted<F> {}

impl<F> AsCompleted<F> {
    /// How many outputs are still to come.
    pub fn len(&self) -> usize {
        self.set.remaining()
    }

    /// Whether every output has been yielded.
    pub fn is_empty(&self) -> bool {
        self.set.remaining() == 0
    }

    /// Gives up `dur` from now: the stream then yields one `Err(Elapsed)` and ends, dropping
    /// (cancelling) the futures that have not finished (asyncio's `as_completed(aws, timeout=)`,
    /// which raises `TimeoutError`).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::StreamExt;
    /// use std::time::Duration;
    /// use tulip_executor::as_completed;
    ///
    /// let got = tulip_reactor::block_on(
    ///     as_completed([1u64, 10_000].map(|ms| async move {
    ///         tulip_reactor::sleep(Duration::from_millis(ms)).await;
    ///         ms
    ///     }))
    ///     .timeout(Duration::from_millis(20))
    ///     .collect::<Vec<_>>(),
    /// );
    /// assert_eq!(got.len(), 2);
    /// assert_eq!(got[0], Ok(1));
    /// assert!(got[1].is_err());
    /// ```
    pub fn timeout(self, dur: Duration) -> AsCompletedTimeout<F> {
        self.deadline(Instant::now().checked_add(dur).unwrap_or_else(far_future))
    }

    /// Like [`AsCompleted::timeout`], with an absolute deadline.
    pub fn deadline(self, deadline: Instant) -> AsCompletedTimeout<F> {
        AsCompletedTimeout {
            set: self.set,
            timer: Some(tulip_reactor::timeout_at(deadline, std::future::pending())),
        }
    }
}

impl<F: Future> Stream for AsCompleted<F> {
    type Item = F::Output;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        self.set.poll_next(cx).map(|next| next.map(|(_, out)| out))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len(), Some(self.len()))
    }
}

impl<F> fmt::Debug for AsCompleted<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("remaining", &self.set.remaining())
            .finish()
    }
}

/// The stream returned by [`AsCompleted::timeout`] and [`AsCompleted::deadline`].
///
/// Yields `Ok(output)` in completion order; if the deadline passes first, one `Err(Elapsed)`
/// and then the end.
#[must_use = "streams do nothing unless polled"]
pub struct AsCompletedTimeout<F> {
    set: FutureSet<Pin<Box<F>>>,
    /// `None` once the deadline has passed (and the stream has ended).
    timer: Option<Timeout<Pending<Infallible>>>,
}

// Every future is boxed and the timer is `Unpin`.
impl<F> Unpin for AsCompletedTimeout<F> {}

impl<F> AsCompletedTimeout<F> {
    /// How many outputs are still to come (0 after the deadline passed).
    pub fn len(&self) -> usize {
        self.set.remaining()
    }

    /// Whether the stream has nothing more to yield but, possibly, the `Err(Elapsed)`.
    pub fn is_empty(&self) -> bool {
        self.set.remaining() == 0
    }
}

impl<F: Future> Stream for AsCompletedTimeout<F> {
    type Item = Result<F::Output, Elapsed>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(timer) = this.timer.as_mut() else {
            return Poll::Ready(None);
        };
        // Outputs that are ready win over a deadline that passed at the same time.
        match this.set.poll_next(cx) {
            Poll::Ready(Some((_, out))) => return Poll::Ready(Some(Ok(out))),
            Poll::Ready(None) => {
                this.timer = None;
                return Poll::Ready(None);
            }
            Poll::Pending => {}
        }
        match Pin::new(timer).poll(cx) {
            Poll::Ready(Err(elapsed)) => {
                this.timer = None;
                this.set.clear();
                Poll::Ready(Some(Err(elapsed)))
            }
            Poll::Ready(Ok(never)) => match never {},
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<F> fmt::Debug for AsCompletedTimeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompletedTimeout")
            .field("remaining", &self.set.remaining())
            .field("expired", &self.timer.is_none())
            .finish()
    }
}

/// About 30 years ahead: a deadline that never comes, without overflowing `Instant`.
pub(crate) fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toolkit::testing::{Never, YieldN};
    use futures_lite::StreamExt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tulip_reactor::{block_on, sleep};

    #[test]
    fn yields_in_completion_order() {
        let cases: &[(&[u32], &[u32])] = &[
            (&[], &[]),
            (&[4, 0, 2], &[0, 2, 4]),
            (&[1, 1, 0], &[0, 1, 1]),
        ];
        for (yields, expected) in cases {
            let got: Vec<u32> = futures_lite::future::block_on(
                as_completed(yields.iter().map(|&n| YieldN::new(n, n))).collect(),
            );
            assert_eq!(&got, expected);
        }
    }

    #[test]
    fn len_counts_down() {
        let mut s = as_completed([YieldN::new(0, 'a'), YieldN::new(3, 'b')]);
        assert_eq!((s.len(), s.size_hint()), (2, (2, Some(2))));
        assert_eq!(futures_lite::future::block_on(s.next()), Some('a'));
        assert_eq!(s.len(), 1);
        assert!(!s.is_empty());
        assert_eq!(futures_lite::future::block_on(s.next()), Some('b'));
        assert!(s.is_empty());
        assert_eq!(futures_lite::future::block_on(s.next()), None);
    }

    #[test]
    fn a_timer_wakes_only_its_member() {
        let mut s = as_completed([60_000u64, 1].map(|ms| async move {
            sleep(Duration::from_millis(ms)).await;
            ms
        }));
        assert_eq!(block_on(s.next()), Some(1));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn timeout_yields_elapsed_then_ends_and_cancels_the_rest() {
        let drops = Arc::new(AtomicUsize::new(0));
        let futs: Vec<Pin<Box<dyn Future<Output = u32>>>> = vec![
            Box::pin(Never::dropping(drops.clone())),
            Box::pin(YieldN::new(2, 9)),
        ];
        let start = Instant::now();
        let mut s = as_completed(futs).timeout(Duration::from_millis(10));
        assert_eq!(block_on(s.next()), Some(Ok(9)));
        assert!(matches!(block_on(s.next()), Some(Err(_))));
        assert!(start.elapsed() >= Duration::from_millis(10));
        assert_eq!(drops.load(Ordering::Relaxed), 1);
        assert!(s.is_empty());
        assert_eq!(block_on(s.next()), None);
    }

    #[test]
    fn timeout_that_does_not_expire_changes_nothing() {
        let got: Vec<_> = block_on(
            as_completed([YieldN::new(1, 1), YieldN::new(0, 0)])
                .timeout(Duration::from_secs(60))
                .collect(),
        );
        assert_eq!(got, [Ok(0), Ok(1)]);
    }
}
