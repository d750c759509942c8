//! Done callbacks (asyncio's `Task.add_done_callback`).

use std::sync::{Arc, Mutex};

use crate::gate::Gate;
use tulip_executor::task::TaskOutcome;
use tulip_executor::{runtime, spawn};

type Log = Arc<Mutex<Vec<(usize, TaskOutcome)>>>;

fn recorder(log: &Log, tag: usize) -> impl FnOnce(TaskOutcome) + Send + 'static {
    let log = log.clone();
    move |o| log.lock().unwrap().push((tag, o))
}

#[test]
fn each_outcome_reaches_the_callbacks_in_order() {
    let log: Log = Arc::default();
    let rt = runtime::Builder::new().worker_threads(2).build().unwrap();
    rt.block_on(async {
        // Each task waits on a gate opened only after its callbacks are in place.
        let gate = Gate::new();
        let g = gate.clone();
        let ok = spawn(async move { g.wait().await });
        ok.add_done_callback(recorder(&log, 1));
        ok.add_done_callback(recorder(&log, 2));
        gate.open();
        ok.await.unwrap();

        let gate = Gate::new();
        let g = gate.clone();
        let boom = spawn(async move {
            g.wait().await;
            panic!("boom");
        });
        boom.add_done_callback(recorder(&log, 3));
        gate.open();
        assert!(boom.await.unwrap_err().is_panic());

        let slow = spawn(std::future::pending::<()>());
        slow.add_done_callback(recorder(&log, 4));
        assert_eq!(slow.cancel().await, None);
    });
    assert_eq!(
        *log.lock().unwrap(),
        [
            (1, TaskOutcome::Completed),
            (2, TaskOutcome::Completed),
            (3, TaskOutcome::Panicked),
            (4, TaskOutcome::Cancelled),
        ]
    );
}

#[test]
fn a_callback_added_after_the_end_runs_at_once() {
    let log: Log = Arc::default();
    tulip_executor::run(async {
        let t = spawn(async { 7 });
        while !t.is_finished() {
            tulip_executor::yield_now().await;
        }
        t.add_done_callback(recorder(&log, 1));
        // Already run, on this thread, before add_done_callback returned.
        assert_eq!(*log.lock().unwrap(), [(1, TaskOutcome::Completed)]);
        assert_eq!(t.await.unwrap(), 7);
    });
}

#[test]
fn shutdown_cancels_and_a_panicking_callback_spares_the_others() {
    let log: Log = Arc::default();
    let rt = runtime::Builder::new().worker_threads(2).build().unwrap();
    let t = rt.spawn(std::future::pending::<()>());
    t.add_done_callback(|_| panic!("callback panics"));
    t.add_done_callback(recorder(&log, 1));
    t.detach();
    drop(rt);
    assert_eq!(*log.lock().unwrap(), [(1, TaskOutcome::Cancelled)]);
}

#[test]
fn racing_adds_and_completions_run_every_callback_once() {
    // Callbacks added from another thread while tasks finish: none lost, none doubled.
    let rt = runtime::Builder::new().worker_threads(2).build().unwrap();
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let n = 2000;
    let completed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut handles = Vec::new();
    for i in 0..n {
        let t = rt.spawn(async move { i });
        let (c, done) = (count.clone(), completed.clone());
        t.add_done_callback(move |o| {
            c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if o == TaskOutcome::Completed {
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        handles.push(t);
    }
    rt.block_on(async {
        for t in handles {
            t.await.unwrap();
        }
    });
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), n);
    assert_eq!(completed.load(std::sync::atomic::Ordering::SeqCst), n);
}
