//! Debug mode: streams, servers and transports dropped unclosed are reported through `log`
//! with the site that created them; closed ones are not.

use std::panic::Location;
use std::time::Duration;

use futures_lite::AsyncWriteExt;
use tulip_executor::Runtime;
use tulip_net::{Protocol, TcpListener, TcpStream, Transport, UnixStream};

use crate::localhost;

fn install() {
    tulip_test_support::logs::capture(tulip_executor::debug::LOG_TARGET);
}

fn reports_near(here: &Location<'_>) -> Vec<(log::Level, String)> {
    tulip_test_support::logs::reports_near(here, 3)
}

fn debug_runtime() -> Runtime {
    tulip_executor::runtime::Builder::new()
        .worker_threads(1)
        .debug(true)
        .build()
        .unwrap()
}

/// Runs `fut` on a fresh debug-mode runtime, under a deadline, and drops the runtime.
fn run_debug<F: std::future::Future>(fut: F) -> F::Output {
    install();
    let rt = debug_runtime();
    rt.block_on(async {
        tulip_reactor::timeout(Duration::from_secs(20), fut)
            .await
            .expect("test timed out")
    })
}

#[test]
fn a_tcp_stream_dropped_unclosed_is_reported_with_its_connect_and_accept_sites() {
    let (connected, accepted) = run_debug(async {
        let listener = TcpListener::bind(localhost()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, connected) = (TcpStream::connect(addr).await.unwrap(), Location::caller());
        let (server, accepted) = (listener.accept().await.unwrap().0, Location::caller());
        drop(client);
        drop(server);
        (connected, accepted)
    });
    // The two sites are on neighbouring lines: look for each line exactly.
    for here in [connected, accepted] {
        let site = format!("(created at {}:{}:", here.file(), here.line());
        let reports: Vec<_> = reports_near(here)
            .into_iter()
            .filter(|(_, l)| l.contains(&site))
            .collect();
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert_eq!(reports[0].0, log::Level::Warn);
        assert!(
            reports[0].1.starts_with("unclosed TcpStream"),
            "{reports:?}"
        );
    }
}

#[test]
fn closed_streams_are_not_reported() {
    let sites = run_debug(async {
        let listener = TcpListener::bind(localhost()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut sites = Vec::new();
        // Closed with `close()`.
        let (mut a, here) = (TcpStream::connect(addr).await.unwrap(), Location::caller());
        sites.push(here);
        a.close().await.unwrap();
        // Shut down for writing.
        let (b, here) = (TcpStream::connect(addr).await.unwrap(), Location::caller());
        sites.push(here);
        b.shutdown(std::net::Shutdown::Both).unwrap();
        // Split: dropping the owned write half closes.
        let (c, here) = (TcpStream::connect(addr).await.unwrap(), Location::caller());
        sites.push(here);
        drop(c.into_split());
        // Handed back to std: no longer ours to check.
        let (d, here) = (TcpStream::connect(addr).await.unwrap(), Location::caller());
        sites.push(here);
        drop(d.into_std().unwrap());
        // Exempted on purpose.
        let (mut e, here) = (TcpStream::connect(addr).await.unwrap(), Location::caller());
        sites.push(here);
        e.untrack();
        for _ in 0..5 {
            let (s, _) = listener.accept().await.unwrap();
            s.shutdown(std::net::Shutdown::Write).unwrap();
        }
        sites
    });
    for here in sites {
        assert_eq!(reports_near(here), Vec::new());
    }
}

#[test]
fn a_unix_stream_dropped_unclosed_is_reported() {
    let here = run_debug(async {
        let (pair, here) = (UnixStream::pair().unwrap(), Location::caller());
        let (a, mut b) = pair;
        b.close().await.unwrap();
        drop(a);
        here
    });
    let reports = reports_near(here);
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(
        reports[0].1.starts_with("unclosed UnixStream"),
        "{reports:?}"
    );
}

#[test]
fn debug_mode_off_tracks_nothing() {
    install();
    let rt = tulip_executor::runtime::Builder::new()
        .worker_threads(1)
        .debug(false)
        .build()
        .unwrap();
    let here = rt.block_on(async {
        let (pair, here) = (UnixStream::pair().unwrap(), Location::caller());
        drop(pair);
        here
    });
    assert_eq!(reports_near(here), Vec::new());
}

#[test]
fn a_server_whose_last_handle_drops_unclosed_is_reported_a_closed_one_is_not() {
    let (open, closed) = run_debug(async {
        let handler = |_r, _w| async {};
        let (server, open) = (
            tulip_net::start_server(handler, localhost()).unwrap(),
            Location::caller(),
        );
        let clone = server.clone();
        drop(server);
        assert!(reports_near(open).is_empty(), "a clone still holds it");
        drop(clone);
        let (server, closed) = (
            tulip_net::start_server(handler, localhost()).unwrap(),
            Location::caller(),
        );
        server.close();
        drop(server);
        (open, closed)
    });
    let reports = reports_near(open);
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].1.starts_with("unclosed Server"), "{reports:?}");
    assert!(reports_near(closed).is_empty());
}

