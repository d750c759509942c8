//! `LocalExecutor`: a single-thread executor for `!Send` futures (asyncio's own model), and the
//! `block_on` loop that `Runtime::block_on` shares.
//!
//! Tasks woken on the executor's thread go to a plain `VecDeque`; wakes from other threads go
//! to a concurrent queue and unpark the thread.
//!
//! The main future of a `block_on` takes its turn like a task (asyncio's main coroutine is
//! one): woken on this thread, it is polled after the local tasks that were queued at that
//! moment and before those queued later; woken from another thread, after those queued when
//! the loop notices. At most `BATCH` tasks run between two looks at it.
//!
//! # Safety invariants
//!
//! 1. `CURRENT` points to the `LocalCtx` of the `LocalExecutor` whose `block_on` runs on this
//!    thread; it is set for the duration of that call (a guard restores the previous value,
//!    also on unwind) while the executor is borrowed, so the pointee outlives every read.
//! 2. The main future's `TaskMeta` (its task identity) is boxed by `run_until` and outlives
//!    both its registry entry (removed by `MainTask`'s drop, before the box is freed) and its
//!    publication in `CURRENT_TASK` (restored by a guard right after each poll of the main
//!    future), so `current_task()` and `all_tasks()` only ever read it alive.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::Location;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::*};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use concurrent_queue::ConcurrentQueue;
use tulip_reactor::{Release, Seat, SeatWaker};

use crate::registry::Owned as LocalRegistry;
use crate::runtime::worker::CURRENT_TASK;
use crate::task::meta::{Runnable, Scheduler, TaskFuture, TaskMeta};
use crate::task::{Task, TaskInfo};

/// The name `current_task()` and `all_tasks()` give the main future of a `block_on`.
pub(crate) const MAIN_TASK_NAME: &str = "main";

/// Local tasks run per turn before the main future and the remote queue get a look.
const BATCH: usize = 128;
/// Every this many tasks the remote queue goes first and the reactor is polled.
const REMOTE_INTERVAL: u32 = 61;

pub(crate) struct LocalShared {
    remote: ConcurrentQueue<Runnable>,
    pub(crate) registry: LocalRegistry,
    /// Unparks the executor's thread, or interrupts the reactor when it waits there.
    waker: SeatWaker,
    /// Debug mode and the exception handler: the executor's own, or its runtime's inside
    /// `Runtime::block_on`.
    pub(crate) diag: Arc<crate::debug::Diag>,
}

struct LocalCtx {
    shared: Arc<LocalShared>,
    queue: RefCell<VecDeque<Runnable>>,
    /// The thread's place at the reactor. Released normally after each turn: the thread
    /// runs `!Send` user code next, which may block it, so another must be free to drive.
    seat: Seat,
    /// How many queued local tasks were ahead of the main future when a wake on this thread
    /// set its `woken` flag; `usize::MAX` when none was recorded (see `run_batch`).
    main_ahead: Cell<usize>,
}

thread_local! {
    static CURRENT: Cell<*const LocalCtx> = const { Cell::new(std::ptr::null()) };
}

/// A single-thread executor: `spawn` takes `!Send` futures, `block_on` runs them all on the
/// calling thread until the given future completes.
///
/// Dropping the executor cancels its remaining tasks (their destructors run on this thread).
///
/// ```
/// use std::rc::Rc;
/// let ex = tulip_executor::LocalExecutor::new();
/// let shared = Rc::new(5);
/// let out = ex.block_on(async {
///     let s = shared.clone();
///     let t = tulip_executor::spawn_local(async move { *s * 2 });
///     t.await.unwrap()
/// });
/// assert_eq!(out, 10);
/// ```
pub struct LocalExecutor {
    ctx: Rc<LocalCtx>,
    _not_send: PhantomData<*const ()>,
}

impl Default for LocalExecutor {
    fn default() -> Self {
        LocalExecutor::new()
    }
}

impl LocalExecutor {
    /// A new executor, bound to the calling thread, in debug mode when `TULIP_DEBUG` says so
    /// (see [`set_debug`](Self::set_debug)).
    #[track_caller]
    pub fn new() -> LocalExecutor {
        let diag = crate::debug::Diag::new(
            crate::debug::env_debug(),
            crate::debug::DEFAULT_SLOW_POLL,
            Some(std::panic::Location::caller()),
        );
        LocalExecutor::with_diag(diag)
    }

