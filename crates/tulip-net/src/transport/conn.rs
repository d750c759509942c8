//! The connection task: reads into a buffer (its own, or a `BufferedProtocol`'s), calls the
//! protocol, writes out the queue; with the `tls` feature it also runs a TLS session over the
//! socket, from the start or after `start_tls`.

use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_lite::io::{AsyncRead, AsyncWrite};

use crate::server::ConnGuard;
use crate::transport::handle::{Shared, Sock};
use crate::transport::{BufferedProtocol, Protocol, Transport};

/// The read buffer's size: asyncio reads up to 256 KiB at a time; 64 KiB keeps the memory of
/// many idle connections modest while one read still fills a loopback segment burst.
pub(crate) const READ_BUF: usize = 64 * 1024;

/// Reads per poll before the task yields, so one busy connection cannot starve its worker.
const READ_BUDGET: usize = 32;

/// What the task drives: the events of [`Protocol`] or [`BufferedProtocol`], and where the
/// next read lands.
pub(crate) trait Events: Send + 'static {
    fn made(&mut self, transport: Transport);
    /// The buffer the next read fills (never empty).
    fn read_buf(&mut self) -> &mut [u8];
    /// `n` bytes were read into the buffer `read_buf` returned.
    fn received(&mut self, n: usize);
    fn eof(&mut self) -> bool;
    fn lost(&mut self, error: Option<io::Error>);
    fn pause(&mut self);
    fn resume(&mut self);
}

/// A [`Protocol`] with the task's reused buffer.
pub(crate) struct Plain<P> {
    protocol: P,
    buf: Vec<u8>,
}

impl<P: Protocol> Plain<P> {
    pub(crate) fn new(protocol: P) -> Plain<P> {
        Plain {
            protocol,
            buf: Vec::new(),
        }
    }
}

impl<P: Protocol> Events for Plain<P> {
    fn made(&mut self, transport: Transport) {
        self.buf = vec![0; READ_BUF];
        self.protocol.connection_made(transport);
    }
    fn read_buf(&mut self) -> &mut [u8] {
        &mut self.buf
    }
    fn received(&mut self, n: usize) {
        self.protocol.data_received(&self.buf[..n]);
    }
    fn eof(&mut self) -> bool {
        self.protocol.eof_received()
    }
    fn lost(&mut self, error: Option<io::Error>) {
        self.buf = Vec::new();
        self.protocol.connection_lost(error);
    }
    fn pause(&mut self) {
        self.protocol.pause_writing();
    }
    fn resume(&mut self) {
        self.protocol.resume_writing();
    }
}

/// A [`BufferedProtocol`], which owns the buffers reads land in.
pub(crate) struct Buffered<B>(pub(crate) B);

impl<B: BufferedProtocol> Events for Buffered<B> {
    fn made(&mut self, transport: Transport) {
        self.0.connection_made(transport);
    }
    fn read_buf(&mut self) -> &mut [u8] {
        self.0.get_buffer(READ_BUF)
    }
    fn received(&mut self, n: usize) {
        self.0.buffer_updated(n);
    }
    fn eof(&mut self) -> bool {
        self.0.eof_received()
    }
    fn lost(&mut self, error: Option<io::Error>) {
        self.0.connection_lost(error);
    }
    fn pause(&mut self) {
        self.0.pause_writing();
    }
    fn resume(&mut self) {
        self.0.resume_writing();
    }
}

/// The socket of a transport as a byte stream for a TLS session, which needs to own its
/// transport while the task and the handles share the socket.
#[cfg(feature = "tls")]
#[derive(Debug, Clone)]
pub(crate) struct SockIo(pub(crate) Arc<Shared>);

macro_rules! on_sock {
    ($sock:expr, |$s:ident| $call:expr) => {
        match &$sock {
            Sock::Tcp(s) => {
                let mut r = &*s;
                let mut $s = Pin::new(&mut r);
                $call
            }
            Sock::Unix(s) => {
                let mut r = &*s;
                let mut $s = Pin::new(&mut r);
                $call
            }
        }
    };
}

#[cfg(feature = "tls")]
impl AsyncRead for SockIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        on_sock!(self.0.sock, |s| s.as_mut().poll_read(cx, buf))
    }
}

