//! WebSocket routes on a tulip-http server: aiohttp's `web.WebSocketResponse`.
//!
//! A handler hands its request to [`WebSocketResponse::handle`] with a session closure and
//! returns the response it gets back: `101 Switching Protocols` when the upgrade is valid
//! (the session then runs in its own task on the upgraded connection), or a 400 / 403 / 405 /
//! 426 explaining the refusal.
//!
//! The WebSocket stays registered with the server: when the server shuts down gracefully
//! it sends `1001 Going Away` (from whichever of receive or send notices first), and the
//! receiving side then waits for the peer's close within `config.close_timeout`. A session
//! that receives in a loop therefore ends by itself with the close.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tulip_http::StatusCode;
use tulip_http::{OnUpgrade, Request, Response, Upgraded};

use crate::config::{Config, Role};
use crate::core::GoingAway;
use crate::deflate::DeflateParams;
use crate::error::{Error, Result};
use crate::server::{ServerOptions, Upgrade, upgrade};
use crate::socket::WebSocket;

/// The WebSocket a [`WebSocketResponse`] session gets: over tulip-http's upgraded connection.
pub type ServerWebSocket = WebSocket<Upgraded>;

/// Upgrades tulip-http requests to WebSockets; aiohttp's `web.WebSocketResponse`.
///
/// Build one per route (it is cheap to clone) and call [`handle`](WebSocketResponse::handle)
/// from the handler.
///
/// # Examples
///
/// An echo route that closes when it receives the text `close`:
///
/// ```
/// use tulip_http::{App, Request, Response};
/// use tulip_ws::http::WebSocketResponse;
/// use tulip_ws::{CloseCode, Message};
///
/// async fn echo(mut req: Request) -> Response {
///     WebSocketResponse::default().handle(&mut req, |mut ws| async move {
///         while let Ok(msg) = ws.receive().await {
///             match msg {
///                 Message::Text(t) if t == "close" => {
///                     let _ = ws.close(CloseCode::NORMAL, "").await;
///                 }
///                 Message::Text(t) => {
///                     let _ = ws.send_text(&format!("{t}/answer")).await;
///                 }
///                 _ => {}
///             }
///         }
///     })
/// }
///
/// let app = App::new().get("/ws", echo);
/// # let _ = app;
/// ```
#[derive(Clone, Debug, Default)]
pub struct WebSocketResponse {
    options: ServerOptions,
}

impl WebSocketResponse {
    /// Upgrades with `options`: subprotocols, origin check, limits and permessage-deflate.
    pub fn new(options: ServerOptions) -> WebSocketResponse {
        WebSocketResponse { options }
    }

    /// The options upgrades are answered with.
    pub fn options(&self) -> &ServerOptions {
        &self.options
    }

    /// Validates the upgrade and returns the handler's response; on success `session` runs in
    /// a new task (on the current tulip runtime) with the WebSocket once the 101 is sent.
    ///
    /// A refused upgrade is answered with its status and a one-line reason in the body, and
    /// `session` never runs.
    pub fn handle<F, Fut>(&self, req: &mut Request, session: F) -> Response
    where
        F: FnOnce(ServerWebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        match self.prepare(req) {
            Ok((response, pending)) => {
                tulip_executor::spawn(async move {
                    // An error here means the connection died before or during the 101;
                    // there is nobody left to tell.
                    if let Ok(ws) = pending.await {
                        session(ws).await;
                    }
                })
                .detach();
                response
            }
            Err(refusal) => refusal,
        }
    }

