//! Multi-producer, single-consumer channels, bounded and unbounded.
//!
//! The buffer is a `concurrent_queue::ConcurrentQueue`; the channel adds only the wake-up
//! protocol around it. The rules it relies on:
//!
//! 1. The receiver parks by storing its waker, setting `rx_waiting`, and looking at the buffer
//!    once more, with a `SeqCst` fence between the flag and the look. A sender pushes, issues
//!    a `SeqCst` fence, then loads `rx_waiting`; only if it is set does it clear it with a swap
//!    and wake the receiver (the swap picks one waker among racing senders). The two fences
//!    order the two sides' write-then-read (the store-buffering pattern): either the sender's
//!    load sees the flag, or the receiver's second look sees the value. A send that finds the
//!    receiver awake so only reads the flag's cache line, which stays shared between cores,
//!    where a swap on every send moved the line to the sending core each time.
//! 2. A sender of a bounded channel parks the same way on `send_waiters` (queue, publish the
//!    count in `send_waiting`, fence, retry the push); the receiver pops, fences, and wakes one
//!    parked sender if the count is non-zero. A notified sender that is dropped hands the freed
//!    slot's notification to the next one.
//! 3. The buffer is closed (by `ConcurrentQueue::close`) when the last sender or the receiver
//!    goes; then both sides are woken. Values already buffered can still be received.
//!
//! # Examples
//!
//! ```
//! use tulip_sync::mpsc;
//! # futures_lite::future::block_on(async {
//! let (tx, mut rx) = mpsc::bounded(8);
//! for i in 0..3 {
//!     let tx = tx.clone();
//!     tx.send(i).await.unwrap();
//! }
//! drop(tx);
//! let mut got = Vec::new();
//! while let Some(v) = rx.recv().await {
//!     got.push(v);
//! }
//! assert_eq!(got, [0, 1, 2]);
//! # });
//! ```

mod error;

pub use error::{SendError, TryRecvError, TrySendError};

use crate::sync::{Arc, AtomicBool, AtomicUsize, Mutex, Ordering, fence, lock};
use crate::wait_list::{WaitList, WakeList, wake_all};
use concurrent_queue::{ConcurrentQueue, PopError, PushError};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Keeps a value on cache lines of its own (two lines: x86 prefetches them in pairs).
#[repr(align(128))]
struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

struct Chan<T> {
    queue: ConcurrentQueue<T>,
    senders: AtomicUsize,
    /// Read by every send, written each time the receiver parks and once per wake-up, so it
    /// has its own cache lines: beside the fields the receiver reads on every receive
    /// (`queue`), those writes would evict them from the receiver's cache.
    rx_waiting: Padded<AtomicBool>,
    rx_waker: Mutex<Option<Waker>>,
    send_waiting: AtomicUsize,
    send_waiters: Mutex<WaitList<()>>,
}

