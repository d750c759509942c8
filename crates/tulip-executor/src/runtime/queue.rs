//! A worker's local run queue: a fixed-size ring owned by one worker, stolen from in half
//! batches by the others.
//!
//! The owner pushes at `tail` and pops at the head; thieves take half of what is queued from the
//! head. `head` packs two 32-bit indices: `real` (the next slot the owner pops) and `steal` (the
//! first slot a thief is still copying out; equal to `real` when no thief is active). Indices
//! grow without bound and wrap; a slot is `index % CAP`.
//!
//! # Safety invariants
//!
//! 1. Only the owner (the one `Local`, which is `!Sync` and not `Clone`) writes `tail` and
//!    writes slots, and only slots in `[tail, steal + CAP)`, which no thief is reading.
//! 2. A thief copies slots only inside the range it claimed with a successful CAS of `head`
//!    (from `steal == real` to `real + n`), and only into its own queue's free slots, and
//!    publishes them with a release store of its own `tail`.
//! 3. Every pointer in a slot between `real` and `tail` came from `T::into_ptr` and is owned
//!    by the queue; whoever advances `real` (or `steal`) past a slot with a successful CAS takes
//!    ownership of that pointer and turns it back into a `T` exactly once.

use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr::NonNull;

use crate::sync::Arc;
use crate::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering::*};

/// Slots per queue. Small under loom so that the models stay tractable.
#[cfg(not(loom))]
pub(crate) const CAP: u32 = 256;
#[cfg(loom)]
pub(crate) const CAP: u32 = 4;
const MASK: u32 = CAP - 1;

/// What the queue can hold: anything that converts to and from one non-null pointer.
pub(crate) trait RawItem: Sized {
    fn into_ptr(self) -> NonNull<()>;
    /// # Safety
    ///
    /// `ptr` must come from `into_ptr` and be converted back only once.
    unsafe fn from_ptr(ptr: NonNull<()>) -> Self;
}

impl<M> RawItem for async_task::Runnable<M> {
    fn into_ptr(self) -> NonNull<()> {
        self.into_raw()
    }
    unsafe fn from_ptr(ptr: NonNull<()>) -> Self {
        // SAFETY: the caller guarantees `ptr` came from `into_raw` and is used once.
        unsafe { async_task::Runnable::from_raw(ptr) }
    }
}

struct Inner<T> {
    head: AtomicU64,
    tail: AtomicU32,
    slots: Box<[AtomicPtr<()>]>,
    _items: PhantomData<T>,
}

fn pack(steal: u32, real: u32) -> u64 {
    ((steal as u64) << 32) | real as u64
}

fn unpack(v: u64) -> (u32, u32) {
    ((v >> 32) as u32, v as u32)
}

/// The owner's end of a queue.
pub(crate) struct Local<T> {
    q: Arc<Inner<T>>,
    /// `Local` must stay on its worker: invariant 1 needs a single owner thread.
    _not_sync: PhantomData<Cell<()>>,
}

/// A thief's end of a queue.
pub(crate) struct Stealer<T> {
    q: Arc<Inner<T>>,
}

impl<T> Clone for Stealer<T> {
    fn clone(&self) -> Self {
        Stealer { q: self.q.clone() }
    }
}

/// Makes a queue: the owner's end and a stealer.
pub(crate) fn new<T: RawItem>() -> (Local<T>, Stealer<T>) {
    let q = Arc::new(Inner {
        head: AtomicU64::new(0),
        tail: AtomicU32::new(0),
        slots: (0..CAP)
            .map(|_| AtomicPtr::new(std::ptr::null_mut()))
            .collect(),
        _items: PhantomData,
    });
    (
        Local {
            q: q.clone(),
            _not_sync: PhantomData,
        },
        Stealer { q },
    )
}

impl<T> Inner<T> {
    fn slot(&self, idx: u32) -> &AtomicPtr<()> {
        &self.slots[(idx & MASK) as usize]
    }

    fn take_slot<I: RawItem>(&self, idx: u32) -> I {
        let p = self.slot(idx).load(Relaxed);
        // SAFETY: invariant 3: the caller has just claimed `idx` with a CAS of `head`, so this
        // pointer is a live item nobody else will convert.
        unsafe { I::from_ptr(NonNull::new_unchecked(p)) }
    }

    fn len(&self) -> u32 {
        let (_, real) = unpack(self.head.load(Acquire));
        self.tail.load(Acquire).wrapping_sub(real)
    }
}

