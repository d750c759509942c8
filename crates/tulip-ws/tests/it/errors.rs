//! `ws_connect`'s failures from outside: the step and `host:port` in the message, the
//! underlying `io::Error` (and rustls's error for a refused certificate) down the
//! `source()` chain.

use std::error::Error as _;
use std::io;
use std::net::TcpListener;

/// Every link below `e`.
fn causes(e: &tulip_ws::Error) -> Vec<&(dyn std::error::Error + 'static)> {
    let mut out = Vec::new();
    let mut link = e.source();
    while let Some(l) = link {
        out.push(l);
        link = l.source();
    }
    out
}

fn io_kind(e: &tulip_ws::Error) -> Option<io::ErrorKind> {
    causes(e)
        .into_iter()
        .find_map(|l| l.downcast_ref::<io::Error>())
        .map(io::Error::kind)
}

#[test]
fn refused_connection_names_the_address() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    tulip_executor::run(async move {
        let e = tulip_ws::ws_connect(&format!("ws://127.0.0.1:{port}/"))
            .await
            .unwrap_err();
        assert!(e.is_connect() && e.is_io(), "{e:?}");
        assert_eq!(io_kind(&e), Some(io::ErrorKind::ConnectionRefused));
        assert_eq!(
            e.to_string(),
            format!(
                "websocket connect: TCP connect to 127.0.0.1:{port} failed: connection refused \
                 (is a server listening on that port?)"
            )
        );
    });
}

#[test]
fn unresolvable_name_says_dns() {
    tulip_executor::run(async {
        let e = tulip_ws::ws_connect("ws://tulip-test.invalid/chat")
            .await
            .unwrap_err();
        assert!(e.is_connect(), "{e:?}");
        assert_eq!(
            e.to_string(),
            "websocket connect: DNS resolution of tulip-test.invalid:80 failed: \
             the name did not resolve (check the host name and the system's DNS settings)"
        );
        assert!(io_kind(&e).is_some(), "{e:?}");
    });
}

#[cfg(feature = "tls")]
#[test]
fn untrusted_certificate_keeps_rustls_reason() {
    use tulip_tls::rustls;

    let (cert_pem, key_pem) = tulip_test_support::pki::self_signed(&["localhost"]);
    let acceptor =
        tulip_tls::TlsAcceptor::from_pem(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        tulip_reactor::block_on(async move {
            let tcp = tulip_reactor::Async::new(tcp).unwrap();
            acceptor.accept(tcp).await.map(drop)
        })
    });
    tulip_executor::run(async move {
        let e = tulip_ws::ws_connect(&format!("wss://localhost:{port}/"))
            .await
            .unwrap_err();
        assert!(e.is_connect(), "{e:?}");
        let shown = e.to_string();
        assert!(
            shown.starts_with(&format!(
                "websocket connect: TLS handshake with localhost:{port} failed"
            )),
            "{shown}"
        );
        assert_eq!(io_kind(&e), Some(io::ErrorKind::InvalidData));
        let reason = causes(&e)
            .into_iter()
            .find_map(|l| l.downcast_ref::<rustls::Error>())
            .unwrap_or_else(|| panic!("{e:?}"));
        assert!(
            matches!(reason, rustls::Error::InvalidCertificate(_)),
            "{reason:?}"
        );
    });
    // The server sees the client's alert.
    assert!(server.join().unwrap().is_err());
}
