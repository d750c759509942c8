//! The runtime services tulip-net takes from the executor: blocking calls (DNS) run on the
//! blocking pool, never on a worker thread.

use std::io;

/// Runs `f` on the blocking pool and waits for its result.
pub(crate) async fn blocking<T, F>(f: F) -> io::Result<T>
where
    F: FnOnce() -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    match tulip_executor::spawn_blocking(f).await {
        Ok(r) => r,
        // Only a panic in the resolver gets here.
        Err(e) => Err(io::Error::other(e.to_string())),
    }
}
