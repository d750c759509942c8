//! Structured concurrency with `TaskGroup` (Python 3.11's `asyncio.TaskGroup`), `shield` and
//! `as_completed`.
//!
//! Three "downloads" run in a group; one fails, which cancels its two siblings (their drop
//! guards print that they were cancelled) and `join` reports the failure. Then a shielded
//! "save" survives a time-out on the wait for it, and `as_completed` prints results in the order
//! they finish.
//!
//! Run: `cargo run -p examples --example task_group`
//! Prints the downloads starting, `mirror-2 failed`, two cancellations, the group error, then
//! `save finished anyway`, and `as_completed: [10, 20, 30]`.

use std::time::Duration;

use futures_lite::StreamExt;
use tulip_executor::{TaskGroup, as_completed, shield, spawn, wait_for};
use tulip_reactor::sleep;

/// Prints when the download it belongs to is dropped before it finished (while still armed).
struct Cancelled {
    name: &'static str,
    armed: bool,
}

impl Drop for Cancelled {
    fn drop(&mut self) {
        if self.armed {
            println!("{}: cancelled", self.name);
        }
    }
}

async fn download(name: &'static str, ms: u64, fail: bool) -> Result<usize, String> {
    println!("{name}: started");
    let mut guard = Cancelled { name, armed: true };
    sleep(Duration::from_millis(ms)).await;
    guard.armed = false;
    if fail {
        println!("{name} failed");
        return Err(format!("{name}: connection reset"));
    }
    Ok(ms as usize * 1000)
}

fn main() {
    tulip_executor::run(async {
        // asyncio: `async with TaskGroup() as tg: tg.create_task(...)`.
        let group = TaskGroup::new();
        for (name, ms, fail) in [
            ("mirror-1", 5_000, false),
            ("mirror-2", 20, true),
            ("mirror-3", 5_000, false),
        ] {
            group.spawn(download(name, ms, fail)).detach();
        }
        match group.join().await {
            Ok(()) => println!("all downloads finished"),
            Err(e) => println!("group failed: {e}"),
        }

        // asyncio: `await wait_for(shield(save), 0.01)` — the wait times out, the save does not.
        let (tx, rx) = std::sync::mpsc::channel();
        let save = spawn(async move {
            sleep(Duration::from_millis(50)).await;
            tx.send(()).unwrap();
        });
        if wait_for(shield(save), Duration::from_millis(10))
            .await
            .is_err()
        {
            println!("stopped waiting for the save");
        }
        while rx.try_recv().is_err() {
            sleep(Duration::from_millis(5)).await;
        }
        println!("save finished anyway");

        // asyncio: `for next in as_completed(aws): print(await next)`.
        let order: Vec<u64> = as_completed([30u64, 10, 20].map(|ms| async move {
            sleep(Duration::from_millis(ms * 10)).await;
            ms
        }))
        .collect()
        .await;
        println!("as_completed: {order:?}");
    });
}
