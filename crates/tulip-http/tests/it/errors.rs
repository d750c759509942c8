//! What a failure looks like from outside: for each phase of an exchange, the error's
//! predicate, its `Display` (the phase and the host, URL or peer) and its `source()` chain
//! down to the underlying `io::Error` or rustls error.

use std::error::Error as StdError;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use tulip_http::{App, Client, Request, Response, Server};

/// Every link of the chain, starting with `e` itself.
fn chain<'a>(e: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut links = vec![e];
    let mut link = e.source();
    while let Some(next) = link {
        links.push(next);
        link = next.source();
    }
    links
}

/// The first link of type `T` in the chain below `e`.
fn cause<T: StdError + 'static>(e: &tulip_http::Error) -> Option<&T> {
    chain(e)
        .into_iter()
        .skip(1)
        .find_map(|l| l.downcast_ref::<T>())
}

/// The kind of the first `io::Error` below `e`.
fn io_kind(e: &tulip_http::Error) -> Option<io::ErrorKind> {
    cause::<io::Error>(e).map(io::Error::kind)
}

/// A loopback port with nothing listening on it (bound, then closed).
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A raw server for one connection: `script` gets the accepted socket. Its thread is joined
/// by the returned handle.
fn one_connection(
    script: impl FnOnce(TcpStream) + Send + 'static,
) -> (u16, thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let t = thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        script(s);
    });
    (port, t)
}

/// Reads until the end of a request head.
fn read_head(s: &mut TcpStream) {
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => got.push(byte[0]),
            _ => return,
        }
    }
}

#[test]
fn dns_failure_names_the_host_and_keeps_the_resolvers_error() {
    tulip_executor::run(async {
        // `.invalid` never resolves (RFC 6761); the connect timeout only bounds a slow resolver.
        let err = Client::builder()
            .connect_timeout(Some(Duration::from_secs(20)))
            .build()
            .get("http://tulip-test.invalid:8080/x")
            .send()
            .await
            .unwrap_err();
        assert!(err.is_connect(), "{err:?}");
        let shown = err.to_string();
        assert!(
            shown.starts_with(
                "DNS resolution of tulip-test.invalid:8080 failed: the name did not resolve"
            ),
            "{shown}"
        );
        assert!(shown.contains("check the host name"), "{shown}");
        assert!(cause::<io::Error>(&err).is_some(), "{err:?}");
    });
}

#[test]
fn refused_connection_names_the_address_and_keeps_the_os_error() {
    let port = closed_port();
    tulip_executor::run(async move {
        let err = Client::new()
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .unwrap_err();
        assert!(err.is_connect(), "{err:?}");
        assert_eq!(io_kind(&err), Some(io::ErrorKind::ConnectionRefused));
        assert_eq!(
            err.to_string(),
            format!(
                "TCP connect to 127.0.0.1:{port} failed: connection refused \
                 (is a server listening on that port?)"
            )
        );
        // Converted for code that speaks io::Error, the kind survives.
        assert_eq!(
            io::Error::from(err).kind(),
            io::ErrorKind::ConnectionRefused
        );
    });
}

#[cfg(feature = "tls")]
#[test]
fn untrusted_certificate_fails_the_handshake_with_rustls_reason() {
    use tulip_tls::rustls;

    let (cert_pem, key_pem) = tulip_test_support::pki::self_signed(&["localhost"]);
    let acceptor =
        tulip_tls::TlsAcceptor::from_pem(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
    tulip_executor::run(async move {
        let app = App::new().get("/", |_r: Request| async { "secret" });
        let server = Server::bind_tls("127.0.0.1:0", app, acceptor).unwrap();
        let port = server.local_addr().port();
        let stop = server.shutdown_handle();
        let running = tulip_executor::spawn(server.run());

        // The default client trusts the webpki roots only, not a self-signed certificate.
        let err = Client::new()
            .get(format!("https://localhost:{port}/"))
            .send()
            .await
            .unwrap_err();
        assert!(err.is_connect(), "{err:?}");
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!("TLS handshake with localhost:{port} failed")),
            "{shown}"
        );
        assert!(
            shown.contains("ClientBuilder::add_root_certificate_pem"),
            "{shown}"
        );
        assert_eq!(io_kind(&err), Some(io::ErrorKind::InvalidData));
        let reason = cause::<rustls::Error>(&err).unwrap_or_else(|| panic!("{err:?}"));
        assert!(
            matches!(reason, rustls::Error::InvalidCertificate(_)),
            "{reason:?}"
        );

        stop.shutdown();
        running.await.unwrap().unwrap();
    });
}

#[test]
fn server_closing_mid_body_is_incomplete_and_names_the_url() {
    let (port, server) = one_connection(|mut s| {
        read_head(&mut s);
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
            .unwrap();
        // Dropping the socket closes it 90 bytes short.
    });
    tulip_executor::run(async move {
        let resp = Client::new()
            .get(format!("http://127.0.0.1:{port}/file"))
            .send()
            .await
            .unwrap();
        let err = resp.bytes().await.unwrap_err();
        assert!(err.is_incomplete(), "{err:?}");
        assert_eq!(io_kind(&err), Some(io::ErrorKind::UnexpectedEof));
        assert_eq!(
            err.to_string(),
            format!(
                "reading the response body from http://127.0.0.1:{port}/file failed: \
                 connection closed inside a body"
            )
        );
    });
    server.join().unwrap();
}

