//! loom models of the wait/notify protocols. Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p tulip-sync --release --test loom`.
#![cfg(loom)]

fn main() {}
