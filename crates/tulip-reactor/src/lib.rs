//! tulip's event loop core: an edge-triggered epoll reactor, [`Async<T>`] I/O handles, timers
//! on a hierarchical wheel, and [`block_on`].
//!
//! This is the layer under asyncio's selector event loop. It knows file descriptors, deadlines
//! and wakers, and nothing about tasks: the executor above decides which thread drives the
//! reactor and when. On its own, `block_on` is enough to run one future doing I/O and timers.
//!
//! - [`Async<T>`] registers any non-blocking file descriptor (sockets, pipes) once, in
//!   edge-triggered mode, and provides `AsyncRead`/`AsyncWrite` and `read_with`/`write_with`.
//! - [`sleep`], [`timeout`], [`interval`] and the low-level [`Timer`] fire within a few
//!   microseconds of their deadline (timerfd-backed waits, 4 µs wheel ticks).
//! - [`Seat`] is the one hook an executor uses to drive the loop: an idle thread waits in the
//!   reactor or parks, a busy one polls it, and a [`SeatWaker`] wakes either. Which thread
//!   drives follows a small state machine with numbered rules, model-checked with loom
//!   (`handoff.rs`, `tests/loom.rs`).
//!
//! # Examples
//!
//! ```
//! use std::net::UdpSocket;
//! use std::time::Duration;
//! use tulip_reactor::{block_on, timeout, Async};
//!
//! # fn main() -> std::io::Result<()> {
//! let a = Async::new(UdpSocket::bind("127.0.0.1:0")?)?;
//! let b = UdpSocket::bind("127.0.0.1:0")?;
//! b.send_to(b"hello", a.get_ref().local_addr()?)?;
//! let mut buf = [0; 16];
//! let (n, _) = block_on(timeout(Duration::from_secs(5), a.read_with(|s| s.recv_from(&mut buf))))??;
//! assert_eq!(&buf[..n], b"hello");
//! # Ok(())
//! # }
//! ```

// `unsafe` is allowed only where it is needed, item by item (`sys`'s `Send` for epoll's event
// records, and the `BorrowedFd::borrow_raw` with which a backend changes a live source's
// registration), each with a `// SAFETY:` comment.
#![deny(unsafe_code)]

// Under `--cfg loom` only the hand-off state machine, the readiness word and their sync shim
// are built, for `tests/loom.rs`: epoll, sources and timers are std-only (and loom has no
// clock).
#[cfg(not(loom))]
mod block_on;
#[cfg(not(loom))]
mod fallback;
mod handoff;
#[cfg(not(loom))]
mod io;
#[cfg(loom)]
#[doc(hidden)]
pub mod loom_models;
#[cfg(not(loom))]
mod reactor;
mod readiness;
#[cfg(not(loom))]
mod seat;
#[cfg(not(loom))]
mod source;
mod sync;
#[cfg(not(loom))]
mod sys;
#[cfg(not(loom))]
mod timer;

#[cfg(not(loom))]
pub use block_on::{EnterGuard, block_on, enter, try_enter};
#[cfg(not(loom))]
pub use handoff::Release;
#[cfg(not(loom))]
pub use io::{Async, Readable};
#[cfg(not(loom))]
pub use reactor::Reactor;
#[cfg(not(loom))]
pub use seat::{Seat, SeatWaker};
/// The event-notification backend this build of the reactor uses: `"epoll"` (epoll called
/// directly, the Linux default) or `"polling"` (the `polling` crate: kqueue, event ports, or
/// epoll on Linux with the cargo feature `polling-backend`).
///
/// # Examples
///
/// ```
/// let backend = tulip_reactor::backend();
/// assert!(backend == "epoll" || backend == "polling");
/// ```
#[cfg(not(loom))]
pub fn backend() -> &'static str {
    sys::BACKEND
}

#[cfg(not(loom))]
pub use timer::{
    Elapsed, Interval, MissedTickBehavior, Sleep, TICK_NANOS, Timeout, Timer, armed_timers,
    interval, interval_at, sleep, sleep_until, timeout, timeout_at,
};
