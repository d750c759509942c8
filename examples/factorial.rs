//! asyncio's "Parallel execution of tasks": three factorial computations run as tasks, each
//! sleeping between steps, gathered in order; then the same with `wait(FIRST_COMPLETED)`.
//!
//! Run: `cargo run -p examples --example factorial`
//! Prints each task's steps interleaved, then `results: [2, 6, 24]` and which finished first.

use std::time::Duration;

use tulip::{ReturnWhen, gather, sleep, spawn, wait};

async fn factorial(name: &'static str, number: u64) -> u64 {
    let mut f = 1;
    for i in 2..=number {
        println!("Task {name}: Compute factorial({i})...");
        sleep(Duration::from_millis(10)).await;
        f *= i;
    }
    println!("Task {name}: factorial({number}) = {f}");
    f
}

fn main() {
    tulip::run(async {
        // asyncio.gather: results in argument order, whatever order the tasks finish in.
        let results = gather([factorial("A", 2), factorial("B", 3), factorial("C", 4)]).await;
        println!("results: {results:?}");
        assert_eq!(results, vec![2, 6, 24]);

        // asyncio.wait(..., return_when=FIRST_COMPLETED) over running tasks.
        let tasks = vec![spawn(factorial("D", 5)), spawn(factorial("E", 2))];
        let (done, pending) = wait(tasks, ReturnWhen::FirstCompleted, None).await;
        println!(
            "first completed: {} task(s), still running: {}",
            done.len(),
            pending.len()
        );
        for t in pending {
            t.cancel().await;
        }
    });
}
