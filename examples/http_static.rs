//! A static file server: ETag / Last-Modified, conditional GETs (304), Range requests (206) and
//! no path traversal.
//!
//! Run: `cargo run -p examples --example http_static -- DIR` serves DIR on 127.0.0.1:8082 at
//! `/static/`. With `--self-test` it serves a temporary directory, fetches a file whole, by range
//! and conditionally, tries a traversal, prints the statuses and exits:
//!
//! ```text
//! GET /static/hello.txt                 -> 200 "hello, static world"
//! GET /static/hello.txt (Range 0-4)     -> 206 "hello"
//! GET /static/hello.txt (If-None-Match) -> 304 ""
//! GET /static/../Cargo.toml             -> 404
//! ```

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use tulip_http::{App, Server};

async fn get(addr: std::net::SocketAddr, path: &str, extra: &str) -> std::io::Result<String> {
    let mut conn = tulip_reactor::Async::new(std::net::TcpStream::connect(addr)?)?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}Connection: close\r\n\r\n");
    conn.write_all(req.as_bytes()).await?;
    let mut reply = String::new();
    conn.read_to_string(&mut reply).await?;
    Ok(reply)
}

fn parts(reply: &str) -> (&str, &str, Option<&str>) {
    let status = reply.split(' ').nth(1).unwrap_or("?");
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((reply, ""));
    let etag = head.lines().find_map(|l| l.strip_prefix("etag: "));
    (status, body, etag)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--self-test") {
        let dir = args.first().cloned().unwrap_or_else(|| ".".into());
        println!("serving {dir} on http://127.0.0.1:8082/static/ (Ctrl-C to stop)");
        App::new()
            .static_dir("/static", dir)
            .run("127.0.0.1:8082")?;
        return Ok(());
    }
    let dir =
        std::env::temp_dir().join(format!("tulip-http-static-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("hello.txt"), "hello, static world")?;
    let result = tulip_executor::run(async {
        let server = Server::bind("127.0.0.1:0", App::new().static_dir("/static", &dir))?;
        let addr = server.local_addr();
        let stop = server.shutdown_handle();
        let running = tulip_executor::spawn(server.run());
        let full = get(addr, "/static/hello.txt", "").await?;
        let (status, body, etag) = parts(&full);
        println!("GET /static/hello.txt                 -> {status} {body:?}");
        let etag = etag.ok_or("no etag")?.to_string();
        let ranged = get(addr, "/static/hello.txt", "Range: bytes=0-4\r\n").await?;
        let (rs, rb, _) = parts(&ranged);
        println!("GET /static/hello.txt (Range 0-4)     -> {rs} {rb:?}");
        let cond = get(
            addr,
            "/static/hello.txt",
            &format!("If-None-Match: {etag}\r\n"),
        )
        .await?;
        let (cs, cb, _) = parts(&cond);
        println!("GET /static/hello.txt (If-None-Match) -> {cs} {cb:?}");
        let evil = get(addr, "/static/../Cargo.toml", "").await?;
        let (es, _, _) = parts(&evil);
        println!("GET /static/../Cargo.toml             -> {es}");
        stop.shutdown();
        running.await.map_err(|e| format!("{e:?}"))??;
        if (status, rs, rb, cs, es) != ("200", "206", "hello", "304", "404") {
            return Err("unexpected answers".into());
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    });
    let _ = std::fs::remove_dir_all(&dir);
    result
}
