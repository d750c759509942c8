//! [`Server`]: the handle of a listening server (asyncio's `Server`), and the accept loop
//! that every server kind shares.

use std::fmt;
use std::future::Future;
use std::io;
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tulip_executor::debug::ResourceTracker;
use tulip_sync::Event;

use crate::addr::Address;
use crate::{TcpListener, TcpStream, UnixListener, UnixStream};

/// How long an accept loop backs off after a resource error (`EMFILE`, `ENFILE`, `ENOBUFS`,
/// `ENOMEM`) before trying again: asyncio waits one second; a shorter pause recovers sooner
/// once descriptors are freed, and still keeps the loop from spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A listener the accept loop can drive.
pub(crate) trait Accept: Send + Sync + 'static {
    type Conn: Send + 'static;
    /// Accepts one connection; `site` is the server's creation site, which debug mode names
    /// as the connection's.
    fn poll_accept(
        &self,
        cx: &mut Context<'_>,
        site: &'static Location<'static>,
    ) -> Poll<io::Result<Self::Conn>>;
    fn address(&self) -> io::Result<Address>;
}

impl Accept for TcpListener {
    type Conn = TcpStream;
    fn poll_accept(
        &self,
        cx: &mut Context<'_>,
        site: &'static Location<'static>,
    ) -> Poll<io::Result<TcpStream>> {
        self.poll_accept_at(cx, site).map(|r| r.map(|(s, _)| s))
    }
    fn address(&self) -> io::Result<Address> {
        self.local_addr().map(Address::Ip)
    }
}

impl Accept for UnixListener {
    type Conn = UnixStream;
    fn poll_accept(
        &self,
        cx: &mut Context<'_>,
        site: &'static Location<'static>,
    ) -> Poll<io::Result<UnixStream>> {
        self.poll_accept_at(cx, site).map(|r| r.map(|(s, _)| s))
    }
    fn address(&self) -> io::Result<Address> {
        self.local_addr().map(Address::Unix)
    }
}

#[derive(Debug)]
struct ServerShared {
    addrs: Vec<Address>,
    /// Set by `close`: the accept loops stop and drop their listeners.
    closing: Event,
    /// Set once closing, every accept loop has ended and every connection has finished.
    done: Event,
    loops: AtomicUsize,
    conns: AtomicUsize,
}

impl ServerShared {
    fn maybe_done(&self) {
        if self.closing.is_set()
            && self.loops.load(Ordering::SeqCst) == 0
            && self.conns.load(Ordering::SeqCst) == 0
        {
            self.done.set();
        }
    }
}

/// A running server (asyncio's `Server`): cheap to clone; every clone controls the same
/// server.
///
/// Dropping the handles does not stop the server; [`close`](Server::close) does. In debug
/// mode ([`tulip_executor::debug`]), dropping the last handle of a server that was never
/// closed is reported as `unclosed Server`, with the site that started it: nothing can stop
/// that server any more but the end of its runtime.
#[derive(Clone)]
pub struct Server {
    shared: Arc<ServerShared>,
    /// Shared by the handles only (not the accept loop), so it drops with the last handle.
    tracker: Arc<ResourceTracker>,
}

impl Server {
    /// Starts one accept loop on the current runtime; `on_conn` turns each connection into a
    /// future that runs as its own task.
    #[track_caller]
    pub(crate) fn spawn<L, F, Fut>(listener: L, on_conn: F) -> io::Result<Server>
    where
        L: Accept,
        F: Fn(L::Conn) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
    {
        let shared = Arc::new(ServerShared {
            addrs: vec![listener.address()?],
            closing: Event::new(),
            done: Event::new(),
            loops: AtomicUsize::new(1),
            conns: AtomicUsize::new(0),
        });
        let site = Location::caller();
        tulip_executor::spawn(accept_loop(shared.clone(), listener, on_conn, site)).detach();
        Ok(Server::new(shared, site))
    }

    /// Starts a server whose connections are protocol transports (no task per connection
    /// beyond the transport's own).
    #[track_caller]
    pub(crate) fn spawn_plain<L, F>(listener: L, on_conn: F) -> io::Result<Server>
    where
        L: Accept,
        F: Fn(L::Conn, ConnGuard) + Send + Sync + 'static,
    {
        let shared = Arc::new(ServerShared {
            addrs: vec![listener.address()?],
            closing: Event::new(),
            done: Event::new(),
            loops: AtomicUsize::new(1),
            conns: AtomicUsize::new(0),
        });
        let site = Location::caller();
        tulip_executor::spawn(accept_loop_plain(shared.clone(), listener, on_conn, site)).detach();
        Ok(Server::new(shared, site))
    }

    fn new(shared: Arc<ServerShared>, site: &'static Location<'static>) -> Server {
        Server {
            shared,
            tracker: Arc::new(ResourceTracker::at("Server", site)),
        }
    }

