//! The heartbeat and fragmented sends against real peers: Python aiohttp and `websockets` on
//! loopback (skipped through `tulip_test_support::peers` when `TULIP_PYTHON` lacks them).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tulip_ws::{ClientOptions, CloseCode, DeflateConfig, Message, ServerOptions};

use super::python::{Reaper, SERVERS, python};

/// An aiohttp server whose handler never receives, with autoping off: it never answers a
/// ping. Prints its port; the test kills it.
const DEAF_SERVER: &str = r#"
import asyncio
from aiohttp import web
async def main():
    async def handler(req):
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(req)
        await asyncio.sleep(30)
        return ws
    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(site._server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(30)
asyncio.run(main())
"#;

/// Spawns `script` with `args` and reads the port it prints.
fn spawn_server(py: &std::ffi::OsStr, script: &str, args: &[&str]) -> (Reaper, u16) {
    let child = Command::new(py)
        .arg("-c")
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Reaper(child);
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().expect("the server prints its port");
    (child, port)
}

#[test]
fn tulip_client_heartbeat_drops_an_aiohttp_server_that_never_pongs() {
    let Some(py) = python("aiohttp") else { return };
    let (_child, port) = spawn_server(&py, DEAF_SERVER, &[]);
    let mut opts = ClientOptions::default();
    opts.config.heartbeat = Some(Duration::from_millis(50));
    let start = Instant::now();
    let err = tulip_executor::run(async move {
        let url = format!("ws://127.0.0.1:{port}/");
        let (mut ws, _) = tulip_ws::ws_connect_with(&url, &opts).await.unwrap();
        ws.receive().await.unwrap_err()
    });
    assert!(err.is_heartbeat(), "{err:?}");
    assert!(err.to_string().contains("no pong within 25ms"), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn tulip_client_heartbeat_keeps_a_websockets_connection_alive() {
    let Some(py) = python("websockets") else {
        return;
    };
    let (mut child, port) = spawn_server(&py, SERVERS, &["websockets", "0"]);
    let mut opts = ClientOptions::default();
    // The pong wait (half of it) leaves a loaded machine's Python process time to answer.
    opts.config.heartbeat = Some(Duration::from_millis(300));
    opts.config.close_timeout = Duration::from_millis(500);
    tulip_executor::run(async move {
        let url = format!("ws://127.0.0.1:{port}/");
        let (mut ws, _) = tulip_ws::ws_connect_with(&url, &opts).await.unwrap();
        // Four intervals of silence: websockets answers every heartbeat ping, so nothing fails
        // and nothing is received (the pongs are the heartbeat's).
        let quiet = tulip_reactor::timeout(Duration::from_millis(1200), ws.receive()).await;
        assert!(quiet.is_err(), "{quiet:?}");
        ws.send_text("alive").await.unwrap();
        assert_eq!(ws.receive_text().await.unwrap(), "alive");
        ws.close(CloseCode::NORMAL, "").await.unwrap();
    });
    assert!(child.0.wait().unwrap().success());
}

/// An aiohttp client that never answers pings (autoping off; it receives them as messages):
/// prints `ready`, then how many pings came and how the connection ended.
const SILENT_CLIENT: &str = r#"
import asyncio, sys
import aiohttp
async def main():
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(sys.argv[1], autoping=False) as ws:
            print("ready", flush=True)
            pings = 0
            while True:
                msg = await ws.receive()
                if msg.type == aiohttp.WSMsgType.PING:
                    pings += 1
                    continue
                print("pings", pings, "end", msg.type.name, flush=True)
                break
asyncio.run(asyncio.wait_for(main(), 20))
"#;

#[test]
fn tulip_route_heartbeat_drops_a_silent_aiohttp_client() {
    use tulip_ws::http::WebSocketResponse;
    let Some(py) = python("aiohttp") else { return };
    let (tx, rx) = std::sync::mpsc::channel();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        tulip_executor::run(async move {
            let mut opts = ServerOptions::default();
            opts.config.heartbeat = Some(Duration::from_millis(40));
            let upgrade = WebSocketResponse::new(opts);
            let app = tulip_http::App::new().get(
                "/ws",
                upgrade.route(move |mut ws| {
                    let tx = tx.clone();
                    async move {
                        let start = Instant::now();
                        let err = ws.receive().await.unwrap_err();
                        tx.send((err, start.elapsed())).unwrap();
                    }
                }),
            );
            let server = tulip_http::Server::bind("127.0.0.1:0", app).unwrap();
            addr_tx
                .send((server.local_addr(), server.shutdown_handle()))
                .unwrap();
            server.run().await
        })
    });
    let (addr, stop) = addr_rx.recv().unwrap();
    let child = Command::new(&py)
        .args(["-c", SILENT_CLIENT, &format!("ws://{addr}/ws")])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Reaper(child);
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    let (err, took) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(err.is_heartbeat(), "{err:?}");
    assert!(took >= Duration::from_millis(60), "{took:?}");
    // aiohttp saw our ping, then the connection end without a close frame.
    let end = lines.next().unwrap().unwrap();
    assert!(
        end == "pings 1 end CLOSED" || end == "pings 1 end ERROR",
        "{end}"
    );
    assert!(child.0.wait().unwrap().success());
    stop.shutdown();
    server.join().unwrap().unwrap();
}

/// 1 MiB binary and text messages sent in 16 KiB fragments reach each Python server whole
/// (it echoes them back); with permessage-deflate, 256 KiB ones (compressing in a debug build
/// is slow), fragmented after compression.
#[test]
fn fragmented_megabyte_messages_reach_python_servers_whole() {
    for (kind, module) in [("websockets", "websockets"), ("aiohttp", "aiohttp")] {
        let Some(py) = python(module) else { continue };
        for comp in [false, true] {
            let (mut child, port) =
                spawn_server(&py, SERVERS, &[kind, if comp { "1" } else { "0" }]);
            let mut opts = ClientOptions::default();
            opts.config.fragment_size = Some(16 << 10);
            opts.config.close_timeout = Duration::from_millis(500);
            if comp {
                opts.config.deflate = Some(DeflateConfig::default());
            }
            tulip_executor::run(async move {
                let url = format!("ws://127.0.0.1:{port}/");
                let (mut ws, negotiated) = tulip_ws::ws_connect_with(&url, &opts).await.unwrap();
                assert_eq!(negotiated.deflate.is_some(), comp, "{kind}");
                let size: u32 = if comp { 256 << 10 } else { 1 << 20 };
                let bin: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
                ws.send_binary(&bin).await.unwrap();
                assert_eq!(
                    ws.receive().await.unwrap(),
                    Message::Binary(bin),
                    "{kind} {comp}"
                );
                let text: String = ('a'..='z').cycle().take(size as usize).collect();
                ws.send_text(&text).await.unwrap();
                assert_eq!(ws.receive_text().await.unwrap(), text, "{kind} {comp}");
                ws.close(CloseCode::NORMAL, "").await.unwrap();
            });
            assert!(child.0.wait().unwrap().success(), "{kind} server failed");
        }
    }
}
