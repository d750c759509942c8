//! What the client and server handshakes share (RFC 6455 §4): the accept key, header token
//! lists, and reading an HTTP head with a size limit.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_lite::io::{AsyncRead, AsyncReadExt};
use http::HeaderMap;
use sha1::{Digest, Sha1};

use crate::error::{Error, Result};

const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key` (RFC 6455 §4.2.2).
///
/// ```
/// // The example from RFC 6455 §1.3.
/// assert_eq!(
///     tulip_ws::accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
///     "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
/// );
/// ```
pub fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.trim().as_bytes());
    sha.update(GUID);
    STANDARD.encode(sha.finalize())
}

/// A fresh random `Sec-WebSocket-Key`: 16 random bytes, base64.
pub fn generate_key() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::BuildHasher;
    let a = RandomState::new().hash_one(1u8);
    let b = RandomState::new().hash_one(2u8);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.to_ne_bytes());
    bytes[8..].copy_from_slice(&b.to_ne_bytes());
    STANDARD.encode(bytes)
}

/// Whether `key` is base64 for exactly 16 bytes, as RFC 6455 §4.1 requires.
pub(crate) fn valid_key(key: &str) -> bool {
    STANDARD.decode(key.trim()).is_ok_and(|k| k.len() == 16)
}

/// Whether any value of header `name` holds `token` in its comma-separated list.
pub(crate) fn has_token(
    headers: &HeaderMap,
    name: impl http::header::AsHeaderName,
    token: &str,
) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Every comma-separated item of every value of header `name`.
pub(crate) fn tokens(headers: &HeaderMap, name: impl http::header::AsHeaderName) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect()
}

/// Reads up to and including the blank line that ends an HTTP head, at most `limit` bytes.
///
/// Returns the bytes read and the length of the head; bytes past it belong to the frames that
/// follow. Reads in small chunks are not needed: whatever comes after the head is kept.
pub(crate) async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    limit: usize,
) -> Result<(Vec<u8>, usize)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(Error::handshake("connection closed during the handshake"));
        }
        let searched_from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = find_blank_line(&buf[searched_from..]) {
            let end = searched_from + pos + 4;
            if end > limit {
                return Err(Error::handshake("HTTP head too large"));
            }
            return Ok((buf, end));
        }
        if buf.len() > limit {
            return Err(Error::handshake("HTTP head too large"));
        }
    }
}

fn find_blank_line(b: &[u8]) -> Option<usize> {
    b.windows(4).position(|w| w == b"\r\n\r\n")
}

/// Copies parsed httparse headers into a `HeaderMap`, refusing invalid names or values.
pub(crate) fn to_header_map(raw: &[httparse::Header<'_>]) -> Result<HeaderMap> {
    let mut map = HeaderMap::with_capacity(raw.len());
    for h in raw {
        let name = http::HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|e| Error::handshake_caused("invalid header name", e))?;
        let value = http::HeaderValue::from_bytes(h.value)
            .map_err(|e| Error::handshake_caused("invalid header value", e))?;
        map.append(name, value);
    }
    Ok(map)
}

/// Writes a status line and headers as an HTTP/1.1 head.
pub(crate) fn write_head(out: &mut Vec<u8>, status: http::StatusCode, headers: &HeaderMap) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
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

    #[test]
    fn generated_keys_are_valid_and_differ() {
        let a = generate_key();
        let b = generate_key();
        assert!(valid_key(&a));
        assert_ne!(a, b);
        assert!(!valid_key("c2hvcnQ="));
    }

    #[test]
    fn tokens_split_across_values() {
        let mut h = HeaderMap::new();
        h.append("connection", "keep-alive, Upgrade".parse().unwrap());
        h.append("sec-websocket-protocol", "a, b".parse().unwrap());
        h.append("sec-websocket-protocol", "c".parse().unwrap());
        assert!(has_token(&h, "connection", "upgrade"));
        assert!(!has_token(&h, "connection", "close"));
        assert_eq!(tokens(&h, "sec-websocket-protocol"), ["a", "b", "c"]);
    }
}
