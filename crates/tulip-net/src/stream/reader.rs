//! [`StreamReader`]: buffered, framed reads over any `AsyncRead`.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::io::{AsyncBufRead, AsyncRead};
use memchr::memmem;

use crate::split::OwnedReadHalf;
use crate::stream::ReadError;

/// asyncio's default stream limit: 64 KiB.
pub const DEFAULT_LIMIT: usize = 64 * 1024;

/// The smallest free space a read into the buffer asks the kernel to fill.
const MIN_READ: usize = 8 * 1024;

/// Buffered reads with asyncio's framing methods over any `AsyncRead` (a TCP or Unix read
/// half, a TLS stream, a child's pipe).
///
/// - [`read`](StreamReader::read) up to `n` bytes, [`read_exactly`](StreamReader::read_exactly),
///   [`read_until`](StreamReader::read_until) a multi-byte separator,
///   [`read_line`](StreamReader::read_line), [`at_eof`](StreamReader::at_eof);
/// - a *limit* on how far `read_until` buffers while looking for a separator (default
///   [`DEFAULT_LIMIT`]); past it, [`ReadError::LimitOverrun`] leaves the data readable;
/// - `AsyncRead` and `AsyncBufRead`, so it also serves as a plain buffered reader.
///
/// # Examples
///
/// ```
/// use tulip_net::StreamReader;
///
/// # fn main() -> Result<(), tulip_net::ReadError> {
/// tulip_reactor::block_on(async {
///     let mut r = StreamReader::new(&b"HELLO\r\n\r\nbody"[..]);
///     assert_eq!(r.read_until(b"\r\n\r\n").await?, b"HELLO\r\n\r\n");
///     assert_eq!(r.read_exactly(4).await?, b"body");
///     assert!(r.at_eof() || r.read(1).await?.is_empty());
///     Ok(())
/// })
/// # }
/// ```
pub struct StreamReader<R = OwnedReadHalf> {
    inner: R,
    /// Storage, fully initialised; `buf[pos..end]` are the unread bytes.
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    limit: usize,
    eof: bool,
}

impl<R: AsyncRead + Unpin> StreamReader<R> {
    /// A reader with the default limit (64 KiB).
    pub fn new(inner: R) -> StreamReader<R> {
        StreamReader::with_limit(inner, DEFAULT_LIMIT)
    }

    /// A reader whose `read_until` gives up after `limit` bytes without a separator.
    pub fn with_limit(inner: R, limit: usize) -> StreamReader<R> {
        StreamReader {
            inner,
            buf: Vec::new(),
            pos: 0,
            end: 0,
            limit: limit.max(1),
            eof: false,
        }
    }

    /// The limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The bytes buffered and not yet read.
    pub fn buffer(&self) -> &[u8] {
        &self.buf[self.pos..self.end]
    }

    /// Whether end of stream was seen and every buffered byte has been read.
    pub fn at_eof(&self) -> bool {
        self.eof && self.pos == self.end
    }

    /// The inner reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The inner reader, mutably (reading from it directly skips buffered bytes).
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// Returns the inner reader; buffered bytes are lost.
    pub fn into_inner(self) -> R {
        self.inner
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let out = self.buf[self.pos..self.pos + n].to_vec();
        self.consume_n(n);
        out
    }

    fn consume_n(&mut self, n: usize) {
        self.pos += n;
        if self.pos == self.end {
            self.pos = 0;
            self.end = 0;
        }
    }

