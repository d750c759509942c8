//! The connection state machine shared by [`WebSocket`](crate::WebSocket) and its halves.
//!
//! Everything is a `poll_*` function over `&mut Core`, so the whole WebSocket can live behind a
//! plain mutex when split: no lock is ever held across an `.await`, and every piece of progress
//! (a half-read frame, a half-written buffer, a queued close reply) is stored here rather than
//! in a future, which is what makes the public methods cancel safe.
//!
//! Flow control: the socket is read only when the application asks for a message, into
//! bounded buffers, so a reader that stops reading stops the peer through TCP. Pongs are
//! coalesced (only the latest is kept) and reading pauses while the write buffer is above its
//! high-water mark, so a peer that pings without reading cannot grow our memory.
//!
//! Control frames jump the queue: a fragmented message is queued whole, with the offsets
//! where its continuation frames start (`bounds`); a pong or ping queued while it is being
//! written goes in at the next of those offsets, between two fragments (RFC 6455 §5.4),
//! instead of after the whole message. A close frame always goes last, since no data frame
//! may follow it.
//!
//! The heartbeat (`heartbeat.rs`) is polled by the receive path once the socket has nothing
//! more to read, so a task waiting in `receive` sends its pings and notices a dead peer on
//! time; the send path sends a ping that is due in front of its message.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use futures_lite::io::{AsyncRead, AsyncWrite};
use futures_lite::ready;

use crate::close::{CloseCode, CloseFrame};
use crate::config::{Config, Role};
use crate::decoder::{Decoder, DirectError, Event, ReadBuf};
use crate::deflate::{DeflateParams, Deflater};
use crate::encoder::Encoder;
use crate::error::{Error, ProtocolError, Result};
use crate::frame::OpCode;
use crate::heartbeat::{Beat, Heartbeat};
use crate::message::Message;
use crate::timer::{Deadline, deadline};

/// Who is polling, when the two halves of a split WebSocket share the write side.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Slot {
    Reader = 0,
    Writer = 1,
}

/// A waker that wakes both halves: a stream keeps only one waker per direction, and both the
/// reader (pongs, close replies) and the writer may wait for the socket to become writable.
#[derive(Debug, Default)]
struct WriteWakers {
    slots: Mutex<[Option<Waker>; 2]>,
}

impl WriteWakers {
    fn register(&self, slot: Slot, waker: &Waker) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut slots[slot as usize] {
            Some(w) if w.will_wake(waker) => {}
            s => *s = Some(waker.clone()),
        }
    }
}

impl Wake for WriteWakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let taken = std::mem::take(&mut *self.slots.lock().unwrap_or_else(PoisonError::into_inner));
        for w in taken.into_iter().flatten() {
            w.wake();
        }
    }
}

