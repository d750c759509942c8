//! Crate-internal pieces exposed to `tests/loom.rs` under `cfg(loom)` only: the local run queue,
//! the idle (wake/park) protocol, the done-callback protocol (`crate::done`) and the mailbox of
//! a `LocalExecutor`'s registry (`crate::mailbox`), the places where the scheduler's
//! correctness rests on the order of atomic operations. Not part of the API.

#![allow(missing_docs, missing_debug_implementations, unreachable_pub)]

use std::ptr::NonNull;

use crate::runtime::queue::{self, RawItem};

pub const CAP: u32 = queue::CAP;

/// Mirror of the crate-private `idle::Woken`.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Woken {
    Notified,
    SelfUnparked,
    StillParked,
}

/// A queue item for the models: a boxed number, so that loss or duplication shows up as a leak
/// or a double free under loom, and in the sums the tests check.
#[derive(Debug, PartialEq, Eq)]
pub struct Item(pub Box<usize>);

impl RawItem for Item {
    fn into_ptr(self) -> NonNull<()> {
        NonNull::from(Box::leak(self.0)).cast()
    }
    unsafe fn from_ptr(ptr: NonNull<()>) -> Self {
        // SAFETY: the caller passes a pointer from `into_ptr` (a leaked `Box<usize>`) once.
        Item(unsafe { Box::from_raw(ptr.cast::<usize>().as_ptr()) })
    }
}

pub struct Local(queue::Local<Item>);
pub struct Stealer(queue::Stealer<Item>);

pub fn queue() -> (Local, Stealer) {
    let (l, s) = queue::new();
    (Local(l), Stealer(s))
}

