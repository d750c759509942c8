//! Streams over TCP: open_connection, start_server and the Server handle.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_lite::AsyncReadExt;
use tulip_net::{ReadError, TcpStream, open_connection, serve_tcp, start_server};

use crate::{localhost, run};

/// A line echo handler that counts finished connections.
fn echo_lines(
    done: Arc<AtomicUsize>,
) -> impl Fn(
    tulip_net::StreamReader,
    tulip_net::StreamWriter,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
+ Send
+ Sync
+ 'static {
    move |mut r, mut w| {
        let done = done.clone();
        Box::pin(async move {
            loop {
                match r.read_line().await {
                    Ok(l) if l.is_empty() => break,
                    Ok(l) => {
                        w.write(&l);
                        if w.drain().await.is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
            done.fetch_add(1, Ordering::SeqCst);
        })
    }
}

#[test]
fn echo_many_clients_then_close_and_wait() {
    run(async {
        let done = Arc::new(AtomicUsize::new(0));
        let server = start_server(echo_lines(done.clone()), localhost()).unwrap();
        let port = server.local_addr().unwrap().port();
        assert!(server.is_serving());
        let mut clients = Vec::new();
        for i in 0..8 {
            clients.push(tulip_executor::spawn(async move {
                let (mut r, mut w) = open_connection("127.0.0.1", port).await.unwrap();
                for j in 0..20 {
                    let line = format!("client {i} line {j}\n");
                    w.write(line.as_bytes());
                    w.drain().await.unwrap();
                    assert_eq!(r.read_line().await.unwrap(), line.as_bytes());
                }
                assert!(w.peer_addr().is_some());
                w.close();
                w.wait_closed().await.unwrap();
                assert_eq!(r.read_line().await.unwrap(), b"");
            }));
        }
        for c in clients {
            c.await.unwrap();
        }
        server.close();
        assert!(!server.is_serving());
        server.wait_closed().await;
        assert_eq!(done.load(Ordering::SeqCst), 8);
        assert_eq!(server.active_connections(), 0);
        // The listener is closed: a new connection is refused, or (when a test running in
        // parallel has meanwhile bound the same ephemeral port) reaches someone else, never us.
        match TcpStream::connect(server.local_addr().unwrap()).await {
            Err(err) => assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused),
            Ok(_other) => {
                // An absence is the subject: give a stray connection 20 ms to show up.
                tulip_reactor::sleep(std::time::Duration::from_millis(20)).await;
                assert_eq!(server.active_connections(), 0);
                assert_eq!(done.load(Ordering::SeqCst), 8);
            }
        }
    });
}

#[test]
fn wait_closed_waits_for_open_connections() {
    run(async {
        let done = Arc::new(AtomicUsize::new(0));
        let server = start_server(echo_lines(done.clone()), localhost()).unwrap();
        let port = server.local_addr().unwrap().port();
        let (mut r, mut w) = open_connection("127.0.0.1", port).await.unwrap();
        w.write(b"x\n");
        w.drain().await.unwrap();
        r.read_line().await.unwrap();
        server.close();
        // The connection is still open, so wait_closed does not finish yet.
        let early = tulip_reactor::timeout(Duration::from_millis(50), server.wait_closed()).await;
        assert!(early.is_err());
        drop(w);
        server.wait_closed().await;
        assert_eq!(done.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn serve_forever_returns_on_close_and_closes_when_cancelled() {
    run(async {
        let server = serve_tcp(
            tulip_net::TcpListener::builder().bind(localhost()).unwrap(),
            |_s| async {},
        )
        .unwrap();
        let s2 = server.clone();
        // Polled once here, so serve_forever is waiting before the close.
        let mut serving = Box::pin(async move { s2.serve_forever().await });
        assert!(
            futures_lite::future::poll_once(&mut serving)
                .await
                .is_none()
        );
        let t = tulip_executor::spawn(serving);
        server.close();
        t.await.unwrap();

        let server = serve_tcp(
            tulip_net::TcpListener::builder().bind(localhost()).unwrap(),
            |_s| async {},
        )
        .unwrap();
        let cancelled =
            tulip_reactor::timeout(Duration::from_millis(10), server.serve_forever()).await;
        assert!(cancelled.is_err());
        assert!(!server.is_serving());
        server.wait_closed().await;
    });
}

#[test]
fn read_exactly_over_tcp_reports_partial_data() {
    run(async {
        let server = serve_tcp(
            tulip_net::TcpListener::builder().bind(localhost()).unwrap(),
            |s: TcpStream| async move {
                let (_r, mut w) = tulip_net::streams(s);
                w.write(b"12345");
                let _ = w.wait_closed().await;
            },
        )
        .unwrap();
        let (mut r, _w) = open_connection("127.0.0.1", server.local_addr().unwrap().port())
            .await
            .unwrap();
        match r.read_exactly(10).await {
            Err(ReadError::Incomplete { partial, expected }) => {
                assert_eq!(partial, b"12345");
                assert_eq!(expected, Some(10));
            }
            other => panic!("{other:?}"),
        }
        server.close();
    });
}

#[test]
fn stream_reader_is_an_async_read() {
    run(async {
        let server = serve_tcp(
            tulip_net::TcpListener::builder().bind(localhost()).unwrap(),
            |s: TcpStream| async move {
                let (_r, mut w) = tulip_net::streams(s);
                let big = vec![7u8; 300_000];
                w.write(&big);
                let _ = w.wait_closed().await;
            },
        )
        .unwrap();
        let (mut r, _w) = open_connection("127.0.0.1", server.local_addr().unwrap().port())
            .await
            .unwrap();
        let mut all = Vec::new();
        r.read_to_end(&mut all).await.unwrap();
        assert_eq!(all.len(), 300_000);
        assert!(all.iter().all(|&b| b == 7));
        assert!(r.at_eof());
        server.close();
    });
}
