//! The registry of a multi-thread runtime: any worker spawns and ends tasks.
//!
//! A task spawned on a worker has its entry in that worker's table (`crate::slots`): the
//! worker fills a slot and, when the task ends on it, empties it without a lock; other threads
//! read and empty slots through the slot's state word. A task spawned elsewhere (the thread
//! that calls `block_on`, a handle's `spawn` from outside), or one more than a full table
//! holds, has its entry in shards behind locks, sharded by task id so that spawns on
//! different threads rarely share one.

use std::task::Waker;

use slab::Slab;

use std::sync::Mutex;

use super::{Entry, insert_into, take_from, waker_in};
use crate::runtime::worker;
use crate::slots::{Read, Table};
use crate::sync::std_lock as lock;
use crate::task::meta::TaskMeta;
use crate::task::{TaskId, TaskInfo};

const SHARDS: usize = 32;

/// Marks a key (`TaskMeta::reg_key`) as a shard's slab key rather than a table index.
const IN_SHARD: u32 = 1 << 31;

pub(crate) struct Sharded {
    shards: Box<[Shard]>,
    /// One per worker, by index: the entries of the tasks it spawned.
    tables: Box<[Table<Waker>]>,
}

/// One shard on cache lines of its own: tasks with consecutive ids use consecutive shards,
/// and two workers spawning and ending such tasks would otherwise write the same line
/// through two different locks.
#[repr(align(128))]
struct Shard(Mutex<Slab<Entry>>);

/// Where a task's entry is.
enum Place {
    Shard(usize),
    /// A worker's table (the worker's index) and the slot's index.
    Table(usize, u32),
}

fn place_of(meta: &TaskMeta) -> Option<Place> {
    let key = meta.reg_key.load(std::sync::atomic::Ordering::Relaxed);
    if key == u32::MAX {
        None
    } else if key & IN_SHARD != 0 {
        Some(Place::Shard((key & !IN_SHARD) as usize))
    } else {
        // A table entry is only made on a worker, for a task whose home is that worker.
        Some(Place::Table(usize::from(meta.home) - 1, key))
    }
}

/// A table entry's key: the address of the task's metadata (unique among live entries, as
/// each keeps its task alive).
fn key(meta: &TaskMeta) -> usize {
    meta as *const TaskMeta as usize
}

/// The task a read entry is for.
fn meta_of<'a>(r: &'a Read<'_, Waker>) -> &'a TaskMeta {
    // SAFETY: invariant 2 of `crate::task`: the key is the address of the task's metadata, and
    // the entry's waker, which the read keeps in place, keeps the allocation alive.
    unsafe { &*(r.key() as *const TaskMeta) }
}

impl Sharded {
    pub(crate) fn new(workers: usize) -> Sharded {
        Sharded {
            shards: (0..SHARDS)
                .map(|_| Shard(Mutex::new(Slab::new())))
                .collect(),
            tables: (0..workers).map(|_| Table::new()).collect(),
        }
    }

    fn shard(&self, id: TaskId) -> &Mutex<Slab<Entry>> {
        &self.shards[(id.0 as usize) % self.shards.len()].0
    }

