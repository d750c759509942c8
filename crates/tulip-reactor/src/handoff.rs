//! Who drives the reactor: the hand-off state machine.
//!
//! The reactor has one epoll instance, and one thread at a time may wait in it: the *holder*
//! of the lock. Every other thread with nothing to do parks on its own parker. This module
//! decides who holds, how the lock moves between threads, and how a thread is woken wherever
//! it sleeps. It knows nothing about epoll: the reactor plugs in as a [`Backend`], and
//! `tests/loom.rs` plugs in a model of one to check the rules below under every interleaving.
//!
//! A thread that may drive has a *seat*: a [`SeatState`] it owns (its parker, its [`Role`])
//! and a [`Signal`] that others use to wake it. The roles differ in how they let go:
//!
//! - [`Role::Worker`] (a runtime worker) drives one turn at a time and releases *quietly*;
//! - [`Role::Loop`] (a local executor) drives one turn at a time and releases normally;
//! - [`Role::BlockOn`] ([`crate::block_on`]) drives until its own signal fires, releases
//!   normally, and asks an idle holder for the lock instead of waiting for it.
//!
//! A fourth driver has no seat: the *fallback* ([`Handoff::fallback_turn`]), a thread that
//! drives while no tulip loop runs, so that tulip I/O and timers polled under another
//! executor (tokio, smol, a plain `block_on`) still make progress (rule 8).
//!
//! # Rules
//!
//! 1. **One holder.** The `LOCKED` bit of the state word is taken by a read-modify-write and
//!    cleared only by the holder (through [`Held`]); only the holder calls
//!    [`Backend::react`], and only it writes the wait word except for the request bit
//!    (rule 6).
//! 2. **Standby before parking, in one step.** A seat that finds the lock taken registers its
//!    unparker on standby and then sets `STANDBY | LOCKED` in the state word with one
//!    read-modify-write: either the lock was free by then (it is now ours, and we withdraw
//!    the registration), or the holder's release comes later in the word's modification
//!    order and sees `STANDBY`. The two sides meet on one atomic, so the argument needs no
//!    ordering across variables (a `SeqCst` store on one flag and a load of another would,
//!    and loom found a standby seat left asleep that way). Registering, trying and
//!    withdrawing happen under the standby mutex, so a release never finds the registration
//!    of a seat that took the lock itself.
//! 3. **A normal release wakes standby.** The holder clears `LOCKED | STANDBY` in one
//!    read-modify-write and, if `STANDBY` was set, unparks every registration. A seat that
//!    may not come back soon (a `block_on` about to run user code that may block its thread,
//!    a local executor) always releases normally.
//! 4. **A quiet release promises to come back.** A worker clears only `LOCKED`: it polls the
//!    reactor every 61 tasks and retakes the lock when idle, and a standby wake-up per event
//!    batch is what made TCP echo 1.6x slower. When it stops for good it [hands
//!    off](Handoff::hand_off): if the lock is free and `STANDBY` set, it clears the bit and
//!    wakes the registrations (if another seat took the lock meanwhile, that holder's own
//!    release or hand-off does it; a seat registering meanwhile is covered by rule 2).
//! 5. **Publish, check, then block.** A holder sets its signal's `in_reactor` flag before it
//!    consumes its parker's token and waits; a waker sets the token and then reads the flag,
//!    and notifies the backend when it is set *whatever `unpark` returned*. Both sides are
//!    `SeqCst` (and `parking` sets and takes tokens with `SeqCst` read-modify-writes), so one
//!    of them sees the other. A token already set while its holder blocks in the backend,
//!    which never looks at tokens, would otherwise hide the wake: the lost wake-up of issue
//!    #3, where a release had unparked the standby registration of a seat that took the lock
//!    on its retry. Rule 2 now rules that source out as well; the models check that either
//!    defence alone keeps the wake-up and that the wake-up is lost without both. The
//!    backend clears the flag as soon as its wait is over ([`Wait::end`]), so the wakes of
//!    its own dispatch only unpark.
//! 6. **A request reaches a waiting holder, or nobody.** The wait word holds the holder's
//!    wake-up deadline while it may block (`NOT_WAITING` otherwise) plus a `REQUESTED` bit. A
//!    busy seat that finds the lock taken sets the bit by compare-exchange on a word that is
//!    not `NOT_WAITING`, and notifies; the holder reads and clears the word in one swap when
//!    its wait ends. A request therefore never outlives the wait it reached: no stale bit can
//!    make a later holder yield for nobody. A request that finds no waiting holder is dropped;
//!    the busy seat asks again at its next poll.
//! 7. **A yield goes to the requester.** A holder that saw a request releases quietly (a
//!    standby seat must not race the requester), unparks the requester if it parked
//!    ([`Role::BlockOn`]), and stays away for [`YIELD_PAUSE`] with a timed park, not on
//!    standby (the requester's normal releases must not call it straight back). A wake ends
//!    the pause early; if the requester vanished, the pause bounds the gap. The quiet
//!    release is rule 4's promise to come back, so a holder that will not come back keeps
//!    no standby seat waiting on it: the fallback, which stands down after a yield while a
//!    loop runs, yields with a normal release, and a seat that stops driving after a yield
//!    hands off ([`SeatState::leave`], for every role). Otherwise the requester, woken with
//!    its own work done, could leave without ever driving while another loop sat on standby
//!    with the lock free: the reactor test that blocks a thread inside `block_on` hung that
//!    way in CI, both loops parked on standby.
//! 8. **The fallback drives only while no tulip loop runs.** A thread running a tulip loop
//!    (a worker, a local executor, a `block_on`) counts itself in `loops` for as long as it
//!    runs ([`Handoff::enter_loop`], [`Handoff::exit_loop`]); such a thread drives when it
//!    is idle, so its presence is the promise that someone will. The fallback is started
//!    once, lazily, by the first future that waits for the reactor on a thread that runs
//!    no tulip loop ([`Handoff::start_fallback`]); from then on it takes turns with the
//!    lock like any seat (rule 1), one turn per [`Handoff::fallback_turn`], releasing
//!    normally, while `loops` is zero, and parks while it is not. The count and the
//!    started bit share one word, so the two sides meet on one atomic (as in rule 2; a
//!    flag and a count in two variables would need `SeqCst` ordering across them, which
//!    loom does not model): the first loop to enter notifies the backend if the
//!    fallback was started (so a fallback blocked in its wait comes out, sees the count
//!    and stands down: its normal release wakes the seats that stood by meanwhile), and
//!    the last loop to leave unparks it (so it drives again). The fallback reads the count
//!    again once it holds the lock, before each blocking turn, so either it sees the entry
//!    or the entry's notification is still pending when it blocks (notifications are
//!    sticky, and only a holder consumes one: a holder that did so released the lock
//!    before the fallback took it); and either the leaver finds its unparker
//!    (registered before the thread starts) or the fallback reads the count after the
//!    leave. Events a stand-down leaves behind stay in the backend for the next holder;
//!    a request that reaches the fallback is honoured as in rule 7. Inside a tulip loop
//!    the pending path costs nothing more: the starting check reads a thread-local flag
//!    and a started flag, and the count changes only when a loop starts or ends.

