//! The HTTP/2 connection driver: `h2` frames the connection; this module routes each stream
//! through the [`App`](crate::App), feeds request bodies under flow control and sends
//! responses as the peer's window allows.
//!
//! All streams of a connection run in the connection's own task, like HTTP/1.1's handler: a
//! small ready queue (one [`Waker`] per stream) polls only the streams that were woken, and
//! dropping the connection drops every stream with it, so forced shutdown and a vanished peer
//! cancel handlers exactly as on HTTP/1.1.
//!
//! Defences, besides those `h2` applies itself (CONTINUATION floods are bounded by the header
//! list size, PING and SETTINGS acknowledgements are sent one at a time, so a peer that does
//! not read stalls its own flood):
//! - at most `http2_max_concurrent_streams` streams run at once; past that the connection is
//!   still driven but no new stream is accepted, so `h2` refuses the excess;
//! - a stream the peer resets drops its handler at once, and streams reset while waiting to be
//!   accepted, or refused locally for protocol errors, are counted by `h2`, which answers a
//!   flood (rapid reset, CVE-2023-44487) with GOAWAY `ENHANCE_YOUR_CALM`;
//! - request bodies: capacity is released only as the handler takes pieces, so a slow
//!   handler slows the peer instead of growing a buffer; the body limit and the minimum
//!   receive rate apply as on HTTP/1.1;
//! - responses: data is queued only within the capacity the peer granted; a stream whose
//!   window stays shut for `write_timeout` is reset;
//! - a connection with no stream for `keep_alive_timeout` is closed with GOAWAY, and one that
//!   cannot even flush that GOAWAY within `write_timeout` is dropped.

use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use atomic_waker::AtomicWaker;
use bytes::Bytes;
use futures_lite::future::poll_fn;
use h2::server::SendResponse;
use h2::{Reason, RecvStream, SendStream};
use http::header::{self, HeaderValue};
use http::{HeaderMap, Method, StatusCode, Version};
use slab::Slab;
use smallvec::SmallVec;
use tulip_reactor::Timer;

use super::io::Compat;
use crate::error::{Error, Kind};
use crate::proto::role::{Framing, HeaderPos, RequestHead};
use crate::server::ServerConfig;
use crate::server::app::{BoxFuture, Frozen, Next, Terminal};
use crate::server::body::{Body, Feed};
use crate::server::request::Request;
use crate::server::response::{IntoResponse, Response, ResponseBody};
use crate::server::router::{Params, Resolved};
use crate::server::shutdown::ConnGuard;
use crate::server::upgrade::Io;

/// Remotely reset streams allowed to wait in `h2`'s accept queue before the connection is
/// closed with `ENHANCE_YOUR_CALM` (rapid reset).
const PENDING_ACCEPT_RESETS: usize = 20;
/// Streams this server may reset for the peer's protocol errors before closing the connection.
const LOCAL_ERROR_RESETS: usize = 256;
/// Most response bytes `h2` buffers per stream beyond what was written to the socket.
const SEND_BUFFER: usize = 256 * 1024;
/// Stream polls per wake-up of the connection task before it yields to other tasks.
const POLL_BUDGET: usize = 128;

/// What every stream of a connection shares.
struct Ctx {
    app: Arc<Frozen>,
    cfg: Arc<ServerConfig>,
    peer: Option<SocketAddr>,
}

