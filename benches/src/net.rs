//! Networking benchmarks: tulip-net's streams and transports/protocols beside tokio and smol,
//! on loopback, in two shapes that are never compared with each other: a 2-worker runtime
//! (tulip's, tokio's multi-thread, smol's) and one thread (the `/1t` rows: a tulip
//! `LocalExecutor` beside tokio's current-thread runtime, running the same program).
//!
//! - `net/tcp_echo_64x1k/{streams,protocol}`: 64 connections, each sending 1 KiB and waiting
//!   for its echo, round after round (msgs/s). The server is tulip's `start_server` with a
//!   `StreamReader`/`StreamWriter` handler, or `create_server` with an echo `Protocol`; the
//!   peers run their idiomatic echo server (read, `write_all`). Clients are plain sockets.
//! - `net/tcp_bulk/{streams,protocol}`: one connection sends a block of data in 64 KiB writes;
//!   the server counts it and acknowledges end of stream with one byte (GB/s).
//! - `net/udp_echo`: 4 clients ping-pong 64-byte datagrams with an echo endpoint (tulip's
//!   `DatagramProtocol`; peers' `recv_from`/`send_to` loop).
//! - `net/{tcp_echo_64x1k,tcp_bulk,udp_echo}/1t`: the three above with the client, the server
//!   and the reactor on one thread. Bulk transfer on one thread is a different program from
//!   bulk transfer on two cores (the writer fills the socket buffer, then the reader drains it,
//!   and the data stays in that core's cache), so a 2-worker tulip beside a current-thread
//!   tokio measured the topology, not the runtime; these rows compare like with like.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::harness::{Bench, Config, Sample};
use crate::runtimes::{tokio_mt, tulip_rt};

const CONNS: usize = 64;
const MSG: usize = 1024;
const CHUNK: usize = 64 * 1024;
const UDP_CLIENTS: usize = 4;
const DGRAM: usize = 64;

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn tokio_ct() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn rate(time: Duration, count: f64, name: &'static str) -> Sample {
    Sample {
        time,
        metrics: vec![(name, count / time.as_secs_f64())],
    }
}

pub(crate) fn benches(cfg: &Config) -> Vec<Bench> {
    let rounds = cfg.size(100, 1000);
    let bulk = cfg.size(64, 512) * 1024 * 1024;
    let udp_rounds = cfg.size(1000, 10_000);
    let msgs = (CONNS * rounds) as f64;
    let gb = bulk as f64 / 1e9;
    let dgrams = (UDP_CLIENTS * udp_rounds) as f64;
    let echo_unit = format!("{CONNS} conns x {rounds} x 1 KiB round trips");
    let bulk_unit = format!("{} MiB over one connection", bulk >> 20);
    vec![
        Bench::new("net/tcp_echo_64x1k/streams", echo_unit.clone())
            .with("tulip", move || {
                rate(tulip::echo(rounds, false), msgs, "msgs_per_s")
            })
            .with("tokio-mt", move || {
                rate(
                    tokio_mt().block_on(tokio_impl::echo(rounds)),
                    msgs,
                    "msgs_per_s",
                )
            })
            .with("smol", move || {
                rate(smol::block_on(smol_impl::echo(rounds)), msgs, "msgs_per_s")
            }),
        Bench::new("net/tcp_echo_64x1k/protocol", echo_unit)
            .with("tulip", move || {
                rate(tulip::echo(rounds, true), msgs, "msgs_per_s")
            })
            .with("tokio-mt", move || {
                rate(
                    tokio_mt().block_on(tokio_impl::echo(rounds)),
                    msgs,
                    "msgs_per_s",
                )
            })
            .with("smol", move || {
                rate(smol::block_on(smol_impl::echo(rounds)), msgs, "msgs_per_s")
            }),
        Bench::new("net/tcp_bulk/streams", bulk_unit.clone())
            .with("tulip", move || {
                rate(tulip::bulk(bulk, false), gb, "GB_per_s")
            })
            .with("tokio-mt", move || {
                rate(tokio_mt().block_on(tokio_impl::bulk(bulk)), gb, "GB_per_s")
            })
            .with("smol", move || {
                rate(smol::block_on(smol_impl::bulk(bulk)), gb, "GB_per_s")
            }),
        Bench::new("net/tcp_bulk/protocol", bulk_unit)
            .with("tulip", move || {
                rate(tulip::bulk(bulk, true), gb, "GB_per_s")
            })
            .with("tokio-mt", move || {
                rate(tokio_mt().block_on(tokio_impl::bulk(bulk)), gb, "GB_per_s")
            })
            .with("smol", move || {
                rate(smol::block_on(smol_impl::bulk(bulk)), gb, "GB_per_s")
            }),
        Bench::new(
            "net/udp_echo",
            format!("{UDP_CLIENTS} clients x {udp_rounds} x 64 B round trips"),
        )
        .with("tulip", move || {
            rate(tulip::udp(udp_rounds), dgrams, "dgrams_per_s")
        })
        .with("tokio-mt", move || {
            rate(
                tokio_mt().block_on(tokio_impl::udp(udp_rounds)),
                dgrams,
                "dgrams_per_s",
            )
        })
        .with("smol", move || {
            rate(
                smol::block_on(smol_impl::udp(udp_rounds)),
                dgrams,
                "dgrams_per_s",
            )
        }),
    ]
}