// The items are `pub` so that `loom_models` can hand them to `tests/loom.rs`; outside loom
// builds the module is private and only `crate::seat` reaches them.
#![cfg_attr(not(loom), allow(unreachable_pub))]

use std::cell::Cell;
use std::fmt;
use std::io;
use std::time::Duration;

use crate::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use crate::sync::{Mutex, Parker, Unparker, lock, park_timeout, take_token};

/// How long a holder that yielded on request stays away (rule 7), unless woken first.
pub const YIELD_PAUSE: Duration = Duration::from_millis(5);

/// Wait word: nobody may block in the backend.
const NOT_WAITING: u64 = 0;
/// Wait word bit: a busy seat asked the waiting holder for the lock (rule 6).
const REQUESTED: u64 = 1 << 63;
/// Wait word: the holder may block without a deadline (or is computing one).
const WAIT_FOREVER: u64 = REQUESTED - 1;

/// The event loop a seat drives: the real reactor, or a model of it.
pub trait Backend {
    /// Makes the current or next blocking [`react`](Backend::react) return at once.
    /// Coalesced: many calls before the wait consume them cost as much as one.
    fn notify(&self);

    /// One turn of the loop, by the holder only (rule 1). `None`: poll without blocking.
    /// `Some(wait)`: may block; then it must call [`Wait::begin`] before it reads its
    /// deadlines, [`Wait::until`] with the deadline it picked if it blocks, and
    /// [`Wait::end`] as soon as the wait returns, before it dispatches what it found.
    ///
    /// Returns whether [`Wait::end`] reported a request (rule 6).
    fn react(&self, wait: Option<&Wait<'_>>) -> io::Result<bool>;
}

/// Loop word bit: the fallback driver was started (rule 8). Set once, never cleared.
const FALLBACK: usize = 1;
/// Loop word unit: one thread running a tulip loop (rule 8).
const ONE_LOOP: usize = 2;

/// State word bit: a thread holds the right to drive (rule 1). Set by the seat that takes
/// the lock, cleared by its release.
const LOCKED: usize = 1;
/// State word bit: `standby` may hold registrations (rule 2). Set by a seat that registers,
/// cleared by the normal release or hand-off that takes the registrations (rules 3 and 4).
const STANDBY: usize = 2;

/// The lock and the wait word. One per reactor.
pub struct Handoff {
    /// `LOCKED | STANDBY` (rules 1-4).
    state: AtomicUsize,
    /// The holder's wake-up deadline while it may block, and the request bit (rule 6).
    wait: AtomicU64,
    /// Seats parked until the next normal release or hand-off (rules 2-4).
    standby: Mutex<Vec<Unparker>>,
    /// The parked requester to wake at a yield (rule 7).
    requester: Mutex<Option<Unparker>>,
    /// Threads running a tulip loop, in units of [`ONE_LOOP`], and the [`FALLBACK`] bit
    /// (rule 8): one word, so that the entry, the leave and the start meet on one atomic.
    loops: AtomicUsize,
    /// The fallback driver's unparker, registered before it starts (rule 8).
    fallback: Mutex<Option<Unparker>>,
    /// Set while the fallback parks, standing down for a loop or a holder (a diagnostic).
    stood_down: AtomicBool,
}

/// How a seat lets go of the reactor after driving it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// Without waking the threads that stand by (rule 4): for a thread that comes back to
    /// the reactor by itself, such as a work-stealing runtime's worker, which polls it every
    /// few dozen tasks and drives it when it runs out of work. A thread blocked by a task
    /// delays I/O for the threads parked elsewhere until it returns, as in tokio; the
    /// alternative, a standby wake-up per event batch, made TCP echo 1.6x slower. The seat
    /// hands the reactor over when it is dropped.
    Quiet,
    /// Waking them (rule 3): for a thread that runs user code which may block it (a
    /// single-thread executor, asyncio's model), so that another thread is free to drive.
    HandOff,
}

