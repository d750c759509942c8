// One bad value per test (each test expands on its own, so every error is reported).
fn main() {}

#[tulip::test(workers = 0)]
async fn zero_workers() {}

#[tulip::test(workers = "4")]
async fn workers_as_string() {}

#[tulip::test(flavor = "current_thread")]
async fn unknown_flavor() {}

#[tulip::test(debug = 1)]
async fn debug_as_number() {}

#[tulip::test(timeout = 5)]
async fn timeout_without_unit() {}

#[tulip::test(timeout = "5 parsecs")]
async fn timeout_unknown_unit() {}

#[tulip::test(timeout = "0ms")]
async fn timeout_zero() {}

#[tulip::test(crate = "not a path")]
async fn bad_crate_path() {}

#[tulip::test(workers 4)]
async fn missing_equals() {}

#[tulip::test(workers =)]
async fn missing_value() {}

#[tulip::test(workers = 2 debug = true)]
async fn missing_comma() {}
