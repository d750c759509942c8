//! The task toolkit on a real runtime: TaskGroup's structured cancellation, `wait` over task
//! handles, `shield`, and the combinators over spawned tasks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use tulip_executor::{
    LocalExecutor, ReturnWhen, Runtime, TaskGroup, as_completed, gather, shield, spawn,
    task::Builder, try_gather, wait, wait_for, yield_now,
};
use tulip_reactor::sleep;

const LONG: Duration = Duration::from_secs(60);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Sets its flag when dropped: how a child observes its own cancellation.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn flag() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

/// Polls `cond` every millisecond for up to two seconds.
async fn eventually(cond: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        if cond() {
            return true;
        }
        sleep(ms(1)).await;
    }
    cond()
}

#[test]
fn group_of_successes_joins_ok_and_hands_out_values() {
    Runtime::new().unwrap().block_on(async {
        let group = TaskGroup::<()>::new();
        let handles: Vec<_> = (0..50u64)
            .map(|i| {
                group.spawn(async move {
                    sleep(ms(i % 5)).await;
                    Ok(i * 2)
                })
            })
            .collect();
        assert!(group.join().await.is_ok());
        let values = gather(handles).await;
        assert_eq!(values, (0..50).map(|i| Some(i * 2)).collect::<Vec<_>>());
    });
}

#[test]
fn empty_group_joins_at_once() {
    Runtime::new().unwrap().block_on(async {
        let group = TaskGroup::<String>::new();
        assert!(group.is_empty());
        assert!(group.join().await.is_ok());
    });
}

#[test]
fn first_error_cancels_siblings_before_join_returns() {
    Runtime::new().unwrap().block_on(async {
        let group = TaskGroup::new();
        let dropped = flag();
        let guard = DropFlag(dropped.clone());
        let sibling = group.spawn(async move {
            let _guard = guard;
            sleep(LONG).await;
            Ok::<_, &str>("never")
        });
        group
            .spawn(async {
                sleep(ms(5)).await;
                Err::<(), _>("boom")
            })
            .detach();
        let start = Instant::now();
        let err = group.join().await.unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(err.failures().len(), 1);
        assert_eq!(err.errors().copied().collect::<Vec<_>>(), ["boom"]);
        // Invariant: join returns only after every child's future was dropped.
        assert!(dropped.load(Ordering::SeqCst));
        assert_eq!(sibling.await, None);
    });
}

#[test]
fn a_panicking_child_is_a_failure_and_cancels_siblings() {
    Runtime::new().unwrap().block_on(async {
        let group = TaskGroup::<()>::new();
        let dropped = flag();
        let guard = DropFlag(dropped.clone());
        group
            .spawn(async move {
                let _guard = guard;
                sleep(LONG).await;
                Ok(())
            })
            .detach();
        group
            .spawn(async {
                yield_now().await;
                panic!("child exploded");
                #[allow(unreachable_code)]
                Ok::<(), ()>(())
            })
            .detach();
        let err = group.join().await.unwrap_err();
        assert!(err.first().is_panic());
        assert_eq!(err.first().panic_message(), Some("child exploded"));
        assert!(dropped.load(Ordering::SeqCst));
    });
}

/// Where the child is parked when the group is cancelled.
#[derive(Debug, Clone, Copy)]
enum AwaitPoint {
    Sleep,
    InsideGather,
    AwaitingATask,
    NestedGroup,
    YieldLoop,
    InsideWaitFor,
}

/// What cancels the group.
#[derive(Debug, Clone, Copy)]
enum Trigger {
    Cancel,
    SiblingError,
    SiblingPanic,
    DropGroup,
    DropJoin,
}

#[test]
fn cancellation_at_every_await_point() {
    use AwaitPoint::*;
    use Trigger::*;
    let rt = Runtime::new().unwrap();
    for point in [
        Sleep,
        InsideGather,
        AwaitingATask,
        NestedGroup,
        YieldLoop,
        InsideWaitFor,
    ] {
        for trigger in [Cancel, SiblingError, SiblingPanic, DropGroup, DropJoin] {
            rt.block_on(cancel_case(point, trigger));
        }
    }
}

