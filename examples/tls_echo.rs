//! A TLS echo server and its client in one process, on 127.0.0.1.
//!
//! Run with `cargo run -p examples --example tls_echo`. It makes a throwaway certificate
//! authority and a `localhost` certificate with rcgen, starts a TLS echo server (ALPN `echo/1`)
//! on a free port on its own thread, then connects three clients one after the other. Each
//! client prints what it negotiated, sends a few lines, checks the echo and closes with
//! `close_notify`. Expected output ends with `all 3 clients echoed correctly`; the exit code is
//! 0 on success.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;

use futures_lite::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tulip_reactor::Async;
use tulip_tls::{Identity, TlsAcceptor, TlsConnector, pem};

const CLIENTS: usize = 3;

fn main() -> io::Result<()> {
    let (ca_pem, chain_pem, key_pem) = make_certificates();
    let acceptor = TlsAcceptor::builder(Identity::from_pem(
        chain_pem.as_bytes(),
        key_pem.as_bytes(),
    )?)
    .alpn_protocols(["echo/1"])
    .build()?;
    let connector = TlsConnector::builder()
        .root_store(pem::root_store_from_pem(ca_pem.as_bytes())?)
        .alpn_protocols(["echo/1"])
        .build()?;

    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    println!("TLS echo server on {addr}");
    let server = thread::spawn(move || tulip_reactor::block_on(serve(listener, acceptor)));

    tulip_reactor::block_on(async {
        for i in 0..CLIENTS {
            client(i, addr, &connector).await?;
        }
        io::Result::Ok(())
    })?;
    server.join().expect("server thread panicked")?;
    println!("all {CLIENTS} clients echoed correctly");
    Ok(())
}

/// Serves `CLIENTS` connections, echoing each until its client closes.
async fn serve(listener: TcpListener, acceptor: TlsAcceptor) -> io::Result<()> {
    let listener = Async::new(listener)?;
    for _ in 0..CLIENTS {
        let (tcp, peer) = listener.read_with(|l| l.accept()).await?;
        let tls = acceptor.accept(Async::new(tcp)?).await?;
        println!(
            "server: {peer} asked for {:?}",
            tls.server_name().unwrap_or("-")
        );
        let (mut reader, mut writer) = tls.split();
        let echoed = futures_lite::io::copy(&mut reader, &mut writer).await?;
        writer.close().await?;
        println!("server: echoed {echoed} bytes to {peer}");
    }
    Ok(())
}

async fn client(i: usize, addr: SocketAddr, connector: &TlsConnector) -> io::Result<()> {
    let tcp = Async::new(TcpStream::connect(addr)?)?;
    let tls = connector.connect("localhost", tcp).await?;
    println!(
        "client {i}: {:?}, {:?}, ALPN {:?}",
        tls.protocol_version().expect("negotiated"),
        tls.cipher_suite().expect("negotiated").suite(),
        tls.alpn_protocol().map(String::from_utf8_lossy),
    );
    let mut tls = BufReader::new(tls);
    for line in ["hello\n", "über TLS\n", "bye\n"] {
        tls.get_mut().write_all(line.as_bytes()).await?;
        let mut back = String::new();
        tls.read_line(&mut back).await?;
        if back != line {
            return Err(io::Error::other(format!(
                "client {i}: sent {line:?}, got back {back:?}"
            )));
        }
    }
    // Half-close: the server sees end of stream, closes its side, and we read that clean end.
    tls.get_mut().close().await?;
    let mut rest = Vec::new();
    tls.read_to_end(&mut rest).await?;
    println!("client {i}: echo verified, closed cleanly");
    Ok(())
}

/// A CA and a `localhost` certificate it signed: (CA PEM, chain PEM, key PEM).
fn make_certificates() -> (String, String, String) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("valid params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("CA");
    let key = KeyPair::generate().expect("key");
    let cert = CertificateParams::new(vec!["localhost".to_string()])
        .expect("valid name")
        .signed_by(&key, &ca)
        .expect("signed");
    (
        ca.pem(),
        format!("{}{}", cert.pem(), ca.pem()),
        key.serialize_pem(),
    )
}
