//! The reactor: one poller (edge-triggered epoll called directly through rustix, or the
//! `polling` crate: see `sys`), the registered sources and the timers.
//!
//! One thread at a time *drives* the reactor: it holds the lock of [`crate::handoff`], fires
//! due timers, waits in epoll until the next timer or an event, and wakes the tasks whose
//! sources became ready. Which thread that is follows the hand-off rules: [`crate::block_on`]
//! drives while its future is pending, and an executor's threads drive through a
//! [`crate::Seat`]. The reactor never sees a task, only wakers.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::Waker;
use std::time::Instant;

use slab::Slab;

use crate::handoff::{Backend, Handoff, Wait};
use crate::source::Source;
use crate::sys::{Events, Poller};
use crate::timer::Timers;

/// The process-wide reactor: one epoll instance and the timer wheels.
///
/// Its only public duties are a notification and a diagnostic: registering sources is
/// [`Async`](crate::Async)'s job, timers are [`Timer`](crate::Timer)'s, and driving it is
/// [`block_on`](crate::block_on)'s or an executor's through a [`Seat`](crate::Seat).
pub struct Reactor {
    pub(crate) poller: Poller,
    sources: Mutex<Slab<Arc<Source>>>,
    pub(crate) timers: Timers,
    /// Who drives, and the driver's published wait (see `handoff`).
    pub(crate) handoff: Handoff,
    /// State owned by whoever holds the lock.
    state: Mutex<DriverState>,
}

struct DriverState {
    events: Events,
    wakers: Vec<Waker>,
}

impl Reactor {
    /// The reactor, created on first use.
    pub fn get() -> &'static Reactor {
        static REACTOR: OnceLock<Reactor> = OnceLock::new();
        REACTOR.get_or_init(Reactor::new)
    }

    pub(crate) fn new() -> Reactor {
        let poller =
            Poller::new().expect("tulip: cannot create the reactor's poller (epoll or kqueue)");
        Reactor {
            poller,
            sources: Mutex::new(Slab::new()),
            timers: Timers::new(),
            handoff: Handoff::new(),
            state: Mutex::new(DriverState {
                events: Events::new(),
                wakers: Vec::new(),
            }),
        }
    }

    /// Interrupts the thread blocked in epoll, or makes the next wait return at once.
    /// Coalesced: many calls before the wake cost one system call.
    pub fn notify(&self) {
        self.poller.notify();
    }

    /// Whether the fallback driver thread was started: a tulip future waited for I/O or a
    /// timer on a thread that runs no tulip loop (under tokio, smol, a plain `block_on`),
    /// and a thread now drives the reactor whenever no tulip loop runs (a diagnostic).
    pub fn fallback_started(&self) -> bool {
        self.handoff.fallback_started()
    }

    /// Whether the fallback driver is standing down because a tulip loop runs (a
    /// diagnostic, for tests): once seen while a loop keeps running, every event until the
    /// last loop leaves is dispatched by a tulip thread.
    pub fn fallback_stood_down(&self) -> bool {
        self.handoff.fallback_stood_down()
    }

    /// Number of registered I/O sources (a diagnostic, for leak checks in tests).
    pub fn registered_sources(&self) -> usize {
        self.sources.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub(crate) fn register(&self, fd: BorrowedFd<'_>, stream: bool) -> io::Result<Arc<Source>> {
        // The source takes its slot before the backend learns of it, so that an event for it
        // always finds it; the system call is made outside the lock, which the thread driving
        // the reactor takes to dispatch every batch of events (held across `epoll_ctl`, a
        // thread accepting connections made the driver wait on it: BENCHMARKS.md, session 15).
        let source = {
            let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
            let entry = sources.vacant_entry();
            let source = Arc::new(Source::new(fd.as_raw_fd(), entry.key(), stream));
            entry.insert(source.clone());
            source
        };
        if let Err(e) = self.poller.add(fd, source.key) {
            self.sources
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .try_remove(source.key);
            return Err(e);
        }
        Ok(source)
    }

    pub(crate) fn deregister(&self, source: &Source, fd: BorrowedFd<'_>) -> io::Result<()> {
        let res = self.poller.delete(fd);
        self.sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .try_remove(source.key);
        res
    }

    /// Called after a timer is armed for `tick`: interrupts the driver if it sleeps past it.
    pub(crate) fn timer_armed(&self, tick: u64) {
        if self.handoff.sleeps_past(tick) {
            self.notify();
        }
    }
}

impl Backend for Reactor {
    fn notify(&self) {
        self.poller.notify();
    }

    /// Fires due timers, waits for I/O events (unless `wait` is `None`, or a timer is due)
    /// until the next timer deadline or a notification, and wakes every task whose source or
    /// timer became ready.
    fn react(&self, wait: Option<&Wait<'_>>) -> io::Result<bool> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let DriverState { events, wakers } = &mut *state;

        // handoff rule 6: publish "may block" before reading the wheels, so that a timer
        // armed after we read its shard sees a deadline it beats and notifies us.
        if let Some(w) = wait {
            w.begin();
        }
        let now = Instant::now();
        let next = self.timers.process(now, wakers);
        let mut block = wait.is_some() && wakers.is_empty();
        let mut armed = Ok(());
        if let Some(tick) = next {
            let until = self.timers.instant_of(tick).saturating_duration_since(now);
            if until.is_zero() {
                block = false;
            } else if block {
                armed = self.poller.arm_timer(events, tick, until);
                block = armed.is_ok();
            }
        }
        if let (true, Some(w), Some(tick)) = (block, wait, next) {
            w.until(tick);
        }
        // Wake the due timers before blocking: the woken tasks may run on other threads.
        for w in wakers.drain(..) {
            w.wake();
        }

        let res = self.poller.wait(events, block);
        // handoff rule 5: the wait is over, so wakes from here on need no notification.
        let asked = wait.is_some_and(Wait::end);
        armed?;
        res?;

        if !events.ready.is_empty() {
            let sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
            for ev in &events.ready {
                if let Some(source) = sources.get(ev.key) {
                    source.set_ready(*ev, wakers);
                }
            }
        }
        if block {
            self.timers.process(Instant::now(), wakers);
        }
        for w in wakers.drain(..) {
            w.wake();
        }
        Ok(asked)
    }
}

impl fmt::Debug for Reactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reactor")
            .field("sources", &self.registered_sources())
            .field("locked", &self.handoff.is_locked())
            .finish()
    }
}
