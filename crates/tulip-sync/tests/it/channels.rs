use crate::{n, on_threads, on_tokio};
use tulip_sync::{broadcast, mpsc};

#[test]
fn mpsc_many_producers_keep_per_producer_order() {
    for bounded in [true, false] {
        let per = n(10_000);
        on_tokio(async move {
            let (tx, mut rx) = if bounded {
                mpsc::bounded(8)
            } else {
                mpsc::unbounded()
            };
            for p in 0..4usize {
                let tx = tx.clone();
                tokio::spawn(async move {
                    for i in 0..per {
                        tx.send((p, i)).await.unwrap();
                    }
                });
            }
            drop(tx);
            let mut next = [0usize; 4];
            while let Some((p, i)) = rx.recv().await {
                assert_eq!(i, next[p], "producer {p} out of order");
                next[p] += 1;
            }
            assert_eq!(next, [per; 4]);
        });
    }
}

#[test]
fn mpsc_across_threads() {
    let per = n(20_000);
    let (tx, mut rx) = mpsc::bounded(4);
    let mut futs: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>> = Vec::new();
    for _ in 0..3 {
        let tx = tx.clone();
        futs.push(Box::pin(async move {
            for i in 0..per {
                tx.send(i).await.unwrap();
            }
        }));
    }
    drop(tx);
    futs.push(Box::pin(async move {
        let mut count = 0;
        while rx.recv().await.is_some() {
            count += 1;
        }
        assert_eq!(count, 3 * per);
    }));
    on_threads(futs);
}

#[test]
fn broadcast_every_receiver_sees_every_value_or_a_lag() {
    let per = n(5_000) as u64;
    on_tokio(async move {
        let (tx, rx) = broadcast::channel(16);
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let mut rx = rx.resubscribe();
            tasks.push(tokio::spawn(async move {
                let (mut seen, mut lost, mut last) = (0u64, 0u64, None);
                loop {
                    match rx.recv().await {
                        Ok(v) => {
                            if let Some(l) = last {
                                assert!(v > l);
                            }
                            last = Some(v);
                            seen += 1;
                        }
                        Err(broadcast::RecvError::Lagged(n)) => lost += n,
                        Err(broadcast::RecvError::Closed) => break,
                    }
                }
                assert_eq!(seen + lost, per);
            }));
        }
        drop(rx);
        for i in 0..per {
            tx.send(i).unwrap();
            if i % 64 == 0 {
                tokio::task::yield_now().await;
            }
        }
        drop(tx);
        for t in tasks {
            t.await.unwrap();
        }
    });
}
