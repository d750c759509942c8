//! The registry of a `LocalExecutor`: its tasks are spawned and their futures dropped only on
//! the executor's thread (async-task's local spawn checks the thread at every poll and drop),
//! so that thread keeps the entries in a plain slab, without a lock: a spawn and an end cost no
//! atomic read-modify-write here.
//!
//! Other threads reach a local task only through its handle (`cancel`) or its group (a group
//! cancelled from a runtime worker). They post a request to the `Mailbox` and wake the
//! executor's thread, which serves the requests before it polls its next task and before it
//! sleeps. A cancellation's flag is set on the task before the request is posted (by the
//! handle) or by the owner before any later poll (a group), so the task's next poll sees it,
//! as it would with the lock.
//!
//! # Safety invariant
//!
//! The slab (a `RefCell`, not `Sync`) is only touched through `slab()`, which checks that the
//! calling thread is the one that created the registry. That is what makes `Owned` `Sync`.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Waker;

use slab::Slab;
use tulip_reactor::SeatWaker;

use super::{Entry, insert_into, key_of, take_from, waker_in};
use crate::mailbox::Mailbox;
use crate::task::meta::TaskMeta;
use crate::task::{TaskId, TaskInfo};

pub(crate) struct Owned {
    /// `thread_token()` of the thread that owns the slab.
    owner: u64,
    slab: RefCell<Slab<Entry>>,
    mail: Mailbox<Request>,
    /// Wakes the owner after a post.
    waker: SeatWaker,
}

// SAFETY: the safety invariant of this module: the `RefCell` is only borrowed on the owning
// thread (a drop elsewhere has exclusive access, ordered after every use by the `Arc` that
// held it). The other fields are `Sync`.
unsafe impl Sync for Owned {}

/// What another thread asks of the owner.
enum Request {
    /// Wake the task with this id, if it is still the one registered under `key` at `meta`
    /// (an address compared, never read: the task may have ended and been freed since).
    Wake { key: usize, meta: usize, id: TaskId },
    /// `cancel_group(mark)`.
    CancelGroup(u64),
}

/// A number that identifies the calling thread for the life of the process (thread ids of the
/// OS and TLS addresses are reused after a thread exits).
fn thread_token() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static TOKEN: Cell<u64> = const { Cell::new(0) };
    }
    TOKEN.with(|t| match t.get() {
        0 => {
            let v = NEXT.fetch_add(1, Ordering::Relaxed);
            t.set(v);
            v
        }
        v => v,
    })
}

impl Owned {
    /// A registry owned by the calling thread.
    pub(crate) fn new(waker: SeatWaker) -> Owned {
        Owned {
            owner: thread_token(),
            slab: RefCell::new(Slab::new()),
            mail: Mailbox::new(),
            waker,
        }
    }

    fn is_owner(&self) -> bool {
        thread_token() == self.owner
    }

    /// The slab, on the owning thread only (the module's safety invariant).
    #[inline]
    fn slab(&self) -> &RefCell<Slab<Entry>> {
        assert!(
            self.is_owner(),
            "tulip bug: a LocalExecutor's task registry used off the executor's thread"
        );
        &self.slab
    }

    /// Registers a freshly spawned task, before its `Runnable` is first scheduled.
    pub(crate) fn insert(&self, meta: &TaskMeta, waker: Waker) {
        insert_into(&mut self.slab().borrow_mut(), meta, waker);
    }

    /// Unregisters a task whose future is being dropped (see `RegistryRef::remove`).
    pub(crate) fn remove(&self, meta: &TaskMeta) {
        let Some(key) = key_of(meta) else { return };
        let taken = take_from(&mut self.slab().borrow_mut(), key, meta);
        // Dropped after the borrow ends: dropping the last reference may run code.
        drop(taken);
    }

