//! A worker thread: its run loop, its LIFO slot and local queue, stealing and parking.
//!
//! # Safety invariants
//!
//! 1. `CURRENT` points to the `Worker` on the stack of the running worker thread, set when
//!    the loop starts and cleared (by a guard, also on unwind) before the `Worker` is dropped;
//!    it is only read on that same thread.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering::*;
use std::time::Instant;

use async_task::ScheduleInfo;
use tulip_reactor::{Release, Seat, SeatWaker};

use crate::idle::Woken;
use crate::runtime::queue::{self, Local};
use crate::runtime::shared::{Counters, Shared};
use crate::slots;
use crate::task::meta::{Runnable, Scheduler, TaskMeta};

/// Re-poll the LIFO slot at most this many times in a row, so that two tasks waking each
/// other cannot starve the rest of the queue.
const LIFO_CAP: u32 = 3;
/// Every this many ticks the worker checks the injector first (fairness) and polls the
/// reactor without blocking (I/O readiness while busy).
const GLOBAL_INTERVAL: u32 = 61;
/// Every this many spawns the worker also frees the tasks of its own that ended on siblings
/// (`crate::homing`), so that a burst of spawns inside one poll reuses their memory.
const SPAWN_INTERVAL: u32 = 32;

pub(crate) struct Worker {
    index: usize,
    shared: Arc<Shared>,
    local: Local<Runnable>,
    lifo: Cell<Option<Runnable>>,
    /// The worker's place at the reactor: it drives it when idle, polls it when busy.
    seat: Seat,
    is_searching: Cell<bool>,
    /// True while the worker waits for work: wakes it receives are run after the wait.
    parked: Cell<bool>,
    tick: Cell<u32>,
    spawns: Cell<u32>,
    lifo_streak: Cell<u32>,
    rng: Cell<u32>,
    /// What this worker alone keeps of its registry table (`crate::slots`).
    table_owner: RefCell<slots::Owner>,
}

thread_local! {
    static CURRENT: Cell<*const Worker> = const { Cell::new(std::ptr::null()) };
    /// The task being polled on this thread, for `current_task()` (invariant 4 of `task`).
    pub(crate) static CURRENT_TASK: Cell<*const TaskMeta> = const { Cell::new(std::ptr::null()) };
}

/// What `Runtime::new` makes for each worker before starting its thread.
pub(crate) struct Parts {
    pub(crate) local: Local<Runnable>,
    pub(crate) seat: Seat,
}

pub(crate) fn parts() -> (Parts, queue::Stealer<Runnable>, SeatWaker) {
    let (local, stealer) = queue::new();
    // Quiet: a worker comes back to the reactor by itself (it polls every GLOBAL_INTERVAL
    // tasks and drives when idle); its seat hands the reactor over when the thread exits.
    let seat = Seat::new(Release::Quiet);
    let waker = seat.waker();
    (Parts { local, seat }, stealer, waker)
}

/// Runs `f` with the worker of this thread, if this thread is a worker.
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Worker>) -> R) -> R {
    let p = CURRENT.with(Cell::get);
    if p.is_null() {
        f(None)
    } else {
        // SAFETY: invariant 1: a non-null `CURRENT` points to this thread's live worker.
        f(Some(unsafe { &*p }))
    }
}

/// The schedule fast path: queues `runnable` locally when this thread is a worker of
/// `shared`'s runtime; hands it back otherwise.
pub(crate) fn schedule_on_current(
    shared: *const Shared,
    runnable: Runnable,
    info: ScheduleInfo,
) -> Option<Runnable> {
    with_current(|w| match w {
        Some(w) if std::ptr::eq(Arc::as_ptr(&w.shared), shared) => {
            w.schedule_local(runnable, info);
            None
        }
        _ => Some(runnable),
    })
}

/// The home mark of a task spawned now onto `shared` (`TaskMeta::home`): this worker's index
/// plus one when this thread is one of `shared`'s workers, 0 otherwise. Called once per spawn,
/// before the task is allocated.
pub(crate) fn home_mark(shared: &Arc<Shared>) -> u16 {
    with_current(|w| match w {
        Some(w) if Arc::ptr_eq(&w.shared, shared) => {
            let n = w.spawns.get().wrapping_add(1);
            w.spawns.set(n);
            if n % SPAWN_INTERVAL == 0 {
                w.drop_homed();
            }
            // Fits: a runtime has far fewer than 2^16 - 1 workers (`Idle::new`).
            (w.index + 1) as u16
        }
        _ => 0,
    })
}

/// Runs `f` with the owner state of worker `index`'s registry table, when this thread is that
/// worker of the runtime whose registry is `registry`; `None` on any other thread.
#[inline]
pub(crate) fn with_table_owner<R>(
    registry: &crate::registry::Sharded,
    index: usize,
    f: impl FnOnce(&mut slots::Owner) -> R,
) -> Option<R> {
    with_current(|w| match w {
        Some(w) if w.index == index && std::ptr::eq(&w.shared.registry, registry) => {
            Some(f(&mut w.table_owner.borrow_mut()))
        }
        _ => None,
    })
}

