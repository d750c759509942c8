//! The client through HTTP proxies: tinyproxy (a real proxy from Debian) for forwarding,
//! `CONNECT` tunnels, credentials, `NO_PROXY` and the environment; a small scripted proxy for
//! the failures tinyproxy does not produce.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread;

use tulip_http::{App, Client, Proxies, Proxy, Request, Server, ServerConfig};
use tulip_test_support::pki::pki;
use tulip_test_support::tinyproxy::{Options, Tinyproxy};

use crate::support::TestServer;

/// Answers with the request's `Via` header (which tinyproxy adds to what it forwards), or
/// "direct".
fn via_app() -> App {
    App::new().get("/{name}", |req: Request| async move {
        let via = req.header("via").unwrap_or("direct").to_owned();
        format!("{} {via}", req.match_info("name").unwrap_or(""))
    })
}

fn plain_server() -> TestServer {
    TestServer::start(via_app())
}

fn tls_server() -> TestServer {
    let p = pki();
    let acceptor = tulip_tls::TlsAcceptor::from_pem(
        p.server_chain_pem.as_bytes(),
        p.server_key_pem.as_bytes(),
    )
    .unwrap();
    let mut server = Server::unbound(via_app(), ServerConfig::default()).unwrap();
    server.listen_tls("127.0.0.1:0", acceptor).unwrap();
    TestServer::run(server)
}

fn trusting() -> tulip_http::ClientBuilder {
    Client::builder().add_root_certificate_pem(pki().ca_pem.as_bytes())
}

fn run<T>(fut: impl std::future::Future<Output = T> + Send + 'static) -> T
where
    T: Send + 'static,
{
    tulip_executor::run(async move {
        tulip_reactor::timeout(std::time::Duration::from_secs(30), fut)
            .await
            .expect("test timed out")
    })
}

async fn text(c: &Client, url: String) -> Result<String, tulip_http::Error> {
    c.get(url).send().await?.text().await
}

#[test]
fn plain_http_is_forwarded_and_https_is_tunnelled_through_tinyproxy() {
    let plain = plain_server();
    let tls = tls_server();
    let Some(proxy) = Tinyproxy::start(&Options {
        connect_ports: vec![tls.addr.port()],
        ..Options::default()
    }) else {
        return;
    };
    let client = trusting().proxy(&proxy.url()).build();
    let (p, t) = (plain.addr.port(), tls.addr.port());
    let c = client.clone();
    let (a, b, again) = run(async move {
        let a = text(&c, format!("http://127.0.0.1:{p}/plain"))
            .await
            .unwrap();
        let b = text(&c, format!("https://localhost:{t}/secure"))
            .await
            .unwrap();
        let again = text(&c, format!("https://localhost:{t}/again"))
            .await
            .unwrap();
        (a, b, again)
    });
    // Forwarded: tinyproxy added its Via header.
    assert!(
        a.starts_with("plain 1.1 ") && a.contains("tinyproxy"),
        "{a}"
    );
    // Tunnelled: the proxy saw only CONNECT and the encrypted bytes.
    assert_eq!(b, "secure direct");
    assert_eq!(again, "again direct");
    let log = proxy.log();
    assert!(
        log.contains(&format!("GET http://127.0.0.1:{p}/plain HTTP/1.1")),
        "{log}"
    );
    assert_eq!(
        log.matches(&format!("CONNECT localhost:{t} HTTP/1.1"))
            .count(),
        1,
        "the second https request reused the tunnel:\n{log}"
    );
    assert_eq!(client.pool_stats().connects, 2);
}

#[test]
fn proxy_credentials_and_the_407_without_them() {
    let plain = plain_server();
    let tls = tls_server();
    let Some(proxy) = Tinyproxy::start(&Options {
        connect_ports: vec![tls.addr.port()],
        basic_auth: Some(("user".into(), "s3cret".into())),
    }) else {
        return;
    };
    let (p, t) = (plain.addr.port(), tls.addr.port());
    let url = proxy.url();
    let proxy_addr = proxy.addr;
    run(async move {
        let bare = trusting().proxy(&url).build();
        // A refused tunnel: a connect error naming the proxy, the target and the status.
        let err = text(&bare, format!("https://localhost:{t}/x"))
            .await
            .unwrap_err();
        assert!(err.is_connect(), "{err:?}");
        assert_eq!(err.proxy_status().map(|s| s.as_u16()), Some(407));
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!(
                "opening a tunnel through proxy {proxy_addr} to localhost:{t} failed: the proxy \
                 refused the tunnel with status 407"
            )),
            "{msg}"
        );
        assert!(msg.contains("proxy_auth"), "{msg}");
        let cause = std::error::Error::source(&err).unwrap().to_string();
        assert!(
            cause.contains("407 Proxy Authentication Required"),
            "{cause}"
        );
        // Plain HTTP through a proxy that wants credentials: its 407 is the response.
        let resp = bare
            .get(format!("http://127.0.0.1:{p}/x"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 407);

        // Client-wide credentials, credentials in the URL, and per-request ones.
        let authed = trusting().proxy(&url).proxy_auth("user", "s3cret").build();
        assert_eq!(
            text(&authed, format!("https://localhost:{t}/a"))
                .await
                .unwrap(),
            "a direct"
        );
        let in_url = url.replace("http://", "http://user:s3cret@");
        let c = trusting().proxy(&in_url).build();
        assert!(
            text(&c, format!("http://127.0.0.1:{p}/b"))
                .await
                .unwrap()
                .starts_with("b 1.1")
        );
        let resp = bare
            .get(format!("https://localhost:{t}/c"))
            .proxy_auth("user", "s3cret")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.text().await.unwrap(), "c direct");
        let wrong = trusting().proxy(&url).proxy_auth("user", "nope").build();
        let err = text(&wrong, format!("https://localhost:{t}/d"))
            .await
            .unwrap_err();
        // tinyproxy answers wrong credentials with 401, missing ones with 407.
        assert_eq!(err.proxy_status().map(|s| s.as_u16()), Some(401), "{err}");
        assert!(err.to_string().contains("credentials"), "{err}");
    });
}

