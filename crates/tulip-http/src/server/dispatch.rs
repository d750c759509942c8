//! The server's connection driver: read heads, route, run handlers, feed request bodies on
//! demand, write responses, and decide about keep-alive, all in the connection's own task.

use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_lite::future::poll_fn;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Version};

use super::ServerConfig;
use super::access_log::AccessEntry;
use super::app::{BoxFuture, Frozen, HandlerSlot, Next, Terminal};
use super::body::{Body, Feed};
use super::file_body::{FileBody, Sent};
use super::request::Request;
use super::response::{BoxStream, Response, ResponseBody};
use super::router::{Params, Resolved};
use super::shutdown::ConnGuard;
use super::upgrade::{Io, UpgradePromise, Upgraded};
use crate::error::{Error, Kind, Phase};
use crate::h2::PREFACE;
use crate::proto::buf::COPY_LIMIT;
use crate::proto::conn::Conn;
use crate::proto::decode::{Decoded, Decoder};
use crate::proto::encode::Encoder;
use crate::proto::role::{self, Framing, RequestHead, ResponseHeadParts};

/// Pipelined responses are batched until this much is waiting to be written.
const FLUSH_AT: usize = 64 * 1024;
/// How much of an unread request body is drained to keep the connection.
const DRAIN_MAX: u64 = 256 * 1024;
/// After an error answer, how long and how much input is read and discarded before the
/// socket closes (see `Conn::linger`).
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_QUIET: Duration = Duration::from_millis(200);
const LINGER_MAX: usize = 1 << 20;
/// A keep-alive connection idle this long gives its buffers and handler slot back, so an
/// idle connection costs little more than its task. Short enough that thousands of parked
/// clients cost little; long enough that a busy connection never pays for reallocating.
const IDLE_RELEASE: Duration = Duration::from_secs(1);

/// Serves HTTP/1.1 on one connection until it closes, times out or the server shuts down.
/// `Some` when the client opened with the HTTP/2 preface: the caller runs the returned
/// HTTP/2 driver, which owns the connection now.
pub(crate) async fn serve<I: Io>(
    io: I,
    app: Arc<Frozen>,
    cfg: Arc<ServerConfig>,
    peer: Option<SocketAddr>,
    guard: ConnGuard,
) -> Result<Option<BoxFuture<Result<(), Error>>>, Error> {
    let accepted = Instant::now();
    let mut d = Dispatcher {
        conn: Conn::new(io, Some(cfg.write_timeout)),
        app,
        cfg,
        peer,
        guard,
        slot: None,
        feed: Feed::new(),
        linger: false,
        http2_preface: false,
    };
    let mut first = true;
    loop {
        let head = match d.read_head(first, accepted).await {
            Ok(Some(h)) => h,
            Ok(None) if d.http2_preface => {
                // Prior-knowledge HTTP/2: the connection, its buffered bytes replayed, goes to
                // the HTTP/2 driver, returned (boxed) for the caller to run, so that no
                // HTTP/1.1 connection's task grows by the hand-over.
                let Dispatcher {
                    conn,
                    app,
                    cfg,
                    peer,
                    guard,
                    ..
                } = d;
                let (io, rest) = conn.into_parts();
                let io = crate::h2::io::Rewind::new(rest, io);
                return Ok(Some(Box::pin(crate::h2::server::serve(
                    io, app, cfg, peer, guard,
                ))));
            }
            Ok(None) => break,
            Err(e) => {
                let e = from_peer(e.during(Phase::ReadRequestHead), d.peer);
                if e.is_parse() || (e.is_timeout() && !d.conn.rb.is_empty()) || e.is_incomplete() {
                    d.write_error(&e);
                    d.linger = !e.is_incomplete();
                }
                break;
            }
        };
        first = false;
        // Only with the feature: even a zero-sized span kept across the await below changes
        // the connection future's layout (`connection_task_stays_small`).
        #[cfg(feature = "tracing")]
        let (span, request_start) = (
            crate::trace::request(&head.method, head.str(head.path)),
            Instant::now(),
        );
        // Boxed: a request's state (head, handler, response) is large, and unboxed it would
        // size every connection's task for its busiest moment, idle ones included. One
        // allocation per request buys a small task for every parked keep-alive connection.
        let Some(started) = d.start(head) else {
            break;
        };
        #[cfg(not(feature = "tracing"))]
        let after = Box::pin(d.handle(started)).await;
        #[cfg(feature = "tracing")]
        let after = crate::trace::instrument(Box::pin(d.handle(started)), &span).await;
        #[cfg(feature = "tracing")]
        crate::trace::record_duration(&span, request_start);
        let after = after.map_err(|e| from_peer(e.during(Phase::WriteResponse), d.peer))?;
        match after {
            AfterResponse::KeepAlive => {}
            AfterResponse::Close => break,
            AfterResponse::Upgrade(promise) => {
                if let Err(e) = poll_fn(|cx| d.conn.poll_flush(cx)).await {
                    let e = from_peer(e.during(Phase::Upgrade), d.peer);
                    promise.complete(Err(e.clone()));
                    return Err(e);
                }
                let Dispatcher { conn, guard, .. } = d;
                let (io, rest) = conn.into_parts();
                promise.complete(Ok(Upgraded::new(Box::new(io), rest, guard)));
                return Ok(None);
            }
        }
    }
    // Best effort: the peer may already be gone.
    if d.conn.shutdown().await.is_ok() && d.linger {
        d.conn
            .linger(Instant::now() + LINGER_TIME, LINGER_QUIET, LINGER_MAX)
            .await;
    }
    Ok(None)
}

