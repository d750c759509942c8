//! Protocol behaviour seen from a raw peer, backpressure, and split halves on two threads.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use tulip_reactor::{Async, block_on};
use tulip_ws::{ClientOptions, CloseCode, Message, ServerOptions};

/// A tulip server (echo) and a raw, blocking client that already did the handshake.
fn raw_peer() -> (
    TcpStream,
    std::thread::JoinHandle<Result<(), tulip_ws::Error>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        block_on(async move {
            let stream = Async::new(listener.accept().unwrap().0).unwrap();
            let (mut ws, _) = tulip_ws::accept(stream, &ServerOptions::default()).await?;
            loop {
                match ws.receive().await? {
                    Message::Text(t) => ws.send_text(&t).await?,
                    Message::Close(_) => return Ok(()),
                    _ => {}
                }
            }
        })
    });
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
    (c, server)
}

fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x11, 0x22, 0x33, 0x44];
    let mut out = vec![first, 0x80 | payload.len() as u8];
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

fn read_frame(c: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 2];
    c.read_exact(&mut h).unwrap();
    assert_eq!(h[1] & 0x80, 0, "servers do not mask");
    let mut payload = vec![0; (h[1] & 0x7F) as usize];
    c.read_exact(&mut payload).unwrap();
    (h[0], payload)
}

#[test]
fn ping_is_answered_with_pong_and_text_echoed() {
    let (mut c, server) = raw_peer();
    c.write_all(&masked(0x89, b"are you there")).unwrap();
    assert_eq!(read_frame(&mut c), (0x8A, b"are you there".to_vec()));
    // A ping between two fragments of a text message.
    c.write_all(&masked(0x01, b"hel")).unwrap();
    c.write_all(&masked(0x89, b"")).unwrap();
    c.write_all(&masked(0x80, b"lo")).unwrap();
    assert_eq!(read_frame(&mut c), (0x8A, Vec::new()));
    assert_eq!(read_frame(&mut c), (0x81, b"hello".to_vec()));
    c.write_all(&masked(0x88, b"\x03\xe8")).unwrap();
    assert_eq!(read_frame(&mut c), (0x88, b"\x03\xe8".to_vec()));
    assert!(server.join().unwrap().is_ok());
}

#[test]
fn protocol_errors_close_with_the_right_code() {
    let table: &[(Vec<u8>, u16)] = &[
        (vec![0x81, 0x01, b'x'], 1002),    // unmasked client frame
        (masked(0x83, b""), 1002),         // reserved opcode
        (masked(0x81, b"\xff"), 1007),     // invalid UTF-8
        (masked(0x80, b"x"), 1002),        // continuation without a message
        (masked(0x88, b"\x03\xed"), 1002), // close code 1005 on the wire
        (masked(0x09, b""), 1002),         // fragmented ping
    ];
    for (frame, code) in table {
        let (mut c, server) = raw_peer();
        c.write_all(frame).unwrap();
        let (op, payload) = read_frame(&mut c);
        assert_eq!(op, 0x88, "{frame:x?}");
        assert_eq!(
            u16::from_be_bytes([payload[0], payload[1]]),
            *code,
            "{frame:x?}"
        );
        let err = server.join().unwrap().unwrap_err();
        assert_eq!(err.close_code().map(|c| c.0), Some(*code));
        // The server drops the connection after failing it.
        let mut rest = Vec::new();
        let _ = c.read_to_end(&mut rest);
    }
}

#[test]
fn a_peer_that_stops_reading_stops_the_sender() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let server = std::thread::spawn(move || {
        block_on(async move {
            let stream = Async::new(listener.accept().unwrap().0).unwrap();
            let (ws, _) = tulip_ws::accept(stream, &ServerOptions::default())
                .await
                .unwrap();
            // Never read; hold the connection until the client is done.
            let _ = rx.recv();
            drop(ws);
        })
    });
    block_on(async {
        let stream = Async::<TcpStream>::connect(addr).await.unwrap();
        let url = format!("ws://{addr}/");
        let (mut ws, _) = tulip_ws::client_handshake(stream, &url, &ClientOptions::default())
            .await
            .unwrap();
        let chunk = vec![7u8; 64 << 10];
        let mut sent = 0usize;
        let res = tulip_reactor::timeout(Duration::from_millis(500), async {
            loop {
                ws.send_binary(&chunk).await.unwrap();
                sent += chunk.len();
                assert!(sent < 256 << 20, "sends never blocked");
            }
        })
        .await;
        assert!(res.is_err(), "the send loop must block");
        // Kernel buffers plus our high-water mark: far below what an unbounded queue would take.
        assert!(sent < 64 << 20, "sent {sent} bytes before blocking");
    });
    tx.send(()).unwrap();
    server.join().unwrap();
}

#[test]
fn split_halves_work_from_two_threads() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        block_on(async move {
            let stream = Async::new(listener.accept().unwrap().0).unwrap();
            let (mut ws, _) = tulip_ws::accept(stream, &ServerOptions::default())
                .await
                .unwrap();
            while let Ok(m) = ws.receive().await {
                match m {
                    Message::Text(t) => ws.send_text(&t).await.unwrap(),
                    Message::Close(_) => break,
                    _ => {}
                }
            }
        })
    });
    let ws = block_on(async {
        let stream = Async::<TcpStream>::connect(addr).await.unwrap();
        let mut opts = ClientOptions::default();
        opts.config.close_timeout = Duration::from_millis(500);
        tulip_ws::client_handshake(stream, &format!("ws://{addr}/"), &opts)
            .await
            .unwrap()
            .0
    });
    let (mut read, mut write) = ws.split();
    const N: usize = 200;
    let writer = std::thread::spawn(move || {
        block_on(async {
            for i in 0..N {
                write.send_text(&format!("message {i}")).await.unwrap();
            }
            write
        })
    });
    let read = std::thread::spawn(move || {
        block_on(async {
            for i in 0..N {
                assert_eq!(read.receive_text().await.unwrap(), format!("message {i}"));
            }
            read
        })
    });
    let mut write = writer.join().unwrap();
    let read = read.join().unwrap();
    block_on(write.close(CloseCode::NORMAL, "")).unwrap();
    let mut ws = read.reunite(write).unwrap();
    let end = block_on(async { ws.receive().await });
    assert!(matches!(end, Ok(Message::Close(_))), "{end:?}");
    server.join().unwrap();
}