#[test]
fn a_connect_port_the_proxy_forbids_is_a_403_and_no_proxy_goes_direct() {
    let plain = plain_server();
    let tls = tls_server();
    let Some(proxy) = Tinyproxy::start(&Options {
        connect_ports: vec![1],
        ..Options::default()
    }) else {
        return;
    };
    let (p, t) = (plain.addr.port(), tls.addr.port());
    let url = proxy.url();
    run(async move {
        let c = trusting().proxy(&url).build();
        let err = text(&c, format!("https://localhost:{t}/x"))
            .await
            .unwrap_err();
        assert_eq!(err.proxy_status().map(|s| s.as_u16()), Some(403), "{err}");
        assert!(err.to_string().contains("forbid"), "{err}");

        let bypass = trusting()
            .proxies(Proxies::all(Proxy::new(&url).unwrap()).no_proxy("localhost,127.0.0.0/8"))
            .build();
        assert_eq!(
            text(&bypass, format!("https://localhost:{t}/y"))
                .await
                .unwrap(),
            "y direct"
        );
        assert_eq!(
            text(&bypass, format!("http://127.0.0.1:{p}/z"))
                .await
                .unwrap(),
            "z direct"
        );
        // A request's own proxy wins over the client's NO_PROXY.
        let resp = bypass
            .get(format!("http://127.0.0.1:{p}/w"))
            .proxy(&url)
            .send()
            .await
            .unwrap();
        assert!(resp.text().await.unwrap().contains("tinyproxy"));
    });
}

/// The variable that makes this test binary run the environment check in a child whose
/// environment the parent sets (changing the test process's own would race other tests).
const ENV_CHILD: &str = "TULIP_HTTP_PROXY_ENV_CHILD";

