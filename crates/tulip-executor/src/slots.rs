//! The registry entries of the tasks a worker spawns, without a lock (issue #22): one table per
//! worker, whose slots only that worker fills, and which any thread reads or empties through
//! a state word per slot. Kept apart from the registry so that the loom models
//! (`tests/loom.rs`) run this very code.
//!
//! Why: behind a shard's mutex, a spawn and an end cost four read-modify-writes of the lock
//! (lock and unlock, twice) on a line that the two workers of a chain of spawns pass back and
//! forth. Here the owner fills a slot with plain stores and one release store, and takes its
//! own entry out with one compare-and-swap; the slot it frees is the next one it fills.
//!
//! # The protocol
//!
//! A slot's state word holds one of:
//!
//! - `FREE`: empty, on its owner's free list (or about to be). Only the owner touches it.
//! - `LIVE` plus a count of readers: holds an entry (a key, the address of the task's
//!   metadata, and an item, the registry's waker). Any thread may become a reader with a
//!   compare-and-swap that raises the count; a reader may look at the key and the item until
//!   it leaves.
//! - `LIVE | REMOVED` plus readers: removed while readers were there. No new reader gets in;
//!   the last reader to leave moves the item out and marks the slot `DEAD`.
//! - `DEAD`: removed and emptied by another thread than the owner. The owner turns such slots
//!   back into `FREE` ones when its free list runs dry.
//!
//! Rules that make it sound:
//!
//! 1. Only the owner writes a slot's key and item, and only while the slot is `FREE`; it then
//!    publishes them with a release store of `LIVE`, and a reader's acquiring
//!    compare-and-swap sees them.
//! 2. The item is moved out exactly once, by whoever made the transition out of `LIVE` with no
//!    reader left: the owner (`LIVE` to `FREE`), a remover that held the last read, or the
//!    last reader after a removal. No reader can be in at that point, and the slot is not
//!    `FREE` or `DEAD` until the item is out (a remover that is not the owner keeps it at
//!    `LIVE | REMOVED` with no reader while it moves the item, then stores `DEAD`).
//! 3. A remover checks the key while it holds a read (or, for the owner, knowing that nobody
//!    else fills slots), so it never removes another task's entry from a reused slot: an
//!    entry's item keeps its task alive, so no live entry has the same key as another.

use std::mem::MaybeUninit;

use crate::sync::atomic::{
    AtomicPtr, AtomicUsize,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
};
use crate::sync::cell::UnsafeCell;

const FREE: usize = 0;
const LIVE: usize = 1;
const REMOVED: usize = 2;
const DEAD: usize = 4;
/// One reader, in the count above the flags.
const READER: usize = 8;

/// Slots per chunk of a table.
pub(crate) const CHUNK: usize = if cfg!(loom) { 2 } else { 1024 };
/// Chunks per table: a worker keeps at most `CHUNK * MAX_CHUNKS` entries here (1 Mi), and the
/// registry puts any more in its shared shards.
pub(crate) const MAX_CHUNKS: usize = if cfg!(loom) { 2 } else { 1024 };

/// One entry's place.
pub(crate) struct Slot<T> {
    state: AtomicUsize,
    key: UnsafeCell<usize>,
    item: UnsafeCell<MaybeUninit<T>>,
}

// SAFETY: the module's protocol: the key and item are written by the owner while nobody else
// can reach them, read by readers (so `T: Sync`), and moved out by whichever thread empties
// the slot (so `T: Send`).
unsafe impl<T: Send + Sync> Sync for Slot<T> {}
// SAFETY: a slot owns its item.
unsafe impl<T: Send> Send for Slot<T> {}

