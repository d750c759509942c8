//! The one opaque error type of the crate.
//!
//! Callers branch on the `is_xxx()` predicates; the message text is not an API.

use std::fmt;

/// What went wrong, privately: the public surface is the `is_xxx()` predicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Malformed HTTP: a bad head, bad framing, a bad chunk.
    Parse(Parse),
    /// The peer took longer than a configured timeout.
    Timeout,
    /// A body was larger than the configured limit.
    BodyTooLarge,
    /// The connection closed before a message was complete.
    Incomplete,
    /// An I/O error from the transport.
    Io(std::io::ErrorKind),
    /// The body was already taken, or the connection is gone.
    BodyUnavailable,
    /// Bad user input to a constructor (e.g. an invalid header value).
    User,
    /// Decoding a body as text, JSON or form failed.
    Decode,
    /// The client could not connect (DNS, TCP or TLS handshake).
    Connect(std::io::ErrorKind),
    /// The client followed more redirects than allowed.
    Redirect,
}

/// Which parse rule a message broke; it decides the status code a server answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parse {
    /// Generic syntax error: 400.
    Syntax,
    /// The head (or a header line) exceeded the limit: 431.
    HeadTooLarge,
    /// The request line exceeded the limit: 414.
    UriTooLong,
    /// More headers than the limit: 431.
    TooManyHeaders,
    /// A bad or ambiguous Content-Length / Transfer-Encoding: 400.
    Framing,
    /// A bad chunk size line, extension or trailer: 400.
    Chunk,
    /// A version other than HTTP/1.0 or HTTP/1.1: 505.
    Version,
}

/// The error type of tulip-http.
///
/// Opaque on purpose: use [`is_timeout`](Error::is_timeout), [`is_parse`](Error::is_parse)
/// and friends to branch; the `Display` text may change.
#[derive(Clone)]
pub struct Error {
    kind: Kind,
    context: &'static str,
}

impl Error {
    pub(crate) fn new(kind: Kind, context: &'static str) -> Error {
        Error { kind, context }
    }

    pub(crate) fn parse(p: Parse, context: &'static str) -> Error {
        Error::new(Kind::Parse(p), context)
    }

    pub(crate) fn io(e: &std::io::Error) -> Error {
        Error::new(Kind::Io(e.kind()), "i/o error")
    }

    /// The peer sent malformed HTTP.
    pub fn is_parse(&self) -> bool {
        matches!(self.kind, Kind::Parse(_))
    }

    /// A configured timeout fired (header read, idle, body rate, write).
    pub fn is_timeout(&self) -> bool {
        self.kind == Kind::Timeout
    }

    /// A body exceeded its size limit.
    pub fn is_body_too_large(&self) -> bool {
        self.kind == Kind::BodyTooLarge
    }

    /// The connection ended in the middle of a message.
    pub fn is_incomplete(&self) -> bool {
        self.kind == Kind::Incomplete
    }

    /// The transport failed.
    pub fn is_io(&self) -> bool {
        matches!(self.kind, Kind::Io(_))
    }

    /// A value given to a constructor was invalid, or a body was read twice.
    pub fn is_user(&self) -> bool {
        matches!(self.kind, Kind::User | Kind::BodyUnavailable)
    }

    /// A body could not be decoded as UTF-8 text, JSON or a form.
    pub fn is_decode(&self) -> bool {
        self.kind == Kind::Decode
    }

    /// The client could not connect: name resolution, TCP connect or the TLS handshake failed.
    pub fn is_connect(&self) -> bool {
        matches!(self.kind, Kind::Connect(_))
    }

    /// The client stopped after too many redirects.
    pub fn is_redirect(&self) -> bool {
        self.kind == Kind::Redirect
    }

    /// The status code a server answers this error with.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode as S;
        match self.kind {
            Kind::Parse(Parse::HeadTooLarge | Parse::TooManyHeaders) => {
                S::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            Kind::Parse(Parse::UriTooLong) => S::URI_TOO_LONG,
            Kind::Parse(Parse::Version) => S::HTTP_VERSION_NOT_SUPPORTED,
            Kind::Parse(_) | Kind::Decode | Kind::Incomplete => S::BAD_REQUEST,
            Kind::BodyTooLarge => S::PAYLOAD_TOO_LARGE,
            Kind::Timeout => S::REQUEST_TIMEOUT,
            Kind::Io(_) | Kind::BodyUnavailable | Kind::User => S::INTERNAL_SERVER_ERROR,
            Kind::Connect(_) | Kind::Redirect => S::BAD_GATEWAY,
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("context", &self.context)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            Kind::Parse(_) => "malformed HTTP",
            Kind::Timeout => "timed out",
            Kind::BodyTooLarge => "body too large",
            Kind::Incomplete => "connection closed mid-message",
            Kind::Io(_) => "i/o error",
            Kind::BodyUnavailable => "body unavailable",
            Kind::User => "invalid argument",
            Kind::Decode => "body decode failed",
            Kind::Connect(_) => "connect failed",
            Kind::Redirect => "too many redirects",
        };
        write!(f, "{what}: {}", self.context)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        if e.kind() == std::io::ErrorKind::TimedOut {
            return Error::new(Kind::Timeout, "i/o timed out");
        }
        Error::io(&e)
    }
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> std::io::Error {
        let kind = match e.kind {
            Kind::Io(k) | Kind::Connect(k) => k,
            Kind::Timeout => std::io::ErrorKind::TimedOut,
            Kind::Incomplete => std::io::ErrorKind::UnexpectedEof,
            _ => std::io::ErrorKind::InvalidData,
        };
        std::io::Error::new(kind, e)
    }
}

/// A `Result` with tulip-http's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
