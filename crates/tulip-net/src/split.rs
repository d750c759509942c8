//! Read and write halves of a stream socket ([`TcpStream`](crate::TcpStream) or
//! [`UnixStream`](crate::UnixStream)).

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_lite::io::{AsyncRead, AsyncWrite};

use crate::addr::Address;
use crate::tcp::TcpStream;

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::TcpStream {}
    impl Sealed for crate::UnixStream {}
}

/// A connected stream socket: [`TcpStream`](crate::TcpStream) or
/// [`UnixStream`](crate::UnixStream). Sealed; it names what the generic halves need.
pub trait StreamSocket: sealed::Sealed + Send + Sync + 'static {
    /// Sends a FIN (shuts down the write side); `Ok` if the connection is already gone.
    ///
    /// # Errors
    ///
    /// Any `shutdown` error other than `NotConnected`.
    fn shutdown_write(&self) -> io::Result<()>;

    /// The remote address.
    ///
    /// # Errors
    ///
    /// `NotConnected` once the peer is gone.
    fn peer_address(&self) -> io::Result<Address>;

    /// The local address.
    ///
    /// # Errors
    ///
    /// If the kernel cannot report it.
    fn local_address(&self) -> io::Result<Address>;
}

/// Implements `AsyncRead`/`AsyncWrite` for a stream socket type and its shared reference by
/// delegating to the reactor handle in field `io`; `poll_close` sends a FIN.
macro_rules! impl_stream_io {
    ($ty:ty) => {
        // `Async`'s `AsyncRead` skips the `WouldBlock` read after a short read (the kernel
        // buffer is then known to be empty); the reactor latches hang-ups, so an end of stream
        // that arrived in the same edge as the last data is still seen.
        impl futures_lite::io::AsyncRead for &$ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut &self.io).poll_read(cx, buf)
            }

            fn poll_read_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &mut [IoSliceMut<'_>],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut &self.io).poll_read_vectored(cx, bufs)
            }
        }

        impl futures_lite::io::AsyncWrite for &$ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut &self.io).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut &self.io).poll_write_vectored(cx, bufs)
            }

            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(crate::split::StreamSocket::shutdown_write(*self))
            }
        }

        impl futures_lite::io::AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut &*self).poll_read(cx, buf)
            }

            fn poll_read_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &mut [IoSliceMut<'_>],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut &*self).poll_read_vectored(cx, bufs)
            }
        }

        impl futures_lite::io::AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut &*self).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut &*self).poll_write_vectored(cx, bufs)
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut &*self).poll_flush(cx)
            }

            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut &*self).poll_close(cx)
            }
        }
    };
}
pub(crate) use impl_stream_io;

/// The borrowed read half of a stream socket, from `split`.
pub struct ReadHalf<'a, S = TcpStream>(&'a S);

/// The borrowed write half of a stream socket, from `split`. Closing it sends a FIN.
pub struct WriteHalf<'a, S = TcpStream>(&'a S);

/// The owned read half of a stream socket, from `into_split`.
pub struct OwnedReadHalf<S = TcpStream> {
    inner: Arc<S>,
}

/// The owned write half of a stream socket, from `into_split`.
///
/// Dropping it (or closing it) sends a FIN so the peer sees end-of-stream even while the read
/// half lives on.
pub struct OwnedWriteHalf<S = TcpStream>
where
    S: StreamSocket,
    for<'a> &'a S: AsyncRead + AsyncWrite,
{
    inner: Arc<S>,
    shutdown_on_drop: bool,
}

/// The error of [`OwnedReadHalf::reunite`]: the halves came from different sockets; both are
/// handed back.
pub struct ReuniteError<S = TcpStream>(pub OwnedReadHalf<S>, pub OwnedWriteHalf<S>)
where
    S: StreamSocket,
    for<'a> &'a S: AsyncRead + AsyncWrite;

pub(crate) fn split<S>(s: &mut S) -> (ReadHalf<'_, S>, WriteHalf<'_, S>) {
    (ReadHalf(s), WriteHalf(s))
}

pub(crate) fn into_split<S>(s: S) -> (OwnedReadHalf<S>, OwnedWriteHalf<S>)
where
    S: StreamSocket,
    for<'a> &'a S: AsyncRead + AsyncWrite,
{
    let inner = Arc::new(s);
    (
        OwnedReadHalf {
            inner: inner.clone(),
        },
        OwnedWriteHalf {
            inner,
            shutdown_on_drop: true,
        },
    )
}

