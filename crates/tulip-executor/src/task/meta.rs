//! What every task carries beside its future: identity, scheduler, state flags, and (allocated
//! on first use) name, panic and cancellation messages and done callbacks.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use crate::done::{self, ENDED};
use crate::registry::RegistryRef;
use crate::sync::atomic::AtomicU16;
use std::task::{Context, Poll};

use crate::task::TaskId;
use std::sync::Arc;

/// The payload of a caught panic.
pub(crate) type Panic = Box<dyn Any + Send + 'static>;

/// The runnable type every scheduler in this crate queues.
pub(crate) type Runnable = async_task::Runnable<TaskMeta>;

/// Set once the `Task` handle was detached or dropped: nobody will observe the output.
const DETACHED: u16 = 1;
/// Set once the future panicked; the message waits in the side structure (`Extra::panic_msg`).
const PANICKED: u16 = 2;
/// Set once the panic was handed to the handle's owner (awaited or `cancel`led).
const OBSERVED: u16 = 4;
/// Set when the future returned its output.
const COMPLETED: u16 = 8;
/// Set when the future was dropped before it finished.
const CANCELLED: u16 = 16;
// `ENDED` (32) and `CALLBACKS` (256) belong to the done-callback protocol (`crate::done`).

/// Set by `Task::cancel_with`: the next poll drops the future instead of polling it. Never
/// cleared; the message waits in `TaskMeta::cancel_msg`.
const CANCEL_REQUESTED: u16 = 64;
/// Set once a `spawn_fallible` task's output was an `Err`; its text waits in
/// `Extra::panic_msg` (a task either panics or returns, so the two never share it).
const ERRORED: u16 = 128;

/// How a task ended, as its done callbacks see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskOutcome {
    /// The future returned its output.
    Completed,
    /// The future panicked.
    Panicked,
    /// The task was cancelled (explicitly, by its group, or at runtime shutdown).
    Cancelled,
}

type DoneCallback = Box<dyn FnOnce(TaskOutcome) + Send>;

/// Who schedules a task. Kept in the task's metadata so that the schedule function itself is
/// zero-sized and a spawn clones exactly one `Arc`.
#[derive(Clone)]
pub(crate) enum Scheduler {
    /// The multi-thread runtime.
    Multi(Arc<crate::runtime::Shared>),
    /// A single-thread `LocalExecutor`.
    Local(Arc<crate::local::LocalShared>),
    /// The blocking pool.
    Blocking(Arc<crate::blocking::Pool>),
}

