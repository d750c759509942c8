//! Handing a connection over after `101 Switching Protocols` (WebSockets and friends).
//!
//! Two rules keep an upgrade from outliving the server or hanging its handler:
//!
//! 1. Every `OnUpgrade` resolves. The dispatcher holds the slot's only [`UpgradePromise`], and
//!    the promise fails the slot when it is dropped unfulfilled, whatever ended the connection
//!    (a failed write of the 101, a forced shutdown, the connection's future dropped). A live
//!    `Request` holding another clone of the slot therefore cannot keep a waiter pending.
//! 2. The server can close an upgraded connection without its owner. The transport sits in a
//!    [`Transport`] that the server's shutdown state also holds (`ConnGuard::adopt`); at the
//!    shutdown deadline the server takes the transport out and drops it (the peer sees the
//!    close), stops counting the connection, and wakes whoever last polled it, so every later
//!    poll of the `Upgraded` fails with `ConnectionAborted`.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use atomic_waker::AtomicWaker;
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
    /// Set once, by the first `fulfil`; later ones are ignored.
    done: bool,
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
    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores the outcome and wakes the waiter, the first time only.
    fn fulfil(&self, result: Result<Upgraded, Error>) {
        let waker = {
            let mut s = self.lock();
            if s.done {
                return;
            }
            s.done = true;
            s.result = Some(result);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The dispatcher's side of one upgradable request: it resolves the slot exactly once, and
/// fails it when dropped unresolved (module rule 1).
pub(crate) struct UpgradePromise {
    slot: Arc<UpgradeSlot>,
}

impl UpgradePromise {
    pub(crate) fn new() -> UpgradePromise {
        UpgradePromise {
            slot: Arc::new(UpgradeSlot::default()),
        }
    }

    /// The slot the request hands to [`OnUpgrade`].
    pub(crate) fn slot(&self) -> Arc<UpgradeSlot> {
        self.slot.clone()
    }

    /// True once the handler called `Request::on_upgrade`.
    pub(crate) fn requested(&self) -> bool {
        self.slot.lock().requested
    }

    /// Resolves the waiting `OnUpgrade`.
    pub(crate) fn complete(self, result: Result<Upgraded, Error>) {
        self.slot.fulfil(result);
    }
}

impl Drop for UpgradePromise {
    fn drop(&mut self) {
        self.slot.fulfil(Err(Error::new(
            Kind::BodyUnavailable,
            "connection closed before the upgrade",
        )));
    }
}

/// Resolves to the raw connection once the server has sent the 101 response; see
/// [`Request::on_upgrade`](crate::Request::on_upgrade).
///
/// It always resolves: with the [`Upgraded`] connection, or with an error when the handler's
/// response was not `101 Switching Protocols`, when writing the 101 failed, or when the
/// connection ended before the upgrade for any other reason (the peer went away, the server's
/// shutdown deadline closed the connection while the handler was still running). Holding on
/// to the `Request` does not delay that.
///
/// # Cancel safety
///
/// Dropping it before it resolves gives the connection up: once the `Request` is dropped too,
/// an upgraded connection that arrives is dropped (closed).
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
        if s.done {
            // The outcome went to an earlier poll (or another `OnUpgrade` of this request).
            return Poll::Ready(Err(Error::new(
                Kind::BodyUnavailable,
                "the upgrade was already taken",
            )));
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// An upgraded connection's transport, shared between its [`Upgraded`] and the server's
/// shutdown, which may take it away (module rule 2).
#[derive(Default)]
pub(crate) struct Transport {
    /// `None` once the server closed the connection (or `into_parts` took it).
    io: Mutex<Option<Box<dyn Io>>>,
    /// The tasks last blocked reading and writing: woken when the server closes the
    /// connection. Two, because a split connection is read and written from two tasks.
    reader: AtomicWaker,
    writer: AtomicWaker,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("open", &self.lock().is_some())
            .finish()
    }
}

impl Transport {
    fn lock(&self) -> MutexGuard<'_, Option<Box<dyn Io>>> {
        self.io.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes the connection from the server's side: drops the transport (outside the lock)
    /// and wakes the tasks blocked on it so they see `ConnectionAborted` at once.
    pub(crate) fn abort(&self) {
        let io = self.lock().take();
        drop(io);
        self.reader.wake();
        self.writer.wake();
    }

    /// Polls the transport unless the server closed it. A pending poll leaves the task's waker
    /// with `waiting`, registered under the lock so that `abort`, which takes the lock first,
    /// always wakes it.
    fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        waiting: &AtomicWaker,
        op: impl FnOnce(Pin<&mut dyn Io>, &mut Context<'_>) -> Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        let mut io = self.lock();
        let Some(io) = io.as_mut() else {
            return Poll::Ready(Err(aborted()));
        };
        let polled = op(Pin::new(io.as_mut()), cx);
        if polled.is_pending() {
            waiting.register(cx.waker());
        }
        polled
    }
}

fn aborted() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "the server closed the upgraded connection at its shutdown deadline",
    )
}

