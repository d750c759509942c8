//! Integration tests of tulip-process: real children (`cat`, `sh`, `true`), real signals.

mod debug;
mod pipes;
mod reaping;
mod signals;
mod spawn;

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

/// Runs `fut` on the reactor with a deadline, so that a bug hangs no test.
fn run<T>(fut: impl Future<Output = T>) -> T {
    tulip_reactor::block_on(tulip_reactor::timeout(Duration::from_secs(30), fut))
        .expect("test timed out after 30 s")
}

/// Polls every future concurrently on the current task; returns their outputs in order.
async fn join_all<T>(futs: Vec<Pin<Box<dyn Future<Output = T> + '_>>>) -> Vec<T> {
    let mut futs: Vec<_> = futs.into_iter().map(Some).collect();
    let mut out: Vec<Option<T>> = futs.iter().map(|_| None).collect();
    futures_lite::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, res) in futs.iter_mut().zip(out.iter_mut()) {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => {
                        *res = Some(v);
                        *slot = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    out.into_iter()
        .map(|v| v.expect("every future finished"))
        .collect()
}

/// Pids among `pids` that are still our children (zombies or running), read from /proc.
fn still_our_children(pids: &[u32]) -> Vec<(u32, char)> {
    let me = std::process::id();
    pids.iter()
        .filter_map(|&pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // "pid (comm) S ppid ...": comm may hold spaces and parentheses, so split after
            // the last ')'.
            let rest = &stat[stat.rfind(')')? + 2..];
            let mut fields = rest.split(' ');
            let state = fields.next()?.chars().next()?;
            let ppid: u32 = fields.next()?.parse().ok()?;
            (ppid == me).then_some((pid, state))
        })
        .collect()
}

/// Waits up to 10 s for every pid in `pids` to be reaped; returns the ones left. Reaping shows
/// only in the process table, so this polls it (the caller asserts on what is left).
fn wait_reaped(pids: &[u32]) -> Vec<(u32, char)> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = still_our_children(pids);
        if left.is_empty() || std::time::Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