    /// The addresses the server listens on (asyncio's `sockets`).
    pub fn local_addrs(&self) -> &[Address] {
        &self.shared.addrs
    }

    /// The first listening address as an IP address (`None` for a Unix server).
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.shared.addrs.first().and_then(Address::as_ip)
    }

    /// Stops accepting and closes the listening sockets; connections already accepted carry
    /// on.
    pub fn close(&self) {
        self.tracker.mark_closed();
        self.shared.closing.set();
        self.shared.maybe_done();
    }

    /// Whether the server is still accepting (not closed).
    pub fn is_serving(&self) -> bool {
        !self.shared.closing.is_set()
    }

    /// The number of connections whose task is still running.
    pub fn active_connections(&self) -> usize {
        self.shared.conns.load(Ordering::SeqCst)
    }

    /// Waits until the server is closed and every connection has finished (asyncio 3.12's
    /// `wait_closed`).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe.
    pub async fn wait_closed(&self) {
        self.shared.done.wait().await;
    }

    /// Serves until [`close`](Server::close) is called; dropping the future (cancelling it)
    /// closes the server, as in asyncio.
    ///
    /// # Cancel safety
    ///
    /// Cancelling closes the server (that is the point of cancelling `serve_forever`).
    pub async fn serve_forever(&self) {
        struct CloseOnDrop<'a>(&'a Server);
        impl Drop for CloseOnDrop<'_> {
            fn drop(&mut self) {
                self.0.close();
            }
        }
        let _guard = CloseOnDrop(self);
        self.shared.closing.wait().await;
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addrs", &self.shared.addrs)
            .field("serving", &self.is_serving())
            .field("connections", &self.active_connections())
            .finish()
    }
}

/// Counts a live connection; dropping it (when the connection's task ends) may complete
/// `wait_closed`.
#[derive(Debug)]
pub(crate) struct ConnGuard(Arc<ServerShared>);

impl ConnGuard {
    fn new(shared: &Arc<ServerShared>) -> ConnGuard {
        shared.conns.fetch_add(1, Ordering::SeqCst);
        ConnGuard(shared.clone())
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.conns.fetch_sub(1, Ordering::SeqCst);
        self.0.maybe_done();
    }
}

struct LoopGuard(Arc<ServerShared>);

impl Drop for LoopGuard {
    fn drop(&mut self) {
        self.0.loops.fetch_sub(1, Ordering::SeqCst);
        self.0.maybe_done();
    }
}

/// Whether an accept error means "out of resources, try again later" rather than "this one
/// connection failed".
fn is_resource_error(e: &io::Error) -> bool {
    // EMFILE 24, ENFILE 23, ENOBUFS 105, ENOMEM 12 on Linux.
    matches!(e.raw_os_error(), Some(24 | 23 | 105 | 12))
}

/// Waits for the next connection or for the server to close (`None`).
async fn next_conn<L: Accept>(
    shared: &ServerShared,
    listener: &L,
    site: &'static Location<'static>,
) -> Option<L::Conn> {
    loop {
        let accept = std::future::poll_fn(|cx| listener.poll_accept(cx, site).map(Some));
        let closed = async {
            shared.closing.wait().await;
            None
        };
        match futures_lite::future::or(closed, accept).await {
            None => return None,
            Some(Ok(c)) => return Some(c),
            Some(Err(e)) if is_resource_error(&e) => {
                let pause = async {
                    tulip_reactor::sleep(ACCEPT_BACKOFF).await;
                    false
                };
                let closed = async {
                    shared.closing.wait().await;
                    true
                };
                if futures_lite::future::or(closed, pause).await {
                    return None;
                }
            }
            // A connection reset before we accepted it, and the like: skip it.
            Some(Err(_)) => {}
        }
    }
}

async fn accept_loop<L, F, Fut>(
    shared: Arc<ServerShared>,
    listener: L,
    on_conn: F,
    site: &'static Location<'static>,
) where
    L: Accept,
    F: Fn(L::Conn) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
{
    let _loop = LoopGuard(shared.clone());
    while let Some(conn) = next_conn(&shared, &listener, site).await {
        let guard = ConnGuard::new(&shared);
        let fut = on_conn(conn);
        tulip_executor::spawn(async move {
            let _guard = guard;
            fut.await;
        })
        .detach();
    }
}

async fn accept_loop_plain<L, F>(
    shared: Arc<ServerShared>,
    listener: L,
    on_conn: F,
    site: &'static Location<'static>,
) where
    L: Accept,
    F: Fn(L::Conn, ConnGuard) + Send + Sync + 'static,
{
    let _loop = LoopGuard(shared.clone());
    while let Some(conn) = next_conn(&shared, &listener, site).await {
        on_conn(conn, ConnGuard::new(&shared));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn server_handles_move_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<super::Server>();
    }
}
