//! A hierarchical timing wheel: O(1) insert, cancel and reset; expiry in time proportional to
//! the number of timers that fire (plus at most `LEVELS` cascades per timer over its life).
//!
//! Time is counted in ticks (see [`super::TICK_NANOS`]). Level `L` has 64 slots of `64^L` ticks
//! each, so level 0 holds timers due within the current 64-tick block at single-tick precision,
//! level 1 those within the current 4096-tick block, and so on. A timer sits at the lowest level
//! whose slot width separates its deadline from `elapsed`. When `elapsed` reaches a higher-level
//! slot, the timers in it cascade down; a timer therefore fires exactly at its own tick.
//!
//! Entries live in a slab and form intrusive doubly-linked lists per slot, so unlinking a
//! cancelled timer needs no search. An entry stays allocated after it fires until its owner
//! ([`super::Timer`]) observes the firing or is dropped: the owner's key therefore never refers
//! to somebody else's entry.

use std::task::Waker;

const LEVEL_BITS: u32 = 6;
const SLOTS: usize = 1 << LEVEL_BITS;
const SLOT_MASK: u64 = SLOTS as u64 - 1;
pub(crate) const LEVELS: usize = 6;
/// Deadlines further than this many ticks ahead are parked in the last level and re-filed
/// when that slot comes up.
const MAX_SPAN: u64 = 1 << (LEVEL_BITS * LEVELS as u32);
const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Linked into `levels[level].slots[slot]`.
    Armed { level: u8, slot: u8 },
    /// Fired; waiting for its owner to notice.
    Fired,
    /// On the free list.
    Free,
}

#[derive(Debug)]
struct Entry {
    when: u64,
    prev: u32,
    next: u32,
    state: State,
    waker: Option<Waker>,
}

#[derive(Debug)]
struct Level {
    /// Bit `s` is set when slot `s` is non-empty.
    occupied: u64,
    heads: [u32; SLOTS],
}

/// The wheel. Not thread-safe by itself: each shard of [`super::Timers`] wraps one in a mutex.
#[derive(Debug)]
pub(crate) struct Wheel {
    elapsed: u64,
    levels: Box<[Level; LEVELS]>,
    entries: Vec<Entry>,
    free: u32,
    armed: usize,
}

impl Wheel {
    pub(crate) fn new() -> Wheel {
        let level = || Level {
            occupied: 0,
            heads: [NIL; SLOTS],
        };
        Wheel {
            elapsed: 0,
            levels: Box::new([level(), level(), level(), level(), level(), level()]),
            entries: Vec::new(),
            free: NIL,
            armed: 0,
        }
    }

    /// The tick up to which every due timer has fired.
    pub(crate) fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// Number of armed (not yet fired) timers.
    pub(crate) fn len(&self) -> usize {
        self.armed
    }

    /// Arms a new timer for tick `when`, which must be later than [`Wheel::elapsed`].
    pub(crate) fn insert(&mut self, when: u64, waker: Waker) -> u32 {
        debug_assert!(when > self.elapsed);
        let key = if self.free != NIL {
            let key = self.free;
            let e = &mut self.entries[key as usize];
            self.free = e.next;
            e.when = when;
            e.waker = Some(waker);
            key
        } else {
            let key =
                u32::try_from(self.entries.len()).expect("more than 4 billion timers in one shard");
            self.entries.push(Entry {
                when,
                prev: NIL,
                next: NIL,
                state: State::Free,
                waker: Some(waker),
            });
            key
        };
        self.link(key);
        self.armed += 1;
        key
    }

    /// Whether the timer has fired (and is waiting for its owner to notice).
    pub(crate) fn is_fired(&self, key: u32) -> bool {
        self.entries[key as usize].state == State::Fired
    }