impl<T> Slot<T> {
    fn new() -> Slot<T> {
        Slot {
            state: AtomicUsize::new(FREE),
            key: UnsafeCell::new(0),
            item: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// Fills a `FREE` slot (rule 1). Only its owner calls this.
    fn fill(&self, key: usize, item: T) {
        debug_assert_eq!(self.state.load(Relaxed), FREE);
        // SAFETY: rule 1: the slot is `FREE`, so no other thread reads or writes the key...
        self.key.with_mut(|k| unsafe { *k = key });
        // SAFETY: ...or the item (which is not initialised: nothing to drop).
        self.item.with_mut(|p| unsafe { (*p).write(item) });
        self.state.store(LIVE, Release);
    }

    /// Turns a `DEAD` slot back into a `FREE` one; whether it did. Only the owner calls this.
    fn reclaim(&self) -> bool {
        // Acquire: the item was moved out before `DEAD` was stored (rule 2).
        if self.state.load(Acquire) == DEAD {
            self.state.store(FREE, Relaxed);
            true
        } else {
            false
        }
    }

    /// Becomes a reader of the entry, if the slot holds one that was not removed.
    pub(crate) fn read(&self) -> Option<Read<'_, T>> {
        let mut s = self.state.load(Relaxed);
        loop {
            if s & (LIVE | REMOVED) != LIVE {
                return None;
            }
            match self.state.compare_exchange(s, s + READER, Acquire, Relaxed) {
                Ok(_) => return Some(Read { slot: self }),
                Err(actual) => s = actual,
            }
        }
    }

    /// The owner's removal of the entry of `key`.
    fn remove_owned(&self, key: usize) -> Owned<T> {
        let mut s = self.state.load(Relaxed);
        loop {
            if s & (LIVE | REMOVED) != LIVE {
                // Not filled, or taken out already (a drain at shutdown).
                return Owned::Gone;
            }
            // SAFETY: rule 1: only the owner (this thread) writes the key.
            if self.key.with(|k| unsafe { *k }) != key {
                return Owned::Gone;
            }
            if s == LIVE {
                // No reader: straight back to `FREE`; the item is ours to move (rule 2), and
                // only this thread could fill the slot again.
                match self.state.compare_exchange(s, FREE, Acquire, Relaxed) {
                    Ok(_) => return Owned::Freed(self.move_out()),
                    Err(actual) => s = actual,
                }
            } else {
                // Readers are in: the last one empties the slot.
                match self.state.compare_exchange(s, s | REMOVED, AcqRel, Relaxed) {
                    Ok(_) => return Owned::Later,
                    Err(actual) => s = actual,
                }
            }
        }
    }

    /// Leaves as a reader; the item when this was the last reader of a removed entry.
    fn leave(&self) -> Option<T> {
        let prev = self.state.fetch_sub(READER, AcqRel);
        (prev == LIVE | REMOVED | READER).then(|| self.empty())
    }

    /// Moves the item out of a removed slot that nobody reads any more, and marks it `DEAD`.
    fn empty(&self) -> T {
        let item = self.move_out();
        self.state.store(DEAD, Release);
        item
    }

    fn move_out(&self) -> T {
        // SAFETY: rule 2: the caller made the transition out of `LIVE` with no reader left, so
        // the item is initialised and nobody else reads or moves it.
        self.item.with(|p| unsafe { (*p).assume_init_read() })
    }
}

impl<T> Drop for Slot<T> {
    fn drop(&mut self) {
        // With `&mut self` nobody reads; an entry still here is dropped with the table (the
        // registry drains its tables at shutdown, so this is for completeness).
        if self.state.load(Relaxed) & LIVE != 0 {
            drop(self.move_out());
        }
    }
}

/// What the owner's removal did.
pub(crate) enum Owned<T> {
    /// The entry left and the slot is free again: here is the item.
    Freed(T),
    /// Readers were in; the last of them empties the slot, which the owner reclaims later.
    Later,
    /// The entry was not there (any more).
    Gone,
}

/// A reader of one slot's entry (see the module's protocol).
pub(crate) struct Read<'a, T> {
    slot: &'a Slot<T>,
}