impl<T> Chan<T> {
    /// Called by a sender after each push (rule 1).
    #[inline]
    fn wake_receiver(&self) {
        fence(Ordering::SeqCst);
        if self.rx_waiting.load(Ordering::Relaxed) && self.rx_waiting.swap(false, Ordering::AcqRel)
        {
            let waker = lock(&self.rx_waker).take();
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    /// Called by the receiver after each pop from a bounded buffer (rule 2).
    fn wake_sender(&self) {
        fence(Ordering::SeqCst);
        if self.send_waiting.load(Ordering::Relaxed) > 0 {
            let mut list = lock(&self.send_waiters);
            let waker = list.notify_front();
            self.send_waiting.store(list.len(), Ordering::Relaxed);
            drop(list);
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    fn close(&self) {
        if self.queue.close() {
            self.rx_waiting.store(false, Ordering::Relaxed);
            let waker = lock(&self.rx_waker).take();
            if let Some(w) = waker {
                w.wake();
            }
            let mut wakers = WakeList::new();
            let mut list = lock(&self.send_waiters);
            list.notify_all(&mut wakers);
            self.send_waiting.store(0, Ordering::Relaxed);
            drop(list);
            wake_all(wakers);
        }
    }
}

/// Creates a channel buffering up to `capacity` values (at least one).
pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    new(ConcurrentQueue::bounded(capacity.max(1)))
}

/// Creates a channel whose sends never wait.
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    new(ConcurrentQueue::unbounded())
}

fn new<T>(queue: ConcurrentQueue<T>) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan {
        queue,
        senders: AtomicUsize::new(1),
        rx_waiting: Padded(AtomicBool::new(false)),
        rx_waker: Mutex::new(None),
        send_waiting: AtomicUsize::new(0),
        send_waiters: Mutex::new(WaitList::new()),
    });
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// The sending half; clone it for more producers (a clone is one atomic increment).
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving half.
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("len", &self.chan.queue.len())
            .finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.chan.queue.len())
            .finish_non_exhaustive()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.senders.fetch_add(1, Ordering::Relaxed);
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.chan.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.chan.close();
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.chan.close();
        // Values nobody will receive are dropped now rather than with the last sender.
        while self.chan.queue.pop().is_ok() {}
    }
}

impl<T> Sender<T> {
    /// Sends a value, waiting while a bounded channel is full. Fails, handing the value back,
    /// once the receiver is gone.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if the future is dropped the value was not sent (it is dropped with the
    /// future), and a free slot offered to it is offered to the next waiting sender.
    #[inline]
    pub fn send(&self, value: T) -> Send<'_, T> {
        Send {
            chan: &self.chan,
            value: Some(value),
            key: None,
        }
    }

    /// Sends a value if there is room.
    #[inline]
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        match self.chan.queue.push(value) {
            Ok(()) => {
                self.chan.wake_receiver();
                Ok(())
            }
            Err(PushError::Full(v)) => Err(TrySendError::Full(v)),
            Err(PushError::Closed(v)) => Err(TrySendError::Closed(v)),
        }
    }

    /// Whether the receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.chan.queue.is_closed()
    }

    /// Values buffered now.
    pub fn len(&self) -> usize {
        self.chan.queue.len()
    }

    /// Whether no value is buffered.
    pub fn is_empty(&self) -> bool {
        self.chan.queue.is_empty()
    }

    /// The bound, `None` for an unbounded channel.
    pub fn capacity(&self) -> Option<usize> {
        self.chan.queue.capacity()
    }
}

impl<T> Receiver<T> {
    /// Receives the next value; `None` once every sender is gone and the buffer is empty.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a value is taken from the buffer only when the future completes.
    #[inline]
    pub fn recv(&mut self) -> Recv<'_, T> {
        Recv { chan: &self.chan }
    }

    /// Receives a value if one is buffered.
    #[inline]
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        match self.chan.queue.pop() {
            Ok(v) => {
                self.after_pop();
                Ok(v)
            }
            Err(PopError::Empty) => Err(TryRecvError::Empty),
            Err(PopError::Closed) => Err(TryRecvError::Closed),
        }
    }

    fn after_pop(&self) {
        if self.chan.queue.capacity().is_some() {
            self.chan.wake_sender();
        }
    }

    /// Closes the channel: sends fail from now on, values already sent can still be received.
    pub fn close(&mut self) {
        self.chan.close();
    }

    /// Values buffered now.
    pub fn len(&self) -> usize {
        self.chan.queue.len()
    }

    /// Whether no value is buffered.
    pub fn is_empty(&self) -> bool {
        self.chan.queue.is_empty()
    }
}

/// Future of [`Receiver::recv`].
#[must_use = "futures do nothing unless awaited"]
pub struct Recv<'a, T> {
    chan: &'a Chan<T>,
}

impl<T> std::fmt::Debug for Recv<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recv").finish_non_exhaustive()
    }
}

