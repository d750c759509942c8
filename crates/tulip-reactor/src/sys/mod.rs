//! The operating-system side of the reactor, with two backends behind one interface.
//!
//! - `epoll.rs`: epoll, an eventfd and a timerfd called directly through rustix. The Linux
//!   default, because a wait is one `epoll_wait` (see that module for the measurements).
//! - `polling.rs`: the `polling` crate (kqueue on macOS and the BSDs, event ports on illumos,
//!   epoll elsewhere). The default on every other target, and selectable on Linux with the
//!   cargo feature `polling-backend` so that both are built and tested on one machine.
//!
//! Exactly one of them is compiled, and it provides the same items; the rest of the crate only
//! names them through this module:
//!
//! - `Poller`: `new`, `add(fd, key)` (both directions, edge-triggered), `delete(fd)`,
//!   `notify()` (coalesced; wakes the current or the next `wait`), `arm_timer(events, tick,
//!   after)` (the next `wait` that blocks returns by then) and `wait(events, block)` (fills
//!   `events.ready`).
//! - `Events`: the driver's buffers, owned by whoever holds the reactor lock.
//! - `SourceState`: what a backend keeps in each [`Source`](crate::source::Source), with the
//!   hooks `after_event(source, redundant)` and `after_clear(source, cleared)` that the source
//!   calls: they re-arm a one-shot registration on pollers without edge-triggered mode, such
//!   as event ports; on epoll they narrow a registration after redundant events and re-arm a
//!   cleared direction that was left out (both rare: a clear that re-arms says so in its
//!   result, `readiness::Cleared`, so the fast path costs nothing).
//! - `HANGUP_EVENTS`: whether events say that a stream hung up (`Event::read_closed` and
//!   `write_closed`). kqueue, through `polling`, does not, so on that backend a stream only
//!   clears its readiness on `WouldBlock` (see `source.rs`, rule 4).

#[cfg(all(target_os = "linux", not(feature = "polling-backend")))]
mod epoll;
#[cfg(all(target_os = "linux", not(feature = "polling-backend")))]
pub(crate) use epoll::{Events, HANGUP_EVENTS, Poller, SourceState};

#[cfg(any(not(target_os = "linux"), feature = "polling-backend"))]
mod polling;
#[cfg(any(not(target_os = "linux"), feature = "polling-backend"))]
pub(crate) use self::polling::{Events, HANGUP_EVENTS, Poller, SourceState};

/// The name of the compiled backend: `"epoll"` or `"polling"` (for diagnostics and tests).
pub(crate) const BACKEND: &str = if cfg!(all(target_os = "linux", not(feature = "polling-backend")))
{
    "epoll"
} else {
    "polling"
};

/// One readiness event for a registered source.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Event {
    pub(crate) key: usize,
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    /// The peer hung up its sending side, or the socket failed: reads will not block again.
    /// Only ever set where `HANGUP_EVENTS` holds.
    pub(crate) read_closed: bool,
    /// The connection is gone or failed: writes will not block again.
    pub(crate) write_closed: bool,
}
