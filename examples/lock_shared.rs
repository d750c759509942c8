//! A `Lock` guarding shared values: many tasks move money between two accounts; each transfer
//! holds the lock across an await, so no task ever sees a half-done transfer.
//!
//! Run: `cargo run -p examples --example lock_shared`
//! Prints the final balances and `total preserved: 200`.

use std::sync::Arc;
use std::time::Duration;

use tulip::sync::Lock;
use tulip::{gather, sleep, spawn};

#[derive(Debug)]
struct Accounts {
    alice: i64,
    bob: i64,
}

fn main() {
    tulip::run(async {
        let accounts = Arc::new(Lock::new(Accounts {
            alice: 100,
            bob: 100,
        }));
        let mut tasks = Vec::new();
        for i in 0..50 {
            let accounts = accounts.clone();
            tasks.push(spawn(async move {
                let mut acc = accounts.lock().await;
                let amount = if i % 2 == 0 { 3 } else { -2 };
                acc.alice -= amount;
                // Awaiting while holding the lock: other tasks wait; nobody sees the money
                // missing from both accounts.
                sleep(Duration::from_micros(200)).await;
                acc.bob += amount;
            }));
        }
        // An auditor checks the invariant concurrently.
        let auditor = {
            let accounts = accounts.clone();
            spawn(async move {
                for _ in 0..20 {
                    let acc = accounts.lock().await;
                    assert_eq!(acc.alice + acc.bob, 200, "saw a half-done transfer");
                    drop(acc);
                    sleep(Duration::from_micros(300)).await;
                }
            })
        };
        for r in gather(tasks).await {
            r.expect("transfer task failed");
        }
        auditor.await.expect("auditor failed");
        let acc = accounts.lock().await;
        println!("alice={} bob={}", acc.alice, acc.bob);
        println!("total preserved: {}", acc.alice + acc.bob);
        assert_eq!(acc.alice + acc.bob, 200);
    });
}
