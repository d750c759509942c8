//! Body framing, encoding side: Content-Length, chunked and close-delimited.
//!
//! An [`Encoder`] appends framed body bytes to the connection's [`WriteBuf`]. Shared by the
//! server (response bodies) and, later, the client (request bodies).

use bytes::Bytes;

use super::buf::WriteBuf;
use crate::error::{Error, Kind};

/// How a body is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoder {
    /// `Content-Length`: exactly this many bytes remain to be sent.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// No framing: the body ends when the connection closes (HTTP/1.0 streaming responses).
    Close,
}

impl Encoder {
    /// Appends one piece of body.
    pub(crate) fn encode(&mut self, data: Bytes, wb: &mut WriteBuf) -> Result<(), Error> {
        if data.is_empty() {
            return Ok(());
        }
        match self {
            Encoder::Length(rem) => {
                if data.len() as u64 > *rem {
                    return Err(Error::new(
                        Kind::User,
                        "body longer than its Content-Length",
                    ));
                }
                *rem -= data.len() as u64;
                wb.push_bytes(data);
            }
            Encoder::Chunked => {
                let mut line = [0u8; 18];
                let n = hex_line(data.len(), &mut line);
                wb.push_slice(&line[..n]);
                wb.push_bytes(data);
                wb.push_slice(b"\r\n");
            }
            Encoder::Close => wb.push_bytes(data),
        }
        Ok(())
    }

    /// Ends the body: the last chunk for chunked, a length check for Content-Length.
    pub(crate) fn finish(&mut self, wb: &mut WriteBuf) -> Result<(), Error> {
        match self {
            Encoder::Length(0) | Encoder::Close => Ok(()),
            Encoder::Length(_) => Err(Error::new(
                Kind::User,
                "body shorter than its Content-Length",
            )),
            Encoder::Chunked => {
                wb.push_slice(b"0\r\n\r\n");
                *self = Encoder::Length(0);
                Ok(())
            }
        }
    }
}

/// Writes `len` as lowercase hex followed by CRLF; returns the length written.
fn hex_line(mut len: usize, out: &mut [u8; 18]) -> usize {
    let mut digits = [0u8; 16];
    let mut i = 16;
    loop {
        i -= 1;
        digits[i] = b"0123456789abcdef"[len & 15];
        len >>= 4;
        if len == 0 {
            break;
        }
    }
    let n = 16 - i;
    out[..n].copy_from_slice(&digits[i..]);
    out[n..n + 2].copy_from_slice(b"\r\n");
    n + 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::{Context, Waker};

    fn drain(wb: &mut WriteBuf) -> Vec<u8> {
        let mut out = Vec::new();
        let mut cx = Context::from_waker(Waker::noop());
        assert!(wb.poll_flush(&mut out, &mut cx).is_ready());
        out
    }

    #[test]
    fn chunked_round_trip() {
        let mut wb = WriteBuf::new();
        let mut e = Encoder::Chunked;
        e.encode(Bytes::from_static(b"hello"), &mut wb).unwrap();
        e.encode(Bytes::from(vec![b'a'; 300]), &mut wb).unwrap();
        e.finish(&mut wb).unwrap();
        let wire = drain(&mut wb);
        assert!(wire.starts_with(b"5\r\nhello\r\n12c\r\naaa"));
        let body = super::super::decode::decode_all(
            super::super::decode::Decoder::chunked(1 << 20),
            &wire,
            7,
        )
        .unwrap();
        assert_eq!(body.len(), 305);
    }

    #[test]
    fn length_is_checked() {
        let mut wb = WriteBuf::new();
        let mut e = Encoder::Length(3);
        assert!(e.encode(Bytes::from_static(b"abcd"), &mut wb).is_err());
        e.encode(Bytes::from_static(b"ab"), &mut wb).unwrap();
        assert!(e.finish(&mut wb).is_err());
        e.encode(Bytes::from_static(b"c"), &mut wb).unwrap();
        assert!(e.finish(&mut wb).is_ok());
        assert_eq!(drain(&mut wb), b"abc");
    }
}
