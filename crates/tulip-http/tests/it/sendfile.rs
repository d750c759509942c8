//! File bodies over sendfile(2): contents and sizes, ranges, HEAD and keep-alive after a
//! kernel-sent body, proof that the kernel path was taken (the service's sendfile byte count),
//! the read path under TLS, gzip, `multipart/byteranges` and `ServerConfig::sendfile = false`,
//! and the connection's end when the client stops reading or the file shrinks.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tulip_http::{App, FileResponse, Request, Server, ServerConfig, Service};
use tulip_reactor::Async;
use tulip_test_support::peers;

use crate::support::{Reply, TestServer, find, read_reply};

const MIB: usize = 1 << 20;

/// A directory of test files, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("tulip-sf-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    /// Writes `name` with `len` bytes of a pattern no shifted copy of itself matches.
    fn file(&self, name: &str, len: usize) -> Vec<u8> {
        let data: Vec<u8> = (0..len)
            .map(|i| (i % 251) as u8 ^ (i >> 16) as u8)
            .collect();
        std::fs::write(self.0.join(name), &data).unwrap();
        data
    }

    /// A sparse file of `len` zero bytes (cheap to make however large).
    fn sparse(&self, name: &str, len: u64) -> PathBuf {
        let path = self.0.join(name);
        std::fs::File::create(&path).unwrap().set_len(len).unwrap();
        path
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `/static/*` from the directory, and `/file/{name}` through `FileResponse`.
fn app(dir: &Path) -> App {
    let root = dir.to_path_buf();
    App::new()
        .get("/file/{name}", move |req: Request| {
            let path = root.join(req.match_info("name").unwrap_or(""));
            async move { FileResponse::new(path).serve(&req).await }
        })
        .static_dir("/static", dir)
}

/// A server on 127.0.0.1 and its service (whose sendfile byte count the tests read).
fn server(dir: &Path, cfg: ServerConfig) -> (TestServer, Service) {
    let server = Server::bind_with("127.0.0.1:0", app(dir), cfg).unwrap();
    let service = server.service().clone();
    (TestServer::run(server), service)
}

fn send(s: &mut TcpStream, method: &str, path: &str, extra: &str) {
    let req = format!("{method} {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n");
    s.write_all(req.as_bytes()).unwrap();
}

fn ask(s: &mut TcpStream, buf: &mut Vec<u8>, method: &str, path: &str, extra: &str) -> Reply {
    send(s, method, path, extra);
    read_reply(s, buf, method == "HEAD").expect("a reply")
}

#[test]
fn sizes_ranges_head_and_keep_alive_over_sendfile() {
    let dir = Dir::new("sizes");
    let sizes = [
        ("empty", 0),
        ("one", 1),
        ("mib", MIB),
        ("some", 3 * MIB + 7),
    ];
    let data: Vec<Vec<u8>> = sizes.iter().map(|(n, len)| dir.file(n, *len)).collect();
    let (srv, svc) = server(&dir.0, ServerConfig::default());
    // One connection for everything: each answer after a kernel-sent body proves keep-alive.
    let mut s = srv.connect();
    let mut buf = Vec::new();
    let mut expected = 0;
    for ((name, len), data) in sizes.iter().zip(&data) {
        for route in ["static", "file"] {
            let r = ask(&mut s, &mut buf, "GET", &format!("/{route}/{name}"), "");
            assert_eq!(r.status, 200, "{route}/{name}");
            assert_eq!(r.header("content-length"), Some(&*len.to_string()));
            assert!(r.body == *data, "{route}/{name}: body differs");
            expected += len;
        }
    }
    let some = &data[3];
    let r = ask(
        &mut s,
        &mut buf,
        "GET",
        "/file/some",
        "Range: bytes=100-199\r\n",
    );
    assert_eq!(r.status, 206);
    assert_eq!(
        r.header("content-range"),
        Some(&*format!("bytes 100-199/{}", some.len()))
    );
    assert_eq!(r.body, some[100..200]);
    let r = ask(
        &mut s,
        &mut buf,
        "GET",
        "/static/some",
        "Range: bytes=-5\r\n",
    );
    assert_eq!((r.status, &r.body[..]), (206, &some[some.len() - 5..]));
    let r = ask(
        &mut s,
        &mut buf,
        "GET",
        "/file/mib",
        "Range: bytes=1048000-\r\n",
    );
    assert_eq!((r.status, &r.body[..]), (206, &data[2][1_048_000..]));
    expected += 100 + 5 + (MIB - 1_048_000);
    // HEAD: the length, no body, and the connection goes on.
    let r = ask(&mut s, &mut buf, "HEAD", "/static/some", "");
    assert_eq!(r.header("content-length"), Some(&*some.len().to_string()));
    let r = ask(&mut s, &mut buf, "GET", "/static/one", "");
    assert_eq!((r.status, &r.body[..]), (200, &data[1][..]));
    expected += 1;
    assert!(buf.is_empty(), "no stray bytes after the bodies");
    // Counted once sendfile(2) returned, which may be after the client read the bytes.
    drop(s);
    srv.shutdown().unwrap();
    // Every body byte (the empty file has none) went out by sendfile(2): this fails if any
    // took the read path.
    assert_eq!(svc.sendfile_bytes(), expected as u64);
}

#[test]
fn pipelined_requests_keep_their_order_around_kernel_bodies() {
    let dir = Dir::new("pipe");
    let a = dir.file("a", 200 * 1024);
    let b = dir.file("b", 10);
    let (srv, svc) = server(&dir.0, ServerConfig::default());
    let mut s = srv.connect();
    let req = "GET /static/b HTTP/1.1\r\nHost: x\r\n\r\nGET /static/a HTTP/1.1\r\nHost: x\r\n\r\n\
               GET /static/b HTTP/1.1\r\nHost: x\r\n\r\n";
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = Vec::new();
    for want in [&b, &a, &b] {
        let r = read_reply(&mut s, &mut buf, false).expect("a reply");
        assert!(r.body == *want);
    }
    drop(s);
    srv.shutdown().unwrap();
    assert_eq!(svc.sendfile_bytes(), (a.len() + 2 * b.len()) as u64);
}

#[test]
fn read_path_when_sendfile_is_off_or_ranges_are_several() {
    let dir = Dir::new("off");
    let data = dir.file("mib", MIB);
    let mut cfg = ServerConfig::default();
    cfg.sendfile = false;
    let (srv, svc) = server(&dir.0, cfg);
    let mut s = srv.connect();
    let mut buf = Vec::new();
    let r = ask(&mut s, &mut buf, "GET", "/static/mib", "");
    assert!(r.status == 200 && r.body == data);
    drop(s);
    srv.shutdown().unwrap();
    assert_eq!(svc.sendfile_bytes(), 0);

    // Several ranges are framed as multipart/byteranges: read, even with sendfile on.
    let (srv, svc) = server(&dir.0, ServerConfig::default());
    let mut s = srv.connect();
    let r = ask(
        &mut s,
        &mut buf,
        "GET",
        "/file/mib",
        "Range: bytes=0-9,500000-\r\n",
    );
    assert_eq!(r.status, 206);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("multipart/byteranges")
    );
    assert!(find(&r.body, &data[500_000..600_000]).is_some());
    drop(s);
    srv.shutdown().unwrap();
    assert_eq!(svc.sendfile_bytes(), 0);
}

