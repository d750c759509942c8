//! The fair counting semaphore under `Lock`, `RwLock`, `Semaphore` and `BoundedSemaphore`.
//!
//! `state` holds `permits << 1 | QUEUED`. The rules, all relied on below:
//!
//! 1. `QUEUED` is set exactly while the wait list is non-empty, and both change only with the
//!    wait-list mutex held.
//! 2. While `QUEUED` is set, `permits == 0`: a waiter that queues first takes every permit
//!    there is as a partial grant, and releases go to the waiters before the counter.
//! 3. While `QUEUED` is set, only a holder of the wait-list mutex changes `state`: the lock-free
//!    paths (acquire and release) are compare-and-swaps on a value without `QUEUED`, so they fail
//!    and fall back to the mutex.
//!
//! 4. Queued waiters get tickets in FIFO order and are granted in ticket order (a cancelled
//!    waiter leaves without a grant). The granter dequeues the waiter and publishes
//!    `granted` = ticket + 1 with the mutex held, so a waiter learns of its grant from one
//!    atomic load, without the mutex, and never looks for its entry again.
//!
//! Hence the uncontended acquire and release are one load and one CAS each, no mutex, and
//! contended permits are handed over in FIFO order: a newcomer cannot take a permit while
//! anybody is queued (no barging), which is what makes `Lock` and `Semaphore` fair.

use crate::sync::{AtomicUsize, Mutex, Ordering, lock};
use crate::wait_list::{WakeList, wake_all};
use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

const QUEUED: usize = 1;
const ONE: usize = 2;

/// Most permits a semaphore can hold.
pub(crate) const MAX_PERMITS: usize = usize::MAX >> 3;

/// Whether the waiter with `ticket` was granted, given `granted` (one past the last granted
/// ticket). Wrapping arithmetic keeps this right across overflow while fewer than
/// `usize::MAX / 2` waiters are queued.
fn is_granted(granted: usize, ticket: usize) -> bool {
    granted.wrapping_sub(ticket).wrapping_sub(1) < usize::MAX / 2
}

/// A queued acquirer, or the tombstone of one that left.
struct Waiter {
    /// Its place in the FIFO (rule 4).
    ticket: usize,
    /// Permits still missing; it is granted when this reaches zero.
    missing: usize,
    /// Its latest waker; `None` once it left the queue (a tombstone).
    waker: Option<Waker>,
}

/// The queued acquirers in ticket order, as a ring rather than a linked list: a hand-off
/// reads the front entry and a newcomer writes the back one, so under contention each touches
/// one or two cache lines the other core wrote, where a linked list also rewrites its
/// neighbours' links. A waiter that leaves from the middle becomes a tombstone, found by its
/// ticket; the ring never starts with one, and is compacted when tombstones outnumber the
/// waiters.
struct Waiters {
    ring: VecDeque<Waiter>,
    /// Tombstones in `ring`.
    tombstones: usize,
    /// The next ticket to hand out.
    next_ticket: usize,
}

/// Compaction starts above this many tombstones (and when they are over half the ring).
const COMPACT_AT: usize = 32;

impl Waiters {
    const fn new() -> Self {
        Waiters {
            ring: VecDeque::new(),
            tombstones: 0,
            next_ticket: 0,
        }
    }

    /// Whether nobody is queued (the ring never starts with a tombstone).
    fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// Queues a waiter missing `missing` permits at the back; returns its ticket.
    fn push(&mut self, missing: usize, waker: &Waker) -> usize {
        let ticket = self.next_ticket;
        self.next_ticket = ticket.wrapping_add(1);
        self.ring.push_back(Waiter {
            ticket,
            missing,
            waker: Some(waker.clone()),
        });
        ticket
    }

    /// The index of the queued waiter `ticket`. Without compaction the index is the distance
    /// from the front ticket; after one, tickets are still increasing, so it is a search.
    fn index(&self, ticket: usize) -> Option<usize> {
        let front = self.ring.front()?.ticket;
        let guess = ticket.wrapping_sub(front);
        match self.ring.get(guess) {
            Some(w) if w.ticket == ticket => Some(guess),
            _ => self
                .ring
                .binary_search_by_key(&guess, |w| w.ticket.wrapping_sub(front))
                .ok(),
        }
        .filter(|&i| self.ring[i].waker.is_some())
    }

