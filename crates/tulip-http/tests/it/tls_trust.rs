//! Where the client's TLS trust comes from: a custom CA, the system store, a client
//! certificate for servers that demand one, and the switch that turns verification off.

use std::error::Error as _;

use tulip_http::{App, Client, Request, Server, ServerConfig};
use tulip_test_support::pki::{PemFiles, pki, self_signed};
use tulip_tls::{Identity, TlsAcceptor, pem};

use crate::support::TestServer;

fn app() -> App {
    App::new().get("/", |_req: Request| async { "secret" })
}

fn serve(acceptor: TlsAcceptor) -> TestServer {
    let mut server = Server::unbound(app(), ServerConfig::default()).unwrap();
    server.listen_tls("127.0.0.1:0", acceptor).unwrap();
    TestServer::run(server)
}

fn server_identity() -> Identity {
    let p = pki();
    Identity::from_pem(p.server_chain_pem.as_bytes(), p.server_key_pem.as_bytes()).unwrap()
}

fn get(client: Client, url: String) -> Result<String, tulip_http::Error> {
    tulip_executor::run(async move { client.get(url).send().await?.text().await })
}

/// The whole cause chain as one string.
fn chain(e: &tulip_http::Error) -> String {
    let mut out = e.to_string();
    let mut link = e.source();
    while let Some(l) = link {
        out.push_str(" / ");
        out.push_str(&l.to_string());
        link = l.source();
    }
    out
}

#[test]
fn a_custom_ca_is_trusted_and_an_unknown_one_refused_with_a_clear_error() {
    let srv = serve(TlsAcceptor::builder(server_identity()).build().unwrap());
    let url = format!("https://localhost:{}/", srv.addr.port());

    let err = get(Client::new(), url.clone()).unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    let msg = chain(&err);
    assert!(
        msg.starts_with(&format!(
            "TLS handshake with localhost:{} failed",
            srv.addr.port()
        )),
        "{msg}"
    );
    assert!(msg.contains("add_root_certificate_pem"), "{msg}");
    assert!(msg.contains("UnknownIssuer"), "{msg}");

    let trusting = Client::builder()
        .add_root_certificate_pem(pki().ca_pem.as_bytes())
        .build();
    assert_eq!(get(trusting, url.clone()).unwrap(), "secret");
    let files = PemFiles::new("tulip-http-tls-trust");
    let from_file = Client::builder()
        .tls_bundled_roots(false)
        .add_root_certificate_pem_file(files.path("ca.pem"))
        .build();
    assert_eq!(get(from_file, url).unwrap(), "secret");

    let err = Client::builder()
        .add_root_certificate_pem(b"not pem")
        .try_build()
        .unwrap_err();
    assert!(err.is_user(), "{err:?}");
    let err = Client::builder()
        .tls(tulip_tls::TlsConnector::with_webpki_roots())
        .danger_skip_certificate_verification()
        .try_build()
        .unwrap_err();
    assert!(
        err.is_user() && err.to_string().contains("use one or the other"),
        "{err}"
    );
}

#[test]
fn a_server_that_requires_a_client_certificate_gets_one() {
    let p = pki();
    let client_ca = pem::root_store_from_pem(p.ca_pem.as_bytes()).unwrap();
    let srv = serve(
        TlsAcceptor::builder(server_identity())
            .client_auth_required(client_ca)
            .build()
            .unwrap(),
    );
    let url = format!("https://localhost:{}/", srv.addr.port());
    let trusting = || Client::builder().add_root_certificate_pem(p.ca_pem.as_bytes());

    // Without a certificate the server ends the handshake with an alert that TLS 1.3 reports
    // on the first read: over HTTP/2 (the server offers it) on the connection's first read,
    // over HTTP/1.1 while reading the response head; never as a response. When the request's
    // write races the server's close, the write fails first (broken pipe, reset) and the
    // alert is never read: a failure either way, never a response.
    for http2 in [true, false] {
        let err = get(trusting().http2(http2).build(), url.clone()).unwrap_err();
        let c = chain(&err);
        assert!(
            c.contains("CertificateRequired")
                || c.contains("broken pipe")
                || c.contains("connection reset"),
            "{c}"
        );
    }

    let identity =
        Identity::from_pem(p.client_chain_pem.as_bytes(), p.client_key_pem.as_bytes()).unwrap();
    let client = trusting().tls_client_identity(identity).build();
    assert_eq!(get(client, url.clone()).unwrap(), "secret");

    // A certificate from another CA is refused; the request's write can lose the same race
    // with the server's close as above.
    let rogue = Identity::from_pem(
        p.rogue_client_chain_pem.as_bytes(),
        p.rogue_client_key_pem.as_bytes(),
    )
    .unwrap();
    let err = get(trusting().tls_client_identity(rogue).build(), url).unwrap_err();
    let c = chain(&err);
    assert!(
        c.contains("UnknownCA")
            || c.contains("BadCertificate")
            || c.contains("broken pipe")
            || c.contains("connection reset"),
        "{c}"
    );
}

#[test]
fn skipping_verification_accepts_a_self_signed_certificate() {
    let (cert, key) = self_signed(&["localhost"]);
    let srv = serve(
        TlsAcceptor::builder(Identity::from_pem(cert.as_bytes(), key.as_bytes()).unwrap())
            .build()
            .unwrap(),
    );
    let url = format!("https://127.0.0.1:{}/", srv.addr.port());
    assert!(get(Client::new(), url.clone()).unwrap_err().is_connect());
    crate::access_log::install();
    let insecure = Client::builder()
        .danger_skip_certificate_verification()
        .http2(false)
        .max_idle_per_host(0)
        .build();
    // Both a name the certificate holds and an address it does not, on two connections.
    assert_eq!(get(insecure.clone(), url).unwrap(), "secret");
    let url = format!("https://localhost:{}/", srv.addr.port());
    assert_eq!(get(insecure.clone(), url).unwrap(), "secret");
    assert_eq!(insecure.pool_stats().connects, 2);
    // One warning for the client, however many handshakes skip the check.
    let warnings = crate::access_log::lines_with("certificate verification is OFF");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}

#[test]
fn the_system_store_loads_beside_or_instead_of_the_bundled_roots() {
    let srv = serve(TlsAcceptor::builder(server_identity()).build().unwrap());
    let url = format!("https://localhost:{}/", srv.addr.port());
    let system = match Client::builder()
        .tls_bundled_roots(false)
        .tls_system_roots(true)
        .try_build()
    {
        Ok(c) => c,
        Err(e) => {
            tulip_test_support::peers::skip::<()>(
                "the system CA bundle",
                &chain(&e),
                "apt-get install ca-certificates",
            );
            return;
        }
    };
    // The machine's store does not know the test CA ...
    let err = get(system, url.clone()).unwrap_err();
    assert!(chain(&err).contains("UnknownIssuer"), "{}", chain(&err));
    // ... and the system store plus the test CA does.
    let both = Client::builder()
        .tls_system_roots(true)
        .add_root_certificate_pem(pki().ca_pem.as_bytes())
        .build();
    assert_eq!(get(both, url).unwrap(), "secret");
}
