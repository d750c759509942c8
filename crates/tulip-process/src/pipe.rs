//! The parent's ends of a child's piped stdin, stdout and stderr.
//!
//! Each wraps the pipe in a reactor-registered [`Async`]: reads and writes never block a
//! thread. A pipe is a plain file descriptor, so `std::fs::File` (whose `&File` implements
//! `Read` and `Write`) is the carrier type.

use std::fmt;
use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::process::Stdio;
use std::task::{Context, Poll};

use futures_lite::io::{AsyncRead, AsyncWrite};
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

macro_rules! pipe_type {
    ($(#[$doc:meta])* $name:ident, $std:ty) => {
        $(#[$doc])*
        pub struct $name {
            io: Async<File>,
        }

        impl $name {
            pub(crate) fn new(std: $std) -> io::Result<$name> {
                Ok($name { io: register(OwnedFd::from(std))? })
            }

            /// Turns this pipe end into another child's stdio, to connect two children
            /// (`a | b`): pass it to [`Command::stdin`](crate::Command::stdin) and friends.
            ///
            /// # Errors
            ///
            /// If the pipe cannot be deregistered or switched back to blocking mode.
            pub fn into_stdio(self) -> io::Result<Stdio> {
                into_stdio(self.io)
            }
        }

        impl AsFd for $name {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.io.as_fd()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).field("fd", &self.io.as_fd()).finish()
            }
        }
    };
}

pipe_type!(
    /// The writing end of a child's stdin pipe ([`AsyncWrite`]).
    ///
    /// Drop it (or call [`Child::wait`](crate::Child::wait), which drops it) to close the
    /// pipe and send the child end-of-file. A write after the child closed its end fails
    /// with `BrokenPipe` as an error value: this relies on SIGPIPE being ignored, which the
    /// Rust runtime arranges before `main` (a C host embedding this crate must do the same).
    ChildStdin,
    std::process::ChildStdin
);

pipe_type!(
    /// The reading end of a child's stdout pipe ([`AsyncRead`]). Reads return 0 at
    /// end-of-file, once the child (and every process that inherited the pipe) closed it.
    ///
    /// Wrap it in `futures_lite::io::BufReader` to read lines.
    ChildStdout,
    std::process::ChildStdout
);

pipe_type!(
    /// The reading end of a child's stderr pipe ([`AsyncRead`]).
    ChildStderr,
    std::process::ChildStderr
);

impl AsyncWrite for ChildStdin {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    /// Flushes; the pipe itself closes when the `ChildStdin` is dropped.
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_close(cx)
    }
}

macro_rules! async_read {
    ($($name:ident),*) => {$(
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
    )*};
}

async_read!(ChildStdout, ChildStderr);
