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
pub(crate) struct Flag {
    set: AtomicBool,
    waker: std::sync::Mutex<Option<Waker>>,
}

impl Flag {
    pub(crate) fn new() -> Arc<Flag> {
        Arc::new(Flag {
            set: AtomicBool::new(false),
            waker: std::sync::Mutex::new(None),
        })
    }

    pub(crate) fn raise(&self) {
        self.set.store(true, Ordering::SeqCst);
        let w = self.waker.lock().unwrap().take();
        if let Some(w) = w {
            w.wake();
        }
    }

    pub(crate) async fn lower(&self) {
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
    done: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Watchdog {
    fn start() -> (Arc<AtomicUsize>, Watchdog) {
        let progress = Arc::new(AtomicUsize::new(0));
        let (done, finished) = std::sync::mpsc::channel::<()>();
        let p = progress.clone();
        let thread = std::thread::spawn(move || {
            let mut last = 0;
            loop {
                // `finish` ends the wait at once (a message, or the sender dropped); a timeout
                // is the watchdog's 5 s check.
                match finished.recv_timeout(std::time::Duration::from_secs(5)) {
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return,
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
        let _ = self.done.send(());
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

/// Liveness of the reactor hand-over (quiet releases, `Reactor::request`, standby, hand-off)
/// with several drivers in one process: a busy runtime doing socket ping-pong, an idle second
/// runtime whose workers compete for the reactor and is shut down midway, and a thread in
/// `tulip_reactor::block_on` sleeping in a loop. A stall (nobody driving while tasks wait on
/// I/O) makes the watchdog fail the binary.
#[test]
fn io_progresses_with_competing_reactor_drivers() {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    use std::os::unix::net::UnixStream;
    use tulip_reactor::Async;

    let rounds = scaled(10_000, 2000);
    let busy = runtime::Builder::new().worker_threads(2).build().unwrap();
    let idle = runtime::Builder::new().worker_threads(2).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let sleeper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            tulip_reactor::block_on(async {
                while !stop.load(Ordering::SeqCst) {
                    // Load, not synchronisation: a second thread arming 1 ms timers keeps
                    // taking and leaving the reactor while the runtimes hand it around.
                    tulip_reactor::sleep(std::time::Duration::from_millis(1)).await;
                }
            })
        })
    };
    let (progress, watchdog) = Watchdog::start();
    let mut idle = Some(idle);
    let pairs: Vec<_> = (0..16)
        .map(|_| {
            let (a, b) = UnixStream::pair().unwrap();
            (Async::new(a).unwrap(), Async::new(b).unwrap())
        })
        .collect();
    let mut handles = Vec::new();
    for (a, b) in pairs {
        // Two tasks per pair, so that every read waits for the other task's write through
        // the reactor.
        busy.spawn(async move {
            let mut buf = [0u8; 64];
            for _ in 0..rounds {
                (&b).read_exact(&mut buf).await.unwrap();
                (&b).write_all(&buf).await.unwrap();
            }
        })
        .detach();
        let p = progress.clone();
        handles.push(busy.spawn(async move {
            let mut buf = [0u8; 64];
            for _ in 0..rounds {
                (&a).write_all(&[1; 64]).await.unwrap();
                (&a).read_exact(&mut buf).await.unwrap();
                p.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    busy.block_on(async {
        for (i, h) in handles.into_iter().enumerate() {
            h.await.unwrap();
            if i == 4 {
                // The idle runtime's workers leave for good: they must hand the reactor off.
                drop(idle.take());
            }
        }
    });
    stop.store(true, Ordering::SeqCst);
    sleeper.join().unwrap();
    watchdog.finish();
    assert_eq!(progress.load(Ordering::Relaxed), 16 * rounds);
}
