//! Streams over TLS (asyncio's `ssl=`): `open_connection_tls` and `start_server_tls`, on
//! tulip-tls. Enabled by the `tls` feature.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use tulip_tls::{TlsAcceptor, TlsConnector};

use crate::server::Server;
use crate::stream::{StreamReader, StreamWriter};
use crate::{TcpListener, TcpStream};

/// The reader half of a TLS connection over TCP.
pub type TlsStreamReader = StreamReader<tulip_tls::ReadHalf<TcpStream>>;

/// The writer half of a TLS connection over TCP.
pub type TlsStreamWriter = StreamWriter<tulip_tls::WriteHalf<TcpStream>>;

/// Connects to `host:port`, runs the TLS handshake (SNI and certificate checks against
/// `host`), and returns the connection's reader and writer (asyncio's
/// `open_connection(host, port, ssl=context)`).
///
/// # Errors
///
/// Resolution and connect errors, and the handshake's errors (`InvalidData` for a certificate
/// the connector rejects, `TimedOut` past its handshake timeout).
///
/// # Cancel safety
///
/// Dropping the future abandons the connection.
#[track_caller]
pub fn open_connection_tls<'a>(
    host: &'a str,
    port: u16,
    connector: &'a TlsConnector,
) -> impl Future<Output = io::Result<(TlsStreamReader, TlsStreamWriter)>> + 'a {
    let site = std::panic::Location::caller();
    async move {
        let mut tcp = TcpStream::connect_host(host, port).await?;
        // Debug mode reports a TLS stream dropped without `close()` (which sends
        // close_notify, then shuts the socket down) as a TLS stream created here.
        tcp.track("TLS stream", site);
        let peer = tcp.peer_addr().ok().map(crate::Address::Ip);
        let tls = connector.connect(host, tcp).await?;
        let (r, w) = tls.split();
        Ok((StreamReader::new(r), StreamWriter::new(w).with_peer(peer)))
    }
}

/// Listens on `addr`, runs the TLS handshake on each connection in its own task, then runs
/// `handler(reader, writer)` there (asyncio's `start_server(..., ssl=context)`). A failed
/// handshake (bad client, timeout) closes that connection only. Must run inside a tulip
/// runtime.
///
/// # Errors
///
/// Bind errors.
#[track_caller]
pub fn start_server_tls<F, Fut>(
    handler: F,
    addr: SocketAddr,
    acceptor: TlsAcceptor,
) -> io::Result<Server>
where
    F: Fn(TlsStreamReader, TlsStreamWriter) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
{
    let handler = std::sync::Arc::new(handler);
    Server::spawn(TcpListener::builder().bind(addr)?, move |tcp: TcpStream| {
        let acceptor = acceptor.clone();
        let handler = handler.clone();
        async move {
            let mut tcp = tcp;
            let site = tcp.site();
            // A failed handshake is the server's business, not an unclosed stream; once
            // it succeeds the handler owns a TLS stream, tracked from the server's site.
            tcp.untrack();
            let _ = tcp.set_nodelay(true);
            let peer = tcp.peer_addr().ok().map(crate::Address::Ip);
            // The acceptor applies its handshake timeout, so a silent client cannot pin
            // this task.
            if let Ok(mut tls) = acceptor.accept(tcp).await {
                if let Some(site) = site {
                    tls.get_mut().track("TLS stream", site);
                }
                let (r, w) = tls.split();
                handler(StreamReader::new(r), StreamWriter::new(w).with_peer(peer)).await;
            }
        }
    })
}