    /// Makes room for at least `MIN_READ` more bytes at the tail, compacting before growing.
    fn reserve_tail(&mut self) {
        if self.buf.len() - self.end >= MIN_READ {
            return;
        }
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
            if self.buf.len() - self.end >= MIN_READ {
                return;
            }
        }
        let want = (self.buf.len() * 2)
            .max(self.end + MIN_READ)
            .max(2 * MIN_READ);
        self.buf.resize(want, 0);
    }

    /// Reads once from the inner reader into the buffer; `Ok(0)` at end of stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.eof {
            return Poll::Ready(Ok(0));
        }
        self.reserve_tail();
        let n =
            std::task::ready!(Pin::new(&mut self.inner).poll_read(cx, &mut self.buf[self.end..]))?;
        if n == 0 {
            self.eof = true;
        }
        self.end += n;
        Poll::Ready(Ok(n))
    }

    async fn fill(&mut self) -> io::Result<usize> {
        poll_fn(|cx| self.poll_fill(cx)).await
    }

    /// Reads up to `n` bytes: whatever is buffered, else the result of one read. An empty
    /// vector means end of stream (or `n == 0`).
    ///
    /// # Errors
    ///
    /// The inner reader's error.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: bytes read from the inner reader stay buffered until returned.
    pub async fn read(&mut self, n: usize) -> io::Result<Vec<u8>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        if self.pos == self.end {
            self.fill().await?;
        }
        let k = n.min(self.end - self.pos);
        Ok(self.take(k))
    }

    /// Reads exactly `n` bytes.
    ///
    /// # Errors
    ///
    /// [`ReadError::Incomplete`] with the bytes received when the stream ends first (they
    /// are consumed), or [`ReadError::Io`].
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: nothing is consumed until the whole count is buffered.
    pub async fn read_exactly(&mut self, n: usize) -> Result<Vec<u8>, ReadError> {
        while self.end - self.pos < n {
            if self.fill().await? == 0 {
                let partial = self.take(self.end - self.pos);
                return Err(ReadError::Incomplete {
                    partial,
                    expected: Some(n),
                });
            }
        }
        Ok(self.take(n))
    }

    /// Reads up to and including `separator` (which may be several bytes long).
    ///
    /// The search resumes where the previous one stopped (less `separator.len() - 1` bytes,
    /// for a separator split across reads), so a long line costs one pass, not one per read.
    ///
    /// # Errors
    ///
    /// - [`ReadError::LimitOverrun`] when no separator starts within the limit; nothing is
    ///   consumed, so the caller may `read` the data or skip it.
    /// - [`ReadError::Incomplete`] (with every remaining byte, consumed) at end of stream.
    /// - [`ReadError::Io`], including `InvalidInput` for an empty separator.
    ///
    /// # Examples
    ///
    /// asyncio's `reader.readuntil(b"\r\n\r\n")`, over any byte source (here a slice):
    ///
    /// ```
    /// use tulip_net::{ReadError, StreamReader};
    ///
    /// tulip_executor::run(async {
    ///     let wire: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody";
    ///     let mut reader = StreamReader::with_limit(wire, 64);
    ///     let head = reader.read_until(b"\r\n\r\n").await.unwrap();
    ///     assert!(head.ends_with(b"Host: a\r\n\r\n"));
    ///     // No separator before the end: the rest comes back inside the error.
    ///     match reader.read_until(b"\r\n").await {
    ///         Err(ReadError::Incomplete { partial, .. }) => assert_eq!(partial, b"body"),
    ///         other => panic!("{other:?}"),
    ///     }
    /// });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: nothing is consumed until the separator is found.
    pub async fn read_until(&mut self, separator: &[u8]) -> Result<Vec<u8>, ReadError> {
        if separator.is_empty() {
            return Err(ReadError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "empty separator",
            )));
        }
        let finder = memmem::Finder::new(separator);
        let mut searched = 0;
        loop {
            let avail = &self.buf[self.pos..self.end];
            if let Some(i) = finder.find(&avail[searched..]) {
                let at = searched + i;
                if at > self.limit {
                    return Err(ReadError::LimitOverrun { consumed: at });
                }
                return Ok(self.take(at + separator.len()));
            }
            searched = avail.len().saturating_sub(separator.len() - 1);
            if searched > self.limit {
                return Err(ReadError::LimitOverrun { consumed: searched });
            }
            if self.fill().await? == 0 {
                let partial = self.take(self.end - self.pos);
                return Err(ReadError::Incomplete {
                    partial,
                    expected: None,
                });
            }
        }
    }

    /// Reads a line, including its `\n`; at end of stream, the unterminated rest (empty once
    /// everything was read), like asyncio's `readline`.
    ///
    /// # Errors
    ///
    /// [`ReadError::LimitOverrun`] for a line longer than the limit (unlike asyncio, the data
    /// stays buffered), or [`ReadError::Io`].
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe.
    pub async fn read_line(&mut self) -> Result<Vec<u8>, ReadError> {
        match self.read_until(b"\n").await {
            Err(ReadError::Incomplete { partial, .. }) => Ok(partial),
            r => r,
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for StreamReader<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.pos == this.end {
            if this.eof {
                return Poll::Ready(Ok(0));
            }
            // A read at least as large as our buffer gains nothing from a copy through it.
            if out.len() >= this.buf.len().max(MIN_READ) {
                let n = std::task::ready!(Pin::new(&mut this.inner).poll_read(cx, out))?;
                if n == 0 {
                    this.eof = true;
                }
                return Poll::Ready(Ok(n));
            }
            std::task::ready!(this.poll_fill(cx))?;
        }
        let n = out.len().min(this.end - this.pos);
        out[..n].copy_from_slice(&this.buf[this.pos..this.pos + n]);
        this.consume_n(n);
        Poll::Ready(Ok(n))
    }
}

impl<R: AsyncRead + Unpin> AsyncBufRead for StreamReader<R> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        if this.pos == this.end && !this.eof {
            std::task::ready!(this.poll_fill(cx))?;
        }
        Poll::Ready(Ok(&this.buf[this.pos..this.end]))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.get_mut();
        let amt = amt.min(this.end - this.pos);
        this.consume_n(amt);
    }
}

impl<R: fmt::Debug> fmt::Debug for StreamReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamReader")
            .field("inner", &self.inner)
            .field("buffered", &(self.end - self.pos))
            .field("limit", &self.limit)
            .field("eof", &self.eof)
            .finish()
    }
}
