//! `task::Builder`: spawn a task with a name, or eagerly; and `spawn_eager`.

use std::fmt::Display;
use std::future::Future;
use std::panic::Location;
use std::sync::Arc;

use super::fallible::Fallible;

use crate::runtime::Handle;
use crate::task::Task;

/// Configures a task before spawning it: its name (asyncio's `create_task(name=)`) and whether
/// it starts eagerly (asyncio 3.12's `eager_task_factory`).
///
/// ```
/// # tulip_executor::Runtime::new().unwrap().block_on(async {
/// let task = tulip_executor::task::Builder::new().name("worker-1").spawn(async { 7 });
/// assert_eq!(task.name().as_deref(), Some("worker-1"));
/// assert_eq!(task.await.unwrap(), 7);
/// # });
/// ```
#[derive(Debug, Default, Clone)]
pub struct Builder {
    name: Option<Arc<str>>,
    eager: bool,
}

impl Builder {
    /// A builder with no name set, spawning lazily.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the task; the name shows in [`Task::name`], `all_tasks()`, debug-mode warnings and
    /// panic reports.
    pub fn name(mut self, name: impl AsRef<str>) -> Builder {
        self.name = Some(Arc::from(name.as_ref()));
        self
    }

    /// Starts the task eagerly (asyncio 3.12's `eager_task_factory`): the spawn call itself
    /// polls the future once, on the spawning thread, before returning the handle. A future
    /// that completes in that first poll is done without ever being queued; one that returns
    /// `Pending` is left waiting for its waker like any task, and runs on the runtime's
    /// workers from then on.
    ///
    /// The first poll runs inside the caller, so:
    ///
    /// - it runs as the new task: [`current_task`](crate::current_task) names the new task,
    ///   and the caller's is restored when the spawn returns;
    /// - it runs in the new task's context variables, a copy of the caller's taken at spawn
    ///   (what it sets stays in the task, as with any spawn);
    /// - a panic in it is caught and handed to the handle ([`JoinError::is_panic`](crate::JoinError::is_panic)),
    ///   the caller goes on;
    /// - its time counts towards the caller's poll (debug mode's slow-poll warning names the
    ///   caller), and an eager spawn inside an eager first poll nests on the stack, so keep
    ///   eager futures short before their first `.await` (a chain of eager spawns recurses).
    ///
    /// Eager start pays off for futures that often finish without waiting (a cache hit, a
    /// buffered read): they skip the queue, the wake-up and the cross-thread hand-off.
    ///
    /// ```
    /// use tulip_executor::task::Builder;
    ///
    /// tulip_executor::run(async {
    ///     let cached = Builder::new().eager(true).spawn(async { 42 });
    ///     // Done during the spawn call: never queued, never polled by a worker.
    ///     assert!(cached.is_finished());
    ///     assert_eq!(cached.await.unwrap(), 42);
    /// });
    /// ```
    pub fn eager(mut self, eager: bool) -> Builder {
        self.eager = eager;
        self
    }

    /// Spawns the task onto the current runtime (see [`spawn`](crate::spawn)).
    ///
    /// # Panics
    ///
    /// Panics when called outside a tulip runtime.
    #[track_caller]
    pub fn spawn<F>(self, fut: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let site = Location::caller();
        Handle::current()
            .shared()
            .spawn_with(fut, self.name, self.eager, site)
    }

    /// Spawns a task whose output is a `Result`, reporting an `Err` that nobody retrieves
    /// (asyncio's "Task exception was never retrieved"): if the handle is dropped or
    /// [`detach`](Task::detach)ed without the output having been taken, the error's text goes
    /// to the runtime's exception handler
    /// ([`ReportKind::TaskErrorNotRetrieved`](crate::debug::ReportKind::TaskErrorNotRetrieved),
    /// logged at `error` level by default), with the spawn site in debug mode.
    ///
    /// The output counts as **retrieved** once awaiting the handle (or
    /// [`Task::cancel`]) has handed it out, whatever the caller then does with it. Every
    /// other end counts as not retrieved: the handle dropped or detached before or after the
    /// task finished, or a group that dropped it.
    ///
    /// A separate method because stable Rust cannot ask a generic output whether it is an
    /// `Err`: [`spawn`](Self::spawn) takes any output, so it cannot look inside (a panic is
    /// reported either way).
    ///
    /// ```
    /// use tulip_executor::task::Builder;
    ///
    /// tulip_executor::run(async {
    ///     let t = Builder::new()
    ///         .name("fetch")
    ///         .spawn_fallible(async { Err::<(), _>("connection refused") });
    ///     // Dropping `t` here would report "task \"fetch\" (Task-..) returned an error that
    ///     // was never retrieved: connection refused". Awaiting retrieves it:
    ///     assert_eq!(t.await.unwrap(), Err("connection refused"));
    /// });
    /// ```
    #[track_caller]
    pub fn spawn_fallible<F, T, E>(self, fut: F) -> Task<Result<T, E>>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Display + Send + 'static,
    {
        let site = Location::caller();
        Handle::current()
            .shared()
            .spawn_with(Fallible::new(fut), self.name, self.eager, site)
    }

    /// Spawns the task onto the runtime of `handle` (an eager first poll runs on the calling
    /// thread, whichever it is).
    #[track_caller]
    pub fn spawn_on<F>(self, handle: &Handle, fut: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        handle
            .shared()
            .spawn_with(fut, self.name, self.eager, Location::caller())
    }

    /// Spawns a `!Send` task onto the current thread's `LocalExecutor` (see
    /// [`spawn_local`](crate::spawn_local)).
    ///
    /// # Panics
    ///
    /// Panics when no `LocalExecutor` runs on this thread.
    #[track_caller]
    pub fn spawn_local<F>(self, fut: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        crate::local::spawn_local_named(fut, self.name, self.eager, Location::caller())
    }

    /// [`spawn_local`](Self::spawn_local) for a task whose `Err` output is reported when
    /// nobody retrieves it (see [`spawn_fallible`](Self::spawn_fallible)).
    #[track_caller]
    pub fn spawn_local_fallible<F, T, E>(self, fut: F) -> Task<Result<T, E>>
    where
        F: Future<Output = Result<T, E>> + 'static,
        T: 'static,
        E: Display + 'static,
    {
        crate::local::spawn_local_named(
            Fallible::new(fut),
            self.name,
            self.eager,
            Location::caller(),
        )
    }
}

/// Spawns a task onto the current runtime and polls it once right here before returning
/// (asyncio 3.12's `eager_task_factory`); shorthand for
/// [`Builder::new().eager(true).spawn(fut)`](Builder::eager), whose documentation gives the
/// semantics. Dropping the returned [`Task`] detaches it, as for [`spawn`](crate::spawn).
///
/// # Panics
///
/// Panics when called outside a tulip runtime.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
///
/// static STARTED: AtomicBool = AtomicBool::new(false);
///
/// tulip_executor::run(async {
///     let t = tulip_executor::spawn_eager(async {
///         STARTED.store(true, Ordering::SeqCst);
///         tulip_executor::yield_now().await; // the rest runs on a worker
///         1
///     });
///     // The part before the first `.await` ran inside `spawn_eager`.
///     assert!(STARTED.load(Ordering::SeqCst));
///     assert_eq!(t.await.unwrap(), 1);
/// });
/// ```
#[track_caller]
pub fn spawn_eager<F>(fut: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Builder::new().eager(true).spawn(fut)
}
