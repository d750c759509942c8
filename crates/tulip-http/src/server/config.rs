//! Limits and timeouts, all on by default.

use std::time::Duration;

/// Server limits and timeouts. Every field has a safe default; change what you need:
///
/// ```
/// use std::time::Duration;
/// let mut cfg = tulip_http::ServerConfig::default();
/// cfg.header_timeout = Duration::from_secs(2);
/// cfg.max_body = 100 << 20;
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Time allowed to receive a complete request head, counted from accept for the first
    /// request and from its first byte for later ones. Default 10 s.
    pub header_timeout: Duration,
    /// Time an idle keep-alive connection is kept open (over HTTP/2: a connection with no open
    /// stream, closed with GOAWAY). Default 75 s (aiohttp's).
    pub keep_alive_timeout: Duration,
    /// Minimum request body receive rate in bytes per second, after `body_rate_grace`.
    /// Default 1024.
    pub min_body_rate: u64,
    /// Time a body may take before `min_body_rate` applies. Default 10 s.
    pub body_rate_grace: Duration,
    /// Time a blocked response write may make no progress (over HTTP/2: a stream whose
    /// flow-control window stays shut is reset). Default 30 s.
    pub write_timeout: Duration,
    /// Longest request head (request line plus headers; over HTTP/2, the header list size).
    /// Default 16 KiB; 431 beyond.
    pub max_head: usize,
    /// Longest request line. Default 8 KiB; 414 beyond.
    pub max_request_line: usize,
    /// Most header lines (at most 100). Default 100; 431 beyond.
    pub max_headers: usize,
    /// Default body limit, overridable per route. Default 1 MiB (aiohttp's
    /// `client_max_size`); 413 beyond.
    pub max_body: u64,
    /// How long graceful shutdown waits for in-flight requests and upgraded connections;
    /// at this deadline it closes whatever is left, upgraded connections included (see
    /// [`Upgraded`](crate::Upgraded#graceful-shutdown)). Default 10 s.
    pub shutdown_timeout: Duration,
    /// Time a TLS client has to complete its handshake, counted from accept. Default 10 s.
    #[cfg(feature = "tls")]
    pub tls_handshake_timeout: Duration,
    /// Serve HTTP/2 too: on plain listeners to clients that open with the HTTP/2 connection
    /// preface (prior knowledge), on TLS listeners when ALPN picks `h2`. Default on.
    pub http2: bool,
    /// Most HTTP/2 streams (requests) served at once on one connection; the peer is told, and
    /// streams beyond it are refused. Default 100.
    pub http2_max_concurrent_streams: u32,
    /// HTTP/2 flow-control window of each request body: how much a client may send ahead of
    /// the handler reading it. Default 64 KiB.
    pub http2_stream_window: u32,
    /// HTTP/2 flow-control window of a whole connection (all request bodies together).
    /// Default 1 MiB.
    pub http2_connection_window: u32,
    /// Log one line per request at `info` level through the `log` crate, target
    /// `tulip_http::access`, in [`access_log_format`](ServerConfig::access_log_format).
    /// Default off.
    pub access_log: bool,
    /// The access log's format (aiohttp's specifiers). Default aiohttp's,
    /// `%a %t "%r" %s %b "%{Referer}i" "%{User-Agent}i"`.
    pub access_log_format: super::AccessLogFormat,
    /// Send file bodies ([`FileResponse`](crate::FileResponse), `static_dir`) with
    /// sendfile(2) on plain HTTP/1 connections, so their bytes never pass through user space
    /// (aiohttp's default; its `AIOHTTP_NOSENDFILE` turns it off). TLS, gzip, HTTP/2 and
    /// `multipart/byteranges` answers are read and written whatever this says. sendfile(2)
    /// reads the file in the connection's task: on a cold page cache that read waits for the
    /// disk, as nginx's default does; turn this off to read on the blocking pool instead.
    /// Default on.
    pub sendfile: bool,
    /// Compress every response with a compressible content type (text, JSON, JavaScript,
    /// XML, SVG) with gzip when the client accepts it; see
    /// [`Response::enable_compression`](crate::Response::enable_compression) for one response.
    /// Default off.
    #[cfg(feature = "gzip")]
    pub compression: bool,
    /// Whole bodies shorter than this are never compressed (gzip's 20 bytes of framing would
    /// eat the gain). Default 1024.
    #[cfg(feature = "gzip")]
    pub compression_min_size: usize,
    /// gzip level, 0 (store) to 9 (smallest). Default 6.
    #[cfg(feature = "gzip")]
    pub compression_level: u32,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            header_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(75),
            min_body_rate: 1024,
            body_rate_grace: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            max_head: 16 * 1024,
            max_request_line: 8 * 1024,
            max_headers: 100,
            max_body: 1 << 20,
            shutdown_timeout: Duration::from_secs(10),
            #[cfg(feature = "tls")]
            tls_handshake_timeout: Duration::from_secs(10),
            http2: true,
            http2_max_concurrent_streams: 100,
            http2_stream_window: 64 * 1024,
            http2_connection_window: 1 << 20,
            access_log: false,
            access_log_format: super::AccessLogFormat::default(),
            sendfile: true,
            #[cfg(feature = "gzip")]
            compression: false,
            #[cfg(feature = "gzip")]
            compression_min_size: 1024,
            #[cfg(feature = "gzip")]
            compression_level: 6,
        }
    }
}

impl ServerConfig {
    pub(crate) fn head_limits(&self) -> crate::proto::role::HeadLimits {
        crate::proto::role::HeadLimits {
            max_head: self.max_head,
            max_request_line: self.max_request_line,
            max_headers: self.max_headers,
        }
    }
}
