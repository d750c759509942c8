use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use tulip_executor::{LocalExecutor, Runtime, runtime, spawn_local};

/// Counts its drops.
pub(crate) struct Guard(pub(crate) Arc<AtomicUsize>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn shutdown_drops_pending_tasks() {
    let drops = Arc::new(AtomicUsize::new(0));
    let rt = runtime::Builder::new().worker_threads(2).build().unwrap();
    let (reached, at_await) = mpsc::channel();
    let handles: Vec<_> = (0..100)
        .map(|i| {
            let g = Guard(drops.clone());
            let reached = reached.clone();
            rt.spawn(async move {
                let _g = g;
                reached.send(()).unwrap();
                if i % 2 == 0 {
                    // Pending forever with nobody holding a waker.
                    std::future::pending::<()>().await;
                } else {
                    // Pending on a timer far in the future (the reactor holds the waker).
                    tulip_reactor::sleep(Duration::from_secs(3600)).await;
                }
            })
        })
        .collect();
    // Every task has been polled and is at its await point.
    for _ in 0..100 {
        at_await
            .recv_timeout(Duration::from_secs(10))
            .expect("every task starts within 10 s");
    }
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(rt);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        100,
        "every pending future was dropped"
    );
    for h in handles {
        let err = futures_lite::future::block_on(h).unwrap_err();
        assert!(err.is_cancelled());
    }
}

#[test]
fn shutdown_timeout_returns_despite_a_stuck_worker() {
    let rt = runtime::Builder::new().worker_threads(1).build().unwrap();
    let (started, running) = mpsc::channel();
    rt.spawn(async move {
        started.send(()).unwrap();
        // The stuck worker IS the thing under test: this poll blocks its thread for 600 ms.
        std::thread::sleep(Duration::from_millis(600))
    })
    .detach();
    running
        .recv_timeout(Duration::from_secs(10))
        .expect("the stuck task starts");
    let t = Instant::now();
    rt.shutdown_timeout(Duration::from_millis(50));
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn spawn_after_shutdown_is_cancelled() {
    let rt = Runtime::new().unwrap();
    let h = rt.handle().clone();
    drop(rt);
    let err = futures_lite::future::block_on(h.spawn(async { 1 })).unwrap_err();
    assert!(err.is_cancelled());
}

#[test]
fn local_executor_drop_drops_pending_tasks() {
    let drops = Arc::new(AtomicUsize::new(0));
    let ex = LocalExecutor::new();
    let d = drops.clone();
    ex.block_on(async move {
        for _ in 0..10 {
            let g = Guard(d.clone());
            spawn_local(async move {
                let _g = g;
                std::future::pending::<()>().await;
            })
            .detach();
        }
        futures_lite::future::yield_now().await;
    });
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(ex);
    assert_eq!(drops.load(Ordering::SeqCst), 10);
}

/// One of two tasks that park their wakers in a shared table and, when dropped, wake the
/// other while holding the table's lock: the shape of h2's connection task and stream
/// handles (dropping a body sender wakes the connection task under the stream lock, and the
/// connection's destructor takes that lock).
struct Entangled {
    me: usize,
    table: Arc<std::sync::Mutex<[Option<std::task::Waker>; 2]>>,
    parked: mpsc::Sender<()>,
}

impl std::future::Future for Entangled {
    type Output = ();
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        let first = self.table.lock().unwrap()[self.me]
            .replace(cx.waker().clone())
            .is_none();
        if first {
            self.parked.send(()).unwrap();
        }
        std::task::Poll::Pending
    }
}

impl Drop for Entangled {
    fn drop(&mut self) {
        let mut table = self.table.lock().unwrap();
        table[self.me] = None;
        if let Some(other) = &table[1 - self.me] {
            other.wake_by_ref();
        }
    }
}

/// A wake during shutdown must queue the woken task, never drop its future inside the wake:
/// the waker's caller may hold a lock that the future's destructor takes. (This deadlocked
/// the HTTP/2 client tests at runtime shutdown, the thread waiting on a lock it held.)
#[test]
fn a_wake_during_shutdown_never_drops_the_task_inside_the_wake() {
    for workers in [1, 2] {
        let rt = runtime::Builder::new()
            .worker_threads(workers)
            .build()
            .unwrap();
        let table = Arc::new(std::sync::Mutex::new([None, None]));
        let (parked, at_await) = mpsc::channel();
        for me in 0..2 {
            rt.spawn(Entangled {
                me,
                table: table.clone(),
                parked: parked.clone(),
            })
            .detach();
        }
        for _ in 0..2 {
            at_await
                .recv_timeout(Duration::from_secs(10))
                .expect("both tasks are polled within 10 s");
        }
        // Dropping the runtime drops both futures; a deadlock shows as a timeout here.
        let (done, finished) = mpsc::channel();
        std::thread::spawn(move || {
            drop(rt);
            done.send(()).unwrap();
        });
        finished
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                panic!("the runtime shuts down without deadlocking ({workers} workers)")
            });
        assert!(
            table.lock().unwrap().iter().all(Option::is_none),
            "both futures were dropped"
        );
    }
}