    /// Stores `waker` for the queued waiter `ticket` unless it would wake the same task.
    fn set_waker(&mut self, ticket: usize, waker: &Waker) {
        if let Some(i) = self.index(ticket) {
            match &mut self.ring[i].waker {
                Some(old) if old.will_wake(waker) => {}
                w => *w = Some(waker.clone()),
            }
        }
    }

    /// Removes the queued waiter `ticket`; returns the permits it was still missing.
    fn remove(&mut self, ticket: usize) -> usize {
        let i = self
            .index(ticket)
            .expect("a waiter that was not granted is queued");
        let w = &mut self.ring[i];
        w.waker = None;
        let missing = w.missing;
        self.tombstones += 1;
        self.trim();
        if self.tombstones > COMPACT_AT && 2 * self.tombstones > self.ring.len() {
            self.ring.retain(|w| w.waker.is_some());
            self.tombstones = 0;
        }
        missing
    }

    /// Gives up to `*n` permits to the front waiter, taking them from `*n`. If that completes
    /// its grant, dequeues it and returns its waker and ticket.
    fn grant_front(&mut self, n: &mut usize) -> Option<(Option<Waker>, usize)> {
        let front = self.ring.front_mut()?;
        let give = front.missing.min(*n);
        front.missing -= give;
        *n -= give;
        if front.missing != 0 {
            return None;
        }
        let w = self.ring.pop_front()?;
        self.trim();
        Some((w.waker, w.ticket))
    }

    /// Drops the tombstones at the front.
    fn trim(&mut self) {
        while self.ring.front().is_some_and(|w| w.waker.is_none()) {
            self.ring.pop_front();
            self.tombstones -= 1;
        }
    }
}

/// The semaphore: the permit word, then the hand-off state on a cache line of its own.
///
/// Under contention `state` stays `QUEUED` (rule 2) and is only read: every acquirer's first
/// poll and every release load it before falling back to the mutex. The mutex, the ring and
/// `granted` are written at every hand-off, from whichever core holds the mutex. Sharing a
/// line, each hand-off made the next load of `state` on the other core a miss; apart, the
/// contended benchmark (16 tasks, 2 permits, 2 workers) ran 10–13% faster (docs/BENCHMARKS.md,
/// session 17). The price is size: 128 bytes, 64-aligned, for every `Lock` and `Semaphore`.
pub(crate) struct RawSemaphore {
    state: AtomicUsize,
    hand_off: HandOff,
}

/// What a contended hand-off writes, kept off `state`'s cache line.
#[repr(align(64))]
struct HandOff {
    /// One past the ticket of the last waiter granted (rule 4); written under `waiters`.
    granted: AtomicUsize,
    waiters: Mutex<Waiters>,
}

impl std::fmt::Debug for RawSemaphore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawSemaphore")
            .field("permits", &self.available())
            .field(
                "queued",
                &(self.state.load(Ordering::Relaxed) & QUEUED != 0),
            )
            .finish()
    }
}

impl RawSemaphore {
    pub(crate) fn new(permits: usize) -> Self {
        assert!(
            permits <= MAX_PERMITS,
            "a semaphore holds at most {MAX_PERMITS} permits"
        );
        RawSemaphore {
            state: AtomicUsize::new(permits * ONE),
            hand_off: HandOff {
                granted: AtomicUsize::new(0),
                waiters: Mutex::new(Waiters::new()),
            },
        }
    }

    pub(crate) fn available(&self) -> usize {
        self.state.load(Ordering::Acquire) / ONE
    }

    /// Whether anybody waits for permits.
    pub(crate) fn has_waiters(&self) -> bool {
        self.state.load(Ordering::Acquire) & QUEUED != 0
    }

