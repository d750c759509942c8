//! The reactor: one epoll instance (through `polling`, edge-triggered) and the timers.
//!
//! One thread at a time *drives* the reactor: it holds the [`ReactorLock`], fires due timers,
//! waits in epoll until the next timer or an event, and wakes the tasks whose sources became
//! ready. Which thread that is belongs to the layer above: [`crate::block_on`] drives it while
//! its future is pending, and tulip's executor lets one idle worker drive it while the others
//! park. The reactor never sees a task, only wakers.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::Waker;
use std::time::{Duration, Instant};

use slab::Slab;

use crate::source::Source;
use crate::sys::{Events, Poller};
use crate::timer::Timers;

/// `wait_deadline` value meaning "no thread is blocked in epoll".
const NOT_WAITING: u64 = 0;
/// `wait_deadline` value meaning "blocked without a timer deadline" (or about to compute one).
const WAIT_FOREVER: u64 = u64::MAX;

/// The process-wide reactor: one epoll instance and the timer wheels.
///
/// One thread at a time drives it through a [`ReactorLock`]; [`crate::block_on`] does so while
/// its future is pending, and tulip's executor lets one idle worker do it while others park.
pub struct Reactor {
    poller: Poller,
    sources: Mutex<Slab<Arc<Source>>>,
    pub(crate) timers: Timers,
    /// The tick the driving thread will wake at, so that arming an earlier timer knows to
    /// interrupt the wait (see [`Reactor::timer_armed`]).
    wait_deadline: AtomicU64,
    locked: AtomicBool,
    /// State owned by whoever holds the lock.
    state: Mutex<DriverState>,
    /// Threads (in `block_on`) waiting for their turn to drive; one is woken when the lock is
    /// released, so a program never ends up with nobody driving.
    standby: Mutex<Vec<parking::Unparker>>,
    /// Whether `standby` may be non-empty, so releasing the lock skips the mutex when not.
    has_standby: AtomicBool,
    /// A thread asked the idle thread blocked in epoll to leave the reactor to it (see
    /// [`Reactor::request`]).
    requested: AtomicBool,
    /// The requester to wake at the hand-over, when it parks meanwhile
    /// ([`Reactor::request_for`]).
    requester: Mutex<Option<parking::Unparker>>,
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

    fn new() -> Reactor {
        let poller = Poller::new().expect("tulip: cannot create the epoll instance");
        Reactor {
            poller,
            sources: Mutex::new(Slab::new()),
            timers: Timers::new(),
            wait_deadline: AtomicU64::new(NOT_WAITING),
            locked: AtomicBool::new(false),
            state: Mutex::new(DriverState {
                events: Events::new(),
                wakers: Vec::new(),
            }),
            standby: Mutex::new(Vec::new()),
            has_standby: AtomicBool::new(false),
            requested: AtomicBool::new(false),
            requester: Mutex::new(None),
        }
    }

    /// Interrupts the thread blocked in [`ReactorLock::react`], or makes the next call
    /// return at once. Coalesced: many calls before the wake cost one system call.
    pub fn notify(&self) {
        self.poller.notify();
    }

    /// Takes the right to drive the reactor, unless another thread has it.
    pub fn try_lock(&self) -> Option<ReactorLock<'_>> {
        if self
            .locked
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok()
        {
            Some(ReactorLock { reactor: self })
        } else {
            None
        }
    }

    /// Asks the thread blocked in epoll, if any, to hand the reactor over: for a busy thread
    /// whose [`Reactor::try_lock`] failed and that would rather poll the reactor itself.
    ///
    /// Without it, an idle thread that has nothing of its own to run (a worker of another
    /// runtime, say) keeps the lock in epoll, wakes for every event and forwards each task
    /// across threads, while the threads that run those tasks cannot poll at all. The
    /// holder sees the request through [`ReactorLock::take_request`] when its wait ends
    /// (this call interrupts it), releases the lock and goes on standby; the requester
    /// takes the lock the next time it tries.
    pub fn request(&self) {
        if self.wait_deadline.load(Ordering::SeqCst) != NOT_WAITING
            && !self.requested.swap(true, Ordering::SeqCst)
        {
            self.notify();
        }
    }

    /// [`Reactor::request`] for a thread that parks on `parker` until it can drive (a
    /// `block_on` thread): the holder's [`ReactorLock::yield_to_requester`] unparks it, and
    /// only it, so that other idle threads on standby do not race it for the lock.
    pub fn request_for(&self, parker: &parking::Parker) {
        if self.wait_deadline.load(Ordering::SeqCst) == NOT_WAITING {
            return;
        }
        *self.requester.lock().unwrap_or_else(|e| e.into_inner()) = Some(parker.unparker());
        self.request();
    }

    /// Puts `parker` on standby without trying the lock: it is unparked when the lock is
    /// next released normally or [handed off](Reactor::hand_off).
    fn standby(&self, parker: &parking::Parker) {
        let mut standby = self.standby.lock().unwrap_or_else(|e| e.into_inner());
        if !standby.iter().any(|u| u.will_unpark(parker)) {
            standby.push(parker.unparker());
        }
        self.has_standby.store(true, Ordering::SeqCst);
    }

    /// Like [`Reactor::try_lock`], but when another thread holds the lock, `parker` is put on
    /// standby: it is unparked when the lock is next released, so the caller can park and
    /// still take over driving when the current driver leaves. Threads that wait for I/O must
    /// use this (not `try_lock`) before parking, or a program can end up with every thread
    /// parked and nobody in epoll.
    pub fn try_lock_or_standby(&self, parker: &parking::Parker) -> Option<ReactorLock<'_>> {
        if let Some(lock) = self.try_lock() {
            return Some(lock);
        }
        self.standby(parker);
        // Retry now that we are registered: a release between our first try and the
        // registration would otherwise go unnoticed.
        let lock = self.try_lock()?;
        // We got it after all: withdraw, or our own release would unpark us for nothing.
        self.standby
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|u| !u.will_unpark(parker));
        Some(lock)
    }

    /// Number of registered I/O sources (a diagnostic, for leak checks in tests).
    pub fn registered_sources(&self) -> usize {
        self.sources.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub(crate) fn register(&self, fd: BorrowedFd<'_>, stream: bool) -> io::Result<Arc<Source>> {
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        let entry = sources.vacant_entry();
        let key = entry.key();
        let source = Arc::new(Source::new(fd.as_raw_fd(), key, stream));
        self.poller.add(fd, key)?;
        entry.insert(source.clone());
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
        if tick < self.wait_deadline.load(Ordering::SeqCst) {
            self.notify();
        }
    }
}