    /// Replaces the stored waker unless it would wake the same task.
    pub(crate) fn set_waker(&mut self, key: u32, waker: &Waker) {
        let e = &mut self.entries[key as usize];
        match &mut e.waker {
            Some(w) if w.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
    }

    /// Moves a timer (armed or fired) to a new deadline later than `elapsed`.
    pub(crate) fn reset(&mut self, key: u32, when: u64) {
        debug_assert!(when > self.elapsed);
        match self.entries[key as usize].state {
            State::Armed { .. } => self.unlink(key),
            State::Fired => self.armed += 1,
            State::Free => unreachable!("reset of a freed timer"),
        }
        self.entries[key as usize].when = when;
        self.link(key);
    }

    /// Cancels (if armed) and frees the entry. The key must not be used again.
    pub(crate) fn remove(&mut self, key: u32) {
        match self.entries[key as usize].state {
            State::Armed { .. } => {
                self.unlink(key);
                self.armed -= 1;
            }
            State::Fired => {}
            State::Free => unreachable!("double free of a timer"),
        }
        let e = &mut self.entries[key as usize];
        e.state = State::Free;
        e.waker = None;
        e.next = self.free;
        self.free = key;
    }

    /// The tick of the next slot that needs processing, if any timer is armed.
    ///
    /// For level 0 this is the exact deadline of the earliest timer; for higher levels it is the
    /// start of the slot, where its timers cascade down (no timer in it fires earlier).
    pub(crate) fn next_expiration(&self) -> Option<u64> {
        self.next_slot().map(|(_, _, tick)| tick)
    }

    /// Fires every timer due at or before `now`, pushing their wakers into `wakers`.
    pub(crate) fn advance(&mut self, now: u64, wakers: &mut Vec<Waker>) {
        while let Some((level, slot, tick)) = self.next_slot() {
            if tick > now {
                break;
            }
            self.elapsed = self.elapsed.max(tick);
            let lvl = &mut self.levels[level];
            let mut key = lvl.heads[slot];
            lvl.heads[slot] = NIL;
            lvl.occupied &= !(1 << slot);
            while key != NIL {
                let e = &mut self.entries[key as usize];
                let next = e.next;
                if e.when <= self.elapsed {
                    e.state = State::Fired;
                    self.armed -= 1;
                    if let Some(w) = e.waker.take() {
                        wakers.push(w);
                    }
                } else {
                    self.link(key);
                }
                key = next;
            }
        }
        self.elapsed = self.elapsed.max(now);
    }

    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        for (level, lvl) in self.levels.iter().enumerate() {
            if lvl.occupied == 0 {
                continue;
            }
            let shift = LEVEL_BITS * level as u32;
            let slot_span = 1u64 << shift;
            let level_span = slot_span << LEVEL_BITS;
            let now_slot = (self.elapsed >> shift) & SLOT_MASK;
            let dist = lvl.occupied.rotate_right(now_slot as u32).trailing_zeros() as u64;
            let slot = (now_slot + dist) & SLOT_MASK;
            let level_start = self.elapsed & !(level_span - 1);
            let mut tick = level_start + slot * slot_span;
            if tick < self.elapsed || (level > 0 && tick == self.elapsed && dist != 0) {
                tick += level_span;
            }
            return Some((level, slot as usize, tick));
        }
        None
    }

    fn link(&mut self, key: u32) {
        let when = self.entries[key as usize].when;
        let target = when.min(self.elapsed + MAX_SPAN - 1);
        let masked = (self.elapsed ^ target) | SLOT_MASK;
        let significant = 63 - masked.leading_zeros();
        let level = ((significant / LEVEL_BITS) as usize).min(LEVELS - 1);
        let slot = ((target >> (LEVEL_BITS * level as u32)) & SLOT_MASK) as usize;
        let lvl = &mut self.levels[level];
        let head = lvl.heads[slot];
        lvl.heads[slot] = key;
        lvl.occupied |= 1 << slot;
        if head != NIL {
            self.entries[head as usize].prev = key;
        }
        let e = &mut self.entries[key as usize];
        e.prev = NIL;
        e.next = head;
        e.state = State::Armed {
            level: level as u8,
            slot: slot as u8,
        };
    }

