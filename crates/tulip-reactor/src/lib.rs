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
//! - [`Reactor`] and [`ReactorLock`] are the hooks an executor uses to drive the loop.
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

#![warn(clippy::undocumented_unsafe_blocks)]

mod block_on;
mod io;
mod reactor;
mod source;
mod sys;
mod timer;

pub use block_on::{EnterGuard, block_on, enter, try_enter};
pub use io::{Async, Readable};
pub use reactor::{Reactor, ReactorLock};
pub use timer::{
    Elapsed, Interval, MissedTickBehavior, Sleep, TICK_NANOS, Timeout, Timer, armed_timers,
    interval, interval_at, sleep, sleep_until, timeout, timeout_at,
};
