//! The I/O trait bridges, both directions, on the same adapters.
//!
//! - futures-io → tokio (tulip's sockets and TLS streams for tokio-io users: hyper through
//!   `TokioIo`, tokio-util codecs): needs no runtime context, so none is entered.
//! - tokio → futures-io (tokio's sockets for futures-io users): the context is entered around
//!   each poll, like a compat future's.
//!
//! tokio reads into a `ReadBuf` that may be uninitialised; futures-io readers take `&mut [u8]`.
//! The bridge zeroes the unfilled part once (`ReadBuf` remembers what it initialised, so a
//! reused buffer is zeroed only the first time), at most [`INIT_LIMIT`] bytes per read so a
//! huge buffer does not cost a huge memset for a small read; and it checks the count the
//! reader returns instead of trusting it (no `unsafe` anywhere).

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_lite::io::{AsyncBufRead as FBufRead, AsyncRead as FRead, AsyncWrite as FWrite};
use tokio::io::{AsyncBufRead as TBufRead, AsyncRead as TRead, AsyncWrite as TWrite, ReadBuf};

use crate::context;
use crate::future::{Compat, CompatWith};

/// The most a single tokio-side read zeroes of a caller's uninitialised buffer.
pub(crate) const INIT_LIMIT: usize = 64 * 1024;

/// Reads from a futures-io reader into a tokio `ReadBuf`.
fn read_into<R: FRead + ?Sized>(
    reader: Pin<&mut R>,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
) -> Poll<io::Result<()>> {
    let want = buf.remaining().min(INIT_LIMIT);
    let dst = buf.initialize_unfilled_to(want);
    let n = ready!(reader.poll_read(cx, dst))?;
    if n > want {
        return Poll::Ready(Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a reader reported {n} bytes read into a {want}-byte buffer"),
        )));
    }
    buf.advance(n);
    Poll::Ready(Ok(()))
}

/// Reads from a tokio reader into a plain slice.
fn read_from<R: TRead + ?Sized>(
    reader: Pin<&mut R>,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<usize>> {
    let mut read_buf = ReadBuf::new(buf);
    ready!(reader.poll_read(cx, &mut read_buf))?;
    Poll::Ready(Ok(read_buf.filled().len()))
}

// futures-io → tokio: tulip's streams as tokio I/O.

impl<T: FRead> TRead for Compat<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        read_into(self.inner_pin(), cx, buf)
    }
}

impl<T: FWrite> TWrite for Compat<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.inner_pin().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.inner_pin().poll_write_vectored(cx, bufs)
    }

    /// Always `true`: futures-io cannot say, and forwarding is always correct. tulip's sockets
    /// write a vector in one `writev`; a writer without vectored support writes its first
    /// non-empty slice, as futures-io's default does.
    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner_pin().poll_flush(cx)
    }

    /// futures-io's `poll_close`: for tulip's sockets a FIN (reading goes on), for a TLS
    /// stream `close_notify` first.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner_pin().poll_close(cx)
    }
}

impl<T: FBufRead> TBufRead for Compat<T> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        self.inner_pin().poll_fill_buf(cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        self.inner_pin().consume(amt);
    }
}

// tokio → futures-io on the shared runtime: tokio's streams as futures-io, in its context.

/// Runs an I/O poll inside the shared runtime's context; a runtime that cannot start is an
/// I/O error here, not a panic.
fn in_shared<R>(poll: impl FnOnce() -> Poll<io::Result<R>>) -> Poll<io::Result<R>> {
    match context::shared_handle() {
        Ok(handle) => {
            let _enter = handle.enter();
            poll()
        }
        Err(e) => Poll::Ready(Err(e)),
    }
}

impl<T: TRead> FRead for Compat<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        in_shared(|| read_from(self.inner_pin(), cx, buf))
    }
}

