//! A `LocalExecutor`'s tasks reached from other threads: a handle cancelled there, a group
//! cancelled there. The executor's thread keeps its task registry without a lock, so these
//! arrive as requests it serves between tasks; each test checks that the request is neither
//! lost nor late (the task's next poll sees the cancellation).
//!
//! Every cross-thread step is joined or awaited; nothing waits on a sleep.

use std::cell::Cell;
use std::future::{pending, poll_fn};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

use tulip_executor::{LocalExecutor, Task, TaskGroup, spawn_local, yield_now};

/// A one-shot value that any thread sends and one future receives.
#[derive(Clone, Default)]
struct Slot(Arc<Mutex<(Option<u32>, Option<Waker>)>>);

impl Slot {
    fn send(&self, v: u32) {
        let w = {
            let mut g = self.0.lock().unwrap();
            g.0 = Some(v);
            g.1.take()
        };
        if let Some(w) = w {
            w.wake();
        }
    }

    async fn recv(&self) -> u32 {
        poll_fn(|cx| {
            let mut g = self.0.lock().unwrap();
            match g.0 {
                Some(v) => Poll::Ready(v),
                None => {
                    g.1 = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }
}

#[test]
fn a_handle_cancelled_on_another_thread_stops_a_sleeping_local_task() {
    let ex = LocalExecutor::new();
    ex.block_on(async {
        let dropped = Rc::new(Cell::new(false));
        let d = DropFlag(dropped.clone());
        let t: Task<()> = spawn_local(async move {
            let _d = d;
            pending::<()>().await
        });
        // Let it run and sleep: only the cancellation's wake can poll it again.
        yield_now().await;
        let t = std::thread::spawn(move || {
            assert!(t.cancel_with("from another thread"));
            t
        })
        .join()
        .unwrap();
        let err = t.await.unwrap_err();
        assert!(err.is_cancelled());
        assert_eq!(err.cancel_message(), Some("from another thread"));
        assert!(
            dropped.get(),
            "the future was dropped on the executor's thread"
        );
    });
    assert!(ex.all_tasks().is_empty());
}

/// Sets its flag when dropped.
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// The other thread cancels the group and then wakes the child with a value. The child's next
/// poll must see the cancellation, not the value: the owner serves the posted cancellation
/// before it polls the child.
#[test]
fn a_group_cancelled_on_another_thread_is_seen_by_the_childs_next_poll() {
    let ex = LocalExecutor::new();
    ex.block_on(async {
        let group = TaskGroup::<()>::new();
        let slot = Slot::default();
        let got = Rc::new(Cell::new(None));
        let (s, g) = (slot.clone(), got.clone());
        let child = group.spawn_local(async move {
            g.set(Some(s.recv().await));
            Ok(())
        });
        yield_now().await;
        let spawner = group.spawner();
        // The executor's thread is blocked in `join` meanwhile: both the request and the
        // child's wake wait for it.
        std::thread::spawn(move || {
            spawner.cancel();
            slot.send(7);
        })
        .join()
        .unwrap();
        assert_eq!(child.await, None, "the child was cancelled");
        assert_eq!(got.get(), None, "the child never saw the value");
        assert!(group.join().await.is_ok());
    });
}

/// A child failing on a runtime worker cancels the group from that worker: the local
/// children, on the `block_on` thread, stop.
#[test]
fn a_failure_on_a_worker_cancels_the_local_children() {
    let rt = tulip_executor::runtime::Builder::new()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let group = TaskGroup::<&str>::new();
        let locals: Vec<_> = (0..8)
            .map(|_| {
                group.spawn_local(async {
                    pending::<()>().await;
                    Ok(())
                })
            })
            .collect();
        group.spawn(async { Err::<(), _>("boom") }).detach();
        let err = group.join().await.unwrap_err();
        assert_eq!(err.errors().copied().collect::<Vec<_>>(), ["boom"]);
        for t in locals {
            assert_eq!(t.await, None);
        }
    });
}

/// Another thread cancels half of many local tasks while the executor completes the other
/// half: requests for tasks that ended (and whose slots were reused) must neither wake a
/// stranger nor be lost.
#[test]
fn many_foreign_cancels_race_local_completions() {
    let n = crate::scaled(2000, 200);
    let ex = LocalExecutor::new();
    ex.block_on(async {
        let slots: Vec<Slot> = (0..n).map(|_| Slot::default()).collect();
        let mut handles: Vec<Task<u32>> = slots
            .iter()
            .cloned()
            .map(|s| spawn_local(async move { s.recv().await }))
            .collect();
        yield_now().await;
        // Odd tasks go to the other thread, which cancels them; even ones get their value.
        let mut odd = Vec::new();
        for i in (0..n).rev() {
            if i % 2 == 1 {
                odd.push((i, handles.remove(i)));
            }
        }
        let done = Slot::default();
        let d = done.clone();
        let canceller = std::thread::spawn(move || {
            for (_, t) in &odd {
                t.cancel_with("odd");
            }
            d.send(1);
            odd
        });
        // Meanwhile the even tasks complete, and new tasks reuse their registry slots.
        for (i, s) in slots.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
            s.send(i as u32);
        }
        let spare: Vec<Task<u32>> = (0..n / 2)
            .map(|i| spawn_local(async move { i as u32 }))
            .collect();
        // The executor runs the tasks while the other thread's cancellations arrive.
        done.recv().await;
        let odd = canceller.join().unwrap();
        for (k, t) in handles.into_iter().enumerate() {
            assert_eq!(t.await.unwrap(), 2 * k as u32);
        }
        for (_, t) in odd {
            let err = t.await.unwrap_err();
            assert!(err.is_cancelled());
        }
        for (i, t) in spare.into_iter().enumerate() {
            assert_eq!(t.await.unwrap(), i as u32);
        }
    });
    assert!(ex.all_tasks().is_empty());
}
