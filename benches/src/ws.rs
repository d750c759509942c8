//! WebSocket benchmarks: tulip-ws beside tokio-tungstenite, both on 2-worker multi-thread
//! runtimes over loopback TCP, and beside Python's `websockets` and aiohttp servers when a
//! Python with them is around.
//!
//! - `ws/echo_{10,200}x{64B,16KiB}`: N connections; each client sends a binary message and
//!   waits for its echo, round after round (msgs/s). Server and clients are tasks of the same
//!   runtime; the timing starts once every connection finished its handshake. tulip's server
//!   is the standalone `tulip_ws::accept`; `tulip-http route` is the same load against a
//!   tulip-http app upgrading with `tulip_ws::http::WebSocketResponse`.
//! - `ws/echo_10x16KiB_deflate`: the same with permessage-deflate on, text messages of
//!   repetitive JSON-like data (tokio-tungstenite has no permessage-deflate).
//! - Python contenders are servers only: the same tulip-ws clients (same runtime, same load)
//!   against a Python echo server in a child process, so `tulip ÷ python` compares the two
//!   servers. The interpreter is `TULIP_PYTHON`, else `.venv/bin/python` at the workspace
//!   root; a contender is skipped (with a note) when the interpreter or its module is missing.

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use crate::harness::{Bench, Config, Sample};
use crate::runtimes::{tokio_mt, tulip_rt};

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

/// One echo load: how many connections, rounds per connection, message size, compression.
#[derive(Clone, Copy, Debug)]
struct Load {
    conns: usize,
    rounds: usize,
    size: usize,
    deflate: bool,
}

impl Load {
    fn msgs(self) -> f64 {
        (self.conns * self.rounds) as f64
    }
}

pub(crate) fn benches(cfg: &Config) -> Vec<Bench> {
    let mut out = Vec::new();
    for (conns, small_rounds, big_rounds) in [
        (10, cfg.size(600, 3000), cfg.size(120, 600)),
        (200, cfg.size(30, 300), cfg.size(6, 60)),
    ] {
        for (label, size, rounds) in [("64B", 64, small_rounds), ("16KiB", 16 << 10, big_rounds)] {
            let load = Load {
                conns,
                rounds,
                size,
                deflate: false,
            };
            let name = format!("ws/echo_{conns}x{label}");
            let unit = format!("{conns} conns x {rounds} x {size} B round trips");
            let mut bench = Bench::new(name, unit)
                .with("tulip", move || {
                    rate(
                        tulip_impl::echo(tulip_impl::Target::Standalone, load),
                        load.msgs(),
                    )
                })
                .with("tokio-tungstenite", move || {
                    rate(tokio_mt().block_on(tokio_impl::echo(load)), load.msgs())
                });
            if conns == 10 {
                bench = bench.with("tulip-http route", move || {
                    rate(
                        tulip_impl::echo(tulip_impl::Target::Route, load),
                        load.msgs(),
                    )
                });
                if cfg.wants(&bench.name) {
                    bench = with_python(bench, load);
                }
            }
            out.push(bench);
        }
    }
    let rounds = cfg.size(120, 600);
    let load = Load {
        conns: 10,
        rounds,
        size: 16 << 10,
        deflate: true,
    };
    let bench = Bench::new(
        "ws/echo_10x16KiB_deflate",
        format!("10 conns x {rounds} x 16 KiB, deflate"),
    )
    .with("tulip", move || {
        rate(
            tulip_impl::echo(tulip_impl::Target::Standalone, load),
            load.msgs(),
        )
    });
    out.push(if cfg.wants(&bench.name) {
        with_python(bench, load)
    } else {
        bench
    });
    out
}

/// Adds the Python servers that are available as contenders.
fn with_python(mut bench: Bench, load: Load) -> Bench {
    for kind in [python::Kind::Websockets, python::Kind::Aiohttp] {
        let Some(addr) = python::server(kind) else {
            continue;
        };
        bench = bench.with(kind.contender(), move || {
            let target = tulip_impl::Target::External(addr);
            rate(tulip_impl::echo(target, load), load.msgs())
        });
    }
    bench
}

