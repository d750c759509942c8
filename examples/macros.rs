//! asyncio's first tutorial program, `say_after`, with `#[tulip::main]`: two tasks run
//! concurrently, so the program takes as long as the slower one, not the sum.
//!
//! ```python
//! async def main():
//!     task1 = asyncio.create_task(say_after(0.1, "hello"))
//!     task2 = asyncio.create_task(say_after(0.2, "world"))
//!     await task1
//!     await task2
//!
//! asyncio.run(main())
//! ```
//!
//! Run: `cargo run -p examples --example macros`
//! Prints `hello`, then `world`, then `finished in 0.20 s` (about 0.2 s, not 0.3 s) and exits.

use std::time::{Duration, Instant};

async fn say_after(delay: Duration, what: &str) {
    tulip::sleep(delay).await;
    println!("{what}");
}

// `#[tulip::main]` builds the runtime and runs this function on it: `asyncio.run(main())`.
// It names tulip itself, so nothing needs importing.
#[tulip::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let task1 = tulip::spawn(say_after(Duration::from_millis(100), "hello"));
    let task2 = tulip::spawn(say_after(Duration::from_millis(200), "world"));
    task1.await?;
    task2.await?;
    // One after the other, the two sleeps would take 0.3 s.
    println!("finished in {:.2} s", started.elapsed().as_secs_f64());
    Ok(())
}
