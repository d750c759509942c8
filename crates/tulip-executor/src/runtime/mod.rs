//! The multi-thread work-stealing runtime: `Runtime`, its `Builder` and `Handle`.

pub(crate) mod handle;
pub(crate) mod loop_api;
pub(crate) mod queue;
pub(crate) mod shared;
pub(crate) mod worker;

use std::fmt;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use concurrent_queue::ConcurrentQueue;

use crate::homing::Homing;
pub use handle::{EnterHandleGuard, Handle};
pub use loop_api::TimerHandle;
pub(crate) use shared::Shared;
use shared::{Config, Counters, Hook, Remote};

/// A multi-thread runtime: worker threads with work-stealing run queues, plus a blocking pool.
///
/// Dropping the runtime shuts it down: workers stop, every task still pending is dropped (its
/// destructors run), worker threads are joined. Blocking-pool threads still running a job are
/// not waited for.
///
/// ```
/// let rt = tulip_executor::Runtime::new().unwrap();
/// let out = rt.block_on(async {
///     let t = tulip_executor::spawn(async { 40 + 2 });
///     t.await.unwrap()
/// });
/// assert_eq!(out, 42);
/// ```
pub struct Runtime {
    handle: Handle,
    threads: Vec<JoinHandle<()>>,
}

impl Runtime {
    /// A runtime with one worker per core.
    #[track_caller]
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// A handle to spawn onto this runtime from anywhere.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Spawns a task (see [`Handle::spawn`]).
    #[track_caller]
    pub fn spawn<F>(&self, fut: F) -> crate::Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(fut)
    }

    /// Runs `fut` on the calling thread to completion, with this runtime current (so
    /// [`spawn`](crate::spawn) inside goes to its workers). asyncio's `run_until_complete`.
    ///
    /// # Panics
    ///
    /// Panics when the thread already runs tulip (a nested `block_on`): await instead.
    #[track_caller]
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        let _enter = crate::enter::enter();
        let _handle = self.handle.enter();
        crate::local::block_on_thread(
            fut,
            &self.handle.shared.diag,
            std::panic::Location::caller(),
        )
    }

    /// Shuts down, waiting at most `timeout` for the workers to stop (a worker stuck in a
    /// long poll is left behind, detached).
    pub fn shutdown_timeout(mut self, timeout: Duration) {
        self.shutdown(Some(timeout));
    }

    fn shutdown(&mut self, timeout: Option<Duration>) {
        let shared = &self.handle.shared;
        shared.begin_shutdown();
        let deadline = timeout.map(|t| Instant::now() + t);
        for t in self.threads.drain(..) {
            if t.thread().id() == std::thread::current().id() {
                // Dropped on its own worker (from a task): cannot join ourselves.
                continue;
            }
            match deadline {
                None => {
                    let _ = t.join();
                }
                Some(d) => {
                    while !t.is_finished() && Instant::now() < d {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    if t.is_finished() {
                        let _ = t.join();
                    }
                }
            }
        }
        shared.finish_shutdown();
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shutdown(None);
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("workers", &self.threads.len())
            .finish()
    }
}

/// Configures and builds a [`Runtime`].
///
/// ```
/// let rt = tulip_executor::runtime::Builder::new()
///     .worker_threads(2)
///     .thread_name("my-worker")
///     .build()
///     .unwrap();
/// assert_eq!(rt.handle().num_workers(), 2);
/// ```
pub struct Builder {
    workers: usize,
    thread_name: String,
    stack_size: Option<usize>,
    on_start: Option<Hook>,
    on_stop: Option<Hook>,
    debug: bool,
    slow_poll: Duration,
    max_blocking: usize,
    blocking_keep_alive: Duration,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// Defaults: one worker per core, debug mode from `TULIP_DEBUG`, 512 blocking threads that
    /// exit after 10 s idle.
    pub fn new() -> Builder {
        Builder {
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            thread_name: "tulip-worker".into(),
            stack_size: None,
            on_start: None,
            on_stop: None,
            debug: crate::debug::env_debug(),
            slow_poll: crate::debug::DEFAULT_SLOW_POLL,
            max_blocking: 512,
            blocking_keep_alive: Duration::from_secs(10),
        }
    }

    /// Number of worker threads (at least 1).
    pub fn worker_threads(mut self, n: usize) -> Builder {
        self.workers = n.max(1);
        self
    }

    /// Name prefix of worker threads (`<name>-<index>`).
    pub fn thread_name(mut self, name: impl Into<String>) -> Builder {
        self.thread_name = name.into();
        self
    }

    /// Stack size of worker and blocking threads.
    pub fn thread_stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Runs `f` on each worker thread when it starts.
    pub fn on_thread_start(mut self, f: impl Fn() + Send + Sync + 'static) -> Builder {
        self.on_start = Some(Arc::new(f));
        self
    }