    fn with_diag(diag: Arc<crate::debug::Diag>) -> LocalExecutor {
        let seat = Seat::new(Release::HandOff);
        let shared = Arc::new(LocalShared {
            remote: ConcurrentQueue::unbounded(),
            registry: LocalRegistry::new(seat.waker()),
            waker: seat.waker(),
            diag,
        });
        LocalExecutor {
            ctx: Rc::new(LocalCtx {
                shared,
                queue: RefCell::new(VecDeque::new()),
                seat,
                main_ahead: Cell::new(usize::MAX),
            }),
            _not_send: PhantomData,
        }
    }

    /// Spawns a `!Send` task onto this executor. Dropping the handle detaches the task, unless
    /// it was being awaited (see [`Task`]).
    #[track_caller]
    pub fn spawn<F>(&self, fut: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let site = std::panic::Location::caller();
        let (runnable, task) = make_task(&self.ctx.shared, fut, None, site);
        // `LocalExecutor` is `!Send`, so this is the owning thread: queue without the
        // cross-thread queue and wake-up that the schedule function uses off the running loop.
        self.ctx.queue.borrow_mut().push_back(runnable);
        task
    }

    /// Runs the executor's tasks and `fut` on this thread until `fut` completes.
    ///
    /// # Panics
    ///
    /// Panics when the thread already runs tulip (a nested `block_on`): await instead.
    #[track_caller]
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        let _enter = crate::enter::enter();
        run_until(&self.ctx, fut, true, Location::caller())
    }

    /// The tasks alive on this executor.
    pub fn all_tasks(&self) -> Vec<TaskInfo> {
        self.ctx.shared.registry.list()
    }

    /// Turns debug mode on or off (asyncio's `loop.set_debug`; see [`crate::debug`]).
    pub fn set_debug(&self, on: bool) {
        self.ctx.shared.diag.set_debug(on);
    }

    /// The poll duration that debug mode warns about (100 ms by default).
    pub fn set_slow_poll_threshold(&self, d: std::time::Duration) {
        self.ctx.shared.diag.set_slow_poll(d);
    }

    /// Sets the handler of this executor's reports (asyncio's `loop.set_exception_handler`;
    /// see [`Handle::set_exception_handler`](crate::Handle::set_exception_handler)).
    pub fn set_exception_handler(
        &self,
        f: impl Fn(&crate::debug::ExceptionContext) + Send + Sync + 'static,
    ) {
        self.ctx.shared.diag.set_handler(Some(Arc::new(f)));
    }
}

impl Drop for LocalExecutor {
    fn drop(&mut self) {
        let ctx = &*self.ctx;
        let diag = &ctx.shared.diag;
        if diag.debug() {
            diag.report_pending("LocalExecutor", &ctx.shared.registry.list());
        }
        for _ in 0..16 {
            drain(ctx);
            let wakers = ctx.shared.registry.drain();
            if wakers.is_empty() {
                break;
            }
            // Waking a task queues its runnable (remotely: this executor is not running);
            // `drain` then drops it here, on the owning thread, which drops the future.
            for w in wakers {
                w.wake();
            }
        }
        drain(ctx);
    }
}

fn drain(ctx: &LocalCtx) {
    loop {
        let r = ctx.queue.borrow_mut().pop_front();
        match r.or_else(|| ctx.shared.remote.pop().ok()) {
            Some(r) => drop(r),
            None => break,
        }
    }
}

impl fmt::Debug for LocalExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalExecutor")
            .field("registry", &self.ctx.shared.registry)
            .finish()
    }
}

fn spawn_on<F>(
    shared: &Arc<LocalShared>,
    fut: F,
    name: Option<Arc<str>>,
    eager: bool,
    site: &'static std::panic::Location<'static>,
) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let (runnable, task) = make_task(shared, fut, name, site);
    if eager {
        crate::task::run_eagerly(runnable);
    } else {
        runnable.schedule();
    }
    task
}

