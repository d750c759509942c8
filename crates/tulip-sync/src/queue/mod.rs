//! asyncio's queues: [`Queue`], [`LifoQueue`], [`PriorityQueue`].

mod error;
mod store;

pub use error::{QueueShutDown, TaskDoneError, TryGetError, TryPutError};
pub use store::{Fifo, Lifo, Priority, Store};

use crate::sync::{Mutex, MutexGuard, lock};
use crate::wait_list::{WaitList, WakeList, wake_all};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// The queue machinery shared by [`Queue`], [`LifoQueue`] and [`PriorityQueue`] (which
/// dereference to it), generic over the [`Store`] that orders the items; use it directly with
/// your own store.
///
/// It has `asyncio.Queue`'s interface: optional bound, `task_done` / `join`, and `shutdown` as
/// in Python 3.13. Blocked `put`s and `get`s are woken in FIFO order.
pub struct GenericQueue<T, S: Store<T>> {
    state: Mutex<State<T, S>>,
}

struct State<T, S> {
    store: S,
    /// Largest number of items; 0 for unbounded, as in asyncio.
    maxsize: usize,
    /// Items put and not yet marked done with `task_done`.
    unfinished: usize,
    shutdown: bool,
    getters: WaitList<()>,
    putters: WaitList<()>,
    joiners: WaitList<()>,
    _item: std::marker::PhantomData<fn(T) -> T>,
}

impl<T, S: Store<T>> State<T, S> {
    fn full(&self) -> bool {
        self.maxsize > 0 && self.store.len() >= self.maxsize
    }
}

impl<T, S: Store<T>> std::fmt::Debug for GenericQueue<T, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.lock();
        f.debug_struct("GenericQueue")
            .field("len", &st.store.len())
            .field("maxsize", &st.maxsize)
            .field("unfinished", &st.unfinished)
            .field("shutdown", &st.shutdown)
            .finish()
    }
}

impl<T, S: Store<T>> GenericQueue<T, S> {
    /// Creates a queue with any [`Store`], holding at most `maxsize` items (0: unbounded).
    pub fn with_store(maxsize: usize) -> Self {
        GenericQueue {
            state: Mutex::new(State {
                store: S::default(),
                maxsize,
                unfinished: 0,
                shutdown: false,
                getters: WaitList::new(),
                putters: WaitList::new(),
                joiners: WaitList::new(),
                _item: std::marker::PhantomData,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T, S>> {
        lock(&self.state)
    }

    /// Number of items in the queue (asyncio's `qsize()`).
    pub fn len(&self) -> usize {
        self.lock().store.len()
    }

    /// Whether the queue holds no item.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the queue is at its bound.
    pub fn is_full(&self) -> bool {
        self.lock().full()
    }

    /// The bound; 0 for unbounded.
    pub fn maxsize(&self) -> usize {
        self.lock().maxsize
    }

    /// Whether [`shutdown`](GenericQueue::shutdown) was called.
    pub fn is_shut_down(&self) -> bool {
        self.lock().shutdown
    }

    /// Puts an item, waiting while the queue is full.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if the future is dropped, the item was not put (and is dropped with it);
    /// a free slot that was offered to this put goes to the next waiting put.
    pub fn put(&self, item: T) -> Put<'_, T, S> {
        Put {
            queue: self,
            item: Some(item),
            key: None,
        }
    }

    /// Puts an item if there is room.
    pub fn put_nowait(&self, item: T) -> Result<(), TryPutError<T>> {
        let mut st = self.lock();
        if st.shutdown {
            return Err(TryPutError::ShutDown(item));
        }
        if st.full() {
            return Err(TryPutError::Full(item));
        }
        let waker = put_locked(&mut st, item);
        drop(st);
        wake(waker);
        Ok(())
    }

    /// Takes the next item, waiting while the queue is empty. Fails once the queue is shut
    /// down and empty.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if the future is dropped, no item was taken; an item that was announced to
    /// it is announced to the next waiting get.
    pub fn get(&self) -> Get<'_, T, S> {
        Get {
            queue: self,
            key: None,
        }
    }

    /// Takes the next item if there is one.
    pub fn get_nowait(&self) -> Result<T, TryGetError> {
        let mut st = self.lock();
        match st.store.pop() {
            Some(item) => {
                let waker = st.putters.notify_front();
                drop(st);
                wake(waker);
                Ok(item)
            }
            None if st.shutdown => Err(TryGetError::ShutDown),
            None => Err(TryGetError::Empty),
        }
    }

    /// Marks one item taken with `get` as processed; `join` returns when every item put has
    /// been marked.
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        let mut st = self.lock();
        if st.unfinished == 0 {
            return Err(TaskDoneError);
        }
        st.unfinished -= 1;
        let mut wakers = WakeList::new();
        if st.unfinished == 0 {
            st.joiners.notify_all(&mut wakers);
        }
        drop(st);
        wake_all(wakers);
        Ok(())
    }

    /// Waits until every item put has been marked done with `task_done`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future only leaves the list of joiners.
    pub fn join(&self) -> Join<'_, T, S> {
        Join {
            queue: self,
            key: None,
        }
    }