/// Serves HTTP/2 on `io`, whose first bytes are the connection preface.
pub(crate) async fn serve<I: Io>(
    io: I,
    app: Arc<Frozen>,
    cfg: Arc<ServerConfig>,
    peer: Option<SocketAddr>,
    guard: ConnGuard,
) -> Result<(), Error> {
    let mut builder = h2::server::Builder::new();
    builder
        .max_concurrent_streams(cfg.http2_max_concurrent_streams)
        .initial_window_size(cfg.http2_stream_window)
        .initial_connection_window_size(cfg.http2_connection_window)
        .max_header_list_size(u32::try_from(cfg.max_head).unwrap_or(u32::MAX))
        .max_send_buffer_size(SEND_BUFFER)
        .max_pending_accept_reset_streams(PENDING_ACCEPT_RESETS)
        .max_local_error_reset_streams(Some(LOCAL_ERROR_RESETS));
    let handshake = builder.handshake::<_, Bytes>(Compat::new(io));
    let conn = match tulip_reactor::timeout(cfg.header_timeout, handshake).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => return Err(super::error(e, "HTTP/2 handshake failed")),
        // A silent client: close quietly, as HTTP/1.1 does.
        Err(_) => return Ok(()),
    };
    let ctx = Arc::new(Ctx { app, cfg, peer });
    let ready = Arc::new(ReadyQueue::default());
    Driver {
        conn,
        ctx,
        guard,
        streams: Slab::new(),
        conn_waker: Waker::from(ready.clone()),
        ready,
        closing: false,
        idle: Timer::never(),
        idle_armed: false,
        hard_close: None,
    }
    .run()
    .await
}

/// Stream keys woken since the connection task last polled them, and the connection's own
/// wake-ups.
///
/// While the driver is polling, a wake-up (from `h2` for the connection, or from a stream)
/// only marks the queue dirty and the driver loops; the task itself is woken only when the
/// driver is parked. Without this, every response `h2` queues during a poll would wake the
/// running task and cost a whole extra poll (a `read` that finds nothing) per request.
#[derive(Default)]
struct ReadyQueue {
    keys: Mutex<Vec<usize>>,
    task: AtomicWaker,
    polling: AtomicBool,
    dirty: AtomicBool,
}

impl ReadyQueue {
    fn push(&self, key: usize) {
        self.keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(key);
        self.notify();
    }

    /// Dirty first, then the check: either the driver sees the flag after it stops polling,
    /// or this sees it stopped and wakes the task.
    fn notify(&self) {
        self.dirty.store(true, Ordering::SeqCst);
        if !self.polling.load(Ordering::SeqCst) {
            self.task.wake();
        }
    }

    fn take(&self, into: &mut Vec<usize>) {
        let mut keys = self
            .keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::mem::swap(&mut *keys, into);
    }
}

/// The waker `h2` gets for the connection.
impl Wake for ReadyQueue {
    fn wake(self: Arc<Self>) {
        self.notify();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.notify();
    }
}

/// A stream's waker: queues the stream and wakes the connection task.
struct StreamWaker {
    key: usize,
    queue: Arc<ReadyQueue>,
}

impl Wake for StreamWaker {
    fn wake(self: Arc<Self>) {
        self.queue.push(self.key);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.queue.push(self.key);
    }
}

struct Entry {
    fut: BoxFuture<()>,
    waker: Waker,
}

struct Driver<I: Io> {
    conn: h2::server::Connection<Compat<I>, Bytes>,
    ctx: Arc<Ctx>,
    guard: ConnGuard,
    streams: Slab<Entry>,
    ready: Arc<ReadyQueue>,
    /// `ready` as a waker: what `h2` wakes when the connection needs polling.
    conn_waker: Waker,
    /// GOAWAY was sent (shutdown or idle): no new streams; the connection ends when the open
    /// ones do.
    closing: bool,
    idle: Timer,
    idle_armed: bool,
    /// After an idle close, the time by which the GOAWAY must have left.
    hard_close: Option<Timer>,
}

impl<I: Io> Driver<I> {
    async fn run(mut self) -> Result<(), Error> {
        let mut keys = Vec::new();
        poll_fn(|cx| self.poll(cx, &mut keys)).await
    }

    fn poll(&mut self, cx: &mut Context<'_>, keys: &mut Vec<usize>) -> Poll<Result<(), Error>> {
        self.ready.task.register(cx.waker());
        if self.guard.is_forced() {
            return Poll::Ready(Ok(()));
        }
        if !self.closing && self.guard.poll_shutdown(cx).is_ready() {
            // Graceful shutdown: GOAWAY, then the open streams finish (the server forces
            // the rest at its deadline).
            self.conn.graceful_shutdown();
            self.closing = true;
        }
        self.ready.polling.store(true, Ordering::SeqCst);
        let polled = self.poll_streams(keys);
        self.ready.polling.store(false, Ordering::SeqCst);
        if self.ready.dirty.swap(false, Ordering::SeqCst) {
            // Woken after the last look (or out of budget): come back.
            cx.waker().wake_by_ref();
        }
        match polled {
            Poll::Pending => self.poll_idle(cx),
            done => done,
        }
    }

