//! `wait_for` and `yield_now`: the two small time-and-scheduling helpers.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tulip_reactor::Timeout;

/// Awaits `fut` for at most `dur`; on time-out drops (cancels) it and returns
/// `Err(Elapsed)` (asyncio's `wait_for(aw, timeout)`).
///
/// A result that is ready when the deadline passes wins over the time-out. This is the
/// reactor's [`timeout`](tulip_reactor::timeout) with asyncio's argument order.
///
/// # On a task
///
/// As in asyncio, `wait_for(task, dur)` **cancels the task** on time-out: the task handle was
/// being awaited, and a [`Task`](crate::Task) handle dropped while awaited cancels its task
/// (see [Dropping a handle](crate::Task#dropping-a-handle)). The same holds for the reactor's
/// `timeout(dur, task)`, which knows nothing of tasks: the rule lives in the handle's `Drop`.
/// The task's future is dropped by its scheduler (its destructors run there) shortly after
/// `wait_for` returns; a done callback sees [`TaskOutcome::Cancelled`](crate::task::TaskOutcome).
/// To stop only the waiting:
///
/// - `wait_for(shield(task), dur)`: the task runs on, detached (asyncio's `shield`);
/// - `wait_for(&mut task, dur)`: the task runs on and the handle stays yours, to await again,
///   [`cancel_with`](crate::Task::cancel_with) a message (then awaiting it gives the
///   `JoinError` with that message) or detach.
///
/// # Cancel safety
///
/// Exactly as cancel-safe as `fut`: dropping the returned future drops `fut`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tulip_executor::wait_for;
/// use tulip_reactor::{block_on, sleep};
///
/// assert_eq!(block_on(wait_for(async { 7 }, Duration::from_secs(1))), Ok(7));
/// assert!(block_on(wait_for(sleep(Duration::from_secs(60)), Duration::from_millis(5))).is_err());
/// ```
///
/// On a task:
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::time::Duration;
/// use tulip_executor::task::TaskOutcome;
/// use tulip_executor::{spawn, wait_for, yield_now};
///
/// tulip_executor::run(async {
///     let task = spawn(tulip_reactor::sleep(Duration::from_secs(60)));
///     let cancelled = Arc::new(AtomicBool::new(false));
///     let c = cancelled.clone();
///     task.add_done_callback(move |o| c.store(o == TaskOutcome::Cancelled, Ordering::SeqCst));
///     assert!(wait_for(task, Duration::from_millis(1)).await.is_err());
///     // A worker drops the task's future soon after (asyncio's `task.cancelled()`).
///     while !cancelled.load(Ordering::SeqCst) {
///         yield_now().await;
///     }
/// });
/// ```
pub fn wait_for<F: IntoFuture>(fut: F, dur: Duration) -> Timeout<F::IntoFuture> {
    tulip_reactor::timeout(dur, fut.into_future())
}

/// Yields once to the scheduler, letting other ready tasks run before this one resumes
/// (asyncio's `await asyncio.sleep(0)`).
///
/// The first poll wakes the task and returns `Pending`; the task goes to the back of the run
/// queue and the second poll completes.
///
/// # Cancel safety
///
/// Cancel-safe: dropping it has no effect.
///
/// # Examples
///
/// ```
/// tulip_reactor::block_on(async {
///     for _ in 0..3 {
///         tulip_executor::yield_now().await;
///     }
/// });
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future returned by [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    #[test]
    fn yield_now_is_pending_exactly_once_and_wakes() {
        let woken = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        struct Count(std::sync::Arc<std::sync::atomic::AtomicUsize>);
        impl std::task::Wake for Count {
            fn wake(self: std::sync::Arc<Self>) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let waker = Waker::from(std::sync::Arc::new(Count(woken.clone())));
        let mut cx = Context::from_waker(&waker);
        let mut y = yield_now();
        assert!(Pin::new(&mut y).poll(&mut cx).is_pending());
        assert_eq!(woken.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert!(Pin::new(&mut y).poll(&mut cx).is_ready());
    }
}

#[cfg(test)]
mod timeout_tests {
    use super::*;
    use crate::toolkit::testing::Never;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;
    use tulip_reactor::{block_on, sleep};

    #[test]
    fn wait_for_cancels_the_inner_future_on_time_out() {
        let drops = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let r = block_on(wait_for(
            Never::dropping(drops.clone()),
            Duration::from_millis(5),
        ));
        assert!(r.is_err());
        assert!(start.elapsed() >= Duration::from_millis(5));
        assert_eq!(drops.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn wait_for_returns_a_result_in_time() {
        let r = block_on(wait_for(
            async {
                sleep(Duration::from_millis(1)).await;
                "done"
            },
            Duration::from_secs(10),
        ));
        assert_eq!(r, Ok("done"));
    }

    #[test]
    fn wait_for_prefers_a_ready_result_over_an_expired_deadline() {
        assert_eq!(block_on(wait_for(async { 3 }, Duration::ZERO)), Ok(3));
    }
}
