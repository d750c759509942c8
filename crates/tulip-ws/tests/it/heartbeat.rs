//! aiohttp's WebSocket options seen from the wire: the heartbeat against a peer that never
//! answers, autoping and autoclose off, the receive timeout, and fragmented sends with control
//! frames between the fragments. Raw peers on blocking sockets read and write the frames.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tulip_reactor::{Async, block_on};
use tulip_ws::{ClientOptions, CloseCode, Message, ServerOptions, WebSocket};

type Ws = WebSocket<Async<TcpStream>>;

/// A frame as the raw peers see it: (first byte, unmasked payload).
type Frame = (u8, Vec<u8>);

/// Reads one frame.
fn read_frame(c: &mut impl Read) -> io::Result<Frame> {
    let mut h = [0u8; 2];
    c.read_exact(&mut h)?;
    let len = match h[1] & 0x7F {
        126 => {
            let mut b = [0u8; 2];
            c.read_exact(&mut b)?;
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            c.read_exact(&mut b)?;
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    let mut key = [0u8; 4];
    if h[1] & 0x80 != 0 {
        c.read_exact(&mut key)?;
    }
    let mut payload = vec![0; len as usize];
    c.read_exact(&mut payload)?;
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
    Ok((h[0], payload))
}

/// A masked client frame with a short payload.
fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x21, 0x43, 0x65, 0x07];
    let mut out = vec![first, 0x80 | payload.len() as u8];
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

/// A server that answers the opening handshake, then only reads: every frame it gets goes to
/// the channel, which closes when the client's side of the connection ends. It never answers
/// a ping.
fn silent_server() -> (String, mpsc::Receiver<Frame>, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let (mut c, _) = listener.accept().unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            c.read_exact(&mut b).unwrap();
            head.push(b[0]);
        }
        let head = String::from_utf8(head).unwrap();
        let key = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| value.trim())
            })
            .unwrap();
        write!(
            c,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n\r\n",
            tulip_ws::accept_key(key)
        )
        .unwrap();
        while let Ok(frame) = read_frame(&mut c) {
            if tx.send(frame).is_err() {
                break;
            }
        }
    });
    (url, rx, handle)
}

/// A one-connection tulip server running `serve`.
fn tulip_server<F, Fut>(options: ServerOptions, serve: F) -> (String, JoinHandle<()>)
where
    F: FnOnce(Ws) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        block_on(async move {
            let stream = Async::new(listener.accept().unwrap().0).unwrap();
            let (ws, _) = tulip_ws::accept(stream, &options).await.unwrap();
            serve(ws).await;
        })
    });
    (url, handle)
}

/// A raw client that did the handshake with the server at `url`.
fn raw_client(url: &str) -> TcpStream {
    let addr = url.trim_start_matches("ws://").trim_end_matches('/');
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        c.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    c
}

async fn connect(url: &str, options: &ClientOptions) -> Ws {
    let addr = url.trim_start_matches("ws://").trim_end_matches('/');
    let stream = Async::<TcpStream>::connect(addr.parse().unwrap())
        .await
        .unwrap();
    tulip_ws::client_handshake(stream, url, options)
        .await
        .unwrap()
        .0
}

fn heartbeat_client(interval: Duration) -> ClientOptions {
    let mut opts = ClientOptions::default();
    opts.config.heartbeat = Some(interval);
    opts.config.close_timeout = Duration::from_millis(500);
    opts
}

#[test]
fn heartbeat_drops_a_peer_that_never_answers() {
    let (url, frames, server) = silent_server();
    let interval = Duration::from_millis(40);
    let start = Instant::now();
    let err = block_on(async {
        let mut ws = connect(&url, &heartbeat_client(interval)).await;
        let err = ws.receive().await.unwrap_err();
        // Sending after the failure reports the same cause rather than a bare "closed".
        let again = ws.send_text("late").await.unwrap_err();
        assert!(again.is_heartbeat(), "{again}");
        err
    });
    let took = start.elapsed();
    assert!(err.is_heartbeat() && err.is_timeout(), "{err:?}");
    assert_eq!(err.close_code(), Some(CloseCode::ABNORMAL));
    assert!(
        err.to_string()
            .contains("no pong within 20ms after a heartbeat ping"),
        "{err}"
    );
    // One interval of silence, the ping, half an interval for the pong.
    assert!(took >= interval + interval / 2, "failed after {took:?}");
    assert!(took < Duration::from_secs(3), "failed only after {took:?}");
    // The peer saw one empty ping, then the connection end: no close frame (1006).
    assert_eq!(frames.recv().unwrap(), (0x89, Vec::new()));
    assert!(frames.recv().is_err(), "nothing after the ping");
    server.join().unwrap();
}

