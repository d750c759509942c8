//! Graceful shutdown: in-flight requests finish, idle connections close, nothing is lost.

use std::io::Write;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tulip_http::{App, Request};

use crate::support::{TestServer, closed_within, read_reply};

/// An app whose `/slow` handler reports its start on `entered`, then takes `takes` (the slow
/// handler is what shutdown must wait for, or cut off).
fn slow_app(entered: mpsc::Sender<()>, takes: Duration) -> App {
    App::new()
        .get("/", |_req: Request| async { "hello" })
        .get("/slow", move |_req: Request| {
            let entered = entered.clone();
            async move {
                let _ = entered.send(());
                tulip_reactor::sleep(takes).await;
                "slow done"
            }
        })
}

/// Waits (bounded) for `n` handlers to have started.
fn handlers_started(entered: &mpsc::Receiver<()>, n: usize) {
    for i in 0..n {
        entered
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("only {i} of {n} handlers started"));
    }
}

#[test]
fn in_flight_responses_survive_shutdown() {
    let (entered, started) = mpsc::channel();
    let srv = TestServer::start(slow_app(entered, Duration::from_millis(400)));
    let mut busy: Vec<_> = (0..8)
        .map(|_| {
            let mut s = srv.connect();
            s.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            s
        })
        .collect();
    let mut idle = srv.connect();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(
        read_reply(&mut idle, &mut Vec::new(), false)
            .unwrap()
            .status,
        200
    );
    // Every slow request is inside its handler when shutdown starts.
    handlers_started(&started, 8);
    let t = Instant::now();
    let stop = srv.stop.clone();
    stop.shutdown();
    // The idle keep-alive connection is closed at once.
    assert!(closed_within(&mut idle, Duration::from_secs(2)));
    // Every in-flight request gets its full response, marked as the last one.
    for s in &mut busy {
        let r = read_reply(s, &mut Vec::new(), false).expect("in-flight response");
        assert_eq!(r.text(), "slow done");
        assert_eq!(r.header("connection"), Some("close"));
    }
    // New connections are refused once the listener is gone.
    srv.shutdown().unwrap();
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn shutdown_deadline_forces_stuck_connections() {
    let mut cfg = tulip_http::ServerConfig::default();
    cfg.shutdown_timeout = Duration::from_millis(300);
    // A handler stuck for 30 s: only the deadline ends it.
    let (entered, started) = mpsc::channel();
    let srv = TestServer::start_with(slow_app(entered, Duration::from_secs(30)), cfg);
    let mut s = srv.connect();
    s.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    handlers_started(&started, 1);
    let t = Instant::now();
    srv.shutdown().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t.elapsed()
    );
    assert!(closed_within(&mut s, Duration::from_secs(2)));
}