    /// Takes `n` permits if they are free and nobody is queued: one CAS when uncontended.
    #[inline]
    pub(crate) fn try_acquire(&self, n: usize) -> bool {
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            if s & QUEUED != 0 || s / ONE < n {
                return false;
            }
            match self.state.compare_exchange_weak(
                s,
                s - n * ONE,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => s = actual,
            }
        }
    }

    /// Returns `n` permits, handing them to queued waiters first (FIFO). Inline (the callers
    /// are in other crates, and the uncontended release is one CAS); the hand-off is not.
    #[inline]
    pub(crate) fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut s = self.state.load(Ordering::Relaxed);
        while s & QUEUED == 0 {
            assert!(
                s / ONE + n <= MAX_PERMITS,
                "semaphore permit count overflow"
            );
            match self.state.compare_exchange_weak(
                s,
                s + n * ONE,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => s = actual,
            }
        }
        self.release_queued(n);
    }

    /// `release` while somebody is queued (rule 3: only under the mutex).
    #[inline(never)]
    fn release_queued(&self, n: usize) {
        let mut list = lock(&self.hand_off.waiters);
        let waker = self.release_locked(&mut list, n);
        drop(list);
        wake_all(waker);
    }

    /// Distributes `n` permits with the wait-list mutex held; returns the wakers to wake.
    fn release_locked(&self, list: &mut Waiters, mut n: usize) -> WakeList {
        let mut wakers = WakeList::new();
        if self.state.load(Ordering::Acquire) & QUEUED == 0 {
            // Rule 1: nobody is queued and racing lock-free CASes are possible; add atomically.
            if n > 0 {
                self.state.fetch_add(n * ONE, Ordering::Release);
            }
            return wakers;
        }
        while n > 0 {
            // Rule 4: the waiter is dequeued, now publish the grant.
            let Some((waker, ticket)) = list.grant_front(&mut n) else {
                break;
            };
            self.hand_off
                .granted
                .store(ticket.wrapping_add(1), Ordering::Release);
            if let Some(w) = waker {
                wakers.push(w);
            }
        }
        if list.is_empty() {
            // The list may have been emptied by a removal rather than a grant, so this is
            // where rule 1 is restored too.
            // Rules 2 and 3: `state` is `QUEUED` with no permits and nobody else may change it.
            self.state.store(n * ONE, Ordering::Release);
        }
        wakers
    }

    /// Queues an acquirer of `n` permits unless it can take them at once (checked under the
    /// mutex, so no release is missed). `Ok(())` means acquired.
    fn enqueue(&self, n: usize, waker: &Waker) -> Result<(), usize> {
        let mut list = lock(&self.hand_off.waiters);
        let mut granted = 0;
        if list.is_empty() {
            let mut s = self.state.load(Ordering::Acquire);
            loop {
                let (next, took) = if s / ONE >= n {
                    (s - n * ONE, n)
                } else {
                    (QUEUED, s / ONE)
                };
                match self
                    .state
                    .compare_exchange_weak(s, next, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) if took == n => return Ok(()),
                    Ok(_) => {
                        granted = took;
                        break;
                    }
                    Err(actual) => s = actual,
                }
            }
        }
        Err(list.push(n - granted, waker))
    }

    /// A future acquiring `n` permits.
    #[inline]
    pub(crate) fn acquire(&self, n: usize) -> Acquire<'_> {
        Acquire {
            sem: self,
            n,
            key: None,
        }
    }
}

/// Future of [`RawSemaphore::acquire`]. Dropping it while queued gives back any partial grant,
/// and dropping it after it was granted but before it saw that gives the permits back (to the
/// next waiter), so no permit is lost.
pub(crate) struct Acquire<'a> {
    sem: &'a RawSemaphore,
    n: usize,
    /// Its ticket while queued.
    key: Option<usize>,
}

impl std::fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acquire")
            .field("n", &self.n)
            .field("queued", &self.key.is_some())
            .finish()
    }
}

impl std::future::Future for Acquire<'_> {
    type Output = ();

    /// Inline for the two common polls: the uncontended first one (one CAS) and the one after
    /// a grant (one load); queuing and spurious wake-ups are out of line.
    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        match this.key {
            None => {
                if this.sem.try_acquire(this.n) {
                    return Poll::Ready(());
                }
                this.queue(cx)
            }
            Some(ticket) => {
                // Rule 4: the grant is visible without the mutex; it is already dequeued.
                if is_granted(this.sem.hand_off.granted.load(Ordering::Acquire), ticket) {
                    this.key = None;
                    return Poll::Ready(());
                }
                this.poll_queued(cx)
            }
        }
    }
}

