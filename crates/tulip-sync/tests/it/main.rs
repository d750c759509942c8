//! Integration tests: the primitives under real executors and threads.
//!
//! Scenarios run under tokio's multi-thread runtime, tulip's runtime, and several OS threads each
//! driving `futures_lite::future::block_on`, so that nothing depends on one executor. Sizes
//! shrink in debug builds to keep the suite fast.
#![cfg(not(loom))]

mod cancel;
mod channels;
mod locks;
mod queues;
mod signals;
mod tulip_rt;

use std::future::Future;
use std::time::Duration;

/// Iterations per stress loop: smaller in debug builds.
pub(crate) fn n(release: usize) -> usize {
    if cfg!(debug_assertions) {
        release / 10
    } else {
        release
    }
}

/// Runs `f` on tokio's multi-thread runtime with a deadline, so a lost wake-up fails the test
/// instead of hanging it.
pub(crate) fn on_tokio<F: Future<Output = ()> + Send + 'static>(f: F) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), f)
            .await
            .expect("timed out: lost wake-up?");
    });
}

/// Runs each future on its own OS thread with `futures_lite::future::block_on`, with a deadline.
pub(crate) fn on_threads(futs: Vec<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>>) {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let handles: Vec<_> = futs
        .into_iter()
        .map(|f| {
            let done = done_tx.clone();
            std::thread::spawn(move || {
                futures_lite::future::block_on(f);
                let _ = done.send(());
            })
        })
        .collect();
    for _ in 0..handles.len() {
        done_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("timed out: lost wake-up?");
    }
    for h in handles {
        h.join().unwrap();
    }
}
