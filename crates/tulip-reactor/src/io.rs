//! [`Async<T>`]: a non-blocking I/O object registered with the reactor.

use std::fmt;
use std::future::Future;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_lite::io::{AsyncRead, AsyncWrite};

use crate::reactor::Reactor;
use crate::source::{Dir, Source};

/// An I/O object (socket, pipe, any pollable file descriptor) driven by the reactor.
///
/// `Async::new` switches the descriptor to non-blocking mode and registers it with the
/// reactor once, in edge-triggered mode: no system call per readiness event beyond the I/O
/// itself (a socket that stays ready while edges keep coming has its registration narrowed
/// once, and re-armed once when it stops being ready). Operations first try the I/O and
/// only wait when it would block.
///
/// Reads and writes wait independently, so one task may read while another writes through
/// `&Async<T>` (both `AsyncRead` and `AsyncWrite` are implemented for shared references when
/// `&T` implements `Read`/`Write`, as for `TcpStream` and `UnixStream`).
///
/// # Examples
///
/// ```
/// use std::net::{TcpListener, TcpStream};
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
/// use tulip_reactor::{block_on, Async};
///
/// # fn main() -> std::io::Result<()> {
/// let listener = Async::new(TcpListener::bind("127.0.0.1:0")?)?;
/// let addr = listener.get_ref().local_addr()?;
/// block_on(async {
///     let mut client = Async::<TcpStream>::connect(addr).await?;
///     let (server, _) = listener.read_with(|l| l.accept()).await?;
///     let mut server = Async::new(server)?;
///     client.write_all(b"ping").await?;
///     let mut buf = [0; 4];
///     server.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"ping");
///     Ok(())
/// })
/// # }
/// ```
pub struct Async<T: AsFd> {
    source: Arc<Source>,
    io: Option<T>,
}

impl<T: AsFd> Async<T> {
    /// Makes `io` non-blocking and registers it with the reactor.
    ///
    /// # Errors
    ///
    /// If the descriptor cannot be made non-blocking or registered (for example a regular
    /// file, which epoll refuses with `EPERM`).
    pub fn new(io: T) -> io::Result<Async<T>> {
        let fd = io.as_fd();
        rustix::io::ioctl_fionbio(fd, true)?;
        let stream = matches!(
            rustix::net::sockopt::socket_type(fd),
            Ok(rustix::net::SocketType::STREAM)
        );
        let source = Reactor::get().register(fd, stream)?;
        Ok(Async {
            source,
            io: Some(io),
        })
    }

    /// Like [`Async::new`] for a descriptor that is already non-blocking.
    ///
    /// # Errors
    ///
    /// If the descriptor cannot be registered.
    pub fn new_nonblocking(io: T) -> io::Result<Async<T>> {
        let fd = io.as_fd();
        let stream = matches!(
            rustix::net::sockopt::socket_type(fd),
            Ok(rustix::net::SocketType::STREAM)
        );
        let source = Reactor::get().register(fd, stream)?;
        Ok(Async {
            source,
            io: Some(io),
        })
    }

    /// Like [`Async::new_nonblocking`] for a descriptor the caller knows to be a connected
    /// stream socket (TCP, Unix stream) or an anonymous pipe: skips the `getsockopt` that
    /// [`Async::new_nonblocking`] spends to find out.
    ///
    /// A short read or write then proves the kernel buffer drained or filled, so the next
    /// one waits for an event instead of trying first and getting `EAGAIN`; and a hang-up is
    /// taken as final. Do not use it for a datagram socket or a named pipe (FIFO), where
    /// neither holds.
    ///
    /// ```
    /// use futures_lite::{AsyncReadExt, AsyncWriteExt};
    /// use std::os::unix::net::UnixStream;
    /// use tulip_reactor::Async;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let (a, b) = UnixStream::pair()?;
    /// a.set_nonblocking(true)?;
    /// b.set_nonblocking(true)?;
    /// let (mut a, mut b) = (Async::new_nonblocking_stream(a)?, Async::new_nonblocking_stream(b)?);
    /// tulip_reactor::block_on(async {
    ///     a.write_all(b"ping").await?;
    ///     let mut buf = [0; 4];
    ///     b.read_exact(&mut buf).await?;
    ///     assert_eq!(&buf, b"ping");
    ///     Ok(())
    /// })
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// If the descriptor cannot be registered.
    pub fn new_nonblocking_stream(io: T) -> io::Result<Async<T>> {
        let source = Reactor::get().register(io.as_fd(), true)?;
        Ok(Async {
            source,
            io: Some(io),
        })
    }

    /// The inner I/O object.
    pub fn get_ref(&self) -> &T {
        self.io.as_ref().expect("io taken")
    }

    /// The inner I/O object, mutably.
    ///
    /// Do not replace its file descriptor: the reactor knows it by number.
    pub fn get_mut(&mut self) -> &mut T {
        self.io.as_mut().expect("io taken")
    }

