//! The accept loop: the only module that knows about sockets and the executor.
//!
//! It uses `tulip_reactor::Async` over std's TCP and Unix listeners and `tulip_executor::spawn`;
//! moving to `tulip_net` listeners touches only this file. TLS listeners hand each accepted
//! socket to a task that runs the handshake under
//! [`ServerConfig::tls_handshake_timeout`](super::ServerConfig::tls_handshake_timeout) before
//! serving HTTP, so a silent client costs one parked task, never the accept loop.

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_lite::future::poll_fn;
use tulip_reactor::Async;

use super::app::App;
use super::lifecycle::Lifecycle;
use super::shutdown::{ShutdownHandle, ShutdownState};
use super::{ServerConfig, Service};
use crate::error::{Chain, Error, Phase};

/// A bound server: listeners, a frozen app, a configuration (aiohttp's `web.AppRunner` plus
/// `web.TCPSite`).
///
/// # Examples
///
/// ```no_run
/// use tulip_http::{App, Request, Server};
///
/// async fn hello(_req: Request) -> &'static str {
///     "Hello, World!"
/// }
///
/// tulip_executor::run(async {
///     let server = Server::bind("127.0.0.1:8080", App::new().get("/", hello)).unwrap();
///     server.run().await
/// })
/// .unwrap();
/// ```
pub struct Server {
    service: Service,
    listeners: Vec<Listener>,
    lifecycle: Lifecycle,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addrs", &self.local_addrs())
            .finish()
    }
}

impl Server {
    /// Binds `addr` with the default [`ServerConfig`] and freezes `app`.
    pub fn bind(addr: impl ToSocketAddrs, app: App) -> Result<Server, Error> {
        Server::bind_with(addr, app, ServerConfig::default())
    }

    /// Binds `addr` with `config`.
    pub fn bind_with(
        addr: impl ToSocketAddrs,
        app: App,
        config: ServerConfig,
    ) -> Result<Server, Error> {
        let mut server = Server::unbound(app, config)?;
        server.listen(addr)?;
        Ok(server)
    }

    /// Binds an HTTPS listener on `addr`: every connection is a TLS session through
    /// `acceptor`, then HTTP/2 or HTTP/1.1 as ALPN decides. An acceptor without ALPN protocols
    /// is given `h2` and `http/1.1` (only `http/1.1` when [`ServerConfig::http2`] is off).
    ///
    /// ```no_run
    /// use tulip_http::{App, Request, Server};
    ///
    /// let acceptor = tulip_tls::TlsAcceptor::from_pem_files("cert.pem", "key.pem").unwrap();
    /// let app = App::new().get("/", |_req: Request| async { "Hello over TLS" });
    /// let server = Server::bind_tls("127.0.0.1:8443", app, acceptor).unwrap();
    /// tulip_executor::run(server.run()).unwrap();
    /// ```
    #[cfg(feature = "tls")]
    pub fn bind_tls(
        addr: impl ToSocketAddrs,
        app: App,
        acceptor: tulip_tls::TlsAcceptor,
    ) -> Result<Server, Error> {
        let mut server = Server::unbound(app, ServerConfig::default())?;
        server.listen_tls(addr, acceptor)?;
        Ok(server)
    }

    /// Binds a Unix domain socket at `path` (a stale socket file left there is replaced; any
    /// other file is an error). The file is removed when the server stops. Requests on it have
    /// no [`peer_addr`](crate::Request::peer_addr).
    pub fn bind_unix(path: impl AsRef<Path>, app: App) -> Result<Server, Error> {
        let mut server = Server::unbound(app, ServerConfig::default())?;
        server.listen_unix(path)?;
        Ok(server)
    }

    /// A server with no listener yet, for [`listen`](Server::listen),
    /// [`listen_tls`](Server::listen_tls) and [`listen_unix`](Server::listen_unix).
    pub fn unbound(app: App, config: ServerConfig) -> Result<Server, Error> {
        let (service, lifecycle) = app.into_parts(config)?;
        Ok(Server {
            service,
            listeners: Vec::new(),
            lifecycle,
        })
    }

