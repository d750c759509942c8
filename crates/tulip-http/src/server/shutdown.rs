//! Graceful shutdown: a shared state every connection watches through its own waker.
//!
//! Each connection registers one `AtomicWaker` at accept and keeps it updated with a cheap,
//! lock-free `register`; the global lock is taken only at accept, at close and at shutdown.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use atomic_waker::AtomicWaker;

const GRACEFUL: u8 = 1;
const FORCE: u8 = 2;

/// Shared by the server, its connections and upgraded connections.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    state: AtomicU8,
    conns: Mutex<slab::Slab<Arc<AtomicWaker>>>,
    active: AtomicUsize,
    /// Woken when the last connection goes.
    idle: AtomicWaker,
    /// Woken when shutdown starts (the accept loop).
    acceptor: AtomicWaker,
}

impl Shared {
    pub(crate) fn new() -> Arc<Shared> {
        Arc::new(Shared::default())
    }

    fn set(&self, state: u8) {
        if self.state.fetch_max(state, Ordering::SeqCst) >= state {
            return;
        }
        self.acceptor.wake();
        let conns = self
            .conns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (_, w) in conns.iter() {
            w.wake();
        }
    }

    /// Starts graceful shutdown.
    pub(crate) fn begin(&self) {
        self.set(GRACEFUL);
    }

    /// Tells every connection to stop now.
    pub(crate) fn force(&self) {
        self.set(FORCE);
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.state.load(Ordering::Acquire) >= GRACEFUL
    }

    pub(crate) fn is_forced(&self) -> bool {
        self.state.load(Ordering::Acquire) >= FORCE
    }

    pub(crate) fn active(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// Registers a new connection.
    pub(crate) fn register(self: &Arc<Shared>) -> ConnGuard {
        let waker = Arc::new(AtomicWaker::new());
        let key = self
            .conns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(waker.clone());
        self.active.fetch_add(1, Ordering::AcqRel);
        ConnGuard {
            shared: self.clone(),
            key,
            waker,
        }
    }

    pub(crate) fn poll_started(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.acceptor.register(cx.waker());
        if self.is_shutting_down() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Ready when no connection is left.
    pub(crate) fn poll_idle(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.idle.register(cx.waker());
        if self.active() == 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// One connection's membership; dropping it unregisters the connection.
#[derive(Debug)]
pub(crate) struct ConnGuard {
    shared: Arc<Shared>,
    key: usize,
    waker: Arc<AtomicWaker>,
}

impl ConnGuard {
    /// Ready once shutdown has begun; registers the caller's waker otherwise.
    pub(crate) fn poll_shutdown(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.waker.register(cx.waker());
        if self.shared.is_shutting_down() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shared.is_shutting_down()
    }

    pub(crate) fn is_forced(&self) -> bool {
        self.shared.is_forced()
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.shared
            .conns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .try_remove(self.key);
        if self.shared.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.idle.wake();
        }
    }
}

/// Tells a server to shut down gracefully; cheap to clone.
///
/// The server stops accepting, lets in-flight requests finish until
/// [`ServerConfig::shutdown_timeout`](crate::ServerConfig::shutdown_timeout), closes idle
/// keep-alive connections at once, signals upgraded connections (see
/// [`Upgraded::shutdown_signal`](crate::Upgraded::shutdown_signal)) and then closes whatever is
/// left.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    pub(crate) shared: Arc<Shared>,
}

impl ShutdownHandle {
    /// Starts graceful shutdown; returns at once.
    pub fn shutdown(&self) {
        self.shared.begin();
    }

    /// True once shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shared.is_shutting_down()
    }
}

/// Resolves when the server begins shutting down; see
/// [`Upgraded::shutdown_signal`](crate::Upgraded::shutdown_signal).
#[derive(Debug)]
pub struct ShutdownSignal<'a> {
    pub(crate) guard: &'a ConnGuard,
}

impl Future for ShutdownSignal<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.guard.poll_shutdown(cx)
    }
}
