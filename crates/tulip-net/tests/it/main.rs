//! tulip-net integration tests: loopback only, every test under a deadline.

mod debug;
mod dns;
mod faults;
mod faults_stream;
mod happy_eyeballs;
mod loop_api;
mod pipes;
mod python;
mod reader;
mod sockets;
#[cfg(feature = "tls")]
mod starttls;
mod streams;
#[cfg(feature = "tls")]
mod tls;
mod transport;
mod transport_more;
mod udp;
mod unix;

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

/// Runs `fut` on a shared two-worker runtime, failing the test if it takes longer than 20 s
/// (nothing here may hang).
pub(crate) fn run<F: Future>(fut: F) -> F::Output {
    static RT: OnceLock<tulip_executor::Runtime> = OnceLock::new();
    let rt = RT.get_or_init(|| {
        tulip_executor::runtime::Builder::new()
            .worker_threads(2)
            .build()
            .expect("runtime")
    });
    rt.block_on(async {
        tulip_reactor::timeout(Duration::from_secs(20), fut)
            .await
            .expect("test timed out")
    })
}

/// A fresh socket path in the temp directory.
pub(crate) fn temp_sock(tag: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let p = std::env::temp_dir().join(format!(
        "tulip-net-{}-{tag}-{}.sock",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_file(&p);
    p
}

pub(crate) fn localhost() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Waits until `cond` holds, re-checking every millisecond for up to 5 s, and fails naming
/// `what` otherwise: for state that changes without an event the test could await.
pub(crate) async fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not happen within 5 s"
        );
        // Polling pause: the condition is re-checked after it.
        tulip_reactor::sleep(Duration::from_millis(1)).await;
    }
}
