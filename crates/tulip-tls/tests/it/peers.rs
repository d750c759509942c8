//! Interop with real TLS stacks: `openssl s_server`, `openssl s_client` and `curl`, all on
//! 127.0.0.1. Each test skips through `tulip_test_support::peers` when its tool is
//! not installed (and fails instead under `TULIP_REQUIRE_PEERS=1`).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use futures_lite::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tulip_reactor::Async;
use tulip_test_support::{peers, wait};
use tulip_tls::rustls::ProtocolVersion;
use tulip_tls::{Identity, TlsAcceptor, TlsConnector, pem};

use crate::certs::{acceptor_builder, pem_files};
use crate::run;

/// A child process that is killed when the test ends, passed or failed.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Peer {
    /// Waits up to `limit` for the process to close its stdout (it does so by exiting), then
    /// returns what it wrote. A reader thread blocks on the pipe and hands the text over a
    /// channel, so the wait ends the moment the peer is done.
    fn output(mut self, limit: Duration) -> String {
        let mut stdout = self.0.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut out = String::new();
            let _ = tx.send(stdout.read_to_string(&mut out).map(|_| out));
        });
        let out = rx
            .recv_timeout(limit)
            .unwrap_or_else(|_| panic!("peer process did not finish within {limit:?}"))
            .unwrap();
        self.0.wait().unwrap();
        out
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Connects as soon as the peer listens (a refused attempt is not an accepted connection).
fn connect_when_listening(addr: SocketAddr) -> TcpStream {
    wait::until(
        Duration::from_secs(10),
        &format!("the peer listening on {addr}"),
        || TcpStream::connect(addr).map(Some),
    )
}

