//! hyper 1.x's HTTP/1 client over a tulip `TcpStream` (tokio io traits through `Compat`, then
//! hyper's through `TokioIo`) against a tulip-http server in the same runtime. No tokio runtime
//! is involved at all: the io bridge needs none.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tulip_compat::Compat;
use tulip_http::{App, Server};

fn app() -> App {
    App::new()
        .get("/hello", |_req: tulip_http::Request| async {
            "hello from tulip-http"
        })
        .post("/echo", |mut req: tulip_http::Request| async move {
            match req.bytes().await {
                Ok(body) => tulip_http::Response::bytes(body),
                Err(e) => tulip_http::Response::text(e.to_string()),
            }
        })
}

#[test]
fn hyper_client_talks_to_tulip_http_over_a_tulip_socket() {
    tulip_executor::run(async {
        let server = Server::bind("127.0.0.1:0", app()).expect("bind");
        let addr = server.local_addr();
        let stop = server.shutdown_handle();
        let serving = tulip_executor::spawn(server.run());

        let stream = tulip_net::TcpStream::connect(addr).await.expect("connect");
        let io = TokioIo::new(Compat::new(stream));
        let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(io)
            .await
            .expect("handshake");
        let conn = tulip_executor::spawn(conn);

        let res = sender
            .send_request(
                Request::get("/hello")
                    .header("host", addr.to_string())
                    .body(Full::default())
                    .unwrap(),
            )
            .await
            .expect("GET");
        assert_eq!(res.status(), 200);
        let body = res.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(body, "hello from tulip-http");

        // The same connection again (keep-alive), with a body large enough to take several
        // reads and writes through the bridge.
        let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        sender.ready().await.expect("connection reusable");
        let res = sender
            .send_request(
                Request::post("/echo")
                    .header("host", addr.to_string())
                    .body(Full::new(Bytes::from(payload.clone())))
                    .unwrap(),
            )
            .await
            .expect("POST");
        assert_eq!(res.status(), 200);
        let body = res.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(body.len(), payload.len());
        assert!(body == payload, "the echoed body differs");

        drop(sender);
        conn.await.unwrap().expect("the connection ends cleanly");
        stop.shutdown();
        serving.await.unwrap().expect("server");
    });
}
