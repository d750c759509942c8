//! aiohttp's WebSocket echo: the server echoes every message and closes the connection when it
//! receives the text `close`; the client sends a few lines, then `close`.
//!
//! Run the server with `cargo run -p examples --example ws_echo -- server [PORT]` (default
//! 8080, on 127.0.0.1) and talk to it with any WebSocket client; run a client against it with
//! `... -- client ws://127.0.0.1:8080/ws`. With `--self-test` (the smoke test), it starts the
//! server on a free port, runs one client with permessage-deflate on, prints each echo, and
//! exits 0 once the server closed with 1000.

use std::net::{SocketAddr, TcpListener, TcpStream};

use tulip_reactor::Async;
use tulip_ws::{ClientOptions, CloseCode, DeflateConfig, Message, ServerOptions};

/// Serves one WebSocket connection: echo, and close on `close`.
async fn serve(stream: TcpStream) -> tulip_ws::Result<()> {
    let mut options = ServerOptions::default();
    options.config.deflate = Some(DeflateConfig::default());
    let (mut ws, request) = tulip_ws::accept(Async::new(stream)?, &options).await?;
    println!(
        "server: {} upgraded (deflate: {})",
        request.uri,
        ws.deflate().is_some()
    );
    loop {
        match ws.receive().await? {
            Message::Text(t) if t == "close" => {
                ws.close(CloseCode::NORMAL, "bye").await?;
                return Ok(());
            }
            Message::Text(t) => ws.send_text(&format!("{t}/answer")).await?,
            Message::Binary(b) => ws.send_binary(&b).await?,
            Message::Close(_) => return Ok(()),
            Message::Ping(_) | Message::Pong(_) => {}
        }
    }
}

async fn client(url: &str) -> tulip_ws::Result<()> {
    let addr: SocketAddr = url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| std::io::Error::other("client needs ws://IP:PORT/..."))?;
    let mut options = ClientOptions::default();
    options.config.deflate = Some(DeflateConfig::default());
    let stream = Async::<TcpStream>::connect(addr).await?;
    let (mut ws, negotiated) = tulip_ws::client_handshake(stream, url, &options).await?;
    println!(
        "client: connected (deflate: {})",
        negotiated.deflate.is_some()
    );
    for line in ["hello", "tulip", "websocket"] {
        ws.send_text(line).await?;
        println!("client: got {:?}", ws.receive_text().await?);
    }
    ws.send_text("close").await?;
    match ws.receive().await? {
        Message::Close(Some(frame)) if frame.code == CloseCode::NORMAL => {
            println!(
                "client: server closed with {} {:?}",
                frame.code, frame.reason
            );
            Ok(())
        }
        other => Err(std::io::Error::other(format!("expected a close, got {other:?}")).into()),
    }
}

fn main() -> tulip_ws::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("server") => {
            let port: u16 = args.get(1).and_then(|p| p.parse().ok()).unwrap_or(8080);
            let listener = TcpListener::bind(("127.0.0.1", port))?;
            println!("serving on ws://127.0.0.1:{port}/ws");
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    if let Err(e) = tulip_reactor::block_on(serve(stream)) {
                        eprintln!("connection ended: {e}");
                    }
                });
            }
            Ok(())
        }
        Some("client") => {
            let url = args.get(1).map_or("ws://127.0.0.1:8080/ws", String::as_str);
            tulip_reactor::block_on(client(url))
        }
        Some("--self-test") => {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let url = format!("ws://{}/ws", listener.local_addr()?);
            let server = std::thread::spawn(move || {
                let (stream, _) = listener.accept()?;
                tulip_reactor::block_on(serve(stream))
            });
            tulip_reactor::block_on(client(&url))?;
            server.join().expect("server thread")?;
            println!("ws_echo self-test passed");
            Ok(())
        }
        _ => {
            eprintln!("usage: ws_echo server [PORT] | client [URL] | --self-test");
            std::process::exit(2);
        }
    }
}
