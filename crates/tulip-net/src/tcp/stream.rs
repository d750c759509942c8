//! [`TcpStream`]: a connected TCP socket.

use std::fmt;
use std::future::Future;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tulip_executor::debug::ResourceTracker;
use tulip_reactor::Async;

use crate::addr::Address;
use crate::connect::ConnectOptions;
use crate::split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, StreamSocket, WriteHalf};

/// A TCP connection (asyncio's socket under a transport, tokio's `TcpStream`).
///
/// Reads and writes go straight to the socket; both `TcpStream` and `&TcpStream` implement
/// `AsyncRead` and `AsyncWrite`, so one task may read while another writes. Closing the write
/// side (`AsyncWriteExt::close`) sends a FIN (`shutdown(Write)`), as asyncio's `write_eof`.
///
/// # Debug mode
///
/// In debug mode ([`tulip_executor::debug`]) a stream remembers where it was created (the
/// `connect`, `accept` or `from_std` call, or the server that accepted it) and is reported as
/// `unclosed TcpStream` if it is dropped before it was closed: by `AsyncWriteExt::close`,
/// [`shutdown`](TcpStream::shutdown) (`Write` or `Both`), or dropping the
/// [`OwnedWriteHalf`] of [`into_split`](TcpStream::into_split). A socket dropped without a
/// shutdown is closed by the kernel, with a reset instead of a FIN when received data was left
/// unread, so the peer may lose the end of what was sent. [`untrack`](TcpStream::untrack)
/// exempts a stream whose owner closes by dropping on purpose (a connection pool).
///
/// # Examples
///
/// ```
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
/// use tulip_net::{TcpListener, TcpStream};
///
/// # fn main() -> std::io::Result<()> {
/// tulip_reactor::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).await?;
///     let mut client = TcpStream::connect(listener.local_addr()?).await?;
///     let (mut server, _peer) = listener.accept().await?;
///     client.write_all(b"hi").await?;
///     let mut buf = [0; 2];
///     server.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"hi");
///     Ok(())
/// })
/// # }
/// ```
pub struct TcpStream {
    io: Async<std::net::TcpStream>,
    tracker: ResourceTracker,
}

impl TcpStream {
    /// Connects to `addr`.
    ///
    /// # Errors
    ///
    /// The connect error (`ConnectionRefused`, `TimedOut` from the kernel, ...).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the attempt and closes the half-open socket.
    #[track_caller]
    pub fn connect(addr: SocketAddr) -> impl Future<Output = io::Result<TcpStream>> + Send {
        let site = Location::caller();
        async move {
            let mut s = TcpStream::connect_untracked(addr).await?;
            s.track("TcpStream", site);
            Ok(s)
        }
    }

    /// `connect` for tulip's own callers, which track the stream themselves (or not at all).
    pub(crate) async fn connect_untracked(addr: SocketAddr) -> io::Result<TcpStream> {
        let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        sock.set_nonblocking(true)?;
        match sock.connect(&addr.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        let io = Async::new_nonblocking_stream(std::net::TcpStream::from(sock))?;
        io.write_with(connect_finished).await?;
        Ok(TcpStream::from_async(io))
    }

    /// Connects to `host:port`, resolving the name off the worker threads and racing the
    /// addresses with Happy Eyeballs (RFC 8305); see [`ConnectOptions`] for the timeout and
    /// the stagger delay.
    ///
    /// # Errors
    ///
    /// A resolution error, the last connect error when every address failed, or `TimedOut`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels every attempt in flight.
    #[track_caller]
    pub fn connect_host(host: &str, port: u16) -> impl Future<Output = io::Result<TcpStream>> {
        let site = Location::caller();
        async move {
            let mut s = ConnectOptions::new().connect_untracked(host, port).await?;
            s.track("TcpStream", site);
            Ok(s)
        }
    }

    /// Wraps a connected standard-library socket (switching it to non-blocking mode).
    ///
    /// # Errors
    ///
    /// If the socket cannot be registered with the reactor.
    #[track_caller]
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        let mut s = TcpStream::from_async(Async::new(stream)?);
        s.track("TcpStream", Location::caller());
        Ok(s)
    }

    /// An untracked stream (the caller tracks it, see [`track`](Self::track)).
    pub(crate) fn from_async(io: Async<std::net::TcpStream>) -> TcpStream {
        TcpStream {
            io,
            tracker: ResourceTracker::none(),
        }
    }

    /// Starts (or restarts) debug mode's unclosed check, naming `kind` created at `site`.
    pub(crate) fn track(&mut self, kind: &'static str, site: &'static Location<'static>) {
        self.tracker.disarm();
        self.tracker = ResourceTracker::at(kind, site);
    }

    /// Where debug mode says the stream was created, if it was on then.
    pub(crate) fn site(&self) -> Option<&'static Location<'static>> {
        self.tracker.site()
    }

    /// Exempts this stream from debug mode's unclosed check (see [Debug mode](TcpStream#debug-mode)),
    /// for an owner that closes it by dropping on purpose.
    pub fn untrack(&mut self) {
        self.tracker.disarm();
    }

    /// Unwraps the standard-library socket (left in non-blocking mode).
    ///
    /// # Errors
    ///
    /// If the socket cannot be deregistered.
    pub fn into_std(mut self) -> io::Result<std::net::TcpStream> {
        self.tracker.disarm();
        self.io.into_inner()
    }

    /// The reactor handle, for custom non-blocking operations (`read_with`, `writable`).
    pub fn as_async(&self) -> &Async<std::net::TcpStream> {
        &self.io
    }

