//! Async pipes: asyncio's `loop.connect_read_pipe`/`connect_write_pipe`, and async `stdin()`
//! and `stdout()` for [`StreamReader`](crate::StreamReader) and
//! [`StreamWriter`](crate::StreamWriter).
//!
//! A pipe end (or a socket, or a character device such as a terminal) is switched to
//! non-blocking mode and registered with the reactor. `O_NONBLOCK` belongs to the *open file
//! description*, which other processes may share: a terminal's stdin is the same description
//! the parent shell reads, and a shell finding its terminal non-blocking may exit on
//! `EAGAIN`. So [`PipeReader`] and [`PipeWriter`] remember the flags they found and put them
//! back when dropped; a process killed before that leaves the terminal non-blocking
//! (`reset` or `stty sane` repairs it). Regular files are refused (epoll cannot watch them):
//! read those with `std::fs` on the blocking pool.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::io::{AsyncRead, AsyncWrite};
use rustix::fs::OFlags;
use tulip_reactor::Async;

/// A registered descriptor that puts its original file-status flags back when dropped.
struct PipeFd {
    /// `None` only while dropping.
    io: Option<Async<std::fs::File>>,
    /// The flags to restore, when registration changed them.
    restore: Option<OFlags>,
}

impl PipeFd {
    fn new(fd: OwnedFd, what: &str) -> io::Result<PipeFd> {
        let flags = rustix::fs::fcntl_getfl(&fd)?;
        let file = std::fs::File::from(fd);
        if file.metadata()?.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{what} is a regular file, which the reactor cannot watch (epoll refuses it, kqueue \
                     calls it always ready); read or write it with \
                     std::fs on the blocking pool (tulip_executor::spawn_blocking)"
                ),
            ));
        }
        let restore = (!flags.contains(OFlags::NONBLOCK)).then_some(flags);
        rustix::fs::fcntl_setfl(&file, flags | OFlags::NONBLOCK)?;
        let io = match Async::new_nonblocking(file.try_clone()?) {
            Ok(io) => io,
            Err(e) => {
                if let Some(flags) = restore {
                    let _ = rustix::fs::fcntl_setfl(&file, flags);
                }
                // epoll answers EPERM for descriptors it cannot watch (/dev/null too).
                let kind = if e.raw_os_error() == Some(rustix::io::Errno::PERM.raw_os_error()) {
                    io::ErrorKind::InvalidInput
                } else {
                    e.kind()
                };
                return Err(io::Error::new(
                    kind,
                    format!(
                        "cannot register {what} with the reactor ({e}); epoll cannot watch \
                         regular files or /dev/null: read or write those directly"
                    ),
                ));
            }
        };
        Ok(PipeFd {
            io: Some(io),
            restore,
        })
    }

    fn io(&self) -> &Async<std::fs::File> {
        self.io.as_ref().expect("present until drop")
    }
}

impl Drop for PipeFd {
    fn drop(&mut self) {
        if let (Some(io), Some(flags)) = (self.io.take(), self.restore) {
            // Deregister first, then hand the description back as we found it.
            if let Ok(file) = io.into_inner() {
                let _ = rustix::fs::fcntl_setfl(&file, flags);
            }
        }
    }
}

/// The reading end of a pipe (or any pollable descriptor), registered with the reactor:
/// [`AsyncRead`], so [`StreamReader::new`](crate::StreamReader::new) gives asyncio's
/// `read_line`/`read_until` over it.
pub struct PipeReader {
    fd: PipeFd,
}

/// The writing end of a pipe (or any pollable descriptor), registered with the reactor:
/// [`AsyncWrite`], for [`StreamWriter::new`](crate::StreamWriter::new). Closing it
/// (`AsyncWriteExt::close`, `StreamWriter::wait_closed`) closes the descriptor, so the
/// reader sees end of file once no other copy of the write end is open; writes after that
/// fail with `BrokenPipe`. For [`stdout`], only the duplicate closes.
pub struct PipeWriter {
    /// `None` once closed.
    fd: Option<PipeFd>,
}

impl PipeWriter {
    fn io(&self) -> io::Result<&Async<std::fs::File>> {
        match &self.fd {
            Some(fd) => Ok(fd.io()),
            None => Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write to a pipe writer that was closed",
            )),
        }
    }
}

