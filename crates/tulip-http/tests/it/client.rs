//! The client against tulip's own server, scripted raw servers (for misbehaviour), and
//! Python aiohttp's server when `TULIP_PYTHON` is set.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use futures_lite::StreamExt;
use tulip_http::StatusCode;
use tulip_http::{App, Client, Request, Response, Server};

/// Runs `f` in a tulip runtime with a tulip server for `app`; `f` gets the base URL.
fn with_server<F, Fut>(app: App, f: F)
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    tulip_executor::run(async move {
        let server = Server::bind("127.0.0.1:0", app).unwrap();
        let base = format!("http://{}", server.local_addr());
        let stop = server.shutdown_handle();
        let running = tulip_executor::spawn(server.run());
        f(base).await;
        stop.shutdown();
        running.await.unwrap().unwrap();
    });
}

/// A scripted server on a std thread: for each accepted connection, `script` reads requests
/// and writes whatever it wants. Counts accepted connections.
struct Raw {
    addr: SocketAddr,
    accepts: Arc<AtomicUsize>,
}

impl Raw {
    fn start(script: impl Fn(TcpStream, usize) + Send + Sync + 'static) -> Raw {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let accepts = Arc::new(AtomicUsize::new(0));
        let counter = accepts.clone();
        let script = Arc::new(script);
        thread::spawn(move || {
            for s in l.incoming() {
                let Ok(s) = s else { return };
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let script = script.clone();
                thread::spawn(move || script(s, n));
            }
        });
        Raw { addr, accepts }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// Reads one request head (and a Content-Length body) from a raw connection.
fn read_request(s: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let len = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
        })
        .unwrap_or(0);
    let mut body = vec![0; len];
    s.read_exact(&mut body).ok()?;
    Some(head + &String::from_utf8_lossy(&body))
}

/// GETs `url` and returns the body as text, failing the test on any error.
async fn get_text(c: &Client, url: impl AsRef<str>) -> String {
    c.get(url).send().await.unwrap().text().await.unwrap()
}

fn client() -> Client {
    Client::builder()
        .read_timeout(Some(Duration::from_secs(10)))
        .build()
}

#[test]
fn get_text_and_keep_alive_reuse_against_tulip_server() {
    let app = App::new().get("/{name}", |req: Request| async move {
        format!("Hello, {}", req.match_info("name").unwrap_or(""))
    });
    with_server(app, |base| async move {
        let c = client();
        for i in 0..5 {
            let r = c.get(format!("{base}/n{i}")).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(r.text().await.unwrap(), format!("Hello, n{i}"));
        }
        let s = c.pool_stats();
        assert_eq!((s.connects, s.reuses), (1, 4), "{s:?}");
    });
}

#[test]
fn pool_reuse_counted_server_side() {
    let raw = Raw::start(|mut s, _| {
        while let Some(_req) = read_request(&mut s) {
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .unwrap();
        }
    });
    tulip_executor::run(async {
        let c = client();
        for _ in 0..10 {
            assert_eq!(
                c.get(raw.url("/"))
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap(),
                "ok"
            );
        }
    });
    assert_eq!(raw.accepts.load(Ordering::SeqCst), 1);
}

#[test]
fn server_closing_idle_connections_is_invisible() {
    // Answers one request per connection without `Connection: close`, then hangs up: the
    // classic stale keep-alive connection.
    let raw = Raw::start(|mut s, _| {
        if read_request(&mut s).is_some() {
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
                .unwrap();
        }
    });
    tulip_executor::run(async {
        let c = client();
        for _ in 0..5 {
            let r = c
                .get(raw.url("/"))
                .send()
                .await
                .expect("a stale connection leaked an error");
            assert_eq!(r.text().await.unwrap(), "hello");
            tulip_reactor::sleep(Duration::from_millis(20)).await;
        }
        let s = c.pool_stats();
        assert_eq!(s.connects, 5, "{s:?}");
        assert!(s.stale_dropped + s.retries >= 4, "{s:?}");
    });
}

