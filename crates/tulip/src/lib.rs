//! asyncio and aiohttp, rebuilt in Rust: the umbrella crate.
//!
//! tulip is a set of layered crates; this one re-exports them behind features and adds
//! nothing of its own. Depend on a single layer (say `tulip-sync`) when that is all you need.
//!
//! | asyncio / aiohttp | tulip |
//! |---|---|
//! | `asyncio.run(main())` | [`run`], [`#[tulip::main]`](macro@main) (feature `macros`) |
//! | `create_task`, `Task.cancel` | [`spawn`], [`Task::cancel`] |
//! | `sleep`, `wait_for`, `timeout` | [`sleep`], [`wait_for`], [`timeout`] |
//! | `gather`, `wait`, `as_completed`, `TaskGroup`, `shield` | [`gather`], [`wait`], [`as_completed`], [`TaskGroup`], [`shield`] |
//! | `loop.call_soon/call_later/call_at`, `run_forever` | [`Handle`] |
//! | `to_thread`, `run_in_executor` | [`spawn_blocking`] |
//! | `Lock`, `Event`, `Queue`, ... | [`sync`] (feature `sync`) |
//! | `open_connection`, `start_server`, transports, `loop.sock_*`, `add_reader`, pipes | [`net`] (feature `net`) |
//! | `ssl=`, `start_tls` | [`tls`] and [`net`] (feature `tls`) |
//! | `create_subprocess_exec`, signals | [`process`] (feature `process`) |
//! | `aiohttp.web`, `ClientSession` | [`http`] (feature `http`) |
//! | `WebSocketResponse`, `ws_connect` | [`ws`] (feature `ws`) |
//! | — (tokio-based drivers: redis, sqlx, hyper, reqwest) | `compat` (feature `tokio`) |
//!
//! # Features
//!
//! Each feature brings exactly what it names (every internal crate is a dependency with
//! `default-features = false`; `cargo xtask test` checks each set against an allow-list):
//!
//! - `sync`, `net`, `process` (default): the asyncio core.
//! - `tls`: rustls-based TLS for streams and transports, and STARTTLS (pulls rustls and ring); with `http`, HTTPS for the
//!   client and TLS serving; with `ws`, `wss://`.
//! - `http`: the HTTP/1.1 server and client (implies `net`), without TLS, JSON or gzip.
//! - `json`: `Request::json` / `Response::json` through serde_json (implies `http`).
//! - `gzip`: gzip response compression and gzip/deflate decoding in the client, through
//!   flate2 (implies `http`).
//! - `brotli`: brotli (`Content-Encoding: br`) decoding in the client, through the pure-Rust
//!   brotli-decompressor (implies `http`).
//! - `ws`: WebSockets, `ws_connect` and `WebSocketResponse` routes (implies `http`).
//! - `macros` (default): `#[tulip::main]` and `#[tulip::test]`. On by default because an
//!   asyncio user expects `async fn main` to just work, and it is cheap: tulip-macros has no
//!   dependencies (no `syn`), so it adds one small crate to the build.
//! - `full`: all of the above.
//! - `tokio`: `compat`, for tokio-bound crates inside tulip and tokio's io traits on
//!   tulip's streams. Not in `full`: it is the only feature that pulls tokio's runtime.
//! - `polling-backend`: on Linux, drive the reactor through the `polling` crate instead of
//!   epoll called directly (for testing the backend that macOS, the BSDs and illumos always
//!   use; epoll stays the faster Linux default). Not in `full`.
//! - `tracing`: `tracing` spans per task (`task`: `task.id`, `task.name`, `spawn.location`),
//!   HTTP connection (`http.connection`) and request (`http.request`: `http.method`,
//!   `http.path`, `http.status`, `http.duration_us`) and WebSocket session (`ws.session`), and
//!   the runtime's reports as `tracing` events. Not in `full`: without it nothing of tracing
//!   is compiled in.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//!
//! let total = tulip::run(async {
//!     let a = tulip::spawn(async { 20 });
//!     let b = tulip::spawn(async {
//!         tulip::sleep(Duration::from_millis(1)).await;
//!         22
//!     });
//!     a.await.unwrap() + b.await.unwrap()
//! });
//! assert_eq!(total, 42);
//! ```

#![forbid(unsafe_code)]

mod guide;

/// The prelude: `use tulip::prelude::*;` brings the names most programs use.
pub mod prelude {
    pub use crate::{Handle, Runtime, Task, run, sleep, spawn, spawn_blocking, timeout};
    pub use futures_lite::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, FutureExt, StreamExt};
}

/// futures-lite, tulip's futures toolkit (streams, `zip`, `race`, I/O extension traits).
pub use futures_lite;

/// The event loop core: `Async<T>`, timers, `block_on`, the reactor hooks.
pub mod reactor {
    pub use tulip_reactor::*;
}

/// The scheduler, tasks, the blocking pool, asyncio's loop API and task toolkit.
pub mod executor {
    pub use tulip_executor::*;
}

