//! File downloads, 1 MiB and 100 MiB over loopback: tulip-http's `static_dir` with
//! sendfile(2), the same server with `ServerConfig::sendfile = false` (the read-and-write path:
//! 64 KiB reads on the blocking pool), and hyper 1.x on tokio reading the file with
//! `tokio::fs` in 64 KiB pieces (what a hyper file server does; hyper has no sendfile).
//!
//! Every contender is driven by the same client: `CONNS` keep-alive connections on their own
//! threads, each downloading its share one after another into a reused buffer and checking
//! the length. The file is read once before the run, so it is in the page cache for all.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::harness::{Bench, Config, Sample};

const MIB: u64 = 1 << 20;
/// Connections downloading at once.
const CONNS: usize = 4;
/// The read paths' piece size (tulip's read path uses the same).
const PIECE: usize = 64 * 1024;

struct Servers {
    dir: PathBuf,
    tulip: SocketAddr,
    tulip_service: tulip_http::Service,
    tulip_read: SocketAddr,
    hyper: SocketAddr,
}

static SERVERS: OnceLock<Servers> = OnceLock::new();

pub(super) fn benches(cfg: &Config) -> Vec<Bench> {
    let mut out = Vec::new();
    for (name, size, quick, full) in [
        ("http_file_1mib", MIB, 200, 800),
        ("http_file_100mib", 100 * MIB, 2, 8),
    ] {
        if !cfg.wants(name) {
            continue;
        }
        let s = SERVERS.get_or_init(start);
        let file = format!("f{size}");
        make_file(&s.dir.join(&file), size);
        let n = cfg.size(quick, full).max(CONNS);
        let path: &'static str = Box::leak(format!("/static/{file}").into_boxed_str());
        let unit = format!("{n} downloads of {} MiB, {CONNS} conns", size / MIB);
        let (tulip, read, hyper) = (s.tulip, s.tulip_read, s.hyper);
        let svc = s.tulip_service.clone();
        out.push(
            Bench::new(name, unit)
                .with("tulip", move || {
                    let before = svc.sendfile_bytes();
                    let sample = download(tulip, path, n, size);
                    // The kernel path must have carried the bodies, or this row lies.
                    assert!(
                        svc.sendfile_bytes() > before,
                        "tulip's downloads did not use sendfile(2)"
                    );
                    sample
                })
                .with("tulip-read", move || download(read, path, n, size))
                .with("hyper", move || download(hyper, path, n, size)),
        );
    }
    out
}

/// Writes `size` bytes of a pattern at `path` (once) and reads them back into the page cache.
pub(crate) fn make_file(path: &Path, size: u64) {
    if std::fs::metadata(path).ok().map(|m| m.len()) != Some(size) {
        let piece: Vec<u8> = (0..MIB as usize).map(|i| (i % 251) as u8).collect();
        let mut f = std::fs::File::create(path).expect("bench file");
        for _ in 0..size / MIB {
            f.write_all(&piece).expect("write bench file");
        }
    }
    let mut f = std::fs::File::open(path).expect("bench file");
    let mut sink = vec![0u8; MIB as usize];
    while f.read(&mut sink).expect("read bench file") > 0 {}
}

/// The files' directory. One fixed directory: later runs reuse the files instead of leaving
/// 101 MiB behind each.
pub(crate) fn dir() -> PathBuf {
    let dir = std::env::temp_dir().join("tulip-bench-files");
    std::fs::create_dir_all(&dir).expect("bench dir");
    dir
}

fn start() -> Servers {
    let dir = dir();
    let (tulip, tulip_service) = start_tulip(&dir, true);
    let (tulip_read, _) = start_tulip(&dir, false);
    Servers {
        tulip,
        tulip_service,
        tulip_read,
        hyper: start_hyper(dir.clone()),
        dir,
    }
}

pub(crate) fn start_tulip(dir: &Path, sendfile: bool) -> (SocketAddr, tulip_http::Service) {
    use tulip_http::{App, Server, ServerConfig};
    let mut cfg = ServerConfig::default();
    cfg.sendfile = sendfile;
    let app = App::new().static_dir("/static", dir);
    let server = Server::bind_with("127.0.0.1:0", app, cfg).expect("bind tulip");
    let addr = server.local_addr();
    let service = server.service().clone();
    std::thread::spawn(move || tulip_executor::run(server.run()));
    (addr, service)
}

/// hyper 1.x on a tokio multi-thread runtime: open the file, stream it in 64 KiB reads.
pub(crate) fn start_hyper(dir: PathBuf) -> SocketAddr {
    use futures_util::StreamExt;
    use http_body_util::StreamBody;
    use hyper::body::{Bytes, Frame};
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    use tokio::io::AsyncReadExt;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let dir = std::sync::Arc::new(dir);
    std::thread::spawn(move || {
        rt.block_on(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let dir = dir.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let dir = dir.clone();
                        async move {
                            let name = req.uri().path().trim_start_matches("/static/");
                            let file = tokio::fs::File::open(dir.join(name)).await?;
                            let len = file.metadata().await?.len();
                            let body = futures_util::stream::unfold(file, |mut f| async move {
                                let mut buf = vec![0u8; PIECE];
                                match f.read(&mut buf).await {
                                    Ok(0) => None,
                                    Ok(n) => {
                                        buf.truncate(n);
                                        Some((Ok(Frame::data(Bytes::from(buf))), f))
                                    }
                                    Err(e) => Some((Err(e), f)),
                                }
                            })
                            .boxed();
                            Ok::<_, std::io::Error>(
                                hyper::Response::builder()
                                    .header("content-type", "application/octet-stream")
                                    .header("content-length", len)
                                    .body(StreamBody::new(body))
                                    .unwrap(),
                            )
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        })
    });
    addr
}

/// `n` downloads of `path` (each `size` bytes) over `CONNS` keep-alive connections.
pub(crate) fn download(addr: SocketAddr, path: &str, n: usize, size: u64) -> Sample {
    let per_conn = n.div_ceil(CONNS);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..CONNS {
            s.spawn(move || {
                let mut c = TcpStream::connect(addr).expect("connect to file server");
                c.set_nodelay(true).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                let req = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n");
                let mut buf = vec![0u8; 256 * 1024];
                for _ in 0..per_conn {
                    c.write_all(req.as_bytes()).expect("write request");
                    read_download(&mut c, &mut buf, size);
                }
            });
        }
    });
    let time = start.elapsed();
    let bytes = (per_conn * CONNS) as f64 * size as f64;
    Sample {
        time,
        metrics: vec![("MiB_per_s", bytes / MIB as f64 / time.as_secs_f64())],
    }
}

/// Reads one 200 reply whose body must be `size` bytes, discarding the body.
fn read_download(c: &mut TcpStream, buf: &mut [u8], size: u64) {
    let mut got = 0;
    let head_end = loop {
        let k = c.read(&mut buf[got..]).expect("read reply head");
        assert!(k > 0, "file server closed the connection");
        got += k;
        if let Some(i) = buf[..got].windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "unexpected reply: {head}");
    assert!(
        head.contains(&format!("content-length: {size}\r\n")),
        "unexpected length: {head}"
    );
    let mut body = (got - head_end) as u64;
    while body < size {
        let k = c.read(buf).expect("read body");
        assert!(k > 0, "file server closed the connection mid-body");
        body += k as u64;
    }
    assert_eq!(body, size, "more bytes than the body");
}
