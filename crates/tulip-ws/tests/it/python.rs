//! Interop with Python's `websockets` and aiohttp, as server and as client, with and without
//! permessage-deflate. Skipped through
//! `tulip_test_support::peers` when `TULIP_PYTHON` is unset or lacks a module.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};

use tulip_reactor::{Async, block_on};
use tulip_test_support::peers;
use tulip_ws::{ClientOptions, CloseCode, DeflateConfig, Message, ServerOptions};

pub(super) fn python(module: &str) -> Option<OsString> {
    peers::python(&[module])
}

/// Kills the child if a test fails before it exits.
pub(super) struct Reaper(pub(super) Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(super) const SERVERS: &str = r#"
import asyncio, sys
kind, comp = sys.argv[1], sys.argv[2] == "1"
async def main():
    done = asyncio.get_running_loop().create_future()
    if kind == "websockets":
        from websockets.asyncio.server import serve
        async def handler(ws):
            async for m in ws:
                await ws.send(m)
            if not done.done(): done.set_result(None)
        async with serve(handler, "127.0.0.1", 0, compression="deflate" if comp else None, max_size=None) as srv:
            print(srv.sockets[0].getsockname()[1], flush=True)
            await asyncio.wait_for(done, 30)
    else:
        from aiohttp import web, WSMsgType
        async def handler(req):
            ws = web.WebSocketResponse(compress=comp, max_msg_size=0)
            await ws.prepare(req)
            async for msg in ws:
                if msg.type == WSMsgType.TEXT: await ws.send_str(msg.data)
                elif msg.type == WSMsgType.BINARY: await ws.send_bytes(msg.data)
            if not done.done(): done.set_result(None)
            return ws
        app = web.Application()
        app.router.add_get("/", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(site._server.sockets[0].getsockname()[1], flush=True)
        await asyncio.wait_for(done, 30)
        await runner.cleanup()
asyncio.run(main())
"#;

const CLIENTS: &str = r#"
import asyncio, sys
kind, url, comp = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
msgs = ["hello", "é" * 1000, b"\x00\x01\x02" * 40000, "x" * 70000, b""]
async def main():
    if kind == "websockets":
        from websockets.asyncio.client import connect
        async with connect(url, compression="deflate" if comp else None, max_size=None) as ws:
            for m in msgs:
                await ws.send(m)
                assert await ws.recv() == m
            print("ext", ws.response.headers.get("Sec-WebSocket-Extensions"))
    else:
        import aiohttp
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(url, compress=15 if comp else 0, max_msg_size=0) as ws:
                for m in msgs:
                    if isinstance(m, str): await ws.send_str(m)
                    else: await ws.send_bytes(m)
                    r = await ws.receive()
                    assert r.data == m, (r.type, len(m))
                print("ext", ws.compress)
asyncio.run(asyncio.wait_for(main(), 30))
"#;

fn messages() -> Vec<Message> {
    vec![
        Message::text("hello"),
        Message::text("é".repeat(1000)),
        Message::binary(b"\x00\x01\x02".repeat(40_000)),
        Message::text("x".repeat(70_000)),
        Message::binary(Vec::new()),
    ]
}

/// Sends every test message, expects each echoed, closes.
async fn session<S>(
    mut ws: tulip_ws::WebSocket<S>,
    negotiated: tulip_ws::Negotiated,
    kind: &str,
    comp: bool,
) where
    S: futures_lite::io::AsyncRead + futures_lite::io::AsyncWrite + Unpin,
{
    assert_eq!(
        negotiated.deflate.is_some(),
        comp,
        "{kind} compression {comp}"
    );
    for m in messages() {
        ws.send(m.clone()).await.unwrap();
        assert_eq!(ws.receive().await.unwrap(), m, "{kind} compression {comp}");
    }
    ws.close(CloseCode::NORMAL, "").await.unwrap();
}

/// ws_connect against the Python server: tulip-net dials, tulip-ws handshakes.
#[cfg(feature = "connect")]
fn via_ws_connect(url: &str, opts: &ClientOptions, kind: &str, comp: bool) {
    tulip_executor::run(async {
        let (ws, negotiated) = tulip_ws::ws_connect_with(url, opts).await.unwrap();
        session(ws, negotiated, kind, comp).await;
    });
}

/// Without the `connect` feature there is no ws_connect: dial a bare socket instead.
#[cfg(not(feature = "connect"))]
fn via_ws_connect(url: &str, opts: &ClientOptions, kind: &str, comp: bool) {
    let port: u16 = url
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .parse()
        .unwrap();
    block_on(async {
        let stream = Async::<TcpStream>::connect(([127, 0, 0, 1], port).into())
            .await
            .unwrap();
        let (ws, negotiated) = tulip_ws::client_handshake(stream, url, opts).await.unwrap();
        session(ws, negotiated, kind, comp).await;
    });
}

/// `dial`: connect with `ws_connect_with` (tulip-net) instead of a bare socket plus
/// `client_handshake`.
fn tulip_client_against(kind: &str, module: &str, dial: bool) {
    let Some(py) = python(module) else { return };
    for comp in [false, true] {
        let child = Command::new(&py)
            .args(["-c", SERVERS, kind, if comp { "1" } else { "0" }])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut child = Reaper(child);
        let mut line = String::new();
        BufReader::new(child.0.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line.trim().parse().expect("the server prints its port");
        let mut opts = ClientOptions::default();
        opts.config.deflate = Some(DeflateConfig::default());
        // Bounds the wait for the server's FIN after the close handshake.
        opts.config.close_timeout = std::time::Duration::from_millis(500);
        let url = format!("ws://127.0.0.1:{port}/");
        if dial {
            via_ws_connect(&url, &opts, kind, comp);
        } else {
            block_on(async {
                let stream = Async::<TcpStream>::connect(([127, 0, 0, 1], port).into())
                    .await
                    .unwrap();
                let (ws, negotiated) = tulip_ws::client_handshake(stream, &url, &opts)
                    .await
                    .unwrap();
                session(ws, negotiated, kind, comp).await;
            });
        }
        assert!(child.0.wait().unwrap().success(), "{kind} server failed");
    }
}

fn python_client_against_tulip(kind: &str, module: &str) {
    let Some(py) = python(module) else { return };
    for comp in [false, true] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("ws://{}/", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            block_on(async move {
                let stream = Async::new(listener.accept().unwrap().0).unwrap();
                let mut opts = ServerOptions::default();
                opts.config.deflate = Some(DeflateConfig::default());
                let (mut ws, _) = tulip_ws::accept(stream, &opts).await.unwrap();
                let negotiated = ws.deflate().is_some();
                loop {
                    match ws.receive().await {
                        Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                            ws.send(m).await.unwrap()
                        }
                        Ok(Message::Close(_)) => break,
                        Ok(_) => {}
                        Err(e) => panic!("server: {e}"),
                    }
                }
                negotiated
            })
        });
        let out = Command::new(&py)
            .args(["-c", CLIENTS, kind, &url, if comp { "1" } else { "0" }])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{kind}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(server.join().unwrap(), comp, "{kind} compression {comp}");
    }
}