async fn cancel_case(point: AwaitPoint, trigger: Trigger) {
    let case = format!("{point:?} / {trigger:?}");
    let group = TaskGroup::<&'static str>::new();
    let parked = Arc::new(AtomicUsize::new(0));
    let child_dropped = flag();
    let grandchild_dropped = flag();
    let after_park = flag();
    {
        let (parked, guard, grand, after) = (
            parked.clone(),
            DropFlag(child_dropped.clone()),
            grandchild_dropped.clone(),
            after_park.clone(),
        );
        group
            .spawn(async move {
                let _guard = guard;
                // A few ordinary await points before the one the cancellation hits.
                yield_now().await;
                sleep(ms(1)).await;
                parked.store(1, Ordering::SeqCst);
                match point {
                    AwaitPoint::Sleep => sleep(LONG).await,
                    AwaitPoint::InsideGather => {
                        gather([sleep(LONG), sleep(LONG)]).await;
                    }
                    AwaitPoint::AwaitingATask => {
                        let _ = spawn(sleep(LONG)).await;
                    }
                    AwaitPoint::NestedGroup => {
                        let inner = TaskGroup::<()>::new();
                        let guard = DropFlag(grand);
                        inner
                            .spawn(async move {
                                let _guard = guard;
                                sleep(LONG).await;
                                Ok(())
                            })
                            .detach();
                        let _ = inner.join().await;
                    }
                    AwaitPoint::YieldLoop => loop {
                        yield_now().await;
                    },
                    AwaitPoint::InsideWaitFor => {
                        let _ = wait_for(sleep(LONG), LONG / 2).await;
                    }
                }
                after.store(true, Ordering::SeqCst);
                Ok(())
            })
            .detach();
    }
    assert!(
        eventually(|| parked.load(Ordering::SeqCst) == 1).await,
        "{case}: child never parked"
    );
    if matches!(point, AwaitPoint::NestedGroup) {
        sleep(ms(2)).await; // let the grandchild start
    }
    let joined_in_scope = match trigger {
        Trigger::Cancel => {
            group.cancel();
            let r = group.join().await;
            assert!(r.is_ok(), "{case}: a plain cancel is not a failure");
            true
        }
        Trigger::SiblingError => {
            group
                .spawn(async { Err::<(), _>("sibling failed") })
                .detach();
            let err = group.join().await.unwrap_err();
            assert_eq!(
                err.errors().copied().collect::<Vec<_>>(),
                ["sibling failed"],
                "{case}"
            );
            true
        }
        Trigger::SiblingPanic => {
            group
                .spawn(async {
                    panic!("sibling panicked");
                    #[allow(unreachable_code)]
                    Ok::<(), _>(())
                })
                .detach();
            let err = group.join().await.unwrap_err();
            assert!(err.first().is_panic(), "{case}");
            true
        }
        Trigger::DropGroup => {
            drop(group);
            false
        }
        Trigger::DropJoin => {
            assert!(wait_for(group.join(), ms(5)).await.is_err(), "{case}");
            false
        }
    };
    if joined_in_scope {
        assert!(
            child_dropped.load(Ordering::SeqCst),
            "{case}: join returned before the drop"
        );
    } else {
        assert!(
            eventually(|| child_dropped.load(Ordering::SeqCst)).await,
            "{case}: dropping the group did not cancel the child"
        );
    }
    assert!(
        !after_park.load(Ordering::SeqCst),
        "{case}: the child ran past its await point"
    );
    if matches!(point, AwaitPoint::NestedGroup) {
        assert!(
            eventually(|| grandchild_dropped.load(Ordering::SeqCst)).await,
            "{case}: the nested group's child outlived its cancelled parent"
        );
    }
}

#[test]
fn cancelling_one_child_leaves_the_others_running() {
    Runtime::new().unwrap().block_on(async {
        let group = TaskGroup::<()>::new();
        let slow = group.spawn(async {
            sleep(LONG).await;
            Ok(1)
        });
        let fast = group.spawn(async {
            sleep(ms(5)).await;
            Ok(2)
        });
        assert_eq!(slow.cancel().await, None);
        assert!(!group.is_cancelled());
        assert!(group.join().await.is_ok());
        assert_eq!(fast.await, Some(2));
    });
}

#[test]
fn children_spawn_siblings_and_join_waits_for_them() {
    Runtime::new().unwrap().block_on(async {
        let group = TaskGroup::<()>::new();
        let spawner = group.spawner();
        let done = Arc::new(AtomicUsize::new(0));
        let d = done.clone();
        group
            .spawn(async move {
                for _ in 0..3 {
                    let d = d.clone();
                    spawner
                        .spawn(async move {
                            sleep(ms(3)).await;
                            d.fetch_add(1, Ordering::SeqCst);
                            Ok(())
                        })
                        .detach();
                }
                Ok(())
            })
            .detach();
        assert!(group.join().await.is_ok());
        assert_eq!(done.load(Ordering::SeqCst), 3);
    });
}

