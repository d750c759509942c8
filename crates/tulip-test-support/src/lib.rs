//! Shared pieces of tulip's tests.
//!
//! Every crate's integration tests used to carry its own copy of two things: a test
//! certificate authority made with rcgen, and a way to notice that an interop peer (curl,
//! openssl, redis-server, a Python with aiohttp or websockets) is missing. This crate is the one
//! copy of both:
//!
//! - [`pki`]: a CA, server and client certificates it signed, a rogue CA's client certificate,
//!   all as PEM text (made once per test binary), and [`pki::PemFiles`] to put them on disk
//!   for command-line peers.
//! - [`peers`]: finds a peer or skips the test with one message format; with
//!   `TULIP_REQUIRE_PEERS=1` a missing peer fails the test instead, so CI cannot go green by
//!   skipping.
//! - [`logs::capture`] and [`logs::reports_near`]: a `log` logger recording one target, for
//!   tests of reports that name a creation site.
//! - [`loopback::tcp_pair`]: a connected TCP pair on 127.0.0.1.
//! - [`tinyproxy::Tinyproxy`]: a real forward proxy on a free loopback port, from a
//!   generated configuration (allowed `CONNECT` ports, credentials), for proxy tests.
//! - `spans` (feature `tracing`): a global `tracing` subscriber that records every span
//!   and event with its fields, for tests of tulip's `tracing` feature.
//! - [`wait::until`]: polls a condition with a deadline and fails with a message naming what
//!   never happened, for the few waits that have no event to block on.
//!
//! It depends on no tulip crate (PEM text in, PEM text out; each test builds its own
//! acceptor), so the lowest crate can use it, and it is only ever a dev-dependency.
//!
//! # Examples
//!
//! ```
//! use tulip_test_support::{peers, pki};
//!
//! let pki = pki::pki();
//! assert!(pki.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
//! // `None` means "skip": the helper already printed why (or panicked under
//! // TULIP_REQUIRE_PEERS=1).
//! if let Some(curl) = peers::curl() {
//!     assert!(curl.is_absolute());
//! }
//! ```

#![forbid(unsafe_code)]

pub mod logs;
pub mod loopback;
pub mod peers;
pub mod pki;
#[cfg(feature = "tracing")]
pub mod spans;
pub mod tinyproxy;
pub mod wait;
