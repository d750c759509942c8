//! A gate tasks wait on until the test opens it: an event with a waker list, built from std
//! alone so the executor's tests need no primitive from a crate above it. Tests wait on gates
//! instead of on sleeps, so which task finishes first never depends on how the OS schedules
//! threads on a loaded machine.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

/// A one-way gate; clones share it.
#[derive(Clone, Default)]
pub(crate) struct Gate(Arc<Inner>);

#[derive(Default)]
struct Inner {
    open: AtomicBool,
    waiters: Mutex<Vec<Waker>>,
}

impl Gate {
    pub(crate) fn new() -> Gate {
        Gate::default()
    }

    /// Opens the gate and wakes every task waiting on it.
    pub(crate) fn open(&self) {
        self.0.open.store(true, Ordering::SeqCst);
        let waiters = std::mem::take(&mut *self.0.waiters.lock().unwrap());
        waiters.into_iter().for_each(Waker::wake);
    }

    /// Whether `open` was called.
    pub(crate) fn is_open(&self) -> bool {
        self.0.open.load(Ordering::SeqCst)
    }

    /// Waits until the gate is open.
    pub(crate) async fn wait(&self) {
        std::future::poll_fn(|cx| {
            if self.is_open() {
                return Poll::Ready(());
            }
            self.0.waiters.lock().unwrap().push(cx.waker().clone());
            // Checked again after registering: an `open` in between took the list before
            // our waker was in it.
            if self.is_open() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}
