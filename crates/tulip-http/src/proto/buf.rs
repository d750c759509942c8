//! Buffered I/O: one reusable read buffer and one write buffer per connection.
//!
//! The read buffer is a `BytesMut` whose whole length is initialized memory; `filled` marks how
//! much of it holds received bytes. A parsed head or a body chunk leaves the buffer with
//! `split_to(..).freeze()`, which is a reference-count bump, not a copy. When those `Bytes` are
//! dropped (the request is done), `BytesMut::reserve` reclaims the same allocation, so a
//! keep-alive connection reads every request into the same memory and allocates nothing.
//! A fresh buffer starts at 1 KiB and grows to 8 KiB reads only once a read fills it, and an
//! idle connection gives its buffers back ([`ReadBuf::release`]), so thousands of parked
//! keep-alive connections cost little more than their tasks.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use futures_lite::{AsyncRead, AsyncWrite};

/// How much free space a read wants; smaller reads would cost extra syscalls.
const READ_CHUNK: usize = 8 * 1024;
/// The first allocation of a fresh (or released) buffer. Most requests are a few hundred
/// bytes: a keep-alive connection that only ever sees small requests never grows past this,
/// so thousands of them cost little memory. A read that fills it grows it to `READ_CHUNK`.
const FIRST_CHUNK: usize = 1024;
/// Bodies at most this long are copied into the write buffer; longer ones are written as is.
pub(crate) const COPY_LIMIT: usize = 16 * 1024;

/// The read side: received bytes not yet consumed by the parser or a body decoder.
#[derive(Debug)]
pub(crate) struct ReadBuf {
    buf: BytesMut,
    filled: usize,
    /// Grow by `READ_CHUNK` rather than `FIRST_CHUNK`.
    large: bool,
}

impl Default for ReadBuf {
    fn default() -> Self {
        ReadBuf::new()
    }
}

impl ReadBuf {
    pub(crate) fn new() -> ReadBuf {
        ReadBuf {
            buf: BytesMut::new(),
            filled: 0,
            large: false,
        }
    }

    /// A buffer that starts with bytes already received elsewhere.
    pub(crate) fn with_bytes(data: &[u8]) -> ReadBuf {
        let mut rb = ReadBuf::new();
        rb.buf.extend_from_slice(data);
        rb.filled = data.len();
        rb
    }

    /// The received, unconsumed bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf[..self.filled]
    }

    pub(crate) fn len(&self) -> usize {
        self.filled
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.filled == 0
    }

    /// Drops `n` consumed bytes.
    pub(crate) fn advance(&mut self, n: usize) {
        debug_assert!(n <= self.filled);
        self.buf.advance(n);
        self.filled -= n;
    }

    /// Takes the first `n` bytes out as shared, immutable `Bytes` without copying.
    pub(crate) fn split_to(&mut self, n: usize) -> Bytes {
        debug_assert!(n <= self.filled);
        self.filled -= n;
        self.buf.split_to(n).freeze()
    }

    /// Takes everything buffered (used when handing a connection over after an upgrade).
    pub(crate) fn take_all(&mut self) -> Bytes {
        self.split_to(self.filled)
    }

    /// Whether the buffer holds an allocation.
    pub(crate) fn holds_memory(&self) -> bool {
        self.buf.capacity() > 0
    }

    /// Gives the allocation back when nothing is buffered (an idle keep-alive connection):
    /// the next read allocates afresh.
    pub(crate) fn release(&mut self) {
        if self.filled == 0 {
            self.buf = BytesMut::new();
            self.large = false;
        }
    }

    /// Reads once from `io` into the free space, growing the buffer by at most `READ_CHUNK`.
    /// Returns the number of bytes read; 0 means end of stream.
    pub(crate) fn poll_fill<R: AsyncRead + Unpin + ?Sized>(
        &mut self,
        io: &mut R,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        let chunk = if self.large { READ_CHUNK } else { FIRST_CHUNK };
        if self.buf.len() - self.filled < chunk / 4 {
            // Keep only the received bytes, then ask for room. When earlier heads and chunks
            // were dropped this reuses the original allocation (see the module doc).
            self.buf.truncate(self.filled);
            self.buf.reserve(chunk);
            let cap = self.buf.capacity();
            self.buf.resize(cap, 0);
        }
        let free = self.buf.len() - self.filled;
        let n = futures_lite::ready!(Pin::new(io).poll_read(cx, &mut self.buf[self.filled..]))?;
        // A read that filled all the room suggests more is coming (a large head, a body):
        // read in large chunks from now on.
        self.large |= n == free;
        self.filled += n;
        Poll::Ready(Ok(n))
    }
}

/// The write side: encoded heads and small bodies, plus queued large chunks, written in as few
/// syscalls as possible (pipelined responses leave in one write).
#[derive(Debug, Default)]
pub(crate) struct WriteBuf {
    /// Bytes to send, starting at `pos`.
    head: Vec<u8>,
    pos: usize,
    /// Large chunks queued after `head`, sent without copying.
    queue: std::collections::VecDeque<Bytes>,
}

impl WriteBuf {
    pub(crate) fn new() -> WriteBuf {
        WriteBuf::default()
    }

