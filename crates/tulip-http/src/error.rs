//! The one opaque error type of the crate.
//!
//! Callers branch on the `is_xxx()` predicates; the message text is not an API. An error
//! records three things: what went wrong (a private [`Kind`], behind the predicates), where
//! (the [`Phase`] of the exchange and the host, URL or peer it was talking to), and why (the
//! underlying error, returned by `source()`).
//!
//! `Display` names the phase, the place and, where one helps, what to do; it does not repeat
//! the cause's text, which `source()` returns (so error reporters that walk the chain, such
//! as anyhow's `{:#}`, print every link once). Construction sites low in the stack (the
//! connection's reads and writes) know only the kind and the cause; the layers above add the
//! phase and the place with [`Error::during`] and [`Error::at`], which never overwrite what a
//! lower layer already said.

use std::fmt;
use std::io;
use std::sync::Arc;

/// The cause of an error: any error type, shared so that [`Error`] stays cheap to clone.
pub(crate) type Cause = Arc<dyn std::error::Error + Send + Sync>;

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
    Io,
    /// The body was already taken, or the connection is gone.
    BodyUnavailable,
    /// Bad user input to a constructor (e.g. an invalid header value).
    User,
    /// A handler panicked.
    Panic,
    /// Decoding a body as text, JSON or form failed.
    Decode,
    /// The client could not connect (DNS, TCP or TLS handshake).
    Connect,
    /// The client followed more redirects than allowed.
    Redirect,
    /// A lifecycle hook (startup, shutdown, cleanup) failed.
    Hook,
    /// The client got a 4xx or 5xx response and was asked to raise for status.
    Status,
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

/// Where in an exchange an error happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Client: resolving the host name.
    Resolve,
    /// Client: the TCP connect.
    Connect,
    /// Client: asking an HTTP proxy for a `CONNECT` tunnel.
    ProxyTunnel,
    /// Client: the TLS handshake.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    TlsHandshake,
    /// Client: writing the request head and body.
    SendRequest,
    /// Client: reading the response's status line and headers.
    ReadResponseHead,
    /// Client: reading the response body.
    ReadResponseBody,
    /// Client: following a redirect.
    Redirect,
    /// Server: binding a listener.
    Bind,
    /// Server: accepting a connection.
    Accept,
    /// Server: reading a request's head.
    ReadRequestHead,
    /// Server: reading a request's body.
    ReadRequestBody,
    /// Server: running the handler.
    Handler,
    /// Server: writing the response.
    WriteResponse,
    /// Server: handing the connection over after `101 Switching Protocols`.
    Upgrade,
    /// Server: reading a file to serve it.
    ServeFile,
    /// Server: running the startup hooks.
    Startup,
    /// Server: running the shutdown hooks.
    Shutdown,
    /// Server: running the cleanup hooks.
    Cleanup,
}

impl Phase {
    /// The phrase a message starts with; the place, if known, follows it.
    fn phrase(self) -> &'static str {
        match self {
            Phase::Resolve => "DNS resolution of",
            Phase::Connect => "TCP connect to",
            Phase::ProxyTunnel => "opening a tunnel through",
            Phase::TlsHandshake => "TLS handshake with",
            Phase::SendRequest => "sending the request to",
            Phase::ReadResponseHead => "reading the response head from",
            Phase::ReadResponseBody => "reading the response body from",
            Phase::Redirect => "following the redirect from",
            Phase::Bind => "binding",
            Phase::Accept => "accepting a connection on",
            Phase::ReadRequestHead => "reading the request head from",
            Phase::ReadRequestBody => "reading the request body from",
            Phase::Handler => "the handler for",
            Phase::WriteResponse => "writing the response to",
            Phase::Upgrade => "upgrading the connection from",
            Phase::ServeFile => "serving the file",
            Phase::Startup => "starting the app",
            Phase::Shutdown => "shutting the app down",
            Phase::Cleanup => "cleaning the app up",
        }
    }
}

