//! Interop with real TLS stacks: `openssl s_server`, `openssl s_client` and `curl`, all on
//! 127.0.0.1. Each test skips (with a note on stderr) when its tool is not installed.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use futures_lite::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tulip_reactor::Async;
use tulip_tls::rustls::ProtocolVersion;
use tulip_tls::{Identity, TlsAcceptor, TlsConnector, pem};

use crate::certs::{acceptor_builder, pem_files};
use crate::run;

fn have(tool: &str, arg: &str) -> bool {
    let found = Command::new(tool)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!("SKIP: `{tool}` is not installed");
    }
    found
}

/// A child process that is killed when the test ends, passed or failed.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Peer {
    /// Waits up to `limit` for the process to exit, then returns its stdout.
    fn output(mut self, limit: Duration) -> String {
        let start = Instant::now();
        while self.0.try_wait().unwrap().is_none() {
            assert!(
                start.elapsed() < limit,
                "peer process did not exit within {limit:?}"
            );
            thread::sleep(Duration::from_millis(20));
        }
        let mut out = String::new();
        self.0
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
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
    let start = Instant::now();
    loop {
        match TcpStream::connect(addr) {
            Ok(s) => return s,
            Err(e) if start.elapsed() > Duration::from_secs(10) => {
                panic!("peer never listened on {addr}: {e}")
            }
            Err(_) => thread::sleep(Duration::from_millis(30)),
        }
    }
}

#[test]
fn our_client_against_openssl_s_server_on_tls12_and_tls13() {
    if !have("openssl", "version") {
        return;
    }
    let files = pem_files();
    for (flag, version) in [
        ("-tls1_2", ProtocolVersion::TLSv1_2),
        ("-tls1_3", ProtocolVersion::TLSv1_3),
    ] {
        let port = free_port();
        let _server = Peer(
            Command::new("openssl")
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
    if !have("openssl", "version") {
        return;
    }
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
    let mut client = Command::new("openssl")
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
    if !have("curl", "--version") {
        return;
    }
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
    let out = Command::new("curl")
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
    if !have("curl", "--version") {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = acceptor_builder().build().unwrap();
    let server = thread::spawn(move || {
        run(async {
            let (tcp, _) = listener.accept()?;
            acceptor.accept(Async::new(tcp)?).await.map(drop)
        })
    });
    let out = Command::new("curl")
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
