//! Placeholder, replaced by the reactor's timer example.
fn main() {}
