//! tulip-macros' tests: compile-fail and pass cases under `tests/ui/`, run by trybuild.
//!
//! `tests/ui/fail_*.rs` must fail to compile with exactly the errors in the `.stderr` file
//! beside them (after changing a message: `TRYBUILD=overwrite cargo test -p tulip-macros`,
//! then read the diff). `tests/ui/pass_*.rs` must compile and run to a zero exit.

mod ui;
