//! tokio-util's `LinesCodec` framed over tulip's TCP, Unix and TLS streams through `Compat`:
//! tokio's io traits on tulip sockets, `poll_shutdown` as a FIN or a `close_notify`.

use futures_lite::io::{AsyncRead, AsyncWrite};
use futures_util::{SinkExt, StreamExt};
use tokio_util::codec::{Framed, LinesCodec, LinesCodecError};
use tulip_compat::Compat;
use tulip_tls::{Identity, TlsAcceptor, TlsConnector, pem};

const MAX_LINE: usize = 1024;

/// Answers each line in upper case until the peer closes; returns how many it answered.
async fn shout_back<S>(stream: S) -> Result<usize, LinesCodecError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut lines = Framed::new(
        Compat::new(stream),
        LinesCodec::new_with_max_length(MAX_LINE),
    );
    let mut answered = 0;
    while let Some(line) = lines.next().await {
        lines.send(line?.to_uppercase()).await?;
        answered += 1;
    }
    SinkExt::<String>::close(&mut lines).await?;
    Ok(answered)
}

/// Sends three lines (one of them long enough to need several reads), checks the answers,
/// closes its side and expects the end of the stream.
async fn talk<S>(stream: S)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut lines = Framed::new(
        Compat::new(stream),
        LinesCodec::new_with_max_length(MAX_LINE),
    );
    let long = "tulip".repeat(150);
    for line in ["hello", long.as_str(), "bye"] {
        lines.send(line).await.expect("send");
        let answer = lines.next().await.expect("an answer").expect("a line");
        assert_eq!(answer, line.to_uppercase());
    }
    // `close` flushes and shuts the write side down (FIN / close_notify); the server then
    // sees the end, stops and closes its side in turn.
    SinkExt::<&str>::close(&mut lines).await.expect("close");
    assert!(
        lines.next().await.is_none(),
        "end of stream after the server's close"
    );
}

#[test]
fn lines_over_tcp() {
    tulip_executor::run(async {
        let listener = tulip_net::TcpListener::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tulip_executor::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            shout_back(stream).await
        });
        talk(tulip_net::TcpStream::connect(addr).await.unwrap()).await;
        assert_eq!(server.await.unwrap().unwrap(), 3);
    });
}

#[test]
fn lines_over_unix() {
    tulip_executor::run(async {
        let (a, b) = tulip_net::UnixStream::pair().unwrap();
        let server = tulip_executor::spawn(shout_back(a));
        talk(b).await;
        assert_eq!(server.await.unwrap().unwrap(), 3);
    });
}

#[test]
fn lines_over_tls() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
    let acceptor =
        TlsAcceptor::builder(Identity::from_pem(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap())
            .build()
            .unwrap();
    let connector = TlsConnector::builder()
        .root_store(pem::root_store_from_pem(cert_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    tulip_executor::run(async move {
        let listener = tulip_net::TcpListener::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tulip_executor::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let tls = acceptor.accept(tcp).await.expect("server handshake");
            shout_back(tls).await
        });
        let tcp = tulip_net::TcpStream::connect(addr).await.unwrap();
        talk(
            connector
                .connect("localhost", tcp)
                .await
                .expect("client handshake"),
        )
        .await;
        assert_eq!(server.await.unwrap().unwrap(), 3);
    });
}

#[test]
fn an_overlong_line_is_an_error_value() {
    tulip_executor::run(async {
        let (a, b) = tulip_net::UnixStream::pair().unwrap();
        let server = tulip_executor::spawn(shout_back(a));
        let mut raw = Compat::new(b);
        let flood = vec![b'x'; MAX_LINE * 4];
        tokio::io::AsyncWriteExt::write_all(&mut raw, &flood)
            .await
            .unwrap();
        let err = server.await.unwrap().unwrap_err();
        assert!(
            matches!(err, LinesCodecError::MaxLineLengthExceeded),
            "got {err:?}"
        );
    });
}
