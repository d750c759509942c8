//! tulip-tls integration tests: client and server over an in-memory pipe and loopback TCP,
//! and against real peers (`openssl s_client`, `openssl s_server`, `curl`).

mod certs;
mod duplex;
mod peers;
mod pipe;
mod tcp;
mod trust;

use std::future::Future;
use std::time::Duration;

/// Runs `fut` on the reactor, failing the test instead of hanging if it takes over 30 s.
pub(crate) fn run<T>(fut: impl Future<Output = T>) -> T {
    tulip_reactor::block_on(tulip_reactor::timeout(Duration::from_secs(30), fut))
        .expect("test timed out")
}

/// Deterministic test bytes (xorshift), so that transfers can be checked byte for byte.
pub(crate) fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
