//! The pure server handshake ([`tulip_ws::upgrade`]) and the client's response check.

use http::{HeaderMap, Method, StatusCode, Version};
use tulip_ws::{ClientHandshake, ClientOptions, DeflateConfig, ServerOptions};

fn request(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in [
        ("host", "example.com"),
        ("upgrade", "websocket"),
        ("connection", "keep-alive, Upgrade"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("sec-websocket-version", "13"),
    ] {
        h.insert(k, v.parse().unwrap());
    }
    for (k, v) in pairs {
        let name = http::HeaderName::from_bytes(k.as_bytes()).unwrap();
        if v.is_empty() {
            h.remove(&name);
        } else {
            h.insert(name, v.parse().unwrap());
        }
    }
    h
}

#[test]
fn rejections_table() {
    let opts =
        ServerOptions::default().with_origin_check(|o| o.is_none_or(|o| o == "https://ok.example"));
    type Row<'a> = (&'a [(&'a str, &'a str)], Option<StatusCode>);
    let table: &[Row<'_>] = &[
        (&[], None),
        (&[("upgrade", "WebSocket")], None),
        (&[("origin", "https://ok.example")], None),
        (
            &[("origin", "https://evil.example")],
            Some(StatusCode::FORBIDDEN),
        ),
        (&[("upgrade", "")], Some(StatusCode::BAD_REQUEST)),
        (&[("upgrade", "h2c")], Some(StatusCode::BAD_REQUEST)),
        (
            &[("connection", "keep-alive")],
            Some(StatusCode::BAD_REQUEST),
        ),
        (&[("host", "")], Some(StatusCode::BAD_REQUEST)),
        (&[("sec-websocket-key", "")], Some(StatusCode::BAD_REQUEST)),
        (
            &[("sec-websocket-key", "c2hvcnQ=")],
            Some(StatusCode::BAD_REQUEST),
        ),
        (
            &[("sec-websocket-version", "8")],
            Some(StatusCode::UPGRADE_REQUIRED),
        ),
    ];
    for (changes, want) in table {
        let got = tulip_ws::upgrade(&Method::GET, Version::HTTP_11, &request(changes), &opts);
        assert_eq!(got.as_ref().err().map(|r| r.status), *want, "{changes:?}");
        if let Err(r) = got {
            if r.status == StatusCode::UPGRADE_REQUIRED {
                assert_eq!(r.headers["sec-websocket-version"], "13");
            }
        }
    }
    let post = tulip_ws::upgrade(&Method::POST, Version::HTTP_11, &request(&[]), &opts);
    assert_eq!(post.unwrap_err().status, StatusCode::METHOD_NOT_ALLOWED);
    let old = tulip_ws::upgrade(&Method::GET, Version::HTTP_10, &request(&[]), &opts);
    assert_eq!(old.unwrap_err().status, StatusCode::BAD_REQUEST);
}

#[test]
fn subprotocol_and_extension_negotiation() {
    let mut opts = ServerOptions {
        protocols: vec!["chat".into(), "superchat".into()],
        ..ServerOptions::default()
    };
    opts.config.deflate = Some(DeflateConfig::default());
    let h = request(&[
        ("sec-websocket-protocol", "v2.bogus, superchat, chat"),
        (
            "sec-websocket-extensions",
            "permessage-deflate; client_max_window_bits",
        ),
    ]);
    let up = tulip_ws::upgrade(&Method::GET, Version::HTTP_11, &h, &opts).unwrap();
    // The client's order decides among the protocols we speak.
    assert_eq!(up.protocol.as_deref(), Some("superchat"));
    assert_eq!(up.headers["sec-websocket-protocol"], "superchat");
    assert_eq!(up.headers["sec-websocket-extensions"], "permessage-deflate");
    assert!(up.deflate.is_some());

    let none = tulip_ws::upgrade(&Method::GET, Version::HTTP_11, &request(&[]), &opts).unwrap();
    assert!(none.protocol.is_none() && none.deflate.is_none());
    assert!(!none.headers.contains_key("sec-websocket-extensions"));
}

#[test]
fn client_checks_the_response() {
    let opts = ClientOptions {
        protocols: vec!["chat".into()],
        ..ClientOptions::default()
    };
    let hs = ClientHandshake::new();
    let req = hs.request_headers(&opts);
    assert_eq!(req["sec-websocket-version"], "13");
    assert_eq!(req["sec-websocket-protocol"], "chat");
    assert!(!req.contains_key("sec-websocket-extensions"));

    // The server's side of the exchange produces a response the client accepts.
    let mut server_req = req.clone();
    server_req.insert("host", "x".parse().unwrap());
    let sopts = ServerOptions {
        protocols: vec!["chat".into()],
        ..ServerOptions::default()
    };
    let up = tulip_ws::upgrade(&Method::GET, Version::HTTP_11, &server_req, &sopts).unwrap();
    let n = hs
        .verify(StatusCode::SWITCHING_PROTOCOLS, &up.headers, &opts)
        .unwrap();
    assert_eq!(n.protocol.as_deref(), Some("chat"));

    let check = |status: StatusCode, edit: &dyn Fn(&mut HeaderMap)| {
        let mut h = up.headers.clone();
        edit(&mut h);
        hs.verify(status, &h, &opts).unwrap_err().is_handshake()
    };
    assert!(check(StatusCode::OK, &|_| {}));
    assert!(check(StatusCode::SWITCHING_PROTOCOLS, &|h| {
        h.insert("sec-websocket-accept", "AAAA".parse().unwrap());
    }));
    assert!(check(StatusCode::SWITCHING_PROTOCOLS, &|h| {
        h.insert("sec-websocket-protocol", "other".parse().unwrap());
    }));
    assert!(check(StatusCode::SWITCHING_PROTOCOLS, &|h| {
        h.insert(
            "sec-websocket-extensions",
            "permessage-deflate".parse().unwrap(),
        );
    }));
    assert!(check(StatusCode::SWITCHING_PROTOCOLS, &|h| {
        h.remove("upgrade");
    }));
}
