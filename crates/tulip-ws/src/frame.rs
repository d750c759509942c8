//! Frame headers (RFC 6455 §5.2) and payload masking (§5.3).
//!
//! The header codec is pure: [`FrameHeader::decode`] reads from a byte slice and says how many
//! bytes it used (or that it needs more), [`FrameHeader::encode`] appends to a `Vec`. Masking
//! works in place, eight bytes at a time, or while copying (`extend_masked`), and takes the
//! offset into the payload so that a payload arriving in pieces can be unmasked piece by piece.

use crate::error::ProtocolError;

/// A frame's opcode (RFC 6455 §5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpCode {
    /// A continuation of a fragmented message (0x0).
    Continuation,
    /// The first frame of a text message (0x1).
    Text,
    /// The first frame of a binary message (0x2).
    Binary,
    /// A close frame (0x8).
    Close,
    /// A ping (0x9).
    Ping,
    /// A pong (0xA).
    Pong,
}

impl OpCode {
    /// Decodes the four opcode bits; reserved opcodes are a protocol error.
    pub fn from_bits(bits: u8) -> Result<OpCode, ProtocolError> {
        Ok(match bits {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return Err(ProtocolError::ReservedOpCode(bits)),
        })
    }

    /// The four opcode bits.
    pub fn bits(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// Whether this is a control frame (close, ping, pong).
    pub fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

/// A decoded frame header: everything before the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// The final fragment of a message.
    pub fin: bool,
    /// RSV1: set on the first frame of a compressed message when permessage-deflate is on.
    pub rsv1: bool,
    /// RSV2: no extension of ours uses it.
    pub rsv2: bool,
    /// RSV3: no extension of ours uses it.
    pub rsv3: bool,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key; clients must mask, servers must not.
    pub mask: Option<[u8; 4]>,
    /// The payload length in bytes.
    pub len: u64,
}

/// The longest header: 2 fixed bytes, 8 length bytes, 4 mask bytes.
pub const MAX_HEADER_LEN: usize = 14;

impl FrameHeader {
    /// Decodes a header from the front of `buf`.
    ///
    /// Returns `Ok(None)` when `buf` holds only part of a header, otherwise the header and the
    /// number of bytes it took. A 64-bit length with its top bit set and a length not in its
    /// shortest form are errors (RFC 6455 §5.2 requires the minimal encoding).
    pub fn decode(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
        let [b0, b1, ..] = *buf else { return Ok(None) };
        let opcode = OpCode::from_bits(b0 & 0x0F)?;
        let masked = b1 & 0x80 != 0;
        let (len, mut at) = match b1 & 0x7F {
            126 => {
                let Some(b) = buf.get(2..4) else {
                    return Ok(None);
                };
                let len = u64::from(u16::from_be_bytes([b[0], b[1]]));
                if len < 126 {
                    return Err(ProtocolError::NonMinimalLength);
                }
                (len, 4)
            }
            127 => {
                let Some(b) = buf.get(2..10) else {
                    return Ok(None);
                };
                let len = u64::from_be_bytes(b.try_into().expect("eight bytes"));
                if len >> 63 != 0 {
                    return Err(ProtocolError::LengthTooLarge);
                }
                if len <= 0xFFFF {
                    return Err(ProtocolError::NonMinimalLength);
                }
                (len, 10)
            }
            n => (u64::from(n), 2),
        };
        let mask = if masked {
            let Some(m) = buf.get(at..at + 4) else {
                return Ok(None);
            };
            at += 4;
            Some([m[0], m[1], m[2], m[3]])
        } else {
            None
        };
        let header = FrameHeader {
            fin: b0 & 0x80 != 0,
            rsv1: b0 & 0x40 != 0,
            rsv2: b0 & 0x20 != 0,
            rsv3: b0 & 0x10 != 0,
            opcode,
            mask,
            len,
        };
        Ok(Some((header, at)))
    }

    /// Appends the encoded header to `out`, using the shortest length form.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let b0 = (u8::from(self.fin) << 7)
            | (u8::from(self.rsv1) << 6)
            | (u8::from(self.rsv2) << 5)
            | (u8::from(self.rsv3) << 4)
            | self.opcode.bits();
        let m = if self.mask.is_some() { 0x80 } else { 0 };
        out.push(b0);
        if self.len < 126 {
            out.push(m | self.len as u8);
        } else if self.len <= 0xFFFF {
            out.push(m | 126);
            out.extend_from_slice(&(self.len as u16).to_be_bytes());
        } else {
            out.push(m | 127);
            out.extend_from_slice(&self.len.to_be_bytes());
        }
        if let Some(key) = self.mask {
            out.extend_from_slice(&key);
        }
    }
}

/// XORs `buf` with the masking `key`, where `buf` starts `offset` bytes into the payload.
///
/// The bulk runs eight bytes at a time on a `u64` built from the key rotated to the offset;
/// `u64::from_ne_bytes` on an eight-byte chunk compiles to one (unaligned) load, so no
/// alignment prologue is needed and no `unsafe` either.
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let r = offset % 4;
    let k = [key[r], key[(r + 1) % 4], key[(r + 2) % 4], key[(r + 3) % 4]];
    let word = u64::from_ne_bytes([k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]]);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let v = u64::from_ne_bytes((&*chunk).try_into().expect("eight bytes")) ^ word;
        chunk.copy_from_slice(&v.to_ne_bytes());
    }
    // Every chunk was a multiple of four bytes long, so the tail starts at key index `r`.
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= k[i % 4];
    }
}

