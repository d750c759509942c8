//! Faults: a peer that resets, half-closes, or never reads.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use tulip_net::{TcpListener, TcpStream, create_server, open_connection, streams};

use crate::transport::{Ev, Recorder};
use crate::{localhost, run, until};

#[test]
fn a_reset_peer_reaches_connection_lost_as_an_error() {
    run(async {
        let log = Arc::default();
        let l2 = Arc::clone(&log);
        let server = create_server(move || Recorder::new(&l2), localhost()).unwrap();
        let c = TcpStream::connect(server.local_addr().unwrap())
            .await
            .unwrap();
        c.write_all_ref(b"x").await;
        // The server has the connection (and its byte) before the reset.
        until("the server receiving the byte", || {
            log.lock().unwrap().contains(&Ev::Data(1))
        })
        .await;
        // SO_LINGER 0 makes close send a RST.
        c.set_linger(Some(Duration::ZERO)).unwrap();
        drop(c);
        server.close();
        server.wait_closed().await;
        let evs: Vec<Ev> = log.lock().unwrap().clone();
        assert_eq!(evs.first(), Some(&Ev::Made));
        assert_eq!(
            evs.last(),
            Some(&Ev::Lost(Some(io::ErrorKind::ConnectionReset))),
            "{evs:?}"
        );
    });
}

/// Writes through `&TcpStream` without needing `mut`.
trait WriteRef {
    async fn write_all_ref(&self, data: &[u8]);
}

impl WriteRef for TcpStream {
    async fn write_all_ref(&self, data: &[u8]) {
        let mut s = self;
        s.write_all(data).await.unwrap();
    }
}

#[test]
fn a_stream_writer_to_a_peer_that_never_reads_stays_bounded() {
    run(async {
        let l = TcpListener::bind(localhost()).await.unwrap();
        let port = l.local_addr().unwrap().port();
        let (_r, mut w) = open_connection("127.0.0.1", port).await.unwrap();
        let (_peer, _) = l.accept().await.unwrap(); // accepted, never read
        let chunk = vec![0u8; 64 * 1024];
        let mut timed_out = false;
        for _ in 0..200 {
            w.write(&chunk);
            if tulip_reactor::timeout(Duration::from_millis(100), w.drain())
                .await
                .is_err()
            {
                timed_out = true;
                break;
            }
        }
        assert!(timed_out, "drain never blocked");
        // What is queued is bounded by the last write plus what the kernel refused.
        assert!(
            w.write_buffer_size() <= chunk.len(),
            "{}",
            w.write_buffer_size()
        );
    });
}

#[test]
fn writing_to_a_closed_peer_fails_with_a_clear_error() {
    run(async {
        let l = TcpListener::bind(localhost()).await.unwrap();
        let port = l.local_addr().unwrap().port();
        let (mut r, mut w) = open_connection("127.0.0.1", port).await.unwrap();
        let (peer, _) = l.accept().await.unwrap();
        peer.set_linger(Some(Duration::ZERO)).unwrap();
        drop(peer);
        // The reset has arrived once a read reports it.
        let read = r.read(1).await;
        assert!(read.is_err(), "a read after the reset: {read:?}");
        let mut err = None;
        for _ in 0..50 {
            w.write(&[0u8; 1024]);
            if let Err(e) = w.drain().await {
                err = Some(e);
                break;
            }
        }
        let err = err.expect("writes to a reset peer must fail");
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ),
            "{err:?}"
        );
        // Later writes are dropped quietly and drain stays failed-closed rather than hanging.
        w.write(b"more");
        assert!(w.is_closing());
    });
}

#[test]
fn half_close_lets_the_reader_finish_while_writing_continues() {
    run(async {
        let finished = Arc::new(AtomicBool::new(false));
        let f2 = finished.clone();
        let server = tulip_net::serve_tcp(
            TcpListener::builder().bind(localhost()).unwrap(),
            move |s| {
                let f2 = f2.clone();
                async move {
                    let (mut r, mut w) = streams(s);
                    let mut all = Vec::new();
                    r.read_to_end(&mut all).await.unwrap(); // until the client's FIN
                    w.write(format!("got {}", all.len()).as_bytes());
                    w.wait_closed().await.unwrap();
                    f2.store(true, Ordering::SeqCst);
                }
            },
        )
        .unwrap();
        let (mut r, mut w) = open_connection("127.0.0.1", server.local_addr().unwrap().port())
            .await
            .unwrap();
        w.write(&[1u8; 5000]);
        w.write_eof().await.unwrap();
        let mut reply = String::new();
        r.read_to_string(&mut reply).await.unwrap();
        assert_eq!(reply, "got 5000");
        server.close();
        server.wait_closed().await;
        assert!(finished.load(Ordering::SeqCst));
    });
}

#[test]
fn read_until_against_an_endless_line_hits_the_limit_not_memory() {
    run(async {
        let server = tulip_net::serve_tcp(
            TcpListener::builder().bind(localhost()).unwrap(),
            |s| async move {
                let (_r, mut w) = streams(s);
                let junk = vec![b'a'; 16 * 1024];
                for _ in 0..64 {
                    w.write(&junk);
                    if w.drain().await.is_err() {
                        break;
                    }
                }
            },
        )
        .unwrap();
        let (mut r, _w) = open_connection("127.0.0.1", server.local_addr().unwrap().port())
            .await
            .unwrap();
        let err = r.read_until(b"\r\n").await.unwrap_err();
        assert!(err.is_limit_overrun(), "{err:?}");
        assert!(r.buffer().len() <= 2 * tulip_net::DEFAULT_LIMIT + 16 * 1024);
        server.close();
    });
}
