//! `wait`: await a set of tasks until a condition holds, and hand back what is still running.

use std::convert::Infallible;
use std::fmt;
use std::future::{Future, Pending};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tulip_reactor::Timeout;

use super::as_completed::far_future;
use super::set::FutureSet;

/// When [`wait`] returns (asyncio's `FIRST_COMPLETED`, `FIRST_EXCEPTION`, `ALL_COMPLETED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReturnWhen {
    /// As soon as at least one future has finished.
    FirstCompleted,
    /// As soon as a future has finished with a failure (see [`CountsAsFailure`]), or when all have
    /// finished.
    FirstException,
    /// When every future has finished.
    AllCompleted,
}

/// Tells [`wait`] whether an output counts as a failure for [`ReturnWhen::FirstException`].
///
/// Implemented for every `Result`: `Err` is a failure. A [`Task<T>`](crate::Task) outputs
/// `Result<T, JoinError>`, so a task fails when it panicked or was cancelled; a task whose body
/// itself returns `Result<U, E>` fails for `wait` only through its `JoinError`. Wrap such tasks
/// in a type of your own that implements `CountsAsFailure` to count the inner `Err` too.
pub trait CountsAsFailure {
    /// Whether this output is a failure.
    fn is_failure(&self) -> bool;
}

impl<T, E> CountsAsFailure for Result<T, E> {
    fn is_failure(&self) -> bool {
        self.is_err()
    }
}

/// Waits for the futures — typically [`Task`](crate::Task) handles — until `when` holds or
/// `timeout` passes, and returns `(done, pending)` (asyncio's `wait(aws, timeout,
/// return_when)`).
///
/// `done` holds the outputs of the futures that finished, in completion order; `pending` hands
/// back the futures that did not, in input order, untouched and still running: like asyncio,
/// `wait` never cancels anything, and a time-out is not an error (check `pending`). The
/// futures are polled inside the awaiting task; they must be [`Unpin`] so that the pending
/// ones can be handed back (`Task` is; pin other futures with `Box::pin`). An empty input
/// returns at once.
///
/// # Cancel safety
///
/// Not cancel-safe: dropping the `Wait` drops every future it holds, and outputs already
/// collected are lost. For `Task` handles, dropping only detaches them (the tasks keep
/// running), but their outputs are lost. Use `timeout` rather than an outer time-out.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tulip_executor::{wait, ReturnWhen};
/// use tulip_reactor::sleep;
///
/// let futs = [1u64, 60_000].map(|ms| {
///     Box::pin(async move {
///         sleep(Duration::from_millis(ms)).await;
///         Ok::<_, ()>(ms)
///     })
/// });
/// let (done, pending) = tulip_reactor::block_on(wait(futs, ReturnWhen::FirstCompleted, None));
/// assert_eq!(done, [Ok(1)]);
/// assert_eq!(pending.len(), 1);
/// ```
pub fn wait<I>(futs: I, when: ReturnWhen, timeout: Option<Duration>) -> Wait<I::Item>
where
    I: IntoIterator,
    I::Item: Future + Unpin,
    <I::Item as Future>::Output: CountsAsFailure,
{
    let timer = timeout.map(|dur| {
        let deadline = Instant::now().checked_add(dur).unwrap_or_else(far_future);
        tulip_reactor::timeout_at(deadline, std::future::pending())
    });
    Wait {
        set: Some(FutureSet::new(futs)),
        done: Vec::new(),
        when,
        timer,
    }
}

/// The future returned by [`wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct Wait<F: Future> {
    /// `None` once the result has been handed out.
    set: Option<FutureSet<F>>,
    done: Vec<F::Output>,
    when: ReturnWhen,
    timer: Option<Timeout<Pending<Infallible>>>,
}

// The members are `Unpin` and the rest is plain data; nothing is structurally pinned.
impl<F: Future> Unpin for Wait<F> {}

impl<F> Future for Wait<F>
where
    F: Future + Unpin,
    F::Output: CountsAsFailure,
{
    type Output = (Vec<F::Output>, Vec<F>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Some(set) = this.set.as_mut() else {
            // Polled again after completion: nothing is left.
            return Poll::Ready((Vec::new(), Vec::new()));
        };
        let mut failed = false;
        // Collect every output that is ready now, so one wake-up can report several.
        while let Poll::Ready(Some((_, out))) = set.poll_next(cx) {
            failed |= out.is_failure();
            this.done.push(out);
        }
        let satisfied = set.remaining() == 0
            || match this.when {
                ReturnWhen::FirstCompleted => !this.done.is_empty(),
                ReturnWhen::FirstException => failed,
                ReturnWhen::AllCompleted => false,
            };
        let expired = !satisfied
            && this
                .timer
                .as_mut()
                .is_some_and(|t| Pin::new(t).poll(cx).is_ready());
        if !satisfied && !expired {
            return Poll::Pending;
        }
        let pending = this
            .set
            .take()
            .map_or_else(Vec::new, FutureSet::into_pending);
        Poll::Ready((std::mem::take(&mut this.done), pending))
    }
}

