//! aiohttp's WebSocket echo: the server echoes every message and closes the connection when it
//! receives the text `close`; the client sends a few lines, then `close`.
//!
//! The server is a tulip-http app whose `/ws` route upgrades with
//! `tulip_ws::http::WebSocketResponse` (aiohttp's `web.WebSocketResponse`); the client is
//! `tulip_ws::ws_connect_with` (aiohttp's `session.ws_connect`).
//!
//! Run the server with `cargo run -p examples --example ws_echo -- server [PORT]` (default
//! 8080, on 127.0.0.1) and talk to it with any WebSocket client; run a client against it with
//! `... -- client ws://127.0.0.1:8080/ws`. With `--self-test` (the smoke test), it starts the
//! server on a free port, runs one client with permessage-deflate on, prints each echo, checks
//! that the server closed with 1000, shuts the server down and exits 0.

use tulip_http::{App, Server};
use tulip_ws::http::{ServerWebSocket, WebSocketResponse};
use tulip_ws::{ClientOptions, CloseCode, DeflateConfig, Message, ServerOptions};

/// One WebSocket session: echo with `/answer` appended, and close on `close`.
async fn echo(mut ws: ServerWebSocket) {
    println!("server: upgraded (deflate: {})", ws.deflate().is_some());
    while let Ok(msg) = ws.receive().await {
        let sent = match msg {
            Message::Text(t) if t == "close" => {
                let _ = ws.close(CloseCode::NORMAL, "bye").await;
                return;
            }
            Message::Text(t) => ws.send_text(&format!("{t}/answer")).await,
            Message::Binary(b) => ws.send_binary(&b).await,
            Message::Close(_) | Message::Ping(_) | Message::Pong(_) => Ok(()),
        };
        if sent.is_err() {
            return;
        }
    }
}

fn app() -> App {
    let mut options = ServerOptions::default();
    options.config.deflate = Some(DeflateConfig::default());
    App::new().get("/ws", WebSocketResponse::new(options).route(echo))
}

async fn client(url: &str) -> tulip_ws::Result<()> {
    let mut options = ClientOptions::default();
    options.config.deflate = Some(DeflateConfig::default());
    let (mut ws, negotiated) = tulip_ws::ws_connect_with(url, &options).await?;
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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("server") => {
            let port: u16 = args.get(1).and_then(|p| p.parse().ok()).unwrap_or(8080);
            println!("serving on ws://127.0.0.1:{port}/ws (Ctrl-C to stop)");
            app().run(("127.0.0.1", port))?;
            Ok(())
        }
        Some("client") => {
            let url = args.get(1).map_or("ws://127.0.0.1:8080/ws", String::as_str);
            Ok(tulip_executor::run(client(url))?)
        }
        Some("--self-test") => tulip_executor::run(async {
            let server = Server::bind("127.0.0.1:0", app())?;
            let url = format!("ws://{}/ws", server.local_addr());
            let stop = server.shutdown_handle();
            let running = tulip_executor::spawn(server.run());
            client(&url).await?;
            stop.shutdown();
            running.await.map_err(|e| format!("{e:?}"))??;
            println!("ws_echo self-test passed");
            Ok(())
        }),
        _ => {
            eprintln!("usage: ws_echo server [PORT] | client [URL] | --self-test");
            std::process::exit(2);
        }
    }
}
