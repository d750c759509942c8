//! The server side of the opening handshake.
//!
//! [`upgrade`] is pure: an HTTP layer (tulip-http's route upgrade) hands it the request's
//! method, version and headers and gets back the 101's headers, or the status to refuse with.
//! [`accept`] does the same over a bare stream, reading the request head itself.

use std::fmt;
use std::sync::Arc;

use futures_lite::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use http::header::{
    CONNECTION, HOST, ORIGIN, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Version};

use crate::config::{Config, Role};
use crate::deflate::{DeflateParams, negotiate_server};
use crate::error::{Error, Result};
use crate::handshake::{
    accept_key, has_token, read_head, to_header_map, tokens, valid_key, write_head,
};
use crate::socket::WebSocket;
use crate::timer;

/// Decides whether a request's `Origin` (absent for non-browser clients) may connect.
pub type OriginCheck = Arc<dyn Fn(Option<&str>) -> bool + Send + Sync>;

/// How a server answers upgrade requests.
#[derive(Clone, Default)]
pub struct ServerOptions {
    /// Limits and permessage-deflate for the accepted WebSockets.
    pub config: Config,
    /// Subprotocols we speak; the first one the client lists that is also here is chosen.
    pub protocols: Vec<String>,
    /// Refuses the upgrade with 403 when it returns false. `None` accepts every origin.
    pub origin_check: Option<OriginCheck>,
}

impl ServerOptions {
    /// Sets the origin check hook.
    ///
    /// ```
    /// let opts = tulip_ws::ServerOptions::default()
    ///     .with_origin_check(|origin| origin.is_none_or(|o| o == "https://example.com"));
    /// # let _ = opts;
    /// ```
    pub fn with_origin_check(
        mut self,
        check: impl Fn(Option<&str>) -> bool + Send + Sync + 'static,
    ) -> ServerOptions {
        self.origin_check = Some(Arc::new(check));
        self
    }
}

impl fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerOptions")
            .field("config", &self.config)
            .field("protocols", &self.protocols)
            .field("origin_check", &self.origin_check.is_some())
            .finish()
    }
}

/// An accepted upgrade: send `headers` with status 101, then wrap the connection with
/// [`Upgrade::into_websocket`].
#[derive(Clone, Debug)]
pub struct Upgrade {
    /// The 101 response's headers: `Upgrade`, `Connection`, `Sec-WebSocket-Accept`, and
    /// `Sec-WebSocket-Protocol` / `Sec-WebSocket-Extensions` when negotiated.
    pub headers: HeaderMap,
    /// The chosen subprotocol.
    pub protocol: Option<String>,
    /// The negotiated permessage-deflate parameters.
    pub deflate: Option<DeflateParams>,
}

impl Upgrade {
    /// The WebSocket over `stream` once the 101 has been sent; `leftover` holds any bytes the
    /// HTTP layer read past the request head.
    pub fn into_websocket<S: AsyncRead + AsyncWrite + Unpin>(
        self,
        stream: S,
        config: Config,
        leftover: &[u8],
    ) -> WebSocket<S> {
        WebSocket::from_raw(stream, Role::Server, config, self.deflate, leftover)
    }
}

/// A refused upgrade: answer with `status` and `headers`.
#[derive(Clone, Debug)]
pub struct Rejection {
    /// 400 for a malformed request, 403 for a refused origin, 426 for a wrong version.
    pub status: StatusCode,
    /// Headers the refusal must carry (`Sec-WebSocket-Version: 13` with a 426).
    pub headers: HeaderMap,
    /// Why, for logs.
    pub reason: &'static str,
}

impl Rejection {
    fn new(status: StatusCode, reason: &'static str) -> Rejection {
        Rejection {
            status,
            headers: HeaderMap::new(),
            reason,
        }
    }
}

