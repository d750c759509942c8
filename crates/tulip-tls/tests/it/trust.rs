//! Where trust comes from: the system store (`with_native_roots`) and the switch that turns
//! verification off (`danger_skip_certificate_verification`).

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::thread;

use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use tulip_reactor::Async;
use tulip_tls::{Identity, TlsAcceptor, TlsConnector};

use crate::certs::{acceptor, pem_files};
use crate::run;

/// A server thread that accepts one TLS connection, answers "hi" and closes; the handshake's
/// result comes back through the join handle.
fn one_shot_server(acceptor: TlsAcceptor) -> (SocketAddr, thread::JoinHandle<io::Result<()>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let server = thread::spawn(move || {
        run(async {
            let (tcp, _) = l.accept()?;
            let mut tls = acceptor.accept(Async::new(tcp)?).await?;
            tls.write_all(b"hi").await?;
            tls.close().await
        })
    });
    (addr, server)
}

async fn greet(connector: &TlsConnector, addr: SocketAddr) -> io::Result<Vec<u8>> {
    let tcp = Async::new(TcpStream::connect(addr)?)?;
    let mut tls = connector.connect("localhost", tcp).await?;
    let mut got = Vec::new();
    tls.read_to_end(&mut got).await?;
    Ok(got)
}

#[test]
fn skipping_verification_accepts_a_self_signed_certificate_that_roots_refuse() {
    let (cert, key) = tulip_test_support::pki::self_signed(&["localhost"]);
    let identity = || Identity::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();

    // With the bundled roots the self-signed server is refused ...
    let (addr, server) = one_shot_server(TlsAcceptor::builder(identity()).build().unwrap());
    let err = run(greet(&TlsConnector::with_webpki_roots(), addr)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
    let _ = server.join();

    // ... and accepted once verification is off, even for a name the certificate lacks.
    let insecure = TlsConnector::builder()
        .danger_skip_certificate_verification()
        .build()
        .unwrap();
    let (addr, server) = one_shot_server(TlsAcceptor::builder(identity()).build().unwrap());
    assert_eq!(run(greet(&insecure, addr)).unwrap(), b"hi");
    server.join().unwrap().unwrap();
    let (addr, server) = one_shot_server(TlsAcceptor::builder(identity()).build().unwrap());
    let tcp = Async::new(TcpStream::connect(addr).unwrap()).unwrap();
    run(insecure.connect("not-the-name.test", tcp)).unwrap();
    drop(server);
}

#[test]
fn a_builder_without_roots_is_refused_unless_verification_is_off() {
    let err = TlsConnector::builder().build().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(
        format!(
            "{:?}",
            TlsConnector::builder().danger_skip_certificate_verification()
        )
        .contains("danger_skip_certificate_verification: true")
    );
}

/// The variable that makes this test binary run the system-store check in a child, whose
/// environment (`SSL_CERT_FILE`) the parent sets: changing the environment of the test
/// process itself would race with every other test thread.
const CHILD: &str = "TULIP_TLS_NATIVE_ROOTS_CHILD";

#[test]
fn native_roots_load_the_system_store_named_by_ssl_cert_file() {
    if let Some(dir) = std::env::var_os(CHILD) {
        // In the child: SSL_CERT_FILE is the parent's test CA, so the "system" store trusts
        // the server whose identity the parent wrote beside it (the child's own PKI would
        // be a different one).
        let connector = TlsConnector::builder()
            .with_native_roots()
            .unwrap()
            .build()
            .unwrap();
        let dir = std::path::Path::new(&dir);
        let id = Identity::from_pem_files(dir.join("server.pem"), dir.join("server.key")).unwrap();
        let (addr, server) = one_shot_server(TlsAcceptor::builder(id).build().unwrap());
        assert_eq!(run(greet(&connector, addr)).unwrap(), b"hi");
        server.join().unwrap().unwrap();
        return;
    }
    let files = pem_files();
    let me = std::env::current_exe().unwrap();
    let run_child = |cert_file: &std::path::Path| {
        Command::new(&me)
            .args([
                "--exact",
                "trust::native_roots_load_the_system_store_named_by_ssl_cert_file",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, files.dir())
            .env("SSL_CERT_FILE", cert_file)
            .env("SSL_CERT_DIR", files.dir().join("no-such-dir"))
            .output()
            .unwrap()
    };
    let ok = run_child(&files.path("ca.pem"));
    assert!(
        ok.status.success(),
        "child with SSL_CERT_FILE=ca.pem failed:\n{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("1 passed"),
        "the child ran no test:\n{}",
        String::from_utf8_lossy(&ok.stdout)
    );

    // An empty store is an error that says what to do.
    std::fs::write(files.path("empty.pem"), "").unwrap();
    let bad = run_child(&files.path("empty.pem"));
    assert!(!bad.status.success());
    let out =
        String::from_utf8_lossy(&bad.stdout).into_owned() + &String::from_utf8_lossy(&bad.stderr);
    assert!(
        out.contains("system trust store has no usable root certificate"),
        "{out}"
    );
}

#[test]
fn native_roots_of_this_machine_load() {
    // Whatever this machine's store holds (the CI image has Debian's ca-certificates), it
    // loads without error and does not trust the test CA's server.
    let connector = match TlsConnector::builder().with_native_roots() {
        Ok(b) => b.build().unwrap(),
        Err(e) => {
            tulip_test_support::peers::skip::<()>(
                "the system CA bundle",
                &e.to_string(),
                "apt-get install ca-certificates",
            );
            return;
        }
    };
    let (addr, server) = one_shot_server(acceptor());
    let err = run(greet(&connector, addr)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    let _ = server.join();
}
