//! Cancellation stress: waits are abandoned at random points while others hand permits,
//! items and notifications around. Afterwards nothing may be lost or leaked.

use crate::{n, on_tokio};
use std::sync::Arc;
use tulip_sync::{Condition, Lock, Queue, Semaphore, mpsc};

/// Races `f` against `i % 5` yields (never, for 4), so that many waits are abandoned at some
/// point of their life: just queued, notified but not yet polled, or done.
async fn maybe_cancel<F: std::future::Future>(i: usize, f: F) -> Option<F::Output> {
    let yields = i % 5;
    // The canceller is polled first, so `f` is dropped without seeing a notification that
    // arrived since its last poll: the case where it must pass the notification on.
    let canceller = async move {
        if yields == 4 {
            std::future::pending::<()>().await;
        }
        for _ in 0..yields {
            tokio::task::yield_now().await;
        }
        None
    };
    futures_lite::future::or(canceller, async { Some(f.await) }).await
}

#[test]
fn cancelled_lock_and_semaphore_waits_lose_nothing() {
    let iters = n(2_000);
    let lock = Arc::new(Lock::new(0usize));
    let sem = Arc::new(Semaphore::new(3));
    on_tokio({
        let (lock, sem) = (lock.clone(), sem.clone());
        async move {
            let tasks: Vec<_> = (0..12)
                .map(|t| {
                    let (lock, sem) = (lock.clone(), sem.clone());
                    tokio::spawn(async move {
                        for i in 0..iters {
                            if let Some(mut g) = maybe_cancel(i + t, lock.lock()).await {
                                *g += 1;
                                tokio::task::yield_now().await;
                            }
                            if let Some(p) =
                                maybe_cancel(i * 3 + t, sem.acquire_many(1 + i % 3)).await
                            {
                                tokio::task::yield_now().await;
                                drop(p);
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
    assert!(!lock.locked(), "lock leaked");
    assert!(lock.try_lock().is_some());
    assert_eq!(sem.available_permits(), 3, "permits lost");
    assert!(!sem.locked(), "a waiter leaked");
}

#[test]
fn cancelled_gets_and_sends_lose_no_item() {
    // Several producers block on a full channel and several consumers on an empty queue, so a
    // cancelled waiter that swallowed its wake-up would strand the others.
    let per = n(2_000);
    on_tokio(async move {
        let q = Arc::new(Queue::bounded(1));
        let (tx, mut rx) = mpsc::bounded(1);
        for p in 0..3 {
            let tx = tx.clone();
            tokio::spawn(async move {
                for i in 0..per {
                    let mut attempt = i + p;
                    // A cancelled send drops its value, so retry the same one.
                    while maybe_cancel(attempt, tx.send(p * per + i)).await.is_none() {
                        attempt += 1;
                        tokio::task::yield_now().await;
                    }
                }
            });
        }
        drop(tx);
        let consumers: Vec<_> = (0..3)
            .map(|c| {
                let q = q.clone();
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    let mut attempt = c;
                    loop {
                        attempt += 1;
                        match maybe_cancel(attempt, q.get()).await {
                            Some(Ok(v)) => got.push(v),
                            Some(Err(_)) => return got,
                            None => tokio::task::yield_now().await,
                        }
                    }
                })
            })
            .collect();
        let mut attempt = 0;
        loop {
            attempt += 1;
            match maybe_cancel(attempt, rx.recv()).await {
                Some(Some(v)) => {
                    while maybe_cancel(attempt, q.put(v)).await.is_none() {
                        attempt += 1;
                    }
                }
                Some(None) => break,
                None => {}
            }
        }
        q.shutdown(false);
        let mut all = Vec::new();
        for c in consumers {
            all.extend(c.await.unwrap());
        }
        all.sort_unstable();
        assert_eq!(all, (0..3 * per).collect::<Vec<_>>());
    });
}

#[test]
fn cancelled_condition_waits_keep_notifications() {
    let rounds = n(2_000);
    on_tokio(async move {
        let cond = Arc::new(Condition::new(0usize));
        let waiters: Vec<_> = (0..6)
            .map(|t| {
                let cond = cond.clone();
                tokio::spawn(async move {
                    let mut i = t;
                    loop {
                        i += 1;
                        let g = cond.lock().await;
                        if *g >= rounds {
                            return;
                        }
                        // A cancelled wait may swallow nothing: its notification moves on.
                        let _ = maybe_cancel(i, cond.wait_for(g, |v| *v % 2 == 1 || *v >= rounds))
                            .await;
                    }
                })
            })
            .collect();
        for _ in 0..rounds {
            *cond.lock().await += 1;
            cond.notify(1);
            tokio::task::yield_now().await;
        }
        cond.notify_all();
        for w in waiters {
            w.await.unwrap();
        }
    });
}