#[test]
fn heartbeat_keeps_a_quiet_live_connection_and_hides_its_pongs() {
    let (tx, pings) = mpsc::channel();
    let (url, server) = tulip_server(ServerOptions::default(), |mut ws| async move {
        while let Ok(m) = ws.receive().await {
            match m {
                Message::Ping(p) => tx.send(p).unwrap(),
                Message::Text(t) => ws.send_text(&t).await.unwrap(),
                Message::Close(_) => break,
                _ => {}
            }
        }
    });
    block_on(async {
        // A pong wait of 50 ms: room for a loaded machine to schedule the server's thread.
        let mut ws = connect(&url, &heartbeat_client(Duration::from_millis(100))).await;
        // Six intervals of an otherwise silent connection: receive sees nothing (the pongs
        // belong to the heartbeat) and the connection stays up.
        let quiet = tulip_reactor::timeout(Duration::from_millis(600), ws.receive()).await;
        assert!(quiet.is_err(), "nothing to receive, got {quiet:?}");
        ws.send_text("still here").await.unwrap();
        assert_eq!(ws.receive_text().await.unwrap(), "still here");
        ws.close(CloseCode::NORMAL, "").await.unwrap();
    });
    server.join().unwrap();
    let seen: Vec<Vec<u8>> = pings.try_iter().collect();
    assert!(seen.len() >= 3, "only {} heartbeat pings", seen.len());
    assert!(seen.iter().all(Vec::is_empty));
}

#[test]
fn a_client_that_only_sends_still_pings_and_the_next_receive_judges_the_pong() {
    let (url, frames, server) = silent_server();
    let interval = Duration::from_millis(20);
    block_on(async {
        let mut ws = connect(&url, &heartbeat_client(interval)).await;
        let mut tick = tulip_reactor::interval(interval);
        // Six intervals of sending without receiving.
        for i in 0..6 {
            tick.tick().await;
            ws.send_text(&format!("{i}")).await.unwrap();
        }
        let err = ws.receive().await.unwrap_err();
        assert!(err.is_heartbeat(), "{err}");
    });
    let seen: Vec<Frame> = frames.iter().collect();
    let pings = seen.iter().filter(|f| f.0 == 0x89).count();
    let texts = seen.iter().filter(|f| f.0 == 0x81).count();
    assert_eq!(texts, 6, "{seen:?}");
    assert!(pings >= 1, "a sending client pinged: {seen:?}");
    server.join().unwrap();
}

#[test]
fn split_read_half_drives_the_heartbeat_while_the_writer_sends() {
    let (url, frames, server) = silent_server();
    let ws = block_on(connect(&url, &heartbeat_client(Duration::from_millis(30))));
    let (mut read, mut write) = ws.split();
    let reader = std::thread::spawn(move || block_on(read.receive()));
    let err = reader.join().unwrap().unwrap_err();
    assert!(err.is_heartbeat(), "{err}");
    let late = block_on(write.send_text("after")).unwrap_err();
    assert!(late.is_heartbeat(), "{late}");
    assert_eq!(frames.recv().unwrap(), (0x89, Vec::new()));
    server.join().unwrap();
}

#[test]
fn autoping_off_hands_pings_to_the_application() {
    let mut opts = ServerOptions::default();
    opts.config.autoping = false;
    let (url, server) = tulip_server(opts, |mut ws| async move {
        let Message::Ping(p) = ws.receive().await.unwrap() else {
            panic!("expected the ping")
        };
        ws.send_text("got it").await.unwrap();
        ws.pong(&p).await.unwrap();
        assert!(matches!(ws.receive().await, Ok(Message::Close(_))));
    });
    let mut c = raw_client(&url);
    c.write_all(&masked(0x89, b"hb")).unwrap();
    // No automatic pong: the application's text comes first, then its own pong.
    assert_eq!(read_frame(&mut c).unwrap(), (0x81, b"got it".to_vec()));
    assert_eq!(read_frame(&mut c).unwrap(), (0x8A, b"hb".to_vec()));
    c.write_all(&masked(0x88, b"\x03\xe8")).unwrap();
    assert_eq!(read_frame(&mut c).unwrap().0, 0x88);
    server.join().unwrap();
}

#[test]
fn autoclose_off_hands_the_close_over_and_the_application_answers() {
    let mut opts = ServerOptions::default();
    opts.config.autoclose = false;
    opts.config.close_timeout = Duration::from_secs(30);
    let (url, server) = tulip_server(opts, |mut ws| async move {
        match ws.receive().await.unwrap() {
            Message::Close(Some(f)) => assert_eq!(f.code, CloseCode::NORMAL),
            other => panic!("expected the close, got {other:?}"),
        }
        // Not answered yet: receiving says closed, sending is still allowed.
        assert!(ws.receive().await.unwrap_err().is_closed());
        ws.send_text("last words").await.unwrap();
        let start = Instant::now();
        ws.close(CloseCode::GOING_AWAY, "bye").await.unwrap();
        // The peer's close already arrived: no wait for another (the timeout is 30 s).
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(ws.is_closed());
    });
    let mut c = raw_client(&url);
    c.write_all(&masked(0x88, b"\x03\xe8")).unwrap();
    assert_eq!(read_frame(&mut c).unwrap(), (0x81, b"last words".to_vec()));
    let (op, payload) = read_frame(&mut c).unwrap();
    assert_eq!(op, 0x88);
    assert_eq!(&payload[..2], &1001u16.to_be_bytes());
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    assert!(
        rest.is_empty(),
        "the server ends the connection after its close"
    );
    server.join().unwrap();
}