impl Scheduler {
    /// Whether `self` and `other` are handles to the same scheduler.
    pub(crate) fn same(&self, other: &Scheduler) -> bool {
        match (self, other) {
            (Scheduler::Multi(a), Scheduler::Multi(b)) => Arc::ptr_eq(a, b),
            (Scheduler::Local(a), Scheduler::Local(b)) => Arc::ptr_eq(a, b),
            (Scheduler::Blocking(a), Scheduler::Blocking(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// The scheduler's registry of live tasks (the blocking pool keeps none).
    pub(crate) fn registry(&self) -> Option<RegistryRef<'_>> {
        match self {
            Scheduler::Multi(s) => Some(RegistryRef::Sharded(&s.registry)),
            Scheduler::Local(s) => Some(RegistryRef::Owned(&s.registry)),
            Scheduler::Blocking(_) => None,
        }
    }
}

/// Why a task's future produced no output, as the task's output carries it to the handle.
pub(crate) enum Stop {
    /// The future panicked.
    Panic(Panic),
    /// `Task::cancel_with` asked the task to stop; its future was dropped in place.
    Cancelled,
}

/// Metadata stored in the task allocation (one allocation per task, async-task's header).
///
/// Only what every spawn, poll and completion touches lives here (56 bytes); the rest waits
/// in [`Extra`], allocated by the first use. With the name behind a lock and a cancel message
/// inline the header had grown to 136 bytes and a trivial task's allocation to 224, and
/// spawn-and-join of such tasks lost 25-40% (issue #15): the header is built on the stack,
/// copied into the allocation and read by every thread that runs or wakes the task. A test
/// keeps it within a cache line.
pub(crate) struct TaskMeta {
    pub(crate) id: TaskId,
    pub(crate) scheduler: Scheduler,
    /// Where this task's registry entry is, `u32::MAX` when it has none: a slot of its
    /// scheduler's registry (in a runtime, of its home worker's table, or with the top bit
    /// set, of a shard; see `registry/sharded.rs`). 32 bits, so that `group` fits in the
    /// header's 56 bytes.
    pub(crate) reg_key: AtomicU32,
    flags: AtomicU16,
    /// The worker that spawned the task, plus one (0: spawned elsewhere): where a detached
    /// task's memory goes back to be freed (`crate::homing`). Set before the task is queued.
    pub(crate) home: u16,
    /// The mark of the `TaskGroup` this task is a child of (0: none); `TaskGroup::cancel`
    /// cancels the registered tasks that carry its mark. Marks are never reused.
    group: AtomicU64,
    /// The rarely used part; allocated at spawn only for a named task.
    extra: OnceLock<Box<Extra>>,
}

/// What few tasks need: a name, a panic or cancellation message, done callbacks.
#[derive(Default)]
struct Extra {
    /// The task's name; `Task::set_name` replaces it after spawn (asyncio's `Task.set_name`).
    name: Mutex<Option<Arc<str>>>,
    panic_msg: OnceLock<String>,
    /// The message of the first `Task::cancel_with` (asyncio's `cancel(msg)`).
    cancel_msg: OnceLock<Arc<str>>,
    /// Done callbacks (asyncio's `add_done_callback`).
    callbacks: Mutex<Vec<DoneCallback>>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl TaskMeta {
    #[inline]
    pub(crate) fn new(name: Option<Arc<str>>, scheduler: Scheduler) -> TaskMeta {
        let extra = OnceLock::new();
        if name.is_some() {
            let _ = extra.set(Box::new(Extra {
                name: Mutex::new(name),
                ..Extra::default()
            }));
        }
        TaskMeta {
            id: TaskId(NEXT_ID.fetch_add(1, Ordering::Relaxed)),
            scheduler,
            reg_key: AtomicU32::new(u32::MAX),
            flags: AtomicU16::new(0),
            home: 0,
            group: AtomicU64::new(0),
            extra,
        }
    }

    /// The rarely used part, allocated now if it was not yet.
    fn extra(&self) -> &Extra {
        self.extra.get_or_init(Box::default)
    }

    /// Registers `f` to run when the task ends, or runs it now if it has ended (the race
    /// with `finished` is `crate::done`'s protocol).
    pub(crate) fn add_done_callback(&self, f: DoneCallback) {
        let extra = self.extra();
        if let Err((f, flags)) = done::add(&self.flags, &extra.callbacks, f) {
            f(outcome_of(flags).unwrap_or(TaskOutcome::Cancelled));
        }
    }

    /// Records how the future ended (the first call wins: the drop that follows a completion
    /// is not a cancellation) and runs the done callbacks.
    #[inline]
    fn finished(&self, bit: u16) {
        if let Some(flags) = done::end(&self.flags, bit) {
            self.run_callbacks(flags);
        }
    }

    /// The end of a task with done callbacks: runs them.
    #[cold]
    #[inline(never)]
    fn run_callbacks(&self, flags: u16) {
        // `CALLBACKS` is set after `extra` exists, and the `AcqRel` update that saw it
        // synchronises with the one that set it.
        let Some(extra) = self.extra.get() else {
            unreachable!("CALLBACKS set before the callback list exists")
        };
        let outcome = outcome_of(flags).unwrap_or(TaskOutcome::Cancelled);
        for f in done::take(&extra.callbacks) {
            // A panicking callback must not skip the others nor unwind into the scheduler.
            let _ = catch_unwind(AssertUnwindSafe(|| f(outcome)));
        }
    }

    /// The task's current name.
    pub(crate) fn name(&self) -> Option<Arc<str>> {
        self.extra
            .get()?
            .name
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Renames the task (the old name is dropped outside the lock).
    pub(crate) fn set_name(&self, name: Option<Arc<str>>) {
        let old = std::mem::replace(
            &mut *self
                .extra()
                .name
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
            name,
        );
        drop(old);
    }

    /// A snapshot for `current_task()` and `all_tasks()`.
    pub(crate) fn info(&self) -> crate::task::TaskInfo {
        crate::task::TaskInfo {
            id: self.id,
            name: self.name().as_deref().map(str::to_owned),
        }
    }

    /// Asks the task to stop at its next poll, keeping the first message given. Returns
    /// `None` when the task had ended already (asyncio's `cancel()` result is `is_some()`),
    /// and otherwise whether this was the first request: only the first needs to wake the
    /// task, since the poll that wake brings sees the request.
    pub(crate) fn request_cancel(&self, msg: Option<Arc<str>>) -> Option<bool> {
        if let Some(m) = msg {
            let _ = self.extra().cancel_msg.set(m);
        }
        let prev = self.flags.fetch_or(CANCEL_REQUESTED, Ordering::AcqRel);
        (prev & ENDED == 0).then_some(prev & CANCEL_REQUESTED == 0)
    }

    #[inline]
    fn cancel_requested(&self) -> bool {
        self.flags.load(Ordering::Acquire) & CANCEL_REQUESTED != 0
    }

    /// The message given to `Task::cancel_with`, if any.
    pub(crate) fn cancel_message(&self) -> Option<Arc<str>> {
        self.extra.get()?.cancel_msg.get().cloned()
    }

    /// Records a panic of the future. Reports it at once when the handle is already gone.
    fn panicked(&self, payload: &Panic) {
        let msg = panic_message(payload);
        let _ = self.extra().panic_msg.set(msg);
        let prev = self.flags.fetch_or(PANICKED, Ordering::AcqRel);
        if prev & DETACHED != 0 {
            self.report();
        }
    }

    /// Records that the output of a `spawn_fallible` task is an `Err` (rendered as `msg`).
    /// Reports it at once when the handle is already gone.
    pub(crate) fn errored(&self, msg: String) {
        let _ = self.extra().panic_msg.set(msg);
        let prev = self.flags.fetch_or(ERRORED, Ordering::AcqRel);
        if prev & DETACHED != 0 {
            self.report();
        }
    }

    /// Whether the handle was detached or dropped (once true, stays true).
    pub(crate) fn is_detached(&self) -> bool {
        self.flags.load(Ordering::Acquire) & DETACHED != 0
    }

    /// Called when the handle is detached or dropped without observing the output.
    pub(crate) fn detached(&self) {
        let prev = self.flags.fetch_or(DETACHED, Ordering::AcqRel);
        if prev & (PANICKED | ERRORED) != 0 && prev & OBSERVED == 0 {
            self.report();
        }
    }

    /// Called when the handle's owner received the panic payload.
    pub(crate) fn observed(&self) {
        self.flags.fetch_or(OBSERVED, Ordering::AcqRel);
        self.diag().forget_spawn(self.id);
    }

    /// Called when the handle's owner received the output: an `Err` in it counts as retrieved.
    #[inline]
    pub(crate) fn output_taken(&self) {
        if self.flags.load(Ordering::Acquire) & ERRORED != 0 {
            self.observed();
        }
    }

    fn report(&self) {
        let msg = self
            .extra
            .get()
            .and_then(|e| e.panic_msg.get())
            .map(String::as_str)
            .unwrap_or("<unknown>");
        let panicked = self.flags.load(Ordering::Acquire) & PANICKED != 0;
        self.diag().report_not_retrieved(self.info(), panicked, msg);
    }

    /// Where this task's reports go: its scheduler's debug state.
    pub(crate) fn diag(&self) -> &crate::debug::Diag {
        match &self.scheduler {
            Scheduler::Multi(s) => &s.diag,
            Scheduler::Local(s) => &s.diag,
            Scheduler::Blocking(_) => crate::debug::Diag::global(),
        }
    }

    /// Forgets the spawn site once no report can name it any more: the task ended without a
    /// failure, or its failure was retrieved or reported already.
    fn forget_spawn_if_done(&self) {
        let f = self.flags.load(Ordering::Acquire);
        if f & (PANICKED | ERRORED) == 0 || f & (DETACHED | OBSERVED) != 0 {
            self.diag().forget_spawn(self.id);
        }
    }

    /// Marks the task as a child of the group whose mark is `mark` (never 0).
    pub(crate) fn set_group(&self, mark: u64) {
        self.group.store(mark, Ordering::Relaxed);
    }

    /// The mark of the task's group, 0 when it has none.
    pub(crate) fn group(&self) -> u64 {
        self.group.load(Ordering::Relaxed)
    }

    pub(crate) fn registry(&self) -> Option<RegistryRef<'_>> {
        self.scheduler.registry()
    }
}

impl fmt::Debug for TaskMeta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskMeta")
            .field("id", &self.id)
            .field("name", &self.name())
            .finish()
    }
}

/// The outcome that `flags` record, once the task has ended.
fn outcome_of(f: u16) -> Option<TaskOutcome> {
    if f & ENDED == 0 {
        None
    } else if f & COMPLETED != 0 {
        Some(TaskOutcome::Completed)
    } else if f & PANICKED != 0 {
        Some(TaskOutcome::Panicked)
    } else {
        Some(TaskOutcome::Cancelled)
    }
}

/// Extracts a printable message from a panic payload.
pub(crate) fn panic_message(payload: &Panic) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_string()
    }
}

