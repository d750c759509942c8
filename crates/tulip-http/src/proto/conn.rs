//! The connection: transport, read and write buffers, and one lazily armed timer.
//!
//! Every read and every blocked write is bounded by a deadline. The timer is armed only when an
//! operation would actually wait, and it is moved only when the new deadline is *earlier* than
//! the armed one; a timer that fires early is re-armed for the real deadline. On a busy
//! keep-alive connection this keeps the timer wheel out of the per-request path.

use std::future::Future;
use std::io;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_lite::{AsyncRead, AsyncWrite};
use tulip_reactor::Timer;

use super::buf::{ReadBuf, WriteBuf};
use crate::error::Error;

/// One HTTP/1 connection's I/O state; shared by the server dispatcher and the client.
#[derive(Debug)]
pub(crate) struct Conn<I> {
    pub(crate) io: I,
    pub(crate) rb: ReadBuf,
    pub(crate) wb: WriteBuf,
    timer: Timer,
    /// How long a blocked write may make no progress; `None`: as long as it takes.
    write_timeout: Option<Duration>,
    /// When the current blocked write started waiting.
    write_stalled: Option<Instant>,
}

impl<I: AsyncRead + AsyncWrite + Unpin> Conn<I> {
    pub(crate) fn new(io: I, write_timeout: Option<Duration>) -> Conn<I> {
        Conn {
            io,
            rb: ReadBuf::new(),
            wb: WriteBuf::new(),
            timer: Timer::never(),
            write_timeout,
            write_stalled: None,
        }
    }

    /// Ready once `deadline` has passed; otherwise registers the timer and returns Pending.
    pub(crate) fn poll_deadline(&mut self, cx: &mut Context<'_>, deadline: Instant) -> Poll<()> {
        loop {
            if Instant::now() >= deadline {
                return Poll::Ready(());
            }
            match self.timer.deadline() {
                Some(armed) if armed <= deadline => {}
                _ => self.timer.set_deadline(deadline),
            }
            match std::pin::Pin::new(&mut self.timer).poll(cx) {
                // Fired for an earlier deadline than ours: loop to check and re-arm.
                Poll::Ready(_) => continue,
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Reads once more into the read buffer, failing with a timeout error at `deadline` (if
    /// any). Returns the number of bytes read; 0 means the peer closed its side.
    pub(crate) fn poll_read_more(
        &mut self,
        cx: &mut Context<'_>,
        deadline: impl Into<Option<Instant>>,
    ) -> Poll<Result<usize, Error>> {
        match self.rb.poll_fill(&mut self.io, cx) {
            Poll::Ready(Ok(n)) => Poll::Ready(Ok(n)),
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(Error::io(e))),
            Poll::Pending => match deadline.into() {
                None => Poll::Pending,
                Some(deadline) => match self.poll_deadline(cx, deadline) {
                    Poll::Ready(()) => Poll::Ready(Err(Error::timeout("read timed out"))),
                    Poll::Pending => Poll::Pending,
                },
            },
        }
    }

    /// Writes out the write buffer; fails when a blocked write makes no progress for the
    /// write timeout (a peer that stopped reading).
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.wb.is_empty() {
            self.write_stalled = None;
            return Poll::Ready(Ok(()));
        }
        let before = self.wb.pending();
        match self.wb.poll_flush(&mut self.io, cx) {
            Poll::Ready(Ok(())) => {
                self.write_stalled = None;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(Error::io(e))),
            Poll::Pending => {
                let Some(write_timeout) = self.write_timeout else {
                    return Poll::Pending;
                };
                let now = Instant::now();
                if self.wb.pending() < before || self.write_stalled.is_none() {
                    self.write_stalled = Some(now);
                }
                let deadline = self.write_stalled.unwrap_or(now) + write_timeout;
                match self.poll_deadline(cx, deadline) {
                    Poll::Ready(()) => Poll::Ready(Err(Error::timeout("write timed out"))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    /// Records that a write outside the buffer (sendfile(2)) made progress.
    pub(crate) fn write_progressed(&mut self) {
        self.write_stalled = None;
    }

    /// After a write outside the buffer (sendfile(2)) returned `Pending`: the write timeout
    /// error once it has made no progress for that long, `Pending` (timer armed) before.
    pub(crate) fn poll_write_stalled(&mut self, cx: &mut Context<'_>) -> Poll<Error> {
        let Some(write_timeout) = self.write_timeout else {
            return Poll::Pending;
        };
        let since = *self.write_stalled.get_or_insert_with(Instant::now);
        match self.poll_deadline(cx, since + write_timeout) {
            Poll::Ready(()) => Poll::Ready(Error::timeout("write timed out")),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Flushes, then closes the write side so the peer sees a clean end of stream.
    pub(crate) async fn shutdown(&mut self) -> Result<(), Error> {
        futures_lite::future::poll_fn(|cx| self.poll_flush(cx)).await?;
        futures_lite::AsyncWriteExt::close(&mut self.io)
            .await
            .map_err(Error::io)
    }

    /// After [`shutdown`](Conn::shutdown) on an error close: reads and discards what the peer
    /// still sends, until it closes, sends nothing for `quiet`, `max` bytes were discarded or
    /// `deadline` passed. Closing a socket with unread input makes the kernel send a reset,
    /// which can destroy the error answer before the peer read it; lingering lets the answer
    /// arrive. A peer with nothing in flight is not waited for at all: the first read only
    /// takes what already arrived. Errors end it quietly.
    pub(crate) async fn linger(&mut self, deadline: Instant, quiet: Duration, max: usize) {
        let mut discarded = 0;
        let mut until = Instant::now();
        while discarded < max {
            let n = self.rb.len();
            self.rb.advance(n);
            discarded += n;
            match futures_lite::future::poll_fn(|cx| self.poll_read_more(cx, until)).await {
                Ok(0) | Err(_) => break,
                Ok(_) => until = deadline.min(Instant::now() + quiet),
            }
        }
    }

    /// Takes the transport and unread bytes out (after an upgrade).
    pub(crate) fn into_parts(mut self) -> (I, bytes::Bytes) {
        let rest = self.rb.take_all();
        (self.io, rest)
    }
}