#[derive(Clone)]
struct Repr {
    kind: Kind,
    phase: Option<Phase>,
    /// The host:port, URL, address or path the error concerns.
    place: Option<Arc<str>>,
    /// A short description of what broke, when the kind alone does not say it.
    detail: Option<&'static str>,
    cause: Option<Cause>,
    /// Which client timeout fired, for [`Kind::Timeout`] errors of the client.
    timeout: Option<TimeoutKind>,
    /// The response that [`Kind::Status`] is about.
    response: Option<Box<ResponseInfo>>,
}

/// Which of the client's timeouts ([`ClientTimeout`](crate::ClientTimeout)) fired, from
/// [`Error::timeout_kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// `total`: the whole request, redirects and body included.
    Total,
    /// `connect`: waiting for a pool slot plus DNS, TCP connect and TLS handshake.
    Connect,
    /// `sock_connect`: the TCP connect and TLS handshake of a new connection.
    SockConnect,
    /// `sock_read`: no byte arrived (or none could be written) for that long.
    SockRead,
}

impl TimeoutKind {
    /// The field of [`ClientTimeout`](crate::ClientTimeout) that names it (`"sock_read"`).
    pub fn name(self) -> &'static str {
        match self {
            TimeoutKind::Total => "total",
            TimeoutKind::Connect => "connect",
            TimeoutKind::SockConnect => "sock_connect",
            TimeoutKind::SockRead => "sock_read",
        }
    }
}

/// What a status error (aiohttp's `ClientResponseError`) keeps of its response.
#[derive(Debug, Clone)]
struct ResponseInfo {
    status: http::StatusCode,
    reason: Arc<str>,
    headers: http::HeaderMap,
    url: http::Uri,
}

/// The error type of tulip-http.
///
/// Opaque on purpose: use [`is_timeout`](Error::is_timeout), [`is_connect`](Error::is_connect)
/// and friends to branch, and [`source`](std::error::Error::source) for the underlying error
/// (an [`io::Error`] from the socket or the resolver, rustls's error inside the `io::Error` of
/// a failed TLS handshake, a `serde_json::Error`, ...). The `Display` text names the phase
/// that failed (DNS resolution, TCP connect, TLS handshake, sending the request, reading the
/// response head or body; on the server, reading the request, writing the response) and the
/// host, URL or peer, and may change between versions.
///
/// `Display` does not repeat the cause: print the whole chain to see it.
///
/// ```
/// use std::error::Error as _;
///
/// tulip_executor::run(async {
///     let client = tulip_http::Client::new();
///     // `.invalid` names never resolve (RFC 6761).
///     let err = client.get("http://no-such-host.invalid/").send().await.unwrap_err();
///     assert!(err.is_connect());
///     assert!(err.to_string().starts_with("DNS resolution of no-such-host.invalid:80 failed"));
///     // The resolver's own error is the cause.
///     let cause = err.source().unwrap();
///     assert!(cause.downcast_ref::<std::io::Error>().is_some());
///
///     // The whole chain, one link per line:
///     let mut link: Option<&dyn std::error::Error> = Some(&err);
///     while let Some(e) = link {
///         println!("{e}");
///         link = e.source();
///     }
/// });
/// ```
#[derive(Clone)]
pub struct Error {
    inner: Box<Repr>,
}

impl Error {
    pub(crate) fn new(kind: Kind, detail: &'static str) -> Error {
        Error {
            inner: Box::new(Repr {
                kind,
                phase: None,
                place: None,
                detail: Some(detail),
                cause: None,
                timeout: None,
                response: None,
            }),
        }
    }

    /// An error whose kind says it all; the cause or the phase give the rest.
    pub(crate) fn bare(kind: Kind) -> Error {
        Error {
            inner: Box::new(Repr {
                kind,
                phase: None,
                place: None,
                detail: None,
                cause: None,
                timeout: None,
                response: None,
            }),
        }
    }

