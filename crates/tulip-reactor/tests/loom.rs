//! loom models of the reactor hand-off (`src/handoff.rs`): who drives, standby, quiet
//! releases, requests, yields and wakes, run on the real state machine against a model of
//! the reactor; and of a source's readiness word and the narrowing of its registration
//! (`src/readiness.rs`), at the end of this file.
//!
//! Every model ends with each seat having seen its own work. A lost wake-up (a seat that has
//! work asleep while nobody drives, or asleep in the reactor without a notification) leaves
//! it blocked for good, which loom reports as a deadlock.
//!
//! The models fail when the protocol is broken: checked by hand with each of these changes
//! to `src/handoff.rs` (the report of the change that added this file lists the results):
//! the lost wake-up of issue #3 (a waker that skips the notification when `unpark` returns
//! false) together with the old two-step standby registration; a worker that exits without
//! handing off; a yield pause that waits for a wake instead of timing out; a request
//! recorded when no holder waits; and `try_lock` releasing the holder's lock on failure (a
//! real bug loom found while this file was written). The fallback models of rule 8 fail,
//! checked the same way, when the first loop to enter does not notify, when the last loop
//! to leave does not unpark the fallback, and when the fallback does not read the loop
//! count again once it holds the lock (a lost stand-down loom found: a loop's seat took the
//! free lock and consumed the entry's notification before the fallback blocked).
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" cargo test --release -p tulip-reactor --test loom`.
#![cfg(loom)]

use std::io;

use loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

use tulip_reactor::loom_models::{
    ARM_BOTH, ARM_IN, ARM_OUT, Backend, Cleared, Dir, Handoff, Parker, Readiness, Registration,
    Role, STRIKES, SeatState, Signal, Unparker, Wait,
};

/// Explores interleavings with at most `PREEMPTIONS` forced preemptions per execution: each
/// race below needs one or two, and the bound keeps every model to seconds.
fn model(f: impl Fn() + Sync + Send + 'static) {
    model_bounded(2, f);
}

fn model_bounded(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(preemptions);
    // A seat that yielded comes straight back in the model (loom has no clock, see
    // `src/sync.rs`), so a yield and a request can chase each other for a while before
    // the requester wins; allow those longer paths.
    b.max_branches = 20_000;
    b.check(f);
}

/// The reactor as the hand-off sees it: a sticky notification (the eventfd) and I/O events,
/// each for one seat. Dispatching an event latches the seat's work and wakes its signal, as
/// a readiness event wakes a task whose executor then wakes its thread.
struct Reactor {
    handoff: Handoff,
    poller: Mutex<Poller>,
    cv: Condvar,
    signals: Vec<Arc<Signal>>,
    work: Vec<AtomicBool>,
}

#[derive(Default)]
struct Poller {
    notified: bool,
    ready: Vec<usize>,
}

impl Backend for Reactor {
    fn notify(&self) {
        self.poller.lock().unwrap().notified = true;
        self.cv.notify_all();
    }

    fn react(&self, wait: Option<&Wait<'_>>) -> io::Result<bool> {
        if let Some(w) = wait {
            w.begin();
        }
        let ready = {
            let mut p = self.poller.lock().unwrap();
            if wait.is_some() {
                // No timers in the model: block until an event or a notification.
                while !p.notified && p.ready.is_empty() {
                    p = self.cv.wait(p).unwrap();
                }
            }
            p.notified = false;
            std::mem::take(&mut p.ready)
        };
        let asked = wait.is_some_and(Wait::end);
        for seat in ready {
            self.work[seat].store(true, SeqCst);
            self.signals[seat].wake(self);
        }
        Ok(asked)
    }
}

impl Reactor {
    /// A reactor and one seat per role.
    fn new(roles: &[Role]) -> (Arc<Reactor>, Vec<SeatState>) {
        let seats: Vec<_> = roles
            .iter()
            .map(|&role| SeatState::new(Parker::new(), role))
            .collect();
        let reactor = Reactor {
            handoff: Handoff::new(),
            poller: Mutex::new(Poller::default()),
            cv: Condvar::new(),
            signals: seats.iter().map(|s| Arc::new(s.signal())).collect(),
            work: roles.iter().map(|_| AtomicBool::new(false)).collect(),
        };
        (Arc::new(reactor), seats)
    }

    /// An I/O event for `seat` arrives in the kernel.
    fn post(&self, seat: usize) {
        self.poller.lock().unwrap().ready.push(seat);
        self.cv.notify_all();
    }

