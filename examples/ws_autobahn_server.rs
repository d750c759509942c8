//! An echo WebSocket server for the Autobahn TestSuite's `fuzzingclient` mode.
//!
//! Run: `cargo run -p examples --example ws_autobahn_server -- [PORT]` (default 9001), then
//! point `wstest -m fuzzingclient` at `ws://127.0.0.1:PORT`. It echoes text and binary
//! messages, accepts permessage-deflate, and serves each connection on its own thread with
//! `tulip_reactor::block_on` until it is killed. `xtask/scripts/conformance.sh` drives it.

use std::net::TcpListener;

use tulip_reactor::Async;
use tulip_ws::{DeflateConfig, Message, ServerOptions};

fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(9001);
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    eprintln!("ws_autobahn_server listening on ws://127.0.0.1:{port}");
    let mut options = ServerOptions::default();
    options.config.deflate = Some(DeflateConfig::default());
    for conn in listener.incoming() {
        let Ok(stream) = conn else { continue };
        let options = options.clone();
        std::thread::spawn(move || {
            tulip_reactor::block_on(async move {
                let stream = Async::new(stream)?;
                let (mut ws, _) = tulip_ws::accept(stream, &options).await?;
                loop {
                    match ws.receive().await {
                        Ok(Message::Text(t)) => ws.send_text(&t).await?,
                        Ok(Message::Binary(b)) => ws.send_binary(&b).await?,
                        Ok(Message::Close(_)) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
                Ok::<_, tulip_ws::Error>(())
            })
            .ok();
        });
    }
    Ok(())
}
