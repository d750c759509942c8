//! Scale: memory per pending task, per armed timer and per idle keep-alive connection, tulip
//! beside tokio in the same run.
//!
//! Each measurement runs in a fresh child process (`tulip-soak scale-one KIND N`) so one
//! runtime's freed-but-kept memory never flatters the next: RSS is read before and after
//! creating N items, and the difference divided by N is the per-item cost.

use std::future::pending;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use crate::report::{Report, Scale, rss_kib};

/// What `scale-one` can measure.
pub const KINDS: &[&str] = &[
    "tulip-tasks",
    "tokio-tasks",
    "tulip-timers",
    "tulip-sleep-tasks",
    "tokio-sleep-tasks",
    "tulip-http-conns",
];

/// Measures one kind with `n` items in this process: (RSS before, RSS after) in KiB.
pub fn measure(kind: &str, n: usize) -> Option<(u64, u64)> {
    let hour = Duration::from_secs(3600);
    match kind {
        "tulip-tasks" | "tulip-sleep-tasks" => {
            let rt = tulip_executor::Runtime::new().ok()?;
            let before = rss_kib()?;
            let polled = Arc::new(AtomicUsize::new(0));
            let sleep = kind == "tulip-sleep-tasks";
            let tasks: Vec<_> = (0..n)
                .map(|_| {
                    let polled = polled.clone();
                    rt.spawn(async move {
                        polled.fetch_add(1, Relaxed);
                        if sleep {
                            tulip_reactor::sleep(hour).await;
                        } else {
                            pending::<()>().await;
                        }
                    })
                })
                .collect();
            rt.block_on(async {
                while polled.load(Relaxed) < n {
                    tulip_reactor::sleep(Duration::from_millis(10)).await;
                }
            });
            let after = rss_kib()?;
            std::mem::forget(tasks);
            Some((before, after))
        }
        "tokio-tasks" | "tokio-sleep-tasks" => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_time()
                .build()
                .ok()?;
            let before = rss_kib()?;
            let polled = Arc::new(AtomicUsize::new(0));
            let sleep = kind == "tokio-sleep-tasks";
            let tasks: Vec<_> = (0..n)
                .map(|_| {
                    let polled = polled.clone();
                    rt.spawn(async move {
                        polled.fetch_add(1, Relaxed);
                        if sleep {
                            tokio::time::sleep(hour).await;
                        } else {
                            pending::<()>().await;
                        }
                    })
                })
                .collect();
            rt.block_on(async {
                while polled.load(Relaxed) < n {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            });
            let after = rss_kib()?;
            std::mem::forget(tasks);
            std::mem::forget(rt);
            Some((before, after))
        }
        "tulip-timers" => {
            let rt = tulip_executor::Runtime::new().ok()?;
            let before = rss_kib()?;
            let handle = rt.handle().clone();
            let timers: Vec<_> = (0..n).map(|_| handle.call_later(hour, || {})).collect();
            let after = rss_kib()?;
            std::mem::forget(timers);
            Some((before, after))
        }
        "tulip-http-conns" => crate::http::idle_connections(n),
        _ => None,
    }
}

/// Runs every kind in a child process and compares per-item memory.
pub fn compare(scale: Scale) -> Report {
    let mut r = Report::new("scale");
    let exe = std::env::current_exe().expect("own path");
    let million = scale.count(1_000_000);
    // Both ends of each connection are in the child: two descriptors each.
    let conns = scale
        .count(10_000)
        .min(crate::http::fd_limit().saturating_sub(512) / 2);
    for kind in KINDS {
        let n = if *kind == "tulip-http-conns" {
            conns
        } else {
            million
        };
        let out = Command::new(&exe)
            .args(["scale-one", kind, &n.to_string()])
            .output();
        let parsed = out.ok().filter(|o| o.status.success()).and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).to_string();
            let mut it = text.split_whitespace().map(|w| w.parse::<u64>().ok());
            Some((it.next()??, it.next()??))
        });
        let Some((before, after)) = parsed else {
            r.check(false, &format!("{kind}: measurement failed"));
            continue;
        };
        let per_item = (after.saturating_sub(before) * 1024) as f64 / n as f64;
        r.value(&format!("{kind}_n"), n as f64);
        r.value(&format!("{kind}_rss_mib"), after as f64 / 1024.0);
        r.value(&format!("{kind}_bytes_each"), per_item);
        if kind.ends_with("tasks") || *kind == "tulip-timers" {
            r.check(after < 1 << 20, &format!("{kind}: {n} under 1 GiB RSS"));
        }
    }
    r
}
