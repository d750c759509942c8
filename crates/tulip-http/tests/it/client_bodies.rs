//! Request bodies (multipart uploads streamed from disk, url-encoded forms, JSON) and
//! compressed responses (gzip, deflate, brotli) against Python aiohttp's server.

use std::io::Write;

use tulip_http::{Client, FormData};

use crate::aiohttp_peer;

/// A multi-MiB file whose bytes are not all alike, and its SHA-256 as Python prints it.
fn big_file(tag: &str) -> (std::path::PathBuf, u64, String) {
    let path = std::env::temp_dir().join(format!("tulip-upload-{tag}-{}.bin", std::process::id()));
    let mut f = std::fs::File::create(&path).unwrap();
    let mut x: u32 = 1;
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..5 {
        for b in buf.iter_mut() {
            // xorshift: cheap bytes that no compressor or boundary search finds regular.
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = x as u8;
        }
        f.write_all(&buf).unwrap();
    }
    f.write_all(b"tail").unwrap();
    drop(f);
    let len = 5 * (1 << 20) + 4;
    let out = std::process::Command::new("sha256sum")
        .arg(&path)
        .output()
        .unwrap();
    let sum = String::from_utf8(out.stdout).unwrap();
    (path, len, sum.split_whitespace().next().unwrap().to_owned())
}

