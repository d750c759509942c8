//! `task::Builder`: spawn a task with a name.

use std::future::Future;
use std::sync::Arc;

use crate::runtime::Handle;
use crate::task::Task;

/// Configures a task before spawning it (today: its name, as asyncio's `create_task(name=)`).
///
/// ```
/// # tulip_executor::Runtime::new().unwrap().block_on(async {
/// let task = tulip_executor::task::Builder::new().name("worker-1").spawn(async { 7 });
/// assert_eq!(task.name(), Some("worker-1"));
/// assert_eq!(task.await.unwrap(), 7);
/// # });
/// ```
#[derive(Debug, Default, Clone)]
pub struct Builder {
    name: Option<Arc<str>>,
}

impl Builder {
    /// A builder with no name set.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the task; the name shows in [`Task::name`], `all_tasks()`, debug-mode warnings and
    /// panic reports.
    pub fn name(mut self, name: impl AsRef<str>) -> Builder {
        self.name = Some(Arc::from(name.as_ref()));
        self
    }

    /// Spawns the task onto the current runtime (see [`spawn`](crate::spawn)).
    ///
    /// # Panics
    ///
    /// Panics when called outside a tulip runtime.
    pub fn spawn<F>(self, fut: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Handle::current().shared().spawn(fut, self.name)
    }

    /// Spawns the task onto the runtime of `handle`.
    pub fn spawn_on<F>(self, handle: &Handle, fut: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        handle.shared().spawn(fut, self.name)
    }

    /// Spawns a `!Send` task onto the current thread's `LocalExecutor` (see
    /// [`spawn_local`](crate::spawn_local)).
    ///
    /// # Panics
    ///
    /// Panics when no `LocalExecutor` runs on this thread.
    pub fn spawn_local<F>(self, fut: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        crate::local::spawn_local_named(fut, self.name)
    }
}
