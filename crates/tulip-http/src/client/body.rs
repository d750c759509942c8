//! Request bodies and response-body decompression.

use std::fmt;
use std::io;
use std::pin::Pin;

use bytes::Bytes;
use futures_lite::Stream;

use super::form::{FormData, FormStream};
use crate::error::Error;

/// A request body: nothing, bytes (replayable for redirects and retries), a stream of
/// chunks sent with `Transfer-Encoding: chunked` (sent once, never replayed), or a multipart
/// form (replayable: its files are reopened), which [`ReqBody::prepare`] turns into a stream
/// of known length before it is sent.
pub(crate) enum ReqBody {
    Empty,
    Bytes(Bytes),
    Stream(Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>),
    Form(FormData),
    /// A stream of exactly this many bytes, sent with `Content-Length`.
    Sized(u64, FormStream),
}

impl ReqBody {
    pub(crate) fn is_replayable(&self) -> bool {
        !matches!(self, ReqBody::Stream(_) | ReqBody::Sized(..))
    }

    /// A copy for a retry or a 307/308 redirect (only for replayable bodies).
    pub(crate) fn replay(&self) -> Option<ReqBody> {
        match self {
            ReqBody::Empty => Some(ReqBody::Empty),
            ReqBody::Bytes(b) => Some(ReqBody::Bytes(b.clone())),
            ReqBody::Form(f) => Some(ReqBody::Form(f.clone())),
            ReqBody::Stream(_) | ReqBody::Sized(..) => None,
        }
    }

    /// Makes a form a stream of known length (its files `stat`ed); other bodies pass as they
    /// are.
    pub(crate) async fn prepare(self) -> Result<ReqBody, Error> {
        match self {
            ReqBody::Form(f) => {
                let (len, stream) = f.prepare().await?;
                Ok(ReqBody::Sized(len, stream))
            }
            other => Ok(other),
        }
    }
}

impl fmt::Debug for ReqBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReqBody::Empty => f.write_str("Empty"),
            ReqBody::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            ReqBody::Stream(_) => f.write_str("Stream"),
            ReqBody::Form(form) => write!(f, "Form({})", form.boundary()),
            ReqBody::Sized(n, _) => write!(f, "Sized({n} bytes)"),
        }
    }
}

pub(crate) use decompress::{ACCEPT_ENCODING, Decompress};

/// Undoes `Content-Encoding: gzip` / `deflate` (feature `gzip`, flate2) and `br` (feature
/// `brotli`, brotli-decompressor) chunk by chunk, so a streamed body stays streamed after
/// decompression. Without either feature the client asks for no content coding and undoes
/// none: a body a server compresses anyway arrives as sent, with its `Content-Encoding`.
mod decompress {
    use std::fmt;
    #[cfg(any(feature = "gzip", feature = "brotli"))]
    use std::io::{self, Write};

    use bytes::Bytes;

    use crate::error::Error;
    #[cfg(any(feature = "gzip", feature = "brotli"))]
    use crate::error::Kind;

    /// The `Accept-Encoding` a client sends by default: the codings it can undo.
    pub(crate) const ACCEPT_ENCODING: Option<&str> =
        if cfg!(all(feature = "gzip", feature = "brotli")) {
            Some("gzip, deflate, br")
        } else if cfg!(feature = "gzip") {
            Some("gzip, deflate")
        } else if cfg!(feature = "brotli") {
            Some("br")
        } else {
            None
        };

    /// The decoders are boxed: a response carries this inline, and every move of a response
    /// would copy a decoder's ~200 bytes of state even when the body is not compressed.
    pub(crate) enum Decompress {
        #[cfg(feature = "gzip")]
        Gzip(Box<flate2::write::GzDecoder<Vec<u8>>>),
        /// `deflate` is zlib-wrapped by the RFC but raw in some servers: the first bytes decide.
        #[cfg(feature = "gzip")]
        Deflate(Option<DeflateKind>),
        #[cfg(feature = "brotli")]
        Brotli(Box<brotli_decompressor::DecompressorWriter<Vec<u8>>>),
    }

