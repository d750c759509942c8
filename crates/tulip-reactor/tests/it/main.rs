//! Integration tests of tulip-reactor: one binary, a module per area.
#![cfg(not(loom))]

mod block_on;
mod fallback;
mod io;
mod timers;
