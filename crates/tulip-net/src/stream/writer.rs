//! [`StreamWriter`]: buffered writes with water marks over any `AsyncWrite`.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures_lite::io::AsyncWrite;

use crate::addr::Address;
use crate::split::OwnedWriteHalf;

/// asyncio's default write-buffer high-water mark: 64 KiB (the low mark is a quarter).
pub const DEFAULT_HIGH_WATER: usize = 64 * 1024;

/// Writes in asyncio's style over any `AsyncWrite`: [`write`](StreamWriter::write) is
/// synchronous, [`drain`](StreamWriter::drain) waits for the buffer to empty.
///
/// `write` sends straight to the socket when nothing is queued (one system call, no task
/// switch) and queues only what the kernel did not take. Unlike asyncio, there is no event
/// loop flushing in the background: `drain` writes the queue out, so call it after a batch of
/// writes (as asyncio code does anyway). When the queue grows past the high-water mark,
/// `write` also retries the socket on its own, so a writer that forgets to drain stalls
/// rather than growing without end only if the peer stops reading; bound that with a timeout
/// around `drain`.
///
/// Errors of a direct write are kept and returned by the next `drain`.
///
/// # Examples
///
/// ```
/// use futures_lite::AsyncReadExt;
/// use tulip_net::{StreamWriter, UnixStream};
///
/// # fn main() -> std::io::Result<()> {
/// tulip_reactor::block_on(async {
///     let (a, mut b) = UnixStream::pair()?;
///     let mut w = StreamWriter::new(a);
///     w.write(b"hello ");
///     w.write(b"world");
///     w.drain().await?;
///     w.close();
///     w.wait_closed().await?;
///     let mut s = String::new();
///     b.read_to_string(&mut s).await?;
///     assert_eq!(s, "hello world");
///     Ok(())
/// })
/// # }
/// ```
pub struct StreamWriter<W = OwnedWriteHalf> {
    inner: W,
    /// Queued bytes are `buf[start..]`.
    buf: Vec<u8>,
    start: usize,
    high: usize,
    low: usize,
    closing: bool,
    error: Option<io::Error>,
    peer: Option<Address>,
}

impl<W: AsyncWrite + Unpin> StreamWriter<W> {
    /// A writer with the default water marks (64 KiB high, 16 KiB low).
    pub fn new(inner: W) -> StreamWriter<W> {
        StreamWriter {
            inner,
            buf: Vec::new(),
            start: 0,
            high: DEFAULT_HIGH_WATER,
            low: DEFAULT_HIGH_WATER / 4,
            closing: false,
            error: None,
            peer: None,
        }
    }

    pub(crate) fn with_peer(mut self, peer: Option<Address>) -> Self {
        self.peer = peer;
        self
    }

    /// The peer's address when the writer came from `open_connection` or `start_server`
    /// (asyncio's `get_extra_info("peername")`).
    pub fn peer_addr(&self) -> Option<&Address> {
        self.peer.as_ref()
    }

    /// Takes the writer apart after a drain: the inner writer, the peer and the water marks
    /// `(high, low)` (for `start_tls`, which builds the TLS writer from them).
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn into_parts(self) -> (W, Option<Address>, usize, usize) {
        debug_assert_eq!(
            self.write_buffer_size(),
            0,
            "drain before taking a writer apart"
        );
        (self.inner, self.peer, self.high, self.low)
    }

    /// Sets the water marks (asyncio's `transport.set_write_buffer_limits`); `low` defaults
    /// to a quarter of `high` and is capped at `high`.
    pub fn set_write_buffer_limits(&mut self, high: usize, low: Option<usize>) {
        self.high = high;
        self.low = low.unwrap_or(high / 4).min(high);
    }