impl fmt::Debug for Reactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reactor")
            .field("sources", &self.registered_sources())
            .field("locked", &self.locked.load(Ordering::Relaxed))
            .finish()
    }
}

/// The right to drive the reactor, from [`Reactor::try_lock`]. Released on drop.
pub struct ReactorLock<'a> {
    reactor: &'a Reactor,
}

impl ReactorLock<'_> {
    /// Fires due timers, waits for I/O events until `timeout` or the next timer (whichever
    /// is sooner; `Some(Duration::ZERO)` polls without blocking, `None` waits as long as
    /// needed), and wakes every task whose source or timer became ready.
    ///
    /// Returns early, with nothing to do, after [`Reactor::notify`].
    ///
    /// # Errors
    ///
    /// Only if epoll itself fails; `EINTR` is not an error.
    pub fn react(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let r = self.reactor;
        let mut state = r.state.lock().unwrap_or_else(|e| e.into_inner());
        let DriverState { events, wakers } = &mut *state;

        // Rule: publish "about to wait" before reading the wheels, so a timer armed after we
        // read its shard sees a deadline it beats and notifies us (see `timer_armed`).
        r.wait_deadline.store(WAIT_FOREVER, Ordering::SeqCst);
        let now = Instant::now();
        let next = r.timers.process(now, wakers);
        let mut block = timeout != Some(Duration::ZERO) && wakers.is_empty();
        if let Some(tick) = next {
            let until = r.timers.instant_of(tick).saturating_duration_since(now);
            if until.is_zero() {
                block = false;
            } else if block {
                r.poller.arm_timer(events, tick, until)?;
            }
        }
        // A caller's own timeout (rare: executors pass None or ZERO) becomes a one-off timer.
        if let (true, Some(t)) = (block, timeout) {
            let tick = u64::MAX - 1;
            r.poller.arm_timer(events, tick, t)?;
        }
        r.wait_deadline.store(
            if block {
                next.unwrap_or(WAIT_FOREVER)
            } else {
                NOT_WAITING
            },
            Ordering::SeqCst,
        );
        // Wake the due timers before blocking: the woken tasks may run on other threads.
        for w in wakers.drain(..) {
            w.wake();
        }

        let res = r.poller.wait(events, block);
        r.wait_deadline.store(NOT_WAITING, Ordering::SeqCst);
        res?;

        if !events.ready.is_empty() {
            let sources = r.sources.lock().unwrap_or_else(|e| e.into_inner());
            for ev in &events.ready {
                if let Some(source) = sources.get(ev.key) {
                    source.set_ready(*ev, wakers);
                }
            }
        }
        let blocking = block;
        if blocking {
            r.timers.process(Instant::now(), wakers);
        }
        for w in wakers.drain(..) {
            w.wake();
        }
        Ok(())
    }
}

