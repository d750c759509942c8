//! tokio-bound crates inside tulip, and tulip's streams for tokio-io code.
//!
//! Most Rust drivers for databases, caches and cloud services (sqlx, redis, the AWS SDK,
//! reqwest, tonic) are built on tokio: they open tokio sockets, arm tokio timers and call
//! `tokio::spawn`, and all of those panic under another executor with "there is no reactor
//! running". This crate is the bridge, in the model of smol's `async-compat`:
//!
//! - [`Compat`] (`fut.compat()`, from [`CompatExt`]) enters a tokio runtime's context around
//!   every poll of the future it wraps. The runtime is a shared, lazily started current-thread
//!   runtime driven by its own thread (`tulip-compat-tokio`): it watches the tokio sockets and
//!   timers and runs whatever the driver spawns, while your code keeps running on tulip.
//! - [`CompatWith`] (`fut.compat_with(&ctx)`) does the same with a runtime you own, through a
//!   [`TokioContext`]. If that runtime shuts down, the future completes with [`RuntimeGone`]
//!   instead of hanging or letting tokio panic.
//! - The same adapters bridge the I/O traits both ways: `Compat<S>` is a tokio
//!   `AsyncRead`/`AsyncWrite`/`AsyncBufRead` for any futures-io stream `S` (tulip's TCP, Unix
//!   and TLS streams), so hyper (through `hyper_util::rt::TokioIo`) or a tokio-util codec runs
//!   over a tulip socket; and for a tokio stream it implements the futures-io traits that
//!   `futures_lite`'s `AsyncReadExt` and friends use. `poll_shutdown` is `poll_close`,
//!   vectored writes are forwarded, and reads into tokio's uninitialised `ReadBuf` need no
//!   `unsafe`.
//!
//! This is the only tulip crate that depends on tokio's runtime; no other may. It asks tokio
//! for the `rt` feature alone: the shared runtime turns on the I/O driver and the timer exactly
//! when a crate in the build compiled them in.
//!
//! # What does not carry over
//!
//! tokio-bound code runs on tulip's threads but its sockets are watched, and its spawned tasks
//! run, on the runtime's thread; each readiness event crosses threads once (see the guide's
//! chapter "Using tokio-based crates" for the measured cost). `tokio::task::spawn_local`
//! needs a `LocalSet` and `block_in_place` a multi-thread runtime; neither works under the
//! shared runtime. Values such as a pooled connection that spawn on drop must be dropped
//! inside a compat future (the adapters drop what they wrap inside the context for that
//! reason).
//!
//! # Examples
//!
//! A tokio timer and `tokio::spawn` inside tulip:
//!
//! ```
//! use std::time::Duration;
//! use tulip_compat::CompatExt;
//!
//! let n = tulip_executor::run(async {
//!     async {
//!         tokio::time::sleep(Duration::from_millis(1)).await;
//!         tokio::spawn(async { 21 * 2 }).await.unwrap()
//!     }
//!     .compat()
//!     .await
//! });
//! assert_eq!(n, 42);
//! ```
//!
//! A tulip socket as a tokio stream, and a tokio socket as a futures-io stream:
//!
//! ```
//! use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
//! use tulip_compat::{Compat, CompatExt};
//!
//! tulip_executor::run(async {
//!     // A tokio listener needs the runtime's context to be created.
//!     let listener = async { tokio::net::TcpListener::bind("127.0.0.1:0").await }.compat().await?;
//!     let addr = listener.local_addr()?;
//!     let client = tulip_executor::spawn(async move {
//!         let stream = tulip_net::TcpStream::connect(addr).await?;
//!         // tokio's io traits over a tulip socket.
//!         let mut stream = Compat::new(stream);
//!         tokio::io::AsyncWriteExt::write_all(&mut stream, b"ping").await?;
//!         tokio::io::AsyncWriteExt::shutdown(&mut stream).await
//!     });
//!     let (server, _) = listener.accept().compat().await?;
//!     // futures-io traits over a tokio socket.
//!     let mut server = server.compat();
//!     let mut got = String::new();
//!     server.read_to_string(&mut got).await?;
//!     assert_eq!(got, "ping");
//!     server.close().await?;
//!     client.await.unwrap()
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```

#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

mod context;
mod future;
mod io;

pub use context::{RuntimeGone, TokioContext};
pub use future::{Compat, CompatExt, CompatWith};
