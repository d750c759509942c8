//! Debug mode and the exception handler (asyncio's `loop.set_debug`,
//! `loop.set_exception_handler`, `loop.default_exception_handler`).
//!
//! Debug mode is on for a runtime built with [`runtime::Builder::debug`](crate::runtime::Builder::debug)
//! or when `TULIP_DEBUG=1` (also `true`, `yes`, `on`). It adds:
//!
//! - **slow-poll warnings**: one poll of a task, of a `LocalExecutor` task or of the main future
//!   of `block_on`/`run` that takes longer than the threshold (100 ms, asyncio's
//!   `slow_callback_duration`) is reported, naming the task and where it was spawned;
//! - **creation sites**: tasks, streams, servers, transports, child processes and runtimes
//!   remember where they were created (`#[track_caller]`), and every report names it;
//! - **unclosed resources** (asyncio's `ResourceWarning`): a tracked resource dropped without
//!   being closed is reported with its creation site (see [`ResourceTracker`]);
//! - **tasks pending at shutdown**: a runtime or `LocalExecutor` dropped while tasks still run
//!   lists them.
//!
//! In every mode (as asyncio does), a panic or an error that nobody retrieved is reported when
//! its task is done with: see [`ReportKind::TaskPanicNotRetrieved`] and
//! [`ReportKind::TaskErrorNotRetrieved`].
//!
//! Every report is an [`ExceptionContext`] handed to the runtime's exception handler
//! ([`Handle::set_exception_handler`](crate::Handle::set_exception_handler)); the default,
//! [`default_exception_handler`], writes it through the `log` crate (target
//! `tulip_executor::debug`), so an application sees it through whatever logger it installs,
//! and with none it costs nothing.
//!
//! With debug mode off, the only cost on a hot path is one flag test per task poll, and no
//! creation site is stored anywhere.

mod resource;

use std::collections::HashMap;
use std::fmt;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::Duration;

pub use resource::ResourceTracker;

use crate::task::{TaskId, TaskInfo};

/// asyncio's `slow_callback_duration` default.
pub(crate) const DEFAULT_SLOW_POLL: Duration = Duration::from_millis(100);

/// The `log` target of every report the default handler writes.
pub const LOG_TARGET: &str = "tulip_executor::debug";

/// Whether `TULIP_DEBUG` asks for debug mode (`1`, `true`, `yes`, `on`), read once.
pub(crate) fn env_debug() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        std::env::var("TULIP_DEBUG")
            .map(|v| {
                matches!(
                    v.trim().to_ascii_lowercase().as_str(),
                    "1" | "true" | "yes" | "on"
                )
            })
            .unwrap_or(false)
    })
}

/// Whether debug mode is on here: for the runtime or `LocalExecutor` this thread runs (a
/// worker, inside `block_on`, after `Handle::enter`), or else as `TULIP_DEBUG` says.
///
/// Resource types (streams, servers, child processes) ask this when they are created, to decide
/// whether to remember their creation site.
///
/// ```
/// let rt = tulip_executor::runtime::Builder::new().debug(true).build().unwrap();
/// assert!(rt.block_on(async { tulip_executor::debug::enabled() }));
/// ```
pub fn enabled() -> bool {
    with_current(|d| d.map_or_else(env_debug, |d| d.debug()))
}

/// What a report is about (asyncio puts this in the context's `message`; here it is also a
/// value to match on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReportKind {
    /// Debug mode: one poll of a task took longer than the slow-poll threshold.
    SlowPoll,
    /// A task spawned with [`Builder::spawn_fallible`](crate::task::Builder::spawn_fallible)
    /// returned an `Err` that nobody retrieved (asyncio's "Task exception was never
    /// retrieved").
    TaskErrorNotRetrieved,
    /// A task panicked and nobody awaited its handle.
    TaskPanicNotRetrieved,
    /// Debug mode: a resource was dropped without being closed (asyncio's `ResourceWarning`).
    Unclosed,
    /// Debug mode: a runtime or `LocalExecutor` was dropped while tasks still ran (they are
    /// cancelled).
    PendingAtShutdown,
}

/// What an exception handler receives: asyncio's context dict as a struct.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ExceptionContext {
    /// What happened.
    pub kind: ReportKind,
    /// A one-line description, ready to print (asyncio's `message`).
    pub message: String,
    /// The task concerned, if any (asyncio's `task`).
    pub task: Option<TaskInfo>,
    /// The error or panic message, if any (asyncio's `exception`).
    pub error: Option<String>,
    /// Where the task, resource or runtime was created, when debug mode was on then
    /// (asyncio's `source_traceback`, one frame).
    pub site: Option<&'static Location<'static>>,
}

