//! TaskGroup: joins, first-failure cancellation at every await point, spawners, stress.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tulip_executor::{
    LocalExecutor, Runtime, TaskGroup, gather, spawn, task::Builder, wait_for, yield_now,
};
use tulip_reactor::sleep;

use super::{DropFlag, LONG, eventually, flag, ms};
use crate::gate::Gate;

#[test]
fn group_of_successes_joins_ok_and_hands_out_values() {
    Runtime::new().unwrap().block_on(async {
        let group = TaskGroup::<()>::new();
        let handles: Vec<_> = (0..50u64)
            .map(|i| {
                group.spawn(async move {
                    // Staggered finishes, not synchronisation: join must wait for the last.
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
fn a_detached_childs_output_is_dropped_when_it_ends_not_at_join() {
    // The group keeps a reference to each child's allocation, so that the allocation is
    // freed on the spawning thread, never to its output: what a detached child returns is
    // dropped as soon as it is stored, while the group is still open.
    struct Sends(std::sync::mpsc::Sender<()>);
    impl Drop for Sends {
        fn drop(&mut self) {
            let _ = self.0.send(());
        }
    }
    Runtime::new().unwrap().block_on(async {
        let group = TaskGroup::<()>::new();
        let (tx, rx) = std::sync::mpsc::channel();
        group.spawn(async move { Ok(Sends(tx)) }).detach();
        // Blocks this `block_on` thread only; the child runs on a worker.
        rx.recv_timeout(Duration::from_secs(20))
            .expect("the detached child's output outlived the child");
        assert!(group.join().await.is_ok());
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
                // Fails a little later, not synchronisation: the sibling is cancelled whether
                // or not it was polled yet (its guard lives in its future).
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
                let started = parked.clone();
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
                                started.store(2, Ordering::SeqCst);
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
        eventually(|| parked.load(Ordering::SeqCst) >= 1).await,
        "{case}: child never parked"
    );
    if matches!(point, AwaitPoint::NestedGroup) {
        assert!(
            eventually(|| parked.load(Ordering::SeqCst) == 2).await,
            "{case}: the grandchild never started"
        );
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
            // Not synchronisation: `fast` just finishes on its own while `slow` is cancelled.
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
                            // Work that outlasts its spawner, not synchronisation: join must
                            // wait for these late siblings.
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

/// An eager child runs its first poll inside the spawn call, before the spawner has marked
/// its task as the group's: one that ends there must not stay counted, and one that waits
/// there must still be reached by a later cancellation.
#[test]
fn eager_children_end_or_wait_before_the_spawner_marks_them() {
    Runtime::new().unwrap().block_on(async {
        let group = TaskGroup::<&str>::new();
        let done = group.spawn_with(Builder::new().eager(true), async { Ok(3) });
        assert!(
            done.is_finished(),
            "an eager child without an await ends in the spawn"
        );
        let dropped = flag();
        let guard = DropFlag(dropped.clone());
        let waiting = group.spawn_with(Builder::new().eager(true), async move {
            let _guard = guard;
            sleep(LONG).await;
            Ok(4)
        });
        assert_eq!(group.len(), 1, "only the waiting child is counted");
        group.spawn(async { Err::<(), _>("stop") }).detach();
        let started = Instant::now();
        let err = group.join().await.unwrap_err();
        assert!(
            started.elapsed() < LONG,
            "the waiting child was cancelled, not waited for"
        );
        assert_eq!(err.errors().copied().collect::<Vec<&str>>(), ["stop"]);
        assert!(dropped.load(Ordering::SeqCst));
        assert_eq!(done.await, Some(3));
        assert_eq!(waiting.await, None);
    });
}

#[test]
fn named_and_local_children() {
    Runtime::new().unwrap().block_on(async {
        let group = TaskGroup::<()>::new();
        let named = group.spawn_with(Builder::new().name("fetcher"), async { Ok(1) });
        assert_eq!(named.name().as_deref(), Some("fetcher"));
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

#[test]
fn cancelling_one_child_returns_after_its_drop_guard_ran() {
    Runtime::new().unwrap().block_on(async {
        let group = TaskGroup::<()>::new();
        let dropped = flag();
        let guard = DropFlag(dropped.clone());
        let started = Gate::new();
        let s = started.clone();
        let child = group.spawn(async move {
            let _guard = guard;
            s.open();
            sleep(LONG).await;
            Ok(())
        });
        // The child is parked in its sleep when cancelled.
        started.wait().await;
        assert_eq!(group.len(), 1);
        assert_eq!(child.cancel().await, None);
        assert!(dropped.load(Ordering::SeqCst));
        assert!(group.join().await.is_ok());
    });
}

/// Cancellation finds children by their group's mark in the registry of each scheduler they
/// were spawned on: here a runtime worker's and the `block_on` thread's local executor's.
#[test]
fn cancel_reaches_parked_children_on_every_scheduler() {
    Runtime::new().unwrap().block_on(async {
        let group = TaskGroup::<()>::new();
        let mut flags = Vec::new();
        for local in [false, true, false, true] {
            let dropped = flag();
            let guard = DropFlag(dropped.clone());
            let child = async move {
                let _guard = guard;
                sleep(LONG).await;
                Ok(())
            };
            if local {
                group.spawn_local(child).detach();
            } else {
                group.spawn(child).detach();
            }
            flags.push(dropped);
        }
        // Let every child reach its sleep.
        for _ in 0..4 {
            yield_now().await;
        }
        group.cancel();
        let joined = wait_for(group.join(), LONG / 2).await;
        assert!(
            matches!(joined, Ok(Ok(()))),
            "a parked child was not cancelled"
        );
        assert!(flags.iter().all(|f| f.load(Ordering::SeqCst)));
    });
}

/// A group's cancellation reaches its own children and no other task.
#[test]
fn cancelling_a_group_leaves_other_groups_and_tasks_running() {
    Runtime::new().unwrap().block_on(async {
        let doomed = TaskGroup::<()>::new();
        let other = TaskGroup::<()>::new();
        let gate = Gate::new();
        let (g1, g2) = (gate.clone(), gate.clone());
        let sibling = other.spawn(async move {
            g1.wait().await;
            Ok(1)
        });
        let plain = spawn(async move {
            g2.wait().await;
            2
        });
        doomed
            .spawn(async {
                sleep(LONG).await;
                Ok(())
            })
            .detach();
        yield_now().await;
        doomed.cancel();
        assert!(wait_for(doomed.join(), LONG / 2).await.is_ok());
        assert!(!sibling.is_finished() && !plain.is_finished());
        gate.open();
        assert_eq!(plain.await.unwrap(), 2);
        assert_eq!(sibling.await, Some(1));
        assert!(other.join().await.is_ok());
    });
}

/// The one interleaving of invariant 2 that a scan cannot see, made deterministic: an eager
/// child cancels its group in its first poll, inside the spawn call, before the spawner has
/// marked its task. The spawner must see the flag and cancel the child itself.
#[test]
fn a_cancel_before_the_spawner_marks_the_child_still_reaches_it() {
    Runtime::new().unwrap().block_on(async {
        let group = TaskGroup::<()>::new();
        let sp = group.spawner();
        let dropped = flag();
        let guard = DropFlag(dropped.clone());
        group
            .spawn_with(Builder::new().eager(true), async move {
                let _guard = guard;
                sp.cancel();
                std::future::pending::<()>().await;
                Ok(())
            })
            .detach();
        let joined = wait_for(group.join(), LONG / 2).await;
        assert!(
            matches!(joined, Ok(Ok(()))),
            "the child was never cancelled"
        );
        assert!(dropped.load(Ordering::SeqCst));
    });
}

/// Spawns from two threads race a cancellation from a third: no child may be missed (it
/// would wait forever and `join` would hang), and every child's future is dropped before
/// `join` returns. Invariant 2 of the group: the spawner's mark and the canceller's scan.
#[test]
fn spawns_racing_a_cancel_never_lose_a_child() {
    let rt = tulip_executor::runtime::Builder::new()
        .worker_threads(2)
        .build()
        .unwrap();
    let rounds = if cfg!(debug_assertions) { 100 } else { 500 };
    for round in 0..rounds {
        rt.block_on(async {
            let group = TaskGroup::<()>::new();
            let dropped = Arc::new(AtomicUsize::new(0));
            let spawned = Arc::new(AtomicUsize::new(0));
            let spawners: Vec<_> = (0..2)
                .map(|_| {
                    let (sp, dropped, spawned) =
                        (group.spawner(), dropped.clone(), spawned.clone());
                    spawn(async move {
                        for _ in 0..20 {
                            let guard = DropCount(dropped.clone());
                            sp.spawn(async move {
                                let _guard = guard;
                                std::future::pending::<()>().await;
                                Ok(())
                            })
                            .detach();
                            spawned.fetch_add(1, Ordering::SeqCst);
                            yield_now().await;
                        }
                    })
                })
                .collect();
            let sp = group.spawner();
            let canceller = spawn(async move {
                for _ in 0..(round % 7) {
                    yield_now().await;
                }
                sp.cancel();
            });
            canceller.await.unwrap();
            for s in gather(spawners).await {
                s.unwrap();
            }
            let joined = wait_for(group.join(), Duration::from_secs(10)).await;
            assert!(joined.is_ok(), "round {round}: a child missed the cancel");
            assert_eq!(
                dropped.load(Ordering::SeqCst),
                spawned.load(Ordering::SeqCst),
                "round {round}"
            );
        });
    }
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
                        // A random schedule, not synchronisation.
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
