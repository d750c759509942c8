//! Name resolution.

use tulip_net::{ConnectOptions, TcpListener, TcpStream, lookup_host};

use crate::{localhost, run};

#[test]
fn localhost_resolves_to_loopback() {
    run(async {
        let addrs = lookup_host("localhost", 8080).await.unwrap();
        assert!(!addrs.is_empty());
        assert!(
            addrs
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == 8080),
            "{addrs:?}"
        );
    });
}

#[test]
fn ip_literals_skip_the_resolver() {
    run(async {
        let cases = [
            ("127.0.0.1", "127.0.0.1:1"),
            ("::1", "[::1]:1"),
            ("[::1]", "[::1]:1"),
        ];
        for (host, want) in cases {
            let got = lookup_host(host, 1).await.unwrap();
            assert_eq!(got, vec![want.parse().unwrap()], "{host}");
        }
    });
}

#[test]
fn unknown_names_fail() {
    run(async {
        // `.invalid` is reserved (RFC 2606): it never resolves.
        let err = lookup_host("no-such-host.invalid", 80).await.unwrap_err();
        assert_ne!(err.kind(), std::io::ErrorKind::TimedOut);
    });
}

#[test]
fn connect_host_localhost_finds_the_v4_listener() {
    run(async {
        let l = TcpListener::bind(localhost()).await.unwrap();
        let port = l.local_addr().unwrap().port();
        // Whatever order the resolver gives (::1 may come first and be refused), the v4
        // listener wins without waiting the full stagger.
        let s = TcpStream::connect_host("localhost", port).await.unwrap();
        assert_eq!(s.peer_addr().unwrap(), l.local_addr().unwrap());
        assert!(s.nodelay().unwrap());
        let s = ConnectOptions::new()
            .nodelay(false)
            .connect("127.0.0.1", port)
            .await
            .unwrap();
        assert!(!s.nodelay().unwrap());
    });
}
