//! A set of futures polled inside one task, each under its own waker.
//!
//! `gather`, `try_gather`, `as_completed` and `wait` all poll many futures from the calling
//! task. Polling every future on every wake-up costs O(n) per wake and O(n²) for a whole
//! gather of n futures; instead every member gets a waker of its own that queues the member's
//! index, so a wake-up polls only the members that asked for it.
//!
//! Invariants:
//!
//! 1. An index is in the ready queue at most once: a member's `queued` flag is set by the
//!    waker that pushes the index and cleared by the set just before it polls that member.
//! 2. The parent (the task polling the set) is registered under the ready-queue lock before the
//!    set sees the queue empty, so a wake that queues an index after that check finds the
//!    parent's waker and wakes it; no wake-up is lost.
//! 3. One call to `poll_next` refills its batch from the queue at most twice; members that wake
//!    themselves while being polled wait for the next call, so one busy member cannot keep
//!    the parent inside a single poll forever.

use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

/// Futures polled together, each completing once; outputs come out with their input index.
pub(crate) struct FutureSet<F> {
    slots: Vec<Slot<F>>,
    queue: Arc<ReadyQueue>,
    /// Indices taken from the queue and not yet polled; `batch[cursor..]` is still to do.
    batch: Vec<usize>,
    cursor: usize,
    remaining: usize,
    /// For `wait` and `as_completed`, which never cancel what they hold: where the member's
    /// own future lives, so that a `Task` member is polled as not awaited (its drop detaches).
    unowned: Option<fn(&F) -> *const ()>,
}

struct Slot<F> {
    fut: Option<F>,
    member: Arc<MemberWaker>,
    waker: Waker,
}

#[derive(Default)]
struct ReadyQueue {
    inner: Mutex<ReadyInner>,
}

#[derive(Default)]
struct ReadyInner {
    indices: Vec<usize>,
    parent: Option<Waker>,
}

impl ReadyQueue {
    fn lock(&self) -> MutexGuard<'_, ReadyInner> {
        // Nothing panics while the lock is held, so a poisoned lock still holds valid data.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct MemberWaker {
    index: usize,
    /// Set while the index sits in the ready queue (invariant 1).
    queued: AtomicBool,
    queue: Arc<ReadyQueue>,
}

impl Wake for MemberWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        let parent = {
            let mut inner = self.queue.lock();
            inner.indices.push(self.index);
            inner.parent.take()
        };
        // Waking outside the lock: a waker may run arbitrary code, even re-enter this queue.
        if let Some(parent) = parent {
            parent.wake();
        }
    }
}

impl<F> FutureSet<F> {
    /// How many members were given to the set.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// How many members have not completed yet.
    pub(crate) fn remaining(&self) -> usize {
        self.remaining
    }
}

impl<F: Future + Unpin> FutureSet<F> {
    /// Collects the futures; every member starts queued so that the first poll polls them all.
    pub(crate) fn new(futs: impl IntoIterator<Item = F>) -> Self {
        let queue = Arc::new(ReadyQueue::default());
        let slots: Vec<Slot<F>> = futs
            .into_iter()
            .enumerate()
            .map(|(index, fut)| {
                let member = Arc::new(MemberWaker {
                    index,
                    queued: AtomicBool::new(true),
                    queue: queue.clone(),
                });
                let waker = Waker::from(member.clone());
                Slot {
                    fut: Some(fut),
                    member,
                    waker,
                }
            })
            .collect();
        let remaining = slots.len();
        FutureSet {
            batch: (0..remaining).collect(),
            cursor: 0,
            slots,
            queue,
            remaining,
            unowned: None,
        }
    }

    /// A set whose `Task` members stay detachable: dropping the set, or a member handed back
    /// by `into_pending`, detaches those tasks instead of cancelling them. `addr` gives the
    /// address of the future a member polls (the member itself, or what its box points to).
    pub(crate) fn new_unowned(
        futs: impl IntoIterator<Item = F>,
        addr: fn(&F) -> *const (),
    ) -> Self {
        FutureSet {
            unowned: Some(addr),
            ..FutureSet::new(futs)
        }
    }