#[cfg(feature = "tls")]
impl AsyncWrite for SockIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        on_sock!(self.0.sock, |s| s.as_mut().poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.sock.shutdown(Shutdown::Write);
        Poll::Ready(Ok(()))
    }
}

#[cfg(feature = "tls")]
pub(crate) type TlsIo = tulip_tls::TlsStream<SockIo>;

#[cfg(feature = "tls")]
type Handshake = Pin<Box<dyn Future<Output = io::Result<TlsIo>> + Send>>;

/// Spawns the task that drives `protocol` over `sock` and returns the transport.
pub(crate) fn spawn_driver<P: Protocol>(
    sock: Sock,
    protocol: P,
    guard: Option<ConnGuard>,
) -> Transport {
    let shared = Arc::new(Shared::new(sock));
    let (conn, transport) = Conn::new(shared, Plain::new(protocol), guard);
    tulip_executor::spawn(conn).detach();
    transport
}

pub(crate) struct Conn<E> {
    shared: Arc<Shared>,
    events: E,
    started: bool,
    eof_seen: bool,
    /// What the protocol was last told: paused (true) or not.
    told_paused: bool,
    done: bool,
    /// The TLS session, once there is one.
    #[cfg(feature = "tls")]
    tls: Option<Box<TlsIo>>,
    /// A `start_tls` handshake in flight.
    #[cfg(feature = "tls")]
    handshake: Option<Handshake>,
    /// Records went into the session since the last flush.
    #[cfg(feature = "tls")]
    tls_unflushed: bool,
    /// Counts this connection in its server until the task ends.
    _guard: Option<ConnGuard>,
    /// Debug mode's unclosed check: closed when the connection ends (`connection_lost`);
    /// reports when the task is dropped first (its runtime went away with it open).
    tracker: tulip_executor::debug::ResourceTracker,
}

/// What the task must do next, decided under the lock and done outside it.
enum Step {
    Finish(Option<io::Error>),
    Pause,
    Resume,
    Read,
    Wait,
}

