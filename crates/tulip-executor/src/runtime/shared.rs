//! State shared by a runtime's workers and handles: queues, idle protocol, registry, config.

use std::future::Future;
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*, fence};
use std::task::Waker;

use async_task::{ScheduleInfo, WithInfo};
use concurrent_queue::ConcurrentQueue;
use tulip_reactor::SeatWaker;

use crate::blocking::Pool;
use crate::homing::{self, Homing};
use crate::idle::Idle;
use crate::registry::Sharded;
use crate::runtime::queue::Stealer;
use crate::runtime::worker;
use crate::task::Task;
use crate::task::meta::{Runnable, Scheduler, TaskFuture, TaskMeta};

pub(crate) type Hook = Arc<dyn Fn() + Send + Sync>;

pub(crate) struct Config {
    pub(crate) on_thread_start: Option<Hook>,
    pub(crate) on_thread_stop: Option<Hook>,
}

/// Per-worker counters, written only by their worker (plain load + store), read by anyone.
///
/// On a cache line of their own: the worker writes `polls` at every poll, and beside the
/// stealer and waker that the other workers read (or beside the next worker's counters) each
/// of those writes took the line away from the other core (issue #15).
#[derive(Default)]
#[repr(align(64))]
pub(crate) struct Counters {
    pub(crate) polls: AtomicU64,
    pub(crate) steals: AtomicU64,
    pub(crate) parks: AtomicU64,
    pub(crate) injector_pops: AtomicU64,
    pub(crate) homed: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(c: &AtomicU64, n: u64) {
        c.store(c.load(Relaxed) + n, Relaxed);
    }
}

/// What other threads need of a worker: its stealer and how to wake it.
///
/// Aligned to 128 bytes (two lines, as the adjacent-line prefetcher pairs them) so that no
/// two workers' entries share a line: each worker writes its own `counters` and its waker's
/// flag, and reads the others' stealers.
#[repr(align(128))]
pub(crate) struct Remote {
    pub(crate) stealer: Stealer<Runnable>,
    /// Unparks the worker, or interrupts the reactor when the worker waits in it.
    pub(crate) waker: SeatWaker,
    pub(crate) counters: Counters,
    /// Last references to tasks this worker spawned that ended on a sibling, for this worker
    /// to drop (`crate::homing`).
    pub(crate) homing: Homing<Waker>,
}

impl Remote {
    pub(crate) fn wake(&self) {
        self.waker.wake();
    }
}

pub(crate) struct Shared {
    pub(crate) injector: ConcurrentQueue<Runnable>,
    pub(crate) remotes: Box<[Remote]>,
    pub(crate) idle: Idle,
    pub(crate) shutdown: AtomicBool,
    /// `finish_shutdown` made its last drain of the injector: a runnable queued after it is
    /// dropped by whoever queued it.
    pub(crate) drained: AtomicBool,
    pub(crate) registry: Sharded,
    pub(crate) blocking: Arc<Pool>,
    pub(crate) stop: crate::runtime::loop_api::StopSignal,
    pub(crate) config: Config,
    /// Debug mode, the exception handler and spawn sites (`crate::debug`).
    pub(crate) diag: Arc<crate::debug::Diag>,
}

impl Shared {
    pub(crate) fn num_workers(&self) -> usize {
        self.remotes.len()
    }

