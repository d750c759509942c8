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

/// How long a thread that gave the reactor up on request stays away (unless work or a
/// hand-off wakes it first) before it may drive again. The requester is busy and polls
/// within a few dozen task polls; the bound only matters if it vanished meanwhile.
const YIELD_PAUSE: Duration = Duration::from_millis(5);

/// How [`wait`] releases the reactor after driving it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Release {
    /// Without waking the threads on standby: for a runtime worker, which comes back to the
    /// reactor when it runs out of work and polls it every 61 tasks meanwhile. (A task that
    /// blocks its worker thread delays I/O for the tasks parked elsewhere until it returns,
    /// as in tokio; the cost of the alternative, a standby wake-up per event batch, was what
    /// made TCP echo 1.6x slower.)
    Quiet,
    /// Waking them: for a local executor's thread, which runs `!Send` user code that may well
    /// block it (asyncio's single-thread model), so another thread must be free to drive.
    HandOff,
}

/// Blocks the calling idle thread until `parker` is unparked, or (if it got to drive the
/// reactor) until I/O or a timer woke something, or at most `timeout`.
///
/// Returns true when it drove the reactor and a busy thread [asked for
/// it](Reactor::request): the caller, if it still has nothing to do, should call
/// [`pause_after_yield`] instead of waiting again, or it would take the reactor straight back.
///
/// `release` says how to let go of the reactor after driving it: see [`Release`].
#[must_use]
pub(crate) fn wait(
    parker: &Parker,
    in_reactor: &AtomicBool,
    timeout: Option<Duration>,
    release: Release,
) -> bool {
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
                    return false;
                }
            }
            in_reactor.store(false, SeqCst);
            if lock.take_request() {
                // The requester is parked (a `block_on` thread, woken here) or busy and about
                // to poll (a worker).
                lock.yield_to_requester();
                return true;
            }
            match release {
                Release::Quiet => lock.release_keeping_standby(),
                Release::HandOff => drop(lock),
            }
            false
        }
        None => {
            match timeout {
                Some(t) => {
                    parker.park_timeout(t);
                }
                None => parker.park(),
            }
            false
        }
    }
}

/// Stays away from the reactor for a while after [`wait`] gave it up on request: woken early
/// by work, but not on standby (the requester's releases must not call us back at once).
pub(crate) fn pause_after_yield(parker: &Parker) {
    parker.park_timeout(YIELD_PAUSE);
}

/// Called by a worker that exits: it released the reactor quietly ([`Release::Quiet`]) and
/// will not come back, so a thread on standby must take over.
pub(crate) fn stop_driving() {
    Reactor::get().hand_off();
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

/// Processes ready I/O and due timers without blocking, for a busy thread that comes back
/// here regularly. When an idle thread sits in epoll instead, it is asked to leave the
/// reactor to us: we run the tasks, so we should see their events first-hand.
pub(crate) fn poll_nonblocking(release: Release) {
    let reactor = Reactor::get();
    match reactor.try_lock() {
        Some(mut lock) => {
            let _ = lock.react(Some(Duration::ZERO));
            match release {
                Release::Quiet => lock.release_keeping_standby(),
                Release::HandOff => drop(lock),
            }
        }
        None => reactor.request(),
    }
}

/// Wakes whichever thread blocks in the reactor.
pub(crate) fn notify_reactor() {
    Reactor::get().notify();
}
