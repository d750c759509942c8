//! Each field of `ClientTimeout` against a server that stalls at the step it bounds; the
//! error says which timeout fired. The stalled servers wait on a channel the test releases
//! at its end, never on a clock.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use tulip_http::{Client, ClientTimeout, TimeoutKind};

const SHORT: Duration = Duration::from_millis(150);
const LONG: Duration = Duration::from_secs(30);

/// A server that runs `script` on each accepted connection (on its own thread) until the
/// test drops the returned sender.
fn stalling(script: fn(TcpStream, &mpsc::Receiver<()>)) -> (u16, mpsc::Sender<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (release, released) = mpsc::channel::<()>();
    thread::spawn(move || {
        let released = std::sync::Arc::new(std::sync::Mutex::new(released));
        for s in l.incoming() {
            let Ok(s) = s else { return };
            let released = released.clone();
            thread::spawn(move || {
                let rx = released.lock().unwrap();
                script(s, &rx);
            });
        }
    });
    (port, release)
}

fn read_head(s: &mut TcpStream) {
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => got.push(byte[0]),
            _ => return,
        }
    }
}

/// Reads the request, then sends nothing until released.
fn silent(mut s: TcpStream, released: &mpsc::Receiver<()>) {
    read_head(&mut s);
    let _ = released.recv();
}

/// Reads the request, sends the head and half the body, then stalls until released.
fn half_body(mut s: TcpStream, released: &mpsc::Receiver<()>) {
    read_head(&mut s);
    let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello");
    let _ = released.recv();
}

/// Accepts TCP and never answers a TLS ClientHello.
fn no_tls(_s: TcpStream, released: &mpsc::Receiver<()>) {
    let _ = released.recv();
}

fn only(kind: TimeoutKind) -> ClientTimeout {
    let mut t = ClientTimeout {
        total: Some(LONG),
        connect: Some(LONG),
        sock_connect: Some(LONG),
        sock_read: Some(LONG),
    };
    match kind {
        TimeoutKind::Total => t.total = Some(SHORT),
        TimeoutKind::Connect => t.connect = Some(SHORT),
        TimeoutKind::SockConnect => t.sock_connect = Some(SHORT),
        TimeoutKind::SockRead => t.sock_read = Some(SHORT),
        _ => unreachable!("a timeout kind this test does not know"),
    }
    t
}

/// Sends a GET to `url` with `timeouts` and returns which timeout its error names.
async fn fired(c: &Client, url: &str, timeouts: ClientTimeout) -> Option<TimeoutKind> {
    let started = Instant::now();
    let err = match c.get(url).timeouts(timeouts).send().await {
        Ok(resp) => resp.bytes().await.unwrap_err(),
        Err(e) => e,
    };
    assert!(err.is_timeout(), "{err:?}");
    assert!(started.elapsed() < LONG, "a long timeout fired: {err}");
    let kind = err.timeout_kind();
    let name = kind.map_or("none", TimeoutKind::name);
    assert!(err.to_string().contains(name), "{err}");
    kind
}

#[test]
fn sock_read_fires_on_a_silent_head_and_a_stalled_body() {
    let (port, _release) = stalling(silent);
    let (port2, _release2) = stalling(half_body);
    tulip_executor::run(async move {
        let c = Client::new();
        let head = format!("http://127.0.0.1:{port}/");
        let body = format!("http://127.0.0.1:{port2}/");
        let t = only(TimeoutKind::SockRead);
        assert_eq!(fired(&c, &head, t).await, Some(TimeoutKind::SockRead));
        assert_eq!(fired(&c, &body, t).await, Some(TimeoutKind::SockRead));
        // Per request over a client without one.
        let c = Client::builder().timeout(ClientTimeout::NONE).build();
        let err = c
            .get(&head)
            .sock_read_timeout(Some(SHORT))
            .timeout(Some(LONG))
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.timeout_kind(), Some(TimeoutKind::SockRead), "{err}");
    });
}

#[test]
fn total_fires_before_a_longer_sock_read() {
    let (port, _release) = stalling(silent);
    let (port2, _release2) = stalling(half_body);
    tulip_executor::run(async move {
        let c = Client::builder().timeout(only(TimeoutKind::Total)).build();
        for url in [
            format!("http://127.0.0.1:{port}/"),
            format!("http://127.0.0.1:{port2}/"),
        ] {
            let started = Instant::now();
            let err = match c.get(&url).send().await {
                Ok(resp) => resp.bytes().await.unwrap_err(),
                Err(e) => e,
            };
            assert_eq!(err.timeout_kind(), Some(TimeoutKind::Total), "{err}");
            assert!(started.elapsed() >= SHORT);
        }
    });
}

#[test]
fn connect_covers_the_wait_for_a_pool_slot() {
    let (port, _release) = stalling(silent);
    tulip_executor::run(async move {
        let c = Client::builder()
            .limit(1)
            .timeout(ClientTimeout::NONE)
            .build();
        let url = format!("http://127.0.0.1:{port}/");
        // The first request takes the only slot and waits on the silent server.
        let holder = {
            let (c, url) = (c.clone(), url.clone());
            tulip_executor::spawn(async move { c.get(url).send().await })
        };
        // Wait until the first request holds its connection: the server accepted it.
        while c.pool_stats().connects == 0 {
            tulip_executor::yield_now().await;
        }
        assert_eq!(
            fired(&c, &url, only(TimeoutKind::Connect)).await,
            Some(TimeoutKind::Connect)
        );
        holder.cancel().await;
    });
}

#[cfg(feature = "tls")]
#[test]
fn sock_connect_and_connect_bound_the_tls_handshake() {
    let (port, _release) = stalling(no_tls);
    tulip_executor::run(async move {
        let c = Client::new();
        let url = format!("https://127.0.0.1:{port}/");
        assert_eq!(
            fired(&c, &url, only(TimeoutKind::SockConnect)).await,
            Some(TimeoutKind::SockConnect)
        );
        assert_eq!(
            fired(&c, &url, only(TimeoutKind::Connect)).await,
            Some(TimeoutKind::Connect)
        );
        let c = Client::builder().sock_connect_timeout(Some(SHORT)).build();
        let err = c.get(&url).send().await.unwrap_err();
        assert_eq!(err.timeout_kind(), Some(TimeoutKind::SockConnect), "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("TLS handshake with 127.0.0.1:{port} failed")),
            "{err}"
        );
    });
}
