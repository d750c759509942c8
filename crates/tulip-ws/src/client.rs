//! The client side of the opening handshake.
//!
//! [`ClientHandshake`] is pure (request headers out, response headers in) for an HTTP client to
//! drive; [`client_handshake`] does it all over a stream the caller connected (and wrapped in
//! TLS for `wss://`).

use std::time::Duration;

use futures_lite::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use http::header::{
    CONNECTION, HOST, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{HeaderMap, HeaderValue, StatusCode};

use crate::config::{Config, Role};
use crate::deflate::{DeflateParams, accept_client_response, client_offer};
use crate::error::{Error, Result};
use crate::handshake::{accept_key, generate_key, has_token, read_head, to_header_map, tokens};
use crate::socket::WebSocket;
use crate::timer;

/// How a client asks for a WebSocket.
///
/// Start from [`ClientOptions::default`] and set fields; `connect_timeout`, `tls` and
/// `connector` are used only by `ws_connect_with`, which dials the connection itself.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Limits and permessage-deflate (`config.deflate = Some(..)` offers it).
    pub config: Config,
    /// Subprotocols to offer, in preference order.
    pub protocols: Vec<String>,
    /// Extra request headers (cookies, authorization, origin, ...).
    pub headers: HeaderMap,
    /// The deadline for name resolution plus the TCP connection (10 s by default; `None`
    /// waits as long as the operating system does).
    pub connect_timeout: Option<Duration>,
    /// The TLS client for `wss://` URLs; `None` takes the connector's (below), else trusts
    /// the Mozilla roots from `webpki-roots`. Build one over a custom root store or a whole
    /// rustls `ClientConfig` with `tulip_tls::TlsConnector::builder()` or
    /// `TlsConnector::from(Arc<ClientConfig>)`.
    #[cfg(feature = "tls")]
    pub tls: Option<tulip_tls::TlsConnector>,
    /// The way out, as an HTTP client takes it: proxies (a `CONNECT` tunnel for `ws://` and
    /// `wss://` alike), TLS trust and connect timeout. `Some(client.connector())` makes
    /// `ws_connect_with` go through the same proxy and TLS settings as that
    /// `tulip_http::Client` (aiohttp's `session.ws_connect`); its connect timeout then
    /// replaces `connect_timeout`, its cookie jar's cookies for the URL and its `BasicAuth`
    /// go with the handshake (unless `headers` has a `Cookie` or `Authorization`), and a
    /// `Set-Cookie` on the 101 is stored in its jar. `None` dials directly.
    #[cfg(feature = "connect")]
    pub connector: Option<tulip_http::Connector>,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            config: Config::default(),
            protocols: Vec::new(),
            headers: HeaderMap::new(),
            connect_timeout: Some(Duration::from_secs(10)),
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "connect")]
            connector: None,
        }
    }
}

/// What the handshake settled.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Negotiated {
    /// The subprotocol the server chose.
    pub protocol: Option<String>,
    /// The permessage-deflate parameters, when the server accepted our offer.
    pub deflate: Option<DeflateParams>,
    /// The headers of the server's 101 response (cookies, server name, ...).
    pub headers: HeaderMap,
}

/// The pure client handshake: make the request headers, then check the response.
#[derive(Clone, Debug)]
pub struct ClientHandshake {
    key: String,
}

impl Default for ClientHandshake {
    fn default() -> ClientHandshake {
        ClientHandshake::new()
    }
}

impl ClientHandshake {
    /// A handshake with a fresh random key.
    pub fn new() -> ClientHandshake {
        ClientHandshake {
            key: generate_key(),
        }
    }