/// The `/1t` rows. `main` runs them before any group that starts a tulip runtime: the
/// reactor is per process, and an idle runtime's workers would wait in it and take every
/// event of this thread's sockets (one `epoll_wait` and one cross-thread wake per event).
pub(crate) fn one_thread_benches(cfg: &Config) -> Vec<Bench> {
    let rounds = cfg.size(100, 1000);
    let bulk = cfg.size(64, 512) * 1024 * 1024;
    let udp_rounds = cfg.size(1000, 10_000);
    let msgs = (CONNS * rounds) as f64;
    let gb = bulk as f64 / 1e9;
    let dgrams = (UDP_CLIENTS * udp_rounds) as f64;
    let one = ", one thread: the client, the server and the reactor";
    let echo_unit_1t = format!("{CONNS} conns x {rounds} x 1 KiB round trips{one}");
    let bulk_unit_1t = format!("{} MiB over one connection{one}", bulk >> 20);
    let udp_unit_1t = format!("{UDP_CLIENTS} clients x {udp_rounds} x 64 B round trips{one}");
    vec![
        Bench::new("net/tcp_echo_64x1k/1t", echo_unit_1t)
            .with("tulip", move || {
                rate(tulip_1t::run(tulip_1t::echo(rounds)), msgs, "msgs_per_s")
            })
            .with("tokio-ct", move || {
                rate(
                    tokio_ct().block_on(tokio_impl::echo(rounds)),
                    msgs,
                    "msgs_per_s",
                )
            }),
        Bench::new("net/tcp_bulk/1t", bulk_unit_1t)
            .with("tulip", move || {
                rate(tulip_1t::run(tulip_1t::bulk(bulk)), gb, "GB_per_s")
            })
            .with("tokio-ct", move || {
                rate(tokio_ct().block_on(tokio_impl::bulk(bulk)), gb, "GB_per_s")
            }),
        Bench::new("net/udp_echo/1t", udp_unit_1t)
            .with("tulip", move || {
                rate(
                    tulip_1t::run(tulip_1t::udp(udp_rounds)),
                    dgrams,
                    "dgrams_per_s",
                )
            })
            .with("tokio-ct", move || {
                rate(
                    tokio_ct().block_on(tokio_impl::udp(udp_rounds)),
                    dgrams,
                    "dgrams_per_s",
                )
            }),
    ]
}

mod tulip {
    use super::*;
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    use std::net::SocketAddr;
    use tulip_net::{DatagramProtocol, DatagramTransport, Protocol, Server, TcpStream, Transport};

    struct Echo(Option<Transport>);

    impl Protocol for Echo {
        fn connection_made(&mut self, t: Transport) {
            self.0 = Some(t);
        }
        fn data_received(&mut self, data: &[u8]) {
            if let Some(t) = &self.0 {
                t.write(data);
            }
        }
    }