/// What is left of a response body once its head is encoded.
enum BodyRest {
    /// Pieces to frame into the write buffer.
    Stream(BoxStream, Encoder),
    /// A file range for sendfile(2), after the buffer is flushed.
    File(FileBody),
}

/// What the connection does once a response is written.
enum AfterResponse {
    /// Read the next request.
    KeepAlive,
    /// Close the connection.
    Close,
    /// Hand the connection to the upgrade's owner (after `101 Switching Protocols`).
    Upgrade(UpgradePromise),
}

/// Adds the peer's address (unknown for Unix sockets) to an error.
fn from_peer(e: Error, peer: Option<SocketAddr>) -> Error {
    match peer {
        Some(p) => e.at(p),
        None => e,
    }
}

struct Dispatcher<I> {
    conn: Conn<I>,
    app: Arc<Frozen>,
    cfg: Arc<ServerConfig>,
    peer: Option<SocketAddr>,
    guard: ConnGuard,
    /// The last route's reusable handler slot.
    slot: Option<(usize, Box<dyn HandlerSlot>)>,
    /// The request-body channel, reused while no reader holds it.
    feed: Feed,
    /// The connection closes after an error answer with request bytes possibly unread.
    linger: bool,
    /// The first bytes were the HTTP/2 connection preface: `read_head` returned `None` to
    /// hand the connection over.
    http2_preface: bool,
}

/// A request whose handler was started, handed from `Dispatcher::start` to `handle`.
struct Started {
    running: Running,
    pump: Pump,
    /// A HEAD request: the response goes without its body. Kept instead of the `Method`,
    /// which would be 24 bytes of every request's boxed state.
    head_request: bool,
    version: Version,
    keep_alive: bool,
    /// The request's part of its access log line, when the log is on.
    log_line: Option<Box<AccessEntry>>,
    accept: Option<Bytes>,
    /// Resolves the request's `OnUpgrade`; dropped anywhere, it fails it.
    upgrade: Option<UpgradePromise>,
}

/// A running handler.
enum Running {
    Slot,
    Boxed(BoxFuture<Response>),
    Ready(Option<Response>),
}

/// The request body as the driver sees it.
struct Pump {
    decoder: Option<Decoder>,
    /// When the body started (`None` without a body).
    started: Option<Instant>,
    received: u64,
    expect_continue: bool,
    sent_continue: bool,
    done: bool,
    /// Framing broke or the peer vanished: the connection cannot be reused.
    failed: bool,
    /// Why the body failed, when it did.
    error: Option<Error>,
}

enum Pumped {
    Progress,
    Idle,
}

