//! Executor benchmarks: tulip's scheduler beside tokio's (multi-thread and current-thread) and
//! smol's async-executor, with 2 workers and single-threaded, on the same workloads.
//!
//! Every contender runs the same generic workload through the small [`Exec`] trait, with the
//! same runtime-agnostic oneshot channel (futures-channel), so only the scheduler differs.
//!
//! tokio's runtimes are built with their I/O and time drivers (`enable_all`, what
//! `#[tokio::main]` and `Runtime::new` build), like every other tokio runtime in these benches:
//! a tulip runtime always has its reactor and polls it every 61 tasks, and a tokio runtime with
//! drivers does the same, while one without them skips those `epoll_wait` calls (about 16 per
//! 1,000 spawns) and could not run I/O or timers at all.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::harness::{Bench, Config};

/// What a workload needs of an executor.
trait Exec: 'static {
    type Join<T: Send + 'static>: Future<Output = T> + Send + 'static;
    fn name() -> &'static str;
    /// Spawns from inside a task (onto the executor running it).
    fn spawn<F>(f: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;
    /// Spawns from outside (the benchmark thread).
    fn spawn_remote<F>(&self, f: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;
    fn spawn_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Self::Join<T>;
    fn block_on<F: Future>(&self, f: F) -> F::Output;
    fn yield_now() -> impl Future<Output = ()> + Send;
    /// Lets a task run on without its handle (dropping a smol task would cancel it).
    fn detach<T: Send + 'static>(h: Self::Join<T>) {
        drop(h);
    }
}

/// A join handle whose output is a `Result` we unwrap (tulip's and tokio's).
struct Unwrap<H>(H);

impl<T, E: std::fmt::Debug, H: Future<Output = Result<T, E>> + Unpin> Future for Unwrap<H> {
    type Output = T;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.expect("task failed"))
    }
}

// ---- tulip ----

struct TulipMulti(tulip_executor::Runtime);

impl Exec for TulipMulti {
    type Join<T: Send + 'static> = Unwrap<tulip_executor::Task<T>>;
    fn name() -> &'static str {
        "tulip"
    }
    fn spawn<F>(f: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Unwrap(tulip_executor::spawn(f))
    }
    fn spawn_remote<F>(&self, f: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Unwrap(self.0.spawn(f))
    }
    fn spawn_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Self::Join<T> {
        Unwrap(tulip_executor::spawn_blocking(f))
    }
    fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.0.block_on(f)
    }
    fn yield_now() -> impl Future<Output = ()> + Send {
        futures_lite::future::yield_now()
    }
}

struct TulipLocal(tulip_executor::LocalExecutor);

impl Exec for TulipLocal {
    type Join<T: Send + 'static> = Unwrap<tulip_executor::Task<T>>;
    fn name() -> &'static str {
        "tulip"
    }
    fn spawn<F>(f: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Unwrap(tulip_executor::spawn_local(f))
    }
    fn spawn_remote<F>(&self, f: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Unwrap(self.0.spawn(f))
    }
    fn spawn_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Self::Join<T> {
        Unwrap(tulip_executor::spawn_blocking(f))
    }
    fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.0.block_on(f)
    }
    fn yield_now() -> impl Future<Output = ()> + Send {
        futures_lite::future::yield_now()
    }
}

// ---- tokio ----

struct Tokio(tokio::runtime::Runtime);

impl Exec for Tokio {
    type Join<T: Send + 'static> = Unwrap<tokio::task::JoinHandle<T>>;
    fn name() -> &'static str {
        "tokio"
    }
    fn spawn<F>(f: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Unwrap(tokio::spawn(f))
    }
    fn spawn_remote<F>(&self, f: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Unwrap(self.0.spawn(f))
    }
    fn spawn_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Self::Join<T> {
        Unwrap(tokio::task::spawn_blocking(f))
    }
    fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.0.block_on(f)
    }
    fn yield_now() -> impl Future<Output = ()> + Send {
        tokio::task::yield_now()
    }
}

