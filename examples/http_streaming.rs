//! A streaming response (aiohttp's `StreamResponse`): the handler writes pieces with
//! backpressure and the client receives them as they are produced (chunked encoding); plus a
//! server-sent events endpoint.
//!
//! Run: `cargo run -p examples --example http_streaming` (127.0.0.1:8083; try
//! `curl -N http://127.0.0.1:8083/count` and `/events`), or with `--self-test` to read both
//! endpoints once and exit. Expected self-test output:
//!
//! ```text
//! /count  -> 5 pieces: 1 2 3 4 5
//! /events -> 3 events
//! ```

use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use tulip_http::{App, Request, Response, Server};

async fn count(_req: Request) -> Response {
    Response::streaming(|mut w| async move {
        for i in 1..=5 {
            w.write(format!("{i}\n")).await?;
            tulip_reactor::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    })
}

async fn events(_req: Request) -> Response {
    Response::sse(|mut tx| async move {
        for i in 0..3 {
            tx.send(Some("tick"), &format!("{{\"n\": {i}}}")).await?;
            tulip_reactor::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    })
}

fn app() -> App {
    App::new().get("/count", count).get("/events", events)
}

/// Reads a whole chunked reply and returns the de-chunked body.
async fn get(addr: std::net::SocketAddr, path: &str) -> Result<String, Box<dyn std::error::Error>> {
    let mut conn = tulip_reactor::Async::new(std::net::TcpStream::connect(addr)?)?;
    conn.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut reply = String::new();
    conn.read_to_string(&mut reply).await?;
    let (head, mut rest) = reply.split_once("\r\n\r\n").ok_or("no head")?;
    if !head.contains("transfer-encoding: chunked") {
        return Err("not chunked".into());
    }
    let mut body = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n").ok_or("bad chunk")?;
        let size = usize::from_str_radix(size, 16)?;
        if size == 0 {
            return Ok(body);
        }
        body.push_str(after.get(..size).ok_or("short chunk")?);
        rest = after.get(size + 2..).ok_or("short chunk")?;
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if !std::env::args().any(|a| a == "--self-test") {
        println!("serving on http://127.0.0.1:8083 (Ctrl-C to stop)");
        app().run("127.0.0.1:8083")?;
        return Ok(());
    }
    tulip_executor::run(async {
        let server = Server::bind("127.0.0.1:0", app())?;
        let addr = server.local_addr();
        let stop = server.shutdown_handle();
        let running = tulip_executor::spawn(server.run());
        let counted = get(addr, "/count").await?;
        let pieces: Vec<&str> = counted.lines().collect();
        println!("/count  -> {} pieces: {}", pieces.len(), pieces.join(" "));
        let events = get(addr, "/events").await?;
        let n = events.matches("event: tick").count();
        println!("/events -> {n} events");
        stop.shutdown();
        running.await.map_err(|e| format!("{e:?}"))??;
        if pieces.len() != 5 || n != 3 {
            return Err("unexpected stream".into());
        }
        Ok(())
    })
}