    /// Spawns `fut` onto this runtime (`site`: the user's spawn call).
    pub(crate) fn spawn<F>(
        self: &Arc<Self>,
        fut: F,
        name: Option<Arc<str>>,
        site: &'static Location<'static>,
    ) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_with(fut, name, false, site)
    }

    /// Spawns `fut` onto this runtime; `eager`: poll it once on this thread first, instead
    /// of queueing it (see `task::Builder::eager`).
    pub(crate) fn spawn_with<F>(
        self: &Arc<Self>,
        fut: F,
        name: Option<Arc<str>>,
        eager: bool,
        site: &'static Location<'static>,
    ) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let mut meta = TaskMeta::new(name, Scheduler::Multi(self.clone()));
        meta.home = worker::home_mark(self);
        let (runnable, task) = async_task::Builder::new().metadata(meta).spawn(
            move |m| TaskFuture::new(crate::trace::task(fut, m, site), m),
            WithInfo(schedule),
        );
        if self.shutdown.load(Acquire) {
            // The runtime is gone: the task is cancelled at once (awaiting it says so).
            drop(runnable);
            return Task::new(task);
        }
        self.registry.insert(runnable.metadata(), runnable.waker());
        if self.diag.debug() {
            self.diag.record_spawn(runnable.metadata().id, site);
        }
        if self.shutdown.load(SeqCst) {
            // Shutdown raced with this spawn and may have drained the registry already.
            self.registry.remove(runnable.metadata());
            drop(runnable);
            return Task::new(task);
        }
        if eager {
            crate::task::run_eagerly(runnable);
        } else {
            runnable.schedule();
        }
        Task::new(task)
    }

    /// Queues a runnable from a thread that is not one of this runtime's workers, or from any
    /// thread once shutdown began.
    ///
    /// A runnable is never dropped here, not even during shutdown: this runs inside
    /// `Waker::wake`, whose caller may hold a lock that the task's destructor takes (h2 wakes
    /// its connection task while holding its stream lock, and the connection's destructor
    /// takes that lock), so dropping the future here can deadlock the thread on itself.
    /// During shutdown the injector is where woken tasks wait for `finish_shutdown` to drop
    /// them, outside any wake.
    pub(crate) fn schedule_remote(&self, runnable: Runnable) {
        // The injector is unbounded and never closed, so the push cannot fail.
        let _ = self.injector.push(runnable);
        if self.shutdown.load(SeqCst) {
            // Pairs with the fence in `finish_shutdown`: either its last drain sees our push,
            // or we see `drained` and drop the task ourselves, so that it (it holds an `Arc`
            // of us) does not keep us alive forever. Only a task still alive after the last
            // drain gets here: one left running on a worker that missed the shutdown timeout.
            fence(SeqCst);
            if self.drained.load(SeqCst) {
                self.drain_injector();
            }
            return;
        }
        self.notify_parked();
    }

    /// Wakes one parked worker if nobody searches for work already.
    pub(crate) fn notify_parked(&self) {
        if let Some(i) = self.idle.worker_to_notify() {
            self.remotes[i].wake();
        }
    }

    /// Whether any queue holds work (a re-check by the last searcher before it parks).
    pub(crate) fn has_pending_work(&self) -> bool {
        !self.injector.is_empty() || self.remotes.iter().any(|r| !r.stealer.is_empty())
    }

    pub(crate) fn drain_injector(&self) {
        while let Ok(r) = self.injector.pop() {
            drop(r);
        }
    }

    /// Starts shutdown: no new work runs, every worker wakes to exit.
    pub(crate) fn begin_shutdown(&self) {
        if self.shutdown.swap(true, SeqCst) {
            return;
        }
        for r in self.remotes.iter() {
            r.wake();
        }
        tulip_reactor::Reactor::get().notify();
    }

    /// After the workers stopped: cancel every task left, running their destructors here.
    pub(crate) fn finish_shutdown(&self) {
        if self.diag.debug() {
            self.diag.report_pending("runtime", &self.registry.list());
        }
        // Dropping a future may wake or even spawn others; repeat until nothing is left.
        for _ in 0..16 {
            self.drain_injector();
            let wakers = self.registry.drain();
            if wakers.is_empty() {
                break;
            }
            // Each wake schedules the task into the injector (the schedule function never
            // drops it: see `schedule_remote`); the next drain drops the future, here.
            for w in wakers {
                w.wake();
            }
        }
        self.drain_injector();
        self.drained.store(true, SeqCst);
        fence(SeqCst);
        self.drain_injector();
        homing::drop_all_after_shutdown(self.remotes.iter().map(|r| &r.homing));
        self.blocking.shutdown();
    }
}

/// async-task's schedule function for runtime tasks.
fn schedule(runnable: Runnable, info: ScheduleInfo) {
    let Scheduler::Multi(shared) = &runnable.metadata().scheduler else {
        unreachable!("a runtime task carries a runtime scheduler")
    };
    let target: *const Shared = Arc::as_ptr(shared);
    // Fast path: woken on one of this runtime's workers, the task goes to that worker's own
    // queue (never the global one).
    let runnable = match worker::schedule_on_current(target, runnable, info) {
        None => return,
        Some(r) => r,
    };
    let Scheduler::Multi(shared) = &runnable.metadata().scheduler else {
        unreachable!()
    };
    // The runnable may be run and freed by a worker the moment it is queued: hold our own
    // reference to the runtime until we are done notifying.
    let shared = shared.clone();
    shared.schedule_remote(runnable);
}