    /// Shuts the queue down, as Python 3.13's `Queue.shutdown`: later and blocked `put`s fail
    /// with [`QueueShutDown`], `get`s fail once the queue is empty, and every waiter wakes.
    /// With `immediate`, the items left are dropped at once (each counted as done), so `get`s
    /// fail at once too.
    pub fn shutdown(&self, immediate: bool) {
        let mut st = self.lock();
        st.shutdown = true;
        let mut wakers = WakeList::new();
        let mut drained = Vec::new();
        if immediate {
            while let Some(item) = st.store.pop() {
                drained.push(item);
                st.unfinished = st.unfinished.saturating_sub(1);
            }
            if st.unfinished == 0 {
                st.joiners.notify_all(&mut wakers);
            }
        }
        st.getters.notify_all(&mut wakers);
        st.putters.notify_all(&mut wakers);
        drop(st);
        // Items run their destructors outside the lock.
        drop(drained);
        wake_all(wakers);
    }
}

fn wake(waker: Option<Waker>) {
    if let Some(w) = waker {
        w.wake();
    }
}

/// Stores `item` and picks a getter to wake.
fn put_locked<T, S: Store<T>>(st: &mut State<T, S>, item: T) -> Option<Waker> {
    st.store.push(item);
    st.unfinished += 1;
    st.getters.notify_front()
}

/// Re-registers a waiter in `list`: a waiter that was woken but lost its item or slot to a
/// newcomer goes back to the front, keeping its turn.
fn park(list: &mut WaitList<()>, key: &mut Option<usize>, was_notified: bool, waker: &Waker) {
    match *key {
        Some(k) => list.set_waker(k, waker),
        None if was_notified => *key = Some(list.push_front(waker, ())),
        None => *key = Some(list.push_back(waker, ())),
    }
}

/// Takes `key` out of `list`; returns whether it had been notified.
fn unpark(list: &mut WaitList<()>, key: &mut Option<usize>) -> bool {
    key.take().is_some_and(|k| list.remove(k).notified)
}

/// Future of [`GenericQueue::put`].
#[must_use = "futures do nothing unless awaited"]
pub struct Put<'a, T, S: Store<T>> {
    queue: &'a GenericQueue<T, S>,
    item: Option<T>,
    key: Option<usize>,
}

impl<T, S: Store<T>> std::fmt::Debug for Put<'_, T, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Put")
            .field("waiting", &self.key.is_some())
            .finish()
    }
}

impl<T, S: Store<T>> Unpin for Put<'_, T, S> {}

impl<T, S: Store<T>> Future for Put<'_, T, S> {
    type Output = Result<(), QueueShutDown<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut st = this.queue.lock();
        let notified = this.key.is_some_and(|k| st.putters.is_notified(k));
        if notified {
            unpark(&mut st.putters, &mut this.key);
        }
        let Some(item) = this.item.take() else {
            return Poll::Ready(Ok(()));
        };
        if st.shutdown {
            unpark(&mut st.putters, &mut this.key);
            return Poll::Ready(Err(QueueShutDown(item)));
        }
        if st.full() {
            this.item = Some(item);
            park(&mut st.putters, &mut this.key, notified, cx.waker());
            return Poll::Pending;
        }
        unpark(&mut st.putters, &mut this.key);
        let waker = put_locked(&mut st, item);
        drop(st);
        wake(waker);
        Poll::Ready(Ok(()))
    }
}

impl<T, S: Store<T>> Drop for Put<'_, T, S> {
    fn drop(&mut self) {
        if self.key.is_some() {
            let mut st = self.queue.lock();
            let waker = if unpark(&mut st.putters, &mut self.key) {
                st.putters.notify_front()
            } else {
                None
            };
            drop(st);
            wake(waker);
        }
    }
}

/// Future of [`GenericQueue::get`].
#[must_use = "futures do nothing unless awaited"]
pub struct Get<'a, T, S: Store<T>> {
    queue: &'a GenericQueue<T, S>,
    key: Option<usize>,
}

impl<T, S: Store<T>> std::fmt::Debug for Get<'_, T, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Get")
            .field("waiting", &self.key.is_some())
            .finish()
    }
}

impl<T, S: Store<T>> Future for Get<'_, T, S> {
    type Output = Result<T, QueueShutDown>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut st = this.queue.lock();
        let notified = this.key.is_some_and(|k| st.getters.is_notified(k));
        if notified {
            unpark(&mut st.getters, &mut this.key);
        }
        if let Some(item) = st.store.pop() {
            unpark(&mut st.getters, &mut this.key);
            let waker = st.putters.notify_front();
            drop(st);
            wake(waker);
            return Poll::Ready(Ok(item));
        }
        if st.shutdown {
            unpark(&mut st.getters, &mut this.key);
            return Poll::Ready(Err(QueueShutDown(())));
        }
        park(&mut st.getters, &mut this.key, notified, cx.waker());
        Poll::Pending
    }
}