    /// Drives the connection and the woken streams until neither has anything left to do.
    fn poll_streams(&mut self, keys: &mut Vec<usize>) -> Poll<Result<(), Error>> {
        let waker = self.conn_waker.clone();
        let mut ccx = Context::from_waker(&waker);
        let mut budget = POLL_BUDGET;
        loop {
            self.ready.dirty.store(false, Ordering::SeqCst);
            let accepting = self.streams.len() < self.ctx.cfg.http2_max_concurrent_streams as usize;
            let polled = if accepting {
                self.conn.poll_accept(&mut ccx)
            } else {
                // At the limit: drive the connection (frames for running streams) without
                // taking new streams; h2 refuses them.
                self.conn.poll_closed(&mut ccx).map(|r| r.err().map(Err))
            };
            match polled {
                Poll::Ready(Some(Ok((req, respond)))) => {
                    self.start(req, respond);
                    continue;
                }
                Poll::Ready(Some(Err(e))) => {
                    return Poll::Ready(Err(super::error(e, "HTTP/2 connection error")));
                }
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => {}
            }
            self.ready.take(keys);
            for key in keys.drain(..) {
                budget = budget.saturating_sub(1);
                let Some(entry) = self.streams.get_mut(key) else {
                    continue;
                };
                let mut scx = Context::from_waker(&entry.waker);
                let fut = &mut entry.fut;
                match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut scx))) {
                    Ok(Poll::Pending) => {}
                    Ok(Poll::Ready(())) => {
                        self.streams.remove(key);
                    }
                    Err(_) => {
                        // A response body panicked mid-stream: drop the stream (h2 resets
                        // it); the connection and its other streams go on.
                        log::error!("HTTP/2 response stream panicked");
                        self.streams.remove(key);
                    }
                }
            }
            // Streams that queued frames, or h2 asking to be polled again, set `dirty`.
            if !self.ready.dirty.load(Ordering::SeqCst) {
                return Poll::Pending;
            }
            if budget == 0 {
                // Yield to other tasks; `dirty` stays set, so `poll` reschedules us.
                return Poll::Pending;
            }
            budget -= 1;
        }
    }

    /// Closes a connection left without streams for the keep-alive timeout, and drops one
    /// whose GOAWAY cannot leave.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if let Some(hard) = self.hard_close.as_mut() {
            if Pin::new(hard).poll(cx).is_ready() {
                return Poll::Ready(Ok(()));
            }
        }
        if self.closing || !self.streams.is_empty() {
            self.idle_armed = false;
            return Poll::Pending;
        }
        if !self.idle_armed {
            self.idle_armed = true;
            self.idle
                .set_deadline(Instant::now() + self.ctx.cfg.keep_alive_timeout);
        }
        if Pin::new(&mut self.idle).poll(cx).is_ready() {
            self.closing = true;
            self.conn.graceful_shutdown();
            let mut hard = Timer::at(Instant::now() + self.ctx.cfg.write_timeout);
            let _ = Pin::new(&mut hard).poll(cx);
            self.hard_close = Some(hard);
            // Poll the connection again so the GOAWAY goes out.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }

    fn start(&mut self, req: http::Request<RecvStream>, respond: SendResponse<Bytes>) {
        let entry = self.streams.vacant_entry();
        let key = entry.key();
        let waker = Waker::from(Arc::new(StreamWaker {
            key,
            queue: self.ready.clone(),
        }));
        entry.insert(Entry {
            fut: Box::pin(serve_stream(self.ctx.clone(), req, respond)),
            waker,
        });
        self.ready.push(key);
    }
}

