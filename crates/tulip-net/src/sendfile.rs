//! sendfile(2): a file's bytes handed to a socket by the kernel, with no copy through user
//! space, and a read-and-write fallback where the kernel cannot (a pipe as the source, TLS).
//!
//! [`Sendfile`] is what a writer must offer: `poll_sendfile` for the kernel path (the default
//! says "unsupported") on top of `AsyncWrite` for the fallback. [`StreamWriter::sendfile`],
//! [`TcpStream::sendfile`], [`UnixStream::sendfile`] and [`sock_sendfile`](crate::sock_sendfile)
//! all run the one loop here.

use std::fs::File;
use std::future::poll_fn;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::io::{AsyncWrite, AsyncWriteExt};
use tulip_reactor::Async;

use crate::split::OwnedWriteHalf;
use crate::stream::StreamWriter;
use crate::{TcpStream, UnixStream};

/// The most one sendfile(2) call is asked for, so a huge file still yields between calls
/// once the socket's buffer is full.
const MAX_SENDFILE: usize = 1 << 20;

/// The fallback's read size.
const FALLBACK_CHUNK: usize = 64 * 1024;

/// A writer that may send a file with sendfile(2).
///
/// Implemented for the plain sockets (tulip's and registered std ones, `Async<TcpStream>` and
/// `Async<UnixStream>`) and their owned write halves (kernel path) and for TLS
/// streams and halves (the default: the read-and-write fallback). Implement it for your own
/// writer with the default method to make [`StreamWriter::sendfile`] available on it.
pub trait Sendfile: AsyncWrite + Unpin {
    /// Sends up to `count` bytes of `file` starting at `*offset` with sendfile(2), advancing
    /// `*offset`; `Ok(0)` means the file ended. The default returns `Unsupported`, which makes
    /// callers fall back to reading the file and writing it.
    fn poll_sendfile(
        &mut self,
        cx: &mut Context<'_>,
        file: &File,
        offset: &mut u64,
        count: usize,
    ) -> Poll<io::Result<usize>> {
        let _ = (cx, file, offset, count);
        Poll::Ready(Err(io::ErrorKind::Unsupported.into()))
    }
}

/// Runs sendfile(2) on a registered descriptor, waiting for writability on `WouldBlock`.
pub(crate) fn poll_sendfile_fd<T: AsFd>(
    io: &Async<T>,
    cx: &mut Context<'_>,
    file: &File,
    offset: &mut u64,
    count: usize,
) -> Poll<io::Result<usize>> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    return io.poll_write_with(cx, |s| {
        rustix::fs::sendfile(s, file, Some(&mut *offset), count).map_err(io::Error::from)
    });
    // The BSDs' and macOS's sendfile(2) have other signatures and semantics; until they are
    // wired up, these platforms take the read-and-write path (`wants_fallback`).
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = (io, cx, file, offset, count);
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "sendfile(2) is used only on Linux; files are read and written instead",
        )))
    }
}

/// A registered descriptor of any type, written with write(2) (for `sock_sendfile`).
#[derive(Debug)]
pub(crate) struct AsyncFd<'a, T: AsFd>(pub(crate) &'a Async<T>);

impl<T: AsFd> AsyncWrite for AsyncFd<'_, T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0
            .poll_write_with(cx, |s| rustix::io::write(s, buf).map_err(io::Error::from))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl<T: AsFd> Sendfile for AsyncFd<'_, T> {
    fn poll_sendfile(
        &mut self,
        cx: &mut Context<'_>,
        file: &File,
        offset: &mut u64,
        count: usize,
    ) -> Poll<io::Result<usize>> {
        poll_sendfile_fd(self.0, cx, file, offset, count)
    }
}

macro_rules! native_sendfile {
    ($($ty:ty => |$s:ident| $io:expr),* $(,)?) => {$(
        impl Sendfile for $ty {
            fn poll_sendfile(
                &mut self,
                cx: &mut Context<'_>,
                file: &File,
                offset: &mut u64,
                count: usize,
            ) -> Poll<io::Result<usize>> {
                let $s = &*self;
                poll_sendfile_fd($io, cx, file, offset, count)
            }
        }
    )*};
}

native_sendfile! {
    Async<std::net::TcpStream> => |s| s,
    Async<std::os::unix::net::UnixStream> => |s| s,
    TcpStream => |s| s.as_async(),
    UnixStream => |s| s.as_async(),
    OwnedWriteHalf<TcpStream> => |s| s.get_ref().as_async(),
    OwnedWriteHalf<UnixStream> => |s| s.get_ref().as_async(),
}

impl Sendfile for crate::MaybeTlsStream {
    fn poll_sendfile(
        &mut self,
        cx: &mut Context<'_>,
        file: &File,
        offset: &mut u64,
        count: usize,
    ) -> Poll<io::Result<usize>> {
        match self {
            crate::MaybeTlsStream::Plain(s) => s.poll_sendfile(cx, file, offset, count),
            #[cfg(feature = "tls")]
            crate::MaybeTlsStream::Tls(_) => Poll::Ready(Err(io::ErrorKind::Unsupported.into())),
        }
    }
}

#[cfg(feature = "tls")]
impl<IO: futures_lite::io::AsyncRead + AsyncWrite + Unpin> Sendfile for tulip_tls::WriteHalf<IO> {}

#[cfg(feature = "tls")]
impl<IO: futures_lite::io::AsyncRead + AsyncWrite + Unpin> Sendfile for tulip_tls::TlsStream<IO> {}

