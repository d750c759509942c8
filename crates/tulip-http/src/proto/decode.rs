//! Body framing, decoding side: Content-Length, chunked (strict) and read-until-close.
//!
//! A [`Decoder`] consumes bytes from the connection's [`ReadBuf`] and yields body data as
//! zero-copy `Bytes` slices of it. It never blocks and never reads: when it needs more input it
//! says so and the caller reads. Shared by the server (request bodies) and, later, the client
//! (response bodies).

use bytes::Bytes;

use super::buf::ReadBuf;
use crate::error::{Error, Kind, Parse};

/// Longest chunk-size line (size, extensions, CRLF) accepted.
const MAX_CHUNK_LINE: usize = 1024;
/// Longest trailer section accepted.
const MAX_TRAILERS: usize = 8 * 1024;

/// What one decoding step produced.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// Body bytes (never empty).
    Data(Bytes),
    /// The buffered bytes are not enough; read more and call again.
    NeedMore,
    /// The body is complete.
    Done,
}

/// The framing of one message body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decoder {
    /// Exactly this many bytes remain.
    Length(u64),
    /// Chunked transfer coding, with a running total checked against `limit`.
    Chunked { state: Chunk, seen: u64, limit: u64 },
    /// The body runs until the peer closes (responses only, so the client role is its user),
    /// bounded by `limit`.
    #[allow(dead_code)]
    Eof { seen: u64, limit: u64 },
}

/// Where the chunked decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunk {
    /// Expecting a chunk-size line.
    Size,
    /// Inside chunk data, this many bytes left.
    Data(u64),
    /// Expecting the CRLF after chunk data.
    DataEnd,
    /// After the last chunk: trailer lines, this many bytes seen so far.
    Trailers(usize),
    /// Finished.
    Done,
}

impl Decoder {
    /// A chunked decoder allowing at most `limit` body bytes.
    pub(crate) fn chunked(limit: u64) -> Decoder {
        Decoder::Chunked {
            state: Chunk::Size,
            seen: 0,
            limit,
        }
    }

    /// A read-until-close decoder allowing at most `limit` body bytes (client role).
    #[allow(dead_code)]
    pub(crate) fn eof(limit: u64) -> Decoder {
        Decoder::Eof { seen: 0, limit }
    }

    /// True when the body has been read to its end.
    pub(crate) fn is_done(&self) -> bool {
        matches!(
            self,
            Decoder::Length(0)
                | Decoder::Chunked {
                    state: Chunk::Done,
                    ..
                }
        )
    }

    /// Decodes what `rb` holds. Call again after `Data`; read more after `NeedMore`.
    pub(crate) fn decode(&mut self, rb: &mut ReadBuf) -> Result<Decoded, Error> {
        match self {
            Decoder::Length(0) => Ok(Decoded::Done),
            Decoder::Length(rem) => {
                if rb.is_empty() {
                    return Ok(Decoded::NeedMore);
                }
                let n = (*rem).min(rb.len() as u64) as usize;
                *rem -= n as u64;
                Ok(Decoded::Data(rb.split_to(n)))
            }
            Decoder::Eof { seen, limit } => {
                if rb.is_empty() {
                    return Ok(Decoded::NeedMore);
                }
                let n = rb.len();
                *seen += n as u64;
                if *seen > *limit {
                    return Err(Error::new(Kind::BodyTooLarge, "body exceeds the limit"));
                }
                Ok(Decoded::Data(rb.split_to(n)))
            }
            Decoder::Chunked { state, seen, limit } => decode_chunked(state, seen, *limit, rb),
        }
    }

    /// Called when the peer closed: fine for `Eof` framing, an error mid-body otherwise.
    pub(crate) fn decode_eof(&mut self) -> Result<Decoded, Error> {
        match self {
            Decoder::Eof { .. } => Ok(Decoded::Done),
            _ if self.is_done() => Ok(Decoded::Done),
            _ => Err(Error::incomplete("connection closed inside a body")),
        }
    }
}

fn chunk_err(context: &'static str) -> Error {
    Error::parse(Parse::Chunk, context)
}

