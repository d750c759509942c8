//! asyncio's "Hello World with call_soon()": schedule a callback on the loop, which prints and
//! stops the loop.
//!
//! Run: `cargo run -p examples --example hello_world`
//! Prints: `Hello World` and exits.

use tulip::Runtime;

fn main() -> std::io::Result<()> {
    let rt = Runtime::new()?;
    let handle = rt.handle().clone();
    let stopper = handle.clone();
    // Like `loop.call_soon(hello_world, loop)`: the callback runs on the loop, then stops it.
    handle.call_soon(move || {
        println!("Hello World");
        stopper.stop();
    });
    // Like `loop.run_forever()`: returns once `stop()` was called.
    rt.run_forever();
    Ok(())
}