    fn echo_server(protocol: bool) -> Server {
        if protocol {
            tulip_net::create_server(|| Echo(None), loopback()).unwrap()
        } else {
            tulip_net::start_server(
                |mut r, mut w| async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let n = match AsyncReadExt::read(&mut r, &mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        w.write(&buf[..n]);
                        if w.drain().await.is_err() {
                            break;
                        }
                    }
                },
                loopback(),
            )
            .unwrap()
        }
    }

    pub(super) fn echo(rounds: usize, protocol: bool) -> Duration {
        tulip_rt().block_on(async move {
            let server = echo_server(protocol);
            let addr = server.local_addr().unwrap();
            let start = Instant::now();
            let clients: Vec<_> = (0..CONNS)
                .map(|_| tulip_executor::spawn(super::tulip_1t::echo_client(addr, rounds)))
                .collect();
            for c in clients {
                c.await.unwrap();
            }
            let t = start.elapsed();
            server.close();
            t
        })
    }

    struct Sink(Option<Transport>);

    impl Protocol for Sink {
        fn connection_made(&mut self, t: Transport) {
            self.0 = Some(t);
        }
        fn data_received(&mut self, _data: &[u8]) {}
        fn eof_received(&mut self) -> bool {
            self.0.as_ref().unwrap().write(b"k");
            false
        }
    }

    pub(super) fn bulk(total: usize, protocol: bool) -> Duration {
        tulip_rt().block_on(async move {
            let server = if protocol {
                tulip_net::create_server(|| Sink(None), loopback()).unwrap()
            } else {
                tulip_net::start_server(
                    |mut r, mut w| async move {
                        let mut buf = vec![0u8; CHUNK];
                        while let Ok(n) = AsyncReadExt::read(&mut r, &mut buf).await {
                            if n == 0 {
                                break;
                            }
                        }
                        w.write(b"k");
                        let _ = w.wait_closed().await;
                    },
                    loopback(),
                )
                .unwrap()
            };
            let addr = server.local_addr().unwrap();
            let start = Instant::now();
            let mut s = TcpStream::connect(addr).await.unwrap();
            let chunk = vec![1u8; CHUNK];
            let mut sent = 0;
            while sent < total {
                s.write_all(&chunk).await.unwrap();
                sent += CHUNK;
            }
            s.close().await.unwrap();
            let mut ack = [0u8; 1];
            s.read_exact(&mut ack).await.unwrap();
            let t = start.elapsed();
            server.close();
            t
        })
    }

    struct UdpEcho(Option<DatagramTransport>);

    impl DatagramProtocol for UdpEcho {
        fn connection_made(&mut self, t: DatagramTransport) {
            self.0 = Some(t);
        }
        fn datagram_received(&mut self, data: &[u8], from: SocketAddr) {
            self.0.as_ref().unwrap().send_to(data, Some(from));
        }
    }

    pub(super) fn udp(rounds: usize) -> Duration {
        tulip_rt().block_on(async move {
            let t = tulip_net::create_datagram_endpoint(|| UdpEcho(None), Some(loopback()), None)
                .unwrap();
            let addr = t.local_addr().unwrap();
            let start = Instant::now();
            let clients: Vec<_> = (0..UDP_CLIENTS)
                .map(|_| tulip_executor::spawn(super::tulip_1t::udp_client(addr, rounds)))
                .collect();
            for c in clients {
                c.await.unwrap();
            }
            let el = start.elapsed();
            t.close();
            el
        })
    }
}

/// The same programs as `tokio_impl`, step for step, on a tulip `LocalExecutor`: the
/// like-for-like peer of tokio's current-thread runtime (one thread runs the client, the
/// server and the reactor, so no wake-up crosses a core). Its echo connection and client
/// are also `compat.rs`'s tulip-native echo.
pub(crate) mod tulip_1t {
    use super::*;
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    use tulip_executor::spawn_local;
    use tulip_net::{TcpListener, TcpStream, UdpSocket};

    pub(super) fn run<F: std::future::Future>(f: F) -> F::Output {
        tulip_executor::LocalExecutor::new().block_on(f)
    }

    /// The echo server's side of one connection: read up to 16 KiB, write it back.
    pub(crate) async fn serve_echo(mut s: TcpStream) {
        s.set_nodelay(true).unwrap();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if s.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    }

    /// One UDP echo client: `rounds` times, send 64 bytes and wait for the echo.
    pub(crate) async fn udp_client(addr: SocketAddr, rounds: usize) {
        let s = UdpSocket::bind(loopback()).unwrap();
        s.connect(addr).unwrap();
        let msg = [3u8; DGRAM];
        let mut buf = [0u8; 2048];
        for _ in 0..rounds {
            s.send(&msg).await.unwrap();
            s.recv(&mut buf).await.unwrap();
        }
    }

