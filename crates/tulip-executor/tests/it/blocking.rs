use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tulip_executor::{runtime, spawn_blocking};
use tulip_test_support::wait;

#[test]
fn pool_is_bounded() {
    let rt = runtime::Builder::new()
        .worker_threads(1)
        .max_blocking_threads(3)
        .build()
        .unwrap();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let ts: Vec<_> = (0..12)
            .map(|_| {
                let (r, p) = (running.clone(), peak.clone());
                spawn_blocking(move || {
                    let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                    p.fetch_max(now, Ordering::SeqCst);
                    // Hold the thread until three jobs ran at once, so the peak reaches the
                    // bound whatever the scheduling; more than three threads would show above it.
                    wait::until(
                        Duration::from_secs(10),
                        "three blocking jobs at once",
                        || Ok::<_, String>((p.load(Ordering::SeqCst) >= 3).then_some(())),
                    );
                    r.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for t in ts {
            t.await.unwrap();
        }
    });
    assert_eq!(peak.load(Ordering::SeqCst), 3);
    assert!(rt.handle().metrics().blocking_threads <= 3);
}

#[test]
fn idle_threads_expire() {
    let rt = runtime::Builder::new()
        .worker_threads(1)
        .blocking_keep_alive(Duration::from_millis(30))
        .build()
        .unwrap();
    rt.block_on(async {
        let ts: Vec<_> = (0..4).map(|i| spawn_blocking(move || i)).collect();
        for t in ts {
            t.await.unwrap();
        }
    });
    assert!(rt.handle().metrics().blocking_threads >= 1);
    wait::until(
        Duration::from_secs(3),
        "idle blocking threads expiring",
        || Ok::<_, String>((rt.handle().metrics().blocking_threads == 0).then_some(())),
    );
}

#[test]
fn shutdown_does_not_wait_for_blocking_work() {
    let rt = runtime::Builder::new()
        .worker_threads(1)
        .max_blocking_threads(1)
        .build()
        .unwrap();
    let h = rt.handle().clone();
    let (started, running) = std::sync::mpsc::channel();
    let _running = h.spawn_blocking(move || {
        started.send(()).unwrap();
        // Long blocking work IS the thing under test: shutdown must not wait for it.
        std::thread::sleep(Duration::from_millis(800))
    });
    let queued = h.spawn_blocking(|| 1);
    running
        .recv_timeout(Duration::from_secs(10))
        .expect("the blocking job starts");
    let t = Instant::now();
    drop(rt);
    assert!(
        t.elapsed() < Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    // The job that never started is cancelled, not lost.
    assert!(
        futures_lite::future::block_on(queued)
            .unwrap_err()
            .is_cancelled()
    );
}

#[test]
fn blocking_panic_is_a_join_error() {
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let err =
        futures_lite::future::block_on(spawn_blocking(|| panic!("blocking boom"))).unwrap_err();
    std::panic::set_hook(prev);
    assert!(err.is_panic());
}

/// A burst of jobs that block until all of them run gets a thread each, both when the pool
/// starts its threads and when it wakes idle ones: no queued job waits behind a busy thread.
#[test]
fn a_burst_of_blocking_jobs_runs_at_once() {
    const JOBS: usize = 8;
    let rt = runtime::Builder::new()
        .worker_threads(1)
        .max_blocking_threads(JOBS)
        .build()
        .unwrap();
    for round in 0..2 {
        // How many jobs of this round have started; each job waits on the condvar until all
        // have, so the burst only ends if every queued job got a thread.
        let started = Arc::new((std::sync::Mutex::new(0usize), std::sync::Condvar::new()));
        rt.block_on(async {
            let ts: Vec<_> = (0..JOBS)
                .map(|_| {
                    let s = started.clone();
                    spawn_blocking(move || {
                        let (count, cv) = &*s;
                        let mut n = count.lock().unwrap_or_else(|e| e.into_inner());
                        *n += 1;
                        cv.notify_all();
                        let (n, res) = cv
                            .wait_timeout_while(n, Duration::from_secs(10), |n| *n < JOBS)
                            .unwrap_or_else(|e| e.into_inner());
                        assert!(!res.timed_out(), "only {} of {JOBS} jobs ran at once", *n);
                    })
                })
                .collect();
            for t in ts {
                t.await.unwrap();
            }
        });
        assert_eq!(*started.0.lock().unwrap(), JOBS, "round {round}");
        // The second round finds the first round's threads idle and must wake all of them.
        assert_eq!(
            rt.handle().metrics().blocking_threads,
            JOBS,
            "round {round}"
        );
    }
}
