//! `FileResponse`: preconditions, single and multiple ranges, also through `static_dir`.

use std::path::PathBuf;

use tulip_http::{App, FileResponse, Request};

use crate::support::{Reply, TestServer, find, request};

struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A directory holding `data.bin` (200 KiB, byte i = i % 251) and `small.txt`.
fn files(tag: &str) -> (TempFile, Vec<u8>) {
    let dir = std::env::temp_dir().join(format!("tulip-fr-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let data: Vec<u8> = (0..200 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("data.bin"), &data).unwrap();
    std::fs::write(dir.join("small.txt"), "0123456789").unwrap();
    (TempFile(dir), data)
}

fn app(dir: &std::path::Path) -> App {
    let file = dir.join("small.txt");
    App::new()
        .get("/one", move |req: Request| {
            let file = file.clone();
            async move { FileResponse::new(file).serve(&req).await }
        })
        .get("/missing", |req: Request| async move {
            FileResponse::new("/no/such/file").serve(&req).await
        })
        .static_dir("/static", dir)
}

fn get(srv: &TestServer, path: &str, extra: &str) -> Reply {
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n");
    request(srv.addr, req.as_bytes()).expect("reply")
}

/// Splits a `multipart/byteranges` body into (Content-Range, data) parts.
fn byteranges(reply: &Reply) -> Vec<(String, Vec<u8>)> {
    let ct = reply.header("content-type").unwrap();
    let boundary = ct.split("boundary=").nth(1).expect("a boundary");
    let delim = format!("--{boundary}");
    let mut rest = &reply.body[..];
    let mut out = Vec::new();
    loop {
        let i = find(rest, delim.as_bytes()).expect("a delimiter");
        rest = &rest[i + delim.len()..];
        if rest.starts_with(b"--") {
            return out;
        }
        let head_end = find(rest, b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&rest[..head_end]).into_owned();
        let range = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Range: "))
            .unwrap()
            .to_string();
        rest = &rest[head_end + 4..];
        let end = find(rest, format!("\r\n{delim}").as_bytes()).unwrap();
        out.push((range, rest[..end].to_vec()));
        rest = &rest[end + 2..];
    }
}

#[test]
fn preconditions_follow_rfc_9110_order() {
    let (dir, _) = files("pre");
    let srv = TestServer::start(app(&dir.0));
    let full = get(&srv, "/one", "");
    assert_eq!((full.status, full.text().as_str()), (200, "0123456789"));
    let etag = full.header("etag").unwrap().to_string();
    let lm = full.header("last-modified").unwrap().to_string();
    assert_eq!(
        get(&srv, "/one", &format!("If-Match: {etag}\r\n")).status,
        200
    );
    assert_eq!(get(&srv, "/one", "If-Match: \"other\"\r\n").status, 412);
    assert_eq!(
        get(
            &srv,
            "/one",
            "If-Unmodified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
        )
        .status,
        412
    );
    assert_eq!(
        get(&srv, "/one", &format!("If-Unmodified-Since: {lm}\r\n")).status,
        200
    );
    assert_eq!(
        get(&srv, "/one", &format!("If-None-Match: W/{etag}\r\n")).status,
        304
    );
    assert_eq!(
        get(&srv, "/one", &format!("If-Modified-Since: {lm}\r\n")).status,
        304
    );
    // If-None-Match wins over If-Modified-Since.
    let r = get(
        &srv,
        "/one",
        &format!("If-None-Match: \"other\"\r\nIf-Modified-Since: {lm}\r\n"),
    );
    assert_eq!(r.status, 200);
    assert_eq!(get(&srv, "/missing", "").status, 404);
}

#[test]
fn single_and_multiple_ranges() {
    let (dir, data) = files("ranges");
    let srv = TestServer::start(app(&dir.0));
    let r = get(&srv, "/one", "Range: bytes=2-4\r\n");
    assert_eq!((r.status, r.text().as_str()), (206, "234"));
    assert_eq!(r.header("content-range"), Some("bytes 2-4/10"));

    let r = get(&srv, "/one", "Range: bytes=0-1, -2\r\n");
    assert_eq!(r.status, 206);
    assert_eq!(
        r.header("content-length")
            .unwrap()
            .parse::<usize>()
            .unwrap(),
        r.body.len()
    );
    assert_eq!(
        byteranges(&r),
        [
            ("bytes 0-1/10".to_string(), b"01".to_vec()),
            ("bytes 8-9/10".to_string(), b"89".to_vec()),
        ]
    );
    // Overlapping ranges are merged into one.
    let r = get(&srv, "/one", "Range: bytes=0-3,2-5\r\n");
    assert_eq!((r.status, r.text().as_str()), (206, "012345"));
    let r = get(&srv, "/one", "Range: bytes=50-,60-\r\n");
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */10"));
    // If-Range with an old validator: the whole file.
    let r = get(&srv, "/one", "Range: bytes=0-1\r\nIf-Range: \"stale\"\r\n");
    assert_eq!((r.status, r.body.len()), (200, 10));

    // A large file through static_dir: the parts are streamed.
    let r = get(
        &srv,
        "/static/data.bin",
        "Range: bytes=100-199, 150000-, 70000-70099\r\n",
    );
    assert_eq!(r.status, 206);
    let parts = byteranges(&r);
    let len = data.len();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[0].0, format!("bytes 100-199/{len}"));
    assert_eq!(parts[0].1, data[100..200]);
    assert_eq!(parts[1].0, format!("bytes 150000-{}/{len}", len - 1));
    assert_eq!(parts[1].1, data[150000..]);
    assert_eq!(parts[2].1, data[70000..70100]);
}