    /// Polls the members that were woken; returns the first to complete with its index, or
    /// `None` once every member has completed.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<(usize, F::Output)>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let mut refills = 0;
        loop {
            if self.cursor == self.batch.len() {
                // Invariant 3: bounded refills, then yield to the scheduler if work is left.
                if refills == 2 {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                refills += 1;
                self.batch.clear();
                self.cursor = 0;
                let mut inner = self.queue.lock();
                // Invariant 2: register before concluding there is nothing to do.
                match &inner.parent {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => inner.parent = Some(cx.waker().clone()),
                }
                mem::swap(&mut self.batch, &mut inner.indices);
                drop(inner);
                if self.batch.is_empty() {
                    return Poll::Pending;
                }
            }
            let index = self.batch[self.cursor];
            self.cursor += 1;
            let slot = &mut self.slots[index];
            let Some(fut) = slot.fut.as_mut() else {
                continue;
            };
            // Invariant 1: a wake during the poll below must queue the index again.
            slot.member.queued.store(false, Ordering::Release);
            let mut member_cx = Context::from_waker(&slot.waker);
            let polled = match self.unowned {
                Some(addr) => crate::task::poll_unowned(addr(fut), || {
                    Pin::new(&mut *fut).poll(&mut member_cx)
                }),
                None => Pin::new(fut).poll(&mut member_cx),
            };
            if let Poll::Ready(out) = polled {
                slot.fut = None;
                self.remaining -= 1;
                return Poll::Ready(Some((index, out)));
            }
        }
    }

    /// Drops every member that has not completed (cancelling it), in input order.
    pub(crate) fn clear(&mut self) {
        for slot in &mut self.slots {
            slot.fut = None;
        }
        self.remaining = 0;
    }

    /// Hands back the members that have not completed, in input order.
    pub(crate) fn into_pending(self) -> Vec<F> {
        // The members may still hold our wakers; they must not wake a parent that has moved on.
        self.queue.lock().parent = None;
        self.slots.into_iter().filter_map(|s| s.fut).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toolkit::testing::{Never, YieldN};
    use futures_lite::future::{block_on, poll_fn};
    use std::sync::atomic::AtomicUsize;

    fn drain<F: Future + Unpin>(set: &mut FutureSet<F>) -> Vec<(usize, F::Output)> {
        block_on(async {
            let mut got = Vec::new();
            while let Some(item) = poll_fn(|cx| set.poll_next(cx)).await {
                got.push(item);
            }
            got
        })
    }

    #[test]
    fn outputs_arrive_in_completion_order() {
        let mut set = FutureSet::new([3, 0, 2, 1].map(|n| YieldN::new(n, n)));
        assert_eq!(drain(&mut set), vec![(1, 0), (3, 1), (2, 2), (0, 3)]);
        assert_eq!(set.remaining(), 0);
    }

    #[test]
    fn empty_set_ends_at_once() {
        let mut set = FutureSet::new(Vec::<YieldN<u8>>::new());
        assert!(drain(&mut set).is_empty());
    }

    #[test]
    fn only_woken_members_are_polled() {
        let polls = Arc::new(AtomicUsize::new(0));
        let mut set = FutureSet::new((0..100).map(|n| -> Pin<Box<dyn Future<Output = u32>>> {
            if n == 0 {
                Box::pin(YieldN::new(50, 0))
            } else {
                Box::pin(Never::counting(polls.clone()))
            }
        }));
        let first = block_on(poll_fn(|cx| set.poll_next(cx)));
        assert_eq!(first, Some((0, 0)));
        // The 99 members that never wake are polled exactly once, not once per wake-up of member 0.
        assert_eq!(polls.load(Ordering::Relaxed), 99);
    }

    #[test]
    fn into_pending_keeps_input_order() {
        let mut set = FutureSet::new([1, u32::MAX, 0, u32::MAX / 2].map(|n| YieldN::new(n, n)));
        let mut cx = Context::from_waker(Waker::noop());
        let mut done = Vec::new();
        while let Poll::Ready(Some((i, _))) = set.poll_next(&mut cx) {
            done.push(i);
        }
        assert_eq!(done, vec![2, 0]);
        let pending: Vec<u32> = set.into_pending().iter().map(|f| f.left()).collect();
        assert_eq!(pending.len(), 2);
        assert!(
            pending[0] > u32::MAX / 2 && pending[1] < u32::MAX / 2,
            "{pending:?}"
        );
    }

    #[test]
    fn a_self_waking_member_does_not_monopolise_one_poll() {
        let mut set = FutureSet::new([YieldN::new(u32::MAX, 0)]);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(set.poll_next(&mut cx).is_pending());
        // Two refills at most: the member was polled a bounded number of times.
        assert!(set.into_pending()[0].left() >= u32::MAX - 3);
    }
}
