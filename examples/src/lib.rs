//! The examples live beside this file as `examples/*.rs`; this library is empty on purpose so
//! the package can hold them. Run one with `cargo run -p examples --example NAME`.
