//! The fault-injecting stream wrapper.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::{AsyncRead, AsyncWrite};

use crate::plan::{Faults, Rng};

/// Counts of what [`FaultyIo`] injected and passed through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FaultStats {
    /// Operations failed with `Interrupted`.
    pub interrupts: u64,
    /// Operations answered with a spurious `Pending`.
    pub pendings: u64,
    /// Reads cut short.
    pub short_reads: u64,
    /// Writes cut short.
    pub short_writes: u64,
    /// Operations failed with `ConnectionReset`.
    pub resets: u64,
    /// Bytes delivered to the caller by reads.
    pub bytes_read: u64,
    /// Bytes accepted from the caller by writes.
    pub bytes_written: u64,
}

/// A stream that injects faults into another one (see the [crate docs](crate)).
///
/// `AsyncRead` and `AsyncWrite` are implemented when the inner stream has them; `poll_flush`
/// and `poll_close` may return a spurious `Pending` too, never an error of their own.
#[derive(Debug)]
pub struct FaultyIo<S> {
    inner: S,
    faults: Faults,
    rng: Rng,
    stats: FaultStats,
}

/// What a roll decided for one operation.
enum Verdict {
    Interrupt,
    Pending,
    Go { max: usize },
}

impl<S> FaultyIo<S> {
    /// Wraps `inner`, injecting `faults`.
    pub fn new(inner: S, faults: Faults) -> FaultyIo<S> {
        let rng = Rng::new(faults.seed);
        FaultyIo {
            inner,
            faults,
            rng,
            stats: FaultStats::default(),
        }
    }

    /// What was injected so far.
    pub fn stats(&self) -> FaultStats {
        self.stats
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped stream, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the stream.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Rolls for an operation on a buffer of `len` bytes, `done` bytes into a direction whose
    /// reset point is `reset`.
    fn roll(
        &mut self,
        cx: &mut Context<'_>,
        len: usize,
        done: u64,
        reset: Option<u64>,
    ) -> io::Result<Verdict> {
        if let Some(at) = reset
            && done >= at
        {
            self.stats.resets += 1;
            return Err(io::Error::from(io::ErrorKind::ConnectionReset));
        }
        if self.rng.chance(self.faults.interrupt_pct) {
            self.stats.interrupts += 1;
            return Ok(Verdict::Interrupt);
        }
        if self.rng.chance(self.faults.pending_pct) {
            self.stats.pendings += 1;
            // A spurious readiness: the task is polled again at once and must cope.
            cx.waker().wake_by_ref();
            return Ok(Verdict::Pending);
        }
        let mut max = len;
        if len > 1 && self.rng.chance(self.faults.short_pct) {
            max = self.rng.between_one_and(len - 1);
        }
        // Stop exactly at the reset point, so the reset comes at a known byte count.
        if let Some(at) = reset {
            max = max
                .min(usize::try_from(at - done).unwrap_or(usize::MAX))
                .max(1);
        }
        Ok(Verdict::Go { max })
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FaultyIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if buf.is_empty() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let max = match this.roll(
            cx,
            buf.len(),
            this.stats.bytes_read,
            this.faults.reset_read_after,
        )? {
            Verdict::Interrupt => return Poll::Ready(Err(io::ErrorKind::Interrupted.into())),
            Verdict::Pending => return Poll::Pending,
            Verdict::Go { max } => max,
        };
        let n = std::task::ready!(Pin::new(&mut this.inner).poll_read(cx, &mut buf[..max]))?;
        if max < buf.len() && n == max {
            this.stats.short_reads += 1;
        }
        this.stats.bytes_read += n as u64;
        Poll::Ready(Ok(n))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FaultyIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if buf.is_empty() {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        }
        let max = match this.roll(
            cx,
            buf.len(),
            this.stats.bytes_written,
            this.faults.reset_write_after,
        )? {
            Verdict::Interrupt => return Poll::Ready(Err(io::ErrorKind::Interrupted.into())),
            Verdict::Pending => return Poll::Pending,
            Verdict::Go { max } => max,
        };
        let n = std::task::ready!(Pin::new(&mut this.inner).poll_write(cx, &buf[..max]))?;
        if max < buf.len() && n == max {
            this.stats.short_writes += 1;
        }
        this.stats.bytes_written += n as u64;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.rng.chance(this.faults.pending_pct) {
            this.stats.pendings += 1;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use futures_lite::future::block_on;
    use futures_lite::io::Cursor;
    use futures_lite::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Reads everything, retrying `Interrupted` as `std::io` helpers do.
    fn drain(io: &mut FaultyIo<Cursor<Vec<u8>>>) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0; 64];
        loop {
            match block_on(io.read(&mut buf)) {
                Ok(0) => return Ok(out),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    #[test]
    fn benign_faults_keep_every_byte() {
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        for seed in 0..20 {
            let mut io = FaultyIo::new(Cursor::new(data.clone()), Faults::with_interrupts(seed));
            assert_eq!(drain(&mut io).unwrap(), data, "seed {seed}");
            let s = io.stats();
            assert!(
                s.interrupts > 0 && s.pendings > 0 && s.short_reads > 0,
                "seed {seed}: {s:?}"
            );
            assert_eq!(s.bytes_read, data.len() as u64);
        }
    }

    #[test]
    fn reset_comes_at_the_exact_byte() {
        for at in [0u64, 1, 63, 64, 999] {
            let mut io = FaultyIo::new(
                Cursor::new(vec![7; 2000]),
                Faults::benign(at).reset_reads_after(at),
            );
            let err = drain(&mut io).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
            assert_eq!(io.stats().bytes_read, at);
        }
    }

    #[test]
    fn writes_short_and_reset() {
        let mut io = FaultyIo::new(
            Cursor::new(Vec::new()),
            Faults::benign(5).reset_writes_after(100),
        );
        let err = block_on(io.write_all(&[1; 500])).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
        assert_eq!(io.get_ref().get_ref().len(), 100);
        assert!(io.stats().short_writes > 0);
    }

    #[test]
    fn same_seed_same_faults() {
        let run = |seed| {
            let mut io = FaultyIo::new(Cursor::new(vec![0; 4096]), Faults::with_interrupts(seed));
            drain(&mut io).unwrap();
            io.stats()
        };
        assert_eq!(run(9), run(9));
        assert_ne!(run(9), run(10));
    }
}
