//! Context variables (asyncio's contextvars) across the schedulers.

use tulip_executor::context::{Context, ContextVar, copy_context};
use tulip_executor::{LocalExecutor, runtime, spawn, spawn_blocking, yield_now};

static USER: ContextVar<String> = ContextVar::new("user");
static DEPTH: ContextVar<u32> = ContextVar::with_default("depth", 0);

#[test]
fn runtime_tasks_inherit_a_snapshot_at_spawn() {
    let rt = runtime::Builder::new().worker_threads(2).build().unwrap();
    rt.block_on(async {
        let _ = USER.set("ada".into());
        let child = spawn(async {
            assert_eq!(USER.get().as_deref(), Some("ada"));
            let _ = USER.set("bob".into());
            // The change survives moves between workers: yield many times.
            for _ in 0..200 {
                yield_now().await;
                assert_eq!(USER.get().as_deref(), Some("bob"));
            }
            let grandchild = spawn(async { USER.get() });
            grandchild.await.unwrap()
        });
        // Set after the spawn: the child's snapshot does not see it.
        let _ = USER.set("carl".into());
        assert_eq!(child.await.unwrap().as_deref(), Some("bob"));
        assert_eq!(USER.get().as_deref(), Some("carl"));
    });
}

#[test]
fn siblings_do_not_see_each_other() {
    let rt = runtime::Builder::new().worker_threads(2).build().unwrap();
    let depths = rt.block_on(async {
        let tasks: Vec<_> = (1..=50u32)
            .map(|i| {
                spawn(async move {
                    let _ = DEPTH.set(i);
                    yield_now().await;
                    DEPTH.get().unwrap()
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        // The parent never set it: the default.
        assert_eq!(DEPTH.get(), Some(0));
        out
    });
    assert_eq!(depths, (1..=50).collect::<Vec<_>>());
}

#[test]
fn local_tasks_and_blocking_closures_inherit() {
    let ex = LocalExecutor::new();
    ex.block_on(async {
        let _ = USER.set("local".into());
        let t = tulip_executor::spawn_local(async { USER.get() });
        assert_eq!(t.await.unwrap().as_deref(), Some("local"));
        // Like asyncio.to_thread, a blocking closure runs in a copy of the caller's context.
        let b = spawn_blocking(|| USER.get());
        assert_eq!(b.await.unwrap().as_deref(), Some("local"));
    });
}

#[test]
fn scope_runs_a_future_in_a_given_context() {
    let mut ctx = Context::new();
    ctx.run(|| {
        let _ = USER.set("scoped".into());
    });
    let seen = tulip_executor::run(async move {
        let inner = ctx.scope(async {
            yield_now().await;
            let _ = DEPTH.set(3);
            (USER.get(), copy_context().len())
        });
        let r = inner.await;
        // Outside the scope, neither variable leaked into the task's own context.
        assert_eq!((USER.get(), DEPTH.get()), (None, Some(0)));
        r
    });
    assert_eq!(seen, (Some("scoped".to_string()), 2));
}

#[test]
fn reset_restores_within_a_task() {
    let v = tulip_executor::run(async {
        let token = DEPTH.set(1);
        let inner = DEPTH.set(2);
        DEPTH.reset(inner);
        let mid = DEPTH.get();
        DEPTH.reset(token);
        (mid, DEPTH.get())
    });
    assert_eq!(v, (Some(1), Some(0)));
}

#[test]
fn run_uses_a_copy_of_the_callers_context() {
    let mut outer = Context::new();
    outer.run(|| {
        let _ = DEPTH.set(5);
        let inner = tulip_executor::run(async {
            let seen = DEPTH.get();
            let _ = DEPTH.set(6);
            seen
        });
        assert_eq!(inner, Some(5));
        // What the main future set stayed inside the run, as with asyncio.run.
        assert_eq!(DEPTH.get(), Some(5));
    });
}
