//! The access log through a capturing `log` logger (which also keeps tulip-tls's warnings,
//! for `tls_trust`).

use std::sync::{Mutex, Once};

use tulip_http::{ACCESS_LOG_TARGET, AccessLogFormat, App, Request, Response, ServerConfig};

use crate::support::{TestServer, request};

/// Keeps every access log line and tulip-tls's records (other targets are ignored).
struct Capture(Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.target() == ACCESS_LOG_TARGET || m.target().starts_with("tulip_tls")
    }

    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            self.0.lock().unwrap().push(r.args().to_string());
        }
    }

    fn flush(&self) {}
}

static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));

pub(crate) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        log::set_logger(&CAPTURE).expect("no other logger in this test binary");
        log::set_max_level(log::LevelFilter::Info);
    });
}

pub(crate) fn lines_with(marker: &str) -> Vec<String> {
    CAPTURE
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains(marker))
        .cloned()
        .collect()
}

fn app() -> App {
    App::new().get("/logged/{x}", |_req: Request| async {
        Response::text("12345").with_header(
            tulip_http::HeaderName::from_static("x-served-by"),
            tulip_http::HeaderValue::from_static("tulip"),
        )
    })
}

#[test]
fn one_line_per_request_in_the_configured_format() {
    install();
    let mut cfg = ServerConfig::default();
    cfg.access_log = true;
    cfg.access_log_format =
        AccessLogFormat::parse("%a \"%r\" %s %b %{User-Agent}i %{X-Served-By}o %Tf|%D").unwrap();
    let srv = TestServer::start_with(app(), cfg);
    let r = request(
        srv.addr,
        b"GET /logged/fmt-one?q=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: probe/2\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.status, 200);
    let r = request(
        srv.addr,
        b"GET /nope/fmt-one HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.status, 404);
    // Shutting down waits for the connections, which log after writing.
    srv.shutdown().unwrap();
    let mut lines = lines_with("fmt-one");
    assert_eq!(lines.len(), 2, "{lines:?}");
    // A connection logs after it wrote its answer, so the second request can be logged
    // before the first: take the lines by content, not by order.
    lines.sort_by_key(|l| !l.contains("/logged/"));
    let (head, times) = lines[0].split_once(' ').unwrap();
    assert_eq!(head, "127.0.0.1");
    let (fixed, timing) = times.rsplit_once(' ').unwrap();
    assert_eq!(
        fixed,
        "\"GET /logged/fmt-one?q=1 HTTP/1.1\" 200 5 probe/2 tulip"
    );
    let (secs, micros) = timing.split_once('|').unwrap();
    let (secs, micros): (f64, u64) = (secs.parse().unwrap(), micros.parse().unwrap());
    assert!(secs < 30.0 && micros < 30_000_000, "{timing}");
    assert!(
        lines[1].contains("\"GET /nope/fmt-one HTTP/1.1\" 404 "),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].ends_with("- -") || lines[1].contains(" - - "),
        "{}",
        lines[1]
    );
}

#[test]
fn default_format_is_aiohttps_and_off_by_default() {
    install();
    let srv = TestServer::start(app());
    request(
        srv.addr,
        b"GET /logged/silent-one HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    srv.shutdown().unwrap();
    assert!(lines_with("silent-one").is_empty());

    let mut cfg = ServerConfig::default();
    cfg.access_log = true;
    let srv = TestServer::start_with(app(), cfg);
    request(
        srv.addr,
        b"GET /logged/default-one HTTP/1.1\r\nHost: x\r\nReferer: http://r/\r\nUser-Agent: ua\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    srv.shutdown().unwrap();
    let lines = lines_with("default-one");
    assert_eq!(lines.len(), 1);
    let l = &lines[0];
    // 127.0.0.1 [03/Dec/2026:10:50:00 +0000] "GET ..." 200 5 "http://r/" "ua"
    assert!(l.starts_with("127.0.0.1 ["), "{l}");
    assert!(
        l.ends_with("+0000] \"GET /logged/default-one HTTP/1.1\" 200 5 \"http://r/\" \"ua\""),
        "{l}"
    );
}
