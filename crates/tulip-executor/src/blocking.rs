//! The blocking pool (`spawn_blocking`, asyncio's `run_in_executor` / `to_thread`): a bounded
//! set of threads that run blocking closures off the workers, exiting after a keep-alive idle.
//!
//! Shutdown does not wait for running closures (a thread stuck in a blocking call cannot be
//! interrupted); queued closures that never started are dropped and their handles report
//! cancellation.
//!
//! # Waking threads
//!
//! A thread woken (or started) for the queue is *pending* until it takes the lock and looks at
//! the queue. The pool keeps one rule, checked after every push and every pop: **while more
//! jobs are queued than threads are pending, wake (or start) one more.** So:
//!
//! 1. Every queued job has a thread on its way to it, as long as the bound allows: no job
//!    waits for a busy thread, whose job may block for as long as it likes, and a burst of
//!    jobs that block fans out to a thread each as fast as waking one thread per job would.
//! 2. No thread is woken for a job that a pending thread will take anyway. Waking one thread
//!    per push, whatever was pending, woke sleepers in a burst of short jobs only for them to
//!    find the queue drained by the threads already awake: a system call and two context
//!    switches per job for nothing.
//! 3. At the bound, jobs outnumber pending threads and wait; each busy thread takes the next
//!    one when its own ends (it pops before it ever waits).

use std::collections::VecDeque;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use crate::sync::std_lock as lock;
use crate::task::Task;
use crate::task::meta::{Runnable, Scheduler, TaskFuture, TaskMeta};

#[derive(Default)]
struct State {
    queue: VecDeque<Runnable>,
    threads: Threads,
    shutdown: bool,
}

/// The pool's thread counts, apart from the queue so that the wake-up rule is a pure function
/// of them and the queue's length (unit-tested below).
#[derive(Default, Debug, Clone, Copy)]
struct Threads {
    /// Threads alive.
    alive: usize,
    /// Threads waiting for a job and not yet claimed by a wake-up.
    idle: usize,
    /// Wake-ups sent to waiting threads that no thread has consumed yet.
    wakeups: usize,
    /// Threads spawned that have not yet taken the lock.
    starting: usize,
}

/// What the wake-up rule asks for.
#[derive(Debug, PartialEq, Eq)]
enum Claim {
    None,
    /// Notify one waiting thread (already counted in `wakeups`).
    Wake,
    /// Spawn one thread (already counted in `alive` and `starting`).
    Start,
}

impl Threads {
    /// Threads on their way to the queue: woken or just started.
    fn pending(&self) -> usize {
        self.wakeups + self.starting
    }