    /// The bytes queued and not yet handed to the socket.
    pub fn write_buffer_size(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Whether [`close`](StreamWriter::close) was called.
    pub fn is_closing(&self) -> bool {
        self.closing
    }

    /// The inner writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The inner writer, mutably (writing to it directly jumps the queue).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Queues `data`, writing as much as the socket takes at once when the queue is empty.
    /// Data written after [`close`](StreamWriter::close) or after an error is dropped (the
    /// error comes from `drain`).
    pub fn write(&mut self, data: &[u8]) {
        if self.closing || self.error.is_some() || data.is_empty() {
            return;
        }
        let mut data = data;
        if self.write_buffer_size() == 0 {
            data = &data[self.try_write_now(data)..];
            if data.is_empty() {
                return;
            }
        }
        self.buf.extend_from_slice(data);
        if self.write_buffer_size() > self.high {
            self.try_flush_now();
        }
    }

    /// Queues several buffers (asyncio's `writelines`).
    pub fn write_lines<'a>(&mut self, lines: impl IntoIterator<Item = &'a [u8]>) {
        for l in lines {
            self.write(l);
        }
    }

    /// Writes what the socket takes without waiting; the waker is a no-op because `drain`
    /// will poll again with a real one before anything waits.
    fn try_write_now(&mut self, data: &[u8]) -> usize {
        let mut cx = Context::from_waker(Waker::noop());
        let mut done = 0;
        while done < data.len() {
            match Pin::new(&mut self.inner).poll_write(&mut cx, &data[done..]) {
                Poll::Ready(Ok(0)) => {
                    self.error = Some(io::ErrorKind::WriteZero.into());
                    break;
                }
                Poll::Ready(Ok(n)) => done += n,
                Poll::Ready(Err(e)) => {
                    self.error = Some(e);
                    break;
                }
                Poll::Pending => break,
            }
        }
        done
    }

    fn try_flush_now(&mut self) {
        let mut cx = Context::from_waker(Waker::noop());
        let _ = self.poll_flush_buf(&mut cx);
    }

    /// Writes the queue out; `Ready(Ok)` once it is empty.
    fn poll_flush_buf(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.error.take() {
            // Report once, then behave as closed so later writes are dropped.
            self.closing = true;
            return Poll::Ready(Err(e));
        }
        while self.start < self.buf.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &self.buf[self.start..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.start += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.buf.clear();
        self.start = 0;
        Poll::Ready(Ok(()))
    }

    /// Writes every queued byte to the socket and flushes it.
    ///
    /// # Errors
    ///
    /// A write error (including one from an earlier direct `write`), e.g. `BrokenPipe` or
    /// `ConnectionReset` when the peer went away.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: what was not written stays queued for the next `drain`.
    pub async fn drain(&mut self) -> io::Result<()> {
        poll_fn(|cx| {
            std::task::ready!(self.poll_flush_buf(cx))?;
            Pin::new(&mut self.inner).poll_flush(cx)
        })
        .await
    }

    /// Sends end-of-stream after the queued data (a FIN on sockets: asyncio's `write_eof`).
    ///
    /// # Errors
    ///
    /// A write or shutdown error.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: it can be called again.
    pub async fn write_eof(&mut self) -> io::Result<()> {
        self.drain().await?;
        poll_fn(|cx| Pin::new(&mut self.inner).poll_close(cx)).await
    }

    /// Starts closing: later writes are dropped; [`wait_closed`](StreamWriter::wait_closed)
    /// writes out the queue and closes the inner writer.
    pub fn close(&mut self) {
        self.closing = true;
    }

    /// Writes out the queue and closes the inner writer (for a socket half: a FIN; the socket
    /// closes when its read half drops too).
    ///
    /// # Errors
    ///
    /// A write or close error.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: it can be called again.
    pub async fn wait_closed(&mut self) -> io::Result<()> {
        self.closing = true;
        self.write_eof().await
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for StreamWriter<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        std::task::ready!(this.poll_flush_buf(cx))?;
        Pin::new(&mut this.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        std::task::ready!(this.poll_flush_buf(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        this.closing = true;
        std::task::ready!(this.poll_flush_buf(cx))?;
        Pin::new(&mut this.inner).poll_close(cx)
    }
}

impl<W: fmt::Debug> fmt::Debug for StreamWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamWriter")
            .field("inner", &self.inner)
            .field("queued", &(self.buf.len() - self.start))
            .field("high", &self.high)
            .field("low", &self.low)
            .field("closing", &self.closing)
            .field("peer", &self.peer)
            .finish()
    }
}
