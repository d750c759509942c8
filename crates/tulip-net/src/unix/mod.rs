//! Unix domain sockets: [`UnixListener`], [`UnixStream`], [`UnixDatagram`].

mod datagram;
mod stream;

pub use datagram::UnixDatagram;
pub use stream::{UnixListener, UnixStream};