/// What kind of thread sits in a seat (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A runtime worker: one turn per wait, quiet release (rule 4).
    Worker,
    /// A local executor's thread: one turn per wait, normal release (rule 3).
    Loop,
    /// A `block_on` thread: drives until its own signal fires, normal release, asks an idle
    /// holder for the lock (rule 6) instead of only standing by.
    BlockOn,
}

impl Role {
    fn release(self) -> Release {
        match self {
            Role::Worker => Release::Quiet,
            Role::Loop | Role::BlockOn => Release::HandOff,
        }
    }
}

impl Handoff {
    /// A free lock with nobody on standby.
    pub fn new() -> Handoff {
        Handoff {
            state: AtomicUsize::new(0),
            wait: AtomicU64::new(NOT_WAITING),
            standby: Mutex::new(Vec::new()),
            requester: Mutex::new(None),
            loops: AtomicUsize::new(0),
            fallback: Mutex::new(None),
            stood_down: AtomicBool::new(false),
        }
    }

    /// A thread starts running a tulip loop (rule 8): the fallback, if it was started,
    /// stands down after its current turn.
    pub fn enter_loop(&self, backend: &impl Backend) {
        if self.loops.fetch_add(ONE_LOOP, SeqCst) == FALLBACK {
            backend.notify();
        }
    }

    /// A thread stops running its tulip loop, after its last release or hand-off (rule 8):
    /// the last one to leave gets the fallback driving again, if it was started.
    pub fn exit_loop(&self) {
        if self.loops.fetch_sub(ONE_LOOP, SeqCst) == ONE_LOOP | FALLBACK {
            if let Some(u) = lock(&self.fallback).as_ref() {
                u.unpark();
            }
        }
    }

    /// Whether the fallback driver was started (rule 8): what the pending path of a future
    /// polled outside any tulip loop reads before it calls [`Handoff::start_fallback`].
    pub fn fallback_started(&self) -> bool {
        self.loops.load(SeqCst) & FALLBACK != 0
    }

