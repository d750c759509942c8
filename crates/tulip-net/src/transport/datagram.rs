//! Datagram transports: [`DatagramProtocol`], [`DatagramTransport`] and
//! [`create_datagram_endpoint`].

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use tulip_sync::Event;

use crate::udp::UdpSocket;

/// The largest UDP payload: the receive buffer's size, so no datagram is truncated.
const MAX_DATAGRAM: usize = 65_536;

/// Datagrams handled per poll before the task yields.
const BUDGET: usize = 64;

/// asyncio's `DatagramProtocol`: the events of a UDP endpoint.
pub trait DatagramProtocol: Send + 'static {
    /// The endpoint is ready; `transport` sends datagrams.
    fn connection_made(&mut self, transport: DatagramTransport) {
        let _ = transport;
    }

    /// A datagram arrived from `addr`. The slice is only valid during the call.
    fn datagram_received(&mut self, data: &[u8], addr: SocketAddr);

    /// A send or receive failed (for example `ConnectionRefused` after an ICMP port
    /// unreachable); the endpoint stays open.
    fn error_received(&mut self, error: io::Error) {
        let _ = error;
    }

    /// The endpoint closed. Called exactly once, last.
    fn connection_lost(&mut self, error: Option<io::Error>) {
        let _ = error;
    }
}

#[derive(Debug)]
struct DState {
    queue: VecDeque<(Vec<u8>, Option<SocketAddr>)>,
    queued_bytes: usize,
    errors: Vec<io::Error>,
    closing: bool,
    aborted: bool,
    lost: bool,
    in_task: bool,
    dirty: bool,
    waker: Option<Waker>,
}

#[derive(Debug)]
struct DShared {
    sock: UdpSocket,
    state: Mutex<DState>,
    lost: Event,
}

impl DShared {
    fn lock(&self) -> MutexGuard<'_, DState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn notify(mut st: MutexGuard<'_, DState>) {
    if st.in_task {
        st.dirty = true;
    } else if let Some(w) = st.waker.take() {
        drop(st);
        w.wake();
    }
}

/// A datagram endpoint's handle (asyncio's `DatagramTransport`). Cheap to clone.
#[derive(Clone)]
pub struct DatagramTransport {
    shared: Arc<DShared>,
}

impl DatagramTransport {
    /// Sends `data` to `addr` (or to the connected remote address when `None`): at once if
    /// nothing is queued, else after the queue. Errors go to `error_received`.
    pub fn send_to(&self, data: &[u8], addr: Option<SocketAddr>) {
        let mut st = self.shared.lock();
        if st.closing || st.lost {
            return;
        }
        if st.queue.is_empty() {
            let sock = self.shared.sock.as_async().get_ref();
            let res = match addr {
                Some(a) => sock.send_to(data, a),
                None => sock.send(data),
            };
            match res {
                Ok(_) => return,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    st.errors.push(e);
                    return notify(st);
                }
            }
        }
        st.queued_bytes += data.len();
        st.queue.push_back((data.to_vec(), addr));
        notify(st);
    }

    /// Bytes queued and not yet sent.
    pub fn write_buffer_size(&self) -> usize {
        self.shared.lock().queued_bytes
    }

    /// Closes after sending the queue; `connection_lost(None)` follows.
    pub fn close(&self) {
        let mut st = self.shared.lock();
        st.closing = true;
        notify(st);
    }

    /// Closes at once, dropping the queue.
    pub fn abort(&self) {
        let mut st = self.shared.lock();
        st.closing = true;
        st.aborted = true;
        notify(st);
    }

    /// Whether the endpoint is closing or closed.
    pub fn is_closing(&self) -> bool {
        let st = self.shared.lock();
        st.closing || st.lost
    }

    /// The bound address.
    ///
    /// # Errors
    ///
    /// If the kernel cannot report it.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.shared.sock.local_addr()
    }

    /// The connected remote address.
    ///
    /// # Errors
    ///
    /// `NotConnected` if the endpoint has no remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.shared.sock.peer_addr()
    }

    /// Waits until the endpoint has closed (after `connection_lost` returned).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe.
    pub async fn wait_closed(&self) {
        self.shared.lost.wait().await;
    }
}

impl fmt::Debug for DatagramTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatagramTransport")
            .field("sock", &self.shared.sock)
            .finish()
    }
}

