//! The sending half of the protocol, free of I/O: messages in, wire bytes out.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use crate::config::Role;
use crate::deflate::Deflater;
use crate::frame::{FrameHeader, OpCode, apply_mask};

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

    /// Appends one data message as a single frame, compressed when deflate is on.
    pub(crate) fn data(&mut self, text: bool, payload: &[u8], out: &mut Vec<u8>) {
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
                self.frame(opcode, true, &scratch, out);
                self.scratch = scratch;
            }
            _ => self.frame(opcode, false, payload, out),
        }
    }

    /// Appends one control frame (the caller keeps the payload within 125 bytes).
    pub(crate) fn control(&mut self, opcode: OpCode, payload: &[u8], out: &mut Vec<u8>) {
        self.frame(opcode, false, payload, out);
    }

    fn frame(&mut self, opcode: OpCode, rsv1: bool, payload: &[u8], out: &mut Vec<u8>) {
        let mask = (self.role == Role::Client).then(|| self.next_key());
        let header = FrameHeader {
            fin: true,
            rsv1,
            rsv2: false,
            rsv3: false,
            opcode,
            mask,
            len: payload.len() as u64,
        };
        out.reserve(payload.len() + 14);
        header.encode(out);
        let start = out.len();
        out.extend_from_slice(payload);
        if let Some(key) = mask {
            apply_mask(&mut out[start..], key, 0);
        }
    }
}