impl Local {
    pub fn push_back(&self, item: Item, overflow: impl FnMut(Item)) {
        self.0.push_back(item, overflow)
    }
    pub fn pop(&self) -> Option<Item> {
        self.0.pop()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl Stealer {
    pub fn steal_into(&self, dst: &Local) -> Option<Item> {
        self.0.steal_into(&dst.0)
    }
}

impl Clone for Stealer {
    fn clone(&self) -> Self {
        Stealer(self.0.clone())
    }
}

pub struct Idle(crate::idle::Idle);

impl Idle {
    pub fn new(workers: usize) -> Idle {
        Idle(crate::idle::Idle::new(workers))
    }
    pub fn worker_to_searching(&self) -> bool {
        self.0.worker_to_searching()
    }
    pub fn worker_from_searching(&self) -> bool {
        self.0.worker_from_searching()
    }
    pub fn worker_to_parked(&self, index: usize, is_searching: bool) -> bool {
        self.0.worker_to_parked(index, is_searching)
    }
    pub fn worker_to_notify(&self) -> Option<usize> {
        self.0.worker_to_notify()
    }
    pub fn woken(&self, index: usize, has_work: bool) -> Woken {
        match self.0.woken(index, has_work) {
            crate::idle::Woken::Notified => Woken::Notified,
            crate::idle::Woken::SelfUnparked => Woken::SelfUnparked,
            crate::idle::Woken::StillParked => Woken::StillParked,
        }
    }
}

/// The done-callback protocol (`crate::done`) over a flags word and a list of tagged
/// callbacks, as `TaskMeta` runs it.
pub struct Done {
    flags: crate::sync::atomic::AtomicU16,
    list: crate::sync::Mutex<Vec<usize>>,
}

/// An outcome bit for the models (`TaskMeta`'s `COMPLETED`).
pub const COMPLETED: u16 = 8;

impl Done {
    pub fn new() -> Done {
        Done {
            flags: crate::sync::atomic::AtomicU16::new(0),
            list: crate::sync::Mutex::new(Vec::new()),
        }
    }
    /// `add_done_callback`: `Some(tag)` when the callback runs at once (the task had ended).
    pub fn add(&self, tag: usize) -> Option<usize> {
        crate::done::add(&self.flags, &self.list, tag)
            .err()
            .map(|(tag, flags)| {
                assert!(
                    flags & COMPLETED != 0,
                    "an ended task's flags carry its outcome"
                );
                tag
            })
    }
    /// `finished(bit)`: the callbacks that the end runs.
    pub fn end(&self, bit: u16) -> Vec<usize> {
        match crate::done::end(&self.flags, bit) {
            Some(flags) => {
                assert!(flags & bit != 0);
                crate::done::take(&self.list)
            }
            None => Vec::new(),
        }
    }
}

/// The mailbox through which other threads reach a `LocalExecutor`'s registry.
pub struct Mail(crate::mailbox::Mailbox<usize>);

impl Default for Mail {
    fn default() -> Self {
        Mail(crate::mailbox::Mailbox::new())
    }
}

impl Mail {
    pub fn post(&self, request: usize) {
        self.0.post(request)
    }
    /// `take`, with `None` as empty.
    pub fn take(&self) -> Vec<usize> {
        self.0.take().unwrap_or_default()
    }
}

/// A worker's homing queue (`crate::homing`): references its siblings send back to be dropped.
pub struct Homing<T>(crate::homing::Homing<T>);

/// The queue's capacity under loom.
pub const HOMING_CAP: usize = crate::homing::CAP;

impl<T> Default for Homing<T> {
    fn default() -> Self {
        Homing(crate::homing::Homing::new())
    }
}

impl<T> Homing<T> {
    /// A sibling's `send`, with the runtime's shutdown flag.
    pub fn send(&self, item: T, shutdown: &crate::sync::atomic::AtomicBool) {
        self.0.send(item, shutdown)
    }
    /// The owner's drain.
    pub fn drop_all(&self) -> usize {
        self.0.drop_all()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// `Shared::finish_shutdown`'s final drain (the flag is up already).
    pub fn drop_all_after_shutdown(&self) {
        crate::homing::drop_all_after_shutdown([&self.0])
    }
}

/// A worker's registry table (`crate::slots`) and its owner state, with loom `Arc`s as items
/// so that a lost or doubled item shows up as a leak or a wrong count.
pub struct Table(crate::slots::Table<crate::sync::Arc<usize>>);
pub struct TableOwner(crate::slots::Owner);

/// The table's geometry under loom.
pub const TABLE_SLOTS: usize = crate::slots::CHUNK * crate::slots::MAX_CHUNKS;

impl Default for TableOwner {
    fn default() -> Self {
        TableOwner(crate::slots::Owner::default())
    }
}

impl Default for Table {
    fn default() -> Self {
        Table(crate::slots::Table::new())
    }
}

impl Table {
    /// # Safety
    ///
    /// One thread fills the table, always with the same owner state.
    pub unsafe fn insert(
        &self,
        owner: &mut TableOwner,
        key: usize,
        item: crate::sync::Arc<usize>,
    ) -> Result<u32, crate::sync::Arc<usize>> {
        // SAFETY: the caller's promise.
        unsafe { self.0.insert(&mut owner.0, key, item) }
    }
    /// # Safety
    ///
    /// As for `insert`: the thread that fills the table.
    pub unsafe fn remove_owned(
        &self,
        owner: &mut TableOwner,
        index: u32,
        key: usize,
    ) -> Option<crate::sync::Arc<usize>> {
        // SAFETY: the caller's promise.
        unsafe { self.0.remove_owned(&mut owner.0, index, key) }
    }
    /// Another thread's removal.
    pub fn remove(&self, index: u32, key: usize) -> Option<crate::sync::Arc<usize>> {
        self.0.remove(index, key)
    }
    /// A handle's look at the entry (the registry clones the waker): the item's value.
    pub fn read(&self, index: u32, key: usize) -> Option<usize> {
        self.0.read(index, key).map(|r| r.with_item(|a| **a))
    }
    /// The registry's drain at shutdown: a clone of each item, each entry removed.
    pub fn drain(&self) -> Vec<crate::sync::Arc<usize>> {
        let mut out = Vec::new();
        self.0.for_each(|r| {
            out.push(r.with_item(crate::sync::Arc::clone));
            drop(r.remove());
        });
        out
    }
    /// The keys of the entries a scan sees.
    pub fn keys(&self) -> Vec<usize> {
        let mut out = Vec::new();
        self.0.for_each(|r| out.push(r.key()));
        out
    }
}
