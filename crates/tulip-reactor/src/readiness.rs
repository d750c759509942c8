//! The readiness word of one source, and the narrowing of its registration: the part of
//! `source.rs`'s protocol that two threads race on, built on the std/loom shim (`sync.rs`) so
//! that `tests/loom.rs` checks it.
//!
//! # The word
//!
//! One `AtomicUsize` per source:
//!
//! | bits | meaning |
//! |---|---|
//! | 0, 1 | read / write edge latched (set by the reactor, cleared by a task: `source.rs` rule 2) |
//! | 2, 3 | read / write closed (latched for good on a stream's hang-up: rule 4) |
//! | 4, 5 | read / write *disarmed*: the registration does not report this direction |
//! | 6.. | a counter, bumped by every recorded event |
//!
//! # Narrowing (the epoll backend, `source.rs` rule 5)
//!
//! An edge for a direction whose readiness is latched already tells nobody anything, and on a
//! busy socket such edges come with every datagram that arrives and every send buffer freed (a
//! UDP socket reports `EPOLLOUT` for each datagram sent): each one wakes a driver for nothing.
//! So after [`STRIKES`] such events in a row the backend *narrows* the registration: it
//! disarms every direction latched ready ([`Readiness::narrow`]). A task that clears a
//! disarmed direction re-arms it in the same compare-exchange ([`Readiness::clear`]).
//!
//! Rules:
//! 1. **A direction is disarmed only while it is ready**, in every value the word takes:
//!    `narrow` disarms only directions it finds ready, in the same atomic step; `clear` re-arms
//!    the direction it leaves unready, in the same step; `record` only adds readiness. So a task
//!    that waits for a direction (which it does only once it is unready) always waits for an
//!    armed one: nothing is lost, with both sides meeting on this one word.
//! 2. **The registration follows the word.** Every change of the disarmed bits is followed by a
//!    [`Registration::sync`]: under the registration's lock it reads the word and, when the
//!    armed set differs from what the kernel was last told, tells it (`EPOLL_CTL_MOD`). The
//!    lock orders the syncs, and the last one reads a word that holds every change made
//!    before it, so the kernel ends up with the word's armed set.
//! 3. Between a re-arm in the word and its `EPOLL_CTL_MOD`, data may arrive unreported. That
//!    is safe: a modify makes the kernel check the descriptor at once and queue an event for
//!    every armed direction that is ready.
//! 4. Fresh sources are optimistically ready, so their first events are redundant too; the
//!    strikes spare a short-lived connection the two `epoll_ctl`s of narrowing at once.

#![cfg_attr(not(loom), allow(unreachable_pub))]
// Narrowing is the epoll backend's; the polling backend re-arms one-shot registrations
// instead and uses only the word's latch and clear.
#![cfg_attr(
    all(not(loom), any(not(target_os = "linux"), feature = "polling-backend")),
    allow(dead_code)
)]

use crate::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use crate::sync::{Mutex, lock};

/// A direction of readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Reading (`EPOLLIN`).
    Read = 0,
    /// Writing (`EPOLLOUT`).
    Write = 1,
}

impl Dir {
    /// The edge bit that a `WouldBlock` (or a short stream read or write) clears.
    pub(crate) fn bit(self) -> usize {
        1 << self as usize
    }

    /// The bits that make this direction ready: the edge bit or the latched closed bit.
    pub(crate) fn ready_mask(self) -> usize {
        self.bit() | self.bit() << 2
    }

    /// The bit that says the registration does not report this direction.
    fn disarmed_bit(self) -> usize {
        self.bit() << 4
    }

    /// This direction as an [`ARM_IN`] / [`ARM_OUT`] bit.
    fn arm_bit(self) -> u8 {
        1 << self as u8
    }
}

/// Both edge bits: a fresh source is optimistically ready.
pub(crate) const READY_MASK: usize = 0b11;
const COUNT_ONE: usize = 0b100_0000;

