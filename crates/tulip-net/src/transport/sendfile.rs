//! `Transport::sendfile` (asyncio's `loop.sendfile(transport, file)`): sendfile(2) on the
//! transport's socket while the connection task holds its queue back, or, over TLS, the file
//! read and written through the transport with flow control.

use std::fs::File;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::io::AsyncWrite;

use crate::sendfile::{Sendfile, poll_sendfile_fd, send_file};
use crate::transport::Transport;
use crate::transport::handle::{Sock, notify};

/// The transport as a writer for the shared sendfile loop.
struct TransportFile<'a> {
    t: &'a Transport,
    /// This writer set `sending_file`: the socket is its own until it clears it.
    exclusive: bool,
}

impl TransportFile<'_> {
    fn closed() -> io::Error {
        io::Error::new(
            io::ErrorKind::NotConnected,
            "the transport closed during sendfile",
        )
    }

    /// Ready once the queue holds at most `level` bytes (0: empty); then `exclusive` makes
    /// the socket this writer's.
    fn poll_queue(
        &mut self,
        cx: &mut Context<'_>,
        level: usize,
        exclusive: bool,
    ) -> Poll<io::Result<()>> {
        let mut st = self.t.shared.lock();
        if st.lost || st.closing {
            return Poll::Ready(Err(Self::closed()));
        }
        if st.queued() <= level && (level > 0 || !self.t.tls_pending(&st)) {
            if exclusive {
                st.sending_file = true;
                self.exclusive = true;
            }
            return Poll::Ready(Ok(()));
        }
        if !st.drain_waiters.iter().any(|w| w.will_wake(cx.waker())) {
            st.drain_waiters.push(cx.waker().clone());
        }
        notify(st);
        Poll::Pending
    }

    fn release(&mut self) {
        if self.exclusive {
            self.exclusive = false;
            let mut st = self.t.shared.lock();
            st.sending_file = false;
            notify(st);
        }
    }
}

impl Drop for TransportFile<'_> {
    fn drop(&mut self) {
        self.release();
    }
}

impl AsyncWrite for TransportFile<'_> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.release();
        // Keep the queue near the low-water mark: flow control for the fallback.
        let low = self.t.write_buffer_limits().0;
        std::task::ready!(self.poll_queue(cx, low, false))?;
        self.t.write(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.exclusive {
            return Poll::Ready(Ok(()));
        }
        self.poll_queue(cx, 0, false)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

impl Sendfile for TransportFile<'_> {
    fn poll_sendfile(
        &mut self,
        cx: &mut Context<'_>,
        file: &File,
        offset: &mut u64,
        count: usize,
    ) -> Poll<io::Result<usize>> {
        if self.t.is_tls() {
            return Poll::Ready(Err(io::ErrorKind::Unsupported.into()));
        }
        if !self.exclusive {
            std::task::ready!(self.poll_queue(cx, 0, true))?;
        }
        match &self.t.shared.sock {
            Sock::Tcp(s) => poll_sendfile_fd(s.as_async(), cx, file, offset, count),
            Sock::Unix(s) => poll_sendfile_fd(s.as_async(), cx, file, offset, count),
        }
    }
}

impl Transport {
    /// Sends `count` bytes of `file` from `offset` (to its end if `None`) over the connection
    /// (asyncio's `loop.sendfile(transport, file, offset, count)`) and returns the bytes sent.
    ///
    /// On a plain socket it waits for the write queue to empty, then hands the file to the
    /// kernel with sendfile(2); writes made meanwhile are queued behind the file. Over TLS,
    /// or from a pipe, it reads the file on the blocking pool and writes it through the
    /// transport, waiting at the low-water mark. The file's position is not used.
    ///
    /// # Errors
    ///
    /// A socket or file error; `NotConnected` if the transport closes meanwhile.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: part of the file may have been sent. Dropping the future gives the
    /// socket back to the connection task.
    pub async fn sendfile(&self, file: &File, offset: u64, count: Option<u64>) -> io::Result<u64> {
        let mut w = TransportFile {
            t: self,
            exclusive: false,
        };
        send_file(&mut w, file, offset, count).await
    }

    #[cfg(feature = "tls")]
    fn tls_pending(&self, st: &crate::transport::handle::State) -> bool {
        !st.plain_tail.is_empty() || st.upgrade.is_some()
    }

    #[cfg(not(feature = "tls"))]
    fn tls_pending(&self, _: &crate::transport::handle::State) -> bool {
        false
    }
}
