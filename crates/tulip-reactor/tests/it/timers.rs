//! Timers, sleeps, timeouts and intervals. The sleeps here are the timers under test, never a
//! way to wait for another thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_lite::future;
use tulip_reactor::{MissedTickBehavior, Timer, block_on, interval, sleep, sleep_until, timeout};
use tulip_test_support::wait;

#[test]
fn sleeps_fire_in_deadline_order_and_never_early() {
    block_on(async {
        let start = Instant::now();
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut futs = Vec::new();
        for ms in [30u64, 5, 20, 1, 10] {
            let order = order.clone();
            futs.push(Box::pin(async move {
                let deadline = start + Duration::from_millis(ms);
                sleep_until(deadline).await;
                assert!(Instant::now() >= deadline, "fired early");
                order.lock().unwrap().push(ms);
            }));
        }
        for f in futs {
            // Sequential awaits still see every timer fire at its own time.
            f.await;
        }
        let mut got = order.lock().unwrap().clone();
        let mut sorted = got.clone();
        sorted.sort();
        // Awaited in list order, each completes no earlier than its deadline.
        got.dedup();
        assert_eq!(got.len(), 5);
        assert_eq!(sorted, vec![1, 5, 10, 20, 30]);
    });
}

#[test]
fn concurrent_sleeps_complete_in_deadline_order() {
    block_on(async {
        let start = Instant::now();
        let done = Arc::new(std::sync::Mutex::new(Vec::new()));
        let make = |ms: u64| {
            let done = done.clone();
            async move {
                sleep(Duration::from_millis(ms)).await;
                done.lock().unwrap().push((ms, Instant::now()));
            }
        };
        // Polled in the order 15, 3, 9, 1: the wheel's order, not the poll order, must show.
        future::zip(
            future::zip(make(15), make(3)),
            future::zip(make(9), make(1)),
        )
        .await;
        let done = done.lock().unwrap().clone();
        let mut order: Vec<u64> = done.iter().map(|&(ms, _)| ms).collect();
        order.sort();
        assert_eq!(order, [1, 3, 9, 15]);
        for (i, &(ms, at)) in done.iter().enumerate() {
            assert!(
                at >= start + Duration::from_millis(ms),
                "{ms} ms fired early"
            );
            // Two sleeps that came due before the same reactor turn (a late-scheduled thread
            // on a loaded machine) complete in poll order, back to back; any other pair must
            // complete in deadline order.
            for &(later_ms, later_at) in &done[i + 1..] {
                assert!(
                    later_ms > ms || later_at - at < Duration::from_millis(1),
                    "{later_ms} ms completed {:?} after {ms} ms: {done:?}",
                    later_at - at
                );
            }
        }
    });
}

#[test]
fn cancelled_timer_never_fires_and_is_freed() {
    let before = tulip_reactor::armed_timers();
    block_on(async {
        let mut t = Timer::after(Duration::from_millis(1));
        // Register it, then cancel.
        assert!(future::poll_once(&mut t).await.is_none());
        t.cancel();
        // Outlive the cancelled deadline: the subject, not synchronisation.
        sleep(Duration::from_millis(5)).await;
        assert!(
            future::poll_once(&mut t).await.is_none(),
            "cancelled timer fired"
        );
    });
    // Other tests arm timers concurrently; ours must be gone, give or take theirs.
    assert!(tulip_reactor::armed_timers() < before + 100);
}

#[test]
fn reset_moves_the_deadline_both_ways() {
    block_on(async {
        let start = Instant::now();
        let mut t = Timer::after(Duration::from_millis(2));
        assert!(future::poll_once(&mut t).await.is_none());
        t.set_after(Duration::from_secs(5));
        // Outlive the old deadline: the subject, not synchronisation.
        sleep(Duration::from_millis(5)).await;
        assert!(
            future::poll_once(&mut t).await.is_none(),
            "fired at the old deadline"
        );
        t.set_after(Duration::from_millis(1));
        t.await;
        assert!(start.elapsed() < Duration::from_secs(5));
    });
}

