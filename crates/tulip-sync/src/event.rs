//! `Event`: a latched flag tasks can wait for.

use crate::sync::{AtomicBool, Mutex, Ordering, lock};
use crate::wait_list::{WaitList, wake_all};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A latched event, like `asyncio.Event`: [`set`](Event::set) wakes every waiter and keeps
/// later waits from blocking until [`clear`](Event::clear).
///
/// # Examples
///
/// ```
/// use tulip_sync::Event;
/// # futures_lite::future::block_on(async {
/// let ev = Event::new();
/// assert!(!ev.is_set());
/// ev.set();
/// ev.wait().await; // returns at once
/// ev.clear();
/// assert!(!ev.is_set());
/// # });
/// ```
#[derive(Debug, Default)]
pub struct Event {
    flag: AtomicBool,
    waiters: Mutex<WaitList<()>>,
}

impl Event {
    /// Creates a cleared event.
    pub fn new() -> Self {
        Event {
            flag: AtomicBool::new(false),
            waiters: Mutex::new(WaitList::new()),
        }
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        if self.flag.swap(true, Ordering::AcqRel) {
            return;
        }
        // A waiter checks the flag under this mutex before it queues, so after taking the
        // mutex here every waiter that missed the flag is in the list.
        let mut wakers = Vec::new();
        lock(&self.waiters).notify_all(&mut wakers);
        wake_all(wakers);
    }

    /// Clears the flag. Waiters already woken by a `set` still return.
    pub fn clear(&self) {
        self.flag.store(false, Ordering::Release);
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// Waits until the flag is set; returns at once if it is.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped wait leaves the wait list and the event is unaffected.
    pub fn wait(&self) -> EventWait<'_> {
        EventWait {
            event: self,
            key: None,
        }
    }
}

/// Future of [`Event::wait`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct EventWait<'a> {
    event: &'a Event,
    key: Option<usize>,
}

impl Future for EventWait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.key.is_none() && self.event.is_set() {
            return Poll::Ready(());
        }
        let mut list = lock(&self.event.waiters);
        match self.key {
            Some(key) if list.is_notified(key) || self.event.is_set() => {
                list.remove(key);
                drop(list);
                self.key = None;
                Poll::Ready(())
            }
            Some(key) => {
                list.set_waker(key, cx.waker());
                Poll::Pending
            }
            None if self.event.is_set() => Poll::Ready(()),
            None => {
                let key = list.push_back(cx.waker(), ());
                drop(list);
                self.key = Some(key);
                Poll::Pending
            }
        }
    }
}

impl Drop for EventWait<'_> {
    fn drop(&mut self) {
        // `set` wakes everybody, so a notification left unused here has nobody to go to.
        if let Some(key) = self.key.take() {
            lock(&self.event.waiters).remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::{block_on, poll_once};

    #[test]
    fn set_wakes_all_and_latches() {
        let ev = Event::new();
        let mut a = Box::pin(ev.wait());
        let mut b = Box::pin(ev.wait());
        assert!(block_on(poll_once(&mut a)).is_none());
        assert!(block_on(poll_once(&mut b)).is_none());
        ev.set();
        ev.clear();
        // Woken by the `set` even though the flag is clear again.
        assert!(block_on(poll_once(&mut a)).is_some());
        assert!(block_on(poll_once(&mut b)).is_some());
        let mut c = Box::pin(ev.wait());
        assert!(block_on(poll_once(&mut c)).is_none());
        drop(c);
        assert!(lock(&ev.waiters).is_empty());
    }
}