    /// Claims the start of the fallback driver (rule 8): returns `true` exactly once, to
    /// the caller that must now run [`Handoff::fallback_turn`] with `parker` in a loop on a
    /// thread of its own. The parker's unparker is registered before this returns, so the
    /// last loop to leave can always wake the new thread.
    pub fn start_fallback(&self, parker: &Parker) -> bool {
        // Under the slot's lock only one caller can find the bit clear; the unparker is in
        // the slot before the bit is set, so a leave that sees the bit finds it.
        let mut slot = lock(&self.fallback);
        if self.fallback_started() {
            return false;
        }
        *slot = Some(parker.unparker());
        self.loops.fetch_or(FALLBACK, SeqCst);
        true
    }

    /// One step of the fallback driver (rule 8), whose thread owns `parker` (the one given
    /// to [`Handoff::start_fallback`]): parks while a tulip loop runs or another thread
    /// holds the lock; otherwise takes the lock for one blocking turn of `backend` and
    /// releases it normally. A yield (rule 7) or a failed turn pauses for [`YIELD_PAUSE`].
    ///
    /// # Errors
    ///
    /// When the backend fails; the lock is released and the pause taken already.
    pub fn fallback_turn(&self, backend: &impl Backend, parker: &Parker) -> io::Result<()> {
        let held = if self.loops.load(SeqCst) < ONE_LOOP {
            self.lock_or_standby(parker)
        } else {
            None
        };
        let Some(held) = held else {
            // Standing down: a loop runs (the last one to leave unparks us), or a seat
            // holds the lock (its normal release or hand-off wakes us from standby).
            self.stood_down.store(true, SeqCst);
            parker.park();
            self.stood_down.store(false, SeqCst);
            return Ok(());
        };
        if self.loops.load(SeqCst) >= ONE_LOOP {
            // A loop entered since we looked, and its seat may have held the lock and
            // consumed the entry's notification meanwhile (loom found the fallback blocked
            // for good that way): with the lock ours, that seat's release came before, so
            // this load sees the entry.
            held.release(Release::HandOff);
            return Ok(());
        }
        match backend.react(Some(&held.wait(None))) {
            Ok(false) => {
                held.release(Release::HandOff);
                Ok(())
            }
            Ok(true) => {
                // Rule 7: only a `block_on` asks, and it runs a loop, so we stand down next:
                // we will not come back, so the release wakes standby too.
                held.yield_to_requester(Release::HandOff);
                park_timeout(parker, YIELD_PAUSE);
                Ok(())
            }
            Err(e) => {
                drop(held);
                park_timeout(parker, YIELD_PAUSE);
                Err(e)
            }
        }
    }

