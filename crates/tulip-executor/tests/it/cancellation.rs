//! asyncio 3.12 parity for cancellation and task identity: `wait_for` / `timeout` cancel a task
//! they give up on (and `shield` keeps it), `Task::cancel_with` messages, `Task::set_name`,
//! the main future as a task, and eager tasks.
//!
//! Every wait here is on an [`Event`] or a task's outcome, never on a sleep; the short
//! time-outs only ever expire (nothing they guard can finish before the test releases it).

use std::future::Future;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

use futures_lite::StreamExt;
use futures_lite::future::poll_once;
use tulip_executor::context::ContextVar;
use tulip_executor::task::{Builder, TaskOutcome};
use tulip_executor::{
    LocalExecutor, ReturnWhen, Runtime, Task, TaskGroup, all_tasks, as_completed, current_task,
    gather, shield, spawn, spawn_eager, wait, wait_for, yield_now,
};
use tulip_reactor::timeout;

/// A time-out that always expires first: what it guards waits for an event set later.
const SHORT: Duration = Duration::from_millis(1);

/// A one-shot event that any thread sets and any number of futures await.
#[derive(Clone, Default)]
struct Event(Arc<Mutex<(bool, Vec<Waker>)>>);

impl Event {
    fn set(&self) {
        let wakers = {
            let mut g = self.0.lock().unwrap();
            g.0 = true;
            std::mem::take(&mut g.1)
        };
        for w in wakers {
            w.wake();
        }
    }

    fn is_set(&self) -> bool {
        self.0.lock().unwrap().0
    }

    async fn wait(&self) {
        std::future::poll_fn(|cx| {
            let mut g = self.0.lock().unwrap();
            if g.0 {
                Poll::Ready(())
            } else {
                g.1.push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

/// Awaits `fut`, failing the test (instead of hanging it) if that takes unreasonably long.
async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match wait_for(fut, Duration::from_secs(20)).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not happen within 20 s"),
    }
}

/// Sets its event when dropped: the task's destructors ran.
struct DropGuard(Event);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.set();
    }
}

/// A task that holds a guard (setting `dropped`) and finishes only once `release` is set.
fn held(dropped: &Event, release: &Event) -> Task<&'static str> {
    let (guard, release) = (DropGuard(dropped.clone()), release.clone());
    spawn(async move {
        let _guard = guard;
        release.wait().await;
        "finished"
    })
}

/// How a task ended, once it has.
#[derive(Clone, Default)]
struct Outcome {
    value: Arc<Mutex<Option<TaskOutcome>>>,
    ended: Event,
}

impl Outcome {
    fn of<T>(task: &Task<T>) -> Outcome {
        let o = Outcome::default();
        let c = o.clone();
        task.add_done_callback(move |outcome| {
            *c.value.lock().unwrap() = Some(outcome);
            c.ended.set();
        });
        o
    }

    async fn get(&self) -> TaskOutcome {
        within("the task's end", self.ended.wait()).await;
        self.value.lock().unwrap().expect("set before the event")
    }
}

fn rt() -> Runtime {
    tulip_executor::runtime::Builder::new()
        .worker_threads(2)
        .build()
        .unwrap()
}

