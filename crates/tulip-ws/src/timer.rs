//! Deadlines for the close handshake, from tulip-reactor's timer wheel.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A boxed timer: the poll-level state machines store one while a close frame drains.
pub(crate) type Deadline = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A future that completes after `d`.
pub(crate) fn deadline(d: Duration) -> Deadline {
    Box::pin(tulip_reactor::sleep(d))
}

/// Runs `fut` for at most `d`.
pub(crate) async fn timeout<T>(d: Duration, fut: impl Future<Output = T>) -> Option<T> {
    tulip_reactor::timeout(d, fut).await.ok()
}
