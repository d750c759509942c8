//! `Event`: a latched flag tasks can wait for.

use crate::sync::{AtomicUsize, Mutex, Ordering, lock};
use crate::wait_list::{WaitList, WakeList, wake_all};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// `state` bit: the flag.
const SET: usize = 1;
/// `state` bit: the wait list may be non-empty; set by a waiter before it queues and cleared
/// by the `set` that drains the list, both with the mutex held.
const WAITERS: usize = 2;
/// `state` is `generation * GEN | WAITERS | SET`.
const GEN: usize = 4;

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
    /// The flag, the waiters bit and a generation, in one word so that `set` and a queuing
    /// waiter order themselves by read-modify-writes of one atomic: either the waiter sees
    /// `SET` and does not queue, or `set` sees `WAITERS` and drains the list under the mutex.
    /// The generation moves with every drain: a waiter that sees it move knows it was woken
    /// and that `set` already freed its slot, so its wake-up poll takes no lock.
    state: AtomicUsize,
    waiters: Mutex<WaitList<()>>,
}

impl Event {
    /// Creates a cleared event.
    pub fn new() -> Self {
        Event {
            state: AtomicUsize::new(0),
            waiters: Mutex::new(WaitList::new()),
        }
    }

    /// Sets the flag and wakes every waiter. With nobody waiting it is one atomic operation.
    pub fn set(&self) {
        let old = self.state.fetch_or(SET, Ordering::AcqRel);
        if old & SET != 0 || old & WAITERS == 0 {
            return;
        }
        let mut wakers = WakeList::new();
        let mut list = lock(&self.waiters);
        // Only holders of the mutex touch `WAITERS` and the generation; `clear` may race on
        // `SET`, hence the CAS loop.
        let mut s = self.state.load(Ordering::Acquire);
        while s & WAITERS != 0 {
            match self.state.compare_exchange_weak(
                s,
                (s & !WAITERS) + GEN,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    list.drain_all(&mut wakers);
                    break;
                }
                Err(actual) => s = actual,
            }
        }
        drop(list);
        wake_all(wakers);
    }

    /// Clears the flag. Waiters already woken by a `set` still return.
    pub fn clear(&self) {
        self.state.fetch_and(!SET, Ordering::AcqRel);
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.state.load(Ordering::Acquire) & SET != 0
    }

    fn generation(&self) -> usize {
        self.state.load(Ordering::Acquire) / GEN
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
            Some((_, generation)) if event.generation() != generation => {
                // `set` freed the slot: nothing to clean up.
                self.key = None;
                return Poll::Ready(());
            }
            None if event.is_set() => return Poll::Ready(()),
            _ => {}
        }
        let mut list = lock(&event.waiters);
        match self.key {
            // Re-check under the mutex: `set` moves the generation while holding it.
            Some((_, queued_in)) if queued_in != event.generation() => {
                self.key = None;
                Poll::Ready(())
            }
            Some((key, _)) => {
                list.set_waker(key, cx.waker());
                Poll::Pending
            }
            None => {
                let old = event.state.fetch_or(WAITERS, Ordering::AcqRel);
                if old & SET != 0 {
                    if list.is_empty() {
                        event.state.fetch_and(!WAITERS, Ordering::AcqRel);
                    }
                    return Poll::Ready(());
                }
                let key = list.push_back(cx.waker(), ());
                drop(list);
                self.key = Some((key, old / GEN));
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
            if self.event.generation() == queued_in {
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
