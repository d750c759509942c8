//! The parent's ends of a child's piped stdin, stdout and stderr.
//!
//! Each wraps the pipe in a reactor-registered [`Async`]: reads and writes never block a
//! thread. A pipe is a plain file descriptor, so `std::fs::File` (whose `&File` implements
//! `Read` and `Write`) is the carrier type. For asyncio's stream API (`readline`,
//! `readuntil`, `drain`, `write_eof`) wrap them in tulip-net's [`StreamReader`] and
//! [`StreamWriter`] (`into_reader`, `into_writer`).

use std::fmt;
use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::process::Stdio;
use std::task::{Context, Poll};

use futures_lite::io::{AsyncRead, AsyncWrite};
use tulip_net::{StreamReader, StreamWriter};
use tulip_reactor::Async;

fn register(fd: OwnedFd) -> io::Result<Async<File>> {
    Async::new(File::from(fd))
}

/// Deregisters the pipe and hands it over as another child's stdio, in blocking mode again
/// (children expect blocking stdio).
fn into_stdio(io: Async<File>) -> io::Result<Stdio> {
    let file = io.into_inner()?;
    rustix::io::ioctl_fionbio(&file, false)?;
    Ok(Stdio::from(file))
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the child's stdin was closed")
}

/// The writing end of a child's stdin pipe ([`AsyncWrite`]).
///
/// Close it with `AsyncWriteExt::close` (or by dropping it, or through
/// [`Child::wait`](crate::Child::wait), which drops it) to send the child end-of-file.
///
/// A write after the child closed its end fails with `BrokenPipe` as an error value. That
/// relies on SIGPIPE being ignored, which the Rust runtime arranges before `main`; a C host
/// embedding this crate must do the same.
pub struct ChildStdin {
    /// `None` once closed.
    io: Option<Async<File>>,
}

impl ChildStdin {
    pub(crate) fn new(std: std::process::ChildStdin) -> io::Result<ChildStdin> {
        Ok(ChildStdin {
            io: Some(register(OwnedFd::from(std))?),
        })
    }

    /// Wraps the pipe in asyncio's buffered writer (`write`, `drain`, `write_eof`).
    pub fn into_writer(self) -> StreamWriter<ChildStdin> {
        StreamWriter::new(self)
    }

    /// Turns this pipe end into another child's stdin, to connect two children.
    ///
    /// # Errors
    ///
    /// If the pipe was closed, or cannot be deregistered or switched back to blocking mode.
    pub fn into_stdio(mut self) -> io::Result<Stdio> {
        into_stdio(self.io.take().ok_or_else(closed)?)
    }

    fn io(&mut self) -> io::Result<Pin<&mut Async<File>>> {
        self.io.as_mut().map(Pin::new).ok_or_else(closed)
    }
}

impl AsyncWrite for ChildStdin {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.io()?.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.io()?.poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.io.as_mut() {
            Some(io) => Pin::new(io).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    /// Closes the pipe: the child reads end-of-file. Closing twice is fine.
    fn poll_close(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A pipe has no user-space buffer to flush: dropping the descriptor is the close.
        drop(self.io.take());
        Poll::Ready(Ok(()))
    }
}

impl AsRawFd for ChildStdin {
    /// The pipe's descriptor, or -1 once closed.
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_ref().map_or(-1, |io| io.as_raw_fd())
    }
}

impl fmt::Debug for ChildStdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildStdin")
            .field("fd", &self.io.as_ref().map(|io| io.as_raw_fd()))
            .finish()
    }
}

macro_rules! reader_type {
    ($(#[$doc:meta])* $name:ident, $std:ty) => {
        $(#[$doc])*
        pub struct $name {
            io: Async<File>,
        }

        impl $name {
            pub(crate) fn new(std: $std) -> io::Result<$name> {
                Ok($name { io: register(OwnedFd::from(std))? })
            }

            /// Wraps the pipe in asyncio's buffered reader (`read_line`, `read_until`,
            /// `read_exactly`), with its default 64 KiB line limit.
            pub fn into_reader(self) -> StreamReader<$name> {
                StreamReader::new(self)
            }

            /// Turns this pipe end into another child's stdin, to connect two children
            /// (`a | b`): pass it to [`Command::stdin`](crate::Command::stdin).
            ///
            /// # Errors
            ///
            /// If the pipe cannot be deregistered or switched back to blocking mode.
            pub fn into_stdio(self) -> io::Result<Stdio> {
                into_stdio(self.io)
            }
        }

        impl AsFd for $name {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.io.as_fd()
            }
        }

        impl AsyncRead for $name {
            fn poll_read(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.io).poll_read(cx, buf)
            }

            fn poll_read_vectored(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &mut [IoSliceMut<'_>],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.io).poll_read_vectored(cx, bufs)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).field("fd", &self.io.as_raw_fd()).finish()
            }
        }
    };
}

reader_type!(
    /// The reading end of a child's stdout pipe ([`AsyncRead`]). Reads return 0 at
    /// end-of-file, once the child (and every process that inherited the pipe) closed it.
    ChildStdout,
    std::process::ChildStdout
);

reader_type!(
    /// The reading end of a child's stderr pipe ([`AsyncRead`]).
    ChildStderr,
    std::process::ChildStderr
);
