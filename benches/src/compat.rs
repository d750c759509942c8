//! tokio-bound code driven inside tulip through tulip-compat, beside the same code on tokio.
//!
//! - `compat/tokio_echo_1x1k`: one tokio `TcpStream` sending 1 KiB and waiting for its echo,
//!   round after round (latency of a tokio-based driver's request/response).
//! - `compat/tokio_echo_64x1k`: 64 such connections at once (throughput).
//!
//! The echo server is tokio code too: in `tulip+compat` it is spawned with `tokio::spawn`
//! inside the compat context, so it runs on the shared runtime's thread, and each client is a
//! tulip task wrapped in `.compat()`, its socket watched by that thread; in `tokio-ct` and
//! `tokio-mt` the same server and clients are tokio tasks. `tulip-native` is the same echo on
//! tulip's own sockets (what rewriting the driver on tulip would buy).
//!
//! - `compat/tulip_io_from_tokio_1x1k` and `_64x1k`: the other direction, tulip's own
//!   sockets (a tulip-net echo server and clients) polled by tokio tasks. In `tokio+fallback`
//!   no tulip loop runs in the process, so the reactor's fallback thread drives it; the
//!   column runs in a child process of this binary, because this one keeps a tulip runtime
//!   in a static once the executor group made it, and that runtime would drive instead. In
//!   `tokio+tulip-rt` that runtime is alive and idle, and its workers drive. `tulip-native`
//!   is the same echo inside the tulip runtime.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt as _, AsyncWriteExt as _};
use tulip_compat::CompatExt;

use crate::harness::{Bench, Config, Sample};
use crate::runtimes::{tokio_mt, tulip_rt};

const MSG: usize = 1024;

fn tokio_ct() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn rate(time: Duration, count: f64) -> Sample {
    Sample {
        time,
        metrics: vec![("round_trips_per_s", count / time.as_secs_f64())],
    }
}

pub(crate) fn benches(cfg: &Config) -> Vec<Bench> {
    let solo_rounds = cfg.size(2000, 20_000);
    let many_rounds = cfg.size(100, 1000);
    [(1, solo_rounds), (64, many_rounds)]
        .into_iter()
        .map(|(conns, rounds)| {
            let total = (conns * rounds) as f64;
            Bench::new(
                format!("compat/tokio_echo_{conns}x1k"),
                format!("{conns} conns x {rounds} x 1 KiB round trips"),
            )
            .with("tulip+compat", move || {
                rate(compat_echo(conns, rounds), total)
            })
            .with("tokio-ct", move || {
                rate(tokio_ct().block_on(tokio_echo(conns, rounds)), total)
            })
            .with("tokio-mt", move || {
                rate(tokio_mt().block_on(tokio_echo(conns, rounds)), total)
            })
            .with("tulip-native", move || {
                rate(native_echo(conns, rounds), total)
            })
        })
        .chain(
            [(1, solo_rounds), (64, many_rounds)]
                .into_iter()
                .map(|(conns, rounds)| {
                    let total = (conns * rounds) as f64;
                    Bench::new(
                        format!("compat/tulip_io_from_tokio_{conns}x1k"),
                        format!("{conns} conns x {rounds} x 1 KiB round trips on tulip sockets"),
                    )
                    .with("tokio+fallback", move || {
                        rate(fallback_echo_in_child(conns, rounds), total)
                    })
                    .with("tokio+tulip-rt", move || {
                        // The runtime exists (idle): its workers drive the reactor.
                        let _ = tulip_rt();
                        rate(tokio_mt().block_on(tulip_echo(conns, rounds)), total)
                    })
                    .with("tulip-native", move || {
                        rate(native_echo(conns, rounds), total)
                    })
                }),
        )
        .collect()
}

/// The environment variable that makes this binary a child measuring
/// `compat/tulip_io_from_tokio` through the fallback driver (`conns,rounds`).
pub(crate) const FALLBACK_CHILD: &str = "TULIP_BENCH_FALLBACK_CHILD";

/// The child's side: runs the echo on a fresh tokio runtime, with no tulip loop anywhere in
/// the process, and prints the elapsed nanoseconds.
pub(crate) fn fallback_child(spec: &str) {
    let (conns, rounds) = spec
        .split_once(',')
        .and_then(|(c, r)| Some((c.parse().ok()?, r.parse().ok()?)))
        .expect("TULIP_BENCH_FALLBACK_CHILD=conns,rounds");
    let t = tokio_mt().block_on(tulip_echo(conns, rounds));
    assert!(
        tulip_reactor::Reactor::get().fallback_started(),
        "the fallback driver did not run"
    );
    println!("{}", t.as_nanos());
}

fn fallback_echo_in_child(conns: usize, rounds: usize) -> Duration {
    let exe = std::env::current_exe().expect("the bench binary's path");
    let out = std::process::Command::new(exe)
        .env(FALLBACK_CHILD, format!("{conns},{rounds}"))
        .output()
        .expect("run the fallback child");
    assert!(
        out.status.success(),
        "fallback child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let nanos: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("the child prints nanoseconds");
    Duration::from_nanos(nanos)
}

/// The tulip-net echo of [`native_echo`] with every task a tokio task (to be run inside a
/// tokio runtime): tulip sockets, tokio's scheduler.
async fn tulip_echo(conns: usize, rounds: usize) -> Duration {
    use tulip_net::{TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
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
    let clients: Vec<_> = (0..conns)
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
    server.abort();
    t
}

/// A tokio echo server (must run inside a tokio context); returns its address and task.
async fn tokio_server() -> io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
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
    Ok((addr, task))
}

/// One tokio client: `rounds` round trips of 1 KiB.
async fn tokio_client(addr: SocketAddr, rounds: usize) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let msg = [7u8; MSG];
    let mut buf = [0u8; MSG];
    for _ in 0..rounds {
        s.write_all(&msg).await?;
        s.read_exact(&mut buf).await?;
    }
    Ok(())
}

fn compat_echo(conns: usize, rounds: usize) -> Duration {
    tulip_rt().block_on(async move {
        let (addr, server) = tokio_server().compat().await.unwrap();
        let start = Instant::now();
        let clients: Vec<_> = (0..conns)
            .map(|_| tulip_executor::spawn(tokio_client(addr, rounds).compat()))
            .collect();
        for c in clients {
            c.await.unwrap().unwrap();
        }
        let t = start.elapsed();
        server.abort();
        t
    })
}

async fn tokio_echo(conns: usize, rounds: usize) -> Duration {
    let (addr, server) = tokio_server().await.unwrap();
    let start = Instant::now();
    let clients: Vec<_> = (0..conns)
        .map(|_| tokio::spawn(tokio_client(addr, rounds)))
        .collect();
    for c in clients {
        c.await.unwrap().unwrap();
    }
    let t = start.elapsed();
    server.abort();
    t
}

fn native_echo(conns: usize, rounds: usize) -> Duration {
    use crate::net::tulip_1t::{echo_client, serve_echo};
    use tulip_net::TcpListener;
    tulip_rt().block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tulip_executor::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                tulip_executor::spawn(serve_echo(s)).detach();
            }
        });
        let start = Instant::now();
        let clients: Vec<_> = (0..conns)
            .map(|_| tulip_executor::spawn(echo_client(addr, rounds)))
            .collect();
        for c in clients {
            c.await.unwrap();
        }
        let t = start.elapsed();
        server.cancel().await;
        t
    })
}
