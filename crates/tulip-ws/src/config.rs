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
/// // aiohttp's ws_connect(heartbeat=30, receive_timeout=60):
/// config.heartbeat = Some(std::time::Duration::from_secs(30));
/// config.receive_timeout = Some(std::time::Duration::from_secs(60));
/// // Long messages as 64 KiB frames, so the heartbeat's pings pass between them.
/// config.fragment_size = Some(64 << 10);
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
    /// Payload bytes one read can bring in: the read buffer holds this much plus the longest
    /// frame header, so a message of up to this size arrives with its header in one read;
    /// larger frames are read straight into the message.
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
    /// aiohttp's `heartbeat=`: after this long without a byte from the peer, send a ping; when
    /// nothing at all (the pong or any other frame) arrives within half of it after that ping,
    /// drop the connection (close code 1006 locally, nothing sent) and fail with
    /// [`Error::is_heartbeat`](crate::Error::is_heartbeat). `None` (the default) sends no
    /// pings. The heartbeat's pings carry an empty payload, and with `autoping` on, the empty
    /// pongs that answer them are not returned by `receive`. It runs while the WebSocket is
    /// polled: see the crate docs' "Heartbeat" section.
    pub heartbeat: Option<Duration>,
    /// aiohttp's `autoping=`: answer pings with pongs automatically (the default). With
    /// `false` nothing is answered: pings arrive through `receive` as [`Message::Ping`] for the
    /// application to answer with `pong`, and the pongs to heartbeat pings arrive as
    /// [`Message::Pong`] instead of being kept by the heartbeat.
    ///
    /// [`Message::Ping`]: crate::Message::Ping
    /// [`Message::Pong`]: crate::Message::Pong
    pub autoping: bool,
    /// aiohttp's `autoclose=`: answer the peer's close frame automatically (the default). With
    /// `false`, `receive` hands the peer's [`Message::Close`](crate::Message::Close) over
    /// unanswered; the application may still send (to finish what it was sending) and then
    /// calls `close`, which sends our close frame and ends the connection without waiting for
    /// another. Until it does, `receive` fails with [`Error::is_closed`](crate::Error::is_closed).
    pub autoclose: bool,
    /// aiohttp's `receive_timeout=`: the longest one `receive` (or `receive_text`) waits for a
    /// message; then it fails with [`Error::is_receive_timeout`](crate::Error::is_receive_timeout)
    /// and the connection stays open (as aiohttp, which raises `asyncio.TimeoutError` and keeps
    /// the WebSocket): receive again, or close. `None` (the default) waits as long as it takes.
    /// The `Stream` impls do not apply it (wrap `next()` in `tulip_reactor::timeout`).
    pub receive_timeout: Option<Duration>,
    /// Data messages whose payload (after compression) is larger than this go out as a first
    /// frame plus continuation frames of at most this many payload bytes, so that pings, pongs
    /// and close frames can pass between the fragments of a long message. `None` (the default)
    /// sends each message as one frame. Zero is treated as one byte.
    pub fragment_size: Option<usize>,
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
            heartbeat: None,
            autoping: true,
            autoclose: true,
            receive_timeout: None,
            fragment_size: None,
        }
    }
}
