//! The primitives under tulip's own multi-thread runtime.

use crate::n;
use std::sync::Arc;
use std::time::Duration;
use tulip_sync::{Event, Lock, Queue, Semaphore, mpsc};

/// Runs `f` on a tulip runtime; a watchdog thread fails the test instead of hanging it.
fn on_tulip<F: std::future::Future<Output = ()> + Send + 'static>(f: F) {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        let rt = tulip_executor::Runtime::new().unwrap();
        rt.block_on(f);
        let _ = done_tx.send(());
    });
    done_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("timed out: lost wake-up?");
    t.join().unwrap();
}

#[test]
fn lock_semaphore_queue_and_channel_under_tulip() {
    let iters = n(2_000);
    on_tulip(async move {
        let lock = Arc::new(Lock::new(0usize));
        let sem = Arc::new(Semaphore::new(2));
        let q = Arc::new(Queue::bounded(4));
        let (tx, mut rx) = mpsc::bounded(8);
        let ready = Arc::new(Event::new());
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (lock, sem, q, tx, ready) = (
                lock.clone(),
                sem.clone(),
                q.clone(),
                tx.clone(),
                ready.clone(),
            );
            tasks.push(tulip_executor::spawn(async move {
                ready.wait().await;
                for i in 0..iters {
                    *lock.lock().await += 1;
                    drop(sem.acquire().await);
                    q.put(i).await.unwrap();
                    tx.send(i).await.unwrap();
                }
            }));
        }
        drop(tx);
        ready.set();
        let consumer = {
            let q = q.clone();
            tulip_executor::spawn(async move {
                let mut n = 0;
                while q.get().await.is_ok() {
                    n += 1;
                }
                n
            })
        };
        let mut received = 0;
        while rx.recv().await.is_some() {
            received += 1;
        }
        for t in tasks {
            t.await.unwrap();
        }
        q.shutdown(false);
        assert_eq!(consumer.await.unwrap(), 8 * iters);
        assert_eq!(received, 8 * iters);
        assert_eq!(*lock.lock().await, 8 * iters);
        assert_eq!(sem.available_permits(), 2);
    });
}