impl<S> OwnedReadHalf<S>
where
    S: StreamSocket,
    for<'a> &'a S: AsyncRead + AsyncWrite,
{
    /// Puts the halves back together.
    ///
    /// # Errors
    ///
    /// [`ReuniteError`] (with both halves) if they come from different sockets.
    pub fn reunite(self, mut write: OwnedWriteHalf<S>) -> Result<S, ReuniteError<S>> {
        if !Arc::ptr_eq(&self.inner, &write.inner) {
            return Err(ReuniteError(self, write));
        }
        write.shutdown_on_drop = false;
        let w = write.inner.clone();
        drop(write);
        drop(self);
        Ok(Arc::into_inner(w).expect("both halves were consumed"))
    }

    /// The remote address.
    ///
    /// # Errors
    ///
    /// `NotConnected` once the peer is gone.
    pub fn peer_address(&self) -> io::Result<Address> {
        self.inner.peer_address()
    }

    /// The socket both halves share.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S> OwnedWriteHalf<S>
where
    S: StreamSocket,
    for<'a> &'a S: AsyncRead + AsyncWrite,
{
    /// The remote address.
    ///
    /// # Errors
    ///
    /// `NotConnected` once the peer is gone.
    pub fn peer_address(&self) -> io::Result<Address> {
        self.inner.peer_address()
    }

    /// The socket both halves share.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S> Drop for OwnedWriteHalf<S>
where
    S: StreamSocket,
    for<'a> &'a S: AsyncRead + AsyncWrite,
{
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            let _ = self.inner.shutdown_write();
        }
    }
}

impl<S> AsyncRead for ReadHalf<'_, S>
where
    for<'a> &'a S: AsyncRead,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self.0).poll_read(cx, buf)
    }

    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self.0).poll_read_vectored(cx, bufs)
    }
}

impl<S> AsyncRead for OwnedReadHalf<S>
where
    for<'a> &'a S: AsyncRead,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self.inner).poll_read(cx, buf)
    }

    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self.inner).poll_read_vectored(cx, bufs)
    }
}

macro_rules! impl_write_half {
    ($ty:ty, |$s:ident| $get:expr) => {
        impl<S> AsyncWrite for $ty
        where
            S: StreamSocket,
            for<'a> &'a S: AsyncRead + AsyncWrite,
        {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                let $s = &*self;
                Pin::new(&mut $get).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                let $s = &*self;
                Pin::new(&mut $get).poll_write_vectored(cx, bufs)
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let $s = &*self;
                Pin::new(&mut $get).poll_flush(cx)
            }

            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let $s = &*self;
                Pin::new(&mut $get).poll_close(cx)
            }
        }
    };
}

impl_write_half!(WriteHalf<'_, S>, |s| &*s.0);
impl_write_half!(OwnedWriteHalf<S>, |s| &*s.inner);

impl<S: fmt::Debug> fmt::Debug for ReadHalf<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ReadHalf").field(self.0).finish()
    }
}

impl<S: fmt::Debug> fmt::Debug for WriteHalf<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WriteHalf").field(self.0).finish()
    }
}

impl<S: fmt::Debug> fmt::Debug for OwnedReadHalf<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OwnedReadHalf").field(&self.inner).finish()
    }
}

impl<S> fmt::Debug for OwnedWriteHalf<S>
where
    S: StreamSocket + fmt::Debug,
    for<'a> &'a S: AsyncRead + AsyncWrite,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OwnedWriteHalf").field(&self.inner).finish()
    }
}

impl<S> fmt::Debug for ReuniteError<S>
where
    S: StreamSocket,
    for<'a> &'a S: AsyncRead + AsyncWrite,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReuniteError(..)")
    }
}

impl<S> fmt::Display for ReuniteError<S>
where
    S: StreamSocket,
    for<'a> &'a S: AsyncRead + AsyncWrite,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tried to reunite halves of different sockets")
    }
}

impl<S> std::error::Error for ReuniteError<S>
where
    S: StreamSocket,
    for<'a> &'a S: AsyncRead + AsyncWrite,
{
}