    pub(crate) fn parse(p: Parse, detail: &'static str) -> Error {
        Error::new(Kind::Parse(p), detail)
    }

    /// A transport error: a timeout when the I/O error is `TimedOut`, else [`Kind::Io`]. The
    /// `io::Error` is kept as the cause.
    pub(crate) fn io(e: io::Error) -> Error {
        let kind = match e.kind() {
            io::ErrorKind::TimedOut => Kind::Timeout,
            _ => Kind::Io,
        };
        Error::bare(kind).with_cause(e)
    }

    /// A timeout with an `io::Error` of kind `TimedOut` as its cause, so that code which
    /// only looks at I/O error kinds sees it too.
    pub(crate) fn timeout(what: &'static str) -> Error {
        Error::new(Kind::Timeout, what).with_cause(io::Error::from(io::ErrorKind::TimedOut))
    }

    /// The peer closed the connection mid-message: an `io::Error` of kind `UnexpectedEof` is
    /// the cause.
    pub(crate) fn incomplete(what: &'static str) -> Error {
        Error::new(Kind::Incomplete, what).with_cause(io::Error::from(io::ErrorKind::UnexpectedEof))
    }

    /// A client timeout that says which of the [`ClientTimeout`](crate::ClientTimeout) limits
    /// fired.
    pub(crate) fn client_timeout(which: TimeoutKind) -> Error {
        Error::timeout(match which {
            TimeoutKind::Total => "the total timeout elapsed",
            TimeoutKind::Connect => "the connect timeout elapsed",
            TimeoutKind::SockConnect => "the sock_connect timeout elapsed",
            TimeoutKind::SockRead => "the sock_read timeout elapsed",
        })
        .with_timeout_kind(which)
    }

    /// Names the client timeout behind a timeout error that does not name one yet (a read
    /// or write that hit its deadline); other errors pass unchanged.
    pub(crate) fn with_timeout_kind(mut self, which: TimeoutKind) -> Error {
        if self.inner.kind == Kind::Timeout && self.inner.timeout.is_none() {
            self.inner.timeout = Some(which);
        }
        self
    }

    /// A 4xx or 5xx response turned into an error (`raise_for_status`).
    pub(crate) fn status_error(
        status: http::StatusCode,
        reason: &str,
        headers: http::HeaderMap,
        url: http::Uri,
    ) -> Error {
        let mut e = Error::bare(Kind::Status).at(&url);
        e.inner.response = Some(Box::new(ResponseInfo {
            status,
            reason: reason.into(),
            headers,
            url,
        }));
        e
    }

