//! An echo WebSocket client for the Autobahn TestSuite's `fuzzingserver` mode.
//!
//! Run `wstest -m fuzzingserver` first, then
//! `cargo run -p examples --example ws_autobahn_client -- [ws://127.0.0.1:9001] [AGENT]`.
//! It asks `/getCaseCount`, runs every case with `/runCase?case=N&agent=AGENT` (echoing text
//! and binary messages, permessage-deflate offered), then asks `/updateReports` and exits.
//! `xtask/scripts/conformance.sh` drives it.

use std::net::TcpStream;

use tulip_reactor::Async;
use tulip_ws::{ClientOptions, DeflateConfig, Message, WebSocket};

type Ws = WebSocket<Async<TcpStream>>;

async fn connect(base: &str, path: &str, options: &ClientOptions) -> Result<Ws, tulip_ws::Error> {
    let host = base.trim_start_matches("ws://").trim_end_matches('/');
    let stream = Async::<TcpStream>::connect(
        host.parse::<std::net::SocketAddr>()
            .map_err(std::io::Error::other)?,
    )
    .await?;
    let (ws, _) = tulip_ws::client_handshake(stream, &format!("{base}{path}"), options).await?;
    Ok(ws)
}

fn main() -> Result<(), tulip_ws::Error> {
    let base = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let agent = std::env::args().nth(2).unwrap_or_else(|| "tulip-ws".into());
    let mut options = ClientOptions::default();
    // Offering client_no_context_takeover lets the suite's 13.x cases pick every variant.
    options.config.deflate = Some(DeflateConfig {
        client_no_context_takeover: true,
        ..DeflateConfig::default()
    });
    tulip_reactor::block_on(async {
        let mut ws = connect(&base, "/getCaseCount", &options).await?;
        let count: u32 = ws.receive_text().await?.trim().parse().unwrap_or(0);
        let _ = ws.close(tulip_ws::CloseCode::NORMAL, "").await;
        eprintln!("running {count} cases as agent {agent}");
        for case in 1..=count {
            let path = format!("/runCase?case={case}&agent={agent}");
            let mut ws = match connect(&base, &path, &options).await {
                Ok(ws) => ws,
                Err(e) => {
                    eprintln!("case {case}: {e}");
                    continue;
                }
            };
            loop {
                match ws.receive().await {
                    Ok(Message::Text(t)) => {
                        if ws.send_text(&t).await.is_err() {
                            break;
                        }
                    }
                    Ok(Message::Binary(b)) => {
                        if ws.send_binary(&b).await.is_err() {
                            break;
                        }
                    }
                    Ok(Message::Close(_)) => {}
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        }
        let mut ws = connect(&base, &format!("/updateReports?agent={agent}"), &options).await?;
        let _ = ws.close(tulip_ws::CloseCode::NORMAL, "").await;
        eprintln!("reports updated");
        Ok(())
    })
}
