//! gzip response compression: negotiation on the wire, streaming (SSE) that still streams,
//! exclusions, and real decoders (curl --compressed, aiohttp, tulip's client).

use std::io::{Read, Write};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tulip_http::{App, HeaderValue, Request, Response, ServerConfig, StatusCode, header};

use crate::support::{TestServer, read_reply};

fn text() -> String {
    (0..400)
        .map(|i| format!("line {i} of a compressible text\n"))
        .collect()
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

fn app(go: Arc<AtomicBool>) -> App {
    App::new()
        .get("/text", |_r: Request| async { text() })
        .get("/forced", |_r: Request| async {
            Response::bytes(text()).with_compression()
        })
        .get("/refused", |_r: Request| async {
            let mut r = Response::text(text());
            r.disable_compression();
            r
        })
        .get("/small", |_r: Request| async { "tiny" })
        .get("/png", |_r: Request| async {
            Response::bytes(text()).with_content_type("image/png".parse().unwrap())
        })
        .get("/encoded", |_r: Request| async {
            Response::text(text())
                .with_header(header::CONTENT_ENCODING, HeaderValue::from_static("br"))
        })
        .get("/empty", |_r: Request| async { StatusCode::NO_CONTENT })
        .get("/stream", |_r: Request| async {
            Response::streaming(|mut w| async move {
                for _ in 0..50 {
                    w.write(text()).await?;
                }
                Ok(())
            })
            .with_content_type("text/plain".parse().unwrap())
            .with_header(header::CONTENT_LENGTH, HeaderValue::from(text().len() * 50))
        })
        .get("/sse", move |_r: Request| {
            let go = go.clone();
            async move {
                Response::sse(move |mut tx| async move {
                    tx.send(Some("first"), "hello").await?;
                    // Hold the second event until the test saw the first: proof that the first
                    // left the server on its own, compressed. Bounded so a failing test ends.
                    let start = Instant::now();
                    while !go.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(5) {
                        tulip_reactor::sleep(Duration::from_millis(5)).await;
                    }
                    tx.send(Some("second"), "world").await
                })
            }
        })
}

fn server() -> (TestServer, Arc<AtomicBool>) {
    let go = Arc::new(AtomicBool::new(false));
    let mut cfg = ServerConfig::default();
    cfg.compression = true;
    (TestServer::start_with(app(go.clone()), cfg), go)
}

fn get(srv: &TestServer, path: &str, accept: Option<&str>, method: &str) -> crate::support::Reply {
    let mut s = srv.connect();
    let ae = accept.map_or(String::new(), |a| format!("Accept-Encoding: {a}\r\n"));
    write!(s, "{method} {path} HTTP/1.1\r\nHost: x\r\n{ae}\r\n").unwrap();
    read_reply(&mut s, &mut Vec::new(), method == "HEAD").expect("a reply")
}

#[test]
fn negotiation_on_the_wire() {
    let (srv, _) = server();
    // (path, Accept-Encoding, method, compressed, vary)
    let table: &[(&str, Option<&str>, &str, bool, bool)] = &[
        ("/text", Some("gzip, deflate"), "GET", true, true),
        ("/text", Some("br;q=1, gzip;q=0.5"), "GET", true, true),
        ("/text", Some("*"), "GET", true, true),
        ("/text", Some("gzip;q=0"), "GET", false, true),
        ("/text", Some("identity"), "GET", false, true),
        ("/text", None, "GET", false, true),
        ("/text", Some("gzip"), "HEAD", false, true),
        ("/forced", Some("gzip"), "GET", true, true),
        ("/refused", Some("gzip"), "GET", false, false),
        ("/small", Some("gzip"), "GET", false, false),
        ("/png", Some("gzip"), "GET", false, false),
        ("/encoded", Some("gzip"), "GET", false, false),
        ("/empty", Some("gzip"), "GET", false, false),
        ("/stream", Some("gzip"), "GET", true, true),
    ];
    for &(path, accept, method, compressed, vary) in table {
        let r = get(&srv, path, accept, method);
        let what = format!("{method} {path} {accept:?}: {:?}", r.headers);
        assert_eq!(
            r.header("content-encoding") == Some("gzip"),
            compressed,
            "{what}"
        );
        assert_eq!(
            r.header("vary")
                .is_some_and(|v| v.eq_ignore_ascii_case("accept-encoding")),
            vary,
            "{what}"
        );
        if method == "HEAD" || path == "/empty" {
            continue;
        }
        let want = match path {
            "/small" => b"tiny".to_vec(),
            "/stream" => text().repeat(50).into_bytes(),
            _ => text().into_bytes(),
        };
        if compressed {
            assert!(r.body.len() < want.len() / 4, "{what}: {}", r.body.len());
            assert_eq!(gunzip(&r.body), want, "{what}");
            // Whole bodies get a recomputed length; streams switch to chunked.
            if path == "/stream" {
                assert_eq!(r.header("transfer-encoding"), Some("chunked"), "{what}");
            } else {
                assert_eq!(r.header("content-length"), Some(&*r.body.len().to_string()));
            }
        } else {
            assert_eq!(r.body, want, "{what}");
        }
    }
}

#[test]
fn sse_events_leave_compressed_one_by_one() {
    let (srv, go) = server();
    let mut s = srv.connect();
    s.write_all(b"GET /sse HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n")
        .unwrap();
    let mut wire = Vec::new();
    let mut decoder = flate2::write::GzDecoder::new(Vec::new());
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(5);
    // Read until the first event decodes, while the handler is still holding the second.
    while !String::from_utf8_lossy(decoder.get_ref()).contains("data: hello\n\n") {
        assert!(Instant::now() < deadline, "first event never arrived");
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed early");
        wire.extend_from_slice(&buf[..n]);
        let Some(head_end) = crate::support::find(&wire, b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&wire[..head_end]).to_ascii_lowercase();
        assert!(head.contains("content-encoding: gzip"), "{head}");
        // Feed the chunk payloads seen so far (chunk sizes are hex lines).
        decoder = flate2::write::GzDecoder::new(Vec::new());
        let mut rest = &wire[head_end + 4..];
        while let Some(eol) = crate::support::find(rest, b"\r\n") {
            let size =
                usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap(), 16).unwrap();
            if rest.len() < eol + 2 + size + 2 {
                break;
            }
            decoder.write_all(&rest[eol + 2..eol + 2 + size]).unwrap();
            rest = &rest[eol + 2 + size + 2..];
        }
        decoder.flush().unwrap();
    }
    assert!(!go.load(Ordering::SeqCst));
    go.store(true, Ordering::SeqCst);
    let mut rest = Vec::new();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    while !rest.ends_with(b"0\r\n\r\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed early");
        rest.extend_from_slice(&buf[..n]);
    }
}

