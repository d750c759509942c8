//! [`TcpListener`] and its [`TcpListenerBuilder`].

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::Stream;
use socket2::{Domain, Protocol, Socket, Type};
use tulip_reactor::Async;

use crate::tcp::TcpStream;

/// The default listen backlog, as asyncio's `create_server` (100) rounded up to the Linux
/// `somaxconn` default since 5.4.
pub const DEFAULT_BACKLOG: i32 = 1024;

/// A TCP socket listening for connections.
///
/// # Examples
///
/// ```
/// use tulip_net::{TcpListener, TcpStream};
///
/// # fn main() -> std::io::Result<()> {
/// tulip_reactor::block_on(async {
///     let listener = TcpListener::builder().reuse_address(true).backlog(16)
///         .bind("127.0.0.1:0".parse().unwrap())?;
///     let client = TcpStream::connect(listener.local_addr()?).await?;
///     let (_server, peer) = listener.accept().await?;
///     assert_eq!(peer, client.local_addr()?);
///     Ok(())
/// })
/// # }
/// ```
pub struct TcpListener {
    io: Async<std::net::TcpListener>,
}

/// Socket options applied before `bind` (asyncio's `reuse_address`, `reuse_port`, `backlog`).
#[derive(Debug, Clone)]
pub struct TcpListenerBuilder {
    backlog: i32,
    reuse_address: bool,
    reuse_port: bool,
    only_v6: Option<bool>,
}

impl Default for TcpListenerBuilder {
    fn default() -> TcpListenerBuilder {
        TcpListenerBuilder {
            backlog: DEFAULT_BACKLOG,
            // asyncio sets SO_REUSEADDR on Unix by default so a restarted server can rebind
            // while old connections sit in TIME_WAIT.
            reuse_address: true,
            reuse_port: false,
            only_v6: None,
        }
    }
}

impl TcpListenerBuilder {
    /// The listen backlog (default [`DEFAULT_BACKLOG`]).
    pub fn backlog(mut self, backlog: i32) -> Self {
        self.backlog = backlog;
        self
    }

    /// `SO_REUSEADDR` (default on).
    pub fn reuse_address(mut self, on: bool) -> Self {
        self.reuse_address = on;
        self
    }

    /// `SO_REUSEPORT`: several listeners on one port. On Linux the kernel balances new
    /// connections between them; macOS and the BSDs only let them all bind (one of them gets
    /// the connections); illumos has no such option, and [`bind`](Self::bind) then fails with
    /// `io::ErrorKind::Unsupported`.
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.reuse_port = on;
        self
    }

    /// `IPV6_V6ONLY` for IPv6 addresses (the system default when unset).
    pub fn only_v6(mut self, on: bool) -> Self {
        self.only_v6 = Some(on);
        self
    }

    /// Creates the socket, applies the options, binds and listens.
    ///
    /// # Errors
    ///
    /// `AddrInUse`, `PermissionDenied` and the like.
    pub fn bind(&self, addr: SocketAddr) -> io::Result<TcpListener> {
        let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        sock.set_reuse_address(self.reuse_address)?;
        if self.reuse_port {
            set_reuse_port(&sock)?;
        }
        if let (Some(v6), SocketAddr::V6(_)) = (self.only_v6, addr) {
            sock.set_only_v6(v6)?;
        }
        sock.set_nonblocking(true)?;
        sock.bind(&addr.into())?;
        sock.listen(self.backlog)?;
        Ok(TcpListener {
            io: Async::new_nonblocking(std::net::TcpListener::from(sock))?,
        })
    }
}

