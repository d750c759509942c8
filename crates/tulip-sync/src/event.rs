//! `Event`: a latched flag tasks can wait for.

use crate::sync::{AtomicBool, AtomicUsize, Mutex, Ordering, lock};
use crate::wait_list::{WaitList, WakeList, wake_all};
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
    /// Bumped by every `set` that woke waiters, with the `waiters` mutex held. A waiter that
    /// sees it move knows it was woken and that `set` already freed its slot, so its wake-up
    /// poll takes no lock.
    generation: AtomicUsize,
    waiters: Mutex<WaitList<()>>,
}

impl Event {
    /// Creates a cleared event.
    pub fn new() -> Self {
        Event {
            flag: AtomicBool::new(false),
            generation: AtomicUsize::new(0),
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
        let mut wakers = WakeList::new();
        let mut list = lock(&self.waiters);
        if !list.is_empty() {
            self.generation.fetch_add(1, Ordering::Release);
            list.drain_all(&mut wakers);
        }
        drop(list);
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
    /// The slot and the generation it was queued in.
    key: Option<(usize, usize)>,
}

impl Future for EventWait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let event = self.event;
        match self.key {
            Some((_, generation)) if event.generation.load(Ordering::Acquire) != generation => {
                // `set` freed the slot: nothing to clean up.
                self.key = None;
                return Poll::Ready(());
            }
            None if event.is_set() => return Poll::Ready(()),
            _ => {}
        }
        let mut list = lock(&event.waiters);
        // Re-check under the mutex: `set` bumps the generation while holding it.
        let generation = event.generation.load(Ordering::Acquire);
        match self.key {
            Some((_, queued_in)) if queued_in != generation => {
                self.key = None;
                Poll::Ready(())
            }
            Some((key, _)) => {
                list.set_waker(key, cx.waker());
                Poll::Pending
            }
            None if event.is_set() => Poll::Ready(()),
            None => {
                let key = list.push_back(cx.waker(), ());
                drop(list);
                self.key = Some((key, generation));
                Poll::Pending
            }
        }
    }
}

impl Drop for EventWait<'_> {
    fn drop(&mut self) {
        // `set` wakes everybody, so a wake-up left unused here has nobody to go to.
        if let Some((key, queued_in)) = self.key.take() {
            let mut list = lock(&self.event.waiters);
            if self.event.generation.load(Ordering::Acquire) == queued_in {
                list.remove(key);
            }
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
