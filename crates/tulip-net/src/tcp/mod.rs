//! TCP: [`TcpListener`] and [`TcpStream`].

mod listener;
mod stream;

pub(crate) use listener::set_reuse_port;
pub use listener::{DEFAULT_BACKLOG, Incoming, TcpListener, TcpListenerBuilder};
pub use stream::TcpStream;
pub(crate) use stream::{EINPROGRESS, connect_finished};
