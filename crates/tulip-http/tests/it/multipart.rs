//! `Request::multipart` and `Request::post` against raw requests, curl `-F` and Python
//! aiohttp's `FormData`.

use std::process::Command;

use tulip_http::{App, Error, FormValue, Method, MultipartLimits, Request, Response};

use crate::support::{TestServer, request};

/// Lists every part: `name|filename|content type|size|byte sum` per line, streaming files.
async fn upload(mut req: Request) -> Result<Response, Error> {
    let mut mp = req.multipart()?;
    let mut out = String::new();
    while let Some(mut part) = mp.next_part().await? {
        let head = format!(
            "{}|{}|{}",
            part.name().unwrap_or("-"),
            part.filename().unwrap_or("-"),
            part.content_type().unwrap_or("-")
        );
        let (mut size, mut sum, mut largest) = (0usize, 0u64, 0usize);
        while let Some(piece) = part.chunk().await? {
            size += piece.len();
            largest = largest.max(piece.len());
            sum += piece.iter().map(|&b| u64::from(b)).sum::<u64>();
        }
        // A streamed part is never gathered: no piece is much larger than a read.
        assert!(largest <= 1 << 20, "a piece of {largest} bytes");
        out += &format!("{head}|{size}|{sum}\n");
    }
    Ok(Response::text(out))
}

/// `post()`: text fields as `k=v`, files as `k=@filename:len`.
async fn post(mut req: Request) -> Result<Response, Error> {
    let form = req.post().await?;
    let mut out = String::new();
    for (k, v) in form.iter() {
        match v {
            FormValue::Text(t) => out += &format!("{k}={t}\n"),
            FormValue::File(f) => out += &format!("{k}=@{}:{}\n", f.filename, f.data.len()),
        }
    }
    Ok(Response::text(out))
}

async fn few_parts(mut req: Request) -> Result<Response, Error> {
    let mut limits = MultipartLimits::default();
    limits.max_parts = 2;
    limits.max_field_size = 10;
    let mut mp = req.multipart()?.with_limits(limits);
    let mut n = 0;
    while let Some(mut part) = mp.next_part().await? {
        part.bytes().await?;
        n += 1;
    }
    Ok(Response::text(n.to_string()))
}

fn app() -> App {
    App::new()
        .route_with_limit(Method::POST, "/upload", 64 << 20, upload)
        .post("/post", post)
        .post("/few", few_parts)
}

fn raw_post(path: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    req
}

#[test]
fn raw_multipart_parts_and_post() {
    let srv = TestServer::start(app());
    let body = b"--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\none\r\n\
--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.bin\"\r\n\
Content-Type: application/octet-stream\r\n\r\n\x01\x02\x03\r\n--B--\r\n";
    let ct = "multipart/form-data; boundary=B";
    let r = request(srv.addr, &raw_post("/upload", ct, body)).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.text(),
        "a|-|-|3|322\nf|x.bin|application/octet-stream|3|6\n"
    );
    let r = request(srv.addr, &raw_post("/post", ct, body)).unwrap();
    assert_eq!(r.text(), "a=one\nf=@x.bin:3\n");
    let r = request(
        srv.addr,
        &raw_post(
            "/post",
            "application/x-www-form-urlencoded",
            b"a=1&b=x+y&a=2",
        ),
    )
    .unwrap();
    assert_eq!(r.text(), "a=1\nb=x y\na=2\n");
}

