//! Feature `tracing`: a span per connection and per request, with method, path, status and
//! duration; the handler runs inside its request's span.

use tulip_http::{App, Request, Response, StatusCode};
use tulip_test_support::spans;

use crate::support::{TestServer, request};

#[test]
fn a_request_through_the_server_has_its_span_with_method_path_status_and_duration() {
    spans::install();
    let app = App::new()
        .get("/traced/{x}", |_req: Request| async {
            // An event inside the handler happens inside the request's span.
            tracing::info!(target: "handler", "handling traced request");
            Response::text("ok")
        })
        .post("/traced-missing", |_req: Request| async {
            Response::new(StatusCode::NOT_FOUND)
        });
    let srv = TestServer::start(app);
    let r = request(
        srv.addr,
        b"GET /traced/one HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.status, 200);
    let r = request(
        srv.addr,
        b"POST /traced-missing HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.status, 404);
    // Shutting down waits for the connections, which finish their spans first.
    srv.shutdown().unwrap();

    let get = spans::spans_where("http.request", "http.path", "/traced/one");
    assert_eq!(get.len(), 1, "{get:?}");
    assert_eq!(get[0].target, "tulip_http::server");
    assert_eq!(get[0].field("http.method"), Some("GET"));
    assert_eq!(get[0].field("http.status"), Some("200"));
    let us: u64 = get[0].field("http.duration_us").unwrap().parse().unwrap();
    assert!(us < 30_000_000, "{us}");
    assert!(get[0].closed);

    let post = spans::spans_where("http.request", "http.path", "/traced-missing");
    assert_eq!(post.len(), 1, "{post:?}");
    assert_eq!(post[0].field("http.method"), Some("POST"));
    assert_eq!(post[0].field("http.status"), Some("404"));

    let conns = spans::spans_named("http.connection");
    assert!(
        conns
            .iter()
            .any(|c| c.field("peer").is_some_and(|p| p.starts_with("127.0.0.1:"))),
        "{conns:?}"
    );
    let ev = spans::events_containing("handling traced request");
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert!(
        ev[0].within.ends_with(&["http.request".to_owned()]),
        "{:?}",
        ev[0].within
    );
    assert!(
        ev[0].within.contains(&"http.connection".to_owned()),
        "{:?}",
        ev[0].within
    );
}
