//! The waiter list the primitives of this crate are built on (all but the fair semaphore,
//! whose ring of tickets is in `raw_semaphore`).
//!
//! A [`WaitList`] is a FIFO of parked waiters kept in a slab (a `Vec` of slots plus a free
//! list), linked through slot indices, so that insertion, removal from the middle and
//! notification are all O(1) without intrusive pointers or `unsafe`. It always lives inside the
//! `Mutex` of the primitive that owns it, beside that primitive's own state, so one lock
//! covers both and a check-then-park can never miss a notification.
//!
//! A waiter moves through three states:
//!
//! 1. *queued*: in the FIFO with its latest `Waker`;
//! 2. *notified*: unlinked from the FIFO by a notifier, its slot kept so that the waiting
//!    future learns it was chosen the next time it is polled (or dropped);
//! 3. *removed*: the slot is freed by the waiting future itself, in `poll` or in `Drop`.
//!
//! Only the owning future removes its slot, and it always does (in `Drop` at the latest), so
//! no waiter leaks. A future dropped in state 2 received a notification it will never use: the
//! primitive hands that notification on (to the next waiter, or back as permits), so none is
//! lost. Wakers are returned to the caller, which wakes them after unlocking.

use std::task::Waker;

const NIL: usize = usize::MAX;

enum Slot<T> {
    Vacant {
        next_free: usize,
    },
    Queued {
        waker: Option<Waker>,
        prev: usize,
        next: usize,
        data: T,
    },
    Notified {
        data: T,
    },
}

/// What [`WaitList::remove`] found in a slot.
pub(crate) struct Removed<T> {
    /// The waiter's payload.
    pub(crate) data: T,
    /// Whether a notifier had chosen this waiter before it was removed.
    pub(crate) notified: bool,
}

/// A slab-backed FIFO of waiters with a payload `T` each.
pub(crate) struct WaitList<T> {
    slots: Vec<Slot<T>>,
    free: usize,
    head: usize,
    tail: usize,
    queued: usize,
}

impl<T> std::fmt::Debug for WaitList<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitList")
            .field("queued", &self.queued)
            .finish()
    }
}

impl<T> Default for WaitList<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> WaitList<T> {
    pub(crate) const fn new() -> Self {
        WaitList {
            slots: Vec::new(),
            free: NIL,
            head: NIL,
            tail: NIL,
            queued: 0,
        }
    }

    /// Number of queued (not yet notified) waiters.
    pub(crate) fn len(&self) -> usize {
        self.queued
    }

    /// Whether no waiter is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.queued == 0
    }

    fn alloc(&mut self, slot: Slot<T>) -> usize {
        if self.free == NIL {
            self.slots.push(slot);
            self.slots.len() - 1
        } else {
            let key = self.free;
            self.free = match self.slots[key] {
                Slot::Vacant { next_free } => next_free,
                _ => NIL,
            };
            self.slots[key] = slot;
            key
        }
    }

    /// Queues a waiter at the back and returns its key.
    pub(crate) fn push_back(&mut self, waker: &Waker, data: T) -> usize {
        let prev = self.tail;
        let key = self.alloc(Slot::Queued {
            waker: Some(waker.clone()),
            prev,
            next: NIL,
            data,
        });
        self.link_after(prev, key);
        key
    }

    /// Queues a waiter at the front (it keeps its turn after a spurious wake-up).
    pub(crate) fn push_front(&mut self, waker: &Waker, data: T) -> usize {
        let next = self.head;
        let key = self.alloc(Slot::Queued {
            waker: Some(waker.clone()),
            prev: NIL,
            next,
            data,
        });
        if next == NIL {
            self.tail = key;
        } else if let Slot::Queued { prev, .. } = &mut self.slots[next] {
            *prev = key;
        }
        self.head = key;
        self.queued += 1;
        key
    }

    fn link_after(&mut self, prev: usize, key: usize) {
        if prev == NIL {
            self.head = key;
        } else if let Slot::Queued { next, .. } = &mut self.slots[prev] {
            *next = key;
        }
        self.tail = key;
        self.queued += 1;
    }

    /// Whether the waiter `key` has been notified.
    pub(crate) fn is_notified(&self, key: usize) -> bool {
        matches!(self.slots.get(key), Some(Slot::Notified { .. }))
    }

    /// Stores `waker` for a queued waiter unless it would wake the same task already.
    pub(crate) fn set_waker(&mut self, key: usize, waker: &Waker) {
        if let Some(Slot::Queued { waker: w, .. }) = self.slots.get_mut(key) {
            match w {
                Some(old) if old.will_wake(waker) => {}
                _ => *w = Some(waker.clone()),
            }
        }
    }

    /// The payload of the first queued waiter.
    pub(crate) fn front_mut(&mut self) -> Option<&mut T> {
        match self.slots.get_mut(self.head) {
            Some(Slot::Queued { data, .. }) => Some(data),
            _ => None,
        }
    }

    fn unlink(&mut self, key: usize) -> (Option<Waker>, T) {
        let slot = std::mem::replace(&mut self.slots[key], Slot::Vacant { next_free: NIL });
        let Slot::Queued {
            waker,
            prev,
            next,
            data,
        } = slot
        else {
            unreachable!("unlink of a waiter that is not queued")
        };
        match self.slots.get_mut(prev) {
            Some(Slot::Queued { next: n, .. }) => *n = next,
            _ => self.head = next,
        }
        match self.slots.get_mut(next) {
            Some(Slot::Queued { prev: p, .. }) => *p = prev,
            _ => self.tail = prev,
        }
        self.queued -= 1;
        (waker, data)
    }

    /// Notifies the first queued waiter and returns its waker for the caller to wake after
    /// unlocking. `None` if nobody is queued.
    pub(crate) fn notify_front(&mut self) -> Option<Waker> {
        if self.head == NIL {
            return None;
        }
        let key = self.head;
        let (waker, data) = self.unlink(key);
        self.slots[key] = Slot::Notified { data };
        waker
    }

    /// Notifies up to `n` queued waiters in FIFO order, pushing their wakers to `out`.
    /// Returns how many were notified.
    pub(crate) fn notify_n(&mut self, n: usize, out: &mut WakeList) -> usize {
        let mut done = 0;
        while done < n && self.head != NIL {
            if let Some(w) = self.notify_front() {
                out.push(w);
            }
            done += 1;
        }
        done
    }

    /// Notifies every queued waiter.
    pub(crate) fn notify_all(&mut self, out: &mut WakeList) -> usize {
        self.notify_n(usize::MAX, out)
    }

    /// Wakes every queued waiter and frees their slots at once. For broadcast primitives whose
    /// waiters learn of the wake-up from a generation counter instead of their slot: they must
    /// not touch their key again once the generation moved.
    pub(crate) fn drain_all(&mut self, out: &mut WakeList) {
        while self.head != NIL {
            let key = self.head;
            let (waker, _) = self.unlink(key);
            self.slots[key] = Slot::Vacant {
                next_free: self.free,
            };
            self.free = key;
            if let Some(w) = waker {
                out.push(w);
            }
        }
    }

    /// Frees the slot of `key`, queued or notified, and returns what it held.
    pub(crate) fn remove(&mut self, key: usize) -> Removed<T> {
        let removed = match self.slots.get(key) {
            Some(Slot::Queued { .. }) => {
                let (_, data) = self.unlink(key);
                Removed {
                    data,
                    notified: false,
                }
            }
            Some(Slot::Notified { .. }) => {
                let slot = std::mem::replace(&mut self.slots[key], Slot::Vacant { next_free: NIL });
                let Slot::Notified { data } = slot else {
                    unreachable!()
                };
                Removed {
                    data,
                    notified: true,
                }
            }
            _ => unreachable!("remove of a vacant waiter slot"),
        };
        self.slots[key] = Slot::Vacant {
            next_free: self.free,
        };
        self.free = key;
        removed
    }
}

