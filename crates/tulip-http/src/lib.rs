//! HTTP/1.1 and HTTP/2 for tulip: a server in the spirit of aiohttp.web, on layered protocol
//! code.
//!
//! An [`App`] holds routes (`/users/{id}`, greedy `{tail:.*}`), middleware, typed state and
//! sub-apps; handlers are plain `async fn(Request) -> impl IntoResponse`. [`Server`] binds
//! TCP, TLS (`Server::bind_tls`) and Unix-socket (`Server::bind_unix`) listeners, as many as
//! you like, accepts, and shuts down gracefully; [`Service`] serves any other transport
//! (in-memory pipes, sockets you accepted yourself). Limits and timeouts are on by default ([`ServerConfig`]): a slow or
//! malicious client gets a 400/408/413/414/431 and a closed connection, never a stuck worker.
//!
//! The same [`App`] is served over HTTP/2 (on the `h2` crate, with no tokio runtime): to
//! cleartext clients that open with the HTTP/2 preface (`curl --http2-prior-knowledge`), and
//! on TLS listeners when ALPN picks `h2`; see [`ServerConfig::http2`].
//!
//! Features (`json`, `gzip`, `tls` default): `json` adds `Request::json` and `Response::json`
//! through serde; `gzip` adds response compression ([`Response::enable_compression`],
//! [`ServerConfig::compression`]) and the client's gzip/deflate decoding; `tls` adds HTTPS
//! for the client and TLS serving; `brotli` (off by default) adds the client's decoding of
//! `Content-Encoding: br` through the pure-Rust brotli-decompressor.
//!
//! # Examples
//!
//! ```
//! use tulip_http::{App, Request, Server};
//! use futures_lite::{AsyncReadExt, AsyncWriteExt};
//!
//! async fn hello(req: Request) -> String {
//!     format!("Hello, {}", req.match_info("name").unwrap_or("anonymous"))
//! }
//!
//! tulip_executor::run(async {
//!     let server = Server::bind("127.0.0.1:0", App::new().get("/{name}", hello)).unwrap();
//!     let addr = server.local_addr();
//!     let stop = server.shutdown_handle();
//!     let running = tulip_executor::spawn(server.run());
//!
//!     let std = std::net::TcpStream::connect(addr).unwrap();
//!     let mut conn = tulip_reactor::Async::new(std).unwrap();
//!     conn.write_all(b"GET /tulip HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
//!     let mut reply = String::new();
//!     conn.read_to_string(&mut reply).await.unwrap();
//!     assert!(reply.starts_with("HTTP/1.1 200 OK"));
//!     assert!(reply.ends_with("Hello, tulip"));
//!
//!     stop.shutdown();
//!     running.await.unwrap();
//! });
//! ```

#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

mod client;
mod error;
mod h2;
mod proto;
mod server;
mod trace;

pub use client::{
    BasicAuth, Client, ClientBuilder, ClientResponse, ClientTimeout, Connector, CookieJar,
    FormData, PoolStats, Proxies, Proxy, RequestBuilder, StoredCookie,
};
pub use error::{Error, Result, TimeoutKind};
pub use server::{
    ACCESS_LOG_TARGET, AccessLogFormat, App, AppState, Body, BodyWriter, Cookie, EventSender,
    FileResponse, Form, FormFile, FormValue, Handler, HookError, HookResult, IntoResponse, Io,
    Middleware, Multipart, MultipartLimits, Next, OnUpgrade, Part, Request, Response, SameSite,
    Server, ServerConfig, Service, ShutdownHandle, ShutdownSignal, Upgraded,
};

/// The `http` crate's types that tulip-http's API uses, re-exported so that users name
/// status codes, methods and headers without a direct dependency: `tulip_http::StatusCode`,
/// `tulip_http::header::CONTENT_TYPE`. They *are* the `http` 1.x types (not copies), so they
/// mix with code written for hyper, axum or reqwest. The `http` crate itself is not
/// re-exported: every type the API needs is here, and one path per type keeps paths short
/// (`tulip::http::StatusCode` through the umbrella crate).
pub use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version, header};

/// Entry points for property tests and fuzzers; not a stable API.
#[doc(hidden)]
pub mod __fuzz {
    /// Parses one request head with default limits: `Ok(None)` if incomplete, `Ok(Some(len))`
    /// with the head length, or the error's status code.
    pub fn parse_request(buf: &[u8]) -> Result<Option<usize>, u16> {
        let limits = crate::ServerConfig::default().head_limits();
        match crate::proto::role::parse_whole(buf, &limits) {
            Ok(Some(h)) => Ok(Some(h.head.len())),
            Ok(None) => Ok(None),
            Err(e) => Err(e.status().as_u16()),
        }
    }

    /// Decodes a chunked body fed `step` bytes at a time: the body or an error description.
    pub fn decode_chunked(input: &[u8], step: usize, limit: u64) -> Result<Vec<u8>, String> {
        crate::proto::decode::decode_all(
            crate::proto::decode::Decoder::chunked(limit),
            input,
            step.max(1),
        )
        .map_err(|e| format!("{e:?}"))
    }

    /// Parses a response head (client role) and decodes the body it frames for a `GET`, fed
    /// `step` bytes at a time: the status and body, `Ok(None)` if the head is incomplete, or
    /// an error description.
    pub fn parse_response(
        input: &[u8],
        step: usize,
        limit: u64,
    ) -> Result<Option<(u16, Vec<u8>)>, String> {
        let Some(head) =
            crate::proto::client::parse_response(input, 16 * 1024).map_err(|e| format!("{e:?}"))?
        else {
            return Ok(None);
        };
        let decoder = crate::proto::client::response_framing(&http::Method::GET, &head, limit)
            .map_err(|e| format!("{e:?}"))?;
        let body = crate::proto::decode::decode_all(decoder, &input[head.len..], step.max(1))
            .map_err(|e| format!("{e:?}"))?;
        Ok(Some((head.status.as_u16(), body)))
    }
}