impl<E: Events> Conn<E> {
    pub(crate) fn new(
        shared: Arc<Shared>,
        events: E,
        guard: Option<ConnGuard>,
    ) -> (Conn<E>, Transport) {
        let transport = Transport {
            shared: shared.clone(),
        };
        let tracker = match shared.site {
            Some(site) => tulip_executor::debug::ResourceTracker::at("Transport", site),
            None => tulip_executor::debug::ResourceTracker::none(),
        };
        let conn = Conn {
            shared,
            events,
            started: false,
            eof_seen: false,
            told_paused: false,
            done: false,
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "tls")]
            handshake: None,
            #[cfg(feature = "tls")]
            tls_unflushed: false,
            _guard: guard,
            tracker,
        };
        (conn, transport)
    }

    /// Runs the connection over an established TLS session.
    #[cfg(feature = "tls")]
    pub(crate) fn with_tls(mut self, tls: TlsIo) -> Conn<E> {
        self.shared.lock().tls_mode = true;
        self.tls = Some(Box::new(tls));
        self
    }

    /// Writes out the queue and settles the state; returns the next step.
    fn settle(&mut self, cx: &mut Context<'_>) -> Step {
        let mut st = self.shared.lock();
        st.dirty = false;
        if st.aborted {
            return Step::Finish(None);
        }
        if let Some(e) = st.error.take() {
            return Step::Finish(Some(e));
        }
        #[cfg(feature = "tls")]
        {
            // Plaintext queued before `start_tls` goes out first, in the clear.
            while !st.plain_tail.is_empty() {
                let tail = std::mem::take(&mut st.plain_tail);
                let res = on_sock!(self.shared.sock, |s| s.as_mut().poll_write(cx, &tail));
                st.plain_tail = tail;
                match res {
                    Poll::Ready(Ok(n)) if n > 0 => {
                        st.plain_tail.drain(..n);
                    }
                    Poll::Ready(Ok(_)) => {
                        return Step::Finish(Some(io::ErrorKind::WriteZero.into()));
                    }
                    Poll::Ready(Err(e)) => return Step::Finish(Some(e)),
                    Poll::Pending => return Step::Wait,
                }
            }
            if let Some(tls) = st.upgrade.take() {
                let io = SockIo(self.shared.clone());
                self.handshake = Some(Box::pin(async move { tls.handshake(io).await }));
            }
            if let Some(hs) = &mut self.handshake {
                match hs.as_mut().poll(cx) {
                    Poll::Pending => return Step::Wait,
                    Poll::Ready(res) => {
                        self.handshake = None;
                        let res = res.map(|tls| self.tls = Some(Box::new(tls)));
                        let waiter = st.upgraded.take();
                        match res {
                            Ok(()) => {
                                if let Some(w) = waiter {
                                    w.finish(Ok(()));
                                }
                            }
                            Err(e) => {
                                if let Some(w) = waiter {
                                    w.finish(Err(io::Error::new(e.kind(), e.to_string())));
                                }
                                return Step::Finish(Some(e));
                            }
                        }
                    }
                }
            }
        }
        let before = st.queued();
        while st.queued() > 0 && !st.sending_file {
            let start = st.start;
            let buf = std::mem::take(&mut st.buf);
            #[cfg(feature = "tls")]
            let res = match &mut self.tls {
                Some(tls) => {
                    self.tls_unflushed = true;
                    Pin::new(&mut **tls).poll_write(cx, &buf[start..])
                }
                None => on_sock!(self.shared.sock, |s| s
                    .as_mut()
                    .poll_write(cx, &buf[start..])),
            };
            #[cfg(not(feature = "tls"))]
            let res = on_sock!(self.shared.sock, |s| s
                .as_mut()
                .poll_write(cx, &buf[start..]));
            st.buf = buf;
            match res {
                Poll::Ready(Ok(n)) if n > 0 => {
                    st.start += n;
                    if st.start == st.buf.len() {
                        st.start = 0;
                        st.buf.clear();
                        // A burst may have grown the buffer far past the marks; give the
                        // memory back rather than pinning the peak for the connection's life.
                        if st.buf.capacity() > 4 * st.high.max(4096) {
                            st.buf = Vec::new();
                        }
                    }
                }
                Poll::Ready(Ok(_)) => return Step::Finish(Some(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Err(e)) => return Step::Finish(Some(e)),
                Poll::Pending => break,
            }
        }
        #[cfg(feature = "tls")]
        if self.tls_unflushed {
            if let Some(tls) = &mut self.tls {
                match Pin::new(&mut **tls).poll_flush(cx) {
                    Poll::Ready(Ok(())) => self.tls_unflushed = false,
                    Poll::Ready(Err(e)) => return Step::Finish(Some(e)),
                    Poll::Pending => {}
                }
            }
        }
        if st.queued() < before {
            st.wake_drain_waiters();
        }
        // Compact a half-sent queue so appends do not grow the vector without end.
        if st.start > 0 && st.start >= st.buf.len() / 2 {
            let start = st.start;
            st.buf.drain(..start);
            st.start = 0;
        }
        let queued = st.queued();
        if st.over_high && queued <= st.low {
            st.over_high = false;
        }
        if queued == 0 && !self.tls_pending_flush() {
            if st.eof_requested && !st.eof_sent {
                st.eof_sent = true;
                self.shared.sock.shutdown(Shutdown::Write);
                if self.eof_seen {
                    // Both directions are done.
                    return Step::Finish(None);
                }
            }
            if st.closing {
                #[cfg(feature = "tls")]
                if let Some(tls) = &mut self.tls {
                    // close_notify, so the peer can tell a close from a truncation.
                    if Pin::new(&mut **tls).poll_close(cx).is_pending() {
                        return Step::Wait;
                    }
                }
                return Step::Finish(None);
            }
        }
        if st.over_high != self.told_paused {
            return if st.over_high {
                Step::Pause
            } else {
                Step::Resume
            };
        }
        if st.closing || st.reading_paused || self.eof_seen || self.upgrading(&st) {
            Step::Wait
        } else {
            Step::Read
        }
    }

    #[cfg(feature = "tls")]
    fn tls_pending_flush(&self) -> bool {
        self.tls_unflushed
    }

    #[cfg(not(feature = "tls"))]
    fn tls_pending_flush(&self) -> bool {
        false
    }

    /// Whether reading must wait for a requested or running handshake.
    #[cfg(feature = "tls")]
    fn upgrading(&self, st: &crate::transport::handle::State) -> bool {
        self.handshake.is_some() || st.upgrade.is_some() || !st.plain_tail.is_empty()
    }

    #[cfg(not(feature = "tls"))]
    fn upgrading(&self, _: &crate::transport::handle::State) -> bool {
        false
    }

    fn finish(&mut self, err: Option<io::Error>) {
        {
            let mut st = self.shared.lock();
            st.lost = true;
            st.closing = true;
            st.buf = Vec::new();
            st.start = 0;
            st.waker = None;
            st.wake_drain_waiters();
            #[cfg(feature = "tls")]
            if let Some(w) = st.upgraded.take() {
                w.finish(Err(io::Error::new(
                    io::ErrorKind::NotConnected,
                    "the connection closed before the TLS upgrade finished",
                )));
            }
        }
        self.shared.sock.shutdown(Shutdown::Both);
        self.done = true;
        self.tracker.mark_closed();
        #[cfg(feature = "tls")]
        {
            self.tls = None;
            self.handshake = None;
        }
        self.events.lost(err);
        self.shared.lost.set();
    }

    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let buf = self.events.read_buf();
        if buf.is_empty() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "BufferedProtocol::get_buffer returned an empty buffer",
            )));
        }
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            return Pin::new(&mut **tls).poll_read(cx, buf);
        }
        on_sock!(self.shared.sock, |s| s.as_mut().poll_read(cx, buf))
    }
}

