//! Middleware in the aiohttp style: a timing/logging layer around every request, an auth layer
//! that short-circuits with 401, and an error-page layer that rewrites 404s.
//!
//! Run: `cargo run -p examples --example http_middleware` (serves on 127.0.0.1:8081), or with
//! `--self-test` to request itself and exit. Expected self-test output:
//!
//! ```text
//! GET /public          -> 200 public page
//! GET /private         -> 401 who are you?
//! GET /private (token) -> 200 secret page
//! GET /missing         -> 404 <h1>Nothing here</h1>
//! ```

use std::time::Instant;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use tulip_http::{App, HeaderName, HeaderValue, Next, Request, Response, Server, StatusCode};

/// Outermost: measures every request and adds a header.
async fn timing(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let path = req.path().to_string();
    let resp = next.run(req).await;
    let us = start.elapsed().as_micros();
    eprintln!("{path} -> {} in {us} us", resp.status().as_u16());
    resp.with_header(
        HeaderName::from_static("x-elapsed-us"),
        HeaderValue::from(us as u64),
    )
}

/// Replaces bare 404s with an HTML error page.
async fn error_pages(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    if resp.status() == StatusCode::NOT_FOUND {
        return Response::html("<h1>Nothing here</h1>").with_status(StatusCode::NOT_FOUND);
    }
    resp
}

/// Only for `/private`: short-circuits without calling the handler.
async fn auth(req: Request, next: Next) -> Response {
    if req.header("authorization") == Some("Bearer tulip") {
        next.run(req).await
    } else {
        Response::text("who are you?").with_status(StatusCode::UNAUTHORIZED)
    }
}

fn app() -> App {
    let private = App::new()
        .middleware(auth)
        .get("/", |_req: Request| async { "secret page" });
    App::new()
        .middleware(timing)
        .middleware(error_pages)
        .get("/public", |_req: Request| async { "public page" })
        .subapp("/private", private)
}

async fn get(
    addr: std::net::SocketAddr,
    path: &str,
    extra: &str,
) -> std::io::Result<(String, String)> {
    let mut conn = tulip_reactor::Async::new(std::net::TcpStream::connect(addr)?)?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}Connection: close\r\n\r\n");
    conn.write_all(req.as_bytes()).await?;
    let mut reply = String::new();
    conn.read_to_string(&mut reply).await?;
    let status = reply.split(' ').nth(1).unwrap_or("?").to_string();
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if !std::env::args().any(|a| a == "--self-test") {
        println!("serving on http://127.0.0.1:8081 (Ctrl-C to stop)");
        app().run("127.0.0.1:8081")?;
        return Ok(());
    }
    tulip_executor::run(async {
        let server = Server::bind("127.0.0.1:0", app())?;
        let addr = server.local_addr();
        let stop = server.shutdown_handle();
        let running = tulip_executor::spawn(server.run());
        let cases = [
            ("/public", "", "/public", "200"),
            ("/private", "", "/private", "401"),
            (
                "/private",
                "Authorization: Bearer tulip\r\n",
                "/private (token)",
                "200",
            ),
            ("/missing", "", "/missing", "404"),
        ];
        for (path, extra, label, want) in cases {
            let (status, body) = get(addr, path, extra).await?;
            println!("GET {label:<16} -> {status} {body}");
            if status != want {
                return Err(format!("{label}: expected {want}, got {status}").into());
            }
        }
        stop.shutdown();
        running.await.map_err(|e| format!("{e:?}"))??;
        Ok(())
    })
}