impl<T> Read<'_, T> {
    /// The entry's key.
    pub(crate) fn key(&self) -> usize {
        // SAFETY: rule 1: the key is not written while a reader is in.
        self.slot.key.with(|k| unsafe { *k })
    }

    /// Runs `f` on the entry's item.
    pub(crate) fn with_item<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        // SAFETY: rule 2: the item stays in place while a reader is in.
        self.slot
            .item
            .with(|p| f(unsafe { (*p).assume_init_ref() }))
    }

    /// Removes the entry and leaves, in one step; the item when no other reader was in (the
    /// one left last empties the slot otherwise). A removal that finds the entry removed
    /// already only leaves.
    pub(crate) fn remove(self) -> Option<T> {
        let slot = self.slot;
        std::mem::forget(self);
        let mut s = slot.state.load(Relaxed);
        loop {
            if s & REMOVED != 0 {
                return slot.leave();
            }
            let next = (s - READER) | REMOVED;
            match slot.state.compare_exchange(s, next, AcqRel, Relaxed) {
                Ok(_) => return (next == LIVE | REMOVED).then(|| slot.empty()),
                Err(actual) => s = actual,
            }
        }
    }
}

impl<T> Drop for Read<'_, T> {
    fn drop(&mut self) {
        // The last reader of an entry removed meanwhile drops its item.
        drop(self.slot.leave());
    }
}

/// What only a table's owner keeps: the slots it may fill.
#[derive(Default)]
pub(crate) struct Owner {
    free: Vec<u32>,
    chunks: usize,
    /// Fills to refuse before the next scan of a full table (each scan is paid for by as many
    /// refusals as it costs).
    skip: usize,
}

/// One worker's slots: chunks allocated as they are needed and kept until the table drops.
pub(crate) struct Table<T> {
    chunks: Box<[AtomicPtr<Slot<T>>]>,
    /// The table owns its slots (and so is `Send`/`Sync` as they are).
    _slots: std::marker::PhantomData<Slot<T>>,
}

impl<T> Table<T> {
    pub(crate) fn new() -> Table<T> {
        Table {
            chunks: (0..MAX_CHUNKS)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
            _slots: std::marker::PhantomData,
        }
    }

    fn slot(&self, index: u32) -> Option<&Slot<T>> {
        let index = index as usize;
        let chunk = self.chunks.get(index / CHUNK)?.load(Acquire);
        // SAFETY: a non-null chunk pointer points to `CHUNK` slots that live as long as the
        // table (published with a release store after they were made).
        (!chunk.is_null()).then(|| unsafe { &*chunk.add(index % CHUNK) })
    }

    /// Puts an entry in a free slot; its index, or the item back when the table is full.
    ///
    /// # Safety
    ///
    /// `owner` is this table's owner state, and only one thread ever fills this table.
    pub(crate) unsafe fn insert(&self, owner: &mut Owner, key: usize, item: T) -> Result<u32, T> {
        let index = match owner.free.pop() {
            Some(i) => i,
            None => match self.refill(owner) {
                Some(i) => i,
                None => return Err(item),
            },
        };
        let Some(slot) = self.slot(index) else {
            unreachable!("a free index names an allocated slot")
        };
        slot.fill(key, item);
        Ok(index)
    }

    /// Refills an empty free list: reclaims the `DEAD` slots, and allocates more chunks when
    /// that finds fewer than a quarter of the slots (so that a scan is paid for by as many
    /// fills as it costs). An index, or `None` when the table is full.
    fn refill(&self, owner: &mut Owner) -> Option<u32> {
        if owner.skip > 0 {
            owner.skip -= 1;
            return None;
        }
        let allocated = owner.chunks * CHUNK;
        for i in (0..allocated).rev() {
            let i = u32::try_from(i).expect("table indices fit in 32 bits");
            if self.slot(i).is_some_and(Slot::reclaim) {
                owner.free.push(i);
            }
        }
        if owner.free.len() < allocated / 4 || owner.free.is_empty() {
            let grow = (owner.chunks / 2).max(1).min(MAX_CHUNKS - owner.chunks);
            for c in owner.chunks..owner.chunks + grow {
                let chunk: Box<[Slot<T>]> = (0..CHUNK).map(|_| Slot::new()).collect();
                let ptr = Box::into_raw(chunk).cast::<Slot<T>>();
                self.chunks[c].store(ptr, Release);
                let first = c * CHUNK;
                owner
                    .free
                    .extend((first..first + CHUNK).rev().map(|i| i as u32));
            }
            owner.chunks += grow;
            if grow == 0 {
                // Full: what the scan found is used first, then the next refills give up.
                owner.skip = allocated / 4;
            }
        }
        owner.free.pop()
    }

