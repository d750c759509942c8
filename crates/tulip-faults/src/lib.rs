//! Deterministic fault injection for tulip's I/O layers.
//!
//! [`FaultyIo`] wraps any `AsyncRead + AsyncWrite` stream and, driven by a seeded generator,
//! makes it misbehave the way real sockets do: reads and writes fail with `Interrupted`
//! (EINTR), return `Pending` after waking the task at once (a spurious readiness), move only
//! part of the buffer (short reads and writes), and fail with `ConnectionReset` once a chosen
//! number of bytes has passed. The same seed always gives the same faults, so a failing test
//! names its seed and reproduces exactly.
//!
//! It is a test tool (publish = false): tulip's HTTP, WebSocket and stream layers are driven
//! through it to show that no fault makes them panic, hang, or lose or duplicate a byte; those
//! cases live in each tested crate's `tests/it/faults_*.rs` and share [`seeds`], [`HANG`] and
//! [`payload`].
//!
//! # Examples
//!
//! ```
//! use futures_lite::{AsyncReadExt, io::Cursor};
//! use tulip_faults::{Faults, FaultyIo};
//!
//! // Short reads and spurious wake-ups, but no errors: every byte still arrives, in order.
//! let data: Vec<u8> = (0..=255).collect();
//! let mut io = FaultyIo::new(Cursor::new(data.clone()), Faults::benign(7));
//! let mut out = Vec::new();
//! futures_lite::future::block_on(io.read_to_end(&mut out)).unwrap();
//! assert_eq!(out, data);
//! assert!(io.stats().short_reads > 0);
//! ```

#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![forbid(unsafe_code)]

mod case;
mod faulty;
mod plan;

pub use case::{HANG, payload, seeds};
pub use faulty::{FaultStats, FaultyIo};
pub use plan::{Faults, Rng};