impl<T: RawItem> Local<T> {
    /// Queues `item` at the back. When the ring is full, half of it and `item` go to `overflow`
    /// (the global injector) so that other workers can pick them up.
    pub(crate) fn push_back(&self, item: T, mut overflow: impl FnMut(T)) {
        let ptr = item.into_ptr();
        let q = &*self.q;
        let mut head = q.head.load(Acquire);
        loop {
            let (steal, real) = unpack(head);
            // Invariant 1: only we write `tail`.
            let tail = q.tail.load(Relaxed);
            if tail.wrapping_sub(steal) < CAP {
                q.slot(tail).store(ptr.as_ptr(), Relaxed);
                q.tail.store(tail.wrapping_add(1), Release);
                return;
            }
            if steal != real {
                // A thief is copying out and will make room; don't wait for it.
                // SAFETY: `ptr` came from `into_ptr` just above and was never stored.
                overflow(unsafe { T::from_ptr(ptr) });
                return;
            }
            let half = CAP / 2;
            let next = pack(real.wrapping_add(half), real.wrapping_add(half));
            match q.head.compare_exchange(head, next, AcqRel, Acquire) {
                Ok(_) => {
                    for i in 0..half {
                        overflow(q.take_slot(real.wrapping_add(i)));
                    }
                    // SAFETY: `ptr` came from `into_ptr` just above and was never stored.
                    overflow(unsafe { T::from_ptr(ptr) });
                    return;
                }
                Err(actual) => head = actual,
            }
        }
    }

    /// Takes the item at the head.
    pub(crate) fn pop(&self) -> Option<T> {
        let q = &*self.q;
        let mut head = q.head.load(Acquire);
        loop {
            let (steal, real) = unpack(head);
            if real == q.tail.load(Relaxed) {
                return None;
            }
            let next_real = real.wrapping_add(1);
            let next = if steal == real {
                pack(next_real, next_real)
            } else {
                pack(steal, next_real)
            };
            match q.head.compare_exchange_weak(head, next, AcqRel, Acquire) {
                Ok(_) => return Some(q.take_slot(real)),
                Err(actual) => head = actual,
            }
        }
    }

    /// Number of queued items (exact for the owner, up to concurrent steals).
    pub(crate) fn len(&self) -> usize {
        self.q.len() as usize
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T: RawItem> Stealer<T> {
    /// Whether the queue looks empty (a racy hint for idle workers).
    pub(crate) fn is_empty(&self) -> bool {
        self.q.len() == 0
    }

    /// How many items the queue holds (a racy snapshot, for metrics).
    pub(crate) fn len(&self) -> usize {
        self.q.len() as usize
    }

    /// Moves about half of this queue into `dst` (the caller's own queue) and returns one of
    /// the stolen items to run at once.
    pub(crate) fn steal_into(&self, dst: &Local<T>) -> Option<T> {
        let d = &*dst.q;
        // Invariant 1: the caller owns `dst`, so `dst.tail` is ours.
        let dst_tail = d.tail.load(Relaxed);
        let (dst_steal, _) = unpack(d.head.load(Acquire));
        if dst_tail.wrapping_sub(dst_steal) > CAP / 2 {
            // Our own queue is half full already: nothing to gain.
            return None;
        }
        let n = self.steal_into_slots(d, dst_tail);
        if n == 0 {
            return None;
        }
        let last = dst_tail.wrapping_add(n - 1);
        let item = d.take_slot(last);
        if n > 1 {
            d.tail.store(dst_tail.wrapping_add(n - 1), Release);
        }
        Some(item)
    }

    /// Claims half of this queue and copies the pointers into `dst` from `dst_tail` on, without
    /// publishing them. Returns how many were copied.
    fn steal_into_slots(&self, d: &Inner<T>, dst_tail: u32) -> u32 {
        let q = &*self.q;
        let mut prev = q.head.load(Acquire);
        let (first, n, mut claimed) = loop {
            let (steal, real) = unpack(prev);
            if steal != real {
                // Another thief is at work on this queue.
                return 0;
            }
            let avail = q.tail.load(Acquire).wrapping_sub(real);
            let n = avail - avail / 2;
            if n == 0 {
                return 0;
            }
            let next = pack(steal, real.wrapping_add(n));
            match q.head.compare_exchange(prev, next, AcqRel, Acquire) {
                Ok(_) => break (real, n, next),
                Err(actual) => prev = actual,
            }
        };
        // Invariant 2: [first, first + n) is ours to read, and [dst_tail, dst_tail + n) is free
        // in `dst` because it is at most half full and n <= CAP / 2.
        for i in 0..n {
            let p = q.slot(first.wrapping_add(i)).load(Relaxed);
            d.slot(dst_tail.wrapping_add(i)).store(p, Relaxed);
        }
        // Release the claim: `steal` catches up with `real` (the owner may have popped meanwhile).
        loop {
            let (_, real) = unpack(claimed);
            match q
                .head
                .compare_exchange(claimed, pack(real, real), AcqRel, Acquire)
            {
                Ok(_) => return n,
                Err(actual) => claimed = actual,
            }
        }
    }
}

impl<T> Drop for Local<T> {
    fn drop(&mut self) {
        // Items left here are dropped by the scheduler's shutdown, which drains with `pop`
        // before the worker exits; a non-empty queue at this point would leak, not crash.
        debug_assert!(
            std::thread::panicking() || self.q.len() == 0,
            "local queue dropped non-empty"
        );
    }
}