#[test]
fn trust_env_reads_lowercase_and_uppercase_variables_and_no_proxy() {
    if let Some(ports) = std::env::var_os(ENV_CHILD) {
        let ports = ports.into_string().unwrap();
        let (p, t) = ports.split_once(',').unwrap();
        let (p, t) = (p.to_owned(), t.to_owned());
        let ca = std::env::var("TULIP_TEST_CA").unwrap();
        run(async move {
            let env = Client::builder()
                .trust_env(true)
                .add_root_certificate_pem(ca.as_bytes())
                .build();
            let via = text(&env, format!("http://127.0.0.1:{p}/env"))
                .await
                .unwrap();
            assert!(
                via.starts_with("env 1.1 ") && via.contains("tinyproxy"),
                "{via}"
            );
            // NO_PROXY=localhost: the https server is reached directly; the proxy forbids
            // every CONNECT, so a tunnel would have failed.
            let direct = text(&env, format!("https://localhost:{t}/tls"))
                .await
                .unwrap();
            assert_eq!(direct, "tls direct");
            let err = text(&env, format!("https://127.0.0.1:{t}/tls"))
                .await
                .unwrap_err();
            assert_eq!(err.proxy_status().map(|s| s.as_u16()), Some(403), "{err}");
            // Without trust_env the environment is ignored.
            let plain = text(&Client::new(), format!("http://127.0.0.1:{p}/x"))
                .await
                .unwrap();
            assert_eq!(plain, "x direct");
        });
        return;
    }
    let plain = plain_server();
    let tls = tls_server();
    let Some(proxy) = Tinyproxy::start(&Options {
        connect_ports: vec![1],
        ..Options::default()
    }) else {
        return;
    };
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "proxy::trust_env_reads_lowercase_and_uppercase_variables_and_no_proxy",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            ENV_CHILD,
            format!("{},{}", plain.addr.port(), tls.addr.port()),
        )
        .env("TULIP_TEST_CA", &pki().ca_pem)
        .env("http_proxy", proxy.url())
        .env("HTTPS_PROXY", proxy.addr.to_string())
        .env("NO_PROXY", "localhost")
        .env_remove("https_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("no_proxy")
        .env_remove("all_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("REQUEST_METHOD")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "the child failed or ran no test:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What the scripted proxy does with a `CONNECT`.
#[derive(Clone, Copy)]
enum Script {
    /// Answers `502 Bad Gateway` with a small body.
    BadGateway,
    /// Closes the connection without a word.
    Hangs,
    /// Answers 200 and then bytes of its own before the client spoke.
    Chatty,
    /// Answers with something that is not HTTP.
    Garbage,
}

/// A one-thread proxy that answers every connection by `script` and records the request
/// heads it received.
fn scripted_proxy(script: Script) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = heads.clone();
    thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match s.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            seen.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&head).into_owned());
            let reply: &[u8] = match script {
                Script::BadGateway => b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 5\r\n\r\noops!",
                Script::Hangs => b"",
                Script::Chatty => {
                    b"HTTP/1.1 200 Connection established\r\n\r\nSSH-2.0-surprise\r\n"
                }
                Script::Garbage => b"SSH-2.0-OpenSSH\r\n\r\n",
            };
            let _ = s.write_all(reply);
        }
    });
    (addr, heads)
}

#[test]
fn failures_tinyproxy_cannot_produce_come_from_a_scripted_proxy() {
    let table: [(Script, &str, Option<u16>); 4] = [
        (
            Script::BadGateway,
            "the proxy refused the tunnel with status 502",
            Some(502),
        ),
        (
            Script::Hangs,
            "the proxy closed the connection before answering the CONNECT",
            None,
        ),
        (
            Script::Chatty,
            "the proxy sent bytes after its CONNECT answer",
            None,
        ),
        (Script::Garbage, "unsupported HTTP version", None),
    ];
    for (script, want, status) in table {
        let (addr, heads) = scripted_proxy(script);
        let err = run(async move {
            let c = Client::builder()
                .proxy(&format!("http://u:p@{addr}"))
                .build();
            text(&c, "https://example.test:8443/".into())
                .await
                .unwrap_err()
        });
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!(
                "opening a tunnel through proxy {addr} to example.test:8443 failed"
            )),
            "{msg}"
        );
        assert!(msg.contains(want), "{msg}");
        assert_eq!(err.proxy_status().map(|s| s.as_u16()), status, "{msg}");
        if status.is_some() {
            assert!(err.is_connect());
            assert!(msg.contains("could not reach the server"), "{msg}");
        }
        let heads = heads.lock().unwrap();
        assert_eq!(
            heads[0],
            "CONNECT example.test:8443 HTTP/1.1\r\nHost: example.test:8443\r\n\
             Proxy-Authorization: Basic dTpw\r\n\r\n"
        );
    }
}

#[test]
fn an_unreachable_proxy_is_named_in_the_connect_error() {
    // A port nobody listens on: bind, read the port, close.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = run(async move {
        let c = Client::builder()
            .proxy(&format!("127.0.0.1:{port}"))
            .build();
        text(&c, "http://example.test/".into()).await.unwrap_err()
    });
    assert!(err.is_connect(), "{err:?}");
    assert!(
        err.to_string().starts_with(&format!(
            "TCP connect to proxy 127.0.0.1:{port} failed: connection refused"
        )),
        "{err}"
    );
    // A bad proxy URL is a build error.
    let err = Client::builder()
        .proxy("socks5://127.0.0.1:1080")
        .try_build()
        .unwrap_err();
    assert!(err.is_user(), "{err:?}");
}