impl ExceptionContext {
    /// A context with only `kind` and `message` set (for
    /// [`Handle::call_exception_handler`](crate::Handle::call_exception_handler)).
    pub fn new(kind: ReportKind, message: impl Into<String>) -> ExceptionContext {
        ExceptionContext {
            kind,
            message: message.into(),
            task: None,
            error: None,
            site: None,
        }
    }

    /// Sets the creation site.
    pub fn with_site(mut self, site: Option<&'static Location<'static>>) -> ExceptionContext {
        self.site = site;
        self
    }

    /// Sets the error text.
    pub fn with_error(mut self, error: impl Into<String>) -> ExceptionContext {
        self.error = Some(error.into());
        self
    }

    /// Sets the task.
    pub fn with_task(mut self, task: TaskInfo) -> ExceptionContext {
        self.task = Some(task);
        self
    }
}

impl fmt::Display for ExceptionContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(e) = &self.error {
            write!(f, ": {e}")?;
        }
        if let Some(s) = self.site {
            write!(f, " (created at {s})")?;
        }
        Ok(())
    }
}

/// An exception handler: called with every report of its runtime, on the thread that makes it.
pub type ExceptionHandler = Arc<dyn Fn(&ExceptionContext) + Send + Sync>;

/// asyncio's `loop.default_exception_handler`: writes the report through `log` (target
/// [`LOG_TARGET`]): errors not retrieved at `error` level, the rest at `warn`.
///
/// ```
/// use tulip_executor::debug::{ExceptionContext, ReportKind, default_exception_handler};
///
/// let rt = tulip_executor::Runtime::new().unwrap();
/// rt.handle().set_exception_handler(|ctx| {
///     // Add something of our own, then log as the default does.
///     default_exception_handler(ctx);
/// });
/// rt.handle().call_exception_handler(ExceptionContext::new(ReportKind::SlowPoll, "a test"));
/// ```
pub fn default_exception_handler(ctx: &ExceptionContext) {
    let level = match ctx.kind {
        ReportKind::TaskErrorNotRetrieved | ReportKind::TaskPanicNotRetrieved => log::Level::Error,
        _ => log::Level::Warn,
    };
    log::log!(target: LOG_TARGET, level, "{ctx}");
    #[cfg(feature = "tracing")]
    crate::trace::report(ctx, level);
}

/// The debug state of one runtime or `LocalExecutor` (the block_on executor inside a runtime
/// shares its runtime's): the debug flag, the threshold, the handler and, in debug mode only,
/// the spawn sites of live tasks.
pub(crate) struct Diag {
    debug: AtomicBool,
    slow_poll_nanos: AtomicU64,
    handler: RwLock<Option<ExceptionHandler>>,
    /// Where the runtime was created (debug mode only).
    site: Option<&'static Location<'static>>,
    /// Spawn sites of tasks spawned in debug mode, by task id; an entry leaves when its task
    /// can no longer be reported about.
    spawn_sites: Mutex<HashMap<u64, &'static Location<'static>>>,
}

/// Set once any task's spawn site was recorded: until then, finishing a task need not look
/// for one.
static ANY_SPAWN_SITE: AtomicBool = AtomicBool::new(false);

impl Diag {
    pub(crate) fn new(
        debug: bool,
        slow_poll: Duration,
        site: Option<&'static Location<'static>>,
    ) -> Arc<Diag> {
        Arc::new(Diag {
            debug: AtomicBool::new(debug),
            slow_poll_nanos: AtomicU64::new(duration_nanos(slow_poll)),
            handler: RwLock::new(None),
            site: site.filter(|_| debug),
            spawn_sites: Mutex::new(HashMap::new()),
        })
    }

