//! Transports beyond the basics: `BufferedProtocol`, `Transport::sendfile`, and (feature
//! `tls`) TLS transports with `create_connection_tls`/`create_server_tls` and
//! `Transport::start_tls`.

use std::fs::File;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use crate::{localhost, run};
use tulip_net::{
    BufferedProtocol, Protocol, Transport, create_buffered_connection, create_buffered_server,
    create_server, open_connection,
};
use tulip_sync::mpsc;

/// Reads into a small fixed buffer (to force many reads) and echoes, recording the sizes.
struct SmallBuffers {
    buf: [u8; 7],
    t: Option<Transport>,
    sizes: Arc<Mutex<Vec<usize>>>,
}

impl BufferedProtocol for SmallBuffers {
    fn connection_made(&mut self, t: Transport) {
        self.t = Some(t);
    }
    fn get_buffer(&mut self, size_hint: usize) -> &mut [u8] {
        assert!(size_hint > 0);
        &mut self.buf
    }
    fn buffer_updated(&mut self, n: usize) {
        self.sizes.lock().unwrap().push(n);
        self.t.as_ref().unwrap().write(&self.buf[..n]);
    }
}

#[test]
fn a_buffered_protocol_reads_into_its_own_buffer() {
    run(async {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let s2 = sizes.clone();
        let server = create_buffered_server(
            move || SmallBuffers {
                buf: [0; 7],
                t: None,
                sizes: s2.clone(),
            },
            localhost(),
        )
        .unwrap();
        let port = server.local_addr().unwrap().port();
        let (mut r, mut w) = open_connection("127.0.0.1", port).await.unwrap();
        let msg: Vec<u8> = (0..100u8).collect();
        w.write(&msg);
        w.drain().await.unwrap();
        assert_eq!(r.read_exactly(100).await.unwrap(), msg);
        let sizes = sizes.lock().unwrap().clone();
        assert!(sizes.iter().all(|&n| n <= 7), "{sizes:?}");
        assert_eq!(sizes.iter().sum::<usize>(), 100);
        server.close();
    });
}

/// Hands back an empty buffer: the connection must end with `InvalidInput`.
struct NoBuffer(mpsc::Sender<Option<io::ErrorKind>>);

impl BufferedProtocol for NoBuffer {
    fn get_buffer(&mut self, _: usize) -> &mut [u8] {
        &mut []
    }
    fn buffer_updated(&mut self, _: usize) {
        unreachable!("nothing can be read into an empty buffer");
    }
    fn connection_lost(&mut self, e: Option<io::Error>) {
        let _ = self.0.try_send(e.map(|e| e.kind()));
    }
}

#[test]
fn an_empty_buffer_ends_the_connection_with_an_error() {
    run(async {
        let server = create_server(Collect::default, localhost()).unwrap();
        let port = server.local_addr().unwrap().port();
        let (tx, mut rx) = mpsc::unbounded();
        let _t = create_buffered_connection(move || NoBuffer(tx), "127.0.0.1", port)
            .await
            .unwrap();
        assert_eq!(rx.recv().await.unwrap(), Some(io::ErrorKind::InvalidInput));
        server.close();
    });
}

/// Collects what arrives and reports it at end of stream.
#[derive(Default)]
struct Collect {
    got: Vec<u8>,
    done: Option<mpsc::Sender<Vec<u8>>>,
}

impl Protocol for Collect {
    fn data_received(&mut self, data: &[u8]) {
        self.got.extend_from_slice(data);
    }
    fn connection_lost(&mut self, _: Option<io::Error>) {
        if let Some(d) = &self.done {
            let _ = d.try_send(std::mem::take(&mut self.got));
        }
    }
}

fn temp_file(tag: &str, data: &[u8]) -> (std::path::PathBuf, File) {
    let p = std::env::temp_dir().join(format!("tulip-net-{}-{tag}", std::process::id()));
    File::create(&p).unwrap().write_all(data).unwrap();
    let f = File::open(&p).unwrap();
    (p, f)
}

/// Keeps its transport for the test to use.
struct Keep(mpsc::Sender<Transport>);

impl Protocol for Keep {
    fn connection_made(&mut self, t: Transport) {
        let _ = self.0.try_send(t);
    }
    fn data_received(&mut self, _: &[u8]) {}
}