/// Whether a sendfile(2) error means "not for this pair of descriptors": fall back.
fn wants_fallback(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Unsupported
        || [
            rustix::io::Errno::INVAL,
            rustix::io::Errno::NOSYS,
            rustix::io::Errno::OPNOTSUPP,
        ]
        .iter()
        .any(|errno| e.raw_os_error() == Some(errno.raw_os_error()))
}

/// Sends `count` bytes of `file` from `offset` (to its end if `None`) to `w`: the kernel path
/// while it works, the fallback from the first byte if it refuses. Returns the bytes sent.
pub(crate) async fn send_file<W: Sendfile + ?Sized>(
    w: &mut W,
    file: &File,
    offset: u64,
    count: Option<u64>,
) -> io::Result<u64> {
    let meta = file.metadata()?;
    let regular = meta.is_file();
    let mut remaining = match count {
        Some(c) => c,
        None if regular => meta.len().saturating_sub(offset),
        None => u64::MAX,
    };
    let mut pos = offset;
    let mut sent = 0u64;
    if regular {
        let mut native = true;
        while remaining > 0 {
            let chunk = remaining.min(MAX_SENDFILE as u64) as usize;
            match poll_fn(|cx| w.poll_sendfile(cx, file, &mut pos, chunk)).await {
                Ok(0) => break, // the file is shorter than the range asked for
                Ok(n) => {
                    sent += n as u64;
                    remaining -= n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if sent == 0 && wants_fallback(&e) => {
                    native = false;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if native {
            w.flush().await?;
            return Ok(sent);
        }
    } else if offset != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "sendfile: an offset needs a seekable file; pass 0 for a pipe or other stream",
        ));
    }
    sent += copy_fallback(w, file, pos, remaining, regular).await?;
    w.flush().await?;
    Ok(sent)
}

/// Reads `file` on the blocking pool (a read from a pipe may wait forever) and writes it.
async fn copy_fallback<W: AsyncWrite + Unpin + ?Sized>(
    w: &mut W,
    file: &File,
    mut pos: u64,
    mut remaining: u64,
    seekable: bool,
) -> io::Result<u64> {
    let mut reader = file.try_clone()?;
    let mut buf = Vec::with_capacity(FALLBACK_CHUNK);
    let mut sent = 0;
    while remaining > 0 {
        let want = remaining.min(FALLBACK_CHUNK as u64) as usize;
        let (r, b, res) = crate::rt::blocking(move || {
            let mut b = buf;
            b.resize(want, 0);
            let res = if seekable {
                reader.read_at(&mut b, pos)
            } else {
                (&reader).read(&mut b)
            };
            Ok((reader, b, res))
        })
        .await?;
        reader = r;
        buf = b;
        let n = match res {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.write_all(&buf[..n]).await?;
        pos += n as u64;
        remaining -= n as u64;
        sent += n as u64;
    }
    Ok(sent)
}

impl<W: Sendfile> StreamWriter<W> {
    /// Writes out the queue, then sends `count` bytes of `file` from `offset` (to its end if
    /// `None`) with sendfile(2) (asyncio's `loop.sendfile(transport, file)` for streams).
    /// Returns the bytes of the file sent. TLS writers and non-regular files (pipes) take the
    /// fallback: the file is read on the blocking pool and written, which needs a tulip
    /// runtime. The file's position is not used or moved (except when reading an unseekable
    /// file, where `offset` must be 0).
    ///
    /// # Errors
    ///
    /// A write error (including one kept from an earlier `write`), a read error of the file,
    /// or `InvalidInput` for an offset into an unseekable file.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: a dropped future may have sent part of the file.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::AsyncReadExt;
    /// use std::io::Write;
    /// use tulip_net::{UnixStream, streams};
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let path = std::env::temp_dir().join(format!("tulip-doc-sendfile-{}", std::process::id()));
    /// std::fs::File::create(&path)?.write_all(b"0123456789")?;
    /// let file = std::fs::File::open(&path)?;
    /// tulip_executor::run(async {
    ///     let (a, mut b) = UnixStream::pair()?;
    ///     let (_r, mut w) = streams(a);
    ///     assert_eq!(w.sendfile(&file, 2, Some(5)).await?, 5);
    ///     let mut got = [0; 5];
    ///     b.read_exact(&mut got).await?;
    ///     assert_eq!(&got, b"23456");
    ///     Ok::<_, std::io::Error>(())
    /// })?;
    /// # std::fs::remove_file(&path)
    /// # }
    /// ```
    pub async fn sendfile(
        &mut self,
        file: &File,
        offset: u64,
        count: Option<u64>,
    ) -> io::Result<u64> {
        self.drain().await?;
        send_file(self.get_mut(), file, offset, count).await
    }
}

impl TcpStream {
    /// Sends `count` bytes of `file` from `offset` (to its end if `None`) with sendfile(2);
    /// see [`StreamWriter::sendfile`] for the fallback and the file's position.
    ///
    /// # Errors
    ///
    /// A socket or file error.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: a dropped future may have sent part of the file.
    pub async fn sendfile(&self, file: &File, offset: u64, count: Option<u64>) -> io::Result<u64> {
        send_file(&mut AsyncFd(self.as_async()), file, offset, count).await
    }
}

impl UnixStream {
    /// Like [`TcpStream::sendfile`].
    ///
    /// # Errors
    ///
    /// A socket or file error.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: a dropped future may have sent part of the file.
    pub async fn sendfile(&self, file: &File, offset: u64, count: Option<u64>) -> io::Result<u64> {
        send_file(&mut AsyncFd(self.as_async()), file, offset, count).await
    }
}