impl<I: Io> Dispatcher<I> {
    /// Reads until a complete head is parsed. `Ok(None)` means close quietly (peer closed,
    /// idle timeout, shutdown while idle).
    async fn read_head(
        &mut self,
        first: bool,
        accepted: Instant,
    ) -> Result<Option<Box<RequestHead>>, Error> {
        let limits = self.cfg.head_limits();
        let mut header_deadline = first.then(|| accepted + self.cfg.header_timeout);
        // The idle deadline and the release time, read from the clock only once this call
        // has to wait: a pipelined request is parsed from the buffer without them.
        let mut idle: Option<(Instant, Option<Instant>)> = None;
        let mut parse = true;
        poll_fn(|cx| {
            loop {
                if !self.conn.rb.is_empty() {
                    if first && self.cfg.http2 {
                        let seen = &self.conn.rb.bytes()[..self.conn.rb.len().min(PREFACE.len())];
                        if PREFACE.starts_with(seen) {
                            if seen.len() == PREFACE.len() {
                                self.http2_preface = true;
                                return Poll::Ready(Ok(None));
                            }
                            // A prefix of the preface: wait for the rest before parsing.
                            parse = false;
                        }
                    }
                    if parse {
                        if let Some(parsed) = role::parse_request(self.conn.rb.bytes(), &limits)? {
                            let head = self.conn.rb.split_to(parsed.len);
                            return Poll::Ready(parsed.into_head(head).map(Some));
                        }
                    }
                    // Part of a head is here: from now on it must be complete in time.
                    header_deadline.get_or_insert_with(|| Instant::now() + self.cfg.header_timeout);
                }
                if self.conn.wb.pending() > 0 {
                    if let Poll::Ready(Err(e)) = self.conn.poll_flush(cx) {
                        return Poll::Ready(Err(e));
                    }
                }
                if self.guard.is_forced()
                    || (self.conn.rb.is_empty()
                        && self.conn.wb.is_empty()
                        && self.guard.poll_shutdown(cx).is_ready())
                {
                    return Poll::Ready(Ok(None));
                }
                let (idle_deadline, release_at) = *idle.get_or_insert_with(|| {
                    let now = Instant::now();
                    // Tried once per idle period: a release that cannot free everything
                    // (unsent bytes) must not spin.
                    (now + self.cfg.keep_alive_timeout, Some(now + IDLE_RELEASE))
                });
                // While idle with buffers held, wake early once to give them back.
                let release =
                    release_at.filter(|_| header_deadline.is_none() && self.holds_memory());
                let deadline = match (header_deadline, release) {
                    (Some(d), _) => d,
                    (None, Some(r)) => idle_deadline.min(r),
                    (None, None) => idle_deadline,
                };
                let before = self.conn.rb.len();
                match self.conn.poll_read_more(cx, deadline) {
                    Poll::Ready(Ok(0)) if self.conn.rb.is_empty() => return Poll::Ready(Ok(None)),
                    Poll::Ready(Ok(0)) => {
                        return Poll::Ready(Err(Error::incomplete("closed inside a head")));
                    }
                    // Parsing again only pays when a line ended in the new bytes.
                    Poll::Ready(Ok(_)) => {
                        parse = memchr::memchr(b'\n', &self.conn.rb.bytes()[before..]).is_some()
                    }
                    Poll::Ready(Err(e))
                        if e.is_timeout()
                            && release.is_some()
                            && Instant::now() < idle_deadline =>
                    {
                        idle = Some((idle_deadline, None));
                        self.release();
                    }
                    Poll::Ready(Err(e)) if e.is_timeout() && self.conn.rb.is_empty() => {
                        return Poll::Ready(Ok(None));
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                }
            }
        })
        .await
    }

    fn holds_memory(&self) -> bool {
        self.conn.rb.holds_memory() || self.conn.wb.holds_memory() || self.slot.is_some()
    }

    /// Frees what an idle connection does not need: buffers and the handler slot.
    fn release(&mut self) {
        self.conn.rb.release();
        self.conn.wb.release();
        self.slot = None;
    }

    /// Encodes an error answer (400, 408, 413, 414, 431, 505) and marks the end.
    fn write_error(&mut self, e: &Error) {
        let status = if e.is_timeout() {
            StatusCode::REQUEST_TIMEOUT
        } else {
            e.status()
        };
        let body = status.canonical_reason().unwrap_or("Error");
        let out = self.conn.wb.vec();
        role::encode_response_head(
            &ResponseHeadParts {
                status,
                version: Version::HTTP_11,
                headers: &HeaderMap::new(),
                content_type: Some(&HeaderValue::from_static("text/plain; charset=utf-8")),
                content_length: Some(body.len() as u64),
                chunked: false,
                keep_alive: false,
            },
            out,
        );
        out.extend_from_slice(body.as_bytes());
    }

    /// Routes the request and starts its handler, synchronously: the request head, the
    /// route and the `Request` live in this stack frame only, not in the connection's
    /// future. `None` when the request was refused outright (Content-Length over the limit).
    fn start(&mut self, head: Box<RequestHead>) -> Option<Started> {
        let app = self.app.clone();
        let head_request = head.method == Method::HEAD;
        let version = head.version;
        let keep_alive = head.keep_alive;
        let log_line = self
            .cfg
            .access_log
            .then(|| Box::new(AccessEntry::new(head.head.clone(), self.peer)));
        let accept = accept_encoding(&head);
        let (route, params, fixed) = match app.router.resolve(&head.method, head.str(head.path)) {
            Resolved::Found(r, p) => (Some(r.clone()), p, None),
            Resolved::MethodNotAllowed(allow) => {
                let r = StatusCode::METHOD_NOT_ALLOWED.into_response_with_allow(&allow);
                (None, Params::new(), Some(r))
            }
            Resolved::NotFound => (
                None,
                Params::new(),
                Some(super::IntoResponse::into_response(StatusCode::NOT_FOUND)),
            ),
        };
        let max_body = route
            .as_ref()
            .and_then(|r| r.max_body)
            .unwrap_or(self.cfg.max_body);
        if let Framing::Length(n) = head.framing {
            if n > max_body {
                self.write_error(&Error::new(
                    Kind::BodyTooLarge,
                    "Content-Length over the limit",
                ));
                self.linger = true;
                return None;
            }
        }
        let decoder = match head.framing {
            Framing::Empty => None,
            Framing::Length(n) => Some(Decoder::Length(n)),
            Framing::Chunked => Some(Decoder::chunked(max_body)),
        };
        let body = match decoder {
            Some(_) => {
                if !self.feed.reuse() {
                    self.feed = Feed::new();
                }
                Body::from_feed(&self.feed)
            }
            None => Body::empty(),
        };
        // Only a body is timed: a request without one does not read the clock for it.
        let started = decoder.as_ref().map(|_| Instant::now());
        let pump = Pump {
            decoder,
            started,
            received: 0,
            expect_continue: head.expect_continue && version == Version::HTTP_11,
            sent_continue: false,
            done: false,
            failed: false,
            error: None,
        };
        let upgrade = head.upgrade.then(UpgradePromise::new);
        let state = route
            .as_ref()
            .map_or_else(|| app.state.clone(), |r| r.state.clone());
        let req = Request {
            head,
            params,
            route: route.clone(),
            state,
            peer: self.peer,
            body: Some(body),
            upgrade: upgrade.as_ref().map(UpgradePromise::slot),
        };
        let running = match (route, fixed) {
            (Some(route), _) if route.middlewares.is_empty() => {
                if self.slot.as_ref().is_none_or(|(id, _)| *id != route.id) {
                    self.slot = Some((route.id, route.handler.new_slot()));
                }
                if let Some((_, slot)) = self.slot.as_mut() {
                    slot.start(req);
                }
                Running::Slot
            }
            (Some(route), _) => Running::Boxed(
                Next::new(
                    route.middlewares.clone(),
                    Terminal::Handler(route.handler.clone()),
                )
                .into_future(req),
            ),
            (None, Some(fixed)) if app.middlewares.is_empty() => Running::Ready(Some(fixed)),
            (None, fixed) => {
                let fixed = fixed.unwrap_or_else(|| Response::new(StatusCode::NOT_FOUND));
                Running::Boxed(
                    Next::new(app.middlewares.clone(), Terminal::Fixed(fixed)).into_future(req),
                )
            }
        };
        Some(Started {
            running,
            pump,
            head_request,
            version,
            keep_alive,
            log_line,
            accept,
            upgrade,
        })
    }

    /// Runs the started handler to its response, writes it, and decides about the connection.
    ///
    /// Written as a function returning an `async move` block: an `async fn` would keep its
    /// argument and a moved copy of it side by side in the future.
    fn handle(
        &mut self,
        started: Started,
    ) -> impl Future<Output = Result<AfterResponse, Error>> + '_ {
        let Started {
            mut running,
            mut pump,
            head_request,
            version,
            mut keep_alive,
            log_line,
            accept,
            upgrade,
        } = started;
        async move {
            // The access log line borrows its format from here, across the write.
            let log_cfg = log_line.as_ref().map(|_| self.cfg.clone());
            // The response is settled inside this block and its write started at its end, so
            // that its locals (`Response`s, borrowed) end before the write is awaited instead
            // of staying in the boxed state of every request: outside the block they made it
            // 1 040 bytes, past the 1 032 that glibc serves from its thread cache.
            let (writing, status, upgrading, log_line) = {
                let handled = poll_fn(|cx| self.poll_handler(cx, &mut running, &mut pump));
                let resp = match handled.await {
                    Ok(r) => r,
                    Err(e) if e.is_io() || e.is_timeout() => return Err(e),
                    Err(e) => {
                        // The handler panicked: answer 500 and stop using this connection.
                        self.slot = None;
                        let _ = e;
                        Response::new(StatusCode::INTERNAL_SERVER_ERROR).with_close()
                    }
                };
                drop(running);
                let resp = match pump.error.clone() {
                    Some(e) => match body_failed(resp, e) {
                        Ok(r) => r,
                        Err(e) => {
                            if let Some(promise) = upgrade {
                                promise.complete(Err(e.clone()));
                            }
                            return Err(e);
                        }
                    },
                    None => resp,
                };
                let status = resp.status();
                crate::trace::record_status(status);
                let upgrading = status == StatusCode::SWITCHING_PROTOCOLS
                    && upgrade.as_ref().is_some_and(|u| u.requested());
                keep_alive &= !resp.close && !self.guard.is_shutting_down();
                let log_line = log_line
                    .zip(log_cfg.as_deref())
                    .map(|(e, cfg)| (*e).respond(&cfg.access_log_format, &resp));
                let writing =
                    self.write_response(resp, head_request, version, keep_alive, accept, &mut pump);
                (writing, status, upgrading, log_line)
            };
            let written = writing.await;
            if let Some(line) = log_line {
                line.emit();
            }
            keep_alive &= match written {
                Ok(keep) => keep,
                Err(e) => {
                    // Writing the 101 (or any answer) failed: the upgrade cannot happen.
                    if let Some(promise) = upgrade {
                        promise.complete(Err(e.clone()));
                    }
                    return Err(e);
                }
            };
            if upgrading {
                if let Some(promise) = upgrade {
                    return Ok(AfterResponse::Upgrade(promise));
                }
            }
            if let Some(promise) = upgrade {
                promise.complete(Err(Error::new(
                    Kind::BodyUnavailable,
                    "response was not 101",
                )));
            }
            if status == StatusCode::SWITCHING_PROTOCOLS {
                return Ok(AfterResponse::Close);
            }
            if keep_alive && !pump.done && pump.decoder.is_some() {
                keep_alive = self.drain(&mut pump).await;
                self.linger |= !keep_alive;
            }
            self.linger |= pump.failed;
            Ok(if keep_alive && !pump.failed {
                AfterResponse::KeepAlive
            } else {
                AfterResponse::Close
            })
        }
    }