    /// Work for `seat` from another thread (a task spawned onto its queue): latch, then wake.
    fn give(&self, seat: usize) {
        self.work[seat].store(true, SeqCst);
        self.signals[seat].wake(self);
    }

    /// The loop of seat `me` until it has seen its work; then it stops driving for good.
    fn run(&self, me: usize, seat: &SeatState) {
        while !self.work[me].load(SeqCst) {
            seat.wait(&self.handoff, self, &self.signals[me]).unwrap();
        }
        seat.leave(&self.handoff);
    }

    /// Seat `me`'s loop as a tulip loop does it (rule 8): counted in from before its first
    /// wait until after it stopped driving.
    fn run_loop(&self, me: usize, seat: &SeatState) {
        self.handoff.enter_loop(self);
        self.run(me, seat);
        self.handoff.exit_loop();
    }

    /// Nothing left over once every seat finished: lock free, no wait or request pending.
    fn assert_quiescent(&self) {
        assert!(self.handoff.is_quiescent(), "left over: {:?}", self.handoff);
    }
}

/// Runs seat `me` of `r` as a tulip loop on a thread of its own (rule 8).
fn spawn_loop(r: &Arc<Reactor>, me: usize, seat: SeatState) -> thread::JoinHandle<()> {
    let r = r.clone();
    thread::spawn(move || r.run_loop(me, &seat))
}

/// The fallback driver of rule 8, started on first use and stopped by [`Fallback::stop`].
struct Fallback {
    stop: AtomicBool,
    unparker: Mutex<Option<Unparker>>,
    thread: Mutex<Option<thread::JoinHandle<()>>>,
}

impl Fallback {
    fn new() -> Arc<Fallback> {
        Arc::new(Fallback {
            stop: AtomicBool::new(false),
            unparker: Mutex::new(None),
            thread: Mutex::new(None),
        })
    }

    /// The pending path of a future polled outside any loop: starts the fallback unless it
    /// runs already.
    fn ensure(this: &Arc<Fallback>, r: &Arc<Reactor>) {
        if r.handoff.fallback_started() {
            return;
        }
        let parker = Parker::new();
        if !r.handoff.start_fallback(&parker) {
            return;
        }
        *this.unparker.lock().unwrap() = Some(parker.unparker());
        let (r, f) = (r.clone(), this.clone());
        let t = thread::spawn(move || {
            while !f.stop.load(SeqCst) {
                r.handoff.fallback_turn(&*r, &parker).unwrap();
            }
        });
        *this.thread.lock().unwrap() = Some(t);
    }

    /// Ends the fallback thread wherever it waits (its parker or the backend) and joins it.
    fn stop(&self, r: &Reactor) {
        self.stop.store(true, SeqCst);
        if let Some(u) = self.unparker.lock().unwrap().as_ref() {
            u.unpark();
        }
        r.notify();
        if let Some(t) = self.thread.lock().unwrap().take() {
            t.join().unwrap();
        }
    }
}

/// A thread outside any tulip loop (a tokio worker, a plain `block_on`) waiting for its
/// event `me`: registers interest (the pending path starts the fallback), then parks on its
/// own parker until the event's dispatch wakes it. It never drives.
fn spawn_foreign(
    r: &Arc<Reactor>,
    f: &Arc<Fallback>,
    me: usize,
    seat: SeatState,
) -> thread::JoinHandle<()> {
    let (r, f) = (r.clone(), f.clone());
    thread::spawn(move || {
        Fallback::ensure(&f, &r);
        while !r.work[me].load(SeqCst) {
            seat.parker().park();
        }
    })
}

/// Runs seat `me` of `r` on a thread of its own.
fn spawn(r: &Arc<Reactor>, me: usize, seat: SeatState) -> thread::JoinHandle<()> {
    let r = r.clone();
    thread::spawn(move || r.run(me, &seat))
}