/// Builds and registers a local task; the caller queues the runnable.
fn make_task<F>(
    shared: &Arc<LocalShared>,
    fut: F,
    name: Option<Arc<str>>,
    site: &'static std::panic::Location<'static>,
) -> (Runnable, Task<F::Output>)
where
    F: Future + 'static,
    F::Output: 'static,
{
    let meta = TaskMeta::new(name, Scheduler::Local(shared.clone()));
    let (runnable, task) = async_task::Builder::new().metadata(meta).spawn_local(
        move |m| TaskFuture::new(crate::trace::task(fut, m, site), m),
        schedule,
    );
    shared
        .registry
        .insert(runnable.metadata(), runnable.waker());
    if shared.diag.debug() {
        shared.diag.record_spawn(runnable.metadata().id, site);
    }
    (runnable, Task::new(task))
}

/// `spawn_local` with an optional name, started eagerly or queued.
pub(crate) fn spawn_local_named<F>(
    fut: F,
    name: Option<Arc<str>>,
    eager: bool,
    site: &'static std::panic::Location<'static>,
) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let p = CURRENT.with(Cell::get);
    assert!(
        !p.is_null(),
        "spawn_local called outside a LocalExecutor: use LocalExecutor::block_on, \
         Runtime::block_on or tulip_executor::run"
    );
    // SAFETY: invariant 1: a non-null `CURRENT` is the running executor's context.
    let ctx = unsafe { &*p };
    spawn_on(&ctx.shared, fut, name, eager, site)
}

/// Runs `f` with the debug state of the `LocalExecutor` running on this thread, if any.
pub(crate) fn with_current_diag<R>(f: impl FnOnce(Option<&Arc<crate::debug::Diag>>) -> R) -> R {
    let p = CURRENT.try_with(Cell::get).unwrap_or(std::ptr::null());
    if p.is_null() {
        return f(None);
    }
    // SAFETY: invariant 1.
    f(Some(&unsafe { &*p }.shared.diag))
}

/// The tasks of the `LocalExecutor` running on this thread, if any.
pub(crate) fn current_tasks() -> Vec<TaskInfo> {
    let p = CURRENT.with(Cell::get);
    if p.is_null() {
        return Vec::new();
    }
    // SAFETY: invariant 1.
    unsafe { &*p }.shared.registry.list()
}

fn schedule(runnable: Runnable) {
    let Scheduler::Local(shared) = &runnable.metadata().scheduler else {
        unreachable!("a local task carries a local scheduler")
    };
    let p = CURRENT.with(Cell::get);
    if !p.is_null() {
        // SAFETY: invariant 1.
        let ctx = unsafe { &*p };
        if Arc::ptr_eq(&ctx.shared, shared) {
            ctx.queue.borrow_mut().push_back(runnable);
            return;
        }
    }
    // Hold our own reference: the runnable may run and free the task once queued.
    let shared = shared.clone();
    let _ = shared.remote.push(runnable);
    shared.waker.wake();
}

/// The running context when the calling thread is inside `run_until` of the executor that
/// owns `shared`: then it is running tasks or dispatching a reactor turn, not parked nor
/// blocked in epoll, and `run_until` looks at the main future's `woken` flag before it waits
/// again, so a wake from here needs neither an unpark nor a reactor notification.
fn running_here(shared: &Arc<LocalShared>) -> Option<&LocalCtx> {
    let p = CURRENT.with(Cell::get);
    // SAFETY: invariant 1: a non-null `CURRENT` is the running executor's context, alive for
    // the whole `run_until` call, which outlives any use of the reference here (a wake).
    let ctx = unsafe { p.as_ref() }?;
    Arc::ptr_eq(&ctx.shared, shared).then_some(ctx)
}

/// Wakes the main future of a `block_on`.
struct MainWaker {
    woken: AtomicBool,
    shared: Arc<LocalShared>,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(ctx) = running_here(&self.shared) {
            // This thread is the one that clears `woken` and then polls, in program order, so
            // a `true` read here is a clear still to come: no read-modify-write is needed.
            if !self.woken.load(Relaxed) && !self.woken.swap(true, AcqRel) {
                ctx.main_ahead.set(ctx.queue.borrow().len());
            }
        } else if !self.woken.swap(true, AcqRel) {
            self.shared.waker.wake();
        }
    }
}

