//! `sleep` and `timeout`: the two timer shapes nearly every program needs.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::Timer;

/// Waits until `dur` has elapsed (asyncio's `await asyncio.sleep(dur)`).
///
/// # Cancel safety
///
/// Dropping the future before it completes disarms the timer; nothing else happens.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// let start = Instant::now();
/// tulip_reactor::block_on(tulip_reactor::sleep(Duration::from_millis(2)));
/// assert!(start.elapsed() >= Duration::from_millis(2));
/// ```
pub fn sleep(dur: Duration) -> Sleep {
    Sleep {
        timer: Timer::after(dur),
    }
}

/// Waits until `deadline`.
///
/// # Cancel safety
///
/// Dropping the future before it completes disarms the timer; nothing else happens.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        timer: Timer::at(deadline),
    }
}

/// The future of [`sleep`] and [`sleep_until`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    timer: Timer,
}

impl Sleep {
    /// The instant this sleep ends.
    pub fn deadline(&self) -> Option<Instant> {
        self.timer.deadline()
    }

    /// Moves the deadline (for example to extend an idle timeout) without a new allocation.
    pub fn reset(&mut self, deadline: Instant) {
        self.timer.set_deadline(deadline);
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.timer).poll(cx).map(drop)
    }
}

/// Runs `fut` but gives up after `dur` with [`Elapsed`] (asyncio's `asyncio.timeout` /
/// `wait_for`). On time-out the inner future is dropped, which cancels it.
///
/// # Cancel safety
///
/// Exactly as cancel-safe as `fut`: dropping the `Timeout` drops `fut`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tulip_reactor::{block_on, sleep, timeout};
///
/// let slow = timeout(Duration::from_millis(5), sleep(Duration::from_secs(10)));
/// assert!(block_on(slow).is_err());
/// let fast = timeout(Duration::from_secs(10), async { 7 });
/// assert_eq!(block_on(fast).unwrap(), 7);
/// ```
pub fn timeout<F: Future>(dur: Duration, fut: F) -> Timeout<F> {
    Timeout {
        fut,
        timer: Timer::after(dur),
    }
}

/// Like [`timeout`], with an absolute deadline.
///
/// # Cancel safety
///
/// Exactly as cancel-safe as `fut`.
pub fn timeout_at<F: Future>(deadline: Instant, fut: F) -> Timeout<F> {
    Timeout {
        fut,
        timer: Timer::at(deadline),
    }
}

pin_project_lite::pin_project! {
    /// The future of [`timeout`] and [`timeout_at`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless awaited"]
    pub struct Timeout<F> {
        #[pin]
        fut: F,
        timer: Timer,
    }
}

impl<F> Timeout<F> {
    /// The wrapped future.
    pub fn get_ref(&self) -> &F {
        &self.fut
    }

    /// Unwraps the inner future, discarding the deadline.
    pub fn into_inner(self) -> F {
        self.fut
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // The inner future goes first: a result that is ready at the deadline wins.
        if let Poll::Ready(v) = this.fut.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match Pin::new(this.timer).poll(cx) {
            Poll::Ready(deadline) => Poll::Ready(Err(Elapsed { deadline })),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The error of [`timeout`]: the deadline passed first (asyncio's `TimeoutError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed {
    deadline: Instant,
}

impl Elapsed {
    /// The deadline that passed.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(e: Elapsed) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, e)
    }
}

#[allow(dead_code)]
fn _assert_send() {
    fn is_send<T: Send + Sync>() {}
    is_send::<Sleep>();
    is_send::<Timeout<Sleep>>();
    is_send::<Duration>();
}
