//! tulip's client over HTTP/2: prior knowledge on `http://`, ALPN on `https://`, one
//! multiplexed connection per origin, streaming both ways, redirects, fallback to HTTP/1.1.

use std::time::Duration;

use tulip_http::{Client, Request, Response, Server, ServerConfig};
use tulip_http::{StatusCode, Version, header};

use crate::support::TestServer;
use crate::test_app;

fn app() -> tulip_http::App {
    test_app()
        .get("/redirect", |_r: Request| async {
            Response::new(StatusCode::FOUND)
                .with_header(header::LOCATION, header::HeaderValue::from_static("/tulip"))
        })
        .get("/version", |r: Request| async move {
            format!("{:?}", r.version())
        })
}

#[test]
fn prior_knowledge_multiplexes_one_connection() {
    let srv = TestServer::start(app());
    let base = format!("http://{}", srv.addr);
    tulip_executor::run(async move {
        let c = Client::builder().http2_prior_knowledge(true).build();
        let r = c.get(format!("{base}/tulip")).send().await.unwrap();
        assert_eq!(r.version(), Version::HTTP_2);
        assert_eq!(r.text().await.unwrap(), "Hello, tulip");
        // Concurrent requests share the one connection.
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let c = c.clone();
                let url = format!("{base}/v{i}");
                tulip_executor::spawn(async move {
                    c.get(url).send().await.unwrap().text().await.unwrap()
                })
            })
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.unwrap(), format!("Hello, v{i}"));
        }
        let s = c.pool_stats();
        assert_eq!((s.connects, s.reuses), (1, 20), "{s:?}");
        // The server saw HTTP/2, and a redirect is followed on the same connection.
        let r = c.get(format!("{base}/version")).send().await.unwrap();
        assert_eq!(r.text().await.unwrap(), "HTTP/2.0");
        let r = c.get(format!("{base}/redirect")).send().await.unwrap();
        assert_eq!(r.history().len(), 1);
        assert_eq!(r.text().await.unwrap(), "Hello, tulip");
        assert_eq!(c.pool_stats().connects, 1);
    });
}

/// A handler's HTTP/1.1-only headers are left out of an HTTP/2 response (which `h2` would
/// otherwise refuse), `TE: trailers` is kept, and every response carries a `Date`.
#[test]
fn connection_specific_headers_are_left_out_over_http2() {
    let hv = header::HeaderValue::from_static;
    let app = test_app()
        .get("/h1-headers", move |_r: Request| async move {
            Response::text("body")
                .with_header(header::CONNECTION, hv("close"))
                .with_header(
                    header::HeaderName::from_static("keep-alive"),
                    hv("timeout=5"),
                )
                .with_header(header::HeaderName::from_static("proxy-connection"), hv("x"))
                .with_header(header::UPGRADE, hv("websocket"))
                .with_header(header::TE, hv("gzip"))
                .with_header(header::HeaderName::from_static("x-kept"), hv("yes"))
        })
        .get("/te-trailers", move |_r: Request| async move {
            Response::text("body").with_header(header::TE, hv("trailers"))
        })
        .get("/echo-names", |r: Request| async move {
            let mut names: Vec<String> = r.headers().map(|(n, _)| n.to_ascii_lowercase()).collect();
            names.sort_unstable();
            names.join(",")
        });
    let srv = TestServer::start(app);
    let base = format!("http://{}", srv.addr);
    tulip_executor::run(async move {
        let c = Client::builder().http2_prior_knowledge(true).build();
        let r = c.get(format!("{base}/h1-headers")).send().await.unwrap();
        assert_eq!(r.version(), Version::HTTP_2);
        for gone in [
            "connection",
            "keep-alive",
            "proxy-connection",
            "upgrade",
            "te",
        ] {
            assert!(r.headers().get(gone).is_none(), "{gone}: {:?}", r.headers());
        }
        assert_eq!(r.headers()["x-kept"], "yes");
        let date = r.headers()[header::DATE].to_str().unwrap().to_owned();
        assert!(httpdate::parse_http_date(&date).is_ok(), "{date}");
        assert_eq!(r.text().await.unwrap(), "body");
        let r = c.get(format!("{base}/te-trailers")).send().await.unwrap();
        assert_eq!(r.headers()[header::TE], "trailers");
        assert!(r.headers().contains_key(header::DATE));
        // The client leaves them out of its requests too (`h2` would refuse to send them).
        let r = c
            .get(format!("{base}/echo-names"))
            .header("connection", "keep-alive")
            .header("keep-alive", "timeout=5")
            .header("upgrade", "h2c")
            .header("x-kept", "yes")
            .send()
            .await
            .unwrap();
        let names = r.text().await.unwrap();
        assert!(names.contains("x-kept"), "{names}");
        for gone in ["connection", "keep-alive", "upgrade"] {
            assert!(!names.split(',').any(|n| n == gone), "{gone} in {names}");
        }
    });
}

#[test]
fn bodies_stream_both_ways() {
    let srv = TestServer::start(app());
    let base = format!("http://{}", srv.addr);
    tulip_executor::run(async move {
        let c = Client::builder().http2_prior_knowledge(true).build();
        // A whole body, larger than the stream windows.
        let big = vec![b'z'; 700 * 1024];
        let r = c
            .post(format!("{base}/echo"))
            .body(big.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().await.unwrap().len(), big.len());
        // A streamed upload echoed as a streamed response, read piece by piece.
        let pieces =
            futures_lite::stream::iter((0..64).map(|_| Ok(bytes::Bytes::from(vec![b'p'; 10_000]))));
        let mut r = c
            .put(format!("{base}/stream-echo"))
            .body_stream(pieces)
            .send()
            .await
            .unwrap();
        let mut n = 0;
        while let Some(piece) = r.chunk().await.unwrap() {
            n += piece.len();
        }
        assert_eq!(n, 640_000);
        // Over the server's body limit: 413.
        let r = c
            .post(format!("{base}/echo"))
            .body(vec![b'x'; 2 << 20])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413);
    });
}

