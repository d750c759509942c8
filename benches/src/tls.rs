//! TLS benchmarks: tulip-tls beside tokio-rustls on tokio's current-thread runtime.
//!
//! Both contenders run the same rustls configurations (ring provider, an ECDSA P-256 certificate
//! made by rcgen, TLS 1.3) over loopback TCP, with the client and the server as two futures on
//! one thread, so that the numbers compare the I/O layers and runtimes, not the crypto.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Instant;

use futures_lite::future::zip;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use tulip_reactor::Async;
use tulip_tls::rustls::{ClientConfig, ServerConfig, client::Resumption};

use crate::harness::{Bench, Config};

pub(crate) fn benches(cfg: &Config) -> Vec<Bench> {
    let configs = Configs::new();
    vec![
        handshakes(&configs, cfg.size(100, 500)),
        bulk(&configs, cfg.size(16, 64) << 20),
    ]
}

#[derive(Clone)]
struct Configs {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
}

impl Configs {
    fn new() -> Configs {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
        let acceptor =
            tulip_tls::TlsAcceptor::from_pem(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
        let connector = tulip_tls::TlsConnector::builder()
            .root_store(tulip_tls::pem::root_store_from_pem(cert_pem.as_bytes()).unwrap())
            .build()
            .unwrap();
        // Full handshakes every time: no resumption, so no session tickets either.
        let mut server = ServerConfig::clone(acceptor.config());
        server.send_tls13_tickets = 0;
        let mut client = ClientConfig::clone(connector.config());
        client.resumption = Resumption::disabled();
        Configs {
            server: Arc::new(server),
            client: Arc::new(client),
        }
    }
}

fn tulip_listener() -> (tulip_net::TcpListener, SocketAddr) {
    let l = tulip_net::TcpListener::from_std(TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

/// tulip-net's accept, as a tulip server accepts (tokio's side uses tokio's listener).
async fn tulip_accept(l: &tulip_net::TcpListener) -> tulip_net::TcpStream {
    let (tcp, _) = l.accept().await.unwrap();
    tcp.set_nodelay(true).unwrap();
    tcp
}

async fn tulip_connect(addr: SocketAddr) -> Async<TcpStream> {
    let tcp = Async::<TcpStream>::connect(addr).await.unwrap();
    tcp.get_ref().set_nodelay(true).unwrap();
    tcp
}

async fn tokio_pair(
    l: &tokio::net::TcpListener,
    addr: SocketAddr,
) -> (tokio::net::TcpStream, tokio::net::TcpStream) {
    let (client, server) = tokio::join!(tokio::net::TcpStream::connect(addr), l.accept());
    let (client, server) = (client.unwrap(), server.unwrap().0);
    client.set_nodelay(true).unwrap();
    server.set_nodelay(true).unwrap();
    (client, server)
}

fn handshakes(configs: &Configs, n: usize) -> Bench {
    let b = Bench::new(
        "tls_handshake",
        format!("{n} full TLS 1.3 handshakes over loopback, client+server"),
    );

    let c = configs.clone();
    let acceptor = tulip_tls::TlsAcceptor::new(c.server.clone());
    let connector = tulip_tls::TlsConnector::new(c.client.clone());
    let b = b.with("tulip", move || {
        tulip_reactor::block_on(async {
            let (l, addr) = tulip_listener();
            let t = Instant::now();
            for _ in 0..n {
                let (client, server) = zip(tulip_connect(addr), tulip_accept(&l)).await;
                let (c, s) = zip(
                    connector.connect("localhost", client),
                    acceptor.accept(server),
                )
                .await;
                drop((c.unwrap(), s.unwrap()));
            }
            t.elapsed()
        })
    });

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(configs.server.clone());
    let connector = tokio_rustls::TlsConnector::from(configs.client.clone());
    b.with("tokio-rustls", move || {
        rt.block_on(async {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            let name = tulip_tls::pki_types::ServerName::try_from("localhost").unwrap();
            let t = Instant::now();
            for _ in 0..n {
                let (client, server) = tokio_pair(&l, addr).await;
                let (c, s) = tokio::join!(
                    connector.connect(name.clone(), client),
                    acceptor.accept(server)
                );
                drop((c.unwrap(), s.unwrap()));
            }
            t.elapsed()
        })
    })
}

fn bulk(configs: &Configs, total: usize) -> Bench {
    const CHUNK: usize = 64 * 1024;
    let b = Bench::new(
        "tls_bulk",
        format!(
            "{} MiB one way over one TLS connection on loopback",
            total >> 20
        ),
    );

    let c = configs.clone();
    let b = b.with("tulip", move || {
        let acceptor = tulip_tls::TlsAcceptor::new(c.server.clone());
        let connector = tulip_tls::TlsConnector::new(c.client.clone());
        tulip_reactor::block_on(async {
            let (l, addr) = tulip_listener();
            let (server, client) = zip(
                async { acceptor.accept(tulip_accept(&l).await).await },
                async {
                    connector
                        .connect("localhost", tulip_connect(addr).await)
                        .await
                },
            )
            .await;
            let (mut server, mut client) = (server.unwrap(), client.unwrap());
            let chunk = vec![0x5a; CHUNK];
            let t = Instant::now();
            let send = async {
                for _ in 0..total / CHUNK {
                    server.write_all(&chunk).await.unwrap();
                }
                server.close().await.unwrap();
            };
            let recv = async {
                let mut buf = vec![0; CHUNK];
                let mut got = 0;
                loop {
                    match client.read(&mut buf).await.unwrap() {
                        0 => break got,
                        n => got += n,
                    }
                }
            };
            let ((), got) = zip(send, recv).await;
            assert_eq!(got, total);
            t.elapsed()
        })
    });

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(configs.server.clone());
    let connector = tokio_rustls::TlsConnector::from(configs.client.clone());
    b.with("tokio-rustls", move || {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        rt.block_on(async {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            let name = tulip_tls::pki_types::ServerName::try_from("localhost").unwrap();
            let (client, server) = tokio_pair(&l, addr).await;
            let (client, server) =
                tokio::join!(connector.connect(name, client), acceptor.accept(server));
            let (mut client, mut server) = (client.unwrap(), server.unwrap());
            let chunk = vec![0x5a; CHUNK];
            let t = Instant::now();
            let send = async {
                for _ in 0..total / CHUNK {
                    server.write_all(&chunk).await.unwrap();
                }
                server.shutdown().await.unwrap();
            };
            let recv = async {
                let mut buf = vec![0; CHUNK];
                let mut got = 0;
                loop {
                    match client.read(&mut buf).await.unwrap() {
                        0 => break got,
                        n => got += n,
                    }
                }
            };
            let ((), got) = tokio::join!(send, recv);
            assert_eq!(got, total);
            t.elapsed()
        })
    })
}
