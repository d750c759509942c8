//! The server role: parse request heads (strictly), encode response heads.
//!
//! httparse does the tokenizing into a fixed header array on the stack; this module adds the
//! checks httparse leaves to its caller (bare CR/LF, Content-Length/Transfer-Encoding rules,
//! Host, size limits) and records header positions as offsets into the head `Bytes`, so a request
//! owns its head without copying it. The client role (parse response heads, encode request heads)
//! will sit beside this and reuse the same helpers.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Version};
use smallvec::SmallVec;

use crate::error::{Error, Parse};

/// Most headers httparse can return; `Limits::max_headers` may lower it.
pub(crate) const MAX_HEADERS: usize = 100;

/// Head-size limits applied while parsing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeadLimits {
    /// Longest head (request line plus headers), in bytes.
    pub(crate) max_head: usize,
    /// Longest request line, in bytes.
    pub(crate) max_request_line: usize,
    /// Most header lines.
    pub(crate) max_headers: usize,
}

/// Where one header sits in the head bytes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct HeaderPos {
    pub(crate) name: (u32, u32),
    pub(crate) value: (u32, u32),
}

/// How the message body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    Empty,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A parsed request head. The strings live in `head`; positions are byte ranges into it.
#[derive(Debug, Clone)]
pub(crate) struct RequestHead {
    pub(crate) head: Bytes,
    pub(crate) method: Method,
    pub(crate) version: Version,
    /// The path (origin-form, without query), as a range into `head`.
    pub(crate) path: (u32, u32),
    /// The query without `?`, if any.
    pub(crate) query: Option<(u32, u32)>,
    pub(crate) headers: SmallVec<[HeaderPos; 20]>,
    pub(crate) framing: Framing,
    pub(crate) keep_alive: bool,
    pub(crate) expect_continue: bool,
    /// `Connection: upgrade` with an `Upgrade` header.
    pub(crate) upgrade: bool,
}

impl RequestHead {
    pub(crate) fn slice(&self, (start, end): (u32, u32)) -> &[u8] {
        &self.head[start as usize..end as usize]
    }

    pub(crate) fn str(&self, range: (u32, u32)) -> &str {
        // Ranges come from httparse `&str`s or from ASCII-only target bytes.
        std::str::from_utf8(self.slice(range)).unwrap_or("")
    }
}

fn err(context: &'static str) -> Error {
    Error::parse(Parse::Syntax, context)
}

fn framing_err(context: &'static str) -> Error {
    Error::parse(Parse::Framing, context)
}

/// What [`parse_request`] found in the buffer.
#[derive(Debug)]
pub(crate) struct Parsed {
    /// Length of the head in the buffer.
    pub(crate) len: usize,
    head: Partial,
}

#[derive(Debug)]
struct Partial {
    method: Method,
    version: Version,
    path: (u32, u32),
    query: Option<(u32, u32)>,
    headers: SmallVec<[HeaderPos; 20]>,
}

/// Parses a request head at the front of `buf`. `Ok(None)` means incomplete so far.
pub(crate) fn parse_request(buf: &[u8], limits: &HeadLimits) -> Result<Option<Parsed>, Error> {
    // Left uninitialized: filling a hundred empty headers before every parse cost more than
    // parsing a small head does.
    let mut storage =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let max_headers = limits.max_headers.clamp(1, MAX_HEADERS);
    let mut req = httparse::Request::new(&mut []);
    let status = match req.parse_with_uninit_headers(buf, &mut storage[..max_headers]) {
        Ok(s) => s,
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Error::parse(Parse::TooManyHeaders, "too many headers"));
        }
        Err(httparse::Error::Version) if names_a_version(buf) => {
            return Err(Error::parse(Parse::Version, "unsupported HTTP version"));
        }
        Err(e) => {
            check_request_line_len(buf, limits)?;
            return Err(err("malformed request head").with_cause(e));
        }
    };
    let len = match status {
        httparse::Status::Partial => {
            check_request_line_len(buf, limits)?;
            if buf.len() > limits.max_head {
                return Err(Error::parse(Parse::HeadTooLarge, "request head too large"));
            }
            return Ok(None);
        }
        httparse::Status::Complete(len) => len,
    };
    if len > limits.max_head {
        return Err(Error::parse(Parse::HeadTooLarge, "request head too large"));
    }
    check_request_line_len(buf, limits)?;
    check_line_endings(&buf[..len])?;
    let offset = |s: &[u8]| (s.as_ptr() as usize - buf.as_ptr() as usize) as u32;
    let method_str = req.method.ok_or_else(|| err("no method"))?;
    let method = Method::from_bytes(method_str.as_bytes()).map_err(|_| err("bad method"))?;
    let version = if req.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let target = req.path.ok_or_else(|| err("no request target"))?;
    let (path, query) = split_target(target, &method)?;
    let path = path.map(|p| (offset(p.as_bytes()), offset(p.as_bytes()) + p.len() as u32));
    let query = query.map(|q| (offset(q.as_bytes()), offset(q.as_bytes()) + q.len() as u32));
    let path = path.unwrap_or((0, 0));
    let mut headers = SmallVec::new();
    for h in req.headers.iter() {
        let name = (
            offset(h.name.as_bytes()),
            offset(h.name.as_bytes()) + h.name.len() as u32,
        );
        let value = (offset(h.value), offset(h.value) + h.value.len() as u32);
        headers.push(HeaderPos { name, value });
    }
    Ok(Some(Parsed {
        len,
        head: Partial {
            method,
            version,
            path,
            query,
            headers,
        },
    }))
}

