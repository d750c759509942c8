//! Integration tests of tulip-reactor: one binary, a module per area.

mod block_on;
mod io;
mod timers;
