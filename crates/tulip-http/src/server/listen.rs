//! The accept loop: the only module that knows about sockets and the executor.
//!
//! It uses `tulip_reactor::Async<std::net::TcpListener>` and `tulip_executor::spawn`; moving to
//! `tulip_net::TcpListener` touches only this file.

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::task::Poll;

use futures_lite::future::poll_fn;
use tulip_reactor::Async;

use super::app::{App, BoxFuture};
use super::shutdown::{Shared, ShutdownHandle};
use super::{ServerConfig, Service};
use crate::error::Error;

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
    listeners: Vec<Async<TcpListener>>,
    startup: Vec<Box<dyn FnOnce() -> BoxFuture<()> + Send>>,
    shutdown: Vec<Box<dyn FnOnce() -> BoxFuture<()> + Send>>,
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
        mut app: App,
        config: ServerConfig,
    ) -> Result<Server, Error> {
        let startup = std::mem::take(&mut app.on_startup);
        let shutdown = std::mem::take(&mut app.on_shutdown);
        let service = app.into_service(config)?;
        let mut server = Server {
            service,
            listeners: Vec::new(),
            startup,
            shutdown,
        };
        server.listen(addr)?;
        Ok(server)
    }

    /// Also listens on `addr` (serve on several addresses).
    pub fn listen(&mut self, addr: impl ToSocketAddrs) -> Result<&mut Server, Error> {
        let l = TcpListener::bind(addr).map_err(|e| Error::io(&e))?;
        self.listeners
            .push(Async::new(l).map_err(|e| Error::io(&e))?);
        Ok(self)
    }

    /// The first bound address (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addrs()[0]
    }

    /// Every bound address.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.get_ref().local_addr().ok())
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

    /// Runs startup hooks, accepts and serves until shutdown is requested, then shuts down
    /// gracefully and runs shutdown hooks. Must run inside a tulip runtime (it spawns one task
    /// per connection).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops accepting; connections already spawned run on.
    pub async fn run(self) -> Result<(), Error> {
        let Server {
            service,
            listeners,
            startup,
            shutdown,
        } = self;
        for hook in startup {
            hook().await;
        }
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
                    match l.poll_read_with(cx, |l| l.accept()) {
                        Poll::Ready(Ok((stream, peer))) => spawn_connection(&service, stream, peer),
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
        drop(listeners);
        graceful(&service.shared, service.cfg.shutdown_timeout).await;
        for hook in shutdown {
            hook().await;
        }
        accepted.map_err(|e| Error::io(&e))
    }
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

fn spawn_connection(service: &Service, stream: std::net::TcpStream, peer: SocketAddr) {
    // Small responses must not wait for Nagle.
    let _ = stream.set_nodelay(true);
    match Async::new(stream) {
        Ok(io) => {
            let fut = service.serve_connection(io, Some(peer));
            tulip_executor::spawn(async move {
                if let Err(e) = fut.await {
                    log::debug!("connection from {peer}: {e}");
                }
            })
            .detach();
        }
        Err(e) => log::warn!("cannot register accepted socket: {e}"),
    }
}

/// Waits for connections to finish until `timeout`, then forces the rest closed.
async fn graceful(shared: &Arc<Shared>, timeout: std::time::Duration) {
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
    /// Binds `addr`, serves until the process is stopped (Ctrl-C), on a new multi-thread
    /// runtime (aiohttp's `web.run_app`).
    pub fn run(self, addr: impl ToSocketAddrs) -> Result<(), Error> {
        let server = Server::bind(addr, self)?;
        log::info!("serving on http://{}", server.local_addr());
        tulip_executor::run(server.run())
    }
}
