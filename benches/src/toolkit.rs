//! Task-toolkit benchmarks: tulip's `gather`, `as_completed` and `TaskGroup` beside the closest
//! peers (futures-util's `join_all` / `FuturesUnordered`, tokio's `JoinSet`).
//!
//! The combinator benches poll their futures inline under one `block_on`, so only the
//! combinator differs; the group bench spawns real tasks on two workers (tokio's runtime with
//! its drivers, like tulip's; see the executor benches).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use futures_util::StreamExt;

use crate::harness::{Bench, Config, timed};
use futures_lite::future::block_on;

/// Returns `Pending` `n` times (waking itself each time), then `Ready`.
struct Yields(u32);

impl Future for Yields {
    type Output = u32;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        if self.0 == 0 {
            return Poll::Ready(7);
        }
        self.0 -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A relay of `n` futures where future `i` becomes ready only after future `i - 1` finished:
/// one wake-up per completion, so a combinator that re-polls every member per wake-up is
/// quadratic while one with per-member wakers stays linear.
struct Relay {
    next: AtomicUsize,
    wakers: std::sync::Mutex<Vec<Option<Waker>>>,
}

impl Relay {
    fn new(n: usize) -> Arc<Relay> {
        Arc::new(Relay {
            next: AtomicUsize::new(0),
            wakers: std::sync::Mutex::new((0..n).map(|_| None).collect()),
        })
    }
}

struct Leg {
    relay: Arc<Relay>,
    index: usize,
}

impl Future for Leg {
    type Output = usize;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        if self.relay.next.load(Ordering::Acquire) != self.index {
            self.relay.wakers.lock().unwrap()[self.index] = Some(cx.waker().clone());
            // Re-check after registering: the previous leg may have just finished.
            if self.relay.next.load(Ordering::Acquire) != self.index {
                return Poll::Pending;
            }
        }
        self.relay.next.store(self.index + 1, Ordering::Release);
        let next = self
            .relay
            .wakers
            .lock()
            .unwrap()
            .get_mut(self.index + 1)
            .and_then(Option::take);
        if let Some(w) = next {
            w.wake();
        }
        Poll::Ready(self.index)
    }
}

fn legs(n: usize) -> impl Iterator<Item = Leg> {
    let relay = Relay::new(n);
    // Inputs in reverse so that the leg that can finish is always the last one polled.
    (0..n).rev().map(move |index| Leg {
        relay: relay.clone(),
        index,
    })
}

pub(crate) fn benches(cfg: &Config) -> Vec<Bench> {
    let n = cfg.size(10_000, 10_000);
    let relay_n = cfg.size(2_000, 5_000);
    let group_n = cfg.size(10_000, 10_000);
    vec![
        Bench::new(
            "toolkit_gather",
            format!("{n} futures x 3 yields, gathered in order"),
        )
        .with("tulip", move || {
            timed(|| {
                assert_eq!(
                    block_on(tulip_executor::gather((0..n).map(|_| Yields(3)))).len(),
                    n
                )
            })
        })
        .with("futures-util join_all", move || {
            timed(|| {
                assert_eq!(
                    block_on(futures_util::future::join_all((0..n).map(|_| Yields(3)))).len(),
                    n
                )
            })
        }),
        Bench::new(
            "toolkit_gather_relay",
            format!("{relay_n} futures finishing one after another"),
        )
        .with("tulip", move || {
            timed(|| {
                assert_eq!(
                    block_on(tulip_executor::gather(legs(relay_n))).len(),
                    relay_n
                )
            })
        })
        .with("futures-util join_all", move || {
            timed(|| {
                assert_eq!(
                    block_on(futures_util::future::join_all(legs(relay_n))).len(),
                    relay_n
                )
            })
        }),
        Bench::new(
            "toolkit_as_completed",
            format!("{n} futures x 3 yields, in completion order"),
        )
        .with("tulip", move || {
            timed(|| {
                assert_eq!(
                    block_on(tulip_executor::as_completed((0..n).map(|_| Yields(3))).count()),
                    n
                )
            })
        })
        .with("futures-util FuturesUnordered", move || {
            timed(|| {
                let set: futures_util::stream::FuturesUnordered<_> =
                    (0..n).map(|_| Yields(3)).collect();
                assert_eq!(block_on(set.count()), n)
            })
        }),
        task_group(group_n),
    ]
}

/// Spawns `n` children that each yield once, then waits for all (structured join).
fn task_group(n: usize) -> Bench {
    let tulip = tulip_executor::runtime::Builder::new()
        .worker_threads(2)
        .build()
        .expect("tulip runtime");
    let tulip_plain = tulip_executor::runtime::Builder::new()
        .worker_threads(2)
        .build()
        .expect("tulip runtime");
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    Bench::new(
        "toolkit_task_group",
        format!("{n} children spawned into a group and joined, 2 workers"),
    )
    .with("tulip", move || {
        timed(|| {
            tulip.block_on(async {
                let group = tulip_executor::TaskGroup::<()>::new();
                for _ in 0..n {
                    group
                        .spawn(async {
                            tulip_executor::yield_now().await;
                            Ok(())
                        })
                        .detach();
                }
                group.join().await.expect("no child fails");
            })
        })
    })
    // The same spawns without a group: what the group itself costs on top of the scheduler.
    .with("tulip spawn + gather, no group", move || {
        timed(|| {
            tulip_plain.block_on(async {
                let tasks: Vec<_> = (0..n)
                    .map(|_| tulip_executor::spawn(tulip_executor::yield_now()))
                    .collect();
                for r in tulip_executor::gather(tasks).await {
                    r.expect("no panic");
                }
            })
        })
    })
    .with("tokio JoinSet", move || {
        timed(|| {
            tokio.block_on(async {
                let mut set = tokio::task::JoinSet::new();
                for _ in 0..n {
                    set.spawn(async {
                        tokio::task::yield_now().await;
                        Ok::<(), ()>(())
                    });
                }
                while let Some(r) = set.join_next().await {
                    r.expect("no panic").expect("no child fails");
                }
            })
        })
    })
}