impl<T: TWrite> FWrite for Compat<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        in_shared(|| self.inner_pin().poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        in_shared(|| self.inner_pin().poll_write_vectored(cx, bufs))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        in_shared(|| self.inner_pin().poll_flush(cx))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        in_shared(|| self.inner_pin().poll_shutdown(cx))
    }
}

impl<T: TBufRead> FBufRead for Compat<T> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        match context::shared_handle() {
            Ok(handle) => {
                let _enter = handle.enter();
                self.inner_pin().poll_fill_buf(cx)
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        self.inner_pin().consume(amt);
    }
}

// tokio → futures-io on a caller's runtime: the same, failing with `RuntimeGone` once it is gone.

/// Flattens "the runtime is gone" into the I/O result.
fn flat<R>(polled: Result<Poll<io::Result<R>>, context::RuntimeGone>) -> Poll<io::Result<R>> {
    polled.unwrap_or_else(|gone| Poll::Ready(Err(gone.into())))
}

impl<T: TRead> FRead for CompatWith<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        flat(self.poll_inside(|r| read_from(r, cx, buf)))
    }
}

impl<T: TWrite> FWrite for CompatWith<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        flat(self.poll_inside(|w| w.poll_write(cx, buf)))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        flat(self.poll_inside(|w| w.poll_write_vectored(cx, bufs)))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        flat(self.poll_inside(|w| w.poll_flush(cx)))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        flat(self.poll_inside(|w| w.poll_shutdown(cx)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::MaybeUninit;
    use std::task::Waker;

    /// A futures-io reader that hands out a script of answers, one per poll.
    struct Script {
        answers: Vec<io::Result<usize>>,
        /// The length of each buffer it was offered.
        offered: Vec<usize>,
    }

    impl FRead for Script {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            self.offered.push(buf.len());
            let answer = self.answers.remove(0);
            if let Ok(n) = answer {
                for (i, b) in buf.iter_mut().take(n).enumerate() {
                    *b = i as u8;
                }
            }
            Poll::Ready(answer)
        }
    }

    fn script(answers: Vec<io::Result<usize>>) -> Compat<Script> {
        Compat::new(Script {
            answers,
            offered: Vec::new(),
        })
    }

    fn tokio_read(io: &mut Compat<Script>, buf: &mut ReadBuf<'_>) -> io::Result<()> {
        let mut cx = Context::from_waker(Waker::noop());
        match TRead::poll_read(Pin::new(io), &mut cx, buf) {
            Poll::Ready(r) => r,
            Poll::Pending => panic!("the script never pends"),
        }
    }

    #[test]
    fn reads_into_uninitialised_buffer_and_zeroes_only_once() {
        let mut io = script(vec![Ok(3), Ok(2)]);
        let mut storage = [MaybeUninit::<u8>::uninit(); 16];
        let mut buf = ReadBuf::uninit(&mut storage);
        tokio_read(&mut io, &mut buf).unwrap();
        assert_eq!(buf.filled(), &[0, 1, 2]);
        assert_eq!(
            buf.initialized().len(),
            16,
            "the unfilled part was zeroed once"
        );
        tokio_read(&mut io, &mut buf).unwrap();
        assert_eq!(buf.filled(), &[0, 1, 2, 0, 1]);
        assert_eq!(io.get_ref().offered, vec![16, 13]);
    }

    #[test]
    fn a_huge_buffer_is_offered_in_bounded_pieces() {
        let mut io = script(vec![Ok(10)]);
        let mut storage = vec![MaybeUninit::<u8>::uninit(); INIT_LIMIT * 4];
        let mut buf = ReadBuf::uninit(&mut storage);
        tokio_read(&mut io, &mut buf).unwrap();
        assert_eq!(buf.filled().len(), 10);
        assert_eq!(buf.initialized().len(), INIT_LIMIT);
        assert_eq!(io.get_ref().offered, vec![INIT_LIMIT]);
    }

    #[test]
    fn an_overlong_count_is_an_error_not_a_panic() {
        let mut io = script(vec![Ok(9)]);
        let mut storage = [0u8; 4];
        let mut buf = ReadBuf::new(&mut storage);
        let err = tokio_read(&mut io, &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(buf.filled().is_empty());
    }

    #[test]
    fn errors_and_end_of_stream_pass_through() {
        let mut io = script(vec![Err(io::ErrorKind::ConnectionReset.into()), Ok(0)]);
        let mut storage = [0u8; 4];
        let mut buf = ReadBuf::new(&mut storage);
        let err = tokio_read(&mut io, &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
        tokio_read(&mut io, &mut buf).unwrap();
        assert!(buf.filled().is_empty(), "end of stream is an empty read");
    }

    /// A writer of either family that records what it was asked to do.
    #[derive(Default)]
    struct Recorder {
        calls: Vec<String>,
    }

    impl FWrite for Recorder {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.calls.push(format!("write {}", buf.len()));
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let lens: Vec<usize> = bufs.iter().map(|b| b.len()).collect();
            self.calls.push(format!("writev {lens:?}"));
            Poll::Ready(Ok(lens.iter().sum()))
        }
        fn poll_flush(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.calls.push("flush".into());
            Poll::Ready(Ok(()))
        }
        fn poll_close(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.calls.push("close".into());
            Poll::Ready(Ok(()))
        }
    }

    impl TWrite for Recorder {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            FWrite::poll_write(self, cx, buf)
        }
        fn poll_write_vectored(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            FWrite::poll_write_vectored(self, cx, bufs)
        }
        fn is_write_vectored(&self) -> bool {
            true
        }
        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            FWrite::poll_flush(self, cx)
        }
        fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.calls.push("shutdown".into());
            Poll::Ready(Ok(()))
        }
    }

    fn ready<T>(p: Poll<T>) -> T {
        match p {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("the recorder never pends"),
        }
    }

    #[test]
    fn tokio_side_forwards_vectored_writes_flush_and_shutdown_as_close() {
        let mut io = Compat::new(Recorder::default());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(TWrite::is_write_vectored(&io));
        let bufs = [IoSlice::new(b"ab"), IoSlice::new(b"cde")];
        let n = ready(TWrite::poll_write_vectored(
            Pin::new(&mut io),
            &mut cx,
            &bufs,
        ))
        .unwrap();
        assert_eq!(n, 5);
        ready(TWrite::poll_flush(Pin::new(&mut io), &mut cx)).unwrap();
        ready(TWrite::poll_shutdown(Pin::new(&mut io), &mut cx)).unwrap();
        assert_eq!(io.get_ref().calls, ["writev [2, 3]", "flush", "close"]);
    }

    #[test]
    fn futures_side_forwards_vectored_writes_flush_and_close_as_shutdown() {
        let mut io = Compat::new(Recorder::default());
        let mut cx = Context::from_waker(Waker::noop());
        let bufs = [IoSlice::new(b"a"), IoSlice::new(b"bc")];
        let n = ready(FWrite::poll_write_vectored(
            Pin::new(&mut io),
            &mut cx,
            &bufs,
        ))
        .unwrap();
        assert_eq!(n, 3);
        ready(FWrite::poll_flush(Pin::new(&mut io), &mut cx)).unwrap();
        ready(FWrite::poll_close(Pin::new(&mut io), &mut cx)).unwrap();
        assert_eq!(io.get_ref().calls, ["writev [1, 2]", "flush", "shutdown"]);
    }

    #[test]
    fn a_tokio_reader_reads_into_a_slice() {
        // `&[u8]` is a tokio `AsyncRead`.
        let mut io = Compat::new(&b"hello"[..]);
        let mut out = [0u8; 3];
        let mut cx = Context::from_waker(Waker::noop());
        let n = match FRead::poll_read(Pin::new(&mut io), &mut cx, &mut out) {
            Poll::Ready(r) => r.unwrap(),
            Poll::Pending => unreachable!(),
        };
        assert_eq!(&out[..n], b"hel");
    }
}
