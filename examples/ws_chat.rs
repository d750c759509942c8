//! A broadcast chat room: every message a client sends goes to every connected client.
//!
//! The server is a tulip-http app with one WebSocket route, `/chat?name=NAME`, upgraded by
//! `tulip_ws::http::WebSocketResponse`; the room is a tulip-sync broadcast channel. Each
//! session splits its WebSocket: a task forwards the room to the client while the session
//! reads the client's lines into the room. A graceful shutdown closes every client with
//! 1001 Going Away.
//!
//! Run the server with `cargo run -p examples --example ws_chat -- server [PORT]` (default
//! 8080, on 127.0.0.1) and join with `... -- client NAME [URL]`, which sends the lines you
//! type and prints the room. With `--self-test` (the smoke test), it serves on a free port,
//! connects alice, bob and carol, has each say hello, checks that everyone heard everyone,
//! shuts the server down (each client gets 1001) and exits 0.

use std::io::BufRead;
use std::time::Duration;

use tulip_http::{App, Request, Server};
use tulip_sync::broadcast;
use tulip_ws::http::{ServerWebSocket, WebSocketResponse};
use tulip_ws::{
    ClientOptions, ClientStream, CloseCode, DeflateConfig, Message, ServerOptions, WebSocket,
};

/// How many lines the room holds for a slow reader before it starts losing the oldest.
const BACKLOG: usize = 256;

/// One member: announce, forward the room to the client, read the client into the room.
async fn member(ws: ServerWebSocket, name: String, room: broadcast::Sender<String>) {
    let (mut from_client, mut to_client) = ws.split();
    // Subscribe before announcing, so the member hears its own arrival.
    let mut heard = room.subscribe();
    let _ = room.send(format!("* {name} joined"));
    let forward = tulip_executor::spawn(async move {
        loop {
            let line = match heard.recv().await {
                Ok(line) => line,
                Err(broadcast::RecvError::Lagged(n)) => format!("* you missed {n} lines"),
                Err(broadcast::RecvError::Closed) => return,
            };
            if to_client.send_text(&line).await.is_err() {
                return;
            }
        }
    });
    // Ends with the client's close, an error, or the server's 1001 on shutdown.
    while let Ok(msg) = from_client.receive().await {
        if let Message::Text(text) = msg {
            let _ = room.send(format!("{name}: {text}"));
        }
    }
    forward.cancel().await;
    let _ = room.send(format!("* {name} left"));
}

fn app() -> App {
    let (room, _) = broadcast::channel::<String>(BACKLOG);
    let mut options = ServerOptions::default();
    options.config.deflate = Some(DeflateConfig::default());
    options.config.max_message_size = 64 << 10;
    let upgrade = WebSocketResponse::new(options);
    App::new().get("/chat", move |mut req: Request| {
        let (upgrade, room) = (upgrade.clone(), room.clone());
        async move {
            let name = req
                .query("name")
                .map_or_else(|| "anonymous".to_owned(), |n| n.into_owned());
            upgrade.handle(&mut req, move |ws| member(ws, name, room))
        }
    })
}

async fn join(base: &str, name: &str) -> tulip_ws::Result<WebSocket<ClientStream>> {
    let mut options = ClientOptions::default();
    options.config.deflate = Some(DeflateConfig::default());
    let (ws, _) = tulip_ws::ws_connect_with(&format!("{base}?name={name}"), &options).await?;
    Ok(ws)
}

/// Reads lines until `done` says the wanted ones have all arrived (bounded by a deadline).
async fn hear_until(
    ws: &mut WebSocket<ClientStream>,
    mut done: impl FnMut(&str) -> bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let read = async {
        loop {
            let line = ws.receive_text().await?;
            if done(&line) {
                return Ok::<_, tulip_ws::Error>(());
            }
        }
    };
    tulip_reactor::timeout(Duration::from_secs(10), read)
        .await
        .map_err(|_| "timed out waiting for the room")??;
    Ok(())
}

async fn self_test() -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::bind("127.0.0.1:0", app())?;
    let base = format!("ws://{}/chat", server.local_addr());
    let stop = server.shutdown_handle();
    let running = tulip_executor::spawn(server.run());

    let names = ["alice", "bob", "carol"];
    let mut clients = Vec::new();
    for name in names {
        clients.push(join(&base, name).await?);
    }
    // Everyone was in the room once carol's arrival reached them.
    for ws in &mut clients {
        hear_until(ws, |line| line == "* carol joined").await?;
    }
    for (ws, name) in clients.iter_mut().zip(names) {
        ws.send_text(&format!("hello from {name}")).await?;
    }
    for (ws, name) in clients.iter_mut().zip(names) {
        let mut missing: Vec<String> = names
            .iter()
            .map(|n| format!("{n}: hello from {n}"))
            .collect();
        hear_until(ws, |line| {
            missing.retain(|m| m != line);
            missing.is_empty()
        })
        .await?;
        println!("{name} heard everyone");
    }
    stop.shutdown();
    for (ws, name) in clients.iter_mut().zip(names) {
        // Lines still in flight may come first; then the close.
        let code = loop {
            match ws.receive().await? {
                Message::Close(frame) => break frame.map(|f| f.code),
                _ => continue,
            }
        };
        println!("{name} was closed with {code:?}");
        if code != Some(CloseCode::GOING_AWAY) {
            return Err(format!("{name}: expected 1001, got {code:?}").into());
        }
    }
    running.await.map_err(|e| format!("{e:?}"))??;
    println!("ws_chat self-test passed");
    Ok(())
}

/// An interactive member: stdin lines go to the room, the room goes to stdout.
async fn client(name: &str, url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let (mut from_room, mut to_room) = join(url, name).await?.split();
    let printer = tulip_executor::spawn(async move {
        while let Ok(line) = from_room.receive_text().await {
            println!("{line}");
        }
    });
    // Stdin blocks, so it is read on a plain thread that hands lines over a bounded channel.
    let (lines_tx, mut lines) = tulip_sync::mpsc::bounded::<String>(16);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if futures_lite::future::block_on(lines_tx.send(line)).is_err() {
                return;
            }
        }
    });
    while let Some(line) = lines.recv().await {
        to_room.send_text(&line).await?;
    }
    to_room.close(CloseCode::NORMAL, "").await?;
    printer.await.map_err(|e| format!("{e:?}"))?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("server") => {
            let port: u16 = args.get(1).and_then(|p| p.parse().ok()).unwrap_or(8080);
            println!("chat room on ws://127.0.0.1:{port}/chat?name=NAME (Ctrl-C to stop)");
            app().run(("127.0.0.1", port))?;
            Ok(())
        }
        Some("client") => {
            let name = args.get(1).map_or("anonymous", String::as_str);
            let url = args
                .get(2)
                .map_or("ws://127.0.0.1:8080/chat", String::as_str);
            tulip_executor::run(client(name, url))
        }
        Some("--self-test") => tulip_executor::run(self_test()),
        _ => {
            eprintln!("usage: ws_chat server [PORT] | client NAME [URL] | --self-test");
            std::process::exit(2);
        }
    }
}
