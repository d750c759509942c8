//! STARTTLS on streams (`StreamWriter::start_tls`): an SMTP-like server upgraded mid-session,
//! checked against our own client, against `openssl s_client -starttls smtp` as a real peer,
//! and refusing plaintext pipelined after `STARTTLS`.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use crate::{localhost, run};
use futures_lite::io::{AsyncRead, AsyncWrite};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use tulip_net::{StartTls, StreamReader, StreamWriter, open_connection, start_server};
use tulip_tls::{Identity, TlsAcceptor, TlsConnector, pem};

/// A CA and a `localhost` certificate it signed: (ca_pem, chain_pem, key_pem).
fn certificates() -> (String, String, String) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // Distinct names: OpenSSL takes a leaf whose issuer equals its subject for self-signed.
    ca.distinguished_name
        .push(DnType::CommonName, "tulip test CA");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    let cert = leaf.signed_by(&key, &ca).unwrap();
    (
        ca.pem(),
        format!("{}{}", cert.pem(), ca.pem()),
        key.serialize_pem(),
    )
}

fn acceptor(chain: &str, key: &str) -> TlsAcceptor {
    TlsAcceptor::builder(Identity::from_pem(chain.as_bytes(), key.as_bytes()).unwrap())
        .build()
        .unwrap()
}

enum Phase {
    Quit,
    StartTls,
    Eof,
}

/// The server's command loop (the `starttls` example's protocol, trimmed).
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
        let line = String::from_utf8_lossy(&line).trim_end().to_string();
        let (verb, arg) = line.split_once(' ').unwrap_or((&line, ""));
        let reply = match verb.to_ascii_uppercase().as_str() {
            "EHLO" if tls => format!("250-hi {arg}\r\n250 HELP\r\n"),
            "EHLO" => format!("250-hi {arg}\r\n250-STARTTLS\r\n250 HELP\r\n"),
            "STARTTLS" if !tls => {
                w.write(b"220 Ready to start TLS\r\n");
                return Phase::StartTls;
            }
            "STATUS" if tls => "250 encrypted\r\n".to_string(),
            "STATUS" => "250 plaintext\r\n".to_string(),
            "ECHO" => format!("250 {arg}\r\n"),
            "QUIT" => {
                w.write(b"221 Bye\r\n");
                return Phase::Quit;
            }
            _ => "500 unknown\r\n".to_string(),
        };
        w.write(reply.as_bytes());
        if w.drain().await.is_err() {
            return Phase::Eof;
        }
    }
}

/// One session; reports how the upgrade went on `done`.
async fn session(
    mut r: StreamReader,
    mut w: StreamWriter,
    acceptor: TlsAcceptor,
    done: tulip_sync::mpsc::Sender<Result<(), String>>,
) {
    w.write(b"220 test ESMTP\r\n");
    let _ = w.drain().await;
    if !matches!(commands(&mut r, &mut w, false).await, Phase::StartTls) {
        let _ = done.try_send(Err("no STARTTLS".into()));
        return;
    }
    match w.start_tls(r, StartTls::server(acceptor)).await {
        Ok((mut r, mut w)) => {
            if let Phase::Quit = commands(&mut r, &mut w, true).await {
                let _ = w.wait_closed().await;
            }
            let _ = done.try_send(Ok(()));
        }
        Err(e) => {
            let _ = done.try_send(Err(format!("{:?}: {e}", e.kind())));
        }
    }
}

#[test]
fn upgrade_mid_session_with_our_client() {
    let (ca, chain, key) = certificates();
    let acc = acceptor(&chain, &key);
    let connector = TlsConnector::builder()
        .root_store(pem::root_store_from_pem(ca.as_bytes()).unwrap())
        .build()
        .unwrap();
    run(async move {
        let (tx, mut rx) = tulip_sync::mpsc::unbounded();
        let server = start_server(
            move |r, w| session(r, w, acc.clone(), tx.clone()),
            localhost(),
        )
        .unwrap();
        let port = server.local_addr().unwrap().port();
        let (mut r, mut w) = open_connection("127.0.0.1", port).await.unwrap();
        assert_eq!(r.read_line().await.unwrap(), b"220 test ESMTP\r\n");
        w.write(b"STATUS\r\nSTARTTLS\r\n");
        w.drain().await.unwrap();
        assert_eq!(r.read_line().await.unwrap(), b"250 plaintext\r\n");
        assert_eq!(r.read_line().await.unwrap(), b"220 Ready to start TLS\r\n");
        w.set_write_buffer_limits(1000, Some(100));

        let (mut r, mut w) = w
            .start_tls(r, StartTls::client(connector, "localhost"))
            .await
            .unwrap();
        assert_eq!(
            r.get_ref()
                .with_stream(|s| s.server_name().map(String::from)),
            Some("localhost".to_string())
        );
        assert!(r.get_ref().with_stream(|s| s.protocol_version().is_some()));
        // StreamWriter::sendfile over TLS takes the read-and-write path.
        let path = std::env::temp_dir().join(format!(
            "tulip-net-{}-starttls-sendfile",
            std::process::id()
        ));
        std::fs::write(&path, b"ECHO from a file\r\n").unwrap();
        let file = std::fs::File::open(&path).unwrap();
        w.write(b"STATUS\r\n");
        assert_eq!(w.sendfile(&file, 0, None).await.unwrap(), 18);
        std::fs::remove_file(&path).unwrap();
        w.write(b"ECHO secret\r\nQUIT\r\n");
        w.drain().await.unwrap();
        assert_eq!(r.read_line().await.unwrap(), b"250 encrypted\r\n");
        assert_eq!(r.read_line().await.unwrap(), b"250 from a file\r\n");
        assert_eq!(r.read_line().await.unwrap(), b"250 secret\r\n");
        assert_eq!(r.read_line().await.unwrap(), b"221 Bye\r\n");
        assert_eq!(r.read_line().await.unwrap(), b"");
        assert_eq!(rx.recv().await.unwrap(), Ok(()));
        server.close();
    });
}

