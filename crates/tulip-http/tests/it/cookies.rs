//! `Request::cookies`, `Response::set_cookie` / `del_cookie` over a real connection.

use std::time::{Duration, SystemTime};

use tulip_http::{App, Cookie, Request, Response, SameSite};

use crate::support::{TestServer, request};

fn app() -> App {
    App::new()
        .get("/echo", |req: Request| async move {
            let pairs: Vec<String> = req
                .cookies()
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            pairs.join("|")
        })
        .get("/login", |_req: Request| async {
            let mut r = Response::text("in");
            r.set_cookie(
                &Cookie::new("session", "s3cr3t")
                    .with_expires(SystemTime::UNIX_EPOCH + Duration::from_secs(4_102_444_800))
                    .with_max_age(Duration::from_secs(3600))
                    .with_domain("127.0.0.1")
                    .with_path("/")
                    .with_secure(false)
                    .with_http_only(true)
                    .with_same_site(SameSite::Lax),
            )?;
            r.del_cookie("old", Some("/"), None)?;
            Ok::<_, tulip_http::Error>(r)
        })
}

#[test]
fn cookies_in_and_out() {
    let srv = TestServer::start(app());
    let r = request(
        srv.addr,
        b"GET /echo HTTP/1.1\r\nHost: x\r\nCookie: a=1; b=\"two\"\r\nCookie: c=3\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.text(), "a=1|b=two|c=3");
    let r = request(
        srv.addr,
        b"GET /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let set: Vec<&str> = r
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        set,
        [
            "session=s3cr3t; Expires=Fri, 01 Jan 2100 00:00:00 GMT; Max-Age=3600; \
             Domain=127.0.0.1; Path=/; HttpOnly; SameSite=Lax",
            "old=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/",
        ]
    );
}

#[test]
fn aiohttp_cookie_jar_reads_our_cookies() {
    let Some(python) = std::env::var_os("TULIP_PYTHON") else {
        eprintln!("SKIP: TULIP_PYTHON is not set");
        assert!(std::env::var_os("TULIP_REQUIRE_PEERS").is_none_or(|v| v != "1"));
        return;
    };
    let srv = TestServer::start(app());
    let script = r#"
import asyncio, sys, aiohttp
async def main(base):
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as s:
        async with s.get(f"{base}/login") as r:
            c = r.cookies["session"]
            print(c.value, c["httponly"], c["samesite"], c["max-age"], c["path"])
        async with s.get(f"{base}/echo") as r:
            print(await r.text())
asyncio.run(main(sys.argv[1]))
"#;
    let out = std::process::Command::new(&python)
        .args(["-c", script, &format!("http://{}", srv.addr)])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "s3cr3t True Lax 3600 /\nsession=s3cr3t\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