    fn poll_handler(
        &mut self,
        cx: &mut Context<'_>,
        running: &mut Running,
        pump: &mut Pump,
    ) -> Poll<Result<Response, Error>> {
        loop {
            let polled = std::panic::catch_unwind(AssertUnwindSafe(|| match running {
                Running::Slot => match self.slot.as_mut() {
                    Some((_, slot)) => slot.poll(cx),
                    None => Poll::Ready(Response::new(StatusCode::INTERNAL_SERVER_ERROR)),
                },
                Running::Boxed(f) => f.as_mut().poll(cx),
                Running::Ready(r) => Poll::Ready(
                    r.take()
                        .unwrap_or_else(|| Response::new(StatusCode::INTERNAL_SERVER_ERROR)),
                ),
            }));
            match polled {
                Ok(Poll::Ready(r)) => return Poll::Ready(Ok(r)),
                Ok(Poll::Pending) => {}
                Err(_) => {
                    let e = from_peer(Error::bare(Kind::Panic).during(Phase::Handler), self.peer);
                    log::error!("{e}");
                    return Poll::Ready(Err(e));
                }
            }
            if self.guard.is_forced() {
                return Poll::Ready(Err(Error::new(
                    Kind::Timeout,
                    "the server's shutdown timeout passed",
                )
                .during(Phase::Handler)));
            }
            let _ = self.guard.poll_shutdown(cx);
            match self.pump_body(cx, pump)? {
                Pumped::Progress => continue,
                Pumped::Idle => {
                    if self.conn.wb.pending() > 0 {
                        if let Poll::Ready(Err(e)) = self.conn.poll_flush(cx) {
                            return Poll::Ready(Err(e));
                        }
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    /// Serves the body reader's demand: decodes buffered bytes or reads more.
    fn pump_body(&mut self, cx: &mut Context<'_>, pump: &mut Pump) -> Result<Pumped, Error> {
        let Some(decoder) = pump.decoder.as_mut() else {
            return Ok(Pumped::Idle);
        };
        if pump.done || !self.feed.wants(cx.waker()) {
            return Ok(Pumped::Idle);
        }
        if pump.expect_continue && !pump.sent_continue {
            self.conn.wb.push_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            pump.sent_continue = true;
        }
        let waker = cx.waker();
        let peer = self.peer;
        let body_error = |e: Error| from_peer(e.during(Phase::ReadRequestBody), peer);
        loop {
            match decoder.decode(&mut self.conn.rb) {
                Ok(Decoded::Data(b)) => {
                    pump.received += b.len() as u64;
                    self.feed.send(b, waker);
                    return Ok(Pumped::Progress);
                }
                Ok(Decoded::Done) => {
                    pump.done = true;
                    self.feed.finish(None, waker);
                    return Ok(Pumped::Progress);
                }
                Ok(Decoded::NeedMore) => {}
                Err(e) => {
                    let e = body_error(e);
                    pump.fail(&e);
                    self.feed.finish(Some(e), waker);
                    return Ok(Pumped::Progress);
                }
            }
            if let Poll::Ready(Err(e)) = self.conn.poll_flush(cx) {
                return Err(e);
            }
            let deadline = body_deadline(&self.cfg, started_or_now(pump.started), pump.received);
            match self.conn.poll_read_more(cx, deadline) {
                Poll::Ready(Ok(0)) => {
                    let end = decoder.decode_eof().map_err(body_error);
                    pump.done = true;
                    if let Err(e) = &end {
                        pump.fail(e);
                    }
                    self.feed.finish(end.err(), waker);
                    return Ok(Pumped::Progress);
                }
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => {
                    let e = body_error(e);
                    pump.fail(&e);
                    self.feed.finish(Some(e), waker);
                    return Ok(Pumped::Progress);
                }
                Poll::Pending => return Ok(Pumped::Idle),
            }
        }
    }

    /// Encodes the response head and a whole body into the write buffer, synchronously (the
    /// response lives in this frame only, not in the connection's future). Returns whether
    /// the connection can be kept (not for a close-delimited body) and a streamed body left
    /// to send.
    fn encode_response(
        &mut self,
        mut resp: Response,
        head_request: bool,
        version: Version,
        keep_alive: bool,
        accept: Option<Bytes>,
    ) -> (bool, Option<BodyRest>) {
        #[cfg(feature = "gzip")]
        super::compress::apply(&mut resp, head_request, accept.as_deref(), &self.cfg);
        drop(accept);
        let status = resp.status();
        let no_body = status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED;
        let skip = no_body || head_request;
        let body = std::mem::replace(&mut resp.body, ResponseBody::Empty);
        let explicit = resp
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let explicit_len = || explicit;
        let (content_length, chunked, keep) = match &body {
            _ if no_body => (None, false, keep_alive),
            ResponseBody::Empty if head_request => (explicit_len().or(Some(0)), false, keep_alive),
            ResponseBody::Empty => (Some(0), false, keep_alive),
            ResponseBody::Full(b) => (Some(b.len() as u64), false, keep_alive),
            ResponseBody::File(f) => (Some(f.len), false, keep_alive),
            ResponseBody::Stream(_) if explicit_len().is_some() => {
                (explicit_len(), false, keep_alive)
            }
            ResponseBody::Stream(_) if head_request => {
                (None, version == Version::HTTP_11, keep_alive)
            }
            ResponseBody::Stream(_) if version == Version::HTTP_11 => (None, true, keep_alive),
            ResponseBody::Stream(_) => (None, false, false),
        };
        role::encode_response_head(
            &ResponseHeadParts {
                status,
                version,
                headers: resp.headers(),
                content_type: resp.content_type(),
                content_length,
                chunked,
                keep_alive: keep,
            },
            self.conn.wb.vec(),
        );
        let stream = match body {
            ResponseBody::Full(b) if !skip => {
                if b.len() > COPY_LIMIT {
                    self.conn.wb.push_bytes(b);
                } else {
                    self.conn.wb.vec().extend_from_slice(&b);
                }
                None
            }
            ResponseBody::Stream(s) if !skip => {
                let enc = match (content_length, chunked) {
                    (Some(n), _) => Encoder::Length(n),
                    (None, true) => Encoder::Chunked,
                    (None, false) => Encoder::Close,
                };
                Some(BodyRest::Stream(s, enc))
            }
            ResponseBody::File(f) if !skip => {
                let kernel = self.cfg.sendfile
                    && super::file_body::kernel_target(&mut self.conn.io).is_some();
                Some(if kernel {
                    BodyRest::File(f)
                } else {
                    let n = f.len;
                    BodyRest::Stream(f.into_stream(), Encoder::Length(n))
                })
            }
            _ => None,
        };
        (keep, stream)
    }

    /// Encodes the response and sends what must leave now: a streamed body, and the buffer
    /// when the connection ends, switches protocols or has much queued (pipelined answers
    /// are otherwise batched). Returns whether the connection can be kept.
    fn write_response<'a>(
        &'a mut self,
        resp: Response,
        head_request: bool,
        version: Version,
        keep_alive: bool,
        accept: Option<Bytes>,
        pump: &'a mut Pump,
    ) -> impl Future<Output = Result<bool, Error>> + 'a {
        // Encoded before the future exists, so the response is not part of it.
        let switching = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
        let (keep, stream) = self.encode_response(resp, head_request, version, keep_alive, accept);
        async move {
            let stream = match stream {
                Some(BodyRest::File(mut f)) => {
                    match poll_fn(|cx| f.poll_kernel_send(&mut self.conn, &self.guard, cx)).await? {
                        Sent::All => None,
                        Sent::Refused => {
                            let n = f.len;
                            Some((f.into_stream(), Encoder::Length(n)))
                        }
                    }
                }
                Some(BodyRest::Stream(s, enc)) => Some((s, enc)),
                None => None,
            };
            if let Some((mut s, mut enc)) = stream {
                poll_fn(|cx| self.poll_stream(cx, &mut s, &mut enc, pump)).await?;
            }
            if !keep || self.conn.wb.pending() >= FLUSH_AT || switching {
                poll_fn(|cx| self.conn.poll_flush(cx)).await?;
            }
            Ok(keep)
        }
    }

    fn poll_stream(
        &mut self,
        cx: &mut Context<'_>,
        s: &mut BoxStream,
        enc: &mut Encoder,
        pump: &mut Pump,
    ) -> Poll<Result<(), Error>> {
        loop {
            if self.guard.is_forced() {
                return Poll::Ready(Err(Error::new(
                    Kind::Timeout,
                    "the server's shutdown timeout passed",
                )));
            }
            if self.conn.wb.pending() >= FLUSH_AT {
                futures_lite::ready!(self.conn.poll_flush(cx))?;
            }
            match s.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(b))) => enc.encode(b, &mut self.conn.wb)?,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                Poll::Ready(None) => {
                    enc.finish(&mut self.conn.wb)?;
                    return Poll::Ready(Ok(()));
                }
                // The producer may be waiting for the request body (an echo): feed it.
                Poll::Pending if matches!(self.pump_body(cx, pump)?, Pumped::Progress) => {}
                Poll::Pending => {
                    // Send what we have so a slow producer's pieces (SSE) leave promptly.
                    futures_lite::ready!(self.conn.poll_flush(cx))?;
                    return Poll::Pending;
                }
            }
        }
    }

