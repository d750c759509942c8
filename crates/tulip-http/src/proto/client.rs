//! The client role: response-head parsing (strict framing) and request-head encoding.
//!
//! Beside `role` (the server role); both feed the same body framing in `decode`/`encode`.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Version};

use smallvec::SmallVec;

use super::buf::ReadBuf;
use super::decode::Decoder;
use super::role::MAX_HEADERS;
use crate::error::{Error, Parse};

/// A parsed response head.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    pub(crate) status: StatusCode,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
    /// The reason phrase, when it differs from the status code's canonical one (kept only
    /// then, so the common response allocates nothing for it).
    pub(crate) reason: Option<Box<str>>,
    /// Bytes the head took in the buffer.
    pub(crate) len: usize,
    /// Which of the headers that decide how the response is read it carries.
    pub(crate) seen: Seen,
}

/// Which of the few headers that decide how a response is read (framing, keep-alive,
/// decompression) a head carries, noted while its names are parsed. A typical response has
/// `Content-Length` alone, and every other question is then answered without a look-up in
/// the header map (each one hashes the name and probes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Seen(u8);

impl Seen {
    pub(crate) const TRANSFER_ENCODING: Seen = Seen(1);
    pub(crate) const CONTENT_LENGTH: Seen = Seen(2);
    pub(crate) const CONNECTION: Seen = Seen(4);
    pub(crate) const CONTENT_ENCODING: Seen = Seen(8);

    fn note(&mut self, name: &HeaderName) {
        let bit = if *name == header::CONTENT_LENGTH {
            Seen::CONTENT_LENGTH
        } else if *name == header::TRANSFER_ENCODING {
            Seen::TRANSFER_ENCODING
        } else if *name == header::CONNECTION {
            Seen::CONNECTION
        } else if *name == header::CONTENT_ENCODING {
            Seen::CONTENT_ENCODING
        } else {
            return;
        };
        self.0 |= bit.0;
    }

    /// Whether a header of `kind` (one of the constants) was seen.
    pub(crate) fn has(self, kind: Seen) -> bool {
        self.0 & kind.0 != 0
    }
}

fn syntax(context: &'static str) -> Error {
    Error::parse(Parse::Syntax, context)
}

fn framing(context: &'static str) -> Error {
    Error::parse(Parse::Framing, context)
}

/// Parses a response head at the front of `buf`; `Ok(None)` while incomplete. The header
/// values are copied out of `buf` (into one allocation for the whole head).
pub(crate) fn parse_response(buf: &[u8], max_head: usize) -> Result<Option<ResponseHead>, Error> {
    let mut positions = Positions::new();
    match ParsedResponse::parse(buf, max_head, &mut positions)? {
        None => Ok(None),
        Some(p) => {
            let head = bytes::Bytes::copy_from_slice(&buf[..p.len]);
            p.finish(head, &mut positions).map(Some)
        }
    }
}

/// Parses a response head at the front of the connection's read buffer and takes it out:
/// the header values are slices of the received bytes, not copies (one fewer allocation per
/// header).
pub(crate) fn take_response(
    rb: &mut ReadBuf,
    max_head: usize,
) -> Result<Option<ResponseHead>, Error> {
    let mut positions = Positions::new();
    match ParsedResponse::parse(rb.bytes(), max_head, &mut positions)? {
        None => Ok(None),
        Some(p) => {
            let head = rb.split_to(p.len);
            p.finish(head, &mut positions).map(Some)
        }
    }
}

/// The header names of a parsed head, with the positions of their values in the buffer.
/// Kept by the caller, apart from [`ParsedResponse`]: at ~650 bytes inline, each move of a
/// result carrying it was a `memcpy` of its own (three per response).
type Positions = SmallVec<[(HeaderName, (u32, u32)); 16]>;

