//! Client and server over loopback TCP (`tulip_reactor::Async<TcpStream>`), one thread each.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use tulip_reactor::Async;
use tulip_tls::TlsStream;

use crate::certs::{acceptor, connector};
use crate::{pattern, run};

fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

async fn connect(addr: SocketAddr) -> io::Result<TlsStream<Async<TcpStream>>> {
    let tcp = Async::new(TcpStream::connect(addr)?)?;
    connector().connect("localhost", tcp).await
}

/// A server thread that accepts one connection and echoes it until the client closes.
fn echo_server() -> (SocketAddr, thread::JoinHandle<io::Result<u64>>) {
    let (l, addr) = listener();
    let server = thread::spawn(move || {
        run(async {
            let (tcp, _) = l.accept()?;
            let tls = acceptor().accept(Async::new(tcp)?).await?;
            let (mut r, mut w) = tls.split();
            let n = futures_lite::io::copy(&mut r, &mut w).await?;
            w.close().await?;
            Ok(n)
        })
    });
    (addr, server)
}

#[test]
fn echo_over_loopback() {
    let (addr, server) = echo_server();
    run(async {
        let mut tls = connect(addr).await.unwrap();
        for msg in [&b"hello"[..], b"", b"world", &[0u8; 20_000]] {
            tls.write_all(msg).await.unwrap();
            let mut back = vec![0; msg.len()];
            tls.read_exact(&mut back).await.unwrap();
            assert_eq!(back, msg);
        }
        tls.close().await.unwrap();
        assert_eq!(
            tls.read(&mut [0; 16]).await.unwrap(),
            0,
            "server's close_notify"
        );
    });
    assert_eq!(server.join().unwrap().unwrap(), 20_010);
}

/// 8 MiB each way at once; the client's halves run on two threads.
#[test]
fn large_bidirectional_transfer_over_tcp_from_two_threads() {
    let len = if cfg!(debug_assertions) {
        4 << 20
    } else {
        8 << 20
    };
    let data = pattern(len, 3);
    let (addr, server) = echo_server();
    let tls = run(connect(addr)).unwrap();
    let (mut r, mut w) = tls.split();
    let to_send = data.clone();
    let writer = thread::spawn(move || {
        run(async {
            for chunk in to_send.chunks(100_000) {
                w.write_all(chunk).await?;
            }
            w.close().await?;
            io::Result::Ok(w)
        })
    });
    let mut got = Vec::with_capacity(len);
    run(r.read_to_end(&mut got)).unwrap();
    let w = writer.join().unwrap().unwrap();
    assert_eq!(got.len(), len);
    assert!(got == data, "echoed bytes differ");
    assert_eq!(server.join().unwrap().unwrap(), len as u64);
    assert!(r.reunite(w).is_ok());
}

#[test]
fn handshake_timeout_against_a_tcp_peer_that_never_speaks() {
    let (l, addr) = listener();
    let limit = Some(Duration::from_millis(300));
    run(async {
        let start = Instant::now();
        let tcp = Async::new(TcpStream::connect(addr).unwrap()).unwrap();
        let err = connector()
            .with_handshake_timeout(limit)
            .connect("localhost", tcp)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        assert!(start.elapsed() < Duration::from_secs(5));

        // And a server facing a client that connects and says nothing.
        let _silent = TcpStream::connect(addr).unwrap();
        let (_first, _) = l.accept().unwrap();
        let (tcp, _) = l.accept().unwrap();
        let err = acceptor()
            .with_handshake_timeout(limit)
            .accept(Async::new(tcp).unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    });
}

#[test]
fn peer_reset_mid_stream_is_an_error() {
    let (l, addr) = listener();
    let server = thread::spawn(move || {
        run(async {
            let (tcp, _) = l.accept()?;
            let mut tls = acceptor().accept(Async::new(tcp)?).await?;
            tls.write_all(&[1; 50_000]).await?;
            // Wait until the client has sent bytes we will never read: closing a socket with
            // unread input makes the kernel answer with a reset instead of a FIN.
            tls.get_ref().readable().await?;
            io::Result::Ok(())
        })
    });
    run(async {
        let mut tls = connect(addr).await.unwrap();
        let mut buf = vec![0; 50_000];
        tls.read_exact(&mut buf).await.unwrap();
        tls.write_all(b"never read").await.unwrap();
        server.join().unwrap().unwrap();
        let err = tls.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
    });
}

#[test]
fn many_sequential_handshakes() {
    let rounds = if cfg!(debug_assertions) { 5 } else { 20 };
    let (l, addr) = listener();
    let server = thread::spawn(move || {
        run(async {
            for _ in 0..rounds {
                let (tcp, _) = l.accept()?;
                let mut tls = acceptor().accept(Async::new(tcp)?).await?;
                tls.write_all(b"hi").await?;
                tls.close().await?;
            }
            io::Result::Ok(())
        })
    });
    run(async {
        for _ in 0..rounds {
            let mut tls = connect(addr).await.unwrap();
            let mut got = Vec::new();
            tls.read_to_end(&mut got).await.unwrap();
            assert_eq!(got, b"hi");
        }
    });
    server.join().unwrap().unwrap();
}