    /// Deregisters and returns the inner object (still in non-blocking mode).
    ///
    /// # Errors
    ///
    /// If deregistration fails; the object is then dropped.
    pub fn into_inner(mut self) -> io::Result<T> {
        let io = self.io.take().expect("io taken");
        Reactor::get().deregister(&self.source, io.as_fd())?;
        Ok(io)
    }

    /// Waits until the object is readable (a later read may still return `WouldBlock`;
    /// prefer [`Async::read_with`], which retries).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future removes its waker and consumes nothing.
    pub fn readable(&self) -> Readable<'_> {
        Readable {
            source: &self.source,
            dir: Dir::Read,
            key: None,
        }
    }

    /// Waits until the object is writable.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future removes its waker and consumes nothing.
    pub fn writable(&self) -> Readable<'_> {
        Readable {
            source: &self.source,
            dir: Dir::Write,
            key: None,
        }
    }

    /// Polls for read readiness, storing the waker in the single poll slot.
    pub fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.source.poll_ready(Dir::Read, cx).map(|_| Ok(()))
    }

    /// Polls for write readiness, storing the waker in the single poll slot.
    pub fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.source.poll_ready(Dir::Write, cx).map(|_| Ok(()))
    }

    /// Runs a non-blocking read-side operation, waiting for readiness whenever it returns
    /// `WouldBlock` (for `accept`, `recv_from`, `peek` and the like).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe if `op` is: the operation either ran to completion or did not run.
    pub async fn read_with<R>(&self, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.op_with(Dir::Read, op).await
    }

    /// Like [`Async::read_with`] with mutable access.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe if `op` is.
    pub async fn read_with_mut<R>(
        &mut self,
        mut op: impl FnMut(&mut T) -> io::Result<R>,
    ) -> io::Result<R> {
        let io = self.io.as_mut().expect("io taken");
        op_with(&self.source, Dir::Read, || op(io)).await
    }

    /// Runs a non-blocking write-side operation, waiting for readiness whenever it returns
    /// `WouldBlock` (for `send_to`, `connect` completion and the like).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe if `op` is.
    pub async fn write_with<R>(&self, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.op_with(Dir::Write, op).await
    }

    /// Like [`Async::write_with`] with mutable access.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe if `op` is.
    pub async fn write_with_mut<R>(
        &mut self,
        mut op: impl FnMut(&mut T) -> io::Result<R>,
    ) -> io::Result<R> {
        let io = self.io.as_mut().expect("io taken");
        op_with(&self.source, Dir::Write, || op(io)).await
    }

    async fn op_with<R>(&self, dir: Dir, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        let io = self.get_ref();
        op_with(&self.source, dir, || op(io)).await
    }

    /// Polls a non-blocking read-side operation (the poll form of [`Async::read_with`]).
    pub fn poll_read_with<R>(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let io = self.get_ref();
        self.source.poll_io(Dir::Read, cx, || op(io), |_| false)
    }

    /// Polls a non-blocking write-side operation.
    pub fn poll_write_with<R>(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let io = self.get_ref();
        self.source.poll_io(Dir::Write, cx, || op(io), |_| false)
    }
}

fn op_with<R, F: FnMut() -> io::Result<R> + Unpin>(
    source: &Source,
    dir: Dir,
    op: F,
) -> OpWith<'_, F> {
    OpWith {
        source,
        dir,
        key: None,
        op,
    }
}

/// The future behind `read_with`/`write_with`: retries `op` until it stops returning
/// `WouldBlock`, waiting with its own waker slot, which it removes when dropped mid-wait.
struct OpWith<'a, F> {
    source: &'a Source,
    dir: Dir,
    key: Option<usize>,
    op: F,
}

impl<R, F: FnMut() -> io::Result<R> + Unpin> Future for OpWith<'_, F> {
    type Output = io::Result<R>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        let this = &mut *self;
        loop {
            let snap = match this.source.poll_ready_keyed(this.dir, &mut this.key, cx) {
                Poll::Ready(s) => s,
                Poll::Pending => return Poll::Pending,
            };
            match (this.op)() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    this.source.clear_ready(this.dir, snap)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                res => return Poll::Ready(res),
            }
        }
    }
}

impl<F> Drop for OpWith<'_, F> {
    fn drop(&mut self) {
        self.source.remove_keyed(self.dir, &mut self.key);
    }
}

