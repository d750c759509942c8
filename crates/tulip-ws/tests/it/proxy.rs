//! `ws_connect` through an HTTP proxy's `CONNECT` tunnel (tinyproxy), with the proxy and TLS
//! settings of a tulip-http `Client` (`ClientOptions::connector`).

use std::net::TcpListener;

use tulip_reactor::Async;
use tulip_test_support::pki::{pki, self_signed};
use tulip_test_support::tinyproxy::{Options, Tinyproxy};
use tulip_tls::{TlsAcceptor, TlsStream};
use tulip_ws::{ClientOptions, CloseCode, Message, ServerOptions};

type Tcp = Async<std::net::TcpStream>;

/// Accepts one connection on a thread, TLS when `acceptor` is given, echoes one message and
/// closes; returns the path the client asked for.
fn echo_once(acceptor: Option<TlsAcceptor>) -> (u16, std::thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        tulip_reactor::block_on(async move {
            let tcp = Async::new(listener.accept().unwrap().0).unwrap();
            match acceptor {
                Some(a) => serve::<TlsStream<Tcp>>(a.accept(tcp).await.unwrap()).await,
                None => serve::<Tcp>(tcp).await,
            }
        })
    });
    (port, handle)
}

async fn serve<S>(stream: S) -> String
where
    S: futures_lite::io::AsyncRead + futures_lite::io::AsyncWrite + Unpin,
{
    let (mut ws, req) = tulip_ws::accept(stream, &ServerOptions::default())
        .await
        .unwrap();
    loop {
        match ws.receive().await.unwrap() {
            m @ (Message::Text(_) | Message::Binary(_)) => ws.send(m).await.unwrap(),
            Message::Close(_) => return req.uri.to_string(),
            _ => {}
        }
    }
}

fn test_ca_acceptor() -> TlsAcceptor {
    let p = pki();
    TlsAcceptor::from_pem(p.server_chain_pem.as_bytes(), p.server_key_pem.as_bytes()).unwrap()
}

async fn round_trip(url: &str, opts: &ClientOptions) -> tulip_ws::Result<String> {
    let (mut ws, _) = tulip_ws::ws_connect_with(url, opts).await?;
    ws.send_text("through").await?;
    let back = ws.receive_text().await?;
    ws.close(CloseCode::NORMAL, "").await?;
    Ok(back)
}

#[test]
fn ws_and_wss_through_a_connect_tunnel_with_the_http_clients_settings() {
    let (plain_port, plain) = echo_once(None);
    let (tls_port, secure) = echo_once(Some(test_ca_acceptor()));
    let Some(proxy) = Tinyproxy::start(&Options {
        connect_ports: vec![plain_port, tls_port],
        basic_auth: Some(("ws".into(), "pw".into())),
    }) else {
        return;
    };
    let client = tulip_http::Client::builder()
        .proxy(&proxy.url())
        .proxy_auth("ws", "pw")
        .add_root_certificate_pem(pki().ca_pem.as_bytes())
        .build();
    let opts = ClientOptions {
        connector: Some(client.connector()),
        ..ClientOptions::default()
    };
    tulip_executor::run(async move {
        let url = format!("ws://127.0.0.1:{plain_port}/plain");
        assert_eq!(round_trip(&url, &opts).await.unwrap(), "through");
        let url = format!("wss://localhost:{tls_port}/secure");
        assert_eq!(round_trip(&url, &opts).await.unwrap(), "through");
    });
    assert_eq!(plain.join().unwrap(), "/plain");
    assert_eq!(secure.join().unwrap(), "/secure");
    let log = proxy.log();
    assert!(
        log.contains(&format!("CONNECT 127.0.0.1:{plain_port} HTTP/1.1")),
        "{log}"
    );
    assert!(
        log.contains(&format!("CONNECT localhost:{tls_port} HTTP/1.1")),
        "{log}"
    );
}

#[test]
fn a_proxy_that_wants_credentials_refuses_the_tunnel_with_407() {
    let Some(proxy) = Tinyproxy::start(&Options {
        basic_auth: Some(("ws".into(), "pw".into())),
        ..Options::default()
    }) else {
        return;
    };
    let client = tulip_http::Client::builder().proxy(&proxy.url()).build();
    let opts = ClientOptions {
        connector: Some(client.connector()),
        ..ClientOptions::default()
    };
    let addr = proxy.addr;
    tulip_executor::run(async move {
        let e = round_trip("ws://127.0.0.1:9/", &opts).await.unwrap_err();
        assert!(e.is_connect() && e.is_io(), "{e:?}");
        assert_eq!(e.proxy_status().map(|s| s.as_u16()), Some(407));
        assert!(
            e.to_string().starts_with(&format!(
                "websocket connect: opening a tunnel through proxy {addr} to 127.0.0.1:9 failed"
            )),
            "{e}"
        );
        // The cause is the proxy's answer, not the same text again.
        let cause = std::error::Error::source(&e).unwrap().to_string();
        assert!(cause.contains("407"), "{cause}");
    });
}

#[test]
fn the_http_clients_insecure_mode_reaches_a_self_signed_wss_server() {
    let (cert, key) = self_signed(&["localhost"]);
    let acceptor = TlsAcceptor::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
    let (port, server) = echo_once(Some(acceptor));
    let client = tulip_http::Client::builder()
        .danger_skip_certificate_verification()
        .build();
    let opts = ClientOptions {
        connector: Some(client.connector()),
        ..ClientOptions::default()
    };
    tulip_executor::run(async move {
        let url = format!("wss://localhost:{port}/insecure");
        assert_eq!(round_trip(&url, &opts).await.unwrap(), "through");
    });
    assert_eq!(server.join().unwrap(), "/insecure");
}
