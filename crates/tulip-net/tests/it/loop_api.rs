//! The low-level loop API: `sock_*` calls on raw sockets, sendfile, and fd watches
//! (`add_reader`/`add_writer`).

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::Arc;

use crate::{localhost, run};
use futures_lite::AsyncReadExt;
use socket2::{Domain, Socket, Type};
use tulip_net::{
    TcpListener, TcpStream, add_reader, add_writer, remove_reader, remove_writer, sock_accept,
    sock_connect, sock_recv, sock_recv_into, sock_sendall, sock_sendfile, streams,
};
use tulip_reactor::Async;

/// A temp file holding `data`, removed when the guard drops.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(tag: &str, data: &[u8]) -> TempFile {
        let p = std::env::temp_dir().join(format!("tulip-net-{}-{tag}", std::process::id()));
        File::create(&p).unwrap().write_all(data).unwrap();
        TempFile(p)
    }

    fn open(&self) -> File {
        File::open(&self.0).unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

fn listening_socket() -> (Async<Socket>, SocketAddr) {
    let l = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    l.bind(&localhost().into()).unwrap();
    l.listen(16).unwrap();
    let addr = l.local_addr().unwrap().as_socket().unwrap();
    (Async::new(l).unwrap(), addr)
}

#[test]
fn sock_calls_move_a_megabyte_and_see_end_of_stream() {
    run(async {
        let (listener, addr) = listening_socket();
        let client = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let client = sock_connect(client, &addr.into()).await.unwrap();
        let (server, peer) = sock_accept(&listener).await.unwrap();
        assert_eq!(
            peer.as_socket(),
            Some(client.get_ref().local_addr().unwrap().as_socket().unwrap())
        );

        let data = pattern(1 << 20);
        let sender = {
            let data = data.clone();
            tulip_executor::spawn(async move {
                sock_sendall(&client, &data).await.unwrap();
                client
                    .get_ref()
                    .shutdown(std::net::Shutdown::Write)
                    .unwrap();
                client
            })
        };
        let mut got = Vec::new();
        let mut buf = vec![0; 50_000];
        loop {
            let n = sock_recv_into(&server, &mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got.len(), data.len());
        assert!(got == data, "the bytes arrived changed");
        assert_eq!(sock_recv(&server, 10).await.unwrap(), b"");
        drop(sender.await.unwrap());
    });
}

#[test]
fn sock_connect_reports_a_refusal() {
    run(async {
        // A port that was just free: bind, read the port, close.
        let addr = {
            let (l, addr) = listening_socket();
            drop(l);
            addr
        };
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let err = sock_connect(s, &addr.into()).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    });
}

#[test]
fn sendfile_sends_a_range_natively_and_a_pipe_through_the_fallback() {
    let data = pattern(3 << 20);
    let tmp = TempFile::new("sendfile", &data);
    run(async {
        let listener = TcpListener::bind(localhost()).await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut server, _) = listener.accept().await.unwrap();

        // A whole file, bigger than the socket buffers, with a concurrent reader.
        let file = tmp.open();
        let reader = tulip_executor::spawn(async move {
            let mut got = vec![0; 3 << 20];
            server.read_exact(&mut got).await.unwrap();
            (server, got)
        });
        assert_eq!(client.sendfile(&file, 0, None).await.unwrap(), 3 << 20);
        let (mut server, got) = reader.await.unwrap();
        assert!(got == data);

        // A range, through a StreamWriter with something queued ahead of it.
        let (_r, mut w) = streams(client);
        w.write(b"head:");
        assert_eq!(w.sendfile(&file, 1000, Some(10)).await.unwrap(), 10);
        let mut got = [0; 15];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got[..5], b"head:");
        assert_eq!(&got[5..], &data[1000..1010]);

        // A count past the end stops at the end.
        assert_eq!(
            w.sendfile(&file, (3 << 20) - 4, Some(100)).await.unwrap(),
            4
        );
        let mut got = [0; 4];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, &data[(3 << 20) - 4..]);

        // A pipe as the source: sendfile(2) refuses it, the fallback copies until EOF.
        let (pr, pw) = rustix::pipe::pipe().unwrap();
        let writer = std::thread::spawn(move || {
            File::from(pw).write_all(&pattern(200_000)).unwrap();
        });
        let sent = w.sendfile(&File::from(pr), 0, None).await.unwrap();
        writer.join().unwrap();
        assert_eq!(sent, 200_000);
        let mut got = vec![0; 200_000];
        server.read_exact(&mut got).await.unwrap();
        assert!(got == pattern(200_000));

        // An offset into a pipe is refused with a reason.
        let (pr, _pw) = rustix::pipe::pipe().unwrap();
        let err = w.sendfile(&File::from(pr), 5, None).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    });
}

