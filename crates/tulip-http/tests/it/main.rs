//! tulip-http's integration tests: real loopback sockets, raw requests, curl and aiohttp.

mod access_log;
mod aiohttp_peer;
mod basic;
mod body_errors;
mod client;
mod client_auth;
#[cfg(all(feature = "gzip", feature = "json"))]
mod client_bodies;
mod client_cookies;
mod client_timeouts;
#[cfg(feature = "gzip")]
mod compress;
mod cookies;
mod errors;
mod faults_client;
mod faults_server;
mod file_response;
mod h2_client;
mod h2_defences;
mod h2_peers;
mod lifecycle;
mod malformed;
mod multipart;
mod peers;
mod prop;
#[cfg(feature = "tls")]
mod proxy;
mod routing;
mod sendfile;
#[cfg(feature = "tls")]
mod serving;
mod shutdown;
mod support;
mod timeouts;
#[cfg(feature = "tls")]
mod tls_trust;
#[cfg(feature = "tracing")]
mod tracing_spans;
mod upgrade;

use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt, StreamExt};
use tulip_http::{App, HeaderValue, IntoResponse, Next, Request, Response, StatusCode, header};

async fn hello(req: Request) -> String {
    format!("Hello, {}", req.match_info("name").unwrap_or("World!"))
}

async fn echo(mut req: Request) -> Result<Response, tulip_http::Error> {
    let body = req.bytes().await?;
    Ok(Response::bytes(body))
}

/// Counts the body piece by piece, never holding it whole; answers `bytes pieces`.
async fn count(mut req: Request) -> Result<String, tulip_http::Error> {
    let mut body = req.take_body();
    let (mut n, mut pieces, mut largest) = (0u64, 0u64, 0usize);
    while let Some(piece) = body.next().await {
        let piece = piece?;
        n += piece.len() as u64;
        largest = largest.max(piece.len());
        pieces += 1;
    }
    Ok(format!("{n} {pieces} {largest}"))
}

async fn stream_echo(mut req: Request) -> Response {
    let mut body = req.take_body();
    Response::streaming(move |mut w| async move {
        while let Some(piece) = body.next().await {
            w.write(piece?).await?;
        }
        Ok(())
    })
}

async fn slow(_req: Request) -> &'static str {
    // A slow handler is what the tests of this route are about.
    tulip_reactor::sleep(Duration::from_millis(400)).await;
    "slow done"
}

async fn upgrade(mut req: Request) -> Response {
    let Some(on_upgrade) = req.on_upgrade() else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    tulip_executor::spawn(async move {
        let Ok(mut io) = on_upgrade.await else { return };
        let mut buf = [0u8; 64];
        while let Ok(n) = io.read(&mut buf).await {
            if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    })
    .detach();
    Response::new(StatusCode::SWITCHING_PROTOCOLS)
        .with_header(header::UPGRADE, HeaderValue::from_static("echo"))
        .with_header(header::CONNECTION, HeaderValue::from_static("upgrade"))
}

/// The app most tests run against.
pub(crate) fn test_app() -> App {
    App::new()
        .get("/", hello)
        .get("/{name}", hello)
        .post("/echo", echo)
        .route_with_limit(tulip_http::Method::POST, "/count", u64::MAX, count)
        .put("/stream-echo", stream_echo)
        .get("/json", |_req: Request| async {
            Response::json(&serde_json_like())
        })
        .get("/stream", |_req: Request| async {
            Response::streaming(|mut w| async move {
                for i in 0..3 {
                    w.write(format!("piece {i};")).await?;
                }
                Ok(())
            })
        })
        .get("/slow", slow)
        .get("/panic", |_req: Request| async {
            if true {
                panic!("handler panic (expected by a test)");
            }
            "unreachable"
        })
        .get("/upgrade", upgrade)
        .subapp(
            "/admin",
            App::new()
                .middleware(|req: Request, next: Next| async move {
                    if req.header("x-token") == Some("secret") {
                        next.run(req).await
                    } else {
                        StatusCode::UNAUTHORIZED.into_response()
                    }
                })
                .get("/", |_req: Request| async { "admin home" }),
        )
}

fn serde_json_like() -> std::collections::BTreeMap<&'static str, &'static str> {
    [("message", "Hello, World!")].into_iter().collect()
}
