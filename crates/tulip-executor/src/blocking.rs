//! The blocking pool (`spawn_blocking`, asyncio's `run_in_executor` / `to_thread`): a bounded
//! set of threads that run blocking closures off the workers, exiting after a keep-alive idle.
//!
//! Shutdown does not wait for running closures (a thread stuck in a blocking call cannot be
//! interrupted); queued closures that never started are dropped and their handles report
//! cancellation.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use crate::sync::std_lock as lock;
use crate::task::Task;
use crate::task::meta::{Runnable, Scheduler, TaskFuture, TaskMeta};

#[derive(Default)]
struct State {
    queue: VecDeque<Runnable>,
    /// Threads alive.
    threads: usize,
    /// Threads waiting for a job and not yet claimed by a `push`.
    idle: usize,
    /// Claims made by `push` that a waiting thread has not consumed yet.
    wakeups: usize,
    shutdown: bool,
}

pub(crate) struct Pool {
    state: Mutex<State>,
    cond: Condvar,
    name: String,
    max_threads: usize,
    keep_alive: Duration,
    stack_size: Option<usize>,
}

impl Pool {
    pub(crate) fn new(
        name: String,
        max_threads: usize,
        keep_alive: Duration,
        stack_size: Option<usize>,
    ) -> Arc<Pool> {
        Arc::new(Pool {
            state: Mutex::new(State::default()),
            cond: Condvar::new(),
            name,
            max_threads: max_threads.max(1),
            keep_alive,
            stack_size,
        })
    }

    /// The pool used by `spawn_blocking` outside any runtime.
    pub(crate) fn global() -> &'static Arc<Pool> {
        static GLOBAL: OnceLock<Arc<Pool>> = OnceLock::new();
        GLOBAL
            .get_or_init(|| Pool::new("tulip-blocking".into(), 512, Duration::from_secs(10), None))
    }

    pub(crate) fn spawn<F, T>(self: &Arc<Self>, f: F) -> Task<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let meta = TaskMeta::new(None, Scheduler::Blocking(self.clone()));
        let (runnable, task) = async_task::Builder::new()
            .metadata(meta)
            .spawn(move |m| TaskFuture::new(async move { f() }, m), schedule);
        runnable.schedule();
        Task::new(task)
    }

    fn push(self: &Arc<Self>, r: Runnable) {
        let mut st = lock(&self.state);
        if st.shutdown {
            drop(st);
            drop(r);
            return;
        }
        st.queue.push_back(r);
        if st.idle > 0 {
            st.idle -= 1;
            st.wakeups += 1;
            drop(st);
            self.cond.notify_one();
        } else if st.threads < self.max_threads {
            st.threads += 1;
            drop(st);
            self.start_thread();
        }
        // Otherwise every thread is busy and at the bound: the job waits in the queue.
    }

    fn start_thread(self: &Arc<Self>) {
        let mut b = std::thread::Builder::new().name(self.name.clone());
        if let Some(s) = self.stack_size {
            b = b.stack_size(s);
        }
        let pool = self.clone();
        if b.spawn(move || pool.thread_main()).is_err() {
            // No thread: the job stays queued for a running thread, if any.
            lock(&self.state).threads -= 1;
        }
    }

    fn thread_main(&self) {
        let mut st = lock(&self.state);
        loop {
            if let Some(r) = st.queue.pop_front() {
                drop(st);
                let _ = catch_unwind(AssertUnwindSafe(|| r.run()));
                st = lock(&self.state);
                continue;
            }
            if st.shutdown {
                break;
            }
            st.idle += 1;
            let mut timed_out = false;
            loop {
                let (g, res) = self
                    .cond
                    .wait_timeout(st, self.keep_alive)
                    .unwrap_or_else(|e| e.into_inner());
                st = g;
                if st.wakeups > 0 {
                    st.wakeups -= 1;
                    break;
                }
                if st.shutdown || res.timed_out() {
                    st.idle -= 1;
                    timed_out = res.timed_out();
                    break;
                }
            }
            if timed_out && st.queue.is_empty() {
                break;
            }
        }
        st.threads -= 1;
    }

    /// Stops accepting jobs, drops the queued ones and lets idle threads exit; running jobs
    /// finish on their own.
    pub(crate) fn shutdown(&self) {
        let queued = {
            let mut st = lock(&self.state);
            st.shutdown = true;
            std::mem::take(&mut st.queue)
        };
        self.cond.notify_all();
        drop(queued);
    }

    /// Threads alive right now (for tests and metrics).
    pub(crate) fn num_threads(&self) -> usize {
        lock(&self.state).threads
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("name", &self.name)
            .field("max_threads", &self.max_threads)
            .finish()
    }
}

fn schedule(r: Runnable) {
    let Scheduler::Blocking(pool) = &r.metadata().scheduler else {
        unreachable!("a blocking task carries the pool as its scheduler")
    };
    let pool = pool.clone();
    pool.push(r);
}
