//! tulip-http's server (`Service::serve_connection`) on a faulty transport, fed keep-alive
//! requests with Content-Length and chunked bodies by a plain client.

use std::net::TcpStream;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use tulip_executor::{spawn, wait_for};
use tulip_faults::{Faults, FaultyIo, HANG, payload, seeds};
use tulip_http::{App, Request, ServerConfig, Service};
use tulip_reactor::Async;

/// A connected loopback TCP pair, registered with the reactor.
fn tcp_pair() -> (Async<TcpStream>, Async<TcpStream>) {
    let (client, server) = tulip_test_support::loopback::tcp_pair();
    (Async::new(client).unwrap(), Async::new(server).unwrap())
}

const REQUESTS: usize = 12;

fn service() -> Service {
    App::new()
        .post("/echo", |mut req: Request| async move { req.bytes().await })
        .into_service(ServerConfig::default())
        .unwrap()
}

/// The requests the client sends, alternating Content-Length and chunked bodies, and the
/// bodies the server must echo.
fn requests(seed: u64) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut wire = Vec::new();
    let mut bodies = Vec::new();
    for i in 0..REQUESTS {
        let body = payload(
            seed * 100 + i as u64,
            1 + (i * 997 + seed as usize * 31) % 20_000,
        );
        if i % 2 == 0 {
            wire.extend_from_slice(
                format!(
                    "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            );
            wire.extend_from_slice(&body);
        } else {
            wire.extend_from_slice(
                b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
            );
            for piece in body.chunks(4096) {
                wire.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                wire.extend_from_slice(piece);
                wire.extend_from_slice(b"\r\n");
            }
            wire.extend_from_slice(b"0\r\n\r\n");
        }
        bodies.push(body);
    }
    (wire, bodies)
}

/// Splits a byte stream of responses with Content-Length into the bodies of the 200s; the
/// last one may be cut off, and is then left out.
fn response_bodies(mut wire: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(end) = wire.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = std::str::from_utf8(&wire[..end])
            .unwrap()
            .to_ascii_lowercase();
        if !head.starts_with("http/1.1 200") {
            // A handler whose body read failed answers with an error status (here 500 from
            // `impl IntoResponse for Error`); that must be the last response on the wire.
            assert!(
                head.starts_with("http/1.1 5") || head.starts_with("http/1.1 4"),
                "{head:?}"
            );
            let rest = &wire[end + 4..];
            assert!(
                !rest.windows(5).any(|w| w == b"HTTP/"),
                "a response after an error response"
            );
            break;
        }
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse().unwrap())
            .expect("the echo always has a Content-Length");
        let body = &wire[end + 4..];
        if body.len() < len {
            break;
        }
        out.push(body[..len].to_vec());
        wire = &body[len..];
    }
    out
}

/// Serves one connection through `faults`; returns the server's result and the bytes the
/// client received before the connection ended.
fn exchange(seed: u64, faults: Faults) -> (Result<(), tulip_http::Error>, Vec<u8>) {
    let (wire, _) = requests(seed);
    tulip_executor::run(async move {
        let (client, server) = tcp_pair();
        let svc = service();
        let serving = spawn(svc.serve_connection(FaultyIo::new(server, faults), None));
        // Write and read at once, so neither side can fill the other's socket buffer and stall.
        let send = async {
            // Writes may fail once the server gave up on the connection: that is allowed.
            let _ = (&client).write_all(&wire).await;
            let _ = client.get_ref().shutdown(std::net::Shutdown::Write);
        };
        let receive = async {
            let mut got = Vec::new();
            let _ = (&client).read_to_end(&mut got).await;
            got
        };
        let talk = async { futures_lite::future::zip(send, receive).await.1 };
        let got = wait_for(talk, HANG)
            .await
            .unwrap_or_else(|_| panic!("seed {seed}: client hung"));
        let served = wait_for(serving, HANG)
            .await
            .unwrap_or_else(|_| panic!("seed {seed}: server hung"));
        (served.unwrap(), got)
    })
}

#[test]
fn keep_alive_echo_through_short_io_and_spurious_wakeups() {
    for seed in seeds() {
        let (_, bodies) = requests(seed);
        let (served, got) = exchange(seed, Faults::benign(seed));
        assert!(served.is_ok(), "seed {seed}: {served:?}");
        assert_eq!(
            response_bodies(&got),
            bodies,
            "seed {seed}: bytes lost or duplicated"
        );
    }
}

#[test]
fn eintr_never_corrupts_a_response() {
    for seed in seeds() {
        let (_, bodies) = requests(seed);
        let (_served, got) = exchange(seed, Faults::with_interrupts(seed));
        // The server may retry EINTR or give up on the connection; whatever it did send must
        // be whole responses to the requests in order.
        let echoed = response_bodies(&got);
        assert_eq!(echoed, bodies[..echoed.len()], "seed {seed}");
    }
}

#[test]
fn resets_end_the_connection_cleanly() {
    for seed in seeds() {
        let (wire, bodies) = requests(seed);
        let reads = Faults::benign(seed).reset_reads_after(seed * 7919 % wire.len() as u64);
        let writes = Faults::benign(seed).reset_writes_after(seed * 104_729 % 200_000);
        for faults in [reads, writes] {
            let (served, got) = exchange(seed, faults.clone());
            let echoed = response_bodies(&got);
            assert_eq!(echoed, bodies[..echoed.len()], "seed {seed} {faults:?}");
            if let Err(e) = &served {
                // The reset surfaces as an I/O error, not a parse error or a panic.
                assert!(!e.is_parse(), "seed {seed}: {e:?}");
            }
        }
    }
}