/// One request: route, run the handler while feeding its body, send the response.
async fn serve_stream(
    ctx: Arc<Ctx>,
    req: http::Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
) {
    let (mut running, mut pump, method, accept, log_path) = match start(&ctx, req) {
        Ok(s) => s,
        Err(answer) => {
            let (resp, method) = *answer;
            let _ = send(&ctx, resp, &method, None, &mut respond, None).await;
            return;
        }
    };
    let resp = poll_fn(|cx| {
        loop {
            if respond.poll_reset(cx).is_ready() {
                // The peer cancelled: drop the handler now.
                return Poll::Ready(None);
            }
            match std::panic::catch_unwind(AssertUnwindSafe(|| running.as_mut().poll(cx))) {
                Ok(Poll::Ready(r)) => return Poll::Ready(Some(r)),
                Ok(Poll::Pending) => {}
                Err(_) => {
                    log::error!("handler panicked");
                    return Poll::Ready(Some(Response::new(StatusCode::INTERNAL_SERVER_ERROR)));
                }
            }
            if !pump.poll(cx, &ctx.cfg, Some(&mut respond)) {
                return Poll::Pending;
            }
        }
    })
    .await;
    drop(running);
    let Some(mut resp) = resp else {
        return;
    };
    if let Some(e) = pump.error.clone() {
        if e.is_io() {
            respond.send_reset(Reason::CANCEL);
            return;
        }
        // As on HTTP/1.1: a handler's own 4xx stands, anything else becomes the body
        // error's answer (400, 408, 413).
        if !resp.status().is_client_error() {
            resp = e.into_response();
        }
    }
    if let Some(path) = log_path {
        log::info!(
            "{} \"{method} {path} HTTP/2.0\" {}",
            ctx.peer.map_or_else(|| "-".into(), |p| p.to_string()),
            resp.status().as_u16()
        );
    }
    let _ = send(&ctx, resp, &method, accept, &mut respond, Some(&mut pump)).await;
    // A request body still arriving after a complete answer: dropping the stream's handles
    // makes h2 send RST_STREAM(NO_ERROR) after the queued frames (RFC 9113 §8.1); an explicit
    // reset here would discard them.
}

type Started = (
    BoxFuture<Response>,
    Pump,
    Method,
    Option<Bytes>,
    Option<String>,
);

/// Builds the `Request` and starts the middleware chain and handler, or answers at once.
fn start(ctx: &Ctx, req: http::Request<RecvStream>) -> Result<Started, Box<(Response, Method)>> {
    let (parts, recv) = req.into_parts();
    let method = parts.method.clone();
    let cfg = &ctx.cfg;
    if parts.headers.len() > cfg.max_headers {
        return Err(Box::new((
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE.into_response(),
            method,
        )));
    }
    if method == Method::CONNECT || !parts.uri.path().starts_with('/') {
        return Err(Box::new((StatusCode::BAD_REQUEST.into_response(), method)));
    }
    let accept = cfg!(feature = "gzip")
        .then(|| parts.headers.get(header::ACCEPT_ENCODING))
        .flatten()
        .map(|v| Bytes::copy_from_slice(v.as_bytes()));
    let content_length = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let expect_continue = parts
        .headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let has_body = !recv.is_end_stream();
    let head = request_head(&parts, has_body, content_length);
    let log_path = cfg.access_log.then(|| parts.uri.path().to_owned());
    drop(parts);

    let app = ctx.app.clone();
    let (route, params, fixed) = match app.router.resolve(&head.method, head.str(head.path)) {
        Resolved::Found(r, p) => (Some(r.clone()), p, None),
        Resolved::MethodNotAllowed(allow) => {
            let mut r = StatusCode::METHOD_NOT_ALLOWED.into_response();
            // The router builds `allow` from method names, which are valid header text.
            if let Ok(v) = HeaderValue::try_from(allow.as_str()) {
                r = r.with_header(header::ALLOW, v);
            }
            (None, Params::new(), Some(r))
        }
        Resolved::NotFound => (
            None,
            Params::new(),
            Some(StatusCode::NOT_FOUND.into_response()),
        ),
    };
    let max = route
        .as_ref()
        .and_then(|r| r.max_body)
        .unwrap_or(cfg.max_body);
    if content_length.is_some_and(|n| n > max) {
        let e = Error::new(Kind::BodyTooLarge, "Content-Length over the limit");
        return Err(Box::new((e.into_response(), method)));
    }
    let feed = has_body.then(Feed::new);
    let body = feed.as_ref().map_or_else(Body::empty, Body::from_feed);
    let pump = Pump {
        recv,
        feed,
        max,
        received: 0,
        started: Instant::now(),
        timer: Timer::never(),
        expect_continue,
        done: false,
        error: None,
    };
    let state = route
        .as_ref()
        .map_or_else(|| app.state.clone(), |r| r.state.clone());
    let req = Request {
        head,
        params,
        route: route.clone(),
        state,
        peer: ctx.peer,
        body: Some(body),
        upgrade: None,
    };
    let running = match (route, fixed) {
        (Some(route), _) => Next::new(
            route.middlewares.clone(),
            Terminal::Handler(route.handler.clone()),
        )
        .into_future(req),
        (None, fixed) => {
            let fixed = fixed.unwrap_or_else(|| Response::new(StatusCode::NOT_FOUND));
            Next::new(app.middlewares.clone(), Terminal::Fixed(fixed)).into_future(req)
        }
    };
    Ok((running, pump, method, accept, log_path))
}

