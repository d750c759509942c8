//! `Event`: a latched flag tasks can wait for.
//!
//! The common case, one task waiting at a time (a hand-off, a ping-pong), never takes the
//! mutex: the first waiter parks its waker in a one-waker *slot* owned through two bits of
//! `state`, and further concurrent waiters queue in the wait list as before. The slot rules:
//!
//! 1. `EMPTY`: nobody owns the slot and it holds no waker. A waiter claims it with a CAS to
//!    `BUSY`, which also proves `SET` was clear.
//! 2. `BUSY`: the claiming waiter alone reads and writes the slot. It publishes its waker with a
//!    CAS to `READY`, which fails if the generation moved or `SET` appeared meanwhile; then it
//!    empties the slot itself and returns ready.
//! 3. `READY`: the slot holds the waker of the waiter that published it in the current
//!    generation; nobody touches it. A setter takes it with the CAS that sets `SET` (state
//!    `TAKING`); its own waiter (re-polled or dropped) claims it back with a CAS to `BUSY` that
//!    checks the generation.
//! 4. `TAKING`: the setter alone takes the waker out, then clears the slot bits.
//! 5. Every CAS that sets `SET` while the slot is `BUSY` or `READY`, and every drain of the wait
//!    list, moves the generation: a waiter that sees its generation move was woken, and (if it
//!    was `READY`) no longer owns the slot.

use crate::sync::{AtomicUsize, Mutex, Ordering, UnsafeCell, lock};
use crate::wait_list::{WaitList, WakeList, wake_all};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// `state` bit: the flag.
const SET: usize = 1;
/// `state` bit: the wait list may be non-empty; set by a waiter before it queues and cleared
/// by the `set` that drains the list, both with the mutex held.
const LIST: usize = 2;
/// `state` bits: the slot's owner (rules 1–4).
const SLOT: usize = 0b1100;
const EMPTY: usize = 0;
const BUSY: usize = 0b0100;
const READY: usize = 0b1000;
const TAKING: usize = 0b1100;
/// `state` is `generation * GEN | SLOT | LIST | SET`.
const GEN: usize = 16;

fn generation(s: usize) -> usize {
    s / GEN
}

/// The state a `set` leaves after seeing `s` (without `SET`), and whether it took the slot's
/// waker (rule 5). `drain` says the same CAS drains the wait list.
fn after_set(s: usize, drain: bool) -> (usize, bool) {
    let mut new = s | SET;
    let slot = s & SLOT;
    if drain || slot == BUSY || slot == READY {
        new = new.wrapping_add(GEN);
    }
    if drain {
        new &= !LIST;
    }
    if slot == READY {
        (new | TAKING, true)
    } else {
        (new, false)
    }
}

/// A latched event, like `asyncio.Event`: [`set`](Event::set) wakes every waiter and keeps
/// later waits from blocking until [`clear`](Event::clear).
///
/// # Examples
///
/// ```
/// use tulip_sync::Event;
/// # futures_lite::future::block_on(async {
/// let ev = Event::new();
/// assert!(!ev.is_set());
/// ev.set();
/// ev.wait().await; // returns at once
/// ev.clear();
/// assert!(!ev.is_set());
/// # });
/// ```
pub struct Event {
    /// The flag, the list bit, the slot's owner and a generation, in one word so that `set`
    /// and a parking waiter order themselves by read-modify-writes of one atomic: either the
    /// waiter sees `SET` and does not park, or `set` sees it parked (slot or `LIST`) and wakes
    /// it. The generation moves with every wake-up (rule 5): a woken waiter's poll takes no
    /// lock and touches neither the slot nor its list entry.
    state: AtomicUsize,
    /// The first waiter's waker; owned as the slot bits of `state` say.
    slot: UnsafeCell<Option<Waker>>,
    waiters: Mutex<WaitList<()>>,
}

// SAFETY: `slot` is the only field that is not `Sync`; it is read and written only by the one
// thread that owns it through `state` (rules 1–4), and every change of owner is an
// acquire/release read-modify-write of `state`.
#[allow(unsafe_code)]
unsafe impl Sync for Event {}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.is_set())
            .finish_non_exhaustive()
    }
}

impl Default for Event {
    fn default() -> Self {
        Event::new()
    }
}

impl Event {
    /// Creates a cleared event.
    pub fn new() -> Self {
        Event {
            state: AtomicUsize::new(0),
            slot: UnsafeCell::new(None),
            waiters: Mutex::new(WaitList::new()),
        }
    }

    /// Takes the waker out of a slot this thread owns (`BUSY` or `TAKING`).
    #[allow(unsafe_code)]
    fn take_slot(&self) -> Option<Waker> {
        // SAFETY: the caller owns the slot (rules 2 and 4): no other thread touches it until
        // the caller's next read-modify-write of `state` releases it.
        unsafe { (*self.slot.get()).take() }
    }