impl ReactorLock<'_> {
    /// Whether a busy thread asked for the reactor (see [`Reactor::request`]); clears the
    /// request. A holder that sees `true` should
    /// [yield to the requester](ReactorLock::yield_to_requester) instead of driving again.
    pub fn take_request(&self) -> bool {
        let r = self.reactor;
        r.requested.load(Ordering::Relaxed) && r.requested.swap(false, Ordering::SeqCst)
    }

    /// Releases the lock after [`take_request`](ReactorLock::take_request) said a thread
    /// asked for it: wakes that thread if it parked ([`Reactor::request_for`]), and no
    /// standby thread, so that the requester gets the lock rather than another idle thread.
    /// The caller should then stay away for a moment (a timed park, not on standby): the
    /// requester drives next.
    pub fn yield_to_requester(self) {
        let r = self.reactor;
        let requester = r.requester.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.release_keeping_standby();
        if let Some(u) = requester {
            u.unpark();
        }
    }

    /// Releases the lock without waking the threads on standby.
    ///
    /// For a caller that promises to come back: an executor worker that leaves the reactor
    /// to run the tasks it just woke and will take the lock again when it runs out of work.
    /// Handing the reactor to a standby thread on every such turn costs a futex wake-up and
    /// a pointless trip of that thread, per event batch. A caller that stops driving for
    /// good (a thread that exits, a `block_on` that returns) must release normally (drop),
    /// or call [`Reactor::hand_off`] later.
    pub fn release_keeping_standby(self) {
        let r = self.reactor;
        std::mem::forget(self);
        r.locked.store(false, Ordering::SeqCst);
    }
}

impl Reactor {
    /// Wakes the threads on standby (see [`Reactor::try_lock_or_standby`]) if nobody drives
    /// the reactor: for a thread that released with
    /// [`ReactorLock::release_keeping_standby`] and now stops driving for good.
    pub fn hand_off(&self) {
        if !self.locked.load(Ordering::SeqCst) {
            self.wake_standby();
        }
    }

    fn wake_standby(&self) {
        // A thread that registers after our check finds the lock free when it retries
        // (SeqCst on both flags).
        if self.has_standby.load(Ordering::SeqCst) {
            let standby = {
                let mut list = self.standby.lock().unwrap_or_else(|e| e.into_inner());
                self.has_standby.store(false, Ordering::SeqCst);
                std::mem::take(&mut *list)
            };
            for u in standby {
                u.unpark();
            }
        }
    }
}

impl Drop for ReactorLock<'_> {
    fn drop(&mut self) {
        let r = self.reactor;
        r.locked.store(false, Ordering::SeqCst);
        // Hand the reactor over: whoever is waiting to drive gets a chance to.
        r.wake_standby();
    }
}

impl fmt::Debug for ReactorLock<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReactorLock").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A private reactor (not the process-wide one other tests drive), leaked for `'static`.
    fn reactor() -> &'static Reactor {
        Box::leak(Box::new(Reactor::new()))
    }

    #[test]
    fn a_request_interrupts_the_blocked_holder_once() {
        let r = reactor();
        // Nobody is blocked: a request is not recorded.
        r.request();
        assert!(!r.try_lock().unwrap().take_request());

        let holder = std::thread::spawn(move || {
            let mut lock = r.try_lock().unwrap();
            // Bounded so that a missing interruption fails instead of hanging the suite.
            let t = Instant::now();
            lock.react(Some(Duration::from_secs(30))).unwrap();
            assert!(t.elapsed() < Duration::from_secs(20), "not interrupted");
            (lock.take_request(), lock.take_request())
        });
        while r.wait_deadline.load(Ordering::SeqCst) == NOT_WAITING {
            std::thread::yield_now();
        }
        r.request();
        assert_eq!(holder.join().unwrap(), (true, false));
    }

    #[test]
    fn a_yield_wakes_the_parked_requester_and_no_standby_thread() {
        let r = reactor();
        let (requester, _) = parking::pair();
        let (bystander, _) = parking::pair();
        let mut lock = r.try_lock().unwrap();
        assert!(r.try_lock_or_standby(&bystander).is_none());
        let holder = std::thread::spawn(move || {
            let t = Instant::now();
            lock.react(Some(Duration::from_secs(30))).unwrap();
            assert!(t.elapsed() < Duration::from_secs(20), "not interrupted");
            assert!(lock.take_request());
            lock.yield_to_requester();
        });
        while r.wait_deadline.load(Ordering::SeqCst) == NOT_WAITING {
            std::thread::yield_now();
        }
        r.request_for(&requester);
        assert!(
            requester.park_timeout(Duration::from_secs(10)),
            "requester not woken"
        );
        holder.join().unwrap();
        assert!(
            !bystander.park_timeout(Duration::from_millis(20)),
            "bystander woken"
        );
        let lock = r.try_lock().expect("the lock was released");
        lock.release_keeping_standby();
    }

    #[test]
    fn quiet_release_keeps_standby_asleep_until_hand_off() {
        let r = reactor();
        let (parker, _) = parking::pair();
        let lock = r.try_lock().unwrap();
        assert!(r.try_lock_or_standby(&parker).is_none());
        lock.release_keeping_standby();
        assert!(
            !parker.park_timeout(Duration::from_millis(20)),
            "woken early"
        );
        r.hand_off();
        assert!(
            parker.park_timeout(Duration::from_secs(5)),
            "hand-off did not wake"
        );

        // A normal release wakes standby threads, also those that gave the lock up.
        let lock = r.try_lock().unwrap();
        r.standby(&parker);
        drop(lock);
        assert!(
            parker.park_timeout(Duration::from_secs(5)),
            "release did not wake"
        );
    }
}
