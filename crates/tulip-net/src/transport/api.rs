//! Opening transports: `create_server`, `create_connection` and their Unix forms.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::panic::Location;
use std::path::Path;

use crate::server::Server;
use crate::transport::{Protocol, Sock, Transport, spawn_driver};
use crate::{TcpListener, TcpStream, UnixListener, UnixStream};

/// Listens on `addr`; every connection gets a protocol from `protocol_factory` and a transport
/// task (asyncio's `loop.create_server`). Must run inside a tulip runtime.
///
/// # Errors
///
/// Bind errors.
///
/// # Examples
///
/// ```
/// use tulip_net::{Protocol, Transport, create_server, open_connection};
///
/// struct Echo(Option<Transport>);
/// impl Protocol for Echo {
///     fn connection_made(&mut self, t: Transport) { self.0 = Some(t); }
///     fn data_received(&mut self, data: &[u8]) { self.0.as_ref().unwrap().write(data); }
/// }
///
/// # fn main() -> std::io::Result<()> {
/// tulip_executor::run(async {
///     let server = create_server(|| Echo(None), "127.0.0.1:0".parse().unwrap())?;
///     let port = server.local_addr().unwrap().port();
///     let (mut r, mut w) = open_connection("127.0.0.1", port).await?;
///     w.write(b"ping");
///     w.drain().await?;
///     assert_eq!(r.read_exactly(4).await?, b"ping");
///     server.close();
///     Ok(())
/// })
/// # }
/// ```
#[track_caller]
pub fn create_server<P, F>(protocol_factory: F, addr: SocketAddr) -> io::Result<Server>
where
    P: Protocol,
    F: Fn() -> P + Send + Sync + 'static,
{
    create_server_on(protocol_factory, TcpListener::builder().bind(addr)?)
}

/// Like [`create_server`] on a listener bound by the caller.
///
/// # Errors
///
/// If the listener's address cannot be read.
#[track_caller]
pub fn create_server_on<P, F>(protocol_factory: F, listener: TcpListener) -> io::Result<Server>
where
    P: Protocol,
    F: Fn() -> P + Send + Sync + 'static,
{
    Server::spawn_plain(listener, move |s: TcpStream, guard| {
        // asyncio sets TCP_NODELAY on every TCP transport.
        let _ = s.set_nodelay(true);
        spawn_driver(Sock::Tcp(s), protocol_factory(), Some(guard));
    })
}

/// Like [`create_server`] on a Unix socket at `path` (asyncio's `create_unix_server`).
///
/// # Errors
///
/// Bind errors (`AddrInUse` if the path exists).
#[track_caller]
pub fn create_unix_server<P, F>(protocol_factory: F, path: impl AsRef<Path>) -> io::Result<Server>
where
    P: Protocol,
    F: Fn() -> P + Send + Sync + 'static,
{
    Server::spawn_plain(UnixListener::bind(path)?, move |s: UnixStream, guard| {
        spawn_driver(Sock::Unix(s), protocol_factory(), Some(guard));
    })
}

/// Connects to `host:port` (DNS off the workers, Happy Eyeballs) and runs a protocol over the
/// connection (asyncio's `loop.create_connection`). The protocol lives on the connection's
/// task; talk to it through shared state or channels.
///
/// # Errors
///
/// Resolution and connect errors.
///
/// # Cancel safety
///
/// Dropping the future before it connects cancels the attempts; no protocol is created.
#[track_caller]
pub fn create_connection<P, F>(
    protocol_factory: F,
    host: &str,
    port: u16,
) -> impl Future<Output = io::Result<Transport>>
where
    P: Protocol,
    F: FnOnce() -> P,
{
    let site = Location::caller();
    async move {
        let mut stream = TcpStream::connect_host(host, port).await?;
        stream.track("TcpStream", site);
        Ok(spawn_driver(Sock::Tcp(stream), protocol_factory(), None))
    }
}

/// Connects to the Unix socket at `path` and runs a protocol over it (asyncio's
/// `create_unix_connection`).
///
/// # Errors
///
/// Connect errors.
///
/// # Cancel safety
///
/// Dropping the future abandons the attempt.
#[track_caller]
pub fn create_unix_connection<P, F>(
    protocol_factory: F,
    path: impl AsRef<Path>,
) -> impl Future<Output = io::Result<Transport>>
where
    P: Protocol,
    F: FnOnce() -> P,
{
    let connect = UnixStream::connect(path);
    async move {
        let stream = connect.await?;
        Ok(spawn_driver(Sock::Unix(stream), protocol_factory(), None))
    }
}

/// Runs a protocol over an already connected TCP socket (asyncio's
/// `connect_accepted_socket`). Must run inside a tulip runtime.
#[track_caller]
pub fn connect_accepted_socket<P, F>(protocol_factory: F, stream: TcpStream) -> Transport
where
    P: Protocol,
    F: FnOnce() -> P,
{
    spawn_driver(Sock::Tcp(stream), protocol_factory(), None)
}

/// Like [`connect_accepted_socket`] for a Unix socket.
#[track_caller]
pub fn connect_accepted_unix_socket<P, F>(protocol_factory: F, stream: UnixStream) -> Transport
where
    P: Protocol,
    F: FnOnce() -> P,
{
    spawn_driver(Sock::Unix(stream), protocol_factory(), None)
}
