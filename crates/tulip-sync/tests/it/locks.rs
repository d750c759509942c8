use crate::{n, on_threads, on_tokio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tulip_sync::{Lock, RwLock, Semaphore};

/// Polls `fut` once, so it takes its place in the primitive's queue now (the order under
/// test), then spawns it; a spawned task's first poll only refreshes its waker.
async fn queue_then_spawn<F>(fut: F) -> tokio::task::JoinHandle<()>
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let mut fut = Box::pin(fut);
    assert!(
        futures_lite::future::poll_once(&mut fut).await.is_none(),
        "the waiter must queue, not finish"
    );
    tokio::spawn(fut)
}

/// Yields until `cond` holds, failing after 5 s with `what`.
async fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not happen within 5 s"
        );
        tokio::task::yield_now().await;
    }
}

#[test]
fn lock_excludes_under_tokio() {
    let lock = Arc::new(Lock::new(0usize));
    let iters = n(2_000);
    on_tokio({
        let lock = lock.clone();
        async move {
            let tasks: Vec<_> = (0..16)
                .map(|_| {
                    let lock = lock.clone();
                    tokio::spawn(async move {
                        for i in 0..iters {
                            let mut g = lock.lock().await;
                            let v = *g;
                            if i % 7 == 0 {
                                tokio::task::yield_now().await;
                            }
                            *g = v + 1;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        }
    });
    assert_eq!(*lock.try_lock().unwrap(), 16 * iters);
}

#[test]
fn lock_excludes_across_threads() {
    let lock = Arc::new(Lock::new(0usize));
    let iters = n(5_000);
    let futs = (0..4)
        .map(|_| {
            let lock = lock.clone();
            Box::pin(async move {
                for _ in 0..iters {
                    *lock.lock().await += 1;
                }
            }) as _
        })
        .collect();
    on_threads(futs);
    assert_eq!(*lock.try_lock().unwrap(), 4 * iters);
}

#[test]
fn lock_hands_off_in_fifo_order() {
    // Waiters queue in a known order while the lock is held; they must get it in that order.
    let lock = Arc::new(Lock::new(Vec::new()));
    on_tokio({
        let lock = lock.clone();
        async move {
            let held = lock.lock().await;
            let mut tasks = Vec::new();
            for i in 0..8 {
                let lock = lock.clone();
                tasks.push(queue_then_spawn(async move { lock.lock().await.push(i) }).await);
            }
            drop(held);
            for t in tasks {
                t.await.unwrap();
            }
        }
    });
    assert_eq!(*lock.try_lock().unwrap(), (0..8).collect::<Vec<_>>());
}

#[test]
fn semaphore_bounds_concurrency_and_is_fifo() {
    let sem = Arc::new(Semaphore::new(3));
    let inside = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let iters = n(500);
    on_tokio({
        let (sem, inside, peak) = (sem.clone(), inside.clone(), peak.clone());
        async move {
            let tasks: Vec<_> = (0..12)
                .map(|_| {
                    let (sem, inside, peak) = (sem.clone(), inside.clone(), peak.clone());
                    tokio::spawn(async move {
                        for _ in 0..iters {
                            let _p = sem.acquire().await;
                            let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            tokio::task::yield_now().await;
                            inside.fetch_sub(1, Ordering::SeqCst);
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        }
    });
    assert!(peak.load(Ordering::SeqCst) <= 3);
    assert_eq!(sem.available_permits(), 3);

    // FIFO: waiters queued in order 0..5 get permits in that order.
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    on_tokio({
        let order = order.clone();
        async move {
            let sem = Arc::new(Semaphore::new(0));
            let mut tasks = Vec::new();
            for i in 0..5 {
                let (sem, order) = (sem.clone(), order.clone());
                tasks.push(
                    queue_then_spawn(async move {
                        sem.acquire().await.forget();
                        order.lock().unwrap().push(i);
                    })
                    .await,
                );
            }
            // One permit at a time, each taken and recorded before the next is released.
            for k in 1..=5 {
                sem.release();
                until(&format!("waiter {k} taking its permit"), || {
                    order.lock().unwrap().len() == k
                })
                .await;
            }
            for t in tasks {
                t.await.unwrap();
            }
        }
    });
    assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
}

#[test]
fn rwlock_readers_share_writers_exclude() {
    let lock = Arc::new(RwLock::new(0usize));
    let iters = n(1_000);
    on_tokio({
        let lock = lock.clone();
        async move {
            let mut tasks = Vec::new();
            for w in 0..8 {
                let lock = lock.clone();
                tasks.push(tokio::spawn(async move {
                    for _ in 0..iters {
                        if w % 2 == 0 {
                            let mut g = lock.write().await;
                            let v = *g;
                            tokio::task::yield_now().await;
                            *g = v + 1;
                        } else {
                            let a = *lock.read().await;
                            let b = *lock.read().await;
                            assert!(b >= a);
                        }
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        }
    });
    assert_eq!(*lock.try_read().unwrap(), 4 * iters);
}