    /// Runs `f` on each worker thread when it stops.
    pub fn on_thread_stop(mut self, f: impl Fn() + Send + Sync + 'static) -> Builder {
        self.on_stop = Some(Arc::new(f));
        self
    }

    /// Debug mode (see [`crate::debug`]): warn about polls slower than
    /// [`slow_poll_threshold`](Self::slow_poll_threshold), remember where tasks and resources
    /// were created, report resources dropped unclosed and tasks pending at shutdown. Defaults
    /// to `TULIP_DEBUG=1`; [`Handle::set_debug`] changes it later.
    pub fn debug(mut self, on: bool) -> Builder {
        self.debug = on;
        self
    }

    /// The poll duration that debug mode warns about (asyncio's `slow_callback_duration`,
    /// 100 ms by default).
    pub fn slow_poll_threshold(mut self, d: Duration) -> Builder {
        self.slow_poll = d;
        self
    }

    /// Most threads the blocking pool runs at once (at least 1; 512 by default).
    pub fn max_blocking_threads(mut self, n: usize) -> Builder {
        self.max_blocking = n.max(1);
        self
    }

    /// How long an idle blocking thread waits for a job before it exits (10 s by default).
    pub fn blocking_keep_alive(mut self, d: Duration) -> Builder {
        self.blocking_keep_alive = d;
        self
    }

    /// Starts the worker threads. In debug mode the runtime remembers the caller as its
    /// creation site (named when it is dropped with tasks still running).
    #[track_caller]
    pub fn build(self) -> io::Result<Runtime> {
        let n = self.workers;
        let mut parts = Vec::with_capacity(n);
        let mut remotes = Vec::with_capacity(n);
        for _ in 0..n {
            let (p, stealer, waker) = worker::parts();
            parts.push(p);
            remotes.push(Remote {
                stealer,
                waker,
                counters: Counters::default(),
                homing: Homing::new(),
            });
        }
        let blocking = crate::blocking::Pool::new(
            format!("{}-blocking", self.thread_name),
            self.max_blocking,
            self.blocking_keep_alive,
            self.stack_size,
        );
        let shared = Arc::new(Shared {
            injector: ConcurrentQueue::unbounded(),
            remotes: remotes.into_boxed_slice(),
            idle: crate::idle::Idle::new(n),
            shutdown: AtomicBool::new(false),
            drained: AtomicBool::new(false),
            registry: crate::registry::Sharded::new(n),
            blocking,
            stop: Default::default(),
            diag: crate::debug::Diag::new(
                self.debug,
                self.slow_poll,
                Some(std::panic::Location::caller()),
            ),
            config: Config {
                on_thread_start: self.on_start,
                on_thread_stop: self.on_stop,
            },
        });
        let mut rt = Runtime {
            handle: Handle {
                shared: shared.clone(),
            },
            threads: Vec::with_capacity(n),
        };
        for (i, p) in parts.into_iter().enumerate() {
            let mut b = std::thread::Builder::new().name(format!("{}-{i}", self.thread_name));
            if let Some(s) = self.stack_size {
                b = b.stack_size(s);
            }
            let shared = shared.clone();
            // On error `rt` drops, which shuts down the workers started so far.
            rt.threads
                .push(b.spawn(move || worker::main(i, shared, p))?);
        }
        Ok(rt)
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("workers", &self.workers)
            .field("thread_name", &self.thread_name)
            .field("debug", &self.debug)
            .finish_non_exhaustive()
    }
}

/// Counters of one worker (see [`Handle::metrics`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerMetrics {
    /// Task polls run.
    pub polls: u64,
    /// Successful steals from sibling queues.
    pub steals: u64,
    /// Times the worker parked for lack of work.
    pub parks: u64,
    /// Tasks taken from the global injector.
    pub injector_pops: u64,
    /// Detached tasks this worker spawned that ended on a sibling and came back here to be
    /// freed, so that the thread that allocated a task frees it (which glibc's malloc needs
    /// to stay fast when tasks move between workers).
    pub homed: u64,
    /// Tasks in the local queue right now.
    pub local_queue_len: usize,
}

/// A snapshot of a runtime's scheduler counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// One entry per worker.
    pub workers: Vec<WorkerMetrics>,
    /// Tasks in the global injector right now.
    pub injector_len: usize,
    /// Tasks alive (spawned, not yet finished).
    pub live_tasks: usize,
    /// Workers searching for work right now.
    pub searching_workers: usize,
    /// Workers parked right now.
    pub parked_workers: usize,
    /// Blocking-pool threads alive right now.
    pub blocking_threads: usize,
}