/// A frame to send, borrowed so that `send_text(&str)` needs no allocation.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outgoing<'a> {
    Text(&'a str),
    Binary(&'a [u8]),
    Ping(&'a [u8]),
    Pong(&'a [u8]),
    Close(Option<&'a CloseFrame>),
}

impl<'a> From<&'a Message> for Outgoing<'a> {
    fn from(m: &'a Message) -> Outgoing<'a> {
        match m {
            Message::Text(s) => Outgoing::Text(s),
            Message::Binary(b) => Outgoing::Binary(b),
            Message::Ping(b) => Outgoing::Ping(b),
            Message::Pong(b) => Outgoing::Pong(b),
            Message::Close(c) => Outgoing::Close(c.as_ref()),
        }
    }
}

#[derive(Debug)]
enum Phase {
    Open,
    /// The peer's close arrived and our reply (if one was due) is queued: flush, then hand
    /// the close to the application.
    Replying(Option<CloseFrame>),
    /// The peer broke the protocol and our close frame is queued: flush, then report.
    Failing(ProtocolError),
    /// The peer's close arrived with `autoclose` off and was handed to the application, which
    /// has not answered it yet (`close_sent` tells whether it since has).
    PeerClosed,
    /// A client after the close handshake reads to end of stream, so that the server closes
    /// TCP first (RFC 6455 §7.1.1), bounded by the close timeout.
    Draining,
    Closed,
}

/// A server's graceful shutdown, seen from one WebSocket (tulip-http's upgraded connection):
/// once `poll` is ready, the WebSocket sends 1001 Going Away and finishes the close handshake
/// within its close timeout.
pub(crate) struct GoingAway<S> {
    /// Ready once the shutdown has begun; registers the waker otherwise. Only the receiving
    /// side polls it: the watch keeps one waker.
    pub(crate) poll: fn(&S, &mut Context<'_>) -> Poll<()>,
    /// The same question without registering a waker, for the sending side.
    pub(crate) check: fn(&S) -> bool,
    /// Runs from our 1001 until the peer's close reply.
    deadline: Option<Deadline>,
}

impl<S> GoingAway<S> {
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn new(poll: fn(&S, &mut Context<'_>) -> Poll<()>, check: fn(&S) -> bool) -> Self {
        GoingAway {
            poll,
            check,
            deadline: None,
        }
    }
}

/// Payload size from which a data frame is written straight from the caller's bytes (see
/// [`Core::send_now`]); below it, copying into the write buffer costs less than a vectored
/// write's second slice.
const VERBATIM_MIN: usize = 2048;

/// The reason sent with the 1001 close of a server shutdown.
const GOING_AWAY_REASON: &str = "server shutting down";

/// One WebSocket connection's state.
pub(crate) struct Core<S> {
    /// The session's `tracing` span (feature `tracing`; nothing without it).
    _session: crate::trace::Session,
    stream: S,
    role: Role,
    config: Config,
    rbuf: ReadBuf,
    decoder: Decoder,
    encoder: Encoder,
    wbuf: Vec<u8>,
    wpos: usize,
    /// Offsets in `wbuf`, ascending, where a continuation frame starts: a control frame may be
    /// inserted there. Entries below `wpos` are stale.
    bounds: Vec<usize>,
    heartbeat: Option<Heartbeat>,
    /// Set when the heartbeat declared the peer dead (the pong wait that passed).
    dead: Option<std::time::Duration>,
    /// The latest ping's payload, waiting for its pong (RFC 6455 §5.5.3 lets us skip older ones).
    pong: Option<Vec<u8>>,
    close_sent: bool,
    phase: Phase,
    deadline: Option<Deadline>,
    fan: Option<(Arc<WriteWakers>, Waker)>,
    negotiated: Option<DeflateParams>,
    going_away: Option<GoingAway<S>>,
    /// The sending side queued the 1001 close and must flush it before reporting "closed".
    going_away_flush: bool,
    /// Whether [`Core::send_now`] may write straight from the caller's bytes: cleared when the
    /// stream turns out to write only the first slice of a vectored write (the `AsyncWrite`
    /// default), where that would cost a second write per message.
    vectored: bool,
}

impl<S> std::fmt::Debug for Core<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("role", &self.role)
            .field("phase", &self.phase)
            .field("close_sent", &self.close_sent)
            .field("write_buffered", &(self.wbuf.len() - self.wpos))
            .finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Core<S> {
    pub(crate) fn new(
        stream: S,
        role: Role,
        config: Config,
        deflate: Option<DeflateParams>,
        leftover: &[u8],
    ) -> Core<S> {
        let deflater = deflate.map(|p| {
            let (bits, reset) = match role {
                Role::Server => (p.server_max_window_bits, p.server_no_context_takeover),
                Role::Client => (p.client_max_window_bits, p.client_no_context_takeover),
            };
            let dc = config.deflate.clone().unwrap_or_default();
            Deflater::new(bits, reset, &dc)
        });
        Core {
            _session: crate::trace::Session::open(role, deflate.is_some()),
            rbuf: ReadBuf::new(config.read_buffer_size, leftover),
            decoder: Decoder::new(
                role,
                config.max_frame_size,
                config.max_message_size,
                deflate.is_some(),
            ),
            encoder: Encoder::new(role, deflater),
            stream,
            role,
            wbuf: Vec::new(),
            wpos: 0,
            bounds: Vec::new(),
            heartbeat: config.heartbeat.map(Heartbeat::new),
            dead: None,
            pong: None,
            close_sent: false,
            phase: Phase::Open,
            deadline: None,
            fan: None,
            negotiated: deflate,
            going_away: None,
            going_away_flush: false,
            vectored: true,
            config,
        }
    }

    /// Watches a server's graceful shutdown (see [`GoingAway`]).
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn set_going_away(&mut self, watch: GoingAway<S>) {
        self.going_away = Some(watch);
    }

    /// Starts the 1001 close when the server is shutting down; fails the connection when the
    /// peer has not answered it within the close timeout.
    fn poll_going_away(&mut self, cx: &mut Context<'_>) -> Poll<Error> {
        let Some(watch) = &mut self.going_away else {
            return Poll::Pending;
        };
        if !self.close_sent {
            if (watch.poll)(&self.stream, cx).is_pending() {
                return Poll::Pending;
            }
            watch.deadline = Some(deadline(self.config.close_timeout));
            self.queue_close(Some(&CloseFrame::new(
                CloseCode::GOING_AWAY,
                GOING_AWAY_REASON,
            )));
        }
        let expired = self
            .going_away
            .as_mut()
            .and_then(|w| w.deadline.as_mut())
            .is_some_and(|d| d.as_mut().poll(cx).is_ready());
        if !expired {
            return Poll::Pending;
        }
        self.going_away = None;
        self.abort(cx);
        Poll::Ready(Error::timeout())
    }

    /// The sending side's check: starts the 1001 close once the server is shutting down, so
    /// that a sender notices even when nobody receives. True when it did.
    fn check_going_away(&mut self) -> bool {
        let Some(watch) = &mut self.going_away else {
            return false;
        };
        if self.close_sent || !(watch.check)(&self.stream) {
            return false;
        }
        watch.deadline = Some(deadline(self.config.close_timeout));
        self.queue_close(Some(&CloseFrame::new(
            CloseCode::GOING_AWAY,
            GOING_AWAY_REASON,
        )));
        true
    }

    /// Prepares for use from two tasks (see [`WriteWakers`]).
    pub(crate) fn enable_fan_out(&mut self) {
        let w = Arc::new(WriteWakers::default());
        let waker = Waker::from(w.clone());
        self.fan = Some((w, waker));
    }

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    pub(crate) fn deflate(&self) -> Option<DeflateParams> {
        self.negotiated
    }

    pub(crate) fn get_ref(&self) -> &S {
        &self.stream
    }

    pub(crate) fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    fn pending_write(&self) -> usize {
        self.wbuf.len() - self.wpos
    }

    fn poll_write_buf(&mut self, cx: &mut Context<'_>, slot: Slot) -> Poll<io::Result<()>> {
        match &self.fan {
            Some((w, waker)) => {
                w.register(slot, cx.waker());
                let waker = waker.clone();
                self.write_all_queued(&mut Context::from_waker(&waker))
            }
            None => self.write_all_queued(cx),
        }
    }

    fn write_all_queued(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.wpos < self.wbuf.len() {
            let n = ready!(Pin::new(&mut self.stream).poll_write(cx, &self.wbuf[self.wpos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.wpos += n;
        }
        self.wbuf.clear();
        self.wpos = 0;
        self.bounds.clear();
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    /// Flushes, giving up once the close timeout has passed.
    fn poll_flush_bounded(&mut self, cx: &mut Context<'_>, slot: Slot) -> Poll<()> {
        if self.poll_write_buf(cx, slot).is_ready() {
            self.deadline = None;
            return Poll::Ready(());
        }
        let timeout = self.config.close_timeout;
        let d = self.deadline.get_or_insert_with(|| deadline(timeout));
        if d.as_mut().poll(cx).is_ready() {
            self.deadline = None;
            return Poll::Ready(());
        }
        Poll::Pending
    }

    fn compact(&mut self) {
        if self.wpos == self.wbuf.len() {
            self.wbuf.clear();
            self.wpos = 0;
            self.bounds.clear();
        } else if self.wpos > 64 << 10 && self.wpos > self.wbuf.len() / 2 {
            self.wbuf.drain(..self.wpos);
            let wpos = self.wpos;
            self.bounds.retain(|&b| b >= wpos);
            for b in &mut self.bounds {
                *b -= wpos;
            }
            self.wpos = 0;
        }
    }

    /// Queues a ping or pong: at the next fragment boundary when a fragmented message is still
    /// being written, at the end otherwise.
    fn queue_control(&mut self, opcode: OpCode, payload: &[u8]) {
        self.compact();
        let wpos = self.wpos;
        self.bounds.retain(|&b| b >= wpos);
        let Some(&at) = self.bounds.first() else {
            self.encoder.control(opcode, payload, &mut self.wbuf);
            return;
        };
        let mut frame = Vec::with_capacity(payload.len() + 14);
        self.encoder.control(opcode, payload, &mut frame);
        self.wbuf.splice(at..at, frame.iter().copied());
        // Every boundary from `at` on moves past the inserted frame, so a second control frame
        // lands after this one.
        for b in &mut self.bounds {
            *b += frame.len();
        }
    }

    fn queue_pong(&mut self) {
        if let Some(p) = self.pong.take() {
            if !self.close_sent {
                self.queue_control(OpCode::Pong, &p);
            }
        }
    }

    /// Polls the heartbeat (receiving side), while no close frame has been sent.
    fn poll_heartbeat(&mut self, cx: &mut Context<'_>) -> Poll<Beat> {
        match &mut self.heartbeat {
            Some(hb) if !self.close_sent => hb.poll(cx),
            _ => Poll::Pending,
        }
    }

    fn queue_close(&mut self, frame: Option<&CloseFrame>) {
        self.compact();
        let mut payload = Vec::with_capacity(125);
        if let Some(f) = frame {
            f.encode(&mut payload);
        }
        self.encoder
            .control(OpCode::Close, &payload, &mut self.wbuf);
        self.close_sent = true;
        if let Some(hb) = &mut self.heartbeat {
            hb.stop();
        }
    }

    fn fail(&mut self, p: ProtocolError) {
        if !self.close_sent {
            self.queue_close(Some(&CloseFrame::new(p.close_code(), "")));
        }
        self.phase = Phase::Failing(p);
    }

    fn shutdown_once(&mut self, cx: &mut Context<'_>) {
        // Best effort: the connection is over either way, and a pending shutdown must not
        // hold the application's close up.
        let _ = Pin::new(&mut self.stream).poll_close(cx);
    }

    /// Receives the next message, answering pings and close frames on the way.
    pub(crate) fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<Result<Message>> {
        loop {
            match &self.phase {
                Phase::Closed => return Poll::Ready(Err(Error::closed())),
                Phase::Replying(_) | Phase::Failing(_) => {
                    ready!(self.poll_flush_bounded(cx, Slot::Reader));
                    let failing = matches!(self.phase, Phase::Failing(_));
                    if self.role == Role::Server || failing {
                        self.shutdown_once(cx);
                    }
                    let next = if self.role == Role::Client && !failing {
                        Phase::Draining
                    } else {
                        Phase::Closed
                    };
                    return Poll::Ready(match std::mem::replace(&mut self.phase, next) {
                        Phase::Replying(frame) => Ok(Message::Close(frame)),
                        Phase::Failing(p) => Err(p.into()),
                        _ => unreachable!("matched above"),
                    });
                }
                Phase::PeerClosed => {
                    // The peer's close was delivered; once the application's close is queued,
                    // push it out and end as an answered close would.
                    if !self.close_sent {
                        return Poll::Ready(Err(Error::closed()));
                    }
                    ready!(self.poll_flush_bounded(cx, Slot::Reader));
                    if self.role == Role::Server {
                        self.shutdown_once(cx);
                    }
                    self.phase = match self.role {
                        Role::Client => Phase::Draining,
                        Role::Server => Phase::Closed,
                    };
                    return Poll::Ready(Err(Error::closed()));
                }
                Phase::Draining => {
                    ready!(self.poll_drain(cx));
                    self.phase = Phase::Closed;
                    continue;
                }
                Phase::Open => {}
            }
            if let Poll::Ready(e) = self.poll_going_away(cx) {
                return Poll::Ready(Err(e));
            }
            if self.pong.is_some() && self.pending_write() <= self.config.write_high_water {
                self.queue_pong();
            }
            if self.pending_write() > 0 {
                match self.poll_write_buf(cx, Slot::Reader) {
                    Poll::Ready(Err(e)) => {
                        self.phase = Phase::Closed;
                        return Poll::Ready(Err(e.into()));
                    }
                    Poll::Pending if self.pending_write() > self.config.write_high_water => {
                        return Poll::Pending;
                    }
                    _ => {}
                }
            }
            let event = match self.poll_event(cx) {
                Poll::Ready(event) => event,
                // Nothing more to read: now the heartbeat's silence is real.
                Poll::Pending => match self.poll_heartbeat(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Beat::Ping) => {
                        self.queue_control(OpCode::Ping, b"");
                        continue;
                    }
                    Poll::Ready(Beat::Dead) => {
                        let waited = self.heartbeat.as_ref().map(Heartbeat::pong_wait);
                        let waited = waited.unwrap_or_default();
                        self.dead = Some(waited);
                        self.abort(cx);
                        return Poll::Ready(Err(Error::heartbeat(waited)));
                    }
                },
            };
            match event {
                Ok(Event::Data(m)) => return Poll::Ready(Ok(m)),
                Ok(Event::Pong(p)) => {
                    let ours = p.is_empty()
                        && self.config.autoping
                        && self.heartbeat.as_mut().is_some_and(Heartbeat::take_pong);
                    if !ours {
                        return Poll::Ready(Ok(Message::Pong(p)));
                    }
                }
                Ok(Event::Ping(p)) if !self.config.autoping => {
                    return Poll::Ready(Ok(Message::Ping(p)));
                }
                Ok(Event::Ping(p)) => {
                    self.pong = Some(p.clone());
                    if self.pending_write() <= self.config.write_high_water {
                        self.queue_pong();
                        let _ = self.poll_write_buf(cx, Slot::Reader);
                    }
                    return Poll::Ready(Ok(Message::Ping(p)));
                }
                Ok(Event::Close(frame)) if !self.close_sent && !self.config.autoclose => {
                    if let Some(hb) = &mut self.heartbeat {
                        hb.stop();
                    }
                    self.phase = Phase::PeerClosed;
                    return Poll::Ready(Ok(Message::Close(frame)));
                }
                Ok(Event::Close(frame)) => {
                    if !self.close_sent {
                        let echo = frame.as_ref().map(|f| CloseFrame::new(f.code, ""));
                        self.queue_close(echo.as_ref());
                    }
                    self.phase = Phase::Replying(frame);
                }
                Err(EventError::Protocol(p)) => self.fail(p),
                Err(EventError::Io(e)) => {
                    self.phase = Phase::Closed;
                    if e.kind() == io::ErrorKind::UnexpectedEof && self.close_sent {
                        return Poll::Ready(Err(Error::closed()));
                    }
                    return Poll::Ready(Err(e.into()));
                }
            }
        }
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Result<Event, EventError>> {
        loop {
            if let Some(ev) = self
                .decoder
                .decode(&mut self.rbuf)
                .map_err(EventError::Protocol)?
            {
                return Poll::Ready(Ok(ev));
            }
            let stream = &mut self.stream;
            let direct = self.decoder.read_direct(self.rbuf.len(), &mut |buf| {
                Pin::new(&mut *stream).poll_read(cx, buf)
            });
            let n = match direct {
                Some(p) => ready!(p).map_err(|e| match e {
                    DirectError::Io(e) => EventError::Io(e),
                    DirectError::Protocol(p) => EventError::Protocol(p),
                })?,
                None => {
                    let n = ready!(Pin::new(&mut self.stream).poll_read(cx, self.rbuf.spare()))
                        .map_err(EventError::Io)?;
                    self.rbuf.advance(n);
                    n
                }
            };
            if n == 0 {
                return Poll::Ready(Err(EventError::Io(io::ErrorKind::UnexpectedEof.into())));
            }
            if let Some(hb) = &mut self.heartbeat {
                hb.received();
            }
        }
    }

    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let timeout = self.config.close_timeout;
            let d = self.deadline.get_or_insert_with(|| deadline(timeout));
            if d.as_mut().poll(cx).is_ready() {
                self.deadline = None;
                self.shutdown_once(cx);
                return Poll::Ready(());
            }
            let spare = self.rbuf.spare();
            match ready!(Pin::new(&mut self.stream).poll_read(cx, spare)) {
                Ok(n) if n > 0 => self.rbuf = ReadBuf::new(self.config.read_buffer_size, &[]),
                _ => {
                    self.deadline = None;
                    return Poll::Ready(());
                }
            }
        }
    }

    /// Waits until the write buffer is at or below its high-water mark.
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>, slot: Slot) -> Poll<Result<()>> {
        if self.check_going_away() {
            self.going_away_flush = true;
        }
        if self.going_away_flush {
            // Push the 1001 out now (bounded by the close timeout): a sender that gets
            // "closed" back may stop using the WebSocket before anyone flushes it.
            ready!(self.poll_flush_bounded(cx, slot));
            self.going_away_flush = false;
        }
        if let Some(waited) = self.dead {
            return Poll::Ready(Err(Error::heartbeat(waited)));
        }
        if self.close_sent {
            return Poll::Ready(Err(Error::closed()));
        }
        while self.pending_write() > self.config.write_high_water {
            ready!(self.poll_write_buf(cx, slot))?;
        }
        Poll::Ready(Ok(()))
    }

    /// Queues one frame; call after [`Core::poll_ready`].
    pub(crate) fn start_send(&mut self, out: Outgoing<'_>) -> Result<()> {
        self.before_send()?;
        self.queue(out)
    }

    /// Sends one frame as far as the socket takes it now and queues the rest; call after
    /// [`Core::poll_ready`], then [`Core::poll_flush`]. Once this returns `Ok` the frame is
    /// written or queued, exactly as after [`Core::start_send`].
    ///
    /// A server's uncompressed, unfragmented data frame with nothing queued ahead of it goes
    /// out in one vectored write, header and the caller's bytes, and only what the socket did
    /// not take is copied into the write buffer: one copy of the payload fewer per message.
    /// Everything else is queued as by [`Core::start_send`].
    pub(crate) fn send_now(
        &mut self,
        cx: &mut Context<'_>,
        slot: Slot,
        out: Outgoing<'_>,
    ) -> Result<()> {
        self.before_send()?;
        let (text, payload) = match out {
            Outgoing::Text(s) => (true, s.as_bytes()),
            Outgoing::Binary(b) => (false, b),
            _ => return self.queue(out),
        };
        let verbatim = self.vectored
            && payload.len() >= VERBATIM_MIN
            && self.pending_write() == 0
            && self.encoder.is_verbatim(payload.len())
            && self
                .config
                .fragment_size
                .is_none_or(|size| payload.len() <= size.max(1));
        if !verbatim {
            return self.queue(out);
        }
        self.compact();
        self.encoder
            .verbatim_header(text, payload.len(), &mut self.wbuf);
        let head = self.wbuf.len();
        let bufs = [IoSlice::new(&self.wbuf), IoSlice::new(payload)];
        let res = match &self.fan {
            Some((w, waker)) => {
                w.register(slot, cx.waker());
                let waker = waker.clone();
                Pin::new(&mut self.stream)
                    .poll_write_vectored(&mut Context::from_waker(&waker), &bufs)
            }
            None => Pin::new(&mut self.stream).poll_write_vectored(cx, &bufs),
        };
        let n = match res {
            Poll::Ready(Ok(n)) => n,
            // Not writable now (or a zero write, which the flush reports): queue it all.
            Poll::Pending => 0,
            Poll::Ready(Err(e)) => {
                self.wbuf.clear();
                return Err(e.into());
            }
        };
        if n == head {
            // Most likely a stream without vectored writes, which wrote the first slice only.
            self.vectored = false;
        }
        if n >= head {
            self.wbuf.clear();
            self.wbuf
                .extend_from_slice(&payload[(n - head).min(payload.len())..]);
        } else {
            self.wbuf.extend_from_slice(payload);
            self.wpos = n;
        }
        Ok(())
    }

    /// The checks and the control frames that go ahead of every frame sent.
    fn before_send(&mut self) -> Result<()> {
        if let Some(waited) = self.dead {
            return Err(Error::heartbeat(waited));
        }
        if self.close_sent {
            return Err(Error::closed());
        }
        self.queue_pong();
        // A sender keeps the heartbeat's pings going even while nobody receives (the pong is
        // then checked by the next receive).
        if self.heartbeat.as_mut().is_some_and(Heartbeat::ping_due) {
            self.queue_control(OpCode::Ping, b"");
        }
        Ok(())
    }

    /// Queues one frame behind whatever is queued.
    fn queue(&mut self, out: Outgoing<'_>) -> Result<()> {
        self.compact();
        let fragment = self.config.fragment_size;
        match out {
            Outgoing::Text(s) => self.encoder.data(
                true,
                s.as_bytes(),
                &mut self.wbuf,
                fragment,
                &mut self.bounds,
            ),
            Outgoing::Binary(b) => {
                self.encoder
                    .data(false, b, &mut self.wbuf, fragment, &mut self.bounds)
            }
            Outgoing::Ping(p) | Outgoing::Pong(p) if p.len() > 125 => {
                return Err(invalid("control frame payload over 125 bytes"));
            }
            Outgoing::Ping(p) => self.queue_control(OpCode::Ping, p),
            Outgoing::Pong(p) => self.queue_control(OpCode::Pong, p),
            Outgoing::Close(frame) => {
                if let Some(f) = frame {
                    if !f.code.is_sendable() {
                        return Err(invalid("close code may not be sent"));
                    }
                }
                self.queue_close(frame);
            }
        }
        Ok(())
    }

    /// Writes everything queued.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>, slot: Slot) -> Poll<Result<()>> {
        Poll::Ready(ready!(self.poll_write_buf(cx, slot)).map_err(Error::from))
    }

    /// Queues a normal close if none was sent, flushes, and shuts the stream's write side
    /// (servers only: clients leave that to the server, RFC 6455 §7.1.1).
    pub(crate) fn poll_close(&mut self, cx: &mut Context<'_>, slot: Slot) -> Poll<Result<()>> {
        if !self.close_sent {
            self.queue_close(Some(&CloseFrame::new(CloseCode::NORMAL, "")));
        }
        ready!(self.poll_flush(cx, slot))?;
        if self.role == Role::Server {
            ready!(Pin::new(&mut self.stream).poll_close(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    /// Drops the connection after a failed close handshake.
    pub(crate) fn abort(&mut self, cx: &mut Context<'_>) {
        self.shutdown_once(cx);
        self.phase = Phase::Closed;
    }
}

enum EventError {
    Io(io::Error),
    Protocol(ProtocolError),
}

fn invalid(msg: &'static str) -> Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::FrameHeader;

    /// An in-memory stream that takes at most `limit` bytes per write and records each write;
    /// `vectored: false` keeps the `AsyncWrite` default (first non-empty slice only).
    struct Wire {
        out: Vec<u8>,
        limit: usize,
        vectored: bool,
        writes: usize,
    }

    impl AsyncRead for Wire {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Pending
        }
    }

    impl AsyncWrite for Wire {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = buf.len().min(self.limit);
            self.out.extend_from_slice(&buf[..n]);
            self.writes += 1;
            Poll::Ready(Ok(n))
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            if !self.vectored {
                let first = bufs
                    .iter()
                    .find(|b| !b.is_empty())
                    .map_or(&[][..], |b| &**b);
                return self.poll_write(cx, first);
            }
            let mut left = self.limit;
            for b in bufs {
                let n = b.len().min(left);
                self.out.extend_from_slice(&b[..n]);
                left -= n;
            }
            self.writes += 1;
            Poll::Ready(Ok(self.limit - left))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// Sends `payloads` as binary messages through `send_now` + `poll_flush`, and returns the
    /// payloads decoded back from the wire and the number of writes.
    fn send_all(limit: usize, vectored: bool, payloads: &[Vec<u8>]) -> (Vec<Vec<u8>>, usize) {
        let wire = Wire {
            out: Vec::new(),
            limit,
            vectored,
            writes: 0,
        };
        let mut core = Core::new(wire, Role::Server, Config::default(), None, &[]);
        let mut cx = Context::from_waker(Waker::noop());
        for p in payloads {
            assert!(core.poll_ready(&mut cx, Slot::Writer).is_ready());
            core.send_now(&mut cx, Slot::Writer, Outgoing::Binary(p))
                .unwrap();
            assert!(matches!(
                core.poll_flush(&mut cx, Slot::Writer),
                Poll::Ready(Ok(()))
            ));
        }
        let mut wire = &core.stream.out[..];
        let mut got = Vec::new();
        while !wire.is_empty() {
            let (h, n) = FrameHeader::decode(wire).unwrap().unwrap();
            assert!(h.fin && h.opcode == OpCode::Binary && h.mask.is_none());
            got.push(wire[n..n + h.len as usize].to_vec());
            wire = &wire[n + h.len as usize..];
        }
        (got, core.stream.writes)
    }

    fn payloads() -> Vec<Vec<u8>> {
        [10, VERBATIM_MIN, 16 << 10, 70_000, 3]
            .iter()
            .map(|&len| (0..len).map(|i| (i * 7) as u8).collect())
            .collect()
    }

    #[test]
    fn verbatim_frames_survive_every_partial_write() {
        let want = payloads();
        for limit in [1, 2, 3, 4, 5, 9, 10, 11, 1000, 2052, 16 << 10, usize::MAX] {
            let (got, _) = send_all(limit, true, &want);
            assert_eq!(got, want, "limit {limit}");
        }
    }

    #[test]
    fn a_whole_verbatim_frame_is_one_write() {
        let (got, writes) = send_all(usize::MAX, true, &payloads());
        assert_eq!(got, payloads());
        assert_eq!(writes, payloads().len());
    }

    #[test]
    fn a_stream_without_vectored_writes_falls_back_to_one_buffer() {
        let want = payloads();
        let (got, writes) = send_all(usize::MAX, false, &want);
        assert_eq!(got, want);
        // The first large message learns that only the header went (one extra write); every
        // other message is one write from the write buffer.
        assert_eq!(writes, want.len() + 1);
    }
}
