//! `ws_connect`: dial a `ws://` or `wss://` URL and run the client handshake (aiohttp's
//! `ClientSession.ws_connect`).
//!
//! The dialing is tulip-net's: the name is resolved on the blocking pool and the addresses are
//! raced with Happy Eyeballs under [`ClientOptions::connect_timeout`]. `wss://` goes through
//! tulip-tls with SNI set to the URL's host (the `tls` feature).

use std::io;
use std::time::Duration;

use tulip_net::TcpStream;

use crate::client::{ClientOptions, Negotiated, client_handshake, parse_url};
use crate::error::{DialStep, Error, Result};
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
    let place = if target.host.contains(':') {
        format!("[{}]:{}", target.host, target.port)
    } else {
        format!("{}:{}", target.host, target.port)
    };
    let tcp = dial(target.host, target.port, options.connect_timeout)
        .await
        .map_err(|(phase, e)| Error::connect(phase, place.clone(), e))?;
    let stream = if target.secure {
        secure(tcp, target.host, options)
            .await
            .map_err(|e| Error::connect(DialStep::TlsHandshake, place, e))?
    } else {
        ClientStream::Plain(tcp)
    };
    client_handshake(stream, url, options).await
}

/// Resolves `host` and races its addresses, both under `limit`; a failure says which step.
async fn dial(
    host: &str,
    port: u16,
    limit: Option<Duration>,
) -> std::result::Result<TcpStream, (DialStep, io::Error)> {
    let deadline = limit.map(tulip_net::ConnectDeadline::after);
    let addrs = tulip_net::ConnectDeadline::within(deadline, tulip_net::lookup_host(host, port))
        .await
        .map_err(|e| (DialStep::Resolve, e))?;
    let mut tcp = tulip_net::ConnectDeadline::within(
        deadline,
        tulip_net::happy_eyeballs(addrs, tulip_net::HAPPY_EYEBALLS_DELAY, TcpStream::connect),
    )
    .await
    .map_err(|e| (DialStep::Connect, e))?;
    // The WebSocket owns and closes the socket: debug mode's unclosed-stream check is not for it.
    tcp.untrack();
    // As tulip-net's `ConnectOptions` does by default: small frames must not wait for Nagle.
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

#[cfg(feature = "tls")]
async fn secure(tcp: TcpStream, host: &str, options: &ClientOptions) -> io::Result<ClientStream> {
    use std::sync::OnceLock;
    // Parsing the Mozilla roots costs a few milliseconds: do it once per process.
    static WEBPKI: OnceLock<tulip_tls::TlsConnector> = OnceLock::new();
    let connector = match &options.tls {
        Some(c) => c,
        None => WEBPKI.get_or_init(tulip_tls::TlsConnector::with_webpki_roots),
    };
    let tls = connector.connect(host, tcp).await?;
    Ok(ClientStream::Tls(Box::new(tls)))
}

#[cfg(not(feature = "tls"))]
async fn secure(_: TcpStream, _: &str, _: &ClientOptions) -> io::Result<ClientStream> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "wss:// needs tulip-ws's `tls` feature",
    ))
}