    /// Takes the lock unless it is taken (rule 1).
    pub(crate) fn try_lock(&self) -> Option<Held<'_>> {
        // `fetch_or` leaves a taken lock as it was (and keeps `STANDBY`), where a
        // compare-exchange would have to know the other bit. (`then`, not `then_some`: a
        // `Held` built eagerly and dropped on failure would release the holder's lock, as
        // loom found.)
        (self.state.fetch_or(LOCKED, SeqCst) & LOCKED == 0).then(|| Held { handoff: self })
    }

    /// Takes the lock, or registers `parker` on standby so that the holder's normal release
    /// or hand-off unparks it (rule 2).
    fn lock_or_standby(&self, parker: &Parker) -> Option<Held<'_>> {
        if let Some(held) = self.try_lock() {
            return Some(held);
        }
        let mut standby = lock(&self.standby);
        if !standby.iter().any(|u| u.will_unpark(parker)) {
            standby.push(parker.unparker());
        }
        // Rule 2: registered and retried in one step.
        if self.state.fetch_or(STANDBY | LOCKED, SeqCst) & LOCKED != 0 {
            return None;
        }
        // We got the lock after all: withdraw, or our own release would unpark us for
        // nothing. A release that took the list already may still leave a stale token
        // (rule 5).
        standby.retain(|u| !u.will_unpark(parker));
        Some(Held { handoff: self })
    }

    /// Wakes the seats on standby if nobody holds the lock: for a worker that released
    /// quietly and stops driving for good (rule 4).
    pub fn hand_off(&self) {
        let mut s = self.state.load(SeqCst);
        while s == STANDBY {
            match self.state.compare_exchange(s, 0, SeqCst, SeqCst) {
                Ok(_) => return self.wake_standby(),
                Err(now) => s = now,
            }
        }
    }

    /// Unparks every registration; the caller cleared `STANDBY` (rules 3 and 4).
    fn wake_standby(&self) {
        let standby = std::mem::take(&mut *lock(&self.standby));
        for u in standby {
            u.unpark();
        }
    }

    /// Asks the holder to leave the lock to us if it waits in the backend (rule 6). Returns
    /// whether a request is now pending.
    fn request(&self, backend: &impl Backend) -> bool {
        let mut w = self.wait.load(SeqCst);
        loop {
            if w == NOT_WAITING {
                return false;
            }
            if w & REQUESTED != 0 {
                return true;
            }
            match self.wait.compare_exchange(w, w | REQUESTED, SeqCst, SeqCst) {
                Ok(_) => {
                    backend.notify();
                    return true;
                }
                Err(now) => w = now,
            }
        }
    }

    /// [`Handoff::request`] for a seat that parks until it can drive: the yield unparks it,
    /// and only it (rule 7).
    fn request_for(&self, backend: &impl Backend, parker: &Parker) {
        if self.wait.load(SeqCst) == NOT_WAITING {
            return;
        }
        *lock(&self.requester) = Some(parker.unparker());
        if !self.request(backend) {
            // Nobody to ask after all: withdraw, unless a newer requester took the slot.
            let mut slot = lock(&self.requester);
            if slot.as_ref().is_some_and(|u| u.will_unpark(parker)) {
                *slot = None;
            }
        }
    }

    /// Whether the holder may block past `tick` (its deadline is later, or it has none),
    /// so that arming a timer for `tick` must notify it.
    pub fn sleeps_past(&self, tick: u64) -> bool {
        tick < self.wait.load(SeqCst) & !REQUESTED
    }

    /// Whether the fallback driver parks, standing down for a tulip loop or for another
    /// holder of the lock (diagnostics and tests): once this is seen while a loop keeps
    /// running, the fallback drives no more turns until the last loop leaves (rule 8).
    pub fn fallback_stood_down(&self) -> bool {
        self.stood_down.load(SeqCst)
    }

    /// Whether a thread holds the lock (diagnostics and tests).
    pub fn is_locked(&self) -> bool {
        self.state.load(SeqCst) & LOCKED != 0
    }

    /// Whether nothing is left over: lock free, no wait published, no request pending, no
    /// requester parked. What the models check after every thread has finished.
    #[cfg(any(loom, test))]
    pub fn is_quiescent(&self) -> bool {
        !self.is_locked()
            && self.wait.load(SeqCst) == NOT_WAITING
            && lock(&self.requester).is_none()
    }
}

impl Default for Handoff {
    fn default() -> Self {
        Handoff::new()
    }
}

impl fmt::Debug for Handoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handoff")
            .field("state", &self.state.load(SeqCst))
            .field("wait", &self.wait.load(SeqCst))
            .finish_non_exhaustive()
    }
}

/// The held lock. Dropping it releases normally (rule 3), also when a turn unwinds.
#[derive(Debug)]
pub(crate) struct Held<'a> {
    handoff: &'a Handoff,
}

impl Held<'_> {
    /// The wait protocol for one blocking turn; `in_reactor` is the holder's flag (rule 5).
    pub(crate) fn wait<'s>(&'s self, in_reactor: Option<&'s AtomicBool>) -> Wait<'s> {
        Wait {
            word: &self.handoff.wait,
            in_reactor,
        }
    }

    pub(crate) fn release(self, how: Release) {
        let h = self.handoff;
        std::mem::forget(self);
        match how {
            // Rule 4.
            Release::Quiet => {
                h.state.fetch_and(!LOCKED, SeqCst);
            }
            // Rule 3.
            Release::HandOff => {
                if h.state.fetch_and(!(LOCKED | STANDBY), SeqCst) & STANDBY != 0 {
                    h.wake_standby();
                }
            }
        }
    }

    /// Rule 7: a release (`how`), then the parked requester (if any) is woken.
    fn yield_to_requester(self, how: Release) {
        let requester = lock(&self.handoff.requester).take();
        self.release(how);
        if let Some(u) = requester {
            u.unpark();
        }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        // Rule 3.
        let h = self.handoff;
        if h.state.fetch_and(!(LOCKED | STANDBY), SeqCst) & STANDBY != 0 {
            h.wake_standby();
        }
    }
}

