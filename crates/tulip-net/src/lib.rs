//! tulip's networking: TCP, UDP and Unix sockets, DNS with Happy Eyeballs, and asyncio's two
//! programming models on top, streams and transports/protocols.
//!
//! This is asyncio's networking surface on tulip's reactor and executor:
//!
//! - **Sockets**: [`TcpListener`] (with a [`TcpListenerBuilder`] for backlog and
//!   `SO_REUSEADDR`/`SO_REUSEPORT`), [`TcpStream`] (socket options, `split`/`into_split`),
//!   [`UdpSocket`], [`UnixListener`], [`UnixStream`], [`UnixDatagram`].
//! - **Names**: [`lookup_host`] resolves on the blocking pool; [`TcpStream::connect_host`] and
//!   [`ConnectOptions`] race the addresses with Happy Eyeballs (RFC 8305) under a timeout.
//! - **Streams** (`asyncio.open_connection` / `start_server`): [`StreamReader`] with
//!   `read_exactly`, multi-byte `read_until` and a limit, [`StreamWriter`] with `drain` and
//!   water marks, both generic over any `AsyncRead`/`AsyncWrite` (TLS streams, pipes);
//!   [`open_connection`], [`start_server`] and a [`Server`] handle.
//! - **Transports and protocols** (the callback API): [`Protocol`] / [`Transport`] with
//!   asyncio's flow control, [`create_server`], [`create_connection`]; [`DatagramProtocol`]
//!   with [`create_datagram_endpoint`].
//!
//! # Feature flags
//!
//! - `tls` (off by default): [`open_connection_tls`] and [`start_server_tls`], streams over
//!   tulip-tls (asyncio's `ssl=`).
//!
//! Everything that spawns (servers, transports) must run inside a tulip runtime
//! (`tulip_executor::run`, `Runtime::block_on`, or a task); plain sockets and streams work
//! under `tulip_reactor::block_on` too.
//!
//! # Examples
//!
//! A line echo server and a client, with streams:
//!
//! ```
//! use tulip_net::{open_connection, start_server};
//!
//! # fn main() -> std::io::Result<()> {
//! tulip_executor::run(async {
//!     let server = start_server(
//!         |mut reader, mut writer| async move {
//!             while let Ok(line) = reader.read_line().await {
//!                 if line.is_empty() {
//!                     break; // end of stream
//!                 }
//!                 writer.write(&line);
//!                 if writer.drain().await.is_err() {
//!                     break;
//!                 }
//!             }
//!         },
//!         "127.0.0.1:0".parse().unwrap(),
//!     )?;
//!     let port = server.local_addr().unwrap().port();
//!
//!     let (mut reader, mut writer) = open_connection("127.0.0.1", port).await?;
//!     writer.write(b"hello\n");
//!     writer.drain().await?;
//!     assert_eq!(reader.read_line().await?, b"hello\n");
//!
//!     server.close();
//!     Ok(())
//! })
//! # }
//! ```

#![forbid(unsafe_code)]

mod addr;
mod connect;
mod maybe_tls;
mod rt;
mod server;
mod split;
mod stream;
mod tcp;
mod transport;
mod udp;
mod unix;

pub use addr::Address;
pub use connect::{
    ConnectDeadline, ConnectOptions, HAPPY_EYEBALLS_DELAY, happy_eyeballs, lookup_host,
};
pub use maybe_tls::MaybeTlsStream;
pub use server::Server;
pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, StreamSocket, WriteHalf};
pub use stream::{
    DEFAULT_HIGH_WATER, DEFAULT_LIMIT, ReadError, StreamReader, StreamWriter, open_connection,
    open_unix_connection, serve_tcp, serve_unix, start_server, start_server_on, start_unix_server,
    streams,
};
#[cfg(feature = "tls")]
pub use stream::{TlsStreamReader, TlsStreamWriter, open_connection_tls, start_server_tls};
pub use tcp::{DEFAULT_BACKLOG, Incoming, TcpListener, TcpListenerBuilder, TcpStream};
pub use transport::{
    DatagramProtocol, DatagramTransport, Protocol, Transport, connect_accepted_socket,
    connect_accepted_unix_socket, create_connection, create_datagram_endpoint, create_server,
    create_server_on, create_unix_connection, create_unix_server,
};
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixListener, UnixStream};
