//! HTTP/1.1 server benchmarks: tulip-http beside hyper 1.x on tokio (and Python aiohttp when
//! `TULIP_PYTHON` points at an interpreter with aiohttp), all driven by the SAME load generator
//! so that only the server differs.
//!
//! The load generator is plain std: a few threads, each owning a share of the connections with
//! blocking sockets. One round writes a request (or a pipelined batch) on every connection the
//! thread owns, then reads every reply, so `connections × depth` requests are in flight.
//! Servers run on their own multi-thread runtimes with default worker counts.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::harness::{Bench, Config};

pub(crate) mod files;
mod h2;
mod idle;

const CONNS: usize = 64;
const CLIENT_THREADS: usize = 2;

/// One server of each kind for the whole run, shared by the benchmarks.
static TULIP: std::sync::OnceLock<SocketAddr> = std::sync::OnceLock::new();
static HYPER: std::sync::OnceLock<SocketAddr> = std::sync::OnceLock::new();
static AIOHTTP: std::sync::OnceLock<Option<SocketAddr>> = std::sync::OnceLock::new();

pub(crate) fn benches(cfg: &Config) -> Vec<Bench> {
    // A child process started by the idle-memory benchmark serves instead (and exits).
    idle::child_main_if_requested();
    let requests = cfg.size(32_000, 200_000);
    let mut all = vec![
        bench("http_plaintext_keepalive", "/", requests, 1),
        bench("http_plaintext_pipelined16", "/", requests * 2, 16),
        bench("http_json_keepalive", "/json", requests, 1),
        idle::bench(cfg),
        idle::cpu_bench(cfg),
    ];
    all.extend(h2::benches(cfg));
    all.extend(files::benches(cfg));
    all
}

fn bench(name: &str, path: &'static str, requests: usize, depth: usize) -> Bench {
    let unit = format!("{requests} GET {path}, {CONNS} conns, depth {depth}");
    // One server of each kind serves every benchmark of the run.
    let tulip = *TULIP.get_or_init(|| TulipServer::start().addr);
    let hyper = *HYPER.get_or_init(|| HyperServer::start().addr);
    let mut b = Bench::new(name, unit)
        .with("tulip", move || load(tulip, path, requests, depth))
        .with("hyper", move || load(hyper, path, requests, depth));
    if let Some(py) =
        *AIOHTTP.get_or_init(|| AiohttpServer::start().map(|s| Box::leak(Box::new(s)).addr))
    {
        // aiohttp is much slower: give it a tenth of the work and scale the time.
        let n = (requests / 10).max(CONNS * depth);
        b = b.with("aiohttp", move || {
            load(py, path, n, depth) * (requests / n) as u32
        });
    }
    b
}

/// Sends `requests` requests over `CONNS` keep-alive connections, `depth` at a time per
/// connection, and returns the wall time. Every reply is checked to be a 200.
pub(crate) fn load(addr: SocketAddr, path: &str, requests: usize, depth: usize) -> Duration {
    let per_conn_round = depth;
    let rounds = requests.div_ceil(CONNS * per_conn_round).max(1);
    let mut one = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n").into_bytes();
    let batch: Vec<u8> = one.repeat(depth);
    one.clear();
    let conns_per_thread = CONNS / CLIENT_THREADS;
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..CLIENT_THREADS {
            let batch = &batch;
            s.spawn(move || {
                let mut conns: Vec<(TcpStream, Vec<u8>)> = (0..conns_per_thread)
                    .map(|_| {
                        let c = TcpStream::connect(addr)
                            .unwrap_or_else(|e| panic!("connect to bench server {addr}: {e}"));
                        c.set_nodelay(true).unwrap();
                        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                        (c, Vec::with_capacity(64 * 1024))
                    })
                    .collect();
                for _ in 0..rounds {
                    for (c, _) in conns.iter_mut() {
                        c.write_all(batch).expect("write request");
                    }
                    for (c, buf) in conns.iter_mut() {
                        read_replies(c, buf, depth);
                    }
                }
            });
        }
    });
    start.elapsed()
}

/// Reads exactly `n` Content-Length-framed 200 replies.
fn read_replies(c: &mut TcpStream, buf: &mut Vec<u8>, n: usize) {
    let mut done = 0;
    let mut pos = 0;
    let mut tmp = [0u8; 32 * 1024];
    while done < n {
        if let Some(len) = reply_len(&buf[pos..]) {
            pos += len;
            done += 1;
            continue;
        }
        let k = c.read(&mut tmp).unwrap_or_else(|e| {
            panic!("read reply from {:?}: {e} (done {done}/{n})", c.peer_addr())
        });
        assert!(k > 0, "server closed the connection");
        buf.extend_from_slice(&tmp[..k]);
    }
    buf.drain(..pos);
}

