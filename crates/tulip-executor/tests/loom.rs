//! loom models of the scheduler's lock-free parts: the local run queue's push/pop/steal (with
//! overflow into an injector), the wake/park protocol (no lost wake-ups), a task's end
//! racing `add_done_callback` (each callback runs once), the mailbox through which other
//! threads reach a `LocalExecutor`'s registry (no request lost or late), and the homing queue
//! that sends a detached task's last reference back to its spawner (each dropped once, none
//! left behind at shutdown), and a worker's registry table, whose owner fills and empties
//! slots without a lock while other threads read and empty them (each entry's waker
//! dropped once, no slot reused while it is still read).
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p tulip-executor --release --test loom`.
#![cfg(loom)]

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Mutex};
use loom::thread;

use tulip_executor::loom_models::{CAP, Idle, Item, Woken, queue};

/// Explores interleavings with at most `PREEMPTIONS` forced preemptions per execution: enough to
/// hit the races that matter here (each needs one or two), and it keeps every model < 15 s.
fn model(f: impl Fn() + Sync + Send + 'static) {
    const PREEMPTIONS: usize = 2;
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(PREEMPTIONS);
    b.check(f);
}

fn item(n: usize) -> Item {
    Item(Box::new(n))
}

/// The owner pushes and pops while a thief steals: every item comes out exactly once.
#[test]
fn steal_while_owner_pushes_and_pops() {
    model(|| {
        let (owner, stealer) = queue();
        let (thief_local, _thief_stealer) = queue();
        let th = thread::spawn(move || {
            let mut got = Vec::new();
            if let Some(i) = stealer.steal_into(&thief_local) {
                got.push(*i.0);
            }
            while let Some(i) = thief_local.pop() {
                got.push(*i.0);
            }
            got
        });
        let overflow = Arc::new(Mutex::new(Vec::new()));
        let mut got = Vec::new();
        for n in 0..2 {
            let o = overflow.clone();
            owner.push_back(item(n), move |i| o.lock().unwrap().push(*i.0));
        }
        if let Some(i) = owner.pop() {
            got.push(*i.0);
        }
        let o = overflow.clone();
        owner.push_back(item(2), move |i| o.lock().unwrap().push(*i.0));
        while let Some(i) = owner.pop() {
            got.push(*i.0);
        }
        got.extend(th.join().unwrap());
        got.extend(overflow.lock().unwrap().iter().copied());
        got.sort();
        assert_eq!(got, vec![0, 1, 2]);
    });
}

/// A full queue overflows half of itself into the injector while a thief is at work.
#[test]
fn overflow_while_stealing() {
    model(|| {
        let (owner, stealer) = queue();
        let (thief_local, _s) = queue();
        let total = CAP as usize + 1;
        for n in 0..CAP as usize {
            owner.push_back(item(n), |_| unreachable!("room for CAP items"));
        }
        let th = thread::spawn(move || {
            let mut got = Vec::new();
            if let Some(i) = stealer.steal_into(&thief_local) {
                got.push(*i.0);
            }
            while let Some(i) = thief_local.pop() {
                got.push(*i.0);
            }
            got
        });
        let mut overflow = Vec::new();
        owner.push_back(item(CAP as usize), |i| overflow.push(*i.0));
        let mut got = overflow;
        while let Some(i) = owner.pop() {
            got.push(*i.0);
        }
        got.extend(th.join().unwrap());
        got.sort();
        assert_eq!(got, (0..total).collect::<Vec<_>>());
    });
}

/// Two thieves race for the same queue: nothing is taken twice.
#[test]
fn two_thieves() {
    model(|| {
        let (owner, stealer) = queue();
        for n in 0..2 {
            owner.push_back(item(n), |_| unreachable!());
        }
        let thieves: Vec<_> = (0..2)
            .map(|_| {
                let s = stealer.clone();
                thread::spawn(move || {
                    let (mine, _x) = queue();
                    let mut got = Vec::new();
                    if let Some(i) = s.steal_into(&mine) {
                        got.push(*i.0);
                    }
                    while let Some(i) = mine.pop() {
                        got.push(*i.0);
                    }
                    got
                })
            })
            .collect();
        let mut got = Vec::new();
        while let Some(i) = owner.pop() {
            got.push(*i.0);
        }
        for t in thieves {
            got.extend(t.join().unwrap());
        }
        got.sort();
        assert_eq!(got, vec![0, 1]);
    });
}

/// The worker side of the protocol, as `runtime::worker` runs it, against an injector.
fn worker(
    me: usize,
    idle: &Idle,
    injector: &Mutex<Vec<usize>>,
    parker: &parking::Parker,
    unparkers: &[parking::Unparker],
    taken: &AtomicUsize,
    jobs: usize,
    done: &AtomicBool,
) {
    let notify = || {
        if let Some(i) = idle.worker_to_notify() {
            unparkers[i].unpark();
        }
    };
    let mut searching = false;
    loop {
        if done.load(SeqCst) {
            return;
        }
        if !searching {
            searching = idle.worker_to_searching();
        }
        let job = injector.lock().unwrap().pop();
        if job.is_some() {
            if searching {
                searching = false;
                if idle.worker_from_searching() {
                    notify();
                }
            }
            if taken.fetch_add(1, SeqCst) + 1 == jobs {
                // The last job: everyone may stop.
                done.store(true, SeqCst);
                for u in unparkers {
                    u.unpark();
                }
                return;
            }
            continue;
        }
        let last = idle.worker_to_parked(me, searching);
        searching = false;
        if last && !injector.lock().unwrap().is_empty() {
            notify();
        }
        loop {
            if done.load(SeqCst) {
                return;
            }
            parker.park();
            match idle.woken(me, false) {
                Woken::Notified => {
                    searching = true;
                    break;
                }
                Woken::SelfUnparked => break,
                Woken::StillParked => {}
            }
        }
    }
}

/// A producer pushes jobs from outside while workers search and park: every job gets taken.
/// A lost wake-up leaves a job in the injector with every worker parked forever, which loom
/// reports as a deadlock (the main thread waits for them in `join`).
fn wake_park_model(workers: usize, jobs: usize) {
    model(move || {
        let idle = Arc::new(Idle::new(workers));
        let injector = Arc::new(Mutex::new(Vec::new()));
        let taken = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let _ = &taken;
        let pairs: Vec<_> = (0..workers).map(|_| parking::pair()).collect();
        let unparkers: Arc<Vec<_>> = Arc::new(pairs.iter().map(|(_, u)| u.clone()).collect());
        let mut threads = Vec::new();
        for (me, (parker, _)) in pairs.into_iter().enumerate() {
            let (idle, injector, taken, done, unparkers) = (
                idle.clone(),
                injector.clone(),
                taken.clone(),
                done.clone(),
                unparkers.clone(),
            );
            threads.push(thread::spawn(move || {
                worker(
                    me, &idle, &injector, &parker, &unparkers, &taken, jobs, &done,
                )
            }));
        }
        for j in 0..jobs {
            injector.lock().unwrap().push(j);
            if let Some(i) = idle.worker_to_notify() {
                unparkers[i].unpark();
            }
        }
        for t in threads {
            t.join().unwrap();
        }
    });
}

#[test]
fn wake_park_one_worker() {
    wake_park_model(1, 2);
}

#[test]
fn wake_park_two_workers() {
    wake_park_model(2, 1);
}

/// `add_done_callback` from two threads racing the task's end (and the drop's second end):
/// every callback runs exactly once, either inline in `add` or in the end's list.
#[test]
fn done_callbacks_race_the_end_and_run_once() {
    use tulip_executor::loom_models::{COMPLETED, Done};
    model(|| {
        let done = Arc::new(Done::new());
        let adders: Vec<_> = [1, 2]
            .into_iter()
            .map(|tag| {
                let d = done.clone();
                thread::spawn(move || d.add(tag))
            })
            .collect();
        let mut ran = done.end(COMPLETED);
        // The drop that follows a completion ends again: a no-op.
        assert!(done.end(COMPLETED).is_empty());
        for a in adders {
            ran.extend(a.join().unwrap());
        }
        // A callback added after everything: runs at once.
        ran.extend(done.add(3));
        ran.sort();
        assert_eq!(ran, vec![1, 2, 3]);
    });
}

/// Two threads post to a `LocalExecutor`'s mailbox and unpark its thread, which takes and
/// parks: no request is lost, and the owner never sleeps on one (loom reports a deadlock if
/// the last unpark could come before a post it fails to see).
#[test]
fn mailbox_requests_reach_a_parking_owner() {
    use tulip_executor::loom_models::Mail;
    model(|| {
        let mail = Arc::new(Mail::default());
        let owner = thread::current();
        let posters: Vec<_> = [1, 2]
            .into_iter()
            .map(|r| {
                let (m, o) = (mail.clone(), owner.clone());
                thread::spawn(move || {
                    m.post(r);
                    o.unpark();
                })
            })
            .collect();
        let mut got = Vec::new();
        while got.len() < 2 {
            let taken = mail.take();
            if taken.is_empty() {
                thread::park();
            }
            got.extend(taken);
        }
        for p in posters {
            p.join().unwrap();
        }
        got.sort();
        assert_eq!(got, vec![1, 2]);
        assert!(mail.take().is_empty());
    });
}

/// A request posted before another message (here a flag; in the executor, the wake of a task
/// through a channel) is taken by the owner's first `take` after it sees that message: a group
/// cancelled from another thread is seen by the child's next poll.
#[test]
fn mailbox_request_is_served_before_a_later_message() {
    use tulip_executor::loom_models::Mail;
    model(|| {
        let mail = Arc::new(Mail::default());
        let sent = Arc::new(AtomicBool::new(false));
        let (m, s) = (mail.clone(), sent.clone());
        let poster = thread::spawn(move || {
            m.post(1);
            s.store(true, std::sync::atomic::Ordering::Release);
        });
        let mut got = Vec::new();
        loop {
            let seen = sent.load(std::sync::atomic::Ordering::Acquire);
            got.extend(mail.take());
            if seen {
                break;
            }
            thread::yield_now();
        }
        assert_eq!(got, vec![1], "the request came with the message");
        poster.join().unwrap();
    });
}

/// Counts its drops: what a homing queue holds in place of a task's `Waker`.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// A homing queue, the runtime's shutdown flag (down) and the count of dropped references.
type HomingSetup = (
    Arc<tulip_executor::loom_models::Homing<Counted>>,
    Arc<AtomicBool>,
    Arc<AtomicUsize>,
);

fn homing_setup() -> HomingSetup {
    (
        Arc::new(Default::default()),
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    )
}

/// Two siblings send references home (more than the queue holds) while the owner drains:
/// each reference is dropped exactly once, by the owner or, when the queue is full, by its
/// sender.
#[test]
fn homing_drops_each_reference_once() {
    use tulip_executor::loom_models::HOMING_CAP;
    model(|| {
        let (q, shutdown, dropped) = homing_setup();
        let per_sender = HOMING_CAP;
        let senders: Vec<_> = (0..2)
            .map(|_| {
                let (q, s, d) = (q.clone(), shutdown.clone(), dropped.clone());
                thread::spawn(move || {
                    for _ in 0..per_sender {
                        q.send(Counted(d.clone()), &s);
                    }
                })
            })
            .collect();
        q.drop_all();
        for t in senders {
            t.join().unwrap();
        }
        q.drop_all();
        assert!(q.is_empty());
        assert_eq!(dropped.load(SeqCst), 2 * per_sender);
    });
}

/// A sibling sends a reference home while the runtime shuts down and makes its final drain:
/// whatever the order, nothing is left in the queue once both are done (a reference left
/// there would keep its task, and through it the runtime, alive forever).
#[test]
fn homing_leaves_nothing_behind_at_shutdown() {
    model(|| {
        let (q, shutdown, dropped) = homing_setup();
        let (q2, s2, d2) = (q.clone(), shutdown.clone(), dropped.clone());
        let sender = thread::spawn(move || q2.send(Counted(d2), &s2));
        shutdown.store(true, SeqCst);
        q.drop_all_after_shutdown();
        // Only the sender's thread may still touch the queue now: once it is done, the
        // reference must be gone without another drain.
        sender.join().unwrap();
        assert!(
            q.is_empty(),
            "a reference was left in the queue after shutdown"
        );
        assert_eq!(dropped.load(SeqCst), 1);
    });
}

/// A worker's registry table, its owner state, and an entry the owner put in before the
/// model's threads start: its slot and its item (a loom `Arc`, leak-checked, whose strong
/// count says how many holders are left).
fn table_with_entry() -> (
    Arc<tulip_executor::loom_models::Table>,
    tulip_executor::loom_models::TableOwner,
    u32,
    Arc<usize>,
) {
    let table = Arc::new(tulip_executor::loom_models::Table::default());
    let mut owner = tulip_executor::loom_models::TableOwner::default();
    let item = Arc::new(7);
    // SAFETY: this thread alone fills the table, with `owner`.
    let index = unsafe { table.insert(&mut owner, 1, item.clone()) }.unwrap();
    (table, owner, index, item)
}

/// A task that ended on a sibling is removed by it while a handle looks at the entry to wake
/// it: the entry's item leaves exactly once (by the remover, or by the reader if it was in
/// last), and the owner then reuses the slot for another entry.
#[test]
fn table_removal_by_a_sibling_races_a_reader() {
    model(|| {
        let (table, mut owner, index, item) = table_with_entry();
        let t = table.clone();
        let sibling = thread::spawn(move || drop(t.remove(index, 1)));
        let t = table.clone();
        let handle = thread::spawn(move || t.read(index, 1));
        sibling.join().unwrap();
        if let Some(v) = handle.join().unwrap() {
            assert_eq!(v, 7);
        }
        // The sibling removed it, and it or the handle (if in last) dropped the item.
        assert_eq!(
            Arc::strong_count(&item),
            1,
            "the entry's item left exactly once"
        );
        assert!(table.read(index, 1).is_none());
        // The owner fills the table again: a reclaimed or a fresh slot, never a live one.
        let next = Arc::new(8);
        // SAFETY: this thread alone fills the table, with `owner`.
        let j = unsafe { table.insert(&mut owner, 2, next.clone()) }.unwrap();
        assert_eq!(table.read(j, 2), Some(8));
        assert_eq!(table.keys(), vec![2]);
        drop(table.drain());
        assert_eq!(Arc::strong_count(&next), 1);
    });
}

/// The owner removes its own entry while shutdown drains the table and a handle reads it:
/// the item leaves once; whoever drained holds a clone to wake, and nothing is left.
#[test]
fn table_owner_removal_races_a_drain_and_a_reader() {
    model(|| {
        let (table, mut owner, index, item) = table_with_entry();
        let t = table.clone();
        let drain = thread::spawn(move || t.drain());
        let t = table.clone();
        let handle = thread::spawn(move || t.read(index, 1));
        // SAFETY: this thread alone fills the table, with `owner`.
        let mine = unsafe { table.remove_owned(&mut owner, index, 1) };
        let drained = drain.join().unwrap();
        let _ = handle.join().unwrap();
        assert!(drained.len() <= 1);
        drop(mine);
        drop(drained);
        assert_eq!(
            Arc::strong_count(&item),
            1,
            "the entry's item left exactly once"
        );
        assert!(table.keys().is_empty());
        // Every slot can be filled again.
        let mut items = Vec::new();
        for k in 0..tulip_executor::loom_models::TABLE_SLOTS {
            let a = Arc::new(k);
            // SAFETY: this thread alone fills the table, with `owner`.
            let j = unsafe { table.insert(&mut owner, 10 + k, a.clone()) }.unwrap();
            items.push((j, k, a));
        }
        for (j, k, _) in &items {
            assert_eq!(table.read(*j, 10 + k), Some(*k));
        }
        drop(table.drain());
        for (_, _, a) in &items {
            assert_eq!(Arc::strong_count(a), 1);
        }
    });
}

/// The owner removes its entry while a reader is in, then fills the table again while that
/// reader leaves: the slot is not refilled before the reader has emptied it.
#[test]
fn table_slot_is_not_reused_while_read() {
    model(|| {
        let (table, mut owner, index, item) = table_with_entry();
        let t = table.clone();
        let reader = thread::spawn(move || t.read(index, 1));
        // SAFETY: this thread alone fills the table, with `owner`.
        drop(unsafe { table.remove_owned(&mut owner, index, 1) });
        let next = Arc::new(8);
        // SAFETY: as above.
        let j = unsafe { table.insert(&mut owner, 2, next.clone()) }.unwrap();
        assert_eq!(table.read(j, 2), Some(8), "the new entry is intact");
        if let Some(v) = reader.join().unwrap() {
            assert_eq!(v, 7, "the reader saw the old entry, not the new one");
        }
        assert_eq!(Arc::strong_count(&item), 1);
        drop(table.drain());
        assert_eq!(Arc::strong_count(&next), 1);
    });
}
