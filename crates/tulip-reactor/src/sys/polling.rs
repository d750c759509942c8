//! The portable backend: the `polling` crate (kqueue on macOS and the BSDs, event ports on
//! illumos and Solaris, epoll on Linux and Android). The default on every target but Linux,
//! and on Linux with the cargo feature `polling-backend`.
//!
//! The reactor above it is the same as with epoll: sources are registered once for both
//! directions, readiness is latched in the source, and a task clears it only on `WouldBlock`.
//! What differs:
//!
//! - Registrations are edge-triggered where the poller supports it (epoll, kqueue). Event
//!   ports only have one-shot mode: a registration is disarmed by each event it reports, so
//!   the source re-arms it, for the directions that are not ready, after each event
//!   (`SourceState::after_event`) and after a task clears a direction (`SourceState::after_clear`). The environment
//!   variable `TULIP_REACTOR_ONESHOT=1`, read once when the reactor starts, forces that mode on
//!   any poller so that it can be tested where edge mode exists.
//! - Deadlines are passed to each wait (`polling` arms its own timer), and `notify` is
//!   `polling`'s, which coalesces like ours.
//! - kqueue does not say that a stream hung up ([`HANGUP_EVENTS`] is false), so a short read
//!   or write does not clear readiness here: one more system call, which returns end of
//!   stream, `WouldBlock` or the error.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use polling::PollMode;

use super::Event;
use crate::reactor::Reactor;
use crate::source::Source;

/// kqueue, as `polling` exposes it, carries no hang-up flag: only readable and writable.
pub(crate) const HANGUP_EVENTS: bool = false;

/// Serialises the re-arming of one one-shot registration, so that the last `modify` is
/// computed from the latest readiness.
#[derive(Debug)]
pub(crate) struct SourceState {
    arm: Mutex<()>,
}

pub(crate) struct Poller {
    poller: polling::Poller,
    /// `Edge`, or `Oneshot` where the poller has no edge mode (or the test switch asks).
    mode: PollMode,
}

/// Per-driver buffers and the next deadline (only the lock holder touches them).
pub(crate) struct Events {
    list: polling::Events,
    /// Ready events of registered sources from the last wait.
    pub(crate) ready: Vec<Event>,
    /// When the next blocking wait must return, set by [`Poller::arm_timer`].
    deadline: Option<Instant>,
}

impl Events {
    pub(crate) fn new() -> Events {
        Events {
            list: polling::Events::new(),
            ready: Vec::with_capacity(1024),
            deadline: None,
        }
    }
}

impl Poller {
    pub(crate) fn new() -> io::Result<Poller> {
        let poller = polling::Poller::new()?;
        let forced = std::env::var_os("TULIP_REACTOR_ONESHOT").is_some_and(|v| v == "1");
        let mode = if poller.supports_edge() && !forced {
            PollMode::Edge
        } else {
            PollMode::Oneshot
        };
        Ok(Poller { poller, mode })
    }

    /// Registers `fd` for both directions under `key`: edge-triggered, or one-shot and
    /// re-armed by the source's hooks.
    pub(crate) fn add(&self, fd: BorrowedFd<'_>, key: usize) -> io::Result<()> {
        // SAFETY: `polling` requires the descriptor to be deleted before it is closed. The
        // reactor registers only descriptors owned by an `Async`, which deletes them
        // (`Reactor::deregister`) before it closes or returns them.
        #[allow(unsafe_code)]
        unsafe {
            self.poller
                .add_with_mode(fd.as_raw_fd(), polling::Event::all(key), self.mode)
        }
    }

    pub(crate) fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        self.poller.delete(fd)
    }

    /// Wakes the current or next `wait`.
    pub(crate) fn notify(&self) {
        // It fails only if the notification descriptor cannot be written, which a full
        // counter or pipe also reports: a wake-up is pending either way.
        let _ = self.poller.notify();
    }

    /// Makes the next blocking `wait` return `after` from now, for the deadline `tick`.
    pub(crate) fn arm_timer(
        &self,
        events: &mut Events,
        _tick: u64,
        after: Duration,
    ) -> io::Result<()> {
        // A deadline past `Instant`'s range is no deadline at all.
        events.deadline = Instant::now().checked_add(after);
        Ok(())
    }

    /// Waits for events: blocks (until an event, the armed deadline or a notification) if
    /// `block`, else only polls. Fills `events.ready`.
    pub(crate) fn wait(&self, events: &mut Events, block: bool) -> io::Result<()> {
        events.list.clear();
        events.ready.clear();
        let deadline = events.deadline.take();
        let timeout = if block {
            deadline.map(|d| d.saturating_duration_since(Instant::now()))
        } else {
            Some(Duration::ZERO)
        };
        match self.poller.wait(&mut events.list, timeout) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        events.ready.extend(events.list.iter().map(|ev| Event {
            key: ev.key,
            readable: ev.readable,
            writable: ev.writable,
            read_closed: false,
            write_closed: false,
        }));
        let cap = events.list.capacity();
        if events.list.len() == cap.get() {
            // A full batch: make room so a busy reactor does not take many waits to drain.
            events.list = polling::Events::with_capacity(cap.saturating_add(cap.get()));
        }
        Ok(())
    }

    /// Re-arms a one-shot registration for the directions of `source` that are not ready.
    fn rearm(&self, source: &Source) {
        if self.mode != PollMode::Oneshot {
            return;
        }
        let _serial = source.sys.arm.lock().unwrap_or_else(|e| e.into_inner());
        let (read, write) = source.unready();
        if !read && !write {
            // Both directions are latched ready: nobody can wait, so nothing to report. The
            // task that clears one re-arms.
            return;
        }
        // SAFETY: the descriptor is open. `after_clear` runs in an operation on a live
        // `Async`, which owns it; `after_event` runs while the reactor holds the sources
        // lock with `source` still registered, and an `Async` closes or returns its
        // descriptor only after `Reactor::deregister` took that lock to remove it.
        #[allow(unsafe_code)]
        let fd = unsafe { BorrowedFd::borrow_raw(source.fd) };
        // Fails only for a descriptor being deregistered at this moment (ENOENT): then
        // nobody will wait on it.
        let _ = self.poller.modify_with_mode(
            fd,
            polling::Event::new(source.key, read, write),
            PollMode::Oneshot,
        );
    }
}

impl std::fmt::Debug for Poller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller").field("mode", &self.mode).finish()
    }
}

impl SourceState {
    pub(crate) fn new() -> SourceState {
        SourceState {
            arm: Mutex::new(()),
        }
    }

    /// After the reactor recorded an event of `source` (whose state this is): a one-shot
    /// registration is disarmed now.
    pub(crate) fn after_event(&self, source: &Source, _redundant: bool) {
        Reactor::get().poller.rearm(source);
    }

    /// After a task cleared a direction of `source`: that direction's next edge must be
    /// reported.
    pub(crate) fn after_clear(&self, source: &Source, _cleared: crate::readiness::Cleared) {
        Reactor::get().poller.rearm(source);
    }
}
