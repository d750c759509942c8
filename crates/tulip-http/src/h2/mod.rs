//! HTTP/2 on the `h2` crate: the same [`App`](crate::App) served over a second protocol.
//!
//! A plain connection starts as HTTP/1.1; when its first bytes are the HTTP/2 connection
//! preface (prior knowledge, RFC 9113 §3.3) the HTTP/1.1 dispatcher hands it over, the bytes
//! it had read replayed ([`io::Rewind`]); a TLS connection goes by the protocol ALPN picked.
//! `h2` speaks tokio's io traits, which the small [`io::Compat`] adapter provides over tulip's
//! futures-io transports: no tokio runtime is involved, only its trait definitions.

pub(crate) mod client;
pub(crate) mod io;
pub(crate) mod server;

use crate::error::{Error, Kind};

/// The client connection preface that opens every HTTP/2 connection.
pub(crate) const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// An `h2` failure as this crate's error, keeping it as the cause: a timed-out transport
/// reads as a timeout, anything else (a reset, a GOAWAY, a protocol error) as I/O.
pub(crate) fn error(e: h2::Error, context: &'static str) -> Error {
    let timed_out = e
        .get_io()
        .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut);
    let kind = if timed_out { Kind::Timeout } else { Kind::Io };
    Error::new(kind, context).with_cause(e)
}

/// The connection-specific headers HTTP/2 forbids in a message (RFC 9113 §8.2.2; `h2` refuses
/// one that carries them).
pub(crate) const CONNECTION_SPECIFIC: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

/// Whether `name` is one of [`CONNECTION_SPECIFIC`]. Callers look over a message's few
/// headers with this first: removing every name on spec parses it and probes the map, five
/// times per message.
pub(crate) fn is_connection_specific(name: &http::HeaderName) -> bool {
    CONNECTION_SPECIFIC.contains(&name.as_str())
}