    /// Reads and discards the rest of an unread body (up to `DRAIN_MAX`) so the connection
    /// can serve the next request. Returns whether it can.
    async fn drain(&mut self, pump: &mut Pump) -> bool {
        if pump.expect_continue && !pump.sent_continue {
            // The client is waiting for our go-ahead and will not send the body.
            return false;
        }
        let Some(mut decoder) = pump.decoder.take() else {
            return true;
        };
        let cfg = self.cfg.clone();
        let mut drained = 0u64;
        let res: Result<(), Error> = poll_fn(|cx| {
            loop {
                match decoder.decode(&mut self.conn.rb) {
                    Ok(Decoded::Data(b)) => {
                        drained += b.len() as u64;
                        pump.received += b.len() as u64;
                        if drained > DRAIN_MAX {
                            return Poll::Ready(Err(Error::new(
                                Kind::BodyTooLarge,
                                "too much unread body",
                            )));
                        }
                    }
                    Ok(Decoded::Done) => return Poll::Ready(Ok(())),
                    Ok(Decoded::NeedMore) => {
                        let deadline =
                            body_deadline(&cfg, started_or_now(pump.started), pump.received);
                        match futures_lite::ready!(self.conn.poll_read_more(cx, deadline)) {
                            Ok(0) => {
                                return Poll::Ready(Err(Error::incomplete("closed inside a body")));
                            }
                            Ok(_) => {}
                            Err(e) => return Poll::Ready(Err(e)),
                        }
                    }
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
        })
        .await;
        res.is_ok()
    }
}

/// When a body started; only asked while one is read, so `None` never reaches it.
fn started_or_now(started: Option<Instant>) -> Instant {
    started.unwrap_or_else(Instant::now)
}

impl Pump {
    /// Records a body failure: the body is over and the connection cannot be reused.
    fn fail(&mut self, e: &Error) {
        self.done = true;
        self.failed = true;
        self.error.get_or_insert_with(|| e.clone());
    }
}

/// The answer once the request body failed before the response started. The connection
/// always closes after it. A transport error (reset, broken pipe) means nobody is left to
/// read an answer: `Err`, and the connection is dropped. Otherwise a handler's own client
/// error (4xx) stands, and anything else, a success it should not claim or a 500 for what
/// was the client's fault, becomes the error's answer: 400 for bad framing or a body cut
/// short, 408 for a body too slow, 413 for a body over the limit.
fn body_failed(resp: Response, e: Error) -> Result<Response, Error> {
    if e.is_io() {
        return Err(e);
    }
    let resp = if resp.status().is_client_error() {
        resp
    } else {
        super::IntoResponse::into_response(e)
    };
    Ok(resp.with_close())
}

/// The `Accept-Encoding` value, kept (as a cheap slice of the head) only when responses may
/// be compressed.
fn accept_encoding(head: &RequestHead) -> Option<Bytes> {
    if !cfg!(feature = "gzip") {
        return None;
    }
    let h = head
        .headers
        .iter()
        .find(|h| head.slice(h.name).eq_ignore_ascii_case(b"accept-encoding"))?;
    Some(head.head.slice(h.value.0 as usize..h.value.1 as usize))
}

/// The time by which more body bytes must have arrived: a grace period plus the time the
/// bytes received so far would take at the minimum rate.
pub(crate) fn body_deadline(cfg: &ServerConfig, started: Instant, received: u64) -> Instant {
    if cfg.min_body_rate == 0 {
        return Instant::now() + cfg.keep_alive_timeout;
    }
    let earned = Duration::from_secs_f64(received as f64 / cfg.min_body_rate as f64);
    started + cfg.body_rate_grace + earned
}

trait AllowExt {
    fn into_response_with_allow(self, allow: &str) -> Response;
}

impl AllowExt for StatusCode {
    fn into_response_with_allow(self, allow: &str) -> Response {
        // The router builds `allow` from method names, which are valid header text.
        let allow = HeaderValue::try_from(allow).expect("method names are valid header text");
        super::IntoResponse::into_response(self).with_header(http::header::ALLOW, allow)
    }
}