#[test]
fn transport_sendfile_keeps_order_with_writes() {
    let data: Vec<u8> = (0..2_000_000u32).map(|i| (i % 253) as u8).collect();
    let (path, file) = temp_file("transport-sendfile", &data);
    run(async {
        let (tx, mut rx) = mpsc::unbounded();
        let server = create_server(move || Keep(tx.clone()), localhost()).unwrap();
        let port = server.local_addr().unwrap().port();
        let (mut r, _w) = open_connection("127.0.0.1", port).await.unwrap();
        let t = rx.recv().await.unwrap();
        let reader =
            tulip_executor::spawn(async move { r.read_exactly(6 + 2_000_000 + 5).await.unwrap() });
        t.write(b"start:");
        assert_eq!(t.sendfile(&file, 0, None).await.unwrap(), 2_000_000);
        t.write(b":end.");
        let got = reader.await.unwrap();
        assert_eq!(&got[..6], b"start:");
        assert!(got[6..2_000_006] == data[..]);
        assert_eq!(&got[2_000_006..], b":end.");
        t.close();
        server.close();
    });
    std::fs::remove_file(path).unwrap();
}

#[cfg(feature = "tls")]
mod tls {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    use tulip_net::{StartTls, create_connection, create_connection_tls, create_server_tls};
    use tulip_tls::{Identity, TlsAcceptor, TlsConnector, pem};