/// Finds one CRLF-terminated line at the front of `buf`, strictly: the only CR is the one
/// before the final LF. Returns the line length without CRLF, or `None` when incomplete.
fn take_line(buf: &[u8], max: usize) -> Result<Option<usize>, Error> {
    let window = &buf[..buf.len().min(max)];
    match memchr::memchr(b'\n', window) {
        Some(lf) => {
            if lf == 0 || buf[lf - 1] != b'\r' {
                return Err(chunk_err("bare LF in chunked framing"));
            }
            if memchr::memchr(b'\r', &buf[..lf - 1]).is_some() {
                return Err(chunk_err("bare CR in chunked framing"));
            }
            Ok(Some(lf - 1))
        }
        None if buf.len() >= max => Err(chunk_err("chunk line too long")),
        None => Ok(None),
    }
}

fn decode_chunked(
    state: &mut Chunk,
    seen: &mut u64,
    limit: u64,
    rb: &mut ReadBuf,
) -> Result<Decoded, Error> {
    loop {
        match *state {
            Chunk::Size => {
                let Some(len) = take_line(rb.bytes(), MAX_CHUNK_LINE)? else {
                    return Ok(Decoded::NeedMore);
                };
                let size = parse_chunk_size(&rb.bytes()[..len])?;
                rb.advance(len + 2);
                if size == 0 {
                    *state = Chunk::Trailers(0);
                    continue;
                }
                *seen = seen.saturating_add(size);
                if *seen > limit {
                    return Err(Error::new(
                        Kind::BodyTooLarge,
                        "chunked body exceeds the limit",
                    ));
                }
                *state = Chunk::Data(size);
            }
            Chunk::Data(rem) => {
                if rb.is_empty() {
                    return Ok(Decoded::NeedMore);
                }
                let n = rem.min(rb.len() as u64) as usize;
                *state = if n as u64 == rem {
                    Chunk::DataEnd
                } else {
                    Chunk::Data(rem - n as u64)
                };
                return Ok(Decoded::Data(rb.split_to(n)));
            }
            Chunk::DataEnd => {
                let b = rb.bytes();
                if b.len() < 2 {
                    if b.first().is_some_and(|&c| c != b'\r') {
                        return Err(chunk_err("chunk data not followed by CRLF"));
                    }
                    return Ok(Decoded::NeedMore);
                }
                if &b[..2] != b"\r\n" {
                    return Err(chunk_err("chunk data not followed by CRLF"));
                }
                rb.advance(2);
                *state = Chunk::Size;
            }
            Chunk::Trailers(used) => {
                let Some(len) = take_line(rb.bytes(), MAX_TRAILERS - used)? else {
                    return Ok(Decoded::NeedMore);
                };
                if len == 0 {
                    rb.advance(2);
                    *state = Chunk::Done;
                    return Ok(Decoded::Done);
                }
                check_trailer(&rb.bytes()[..len])?;
                rb.advance(len + 2);
                *state = Chunk::Trailers(used + len + 2);
            }
            Chunk::Done => return Ok(Decoded::Done),
        }
    }
}

/// `chunk-size [ chunk-ext ]` per RFC 9112 section 7.1, without leniency: hex digits, no
/// whitespace, at most 16 digits, and extensions made of `;name[=value]` where name is a token
/// and value a token or a quoted string.
fn parse_chunk_size(line: &[u8]) -> Result<u64, Error> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(chunk_err("chunk size is not hex"));
    }
    if digits > 16 {
        return Err(chunk_err("chunk size overflows"));
    }
    let mut size: u64 = 0;
    for &b in &line[..digits] {
        let d = (b as char).to_digit(16).unwrap_or(0) as u64;
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(d))
            .ok_or_else(|| chunk_err("chunk size overflows"))?;
    }
    check_chunk_ext(&line[digits..])?;
    Ok(size)
}

fn check_chunk_ext(mut ext: &[u8]) -> Result<(), Error> {
    while !ext.is_empty() {
        if ext[0] != b';' {
            return Err(chunk_err("bad chunk extension"));
        }
        ext = &ext[1..];
        let name = ext.iter().take_while(|&&b| is_tchar(b)).count();
        if name == 0 {
            return Err(chunk_err("empty chunk extension name"));
        }
        ext = &ext[name..];
        if ext.first() == Some(&b'=') {
            ext = &ext[1..];
            if ext.first() == Some(&b'"') {
                let mut i = 1;
                loop {
                    match ext.get(i) {
                        None => return Err(chunk_err("unterminated quoted chunk extension")),
                        Some(b'"') => break,
                        Some(b'\\') => i += 2,
                        Some(&c) if c == b'\t' || (0x20..0x7f).contains(&c) || c >= 0x80 => i += 1,
                        Some(_) => return Err(chunk_err("control byte in chunk extension")),
                    }
                }
                ext = &ext[i + 1..];
            } else {
                let v = ext.iter().take_while(|&&b| is_tchar(b)).count();
                if v == 0 {
                    return Err(chunk_err("empty chunk extension value"));
                }
                ext = &ext[v..];
            }
        }
    }
    Ok(())
}

