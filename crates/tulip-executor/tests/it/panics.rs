use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tulip_executor::{LocalExecutor, Runtime, runtime, spawn, spawn_local};

fn quiet<R>(f: impl FnOnce() -> R) -> R {
    // Keep the test output readable: the panics below are expected.
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = f();
    std::panic::set_hook(prev);
    r
}

#[test]
fn panic_is_a_join_error_and_the_worker_survives() {
    let rt = runtime::Builder::new().worker_threads(1).build().unwrap();
    quiet(|| {
        rt.block_on(async {
            let err = spawn(async { panic!("boom") }).await.unwrap_err();
            assert!(err.is_panic());
            assert!(!err.is_cancelled());
            assert_eq!(*err.into_panic().downcast::<&str>().unwrap(), "boom");
            // The single worker is still alive and running tasks.
            let others: Vec<_> = (0..100).map(|i| spawn(async move { i })).collect();
            let mut sum = 0;
            for t in others {
                sum += t.await.unwrap();
            }
            assert_eq!(sum, 4950);
        })
    });
}

#[test]
fn panic_with_string_payload_displays() {
    let rt = Runtime::new().unwrap();
    let err =
        quiet(|| rt.block_on(async { spawn(async { panic!("code {}", 7) }).await.unwrap_err() }));
    assert!(err.to_string().contains("code 7"), "{err}");
    assert!(format!("{err:?}").contains("Panic"));
}

#[test]
fn other_tasks_continue_while_one_panics() {
    let rt = runtime::Builder::new().worker_threads(2).build().unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    quiet(|| {
        rt.block_on(async {
            let mut ts = Vec::new();
            for i in 0..200 {
                let d = done.clone();
                ts.push(spawn(async move {
                    futures_lite::future::yield_now().await;
                    if i % 10 == 0 {
                        panic!("task {i}");
                    }
                    d.fetch_add(1, Ordering::SeqCst);
                }));
            }
            let mut panics = 0;
            for t in ts {
                if t.await.is_err() {
                    panics += 1;
                }
            }
            assert_eq!(panics, 20);
        })
    });
    assert_eq!(done.load(Ordering::SeqCst), 180);
}

#[test]
fn local_task_panic_is_caught() {
    let ex = LocalExecutor::new();
    let err =
        quiet(|| ex.block_on(async { spawn_local(async { panic!("local") }).await.unwrap_err() }));
    assert!(err.is_panic());
}

#[test]
fn detached_panic_does_not_kill_anything() {
    // The unobserved panic is reported through `log` (asyncio's "Task exception was never
    // retrieved"); the runtime carries on.
    crate::logs::install();
    let rt = runtime::Builder::new().worker_threads(1).build().unwrap();
    quiet(|| {
        rt.block_on(async {
            spawn(async { panic!("nobody listens") }).detach();
            assert_eq!(spawn(async { 1 }).await.unwrap(), 1);
        })
    });
    let (level, line) = crate::logs::wait_for_record("nobody listens");
    assert_eq!(level, log::Level::Error);
    assert!(line.contains("panicked and nobody awaited it"), "{line}");
}
