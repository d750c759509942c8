//! [`Seat`] and [`SeatWaker`]: the one entry point through which an executor's threads drive
//! the process-wide reactor, following the hand-off rules of `handoff`.

use std::fmt;
use std::io;

use crate::handoff::{Release, Role, SeatState, Signal};
use crate::reactor::Reactor;

/// A thread's place at the reactor: its parker, and the right to drive the reactor when it
/// has nothing else to do.
///
/// One thread at a time drives (waits in epoll, fires timers, wakes what became ready); the
/// others park. [`Seat::wait`] does whichever applies, [`Seat::poll`] lets a busy thread see
/// I/O without blocking, and a [`SeatWaker`] wakes the thread wherever it sleeps.
///
/// A thread that runs an executor loop also holds an [`enter`](crate::enter) guard while it
/// runs: the guard, not the seat, is what tells the reactor that a tulip loop will drive
/// it, so that the fallback thread (which drives for tulip futures polled under other
/// executors) stands down.
///
/// # Examples
///
/// A minimal executor thread: it runs a flag-setting job woken from another thread.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use tulip_reactor::{Release, Seat};
///
/// let seat = Seat::new(Release::HandOff);
/// let waker = Arc::new(seat.waker());
/// let done = Arc::new(AtomicBool::new(false));
/// let (w, d) = (waker.clone(), done.clone());
/// let t = std::thread::spawn(move || {
///     d.store(true, Ordering::SeqCst);
///     w.wake();
/// });
/// while !done.load(Ordering::SeqCst) {
///     seat.wait(&waker).expect("epoll failed");
/// }
/// t.join().unwrap();
/// ```
pub struct Seat {
    state: SeatState,
}

/// Wakes the thread of a [`Seat`]: unparks it, and interrupts epoll when it waits there.
pub struct SeatWaker {
    signal: Signal,
}

impl Seat {
    /// A seat for the calling thread (it parks the thread that calls its methods); `release`
    /// says how it lets go of the reactor after driving it.
    pub fn new(release: Release) -> Seat {
        let role = match release {
            Release::Quiet => Role::Worker,
            Release::HandOff => Role::Loop,
        };
        Seat {
            state: SeatState::new(crate::sync::Parker::new(), role),
        }
    }

    /// A waker for this seat's thread. Make it once and share it (it is `Sync`).
    pub fn waker(&self) -> SeatWaker {
        SeatWaker {
            signal: self.state.signal(),
        }
    }

    /// Blocks the idle thread until its [`SeatWaker`] fires, driving the reactor meanwhile
    /// if no other thread does: it returns after one turn of the reactor (I/O or a timer
    /// may have woken tasks), or when woken. May return spuriously; the caller looks for
    /// work and calls again.
    ///
    /// `waker` must be this seat's own ([`Seat::waker`]).
    ///
    /// # Errors
    ///
    /// When epoll itself fails. The next call then pauses briefly instead of retrying at
    /// once, so a caller that loops does not spin.
    pub fn wait(&self, waker: &SeatWaker) -> io::Result<()> {
        let r = Reactor::get();
        self.state.wait(&r.handoff, r, &waker.signal)
    }

    /// Processes ready I/O and due timers without blocking, for a busy thread that comes
    /// back here regularly. When an idle thread waits in epoll instead, it is asked to leave
    /// the reactor to us: we run the tasks, so we should see their events first-hand.
    pub fn poll(&self) {
        let r = Reactor::get();
        self.state.poll(&r.handoff, r);
    }

    /// Parks without driving the reactor, until the [`SeatWaker`] fires: for a thread that
    /// must leave I/O to others for now (a single-thread loop nested in a multi-thread
    /// runtime whose workers drive).
    pub fn park(&self) {
        self.state.parker().park();
    }
}

impl Drop for Seat {
    /// A [`Release::Quiet`] seat hands the reactor over to the threads standing by, since
    /// it will not come back.
    fn drop(&mut self) {
        self.state.leave(&Reactor::get().handoff);
    }
}

impl SeatWaker {
    /// Wakes the seat's thread. The reactor is notified whenever the thread may be waiting
    /// in it, whatever the parker's token says: a thread in epoll never looks at its token,
    /// and a stale one is common (a release unparks every standby thread, also one that
    /// took the lock meanwhile). The notification is coalesced, so it costs an atomic swap.
    pub fn wake(&self) {
        self.signal.wake(Reactor::get());
    }
}

impl fmt::Debug for Seat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Seat").field(&self.state).finish()
    }
}

impl fmt::Debug for SeatWaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SeatWaker").field(&self.signal).finish()
    }
}