#[test]
fn read_timeout_applies_to_http2() {
    let srv = TestServer::start(app());
    let base = format!("http://{}", srv.addr);
    tulip_executor::run(async move {
        let c = Client::builder()
            .http2_prior_knowledge(true)
            .read_timeout(Some(Duration::from_millis(100)))
            .build();
        let e = c.get(format!("{base}/slow")).send().await.unwrap_err();
        assert!(e.is_timeout(), "{e:?}");
        // The connection stays usable for the next request.
        let r = c.get(format!("{base}/tulip")).send().await.unwrap();
        assert_eq!(r.text().await.unwrap(), "Hello, tulip");
    });
}

#[cfg(feature = "tls")]
#[test]
fn alpn_picks_http2_on_https_and_falls_back_to_http1() {
    for http2_server in [true, false] {
        let (acceptor, ca_pem) = crate::serving::tls_identity();
        let mut cfg = ServerConfig::default();
        cfg.http2 = http2_server;
        let mut server = Server::unbound(app(), cfg).unwrap();
        server.listen_tls("127.0.0.1:0", acceptor).unwrap();
        let srv = TestServer::run(server);
        let base = format!("https://localhost:{}", srv.addr.port());
        tulip_executor::run(async move {
            let connector = tulip_tls::TlsConnector::builder()
                .add_roots_pem(ca_pem.as_bytes())
                .unwrap()
                .build()
                .unwrap();
            let c = Client::builder().tls(connector).build();
            let want = if http2_server {
                Version::HTTP_2
            } else {
                Version::HTTP_11
            };
            for i in 0..3 {
                let r = c.get(format!("{base}/c{i}")).send().await.unwrap();
                assert_eq!(r.version(), want);
                assert_eq!(r.text().await.unwrap(), format!("Hello, c{i}"));
            }
            let s = c.pool_stats();
            assert_eq!((s.connects, s.reuses), (1, 2), "{s:?}");
        });
    }
}

#[test]
fn without_prior_knowledge_http_stays_http1() {
    let srv = TestServer::start(app());
    let base = format!("http://{}", srv.addr);
    tulip_executor::run(async move {
        let c = Client::new();
        let mut r = c.get(format!("{base}/tulip")).send().await.unwrap();
        assert_eq!(r.version(), Version::HTTP_11);
        let mut body = Vec::new();
        while let Some(b) = r.chunk().await.unwrap() {
            body.extend_from_slice(&b);
        }
        assert_eq!(body, b"Hello, tulip");
    });
}

/// A minimal HTTP/2 server on Python's `h2` (sans-io) and asyncio, cleartext: answers
/// `METHOD PATH BODYLEN` and `x-server: python-h2`. Prints its port, serves until killed.
const PY_H2_SERVER: &str = r#"
import asyncio, sys
import h2.config, h2.connection, h2.events

async def handle(reader, writer):
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(
        client_side=False, header_encoding="utf-8"))
    conn.initiate_connection()
    writer.write(conn.data_to_send())
    heads, bodies = {}, {}
    def respond(sid):
        h = heads.pop(sid)
        body = ("%s %s %d" % (h[":method"], h[":path"], len(bodies.pop(sid)))).encode()
        conn.send_headers(sid, [(":status", "200"), ("content-length", str(len(body))),
                                ("x-server", "python-h2")])
        conn.send_data(sid, body, end_stream=True)
    while True:
        data = await reader.read(65536)
        if not data:
            break
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.RequestReceived):
                heads[ev.stream_id] = dict(ev.headers)
                bodies[ev.stream_id] = b""
            elif isinstance(ev, h2.events.DataReceived):
                bodies[ev.stream_id] += ev.data
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                respond(ev.stream_id)
        writer.write(conn.data_to_send())
        await writer.drain()
    writer.close()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"#;

/// Kills the Python server when the test ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn client_against_a_python_h2_server() {
    use std::io::BufRead;
    let Some(python) = std::env::var_os("TULIP_PYTHON") else {
        let required = std::env::var_os("TULIP_REQUIRE_PEERS").is_some_and(|v| v == "1");
        assert!(!required, "TULIP_PYTHON is required but not set");
        eprintln!("SKIP: TULIP_PYTHON is not set");
        return;
    };
    let mut child = Child(
        std::process::Command::new(python)
            .args(["-c", PY_H2_SERVER])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start the Python h2 server"),
    );
    let mut line = String::new();
    std::io::BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().parse().expect("the server's port");
    let base = format!("http://127.0.0.1:{port}");
    tulip_executor::run(async move {
        let c = Client::builder().http2_prior_knowledge(true).build();
        let r = c.get(format!("{base}/a?b=c")).send().await.unwrap();
        assert_eq!(r.version(), Version::HTTP_2);
        assert_eq!(r.headers()["x-server"], "python-h2");
        assert_eq!(r.text().await.unwrap(), "GET /a?b=c 0");
        let r = c
            .post(format!("{base}/up"))
            .body(vec![b'u'; 100_000])
            .send()
            .await
            .unwrap();
        assert_eq!(r.text().await.unwrap(), "POST /up 100000");
        assert_eq!(c.pool_stats().connects, 1);
    });
}