#[test]
fn server_closing_without_answer_fails_the_head() {
    let (port, server) = one_connection(|mut s| read_head(&mut s));
    tulip_executor::run(async move {
        let err = Client::new()
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .unwrap_err();
        assert!(err.is_incomplete(), "{err:?}");
        assert_eq!(io_kind(&err), Some(io::ErrorKind::UnexpectedEof));
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!(
                "reading the response head from http://127.0.0.1:{port}/ failed: \
                 connection closed before the response"
            )),
            "{shown}"
        );
    });
    server.join().unwrap();
}

#[test]
fn read_timeout_names_the_phase_and_carries_timed_out() {
    let (release, released) = mpsc::channel::<()>();
    let (port, server) = one_connection(move |mut s| {
        read_head(&mut s);
        // Say nothing until the client has given up.
        let _ = released.recv();
    });
    tulip_executor::run(async move {
        let err = Client::builder()
            .read_timeout(Some(Duration::from_millis(100)))
            .build()
            .get(format!("http://127.0.0.1:{port}/slow"))
            .send()
            .await
            .unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        assert_eq!(io_kind(&err), Some(io::ErrorKind::TimedOut));
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!(
                "reading the response head from http://127.0.0.1:{port}/slow failed: read timed out"
            )),
            "{shown}"
        );
    });
    release.send(()).unwrap();
    server.join().unwrap();
}

#[cfg(feature = "tls")]
#[test]
fn connect_timeout_in_the_handshake_names_the_handshake() {
    let (release, released) = mpsc::channel::<()>();
    // Accepts TCP and never answers the ClientHello.
    let (port, server) = one_connection(move |_s| {
        let _ = released.recv();
    });
    tulip_executor::run(async move {
        let err = Client::builder()
            .connect_timeout(Some(Duration::from_millis(100)))
            .build()
            .get(format!("https://127.0.0.1:{port}/"))
            .send()
            .await
            .unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        assert_eq!(io_kind(&err), Some(io::ErrorKind::TimedOut));
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!("TLS handshake with 127.0.0.1:{port} failed")),
            "{shown}"
        );
    });
    release.send(()).unwrap();
    server.join().unwrap();
}

#[test]
fn binding_a_used_port_names_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = Server::bind(addr, App::new()).unwrap_err();
    assert_eq!(io_kind(&err), Some(io::ErrorKind::AddrInUse));
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!("binding {addr} failed")),
        "{shown}"
    );
}

#[test]
fn a_body_cut_short_tells_the_handler_where() {
    let (seen, errors) = mpsc::channel::<String>();
    let app = App::new().post("/upload", move |mut req: Request| {
        let seen = seen.clone();
        async move {
            let err = req.bytes().await.unwrap_err();
            let io = chain(&err)
                .iter()
                .find_map(|l| l.downcast_ref::<io::Error>().map(io::Error::kind));
            seen.send(format!("{} / {io:?}", err)).unwrap();
            tulip_http::IntoResponse::into_response(err)
        }
    });
    tulip_executor::run(async move {
        let server = Server::bind("127.0.0.1:0", app).unwrap();
        let addr = server.local_addr();
        let stop = server.shutdown_handle();
        let running = tulip_executor::spawn(server.run());
        let errors = tulip_executor::spawn_blocking(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            let peer = s.local_addr().unwrap();
            s.write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nshort")
                .unwrap();
            s.shutdown(std::net::Shutdown::Write).unwrap();
            (peer, errors.recv().unwrap())
        });
        let (peer, shown) = errors.await.unwrap();
        assert_eq!(
            shown,
            format!(
                "reading the request body from {peer} failed: connection closed inside a body \
                 / Some(UnexpectedEof)"
            )
        );
        stop.shutdown();
        running.await.unwrap().unwrap();
    });
}

#[test]
fn invalid_header_strings_are_errors_not_dropped() {
    // Server side: `try_with_header` checks, with the http crate's error as the cause.
    let err = Response::text("x")
        .try_with_header("x-note", "two\nlines")
        .unwrap_err();
    assert!(err.is_user(), "{err:?}");
    assert!(cause::<http::Error>(&err).is_some());
    assert_eq!(err.to_string(), "invalid header value (x-note)");
    let err = Response::text("x")
        .try_with_header("bad name", "v")
        .unwrap_err();
    assert_eq!(err.to_string(), "invalid header name");

    // Client side: the builder's error surfaces from `send`, before any connection.
    let port = closed_port();
    tulip_executor::run(async move {
        let err = Client::new()
            .get(format!("http://127.0.0.1:{port}/"))
            .header("x-note", "two\nlines")
            .send()
            .await
            .unwrap_err();
        assert!(err.is_user(), "{err:?}");
        assert!(!err.is_connect());
    });
}