    /// Sets the cause.
    pub(crate) fn with_cause(
        mut self,
        cause: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Error {
        self.inner.cause = Some(Arc::from(cause.into()));
        self
    }

    /// Says in which phase the error happened, unless a lower layer already did.
    pub(crate) fn during(mut self, phase: Phase) -> Error {
        self.inner.phase.get_or_insert(phase);
        self
    }

    /// Says which host, URL, peer or path the error concerns, unless a lower layer already did.
    pub(crate) fn at(mut self, place: impl fmt::Display) -> Error {
        if self.inner.place.is_none() {
            self.inner.place = Some(place.to_string().into());
        }
        self
    }

    /// Turns an error of the transport into a connect error of `phase` (a timeout stays one).
    pub(crate) fn connect(e: io::Error, phase: Phase) -> Error {
        let kind = match e.kind() {
            io::ErrorKind::TimedOut => Kind::Timeout,
            _ => Kind::Connect,
        };
        Error::bare(kind).with_cause(e).during(phase)
    }

    /// The peer sent malformed HTTP.
    pub fn is_parse(&self) -> bool {
        matches!(self.inner.kind, Kind::Parse(_))
    }

    /// A configured timeout fired (connect, read, total; on the server header read, idle,
    /// body rate, write).
    pub fn is_timeout(&self) -> bool {
        self.inner.kind == Kind::Timeout
    }

    /// A body exceeded its size limit.
    pub fn is_body_too_large(&self) -> bool {
        self.inner.kind == Kind::BodyTooLarge
    }

    /// The connection ended in the middle of a message.
    pub fn is_incomplete(&self) -> bool {
        self.inner.kind == Kind::Incomplete
    }

    /// The transport failed after the connection was established.
    pub fn is_io(&self) -> bool {
        self.inner.kind == Kind::Io
    }

    /// A value given to a constructor was invalid, or a body was read twice.
    pub fn is_user(&self) -> bool {
        matches!(self.inner.kind, Kind::User | Kind::BodyUnavailable)
    }

    /// A handler panicked.
    pub fn is_panic(&self) -> bool {
        self.inner.kind == Kind::Panic
    }

    /// A body could not be decoded as UTF-8 text, JSON or a form.
    pub fn is_decode(&self) -> bool {
        self.inner.kind == Kind::Decode
    }

    /// The client could not connect: name resolution, TCP connect or the TLS handshake failed
    /// (a connect that timed out is [`is_timeout`](Error::is_timeout) instead).
    pub fn is_connect(&self) -> bool {
        self.inner.kind == Kind::Connect
    }

    /// The status with which an HTTP proxy refused a `CONNECT` tunnel (407 when it wants
    /// credentials, 403 when its rules forbid the host or port, 502 or 503 when it could not
    /// reach the server); `None` for any other error. Such an error is also
    /// [`is_connect`](Error::is_connect).
    pub fn proxy_status(&self) -> Option<http::StatusCode> {
        let cause = self.inner.cause.as_deref()?;
        cause
            .downcast_ref::<crate::client::ProxyRefused>()
            .map(|r| r.status)
    }

    /// The client stopped after too many redirects.
    pub fn is_redirect(&self) -> bool {
        self.inner.kind == Kind::Redirect
    }

    /// A lifecycle hook (`on_startup`, `on_shutdown`, `on_cleanup`, `cleanup_ctx`) failed;
    /// its error is the [`source`](std::error::Error::source).
    pub fn is_hook(&self) -> bool {
        self.inner.kind == Kind::Hook
    }

    /// The server answered with a 4xx or 5xx status and the client was asked to raise for
    /// status ([`ClientBuilder::raise_for_status`](crate::ClientBuilder::raise_for_status),
    /// [`RequestBuilder::raise_for_status`](crate::RequestBuilder::raise_for_status),
    /// [`ClientResponse::raise_for_status`](crate::ClientResponse::raise_for_status)): aiohttp's
    /// `ClientResponseError`. [`response_status`](Error::response_status) and its siblings
    /// say what the response was.
    ///
    /// ```
    /// use tulip_http::{App, Client, Request, Server, StatusCode};
    ///
    /// tulip_executor::run(async {
    ///     let app = App::new().get("/", |_req: Request| async { StatusCode::IM_A_TEAPOT });
    ///     let server = Server::bind("127.0.0.1:0", app).unwrap();
    ///     let url = format!("http://{}/", server.local_addr());
    ///     let stop = server.shutdown_handle();
    ///     let running = tulip_executor::spawn(server.run());
    ///
    ///     let client = Client::builder().raise_for_status(true).build();
    ///     let err = client.get(&url).send().await.unwrap_err();
    ///     assert!(err.is_status());
    ///     assert_eq!(err.response_status(), Some(StatusCode::IM_A_TEAPOT));
    ///     assert_eq!(err.response_reason(), Some("I'm a teapot"));
    ///     assert_eq!(err.response_url().unwrap().to_string(), url);
    ///
    ///     stop.shutdown();
    ///     running.await.unwrap().unwrap();
    /// });
    /// ```
    pub fn is_status(&self) -> bool {
        self.inner.kind == Kind::Status
    }

    /// The status of the response a status error is about (aiohttp's
    /// `ClientResponseError.status`); `None` for other errors.
    pub fn response_status(&self) -> Option<http::StatusCode> {
        self.inner.response.as_ref().map(|r| r.status)
    }

    /// The reason phrase of that response, as the server sent it (aiohttp's `message`).
    pub fn response_reason(&self) -> Option<&str> {
        self.inner.response.as_ref().map(|r| &*r.reason)
    }

    /// The headers of that response (aiohttp's `headers`).
    pub fn response_headers(&self) -> Option<&http::HeaderMap> {
        self.inner.response.as_ref().map(|r| &r.headers)
    }

    /// The URL that answered (after redirects; aiohttp's `request_info.real_url`).
    pub fn response_url(&self) -> Option<&http::Uri> {
        self.inner.response.as_ref().map(|r| &r.url)
    }

    /// Which client timeout fired, for a client's [`is_timeout`](Error::is_timeout) error:
    /// `total`, `connect`, `sock_connect` or `sock_read` (see
    /// [`ClientTimeout`](crate::ClientTimeout)); `None` for other errors and server timeouts.
    pub fn timeout_kind(&self) -> Option<TimeoutKind> {
        self.inner.timeout
    }

    /// The status code a server answers this error with.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode as S;
        match self.inner.kind {
            Kind::Parse(Parse::HeadTooLarge | Parse::TooManyHeaders) => {
                S::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            Kind::Parse(Parse::UriTooLong) => S::URI_TOO_LONG,
            Kind::Parse(Parse::Version) => S::HTTP_VERSION_NOT_SUPPORTED,
            Kind::Parse(_) | Kind::Decode | Kind::Incomplete => S::BAD_REQUEST,
            Kind::BodyTooLarge => S::PAYLOAD_TOO_LARGE,
            Kind::Timeout => S::REQUEST_TIMEOUT,
            Kind::Io | Kind::BodyUnavailable | Kind::User | Kind::Panic | Kind::Hook => {
                S::INTERNAL_SERVER_ERROR
            }
            Kind::Connect | Kind::Redirect | Kind::Status => S::BAD_GATEWAY,
        }
    }

    /// The reason to show a client for a 400 or 413 the server decided on (a malformed or
    /// oversized form, a bad body): only our own fixed texts, never a cause's.
    pub(crate) fn client_reason(&self) -> Option<&'static str> {
        match self.inner.kind {
            Kind::Decode | Kind::BodyTooLarge => self.inner.detail,
            _ => None,
        }
    }