    /// See `RegistryRef::wake`.
    pub(crate) fn wake(&self, meta: &TaskMeta) {
        if self.is_owner() {
            if let Some(w) = self.waker(meta) {
                w.wake();
            }
            return;
        }
        let Some(key) = key_of(meta) else { return };
        self.post(Request::Wake {
            key,
            meta: meta as *const TaskMeta as usize,
            id: meta.id,
        });
    }

    /// See `RegistryRef::waker` (on the owning thread only).
    pub(crate) fn waker(&self, meta: &TaskMeta) -> Option<Waker> {
        waker_in(&self.slab().borrow(), key_of(meta)?, meta)
    }

    /// See `RegistryRef::cancel_group`.
    pub(crate) fn cancel_group(&self, mark: u64) {
        if !self.is_owner() {
            self.post(Request::CancelGroup(mark));
            return;
        }
        let wakers: Vec<Waker> = self
            .slab()
            .borrow()
            .iter()
            .filter(|(_, e)| e.meta().group() == mark)
            .map(|(_, e)| {
                e.meta().request_cancel(None);
                e.waker.clone()
            })
            .collect();
        // Woken after the borrow ends: the schedule function may run code.
        for w in wakers {
            w.wake();
        }
    }

    fn post(&self, request: Request) {
        self.mail.post(request);
        self.waker.wake();
    }

    /// Serves the requests other threads posted (called by the owning thread before each
    /// task and before it sleeps); whether there were any.
    #[inline]
    pub(crate) fn serve(&self) -> bool {
        match self.mail.take() {
            None => false,
            Some(requests) => {
                self.serve_all(requests);
                true
            }
        }
    }

    #[cold]
    fn serve_all(&self, requests: Vec<Request>) {
        for r in requests {
            match r {
                Request::Wake { key, meta, id } => {
                    let w = match self.slab().borrow().get(key) {
                        // The entry is live, so `e.meta()` may be read; the id rules out a
                        // new task at a freed one's address.
                        Some(e) if e.meta as usize == meta && e.meta().id == id => {
                            Some(e.waker.clone())
                        }
                        _ => None,
                    };
                    if let Some(w) = w {
                        w.wake();
                    }
                }
                Request::CancelGroup(mark) => self.cancel_group(mark),
            }
        }
    }

    /// Lists the live tasks, by id.
    pub(crate) fn list(&self) -> Vec<TaskInfo> {
        let mut out: Vec<TaskInfo> = self
            .slab()
            .borrow()
            .iter()
            .map(|(_, e)| e.meta().info())
            .collect();
        out.sort_by_key(|t| t.id);
        out
    }

    /// Takes every entry out and returns their wakers (woken by the caller).
    pub(crate) fn drain(&self) -> Vec<Waker> {
        let entries = std::mem::take(&mut *self.slab().borrow_mut());
        entries.into_iter().map(|(_, e)| e.waker).collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.slab().borrow().len()
    }
}

impl std::fmt::Debug for Owned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("live", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tulip_reactor::{Release, Seat};

    #[test]
    fn threads_get_distinct_tokens_and_keep_theirs() {
        let mine = thread_token();
        assert_eq!(mine, thread_token());
        let other = std::thread::spawn(thread_token).join().unwrap();
        assert_ne!(mine, other);
    }

    /// The safety invariant: the slab is refused to any thread but the one that made it.
    #[test]
    fn the_slab_is_refused_off_the_owning_thread() {
        let seat = Seat::new(Release::HandOff);
        let reg = Arc::new(Owned::new(seat.waker()));
        assert_eq!(reg.len(), 0);
        assert!(reg.list().is_empty());
        let r = reg.clone();
        let off = std::thread::spawn(move || r.len()).join();
        assert!(off.is_err(), "another thread must not borrow the slab");
        // Requests from another thread go to the mailbox instead (served by the owner).
        let r = reg.clone();
        std::thread::spawn(move || r.cancel_group(7))
            .join()
            .unwrap();
        assert!(reg.serve(), "the owner found the posted request");
        assert!(!reg.serve(), "and served it once");
    }
}