#[test]
fn our_client_against_openssl_s_server_on_tls12_and_tls13() {
    let Some(openssl) = peers::openssl() else {
        return;
    };
    let files = pem_files();
    for (flag, version) in [
        ("-tls1_2", ProtocolVersion::TLSv1_2),
        ("-tls1_3", ProtocolVersion::TLSv1_3),
    ] {
        let port = free_port();
        let _server = Peer(
            Command::new(&openssl)
                .args([
                    "s_server",
                    "-accept",
                    &format!("127.0.0.1:{port}"),
                    "-naccept",
                    "1",
                    "-rev",
                ])
                .args(["-alpn", "echo/1", flag])
                .arg("-cert")
                .arg(files.path("server.pem"))
                .arg("-key")
                .arg(files.path("server.key"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let tcp = connect_when_listening(([127, 0, 0, 1], port).into());
        // The connector reads its roots from the PEM file, exercising the file loader as well.
        let connector = TlsConnector::builder()
            .add_roots_pem_file(files.path("ca.pem"))
            .unwrap()
            .alpn_protocols(["echo/1"])
            .build()
            .unwrap();
        run(async {
            let mut tls = connector
                .connect("localhost", Async::new(tcp).unwrap())
                .await
                .unwrap();
            assert_eq!(tls.alpn_protocol(), Some(&b"echo/1"[..]));
            assert_eq!(tls.protocol_version(), Some(version));
            tls.write_all(b"hello tulip\n").await.unwrap();
            tls.flush().await.unwrap();
            // TlsStream is an AsyncBufRead itself: lines come straight from rustls's buffer.
            let mut line = String::new();
            tls.read_line(&mut line).await.unwrap();
            assert_eq!(
                line, "pilut olleh\n",
                "s_server -rev reverses each line ({flag})"
            );
            tls.close().await.unwrap();
        });
    }
}

#[test]
fn openssl_s_client_against_our_server_with_client_auth() {
    let Some(openssl) = peers::openssl() else {
        return;
    };
    let files = pem_files();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // The acceptor loads its identity from files, exercising the file loaders as well.
    let acceptor = TlsAcceptor::builder(
        Identity::from_pem_files(files.path("server.pem"), files.path("server.key")).unwrap(),
    )
    .alpn_protocols(["echo/1"])
    .client_auth_required(pem::root_store_from_pem_file(files.path("ca.pem")).unwrap())
    .build()
    .unwrap();
    let server = thread::spawn(move || {
        run(async {
            let (tcp, _) = listener.accept()?;
            let mut tls = acceptor.accept(Async::new(tcp)?).await?;
            let seen = (
                tls.server_name().map(str::to_owned),
                tls.alpn_protocol().map(<[u8]>::to_vec),
                tls.peer_certificates().map_or(0, <[_]>::len),
            );
            let mut line = String::new();
            tls.read_line(&mut line).await?;
            tls.write_all(line.to_uppercase().as_bytes()).await?;
            tls.close().await?;
            io::Result::Ok(seen)
        })
    });
    let mut client = Command::new(&openssl)
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-servername",
            "localhost",
        ])
        .args(["-verify_return_error", "-alpn", "echo/1", "-quiet"])
        .arg("-CAfile")
        .arg(files.path("ca.pem"))
        .arg("-cert")
        .arg(files.path("client.pem"))
        .arg("-key")
        .arg(files.path("client.key"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    client
        .stdin
        .take()
        .unwrap()
        .write_all(b"ping from openssl\n")
        .unwrap();
    let out = Peer(client).output(Duration::from_secs(20));
    assert_eq!(out, "PING FROM OPENSSL\n");
    let (sni, alpn, client_certs) = server.join().unwrap().unwrap();
    assert_eq!(sni.as_deref(), Some("localhost"));
    assert_eq!(alpn.as_deref(), Some(&b"echo/1"[..]));
    assert_eq!(client_certs, 2, "client leaf and CA");
}

#[test]
fn curl_against_a_tiny_https_responder() {
    let Some(curl) = peers::curl() else {
        return;
    };
    let files = pem_files();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = acceptor_builder()
        .alpn_protocols(["http/1.1"])
        .build()
        .unwrap();
    let server = thread::spawn(move || {
        run(async {
            let (tcp, _) = listener.accept()?;
            let mut tls = acceptor.accept(Async::new(tcp)?).await?;
            // Read the request head, with a limit, then answer and close.
            let mut head = Vec::new();
            let mut buf = [0; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = tls.read(&mut buf).await?;
                if n == 0 || head.len() > 16 * 1024 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "bad request head",
                    ));
                }
                head.extend_from_slice(&buf[..n]);
            }
            let body = "hello from tulip-tls\n";
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            tls.write_all(resp.as_bytes()).await?;
            tls.close().await?;
            Ok(String::from_utf8_lossy(&head).into_owned())
        })
    });
    let out = Command::new(&curl)
        .args([
            "-sS",
            "--max-time",
            "20",
            "--resolve",
            &format!("localhost:{port}:127.0.0.1"),
        ])
        .arg("--cacert")
        .arg(files.path("ca.pem"))
        .args([
            "-w",
            "%{http_code} %{http_version}",
            &format!("https://localhost:{port}/hello"),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout, "hello from tulip-tls\n200 1.1");
    let head = server.join().unwrap().unwrap();
    assert!(head.starts_with("GET /hello HTTP/1.1\r\n"), "{head}");
}

#[test]
fn curl_rejects_our_server_without_the_ca() {
    let Some(curl) = peers::curl() else {
        return;
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = acceptor_builder().build().unwrap();
    let server = thread::spawn(move || {
        run(async {
            let (tcp, _) = listener.accept()?;
            acceptor.accept(Async::new(tcp)?).await.map(drop)
        })
    });
    let out = Command::new(&curl)
        .args([
            "-sS",
            "--max-time",
            "20",
            "--resolve",
            &format!("localhost:{port}:127.0.0.1"),
        ])
        .args([
            "--cacert",
            "/dev/null",
            &format!("https://localhost:{port}/"),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = server.join().unwrap().unwrap_err();
    assert!(err.to_string().contains("TLS handshake failed"), "{err}");
}
