//! `ws_connect`: ws:// and wss:// against tulip-ws servers, and the ways dialing fails.

use std::net::TcpListener;
use std::time::Duration;

use futures_lite::io::{AsyncRead, AsyncWrite};
use tulip_reactor::Async;
use tulip_ws::{ClientOptions, CloseCode, DeflateConfig, Message, ServerOptions};

/// The server thread's outcome: the `x-token` request header and whether deflate was on.
type ServerThread = std::thread::JoinHandle<tulip_ws::Result<(Option<String>, bool)>>;

/// Accepts one connection on a thread (`wrap` adds TLS when asked), runs the server handshake
/// and echoes until the close; returns the request's `x-token` header and deflate state.
fn echo_server<S, F>(
    options: ServerOptions,
    wrap: impl FnOnce(Async<std::net::TcpStream>) -> F + Send + 'static,
) -> (u16, ServerThread)
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: Future<Output = std::io::Result<S>>,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        tulip_reactor::block_on(async move {
            let tcp = Async::new(listener.accept()?.0)?;
            let stream = wrap(tcp).await?;
            let (mut ws, req) = tulip_ws::accept(stream, &options).await?;
            let token = req
                .headers
                .get("x-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let deflate = ws.deflate().is_some();
            loop {
                match ws.receive().await? {
                    m @ (Message::Text(_) | Message::Binary(_)) => ws.send(m).await?,
                    Message::Close(_) => return Ok((token, deflate)),
                    _ => {}
                }
            }
        })
    });
    (port, handle)
}

async fn plain(tcp: Async<std::net::TcpStream>) -> std::io::Result<Async<std::net::TcpStream>> {
    Ok(tcp)
}

#[test]
fn ws_by_name_with_options() {
    let mut sopts = ServerOptions {
        protocols: vec!["chat.v2".into()],
        ..ServerOptions::default()
    };
    sopts.config.deflate = Some(DeflateConfig::default());
    let (port, server) = echo_server(sopts, plain);
    tulip_executor::run(async move {
        let mut opts = ClientOptions {
            protocols: vec!["chat.v1".into(), "chat.v2".into()],
            ..ClientOptions::default()
        };
        opts.headers.insert("x-token", "s3cret".parse().unwrap());
        opts.config.deflate = Some(DeflateConfig::default());
        // "localhost" goes through the resolver and Happy Eyeballs (::1 may refuse first).
        let url = format!("ws://localhost:{port}/chat?room=1");
        let (mut ws, negotiated) = tulip_ws::ws_connect_with(&url, &opts).await.unwrap();
        assert_eq!(negotiated.protocol.as_deref(), Some("chat.v2"));
        assert!(negotiated.deflate.is_some());
        assert_eq!(negotiated.headers["sec-websocket-protocol"], "chat.v2");
        assert!(!ws.get_ref().is_tls());
        assert_eq!(ws.get_ref().tcp().peer_addr().unwrap().port(), port);
        let big = "tulip ".repeat(10_000);
        for text in ["hello", big.as_str()] {
            ws.send_text(text).await.unwrap();
            assert_eq!(ws.receive_text().await.unwrap(), text);
        }
        ws.close(CloseCode::NORMAL, "").await.unwrap();
    });
    let (token, deflate) = server.join().unwrap().unwrap();
    assert_eq!(token.as_deref(), Some("s3cret"));
    assert!(deflate);
}

#[test]
fn ws_connect_defaults_offer_nothing() {
    let mut sopts = ServerOptions {
        protocols: vec!["chat".into()],
        ..ServerOptions::default()
    };
    sopts.config.deflate = Some(DeflateConfig::default());
    let (port, server) = echo_server(sopts, plain);
    tulip_executor::run(async move {
        let url = format!("ws://127.0.0.1:{port}");
        let (mut ws, negotiated) = tulip_ws::ws_connect(&url).await.unwrap();
        assert!(negotiated.protocol.is_none() && negotiated.deflate.is_none());
        ws.send_binary(&[1, 2, 3]).await.unwrap();
        assert_eq!(ws.receive().await.unwrap(), Message::binary(vec![1, 2, 3]));
        ws.close(CloseCode::NORMAL, "").await.unwrap();
    });
    assert_eq!(server.join().unwrap().unwrap(), (None, false));
}

