//! Async synchronisation for tulip: asyncio's locks, events, semaphores, queues and futures,
//! plus mpsc and broadcast channels, for any executor.
//!
//! Everything here is runtime-agnostic: it needs only `Waker`s, so it works under tulip,
//! tokio, `futures_lite::future::block_on` or any other executor. The primitives are built on
//! one small waiter list (a FIFO of slab-keyed slots behind the primitive's mutex) so that the
//! wait/notify protocol is written, tested and model-checked once: waiters leave the list when
//! dropped, and a waiter that is notified but dropped before acting passes the notification on.
//! `Lock`, `RwLock` and `Semaphore` take an uncontended permit with one compare-and-swap, and
//! hand permits to waiters in FIFO order from a ring of tickets of their own, so that a
//! contended hand-off touches only the ring's two ends. `Event` parks its first waiter in a
//! one-waker slot outside the list, so a hand-off between two tasks takes no lock.
//!
//! The crate has no feature flags. Building with `RUSTFLAGS="--cfg loom"` swaps every atomic
//! and mutex for loom's, for the model checks in `tests/loom.rs`. [`Future`] is asyncio's
//! name and shadows `std::future::Future` if glob-imported; import it under another name
//! where that matters.
//!
//! | asyncio | here |
//! |---|---|
//! | `Lock` | [`Lock`] (with data and a guard), [`RwLock`] |
//! | `Event` | [`Event`] |
//! | `Condition` | [`Condition`] |
//! | `Semaphore`, `BoundedSemaphore` | [`Semaphore`], [`BoundedSemaphore`] |
//! | `Barrier` | [`Barrier`] |
//! | `Queue`, `PriorityQueue`, `LifoQueue` | [`Queue`], [`PriorityQueue`], [`LifoQueue`] |
//! | `Future` | [`Future`] |
//! | — | [`mpsc`], [`broadcast`] channels |
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//! use tulip_sync::{Lock, Queue};
//!
//! futures_lite::future::block_on(async {
//!     let queue = Arc::new(Queue::bounded(2));
//!     let total = Arc::new(Lock::new(0));
//!     let q = queue.clone();
//!     let producer = async move {
//!         for i in 1..=10 {
//!             q.put(i).await.unwrap();
//!         }
//!         q.shutdown(false);
//!     };
//!     let consumer = async {
//!         while let Ok(i) = queue.get().await {
//!             *total.lock().await += i;
//!             queue.task_done().unwrap();
//!         }
//!     };
//!     futures_lite::future::zip(producer, consumer).await;
//!     assert_eq!(*total.lock().await, 55);
//! });
//! ```

#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub,
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks
)]
// The only unsafe code is the guards' access to a lock's value (`lock`, `rwlock`), `Event`'s
// one-waker slot (`event`) and the `UnsafeCell` shim (`sync`); each of those items says
// `#[allow(unsafe_code)]`.
#![deny(unsafe_code)]

mod barrier;
pub mod broadcast;
mod condition;
mod event;
mod future;
mod lock;
pub mod mpsc;
pub mod queue;
mod raw_semaphore;
mod rwlock;
mod semaphore;
mod sync;
mod wait_list;

pub use barrier::{Barrier, BarrierWait, BarrierWaitResult, BrokenBarrierError};
pub use condition::Condition;
pub use event::{Event, EventWait};
pub use future::{Future, FutureError, FutureResult, InvalidStateError};
pub use lock::{Lock, LockFuture, LockGuard};
pub use queue::{
    GenericQueue, LifoQueue, PriorityQueue, Queue, QueueShutDown, TaskDoneError, TryGetError,
    TryPutError,
};
pub use rwlock::{ReadFuture, RwLock, RwLockReadGuard, RwLockWriteGuard, WriteFuture};
pub use semaphore::{
    BoundedPermit, BoundedSemaphore, ReleaseError, Semaphore, SemaphoreAcquire, SemaphorePermit,
};

/// Compile-time checks that the handles and their futures can cross threads.
#[cfg(test)]
mod send_sync {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}

    #[test]
    fn public_types_are_send_and_sync() {
        send_sync::<crate::Lock<Vec<u8>>>();
        send_sync::<crate::RwLock<Vec<u8>>>();
        send_sync::<crate::Semaphore>();
        send_sync::<crate::BoundedSemaphore>();
        send_sync::<crate::Event>();
        send_sync::<crate::Condition<Vec<u8>>>();
        send_sync::<crate::Barrier>();
        send_sync::<crate::Queue<String>>();
        send_sync::<crate::PriorityQueue<String>>();
        send_sync::<crate::Future<String, String>>();
        send::<crate::mpsc::Sender<String>>();
        send::<crate::mpsc::Receiver<String>>();
        send::<crate::broadcast::Sender<String>>();
        send::<crate::broadcast::Receiver<String>>();
        send::<crate::LockFuture<'static, Vec<u8>>>();
        send::<crate::LockGuard<'static, Vec<u8>>>();
        send::<crate::SemaphoreAcquire<'static>>();
        send::<crate::EventWait<'static>>();
        send::<crate::queue::Put<'static, String, crate::queue::Fifo<String>>>();
        send::<crate::queue::Get<'static, String, crate::queue::Fifo<String>>>();
        send::<crate::mpsc::Send<'static, String>>();
        send::<crate::mpsc::Recv<'static, String>>();
        send::<crate::broadcast::Recv<'static, String>>();
    }

    #[test]
    fn async_fn_futures_are_send() {
        fn check<F: std::future::Future + Send>(_: F) {}
        let cond = crate::Condition::new(0u8);
        let sem = crate::BoundedSemaphore::new(1);
        check(async {
            let g = cond.lock().await;
            drop(cond.wait(g).await);
            drop(sem.acquire().await);
        });
    }
}

/// A waker that counts its wake-ups, for tests that must see a notification being passed on
/// (polling the next waiter directly would find the item or permit either way).
#[cfg(test)]
pub(crate) mod test_waker {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll, Wake, Waker};

    pub(crate) struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl Count {
        pub(crate) fn get(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    /// Polls `f` once with a fresh counting waker and returns the result and the counter.
    pub(crate) fn poll_counted<F: std::future::Future + Unpin>(
        f: &mut F,
    ) -> (Poll<F::Output>, Arc<Count>) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let r = std::pin::Pin::new(f).poll(&mut Context::from_waker(&waker));
        (r, count)
    }
}