impl Parsed {
    /// Finishes a parse: takes ownership of the head bytes and applies the header rules.
    ///
    /// The head is boxed here, once: at about 400 bytes (twenty inline header positions) it
    /// was copied whole at every move on its way into the handler's request, five to seven
    /// `memcpy`s per request.
    pub(crate) fn into_head(self, head: Bytes) -> Result<Box<RequestHead>, Error> {
        let p = self.head;
        let mut h = Box::new(RequestHead {
            head,
            method: p.method,
            version: p.version,
            path: p.path,
            query: p.query,
            headers: p.headers,
            framing: Framing::Empty,
            keep_alive: p.version == Version::HTTP_11,
            expect_continue: false,
            upgrade: false,
        });
        apply_header_rules(&mut h)?;
        Ok(h)
    }
}

/// Over-long request lines get 414 rather than a generic 400 or 431.
fn check_request_line_len(buf: &[u8], limits: &HeadLimits) -> Result<(), Error> {
    let start = buf
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    let line = &buf[start..];
    let window = &line[..line.len().min(limits.max_request_line + 1)];
    if memchr::memchr(b'\n', window).is_none() && line.len() > limits.max_request_line {
        return Err(Error::parse(Parse::UriTooLong, "request line too long"));
    }
    Ok(())
}

/// Whether the request line ends in a well-formed `HTTP/x.y` token as its third and last
/// field. httparse reports a version error for anything after the target that is not
/// `HTTP/1.x`, including a target with a space in it (`GET /a b HTTP/1.1`): only a real
/// version it does not speak earns a 505, the rest is a malformed request (400).
fn names_a_version(buf: &[u8]) -> bool {
    let line_end = memchr::memchr(b'\n', buf).unwrap_or(buf.len());
    let line = buf[..line_end]
        .strip_suffix(b"\r")
        .unwrap_or(&buf[..line_end]);
    let mut fields = line.split(|&b| b == b' ');
    let (Some(_method), Some(_target), Some(version), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return false;
    };
    matches!(version, [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
        if major.is_ascii_digit() && minor.is_ascii_digit())
}

/// httparse accepts a bare LF as a line end; RFC 9112 requires CRLF and forbids a bare CR.
/// Every LF must follow a CR; then as many CRs as LFs means no CR stands alone. Visiting
/// only the LFs and counting the CRs in one vectorized pass costs less than visiting both.
fn check_line_endings(head: &[u8]) -> Result<(), Error> {
    let mut lfs = 0;
    for i in memchr::memchr_iter(b'\n', head) {
        if i == 0 || head[i - 1] != b'\r' {
            return Err(err("bare CR or LF in head"));
        }
        lfs += 1;
    }
    if memchr::memchr_iter(b'\r', head).count() != lfs {
        return Err(err("bare CR or LF in head"));
    }
    Ok(())
}

/// Splits a request target into path and query, accepting origin-form, absolute-form and `*`
/// (OPTIONS only). Authority-form (CONNECT) is refused: this server is not a proxy.
fn split_target<'a>(
    target: &'a str,
    method: &Method,
) -> Result<(Option<&'a str>, Option<&'a str>), Error> {
    if target == "*" {
        return if method == Method::OPTIONS {
            Ok((None, None))
        } else {
            Err(err("* target"))
        };
    }
    let origin = if target.starts_with('/') {
        target
    } else {
        let rest = target
            .strip_prefix("http://")
            .or_else(|| target.strip_prefix("https://"))
            .ok_or_else(|| err("bad request target"))?;
        match rest.find('/') {
            Some(i) => &rest[i..],
            None => return Err(err("absolute target without a path")),
        }
    };
    if origin.bytes().any(|b| b == b'#' || b <= 0x20 || b >= 0x7f) {
        return Err(err("bad byte in request target"));
    }
    Ok(match origin.find('?') {
        Some(i) => (Some(&origin[..i]), Some(&origin[i + 1..])),
        None => (Some(origin), None),
    })
}

