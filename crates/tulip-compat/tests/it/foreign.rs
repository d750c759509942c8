//! tulip I/O and timers polled by other executors: a tokio multi-thread runtime, smol, and
//! `futures_lite::future::block_on` on a plain thread. No tulip loop runs in these tests
//! unless one says so: the reactor's fallback thread drives (handoff rule 8), and a tulip
//! runtime started meanwhile takes over.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt, future};
use tulip_http::{App, Client, ServerConfig};
use tulip_net::{TcpListener, TcpStream};
use tulip_reactor::{Reactor, sleep, timeout};

/// Long enough for a loaded CI machine; a hang fails here instead of hanging the run.
const LIMIT: Duration = Duration::from_secs(60);

/// The executors a test runs its future on, each from a fresh plain thread.
#[derive(Clone, Copy, Debug)]
enum Foreign {
    /// Spawned onto a tokio multi-thread runtime's worker.
    TokioMt,
    /// Spawned onto smol's global executor.
    Smol,
    /// `futures_lite::future::block_on` on a plain thread.
    BlockOn,
}

const ALL: [Foreign; 3] = [Foreign::TokioMt, Foreign::Smol, Foreign::BlockOn];

/// Runs `make()`'s future to completion on `on`, from a thread that runs no tulip loop; fails
/// (instead of hanging) if it does not complete within [`LIMIT`].
fn run_on<F, T>(on: Foreign, make: impl FnOnce() -> F + Send + 'static) -> T
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let out = match on {
            Foreign::TokioMt => {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                // Spawned from inside the runtime, so that it runs on a worker thread.
                rt.block_on(async { tokio::spawn(make()).await })
                    .expect("tokio task")
            }
            Foreign::Smol => smol::block_on(smol::spawn(make())),
            Foreign::BlockOn => future::block_on(make()),
        };
        let _ = tx.send(out);
    });
    rx.recv_timeout(LIMIT).unwrap_or_else(|e| {
        panic!("{on:?}: the tulip future did not complete ({e}): nothing drove the reactor")
    })
}

/// A tulip TCP echo: a listener and one client in the same future, `rounds` round trips of
/// 1 KiB and then 256 KiB one way and back (several reads and writes, each waiting).
async fn tcp_echo(rounds: usize) -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).await?;
    let addr = listener.local_addr()?;
    let server = async {
        let (mut s, _) = listener.accept().await?;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = s.read(&mut buf).await?;
            if n == 0 {
                return std::io::Result::Ok(());
            }
            s.write_all(&buf[..n]).await?;
        }
    };
    let client = async {
        let mut c = TcpStream::connect(addr).await?;
        let msg = [7u8; 1024];
        let mut back = [0u8; 1024];
        for _ in 0..rounds {
            c.write_all(&msg).await?;
            c.read_exact(&mut back).await?;
            assert_eq!(back, msg);
        }
        let big: Vec<u8> = (0..256 * 1024u32).map(|i| (i % 251) as u8).collect();
        let (mut r, mut w) = c.split();
        let send = async {
            w.write_all(&big).await?;
            w.close().await
        };
        let mut got = Vec::new();
        let recv = async {
            let mut buf = vec![0u8; 64 * 1024];
            while got.len() < big.len() {
                let n = r.read(&mut buf).await?;
                assert!(n > 0, "early end of stream");
                got.extend_from_slice(&buf[..n]);
            }
            std::io::Result::Ok(())
        };
        let (a, b) = future::zip(send, recv).await;
        a?;
        b?;
        assert!(got == big, "the echo came back different");
        std::io::Result::Ok(())
    };
    let (s, c) = future::zip(server, client).await;
    c?;
    s
}

#[test]
fn a_tulip_tcp_echo_runs_on_any_executor() {
    for on in ALL {
        run_on(on, || tcp_echo(50)).unwrap_or_else(|e| panic!("{on:?}: {e}"));
    }
}

