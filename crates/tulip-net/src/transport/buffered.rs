//! [`BufferedProtocol`]: asyncio's protocol that hands the transport its own buffers, so
//! reads land where the protocol wants them with no copy.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use crate::server::Server;
use crate::transport::Transport;
use crate::transport::conn::{Buffered, Conn};
use crate::transport::handle::{Shared, Sock};
use crate::{TcpListener, TcpStream};

/// asyncio's `BufferedProtocol`: like [`Protocol`](crate::Protocol), but the protocol owns
/// the receive buffer. The connection task asks [`get_buffer`](BufferedProtocol::get_buffer)
/// for somewhere to read into, reads from the socket (or the TLS session) straight into it,
/// and reports how much arrived with [`buffer_updated`](BufferedProtocol::buffer_updated).
/// A parser that wants a whole frame in one place, or a proxy that forwards from a fixed
/// buffer, skips the copy `data_received` implies.
///
/// Every method runs on the connection's task, one at a time.
///
/// # Examples
///
/// A protocol that counts bytes into one fixed buffer:
///
/// ```
/// use tulip_net::{BufferedProtocol, Transport, create_buffered_server, open_connection};
///
/// struct Upper { buf: Vec<u8>, t: Option<Transport> }
///
/// impl BufferedProtocol for Upper {
///     fn connection_made(&mut self, t: Transport) { self.t = Some(t); }
///     fn get_buffer(&mut self, _size_hint: usize) -> &mut [u8] { &mut self.buf }
///     fn buffer_updated(&mut self, n: usize) {
///         let out = self.buf[..n].to_ascii_uppercase();
///         self.t.as_ref().unwrap().write(&out);
///     }
/// }
///
/// # fn main() -> std::io::Result<()> {
/// tulip_executor::run(async {
///     let server = create_buffered_server(
///         || Upper { buf: vec![0; 4096], t: None },
///         "127.0.0.1:0".parse().unwrap(),
///     )?;
///     let port = server.local_addr().unwrap().port();
///     let (mut r, mut w) = open_connection("127.0.0.1", port).await?;
///     w.write(b"shout");
///     w.drain().await?;
///     assert_eq!(r.read_exactly(5).await?, b"SHOUT");
///     server.close();
///     Ok(())
/// })
/// # }
/// ```
pub trait BufferedProtocol: Send + 'static {
    /// The connection is up; `transport` is this connection's handle.
    fn connection_made(&mut self, transport: Transport) {
        let _ = transport;
    }

    /// The buffer the next read fills. `size_hint` is how much the task would like (64 KiB);
    /// any non-empty length works. An empty buffer ends the connection with an
    /// `InvalidInput` error.
    fn get_buffer(&mut self, size_hint: usize) -> &mut [u8];

    /// `nbytes` bytes were written at the start of the buffer the last `get_buffer` returned.
    fn buffer_updated(&mut self, nbytes: usize);

    /// The peer sent end-of-stream; return `true` to keep the transport open for writing
    /// (as [`Protocol::eof_received`](crate::Protocol::eof_received)).
    fn eof_received(&mut self) -> bool {
        false
    }

    /// The connection is gone; called exactly once, last.
    fn connection_lost(&mut self, error: Option<io::Error>) {
        let _ = error;
    }

    /// The write buffer passed the high-water mark.
    fn pause_writing(&mut self) {}

    /// The write buffer drained to the low-water mark.
    fn resume_writing(&mut self) {}
}

fn spawn_buffered<B: BufferedProtocol>(
    sock: Sock,
    protocol: B,
    guard: Option<crate::server::ConnGuard>,
) -> Transport {
    let (conn, transport) = Conn::new(
        std::sync::Arc::new(Shared::new(sock)),
        Buffered(protocol),
        guard,
    );
    tulip_executor::spawn(conn).detach();
    transport
}

/// [`create_server`](crate::create_server) for a [`BufferedProtocol`] (asyncio's
/// `create_server` with a buffered protocol factory). Must run inside a tulip runtime.
///
/// # Errors
///
/// Bind errors.
#[track_caller]
pub fn create_buffered_server<B, F>(protocol_factory: F, addr: SocketAddr) -> io::Result<Server>
where
    B: BufferedProtocol,
    F: Fn() -> B + Send + Sync + 'static,
{
    Server::spawn_plain(
        TcpListener::builder().bind(addr)?,
        move |s: TcpStream, guard| {
            let _ = s.set_nodelay(true);
            spawn_buffered(Sock::Tcp(s), protocol_factory(), Some(guard));
        },
    )
}

/// [`create_connection`](crate::create_connection) for a [`BufferedProtocol`].
///
/// # Errors
///
/// Resolution and connect errors.
///
/// # Cancel safety
///
/// Dropping the future before it connects cancels the attempts; no protocol is created.
#[track_caller]
pub fn create_buffered_connection<B, F>(
    protocol_factory: F,
    host: &str,
    port: u16,
) -> impl Future<Output = io::Result<Transport>>
where
    B: BufferedProtocol,
    F: FnOnce() -> B,
{
    let connect = TcpStream::connect_host(host, port);
    async move {
        let stream = connect.await?;
        let _ = stream.set_nodelay(true);
        Ok(spawn_buffered(Sock::Tcp(stream), protocol_factory(), None))
    }
}