    /// Also listens on `addr` (serve on several addresses).
    pub fn listen(&mut self, addr: impl ToSocketAddrs) -> Result<&mut Server, Error> {
        self.listeners.push(Listener::Tcp {
            l: bind_tcp(addr)?,
            #[cfg(feature = "tls")]
            tls: None,
        });
        Ok(self)
    }

    /// Also serves on a listener bound by the caller (with `SO_REUSEPORT`, say, or passed in by
    /// a service manager). It is switched to non-blocking mode.
    pub fn listen_std(&mut self, l: TcpListener) -> Result<&mut Server, Error> {
        let place = l
            .local_addr()
            .map_or_else(|_| "a listener".into(), |a| a.to_string());
        let l = Async::new(l).map_err(|e| Error::io(e).during(Phase::Bind).at(place))?;
        self.listeners.push(Listener::Tcp {
            l,
            #[cfg(feature = "tls")]
            tls: None,
        });
        Ok(self)
    }

    /// Also listens for HTTPS on `addr`; see [`bind_tls`](Server::bind_tls).
    #[cfg(feature = "tls")]
    pub fn listen_tls(
        &mut self,
        addr: impl ToSocketAddrs,
        acceptor: tulip_tls::TlsAcceptor,
    ) -> Result<&mut Server, Error> {
        let service_http2 = self.service.cfg.http2;
        let acceptor = if acceptor.config().alpn_protocols.is_empty() {
            let mut cfg = (**acceptor.config()).clone();
            cfg.alpn_protocols = if service_http2 {
                vec![b"h2".to_vec(), b"http/1.1".to_vec()]
            } else {
                vec![b"http/1.1".to_vec()]
            };
            tulip_tls::TlsAcceptor::new(Arc::new(cfg))
        } else {
            acceptor
        };
        // The server bounds the handshake itself (`ServerConfig::tls_handshake_timeout`).
        let acceptor = acceptor.with_handshake_timeout(None);
        self.listeners.push(Listener::Tcp {
            l: bind_tcp(addr)?,
            tls: Some(acceptor),
        });
        Ok(self)
    }

    /// Also listens on a Unix domain socket; see [`bind_unix`](Server::bind_unix).
    pub fn listen_unix(&mut self, path: impl AsRef<Path>) -> Result<&mut Server, Error> {
        let path = path.as_ref();
        let bind_error = |e: io::Error| Error::io(e).during(Phase::Bind).at(path.display());
        remove_stale_socket(path).map_err(bind_error)?;
        let l = UnixListener::bind(path).map_err(bind_error)?;
        self.listeners.push(Listener::Unix {
            l: Async::new(l).map_err(bind_error)?,
            path: path.to_path_buf(),
        });
        Ok(self)
    }

    /// The first bound TCP address (useful after binding port 0).
    ///
    /// # Panics
    ///
    /// When the server listens on no TCP address (only Unix sockets, or nothing yet).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addrs()[0]
    }

    /// Every bound TCP address (plain and TLS), in the order they were added.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| match l {
                Listener::Tcp { l, .. } => l.get_ref().local_addr().ok(),
                Listener::Unix { .. } => None,
            })
            .collect()
    }

    /// Every Unix socket path listened on.
    pub fn unix_paths(&self) -> Vec<&Path> {
        self.listeners
            .iter()
            .filter_map(|l| match l {
                Listener::Unix { path, .. } => Some(path.as_path()),
                Listener::Tcp { .. } => None,
            })
            .collect()
    }

    /// A handle that starts graceful shutdown.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.service.shutdown_handle()
    }

    /// The service (frozen app) this server runs, for serving other transports alongside.
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// Runs the startup hooks now, before [`run`](Server::run) (which otherwise does), so
    /// that a caller can say "running" only once they succeeded. The listeners are bound but
    /// accept nothing yet. After an error, drop the server: the contexts set up were torn
    /// down.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: a hook interrupted midway does not run again.
    pub async fn startup(&mut self) -> Result<(), Error> {
        self.lifecycle.startup().await
    }

    /// Runs the startup hooks, accepts and serves until shutdown is requested, then shuts down
    /// gracefully (in-flight requests finish, within
    /// [`shutdown_timeout`](ServerConfig::shutdown_timeout)) and runs the shutdown and cleanup
    /// hooks (within `shutdown_timeout` again). A failing startup hook is returned before
    /// anything is accepted; a failing shutdown or cleanup hook after all of them ran. Must run inside a tulip runtime (it spawns one task
    /// per connection).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops accepting; connections already spawned run on.
    pub async fn run(self) -> Result<(), Error> {
        let Server {
            service,
            listeners,
            mut lifecycle,
        } = self;
        lifecycle.startup().await?;
        let shared = service.shared.clone();
        let accepted: io::Result<()> = poll_fn(|cx| {
            if shared.poll_started(cx).is_ready() {
                return Poll::Ready(Ok(()));
            }
            let mut more = false;
            for l in &listeners {
                // Bounded per wake-up so one busy listener cannot starve the others.
                let mut budget = 64;
                loop {
                    if budget == 0 {
                        // Readiness is edge-triggered: with connections left in the backlog no
                        // new event will come, so ask to be polled again.
                        more = true;
                        break;
                    }
                    budget -= 1;
                    match l.poll_accept(cx, &service) {
                        Poll::Ready(Ok(())) => {}
                        Poll::Ready(Err(e)) if is_transient(&e) => continue,
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Pending => break,
                    }
                }
            }
            if more {
                cx.waker().wake_by_ref();
            }
            Poll::Pending
        })
        .await;
        for l in listeners {
            if let Listener::Unix { path, .. } = l {
                let _ = std::fs::remove_file(path);
            }
        }
        graceful(&service.shared, service.cfg.shutdown_timeout).await;
        let stopped = stop_hooks(&mut lifecycle, service.cfg.shutdown_timeout).await;
        accepted.map_err(|e| Error::io(e).during(Phase::Accept))?;
        stopped
    }
}