    /// The buffer to encode into. Only valid while nothing is queued behind it.
    pub(crate) fn vec(&mut self) -> &mut Vec<u8> {
        debug_assert!(self.queue.is_empty());
        &mut self.head
    }

    /// Appends body bytes: copied when small, queued when large.
    pub(crate) fn push_bytes(&mut self, b: Bytes) {
        if b.is_empty() {
            return;
        }
        if self.queue.is_empty() && b.len() <= COPY_LIMIT {
            self.head.extend_from_slice(&b);
        } else {
            self.queue.push_back(b);
        }
    }

    /// Appends a small slice (a chunk-size line, a trailer).
    pub(crate) fn push_slice(&mut self, s: &[u8]) {
        if self.queue.is_empty() {
            self.head.extend_from_slice(s);
        } else {
            self.queue.push_back(Bytes::copy_from_slice(s));
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos == self.head.len() && self.queue.is_empty()
    }

    /// Whether the buffer holds an allocation.
    pub(crate) fn holds_memory(&self) -> bool {
        self.head.capacity() > 0 || self.queue.capacity() > 0
    }

    /// Gives the allocations back when nothing waits to be written.
    pub(crate) fn release(&mut self) {
        if self.is_empty() {
            *self = WriteBuf::default();
        }
    }

    /// Bytes waiting to be written.
    pub(crate) fn pending(&self) -> usize {
        self.head.len() - self.pos + self.queue.iter().map(Bytes::len).sum::<usize>()
    }

    /// Writes until empty or the transport would block, then flushes it.
    pub(crate) fn poll_flush<W: AsyncWrite + Unpin + ?Sized>(
        &mut self,
        io: &mut W,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if self.pos < self.head.len() {
                let n = futures_lite::ready!(
                    Pin::new(&mut *io).poll_write(cx, &self.head[self.pos..])
                )?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                self.pos += n;
                if self.pos == self.head.len() {
                    self.head.clear();
                    self.pos = 0;
                }
                continue;
            }
            let Some(front) = self.queue.front_mut() else {
                break;
            };
            let n = futures_lite::ready!(Pin::new(&mut *io).poll_write(cx, front))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            front.advance(n);
            if front.is_empty() {
                self.queue.pop_front();
            }
        }
        Pin::new(io).poll_flush(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_split_and_reuse_allocation() {
        let data = b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n";
        let mut io = futures_lite::io::Cursor::new(data.to_vec());
        let mut rb = ReadBuf::new();
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let n = match rb.poll_fill(&mut io, &mut cx) {
            Poll::Ready(Ok(n)) => n,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(n, data.len());
        let head = rb.split_to(18);
        assert_eq!(&head[..], b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(rb.bytes(), b"GET / HTTP/1.1\r\n\r\n");
        rb.advance(18);
        assert!(rb.is_empty());
    }

    #[test]
    fn small_reads_stay_small_and_full_reads_grow() {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut io = futures_lite::io::Cursor::new(vec![b'a'; 100]);
        let mut rb = ReadBuf::new();
        assert!(rb.poll_fill(&mut io, &mut cx).is_ready());
        assert!(
            rb.buf.capacity() <= 2 * FIRST_CHUNK,
            "{}",
            rb.buf.capacity()
        );
        let mut io = futures_lite::io::Cursor::new(vec![b'b'; 20_000]);
        let mut rb = ReadBuf::new();
        let mut total = 0;
        for _ in 0..4 {
            match rb.poll_fill(&mut io, &mut cx) {
                Poll::Ready(Ok(n)) => total += n,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(rb.large);
        assert!(
            total > 2 * READ_CHUNK,
            "large reads after a full one: {total}"
        );
        assert!(rb.bytes().iter().all(|&b| b == b'b'));
    }

    #[test]
    fn release_frees_only_when_empty() {
        let mut io = futures_lite::io::Cursor::new(b"GET / HTTP/1.1\r\n\r\n".to_vec());
        let mut rb = ReadBuf::new();
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(rb.poll_fill(&mut io, &mut cx).is_ready());
        rb.release();
        assert!(rb.holds_memory(), "bytes are buffered: kept");
        rb.advance(rb.len());
        rb.release();
        assert!(!rb.holds_memory());
        let mut wb = WriteBuf::new();
        wb.push_slice(b"x");
        wb.release();
        assert!(wb.holds_memory());
        let mut out = Vec::new();
        assert!(wb.poll_flush(&mut out, &mut cx).is_ready());
        wb.release();
        assert!(!wb.holds_memory());
    }

    #[test]
    fn write_buf_orders_copied_and_queued_bytes() {
        let mut wb = WriteBuf::new();
        wb.vec().extend_from_slice(b"head;");
        wb.push_bytes(Bytes::from(vec![b'x'; COPY_LIMIT + 1]));
        wb.push_slice(b";tail");
        let mut out = Vec::new();
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(wb.poll_flush(&mut out, &mut cx).is_ready());
        assert!(wb.is_empty());
        assert_eq!(out.len(), 5 + COPY_LIMIT + 1 + 5);
        assert!(out.starts_with(b"head;x") && out.ends_with(b"x;tail"));
    }
}
