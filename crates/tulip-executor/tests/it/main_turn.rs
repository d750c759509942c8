//! The main future of a `block_on` takes its turn like a task (asyncio's main coroutine is
//! one): it runs after the tasks that were ready before it was woken, and before those that
//! became ready after.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

use tulip_executor::{LocalExecutor, Runtime, spawn_local, yield_now};

type Log = Rc<RefCell<Vec<&'static str>>>;

fn logger(log: &Log, what: &'static str) -> impl Future<Output = ()> + 'static {
    let log = log.clone();
    async move { log.borrow_mut().push(what) }
}

/// A one-shot signal on one thread: `wait` until `set`.
#[derive(Clone, Default)]
struct Signal(Rc<(Cell<bool>, RefCell<Option<Waker>>)>);

impl Signal {
    fn set(&self) {
        self.0.0.set(true);
        if let Some(w) = self.0.1.borrow_mut().take() {
            w.wake();
        }
    }

    async fn wait(&self) {
        poll_fn(|cx| {
            if self.0.0.get() {
                Poll::Ready(())
            } else {
                *self.0.1.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

/// `a` wakes the main future, then spawns `c`: `b` was ready before the wake and runs first,
/// `c` became ready after it and runs after.
fn woken_by_a_task(
    block_on: impl FnOnce(std::pin::Pin<Box<dyn Future<Output = ()>>>),
) -> Vec<&'static str> {
    let log = Log::default();
    let l = log.clone();
    block_on(Box::pin(async move {
        let signal = Signal::default();
        let s = signal.clone();
        let la = l.clone();
        let _a = spawn_local(async move {
            la.borrow_mut().push("a");
            s.set();
            spawn_local(logger(&la, "c")).detach();
        });
        let _b = spawn_local(logger(&l, "b"));
        signal.wait().await;
        l.borrow_mut().push("main");
        // Let `c` run before the call returns.
        while l.borrow().len() < 4 {
            yield_now().await;
        }
    }));
    log.take()
}

#[test]
fn main_woken_by_a_task_runs_after_the_tasks_ready_before_the_wake() {
    let ex = LocalExecutor::new();
    assert_eq!(woken_by_a_task(|f| ex.block_on(f)), ["a", "b", "main", "c"]);
    // `Runtime::block_on` runs its main future through the same loop.
    let rt = Runtime::new().unwrap();
    assert_eq!(woken_by_a_task(|f| rt.block_on(f)), ["a", "b", "main", "c"]);
}

#[test]
fn yield_now_in_main_lets_every_ready_task_run_once_first() {
    let ex = LocalExecutor::new();
    let log = Log::default();
    let l = log.clone();
    ex.block_on(async move {
        let _x = spawn_local(logger(&l, "x"));
        let ly = l.clone();
        let _y = spawn_local(async move {
            ly.borrow_mut().push("y1");
            yield_now().await;
            ly.borrow_mut().push("y2");
        });
        yield_now().await;
        l.borrow_mut().push("main");
        yield_now().await;
        l.borrow_mut().push("main again");
    });
    // `y2` became ready (its yield) after the main future's first yield, so it runs after
    // the first "main", and before the second.
    assert_eq!(*log.borrow(), ["x", "y1", "main", "y2", "main again"]);
}

#[test]
fn many_joined_tasks_all_finish_with_the_main_future_in_its_turn() {
    // The case the turn was made for: many spawns joined in order from `block_on`.
    let ex = LocalExecutor::new();
    let n = crate::scaled(10_000, 1_000);
    let handles: Vec<_> = (0..n).map(|i| ex.spawn(async move { i })).collect();
    let sum = ex.block_on(async move {
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, n * (n - 1) / 2);
}
