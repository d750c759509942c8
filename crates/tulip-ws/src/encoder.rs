//! The sending half of the protocol, free of I/O: messages in, wire bytes out.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use crate::config::Role;
use crate::deflate::Deflater;
use crate::frame::{FrameHeader, OpCode, extend_masked};

/// Frames messages for one connection: compression, masking, headers.
#[derive(Debug)]
pub(crate) struct Encoder {
    role: Role,
    deflater: Option<Deflater>,
    scratch: Vec<u8>,
    rng: u64,
}

impl Encoder {
    pub(crate) fn new(role: Role, deflater: Option<Deflater>) -> Encoder {
        // The masking keys must be unpredictable to the page script an intermediary might be
        // fooled by (RFC 6455 §10.3): seed from the process's random SipHash keys.
        let rng = RandomState::new().hash_one(0x5eed_u64) | 1;
        Encoder {
            role,
            deflater,
            scratch: Vec::new(),
            rng,
        }
    }

    fn next_key(&mut self) -> [u8; 4] {
        // wyrand: cheap, well mixed, and seeded unpredictably above.
        self.rng = self.rng.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.rng) * u128::from(self.rng ^ 0xe703_7ed1_a0b4_28db);
        let v = (t >> 64) as u64 ^ t as u64;
        (v as u32).to_ne_bytes()
    }

    /// Appends one data message, compressed when deflate is on, as one frame or, when its
    /// payload is longer than `fragment`, as a first frame plus continuations of at most
    /// `fragment` bytes each. The offset in `out` where each continuation frame starts is
    /// pushed to `bounds`: control frames may be inserted there (RFC 6455 §5.4).
    pub(crate) fn data(
        &mut self,
        text: bool,
        payload: &[u8],
        out: &mut Vec<u8>,
        fragment: Option<usize>,
        bounds: &mut Vec<usize>,
    ) {
        let opcode = if text { OpCode::Text } else { OpCode::Binary };
        match &mut self.deflater {
            Some(d) if payload.len() >= d.min_size => {
                let mut scratch = std::mem::take(&mut self.scratch);
                scratch.clear();
                d.compress(payload, &mut scratch);
                if scratch.is_empty() {
                    // An empty compressed payload is valid, but the single 0x00 byte of an
                    // empty stored block is what every peer expects (RFC 7692 §7.2.3.6).
                    scratch.push(0);
                }
                // RFC 7692 compresses the message, then frames it: RSV1 on the first frame only.
                self.fragments(opcode, true, &scratch, out, fragment, bounds);
                self.scratch = scratch;
            }
            _ => self.fragments(opcode, false, payload, out, fragment, bounds),
        }
    }

    fn fragments(
        &mut self,
        opcode: OpCode,
        rsv1: bool,
        payload: &[u8],
        out: &mut Vec<u8>,
        fragment: Option<usize>,
        bounds: &mut Vec<usize>,
    ) {
        let size = match fragment {
            Some(size) if payload.len() > size.max(1) => size.max(1),
            _ => return self.frame(opcode, rsv1, true, payload, out),
        };
        let count = payload.len().div_ceil(size);
        out.reserve(payload.len() + count * 14);
        for (i, chunk) in payload.chunks(size).enumerate() {
            if i == 0 {
                self.frame(opcode, rsv1, false, chunk, out);
            } else {
                bounds.push(out.len());
                self.frame(OpCode::Continuation, false, i + 1 == count, chunk, out);
            }
        }
    }

    /// Whether a data message of `len` bytes goes out as its bytes verbatim behind a header
    /// (no mask, no compression), so it may be written straight from the caller's slice.
    pub(crate) fn is_verbatim(&self, len: usize) -> bool {
        self.role == Role::Server && self.deflater.as_ref().is_none_or(|d| len < d.min_size)
    }

    /// Appends the header of a single-frame data message of `len` bytes that
    /// [`is_verbatim`](Encoder::is_verbatim); its payload follows unchanged.
    pub(crate) fn verbatim_header(&self, text: bool, len: usize, out: &mut Vec<u8>) {
        let header = FrameHeader {
            fin: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode: if text { OpCode::Text } else { OpCode::Binary },
            mask: None,
            len: len as u64,
        };
        header.encode(out);
    }

    /// Appends one control frame (the caller keeps the payload within 125 bytes).
    pub(crate) fn control(&mut self, opcode: OpCode, payload: &[u8], out: &mut Vec<u8>) {
        self.frame(opcode, false, true, payload, out);
    }

    fn frame(&mut self, opcode: OpCode, rsv1: bool, fin: bool, payload: &[u8], out: &mut Vec<u8>) {
        let mask = (self.role == Role::Client).then(|| self.next_key());
        let header = FrameHeader {
            fin,
            rsv1,
            rsv2: false,
            rsv3: false,
            opcode,
            mask,
            len: payload.len() as u64,
        };
        out.reserve(payload.len() + 14);
        header.encode(out);
        match mask {
            Some(key) => extend_masked(out, payload, key, 0),
            None => out.extend_from_slice(payload),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits `wire` into (first byte, payload) per frame, for unmasked server frames.
    fn frames(mut wire: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        while !wire.is_empty() {
            let (h, n) = FrameHeader::decode(wire).unwrap().unwrap();
            let len = h.len as usize;
            out.push((wire[0], wire[n..n + len].to_vec()));
            wire = &wire[n + len..];
        }
        out
    }

    #[test]
    fn long_messages_become_a_first_frame_and_continuations() {
        let mut enc = Encoder::new(Role::Server, None);
        let (mut out, mut bounds) = (Vec::new(), Vec::new());
        let payload: Vec<u8> = (0..25u8).collect();
        enc.data(false, &payload, &mut out, Some(10), &mut bounds);
        let f = frames(&out);
        // Binary without FIN, a continuation without FIN, a final continuation with FIN.
        assert_eq!(
            f.iter().map(|x| x.0).collect::<Vec<_>>(),
            [0x02, 0x00, 0x80]
        );
        assert_eq!(
            f.iter().flat_map(|x| x.1.clone()).collect::<Vec<u8>>(),
            payload
        );
        assert_eq!(bounds.len(), 2);
        assert_eq!(out[bounds[0]], 0x00);
        assert_eq!(out[bounds[1]], 0x80);
    }

    #[test]
    fn messages_within_the_fragment_size_stay_one_frame() {
        for (fragment, len) in [(None, 100), (Some(10), 10), (Some(0), 1), (Some(10), 0)] {
            let mut enc = Encoder::new(Role::Server, None);
            let (mut out, mut bounds) = (Vec::new(), Vec::new());
            enc.data(true, &vec![b'a'; len], &mut out, fragment, &mut bounds);
            assert_eq!(frames(&out).len(), 1, "{fragment:?} {len}");
            assert_eq!(out[0], 0x81);
            assert!(bounds.is_empty());
        }
        // Zero counts as one byte per frame.
        let mut enc = Encoder::new(Role::Server, None);
        let (mut out, mut bounds) = (Vec::new(), Vec::new());
        enc.data(true, b"abc", &mut out, Some(0), &mut bounds);
        assert_eq!(frames(&out).len(), 3);
    }
}