#[test]
fn spawning_into_a_cancelled_group_never_runs_the_child() {
    Runtime::new().unwrap().block_on(async {
        let group = TaskGroup::<()>::new();
        let spawner = group.spawner();
        group.cancel();
        let ran = flag();
        let r = ran.clone();
        let handle = group.spawn(async move {
            r.store(true, Ordering::SeqCst);
            Ok(())
        });
        assert_eq!(handle.await, None);
        assert!(group.join().await.is_ok());
        // After the group is gone, its spawner makes children that end at once too.
        let late = spawner.spawn(async { Ok(5) });
        assert_eq!(late.await, None);
        assert!(!ran.load(Ordering::SeqCst));
    });
}

#[test]
fn named_and_local_children() {
    Runtime::new().unwrap().block_on(async {
        let group = TaskGroup::<()>::new();
        let named = group.spawn_with(Builder::new().name("fetcher"), async { Ok(1) });
        assert_eq!(named.name(), Some("fetcher"));
        assert!(group.join().await.is_ok());
        assert_eq!(named.await, Some(1));
    });
    let ex = LocalExecutor::new();
    ex.block_on(async {
        let group = TaskGroup::<()>::new();
        let rc = std::rc::Rc::new(7);
        let local = group.spawn_local(async move { Ok(*rc) });
        assert!(group.join().await.is_ok());
        assert_eq!(local.await, Some(7));
    });
}

/// A latch the test opens; tasks wait on it instead of on sleeps, so that which task finishes
/// first never depends on how the OS schedules threads on a loaded machine.
#[derive(Clone)]
struct Gate(Arc<AtomicBool>);

impl Gate {
    fn new() -> Gate {
        Gate(flag())
    }

    fn open(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    async fn wait(&self) {
        while !self.0.load(Ordering::SeqCst) {
            sleep(ms(1)).await;
        }
    }
}

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

#[test]
fn cancelling_one_child_returns_after_its_drop_guard_ran() {
    Runtime::new().unwrap().block_on(async {
        let group = TaskGroup::<()>::new();
        let dropped = flag();
        let guard = DropFlag(dropped.clone());
        let child = group.spawn(async move {
            let _guard = guard;
            sleep(LONG).await;
            Ok(())
        });
        sleep(ms(2)).await;
        assert_eq!(group.len(), 1);
        assert_eq!(child.cancel().await, None);
        assert!(dropped.load(Ordering::SeqCst));
        assert!(group.join().await.is_ok());
    });
}

/// A tiny xorshift, so the stress test needs no dependency and replays from its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn group_stress_random_failures_keep_the_invariants() {
    let rt = Runtime::new().unwrap();
    let rounds: u64 = if cfg!(debug_assertions) { 60 } else { 300 };
    for seed in 1..=rounds {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        rt.block_on(async {
            let group = TaskGroup::<u64>::new();
            let children = 1 + rng.below(24) as usize;
            let dropped = Arc::new(AtomicUsize::new(0));
            let mut may_fail = false;
            for i in 0..children {
                let (kind, delay) = (rng.below(10), rng.below(3));
                may_fail |= kind < 2;
                let guard = DropCount(dropped.clone());
                group
                    .spawn(async move {
                        let _guard = guard;
                        for _ in 0..delay {
                            yield_now().await;
                        }
                        sleep(ms(delay)).await;
                        match kind {
                            0 => Err(i as u64),
                            1 => panic!("child {i} panicked on purpose"),
                            _ => Ok(()),
                        }
                    })
                    .detach();
            }
            let outcome = wait_for(group.join(), Duration::from_secs(10)).await;
            let joined = outcome.unwrap_or_else(|_| panic!("seed {seed}: join hung"));
            // Every child's future was dropped before join returned (structured invariant).
            assert_eq!(dropped.load(Ordering::SeqCst), children, "seed {seed}");
            match joined {
                Ok(()) => assert!(!may_fail, "seed {seed}: a failing child went unreported"),
                Err(e) => {
                    assert!(
                        may_fail,
                        "seed {seed}: failure reported without a failing child"
                    );
                    assert!(!e.failures().is_empty());
                }
            }
        });
    }
}

/// Counts drops: one per child whose future went away.
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
