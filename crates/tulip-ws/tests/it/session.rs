//! `ws_connect` with an HTTP client's session (`ClientOptions::connector =
//! Some(client.connector())`): the jar's cookies and the client's credentials go out with the
//! handshake, and a `Set-Cookie` on the 101 lands in the jar, as with aiohttp's
//! `session.ws_connect`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use tulip_http::{BasicAuth, Client};
use tulip_ws::{ClientOptions, accept_key};

/// A one-shot server on a plain thread: reads the handshake, answers 101 with `set_cookie`,
/// and returns the request's header lines (lowercased names).
fn handshake_once(set_cookie: &'static str) -> (u16, std::thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end().to_owned();
            if line.is_empty() {
                break;
            }
            lines.push(line);
        }
        let key = lines
            .iter()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| value.trim().to_owned())
            })
            .expect("no Sec-WebSocket-Key");
        let mut out = stream;
        write!(
            out,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\nSet-Cookie: {set_cookie}\r\n\r\n",
            accept_key(&key)
        )
        .unwrap();
        lines
    });
    (port, handle)
}

fn header<'a>(lines: &'a [String], name: &str) -> Vec<&'a str> {
    lines
        .iter()
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .collect()
}

#[test]
fn the_clients_cookies_and_credentials_go_with_the_handshake_and_the_101_sets_cookies() {
    let (port, server) = handshake_once("room=blue; Path=/");
    let client = Client::builder()
        .cookie_jar(tulip_http::CookieJar::new_unsafe())
        .auth(BasicAuth::new("ann", "s3cret"))
        .build();
    let base = format!("http://127.0.0.1:{port}/");
    client
        .cookie_jar()
        .update_cookies(&base, &["session=abc; Path=/"]);
    let opts = ClientOptions {
        connector: Some(client.connector()),
        ..ClientOptions::default()
    };
    let url = format!("ws://127.0.0.1:{port}/chat");
    let (_ws, negotiated) =
        tulip_executor::run(async move { tulip_ws::ws_connect_with(&url, &opts).await.unwrap() });
    let lines = server.join().unwrap();
    assert_eq!(header(&lines, "cookie"), ["session=abc"], "{lines:?}");
    assert_eq!(
        header(&lines, "authorization"),
        [BasicAuth::new("ann", "s3cret").encode().as_str()]
    );
    assert!(negotiated.headers.contains_key("set-cookie"));
    let mut jar: Vec<_> = client
        .cookie_jar()
        .cookies()
        .into_iter()
        .map(|c| format!("{}={}", c.name(), c.value()))
        .collect();
    jar.sort();
    assert_eq!(jar, ["room=blue", "session=abc"]);
}

#[test]
fn headers_given_in_the_options_win_over_the_session() {
    let (port, server) = handshake_once("x=1");
    let client = Client::builder()
        .cookie_jar(tulip_http::CookieJar::new_unsafe())
        .auth(BasicAuth::new("ann", "s3cret"))
        .build();
    client
        .cookie_jar()
        .update_cookies(&format!("http://127.0.0.1:{port}/"), &["session=abc"]);
    let mut opts = ClientOptions {
        connector: Some(client.connector()),
        ..ClientOptions::default()
    };
    opts.headers.insert("cookie", "mine=1".parse().unwrap());
    opts.headers
        .insert("authorization", "Bearer token".parse().unwrap());
    let url = format!("ws://127.0.0.1:{port}/");
    tulip_executor::run(async move {
        tulip_ws::ws_connect_with(&url, &opts).await.unwrap();
    });
    let lines = server.join().unwrap();
    assert_eq!(header(&lines, "cookie"), ["mine=1"]);
    assert_eq!(header(&lines, "authorization"), ["Bearer token"]);
}
