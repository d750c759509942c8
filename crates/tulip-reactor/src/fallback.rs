//! The fallback driver: a thread that drives the reactor while no tulip loop runs, so that
//! tulip I/O and timers polled under another executor (tokio, smol, a plain
//! `futures_lite::future::block_on`) still make progress (handoff rule 8).
//!
//! It is started by the first future that waits for the reactor on a thread that runs no
//! tulip loop ([`waiting`]), and lives as long as the process, parked while a tulip loop
//! runs (its threads drive when idle) and taking one turn at a time with the hand-off lock
//! otherwise. A process that only ever polls tulip futures inside tulip never starts it.

use crate::reactor::Reactor;
use crate::sync::Parker;

/// Called by a future about to return `Pending` until the reactor wakes it, after it
/// registered its waker: makes sure someone will drive the reactor.
///
/// Inside a tulip loop this reads one thread-local flag: the loop's own threads drive.
#[inline]
pub(crate) fn waiting() {
    if crate::block_on::in_loop() {
        return;
    }
    let r = Reactor::get();
    if !r.handoff.fallback_started() {
        start(r);
    }
}

/// Starts the fallback thread unless another caller got there first.
#[cold]
#[inline(never)]
fn start(r: &'static Reactor) {
    let parker = Parker::new();
    if !r.handoff.start_fallback(&parker) {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("tulip-fallback".into())
        .spawn(move || {
            loop {
                // A failed turn (epoll failing) released the lock and paused already;
                // there is nobody to report it to but the futures that time out.
                let _ = r.handoff.fallback_turn(r, &parker);
            }
        });
    if let Err(e) = spawned {
        // Without the thread every tulip future polled outside tulip would hang silently.
        panic!(
            "tulip: cannot start the fallback reactor thread that drives tulip I/O outside a \
             tulip runtime ({e}); run the future inside a tulip runtime instead"
        );
    }
}