/// The future async-task runs: the user's future, with panics caught and the task's registry
/// slot released when the future is dropped (completed or cancelled).
pub(crate) struct TaskFuture<F> {
    /// `None` once a cancellation request dropped the future in place.
    fut: Option<F>,
    meta: *const TaskMeta,
    /// The task's context variables: the spawner's, copied at spawn (asyncio's contextvars).
    ctx: Option<crate::context::Map>,
}

// SAFETY: invariant 1 of `crate::task` (the metadata outlives the future and is `Sync`); the
// pointer is only ever read as `&TaskMeta`, so sending it is as safe as sending `&TaskMeta`.
unsafe impl<F: Send> Send for TaskFuture<F> {}

impl<F> TaskFuture<F> {
    pub(crate) fn new(fut: F, meta: &TaskMeta) -> TaskFuture<F> {
        TaskFuture {
            fut: Some(fut),
            meta,
            ctx: crate::context::capture(),
        }
    }

    fn meta(&self) -> &TaskMeta {
        // SAFETY: invariant 1 of `crate::task`: async-task drops the future before the metadata,
        // both live in the same allocation, and the pointer came from `&TaskMeta`.
        unsafe { &*self.meta }
    }
}

impl<F> TaskFuture<F> {
    /// `Task::cancel_with` was called: drops the future here, in the task's own context (its
    /// drop guards see its context variables), and hands the handle a cancellation. A
    /// panicking destructor is swallowed, as the worker does for one run by async-task's own
    /// cancellation; the slot holds `None` afterwards either way.
    ///
    /// Out of line and cold, so that the poll every task runs stays as small as it was
    /// before cancellation existed (a larger one stopped being inlined into async-task's
    /// `run`).
    #[cold]
    #[inline(never)]
    fn cancel_in_place<T>(
        mut fut: Pin<&mut Option<F>>,
        ctx: &mut Option<crate::context::Map>,
        meta: &TaskMeta,
    ) -> Poll<Result<T, Stop>> {
        let _ = crate::context::enter(ctx, || catch_unwind(AssertUnwindSafe(|| fut.set(None))));
        meta.finished(CANCELLED);
        Poll::Ready(Err(Stop::Cancelled))
    }
}

