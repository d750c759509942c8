//! permessage-deflate (RFC 7692): negotiation and the per-message compressor and decompressor.
//!
//! # Window bits, precisely
//!
//! flate2's pure-Rust backend (miniz_oxide) compresses and decompresses raw deflate with a
//! 32 KiB (15-bit) window only. Decompressing is never a problem: a 15-bit inflater reads any
//! stream made with a smaller window, so we accept every `*_max_window_bits` the peer uses for
//! *its* compressor. Compressing is the hard side: when the peer limits *our* window below 15
//! bits (`server_max_window_bits=N` in a client's offer, `client_max_window_bits=N` in a server's
//! response), we switch our compressor to miniz_oxide's run-length strategy, whose matches all
//! have distance 1 and are therefore valid under every window size (RFC 7692 §7.1.2 limits only
//! the LZ77 distance). So we never need to decline an offer for its window bits; the price is a
//! weaker compression ratio on those connections. Our client always offers
//! `client_max_window_bits` for that reason.
//!
//! # Context takeover
//!
//! `server_no_context_takeover` / `client_no_context_takeover` reset the compressor of the side
//! they name after every message. Our inflater keeps its window between messages whatever was
//! negotiated: a peer that resets its compressor never refers back, so keeping it is harmless.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use miniz_oxide::deflate::core::{
    CompressionStrategy, CompressorOxide, TDEFLFlush, TDEFLStatus, compress,
    create_comp_flags_from_zip_params,
};

use crate::error::ProtocolError;

/// The empty stored block a sync flush ends with; RFC 7692 §7.2.1 strips it from the wire.
const TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// What a side asks for or allows when it negotiates permessage-deflate.
///
/// On a client these become the offer; on a server they shape the response to a client's offer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeflateConfig {
    /// Ask (client) or require (server) that the server resets its compressor per message.
    pub server_no_context_takeover: bool,
    /// Promise (client) or require (server) that the client resets its compressor per message.
    pub client_no_context_takeover: bool,
    /// Ask (client) or announce (server) a server window of at most this many bits (8-15).
    pub server_max_window_bits: Option<u8>,
    /// Announce (client) or ask (server, when offered) a client window of at most this many bits.
    pub client_max_window_bits: Option<u8>,
    /// The compression level, 0-9 (6 by default).
    pub level: u32,
    /// Messages shorter than this many bytes are sent uncompressed (RSV1 clear); the default 0
    /// compresses everything.
    pub min_size: usize,
}

impl Default for DeflateConfig {
    fn default() -> DeflateConfig {
        DeflateConfig {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: None,
            client_max_window_bits: None,
            level: 6,
            min_size: 0,
        }
    }
}

/// The parameters both sides agreed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its compressor after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after every message.
    pub client_no_context_takeover: bool,
    /// The server's compressor window, in bits (15 when not limited).
    pub server_max_window_bits: u8,
    /// The client's compressor window, in bits (15 when not limited).
    pub client_max_window_bits: u8,
}

/// One `name; param; param=value` element of a `Sec-WebSocket-Extensions` list.
fn parse_extensions(header: &str) -> impl Iterator<Item = (&str, Vec<(&str, Option<&str>)>)> {
    header
        .split(',')
        .filter(|e| !e.trim().is_empty())
        .map(|ext| {
            let mut parts = ext.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let params = parts
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (k.trim(), Some(v.trim().trim_matches('"'))),
                    None => (p, None),
                })
                .collect();
            (name, params)
        })
}

fn window_bits(v: Option<&str>) -> Option<u8> {
    let v = v?;
    // RFC 7692 §7.1.2: 1*DIGIT, no leading zero, 8-15.
    if v.starts_with('0') {
        return None;
    }
    v.parse().ok().filter(|b| (8..=15).contains(b))
}

/// The raw parameters of one offer or response, each seen at most once.
#[derive(Default)]
struct Params {
    snct: bool,
    cnct: bool,
    smwb: Option<u8>,
    /// `Some(None)`: present without a value.
    cmwb: Option<Option<u8>>,
}

fn parse_params(params: &[(&str, Option<&str>)]) -> Option<Params> {
    let mut p = Params::default();
    for &(k, v) in params {
        match k {
            "server_no_context_takeover" if !p.snct && v.is_none() => p.snct = true,
            "client_no_context_takeover" if !p.cnct && v.is_none() => p.cnct = true,
            "server_max_window_bits" if p.smwb.is_none() => p.smwb = Some(window_bits(v)?),
            "client_max_window_bits" if p.cmwb.is_none() => {
                p.cmwb = Some(match v {
                    None => None,
                    Some(_) => Some(window_bits(v)?),
                });
            }
            _ => return None,
        }
    }
    Some(p)
}

