//! The crate's one opaque [`Error`] and the [`ProtocolError`]s a peer can commit.

use std::fmt;
use std::io;

use crate::close::CloseCode;

/// A violation of RFC 6455 or RFC 7692 by the peer (or a limit of ours it exceeded).
///
/// Each maps to the close code the connection is failed with, see [`ProtocolError::close_code`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A reserved opcode (3-7, 0xB-0xF).
    ReservedOpCode(u8),
    /// A payload length not in its shortest encoding.
    NonMinimalLength,
    /// A 64-bit payload length with the top bit set.
    LengthTooLarge,
    /// RSV bits set that no negotiated extension defines.
    ReservedBits,
    /// A control frame without FIN.
    FragmentedControl,
    /// A control frame with more than 125 payload bytes.
    ControlTooLong,
    /// A continuation frame with no message in progress.
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is in progress.
    ExpectedContinuation,
    /// A client frame without a mask (servers must receive masked frames).
    Unmasked,
    /// A server frame with a mask (clients must receive unmasked frames).
    Masked,
    /// Text (or a close reason) that is not UTF-8.
    InvalidUtf8,
    /// A frame longer than the configured maximum.
    FrameTooLarge,
    /// A message longer than the configured maximum (after decompression).
    MessageTooLarge,
    /// A close frame with a code that may not be sent on the wire.
    InvalidCloseCode(u16),
    /// A close frame with a one-byte payload.
    InvalidClosePayload,
    /// A compressed message that does not inflate.
    InvalidCompressedData,
}

impl ProtocolError {
    /// The close code the connection is failed with (RFC 6455 §7.4.1).
    pub fn close_code(self) -> CloseCode {
        match self {
            ProtocolError::InvalidUtf8 | ProtocolError::InvalidCompressedData => {
                CloseCode::INVALID_PAYLOAD
            }
            ProtocolError::FrameTooLarge
            | ProtocolError::MessageTooLarge
            | ProtocolError::LengthTooLarge => CloseCode::TOO_BIG,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            ProtocolError::ReservedOpCode(_) => "reserved opcode",
            ProtocolError::NonMinimalLength => "payload length not minimally encoded",
            ProtocolError::LengthTooLarge => "payload length out of range",
            ProtocolError::ReservedBits => "reserved bits set",
            ProtocolError::FragmentedControl => "fragmented control frame",
            ProtocolError::ControlTooLong => "control frame payload over 125 bytes",
            ProtocolError::UnexpectedContinuation => "continuation frame without a message",
            ProtocolError::ExpectedContinuation => "new message inside a fragmented message",
            ProtocolError::Unmasked => "unmasked client frame",
            ProtocolError::Masked => "masked server frame",
            ProtocolError::InvalidUtf8 => "invalid UTF-8",
            ProtocolError::FrameTooLarge => "frame too large",
            ProtocolError::MessageTooLarge => "message too large",
            ProtocolError::InvalidCloseCode(_) => "invalid close code",
            ProtocolError::InvalidClosePayload => "one-byte close payload",
            ProtocolError::InvalidCompressedData => "invalid compressed data",
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

impl std::error::Error for ProtocolError {}

/// The cause of a failed handshake, when there is one (an HTTP error, a parse error).
type Cause = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug)]
enum Kind {
    Io(io::Error),
    /// Dialing failed: tulip-http's connector says which step (DNS, TCP, proxy tunnel, TLS)
    /// and which host or proxy.
    #[cfg(feature = "connect")]
    Dial(tulip_http::Error),
    Protocol(ProtocolError),
    Closed,
    Handshake(&'static str, Option<Cause>),
    Rejected(http::StatusCode),
    Timeout,
    /// No byte within this long after a heartbeat ping; the connection was dropped.
    Heartbeat(std::time::Duration),
    /// One `receive` waited this long (the connection is still open).
    ReceiveTimeout(std::time::Duration),
    WrongType,
}

/// Everything that can go wrong with a WebSocket; ask with the `is_xxx()` methods.
///
/// The message text is for people, not an API. `Display` says what failed (and for
/// `ws_connect`, which step and which `host:port`); the underlying error (an `io::Error`
/// from the socket or the resolver, rustls's error inside the `io::Error` of a failed TLS
/// handshake, tulip-http's error for a failed upgrade) is [`source`](std::error::Error::source),
/// and `Display` does not repeat it.
pub struct Error {
    kind: Kind,
}

impl Error {
    pub(crate) fn handshake(msg: &'static str) -> Error {
        Error {
            kind: Kind::Handshake(msg, None),
        }
    }

