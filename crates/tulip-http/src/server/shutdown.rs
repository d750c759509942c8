//! Graceful shutdown: a shared state every connection watches through its own waker.
//!
//! Each connection registers one `Member` at accept and keeps its waker updated with a cheap,
//! lock-free `register`; the global lock is taken only at accept, at close, at an upgrade and
//! at shutdown.
//!
//! A connection is counted in `Shared::active` from accept until its `ConnGuard` drops, with
//! one exception: at the deadline the server closes upgraded connections itself (see
//! `upgrade::Transport`) and stops counting them at once, because their owner may never drop
//! them. `Member::counted` makes sure each connection is uncounted exactly once.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll};

use atomic_waker::AtomicWaker;

use super::upgrade::Transport;

const GRACEFUL: u8 = 1;
const FORCE: u8 = 2;

/// Shared by the server, its connections and upgraded connections.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    state: AtomicU8,
    conns: Mutex<slab::Slab<Arc<Member>>>,
    active: AtomicUsize,
    /// Woken when the last connection goes.
    idle: AtomicWaker,
    /// Woken when shutdown starts (the accept loop).
    acceptor: AtomicWaker,
}

/// One connection as shutdown sees it.
#[derive(Debug)]
struct Member {
    /// The connection's task, woken when shutdown begins and when it is forced.
    waker: AtomicWaker,
    /// Still counted in `Shared::active`; cleared by whoever uncounts the connection first.
    counted: AtomicBool,
    /// Set (under the `conns` lock) once the connection is upgraded: the server closes this
    /// transport at the deadline.
    upgraded: OnceLock<Arc<Transport>>,
}

impl Shared {
    pub(crate) fn new() -> Arc<Shared> {
        Arc::new(Shared::default())
    }

    fn conns(&self) -> MutexGuard<'_, slab::Slab<Arc<Member>>> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, state: u8) {
        if self.state.fetch_max(state, Ordering::SeqCst) >= state {
            return;
        }
        self.acceptor.wake();
        let mut upgraded = Vec::new();
        {
            let conns = self.conns();
            for (_, m) in conns.iter() {
                m.waker.wake();
                if state == FORCE {
                    if let Some(t) = m.upgraded.get() {
                        upgraded.push(t.clone());
                        self.uncount(m);
                    }
                }
            }
        }
        // Dropping transports deregisters them from the reactor: not under our lock.
        for t in upgraded {
            t.abort();
        }
    }

    /// Stops counting a connection, once; wakes the shutdown when it was the last one.
    fn uncount(&self, m: &Member) {
        if m.counted.swap(false, Ordering::AcqRel)
            && self.active.fetch_sub(1, Ordering::AcqRel) == 1
        {
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
    pub(crate) fn register(self: &Arc<Shared>) -> ConnGuard {
        let member = Arc::new(Member {
            waker: AtomicWaker::new(),
            counted: AtomicBool::new(true),
            upgraded: OnceLock::new(),
        });
        // Counted before it is visible to `set`, which may uncount it.
        self.active.fetch_add(1, Ordering::AcqRel);
        let key = self.conns().insert(member.clone());
        ConnGuard {
            shared: self.clone(),
            key,
            member,
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
    member: Arc<Member>,
}

impl ConnGuard {
    /// Ready once shutdown has begun; registers the caller's waker otherwise.
    pub(crate) fn poll_shutdown(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.member.waker.register(cx.waker());
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

    /// Hands the upgraded connection's transport over, so the deadline can close it. Past
    /// the deadline it is closed at once. The transport is set under the `conns` lock, which
    /// `set` holds while it closes transports after raising the state: either `set` sees the
    /// transport, or this sees the state, so none escapes.
    pub(crate) fn adopt(&self, transport: Arc<Transport>) {
        {
            let _conns = self.shared.conns();
            let _ = self.member.upgraded.set(transport.clone());
        }
        if self.is_forced() {
            self.shared.uncount(&self.member);
            transport.abort();
        }
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.shared.conns().try_remove(self.key);
        self.shared.uncount(&self.member);
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
