//! [`Transport`]: a protocol's handle on its connection, and the state it shares with the
//! connection's task.

use std::fmt;
use std::io::{self, Write};
use std::net::Shutdown;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;

use tulip_sync::Event;

use crate::addr::Address;
use crate::split::StreamSocket;
use crate::stream::DEFAULT_HIGH_WATER;
use crate::{TcpStream, UnixStream};

/// The socket under a transport.
#[derive(Debug)]
pub(crate) enum Sock {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Sock {
    /// Hands debug mode's unclosed check from the socket to its transport: returns the
    /// socket's creation site and stops tracking the socket (the transport shuts it down
    /// itself, or reports as a transport).
    pub(crate) fn take_site(&mut self) -> Option<&'static std::panic::Location<'static>> {
        let site = match self {
            Sock::Tcp(s) => s.site(),
            Sock::Unix(s) => s.site(),
        };
        match self {
            Sock::Tcp(s) => s.untrack(),
            Sock::Unix(s) => s.untrack(),
        }
        site
    }

    fn raw_write(&self, data: &[u8]) -> io::Result<usize> {
        match self {
            Sock::Tcp(s) => s.as_async().get_ref().write(data),
            Sock::Unix(s) => s.as_async().get_ref().write(data),
        }
    }

    pub(crate) fn shutdown(&self, how: Shutdown) {
        // Errors mean the connection is already gone, which is what we want.
        let _ = match self {
            Sock::Tcp(s) => s.shutdown(how),
            Sock::Unix(s) => s.shutdown(how),
        };
    }

    fn peer_address(&self) -> io::Result<Address> {
        match self {
            Sock::Tcp(s) => s.peer_address(),
            Sock::Unix(s) => s.peer_address(),
        }
    }

    fn local_address(&self) -> io::Result<Address> {
        match self {
            Sock::Tcp(s) => s.local_address(),
            Sock::Unix(s) => s.local_address(),
        }
    }
}

/// What the transport handles and the connection task share, under one lock.
#[derive(Debug)]
pub(crate) struct State {
    /// Queued output is `buf[start..]`.
    pub(crate) buf: Vec<u8>,
    pub(crate) start: usize,
    pub(crate) high: usize,
    pub(crate) low: usize,
    /// Whether the buffer is logically above the high-water mark (set when it passes `high`,
    /// cleared when it drains to `low`). The task tells the protocol when this changes.
    pub(crate) over_high: bool,
    /// `close()` was called: stop reading, write out the queue, then finish.
    pub(crate) closing: bool,
    /// `write_eof()` was called: send a FIN once the queue is empty.
    pub(crate) eof_requested: bool,
    pub(crate) eof_sent: bool,
    /// `abort()` was called: finish now, dropping the queue.
    pub(crate) aborted: bool,
    pub(crate) reading_paused: bool,
    /// The connection finished (`connection_lost` delivered or about to be).
    pub(crate) lost: bool,
    /// A write error seen by a direct write, for the task to report.
    pub(crate) error: Option<io::Error>,
    /// Set while the task runs a poll: a change then needs no wake, only `dirty`.
    pub(crate) in_task: bool,
    pub(crate) dirty: bool,
    pub(crate) waker: Option<Waker>,
    /// The connection runs (or is about to run) TLS: writes never go straight to the socket.
    pub(crate) tls_mode: bool,
    /// `sendfile` owns the socket: writes queue, and the task does not write the queue out.
    pub(crate) sending_file: bool,
    /// Tasks waiting for the queue to shrink (`sendfile`).
    pub(crate) drain_waiters: Vec<Waker>,
    /// Plaintext queued before `start_tls`, written in the clear before the handshake.
    #[cfg(feature = "tls")]
    pub(crate) plain_tail: Vec<u8>,
    /// A `start_tls` the task has not begun yet.
    #[cfg(feature = "tls")]
    pub(crate) upgrade: Option<crate::StartTls>,
    /// Where the task reports the upgrade's outcome.
    #[cfg(feature = "tls")]
    pub(crate) upgraded: Option<Arc<UpgradeSignal>>,
}

impl State {
    pub(crate) fn queued(&self) -> usize {
        self.buf.len() - self.start
    }

