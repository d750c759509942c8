//! Reactor benchmarks (being written).
use crate::harness::{Bench, Config};

pub(crate) fn benches(_cfg: &Config) -> Vec<Bench> {
    Vec::new()
}
