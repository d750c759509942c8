//! Upgraded connections at the edges: the shutdown deadline closes them, and `OnUpgrade`
//! always resolves, even when the connection dies while the handler still holds the request.

use std::io::{ErrorKind, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use tulip_http::{
    App, HeaderValue, Request, Response, Server, ServerConfig, ShutdownHandle, StatusCode, header,
};

use crate::support::{closed_within, read_reply};

const UPGRADE_REQUEST: &[u8] =
    b"GET /up HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: raw\r\n\r\n";

fn switching() -> Response {
    Response::new(StatusCode::SWITCHING_PROTOCOLS)
        .with_header(header::UPGRADE, HeaderValue::from_static("raw"))
        .with_header(header::CONNECTION, HeaderValue::from_static("upgrade"))
}

/// A server on its own runtime thread that reports when `Server::run` returns, and keeps its
/// runtime alive a little longer so session tasks woken by the forced close can still report
/// (the runtime cancels what is left when it stops).
struct Served {
    addr: std::net::SocketAddr,
    stop: ShutdownHandle,
    ended: mpsc::Receiver<Instant>,
    thread: Option<std::thread::JoinHandle<Result<(), tulip_http::Error>>>,
}

impl Served {
    fn start(app: App, shutdown_timeout: Duration) -> Served {
        let mut cfg = ServerConfig::default();
        cfg.shutdown_timeout = shutdown_timeout;
        let server = Server::bind_with("127.0.0.1:0", app, cfg).expect("bind");
        let (addr, stop) = (server.local_addr(), server.shutdown_handle());
        let (tx, ended) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            tulip_executor::run(async move {
                let r = server.run().await;
                let _ = tx.send(Instant::now());
                tulip_reactor::sleep(Duration::from_millis(300)).await;
                r
            })
        });
        Served {
            addr,
            stop,
            ended,
            thread: Some(thread),
        }
    }

    fn connect(&self) -> std::net::TcpStream {
        let s = std::net::TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }

    /// Waits (bounded) for `Server::run` to return and the thread to end; returns when `run`
    /// returned.
    fn join(mut self) -> Instant {
        let ended = self
            .ended
            .recv_timeout(Duration::from_secs(10))
            .expect("the server did not stop");
        if let Some(t) = self.thread.take() {
            t.join().expect("server thread").expect("server result");
        }
        ended
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A server whose `/up` route hands each upgraded connection to `session`, in a task of its own.
fn upgrade_server<F, Fut>(shutdown_timeout: Duration, session: F) -> Served
where
    F: Fn(tulip_http::Upgraded) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let app = App::new().get("/up", move |mut req: Request| {
        let session = session.clone();
        async move {
            let Some(on_upgrade) = req.on_upgrade() else {
                return Response::new(StatusCode::BAD_REQUEST);
            };
            tulip_executor::spawn(async move {
                if let Ok(up) = on_upgrade.await {
                    session(up).await;
                }
            })
            .detach();
            switching()
        }
    });
    Served::start(app, shutdown_timeout)
}

/// Connects, upgrades, and returns the socket once the 101 has arrived.
fn upgraded_client(srv: &Served) -> std::net::TcpStream {
    let mut s = srv.connect();
    s.write_all(UPGRADE_REQUEST).unwrap();
    let r = read_reply(&mut s, &mut Vec::new(), false).expect("101 response");
    assert_eq!(r.status, 101);
    s
}

#[test]
fn shutdown_deadline_closes_an_upgraded_connection_nobody_reads() {
    let deadline = Duration::from_millis(300);
    // The session keeps the connection and never touches it again.
    let srv = upgrade_server(deadline, |up| async move {
        tulip_reactor::sleep(Duration::from_secs(30)).await;
        drop(up);
    });
    let mut s = upgraded_client(&srv);
    // Let the session task take the connection before shutdown starts.
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    srv.stop.shutdown();
    // The peer sees the close at the deadline, not when the server's runtime goes away.
    assert!(
        closed_within(&mut s, Duration::from_secs(1)),
        "still open after {:?}",
        t.elapsed()
    );
    let closed = t.elapsed();
    let done = srv.join() - t;
    assert!(closed >= deadline, "closed before the deadline: {closed:?}");
    // Forced upgraded connections no longer count, so shutdown ends at the deadline instead
    // of waiting out the grace period after it.
    assert!(
        done < deadline + Duration::from_millis(700),
        "took {done:?}"
    );
}

