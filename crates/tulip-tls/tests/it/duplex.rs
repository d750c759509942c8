//! An in-memory, bounded, bidirectional byte pipe: the smallest transport a TLS stream can
//! run over. Bounded so that writers meet backpressure (`Pending`) as on a socket, and able to
//! "reset" so that tests can fail a connection half way.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use futures_lite::io::{AsyncRead, AsyncWrite};

#[derive(Default)]
struct Pipe {
    buf: VecDeque<u8>,
    /// The writer closed its side: readers see end of stream once `buf` is empty.
    closed: bool,
    /// Either end reset the connection: every operation fails from now on.
    reset: bool,
    /// The reading end is gone: writes fail with `BrokenPipe`.
    reader_gone: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

/// One end of a duplex pipe.
pub(crate) struct End {
    read: Arc<Mutex<Pipe>>,
    write: Arc<Mutex<Pipe>>,
    capacity: usize,
}

/// Two connected ends; each direction buffers at most `capacity` bytes.
pub(crate) fn duplex(capacity: usize) -> (End, End) {
    let (a, b) = (
        Arc::new(Mutex::new(Pipe::default())),
        Arc::new(Mutex::new(Pipe::default())),
    );
    (
        End {
            read: a.clone(),
            write: b.clone(),
            capacity,
        },
        End {
            read: b,
            write: a,
            capacity,
        },
    )
}

fn reset_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "duplex pipe reset by peer")
}

impl End {
    /// Fails both directions for both ends, like a TCP reset.
    pub(crate) fn reset(&self) {
        for pipe in [&self.read, &self.write] {
            let mut p = pipe.lock().unwrap();
            p.reset = true;
            wake(&mut p.reader);
            wake(&mut p.writer);
        }
    }
}

impl AsyncRead for End {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut p = self.read.lock().unwrap();
        if p.reset {
            return Poll::Ready(Err(reset_error()));
        }
        if p.buf.is_empty() {
            if p.closed {
                return Poll::Ready(Ok(0));
            }
            p.reader = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = p.buf.len().min(buf.len());
        let (front, back) = p.buf.as_slices();
        let from_front = n.min(front.len());
        buf[..from_front].copy_from_slice(&front[..from_front]);
        buf[from_front..n].copy_from_slice(&back[..n - from_front]);
        p.buf.drain(..n);
        wake(&mut p.writer);
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for End {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut p = self.write.lock().unwrap();
        if p.reset {
            return Poll::Ready(Err(reset_error()));
        }
        if p.closed || p.reader_gone {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let room = self.capacity - p.buf.len();
        if room == 0 {
            p.writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = room.min(buf.len());
        p.buf.extend(&buf[..n]);
        wake(&mut p.reader);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut p = self.write.lock().unwrap();
        p.closed = true;
        wake(&mut p.reader);
        Poll::Ready(Ok(()))
    }
}

impl Drop for End {
    // Dropping an end closes what it wrote, as closing a socket does.
    fn drop(&mut self) {
        let mut p = self.write.lock().unwrap();
        p.closed = true;
        wake(&mut p.reader);
        drop(p);
        let mut p = self.read.lock().unwrap();
        p.reader_gone = true;
        wake(&mut p.writer);
    }
}

impl std::fmt::Debug for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("duplex::End")
    }
}

fn wake(slot: &mut Option<Waker>) {
    if let Some(w) = slot.take() {
        w.wake();
    }
}
