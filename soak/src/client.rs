//! A minimal keep-alive HTTP/1.1 load client over a raw socket: the load must not depend on
//! the code under test, so it parses only what the soak server sends (Content-Length bodies).

use std::io;
use std::net::{SocketAddr, TcpStream};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use tulip_reactor::Async;

/// One keep-alive connection with a reusable read buffer.
pub(crate) struct Conn {
    io: Async<TcpStream>,
    buf: Vec<u8>,
    len: usize,
}

impl Conn {
    pub(crate) async fn connect(addr: SocketAddr) -> io::Result<Conn> {
        Ok(Conn {
            io: connect(addr).await?,
            buf: vec![0; 4096],
            len: 0,
        })
    }

    /// Sends `GET path` and reads the response; returns status and body length.
    pub(crate) async fn get(&mut self, path: &str) -> io::Result<(u16, usize)> {
        let req = format!("GET {path} HTTP/1.1\r\nHost: soak\r\n\r\n");
        self.io.write_all(req.as_bytes()).await?;
        self.response().await
    }

    /// Reads one response with a Content-Length body.
    pub(crate) async fn response(&mut self) -> io::Result<(u16, usize)> {
        loop {
            if let Some(end) = self.buf[..self.len]
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
            {
                let head =
                    std::str::from_utf8(&self.buf[..end]).map_err(|_| bad("head not UTF-8"))?;
                let status: u16 = head
                    .get(9..12)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| bad("bad status line"))?;
                let body: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .ok_or_else(|| bad("no Content-Length"))?;
                let total = end + 4 + body;
                while self.len < total {
                    self.fill(total).await?;
                }
                self.buf.copy_within(total..self.len, 0);
                self.len -= total;
                return Ok((status, body));
            }
            self.fill(self.len + 1).await?;
        }
    }

    async fn fill(&mut self, want: usize) -> io::Result<()> {
        if self.buf.len() < want.max(self.len + 1024) {
            self.buf.resize(want.max(self.len + 1024), 0);
        }
        let n = self.io.read(&mut self.buf[self.len..]).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.len += n;
        Ok(())
    }

    /// Whether no response bytes are buffered (a close now would lose nothing).
    pub(crate) fn idle(&self) -> bool {
        self.len == 0
    }

    /// The socket, for scenarios that write raw bytes.
    pub(crate) fn socket(&mut self) -> &mut Async<TcpStream> {
        &mut self.io
    }
}

/// Connects with a plain blocking `connect` on the blocking pool, then registers the socket
/// with the reactor.
///
/// Not `Async::<TcpStream>::connect`: under a burst of concurrent connects it failed with
/// `ENOTCONN` for a share of them (a tulip-reactor issue, reported). Not a blocking connect on
/// a worker either: when the accept queue is full the kernel retransmits the SYN for seconds,
/// and blocked workers could not run the very accept loop that would drain it.
pub(crate) async fn connect(addr: SocketAddr) -> io::Result<Async<TcpStream>> {
    let stream = tulip_executor::spawn_blocking(move || TcpStream::connect(addr))
        .await
        .map_err(|_| io::Error::other("connect task failed"))??;
    Async::new(stream)
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}