#[cfg(feature = "gzip")]
#[test]
fn gzip_reads_the_file() {
    let dir = Dir::new("gzip");
    std::fs::write(dir.path("page.html"), "<p>hello</p>\n".repeat(10_000)).unwrap();
    let mut cfg = ServerConfig::default();
    cfg.compression = true;
    let (srv, svc) = server(&dir.0, cfg);
    let mut s = srv.connect();
    let mut buf = Vec::new();
    let r = ask(
        &mut s,
        &mut buf,
        "GET",
        "/static/page.html",
        "Accept-Encoding: gzip\r\n",
    );
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert!(r.body.len() < 130_000 / 10);
    // Without gzip the same file goes by the kernel.
    let r = ask(&mut s, &mut buf, "GET", "/static/page.html", "");
    assert_eq!(r.body.len(), 130_000);
    drop(s);
    srv.shutdown().unwrap();
    assert_eq!(svc.sendfile_bytes(), 130_000);
}

#[test]
fn curl_downloads_whole_files_and_ranges() {
    let Some(curl) = peers::curl() else { return };
    let dir = Dir::new("curl");
    let big = dir.file("big.bin", 5 * MIB + 3);
    let one = dir.file("one", 1);
    dir.file("empty", 0);
    let (srv, svc) = server(&dir.0, ServerConfig::default());
    let base = format!("http://{}", srv.addr);
    let out_big = dir.path("out-big");
    let out_one = dir.path("out-one");
    let out_empty = dir.path("out-empty");
    let out = Command::new(&curl)
        .args(["-sS", "-v", "--max-time", "30", "--fail"])
        .arg(format!("{base}/static/big.bin"))
        .arg("-o")
        .arg(&out_big)
        .arg(format!("{base}/file/one"))
        .arg("-o")
        .arg(&out_one)
        .arg(format!("{base}/static/empty"))
        .arg("-o")
        .arg(&out_empty)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(std::fs::read(&out_big).unwrap() == big);
    assert_eq!(std::fs::read(&out_one).unwrap(), one);
    assert!(std::fs::read(&out_empty).unwrap().is_empty());
    // The same connection carried all three.
    assert_eq!(
        stderr.matches("Re-using existing connection").count(),
        2,
        "{stderr}"
    );
    let ranged = Command::new(&curl)
        .args(["-sS", "--max-time", "30", "-r", "1000-1999"])
        .arg(format!("{base}/file/big.bin"))
        .output()
        .unwrap();
    assert_eq!(ranged.stdout, big[1000..2000]);
    srv.shutdown().unwrap();
    assert_eq!(svc.sendfile_bytes(), (big.len() + 1 + 1000) as u64);
}

