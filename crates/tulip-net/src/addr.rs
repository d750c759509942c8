//! [`Address`]: a peer or local address of any of our socket kinds.

use std::fmt;
use std::net::SocketAddr;

/// The address of a TCP or Unix socket, as transports and streams report it (asyncio's
/// `get_extra_info("peername")`).
#[derive(Debug, Clone)]
pub enum Address {
    /// An IPv4 or IPv6 address and port.
    Ip(SocketAddr),
    /// A Unix domain socket address (a path, abstract or unnamed).
    Unix(std::os::unix::net::SocketAddr),
}

impl Address {
    /// The IP address, if this is one.
    pub fn as_ip(&self) -> Option<SocketAddr> {
        match self {
            Address::Ip(a) => Some(*a),
            Address::Unix(_) => None,
        }
    }
}

impl From<SocketAddr> for Address {
    fn from(a: SocketAddr) -> Address {
        Address::Ip(a)
    }
}

impl From<std::os::unix::net::SocketAddr> for Address {
    fn from(a: std::os::unix::net::SocketAddr) -> Address {
        Address::Unix(a)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Ip(a) => a.fmt(f),
            Address::Unix(a) => match a.as_pathname() {
                Some(p) => write!(f, "{}", p.display()),
                None => f.write_str("(unnamed)"),
            },
        }
    }
}
