//! gzip response compression (the `gzip` feature): negotiation from `Accept-Encoding`, which
//! responses qualify, and the encoders for whole and streamed bodies.
//!
//! A response is a *candidate* when the handler asked for it ([`Response::enable_compression`])
//! or when [`ServerConfig::compression`](super::ServerConfig::compression) is on and its content
//! type is compressible (text, JSON, JavaScript, XML, SVG, WebAssembly; not images, audio,
//! video, archives or unknown binary data, which are already compressed or would not shrink).
//! Candidates are never compressed when they are answers to HEAD, have no body (1xx, 204, 304,
//! empty), are Range answers (206 or `Content-Range`), already carry a `Content-Encoding`, or
//! are whole bodies shorter than
//! [`ServerConfig::compression_min_size`](super::ServerConfig::compression_min_size). Every
//! candidate gets `Vary: Accept-Encoding`, compressed or not, so caches keep the variants apart.
//!
//! Streamed bodies are compressed piece by piece with a sync flush after each piece: memory
//! stays bounded by the deflate window, and every `write` (an SSE event) leaves at once.

use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use futures_lite::Stream;
use http::StatusCode;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, ETAG, HeaderValue, VARY};

use super::ServerConfig;
use super::response::{Response, ResponseBody};
use crate::error::{Error, Kind};

/// Whether the client accepts gzip, by RFC 9110 §12.5.3 `Accept-Encoding` rules: gzip (or
/// `x-gzip`) with a non-zero q-value, else `*` with a non-zero q-value; and not when the client
/// explicitly prefers identity. A missing header means "anything", but old clients that send
/// none often cannot decode gzip, so only an explicit header enables it.
pub(crate) fn accepts_gzip(header: &[u8]) -> bool {
    let (mut gzip, mut star, mut identity) = (None, None, None);
    for item in header.split(|&b| b == b',') {
        let mut parts = item.split(|&b| b == b';');
        let coding = trim(parts.next().unwrap_or_default());
        let mut q = 1000;
        for param in parts {
            let param = trim(param);
            if param.len() >= 2 && param[..2].eq_ignore_ascii_case(b"q=") {
                // A malformed q-value counts as "not acceptable": compressing for a client that
                // cannot decode is worse than sending identity.
                q = parse_q(trim(&param[2..])).unwrap_or(0);
            }
        }
        if coding.eq_ignore_ascii_case(b"gzip") || coding.eq_ignore_ascii_case(b"x-gzip") {
            gzip = Some(gzip.map_or(q, |g: u16| g.max(q)));
        } else if coding == b"*" {
            star = Some(q);
        } else if coding.eq_ignore_ascii_case(b"identity") {
            identity = Some(q);
        }
    }
    let q = gzip.or(star).unwrap_or(0);
    q > 0 && identity.is_none_or(|i| q >= i)
}

fn trim(s: &[u8]) -> &[u8] {
    s.trim_ascii()
}