    /// A handshake failure with the error that caused it.
    pub(crate) fn handshake_caused(msg: &'static str, cause: impl Into<Cause>) -> Error {
        Error {
            kind: Kind::Handshake(msg, Some(cause.into())),
        }
    }

    /// Dialing failed (tulip-http's connector's error names the step and the place).
    #[cfg(feature = "connect")]
    pub(crate) fn dial(e: tulip_http::Error) -> Error {
        Error {
            kind: Kind::Dial(e),
        }
    }

    /// The status with which an HTTP proxy refused the `CONNECT` tunnel `ws_connect` asked
    /// for (407 when it wants credentials); `None` for any other error.
    pub fn proxy_status(&self) -> Option<http::StatusCode> {
        match &self.kind {
            #[cfg(feature = "connect")]
            Kind::Dial(e) => e.proxy_status(),
            _ => None,
        }
    }

    pub(crate) fn rejected(status: http::StatusCode) -> Error {
        Error {
            kind: Kind::Rejected(status),
        }
    }

    pub(crate) fn closed() -> Error {
        Error { kind: Kind::Closed }
    }

    pub(crate) fn timeout() -> Error {
        Error {
            kind: Kind::Timeout,
        }
    }

    pub(crate) fn heartbeat(pong_wait: std::time::Duration) -> Error {
        Error {
            kind: Kind::Heartbeat(pong_wait),
        }
    }

    pub(crate) fn receive_timeout(limit: std::time::Duration) -> Error {
        Error {
            kind: Kind::ReceiveTimeout(limit),
        }
    }

    pub(crate) fn wrong_type() -> Error {
        Error {
            kind: Kind::WrongType,
        }
    }

    /// A message of the other type arrived (binary where text was asked for).
    pub fn is_wrong_type(&self) -> bool {
        matches!(self.kind, Kind::WrongType)
    }

    /// The transport failed (including an unexpected end of stream), or dialing did (then
    /// [`is_connect`](Error::is_connect) is true too).
    pub fn is_io(&self) -> bool {
        match self.kind {
            Kind::Io(_) => true,
            #[cfg(feature = "connect")]
            Kind::Dial(_) => true,
            _ => false,
        }
    }

    /// `ws_connect` could not connect: name resolution, the TCP connect, the proxy's tunnel
    /// ([`proxy_status`](Error::proxy_status)) or the TLS handshake failed, or the connect
    /// timeout passed.
    pub fn is_connect(&self) -> bool {
        match self.kind {
            #[cfg(feature = "connect")]
            Kind::Dial(_) => true,
            _ => false,
        }
    }

    /// The peer violated the protocol; the connection was failed with
    /// [`Error::close_code`].
    pub fn is_protocol(&self) -> bool {
        matches!(self.kind, Kind::Protocol(_))
    }

    /// The WebSocket is closed: the close handshake finished, or this side already closed.
    pub fn is_closed(&self) -> bool {
        matches!(self.kind, Kind::Closed)
    }

    /// The opening handshake failed (bad request, bad response, refused upgrade).
    pub fn is_handshake(&self) -> bool {
        matches!(self.kind, Kind::Handshake(..) | Kind::Rejected(_))
    }

    /// The status the server answered the upgrade request with, when it was not 101
    /// (aiohttp's `WSServerHandshakeError.status`).
    pub fn handshake_status(&self) -> Option<http::StatusCode> {
        match self.kind {
            Kind::Rejected(s) => Some(s),
            _ => None,
        }
    }

    /// A deadline passed: the close handshake, the opening handshake, a heartbeat's pong
    /// ([`is_heartbeat`](Error::is_heartbeat)) or one receive
    /// ([`is_receive_timeout`](Error::is_receive_timeout)).
    pub fn is_timeout(&self) -> bool {
        matches!(
            self.kind,
            Kind::Timeout | Kind::Heartbeat(_) | Kind::ReceiveTimeout(_)
        )
    }

