//! Transports other than one plain TCP listener: HTTPS (curl, openssl s_client, tulip's
//! client), Unix domain sockets (curl --unix-socket, raw sockets), and several listeners on
//! one server.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tulip_http::{App, Request, Server, ServerConfig};
use tulip_test_support::peers;
use tulip_test_support::pki::{PemFiles, pki};

use crate::support::{TestServer, closed_within};

fn app() -> App {
    App::new().get("/{name}", |req: Request| async move {
        format!(
            "Hello, {} via {}",
            req.match_info("name").unwrap_or(""),
            if req.peer_addr().is_some() {
                "tcp"
            } else {
                "unix"
            }
        )
    })
}

fn temp_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tulip-http-{tag}-{}", std::process::id()))
}

/// Runs a command-line peer from `tulip_test_support::peers` with `args`; `None` when the
/// peer is missing (the helper has reported the skip).
fn run<S: AsRef<OsStr>>(
    peer: Option<PathBuf>,
    args: impl IntoIterator<Item = S>,
) -> Option<Output> {
    Some(Command::new(peer?).args(args).output().unwrap())
}

/// An acceptor with the shared test PKI's `localhost` identity, and the PKI's CA.
pub(crate) fn tls_identity() -> (tulip_tls::TlsAcceptor, &'static str) {
    let p = pki();
    let acceptor = tulip_tls::TlsAcceptor::from_pem(
        p.server_chain_pem.as_bytes(),
        p.server_key_pem.as_bytes(),
    )
    .unwrap();
    (acceptor, &p.ca_pem)
}

/// A TLS server with the shared test PKI's `localhost` identity, and the PKI's PEM files.
fn tls_server(handshake: Duration) -> (TestServer, PemFiles) {
    let (acceptor, _) = tls_identity();
    let mut cfg = ServerConfig::default();
    cfg.tls_handshake_timeout = handshake;
    let mut server = Server::unbound(app(), cfg).unwrap();
    server.listen_tls("127.0.0.1:0", acceptor).unwrap();
    (TestServer::run(server), PemFiles::new("tulip-http-serving"))
}

#[test]
fn https_with_curl_openssl_and_tulip_client() {
    let (srv, files) = tls_server(Duration::from_secs(10));
    let ca_file = files.path("ca.pem");
    let ca_pem = &pki().ca_pem;
    let port = srv.addr.port();
    let resolve = format!("localhost:{port}:127.0.0.1");
    let a = format!("https://localhost:{port}/curl");
    let b = format!("https://localhost:{port}/again");
    if let Some(out) = run(
        peers::curl(),
        [
            "-sS",
            "-v",
            "--max-time",
            "20",
            "--http1.1",
            "--cacert",
            ca_file.to_str().unwrap(),
            "--resolve",
            &resolve,
            &a,
            &b,
        ],
    ) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "Hello, curl via tcpHello, again via tcp",
            "{stderr}"
        );
        assert!(
            stderr
                .lines()
                .any(|l| l.contains("ALPN") && l.contains("accepted") && l.contains("http/1.1")),
            "{stderr}"
        );
        assert!(stderr.contains("Re-using existing connection"), "{stderr}");
    }

    // openssl s_client: ALPN http/1.1 negotiated, the request answered over TLS.
    let spawned = peers::openssl().map(|openssl| {
        Command::new(openssl)
            .args([
                "s_client",
                "-connect",
                &format!("127.0.0.1:{port}"),
                "-servername",
                "localhost",
                "-alpn",
                "http/1.1",
                "-CAfile",
                ca_file.to_str().unwrap(),
                "-ign_eof",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    });
    if let Some(mut child) = spawned {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"GET /openssl HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("ALPN protocol: http/1.1"), "{stdout}");
        assert!(stdout.contains("Verify return code: 0 (ok)"), "{stdout}");
        assert!(stdout.contains("Hello, openssl via tcp"), "{stdout}");
    }

    // tulip's own client with a root store holding only the test CA.
    let base = format!("https://localhost:{port}");
    tulip_executor::run(async move {
        let connector = tulip_tls::TlsConnector::builder()
            .add_roots_pem(ca_pem.as_bytes())
            .unwrap()
            .build()
            .unwrap();
        let c = tulip_http::Client::builder().tls(connector).build();
        for i in 0..3 {
            let r = c.get(format!("{base}/c{i}")).send().await.unwrap();
            assert_eq!(r.text().await.unwrap(), format!("Hello, c{i} via tcp"));
        }
        let s = c.pool_stats();
        assert_eq!((s.connects, s.reuses), (1, 2), "{s:?}");
    });
}

#[test]
fn tls_garbage_and_silence_are_dropped_while_service_goes_on() {
    let (srv, files) = tls_server(Duration::from_millis(300));
    let ca_file = files.path("ca.pem");
    // Plain HTTP on the TLS port is not a handshake: closed at once.
    let mut plain = srv.connect();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert!(closed_within(&mut plain, Duration::from_secs(3)));
    // A client that connects and says nothing is cut off at the handshake timeout.
    let mut silent = srv.connect();
    let start = Instant::now();
    assert!(closed_within(&mut silent, Duration::from_secs(5)));
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "{:?}",
        start.elapsed()
    );
    // A TLS client that completes the handshake and hangs up harms nothing.
    if let Some(out) = run(
        peers::openssl(),
        [
            "s_client",
            "-connect",
            &srv.addr.to_string(),
            "-servername",
            "localhost",
            "-CAfile",
            ca_file.to_str().unwrap(),
        ],
    ) {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("Verify return code: 0 (ok)"), "{stdout}");
    }
    // Still serving.
    if let Some(out) = run(
        peers::curl(),
        [
            "-sS",
            "--max-time",
            "20",
            "--cacert",
            ca_file.to_str().unwrap(),
            "--resolve",
            &format!("localhost:{}:127.0.0.1", srv.addr.port()),
            &format!("https://localhost:{}/after", srv.addr.port()),
        ],
    ) {
        assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello, after via tcp");
    }
}