/// Wakers collected under a lock, to be woken after it is released. The first one is kept
/// inline, so the common single wake-up (a hand-off, a `notify_one`) allocates nothing.
#[derive(Default)]
pub(crate) struct WakeList {
    first: Option<Waker>,
    rest: Vec<Waker>,
}

impl WakeList {
    pub(crate) const fn new() -> Self {
        WakeList {
            first: None,
            rest: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, waker: Waker) {
        if self.first.is_none() {
            self.first = Some(waker);
        } else {
            self.rest.push(waker);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }
}

/// Wakes every waker in `wakers`; call it after unlocking.
pub(crate) fn wake_all(wakers: WakeList) {
    if let Some(w) = wakers.first {
        w.wake();
    }
    for w in wakers.rest {
        w.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    #[test]
    fn fifo_order_and_slot_reuse() {
        let (_, w) = waker();
        let mut l = WaitList::new();
        let a = l.push_back(&w, 'a');
        let b = l.push_back(&w, 'b');
        let c = l.push_back(&w, 'c');
        assert_eq!(l.len(), 3);
        assert_eq!(l.front_mut().copied(), Some('a'));
        // Removing from the middle keeps the order of the others.
        assert!(!l.remove(b).notified);
        assert!(l.notify_front().is_some());
        assert!(l.is_notified(a));
        assert!(!l.is_notified(c));
        assert_eq!(l.front_mut().copied(), Some('c'));
        let r = l.remove(a);
        assert!(r.notified);
        assert_eq!(r.data, 'a');
        // Freed slots are reused.
        let d = l.push_front(&w, 'd');
        assert!(d == a || d == b);
        assert_eq!(l.front_mut().copied(), Some('d'));
        let mut out = WakeList::new();
        assert_eq!(l.notify_all(&mut out), 2);
        assert_eq!(out.len(), 2);
        assert!(l.is_empty());
        assert!(l.remove(c).notified);
        assert!(l.remove(d).notified);
        assert_eq!(l.slots.len(), 3);
    }

    #[test]
    fn notify_n_and_waker_update() {
        let (c1, w1) = waker();
        let (c2, w2) = waker();
        let mut l = WaitList::new();
        let k: Vec<usize> = (0..4).map(|i| l.push_back(&w1, i)).collect();
        l.set_waker(k[0], &w2);
        let mut out = WakeList::new();
        assert_eq!(l.notify_n(2, &mut out), 2);
        wake_all(out);
        assert_eq!(c2.0.load(Ordering::SeqCst), 1);
        assert_eq!(c1.0.load(Ordering::SeqCst), 1);
        assert!(l.is_notified(k[1]) && !l.is_notified(k[2]));
        assert_eq!(l.len(), 2);
    }
}