/// `Registration`'s direction bits: the registration reports reads / writes.
pub const ARM_IN: u8 = 1;
/// See [`ARM_IN`].
pub const ARM_OUT: u8 = 2;
/// Both directions: how every registration starts.
pub const ARM_BOTH: u8 = ARM_IN | ARM_OUT;

/// How many events in a row must bring no news before a registration is narrowed (rule 4).
pub const STRIKES: u8 = 4;

/// What [`Readiness::clear`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cleared {
    /// An event arrived since the snapshot: nothing cleared, the caller tries again.
    No,
    /// The direction is no longer marked ready.
    Yes,
    /// As `Yes`, and the direction was disarmed: it is re-armed in the word, and the caller
    /// must [`Registration::sync`].
    Rearmed,
}

/// The readiness word (see the module docs).
#[derive(Debug)]
pub struct Readiness(AtomicUsize);

impl Readiness {
    /// Optimistically ready in both directions, both armed.
    pub fn new() -> Readiness {
        Readiness(AtomicUsize::new(READY_MASK))
    }

    /// The word.
    #[inline]
    pub fn load(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    /// Records an event's readiness `bits` (edge and closed bits) and bumps the counter;
    /// returns the word before.
    pub fn record(&self, bits: usize) -> usize {
        debug_assert_eq!(bits & !0b1111, 0, "only edge and closed bits");
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                Some(cur.wrapping_add(COUNT_ONE) | bits)
            })
            .unwrap_or_else(|cur| cur)
    }

    /// Clears `dir`'s edge bit if the word is still `snap` (no event since: `source.rs` rule
    /// 2), re-arming `dir` when that leaves it unready (rule 1).
    #[inline]
    pub fn clear(&self, dir: Dir, snap: usize) -> Cleared {
        let mut new = snap & !dir.bit();
        let rearm = new & dir.ready_mask() == 0 && new & dir.disarmed_bit() != 0;
        if rearm {
            new &= !dir.disarmed_bit();
        }
        match self
            .0
            .compare_exchange(snap, new, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) if rearm => Cleared::Rearmed,
            Ok(_) => Cleared::Yes,
            Err(_) => Cleared::No,
        }
    }

    /// Disarms every direction that is ready; `false` when there was nothing to disarm.
    pub fn narrow(&self) -> bool {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                let mut disarm = 0;
                for dir in [Dir::Read, Dir::Write] {
                    if cur & dir.ready_mask() != 0 {
                        disarm |= dir.disarmed_bit();
                    }
                }
                let new = cur | disarm;
                (new != cur).then_some(new)
            })
            .is_ok()
    }

    /// Whether `dir` is ready in the word `snap` (for models).
    #[cfg(loom)]
    pub fn is_ready(snap: usize, dir: Dir) -> bool {
        snap & dir.ready_mask() != 0
    }

    /// The directions the registration should report, given the word `snap`.
    pub fn armed(snap: usize) -> u8 {
        let mut armed = 0;
        for dir in [Dir::Read, Dir::Write] {
            if snap & dir.disarmed_bit() == 0 {
                armed |= dir.arm_bit();
            }
        }
        armed
    }
}

impl Default for Readiness {
    fn default() -> Readiness {
        Readiness::new()
    }
}

/// A backend's side of narrowing: the redundant-event count and what the kernel was last told.
#[derive(Debug)]
pub struct Registration {
    /// The `ARM_*` set of the last registration change; the lock orders the changes (rule 2).
    told: Mutex<u8>,
    /// Redundant events in a row (only the thread recording events touches it).
    strikes: AtomicU8,
}

impl Registration {
    /// A registration that reports both directions.
    pub fn new() -> Registration {
        Registration {
            told: Mutex::new(ARM_BOTH),
            strikes: AtomicU8::new(0),
        }
    }