#[test]
fn plaintext_pipelined_after_starttls_is_refused() {
    let (_, chain, key) = certificates();
    let acc = acceptor(&chain, &key);
    run(async move {
        let (tx, mut rx) = tulip_sync::mpsc::unbounded();
        let server = start_server(
            move |r, w| session(r, w, acc.clone(), tx.clone()),
            localhost(),
        )
        .unwrap();
        let port = server.local_addr().unwrap().port();
        let (mut r, mut w) = open_connection("127.0.0.1", port).await.unwrap();
        assert_eq!(r.read_line().await.unwrap(), b"220 test ESMTP\r\n");
        // An injection attempt: a command smuggled behind STARTTLS in one segment.
        w.write(b"STARTTLS\r\nECHO injected\r\n");
        w.drain().await.unwrap();
        let err = rx.recv().await.unwrap().unwrap_err();
        assert!(err.starts_with("InvalidData"), "{err}");
        assert!(err.contains("plaintext arrived after STARTTLS"), "{err}");
        server.close();
    });
}

#[test]
fn a_client_upgrade_checks_the_certificate_name() {
    let (ca, chain, key) = certificates();
    let acc = acceptor(&chain, &key);
    let connector = TlsConnector::builder()
        .root_store(pem::root_store_from_pem(ca.as_bytes()).unwrap())
        .build()
        .unwrap();
    run(async move {
        let (tx, _rx) = tulip_sync::mpsc::unbounded();
        let server = start_server(
            move |r, w| session(r, w, acc.clone(), tx.clone()),
            localhost(),
        )
        .unwrap();
        let port = server.local_addr().unwrap().port();
        let (mut r, mut w) = open_connection("127.0.0.1", port).await.unwrap();
        r.read_line().await.unwrap();
        w.write(b"STARTTLS\r\n");
        w.drain().await.unwrap();
        assert_eq!(r.read_line().await.unwrap(), b"220 Ready to start TLS\r\n");
        let err = w
            .start_tls(r, StartTls::client(connector, "not-localhost.example"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");
        assert!(err.to_string().contains("certificate"), "{err}");
        server.close();
    });
}

/// `openssl s_client -starttls smtp` as the client: it speaks EHLO/STARTTLS itself, verifies
/// our certificate, then sends commands over TLS and prints the replies.
#[test]
fn openssl_s_client_starttls_smtp() {
    let have_openssl = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_openssl {
        assert!(
            std::env::var("TULIP_REQUIRE_PEERS").as_deref() != Ok("1"),
            "openssl is missing and TULIP_REQUIRE_PEERS=1"
        );
        eprintln!("skipping: no openssl on PATH (install openssl to run this peer test)");
        return;
    }
    let (ca, chain, key) = certificates();
    let ca_path =
        std::env::temp_dir().join(format!("tulip-net-{}-starttls-ca.pem", std::process::id()));
    std::fs::write(&ca_path, &ca).unwrap();
    let acc = acceptor(&chain, &key);
    let ca_arg = ca_path.clone();
    let (out, upgraded) = run(async move {
        let (tx, mut rx) = tulip_sync::mpsc::unbounded();
        let server = start_server(
            move |r, w| session(r, w, acc.clone(), tx.clone()),
            localhost(),
        )
        .unwrap();
        let port = server.local_addr().unwrap().port();
        let out = tulip_executor::spawn_blocking(move || {
            let mut child = Command::new("openssl")
                .args(["s_client", "-starttls", "smtp", "-connect"])
                .arg(format!("127.0.0.1:{port}"))
                .arg("-CAfile")
                .arg(&ca_arg)
                .args([
                    "-verify_return_error",
                    "-verify_hostname",
                    "localhost",
                    "-servername",
                    "localhost",
                    "-ign_eof",
                ])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn openssl");
            // s_client negotiates STARTTLS first and only then sends stdin, over TLS.
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"STATUS\nECHO round trip\nQUIT\n")
                .unwrap();
            let mut out = String::new();
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            child.wait().unwrap();
            format!("{out}\n--- stderr ---\n{err}")
        })
        .await
        .unwrap();
        let upgraded = rx.recv().await.unwrap();
        server.close();
        (out, upgraded)
    });
    let _ = std::fs::remove_file(&ca_path);
    assert_eq!(upgraded, Ok(()), "{out}");
    assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
    assert!(out.contains("250 encrypted"), "{out}");
    assert!(out.contains("250 round trip"), "{out}");
    assert!(out.contains("221 Bye"), "{out}");
}
