//! A TCP line-echo server and client written with streams (asyncio's `start_server` and
//! `open_connection`).
//!
//! - `cargo run -p examples --example tcp_echo_streams -- server [ADDR]` serves on ADDR
//!   (default 127.0.0.1:8888) until interrupted; try `nc 127.0.0.1 8888`.
//! - `cargo run -p examples --example tcp_echo_streams -- client [ADDR]` sends three lines and
//!   prints the echoes.
//! - `cargo run -p examples --example tcp_echo_streams -- --self-test` starts the server on a
//!   free port, runs the client against it, checks the echoes, closes the server and exits 0
//!   after printing `self-test ok`.

use std::io;
use std::net::SocketAddr;

use tulip_net::{Server, StreamReader, StreamWriter, open_connection, start_server};

const LINES: [&str; 3] = ["hello\n", "from tulip\n", "goodbye\n"];

/// Echoes lines until the client closes; each reply is drained before the next read, so a
/// client that stops reading stalls only its own connection.
async fn handle(mut reader: StreamReader, mut writer: StreamWriter) {
    let peer = writer
        .peer_addr()
        .map(ToString::to_string)
        .unwrap_or_default();
    println!("[server] {peer} connected");
    loop {
        match reader.read_line().await {
            Ok(line) if line.is_empty() => break,
            Ok(line) => {
                writer.write(&line);
                if let Err(e) = writer.drain().await {
                    println!("[server] {peer}: {e}");
                    return;
                }
            }
            Err(e) => {
                println!("[server] {peer}: {e}");
                return;
            }
        }
    }
    let _ = writer.wait_closed().await;
    println!("[server] {peer} closed");
}

fn serve(addr: SocketAddr) -> io::Result<Server> {
    let server = start_server(handle, addr)?;
    println!("[server] listening on {}", server.local_addrs()[0]);
    Ok(server)
}

async fn client(host: &str, port: u16) -> io::Result<()> {
    let (mut reader, mut writer) = open_connection(host, port).await?;
    for line in LINES {
        writer.write(line.as_bytes());
        writer.drain().await?;
        let echo = reader.read_line().await?;
        println!(
            "[client] echoed: {}",
            String::from_utf8_lossy(&echo).trim_end()
        );
        if echo != line.as_bytes() {
            return Err(io::Error::other(format!("bad echo {echo:?}")));
        }
    }
    writer.close();
    writer.wait_closed().await?;
    Ok(())
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr: SocketAddr = args
        .get(1)
        .map_or("127.0.0.1:8888", String::as_str)
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{e}")))?;
    match args.first().map(String::as_str) {
        Some("server") => tulip_executor::run(async {
            serve(addr)?.serve_forever().await;
            Ok(())
        }),
        Some("client") => tulip_executor::run(client(&addr.ip().to_string(), addr.port())),
        Some("--self-test") => tulip_executor::run(async {
            let server = serve("127.0.0.1:0".parse().unwrap())?;
            let port = server.local_addr().expect("an IP server").port();
            tulip_reactor::timeout(
                std::time::Duration::from_secs(10),
                client("localhost", port),
            )
            .await??;
            server.close();
            server.wait_closed().await;
            println!("self-test ok");
            Ok(())
        }),
        _ => {
            eprintln!("usage: tcp_echo_streams (server [ADDR] | client [ADDR] | --self-test)");
            Err(io::ErrorKind::InvalidInput.into())
        }
    }
}