fn curl(args: &[&str]) -> Option<std::process::Output> {
    match Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .output()
    {
        Ok(o) => Some(o),
        Err(e) => {
            eprintln!("SKIP: curl not runnable: {e}");
            None
        }
    }
}

#[test]
fn curl_compressed_decodes_whole_and_streamed() {
    let (srv, _) = server();
    for (path, want) in [("/text", text()), ("/stream", text().repeat(50))] {
        let url = format!("http://{}{path}", srv.addr);
        let Some(out) = curl(&["--compressed", "-D", "-", &url]) else {
            return;
        };
        let stdout = String::from_utf8_lossy(&out.stdout);
        let (head, body) = stdout.split_once("\r\n\r\n").expect("a head");
        assert!(
            head.to_ascii_lowercase().contains("content-encoding: gzip"),
            "{head}"
        );
        assert_eq!(body, want);
    }
}

#[test]
fn aiohttp_client_decompresses() {
    let Some(python) = std::env::var_os("TULIP_PYTHON") else {
        eprintln!("SKIP: TULIP_PYTHON is not set");
        return;
    };
    let probe = Command::new(&python)
        .args(["-c", "import aiohttp"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIP: aiohttp is not importable by {python:?}");
        return;
    }
    let (srv, go) = server();
    go.store(true, Ordering::SeqCst);
    let script = r#"
import asyncio, sys, aiohttp
async def main(base, want):
    async with aiohttp.ClientSession() as s:
        for path, n in (("/text", 1), ("/stream", 50)):
            async with s.get(base + path) as r:
                assert r.headers["Content-Encoding"] == "gzip", r.headers
                assert await r.text() == want * n
        async with s.get(base + "/sse") as r:
            assert r.headers["Content-Encoding"] == "gzip", r.headers
            body = await r.text()
            assert "data: hello" in body and "data: world" in body, body
    print("ok")
asyncio.run(main(sys.argv[1], sys.argv[2]))
"#;
    let out = Command::new(&python)
        .args(["-c", script, &format!("http://{}", srv.addr), &text()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.starts_with("ok"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn tulip_client_decodes_gzip() {
    let (srv, _) = server();
    let base = format!("http://{}", srv.addr);
    tulip_executor::run(async move {
        let c = tulip_http::Client::new();
        for (path, want) in [("/text", text()), ("/stream", text().repeat(50))] {
            let r = c.get(format!("{base}{path}")).send().await.unwrap();
            assert_eq!(r.headers()["content-encoding"], "gzip");
            assert_eq!(r.text().await.unwrap(), want);
        }
    });
}

#[test]
fn static_files_compress_except_ranges() {
    let dir = std::env::temp_dir().join(format!("tulip-http-gz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.txt"), text()).unwrap();
    let mut cfg = ServerConfig::default();
    cfg.compression = true;
    let srv = TestServer::start_with(App::new().static_dir("/f", &dir), cfg);
    let mut s = srv.connect();
    s.write_all(b"GET /f/a.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let r = read_reply(&mut s, &mut buf, false).unwrap();
    assert_eq!(
        r.header("content-encoding"),
        Some("gzip"),
        "{:?}",
        r.headers
    );
    assert!(
        r.header("etag").unwrap().starts_with("W/\""),
        "{:?}",
        r.headers
    );
    assert_eq!(gunzip(&r.body), text().as_bytes());
    // The weak tag still validates: 304, not compressed.
    let etag = r.header("etag").unwrap().to_string();
    write!(
        s,
        "GET /f/a.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nIf-None-Match: {etag}\r\n\r\n"
    )
    .unwrap();
    let r = read_reply(&mut s, &mut buf, false).unwrap();
    assert_eq!(r.status, 304);
    s.write_all(
        b"GET /f/a.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nRange: bytes=0-9\r\n\r\n",
    )
    .unwrap();
    let r = read_reply(&mut s, &mut buf, false).unwrap();
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.body, &text().as_bytes()[..10]);
    let _ = std::fs::remove_dir_all(&dir);
}