fn check_trailer(line: &[u8]) -> Result<(), Error> {
    let name = line.iter().take_while(|&&b| is_tchar(b)).count();
    if name == 0 || line.get(name) != Some(&b':') {
        return Err(chunk_err("bad trailer line"));
    }
    if line[name + 1..]
        .iter()
        .any(|&b| b == 0 || b == b'\r' || b == b'\n')
    {
        return Err(chunk_err("control byte in trailer"));
    }
    Ok(())
}

/// RFC 9110 `tchar`.
pub(crate) fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`'
        | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
}

/// Decodes `input` fed in pieces of `step` bytes, as the connection would: the test and fuzz
/// entry point for the decoder.
pub(crate) fn decode_all(mut d: Decoder, input: &[u8], step: usize) -> Result<Vec<u8>, Error> {
    let mut rb = ReadBuf::new();
    let mut body = Vec::new();
    let mut fed = 0;
    loop {
        match d.decode(&mut rb)? {
            Decoded::Data(b) => body.extend_from_slice(&b),
            Decoded::Done => return Ok(body),
            Decoded::NeedMore => {
                if fed == input.len() {
                    d.decode_eof()?;
                    return Ok(body);
                }
                let end = (fed + step).min(input.len());
                let mut next = ReadBuf::with_bytes(&[rb.bytes(), &input[fed..end]].concat());
                std::mem::swap(&mut rb, &mut next);
                fed = end;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_table() {
        let ok: &[(&[u8], &[u8])] = &[
            (b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
            (
                b"5;a=b\r\nhello\r\n6;x;y=\"q \\\" \"\r\n world\r\n0\r\n\r\n",
                b"hello world",
            ),
            (b"A\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n", b"0123456789"),
            (b"0\r\n\r\n", b""),
        ];
        for (input, want) in ok {
            for step in [1, 2, 3, 7, 1000] {
                let got = decode_all(Decoder::chunked(1 << 20), input, step);
                assert_eq!(
                    got.as_deref().ok(),
                    Some(*want),
                    "{:?} step {step}",
                    String::from_utf8_lossy(input)
                );
            }
        }
        let bad: &[&[u8]] = &[
            b"5\nhello\r\n0\r\n\r\n",
            b"5\r\nhelloXX0\r\n\r\n",
            b"-5\r\nhello\r\n0\r\n\r\n",
            b" 5\r\nhello\r\n0\r\n\r\n",
            b"5 \r\nhello\r\n0\r\n\r\n",
            b"0x5\r\nhello\r\n0\r\n\r\n",
            b"5;\r\nhello\r\n0\r\n\r\n",
            b"5;a=\r\nhello\r\n0\r\n\r\n",
            b"5;a\rb\r\nhello\r\n0\r\n\r\n",
            b"11111111111111111\r\n",
            b"FFFFFFFFFFFFFFFF\r\n",
            b"5\r\nhello\r\n0\r\nbad trailer\r\n\r\n",
            b"5\r\nhello\r\n0\r\n\n",
            b"5\r\nhello\r\n",
        ];
        for input in bad {
            for step in [1, 1000] {
                let got = decode_all(Decoder::chunked(1 << 20), input, step);
                assert!(
                    got.is_err(),
                    "accepted {:?}",
                    String::from_utf8_lossy(input)
                );
            }
        }
    }

    #[test]
    fn chunked_limit_is_enforced() {
        let err = decode_all(Decoder::chunked(4), b"5\r\nhello\r\n0\r\n\r\n", 100).unwrap_err();
        assert!(err.is_body_too_large());
    }

    #[test]
    fn length_and_eof() {
        assert_eq!(
            decode_all(Decoder::Length(3), b"abcdef", 2).unwrap(),
            b"abc"
        );
        assert!(
            decode_all(Decoder::Length(9), b"abc", 2)
                .unwrap_err()
                .is_incomplete()
        );
        assert_eq!(decode_all(Decoder::eof(10), b"abc", 1).unwrap(), b"abc");
        assert!(
            decode_all(Decoder::eof(2), b"abc", 1)
                .unwrap_err()
                .is_body_too_large()
        );
    }
}