mod tulip_impl {
    use super::*;
    use std::net::TcpStream;
    use tulip_reactor::Async;
    use tulip_ws::{ClientOptions, DeflateConfig, Message, ServerOptions};

    /// Which server the tulip clients load.
    #[derive(Clone, Copy, Debug)]
    pub(super) enum Target {
        /// `tulip_ws::accept` on a bare listener, one task per connection.
        Standalone,
        /// A tulip-http app whose route upgrades with `WebSocketResponse`.
        Route,
        /// A server someone else runs (Python).
        External(SocketAddr),
    }

    fn server_options(deflate: bool) -> ServerOptions {
        let mut sopts = ServerOptions::default();
        if deflate {
            sopts.config.deflate = Some(DeflateConfig::default());
        }
        sopts
    }

    async fn echo_session<S>(mut ws: tulip_ws::WebSocket<S>)
    where
        S: futures_lite::io::AsyncRead + futures_lite::io::AsyncWrite + Unpin,
    {
        loop {
            let sent = match ws.receive().await {
                Ok(Message::Binary(b)) => ws.send_binary(&b).await,
                Ok(Message::Text(t)) => ws.send_text(&t).await,
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => Ok(()),
            };
            if sent.is_err() {
                break;
            }
        }
    }

    /// Starts the standalone server for `conns` connections.
    fn standalone(conns: usize, deflate: bool) -> (SocketAddr, tulip_executor::Task<()>) {
        let listener = Async::new(TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
        let addr: SocketAddr = listener.get_ref().local_addr().unwrap();
        let sopts = server_options(deflate);
        let server = tulip_executor::spawn(async move {
            let mut tasks = Vec::new();
            for _ in 0..conns {
                let (s, _) = listener.read_with(|l| l.accept()).await.unwrap();
                s.set_nodelay(true).unwrap();
                let sopts = sopts.clone();
                tasks.push(tulip_executor::spawn(async move {
                    let (ws, _) = tulip_ws::accept(Async::new(s).unwrap(), &sopts)
                        .await
                        .unwrap();
                    echo_session(ws).await;
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        });
        (addr, server)
    }

    pub(super) fn echo(target: Target, load: Load) -> Duration {
        let Load {
            conns,
            rounds,
            size,
            deflate,
        } = load;
        tulip_rt().block_on(async move {
            let mut route = None;
            let (addr, server) = match target {
                Target::Standalone => {
                    let (addr, task) = standalone(conns, deflate);
                    (addr, Some(task))
                }
                Target::Route => {
                    let upgrade = tulip_ws::http::WebSocketResponse::new(server_options(deflate));
                    let app = tulip_http::App::new().get("/", upgrade.route(echo_session));
                    let server = tulip_http::Server::bind("127.0.0.1:0", app).unwrap();
                    let addr = server.local_addr();
                    route = Some((
                        server.shutdown_handle(),
                        tulip_executor::spawn(server.run()),
                    ));
                    (addr, None)
                }
                Target::External(addr) => (addr, None),
            };
            let mut copts = ClientOptions::default();
            if deflate {
                copts.config.deflate = Some(DeflateConfig::default());
            }
            // Bounds the close handshake with a peer that is slow to answer it.
            copts.config.close_timeout = Duration::from_secs(2);
            let mut clients = Vec::new();
            for _ in 0..conns {
                let s = Async::<TcpStream>::connect(addr).await.unwrap();
                s.get_ref().set_nodelay(true).unwrap();
                let url = format!("ws://{addr}/");
                let (ws, negotiated) = tulip_ws::client_handshake(s, &url, &copts).await.unwrap();
                assert_eq!(negotiated.deflate.is_some(), deflate, "{target:?}");
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
            let closes: Vec<_> = done
                .into_iter()
                .map(|mut ws| {
                    tulip_executor::spawn(async move {
                        ws.close(tulip_ws::CloseCode::NORMAL, "").await.ok();
                    })
                })
                .collect();
            for c in closes {
                c.await.unwrap();
            }
            if let Some(server) = server {
                server.await.unwrap();
            }
            if let Some((stop, running)) = route {
                stop.shutdown();
                running.await.unwrap().unwrap();
            }
            elapsed
        })
    }
}

mod tokio_impl {
    use super::*;
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    pub(super) async fn echo(load: Load) -> Duration {
        let Load {
            conns,
            rounds,
            size,
            ..
        } = load;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let mut tasks = Vec::new();
            for _ in 0..conns {
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
        for _ in 0..conns {
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
        let closes: Vec<_> = done
            .into_iter()
            .map(|mut ws| {
                tokio::spawn(async move {
                    ws.close(None).await.ok();
                    while let Some(Ok(_)) = ws.next().await {}
                })
            })
            .collect();
        for c in closes {
            c.await.unwrap();
        }
        server.await.unwrap();
        elapsed
    }
}

/// Python echo servers in child processes, one per kind for the whole run.
mod python {
    use std::io::BufRead;
    use std::net::SocketAddr;
    use std::path::PathBuf;
    use std::process::{Command, Stdio};
    use std::sync::OnceLock;

    #[derive(Clone, Copy, Debug)]
    pub(super) enum Kind {
        Websockets,
        Aiohttp,
    }

    impl Kind {
        pub(super) fn contender(self) -> &'static str {
            match self {
                Kind::Websockets => "python websockets",
                Kind::Aiohttp => "python aiohttp",
            }
        }

        fn module(self) -> &'static str {
            match self {
                Kind::Websockets => "websockets",
                Kind::Aiohttp => "aiohttp",
            }
        }
    }

    /// Echoes text and binary; offers permessage-deflate to clients that ask. Exits when the
    /// benchmark process goes away (it holds our stdin open until then).
    const SCRIPT: &str = r#"
import asyncio, os, sys, threading
threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
kind = sys.argv[1]
async def main():
    if kind == "websockets":
        from websockets.asyncio.server import serve
        async def handler(ws):
            async for m in ws:
                await ws.send(m)
        async with serve(handler, "127.0.0.1", 0, compression="deflate", max_size=None) as srv:
            print(srv.sockets[0].getsockname()[1], flush=True)
            await asyncio.Event().wait()
    else:
        from aiohttp import web, WSMsgType
        async def handler(req):
            ws = web.WebSocketResponse(compress=True, max_msg_size=0)
            await ws.prepare(req)
            async for msg in ws:
                if msg.type == WSMsgType.TEXT: await ws.send_str(msg.data)
                elif msg.type == WSMsgType.BINARY: await ws.send_bytes(msg.data)
            return ws
        app = web.Application()
        app.router.add_get("/", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(runner.addresses[0][1], flush=True)
        await asyncio.Event().wait()
asyncio.run(main())
"#;

    /// The running server of each kind, started on first use and left running for the
    /// process: it exits by itself when our end of its stdin closes.
    pub(super) fn server(kind: Kind) -> Option<SocketAddr> {
        static SERVERS: [OnceLock<Option<SocketAddr>>; 2] = [OnceLock::new(), OnceLock::new()];
        *SERVERS[kind as usize].get_or_init(|| start(kind))
    }

    fn interpreter() -> Option<PathBuf> {
        if let Some(p) = std::env::var_os("TULIP_PYTHON") {
            return Some(p.into());
        }
        let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
        venv.exists().then_some(venv)
    }

    fn start(kind: Kind) -> Option<SocketAddr> {
        let Some(python) = interpreter() else {
            eprintln!("no TULIP_PYTHON or .venv: skipping {}", kind.contender());
            return None;
        };
        let has_module = Command::new(&python)
            .args(["-c", &format!("import {}", kind.module())])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !has_module {
            eprintln!("{} lacks {}: skipping it", python.display(), kind.module());
            return None;
        }
        let mut child = Command::new(&python)
            .args(["-c", SCRIPT, kind.module()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut line = String::new();
        let read = child
            .stdout
            .take()
            .map(|out| std::io::BufReader::new(out).read_line(&mut line));
        let Some(port) = read
            .and_then(Result::ok)
            .and_then(|_| line.trim().parse::<u16>().ok())
        else {
            eprintln!("{} did not start; skipping it", kind.contender());
            let _ = child.kill();
            let _ = child.wait();
            return None;
        };
        // Keep the child's stdin open for the rest of the run (see `server`).
        std::mem::forget(child);
        Some(([127, 0, 0, 1], port).into())
    }
}
