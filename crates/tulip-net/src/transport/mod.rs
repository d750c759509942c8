//! Transports and protocols: asyncio's callback API, the fastest way to serve a connection.
//!
//! A [`Protocol`] receives events (`connection_made`, `data_received`, `eof_received`,
//! `connection_lost`, and `pause_writing`/`resume_writing` for flow control); a
//! [`Transport`] is its handle on the connection (`write`, `close`, `pause_reading`, write
//! buffer limits). One task per connection reads into a buffer it reuses for the connection's
//! life and calls the protocol; `Transport::write` goes straight to the socket when nothing is
//! queued, so an echo reply costs one system call and no task switch.
//!
//! # Flow control (as asyncio)
//!
//! `pause_writing` is called when the write buffer grows past the high-water mark and
//! `resume_writing` when it drains to the low-water mark or below; they alternate, starting
//! with a pause. A protocol callback holds `&mut self`, so a `write` inside `data_received`
//! that crosses the mark makes the pause arrive right after `data_received` returns, before
//! any other event.

mod api;
mod buffered;
mod conn;
mod datagram;
mod handle;
mod sendfile;
#[cfg(feature = "tls")]
mod tls;

pub use api::{
    connect_accepted_socket, connect_accepted_unix_socket, create_connection, create_server,
    create_server_on, create_unix_connection, create_unix_server,
};
pub use buffered::{BufferedProtocol, create_buffered_connection, create_buffered_server};
pub use datagram::{DatagramProtocol, DatagramTransport, create_datagram_endpoint};
pub use handle::Transport;
#[cfg(feature = "tls")]
pub use tls::{create_connection_tls, create_server_tls};

pub(crate) use conn::spawn_driver;
pub(crate) use handle::Sock;

use std::io;

/// asyncio's `Protocol`: the events of one stream connection.
///
/// Every method runs on the connection's task, one at a time. Store the [`Transport`] given
/// to `connection_made` to write.
pub trait Protocol: Send + 'static {
    /// The connection is up; `transport` is this connection's handle.
    fn connection_made(&mut self, transport: Transport) {
        let _ = transport;
    }

    /// Bytes arrived. The slice is only valid during the call (the buffer is reused).
    fn data_received(&mut self, data: &[u8]);

    /// The peer sent end-of-stream (a FIN). Return `true` to keep the transport open for
    /// writing (half-close); the default `false` closes it once queued data is written.
    fn eof_received(&mut self) -> bool {
        false
    }

    /// The connection is gone: `None` after a normal close (or `abort`), `Some(error)` after
    /// a failure (reset, broken pipe). Called exactly once, last.
    fn connection_lost(&mut self, error: Option<io::Error>) {
        let _ = error;
    }

    /// The write buffer passed the high-water mark: stop producing data.
    fn pause_writing(&mut self) {}

    /// The write buffer drained to the low-water mark: produce again.
    fn resume_writing(&mut self) {}
}
