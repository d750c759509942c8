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

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

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
        .collect()
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
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    use tulip_net::{TcpListener, TcpStream};
    tulip_rt().block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tulip_executor::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                s.set_nodelay(true).unwrap();
                tulip_executor::spawn(async move {
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
        let clients: Vec<_> = (0..conns)
            .map(|_| {
                tulip_executor::spawn(async move {
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
        server.cancel().await;
        t
    })
}
