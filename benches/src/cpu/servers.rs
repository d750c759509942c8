//! The child side of the CPU benchmarks: each server (tulip's and its peer's) on a
//! one-worker runtime in a background thread, and the two HTTP clients. `serve` also starts
//! the floor servers of `floor`, which run on a plain thread with no runtime.
//!
//! The echo servers are the plainest correct ones each stack offers: a task per connection
//! that reads into a buffer and writes back what it read.

use std::net::SocketAddr;
use std::sync::Arc;

use futures_lite::{AsyncReadExt, AsyncWriteExt};

/// A one-worker tulip runtime, kept for the child's life.
fn tulip_rt() -> tulip_executor::Runtime {
    tulip_executor::runtime::Builder::new()
        .worker_threads(1)
        .build()
        .expect("tulip runtime")
}

/// A one-worker tokio runtime, kept for the child's life.
fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Starts the server `kind` names and returns its address.
pub(super) fn serve(kind: &str) -> SocketAddr {
    match kind {
        "http-tulip" => crate::http::TulipServer::start().addr,
        "http-hyper" => crate::http::HyperServer::start().addr,
        "file-tulip" => crate::http::files::start_tulip(&crate::http::files::dir(), true).0,
        "file-tulip-read" => crate::http::files::start_tulip(&crate::http::files::dir(), false).0,
        "file-hyper" => crate::http::files::start_hyper(crate::http::files::dir()),
        "tcp-tulip" => tcp_tulip(),
        "tcp-tokio" => tcp_tokio(),
        "udp-tulip" => udp_tulip(),
        "udp-tokio" => udp_tokio(),
        "ws-tulip" => ws_tulip(),
        "ws-tokio" => ws_tokio(),
        "tls-tulip" => tls_tulip(),
        "tls-tokio" => tls_tokio(),
        "tcp-floor-epoll" => super::floor::epoll(super::floor::Answer::Echo),
        "tcp-floor-uring" => super::floor::uring(super::floor::Answer::Echo),
        "http-floor-epoll" => super::floor::epoll(super::floor::Answer::Http),
        "http-floor-uring" => super::floor::uring(super::floor::Answer::Http),
        other => panic!("unknown CPU benchmark server {other}"),
    }
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn bind() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind")
}

fn tcp_tulip() -> SocketAddr {
    let rt = tulip_rt();
    let listener = rt
        .block_on(async { tulip_net::TcpListener::bind(loopback()).await })
        .expect("bind");
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        rt.block_on(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let _ = s.set_nodelay(true);
                tulip_executor::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n @ 1..) = s.read(&mut buf).await {
                        if s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                })
                .detach();
            }
        })
    });
    addr
}

fn tcp_tokio() -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio_rt();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        rt.block_on(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let _ = s.set_nodelay(true);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n @ 1..) = s.read(&mut buf).await {
                        if s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        })
    });
    addr
}

fn udp_tulip() -> SocketAddr {
    let rt = tulip_rt();
    let sock = rt
        .block_on(async { tulip_net::UdpSocket::bind(loopback()) })
        .expect("bind");
    let addr = sock.local_addr().unwrap();
    std::thread::spawn(move || {
        rt.block_on(async move {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok((n, from)) = sock.recv_from(&mut buf).await {
                let _ = sock.send_to(&buf[..n], from).await;
            }
        })
    });
    addr
}

fn udp_tokio() -> SocketAddr {
    let rt = tokio_rt();
    let sock = rt
        .block_on(tokio::net::UdpSocket::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = sock.local_addr().unwrap();
    std::thread::spawn(move || {
        rt.block_on(async move {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok((n, from)) = sock.recv_from(&mut buf).await {
                let _ = sock.send_to(&buf[..n], from).await;
            }
        })
    });
    addr
}

fn ws_tulip() -> SocketAddr {
    use tulip_reactor::Async;
    use tulip_ws::{Message, ServerOptions};
    let rt = tulip_rt();
    let listener = bind();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        rt.block_on(async move {
            let listener = Async::new(listener).unwrap();
            while let Ok((s, _)) = listener.read_with(|l| l.accept()).await {
                let _ = s.set_nodelay(true);
                tulip_executor::spawn(async move {
                    let Ok(s) = Async::new(s) else { return };
                    let Ok((mut ws, _)) = tulip_ws::accept(s, &ServerOptions::default()).await
                    else {
                        return;
                    };
                    loop {
                        let sent = match ws.receive().await {
                            Ok(Message::Binary(b)) => ws.send_binary(&b).await,
                            Ok(Message::Text(t)) => ws.send_text(&t).await,
                            Ok(Message::Close(_)) | Err(_) => break,
                            Ok(_) => Ok(()),
                        };
                        if sent.is_err() {
                            break;
                        }
                    }
                })
                .detach();
            }
        })
    });
    addr
}