    /// No pong (nor any other byte) arrived in time after a heartbeat ping
    /// ([`Config::heartbeat`](crate::Config::heartbeat)): the connection was dropped without a
    /// close frame, which is close code 1006 ([`close_code`](Error::close_code)), as aiohttp's
    /// `ServerTimeoutError` with `close_code == 1006`. The WebSocket is closed; reconnect.
    pub fn is_heartbeat(&self) -> bool {
        matches!(self.kind, Kind::Heartbeat(_))
    }

    /// A `receive` waited longer than [`Config::receive_timeout`](crate::Config::receive_timeout);
    /// unlike the other timeouts this one leaves the connection open: receive again or close.
    pub fn is_receive_timeout(&self) -> bool {
        matches!(self.kind, Kind::ReceiveTimeout(_))
    }

    /// The protocol violation, if this is one.
    pub fn protocol_error(&self) -> Option<ProtocolError> {
        match self.kind {
            Kind::Protocol(p) => Some(p),
            _ => None,
        }
    }

    /// The close code this error closed the connection with: the one sent for a protocol
    /// error, or 1006 ([`CloseCode::ABNORMAL`], sent to nobody) for a heartbeat timeout.
    pub fn close_code(&self) -> Option<CloseCode> {
        if self.is_heartbeat() {
            return Some(CloseCode::ABNORMAL);
        }
        self.protocol_error().map(ProtocolError::close_code)
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error { kind: Kind::Io(e) }
    }
}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Error {
        Error {
            kind: Kind::Protocol(e),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.kind, f)
    }
}

/// An I/O error's kind in words, unless it says nothing ("other error").
fn io_words(e: &io::Error) -> Option<String> {
    (e.kind() != io::ErrorKind::Other).then(|| e.kind().to_string())
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Io(e) => match io_words(e) {
                Some(w) => write!(f, "websocket i/o failed: {w}"),
                None => f.write_str("websocket i/o failed"),
            },
            // tulip-http's text names the step, the host or proxy, and what to do; its
            // cause is this error's source, so nothing is said twice.
            #[cfg(feature = "connect")]
            Kind::Dial(e) => write!(f, "websocket connect: {e}"),
            Kind::Protocol(p) => write!(f, "websocket protocol error: {p}"),
            Kind::Closed => f.write_str("websocket closed"),
            Kind::Handshake(m, _) => write!(f, "websocket handshake failed: {m}"),
            Kind::Rejected(s) => write!(f, "websocket handshake failed: the server answered {s}"),
            Kind::Timeout => f.write_str("websocket timed out"),
            Kind::Heartbeat(d) => write!(
                f,
                "websocket heartbeat failed: no pong within {d:?} after a heartbeat ping; the \
                 connection was dropped (close code 1006)"
            ),
            Kind::ReceiveTimeout(d) => write!(
                f,
                "websocket receive timed out after {d:?} (the connection is still open)"
            ),
            Kind::WrongType => f.write_str("websocket message of the wrong type"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::Io(e) => Some(e),
            #[cfg(feature = "connect")]
            Kind::Dial(e) => std::error::Error::source(e),
            Kind::Handshake(_, Some(cause)) => Some(&**cause),
            // The protocol error is this error's own content (`protocol_error()`), not a
            // cause below it.
            _ => None,
        }
    }
}

/// A result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn handshake_keeps_its_cause() {
        let cause = io::Error::other("upstream");
        let e = Error::handshake_caused("upgrade failed", cause);
        assert!(e.is_handshake());
        assert_eq!(e.to_string(), "websocket handshake failed: upgrade failed");
        assert_eq!(e.source().unwrap().to_string(), "upstream");
        assert!(Error::handshake("x").source().is_none());
    }

    #[test]
    fn heartbeat_and_receive_timeouts_say_what_happened() {
        let d = std::time::Duration::from_millis(50);
        let hb = Error::heartbeat(d);
        assert!(hb.is_heartbeat() && hb.is_timeout() && !hb.is_receive_timeout());
        assert_eq!(hb.close_code(), Some(CloseCode::ABNORMAL));
        assert!(
            hb.to_string()
                .contains("no pong within 50ms after a heartbeat ping")
        );
        let rt = Error::receive_timeout(d);
        assert!(rt.is_receive_timeout() && rt.is_timeout() && !rt.is_heartbeat());
        assert_eq!(rt.close_code(), None);
        assert!(rt.to_string().contains("still open"));
    }

    #[test]
    fn error_is_send_and_sync() {
        fn is<T: Send + Sync + 'static>() {}
        is::<Error>();
    }
}