struct Idle;

impl Protocol for Idle {
    fn connection_made(&mut self, _t: Transport) {}
    fn data_received(&mut self, _data: &[u8]) {}
}

#[test]
fn a_transport_open_when_its_runtime_drops_is_reported_a_closed_one_is_not() {
    // The listener outlives the runtime: closing it would reset the unaccepted connection,
    // and a worker that saw the reset before the runtime dropped would close the transport.
    let (open, closed, listener) = run_debug(async {
        let listener = TcpListener::bind(localhost()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let host = addr.ip().to_string();
        let (t, open) = (
            tulip_net::create_connection(|| Idle, &host, addr.port())
                .await
                .unwrap(),
            Location::caller(),
        );
        let (closing, closed) = (
            tulip_net::create_connection(|| Idle, &host, addr.port())
                .await
                .unwrap(),
            Location::caller(),
        );
        closing.close();
        closing.wait_closed().await;
        drop(t);
        (open, closed, listener)
    });
    // The runtime is gone: its connection tasks were dropped with one transport open.
    let reports = reports_near(open);
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(
        reports[0].1.starts_with("unclosed Transport"),
        "{reports:?}"
    );
    assert!(reports_near(closed).is_empty());
    drop(listener);
}

#[cfg(feature = "tls")]
#[test]
fn a_tls_stream_dropped_without_close_is_reported_one_closed_is_not() {
    use tulip_test_support::pki::pki;
    use tulip_tls::{Identity, TlsAcceptor, TlsConnector, pem};

    let p = pki();
    let acceptor = TlsAcceptor::builder(
        Identity::from_pem(p.server_chain_pem.as_bytes(), p.server_key_pem.as_bytes()).unwrap(),
    )
    .build()
    .unwrap();
    let connector = TlsConnector::builder()
        .root_store(pem::root_store_from_pem(p.ca_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let (open, closed) = run_debug(async move {
        let server = tulip_net::start_server_tls(
            |mut r, mut w| async move {
                let _ = r.read_line().await;
                w.close();
                let _ = w.wait_closed().await;
            },
            localhost(),
            acceptor,
        )
        .unwrap();
        let port = server.local_addr().unwrap().port();
        let (pair, open) = (
            tulip_net::open_connection_tls("localhost", port, &connector)
                .await
                .unwrap(),
            Location::caller(),
        );
        drop(pair);
        let ((_r, mut w), closed) = (
            tulip_net::open_connection_tls("localhost", port, &connector)
                .await
                .unwrap(),
            Location::caller(),
        );
        w.close();
        w.wait_closed().await.unwrap();
        server.close();
        (open, closed)
    });
    let reports = reports_near(open);
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(
        reports[0].1.starts_with("unclosed TLS stream"),
        "{reports:?}"
    );
    assert!(
        reports_near(closed).is_empty(),
        "{:?}",
        reports_near(closed)
    );
}
