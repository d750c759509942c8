//! tulip-http's client (bound to TCP) through a loopback proxy that forwards the server's
//! bytes in fault-sized pieces and, in some cases, cuts the connection part way through.

use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use tulip_executor::{spawn, wait_for};
use tulip_faults::{Faults, FaultyIo, HANG, payload, seeds};
use tulip_http::{App, Client, Request, Server};
use tulip_reactor::Async;

/// Copies `from` to `to` until end of stream or an error, then shuts `to` down.
async fn pipe<R: futures_lite::AsyncRead + Unpin, W: futures_lite::AsyncWrite + Unpin>(
    mut from: R,
    mut to: W,
) {
    let mut buf = vec![0; 16 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let _ = to.close().await;
}

/// A proxy in front of `upstream`: each accepted connection gets its own seed (`base + n`) and
/// the server-to-client direction goes through `FaultyIo` with `make(seed)`.
fn proxy(
    upstream: std::net::SocketAddr,
    base: u64,
    make: fn(u64) -> Faults,
) -> std::net::SocketAddr {
    let listener = Async::new(TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
    let addr = listener.get_ref().local_addr().unwrap();
    spawn(async move {
        let mut n = 0;
        while let Ok((down, _)) = listener.read_with(|l| l.accept()).await {
            let down = Async::new(down).unwrap();
            let up = Async::new(TcpStream::connect(upstream).unwrap()).unwrap();
            let faults = make(base + n);
            n += 1;
            spawn(async move {
                let down = std::sync::Arc::new(down);
                let up = std::sync::Arc::new(up);
                let to_server = pipe(ArcIo(down.clone()), ArcIo(up.clone()));
                let to_client = pipe(FaultyIo::new(ArcIo(up), faults), ArcIo(down));
                futures_lite::future::zip(to_server, to_client).await;
            })
            .detach();
        }
    })
    .detach();
    addr
}

/// Shares one socket between the two copy directions.
struct ArcIo(std::sync::Arc<Async<TcpStream>>);

impl futures_lite::AsyncRead for ArcIo {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut &*self.0).poll_read(cx, buf)
    }
}

impl futures_lite::AsyncWrite for ArcIo {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut &*self.0).poll_write(cx, buf)
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut &*self.0).poll_flush(cx)
    }
    fn poll_close(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let _ = self.0.get_ref().shutdown(std::net::Shutdown::Write);
        std::task::Poll::Ready(Ok(()))
    }
}

fn body_for(n: usize) -> Vec<u8> {
    payload(n as u64, (n * 7919) % 150_000)
}

fn app() -> App {
    App::new()
        .get("/body/{n}", |req: Request| async move {
            let n: usize = req
                .match_info("n")
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            body_for(n)
        })
        .post("/echo", |mut req: Request| async move { req.bytes().await })
}

/// Runs `count` GETs and POSTs through a proxy built with `make`; returns how many failed.
fn run(make: fn(u64) -> Faults, count: usize) -> usize {
    tulip_executor::run(async move {
        let server = Server::bind("127.0.0.1:0", app()).unwrap();
        let upstream = server.local_addr();
        let stop = server.shutdown_handle();
        let running = spawn(server.run());
        let mut failures = 0;
        for round in seeds() {
            let addr = proxy(upstream, round * 1000, make);
            let client = Client::builder()
                .read_timeout(Some(Duration::from_secs(5)))
                .build();
            for n in 0..count {
                let body = body_for(n);
                let work = async {
                    if n % 2 == 0 {
                        let res = client.get(format!("http://{addr}/body/{n}")).send().await?;
                        res.bytes().await
                    } else {
                        let res = client
                            .post(format!("http://{addr}/echo"))
                            .body(body.clone())
                            .send()
                            .await?;
                        res.bytes().await
                    }
                };
                match wait_for(work, HANG).await {
                    Err(_) => panic!("round {round} request {n}: client hung"),
                    // A response that arrives must be exactly the right bytes.
                    Ok(Ok(got)) => assert_eq!(got.as_ref(), &body[..], "round {round} request {n}"),
                    Ok(Err(e)) => {
                        assert!(
                            !e.is_parse(),
                            "round {round} request {n}: a cut is not a parse error: {e:?}"
                        );
                        failures += 1;
                    }
                }
            }
        }
        stop.shutdown();
        running.await.unwrap().unwrap();
        failures
    })
}

#[test]
fn client_reassembles_responses_from_short_pieces() {
    assert_eq!(run(Faults::benign, 6), 0);
}

#[test]
fn client_reports_cut_connections_as_errors_not_garbage() {
    // Cuts fall inside heads, bodies and between keep-alive responses.
    let failures = run(
        |seed| Faults::benign(seed).reset_reads_after(seed * 6007 % 120_000),
        6,
    );
    assert!(failures > 0, "no cut ever surfaced");
}
