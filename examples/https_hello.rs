//! aiohttp's hello server over HTTPS with gzip compression: `GET /{name}` → a greeting, and
//! `GET /story` → a long text that goes out gzip-compressed to clients that accept it.
//!
//! Run: `cargo run -p examples --example https_hello`, then
//! `curl -k --compressed https://127.0.0.1:8443/story` (the certificate is a fresh self-signed
//! one for `localhost`, hence `-k`). With `--self-test` it serves on a free port, requests
//! itself through tulip's client (trusting only that certificate) and exits:
//!
//! ```text
//! GET /tulip  -> 200 Hello over TLS, tulip
//! GET /story  -> 200 content-encoding: gzip, 4 KiB story in 78 bytes on the wire
//! GET /story  -> 200 decoded by the client: 4096 bytes
//! ```

use tulip_http::{App, Client, Request, Response, Server, ServerConfig};
use tulip_tls::{TlsAcceptor, TlsConnector, pem};

async fn hello(req: Request) -> String {
    let name = req.match_info_decoded("name").unwrap_or("Anonymous".into());
    format!("Hello over TLS, {name}")
}

async fn story(_req: Request) -> Response {
    let text = "Tulip was asyncio's code name. ".repeat(140);
    Response::text(text[..4096].to_string())
}

fn server(addr: &str) -> Result<(Server, String), Box<dyn std::error::Error>> {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
    let acceptor = TlsAcceptor::from_pem(cert_pem.as_bytes(), key_pem.as_bytes())?;
    let app = App::new().get("/story", story).get("/{name}", hello);
    // Compress every compressible response of 1 KiB or more for clients that accept gzip.
    let mut config = ServerConfig::default();
    config.compression = true;
    let mut server = Server::unbound(app, config)?;
    server.listen_tls(addr, acceptor)?;
    Ok((server, cert_pem))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if !std::env::args().any(|a| a == "--self-test") {
        let (server, _) = server("127.0.0.1:8443")?;
        println!("serving https://127.0.0.1:8443/ (self-signed for localhost; Ctrl-C stops)");
        return Ok(tulip_executor::run(server.run())?);
    }
    tulip_executor::run(async {
        let (server, cert_pem) = server("127.0.0.1:0")?;
        let port = server.local_addr().port();
        let stop = server.shutdown_handle();
        let running = tulip_executor::spawn(server.run());
        let tls = TlsConnector::builder()
            .root_store(pem::root_store_from_pem(cert_pem.as_bytes())?)
            .build()?;
        let base = format!("https://localhost:{port}");

        let client = Client::builder().tls(tls.clone()).build();
        let r = client.get(format!("{base}/tulip")).send().await?;
        let status = r.status();
        println!("GET /tulip  -> {} {}", status.as_u16(), r.text().await?);

        // Without decoding: the wire form.
        let raw = Client::builder().tls(tls).decompress(false).build();
        let r = raw
            .get(format!("{base}/story"))
            .header("accept-encoding", "gzip")
            .send()
            .await?;
        let (status, enc) = (r.status(), r.headers().get("content-encoding").cloned());
        let wire = r.bytes().await?.len();
        let enc = enc.map(|v| v.to_str().unwrap_or("?").to_string());
        println!(
            "GET /story  -> {} content-encoding: {}, 4 KiB story in {wire} bytes on the wire",
            status.as_u16(),
            enc.as_deref().unwrap_or("none")
        );
        if enc.as_deref() != Some("gzip") || wire >= 4096 {
            return Err("the story was not compressed".into());
        }

        // With decoding (the default): the client undoes the gzip.
        let text = client
            .get(format!("{base}/story"))
            .send()
            .await?
            .text()
            .await?;
        println!(
            "GET /story  -> 200 decoded by the client: {} bytes",
            text.len()
        );
        if text.len() != 4096 || !text.starts_with("Tulip was") {
            return Err("decoded story differs".into());
        }
        stop.shutdown();
        running.await.map_err(|e| format!("{e:?}"))??;
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}
