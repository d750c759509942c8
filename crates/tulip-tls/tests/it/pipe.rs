//! Client and server over the in-memory duplex pipe, both driven by one `block_on`.

use std::io;
use std::time::{Duration, Instant};

use futures_lite::future::zip;
use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use tulip_tls::{TlsAcceptor, TlsConnector, TlsStream};

use crate::certs::{
    acceptor, acceptor_builder, client_identity, connector, connector_builder, pki,
    rogue_client_identity,
};
use crate::duplex::{End, duplex};
use crate::{pattern, run};

type Pair = (io::Result<TlsStream<End>>, io::Result<TlsStream<End>>);

async fn handshake(connector: &TlsConnector, name: &str, acceptor: &TlsAcceptor) -> Pair {
    let (c, s) = duplex(64 * 1024);
    zip(connector.connect(name, c), acceptor.accept(s)).await
}

#[test]
fn echo_and_session_info() {
    run(async {
        let (client, server) = handshake(&connector(), "localhost", &acceptor()).await;
        let (mut client, mut server) = (client.unwrap(), server.unwrap());
        assert_eq!(client.server_name(), Some("localhost"));
        assert_eq!(server.server_name(), Some("localhost"));
        assert_eq!(
            client.peer_certificates().map(<[_]>::len),
            Some(2),
            "leaf and CA"
        );
        assert!(server.peer_certificates().is_none(), "no client auth asked");
        assert_eq!(
            client.protocol_version(),
            Some(tulip_tls::rustls::ProtocolVersion::TLSv1_3)
        );
        assert!(!client.is_server() && server.is_server());
        assert!(format!("{client:?}").contains("client"));

        client.write_all(b"ping").await.unwrap();
        let mut buf = [0; 4];
        server.read_exact(&mut buf).await.unwrap();
        server.write_all(&buf).await.unwrap();
        server.close().await.unwrap();
        let mut echoed = Vec::new();
        client.read_to_end(&mut echoed).await.unwrap();
        assert_eq!(echoed, b"ping");
    });
}

