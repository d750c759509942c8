//! The epoll backend (the Linux default): epoll, an eventfd for cross-thread wake-ups and a
//! timerfd for sub-millisecond deadlines, through rustix's safe wrappers.
//!
//! Why not the `polling` backend (`polling.rs`) here too: its `wait` re-arms its internal eventfd and
//! timerfd on every call, three to five system calls around each `epoll_wait`. A reactor waits
//! once or twice per I/O round trip, so that tax made a loopback ping-pong 1.5× slower than
//! tokio's (docs/BENCHMARKS.md). Here a wait is one `epoll_wait`; the timerfd is re-armed only
//! when the earliest deadline changes, and the eventfd is read only after a notification.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::Event;
use crate::source::Source;
use rustix::event::epoll::{self, CreateFlags, EventData, EventFlags};
use rustix::event::{EventfdFlags, eventfd};
use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
    timerfd_settime,
};

/// Event key of the notification eventfd.
const NOTIFY_KEY: u64 = u64::MAX;
/// Event key of the deadline timerfd.
const TIMER_KEY: u64 = u64::MAX - 1;

/// epoll reports `EPOLLRDHUP`, `EPOLLHUP` and `EPOLLERR`: a stream's hang-up is known.
pub(crate) const HANGUP_EVENTS: bool = true;

/// Nothing per source: registrations are edge-triggered and never need re-arming.
#[derive(Debug)]
pub(crate) struct SourceState;

impl SourceState {
    pub(crate) const fn new() -> SourceState {
        SourceState
    }

    /// A no-op: edge-triggered registrations stay armed.
    #[inline(always)]
    pub(crate) fn after_event(&self, _source: &Source) {}

    /// A no-op: edge-triggered registrations stay armed.
    #[inline(always)]
    pub(crate) fn after_clear(&self, _source: &Source) {}
}

pub(crate) struct Poller {
    epoll: OwnedFd,
    event_fd: OwnedFd,
    timer_fd: OwnedFd,
    /// Set by `notify`, cleared by the waiter when it consumes the notification. Only the
    /// `notify` that sets it writes to the eventfd, so a burst of notifications costs one
    /// system call. A waiter that finds it set does not block (see `wait`).
    notified: AtomicBool,
}

/// Per-driver buffers and the timerfd's current setting (only the lock holder touches it).
pub(crate) struct Events {
    list: RawEvents,
    /// Ready events of registered sources from the last wait.
    pub(crate) ready: Vec<Event>,
    /// The deadline the timerfd is armed for, as a duration-since-reactor-start in ticks.
    armed_tick: Option<u64>,
}

/// epoll's event records. They hold only flags and the `u64` keys we registered, but rustix
/// types the data field as a union with a pointer, which makes them `!Send`.
struct RawEvents(Vec<epoll::Event>);

// SAFETY: the records are plain data: we only ever store `u64` keys in them, never pointers,
// and the buffer is only touched by the thread holding the reactor lock.
#[allow(unsafe_code)]
unsafe impl Send for RawEvents {}

impl Events {
    pub(crate) fn new() -> Events {
        Events {
            list: RawEvents(Vec::with_capacity(1024)),
            ready: Vec::with_capacity(1024),
            armed_tick: None,
        }
    }
}