    /// After an event was recorded in `word`: counts it when it was `redundant` (it latched
    /// nothing new) and, at [`STRIKES`], narrows the word and syncs through `modify`.
    pub fn after_event(&self, word: &Readiness, redundant: bool, modify: impl FnOnce(u8)) {
        if !redundant {
            // A plain store: one thread records a source's events at a time.
            if self.strikes.load(Ordering::Relaxed) != 0 {
                self.strikes.store(0, Ordering::Relaxed);
            }
            return;
        }
        let strikes = self.strikes.load(Ordering::Relaxed);
        if strikes < STRIKES {
            self.strikes.store(strikes + 1, Ordering::Relaxed);
            return;
        }
        if word.narrow() {
            self.sync(word, modify);
        }
    }

    /// After a task's [`Readiness::clear`]: syncs when it re-armed a direction.
    #[inline]
    pub fn after_clear(&self, word: &Readiness, cleared: Cleared, modify: impl FnOnce(u8)) {
        if cleared == Cleared::Rearmed {
            self.sync(word, modify);
        }
    }

    /// Tells the kernel (`modify`, with the `ARM_*` set) the word's armed directions, if that
    /// is not what it was last told (rule 2).
    #[cold]
    pub fn sync(&self, word: &Readiness, modify: impl FnOnce(u8)) {
        let mut told = lock(&self.told);
        let want = Readiness::armed(word.load());
        if *told != want {
            modify(want);
            *told = want;
        }
    }

    /// What the kernel was last told (for tests and models).
    #[cfg(any(test, loom))]
    pub fn told(&self) -> u8 {
        *lock(&self.told)
    }
}

impl Default for Registration {
    fn default() -> Registration {
        Registration::new()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn narrowing_disarms_only_ready_directions() {
        let r = Readiness::new();
        let snap = r.load();
        assert_eq!(r.clear(Dir::Read, snap), Cleared::Yes);
        assert!(r.narrow(), "write is ready: it is disarmed");
        assert_eq!(Readiness::armed(r.load()), ARM_IN);
        assert!(!r.narrow(), "nothing more to disarm");
    }

    #[test]
    fn a_clear_rearms_what_it_leaves_unready() {
        let r = Readiness::new();
        assert!(r.narrow());
        assert_eq!(Readiness::armed(r.load()), 0);
        let snap = r.load();
        assert_eq!(r.clear(Dir::Write, snap), Cleared::Rearmed);
        assert_eq!(Readiness::armed(r.load()), ARM_OUT);
        // A stale snapshot clears nothing (an event came in between).
        assert_eq!(r.clear(Dir::Read, snap), Cleared::No);
    }

    #[test]
    fn a_closed_direction_stays_disarmed() {
        let r = Readiness::new();
        r.record(0b0100); // read closed: ready for good
        assert!(r.narrow());
        let snap = r.load();
        assert_eq!(
            r.clear(Dir::Read, snap),
            Cleared::Yes,
            "still ready: closed"
        );
        assert_eq!(Readiness::armed(r.load()) & ARM_IN, 0);
    }

    #[test]
    fn strikes_come_before_narrowing() {
        let r = Readiness::new();
        let reg = Registration::new();
        let mut told = Vec::new();
        for _ in 0..STRIKES {
            reg.after_event(&r, true, |m| told.push(m));
        }
        assert!(told.is_empty(), "narrowed too early");
        reg.after_event(&r, false, |m| told.push(m));
        for _ in 0..STRIKES {
            reg.after_event(&r, true, |m| told.push(m));
        }
        assert!(told.is_empty(), "news starts the count again");
        reg.after_event(&r, true, |m| told.push(m));
        assert_eq!(told, [0]);
        assert_eq!(reg.told(), 0);
        let snap = r.load();
        let cleared = r.clear(Dir::Read, snap);
        reg.after_clear(&r, cleared, |m| told.push(m));
        assert_eq!(told, [0, ARM_IN]);
    }
}
