//! The crate's free functions: `spawn`, `spawn_local`, `spawn_blocking`, `run`,
//! `current_task`, `all_tasks`.

use std::future::Future;

use crate::local;
use crate::runtime::{self, Runtime};
use crate::task::{Task, TaskInfo};

/// Spawns a task onto the current runtime. Dropping the returned [`Task`] detaches it (unless
/// it was being awaited: see [`Task`]).
///
/// # Panics
///
/// Panics when called outside a tulip runtime (not on a worker, not inside
/// [`Runtime::block_on`] or [`run`], and no [`Handle::enter`](crate::Handle::enter) guard).
#[track_caller]
pub fn spawn<F>(fut: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let site = std::panic::Location::caller();
    let mut fut = Some(fut);
    // Fast path on a worker: no thread-local `Arc` clone to find the runtime.
    let spawned = runtime::worker::with_current(|w| {
        w.map(|w| {
            w.shared()
                .spawn(fut.take().expect("taken once"), None, site)
        })
    });
    if let Some(t) = spawned {
        return t;
    }
    let fut = fut.take().expect("not taken on this path");
    match runtime::handle::try_current_shared() {
        Some(s) => s.spawn(fut, None, site),
        None => panic!(
            "tulip_executor::spawn called outside of a tulip runtime: call it from inside \
             Runtime::block_on, tulip_executor::run, a spawned task, or use Handle::spawn"
        ),
    }
}

/// Spawns a `!Send` task onto the [`LocalExecutor`](crate::LocalExecutor) running on this thread (also the one
/// inside [`Runtime::block_on`] and [`run`]). Dropping the returned [`Task`] detaches it (unless
/// it was being awaited: see [`Task`]).
///
/// # Panics
///
/// Panics when no `LocalExecutor` runs on this thread.
#[track_caller]
pub fn spawn_local<F>(fut: F) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    local::spawn_local_named(fut, None, false, std::panic::Location::caller())
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
        None => crate::blocking::Pool::global().spawn(f),
    }
}

/// asyncio's `run(main())`: builds a [`Runtime`], runs `fut` to completion on this thread,
/// then shuts the runtime down (cancelling tasks still pending).
///
/// # Panics
///
/// Panics when the runtime cannot start threads, or when called from inside a runtime.
#[track_caller]
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
    Some(unsafe { &*p }.info())
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