/// Binds a TCP listener; a failure names the address.
fn bind_tcp(addr: impl ToSocketAddrs) -> Result<Async<TcpListener>, Error> {
    let addrs: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|e| Error::io(e).during(Phase::Bind))?
        .collect();
    let place = || match addrs.as_slice() {
        [one] => one.to_string(),
        many => format!("{many:?}"),
    };
    let l =
        TcpListener::bind(&addrs[..]).map_err(|e| Error::io(e).during(Phase::Bind).at(place()))?;
    Async::new(l).map_err(|e| Error::io(e).during(Phase::Bind).at(place()))
}

/// Errors after which accepting goes on (a connection reset before accept, fd exhaustion).
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    ) || e.raw_os_error().is_some_and(|c| c == 24 || c == 23)
}

/// One listening socket.
enum Listener {
    Tcp {
        l: Async<TcpListener>,
        /// Present for HTTPS listeners.
        #[cfg(feature = "tls")]
        tls: Option<tulip_tls::TlsAcceptor>,
    },
    Unix {
        l: Async<UnixListener>,
        path: PathBuf,
    },
}

impl Listener {
    /// Accepts one connection and spawns its task.
    fn poll_accept(&self, cx: &mut Context<'_>, service: &Service) -> Poll<io::Result<()>> {
        match self {
            Listener::Tcp { l, .. } => {
                let (stream, peer) = futures_lite::ready!(l.poll_read_with(cx, |l| l.accept()))?;
                // Small responses must not wait for Nagle.
                let _ = stream.set_nodelay(true);
                let io = match Async::new(stream) {
                    Ok(io) => io,
                    Err(e) => {
                        log::warn!("cannot register accepted socket: {e}");
                        return Poll::Ready(Ok(()));
                    }
                };
                #[cfg(feature = "tls")]
                if let Listener::Tcp {
                    tls: Some(acceptor),
                    ..
                } = self
                {
                    spawn_tls(service, acceptor, io, peer);
                    return Poll::Ready(Ok(()));
                }
                spawn_served(service, io, Some(peer));
            }
            Listener::Unix { l, .. } => {
                let (stream, _) = futures_lite::ready!(l.poll_read_with(cx, |l| l.accept()))?;
                match Async::new(stream) {
                    Ok(io) => spawn_served(service, io, None),
                    Err(e) => log::warn!("cannot register accepted socket: {e}"),
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// Serves one accepted connection in a task of its own.
fn spawn_served<I: crate::Io>(service: &Service, io: I, peer: Option<SocketAddr>) {
    tulip_executor::spawn(connection_task(service, io, peer)).detach();
}

/// The task of one accepted connection: serves it and logs how it ended.
///
/// The connection future is made inside the task: a task that awaited a future it captured
/// would hold it twice (the capture and the awaited copy), doubling every connection's task.
pub(super) fn connection_task<I: crate::Io>(
    service: &Service,
    io: I,
    peer: Option<SocketAddr>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let service = service.clone();
    async move {
        let served = service.serve_connection(io, peer);
        if let Err(e) = served.await {
            log::debug!("connection ended with an error: {}", Chain(&e));
        }
    }
}

/// A TLS stream and whether ALPN picked HTTP/2. Asked outside the connection's task so that
/// the task never borrows the stream: a borrowed binding keeps its storage in the task
/// across every later await, beside the copy moved into the serving future.
#[cfg(feature = "tls")]
fn alpn_h2(tls: TlsConn) -> (bool, TlsConn) {
    (tls.alpn_protocol() == Some(b"h2"), tls)
}

#[cfg(feature = "tls")]
type TlsConn = tulip_tls::TlsStream<Async<std::net::TcpStream>>;

/// Runs the TLS handshake in the connection's own task, bounded by the configured timeout.
#[cfg(feature = "tls")]
fn spawn_tls(
    service: &Service,
    acceptor: &tulip_tls::TlsAcceptor,
    io: Async<std::net::TcpStream>,
    peer: SocketAddr,
) {
    let service = service.clone();
    let acceptor = acceptor.clone();
    tulip_executor::spawn(async move {
        let limit = service.cfg.tls_handshake_timeout;
        // The stream leaves the handshake's result here and moves, unborrowed, into the
        // serving future: a binding borrowed across the await, or the matched result kept
        // alive by it, would each hold another copy of the TLS state in the task.
        let tls = match tulip_reactor::timeout(limit, acceptor.accept(io)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                return log::debug!("TLS handshake with {peer} failed: {}", Chain(&e));
            }
            Err(_) => return log::debug!("TLS handshake with {peer} timed out"),
        };
        let (h2, tls) = alpn_h2(tls);
        let served = if h2 {
            service.serve_h2(tls, Some(peer)).await
        } else {
            service.serve_connection(tls, Some(peer)).await
        };
        if let Err(e) = served {
            log::debug!("TLS connection from {peer}: {}", Chain(&e));
        }
    })
    .detach();
}

/// Removes a socket file left by an earlier run, so binding does not fail with `AddrInUse`;
/// anything that is not a socket is left alone (and binding then fails).
fn remove_stale_socket(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path),
        _ => Ok(()),
    }
}

/// Runs the shutdown and cleanup hooks, bounded by `timeout`.
async fn stop_hooks(lc: &mut Lifecycle, timeout: std::time::Duration) -> Result<(), Error> {
    match tulip_reactor::timeout(timeout, lc.stop()).await {
        Ok(r) => r,
        Err(_) => {
            log::error!("shutdown and cleanup hooks did not finish within {timeout:?}");
            Err(Error::timeout("the shutdown and cleanup hooks").during(Phase::Cleanup))
        }
    }
}

/// Waits for connections to finish until `timeout`, then forces the rest closed.
async fn graceful(shared: &Arc<ShutdownState>, timeout: std::time::Duration) {
    shared.begin();
    if tulip_reactor::timeout(timeout, poll_fn(|cx| shared.poll_idle(cx)))
        .await
        .is_err()
    {
        log::warn!(
            "shutdown deadline passed with {} connections open; closing them",
            shared.active()
        );
        shared.force();
        let _ = tulip_reactor::timeout(
            std::time::Duration::from_secs(1),
            poll_fn(|cx| shared.poll_idle(cx)),
        )
        .await;
    }
}

impl App {
    /// Binds `addr` and serves until the process is stopped, on a new multi-thread runtime.
    /// For aiohttp's `web.run_app` (graceful shutdown on SIGINT/SIGTERM, a banner, options)
    /// use `tulip::web::run_app` from the umbrella crate.
    pub fn run(self, addr: impl ToSocketAddrs) -> Result<(), Error> {
        let server = Server::bind(addr, self)?;
        log::info!("serving on http://{}", server.local_addr());
        tulip_executor::run(server.run())
    }
}