#[test]
fn a_multipart_upload_streams_a_file_with_a_content_length() {
    let Some(peer) = aiohttp_peer::start() else {
        return;
    };
    let (path, len, sha) = big_file("multipart");
    let p = path.clone();
    tulip_executor::run(async move {
        let c = Client::new();
        let form = FormData::new()
            .text("title", "quarterly report")
            .text("tags", "a \"quoted\" tag")
            .part("note", "in memory", Some("note.txt"), Some("text/plain"))
            .file_as("doc", &p, "report.bin", "application/x-report");
        for url in [
            format!("{}/upload", peer.base),
            // 307 keeps the method and body: the form is sent again, its file reopened.
            format!("{}/upload-redirect", peer.base),
        ] {
            let resp = c.post(&url).multipart(form.clone()).send().await.unwrap();
            assert_eq!(resp.status(), 200, "{url}");
            let v: serde_json::Value = resp.json().await.unwrap();
            assert!(v["content_length"].as_u64().unwrap() > len, "{v}");
            assert!(v["chunked"].is_null(), "sent chunked: {v}");
            let f = &v["fields"];
            assert_eq!(f["title"], "quarterly report");
            assert_eq!(f["tags"], "a \"quoted\" tag");
            assert_eq!(f["note"]["size"], 9);
            assert_eq!(f["note"]["type"], "text/plain");
            assert_eq!(f["doc"]["filename"], "report.bin");
            assert_eq!(f["doc"]["type"], "application/x-report");
            assert_eq!(f["doc"]["size"].as_u64(), Some(len));
            assert_eq!(f["doc"]["sha256"], sha.as_str());
        }
        // A file that is gone fails the send with an I/O error naming it.
        let err = c
            .post(format!("{}/upload", peer.base))
            .multipart(FormData::new().file("doc", "/nonexistent/tulip-upload"))
            .send()
            .await
            .unwrap_err();
        assert!(err.is_io(), "{err:?}");
        assert!(
            err.to_string().contains("/nonexistent/tulip-upload"),
            "{err}"
        );
    });
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn url_encoded_forms_and_json() {
    let Some(peer) = aiohttp_peer::start() else {
        return;
    };
    tulip_executor::run(async move {
        let c = Client::new();
        let v: serde_json::Value = c
            .post(format!("{}/form", peer.base))
            .form(&[("name", "tulip & co"), ("lang", "rust=yes")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["type"], "application/x-www-form-urlencoded");
        assert_eq!(v["fields"]["name"], "tulip & co");
        assert_eq!(v["fields"]["lang"], "rust=yes");
        let v: serde_json::Value = c
            .post(format!("{}/json", peer.base))
            .json(&serde_json::json!({"n": 1, "list": ["a", "ü"]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["type"], "application/json");
        assert_eq!(v["got"], serde_json::json!({"n": 1, "list": ["a", "ü"]}));
    });
}

#[test]
fn gzip_deflate_and_brotli_responses_arrive_decoded() {
    let Some(peer) = aiohttp_peer::start() else {
        return;
    };
    tulip_executor::run(async move {
        let c = Client::new();
        let want = c
            .get(format!("{}/big", peer.base))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(want.len() > 500_000);
        let mut codings = vec!["gzip", "deflate"];
        if cfg!(feature = "brotli") {
            if peer.brotli {
                codings.push("br");
            } else {
                tulip_test_support::peers::skip::<()>(
                    "python with brotli",
                    "the server's Python cannot `import brotli`",
                    "VENV/bin/pip install brotli",
                );
            }
        }
        for coding in codings {
            let resp = c
                .get(format!("{}/compressed/{coding}", peer.base))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "{coding}");
            let offered = resp.headers()["x-accept-encoding"]
                .to_str()
                .unwrap()
                .to_owned();
            let sent = resp.content_length().unwrap();
            assert!(
                sent < want.len() as u64 / 4,
                "{coding}: {sent} bytes on the wire"
            );
            assert_eq!(resp.bytes().await.unwrap(), want, "{coding}");
            let expect = if cfg!(feature = "brotli") {
                "gzip, deflate, br"
            } else {
                "gzip, deflate"
            };
            assert_eq!(offered, expect);
        }
        // Asked not to decode, the client neither offers codings nor undoes them.
        let raw = Client::builder().decompress(false).build();
        let resp = raw
            .get(format!("{}/compressed/gzip", peer.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["x-accept-encoding"], "");
        assert_eq!(&resp.bytes().await.unwrap()[..2], b"\x1f\x8b");
    });
}

#[test]
fn a_form_cookies_and_auth_over_http2() {
    use tulip_http::{BasicAuth, Cookie, Request, Response, Version};

    let app = tulip_http::App::new()
        .route_with_limit(
            tulip_http::Method::POST,
            "/upload",
            64 << 20,
            |mut req: Request| async move {
                let length = req.header("content-length").unwrap_or("none").to_owned();
                let mut mp = req.multipart().unwrap();
                let mut out = vec![length];
                while let Some(mut part) = mp.next_part().await.unwrap() {
                    let name = part.name().unwrap_or("").to_owned();
                    let filename = part.filename().map(str::to_owned);
                    match filename {
                        None => out.push(part.text().await.unwrap()),
                        Some(f) => {
                            // Streamed: a file part is not bounded by max_field_size.
                            let mut n = 0;
                            while let Some(piece) = part.chunk().await.unwrap() {
                                n += piece.len();
                            }
                            out.push(format!("{name}={f}:{n}"));
                        }
                    }
                }
                out.join(" ")
            },
        )
        .get("/login", |_req: Request| async {
            let mut resp = Response::text("in");
            resp.set_cookie(&Cookie::new("sid", "h2")).unwrap();
            resp
        })
        .get("/me", |req: Request| async move {
            let auth = req
                .header("authorization")
                .map(|h| BasicAuth::decode(h).unwrap().login().to_owned());
            format!(
                "{} {}",
                req.header("cookie").unwrap_or("-"),
                auth.unwrap_or_default()
            )
        });
    let srv = crate::support::TestServer::start(app);
    let base = format!("http://localhost:{}", srv.addr.port());
    let (path, len, _) = big_file("h2");
    let p = path.clone();
    tulip_executor::run(async move {
        let c = Client::builder().http2_prior_knowledge(true).build();
        let form = FormData::new().text("title", "over h2").file("doc", &p);
        let resp = c
            .post(format!("{base}/upload"))
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.version(), Version::HTTP_2);
        let text = resp.text().await.unwrap();
        let (sent_length, rest) = text.split_once(' ').unwrap();
        assert!(sent_length.parse::<u64>().unwrap() > len, "{text}");
        let name = p.file_name().unwrap().to_str().unwrap();
        assert_eq!(rest, format!("over h2 doc={name}:{len}"));
        c.get(format!("{base}/login")).send().await.unwrap();
        let me = c
            .get(format!("{base}/me"))
            .basic_auth("ann", "pw")
            .send()
            .await
            .unwrap();
        assert_eq!(me.text().await.unwrap(), "sid=h2 ann");
        assert_eq!(c.pool_stats().connects, 1);
    });
    std::fs::remove_file(&path).unwrap();
}