/// Drops `waker`, the registry's reference to a task whose future was just dropped, or sends
/// it to the worker that spawned the task when that is a sibling of this worker and the task
/// is detached: its last reference is likely this one, and the memory is best freed by the
/// thread that allocated it (`crate::homing`).
pub(crate) fn release(meta: &TaskMeta, waker: std::task::Waker) {
    let home = usize::from(meta.home);
    let Scheduler::Multi(target) = &meta.scheduler else {
        return drop(waker);
    };
    if home == 0 || !meta.is_detached() {
        return drop(waker);
    }
    let target = Arc::as_ptr(target);
    // `meta` lives in the task's allocation: once the waker is sent, the home worker may free
    // it, so nothing below reads `meta`.
    with_current(|w| match w {
        Some(w) if std::ptr::eq(Arc::as_ptr(&w.shared), target) && w.index + 1 != home => {
            let shared = &w.shared;
            shared.remotes[home - 1]
                .homing
                .send(waker, &shared.shutdown);
        }
        _ => drop(waker),
    })
}

/// The runtime of the current worker thread, if any.
pub(crate) fn current_shared() -> Option<Arc<Shared>> {
    with_current(|w| w.map(|w| w.shared.clone()))
}

impl Worker {
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    fn counters(&self) -> &Counters {
        &self.shared.remotes[self.index].counters
    }

    fn schedule_local(&self, runnable: Runnable, info: ScheduleInfo) {
        if self.shared.shutdown.load(Relaxed) {
            // Never dropped inside a wake (see `Shared::schedule_remote`): queued for
            // `finish_shutdown`, which drops it outside any waker call.
            self.shared.schedule_remote(runnable);
            return;
        }
        let pushed_back = if info.woken_while_running {
            // A task that wakes itself while running (a yield) goes behind the others.
            self.push_back(runnable);
            true
        } else {
            match self.lifo.replace(Some(runnable)) {
                Some(prev) => {
                    self.push_back(prev);
                    true
                }
                None => false,
            }
        };
        // The pre-check is racy (`Idle::may_notify`), which is enough here: what we pushed is
        // on our own queue and we are running, so we run it ourselves if no sibling steals it.
        if pushed_back && !self.parked.get() && self.shared.idle.may_notify() {
            self.shared.notify_parked();
        }
    }

    fn push_back(&self, r: Runnable) {
        let shared = &self.shared;
        self.local.push_back(r, |r| {
            let _ = shared.injector.push(r);
        });
    }

    fn has_lifo(&self) -> bool {
        // `Cell<Option<_>>` has no peek: take and put back.
        let l = self.lifo.take();
        let has = l.is_some();
        self.lifo.set(l);
        has
    }

    fn has_local_work(&self) -> bool {
        self.has_lifo() || !self.local.is_empty()
    }

    fn next_rand(&self) -> u32 {
        // xorshift32: good enough to spread steal attempts.
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng.set(x);
        x
    }

    fn run(&self) {
        let shared = &*self.shared;
        while !shared.shutdown.load(Acquire) {
            let tick = self.tick.get().wrapping_add(1);
            self.tick.set(tick);
            if tick % GLOBAL_INTERVAL == 0 {
                self.seat.poll();
                self.drop_homed();
            }
            if let Some(r) = self.next_task(tick) {
                self.run_task(r);
                continue;
            }
            if let Some(r) = self.steal_work() {
                self.run_task(r);
                continue;
            }
            self.park();
        }
    }

    fn next_task(&self, tick: u32) -> Option<Runnable> {
        if tick % GLOBAL_INTERVAL == 0 {
            if let Ok(r) = self.shared.injector.pop() {
                Counters::bump(&self.counters().injector_pops, 1);
                return Some(r);
            }
        }
        if let Some(r) = self.lifo.take() {
            if self.lifo_streak.get() < LIFO_CAP {
                self.lifo_streak.set(self.lifo_streak.get() + 1);
                return Some(r);
            }
            self.push_back(r);
        }
        self.lifo_streak.set(0);
        if let Some(r) = self.local.pop() {
            return Some(r);
        }
        self.pop_injector_batch()
    }

    /// Takes a task from the injector and moves a fair share of the rest to the local queue.
    fn pop_injector_batch(&self) -> Option<Runnable> {
        let injector = &self.shared.injector;
        if injector.is_empty() {
            return None;
        }
        let first = injector.pop().ok()?;
        let share = (injector.len() / self.shared.num_workers()).min(queue::CAP as usize / 2);
        let mut n = 1;
        for _ in 0..share {
            match injector.pop() {
                Ok(r) => {
                    self.push_back(r);
                    n += 1;
                }
                Err(_) => break,
            }
        }
        Counters::bump(&self.counters().injector_pops, n);
        Some(first)
    }

