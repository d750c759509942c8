use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::gate::Gate;
use tulip_executor::{LocalExecutor, Runtime, runtime, spawn, spawn_blocking, spawn_local, task};

#[test]
fn spawn_and_join() {
    let rt = Runtime::new().unwrap();
    let v = rt.block_on(async {
        let ts: Vec<_> = (0..100u32).map(|i| spawn(async move { i })).collect();
        let mut s = 0;
        for t in ts {
            s += t.await.unwrap();
        }
        s
    });
    assert_eq!(v, 4950);
}

#[test]
fn blocking_and_local_inside_block_on() {
    let rt = Runtime::new().unwrap();
    let v = rt.block_on(async {
        let b = spawn_blocking(|| 3).await.unwrap();
        let l = spawn_local(async move { std::rc::Rc::new(4) })
            .await
            .unwrap();
        b + *l
    });
    assert_eq!(v, 7);
}

#[test]
fn local_executor_runs_non_send() {
    let ex = LocalExecutor::new();
    let cell = std::rc::Rc::new(std::cell::Cell::new(0));
    let c = cell.clone();
    let t = ex.spawn(async move { c.set(c.get() + 1) });
    ex.block_on(async {
        t.await.unwrap();
        let c = cell.clone();
        spawn_local(async move { c.set(c.get() + 10) })
            .await
            .unwrap();
    });
    assert_eq!(cell.get(), 11);
}

#[test]
fn names_ids_current_task_and_all_tasks() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let t = task::Builder::new().name("alpha").spawn(async {
            let me = tulip_executor::current_task().expect("inside a task");
            (me.id, me.name)
        });
        let id = t.id();
        assert_eq!(t.name().as_deref(), Some("alpha"));
        let (seen_id, seen_name) = t.await.unwrap();
        assert_eq!(seen_id, id);
        assert_eq!(seen_name.as_deref(), Some("alpha"));
        // block_on's future is a task too, named "main" (asyncio's main coroutine is one).
        let main = tulip_executor::current_task().expect("the main future is a task");
        assert_eq!(main.name.as_deref(), Some("main"));
        assert_ne!(main.id, id);

        let gate = Gate::new();
        let g = gate.clone();
        let parked = task::Builder::new()
            .name("parked")
            .spawn(async move { g.wait().await });
        let listed = tulip_executor::all_tasks();
        assert!(
            listed
                .iter()
                .any(|t| t.id == parked.id() && t.name.as_deref() == Some("parked"))
        );
        gate.open();
        parked.await.unwrap();
        assert!(
            !tulip_executor::all_tasks()
                .iter()
                .any(|t| t.name.as_deref() == Some("parked"))
        );
    });
}

#[test]
fn dropping_a_handle_detaches() {
    let rt = Runtime::new().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    rt.block_on(async move {
        let (gate, finished) = (Gate::new(), Gate::new());
        let (g, f) = (gate.clone(), finished.clone());
        drop(spawn(async move {
            g.wait().await;
            r.fetch_add(1, Ordering::SeqCst);
            f.open();
        }));
        gate.open();
        // A dropped handle that cancelled its task would leave `finished` shut.
        tulip_reactor::timeout(Duration::from_secs(10), finished.wait())
            .await
            .expect("a dropped handle cancelled its task");
        assert_eq!(ran.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn cancel_stops_a_task_and_returns_output_if_done() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let t = spawn(std::future::pending::<u32>());
        assert_eq!(t.cancel().await, None);
        let t = spawn(async { 5u32 });
        while !t.is_finished() {
            futures_lite::future::yield_now().await;
        }
        assert_eq!(t.cancel().await, Some(5));
    });
}

#[test]
fn builder_options_and_hooks() {
    let started = Arc::new(AtomicUsize::new(0));
    let stopped = Arc::new(AtomicUsize::new(0));
    let (s1, s2) = (started.clone(), stopped.clone());
    let rt = runtime::Builder::new()
        .worker_threads(3)
        .thread_name("hooked")
        .thread_stack_size(1 << 20)
        .on_thread_start(move || {
            s1.fetch_add(1, Ordering::SeqCst);
        })
        .on_thread_stop(move || {
            s2.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    let name = rt.block_on(async {
        spawn(async { std::thread::current().name().unwrap().to_string() })
            .await
            .unwrap()
    });
    assert!(name.starts_with("hooked-"), "{name}");
    assert_eq!(rt.handle().num_workers(), 3);
    drop(rt);
    assert_eq!(started.load(Ordering::SeqCst), 3);
    assert_eq!(stopped.load(Ordering::SeqCst), 3);
}

#[test]
fn handle_spawn_from_plain_thread_and_enter() {
    let rt = Runtime::new().unwrap();
    let h = rt.handle().clone();
    let out = std::thread::spawn(move || {
        let t = h.spawn(async { 9 });
        let _g = h.enter();
        let u = spawn(async { 1 });
        futures_lite::future::block_on(async { t.await.unwrap() + u.await.unwrap() })
    })
    .join()
    .unwrap();
    assert_eq!(out, 10);
    let m = rt.handle().metrics();
    assert!(m.workers.iter().map(|w| w.polls).sum::<u64>() >= 2);
}

#[test]
fn spawn_outside_a_runtime_panics_clearly() {
    let err = std::panic::catch_unwind(|| drop(spawn(async {}))).unwrap_err();
    let msg = err
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| err.downcast_ref::<String>().cloned());
    assert!(msg.unwrap().contains("outside of a tulip runtime"));
}

#[test]
fn nested_block_on_panics_clearly() {
    let rt = Runtime::new().unwrap();
    let rt2 = Runtime::new().unwrap();
    let res = rt.block_on(async {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt2.block_on(async {})))
    });
    let err = res.unwrap_err();
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()));
    assert!(msg.unwrap().contains("already running"));
    // And inside a task on a worker.
    let res = rt.block_on(async {
        spawn(async {
            let ex = LocalExecutor::new();
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ex.block_on(async {})))
                .is_err()
        })
        .await
        .unwrap()
    });
    assert!(res);
}

#[test]
fn run_is_asyncio_run() {
    assert_eq!(
        tulip_executor::run(async { spawn(async { 2 }).await.unwrap() * 21 }),
        42
    );
}

#[test]
fn timers_work_on_workers() {
    let rt = Runtime::new().unwrap();
    let t0 = std::time::Instant::now();
    rt.block_on(async {
        let ts: Vec<_> = (0..10)
            // The timers are the thing under test: they must fire on worker threads.
            .map(|_| spawn(tulip_reactor::sleep(Duration::from_millis(20))))
            .collect();
        for t in ts {
            t.await.unwrap();
        }
    });
    let el = t0.elapsed();
    assert!(
        el >= Duration::from_millis(20) && el < Duration::from_secs(2),
        "{el:?}"
    );
}
