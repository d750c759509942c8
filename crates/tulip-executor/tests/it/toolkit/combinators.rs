//! `wait`, `shield`, `as_completed`, `gather`, `try_gather` and `yield_now` over spawned tasks.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use tulip_executor::{
    ReturnWhen, Runtime, TaskGroup, as_completed, gather, shield, spawn, try_gather, wait,
    wait_for, yield_now,
};
use tulip_reactor::sleep;

use super::{eventually, flag, ms};
use crate::gate::Gate;

/// A task that returns `value` (or panics, when `fail`) once `gate` opens.
fn gated(gate: &Gate, value: u64, fail: bool) -> tulip_executor::Task<u64> {
    let gate = gate.clone();
    spawn(async move {
        gate.wait().await;
        assert!(!fail, "job failed on purpose");
        value
    })
}

#[test]
fn wait_over_tasks_with_each_return_when() {
    Runtime::new().unwrap().block_on(async {
        let (now, later) = (Gate::new(), Gate::new());
        now.open();

        let (done, pending) = wait(
            [gated(&later, 40, false), gated(&now, 1, false)],
            ReturnWhen::FirstCompleted,
            None,
        )
        .await;
        assert_eq!(
            done.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
            [1]
        );
        assert_eq!(pending.len(), 1);
        // `wait` cancels nothing: the pending task is still alive and finishes once allowed.
        later.open();
        let rest = gather(pending).await;
        assert_eq!(
            rest.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
            [40]
        );

        let never = Gate::new();
        let (done, pending) = wait(
            [
                gated(&never, 500, false),
                gated(&now, 2, true),
                gated(&now, 1, false),
            ],
            ReturnWhen::FirstException,
            None,
        )
        .await;
        // The failure ends the wait; the other finished task may or may not have been seen yet.
        assert!(done.iter().any(|r| r.as_ref().is_err_and(|e| e.is_panic())));
        assert!(done.len() <= 2 && pending.len() == 3 - done.len());
        for t in pending {
            let _ = t.cancel().await;
        }

        let (done, pending) = wait(
            [gated(&now, 3, true), gated(&now, 1, false)],
            ReturnWhen::AllCompleted,
            None,
        )
        .await;
        assert_eq!(done.len(), 2);
        assert_eq!(done.iter().filter(|r| r.is_err()).count(), 1);
        assert!(pending.is_empty());

        let start = Instant::now();
        let (done, pending) = wait(
            [gated(&never, 5, false), gated(&now, 1, false)],
            ReturnWhen::AllCompleted,
            Some(ms(10)),
        )
        .await;
        assert!(start.elapsed() >= ms(10));
        assert_eq!(
            done.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
            [1]
        );
        for t in pending {
            assert_eq!(t.cancel().await, None);
        }
    });
}

#[test]
fn shield_keeps_the_task_running_when_the_wait_is_cancelled() {
    Runtime::new().unwrap().block_on(async {
        let gate = Gate::new();
        let finished = flag();
        let (g, f) = (gate.clone(), finished.clone());
        let task = spawn(async move {
            g.wait().await;
            f.store(true, Ordering::SeqCst);
        });
        assert!(wait_for(shield(task), ms(2)).await.is_err());
        gate.open();
        assert!(eventually(|| finished.load(Ordering::SeqCst)).await);

        // Inside a failing group: the child awaiting the shield is cancelled, the task is not.
        let gate = Gate::new();
        let finished = flag();
        let (g, f) = (gate.clone(), finished.clone());
        let task = spawn(async move {
            g.wait().await;
            f.store(true, Ordering::SeqCst);
        });
        let group = TaskGroup::new();
        group
            .spawn(async move {
                let _ = shield(task).await;
                Ok(())
            })
            .detach();
        group.spawn(async { Err::<(), ()>(()) }).detach();
        assert!(group.join().await.is_err());
        assert!(!finished.load(Ordering::SeqCst));
        gate.open();
        assert!(eventually(|| finished.load(Ordering::SeqCst)).await);

        // A shield awaited to the end gives the task's output.
        assert_eq!(shield(spawn(async { 9 })).await.unwrap(), 9);
    });
}

#[test]
fn combinators_over_spawned_tasks() {
    Runtime::new().unwrap().block_on(async {
        let tasks = (0..20u64).map(|i| {
            spawn(async move {
                // Finishing in reverse order is the point: gather keeps the input order.
                sleep(ms(20 - i)).await;
                i
            })
        });
        let out: Vec<u64> = gather(tasks)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(out, (0..20).collect::<Vec<_>>());

        // Each task may finish only after the previous output came out of the stream, so the
        // order is fixed; a stream that waited for all before yielding would never finish.
        let gates = [Gate::new(), Gate::new(), Gate::new()];
        let mut stream =
            as_completed([(30, 2), (1, 0), (15, 1)].map(|(v, g)| gated(&gates[g], v, false)));
        let mut order = Vec::new();
        for gate in &gates {
            gate.open();
            let next = wait_for(stream.next(), Duration::from_secs(5)).await;
            order.push(
                next.expect("as_completed stalled")
                    .expect("an output")
                    .unwrap(),
            );
        }
        assert_eq!(order, [1, 15, 30]);
        assert!(stream.next().await.is_none());

        let r = try_gather([Ok(1), Err("bad"), Ok(3)].map(|v| spawn(async move { v }))).await;
        assert_eq!(
            r.unwrap().into_iter().collect::<Result<Vec<_>, _>>(),
            Err("bad")
        );
    });
}

#[test]
fn yield_now_lets_the_other_tasks_on_a_worker_run() {
    // One worker: a task spinning on `yield_now` would starve the setter if the yield did not
    // put it behind the other ready tasks. The spinner spawns the setter itself, onto the same
    // worker, so the count does not depend on thread scheduling.
    let rt = tulip_executor::runtime::Builder::new()
        .worker_threads(1)
        .build()
        .unwrap();
    rt.block_on(async {
        let spinner = spawn(async move {
            let go = flag();
            let g = go.clone();
            spawn(async move { g.store(true, Ordering::SeqCst) }).detach();
            let mut spins = 0u64;
            while !go.load(Ordering::SeqCst) {
                yield_now().await;
                spins += 1;
            }
            spins
        });
        let spins = wait_for(spinner, Duration::from_secs(5))
            .await
            .expect("the spinner starved the setter")
            .unwrap();
        assert!(spins < 100, "{spins} spins before the setter ran");
    });
}