impl Poller {
    pub(crate) fn new() -> io::Result<Poller> {
        let epoll = epoll::create(CreateFlags::CLOEXEC)?;
        let event_fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        let timer_fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::CLOEXEC | TimerfdFlags::NONBLOCK,
        )?;
        let edge_in = EventFlags::IN | EventFlags::ET;
        epoll::add(&epoll, &event_fd, EventData::new_u64(NOTIFY_KEY), edge_in)?;
        epoll::add(&epoll, &timer_fd, EventData::new_u64(TIMER_KEY), edge_in)?;
        Ok(Poller {
            epoll,
            event_fd,
            timer_fd,
            notified: AtomicBool::new(false),
        })
    }

    /// Registers `fd` for both directions, edge-triggered, under `key`.
    pub(crate) fn add(&self, fd: BorrowedFd<'_>, key: usize) -> io::Result<()> {
        let flags = EventFlags::IN | EventFlags::OUT | EventFlags::RDHUP | EventFlags::ET;
        Ok(epoll::add(
            &self.epoll,
            fd,
            EventData::new_u64(key as u64),
            flags,
        )?)
    }

    pub(crate) fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        Ok(epoll::delete(&self.epoll, fd)?)
    }

    /// Wakes the current or next `wait`.
    pub(crate) fn notify(&self) {
        if !self.notified.swap(true, Ordering::SeqCst) {
            let _ = rustix::io::write(&self.event_fd, &1u64.to_ne_bytes());
        }
    }

    /// Arms the timerfd to fire `after` from now, for the deadline `tick`, unless it already is.
    pub(crate) fn arm_timer(
        &self,
        events: &mut Events,
        tick: u64,
        after: Duration,
    ) -> io::Result<()> {
        if events.armed_tick == Some(tick) {
            return Ok(());
        }
        // A zero it_value would disarm the timer; a deadline that is due fires in 1 ns.
        let after = after.max(Duration::from_nanos(1));
        let spec = Itimerspec {
            it_interval: Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: Timespec {
                tv_sec: after.as_secs() as _,
                tv_nsec: after.subsec_nanos() as _,
            },
        };
        timerfd_settime(&self.timer_fd, TimerfdTimerFlags::empty(), &spec)?;
        events.armed_tick = Some(tick);
        Ok(())
    }

    /// Waits for events: `None` blocks until an event, the timerfd or a notification;
    /// `Some(ZERO)` only polls. Fills `events.ready`.
    pub(crate) fn wait(&self, events: &mut Events, block: bool) -> io::Result<()> {
        events.list.0.clear();
        events.ready.clear();
        // A notification that raced with the previous wait's drain left the flag set but maybe
        // no eventfd count: honour it by not blocking.
        let block = block && !self.take_notification();
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let timeout = if block { None } else { Some(&zero) };
        match epoll::wait(
            &self.epoll,
            rustix::buffer::spare_capacity(&mut events.list.0),
            timeout,
        ) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        for ev in &events.list.0 {
            let flags = ev.flags;
            match ev.data.u64() {
                NOTIFY_KEY => {
                    self.take_notification();
                }
                TIMER_KEY => {
                    let mut buf = [0u8; 8];
                    let _ = rustix::io::read(&self.timer_fd, &mut buf);
                    events.armed_tick = None;
                }
                key => {
                    let err = EventFlags::HUP | EventFlags::ERR;
                    events.ready.push(Event {
                        key: key as usize,
                        readable: flags
                            .intersects(EventFlags::IN | EventFlags::RDHUP | EventFlags::PRI | err),
                        writable: flags.intersects(EventFlags::OUT | err),
                        read_closed: flags.intersects(EventFlags::RDHUP | err),
                        write_closed: flags.intersects(err),
                    });
                }
            }
        }
        let list = &mut events.list.0;
        if list.len() == list.capacity() {
            // A full batch: make room so a busy reactor does not take many waits to drain.
            list.reserve(list.capacity());
        }
        Ok(())
    }

    /// Consumes a pending notification: clears the flag first, then drains the eventfd. A
    /// `notify` between the two writes again, and if the drain eats that write the flag is
    /// still set for the next `wait` to see: no notification is ever lost.
    fn take_notification(&self) -> bool {
        if self.notified.swap(false, Ordering::SeqCst) {
            let mut buf = [0u8; 8];
            let _ = rustix::io::read(&self.event_fd, &mut buf);
            true
        } else {
            false
        }
    }
}

impl AsFd for Poller {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.epoll.as_fd()
    }
}
