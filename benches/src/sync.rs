//! Sync-primitive benchmarks: tulip-sync beside tokio::sync and async-lock / async-channel.
//!
//! Every contender runs on the same tokio multi-thread runtime with two workers, so only the
//! primitive differs. Uncontended benches run one task; contended ones spawn many tasks that
//! hammer one primitive from both workers.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness::{Bench, Config};

const TASKS: usize = 16;
const PRODUCERS: usize = 8;

fn runtime() -> Arc<tokio::runtime::Runtime> {
    Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
    )
}

/// A sample closure: runs the future made by `make` on `rt` and returns its own timing.
fn on<F, Fut>(rt: &Arc<tokio::runtime::Runtime>, make: F) -> impl FnMut() -> Duration + 'static
where
    F: Fn() -> Fut + 'static,
    Fut: Future<Output = Duration> + Send + 'static,
{
    let rt = rt.clone();
    move || rt.block_on(rt.spawn(make())).unwrap()
}

/// Spawns `tasks` copies of `body(i)` and times until all finish.
async fn spawn_all<Fut>(tasks: usize, body: impl Fn(usize) -> Fut) -> Duration
where
    Fut: Future<Output = ()> + Send + 'static,
{
    let t = Instant::now();
    let handles: Vec<_> = (0..tasks).map(|i| tokio::spawn(body(i))).collect();
    for h in handles {
        h.await.unwrap();
    }
    t.elapsed()
}