#[test]
fn tulip_client_with_websockets_server() {
    tulip_client_against("websockets", "websockets", true);
}

#[test]
fn tulip_client_with_aiohttp_server() {
    tulip_client_against("aiohttp", "aiohttp", false);
}

#[test]
fn websockets_client_with_tulip_server() {
    python_client_against_tulip("websockets", "websockets");
}

#[test]
fn aiohttp_client_with_tulip_server() {
    python_client_against_tulip("aiohttp", "aiohttp");
}

/// Echoes three messages with compression, says `ready`, then waits for the server's close
/// and prints its code.
#[cfg(feature = "http")]
const ROUTE_CLIENTS: &str = r#"
import asyncio, sys
kind, url = sys.argv[1], sys.argv[2]
msgs = ["hello", "x" * 50000, b"\x00\x01" * 1000]
async def main():
    if kind == "websockets":
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed
        async with connect(url, compression="deflate") as ws:
            for m in msgs:
                await ws.send(m)
                assert await ws.recv() == m
            assert ws.response.headers.get("Sec-WebSocket-Extensions", "").startswith("permessage-deflate")
            print("ready", flush=True)
            try:
                await ws.recv()
            except ConnectionClosed as e:
                print("closed", e.rcvd.code if e.rcvd else None, flush=True)
    else:
        import aiohttp
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(url, compress=15) as ws:
                for m in msgs:
                    if isinstance(m, str): await ws.send_str(m)
                    else: await ws.send_bytes(m)
                    r = await ws.receive()
                    assert r.data == m, (r.type, len(m))
                assert ws.compress == 15, ws.compress
                print("ready", flush=True)
                await ws.receive()
                print("closed", ws.close_code, flush=True)
asyncio.run(asyncio.wait_for(main(), 20))
"#;