/// Makes `pipe` non-blocking and registers it for reading (asyncio's
/// `loop.connect_read_pipe`, in the streams shape: wrap the result in a `StreamReader`).
///
/// # Errors
///
/// `InvalidInput` for a regular file; a registration error otherwise.
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use tulip_net::{StreamReader, connect_read_pipe};
///
/// # fn main() -> std::io::Result<()> {
/// let (r, mut w) = rustix::pipe::pipe()?;
/// let mut w = std::fs::File::from(w);
/// w.write_all(b"one\ntwo\n")?;
/// drop(w);
/// tulip_reactor::block_on(async {
///     let mut lines = StreamReader::new(connect_read_pipe(r)?);
///     assert_eq!(lines.read_line().await.unwrap(), b"one\n");
///     assert_eq!(lines.read_line().await.unwrap(), b"two\n");
///     assert_eq!(lines.read_line().await.unwrap(), b"");
///     Ok(())
/// })
/// # }
/// ```
pub fn connect_read_pipe(pipe: impl Into<OwnedFd>) -> io::Result<PipeReader> {
    Ok(PipeReader {
        fd: PipeFd::new(pipe.into(), "the pipe")?,
    })
}

/// Makes `pipe` non-blocking and registers it for writing (asyncio's
/// `loop.connect_write_pipe`, in the streams shape: wrap the result in a `StreamWriter`).
///
/// # Errors
///
/// `InvalidInput` for a regular file; a registration error otherwise.
pub fn connect_write_pipe(pipe: impl Into<OwnedFd>) -> io::Result<PipeWriter> {
    Ok(PipeWriter {
        fd: Some(PipeFd::new(pipe.into(), "the pipe")?),
    })
}

/// This process's standard input, readable without blocking a thread (aioconsole's
/// `ainput`, asyncio's `connect_read_pipe(sys.stdin)`). It works on a *duplicate* of
/// descriptor 0, so dropping it leaves stdin open.
///
/// Caveat: `O_NONBLOCK` belongs to the open file description, and a terminal's is shared
/// with the parent shell, which may exit on `EAGAIN` if it finds its terminal non-blocking.
/// The reader restores the flags it found when dropped; a process killed before that leaves
/// the terminal non-blocking (`reset` or `stty sane` repairs it). Hold one at a time: two
/// readers share one description and split the input between them.
///
/// # Errors
///
/// `InvalidInput` when stdin is a regular file (`prog < file`) or `/dev/null`, which epoll
/// cannot watch: read it with `std::fs`.
pub fn stdin() -> io::Result<PipeReader> {
    let fd = io::stdin().as_fd().try_clone_to_owned()?;
    Ok(PipeReader {
        fd: PipeFd::new(fd, "stdin")?,
    })
}

/// This process's standard output, writable without blocking a thread. It works on a
/// duplicate of descriptor 1 and bypasses `std::io::stdout()`'s buffer: flush that before
/// mixing the two. The same `O_NONBLOCK` caveat as [`stdin`] applies (restored on drop).
///
/// # Errors
///
/// `InvalidInput` when stdout is a regular file (`prog > file`): write it with `std::fs`.
pub fn stdout() -> io::Result<PipeWriter> {
    let fd = io::stdout().as_fd().try_clone_to_owned()?;
    Ok(PipeWriter {
        fd: Some(PipeFd::new(fd, "stdout")?),
    })
}

impl AsyncRead for PipeReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.fd.io()).poll_read(cx, buf)
    }

    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.fd.io()).poll_read_vectored(cx, bufs)
    }
}

impl AsyncWrite for PipeWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io()?).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io()?).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Dropping restores the flags and closes the descriptor.
        self.fd = None;
        Poll::Ready(Ok(()))
    }
}

impl fmt::Debug for PipeWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.fd {
            Some(fd) => f
                .debug_struct("PipeWriter")
                .field("fd", &fd.io().as_raw_fd())
                .field("restores_flags", &fd.restore.is_some())
                .finish(),
            None => f.debug_struct("PipeWriter").field("closed", &true).finish(),
        }
    }
}

impl crate::Sendfile for PipeWriter {}

macro_rules! fd_traits {
    ($($ty:ident),*) => {$(
        impl AsFd for $ty {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.fd.io().as_fd()
            }
        }

        impl AsRawFd for $ty {
            fn as_raw_fd(&self) -> RawFd {
                self.fd.io().as_raw_fd()
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("fd", &self.as_raw_fd())
                    .field("restores_flags", &self.fd.restore.is_some())
                    .finish()
            }
        }
    )*};
}

fd_traits!(PipeReader);
