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
//!    waiter leaves without a grant). The granter frees the waiter's slot and publishes
//!    `granted` = ticket + 1 with the mutex held, so a waiter learns of its grant from one
//!    atomic load, without the mutex, and never touches its freed slot again.
//!
//! Hence the uncontended acquire and release are one load and one CAS each, no mutex, and
//! contended permits are handed over in FIFO order: a newcomer cannot take a permit while
//! anybody is queued (no barging), which is what makes `Lock` and `Semaphore` fair.

use crate::sync::{AtomicUsize, Mutex, Ordering, lock};
use crate::wait_list::{WaitList, WakeList, wake_all};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

const QUEUED: usize = 1;
const ONE: usize = 2;

/// Most permits a semaphore can hold.
pub(crate) const MAX_PERMITS: usize = usize::MAX >> 3;

/// A queued acquirer's bookkeeping.
struct Need {
    /// Permits it asked for.
    want: usize,
    /// Permits still missing; it is granted when this reaches zero.
    missing: usize,
    /// Its place in the FIFO (rule 4).
    ticket: usize,
}

/// Whether the waiter with `ticket` was granted, given `granted` (one past the last granted
/// ticket). Wrapping arithmetic keeps this right across overflow while fewer than
/// `usize::MAX / 2` waiters are queued.
fn is_granted(granted: usize, ticket: usize) -> bool {
    granted.wrapping_sub(ticket).wrapping_sub(1) < usize::MAX / 2
}

pub(crate) struct RawSemaphore {
    state: AtomicUsize,
    /// One past the ticket of the last waiter granted (rule 4); written under `waiters`.
    granted: AtomicUsize,
    /// The next ticket to hand out; changed only under `waiters`.
    next_ticket: AtomicUsize,
    waiters: Mutex<WaitList<Need>>,
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
            granted: AtomicUsize::new(0),
            next_ticket: AtomicUsize::new(0),
            waiters: Mutex::new(WaitList::new()),
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
        let mut list = lock(&self.waiters);
        let waker = self.release_locked(&mut list, n);
        drop(list);
        wake_all(waker);
    }

    /// Distributes `n` permits with the wait-list mutex held; returns the wakers to wake.
    fn release_locked(&self, list: &mut WaitList<Need>, mut n: usize) -> WakeList {
        let mut wakers = WakeList::new();
        if self.state.load(Ordering::Acquire) & QUEUED == 0 {
            // Rule 1: nobody is queued and racing lock-free CASes are possible; add atomically.
            if n > 0 {
                self.state.fetch_add(n * ONE, Ordering::Release);
            }
            return wakers;
        }
        while n > 0 {
            let granted = list.pop_front_if(|need| {
                let give = need.missing.min(n);
                need.missing -= give;
                n -= give;
                need.missing == 0
            });
            // Rule 4: the slot is free, now publish the grant.
            let Some((waker, need)) = granted else { break };
            self.granted
                .store(need.ticket.wrapping_add(1), Ordering::Release);
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
    fn enqueue(&self, n: usize, waker: &Waker) -> Result<(), (usize, usize)> {
        let mut list = lock(&self.waiters);
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
        let ticket = self.next_ticket.load(Ordering::Relaxed);
        self.next_ticket
            .store(ticket.wrapping_add(1), Ordering::Relaxed);
        let need = Need {
            want: n,
            missing: n - granted,
            ticket,
        };
        Err((list.push_back(waker, need), ticket))
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
    /// Slot and ticket while queued.
    key: Option<(usize, usize)>,
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
            Some((_, ticket)) => {
                // Rule 4: the grant is visible without the mutex; the slot is already free.
                if is_granted(this.sem.granted.load(Ordering::Acquire), ticket) {
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
            Some((slot, ticket)) => {
                let mut list = lock(&this.sem.waiters);
                if is_granted(this.sem.granted.load(Ordering::Acquire), ticket) {
                    this.key = None;
                    Poll::Ready(())
                } else {
                    list.set_waker(slot, cx.waker());
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
        let Some((slot, ticket)) = self.key.take() else {
            return;
        };
        let mut list = lock(&self.sem.waiters);
        let held = if is_granted(self.sem.granted.load(Ordering::Acquire), ticket) {
            // Granted but never told: pass every permit on (its slot is already free).
            self.n
        } else {
            let need = list.remove(slot).data;
            need.want - need.missing
        };
        // Even with nothing to give back, the removal may have emptied the list: fix `QUEUED`.
        let wakers = self.sem.release_locked(&mut list, held);
        drop(list);
        wake_all(wakers);
    }
}