    /// A whole route handler that upgrades every request as [`handle`] does and runs a clone
    /// of `session` on each WebSocket: `App::new().get("/ws", upgrade.route(echo))`.
    ///
    /// The session gets only the WebSocket; when it needs the request (path, query, headers,
    /// app state), call [`handle`] from a handler of your own and move what it needs into
    /// the closure.
    ///
    /// ```
    /// use tulip_ws::http::{ServerWebSocket, WebSocketResponse};
    ///
    /// async fn echo(mut ws: ServerWebSocket) {
    ///     while let Ok(text) = ws.receive_text().await {
    ///         if ws.send_text(&text).await.is_err() {
    ///             break;
    ///         }
    ///     }
    /// }
    ///
    /// let app = tulip_http::App::new().get("/echo", WebSocketResponse::default().route(echo));
    /// # let _ = app;
    /// ```
    ///
    /// [`handle`]: WebSocketResponse::handle
    pub fn route<F, Fut>(
        self,
        session: F,
    ) -> impl Fn(Request) -> std::future::Ready<Response> + Clone + Send + Sync + 'static
    where
        F: Fn(ServerWebSocket) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        move |mut req: Request| std::future::ready(self.handle(&mut req, session.clone()))
    }

    /// The lower-level half of [`handle`](WebSocketResponse::handle), aiohttp's `prepare`:
    /// validates the upgrade and returns the 101 response plus a future of the WebSocket,
    /// which the caller awaits in a task of its own after returning the response; or the
    /// refusal to return instead.
    ///
    /// The refusal is a `Response` with status 400 (malformed upgrade), 403 (origin refused by
    /// the hook), 405 (not GET) or 426 (unsupported version, with `Sec-WebSocket-Version:
    /// 13`), and the reason as its text body.
    // The refusal is the response to send, so the `Err` is as large as the `Ok`.
    #[allow(clippy::result_large_err)]
    pub fn prepare(
        &self,
        req: &mut Request,
    ) -> std::result::Result<(Response, PendingWebSocket), Response> {
        let up = upgrade(
            req.method(),
            req.version(),
            &req.header_map(),
            &self.options,
        )
        .map_err(|rej| {
            let mut resp = Response::text(format!("{}\n", rej.reason)).with_status(rej.status);
            resp.headers_mut().extend(rej.headers);
            resp
        })?;
        let Some(on_upgrade) = req.on_upgrade() else {
            return Err(Response::text("this connection cannot be upgraded\n")
                .with_status(StatusCode::BAD_REQUEST));
        };
        let mut response = Response::new(StatusCode::SWITCHING_PROTOCOLS);
        for (name, value) in &up.headers {
            response.headers_mut().insert(name, value.clone());
        }
        let pending = PendingWebSocket {
            on_upgrade,
            upgrade: Some(up),
            config: self.options.config.clone(),
        };
        Ok((response, pending))
    }
}

/// The WebSocket of a prepared upgrade: resolves once the server has sent the 101.
///
/// Fails ([`Error::is_handshake`]) when the handler's response was not the 101 or the
/// connection ended first.
pub struct PendingWebSocket {
    on_upgrade: OnUpgrade,
    upgrade: Option<Upgrade>,
    config: Config,
}

impl PendingWebSocket {
    /// The subprotocol the upgrade chose.
    pub fn protocol(&self) -> Option<&str> {
        self.upgrade.as_ref().and_then(|u| u.protocol.as_deref())
    }

    /// The permessage-deflate parameters the upgrade negotiated.
    pub fn deflate(&self) -> Option<DeflateParams> {
        self.upgrade.as_ref().and_then(|u| u.deflate)
    }
}

impl fmt::Debug for PendingWebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingWebSocket")
            .field("protocol", &self.protocol())
            .field("deflate", &self.deflate())
            .finish_non_exhaustive()
    }
}

impl Future for PendingWebSocket {
    type Output = Result<ServerWebSocket>;

    /// # Cancel safety
    ///
    /// Dropping it before it resolves drops the upgraded connection.
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let upgraded = match Pin::new(&mut self.on_upgrade).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(u)) => u,
            Poll::Ready(Err(e)) => {
                return Poll::Ready(Err(Error::handshake_caused(
                    "the HTTP server did not hand the connection over",
                    e,
                )));
            }
        };
        let Some(up) = self.upgrade.take() else {
            return Poll::Ready(Err(Error::closed()));
        };
        // `Upgraded` replays the bytes the server read past the request head itself.
        let mut ws =
            WebSocket::from_raw(upgraded, Role::Server, self.config.clone(), up.deflate, &[]);
        ws.watch_going_away(GoingAway::new(poll_shutdown, Upgraded::is_shutting_down));
        Poll::Ready(Ok(ws))
    }
}

fn poll_shutdown(upgraded: &Upgraded, cx: &mut Context<'_>) -> Poll<()> {
    Pin::new(&mut upgraded.shutdown_signal()).poll(cx)
}