    /// The remote address.
    ///
    /// # Errors
    ///
    /// `NotConnected` once the peer is gone.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// If the kernel cannot report it.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Shuts down the read side, the write side (sends a FIN) or both.
    ///
    /// # Errors
    ///
    /// `NotConnected` if the socket is not connected.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if how != Shutdown::Read {
            self.tracker.mark_closed();
        }
        self.io.get_ref().shutdown(how)
    }

    /// Reads without consuming (`MSG_PEEK`).
    ///
    /// # Errors
    ///
    /// Any socket error.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: nothing is consumed.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read_with(|s| s.peek(buf)).await
    }

    /// Sets `TCP_NODELAY` (disables Nagle's algorithm: small writes leave at once).
    ///
    /// # Errors
    ///
    /// Any `setsockopt` error.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.io.get_ref().set_nodelay(on)
    }

    /// Whether `TCP_NODELAY` is set.
    ///
    /// # Errors
    ///
    /// Any `getsockopt` error.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get_ref().nodelay()
    }

    /// Enables TCP keepalive probes after `idle` without traffic, or disables them (`None`).
    ///
    /// # Errors
    ///
    /// Any `setsockopt` error.
    pub fn set_keepalive(&self, idle: Option<Duration>) -> io::Result<()> {
        let sock = SockRef::from(self.io.get_ref());
        match idle {
            Some(t) => sock.set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(t)),
            None => sock.set_keepalive(false),
        }
    }

    /// Whether keepalive probes are enabled.
    ///
    /// # Errors
    ///
    /// Any `getsockopt` error.
    pub fn keepalive(&self) -> io::Result<bool> {
        SockRef::from(self.io.get_ref()).keepalive()
    }

    /// Sets the kernel send buffer size (`SO_SNDBUF`; Linux doubles the value).
    ///
    /// # Errors
    ///
    /// Any `setsockopt` error.
    pub fn set_send_buffer_size(&self, size: usize) -> io::Result<()> {
        SockRef::from(self.io.get_ref()).set_send_buffer_size(size)
    }

    /// The kernel send buffer size.
    ///
    /// # Errors
    ///
    /// Any `getsockopt` error.
    pub fn send_buffer_size(&self) -> io::Result<usize> {
        SockRef::from(self.io.get_ref()).send_buffer_size()
    }

    /// Sets the kernel receive buffer size (`SO_RCVBUF`).
    ///
    /// # Errors
    ///
    /// Any `setsockopt` error.
    pub fn set_recv_buffer_size(&self, size: usize) -> io::Result<()> {
        SockRef::from(self.io.get_ref()).set_recv_buffer_size(size)
    }

    /// The kernel receive buffer size.
    ///
    /// # Errors
    ///
    /// Any `getsockopt` error.
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        SockRef::from(self.io.get_ref()).recv_buffer_size()
    }

    /// Sets the IP time-to-live of outgoing packets.
    ///
    /// # Errors
    ///
    /// Any `setsockopt` error.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// The IP time-to-live.
    ///
    /// # Errors
    ///
    /// Any `getsockopt` error.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
    }

    /// Sets `SO_LINGER`. `Some(Duration::ZERO)` makes close send a RST (an abort).
    ///
    /// # Errors
    ///
    /// Any `setsockopt` error.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        SockRef::from(self.io.get_ref()).set_linger(linger)
    }

    /// The `SO_LINGER` setting.
    ///
    /// # Errors
    ///
    /// Any `getsockopt` error.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        SockRef::from(self.io.get_ref()).linger()
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    ///
    /// # Errors
    ///
    /// Any `getsockopt` error.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }

    /// Splits into borrowed halves that a reader and a writer can use at the same time.
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        crate::split::split(self)
    }

    /// Splits into owned halves that can move to different tasks. Dropping the write half
    /// sends a FIN; [`OwnedReadHalf::reunite`] puts them back together.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        crate::split::into_split(self)
    }
}

/// `EINPROGRESS` (Linux): a non-blocking connect under way.
pub(crate) const EINPROGRESS: i32 = 115;

/// Tells whether a non-blocking connect has finished: its error, `Ok` once connected, and
/// `WouldBlock` while the handshake is still under way. A socket is reported writable before
/// the connect completes (a fresh registration counts as ready), so writability alone proves
/// nothing; with `WouldBlock`, `write_with` waits for the next edge.
pub(crate) fn connect_finished<S: AsFd>(s: &S) -> io::Result<()> {
    let sock = SockRef::from(s);
    if let Some(e) = sock.take_error()? {
        return Err(e);
    }
    match sock.peer_addr() {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Err(io::ErrorKind::WouldBlock.into()),
        Err(e) => Err(e),
    }
}

impl StreamSocket for TcpStream {
    fn shutdown_write(&self) -> io::Result<()> {
        self.tracker.mark_closed();
        match self.io.get_ref().shutdown(Shutdown::Write) {
            // The peer already reset or closed: nothing left to shut down.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            r => r,
        }
    }

    fn peer_address(&self) -> io::Result<Address> {
        self.peer_addr().map(Address::Ip)
    }

    fn local_address(&self) -> io::Result<Address> {
        self.local_addr().map(Address::Ip)
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TcpStream");
        if let Ok(a) = self.local_addr() {
            d.field("local", &a);
        }
        if let Ok(a) = self.peer_addr() {
            d.field("peer", &a);
        }
        d.field("fd", &self.io.as_raw_fd()).finish()
    }
}

impl AsFd for TcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

crate::split::impl_stream_io!(TcpStream);
