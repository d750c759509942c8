//! [`UnixStream`] and [`UnixListener`].

use std::fmt;
use std::future::Future;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::panic::Location;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use tulip_executor::debug::ResourceTracker;
use tulip_reactor::Async;

use crate::addr::Address;
use crate::split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, StreamSocket, WriteHalf};

/// A connected Unix stream socket.
///
/// # Examples
///
/// ```
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
/// use tulip_net::UnixStream;
///
/// # fn main() -> std::io::Result<()> {
/// tulip_reactor::block_on(async {
///     let (mut a, mut b) = UnixStream::pair()?;
///     a.write_all(b"hi").await?;
///     let mut buf = [0; 2];
///     b.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"hi");
///     Ok(())
/// })
/// # }
/// ```
pub struct UnixStream {
    io: Async<std::os::unix::net::UnixStream>,
    tracker: ResourceTracker,
}

impl UnixStream {
    /// Connects to the socket at `path`.
    ///
    /// # Errors
    ///
    /// `NotFound`, `ConnectionRefused` and the like.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future closes the half-open socket.
    #[track_caller]
    pub fn connect(path: impl AsRef<Path>) -> impl Future<Output = io::Result<UnixStream>> + Send {
        let site = Location::caller();
        let path = path.as_ref().to_owned();
        async move {
            let mut s = UnixStream::connect_untracked(&path).await?;
            s.track("UnixStream", site);
            Ok(s)
        }
    }

    async fn connect_untracked(path: &Path) -> io::Result<UnixStream> {
        let sock = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
        sock.set_nonblocking(true)?;
        let addr = socket2::SockAddr::unix(path)?;
        match sock.connect(&addr) {
            Ok(()) => {}
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock
                    || e.raw_os_error() == Some(crate::tcp::EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        let io = Async::new_nonblocking_stream(std::os::unix::net::UnixStream::from(
            std::os::fd::OwnedFd::from(sock),
        ))?;
        io.write_with(crate::tcp::connect_finished).await?;
        Ok(UnixStream::untracked(io))
    }

    /// A connected pair of sockets (`socketpair`).
    ///
    /// # Errors
    ///
    /// If the descriptors cannot be created or registered.
    #[track_caller]
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        Ok((UnixStream::from_std(a)?, UnixStream::from_std(b)?))
    }

    /// Wraps a connected standard-library socket.
    ///
    /// # Errors
    ///
    /// If the socket cannot be registered with the reactor.
    #[track_caller]
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        UnixStream::from_std_at(stream, Location::caller())
    }

    fn from_std_at(
        stream: std::os::unix::net::UnixStream,
        site: &'static Location<'static>,
    ) -> io::Result<UnixStream> {
        let mut s = UnixStream::untracked(Async::new(stream)?);
        s.track("UnixStream", site);
        Ok(s)
    }

    fn untracked(io: Async<std::os::unix::net::UnixStream>) -> UnixStream {
        UnixStream {
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

    /// Exempts this stream from debug mode's unclosed check (see
    /// [`TcpStream`](crate::TcpStream#debug-mode), whose rules this stream shares).
    pub fn untrack(&mut self) {
        self.tracker.disarm();
    }

    /// The reactor handle, for custom non-blocking operations.
    pub fn as_async(&self) -> &Async<std::os::unix::net::UnixStream> {
        &self.io
    }

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// If the kernel cannot report it.
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

    /// Shuts down the read side, the write side or both.
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

    /// Splits into borrowed halves.
    pub fn split(&mut self) -> (ReadHalf<'_, UnixStream>, WriteHalf<'_, UnixStream>) {
        crate::split::split(self)
    }

    /// Splits into owned halves; dropping the write half shuts down the write side.
    pub fn into_split(self) -> (OwnedReadHalf<UnixStream>, OwnedWriteHalf<UnixStream>) {
        crate::split::into_split(self)
    }
}

impl StreamSocket for UnixStream {
    fn shutdown_write(&self) -> io::Result<()> {
        self.tracker.mark_closed();
        match self.io.get_ref().shutdown(Shutdown::Write) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            r => r,
        }
    }

    fn peer_address(&self) -> io::Result<Address> {
        self.peer_addr().map(Address::Unix)
    }

    fn local_address(&self) -> io::Result<Address> {
        self.local_addr().map(Address::Unix)
    }
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream")
            .field("fd", &self.io.as_raw_fd())
            .finish()
    }
}

impl AsFd for UnixStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl AsRawFd for UnixStream {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

crate::split::impl_stream_io!(UnixStream);

/// A Unix socket listening for connections.
///
/// Binding fails with `AddrInUse` if the path exists; remove a stale socket file first.
pub struct UnixListener {
    io: Async<std::os::unix::net::UnixListener>,
}

impl UnixListener {
    /// Binds to `path` and listens.
    ///
    /// # Errors
    ///
    /// `AddrInUse` if the path exists, `PermissionDenied` and the like.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        Ok(UnixListener {
            io: Async::new(std::os::unix::net::UnixListener::bind(path)?)?,
        })
    }

    /// Wraps a listening standard-library socket.
    ///
    /// # Errors
    ///
    /// If the socket cannot be registered with the reactor.
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        Ok(UnixListener {
            io: Async::new(listener)?,
        })
    }

    /// The bound address.
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
    /// Accept errors such as `EMFILE`; the listener stays usable.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe.
    #[track_caller]
    pub fn accept(&self) -> impl Future<Output = io::Result<(UnixStream, SocketAddr)>> {
        let site = Location::caller();
        async move {
            let (s, peer) = self.io.read_with(|l| l.accept()).await?;
            Ok((UnixStream::from_std_at(s, site)?, peer))
        }
    }

    /// Polls for a connection.
    #[track_caller]
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        self.poll_accept_at(cx, Location::caller())
    }

    /// `poll_accept` naming `site` as the accepted stream's creation site (a server's).
    pub(crate) fn poll_accept_at(
        &self,
        cx: &mut Context<'_>,
        site: &'static Location<'static>,
    ) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        match self.io.poll_read_with(cx, |l| l.accept()) {
            Poll::Ready(Ok((s, peer))) => {
                Poll::Ready(UnixStream::from_std_at(s, site).map(|s| (s, peer)))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener")
            .field("fd", &self.io.as_raw_fd())
            .finish()
    }
}

impl AsFd for UnixListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}
