//! WebSocket benchmarks: tulip-ws beside tokio-tungstenite, both on 2-worker multi-thread
//! runtimes over loopback TCP.
//!
//! - `ws/echo_10x64B`, `ws/echo_10x16KiB`: 10 connections; each client sends a binary message
//!   and waits for its echo, round after round (msgs/s). Server and clients are tasks of the
//!   same runtime; the timing starts once every connection finished its handshake.
//! - `ws/echo_10x16KiB_deflate`: the same with permessage-deflate on (tulip only: tungstenite
//!   has no permessage-deflate), text messages of repetitive JSON-like data.

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use crate::harness::{Bench, Config, Sample};
use crate::runtimes::{tokio_mt, tulip_rt};

const CONNS: usize = 10;

fn rate(time: Duration, count: f64) -> Sample {
    Sample {
        time,
        metrics: vec![("msgs_per_s", count / time.as_secs_f64())],
    }
}

fn payload(size: usize) -> Vec<u8> {
    let unit = br#"{"id":12345,"name":"tulip","tags":["ws","deflate"],"ok":true},"#;
    unit.iter().cycle().take(size).copied().collect()
}

pub(crate) fn benches(cfg: &Config) -> Vec<Bench> {
    let small_rounds = cfg.size(300, 3000);
    let big_rounds = cfg.size(60, 600);
    let mut out = Vec::new();
    for (name, size, rounds) in [
        ("ws/echo_10x64B", 64, small_rounds),
        ("ws/echo_10x16KiB", 16 << 10, big_rounds),
    ] {
        let msgs = (CONNS * rounds) as f64;
        let unit = format!("{CONNS} conns x {rounds} x {size} B round trips");
        out.push(
            Bench::new(name, unit)
                .with("tulip", move || {
                    rate(tulip_impl::echo(rounds, size, false), msgs)
                })
                .with("tokio-tungstenite", move || {
                    rate(tokio_mt().block_on(tokio_impl::echo(rounds, size)), msgs)
                }),
        );
    }
    let msgs = (CONNS * big_rounds) as f64;
    out.push(
        Bench::new(
            "ws/echo_10x16KiB_deflate",
            format!("{CONNS} conns x {big_rounds} x 16 KiB, deflate"),
        )
        .with("tulip", move || {
            rate(tulip_impl::echo(big_rounds, 16 << 10, true), msgs)
        }),
    );
    out
}

mod tulip_impl {
    use super::*;
    use std::net::TcpStream;
    use tulip_reactor::Async;
    use tulip_ws::{ClientOptions, DeflateConfig, Message, ServerOptions};

    pub(super) fn echo(rounds: usize, size: usize, deflate: bool) -> Duration {
        tulip_rt().block_on(async move {
            let listener = Async::new(TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
            let addr: SocketAddr = listener.get_ref().local_addr().unwrap();
            let mut sopts = ServerOptions::default();
            let mut copts = ClientOptions::default();
            if deflate {
                sopts.config.deflate = Some(DeflateConfig::default());
                copts.config.deflate = Some(DeflateConfig::default());
            }
            let server = tulip_executor::spawn(async move {
                let mut tasks = Vec::new();
                for _ in 0..CONNS {
                    let (s, _) = listener.read_with(|l| l.accept()).await.unwrap();
                    s.set_nodelay(true).unwrap();
                    let sopts = sopts.clone();
                    tasks.push(tulip_executor::spawn(async move {
                        let (mut ws, _) = tulip_ws::accept(Async::new(s).unwrap(), &sopts)
                            .await
                            .unwrap();
                        loop {
                            match ws.receive().await {
                                Ok(Message::Binary(b)) => ws.send_binary(&b).await.unwrap(),
                                Ok(Message::Text(t)) => ws.send_text(&t).await.unwrap(),
                                Ok(Message::Close(_)) | Err(_) => break,
                                Ok(_) => {}
                            }
                        }
                    }));
                }
                for t in tasks {
                    t.await.unwrap();
                }
            });
            let mut clients = Vec::new();
            for _ in 0..CONNS {
                let s = Async::<TcpStream>::connect(addr).await.unwrap();
                s.get_ref().set_nodelay(true).unwrap();
                let url = format!("ws://{addr}/");
                let (ws, _) = tulip_ws::client_handshake(s, &url, &copts).await.unwrap();
                clients.push(ws);
            }
            let start = Instant::now();
            let tasks: Vec<_> = clients
                .into_iter()
                .map(|mut ws| {
                    tulip_executor::spawn(async move {
                        let data = payload(size);
                        let text = String::from_utf8(data.clone()).unwrap();
                        for _ in 0..rounds {
                            if deflate {
                                ws.send_text(&text).await.unwrap();
                            } else {
                                ws.send_binary(&data).await.unwrap();
                            }
                            let m = ws.receive().await.unwrap();
                            assert_eq!(m.as_bytes().len(), size);
                        }
                        ws
                    })
                })
                .collect();
            let mut done = Vec::new();
            for t in tasks {
                done.push(t.await.unwrap());
            }
            let elapsed = start.elapsed();
            for mut ws in done {
                ws.close(tulip_ws::CloseCode::NORMAL, "").await.ok();
            }
            server.await.unwrap();
            elapsed
        })
    }
}

mod tokio_impl {
    use super::*;
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    pub(super) async fn echo(rounds: usize, size: usize) -> Duration {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let mut tasks = Vec::new();
            for _ in 0..CONNS {
                let (s, _) = listener.accept().await.unwrap();
                s.set_nodelay(true).unwrap();
                tasks.push(tokio::spawn(async move {
                    let mut ws = tokio_tungstenite::accept_async(s).await.unwrap();
                    while let Some(Ok(m)) = ws.next().await {
                        if m.is_binary() || m.is_text() {
                            ws.send(m).await.unwrap();
                        }
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        });
        let mut clients = Vec::new();
        for _ in 0..CONNS {
            let s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.set_nodelay(true).unwrap();
            let (ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/"), s)
                .await
                .unwrap();
            clients.push(ws);
        }
        let start = Instant::now();
        let tasks: Vec<_> = clients
            .into_iter()
            .map(|mut ws| {
                tokio::spawn(async move {
                    let data = payload(size);
                    for _ in 0..rounds {
                        ws.send(Message::binary(data.clone())).await.unwrap();
                        let m = ws.next().await.unwrap().unwrap();
                        assert_eq!(m.len(), size);
                    }
                    ws
                })
            })
            .collect();
        let mut done = Vec::new();
        for t in tasks {
            done.push(t.await.unwrap());
        }
        let elapsed = start.elapsed();
        for mut ws in done {
            ws.close(None).await.ok();
            while let Some(Ok(_)) = ws.next().await {}
        }
        server.await.unwrap();
        elapsed
    }
}
