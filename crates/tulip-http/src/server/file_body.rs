//! A file range as a response body ([`FileResponse`](crate::FileResponse), `static_dir`):
//! handed to the kernel with sendfile(2) on a plain HTTP/1 socket, read on the blocking pool
//! and written everywhere else (TLS, gzip, HTTP/2, `multipart/byteranges`, or
//! [`ServerConfig::sendfile`](crate::ServerConfig::sendfile) off).
//!
//! Rules the HTTP/1 dispatcher relies on:
//!
//! 1. The head (and any batched pipelined answers) is flushed before the first sendfile(2),
//!    so the body follows its head on the wire.
//! 2. Every call that makes no progress is bounded by the connection's write timeout, as a
//!    buffered write is: a client that stops reading ends the connection.
//! 3. A file that ends before its announced length is an error, and the connection closes:
//!    never a short body followed by the next response.
//! 4. When the kernel refuses the pair of descriptors before the first byte (a file system
//!    without sendfile support), the same range goes out through the read path instead.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use tulip_net::Sendfile;
use tulip_reactor::Async;

use super::response::BoxStream;
use super::shutdown::ConnGuard;
use super::upgrade::Io;
use crate::error::{Error, Kind};
use crate::proto::conn::Conn;

/// The read path's piece size.
const PIECE: usize = 64 * 1024;
/// The most one sendfile(2) call is asked for: the kernel stops at a full socket buffer
/// anyway; this only bounds the disk reads one call may do on a cold page cache.
const MAX_CALL: u64 = 8 << 20;
/// After this much in one poll the task yields, so one fast download cannot starve the
/// other connections on its worker.
const YIELD_AFTER: u64 = 32 << 20;

/// `len` bytes of `file` from `start`: a response body still to send.
#[derive(Debug)]
pub(crate) struct FileBody {
    pub(crate) file: Arc<File>,
    /// For error messages.
    pub(crate) path: Arc<PathBuf>,
    pub(crate) start: u64,
    pub(crate) len: u64,
}

/// How a kernel send ended.
pub(crate) enum Sent {
    /// The whole range is out.
    All,
    /// The kernel refused before the first byte: send the (untouched) range another way.
    Refused,
}

impl FileBody {
    /// The read path: 64 KiB pieces read on the blocking pool, failing if the file ends
    /// before the range does (module rule 3).
    pub(crate) fn into_stream(self) -> BoxStream {
        Box::pin(futures_lite::stream::try_unfold(self, |mut b| async move {
            if b.len == 0 {
                return Ok(None);
            }
            let want = b.len.min(PIECE as u64) as usize;
            let (file, pos) = (b.file.clone(), b.start);
            let chunk = super::files::blocking(move || read_chunk(&file, pos, want))
                .await?
                .map_err(|e| super::files::file_error(e, &b.path))?;
            if chunk.is_empty() {
                return Err(super::files::shrank(&b.path));
            }
            b.start += chunk.len() as u64;
            b.len -= chunk.len() as u64;
            Ok(Some((chunk, b)))
        }))
    }

    /// Sends the range with sendfile(2) on `conn`'s socket after flushing what is buffered
    /// (module rules 1 to 4). `start` and `len` advance as bytes go out.
    pub(crate) fn poll_kernel_send<I: Io>(
        &mut self,
        conn: &mut Conn<I>,
        guard: &ConnGuard,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Sent, Error>> {
        // Only when something is buffered: an empty flush counts as progress and would
        // restart the write timeout's clock on every wake-up.
        if !conn.wb.is_empty() {
            futures_lite::ready!(conn.poll_flush(cx))?;
        }
        let mut this_poll = 0u64;
        while self.len > 0 {
            if guard.is_forced() {
                return Poll::Ready(Err(Error::new(
                    Kind::Timeout,
                    "the server's shutdown timeout passed",
                )));
            }
            let Some(socket) = kernel_target(&mut conn.io) else {
                return Poll::Ready(Ok(Sent::Refused));
            };
            let mut offset = self.start;
            let count = self.len.min(MAX_CALL) as usize;
            match socket.poll_sendfile(cx, &self.file, &mut offset, count) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(super::files::shrank(&self.path))),
                Poll::Ready(Ok(n)) => {
                    conn.write_progressed();
                    let n = n as u64;
                    guard.count_sendfile(n);
                    self.start += n;
                    self.len -= n;
                    this_poll += n;
                    if this_poll >= YIELD_AFTER && self.len > 0 {
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) if this_poll == 0 && refused(&e) => {
                    return Poll::Ready(Ok(Sent::Refused));
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(Error::io(e))),
                Poll::Pending => return conn.poll_write_stalled(cx).map(Err),
            }
        }
        Poll::Ready(Ok(Sent::All))
    }
}