/// Restores the previous `CURRENT` (invariant 1).
struct Restore(*const LocalCtx);

impl Drop for Restore {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.0));
    }
}

/// `Runtime::block_on`'s loop: a fresh local executor, so that `spawn_local` works inside,
/// sharing the runtime's debug state.
pub(crate) fn block_on_thread<F: Future>(
    fut: F,
    diag: &Arc<crate::debug::Diag>,
    site: &'static Location<'static>,
) -> F::Output {
    let ex = LocalExecutor::with_diag(diag.clone());
    run_until(&ex.ctx, fut, false, site)
}

/// Runs `ctx`'s tasks and `fut` until `fut` completes. `drive_io`: whether this thread may wait
/// in the reactor when idle (not inside `Runtime::block_on`, whose workers drive I/O).
fn run_until<F: Future>(
    ctx: &LocalCtx,
    fut: F,
    drive_io: bool,
    site: &'static Location<'static>,
) -> F::Output {
    let prev = CURRENT.with(|c| c.replace(ctx));
    let _restore = Restore(prev);
    let main = Arc::new(MainWaker {
        woken: AtomicBool::new(true),
        shared: ctx.shared.clone(),
    });
    let waker = Waker::from(main.clone());
    let mut cx = Context::from_waker(&waker);
    // asyncio's main coroutine is a task: give the main future an id and the name "main",
    // list it in this executor's registry (so `all_tasks()` shows it) and publish it as the
    // current task while it is polled (invariant 2).
    let main_task = MainTask::register(ctx, &waker, site);
    let mut fut = pin!(fut);
    // Like `asyncio.run`, the main future runs in a copy of the caller's context variables:
    // it sees what was set before, and what it sets does not outlive the call.
    let mut vars = crate::context::capture();
    let mut tick: u32 = 0;
    // A count recorded for an earlier `block_on`'s main future is not this one's.
    ctx.main_ahead.set(usize::MAX);
    loop {
        if main.woken.swap(false, AcqRel) {
            let polled = main_task.poll(&ctx.shared.diag, || {
                crate::context::enter(&mut vars, || fut.as_mut().poll(&mut cx))
            });

            if let Poll::Ready(v) = polled {
                return v;
            }
        }
        let ran = run_batch(ctx, &main.woken, &mut tick, drive_io);
        // Requests posted from other threads are served before the thread sleeps (their
        // poster woke it); serving may queue tasks.
        if ran > 0 || main.woken.load(Acquire) || ctx.shared.registry.serve() {
            continue;
        }
        if drive_io {
            if let Err(e) = ctx.seat.wait(&ctx.shared.waker) {
                // epoll itself failed: say so; the seat pauses before its next try.
                log::error!("tulip: the reactor failed: {e}");
            }
        } else {
            ctx.seat.park();
        }
    }
}