/// The request head in the shape HTTP/1.1 parses it into: one buffer holding the path, the
/// query and every header, with positions into it. `:authority` becomes `host` when the
/// request has no `host` header, so handlers see the same headers on both protocols.
fn request_head(
    parts: &http::request::Parts,
    has_body: bool,
    length: Option<u64>,
) -> Box<RequestHead> {
    let authority = parts
        .uri
        .authority()
        .filter(|_| !parts.headers.contains_key(header::HOST));
    let path = parts.uri.path();
    let query = parts.uri.query();
    let size = path.len()
        + query.map_or(0, str::len)
        + authority.map_or(0, |a| a.as_str().len() + 4)
        + parts
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len())
            .sum::<usize>();
    let mut buf = Vec::with_capacity(size);
    let mut put = |bytes: &[u8]| {
        let start = buf.len() as u32;
        buf.extend_from_slice(bytes);
        (start, buf.len() as u32)
    };
    let path_pos = put(path.as_bytes());
    let query_pos = query.map(|q| put(q.as_bytes()));
    let mut headers: SmallVec<[HeaderPos; 20]> = SmallVec::new();
    if let Some(a) = authority {
        headers.push(HeaderPos {
            name: put(b"host"),
            value: put(a.as_str().as_bytes()),
        });
    }
    for (n, v) in &parts.headers {
        headers.push(HeaderPos {
            name: put(n.as_str().as_bytes()),
            value: put(v.as_bytes()),
        });
    }
    Box::new(RequestHead {
        head: Bytes::from(buf),
        method: parts.method.clone(),
        version: Version::HTTP_2,
        path: path_pos,
        query: query_pos,
        headers,
        framing: match (has_body, length) {
            (false, _) => Framing::Empty,
            (true, Some(n)) => Framing::Length(n),
            (true, None) => Framing::Chunked,
        },
        keep_alive: true,
        expect_continue: false,
        upgrade: false,
    })
}

/// The request body as the stream sees it: pieces go to the handler's [`Body`] only when it
/// asks, and their flow-control capacity is released then, so the peer can send at most a
/// window ahead of the handler.
struct Pump {
    recv: RecvStream,
    /// `None` when the request has no body.
    feed: Option<Feed>,
    max: u64,
    received: u64,
    started: Instant,
    timer: Timer,
    /// `Expect: 100-continue` not answered yet.
    expect_continue: bool,
    done: bool,
    error: Option<Error>,
}