// ---- smol (async-executor) ----

fn smol_ex() -> &'static smol::Executor<'static> {
    static EX: OnceLock<smol::Executor<'static>> = OnceLock::new();
    EX.get_or_init(|| {
        // Two threads run the executor, like a 2-worker runtime.
        for i in 0..2 {
            std::thread::Builder::new()
                .name(format!("smol-{i}"))
                .spawn(|| smol::block_on(smol_ex().run(std::future::pending::<()>())))
                .expect("smol thread");
        }
        smol::Executor::new()
    })
}

struct SmolMulti;

impl Exec for SmolMulti {
    type Join<T: Send + 'static> = smol::Task<T>;
    fn name() -> &'static str {
        "smol"
    }
    fn spawn<F>(f: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        smol_ex().spawn(f)
    }
    fn spawn_remote<F>(&self, f: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        smol_ex().spawn(f)
    }
    fn spawn_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Self::Join<T> {
        smol::unblock(f)
    }
    fn block_on<F: Future>(&self, f: F) -> F::Output {
        smol::block_on(f)
    }
    fn yield_now() -> impl Future<Output = ()> + Send {
        futures_lite::future::yield_now()
    }
    fn detach<T: Send + 'static>(h: Self::Join<T>) {
        h.detach();
    }
}

thread_local! {
    static SMOL_LOCAL: RefCell<Option<std::rc::Rc<smol::LocalExecutor<'static>>>> = const { RefCell::new(None) };
}

fn smol_local() -> std::rc::Rc<smol::LocalExecutor<'static>> {
    SMOL_LOCAL.with(|l| {
        l.borrow_mut()
            .get_or_insert_with(|| std::rc::Rc::new(smol::LocalExecutor::new()))
            .clone()
    })
}

struct SmolLocal;

impl Exec for SmolLocal {
    type Join<T: Send + 'static> = smol::Task<T>;
    fn name() -> &'static str {
        "smol"
    }
    fn spawn<F>(f: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        smol_local().spawn(f)
    }
    fn spawn_remote<F>(&self, f: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        smol_local().spawn(f)
    }
    fn spawn_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Self::Join<T> {
        smol::unblock(f)
    }
    fn block_on<F: Future>(&self, f: F) -> F::Output {
        let ex = smol_local();
        smol::block_on(ex.run(f))
    }
    fn yield_now() -> impl Future<Output = ()> + Send {
        futures_lite::future::yield_now()
    }
    fn detach<T: Send + 'static>(h: Self::Join<T>) {
        h.detach();
    }
}

// ---- workloads ----

fn timed<E: Exec, F: Future>(e: &E, f: F) -> Duration {
    let t = Instant::now();
    e.block_on(f);
    t.elapsed()
}

/// `n` spawns from inside a task, then joins them all.
fn spawn_many<E: Exec>(e: &E, n: usize) -> Duration {
    timed(e, async move {
        E::spawn(async move {
            let hs: Vec<_> = (0..n).map(|i| E::spawn(async move { i })).collect();
            for h in hs {
                std::hint::black_box(h.await);
            }
        })
        .await
    })
}

/// `n` spawns from the benchmark thread, then joins them all.
fn spawn_remote<E: Exec>(e: &E, n: usize) -> Duration {
    let t = Instant::now();
    let hs: Vec<_> = (0..n).map(|i| e.spawn_remote(async move { i })).collect();
    e.block_on(async move {
        for h in hs {
            std::hint::black_box(h.await);
        }
    });
    t.elapsed()
}

/// `tasks` tasks each yielding `yields` times.
fn yield_many<E: Exec>(e: &E, tasks: usize, yields: usize) -> Duration {
    timed(e, async move {
        E::spawn(async move {
            let hs: Vec<_> = (0..tasks)
                .map(|_| {
                    E::spawn(async move {
                        for _ in 0..yields {
                            E::yield_now().await;
                        }
                    })
                })
                .collect();
            for h in hs {
                h.await;
            }
        })
        .await
    })
}