impl Acquire<'_> {
    /// The first poll when the lock-free CAS failed: queue (or take the permits under the mutex).
    #[inline(never)]
    fn queue(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self.sem.enqueue(self.n, cx.waker()) {
            Ok(()) => Poll::Ready(()),
            Err(key) => {
                self.key = Some(key);
                Poll::Pending
            }
        }
    }

    /// A poll while queued and not (yet) seen granted.
    #[inline(never)]
    fn poll_queued(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let this = self;
        match this.key {
            None => Poll::Ready(()),
            Some(ticket) => {
                let mut list = lock(&this.sem.hand_off.waiters);
                if is_granted(this.sem.hand_off.granted.load(Ordering::Acquire), ticket) {
                    this.key = None;
                    Poll::Ready(())
                } else {
                    list.set_waker(ticket, cx.waker());
                    Poll::Pending
                }
            }
        }
    }
}

impl Drop for Acquire<'_> {
    #[inline]
    fn drop(&mut self) {
        // Inline, so that the common drop (acquired, or never polled) costs one compare.
        if self.key.is_some() {
            self.leave();
        }
    }
}

impl Acquire<'_> {
    /// `Drop` of a queued acquirer: leaves the queue, giving back what it was granted.
    #[inline(never)]
    fn leave(&mut self) {
        let Some(ticket) = self.key.take() else {
            return;
        };
        let mut list = lock(&self.sem.hand_off.waiters);
        let held = if is_granted(self.sem.hand_off.granted.load(Ordering::Acquire), ticket) {
            // Granted but never told: pass every permit on (it is already dequeued).
            self.n
        } else {
            self.n - list.remove(ticket)
        };
        // Even with nothing to give back, the removal may have emptied the list: fix `QUEUED`.
        let wakers = self.sem.release_locked(&mut list, held);
        drop(list);
        wake_all(wakers);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_permit_word_has_a_cache_line_of_its_own() {
        // `state` is read at every contended acquire and release; the hand-off writes
        // everything else. They must not share a line (see `RawSemaphore`).
        let line = |offset: usize| offset / 64;
        assert_eq!(std::mem::align_of::<RawSemaphore>(), 64);
        assert_ne!(
            line(std::mem::offset_of!(RawSemaphore, state)),
            line(std::mem::offset_of!(RawSemaphore, hand_off))
        );
        assert!(
            std::mem::size_of::<HandOff>() <= 64,
            "the hand-off spans two lines"
        );
    }

    #[test]
    fn a_middle_waiter_leaves_as_a_tombstone_and_the_front_never_is_one() {
        let w = Waker::noop();
        let mut q = Waiters::new();
        let t: Vec<usize> = (0..4).map(|_| q.push(1, w)).collect();
        assert_eq!(q.remove(t[1]), 1);
        assert_eq!(q.remove(t[2]), 1);
        assert_eq!((q.ring.len(), q.tombstones), (4, 2));
        let mut n = 1;
        assert_eq!(q.grant_front(&mut n).map(|g| g.1), Some(t[0]));
        // The two tombstones behind the granted front went with it.
        assert_eq!((q.ring.len(), q.tombstones), (1, 0));
        assert_eq!(q.index(t[3]), Some(0));
        assert_eq!(q.index(t[1]), None);
    }

    #[test]
    fn tombstones_behind_a_waiting_front_are_compacted_and_tickets_still_found() {
        let w = Waker::noop();
        let mut q = Waiters::new();
        let t: Vec<usize> = (0..200).map(|_| q.push(1, w)).collect();
        for &ticket in t[1..].iter().step_by(2).chain(t[2..150].iter().step_by(2)) {
            q.remove(ticket);
            assert!(q.tombstones <= COMPACT_AT || 2 * q.tombstones <= q.ring.len());
        }
        // 100 odd and 74 even tickets left behind the front: compacted at least once.
        assert!(
            q.ring.len() < 100,
            "ring of {} never compacted",
            q.ring.len()
        );
        let live: Vec<usize> = std::iter::once(t[0])
            .chain(t[150..].iter().step_by(2).copied())
            .collect();
        assert_eq!(q.ring.len() - q.tombstones, live.len());
        for &ticket in &live {
            assert_eq!(q.ring[q.index(ticket).unwrap()].ticket, ticket);
        }
        assert_eq!(q.index(t[1]), None);
        let mut n = live.len();
        for &ticket in &live {
            assert_eq!(q.grant_front(&mut n).map(|g| g.1), Some(ticket));
        }
        assert!(q.is_empty());
    }

    #[test]
    fn a_partial_grant_keeps_the_front_waiter_queued() {
        let w = Waker::noop();
        let mut q = Waiters::new();
        let big = q.push(3, w);
        let mut n = 2;
        assert!(q.grant_front(&mut n).is_none());
        assert_eq!(n, 0);
        assert_eq!(q.remove(big), 1, "it was still missing one permit");
        assert!(q.is_empty());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push(usize),
        /// Removes a live waiter behind the front (at this position, modulo), so that
        /// tombstones pile up behind a front that stays and compaction runs.
        Remove(usize),
        RemoveFront,
        /// Queues 40 waiters and removes all but every 8th: enough tombstones to compact.
        Churn,
        Grant(usize),
        SetWaker(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0usize..3).prop_map(Op::Push),
            3 => any::<usize>().prop_map(Op::Remove),
            1 => Just(Op::RemoveFront),
            1 => Just(Op::Churn),
            1 => (0usize..4).prop_map(Op::Grant),
            1 => any::<usize>().prop_map(Op::SetWaker),
        ]
    }

    proptest! {
        /// The ring against a plain list of `(ticket, missing)`: same waiters, same order,
        /// same grants, every ticket found after any number of compactions, and no tombstone
        /// at the front.
        #[test]
        fn the_ring_matches_a_plain_fifo(ops in proptest::collection::vec(op(), 1..600)) {
            let w = Waker::noop();
            let mut q = Waiters::new();
            let mut model: Vec<(usize, usize)> = Vec::new();
            for op in ops {
                match op.clone() {
                    Op::Push(missing) => model.push((q.push(missing, w), missing)),
                    Op::Remove(i) if model.len() > 1 => {
                        let (ticket, missing) = model.remove(1 + i % (model.len() - 1));
                        prop_assert_eq!(q.remove(ticket), missing);
                    }
                    Op::Churn => {
                        let first = model.len();
                        for _ in 0..40 {
                            model.push((q.push(1, w), 1));
                        }
                        let mut i = first;
                        for k in 0..40 {
                            if k % 8 == 0 {
                                i += 1;
                            } else {
                                let (ticket, missing) = model.remove(i);
                                prop_assert_eq!(q.remove(ticket), missing);
                            }
                        }
                    }
                    Op::RemoveFront if !model.is_empty() => {
                        let (ticket, missing) = model.remove(0);
                        prop_assert_eq!(q.remove(ticket), missing);
                    }
                    Op::SetWaker(i) if !model.is_empty() => {
                        q.set_waker(model[i % model.len()].0, w);
                    }
                    Op::Grant(mut n) => {
                        let mut m = n;
                        loop {
                            let got = q.grant_front(&mut n).map(|g| g.1);
                            let want = match model.first_mut() {
                                Some(front) => {
                                    let give = front.1.min(m);
                                    front.1 -= give;
                                    m -= give;
                                    (front.1 == 0).then(|| model.remove(0).0)
                                }
                                None => None,
                            };
                            prop_assert_eq!(got, want);
                            prop_assert_eq!(n, m);
                            if got.is_none() || n == 0 {
                                break;
                            }
                        }
                    }
                    _ => {}
                }
                prop_assert_eq!(q.is_empty(), model.is_empty());
                prop_assert_eq!(q.ring.len() - q.tombstones, model.len());
                prop_assert!(q.ring.front().is_none_or(|f| f.waker.is_some()));
                if matches!(op, Op::Remove(_) | Op::RemoveFront | Op::Churn) {
                    // Only removals add tombstones; after one there are at most `COMPACT_AT`
                    // of them, or no more than there are waiters.
                    prop_assert!(q.tombstones <= COMPACT_AT || 2 * q.tombstones <= q.ring.len());
                }
                for &(ticket, missing) in &model {
                    let i = q.index(ticket);
                    prop_assert!(i.is_some(), "ticket {} lost", ticket);
                    prop_assert_eq!(q.ring[i.unwrap()].missing, missing);
                }
            }
        }
    }
}