impl<F: Future> Future for TaskFuture<F> {
    type Output = Result<F::Output, Stop>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: structural pinning of `fut`: it is never moved out of `self` (only dropped in
        // place, by `Pin::set` in `cancel_in_place` or with `self`), and `TaskFuture` has no
        // `Unpin` impl of its own beyond the auto impl that follows `F`.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: invariant 1 of `crate::task`, as in `TaskFuture::meta`; read through a copy
        // of the pointer so that it does not borrow `this` beside `this.fut`.
        let meta = unsafe { &*this.meta };
        // SAFETY: as above; `this.fut` stays pinned in the task allocation.
        let mut fut = unsafe { Pin::new_unchecked(&mut this.fut) };
        if meta.cancel_requested() {
            return Self::cancel_in_place(fut, &mut this.ctx, meta);
        }
        let Some(fut) = fut.as_mut().as_pin_mut() else {
            // async-task never polls a future that returned `Ready`.
            unreachable!("a cancelled task polled again")
        };
        let polled = crate::context::enter(&mut this.ctx, || {
            catch_unwind(AssertUnwindSafe(|| fut.poll(cx)))
        });
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => {
                meta.finished(COMPLETED);
                Poll::Ready(Ok(v))
            }
            Err(payload) => {
                meta.panicked(&payload);
                meta.finished(PANICKED);
                Poll::Ready(Err(Stop::Panic(payload)))
            }
        }
    }
}

impl<F> Drop for TaskFuture<F> {
    fn drop(&mut self) {
        let meta = self.meta();
        // A no-op when the future finished; otherwise the task is being cancelled.
        meta.finished(CANCELLED);
        if let Some(reg) = meta.registry() {
            reg.remove(meta);
        }
        meta.forget_spawn_if_done();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_fits_a_cache_line() {
        // Rarely used data belongs in `Extra` (or another lazily allocated side structure):
        // every spawn writes this header and every poll reads it.
        assert!(
            std::mem::size_of::<TaskMeta>() <= 64,
            "TaskMeta grew to {} bytes",
            std::mem::size_of::<TaskMeta>()
        );
    }

    #[test]
    fn a_plain_task_allocates_no_extra_and_a_named_one_keeps_its_name() {
        let pool = crate::blocking::Pool::global().clone();
        let plain = TaskMeta::new(None, Scheduler::Blocking(pool.clone()));
        assert!(plain.extra.get().is_none());
        assert_eq!(plain.name(), None);
        assert_eq!(plain.cancel_message(), None);
        assert!(plain.extra.get().is_none(), "reading must not allocate");

        let named = TaskMeta::new(Some(Arc::from("n")), Scheduler::Blocking(pool));
        assert_eq!(named.name().as_deref(), Some("n"));
        named.set_name(Some(Arc::from("m")));
        assert_eq!(named.name().as_deref(), Some("m"));
        assert_eq!(named.request_cancel(Some(Arc::from("why"))), Some(true));
        assert_eq!(named.cancel_message().as_deref(), Some("why"));
        // Only the first message is kept, and only the first request wakes.
        assert_eq!(named.request_cancel(Some(Arc::from("later"))), Some(false));
        assert_eq!(named.cancel_message().as_deref(), Some("why"));
    }
}