impl<T, S: Store<T>> Drop for Get<'_, T, S> {
    fn drop(&mut self) {
        if self.key.is_some() {
            let mut st = self.queue.lock();
            let waker = if unpark(&mut st.getters, &mut self.key) {
                st.getters.notify_front()
            } else {
                None
            };
            drop(st);
            wake(waker);
        }
    }
}

/// Future of [`GenericQueue::join`].
#[must_use = "futures do nothing unless awaited"]
pub struct Join<'a, T, S: Store<T>> {
    queue: &'a GenericQueue<T, S>,
    key: Option<usize>,
}

impl<T, S: Store<T>> std::fmt::Debug for Join<'_, T, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Join")
            .field("waiting", &self.key.is_some())
            .finish()
    }
}

impl<T, S: Store<T>> Future for Join<'_, T, S> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let mut st = this.queue.lock();
        // As in asyncio, a join that saw the count reach zero returns even if items were put
        // again before it ran.
        let notified = this.key.is_some_and(|k| st.joiners.is_notified(k));
        if notified || st.unfinished == 0 {
            unpark(&mut st.joiners, &mut this.key);
            return Poll::Ready(());
        }
        park(&mut st.joiners, &mut this.key, false, cx.waker());
        Poll::Pending
    }
}

impl<T, S: Store<T>> Drop for Join<'_, T, S> {
    fn drop(&mut self) {
        if self.key.is_some() {
            let mut st = self.queue.lock();
            unpark(&mut st.joiners, &mut self.key);
        }
    }
}

macro_rules! queue_type {
    ($(#[$doc:meta])* $name:ident, $store:ident $(, $bound:ident)?) => {
        $(#[$doc])*
        pub struct $name<T $(: $bound)?>(GenericQueue<T, $store<T>>);

        impl<T $(: $bound)?> $name<T> {
            /// Creates a queue holding at most `maxsize` items; `0` means unbounded, as in
            /// asyncio.
            pub fn new(maxsize: usize) -> Self {
                $name(GenericQueue::with_store(maxsize))
            }

            /// Creates an unbounded queue.
            pub fn unbounded() -> Self {
                Self::new(0)
            }

            /// Creates a queue holding at most `maxsize` items (at least one).
            pub fn bounded(maxsize: usize) -> Self {
                Self::new(maxsize.max(1))
            }
        }

        impl<T $(: $bound)?> Default for $name<T> {
            fn default() -> Self {
                Self::unbounded()
            }
        }

        impl<T $(: $bound)?> std::ops::Deref for $name<T> {
            type Target = GenericQueue<T, $store<T>>;

            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }

        impl<T $(: $bound)?> std::fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

queue_type!(
    /// A first-in, first-out async queue, like `asyncio.Queue`: optional bound, `task_done` /
    /// `join`, and `shutdown` as in Python 3.13. Its methods are those of [`GenericQueue`].
    ///
    /// # Examples
    ///
    /// ```
    /// use tulip_sync::Queue;
    /// # futures_lite::future::block_on(async {
    /// let q = Queue::bounded(2);
    /// q.put(1).await.unwrap();
    /// q.put(2).await.unwrap();
    /// assert!(q.is_full());
    /// assert_eq!(q.get().await, Ok(1));
    /// # });
    /// ```
    Queue, Fifo
);

queue_type!(
    /// A last-in, first-out async queue, like `asyncio.LifoQueue`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tulip_sync::LifoQueue;
    /// let q = LifoQueue::unbounded();
    /// q.put_nowait(1).unwrap();
    /// q.put_nowait(2).unwrap();
    /// assert_eq!(q.get_nowait(), Ok(2));
    /// ```
    LifoQueue, Lifo
);

queue_type!(
    /// A smallest-first async queue, like `asyncio.PriorityQueue`; equal items come out in put
    /// order.
    ///
    /// # Examples
    ///
    /// ```
    /// use tulip_sync::{PriorityQueue, TryGetError, TryPutError};
    ///
    /// let q = PriorityQueue::bounded(2);
    /// q.put_nowait(5).unwrap();
    /// q.put_nowait(1).unwrap();
    /// assert!(matches!(q.put_nowait(3), Err(TryPutError::Full(3))));
    /// assert_eq!(q.get_nowait(), Ok(1));
    /// assert_eq!(q.get_nowait(), Ok(5));
    /// assert_eq!(q.get_nowait(), Err(TryGetError::Empty));
    /// ```
    PriorityQueue, Priority, Ord
);

#[cfg(test)]
mod tests;
