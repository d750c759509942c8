//! Async synchronisation for tulip: asyncio's locks, events, semaphores, queues and futures,
//! plus mpsc and broadcast channels, for any executor.
//!
//! Everything here is runtime-agnostic: it needs only `Waker`s, so it works under tulip,
//! tokio, `futures_lite::future::block_on` or any other executor. Every primitive is built on
//! one small waiter list (a FIFO of slab-keyed slots behind the primitive's mutex) so that the
//! wait/notify protocol is written, tested and model-checked once: waiters leave the list when
//! dropped, and a waiter that is notified but dropped before acting passes the notification on.
//! `Lock` and `Semaphore` take an uncontended permit with one compare-and-swap, and hand
//! permits to waiters in FIFO order.
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

pub use barrier::{Barrier, BarrierWait, BarrierWaitResult};
pub use condition::Condition;
pub use event::{Event, EventWait};
pub use future::{Future, FutureError, InvalidStateError, Outcome};
pub use lock::{Lock, LockFuture, LockGuard};
pub use queue::{
    GenericQueue, LifoQueue, PriorityQueue, Queue, QueueShutDown, TaskDoneError, TryGetError,
    TryPutError,
};
pub use rwlock::{ReadFuture, RwLock, RwLockReadGuard, RwLockWriteGuard, WriteFuture};
pub use semaphore::{
    BoundedPermit, BoundedSemaphore, ReleaseError, Semaphore, SemaphoreAcquire, SemaphorePermit,
};
