//! Graceful shutdown on SIGINT/SIGTERM (asyncio's `loop.add_signal_handler(SIGTERM, ...)`
//! pattern): a worker keeps doing units of work; the first signal asks it to stop after the
//! unit in progress, a second one exits at once.
//!
//! Run: `cargo run -p examples --example signal_shutdown`, then press Ctrl-C (or
//! `kill -TERM <pid>`). `--self-test` sends itself SIGTERM after 300 ms and shows the graceful
//! path: the worker finishes its current unit, reports, and the program exits 0.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tulip::futures_lite::future;
use tulip::process::signal::{SignalKind, raise, signal};
use tulip::{sleep, spawn};

fn main() -> std::io::Result<()> {
    let self_test = std::env::args().any(|a| a == "--self-test");
    tulip::run(async move {
        // Listen before anything can send us a signal: from here on, SIGINT and SIGTERM no
        // longer kill the process, they arrive on these streams.
        let mut sigint = signal(SignalKind::INTERRUPT)?;
        let mut sigterm = signal(SignalKind::TERMINATE)?;
        println!(
            "pid {}: working; Ctrl-C or SIGTERM to stop",
            std::process::id()
        );

        let stop = Arc::new(AtomicBool::new(false));
        let worker = spawn({
            let stop = stop.clone();
            async move {
                let mut units = 0;
                while !stop.load(Ordering::Relaxed) {
                    sleep(Duration::from_millis(100)).await; // one unit of work
                    units += 1;
                    println!("worker: finished unit {units}");
                }
                units
            }
        });
        if self_test {
            spawn(async {
                sleep(Duration::from_millis(300)).await;
                println!("self-test: sending SIGTERM to myself");
                raise(SignalKind::TERMINATE).expect("raise SIGTERM");
            })
            .detach();
        }

        let first = future::or(sigint.recv(), sigterm.recv()).await;
        println!(
            "got {}: shutting down gracefully",
            first.expect("signal stream")
        );
        stop.store(true, Ordering::Relaxed);

        // Wait for the worker, unless a second signal says not to.
        let second = async {
            let sig = future::or(sigint.recv(), sigterm.recv()).await;
            println!("got {} again: exiting now", sig.expect("signal stream"));
            std::process::exit(130);
        };
        let units = future::or(async { worker.await.expect("worker panicked") }, second).await;
        println!("clean exit after {units} units of work");
        Ok(())
    })
}
