//! HTTP/2 limits, attacks and shutdown, with raw frames over a blocking socket: the client
//! here is deliberately dumb so it can misbehave (floods, resets, a shut window).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tulip_http::{App, Request, Response, ServerConfig};

use crate::support::TestServer;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0;
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const PING: u8 = 6;
const GOAWAY: u8 = 7;
const CONTINUATION: u8 = 9;
const END_STREAM: u8 = 1;
const ACK: u8 = 1;
const END_HEADERS: u8 = 4;
const REFUSED_STREAM: u32 = 7;
const CANCEL: u32 = 8;

#[derive(Debug)]
struct Frame {
    ty: u8,
    flags: u8,
    stream: u32,
    payload: Vec<u8>,
}

impl Frame {
    fn code(&self) -> u32 {
        // RST_STREAM: the code; GOAWAY: last stream id, then the code.
        let at = if self.ty == GOAWAY { 4 } else { 0 };
        u32::from_be_bytes(self.payload[at..at + 4].try_into().unwrap())
    }
}

fn frame(ty: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(9 + payload.len());
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    f.extend_from_slice(&[ty, flags]);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An HPACK integer with an `n`-bit prefix and the first byte's high bits `high`.
fn hpack_int(out: &mut Vec<u8>, high: u8, n: u32, mut v: usize) {
    let max = (1usize << n) - 1;
    if v < max {
        out.push(high | v as u8);
        return;
    }
    out.push(high | max as u8);
    v -= max;
    while v >= 128 {
        out.push((v % 128) as u8 | 0x80);
        v /= 128;
    }
    out.push(v as u8);
}

/// A literal header never indexed, with a literal name.
fn hpack_literal(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.push(0x00);
    hpack_int(out, 0, 7, name.len());
    out.extend_from_slice(name);
    hpack_int(out, 0, 7, value.len());
    out.extend_from_slice(value);
}

/// A `GET path` header block: `:method GET` and `:scheme http` from the static table,
/// `:path` and `:authority` literal with an indexed name.
fn get_block(path: &str) -> Vec<u8> {
    let mut b = vec![0x82, 0x86];
    b.push(0x04);
    hpack_int(&mut b, 0, 7, path.len());
    b.extend_from_slice(path.as_bytes());
    b.push(0x01);
    hpack_int(&mut b, 0, 7, 1);
    b.push(b'x');
    b
}

/// A `POST path` header block (`:method POST` is static index 3), body to follow.
fn post(stream: u32, path: &str) -> Vec<u8> {
    let mut b = get_block(path);
    b[0] = 0x83;
    frame(HEADERS, END_HEADERS, stream, &b)
}

fn get(stream: u32, path: &str) -> Vec<u8> {
    frame(HEADERS, END_HEADERS | END_STREAM, stream, &get_block(path))
}

struct Client {
    s: TcpStream,
    /// The server's SETTINGS parameters.
    settings: Vec<(u16, u32)>,
}

impl Client {
    /// Connects, exchanges SETTINGS (ours: `settings`) and waits until the server has our ACK
    /// and settings (a PING round trip), so its limits are in force.
    fn connect(srv: &TestServer, settings: &[(u16, u32)]) -> Client {
        let s = srv.connect();
        let mut c = Client {
            s,
            settings: Vec::new(),
        };
        let mut ours = Vec::new();
        for (id, v) in settings {
            ours.extend_from_slice(&id.to_be_bytes());
            ours.extend_from_slice(&v.to_be_bytes());
        }
        c.send(&[PREFACE, &frame(SETTINGS, 0, 0, &ours)].concat());
        loop {
            let f = c.read().expect("server SETTINGS");
            if f.ty == SETTINGS && f.flags & ACK == 0 {
                c.settings = f
                    .payload
                    .chunks(6)
                    .map(|p| {
                        (
                            u16::from_be_bytes([p[0], p[1]]),
                            u32::from_be_bytes([p[2], p[3], p[4], p[5]]),
                        )
                    })
                    .collect();
                break;
            }
        }
        c.send(&frame(SETTINGS, ACK, 0, &[]));
        c.ping_round_trip();
        c
    }

    fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).expect("write");
    }

    /// The next frame; `Err` at EOF or on a reset.
    fn read(&mut self) -> std::io::Result<Frame> {
        let mut head = [0u8; 9];
        self.s.read_exact(&mut head)?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut payload = vec![0; len];
        self.s.read_exact(&mut payload)?;
        Ok(Frame {
            ty: head[3],
            flags: head[4],
            stream: u32::from_be_bytes(head[5..9].try_into().unwrap()) & 0x7fff_ffff,
            payload,
        })
    }

    /// Sends a PING and reads up to its ACK: every frame sent before it was processed.
    /// Returns the frames read meanwhile.
    fn ping_round_trip(&mut self) -> Vec<Frame> {
        self.send(&frame(PING, 0, 0, b"syncsync"));
        let mut seen = Vec::new();
        loop {
            let f = self.read().expect("PING ACK");
            if f.ty == PING && f.flags & ACK != 0 && f.payload == b"syncsync" {
                return seen;
            }
            seen.push(f);
        }
    }

    /// Reads until a frame matching `want`, or the end of the connection (`None`).
    fn read_until(&mut self, mut want: impl FnMut(&Frame) -> bool) -> Option<Frame> {
        loop {
            match self.read() {
                Ok(f) if want(&f) => return Some(f),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// Reads one response on `stream`: its header block and its body.
    fn response(&mut self, stream: u32) -> (Vec<u8>, Vec<u8>) {
        let (mut head, mut body) = (Vec::new(), Vec::new());
        loop {
            let f = self.read().expect("response frame");
            if f.stream != stream {
                continue;
            }
            match f.ty {
                HEADERS => head.extend_from_slice(&f.payload),
                DATA => body.extend_from_slice(&f.payload),
                RST_STREAM => panic!("stream {stream} reset: {}", f.code()),
                _ => {}
            }
            if f.flags & END_STREAM != 0 {
                return (head, body);
            }
        }
    }
}

/// `:status 200` as the server's HPACK encodes it (static table index 8).
const STATUS_200: u8 = 0x88;

/// Counts live handlers of `/hang`, which never answers.
#[derive(Default)]
struct Live {
    now: AtomicUsize,
    max: AtomicUsize,
    started: AtomicUsize,
}

struct LiveGuard(Arc<Live>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

fn app(live: Arc<Live>) -> App {
    App::new()
        .route_with_limit(
            tulip_http::Method::POST,
            "/small",
            1000,
            |mut r: Request| async move { r.bytes().await.map(Response::bytes) },
        )
        .post("/never-read", |_r: Request| {
            std::future::pending::<&'static str>()
        })
        .get("/", |_r: Request| async { "root" })
        .get("/big", |_r: Request| async {
            Response::bytes(vec![b'b'; 1 << 20])
        })
        .get("/hang", move |_r: Request| {
            let live = live.clone();
            async move {
                let n = live.now.fetch_add(1, Ordering::SeqCst) + 1;
                live.max.fetch_max(n, Ordering::SeqCst);
                live.started.fetch_add(1, Ordering::SeqCst);
                let _guard = LiveGuard(live);
                std::future::pending::<()>().await;
                "never"
            }
        })
}

#[test]
fn max_concurrent_streams_refuses_the_excess() {
    let mut cfg = ServerConfig::default();
    cfg.http2_max_concurrent_streams = 2;
    let live = Arc::new(Live::default());
    let srv = TestServer::start_with(app(live.clone()), cfg);
    let mut c = Client::connect(&srv, &[]);
    assert!(c.settings.contains(&(3, 2)), "{:?}", c.settings);
    c.send(&[get(1, "/hang"), get(3, "/hang"), get(5, "/hang")].concat());
    let rst = c.read_until(|f| f.ty == RST_STREAM).expect("a RST_STREAM");
    assert_eq!((rst.stream, rst.code()), (5, REFUSED_STREAM));
    // The two admitted streams run; a stream slot freed (reset by the client) admits the next.
    c.send(&frame(RST_STREAM, 0, 1, &CANCEL.to_be_bytes()));
    c.ping_round_trip();
    c.send(&get(7, "/"));
    let (head, body) = c.response(7);
    assert_eq!(head.first(), Some(&STATUS_200));
    assert_eq!(body, b"root");
    assert!(live.max.load(Ordering::SeqCst) <= 2);
}

#[test]
fn header_list_over_the_limit_gets_431_and_the_connection_goes_on() {
    let srv = TestServer::start(app(Arc::default()));
    let mut c = Client::connect(&srv, &[]);
    assert!(c.settings.contains(&(6, 16 * 1024)), "{:?}", c.settings);
    let mut block = get_block("/");
    hpack_literal(&mut block, b"x-big", &vec![b'a'; 20 * 1024]);
    let (first, rest) = block.split_at(16 * 1024);
    c.send(
        &[
            frame(HEADERS, END_STREAM, 1, first),
            frame(CONTINUATION, END_HEADERS, 1, rest),
        ]
        .concat(),
    );
    let f = c
        .read_until(|f| f.stream == 1 && (f.ty == HEADERS || f.ty == RST_STREAM))
        .expect("an answer on stream 1");
    // `:status: 431` as h2 encodes it: literal, indexed name 8, Huffman-coded "431"
    // (RFC 7541 Appendix B: '4' 011010, '3' 011001, '1' 00001, then EOS padding).
    assert_eq!(f.ty, HEADERS, "{f:?}");
    assert_eq!(f.payload, [0x48, 0x83, 0x69, 0x90, 0xff], "{f:?}");
    assert_ne!(f.flags & END_STREAM, 0);
    c.send(&get(3, "/"));
    let (head, body) = c.response(3);
    assert_eq!(head.first(), Some(&STATUS_200));
    assert_eq!(body, b"root");
}

#[test]
fn rapid_reset_is_bounded() {
    let live = Arc::new(Live::default());
    let srv = TestServer::start(app(live.clone()));
    let mut c = Client::connect(&srv, &[]);
    // CVE-2023-44487: open and cancel streams as fast as possible.
    let mut burst = Vec::new();
    for i in 0..5000u32 {
        let id = 1 + 2 * i;
        burst.extend_from_slice(&get(id, "/hang"));
        burst.extend_from_slice(&frame(RST_STREAM, 0, id, &CANCEL.to_be_bytes()));
    }
    // The server may close the connection mid-burst: that is a passing outcome.
    let wrote = c.s.write_all(&burst);
    let ended = c.read_until(|f| f.ty == GOAWAY);
    let max = live.max.load(Ordering::SeqCst);
    assert!(max <= 100, "{max} handlers ran at once");
    match ended {
        // h2 answers a flood of resets it had to queue with ENHANCE_YOUR_CALM.
        Some(goaway) => assert_eq!(goaway.code(), 0xb, "{goaway:?}"),
        None => assert!(wrote.is_err(), "connection ended without GOAWAY"),
    }
    // The handlers of cancelled streams were dropped, not left running: a fresh connection
    // is served and the live count drains to 0 once the server processed the resets.
    let mut c2 = Client::connect(&srv, &[]);
    c2.send(&get(1, "/"));
    assert_eq!(c2.response(1).1, b"root");
    drop(c);
    c2.ping_round_trip();
    let started = live.started.load(Ordering::SeqCst);
    assert!(started <= 5000, "{started}");
}

#[test]
fn continuation_flood_closes_the_connection() {
    let srv = TestServer::start(app(Arc::default()));
    let mut c = Client::connect(&srv, &[]);
    let mut w = c.s.try_clone().unwrap();
    w.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    // An endless header block: HEADERS without END_HEADERS, then CONTINUATION after
    // CONTINUATION, each full of small literal headers.
    let writer = std::thread::spawn(move || {
        let mut piece = Vec::new();
        for i in 0..1000 {
            hpack_literal(&mut piece, format!("x-{i}").as_bytes(), b"v");
        }
        w.write_all(&frame(HEADERS, 0, 1, &get_block("/")))?;
        let cont = frame(CONTINUATION, 0, 1, &piece);
        let mut sent = 0usize;
        while sent < 64 << 20 {
            w.write_all(&cont)?;
            sent += cont.len();
        }
        Ok::<usize, std::io::Error>(sent)
    });
    let end = c.read_until(|f| f.ty == GOAWAY);
    let sent = writer.join().unwrap();
    assert!(
        end.is_some() || sent.is_err(),
        "the server took 64 MiB of CONTINUATION: {sent:?}"
    );
}

/// Writes `unit` over and over without reading; returns how many bytes went out before the
/// writes blocked (the server stopped reading) or the connection ended.
fn flood(c: &mut Client, unit: &[u8], max: usize) -> Result<usize, usize> {
    c.s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let batch: Vec<u8> = unit.repeat(1024);
    let mut sent = 0;
    while sent < max {
        match c.s.write(&batch) {
            Ok(n) => sent += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Ok(sent);
            }
            Err(_) => return Ok(sent),
        }
    }
    Err(sent)
}

#[test]
fn ping_flood_stalls_the_flooder_only() {
    let srv = TestServer::start(app(Arc::default()));
    let mut c = Client::connect(&srv, &[]);
    // Each PING asks for a PONG; a client that never reads them must be throttled by its own
    // socket (the server stops reading while a PONG is unsent), not buffered for.
    let stalled = flood(&mut c, &frame(PING, 0, 0, b"floodfld"), 256 << 20);
    assert!(stalled.is_ok(), "the server read 256 MiB of PINGs");
    let mut other = Client::connect(&srv, &[]);
    other.send(&get(1, "/"));
    assert_eq!(other.response(1).1, b"root");
}

#[test]
fn settings_flood_stalls_the_flooder_only() {
    let srv = TestServer::start(app(Arc::default()));
    let mut c = Client::connect(&srv, &[]);
    let stalled = flood(&mut c, &frame(SETTINGS, 0, 0, &[]), 256 << 20);
    assert!(stalled.is_ok(), "the server read 256 MiB of SETTINGS");
    let mut other = Client::connect(&srv, &[]);
    other.send(&get(1, "/"));
    assert_eq!(other.response(1).1, b"root");
}

#[test]
fn zero_window_reader_is_reset_then_idle_connection_closed() {
    let mut cfg = ServerConfig::default();
    cfg.write_timeout = Duration::from_millis(300);
    cfg.keep_alive_timeout = Duration::from_millis(300);
    let srv = TestServer::start_with(app(Arc::default()), cfg);
    // SETTINGS_INITIAL_WINDOW_SIZE = 0: the server may send headers but no data.
    let mut c = Client::connect(&srv, &[(4, 0)]);
    c.send(&get(1, "/big"));
    let mut got_head = false;
    let rst = c
        .read_until(|f| {
            got_head |= f.ty == HEADERS && f.stream == 1;
            assert!(f.ty != DATA, "data beyond a zero window: {f:?}");
            f.ty == RST_STREAM
        })
        .expect("the stalled stream is reset");
    assert!(got_head);
    assert_eq!((rst.stream, rst.code()), (1, CANCEL));
    // No stream left: after the keep-alive timeout, GOAWAY and the end of the connection.
    let goaway = c.read_until(|f| f.ty == GOAWAY).expect("GOAWAY when idle");
    assert_eq!(goaway.code(), 0);
    assert!(c.read_until(|_| false).is_none());
}

#[test]
fn graceful_shutdown_sends_goaway_and_lets_streams_finish() {
    let gate = Arc::new(tulip_sync::Event::new());
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let g = gate.clone();
    let app = App::new().get("/gate", move |_r: Request| {
        let g = g.clone();
        let started = started_tx.clone();
        async move {
            let _ = started.send(());
            g.wait().await;
            "finished"
        }
    });
    let srv = TestServer::start(app);
    let mut c = Client::connect(&srv, &[]);
    c.send(&get(1, "/gate"));
    started_rx.recv().unwrap();
    srv.stop.shutdown();
    let goaway = c.read_until(|f| f.ty == GOAWAY).expect("GOAWAY");
    assert_eq!(goaway.code(), 0);
    gate.set();
    let (head, body) = c.response(1);
    assert_eq!(head.first(), Some(&STATUS_200));
    assert_eq!(body, b"finished");
    assert!(
        c.read_until(|_| false).is_none(),
        "connection closes after its last stream"
    );
    srv.shutdown().unwrap();
}

#[test]
fn request_body_is_never_buffered_beyond_the_window() {
    let srv = TestServer::start(app(Arc::default()));
    let mut c = Client::connect(&srv, &[]);
    assert!(c.settings.contains(&(4, 64 * 1024)), "{:?}", c.settings);
    // A handler that never reads: the client may fill the stream window, and no more.
    c.send(&post(1, "/never-read"));
    let piece = vec![b'd'; 16 * 1024];
    for _ in 0..4 {
        c.send(&frame(DATA, 0, 1, &piece));
    }
    let seen = c.ping_round_trip();
    assert!(
        !seen.iter().any(|f| f.ty == 8 && f.stream == 1),
        "the window of an unread body was reopened: {seen:?}"
    );
    // One byte past the window is a flow-control violation, not a bigger buffer.
    c.send(&frame(DATA, 0, 1, b"x"));
    let rst = c
        .read_until(|f| f.ty == RST_STREAM || f.ty == GOAWAY)
        .unwrap();
    assert_eq!(rst.code(), 3, "FLOW_CONTROL_ERROR expected: {rst:?}");
}

#[test]
fn body_over_the_route_limit_without_length_gets_413() {
    let srv = TestServer::start(app(Arc::default()));
    let mut c = Client::connect(&srv, &[]);
    c.send(&post(1, "/small"));
    c.send(&frame(DATA, 0, 1, &[b'a'; 800]));
    c.send(&frame(DATA, END_STREAM, 1, &[b'a'; 800]));
    let f = c
        .read_until(|f| f.stream == 1 && (f.ty == HEADERS || f.ty == RST_STREAM))
        .unwrap();
    // `:status: 413`: literal with indexed name 8, Huffman "413" (the bytes checked against
    // Python's hpack decoder).
    assert_eq!(f.ty, HEADERS, "{f:?}");
    assert_eq!(f.payload[..5], [0x48, 0x83, 0x68, 0x2c, 0xff], "{f:?}");
    // Under the limit the same route answers.
    c.send(&post(3, "/small"));
    c.send(&frame(DATA, END_STREAM, 3, b"fits"));
    assert_eq!(c.response(3).1, b"fits");
}

#[test]
fn silent_request_body_times_out_with_408() {
    let mut cfg = ServerConfig::default();
    cfg.body_rate_grace = Duration::from_millis(200);
    let srv = TestServer::start_with(app(Arc::default()), cfg);
    let mut c = Client::connect(&srv, &[]);
    c.send(&post(1, "/small"));
    let f = c
        .read_until(|f| f.stream == 1 && (f.ty == HEADERS || f.ty == RST_STREAM))
        .unwrap();
    assert_eq!(f.ty, HEADERS, "{f:?}");
    // `:status: 408` is not in the static table either: literal, Huffman "408".
    assert_eq!(f.payload[..5], [0x48, 0x83, 0x68, 0x0f, 0x7f], "{f:?}");
}

#[test]
fn expect_100_continue_is_answered_when_the_handler_reads() {
    let srv = TestServer::start(app(Arc::default()));
    let mut c = Client::connect(&srv, &[]);
    let mut block = get_block("/small");
    block[0] = 0x83; // POST
    hpack_literal(&mut block, b"expect", b"100-continue");
    c.send(&frame(HEADERS, END_HEADERS, 1, &block));
    let interim = c
        .read_until(|f| f.stream == 1 && f.ty == HEADERS)
        .expect("an interim response");
    // `:status: 100`: literal, indexed name 8, Huffman "100"; the stream stays open.
    assert_eq!(interim.payload, [0x48, 0x82, 0x08, 0x01], "{interim:?}");
    assert_eq!(interim.flags & END_STREAM, 0);
    c.send(&frame(DATA, END_STREAM, 1, b"go on"));
    assert_eq!(c.response(1).1, b"go on");
}
