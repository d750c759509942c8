//! Real clients against the server: curl and Python aiohttp (skipped through
//! `tulip_test_support::peers` when absent).

use std::process::Command;

use tulip_test_support::peers;

use crate::support::TestServer;
use crate::test_app;

fn curl(args: &[&str]) -> Option<(String, String)> {
    let out = Command::new(peers::curl()?)
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .output()
        .unwrap();
    Some((
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[test]
fn curl_keep_alive_reuse_and_head() {
    let srv = TestServer::start(test_app());
    let a = format!("http://{}/one", srv.addr);
    let b = format!("http://{}/two", srv.addr);
    let Some((out, err)) = curl(&["-v", &a, &b]) else {
        return;
    };
    assert_eq!(out, "Hello, oneHello, two");
    assert!(
        err.contains("Re-using existing connection") || err.contains("Reusing existing"),
        "{err}"
    );
    let Some((out, err)) = curl(&["-I", &a]) else {
        return;
    };
    assert!(out.starts_with("HTTP/1.1 200"), "{out}{err}");
    assert!(
        out.to_ascii_lowercase().contains("content-length: 10"),
        "{out}"
    );
}

#[test]
fn curl_chunked_upload_and_range() {
    let srv = TestServer::start(test_app());
    let data: String = (0..50_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let path = std::env::temp_dir().join(format!("tulip-http-curl-{}.txt", std::process::id()));
    std::fs::write(&path, &data).unwrap();
    let url = format!("http://{}/echo", srv.addr);
    let file = format!("@{}", path.display());
    let Some((out, err)) = curl(&[
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        &file,
        &url,
    ]) else {
        return;
    };
    assert_eq!(out.len(), data.len(), "{err}");
    assert_eq!(out, data);
    drop(srv);
    let dir = path.parent().unwrap().to_path_buf();
    let name = path.file_name().unwrap().to_str().unwrap().to_string();
    let srv = TestServer::start(tulip_http::App::new().static_dir("/files", &dir));
    let url = format!("http://{}/files/{name}", srv.addr);
    let Some((out, _)) = curl(&["-r", "100-199", &url]) else {
        return;
    };
    assert_eq!(out, data[100..200]);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn aiohttp_client_against_the_server() {
    let Some(python) = peers::python(&["aiohttp"]) else {
        return;
    };
    let srv = TestServer::start(test_app());
    let script = r#"
import asyncio, sys, aiohttp
async def main(base):
    async with aiohttp.ClientSession() as s:
        for i in range(20):
            async with s.get(f"{base}/py{i}") as r:
                assert r.status == 200 and await r.text() == f"Hello, py{i}", r.status
        async def gen():
            for i in range(100):
                yield b"x" * 1000
        async with s.post(f"{base}/echo", data=gen()) as r:
            body = await r.read()
            assert len(body) == 100000, len(body)
        async with s.get(f"{base}/stream") as r:
            assert await r.text() == "piece 0;piece 1;piece 2;"
        async with s.get(f"{base}/json") as r:
            assert (await r.json())["message"] == "Hello, World!"
        async with s.head(f"{base}/abc") as r:
            assert r.status == 200 and r.headers["Content-Length"] == "10"
        async with s.get(f"{base}/nope/x") as r:
            assert r.status == 404
        conns = len(s.connector._conns)
    print("ok", conns)
asyncio.run(main(sys.argv[1]))
"#;
    let out = Command::new(&python)
        .args(["-c", script, &format!("http://{}", srv.addr)])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.starts_with("ok"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
