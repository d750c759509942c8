//! `http::WebSocketResponse` on a tulip-http server, with tulip-ws's own client: echo,
//! refusals, and the 1001 close of a graceful shutdown.

use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use tulip_executor::Task;
use tulip_http::{App, Request, Server, ShutdownHandle};
use tulip_ws::http::WebSocketResponse;
use tulip_ws::{ClientOptions, CloseCode, DeflateConfig, Message, ServerOptions};

type Running = Task<Result<(), tulip_http::Error>>;

/// Serves `app` on a loopback port inside the current runtime.
fn serve(app: App) -> (SocketAddr, ShutdownHandle, Running) {
    let server = Server::bind("127.0.0.1:0", app).unwrap();
    let addr = server.local_addr();
    let stop = server.shutdown_handle();
    (addr, stop, tulip_executor::spawn(server.run()))
}

/// aiohttp's echo route: answers `text/answer`, closes on `close`.
fn echo_app(options: ServerOptions) -> App {
    let wsr = WebSocketResponse::new(options);
    App::new().get("/ws", move |mut req: Request| {
        let wsr = wsr.clone();
        async move {
            wsr.handle(&mut req, |mut ws| async move {
                while let Ok(msg) = ws.receive().await {
                    let sent = match msg {
                        Message::Text(t) if t == "close" => {
                            let _ = ws.close(CloseCode::NORMAL, "bye").await;
                            break;
                        }
                        Message::Text(t) => ws.send_text(&format!("{t}/answer")).await,
                        Message::Binary(b) => ws.send_binary(&b).await,
                        _ => Ok(()),
                    };
                    if sent.is_err() {
                        break;
                    }
                }
            })
        }
    })
}

#[test]
fn echo_through_an_app() {
    let mut options = ServerOptions {
        protocols: vec!["chat".into()],
        ..ServerOptions::default()
    };
    options.config.deflate = Some(DeflateConfig::default());
    tulip_executor::run(async move {
        let (addr, stop, running) = serve(echo_app(options));
        for deflate in [false, true] {
            let mut copts = ClientOptions {
                protocols: vec!["other".into(), "chat".into()],
                ..ClientOptions::default()
            };
            if deflate {
                copts.config.deflate = Some(DeflateConfig::default());
            }
            let url = format!("ws://{addr}/ws");
            let (mut ws, negotiated) = tulip_ws::ws_connect_with(&url, &copts).await.unwrap();
            assert_eq!(negotiated.protocol.as_deref(), Some("chat"));
            assert_eq!(negotiated.deflate.is_some(), deflate);
            let big = "p".repeat(200_000);
            for text in ["hello", big.as_str()] {
                ws.send_text(text).await.unwrap();
                assert_eq!(ws.receive_text().await.unwrap(), format!("{text}/answer"));
            }
            ws.send_binary(&[0, 1, 2]).await.unwrap();
            assert_eq!(ws.receive().await.unwrap(), Message::binary(vec![0, 1, 2]));
            ws.send_text("close").await.unwrap();
            match ws.receive().await.unwrap() {
                Message::Close(Some(f)) => assert_eq!(f.code, CloseCode::NORMAL),
                other => panic!("expected a close, got {other:?}"),
            }
        }
        stop.shutdown();
        running.await.unwrap().unwrap();
    });
}

