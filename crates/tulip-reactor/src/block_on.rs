//! [`block_on`] and [`enter`]: running a future to completion on the current thread.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use crate::handoff::{Role, SeatState, Signal};
use crate::reactor::Reactor;
use crate::sync::Parker;

thread_local! {
    static ENTERED: Cell<bool> = const { Cell::new(false) };
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
///
/// While the guard lives, the thread counts as one that drives the reactor when idle: the
/// fallback driver (which drives while no tulip loop runs, see [`block_on`]) stands down.
pub fn try_enter() -> Option<EnterGuard> {
    if ENTERED.with(|e| e.replace(true)) {
        return None;
    }
    let r = Reactor::get();
    // handoff rule 8.
    r.handoff.enter_loop(r);
    Some(EnterGuard {
        _not_send: std::marker::PhantomData,
    })
}

/// Whether the current thread runs a tulip loop (an [`EnterGuard`] lives on it).
pub(crate) fn in_loop() -> bool {
    ENTERED.with(Cell::get)
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        ENTERED.with(|e| e.set(false));
        // handoff rule 8: the last loop to leave gets the fallback driving again.
        Reactor::get().handoff.exit_loop();
    }
}

/// Runs `fut` to completion on the current thread (asyncio's `run_until_complete`).
///
/// While the future is pending the thread drives the reactor (I/O and timers) if no other
/// thread does, and otherwise parks until woken. For many tasks at once use tulip's
/// executor; `block_on` runs exactly one future.
///
/// tulip futures need no tulip `block_on` or runtime to make progress: polled on a thread
/// that runs no tulip loop (inside tokio, smol, `futures_lite::future::block_on`), a
/// future waiting for I/O or a timer starts a fallback thread, `tulip-fallback`, that
/// drives the reactor whenever no tulip loop runs and stands down while one does.
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
    let seat = SeatState::new(Parker::new(), Role::BlockOn);
    let signal = Arc::new(BlockOnWaker(seat.signal()));
    let waker = Waker::from(signal.clone());
    let cx = &mut Context::from_waker(&waker);
    let mut fut = pin!(fut);
    let reactor = Reactor::get();
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return v;
        }
        // Drives the reactor until our waker fires if nobody else does; otherwise parks,
        // after asking an idle driver to leave the reactor to us (handoff rule 6).
        if let Err(e) = seat.wait(&reactor.handoff, reactor, &signal.0) {
            panic!("tulip: the reactor failed: {e}");
        }
    }
}

/// The waker of a `block_on` thread: its seat's signal (handoff rule 5).
struct BlockOnWaker(Signal);

impl Wake for BlockOnWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.wake(Reactor::get());
    }
}

impl fmt::Debug for BlockOnWaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BlockOnWaker").field(&self.0).finish()
    }
}
