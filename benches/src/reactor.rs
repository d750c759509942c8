//! Reactor benchmarks: timers and readiness, tulip-reactor beside tokio and async-io (smol).
//!
//! Timer benchmarks that need many tasks run every contender's timers under the same
//! single-thread task executor where possible (async-executor's `LocalExecutor` for tulip and
//! async-io, tokio's current-thread runtime for tokio), so the numbers compare reactors.

use std::cell::RefCell;
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::future::{self, poll_once};
use futures_lite::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{Bench, Config, Sample, percentile};

pub(crate) fn benches(cfg: &Config) -> Vec<Bench> {
    let n = cfg.size(20_000, 100_000);
    let armed = cfg.size(200_000, 1_000_000);
    let sleeps = cfg.size(20_000, 100_000);
    let rounds = cfg.size(5_000, 20_000);
    vec![
        timer_insert_cancel(n, 0),
        timer_insert_cancel(n, armed),
        sleeps_fired(sleeps),
        ping_pong(rounds),
    ]
}

fn far() -> Duration {
    Duration::from_secs(3600)
}

fn timer_insert_cancel(n: usize, armed: usize) -> Bench {
    let name = format!("timer_insert_cancel/armed={armed}");
    let unit = format!("{n} timers armed then cancelled");
    let mut b = Bench::new(name, unit);

    b = b.with("tulip", move || {
        tulip_reactor::block_on(async {
            let keep: Vec<_> = arm_many(armed, tulip_reactor::Timer::after).await;
            let t = Instant::now();
            for i in 0..n {
                let mut timer =
                    tulip_reactor::Timer::after(far() + Duration::from_micros(i as u64));
                let _ = poll_once(&mut timer).await;
            }
            let el = t.elapsed();
            drop(keep);
            el
        })
    });

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    b = b.with("tokio", move || {
        rt.block_on(async {
            let keep: Vec<_> = arm_many(armed, |d| Box::pin(tokio::time::sleep(d))).await;
            let t = Instant::now();
            for i in 0..n {
                let mut s = Box::pin(tokio::time::sleep(far() + Duration::from_micros(i as u64)));
                let _ = poll_once(&mut s).await;
            }
            let el = t.elapsed();
            drop(keep);
            el
        })
    });

    b.with("async-io", move || {
        async_io::block_on(async {
            let keep: Vec<_> = arm_many(armed, async_io::Timer::after).await;
            let t = Instant::now();
            for i in 0..n {
                let mut timer = async_io::Timer::after(far() + Duration::from_micros(i as u64));
                let _ = poll_once(&mut timer).await;
            }
            let el = t.elapsed();
            drop(keep);
            el
        })
    })
}

async fn arm_many<T: std::future::Future + Unpin>(
    n: usize,
    make: impl Fn(Duration) -> T,
) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        let mut t = make(far() + Duration::from_millis(i as u64 % 100_000));
        let _ = poll_once(&mut t).await;
        v.push(t);
    }
    v
}

/// `n` tasks each sleep until a random deadline within 50 ms of a common start; we time the
/// batch from that start and record how late each one woke. The start lies far enough ahead
/// (1 µs per task + 5 ms) that every task has armed its timer before the first deadline, so
/// lateness measures the timers, not how long spawning took.
fn sleeps_fired(n: usize) -> Bench {
    let mut b = Bench::new("sleeps_fired", format!("{n} tasks sleeping ≤ 50 ms each"));
    let offsets = move || {
        let mut rng = fastrand::Rng::with_seed(42);
        (0..n)
            .map(|_| Duration::from_micros(rng.u64(1..50_000)))
            .collect::<Vec<_>>()
    };

    b = b.with("tulip", move || {
        let ex = async_executor::LocalExecutor::new();
        let late = Rc::new(RefCell::new(Vec::with_capacity(n)));
        let start = Instant::now() + lead(n);
        for off in offsets() {
            let late = late.clone();
            ex.spawn(async move {
                let deadline = start + off;
                tulip_reactor::sleep_until(deadline).await;
                late.borrow_mut()
                    .push((Instant::now() - deadline).as_secs_f64() * 1e6);
            })
            .detach();
        }
        let t = Instant::now();
        tulip_reactor::block_on(ex.run(async {
            while late.borrow().len() < n {
                tulip_reactor::sleep(Duration::from_millis(1)).await;
            }
        }));
        lateness(t.elapsed().saturating_sub(lead(n)), &mut late.borrow_mut())
    });

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    b = b.with("tokio", move || {
        rt.block_on(async {
            let local = tokio::task::LocalSet::new();
            let late = Rc::new(RefCell::new(Vec::with_capacity(n)));
            let start = tokio::time::Instant::now() + lead(n);
            for off in offsets() {
                let late = late.clone();
                local.spawn_local(async move {
                    let deadline = start + off;
                    tokio::time::sleep_until(deadline).await;
                    late.borrow_mut()
                        .push((tokio::time::Instant::now() - deadline).as_secs_f64() * 1e6);
                });
            }
            let t = Instant::now();
            local.await;
            lateness(t.elapsed().saturating_sub(lead(n)), &mut late.borrow_mut())
        })
    });

    b.with("async-io", move || {
        let ex = async_executor::LocalExecutor::new();
        let late = Rc::new(RefCell::new(Vec::with_capacity(n)));
        let start = Instant::now() + lead(n);
        for off in offsets() {
            let late = late.clone();
            ex.spawn(async move {
                let deadline = start + off;
                async_io::Timer::at(deadline).await;
                late.borrow_mut()
                    .push((Instant::now() - deadline).as_secs_f64() * 1e6);
            })
            .detach();
        }
        let t = Instant::now();
        async_io::block_on(ex.run(async {
            while late.borrow().len() < n {
                async_io::Timer::after(Duration::from_millis(1)).await;
            }
        }));
        lateness(t.elapsed().saturating_sub(lead(n)), &mut late.borrow_mut())
    })
}

