//! Request bodies and response-body decompression.

use std::fmt;
use std::io;
use std::pin::Pin;

use bytes::Bytes;
use futures_lite::Stream;

/// A request body: nothing, bytes (replayable for redirects and retries), or a stream of
/// chunks sent with `Transfer-Encoding: chunked` (sent once, never replayed).
pub(crate) enum ReqBody {
    Empty,
    Bytes(Bytes),
    Stream(Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>),
}

impl ReqBody {
    pub(crate) fn is_replayable(&self) -> bool {
        !matches!(self, ReqBody::Stream(_))
    }

    /// A copy for a retry or a 307/308 redirect (only for replayable bodies).
    pub(crate) fn replay(&self) -> Option<ReqBody> {
        match self {
            ReqBody::Empty => Some(ReqBody::Empty),
            ReqBody::Bytes(b) => Some(ReqBody::Bytes(b.clone())),
            ReqBody::Stream(_) => None,
        }
    }
}

impl fmt::Debug for ReqBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReqBody::Empty => f.write_str("Empty"),
            ReqBody::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            ReqBody::Stream(_) => f.write_str("Stream"),
        }
    }
}

pub(crate) use decompress::Decompress;

/// Undoes `Content-Encoding: gzip` / `deflate` chunk by chunk, so a streamed body stays
/// streamed after decompression (feature `gzip`, which brings flate2).
#[cfg(feature = "gzip")]
mod decompress {
    use std::fmt;
    use std::io::{self, Write};

    use bytes::Bytes;

    use crate::error::{Error, Kind};

    pub(crate) enum Decompress {
        Gzip(flate2::write::GzDecoder<Vec<u8>>),
        /// `deflate` is zlib-wrapped by the RFC but raw in some servers: the first bytes decide.
        Deflate(Option<DeflateKind>),
    }

    pub(crate) enum DeflateKind {
        Zlib(flate2::write::ZlibDecoder<Vec<u8>>),
        Raw(flate2::write::DeflateDecoder<Vec<u8>>),
    }

    impl fmt::Debug for Decompress {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(match self {
                Decompress::Gzip(_) => "Gzip",
                Decompress::Deflate(_) => "Deflate",
            })
        }
    }

    fn decode_err(e: io::Error) -> Error {
        Error::new(Kind::Decode, "corrupt compressed body").with_cause(e)
    }

    impl Decompress {
        /// From a `Content-Encoding` value, if it is one we undo.
        pub(crate) fn for_encoding(enc: &str) -> Option<Decompress> {
            match enc.trim().to_ascii_lowercase().as_str() {
                "gzip" | "x-gzip" => {
                    Some(Decompress::Gzip(flate2::write::GzDecoder::new(Vec::new())))
                }
                "deflate" => Some(Decompress::Deflate(None)),
                _ => None,
            }
        }

        /// Feeds compressed bytes; returns what decompressed so far.
        pub(crate) fn feed(&mut self, data: &[u8]) -> Result<Bytes, Error> {
            match self {
                Decompress::Gzip(d) => {
                    d.write_all(data).map_err(decode_err)?;
                    Ok(Bytes::from(std::mem::take(d.get_mut())))
                }
                Decompress::Deflate(kind) => {
                    let k = kind.get_or_insert_with(|| {
                        // A zlib header: CM = 8 and the 16-bit header is a multiple of 31.
                        let zlib = data.len() >= 2
                            && data[0] & 0x0f == 8
                            && (u16::from(data[0]) << 8 | u16::from(data[1])) % 31 == 0;
                        if zlib {
                            DeflateKind::Zlib(flate2::write::ZlibDecoder::new(Vec::new()))
                        } else {
                            DeflateKind::Raw(flate2::write::DeflateDecoder::new(Vec::new()))
                        }
                    });
                    match k {
                        DeflateKind::Zlib(d) => {
                            d.write_all(data).map_err(decode_err)?;
                            Ok(Bytes::from(std::mem::take(d.get_mut())))
                        }
                        DeflateKind::Raw(d) => {
                            d.write_all(data).map_err(decode_err)?;
                            Ok(Bytes::from(std::mem::take(d.get_mut())))
                        }
                    }
                }
            }
        }

        /// Ends the stream: flushes what remains and checks the trailer (gzip's CRC and length).
        pub(crate) fn finish(&mut self) -> Result<Bytes, Error> {
            let out = match self {
                Decompress::Gzip(d) => {
                    d.try_finish().map_err(decode_err)?;
                    std::mem::take(d.get_mut())
                }
                Decompress::Deflate(Some(DeflateKind::Zlib(d))) => {
                    d.try_finish().map_err(decode_err)?;
                    std::mem::take(d.get_mut())
                }
                Decompress::Deflate(Some(DeflateKind::Raw(d))) => {
                    d.try_finish().map_err(decode_err)?;
                    std::mem::take(d.get_mut())
                }
                Decompress::Deflate(None) => Vec::new(),
            };
            Ok(Bytes::from(out))
        }
    }
}

