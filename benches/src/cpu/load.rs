//! The load side of the CPU benchmarks: plain std sockets on `THREADS` threads (pinned with
//! the rest of this process to the load core), the same for tulip and its peer. Each thread
//! owns a share of the connections; one round writes on every connection it owns, then reads
//! every answer, so all connections have an operation in flight. Every read has a timeout.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

const THREADS: usize = 2;
const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs `per_thread(share of conns, rounds)` on `THREADS` threads.
fn on_threads(conns: usize, ops: usize, per_thread: impl Fn(usize, usize) + Sync) {
    let share = conns / THREADS;
    let rounds = ops.div_ceil(conns).max(1);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| per_thread(share, rounds));
        }
    });
}

fn connect(addr: SocketAddr) -> TcpStream {
    let c = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    c.set_nodelay(true).unwrap();
    c.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    c
}

/// `ops` round trips of `size` bytes over `conns` TCP connections.
pub(super) fn tcp_echo(addr: SocketAddr, ops: usize, conns: usize, size: usize) {
    on_threads(conns, ops, |share, rounds| {
        let mut cs: Vec<TcpStream> = (0..share).map(|_| connect(addr)).collect();
        let msg = vec![7u8; size];
        let mut back = vec![0u8; size];
        for _ in 0..rounds {
            for c in &mut cs {
                c.write_all(&msg).expect("write");
            }
            for c in &mut cs {
                c.read_exact(&mut back).expect("read echo");
            }
        }
    });
}

/// `ops` datagram round trips of `size` bytes from `socks` sockets.
pub(super) fn udp_echo(addr: SocketAddr, ops: usize, socks: usize, size: usize) {
    on_threads(socks, ops, |share, rounds| {
        let ss: Vec<UdpSocket> = (0..share)
            .map(|_| {
                let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                s.connect(addr).unwrap();
                s.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
                s
            })
            .collect();
        let msg = vec![7u8; size];
        let mut back = vec![0u8; size + 1];
        for _ in 0..rounds {
            for s in &ss {
                s.send(&msg).expect("send");
            }
            for s in &ss {
                let n = s
                    .recv(&mut back)
                    .expect("echoed datagram (lost on loopback?)");
                assert_eq!(n, size);
            }
        }
    });
}

/// A WebSocket client over a blocking socket: the handshake, masked binary frames out,
/// unmasked frames in (RFC 6455, only what an echo needs).
struct Ws {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Ws {
    fn connect(addr: SocketAddr) -> Ws {
        let mut s = connect(addr);
        let req = format!(
            "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        s.write_all(req.as_bytes()).expect("write handshake");
        let mut buf = Vec::new();
        let mut tmp = [0u8; 1024];
        let end = loop {
            let n = s.read(&mut tmp).expect("read handshake");
            assert!(n > 0, "closed during the handshake");
            buf.extend_from_slice(&tmp[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        assert!(buf.starts_with(b"HTTP/1.1 101"), "no 101");
        buf.drain(..end);
        Ws { s, buf }
    }

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0x82];
        match payload.len() {
            n @ 0..=125 => f.push(0x80 | n as u8),
            n @ 126..=0xffff => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask = [0x12, 0x34, 0x56, 0x78];
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        f
    }

    /// Reads one whole unmasked frame and returns its payload length.
    fn read_frame(&mut self) -> usize {
        loop {
            if let Some((head, len)) = parse_head(&self.buf)
                && self.buf.len() >= head + len
            {
                self.buf.drain(..head + len);
                return len;
            }
            let at = self.buf.len();
            self.buf.resize(at + 64 * 1024, 0);
            let n = self.s.read(&mut self.buf[at..]).expect("read frame");
            assert!(n > 0, "WebSocket server closed");
            self.buf.truncate(at + n);
        }
    }
}

/// An unmasked frame head's size and its payload length, once the head is complete.
fn parse_head(b: &[u8]) -> Option<(usize, usize)> {
    let len = *b.get(1)? & 0x7f;
    match len {
        126 => Some((
            4,
            u16::from_be_bytes(b.get(2..4)?.try_into().ok()?) as usize,
        )),
        127 => Some((
            10,
            u64::from_be_bytes(b.get(2..10)?.try_into().ok()?) as usize,
        )),
        n => Some((2, n as usize)),
    }
}

/// `ops` message round trips of `size` bytes over `conns` WebSocket connections.
pub(super) fn ws_echo(addr: SocketAddr, ops: usize, conns: usize, size: usize) {
    let frame = Arc::new(Ws::frame(&vec![b'x'; size]));
    on_threads(conns, ops, |share, rounds| {
        let mut ws: Vec<Ws> = (0..share).map(|_| Ws::connect(addr)).collect();
        for _ in 0..rounds {
            for w in &mut ws {
                w.s.write_all(&frame).expect("write frame");
            }
            for w in &mut ws {
                assert_eq!(w.read_frame(), size);
            }
        }
    });
}

/// `ops` full TLS 1.3 handshakes, `parallel` at a time; each connection then closes.
pub(super) fn tls_handshakes(addr: SocketAddr, ops: usize, parallel: usize) {
    use tulip_tls::rustls::{ClientConfig, ClientConnection, client::Resumption};
    let config = {
        // The server's certificate is made in the child: accept any, as this only measures.
        let mut c = ClientConfig::builder_with_provider(Arc::new(
            tulip_tls::rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert))
        .with_no_client_auth();
        c.resumption = Resumption::disabled();
        Arc::new(c)
    };
    let per = ops.div_ceil(parallel);
    std::thread::scope(|s| {
        for _ in 0..parallel {
            let config = config.clone();
            s.spawn(move || {
                for _ in 0..per {
                    let mut tcp = connect(addr);
                    let name = tulip_tls::pki_types::ServerName::try_from("localhost").unwrap();
                    let mut conn = ClientConnection::new(config.clone(), name).unwrap();
                    while conn.is_handshaking() {
                        conn.complete_io(&mut tcp).expect("TLS handshake");
                    }
                    conn.send_close_notify();
                    let _ = conn.complete_io(&mut tcp);
                }
            });
        }
    });
}

/// A verifier that accepts the child's throwaway certificate (signatures still checked).
#[derive(Debug)]
struct AnyCert;

impl tulip_tls::rustls::client::danger::ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &tulip_tls::pki_types::CertificateDer<'_>,
        _: &[tulip_tls::pki_types::CertificateDer<'_>],
        _: &tulip_tls::pki_types::ServerName<'_>,
        _: &[u8],
        _: tulip_tls::pki_types::UnixTime,
    ) -> Result<tulip_tls::rustls::client::danger::ServerCertVerified, tulip_tls::rustls::Error>
    {
        Ok(tulip_tls::rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &tulip_tls::pki_types::CertificateDer<'_>,
        dss: &tulip_tls::rustls::DigitallySignedStruct,
    ) -> Result<tulip_tls::rustls::client::danger::HandshakeSignatureValid, tulip_tls::rustls::Error>
    {
        tulip_tls::rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &tulip_tls::rustls::crypto::ring::default_provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &tulip_tls::pki_types::CertificateDer<'_>,
        dss: &tulip_tls::rustls::DigitallySignedStruct,
    ) -> Result<tulip_tls::rustls::client::danger::HandshakeSignatureValid, tulip_tls::rustls::Error>
    {
        tulip_tls::rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &tulip_tls::rustls::crypto::ring::default_provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<tulip_tls::rustls::SignatureScheme> {
        tulip_tls::rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
