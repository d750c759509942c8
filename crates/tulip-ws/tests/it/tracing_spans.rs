//! Feature `tracing`: a `ws.session` span per WebSocket, on both sides, closed with it.

use tulip_http::{App, Request, Server};
use tulip_test_support::spans;
use tulip_ws::http::WebSocketResponse;
use tulip_ws::{ClientOptions, CloseCode, DeflateConfig, ServerOptions};

#[test]
fn each_side_of_a_session_has_a_span_with_role_and_deflate() {
    spans::install();
    let mut options = ServerOptions::default();
    options.config.deflate = Some(DeflateConfig::default());
    let wsr = WebSocketResponse::new(options);
    let app = App::new().get("/traced-ws", move |mut req: Request| {
        let wsr = wsr.clone();
        async move {
            wsr.handle(&mut req, |mut ws| async move {
                let _ = ws.receive().await;
            })
        }
    });
    tulip_executor::run(async move {
        let server = Server::bind("127.0.0.1:0", app).unwrap();
        let addr = server.local_addr();
        let stop = server.shutdown_handle();
        let running = tulip_executor::spawn(server.run());
        let mut copts = ClientOptions::default();
        copts.config.deflate = Some(DeflateConfig::default());
        let (mut ws, _) = tulip_ws::ws_connect_with(&format!("ws://{addr}/traced-ws"), &copts)
            .await
            .unwrap();
        ws.close(CloseCode::NORMAL, "done").await.unwrap();
        drop(ws);
        stop.shutdown();
        running.await.unwrap().unwrap();
    });
    for role in ["client", "server"] {
        let found: Vec<_> = spans::spans_where("ws.session", "ws.role", role)
            .into_iter()
            .filter(|s| s.field("ws.deflate") == Some("true"))
            .collect();
        assert!(!found.is_empty(), "no {role} session span");
        assert!(found.iter().all(|s| s.target == "tulip_ws"), "{found:?}");
        assert!(found.iter().any(|s| s.closed), "{found:?}");
    }
}