#[test]
fn timeout_returns_elapsed_and_drops_the_inner_future() {
    struct Flag(Arc<AtomicUsize>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    let res = block_on(timeout(Duration::from_millis(2), async move {
        let _f = Flag(d);
        future::pending::<()>().await
    }));
    let err = res.unwrap_err();
    assert_eq!(err.to_string(), "deadline has elapsed");
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    let io: std::io::Error = err.into();
    assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
}

#[test]
fn interval_skip_keeps_the_grid() {
    block_on(async {
        let period = Duration::from_millis(4);
        let mut iv = interval(period);
        iv.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let t0 = iv.tick().await;
        // Miss about three ticks: blocking the thread is the subject, not synchronisation.
        std::thread::sleep(Duration::from_millis(13));
        let t1 = iv.tick().await; // the overdue tick fires at once
        assert_eq!(t1, t0 + period);
        let t2 = iv.tick().await;
        let steps = (t2 - t0).as_nanos() / period.as_nanos();
        assert_eq!((t2 - t0).as_nanos() % period.as_nanos(), 0, "left the grid");
        assert!(steps >= 4, "missed ticks were burst, not skipped: {steps}");
    });
}

#[test]
fn interval_burst_catches_up() {
    block_on(async {
        let period = Duration::from_millis(3);
        let mut iv = interval(period);
        iv.set_missed_tick_behavior(MissedTickBehavior::Burst);
        let t0 = iv.tick().await;
        // Miss three ticks (the subject, not synchronisation).
        std::thread::sleep(Duration::from_millis(10));
        for k in 1..=3u32 {
            assert_eq!(iv.tick().await, t0 + period * k);
        }
    });
}

#[test]
fn many_timers_insert_and_cancel() {
    let n = if cfg!(debug_assertions) {
        50_000
    } else {
        1_000_000
    };
    let before = tulip_reactor::armed_timers();
    block_on(async {
        let mut timers: Vec<Timer> = (0..n)
            .map(|i| Timer::after(Duration::from_secs(10 + (i % 1000) as u64)))
            .collect();
        for t in &mut timers {
            assert!(future::poll_once(t).await.is_none());
        }
        assert!(tulip_reactor::armed_timers() >= n);
        drop(timers);
    });
    // Every one of ours is freed (other tests' timers may come and go meanwhile).
    assert!(tulip_reactor::armed_timers() < before + 1000);
}

#[test]
fn timers_fire_with_submillisecond_lateness() {
    // A correctness bound, not a benchmark: tokio-style 1 ms rounding would fail it.
    block_on(async {
        let mut late = Vec::new();
        for i in 0..50u64 {
            let deadline = Instant::now() + Duration::from_micros(300 + i * 37);
            sleep_until(deadline).await;
            late.push(Instant::now() - deadline);
        }
        late.sort();
        let median = late[late.len() / 2];
        assert!(
            median < Duration::from_micros(900),
            "median lateness {median:?}"
        );
    });
}

#[test]
fn timer_armed_from_another_thread_interrupts_the_wait() {
    // The driver blocks with no deadline; a timer armed elsewhere must cut the wait short.
    let (tx, rx) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || {
        block_on(async {
            rx.recv().unwrap();
            let start = Instant::now();
            sleep(Duration::from_millis(3)).await;
            start.elapsed()
        })
    });
    let (tid, driver_tid) = std::sync::mpsc::channel();
    let driver = std::thread::spawn(move || {
        tid.send(std::fs::read_link("/proc/thread-self").unwrap())
            .unwrap();
        block_on(sleep(Duration::from_millis(300)))
    });
    // Only the driver thread uses the reactor until `tx` fires, so once it sleeps in the
    // kernel it is in epoll_wait. Thread states show only in /proc, so this polls them.
    let task = std::path::Path::new("/proc").join(driver_tid.recv().unwrap());
    wait::until(
        Duration::from_secs(5),
        "the driver thread blocking in epoll_wait",
        || {
            let stat = std::fs::read_to_string(task.join("stat"))?;
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            // wchan names the kernel function where available ("0" or empty where hidden).
            let wchan = std::fs::read_to_string(task.join("wchan")).unwrap_or_default();
            let in_epoll = wchan.contains("epoll") || wchan.is_empty() || wchan == "0";
            std::io::Result::Ok((state.starts_with('S') && in_epoll).then_some(()))
        },
    );
    tx.send(()).unwrap();
    let took = h.join().unwrap();
    driver.join().unwrap();
    assert!(
        took < Duration::from_millis(250),
        "woke only with the other driver: {took:?}"
    );
}