/// An upgraded connection: the transport, plus bytes the server had already read past the
/// request head, plus the server's shutdown signal. Reads return the buffered bytes first.
///
/// # Graceful shutdown
///
/// When the server shuts down, [`shutdown_signal`](Upgraded::shutdown_signal) resolves: the
/// protocol on top should then say goodbye (a WebSocket sends close code 1001) and close. The
/// connection keeps the server's shutdown waiting until it is dropped, at most until
/// [`ServerConfig::shutdown_timeout`](crate::ServerConfig::shutdown_timeout). At that deadline
/// the server closes it itself, whether or not anybody is polling it: the transport is
/// dropped (the peer sees the connection close), a task blocked reading or writing is woken,
/// and from then on every read, write, flush and close fails with
/// [`io::ErrorKind::ConnectionAborted`]. The server's shutdown does not wait for such a
/// connection to be dropped.
///
/// [`into_parts`](Upgraded::into_parts) takes the connection out of all this.
pub struct Upgraded {
    transport: Arc<Transport>,
    buffered: Bytes,
    guard: ConnGuard,
}

impl fmt::Debug for Upgraded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgraded")
            .field("buffered", &self.buffered.len())
            .field("transport", &self.transport)
            .finish()
    }
}

impl Upgraded {
    /// Wraps `io` and hands it to the server's shutdown state, which closes it at the
    /// deadline (at once, when the deadline has already passed).
    pub(crate) fn new(io: Box<dyn Io>, buffered: Bytes, guard: ConnGuard) -> Upgraded {
        let transport = Arc::new(Transport {
            io: Mutex::new(Some(io)),
            ..Transport::default()
        });
        guard.adopt(transport.clone());
        Upgraded {
            transport,
            buffered,
            guard,
        }
    }

    /// Resolves when the server starts a graceful shutdown: a WebSocket should then send a
    /// close frame with code 1001 (going away). The server force-closes at its deadline (see
    /// [Graceful shutdown](Upgraded#graceful-shutdown)).
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
    /// counts towards graceful shutdown, and the server no longer closes it at the deadline.
    /// When the server had already closed it, the transport returned fails every operation
    /// with [`io::ErrorKind::ConnectionAborted`].
    pub fn into_parts(self) -> (Box<dyn Io>, Bytes) {
        let io = self.transport.lock().take();
        let io = io.unwrap_or_else(|| Box::new(Aborted));
        (io, self.buffered)
    }
}

impl AsyncRead for Upgraded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let t = &this.transport;
        t.poll_io(cx, &t.reader, |io, cx| {
            if this.buffered.is_empty() {
                return io.poll_read(cx, buf);
            }
            let n = buf.len().min(this.buffered.len());
            buf[..n].copy_from_slice(&this.buffered[..n]);
            this.buffered.advance(n);
            Poll::Ready(Ok(n))
        })
    }
}

impl AsyncWrite for Upgraded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let t = &self.transport;
        t.poll_io(cx, &t.writer, |io, cx| io.poll_write(cx, buf))
    }

    /// Forwarded, so that a WebSocket route writes a large frame's header and payload in
    /// one `writev` (tulip-ws's direct write path) when the connection is plain TCP.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let t = &self.transport;
        t.poll_io(cx, &t.writer, |io, cx| io.poll_write_vectored(cx, bufs))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let t = &self.transport;
        t.poll_io(cx, &t.writer, |io, cx| io.poll_flush(cx))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let t = &self.transport;
        t.poll_io(cx, &t.writer, |io, cx| io.poll_close(cx))
    }
}

/// The transport `into_parts` returns for a connection the server already closed.
struct Aborted;

impl AsyncRead for Aborted {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(aborted()))
    }
}

