//! `interval`: a periodic timer with an explicit policy for missed ticks.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::Timer;

/// What an [`Interval`] does when ticks were missed because the program was busy (the
/// previous `tick().await` came back later than one period after the deadline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissedTickBehavior {
    /// Fire the missed ticks back to back until caught up, keeping the original schedule.
    /// Right for counting (every tick matters), wrong for rate limiting.
    Burst,
    /// Fire once now and schedule the next tick one full period from now: the schedule shifts.
    Delay,
    /// Fire once now and drop the missed ticks: the next tick lands on the original grid.
    /// The default, as cron would do it: no bursts, no drift.
    #[default]
    Skip,
}

/// Yields at a fixed period. Create one with [`interval`] or [`interval_at`].
///
/// The first tick completes immediately (at the start instant); later ticks follow every
/// `period`. Missed ticks are handled by [`MissedTickBehavior`] (default: `Skip`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// tulip_reactor::block_on(async {
///     let mut every = tulip_reactor::interval(Duration::from_millis(1));
///     let first = every.tick().await;
///     let second = every.tick().await;
///     assert!(second - first >= Duration::from_millis(1));
/// });
/// ```
#[derive(Debug)]
pub struct Interval {
    timer: Timer,
    next: Instant,
    period: Duration,
    missed: MissedTickBehavior,
}

/// An [`Interval`] whose first tick is now.
///
/// # Panics
///
/// If `period` is zero.
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// An [`Interval`] whose first tick is at `start`.
///
/// # Panics
///
/// If `period` is zero.
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(!period.is_zero(), "interval period must be non-zero");
    Interval {
        timer: Timer::at(start),
        next: start,
        period,
        missed: MissedTickBehavior::default(),
    }
}

impl Interval {
    /// Sets the missed-tick policy.
    pub fn set_missed_tick_behavior(&mut self, b: MissedTickBehavior) {
        self.missed = b;
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Waits for the next tick and returns its scheduled instant.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future loses no tick; the next call waits for the same one.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if self.timer.deadline().is_none() {
            // The previous tick completed; arm the next one.
            self.timer.set_deadline(self.next);
        }
        let scheduled = self.next;
        match Pin::new(&mut self.timer).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(_) => {
                let now = Instant::now();
                let due = scheduled + self.period;
                self.next = if now < due {
                    due
                } else {
                    match self.missed {
                        MissedTickBehavior::Burst => due,
                        MissedTickBehavior::Delay => now + self.period,
                        MissedTickBehavior::Skip => {
                            let behind = (now - scheduled).as_nanos() / self.period.as_nanos();
                            let steps = u32::try_from(behind + 1).unwrap_or(u32::MAX);
                            scheduled + self.period * steps
                        }
                    }
                };
                Poll::Ready(scheduled)
            }
        }
    }

    /// Restarts the schedule so that the next tick is one period from now.
    pub fn reset(&mut self) {
        self.next = Instant::now() + self.period;
        self.timer.set_deadline(self.next);
    }
}
