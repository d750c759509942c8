use crate::{n, on_threads, on_tokio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tulip_sync::{Barrier, Condition, Event, Future, FutureError};

#[test]
fn event_ping_pong_under_tokio() {
    let rounds = n(2_000);
    on_tokio(async move {
        let ping = Arc::new(Event::new());
        let pong = Arc::new(Event::new());
        let (p2, q2) = (ping.clone(), pong.clone());
        let other = tokio::spawn(async move {
            for _ in 0..rounds {
                p2.wait().await;
                p2.clear();
                q2.set();
            }
        });
        for _ in 0..rounds {
            ping.set();
            pong.wait().await;
            pong.clear();
        }
        other.await.unwrap();
    });
}

#[test]
fn condition_producer_consumer_across_threads() {
    let items = n(5_000);
    let cond = Arc::new(Condition::new(Vec::new()));
    let (c1, c2) = (cond.clone(), cond.clone());
    on_threads(vec![
        Box::pin(async move {
            for i in 0..items {
                c1.lock().await.push(i);
                c1.notify(1);
            }
        }),
        Box::pin(async move {
            let mut got = 0;
            while got < items {
                let g = c2.lock().await;
                let mut g = c2.wait_for(g, |v| !v.is_empty()).await;
                got += g.drain(..).count();
            }
        }),
    ]);
}

#[test]
fn barrier_rounds_have_one_leader_each() {
    let rounds = n(300);
    let leaders = Arc::new(AtomicUsize::new(0));
    on_tokio({
        let leaders = leaders.clone();
        async move {
            let barrier = Arc::new(Barrier::new(5));
            let tasks: Vec<_> = (0..5)
                .map(|_| {
                    let (barrier, leaders) = (barrier.clone(), leaders.clone());
                    tokio::spawn(async move {
                        for _ in 0..rounds {
                            if barrier.wait().await.unwrap().is_leader() {
                                leaders.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        }
    });
    assert_eq!(leaders.load(Ordering::Relaxed), rounds);
}

#[test]
fn future_awaited_by_many_threads() {
    let fut: Future<String, ()> = Future::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    fut.add_done_callback(move |r| {
        assert_eq!(r.as_deref(), Ok("done"));
        c.fetch_add(1, Ordering::SeqCst);
    });
    let waiting = Arc::new(AtomicUsize::new(0));
    let mut futs: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>> = (0..6)
        .map(|_| {
            let (f, w) = (fut.clone(), waiting.clone());
            Box::pin(async move {
                w.fetch_add(1, Ordering::SeqCst);
                assert_eq!(f.await.as_deref(), Ok("done"))
            }) as _
        })
        .collect();
    let setter = fut.clone();
    futs.push(Box::pin(async move {
        // Set once all six threads are at their await, so most of them are parked on it.
        tulip_test_support::wait::until(
            std::time::Duration::from_secs(10),
            "six threads awaiting the future",
            || Ok::<_, String>((waiting.load(Ordering::SeqCst) == 6).then_some(())),
        );
        setter.set_result("done".to_string()).unwrap();
    }));
    on_threads(futs);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(!fut.cancel());

    let cancelled: Future<u8, u8> = Future::new();
    on_tokio({
        let c = cancelled.clone();
        async move {
            let waiter = tokio::spawn(c.wait());
            tokio::task::yield_now().await;
            c.cancel();
            assert_eq!(waiter.await.unwrap(), Err(FutureError::Cancelled));
        }
    });
}
