//! HTTP/2 on the `h2` crate: the same [`App`](crate::App) served over a second protocol.
//!
//! A plain connection is sniffed for the HTTP/2 connection preface (prior knowledge, RFC 9113
//! §3.3) and handed to HTTP/1.1 or HTTP/2 with the sniffed bytes replayed ([`io::Rewind`]); a
//! TLS connection goes by the protocol ALPN picked. `h2` speaks tokio's io traits, which the
//! small [`io::Compat`] adapter provides over tulip's futures-io transports: no tokio runtime
//! is involved, only its trait definitions.

pub(crate) mod client;
pub(crate) mod io;
pub(crate) mod server;

use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use futures_lite::future::poll_fn;

use crate::error::{Error, Kind};
use crate::server::ServerConfig;
use crate::server::app::Frozen;
use crate::server::shutdown::ConnGuard;
use crate::server::upgrade::Io;

/// The client connection preface that opens every HTTP/2 connection.
pub(crate) const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const _: () = assert!(PREFACE.len() == io::REWIND_MAX);

/// Serves one connection with the protocol the client speaks: HTTP/2 when its first bytes are
/// the connection preface, HTTP/1.1 otherwise.
pub(crate) async fn serve_auto<I: Io>(
    mut io: I,
    app: Arc<Frozen>,
    cfg: Arc<ServerConfig>,
    peer: Option<SocketAddr>,
    guard: ConnGuard,
) -> Result<(), Error> {
    if !cfg.http2 {
        return crate::server::dispatch::serve(io, app, cfg, peer, guard).await;
    }
    let mut prefix = [0u8; io::REWIND_MAX];
    let Some((is_h2, len)) = sniff(&mut io, &mut prefix, &cfg, &guard).await? else {
        return Ok(());
    };
    let io = io::Rewind::new(&prefix[..len], io);
    if is_h2 {
        Box::pin(server::serve(io, app, cfg, peer, guard)).await
    } else {
        crate::server::dispatch::serve(io, app, cfg, peer, guard).await
    }
}

/// Reads (into `buf`, at most the preface's length) until the first bytes decide the
/// protocol: whether it is HTTP/2, and how many bytes were read. `None`: close quietly (the
/// client left, stayed silent past the header timeout, or the server is shutting down before
/// a byte came). HTTP/1.1 pays one extra small read per connection for this, not per request.
async fn sniff<I: Io>(
    io: &mut I,
    buf: &mut [u8; io::REWIND_MAX],
    cfg: &ServerConfig,
    guard: &ConnGuard,
) -> Result<Option<(bool, usize)>, Error> {
    let mut filled = 0;
    let mut timer = tulip_reactor::Timer::at(Instant::now() + cfg.header_timeout);
    let decided = poll_fn(|cx| {
        loop {
            if guard.is_forced() || (filled == 0 && guard.poll_shutdown(cx).is_ready()) {
                return Poll::Ready(Ok(None));
            }
            match std::pin::Pin::new(&mut *io).poll_read(cx, &mut buf[filled..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Ok(Some(false))),
                Poll::Ready(Ok(n)) => {
                    filled += n;
                    let seen = filled.min(PREFACE.len());
                    if buf[..seen] != PREFACE[..seen] {
                        return Poll::Ready(Ok(Some(false)));
                    }
                    if seen == PREFACE.len() {
                        return Poll::Ready(Ok(Some(true)));
                    }
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(Error::io(e))),
                Poll::Pending => {
                    return match std::future::Future::poll(std::pin::Pin::new(&mut timer), cx) {
                        Poll::Ready(_) => Poll::Ready(Ok(None)),
                        Poll::Pending => Poll::Pending,
                    };
                }
            }
        }
    })
    .await?;
    Ok(decided.map(|h2| (h2, filled)))
}

/// An `h2` failure as this crate's error, keeping it as the cause: a timed-out transport
/// reads as a timeout, anything else (a reset, a GOAWAY, a protocol error) as I/O.
pub(crate) fn error(e: h2::Error, context: &'static str) -> Error {
    let timed_out = e
        .get_io()
        .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut);
    let kind = if timed_out { Kind::Timeout } else { Kind::Io };
    Error::new(kind, context).with_cause(e)
}