fn lead(n: usize) -> Duration {
    Duration::from_micros(n as u64 + 5_000)
}

fn lateness(time: Duration, late_us: &mut [f64]) -> Sample {
    let p50 = percentile(late_us, 50.0);
    let p99 = percentile(late_us, 99.0);
    Sample {
        time,
        metrics: vec![("late_p50_us", p50), ("late_p99_us", p99)],
    }
}

fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (b, _) = l.accept().unwrap();
    a.set_nodelay(true).unwrap();
    b.set_nodelay(true).unwrap();
    (a, b)
}

/// One byte back and forth over one loopback TCP pair, both ends in one thread's loop.
fn ping_pong(rounds: usize) -> Bench {
    let b = Bench::new(
        "readiness_ping_pong",
        format!("{rounds} 1-byte round trips, one thread"),
    );
    let b = b.with("tulip", move || {
        let (a, c) = tcp_pair();
        let (mut a, mut c) = (
            tulip_reactor::Async::new(a).unwrap(),
            tulip_reactor::Async::new(c).unwrap(),
        );
        tulip_reactor::block_on(async {
            timed_async(future::zip(pinger(&mut a, rounds), ponger(&mut c, rounds))).await
        })
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let b = b.with("tokio", move || {
        rt.block_on(async {
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            let (a, c) = tcp_pair();
            a.set_nonblocking(true).unwrap();
            c.set_nonblocking(true).unwrap();
            let mut a = tokio::net::TcpStream::from_std(a).unwrap();
            let mut c = tokio::net::TcpStream::from_std(c).unwrap();
            let t = Instant::now();
            let p = async {
                let mut buf = [0u8; 1];
                for _ in 0..rounds {
                    a.write_all(&buf).await.unwrap();
                    a.read_exact(&mut buf).await.unwrap();
                }
            };
            let q = async {
                let mut buf = [0u8; 1];
                for _ in 0..rounds {
                    c.read_exact(&mut buf).await.unwrap();
                    c.write_all(&buf).await.unwrap();
                }
            };
            tokio::join!(p, q);
            t.elapsed()
        })
    });
    b.with("async-io", move || {
        let (a, c) = tcp_pair();
        let (mut a, mut c) = (
            async_io::Async::new(a).unwrap(),
            async_io::Async::new(c).unwrap(),
        );
        async_io::block_on(async {
            timed_async(future::zip(pinger(&mut a, rounds), ponger(&mut c, rounds))).await
        })
    })
}

async fn timed_async<F: std::future::Future>(f: F) -> Duration {
    let t = Instant::now();
    f.await;
    t.elapsed()
}

async fn pinger<S: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin>(
    s: &mut S,
    rounds: usize,
) {
    let mut buf = [0u8; 1];
    for _ in 0..rounds {
        s.write_all(&buf).await.unwrap();
        s.read_exact(&mut buf).await.unwrap();
    }
}

async fn ponger<S: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin>(
    s: &mut S,
    rounds: usize,
) {
    let mut buf = [0u8; 1];
    for _ in 0..rounds {
        s.read_exact(&mut buf).await.unwrap();
        s.write_all(&buf).await.unwrap();
    }
}