    /// One echo client: `rounds` times, send 1 KiB and wait for it to come back.
    pub(crate) async fn echo_client(addr: SocketAddr, rounds: usize) {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.set_nodelay(true).unwrap();
        let msg = [7u8; MSG];
        let mut buf = [0u8; MSG];
        for _ in 0..rounds {
            s.write_all(&msg).await.unwrap();
            s.read_exact(&mut buf).await.unwrap();
        }
    }

    pub(super) async fn echo(rounds: usize) -> Duration {
        let l = TcpListener::bind(loopback()).await.unwrap();
        let addr = l.local_addr().unwrap();
        let srv = spawn_local(async move {
            loop {
                let (s, _) = l.accept().await.unwrap();
                spawn_local(serve_echo(s)).detach();
            }
        });
        let start = Instant::now();
        let clients: Vec<_> = (0..CONNS)
            .map(|_| spawn_local(echo_client(addr, rounds)))
            .collect();
        for c in clients {
            c.await.unwrap();
        }
        let t = start.elapsed();
        srv.cancel().await;
        t
    }

    pub(super) async fn bulk(total: usize) -> Duration {
        let l = TcpListener::bind(loopback()).await.unwrap();
        let addr = l.local_addr().unwrap();
        let srv = spawn_local(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = vec![0u8; CHUNK];
            while let Ok(n) = s.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
            s.write_all(b"k").await.unwrap();
        });
        let start = Instant::now();
        let mut s = TcpStream::connect(addr).await.unwrap();
        let chunk = vec![1u8; CHUNK];
        let mut sent = 0;
        while sent < total {
            s.write_all(&chunk).await.unwrap();
            sent += CHUNK;
        }
        s.close().await.unwrap();
        let mut ack = [0u8; 1];
        s.read_exact(&mut ack).await.unwrap();
        let t = start.elapsed();
        srv.await.unwrap();
        t
    }

    pub(super) async fn udp(rounds: usize) -> Duration {
        let server = UdpSocket::bind(loopback()).unwrap();
        let addr = server.local_addr().unwrap();
        let srv = spawn_local(async move {
            let mut buf = [0u8; 2048];
            loop {
                let (n, from) = server.recv_from(&mut buf).await.unwrap();
                server.send_to(&buf[..n], from).await.unwrap();
            }
        });
        let start = Instant::now();
        let clients: Vec<_> = (0..UDP_CLIENTS)
            .map(|_| spawn_local(udp_client(addr, rounds)))
            .collect();
        for c in clients {
            c.await.unwrap();
        }
        let t = start.elapsed();
        srv.cancel().await;
        t
    }
}