    /// Registers a freshly spawned task, before its `Runnable` is first scheduled. Called on
    /// the spawning thread, after `TaskMeta::home` was set.
    pub(crate) fn insert(&self, meta: &TaskMeta, waker: Waker) {
        let waker = match usize::from(meta.home).checked_sub(1) {
            // Spawned on a worker (of this runtime: `home_mark`), so this is its thread.
            Some(home) => {
                let table = &self.tables[home];
                // SAFETY: `with_table_owner` runs this on worker `home`'s thread, with its
                // owner state, and only that thread fills its table.
                let inserted = worker::with_table_owner(self, home, |owner| unsafe {
                    table.insert(owner, key(meta), waker)
                });
                match inserted {
                    Some(Ok(index)) => {
                        meta.reg_key
                            .store(index, std::sync::atomic::Ordering::Relaxed);
                        return;
                    }
                    Some(Err(waker)) => waker,
                    None => unreachable!("a task's home worker registers it"),
                }
            }
            None => waker,
        };
        insert_into(&mut lock(self.shard(meta.id)), meta, waker);
        let key = meta.reg_key.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            key < IN_SHARD,
            "fewer than 2^31 live tasks per registry shard"
        );
        meta.reg_key
            .store(key | IN_SHARD, std::sync::atomic::Ordering::Relaxed);
    }

    /// Unregisters a task whose future is being dropped (see `RegistryRef::remove`).
    pub(crate) fn remove(&self, meta: &TaskMeta) {
        let taken = match place_of(meta) {
            None => return,
            Some(Place::Shard(k)) => {
                take_from(&mut lock(self.shard(meta.id)), k, meta).map(|e| e.waker)
            }
            Some(Place::Table(home, index)) => {
                let table = &self.tables[home];
                // SAFETY: as in `insert`: on worker `home`'s thread, with its owner state.
                worker::with_table_owner(self, home, |owner| unsafe {
                    table.remove_owned(owner, index, key(meta))
                })
                .unwrap_or_else(|| table.remove(index, key(meta)))
            }
        };
        // The waker is dropped outside the lock: dropping the last reference may run code.
        // It may be the task's last reference: then it goes back to the worker that spawned
        // the task, to be freed there (`crate::homing`).
        if let Some(w) = taken {
            worker::release(meta, w);
        }
    }

    /// Wakes a registered task (so that a cancellation request is seen at its next poll).
    /// Does nothing when the task has left the registry: it has ended, or shutdown took it.
    pub(crate) fn wake(&self, meta: &TaskMeta) {
        // Woken outside the lock: the schedule function may run the task right here.
        if let Some(w) = self.waker(meta) {
            w.wake();
        }
    }

    /// A waker of a registered task, `None` when the task has left the registry (it has
    /// ended, or shutdown took it).
    pub(crate) fn waker(&self, meta: &TaskMeta) -> Option<Waker> {
        match place_of(meta)? {
            Place::Shard(k) => waker_in(&lock(self.shard(meta.id)), k, meta),
            Place::Table(home, index) => self.tables[home]
                .read(index, key(meta))
                .map(|r| r.with_item(Waker::clone)),
        }
    }

    /// Cancels every registered task marked as a child of the group `mark` (see
    /// `TaskMeta::set_group`): asks each to stop at its next poll, and wakes it so that the
    /// poll comes. A task that has ended already ignores the request.
    pub(crate) fn cancel_group(&self, mark: u64) {
        let mut wakers = Vec::new();
        for shard in self.shards.iter() {
            for (_, e) in lock(&shard.0).iter() {
                if e.meta().group() == mark {
                    e.meta().request_cancel(None);
                    wakers.push(e.waker.clone());
                }
            }
        }
        for table in self.tables.iter() {
            table.for_each(|r| {
                let meta = meta_of(&r);
                if meta.group() == mark {
                    meta.request_cancel(None);
                    wakers.push(r.with_item(Waker::clone));
                }
            });
        }
        // Woken outside the locks: the schedule function may run the task right here.
        for w in wakers {
            w.wake();
        }
    }

    /// Lists the live tasks, by id.
    pub(crate) fn list(&self) -> Vec<TaskInfo> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            for (_, e) in lock(&shard.0).iter() {
                out.push(e.meta().info());
            }
        }
        for table in self.tables.iter() {
            table.for_each(|r| out.push(meta_of(&r).info()));
        }
        out.sort_by_key(|t| t.id);
        out
    }

    /// Takes every entry out and returns their wakers (woken by the caller, outside any lock).
    pub(crate) fn drain(&self) -> Vec<Waker> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let entries = std::mem::take(&mut *lock(&shard.0));
            out.extend(entries.into_iter().map(|(_, e)| e.waker));
        }
        for table in self.tables.iter() {
            table.for_each(|r| {
                // The clone is what gets woken; the entry's own waker is dropped by whoever
                // empties the slot (this read, or another one still in).
                out.push(r.with_item(Waker::clone));
                drop(r.remove());
            });
        }
        out
    }

    pub(crate) fn len(&self) -> usize {
        let n: usize = self.shards.iter().map(|s| lock(&s.0).len()).sum();
        n + self.tables.iter().map(Table::count).sum::<usize>()
    }
}

impl std::fmt::Debug for Sharded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("live", &self.len())
            .finish()
    }
}