    /// The state of code that runs outside any runtime (debug from `TULIP_DEBUG`).
    pub(crate) fn global() -> &'static Arc<Diag> {
        static GLOBAL: OnceLock<Arc<Diag>> = OnceLock::new();
        GLOBAL.get_or_init(|| Diag::new(env_debug(), DEFAULT_SLOW_POLL, None))
    }

    #[inline]
    pub(crate) fn debug(&self) -> bool {
        self.debug.load(Ordering::Relaxed)
    }

    pub(crate) fn set_debug(&self, on: bool) {
        self.debug.store(on, Ordering::Relaxed);
    }

    pub(crate) fn slow_poll(&self) -> Duration {
        Duration::from_nanos(self.slow_poll_nanos.load(Ordering::Relaxed))
    }

    pub(crate) fn set_slow_poll(&self, d: Duration) {
        self.slow_poll_nanos
            .store(duration_nanos(d), Ordering::Relaxed);
    }

    pub(crate) fn set_handler(&self, h: Option<ExceptionHandler>) {
        let old = std::mem::replace(
            &mut *self.handler.write().unwrap_or_else(PoisonError::into_inner),
            h,
        );
        drop(old);
    }

    /// Hands `ctx` to the handler, or to the default one. A panicking handler is reported
    /// through the default handler and does not unwind into the runtime.
    pub(crate) fn report(&self, ctx: &ExceptionContext) {
        let h = self
            .handler
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match h {
            Some(h) => {
                if catch_unwind(AssertUnwindSafe(|| h(ctx))).is_err() {
                    default_exception_handler(ctx);
                    log::error!(target: LOG_TARGET, "the exception handler panicked on the report above");
                }
            }
            None => default_exception_handler(ctx),
        }
    }

    /// Remembers where task `id` was spawned (debug mode only).
    pub(crate) fn record_spawn(&self, id: TaskId, site: &'static Location<'static>) {
        ANY_SPAWN_SITE.store(true, Ordering::Relaxed);
        lock(&self.spawn_sites).insert(id.0, site);
    }

    /// Where task `id` was spawned, if it was recorded.
    pub(crate) fn spawn_site(&self, id: TaskId) -> Option<&'static Location<'static>> {
        if !ANY_SPAWN_SITE.load(Ordering::Relaxed) {
            return None;
        }
        lock(&self.spawn_sites).get(&id.0).copied()
    }

    /// Forgets where task `id` was spawned.
    pub(crate) fn forget_spawn(&self, id: TaskId) {
        if ANY_SPAWN_SITE.load(Ordering::Relaxed) {
            lock(&self.spawn_sites).remove(&id.0);
        }
    }

    /// A poll of `task` (spawned at `site`, looked up before the poll, which may end the task)
    /// that ran longer than the threshold.
    pub(crate) fn report_slow_poll(
        &self,
        task: TaskInfo,
        site: Option<&'static Location<'static>>,
        took: Duration,
    ) {
        let label = label(&task);
        let ctx = ExceptionContext {
            kind: ReportKind::SlowPoll,
            message: format!(
                "executing task {label} took {:.3} seconds (a poll blocks its thread; move \
                 blocking work to spawn_blocking)",
                took.as_secs_f64()
            ),
            site,
            task: Some(task),
            error: None,
        };
        self.report(&ctx);
    }

    /// A panic or `Err` output of `task` that nobody retrieved. Forgets the spawn site.
    pub(crate) fn report_not_retrieved(&self, task: TaskInfo, panicked: bool, msg: &str) {
        let site = self.spawn_site(task.id);
        self.forget_spawn(task.id);
        let label = label(&task);
        let (kind, message) = if panicked {
            (
                ReportKind::TaskPanicNotRetrieved,
                format!("task {label} panicked and nobody awaited it"),
            )
        } else {
            (
                ReportKind::TaskErrorNotRetrieved,
                format!("task {label} returned an error that was never retrieved"),
            )
        };
        self.report(&ExceptionContext {
            kind,
            message,
            task: Some(task),
            error: Some(msg.to_owned()),
            site,
        });
    }

    /// Tasks still pending when their runtime or executor was dropped (debug mode).
    pub(crate) fn report_pending(&self, what: &str, tasks: &[TaskInfo]) {
        if tasks.is_empty() {
            return;
        }
        let list: Vec<String> = tasks.iter().map(label).collect();
        self.report(&ExceptionContext {
            kind: ReportKind::PendingAtShutdown,
            message: format!(
                "{what} dropped with {} pending task(s); cancelling: {}",
                tasks.len(),
                list.join(", ")
            ),
            task: None,
            error: None,
            site: self.site,
        });
    }
}

impl fmt::Debug for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Diag")
            .field("debug", &self.debug())
            .field("slow_poll", &self.slow_poll())
            .finish_non_exhaustive()
    }
}

fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A task's display label: its name and id, or the id as asyncio names unnamed tasks.
fn label(t: &TaskInfo) -> String {
    match &t.name {
        Some(n) => format!("{n:?} ({})", t.id),
        None => t.id.to_string(),
    }
}

/// Runs `f` with the debug state of the runtime or `LocalExecutor` this thread runs, if any.
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Arc<Diag>>) -> R) -> R {
    let mut f = Some(f);
    let done = crate::runtime::worker::with_current(|w| {
        w.map(|w| (f.take().expect("called once"))(Some(&w.shared().diag)))
    });
    if let Some(r) = done {
        return r;
    }
    let f = f.take().expect("not called yet");
    match crate::runtime::handle::try_current_shared() {
        Some(s) => f(Some(&s.diag)),
        None => crate::local::with_current_diag(f),
    }
}
