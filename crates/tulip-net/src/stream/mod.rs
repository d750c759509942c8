//! Streams: asyncio's `open_connection` / `start_server` with [`StreamReader`] and
//! [`StreamWriter`].

mod error;
mod reader;
#[cfg(feature = "tls")]
mod tls;
mod writer;

pub use error::ReadError;
pub use reader::{DEFAULT_LIMIT, StreamReader};
#[cfg(feature = "tls")]
pub use tls::{TlsStreamReader, TlsStreamWriter, open_connection_tls, start_server_tls};
pub use writer::{DEFAULT_HIGH_WATER, StreamWriter};

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;

use futures_lite::io::{AsyncRead, AsyncWrite};

use crate::server::Server;
use crate::split::{OwnedReadHalf, OwnedWriteHalf, StreamSocket};
use crate::{TcpListener, TcpStream, UnixListener, UnixStream};

/// Splits a connected socket into a [`StreamReader`] and a [`StreamWriter`] (what
/// `open_connection` returns, for a socket connected some other way).
pub fn streams<S>(
    socket: S,
) -> (
    StreamReader<OwnedReadHalf<S>>,
    StreamWriter<OwnedWriteHalf<S>>,
)
where
    S: StreamSocket,
    for<'a> &'a S: AsyncRead + AsyncWrite,
{
    let peer = socket.peer_address().ok();
    let (r, w) = crate::split::into_split(socket);
    (StreamReader::new(r), StreamWriter::new(w).with_peer(peer))
}

/// Connects to `host:port` (DNS off the workers, Happy Eyeballs, `TCP_NODELAY`) and returns
/// the connection's reader and writer (asyncio's `open_connection`).
///
/// # Errors
///
/// Resolution and connect errors.
///
/// # Cancel safety
///
/// Dropping the future cancels the attempts.
///
/// # Examples
///
/// ```
/// use tulip_net::{open_connection, start_server};
///
/// # fn main() -> std::io::Result<()> {
/// tulip_executor::run(async {
///     let server = start_server(
///         |mut r, mut w| async move {
///             while let Ok(line) = r.read_line().await {
///                 if line.is_empty() { break; }
///                 w.write(&line);
///                 if w.drain().await.is_err() { break; }
///             }
///         },
///         "127.0.0.1:0".parse().unwrap(),
///     )?;
///     let port = server.local_addr().unwrap().port();
///     let (mut r, mut w) = open_connection("localhost", port).await?;
///     w.write(b"hello\n");
///     w.drain().await?;
///     assert_eq!(r.read_line().await?, b"hello\n");
///     server.close();
///     Ok(())
/// })
/// # }
/// ```
pub async fn open_connection(host: &str, port: u16) -> io::Result<(StreamReader, StreamWriter)> {
    Ok(streams(TcpStream::connect_host(host, port).await?))
}

/// Connects to the Unix socket at `path` (asyncio's `open_unix_connection`).
///
/// # Errors
///
/// Connect errors.
///
/// # Cancel safety
///
/// Dropping the future abandons the attempt.
pub async fn open_unix_connection(
    path: impl AsRef<Path>,
) -> io::Result<(
    StreamReader<OwnedReadHalf<UnixStream>>,
    StreamWriter<OwnedWriteHalf<UnixStream>>,
)> {
    Ok(streams(UnixStream::connect(path).await?))
}

/// Listens on `addr` and runs `handler(reader, writer)` as its own task for every connection
/// (asyncio's `start_server`). Must run inside a tulip runtime.
///
/// # Errors
///
/// Bind errors.
#[track_caller]
pub fn start_server<F, Fut>(handler: F, addr: SocketAddr) -> io::Result<Server>
where
    F: Fn(StreamReader, StreamWriter) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
{
    start_server_on(handler, TcpListener::builder().bind(addr)?)
}

/// Like [`start_server`] on a listener bound by the caller (options such as
/// `SO_REUSEPORT` or the backlog come from [`TcpListener::builder`]).
///
/// # Errors
///
/// If the listener's address cannot be read.
#[track_caller]
pub fn start_server_on<F, Fut>(handler: F, listener: TcpListener) -> io::Result<Server>
where
    F: Fn(StreamReader, StreamWriter) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
{
    Server::spawn(listener, move |s: TcpStream| {
        let _ = s.set_nodelay(true);
        let (r, w) = streams(s);
        handler(r, w)
    })
}

/// Like [`start_server`] on a Unix socket at `path` (asyncio's `start_unix_server`).
///
/// # Errors
///
/// Bind errors (`AddrInUse` if the path exists).
#[track_caller]
pub fn start_unix_server<F, Fut>(handler: F, path: impl AsRef<Path>) -> io::Result<Server>
where
    F: Fn(StreamReader<OwnedReadHalf<UnixStream>>, StreamWriter<OwnedWriteHalf<UnixStream>>) -> Fut
        + Send
        + Sync
        + 'static,
    Fut: Future + Send + 'static,
{
    Server::spawn(UnixListener::bind(path)?, move |s: UnixStream| {
        let (r, w) = streams(s);
        handler(r, w)
    })
}

/// Runs `handler(stream)` as its own task for every connection accepted on `listener`: the
/// accept loop under every server, for callers (such as an HTTP server) that want the raw
/// [`TcpStream`]. The returned [`Server`] closes the listener and tracks the connections.
///
/// # Errors
///
/// If the listener's address cannot be read.
#[track_caller]
pub fn serve_tcp<F, Fut>(listener: TcpListener, handler: F) -> io::Result<Server>
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
{
    Server::spawn(listener, handler)
}

/// Like [`serve_tcp`] for a Unix listener.
///
/// # Errors
///
/// If the listener's address cannot be read.
#[track_caller]
pub fn serve_unix<F, Fut>(listener: UnixListener, handler: F) -> io::Result<Server>
where
    F: Fn(UnixStream) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
{
    Server::spawn(listener, handler)
}
