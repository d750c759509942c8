//! Graceful shutdown: in-flight requests finish, idle connections close, nothing is lost.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::support::{TestServer, closed_within, read_reply};
use crate::test_app;

#[test]
fn in_flight_responses_survive_shutdown() {
    let srv = TestServer::start(test_app());
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
    std::thread::sleep(Duration::from_millis(100));
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
    let app = tulip_http::App::new().get("/hang", |_req: tulip_http::Request| async {
        tulip_reactor::sleep(Duration::from_secs(30)).await;
        "late"
    });
    let srv = TestServer::start_with(app, cfg);
    let mut s = srv.connect();
    s.write_all(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    srv.shutdown().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t.elapsed()
    );
    assert!(closed_within(&mut s, Duration::from_secs(2)));
}