/// Server side: picks the first acceptable permessage-deflate offer from the client's
/// `Sec-WebSocket-Extensions` header values.
///
/// Returns the agreed parameters and the response header value, or `None` when no offer is
/// acceptable (the connection then goes on uncompressed). Offers with unknown or repeated
/// parameters are declined, as RFC 7692 §7.1 asks.
pub fn negotiate_server<'a>(
    offers: impl IntoIterator<Item = &'a str>,
    config: &DeflateConfig,
) -> Option<(DeflateParams, String)> {
    for header in offers {
        for (name, params) in parse_extensions(header) {
            if name != "permessage-deflate" {
                continue;
            }
            let Some(p) = parse_params(&params) else {
                continue;
            };
            let snct = p.snct || config.server_no_context_takeover;
            let cnct = p.cnct || config.client_no_context_takeover;
            let smwb = match (p.smwb, config.server_max_window_bits) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            // We may limit the client's window only if it said it can be limited.
            let cmwb = match (p.cmwb, config.client_max_window_bits) {
                (Some(offered), Some(ours)) => Some(offered.map_or(ours, |o| o.min(ours))),
                (Some(Some(offered)), None) => Some(offered),
                _ => None,
            };
            let mut response = String::from("permessage-deflate");
            if snct {
                response.push_str("; server_no_context_takeover");
            }
            if cnct {
                response.push_str("; client_no_context_takeover");
            }
            if let Some(b) = smwb {
                response.push_str(&format!("; server_max_window_bits={b}"));
            }
            if let Some(b) = cmwb {
                response.push_str(&format!("; client_max_window_bits={b}"));
            }
            let params = DeflateParams {
                server_no_context_takeover: snct,
                client_no_context_takeover: cnct,
                server_max_window_bits: smwb.unwrap_or(15),
                client_max_window_bits: cmwb.unwrap_or(15),
            };
            return Some((params, response));
        }
    }
    None
}

/// Client side: the `Sec-WebSocket-Extensions` offer for `config`.
///
/// It always carries `client_max_window_bits` (we can honour any limit, see the module doc).
pub fn client_offer(config: &DeflateConfig) -> String {
    let mut offer = String::from("permessage-deflate");
    if config.server_no_context_takeover {
        offer.push_str("; server_no_context_takeover");
    }
    if config.client_no_context_takeover {
        offer.push_str("; client_no_context_takeover");
    }
    if let Some(b) = config.server_max_window_bits {
        offer.push_str(&format!("; server_max_window_bits={b}"));
    }
    match config.client_max_window_bits {
        Some(b) => offer.push_str(&format!("; client_max_window_bits={b}")),
        None => offer.push_str("; client_max_window_bits"),
    }
    offer
}

/// Client side: checks the server's response to [`client_offer`].
///
/// `Ok(None)`: the server declined (no permessage-deflate in the response). An error means the
/// response is invalid and the client must fail the connection (RFC 7692 §7.1).
pub fn accept_client_response<'a>(
    headers: impl IntoIterator<Item = &'a str>,
    config: &DeflateConfig,
) -> Result<Option<DeflateParams>, String> {
    let mut found = None;
    for header in headers {
        for (name, params) in parse_extensions(header) {
            if name != "permessage-deflate" {
                return Err(format!(
                    "server chose an extension we did not offer: {name}"
                ));
            }
            if found.is_some() {
                return Err("permessage-deflate negotiated twice".into());
            }
            let p = parse_params(&params).ok_or("invalid permessage-deflate parameters")?;
            let cmwb = match p.cmwb {
                Some(None) => return Err("client_max_window_bits without a value".into()),
                Some(Some(b)) => b,
                None => config.client_max_window_bits.unwrap_or(15),
            };
            found = Some(DeflateParams {
                server_no_context_takeover: p.snct,
                client_no_context_takeover: p.cnct || config.client_no_context_takeover,
                server_max_window_bits: p.smwb.unwrap_or(15),
                client_max_window_bits: cmwb,
            });
        }
    }
    Ok(found)
}

enum Engine {
    /// flate2 with the full 15-bit window.
    Full(Compress),
    /// miniz_oxide's run-length strategy: every match has distance 1, valid in any window.
    RunLength(Box<CompressorOxide>),
}