/// Whether a sendfile(2) error means "not for this pair of descriptors" (module rule 4).
/// Only asked before the first byte of a range went out by the kernel.
fn refused(e: &io::Error) -> bool {
    const EINVAL: i32 = 22;
    const ENOSYS: i32 = 38;
    const EOPNOTSUPP: i32 = 95;
    e.kind() == io::ErrorKind::Unsupported
        || matches!(e.raw_os_error(), Some(EINVAL | ENOSYS | EOPNOTSUPP))
}

/// Up to `want` bytes at `pos`; fewer only at the end of the file.
fn read_chunk(file: &File, pos: u64, want: usize) -> io::Result<Bytes> {
    let mut buf = vec![0; want];
    let mut got = 0;
    while got < want {
        match file.read_at(&mut buf[got..], pos + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(got);
    Ok(Bytes::from(buf))
}

/// The transport as a sendfile(2) target, when it is a plain socket tulip knows: what the
/// server's listeners accept (`Async` TCP and Unix sockets), tulip-net's streams, and a
/// `MaybeTlsStream` (whose TLS side refuses, rule 4). Anything else, TLS streams included,
/// takes the read path.
pub(crate) fn kernel_target<I: Io>(io: &mut I) -> Option<&mut dyn Sendfile> {
    let any: &mut dyn std::any::Any = io;
    if any.is::<Async<std::net::TcpStream>>() {
        return any
            .downcast_mut::<Async<std::net::TcpStream>>()
            .map(|s| s as &mut dyn Sendfile);
    }
    if any.is::<Async<std::os::unix::net::UnixStream>>() {
        return any
            .downcast_mut::<Async<std::os::unix::net::UnixStream>>()
            .map(|s| s as &mut dyn Sendfile);
    }
    if any.is::<tulip_net::TcpStream>() {
        return any
            .downcast_mut::<tulip_net::TcpStream>()
            .map(|s| s as &mut dyn Sendfile);
    }
    if any.is::<tulip_net::UnixStream>() {
        return any
            .downcast_mut::<tulip_net::UnixStream>()
            .map(|s| s as &mut dyn Sendfile);
    }
    any.downcast_mut::<tulip_net::MaybeTlsStream>()
        .map(|s| s as &mut dyn Sendfile)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_sockets_are_kernel_targets_and_others_are_not() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut plain = Async::new(a).unwrap();
        assert!(kernel_target(&mut plain).is_some());
        let mut pipe = futures_lite::io::Cursor::new(Vec::<u8>::new());
        assert!(kernel_target(&mut pipe).is_none());
    }

    #[test]
    fn read_chunk_stops_at_the_end_of_the_file() {
        let path = std::env::temp_dir().join(format!("tulip-fb-chunk-{}", std::process::id()));
        std::fs::write(&path, b"0123456789").unwrap();
        let file = File::open(&path).unwrap();
        assert_eq!(&read_chunk(&file, 2, 3).unwrap()[..], b"234");
        assert_eq!(&read_chunk(&file, 8, 5).unwrap()[..], b"89");
        assert!(read_chunk(&file, 10, 5).unwrap().is_empty());
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn only_descriptor_refusals_fall_back() {
        assert!(refused(&io::Error::from(io::ErrorKind::Unsupported)));
        assert!(refused(&io::Error::from_raw_os_error(22)));
        assert!(!refused(&io::Error::from(io::ErrorKind::BrokenPipe)));
        assert!(!refused(&io::Error::from_raw_os_error(104))); // ECONNRESET
    }
}