    /// The headers of the upgrade request (besides `Host`, which the caller sets).
    pub fn request_headers(&self, options: &ClientOptions) -> HeaderMap {
        let mut h = options.headers.clone();
        h.insert(UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(
            SEC_WEBSOCKET_KEY,
            HeaderValue::from_str(&self.key).expect("base64"),
        );
        h.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        if !options.protocols.is_empty() {
            if let Ok(v) = HeaderValue::from_str(&options.protocols.join(", ")) {
                h.insert(SEC_WEBSOCKET_PROTOCOL, v);
            }
        }
        if let Some(d) = &options.config.deflate {
            h.insert(
                SEC_WEBSOCKET_EXTENSIONS,
                HeaderValue::from_str(&client_offer(d)).expect("built from valid tokens"),
            );
        }
        h
    }

    /// Checks the server's response (RFC 6455 §4.1, client steps 1-6).
    pub fn verify(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        options: &ClientOptions,
    ) -> Result<Negotiated> {
        if status != StatusCode::SWITCHING_PROTOCOLS {
            return Err(Error::rejected(status));
        }
        if !has_token(headers, UPGRADE, "websocket") || !has_token(headers, CONNECTION, "upgrade") {
            return Err(Error::handshake("response lacks Upgrade: websocket"));
        }
        let want = accept_key(&self.key);
        if headers.get(SEC_WEBSOCKET_ACCEPT).map(HeaderValue::as_bytes) != Some(want.as_bytes()) {
            return Err(Error::handshake("wrong Sec-WebSocket-Accept"));
        }
        let chosen = tokens(headers, SEC_WEBSOCKET_PROTOCOL);
        let protocol = match chosen.as_slice() {
            [] => None,
            [p] if options.protocols.contains(p) => Some(p.clone()),
            _ => {
                return Err(Error::handshake(
                    "server chose a subprotocol we did not offer",
                ));
            }
        };
        let ext = headers
            .get_all(SEC_WEBSOCKET_EXTENSIONS)
            .iter()
            .filter_map(|v| v.to_str().ok());
        let deflate = match &options.config.deflate {
            Some(cfg) => accept_client_response(ext, cfg).map_err(|reason| {
                Error::handshake_caused("invalid permessage-deflate answer", reason)
            })?,
            None if headers.contains_key(SEC_WEBSOCKET_EXTENSIONS) => {
                return Err(Error::handshake(
                    "server chose an extension we did not offer",
                ));
            }
            None => None,
        };
        Ok(Negotiated {
            protocol,
            deflate,
            headers: headers.clone(),
        })
    }
}

/// A `ws://` or `wss://` URL split into what dialing, the request line and `Host` need.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Target<'a> {
    /// `wss://`.
    pub(crate) secure: bool,
    /// The authority as written (`host[:port]`), for the `Host` header.
    pub(crate) authority: &'a str,
    /// The host to dial and to name in TLS, without IPv6 brackets.
    pub(crate) host: &'a str,
    /// The port, explicit or the scheme's default (80, 443).
    pub(crate) port: u16,
    /// The request target: path and query, never empty.
    pub(crate) path: String,
}

pub(crate) fn parse_url(url: &str) -> Result<Target<'_>> {
    let (secure, rest) = if let Some(rest) = url.strip_prefix("ws://") {
        (false, rest)
    } else if let Some(rest) = url.strip_prefix("wss://") {
        (true, rest)
    } else {
        return Err(Error::handshake("URL scheme must be ws:// or wss://"));
    };
    // A fragment is never sent (RFC 6455 §3 forbids it in WebSocket URIs; we drop it).
    let rest = rest.split('#').next().unwrap_or_default();
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => rest.split_at(i),
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(Error::handshake("URL has no host (or has user info)"));
    }
    let default_port = if secure { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| Error::handshake("URL has an unclosed IPv6 bracket"))?;
        match after {
            "" => (host, default_port),
            p => (host, parse_port(p.strip_prefix(':'))?),
        }
    } else {
        match authority.split_once(':') {
            Some((host, p)) => (host, parse_port(Some(p))?),
            None => (authority, default_port),
        }
    };
    if host.is_empty() {
        return Err(Error::handshake("URL has no host"));
    }
    // `ws://host?q` means the root path with a query.
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    Ok(Target {
        secure,
        authority,
        host,
        port,
        path,
    })
}

fn parse_port(p: Option<&str>) -> Result<u16> {
    p.filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|p| p.parse().ok())
        .filter(|&p| p != 0)
        .ok_or_else(|| Error::handshake("URL has a bad port"))
}

