//! Integration tests of tulip-executor (one binary, modules by topic).

mod basic;
mod toolkit;
