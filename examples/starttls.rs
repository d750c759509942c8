//! STARTTLS: an SMTP-like line protocol that starts in the clear and upgrades the live
//! connection to TLS (asyncio's `StreamWriter.start_tls`).
//!
//! The server greets `220`, answers `EHLO` with a `250-` list that offers `STARTTLS`, and on
//! `STARTTLS` replies `220 Ready to start TLS`; both sides then run the TLS handshake on the
//! same TCP connection and the session goes on encrypted (`NOOP`, `ECHO text`, `STATUS`,
//! `QUIT`). Over TLS the server no longer offers `STARTTLS`, and it refuses an upgrade when
//! the client pipelined bytes after `STARTTLS` (RFC 3207).
//!
//! Run: `cargo run -p examples --example starttls` serves on 127.0.0.1:8025 with a throwaway
//! certificate for `localhost` (its CA is written to a temp file, printed at start); try
//! `openssl s_client -starttls smtp -connect 127.0.0.1:8025 -CAfile <that file>`.
//! `--self-test` serves on a free port, drives a session with its own client (plain, then
//! TLS), checks every answer and exits 0.

use std::io;

use futures_lite::io::{AsyncRead, AsyncWrite};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use tulip::net::{StartTls, StreamReader, StreamWriter, open_connection, start_server};
use tulip::tls::{Identity, TlsAcceptor, TlsConnector, pem};

/// How a command phase ended.
enum Phase {
    Quit,
    StartTls,
    Eof,
}

/// Serves commands until QUIT, STARTTLS (only while plain) or the end of the stream.
async fn commands<R, W>(r: &mut StreamReader<R>, w: &mut StreamWriter<W>, tls: bool) -> Phase
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    loop {
        let line = match r.read_line().await {
            Ok(l) if !l.is_empty() => l,
            _ => return Phase::Eof,
        };
        let line = String::from_utf8_lossy(&line);
        let line = line.trim_end();
        let (verb, arg) = line.split_once(' ').unwrap_or((line, ""));
        let reply = match verb.to_ascii_uppercase().as_str() {
            "EHLO" | "HELO" if tls => format!("250-tulip greets {arg}\r\n250 HELP\r\n"),
            "EHLO" | "HELO" => format!("250-tulip greets {arg}\r\n250-STARTTLS\r\n250 HELP\r\n"),
            "STARTTLS" if tls => "503 5.5.1 TLS already active\r\n".into(),
            "STARTTLS" => {
                w.write(b"220 2.0.0 Ready to start TLS\r\n");
                return Phase::StartTls;
            }
            "NOOP" => "250 2.0.0 OK\r\n".into(),
            "ECHO" => format!("250 {arg}\r\n"),
            "STATUS" if tls => "250 encrypted\r\n".into(),
            "STATUS" => "250 plaintext\r\n".into(),
            "QUIT" => {
                w.write(b"221 2.0.0 Bye\r\n");
                return Phase::Quit;
            }
            _ => format!("500 5.5.2 unknown command {verb:?}\r\n"),
        };
        w.write(reply.as_bytes());
        if w.drain().await.is_err() {
            return Phase::Eof;
        }
    }
}

/// One connection: the plain phase, the upgrade, the encrypted phase.
async fn session(mut r: StreamReader, mut w: StreamWriter, acceptor: TlsAcceptor) {
    w.write(b"220 tulip ESMTP ready\r\n");
    if w.drain().await.is_err() {
        return;
    }
    match commands(&mut r, &mut w, false).await {
        Phase::StartTls => {}
        Phase::Quit => {
            let _ = w.wait_closed().await;
            return;
        }
        Phase::Eof => return,
    }
    let (mut r, mut w) = match w.start_tls(r, StartTls::server(acceptor)).await {
        Ok(pair) => pair,
        Err(e) => {
            eprintln!("starttls: upgrade failed: {e}");
            return;
        }
    };
    if let Phase::Quit = commands(&mut r, &mut w, true).await {
        let _ = w.wait_closed().await;
    }
}

