//! Integration tests of tulip-executor (one binary, modules by topic).

mod basic;
mod blocking;
mod callbacks;
mod cancellation;
mod context;
mod debug;
mod foreign;
mod gate;
mod homing;
mod logs;
mod loop_api;
mod main_turn;
mod panics;
mod registry;
mod shutdown;
mod stress;
mod toolkit;
#[cfg(feature = "tracing")]
mod tracing_spans;

/// Scales a count down in debug builds, where everything is ~20x slower.
pub(crate) fn scaled(release: usize, debug: usize) -> usize {
    if cfg!(debug_assertions) {
        debug
    } else {
        release
    }
}
