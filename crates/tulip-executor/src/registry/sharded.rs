//! The registry of a multi-thread runtime: any worker spawns and ends tasks, so the entries
//! sit behind locks, sharded by task id so that spawns on different workers rarely share one.

use std::task::Waker;

use slab::Slab;

use std::sync::Mutex;

use super::{Entry, insert_into, key_of, take_from, waker_in};
use crate::sync::std_lock as lock;
use crate::task::meta::TaskMeta;
use crate::task::{TaskId, TaskInfo};

const SHARDS: usize = 32;

pub(crate) struct Sharded {
    shards: Box<[Shard]>,
}

/// One shard on cache lines of its own: tasks with consecutive ids use consecutive shards,
/// and two workers spawning and ending such tasks would otherwise write the same line
/// through two different locks.
#[repr(align(128))]
struct Shard(Mutex<Slab<Entry>>);

impl Sharded {
    pub(crate) fn new() -> Sharded {
        Sharded {
            shards: (0..SHARDS)
                .map(|_| Shard(Mutex::new(Slab::new())))
                .collect(),
        }
    }

    fn shard(&self, id: TaskId) -> &Mutex<Slab<Entry>> {
        &self.shards[(id.0 as usize) % self.shards.len()].0
    }

    /// Registers a freshly spawned task, before its `Runnable` is first scheduled.
    pub(crate) fn insert(&self, meta: &TaskMeta, waker: Waker) {
        insert_into(&mut lock(self.shard(meta.id)), meta, waker);
    }

    /// Unregisters a task whose future is being dropped (see `RegistryRef::remove`).
    pub(crate) fn remove(&self, meta: &TaskMeta) {
        let Some(key) = key_of(meta) else { return };
        let taken = take_from(&mut lock(self.shard(meta.id)), key, meta);
        // The waker is dropped outside the lock: dropping the last reference may run code.
        // It may be the task's last reference: then it goes back to the worker that spawned
        // the task, to be freed there (`crate::homing`).
        if let Some(e) = taken {
            crate::runtime::worker::release(meta, e.waker);
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
        waker_in(&lock(self.shard(meta.id)), key_of(meta)?, meta)
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
        out
    }

    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(&s.0).len()).sum()
    }
}

impl std::fmt::Debug for Sharded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("live", &self.len())
            .finish()
    }
}