impl Pump {
    /// Serves the body reader's demand; true when something changed for the reader.
    fn poll(
        &mut self,
        cx: &mut Context<'_>,
        cfg: &ServerConfig,
        respond: Option<&mut SendResponse<Bytes>>,
    ) -> bool {
        let Some(feed) = &self.feed else {
            return false;
        };
        if self.done || !feed.wants(cx.waker()) {
            return false;
        }
        if std::mem::take(&mut self.expect_continue) {
            if let Some(r) = respond {
                let _ = r.send_informational(
                    http::Response::builder()
                        .status(100)
                        .body(())
                        .unwrap_or_default(),
                );
            }
        }
        let waker = cx.waker();
        match self.recv.poll_data(cx) {
            Poll::Ready(Some(Ok(b))) => {
                let _ = self.recv.flow_control().release_capacity(b.len());
                self.received += b.len() as u64;
                if self.received > self.max {
                    self.fail(
                        Error::new(Kind::BodyTooLarge, "request body over the limit"),
                        waker,
                    );
                } else if !b.is_empty() {
                    feed.send(b, waker);
                }
                true
            }
            Poll::Ready(Some(Err(e))) => {
                self.fail(super::error(e, "request stream reset"), waker);
                true
            }
            Poll::Ready(None) => {
                self.done = true;
                feed.finish(None, waker);
                true
            }
            Poll::Pending => {
                let deadline =
                    crate::server::dispatch::body_deadline(cfg, self.started, self.received);
                // Moved only when the deadline comes earlier; a timer that fires early (the
                // deadline moved later) is re-armed.
                if self.timer.deadline().is_none_or(|armed| armed > deadline) {
                    self.timer.set_deadline(deadline);
                }
                while Pin::new(&mut self.timer).poll(cx).is_ready() {
                    if Instant::now() >= deadline {
                        self.fail(Error::new(Kind::Timeout, "request body too slow"), waker);
                        return true;
                    }
                    self.timer.set_deadline(deadline);
                }
                false
            }
        }
    }

    fn fail(&mut self, e: Error, waker: &Waker) {
        self.done = true;
        if let Some(feed) = &self.feed {
            feed.finish(Some(e.clone()), waker);
        }
        self.error = Some(e);
    }
}

/// Sends the response: the head, then the body within the capacity the peer grants.
async fn send(
    ctx: &Ctx,
    mut resp: Response,
    method: &Method,
    accept: Option<Bytes>,
    respond: &mut SendResponse<Bytes>,
    mut pump: Option<&mut Pump>,
) -> Result<(), Error> {
    #[cfg(feature = "gzip")]
    crate::server::compress::apply(
        &mut resp,
        *method == Method::HEAD,
        accept.as_deref(),
        &ctx.cfg,
    );
    drop(accept);
    let mut status = resp.status();
    if status.is_informational() {
        // 101 and friends have no HTTP/2 meaning as a final answer.
        status = StatusCode::INTERNAL_SERVER_ERROR;
    }
    let no_body = status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    let skip = no_body || *method == Method::HEAD;
    // HTTP/2 frames every piece of data, so a file is read and written, never sendfile'd.
    let (body, file_len) = match std::mem::replace(&mut resp.body, ResponseBody::Empty) {
        ResponseBody::File(f) => {
            let len = f.len;
            (ResponseBody::Stream(f.into_stream()), Some(len))
        }
        body => (body, None),
    };
    let mut headers: HeaderMap = std::mem::take(resp.headers_mut());
    // One look over the handler's few headers before any removal (see
    // `is_connection_specific`). `TE` is allowed as `trailers` only.
    if headers
        .keys()
        .any(|n| super::is_connection_specific(n) || n == header::TE)
    {
        for h in super::CONNECTION_SPECIFIC {
            headers.remove(h);
        }
        if headers.get(header::TE).is_some_and(|v| v != "trailers") {
            headers.remove(header::TE);
        }
    }
    if let Some(ct) = resp.content_type() {
        if !headers.contains_key(header::CONTENT_TYPE) {
            headers.insert(header::CONTENT_TYPE, ct.clone());
        }
    }
    let length = match &body {
        _ if no_body => None,
        ResponseBody::Empty => Some(0),
        ResponseBody::Full(b) => Some(b.len() as u64),
        ResponseBody::Stream(_) | ResponseBody::File(_) => file_len,
    };
    if let Some(n) = length {
        if !(skip && headers.contains_key(header::CONTENT_LENGTH)) {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        }
    }
    headers.insert(header::DATE, crate::proto::date::date_value());
    let mut head = http::Response::new(());
    *head.status_mut() = status;
    *head.headers_mut() = headers;
    let empty = skip
        || match &body {
            ResponseBody::Empty => true,
            ResponseBody::Full(b) => b.is_empty(),
            ResponseBody::Stream(_) | ResponseBody::File(_) => false,
        };
    let mut stream = respond
        .send_response(head, empty)
        .map_err(|e| super::error(e, "sending the response head"))?;
    if empty {
        return Ok(());
    }
    let cfg = &ctx.cfg;
    let mut out = Sender {
        stream: &mut stream,
        timer: Timer::never(),
        write_timeout: cfg.write_timeout,
    };
    let res = match body {
        ResponseBody::Full(b) => {
            let mut piece = Some(b);
            poll_fn(|cx| out.poll_send(cx, &mut piece, true, &mut pump, cfg)).await
        }
        ResponseBody::Stream(mut s) => {
            let mut pending: Option<Bytes> = None;
            poll_fn(|cx| {
                loop {
                    if pending.is_some() {
                        futures_lite::ready!(out.poll_send(
                            cx,
                            &mut pending,
                            false,
                            &mut pump,
                            cfg
                        ))?;
                    }
                    match s.as_mut().poll_next(cx) {
                        Poll::Ready(Some(Ok(b))) => pending = (!b.is_empty()).then_some(b),
                        Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                        Poll::Ready(None) => {
                            return Poll::Ready(
                                out.stream
                                    .send_data(Bytes::new(), true)
                                    .map_err(|e| super::error(e, "ending the response")),
                            );
                        }
                        Poll::Pending => {
                            // The producer may be waiting for the request body (an echo).
                            if let Some(p) = pump.as_deref_mut() {
                                if p.poll(cx, cfg, None) {
                                    continue;
                                }
                            }
                            if out.stream.poll_reset(cx).is_ready() {
                                return Poll::Ready(Err(Error::new(
                                    Kind::Io,
                                    "stream reset by the peer",
                                )));
                            }
                            return Poll::Pending;
                        }
                    }
                }
            })
            .await
        }
        ResponseBody::Empty | ResponseBody::File(_) => Ok(()),
    };
    if let Err(e) = &res {
        log::debug!("HTTP/2 response body: {e}");
        stream.send_reset(if e.is_timeout() {
            Reason::CANCEL
        } else {
            Reason::INTERNAL_ERROR
        });
    }
    res
}