impl<T> Future for Recv<'_, T> {
    type Output = Option<T>;

    // Inline (as `Send::poll`): instantiated in each codegen unit that receives, so the
    // common poll (a value is there) folds into the caller's loop.
    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let chan = self.chan;
        for attempt in 0..2 {
            match chan.queue.pop() {
                Ok(v) => {
                    if attempt == 1 {
                        chan.rx_waiting.store(false, Ordering::Relaxed);
                    }
                    if chan.queue.capacity().is_some() {
                        chan.wake_sender();
                    }
                    return Poll::Ready(Some(v));
                }
                Err(PopError::Closed) => return Poll::Ready(None),
                Err(PopError::Empty) if attempt == 0 => {
                    // Rule 1: waker, flag, fence, look again.
                    let mut slot = lock(&chan.rx_waker);
                    match &mut *slot {
                        Some(w) if w.will_wake(cx.waker()) => {}
                        slot => *slot = Some(cx.waker().clone()),
                    }
                    drop(slot);
                    chan.rx_waiting.store(true, Ordering::Release);
                    fence(Ordering::SeqCst);
                }
                Err(PopError::Empty) => {}
            }
        }
        Poll::Pending
    }
}

/// Future of [`Sender::send`].
#[must_use = "futures do nothing unless awaited"]
pub struct Send<'a, T> {
    chan: &'a Chan<T>,
    value: Option<T>,
    key: Option<usize>,
}

impl<T> std::fmt::Debug for Send<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Send")
            .field("waiting", &self.key.is_some())
            .finish()
    }
}

impl<T> Unpin for Send<'_, T> {}

impl<T> Send<'_, T> {
    /// Leaves `send_waiters` if queued there; a notification received and not used is handed
    /// on. The check is inline: most sends (all sends of an unbounded channel) never queue, and
    /// the call in `poll` and in `Drop` then costs one compare.
    #[inline]
    fn unpark(&mut self, used: bool) {
        if self.key.is_some() {
            self.unpark_slow(used);
        }
    }

    #[inline(never)]
    fn unpark_slow(&mut self, used: bool) {
        let Some(key) = self.key.take() else { return };
        let mut list = lock(&self.chan.send_waiters);
        let notified = list.remove(key).notified;
        let waker = if notified && !used {
            list.notify_front()
        } else {
            None
        };
        self.chan.send_waiting.store(list.len(), Ordering::Relaxed);
        drop(list);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Future for Send<'_, T> {
    type Output = Result<(), SendError<T>>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Some(mut value) = this.value.take() else {
            return Poll::Ready(Ok(()));
        };
        let mut was_notified = false;
        if let Some(key) = this.key {
            let mut list = lock(&this.chan.send_waiters);
            if list.is_notified(key) {
                list.remove(key);
                this.key = None;
                was_notified = true;
                this.chan.send_waiting.store(list.len(), Ordering::Relaxed);
            } else {
                list.set_waker(key, cx.waker());
            }
        }
        for attempt in 0..2 {
            match this.chan.queue.push(value) {
                Ok(()) => {
                    this.unpark(true);
                    this.chan.wake_receiver();
                    return Poll::Ready(Ok(()));
                }
                Err(PushError::Closed(v)) => {
                    this.unpark(false);
                    return Poll::Ready(Err(SendError(v)));
                }
                Err(PushError::Full(v)) => value = v,
            }
            if attempt == 0 && this.key.is_none() {
                // Rule 2: queue, publish the count, fence, retry.
                let mut list = lock(&this.chan.send_waiters);
                let key = if was_notified {
                    list.push_front(cx.waker(), ())
                } else {
                    list.push_back(cx.waker(), ())
                };
                this.chan.send_waiting.store(list.len(), Ordering::SeqCst);
                drop(list);
                this.key = Some(key);
                fence(Ordering::SeqCst);
            } else {
                break;
            }
        }
        this.value = Some(value);
        Poll::Pending
    }
}

impl<T> Drop for Send<'_, T> {
    fn drop(&mut self) {
        self.unpark(false);
    }
}

#[cfg(test)]
mod tests;
