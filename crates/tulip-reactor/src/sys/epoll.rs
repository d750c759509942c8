//! The epoll backend (the Linux default): epoll, an eventfd for cross-thread wake-ups and a
//! timerfd for sub-millisecond deadlines, through rustix's safe wrappers (one `borrow_raw`
//! aside, in `modify`).
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
use crate::reactor::Reactor;
use crate::readiness::{ARM_IN, ARM_OUT, Cleared, Registration};
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

/// The epoll backend's per-source state: the narrowing of the registration after redundant
/// events (`readiness.rs`, where the protocol lives and is model-checked).
///
/// A registration starts with both directions, edge-triggered, and on the fast path it is
/// never touched: a task's clear costs nothing more unless the direction was disarmed. Only
/// a source whose events keep bringing no news (a busy UDP socket: an edge for every datagram
/// in, an `EPOLLOUT` for every datagram out, 1.4 `epoll_wait`s per echo) is narrowed.
#[derive(Debug, Default)]
pub(crate) struct SourceState(Registration);

impl SourceState {
    pub(crate) fn new() -> SourceState {
        SourceState(Registration::new())
    }

    /// After the reactor recorded an event of `source` (whose state this is): counts it when
    /// it brought no new readiness (`redundant`) and narrows the registration at the limit.
    /// Runs under the reactor's sources lock, so `source`'s descriptor is open.
    #[inline]
    pub(crate) fn after_event(&self, source: &Source, redundant: bool) {
        self.0
            .after_event(source.readiness(), redundant, |armed| modify(source, armed));
    }

    /// After a task cleared a direction of `source` (whose state this is): re-arms it in the
    /// kernel when the clear re-armed it in the word. Runs in an operation on a live `Async`,
    /// which owns the descriptor.
    #[inline]
    pub(crate) fn after_clear(&self, source: &Source, cleared: Cleared) {
        self.0
            .after_clear(source.readiness(), cleared, |armed| modify(source, armed));
    }

    /// What the kernel was last told (`ARM_*` bits), for tests.
    #[cfg(test)]
    fn told(&self) -> u8 {
        self.0.told()
    }
}

/// Changes `source`'s registration to report the directions `armed` (and hang-ups, always).
fn modify(source: &Source, armed: u8) {
    let mut flags = EventFlags::RDHUP | EventFlags::ET;
    if armed & ARM_IN != 0 {
        flags |= EventFlags::IN;
    }
    if armed & ARM_OUT != 0 {
        flags |= EventFlags::OUT;
    }
    #[allow(unsafe_code)]
    // SAFETY: the descriptor is open for the duration of this call: `after_event` runs while
    // the reactor holds the sources lock with `source` registered (an `Async` closes its
    // descriptor only after `Reactor::deregister` took that lock), and `after_clear` runs in
    // an operation on a live `Async`, which owns it.
    let fd = unsafe { BorrowedFd::borrow_raw(source.fd) };
    // Fails only for a descriptor being deregistered at this moment (ENOENT): then nobody
    // will wait on it.
    let _ = epoll::modify(
        &Reactor::get().poller.epoll,
        fd,
        EventData::new_u64(source.key as u64),
        flags,
    );
}

pub(crate) struct Poller {
    pub(crate) epoll: OwnedFd,
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

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;
    use std::os::fd::AsFd;

    use super::*;
    use crate::readiness::{ARM_BOTH, STRIKES};
    use crate::source::Dir;

    fn armed(source: &Source) -> u8 {
        source.sys.told()
    }

    /// A non-blocking UDP socket registered with the reactor (a datagram source).
    fn udp_source() -> (UdpSocket, std::sync::Arc<Source>) {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_nonblocking(true).unwrap();
        let source = Reactor::get().register(sock.as_fd(), false).unwrap();
        (sock, source)
    }

    #[test]
    fn a_redundant_event_narrows_and_a_clear_rearms() {
        let (sock, source) = udp_source();
        let reactor = Reactor::get();
        let mut wakers = Vec::new();
        let both = Event {
            key: source.key,
            readable: true,
            writable: true,
            read_closed: false,
            write_closed: false,
        };
        // A fresh source is optimistically ready both ways: an event brings nothing new,
        // but a few such events are expected of any new socket.
        for _ in 0..STRIKES {
            source.set_ready(both, &mut wakers);
        }
        assert_eq!(armed(&source), ARM_BOTH, "narrowed too early");
        source.set_ready(both, &mut wakers);
        assert_eq!(
            armed(&source),
            0,
            "both directions latched: nothing to report"
        );
        // A task that gets WouldBlock on a read clears the bit and re-arms the read edge.
        let snap = source.snapshot();
        source.clear_ready(Dir::Read, snap);
        assert_eq!(armed(&source), ARM_IN);
        // An event that brings read readiness is news: the registration stays as it is.
        source.set_ready(both, &mut wakers);
        assert_eq!(armed(&source), ARM_IN);
        // The next ones are not, and the write direction stays disarmed too.
        for _ in 0..STRIKES {
            source.set_ready(both, &mut wakers);
        }
        assert_eq!(armed(&source), ARM_IN, "the strikes start again after news");
        source.set_ready(both, &mut wakers);
        assert_eq!(armed(&source), 0);
        let snap = source.snapshot();
        source.clear_ready(Dir::Write, snap);
        assert_eq!(armed(&source), ARM_OUT);
        let snap = source.snapshot();
        source.clear_ready(Dir::Read, snap);
        assert_eq!(armed(&source), ARM_BOTH);
        reactor.deregister(&source, sock.as_fd()).unwrap();
    }

    #[test]
    fn narrowing_keeps_a_direction_that_is_unready() {
        let (sock, source) = udp_source();
        let reactor = Reactor::get();
        let snap = source.snapshot();
        source.clear_ready(Dir::Read, snap);
        assert_eq!(
            armed(&source),
            ARM_BOTH,
            "a clear of an armed direction costs nothing"
        );
        // A write edge while the socket is already writable and not readable: stop
        // reporting writes, keep reporting reads (someone may wait for them).
        let mut wakers = Vec::new();
        let write = Event {
            key: source.key,
            readable: false,
            writable: true,
            read_closed: false,
            write_closed: false,
        };
        for _ in 0..=STRIKES {
            source.set_ready(write, &mut wakers);
        }
        assert_eq!(armed(&source), ARM_IN);
        reactor.deregister(&source, sock.as_fd()).unwrap();
    }
}
