//! Readiness of one registered file descriptor, and the tasks waiting on it.
//!
//! # Protocol (why no wake-up is lost in edge-triggered mode)
//!
//! Edge-triggered epoll reports a transition once; if we missed it we would wait forever.
//! So readiness is *latched*: the reactor sets a direction's bit when an event arrives and only a
//! task that got `WouldBlock` clears it. Rules:
//!
//! 1. `readiness` packs the direction bits, the closed bits, the disarmed bits and an event
//!    counter (`readiness.rs`). The reactor bumps the counter with every event it records.
//! 2. A task reads `readiness`, tries the I/O and on `WouldBlock` clears its bit *only if the
//!    counter is unchanged* (compare-and-swap). An event that arrived in between keeps the bit
//!    set, and the task simply tries again.
//! 3. A waiting task stores its waker under `waiters`' lock and re-reads `readiness` while still
//!    holding it. The reactor sets the bit *before* taking that lock to collect wakers. Either the
//!    task sees the bit, or the reactor sees the waker.
//! 4. On a stream socket, a hang-up or error (`EPOLLRDHUP`, `EPOLLHUP`, `EPOLLERR`) latches a
//!    *closed* bit that is never cleared: no further edge will come, so every later operation must go to the kernel
//!    and see the end of stream or the error. This is what makes clearing readiness after a
//!    short read safe even when the data and the peer's FIN arrived in one edge. A backend
//!    whose events do not report hang-ups (`sys::HANGUP_EVENTS`, false for `polling`, whose
//!    kqueue events carry no such flag) cannot latch them, so there a short read or write
//!    never clears readiness: only `WouldBlock` does.
//! 5. Every clear and every recorded event calls the backend's hook (`SourceState::after_clear`,
//!    `after_event` in `sys`). The polling backend re-arms a one-shot registration there for the
//!    directions that are not ready. The epoll backend narrows an edge-triggered registration
//!    to the unready directions after events that latched nothing new (which only cost a
//!    wake-up), and re-arms a direction when a task clears it: the disarmed bits live in the
//!    readiness word, so both sides meet on one atomic (`readiness.rs`, model-checked).

use std::io;
use std::os::fd::RawFd;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use slab::Slab;

pub(crate) use crate::readiness::Dir;
use crate::readiness::{Cleared, Readiness};
use crate::sys::{self, SourceState};

#[derive(Debug, Default)]
struct Waiters {
    /// The single waker slot of `poll_read`/`poll_write` (AsyncRead/AsyncWrite): the last
    /// poller wins, as with any poll-based trait.
    poller: Option<Waker>,
    /// Wakers of `readable()`/`writable()` futures, each removing itself on drop.
    futures: Slab<Option<Waker>>,
}

#[derive(Debug)]
pub(crate) struct Source {
    pub(crate) fd: RawFd,
    pub(crate) key: usize,
    /// For stream sockets a short read or write proves the kernel buffer drained or filled, so
    /// the readiness bit can be cleared without a syscall that would return `WouldBlock`
    /// (only where the backend reports hang-ups: rule 4).
    pub(crate) stream: bool,
    readiness: Readiness,
    waiters: [Mutex<Waiters>; 2],
    /// What the backend keeps per source (rule 5).
    pub(crate) sys: SourceState,
}

impl Source {
    pub(crate) fn new(fd: RawFd, key: usize, stream: bool) -> Source {
        Source {
            fd,
            key,
            stream: stream && sys::HANGUP_EVENTS,
            // Optimistically ready: the first operation is attempted at once, and a `WouldBlock`
            // clears the bit (rule 2). This saves a round trip through epoll for fresh sockets.
            readiness: Readiness::new(),
            waiters: Default::default(),
            sys: SourceState::new(),
        }
    }

    fn waiters(&self, dir: Dir) -> std::sync::MutexGuard<'_, Waiters> {
        self.waiters[dir as usize]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Records an event (rule 1) and collects the wakers to wake.
    pub(crate) fn set_ready(&self, ev: sys::Event, wakers: &mut Vec<Waker>) {
        let edge = (ev.readable as usize) | ((ev.writable as usize) << 1);
        let closed = (ev.read_closed as usize) | ((ev.write_closed as usize) << 1);
        // Rule 4 holds for stream sockets only, where a hang-up is final. On a datagram socket
        // an error (an ICMP "port unreachable") is reported once and the next receive would
        // block again: latching it would make every WouldBlock retry at once, forever.
        let bits = if self.stream {
            edge | closed << 2
        } else {
            edge | closed
        };
        if bits == 0 {
            // Nothing to record, but a one-shot registration that fired is disarmed all the same.
            self.sys.after_event(self, false);
            return;
        }
        let prev = self.readiness.record(bits);
        // An event that latched nothing new woke the driver for nothing: the backend may
        // stop reporting those directions until a task clears one (rule 5).
        self.sys.after_event(self, prev & bits == bits);
        for dir in [Dir::Read, Dir::Write] {
            if bits & dir.ready_mask() != 0 {
                let mut w = self.waiters(dir);
                wakers.extend(w.poller.take());
                for (_, slot) in w.futures.iter_mut() {
                    wakers.extend(slot.take());
                }
            }
        }
    }

