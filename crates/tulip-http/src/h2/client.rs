//! The client side of HTTP/2: one multiplexed connection per origin, shared by every request
//! to it, driven by its own task.
//!
//! The pool keeps an [`h2::client::SendRequest`] per origin next to its idle HTTP/1.1
//! connections; a request clones it, waits for a free stream, sends its head, hands its body
//! to a small task (so a server that answers while the upload is still going, an echo, never
//! deadlocks against a client that is not reading yet), and returns as soon as the response
//! head arrives. The response body is a [`h2::RecvStream`] whose flow-control capacity is
//! released as the caller reads, so a slow reader slows the server rather than buffering.

use std::time::Instant;

use bytes::Bytes;
use futures_lite::StreamExt;
use futures_lite::future::poll_fn;
use h2::client::SendRequest;
use h2::{Reason, SendStream};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Uri, Version};

use super::io::Compat;
use crate::client::ClientTimeout as Timeouts;
use crate::client::body::ReqBody;
use crate::client::pool::ClientStream;
use crate::client::timeout::label_read;
use crate::error::{Error, Kind};

/// Starts HTTP/2 on a fresh connection: the preface and settings exchange, then the
/// connection's driver as a task of its own. Returns the handle requests are sent through.
pub(crate) async fn handshake(io: ClientStream) -> Result<SendRequest<Bytes>, Error> {
    let (send, mut conn) = h2::client::Builder::new()
        .initial_window_size(256 * 1024)
        .initial_connection_window_size(1 << 20)
        .handshake::<_, Bytes>(Compat::new(io))
        .await
        .map_err(|e| super::error(e, "HTTP/2 handshake failed"))?;
    // Awaited through a reference: awaiting the captured connection itself would move it
    // into a second slot of the task, which would hold it twice.
    tulip_executor::spawn(async move {
        if let Err(e) = (&mut conn).await {
            log::debug!("HTTP/2 client connection ended: {e}");
        }
    })
    .detach();
    Ok(send)
}

/// What a sent request gives back: the response head and its body stream.
pub(crate) type Answer = (http::response::Parts, h2::RecvStream);

/// Sends one request on `send` and waits for the response head. `Err(None)` when the
/// connection can take no more streams (closed or going away), `body` untouched: the caller
/// connects afresh; a connection that failed on invalid data is an error instead.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn round_trip(
    send: SendRequest<Bytes>,
    method: &Method,
    uri: Uri,
    defaults: &HeaderMap,
    headers: &HeaderMap,
    body: &mut Option<ReqBody>,
    timeouts: Timeouts,
    total: Option<Instant>,
) -> Result<Answer, Option<Error>> {
    // The body is taken only once the connection has a stream for it: a connection that
    // went away leaves it to the caller for a fresh one.
    let mut send = send.ready().await.map_err(|e| match e.get_io() {
        // Invalid data is no closed connection to retry on a fresh one: a TLS alert after
        // the handshake (a server refusing the client's certificate under TLS 1.3) or a
        // broken peer. Say so, with the alert as the cause.
        Some(io) if io.kind() == std::io::ErrorKind::InvalidData => Some(
            super::error(
                e,
                "the HTTP/2 connection failed before the request was sent",
            )
            .during(crate::error::Phase::SendRequest),
        ),
        _ => None,
    })?;
    let body = body.take().unwrap_or(ReqBody::Empty);
    let mut all = defaults.clone();
    for name in headers.keys() {
        all.remove(name);
    }
    for (name, value) in headers {
        all.append(name.clone(), value.clone());
    }
    // Connection-specific headers have no place in HTTP/2; the origin travels as
    // `:authority`.
    if all
        .keys()
        .any(|n| super::is_connection_specific(n) || n == header::HOST)
    {
        for h in super::CONNECTION_SPECIFIC {
            all.remove(h);
        }
        all.remove(header::HOST);
    }
    let end = match &body {
        ReqBody::Empty => {
            if matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
                all.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
            }
            true
        }
        ReqBody::Bytes(b) => {
            all.insert(header::CONTENT_LENGTH, HeaderValue::from(b.len()));
            b.is_empty()
        }
        ReqBody::Stream(_) => {
            all.remove(header::CONTENT_LENGTH);
            false
        }
        ReqBody::Sized(n, _) => {
            all.insert(header::CONTENT_LENGTH, HeaderValue::from(*n));
            false
        }
        // Forms are prepared into `Sized` before they reach a connection.
        ReqBody::Form(_) => {
            return Err(Some(Error::new(
                Kind::User,
                "a multipart form reached HTTP/2 unprepared",
            )));
        }
    };
    let mut req = Request::new(());
    *req.method_mut() = method.clone();
    *req.uri_mut() = uri;
    *req.version_mut() = Version::HTTP_2;
    *req.headers_mut() = all;
    let (response, stream) = send
        .send_request(req, end)
        .map_err(|e| Some(super::error(e, "sending the request head")))?;
    if !end {
        tulip_executor::spawn(send_body(stream, body, timeouts)).detach();
    }
    let deadline = crate::client::timeout::read_deadline(timeouts.sock_read, total);
    let waited = match deadline {
        Some(d) => tulip_reactor::timeout_at(d, response).await,
        None => Ok(response.await),
    };
    let resp = match waited {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(Some(super::error(e, "awaiting the response"))),
        Err(_) => {
            return Err(Some(label_read(
                Error::new(
                    Kind::Timeout,
                    "no HTTP/2 response head within the read timeout",
                ),
                total,
            )));
        }
    };
    Ok(resp.into_parts())
}