/// Opens a UDP endpoint driven by a protocol (asyncio's `create_datagram_endpoint`):
/// bound to `local` (or an ephemeral port of `remote`'s family), connected to `remote` if
/// given. Must run inside a tulip runtime: the endpoint's task is spawned on it.
///
/// # Errors
///
/// Bind or connect errors; `InvalidInput` when neither address is given.
///
/// # Examples
///
/// ```
/// use std::net::SocketAddr;
/// use tulip_net::{DatagramProtocol, DatagramTransport, UdpSocket, create_datagram_endpoint};
///
/// struct Echo(Option<DatagramTransport>);
/// impl DatagramProtocol for Echo {
///     fn connection_made(&mut self, t: DatagramTransport) { self.0 = Some(t); }
///     fn datagram_received(&mut self, data: &[u8], from: SocketAddr) {
///         self.0.as_ref().unwrap().send_to(data, Some(from));
///     }
/// }
///
/// # fn main() -> std::io::Result<()> {
/// tulip_executor::run(async {
///     let t = create_datagram_endpoint(|| Echo(None), Some("127.0.0.1:0".parse().unwrap()), None)?;
///     let client = UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
///     client.send_to(b"ping", t.local_addr()?).await?;
///     let mut buf = [0; 8];
///     let (n, _) = client.recv_from(&mut buf).await?;
///     assert_eq!(&buf[..n], b"ping");
///     t.close();
///     t.wait_closed().await;
///     Ok(())
/// })
/// # }
/// ```
pub fn create_datagram_endpoint<P, F>(
    protocol_factory: F,
    local: Option<SocketAddr>,
    remote: Option<SocketAddr>,
) -> io::Result<DatagramTransport>
where
    P: DatagramProtocol,
    F: FnOnce() -> P,
{
    let local = match (local, remote) {
        (Some(l), _) => l,
        (None, Some(SocketAddr::V4(_))) => "0.0.0.0:0".parse().expect("literal"),
        (None, Some(SocketAddr::V6(_))) => "[::]:0".parse().expect("literal"),
        (None, None) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "create_datagram_endpoint needs a local or a remote address",
            ));
        }
    };
    let sock = UdpSocket::bind(local)?;
    if let Some(r) = remote {
        sock.connect(r)?;
    }
    Ok(spawn_endpoint(sock, protocol_factory()))
}

/// Drives `protocol` over an existing socket (for sockets bound with special options).
pub(crate) fn spawn_endpoint<P: DatagramProtocol>(
    sock: UdpSocket,
    protocol: P,
) -> DatagramTransport {
    let shared = Arc::new(DShared {
        sock,
        state: Mutex::new(DState {
            queue: VecDeque::new(),
            queued_bytes: 0,
            errors: Vec::new(),
            closing: false,
            aborted: false,
            lost: false,
            in_task: false,
            dirty: false,
            waker: None,
        }),
        lost: Event::new(),
    });
    let transport = DatagramTransport {
        shared: shared.clone(),
    };
    let ep = Endpoint {
        shared,
        protocol,
        buf: Vec::new(),
        started: false,
        done: false,
    };
    tulip_executor::spawn(ep).detach();
    transport
}

struct Endpoint<P> {
    shared: Arc<DShared>,
    protocol: P,
    buf: Vec<u8>,
    started: bool,
    done: bool,
}

impl<P: DatagramProtocol> Endpoint<P> {
    fn finish(&mut self) {
        self.done = true;
        {
            let mut st = self.shared.lock();
            st.lost = true;
            st.queue.clear();
            st.queued_bytes = 0;
            st.waker = None;
        }
        self.protocol.connection_lost(None);
        self.shared.lost.set();
    }

    /// Sends the queue; returns errors to deliver and whether the endpoint should finish.
    fn settle(&mut self, cx: &mut Context<'_>) -> (Vec<io::Error>, bool) {
        let mut st = self.shared.lock();
        st.dirty = false;
        if st.aborted {
            return (Vec::new(), true);
        }
        while let Some((data, addr)) = st.queue.front() {
            let io = self.shared.sock.as_async();
            let res = match addr {
                Some(a) => io.poll_write_with(cx, |s| s.send_to(data, *a)),
                None => io.poll_write_with(cx, |s| s.send(data)),
            };
            match res {
                Poll::Pending => break,
                Poll::Ready(r) => {
                    let (data, _) = st.queue.pop_front().expect("front exists");
                    st.queued_bytes -= data.len();
                    if let Err(e) = r {
                        st.errors.push(e);
                    }
                }
            }
        }
        let errors = std::mem::take(&mut st.errors);
        let finish = st.closing && st.queue.is_empty();
        (errors, finish)
    }
}

// The protocol is never pinned (callbacks take `&mut P`), so the task may move.
impl<P> Unpin for Endpoint<P> {}

impl<P: DatagramProtocol> Future for Endpoint<P> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(());
        }
        this.shared.lock().in_task = true;
        if !this.started {
            this.started = true;
            this.buf = vec![0; MAX_DATAGRAM];
            this.protocol.connection_made(DatagramTransport {
                shared: this.shared.clone(),
            });
        }
        let mut budget = BUDGET;
        loop {
            let (errors, finish) = this.settle(cx);
            let had_errors = !errors.is_empty();
            for e in errors {
                this.protocol.error_received(e);
            }
            if finish {
                this.finish();
                return Poll::Ready(());
            }
            if had_errors {
                continue;
            }
            if this.shared.lock().closing {
                // Waiting for the queue to drain; the write readiness wakes us.
                if this.park(cx) {
                    return Poll::Pending;
                }
                continue;
            }
            let buf = &mut this.buf;
            match this
                .shared
                .sock
                .as_async()
                .poll_read_with(cx, |s| s.recv_from(buf))
            {
                Poll::Ready(Ok((n, from))) => {
                    this.protocol.datagram_received(&this.buf[..n], from);
                    budget -= 1;
                    if budget == 0 {
                        this.shared.lock().in_task = false;
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                }
                Poll::Ready(Err(e)) => this.protocol.error_received(e),
                Poll::Pending => {
                    if this.park(cx) {
                        return Poll::Pending;
                    }
                }
            }
        }
    }
}

impl<P> Endpoint<P> {
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

impl<P> Drop for Endpoint<P> {
    fn drop(&mut self) {
        if !self.done {
            self.shared.lock().lost = true;
            self.shared.lost.set();
        }
    }
}
