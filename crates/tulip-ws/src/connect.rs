//! `ws_connect`: dial a `ws://` or `wss://` URL and run the client handshake (aiohttp's
//! `ClientSession.ws_connect`).
//!
//! The dialing is tulip-http's [`Connector`], the one its HTTP client uses: the name is
//! resolved on the blocking pool, the addresses raced with Happy Eyeballs, through a proxy's
//! `CONNECT` tunnel when [`ClientOptions::connector`] picks one for the URL, all under one
//! connect timeout. `wss://` goes through tulip-tls with SNI set to the URL's host (the `tls`
//! feature).

use tulip_http::Connector;

use crate::client::{ClientOptions, Negotiated, client_handshake, parse_url};
use crate::error::{Error, Result};
use crate::socket::WebSocket;

/// The connection under a WebSocket from [`ws_connect`]: plain TCP (`ws://`), or TLS over
/// TCP (`wss://`, with the `tls` feature). tulip-net's [`MaybeTlsStream`](tulip_net::MaybeTlsStream),
/// which the HTTP client uses too.
pub type ClientStream = tulip_net::MaybeTlsStream;

/// Connects to a WebSocket URL with default options (no subprotocol, no compression).
///
/// See [`ws_connect_with`].
///
/// # Cancel safety
///
/// Not cancel safe: dropping it abandons the connection (nothing leaks; the socket closes).
pub async fn ws_connect(url: &str) -> Result<(WebSocket<ClientStream>, Negotiated)> {
    ws_connect_with(url, &ClientOptions::default()).await
}

/// Connects to `ws://host[:port]/path?query` or `wss://...`, runs the opening handshake and
/// returns the WebSocket with what the server agreed to ([`Negotiated`]: subprotocol,
/// permessage-deflate parameters, the 101's headers).
///
/// Errors: a bad URL is [`Error::is_handshake`]; DNS, refused connections, TLS failures and
/// the connect timeout are [`Error::is_connect`] (and [`Error::is_io`]), with the step and
/// `host:port` in the message and the `io::Error` as the source (the timeout as
/// `io::ErrorKind::TimedOut`); a
/// server that answers with anything but 101 gives [`Error::handshake_status`]; a handshake
/// slower than `config.handshake_timeout` is [`Error::is_timeout`].
///
/// Call it inside a tulip runtime (`tulip_executor::run`, a task): host names are resolved on
/// the runtime's blocking pool. IP literals need only the reactor.
///
/// # Examples
///
/// ```no_run
/// # tulip_executor::run(async {
/// let mut options = tulip_ws::ClientOptions::default();
/// options.protocols = vec!["chat".into()];
/// options.config.deflate = Some(tulip_ws::DeflateConfig::default());
/// let (mut ws, negotiated) = tulip_ws::ws_connect_with("ws://127.0.0.1:8080/chat", &options).await?;
/// println!("subprotocol: {:?}", negotiated.protocol);
/// ws.send_text("hello").await?;
/// println!("{}", ws.receive_text().await?);
/// ws.close(tulip_ws::CloseCode::NORMAL, "").await?;
/// # Ok::<(), tulip_ws::Error>(())
/// # });
/// ```
///
/// # Cancel safety
///
/// Not cancel safe: dropping it abandons the connection (nothing leaks; the socket closes).
pub async fn ws_connect_with(
    url: &str,
    options: &ClientOptions,
) -> Result<(WebSocket<ClientStream>, Negotiated)> {
    let target = parse_url(url)?;
    if target.secure && !cfg!(feature = "tls") {
        return Err(Error::handshake("wss:// needs tulip-ws's `tls` feature"));
    }
    let connector = connector(options);
    let stream = connector
        .connect(target.secure, target.host, target.port)
        .await
        .map_err(Error::dial)?;
    let Some(extra) = session_headers(&connector, url, options) else {
        return client_handshake(stream, url, options).await;
    };
    let (ws, negotiated) = client_handshake(stream, url, &extra).await?;
    if let Some(jar) = connector.cookie_jar() {
        let set: Vec<&str> = negotiated
            .headers
            .get_all(http::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        jar.update_cookies(url, &set);
    }
    Ok((ws, negotiated))
}

/// The options with what the HTTP client's session adds to a handshake, as aiohttp's
/// `session.ws_connect` does: the jar's cookies for `url` and the client's credentials,
/// each unless the options' headers already carry one. `None` when there is nothing to add.
fn session_headers(
    connector: &Connector,
    url: &str,
    options: &ClientOptions,
) -> Option<ClientOptions> {
    use http::header::{AUTHORIZATION, COOKIE, HeaderValue};
    let cookie = connector
        .cookie_jar()
        .filter(|_| !options.headers.contains_key(COOKIE))
        .and_then(|jar| jar.cookie_header(url))
        .and_then(|v| HeaderValue::from_str(&v).ok());
    let auth = connector
        .basic_auth()
        .filter(|_| !options.headers.contains_key(AUTHORIZATION))
        .and_then(|a| HeaderValue::from_str(&a.encode()).ok());
    if cookie.is_none() && auth.is_none() && connector.cookie_jar().is_none() {
        return None;
    }
    let mut extra = options.clone();
    if let Some(v) = cookie {
        extra.headers.insert(COOKIE, v);
    }
    if let Some(v) = auth {
        extra.headers.insert(AUTHORIZATION, v);
    }
    Some(extra)
}

/// The way out: the options' connector (an HTTP client's proxies, TLS and connect timeout),
/// else a direct one with the options' connect timeout; `options.tls`, when set, wins for
/// `wss://` either way.
fn connector(options: &ClientOptions) -> Connector {
    let connector = match &options.connector {
        Some(c) => c.clone(),
        None => Connector::new().connect_timeout(options.connect_timeout),
    };
    #[cfg(feature = "tls")]
    if let Some(tls) = &options.tls {
        return connector.tls(tls.clone());
    }
    connector
}
