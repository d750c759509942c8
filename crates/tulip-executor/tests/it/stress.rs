use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Poll, Waker};

use tulip_executor::{runtime, spawn};

use crate::scaled;

#[test]
fn a_million_tasks_spawned_and_joined() {
    let n = scaled(1_000_000, 50_000);
    let rt = runtime::Builder::new().worker_threads(2).build().unwrap();
    let sum = rt.block_on(async move {
        spawn(async move {
            let mut hs = Vec::with_capacity(1000);
            let mut sum = 0u64;
            for i in 0..n as u64 {
                hs.push(spawn(async move { i }));
                if hs.len() == 1000 {
                    for h in hs.drain(..) {
                        sum += h.await.unwrap();
                    }
                }
            }
            for h in hs {
                sum += h.await.unwrap();
            }
            sum
        })
        .await
        .unwrap()
    });
    let n = n as u64;
    assert_eq!(sum, n * (n - 1) / 2);
    assert_eq!(rt.handle().metrics().live_tasks, 0);
}

/// A flag one side sets and wakes, the other side awaits: a wake-up lost anywhere in the
/// scheduler hangs the test (a watchdog turns the hang into a failure).
struct Flag {
    set: AtomicBool,
    waker: std::sync::Mutex<Option<Waker>>,
}

impl Flag {
    fn new() -> Arc<Flag> {
        Arc::new(Flag {
            set: AtomicBool::new(false),
            waker: std::sync::Mutex::new(None),
        })
    }

    fn raise(&self) {
        self.set.store(true, Ordering::SeqCst);
        let w = self.waker.lock().unwrap().take();
        if let Some(w) = w {
            w.wake();
        }
    }

    async fn lower(&self) {
        std::future::poll_fn(|cx| {
            if self.set.swap(false, Ordering::SeqCst) {
                return Poll::Ready(());
            }
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            if self.set.swap(false, Ordering::SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

#[test]
fn cross_thread_wakes_are_never_lost() {
    // Pairs of tasks bounce a flag back and forth; with 2 workers most bounces cross threads.
    let total = scaled(10_000_000, 200_000);
    let pairs = 8;
    let rounds = total / (2 * pairs);
    let rt = runtime::Builder::new().worker_threads(2).build().unwrap();
    let (progress, watchdog) = Watchdog::start();
    rt.block_on(async move {
        let mut hs = Vec::new();
        for _ in 0..pairs {
            let (a, b) = (Flag::new(), Flag::new());
            let (a2, b2) = (a.clone(), b.clone());
            let p = progress.clone();
            hs.push(spawn(async move {
                for _ in 0..rounds {
                    a2.raise();
                    b2.lower().await;
                    p.fetch_add(1, Ordering::Relaxed);
                }
            }));
            hs.push(spawn(async move {
                for _ in 0..rounds {
                    a.lower().await;
                    b.raise();
                }
            }));
        }
        for h in hs {
            h.await.unwrap();
        }
    });
    watchdog.finish();
}

/// Turns a hang into a failure: when `progress` stands still for 5 s the whole test binary
/// exits with an error (the stuck test itself would never return to report it).
struct Watchdog {
    done: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Watchdog {
    fn start() -> (Arc<AtomicUsize>, Watchdog) {
        let progress = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let (p, d) = (progress.clone(), done.clone());
        let thread = std::thread::spawn(move || {
            let mut last = 0;
            loop {
                for _ in 0..100 {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    if d.load(Ordering::SeqCst) {
                        return;
                    }
                }
                let now = p.load(Ordering::SeqCst);
                if now == last {
                    eprintln!("no progress for 5 s at step {now}: a wake-up was lost");
                    std::process::exit(1);
                }
                last = now;
            }
        });
        (progress, Watchdog { done, thread })
    }

    fn finish(self) {
        self.done.store(true, Ordering::SeqCst);
        self.thread.join().unwrap();
    }
}

/// The regression test of the lost wake-up that once needed a 10 ms re-check backstop: batches
/// spawned from outside the runtime park and wake both workers thousands of times, passing the
/// reactor between them. A waker that skipped `Reactor::notify` because the worker's unpark
/// token was already set (a stale reactor hand-off) left a worker asleep in epoll, counted as
/// notified, with the injector full; this loop hit it within a second or two.
#[test]
fn remote_spawn_batches_never_stall() {
    let rounds = 3000;
    let budget = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let rt = runtime::Builder::new().worker_threads(2).build().unwrap();
    let (progress, watchdog) = Watchdog::start();
    for round in 0..rounds {
        let hs: Vec<_> = (0..1000u64).map(|i| rt.spawn(async move { i })).collect();
        let sum = rt.block_on(async move {
            let mut sum = 0;
            for h in hs {
                sum += h.await.unwrap();
            }
            sum
        });
        assert_eq!(sum, 999 * 1000 / 2, "round {round}");
        progress.fetch_add(1, Ordering::SeqCst);
        if std::time::Instant::now() > budget {
            break;
        }
    }
    watchdog.finish();
}
