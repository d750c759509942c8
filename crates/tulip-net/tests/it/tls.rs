//! Streams over TLS (feature `tls`): the shared test PKI from tulip-test-support.

use tulip_net::{open_connection_tls, start_server_tls};
use tulip_test_support::pki::{pki, self_signed};
use tulip_tls::{Identity, TlsAcceptor, TlsConnector, pem};

use crate::{localhost, run};

#[test]
fn line_echo_over_tls_and_a_rejected_certificate() {
    let p = pki();
    let (ca, chain, key) = (&p.ca_pem, &p.server_chain_pem, &p.server_key_pem);
    // A root the server's chain does not lead to.
    let (other_ca, _) = self_signed(&["localhost"]);
    let acceptor =
        TlsAcceptor::builder(Identity::from_pem(chain.as_bytes(), key.as_bytes()).unwrap())
            .build()
            .unwrap();
    let connector = TlsConnector::builder()
        .root_store(pem::root_store_from_pem(ca.as_bytes()).unwrap())
        .build()
        .unwrap();
    run(async move {
        let server = start_server_tls(
            |mut r, mut w| async move {
                while let Ok(line) = r.read_line().await {
                    if line.is_empty() {
                        break;
                    }
                    w.write(&line);
                    if w.drain().await.is_err() {
                        break;
                    }
                }
                let _ = w.wait_closed().await;
            },
            localhost(),
            acceptor,
        )
        .unwrap();
        let port = server.local_addr().unwrap().port();

        // A client that trusts another CA fails the handshake with a clear error...
        let untrusting = TlsConnector::builder()
            .root_store(pem::root_store_from_pem(other_ca.as_bytes()).unwrap())
            .build()
            .unwrap();
        let err = open_connection_tls("localhost", port, &untrusting)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");

        // ...and the server keeps serving the next one.
        let (mut r, mut w) = open_connection_tls("localhost", port, &connector)
            .await
            .unwrap();
        for i in 0..10 {
            let line = format!("secret {i}\n");
            w.write(line.as_bytes());
            w.drain().await.unwrap();
            assert_eq!(r.read_line().await.unwrap(), line.as_bytes());
        }
        assert!(w.peer_addr().is_some());
        w.close();
        w.wait_closed().await.unwrap();
        assert_eq!(r.read_line().await.unwrap(), b"");
        server.close();
        server.wait_closed().await;
    });
}