/// The holder's side of the wait word for one blocking turn (rules 5 and 6); see
/// [`Backend::react`].
#[derive(Debug)]
pub struct Wait<'a> {
    word: &'a AtomicU64,
    in_reactor: Option<&'a AtomicBool>,
}

impl Wait<'_> {
    /// Publishes "may block, deadline not known yet": from now on a timer armed anywhere
    /// notifies (see [`Handoff::sleeps_past`]) and a request can reach us.
    pub fn begin(&self) {
        // Rule 1: only the holder writes the word, and it is NOT_WAITING between turns, so no
        // request bit can be overwritten here.
        self.word.store(WAIT_FOREVER, SeqCst);
    }

    /// Narrows the published deadline to `tick` before blocking: only timers earlier than
    /// that need to notify. Leaves the word alone when a request arrived meanwhile (it
    /// notified, so the wait returns at once).
    pub fn until(&self, tick: u64) {
        let tick = tick.clamp(1, WAIT_FOREVER);
        let _ = self
            .word
            .compare_exchange(WAIT_FOREVER, tick, SeqCst, SeqCst);
    }

    /// Ends the turn's wait: clears the holder's `in_reactor` flag (rule 5) and the wait
    /// word, and returns whether a request arrived during the wait (rule 6).
    pub fn end(&self) -> bool {
        if let Some(flag) = self.in_reactor {
            flag.store(false, SeqCst);
        }
        self.word.swap(NOT_WAITING, SeqCst) & REQUESTED != 0
    }
}

/// The shared half of a seat: how other threads wake it wherever it sleeps (rule 5).
pub struct Signal {
    unparker: Unparker,
    /// Set while the seat's thread may block in the backend, where a token does not reach it.
    in_reactor: AtomicBool,
}

impl Signal {
    /// The signal that wakes the parker `unparker` belongs to.
    pub fn new(unparker: Unparker) -> Signal {
        Signal {
            unparker,
            in_reactor: AtomicBool::new(false),
        }
    }

    /// Wakes the seat: sets its token, and notifies `backend` if the seat's thread may be
    /// blocked in it, whatever `unpark` said (rule 5).
    pub fn wake(&self, backend: &impl Backend) {
        self.unparker.unpark();
        if self.in_reactor.load(SeqCst) {
            backend.notify();
        }
    }

    /// Whether this signal wakes `parker`.
    fn belongs_to(&self, parker: &Parker) -> bool {
        self.unparker.will_unpark(parker)
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal")
            .field("in_reactor", &self.in_reactor.load(SeqCst))
            .finish_non_exhaustive()
    }
}

/// The thread's own half of a seat: its parker, its role and whether it just yielded.
pub struct SeatState {
    parker: Parker,
    role: Role,
    /// Set by a yield (rule 7) or a failed turn: the next wait is a pause, not a turn.
    pause: Cell<bool>,
}

impl SeatState {
    /// A seat for the thread that owns `parker`.
    pub fn new(parker: Parker, role: Role) -> SeatState {
        SeatState {
            parker,
            role,
            pause: Cell::new(false),
        }
    }

    /// A signal that wakes this seat.
    pub fn signal(&self) -> Signal {
        Signal::new(self.parker.unparker())
    }

    /// The seat's parker, for a thread that must sleep without driving.
    pub fn parker(&self) -> &Parker {
        &self.parker
    }