/// Gives `task` to `give_up`, which must abandon it, and checks that the task was cancelled:
/// its destructors ran and its done callbacks saw `Cancelled`.
async fn assert_cancelled_by<R: Future>(give_up: impl FnOnce(Task<&'static str>) -> R) {
    let (dropped, release) = (Event::default(), Event::default());
    let task = held(&dropped, &release);
    let outcome = Outcome::of(&task);
    give_up(task).await;
    within("the task's cancellation", dropped.wait()).await;
    assert_eq!(outcome.get().await, TaskOutcome::Cancelled);
    release.set();
}

/// As [`assert_cancelled_by`], but the task must run on and finish once released.
async fn assert_kept_by<R: Future>(give_up: impl FnOnce(Task<&'static str>) -> R) {
    let (dropped, release) = (Event::default(), Event::default());
    let task = held(&dropped, &release);
    let outcome = Outcome::of(&task);
    give_up(task).await;
    assert!(!dropped.is_set(), "the task was stopped");
    release.set();
    assert_eq!(outcome.get().await, TaskOutcome::Completed);
}

#[test]
fn wait_for_and_timeout_cancel_a_task_they_give_up_on() {
    rt().block_on(async {
        assert_cancelled_by(|t| async move { assert!(wait_for(t, SHORT).await.is_err()) }).await;
        // The reactor's `timeout` knows nothing of tasks: the handle's drop does the work.
        assert_cancelled_by(|t| async move { assert!(timeout(SHORT, t).await.is_err()) }).await;
        // gather is cancelled with its awaiter, and cancels what it awaits (asyncio's gather).
        assert_cancelled_by(
            |t| async move { assert!(wait_for(gather([t]), SHORT).await.is_err()) },
        )
        .await;
        // Any handle dropped while awaited: here after one `Pending` poll.
        assert_cancelled_by(|mut t| async move {
            assert!(poll_once(&mut t).await.is_none());
            drop(t);
        })
        .await;
        // Cancelling a task cancels the task it awaits (asyncio's `_fut_waiter.cancel()`).
        assert_cancelled_by(|t| async move {
            let started = Event::default();
            let s = started.clone();
            let outer = spawn(async move {
                s.set();
                t.await
            });
            started.wait().await;
            assert!(outer.cancel().await.is_none());
        })
        .await;
    });
}

#[test]
fn wait_for_drops_a_plain_future_at_once() {
    rt().block_on(async {
        let dropped = Event::default();
        let guard = DropGuard(dropped.clone());
        let fut = async move {
            let _guard = guard;
            std::future::pending::<()>().await
        };
        assert!(wait_for(fut, SHORT).await.is_err());
        assert!(dropped.is_set(), "the future outlived its time-out");
    });
}

#[test]
fn shield_detach_wait_and_as_completed_keep_the_task() {
    rt().block_on(async {
        // asyncio: `wait_for(shield(task))` times out, the task runs on.
        assert_kept_by(|t| async move { assert!(wait_for(shield(t), SHORT).await.is_err()) }).await;
        assert_kept_by(|t| async move { assert!(timeout(SHORT, shield(t)).await.is_err()) }).await;
        // A handle taken back out of a shield that was awaited still detaches when dropped.
        assert_kept_by(|t| async move {
            let mut shielded = shield(t);
            assert!(wait_for(&mut shielded, SHORT).await.is_err());
            drop(shielded.into_inner());
        })
        .await;
        // Never awaited: a drop detaches.
        assert_kept_by(|t| async move { drop(t) }).await;
        // Awaited, then explicitly detached.
        assert_kept_by(|mut t| async move {
            assert!(poll_once(&mut t).await.is_none());
            t.detach();
        })
        .await;
        // asyncio's wait never cancels: not when it is abandoned...
        assert_kept_by(|t| async move {
            let w = wait(vec![t], ReturnWhen::AllCompleted, None);
            assert!(wait_for(w, SHORT).await.is_err());
        })
        .await;
        // ...nor the pending handles it hands back, when they are dropped.
        assert_kept_by(|t| async move {
            let quick = spawn(async { "quick" });
            let (done, pending) = wait(vec![quick, t], ReturnWhen::FirstCompleted, None).await;
            assert_eq!(done.len(), 1);
            assert_eq!(pending.len(), 1);
            drop(pending);
        })
        .await;
        // as_completed, abandoned half way, leaves its tasks running too.
        assert_kept_by(|t| async move {
            let mut stream = as_completed([t]);
            assert!(wait_for(stream.next(), SHORT).await.is_err());
            drop(stream);
        })
        .await;
    });
}

#[test]
fn a_borrowed_handle_stops_only_the_waiting_then_cancel_with_reaches_the_join_error() {
    rt().block_on(async {
        let (dropped, release) = (Event::default(), Event::default());
        let mut task = held(&dropped, &release);
        assert!(wait_for(&mut task, SHORT).await.is_err());
        assert!(!task.is_finished() && !dropped.is_set());

        assert!(task.cancel_with("gave up after 1 ms"));
        let err = task.await.unwrap_err();
        // The future was dropped (its guard ran) before the handle saw the cancellation.
        assert!(dropped.is_set());
        assert!(err.is_cancelled() && !err.is_panic());
        assert_eq!(err.cancel_message(), Some("gave up after 1 ms"));
        assert!(
            err.to_string()
                .ends_with("was cancelled: gave up after 1 ms"),
            "{err}"
        );
        assert!(
            format!("{err:?}").contains("\"gave up after 1 ms\""),
            "{err:?}"
        );
        release.set();
    });
}

#[test]
fn cancel_with_before_the_first_poll_on_a_finished_task_and_twice() {
    // Queued on a LocalExecutor that has not run yet: the future is never polled.
    let ex = LocalExecutor::new();
    let polled = Rc::new(std::cell::Cell::new(false));
    let dropped = Event::default();
    let (p, guard) = (polled.clone(), DropGuard(dropped.clone()));
    let t = ex.spawn(async move {
        let _guard = guard;
        p.set(true);
    });
    assert!(t.cancel_with("first"));
    assert!(t.cancel_with("second"), "still pending: the request stands");
    let err = ex.block_on(t).unwrap_err();
    assert_eq!(
        err.cancel_message(),
        Some("first"),
        "the first message is kept"
    );
    assert!(!polled.get() && dropped.is_set());

    rt().block_on(async {
        let mut done = spawn(async { 5 });
        assert_eq!((&mut done).await.unwrap(), 5);
        assert!(
            !done.cancel_with("too late"),
            "a finished task cannot be cancelled"
        );

        // Panics carry no cancellation message.
        let panicked = spawn(async { panic!("boom") }).await.unwrap_err();
        assert_eq!(panicked.cancel_message(), None);
    });

    // A cancellation without a message (here: runtime shutdown) has none.
    let gone = rt();
    let t = gone.spawn(std::future::pending::<()>());
    drop(gone);
    let err = tulip_reactor::block_on(t).unwrap_err();
    assert!(err.is_cancelled());
    assert_eq!(err.cancel_message(), None);
    assert_eq!(err.to_string(), format!("task {} was cancelled", err.id()));
}

#[test]
fn set_name_shows_in_current_task_all_tasks_and_the_handle() {
    rt().block_on(async {
        let go = Event::default();
        let g = go.clone();
        let t = Builder::new().name("before").spawn(async move {
            g.wait().await;
            current_task().unwrap().name
        });
        t.set_name("after");
        assert_eq!(t.name().as_deref(), Some("after"));
        let listed = all_tasks();
        let me = listed.iter().find(|i| i.id == t.id()).expect("listed");
        assert_eq!(me.name.as_deref(), Some("after"));
        go.set();
        assert_eq!(t.await.unwrap().as_deref(), Some("after"));
    });
}

#[test]
fn the_main_future_is_a_task_named_main() {
    let rt = rt();
    let (main, child) = rt.block_on(async {
        let main = current_task().expect("block_on's future is a task");
        assert!(all_tasks().contains(&main), "all_tasks lists the main task");
        let child = spawn(async { current_task().unwrap() }).await.unwrap();
        // Still the main task after awaiting.
        assert_eq!(current_task().as_ref(), Some(&main));
        (main, child)
    });
    assert_eq!(main.name.as_deref(), Some("main"));
    assert_ne!(child.id, main.id);
    assert!(current_task().is_none(), "outside any block_on");

    // Each run has its own main task, with a fresh id.
    let again = tulip_executor::run(async { current_task().unwrap() });
    assert_eq!(again.name.as_deref(), Some("main"));
    assert!(again.id > main.id);

    // LocalExecutor: the main task is in the executor's registry only while block_on runs.
    let ex = LocalExecutor::new();
    let (main, local) = ex.block_on(async {
        let main = current_task().unwrap();
        assert!(ex.all_tasks().contains(&main));
        let local = tulip_executor::spawn_local(async { current_task().unwrap() })
            .await
            .unwrap();
        (main, local)
    });
    assert_eq!(main.name.as_deref(), Some("main"));
    assert_ne!(local.id, main.id);
    assert!(ex.all_tasks().is_empty());
}

#[test]
fn an_eager_task_that_completes_at_once_is_never_queued() {
    let rt = rt();
    let polls =
        |rt: &Runtime| -> u64 { rt.handle().metrics().workers.iter().map(|w| w.polls).sum() };
    rt.block_on(async {
        let before = polls(&rt);
        let t = Builder::new()
            .name("eager")
            .eager(true)
            .spawn(async { current_task().unwrap() });
        assert!(t.is_finished(), "done during the spawn call");
        let seen = t.await.unwrap();
        assert_eq!(
            seen.name.as_deref(),
            Some("eager"),
            "the first poll runs as the new task"
        );
        assert_eq!(polls(&rt), before, "no worker polled it");
        // The caller is itself again after the spawn.
        assert_eq!(current_task().unwrap().name.as_deref(), Some("main"));
    });
}

#[test]
fn an_eager_task_that_waits_runs_on_after_its_first_poll() {
    rt().block_on(async {
        let (started, go) = (Event::default(), Event::default());
        let (s, g) = (started.clone(), go.clone());
        let t = spawn_eager(async move {
            s.set();
            g.wait().await;
            7
        });
        assert!(started.is_set() && !t.is_finished());
        go.set();
        assert_eq!(t.await.unwrap(), 7);
    });
}

#[test]
fn an_eager_spawn_inside_a_task_nests_and_restores_the_caller() {
    static VAR: ContextVar<u32> = ContextVar::new("eager-test");
    rt().block_on(async {
        let outer = spawn(async {
            let me = current_task().unwrap().id;
            let _token = VAR.set(1);
            let child = spawn_eager(async {
                let inherited = VAR.get();
                let _ = VAR.set(2); // the child's own copy
                // An eager spawn inside an eager first poll nests.
                let grandchild = spawn_eager(async { current_task().unwrap().id });
                (
                    inherited,
                    current_task().unwrap().id,
                    grandchild.await.unwrap(),
                )
            });
            assert!(child.is_finished());
            // The caller's task and context are back.
            assert_eq!(current_task().unwrap().id, me);
            assert_eq!(VAR.get(), Some(1));
            let (inherited, child_id, grandchild_id) = child.await.unwrap();
            assert_eq!(inherited, Some(1));
            assert!(child_id != me && grandchild_id != child_id && grandchild_id != me);
            yield_now().await;
        });
        outer.await.unwrap();
    });
}

#[test]
fn a_panic_in_an_eager_first_poll_goes_to_the_handle() {
    rt().block_on(async {
        let t = spawn_eager(async { std::panic::panic_any("eager boom") });
        // The spawner carries on; the panic is the task's.
        assert!(t.is_finished());
        let err = t.await.unwrap_err();
        assert!(err.is_panic());
        assert_eq!(*err.into_panic().downcast::<&str>().unwrap(), "eager boom");
    });
}

#[test]
fn eager_local_and_group_tasks() {
    let ex = LocalExecutor::new();
    ex.block_on(async {
        let rc = Rc::new(3);
        let r = rc.clone();
        let t = Builder::new()
            .eager(true)
            .spawn_local(async move { *r * 2 });
        assert!(t.is_finished());
        assert_eq!(t.await.unwrap(), 6);
    });
    rt().block_on(async {
        let group: TaskGroup<()> = TaskGroup::new();
        let child = group.spawn_with(Builder::new().eager(true), async { Ok(4) });
        assert!(child.is_finished());
        assert_eq!(child.await, Some(4));
        group.join().await.unwrap();
    });
}
