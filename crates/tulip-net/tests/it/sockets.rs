//! TCP sockets: options, halves, listener builder, incoming.

use std::net::Shutdown;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt, StreamExt};
use tulip_net::{TcpListener, TcpStream};

use crate::{localhost, run};

#[test]
fn socket_options_round_trip() {
    run(async {
        let l = TcpListener::bind(localhost()).await.unwrap();
        let s = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        s.set_nodelay(true).unwrap();
        assert!(s.nodelay().unwrap());
        s.set_nodelay(false).unwrap();
        assert!(!s.nodelay().unwrap());
        s.set_keepalive(Some(Duration::from_secs(30))).unwrap();
        assert!(s.keepalive().unwrap());
        s.set_keepalive(None).unwrap();
        assert!(!s.keepalive().unwrap());
        s.set_ttl(42).unwrap();
        assert_eq!(s.ttl().unwrap(), 42);
        s.set_linger(Some(Duration::from_secs(1))).unwrap();
        assert_eq!(s.linger().unwrap(), Some(Duration::from_secs(1)));
        s.set_send_buffer_size(64 * 1024).unwrap();
        assert!(s.send_buffer_size().unwrap() >= 64 * 1024);
        s.set_recv_buffer_size(64 * 1024).unwrap();
        assert!(s.recv_buffer_size().unwrap() >= 64 * 1024);
        assert_eq!(s.peer_addr().unwrap(), l.local_addr().unwrap());
        assert!(s.take_error().unwrap().is_none());
    });
}

/// Accept hands out a stream that is non-blocking and close-on-exec from the start (on Linux
/// one `accept4`, with no `ioctl`/`getsockopt` after it), with the peer's real address, and
/// both accept forms give a working stream.
#[test]
fn accepted_streams_are_nonblocking_cloexec_and_name_their_peer() {
    use std::future::poll_fn;
    use std::os::fd::AsFd;
    run(async {
        let l = TcpListener::bind(localhost()).await.unwrap();
        let addr = l.local_addr().unwrap();
        for poll_form in [false, true] {
            let mut c = TcpStream::connect(addr).await.unwrap();
            let (mut s, peer) = if poll_form {
                poll_fn(|cx| l.poll_accept(cx)).await.unwrap()
            } else {
                l.accept().await.unwrap()
            };
            assert_eq!(peer, c.local_addr().unwrap());
            let fl = rustix::fs::fcntl_getfl(s.as_fd()).unwrap();
            assert!(fl.contains(rustix::fs::OFlags::NONBLOCK), "{fl:?}");
            let fd = rustix::io::fcntl_getfd(s.as_fd()).unwrap();
            assert!(fd.contains(rustix::io::FdFlags::CLOEXEC), "{fd:?}");
            c.write_all(b"ping").await.unwrap();
            let mut buf = [0; 4];
            s.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"ping");
        }
    });
}

#[test]
fn owned_halves_work_from_two_tasks_and_reunite() {
    run(async {
        let l = TcpListener::bind(localhost()).await.unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (mut srv, _) = l.accept().await.unwrap();
        let (mut r, mut w) = c.into_split();
        let writer = tulip_executor::spawn(async move {
            w.write_all(b"ping").await.unwrap();
            w
        });
        let mut buf = [0; 4];
        srv.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        srv.write_all(b"pong").await.unwrap();
        r.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
        let w = writer.await.unwrap();
        let s = r.reunite(w).expect("same socket");
        assert_eq!(s.peer_addr().unwrap(), l.local_addr().unwrap());
    });
}

#[test]
fn reunite_refuses_halves_of_different_sockets() {
    run(async {
        let l = TcpListener::bind(localhost()).await.unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let b = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (ra, _wa) = a.into_split();
        let (_rb, wb) = b.into_split();
        assert!(ra.reunite(wb).is_err());
    });
}

#[test]
fn dropping_the_owned_write_half_sends_eof() {
    run(async {
        let l = TcpListener::bind(localhost()).await.unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (mut srv, _) = l.accept().await.unwrap();
        let (_r, w) = c.into_split();
        drop(w);
        let mut out = Vec::new();
        srv.read_to_end(&mut out).await.unwrap();
        assert!(out.is_empty());
    });
}

#[test]
fn borrowed_split_and_shutdown() {
    run(async {
        let l = TcpListener::bind(localhost()).await.unwrap();
        let mut c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (mut srv, _) = l.accept().await.unwrap();
        {
            let (_r, mut w) = c.split();
            w.write_all(b"abc").await.unwrap();
            w.close().await.unwrap(); // a FIN
        }
        let mut out = Vec::new();
        srv.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"abc");
        srv.shutdown(Shutdown::Write).unwrap();
        let mut out = Vec::new();
        c.read_to_end(&mut out).await.unwrap();
        assert!(out.is_empty());
    });
}

#[test]
fn listener_builder_and_incoming() {
    run(async {
        let a = TcpListener::builder()
            .reuse_port(true)
            .backlog(8)
            .bind(localhost())
            .unwrap();
        // SO_REUSEPORT lets a second listener share the port.
        let b = TcpListener::builder()
            .reuse_port(true)
            .bind(a.local_addr().unwrap())
            .unwrap();
        assert_eq!(a.local_addr().unwrap(), b.local_addr().unwrap());
        drop(b);
        let addr = a.local_addr().unwrap();
        let clients: Vec<_> = futures_lite::future::zip(
            async {
                let mut v = Vec::new();
                for _ in 0..3 {
                    v.push(TcpStream::connect(addr).await.unwrap());
                }
                v
            },
            async {
                let inc = a.incoming();
                futures_lite::pin!(inc);
                for _ in 0..3 {
                    inc.next().await.unwrap().unwrap();
                }
            },
        )
        .await
        .0;
        assert_eq!(clients.len(), 3);
    });
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    run(async {
        let l = TcpListener::bind(localhost()).await.unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let err = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    });
}

#[test]
fn bind_in_use_is_an_error() {
    run(async {
        let a = TcpListener::builder()
            .reuse_address(false)
            .bind(localhost())
            .unwrap();
        let err = TcpListener::builder()
            .reuse_address(false)
            .bind(a.local_addr().unwrap())
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    });
}
