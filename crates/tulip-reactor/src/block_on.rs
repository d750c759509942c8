//! [`block_on`] and [`enter`]: running a future to completion on the current thread.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use crate::reactor::Reactor;

thread_local! {
    static ENTERED: Cell<bool> = const { Cell::new(false) };
    /// The `Signal` of the `block_on` running on this thread, if any.
    static CURRENT: Cell<*const Signal> = const { Cell::new(std::ptr::null()) };
}

/// Marks the current thread as running a tulip event loop until dropped. See [`enter`].
#[derive(Debug)]
pub struct EnterGuard {
    _not_send: std::marker::PhantomData<*const ()>,
}

/// Marks the current thread as running a tulip event loop (a `block_on`, a runtime worker).
///
/// # Panics
///
/// If the thread already runs one: blocking inside a running loop would stall every task
/// that loop serves, and nesting is the classic deadlock. asyncio refuses the same thing
/// with "This event loop is already running".
pub fn enter() -> EnterGuard {
    try_enter().unwrap_or_else(|| {
        panic!(
            "tulip: block_on called from a thread that is already running a tulip event loop \
             (asyncio: \"This event loop is already running\"). Await the future instead, or \
             move the blocking work to spawn_blocking."
        )
    })
}

/// Like [`enter`], returning `None` instead of panicking when the thread already runs a loop.
pub fn try_enter() -> Option<EnterGuard> {
    ENTERED.with(|e| {
        if e.replace(true) {
            None
        } else {
            Some(EnterGuard {
                _not_send: std::marker::PhantomData,
            })
        }
    })
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        ENTERED.with(|e| e.set(false));
    }
}

/// How long `block_on` stays away from the reactor after giving it up on request.
const YIELD_PAUSE: Duration = Duration::from_millis(5);

/// Runs `fut` to completion on the current thread (asyncio's `run_until_complete`).
///
/// While the future is pending the thread drives the reactor (I/O and timers) if no other
/// thread does, and otherwise parks until woken. For many tasks at once use tulip's
/// executor; `block_on` runs exactly one future.
///
/// # Panics
///
/// If called from a thread already running tulip (see [`enter`]), and if `fut` panics.
///
/// # Examples
///
/// ```
/// let v = tulip_reactor::block_on(async { 1 + 2 });
/// assert_eq!(v, 3);
/// ```
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let _enter = enter();
    let (parker, signal) = thread_signal();
    let waker = Waker::from(signal.clone());
    let _current = CurrentSignal(CURRENT.replace(Arc::as_ptr(&signal)));
    let cx = &mut Context::from_waker(&waker);
    let mut fut = pin!(fut);
    let reactor = Reactor::get();
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return v;
        }
        // Consume a wake that came while we polled.
        if parker.park_timeout(Duration::ZERO) {
            continue;
        }
        match reactor
            .try_lock()
            .or_else(|| reactor.try_lock_or_standby(&parker))
        {
            Some(mut lock) => {
                // Drive until our own waker fires. A wake while blocked in epoll arrives as
                // a reactor notification (see `Signal::wake`).
                let yielded = loop {
                    signal.io_blocked.store(true, Ordering::SeqCst);
                    if parker.park_timeout(Duration::ZERO) {
                        signal.io_blocked.store(false, Ordering::SeqCst);
                        break false;
                    }
                    let res = lock.react(None);
                    signal.io_blocked.store(false, Ordering::SeqCst);
                    if let Err(e) = res {
                        panic!("tulip: the reactor failed: {e}");
                    }
                    if parker.park_timeout(Duration::ZERO) {
                        break false;
                    }
                    // A busy executor thread wants to poll the reactor itself (see
                    // `Reactor::request`): leave it for a moment instead of forwarding every
                    // event to it.
                    if lock.take_request() {
                        break true;
                    }
                };
                if yielded {
                    lock.yield_to_requester();
                    // Not on standby: a release by the requester must not call us back.
                    parker.park_timeout(YIELD_PAUSE);
                } else {
                    // A normal release, waking the threads on standby: we are about to poll
                    // our future, and nothing bounds how long that takes (it may even block
                    // the thread), so another thread must be free to drive meanwhile.
                    drop(lock);
                }
            }
            None => {
                // Another thread drives. If it sits idle in epoll it would forward each of
                // our events across threads; ask it to leave the reactor to us.
                reactor.request_for(&parker);
                parker.park();
            }
        }
    }
}

/// Restores the previous `CURRENT` when `block_on` returns or unwinds.
struct CurrentSignal(*const Signal);

impl Drop for CurrentSignal {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.0));
    }
}

/// The waker of a `block_on` thread.
struct Signal {
    unparker: parking::Unparker,
    /// Set while the thread sits in epoll, where an unpark alone would not reach it.
    io_blocked: AtomicBool,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // A wake from the driving thread itself (the reactor dispatching events) needs no
        // notification: that thread is not in epoll, it is running this very code. The
        // notification does not depend on `unpark`'s result: a token may already be set (a
        // stale standby hand-off) while the thread blocks in epoll, which ignores tokens.
        self.unparker.unpark();
        if self.io_blocked.load(Ordering::SeqCst)
            && !std::ptr::eq(CURRENT.with(Cell::get), Arc::as_ptr(self))
        {
            Reactor::get().notify();
        }
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal").finish_non_exhaustive()
    }
}

fn thread_signal() -> (parking::Parker, Arc<Signal>) {
    let (parker, unparker) = parking::pair();
    (
        parker,
        Arc::new(Signal {
            unparker,
            io_blocked: AtomicBool::new(false),
        }),
    )
}