impl Async<std::net::TcpStream> {
    /// Connects to `addr` without blocking (the connect completes in the reactor).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future closes the half-open socket.
    pub async fn connect(addr: std::net::SocketAddr) -> io::Result<Async<std::net::TcpStream>> {
        use rustix::net::{AddressFamily, SocketFlags, SocketType, ipproto};
        let family = if addr.is_ipv4() {
            AddressFamily::INET
        } else {
            AddressFamily::INET6
        };
        // Apple's socket(2) takes no flags: set them with separate calls below.
        #[cfg(not(target_vendor = "apple"))]
        let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
        #[cfg(target_vendor = "apple")]
        let flags = SocketFlags::empty();
        let fd: OwnedFd =
            rustix::net::socket_with(family, SocketType::STREAM, flags, Some(ipproto::TCP))?;
        #[cfg(target_vendor = "apple")]
        {
            rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC)?;
            rustix::io::ioctl_fionbio(&fd, true)?;
            // No MSG_NOSIGNAL there: like std's sockets, never raise SIGPIPE on a write.
            rustix::net::sockopt::set_socket_nosigpipe(&fd, true)?;
        }
        match rustix::net::connect(&fd, &addr) {
            Ok(()) | Err(rustix::io::Errno::INPROGRESS) => {}
            Err(e) => return Err(e.into()),
        }
        let stream = Async::new_nonblocking_stream(std::net::TcpStream::from(fd))?;
        // A fresh source starts out optimistically writable, so "writable" alone does not mean
        // the handshake finished: ask the socket, and wait for the next edge while it is
        // still connecting.
        stream
            .write_with(|s| match s.take_error()? {
                Some(e) => Err(e),
                None => match s.peer_addr() {
                    Ok(_) => Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                        Err(io::ErrorKind::WouldBlock.into())
                    }
                    Err(e) => Err(e),
                },
            })
            .await?;
        Ok(stream)
    }
}

impl<T: AsFd> Drop for Async<T> {
    fn drop(&mut self) {
        if let Some(io) = self.io.take() {
            // Deregister before the descriptor closes (when `io` drops) so a reused fd number
            // can never be confused with this one.
            let _ = Reactor::get().deregister(&self.source, io.as_fd());
        }
    }
}

impl<T: AsFd> AsFd for Async<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.get_ref().as_fd()
    }
}

impl<T: AsFd> AsRawFd for Async<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.source.fd
    }
}

impl<T: AsFd + fmt::Debug> fmt::Debug for Async<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Async").field("io", &self.io).finish()
    }
}

/// The future of [`Async::readable`] and [`Async::writable`].
#[must_use = "futures do nothing unless awaited"]
pub struct Readable<'a> {
    source: &'a Source,
    dir: Dir,
    key: Option<usize>,
}

impl Future for Readable<'_> {
    type Output = io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        this.source
            .poll_ready_keyed(this.dir, &mut this.key, cx)
            .map(|_| Ok(()))
    }
}

impl Drop for Readable<'_> {
    fn drop(&mut self) {
        self.source.remove_keyed(self.dir, &mut self.key);
    }
}

impl fmt::Debug for Readable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Readable")
            .field("dir", &self.dir)
            .field("ready", &self.source.is_ready(self.dir))
            .finish()
    }
}

fn short_read(len: usize) -> impl Fn(&usize) -> bool {
    move |&n| n > 0 && n < len
}

fn total_len<S: std::ops::Deref<Target = [u8]>>(bufs: &[S]) -> usize {
    bufs.iter().map(|b| b.len()).sum()
}

macro_rules! impl_async_io {
    ($($ty:ty => |$s:ident| $get:expr),* $(,)?) => {$(
        impl<T: AsFd> AsyncRead for $ty
        where
            for<'x> &'x T: Read,
        {
            fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
                let $s = self; let this: &Async<T> = $get;
                let len = buf.len();
                this.source.poll_io(Dir::Read, cx, || (&mut &*this.get_ref()).read(buf), short_read(len))
            }

            fn poll_read_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &mut [IoSliceMut<'_>]) -> Poll<io::Result<usize>> {
                let $s = self; let this: &Async<T> = $get;
                let len = total_len(bufs);
                this.source.poll_io(Dir::Read, cx, || (&mut &*this.get_ref()).read_vectored(bufs), short_read(len))
            }
        }

        impl<T: AsFd> AsyncWrite for $ty
        where
            for<'x> &'x T: Write,
        {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                let $s = self; let this: &Async<T> = $get;
                let len = buf.len();
                this.source.poll_io(Dir::Write, cx, || (&mut &*this.get_ref()).write(buf), short_read(len))
            }

            fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
                let $s = self; let this: &Async<T> = $get;
                let len = total_len(bufs);
                this.source.poll_io(Dir::Write, cx, || (&mut &*this.get_ref()).write_vectored(bufs), short_read(len))
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let $s = self; let this: &Async<T> = $get;
                this.source.poll_io(Dir::Write, cx, || (&mut &*this.get_ref()).flush(), |_| false)
            }

            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.poll_flush(cx)
            }
        }
    )*};
}

impl_async_io!(Async<T> => |s| &*s, &Async<T> => |s| *s);