/// A parsed response head whose header values are still positions in the buffer.
struct ParsedResponse {
    status: StatusCode,
    version: Version,
    reason: Option<Box<str>>,
    len: usize,
    seen: Seen,
}

impl ParsedResponse {
    /// Parses the head at the front of `buf` into the returned parts and `headers` (empty
    /// when called).
    fn parse(
        buf: &[u8],
        max_head: usize,
        headers: &mut Positions,
    ) -> Result<Option<ParsedResponse>, Error> {
        // Left uninitialized, as in the server's request parser: filling a hundred empty
        // headers first cost more than parsing a small head.
        let mut storage =
            [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut res = httparse::Response::new(&mut []);
        let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
            &mut res,
            buf,
            &mut storage,
        );
        let len = match parsed {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => {
                if buf.len() > max_head {
                    return Err(Error::parse(Parse::HeadTooLarge, "response head too large"));
                }
                return Ok(None);
            }
            Err(httparse::Error::TooManyHeaders) => {
                return Err(Error::parse(Parse::TooManyHeaders, "too many headers"));
            }
            Err(httparse::Error::Version) => {
                return Err(Error::parse(Parse::Version, "unsupported HTTP version"));
            }
            Err(e) => return Err(syntax("malformed response head").with_cause(e)),
        };
        if len > max_head {
            return Err(Error::parse(Parse::HeadTooLarge, "response head too large"));
        }
        let version = match res.version {
            Some(0) => Version::HTTP_10,
            Some(1) => Version::HTTP_11,
            _ => return Err(Error::parse(Parse::Version, "unsupported HTTP version")),
        };
        let code = res.code.ok_or_else(|| syntax("missing status code"))?;
        let status =
            StatusCode::from_u16(code).map_err(|e| syntax("invalid status code").with_cause(e))?;
        headers.reserve(res.headers.len());
        let mut seen = Seen::default();
        for h in res.headers.iter() {
            let name = HeaderName::from_bytes(h.name.as_bytes())
                .map_err(|e| syntax("invalid header name").with_cause(e))?;
            seen.note(&name);
            if h.value.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n') {
                return Err(syntax("invalid byte in header value"));
            }
            // An empty value need not point into `buf`.
            let start = if h.value.is_empty() {
                0
            } else {
                (h.value.as_ptr() as usize - buf.as_ptr() as usize) as u32
            };
            headers.push((name, (start, start + h.value.len() as u32)));
        }
        let reason = res
            .reason
            .filter(|r| Some(*r) != status.canonical_reason())
            .map(Box::from);
        Ok(Some(ParsedResponse {
            status,
            version,
            reason,
            len,
            seen,
        }))
    }

    /// Builds the header map from `head`, the parsed bytes (`len` of them), and the
    /// positions `parse` found in them.
    fn finish(self, head: bytes::Bytes, headers: &mut Positions) -> Result<ResponseHead, Error> {
        let mut map = HeaderMap::with_capacity(headers.len());
        for (name, (start, end)) in headers.drain(..) {
            let value = HeaderValue::from_maybe_shared(head.slice(start as usize..end as usize))
                .map_err(|e| syntax("invalid header value").with_cause(e))?;
            map.append(name, value);
        }
        Ok(ResponseHead {
            status: self.status,
            version: self.version,
            headers: map,
            reason: self.reason,
            len: self.len,
            seen: self.seen,
        })
    }
}