/// Issue #3. Seat 1 stands by while seat 0 waits in the reactor; seat 0's event comes, and
/// its normal release wakes standby just as seat 1 takes the free lock on its own, so seat 1
/// may wait in the reactor with a token already set. Seat 0 then gives seat 1 work from
/// outside: the wake must still interrupt the reactor.
///
/// Two defences keep this model passing, and it fails only without both: registering and
/// retrying in one step (rule 2) leaves no registration behind for a release to wake after
/// the seat took the lock, and a waker notifies whatever `unpark` returned (rule 5).
#[test]
fn a_stale_token_does_not_hide_a_wake() {
    // Three preemptions: the main thread's post, seat 1's retry and seat 0's unpark must
    // each fall between two steps of another thread.
    model_bounded(3, || {
        let (r, mut seats) = Reactor::new(&[Role::Loop, Role::Loop]);
        let s1 = seats.pop().unwrap();
        let s0 = seats.pop().unwrap();
        let r0 = r.clone();
        let t0 = thread::spawn(move || {
            r0.run(0, &s0);
            r0.give(1);
        });
        let t1 = spawn(&r, 1, s1);
        r.post(0);
        t0.join().unwrap();
        t1.join().unwrap();
        r.assert_quiescent();
    });
}

/// A worker waits in the reactor while a busy worker polls: its request races the holder's
/// quiet release after an event. Whoever ends up driving, both get their events, and no
/// request outlives the wait it was made to.
#[test]
fn a_request_races_a_release() {
    model(|| {
        let (r, mut seats) = Reactor::new(&[Role::Worker, Role::Worker]);
        let busy = seats.pop().unwrap();
        let idle = seats.pop().unwrap();
        let t0 = spawn(&r, 0, idle);
        let r1 = r.clone();
        let t1 = thread::spawn(move || {
            // Busy: a poll between two tasks, then idle until its event.
            busy.poll(&r1.handoff, &*r1);
            r1.run(1, &busy);
        });
        r.post(0);
        r.post(1);
        t0.join().unwrap();
        t1.join().unwrap();
        r.assert_quiescent();
    });
}

/// A `block_on` thread finds an idle worker in the reactor, asks for it and parks; the
/// worker's yield must wake it (and it alone), and its event must reach it whoever drives.
#[test]
fn a_block_on_asks_the_idle_holder_and_the_yield_wakes_it() {
    model(|| {
        let (r, mut seats) = Reactor::new(&[Role::Worker, Role::BlockOn]);
        let block_on = seats.pop().unwrap();
        let worker = seats.pop().unwrap();
        let t0 = spawn(&r, 0, worker);
        let t1 = spawn(&r, 1, block_on);
        r.post(1);
        r.post(0);
        t0.join().unwrap();
        t1.join().unwrap();
        r.assert_quiescent();
    });
}

/// A holder that yielded stays away for a bounded pause, not until woken: a requester that
/// asked and then went away (it found work and never came for the lock) must not leave the
/// yielder's own event undriven.
#[test]
fn a_yield_to_a_requester_that_went_away_is_bounded() {
    model(|| {
        let (r, mut seats) = Reactor::new(&[Role::Worker, Role::Worker]);
        let busy = seats.pop().unwrap();
        let idle = seats.pop().unwrap();
        let t0 = spawn(&r, 0, idle);
        let r1 = r.clone();
        let t1 = thread::spawn(move || {
            busy.poll(&r1.handoff, &*r1);
            // Gone without ever waiting: it left quietly, so it must hand off.
            busy.leave(&r1.handoff);
        });
        r.post(0);
        t0.join().unwrap();
        t1.join().unwrap();
        r.assert_quiescent();
    });
}

/// A hand-off that carries a wake: a worker drives, releases quietly and exits while a
/// local executor's thread stands by; the event that arrives next is the standby seat's, and
/// only the exiting worker's hand-off gets it driving.
#[test]
fn an_exiting_worker_hands_off_to_standby() {
    model(|| {
        let (r, mut seats) = Reactor::new(&[Role::Worker, Role::Loop]);
        let local = seats.pop().unwrap();
        let worker = seats.pop().unwrap();
        r.post(0);
        let t0 = spawn(&r, 0, worker);
        let t1 = spawn(&r, 1, local);
        r.post(1);
        t0.join().unwrap();
        t1.join().unwrap();
        r.assert_quiescent();
    });
}

/// Three seats of every role share the reactor; work arrives both as I/O events and as
/// direct wakes from outside. With four threads, one preemption per execution keeps the
/// model to a minute; the two-seat models above cover the two-preemption races.
#[test]
fn three_roles_share_the_reactor() {
    model_bounded(1, || {
        let (r, seats) = Reactor::new(&[Role::Worker, Role::Loop, Role::BlockOn]);
        let threads: Vec<_> = seats
            .into_iter()
            .enumerate()
            .map(|(i, s)| spawn(&r, i, s))
            .collect();
        r.post(2);
        r.give(0);
        r.post(1);
        for t in threads {
            t.join().unwrap();
        }
        r.assert_quiescent();
    });
}