    /// The owner's removal of the entry of `key` at `index`: the item when it left now (the
    /// slot goes back on the free list).
    ///
    /// # Safety
    ///
    /// As for [`insert`](Table::insert): called by the one thread that fills this table.
    pub(crate) unsafe fn remove_owned(
        &self,
        owner: &mut Owner,
        index: u32,
        key: usize,
    ) -> Option<T> {
        match self.slot(index)?.remove_owned(key) {
            Owned::Freed(item) => {
                owner.free.push(index);
                Some(item)
            }
            Owned::Later | Owned::Gone => None,
        }
    }

    /// Another thread's removal of the entry of `key` at `index`: the item when it was the
    /// last to hold the entry (rule 2).
    pub(crate) fn remove(&self, index: u32, key: usize) -> Option<T> {
        let r = self.read(index, key)?;
        r.remove()
    }

    /// Becomes a reader of the entry of `key` at `index`, if it is still there.
    pub(crate) fn read(&self, index: u32, key: usize) -> Option<Read<'_, T>> {
        let r = self.slot(index)?.read()?;
        (r.key() == key).then_some(r)
    }

    /// How many entries the table holds (a snapshot: entries added or removed meanwhile may
    /// or may not count). Looks at the state words only, without becoming a reader, so that
    /// counting a million entries writes none of their lines.
    pub(crate) fn count(&self) -> usize {
        let mut n = 0;
        self.for_each_slot(|slot| {
            if slot.state.load(Relaxed) & (LIVE | REMOVED) == LIVE {
                n += 1;
            }
        });
        n
    }

    /// Calls `f` with a read of each entry (entries added meanwhile may be missed).
    pub(crate) fn for_each(&self, mut f: impl FnMut(Read<'_, T>)) {
        self.for_each_slot(|slot| {
            if let Some(r) = slot.read() {
                f(r);
            }
        });
    }

    /// Calls `f` with each allocated slot.
    fn for_each_slot(&self, mut f: impl FnMut(&Slot<T>)) {
        for chunk in self.chunks.iter() {
            let chunk = chunk.load(Acquire);
            if chunk.is_null() {
                break;
            }
            for i in 0..CHUNK {
                // SAFETY: as in `slot`.
                f(unsafe { &*chunk.add(i) });
            }
        }
    }
}

impl<T> Drop for Table<T> {
    fn drop(&mut self) {
        for chunk in self.chunks.iter() {
            let chunk = chunk.load(Relaxed);
            if !chunk.is_null() {
                // SAFETY: made by `Box::into_raw` of a boxed slice of `CHUNK` slots in
                // `refill`, and dropped once, here.
                drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(chunk, CHUNK)) });
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn item() -> Arc<()> {
        Arc::new(())
    }

    /// An empty table, its owner state, and an item to put in it.
    fn setup() -> (Table<Arc<()>>, Owner, Arc<()>) {
        (Table::new(), Owner::default(), item())
    }

    /// `insert` by the test's thread, the table's one filler.
    fn ins(t: &Table<Arc<()>>, o: &mut Owner, key: usize, a: &Arc<()>) -> Result<u32, Arc<()>> {
        // SAFETY: each test fills its table from its own thread only, with one owner state.
        unsafe { t.insert(o, key, a.clone()) }
    }

    /// `remove_owned` by the same thread.
    fn rem(t: &Table<Arc<()>>, o: &mut Owner, index: u32, key: usize) -> Option<Arc<()>> {
        // SAFETY: as in `ins`.
        unsafe { t.remove_owned(o, index, key) }
    }