fn apply_header_rules(h: &mut RequestHead) -> Result<(), Error> {
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut seen_te = false;
    let mut hosts = 0;
    let mut upgrade_header = false;
    let mut connection_upgrade = false;
    let mut close = false;
    let mut keep_alive = false;
    for pos in h.headers.iter() {
        let name = &h.head[pos.name.0 as usize..pos.name.1 as usize];
        let value = &h.head[pos.value.0 as usize..pos.value.1 as usize];
        if value.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n') {
            return Err(err("control byte in header value"));
        }
        if name.eq_ignore_ascii_case(b"content-length") {
            if content_length.is_some() {
                return Err(framing_err("duplicate Content-Length"));
            }
            content_length = Some(parse_content_length(value)?);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            if seen_te {
                return Err(framing_err("repeated Transfer-Encoding"));
            }
            seen_te = true;
            if !trim(value).eq_ignore_ascii_case(b"chunked") {
                return Err(framing_err("unsupported transfer coding"));
            }
            chunked = true;
        } else if name.eq_ignore_ascii_case(b"host") {
            hosts += 1;
            if value
                .iter()
                .any(|&b| matches!(b, b' ' | b'\t' | b'/' | b'\\' | b'@' | b'?' | b'#'))
            {
                return Err(err("bad Host"));
            }
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in value.split(|&b| b == b',').map(trim) {
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    keep_alive = true;
                } else if token.eq_ignore_ascii_case(b"upgrade") {
                    connection_upgrade = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            h.expect_continue = trim(value).eq_ignore_ascii_case(b"100-continue");
        } else if name.eq_ignore_ascii_case(b"upgrade") {
            upgrade_header = true;
        }
    }
    if h.version == Version::HTTP_11 && hosts != 1 {
        return Err(err("HTTP/1.1 request needs exactly one Host"));
    }
    if hosts > 1 {
        return Err(err("several Host headers"));
    }
    if chunked && content_length.is_some() {
        return Err(framing_err("Content-Length with Transfer-Encoding"));
    }
    if chunked && h.version == Version::HTTP_10 {
        return Err(framing_err("Transfer-Encoding in HTTP/1.0"));
    }
    h.framing = match (chunked, content_length) {
        (true, _) => Framing::Chunked,
        (false, Some(0) | None) => Framing::Empty,
        (false, Some(n)) => Framing::Length(n),
    };
    h.keep_alive = !close && (h.version == Version::HTTP_11 || keep_alive);
    h.upgrade = upgrade_header && connection_upgrade;
    Ok(())
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |e| e + 1);
    &v[start..end]
}

/// `Content-Length = 1*DIGIT`, nothing else (no sign, no list, no spaces inside).
fn parse_content_length(value: &[u8]) -> Result<u64, Error> {
    let v = trim(value);
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return Err(framing_err("bad Content-Length"));
    }
    v.iter()
        .try_fold(0u64, |n, &d| {
            n.checked_mul(10)?.checked_add((d - b'0') as u64)
        })
        .ok_or_else(|| framing_err("Content-Length overflows"))
}

/// Everything the response head encoder needs.
#[derive(Debug)]
pub(crate) struct ResponseHeadParts<'a> {
    pub(crate) status: StatusCode,
    pub(crate) version: Version,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) content_type: Option<&'a HeaderValue>,
    /// `Some(n)` writes `content-length: n`; `None` with `chunked` writes the TE header.
    pub(crate) content_length: Option<u64>,
    pub(crate) chunked: bool,
    /// Adds `connection: close` (HTTP/1.1) or `connection: keep-alive` (HTTP/1.0) as needed.
    pub(crate) keep_alive: bool,
}

