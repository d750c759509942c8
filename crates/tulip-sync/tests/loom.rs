//! loom models of the wait/notify protocols. Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p tulip-sync --release --test loom`.
//!
//! Under `cfg(loom)` the crate's `sync` shim swaps every atomic and mutex for loom's, so these
//! models explore the interleavings of the real code. They stay small (two or three threads,
//! one or two operations each) so that each finishes in seconds.
#![cfg(loom)]

use loom::future::block_on;
use loom::sync::Arc;
use loom::thread;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use tulip_sync::{Event, Lock, Semaphore, mpsc};

/// Runs `f` under loom with a preemption bound of 2, which finds the known classes of
/// ordering bugs while keeping each model to seconds.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(2);
    }
    b.check(f);
}

/// Polls `f` once with a no-op waker.
fn poll_once<F: Future>(f: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn lock_excludes_and_hands_off() {
    model(|| {
        let lock = Arc::new(Lock::new(0));
        let l2 = lock.clone();
        let t = thread::spawn(move || {
            *block_on(l2.lock()) += 1;
        });
        *block_on(lock.lock()) += 1;
        t.join().unwrap();
        assert_eq!(*lock.try_lock().unwrap(), 2);
    });
}

#[test]
fn cancelled_acquire_loses_no_permit() {
    model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.try_acquire().unwrap();
        held.forget();
        let s2 = sem.clone();
        let canceller = thread::spawn(move || {
            let mut acq = pin!(s2.acquire());
            if let Poll::Ready(p) = poll_once(acq.as_mut()) {
                drop(p);
            }
            // Dropped here, possibly after the permit was handed to it: it must pass it on.
        });
        let s3 = sem.clone();
        let releaser = thread::spawn(move || s3.release());
        // Whatever the interleaving, this acquire completes: the permit is never lost.
        drop(block_on(sem.acquire()));
        canceller.join().unwrap();
        releaser.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn a_waiter_leaving_the_queue_loses_no_permit() {
    model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let s1 = sem.clone();
        let waiter = thread::spawn(move || drop(block_on(s1.acquire())));
        let s2 = sem.clone();
        let leaver = thread::spawn(move || {
            let mut acq = pin!(s2.acquire());
            if let Poll::Ready(p) = poll_once(acq.as_mut()) {
                drop(p);
            }
            // Dropped ahead of the waiter, behind it (a tombstone until the waiter's grant
            // passes it) or after its own grant: in every case the permit reaches the waiter.
        });
        sem.add_permits(1);
        waiter.join().unwrap();
        leaver.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn event_set_is_never_missed() {
    model(|| {
        let ev = Arc::new(Event::new());
        let e2 = ev.clone();
        let t = thread::spawn(move || e2.set());
        block_on(ev.wait());
        t.join().unwrap();
        assert!(ev.is_set());
    });
}

#[test]
fn mpsc_bounded_wakes_both_sides() {
    model(|| {
        let (tx, mut rx) = mpsc::bounded(1);
        let t = thread::spawn(move || {
            block_on(tx.send(1)).unwrap();
            block_on(tx.send(2)).unwrap();
        });
        assert_eq!(block_on(rx.recv()), Some(1));
        assert_eq!(block_on(rx.recv()), Some(2));
        assert_eq!(block_on(rx.recv()), None);
        t.join().unwrap();
    });
}

/// A send racing the receiver's parking wakes it. A clone of the sender outlives the model's
/// receive, so closing the channel cannot stand in for a lost wake-up (loom then reports the
/// receiver blocked forever).
#[test]
fn mpsc_send_wakes_a_parking_receiver() {
    model(|| {
        let (tx, mut rx) = mpsc::unbounded();
        let keep = tx.clone();
        let t = thread::spawn(move || tx.try_send(1).unwrap());
        assert_eq!(block_on(rx.recv()), Some(1));
        t.join().unwrap();
        drop(keep);
    });
}

/// Two senders race each other and the parking receiver: each value wakes it, and one swap
/// takes its waker.
#[test]
fn mpsc_two_senders_wake_the_receiver() {
    model(|| {
        let (tx, mut rx) = mpsc::unbounded();
        let keep = tx.clone();
        let tx2 = tx.clone();
        let a = thread::spawn(move || tx.try_send(1).unwrap());
        let b = thread::spawn(move || tx2.try_send(2).unwrap());
        let mut got = [block_on(rx.recv()), block_on(rx.recv())];
        got.sort();
        assert_eq!(got, [Some(1), Some(2)]);
        a.join().unwrap();
        b.join().unwrap();
        drop(keep);
    });
}

#[test]
fn queue_put_get_hand_over_both_ways() {
    model(|| {
        let q = Arc::new(tulip_sync::Queue::bounded(1));
        let q2 = q.clone();
        let t = thread::spawn(move || {
            block_on(q2.put(1)).unwrap();
            block_on(q2.put(2)).unwrap();
        });
        assert_eq!(block_on(q.get()), Ok(1));
        assert_eq!(block_on(q.get()), Ok(2));
        t.join().unwrap();
    });
}

#[test]
fn condition_notify_reaches_a_waiter() {
    model(|| {
        let cond = Arc::new(tulip_sync::Condition::new(false));
        let c2 = cond.clone();
        let t = thread::spawn(move || {
            *block_on(c2.lock()) = true;
            c2.notify(1);
        });
        let g = block_on(cond.lock());
        let g = block_on(cond.wait_for(g, |ready| *ready));
        assert!(*g);
        drop(g);
        t.join().unwrap();
    });
}

#[test]
fn future_result_reaches_a_waiter() {
    model(|| {
        let fut: tulip_sync::Future<u8, ()> = tulip_sync::Future::new();
        let f2 = fut.clone();
        let t = thread::spawn(move || {
            f2.set_result(5).unwrap();
        });
        assert_eq!(block_on(fut.wait()), Ok(5));
        t.join().unwrap();
    });
}

#[test]
fn event_set_reaches_a_slot_and_a_list_waiter() {
    model(|| {
        let ev = Arc::new(Event::new());
        let e2 = ev.clone();
        // One waiter takes the slot, the other the wait list (whichever comes second).
        let waiter = thread::spawn(move || block_on(e2.wait()));
        let e3 = ev.clone();
        let setter = thread::spawn(move || e3.set());
        block_on(ev.wait());
        waiter.join().unwrap();
        setter.join().unwrap();
    });
}

#[test]
fn event_repoll_racing_set_and_clear_is_not_missed() {
    model(|| {
        let ev = Arc::new(Event::new());
        let mut wait = pin!(ev.wait());
        // Parked in the slot with a no-op waker; the re-poll below claims the slot back to
        // swap in `block_on`'s waker while the other thread sets and clears.
        assert!(poll_once(wait.as_mut()).is_pending());
        let e2 = ev.clone();
        let t = thread::spawn(move || {
            e2.set();
            e2.clear();
        });
        block_on(wait);
        t.join().unwrap();
    });
}

#[test]
fn event_dropped_waiter_racing_set_frees_the_slot() {
    model(|| {
        let ev = Arc::new(Event::new());
        let e2 = ev.clone();
        let t = thread::spawn(move || {
            let mut wait = pin!(e2.wait());
            let _ = poll_once(wait.as_mut());
            // Dropped here, possibly while `set` takes its waker.
        });
        let e3 = ev.clone();
        let setter = thread::spawn(move || e3.set());
        t.join().unwrap();
        setter.join().unwrap();
        // The slot is free again: a new waiter parks in it and a new set reaches it.
        ev.clear();
        let e4 = ev.clone();
        let setter = thread::spawn(move || e4.set());
        block_on(ev.wait());
        setter.join().unwrap();
    });
}
