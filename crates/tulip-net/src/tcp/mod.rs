//! TCP: [`TcpListener`] and [`TcpStream`].

mod listener;
mod stream;

pub use listener::{DEFAULT_BACKLOG, Incoming, TcpListener, TcpListenerBuilder};
pub use stream::TcpStream;
pub(crate) use stream::{EINPROGRESS, connect_finished};
