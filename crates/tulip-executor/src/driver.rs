//! The executor's only contact with the reactor: waiting for I/O when idle, a non-blocking poll
//! now and then when busy, and a notification to the thread blocked in the reactor.
//!
//! One thread at a time holds the reactor lock and blocks in `react`; every other idle thread
//! parks on its own `parking::Parker`. A thread announces it is in the reactor with its
//! `in_reactor` flag so that a waker knows to call `Reactor::notify` besides `unpark`.

use parking::Parker;

use crate::sync::atomic::{AtomicBool, Ordering::SeqCst, fence};

/// Blocks the calling idle thread until `parker` is unparked (or I/O or a timer made work).
pub(crate) fn wait(parker: &Parker, in_reactor: &AtomicBool) {
    let _ = in_reactor;
    parker.park();
}

/// Wakes a thread that waits in [`wait`] with these `parker`/`in_reactor`.
pub(crate) fn wake(unparker: &parking::Unparker, in_reactor: &AtomicBool) {
    unparker.unpark();
    fence(SeqCst);
    if in_reactor.load(SeqCst) {
        notify_reactor();
    }
}

/// Processes ready I/O and due timers without blocking, if no other thread is in the reactor.
pub(crate) fn poll_nonblocking() {}

/// Wakes whichever thread blocks in the reactor.
pub(crate) fn notify_reactor() {}