    /// The rule of the module docs: with `queued` jobs waiting, claims one more thread if
    /// fewer are pending, a waiting one before a new one, within `max` threads.
    fn claim(&mut self, queued: usize, max: usize) -> Claim {
        if queued <= self.pending() {
            Claim::None
        } else if self.idle > 0 {
            self.idle -= 1;
            self.wakeups += 1;
            Claim::Wake
        } else if self.alive < max {
            self.alive += 1;
            self.starting += 1;
            Claim::Start
        } else {
            // Every thread is busy, at the bound: the job waits in the queue.
            Claim::None
        }
    }
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
        self.add_thread(st);
    }

    /// Wakes or starts one more thread if the queue wants it (module docs), and unlocks.
    fn add_thread(self: &Arc<Self>, mut st: MutexGuard<'_, State>) {
        let queued = st.queue.len();
        let claim = st.threads.claim(queued, self.max_threads);
        drop(st);
        match claim {
            Claim::None => {}
            Claim::Wake => self.cond.notify_one(),
            Claim::Start => self.start_thread(),
        }
    }

    fn start_thread(self: &Arc<Self>) {
        let mut b = std::thread::Builder::new().name(self.name.clone());
        if let Some(s) = self.stack_size {
            b = b.stack_size(s);
        }
        let pool = self.clone();
        if b.spawn(move || pool.thread_main()).is_err() {
            // No thread: the job stays queued for a running thread, if any.
            let mut st = lock(&self.state);
            st.threads.alive -= 1;
            st.threads.starting -= 1;
        }
    }

    fn thread_main(self: Arc<Self>) {
        let mut st = lock(&self.state);
        st.threads.starting -= 1;
        loop {
            if let Some(r) = st.queue.pop_front() {
                // Taking a job keeps the rule unless this thread was not pending (it ran a job
                // before) and the queue had fallen behind, as after a failed thread start.
                self.add_thread(st);
                let _ = catch_unwind(AssertUnwindSafe(|| r.run()));
                st = lock(&self.state);
                continue;
            }
            if st.shutdown {
                break;
            }
            st.threads.idle += 1;
            let mut timed_out = false;
            loop {
                let (g, res) = self
                    .cond
                    .wait_timeout(st, self.keep_alive)
                    .unwrap_or_else(|e| e.into_inner());
                st = g;
                if st.threads.wakeups > 0 {
                    st.threads.wakeups -= 1;
                    break;
                }
                if st.shutdown || res.timed_out() {
                    st.threads.idle -= 1;
                    timed_out = res.timed_out();
                    break;
                }
            }
            if timed_out && st.queue.is_empty() {
                break;
            }
        }
        st.threads.alive -= 1;
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
        lock(&self.state).threads.alive
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

#[cfg(test)]
mod tests {
    use super::{Claim, Threads};

    /// A busy thread took the job a woken thread was on its way to; the next job goes to that
    /// woken thread instead of waking another (module docs, rule 2).
    #[test]
    fn a_pending_thread_takes_the_next_job() {
        let mut t = Threads {
            alive: 3,
            idle: 2,
            ..Threads::default()
        };
        // (jobs queued, bound, what the rule claims, why), one step after another.
        let steps = [
            (1, 8, Claim::Wake, "a job with no thread on its way"),
            // The busy third thread finished and popped that job: the queue is empty again,
            // and a new job finds one thread pending.
            (1, 8, Claim::None, "the pending thread will take it"),
            (2, 8, Claim::Wake, "two jobs, one thread on its way"),
            (3, 8, Claim::Start, "no thread left waiting: start one"),
            (4, 4, Claim::None, "at the bound"),
        ];
        for (queued, max, want, why) in steps {
            assert_eq!(t.claim(queued, max), want, "{why}");
        }
        assert_eq!((t.alive, t.idle, t.wakeups, t.starting), (4, 0, 2, 1));
    }

    /// The pool's transitions, driven at random, as `Pool` makes them under its lock: after
    /// each, every queued job has a thread on its way unless every thread is busy at the bound
    /// (rules 1 and 3), no claim puts more threads on the way than jobs wait (rule 2), and once
    /// the threads on their way and the busy ones have run, no job is left.
    #[test]
    fn every_queued_job_gets_a_thread() {
        #[derive(Default, Debug)]
        struct Model {
            t: Threads,
            queued: usize,
            busy: usize,
            claims: usize,
        }
        impl Model {
            fn claim(&mut self, max: usize) {
                if self.t.claim(self.queued, max) != Claim::None {
                    self.claims += 1;
                    assert!(self.t.pending() <= self.queued, "{self:?}");
                }
            }
            /// A thread holding the lock with nothing to run: pops, or waits.
            fn take(&mut self, max: usize) {
                if self.queued > 0 {
                    self.queued -= 1;
                    self.busy += 1;
                    self.claim(max);
                } else {
                    self.t.idle += 1;
                }
            }
        }
        let mut rng = 0x9e37_79b9_u32;
        let mut next = move |n: u32| {
            rng ^= rng << 13;
            rng ^= rng >> 17;
            rng ^= rng << 5;
            rng % n
        };
        for round in 0..2_000 {
            let max = 1 + (round % 6) as usize;
            let mut m = Model::default();
            for _ in 0..200 {
                match next(5) {
                    0 | 1 => {
                        m.queued += 1;
                        m.claim(max);
                    }
                    2 if m.t.wakeups > 0 => {
                        m.t.wakeups -= 1;
                        m.take(max);
                    }
                    2 if m.t.starting > 0 => {
                        m.t.starting -= 1;
                        m.take(max);
                    }
                    3 if m.busy > 0 => {
                        m.busy -= 1;
                        m.take(max);
                    }
                    4 if m.t.idle > 0 => {
                        // The keep-alive ran out: the thread leaves only with nothing queued.
                        m.t.idle -= 1;
                        if m.queued > 0 {
                            m.take(max);
                        } else {
                            m.t.alive -= 1;
                        }
                    }
                    _ => {}
                }
                let t = m.t;
                assert!(
                    m.queued <= t.pending() || (t.idle == 0 && t.alive == max),
                    "a queued job without a thread on its way: {m:?}"
                );
                assert_eq!(t.alive, t.idle + t.pending() + m.busy, "{m:?}");
            }
            // Let every thread on its way arrive and every busy one finish.
            while m.t.pending() + m.busy > 0 {
                if m.t.wakeups > 0 {
                    m.t.wakeups -= 1;
                } else if m.t.starting > 0 {
                    m.t.starting -= 1;
                } else {
                    m.busy -= 1;
                }
                m.take(max);
            }
            assert_eq!(m.queued, 0, "jobs left behind: {m:?}");
        }
    }
}
