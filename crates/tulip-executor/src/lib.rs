//! tulip's executor: a tokio-class work-stealing runtime with asyncio's event-loop API.
//!
//! Tasks are [async-task](https://docs.rs/async-task) allocations (one per task). The
//! multi-thread [`Runtime`] gives each worker a fixed-size local run queue, a LIFO slot for the
//! task it just woke, and steals half batches from its siblings; a wake on a worker goes to that
//! worker's own queue, wakes from elsewhere to a global injector. A detached task that ends on
//! another worker than the one that spawned it goes back to its spawner to be freed, so that
//! the thread that allocated a task frees it (glibc's malloc otherwise serialises the two
//! threads on an arena lock; see [`runtime::WorkerMetrics::homed`]). Idle workers park; one of
//! them waits in the reactor. The single-thread [`LocalExecutor`] runs `!Send` futures, asyncio's
//! own model. Blocking closures go to a bounded pool ([`spawn_blocking`]).
//!
//! [`Task`] handles await to `Result<T, JoinError>`: a panic in a task is caught and handed to
//! whoever awaits it (reported to the exception handler when nobody does). **Dropping a `Task` detaches it**,
//! unless the handle was being awaited: an abandoned await (a `wait_for` or `timeout` that
//! expired, a dropped `gather`) cancels the task, as in asyncio (see [`Task`]). Cancellation
//! is otherwise explicit ([`Task::cancel`], [`Task::cancel_with`]).
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
//! # Features
//!
//! - `tracing` (off by default): every task runs in a `tracing` span `task` (target
//!   `tulip_executor::task`, fields `task.id`, `task.name`, `spawn.location`), and the
//!   default exception handler also emits each report as a `tracing` event (target
//!   `tulip_executor::debug`, fields `kind`, `task.id`, `task.name`, `error`, `site`). A
//!   subscriber that also forwards `log` records (tracing-log's `LogTracer`) sees a report
//!   twice. Without the feature nothing of `tracing` is compiled in.
//!
//! # Debug mode
//!
//! `TULIP_DEBUG=1` (or [`runtime::Builder::debug`]) reports, through the runtime's exception
//! handler ([`Handle::set_exception_handler`], by default the `log` crate), every poll longer
//! than 100 ms (on workers, `LocalExecutor`s and the main future), resources dropped unclosed
//! and tasks pending at shutdown, each with its creation site. Panics and
//! [`spawn_fallible`](task::Builder::spawn_fallible) errors nobody retrieved are reported in
//! every mode. See [`debug`].

#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![warn(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

// Under `--cfg loom` only the lock-free core (run queue, idle protocol) is built, for
// `tests/loom.rs`: the reactor below us cannot build under loom (parking has no timed park there).
#[cfg(not(loom))]
mod blocking;
#[cfg(not(loom))]
pub mod context;
#[cfg(not(loom))]
pub mod debug;
mod done;
#[cfg(not(loom))]
mod enter;
#[cfg(not(loom))]
mod entry;
mod homing;
mod idle;
#[cfg(not(loom))]
mod local;
#[cfg(not(loom))]
#[doc(hidden)]
pub mod __macro_support {
    pub use crate::macro_support::*;
}
#[cfg(loom)]
#[doc(hidden)]
pub mod loom_models;
#[cfg(not(loom))]
mod macro_support;
mod mailbox;
#[cfg(not(loom))]
mod registry;
#[cfg(not(loom))]
pub mod runtime;
mod slots;
// Under loom the runtime is only its run queue, which `loom_models` exposes to the models.
#[cfg(loom)]
mod runtime {
    pub(crate) mod queue;
}
mod sync;
#[cfg(not(loom))]
pub mod task;
#[cfg(not(loom))]
mod toolkit;
#[cfg(not(loom))]
mod trace;

#[cfg(not(loom))]
pub use entry::{all_tasks, current_task, run, spawn, spawn_blocking, spawn_local};
#[cfg(not(loom))]
pub use local::LocalExecutor;
#[cfg(not(loom))]
pub use runtime::{Handle, Runtime, TimerHandle};
#[cfg(not(loom))]
pub use task::{JoinError, Task, TaskId, TaskInfo, spawn_eager};
#[cfg(not(loom))]
pub use toolkit::{
    AsCompleted, AsCompletedTimeout, CountsAsFailure, Failure, Gather, GroupError, GroupSpawner,
    GroupTask, ReturnWhen, Shield, TaskGroup, TryGather, Wait, YieldNow, as_completed, gather,
    gather2, gather3, shield, try_gather, try_gather2, try_gather3, wait, wait_for, yield_now,
};
#[cfg(all(not(loom), feature = "tracing"))]
pub use trace::TASK_TARGET;