// The protocol is never pinned (callbacks take `&mut P`), so the task may move.
impl<E> Unpin for Conn<E> {}

impl<E: Events> Future for Conn<E> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(());
        }
        this.shared.lock().in_task = true;
        if !this.started {
            this.started = true;
            this.events.made(Transport {
                shared: this.shared.clone(),
            });
        }
        let mut budget = READ_BUDGET;
        loop {
            match this.settle(cx) {
                Step::Finish(err) => {
                    this.finish(err);
                    return Poll::Ready(());
                }
                Step::Pause => {
                    this.told_paused = true;
                    this.events.pause();
                }
                Step::Resume => {
                    this.told_paused = false;
                    this.events.resume();
                }
                Step::Read => match this.poll_read(cx) {
                    Poll::Ready(Ok(0)) => {
                        this.eof_seen = true;
                        if !this.events.eof() {
                            this.shared.lock().closing = true;
                        } else if this.shared.lock().eof_sent {
                            this.finish(None);
                            return Poll::Ready(());
                        }
                    }
                    Poll::Ready(Ok(n)) => {
                        this.events.received(n);
                        budget -= 1;
                        if budget == 0 {
                            this.shared.lock().in_task = false;
                            cx.waker().wake_by_ref();
                            return Poll::Pending;
                        }
                    }
                    Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                    Poll::Ready(Err(e)) => {
                        this.finish(Some(e));
                        return Poll::Ready(());
                    }
                    Poll::Pending => {
                        if this.park(cx) {
                            return Poll::Pending;
                        }
                    }
                },
                Step::Wait => {
                    if this.park(cx) {
                        return Poll::Pending;
                    }
                }
            }
        }
    }
}

impl<E> Conn<E> {
    /// Leaves the poll: stores the waker for handles on other tasks. Returns `false` if a
    /// handle changed the state meanwhile (the loop must run again).
    fn park(&mut self, cx: &mut Context<'_>) -> bool {
        let mut st = self.shared.lock();
        if st.dirty {
            return false;
        }
        st.in_task = false;
        match &st.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.waker = Some(cx.waker().clone()),
        }
        true
    }
}

impl<E> Drop for Conn<E> {
    fn drop(&mut self) {
        if !self.done {
            // The runtime shut down with the connection open: close the socket so the peer
            // is not left waiting, and release anyone in `wait_closed`.
            let mut st = self.shared.lock();
            st.lost = true;
            st.closing = true;
            st.waker = None;
            st.wake_drain_waiters();
            drop(st);
            self.shared.sock.shutdown(Shutdown::Both);
            self.shared.lost.set();
        }
    }
}