/// The length of one complete reply at the front of `b`, if all of it is there.
fn reply_len(b: &[u8]) -> Option<usize> {
    let end = b.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = &b[..end];
    assert!(
        head.starts_with(b"HTTP/1.1 200"),
        "unexpected reply: {:?}",
        String::from_utf8_lossy(head)
    );
    let mut cl = 0usize;
    for line in head.split(|&c| c == b'\n') {
        if line.len() > 15 && line[..15].eq_ignore_ascii_case(b"content-length:") {
            cl = std::str::from_utf8(&line[15..]).ok()?.trim().parse().ok()?;
        }
    }
    (b.len() >= end + cl).then_some(end + cl)
}

pub(crate) struct TulipServer {
    pub(crate) addr: SocketAddr,
}

impl TulipServer {
    pub(crate) fn start() -> TulipServer {
        use tulip_http::{App, Request, Response, Server};
        let app = App::new()
            .get("/", |_req: Request| async { "Hello, World!" })
            .get("/json", |_req: Request| async {
                Response::json(&serde_json::json!({ "message": "Hello, World!" }))
            });
        let server = Server::bind("127.0.0.1:0", app).expect("bind tulip");
        let addr = server.local_addr();
        // The runtime lives for the whole process, like the other servers.
        std::thread::spawn(move || tulip_executor::run(server.run()));
        TulipServer { addr }
    }
}

pub(crate) struct HyperServer {
    pub(crate) addr: SocketAddr,
}

impl HyperServer {
    pub(crate) fn start() -> HyperServer {
        use http_body_util::Full;
        use hyper::body::Bytes;
        use hyper::server::conn::http1;
        use hyper::service::service_fn;
        use hyper_util::rt::TokioIo;

        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            rt.block_on(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(async move {
                        let svc =
                            service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                                let resp = if req.uri().path() == "/json" {
                                    let body = serde_json::to_vec(
                                        &serde_json::json!({ "message": "Hello, World!" }),
                                    )
                                    .unwrap();
                                    hyper::Response::builder()
                                        .header("content-type", "application/json")
                                        .body(Full::new(Bytes::from(body)))
                                } else {
                                    hyper::Response::builder()
                                        .header("content-type", "text/plain; charset=utf-8")
                                        .body(Full::new(Bytes::from_static(b"Hello, World!")))
                                };
                                Ok::<_, std::convert::Infallible>(resp.unwrap())
                            });
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    });
                }
            })
        });
        HyperServer { addr }
    }
}

impl HyperServer {
    /// hyper's HTTP/2 server (prior knowledge), the same handler, on a tokio multi-thread
    /// runtime with hyper-util's executor for streams.
    fn start_h2() -> HyperServer {
        use http_body_util::Full;
        use hyper::body::Bytes;
        use hyper::server::conn::http2;
        use hyper::service::service_fn;
        use hyper_util::rt::{TokioExecutor, TokioIo};

        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            rt.block_on(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(async move {
                        let svc = service_fn(|_req: hyper::Request<hyper::body::Incoming>| async {
                            Ok::<_, std::convert::Infallible>(
                                hyper::Response::builder()
                                    .header("content-type", "text/plain; charset=utf-8")
                                    .body(Full::new(Bytes::from_static(b"Hello, World!")))
                                    .unwrap(),
                            )
                        });
                        let _ = http2::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    });
                }
            })
        });
        HyperServer { addr }
    }
}

/// Python aiohttp in a child process (leaked for the run; killed if dropped).
struct AiohttpServer {
    addr: SocketAddr,
    child: std::process::Child,
}

impl Drop for AiohttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl AiohttpServer {
    /// Starts aiohttp on a port it picks itself and reports on stdout.
    fn start() -> Option<AiohttpServer> {
        use std::io::BufRead;
        let python = std::env::var_os("TULIP_PYTHON")?;
        let script = r#"
import asyncio, os, sys, threading
from aiohttp import web
# Exit when the benchmark process goes away (it holds our stdin open until then).
threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
async def hello(request):
    return web.Response(text="Hello, World!")
async def js(request):
    return web.json_response({"message": "Hello, World!"})
async def main():
    app = web.Application()
    app.add_routes([web.get("/", hello), web.get("/json", js)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"#;
        let mut child = std::process::Command::new(python)
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let mut line = String::new();
        let stdout = child.stdout.take()?;
        let read = std::io::BufReader::new(stdout).read_line(&mut line);
        let port: Option<u16> = read.ok().and_then(|_| line.trim().parse().ok());
        let Some(port) = port else {
            eprintln!("aiohttp did not start; skipping it");
            let _ = child.kill();
            let _ = child.wait();
            return None;
        };
        Some(AiohttpServer {
            addr: ([127, 0, 0, 1], port).into(),
            child,
        })
    }
}