#[test]
fn tulip_sleep_and_timeout_fire_on_any_executor() {
    for on in ALL {
        run_on(on, || async {
            let t0 = Instant::now();
            sleep(Duration::from_millis(20)).await;
            assert!(t0.elapsed() >= Duration::from_millis(20));
            let late = timeout(Duration::from_millis(20), future::pending::<()>()).await;
            assert!(late.is_err(), "the timeout did not fire");
            let early = timeout(Duration::from_secs(30), sleep(Duration::from_millis(1))).await;
            assert!(
                early.is_ok(),
                "the timeout fired before its future finished"
            );
        });
        assert!(Reactor::get().fallback_started(), "{on:?}");
    }
}

/// A tulip-http server on `listener` for one connection, served in the caller's future.
async fn serve_one(listener: TcpListener) -> Result<(), tulip_http::Error> {
    let service = App::new()
        .get("/hello", |_req: tulip_http::Request| async {
            "hello from tulip-http"
        })
        .into_service(ServerConfig::default())?;
    let (stream, peer) = listener.accept().await?;
    service.serve_connection(stream, Some(peer)).await
}

async fn http_get(addr: SocketAddr) -> Result<(u16, String), tulip_http::Error> {
    let client = Client::new();
    let res = client.get(format!("http://{addr}/hello")).send().await?;
    let status = res.status().as_u16();
    Ok((status, res.text().await?))
}

#[test]
fn the_tulip_http_client_gets_from_a_tulip_http_server_on_any_executor() {
    for on in ALL {
        let (status, body) = run_on(on, || async {
            let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).await?;
            let addr = listener.local_addr()?;
            // The server ends when the client's connection closes (the client drops it).
            let server = serve_one(listener);
            let (served, got) = future::zip(server, http_get(addr)).await;
            let got = got?;
            served?;
            Ok::<_, tulip_http::Error>(got)
        })
        .unwrap_or_else(|e| panic!("{on:?}: {e}"));
        assert_eq!(status, 200, "{on:?}");
        assert_eq!(body, "hello from tulip-http", "{on:?}");
    }
}

/// A tokio task keeps a tulip echo going while a tulip runtime starts (the fallback stands
/// down and the runtime's workers drive) and after it is dropped (the fallback drives
/// again). Each phase is a batch of round trips that must complete.
#[test]
fn a_tulip_runtime_takes_over_from_the_fallback_and_gives_it_back() {
    let (phase_tx, phase_rx) = tokio::sync::mpsc::unbounded_channel::<usize>();
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let echo = rt.spawn(async move {
            let mut phase_rx = phase_rx;
            let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).await?;
            let addr = listener.local_addr()?;
            let (accepted, client) = future::zip(listener.accept(), TcpStream::connect(addr)).await;
            let (mut server, _) = accepted?;
            let mut client = client?;
            while let Some(rounds) = phase_rx.recv().await {
                let mut buf = [0u8; 64];
                for i in 0..rounds {
                    client.write_all(&[i as u8; 64]).await?;
                    server.read_exact(&mut buf).await?;
                    server.write_all(&buf).await?;
                    client.read_exact(&mut buf).await?;
                    assert_eq!(buf, [i as u8; 64]);
                }
                done_tx.send(rounds).unwrap();
            }
            std::io::Result::Ok(())
        });
        rt.block_on(echo).expect("tokio task").expect("echo");
    });
    let phase = |rounds| {
        phase_tx.send(rounds).unwrap();
        assert_eq!(
            done_rx.recv_timeout(LIMIT).expect("the echo stalled"),
            rounds
        );
    };

    phase(100);
    assert!(Reactor::get().fallback_started());

    let rt = tulip_executor::Runtime::new().expect("tulip runtime");
    let deadline = Instant::now() + LIMIT;
    while !Reactor::get().fallback_stood_down() {
        assert!(Instant::now() < deadline, "the fallback did not stand down");
        thread::yield_now();
    }
    phase(100);
    drop(rt);
    phase(100);
}