    /// Waits for something to do: returns after `signal` fired, or after a turn of the
    /// backend if this seat got to drive (one turn, or until `signal` fired for
    /// [`Role::BlockOn`]), or after the pause that follows a yield. May return spuriously.
    ///
    /// `signal` must be this seat's own (from [`SeatState::signal`]).
    ///
    /// # Errors
    ///
    /// When the backend fails. The lock is released, and the next call pauses instead of
    /// driving at once, so a caller that retries does not spin.
    pub fn wait(
        &self,
        handoff: &Handoff,
        backend: &impl Backend,
        signal: &Signal,
    ) -> io::Result<()> {
        debug_assert!(
            signal.belongs_to(&self.parker),
            "a seat waits with its own signal"
        );
        if self.pause.take() {
            // Rule 7.
            park_timeout(&self.parker, YIELD_PAUSE);
            return Ok(());
        }
        // A wake since the caller last looked: nothing to wait for, and no reason to touch
        // the lock (taking and releasing it would wake standby for nothing).
        if take_token(&self.parker) {
            return Ok(());
        }
        let Some(held) = handoff.lock_or_standby(&self.parker) else {
            // On standby (rule 2). A `block_on` thread has work of its own waiting for I/O:
            // rather than have an idle holder forward every event to it, it asks for the lock.
            if self.role == Role::BlockOn {
                handoff.request_for(backend, &self.parker);
            }
            self.parker.park();
            return Ok(());
        };
        loop {
            // Rule 5: publish, then check the token, then block.
            signal.in_reactor.store(true, SeqCst);
            if take_token(&self.parker) {
                signal.in_reactor.store(false, SeqCst);
                break;
            }
            let turn = backend.react(Some(&held.wait(Some(&signal.in_reactor))));
            // `end` cleared it, unless the backend failed before its wait.
            signal.in_reactor.store(false, SeqCst);
            match turn {
                Err(e) => {
                    self.pause.set(true);
                    drop(held);
                    return Err(e);
                }
                Ok(true) => {
                    // Rule 7.
                    held.yield_to_requester(Release::Quiet);
                    self.pause.set(true);
                    return Ok(());
                }
                Ok(false) => {}
            }
            if self.role != Role::BlockOn || take_token(&self.parker) {
                break;
            }
        }
        held.release(self.role.release());
        Ok(())
    }

    /// A busy seat's look at the backend: one turn without blocking if the lock is free;
    /// otherwise a request to the holder, if it waits (rule 6). The turn publishes no wait,
    /// so no request can reach it.
    pub fn poll(&self, handoff: &Handoff, backend: &impl Backend) {
        match handoff.try_lock() {
            Some(held) => {
                let _ = backend.react(None);
                held.release(self.role.release());
            }
            None => {
                handoff.request(backend);
            }
        }
    }

    /// Stops driving for good: hands off (rules 4 and 7). A worker releases quietly; the
    /// other roles release normally, except after a yield, which is quiet too.
    pub fn leave(&self, handoff: &Handoff) {
        handoff.hand_off();
    }
}

