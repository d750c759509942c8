//! The executor's only contact with the reactor: waiting for I/O when idle, a non-blocking poll
//! now and then when busy, and a notification to the thread blocked in the reactor.
//!
//! One thread at a time holds the reactor lock and blocks in `react`; every other idle thread
//! parks on its own `parking::Parker`. A thread announces it is in the reactor with its
//! `in_reactor` flag so that a waker knows to call `Reactor::notify` besides `unpark`:
//! the waiter stores the flag and then consumes a pending unpark token, the waker sets the
//! token and then loads the flag, all `SeqCst`, so at least one of them sees the other.

use std::time::Duration;

use parking::Parker;
use tulip_reactor::Reactor;

use crate::sync::atomic::{AtomicBool, Ordering::SeqCst};

/// Blocks the calling idle thread until `parker` is unparked, or (if it got to drive the
/// reactor) until I/O or a timer woke something, or at most `timeout`.
pub(crate) fn wait(parker: &Parker, in_reactor: &AtomicBool, timeout: Option<Duration>) {
    let reactor = Reactor::get();
    // On standby when another thread drives: its release unparks us to take over.
    match reactor.try_lock_or_standby(parker) {
        Some(mut lock) => {
            in_reactor.store(true, SeqCst);
            if !parker.park_timeout(Duration::ZERO) {
                if let Err(e) = lock.react(timeout) {
                    // epoll itself failed: nothing sensible is left but to say so and not spin.
                    eprintln!("tulip: the reactor failed: {e}");
                    in_reactor.store(false, SeqCst);
                    drop(lock);
                    parker.park_timeout(Duration::from_millis(10));
                    return;
                }
            }
            in_reactor.store(false, SeqCst);
        }
        None => match timeout {
            Some(t) => {
                parker.park_timeout(t);
            }
            None => parker.park(),
        },
    }
}

/// Wakes a thread that waits in [`wait`] with these `parker`/`in_reactor`.
///
/// The reactor is notified whenever the thread is in it, even when `unpark` reports that a
/// token was already set: a thread blocked in epoll never looks at its token, and a stale one
/// is common (a reactor release unparks every standby registration, also that of a thread
/// which meanwhile took the lock itself). Skipping the notification in that case was the
/// lost wake-up of issue #3: a worker asleep in epoll, counted as notified, with the
/// injector full. `Reactor::notify` is coalesced, so the extra call costs an atomic swap.
pub(crate) fn wake(unparker: &parking::Unparker, in_reactor: &AtomicBool) {
    unparker.unpark();
    if in_reactor.load(SeqCst) {
        Reactor::get().notify();
    }
}

/// Processes ready I/O and due timers without blocking, if no other thread is in the reactor.
pub(crate) fn poll_nonblocking() {
    if let Some(mut lock) = Reactor::get().try_lock() {
        let _ = lock.react(Some(Duration::ZERO));
    }
}

/// Wakes whichever thread blocks in the reactor.
pub(crate) fn notify_reactor() {
    Reactor::get().notify();
}