/// Encodes a response head into `out`. User headers that would contradict the framing
/// (`content-length`, `transfer-encoding`, `connection`, `date`) are replaced by ours.
pub(crate) fn encode_response_head(p: &ResponseHeadParts<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(if p.version == Version::HTTP_10 {
        b"HTTP/1.0 "
    } else {
        b"HTTP/1.1 "
    });
    out.extend_from_slice(p.status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(p.status.canonical_reason().unwrap_or("Unknown").as_bytes());
    out.extend_from_slice(b"\r\ndate: ");
    super::date::extend_date(out);
    out.extend_from_slice(b"\r\n");
    if let Some(n) = p.content_length {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        out.extend_from_slice(b"\r\n");
    } else if p.chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    if let Some(ct) = p.content_type {
        out.extend_from_slice(b"content-type: ");
        out.extend_from_slice(ct.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match (p.version == Version::HTTP_10, p.keep_alive) {
        (false, false) => out.extend_from_slice(b"connection: close\r\n"),
        (true, true) => out.extend_from_slice(b"connection: keep-alive\r\n"),
        _ => {}
    }
    for (name, value) in p.headers {
        if name == http::header::CONTENT_LENGTH
            || name == http::header::TRANSFER_ENCODING
            || name == http::header::DATE
            || (name == http::header::CONTENT_TYPE && p.content_type.is_some())
            || (name == http::header::CONNECTION && p.status != StatusCode::SWITCHING_PROTOCOLS)
        {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Parses a complete request (head only) for tests and fuzzing: the head or the error.
pub(crate) fn parse_whole(
    buf: &[u8],
    limits: &HeadLimits,
) -> Result<Option<Box<RequestHead>>, Error> {
    match parse_request(buf, limits)? {
        None => Ok(None),
        Some(p) => {
            let head = Bytes::copy_from_slice(&buf[..p.len]);
            // Offsets were taken against `buf`, whose prefix `head` copies byte for byte.
            p.into_head(head).map(Some)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HeadLimits = HeadLimits {
        max_head: 8192,
        max_request_line: 4096,
        max_headers: 100,
    };

    #[test]
    fn line_endings_must_be_crlf() {
        assert!(check_line_endings(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").is_ok());
        for bad in [
            &b"GET / HTTP/1.1\nHost: h\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
            b"\nGET",
            b"a\rb\nc",
            b"\r\r\n\n",
            b"x\r",
        ] {
            assert!(check_line_endings(bad).is_err(), "{bad:?} passed");
        }
    }

    #[test]
    fn parses_a_simple_request() {
        let h = parse_whole(
            b"GET /a/b?x=1 HTTP/1.1\r\nHost: h\r\nX-A: b\r\n\r\n",
            &LIMITS,
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.method, Method::GET);
        assert_eq!(h.str(h.path), "/a/b");
        assert_eq!(h.str(h.query.unwrap()), "x=1");
        assert_eq!(h.headers.len(), 2);
        assert!(h.keep_alive);
        assert_eq!(h.framing, Framing::Empty);
    }

    #[test]
    fn partial_is_none() {
        assert!(
            parse_whole(b"GET / HTTP/1.1\r\nHost: h\r\n", &LIMITS)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn rejects_smuggling_shapes() {
        let bad: &[&[u8]] = &[
            b"GET / HTTP/1.1\nHost: h\n\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\n",
        ];
        for b in bad {
            assert!(
                parse_whole(b, &LIMITS).is_err(),
                "{:?}",
                String::from_utf8_lossy(b)
            );
        }
    }

    #[test]
    fn encodes_a_head() {
        let headers = HeaderMap::new();
        let ct = HeaderValue::from_static("text/plain");
        let mut out = Vec::new();
        encode_response_head(
            &ResponseHeadParts {
                status: StatusCode::OK,
                version: Version::HTTP_11,
                headers: &headers,
                content_type: Some(&ct),
                content_length: Some(13),
                chunked: false,
                keep_alive: true,
            },
            &mut out,
        );
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("HTTP/1.1 200 OK\r\ndate: "));
        assert!(
            s.ends_with("content-length: 13\r\ncontent-type: text/plain\r\n\r\n"),
            "{s}"
        );
    }
}