#[test]
fn unix_socket_with_curl_and_raw_keep_alive() {
    let path = temp_path("sock");
    // A socket file left by an earlier run is replaced.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let srv = TestServer::run(Server::bind_unix(&path, app()).unwrap());
    if let Some(out) = run(
        peers::curl(),
        [
            "-sS",
            "--max-time",
            "20",
            "--unix-socket",
            path.to_str().unwrap(),
            "http://localhost/curl",
        ],
    ) {
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "Hello, curl via unix",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut s = UnixStream::connect(&path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut replies = Vec::new();
    s.write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let mut got = [0u8; 4096];
    // Two pipelined answers on one connection.
    while replies.len() < 2 {
        let n = s.read(&mut got).unwrap();
        assert!(n > 0, "closed early");
        buf.extend_from_slice(&got[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        replies = text.matches("via unix").map(str::to_string).collect();
    }
    let text = String::from_utf8_lossy(&buf);
    assert!(
        text.contains("Hello, a via unix") && text.contains("Hello, b via unix"),
        "{text}"
    );
    srv.shutdown().unwrap();
    assert!(!path.exists(), "the socket file is removed at shutdown");

    // Anything but a socket at the path is not touched, and binding fails.
    std::fs::write(&path, "not a socket").unwrap();
    let err = Server::bind_unix(&path, app()).unwrap_err();
    assert!(err.is_io(), "{err:?}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "not a socket");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn one_server_several_listeners() {
    let (acceptor, ca_pem) = tls_identity();
    let path = temp_path("multi-sock");
    let mut server = Server::bind("127.0.0.1:0", app()).unwrap();
    server.listen("127.0.0.1:0").unwrap();
    server.listen_tls("127.0.0.1:0", acceptor).unwrap();
    server.listen_unix(&path).unwrap();
    let addrs = server.local_addrs();
    assert_eq!(addrs.len(), 3);
    assert_eq!(server.unix_paths(), vec![path.as_path()]);
    let srv = TestServer::run(server);
    for addr in &addrs[..2] {
        let r = crate::support::request(
            *addr,
            b"GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.text(), "Hello, plain via tcp");
    }
    let tls_base = format!("https://localhost:{}", addrs[2].port());
    tulip_executor::run(async move {
        let connector = tulip_tls::TlsConnector::builder()
            .add_roots_pem(ca_pem.as_bytes())
            .unwrap()
            .build()
            .unwrap();
        let c = tulip_http::Client::builder().tls(connector).build();
        let r = c.get(format!("{tls_base}/tls")).send().await.unwrap();
        assert_eq!(r.text().await.unwrap(), "Hello, tls via tcp");
    });
    let mut s = UnixStream::connect(&path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /unix HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.ends_with("Hello, unix via unix"), "{out}");
    srv.shutdown().unwrap();
}
