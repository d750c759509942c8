//! Marks a thread as running tulip, so that a nested `block_on` fails loudly instead of
//! deadlocking (asyncio's "This event loop is already running").

use std::cell::Cell;

thread_local! {
    static ENTERED: Cell<bool> = const { Cell::new(false) };
}

/// The message of the panic a nested `block_on` raises.
pub(crate) const NESTED: &str = "Cannot block_on from within a tulip runtime: this thread is \
     already running an event loop (nested block_on); await the future instead, or move the \
     blocking call to spawn_blocking";

/// Held while this thread runs tulip (a worker, or inside `block_on`).
#[derive(Debug)]
pub(crate) struct EnterGuard {
    _not_send: std::marker::PhantomData<*const ()>,
}

/// Marks the thread as running tulip.
///
/// # Panics
///
/// Panics with [`NESTED`] when the thread already runs tulip.
pub(crate) fn enter() -> EnterGuard {
    if ENTERED.with(|e| e.replace(true)) {
        panic!("{NESTED}");
    }
    EnterGuard { _not_send: std::marker::PhantomData }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        ENTERED.with(|e| e.set(false));
    }
}