#[test]
fn idempotent_request_retried_once_when_reused_connection_dies_silently() {
    // The server closes right after reading the second request on a connection: the client
    // cannot know in advance, so it must retry (GET is idempotent).
    let raw = Raw::start(|mut s, _| {
        if read_request(&mut s).is_some() {
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1")
                .unwrap();
        }
        let _ = read_request(&mut s); // then close without answering
    });
    tulip_executor::run(async {
        let c = client();
        assert_eq!(get_text(&c, raw.url("/")).await, "1");
        assert_eq!(get_text(&c, raw.url("/")).await, "1");
        assert_eq!(c.pool_stats().retries, 1);
        // POST is not retried: the error reaches the caller.
        let _ = c.get(raw.url("/")).send().await.unwrap().bytes().await;
        let err = c.post(raw.url("/")).body("x").send().await.unwrap_err();
        assert!(err.is_incomplete() || err.is_io(), "{err:?}");
    });
}

#[test]
fn redirect_chain_with_method_rules_history_and_auth_drop() {
    let other = Raw::start(|mut s, _| {
        while let Some(req) = read_request(&mut s) {
            let auth = req
                .lines()
                .any(|l| l.to_ascii_lowercase().starts_with("authorization:"));
            let method = req.split(' ').next().unwrap_or("").to_string();
            let body = format!("{method} auth={auth}");
            write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
        }
    });
    let target = other.url("/final");
    let first = Raw::start(move |mut s, _| {
        while let Some(req) = read_request(&mut s) {
            let path = req.split(' ').nth(1).unwrap_or("").to_string();
            let reply = match path.as_str() {
                "/start" => {
                    "HTTP/1.1 302 Found\r\nLocation: /keep\r\nContent-Length: 4\r\n\r\nmove"
                        .to_string()
                }
                "/keep" => format!(
                    "HTTP/1.1 307 Temporary Redirect\r\nLocation: {target}\r\nContent-Length: 0\r\n\r\n"
                ),
                "/loop" => {
                    "HTTP/1.1 301 Moved\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n".to_string()
                }
                _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_string(),
            };
            s.write_all(reply.as_bytes()).unwrap();
        }
    });
    tulip_executor::run(async {
        let c = client();
        let r = c
            .post(first.url("/start"))
            .bearer_auth("secret")
            .body("payload")
            .send()
            .await
            .unwrap();
        // 302 turned POST into GET; 307 kept GET; the origin changed so Authorization went.
        assert_eq!(r.history().len(), 2);
        assert_eq!(r.history()[0].0, StatusCode::FOUND);
        assert_eq!(r.history()[1].0, StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(r.url().path(), "/final");
        assert_eq!(r.text().await.unwrap(), "GET auth=false");

        let err = c.get(first.url("/loop")).send().await.unwrap_err();
        assert!(err.is_redirect(), "{err:?}");
        let r = c
            .get(first.url("/loop"))
            .max_redirects(0)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
    });
}

#[test]
fn timeouts_fire_as_configured() {
    let raw = Raw::start(|mut s, n| {
        let _ = read_request(&mut s);
        if n % 2 == 1 {
            // Head, then a body that never comes.
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc");
        }
        thread::sleep(Duration::from_secs(3));
    });
    tulip_executor::run(async {
        let c = Client::builder()
            .read_timeout(Some(Duration::from_millis(100)))
            .build();
        let err = c.get(raw.url("/")).send().await.unwrap_err();
        assert!(err.is_timeout(), "read timeout: {err:?}");
        let mut r = c.get(raw.url("/")).send().await.unwrap();
        assert_eq!(&r.chunk().await.unwrap().unwrap()[..], b"abc");
        let err = r.chunk().await.unwrap_err();
        assert!(err.is_timeout(), "body read timeout: {err:?}");
        let slow = Client::builder()
            .read_timeout(None)
            .total_timeout(Some(Duration::from_millis(150)))
            .build();
        let err = slow.get(raw.url("/")).send().await.unwrap_err();
        assert!(err.is_timeout(), "total timeout: {err:?}");
    });
}

#[test]
fn malformed_responses_are_errors_and_not_pooled() {
    let raw = Raw::start(|mut s, _| {
        while let Some(req) = read_request(&mut s) {
            let path = req.split(' ').nth(1).unwrap_or("").to_string();
            let reply: &[u8] = match path.as_str() {
                "/badstatus" => b"HTTP/1.1 abc OK\r\n\r\n",
                "/short" => b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
                "/conflict" => {
                    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"
                }
                "/badchunk" => {
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
                }
                _ => b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            };
            s.write_all(reply).unwrap();
            if path == "/short" {
                return;
            }
        }
    });
    tulip_executor::run(async {
        let c = client();
        assert!(
            c.get(raw.url("/badstatus"))
                .send()
                .await
                .unwrap_err()
                .is_parse()
        );
        assert!(
            c.get(raw.url("/conflict"))
                .send()
                .await
                .unwrap_err()
                .is_parse()
        );
        let short = c
            .get(raw.url("/short"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap_err();
        assert!(short.is_incomplete(), "{short:?}");
        let chunk = c
            .get(raw.url("/badchunk"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap_err();
        assert!(chunk.is_parse(), "{chunk:?}");
        // Nothing broken went back to the pool: a normal request still works.
        assert_eq!(get_text(&c, raw.url("/ok")).await, "ok");
    });
}

#[test]
fn gzip_and_chunked_responses_are_decoded() {
    use flate2::Compression;
    use flate2::write::GzEncoder;
    let text = "tulip ".repeat(10_000);
    let mut g = GzEncoder::new(Vec::new(), Compression::default());
    g.write_all(text.as_bytes()).unwrap();
    let gz = g.finish().unwrap();
    let raw = Raw::start(move |mut s, _| {
        while let Some(req) = read_request(&mut s) {
            assert!(req.to_ascii_lowercase().contains("accept-encoding: gzip"));
            write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            .unwrap();
            for piece in gz.chunks(1000) {
                write!(s, "{:x}\r\n", piece.len()).unwrap();
                s.write_all(piece).unwrap();
                s.write_all(b"\r\n").unwrap();
            }
            s.write_all(b"0\r\n\r\n").unwrap();
        }
    });
    tulip_executor::run(async {
        let c = client();
        assert_eq!(get_text(&c, raw.url("/")).await, "tulip ".repeat(10_000));
        assert_eq!(c.pool_stats().connects, 1);
    });
}

#[test]
fn streaming_upload_and_download_with_tulip_server() {
    let app = App::new()
        .post("/count", |mut req: Request| async move {
            let mut body = req.take_body();
            let mut n = 0usize;
            while let Some(piece) = body.next().await {
                n += piece?.len();
            }
            Ok::<_, tulip_http::Error>(n.to_string())
        })
        .get("/big", |_req: Request| async move {
            Response::bytes(vec![7u8; 4 << 20])
        });
    with_server(app, |base| async move {
        let c = client();
        let chunks = futures_lite::stream::iter(
            (0..64).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![1u8; 16 * 1024]))),
        );
        let r = c
            .post(format!("{base}/count"))
            .body_stream(chunks)
            .send()
            .await
            .unwrap();
        assert_eq!(r.text().await.unwrap(), (64 * 16 * 1024).to_string());
        // Download streamed: never more than one chunk held.
        let mut r = c.get(format!("{base}/big")).send().await.unwrap();
        let (mut total, mut largest) = (0usize, 0usize);
        while let Some(chunk) = r.chunk().await.unwrap() {
            assert!(chunk.iter().all(|&b| b == 7));
            total += chunk.len();
            largest = largest.max(chunk.len());
        }
        assert_eq!(total, 4 << 20);
        assert!(
            largest < 1 << 20,
            "a chunk of {largest} bytes: not streamed"
        );
    });
}

#[test]
fn connection_refused_is_a_connect_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    tulip_executor::run(async move {
        let err = client()
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .unwrap_err();
        assert!(err.is_connect(), "{err:?}");
        let err = client().get("ftp://127.0.0.1/").send().await.unwrap_err();
        assert!(err.is_user(), "{err:?}");
    });
}

#[test]
fn per_host_limit_bounds_concurrency() {
    let live = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (l2, p2) = (live.clone(), peak.clone());
    let raw = Raw::start(move |mut s, _| {
        while read_request(&mut s).is_some() {
            let now = l2.fetch_add(1, Ordering::SeqCst) + 1;
            p2.fetch_max(now, Ordering::SeqCst);
            thread::sleep(Duration::from_millis(20));
            l2.fetch_sub(1, Ordering::SeqCst);
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
        }
    });
    let url = raw.url("/");
    tulip_executor::run(async move {
        let c = Client::builder().limit_per_host(2).build();
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (c, url) = (c.clone(), url.clone());
                tulip_executor::spawn(async move {
                    c.get(url).send().await.unwrap().bytes().await.unwrap()
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    assert_eq!(peak.load(Ordering::SeqCst), 2);
}

#[test]
fn against_python_aiohttp_server() {
    let Some(py) = std::env::var_os("TULIP_PYTHON") else {
        eprintln!("skipped: TULIP_PYTHON is not set");
        return;
    };
    let script = r#"
import asyncio, sys
from aiohttp import web
async def hello(req): return web.Response(text="hi " + req.match_info["n"])
async def redir(req): raise web.HTTPFound("/hello/redirected")
async def echo(req): return web.Response(body=await req.read())
async def main():
    app = web.Application(client_max_size=10 * 1024 * 1024)
    app.add_routes([web.get("/hello/{n}", hello), web.get("/redir", redir), web.post("/echo", echo)])
    runner = web.AppRunner(app, keepalive_timeout=0.2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(site._server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(30)
asyncio.run(main())
"#;
    let mut child = match std::process::Command::new(py)
        .arg("-c")
        .arg(script)
        .stdout(std::process::Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("skipped: cannot start python: {e}");
            return;
        }
    };
    let mut line = String::new();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    let Ok(port) = line.trim().parse::<u16>() else {
        eprintln!("skipped: aiohttp is not importable by TULIP_PYTHON");
        let _ = child.kill();
        return;
    };
    tulip_executor::run(async move {
        let c = client();
        let base = format!("http://127.0.0.1:{port}");
        for i in 0..3 {
            assert_eq!(
                get_text(&c, format!("{base}/hello/{i}")).await,
                format!("hi {i}")
            );
        }
        assert_eq!(c.pool_stats().connects, 1);
        let r = c.get(format!("{base}/redir")).send().await.unwrap();
        assert_eq!(r.history().len(), 1);
        assert_eq!(r.text().await.unwrap(), "hi redirected");
        let payload = vec![b'x'; 300_000];
        assert_eq!(
            c.post(format!("{base}/echo"))
                .body(payload.clone())
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap(),
            payload
        );
        // aiohttp closes idle keep-alive connections after 0.2 s: no error may reach us.
        tulip_reactor::sleep(Duration::from_millis(500)).await;
        assert_eq!(get_text(&c, format!("{base}/hello/late")).await, "hi late");
    });
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn https_with_a_test_ca() {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "tulip-http test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let acceptor = tulip_tls::TlsAcceptor::from_pem(
        format!("{}{}", leaf.pem(), ca.pem()).as_bytes(),
        leaf_key.serialize_pem().as_bytes(),
    )
    .unwrap();
    let ca_pem = ca.pem();

    tulip_executor::run(async move {
        let listener = tulip_net::TcpListener::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tulip_executor::spawn(async move {
            // Two connections: the trusted client's, then the untrusting client's failed one.
            for _ in 0..2 {
                let (tcp, _) = listener.accept().await.unwrap();
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    continue;
                };
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.ends_with(b"\r\n\r\n") {
                    let n = futures_lite::AsyncReadExt::read(&mut tls, &mut buf)
                        .await
                        .unwrap();
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
                let body = "secure hello";
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                futures_lite::AsyncWriteExt::write_all(&mut tls, reply.as_bytes())
                    .await
                    .unwrap();
                let _ = futures_lite::AsyncWriteExt::close(&mut tls).await;
            }
        });
        let trusted = tulip_tls::TlsConnector::builder()
            .add_roots_pem(ca_pem.as_bytes())
            .unwrap()
            .build()
            .unwrap();
        let c = Client::builder().tls(trusted).build();
        let r = c
            .get(format!("https://localhost:{port}/"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.text().await.unwrap(), "secure hello");
        // The default client trusts only webpki roots: the test CA is refused.
        let err = Client::new()
            .get(format!("https://localhost:{port}/"))
            .send()
            .await
            .unwrap_err();
        assert!(err.is_connect(), "{err:?}");
        server.await.unwrap();
    });
}