    #[test]
    fn the_owner_reuses_the_slot_it_freed() {
        let (t, mut o, a) = setup();
        let i = ins(&t, &mut o, 10, &a).ok().unwrap();
        assert_eq!(Arc::strong_count(&a), 2);
        assert!(rem(&t, &mut o, i, 11).is_none(), "wrong key");
        assert!(rem(&t, &mut o, i, 10).is_some());
        assert_eq!(Arc::strong_count(&a), 1, "the item left with the entry");
        let j = ins(&t, &mut o, 12, &a).ok().unwrap();
        assert_eq!(i, j, "the freed slot is the next one filled");
    }

    #[test]
    fn a_reader_keeps_the_item_until_it_leaves() {
        let (t, mut o, a) = setup();
        let i = ins(&t, &mut o, 10, &a).ok().unwrap();
        let r = t.read(i, 10).unwrap();
        assert!(t.read(i, 11).is_none(), "another key is another entry");
        // The owner removes while a reader is in: the reader empties the slot.
        assert!(rem(&t, &mut o, i, 10).is_none());
        assert!(t.read(i, 10).is_none(), "no new reader of a removed entry");
        assert_eq!(r.with_item(Arc::strong_count), 2);
        drop(r);
        assert_eq!(Arc::strong_count(&a), 1, "the last reader dropped the item");
        // The slot is `DEAD` now, not on the free list: the next fill takes a fresh slot, and
        // a refill reclaims it.
        let j = ins(&t, &mut o, 12, &a).ok().unwrap();
        assert_ne!(i, j);
    }

    #[test]
    fn another_thread_removes_and_the_owner_reclaims_on_refill() {
        let t = Arc::new(Table::new());
        let mut o = Owner::default();
        let a = item();
        let mut slots = Vec::new();
        for k in 0..CHUNK {
            slots.push(ins(&t, &mut o, k + 1, &a).ok().unwrap());
        }
        assert_eq!(Arc::strong_count(&a), CHUNK + 1);
        let t2 = t.clone();
        let s2 = slots.clone();
        let took = std::thread::spawn(move || {
            s2.iter()
                .enumerate()
                .filter(|&(k, &i)| t2.remove(i, k + 1).is_some())
                .count()
        })
        .join()
        .unwrap();
        assert_eq!(took, CHUNK);
        assert_eq!(Arc::strong_count(&a), 1);
        // The chunk is full of `DEAD` slots: the refill takes them back instead of growing.
        let i = ins(&t, &mut o, 9999, &a).ok().unwrap();
        assert!((i as usize) < CHUNK, "reclaimed, not grown: {i}");
        assert_eq!(o.chunks, 1);
    }

    #[test]
    fn a_full_table_hands_the_item_back() {
        // A table of one chunk's worth is built by filling it whole.
        let t = Table::new();
        let mut o = Owner {
            chunks: MAX_CHUNKS - 1,
            ..Owner::default()
        };
        // Pretend the first chunks are taken: allocate only the last one.
        let a = item();
        let mut n = 0;
        while ins(&t, &mut o, n + 1, &a).is_ok() {
            n += 1;
        }
        assert_eq!(n, CHUNK, "the last chunk filled");
        assert!(
            o.skip > 0,
            "a scan that found nothing is not repeated at once"
        );
        assert_eq!(Arc::strong_count(&a), CHUNK + 1);
        drop(t);
        assert_eq!(
            Arc::strong_count(&a),
            1,
            "a dropped table drops its entries"
        );
    }

    #[test]
    fn for_each_sees_live_entries_and_a_drain_takes_them() {
        let (t, mut o, a) = setup();
        for k in 0..5 {
            ins(&t, &mut o, k + 1, &a).ok().unwrap();
        }
        assert_eq!(t.count(), 5);
        let mut keys = Vec::new();
        t.for_each(|r| keys.push(r.key()));
        keys.sort();
        assert_eq!(keys, [1, 2, 3, 4, 5]);
        let mut taken = Vec::new();
        t.for_each(|r| taken.extend(r.remove()));
        assert_eq!(taken.len(), 5);
        drop(taken);
        assert_eq!(Arc::strong_count(&a), 1);
        let mut left = 0;
        t.for_each(|_| left += 1);
        assert_eq!(left, 0);
        assert_eq!(t.count(), 0);
    }
}