/// Without the `gzip` feature the client asks for no content coding and undoes none: a body
/// a server compresses anyway arrives as sent, with its `Content-Encoding` header.
#[cfg(not(feature = "gzip"))]
mod decompress {
    use bytes::Bytes;

    use crate::error::Error;

    #[derive(Debug)]
    pub(crate) enum Decompress {}

    impl Decompress {
        pub(crate) fn for_encoding(_enc: &str) -> Option<Decompress> {
            None
        }

        pub(crate) fn feed(&mut self, _data: &[u8]) -> Result<Bytes, Error> {
            match *self {}
        }

        pub(crate) fn finish(&mut self) -> Result<Bytes, Error> {
            match *self {}
        }
    }
}

#[cfg(all(test, feature = "gzip"))]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
    use std::io::Write;

    fn roundtrip(enc: &str, compressed: Vec<u8>, original: &[u8]) {
        let mut d = Decompress::for_encoding(enc).unwrap();
        let mut out = Vec::new();
        // Feed in odd-sized pieces: streaming must not depend on chunk boundaries.
        for piece in compressed.chunks(7) {
            out.extend_from_slice(&d.feed(piece).unwrap());
        }
        out.extend_from_slice(&d.finish().unwrap());
        assert_eq!(out, original, "{enc}");
    }

    #[test]
    fn gzip_zlib_and_raw_deflate() {
        let data: Vec<u8> = (0..50_000u32).map(|i| (i % 97) as u8).collect();
        let mut g = GzEncoder::new(Vec::new(), Compression::default());
        g.write_all(&data).unwrap();
        roundtrip("gzip", g.finish().unwrap(), &data);
        let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
        z.write_all(&data).unwrap();
        roundtrip("deflate", z.finish().unwrap(), &data);
        let mut r = DeflateEncoder::new(Vec::new(), Compression::default());
        r.write_all(&data).unwrap();
        roundtrip("deflate", r.finish().unwrap(), &data);
    }

    #[test]
    fn corrupt_gzip_is_a_decode_error() {
        let mut d = Decompress::for_encoding("gzip").unwrap();
        let res = d
            .feed(b"\x1f\x8b\x08\x00garbage-garbage-garbage")
            .and_then(|_| d.finish());
        assert!(res.unwrap_err().is_decode());
    }

    #[test]
    fn truncated_gzip_is_an_error() {
        let mut g = GzEncoder::new(Vec::new(), Compression::default());
        g.write_all(b"hello world hello world").unwrap();
        let full = g.finish().unwrap();
        let mut d = Decompress::for_encoding("gzip").unwrap();
        d.feed(&full[..full.len() - 6]).unwrap();
        assert!(
            d.finish().is_err(),
            "a gzip stream without its trailer was accepted"
        );
    }
}
