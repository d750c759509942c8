//! `block_on` on one and several threads. Its sleeps are timers the reactor must drive (the
//! subject), never a way to wait for another thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Poll, Waker};
use std::time::Duration;

use tulip_reactor::{block_on, sleep};

#[test]
fn nested_block_on_panics_with_asyncio_message() {
    let res = std::panic::catch_unwind(|| block_on(async { block_on(async { 1 }) }));
    let err = res.unwrap_err();
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(msg.contains("already running"), "message was: {msg}");
    // The thread is usable again afterwards.
    assert_eq!(block_on(async { 2 }), 2);
}

#[test]
fn wake_from_another_thread_unblocks() {
    for _ in 0..200 {
        let slot: Arc<std::sync::Mutex<Option<Waker>>> = Arc::default();
        let ready = Arc::new(AtomicBool::new(false));
        let (s2, r2) = (slot.clone(), ready.clone());
        let t = std::thread::spawn(move || {
            loop {
                if let Some(w) = s2.lock().unwrap().take() {
                    r2.store(true, Ordering::SeqCst);
                    w.wake();
                    return;
                }
                std::thread::yield_now();
            }
        });
        block_on(std::future::poll_fn(|cx| {
            if ready.load(Ordering::SeqCst) {
                return Poll::Ready(());
            }
            *slot.lock().unwrap() = Some(cx.waker().clone());
            if ready.load(Ordering::SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }));
        t.join().unwrap();
    }
}

#[test]
fn many_threads_share_the_reactor_without_stalling() {
    // Several block_on threads take turns driving; each must finish its sleeps promptly even
    // when another thread holds the reactor and then leaves.
    // A stall (every thread parked, nobody driving) fails the test instead of hanging it.
    let (tx, rx) = std::sync::mpsc::channel();
    for i in 0..6u64 {
        let tx = tx.clone();
        std::thread::spawn(move || {
            block_on(async move {
                for _ in 0..20 {
                    sleep(Duration::from_micros(200 + 100 * i)).await;
                }
            });
            tx.send(i).unwrap();
        });
    }
    drop(tx);
    let mut done: Vec<u64> = (0..6)
        .map(|_| {
            rx.recv_timeout(Duration::from_secs(30))
                .expect("a block_on thread stalled")
        })
        .collect();
    done.sort();
    assert_eq!(done, [0, 1, 2, 3, 4, 5]);
}

/// A `block_on` whose future blocks its thread (a synchronous `accept`, say) must not leave
/// another `block_on` thread's timers undriven: the waiting thread gets the reactor either by
/// asking the driver for it (`Reactor::request_for`) or from the driver's normal release
/// before it polls its future. (The suite hung in tulip-tls's tests when that release was
/// quiet and the request happened to miss the driver; this test covers the two paths
/// together, it cannot force that interleaving.)
#[test]
fn a_thread_blocking_inside_block_on_does_not_stall_another() {
    use std::time::{Duration, Instant};
    for _ in 0..3 {
        let blocker = std::thread::spawn(|| {
            tulip_reactor::block_on(async {
                tulip_reactor::sleep(Duration::from_millis(5)).await;
                // Blocks the thread right after it drove the reactor for its own timer (the
                // subject of this test, not synchronisation).
                std::thread::sleep(Duration::from_millis(1200));
            })
        });
        let t = Instant::now();
        tulip_reactor::block_on(async {
            for _ in 0..20 {
                tulip_reactor::sleep(Duration::from_millis(2)).await;
            }
        });
        let took = t.elapsed();
        blocker.join().unwrap();
        assert!(
            took < Duration::from_millis(900),
            "timers stalled for {took:?}"
        );
    }
}