/// Sends `cmd` and reads the reply up to its last line (`NNN ` rather than `NNN-`).
async fn ask<R, W>(
    r: &mut StreamReader<R>,
    w: &mut StreamWriter<W>,
    cmd: &str,
) -> io::Result<Vec<String>>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    if !cmd.is_empty() {
        w.write(format!("{cmd}\r\n").as_bytes());
        w.drain().await?;
        println!("C: {cmd}");
    }
    let mut lines = Vec::new();
    loop {
        let line = r.read_line().await.map_err(io::Error::other)?;
        if line.is_empty() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let line = String::from_utf8_lossy(&line).trim_end().to_string();
        println!("S: {line}");
        let last = line.as_bytes().get(3) != Some(&b'-');
        lines.push(line);
        if last {
            return Ok(lines);
        }
    }
}

/// A throwaway CA and a `localhost` certificate: (ca_pem, chain_pem, key_pem).
fn certificates() -> io::Result<(String, String, String)> {
    let err = |e: rcgen::Error| io::Error::other(e);
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // Distinct names: OpenSSL takes a leaf whose issuer equals its subject for self-signed.
    ca.distinguished_name
        .push(DnType::CommonName, "tulip example CA");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().map_err(err)?).map_err(err)?;
    let key = KeyPair::generate().map_err(err)?;
    let mut leaf = CertificateParams::new(vec!["localhost".to_string()]).map_err(err)?;
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    let cert = leaf.signed_by(&key, &ca).map_err(err)?;
    Ok((
        ca.pem(),
        format!("{}{}", cert.pem(), ca.pem()),
        key.serialize_pem(),
    ))
}

async fn client(port: u16, connector: TlsConnector) -> io::Result<()> {
    let (mut r, mut w) = open_connection("127.0.0.1", port).await?;
    assert!(ask(&mut r, &mut w, "").await?[0].starts_with("220 "));
    let ehlo = ask(&mut r, &mut w, "EHLO client.example").await?;
    assert!(
        ehlo.iter().any(|l| l == "250-STARTTLS"),
        "STARTTLS not offered"
    );
    assert_eq!(ask(&mut r, &mut w, "STATUS").await?, ["250 plaintext"]);
    assert!(ask(&mut r, &mut w, "STARTTLS").await?[0].starts_with("220 "));

    let (mut r, mut w) = w
        .start_tls(r, StartTls::client(connector, "localhost"))
        .await?;
    println!("-- TLS established; the session continues encrypted --");
    let ehlo = ask(&mut r, &mut w, "EHLO client.example").await?;
    assert!(
        !ehlo.iter().any(|l| l.contains("STARTTLS")),
        "STARTTLS offered twice"
    );
    assert_eq!(ask(&mut r, &mut w, "STATUS").await?, ["250 encrypted"]);
    assert_eq!(
        ask(&mut r, &mut w, "ECHO over tls").await?,
        ["250 over tls"]
    );
    assert!(ask(&mut r, &mut w, "STARTTLS").await?[0].starts_with("503 "));
    assert!(ask(&mut r, &mut w, "QUIT").await?[0].starts_with("221 "));
    Ok(())
}

fn main() -> io::Result<()> {
    let self_test = std::env::args().any(|a| a == "--self-test");
    let (ca, chain, key) = certificates()?;
    let acceptor =
        TlsAcceptor::builder(Identity::from_pem(chain.as_bytes(), key.as_bytes())?).build()?;
    let connector = TlsConnector::builder()
        .root_store(pem::root_store_from_pem(ca.as_bytes())?)
        .build()?;
    tulip::run(async move {
        let addr = if self_test {
            "127.0.0.1:0"
        } else {
            "127.0.0.1:8025"
        };
        let server = start_server(
            move |r, w| session(r, w, acceptor.clone()),
            addr.parse().expect("a literal address"),
        )?;
        let port = server.local_addr().expect("bound").port();
        if !self_test {
            let ca_path = std::env::temp_dir().join("tulip-starttls-ca.pem");
            std::fs::write(&ca_path, &ca)?;
            println!("STARTTLS server on 127.0.0.1:{port}; try:");
            println!(
                "  openssl s_client -starttls smtp -connect 127.0.0.1:{port} -CAfile {}",
                ca_path.display()
            );
            server.serve_forever().await;
            return Ok(());
        }
        client(port, connector).await?;
        server.close();
        println!("starttls self-test ok");
        Ok(())
    })
}
