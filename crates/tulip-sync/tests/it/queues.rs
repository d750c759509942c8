use crate::{n, on_threads, on_tokio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tulip_sync::{Queue, QueueShutDown};

#[test]
fn producers_consumers_join_and_shutdown_under_tokio() {
    let per = n(2_000);
    let sum = Arc::new(AtomicUsize::new(0));
    on_tokio({
        let sum = sum.clone();
        async move {
            let q = Arc::new(Queue::bounded(4));
            let consumers: Vec<_> = (0..4)
                .map(|_| {
                    let (q, sum) = (q.clone(), sum.clone());
                    tokio::spawn(async move {
                        while let Ok(v) = q.get().await {
                            sum.fetch_add(v, Ordering::Relaxed);
                            q.task_done().unwrap();
                        }
                    })
                })
                .collect();
            let producers: Vec<_> = (0..4)
                .map(|_| {
                    let q = q.clone();
                    tokio::spawn(async move {
                        for i in 0..per {
                            q.put(i).await.unwrap();
                        }
                    })
                })
                .collect();
            for p in producers {
                p.await.unwrap();
            }
            q.join().await;
            q.shutdown(false);
            assert!(matches!(q.put(1).await, Err(QueueShutDown(1))));
            for c in consumers {
                c.await.unwrap();
            }
        }
    });
    assert_eq!(sum.load(Ordering::Relaxed), 4 * per * (per - 1) / 2);
}

#[test]
fn fifo_order_survives_threads() {
    // One producer, one consumer on different threads: the order must be preserved.
    let per = n(20_000);
    let q = Arc::new(Queue::bounded(16));
    let (qp, qc) = (q.clone(), q.clone());
    on_threads(vec![
        Box::pin(async move {
            for i in 0..per {
                qp.put(i).await.unwrap();
            }
            qp.shutdown(false);
        }),
        Box::pin(async move {
            let mut expect = 0;
            while let Ok(v) = qc.get().await {
                assert_eq!(v, expect);
                expect += 1;
            }
            assert_eq!(expect, per);
        }),
    ]);
}
