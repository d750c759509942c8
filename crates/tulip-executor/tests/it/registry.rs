//! The multi-thread registry's worker tables (`slots.rs`): tasks spawned on a worker are
//! listed, cancelled through their handles and their group, counted, and cancelled at
//! shutdown like any other, also when they end on another worker than the one that spawned
//! them, and while other threads list them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tulip_executor::{Task, TaskGroup, runtime, spawn};

use crate::scaled;
use crate::shutdown::Guard;

/// Waits (yielding the thread, for at most 30 s) until `cond` holds: for what the test can
/// only observe from outside (a task's entry leaves just after its future's destructors ran).
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "not within 30 s: {what}");
        std::thread::yield_now();
    }
}

/// More tasks than one chunk of a table (1 024 slots) wait on a worker: the handle's thread
/// lists and cancels some, a group cancels others, shutdown cancels the rest; each future is
/// dropped once.
#[test]
fn worker_spawned_tasks_are_listed_cancelled_and_dropped_at_shutdown() {
    const N: usize = 3000;
    let drops = Arc::new(AtomicUsize::new(0));
    let rt = runtime::Builder::new().worker_threads(2).build().unwrap();
    let (tx, rx) = mpsc::channel();
    let d = drops.clone();
    // The spawner runs on a worker, so every task it spawns goes to that worker's table.
    let spawner = rt.spawn(async move {
        let group: TaskGroup<()> = TaskGroup::new();
        let mut handles = Vec::new();
        for i in 0..N {
            let g = Guard(d.clone());
            let fut = async move {
                let _g = g;
                std::future::pending::<()>().await;
            };
            if i % 3 == 0 {
                // Left running in the group (a dropped `GroupTask` does not cancel).
                drop(group.spawn(async move {
                    fut.await;
                    Ok(())
                }));
            } else {
                handles.push(spawn(fut));
            }
        }
        tx.send(handles).unwrap();
        group
    });
    let handles: Vec<Task<()>> = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    let group = rt.block_on(spawner).unwrap();
    let listed = rt.handle().all_tasks();
    assert_eq!(listed.len(), N, "every waiting task is listed");
    assert_eq!(rt.handle().metrics().live_tasks, N);
    for h in &handles {
        assert!(listed.iter().any(|t| t.id == h.id()));
    }

    // Half the handles cancel from this thread (not a worker: the foreign path).
    let (cancel, keep): (Vec<_>, Vec<_>) = handles
        .into_iter()
        .enumerate()
        .partition(|(i, _)| i % 2 == 0);
    for (_, h) in &cancel {
        assert!(h.cancel_with("test"));
    }
    for (_, h) in cancel {
        let err = rt.block_on(h).unwrap_err();
        assert!(err.is_cancelled());
    }
    // The group's third, from a worker.
    rt.block_on(async move { spawn(async move { group.cancel() }).await.unwrap() });
    let group_n = N.div_ceil(3);
    let left = N - group_n - (N - group_n).div_ceil(2);
    eventually("the cancelled tasks end", || {
        rt.handle().metrics().live_tasks == left
    });
    assert_eq!(drops.load(Ordering::SeqCst), N - left);
    assert_eq!(rt.handle().all_tasks().len(), left);

    drop(rt);
    assert_eq!(drops.load(Ordering::SeqCst), N, "shutdown dropped the rest");
    for (_, h) in keep {
        let err = futures_lite::future::block_on(h).unwrap_err();
        assert!(err.is_cancelled());
    }
}

/// Two workers spawn tasks that mostly end on the other one (each task is a hop that spawns
/// the next and yields first, so that the sibling steals it), while the thread that built the
/// runtime keeps listing and counting: every task ends, every entry leaves, and the tables
/// reuse their slots.
#[test]
fn tasks_ending_on_siblings_while_listed_leave_no_entry() {
    let chains = 64;
    let hops = scaled(20_000, 2_000);
    let rt = runtime::Builder::new().worker_threads(2).build().unwrap();
    let (done, ended) = mpsc::channel::<()>();
    let stop = Arc::new(AtomicBool::new(false));
    fn hop(left: usize, done: mpsc::Sender<()>) {
        if left == 0 {
            done.send(()).unwrap();
            return;
        }
        drop(spawn(async move {
            futures_lite::future::yield_now().await;
            hop(left - 1, done);
        }));
    }
    let d = done.clone();
    rt.block_on(async move {
        spawn(async move {
            for _ in 0..chains {
                hop(hops / chains, d.clone());
            }
        })
        .await
        .unwrap();
    });
    let handle = rt.handle().clone();
    let s = stop.clone();
    let lister = std::thread::spawn(move || {
        let mut looks = 0u64;
        while !s.load(Ordering::SeqCst) {
            looks += handle.all_tasks().len() as u64 + handle.metrics().live_tasks as u64;
            std::thread::yield_now();
        }
        looks
    });
    for _ in 0..chains {
        ended
            .recv_timeout(Duration::from_secs(30))
            .expect("every chain ends within 30 s");
    }
    stop.store(true, Ordering::SeqCst);
    lister.join().unwrap();
    // The last hop of each chain is still leaving its poll when it counts itself.
    eventually("every entry leaves", || {
        rt.handle().metrics().live_tasks == 0
    });
    assert!(rt.handle().all_tasks().is_empty());
    let m = rt.handle().metrics();
    assert!(
        m.workers.iter().map(|w| w.steals).sum::<u64>() > 0,
        "some hops ran on the other worker: {m:?}"
    );
}