/// `n` ping-pong pairs: each pinger sends on a oneshot, its ponger answers on another.
fn ping_pong<E: Exec>(e: &E, n: usize) -> Duration {
    use futures_channel::oneshot;
    timed(e, async move {
        E::spawn(async move {
            let mut pingers = Vec::with_capacity(n);
            for _ in 0..n {
                let (tx1, rx1) = oneshot::channel::<()>();
                let (tx2, rx2) = oneshot::channel::<()>();
                E::detach(E::spawn(async move {
                    rx1.await.unwrap();
                    tx2.send(()).unwrap();
                }));
                pingers.push(E::spawn(async move {
                    tx1.send(()).unwrap();
                    rx2.await.unwrap();
                }));
            }
            for p in pingers {
                p.await;
            }
        })
        .await
    })
}

/// A chain of `depth` tasks, each spawning the next; the last one signals.
fn chained_spawn<E: Exec>(e: &E, depth: usize) -> Duration {
    use futures_channel::oneshot;
    fn link<E: Exec>(n: usize, done: oneshot::Sender<()>) {
        if n == 0 {
            let _ = done.send(());
        } else {
            E::detach(E::spawn(async move { link::<E>(n - 1, done) }));
        }
    }
    timed(e, async move {
        E::spawn(async move {
            let (tx, rx) = oneshot::channel();
            link::<E>(depth, tx);
            rx.await.unwrap();
        })
        .await
    })
}

/// `n` trivial blocking closures, joined.
fn spawn_blocking<E: Exec>(e: &E, n: usize) -> Duration {
    timed(e, async move {
        let hs: Vec<_> = (0..n).map(|i| E::spawn_blocking(move || i)).collect();
        for h in hs {
            std::hint::black_box(h.await);
        }
    })
}

/// `n` blocking closures that each sleep `micros`, all submitted at once, joined: how fast the
/// pool puts threads on a burst of jobs that block (asyncio's `gather` over `to_thread` file
/// reads). The floor is one sleep; the rest is the time to reach the last job.
fn spawn_blocking_sleepy<E: Exec>(e: &E, n: usize, micros: u64) -> Duration {
    timed(e, async move {
        let hs: Vec<_> = (0..n)
            .map(|_| E::spawn_blocking(move || std::thread::sleep(Duration::from_micros(micros))))
            .collect();
        for h in hs {
            h.await;
        }
    })
}

fn tulip_multi() -> TulipMulti {
    TulipMulti(
        tulip_executor::runtime::Builder::new()
            .worker_threads(2)
            .build()
            .expect("tulip runtime"),
    )
}

fn tokio_multi() -> Tokio {
    Tokio(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime"),
    )
}

fn tokio_current() -> Tokio {
    Tokio(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime"),
    )
}

/// One benchmark in both configurations: 2 workers (tulip, tokio multi-thread, smol on 2
/// threads) and single-thread (tulip LocalExecutor, tokio current-thread, smol LocalExecutor).
fn pair(
    name: &str,
    unit: &str,
    work: impl Fn(&dyn Any2) -> Duration + Clone + 'static,
) -> [Bench; 2] {
    let (w1, w2, w3) = (work.clone(), work.clone(), work.clone());
    // Runtimes are built on first use, so that filtered-out benchmarks start no threads.
    let multi = {
        let (mut t, mut k) = (None, None);
        Bench::new(format!("executor/{name}/2w"), unit)
            .with(TulipMulti::name(), move || {
                w1(t.get_or_insert_with(tulip_multi))
            })
            .with("tokio-mt", move || w2(k.get_or_insert_with(tokio_multi)))
            .with(SmolMulti::name(), move || w3(&SmolMulti))
    };
    let (w1, w2, w3) = (work.clone(), work.clone(), work);
    let single = {
        let (mut t, mut k) = (None, None);
        Bench::new(format!("executor/{name}/1t"), unit)
            .with(TulipLocal::name(), move || {
                w1(t.get_or_insert_with(|| TulipLocal(tulip_executor::LocalExecutor::new())))
            })
            .with("tokio-ct", move || w2(k.get_or_insert_with(tokio_current)))
            .with(SmolLocal::name(), move || w3(&SmolLocal))
    };
    [multi, single]
}