impl fmt::Debug for SeatState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeatState")
            .field("role", &self.role)
            .field("pause", &self.pause.get())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::{Arc, mpsc};

    use super::*;
    use crate::reactor::Reactor;

    /// A private reactor (not the process-wide one other tests drive), leaked for `'static`.
    fn reactor() -> &'static Reactor {
        Box::leak(Box::new(Reactor::new()))
    }

    fn until_waiting(h: &Handoff) {
        while h.wait.load(SeqCst) == NOT_WAITING {
            std::thread::yield_now();
        }
    }

    /// A worker that waits in a private reactor with nothing to do; returns its yield flag.
    fn idle_holder(r: &'static Reactor) -> mpsc::Receiver<bool> {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let seat = SeatState::new(Parker::new(), Role::Worker);
            let signal = seat.signal();
            seat.wait(&r.handoff, r, &signal).unwrap();
            tx.send(seat.pause.get()).unwrap();
        });
        rx
    }

    #[test]
    fn a_request_reaches_the_waiting_holder_once_and_never_outlives_its_wait() {
        let r = reactor();
        // Nobody waits: the request is dropped, not left for a later holder (rule 6).
        assert!(!r.handoff.request(r));
        let yielded = idle_holder(r);
        until_waiting(&r.handoff);
        assert!(r.handoff.request(r));
        // A second request adds nothing: it finds the first one pending (and reports the
        // holder as asked), or the holder's wait already over (and is dropped). Which one
        // depends on how fast the holder wakes, so only the end state is checked.
        let _ = r.handoff.request(r);
        let yielded = yielded
            .recv_timeout(Duration::from_secs(20))
            .expect("the holder was not interrupted");
        assert!(yielded, "the holder did not yield");
        assert!(r.handoff.is_quiescent());
        assert!(!r.handoff.request(r));
    }

    #[test]
    fn a_yield_wakes_the_parked_requester_and_no_standby_thread() {
        let r = reactor();
        let requester = Parker::new();
        let bystander = Parker::new();
        let yielded = idle_holder(r);
        until_waiting(&r.handoff);
        assert!(r.handoff.lock_or_standby(&bystander).is_none());
        r.handoff.request_for(r, &requester);
        assert!(
            requester.park_timeout(Duration::from_secs(20)),
            "the requester was not woken"
        );
        assert!(yielded.recv_timeout(Duration::from_secs(20)).unwrap());
        // Rule 7: the yield released quietly, so the bystander is still registered.
        assert_eq!(lock(&r.handoff.standby).len(), 1);
        assert!(!take_token(&bystander), "the bystander was woken");
        assert!(r.handoff.is_quiescent());
    }

    #[test]
    fn quiet_release_keeps_standby_asleep_until_hand_off() {
        let r = reactor();
        let parker = Parker::new();
        let held = r.handoff.try_lock().unwrap();
        assert!(r.handoff.lock_or_standby(&parker).is_none());
        held.release(Release::Quiet);
        assert!(!take_token(&parker), "woken by a quiet release");
        r.handoff.hand_off();
        assert!(take_token(&parker), "the hand-off did not wake");

        // A normal release (also the drop of a held lock) wakes standby.
        let held = r.handoff.try_lock().unwrap();
        assert!(r.handoff.lock_or_standby(&parker).is_none());
        drop(held);
        assert!(take_token(&parker), "the release did not wake");

        // A hand-off while another seat holds the lock leaves standby to that holder.
        let held = r.handoff.try_lock().unwrap();
        assert!(r.handoff.lock_or_standby(&parker).is_none());
        r.handoff.hand_off();
        assert!(!take_token(&parker));
        held.release(Release::HandOff);
        assert!(take_token(&parker));
    }

    /// A backend whose one blocking turn sees a bystander go on standby and a requester
    /// ask for the lock, as two `block_on` loops starting while the fallback drives do.
    struct TwoLoopsArrive<'a> {
        handoff: &'a Handoff,
        bystander: &'a Parker,
        requester: &'a Parker,
    }

    impl Backend for TwoLoopsArrive<'_> {
        fn notify(&self) {}

        fn react(&self, wait: Option<&Wait<'_>>) -> io::Result<bool> {
            let wait = wait.expect("the fallback's turn blocks");
            wait.begin();
            assert!(self.handoff.lock_or_standby(self.bystander).is_none());
            self.handoff.request_for(self, self.requester);
            Ok(wait.end())
        }
    }

    /// Rule 7: the fallback stands down after a yield, so its release must wake standby
    /// as well as the requester (which may leave at once with its work done).
    #[test]
    fn the_fallbacks_yield_wakes_standby_too() {
        let h = Handoff::new();
        let (fallback, bystander, requester) = (Parker::new(), Parker::new(), Parker::new());
        let backend = TwoLoopsArrive {
            handoff: &h,
            bystander: &bystander,
            requester: &requester,
        };
        assert!(h.start_fallback(&fallback));
        h.fallback_turn(&backend, &fallback).unwrap();
        assert!(take_token(&requester), "the requester was not woken");
        assert!(
            take_token(&bystander),
            "the fallback yielded quietly and left standby asleep"
        );
        assert!(h.is_quiescent() && !h.is_locked());
        assert!(lock(&h.standby).is_empty());
    }

    /// Rule 7: a `block_on` seat that yielded (a quiet release) and then stops driving hands
    /// off, like a worker.
    #[test]
    fn a_seat_that_leaves_after_a_quiet_yield_hands_off() {
        for role in [Role::BlockOn, Role::Loop, Role::Worker] {
            let h = Handoff::new();
            let seat = SeatState::new(Parker::new(), role);
            let bystander = Parker::new();
            let held = h.try_lock().unwrap();
            assert!(h.lock_or_standby(&bystander).is_none());
            held.release(Release::Quiet);
            seat.leave(&h);
            assert!(take_token(&bystander), "{role:?} left standby asleep");
        }
    }

    #[test]
    fn a_wake_from_another_thread_interrupts_the_holder_even_with_a_stale_token() {
        let r = reactor();
        let seat = SeatState::new(Parker::new(), Role::Loop);
        let signal = Arc::new(seat.signal());
        let s2 = signal.clone();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            until_waiting(&r.handoff);
            // The token is already set when the wake comes (rule 5): the seat's thread is in
            // epoll, so the wake must still notify.
            s2.wake(r);
            s2.wake(r);
            tx.send(()).unwrap();
        });
        seat.wait(&r.handoff, r, &signal).unwrap();
        rx.recv_timeout(Duration::from_secs(20)).unwrap();
        assert!(r.handoff.is_quiescent());
    }
}
