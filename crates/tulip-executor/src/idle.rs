//! Which workers are parked and which are searching for work: the wake/park protocol.
//!
//! One atomic word counts *unparked* workers (high bits) and *searching* workers (low bits);
//! a mutex-protected list holds the indices of parked workers.
//!
//! The protocol that rules out lost wake-ups:
//!
//! - A producer makes work visible (local or global queue) and then calls
//!   [`Idle::worker_to_notify`], which wakes a parked worker only if no worker is searching and
//!   some worker is parked. A woken worker starts out searching (the notifier counts it).
//! - A searching worker that finds work leaves the searching state; if it was the last
//!   searcher it wakes another worker, so that the work behind the one it found is picked up.
//! - A worker parks with [`Idle::worker_to_parked`]; if it was the last searcher it checks every
//!   queue once more *after* the count changed, and wakes a worker if any has work. All count
//!   changes are `SeqCst` read-modify-writes, so either the producer sees "nobody searching" and
//!   wakes someone, or the last searcher sees the producer's work.
//! - At most half of the workers search at a time, so stealing does not thrash.

use crate::sync::atomic::{
    AtomicUsize,
    Ordering::{Relaxed, SeqCst},
};
use crate::sync::{Mutex, lock};

const UNPARK_SHIFT: u32 = 16;
const SEARCH_MASK: usize = (1 << UNPARK_SHIFT) - 1;
const ONE_UNPARKED: usize = 1 << UNPARK_SHIFT;

/// Outcome for a worker whose park returned.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(crate) enum Woken {
    /// Another thread picked this worker to run work: it is unparked and searching.
    Notified,
    /// The worker woke by itself (I/O, timer, spurious) with work at hand and unparked itself.
    SelfUnparked,
    /// Spurious wake-up with nothing to do: still parked.
    StillParked,
}

/// Aligned to 128 bytes so that `state`, which every notify check writes (a read-modify-write)
/// from every worker, shares no line with the fields beside it in `Shared` that each worker
/// reads at every poll (the shutdown flag, the debug state).
#[repr(align(128))]
pub(crate) struct Idle {
    state: AtomicUsize,
    num_workers: usize,
    sleepers: Mutex<Vec<usize>>,
}

fn searching(s: usize) -> usize {
    s & SEARCH_MASK
}

fn unparked(s: usize) -> usize {
    s >> UNPARK_SHIFT
}

impl Idle {
    pub(crate) fn new(num_workers: usize) -> Idle {
        assert!(
            num_workers > 0 && num_workers < SEARCH_MASK,
            "bad worker count {num_workers}"
        );
        Idle {
            state: AtomicUsize::new(num_workers << UNPARK_SHIFT),
            num_workers,
            sleepers: Mutex::new(Vec::with_capacity(num_workers)),
        }
    }

    /// Tries to become a searcher; false when half the workers search already.
    pub(crate) fn worker_to_searching(&self) -> bool {
        let s = self.state.load(SeqCst);
        if 2 * searching(s) >= self.num_workers {
            return false;
        }
        self.state.fetch_add(1, SeqCst);
        true
    }

    /// Stops searching; returns whether this was the last searcher (who must then wake a
    /// worker if work may remain).
    pub(crate) fn worker_from_searching(&self) -> bool {
        let prev = self.state.fetch_sub(1, SeqCst);
        debug_assert!(searching(prev) > 0);
        searching(prev) == 1
    }

    /// Records worker `index` as parked. Returns whether it was the last searcher: then the
    /// caller must re-check all queues and wake a worker if any has work.
    pub(crate) fn worker_to_parked(&self, index: usize, is_searching: bool) -> bool {
        let mut sl = lock(&self.sleepers);
        let prev = self
            .state
            .fetch_sub(ONE_UNPARKED + is_searching as usize, SeqCst);
        sl.push(index);
        is_searching && searching(prev) == 1
    }

    fn should_wake(&self) -> bool {
        // A read-modify-write, not a load: it orders this read after the producer's queue push
        // in the single total order of `SeqCst` operations on `state`.
        let s = self.state.fetch_add(0, SeqCst);
        searching(s) == 0 && unparked(s) < self.num_workers
    }

    /// A plain load that says whether [`Idle::worker_to_notify`] could pick anyone: false when
    /// a worker searches already or none is parked. Racy (it may miss a worker parking at this
    /// moment), so only for work that cannot be lost without a wake-up: a worker's push onto
    /// its own queue, which that running worker reaches anyway. There it saves the
    /// read-modify-write, which took the line of `state` away from the other workers at every
    /// yield of every task (issue #15).
    #[inline]
    pub(crate) fn may_notify(&self) -> bool {
        let s = self.state.load(Relaxed);
        searching(s) == 0 && unparked(s) < self.num_workers
    }

    /// Picks a parked worker to wake, counting it as unparked and searching, or `None` when a
    /// searcher exists already or nobody is parked.
    pub(crate) fn worker_to_notify(&self) -> Option<usize> {
        if !self.should_wake() {
            return None;
        }
        let mut sl = lock(&self.sleepers);
        if !self.should_wake() {
            return None;
        }
        let index = sl.pop()?;
        self.state.fetch_add(ONE_UNPARKED + 1, SeqCst);
        Some(index)
    }

    /// Settles the state of worker `index` after its park returned.
    pub(crate) fn woken(&self, index: usize, has_work: bool) -> Woken {
        let mut sl = lock(&self.sleepers);
        match sl.iter().position(|&i| i == index) {
            None => Woken::Notified,
            Some(pos) if has_work => {
                sl.swap_remove(pos);
                self.state.fetch_add(ONE_UNPARKED, SeqCst);
                Woken::SelfUnparked
            }
            Some(_) => Woken::StillParked,
        }
    }

    /// Number of searching workers (for metrics and tests).
    pub(crate) fn num_searching(&self) -> usize {
        searching(self.state.load(SeqCst))
    }

    /// Number of parked workers (for metrics and tests).
    pub(crate) fn num_parked(&self) -> usize {
        self.num_workers - unparked(self.state.load(SeqCst))
    }
}

impl std::fmt::Debug for Idle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state.load(SeqCst);
        f.debug_struct("Idle")
            .field("searching", &searching(s))
            .field("unparked", &unparked(s))
            .finish()
    }
}