mod tokio_impl {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream, UdpSocket};

    pub(super) async fn echo(rounds: usize) -> Duration {
        let l = TcpListener::bind(loopback()).await.unwrap();
        let addr = l.local_addr().unwrap();
        let srv = tokio::spawn(async move {
            loop {
                let (mut s, _) = l.accept().await.unwrap();
                s.set_nodelay(true).unwrap();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let n = match s.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let start = Instant::now();
        let clients: Vec<_> = (0..CONNS)
            .map(|_| {
                tokio::spawn(async move {
                    let mut s = TcpStream::connect(addr).await.unwrap();
                    s.set_nodelay(true).unwrap();
                    let msg = [7u8; MSG];
                    let mut buf = [0u8; MSG];
                    for _ in 0..rounds {
                        s.write_all(&msg).await.unwrap();
                        s.read_exact(&mut buf).await.unwrap();
                    }
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
        let t = start.elapsed();
        srv.abort();
        t
    }

    pub(super) async fn bulk(total: usize) -> Duration {
        let l = TcpListener::bind(loopback()).await.unwrap();
        let addr = l.local_addr().unwrap();
        let srv = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = vec![0u8; CHUNK];
            while let Ok(n) = s.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
            s.write_all(b"k").await.unwrap();
        });
        let start = Instant::now();
        let mut s = TcpStream::connect(addr).await.unwrap();
        let chunk = vec![1u8; CHUNK];
        let mut sent = 0;
        while sent < total {
            s.write_all(&chunk).await.unwrap();
            sent += CHUNK;
        }
        s.shutdown().await.unwrap();
        let mut ack = [0u8; 1];
        s.read_exact(&mut ack).await.unwrap();
        let t = start.elapsed();
        srv.await.unwrap();
        t
    }

    pub(super) async fn udp(rounds: usize) -> Duration {
        let server = UdpSocket::bind(loopback()).await.unwrap();
        let addr = server.local_addr().unwrap();
        let srv = tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            loop {
                let (n, from) = server.recv_from(&mut buf).await.unwrap();
                server.send_to(&buf[..n], from).await.unwrap();
            }
        });
        let start = Instant::now();
        let clients: Vec<_> = (0..UDP_CLIENTS)
            .map(|_| {
                tokio::spawn(async move {
                    let s = UdpSocket::bind(loopback()).await.unwrap();
                    s.connect(addr).await.unwrap();
                    let msg = [3u8; DGRAM];
                    let mut buf = [0u8; 2048];
                    for _ in 0..rounds {
                        s.send(&msg).await.unwrap();
                        s.recv(&mut buf).await.unwrap();
                    }
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
        let t = start.elapsed();
        srv.abort();
        t
    }
}

mod smol_impl {
    use super::*;
    use smol::io::{AsyncReadExt, AsyncWriteExt};
    use smol::net::{TcpListener, TcpStream, UdpSocket};

    pub(super) async fn echo(rounds: usize) -> Duration {
        let l = TcpListener::bind(loopback()).await.unwrap();
        let addr = l.local_addr().unwrap();
        let srv = smol::spawn(async move {
            loop {
                let (mut s, _) = l.accept().await.unwrap();
                s.set_nodelay(true).unwrap();
                smol::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let n = match s.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                })
                .detach();
            }
        });
        let start = Instant::now();
        let clients: Vec<_> = (0..CONNS)
            .map(|_| {
                smol::spawn(async move {
                    let mut s = TcpStream::connect(addr).await.unwrap();
                    s.set_nodelay(true).unwrap();
                    let msg = [7u8; MSG];
                    let mut buf = [0u8; MSG];
                    for _ in 0..rounds {
                        s.write_all(&msg).await.unwrap();
                        s.read_exact(&mut buf).await.unwrap();
                    }
                })
            })
            .collect();
        for c in clients {
            c.await;
        }
        let t = start.elapsed();
        drop(srv);
        t
    }

    pub(super) async fn bulk(total: usize) -> Duration {
        let l = TcpListener::bind(loopback()).await.unwrap();
        let addr = l.local_addr().unwrap();
        let srv = smol::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = vec![0u8; CHUNK];
            while let Ok(n) = s.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
            s.write_all(b"k").await.unwrap();
        });
        let start = Instant::now();
        let mut s = TcpStream::connect(addr).await.unwrap();
        let chunk = vec![1u8; CHUNK];
        let mut sent = 0;
        while sent < total {
            s.write_all(&chunk).await.unwrap();
            sent += CHUNK;
        }
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut ack = [0u8; 1];
        s.read_exact(&mut ack).await.unwrap();
        let t = start.elapsed();
        srv.await;
        t
    }

    pub(super) async fn udp(rounds: usize) -> Duration {
        let server = UdpSocket::bind(loopback()).await.unwrap();
        let addr = server.local_addr().unwrap();
        let srv = smol::spawn(async move {
            let mut buf = [0u8; 2048];
            loop {
                let (n, from) = server.recv_from(&mut buf).await.unwrap();
                server.send_to(&buf[..n], from).await.unwrap();
            }
        });
        let start = Instant::now();
        let clients: Vec<_> = (0..UDP_CLIENTS)
            .map(|_| {
                smol::spawn(async move {
                    let s = UdpSocket::bind(loopback()).await.unwrap();
                    s.connect(addr).await.unwrap();
                    let msg = [3u8; DGRAM];
                    let mut buf = [0u8; 2048];
                    for _ in 0..rounds {
                        s.send(&msg).await.unwrap();
                        s.recv(&mut buf).await.unwrap();
                    }
                })
            })
            .collect();
        for c in clients {
            c.await;
        }
        let t = start.elapsed();
        drop(srv);
        t
    }
}