/// Dispatches a generic workload to the concrete executor (a trait object over `Exec`, which
/// has generic methods and so cannot be one itself).
trait Any2 {
    fn run(&self, w: Work) -> Duration;
}

#[derive(Clone, Copy)]
enum Work {
    SpawnMany(usize),
    SpawnRemote(usize),
    YieldMany(usize, usize),
    PingPong(usize),
    Chained(usize),
    Blocking(usize),
    BlockingSleepy(usize, u64),
}

impl<E: Exec> Any2 for E {
    fn run(&self, w: Work) -> Duration {
        match w {
            Work::SpawnMany(n) => spawn_many(self, n),
            Work::SpawnRemote(n) => spawn_remote(self, n),
            Work::YieldMany(t, y) => yield_many(self, t, y),
            Work::PingPong(n) => ping_pong(self, n),
            Work::Chained(n) => chained_spawn(self, n),
            Work::Blocking(n) => spawn_blocking(self, n),
            Work::BlockingSleepy(n, us) => spawn_blocking_sleepy(self, n, us),
        }
    }
}

pub(crate) fn benches(cfg: &Config) -> Vec<Bench> {
    let spawn_n = cfg.size(10_000, 10_000);
    let blocking_n = cfg.size(1_000, 1_000);
    let table: [(&str, String, Work); 7] = [
        (
            "spawn_many",
            format!("{spawn_n} spawns from a task, joined"),
            Work::SpawnMany(spawn_n),
        ),
        (
            "spawn_remote",
            format!("{spawn_n} spawns from outside, joined"),
            Work::SpawnRemote(spawn_n),
        ),
        (
            "yield_many",
            "200 tasks x 1000 yields".into(),
            Work::YieldMany(200, 1000),
        ),
        (
            "ping_pong",
            "1000 oneshot round trips".into(),
            Work::PingPong(1000),
        ),
        (
            "chained_spawn",
            "a chain of 1000 spawns".into(),
            Work::Chained(1000),
        ),
        (
            "spawn_blocking",
            format!("{blocking_n} blocking closures, joined"),
            Work::Blocking(blocking_n),
        ),
        (
            "spawn_blocking_sleepy",
            "64 blocking closures sleeping 1 ms each, joined".into(),
            Work::BlockingSleepy(64, 1000),
        ),
    ];
    let mut out = Vec::new();
    for (name, unit, work) in table {
        out.extend(pair(name, &unit, move |e: &dyn Any2| e.run(work)));
    }
    out.extend(eager_benches(spawn_n));
    out.extend(debug_mode_benches(spawn_n));
    out
}

