//! A TCP echo server and client written with transports and protocols (asyncio's
//! `create_server` / `create_connection`), the callback API and tulip's fastest path.
//!
//! - `cargo run -p examples --example tcp_echo_protocol -- server [ADDR]` serves on ADDR
//!   (default 127.0.0.1:8889) until interrupted.
//! - `cargo run -p examples --example tcp_echo_protocol -- client [ADDR]` sends a message,
//!   half-closes, prints the echo and exits.
//! - `cargo run -p examples --example tcp_echo_protocol -- --self-test` does both on a free
//!   port and exits 0 after printing `self-test ok`.

use std::io;
use std::net::SocketAddr;
use std::sync::mpsc;

use tulip_net::{Protocol, Transport, create_connection, create_server};

/// The server side: writes back every byte; on the client's end of stream, finishes writing
/// and closes (asyncio's default when `eof_received` returns false).
struct EchoServer {
    transport: Option<Transport>,
}

impl Protocol for EchoServer {
    fn connection_made(&mut self, transport: Transport) {
        if let Ok(peer) = transport.peer_addr() {
            println!("[server] connection from {peer}");
        }
        self.transport = Some(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        if let Some(t) = &self.transport {
            t.write(data);
        }
    }

    fn connection_lost(&mut self, error: Option<io::Error>) {
        println!(
            "[server] connection closed ({})",
            error.map_or("cleanly".into(), |e| e.to_string())
        );
    }

    // Flow control: a client that stops reading makes the server stop reading from it too,
    // so its echo buffer stays bounded.
    fn pause_writing(&mut self) {
        if let Some(t) = &self.transport {
            t.pause_reading();
        }
    }

    fn resume_writing(&mut self) {
        if let Some(t) = &self.transport {
            t.resume_reading();
        }
    }
}

/// The client side: sends a message, half-closes, collects the echo, reports it when the
/// connection ends.
struct EchoClient {
    message: &'static [u8],
    received: Vec<u8>,
    done: Option<mpsc::Sender<io::Result<Vec<u8>>>>,
}

impl Protocol for EchoClient {
    fn connection_made(&mut self, transport: Transport) {
        transport.write(self.message);
        transport.write_eof();
    }

    fn data_received(&mut self, data: &[u8]) {
        self.received.extend_from_slice(data);
    }

    fn eof_received(&mut self) -> bool {
        false
    }

    fn connection_lost(&mut self, error: Option<io::Error>) {
        let result = match error {
            None => Ok(std::mem::take(&mut self.received)),
            Some(e) => Err(e),
        };
        if let Some(tx) = self.done.take() {
            let _ = tx.send(result);
        }
    }
}

async fn client(host: &str, port: u16) -> io::Result<()> {
    let message: &'static [u8] = b"Hello, protocol world!";
    let (tx, rx) = mpsc::channel();
    let transport = create_connection(
        move || EchoClient {
            message,
            received: Vec::new(),
            done: Some(tx),
        },
        host,
        port,
    )
    .await?;
    transport.wait_closed().await;
    let echo = rx.recv().map_err(io::Error::other)??;
    println!("[client] echoed: {}", String::from_utf8_lossy(&echo));
    if echo != message {
        return Err(io::Error::other("echo differs"));
    }
    Ok(())
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr: SocketAddr = args
        .get(1)
        .map_or("127.0.0.1:8889", String::as_str)
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{e}")))?;
    let factory = || EchoServer { transport: None };
    match args.first().map(String::as_str) {
        Some("server") => tulip_executor::run(async {
            let server = create_server(factory, addr)?;
            println!("[server] listening on {}", server.local_addrs()[0]);
            server.serve_forever().await;
            Ok(())
        }),
        Some("client") => tulip_executor::run(client(&addr.ip().to_string(), addr.port())),
        Some("--self-test") => tulip_executor::run(async {
            let server = create_server(factory, "127.0.0.1:0".parse().unwrap())?;
            let port = server.local_addr().expect("an IP server").port();
            tulip_reactor::timeout(
                std::time::Duration::from_secs(10),
                client("127.0.0.1", port),
            )
            .await??;
            server.close();
            server.wait_closed().await;
            println!("self-test ok");
            Ok(())
        }),
        _ => {
            eprintln!("usage: tcp_echo_protocol (server [ADDR] | client [ADDR] | --self-test)");
            Err(io::ErrorKind::InvalidInput.into())
        }
    }
}