impl AsyncWrite for Aborted {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, _: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(aborted()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Err(aborted()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Err(aborted()))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::unix::net::UnixStream;

    use futures_lite::future::block_on;
    use futures_lite::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::server::shutdown::ShutdownState;

    #[test]
    fn a_dropped_promise_fails_the_upgrade_while_the_request_lives() {
        let promise = UpgradePromise::new();
        // A live `Request` holds a clone of the slot.
        let request_slot = promise.slot();
        let on_upgrade = OnUpgrade::new(promise.slot());
        assert!(promise.requested());
        drop(promise);
        let err = block_on(on_upgrade).expect_err("no upgrade happened");
        assert!(err.to_string().contains("before the upgrade"), "{err}");
        drop(request_slot);
    }

    #[test]
    fn the_first_outcome_stands() {
        let promise = UpgradePromise::new();
        let mut on_upgrade = OnUpgrade::new(promise.slot());
        promise.complete(Err(Error::new(
            Kind::BodyUnavailable,
            "response was not 101",
        )));
        let err = block_on(&mut on_upgrade).expect_err("not upgraded");
        assert!(err.to_string().contains("not 101"), "{err}");
        // Polled again, it answers instead of waiting forever.
        let again = block_on(on_upgrade).expect_err("taken");
        assert!(again.to_string().contains("already taken"), "{again}");
    }

    fn upgraded(shared: &Arc<ShutdownState>) -> (Upgraded, UnixStream) {
        let (ours, peer) = UnixStream::pair().unwrap();
        let io = tulip_reactor::Async::new(ours).unwrap();
        peer.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let up = Upgraded::new(
            Box::new(io),
            Bytes::from_static(b"ahead"),
            shared.register(),
        );
        (up, peer)
    }

    fn assert_aborted<T: fmt::Debug>(r: io::Result<T>) {
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::ConnectionAborted);
    }

    #[test]
    fn the_deadline_closes_an_upgraded_connection_nobody_polls() {
        let shared = ShutdownState::new();
        let (mut up, mut peer) = upgraded(&shared);
        assert_eq!(shared.active(), 1);
        shared.begin();
        assert_eq!(shared.active(), 1, "graceful shutdown waits for it");
        shared.force();
        assert_eq!(shared.active(), 0, "forced, it no longer holds up shutdown");
        let mut buf = [0u8; 8];
        assert_eq!(peer.read(&mut buf).unwrap(), 0, "the peer sees the close");
        // Even bytes read ahead are gone: the connection is over.
        assert_aborted(block_on(up.read(&mut buf)));
        assert_aborted(block_on(up.write(b"x")));
        assert_aborted(block_on(up.flush()));
        assert_aborted(block_on(up.close()));
        let (mut io, _) = up.into_parts();
        assert_aborted(block_on(io.read(&mut buf)));
        assert_eq!(shared.active(), 0, "uncounted once only");
    }

    struct Flag(std::sync::atomic::AtomicBool);

    impl std::task::Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn the_deadline_wakes_blocked_reader_and_writer() {
        let shared = ShutdownState::new();
        let (mut up, _peer) = upgraded(&shared);
        let mut ahead = [0u8; 5];
        block_on(up.read_exact(&mut ahead)).unwrap();
        let reader = Arc::new(Flag(false.into()));
        let writer = Arc::new(Flag(false.into()));
        let mut buf = [0u8; 8];
        let w = Waker::from(reader.clone());
        let pending = Pin::new(&mut up).poll_read(&mut Context::from_waker(&w), &mut buf);
        assert!(pending.is_pending());
        // Fill the socket buffer so a write blocks too.
        let chunk = vec![0u8; 64 * 1024];
        let w = Waker::from(writer.clone());
        let mut cx = Context::from_waker(&w);
        let mut blocked = false;
        for _ in 0..1024 {
            if Pin::new(&mut up).poll_write(&mut cx, &chunk).is_pending() {
                blocked = true;
                break;
            }
        }
        assert!(blocked, "the write never blocked");
        shared.force();
        let woken = |f: &Flag| f.0.load(std::sync::atomic::Ordering::SeqCst);
        assert!(woken(&reader) && woken(&writer));
        assert_aborted(block_on(up.read(&mut buf)));
    }

    #[test]
    fn the_deadline_uncounts_upgraded_connections_only() {
        let shared = ShutdownState::new();
        let plain = shared.register();
        let (first, _p1) = upgraded(&shared);
        let (second, _p2) = upgraded(&shared);
        drop(first);
        assert_eq!(shared.active(), 2);
        shared.force();
        // The plain connection's task still has to notice and go.
        assert_eq!(shared.active(), 1);
        drop(second);
        assert_eq!(shared.active(), 1);
        drop(plain);
        assert_eq!(shared.active(), 0);
    }

    #[test]
    fn an_upgrade_after_the_deadline_is_closed_at_once() {
        let shared = ShutdownState::new();
        shared.force();
        let (mut up, mut peer) = upgraded(&shared);
        assert_eq!(shared.active(), 0);
        assert_eq!(peer.read(&mut [0u8; 8]).unwrap(), 0);
        assert_aborted(block_on(up.read(&mut [0u8; 8])));
    }

    #[test]
    fn into_parts_leaves_shutdown_behind() {
        let shared = ShutdownState::new();
        let (up, mut peer) = upgraded(&shared);
        let (mut io, ahead) = up.into_parts();
        assert_eq!(&ahead[..], b"ahead");
        assert_eq!(shared.active(), 0);
        shared.force();
        // The server no longer owns it: it stays open.
        block_on(io.write_all(b"still here")).unwrap();
        let mut buf = [0u8; 10];
        peer.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"still here");
    }
}