#[test]
fn dial_errors() {
    // A server that refuses every origin answers 403.
    let refusing = ServerOptions::default().with_origin_check(|_| false);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // A port nobody listens on: bind, learn the port, close. Bound after the server's, so it
    // cannot be the server's port (a closed port handed out again would eat its one accept).
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let server = std::thread::spawn(move || {
        tulip_reactor::block_on(async move {
            let tcp = Async::new(listener.accept().unwrap().0).unwrap();
            tulip_ws::accept(tcp, &refusing).await.map(|_| ())
        })
    });
    tulip_executor::run(async move {
        for url in ["http://127.0.0.1/", "ws://", "ws://h:99999/", "ws://u@h/"] {
            let e = tulip_ws::ws_connect(url).await.unwrap_err();
            assert!(
                e.is_handshake() && e.handshake_status().is_none(),
                "{url}: {e}"
            );
        }
        let e = tulip_ws::ws_connect(&format!("ws://127.0.0.1:{closed}/"))
            .await
            .unwrap_err();
        // Another test may have taken the port meanwhile; anything but success is fine then.
        assert!(e.is_io() || e.is_handshake(), "{e}");
        let e = tulip_ws::ws_connect(&format!("ws://127.0.0.1:{port}/"))
            .await
            .unwrap_err();
        assert!(e.is_handshake(), "{e}");
        assert_eq!(e.handshake_status(), Some(http::StatusCode::FORBIDDEN));
    });
    assert!(server.join().unwrap().unwrap_err().is_handshake());
}

#[test]
fn connect_timeout_applies() {
    // The listener never answers the upgrade, so only the connect timeout (zero, so it passes
    // while the name is still being resolved) can end this quickly, and as an I/O error.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    tulip_executor::run(async move {
        let opts = ClientOptions {
            connect_timeout: Some(Duration::ZERO),
            ..ClientOptions::default()
        };
        let started = std::time::Instant::now();
        let r = tulip_ws::ws_connect_with(&format!("ws://localhost:{port}/"), &opts).await;
        let e = r.unwrap_err();
        assert!(e.is_io(), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
    });
    drop(listener);
}

#[cfg(feature = "tls")]
mod wss {
    use super::*;
    use tulip_tls::{TlsAcceptor, TlsConnector, pem};

    fn cert() -> (String, String) {
        tulip_test_support::pki::self_signed(&["localhost"])
    }

    #[test]
    fn wss_with_custom_roots() {
        let (cert_pem, key_pem) = cert();
        let acceptor = TlsAcceptor::from_pem(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
        let mut sopts = ServerOptions::default();
        sopts.config.deflate = Some(DeflateConfig::default());
        let (port, server) =
            echo_server(sopts, move |tcp| async move { acceptor.accept(tcp).await });
        tulip_executor::run(async move {
            let connector = TlsConnector::builder()
                .root_store(pem::root_store_from_pem(cert_pem.as_bytes()).unwrap())
                .build()
                .unwrap();
            let mut opts = ClientOptions {
                tls: Some(connector),
                ..ClientOptions::default()
            };
            opts.config.deflate = Some(DeflateConfig::default());
            opts.headers.insert("x-token", "tls".parse().unwrap());
            let url = format!("wss://localhost:{port}/secure");
            let (mut ws, negotiated) = tulip_ws::ws_connect_with(&url, &opts).await.unwrap();
            assert!(negotiated.deflate.is_some());
            let ClientStream::Tls(tls) = ws.get_ref() else {
                panic!("wss:// must be TLS")
            };
            // SNI carries the URL's host.
            assert_eq!(tls.server_name(), Some("localhost"));
            for text in ["over tls", &"x".repeat(100_000)] {
                ws.send_text(text).await.unwrap();
                assert_eq!(ws.receive_text().await.unwrap(), text);
            }
            ws.close(CloseCode::NORMAL, "").await.unwrap();
        });
        let (token, deflate) = server.join().unwrap().unwrap();
        assert_eq!(token.as_deref(), Some("tls"));
        assert!(deflate);
    }

    #[test]
    fn wss_rejects_an_unknown_issuer() {
        let (cert_pem, key_pem) = cert();
        let acceptor = TlsAcceptor::from_pem(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
        let (port, server) = echo_server(ServerOptions::default(), move |tcp| async move {
            acceptor.accept(tcp).await
        });
        tulip_executor::run(async move {
            // The default connector trusts only the webpki roots, not our self-signed cert.
            let url = format!("wss://localhost:{port}/");
            let e = tulip_ws::ws_connect(&url).await.unwrap_err();
            assert!(e.is_io(), "{e}");
            assert!(e.to_string().contains("certificate"), "{e}");
        });
        assert!(server.join().unwrap().is_err());
    }

    use tulip_ws::ClientStream;
}
