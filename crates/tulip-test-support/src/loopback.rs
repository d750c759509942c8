//! Loopback sockets for tests.

use std::net::{TcpListener, TcpStream};

/// A connected TCP pair on 127.0.0.1: `(client, server)`.
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let client = TcpStream::connect(listener.local_addr().expect("local address"))
        .expect("connect to our own listener");
    let (server, _) = listener.accept().expect("accept our own connection");
    (client, server)
}
