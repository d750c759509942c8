//! Which tokio runtime a compat future enters: the shared one, started on first use and driven
//! by its own thread for the life of the process, or one the caller owns.
//!
//! A caller's runtime can go away while futures bound to it still exist. tokio then fails
//! I/O resources with an error but *panics* in a timer poll ("A Tokio 1.x context was found,
//! but it is being shutdown"), so a bound future must find out before it polls. tokio has no
//! public "is this runtime shut down?" query. What it does (every tokio 1.x scheduler; this
//! crate's tests check it) is drop every task it owns before it stops its drivers when it
//! shuts down, and drop a task spawned on a runtime already shut down at once. So [`TokioContext::from_handle`] spawns one
//! never-ending sentinel task whose drop raises a flag: the flag is up before the drivers stop,
//! and bound futures check it before every poll.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::runtime::{Builder, Handle};

/// The name of the thread that drives the shared runtime.
const THREAD_NAME: &str = "tulip-compat-tokio";

/// A tokio runtime for compat futures and I/O to run in: the shared one ([`shared`](Self::shared))
/// or one of yours ([`from_handle`](Self::from_handle)).
///
/// Make one per runtime and clone it (an `Arc` clone): each `from_handle` spawns a small
/// sentinel task on the runtime.
///
/// # Examples
///
/// ```
/// use tulip_compat::{CompatExt, TokioContext};
///
/// let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
/// let ctx = TokioContext::from_handle(rt.handle().clone());
/// let work = || async { tokio::spawn(async { 42 }).await.unwrap() };
/// let answer = tulip_executor::run(work().compat_with(&ctx));
/// assert_eq!(answer, Ok(42));
///
/// drop(rt);
/// let late = tulip_executor::run(work().compat_with(&ctx));
/// assert!(late.is_err()); // RuntimeGone, not a panic.
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct TokioContext {
    handle: Handle,
    /// `None` for the shared runtime, which never shuts down.
    gone: Option<Arc<AtomicBool>>,
}

impl TokioContext {
    /// The shared runtime, started on the first call: a current-thread tokio runtime with
    /// every driver the build compiled in (I/O, timers), driven by a thread of its own named
    /// `tulip-compat-tokio`. Tasks that tokio-bound code spawns (`tokio::spawn`) run on that
    /// thread. It is never shut down.
    ///
    /// # Errors
    ///
    /// If tokio cannot create its drivers (typically the process is out of file descriptors)
    /// or the thread cannot be spawned. Nothing is cached on failure: the next call tries again.
    pub fn shared() -> io::Result<TokioContext> {
        shared_handle().map(|handle| TokioContext {
            handle: handle.clone(),
            gone: None,
        })
    }

    /// A context for a runtime you own. Futures bound to it see [`RuntimeGone`] once the runtime
    /// has been shut down or dropped, instead of tokio's panics.
    ///
    /// The runtime must be driven for its I/O and timers to make progress: a multi-thread
    /// runtime always is; a current-thread runtime only while some thread is inside its
    /// `block_on`.
    pub fn from_handle(handle: Handle) -> TokioContext {
        let gone = Arc::new(AtomicBool::new(false));
        let sentinel = Sentinel(gone.clone());
        // The task never finishes; it ends only when the runtime drops it at shutdown (or at
        // once, if the runtime is already shut down). Its `JoinHandle` is detached.
        drop(handle.spawn(async move {
            let _sentinel = sentinel;
            std::future::pending::<()>().await;
        }));
        TokioContext {
            handle,
            gone: Some(gone),
        }
    }

    /// The tokio handle futures bound to this context enter while they are polled.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Whether the runtime is still running (always true for the shared runtime).
    pub fn is_alive(&self) -> bool {
        // SeqCst pairs with the sentinel's store: the flag is up before tokio stops its
        // drivers, so a poll that saw a stopped driver and then reads the flag sees it up.
        self.gone.as_ref().is_none_or(|g| !g.load(Ordering::SeqCst))
    }

    /// `Err(RuntimeGone)` once the runtime has shut down.
    pub(crate) fn check(&self) -> Result<(), RuntimeGone> {
        if self.is_alive() {
            Ok(())
        } else {
            Err(RuntimeGone::new())
        }
    }
}

impl fmt::Debug for TokioContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokioContext")
            .field("shared", &self.gone.is_none())
            .field("alive", &self.is_alive())
            .finish()
    }
}

/// Raises the flag when the runtime drops the sentinel task.
struct Sentinel(Arc<AtomicBool>);

impl Drop for Sentinel {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// The tokio runtime a compat future or stream was bound to has shut down, so it can make no
/// more progress. Bind new work to a live runtime, or use the shared one (`.compat()`).
///
/// Converts into an `io::Error` (kind `Other`) for I/O.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuntimeGone(());

impl RuntimeGone {
    /// The error value (for comparisons in tests).
    pub const fn new() -> RuntimeGone {
        RuntimeGone(())
    }
}

impl fmt::Display for RuntimeGone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the tokio runtime this compat future was bound to has shut down; \
             bind it to a live runtime, or use the shared one with `.compat()`",
        )
    }
}

impl std::error::Error for RuntimeGone {}

impl From<RuntimeGone> for io::Error {
    fn from(gone: RuntimeGone) -> io::Error {
        io::Error::other(gone)
    }
}

/// The shared runtime's handle once it has been started.
static HANDLE: OnceLock<Handle> = OnceLock::new();

/// The shared runtime's handle if something has started it already.
pub(crate) fn started_handle() -> Option<&'static Handle> {
    HANDLE.get()
}

/// The shared runtime's handle, starting it on first use.
pub(crate) fn shared_handle() -> io::Result<&'static Handle> {
    static STARTING: Mutex<()> = Mutex::new(());
    if let Some(handle) = HANDLE.get() {
        return Ok(handle);
    }
    // One starter at a time, so two first callers cannot both spawn a driver thread; a
    // failed start leaves `HANDLE` empty for the next caller to retry.
    let _starting = STARTING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(handle) = HANDLE.get() {
        return Ok(handle);
    }
    let runtime = Builder::new_current_thread()
        .enable_all()
        .thread_name(THREAD_NAME)
        .build()
        .map_err(|e| with_context(e, "tulip-compat could not build its tokio runtime"))?;
    let handle = runtime.handle().clone();
    std::thread::Builder::new()
        .name(THREAD_NAME.into())
        .spawn(move || runtime.block_on(std::future::pending::<()>()))
        .map_err(|e| with_context(e, "tulip-compat could not start its tokio thread"))?;
    Ok(HANDLE.get_or_init(|| handle))
}

/// The shared handle for `Compat`, whose output type has no room for an error.
pub(crate) fn shared_handle_or_panic() -> &'static Handle {
    match shared_handle() {
        Ok(handle) => handle,
        Err(e) => panic!("{e}; call `TokioContext::shared()` first to get this as an error"),
    }
}

fn with_context(source: io::Error, what: &'static str) -> io::Error {
    io::Error::new(source.kind(), StartError { what, source })
}

/// A failed start of the shared runtime: what failed, and the OS error as `source()`.
#[derive(Debug)]
struct StartError {
    what: &'static str,
    source: io::Error,
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.source)
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}