    /// The first `io::Error` in the cause chain.
    fn io_cause(&self) -> Option<&io::Error> {
        let mut link: Option<&(dyn std::error::Error + 'static)> =
            self.inner.cause.as_deref().map(|c| c as _);
        while let Some(e) = link {
            if let Some(io) = e.downcast_ref::<io::Error>() {
                return Some(io);
            }
            link = e.source();
        }
        None
    }

    /// What broke, in a few words: the detail given at construction, else the I/O error's
    /// kind, else the kind's own description.
    fn what(&self) -> String {
        if let Some(status) = self.proxy_status() {
            return format!(
                "the proxy refused the tunnel with status {}",
                status.as_u16()
            );
        }
        if let Some(r) = &self.inner.response {
            return format!("{} {}", r.status.as_u16(), r.reason);
        }
        if let Some(t) = self.inner.timeout {
            let base = self.inner.detail.unwrap_or("timed out");
            return if base.contains(t.name()) {
                base.to_owned()
            } else {
                format!("{base} (the {} timeout)", t.name())
            };
        }
        if let Some(d) = self.inner.detail {
            return d.to_owned();
        }
        if self.inner.phase == Some(Phase::Resolve) && self.inner.kind == Kind::Connect {
            // The resolver's errors have no useful kind ("uncategorized"); the cause has
            // its words.
            return "the name did not resolve".to_owned();
        }
        if let Some(io) = self.io_cause().filter(|e| e.kind() != io::ErrorKind::Other) {
            return io.kind().to_string();
        }
        match self.inner.kind {
            Kind::Parse(_) => "malformed HTTP",
            Kind::Timeout => "timed out",
            Kind::BodyTooLarge => "body too large",
            Kind::Incomplete => "connection closed mid-message",
            Kind::Io => "i/o error",
            Kind::BodyUnavailable => "body unavailable",
            Kind::User => "invalid argument",
            Kind::Panic => "handler panicked",
            Kind::Decode => "body decode failed",
            Kind::Connect => "could not connect",
            Kind::Redirect => "too many redirects",
            Kind::Hook => "a hook failed",
            Kind::Status => "error status",
        }
        .to_owned()
    }

    /// What the user can do about it, where that is clear from the phase and the cause.
    fn hint(&self) -> Option<&'static str> {
        let io_kind = self.io_cause().map(io::Error::kind);
        match (self.inner.phase?, self.inner.kind) {
            (Phase::Resolve, Kind::Timeout) => Some("the resolver did not answer in time"),
            (Phase::Resolve, _) => Some("check the host name and the system's DNS settings"),
            (Phase::Connect, Kind::Timeout) => Some(
                "nothing answered in time; check the address and firewalls, or raise the connect timeout",
            ),
            (Phase::Connect, _) if io_kind == Some(io::ErrorKind::ConnectionRefused) => {
                Some("is a server listening on that port?")
            }
            (Phase::ProxyTunnel, _) => match self.proxy_status().map(|s| s.as_u16()) {
                Some(401 | 407) => Some(
                    "the proxy wants (other) credentials: give them with proxy_auth, or as \
                     user:password@ in the proxy URL",
                ),
                Some(403) => Some("the proxy's rules forbid tunnels to this host or port"),
                Some(502..=504) => Some("the proxy could not reach the server"),
                _ => None,
            },
            (Phase::TlsHandshake, Kind::Timeout) => None,
            (Phase::TlsHandshake, _) if io_kind == Some(io::ErrorKind::InvalidData) => Some(
                "if the server's certificate is self-signed or from a private CA, trust that CA \
                 (ClientBuilder::add_root_certificate_pem, or the TlsConnector you pass); see the \
                 cause for rustls's reason",
            ),
            (Phase::ReadResponseHead | Phase::ReadResponseBody, Kind::Timeout) => {
                Some("the server sent nothing for the read timeout; raise it if the server is slow")
            }
            (Phase::ReadResponseHead, Kind::Incomplete) => {
                Some("the server closed the connection without answering")
            }
            (Phase::ReadResponseBody, Kind::BodyTooLarge) => {
                Some("raise ClientBuilder::max_body_size, or stream the body with chunk()")
            }
            (_, Kind::Timeout) if self.inner.timeout == Some(TimeoutKind::Total) => Some(
                "the whole request took longer than ClientTimeout::total; raise it if that is expected",
            ),
            (Phase::Redirect, Kind::Redirect) => {
                Some("raise max_redirects, or set it to 0 to see the redirect")
            }
            (Phase::Bind, _) if io_kind == Some(io::ErrorKind::AddrInUse) => {
                Some("another process listens on that address")
            }
            _ => None,
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.inner.kind);
        if let Some(p) = self.inner.phase {
            d.field("phase", &p);
        }
        if let Some(p) = &self.inner.place {
            d.field("place", p);
        }
        if let Some(x) = self.inner.detail {
            d.field("detail", &x);
        }
        if let Some(c) = &self.inner.cause {
            d.field("cause", c);
        }
        if let Some(t) = self.inner.timeout {
            d.field("timeout", &t);
        }
        if let Some(r) = &self.inner.response {
            d.field("response", r);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.inner.phase {
            Some(phase) => {
                f.write_str(phase.phrase())?;
                if let Some(place) = &self.inner.place {
                    write!(f, " {place}")?;
                }
                write!(f, " failed: {}", self.what())?;
            }
            None => {
                f.write_str(&self.what())?;
                if let Some(place) = &self.inner.place {
                    write!(f, " ({place})")?;
                }
            }
        }
        if let Some(hint) = self.hint() {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.cause.as_deref().map(|c| c as _)
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::io(e)
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match e.inner.kind {
            Kind::Timeout => io::ErrorKind::TimedOut,
            Kind::Incomplete => io::ErrorKind::UnexpectedEof,
            Kind::Io | Kind::Connect => e.io_cause().map_or(io::ErrorKind::Other, io::Error::kind),
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e)
    }
}

/// Converts a header name and value the way the `http` crate does; an invalid one is a
/// [`Kind::User`] error with the `http` crate's error as its cause.
pub(crate) fn header_pair<K, V>(
    name: K,
    value: V,
) -> Result<(http::HeaderName, http::HeaderValue), Error>
where
    http::HeaderName: TryFrom<K>,
    <http::HeaderName as TryFrom<K>>::Error: Into<http::Error>,
    http::HeaderValue: TryFrom<V>,
    <http::HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
{
    let name = http::HeaderName::try_from(name)
        .map_err(|e| Error::new(Kind::User, "invalid header name").with_cause(e.into()))?;
    let value = http::HeaderValue::try_from(value).map_err(|e| {
        Error::new(Kind::User, "invalid header value")
            .with_cause(e.into())
            .at(name.as_str())
    })?;
    Ok((name, value))
}

/// A `Result` with tulip-http's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Formats an error with its whole cause chain on one line, for logs.
pub(crate) struct Chain<'a>(pub(crate) &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut link = self.0.source();
        while let Some(e) = link {
            write!(f, ": {e}")?;
            link = e.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_phase_place_and_hint() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        let e = Error::connect(refused, Phase::Connect).at("127.0.0.1:9");
        assert_eq!(
            e.to_string(),
            "TCP connect to 127.0.0.1:9 failed: connection refused (is a server listening on that port?)"
        );
        assert!(e.is_connect());
        let cause = std::error::Error::source(&e).unwrap();
        assert_eq!(
            cause.downcast_ref::<io::Error>().unwrap().kind(),
            io::ErrorKind::ConnectionRefused
        );
    }

    #[test]
    fn lower_layers_win() {
        let e = Error::new(Kind::Incomplete, "closed inside a body")
            .during(Phase::ReadRequestBody)
            .at("1.2.3.4:5")
            .during(Phase::WriteResponse)
            .at("elsewhere");
        assert_eq!(
            e.to_string(),
            "reading the request body from 1.2.3.4:5 failed: closed inside a body"
        );
    }

    #[test]
    fn no_phase_reads_like_before() {
        let e = Error::new(Kind::User, "invalid header value");
        assert_eq!(e.to_string(), "invalid header value");
        assert!(std::error::Error::source(&e).is_none());
    }

    #[test]
    fn timeouts_carry_a_timed_out_io_error() {
        let e = Error::timeout("no response within the read timeout")
            .during(Phase::ReadResponseHead)
            .at("http://h/");
        assert!(e.is_timeout());
        let io: io::Error = e.clone().into();
        assert_eq!(io.kind(), io::ErrorKind::TimedOut);
        assert!(
            e.to_string()
                .starts_with("reading the response head from http://h/ failed")
        );
    }

    #[test]
    fn chain_prints_every_link() {
        let e = Error::io(io::Error::other("boom"))
            .during(Phase::SendRequest)
            .at("h:1");
        assert_eq!(
            Chain(&e).to_string(),
            "sending the request to h:1 failed: i/o error: boom"
        );
    }

    #[test]
    fn error_is_send_sync_and_small() {
        fn is<T: Send + Sync + 'static>() {}
        is::<Error>();
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }
}
