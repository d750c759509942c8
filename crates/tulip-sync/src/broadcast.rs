//! A multi-producer, multi-consumer broadcast channel: every receiver sees every value.
//!
//! Values live in a ring of `capacity` slots; a receiver that falls more than `capacity`
//! values behind loses the oldest ones and is told how many with [`RecvError::Lagged`], then
//! continues from the oldest value still held (tokio's semantics).
//!
//! # Examples
//!
//! ```
//! use tulip_sync::broadcast::{self, RecvError};
//! # futures_lite::future::block_on(async {
//! let (tx, mut a) = broadcast::channel(2);
//! let mut b = tx.subscribe();
//! for i in 0..3 {
//!     tx.send(i).unwrap();
//! }
//! assert_eq!(a.recv().await, Err(RecvError::Lagged(1)));
//! assert_eq!(a.recv().await, Ok(1));
//! drop(tx);
//! assert_eq!(b.recv().await, Err(RecvError::Lagged(1)));
//! assert_eq!(b.recv().await, Ok(1));
//! assert_eq!(b.recv().await, Ok(2));
//! assert_eq!(b.recv().await, Err(RecvError::Closed));
//! # });
//! ```

use crate::sync::{Arc, Mutex, MutexGuard, lock};
use crate::wait_list::{WaitList, WakeList, wake_all};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Every receiver is gone; the value comes back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SendError<T>(pub T);

/// Why a receive failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvError {
    /// Every sender is gone and this receiver has seen every value.
    Closed,
    /// This receiver fell behind and this many values were lost to it; the next receive
    /// returns the oldest value still held.
    Lagged(u64),
}

/// Why a `try_recv` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// No new value now.
    Empty,
    /// As [`RecvError::Closed`].
    Closed,
    /// As [`RecvError::Lagged`].
    Lagged(u64),
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("broadcast channel has no receivers")
    }
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Closed => f.write_str("broadcast channel closed"),
            RecvError::Lagged(n) => write!(f, "receiver lagged behind by {n} values"),
        }
    }
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("no new value"),
            TryRecvError::Closed => f.write_str("broadcast channel closed"),
            TryRecvError::Lagged(n) => write!(f, "receiver lagged behind by {n} values"),
        }
    }
}

impl<T> std::error::Error for SendError<T> {}
impl std::error::Error for RecvError {}
impl std::error::Error for TryRecvError {}

struct Shared<T> {
    state: Mutex<State<T>>,
}

struct State<T> {
    ring: VecDeque<T>,
    capacity: usize,
    /// Sequence number of `ring[0]`.
    head: u64,
    senders: usize,
    receivers: usize,
    waiters: WaitList<()>,
}

impl<T> State<T> {
    fn tail(&self) -> u64 {
        self.head + self.ring.len() as u64
    }
}

/// Creates a broadcast channel keeping the last `capacity` values (at least one).
pub fn channel<T: Clone>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            ring: VecDeque::with_capacity(capacity.max(1)),
            capacity: capacity.max(1),
            head: 0,
            senders: 1,
            receivers: 1,
            waiters: WaitList::new(),
        }),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared, next: 0 },
    )
}

/// The sending half; clone it for more producers.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// A receiving half; each receiver sees every value sent after it subscribed.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    next: u64,
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.lock();
        f.debug_struct("Sender")
            .field("receivers", &st.receivers)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        lock(&self.state)
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.senders -= 1;
        let mut wakers = WakeList::new();
        if st.senders == 0 {
            st.waiters.notify_all(&mut wakers);
        }
        drop(st);
        wake_all(wakers);
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.shared.lock().receivers -= 1;
    }
}

impl<T: Clone> Sender<T> {
    /// Sends a value to every receiver and returns how many there are. Never waits: when the
    /// ring is full the oldest value is overwritten. Fails if there is no receiver.
    pub fn send(&self, value: T) -> Result<usize, SendError<T>> {
        let mut st = self.shared.lock();
        if st.receivers == 0 {
            return Err(SendError(value));
        }
        let evicted = if st.ring.len() == st.capacity {
            st.head += 1;
            st.ring.pop_front()
        } else {
            None
        };
        st.ring.push_back(value);
        let receivers = st.receivers;
        let mut wakers = WakeList::new();
        st.waiters.notify_all(&mut wakers);
        drop(st);
        drop(evicted);
        wake_all(wakers);
        Ok(receivers)
    }

    /// A new receiver that sees values sent from now on.
    pub fn subscribe(&self) -> Receiver<T> {
        let mut st = self.shared.lock();
        st.receivers += 1;
        let next = st.tail();
        Receiver {
            shared: self.shared.clone(),
            next,
        }
    }

    /// Number of live receivers.
    pub fn receiver_count(&self) -> usize {
        self.shared.lock().receivers
    }
}

impl<T: Clone> Receiver<T> {
    /// Receives the next value.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the receiver's position moves only when the future completes.
    pub fn recv(&mut self) -> Recv<'_, T> {
        Recv {
            rx: self,
            key: None,
        }
    }

    /// Receives the next value if there is one.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let st = self.shared.lock();
        match next_value(&st, &mut self.next) {
            Some(Ok(v)) => Ok(v),
            Some(Err(RecvError::Lagged(n))) => Err(TryRecvError::Lagged(n)),
            Some(Err(RecvError::Closed)) => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }

    /// A new receiver at the same position as this one.
    pub fn resubscribe(&self) -> Receiver<T> {
        self.shared.lock().receivers += 1;
        Receiver {
            shared: self.shared.clone(),
            next: self.next,
        }
    }
}

/// What the next receive at `next` yields now, `None` if it must wait.
fn next_value<T: Clone>(st: &State<T>, next: &mut u64) -> Option<Result<T, RecvError>> {
    if *next < st.head {
        let lost = st.head - *next;
        *next = st.head;
        return Some(Err(RecvError::Lagged(lost)));
    }
    if *next < st.tail() {
        let v = st.ring[(*next - st.head) as usize].clone();
        *next += 1;
        return Some(Ok(v));
    }
    (st.senders == 0).then_some(Err(RecvError::Closed))
}

/// Future of [`Receiver::recv`].
#[must_use = "futures do nothing unless awaited"]
pub struct Recv<'a, T> {
    rx: &'a mut Receiver<T>,
    key: Option<usize>,
}

impl<T> fmt::Debug for Recv<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recv")
            .field("waiting", &self.key.is_some())
            .finish()
    }
}

impl<T: Clone> Future for Recv<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let shared = this.rx.shared.clone();
        let mut st = shared.lock();
        if let Some(r) = next_value(&st, &mut this.rx.next) {
            if let Some(key) = this.key.take() {
                st.waiters.remove(key);
            }
            return Poll::Ready(r);
        }
        match this.key {
            Some(key) if st.waiters.is_notified(key) => {
                // Woken but nothing new for us (spurious): queue again.
                st.waiters.remove(key);
                this.key = Some(st.waiters.push_back(cx.waker(), ()));
            }
            Some(key) => st.waiters.set_waker(key, cx.waker()),
            None => this.key = Some(st.waiters.push_back(cx.waker(), ())),
        }
        Poll::Pending
    }
}

impl<T> Drop for Recv<'_, T> {
    fn drop(&mut self) {
        // Every waiter is woken by each send, so there is nothing to pass on.
        if let Some(key) = self.key.take() {
            self.rx.shared.lock().waiters.remove(key);
        }
    }
}
