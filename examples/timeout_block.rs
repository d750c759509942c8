//! aiotimeout / `asyncio.timeout()`: bound a whole block of awaits with one deadline.
//!
//! Run: `cargo run -p examples --example timeout_block`
//! Prints: `fast block finished: 3 steps`, then `slow block timed out after ~50 ms`.

use std::time::{Duration, Instant};

use tulip::{sleep, timeout};

fn main() {
    tulip::run(async {
        let fast = timeout(Duration::from_millis(500), async {
            for _ in 0..3 {
                sleep(Duration::from_millis(5)).await;
            }
            3
        })
        .await;
        println!(
            "fast block finished: {} steps",
            fast.expect("fast block timed out")
        );

        let start = Instant::now();
        let slow = timeout(Duration::from_millis(50), async {
            loop {
                sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        match slow {
            Ok(()) => unreachable!("the loop never ends"),
            Err(e) => println!(
                "slow block timed out after ~{} ms ({e})",
                start.elapsed().as_millis()
            ),
        }
    });
}
