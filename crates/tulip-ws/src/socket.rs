//! [`WebSocket`]: messages over any `AsyncRead + AsyncWrite` stream.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::future::poll_fn;
use futures_lite::io::{AsyncRead, AsyncWrite};
use futures_lite::{Stream, ready};

use crate::close::{CloseCode, CloseFrame};
use crate::config::{Config, Role};
use crate::core::{Core, GoingAway, Outgoing, Slot};
use crate::deflate::DeflateParams;
use crate::error::{Error, Result};
use crate::message::Message;
use crate::split::{ReadHalf, WriteHalf, split};
use crate::timer;

/// A WebSocket connection over the stream `S`, after the opening handshake.
///
/// Receive with [`receive`](WebSocket::receive) (or use it as a [`Stream`] of messages), send
/// with [`send_text`](WebSocket::send_text) and friends, finish with
/// [`close`](WebSocket::close). Pings are answered automatically; a close frame from the peer is
/// answered automatically too. [`split`](WebSocket::split) gives halves for two tasks.
///
/// Get one from [`accept`](crate::accept), [`client_handshake`](crate::client_handshake), or
/// [`WebSocket::from_raw`] after an HTTP layer did the handshake.
#[derive(Debug)]
pub struct WebSocket<S> {
    core: Core<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    /// Wraps a stream whose opening handshake is already done.
    ///
    /// `deflate` is what the handshake negotiated (if anything), and `leftover` holds bytes
    /// read past the end of the HTTP head, which belong to the first frames.
    pub fn from_raw(
        stream: S,
        role: Role,
        config: Config,
        deflate: Option<DeflateParams>,
        leftover: &[u8],
    ) -> WebSocket<S> {
        WebSocket {
            core: Core::new(stream, role, config, deflate, leftover),
        }
    }

    /// Sends 1001 Going Away once `watch` reports a server shutdown (see `core::GoingAway`).
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn watch_going_away(&mut self, watch: GoingAway<S>) {
        self.core.set_going_away(watch);
    }

    pub(crate) fn from_core(core: Core<S>) -> WebSocket<S> {
        WebSocket { core }
    }

    /// The stream underneath.
    pub fn get_ref(&self) -> &S {
        self.core.get_ref()
    }

    /// The permessage-deflate parameters in force, if the handshake negotiated it.
    pub fn deflate(&self) -> Option<DeflateParams> {
        self.core.deflate()
    }

    /// This connection's configuration.
    pub fn config(&self) -> &Config {
        self.core.config()
    }