/// Parses a qvalue (`0`, `0.5`, `1.000`) into thousandths.
fn parse_q(s: &[u8]) -> Option<u16> {
    let (int, frac) = match s.iter().position(|&b| b == b'.') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, &b""[..]),
    };
    if int.len() != 1 || frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut thousandths = 0u16;
    for i in 0..3 {
        thousandths = thousandths * 10 + frac.get(i).map_or(0, |d| u16::from(d - b'0'));
    }
    match int[0] {
        b'0' => Some(thousandths),
        b'1' if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Whether a content type is worth compressing (see the module doc).
pub(crate) fn compressible(content_type: &[u8]) -> bool {
    let mime = trim(
        content_type
            .split(|&b| b == b';')
            .next()
            .unwrap_or_default(),
    );
    let mime = mime.to_ascii_lowercase();
    mime.starts_with(b"text/")
        || mime.ends_with(b"+json")
        || mime.ends_with(b"+xml")
        || matches!(
            &mime[..],
            b"application/json"
                | b"application/javascript"
                | b"application/ecmascript"
                | b"application/xml"
                | b"application/x-www-form-urlencoded"
                | b"application/wasm"
                | b"application/x-ndjson"
                | b"font/ttf"
                | b"font/otf"
        )
}

/// Compresses `resp` in place when it qualifies and the client accepts gzip (see the module
/// doc); adds `Vary: Accept-Encoding` to every candidate.
pub(crate) fn apply(
    resp: &mut Response,
    head_request: bool,
    accept: Option<&[u8]>,
    cfg: &ServerConfig,
) {
    let wanted = match resp.compress {
        Some(on) => on,
        None => {
            cfg.compression
                && resp
                    .content_type()
                    .is_some_and(|t| compressible(t.as_bytes()))
        }
    };
    if !wanted || !eligible(resp) {
        return;
    }
    if let ResponseBody::Full(b) = &resp.body {
        if b.len() < cfg.compression_min_size {
            return;
        }
    }
    add_vary(resp);
    if head_request || !accept.is_some_and(accepts_gzip) {
        return;
    }
    let level = Compression::new(cfg.compression_level.min(9));
    let body = std::mem::replace(&mut resp.body, ResponseBody::Empty);
    resp.body = match body {
        ResponseBody::Full(b) => {
            let mut enc = GzEncoder::new(Vec::with_capacity(b.len() / 3 + 64), level);
            // Writing into a Vec cannot fail.
            let out = enc.write_all(&b).and_then(|()| enc.finish());
            match out {
                Ok(v) => ResponseBody::Full(v.into()),
                Err(_) => ResponseBody::Full(b),
            }
        }
        ResponseBody::Stream(inner) => ResponseBody::Stream(Box::pin(GzipStream {
            inner,
            enc: Some(GzEncoder::new(Vec::new(), level)),
        })),
        // Compressed bytes are not the file's: it is read and compressed, never sendfile'd.
        ResponseBody::File(f) => ResponseBody::Stream(Box::pin(GzipStream {
            inner: f.into_stream(),
            enc: Some(GzEncoder::new(Vec::new(), level)),
        })),
        ResponseBody::Empty => ResponseBody::Empty,
    };
    let headers = resp.headers_mut();
    headers.remove(CONTENT_LENGTH);
    headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    // The bytes differ from the identity representation, so a strong validator would lie.
    if let Some(tag) = headers.get(ETAG) {
        if tag.as_bytes().starts_with(b"\"") {
            let mut weak = b"W/".to_vec();
            weak.extend_from_slice(tag.as_bytes());
            if let Ok(v) = HeaderValue::from_bytes(&weak) {
                headers.insert(ETAG, v);
            }
        }
    }
}

/// Statuses, encodings and ranges that must go out as they are.
fn eligible(resp: &Response) -> bool {
    let status = resp.status();
    let headers = resp.headers();
    !(status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || status == StatusCode::PARTIAL_CONTENT
        || matches!(&resp.body, ResponseBody::Empty)
        // Nothing to shrink: gzip would turn 0 bytes into 20 and add a header.
        || matches!(&resp.body, ResponseBody::Full(b) if b.is_empty())
        || headers.contains_key(CONTENT_ENCODING)
        || headers.contains_key(CONTENT_RANGE))
}

fn add_vary(resp: &mut Response) {
    let headers = resp.headers_mut();
    let present = headers.get_all(VARY).iter().any(|v| {
        v.as_bytes().split(|&b| b == b',').any(|t| {
            let t = trim(t);
            t == b"*" || t.eq_ignore_ascii_case(b"accept-encoding")
        })
    });
    if !present {
        headers.append(VARY, HeaderValue::from_static("accept-encoding"));
    }
}

use super::response::BoxStream;

/// Compresses a streamed body piece by piece. Each piece is followed by a sync flush, so what
/// the handler wrote reaches the client now (SSE), and the only state kept between pieces is
/// the encoder's fixed-size window.
struct GzipStream {
    inner: BoxStream,
    /// `None` once the trailer was emitted.
    enc: Option<GzEncoder<Vec<u8>>>,
}

fn deflate_err(e: std::io::Error) -> Error {
    Error::new(Kind::Io, "gzip encoder failed").with_cause(e)
}

impl Stream for GzipStream {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            let Some(enc) = this.enc.as_mut() else {
                return Poll::Ready(None);
            };
            let piece = match futures_lite::ready!(this.inner.as_mut().poll_next(cx)) {
                Some(Ok(piece)) => piece,
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => {
                    let out = this.enc.take().map(GzEncoder::finish).transpose();
                    return Poll::Ready(Some(
                        out.map(|v| v.unwrap_or_default().into())
                            .map_err(deflate_err),
                    ));
                }
            };
            if piece.is_empty() {
                continue;
            }
            if let Err(e) = enc.write_all(&piece).and_then(|()| enc.flush()) {
                return Poll::Ready(Some(Err(deflate_err(e))));
            }
            let out = std::mem::take(enc.get_mut());
            if !out.is_empty() {
                return Poll::Ready(Some(Ok(out.into())));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn negotiation_table() {
        let table: &[(&str, bool)] = &[
            ("gzip", true),
            ("GZIP", true),
            ("x-gzip", true),
            ("gzip, deflate, br", true),
            ("deflate, gzip;q=0.5", true),
            ("br;q=1.0, gzip;q=0.8, *;q=0.1", true),
            ("gzip;q=0", false),
            ("gzip;q=0.000", false),
            ("gzip; q=0.001", true),
            ("gzip;Q=1", true),
            ("*", true),
            ("*;q=0", false),
            ("gzip;q=0, *", false),
            ("*, gzip;q=0", false),
            ("identity", false),
            ("", false),
            ("deflate, br", false),
            ("identity;q=1, gzip;q=0.5", false),
            ("identity;q=0.5, gzip;q=0.5", true),
            ("identity;q=0, gzip", true),
            ("gzip;q=2", false),
            ("gzip;q=1.5", false),
            ("gzip;q=0.5555", false),
            ("gzip;q=abc", false),
            ("gzip;q=", false),
            ("  gzip  ;  q=0.9 ", true),
            ("gzipx", false),
        ];
        for (header, want) in table {
            assert_eq!(accepts_gzip(header.as_bytes()), *want, "{header:?}");
        }
    }

    #[test]
    fn compressible_types() {
        let table: &[(&str, bool)] = &[
            ("text/plain; charset=utf-8", true),
            ("text/event-stream", true),
            ("TEXT/HTML", true),
            ("application/json", true),
            ("application/problem+json", true),
            ("image/svg+xml", true),
            ("application/javascript; charset=utf-8", true),
            ("image/png", false),
            ("image/jpeg", false),
            ("application/gzip", false),
            ("application/zip", false),
            ("application/octet-stream", false),
            ("video/mp4", false),
            ("font/woff2", false),
        ];
        for (ct, want) in table {
            assert_eq!(compressible(ct.as_bytes()), *want, "{ct:?}");
        }
    }

    fn gunzip(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn stream_pieces_decode_as_they_arrive() {
        let pieces: Vec<Result<Bytes, Error>> = (0..5)
            .map(|i| Ok(Bytes::from(format!("data: event {i}\n\n"))))
            .collect();
        let mut s = GzipStream {
            inner: Box::pin(futures_lite::stream::iter(pieces)),
            enc: Some(GzEncoder::new(Vec::new(), Compression::default())),
        };
        let mut wire = Vec::new();
        let mut decoder = flate2::write::GzDecoder::new(Vec::new());
        futures_lite::future::block_on(async {
            let mut i = 0;
            while let Some(p) = futures_lite::StreamExt::next(&mut s).await {
                let p = p.unwrap();
                wire.extend_from_slice(&p);
                decoder.write_all(&p).unwrap();
                decoder.flush().unwrap();
                // After each flushed piece the decoder has every event so far.
                if i < 5 {
                    let got = String::from_utf8(decoder.get_ref().clone()).unwrap();
                    assert!(got.ends_with(&format!("data: event {i}\n\n")), "{got:?}");
                }
                i += 1;
            }
        });
        let all = gunzip(&wire);
        assert_eq!(
            all.len(),
            (0..5)
                .map(|i| format!("data: event {i}\n\n").len())
                .sum::<usize>()
        );
    }

    proptest::proptest! {
        #[test]
        fn whole_bodies_round_trip(body in proptest::collection::vec(proptest::num::u8::ANY, 0..5000),
                                   repeat in 1usize..20) {
            let body: Vec<u8> = body.iter().copied().cycle().take(body.len() * repeat).collect();
            let cfg = ServerConfig { compression_min_size: 0, ..ServerConfig::default() };
            let mut r = Response::bytes(body.clone());
            r.enable_compression();
            apply(&mut r, false, Some(b"gzip"), &cfg);
            match (&r.body, body.is_empty()) {
                (ResponseBody::Empty, true) => {}
                (ResponseBody::Full(b), true) => {
                    proptest::prop_assert!(b.is_empty());
                    proptest::prop_assert!(!r.headers().contains_key("content-encoding"));
                }
                (ResponseBody::Full(b), false) => {
                    proptest::prop_assert_eq!(&r.headers()["content-encoding"], "gzip");
                    proptest::prop_assert_eq!(gunzip(b), body);
                }
                (other, _) => proptest::prop_assert!(false, "unexpected body {other:?}"),
            }
        }
    }
}
