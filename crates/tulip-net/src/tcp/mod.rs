//! TCP: [`TcpListener`] and [`TcpStream`].

mod listener;
mod stream;

pub use listener::{DEFAULT_BACKLOG, Incoming, TcpListener, TcpListenerBuilder};
pub use stream::TcpStream;
