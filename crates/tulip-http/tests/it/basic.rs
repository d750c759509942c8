//! Routing, bodies, keep-alive, pipelining, HEAD, streaming, upgrades: raw sockets.

use std::io::{Read, Write};
use std::time::Duration;

use crate::support::{TestServer, find, read_reply, request};
use crate::test_app;

#[test]
fn routes_params_404_405_and_middleware() {
    let srv = TestServer::start(test_app());
    let table: &[(&str, u16, Option<&str>)] = &[
        (
            "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            200,
            Some("Hello, World!"),
        ),
        (
            "GET /tulip HTTP/1.1\r\nHost: x\r\n\r\n",
            200,
            Some("Hello, tulip"),
        ),
        ("GET /a/b/c HTTP/1.1\r\nHost: x\r\n\r\n", 404, None),
        ("DELETE /echo HTTP/1.1\r\nHost: x\r\n\r\n", 405, None),
        ("GET /admin HTTP/1.1\r\nHost: x\r\n\r\n", 401, None),
        (
            "GET /admin HTTP/1.1\r\nHost: x\r\nX-Token: secret\r\n\r\n",
            200,
            Some("admin home"),
        ),
        (
            "GET /json HTTP/1.1\r\nHost: x\r\n\r\n",
            200,
            Some(r#"{"message":"Hello, World!"}"#),
        ),
        ("GET /panic HTTP/1.1\r\nHost: x\r\n\r\n", 500, None),
        ("GET /x?y=1 HTTP/1.0\r\n\r\n", 200, Some("Hello, x")),
    ];
    for (req, status, body) in table {
        let r = request(srv.addr, req.as_bytes()).unwrap_or_else(|| panic!("no reply to {req:?}"));
        assert_eq!(r.status, *status, "{req:?}");
        if let Some(b) = body {
            assert_eq!(r.text(), *b, "{req:?}");
        }
        if *status == 405 {
            // `/echo` also matches `GET /{name}`.
            assert_eq!(r.header("allow"), Some("POST, GET, HEAD"));
        }
    }
    let r = request(srv.addr, b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.header("date").is_some());
}

#[test]
fn keep_alive_reuses_the_connection() {
    let srv = TestServer::start(test_app());
    let mut s = srv.connect();
    let mut buf = Vec::new();
    for i in 0..50 {
        write!(s, "GET /n{i} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let r = read_reply(&mut s, &mut buf, false).expect("reply on the same connection");
        assert_eq!(r.text(), format!("Hello, n{i}"));
    }
}

#[test]
fn pipelined_requests_are_answered_in_order_in_few_writes() {
    let srv = TestServer::start(test_app());
    let mut s = srv.connect();
    let mut batch = Vec::new();
    for i in 0..16 {
        write!(batch, "GET /p{i} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    }
    batch.extend_from_slice(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    batch.extend_from_slice(b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(&batch).unwrap();
    let mut buf = Vec::new();
    for i in 0..16 {
        assert_eq!(
            read_reply(&mut s, &mut buf, false).unwrap().text(),
            format!("Hello, p{i}")
        );
    }
    assert_eq!(read_reply(&mut s, &mut buf, false).unwrap().text(), "hello");
    let last = read_reply(&mut s, &mut buf, false).unwrap();
    assert_eq!(last.text(), "Hello, last");
    assert_eq!(last.header("connection"), Some("close"));
}

#[test]
fn head_has_length_but_no_body() {
    let srv = TestServer::start(test_app());
    let mut s = srv.connect();
    s.write_all(b"HEAD /abc HTTP/1.1\r\nHost: x\r\n\r\nGET /def HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let head = read_reply(&mut s, &mut buf, true).unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("10"));
    // The next reply starts right after the head: no body bytes in between.
    assert_eq!(
        read_reply(&mut s, &mut buf, false).unwrap().text(),
        "Hello, def"
    );
}

#[test]
fn chunked_upload_and_chunked_response() {
    let srv = TestServer::start(test_app());
    let r = request(
        srv.addr,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.text(), "hello world");
    let r = request(srv.addr, b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.text(), "piece 0;piece 1;piece 2;");
    let r = request(srv.addr, b"GET /stream HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(
        r.text(),
        "piece 0;piece 1;piece 2;",
        "HTTP/1.0 gets a close-delimited body"
    );
}

#[test]
fn expect_100_continue_is_sent_when_the_body_is_read() {
    let srv = TestServer::start(test_app());
    let mut s = srv.connect();
    s.write_all(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let mut buf = Vec::new();
    let cont = read_reply(&mut s, &mut buf, false).unwrap();
    assert_eq!(cont.status, 100);
    s.write_all(b"ping").unwrap();
    assert_eq!(read_reply(&mut s, &mut buf, false).unwrap().text(), "ping");
}

#[test]
fn body_over_the_limit_is_413() {
    let srv = TestServer::start(test_app());
    let r = request(
        srv.addr,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.status, 413);
    let mut big = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..20 {
        big.extend_from_slice(b"10000\r\n");
        big.extend_from_slice(&[b'a'; 0x10000]);
        big.extend_from_slice(b"\r\n");
    }
    big.extend_from_slice(b"0\r\n\r\n");
    let r = request(srv.addr, &big).unwrap();
    assert_eq!(r.status, 413);
}

/// A large body streams through without the server holding it whole: pieces stay small.
#[test]
fn large_body_is_streamed() {
    let srv = TestServer::start(test_app());
    let total: usize = if cfg!(debug_assertions) {
        16 << 20
    } else {
        100 << 20
    };
    let mut s = srv.connect();
    write!(
        s,
        "POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: {total}\r\n\r\n"
    )
    .unwrap();
    let piece = vec![7u8; 256 * 1024];
    let mut sent = 0;
    while sent < total {
        let n = piece.len().min(total - sent);
        s.write_all(&piece[..n]).unwrap();
        sent += n;
    }
    let r = read_reply(&mut s, &mut Vec::new(), false).unwrap();
    let parts: Vec<u64> = r.text().split(' ').map(|p| p.parse().unwrap()).collect();
    assert_eq!(parts[0], total as u64);
    assert!(parts[1] > 10, "the body arrived in many pieces");
    assert!(
        parts[2] <= 64 * 1024,
        "no piece larger than the read buffer: {}",
        parts[2]
    );
}

#[test]
fn streaming_echo_of_a_chunked_upload() {
    let srv = TestServer::start(test_app());
    let r = request(srv.addr, b"PUT /stream-echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n")
        .unwrap();
    assert_eq!(r.text(), "abcdef");
}

#[test]
fn upgrade_hands_over_the_connection_with_buffered_bytes() {
    let srv = TestServer::start(test_app());
    let mut s = srv.connect();
    // "early" arrives with the head and must reach the upgraded side.
    s.write_all(
        b"GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nearly",
    )
    .unwrap();
    let mut buf = Vec::new();
    let r = read_reply(&mut s, &mut buf, false).unwrap();
    assert_eq!(r.status, 101);
    while buf.len() < 5 {
        let mut tmp = [0u8; 64];
        let n = s.read(&mut tmp).unwrap();
        assert!(n > 0);
        buf.extend_from_slice(&tmp[..n]);
    }
    assert_eq!(&buf[..], b"early");
    s.write_all(b"more").unwrap();
    let mut tmp = [0u8; 4];
    s.read_exact(&mut tmp).unwrap();
    assert_eq!(&tmp, b"more");
}

#[test]
fn static_files_with_validators_and_ranges() {
    let dir = std::env::temp_dir().join(format!("tulip-http-static-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("a.txt"), b"0123456789").unwrap();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("sub/big.bin"), &big).unwrap();
    let srv = TestServer::start(tulip_http::App::new().static_dir("/static", &dir));
    let get = |extra: &str, path: &str| {
        request(
            srv.addr,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n").as_bytes(),
        )
        .unwrap()
    };
    let r = get("", "/static/a.txt");
    assert_eq!((r.status, r.text().as_str()), (200, "0123456789"));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    let etag = r.header("etag").unwrap().to_string();
    let lm = r.header("last-modified").unwrap().to_string();
    assert_eq!(
        get(&format!("If-None-Match: {etag}\r\n"), "/static/a.txt").status,
        304
    );
    assert_eq!(
        get(&format!("If-Modified-Since: {lm}\r\n"), "/static/a.txt").status,
        304
    );
    let r = get("Range: bytes=2-4\r\n", "/static/a.txt");
    assert_eq!((r.status, r.text().as_str()), (206, "234"));
    assert_eq!(r.header("content-range"), Some("bytes 2-4/10"));
    assert_eq!(get("Range: bytes=50-\r\n", "/static/a.txt").status, 416);
    let r = get("", "/static/sub/big.bin");
    assert_eq!(r.body, big);
    let r = get("Range: bytes=-100000\r\n", "/static/sub/big.bin");
    assert_eq!(r.body, &big[100_000..]);
    for bad in [
        "/static/../Cargo.toml",
        "/static/%2e%2e/x",
        "/static/sub",
        "/static/nope.txt",
        "/static/..%2f..%2fetc%2fpasswd",
    ] {
        assert_eq!(get("", bad).status, 404, "{bad}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn connection_close_is_honoured() {
    let srv = TestServer::start(test_app());
    let mut s = srv.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut all = Vec::new();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.read_to_end(&mut all).unwrap();
    assert!(find(&all, b"connection: close").is_some());
    assert!(all.ends_with(b"Hello, World!"));
}

/// Many connections at once, each with a request in flight (the benchmark's shape).
#[test]
fn many_concurrent_connections() {
    let srv = TestServer::start(test_app());
    let mut conns: Vec<_> = (0..64).map(|_| srv.connect()).collect();
    for round in 0..3 {
        for s in conns.iter_mut() {
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        }
        for (i, s) in conns.iter_mut().enumerate() {
            let r = read_reply(s, &mut Vec::new(), false)
                .unwrap_or_else(|| panic!("round {round} conn {i}: no reply"));
            assert_eq!(r.status, 200);
        }
    }
}
