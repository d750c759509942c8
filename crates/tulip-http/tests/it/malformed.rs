//! Malformed and request-smuggling shapes: each must get 4xx/5xx and a closed connection.

use std::io::Write;
use std::time::Duration;

use crate::support::{TestServer, closed_within, read_reply};
use crate::test_app;

fn long(n: usize) -> String {
    "a".repeat(n)
}

/// `(request, expected status)`.
fn table() -> Vec<(Vec<u8>, u16)> {
    let mut t: Vec<(Vec<u8>, u16)> = vec![
        // Framing conflicts (smuggling).
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(), 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n".to_vec(), 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc".to_vec(), 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd".to_vec(), 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc".to_vec(), 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc".to_vec(), 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n".to_vec(), 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n".to_vec(), 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1 0\r\n\r\n".to_vec(), 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n".to_vec(), 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n".to_vec(), 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n".to_vec(), 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n".to_vec(), 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n".to_vec(), 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(), 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n".to_vec(), 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n".to_vec(), 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(), 400),
        (b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(), 400),
        // Bad chunks.
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n".to_vec(), 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n".to_vec(), 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n".to_vec(), 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n".to_vec(), 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n".to_vec(), 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n".to_vec(), 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a\"b\r\nhello\r\n0\r\n\r\n".to_vec(), 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"x\r\nhello\r\n0\r\n\r\n".to_vec(), 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n".to_vec(), 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nbad trailer\r\n\r\n".to_vec(), 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\rhello\r\n0\r\n\r\n".to_vec(), 400),
        // Line endings, folding and bytes that must not appear.
        (b"GET / HTTP/1.1\nHost: x\n\n".to_vec(), 400),
        (b"GET / HTTP/1.1\r\nHost: x\n\r\n".to_vec(), 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: b\rc\r\n\r\n".to_vec(), 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n folded\r\n\r\n".to_vec(), 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tfolded\r\n\r\n".to_vec(), 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n".to_vec(), 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n".to_vec(), 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX A: b\r\n\r\n".to_vec(), 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX(A): b\r\n\r\n".to_vec(), 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\n: b\r\n\r\n".to_vec(), 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-A b\r\n\r\n".to_vec(), 400),
        // Request line.
        (b"G(T / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 400),
        (b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 400),
        (b"GET / HTTP/1.1 \r\nHost: x\r\n\r\n".to_vec(), 400),
        (b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 400),
        (b"GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 400),
        (b"GET nopath HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 400),
        (b"GET * HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 400),
        (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n".to_vec(), 400),
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n".to_vec(), 505),
        (b"GET / HTTP/3.0\r\nHost: x\r\n\r\n".to_vec(), 505),
        // A space inside the target, or a third field that is no version: malformed, not 505.
        (b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 400),
        (b"GET /a HTTP/1.1 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 400),
        (b"GET / http/1.1\r\nHost: x\r\n\r\n".to_vec(), 400),
        (b"GET / HTTP/1.1x\r\nHost: x\r\n\r\n".to_vec(), 400),
        (b"GET / HTTP/11\r\nHost: x\r\n\r\n".to_vec(), 400),
        (b"GET / FTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 400),
        (b"GET /\r\nHost: x\r\n\r\n".to_vec(), 400),
        (b"GET / HTTP/1.1\r\n\r\n".to_vec(), 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n".to_vec(), 400),
        (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n".to_vec(), 400),
        (b"GET / HTTP/1.1\r\nHost: x/y\r\n\r\n".to_vec(), 400),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n".to_vec(), 400),
        // Sizes.
        (format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", long(9000)).into_bytes(), 414),
        (format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", long(17000)).into_bytes(), 431),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n".to_vec(), 413),
    ];
    let mut many = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..120 {
        many.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    t.push((many, 431));
    t
}

#[test]
fn malformed_requests_get_an_error_and_a_close() {
    let srv = TestServer::start(test_app());
    let table = table();
    assert!(table.len() >= 40, "the table has {} rows", table.len());
    for (req, want) in &table {
        let shown = String::from_utf8_lossy(&req[..req.len().min(120)]).into_owned();
        let mut s = srv.connect();
        s.write_all(req).unwrap();
        let mut buf = Vec::new();
        let reply =
            read_reply(&mut s, &mut buf, false).unwrap_or_else(|| panic!("no reply to {shown:?}"));
        assert_eq!(reply.status, *want, "{shown:?}");
        assert_eq!(reply.header("connection"), Some("close"), "{shown:?}");
        assert!(
            closed_within(&mut s, Duration::from_secs(5)),
            "still open after {shown:?}"
        );
    }
}

/// A smuggling attempt must not yield a second response for the hidden request.
#[test]
fn smuggled_request_is_never_served() {
    let srv = TestServer::start(test_app());
    let mut s = srv.connect();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    assert_eq!(read_reply(&mut s, &mut buf, false).unwrap().status, 400);
    assert!(read_reply(&mut s, &mut buf, false).is_none());
}
