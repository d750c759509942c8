//! An `Event` as a time-out: Alice waits at the café for Bob, but only for so long.
//!
//! Bob sets the event when he arrives; Alice waits on it with `wait_for`. In the first round Bob
//! is on time and they greet each other; in the second he is late and Alice leaves.
//!
//! Run: `cargo run -p examples --example bob_alice`
//! Prints: `Alice: Hi Bob!` for the first round, `Alice: Bob is late, I'm leaving.` for the second.

use std::sync::Arc;
use std::time::Duration;

use tulip::sync::Event;
use tulip::{sleep, spawn, wait_for};

async fn meet(bob_delay: Duration, patience: Duration) -> bool {
    let arrived = Arc::new(Event::new());
    let bob = {
        let arrived = arrived.clone();
        spawn(async move {
            sleep(bob_delay).await;
            println!("Bob: Hi Alice, I'm here.");
            arrived.set();
        })
    };
    let met = match wait_for(arrived.wait(), patience).await {
        Ok(()) => {
            println!("Alice: Hi Bob!");
            true
        }
        Err(_) => {
            println!("Alice: Bob is late, I'm leaving.");
            false
        }
    };
    bob.cancel().await;
    met
}

fn main() {
    tulip::run(async {
        assert!(meet(Duration::from_millis(10), Duration::from_millis(200)).await);
        assert!(!meet(Duration::from_millis(300), Duration::from_millis(20)).await);
    });
}
