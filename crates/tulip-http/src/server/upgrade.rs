//! Handing a connection over after `101 Switching Protocols` (WebSockets and friends).

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes};
use futures_lite::{AsyncRead, AsyncWrite};

use super::shutdown::{ConnGuard, ShutdownSignal};
use crate::error::{Error, Kind};

/// A transport the server can hand over: any `AsyncRead + AsyncWrite + Unpin + Send`.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

#[derive(Default)]
pub(crate) struct State {
    requested: bool,
    result: Option<Result<Upgraded, Error>>,
    waker: Option<Waker>,
}

/// The rendezvous between a handler's [`OnUpgrade`] and the connection driver.
#[derive(Default)]
pub(crate) struct UpgradeSlot(Mutex<State>);

impl fmt::Debug for UpgradeSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UpgradeSlot")
    }
}

impl UpgradeSlot {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn requested(&self) -> bool {
        self.lock().requested
    }

    pub(crate) fn fulfil(&self, result: Result<Upgraded, Error>) {
        let mut s = self.lock();
        s.result = Some(result);
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }
}

/// Resolves to the raw connection once the server has sent the 101 response; see
/// [`Request::on_upgrade`](crate::Request::on_upgrade).
///
/// Fails when the handler's response was not `101 Switching Protocols` or the connection died.
#[derive(Debug)]
pub struct OnUpgrade {
    slot: Arc<UpgradeSlot>,
}

impl OnUpgrade {
    pub(crate) fn new(slot: Arc<UpgradeSlot>) -> OnUpgrade {
        slot.lock().requested = true;
        OnUpgrade { slot }
    }
}

impl Future for OnUpgrade {
    type Output = Result<Upgraded, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = self.slot.lock();
        if let Some(r) = s.result.take() {
            return Poll::Ready(r);
        }
        if Arc::strong_count(&self.slot) == 1 {
            return Poll::Ready(Err(Error::new(
                Kind::BodyUnavailable,
                "connection ended without an upgrade",
            )));
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// An upgraded connection: the transport, plus bytes the server had already read past the
/// request head, plus the server's shutdown signal. Reads return the buffered bytes first.
pub struct Upgraded {
    io: Box<dyn Io>,
    buffered: Bytes,
    guard: ConnGuard,
}

impl fmt::Debug for Upgraded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgraded")
            .field("buffered", &self.buffered.len())
            .finish()
    }
}

impl Upgraded {
    pub(crate) fn new(io: Box<dyn Io>, buffered: Bytes, guard: ConnGuard) -> Upgraded {
        Upgraded {
            io,
            buffered,
            guard,
        }
    }

    /// Resolves when the server starts a graceful shutdown: a WebSocket should then send a
    /// close frame with code 1001 (going away). The server force-closes at its deadline.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: it only observes a flag.
    pub fn shutdown_signal(&self) -> ShutdownSignal<'_> {
        ShutdownSignal { guard: &self.guard }
    }

    /// True once graceful shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.guard.is_shutting_down()
    }

    /// Splits into the transport and the bytes read ahead of it. The connection then no longer
    /// counts towards graceful shutdown.
    pub fn into_parts(self) -> (Box<dyn Io>, Bytes) {
        (self.io, self.buffered)
    }
}

impl AsyncRead for Upgraded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if !self.buffered.is_empty() {
            let n = buf.len().min(self.buffered.len());
            buf[..n].copy_from_slice(&self.buffered[..n]);
            self.buffered.advance(n);
            return Poll::Ready(Ok(n));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Upgraded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_close(cx)
    }
}
