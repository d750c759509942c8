use std::io::Write;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt, future};
use tulip_reactor::{Async, Reactor, block_on, timeout};

fn pair() -> (Async<TcpStream>, Async<TcpStream>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (b, _) = l.accept().unwrap();
    (Async::new(a).unwrap(), Async::new(b).unwrap())
}

#[test]
fn loopback_ping_pong() {
    let (mut a, mut b) = pair();
    block_on(async {
        let mut buf = [0u8; 1];
        for i in 0..1000u32 {
            a.write_all(&[i as u8]).await.unwrap();
            b.read_exact(&mut buf).await.unwrap();
            assert_eq!(buf[0], i as u8);
            b.write_all(&buf).await.unwrap();
            a.read_exact(&mut buf).await.unwrap();
        }
    });
}

#[test]
fn connect_accept_and_large_transfer_in_both_directions() {
    let listener = Async::new(TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
    let addr = listener.get_ref().local_addr().unwrap();
    let data: Vec<u8> = (0..4 * 1024 * 1024u32)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    block_on(async {
        let client = Async::<TcpStream>::connect(addr);
        let server =
            async { Async::new(listener.read_with(|l| l.accept()).await.unwrap().0).unwrap() };
        let (client, server) = future::zip(client, server).await;
        let client = client.unwrap();
        // Write and read concurrently through shared references (split halves).
        let writer = async {
            (&client).write_all(&data).await.unwrap();
            client
                .get_ref()
                .shutdown(std::net::Shutdown::Write)
                .unwrap();
        };
        let reader = async {
            let mut got = Vec::new();
            (&server).read_to_end(&mut got).await.unwrap();
            got
        };
        let ((), got) = future::zip(writer, reader).await;
        assert!(got == data, "corrupted transfer");
    });
}

#[test]
fn connect_refused_is_an_error() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let err = block_on(Async::<TcpStream>::connect(addr)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[test]
fn readiness_from_another_thread_wakes_the_reader() {
    let (a, b) = UnixStream::pair().unwrap();
    let mut a = Async::new(a).unwrap();
    let t = std::thread::spawn(move || {
        let mut b = b;
        for i in 0..100u8 {
            // Pacing is the subject: each byte arrives after the reader went back to waiting.
            std::thread::sleep(Duration::from_micros(200));
            b.write_all(&[i]).unwrap();
        }
    });
    block_on(async {
        let mut buf = [0u8; 1];
        for i in 0..100u8 {
            a.read_exact(&mut buf).await.unwrap();
            assert_eq!(buf[0], i);
        }
    });
    t.join().unwrap();
}

#[test]
fn dropping_a_pending_read_leaves_no_waiter_and_no_lost_data() {
    let (a, mut b) = UnixStream::pair().unwrap();
    let a = Async::new(a).unwrap();
    block_on(async {
        // Sources start out optimistically ready; a read that would block clears that.
        let mut buf = [0u8; 3];
        assert!(
            timeout(Duration::from_millis(2), (&a).read(&mut buf))
                .await
                .is_err()
        );
        // Many abandoned waits...
        for _ in 0..100 {
            let mut r = Box::pin(a.readable());
            assert!(future::poll_once(&mut r).await.is_none());
        }
        let r = timeout(Duration::from_millis(5), (&a).read(&mut buf)).await;
        assert!(r.is_err(), "nothing was sent yet");
        // ...then data arrives and is read in full.
        b.write_all(b"abc").unwrap();
        (&a).read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"abc");
    });
}

#[test]
fn udp_read_with_and_write_with() {
    let a = Async::new(UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
    let b = Async::new(UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
    let b_addr = b.get_ref().local_addr().unwrap();
    block_on(async {
        for i in 0..100u8 {
            a.write_with(|s| s.send_to(&[i; 8], b_addr)).await.unwrap();
            let mut buf = [0u8; 16];
            let (n, from) = b.read_with(|s| s.recv_from(&mut buf)).await.unwrap();
            assert_eq!(n, 8);
            assert_eq!(from, a.get_ref().local_addr().unwrap());
            assert_eq!(buf[0], i);
        }
    });
}

#[test]
fn peer_close_is_eof_and_sources_are_deregistered() {
    let before = Reactor::get().registered_sources();
    {
        let (a, b) = UnixStream::pair().unwrap();
        let mut a = Async::new(a).unwrap();
        let _b2 = Async::new(b.try_clone().unwrap()).unwrap();
        drop(b);
        drop(_b2);
        let mut v = Vec::new();
        block_on(a.read_to_end(&mut v)).unwrap();
        assert!(v.is_empty());
    }
    // Other tests run concurrently in this binary; only require that ours went away.
    assert!(Reactor::get().registered_sources() <= before + 8);
}

#[test]
fn a_descriptor_the_backend_refuses_is_an_error_and_leaves_no_source() {
    // epoll refuses regular files (EPERM); a failed registration must give back the slot it
    // took (the slot is taken before the system call, outside the lock).
    let path = std::env::temp_dir().join(format!("tulip-refused-{}", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    let before = Reactor::get().registered_sources();
    for _ in 0..200 {
        let err = Async::new(file.try_clone().unwrap()).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied, "{err}");
    }
    // Other tests register and drop sources concurrently; 200 leaked slots would show.
    assert!(Reactor::get().registered_sources() < before + 50);
    drop(file);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn stress_no_lost_wakeups_between_threads() {
    // Two threads bounce a counter through a socket pair; a lost edge would hang (the
    // timeout turns a hang into a failure).
    let (a, b) = UnixStream::pair().unwrap();
    let rounds = if cfg!(debug_assertions) {
        5_000u32
    } else {
        50_000
    };
    let t = std::thread::spawn(move || {
        let mut b = Async::new(b).unwrap();
        block_on(async {
            let mut buf = [0u8; 4];
            for _ in 0..rounds {
                b.read_exact(&mut buf).await.unwrap();
                let v = u32::from_le_bytes(buf) + 1;
                b.write_all(&v.to_le_bytes()).await.unwrap();
            }
        })
    });
    let mut a = Async::new(a).unwrap();
    let res = block_on(timeout(Duration::from_secs(60), async {
        let mut v = 0u32;
        let mut buf = [0u8; 4];
        for _ in 0..rounds {
            a.write_all(&v.to_le_bytes()).await.unwrap();
            a.read_exact(&mut buf).await.unwrap();
            v = u32::from_le_bytes(buf);
        }
        v
    }));
    assert_eq!(res.unwrap(), rounds);
    t.join().unwrap();
}

#[test]
fn data_and_fin_in_one_edge_still_reach_end_of_stream() {
    // The peer writes and shuts down back to back, so one epoll edge often carries both. A
    // short read clears read readiness; only the latched hang-up bit lets the reader go on
    // to see EOF instead of waiting for an edge that never comes.
    for _ in 0..200 {
        let (a, b) = pair();
        let b = b.into_inner().unwrap();
        block_on(async {
            let mut buf = [0u8; 64];
            // Make the reader wait first (clears the optimistic readiness).
            assert!(
                timeout(Duration::from_micros(100), (&a).read(&mut buf))
                    .await
                    .is_err()
            );
            let t = std::thread::spawn(move || {
                let mut b = b;
                b.write_all(b"last words").unwrap();
                b.shutdown(std::net::Shutdown::Write).unwrap();
                b
            });
            let mut got = Vec::new();
            let r = timeout(Duration::from_secs(5), (&a).read_to_end(&mut got)).await;
            assert!(r.is_ok(), "end of stream never seen");
            assert_eq!(got, b"last words");
            drop(t.join().unwrap());
        });
    }
}

#[test]
fn udp_error_then_would_block_waits_instead_of_spinning() {
    // A connected UDP socket that sends to a closed port gets an ICMP error (EPOLLERR); the
    // next receive reports it once and the one after would block. That must wait, not spin.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let closed = UdpSocket::bind("127.0.0.1:0").unwrap();
        let target = closed.local_addr().unwrap();
        drop(closed);
        let s = Async::new(UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
        s.get_ref().connect(target).unwrap();
        let res = block_on(async {
            s.write_with(|s| s.send(b"anyone?")).await.unwrap();
            let mut buf = [0u8; 16];
            let first = timeout(Duration::from_secs(5), s.read_with(|s| s.recv(&mut buf))).await;
            let second =
                timeout(Duration::from_millis(50), s.read_with(|s| s.recv(&mut buf))).await;
            (first.map(|r| r.map_err(|e| e.kind())), second.is_err())
        });
        tx.send(res).unwrap();
    });
    let (first, second_timed_out) = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("spun instead of waiting");
    assert_eq!(first, Ok(Err(std::io::ErrorKind::ConnectionRefused)));
    assert!(
        second_timed_out,
        "a receive with nothing to read should time out"
    );
}

#[test]
fn async_connect_waits_for_the_handshake() {
    for _ in 0..50 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let s = block_on(Async::<TcpStream>::connect(addr)).unwrap();
        assert_eq!(s.get_ref().peer_addr().unwrap(), addr);
    }
}

#[test]
fn the_build_selects_the_backend() {
    // Linux uses epoll directly unless the `polling-backend` feature asks for `polling`;
    // every other target uses `polling`.
    let expected = if cfg!(all(target_os = "linux", not(feature = "polling-backend"))) {
        "epoll"
    } else {
        "polling"
    };
    assert_eq!(tulip_reactor::backend(), expected);
}

#[test]
fn udp_bursts_lose_no_datagram_while_edges_are_narrowed() {
    // While a socket stays readable and writable, further edges are redundant and the
    // reactor stops asking for them; the receive that finally blocks must re-arm. Bursts
    // make every one of those transitions happen many times.
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let (rounds, burst) = (300usize, 16usize);
    let t = std::thread::spawn(move || {
        let s = Async::new(server).unwrap();
        block_on(async {
            let mut buf = [0u8; 64];
            for _ in 0..rounds * burst {
                let (n, from) = s.read_with(|s| s.recv_from(&mut buf)).await.unwrap();
                s.write_with(|s| s.send_to(&buf[..n], from)).await.unwrap();
            }
        })
    });
    let c = Async::new(UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
    c.get_ref().connect(addr).unwrap();
    let res = block_on(timeout(Duration::from_secs(60), async {
        let mut buf = [0u8; 64];
        let mut got = 0usize;
        for r in 0..rounds {
            for i in 0..burst {
                let v = (r * burst + i) as u32;
                c.write_with(|s| s.send(&v.to_le_bytes())).await.unwrap();
            }
            for _ in 0..burst {
                let n = c.read_with(|s| s.recv(&mut buf)).await.unwrap();
                assert_eq!(n, 4);
                got += 1;
            }
        }
        got
    }));
    assert_eq!(res.expect("a datagram was never reported"), rounds * burst);
    t.join().unwrap();
}

#[test]
fn chunked_writes_then_close_reach_the_reader_whole() {
    // The peer writes each round in two chunks (the second edge arrives while the first is
    // unread, so it is redundant), waits for the reader, and closes at the end: no byte and
    // no end of stream may be lost when the reader re-arms after its short read.
    let (a, b) = pair();
    let mut b = b.into_inner().unwrap();
    b.set_nonblocking(false).unwrap();
    let rounds = 300usize;
    let (ack_tx, ack_rx) = std::sync::mpsc::channel::<()>();
    let writer = std::thread::spawn(move || {
        for r in 0..rounds {
            let len = 1 + r % 700;
            b.write_all(&vec![r as u8; len]).unwrap();
            b.write_all(&vec![r as u8; len]).unwrap();
            if ack_rx.recv_timeout(Duration::from_secs(20)).is_err() {
                return;
            }
        }
        b.write_all(b"tail").unwrap();
    });
    let res = block_on(timeout(Duration::from_secs(60), async {
        let mut buf = vec![0u8; 4096];
        for r in 0..rounds {
            let want = 2 * (1 + r % 700);
            let mut have = 0;
            while have < want {
                // The whole buffer: reads are short, and the writer waits for our ack.
                let n = (&a).read(&mut buf).await.unwrap();
                assert!(
                    n > 0 && have + n <= want,
                    "round {r}: read {n} after {have}"
                );
                assert!(buf[..n].iter().all(|&x| x == r as u8));
                have += n;
            }
            ack_tx.send(()).unwrap();
        }
        let mut tail = Vec::new();
        (&a).read_to_end(&mut tail).await.unwrap();
        tail
    }));
    assert_eq!(res.expect("data or end of stream lost"), b"tail");
    writer.join().unwrap();
}