impl<F: Future> fmt::Debug for Wait<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait")
            .field("when", &self.when)
            .field("done", &self.done.len())
            .field("remaining", &self.set.as_ref().map_or(0, |s| s.remaining()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toolkit::testing::YieldN;
    use tulip_reactor::{block_on, sleep};

    type Job = Pin<Box<dyn Future<Output = Result<u64, u64>>>>;

    /// What a job does: yield `n` times then succeed or fail with `n`, or never finish.
    #[derive(Clone, Copy)]
    enum J {
        Ok(u32),
        Fail(u32),
        Never,
    }

    // Yield counts rather than sleeps: on one thread the completion order is then fixed, however
    // loaded the machine is.
    fn job(j: J) -> Job {
        match j {
            J::Ok(n) => Box::pin(async move { Ok(u64::from(YieldN::new(n, n).await)) }),
            J::Fail(n) => Box::pin(async move { Err(u64::from(YieldN::new(n, n).await)) }),
            J::Never => Box::pin(async {
                sleep(Duration::from_secs(60)).await;
                Ok(0)
            }),
        }
    }

    #[test]
    fn each_return_when() {
        use J::*;
        use ReturnWhen::*;
        // (jobs, when, timeout ms, expected done, expected pending count)
        type Case = (
            &'static [J],
            ReturnWhen,
            Option<u64>,
            &'static [Result<u64, u64>],
            usize,
        );
        let cases: &[Case] = &[
            (
                &[Ok(3), Ok(0), Never],
                FirstCompleted,
                None,
                &[Result::Ok(0)],
                2,
            ),
            (
                &[Ok(1), Fail(5), Never],
                FirstException,
                None,
                &[Result::Ok(1), Err(5)],
                1,
            ),
            (
                &[Ok(1), Ok(5)],
                FirstException,
                None,
                &[Result::Ok(1), Result::Ok(5)],
                0,
            ),
            (
                &[Fail(8), Ok(1)],
                AllCompleted,
                None,
                &[Result::Ok(1), Err(8)],
                0,
            ),
            (&[Ok(1), Never], AllCompleted, Some(20), &[Result::Ok(1)], 1),
            (&[Never], FirstCompleted, Some(5), &[], 1),
            (&[], AllCompleted, None, &[], 0),
        ];
        for (i, (jobs, when, timeout, done, pending)) in cases.iter().enumerate() {
            let futs = jobs.iter().map(|&j| job(j));
            let (got, left) = block_on(wait(futs, *when, timeout.map(Duration::from_millis)));
            assert_eq!(&got, done, "case {i}");
            assert_eq!(left.len(), *pending, "case {i}");
        }
    }

    #[test]
    fn pending_futures_come_back_untouched_and_still_work() {
        let futs = [job(J::Ok(1)), job(J::Ok(15)), job(J::Fail(10))];
        let (done, pending) = block_on(wait(futs, ReturnWhen::FirstCompleted, None));
        assert_eq!(done, [Ok(1)]);
        // The pending ones come back in input order and can be awaited again.
        let (done, pending) = block_on(wait(pending, ReturnWhen::AllCompleted, None));
        assert_eq!(done, [Err(10), Ok(15)]);
        assert!(pending.is_empty());
    }

    #[test]
    fn several_ready_at_once_are_all_reported() {
        let futs = [
            YieldN::new(0, Ok::<u8, ()>(0)),
            YieldN::new(0, Ok(1)),
            YieldN::new(9, Ok(2)),
        ];
        let (done, pending) =
            futures_lite::future::block_on(wait(futs, ReturnWhen::FirstCompleted, None));
        assert_eq!(done, [Ok(0), Ok(1)]);
        assert_eq!(pending.len(), 1);
    }

    #[test]
    fn timeout_returns_without_error() {
        let start = Instant::now();
        let (done, pending) = block_on(wait(
            [job(J::Never)],
            ReturnWhen::AllCompleted,
            Some(Duration::from_millis(10)),
        ));
        assert!(done.is_empty());
        assert_eq!(pending.len(), 1);
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(10) && waited < Duration::from_secs(20),
            "{waited:?}"
        );
    }
}