fn ws_tokio() -> SocketAddr {
    use futures_util::{SinkExt, StreamExt};
    let rt = tokio_rt();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        rt.block_on(async move {
            while let Ok((s, _)) = listener.accept().await {
                let _ = s.set_nodelay(true);
                tokio::spawn(async move {
                    let Ok(mut ws) = tokio_tungstenite::accept_async(s).await else {
                        return;
                    };
                    while let Some(Ok(m)) = ws.next().await {
                        if (m.is_binary() || m.is_text()) && ws.send(m).await.is_err() {
                            break;
                        }
                    }
                });
            }
        })
    });
    addr
}

/// The server configuration both TLS servers use: an ECDSA P-256 certificate for
/// `localhost`, TLS 1.3, full handshakes only (no tickets).
fn tls_config() -> Arc<tulip_tls::rustls::ServerConfig> {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
    let acceptor =
        tulip_tls::TlsAcceptor::from_pem(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
    let mut cfg = tulip_tls::rustls::ServerConfig::clone(acceptor.config());
    cfg.send_tls13_tickets = 0;
    Arc::new(cfg)
}

fn tls_tulip() -> SocketAddr {
    let acceptor = tulip_tls::TlsAcceptor::new(tls_config());
    let rt = tulip_rt();
    let listener = rt
        .block_on(async { tulip_net::TcpListener::bind(loopback()).await })
        .expect("bind");
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        rt.block_on(async move {
            while let Ok((s, _)) = listener.accept().await {
                let _ = s.set_nodelay(true);
                let acceptor = acceptor.clone();
                tulip_executor::spawn(async move {
                    if let Ok(mut tls) = acceptor.accept(s).await {
                        // Until the client closes: its close_notify ends the read.
                        let mut buf = [0u8; 64];
                        while let Ok(1..) = tls.read(&mut buf).await {}
                    }
                })
                .detach();
            }
        })
    });
    addr
}

fn tls_tokio() -> SocketAddr {
    use tokio::io::AsyncReadExt;
    let acceptor = tokio_rustls::TlsAcceptor::from(tls_config());
    let rt = tokio_rt();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        rt.block_on(async move {
            while let Ok((s, _)) = listener.accept().await {
                let _ = s.set_nodelay(true);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(mut tls) = acceptor.accept(s).await {
                        let mut buf = [0u8; 64];
                        while let Ok(1..) = tls.read(&mut buf).await {}
                    }
                });
            }
        })
    });
    addr
}

/// Requests in flight in the client benchmark.
const IN_FLIGHT: usize = 64;

/// An HTTP client child: tulip-http's `Client` or hyper-util's legacy client, each on a
/// one-worker runtime, `IN_FLIGHT` tasks sharing the requests.
pub(super) enum Client {
    Tulip(tulip_executor::Runtime, tulip_http::Client, String),
    Hyper(
        tokio::runtime::Runtime,
        Box<
            hyper_util::client::legacy::Client<
                hyper_util::client::legacy::connect::HttpConnector,
                http_body_util::Empty<hyper::body::Bytes>,
            >,
        >,
        hyper::Uri,
    ),
}

impl Client {
    pub(super) fn new(kind: &str, target: SocketAddr) -> Client {
        let url = format!("http://{target}/");
        match kind {
            "tulip" => Client::Tulip(
                tulip_rt(),
                tulip_http::Client::builder()
                    .max_idle_per_host(IN_FLIGHT)
                    .build(),
                url,
            ),
            "hyper" => {
                let rt = tokio_rt();
                let client = {
                    let _g = rt.enter();
                    hyper_util::client::legacy::Client::builder(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .pool_max_idle_per_host(IN_FLIGHT)
                    .build_http()
                };
                Client::Hyper(rt, Box::new(client), url.parse().unwrap())
            }
            other => panic!("unknown CPU benchmark client {other}"),
        }
    }

    /// Makes `n` GET requests, `IN_FLIGHT` at a time, checking every body.
    pub(super) fn run(&mut self, n: usize) {
        let each = n.div_ceil(IN_FLIGHT);
        match self {
            Client::Tulip(rt, client, url) => rt.block_on(async {
                let tasks: Vec<_> = (0..IN_FLIGHT)
                    .map(|_| {
                        let (client, url) = (client.clone(), url.clone());
                        tulip_executor::spawn(async move {
                            for _ in 0..each {
                                let body = client.get(&url).send().await.unwrap();
                                assert_eq!(body.bytes().await.unwrap().len(), 13);
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
            }),
            Client::Hyper(rt, client, uri) => rt.block_on(async {
                use http_body_util::BodyExt;
                let tasks: Vec<_> = (0..IN_FLIGHT)
                    .map(|_| {
                        let (client, uri) = (client.clone(), uri.clone());
                        tokio::spawn(async move {
                            for _ in 0..each {
                                let resp = client.get(uri.clone()).await.unwrap();
                                let body = resp.into_body().collect().await.unwrap();
                                assert_eq!(body.to_bytes().len(), 13);
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
            }),
        }
    }
}
