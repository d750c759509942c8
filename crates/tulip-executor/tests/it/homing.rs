//! A detached task that ends on another worker than the one that spawned it goes back to its
//! spawner to be freed (`WorkerMetrics::homed`), and no task is left behind by that trip.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tulip_executor::{runtime, spawn};

use crate::stress::Flag;

/// Counts down to zero; `wait` returns once it got there.
struct Countdown {
    left: AtomicUsize,
    zero: Arc<Flag>,
}

impl Countdown {
    fn new(n: usize) -> Arc<Countdown> {
        Arc::new(Countdown {
            left: AtomicUsize::new(n),
            zero: Flag::new(),
        })
    }

    fn done(&self) {
        if self.left.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.zero.raise();
        }
    }

    async fn wait(&self) {
        self.zero.lower().await
    }
}

#[test]
fn detached_tasks_that_end_on_a_sibling_are_freed_by_their_spawner() {
    // The runtime's shared state holds the start hook, so the hook's capture lives exactly as
    // long as that state: every task holds the state, so a task reference left in a queue at
    // shutdown would keep it alive for ever.
    let state = Arc::new(());
    let held = state.clone();
    let rt = runtime::Builder::new()
        .worker_threads(2)
        .on_thread_start(move || {
            let _ = &held;
        })
        .build()
        .unwrap();
    let mut homed = 0;
    // A burst of spawns on one worker wakes the other, which steals half of them; one round
    // is enough on any machine with two cores, the rounds only bound the odd unlucky one.
    for _ in 0..100 {
        let left = Countdown::new(2000);
        let l = left.clone();
        rt.block_on(rt.spawn(async move {
            for _ in 0..2000 {
                let l = l.clone();
                drop(spawn(async move {
                    futures_lite::future::yield_now().await;
                    l.done();
                }));
            }
            left.wait().await;
        }))
        .unwrap();
        homed = rt.handle().metrics().workers.iter().map(|w| w.homed).sum();
        if homed > 0 {
            break;
        }
    }
    assert!(homed > 0, "no detached task went back to its spawner");
    drop(rt);
    assert_eq!(
        Arc::strong_count(&state),
        1,
        "the runtime's state outlived the runtime: a task reference was left behind"
    );
}