/// Debug mode's cost (`runtime::Builder::debug`, `tulip_executor::debug`): `n` spawns from a
/// task, each awaiting once, joined, on a runtime with debug mode off and one with it on (a
/// spawn site recorded per task, a clock read around every poll). The off row is the number
/// to hold against `spawn_many` before debug mode existed: it should not move.
fn debug_mode_benches(n: usize) -> Vec<Bench> {
    async fn job(i: usize) -> usize {
        tulip_executor::yield_now().await;
        i
    }

    async fn spawn_join(n: usize, local: bool) {
        let hs: Vec<_> = (0..n)
            .map(|i| {
                if local {
                    tulip_executor::spawn_local(job(i))
                } else {
                    tulip_executor::spawn(job(i))
                }
            })
            .collect();
        for h in hs {
            std::hint::black_box(h.await.unwrap());
        }
    }

    fn runtime(debug: bool) -> TulipMulti {
        TulipMulti(
            tulip_executor::runtime::Builder::new()
                .worker_threads(2)
                .debug(debug)
                .build()
                .expect("tulip runtime"),
        )
    }

    let unit = format!("{n} spawns from a task, each awaiting once, joined");
    let multi = |debug: bool| {
        let mut rt = None;
        move || {
            let rt = rt.get_or_insert_with(|| runtime(debug));
            timed(
                rt,
                async move { TulipMulti::spawn(spawn_join(n, false)).await },
            )
        }
    };
    let local = |debug: bool| {
        let mut ex = None;
        move || {
            let ex = ex.get_or_insert_with(|| {
                let ex = tulip_executor::LocalExecutor::new();
                ex.set_debug(debug);
                TulipLocal(ex)
            });
            timed(
                ex,
                async move { TulipLocal::spawn(spawn_join(n, true)).await },
            )
        }
    };
    vec![
        Bench::new("executor/debug_mode/2w", unit.clone())
            .with("tulip-debug-off", multi(false))
            .with("tulip-debug-on", multi(true)),
        Bench::new("executor/debug_mode/1t", unit)
            .with("tulip-debug-off", local(false))
            .with("tulip-debug-on", local(true)),
    ]
}

/// Eager start (asyncio 3.12's `eager_task_factory`, `task::Builder::eager`) against a normal
/// spawn, tulip only: `n` spawns from inside a task, joined, of a future that completes at once
/// (the eager spawn finishes it in the spawn call) and of one that awaits once (a yield, so
/// the eager first poll is extra work before the task is queued anyway).
fn eager_benches(n: usize) -> Vec<Bench> {
    use tulip_executor::task::Builder;

    /// The spawned future: ready at once, or after one yield.
    async fn job(i: usize, yields: bool) -> usize {
        if yields {
            tulip_executor::yield_now().await;
        }
        i
    }

    async fn spawn_join(n: usize, yields: bool, eager: bool, local: bool) {
        let b = Builder::new().eager(eager);
        let hs: Vec<_> = (0..n)
            .map(|i| {
                if local {
                    b.clone().spawn_local(job(i, yields))
                } else {
                    b.clone().spawn(job(i, yields))
                }
            })
            .collect();
        for h in hs {
            std::hint::black_box(h.await.unwrap());
        }
    }

    // Both contenders share one runtime (and one local executor), built on first use, so
    // that only the spawn mode differs and no idle second runtime competes for the reactor.
    static RT: OnceLock<TulipMulti> = OnceLock::new();
    let rt = || RT.get_or_init(tulip_multi);
    let mut out = Vec::new();
    for (shape, yields) in [("ready", false), ("await_once", true)] {
        let unit = format!("{n} spawns from a task, joined");
        let multi = |eager: bool| {
            move || {
                timed(rt(), async move {
                    TulipMulti::spawn(spawn_join(n, yields, eager, false)).await
                })
            }
        };
        out.push(
            Bench::new(format!("executor/eager_spawn/{shape}/2w"), unit.clone())
                .with("tulip-eager", multi(true))
                .with("tulip-spawn", multi(false)),
        );
        let ex: std::rc::Rc<std::cell::OnceCell<TulipLocal>> = Default::default();
        let local = |eager: bool| {
            let ex = ex.clone();
            move || {
                let ex = ex.get_or_init(|| TulipLocal(tulip_executor::LocalExecutor::new()));
                timed(ex, async move {
                    TulipLocal::spawn(spawn_join(n, yields, eager, true)).await
                })
            }
        };
        out.push(
            Bench::new(format!("executor/eager_spawn/{shape}/1t"), unit)
                .with("tulip-eager", local(true))
                .with("tulip-spawn", local(false)),
        );
    }
    out
}