/// Rule 8. A thread outside any loop waits for an event; nobody else is around, so the
/// fallback its pending path starts must drive, and leave nothing behind when stopped.
#[test]
fn the_fallback_drives_for_a_thread_outside_any_loop() {
    model(|| {
        let (r, mut seats) = Reactor::new(&[Role::BlockOn]);
        let f = Fallback::new();
        let t = spawn_foreign(&r, &f, 0, seats.pop().unwrap());
        r.post(0);
        t.join().unwrap();
        f.stop(&r);
        r.assert_quiescent();
    });
}

/// Rule 8 against rules 6 and 7: the fallback drives for a foreign thread when a `block_on`
/// loop starts, asks the holder for the lock and parks. Whether the request reaches the
/// fallback's wait, the entry's notification ends it first, or the fallback sees the count
/// before it takes the lock, the `block_on` gets to drive (or is served) and the foreign
/// thread's event is delivered.
#[test]
fn the_fallback_races_a_block_on_request() {
    model_bounded(1, || {
        let (r, mut seats) = Reactor::new(&[Role::BlockOn, Role::BlockOn]);
        let block_on = seats.pop().unwrap();
        let foreign = seats.pop().unwrap();
        let f = Fallback::new();
        let t0 = spawn_foreign(&r, &f, 0, foreign);
        let t1 = spawn_loop(&r, 1, block_on);
        r.post(1);
        r.post(0);
        t0.join().unwrap();
        t1.join().unwrap();
        f.stop(&r);
        r.assert_quiescent();
    });
}

/// Rule 8: a worker loop starts while the fallback drives; the fallback stands down, and
/// the foreign thread's event, which arrives around the stand-down, must still be delivered
/// while the worker runs: the worker stays until it has seen it delivered, so an event left
/// undriven (the fallback parked, the worker asleep on standby) deadlocks the model.
#[test]
fn a_stand_down_carries_a_pending_event() {
    model_bounded(1, || {
        let (r, mut seats) = Reactor::new(&[Role::BlockOn, Role::Worker]);
        let worker = seats.pop().unwrap();
        let foreign = seats.pop().unwrap();
        let f = Fallback::new();
        let t0 = spawn_foreign(&r, &f, 0, foreign);
        let r1 = r.clone();
        let t1 = thread::spawn(move || {
            r1.handoff.enter_loop(&*r1);
            while !(r1.work[0].load(SeqCst) && r1.work[1].load(SeqCst)) {
                worker.wait(&r1.handoff, &*r1, &r1.signals[1]).unwrap();
            }
            worker.leave(&r1.handoff);
            r1.handoff.exit_loop();
        });
        r.post(0);
        r.post(1);
        t0.join().unwrap();
        t1.join().unwrap();
        f.stop(&r);
        r.assert_quiescent();
    });
}

/// Rule 8: the fallback was started and stood down for a loop; the loop ends (the runtime
/// drops) and only then does the foreign thread's event arrive. The last leave must get the
/// fallback driving again.
#[test]
fn the_fallback_drives_again_after_the_last_loop_leaves() {
    model(|| {
        let (r, mut seats) = Reactor::new(&[Role::BlockOn, Role::Worker]);
        let worker = seats.pop().unwrap();
        let foreign = seats.pop().unwrap();
        let f = Fallback::new();
        let t1 = spawn_loop(&r, 1, worker);
        let t0 = spawn_foreign(&r, &f, 0, foreign);
        r.post(1);
        t1.join().unwrap();
        r.post(0);
        t0.join().unwrap();
        f.stop(&r);
        r.assert_quiescent();
    });
}

/// Rule 8, promptness: the fallback blocks in the backend for a foreign thread whose event
/// has not come, when a worker loop starts. Nothing else happens until the fallback stands
/// down, so only the entry's notification can end its wait: without it the main thread
/// spins for ever (loom reports the unbounded loop). The foreign thread's event then goes
/// to the worker, which stays until it saw it delivered.
#[test]
fn the_first_loop_to_enter_stops_the_fallback_promptly() {
    model(|| {
        let (r, mut seats) = Reactor::new(&[Role::BlockOn, Role::Worker]);
        let worker = seats.pop().unwrap();
        let foreign = seats.pop().unwrap();
        let f = Fallback::new();
        let t0 = spawn_foreign(&r, &f, 0, foreign);
        let r1 = r.clone();
        let t1 = thread::spawn(move || {
            r1.handoff.enter_loop(&*r1);
            while !r1.work[0].load(SeqCst) {
                worker.wait(&r1.handoff, &*r1, &r1.signals[1]).unwrap();
            }
            worker.leave(&r1.handoff);
            r1.handoff.exit_loop();
        });
        while !r.handoff.fallback_stood_down() {
            thread::yield_now();
        }
        r.post(0);
        t0.join().unwrap();
        t1.join().unwrap();
        f.stop(&r);
        r.assert_quiescent();
    });
}

