//! Graceful shutdown: a shared state every connection watches through its own waker.
//!
//! Each connection registers one `AtomicWaker` at accept and keeps it updated with a cheap,
//! lock-free `register`; the global lock is taken only at accept, at close, at an upgrade and
//! at shutdown.
//!
//! A connection is counted in `ShutdownState::active` from accept until its `ConnGuard` drops, with
//! one exception: at the deadline the server closes upgraded connections itself (see
//! `upgrade::Transport`) and stops counting them at once, because their owner may never drop
//! them. Upgraded transports sit in their own table, so plain connections pay nothing for
//! this. The force leaves a forced-out connection's waker entry empty (a tombstone, so its key
//! is not reused while its guard lives), and the guard's drop uncounts only a connection whose
//! entry still holds its waker: each connection is uncounted exactly once.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use atomic_waker::AtomicWaker;
use slab::Slab;

use super::upgrade::Transport;

const GRACEFUL: u8 = 1;
const FORCE: u8 = 2;

/// ShutdownState by the server, its connections and upgraded connections.
#[derive(Debug, Default)]
pub(crate) struct ShutdownState {
    state: AtomicU8,
    members: Mutex<Members>,
    active: AtomicUsize,
    /// Woken when the last connection goes.
    idle: AtomicWaker,
    /// Woken when shutdown starts (the accept loop).
    acceptor: AtomicWaker,
    /// Bytes of file bodies the service's connections sent with sendfile(2).
    sendfile_bytes: AtomicU64,
}

/// The connections, behind one lock.
#[derive(Debug, Default)]
struct Members {
    /// Every connection's task, woken when shutdown begins and when it is forced. `None`
    /// for an upgraded connection the force closed and uncounted.
    wakers: Slab<Option<Arc<AtomicWaker>>>,
    /// Upgraded connections' transports by the connection's key, which the server closes at
    /// the deadline. Emptied then, and never filled again: `ConnGuard::adopt` checks the state
    /// under this lock.
    upgraded: HashMap<usize, Arc<Transport>>,
}

impl ShutdownState {
    pub(crate) fn new() -> Arc<ShutdownState> {
        Arc::new(ShutdownState::default())
    }

    pub(crate) fn sendfile_bytes(&self) -> u64 {
        self.sendfile_bytes.load(Ordering::Relaxed)
    }

    fn members(&self) -> MutexGuard<'_, Members> {
        self.members.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, state: u8) {
        if self.state.fetch_max(state, Ordering::SeqCst) >= state {
            return;
        }
        self.acceptor.wake();
        let upgraded: Vec<Arc<Transport>> = {
            let mut members = self.members();
            for w in members.wakers.iter().filter_map(|(_, w)| w.as_ref()) {
                w.wake();
            }
            if state == FORCE {
                let Members { wakers, upgraded } = &mut *members;
                upgraded
                    .drain()
                    .map(|(key, t)| {
                        if let Some(w) = wakers.get_mut(key) {
                            *w = None;
                        }
                        t
                    })
                    .collect()
            } else {
                Vec::new()
            }
        };
        // Dropping transports deregisters them from the reactor: not under our lock.
        for t in upgraded {
            t.abort();
            self.uncount();
        }
    }

    /// Stops counting one connection; wakes the shutdown when it was the last one.
    fn uncount(&self) {
        if self.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.wake();
        }
    }

    /// Starts graceful shutdown.
    pub(crate) fn begin(&self) {
        self.set(GRACEFUL);
    }

    /// Tells every connection to stop now, and closes upgraded ones.
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
    pub(crate) fn register(self: &Arc<ShutdownState>) -> ConnGuard {
        let waker = Arc::new(AtomicWaker::new());
        let key = self.members().wakers.insert(Some(waker.clone()));
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
    shared: Arc<ShutdownState>,
    key: usize,
    waker: Arc<AtomicWaker>,
}

impl ConnGuard {
    /// Counts bytes this connection sent with sendfile(2) (`Service::sendfile_bytes`).
    pub(crate) fn count_sendfile(&self, n: u64) {
        self.shared.sendfile_bytes.fetch_add(n, Ordering::Relaxed);
    }

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

    /// Hands the upgraded connection's transport over, so the deadline can close it; past
    /// the deadline it is closed at once. `set` raises the state before it takes the lock
    /// to empty the table, so under the lock either the state shows the force or the
    /// transport is inserted in time to be closed by it.
    pub(crate) fn adopt(&self, transport: Arc<Transport>) {
        let mut members = self.shared.members();
        if !self.shared.is_forced() {
            members.upgraded.insert(self.key, transport);
            return;
        }
        if let Some(w) = members.wakers.get_mut(self.key) {
            *w = None;
        }
        drop(members);
        transport.abort();
        self.shared.uncount();
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let counted = {
            let mut members = self.shared.members();
            if !members.upgraded.is_empty() {
                members.upgraded.remove(&self.key);
            }
            // An empty entry: the force closed this connection and uncounted it then.
            matches!(members.wakers.try_remove(self.key), Some(Some(_)))
        };
        if counted {
            self.shared.uncount();
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
    pub(crate) shared: Arc<ShutdownState>,
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