    /// Stores `waker` in a slot this thread owns (`BUSY`), unless it wakes the same task.
    #[allow(unsafe_code)]
    fn fill_slot(&self, waker: &Waker) {
        // SAFETY: as in `take_slot`: the caller claimed the slot (rule 2).
        let slot = unsafe { &mut *self.slot.get() };
        match slot {
            Some(w) if w.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    /// Sets the flag and wakes every waiter. With nobody waiting it is one compare-and-swap;
    /// with one waiter parked in the slot it is two read-modify-writes and no lock.
    #[inline]
    pub fn set(&self) {
        let mut s = self.state.load(Ordering::Acquire);
        let took = loop {
            if s & SET != 0 {
                return;
            }
            if s & LIST != 0 {
                return self.set_and_drain();
            }
            let (new, took) = after_set(s, false);
            match self
                .state
                .compare_exchange_weak(s, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break took,
                Err(actual) => s = actual,
            }
        };
        if took {
            self.wake_slot();
        }
    }

    /// Rule 4: takes the parked waker, frees the slot, then wakes it.
    #[inline(never)]
    fn wake_slot(&self) {
        let waker = self.take_slot();
        self.state.fetch_and(!SLOT, Ordering::Release);
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// `set` with the wait list possibly non-empty: drains it under the mutex.
    #[inline(never)]
    fn set_and_drain(&self) {
        let mut wakers = WakeList::new();
        let mut list = lock(&self.waiters);
        // Only holders of the mutex clear `LIST` or drain; `clear`, the slot's owners and
        // lock-free `set`s may race on the other bits, hence the CAS loop.
        let mut s = self.state.load(Ordering::Acquire);
        let took = loop {
            if s & SET != 0 {
                return;
            }
            let drain = s & LIST != 0;
            let (new, took) = after_set(s, drain);
            match self
                .state
                .compare_exchange_weak(s, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    if drain {
                        list.drain_all(&mut wakers);
                    }
                    break took;
                }
                Err(actual) => s = actual,
            }
        };
        drop(list);
        if took {
            self.wake_slot();
        }
        wake_all(wakers);
    }

    /// Clears the flag. Waiters already woken by a `set` still return.
    #[inline]
    pub fn clear(&self) {
        self.state.fetch_and(!SET, Ordering::AcqRel);
    }

    /// Whether the flag is set.
    #[inline]
    pub fn is_set(&self) -> bool {
        self.state.load(Ordering::Acquire) & SET != 0
    }

    /// Waits until the flag is set; returns at once if it is.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped wait leaves the slot or the wait list and the event is
    /// unaffected.
    #[inline]
    pub fn wait(&self) -> EventWait<'_> {
        EventWait {
            event: self,
            parked: Parked::No,
        }
    }

    /// Rule 2 for a waiter that owns the slot (`BUSY`) and last saw `s`: publishes the waker
    /// unless a `set` came meanwhile. `Some(generation)` means parked.
    fn publish(&self, mut s: usize, generation: usize) -> Option<usize> {
        loop {
            if s & SET != 0 || self::generation(s) != generation {
                // Woken while `BUSY`: the slot is still ours to empty.
                drop(self.take_slot());
                self.state.fetch_and(!SLOT, Ordering::Release);
                return None;
            }
            match self.state.compare_exchange_weak(
                s,
                (s & !SLOT) | READY,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(generation),
                Err(actual) => s = actual,
            }
        }
    }

    /// Rule 3 for the waiter that published in `generation`: claims the slot back (`BUSY`).
    /// `Err(())` if a `set` moved the generation first (woken; the slot is not ours).
    fn reclaim(&self, generation: usize) -> Result<usize, ()> {
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            if self::generation(s) != generation {
                return Err(());
            }
            debug_assert_eq!(s & SLOT, READY);
            let claimed = (s & !SLOT) | BUSY;
            match self
                .state
                .compare_exchange_weak(s, claimed, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok(claimed),
                Err(actual) => s = actual,
            }
        }
    }
}

/// Where an [`EventWait`] is parked.
#[derive(Debug, Clone, Copy)]
enum Parked {
    No,
    /// In the slot, published in this generation.
    Slot(usize),
    /// In the wait list under this key, queued in this generation.
    List(usize, usize),
}

/// Future of [`Event::wait`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct EventWait<'a> {
    event: &'a Event,
    parked: Parked,
}

impl Future for EventWait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let event = self.event;
        match self.parked {
            Parked::No => {}
            Parked::Slot(generation) => {
                let parked = match event.reclaim(generation) {
                    Err(()) => None,
                    Ok(claimed) => {
                        event.fill_slot(cx.waker());
                        event.publish(claimed, generation)
                    }
                };
                return match parked {
                    Some(generation) => {
                        self.parked = Parked::Slot(generation);
                        Poll::Pending
                    }
                    None => {
                        self.parked = Parked::No;
                        Poll::Ready(())
                    }
                };
            }
            Parked::List(key, generation) => return self.poll_list(cx, key, generation),
        }
        // First poll.
        let mut s = event.state.load(Ordering::Acquire);
        loop {
            if s & SET != 0 {
                return Poll::Ready(());
            }
            if s & SLOT != EMPTY {
                return self.queue(cx);
            }
            // Rule 1.
            match event.state.compare_exchange_weak(
                s,
                s | BUSY,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => s = actual,
            }
        }
        event.fill_slot(cx.waker());
        match event.publish(s | BUSY, generation(s)) {
            Some(generation) => {
                self.parked = Parked::Slot(generation);
                Poll::Pending
            }
            None => Poll::Ready(()),
        }
    }
}