#[test]
fn alpn_negotiation_table() {
    // (client offers, server accepts, agreed protocol or None; Err = handshake must fail)
    type Case<'a> = (&'a [&'a str], &'a [&'a str], Result<Option<&'a str>, ()>);
    let cases: &[Case<'_>] = &[
        (
            &["h2", "http/1.1"],
            &["http/1.1", "h2"],
            Ok(Some("http/1.1")),
        ),
        (&["h2", "http/1.1"], &["h2"], Ok(Some("h2"))),
        (&[], &["h2"], Ok(None)),
        (&["h2"], &[], Ok(None)),
        (&["h2"], &["http/1.1"], Err(())),
    ];
    for (offer, accept, expected) in cases {
        let connector = connector_builder()
            .alpn_protocols(offer.iter().copied())
            .build()
            .unwrap();
        let acceptor = acceptor_builder()
            .alpn_protocols(accept.iter().copied())
            .build()
            .unwrap();
        let (client, server) = run(handshake(&connector, "localhost", &acceptor));
        match expected {
            Ok(proto) => {
                let (client, server) = (client.unwrap(), server.unwrap());
                let proto = proto.map(str::as_bytes);
                assert_eq!(client.alpn_protocol(), proto, "{offer:?} vs {accept:?}");
                assert_eq!(server.alpn_protocol(), proto, "{offer:?} vs {accept:?}");
            }
            Err(()) => {
                let err = server.unwrap_err();
                assert_eq!(err.kind(), io::ErrorKind::InvalidData);
                assert!(err.to_string().contains("TLS handshake failed"), "{err}");
                assert!(client.is_err(), "the client hears the alert too");
            }
        }
    }
}

#[test]
fn sni_is_sent_for_names_and_not_for_addresses() {
    run(async {
        let (client, server) = handshake(&connector(), "127.0.0.1", &acceptor()).await;
        let (client, server) = (client.unwrap(), server.unwrap());
        assert_eq!(client.server_name(), None);
        assert_eq!(server.server_name(), None);

        let no_sni = connector_builder().sni(false).build().unwrap();
        let (client, server) = handshake(&no_sni, "localhost", &acceptor()).await;
        assert!(client.is_ok());
        assert_eq!(server.unwrap().server_name(), None);
    });
}

#[test]
fn wrong_hostname_is_a_clear_error() {
    let (client, server) = run(handshake(&connector(), "wrong.example", &acceptor()));
    let err = client.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    let msg = err.to_string();
    assert!(
        msg.contains("TLS handshake failed") && msg.contains("not valid for name"),
        "{msg}"
    );
    assert!(server.is_err(), "the server hears the client's alert");
}

#[test]
fn untrusted_and_invalid_names_are_errors() {
    let (client, _server) = run(handshake(
        &TlsConnector::default(),
        "localhost",
        &acceptor(),
    ));
    let msg = client.unwrap_err().to_string();
    assert!(msg.contains("invalid peer certificate"), "{msg}");

    let (c, _s) = duplex(1024);
    let err = run(connector().connect("not a name!", c)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn mutual_tls_table() {
    let roots = || tulip_tls::pem::root_store_from_pem(pki().ca_pem.as_bytes()).unwrap();
    // (server requires a certificate, client identity, handshake succeeds, server sees a cert)
    type Case = (bool, Option<fn() -> tulip_tls::Identity>, bool, bool);
    let cases: &[Case] = &[
        (true, Some(client_identity), true, true),
        (true, None, false, false),
        (true, Some(rogue_client_identity), false, false),
        (false, Some(client_identity), true, true),
        (false, None, true, false),
        (false, Some(rogue_client_identity), false, false),
    ];
    for &(required, identity, ok, has_cert) in cases {
        let builder = acceptor_builder();
        let acceptor = if required {
            builder.client_auth_required(roots())
        } else {
            builder.client_auth_optional(roots())
        };
        let acceptor = acceptor.build().unwrap();
        let mut connector = connector_builder();
        if let Some(id) = identity {
            connector = connector.client_identity(id());
        }
        let connector = connector.build().unwrap();
        run(async {
            let (client, server) = handshake(&connector, "localhost", &acceptor).await;
            let case = format!("required={required} identity={} ", identity.is_some());
            if ok {
                let (mut client, mut server) = (client.unwrap(), server.unwrap());
                assert_eq!(server.peer_certificates().is_some(), has_cert, "{case}");
                client.write_all(b"x").await.unwrap();
                let mut b = [0];
                server.read_exact(&mut b).await.unwrap();
            } else {
                let err = server.unwrap_err();
                assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{case}{err}");
                // In TLS 1.3 the client finishes before the server checks its certificate, so
                // the client learns of the rejection from its first read.
                if let Ok(mut client) = client {
                    let err = client.read(&mut [0; 8]).await.unwrap_err();
                    assert!(err.to_string().contains("alert"), "{case}{err}");
                }
            }
        });
    }
}

#[test]
fn close_notify_ends_cleanly_and_a_drop_does_not() {
    run(async {
        let (client, server) = handshake(&connector(), "localhost", &acceptor()).await;
        let (mut client, mut server) = (client.unwrap(), server.unwrap());
        server.write_all(b"bye").await.unwrap();
        server.close().await.unwrap();
        let mut got = Vec::new();
        assert_eq!(client.read_to_end(&mut got).await.unwrap(), 3);
        assert_eq!(client.read(&mut [0; 8]).await.unwrap(), 0, "EOF stays EOF");

        let (client, server) = handshake(&connector(), "localhost", &acceptor()).await;
        let (mut client, mut server) = (client.unwrap(), server.unwrap());
        server.write_all(b"cut").await.unwrap();
        drop(server);
        let mut got = Vec::new();
        let err = client.read_to_end(&mut got).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(got, b"cut", "data before the cut is still delivered");
    });
}

#[test]
fn half_close_keeps_the_other_direction_open() {
    run(async {
        let (client, server) = handshake(&connector(), "localhost", &acceptor()).await;
        let (mut client, mut server) = (client.unwrap(), server.unwrap());
        client.write_all(b"request").await.unwrap();
        client.close().await.unwrap();
        let err = client.write_all(b"more").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);

        let mut req = Vec::new();
        server.read_to_end(&mut req).await.unwrap();
        assert_eq!(req, b"request");
        server.write_all(b"response").await.unwrap();
        server.close().await.unwrap();
        let mut resp = Vec::new();
        client.read_to_end(&mut resp).await.unwrap();
        assert_eq!(resp, b"response");
    });
}

#[test]
fn reset_mid_stream_is_an_error_not_a_hang() {
    run(async {
        let (client, server) = handshake(&connector(), "localhost", &acceptor()).await;
        let (mut client, mut server) = (client.unwrap(), server.unwrap());
        server.write_all(&[7; 1000]).await.unwrap();
        let mut buf = [0; 1000];
        client.read_exact(&mut buf).await.unwrap();
        server.get_ref().reset();
        let err = client.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
        let err = client.write_all(&buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    });
}

#[test]
fn handshake_times_out_against_a_silent_peer() {
    let limit = Some(Duration::from_millis(200));
    run(async {
        let (c, _silent) = duplex(1024);
        let start = Instant::now();
        let err = connector()
            .with_handshake_timeout(limit)
            .connect("localhost", c)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        assert!(err.to_string().contains("timed out"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(5));

        let (_silent, s) = duplex(1024);
        let err = acceptor()
            .with_handshake_timeout(limit)
            .accept(s)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    });
}

#[test]
fn peer_hanging_up_during_the_handshake_is_unexpected_eof() {
    run(async {
        let (c, s) = duplex(1024);
        drop(s);
        let err = connector().connect("localhost", c).await.unwrap_err();
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::UnexpectedEof | io::ErrorKind::BrokenPipe
            ),
            "{err}"
        );

        let (c, s) = duplex(1024);
        drop(c);
        let err = acceptor().accept(s).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
    });
}

#[test]
fn garbage_instead_of_a_hello_is_invalid_data() {
    run(async {
        let (mut c, s) = duplex(4096);
        futures_lite::io::AsyncWriteExt::write_all(&mut c, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let err = acceptor().accept(s).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    });
}

/// 8 MiB each way at once through a 16 KiB pipe: both sides meet backpressure constantly.
#[test]
fn large_bidirectional_transfer_is_byte_exact() {
    let len = if cfg!(debug_assertions) {
        2 << 20
    } else {
        8 << 20
    };
    let (up, down) = (pattern(len, 1), pattern(len, 2));
    run(async {
        let (c, s) = duplex(16 * 1024);
        let (client, server) = zip(connector().connect("localhost", c), acceptor().accept(s)).await;
        let (mut cr, mut cw) = client.unwrap().split();
        let (mut sr, mut sw) = server.unwrap().split();
        let client_send = async {
            cw.write_all(&up).await.unwrap();
            cw.close().await.unwrap();
        };
        let server_send = async {
            sw.write_all(&down).await.unwrap();
            sw.close().await.unwrap();
        };
        let client_recv = async {
            let mut got = Vec::new();
            cr.read_to_end(&mut got).await.unwrap();
            got
        };
        let server_recv = async {
            let mut got = Vec::new();
            sr.read_to_end(&mut got).await.unwrap();
            got
        };
        let ((_, _), (at_client, at_server)) =
            zip(zip(client_send, server_send), zip(client_recv, server_recv)).await;
        assert!(at_server == up, "client to server stream differs");
        assert!(at_client == down, "server to client stream differs");
        let stream = cr.reunite(cw).unwrap();
        assert_eq!(stream.server_name(), Some("localhost"));
    });
}

#[test]
fn reunite_refuses_halves_of_different_streams() {
    run(async {
        let (c1, s1) = handshake(&connector(), "localhost", &acceptor()).await;
        let (c2, _s2) = handshake(&connector(), "localhost", &acceptor()).await;
        let (r1, _w1) = c1.unwrap().split();
        let (_r2, w2) = c2.unwrap().split();
        assert_eq!(
            r1.with_stream(|s| s.server_name().map(str::to_owned))
                .as_deref(),
            Some("localhost")
        );
        assert!(r1.reunite(w2).is_err());
        drop(s1);
    });
}

/// The client's first 100 KB arrive in the same reads as its `Finished` message: the server's
/// handshake must leave them for reads instead of overfilling rustls's plaintext buffer.
#[test]
fn data_right_behind_the_handshake_is_kept_for_reads() {
    let data = pattern(100_000, 4);
    run(async {
        let (c, s) = duplex(1 << 20);
        let client = async {
            let mut tls = connector().connect("localhost", c).await.unwrap();
            // Small records, so that one transport read holds more than 16 KiB of plaintext.
            for chunk in data.chunks(1000) {
                tls.write_all(chunk).await.unwrap();
            }
            tls.close().await.unwrap();
            tls
        };
        let (_client, server) = zip(client, acceptor().accept(s)).await;
        let mut got = Vec::new();
        server.unwrap().read_to_end(&mut got).await.unwrap();
        assert!(got == data);
    });
}

/// A peer that never reads: writes stop being accepted once rustls's 64 KiB record queue and
/// the transport are full, instead of buffering without bound.
#[test]
fn writes_to_a_peer_that_never_reads_are_bounded() {
    run(async {
        let (client, server) = handshake(&connector(), "localhost", &acceptor()).await;
        let (mut client, _server) = (client.unwrap(), server.unwrap());
        let chunk = [0u8; 8192];
        let mut accepted = 0;
        // Nobody reads the pipe, so a write that is pending stays pending: one poll tells.
        while let Some(n) = futures_lite::future::poll_once(client.write(&chunk)).await {
            accepted += n.unwrap();
            assert!(accepted < 1 << 20, "no backpressure after {accepted} bytes");
        }
        // 64 KiB of pipe plus rustls's 64 KiB queue, give or take record overhead.
        assert!((64 << 10..=192 << 10).contains(&accepted), "{accepted}");
    });
}

#[test]
fn vectored_writes_arrive_in_order() {
    run(async {
        let (client, server) = handshake(&connector(), "localhost", &acceptor()).await;
        let (mut client, mut server) = (client.unwrap(), server.unwrap());
        let parts = [&b"one "[..], b"", b"two ", b"three"];
        let slices: Vec<_> = parts.iter().map(|p| io::IoSlice::new(p)).collect();
        let n = futures_lite::future::poll_fn(|cx| {
            futures_lite::io::AsyncWrite::poll_write_vectored(
                std::pin::Pin::new(&mut client),
                cx,
                &slices,
            )
        })
        .await
        .unwrap();
        assert_eq!(n, 13);
        client.close().await.unwrap();
        let mut got = String::new();
        server.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, "one two three");
    });
}

/// `AsyncBufRead` on the stream: delimiters split across records, then a clean end (empty
/// buffer) or an unclean one (an error), as `read_until` sees them.
#[test]
fn buffered_reads_across_records_and_both_kinds_of_end() {
    use futures_lite::io::AsyncBufReadExt;
    for clean in [true, false] {
        run(async {
            let (client, server) = handshake(&connector(), "localhost", &acceptor()).await;
            let (mut client, mut server) = (client.unwrap(), server.unwrap());
            for part in [&b"alpha;be"[..], b"ta;", b"gam", b"ma;tail"] {
                server.write_all(part).await.unwrap();
            }
            if clean {
                server.close().await.unwrap();
            }
            drop(server);
            let mut items = Vec::new();
            for _ in 0..3 {
                let mut item = Vec::new();
                client.read_until(b';', &mut item).await.unwrap();
                items.push(String::from_utf8(item).unwrap());
            }
            assert_eq!(items, ["alpha;", "beta;", "gamma;"]);
            let mut tail = Vec::new();
            let end = client.read_until(b';', &mut tail).await;
            assert_eq!(tail, b"tail");
            match end {
                Ok(n) => assert!(clean && n == 4, "clean={clean} n={n}"),
                Err(e) => assert!(
                    !clean && e.kind() == io::ErrorKind::UnexpectedEof,
                    "clean={clean} {e}"
                ),
            }
        });
    }
}

/// Plaintext that arrived before a corrupt record is delivered first; the next read fails.
#[test]
fn data_before_a_corrupt_record_is_delivered_then_the_error() {
    run(async {
        let (client, server) = handshake(&connector(), "localhost", &acceptor()).await;
        let (mut client, mut server) = (client.unwrap(), server.unwrap());
        server.write_all(b"hello").await.unwrap();
        // An application-data record header followed by bytes that cannot decrypt.
        let mut garbage = vec![0x17, 0x03, 0x03, 0x00, 0x40];
        garbage.extend([0xAB; 0x40]);
        server.get_mut().write_all(&garbage).await.unwrap();
        let mut buf = [0; 64];
        assert_eq!(client.read(&mut buf).await.unwrap(), 5);
        assert_eq!(&buf[..5], b"hello");
        let err = client.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        assert!(client.read(&mut buf).await.is_err(), "the failure sticks");
    });
}

#[test]
fn server_picks_its_certificate_by_sni() {
    use crate::certs::{other_server_identity, server_identity};
    let acceptor = acceptor_builder()
        .sni_identity("Other.Test", other_server_identity())
        .build()
        .unwrap();
    let leaf = |id: tulip_tls::Identity| id.chain()[0].clone();
    run(async {
        // (name the client asks for, leaf it must get, or None: the handshake must fail)
        let cases = [
            ("other.test", Some(leaf(other_server_identity()))),
            ("localhost", Some(leaf(server_identity()))),
            ("127.0.0.1", Some(leaf(server_identity()))),
            ("unknown.test", None),
        ];
        for (name, expected) in cases {
            let (client, server) = handshake(&connector(), name, &acceptor).await;
            match expected {
                Some(leaf) => {
                    let client = client.unwrap();
                    assert_eq!(client.peer_certificates().unwrap()[0], leaf, "{name}");
                    server.unwrap();
                }
                None => {
                    let msg = client.unwrap_err().to_string();
                    assert!(msg.contains("not valid for name"), "{name}: {msg}");
                }
            }
        }
    });
    // A key that does not belong to its certificate is refused when building.
    let p = pki();
    let mismatched =
        tulip_tls::Identity::from_pem(p.other_chain_pem.as_bytes(), p.server_key_pem.as_bytes())
            .unwrap();
    let err = acceptor_builder()
        .sni_identity("other.test", mismatched)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("other.test"), "{err}");
}

/// Nothing here needs tulip's reactor to be driving: any executor can run a handshake over a
/// transport that is not a socket (the timeout timer simply never fires).
#[test]
fn handshake_runs_on_a_foreign_executor() {
    let (client, server) =
        futures_lite::future::block_on(handshake(&connector(), "localhost", &acceptor()));
    let (mut client, mut server) = (client.unwrap(), server.unwrap());
    futures_lite::future::block_on(async {
        client.write_all(b"hi").await.unwrap();
        let mut buf = [0; 2];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hi");
    });
}

/// A transport that records how many bytes each read offered to fill.
struct ReadSizes<T> {
    inner: T,
    offered: std::sync::Arc<std::sync::Mutex<Vec<usize>>>,
}

impl<T: futures_lite::AsyncRead + Unpin> futures_lite::AsyncRead for ReadSizes<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<io::Result<usize>> {
        self.offered.lock().unwrap().push(buf.len());
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: futures_lite::AsyncWrite + Unpin> futures_lite::AsyncWrite for ReadSizes<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_close(cx)
    }
}