#[test]
fn unix_socket_downloads_use_sendfile() {
    let Some(curl) = peers::curl() else { return };
    let dir = Dir::new("unix");
    let data = dir.file("f", 2 * MIB);
    let sock = dir.path("sock");
    let server = Server::bind_unix(&sock, app(&dir.0)).unwrap();
    let svc = server.service().clone();
    let srv = TestServer::run(server);
    let out = Command::new(curl)
        .args(["-sS", "--max-time", "30", "--unix-socket"])
        .arg(&sock)
        .arg("http://localhost/static/f")
        .output()
        .unwrap();
    assert!(
        out.stdout == data,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    srv.shutdown().unwrap();
    assert_eq!(svc.sendfile_bytes(), data.len() as u64);
}

#[cfg(feature = "tls")]
#[test]
fn tls_reads_the_file_for_curl_and_tulips_client() {
    use tulip_test_support::pki::PemFiles;
    let dir = Dir::new("tls");
    let data = dir.file("f", 3 * MIB + 1);
    let (acceptor, ca_pem) = crate::serving::tls_identity();
    let mut server = Server::unbound(app(&dir.0), ServerConfig::default()).unwrap();
    server.listen_tls("127.0.0.1:0", acceptor).unwrap();
    let svc = server.service().clone();
    let srv = TestServer::run(server);
    let port = srv.addr.port();
    if let Some(curl) = peers::curl() {
        let pem = PemFiles::new("tulip-http-sendfile");
        let out = Command::new(curl)
            .args(["-sS", "--max-time", "30", "--http1.1", "--cacert"])
            .arg(pem.path("ca.pem"))
            .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
            .arg(format!("https://localhost:{port}/static/f"))
            .output()
            .unwrap();
        assert!(
            out.stdout == data,
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let body = tulip_executor::run(async move {
        let connector = tulip_tls::TlsConnector::builder()
            .add_roots_pem(ca_pem.as_bytes())
            .unwrap()
            .build()
            .unwrap();
        let c = tulip_http::Client::builder().tls(connector).build();
        let url = format!("https://localhost:{port}/file/f");
        c.get(url).send().await.unwrap().bytes().await.unwrap()
    });
    assert!(body == data);
    srv.shutdown().unwrap();
    assert_eq!(svc.sendfile_bytes(), 0, "TLS must take the read path");
}

/// Serves one accepted connection with `svc` on this thread's runtime, after `client` ran.
fn serve_one(svc: &Service, client: impl FnOnce(TcpStream)) -> Result<(), tulip_http::Error> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (accepted, peer) = listener.accept().unwrap();
    let conn = svc.serve_connection(Async::new(accepted).unwrap(), Some(peer));
    client(c);
    tulip_executor::run(async move {
        tulip_reactor::timeout(Duration::from_secs(30), conn)
            .await
            .expect("the connection ends by itself")
    })
}

#[test]
fn a_client_that_stops_reading_meets_the_write_timeout() {
    let dir = Dir::new("stall");
    dir.sparse("huge", 256 * MIB as u64);
    let mut cfg = ServerConfig::default();
    cfg.write_timeout = Duration::from_millis(300);
    let svc = app(&dir.0).into_service(cfg).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let res = serve_one(&svc, |mut c| {
        send(&mut c, "GET", "/static/huge", "");
        // Kept open and never read until the server has given up.
        tx.send(c).unwrap();
    });
    let err = res.expect_err("the stalled download fails");
    assert!(err.is_timeout(), "{err}");
    let sent = svc.sendfile_bytes();
    assert!(sent > 0 && sent < 256 * MIB as u64, "{sent}");
    drop(rx);
}

#[test]
fn a_file_that_shrinks_while_sent_closes_the_connection() {
    let dir = Dir::new("shrink");
    let path = dir.sparse("big", 256 * MIB as u64);
    dir.file("small", 10);
    let svc = app(&dir.0).into_service(ServerConfig::default()).unwrap();
    let reader = std::sync::Arc::new(std::sync::Mutex::new(None));
    let slot = reader.clone();
    let res = serve_one(&svc, move |mut c| {
        // Two requests at once: the second must never be answered after a short body.
        c.write_all(
            b"GET /static/big HTTP/1.1\r\nHost: x\r\n\r\nGET /static/small HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        .unwrap();
        let t = std::thread::spawn(move || {
            c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let mut got = Vec::new();
            let mut tmp = vec![0u8; 64 * 1024];
            // The head and some of the body, then the file loses most of its length.
            while find(&got, b"\r\n\r\n").is_none_or(|i| got.len() < i + 4 + 1) {
                let n = c.read(&mut tmp).unwrap();
                assert!(n > 0, "closed before the body started");
                got.extend_from_slice(&tmp[..n]);
            }
            std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .unwrap()
                .set_len(MIB as u64)
                .unwrap();
            let mut total = got.len();
            let mut tail = Vec::new();
            loop {
                match c.read(&mut tmp) {
                    Ok(0) => break,
                    Ok(n) => {
                        total += n;
                        // Only the last bytes matter for finding a second response.
                        tail.extend_from_slice(&tmp[..n]);
                        let keep = tail.len().saturating_sub(64 * 1024);
                        tail.drain(..keep);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                    Err(e) => panic!("the server did not close the connection: {e}"),
                }
            }
            (total, got, tail)
        });
        *slot.lock().unwrap() = Some(t);
    });
    let err = res.expect_err("a short file is an error");
    assert!(err.is_incomplete(), "{err}");
    let t = reader.lock().unwrap().take().unwrap();
    let (total, head, tail) = t.join().unwrap();
    let head_end = find(&head, b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&head[..head_end]).to_ascii_lowercase();
    assert!(
        head.contains(&format!("content-length: {}", 256 * MIB)),
        "{head}"
    );
    assert!(total < 256 * MIB, "{total}");
    assert!(
        find(&tail, b"HTTP/1.1").is_none(),
        "a response followed a short body"
    );
}

#[test]
fn http2_reads_the_file() {
    let Some(curl) = peers::curl() else { return };
    let dir = Dir::new("h2");
    let data = dir.file("f", 2 * MIB + 5);
    let (srv, svc) = server(&dir.0, ServerConfig::default());
    let out = Command::new(curl)
        .args([
            "-sS",
            "--max-time",
            "30",
            "--http2-prior-knowledge",
            "-w",
            "%{http_version}",
        ])
        .arg(format!("http://{}/static/f", srv.addr))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let (body, version) = out.stdout.split_at(out.stdout.len() - 1);
    assert_eq!(version, b"2", "{stderr}");
    assert!(body == data, "{stderr}");
    srv.shutdown().unwrap();
    assert_eq!(svc.sendfile_bytes(), 0, "HTTP/2 must take the read path");
}