/// Compresses outgoing messages, one after another.
pub(crate) struct Deflater {
    engine: Engine,
    no_context_takeover: bool,
    pub(crate) min_size: usize,
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflater")
            .field("no_context_takeover", &self.no_context_takeover)
            .finish()
    }
}

impl Deflater {
    pub(crate) fn new(window_bits: u8, no_context_takeover: bool, config: &DeflateConfig) -> Self {
        let level = config.level.min(9);
        let engine = if window_bits >= 15 {
            Engine::Full(Compress::new(Compression::new(level), false))
        } else {
            let flags = create_comp_flags_from_zip_params(
                level.max(1) as i32,
                -15,
                CompressionStrategy::RLE as i32,
            );
            Engine::RunLength(Box::new(CompressorOxide::new(flags)))
        };
        Deflater {
            engine,
            no_context_takeover,
            min_size: config.min_size,
        }
    }

    /// Appends the compressed form of `input` to `out`, without the sync-flush tail.
    pub(crate) fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        out.reserve(input.len() / 2 + 64);
        match &mut self.engine {
            Engine::Full(c) => {
                let before = c.total_in();
                loop {
                    let consumed = (c.total_in() - before) as usize;
                    if out.capacity() - out.len() < 64 {
                        out.reserve(out.capacity().max(4096));
                    }
                    c.compress_vec(&input[consumed..], out, FlushCompress::Sync)
                        .expect("deflate never fails on valid state");
                    // A sync flush is complete once input is used up and room was left over.
                    if (c.total_in() - before) as usize == input.len()
                        && out.capacity() - out.len() >= 64
                    {
                        break;
                    }
                }
            }
            Engine::RunLength(c) => {
                let mut consumed = 0;
                loop {
                    let len = out.len();
                    let room = (input.len() - consumed) / 2 + 4096;
                    out.resize(len + room, 0);
                    let (status, read, written) =
                        compress(c, &input[consumed..], &mut out[len..], TDEFLFlush::Sync);
                    out.truncate(len + written);
                    consumed += read;
                    debug_assert!(matches!(status, TDEFLStatus::Okay | TDEFLStatus::Done));
                    if consumed == input.len() && written < room {
                        break;
                    }
                }
            }
        }
        if out[start..].ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        }
        if self.no_context_takeover {
            match &mut self.engine {
                Engine::Full(c) => c.reset(),
                Engine::RunLength(c) => c.reset(),
            }
        }
    }
}

/// Decompresses incoming messages, one after another.
pub(crate) struct Inflater {
    d: Decompress,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater").finish_non_exhaustive()
    }
}

impl Inflater {
    pub(crate) fn new() -> Inflater {
        Inflater {
            d: Decompress::new(false),
        }
    }

    /// Inflates one whole message into `out`, failing once `out` would exceed `max` bytes.
    pub(crate) fn decompress(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        max: usize,
    ) -> Result<(), ProtocolError> {
        self.run(input, out, max)?;
        self.run(&TAIL, out, max)
    }

    fn run(&mut self, input: &[u8], out: &mut Vec<u8>, max: usize) -> Result<(), ProtocolError> {
        // `total_in` restarts at zero on a reset, so count what earlier streams consumed.
        let mut before = self.d.total_in();
        let mut offset = 0usize;
        loop {
            let consumed = offset + (self.d.total_in() - before) as usize;
            if out.capacity() - out.len() < 256 {
                let grow = out.capacity().max(input.len() * 2).clamp(4096, 1 << 20);
                out.reserve(grow);
            }
            let len = out.len();
            let status = self
                .d
                .decompress_vec(&input[consumed..], out, FlushDecompress::Sync)
                .map_err(|_| ProtocolError::InvalidCompressedData)?;
            if out.len() > max {
                return Err(ProtocolError::MessageTooLarge);
            }
            let consumed = offset + (self.d.total_in() - before) as usize;
            let done = consumed == input.len();
            match status {
                // A final block ends the deflate stream, which RFC 7692 forbids mid-connection
                // unless the peer resets; treat it as reset and start afresh.
                Status::StreamEnd => {
                    self.d.reset(false);
                    offset = consumed;
                    before = self.d.total_in();
                    if done {
                        return Ok(());
                    }
                }
                Status::Ok | Status::BufError => {
                    if done && out.capacity() > out.len() {
                        return Ok(());
                    }
                    if out.len() == len && !done && out.capacity() > out.len() {
                        // No progress with room to spare: the input is malformed.
                        return Err(ProtocolError::InvalidCompressedData);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