    /// Whether the connection is over (close handshake done, failed, or dropped).
    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }

    /// Receives the next message.
    ///
    /// Pings are answered before they are returned; a `Close` is returned once, after the
    /// reply went out, and every call after that fails with [`Error::is_closed`]. A protocol
    /// violation by the peer sends the matching close code and returns the error.
    /// [`Config`] changes this: `autoping: false` leaves pings unanswered, `autoclose: false`
    /// returns the peer's `Close` before answering it, `receive_timeout` bounds the wait
    /// ([`Error::is_receive_timeout`], the connection stays open), and `heartbeat` pings a
    /// silent peer from here and fails with [`Error::is_heartbeat`] when it is gone (the pongs
    /// to those pings are not returned).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: partial frames stay buffered in the WebSocket, and no message is lost if
    /// the future is dropped before it completes.
    ///
    /// # Examples
    ///
    /// A client that reads until the server closes, over loopback TCP:
    ///
    /// ```
    /// use std::net::{TcpListener, TcpStream};
    /// use tulip_reactor::Async;
    /// use tulip_ws::{ClientOptions, CloseCode, Message, ServerOptions};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// let server = std::thread::spawn(move || {
    ///     tulip_reactor::block_on(async {
    ///         let stream = Async::new(listener.accept()?.0)?;
    ///         let (mut ws, _) = tulip_ws::accept(stream, &ServerOptions::default()).await?;
    ///         ws.send_text("hello").await?;
    ///         ws.send_binary(&[1, 2, 3]).await?;
    ///         ws.close(CloseCode::NORMAL, "done").await?;
    ///         Ok::<_, tulip_ws::Error>(())
    ///     })
    /// });
    ///
    /// let received = tulip_reactor::block_on(async {
    ///     let stream = Async::new(TcpStream::connect(addr)?)?;
    ///     let url = format!("ws://{addr}/");
    ///     let (mut ws, _) = tulip_ws::client_handshake(stream, &url, &ClientOptions::default()).await?;
    ///     let mut received = Vec::new();
    ///     loop {
    ///         match ws.receive().await? {
    ///             Message::Close(frame) => {
    ///                 received.push(format!("close {:?}", frame.map(|f| f.code)));
    ///                 break;
    ///             }
    ///             other => received.push(format!("{other:?}")),
    ///         }
    ///     }
    ///     // After the close, receiving fails with `is_closed`.
    ///     assert!(ws.receive().await.unwrap_err().is_closed());
    ///     Ok::<_, tulip_ws::Error>(received)
    /// })?;
    /// server.join().unwrap()?;
    /// assert_eq!(received.len(), 3);
    /// assert!(received[2].starts_with("close"));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn receive(&mut self) -> Result<Message> {
        match self.core.config().receive_timeout {
            None => poll_fn(|cx| self.core.poll_receive(cx)).await,
            Some(limit) => timed_receive(limit, poll_fn(|cx| self.core.poll_receive(cx))).await,
        }
    }

    /// Receives the next text message, skipping pings and pongs.
    ///
    /// A binary message is an error ([`Error::is_wrong_type`]); a close is
    /// [`Error::is_closed`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`receive`](WebSocket::receive).
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

    /// Sends one message and flushes it.
    ///
    /// Waits first while the write buffer is above its high-water mark.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: if dropped while waiting for room, the message was not sent; if
    /// dropped after that, it is queued and goes out with the next send or flush.
    pub async fn send(&mut self, message: Message) -> Result<()> {
        self.send_frame(Outgoing::from(&message)).await
    }

    /// Sends a text message and flushes it.
    ///
    /// # Cancel safety
    ///
    /// As [`send`](WebSocket::send).
    pub async fn send_text(&mut self, text: &str) -> Result<()> {
        self.send_frame(Outgoing::Text(text)).await
    }

    /// Sends a binary message and flushes it.
    ///
    /// # Cancel safety
    ///
    /// As [`send`](WebSocket::send).
    pub async fn send_binary(&mut self, data: &[u8]) -> Result<()> {
        self.send_frame(Outgoing::Binary(data)).await
    }

    /// Sends a ping (at most 125 bytes of payload); the pong comes back through
    /// [`receive`](WebSocket::receive).
    ///
    /// # Cancel safety
    ///
    /// As [`send`](WebSocket::send).
    pub async fn ping(&mut self, payload: &[u8]) -> Result<()> {
        self.send_frame(Outgoing::Ping(payload)).await
    }

    /// Sends an unsolicited pong (a heartbeat that expects no answer).
    ///
    /// # Cancel safety
    ///
    /// As [`send`](WebSocket::send).
    pub async fn pong(&mut self, payload: &[u8]) -> Result<()> {
        self.send_frame(Outgoing::Pong(payload)).await
    }

    async fn send_frame(&mut self, out: Outgoing<'_>) -> Result<()> {
        poll_fn(|cx| {
            ready!(self.core.poll_ready(cx, Slot::Writer))?;
            Poll::Ready(self.core.send_now(cx, Slot::Writer, out))
        })
        .await?;
        poll_fn(|cx| self.core.poll_flush(cx, Slot::Writer)).await
    }

    /// Queues a message without flushing, waiting while the write buffer is above its
    /// high-water mark. Batch several and then [`flush`](WebSocket::flush).
    ///
    /// # Cancel safety
    ///
    /// If dropped before it completes, the message was not queued.
    pub async fn feed(&mut self, message: Message) -> Result<()> {
        poll_fn(|cx| self.core.poll_ready(cx, Slot::Writer)).await?;
        self.core.start_send(Outgoing::from(&message))
    }

    /// Writes everything queued.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: unwritten bytes stay queued.
    pub async fn flush(&mut self) -> Result<()> {
        poll_fn(|cx| self.core.poll_flush(cx, Slot::Writer)).await
    }

    /// Sink-style: ready when a message may be queued with
    /// [`start_send`](WebSocket::start_send).
    pub fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.core.poll_ready(cx, Slot::Writer)
    }

    /// Sink-style: queues a message (after [`poll_ready`](WebSocket::poll_ready)).
    pub fn start_send(&mut self, message: &Message) -> Result<()> {
        self.core.start_send(Outgoing::from(message))
    }

    /// Sink-style: writes everything queued.
    pub fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.core.poll_flush(cx, Slot::Writer)
    }

    /// Sink-style: sends a normal close (if none was sent), flushes, and on a server shuts
    /// the stream's write side. Does not wait for the peer's reply.
    pub fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.core.poll_close(cx, Slot::Writer)
    }

    /// Runs the close handshake: sends a close frame with `code` and `reason` (cut to 123
    /// bytes), then reads (and discards) messages until the peer's close arrives, all within
    /// the configured close timeout.
    ///
    /// Fails with [`Error::is_timeout`] when the peer did not answer in time (the connection
    /// is dropped then); returns `Ok` when the peer had already closed.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropping it mid-way leaves the handshake half done (the close frame may
    /// or may not have gone out); the WebSocket is still usable to finish it with `receive`.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
        let frame = CloseFrame::new(code, reason);
        if !self.core.is_closed() {
            match poll_fn(|cx| self.core.poll_ready(cx, Slot::Writer)).await {
                Ok(()) => self.core.start_send(Outgoing::Close(Some(&frame)))?,
                Err(e) if e.is_closed() => {}
                Err(e) => return Err(e),
            }
        }
        let limit = self.core.config().close_timeout;
        let core = &mut self.core;
        let handshake = async {
            poll_fn(|cx| core.poll_flush(cx, Slot::Writer)).await?;
            loop {
                match poll_fn(|cx| core.poll_receive(cx)).await {
                    Ok(Message::Close(_)) => return Ok(()),
                    Ok(_) => {}
                    Err(e) if e.is_closed() => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
        };
        match timer::timeout(limit, handshake).await {
            Some(Ok(())) => {
                // A client now waits (bounded by its own deadline) for the server's FIN.
                while poll_fn(|cx| self.core.poll_receive(cx)).await.is_ok() {}
                Ok(())
            }
            Some(Err(e)) => Err(e),
            None => {
                poll_fn(|cx| {
                    self.core.abort(cx);
                    Poll::Ready(())
                })
                .await;
                Err(Error::timeout())
            }
        }
    }

    /// Splits into a receiving and a sending half, usable from two tasks.
    pub fn split(self) -> (ReadHalf<S>, WriteHalf<S>) {
        split(self.core)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WebSocket<S> {
    type Item = Result<Message>;

    /// Yields messages as [`receive`](WebSocket::receive) does and ends after the close.
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Message>>> {
        match self.core.poll_receive(cx) {
            Poll::Ready(Err(e)) if e.is_closed() => Poll::Ready(None),
            Poll::Ready(r) => Poll::Ready(Some(r)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// `receive` bounded by `limit` (`Config::receive_timeout`): the receive is cancel safe, so
/// giving up loses nothing and leaves the connection open.
pub(crate) async fn timed_receive(
    limit: std::time::Duration,
    receive: impl std::future::Future<Output = Result<Message>>,
) -> Result<Message> {
    match tulip_reactor::timeout(limit, receive).await {
        Ok(r) => r,
        Err(_) => Err(Error::receive_timeout(limit)),
    }
}