/// How the body of a response to `method` with this head is framed (RFC 9112 §6.3).
/// `limit` bounds chunked and close-delimited bodies.
pub(crate) fn response_framing(
    method: &Method,
    head: &ResponseHead,
    limit: u64,
) -> Result<Decoder, Error> {
    let s = head.status;
    if method == Method::HEAD
        || s.is_informational()
        || s == StatusCode::NO_CONTENT
        || s == StatusCode::NOT_MODIFIED
    {
        return Ok(Decoder::Length(0));
    }
    if head.seen.has(Seen::TRANSFER_ENCODING) {
        if head.seen.has(Seen::CONTENT_LENGTH) {
            return Err(framing("both Transfer-Encoding and Content-Length"));
        }
        let mut codings = Vec::new();
        for v in head.headers.get_all(header::TRANSFER_ENCODING) {
            let v = v.to_str().map_err(|_| framing("bad Transfer-Encoding"))?;
            codings.extend(
                v.split(',')
                    .map(|c| c.trim().to_ascii_lowercase())
                    .filter(|c| !c.is_empty()),
            );
        }
        return match codings.last().map(String::as_str) {
            Some("chunked") if codings.iter().filter(|c| *c == "chunked").count() == 1 => {
                Ok(Decoder::chunked(limit))
            }
            Some("chunked") => Err(framing("chunked applied more than once")),
            // Chunked not last: the body runs until close (RFC 9112 §6.3, item 4).
            _ => Ok(Decoder::eof(limit)),
        };
    }
    if !head.seen.has(Seen::CONTENT_LENGTH) {
        return Ok(Decoder::eof(limit));
    }
    let mut length: Option<u64> = None;
    for v in head.headers.get_all(header::CONTENT_LENGTH) {
        for part in v.as_bytes().split(|&b| b == b',') {
            let part = part.trim_ascii();
            if part.is_empty() || !part.iter().all(u8::is_ascii_digit) || part.len() > 19 {
                return Err(framing("invalid Content-Length"));
            }
            let n: u64 = std::str::from_utf8(part)
                .ok()
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| framing("invalid Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(framing("conflicting Content-Length values"));
            }
            length = Some(n);
        }
    }
    Ok(match length {
        Some(n) => Decoder::Length(n),
        None => Decoder::eof(limit),
    })
}

/// Whether the connection may carry another request after this response.
pub(crate) fn keeps_alive(head: &ResponseHead) -> bool {
    if !head.seen.has(Seen::CONNECTION) {
        return head.version == Version::HTTP_11;
    }
    let conn = head
        .headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    let mut close = false;
    let mut keep = false;
    for token in conn {
        let t = token.trim();
        close |= t.eq_ignore_ascii_case("close");
        keep |= t.eq_ignore_ascii_case("keep-alive");
    }
    match head.version {
        Version::HTTP_11 => !close,
        _ => keep && !close,
    }
}

/// What a request's head carries besides the default and the caller's headers: the framing
/// the body needs and a forward proxy's credentials. Each replaces whatever the default or
/// the caller's headers said for the same name.
#[derive(Debug, Default)]
pub(crate) struct HeadExtras<'a> {
    /// `content-length: n` (any other `Content-Length` is left out).
    pub(crate) content_length: Option<u64>,
    /// `transfer-encoding: chunked` (any other `Content-Length` or `Transfer-Encoding` is left
    /// out).
    pub(crate) chunked: bool,
    /// Leave any `Transfer-Encoding` out (a body of known length).
    pub(crate) no_transfer_encoding: bool,
    pub(crate) proxy_authorization: Option<&'a HeaderValue>,
}

impl HeadExtras<'_> {
    /// Whether a default or caller header of this name gives way to ours.
    fn replaces(&self, name: &HeaderName) -> bool {
        (*name == header::CONTENT_LENGTH && (self.content_length.is_some() || self.chunked))
            || (*name == header::TRANSFER_ENCODING && (self.chunked || self.no_transfer_encoding))
            || (*name == header::PROXY_AUTHORIZATION && self.proxy_authorization.is_some())
    }
}

