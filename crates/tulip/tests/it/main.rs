//! tulip's (the umbrella crate's) integration tests: what only the whole crate can show, such
//! as `#[tulip::test]` running real tests.

#[cfg(feature = "macros")]
mod macros;

#[cfg(all(feature = "http", feature = "process"))]
mod web;
