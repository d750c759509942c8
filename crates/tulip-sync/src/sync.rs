//! The one place that names std's or loom's synchronisation types.
//!
//! Under `cfg(loom)` every atomic, mutex and `Arc` in this crate comes from loom, so the loom
//! models in `tests/loom.rs` explore the real code paths rather than a copy of them.

#[cfg(not(loom))]
pub(crate) use std::sync::{
    Arc, Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicUsize, Ordering, fence},
};

#[cfg(loom)]
pub(crate) use loom::sync::{
    Arc, Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicUsize, Ordering, fence},
};

/// Locks `m`, ignoring poisoning.
///
/// No critical section in this crate runs user code (wakers are woken and callbacks run after
/// the guard is dropped), so a poisoned mutex can only come from a bug in this crate and the
/// data behind it is still consistent at every unlock.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// An `UnsafeCell` whose accesses loom can check.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) fn new(value: T) -> Self {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    pub(crate) fn into_inner(self) -> T {
        self.0.into_inner()
    }

    pub(crate) fn get(&self) -> *mut T {
        self.0.get()
    }

    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.0.get_mut()
    }
}

#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(loom::cell::UnsafeCell<T>);

#[cfg(loom)]
impl<T> UnsafeCell<T> {
    pub(crate) fn new(value: T) -> Self {
        UnsafeCell(loom::cell::UnsafeCell::new(value))
    }

    pub(crate) fn into_inner(self) -> T {
        self.0.into_inner()
    }

    pub(crate) fn get(&self) -> *mut T {
        // Loom tracks accesses through `with_mut`; the models only touch the value while
        // holding the lock, so recording the access here is enough for them.
        self.0.with_mut(|p| p)
    }

    #[allow(unsafe_code)]
    pub(crate) fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self` proves exclusive access (rule 1 of `lock`).
        unsafe { &mut *self.0.with_mut(|p| p) }
    }
}