impl TcpListener {
    /// Binds to `addr` with the default options.
    ///
    /// # Errors
    ///
    /// `AddrInUse`, `PermissionDenied` and the like.
    ///
    /// # Cancel safety
    ///
    /// Binding completes at once; the future exists so that name resolution can be added.
    pub async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
        TcpListenerBuilder::default().bind(addr)
    }

    /// Options for binding: backlog, `SO_REUSEADDR`, `SO_REUSEPORT`.
    pub fn builder() -> TcpListenerBuilder {
        TcpListenerBuilder::default()
    }

    /// Wraps a listening standard-library socket.
    ///
    /// # Errors
    ///
    /// If the socket cannot be registered with the reactor.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener {
            io: Async::new(listener)?,
        })
    }

    /// The bound address (with the port the kernel chose for port 0).
    ///
    /// # Errors
    ///
    /// If the kernel cannot report it.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Waits for a connection.
    ///
    /// # Errors
    ///
    /// Accept errors such as `EMFILE` (too many open files): the listener stays usable.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a connection is accepted only in the poll that returns it.
    #[track_caller]
    pub fn accept(&self) -> impl Future<Output = io::Result<(TcpStream, SocketAddr)>> {
        let site = Location::caller();
        async move {
            let (s, peer) = self.io.read_with(accept_nonblocking).await?;
            let mut s = TcpStream::from_async(Async::new_nonblocking_stream(s)?);
            s.track("TcpStream", site);
            Ok((s, peer))
        }
    }

    /// Polls for a connection (the poll form of [`TcpListener::accept`]).
    #[track_caller]
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        self.poll_accept_at(cx, Location::caller())
    }

    /// `poll_accept` naming `site` as the accepted stream's creation site (a server's).
    pub(crate) fn poll_accept_at(
        &self,
        cx: &mut Context<'_>,
        site: &'static Location<'static>,
    ) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        match self.io.poll_read_with(cx, accept_nonblocking) {
            Poll::Ready(Ok((s, peer))) => Poll::Ready(Async::new_nonblocking_stream(s).map(|s| {
                let mut s = TcpStream::from_async(s);
                s.track("TcpStream", site);
                (s, peer)
            })),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// A stream of incoming connections (never ends; errors are items).
    #[track_caller]
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming {
            listener: self,
            site: Location::caller(),
        }
    }

    /// Sets the IP time-to-live of accepted connections' packets.
    ///
    /// # Errors
    ///
    /// Any `setsockopt` error.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }
}

/// The stream of [`TcpListener::incoming`].
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
    site: &'static Location<'static>,
}

impl Stream for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.listener
            .poll_accept_at(cx, self.site)
            .map(|r| Some(r.map(|(s, _)| s)))
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TcpListener");
        if let Ok(a) = self.local_addr() {
            d.field("local", &a);
        }
        d.field("fd", &self.io.as_raw_fd()).finish()
    }
}

impl AsFd for TcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

/// Sets `SO_REUSEPORT`, or says that the platform has no such option.
pub(crate) fn set_reuse_port(sock: &Socket) -> io::Result<()> {
    #[cfg(not(any(target_os = "solaris", target_os = "illumos")))]
    return sock.set_reuse_port(true);
    #[cfg(any(target_os = "solaris", target_os = "illumos"))]
    {
        let _ = sock;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "SO_REUSEPORT is not available on this platform: bind one listener and share it",
        ))
    }
}

/// Accepts one connection, already non-blocking and close-on-exec: on Linux one `accept4`,
/// where `std`'s accept and then [`Async::new`] spend an `accept4`, an `ioctl(FIONBIO)` and a
/// `getsockopt(SO_TYPE)` (the stream is registered with [`Async::new_nonblocking_stream`]).
fn accept_nonblocking(l: &std::net::TcpListener) -> io::Result<(std::net::TcpStream, SocketAddr)> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::net::{SocketFlags, acceptfrom_with};
        loop {
            match acceptfrom_with(l, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC) {
                Ok((fd, peer)) => {
                    let peer =
                        peer.and_then(|a| SocketAddr::try_from(a).ok())
                            .ok_or_else(|| {
                                io::Error::other(
                                    "accept gave no IP address for the peer of a TCP socket",
                                )
                            })?;
                    return Ok((std::net::TcpStream::from(fd), peer));
                }
                // `std`'s accept retries an interrupted call too.
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let (s, peer) = l.accept()?;
        s.set_nonblocking(true)?;
        Ok((s, peer))
    }
}
