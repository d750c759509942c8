//! Transports over TLS (asyncio's `create_connection(..., ssl=)`, `create_server(..., ssl=)`
//! and `loop.start_tls`). Enabled by the `tls` feature.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tulip_tls::{TlsAcceptor, TlsConnector};

use crate::server::Server;
use crate::transport::conn::{Conn, Plain, SockIo};
use crate::transport::handle::{Shared, Sock, UpgradeSignal, notify};
use crate::transport::{Protocol, Transport};
use crate::{StartTls, TcpListener, TcpStream};

/// Connects to `host:port`, runs the TLS handshake (SNI and certificate checks against
/// `host`), then runs a protocol over the session (asyncio's `loop.create_connection(...,
/// ssl=context)`): `connection_made` comes after the handshake, `data_received` sees
/// plaintext, `close` sends `close_notify`. TLS has no half-close:
/// [`Transport::can_write_eof`] is `false`.
///
/// # Errors
///
/// Resolution and connect errors, and the handshake's (`InvalidData` with rustls's reason,
/// `TimedOut` past the connector's handshake timeout).
///
/// # Cancel safety
///
/// Dropping the future abandons the connection; no protocol is created.
#[track_caller]
pub fn create_connection_tls<'a, P, F>(
    protocol_factory: F,
    host: &'a str,
    port: u16,
    connector: &'a TlsConnector,
) -> impl std::future::Future<Output = io::Result<Transport>> + 'a
where
    P: Protocol,
    F: FnOnce() -> P + 'a,
{
    let connect = TcpStream::connect_host(host, port);
    async move {
        let tcp = connect.await?;
        let _ = tcp.set_nodelay(true);
        let shared = Arc::new(Shared::new(Sock::Tcp(tcp)));
        let tls = connector.connect(host, SockIo(shared.clone())).await?;
        let (conn, transport) = Conn::new(shared, Plain::new(protocol_factory()), None);
        tulip_executor::spawn(conn.with_tls(tls)).detach();
        Ok(transport)
    }
}

/// Listens on `addr`; every connection runs the TLS handshake on its own task and then gets
/// a protocol from `protocol_factory` (asyncio's `loop.create_server(..., ssl=context)`). A
/// failed handshake (a bad client, the acceptor's timeout) closes that connection and
/// creates no protocol. Must run inside a tulip runtime.
///
/// # Errors
///
/// Bind errors.
///
/// # Examples
///
/// See `tests/it/transport_tls.rs`; the setup is the same as
/// [`start_server_tls`](crate::start_server_tls)'s.
#[track_caller]
pub fn create_server_tls<P, F>(
    protocol_factory: F,
    addr: SocketAddr,
    acceptor: TlsAcceptor,
) -> io::Result<Server>
where
    P: Protocol,
    F: Fn() -> P + Send + Sync + 'static,
{
    let protocol_factory = Arc::new(protocol_factory);
    Server::spawn_plain(
        TcpListener::builder().bind(addr)?,
        move |s: TcpStream, guard| {
            let _ = s.set_nodelay(true);
            let shared = Arc::new(Shared::new(Sock::Tcp(s)));
            let acceptor = acceptor.clone();
            let protocol_factory = protocol_factory.clone();
            tulip_executor::spawn(async move {
                // The acceptor applies its handshake timeout, so a silent client cannot pin
                // this task.
                if let Ok(tls) = acceptor.accept(SockIo(shared.clone())).await {
                    let (conn, _) = Conn::new(shared, Plain::new(protocol_factory()), Some(guard));
                    conn.with_tls(tls).await;
                }
            })
            .detach();
        },
    )
}

impl Transport {
    /// Upgrades this live connection to TLS (asyncio's `loop.start_tls`): data written
    /// before the call goes out in the clear, then the connection task runs the handshake,
    /// then everything is encrypted. The protocol and this transport handle stay the same
    /// (asyncio hands back a new transport; here the old handle simply becomes the TLS one).
    ///
    /// The upgrade is requested when `start_tls` is *called*; the returned future only
    /// reports the outcome. Call it from a protocol callback (for a server: in the
    /// `data_received` that saw `STARTTLS`, right after writing the go-ahead), so the task
    /// reads nothing in the clear after it; the first bytes read after the call are the
    /// peer's handshake. Called from another task, pause reading first.
    ///
    /// # Errors
    ///
    /// `NotConnected` if the transport is closing or closed; `InvalidInput` if it already
    /// runs TLS; the handshake's errors (the connection then ends and `connection_lost`
    /// gets the error).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future does not stop the upgrade; it only stops waiting for it.
    pub fn start_tls(
        &self,
        tls: StartTls,
    ) -> impl Future<Output = io::Result<()>> + Send + 'static {
        let signal = Arc::new(UpgradeSignal::default());
        let refused = {
            let mut st = self.shared.lock();
            if st.closing || st.lost || st.aborted {
                Some(io::Error::new(
                    io::ErrorKind::NotConnected,
                    "start_tls on a transport that is closing or closed",
                ))
            } else if st.tls_mode {
                Some(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "start_tls on a transport that already runs TLS",
                ))
            } else {
                st.tls_mode = true;
                let start = st.start;
                st.plain_tail = st.buf[start..].to_vec();
                st.buf.clear();
                st.start = 0;
                st.upgrade = Some(tls);
                st.upgraded = Some(signal.clone());
                notify(st);
                None
            }
        };
        async move {
            match refused {
                Some(e) => Err(e),
                None => signal.wait().await,
            }
        }
    }

    /// Like [`start_tls`](Transport::start_tls) with a client-side configuration:
    /// `StartTls::client(connector, server_name)`.
    pub fn start_tls_client(
        &self,
        connector: TlsConnector,
        server_name: &str,
    ) -> impl Future<Output = io::Result<()>> + Send + 'static {
        self.start_tls(StartTls::client(connector, server_name))
    }
}