// ---------------------------------------------------------------------------------------------
// The readiness word and the narrowing of a registration (`src/readiness.rs`): the reactor
// disarms directions after redundant events while tasks clear (and so re-arm) them. Each
// model ends by checking the protocol's two promises: every direction is ready or reported by
// the kernel (a task waiting for it is woken by the next edge), and the kernel was last told
// the word's armed set. They fail, checked by hand, when `clear` keeps the disarmed bit, when
// `narrow` disarms a direction that is not ready, and when `sync` computes the set before
// taking the lock.

/// The kernel's view of one registration: the `ARM_*` set it was last told.
type Kernel = Arc<Mutex<u8>>;

fn tell(kernel: &Kernel) -> impl FnOnce(u8) + '_ {
    move |armed| *kernel.lock().unwrap() = armed
}

/// A readiness word and registration whose next redundant event narrows.
fn primed() -> (Arc<Readiness>, Arc<Registration>, Kernel) {
    let word = Arc::new(Readiness::new());
    let reg = Arc::new(Registration::new());
    for _ in 0..STRIKES {
        reg.after_event(&word, true, |_| panic!("narrowed before the strikes"));
    }
    (word, reg, Arc::new(Mutex::new(ARM_BOTH)))
}

/// A task that got `WouldBlock` on `dir`: clears it (trying again while events change the
/// word, as `Source::poll_io` does) and re-arms the registration when the clear says so.
fn clear(word: &Readiness, reg: &Registration, kernel: &Kernel, dir: Dir) {
    loop {
        let snap = word.load();
        if !Readiness::is_ready(snap, dir) {
            return;
        }
        let cleared = word.clear(dir, snap);
        if cleared != Cleared::No {
            reg.after_clear(word, cleared, tell(kernel));
            return;
        }
    }
}

fn assert_reported(word: &Readiness, kernel: &Kernel) {
    let snap = word.load();
    let told = *kernel.lock().unwrap();
    assert_eq!(told, Readiness::armed(snap), "the kernel lags the word");
    for (dir, bit) in [(Dir::Read, ARM_IN), (Dir::Write, ARM_OUT)] {
        assert!(
            Readiness::is_ready(snap, dir) || told & bit != 0,
            "{dir:?} is neither ready nor reported: a waiting task would sleep for ever"
        );
    }
}

/// A redundant event narrows while a task clears the read direction.
#[test]
fn a_narrowing_races_a_clear() {
    model_bounded(3, || {
        let (word, reg, kernel) = primed();
        let (w, g, k) = (word.clone(), reg.clone(), kernel.clone());
        let reactor = thread::spawn(move || {
            let prev = w.record(0b11);
            g.after_event(&w, prev & 0b11 == 0b11, tell(&k));
        });
        clear(&word, &reg, &kernel, Dir::Read);
        reactor.join().unwrap();
        assert_reported(&word, &kernel);
    });
}

/// Two tasks clear both directions of a narrowed source while a new read edge is recorded
/// and found redundant or not.
#[test]
fn clears_of_a_narrowed_source_race_an_event() {
    model_bounded(2, || {
        let (word, reg, kernel) = primed();
        reg.after_event(&word, true, tell(&kernel));
        assert_eq!(*kernel.lock().unwrap(), 0, "both directions were latched");
        let mut tasks = Vec::new();
        for dir in [Dir::Read, Dir::Write] {
            let (w, g, k) = (word.clone(), reg.clone(), kernel.clone());
            tasks.push(thread::spawn(move || clear(&w, &g, &k, dir)));
        }
        let prev = word.record(0b01);
        reg.after_event(&word, prev & 0b01 == 0b01, tell(&kernel));
        for t in tasks {
            t.join().unwrap();
        }
        assert_reported(&word, &kernel);
    });
}
