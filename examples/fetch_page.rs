//! aiohttp's `fetch_page(url)`: GET a page with a client session and print its status and
//! body.
//!
//! Run: `cargo run -p examples --example fetch_page -- http://127.0.0.1:8080/tulip` (any
//! http:// or https:// URL the machine can reach). `--self-test` starts a tulip server on a
//! free loopback port, fetches a page from it and exits.

use std::time::Duration;

use tulip::http::{App, Client, Request, Server};

async fn fetch_page(client: &Client, url: &str) -> Result<String, tulip::http::Error> {
    let resp = client
        .get(url)
        .timeout(Some(Duration::from_secs(10)))
        .send()
        .await?;
    println!("{} {}", resp.status(), resp.url());
    resp.text().await
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let self_test = args.iter().any(|a| a == "--self-test");
    let url = args.iter().find(|a| !a.starts_with("--")).cloned();
    tulip::run(async move {
        let client = Client::new();
        if !self_test {
            let url = url.unwrap_or_else(|| "http://127.0.0.1:8080/".into());
            match fetch_page(&client, &url).await {
                Ok(body) => println!("{body}"),
                Err(e) => {
                    eprintln!("fetch failed: {e}");
                    std::process::exit(1);
                }
            }
            return;
        }
        let app = App::new().get("/{name}", |req: Request| async move {
            format!(
                "<html><body>Hello, {}</body></html>",
                req.match_info("name").unwrap_or("")
            )
        });
        let server = Server::bind("127.0.0.1:0", app).expect("bind");
        let url = format!("http://{}/page", server.local_addr());
        let stop = server.shutdown_handle();
        let running = tulip::spawn(server.run());
        let body = fetch_page(&client, &url).await.expect("fetch");
        println!("{body}");
        assert_eq!(body, "<html><body>Hello, page</body></html>");
        stop.shutdown();
        running.await.expect("server task").expect("server");
    });
}
