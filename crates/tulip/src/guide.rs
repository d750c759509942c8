//! Doc-tests for the asyncio → tulip guide in `docs/guide/`.
//!
//! Each chapter is included as the documentation of an empty module that exists only under
//! `cfg(doctest)`, so `cargo test -p tulip --all-features --doc` compiles and runs every
//! `rust` block in the guide while normal builds and the API docs never see it. The chapters
//! use every layer, so they are only included when all features are on (chapter 10 also
//! needs the `tokio` feature, which `full` leaves out).

#[cfg(all(doctest, feature = "full"))]
#[doc = include_str!("../../../docs/guide/README.md")]
mod readme {}

#[cfg(all(doctest, feature = "full"))]
#[doc = include_str!("../../../docs/guide/01-event-loop.md")]
mod event_loop {}

#[cfg(all(doctest, feature = "full"))]
#[doc = include_str!("../../../docs/guide/02-tasks.md")]
mod tasks {}

#[cfg(all(doctest, feature = "full"))]
#[doc = include_str!("../../../docs/guide/03-sync.md")]
mod sync {}

#[cfg(all(doctest, feature = "full"))]
#[doc = include_str!("../../../docs/guide/04-streams-and-protocols.md")]
mod streams_and_protocols {}

#[cfg(all(doctest, feature = "full"))]
#[doc = include_str!("../../../docs/guide/05-tls.md")]
mod tls {}

#[cfg(all(doctest, feature = "full"))]
#[doc = include_str!("../../../docs/guide/06-subprocesses-and-signals.md")]
mod subprocesses_and_signals {}

#[cfg(all(doctest, feature = "full"))]
#[doc = include_str!("../../../docs/guide/07-http-server.md")]
mod http_server {}

#[cfg(all(doctest, feature = "full"))]
#[doc = include_str!("../../../docs/guide/08-http-client.md")]
mod http_client {}

#[cfg(all(doctest, feature = "full"))]
#[doc = include_str!("../../../docs/guide/09-websockets.md")]
mod websockets {}

#[cfg(all(doctest, feature = "full", feature = "tokio"))]
#[doc = include_str!("../../../docs/guide/10-tokio-crates.md")]
mod tokio_crates {}