    fn tls_pair() -> (TlsAcceptor, TlsConnector) {
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "tulip test CA");
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let chain = format!("{}{}", cert.pem(), ca.pem());
        let acceptor = TlsAcceptor::builder(
            Identity::from_pem(chain.as_bytes(), key.serialize_pem().as_bytes()).unwrap(),
        )
        .build()
        .unwrap();
        let connector = TlsConnector::builder()
            .root_store(pem::root_store_from_pem(ca.pem().as_bytes()).unwrap())
            .build()
            .unwrap();
        (acceptor, connector)
    }

    /// Echoes lines; on `STARTTLS` answers `GO` and upgrades (server side) from inside the
    /// callback, as `Transport::start_tls` recommends.
    struct EchoServer {
        t: Option<Transport>,
        acceptor: Option<TlsAcceptor>,
        line: Vec<u8>,
    }

    impl Protocol for EchoServer {
        fn connection_made(&mut self, t: Transport) {
            self.t = Some(t);
        }
        fn data_received(&mut self, data: &[u8]) {
            self.line.extend_from_slice(data);
            while let Some(end) = self.line.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.line.drain(..=end).collect();
                let t = self.t.as_ref().unwrap();
                if line == b"STARTTLS\n" {
                    t.write(b"GO\n");
                    if let Some(acc) = self.acceptor.take() {
                        drop(t.start_tls(StartTls::server(acc)));
                    }
                } else {
                    let tag: &[u8] = if t.is_tls() { b"tls:" } else { b"plain:" };
                    t.write(tag);
                    t.write(&line);
                }
            }
        }
    }

    /// A client protocol that forwards every chunk to the test.
    struct Forward(
        mpsc::Sender<Vec<u8>>,
        Option<mpsc::Sender<Option<io::ErrorKind>>>,
    );

    impl Protocol for Forward {
        fn data_received(&mut self, data: &[u8]) {
            let _ = self.0.try_send(data.to_vec());
        }
        fn connection_lost(&mut self, e: Option<io::Error>) {
            if let Some(l) = &self.1 {
                let _ = l.try_send(e.map(|e| e.kind()));
            }
        }
    }

    async fn read_until_nl(rx: &mut mpsc::Receiver<Vec<u8>>, acc: &mut Vec<u8>) -> Vec<u8> {
        loop {
            if let Some(end) = acc.iter().position(|&b| b == b'\n') {
                return acc.drain(..=end).collect();
            }
            acc.extend(rx.recv().await.expect("connection ended"));
        }
    }

    #[test]
    fn tls_transports_from_the_start() {
        let (acceptor, connector) = tls_pair();
        run(async move {
            let server = create_server_tls(
                || EchoServer {
                    t: None,
                    acceptor: None,
                    line: Vec::new(),
                },
                localhost(),
                acceptor,
            )
            .unwrap();
            let port = server.local_addr().unwrap().port();
            let (tx, mut rx) = mpsc::unbounded();
            let (ltx, mut lost) = mpsc::unbounded();
            let t = create_connection_tls(
                move || Forward(tx, Some(ltx)),
                "localhost",
                port,
                &connector,
            )
            .await
            .unwrap();
            assert!(t.is_tls() && !t.can_write_eof());
            let mut acc = Vec::new();
            t.write(b"hello\n");
            assert_eq!(read_until_nl(&mut rx, &mut acc).await, b"tls:hello\n");
            // A large write crosses the marks and still arrives whole.
            let big = vec![b'z'; 300_000];
            t.write(&big);
            t.write(b"\n");
            let line = read_until_nl(&mut rx, &mut acc).await;
            assert_eq!(line.len(), 4 + 300_001);
            t.close();
            assert_eq!(lost.recv().await.unwrap(), None);
            server.close();
        });
    }

    #[test]
    fn start_tls_on_live_transports_both_sides() {
        let (acceptor, connector) = tls_pair();
        run(async move {
            let server = create_server(
                move || EchoServer {
                    t: None,
                    acceptor: Some(acceptor.clone()),
                    line: Vec::new(),
                },
                localhost(),
            )
            .unwrap();
            let port = server.local_addr().unwrap().port();
            let (tx, mut rx) = mpsc::unbounded();
            let t = create_connection(move || Forward(tx, None), "127.0.0.1", port)
                .await
                .unwrap();
            let mut acc = Vec::new();
            t.write(b"one\n");
            assert_eq!(read_until_nl(&mut rx, &mut acc).await, b"plain:one\n");
            t.write(b"STARTTLS\n");
            assert_eq!(read_until_nl(&mut rx, &mut acc).await, b"GO\n");
            assert!(acc.is_empty());
            // Written before the handshake finishes: must be sent encrypted after it.
            let upgrade = t.start_tls(StartTls::client(connector.clone(), "localhost"));
            t.write(b"two\n");
            upgrade.await.unwrap();
            assert!(t.is_tls());
            assert_eq!(read_until_nl(&mut rx, &mut acc).await, b"tls:two\n");
            let err = t
                .start_tls(StartTls::client(connector, "localhost"))
                .await
                .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);

            // sendfile over TLS takes the fallback and keeps order.
            let data = vec![b'f'; 100_000];
            let (path, file) = temp_file("tls-sendfile", &data);
            assert_eq!(t.sendfile(&file, 0, None).await.unwrap(), 100_000);
            t.write(b"\n");
            let line = read_until_nl(&mut rx, &mut acc).await;
            assert_eq!(line.len(), 4 + 100_001);
            assert!(line.starts_with(b"tls:ff"));
            std::fs::remove_file(path).unwrap();
            t.close();
            server.close();
        });
    }

    #[test]
    fn a_failed_upgrade_reports_and_ends_the_connection() {
        let (acceptor, _) = tls_pair();
        let (_, other_connector) = tls_pair();
        run(async move {
            let server = create_server(
                move || EchoServer {
                    t: None,
                    acceptor: Some(acceptor.clone()),
                    line: Vec::new(),
                },
                localhost(),
            )
            .unwrap();
            let port = server.local_addr().unwrap().port();
            let (tx, mut rx) = mpsc::unbounded();
            let (ltx, mut lost) = mpsc::unbounded();
            let t = create_connection(move || Forward(tx, Some(ltx)), "127.0.0.1", port)
                .await
                .unwrap();
            let mut acc = Vec::new();
            t.write(b"STARTTLS\n");
            assert_eq!(read_until_nl(&mut rx, &mut acc).await, b"GO\n");
            let err = t
                .start_tls(StartTls::client(other_connector, "localhost"))
                .await
                .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
            assert_eq!(lost.recv().await.unwrap(), Some(io::ErrorKind::InvalidData));
            server.close();
        });
    }

    #[test]
    fn a_failed_server_handshake_creates_no_protocol() {
        let (acceptor, connector) = tls_pair();
        let (_, untrusting) = tls_pair();
        run(async move {
            let made = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let m = made.clone();
            let server = create_server_tls(
                move || {
                    m.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    EchoServer {
                        t: None,
                        acceptor: None,
                        line: Vec::new(),
                    }
                },
                localhost(),
                acceptor,
            )
            .unwrap();
            let port = server.local_addr().unwrap().port();
            let (tx, _rx) = mpsc::unbounded();
            let err =
                create_connection_tls(move || Forward(tx, None), "localhost", port, &untrusting)
                    .await
                    .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
            let (tx, mut rx) = mpsc::unbounded();
            let t = create_connection_tls(move || Forward(tx, None), "localhost", port, &connector)
                .await
                .unwrap();
            t.write(b"x\n");
            let mut acc = Vec::new();
            assert_eq!(read_until_nl(&mut rx, &mut acc).await, b"tls:x\n");
            assert_eq!(made.load(std::sync::atomic::Ordering::SeqCst), 1);
            t.close();
            server.close();
        });
    }
}
