//! A server on a background runtime, and a blocking raw-socket client.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use tulip_http::{App, Server, ServerConfig, ShutdownHandle};

/// A server running on its own runtime thread; shut down and joined on drop.
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    pub(crate) stop: ShutdownHandle,
    thread: Option<std::thread::JoinHandle<Result<(), tulip_http::Error>>>,
}

impl TestServer {
    pub(crate) fn start(app: App) -> TestServer {
        TestServer::start_with(app, ServerConfig::default())
    }

    pub(crate) fn start_with(app: App, cfg: ServerConfig) -> TestServer {
        TestServer::run(Server::bind_with("127.0.0.1:0", app, cfg).expect("bind"))
    }

    /// Runs a server built by the test (TLS, Unix sockets, several listeners). `addr` is its
    /// first TCP address, or an unroutable placeholder when it has none.
    pub(crate) fn run(server: Server) -> TestServer {
        let addr = server
            .local_addrs()
            .first()
            .copied()
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let stop = server.shutdown_handle();
        let thread = std::thread::spawn(move || tulip_executor::run(server.run()));
        TestServer {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// Starts graceful shutdown and waits for the server to finish.
    pub(crate) fn shutdown(mut self) -> Result<(), tulip_http::Error> {
        self.stop.shutdown();
        self.thread
            .take()
            .map(|t| t.join().expect("server thread"))
            .unwrap_or(Ok(()))
    }

    pub(crate) fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.set_nodelay(true).unwrap();
        s
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One parsed response.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one response from `s` (Content-Length, chunked, or until close). `head_only` for HEAD.
pub(crate) fn read_reply(s: &mut TcpStream, buf: &mut Vec<u8>, head_only: bool) -> Option<Reply> {
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        if !fill(s, buf) {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    buf.drain(..head_end);
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let mut reply = Reply {
        status,
        headers,
        body: Vec::new(),
    };
    if head_only || status == 204 || status == 304 || status / 100 == 1 {
        return Some(reply);
    }
    if let Some(n) = reply
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        while buf.len() < n {
            if !fill(s, buf) {
                return None;
            }
        }
        reply.body = buf.drain(..n).collect();
    } else if reply.header("transfer-encoding").is_some() {
        loop {
            let line_end = loop {
                if let Some(i) = find(buf, b"\r\n") {
                    break i;
                }
                if !fill(s, buf) {
                    return None;
                }
            };
            let size =
                usize::from_str_radix(std::str::from_utf8(&buf[..line_end]).ok()?.trim(), 16)
                    .ok()?;
            buf.drain(..line_end + 2);
            while buf.len() < size + 2 {
                if !fill(s, buf) {
                    return None;
                }
            }
            reply.body.extend(buf.drain(..size));
            buf.drain(..2);
            if size == 0 {
                break;
            }
        }
    } else {
        while fill(s, buf) {}
        reply.body = std::mem::take(buf);
    }
    Some(reply)
}

fn fill(s: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut tmp = [0u8; 16384];
    match s.read(&mut tmp) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&tmp[..n]);
            true
        }
    }
}

pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Sends `req` on a fresh connection and reads one reply.
pub(crate) fn request(addr: SocketAddr, req: &[u8]) -> Option<Reply> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(req).ok()?;
    let head_only = req.starts_with(b"HEAD ");
    read_reply(&mut s, &mut Vec::new(), head_only)
}

/// True when the server closes `s` (EOF) within `within`.
pub(crate) fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let start = Instant::now();
    let mut tmp = [0u8; 4096];
    loop {
        match s.read(&mut tmp) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
        if start.elapsed() > within {
            return false;
        }
    }
}