#[test]
fn shutdown_deadline_aborts_a_session_blocked_in_read() {
    let (tx, rx) = mpsc::channel::<Vec<ErrorKind>>();
    let srv = upgrade_server(Duration::from_millis(300), move |mut up| {
        let tx = tx.clone();
        async move {
            let mut buf = [0u8; 16];
            // The client never sends: only the forced close can end this read.
            let read = up.read(&mut buf).await;
            let write = up.write(b"late").await;
            let flush = up.flush().await;
            let close = up.close().await;
            let kind =
                |r: Result<(), std::io::Error>| r.err().map_or(ErrorKind::Other, |e| e.kind());
            let _ = tx.send(vec![
                kind(read.map(drop)),
                kind(write.map(drop)),
                kind(flush),
                kind(close),
            ]);
        }
    });
    let mut s = upgraded_client(&srv);
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    srv.stop.shutdown();
    let kinds = rx
        .recv_timeout(Duration::from_secs(1))
        .expect("the blocked read did not end at the deadline");
    assert!(
        t.elapsed() < Duration::from_millis(1000),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(kinds, vec![ErrorKind::ConnectionAborted; 4]);
    assert!(closed_within(&mut s, Duration::from_secs(2)));
    srv.join();
}

#[test]
fn shutdown_signal_comes_before_the_forced_close() {
    // A well-behaved session answers the signal itself and is never forced.
    let srv = upgrade_server(Duration::from_secs(5), |mut up| async move {
        up.shutdown_signal().await;
        assert!(up.is_shutting_down());
        let _ = up.write_all(b"bye").await;
        let _ = up.close().await;
    });
    let mut s = upgraded_client(&srv);
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    srv.stop.shutdown();
    let mut got = Vec::new();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    std::io::Read::read_to_end(&mut s, &mut got).unwrap();
    assert_eq!(got, b"bye");
    let done = srv.join() - t;
    assert!(done < Duration::from_secs(2), "{done:?}");
}

/// What a task awaiting `OnUpgrade` saw.
#[derive(Debug, PartialEq)]
enum Outcome {
    Upgraded,
    Failed,
    Hung,
}

/// A route whose handler keeps the `Request` alive in a task awaiting the upgrade (as a
/// WebSocket library may), then waits `before_101` and answers 101.
fn held_request_app(tx: mpsc::Sender<Outcome>, before_101: Duration) -> App {
    App::new().get("/up", move |mut req: Request| {
        let tx = tx.clone();
        async move {
            let Some(on_upgrade) = req.on_upgrade() else {
                return Response::new(StatusCode::BAD_REQUEST);
            };
            tulip_executor::spawn(async move {
                let held = req;
                let outcome = match tulip_reactor::timeout(Duration::from_secs(5), on_upgrade).await
                {
                    Ok(Ok(_)) => Outcome::Upgraded,
                    Ok(Err(_)) => Outcome::Failed,
                    Err(_) => Outcome::Hung,
                };
                drop(held);
                let _ = tx.send(outcome);
            })
            .detach();
            tulip_reactor::sleep(before_101).await;
            switching()
        }
    })
}

#[test]
fn on_upgrade_fails_when_the_client_resets_before_the_101() {
    let (tx, rx) = mpsc::channel();
    let srv = Served::start(
        held_request_app(tx, Duration::from_millis(200)),
        Duration::from_secs(1),
    );
    let mut s = srv.connect();
    s.write_all(UPGRADE_REQUEST).unwrap();
    // A zero linger turns the close into a reset: writing the 101 then fails.
    let s = tulip_net::TcpStream::from_std(s).unwrap();
    s.set_linger(Some(Duration::ZERO)).unwrap();
    drop(s);
    let outcome = rx
        .recv_timeout(Duration::from_secs(8))
        .expect("the upgrade task reported nothing");
    assert_eq!(outcome, Outcome::Failed);
}

#[test]
fn on_upgrade_fails_when_shutdown_forces_the_handler_off() {
    let (tx, rx) = mpsc::channel();
    // The handler is still running at the deadline, so the 101 is never written.
    let app = held_request_app(tx, Duration::from_secs(30));
    let srv = Served::start(app, Duration::from_millis(200));
    let mut s = srv.connect();
    s.write_all(UPGRADE_REQUEST).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    srv.stop.shutdown();
    let outcome = rx
        .recv_timeout(Duration::from_secs(8))
        .expect("the upgrade task reported nothing");
    assert_eq!(outcome, Outcome::Failed);
    assert!(closed_within(&mut s, Duration::from_secs(2)));
    srv.join();
}