/// Sends one piece of body within the granted capacity, bounded by the write timeout.
struct Sender<'a> {
    stream: &'a mut SendStream<Bytes>,
    timer: Timer,
    write_timeout: std::time::Duration,
}

impl Sender<'_> {
    /// Sends all of `piece` (taking it), ending the stream after it when `end`.
    fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        piece: &mut Option<Bytes>,
        end: bool,
        pump: &mut Option<&mut Pump>,
        cfg: &ServerConfig,
    ) -> Poll<Result<(), Error>> {
        loop {
            let Some(b) = piece.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            if b.is_empty() {
                *piece = None;
                continue;
            }
            self.stream.reserve_capacity(b.len());
            let mut cap = self.stream.capacity();
            while cap == 0 {
                match self.stream.poll_capacity(cx) {
                    Poll::Ready(Some(Ok(n))) => cap = n,
                    Poll::Ready(Some(Err(e))) => {
                        return Poll::Ready(Err(super::error(e, "response stream failed")));
                    }
                    Poll::Ready(None) => {
                        return Poll::Ready(Err(Error::new(Kind::Io, "response stream closed")));
                    }
                    Poll::Pending => {
                        if let Some(p) = pump.as_deref_mut() {
                            p.poll(cx, cfg, None);
                        }
                        // The window stays shut: give up on this stream after the timeout.
                        if self.timer.deadline().is_none() {
                            self.timer.set_deadline(Instant::now() + self.write_timeout);
                        }
                        if Pin::new(&mut self.timer).poll(cx).is_ready() {
                            return Poll::Ready(Err(Error::new(
                                Kind::Timeout,
                                "peer granted no window for the write timeout",
                            )));
                        }
                        return Poll::Pending;
                    }
                }
            }
            if self.timer.deadline().is_some() {
                self.timer.cancel();
            }
            let n = cap.min(b.len());
            let chunk = b.split_to(n);
            let last = b.is_empty();
            if last {
                *piece = None;
            }
            self.stream
                .send_data(chunk, end && last)
                .map_err(|e| super::error(e, "sending response data"))?;
        }
    }
}
