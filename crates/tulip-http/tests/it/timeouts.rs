//! Slow clients: header timeout from accept, idle keep-alive timeout, minimum body rate.

use std::io::Write;
use std::time::{Duration, Instant};

use tulip_http::ServerConfig;

use crate::support::{TestServer, closed_within, read_reply, request};
use crate::test_app;

fn short_timeouts() -> ServerConfig {
    let mut cfg = ServerConfig::default();
    cfg.header_timeout = Duration::from_millis(800);
    cfg.keep_alive_timeout = Duration::from_millis(500);
    cfg.body_rate_grace = Duration::from_millis(500);
    cfg.min_body_rate = 10_000;
    cfg
}

/// A client sending a byte every 100 ms is cut off by the header timeout while others are
/// served normally.
#[test]
fn slowloris_is_cut_off_and_service_continues() {
    let srv = TestServer::start_with(test_app(), short_timeouts());
    let addr = srv.addr;
    let slow = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        let start = Instant::now();
        let req = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
        for b in req {
            if s.write_all(&[*b]).is_err() {
                break;
            }
            // The slow client is the subject: one byte every 100 ms.
            std::thread::sleep(Duration::from_millis(100));
            if start.elapsed() > Duration::from_secs(4) {
                break;
            }
        }
        (
            start.elapsed(),
            read_reply(&mut s, &mut Vec::new(), false).map(|r| r.status),
        )
    });
    // Meanwhile, normal clients get answers promptly.
    for _ in 0..5 {
        let t = Instant::now();
        assert_eq!(
            request(addr, b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap()
                .text(),
            "Hello, fast"
        );
        assert!(t.elapsed() < Duration::from_millis(500));
        // Pacing, not synchronisation: the normal requests spread over the slowloris's life.
        std::thread::sleep(Duration::from_millis(100));
    }
    let (elapsed, status) = slow.join().unwrap();
    assert_eq!(status, Some(408), "the slow client gets 408");
    assert!(
        elapsed < Duration::from_secs(3),
        "cut off after {elapsed:?}"
    );
}

#[test]
fn silent_connection_is_closed_after_the_header_timeout() {
    let srv = TestServer::start_with(test_app(), short_timeouts());
    let mut s = srv.connect();
    let t = Instant::now();
    assert!(closed_within(&mut s, Duration::from_secs(3)));
    assert!(
        t.elapsed() >= Duration::from_millis(700),
        "closed too early: {:?}",
        t.elapsed()
    );
}

#[test]
fn idle_keep_alive_connection_is_closed() {
    let srv = TestServer::start_with(test_app(), short_timeouts());
    let mut s = srv.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(
        read_reply(&mut s, &mut Vec::new(), false).unwrap().status,
        200
    );
    let t = Instant::now();
    assert!(closed_within(&mut s, Duration::from_secs(3)));
    assert!(t.elapsed() >= Duration::from_millis(400));
}

#[test]
fn body_below_the_minimum_rate_is_cut_off() {
    let srv = TestServer::start_with(test_app(), short_timeouts());
    let mut s = srv.connect();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc")
        .unwrap();
    let t = Instant::now();
    let mut closed = false;
    for _ in 0..40 {
        if s.write_all(b"x").is_err() {
            closed = true;
            break;
        }
        // The trickle is the subject: 10 bytes a second, far below the minimum rate.
        std::thread::sleep(Duration::from_millis(100));
        if closed_within(&mut s, Duration::from_millis(1)) {
            closed = true;
            break;
        }
    }
    assert!(closed, "a trickling body must be cut off");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t.elapsed()
    );
}

/// A keep-alive connection idle past the buffer release (1 s) serves again, small and large
/// requests and pipelined ones, from freshly allocated buffers.
#[test]
fn idle_connection_serves_again_after_releasing_buffers() {
    let srv = TestServer::start(test_app());
    let mut s = srv.connect();
    let mut buf = Vec::new();
    s.write_all(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(
        read_reply(&mut s, &mut buf, false).unwrap().text(),
        "Hello, first"
    );
    // Idling past the 1 s buffer release is the subject, not synchronisation.
    std::thread::sleep(Duration::from_millis(1300));
    let big = format!(
        "GET /big HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n",
        "p".repeat(6000)
    );
    s.write_all(big.as_bytes()).unwrap();
    assert_eq!(
        read_reply(&mut s, &mut buf, false).unwrap().text(),
        "Hello, big"
    );
    assert_eq!(
        read_reply(&mut s, &mut buf, false).unwrap().text(),
        "Hello, after"
    );
    // And idle again, past the release, before a request with a body.
    std::thread::sleep(Duration::from_millis(1300));
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        .unwrap();
    assert_eq!(read_reply(&mut s, &mut buf, false).unwrap().text(), "hello");
}