#[test]
fn receive_timeout_fails_one_receive_and_keeps_the_connection() {
    let (url, server) = tulip_server(ServerOptions::default(), |mut ws| async move {
        while let Ok(m) = ws.receive().await {
            match m {
                Message::Text(t) => ws.send_text(&t).await.unwrap(),
                Message::Close(_) => break,
                _ => {}
            }
        }
    });
    block_on(async {
        let mut opts = ClientOptions::default();
        opts.config.receive_timeout = Some(Duration::from_millis(30));
        opts.config.close_timeout = Duration::from_millis(500);
        let mut ws = connect(&url, &opts).await;
        let start = Instant::now();
        let err = ws.receive().await.unwrap_err();
        assert!(err.is_receive_timeout() && err.is_timeout(), "{err:?}");
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert!(err.to_string().contains("still open"), "{err}");
        assert!(!ws.is_closed());
        ws.send_text("after the timeout").await.unwrap();
        assert_eq!(ws.receive_text().await.unwrap(), "after the timeout");
        ws.close(CloseCode::NORMAL, "").await.unwrap();
    });
    server.join().unwrap();
}

#[test]
fn fragmented_sends_let_control_frames_through_between_fragments() {
    let mut opts = ServerOptions::default();
    opts.config.fragment_size = Some(16);
    let (url, server) = tulip_server(opts, |mut ws| async move {
        let text: String = ('a'..='z').cycle().take(40).collect();
        ws.send_text(&text).await.unwrap();
        // Queue a long binary message and a ping without flushing: the ping goes in after
        // the first fragment, not after the whole message.
        ws.feed(Message::binary(vec![9u8; 40])).await.unwrap();
        ws.feed(Message::Ping(b"mid".to_vec())).await.unwrap();
        // A second control frame keeps its order behind the first.
        ws.feed(Message::Pong(b"2nd".to_vec())).await.unwrap();
        ws.flush().await.unwrap();
        assert!(matches!(ws.receive().await, Ok(Message::Close(_))));
    });
    let mut c = raw_client(&url);
    let frames: Vec<Frame> = (0..8).map(|_| read_frame(&mut c).unwrap()).collect();
    let ops: Vec<u8> = frames.iter().map(|f| f.0).collect();
    assert_eq!(ops, [0x01, 0x00, 0x80, 0x02, 0x89, 0x8A, 0x00, 0x80]);
    let sizes: Vec<usize> = frames.iter().map(|f| f.1.len()).collect();
    assert_eq!(sizes, [16, 16, 8, 16, 3, 3, 16, 8]);
    assert_eq!(frames[4].1, b"mid");
    assert_eq!(frames[5].1, b"2nd");
    let text: Vec<u8> = frames[..3].iter().flat_map(|f| f.1.clone()).collect();
    assert_eq!(
        text,
        ('a'..='z').cycle().take(40).collect::<String>().as_bytes()
    );
    c.write_all(&masked(0x88, b"\x03\xe8")).unwrap();
    assert_eq!(read_frame(&mut c).unwrap().0, 0x88);
    server.join().unwrap();
}

#[test]
fn fragmented_compressed_megabyte_round_trips_between_tulip_peers() {
    for deflate in [false, true] {
        let mut s = ServerOptions::default();
        s.config.fragment_size = Some(16 << 10);
        let mut c = ClientOptions::default();
        c.config.fragment_size = Some(16 << 10);
        c.config.close_timeout = Duration::from_millis(500);
        if deflate {
            s.config.deflate = Some(tulip_ws::DeflateConfig::default());
            c.config.deflate = Some(tulip_ws::DeflateConfig::default());
        }
        let (url, server) = tulip_server(s, |mut ws| async move {
            while let Ok(m) = ws.receive().await {
                match m {
                    m @ (Message::Binary(_) | Message::Text(_)) => ws.send(m).await.unwrap(),
                    Message::Close(_) => break,
                    _ => {}
                }
            }
        });
        block_on(async {
            let mut ws = connect(&url, &c).await;
            let bin: Vec<u8> = (0..1u32 << 20).map(|i| (i * 31 % 251) as u8).collect();
            ws.send_binary(&bin).await.unwrap();
            assert_eq!(ws.receive().await.unwrap(), Message::Binary(bin));
            let text = "é".repeat(300_000);
            ws.send_text(&text).await.unwrap();
            assert_eq!(ws.receive_text().await.unwrap(), text, "deflate {deflate}");
            ws.close(CloseCode::NORMAL, "").await.unwrap();
        });
        server.join().unwrap();
    }
}
