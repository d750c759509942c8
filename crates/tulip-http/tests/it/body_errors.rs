//! A request body that fails (too slow, over the limit, cut short, reset) ends the connection,
//! with the right answer when one can still be sent, whatever the handler made of the error.

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tulip_http::{App, Request, Response, ServerConfig};

use crate::support::{TestServer, closed_within, read_reply, request};

/// What the `/swallow` handler saw: 0 nothing yet, 1 an I/O error, 2 another error, 3 a body.
type Seen = Arc<AtomicUsize>;

fn app(seen: Seen) -> App {
    App::new()
        .post("/swallow", move |mut req: Request| {
            let seen = seen.clone();
            async move {
                // A careless handler: it ignores the body's error and claims success.
                let code = match req.bytes().await {
                    Ok(_) => 3,
                    Err(e) if e.is_io() => 1,
                    Err(_) => 2,
                };
                seen.store(code, Ordering::SeqCst);
                Response::text("ok")
            }
        })
        .post("/echo", |mut req: Request| async move {
            req.bytes().await.map(Response::bytes)
        })
        .get("/", |_req: Request| async { "alive" })
}

fn server() -> (TestServer, Seen) {
    let seen = Seen::default();
    let mut cfg = ServerConfig::default();
    cfg.body_rate_grace = Duration::from_millis(300);
    cfg.min_body_rate = 100_000;
    cfg.max_body = 64 * 1024;
    (TestServer::start_with(app(seen.clone()), cfg), seen)
}

fn still_serving(srv: &TestServer) {
    let r = request(
        srv.addr,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.text(), "alive");
}

/// Waits (bounded) until a handler recorded what its body read returned, and returns that.
fn wait_seen(seen: &Seen) -> usize {
    tulip_test_support::wait::until(
        Duration::from_secs(5),
        "the handler seeing its body read end",
        || Ok::<_, String>(Some(seen.load(Ordering::SeqCst)).filter(|&n| n != 0)),
    )
}

/// (path, request bytes, half-close after sending, expected status)
#[test]
fn failed_bodies_are_answered_and_closed() {
    let big_chunks: Vec<u8> = {
        let mut v =
            b"POST /PATH HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..20 {
            v.extend_from_slice(b"1000\r\n");
            v.extend(std::iter::repeat_n(b'a', 0x1000));
            v.extend_from_slice(b"\r\n");
        }
        v.extend_from_slice(b"0\r\n\r\n");
        v
    };
    let cases: &[(&str, Vec<u8>, bool, u16)] = &[
        // Too slow: 10 of 100 bytes, then silence past the grace period.
        (
            "slow",
            b"POST /PATH HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789".to_vec(),
            false,
            408,
        ),
        // Over the 64 KiB limit, chunked (no Content-Length to refuse up front).
        ("limit", big_chunks, false, 413),
        // Cut short: the client half-closes inside the body.
        (
            "short",
            b"POST /PATH HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789".to_vec(),
            true,
            400,
        ),
        // A bad chunk size inside the body.
        (
            "chunk",
            b"POST /PATH HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n".to_vec(),
            false,
            400,
        ),
    ];
    for path in ["/swallow", "/echo"] {
        for (name, req, half_close, want) in cases {
            let (srv, seen) = server();
            let req = String::from_utf8_lossy(req).replace("/PATH", path);
            let mut s = srv.connect();
            s.write_all(req.as_bytes()).unwrap();
            if *half_close {
                s.shutdown(std::net::Shutdown::Write).unwrap();
            }
            let r = read_reply(&mut s, &mut Vec::new(), false)
                .unwrap_or_else(|| panic!("{name} {path}: no answer"));
            assert_eq!(r.status, *want, "{name} {path}: {}", r.text());
            assert_eq!(r.header("connection"), Some("close"), "{name} {path}");
            assert!(
                closed_within(&mut s, Duration::from_secs(3)),
                "{name} {path}"
            );
            if *path == *"/swallow" {
                assert_eq!(wait_seen(&seen), 2, "{name}: the handler saw the error");
            }
            still_serving(&srv);
        }
    }
}

/// A client that resets the connection mid-body gets no answer (nobody is left to read it);
/// the handler sees an I/O error and the server goes on.
#[test]
fn reset_mid_body_drops_the_connection() {
    let (srv, seen) = server();
    let mut s = srv.connect();
    // Expect: 100-continue makes the server send bytes this client never reads, so closing
    // the socket with them unread sends a reset instead of a FIN.
    s.write_all(
        b"POST /swallow HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1000\r\n\r\n",
    )
    .unwrap();
    // A blocking peek returns once the 100 Continue is here (the handler is reading the body).
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut peeked = [0u8; 8];
    assert!(s.peek(&mut peeked).expect("100 Continue within 5 s") > 0);
    s.write_all(b"0123456789").unwrap();
    drop(s);
    assert_eq!(wait_seen(&seen), 1, "the handler saw an I/O error");
    still_serving(&srv);
    // And the well-formed body still works after all that.
    let mut s = srv.connect();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        .unwrap();
    let r = read_reply(&mut s, &mut Vec::new(), false).unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "hello"));
    let mut rest = [0u8; 1];
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    assert!(s.read(&mut rest).is_err(), "kept alive: no EOF");
}

/// A client that goes on uploading after its 413 still reads the answer and the server goes
/// on. (The server drains what keeps arriving for a moment before closing; Linux keeps
/// received data readable after a reset on loopback, so this cannot show the reset itself.)
#[test]
fn oversized_upload_still_reads_its_answer() {
    let (srv, _) = server();
    for _ in 0..5 {
        let mut s = srv.connect();
        let mut writer = s.try_clone().unwrap();
        let sender = std::thread::spawn(move || {
            let _ = writer
                .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4000000\r\n\r\n");
            let piece = vec![b'x'; 64 * 1024];
            // Bounded: at most the announced 4 MB, stopping at the first refused write.
            for _ in 0..61 {
                if writer.write_all(&piece).is_err() {
                    break;
                }
            }
        });
        let r = read_reply(&mut s, &mut Vec::new(), false).expect("the 413 arrives");
        assert_eq!(r.status, 413);
        assert_eq!(r.header("connection"), Some("close"));
        drop(s);
        sender.join().unwrap();
    }
    still_serving(&srv);
}