/// Runs up to `BATCH` queued tasks, stopping early when the queues are empty or when the main
/// future was woken and its turn came (see the module doc); returns how many ran. Every
/// `REMOTE_INTERVAL` tasks the remote queue goes first and (with `drive_io`) the reactor is
/// polled.
///
/// Polling the main future as soon as it was woken, as this loop did before, made a
/// `block_on` that joins many tasks poll it, and register a waker on the next handle, once
/// per task: 10 000 spawns joined from `block_on` took 0.89-1.06 of tokio's current-thread
/// runtime, and 0.61-0.74 with the main future in its turn (docs/BENCHMARKS.md, session 10).
///
/// Kept out of `run_until` (and its per-future state) so that this loop, which every task
/// passes through, keeps its values in registers: inlined into the larger function it cost
/// yield_many about 7 instructions more per task.
#[inline(never)]
fn run_batch(ctx: &LocalCtx, main_woken: &AtomicBool, tick: &mut u32, drive_io: bool) -> usize {
    // Local tasks still to run before the main future's turn, once it is seen woken.
    let ahead = |ctx: &LocalCtx| {
        ctx.main_ahead
            .replace(usize::MAX)
            .min(ctx.queue.borrow().len())
    };
    let mut ahead_of_main = if main_woken.load(Relaxed) {
        ahead(ctx)
    } else {
        usize::MAX
    };
    let mut ran = 0;
    while ran < BATCH && ahead_of_main > 0 {
        *tick = tick.wrapping_add(1);
        let r = if *tick % REMOTE_INTERVAL == 0 {
            if drive_io {
                ctx.seat.poll();
            }
            ctx.shared
                .remote
                .pop()
                .ok()
                .or_else(|| ctx.queue.borrow_mut().pop_front())
        } else {
            let local = ctx.queue.borrow_mut().pop_front();
            local.or_else(|| ctx.shared.remote.pop().ok())
        };
        let Some(r) = r else { break };
        // A group cancelled from another thread sets its children's flags here, before any
        // of them polls again (see `registry::owned`): one load when nothing was posted.
        ctx.shared.registry.serve();
        run_task(r, &ctx.shared.diag);
        ran += 1;
        if ahead_of_main != usize::MAX {
            ahead_of_main -= 1;
        } else if main_woken.load(Relaxed) {
            ahead_of_main = ahead(ctx);
        }
    }
    ran
}

/// The main future's task identity for the duration of one `run_until`.
struct MainTask<'a> {
    meta: Box<TaskMeta>,
    registry: &'a LocalRegistry,
}

impl<'a> MainTask<'a> {
    fn register(
        ctx: &'a LocalCtx,
        waker: &Waker,
        site: &'static Location<'static>,
    ) -> MainTask<'a> {
        let meta = Box::new(TaskMeta::new(
            Some(Arc::from(MAIN_TASK_NAME)),
            Scheduler::Local(ctx.shared.clone()),
        ));
        ctx.shared.registry.insert(&meta, waker.clone());
        if ctx.shared.diag.debug() {
            ctx.shared.diag.record_spawn(meta.id, site);
        }
        MainTask {
            meta,
            registry: &ctx.shared.registry,
        }
    }

    /// Runs `poll` with the main task published as the current task, restoring the previous
    /// one after (also on unwind). In debug mode a slow poll is reported like a task's.
    fn poll<R>(&self, diag: &crate::debug::Diag, poll: impl FnOnce() -> R) -> R {
        struct Restore(*const TaskMeta);
        impl Drop for Restore {
            fn drop(&mut self) {
                CURRENT_TASK.with(|c| c.set(self.0));
            }
        }
        let me: *const TaskMeta = &*self.meta;
        let _restore = Restore(CURRENT_TASK.with(|c| c.replace(me)));
        if !diag.debug() {
            return poll();
        }
        let start = Instant::now();
        let out = poll();
        let took = start.elapsed();
        if took > diag.slow_poll() {
            diag.report_slow_poll(self.meta.info(), diag.spawn_site(self.meta.id), took);
        }
        out
    }
}

impl Drop for MainTask<'_> {
    fn drop(&mut self) {
        // Invariant 2: the registry entry points at `meta`, so it leaves before `meta` is freed.
        self.registry.remove(&self.meta);
        if let Scheduler::Local(s) = &self.meta.scheduler {
            s.diag.forget_spawn(self.meta.id);
        }
    }
}

fn run_task(r: Runnable, diag: &crate::debug::Diag) {
    let meta: *const TaskMeta = r.metadata();
    CURRENT_TASK.with(|c| c.set(meta));
    if diag.debug() {
        // SAFETY: invariant 4 of `task`: `r` keeps the allocation alive until `run` returns,
        // and the snapshot is taken before.
        let info = unsafe { &*meta }.info();
        let site = diag.spawn_site(info.id);
        let start = Instant::now();
        let _ = catch_unwind(AssertUnwindSafe(|| r.run()));
        let took = start.elapsed();
        if took > diag.slow_poll() {
            diag.report_slow_poll(info, site, took);
        }
    } else {
        // The task's wrapper catches panics of the future; this catches a panicking destructor.
        let _ = catch_unwind(AssertUnwindSafe(|| r.run()));
    }
    CURRENT_TASK.with(|c| c.set(std::ptr::null()));
}
