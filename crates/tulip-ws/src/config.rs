//! Limits and options shared by servers and clients.

use std::time::Duration;

use crate::deflate::DeflateConfig;

/// Which end of the connection this is; it decides who masks (RFC 6455 §5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The accepting side: receives masked frames, sends unmasked ones.
    Server,
    /// The connecting side: masks every frame it sends.
    Client,
}

/// Limits and options of one WebSocket.
///
/// Start from [`Config::default`] and set fields:
///
/// ```
/// let mut config = tulip_ws::Config::default();
/// config.max_message_size = 1 << 20;
/// config.deflate = Some(tulip_ws::DeflateConfig::default());
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// The largest frame payload accepted; larger frames fail the connection with 1009.
    pub max_frame_size: usize,
    /// The largest message accepted (after decompression); larger ones fail with 1009.
    pub max_message_size: usize,
    /// Sends wait while more than this many bytes are queued for the socket.
    pub write_high_water: usize,
    /// Size of the read buffer (frames larger than it are read straight into the message).
    pub read_buffer_size: usize,
    /// How long the close handshake may take before the connection is dropped.
    pub close_timeout: Duration,
    /// permessage-deflate: `Some` offers it (client) or accepts offers (server).
    pub deflate: Option<DeflateConfig>,
    /// The largest HTTP head the standalone handshakes read.
    pub max_handshake_size: usize,
    /// How long the standalone handshakes ([`accept`](crate::accept),
    /// [`client_handshake`](crate::client_handshake)) may take.
    pub handshake_timeout: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            write_high_water: 128 << 10,
            read_buffer_size: 16 << 10,
            close_timeout: Duration::from_secs(5),
            deflate: None,
            max_handshake_size: 16 << 10,
            handshake_timeout: Duration::from_secs(10),
        }
    }
}
