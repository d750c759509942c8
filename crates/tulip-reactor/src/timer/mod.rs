//! Timers: [`Timer`], [`sleep`], [`timeout`], [`interval`].
//!
//! Armed timers live in hierarchical timing wheels ([`wheel`]), sharded so that threads arming
//! timers concurrently rarely share a lock: a thread picks its shard once and keeps it. The
//! thread driving the reactor advances every shard before it waits and asks each for its next
//! expiration, which becomes the wait's timeout. Ticks are [`TICK_NANOS`] long and the poller
//! sleeps on a timerfd, so timers fire within a few microseconds of their deadline rather than
//! the millisecond epoll's own timeout would give.

mod interval;
mod sleep;
mod wheel;

pub use interval::{Interval, MissedTickBehavior, interval, interval_at};
pub use sleep::{Elapsed, Sleep, Timeout, sleep, sleep_until, timeout, timeout_at};

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::reactor::Reactor;
use wheel::Wheel;

/// Length of one wheel tick in nanoseconds (about 4 µs): the timers' resolution.
pub const TICK_NANOS: u64 = 4096;

/// All armed timers, in per-thread shards.
pub(crate) struct Timers {
    start: Instant,
    shards: Box<[Shard]>,
}

#[repr(align(128))]
struct Shard {
    wheel: Mutex<Wheel>,
    /// Armed-timer count, mirrored after every change under the lock, so the driver can skip
    /// empty shards without locking them.
    armed: AtomicUsize,
}

impl Timers {
    pub(crate) fn new() -> Timers {
        let n = std::thread::available_parallelism()
            .map_or(4, |n| n.get() * 4)
            .clamp(4, 64)
            .next_power_of_two();
        Timers {
            start: Instant::now(),
            shards: (0..n)
                .map(|_| Shard {
                    wheel: Mutex::new(Wheel::new()),
                    armed: AtomicUsize::new(0),
                })
                .collect(),
        }
    }

    /// The tick at or after `t` (a timer for `t` must not fire before it).
    fn tick_ceil(&self, t: Instant) -> u64 {
        let ns = t.saturating_duration_since(self.start).as_nanos();
        u64::try_from(ns.div_ceil(TICK_NANOS as u128)).unwrap_or(u64::MAX)
    }

    /// The last tick that has begun by `t`.
    fn tick_floor(&self, t: Instant) -> u64 {
        let ns = t.saturating_duration_since(self.start).as_nanos();
        u64::try_from(ns / TICK_NANOS as u128).unwrap_or(u64::MAX)
    }

    pub(crate) fn instant_of(&self, tick: u64) -> Instant {
        self.start + Duration::from_nanos(tick.saturating_mul(TICK_NANOS))
    }

    fn shard(&self, i: usize) -> ShardGuard<'_> {
        let shard = &self.shards[i];
        // A panic while a wheel is locked cannot leave it inconsistent in a way that matters
        // more than losing every timer, so poisoning is ignored.
        ShardGuard {
            wheel: shard.wheel.lock().unwrap_or_else(|e| e.into_inner()),
            armed: &shard.armed,
        }
    }

    /// Fires due timers in every shard and returns the earliest next expiration tick.
    pub(crate) fn process(&self, now: Instant, wakers: &mut Vec<Waker>) -> Option<u64> {
        let now = self.tick_floor(now);
        let mut next: Option<u64> = None;
        for i in 0..self.shards.len() {
            if self.shards[i].armed.load(Ordering::Acquire) == 0 {
                continue;
            }
            let mut w = self.shard(i);
            w.advance(now, wakers);
            if let Some(t) = w.next_expiration() {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        next
    }

    /// Number of armed timers across all shards (a diagnostic; takes every lock).
    pub(crate) fn armed(&self) -> usize {
        (0..self.shards.len()).map(|i| self.shard(i).len()).sum()
    }
}

/// A locked shard; publishes the armed count when released.
struct ShardGuard<'a> {
    wheel: std::sync::MutexGuard<'a, Wheel>,
    armed: &'a AtomicUsize,
}

impl std::ops::Deref for ShardGuard<'_> {
    type Target = Wheel;
    fn deref(&self) -> &Wheel {
        &self.wheel
    }
}

impl std::ops::DerefMut for ShardGuard<'_> {
    fn deref_mut(&mut self) -> &mut Wheel {
        &mut self.wheel
    }
}

