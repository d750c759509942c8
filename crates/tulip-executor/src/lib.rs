//! tulip's executor: a tokio-class work-stealing runtime with asyncio's event-loop API.
//!
//! Tasks are [async-task](https://docs.rs/async-task) allocations (one per task). The
//! multi-thread [`Runtime`] gives each worker a fixed-size local run queue, a LIFO slot for the
//! task it just woke, and steals half batches from its siblings; a wake on a worker goes to that
//! worker's own queue, wakes from elsewhere to a global injector. Idle workers park; one of them
//! waits in the reactor. The single-thread [`LocalExecutor`] runs `!Send` futures, asyncio's
//! own model. Blocking closures go to a bounded pool ([`spawn_blocking`]).
//!
//! [`Task`] handles await to `Result<T, JoinError>`: a panic in a task is caught and handed to
//! whoever awaits it (reported on stderr when nobody does). **Dropping a `Task` detaches it**;
//! cancellation is explicit ([`Task::cancel`]).
//!
//! # Examples
//!
//! ```
//! let sum = tulip_executor::run(async {
//!     let tasks: Vec<_> = (0..10u64).map(|i| tulip_executor::spawn(async move { i * i })).collect();
//!     let mut sum = 0;
//!     for t in tasks {
//!         sum += t.await.unwrap();
//!     }
//!     sum
//! });
//! assert_eq!(sum, 285);
//! ```
//!
//! # Debug mode
//!
//! `TULIP_DEBUG=1` (or [`runtime::Builder::debug`]) warns on stderr when one poll of a task runs
//! longer than 100 ms, naming the task, and lists the tasks still pending at shutdown.

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms, unreachable_pub)]
#![warn(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

mod blocking;
mod debug;
mod driver;
mod enter;
mod idle;
mod local;
mod queue;
mod registry;
pub mod runtime;
mod sync;
pub mod task;
mod toolkit;


use std::future::Future;

pub use local::LocalExecutor;
pub use runtime::{Handle, Runtime, TimerHandle};
pub use task::{JoinError, Task, TaskId, TaskInfo};
pub use toolkit::{
    AsCompleted, AsCompletedTimeout, Failure, Gather, GroupError, GroupSpawner, GroupTask, Outcome,
    ReturnWhen, Shield, TaskGroup, TryGather, Wait, YieldNow, as_completed, gather, gather2, gather3,
    shield, try_gather, try_gather2, try_gather3, wait, wait_for, yield_now,
};

/// Spawns a task onto the current runtime. Dropping the returned [`Task`] detaches it.
///
/// # Panics
///
/// Panics when called outside a tulip runtime (not on a worker, not inside
/// [`Runtime::block_on`] or [`run`], and no [`Handle::enter`] guard).
pub fn spawn<F>(fut: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut fut = Some(fut);
    // Fast path on a worker: no thread-local `Arc` clone to find the runtime.
    let spawned = runtime::worker::with_current(|w| {
        w.map(|w| w.shared().spawn(fut.take().expect("taken once"), None))
    });
    if let Some(t) = spawned {
        return t;
    }
    let fut = fut.take().expect("not taken on this path");
    match runtime::handle::try_current_shared() {
        Some(s) => s.spawn(fut, None),
        None => panic!(
            "tulip_executor::spawn called outside of a tulip runtime: call it from inside \
             Runtime::block_on, tulip_executor::run, a spawned task, or use Handle::spawn"
        ),
    }
}

/// Spawns a `!Send` task onto the [`LocalExecutor`] running on this thread (also the one
/// inside [`Runtime::block_on`] and [`run`]). Dropping the returned [`Task`] detaches it.
///
/// # Panics
///
/// Panics when no `LocalExecutor` runs on this thread.
pub fn spawn_local<F>(fut: F) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    local::spawn_local_named(fut, None)
}

/// Runs a blocking closure on the blocking pool (asyncio's `to_thread`): the current runtime's
/// pool, or a process-wide one outside any runtime.
pub fn spawn_blocking<F, T>(f: F) -> Task<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match runtime::handle::try_current_shared() {
        Some(s) => s.blocking.spawn(f),
        None => blocking::Pool::global().spawn(f),
    }
}

/// asyncio's `run(main())`: builds a [`Runtime`], runs `fut` to completion on this thread,
/// then shuts the runtime down (cancelling tasks still pending).
///
/// # Panics
///
/// Panics when the runtime cannot start threads, or when called from inside a runtime.
pub fn run<F: Future>(fut: F) -> F::Output {
    let rt = Runtime::new().expect("tulip_executor::run: cannot start the runtime's threads");
    rt.block_on(fut)
}

/// The task being polled on this thread (asyncio's `current_task()`), or `None` outside a task.
pub fn current_task() -> Option<TaskInfo> {
    let p = runtime::worker::CURRENT_TASK.with(std::cell::Cell::get);
    if p.is_null() {
        return None;
    }
    // SAFETY: invariant 4 of `task`: the pointer is published only while its runnable runs.
    let meta = unsafe { &*p };
    Some(TaskInfo { id: meta.id, name: meta.name.as_deref().map(str::to_owned) })
}

/// The live tasks of the current runtime and of this thread's `LocalExecutor` (asyncio's
/// `all_tasks()`), sorted by id.
pub fn all_tasks() -> Vec<TaskInfo> {
    let mut out = local::current_tasks();
    if let Some(s) = runtime::handle::try_current_shared() {
        out.extend(s.registry.list());
    }
    out.sort_by_key(|t| t.id);
    out
}