    /// Returns a readiness snapshot if `dir` is ready, else registers `cx`'s waker in the
    /// poller slot (rule 3).
    pub(crate) fn poll_ready(&self, dir: Dir, cx: &mut Context<'_>) -> Poll<usize> {
        let snap = self.readiness.load();
        if snap & dir.ready_mask() != 0 {
            return Poll::Ready(snap);
        }
        let mut w = self.waiters(dir);
        match &mut w.poller {
            Some(old) if old.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        let snap = self.readiness.load();
        if snap & dir.ready_mask() != 0 {
            Poll::Ready(snap)
        } else {
            drop(w);
            crate::fallback::waiting();
            Poll::Pending
        }
    }

    /// Like [`Source::poll_ready`] but for a waiting future with its own slot `key`.
    pub(crate) fn poll_ready_keyed(
        &self,
        dir: Dir,
        key: &mut Option<usize>,
        cx: &mut Context<'_>,
    ) -> Poll<usize> {
        let snap = self.readiness.load();
        if snap & dir.ready_mask() != 0 {
            self.remove_keyed(dir, key);
            return Poll::Ready(snap);
        }
        let mut w = self.waiters(dir);
        match key {
            Some(k) => match &mut w.futures[*k] {
                Some(old) if old.will_wake(cx.waker()) => {}
                slot => *slot = Some(cx.waker().clone()),
            },
            None => *key = Some(w.futures.insert(Some(cx.waker().clone()))),
        }
        let snap = self.readiness.load();
        if snap & dir.ready_mask() != 0 {
            if let Some(k) = key.take() {
                w.futures.remove(k);
            }
            Poll::Ready(snap)
        } else {
            drop(w);
            crate::fallback::waiting();
            Poll::Pending
        }
    }

    pub(crate) fn remove_keyed(&self, dir: Dir, key: &mut Option<usize>) {
        if let Some(k) = key.take() {
            self.waiters(dir).futures.remove(k);
        }
    }

    /// Clears `dir`'s bit if no event arrived since `snap` was read (rule 2).
    pub(crate) fn clear_ready(&self, dir: Dir, snap: usize) {
        let cleared = self.readiness.clear(dir, snap);
        if cleared != Cleared::No {
            self.sys.after_clear(self, cleared);
        }
    }

    /// The readiness word, for the backend's narrowing (`readiness.rs`).
    #[cfg_attr(
        any(not(target_os = "linux"), feature = "polling-backend"),
        expect(dead_code, reason = "only the epoll backend narrows registrations")
    )]
    pub(crate) fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    /// Whether the read and the write direction lack readiness: where a task may wait, so
    /// where the kernel must report the next edge (rule 5).
    #[cfg_attr(
        all(target_os = "linux", not(feature = "polling-backend")),
        expect(
            dead_code,
            reason = "only the one-shot re-arm of the polling backend asks"
        )
    )]
    pub(crate) fn unready(&self) -> (bool, bool) {
        let snap = self.readiness.load();
        (
            snap & Dir::Read.ready_mask() == 0,
            snap & Dir::Write.ready_mask() == 0,
        )
    }

    /// Runs a non-blocking operation until it stops returning `WouldBlock`, waiting for
    /// readiness in between; the poll-based core of `AsyncRead`/`AsyncWrite`.
    pub(crate) fn poll_io<R>(
        &self,
        dir: Dir,
        cx: &mut Context<'_>,
        mut op: impl FnMut() -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> Poll<io::Result<R>> {
        loop {
            let snap = match self.poll_ready(dir, cx) {
                Poll::Ready(s) => s,
                Poll::Pending => return Poll::Pending,
            };
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.clear_ready(dir, snap),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(r) => {
                    if self.stream && drained(&r) {
                        self.clear_ready(dir, snap);
                    }
                    return Poll::Ready(Ok(r));
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// The readiness word, as `poll_ready` would return it (for the epoll backend's tests).
    #[cfg(all(test, target_os = "linux", not(feature = "polling-backend")))]
    pub(crate) fn snapshot(&self) -> usize {
        self.readiness.load()
    }

    /// Whether `dir` is currently marked ready (a snapshot, for diagnostics and tests).
    pub(crate) fn is_ready(&self, dir: Dir) -> bool {
        self.readiness.load() & dir.ready_mask() != 0
    }
}
