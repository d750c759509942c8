//! Loopback socket pairs, seeds and deterministic payloads.

use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use tulip_reactor::Async;

/// Seeds each case runs with: fewer in debug builds to keep the suite fast.
pub(crate) fn seeds() -> std::ops::Range<u64> {
    if cfg!(debug_assertions) { 0..8 } else { 0..40 }
}

/// How long one case may take before it counts as a hang.
pub(crate) const HANG: Duration = Duration::from_secs(20);

/// A connected loopback TCP pair.
pub(crate) fn tcp_pair() -> (Async<TcpStream>, Async<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (Async::new(client).unwrap(), Async::new(server).unwrap())
}

/// `len` bytes that differ with `seed` and position, so a lost, duplicated or reordered
/// byte shows.
pub(crate) fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = tulip_faults::Rng::new(seed ^ 0xA5A5);
    (0..len).map(|_| rng.next_u64() as u8).collect()
}