/// The receive buffer starts small (a handshake needs no more) and grows to two records'
/// worth once a read fills it, so bulk data still moves in large reads.
#[test]
fn receive_buffer_starts_small_and_grows_for_bulk_data() {
    let data = pattern(300_000, 5);
    run(async {
        let (c, s) = duplex(1 << 20);
        let offered = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = ReadSizes {
            inner: s,
            offered: offered.clone(),
        };
        let (client, server) = zip(connector().connect("localhost", c), acceptor().accept(s)).await;
        let (mut client, mut server) = (client.unwrap(), server.unwrap());
        let handshake_reads = offered.lock().unwrap().clone();
        assert!(!handshake_reads.is_empty());
        assert!(
            handshake_reads.iter().all(|&n| n == 8 * 1024),
            "{handshake_reads:?}"
        );
        let send = async {
            client.write_all(&data).await.unwrap();
            client.close().await.unwrap();
        };
        let mut got = Vec::new();
        let ((), read) = zip(send, server.read_to_end(&mut got)).await;
        read.unwrap();
        assert!(got == data);
        let offered = offered.lock().unwrap();
        assert_eq!(offered.iter().max(), Some(&(32 * 1024)), "{offered:?}");
        // Once grown, it stays grown.
        let first_large = offered.iter().position(|&n| n == 32 * 1024).unwrap();
        assert!(offered[first_large..].iter().all(|&n| n == 32 * 1024));
    });
}
