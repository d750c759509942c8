//! The task toolkit on a real runtime: TaskGroup's structured cancellation (`group`), and
//! `wait`, `shield`, `as_completed`, `gather` and `yield_now` over spawned tasks (`combinators`).

mod combinators;
mod group;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tulip_reactor::sleep;

/// Outlasts every test: a child sleeping this long stays pending until it is cancelled. Such
/// sleeps stand for "pending forever" and never order anything.
pub(crate) const LONG: Duration = Duration::from_secs(60);

pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Sets its flag when dropped: how a child observes its own cancellation.
pub(crate) struct DropFlag(pub(crate) Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

pub(crate) fn flag() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

/// Polls `cond` every millisecond for up to two seconds (a bounded poll for state another
/// task changes; callers assert on the result with a message).
pub(crate) async fn eventually(cond: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        if cond() {
            return true;
        }
        sleep(ms(1)).await;
    }
    cond()
}
