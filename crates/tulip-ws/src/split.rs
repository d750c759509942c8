//! The two halves of a split [`WebSocket`].
//!
//! Both halves share the connection behind a mutex that is held only inside a `poll_*` call,
//! never across an `.await`, so a task blocked on receiving never blocks the sender.
//!
//! Splitting is also how the heartbeat keeps going while the application is busy elsewhere:
//! a task that loops on [`ReadHalf::receive`] drives the pings and notices a dead peer, while
//! other tasks send through the [`WriteHalf`].

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use futures_lite::Stream;
use futures_lite::future::poll_fn;
use futures_lite::io::{AsyncRead, AsyncWrite};

use crate::close::{CloseCode, CloseFrame};
use crate::core::{Core, Outgoing, Slot};
use crate::error::{Error, Result};
use crate::message::Message;
use crate::socket::{WebSocket, timed_receive};

type Shared<S> = Arc<Mutex<Core<S>>>;

fn lock<S>(shared: &Shared<S>) -> MutexGuard<'_, Core<S>> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn split<S: AsyncRead + AsyncWrite + Unpin>(
    mut core: Core<S>,
) -> (ReadHalf<S>, WriteHalf<S>) {
    core.enable_fan_out();
    let shared = Arc::new(Mutex::new(core));
    (
        ReadHalf {
            shared: shared.clone(),
        },
        WriteHalf { shared },
    )
}

/// The receiving half of a WebSocket; pings and close frames are still answered from here.
#[derive(Debug)]
pub struct ReadHalf<S> {
    shared: Shared<S>,
}

/// The sending half of a WebSocket.
#[derive(Debug)]
pub struct WriteHalf<S> {
    shared: Shared<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> ReadHalf<S> {
    /// Receives the next message (see [`WebSocket::receive`]).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: partial frames stay buffered.
    pub async fn receive(&mut self) -> Result<Message> {
        let limit = lock(&self.shared).config().receive_timeout;
        let receive = poll_fn(|cx| lock(&self.shared).poll_receive(cx));
        match limit {
            None => receive.await,
            Some(limit) => timed_receive(limit, receive).await,
        }
    }

    /// Receives the next text message (see [`WebSocket::receive_text`]).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`receive`](ReadHalf::receive).
    pub async fn receive_text(&mut self) -> Result<String> {
        loop {
            match self.receive().await? {
                Message::Text(s) => return Ok(s),
                Message::Binary(_) => return Err(Error::wrong_type()),
                Message::Close(_) => return Err(Error::closed()),
                Message::Ping(_) | Message::Pong(_) => {}
            }
        }
    }

    /// Puts the halves back together; hands them back if they are not from one WebSocket.
    pub fn reunite(
        self,
        write: WriteHalf<S>,
    ) -> std::result::Result<WebSocket<S>, (ReadHalf<S>, WriteHalf<S>)> {
        if !Arc::ptr_eq(&self.shared, &write.shared) {
            return Err((self, write));
        }
        drop(write);
        match Arc::try_unwrap(self.shared) {
            Ok(m) => Ok(WebSocket::from_core(
                m.into_inner().unwrap_or_else(PoisonError::into_inner),
            )),
            Err(_) => unreachable!("both halves were given"),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for ReadHalf<S> {
    type Item = Result<Message>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Message>>> {
        match lock(&self.shared).poll_receive(cx) {
            Poll::Ready(Err(e)) if e.is_closed() => Poll::Ready(None),
            Poll::Ready(r) => Poll::Ready(Some(r)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WriteHalf<S> {
    async fn send_frame(&mut self, out: Outgoing<'_>) -> Result<()> {
        poll_fn(|cx| {
            let mut core = lock(&self.shared);
            futures_lite::ready!(core.poll_ready(cx, Slot::Writer))?;
            Poll::Ready(core.send_now(cx, Slot::Writer, out))
        })
        .await?;
        poll_fn(|cx| lock(&self.shared).poll_flush(cx, Slot::Writer)).await
    }

    /// Sends one message and flushes it (see [`WebSocket::send`]).
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropped while waiting for room, the message was not sent; dropped
    /// later, it is queued and goes out with the next send or flush.
    pub async fn send(&mut self, message: Message) -> Result<()> {
        self.send_frame(Outgoing::from(&message)).await
    }

    /// Sends a text message.
    ///
    /// # Cancel safety
    ///
    /// As [`send`](WriteHalf::send).
    pub async fn send_text(&mut self, text: &str) -> Result<()> {
        self.send_frame(Outgoing::Text(text)).await
    }

    /// Sends a binary message.
    ///
    /// # Cancel safety
    ///
    /// As [`send`](WriteHalf::send).
    pub async fn send_binary(&mut self, data: &[u8]) -> Result<()> {
        self.send_frame(Outgoing::Binary(data)).await
    }

    /// Sends a ping.
    ///
    /// # Cancel safety
    ///
    /// As [`send`](WriteHalf::send).
    pub async fn ping(&mut self, payload: &[u8]) -> Result<()> {
        self.send_frame(Outgoing::Ping(payload)).await
    }

    /// Writes everything queued.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: unwritten bytes stay queued.
    pub async fn flush(&mut self) -> Result<()> {
        poll_fn(|cx| lock(&self.shared).poll_flush(cx, Slot::Writer)).await
    }

    /// Sends a close frame and flushes it; the peer's reply arrives on the [`ReadHalf`],
    /// which ends after it.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe once the close frame is queued (the first poll): a later flush or the
    /// read half finishes the handshake.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
        let frame = CloseFrame::new(code, reason);
        match self.send_frame(Outgoing::Close(Some(&frame))).await {
            Err(e) if e.is_closed() => Ok(()),
            r => r,
        }
    }

    /// Sink-style readiness (see [`WebSocket::poll_ready`]).
    pub fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        lock(&self.shared).poll_ready(cx, Slot::Writer)
    }

    /// Sink-style queueing (see [`WebSocket::start_send`]).
    pub fn start_send(&mut self, message: &Message) -> Result<()> {
        lock(&self.shared).start_send(Outgoing::from(message))
    }

    /// Sink-style flush.
    pub fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        lock(&self.shared).poll_flush(cx, Slot::Writer)
    }

    /// Sink-style close (see [`WebSocket::poll_close`]).
    pub fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        lock(&self.shared).poll_close(cx, Slot::Writer)
    }
}