/// A Python client against a tulip-http route: echo with compression, then a graceful
/// shutdown that the client must see as 1001.
#[cfg(feature = "http")]
fn python_client_against_route(kind: &str, module: &str) {
    use tulip_ws::http::WebSocketResponse;
    let Some(py) = python(module) else { return };
    let (tx, rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        tulip_executor::run(async move {
            let mut opts = ServerOptions::default();
            opts.config.deflate = Some(DeflateConfig::default());
            let upgrade = WebSocketResponse::new(opts);
            let app = tulip_http::App::new().get("/ws", move |mut req: tulip_http::Request| {
                let upgrade = upgrade.clone();
                async move {
                    upgrade.handle(&mut req, |mut ws| async move {
                        while let Ok(m) = ws.receive().await {
                            if let Message::Text(_) | Message::Binary(_) = m {
                                if ws.send(m).await.is_err() {
                                    break;
                                }
                            }
                        }
                    })
                }
            });
            let server = tulip_http::Server::bind("127.0.0.1:0", app).unwrap();
            tx.send((server.local_addr(), server.shutdown_handle()))
                .unwrap();
            server.run().await
        })
    });
    let (addr, stop) = rx.recv().unwrap();
    let child = Command::new(&py)
        .args(["-c", ROUTE_CLIENTS, kind, &format!("ws://{addr}/ws")])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Reaper(child);
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready", "{kind}");
    stop.shutdown();
    assert_eq!(lines.next().unwrap().unwrap(), "closed 1001", "{kind}");
    assert!(child.0.wait().unwrap().success(), "{kind} client failed");
    server.join().unwrap().unwrap();
}

#[cfg(feature = "http")]
#[test]
fn websockets_client_with_tulip_http_route() {
    python_client_against_route("websockets", "websockets");
}

#[cfg(feature = "http")]
#[test]
fn aiohttp_client_with_tulip_http_route() {
    python_client_against_route("aiohttp", "aiohttp");
}

/// A TLS echo server in Python `websockets`: `python -c WSS_SERVER cert.pem key.pem`; prints
/// its port, serves one connection, exits.
#[cfg(feature = "tls")]
const WSS_SERVER: &str = r#"
import asyncio, ssl, sys
from websockets.asyncio.server import serve
async def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    done = asyncio.get_running_loop().create_future()
    async def handler(ws):
        async for m in ws:
            await ws.send(m)
        if not done.done(): done.set_result(None)
    async with serve(handler, "127.0.0.1", 0, ssl=ctx, compression="deflate", max_size=None) as srv:
        print(srv.sockets[0].getsockname()[1], flush=True)
        await asyncio.wait_for(done, 30)
asyncio.run(main())
"#;

/// wss:// against Python's TLS stack (OpenSSL) rather than tulip-tls on both ends.
#[cfg(feature = "tls")]
#[test]
fn tulip_wss_client_with_websockets_tls_server() {
    use tulip_test_support::pki;
    use tulip_tls::{TlsConnector, pem};
    let Some(py) = python("websockets") else {
        return;
    };
    let files = pki::PemFiles::new("tulip-ws-wss");
    let (cert, key) = (files.path("server.pem"), files.path("server.key"));
    let child = Command::new(&py)
        .args(["-c", WSS_SERVER])
        .arg(&cert)
        .arg(&key)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Reaper(child);
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().parse().expect("the server prints its port");
    let connector = TlsConnector::builder()
        .root_store(pem::root_store_from_pem(pki::pki().ca_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let mut opts = ClientOptions {
        tls: Some(connector),
        ..ClientOptions::default()
    };
    opts.config.deflate = Some(DeflateConfig::default());
    opts.config.close_timeout = std::time::Duration::from_millis(500);
    tulip_executor::run(async move {
        let url = format!("wss://localhost:{port}/");
        let (mut ws, negotiated) = tulip_ws::ws_connect_with(&url, &opts).await.unwrap();
        assert!(ws.get_ref().is_tls());
        assert!(negotiated.deflate.is_some(), "deflate negotiated over TLS");
        for text in ["over openssl", &"y".repeat(200_000)] {
            ws.send_text(text).await.unwrap();
            assert_eq!(ws.receive_text().await.unwrap(), text);
        }
        ws.send_binary(&[0u8, 1, 2, 255]).await.unwrap();
        assert_eq!(
            ws.receive().await.unwrap(),
            Message::Binary(vec![0u8, 1, 2, 255])
        );
        ws.close(CloseCode::NORMAL, "").await.unwrap();
    });
    assert!(child.0.wait().unwrap().success(), "wss server failed");
}
