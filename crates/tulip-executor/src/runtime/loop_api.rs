//! asyncio's event-loop methods on [`Handle`] and [`Runtime`]: `call_soon`, `call_later`,
//! `call_at`, `time`, `run_forever` / `stop`.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use crate::runtime::{Handle, Runtime};
use crate::sync::std_lock as lock;
use crate::task::Task;

/// A scheduled callback (asyncio's `Handle` / `TimerHandle`): cancel it before it runs.
///
/// Dropping the handle does not cancel the callback.
pub struct TimerHandle {
    task: Mutex<Option<Task<()>>>,
    when: Option<Instant>,
    cancelled: AtomicBool,
}

impl TimerHandle {
    fn new(task: Task<()>, when: Option<Instant>) -> TimerHandle {
        TimerHandle {
            task: Mutex::new(Some(task)),
            when,
            cancelled: AtomicBool::new(false),
        }
    }

    /// Cancels the callback if it has not run yet; a no-op afterwards and on repeat calls.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        if let Some(t) = lock(&self.task).take() {
            t.cancel_now();
        }
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// When the callback is due (`None` for `call_soon`).
    pub fn when(&self) -> Option<Instant> {
        self.when
    }

    /// Whether the callback has run (or been cancelled, or panicked).
    pub fn is_finished(&self) -> bool {
        lock(&self.task).as_ref().is_none_or(Task::is_finished)
    }
}

impl fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerHandle")
            .field("when", &self.when)
            .field("cancelled", &self.cancelled())
            .finish()
    }
}

/// A latch `stop()` sets and `run_forever()` consumes.
#[derive(Default)]
pub(crate) struct StopSignal {
    requested: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl StopSignal {
    fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
        if let Some(w) = lock(&self.waker).take() {
            w.wake();
        }
    }

    async fn wait(&self) {
        std::future::poll_fn(|cx| {
            if self.requested.swap(false, Ordering::SeqCst) {
                return Poll::Ready(());
            }
            *lock(&self.waker) = Some(cx.waker().clone());
            if self.requested.swap(false, Ordering::SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

impl Handle {
    /// Runs `f` on a worker as soon as possible (asyncio's `call_soon`; also
    /// `call_soon_threadsafe`, as a `Handle` works from any thread).
    pub fn call_soon(&self, f: impl FnOnce() + Send + 'static) -> TimerHandle {
        TimerHandle::new(self.spawn(async move { f() }), None)
    }

    /// asyncio's `call_soon_threadsafe`: the same as [`call_soon`](Self::call_soon).
    pub fn call_soon_threadsafe(&self, f: impl FnOnce() + Send + 'static) -> TimerHandle {
        self.call_soon(f)
    }

    /// Runs `f` on a worker after `delay` (asyncio's `call_later`). The returned handle
    /// cancels the callback if it has not run yet; dropping it does not.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// let rt = tulip_executor::Runtime::new()?;
    /// let (tx, rx) = mpsc::channel();
    /// let (tx2, handle) = (tx.clone(), rt.handle().clone());
    /// let cancelled = handle.call_later(Duration::from_millis(1), move || tx2.send("cancelled").unwrap());
    /// cancelled.cancel();
    /// let later = handle.call_later(Duration::from_millis(2), move || tx.send("later").unwrap());
    /// assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok("later"));
    /// assert!(later.when().is_some() && cancelled.cancelled());
    /// // The cancelled callback never runs: its sender is dropped unused.
    /// drop(later);
    /// assert!(rx.recv_timeout(Duration::from_secs(10)).is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn call_later(&self, delay: Duration, f: impl FnOnce() + Send + 'static) -> TimerHandle {
        self.call_at(Instant::now() + delay, f)
    }

    /// Runs `f` on a worker at `when` (asyncio's `call_at`). Callbacks due at the same time
    /// run in the order they were scheduled when the runtime has one worker.
    pub fn call_at(&self, when: Instant, f: impl FnOnce() + Send + 'static) -> TimerHandle {
        let task = self.spawn(async move {
            tulip_reactor::Timer::at(when).await;
            f()
        });
        TimerHandle::new(task, Some(when))
    }

    /// The loop's clock (asyncio's `loop.time()`), the same monotonic clock timers use.
    pub fn time(&self) -> Instant {
        Instant::now()
    }

    /// Makes [`Runtime::run_forever`] return (asyncio's `loop.stop()`). A stop requested while
    /// `run_forever` is not running makes the next call return at once.
    pub fn stop(&self) {
        self.shared.stop.request();
    }
}

impl Runtime {
    /// Runs the runtime's tasks until [`Handle::stop`] is called (asyncio's `run_forever`).
    ///
    /// # Panics
    ///
    /// Panics when the thread already runs tulip (see [`Runtime::block_on`]).
    pub fn run_forever(&self) {
        let shared = Arc::clone(&self.handle().shared);
        self.block_on(async move { shared.stop.wait().await });
    }
}
