//! What to inject and how often, and the deterministic generator that decides.

/// A fault plan: odds per operation (in percent) and optional reset points.
///
/// Each read or write first rolls for `Interrupted`, then for a spurious `Pending`, then for a
/// short transfer; independent of the rolls, an operation fails with `ConnectionReset` once
/// the byte count in its direction has reached the reset point.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Faults {
    /// Seed of the generator; the same seed gives the same faults.
    pub seed: u64,
    /// Percent of operations failing with `ErrorKind::Interrupted`.
    pub interrupt_pct: u8,
    /// Percent of operations returning `Pending` (after waking the task).
    pub pending_pct: u8,
    /// Percent of operations moving fewer bytes than asked (at least one).
    pub short_pct: u8,
    /// Reads fail with `ConnectionReset` once this many bytes were read.
    pub reset_read_after: Option<u64>,
    /// Writes fail with `ConnectionReset` once this many bytes were written.
    pub reset_write_after: Option<u64>,
}

impl Faults {
    /// No faults at all: the wrapper is transparent.
    pub fn none(seed: u64) -> Faults {
        Faults {
            seed,
            interrupt_pct: 0,
            pending_pct: 0,
            short_pct: 0,
            reset_read_after: None,
            reset_write_after: None,
        }
    }

    /// Faults a correct caller must absorb without any visible effect: spurious `Pending`
    /// (30 %) and short transfers (50 %).
    pub fn benign(seed: u64) -> Faults {
        Faults {
            pending_pct: 30,
            short_pct: 50,
            ..Faults::none(seed)
        }
    }

    /// [`Faults::benign`] plus `Interrupted` on 10 % of operations. `std::io` retries
    /// `Interrupted` in its helpers (`read_exact`, `write_all`); an async layer may retry or
    /// fail, but must not panic, hang or corrupt data.
    pub fn with_interrupts(seed: u64) -> Faults {
        Faults {
            interrupt_pct: 10,
            ..Faults::benign(seed)
        }
    }

    /// Sets the read reset point.
    pub fn reset_reads_after(mut self, bytes: u64) -> Faults {
        self.reset_read_after = Some(bytes);
        self
    }

    /// Sets the write reset point.
    pub fn reset_writes_after(mut self, bytes: u64) -> Faults {
        self.reset_write_after = Some(bytes);
        self
    }
}

/// A small deterministic generator (SplitMix64): fast, seedable, good enough for test rolls.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with `pct` percent probability.
    pub fn chance(&mut self, pct: u8) -> bool {
        pct > 0 && self.next_u64() % 100 < u64::from(pct)
    }

    /// A value in `1..=max` (`max` at least 1).
    pub fn between_one_and(&mut self, max: usize) -> usize {
        1 + (self.next_u64() % max.max(1) as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let (mut a, mut b) = (Rng::new(42), Rng::new(42));
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }

    #[test]
    fn chance_bounds() {
        let mut r = Rng::new(3);
        assert!((0..1000).all(|_| !r.chance(0)));
        assert!((0..1000).all(|_| r.chance(100)));
        let hits = (0..10_000).filter(|_| r.chance(30)).count();
        assert!((2_500..3_500).contains(&hits), "{hits}");
        assert!((0..1000).all(|_| (1..=5).contains(&r.between_one_and(5))));
        assert_eq!(r.between_one_and(0), 1);
    }
}