#[test]
fn malformed_and_oversized_forms_say_why() {
    let srv = TestServer::start(app());
    let r = request(srv.addr, &raw_post("/upload", "text/plain", b"hi")).unwrap();
    assert_eq!(r.status, 400);
    assert!(r.text().contains("not multipart"), "{}", r.text());
    let r = request(
        srv.addr,
        &raw_post("/upload", "multipart/form-data", b"--B--"),
    )
    .unwrap();
    assert_eq!(r.status, 400);
    assert!(r.text().contains("no boundary"), "{}", r.text());
    let ct = "multipart/form-data; boundary=B";
    let r = request(srv.addr, &raw_post("/upload", ct, b"--B\r\n\r\ntruncated")).unwrap();
    assert_eq!(r.status, 400);
    assert!(r.text().contains("ends inside a part"), "{}", r.text());
    let three = b"--B\r\n\r\na\r\n--B\r\n\r\nb\r\n--B\r\n\r\nc\r\n--B--";
    let r = request(srv.addr, &raw_post("/few", ct, three)).unwrap();
    assert_eq!(r.status, 413);
    assert!(
        r.text().contains("more parts than the limit"),
        "{}",
        r.text()
    );
    let big = b"--B\r\n\r\n0123456789ABC\r\n--B--";
    let r = request(srv.addr, &raw_post("/few", ct, big)).unwrap();
    assert_eq!(r.status, 413);
    assert!(r.text().contains("larger than the limit"), "{}", r.text());
    // The route's body limit bounds a whole `post()` form (1 MiB by default).
    let huge = vec![b'x'; (1 << 20) + 10];
    let mut body = b"--B\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n".to_vec();
    body.extend_from_slice(&huge);
    body.extend_from_slice(b"\r\n--B--");
    let r = request(srv.addr, &raw_post("/post", ct, &body)).unwrap();
    assert_eq!(r.status, 413);
    let r = request(srv.addr, &raw_post("/few", ct, b"--B\r\n\r\nok\r\n--B--")).unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "1"));
}

/// A missing peer skips the test with a note, or fails it under `TULIP_REQUIRE_PEERS=1`.
fn require_peer(what: &str, why: &str) -> bool {
    if std::env::var_os("TULIP_REQUIRE_PEERS").is_some_and(|v| v == "1") {
        panic!("peer {what} is required (TULIP_REQUIRE_PEERS=1) but {why}");
    }
    eprintln!("SKIP: {what}: {why}");
    false
}

fn python_with_aiohttp() -> Option<std::ffi::OsString> {
    let Some(python) = std::env::var_os("TULIP_PYTHON") else {
        require_peer("python aiohttp", "TULIP_PYTHON is not set");
        return None;
    };
    let probe = Command::new(&python)
        .args(["-c", "import aiohttp"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        require_peer("python aiohttp", "aiohttp is not importable");
        return None;
    }
    Some(python)
}

#[test]
fn curl_form_upload_streams_a_large_file() {
    let srv = TestServer::start(app());
    let path = std::env::temp_dir().join(format!("tulip-mp-curl-{}.bin", std::process::id()));
    let data: Vec<u8> = (0..5_000_000u32).map(|i| (i % 253) as u8).collect();
    let sum: u64 = data.iter().map(|&b| u64::from(b)).sum();
    std::fs::write(&path, &data).unwrap();
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "30"])
        .args(["-F", "title=hello world"])
        .args(["-F", &format!("file=@{};type=image/png", path.display())])
        .arg(format!("http://{}/upload", srv.addr))
        .output();
    let _ = std::fs::remove_file(&path);
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            require_peer("curl", &e.to_string());
            return;
        }
    };
    let name = path.file_name().unwrap().to_string_lossy();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text,
        format!(
            "title|-|-|11|{}\nfile|{name}|image/png|{}|{sum}\n",
            "hello world".bytes().map(u64::from).sum::<u64>(),
            data.len()
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn aiohttp_formdata_client() {
    let Some(python) = python_with_aiohttp() else {
        return;
    };
    let srv = TestServer::start(app());
    let script = r#"
import asyncio, sys, aiohttp
async def main(base):
    async with aiohttp.ClientSession() as s:
        fd = aiohttp.FormData()
        fd.add_field("user", "ünï")
        fd.add_field("doc", b"\x00\x01" * 1000, filename="résumé.pdf", content_type="application/pdf")
        async with s.post(f"{base}/upload", data=fd) as r:
            print(r.status)
            print(await r.text(), end="")
        fd = aiohttp.FormData()
        fd.add_field("a", "1")
        fd.add_field("up", b"xyz", filename="f.txt")
        async with s.post(f"{base}/post", data=fd) as r:
            print(await r.text(), end="")
        async with s.post(f"{base}/post", data={"k": "v w"}) as r:
            print(await r.text(), end="")
asyncio.run(main(sys.argv[1]))
"#;
    let out = Command::new(&python)
        .args(["-c", script, &format!("http://{}", srv.addr)])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let user_sum: u64 = "ünï".bytes().map(u64::from).sum();
    assert_eq!(
        stdout,
        format!(
            "200\nuser|-|text/plain; charset=utf-8|5|{user_sum}\ndoc|résumé.pdf|application/pdf|2000|1000\n\
             a=1\nup=@f.txt:3\nk=v w\n"
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
