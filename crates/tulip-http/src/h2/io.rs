//! The seam between tulip's transports and the `h2` crate: tulip streams speak futures-io's
//! `AsyncRead`/`AsyncWrite`, `h2` speaks tokio's. [`Compat`] translates one call into the other
//! with no buffering of its own; [`Rewind`] replays the bytes HTTP/1.1 had read when it saw
//! the HTTP/2 connection preface, so HTTP/2 sees them first.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use futures_lite::io::{AsyncRead, AsyncWrite};
use tokio::io::ReadBuf;

/// Smallest and largest read offered to the transport.
const MIN_READ: usize = 1024;
const MAX_READ: usize = 64 * 1024;

/// A futures-io transport seen through tokio's io traits.
#[derive(Debug)]
pub(crate) struct Compat<I> {
    pub(crate) io: I,
    /// How much the next read offers: futures-io reads into initialised memory, so every
    /// read zeroes what it offers first (the price of no `unsafe`). Offering what the last
    /// reads needed, not the caller's whole spare capacity, keeps that memset small for small
    /// frames; a read that fills its offer doubles the next one.
    offer: usize,
}

impl<I> Compat<I> {
    pub(crate) fn new(io: I) -> Compat<I> {
        Compat {
            io,
            offer: 4 * MIN_READ,
        }
    }
}

impl<I: AsyncRead + Unpin> tokio::io::AsyncRead for Compat<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let offer = self.offer.min(buf.remaining());
        let n = futures_lite::ready!(
            Pin::new(&mut self.io).poll_read(cx, buf.initialize_unfilled_to(offer))
        )?;
        buf.advance(n);
        self.offer = if n == offer {
            (offer * 2).min(MAX_READ)
        } else {
            (n * 2).clamp(MIN_READ, MAX_READ)
        };
        Poll::Ready(Ok(()))
    }
}

impl<I: AsyncWrite + Unpin> tokio::io::AsyncWrite for Compat<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        // h2 gathers a frame head and its payload into one write when told it may.
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_close(cx)
    }
}

/// A transport whose first reads return `prefix` (bytes the HTTP/1.1 dispatcher had read
/// before it saw the HTTP/2 preface), then go to the transport.
#[derive(Debug)]
pub(crate) struct Rewind<I> {
    prefix: Bytes,
    io: I,
}

impl<I> Rewind<I> {
    pub(crate) fn new(prefix: Bytes, io: I) -> Rewind<I> {
        Rewind { prefix, io }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Rewind<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.len());
            buf[..n].copy_from_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            if self.prefix.is_empty() {
                // An emptied `Bytes` still holds its allocation: let it go.
                self.prefix = Bytes::new();
            }
            return Poll::Ready(Ok(n));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Rewind<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::AsyncReadExt;
    use tokio::io::AsyncReadExt as _;
    use tokio::io::AsyncWriteExt as _;

    #[test]
    fn rewind_replays_then_reads_through() {
        let inner = futures_lite::io::Cursor::new(b"world".to_vec());
        let mut r = Rewind::new(Bytes::from_static(b"hello "), inner);
        let mut s = String::new();
        futures_lite::future::block_on(r.read_to_string(&mut s)).unwrap();
        assert_eq!(s, "hello world");
    }

    #[test]
    fn compat_reads_and_writes_through_tokio_traits() {
        let mut c = Compat::new(futures_lite::io::Cursor::new(b"abc".to_vec()));
        futures_lite::future::block_on(async {
            let mut v = Vec::new();
            c.read_to_end(&mut v).await.unwrap();
            assert_eq!(v, b"abc");
            c.write_all(b"de").await.unwrap();
            c.flush().await.unwrap();
        });
        assert_eq!(c.io.into_inner(), b"abcde");
    }
}