    #[cfg(feature = "gzip")]
    pub(crate) enum DeflateKind {
        Zlib(Box<flate2::write::ZlibDecoder<Vec<u8>>>),
        Raw(Box<flate2::write::DeflateDecoder<Vec<u8>>>),
    }

    impl fmt::Debug for Decompress {
        // With no coding built in the enum is empty and the write below never runs.
        #[cfg_attr(
            not(any(feature = "gzip", feature = "brotli")),
            allow(unreachable_code)
        )]
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(match *self {
                #[cfg(feature = "gzip")]
                Decompress::Gzip(_) => "Gzip",
                #[cfg(feature = "gzip")]
                Decompress::Deflate(_) => "Deflate",
                #[cfg(feature = "brotli")]
                Decompress::Brotli(_) => "Brotli",
            })
        }
    }

    #[cfg(any(feature = "gzip", feature = "brotli"))]
    fn decode_err(e: io::Error) -> Error {
        Error::new(Kind::Decode, "corrupt compressed body").with_cause(e)
    }

    #[cfg(any(feature = "gzip", feature = "brotli"))]
    fn take(v: &mut Vec<u8>) -> Bytes {
        Bytes::from(std::mem::take(v))
    }

    impl Decompress {
        /// From a `Content-Encoding` value, if it is one we undo.
        pub(crate) fn for_encoding(enc: &str) -> Option<Decompress> {
            match enc.trim().to_ascii_lowercase().as_str() {
                #[cfg(feature = "gzip")]
                "gzip" | "x-gzip" => Some(Decompress::Gzip(Box::new(
                    flate2::write::GzDecoder::new(Vec::new()),
                ))),
                #[cfg(feature = "gzip")]
                "deflate" => Some(Decompress::Deflate(None)),
                #[cfg(feature = "brotli")]
                "br" => Some(Decompress::Brotli(Box::new(
                    brotli_decompressor::DecompressorWriter::new(Vec::new(), 16 * 1024),
                ))),
                _ => None,
            }
        }

        /// Feeds compressed bytes; returns what decompressed so far.
        #[cfg_attr(
            not(any(feature = "gzip", feature = "brotli")),
            allow(unused_variables)
        )]
        pub(crate) fn feed(&mut self, data: &[u8]) -> Result<Bytes, Error> {
            match *self {
                #[cfg(feature = "gzip")]
                Decompress::Gzip(ref mut d) => {
                    d.write_all(data).map_err(decode_err)?;
                    Ok(take(d.get_mut()))
                }
                #[cfg(feature = "gzip")]
                Decompress::Deflate(ref mut kind) => {
                    let k = kind.get_or_insert_with(|| {
                        // A zlib header: CM = 8 and the 16-bit header is a multiple of 31.
                        let zlib = data.len() >= 2
                            && data[0] & 0x0f == 8
                            && (u16::from(data[0]) << 8 | u16::from(data[1])) % 31 == 0;
                        if zlib {
                            DeflateKind::Zlib(Box::new(flate2::write::ZlibDecoder::new(Vec::new())))
                        } else {
                            DeflateKind::Raw(Box::new(flate2::write::DeflateDecoder::new(
                                Vec::new(),
                            )))
                        }
                    });
                    match k {
                        DeflateKind::Zlib(d) => {
                            d.write_all(data).map_err(decode_err)?;
                            Ok(take(d.get_mut()))
                        }
                        DeflateKind::Raw(d) => {
                            d.write_all(data).map_err(decode_err)?;
                            Ok(take(d.get_mut()))
                        }
                    }
                }
                #[cfg(feature = "brotli")]
                Decompress::Brotli(ref mut d) => {
                    d.write_all(data).map_err(decode_err)?;
                    Ok(take(d.get_mut()))
                }
            }
        }

        /// Ends the stream: flushes what remains and checks that the stream was whole (gzip's
        /// CRC and length, brotli's last meta-block).
        pub(crate) fn finish(&mut self) -> Result<Bytes, Error> {
            match *self {
                #[cfg(feature = "gzip")]
                Decompress::Gzip(ref mut d) => {
                    d.try_finish().map_err(decode_err)?;
                    Ok(take(d.get_mut()))
                }
                #[cfg(feature = "gzip")]
                Decompress::Deflate(Some(DeflateKind::Zlib(ref mut d))) => {
                    d.try_finish().map_err(decode_err)?;
                    Ok(take(d.get_mut()))
                }
                #[cfg(feature = "gzip")]
                Decompress::Deflate(Some(DeflateKind::Raw(ref mut d))) => {
                    d.try_finish().map_err(decode_err)?;
                    Ok(take(d.get_mut()))
                }
                #[cfg(feature = "gzip")]
                Decompress::Deflate(None) => Ok(Bytes::new()),
                #[cfg(feature = "brotli")]
                Decompress::Brotli(ref mut d) => {
                    d.close().map_err(decode_err)?;
                    Ok(take(d.get_mut()))
                }
            }
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

#[cfg(all(test, feature = "brotli"))]
mod brotli_tests {
    use super::Decompress;

    /// `b"".join(b"line %d of the brotli test\n" % i for i in range(200))` through Python's
    /// `brotli.compress`.
    const COMPRESSED: &[u8] = &[
        27, 113, 21, 136, 28, 169, 83, 159, 59, 158, 138, 135, 164, 3, 108, 94, 143, 233, 18, 68,
        142, 174, 21, 210, 216, 222, 96, 196, 14, 0, 26, 30, 82, 26, 112, 34, 9, 63, 96, 253, 97,
        45, 104, 55, 174, 122, 95, 122, 127, 159, 170, 14, 48, 24, 77, 102, 139, 181, 141, 173,
        221, 20, 9, 67, 12, 137, 66, 99, 176, 113, 112, 237, 34, 11, 129, 68, 161, 49, 216, 56,
        184, 118, 81, 133, 64, 162, 208, 24, 108, 28, 92, 187, 232, 66, 32, 81, 104, 12, 54, 14,
        174, 93, 76, 33, 144, 40, 52, 6, 27, 7, 215, 46, 118, 33, 144, 40, 52, 6, 27, 7, 215, 46,
        78, 33, 144, 40, 52, 6, 27, 7, 215, 46, 110, 33, 144, 40, 52, 6, 27, 7, 215, 46, 94, 33,
        144, 40, 52, 6, 27, 7, 215, 238, 23, 85, 82, 40, 85, 106, 141, 182, 142, 46, 94, 69, 41,
        148, 42, 181, 70, 91, 71, 23, 175, 178, 20, 74, 149, 90, 163, 173, 163, 139, 87, 85, 10,
        165, 74, 173, 209, 214, 209, 197, 171, 46, 133, 82, 165, 214, 104, 235, 232, 226, 213, 148,
        66, 169, 82, 107, 180, 117, 116, 241, 106, 151, 66, 169, 82, 107, 180, 117, 116, 241, 234,
        148, 66, 169, 82, 107, 180, 117, 116, 241, 234, 150, 66, 169, 82, 107, 180, 117, 116, 241,
        234, 149, 66, 169, 82, 107, 180, 117, 116, 151, 7,
    ];

    fn original() -> Vec<u8> {
        (0..200)
            .flat_map(|i| format!("line {i} of the brotli test\n").into_bytes())
            .collect()
    }

    #[test]
    fn brotli_decodes_in_pieces() {
        let mut d = Decompress::for_encoding("br").unwrap();
        let mut out = Vec::new();
        for piece in COMPRESSED.chunks(5) {
            out.extend_from_slice(&d.feed(piece).unwrap());
        }
        out.extend_from_slice(&d.finish().unwrap());
        assert_eq!(out, original());
    }

    #[test]
    fn truncated_or_corrupt_brotli_is_a_decode_error() {
        let mut d = Decompress::for_encoding("br").unwrap();
        let cut = d
            .feed(&COMPRESSED[..COMPRESSED.len() / 2])
            .and_then(|_| d.finish());
        assert!(cut.unwrap_err().is_decode());
        let mut d = Decompress::for_encoding("br").unwrap();
        let junk = d.feed(&[0xff; 64]).and_then(|_| d.finish());
        assert!(junk.unwrap_err().is_decode());
    }
}