impl Drop for ShardGuard<'_> {
    fn drop(&mut self) {
        self.armed.store(self.wheel.len(), Ordering::Release);
    }
}

thread_local! {
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn my_shard(n: usize) -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    SHARD.with(|s| {
        if s.get() == usize::MAX {
            s.set(NEXT.fetch_add(1, Ordering::Relaxed));
        }
        s.get() & (n - 1)
    })
}

/// A future that completes at a deadline, yielding the deadline.
///
/// The building block under [`sleep`], [`timeout`] and [`interval`]. Unlike those, a `Timer`
/// can be re-armed with [`Timer::set_deadline`] and disarmed with [`Timer::cancel`]; both are
/// O(1). Polling a `Timer` that has no deadline stays pending forever.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use tulip_reactor::{block_on, Timer};
///
/// let start = Instant::now();
/// let mut t = Timer::after(Duration::from_secs(60));
/// t.set_deadline(Instant::now() + Duration::from_millis(5)); // changed our mind
/// let fired = block_on(t);
/// assert!(fired >= start + Duration::from_millis(5));
/// assert!(start.elapsed() < Duration::from_secs(60));
/// ```
pub struct Timer {
    deadline: Option<Instant>,
    /// `(shard, key)` while an entry in a wheel belongs to this timer.
    entry: Option<(u32, u32)>,
}

impl Timer {
    /// A timer that fires `dur` from now.
    pub fn after(dur: Duration) -> Timer {
        Timer::at(Instant::now().checked_add(dur).unwrap_or_else(far_future))
    }

    /// A timer that fires at `deadline`.
    pub fn at(deadline: Instant) -> Timer {
        Timer {
            deadline: Some(deadline),
            entry: None,
        }
    }

    /// A timer that never fires (until given a deadline).
    pub fn never() -> Timer {
        Timer {
            deadline: None,
            entry: None,
        }
    }

    /// The deadline, if armed.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Re-arms the timer for `deadline`, whether it was pending, fired or cancelled.
    pub fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = Some(deadline);
        if let Some((shard, key)) = self.entry {
            let timers = &Reactor::get().timers;
            let tick = timers.tick_ceil(deadline);
            let mut w = timers.shard(shard as usize);
            if tick > w.elapsed() {
                w.reset(key, tick);
                drop(w);
                Reactor::get().timer_armed(tick);
            } else {
                // Already due: free the entry; the next poll completes at once.
                w.remove(key);
                self.entry = None;
            }
        }
    }

    /// Re-arms the timer for `dur` from now.
    pub fn set_after(&mut self, dur: Duration) {
        self.set_deadline(Instant::now().checked_add(dur).unwrap_or_else(far_future));
    }

    /// Disarms the timer: it stays pending until given a new deadline.
    pub fn cancel(&mut self) {
        self.deadline = None;
        self.free();
    }

    fn free(&mut self) {
        if let Some((shard, key)) = self.entry.take() {
            Reactor::get().timers.shard(shard as usize).remove(key);
        }
    }
}

impl Future for Timer {
    type Output = Instant;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Instant> {
        let Some(deadline) = self.deadline else {
            return Poll::Pending;
        };
        let timers = &Reactor::get().timers;
        match self.entry {
            Some((shard, key)) => {
                let mut w = timers.shard(shard as usize);
                if w.is_fired(key) {
                    w.remove(key);
                    drop(w);
                    self.entry = None;
                    self.deadline = None;
                    return Poll::Ready(deadline);
                }
                w.set_waker(key, cx.waker());
                Poll::Pending
            }
            None => {
                let tick = timers.tick_ceil(deadline);
                let shard = my_shard(timers.shards.len());
                let mut w = timers.shard(shard);
                if tick <= w.elapsed() || deadline <= Instant::now() {
                    drop(w);
                    self.deadline = None;
                    return Poll::Ready(deadline);
                }
                let key = w.insert(tick, cx.waker().clone());
                drop(w);
                self.entry = Some((shard as u32, key));
                Reactor::get().timer_armed(tick);
                crate::fallback::waiting();
                Poll::Pending
            }
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.free();
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timer")
            .field("deadline", &self.deadline)
            .field("registered", &self.entry.is_some())
            .finish()
    }
}

/// An instant about 30 years ahead: "never" for arithmetic that must not overflow.
pub(crate) fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

/// Number of timers currently armed in the reactor (takes every shard lock: diagnostics only).
pub fn armed_timers() -> usize {
    Reactor::get().timers.armed()
}
