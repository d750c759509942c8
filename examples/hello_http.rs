//! aiohttp's hello server, tulip's main demo: `GET /` → "Hello, Anonymous", `GET /{name}` →
//! "Hello, {name}".
//!
//! Run: `cargo run -p examples --example hello_http` and open http://127.0.0.1:8080/tulip
//! (Ctrl-C stops it). With `--self-test` it serves on a free port, requests itself a couple of
//! times, prints the answers and exits:
//!
//! ```text
//! GET /       -> 200 Hello, Anonymous
//! GET /tulip  -> 200 Hello, tulip
//! ```

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use tulip_http::{App, Request, Server};

async fn handle(req: Request) -> String {
    let name = req.match_info_decoded("name").unwrap_or("Anonymous".into());
    format!("Hello, {name}")
}

fn app() -> App {
    App::new().get("/", handle).get("/{name}", handle)
}

/// One request over a fresh loopback connection; returns the status line's code and the body.
async fn get(addr: std::net::SocketAddr, path: &str) -> std::io::Result<(String, String)> {
    let mut conn = tulip_reactor::Async::new(std::net::TcpStream::connect(addr)?)?;
    conn.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
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
    if std::env::args().any(|a| a == "--self-test") {
        return tulip_executor::run(async {
            let server = Server::bind("127.0.0.1:0", app())?;
            let addr = server.local_addr();
            let stop = server.shutdown_handle();
            let running = tulip_executor::spawn(server.run());
            for path in ["/", "/tulip"] {
                let (status, body) = get(addr, path).await?;
                println!("GET {path:<7} -> {status} {body}");
                if status != "200" {
                    return Err(format!("unexpected status {status}").into());
                }
            }
            stop.shutdown();
            running.await.map_err(|e| format!("{e:?}"))??;
            Ok(())
        });
    }
    println!("serving on http://127.0.0.1:8080 (Ctrl-C to stop)");
    app().run("127.0.0.1:8080")?;
    Ok(())
}
