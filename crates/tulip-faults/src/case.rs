//! What every fault case shares, wherever it lives (the tested crates' `tests/it/faults_*`):
//! the seeds it runs with, its hang limit, and payloads that show a lost byte.

use std::ops::Range;
use std::time::Duration;

use crate::Rng;

/// The seeds each case runs with: fewer in debug builds to keep the suites fast. A failure
/// message names its seed, and the same seed gives the same faults.
pub fn seeds() -> Range<u64> {
    if cfg!(debug_assertions) { 0..8 } else { 0..40 }
}

/// How long one case may take before it counts as a hang.
pub const HANG: Duration = Duration::from_secs(20);

/// `len` bytes that differ with `seed` and position, so a lost, duplicated or reordered byte
/// shows.
///
/// ```
/// let a = tulip_faults::payload(1, 64);
/// assert_eq!(a, tulip_faults::payload(1, 64));
/// assert_ne!(a, tulip_faults::payload(2, 64));
/// ```
pub fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed ^ 0xA5A5);
    (0..len).map(|_| rng.next_u64() as u8).collect()
}