/// Sends a request body within the window the server grants; resets the stream on failure.
async fn send_body(mut stream: SendStream<Bytes>, body: ReqBody, timeouts: Timeouts) {
    let res = match body {
        ReqBody::Empty => stream
            .send_data(Bytes::new(), true)
            .map_err(|e| super::error(e, "ending the request")),
        ReqBody::Bytes(b) => send_piece(&mut stream, b, true, timeouts).await,
        ReqBody::Form(_) => Err(Error::new(Kind::User, "unprepared multipart form")),
        ReqBody::Stream(mut s) | ReqBody::Sized(_, mut s) => {
            let mut res = Ok(());
            while let Some(piece) = s.next().await {
                match piece {
                    Ok(b) => {
                        res = send_piece(&mut stream, b, false, timeouts).await;
                    }
                    Err(e) => res = Err(Error::io(e)),
                }
                if res.is_err() {
                    break;
                }
            }
            match res {
                Ok(()) => stream
                    .send_data(Bytes::new(), true)
                    .map_err(|e| super::error(e, "ending the request")),
                e => e,
            }
        }
    };
    if let Err(e) = res {
        log::debug!("HTTP/2 request body: {e}");
        stream.send_reset(Reason::CANCEL);
    }
}

/// Sends all of `piece`, waiting for window as needed (bounded by the read timeout).
async fn send_piece(
    stream: &mut SendStream<Bytes>,
    mut piece: Bytes,
    end: bool,
    timeouts: Timeouts,
) -> Result<(), Error> {
    if piece.is_empty() {
        return if end {
            stream
                .send_data(piece, true)
                .map_err(|e| super::error(e, "ending the request"))
        } else {
            Ok(())
        };
    }
    while !piece.is_empty() {
        stream.reserve_capacity(piece.len());
        let wait = poll_fn(|cx| {
            if stream.capacity() > 0 {
                return std::task::Poll::Ready(Ok(stream.capacity()));
            }
            match stream.poll_capacity(cx) {
                std::task::Poll::Ready(Some(Ok(n))) => std::task::Poll::Ready(Ok(n)),
                std::task::Poll::Ready(Some(Err(e))) => {
                    std::task::Poll::Ready(Err(super::error(e, "request stream failed")))
                }
                std::task::Poll::Ready(None) => {
                    std::task::Poll::Ready(Err(Error::new(Kind::Io, "request stream closed")))
                }
                std::task::Poll::Pending => std::task::Poll::Pending,
            }
        });
        let cap = match timeouts.sock_read {
            Some(d) => match tulip_reactor::timeout(d, wait).await {
                Ok(r) => r?,
                Err(_) => {
                    return Err(Error::new(
                        Kind::Timeout,
                        "the server granted no window within the sock_read timeout",
                    )
                    .with_timeout_kind(crate::error::TimeoutKind::SockRead));
                }
            },
            None => wait.await?,
        };
        if cap == 0 {
            continue;
        }
        let chunk = piece.split_to(cap.min(piece.len()));
        stream
            .send_data(chunk, end && piece.is_empty())
            .map_err(|e| super::error(e, "sending request data"))?;
    }
    Ok(())
}

/// The next piece of a response body, its flow-control capacity released as it is handed
/// out; `None` at the end.
pub(crate) async fn next_data(
    recv: &mut h2::RecvStream,
    deadline: Option<Instant>,
) -> Result<Option<Bytes>, Error> {
    loop {
        let data = poll_fn(|cx| recv.poll_data(cx));
        let got = match deadline {
            Some(d) => tulip_reactor::timeout_at(d, data).await,
            None => Ok(data.await),
        };
        match got {
            Err(_) => return Err(Error::new(Kind::Timeout, "response body read timed out")),
            Ok(None) => return Ok(None),
            Ok(Some(Err(e))) => return Err(super::error(e, "response stream failed")),
            Ok(Some(Ok(b))) => {
                let _ = recv.flow_control().release_capacity(b.len());
                if !b.is_empty() {
                    return Ok(Some(b));
                }
            }
        }
    }
}