    fn steal_work(&self) -> Option<Runnable> {
        let shared = &*self.shared;
        if !self.is_searching.get() {
            if !shared.idle.worker_to_searching() {
                return None;
            }
            self.is_searching.set(true);
        }
        let n = shared.num_workers();
        let start = self.next_rand() as usize % n;
        for i in 0..n {
            let idx = (start + i) % n;
            if idx == self.index {
                continue;
            }
            if let Some(r) = shared.remotes[idx].stealer.steal_into(&self.local) {
                Counters::bump(&self.counters().steals, 1);
                return Some(r);
            }
        }
        self.pop_injector_batch()
    }

    fn run_task(&self, r: Runnable) {
        if self.is_searching.replace(false) && self.shared.idle.worker_from_searching() {
            // We were the last searcher and found work: there may be more behind it.
            self.shared.notify_parked();
        }
        Counters::bump(&self.counters().polls, 1);
        let meta: *const TaskMeta = r.metadata();
        CURRENT_TASK.with(|c| c.set(meta));
        let diag = &self.shared.diag;
        if diag.debug() {
            // SAFETY: invariant 4 of `task`: `r` keeps the allocation alive here.
            let info = unsafe { &*meta }.info();
            let site = diag.spawn_site(info.id);
            let start = Instant::now();
            let _ = catch_unwind(AssertUnwindSafe(|| r.run()));
            let took = start.elapsed();
            if took > diag.slow_poll() {
                diag.report_slow_poll(info, site, took);
            }
        } else {
            // The task's own wrapper catches panics of the future; this catches the rest
            // (a panicking destructor) so that the worker survives.
            let _ = catch_unwind(AssertUnwindSafe(|| r.run()));
        }
        CURRENT_TASK.with(|c| c.set(std::ptr::null()));
    }

    /// Frees the tasks of ours that ended on siblings (`crate::homing`).
    fn drop_homed(&self) {
        let n = self.shared.remotes[self.index].homing.drop_all();
        if n > 0 {
            Counters::bump(&self.counters().homed, n as u64);
        }
    }

    fn park(&self) {
        if self.has_local_work() {
            return;
        }
        // Before sleeping, so that memory is not held for as long as we sleep.
        self.drop_homed();
        let shared = &*self.shared;
        let was_searching = self.is_searching.replace(false);
        if shared.idle.worker_to_parked(self.index, was_searching) && shared.has_pending_work() {
            shared.notify_parked();
        }
        Counters::bump(&self.counters().parks, 1);
        self.parked.set(true);
        let remote = &shared.remotes[self.index];
        loop {
            if shared.shutdown.load(Acquire) {
                break;
            }
            if let Err(e) = self.seat.wait(&remote.waker) {
                // epoll itself failed: nothing sensible is left but to say so (the seat
                // pauses before its next try, so this does not spin).
                log::error!("tulip: the reactor failed: {e}");
            }
            if shared.shutdown.load(Acquire) {
                break;
            }
            // Work anywhere (not only our own queue) unparks us: a wake-up that does not
            // name us (a reactor hand-off, a timer) is as good a time as any to help.
            let has_work = self.has_local_work() || shared.has_pending_work();
            match shared.idle.woken(self.index, has_work) {
                Woken::Notified => {
                    self.is_searching.set(true);
                    break;
                }
                Woken::SelfUnparked => break,
                Woken::StillParked => {}
            }
        }
        self.parked.set(false);
        // The reactor woke several tasks onto our queue (one may sit in the LIFO slot): let a
        // sibling help, or a lone worker ends up running every batch while the others sleep.
        if self.local.len() + usize::from(self.has_lifo()) > 1 {
            shared.notify_parked();
        }
    }

    /// Drops every runnable this worker still holds (at shutdown), on this thread.
    fn drain(&self) {
        drop(self.lifo.take());
        while let Some(r) = self.local.pop() {
            drop(r);
        }
        self.drop_homed();
    }
}

/// Clears `CURRENT` when the worker loop ends, also on unwind (invariant 1).
struct ClearCurrent;

impl Drop for ClearCurrent {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(std::ptr::null()));
    }
}

/// The body of worker thread `index`.
pub(crate) fn main(index: usize, shared: Arc<Shared>, parts: Parts) {
    let _enter = crate::enter::enter();
    let _handle = crate::runtime::handle::enter_handle(shared.clone());
    if let Some(f) = &shared.config.on_thread_start {
        f();
    }
    let worker = Worker {
        index,
        shared: shared.clone(),
        local: parts.local,
        lifo: Cell::new(None),
        seat: parts.seat,
        is_searching: Cell::new(false),
        parked: Cell::new(false),
        tick: Cell::new(0),
        spawns: Cell::new(0),
        lifo_streak: Cell::new(0),
        rng: Cell::new(0x9E37_79B9 ^ (index as u32 + 1).wrapping_mul(0x85EB_CA6B)),
        table_owner: RefCell::default(),
    };
    {
        CURRENT.with(|c| c.set(&worker));
        let _clear = ClearCurrent;
        worker.run();
    }
    worker.drain();
    // The seat released the reactor quietly; dropping it hands the reactor over to the
    // threads standing by, since this one will not come back.
    drop(worker);
    if let Some(f) = &shared.config.on_thread_stop {
        f();
    }
}