pub(crate) fn benches(cfg: &Config) -> Vec<Bench> {
    let rt = runtime();
    let ops = cfg.size(100_000, 1_000_000);
    let per_task = cfg.size(2_000, 20_000);
    let msgs = cfg.size(50_000, 500_000);
    let rounds = cfg.size(5_000, 50_000);
    let mut v = Vec::new();

    v.push(
        Bench::new(
            "sync/mutex uncontended",
            format!("{ops} lock+unlock, 1 task"),
        )
        .with(
            "tulip",
            on(&rt, move || async move {
                let m = tulip_sync::Lock::new(0u64);
                let t = Instant::now();
                for _ in 0..ops {
                    *m.lock().await += 1;
                }
                t.elapsed()
            }),
        )
        .with(
            "tokio",
            on(&rt, move || async move {
                let m = tokio::sync::Mutex::new(0u64);
                let t = Instant::now();
                for _ in 0..ops {
                    *m.lock().await += 1;
                }
                t.elapsed()
            }),
        )
        .with(
            "async-lock",
            on(&rt, move || async move {
                let m = async_lock::Mutex::new(0u64);
                let t = Instant::now();
                for _ in 0..ops {
                    *m.lock().await += 1;
                }
                t.elapsed()
            }),
        ),
    );

    v.push(
        Bench::new(
            "sync/mutex contended",
            format!("{TASKS} tasks x {per_task} lock+unlock"),
        )
        .with(
            "tulip",
            on(&rt, move || async move {
                let m = Arc::new(tulip_sync::Lock::new(0u64));
                spawn_all(TASKS, |_| {
                    let m = m.clone();
                    async move {
                        for i in 0..per_task {
                            *m.lock().await += 1;
                            if i % 64 == 0 {
                                tokio::task::yield_now().await;
                            }
                        }
                    }
                })
                .await
            }),
        )
        .with(
            "tokio",
            on(&rt, move || async move {
                let m = Arc::new(tokio::sync::Mutex::new(0u64));
                spawn_all(TASKS, |_| {
                    let m = m.clone();
                    async move {
                        for i in 0..per_task {
                            *m.lock().await += 1;
                            if i % 64 == 0 {
                                tokio::task::yield_now().await;
                            }
                        }
                    }
                })
                .await
            }),
        )
        .with(
            "async-lock",
            on(&rt, move || async move {
                let m = Arc::new(async_lock::Mutex::new(0u64));
                spawn_all(TASKS, |_| {
                    let m = m.clone();
                    async move {
                        for i in 0..per_task {
                            *m.lock().await += 1;
                            if i % 64 == 0 {
                                tokio::task::yield_now().await;
                            }
                        }
                    }
                })
                .await
            }),
        ),
    );

    v.push(
        Bench::new(
            "sync/semaphore uncontended",
            format!("{ops} acquire+release, 1 task"),
        )
        .with(
            "tulip",
            on(&rt, move || async move {
                let s = tulip_sync::Semaphore::new(4);
                let t = Instant::now();
                for _ in 0..ops {
                    drop(s.acquire().await);
                }
                t.elapsed()
            }),
        )
        .with(
            "tokio",
            on(&rt, move || async move {
                let s = tokio::sync::Semaphore::new(4);
                let t = Instant::now();
                for _ in 0..ops {
                    drop(s.acquire().await.unwrap());
                }
                t.elapsed()
            }),
        )
        .with(
            "async-lock",
            on(&rt, move || async move {
                let s = async_lock::Semaphore::new(4);
                let t = Instant::now();
                for _ in 0..ops {
                    drop(s.acquire().await);
                }
                t.elapsed()
            }),
        ),
    );

    v.push(
        Bench::new(
            "sync/semaphore contended",
            format!("{TASKS} tasks x {per_task} acquire (2 permits), yield, release"),
        )
        .with(
            "tulip",
            on(&rt, move || async move {
                let s = Arc::new(tulip_sync::Semaphore::new(2));
                spawn_all(TASKS, |_| {
                    let s = s.clone();
                    async move {
                        for i in 0..per_task {
                            let _p = s.acquire().await;
                            if i % 8 == 0 {
                                tokio::task::yield_now().await;
                            }
                        }
                    }
                })
                .await
            }),
        )
        .with(
            "tokio",
            on(&rt, move || async move {
                let s = Arc::new(tokio::sync::Semaphore::new(2));
                spawn_all(TASKS, |_| {
                    let s = s.clone();
                    async move {
                        for i in 0..per_task {
                            let _p = s.acquire().await.unwrap();
                            if i % 8 == 0 {
                                tokio::task::yield_now().await;
                            }
                        }
                    }
                })
                .await
            }),
        )
        .with(
            "async-lock",
            on(&rt, move || async move {
                let s = Arc::new(async_lock::Semaphore::new(2));
                spawn_all(TASKS, |_| {
                    let s = s.clone();
                    async move {
                        for i in 0..per_task {
                            let _p = s.acquire().await;
                            if i % 8 == 0 {
                                tokio::task::yield_now().await;
                            }
                        }
                    }
                })
                .await
            }),
        ),
    );

    for producers in [1, PRODUCERS] {
        for bounded in [true, false] {
            let kind = if bounded { "bounded(128)" } else { "unbounded" };
            let per = msgs / producers;
            v.push(
                Bench::new(
                    format!("sync/mpsc {kind} {producers} producer(s)"),
                    format!("{} messages", per * producers),
                )
                .with(
                    "tulip",
                    on(&rt, move || async move {
                        let (tx, mut rx) = if bounded {
                            tulip_sync::mpsc::bounded(128)
                        } else {
                            tulip_sync::mpsc::unbounded()
                        };
                        let t = Instant::now();
                        for _ in 0..producers {
                            let tx = tx.clone();
                            tokio::spawn(async move {
                                for i in 0..per {
                                    tx.send(i).await.unwrap();
                                }
                            });
                        }
                        drop(tx);
                        while rx.recv().await.is_some() {}
                        t.elapsed()
                    }),
                )
                .with(
                    "tokio",
                    on(&rt, move || async move {
                        let t = Instant::now();
                        if bounded {
                            let (tx, mut rx) = tokio::sync::mpsc::channel(128);
                            for _ in 0..producers {
                                let tx = tx.clone();
                                tokio::spawn(async move {
                                    for i in 0..per {
                                        tx.send(i).await.unwrap();
                                    }
                                });
                            }
                            drop(tx);
                            while rx.recv().await.is_some() {}
                        } else {
                            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                            for _ in 0..producers {
                                let tx = tx.clone();
                                tokio::spawn(async move {
                                    for i in 0..per {
                                        tx.send(i).unwrap();
                                    }
                                });
                            }
                            drop(tx);
                            while rx.recv().await.is_some() {}
                        }
                        t.elapsed()
                    }),
                )
                .with(
                    "async-channel",
                    on(&rt, move || async move {
                        let (tx, rx) = if bounded {
                            async_channel::bounded(128)
                        } else {
                            async_channel::unbounded()
                        };
                        let t = Instant::now();
                        for _ in 0..producers {
                            let tx = tx.clone();
                            tokio::spawn(async move {
                                for i in 0..per {
                                    tx.send(i).await.unwrap();
                                }
                            });
                        }
                        drop(tx);
                        while rx.recv().await.is_ok() {}
                        t.elapsed()
                    }),
                ),
            );
        }
    }

    v.push(
        Bench::new(
            "sync/queue put+get",
            format!("{msgs} items through bounded(64), 1 producer 1 consumer"),
        )
        .with(
            "tulip Queue",
            on(&rt, move || async move {
                let q = Arc::new(tulip_sync::Queue::bounded(64));
                let t = Instant::now();
                let qp = q.clone();
                let p = tokio::spawn(async move {
                    for i in 0..msgs {
                        qp.put(i).await.unwrap();
                    }
                });
                for _ in 0..msgs {
                    q.get().await.unwrap();
                }
                p.await.unwrap();
                t.elapsed()
            }),
        )
        .with(
            "tokio mpsc",
            on(&rt, move || async move {
                let (tx, mut rx) = tokio::sync::mpsc::channel(64);
                let t = Instant::now();
                let p = tokio::spawn(async move {
                    for i in 0..msgs {
                        tx.send(i).await.unwrap();
                    }
                });
                for _ in 0..msgs {
                    rx.recv().await.unwrap();
                }
                p.await.unwrap();
                t.elapsed()
            }),
        )
        .with(
            "async-channel",
            on(&rt, move || async move {
                let (tx, rx) = async_channel::bounded(64);
                let t = Instant::now();
                let p = tokio::spawn(async move {
                    for i in 0..msgs {
                        tx.send(i).await.unwrap();
                    }
                });
                for _ in 0..msgs {
                    rx.recv().await.unwrap();
                }
                p.await.unwrap();
                t.elapsed()
            }),
        ),
    );

    v.push(
        Bench::new(
            "sync/event wake",
            format!("{rounds} ping-pong rounds between 2 tasks"),
        )
        .with(
            "tulip Event",
            on(&rt, move || async move {
                let (ping, pong) = (
                    Arc::new(tulip_sync::Event::new()),
                    Arc::new(tulip_sync::Event::new()),
                );
                let t = Instant::now();
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
                t.elapsed()
            }),
        )
        .with(
            "tokio Notify",
            on(&rt, move || async move {
                let (ping, pong) = (
                    Arc::new(tokio::sync::Notify::new()),
                    Arc::new(tokio::sync::Notify::new()),
                );
                let t = Instant::now();
                let (p2, q2) = (ping.clone(), pong.clone());
                let other = tokio::spawn(async move {
                    for _ in 0..rounds {
                        p2.notified().await;
                        q2.notify_one();
                    }
                });
                for _ in 0..rounds {
                    ping.notify_one();
                    pong.notified().await;
                }
                other.await.unwrap();
                t.elapsed()
            }),
        ),
    );
    v
}
