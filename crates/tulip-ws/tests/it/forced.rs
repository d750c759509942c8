//! The tulip-http server's shutdown deadline ends WebSocket sessions that outstay it: the
//! server closes the connection itself, whether or not the session polls its socket.

use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tulip_executor::Task;
use tulip_http::{App, Request, Server, ServerConfig, ShutdownHandle};
use tulip_ws::ServerOptions;
use tulip_ws::http::{ServerWebSocket, WebSocketResponse};

const DEADLINE: Duration = Duration::from_millis(300);

type Running = Task<Result<(), tulip_http::Error>>;

/// Serves one WebSocket route running `session`, with a short shutdown deadline and a close
/// timeout far beyond it (so only the deadline can end a session stuck in the close).
fn serve<F, Fut>(session: F) -> (SocketAddr, ShutdownHandle, Running)
where
    F: Fn(ServerWebSocket) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut options = ServerOptions::default();
    options.config.close_timeout = Duration::from_secs(20);
    let wsr = WebSocketResponse::new(options);
    let app = App::new().get("/ws", move |mut req: Request| {
        let (wsr, session) = (wsr.clone(), session.clone());
        async move { wsr.handle(&mut req, session) }
    });
    let mut cfg = ServerConfig::default();
    cfg.shutdown_timeout = DEADLINE;
    let server = Server::bind_with("127.0.0.1:0", app, cfg).unwrap();
    let (addr, stop) = (server.local_addr(), server.shutdown_handle());
    (addr, stop, tulip_executor::spawn(server.run()))
}

/// Connects, waits for the session's "up", starts the shutdown; returns what the client's
/// next receive gave and how long the server took to stop.
async fn shut_down_around(
    addr: SocketAddr,
    stop: ShutdownHandle,
    running: Running,
) -> (String, Duration) {
    let (mut ws, _) = tulip_ws::ws_connect(&format!("ws://{addr}/ws"))
        .await
        .unwrap();
    assert_eq!(ws.receive_text().await.unwrap(), "up");
    let started = Instant::now();
    stop.shutdown();
    // Bounded, so that a connection the deadline fails to close fails the test.
    let seen = tulip_reactor::timeout(Duration::from_secs(5), ws.receive())
        .await
        .expect("the client saw no end");
    tulip_reactor::timeout(Duration::from_secs(5), running)
        .await
        .expect("the server did not stop")
        .unwrap()
        .unwrap();
    let seen = match seen {
        Ok(m) => format!("{m:?}"),
        Err(_) => "error".to_string(),
    };
    (seen, started.elapsed())
}

#[test]
fn the_deadline_ends_a_session_that_never_polls_its_socket() {
    let took = tulip_executor::run(async {
        let (addr, stop, running) = serve(|mut ws| async move {
            let _ = ws.send_text("up").await;
            // Holds the WebSocket and never looks at it again, so no 1001 goes out (a session
            // stuck for 30 s is the subject, not synchronisation).
            tulip_reactor::sleep(Duration::from_secs(30)).await;
            drop(ws);
        });
        let (seen, took) = shut_down_around(addr, stop, running).await;
        // The connection just ends: no close frame, no message.
        assert!(!seen.starts_with("Text"), "{seen}");
        assert!(!seen.contains("1001"), "{seen}");
        took
    });
    assert!(took >= DEADLINE, "{took:?}");
    assert!(took < DEADLINE + Duration::from_millis(700), "{took:?}");
}

#[test]
fn the_deadline_ends_a_close_handshake_the_client_never_answers() {
    let (tx, rx) = mpsc::channel::<String>();
    let took = tulip_executor::run(async move {
        let (addr, stop, running) = serve(move |mut ws| {
            let tx = tx.clone();
            async move {
                let _ = ws.send_text("up").await;
                // The 1001 goes out at shutdown; the client never reads it, so never answers,
                // and the close timeout is far off: this receive is still waiting at the
                // deadline.
                let end = match ws.receive().await {
                    Ok(m) => format!("{m:?}"),
                    Err(e) => format!("error timeout={}", e.is_timeout()),
                };
                let _ = tx.send(end);
            }
        });
        let (mut ws, _) = tulip_ws::ws_connect(&format!("ws://{addr}/ws"))
            .await
            .unwrap();
        assert_eq!(ws.receive_text().await.unwrap(), "up");
        let started = Instant::now();
        stop.shutdown();
        tulip_reactor::timeout(Duration::from_secs(5), running)
            .await
            .expect("the server did not stop")
            .unwrap()
            .unwrap();
        let took = started.elapsed();
        // The session's report, received while the runtime still runs its task.
        let end = tulip_executor::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(5)))
            .await
            .unwrap()
            .expect("the session did not end");
        drop(ws);
        (took, end)
    });
    let (took, end) = took;
    // Not the close timeout: the deadline aborted the connection under the session.
    assert_eq!(end, "error timeout=false");
    assert!(took >= DEADLINE, "{took:?}");
    assert!(took < DEADLINE + Duration::from_millis(700), "{took:?}");
}
