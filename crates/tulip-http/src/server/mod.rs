//! The server side: [`App`], routing, middleware, requests, responses, static files, the
//! connection driver and the accept loop with graceful shutdown.

pub(crate) mod access_log;
pub(crate) mod app;
pub(crate) mod body;
#[cfg(feature = "gzip")]
pub(crate) mod compress;
pub(crate) mod config;
pub(crate) mod cookies;
pub(crate) mod dispatch;
pub(crate) mod file_body;
pub(crate) mod files;
pub(crate) mod lifecycle;
pub(crate) mod listen;
pub(crate) mod multipart;
pub(crate) mod request;
pub(crate) mod response;
pub(crate) mod router;
pub(crate) mod shutdown;
pub(crate) mod upgrade;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

pub use access_log::{ACCESS_LOG_TARGET, AccessLogFormat};
pub use app::{App, Handler, Middleware, Next};
pub use body::Body;
pub use config::ServerConfig;
pub use cookies::{Cookie, SameSite};
pub use files::FileResponse;
pub use lifecycle::{AppState, HookError, HookResult};
pub use listen::Server;
pub use multipart::{Form, FormFile, FormValue, Multipart, MultipartLimits, Part};
pub use request::Request;
pub use response::{BodyWriter, EventSender, IntoResponse, Response};
pub use shutdown::{ShutdownHandle, ShutdownSignal};
pub use upgrade::{Io, OnUpgrade, Upgraded};

use crate::error::Error;

/// A frozen app plus configuration, ready to serve connections from any transport (TCP, TLS,
/// Unix sockets, in-memory pipes). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Service {
    pub(crate) app: Arc<app::Frozen>,
    pub(crate) cfg: Arc<ServerConfig>,
    pub(crate) shared: Arc<shutdown::ShutdownState>,
}

impl App {
    /// Freezes the app for serving. Fails when a route pattern or prefix was invalid.
    /// Lifecycle hooks do not run for a bare service; [`Server`] runs them.
    pub fn into_service(self, config: ServerConfig) -> Result<Service, Error> {
        Ok(self.into_parts(config)?.0)
    }

    /// The service and the app tree's hooks in running order.
    pub(crate) fn into_parts(
        mut self,
        config: ServerConfig,
    ) -> Result<(Service, lifecycle::Lifecycle), Error> {
        let app = self.freeze()?;
        let hooks = lifecycle::Lifecycle::collect(&mut self);
        let service = Service {
            app,
            cfg: Arc::new(config),
            shared: shutdown::ShutdownState::new(),
        };
        Ok((service, hooks))
    }
}

impl Service {
    /// Serves `io` until the peer closes, a timeout fires or the server shuts down: HTTP/2
    /// when the client opens with the HTTP/2 connection preface (prior knowledge) and
    /// [`ServerConfig::http2`] is on, HTTP/1.1 otherwise. Spawn one of these per accepted
    /// connection.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future closes the connection, cancelling any running handler.
    pub fn serve_connection<I: Io>(
        &self,
        io: I,
        peer: Option<SocketAddr>,
    ) -> impl Future<Output = Result<(), Error>> + Send + 'static {
        let guard = self.shared.register();
        let span = crate::trace::connection(peer);
        crate::trace::instrument(
            serve_any(io, self.app.clone(), self.cfg.clone(), peer, guard),
            &span,
        )
    }

    /// Serves HTTP/2 on `io` (a TLS stream whose ALPN picked `h2`).
    #[cfg(feature = "tls")]
    pub(crate) fn serve_h2<I: Io>(
        &self,
        io: I,
        peer: Option<SocketAddr>,
    ) -> impl Future<Output = Result<(), Error>> + Send + 'static {
        let guard = self.shared.register();
        Box::pin(crate::h2::server::serve(
            io,
            self.app.clone(),
            self.cfg.clone(),
            peer,
            guard,
        ))
    }

    /// A handle that starts graceful shutdown of every connection of this service.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            shared: self.shared.clone(),
        }
    }

    /// Bytes of file bodies ([`FileResponse`], `static_dir`) this service has sent with
    /// sendfile(2), that is, without copying them through user space. Monitoring and tests
    /// read it to see that the kernel path is taken: a body that went through the read path
    /// (TLS, gzip, HTTP/2, `multipart/byteranges`, [`ServerConfig::sendfile`] off) does not
    /// count.
    pub fn sendfile_bytes(&self) -> u64 {
        self.shared.sendfile_bytes()
    }

    /// Connections being served right now (including upgraded ones).
    pub fn active_connections(&self) -> usize {
        self.shared.active()
    }
}

/// HTTP/1.1, or HTTP/2 when the HTTP/1.1 dispatcher found the client's preface and handed
/// the connection over. (An `async fn`: an `async` block awaiting a future it captured would
/// hold that future twice.)
async fn serve_any<I: Io>(
    io: I,
    app: Arc<app::Frozen>,
    cfg: Arc<ServerConfig>,
    peer: Option<SocketAddr>,
    guard: shutdown::ConnGuard,
) -> Result<(), Error> {
    match dispatch::serve(io, app, cfg, peer, guard).await? {
        // The client spoke HTTP/2 by prior knowledge: its driver takes over.
        Some(http2) => http2.await,
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    /// A one-route service and a socket to serve.
    fn service_and_socket() -> (
        super::Service,
        impl Fn() -> tulip_reactor::Async<std::os::unix::net::UnixStream>,
    ) {
        let app = crate::App::new().get("/", |_r: crate::Request| async { "hi" });
        let svc = app.into_service(crate::ServerConfig::default()).unwrap();
        let io = || {
            let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
            tulip_reactor::Async::new(a).unwrap()
        };
        (svc, io)
    }

    /// An idle keep-alive connection costs its task; the per-request state is boxed so the
    /// task stays small (see `dispatch::serve`). This guards against an unboxed await
    /// creeping back into the connection loop.
    #[test]
    fn connection_task_stays_small() {
        let (svc, io) = service_and_socket();
        let fut = svc.serve_connection(io(), None);
        let size = std::mem::size_of_val(&fut);
        assert!(size <= 1024, "the connection future is {size} bytes");
    }

    /// The task around it holds the connection future once, beside a few words of its own
    /// (service, socket, peer), not a second copy of it.
    #[test]
    fn a_connection_task_holds_its_future_once() {
        let (svc, io) = service_and_socket();
        let task = std::mem::size_of_val(&super::listen::connection_task(&svc, io(), None));
        let conn = std::mem::size_of_val(&svc.serve_connection(io(), None));
        assert!(
            task <= conn + 128,
            "the connection task is {task} bytes for a {conn}-byte connection future"
        );
    }
}