/// Encodes a request head: request line, `Host` (unless a header gives it), the `defaults`
/// the caller's `headers` do not name, the caller's `headers`, then the `extras`. Written
/// straight from the maps: merging them into one map first cost a map's allocations per
/// request.
pub(crate) fn encode_request_head(
    method: &Method,
    target: &str,
    host: &str,
    defaults: &HeaderMap,
    headers: &HeaderMap,
    extras: &HeadExtras<'_>,
    out: &mut Vec<u8>,
) {
    fn line(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if !headers.contains_key(header::HOST) && !defaults.contains_key(header::HOST) {
        line(out, b"host", host.as_bytes());
    }
    for (name, value) in defaults {
        if !extras.replaces(name) && !headers.contains_key(name) {
            line(out, name.as_str().as_bytes(), value.as_bytes());
        }
    }
    for (name, value) in headers {
        if !extras.replaces(name) {
            line(out, name.as_str().as_bytes(), value.as_bytes());
        }
    }
    if let Some(n) = extras.content_length {
        line(
            out,
            b"content-length",
            itoa::Buffer::new().format(n).as_bytes(),
        );
    }
    if extras.chunked {
        line(out, b"transfer-encoding", b"chunked");
    }
    if let Some(v) = extras.proxy_authorization {
        line(out, b"proxy-authorization", v.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> Result<Option<ResponseHead>, Error> {
        parse_response(raw.as_bytes(), 64 * 1024)
    }

    fn framing_of(method: Method, raw: &str) -> Result<Decoder, Error> {
        let h = head(raw).unwrap().unwrap();
        response_framing(&method, &h, u64::MAX)
    }

    #[test]
    fn parses_status_headers_and_length() {
        let h = head("HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nX-A: 1\r\nX-A: 2\r\n\r\nabc")
            .unwrap()
            .unwrap();
        assert_eq!(h.status, StatusCode::NOT_FOUND);
        assert_eq!(h.headers.get_all("x-a").iter().count(), 2);
        assert_eq!(
            h.len,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nX-A: 1\r\nX-A: 2\r\n\r\n".len()
        );
        assert!(head("HTTP/1.1 200 OK\r\nContent-Le").unwrap().is_none());
    }

    #[test]
    fn framing_table() {
        use Decoder as D;
        let cases: &[(&str, Method, Result<D, ()>)] = &[
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
                Method::GET,
                Ok(D::Length(5)),
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n",
                Method::GET,
                Ok(D::Length(5)),
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                Method::GET,
                Err(()),
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
                Method::GET,
                Err(()),
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
                Method::HEAD,
                Ok(D::Length(0)),
            ),
            (
                "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
                Method::GET,
                Ok(D::Length(0)),
            ),
            (
                "HTTP/1.1 304 Not Modified\r\n\r\n",
                Method::GET,
                Ok(D::Length(0)),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                Method::GET,
                Ok(D::chunked(u64::MAX)),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                Method::GET,
                Ok(D::chunked(u64::MAX)),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
                Method::GET,
                Err(()),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
                Method::GET,
                Err(()),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
                Method::GET,
                Ok(D::eof(u64::MAX)),
            ),
            ("HTTP/1.0 200 OK\r\n\r\n", Method::GET, Ok(D::eof(u64::MAX))),
        ];
        for (raw, method, want) in cases {
            let got = framing_of(method.clone(), raw).map_err(|_| ());
            assert_eq!(&got, want, "{raw:?}");
        }
    }

    #[test]
    fn malformed_heads_are_errors() {
        for raw in [
            "HTTP/1.1 2000 OK\r\n\r\n",
            "HTTP/2.0 200 OK\r\n\r\n",
            "HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n",
            "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
            "FTP/1.1 200 OK\r\n\r\n",
        ] {
            assert!(head(raw).is_err(), "{raw:?} was accepted");
        }
        let big = format!("HTTP/1.1 200 OK\r\nX: {}\r\n", "a".repeat(70_000));
        assert!(head(&big).is_err());
    }

    proptest::proptest! {
        /// `Seen` says a header is there exactly when the header map has it: each short-cut
        /// stands for a look-up that would have found nothing (the framing and keep-alive
        /// tables above check the answers).
        #[test]
        fn seen_matches_the_header_map(
            lines in proptest::collection::vec(0usize..12, 0..6),
        ) {
            const LINES: [&str; 12] = [
                "Content-Length: 5",
                "content-length: 5",
                "CONTENT-LENGTH: 7",
                "Transfer-Encoding: chunked",
                "transfer-encoding: gzip",
                "Connection: close",
                "connection: keep-alive",
                "Content-Encoding: gzip",
                "content-encoding: br",
                "Content-Type: text/plain",
                "X-Connection: close",
                "Transfer-Encodings: chunked",
            ];
            let mut raw = String::from("HTTP/1.1 200 OK\r\n");
            for &i in &lines {
                raw.push_str(LINES[i]);
                raw.push_str("\r\n");
            }
            raw.push_str("\r\n");
            let h = head(&raw).unwrap().unwrap();
            for (kind, name) in [
                (Seen::TRANSFER_ENCODING, header::TRANSFER_ENCODING),
                (Seen::CONTENT_LENGTH, header::CONTENT_LENGTH),
                (Seen::CONNECTION, header::CONNECTION),
                (Seen::CONTENT_ENCODING, header::CONTENT_ENCODING),
            ] {
                proptest::prop_assert_eq!(
                    h.seen.has(kind),
                    h.headers.contains_key(&name),
                    "{:?} in {:?}",
                    name,
                    raw
                );
            }
        }
    }

    #[test]
    fn keep_alive_rules() {
        let ka = |raw: &str| keeps_alive(&head(raw).unwrap().unwrap());
        assert!(ka("HTTP/1.1 200 OK\r\n\r\n"));
        assert!(!ka("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"));
        assert!(!ka("HTTP/1.0 200 OK\r\n\r\n"));
        assert!(ka("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n"));
    }

    #[test]
    fn encodes_request_heads() {
        let mut h = HeaderMap::new();
        h.insert("content-length", HeaderValue::from_static("2"));
        let none = HeaderMap::new();
        let mut out = Vec::new();
        let plain = HeadExtras::default();
        encode_request_head(
            &Method::POST,
            "/a?b=1",
            "example.com:8080",
            &none,
            &h,
            &plain,
            &mut out,
        );
        assert_eq!(
            out,
            b"POST /a?b=1 HTTP/1.1\r\nhost: example.com:8080\r\ncontent-length: 2\r\n\r\n"
        );
    }

    #[test]
    fn request_head_defaults_give_way_and_extras_replace() {
        let mut defaults = HeaderMap::new();
        defaults.insert("user-agent", HeaderValue::from_static("d"));
        defaults.insert("accept", HeaderValue::from_static("d"));
        defaults.insert("transfer-encoding", HeaderValue::from_static("gzip"));
        let mut own = HeaderMap::new();
        own.insert("user-agent", HeaderValue::from_static("mine"));
        own.insert("content-length", HeaderValue::from_static("99"));
        own.insert("proxy-authorization", HeaderValue::from_static("old"));
        let auth = HeaderValue::from_static("Basic eA==");
        let extras = HeadExtras {
            content_length: Some(5),
            no_transfer_encoding: true,
            proxy_authorization: Some(&auth),
            ..HeadExtras::default()
        };
        let mut out = Vec::new();
        encode_request_head(&Method::PUT, "/", "h", &defaults, &own, &extras, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "PUT / HTTP/1.1\r\nhost: h\r\naccept: d\r\nuser-agent: mine\r\n\
             content-length: 5\r\nproxy-authorization: Basic eA==\r\n\r\n"
        );
        let chunked = HeadExtras {
            chunked: true,
            ..HeadExtras::default()
        };
        let mut out = Vec::new();
        encode_request_head(&Method::POST, "/", "h", &defaults, &own, &chunked, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("99") && !text.contains("gzip"), "{text}");
        assert!(
            text.ends_with("transfer-encoding: chunked\r\n\r\n"),
            "{text}"
        );
    }
}