#[test]
fn route_runs_a_session_per_connection() {
    async fn shout(mut ws: tulip_ws::http::ServerWebSocket) {
        while let Ok(text) = ws.receive_text().await {
            if ws.send_text(&text.to_uppercase()).await.is_err() {
                break;
            }
        }
    }
    tulip_executor::run(async {
        let app = App::new().get("/shout", WebSocketResponse::default().route(shout));
        let (addr, stop, running) = serve(app);
        let url = format!("ws://{addr}/shout");
        let (mut a, _) = tulip_ws::ws_connect(&url).await.unwrap();
        let (mut b, _) = tulip_ws::ws_connect(&url).await.unwrap();
        for (ws, text) in [(&mut a, "one"), (&mut b, "two")] {
            ws.send_text(text).await.unwrap();
            assert_eq!(ws.receive_text().await.unwrap(), text.to_uppercase());
        }
        // A plain GET on the route is refused, not upgraded.
        let reply = raw(
            addr,
            "GET /shout HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
        a.close(CloseCode::NORMAL, "").await.unwrap();
        b.close(CloseCode::NORMAL, "").await.unwrap();
        stop.shutdown();
        running.await.unwrap().unwrap();
    });
}

#[test]
fn size_limits_apply() {
    let mut options = ServerOptions::default();
    options.config.max_message_size = 1000;
    tulip_executor::run(async move {
        let (addr, stop, running) = serve(echo_app(options));
        let (mut ws, _) = tulip_ws::ws_connect(&format!("ws://{addr}/ws"))
            .await
            .unwrap();
        ws.send_text(&"x".repeat(2000)).await.unwrap();
        match ws.receive().await.unwrap() {
            Message::Close(Some(f)) => assert_eq!(f.code, CloseCode::TOO_BIG),
            other => panic!("expected 1009, got {other:?}"),
        }
        stop.shutdown();
        running.await.unwrap().unwrap();
    });
}

/// Sends a raw request, returns the whole response (the request asks to close).
async fn raw(addr: SocketAddr, head: &str) -> String {
    let mut conn = tulip_reactor::Async::<std::net::TcpStream>::connect(addr)
        .await
        .unwrap();
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut out = String::new();
    tulip_reactor::timeout(Duration::from_secs(5), conn.read_to_string(&mut out))
        .await
        .expect("the server answers and closes")
        .unwrap();
    out
}

#[test]
fn refusals() {
    let options =
        ServerOptions::default().with_origin_check(|o| o.is_none_or(|o| o == "https://ok.example"));
    let upgrade = "Upgrade: websocket\r\nConnection: Upgrade, close\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    // (extra request headers, the status line's start, a piece of the body or headers)
    let table: &[(String, &str, &str)] = &[
        (
            "Connection: close\r\n".into(),
            "HTTP/1.1 400",
            "Upgrade header lacks websocket",
        ),
        (
            format!("{upgrade}Sec-WebSocket-Version: 8\r\n"),
            "HTTP/1.1 426",
            "sec-websocket-version: 13",
        ),
        (
            format!("{upgrade}Sec-WebSocket-Version: 13\r\nOrigin: https://evil.example\r\n"),
            "HTTP/1.1 403",
            "origin refused",
        ),
        (
            "Upgrade: websocket\r\nConnection: Upgrade, close\r\nSec-WebSocket-Version: 13\r\n"
                .into(),
            "HTTP/1.1 400",
            "Sec-WebSocket-Key",
        ),
    ];
    tulip_executor::run(async move {
        let (addr, stop, running) = serve(echo_app(options));
        for (extra, status, piece) in table {
            let head = format!("GET /ws HTTP/1.1\r\nHost: x\r\n{extra}\r\n");
            let reply = raw(addr, &head).await;
            assert!(reply.starts_with(status), "{extra:?}: {reply}");
            assert!(
                reply
                    .to_ascii_lowercase()
                    .contains(&piece.to_ascii_lowercase()),
                "{extra:?}: {reply}"
            );
        }
        // The good origin is let through.
        let mut copts = ClientOptions::default();
        copts
            .headers
            .insert("origin", "https://ok.example".parse().unwrap());
        let (mut ws, _) = tulip_ws::ws_connect_with(&format!("ws://{addr}/ws"), &copts)
            .await
            .unwrap();
        ws.close(CloseCode::NORMAL, "").await.unwrap();
        stop.shutdown();
        running.await.unwrap().unwrap();
    });
}

/// How a shutdown test's session behaves.
#[derive(Clone, Copy, Debug)]
enum Session {
    /// Receives in a loop (the usual shape).
    Receiving,
    /// Only sends, every 10 ms, and never receives.
    Sending,
}

/// Runs a server whose one session reports how it ended, connects, starts a graceful
/// shutdown; returns the client's WebSocket, the session's report and the server task.
fn shutdown_case(
    session: Session,
    close_timeout: Duration,
    check: impl AsyncFnOnce(&mut tulip_ws::WebSocket<tulip_ws::ClientStream>),
) -> (String, Duration) {
    let (tx, rx) = mpsc::channel::<String>();
    let mut options = ServerOptions::default();
    options.config.close_timeout = close_timeout;
    let wsr = WebSocketResponse::new(options);
    let app = App::new().get("/ws", move |mut req: Request| {
        let (wsr, tx) = (wsr.clone(), tx.clone());
        async move {
            wsr.handle(&mut req, move |mut ws| async move {
                let end = match session {
                    Session::Receiving => loop {
                        match ws.receive().await {
                            Ok(Message::Text(t)) => {
                                let _ = ws.send_text(&t).await;
                            }
                            Ok(Message::Close(f)) => break format!("close {f:?}"),
                            Ok(_) => {}
                            Err(e) => break format!("error timeout={}", e.is_timeout()),
                        }
                    },
                    Session::Sending => loop {
                        if let Err(e) = ws.send_text("tick").await {
                            break format!("send error closed={}", e.is_closed());
                        }
                        // Pacing of a sending session, not synchronisation.
                        tulip_reactor::sleep(Duration::from_millis(10)).await;
                    },
                };
                let _ = tx.send(end);
            })
        }
    });
    let took = tulip_executor::run(async move {
        let (addr, stop, running) = serve(app);
        let (mut ws, _) = tulip_ws::ws_connect(&format!("ws://{addr}/ws"))
            .await
            .unwrap();
        // The session is up once it answers (or ticks).
        if let Session::Receiving = session {
            ws.send_text("up?").await.unwrap();
        }
        let first = ws.receive_text().await.unwrap();
        assert!(first == "up?" || first == "tick", "{first}");
        let started = Instant::now();
        stop.shutdown();
        // Bounded, so that a missing 1001 fails the test instead of hanging it.
        let done = tulip_reactor::timeout(Duration::from_secs(8), async {
            check(&mut ws).await;
            running.await.unwrap().unwrap();
        });
        done.await.expect("the server shuts down by itself");
        started.elapsed()
    });
    let end = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    (end, took)
}

/// Reads until the close, which must be 1001, and lets the client's automatic reply go out.
async fn expect_going_away(ws: &mut tulip_ws::WebSocket<tulip_ws::ClientStream>) {
    loop {
        match ws.receive().await.unwrap() {
            Message::Close(Some(f)) => {
                assert_eq!(f.code, CloseCode::GOING_AWAY);
                assert_eq!(f.reason, "server shutting down");
                return;
            }
            Message::Text(t) => assert_eq!(t, "tick"),
            other => panic!("expected 1001, got {other:?}"),
        }
    }
}

#[test]
fn graceful_shutdown_closes_with_going_away() {
    let (end, took) = shutdown_case(
        Session::Receiving,
        Duration::from_secs(5),
        expect_going_away,
    );
    // The session saw the client's reply, and the server finished well before its 10 s
    // shutdown deadline: the WebSocket ended by the handshake, not by force.
    assert!(end.starts_with("close Some"), "{end}");
    assert!(end.contains("1001"), "{end}");
    assert!(took < Duration::from_secs(4), "{took:?}");
}

#[test]
fn graceful_shutdown_reaches_a_session_that_only_sends() {
    let (end, took) = shutdown_case(Session::Sending, Duration::from_secs(5), expect_going_away);
    assert_eq!(end, "send error closed=true");
    assert!(took < Duration::from_secs(4), "{took:?}");
}

#[test]
fn a_silent_peer_is_dropped_after_the_close_timeout() {
    // The client never reads again, so it never answers the 1001.
    let (end, took) = shutdown_case(
        Session::Receiving,
        Duration::from_millis(300),
        async |_ws| {},
    );
    assert_eq!(end, "error timeout=true");
    assert!(took >= Duration::from_millis(250), "{took:?}");
    assert!(took < Duration::from_secs(4), "{took:?}");
}
