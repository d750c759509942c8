// Misused #[tulip::test]s, each reported at its own tokens.
fn main() {}

#[tulip::test]
fn not_async() {}

#[tulip::test]
async fn takes_arguments(n: u32) {}

#[tulip::test]
async fn generic<T>() {}

#[tulip::test]
#[test]
async fn test_twice() {}

#[tulip::test(timeout = "1s", timeout = "2s")]
async fn timeout_twice() {}

#[tulip::test(flavor = "local", workers = 1)]
async fn local_with_workers() {}

#[tulip::test]
struct NotAFunction;
