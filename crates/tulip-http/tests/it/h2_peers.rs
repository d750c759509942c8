//! HTTP/2 against real peers: curl (prior knowledge and ALPN over TLS), nghttp, h2load and
//! Python's httpx. A missing peer skips its test with a note, unless `TULIP_REQUIRE_PEERS=1`,
//! when it fails.

use std::path::PathBuf;
use std::process::{Command, Output};

use crate::support::TestServer;
use crate::test_app;
use tulip_http::{Server, ServerConfig};

/// Runs a peer; `None` (after a SKIP note) when it is not installed and peers are optional.
pub(crate) fn require_peer(cmd: &mut Command) -> Option<Output> {
    match cmd.output() {
        Ok(o) => Some(o),
        Err(e) => {
            let required = std::env::var_os("TULIP_REQUIRE_PEERS").is_some_and(|v| v == "1");
            assert!(!required, "peer {cmd:?} is required but not runnable: {e}");
            eprintln!("SKIP: {cmd:?} not runnable: {e}");
            None
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn curl(args: &[&str]) -> Option<(String, String)> {
    let out = require_peer(
        Command::new("curl")
            .args(["-sS", "--max-time", "20"])
            .args(args),
    )?;
    Some((text(&out.stdout), text(&out.stderr)))
}

/// One request per curl run: curl 7.88 fails to reuse a prior-knowledge connection
/// (curl#10634, fixed in 7.89), so several URLs in one run would test curl, not tulip.
fn curl_h2c(args: &[&str]) -> Option<(String, String)> {
    curl(&[&["--http2-prior-knowledge"], args].concat())
}

#[test]
fn curl_prior_knowledge_get_post_head_and_errors() {
    let srv = TestServer::start(test_app());
    let base = format!("http://{}", srv.addr);
    let status = ["-w", "|%{http_version}|%{response_code}"];
    let Some((out, err)) = curl_h2c(&[&status[..], &[&format!("{base}/tulip")]].concat()) else {
        return;
    };
    assert_eq!(out, "Hello, tulip|2|200", "stderr: {err}");
    let (out, err) =
        curl_h2c(&[&status[..], &["-d", "ping", &format!("{base}/echo")]].concat()).unwrap();
    assert_eq!(out, "ping|2|200", "stderr: {err}");

    // HEAD: the length of the GET answer, no body.
    let (out, err) = curl_h2c(&["-I", &format!("{base}/tulip")]).unwrap();
    assert!(out.starts_with("HTTP/2 200"), "{out} {err}");
    assert!(out.contains("content-length: 12"), "{out}");

    // 404, 405 with Allow, middleware (401 without the token, 200 with it), a panicking
    // handler answered 500.
    let code = |args: &[&str]| {
        curl_h2c(&[&["-o", "/dev/null", "-w", "%{response_code}"], args].concat())
            .unwrap()
            .0
    };
    assert_eq!(code(&[&format!("{base}/a/b/c")]), "404");
    assert_eq!(code(&["-X", "DELETE", &format!("{base}/echo")]), "405");
    assert_eq!(code(&[&format!("{base}/admin")]), "401");
    assert_eq!(
        code(&["-H", "x-token: secret", &format!("{base}/admin")]),
        "200"
    );
    assert_eq!(code(&[&format!("{base}/panic")]), "500");
    let (out, _) = curl_h2c(&["-i", "-X", "DELETE", &format!("{base}/echo")]).unwrap();
    assert!(out.contains("allow: POST"), "{out}");
}

#[test]
fn curl_prior_knowledge_streams_and_limits() {
    let srv = TestServer::start(test_app());
    let base = format!("http://{}", srv.addr);
    // A streamed response.
    let Some((out, err)) = curl_h2c(&[&format!("{base}/stream")]) else {
        return;
    };
    assert_eq!(out, "piece 0;piece 1;piece 2;", "{err}");

    // A 3 MiB upload counted piece by piece: never buffered whole, pieces bounded by the
    // stream window.
    let big = temp_file("h2-big", &vec![b'x'; 3 << 20]);
    let (out, err) = curl(&[
        "--http2-prior-knowledge",
        "--data-binary",
        &format!("@{}", big.display()),
        &format!("{base}/count"),
    ])
    .unwrap();
    let parts: Vec<u64> = out.split(' ').map(|p| p.parse().unwrap()).collect();
    assert_eq!(parts[0], 3 << 20, "{out} {err}");
    assert!(parts[1] > 10 && parts[2] <= 64 * 1024, "{out}");

    // Over the 1 MiB default limit: 413, by Content-Length before the handler runs, then
    // RST_STREAM(NO_ERROR) to stop the upload. (nghttp, not curl: curl 7.88 drops an answer
    // that arrives together with the reset.)
    if let Some(out) = require_peer(Command::new("nghttp").args([
        "-v",
        "-d",
        big.to_str().unwrap(),
        &format!("{base}/echo"),
    ])) {
        let log = text(&out.stdout);
        assert!(log.contains(":status: 413"), "{log}");
        assert!(log.contains("RST_STREAM"), "{log}");
        assert!(log.contains("error_code=NO_ERROR"), "{log}");
    }

    // A streamed echo (under the route's 1 MiB limit): the response is written while the
    // request body is still arriving, both under flow control.
    let half = temp_file("h2-half", &vec![b'y'; 900 << 10]);
    let (out, err) = curl_h2c(&[
        "-X",
        "PUT",
        "--data-binary",
        &format!("@{}", half.display()),
        "-w",
        "|%{size_download}",
        "-o",
        "/dev/null",
        &format!("{base}/stream-echo"),
    ])
    .unwrap();
    assert_eq!(out, format!("|{}", 900 << 10), "{err}");
    let _ = std::fs::remove_file(half);
    let _ = std::fs::remove_file(big);
}

fn temp_file(tag: &str, data: &[u8]) -> PathBuf {
    let p = std::env::temp_dir().join(format!("tulip-http-{tag}-{}", std::process::id()));
    std::fs::write(&p, data).unwrap();
    p
}

#[test]
fn http1_still_served_on_the_same_listener() {
    let srv = TestServer::start(test_app());
    let Some((out, err)) = curl(&[
        "--http1.1",
        "-w",
        "|%{http_version}",
        &format!("http://{}/tulip", srv.addr),
    ]) else {
        return;
    };
    assert_eq!(out, "Hello, tulip|1.1", "{err}");
    // With HTTP/2 off, the preface is just a bad HTTP/1.1 request.
    let mut cfg = ServerConfig::default();
    cfg.http2 = false;
    let srv = TestServer::start_with(test_app(), cfg);
    let (out, _) = curl(&[
        "--http2-prior-knowledge",
        "-w",
        "%{http_version}",
        &format!("http://{}/tulip", srv.addr),
    ])
    .unwrap();
    assert!(!out.contains("Hello"), "{out}");
}

#[test]
fn nghttp_verbose_exchange() {
    let srv = TestServer::start(test_app());
    let Some(out) = require_peer(Command::new("nghttp").args([
        "-nv",
        "-t",
        "20",
        &format!("http://{}/tulip", srv.addr),
        &format!("http://{}/json", srv.addr),
    ])) else {
        return;
    };
    let log = text(&out.stdout);
    assert!(out.status.success(), "{log} {}", text(&out.stderr));
    assert_eq!(log.matches(":status: 200").count(), 2, "{log}");
    assert!(
        log.contains("SETTINGS_MAX_CONCURRENT_STREAMS(0x03):100"),
        "{log}"
    );
    assert!(log.contains("END_STREAM"), "{log}");
}

#[test]
fn h2load_all_requests_succeed() {
    let srv = TestServer::start(test_app());
    let Some(out) = require_peer(Command::new("h2load").args([
        "-n",
        "2000",
        "-c",
        "8",
        "-m",
        "8",
        "-T",
        "20",
        &format!("http://{}/tulip", srv.addr),
    ])) else {
        return;
    };
    let log = text(&out.stdout);
    assert!(
        log.contains("2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed"),
        "{log}"
    );
    assert!(log.contains("status codes: 2000 2xx"), "{log}");
}

#[test]
fn python_httpx_http2_client() {
    let Some(python) = std::env::var_os("TULIP_PYTHON") else {
        let required = std::env::var_os("TULIP_REQUIRE_PEERS").is_some_and(|v| v == "1");
        assert!(!required, "TULIP_PYTHON is required but not set");
        eprintln!("SKIP: TULIP_PYTHON is not set");
        return;
    };
    let srv = TestServer::start(test_app());
    let script = r#"
import sys, httpx
base = sys.argv[1]
with httpx.Client(http2=True, http1=False) as c:
    r = c.get(base + "/tulip")
    assert r.http_version == "HTTP/2", r.http_version
    assert r.text == "Hello, tulip", r.text
    r = c.post(base + "/echo", content=b"x" * 100000)
    assert r.status_code == 200 and len(r.content) == 100000, r.status_code
    r = c.get(base + "/missing/deeper")
    assert r.status_code == 404, r.status_code
print("ok")
"#;
    let Some(out) = require_peer(
        Command::new(python)
            .args(["-c", script])
            .arg(format!("http://{}", srv.addr)),
    ) else {
        return;
    };
    assert_eq!(text(&out.stdout).trim(), "ok", "{}", text(&out.stderr));
}

#[cfg(feature = "tls")]
#[test]
fn curl_http2_over_tls_by_alpn() {
    let (acceptor, ca_pem) = crate::serving::tls_identity();
    let ca_file = temp_file("h2-ca.pem", ca_pem.as_bytes());
    let mut server = Server::unbound(test_app(), ServerConfig::default()).unwrap();
    server.listen_tls("127.0.0.1:0", acceptor).unwrap();
    let srv = TestServer::run(server);
    let port = srv.addr.port();
    let resolve = format!("localhost:{port}:127.0.0.1");
    let url = format!("https://localhost:{port}/tulip");
    let common = ["--cacert", ca_file.to_str().unwrap(), "--resolve", &resolve];
    let Some((out, err)) =
        curl(&[&common[..], &["--http2", "-w", "|%{http_version}", &url]].concat())
    else {
        return;
    };
    assert_eq!(out, "Hello, tulip|2", "{err}");
    // A client that offers only HTTP/1.1 still gets it.
    let (out, err) =
        curl(&[&common[..], &["--http1.1", "-w", "|%{http_version}", &url]].concat()).unwrap();
    assert_eq!(out, "Hello, tulip|1.1", "{err}");
    let _ = std::fs::remove_file(ca_file);
}

#[cfg(feature = "gzip")]
#[test]
fn static_files_and_gzip_over_h2() {
    let dir = std::env::temp_dir().join(format!("tulip-http-h2-static-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let page = "<p>tulip</p>\n".repeat(2000);
    std::fs::write(dir.join("page.html"), &page).unwrap();
    let mut cfg = ServerConfig::default();
    cfg.compression = true;
    let app = tulip_http::App::new()
        .static_dir("/static", &dir)
        .get("/text", |_r: tulip_http::Request| async {
            tulip_http::Response::text("compress me ".repeat(1000))
        });
    let srv = TestServer::start_with(app, cfg);
    let base = format!("http://{}", srv.addr);
    let Some((out, err)) = curl_h2c(&[
        "-w",
        "|%{http_version}|%{size_download}",
        &format!("{base}/static/page.html"),
    ]) else {
        return;
    };
    assert_eq!(out, format!("{page}|2|{}", page.len()), "{err}");
    // gzip: fewer bytes on the wire, the same text after decoding.
    let (out, err) = curl_h2c(&[
        "--compressed",
        "-D",
        "/dev/stderr",
        "-w",
        "|%{size_download}",
        &format!("{base}/text"),
    ])
    .unwrap();
    let (body, size) = out.rsplit_once('|').unwrap();
    assert_eq!(body, "compress me ".repeat(1000));
    assert!(size.parse::<usize>().unwrap() < 1000, "{size}");
    assert!(err.contains("content-encoding: gzip"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}