impl EventWait<'_> {
    /// A later poll of a waiter in the wait list.
    fn poll_list(&mut self, cx: &mut Context<'_>, key: usize, queued_in: usize) -> Poll<()> {
        let event = self.event;
        if generation(event.state.load(Ordering::Acquire)) != queued_in {
            // `set` freed the list entry: nothing to clean up.
            self.parked = Parked::No;
            return Poll::Ready(());
        }
        let mut list = lock(&event.waiters);
        // Re-check under the mutex: a draining `set` moves the generation while holding it.
        if generation(event.state.load(Ordering::Acquire)) != queued_in {
            self.parked = Parked::No;
            return Poll::Ready(());
        }
        list.set_waker(key, cx.waker());
        Poll::Pending
    }

    /// First poll while the slot is taken: queue in the wait list.
    fn queue(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let event = self.event;
        let mut list = lock(&event.waiters);
        let old = event.state.fetch_or(LIST, Ordering::AcqRel);
        if old & SET != 0 {
            if list.is_empty() {
                event.state.fetch_and(!LIST, Ordering::AcqRel);
            }
            return Poll::Ready(());
        }
        let key = list.push_back(cx.waker(), ());
        drop(list);
        self.parked = Parked::List(key, generation(old));
        Poll::Pending
    }
}

impl Drop for EventWait<'_> {
    fn drop(&mut self) {
        // `set` wakes everybody, so a wake-up left unused here has nobody to go to.
        match std::mem::replace(&mut self.parked, Parked::No) {
            Parked::No => {}
            Parked::Slot(generation) => {
                if self.event.reclaim(generation).is_ok() {
                    drop(self.event.take_slot());
                    self.event.state.fetch_and(!SLOT, Ordering::Release);
                }
            }
            Parked::List(key, queued_in) => {
                let mut list = lock(&self.event.waiters);
                if generation(self.event.state.load(Ordering::Acquire)) == queued_in {
                    list.remove(key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_waker::poll_counted;
    use futures_lite::future::{block_on, poll_once};

    #[test]
    fn set_wakes_all_and_latches() {
        let ev = Event::new();
        let mut a = Box::pin(ev.wait());
        let mut b = Box::pin(ev.wait());
        assert!(block_on(poll_once(&mut a)).is_none());
        assert!(block_on(poll_once(&mut b)).is_none());
        assert!(matches!(a.parked, Parked::Slot(_)));
        assert!(matches!(b.parked, Parked::List(..)));
        ev.set();
        ev.clear();
        // Woken by the `set` even though the flag is clear again.
        assert!(block_on(poll_once(&mut a)).is_some());
        assert!(block_on(poll_once(&mut b)).is_some());
        let mut c = Box::pin(ev.wait());
        assert!(block_on(poll_once(&mut c)).is_none());
        drop(c);
        assert!(lock(&ev.waiters).is_empty());
        assert_eq!(ev.state.load(Ordering::Relaxed) & (SLOT | LIST | SET), 0);
    }

    #[test]
    fn slot_waiter_is_woken_once_and_frees_the_slot() {
        let ev = Event::new();
        let mut a = ev.wait();
        let (r, count) = poll_counted(&mut a);
        assert!(r.is_pending());
        ev.set();
        assert_eq!(count.get(), 1);
        assert_eq!(ev.state.load(Ordering::Relaxed) & SLOT, EMPTY);
        // A second `set` wakes nobody again.
        ev.set();
        assert_eq!(count.get(), 1);
        assert!(block_on(poll_once(&mut a)).is_some());
    }

    #[test]
    fn repoll_updates_the_waker_and_drop_frees_the_slot() {
        let ev = Event::new();
        let mut a = ev.wait();
        let (_, first) = poll_counted(&mut a);
        let (r, second) = poll_counted(&mut a);
        assert!(r.is_pending());
        ev.set();
        // Only the latest waker is woken.
        assert_eq!((first.get(), second.get()), (0, 1));
        assert!(block_on(poll_once(&mut a)).is_some());

        ev.clear();
        let mut b = ev.wait();
        assert!(poll_counted(&mut b).0.is_pending());
        drop(b);
        assert_eq!(ev.state.load(Ordering::Relaxed) & SLOT, EMPTY);
        // The freed slot serves the next waiter.
        let mut c = ev.wait();
        assert!(poll_counted(&mut c).0.is_pending());
        assert!(matches!(c.parked, Parked::Slot(_)));
    }
}