    pub(crate) fn wake_drain_waiters(&mut self) {
        for w in self.drain_waiters.drain(..) {
            w.wake();
        }
    }
}

/// The outcome of a `start_tls`, handed from the connection task to the caller.
#[cfg(feature = "tls")]
#[derive(Debug, Default)]
pub(crate) struct UpgradeSignal {
    result: Mutex<Option<io::Result<()>>>,
    done: Event,
}

#[cfg(feature = "tls")]
impl UpgradeSignal {
    pub(crate) fn finish(&self, res: io::Result<()>) {
        *self.result.lock().unwrap_or_else(|e| e.into_inner()) = Some(res);
        self.done.set();
    }

    pub(crate) async fn wait(&self) -> io::Result<()> {
        self.done.wait().await;
        self.result
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or(Ok(()))
    }
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) sock: Sock,
    pub(crate) state: Mutex<State>,
    pub(crate) lost: Event,
    /// The socket's creation site in debug mode, which the transport reports as its own.
    pub(crate) site: Option<&'static std::panic::Location<'static>>,
}

impl Shared {
    pub(crate) fn new(mut sock: Sock) -> Shared {
        let site = sock.take_site();
        Shared {
            site,
            sock,
            state: Mutex::new(State {
                buf: Vec::new(),
                start: 0,
                high: DEFAULT_HIGH_WATER,
                low: DEFAULT_HIGH_WATER / 4,
                over_high: false,
                closing: false,
                eof_requested: false,
                eof_sent: false,
                aborted: false,
                reading_paused: false,
                lost: false,
                error: None,
                in_task: false,
                dirty: false,
                waker: None,
                tls_mode: false,
                sending_file: false,
                drain_waiters: Vec::new(),
                #[cfg(feature = "tls")]
                plain_tail: Vec::new(),
                #[cfg(feature = "tls")]
                upgrade: None,
                #[cfg(feature = "tls")]
                upgraded: None,
            }),
            lost: Event::new(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic in a protocol callback never happens under this lock, and the state stays
        // consistent between statements, so poisoning is ignored.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Tells the connection task that `st` changed: a flag when the task is running, else a wake.
pub(crate) fn notify(mut st: MutexGuard<'_, State>) {
    if st.in_task {
        st.dirty = true;
    } else if let Some(w) = st.waker.take() {
        drop(st);
        w.wake();
    }
}

/// A protocol's handle on its connection (asyncio's `Transport`). Cheap to clone; usable from
/// any task.
///
/// # Examples
///
/// ```
/// use tulip_net::{Protocol, Transport};
///
/// /// Echoes every byte back.
/// struct Echo(Option<Transport>);
///
/// impl Protocol for Echo {
///     fn connection_made(&mut self, t: Transport) {
///         self.0 = Some(t);
///     }
///     fn data_received(&mut self, data: &[u8]) {
///         if let Some(t) = &self.0 {
///             t.write(data);
///         }
///     }
/// }
/// # let _ = Echo(None);
/// ```
#[derive(Clone)]
pub struct Transport {
    pub(crate) shared: Arc<Shared>,
}

impl Transport {
    /// Writes `data`: straight to the socket when nothing is queued, and queues whatever the
    /// kernel did not take (the connection task sends it when the socket is writable).
    ///
    /// Passing the high-water mark schedules the protocol's `pause_writing`. Data written
    /// after `close`, `write_eof` or the end of the connection is dropped, as asyncio does.
    pub fn write(&self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let mut st = self.shared.lock();
        if st.closing || st.eof_requested || st.lost || st.aborted || st.error.is_some() {
            return;
        }
        let mut data = data;
        if st.queued() == 0 && !st.tls_mode && !st.sending_file {
            loop {
                match self.shared.sock.raw_write(data) {
                    Ok(n) if n == data.len() => return,
                    Ok(n) => data = &data[n..],
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        st.error = Some(e);
                        return notify(st);
                    }
                }
            }
            if st.buf.capacity() == 0 {
                st.buf.reserve(data.len().max(4096));
            }
        }
        st.buf.extend_from_slice(data);
        if !st.over_high && st.queued() > st.high {
            st.over_high = true;
        }
        notify(st);
    }

    /// Writes several buffers in order (asyncio's `writelines`).
    pub fn write_lines<'a>(&self, lines: impl IntoIterator<Item = &'a [u8]>) {
        for l in lines {
            self.write(l);
        }
    }

    /// Sends end-of-stream (a FIN) after the queued data; the read side stays open.
    ///
    /// TLS has no half-close, so on a TLS transport this does nothing (asyncio raises
    /// there); check [`can_write_eof`](Transport::can_write_eof).
    pub fn write_eof(&self) {
        let mut st = self.shared.lock();
        if st.eof_requested || st.lost || st.tls_mode {
            return;
        }
        st.eof_requested = true;
        notify(st);
    }

    /// Whether [`write_eof`](Transport::write_eof) is supported: for plain sockets, not for
    /// TLS.
    pub fn can_write_eof(&self) -> bool {
        !self.shared.lock().tls_mode
    }

    /// Whether the transport runs TLS (from the start, or after
    /// `start_tls` was called, feature `tls`).
    pub fn is_tls(&self) -> bool {
        self.shared.lock().tls_mode
    }

    /// Closes the transport: stops reading, writes out the queue, then closes the socket and
    /// calls `connection_lost(None)`.
    pub fn close(&self) {
        let mut st = self.shared.lock();
        if st.closing || st.lost {
            return;
        }
        st.closing = true;
        notify(st);
    }

    /// Closes at once, dropping queued data; `connection_lost(None)` follows.
    pub fn abort(&self) {
        let mut st = self.shared.lock();
        if st.lost {
            return;
        }
        st.aborted = true;
        st.closing = true;
        notify(st);
    }

    /// Whether the transport is closing or closed.
    pub fn is_closing(&self) -> bool {
        let st = self.shared.lock();
        st.closing || st.lost || st.aborted
    }

    /// Stops calling `data_received` until [`resume_reading`](Transport::resume_reading);
    /// the kernel buffer then fills and TCP pushes back on the peer.
    pub fn pause_reading(&self) {
        self.shared.lock().reading_paused = true;
    }

    /// Starts calling `data_received` again.
    pub fn resume_reading(&self) {
        let mut st = self.shared.lock();
        if !st.reading_paused {
            return;
        }
        st.reading_paused = false;
        notify(st);
    }

    /// Whether the transport is reading (not paused, not closing).
    pub fn is_reading(&self) -> bool {
        let st = self.shared.lock();
        !st.reading_paused && !st.closing && !st.lost
    }

    /// Sets the write buffer's water marks. `high` defaults to 64 KiB, `low` to a quarter of
    /// `high` (capped at `high`), as in asyncio.
    pub fn set_write_buffer_limits(&self, high: Option<usize>, low: Option<usize>) {
        let mut st = self.shared.lock();
        let high = high.unwrap_or(match low {
            Some(l) => l * 4,
            None => DEFAULT_HIGH_WATER,
        });
        st.high = high;
        st.low = low.unwrap_or(high / 4).min(high);
        let q = st.queued();
        if !st.over_high && q > st.high {
            st.over_high = true;
        } else if st.over_high && q <= st.low {
            st.over_high = false;
        }
        notify(st);
    }

    /// The water marks `(low, high)`, as asyncio's `get_write_buffer_limits`.
    pub fn write_buffer_limits(&self) -> (usize, usize) {
        let st = self.shared.lock();
        (st.low, st.high)
    }

    /// The bytes queued and not yet written to the socket.
    pub fn write_buffer_size(&self) -> usize {
        self.shared.lock().queued()
    }

    /// The remote address (asyncio's `get_extra_info("peername")`).
    ///
    /// # Errors
    ///
    /// `NotConnected` once the peer is gone.
    pub fn peer_addr(&self) -> io::Result<Address> {
        self.shared.sock.peer_address()
    }

    /// The local address (asyncio's `get_extra_info("sockname")`).
    ///
    /// # Errors
    ///
    /// If the kernel cannot report it.
    pub fn local_addr(&self) -> io::Result<Address> {
        self.shared.sock.local_address()
    }

    /// Waits until the connection has finished (after `connection_lost` returned).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe.
    pub async fn wait_closed(&self) {
        self.shared.lost.wait().await;
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.lock();
        f.debug_struct("Transport")
            .field("sock", &self.shared.sock)
            .field("queued", &st.queued())
            .field("closing", &st.closing)
            .field("lost", &st.lost)
            .finish()
    }
}
