//! The client role: response-head parsing (strict framing) and request-head encoding.
//!
//! Beside `role` (the server role); both feed the same body framing in `decode`/`encode`.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Version};

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
}

fn syntax(context: &'static str) -> Error {
    Error::parse(Parse::Syntax, context)
}

fn framing(context: &'static str) -> Error {
    Error::parse(Parse::Framing, context)
}

/// Parses a response head at the front of `buf`; `Ok(None)` while incomplete.
pub(crate) fn parse_response(buf: &[u8], max_head: usize) -> Result<Option<ResponseHead>, Error> {
    let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut storage);
    let len = match res.parse(buf) {
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
    let mut headers = HeaderMap::with_capacity(res.headers.len());
    for h in res.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|e| syntax("invalid header name").with_cause(e))?;
        if h.value.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n') {
            return Err(syntax("invalid byte in header value"));
        }
        let value = HeaderValue::from_bytes(h.value)
            .map_err(|e| syntax("invalid header value").with_cause(e))?;
        headers.append(name, value);
    }
    let reason = res
        .reason
        .filter(|r| Some(*r) != status.canonical_reason())
        .map(Box::from);
    Ok(Some(ResponseHead {
        status,
        reason,
        version,
        headers,
        len,
    }))
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
    let te: Vec<&HeaderValue> = head
        .headers
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .collect();
    if !te.is_empty() {
        if head.headers.contains_key(header::CONTENT_LENGTH) {
            return Err(framing("both Transfer-Encoding and Content-Length"));
        }
        let mut codings = Vec::new();
        for v in te {
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

/// Encodes a request head: request line, `Host`, then `headers` (which carry the framing
/// headers the caller chose).
pub(crate) fn encode_request_head(
    method: &Method,
    target: &str,
    host: &str,
    headers: &HeaderMap,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if !headers.contains_key(header::HOST) {
        out.extend_from_slice(b"host: ");
        out.extend_from_slice(host.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
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
        let mut out = Vec::new();
        encode_request_head(&Method::POST, "/a?b=1", "example.com:8080", &h, &mut out);
        assert_eq!(
            out,
            b"POST /a?b=1 HTTP/1.1\r\nhost: example.com:8080\r\ncontent-length: 2\r\n\r\n"
        );
    }
}