/// Appends `src` to `dest` XORed with the masking `key`, where `src` starts `offset` bytes
/// into the payload: one pass that copies and unmasks, instead of a copy and then a second
/// pass over the copy with [`apply_mask`].
///
/// The bulk goes 128 bytes at a time through a fixed-size array, which the compiler keeps in
/// vector registers (eight SSE2 loads, XORs and stores per chunk); the tail of fewer than
/// 128 bytes is copied and then unmasked in place.
pub(crate) fn extend_masked(dest: &mut Vec<u8>, src: &[u8], key: [u8; 4], offset: usize) {
    let r = offset % 4;
    let k = [key[r], key[(r + 1) % 4], key[(r + 2) % 4], key[(r + 3) % 4]];
    dest.reserve(src.len());
    let mut chunks = src.chunks_exact(128);
    // Short payloads (most control frames and small messages) skip building the wide key.
    let wide: [u8; 128] = match chunks.len() {
        0 => [0; 128],
        _ => std::array::from_fn(|i| k[i % 4]),
    };
    for chunk in &mut chunks {
        let chunk: &[u8; 128] = chunk.try_into().expect("128 bytes");
        let mut out = [0u8; 128];
        for ((o, b), m) in out.iter_mut().zip(chunk).zip(wide) {
            *o = b ^ m;
        }
        dest.extend_from_slice(&out);
    }
    let tail = chunks.remainder();
    let at = dest.len();
    dest.extend_from_slice(tail);
    // The chunks were a multiple of four bytes long, so the tail starts at key index `r`.
    apply_mask(&mut dest[at..], k, 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask_bytewise(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[(offset + i) % 4];
        }
    }

    #[test]
    fn mask_matches_bytewise_for_all_offsets_and_lengths() {
        let key = [0x12, 0x34, 0x56, 0x78];
        for len in 0..40 {
            for offset in 0..8 {
                let data: Vec<u8> = (0..len as u8).map(|i| i.wrapping_mul(37)).collect();
                let mut fast = data.clone();
                let mut slow = data.clone();
                apply_mask(&mut fast, key, offset);
                mask_bytewise(&mut slow, key, offset);
                assert_eq!(fast, slow, "len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn extend_masked_matches_copy_then_mask() {
        let key = [0x12, 0x34, 0x56, 0x78];
        for len in [0, 1, 3, 4, 7, 127, 128, 129, 255, 256, 300, 1000] {
            for offset in 0..8 {
                let data: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(37)).collect();
                let mut fast = vec![9, 9, 9];
                extend_masked(&mut fast, &data, key, offset);
                let mut slow = data.clone();
                mask_bytewise(&mut slow, key, offset);
                assert_eq!(fast[..3], [9, 9, 9]);
                assert_eq!(fast[3..], slow[..], "len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn mask_in_pieces_equals_mask_at_once() {
        let key = [1, 2, 3, 4];
        let data: Vec<u8> = (0..100).collect();
        let mut whole = data.clone();
        apply_mask(&mut whole, key, 0);
        let mut pieces = data.clone();
        let (a, rest) = pieces.split_at_mut(7);
        let (b, c) = rest.split_at_mut(30);
        apply_mask(a, key, 0);
        apply_mask(b, key, 7);
        apply_mask(c, key, 37);
        assert_eq!(whole, pieces);
    }

    #[test]
    fn header_lengths_round_trip() {
        for len in [0u64, 1, 125, 126, 127, 0xFFFF, 0x1_0000, 1 << 40] {
            for mask in [None, Some([9, 8, 7, 6])] {
                let h = FrameHeader {
                    fin: true,
                    rsv1: false,
                    rsv2: false,
                    rsv3: false,
                    opcode: OpCode::Binary,
                    mask,
                    len,
                };
                let mut out = Vec::new();
                h.encode(&mut out);
                assert_eq!(FrameHeader::decode(&out).unwrap(), Some((h, out.len())));
                for cut in 0..out.len() {
                    assert_eq!(FrameHeader::decode(&out[..cut]).unwrap(), None);
                }
            }
        }
    }

    #[test]
    fn bad_headers_are_errors() {
        let table: &[(&[u8], ProtocolError)] = &[
            (&[0x83, 0], ProtocolError::ReservedOpCode(3)),
            (&[0x8B, 0], ProtocolError::ReservedOpCode(0xB)),
            (&[0x82, 126, 0, 5], ProtocolError::NonMinimalLength),
            (
                &[0x82, 127, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF],
                ProtocolError::NonMinimalLength,
            ),
            (
                &[0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0],
                ProtocolError::LengthTooLarge,
            ),
        ];
        for (input, want) in table {
            assert_eq!(FrameHeader::decode(input), Err(*want), "{input:?}");
        }
    }
}
