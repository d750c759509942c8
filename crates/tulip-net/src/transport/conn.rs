//! The connection task: reads into a reused buffer, calls the protocol, writes out the queue.

use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_lite::io::{AsyncRead, AsyncWrite};

use crate::server::ConnGuard;
use crate::transport::handle::{Shared, Sock};
use crate::transport::{Protocol, Transport};

/// The read buffer's size: asyncio reads up to 256 KiB at a time; 64 KiB keeps the memory of
/// many idle connections modest while one read still fills a loopback segment burst.
const READ_BUF: usize = 64 * 1024;

/// Reads per poll before the task yields, so one busy connection cannot starve its worker.
const READ_BUDGET: usize = 32;

/// Spawns the task that drives `protocol` over `sock` and returns the transport.
pub(crate) fn spawn_driver<P: Protocol>(
    sock: Sock,
    protocol: P,
    guard: Option<ConnGuard>,
) -> Transport {
    let shared = Arc::new(Shared::new(sock));
    let transport = Transport {
        shared: shared.clone(),
    };
    let conn = Conn {
        shared,
        protocol,
        rbuf: Vec::new(),
        started: false,
        eof_seen: false,
        told_paused: false,
        done: false,
        _guard: guard,
    };
    tulip_executor::spawn(conn).detach();
    transport
}

struct Conn<P> {
    shared: Arc<Shared>,
    protocol: P,
    rbuf: Vec<u8>,
    started: bool,
    eof_seen: bool,
    /// What the protocol was last told: paused (true) or not.
    told_paused: bool,
    done: bool,
    /// Counts this connection in its server until the task ends.
    _guard: Option<ConnGuard>,
}

/// What the task must do next, decided under the lock and done outside it.
enum Step {
    Finish(Option<io::Error>),
    Pause,
    Resume,
    Read,
    Wait,
}

impl<P: Protocol> Conn<P> {
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
        while st.queued() > 0 {
            let start = st.start;
            let res = match &self.shared.sock {
                Sock::Tcp(s) => Pin::new(&mut s.as_async()).poll_write(cx, &st.buf[start..]),
                Sock::Unix(s) => Pin::new(&mut s.as_async()).poll_write(cx, &st.buf[start..]),
            };
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
        if queued == 0 {
            if st.eof_requested && !st.eof_sent {
                st.eof_sent = true;
                self.shared.sock.shutdown(Shutdown::Write);
                if self.eof_seen {
                    // Both directions are done.
                    return Step::Finish(None);
                }
            }
            if st.closing {
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
        if st.closing || st.reading_paused || self.eof_seen {
            Step::Wait
        } else {
            Step::Read
        }
    }

    fn finish(&mut self, err: Option<io::Error>) {
        {
            let mut st = self.shared.lock();
            st.lost = true;
            st.closing = true;
            st.buf = Vec::new();
            st.start = 0;
            st.waker = None;
        }
        self.shared.sock.shutdown(Shutdown::Both);
        self.done = true;
        self.rbuf = Vec::new();
        self.protocol.connection_lost(err);
        self.shared.lost.set();
    }

    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        match &self.shared.sock {
            Sock::Tcp(s) => Pin::new(&mut &*s).poll_read(cx, &mut self.rbuf),
            Sock::Unix(s) => Pin::new(&mut &*s).poll_read(cx, &mut self.rbuf),
        }
    }
}

// The protocol is never pinned (callbacks take `&mut P`), so the task may move.
impl<P> Unpin for Conn<P> {}

impl<P: Protocol> Future for Conn<P> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(());
        }
        this.shared.lock().in_task = true;
        if !this.started {
            this.started = true;
            this.rbuf = vec![0; READ_BUF];
            this.protocol.connection_made(Transport {
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
                    this.protocol.pause_writing();
                }
                Step::Resume => {
                    this.told_paused = false;
                    this.protocol.resume_writing();
                }
                Step::Read => match this.poll_read(cx) {
                    Poll::Ready(Ok(0)) => {
                        this.eof_seen = true;
                        if !this.protocol.eof_received() {
                            this.shared.lock().closing = true;
                        } else if this.shared.lock().eof_sent {
                            this.finish(None);
                            return Poll::Ready(());
                        }
                    }
                    Poll::Ready(Ok(n)) => {
                        let rbuf = std::mem::take(&mut this.rbuf);
                        this.protocol.data_received(&rbuf[..n]);
                        this.rbuf = rbuf;
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

impl<P> Conn<P> {
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

impl<P> Drop for Conn<P> {
    fn drop(&mut self) {
        if !self.done {
            // The runtime shut down with the connection open: close the socket so the peer
            // is not left waiting, and release anyone in `wait_closed`.
            let mut st = self.shared.lock();
            st.lost = true;
            st.closing = true;
            st.waker = None;
            drop(st);
            self.shared.sock.shutdown(Shutdown::Both);
            self.shared.lost.set();
        }
    }
}