    fn unlink(&mut self, key: u32) {
        let e = &self.entries[key as usize];
        let State::Armed { level, slot } = e.state else {
            unreachable!("unlink of an unarmed timer")
        };
        let (prev, next) = (e.prev, e.next);
        if prev == NIL {
            let lvl = &mut self.levels[level as usize];
            lvl.heads[slot as usize] = next;
            if next == NIL {
                lvl.occupied &= !(1 << slot);
            }
        } else {
            self.entries[prev as usize].next = next;
        }
        if next != NIL {
            self.entries[next as usize].prev = prev;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn fire(w: &mut Wheel, now: u64) -> usize {
        let mut v = Vec::new();
        w.advance(now, &mut v);
        v.len()
    }

    #[test]
    fn fires_each_timer_exactly_at_its_tick() {
        // Deadlines spread over every level, including past MAX_SPAN.
        let deadlines: Vec<u64> = vec![
            1,
            2,
            63,
            64,
            65,
            100,
            4095,
            4096,
            4097,
            70_000,
            300_000,
            20_000_000,
            MAX_SPAN + 5,
        ];
        let mut w = Wheel::new();
        let keys: Vec<u32> = deadlines
            .iter()
            .map(|&d| w.insert(d, Waker::noop().clone()))
            .collect();
        for (&d, &k) in deadlines.iter().zip(&keys) {
            // Just before: not fired. Walk with the expiration hints, as the reactor does.
            while let Some(t) = w.next_expiration() {
                if t >= d {
                    break;
                }
                fire(&mut w, t);
            }
            assert!(!w.is_fired(k), "timer {d} fired early at {}", w.elapsed());
            fire(&mut w, d - 1);
            assert!(!w.is_fired(k), "timer {d} fired at {}", d - 1);
            fire(&mut w, d);
            assert!(w.is_fired(k), "timer {d} did not fire at its tick");
        }
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn next_expiration_is_exact_at_level_zero() {
        let mut w = Wheel::new();
        w.advance(1000, &mut Vec::new());
        w.insert(1010, Waker::noop().clone());
        assert_eq!(w.next_expiration(), Some(1010));
    }

    #[test]
    fn cancel_and_reset() {
        let mut w = Wheel::new();
        let a = w.insert(10, Waker::noop().clone());
        let b = w.insert(10, Waker::noop().clone());
        let c = w.insert(10, Waker::noop().clone());
        w.remove(b);
        w.reset(c, 5000);
        assert_eq!(fire(&mut w, 10), 1);
        assert!(w.is_fired(a));
        assert!(!w.is_fired(c));
        assert_eq!(fire(&mut w, 4999), 0);
        assert_eq!(fire(&mut w, 5000), 1);
        // A fired timer can be re-armed.
        w.reset(a, 6000);
        w.set_waker(a, Waker::noop());
        assert_eq!(w.len(), 1);
        assert_eq!(fire(&mut w, 6000), 1);
        w.remove(a);
        w.remove(c);
        // Freed entries are reused.
        let d = w.insert(7000, Waker::noop().clone());
        assert!(d == a || d == c);
    }

    #[test]
    fn million_inserts_and_cancels() {
        let n = if cfg!(debug_assertions) {
            100_000
        } else {
            1_000_000
        };
        let mut w = Wheel::new();
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let keys: Vec<u32> = (0..n)
            .map(|_| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                w.insert(1 + rng % 10_000_000, Waker::noop().clone())
            })
            .collect();
        assert_eq!(w.len(), n);
        for k in keys {
            w.remove(k);
        }
        assert_eq!(w.len(), 0);
        assert_eq!(w.next_expiration(), None);
    }

    #[test]
    fn random_deadlines_fire_in_order_against_a_model() {
        let mut w = Wheel::new();
        let mut rng = 7u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut model: Vec<(u64, u32)> = Vec::new();
        let mut now = 0;
        for round in 0..2000 {
            for _ in 0..3 {
                let when = now + 1 + next() % 200_000;
                model.push((when, w.insert(when, Waker::noop().clone())));
            }
            if round % 3 == 0 && !model.is_empty() {
                let i = (next() as usize) % model.len();
                let (_, k) = model.swap_remove(i);
                w.remove(k);
            }
            now += next() % 500;
            w.advance(now, &mut Vec::new());
            model.retain(|&(when, k)| {
                assert_eq!(w.is_fired(k), when <= now, "when={when} now={now}");
                if when <= now {
                    w.remove(k);
                }
                when > now
            });
        }
    }
}
