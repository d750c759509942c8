//! The synchronization types the hand-off state machine is built from, swapped for loom's under
//! `cfg(loom)`.
//!
//! [`crate::handoff`] takes its atomics, mutex and parker from here and never from `std` or
//! `parking` directly, so that `RUSTFLAGS="--cfg loom"` explores every interleaving of the real
//! code (`tests/loom.rs`). The rest of the reactor (epoll, sources, timers) is std-only and is
//! not built under loom.

#[cfg(not(loom))]
pub(crate) use std::sync::Mutex;
#[cfg(not(loom))]
pub(crate) mod atomic {
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
}
#[cfg(not(loom))]
pub(crate) use parking::{Parker, Unparker};

#[cfg(loom)]
pub(crate) use loom::sync::Mutex;
#[cfg(loom)]
pub(crate) mod atomic {
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
}
#[cfg(loom)]
pub use loom_parker::{Parker, Unparker, pair};

use std::time::Duration;

/// Locks a mutex, ignoring poisoning: every critical section of the hand-off leaves its data
/// consistent before anything that could panic, so a poisoned lock holds valid data.
pub(crate) fn lock<T>(m: &Mutex<T>) -> impl std::ops::DerefMut<Target = T> + '_ {
    #[cfg(not(loom))]
    {
        m.lock().unwrap_or_else(|e| e.into_inner())
    }
    #[cfg(loom)]
    {
        m.lock().unwrap()
    }
}

/// Consumes the parker's token if one is set, without blocking.
pub(crate) fn take_token(parker: &Parker) -> bool {
    #[cfg(not(loom))]
    {
        parker.park_timeout(Duration::ZERO)
    }
    #[cfg(loom)]
    {
        parker.take_token()
    }
}

/// Parks for at most `timeout`; returns whether a token woke it.
pub(crate) fn park_timeout(parker: &Parker, timeout: Duration) -> bool {
    #[cfg(not(loom))]
    {
        parker.park_timeout(timeout)
    }
    #[cfg(loom)]
    {
        // loom has no clock: the timeout may elapse at any moment, so the model lets every other
        // thread run once and then lets it elapse unless a token arrived meanwhile. That is
        // the earliest return a real timed park can make, and so the hardest case for the
        // protocol (the thread comes back while others still act on what it left).
        let _ = timeout;
        loom::thread::yield_now();
        parker.take_token()
    }
}

/// A parker for loom models: `parking` has no timed (or non-blocking) park under loom.
#[cfg(loom)]
mod loom_parker {
    use loom::sync::{Arc, Condvar, Mutex};

    struct Inner {
        token: Mutex<bool>,
        cv: Condvar,
    }

    /// Blocks the thread that owns it until its [`Unparker`] sets the token.
    pub struct Parker(Arc<Inner>);

    /// Wakes a [`Parker`]; cheap to clone.
    #[derive(Clone)]
    pub struct Unparker(Arc<Inner>);

    /// A new parker and its unparker.
    pub fn pair() -> (Parker, Unparker) {
        let p = Parker::new();
        let u = p.unparker();
        (p, u)
    }

    impl Default for Parker {
        fn default() -> Self {
            Parker::new()
        }
    }

    impl Parker {
        /// A parker without a token.
        pub fn new() -> Parker {
            Parker(Arc::new(Inner {
                token: Mutex::new(false),
                cv: Condvar::new(),
            }))
        }

        /// Blocks until the token is set, and consumes it.
        pub fn park(&self) {
            let mut t = self.0.token.lock().unwrap();
            while !*t {
                t = self.0.cv.wait(t).unwrap();
            }
            *t = false;
        }

        /// Consumes the token if set.
        pub fn take_token(&self) -> bool {
            std::mem::take(&mut *self.0.token.lock().unwrap())
        }

        /// An unparker for this parker.
        pub fn unparker(&self) -> Unparker {
            Unparker(self.0.clone())
        }
    }

    impl Unparker {
        /// Sets the token; returns false when it was already set.
        pub fn unpark(&self) -> bool {
            let was = std::mem::replace(&mut *self.0.token.lock().unwrap(), true);
            self.0.cv.notify_all();
            !was
        }

        /// Whether this unparker wakes `parker`.
        pub fn will_unpark(&self, parker: &Parker) -> bool {
            Arc::ptr_eq(&self.0, &parker.0)
        }
    }

    impl std::fmt::Debug for Parker {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Parker")
        }
    }

    impl std::fmt::Debug for Unparker {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Unparker")
        }
    }
}