#[test]
fn sock_sendfile_on_a_raw_socket() {
    let data = pattern(100_000);
    let tmp = TempFile::new("sock-sendfile", &data);
    run(async {
        let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM, None).unwrap();
        let (a, b) = (Async::new(a).unwrap(), Async::new(b).unwrap());
        let file = tmp.open();
        let reader = tulip_executor::spawn(async move {
            let mut got = Vec::new();
            while got.len() < 99_990 {
                let chunk = sock_recv(&b, 65536).await.unwrap();
                assert!(!chunk.is_empty(), "early end of stream");
                got.extend_from_slice(&chunk);
            }
            got
        });
        assert_eq!(sock_sendfile(&a, &file, 10, None).await.unwrap(), 99_990);
        assert!(reader.await.unwrap() == data[10..]);
    });
}

#[test]
fn a_reader_is_level_triggered_and_replaced_by_the_next_add() {
    run(async {
        let (mut a, b) = StdUnixStream::pair().unwrap();
        b.set_nonblocking(true).unwrap();
        let b = Arc::new(b);
        let fd = b.as_raw_fd();

        // Reading one byte per call: the watch must call again while bytes remain.
        let (tx, mut rx) = tulip_sync::mpsc::unbounded();
        let rb = b.clone();
        add_reader(&*b, move || {
            let mut one = [0; 1];
            if let Ok(1) = (&*rb).read(&mut one) {
                let _ = tx.try_send(one[0]);
            }
        })
        .unwrap();
        a.write_all(b"abcde").unwrap();
        let mut got = Vec::new();
        for _ in 0..5 {
            got.push(rx.recv().await.unwrap());
        }
        assert_eq!(got, b"abcde");

        // A second add on the same descriptor replaces the first: the new callback gets
        // everything written from now on.
        let (tx2, mut rx2) = tulip_sync::mpsc::unbounded();
        let rb = b.clone();
        add_reader(&*b, move || {
            let mut buf = [0; 64];
            while let Ok(n) = (&*rb).read(&mut buf) {
                if n == 0 {
                    break;
                }
                let _ = tx2.try_send(buf[..n].to_vec());
            }
        })
        .unwrap();
        a.write_all(b"xyz").unwrap();
        let mut got = Vec::new();
        while got.len() < 3 {
            got.extend(rx2.recv().await.unwrap());
        }
        assert_eq!(got, b"xyz");
        assert!(rx.try_recv().is_err(), "the replaced reader still ran");

        assert!(remove_reader(fd));
        assert!(!remove_reader(fd));
        // The old channels close once the watch tasks have dropped their callbacks.
        assert!(rx.recv().await.is_none());
        assert!(rx2.recv().await.is_none());
    });
}

#[test]
fn a_writer_writes_until_it_removes_itself() {
    run(async {
        let (a, mut b) = StdUnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let fd = a.as_raw_fd();
        let mut left = 5;
        let probe = a.try_clone().unwrap();
        add_writer(&probe, move || {
            if left > 0 {
                (&a).write_all(format!("chunk{left};").as_bytes()).unwrap();
                left -= 1;
            }
            if left == 0 {
                // Removing from inside the callback must not deadlock; the socket closes
                // when the watch drops this closure.
                assert!(remove_writer(fd));
            }
        })
        .unwrap();
        drop(probe);
        let got = tulip_executor::spawn_blocking(move || {
            let mut s = String::new();
            b.read_to_string(&mut s).map(|_| s)
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(got, "chunk5;chunk4;chunk3;chunk2;chunk1;");
    });
}

#[test]
fn a_watch_outside_a_runtime_is_an_error() {
    let (a, _b) = StdUnixStream::pair().unwrap();
    let err = add_reader(&a, || {}).unwrap_err();
    assert!(err.to_string().contains("inside a tulip runtime"), "{err}");
    assert!(!remove_reader(a.as_raw_fd()));
}

#[test]
fn datagrams_with_sock_sendto_and_sock_recvfrom_into() {
    use tulip_net::{sock_recvfrom, sock_recvfrom_into, sock_sendto};
    run(async {
        let udp = || {
            let s = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
            s.bind(&localhost().into()).unwrap();
            let addr = s.local_addr().unwrap().as_socket().unwrap();
            (Async::new(s).unwrap(), addr)
        };
        let ((a, a_addr), (b, b_addr)) = (udp(), udp());
        assert_eq!(sock_sendto(&a, b"one", b_addr).await.unwrap(), 3);
        assert_eq!(sock_sendto(&a, b"two!", b_addr).await.unwrap(), 4);
        let mut buf = [0; 16];
        assert_eq!(
            sock_recvfrom_into(&b, &mut buf).await.unwrap(),
            (3, Some(a_addr))
        );
        assert_eq!(&buf[..3], b"one");
        // A datagram longer than the buffer is truncated, and the rest is gone.
        assert_eq!(
            sock_recvfrom(&b, 2).await.unwrap(),
            (b"tw".to_vec(), Some(a_addr))
        );
        sock_sendto(&b, b"back", a_addr).await.unwrap();
        assert_eq!(
            sock_recvfrom(&a, 100).await.unwrap(),
            (b"back".to_vec(), Some(b_addr))
        );
    });
}
