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
    let progress = Arc::new(AtomicUsize::new(0));
    let p = progress.clone();
    let watchdog_done = Arc::new(AtomicBool::new(false));
    let wd = watchdog_done.clone();
    let watchdog = std::thread::spawn(move || {
        let mut last = 0;
        loop {
            for _ in 0..100 {
                std::thread::sleep(std::time::Duration::from_millis(50));
                if wd.load(Ordering::SeqCst) {
                    return true;
                }
            }
            let now = p.load(Ordering::SeqCst);
            if now == last {
                return false;
            }
            last = now;
        }
    });
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
    watchdog_done.store(true, Ordering::SeqCst);
    assert!(
        watchdog.join().unwrap(),
        "no progress for 5 s: a wake-up was lost"
    );
}