/// Context variables, asyncio's `contextvars`: task-local values a task inherits from its
/// spawner (re-export of `tulip_executor::context`).
pub use tulip_executor::context as contextvars;

/// Locks, events, conditions, semaphores, barrier, queues, channels, the one-shot `Future`.
#[cfg(feature = "sync")]
pub mod sync {
    pub use tulip_sync::*;
}

/// Sockets, streams, transports and protocols.
#[cfg(feature = "net")]
pub mod net {
    pub use tulip_net::*;
}

/// TLS on rustls for any stream.
#[cfg(feature = "tls")]
pub mod tls {
    pub use tulip_tls::*;
}

/// Subprocesses and Unix signals.
#[cfg(feature = "process")]
pub mod process {
    pub use tulip_process::*;
}

/// The HTTP/1.1 server and client.
#[cfg(feature = "http")]
pub mod http {
    pub use tulip_http::*;
}

/// aiohttp's `web.run_app`: serve until SIGINT/SIGTERM, then shut down gracefully (features
/// `http` and `process`).
#[cfg(all(feature = "http", feature = "process"))]
pub mod web;

/// WebSockets (RFC 6455, permessage-deflate).
#[cfg(feature = "ws")]
pub mod ws {
    pub use tulip_ws::*;
}

/// tokio-bound crates inside tulip: `.compat()` enters a tokio context around each poll, and
/// `Compat` bridges tokio's and futures-io's I/O traits (re-export of `tulip-compat`).
#[cfg(feature = "tokio")]
pub mod compat {
    pub use tulip_compat::*;
}

/// asyncio's `loop.add_signal_handler` / `loop.remove_signal_handler`, on a runtime [`Handle`]:
/// the callback runs as a task on that runtime. Unlike asyncio, several handlers may be
/// installed for one signal; all of them run.
///
/// # Examples
///
/// ```
/// use tulip::HandleSignalExt;
/// use tulip::process::signal::{SignalKind, raise};
///
/// let rt = tulip::Runtime::new().unwrap();
/// let handle = rt.handle().clone();
/// let (tx, rx) = std::sync::mpsc::channel();
/// let id = handle.add_signal_handler(SignalKind::USER1, move |sig| { let _ = tx.send(sig); }).unwrap();
/// raise(SignalKind::USER1).unwrap();
/// assert_eq!(rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap(), SignalKind::USER1);
/// assert!(handle.remove_signal_handler(id));
/// ```
#[cfg(feature = "process")]
pub trait HandleSignalExt {
    /// Runs `callback` on this runtime every time `kind` is delivered to the process.
    ///
    /// # Errors
    ///
    /// If the signal cannot be handled (SIGKILL, SIGSTOP, an invalid number).
    fn add_signal_handler<F>(
        &self,
        kind: process::signal::SignalKind,
        callback: F,
    ) -> std::io::Result<process::signal::SignalHandlerId>
    where
        F: FnMut(process::signal::SignalKind) + Send + 'static;

    /// Removes a handler; `false` if it was already gone. The signal's original disposition
    /// comes back when its last listener goes.
    fn remove_signal_handler(&self, id: process::signal::SignalHandlerId) -> bool;
}

#[cfg(feature = "process")]
impl HandleSignalExt for Handle {
    fn add_signal_handler<F>(
        &self,
        kind: process::signal::SignalKind,
        callback: F,
    ) -> std::io::Result<process::signal::SignalHandlerId>
    where
        F: FnMut(process::signal::SignalKind) + Send + 'static,
    {
        tulip_process::signal::add_signal_handler_on(self, kind, callback)
    }

    fn remove_signal_handler(&self, id: process::signal::SignalHandlerId) -> bool {
        tulip_process::signal::remove_signal_handler(id)
    }
}

pub use tulip_executor::{
    CountsAsFailure, Failure, GroupError, GroupSpawner, GroupTask, Handle, JoinError,
    LocalExecutor, ReturnWhen, Runtime, Shield, Task, TaskGroup, all_tasks, as_completed,
    current_task, gather, gather2, gather3, run, shield, spawn, spawn_blocking, spawn_eager,
    spawn_local, try_gather, try_gather2, try_gather3, wait, wait_for, yield_now,
};
pub use tulip_reactor::{
    Elapsed, Interval, Timer, interval, sleep, sleep_until, timeout, timeout_at,
};

// `#[tulip::main]` and `#[tulip::test]` (feature `macros`). This `test` shadows the built-in
// `#[test]` inside this crate, which therefore keeps its tests in `tests/it` (where `#[test]`
// is the built-in again).
#[cfg(feature = "macros")]
#[doc(inline)]
pub use tulip_macros::{main, test};

/// What the code generated by `#[tulip::main]` and `#[tulip::test]` calls; not a public API.
#[doc(hidden)]
pub use tulip_executor::__macro_support;

/// The README's code blocks run as doc tests, so the first example a newcomer reads works.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
mod readme {}