/// Runs the client handshake over a connected stream: sends the GET upgrade for `url`
/// (`ws://host[:port]/path?query`; for `wss://` the stream must already be TLS), reads the
/// response head (size-limited, within `config.handshake_timeout`) and checks it.
///
/// # Cancel safety
///
/// Not cancel safe: dropping it mid-handshake leaves the stream in an unknown state.
pub async fn client_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    url: &str,
    options: &ClientOptions,
) -> Result<(WebSocket<S>, Negotiated)> {
    let target = parse_url(url)?;
    let hs = ClientHandshake::new();
    let mut headers = hs.request_headers(options);
    if !headers.contains_key(HOST) {
        headers.insert(
            HOST,
            HeaderValue::from_str(target.authority)
                .map_err(|e| Error::handshake_caused("bad host", e))?,
        );
    }
    let config: &Config = &options.config;
    let run = async {
        let mut req = Vec::with_capacity(256);
        req.extend_from_slice(b"GET ");
        req.extend_from_slice(target.path.as_bytes());
        req.extend_from_slice(b" HTTP/1.1\r\n");
        for (name, value) in &headers {
            req.extend_from_slice(name.as_str().as_bytes());
            req.extend_from_slice(b": ");
            req.extend_from_slice(value.as_bytes());
            req.extend_from_slice(b"\r\n");
        }
        req.extend_from_slice(b"\r\n");
        stream.write_all(&req).await?;
        stream.flush().await?;
        let (buf, head_len) = read_head(&mut stream, config.max_handshake_size).await?;
        let mut raw = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut raw);
        match resp.parse(&buf[..head_len]) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => {
                return Err(Error::handshake("malformed response head"));
            }
            Err(e) => return Err(Error::handshake_caused("malformed response head", e)),
        }
        let status = StatusCode::from_u16(resp.code.unwrap_or(0))
            .map_err(|e| Error::handshake_caused("bad status code", e))?;
        let resp_headers = to_header_map(resp.headers)?;
        let negotiated = hs.verify(status, &resp_headers, options)?;
        Ok((negotiated, buf[head_len..].to_vec()))
    };
    let (negotiated, leftover) = timer::timeout(config.handshake_timeout, run)
        .await
        .ok_or_else(Error::timeout)??;
    let ws = WebSocket::from_raw(
        stream,
        Role::Client,
        config.clone(),
        negotiated.deflate,
        &leftover,
    );
    Ok((ws, negotiated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_table() {
        type Want<'a> = Option<(bool, &'a str, &'a str, u16, &'a str)>;
        let table: &[(&str, Want<'_>)] = &[
            (
                "ws://example.com",
                Some((false, "example.com", "example.com", 80, "/")),
            ),
            (
                "ws://example.com/chat?x=1",
                Some((false, "example.com", "example.com", 80, "/chat?x=1")),
            ),
            (
                "wss://127.0.0.1:9001/runCase?case=1",
                Some((true, "127.0.0.1:9001", "127.0.0.1", 9001, "/runCase?case=1")),
            ),
            (
                "wss://example.com/",
                Some((true, "example.com", "example.com", 443, "/")),
            ),
            ("ws://[::1]:80/", Some((false, "[::1]:80", "::1", 80, "/"))),
            ("wss://[::1]/x", Some((true, "[::1]", "::1", 443, "/x"))),
            (
                "ws://example.com?x",
                Some((false, "example.com", "example.com", 80, "/?x")),
            ),
            ("ws://h/p#frag", Some((false, "h", "h", 80, "/p"))),
            ("http://example.com/", None),
            ("ws:///x", None),
            ("ws://user@host/", None),
            ("ws://host:/", None),
            ("ws://host:0/", None),
            ("ws://host:65536/", None),
            ("ws://host:8x/", None),
            ("ws://[::1/", None),
            ("ws://[::1]x/", None),
            ("ws://:80/", None),
        ];
        for (url, want) in table {
            let got = parse_url(url).ok();
            let got = got
                .as_ref()
                .map(|t| (t.secure, t.authority, t.host, t.port, t.path.as_str()));
            assert_eq!(got, *want, "{url}");
        }
    }
}