/// Validates an upgrade request (RFC 6455 §4.2.1) and builds the 101's headers.
///
/// Pure: no I/O, so an HTTP server can call it from a route handler.
///
/// ```
/// use http::{HeaderMap, Method, Version};
/// let mut h = HeaderMap::new();
/// h.insert("host", "example.com".parse().unwrap());
/// h.insert("upgrade", "websocket".parse().unwrap());
/// h.insert("connection", "Upgrade".parse().unwrap());
/// h.insert("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==".parse().unwrap());
/// h.insert("sec-websocket-version", "13".parse().unwrap());
/// let up = tulip_ws::upgrade(&Method::GET, Version::HTTP_11, &h, &Default::default()).unwrap();
/// assert_eq!(up.headers["sec-websocket-accept"], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn upgrade(
    method: &Method,
    version: Version,
    headers: &HeaderMap,
    options: &ServerOptions,
) -> std::result::Result<Upgrade, Rejection> {
    let bad = |reason| Err(Rejection::new(StatusCode::BAD_REQUEST, reason));
    if method != Method::GET {
        return Err(Rejection::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method is not GET",
        ));
    }
    if version < Version::HTTP_11 {
        return bad("HTTP version below 1.1");
    }
    if !headers.contains_key(HOST) {
        return bad("no Host header");
    }
    if !has_token(headers, UPGRADE, "websocket") {
        return bad("Upgrade header lacks websocket");
    }
    if !has_token(headers, CONNECTION, "upgrade") {
        return bad("Connection header lacks upgrade");
    }
    if headers
        .get(SEC_WEBSOCKET_VERSION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        != Some("13")
    {
        let mut r = Rejection::new(StatusCode::UPGRADE_REQUIRED, "unsupported version");
        r.headers
            .insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return Err(r);
    }
    let key = match headers.get(SEC_WEBSOCKET_KEY).and_then(|v| v.to_str().ok()) {
        Some(k) if valid_key(k) => k,
        _ => return bad("missing or invalid Sec-WebSocket-Key"),
    };
    if let Some(check) = &options.origin_check {
        let origin = headers.get(ORIGIN).and_then(|v| v.to_str().ok());
        if !check(origin) {
            return Err(Rejection::new(StatusCode::FORBIDDEN, "origin refused"));
        }
    }

    let mut out = HeaderMap::new();
    out.insert(UPGRADE, HeaderValue::from_static("websocket"));
    out.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    out.insert(
        SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&accept_key(key)).expect("base64 is a valid header value"),
    );
    let protocol = tokens(headers, SEC_WEBSOCKET_PROTOCOL)
        .into_iter()
        .find(|p| options.protocols.iter().any(|ours| ours == p));
    if let Some(p) = &protocol {
        let v = HeaderValue::from_str(p)
            .map_err(|_| Rejection::new(StatusCode::BAD_REQUEST, "bad subprotocol"))?;
        out.insert(SEC_WEBSOCKET_PROTOCOL, v);
    }
    let mut deflate = None;
    if let Some(cfg) = &options.config.deflate {
        let offers = headers
            .get_all(SEC_WEBSOCKET_EXTENSIONS)
            .iter()
            .filter_map(|v| v.to_str().ok());
        if let Some((params, response)) = negotiate_server(offers, cfg) {
            out.insert(
                SEC_WEBSOCKET_EXTENSIONS,
                HeaderValue::from_str(&response).expect("built from valid tokens"),
            );
            deflate = Some(params);
        }
    }
    Ok(Upgrade {
        headers: out,
        protocol,
        deflate,
    })
}

/// Runs the server handshake over a bare stream: reads the request head (at most
/// `config.max_handshake_size` bytes, within `config.handshake_timeout`), answers 101 or the
/// refusal, and returns the WebSocket and the request's head.
///
/// # Cancel safety
///
/// Not cancel safe: dropping it mid-handshake leaves the stream in an unknown state; drop the
/// stream too.
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    options: &ServerOptions,
) -> Result<(WebSocket<S>, http::request::Parts)> {
    let config = &options.config;
    let handshake = async {
        let (buf, head_len) = read_head(&mut stream, config.max_handshake_size).await?;
        let mut raw = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut raw);
        match req.parse(&buf[..head_len]) {
            Ok(httparse::Status::Complete(_)) => {}
            _ => return Err(Error::handshake("malformed request head")),
        }
        let method = Method::from_bytes(req.method.unwrap_or("").as_bytes())
            .map_err(|_| Error::handshake("bad method"))?;
        let version = if req.version == Some(1) {
            Version::HTTP_11
        } else {
            Version::HTTP_10
        };
        let headers = to_header_map(req.headers)?;
        let mut parts = http::Request::new(()).into_parts().0;
        parts.method = method;
        parts.version = version;
        parts.uri = req
            .path
            .unwrap_or("/")
            .parse()
            .map_err(|_| Error::handshake("bad request target"))?;
        parts.headers = headers;
        let mut out = Vec::with_capacity(256);
        match upgrade(&parts.method, parts.version, &parts.headers, options) {
            Ok(up) => {
                write_head(&mut out, StatusCode::SWITCHING_PROTOCOLS, &up.headers);
                stream.write_all(&out).await?;
                stream.flush().await?;
                Ok((up.deflate, buf[head_len..].to_vec(), parts))
            }
            Err(rej) => {
                let mut headers = rej.headers;
                headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from_static("0"));
                headers.insert(CONNECTION, HeaderValue::from_static("close"));
                write_head(&mut out, rej.status, &headers);
                stream.write_all(&out).await?;
                stream.flush().await?;
                Err(Error::handshake(rej.reason))
            }
        }
    };
    let (deflate, leftover, parts) = timer::timeout(config.handshake_timeout, handshake)
        .await
        .ok_or_else(Error::timeout)??;
    let ws = WebSocket::from_raw(stream, Role::Server, config.clone(), deflate, &leftover);
    Ok((ws, parts))
}
