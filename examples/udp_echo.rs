//! A UDP echo server (a `DatagramProtocol`, asyncio's `create_datagram_endpoint`) and a client
//! on a plain `UdpSocket`.
//!
//! - `cargo run -p examples --example udp_echo -- server [ADDR]` serves on ADDR (default
//!   127.0.0.1:9999) until interrupted; try `nc -u 127.0.0.1 9999`.
//! - `cargo run -p examples --example udp_echo -- client [ADDR]` sends three datagrams and
//!   prints the echoes (giving up after a second per datagram: UDP may drop).
//! - `cargo run -p examples --example udp_echo -- --self-test` does both on a free port and
//!   exits 0 after printing `self-test ok`.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tulip_net::{DatagramProtocol, DatagramTransport, UdpSocket, create_datagram_endpoint};

struct Echo {
    transport: Option<DatagramTransport>,
}

impl DatagramProtocol for Echo {
    fn connection_made(&mut self, transport: DatagramTransport) {
        self.transport = Some(transport);
    }

    fn datagram_received(&mut self, data: &[u8], from: SocketAddr) {
        println!("[server] {} bytes from {from}", data.len());
        if let Some(t) = &self.transport {
            t.send_to(data, Some(from));
        }
    }

    fn error_received(&mut self, error: io::Error) {
        println!("[server] error: {error}");
    }
}

async fn client(server: SocketAddr) -> io::Result<()> {
    let local: SocketAddr = if server.is_ipv4() {
        "127.0.0.1:0"
    } else {
        "[::1]:0"
    }
    .parse()
    .unwrap();
    let sock = UdpSocket::bind(local)?;
    sock.connect(server)?;
    let mut buf = [0u8; 1500];
    for msg in ["ping 1", "ping 2", "ping 3"] {
        sock.send(msg.as_bytes()).await?;
        let n = tulip_reactor::timeout(Duration::from_secs(1), sock.recv(&mut buf)).await??;
        println!("[client] echoed: {}", String::from_utf8_lossy(&buf[..n]));
        if &buf[..n] != msg.as_bytes() {
            return Err(io::Error::other("echo differs"));
        }
    }
    Ok(())
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr: SocketAddr = args
        .get(1)
        .map_or("127.0.0.1:9999", String::as_str)
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{e}")))?;
    match args.first().map(String::as_str) {
        Some("server") => tulip_executor::run(async {
            let t = create_datagram_endpoint(|| Echo { transport: None }, Some(addr), None)?;
            println!("[server] listening on {}", t.local_addr()?);
            t.wait_closed().await;
            Ok(())
        }),
        Some("client") => tulip_executor::run(client(addr)),
        Some("--self-test") => tulip_executor::run(async {
            let t = create_datagram_endpoint(
                || Echo { transport: None },
                Some("127.0.0.1:0".parse().unwrap()),
                None,
            )?;
            client(t.local_addr()?).await?;
            t.close();
            t.wait_closed().await;
            println!("self-test ok");
            Ok(())
        }),
        _ => {
            eprintln!("usage: udp_echo (server [ADDR] | client [ADDR] | --self-test)");
            Err(io::ErrorKind::InvalidInput.into())
        }
    }
}
