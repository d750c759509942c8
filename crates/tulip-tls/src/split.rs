//! Read and write halves of a [`TlsStream`] for two tasks.
//!
//! One TLS session cannot be cut in two: reading may have to write (alerts, key updates) and
//! both directions share rustls's state. So the halves share the whole stream behind a
//! `std::sync::Mutex` that is held only for the length of one `poll_*` call, never across an
//! `.await`, so it cannot deadlock and is contended for microseconds at most.
//!
//! The transport sees one task polling it, but two tasks may be waiting on it. Both halves
//! therefore poll the transport with one shared waker that wakes whichever halves are waiting.
//! That way a read half that has to flush an alert cannot steal the write half's wake-up
//! (transports such as `Async<TcpStream>` keep only one waker per direction).

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

use futures_lite::io::{AsyncRead, AsyncWrite};

use crate::stream::TlsStream;

struct Shared<IO> {
    stream: Mutex<TlsStream<IO>>,
    wakers: Arc<HalfWakers>,
    /// `wakers` as a `Waker`, made once so that polls do not allocate.
    waker: Waker,
}

/// The wakers of the halves that are waiting on the transport.
#[derive(Default)]
struct HalfWakers {
    read: Mutex<Option<Waker>>,
    write: Mutex<Option<Waker>>,
}

impl Wake for HalfWakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        for slot in [&self.read, &self.write] {
            let waker = lock(slot).take();
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poll that panicked left nothing half-written in these slots or in rustls's buffers
    // that a later poll could misread as valid, so poisoning is not fatal here.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn register(slot: &Mutex<Option<Waker>>, waker: &Waker) {
    let mut slot = lock(slot);
    match &*slot {
        Some(w) if w.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Shared<IO> {
    /// Polls the stream for one half: `slot` is that half's waker slot.
    fn poll_with<R>(
        &self,
        slot: &Mutex<Option<Waker>>,
        cx: &mut Context<'_>,
        f: impl FnOnce(Pin<&mut TlsStream<IO>>, &mut Context<'_>) -> Poll<R>,
    ) -> Poll<R> {
        register(slot, cx.waker());
        let mut shared_cx = Context::from_waker(&self.waker);
        let result = f(Pin::new(&mut *lock(&self.stream)), &mut shared_cx);
        if result.is_ready() {
            // Nobody waits now; a stale waker would only cause a spurious wake-up later.
            lock(slot).take();
        }
        result
    }
}

impl<IO> TlsStream<IO> {
    /// Splits the stream into a read half and a write half that two tasks can own.
    ///
    /// Both halves lock the shared stream for the length of one poll (see the module docs).
    /// [`ReadHalf::reunite`] puts them back together.
    pub fn split(self) -> (ReadHalf<IO>, WriteHalf<IO>) {
        let wakers = Arc::new(HalfWakers::default());
        let shared = Arc::new(Shared {
            stream: Mutex::new(self),
            waker: Waker::from(wakers.clone()),
            wakers,
        });
        (
            ReadHalf {
                shared: shared.clone(),
            },
            WriteHalf { shared },
        )
    }
}

/// The reading half of a split [`TlsStream`]; implements [`AsyncRead`].
///
/// # Cancel safety
///
/// As for [`TlsStream`]: dropping a pending read loses no data.
pub struct ReadHalf<IO> {
    shared: Arc<Shared<IO>>,
}

/// The writing half of a split [`TlsStream`]; implements [`AsyncWrite`]. Closing it sends
/// `close_notify` and closes the transport's write side; the read half keeps reading.
///
/// # Cancel safety
///
/// As for [`TlsStream`]: a dropped pending write either took its bytes or did not.
pub struct WriteHalf<IO> {
    shared: Arc<Shared<IO>>,
}

/// The error of [`ReadHalf::reunite`] with halves of two different streams; it hands both back.
pub struct ReuniteError<IO>(pub ReadHalf<IO>, pub WriteHalf<IO>);

impl<IO> ReadHalf<IO> {
    /// Puts the halves of one stream back together.
    pub fn reunite(self, write: WriteHalf<IO>) -> Result<TlsStream<IO>, ReuniteError<IO>> {
        if !Arc::ptr_eq(&self.shared, &write.shared) {
            return Err(ReuniteError(self, write));
        }
        drop(write);
        match Arc::try_unwrap(self.shared) {
            Ok(shared) => Ok(shared
                .stream
                .into_inner()
                .unwrap_or_else(|p| p.into_inner())),
            Err(_) => unreachable!("a split stream has exactly two halves and both are here"),
        }
    }

    /// Runs `f` on the whole stream, e.g. to read the ALPN protocol or the peer certificates.
    /// Holds the lock while `f` runs, so keep `f` short.
    pub fn with_stream<R>(&self, f: impl FnOnce(&TlsStream<IO>) -> R) -> R {
        f(&lock(&self.shared.stream))
    }
}

impl<IO> WriteHalf<IO> {
    /// Runs `f` on the whole stream, like [`ReadHalf::with_stream`].
    pub fn with_stream<R>(&self, f: impl FnOnce(&TlsStream<IO>) -> R) -> R {
        f(&lock(&self.shared.stream))
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for ReadHalf<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let shared = &self.shared;
        shared.poll_with(&shared.wakers.read, cx, |s, cx| s.poll_read(cx, buf))
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WriteHalf<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let shared = &self.shared;
        shared.poll_with(&shared.wakers.write, cx, |s, cx| s.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let shared = &self.shared;
        shared.poll_with(&shared.wakers.write, cx, |s, cx| {
            s.poll_write_vectored(cx, bufs)
        })
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let shared = &self.shared;
        shared.poll_with(&shared.wakers.write, cx, |s, cx| s.poll_flush(cx))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let shared = &self.shared;
        shared.poll_with(&shared.wakers.write, cx, |s, cx| s.poll_close(cx))
    }
}

impl<IO> fmt::Debug for ReadHalf<IO> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadHalf").finish_non_exhaustive()
    }
}

impl<IO> fmt::Debug for WriteHalf<IO> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteHalf").finish_non_exhaustive()
    }
}

impl<IO> fmt::Debug for ReuniteError<IO> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReuniteError(..)")
    }
}

impl<IO> fmt::Display for ReuniteError<IO> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tried to reunite halves of two different TLS streams")
    }
}

impl<IO> std::error::Error for ReuniteError<IO> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn _assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn halves_are_send_and_sync_over_send_io() {
        _assert_send_sync::<ReadHalf<std::io::Cursor<Vec<u8>>>>();
        _assert_send_sync::<WriteHalf<std::io::Cursor<Vec<u8>>>>();
    }

    #[test]
    fn shared_waker_wakes_every_waiting_half_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        struct Count(AtomicUsize);
        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let (r, w) = (
            Arc::new(Count(AtomicUsize::new(0))),
            Arc::new(Count(AtomicUsize::new(0))),
        );
        let halves = Arc::new(HalfWakers::default());
        register(&halves.read, &Waker::from(r.clone()));
        register(&halves.write, &Waker::from(w.clone()));
        let shared = Waker::from(halves.clone());
        shared.wake_by_ref();
        shared.wake_by_ref(); // Nobody registered again: no second wake-up.
        assert_eq!(
            (r.0.load(Ordering::SeqCst), w.0.load(Ordering::SeqCst)),
            (1, 1)
        );
    }
}
