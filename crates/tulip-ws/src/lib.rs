//! WebSockets for tulip: RFC 6455 with permessage-deflate (RFC 7692), over any stream.
//!
//! The protocol core works over any `futures_io::AsyncRead + AsyncWrite + Unpin` stream (a
//! `tulip_reactor::Async<TcpStream>`, a TLS stream, an in-memory pipe), independent of the
//! HTTP layer. Handshakes come in two forms: pure header-level functions an HTTP server or
//! client calls ([`upgrade`], [`ClientHandshake`]), and standalone ones that read and write
//! the HTTP head themselves ([`accept`], [`client_handshake`]). On top, behind features,
//! sit aiohttp's two entry points: `ws_connect` dials a URL, and `http::WebSocketResponse`
//! upgrades a tulip-http route.
//!
//! What it does for you: unmasking in place a word at a time, reassembly of fragments with
//! size limits, UTF-8 validation that fails on the first bad byte even across fragments,
//! automatic pongs, the close handshake with a timeout, protocol errors answered with the
//! right close code (1002, 1007, 1009), permessage-deflate with context takeover and window
//! negotiation, and backpressure both ways: sends wait above a high-water mark, and the socket
//! is read only as fast as the application receives.
//!
//! # Heartbeat, autoping, autoclose, receive timeout, fragmentation
//!
//! aiohttp's `ws_connect(...)` and `WebSocketResponse(...)` options are fields of [`Config`]
//! (`ClientOptions::config`, `ServerOptions::config`): `heartbeat`, `autoping`, `autoclose`,
//! `receive_timeout`, plus `fragment_size` for outgoing messages.
//!
//! The heartbeat follows aiohttp 3.14: a ping goes out after `heartbeat` without a byte from
//! the peer (any received data, not only a pong, resets it), and when no byte arrives within
//! half of `heartbeat` after the ping the connection is dropped without a close frame (close
//! code 1006) and the call fails with [`Error::is_heartbeat`]: "no pong within X after a
//! heartbeat ping".
//!
//! No task runs behind the application's back (the crate needs no executor): the heartbeat is
//! driven by the WebSocket's own calls. A pending `receive` owns the heartbeat's timer, so
//! the usual `while let Ok(msg) = ws.receive().await` loop, or a `receive` raced against
//! other work, pings and fails on time. Every send also sends a ping that is due, so a
//! sender keeps the connection alive while nobody receives; the pong is then judged by the
//! next `receive`, which first reads what arrived (a pong sitting unread in the socket counts).
//! To keep the heartbeat exact while the application is busy elsewhere, [`split`] the
//! WebSocket and loop on [`ReadHalf::receive`] in a task of its own.
//!
//! With `fragment_size`, messages longer than it go out as continuation frames, and pongs,
//! pings and the heartbeat's pings queued meanwhile go between two fragments rather than
//! after the whole message; compressed messages are compressed first, then fragmented.
//!
//! [`split`]: WebSocket::split
//!
//! # Feature flags
//!
//! - `connect` (default): `ws_connect` and `ws_connect_with`, aiohttp's `ws_connect`:
//!   dial a `ws://` URL through tulip-net (DNS on the blocking pool, Happy Eyeballs, a
//!   connect timeout). Needs a tulip runtime (`tulip_executor::run`) for name resolution.
//! - `tls`: `wss://` for `ws_connect` through tulip-tls (rustls with the ring provider; the
//!   webpki roots or a custom connector in [`ClientOptions`]).
//! - `http`: `http::WebSocketResponse`, aiohttp's `web.WebSocketResponse` for tulip-http
//!   routes: validation with clear 400 / 403 / 426 refusals, subprotocol and deflate
//!   negotiation, and a `1001 Going Away` close when the server shuts down gracefully.
//!
//! Without features the crate is the protocol core alone, over any stream.
//!
//! # Examples
//!
//! A server and a client over a loopback TCP connection:
//!
//! ```
//! use std::net::{TcpListener, TcpStream};
//! use tulip_reactor::Async;
//! use tulip_ws::{ClientOptions, Message, ServerOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! let server = std::thread::spawn(move || {
//!     tulip_reactor::block_on(async {
//!         let stream = Async::new(listener.accept()?.0)?;
//!         let (mut ws, _request) = tulip_ws::accept(stream, &ServerOptions::default()).await?;
//!         while let Ok(msg) = ws.receive().await {
//!             match msg {
//!                 Message::Text(t) => ws.send_text(&t).await?,
//!                 Message::Close(_) => break,
//!                 _ => {}
//!             }
//!         }
//!         Ok::<_, tulip_ws::Error>(())
//!     })
//! });
//! tulip_reactor::block_on(async {
//!     let stream = Async::new(TcpStream::connect(addr)?)?;
//!     let url = format!("ws://{addr}/echo");
//!     let (mut ws, _) = tulip_ws::client_handshake(stream, &url, &ClientOptions::default()).await?;
//!     ws.send_text("hello").await?;
//!     assert_eq!(ws.receive_text().await?, "hello");
//!     ws.close(tulip_ws::CloseCode::NORMAL, "bye").await?;
//!     Ok::<_, tulip_ws::Error>(())
//! })?;
//! server.join().unwrap()?;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

mod client;
mod close;
mod config;
#[cfg(feature = "connect")]
mod connect;
mod core;
mod decoder;
mod deflate;
mod encoder;
mod error;
mod frame;
mod handshake;
mod heartbeat;
#[cfg(feature = "http")]
pub mod http;
mod message;
mod server;
mod socket;
mod split;
mod timer;
mod trace;

pub use client::{ClientHandshake, ClientOptions, Negotiated, client_handshake};
pub use close::{CloseCode, CloseFrame};
pub use config::{Config, Role};
#[cfg(feature = "connect")]
pub use connect::{ClientStream, ws_connect, ws_connect_with};
pub use deflate::{
    DeflateConfig, DeflateParams, accept_client_response, client_offer, negotiate_server,
};
pub use error::{Error, ProtocolError, Result};
pub use frame::{FrameHeader, MAX_HEADER_LEN, OpCode, apply_mask};
pub use handshake::{accept_key, generate_key};
pub use message::Message;
pub use server::{OriginCheck, Rejection, ServerOptions, Upgrade, accept, upgrade};
pub use socket::WebSocket;
pub use split::{ReadHalf, WriteHalf};
